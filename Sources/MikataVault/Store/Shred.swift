import Foundation
package import MikataCrypto
import MikataFormat

/// A deletion request as the operator received it (docs/CERTIFICATE.md, "request").
package struct ShredRequest: Sendable {
    package var reason: String
    package var requestedBy: String
    package var reference: String
    package var executedBy: String
    package var approvedBy: String?

    package init(reason: String, requestedBy: String, reference: String, executedBy: String, approvedBy: String?) {
        self.reason = reason; self.requestedBy = requestedBy; self.reference = reference; self.executedBy = executedBy; self.approvedBy = approvedBy
    }

    /// The rule for every text the certificate states (docs/CERTIFICATE.md): 1 to 512 bytes, not only spaces, and
    /// no control character (Unicode Cc: C0, DEL, C1; a tab or a line break included), because the certificate is
    /// printed as it is signed and a terminal would act on one.
    /// - Throws: `VaultError.invalidInput` naming `what`.
    package static func checkField(_ value: String, what: String) throws {
        guard !value.trimmingCharacters(in: .whitespaces).isEmpty, value.utf8.count <= 512 else {
            throw VaultError.invalidInput("the \(what) must be 1 to 512 bytes, not only spaces")
        }
        try HumanInput.rejectControlCharacters(value, what: what)
    }

    /// Every text by `checkField`, and dual control: an approver, when named, is not the operator who runs the shred
    /// (compared trimmed and case-insensitively). Checked before anything else, a re-run included.
    /// - Throws: `VaultError.invalidInput` naming the field.
    package func validate() throws {
        for (what, value) in [("reason", reason), ("requesting organisation", requestedBy), ("request reference", reference), ("operator", executedBy)] {
            try ShredRequest.checkField(value, what: what)
        }
        guard let approver = approvedBy else { return }
        try ShredRequest.checkField(approver, what: "approver")
        // The same person however spelled: compatibility forms folded (full-width ｂｏｂ is bob), case ignored, and
        // white space and invisible format characters (a zero-width space, Unicode Cf) left out.
        let folded = { (a: String) in
            String(String.UnicodeScalarView(a.precomposedStringWithCompatibilityMapping.lowercased().unicodeScalars.filter {
                $0.properties.generalCategory != .format && !$0.properties.isWhitespace
            }))
        }
        let same = { (a: String, b: String) in folded(a) == folded(b) }
        guard !same(approver, executedBy) else {
            throw VaultError.invalidInput("the approver must be another operator than the one who runs the shred (dual control)")
        }
    }
}

/// The outcome of a shred: the signed certificate (canonical JSON bytes) and whether it was issued earlier.
package struct ShredOutcome: Sendable {
    package var certificate: [UInt8]
    package var certificateId: String
    package var vaultId: String
    package var alreadyShredded: Bool
}

/// Shredding (docs/OPERATIONS.md, "Deletion request"): crypto-erase plus overwrite, interruptible through an
/// intent record, idempotent, and closed by a signed deletion certificate.
extension Store {
    var shredDirectory: String { "\(root)/shred" }
    var certificateDirectory: String { "\(root)/certificates" }
    var tombstoneDirectory: String { "\(root)/tombstones" }
    func intentPath(_ id: [UInt8]) -> String { "\(shredDirectory)/\(id.hex).intent" }

    /// The pseudonymous subject reference: the requester, who knows the e-mail, can recompute it; the store keeps
    /// no e-mail.
    static func subjectRef(email: String, salt: [UInt8]) throws -> String {
        let h = Blake2b(outputLength: 32)
        h.update(VaultFormat.Label.subjectRef); h.update(salt); h.update(Array(try normalise(email: email).utf8))
        return h.finalize().hex
    }

    package func isShredPending(_ id: [UInt8]) -> Bool { Posix.exists(intentPath(id)) }

    /// Shreds the vault of `email`, or finishes an interrupted shred of it, or returns the certificate of an
    /// earlier one.
    /// - Throws: `VaultError` `.invalidInput` (a request field or address), `.notFound` (no such patient, no earlier
    ///   certificate), `.tampered`/`.erased` (the signing key does not open, or is missing: checked before anything
    ///   is destroyed), `.busy`, `.io`.
    package func shred(email: String, request: ShredRequest) throws -> ShredOutcome {
        try request.validate()
        let normalised = try Store.normalise(email: email)
        _ = try signingKey()  // before an intent is written: a shred that could not be certified does not begin
        if let id = try? vaultId(email: email) {  // as typed: an entry made before HumanInput's rule resolves too
            if let intent = try readIntent(path: intentPath(id)) { return try execute(intent) }
            return try execute(try makeIntent(vaultId: id, email: email, request: request))
        }
        // No lookup any more: an interrupted shred past that step, or an earlier completed one.
        for name in Posix.list(shredDirectory) where name.hasSuffix(".intent") {
            if let intent = try readIntent(path: "\(shredDirectory)/\(name)"), try matches(intent, email: normalised) {
                return try execute(intent)
            }
        }
        // Only a certificate this store signed, filed under its own id, answers for an earlier shred: the folder is
        // writable by whoever can write the store, the signing key is not.
        let certificates = Posix.list(certificateDirectory).filter { $0.hasSuffix(".json") }
        let storeKey = certificates.isEmpty ? [] : try signingKey().publicKey
        for name in certificates {
            guard let bytes = try Posix.readFile("\(certificateDirectory)/\(name)"),
                  let verified = try? DeletionCertificate.verify(bytes, publicKey: storeKey), "\(verified.certificateId).json" == name,
                  let cert = try? CanonicalJSON.parse(bytes),
                  case .string(let salt)? = cert["subject"]?["subjectRefSalt"], case .string(let ref)? = cert["subject"]?["subjectRef"],
                  let saltBytes = [UInt8](hex: salt), try Store.subjectRef(email: normalised, salt: saltBytes) == ref,
                  case .string(let certId)? = cert["certificateId"], case .string(let vault)? = cert["subject"]?["vaultId"]
            else { continue }
            return ShredOutcome(certificate: bytes, certificateId: certId, vaultId: vault, alreadyShredded: true)
        }
        throw VaultError.notFound("no patient with that e-mail address in this store, and no earlier deletion of one")
    }

    /// Completes an interrupted shred of `email`'s vault, before or after its lookup was removed; nil when none is
    /// pending (a new shred is never started, an earlier certificate never returned).
    package func completePendingShred(email: String) throws -> ShredOutcome? {
        if let id = try? vaultId(email: email) {
            return try readIntent(path: intentPath(id)).map(execute)
        }
        let normalised = try Store.normalise(email: email)
        for name in Posix.list(shredDirectory) where name.hasSuffix(".intent") {
            if let intent = try readIntent(path: "\(shredDirectory)/\(name)"), try matches(intent, email: normalised) {
                return try execute(intent)
            }
        }
        return nil
    }

    /// Completes every interrupted shred (their vaults refuse to open meanwhile). Returns how many.
    @discardableResult
    package func completePendingShreds() throws -> Int {
        var n = 0
        for name in Posix.list(shredDirectory) where name.hasSuffix(".intent") {
            if let intent = try readIntent(path: "\(shredDirectory)/\(name)") { _ = try execute(intent); n += 1 }
        }
        return n
    }

    private func matches(_ intent: JSONValue, email: String) throws -> Bool {
        guard case .string(let salt)? = intent["subjectRefSalt"], case .string(let ref)? = intent["subjectRef"], let s = [UInt8](hex: salt) else { return false }
        return try Store.subjectRef(email: email, salt: s) == ref
    }

    /// The intent at `path` (`shred/<vaultId>.intent`), nil if there is none. Only an intent this store wrote is
    /// returned: its MAC under root subkey 9 must verify (FORMAT.md §7.7), and it must name the vault its file is
    /// named after. Everything an intent says is acted on (which files are removed, what the certificate states), so
    /// one planted by a disk writer, or written before intents were authenticated, is never executed.
    /// - Throws: `VaultError.corrupted` (not JSON), `.tampered` (no valid MAC, another vault's intent, a field
    ///   outside its form).
    private func readIntent(path: String) throws -> JSONValue? {
        guard let bytes = try Posix.readFile(path) else { return nil }
        guard let v = try? CanonicalJSON.parse(bytes) else { throw VaultError.corrupted("shred intent \(path) is damaged; finish the shred by hand (see docs/OPERATIONS.md)") }
        let name = String(path.split(separator: "/").last ?? "")
        guard case .object(let members) = v, case .string(let macHex)? = v["mac"], let mac = [UInt8](hex: macHex),
              rootKey.isAuthentic(shredIntent: CanonicalJSON.serialize(.object(members.filter { $0.0 != "mac" })), mac: mac) else {
            throw VaultError.tampered("shred intent \(path) is not authenticated by this store's root key (planted, altered, or written by a version before intents were): it is not executed; see docs/OPERATIONS.md")
        }
        guard case .string(let id)? = v["vaultId"], name == "\(id).intent", Store.checkedIntentFields(v) else {
            throw VaultError.tampered("shred intent \(path) does not name its own vault, or holds a field outside its form")
        }
        return v
    }

    /// Whether an intent's fields are in their form (FORMAT.md §7.7): ids in lower-case hex of their length, the
    /// lookup entry's path as `Store.lookupPath` makes it (`index/<2 hex>/<64 hex>`, the shard its name's first two
    /// digits), byte counts whole numbers from 0 to 2^53. Checked even under a valid MAC: every path the shred
    /// removes is built from them.
    static func checkedIntentFields(_ intent: JSONValue) -> Bool {
        func hex(_ s: String, _ count: Int) -> Bool { s.utf8.count == count && s.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) } }
        guard case .string(let id)? = intent["vaultId"], hex(id, 32),
              case .string(let certificateId)? = intent["certificateId"], hex(certificateId, 32),
              case .string(let lookup)? = intent["lookupFile"] else { return false }
        let parts = lookup.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, parts[0] == "index", hex(parts[1], 2), hex(parts[2], 64), parts[2].hasPrefix(parts[1]) else { return false }
        for key in ["vaultBytes", "secretBytes"] {
            guard case .number(let n)? = intent[key], n >= 0, n <= 9_007_199_254_740_992, n.rounded() == n else { return false }
        }
        return true
    }

    /// `members` with their MAC under root subkey 9 added as `mac` (FORMAT.md §7.7).
    private func authenticatedIntent(_ members: [(String, JSONValue)]) -> JSONValue {
        let mac = rootKey.mac(shredIntent: CanonicalJSON.serialize(.object(members)))
        return .object(members + [("mac", .string(mac.hex))])
    }

    /// Records everything the shred must do and report, before anything is destroyed.
    private func makeIntent(vaultId id: [UInt8], email: String, request: ShredRequest) throws -> JSONValue {
        var supporters: [JSONValue] = []
        var vaultBytes = 0
        if let vault = try? openVault(id: id) {
            supporters = vault.keyState.supporterSlots.map { .string($0.supporterId.hex) }
            vaultBytes = (try? PosixFile.open(vaultPath(id), readOnly: true).size()) ?? 0
        }
        var keyId = ""
        var secretBytes = 0
        if let bytes = try? Posix.readSecretFile(erasureSecretPath(id), maxCount: Store.keyFileMaximum) {
            secretBytes = bytes.count
            if let f = try? ErasureSecretFile.parse(bytes) {
                let h = Blake2b(outputLength: 16)
                h.update(VaultFormat.Label.erasureKeyId); h.update(secret: f.secret)
                keyId = h.finalize().hex
            }
        }
        let salt = Random.bytes(16)
        let now = AuditLog.isoNow()
        let lookup = try existingLookupPath(.patient, email: email) ?? lookupPath(.patient, email: email)
        var members: [(String, JSONValue)] = [
            ("vaultId", .string(id.hex)), ("certificateId", .string(Random.bytes(16).hex)),
            ("subjectRef", .string(try Store.subjectRef(email: email, salt: salt))), ("subjectRefSalt", .string(salt.hex)),
            ("lookupFile", .string(String(lookup.dropFirst(root.count + 1)))),
            ("reason", .string(request.reason)), ("requestedBy", .string(request.requestedBy)), ("reference", .string(request.reference)),
            ("executedBy", .string(request.executedBy)), ("receivedAt", .string(now)), ("startedAt", .string(now)),
            ("erasureKeyId", .string(keyId)), ("vaultBytes", .number(Double(vaultBytes))), ("secretBytes", .number(Double(secretBytes))),
            ("supporters", .array(supporters)),
        ]
        members.append(("approvedBy", request.approvedBy.map { .string($0) } ?? .null))
        let intent = authenticatedIntent(members)
        try Posix.makeDirectories(shredDirectory)
        try Posix.writeAtomically(intentPath(id), CanonicalJSON.serialize(intent))
        CrashPoint.hit("shred:intent-written")
        return intent
    }

    /// Overwrites a file in place with random bytes (one pass), syncs, unlinks, syncs its folder (NIST SP 800-88
    /// "clear" at the file level; docs/SECURITY.md, "Shredding"). Returns the bytes overwritten (0 if the file was
    /// already gone).
    ///
    /// A writer that replaces the file (a re-encryption, an atomic rewrite) renames a new file over the name while it
    /// holds the old one's lock, so once the lock is ours the name may lead to another file: what is held is
    /// overwritten (its blocks held the same data), and the name is followed until the file locked is the file named;
    /// only that one is unlinked. The bytes returned count every file overwritten.
    /// - Throws: `.busy` (the lock not had within `lockTimeout` seconds, or the name replaced 8 times in a row), `.io`.
    static func overwriteAndRemove(_ path: String, lockTimeout: Double) throws -> Int {
        var overwritten = 0
        for _ in 0..<8 {
            let file: PosixFile
            do { file = try PosixFile.open(path) } catch VaultError.notFound { return overwritten }
            try RaceWindow.reach(RaceWindow.overwriteBeforeLock, root: Posix.parent(of: path))
            try file.lock(exclusive: true, timeout: lockTimeout)  // let in-flight readers and writers finish
            let size = try file.size()
            var offset = 0
            while offset < size {
                let n = min(1 << 20, size - offset)
                try file.write(Random.bytes(n), at: offset)
                offset += n
            }
            try file.syncData()
            overwritten += size
            let named: FileIdentity
            do { named = try Posix.identity(of: path) } catch VaultError.notFound { return overwritten }  // removed meanwhile
            guard named == (try file.identity()) else { continue }  // replaced under us: overwrite the new one too
            try Posix.remove(path)
            try Posix.syncDirectory(Posix.parent(of: path))
            return overwritten
        }
        throw VaultError.busy("\(PathBytes.display(path)) kept being replaced while it was overwritten; run the command again")
    }

    private func execute(_ intent: JSONValue) throws -> ShredOutcome {
        guard Store.checkedIntentFields(intent),
              case .string(let idHex)? = intent["vaultId"], let id = [UInt8](hex: idHex), id.count == 16,
              case .string(let certId)? = intent["certificateId"], case .string(let lookupFile)? = intent["lookupFile"]
        else { throw VaultError.corrupted("a shred intent is incomplete; finish the shred by hand (see docs/OPERATIONS.md)") }
        // Nothing is destroyed unless its certificate can be signed: a signing key that is missing, replaced, or no
        // longer opens for the jurisdiction the description declares stops every shred path here (a new shred, a
        // resumed one, the sweep of pending ones).
        _ = try signingKey()
        // 1. Crypto-erase: the erasure secret, overwritten in place (it was written once, never renamed).
        let secretBytes = try erasureSecrets.destroy(vaultId: id, lockTimeout: lockTimeout)
        try Posix.remove(generationPath(id))
        if Posix.isDirectory(Posix.parent(of: generationPath(id))) { try Posix.syncDirectory(Posix.parent(of: generationPath(id))) }
        CrashPoint.hit("shred:secret-destroyed")
        // 2. Overwrite the vault file.
        let vaultOverwritten = try Store.overwriteAndRemove(vaultPath(id), lockTimeout: lockTimeout)
        CrashPoint.hit("shred:vault-overwritten")
        // A temporary left beside either file by a killed writer could hold a copy: sweep both folders.
        Posix.removeStaleTemporaries(in: Posix.parent(of: erasureSecretPath(id)))
        Posix.removeStaleTemporaries(in: Posix.parent(of: vaultPath(id)))
        // 3. The e-mail lookup and the supporters' links.
        try Posix.remove("\(root)/\(lookupFile)")
        if Posix.isDirectory(Posix.parent(of: "\(root)/\(lookupFile)")) { try Posix.syncDirectory(Posix.parent(of: "\(root)/\(lookupFile)")) }
        if case .array(let sups)? = intent["supporters"] {
            for case .string(let s) in sups { if let sid = [UInt8](hex: s) { try removeLink(supporterId: sid, vaultId: id) } }
        }
        // The missed-dose notice file (check-in schedule, supporters' addresses; FORMAT.md §7.15) goes with the vault.
        try removeNoticeFile(vaultId: id)
        // So do pending administrators' shred requests for this vault (they hold the address as typed): a shred run
        // another way (the CLI, the patient's own deletion) must not leave the e-mail behind the certificate.
        let waiting = try readDocument(.shredRequests, as: PendingShredRequest.self)
        func forThisVault(_ r: PendingShredRequest) -> Bool {
            r.vaultId.map { $0 == idHex } ?? ((try? matches(intent, email: r.email)) ?? false)
        }
        if waiting.contains(where: forThisVault) {
            try updateDocument(.shredRequests, as: PendingShredRequest.self) { $0.removeAll(where: forThisVault) }
        }
        CrashPoint.hit("shred:lookup-removed")
        // 4. Verify that nothing is left.
        var checks: [JSONValue] = []
        func check(_ name: String, _ ok: Bool) { checks.append(.object([("check", .string(name)), ("result", .string(ok ? "passed" : "failed"))])) }
        check("erasure secret file absent", !Posix.exists(erasureSecretPath(id)))
        check("vault file absent", !Posix.exists(vaultPath(id)))
        check("generation record absent", !Posix.exists(generationPath(id)))
        check("e-mail lookup entry absent", !Posix.exists("\(root)/\(lookupFile)"))
        let opens: Bool
        do { _ = try openVault(id: id); opens = true } catch { opens = false }
        check("vault cannot be opened", !opens)
        check("no temporary file beside the erasure secret or the vault",
              !(Posix.list(Posix.parent(of: erasureSecretPath(id))) + Posix.list(Posix.parent(of: vaultPath(id)))).contains { $0.hasPrefix(Posix.temporaryPrefix) })
        let passed = checks.allSatisfy { $0["result"] == .string("passed") }
        guard passed else { throw VaultError.io("shred verification failed for vault \(idHex); the intent is kept, run the shred again") }
        // 5. Tombstone (no personal data), certificate, then the intent goes.
        let now = AuditLog.isoNow()
        try Posix.makeDirectories(tombstoneDirectory)
        try Posix.writeAtomically("\(tombstoneDirectory)/\(idHex)", CanonicalJSON.serialize(.object([
            ("vaultId", .string(idHex)), ("shreddedAt", .string(now)), ("certificateId", .string(certId)),
        ])))
        // The signed list too: the plain file above is only a hint a disk writer can delete (docs/SECURITY.md).
        try updateTombstoneList { $0.vaults.insert(idHex) }
        CrashPoint.hit("shred:tombstone-written")
        // A resumed shred reports what the interrupted run overwrote too (sizes were recorded in the intent).
        let vaultBytes = max(vaultOverwritten, intent["vaultBytes"]?.doubleValue.flatMap { Int(exactly: $0) } ?? 0)
        let secretTotal = max(secretBytes, intent["secretBytes"]?.doubleValue.flatMap { Int(exactly: $0) } ?? 0)
        // A re-run after the certificate was issued keeps that certificate (same id, same bytes).
        let certificate: [UInt8]
        if let issued = try Posix.readFile("\(certificateDirectory)/\(certId).json"),
           let verified = try? DeletionCertificate.verify(issued, publicKey: try signingKey().publicKey),
           verified.certificateId == certId, verified.vaultId == idHex {
            certificate = issued  // this store's own, for this shred
        } else {
            certificate = try DeletionCertificate.issue(intent: intent, store: self, completedAt: now, secretBytes: secretTotal,
                                                        vaultBytes: vaultBytes, checks: checks)
            try Posix.makeDirectories(certificateDirectory)
            try Posix.writeAtomically("\(certificateDirectory)/\(certId).json", certificate)
        }
        CrashPoint.hit("shred:certificate-written")
        // Logged while the intent still exists: if the entry cannot be written, a re-run completes (and logs) it.
        let executor = intent["executedBy"]?.stringValue ?? "unknown"
        let detail = "certificate \(certId)"
        // A re-run after the entry was written (and before the intent went) must not log the shred twice.
        if try !auditLog().entries().contains(where: { $0.action == "shred" && $0.detail == detail && $0.outcome == "ok" }) {
            try log("shred", vaultId: id, actor: executor == "patient" ? "patient" : "operator:\(executor)",
                    role: executor == "patient" ? "patient" : "operator", detail: detail)
        }
        do {
            try Posix.remove(intentPath(id))
            try Posix.syncDirectory(shredDirectory)
        } catch {
            throw VaultError.io("the shred is complete (certificate \(certId) is kept in the store), but its intent record could not be cleared (\(error)); run the same command again to finish")
        }
        return ShredOutcome(certificate: certificate, certificateId: certId, vaultId: idHex, alreadyShredded: false)
    }

    var supporterTombstoneDirectory: String { "\(tombstoneDirectory)/supporters" }

    /// Vault ids shredded in this store, and those whose shred is under way (no personal data).
    package func tombstones() -> Set<String> {
        Set(Posix.list(tombstoneDirectory).filter { $0.count == 32 })
            .union(Posix.list(shredDirectory).filter { $0.hasSuffix(".intent") }.map { String($0.prefix(32)) })
    }

    /// Vault ids this store can show were shredded or are being shredded: the signed tombstone list (§7.10), the
    /// access log's shred events, and shred intents that authenticate (FORMAT.md §7.7). Unlike `tombstones()`, no
    /// plain file a disk writer can plant counts, so the checks and the backups that skip these vaults skip no other.
    /// - Parameters: `entries`, the log's entries (read once by the caller); `list`, the signed list, checked.
    func confirmedShredded(entries: [AuditLog.Entry], list: TombstoneList?) -> Set<String> {
        var ids = (list?.vaults ?? []).union(TombstoneList.events(in: entries, storeId: storeId).vaults)
        for name in Posix.list(shredDirectory) where name.hasSuffix(".intent") {
            if (try? readIntent(path: "\(shredDirectory)/\(name)")) != nil { ids.insert(String(name.prefix(32))) }
        }
        // Read again after the intents: a shred that completed since the caller read the list and the log added its
        // vault to the list before removing its intent, so it is in one or the other (not a vault "gone without a
        // shred" for a check running beside it).
        if let fresh = try? signedTombstoneList() { ids.formUnion(fresh.vaults) }
        return ids
    }

    /// Supporter ids whose registration was deleted.
    package func supporterTombstones() -> Set<String> {
        Set(Posix.list(supporterTombstoneDirectory).filter { $0.count == 32 })
    }

    // MARK: supporters deleting themselves

    /// Destroys a supporter's registration: account (keys) overwritten and removed, lookup and links removed.
    /// Their key shares in vaults become dead (nobody holds the secret key) and are dropped at the patient's next write.
    package func deleteSupporter(email: String, password: SecureBytes) throws -> [UInt8] {
        let identity = try unlockSupporter(email: email, password: password)
        let id = identity.id
        _ = try Store.overwriteAndRemove(supporterPath(id), lockTimeout: lockTimeout)
        try? Posix.remove(pinsPath(id))
        let lookup = try existingLookupPath(.supporter, email: email) ?? lookupPath(.supporter, email: email)
        try Posix.remove(lookup)
        try? Posix.syncDirectory(Posix.parent(of: lookup))
        let links = linkDirectory(id)
        for name in Posix.list(links) { try? Posix.remove("\(links)/\(name)") }
        Posix.removeDirectory(links)
        // A tombstone (id only), so no restore of an older backup brings the registration back.
        try Posix.makeDirectories(supporterTombstoneDirectory)
        try Posix.writeAtomically("\(supporterTombstoneDirectory)/\(id.hex)", CanonicalJSON.serialize(.object([
            ("supporterId", .string(id.hex)), ("deletedAt", .string(AuditLog.isoNow())),
        ])))
        try updateTombstoneList { $0.supporters.insert(id.hex) }
        try log("delete-supporter", vaultId: nil, actor: "supporter:\(id.hex)", role: "supporter")
        return id
    }

    /// Whether a supporter still has an account (dead key shares are cleaned at the patient's next write).
    func supporterExists(_ id: [UInt8]) -> Bool { Posix.exists(supporterPath(id)) }
}
