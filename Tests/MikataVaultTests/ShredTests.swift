import Foundation
import Synchronization
import MikataCrypto
import MikataFormat
@testable import MikataVault
import Testing

/// Helpers shared by the shred, audit and backup tests (named apart from the other test files' helpers).
enum ShredKit {
    /// An operator's shred request, as a health centre sends it.
    static func request(executedBy: String = "op-7", reason: String = "patient deceased") -> ShredRequest {
        ShredRequest(reason: reason, requestedBy: "Minato health centre", reference: "HC-2026-0042", executedBy: executedBy, approvedBy: "op-1")
    }

    /// What `mikata patient delete` passes.
    static let patientRequest = ShredRequest(reason: "deletion requested by the patient", requestedBy: "patient", reference: "self-service",
                                             executedBy: "patient", approvedBy: nil)

    static func read(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }

    static func write(_ bytes: [UInt8], to path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    static func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    /// Whether `needle` occurs in `haystack` (byte-exact).
    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        !needle.isEmpty && Data(haystack).range(of: Data(needle)) != nil
    }

    /// Case-insensitive text search over raw bytes (e-mail addresses are normalised to lower case).
    static func containsText(_ haystack: [UInt8], _ text: String) -> Bool {
        contains(Array(String(decoding: haystack, as: UTF8.self).lowercased().utf8), Array(text.lowercased().utf8))
    }

    /// A fresh directory path under the temporary folder (not created); `cleanup` removes it.
    static func temporaryPath(_ label: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("mikata-\(label)-\(UUID().uuidString)").path
    }

    static func cleanup(_ paths: String...) { for p in paths { try? FileManager.default.removeItem(atPath: p) } }

    /// Every single-point edit of a JSON value: each leaf changed (two ways for strings), each member and array
    /// element removed, an extra member or element added at every level. The label names the path.
    static func mutations(of value: JSONValue, path: String = "$") -> [(label: String, value: JSONValue)] {
        switch value {
        case .null:
            return [("\(path): null → \"x\"", .string("x")), ("\(path): null → false", .bool(false))]
        case .bool(let b):
            return [("\(path): \(b) → \(!b)", .bool(!b))]
        case .number(let d):
            return [("\(path): \(d) → \(d + 1)", .number(d + 1))]
        case .string(let s):
            // Appending breaks hex; replacing the first character keeps hex valid (a different signature or key).
            let first: Character = s.first == "0" ? "1" : "0"
            let replaced = s.isEmpty ? "0" : String(first) + s.dropFirst()
            return [("\(path): string + \"x\"", .string(s + "x")), ("\(path): first character replaced", .string(replaced))]
        case .array(let items):
            var out: [(String, JSONValue)] = []
            for (i, item) in items.enumerated() {
                for m in mutations(of: item, path: "\(path)[\(i)]") {
                    var copy = items
                    copy[i] = m.value
                    out.append((m.label, .array(copy)))
                }
                var copy = items
                copy.remove(at: i)
                out.append(("\(path)[\(i)] removed", .array(copy)))
            }
            out.append(("\(path)[] element added", .array(items + [.string("extra")])))
            return out
        case .object(let members):
            var out: [(String, JSONValue)] = []
            for (i, member) in members.enumerated() {
                for m in mutations(of: member.1, path: "\(path).\(member.0)") {
                    var copy = members
                    copy[i] = (member.0, m.value)
                    out.append((m.label, .object(copy)))
                }
                var copy = members
                copy.remove(at: i)
                out.append(("\(path).\(member.0) removed", .object(copy)))
            }
            out.append(("\(path).extra added", .object(members + [("extra", .string("x"))])))
            return out
        }
    }
}

@Suite("Shred")
struct ShredTests {
    @Test("after a shred nothing opens the vault: not by e-mail, not by id, not a saved copy, not a guessed erasure secret")
    func nothingOpensAfterShred() throws {
        let s = try Scratch()
        let email = "shred.me@example.jp"
        let (vault, _) = try s.patient(email, password: "patient-pw")
        let session = try vault.unlock(password: pw("patient-pw"))
        try vault.append(type: "dose", data: json(#"{"note":"RECORD-CANARY-7731"}"#), session: session)
        let id = vault.vaultId
        let savedVault = try ShredKit.read(s.store.vaultPath(id))
        let savedGeneration = try ShredKit.read(s.store.generationPath(id))

        let outcome = try s.store.shred(email: email, request: ShredKit.request())
        #expect(!outcome.alreadyShredded)
        #expect(outcome.vaultId == id.hex)

        #expect(failureClass { _ = try s.store.openVault(email: email) } == "not-found")
        #expect(["not-found", "erased"].contains(failureClass { _ = try s.store.openVault(id: id) }))
        // A handle opened before the shred holds the erasure secret in memory, but its file is gone.
        #expect(failureClass { _ = try vault.records(session) } == "not-found")
        for path in [s.store.erasureSecretPath(id), s.store.generationPath(id), s.store.vaultPath(id), s.store.intentPath(id)] {
            #expect(!ShredKit.exists(path), "\(path) survived the shred")
        }
        #expect(s.store.tombstones() == [id.hex])
        #expect(!s.store.isShredPending(id))

        // The old vault file (and its generation record) put back where they were: the erasure secret is gone.
        try ShredKit.write(savedVault, to: s.store.vaultPath(id))
        try ShredKit.write(savedGeneration, to: s.store.generationPath(id))
        #expect(failureClass { _ = try s.store.openVault(id: id) } == "erased")
        #expect(failureClass { _ = try s.store.openVault(email: email) } == "not-found")

        // Opening the saved copy directly with any other erasure secret: the password may still unwrap the owner key,
        // but no record decrypts.
        let forced = try Vault(path: s.store.vaultPath(id), erasureSecret: SecureBytes.random(count: 32), anchor: s.store.anchor(id))
        if let forcedSession = try? forced.unlock(password: pw("patient-pw")) {
            #expect(failureClass { _ = try forced.records(forcedSession) } == "tampered")
        }
        // No plaintext anywhere in the store.
        for path in s.store.allFiles() {
            #expect(!ShredKit.containsText(try ShredKit.read(path), "RECORD-CANARY-7731"), "\(path) holds record plaintext")
        }
    }

    @Test("a vault file replaced while the shred waits for its lock (a re-encryption elsewhere) is overwritten too, old and new")
    func replacedVaultFileIsOverwrittenToo() throws {
        let s = try Scratch()
        let email = "replaced@example.jp"
        let (vault, _) = try s.patient(email, password: "patient-pw")
        try vault.append(type: "dose", data: json(#"{"note":"RECORD-CANARY-5120"}"#), session: try vault.unlock(password: pw("patient-pw")))
        let path = s.store.vaultPath(vault.vaultId)
        let original = try ShredKit.read(path)
        // The other process: between the shred's open and its lock, it renames a new file (the same bytes, as a
        // re-encryption's copy would hold the same records) over the vault's name. Both inodes stay readable here.
        let oldInode = try PosixFile.open(path, readOnly: true)
        let newInode = Mutex<PosixFile?>(nil)
        RaceWindow.open(RaceWindow.overwriteBeforeLock, root: Posix.parent(of: path)) {
            let temp = path + ".reencrypted"
            try ShredKit.write(original, to: temp)
            newInode.withLock { $0 = try? PosixFile.open(temp, readOnly: true) }
            #expect(rename(temp, path) == 0)
        }
        let outcome = try s.store.shred(email: email, request: ShredKit.request())
        #expect(!ShredKit.exists(path))
        let replacement = try #require(newInode.withLock { $0 })
        for (what, file) in [("the old file", oldInode), ("the file renamed over it", replacement)] {
            let now = try file.read(at: 0, count: original.count)
            #expect(now.count == original.count && now != original, "\(what) was not overwritten")
            #expect(!ShredKit.contains(now, Array(original.prefix(64))), "\(what) still holds the vault's header")
        }
        // The certificate counts both files' bytes.
        _ = try DeletionCertificate.verify(outcome.certificate, publicKey: try s.store.signingKey().publicKey)
        guard case .array(let files)? = try CanonicalJSON.parse(outcome.certificate)["destroyed"]?["files"] else { Issue.record("no files"); return }
        #expect(files.contains { $0["kind"] == .string("vault-file") && $0["bytesOverwritten"] == .number(Double(2 * original.count)) })
    }

    @Test("a file removed while the overwrite waits for its lock is still overwritten, and the overwrite ends")
    func removedFileIsOverwrittenAndTheOverwriteEnds() throws {
        let dir = ShredKit.temporaryPath("overwrite")
        defer { ShredKit.cleanup(dir) }
        let path = "\(dir)/secret.key"
        let original = Array(repeating: UInt8(0x5A), count: 3000)
        try ShredKit.write(original, to: path)
        let held = try PosixFile.open(path, readOnly: true)
        RaceWindow.open(RaceWindow.overwriteBeforeLock, root: dir) { try FileManager.default.removeItem(atPath: path) }
        #expect(try Store.overwriteAndRemove(path, lockTimeout: 1) == original.count)
        #expect(!ShredKit.exists(path))
        #expect(try held.read(at: 0, count: original.count) != original)
        // Already gone: nothing to do.
        #expect(try Store.overwriteAndRemove(path, lockTimeout: 1) == 0)
    }

    @Test("shred is idempotent: the same certificate, byte for byte; unknown e-mails and bad requests destroy nothing")
    func idempotent() throws {
        let s = try Scratch()
        let (vault, _) = try s.patient("again@example.jp")
        let (other, _) = try s.patient("bystander@example.jp", password: "other-pw")
        #expect(failureClass { _ = try s.store.shred(email: "nobody@example.jp", request: ShredKit.request()) } == "not-found")
        #expect(failureClass { _ = try s.store.shred(email: "not-an-address", request: ShredKit.request()) } == "invalid-input")
        // Dual control: the approver (op-1 in ShredKit) is never the operator, whatever the case or spaces.
        for bad in [ShredKit.request(reason: ""), ShredKit.request(reason: String(repeating: "r", count: 513)), ShredKit.request(executedBy: "  "),
                    ShredKit.request(executedBy: "op-1"), ShredKit.request(executedBy: " OP-1 "), ShredKit.request(reason: "deceased\u{9b}")] {
            #expect(failureClass { _ = try s.store.shred(email: "again@example.jp", request: bad) } == "invalid-input")
        }
        // Rejected requests left the vault as it was.
        _ = try s.store.openVault(email: "again@example.jp").unlock(password: pw("patient-pw"))
        #expect(!s.store.isShredPending(vault.vaultId))

        let first = try s.store.shred(email: "again@example.jp", request: ShredKit.request())
        let second = try s.store.shred(email: "  AGAIN@Example.JP ", request: ShredKit.request(executedBy: "op-9", reason: "duplicate request"))
        #expect(second.alreadyShredded)
        #expect(second.certificate == first.certificate)
        #expect(second.certificateId == first.certificateId && second.vaultId == first.vaultId)
        // A re-run is checked like a first run: a bad request gets no certificate, not even the earlier one.
        #expect(failureClass { _ = try s.store.shred(email: "again@example.jp", request: ShredKit.request(reason: "tab\there")) } == "invalid-input")
        #expect(try ShredKit.read("\(s.store.root)/certificates/\(first.certificateId).json") == first.certificate)
        // Only one shred was logged, and the bystander is untouched.
        #expect(try s.store.auditLog().entries().filter { $0.action == "shred" }.count == 1)
        #expect(try other.records(other.unlock(password: pw("other-pw"))).count == 1)
    }

    @Test("patient delete: the certificate names the patient as requester and executor; the log says the patient did it")
    func patientDelete() throws {
        let s = try Scratch()
        let (vault, _) = try s.patient("self@example.jp")
        let outcome = try s.store.shred(email: "self@example.jp", request: ShredKit.patientRequest)
        let cert = try CanonicalJSON.parse(outcome.certificate)
        #expect(cert["request"]?["requestedBy"] == .string("patient"))
        #expect(cert["execution"]?["executedBy"] == .string("patient"))
        #expect(cert["execution"]?["approvedBy"] == .null)
        #expect(try DeletionCertificate.verify(outcome.certificate, publicKey: s.store.signingKey().publicKey).vaultId == vault.vaultId.hex)
        let entry = try #require(try s.store.auditLog().entries().last)
        #expect(entry.action == "shred" && entry.actor == "patient" && entry.role == "patient" && entry.vault == vault.vaultId.hex)
        #expect(failureClass { _ = try s.store.openVault(email: "self@example.jp") } == "not-found")
    }

    /// Where the interrupted shred fails: after destroying everything (a blocked tombstones or certificates folder).
    enum Blocker: String, CaseIterable { case tombstones, certificates }
    enum Completion: String, CaseIterable { case completePendingShreds, shredAgain }

    @Test("a shred interrupted after the destruction keeps the vault shut and completes later with the same certificate id",
          arguments: Blocker.allCases, Completion.allCases)
    func interruptedAfterDestruction(blocker: Blocker, completion: Completion) throws {
        let s = try Scratch()
        let (vault, _) = try s.patient("half@example.jp")
        let (other, _) = try s.patient("whole@example.jp", password: "other-pw")
        let id = vault.vaultId
        // A plain file where the folder goes: the shred fails there, with its intent kept (making the folder finds a
        // file the store did not create: tampered; reading through it fails with ENOTDIR: io).
        let blocked = "\(s.store.root)/\(blocker.rawValue)"
        #expect(FileManager.default.createFile(atPath: blocked, contents: Data()))
        #expect(failureClass { _ = try s.store.shred(email: "half@example.jp", request: ShredKit.request()) } == (blocker == .tombstones ? "tampered" : "io"))
        #expect(s.store.isShredPending(id))
        let intent = try CanonicalJSON.parse(try ShredKit.read(s.store.intentPath(id)))
        let intendedId = try #require(intent["certificateId"]?.stringValue)
        #expect(!ShredKit.exists(s.store.erasureSecretPath(id)) && !ShredKit.exists(s.store.vaultPath(id)))
        #expect(failureClass { _ = try s.store.openVault(email: "half@example.jp") } == "not-found")
        #expect(failureClass { _ = try s.store.openVault(id: id) } == "erased")
        // The intent holds no personal data.
        #expect(!ShredKit.containsText(try ShredKit.read(s.store.intentPath(id)), "half@example.jp"))

        try FileManager.default.removeItem(atPath: blocked)
        let outcome: ShredOutcome
        switch completion {
        case .completePendingShreds:
            #expect(try s.store.completePendingShreds() == 1)
            outcome = try s.store.shred(email: "half@example.jp", request: ShredKit.request())
            #expect(outcome.alreadyShredded)
        case .shredAgain:
            // The lookup is gone; the intent is found through its subject reference.
            outcome = try s.store.shred(email: "half@example.jp", request: ShredKit.request())
            #expect(!outcome.alreadyShredded)
        }
        #expect(outcome.certificateId == intendedId)
        #expect(!s.store.isShredPending(id))
        #expect(try s.store.completePendingShreds() == 0)
        #expect(s.store.tombstones() == [id.hex])
        #expect(try DeletionCertificate.verify(outcome.certificate, publicKey: s.store.signingKey().publicKey).vaultId == id.hex)
        #expect(try s.store.shred(email: "half@example.jp", request: ShredKit.request()).certificate == outcome.certificate)
        #expect(try other.records(other.unlock(password: pw("other-pw"))).count == 1)
        _ = try s.store.auditLog().verify()
    }

    /// How a disk writer tries to make the store act on an intent it did not write.
    enum PlantedIntent: String, CaseIterable {
        /// A plain intent with no MAC (also what a version before authenticated intents left).
        case noMAC
        /// This store's own intent for one vault, put under another vault's name.
        case otherVaultsIntent
        /// A member changed after the MAC was made.
        case alteredReason
        /// Validly MACed (the test holds the root key), but its lookup path leaves the store.
        case traversingLookup
        /// Validly MACed, but a byte count a double cannot turn into an Int.
        case hugeByteCount
    }

    @Test("a shred intent the store did not write (or whose fields leave their form) is never executed: nothing is destroyed, inside or outside the store",
          arguments: PlantedIntent.allCases)
    func plantedIntentRefused(planted: PlantedIntent) throws {
        let s = try Scratch()
        let (victim, _) = try s.patient("victim@example.jp")
        let (decoy, _) = try s.patient("decoy@example.jp", password: "decoy-pw")
        let id = victim.vaultId
        // A file outside the store the intent aims at, as the root key or anything the store's user owns.
        let outside = ShredKit.temporaryPath("outside")
        defer { ShredKit.cleanup(outside) }
        try ShredKit.write(Array("keep me".utf8), to: outside)
        let relative = String(repeating: "../", count: s.store.root.split(separator: "/").count) + outside.dropFirst()
        var members: [(String, JSONValue)] = [
            ("vaultId", .string(id.hex)), ("certificateId", .string(Random.bytes(16).hex)),
            ("subjectRef", .string(Random.bytes(32).hex)), ("subjectRefSalt", .string(Random.bytes(16).hex)),
            ("lookupFile", .string(relative)), ("reason", .string("forged")), ("requestedBy", .string("nobody")),
            ("reference", .string("none")), ("executedBy", .string("attacker")), ("approvedBy", .string("attacker-2")),
            ("receivedAt", .string(AuditLog.isoNow())), ("startedAt", .string(AuditLog.isoNow())), ("erasureKeyId", .string("")),
            ("vaultBytes", .number(0)), ("secretBytes", .number(0)), ("supporters", .array([])),
        ]
        func macked(_ m: [(String, JSONValue)]) -> JSONValue {
            .object(m + [("mac", .string(s.store.rootKey.mac(shredIntent: CanonicalJSON.serialize(.object(m))).hex))])
        }
        let intent: JSONValue
        switch planted {
        case .noMAC:
            intent = .object(members)
        case .otherVaultsIntent:
            // The store's own, complete intent for the decoy (a shred interrupted before destruction), renamed.
            let holder = try PosixFile.open(s.store.erasureSecretPath(decoy.vaultId))
            try holder.lock(exclusive: true, timeout: 1)
            s.store.lockTimeout = 0.2
            #expect(failureClass { _ = try s.store.shred(email: "decoy@example.jp", request: ShredKit.request()) } == "busy")
            holder.unlock()
            intent = try CanonicalJSON.parse(try ShredKit.read(s.store.intentPath(decoy.vaultId)))
            try FileManager.default.removeItem(atPath: s.store.intentPath(decoy.vaultId))
        case .alteredReason:
            members[1] = ("certificateId", .string(Random.bytes(16).hex))
            members[4] = ("lookupFile", .string("index/ab/ab" + String(repeating: "0", count: 62)))
            guard case .object(var m) = macked(members) else { return }
            m[5] = ("reason", .string("altered after the MAC"))
            intent = .object(m)
        case .traversingLookup:
            intent = macked(members)
        case .hugeByteCount:
            members[4] = ("lookupFile", .string("index/ab/ab" + String(repeating: "0", count: 62)))
            members[13] = ("vaultBytes", .number(1e300))
            intent = macked(members)
        }
        try ShredKit.write(CanonicalJSON.serialize(intent), to: s.store.intentPath(id))
        let certificatesBefore = Posix.list("\(s.store.root)/certificates")
        let logBefore = try s.store.auditLog().entries().count

        // Every way an intent gets executed refuses it.
        #expect(failureClass { _ = try s.store.shred(email: "victim@example.jp", request: ShredKit.request()) } == "tampered")
        #expect(failureClass { _ = try s.store.completePendingShred(email: "victim@example.jp") } == "tampered")
        #expect(failureClass { _ = try s.store.completePendingShreds() } == "tampered")
        // Nothing was destroyed, issued or logged as a shred.
        #expect(try ShredKit.read(outside) == Array("keep me".utf8))
        #expect(ShredKit.exists(s.store.erasureSecretPath(id)) && ShredKit.exists(s.store.vaultPath(id)))
        #expect(Posix.list("\(s.store.root)/certificates") == certificatesBefore)
        #expect(try !s.store.auditLog().entries().dropFirst(logBefore).contains { $0.action == "shred" })
        // Once the planted file is gone, the victim's own password opens the vault again.
        try FileManager.default.removeItem(atPath: s.store.intentPath(id))
        #expect(try victim.records(victim.unlock(password: pw("patient-pw"))).count == 1)
    }

    @Test("a certificate planted in the store, signed by another key, is never handed out as the store's")
    func plantedCertificateIgnored() throws {
        let s = try Scratch()
        _ = try s.patient("left@example.jp")
        let real = try s.store.shred(email: "left@example.jp", request: ShredKit.request())
        // The disk writer re-signs the store's certificate with their own key, naming approvers who never approved,
        // and files it under the real id and under a new one.
        guard case .object(let members) = try CanonicalJSON.parse(real.certificate) else { Issue.record("not an object"); return }
        let attacker = SigningKeyPair.generate()
        func forged(id: String) -> [UInt8] {
            var m = members.filter { $0.0 != "signature" }.map { k, v -> (String, JSONValue) in
                switch k {
                case "certificateId": return (k, .string(id))
                case "issuer": return (k, .object([("publicKey", .string(attacker.publicKey.hex)), ("signingKeyId", .string(Store.keyId(attacker.publicKey)))]))
                default: return (k, v)
                }
            }
            let signature = attacker.sign(DeletionCertificate.signedMessage(m))
            m.append(("signature", .object([("algorithm", .string("Ed25519")), ("value", .string(signature.hex))])))
            return CanonicalJSON.serialize(.object(m))
        }
        let planted = Random.bytes(16).hex
        #expect(try DeletionCertificate.verify(forged(id: planted), publicKey: nil).certificateId == planted)  // self-consistent
        try FileManager.default.removeItem(atPath: "\(s.store.root)/certificates/\(real.certificateId).json")
        try ShredKit.write(forged(id: real.certificateId), to: "\(s.store.root)/certificates/\(real.certificateId).json")
        try ShredKit.write(forged(id: planted), to: "\(s.store.root)/certificates/\(planted).json")
        #expect(failureClass { _ = try s.store.shred(email: "left@example.jp", request: ShredKit.request()) } == "not-found")
    }

    @Test("a shred interrupted before the destruction (vault busy) refuses every open until it is completed")
    func interruptedBeforeDestruction() throws {
        let s = try Scratch()
        let (vault, _) = try s.patient("busy@example.jp")
        let id = vault.vaultId
        // Someone holds the erasure secret file's lock: the shred gives up after its intent, destroying nothing.
        let holder = try PosixFile.open(s.store.erasureSecretPath(id))
        try holder.lock(exclusive: true, timeout: 1)
        s.store.lockTimeout = 0.2
        #expect(failureClass { _ = try s.store.shred(email: "busy@example.jp", request: ShredKit.request()) } == "busy")
        holder.unlock()
        #expect(s.store.isShredPending(id))
        #expect(ShredKit.exists(s.store.erasureSecretPath(id)) && ShredKit.exists(s.store.vaultPath(id)))
        // The patient's own password no longer opens it: the deletion was requested.
        #expect(failureClass { _ = try s.store.openVault(email: "busy@example.jp") } == "erased")
        #expect(try s.store.completePendingShreds() == 1)
        #expect(!ShredKit.exists(s.store.erasureSecretPath(id)) && !ShredKit.exists(s.store.vaultPath(id)))
        let outcome = try s.store.shred(email: "busy@example.jp", request: ShredKit.request())
        #expect(outcome.alreadyShredded)
        let cert = try CanonicalJSON.parse(outcome.certificate)
        // Completed in one run after the interruption: the secret file really was overwritten by it.
        #expect((cert["destroyed"]?["files"]?.arrayValue?.first?["bytesOverwritten"]?.intValue ?? 0) > 0)
    }

    @Test("deleteSupporter: wrong password deletes nothing; afterwards the account is gone and the patient's next write drops the dead share")
    func deleteSupporter() throws {
        let s = try Scratch()
        let (vault, _) = try s.patient()
        let (aKeys, a) = try s.supporter("a@example.jp", password: "a-pw")
        let (bKeys, _) = try s.supporter("b@example.jp", password: "b-pw")
        let patient = try vault.unlock(password: pw("patient-pw"))
        for keys in [aKeys, bKeys] {
            try vault.grant(keys, session: patient)
            try s.store.recordLink(supporterId: keys.id, vaultId: vault.vaultId)
        }
        try vault.append(type: "message", data: json(#""from a""#), session: try vault.unlock(supporter: a))
        try vault.append(type: "dose", data: json("1"), session: patient)

        #expect(failureClass { _ = try s.store.deleteSupporter(email: "a@example.jp", password: pw("wrong")) } == "authentication-failed")
        // An unknown e-mail is answered as a wrong password (issue 7 §5).
        #expect(failureClass { _ = try s.store.deleteSupporter(email: "nobody@example.jp", password: pw("a-pw")) } == "authentication-failed")
        #expect(ShredKit.exists(s.store.supporterPath(aKeys.id)))
        #expect(s.store.linkedVaults(supporterId: aKeys.id) == [vault.vaultId])

        #expect(try s.store.deleteSupporter(email: "a@example.jp", password: pw("a-pw")) == aKeys.id)
        #expect(!ShredKit.exists(s.store.supporterPath(aKeys.id)))
        #expect(!ShredKit.exists(s.store.linkDirectory(aKeys.id)))
        // Deleted: the old password is answered as for an unknown e-mail; the non-credentialed lookup says "not found".
        #expect(failureClass { _ = try s.store.unlockSupporter(email: "a@example.jp", password: pw("a-pw")) } == "authentication-failed")
        #expect(failureClass { _ = try s.store.supporterPublicKeys(email: "a@example.jp") } == "not-found")
        #expect(failureClass { _ = try s.store.deleteSupporter(email: "a@example.jp", password: pw("a-pw")) } == "authentication-failed")

        // The share is dead but still in the header until the patient writes.
        let epochBefore = vault.keyState.currentEpoch.epoch
        #expect(vault.keyState.supporterSlots.contains { $0.supporterId == aKeys.id })
        try vault.append(type: "dose", data: json("2"), session: patient)
        #expect(vault.keyState.currentEpoch.epoch == epochBefore + 1)
        #expect(vault.keyState.supporterSlots.map(\.supporterId) == [bKeys.id])
        #expect(try s.store.auditLog().entries().contains { $0.action == "drop-dead-shares" && $0.detail.contains(aKeys.id.hex) })
        #expect(try s.store.auditLog().entries().contains { $0.action == "delete-supporter" && $0.actor == "supporter:\(aKeys.id.hex)" })

        // A's keys, even kept from before the deletion, open nothing any more; B reads everything, A's record included.
        let fresh = try s.store.openVault(email: "patient@example.jp")
        #expect(failureClass { _ = try fresh.unlock(supporter: a) } == "not-permitted")
        let b = try s.store.unlockSupporter(email: "b@example.jp", password: pw("b-pw"))
        let everything = try vault.records(patient)
        #expect(try fresh.records(fresh.unlock(supporter: b)) == everything)
        #expect(everything.map(\.data).suffix(3) == [json(#""from a""#), json("1"), json("2")])
        // The e-mail can register again, as a new supporter.
        #expect(try s.store.createSupporter(email: "a@example.jp", name: "A again", password: pw("a-pw")).id != aKeys.id)
    }
}

extension ShredTests {
    @Test("a deleted supporter's dead share is dropped by the patient's next key change too, not only by appends")
    func deadShareDroppedByRevoke() throws {
        let s = try Scratch()
        let (vault, _) = try s.patient()
        let (aKeys, _) = try s.supporter("a@example.jp", password: "a-pw")
        let (bKeys, _) = try s.supporter("b@example.jp", password: "b-pw")
        let (cKeys, c) = try s.supporter("c@example.jp", password: "c-pw")
        let patient = try vault.unlock(password: pw("patient-pw"))
        for keys in [aKeys, bKeys, cKeys] { try vault.grant(keys, session: patient) }
        _ = try s.store.deleteSupporter(email: "a@example.jp", password: pw("a-pw"))
        // The patient's next write is a revocation of B: a new epoch, resealed to everyone left.
        try vault.revoke(bKeys.id, session: patient)
        #expect(!vault.keyState.supporterSlots.contains { $0.supporterId == bKeys.id })
        #expect(try vault.records(vault.unlock(supporter: c)).count == 1)
        do {
            #expect(!vault.keyState.supporterSlots.contains { $0.supporterId == aKeys.id })
        }
        // The next append does drop it.
        try vault.append(type: "dose", data: json("1"), session: patient)
        #expect(vault.keyState.supporterSlots.map(\.supporterId) == [cKeys.id])
    }
}

@Suite("Deletion certificate")
struct DeletionCertificateTests {
    /// A shredded patient whose e-mail and nickname are canaries.
    static func shredded() throws -> (Scratch, ShredOutcome, email: String) {
        let s = try Scratch()
        let email = "Canary.Taro@Example.JP"
        _ = try s.store.createPatient(email: email, nickname: "NICKNAME-CANARY-4410", password: pw("patient-pw"))
        let (keys, _) = try s.supporter("canary.nurse@example.jp")
        let vault = try s.store.openVault(email: email)
        let session = try vault.unlock(password: pw("patient-pw"))
        try vault.grant(keys, session: session)
        try s.store.recordLink(supporterId: keys.id, vaultId: vault.vaultId)
        return (s, try s.store.shred(email: email, request: ShredKit.request()), email)
    }

    @Test("verifies against the store key; names the vault, not the person; the requester can recompute subjectRef")
    func verifies() throws {
        let (s, outcome, email) = try Self.shredded()
        let key = try s.store.signingKey().publicKey
        let v = try DeletionCertificate.verify(outcome.certificate, publicKey: key)
        #expect(v.certificateId == outcome.certificateId && v.vaultId == outcome.vaultId && v.checkedAgainstGivenKey)
        #expect(try DeletionCertificate.verify(outcome.certificate, publicKey: nil).checkedAgainstGivenKey == false)
        // Canonical bytes: parsing and re-serializing changes nothing.
        #expect(try CanonicalJSON.canonicalize(outcome.certificate) == outcome.certificate)

        for canary in ["canary.taro", "canary.nurse", "NICKNAME-CANARY-4410", "example.jp"] {
            #expect(!ShredKit.containsText(outcome.certificate, canary), "the certificate contains \(canary)")
        }
        let cert = try CanonicalJSON.parse(outcome.certificate)
        let salt = try #require(cert["subject"]?["subjectRefSalt"]?.stringValue.flatMap { [UInt8](hex: $0) })
        let ref = try #require(cert["subject"]?["subjectRef"]?.stringValue)
        #expect(salt.count == 16)
        #expect(try Store.subjectRef(email: email, salt: salt) == ref)
        #expect(try Store.subjectRef(email: "  canary.taro@example.jp", salt: salt) == ref)
        #expect(try Store.subjectRef(email: "someone.else@example.jp", salt: salt) != ref)
        // What the certificate states.
        #expect(cert["type"] == .string(DeletionCertificate.type) && cert["version"] == .number(1))
        #expect(cert["issuer"]?["storeId"] == .string(s.store.storeId))
        #expect(cert["issuer"]?["publicKey"] == .string(key.hex))
        #expect(cert["verification"]?["result"] == .string("passed"))
        #expect(cert["verification"]?["checks"]?.arrayValue?.count == 6)
        #expect(cert["verification"]?["checks"]?.arrayValue?.allSatisfy { $0["result"] == .string("passed") } == true)
        let files = try #require(cert["destroyed"]?["files"]?.arrayValue)
        #expect(files.allSatisfy { ($0["bytesOverwritten"]?.intValue ?? 0) > 0 })
        #expect(cert["destroyed"]?["keys"]?.arrayValue?.first?["keyId"]?.stringValue?.count == 32)
        #expect(cert["request"]?["reference"] == .string("HC-2026-0042") && cert["execution"]?["approvedBy"] == .string("op-1"))
    }

    @Test("every single edit is rejected: each leaf changed, each member removed, a member added anywhere outside the signature")
    func everyEditRejected() throws {
        let (s, outcome, _) = try Self.shredded()
        let key = try s.store.signingKey().publicKey
        let edits = ShredKit.mutations(of: try CanonicalJSON.parse(outcome.certificate))
        #expect(edits.count > 100)
        var checked = 0
        for edit in edits where !edit.label.hasPrefix("$.signature.extra") {
            let bytes = CanonicalJSON.serialize(edit.value)
            for given in [key, nil] as [[UInt8]?] {
                let result = failureClass { _ = try DeletionCertificate.verify(bytes, publicKey: given) }
                #expect(["tampered", "unsupported", "corrupted"].contains(result), "accepted (\(result)) with \(edit.label)")
            }
            checked += 1
        }
        #expect(checked == edits.count - 1)
        // Not JSON, truncated, or empty.
        for bad in [[], Array(outcome.certificate.prefix(outcome.certificate.count / 2)), json("[]"), json("{}")] as [[UInt8]] {
            #expect(["corrupted", "unsupported"].contains(failureClass { _ = try DeletionCertificate.verify(bad, publicKey: key) }))
        }
    }

    @Test("the signature member admits no variants: an added member or upper-case hex changes the bytes, so it must not verify")
    func signatureMemberIsStrict() throws {
        let (s, outcome, _) = try Self.shredded()
        let key = try s.store.signingKey().publicKey
        let cert = try CanonicalJSON.parse(outcome.certificate)
        guard case .object(var members) = cert, let i = members.firstIndex(where: { $0.0 == "signature" }),
              case .object(let sig) = members[i].1, let value = cert["signature"]?["value"]?.stringValue else {
            Issue.record("the certificate has no signature object")
            return
        }
        members[i] = ("signature", .object(sig + [("note", .string("added after signing"))]))
        let extraMember = CanonicalJSON.serialize(.object(members))
        members[i] = ("signature", .object(sig.map { $0.0 == "value" ? ("value", .string(value.uppercased())) : $0 }))
        let upperCase = CanonicalJSON.serialize(.object(members))
        do {
            #expect(failureClass { _ = try DeletionCertificate.verify(extraMember, publicKey: key) } == "tampered")
            #expect(failureClass { _ = try DeletionCertificate.verify(upperCase, publicKey: key) } == "tampered")
        }
    }

    @Test("a wrong key fails; a certificate re-signed by someone else proves integrity only, never the issuer")
    func wrongKeys() throws {
        let (s, outcome, _) = try Self.shredded()
        let other = try Scratch()
        #expect(failureClass { _ = try DeletionCertificate.verify(outcome.certificate, publicKey: other.store.signingKey().publicKey) } == "tampered")
        #expect(failureClass { _ = try DeletionCertificate.verify(outcome.certificate, publicKey: SigningKeyPair.generate().publicKey) } == "tampered")

        // A forger edits the certificate and signs it with their own key, naming it as issuer.
        let forger = SigningKeyPair.generate()
        guard case .object(let members) = try CanonicalJSON.parse(outcome.certificate) else { Issue.record("not an object"); return }
        let forged = members.filter { $0.0 != "signature" }.map { m -> (String, JSONValue) in
            switch m.0 {
            case "issuer": return ("issuer", .object([("storeId", .string(s.store.storeId)), ("jurisdiction", .string("JP")),
                                                      ("signingKeyId", .string(Store.keyId(forger.publicKey))), ("publicKey", .string(forger.publicKey.hex))]))
            case "issuedAt": return ("issuedAt", .string("2020-01-01T00:00:00.000Z"))
            default: return m
            }
        }
        let bytes = DeletionCertificate.sign(forged, key: forger)
        #expect(try DeletionCertificate.verify(bytes, publicKey: nil).checkedAgainstGivenKey == false)
        #expect(failureClass { _ = try DeletionCertificate.verify(bytes, publicKey: s.store.signingKey().publicKey) } == "tampered")
        // A signing key id that does not match the embedded key is refused even when the signature holds.
        let mismatched = forged.map { m -> (String, JSONValue) in
            guard m.0 == "issuer", case .object(let issuer) = m.1 else { return m }
            return ("issuer", .object(issuer.map { $0.0 == "signingKeyId" ? ("signingKeyId", .string("0011223344556677")) : $0 }))
        }
        #expect(failureClass { _ = try DeletionCertificate.verify(DeletionCertificate.sign(mismatched, key: forger), publicKey: nil) } == "tampered")
    }
}
