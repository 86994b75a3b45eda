package import Foundation
import MikataCrypto
import MikataFormat

/// Backups (docs/OPERATIONS.md, "Backup and restore"): one file holding a consistent copy of every vault (each
/// copied under its shared lock, so writers only wait for that one copy), with every secret of the key store
/// sealed to the operator's offline backup key, the whole signed by the store key.
///
///     "MKTBAKUP" || u16 version 1 || u32 header length || canonical JSON header
///     entries: u8 kind (1 plain, 2 sealed to the backup key) || u16 path length || path || u64 length || bytes
///     trailer: u8 0 || BLAKE2b-256(all preceding bytes) || Ed25519 signature over label || that hash
///              || BLAKE2b-128 of everything before it (accidental damage)
package enum Backup {
    static let magic: [UInt8] = Array("MKTBAKUP")
    static let label: StaticString = "mikata/v1/backup\0"
    static let version: UInt16 = 1
    static let maxEntryBytes = 1 << 30

    /// How long a backup must stay restorable (docs/OPERATIONS.md): a key is used for new backups only while it
    /// stays valid at least this long, and a new key must be valid for longer.
    package static var retention: TimeInterval { Double(DeletionCertificate.backupRetentionDays) * 86400 }

    /// Creates the backup key of the next period. The secret half goes to `secretKeyOut` (keep it offline) with the
    /// store's public signing key, which pins every backup sealed to it, and its expiry `validUntil` (default: two
    /// retention periods from now; at least one). The public half replaces `keys/backup.pub`; the previous one is
    /// kept under `keys/backup-retired/` for the certificates' residual-copy date.
    /// - Throws: `VaultError.invalidInput` (expiry too soon), `.alreadyExists` (`secretKeyOut` exists), `.io`.
    package static func createKey(store: Store, secretKeyOut: String, validUntil: Date? = nil, now: Date = Date()) throws -> String {
        let until = validUntil ?? now.addingTimeInterval(2 * retention)
        guard until.timeIntervalSince(now) > retention else {
            throw VaultError.invalidInput("a backup key must stay valid for longer than the \(DeletionCertificate.backupRetentionDays)-day backup retention")
        }
        let signing = try store.signingKey()
        let pair = BoxKeyPair.generate()
        var secret = pair.secretKey.unsafeCopyToArray()
        defer { Sodium.wipe(&secret) }
        var file = BackupKey.serialize(secret: secret, storeId: store.storeId, storePublicKey: signing.publicKey, validUntil: until)
        defer { Sodium.wipe(&file) }
        try Posix.writeOutside(secretKeyOut, file)  // --out: O_EXCL|O_NOFOLLOW, no sweep of the operator's folder
        if let previous = try BackupPublicKey.current(store) {
            try Posix.makeDirectories("\(store.root)/keys/backup-retired")
            try Posix.writeAtomically("\(store.root)/keys/backup-retired/\(Store.keyId(previous.key)).pub", previous.serialize())
        }
        try Posix.writeAtomically("\(store.root)/keys/backup.pub", BackupPublicKey(key: pair.publicKey, validUntil: until).serialize())
        try store.log("backup-key-create", vaultId: nil, actor: "operator", role: "operator",
                      detail: "key \(Store.keyId(pair.publicKey)) valid until \(BackupKey.iso(until))")
        return Store.keyId(pair.publicKey)
    }

    /// The key new backups are sealed to, while it stays valid for a whole retention period.
    static func currentKey(store: Store, now: Date) throws -> BackupPublicKey {
        guard let key = try BackupPublicKey.current(store) else {
            throw VaultError.notFound("the store has no backup key: run 'mikata backup key create --out FILE' and keep FILE offline")
        }
        if let until = key.validUntil, until.timeIntervalSince(now) < retention {
            throw VaultError.notFound("the backup key \(Store.keyId(key.key)) expires at \(BackupKey.iso(until)), within the \(DeletionCertificate.backupRetentionDays)-day retention: create the next period's key with 'mikata backup key create --out FILE'")
        }
        return key
    }

    /// Reads a secret backup key file (see `BackupKey`).
    package static func readSecretKey(path: String) throws -> BackupKey { try BackupKey.read(path: path) }

    private static func isSecret(_ relative: String) -> Bool {
        relative == "keys/lookup.key" || relative == "keys/store-signing.key" || (relative.hasPrefix("keys/vaults/") && relative.hasSuffix(".key"))
    }

    package struct Summary: Sendable {
        package var vaults: Int
        package var files: Int
        package var bytes: Int
        package var createdAt: String
        package var storeId: String
        package var backupKeyId: String
        package var skippedShredded: Int = 0
        /// When the backup key it is sealed to expires (nil: a key made before key periods).
        package var expiresAt: String?
        /// Parties a restore holds out of vaults because their revocation came after the backup.
        package var revocationsHeld: Int = 0
    }

    /// Writes a backup of `store` to `out` (a new file, 0600).
    /// - Throws: `VaultError.notFound` (no backup key valid for a retention period), `.tampered` (the signed
    ///   tombstone list fails its signature or lacks what the access log records), `.alreadyExists`, `.io`.
    package static func create(store: Store, out: String, now: Date = Date()) throws -> Summary {
        let current = try currentKey(store: store, now: now)
        let backupKey = current.key
        let signing = try store.signingKey()
        // Checked before anything is written: a backup carries the list forward, so it must not carry a shortened one.
        let tombstones = try store.tombstoneList()
        // A signed backup vouches for what it carries, and a restore anchors it anew under another root key: so the
        // store is checked first (the log and every vault against it), and never backed up as it is when tampered.
        // The log is read once: the bytes checked are the bytes carried (a log swapped after the check and read again
        // would be re-MAC'd by the restore, laundered).
        let logBytes = try Posix.readFile(store.auditLogPath) ?? []
        let checkedLines = try AuditLog.lines(of: logBytes)
        _ = try store.verifyAccessLog(lines: checkedLines)
        try RaceWindow.reach(RaceWindow.backupAfterCheck, root: store.root)
        let createdAt = AuditLog.isoNow()
        var body: [UInt8] = []
        var files = 0, vaults = 0
        func add(_ relative: String, _ bytes: [UInt8]) throws {
            var data = bytes
            var kind: UInt8 = 1
            if isSecret(relative) {
                kind = 2
                data = try SealedBox.seal(SecureBytes(wiping: &data), to: backupKey)
            }
            var w = ByteWriter()
            w.writeU8(kind); w.writeVariable16(Array(relative.utf8)); w.writeU64(UInt64(data.count)); w.write(data)
            body += w.bytes
            files += 1
        }
        // The access log first: every append it records is then in the vault copies taken after it, so a restored
        // store passes the log-against-vault checks (a vault may hold a few newer records than its log shows).
        var seen = Set<String>()
        let logRelative = String(store.auditLogPath.dropFirst(store.root.count + 1))
        try add(logRelative, logBytes)
        seen.insert(logRelative)
        for name in Posix.list("\(store.root)/audit") where !name.hasPrefix(Posix.temporaryPrefix) && !seen.contains("audit/\(name)") {
            guard let bytes = try Posix.readFile("\(store.root)/audit/\(name)") else { continue }
            try add("audit/\(name)", bytes)
            seen.insert("audit/\(name)")
        }
        // The store's signing seed, unsealed from the root key and sealed to the backup key instead: a restore
        // seals it under its own root key.
        var seedFile = StoreSecretFile(.signingSeed, secret: signing.seed).serialize()
        defer { Sodium.wipe(&seedFile) }  // `add` seals a copy: the serialised seed is wiped here
        try add("keys/store-signing.key", seedFile)
        seen.insert("keys/store-signing.key")
        // Vaults next, each with its anchor and erasure secret, under the vault's shared lock.
        // Shreds the list, the log or an authentic intent records (those under way included): their vaults are not
        // copied. A plain tombstone file alone does not hide a vault from the backup.
        // From the log as checked, not read again (a shred line added after the check would drop a live vault).
        let shredded = store.confirmedShredded(entries: AuditLog.entries(of: checkedLines), list: try store.signedTombstoneList())
        for shard in Posix.list("\(store.root)/vaults") {
            for name in Posix.list("\(store.root)/vaults/\(shard)") where name.hasSuffix(".vault") {
                guard let id = [UInt8](hex: String(name.dropLast(6))), id.count == 16, !shredded.contains(id.hex) else { continue }
                let file: PosixFile
                do { file = try PosixFile.open(store.vaultPath(id), readOnly: true) } catch VaultError.notFound { continue }
                try file.lock(exclusive: false, timeout: store.lockTimeout)
                defer { file.unlock() }
                guard var secret = try Posix.readFile(store.erasureSecretPath(id)), let gen = try Posix.readFile(store.generationPath(id)) else { continue }
                defer { Sodium.wipe(&secret) }  // `add` seals a copy: this array is the caller's to wipe
                let rel = { (p: String) in String(p.dropFirst(store.root.count + 1)) }
                // The copy as taken, under its lock, checked against the anchor from its own bytes: a restore anchors
                // the header it carries anew, so a file swapped between a check and a second read (a disk writer does
                // not take the lock) would launder a rolled-back vault.
                let vaultBytes = try file.readAll()
                try store.anchor(id).check(try Vault.loadHeader(medium: try MemoryVaultSlot(name: "backup copy", bytes: vaultBytes).open()).state)
                try RaceWindow.reach(RaceWindow.backupVaultChecked, root: store.root, subject: id.hex)
                try add(rel(store.vaultPath(id)), vaultBytes)
                try add(rel(store.generationPath(id)), gen)
                try add(rel(store.erasureSecretPath(id)), secret)
                seen.insert(rel(store.vaultPath(id))); seen.insert(rel(store.generationPath(id))); seen.insert(rel(store.erasureSecretPath(id)))
                vaults += 1
            }
        }
        // Then everything else a store holds (accounts, lookups, links, tombstones, certificates, keys).
        // A restore MACs identity entries and the service registry anew under its own root key, pinning the keys of
        // the accounts carried beside them: so what is carried of them must be the store's own, checked as read, not
        // before (an entry or account swapped after `verifyAccessLog` would be laundered). Entries and accounts are
        // checked together once all are read, since either may come first.
        var identityFiles: [(relative: String, name: [UInt8], bytes: [UInt8])] = []
        var accounts: [String: [UInt8]] = [:]
        for path in store.allFiles() {
            let relative = String(path.dropFirst(store.root.count + 1))
            let name = (relative as NSString).lastPathComponent
            if seen.contains(relative) || name.hasPrefix(Posix.temporaryPrefix) || relative.hasPrefix("vaults/") || relative.hasPrefix("keys/vaults/") || relative.hasPrefix("shred/") { continue }
            guard var bytes = try Posix.readFile(path) else { continue }
            defer { if isSecret(relative) { Sodium.wipe(&bytes) } }  // the lookup key: wiped once sealed
            if relative == ServiceRegistry.relativePath { _ = try ServiceRegistry.parse(bytes, storeId: store.storeId, rootKey: store.rootKey) }
            if relative.hasPrefix("index/"), let entryName = [UInt8](hex: name), entryName.count == 32 {
                identityFiles.append((relative, entryName, bytes))
                continue
            }
            if relative.hasPrefix("supporters/") { accounts[relative] = bytes }
            try add(relative, bytes)
        }
        for file in identityFiles {
            let entry = try store.authenticIdentityEntry(name: file.name, bytes: file.bytes)
            if entry.kind == .supporter {
                let accountPath = String(store.supporterPath(entry.id).dropFirst(store.root.count + 1))
                guard let account = accounts[accountPath] else {
                    throw VaultError.notFound("the supporter's account is missing from the store")
                }
                _ = try Store.account(account, pinnedBy: entry)
            }
            try add(file.relative, file.bytes)
        }
        let header = CanonicalJSON.serialize(.object([
            ("type", .string("mikata-backup")), ("version", .number(1)), ("storeId", .string(store.storeId)),
            ("jurisdiction", .string(store.jurisdiction)),
            ("createdAt", .string(createdAt)), ("vaults", .number(Double(vaults))), ("files", .number(Double(files))),
            ("backupKeyId", .string(Store.keyId(backupKey))), ("signingPublicKey", .string(signing.publicKey.hex)),
            ("tombstones", .array(shredded.union(tombstones.vaults).sorted().map { .string($0) })),
            ("supporterTombstones", .array(tombstones.supporters.sorted().map { .string($0) })),
            ("revocations", .array(tombstones.revocations.sorted { ($0.vault, $0.id, $0.generation) < ($1.vault, $1.id, $1.generation) }.map {
                .object([("vaultId", .string($0.vault)), ("id", .string($0.id)), ("generation", .number(Double($0.generation)))])
            })),
            ("backupKeyExpiresAt", current.validUntil.map { .string(BackupKey.iso($0)) } ?? .null),
        ]))
        var w = ByteWriter()
        w.write(magic); w.writeU16(version); w.writeU32(UInt32(header.count)); w.write(header)
        var all = w.bytes + body
        all.append(0)
        let hash = Blake2b.hash(all)
        var m = ByteWriter(); m.write(label); m.write(hash)
        all += hash + signing.sign(m.bytes)
        // A last checksum over everything, the signature included: a flipped bit anywhere is damage (corrupted);
        // only a deliberate rewrite gets past it to the signature check (tampered).
        all += Blake2b.hash(all, outputLength: 16)
        try Posix.writeOutside(out, all)
        do {
            try store.log("backup-create", vaultId: nil, actor: "operator", role: "operator", detail: "\(vaults) vaults, \(files) files")
        } catch {
            try? Posix.remove(out)  // no backup the log does not know of
            throw error
        }
        return Summary(vaults: vaults, files: files, bytes: all.count, createdAt: createdAt, storeId: store.storeId, backupKeyId: Store.keyId(backupKey),
                       expiresAt: current.validUntil.map(BackupKey.iso))
    }

    struct Parsed {
        var header: JSONValue
        var entries: [(kind: UInt8, path: String, data: [UInt8])]
    }

    /// Checks structure, hash and signature. `publicKey` (the pinned store key) must be the signer: a backup
    /// re-signed with another key (the forger's own, named in its header) is tampered. Nil checks the signature with
    /// the key the header names, which proves nothing about who signed: for the fuzzers only, never for a decision.
    static func parse(_ bytes: [UInt8], publicKey: [UInt8]?) throws -> Parsed {
        guard bytes.count > 8 + 2 + 4 + 1 + 32 + 64 + 16, Array(bytes[0..<8]) == magic else { throw VaultError.corrupted("not a MikataVault backup file") }
        guard Blake2b.hash(Array(bytes[0..<(bytes.count - 16)]), outputLength: 16) == Array(bytes[(bytes.count - 16)...]) else {
            throw VaultError.corrupted("the backup file is damaged or truncated (checksum mismatch)")
        }
        let payloadEnd = bytes.count - 112
        let hash = Array(bytes[payloadEnd..<(payloadEnd + 32)])
        let sig = Array(bytes[(payloadEnd + 32)..<(payloadEnd + 96)])
        guard Blake2b.hash(Array(bytes[0..<payloadEnd])) == hash else { throw VaultError.tampered("the backup's content does not match its signed hash") }
        var r = ByteReader(bytes, range: 8..<payloadEnd, context: "backup")
        let parsed = try VaultError.parsing("backup") {
            let v = try r.readU16()
            guard v == version else { throw FormatError.unsupportedVersion(v) }
            let headerLength = Int(try r.readU32())
            guard headerLength <= 64 << 20 else { throw FormatError.limitExceeded("backup header too long") }
            let header = try CanonicalJSON.parse(try r.read(headerLength))
            var entries: [(UInt8, String, [UInt8])] = []
            while true {
                let kind = try r.readU8()
                if kind == 0 { break }
                guard kind == 1 || kind == 2 else { throw FormatError.unsupportedType("backup entry kind \(kind)") }
                let pathBytes = try r.readVariable16(max: 1024)
                let n = try r.readU64()
                guard n <= UInt64(maxEntryBytes) else { throw FormatError.limitExceeded("backup entry too large") }
                let data = try r.read(Int(n))
                guard let path = String(validating: pathBytes, as: UTF8.self), !path.hasPrefix("/"), !path.split(separator: "/").contains(".."), !path.isEmpty
                else { throw FormatError.invalidField("backup entry with an unsafe path") }
                entries.append((kind, path, data))
            }
            try r.expectEnd()
            return Parsed(header: header, entries: entries.map { (kind: $0.0, path: $0.1, data: $0.2) })
        }
        // A consistent checksum but a wrong signature means someone rewrote the file: tampered, not damaged.
        guard case .string(let signerHex)? = parsed.header["signingPublicKey"], let signer = [UInt8](hex: signerHex), signer.count == 32 else {
            throw VaultError.tampered("the backup names no signing key")
        }
        if let publicKey, publicKey != signer {
            throw VaultError.tampered("the backup is not signed by the pinned store key (key \(Store.keyId(publicKey))) but by key \(Store.keyId(signer)): it was re-signed or is another store's")
        }
        var m = ByteWriter(); m.write(label); m.write(hash)
        guard Ed25519.verify(signature: sig, message: m.bytes, publicKey: signer) else { throw VaultError.tampered("the backup's signature does not verify") }
        return parsed
    }

    /// The store key a backup must be signed with: `publicKey` if given, else the one the backup key file records.
    /// - Throws: `VaultError.invalidInput` when neither names one (a key file made before pinning).
    static func pin(_ publicKey: [UInt8]?, _ backupKey: BackupKey?) throws -> [UInt8] {
        if let publicKey { return publicKey }
        if let k = backupKey?.storePublicKey { return k }
        throw VaultError.invalidInput(backupKey == nil
            ? "a backup is checked against the store's public key: give the backup key file (which records it) or --public-key"
            : "this backup key file was made before backups were pinned and records no store key: give --public-key (what 'mikata store public-key' prints)")
    }

    /// Refuses a backup past its key's expiry, and a key (file) past its own, which it then destroys.
    static func checkNotExpired(_ parsed: Parsed, _ backupKey: BackupKey?, now: Date) throws {
        try backupKey?.checkNotExpired(now: now)
        if case .string(let s)? = parsed.header["backupKeyExpiresAt"], let until = AuditLog.parseTime(s), now >= until {
            throw VaultError.erased("the backup expired at \(s) (its backup key's period ended): it can no longer be restored")
        }
        if let backupKey, case .string(let id)? = parsed.header["backupKeyId"], id != backupKey.keyId {
            throw VaultError.authenticationFailed("the backup is sealed to backup key \(id), not to the given key \(backupKey.keyId)")
        }
    }

    /// Verifies a backup offline against the pinned store key (`publicKey`, else the key file's); with the backup
    /// key, also that it has not expired and that every sealed secret opens.
    /// - Throws: `.invalidInput` (nothing to pin to), `.corrupted` (damage), `.tampered` (edited or re-signed),
    ///   `.erased` (expired), `.authenticationFailed` (another backup key), `.notFound`.
    package static func verify(path: String, backupKey: BackupKey?, publicKey: [UInt8]? = nil, now: Date = Date()) throws -> Summary {
        let pinned = try pin(publicKey, backupKey)
        guard let bytes = try Posix.readOutsideFile(path) else { throw VaultError.notFound("cannot read the backup file") }
        let parsed = try parse(bytes, publicKey: pinned)
        try checkNotExpired(parsed, backupKey, now: now)
        if let backupKey {
            for e in parsed.entries where e.kind == 2 {
                do { _ = try SealedBox.open(e.data, keyPair: backupKey.keyPair) } catch { throw VaultError.authenticationFailed("a secret in the backup does not open with this backup key") }
            }
        }
        return summary(parsed, bytes: bytes.count)
    }

    static func summary(_ p: Parsed, bytes: Int) -> Summary {
        Summary(vaults: p.entries.filter { $0.path.hasSuffix(".vault") }.count, files: p.entries.count, bytes: bytes,
                createdAt: p.header["createdAt"]?.stringValue ?? "", storeId: p.header["storeId"]?.stringValue ?? "",
                backupKeyId: p.header["backupKeyId"]?.stringValue ?? "", expiresAt: p.header["backupKeyExpiresAt"]?.stringValue)
    }

    /// The kind and id of an identity entry, or of a lookup entry in a backup made before root keys.
    static func identity(_ data: [UInt8]) -> (LookupEntry.Kind, [UInt8])? {
        if let e = try? IdentityEntry.parse(data) { return (e.kind, e.id) }
        if let e = try? LookupEntry.parse(data) { return (e.kind, e.id) }
        return nil
    }

    /// Where a restore learns what happened after the backup was taken (docs/OPERATIONS.md, "Runbook: restore").
    package enum TombstoneSource: Sendable, Equatable {
        /// Folders (the live store, a copy of its `tombstones/` folder) or copies of its signed tombstone list.
        case from([String])
        /// The operator declares that no tombstone source exists; the restored store's access log records it.
        case noneExists
    }

    /// What one tombstone source says: a signed list file, or a folder (a store, or a copy of its `tombstones/`)
    /// with plain tombstone files, its signed list and, for a store, its access log (which also supplies revocations
    /// made before signed lists existed). A store's signed list older than its own log is refused.
    ///
    /// A source must show it is this store's record (docs/OPERATIONS.md, "Runbook: restore"): a signed list that
    /// verifies under the pinned key and names the store (even an empty one), or a store folder whose description
    /// names the same store and which holds its access log (every store's starts at `store-init`), or a copy of a
    /// `tombstones/` folder with at least one tombstone (a file named by 32 lower-case hex digits). A source that
    /// yields nothing at all (an empty mount point, a folder of renamed list copies, a store that lost its
    /// description, or its log and tombstones, a restore that did not finish) would restore as if nothing had been
    /// shredded since the backup: refused; so is a signed list older (`counter`) than `floor`, the one the backup
    /// itself carries.
    /// - Throws: `.invalidInput` (another store's source, a source with no record in it), `.notFound` (neither a
    ///   folder nor a file), `.tampered` (a signed list that fails its signature, or older than its store's log).
    static func readTombstoneSource(_ source: String, storeId: String, publicKey: [UInt8], notOlderThan floor: UInt64 = 0) throws -> TombstoneList {
        func signed(_ path: String) throws -> TombstoneList? {
            guard let bytes = try Posix.readFile(path) else { return nil }
            let list = try TombstoneList.parse(bytes, publicKey: publicKey)
            guard list.storeId == storeId else { throw VaultError.invalidInput("the tombstone source \(source) belongs to another store") }
            // Older than the list the backup carries: a stale copy, which says nothing of what happened since.
            guard list.counter >= floor else {
                throw VaultError.invalidInput("the tombstone source \(source) holds a signed tombstone list older than the one in the backup (counter \(list.counter) < \(floor)): give the live store or a newer copy")
            }
            return list
        }
        func isId(_ name: String) -> Bool { name.utf8.count == 32 && name.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) } }
        if Posix.exists(source), !Posix.isDirectory(source) {
            guard let list = try signed(source) else { throw VaultError.notFound("cannot read the tombstone source \(source)") }
            return list
        }
        let isStore = Posix.exists("\(source)/\(Store.metadataFile)")
        // A restore that stopped part-way is no record of anything (it may lack the very tombstones sought).
        if Posix.exists("\(source)/\(Store.restoreMarkerFile)") {
            throw VaultError.invalidInput("the tombstone source \(source) is a restore that did not finish")
        }
        if isStore {
            // A store's own description names it: another store's folder would yield none of this store's events.
            let meta = try Store.readMetadata(source)
            guard meta.storeId == storeId else { throw VaultError.invalidInput("the tombstone source \(source) is another store (store id \(meta.storeId), the backup's is \(storeId))") }
        }
        let dir = isStore || Posix.isDirectory("\(source)/tombstones") ? "\(source)/tombstones" : source
        guard isStore || Posix.isDirectory(dir) else { throw VaultError.notFound("tombstone source \(source) is not a folder or a tombstone list") }
        var list = TombstoneList(storeId: storeId)
        let signedList = try signed("\(dir)/signed-list.json")
        var evidence = signedList != nil
        if let signedList {
            // The signed list is the record; plain files beside it are hints anyone who can write there could plant
            // (a restore would sign them into its own list and drop those vaults for good).
            list.merge(signedList)
        } else {
            for name in Posix.list(dir) where isId(name) { list.vaults.insert(name) }
            for name in Posix.list("\(dir)/supporters") where isId(name) { list.supporters.insert(name) }
            evidence = !list.vaults.isEmpty || !list.supporters.isEmpty
        }
        let log = "\(source)/audit/log.jsonl"
        if isStore, Posix.exists(log) {
            let entries = try TombstoneList.logEntries(atPath: log)
            evidence = evidence || !entries.isEmpty  // an emptied log is no record
            let events = TombstoneList.events(in: entries, storeId: storeId)
            if let signedList, let missing = signedList.contains(events) {
                throw VaultError.tampered("the tombstone source's signed list lacks \(missing), which its access log records: it was rolled back or replaced")
            }
            if signedList == nil, entries.contains(where: { $0.action == "tombstone-list" }) {
                throw VaultError.tampered("the tombstone source's signed list is missing but its access log records it: it was deleted")
            }
            list.merge(events)
        }
        guard evidence else {
            throw VaultError.invalidInput("the tombstone source \(source) holds no signed tombstone list (signed-list.json), no tombstone and no access log of this store: it would restore as if nothing had been shredded since the backup. Give the live store, its signed list, or a copy of its tombstones folder (or --no-tombstone-source if none exists)")
        }
        return list
    }

    /// The jurisdiction of the store a backup was taken from: its header's `jurisdiction`, else the one its copy of
    /// `mikata-store.json` declares, else `JP` (backups of stores that predate settable jurisdictions). Both are
    /// under the backup's signature.
    static func jurisdiction(of parsed: Parsed) throws -> String {
        if case .string(let j)? = parsed.header["jurisdiction"] { return try Jurisdiction.check(j) }
        if let meta = parsed.entries.first(where: { $0.path == Store.metadataFile }),
           let j = (try? JSONSerialization.jsonObject(with: Data(meta.data)) as? [String: Any])?["jurisdiction"] as? String {
            return try Jurisdiction.check(j)
        }
        return Store.defaultJurisdiction
    }

    /// Restores into a new, empty directory.
    ///
    /// Needs a tombstone source (`.from`, at least one) or the explicit `.noneExists`: without one an old backup
    /// would silently bring back patients shredded since. Vaults tombstoned in the backup, in the sources or in the
    /// target are skipped, with their keys and lookups. Revocations the sources (and the backup) record that a vault's
    /// backed-up header predates are held: the party is refused in the restored store and re-keyed away at the
    /// patient's next write. The backup must be signed by the pinned store key (`publicKey`, else the key file's),
    /// and so must every signed tombstone list given.
    ///
    /// The restored store declares `jurisdiction` (nil: `JP`, as `init`). A backup of a store of another
    /// jurisdiction is refused (`.notPermitted`, before anything is written) unless `allowJurisdictionChange`; a
    /// change allowed is recorded in the restored store's access log (`jurisdiction-change`).
    /// - Throws: `.notPermitted` (another jurisdiction, not allowed), `.invalidInput` (no tombstone source, nothing to
    ///   pin to, a jurisdiction that is not an ISO 3166-1 alpha-2 code), `.tampered` (re-signed backup, a list
    ///   that fails its signature or is older than its store's log), `.erased` (expired), `.authenticationFailed`
    ///   (another backup key), `.alreadyExists` (target not empty), `.notFound`, `.corrupted`.
    package static func restore(path: String, into target: String, backupKey: BackupKey, tombstones: TombstoneSource,
                                publicKey: [UInt8]? = nil, rootKey source: RootKeySource = .fromEnvironment(), now: Date = Date(),
                                jurisdiction requested: String? = nil, allowJurisdictionChange: Bool = false) throws -> Summary {
        let targetJurisdiction = try requested.map(Jurisdiction.check) ?? Store.defaultJurisdiction
        let sources: [String]
        switch tombstones {
        case .from(let paths):
            guard !paths.isEmpty else {
                throw VaultError.invalidInput("a restore needs a tombstone source, or an old backup could bring back shredded patients and revoked supporters: give --tombstones-from (the live store, or a copy of its tombstones folder or signed list), or --no-tombstone-source if none exists (it is logged)")
            }
            sources = paths
        case .noneExists: sources = []
        }
        let pinned = try pin(publicKey, backupKey)
        guard let bytes = try Posix.readOutsideFile(path) else { throw VaultError.notFound("cannot read the backup file") }
        let parsed = try parse(bytes, publicKey: pinned)
        try checkNotExpired(parsed, backupKey, now: now)
        let backupJurisdiction = try jurisdiction(of: parsed)
        if backupJurisdiction != targetJurisdiction && !allowJurisdictionChange {
            throw VaultError.notPermitted("the backup is of a store in jurisdiction \(backupJurisdiction) and the restored store would declare \(targetJurisdiction): a restore across jurisdictions must be allowed explicitly; nothing was written")
        }
        if Posix.isDirectory(target), !Posix.list(target, followLinks: true).isEmpty { throw VaultError.alreadyExists("restore needs a new or empty directory") }
        guard case .string(let storeId)? = parsed.header["storeId"], Store.isStoreId(storeId) else {
            throw VaultError.corrupted("the backup names no store id")
        }
        // What the backup itself carries always applies; then every source adds to it (never takes away).
        var known = TombstoneList(storeId: storeId)
        if case .array(let t)? = parsed.header["tombstones"] { for case .string(let id) in t { known.vaults.insert(id) } }
        if case .array(let t)? = parsed.header["supporterTombstones"] { for case .string(let id) in t { known.supporters.insert(id) } }
        if case .array(let t)? = parsed.header["revocations"] {
            for r in t {
                if case .string(let v)? = r["vaultId"], case .string(let id)? = r["id"], case .number(let g)? = r["generation"], g >= 0 {
                    known.revocations.insert(.init(vault: v, id: id, generation: UInt64(g)))
                }
            }
        }
        var carried: UInt64 = 0
        if let e = parsed.entries.first(where: { $0.path == TombstoneList.relativePath }) {
            let list = try TombstoneList.parse(e.data, publicKey: pinned)
            carried = list.counter
            known.merge(list)
        }
        for source in sources { known.merge(try readTombstoneSource(source, storeId: storeId, publicKey: pinned, notOlderThan: carried)) }
        let shredded = known.vaults
        let deletedSupporters = known.supporters
        // Open every sealed secret before writing anything: a wrong backup key leaves the target untouched.
        var opened: [Int: SecureBytes] = [:]
        for (i, e) in parsed.entries.enumerated() where e.kind == 2 {
            do { opened[i] = try SealedBox.open(e.data, keyPair: backupKey.keyPair) }
            catch { throw VaultError.authenticationFailed("a secret in the backup does not open with this backup key") }
        }
        // Lookup and link entries that point at a shredded vault are skipped too.
        func pointsAtShredded(_ e: (kind: UInt8, path: String, data: [UInt8])) -> Bool {
            let parts = e.path.split(separator: "/").map(String.init)
            if e.path.hasPrefix("vaults/") || e.path.hasPrefix("keys/vaults/") {
                let id = parts.last.map { String($0.prefix(32)) } ?? ""
                return shredded.contains(id)
            }
            if e.path.hasPrefix("links/"), parts.count == 3 { return shredded.contains(parts[2]) || deletedSupporters.contains(parts[1]) }
            if e.path.hasPrefix("supporters/"), let last = parts.last { return deletedSupporters.contains(String(last.prefix(32))) }
            if e.path.hasPrefix("index/"), let (kind, id) = identity(e.data) {
                return kind == .patient ? shredded.contains(id.hex) : deletedSupporters.contains(id.hex)
            }
            return false
        }
        // The restored store's trust anchors are made anew under the target's root key (the same store's key where
        // it survived, else a new one), trusting the backup because its signature was checked above.
        try source.checkOutside(store: target, storeId: storeId)  // as `init` does: never a key inside the restored store
        let rootKey = try source.loadOrCreate(storeId: storeId)
        let accounts = Dictionary(parsed.entries.filter { $0.path.hasPrefix("supporters/") }.map { ($0.path, $0.data) }, uniquingKeysWith: { a, _ in a })
        func reanchor(_ path: String, _ data: [UInt8]) throws -> [UInt8] {
            let parts = path.split(separator: "/").map(String.init)
            if path.hasPrefix("index/"), parts.count == 3, let name = [UInt8](hex: parts[2]), name.count == 32, let (kind, id) = identity(data) {
                var digest = [UInt8](repeating: 0, count: 32)
                if kind == .supporter {
                    guard let a = accounts["supporters/\(String(id.hex.prefix(2)))/\(id.hex).account"],
                          let account = try? SupporterAccountFile.parse(a) else { return data }
                    digest = IdentityEntry.supporterKeysDigest(id: id, boxPublicKey: account.boxPublicKey, signPublicKey: account.signPublicKey)
                }
                return rootKey.sign(IdentityEntry(kind: kind, id: id, keysDigest: digest), name: name).serialize()
            }
            if path.hasPrefix("keys/vaults/"), path.hasSuffix(".gen"), let id = [UInt8](hex: String(parts.last!.dropLast(4))), id.count == 16 {
                // The anchor of the vault's header as backed up (the vault file is restored before it).
                let vaultFile = "\(target)/vaults/\(parts[2])/\(id.hex).vault"
                guard Posix.exists(vaultFile) else { return data }
                let header = try Vault.loadHeader(file: try PosixFile.open(vaultFile, readOnly: true))
                return VaultAnchor(path: "", vaultId: id, rootKey: rootKey).serialize(header.state)
            }
            if path == "audit/log.jsonl" { return try AuditLog.remac(data, macKey: rootKey.logKey) }
            if path == ServiceRegistry.relativePath { return try ServiceRegistry.reanchor(data, storeId: storeId, rootKey: rootKey) }
            if path == "keys/store-signing.key" {
                let plain = try VaultError.parsing("store signing key") { try StoreSecretFile.parse(data, as: .signingSeed) }
                return try rootKey.seal(plain.secret, storeId: storeId, kind: .signingSeed, jurisdiction: targetJurisdiction).serialize()
            }
            if path == Store.metadataFile {
                let createdAt = (try? JSONSerialization.jsonObject(with: Data(data)) as? [String: Any])?["createdAt"] as? String
                var meta: [String: Any] = ["format": "mikata-store", "version": Store.storeVersion, "storeId": storeId,
                                           "jurisdiction": targetJurisdiction, "rootKeyId": rootKey.keyId]
                if let createdAt { meta["createdAt"] = createdAt }
                return Array(try JSONSerialization.data(withJSONObject: meta, options: [.sortedKeys, .prettyPrinted])) + [10]
            }
            return data
        }
        var skipped = Set<String>()
        try StoreLayout.prepare(root: target)
        // First, so that a restore stopped anywhere below leaves a folder that never opens as a store.
        try Posix.writeNew("\(target)/\(Store.restoreMarkerFile)", Array("a restore is writing this store\n".utf8))
        // Vault files before their anchors (an anchor is made from its vault's header); the description last.
        let order = parsed.entries.indices.sorted { a, b in
            func rank(_ p: String) -> Int { p.hasSuffix(".vault") ? 0 : p == Store.metadataFile ? 2 : 1 }
            return (rank(parsed.entries[a].path), a) < (rank(parsed.entries[b].path), b)
        }
        for i in order {
            let e = parsed.entries[i]
            if pointsAtShredded(e) {
                if e.path.hasSuffix(".vault") { skipped.insert(e.path) }
                continue
            }
            if e.path == TombstoneList.relativePath { continue }  // written anew below, merged with the sources
            var plain = e.data
            if e.kind == 2, let secret = opened[i] { plain = secret.unsafeCopyToArray() }
            defer { if e.kind == 2 { Sodium.wipe(&plain) } }  // also when `reanchor` returns other bytes (the signing seed, sealed anew)
            var data = try reanchor(e.path, plain)
            defer { if e.kind == 2 { Sodium.wipe(&data) } }
            let full = "\(target)/\(e.path)"
            try Posix.makeDirectories(Posix.parent(of: full))
            try Posix.writeNew(full, data)
        }
        // Tombstones known now go into the restored store as well, so later restores from it stay safe.
        try Posix.makeDirectories("\(target)/tombstones")
        for id in shredded where !Posix.exists("\(target)/tombstones/\(id)") {
            try Posix.writeNew("\(target)/tombstones/\(id)", CanonicalJSON.serialize(.object([("vaultId", .string(id)), ("source", .string("restore"))])))
        }
        if !deletedSupporters.isEmpty { try Posix.makeDirectories("\(target)/tombstones/supporters") }
        for id in deletedSupporters where !Posix.exists("\(target)/tombstones/supporters/\(id)") {
            try Posix.writeNew("\(target)/tombstones/supporters/\(id)", CanonicalJSON.serialize(.object([("supporterId", .string(id)), ("source", .string("restore"))])))
        }
        // Revocations a restored header predates: the party keeps its share in that header, so the store holds it
        // out until the patient's next write re-keys the vault without it.
        var holds: [TombstoneList.Hold] = []
        for e in parsed.entries where e.path.hasSuffix(".vault") && !pointsAtShredded(e) {
            guard let id = [UInt8](hex: String((e.path as NSString).lastPathComponent.dropLast(6))), id.count == 16 else { continue }
            let revoked = known.revocations.filter { $0.vault == id.hex }
            guard !revoked.isEmpty else { continue }
            let state = try Vault.loadHeader(file: try PosixFile.open("\(target)/\(e.path)", readOnly: true)).state
            for r in revoked.sorted(by: { $0.id < $1.id }) where state.generation < r.generation {
                guard let party = [UInt8](hex: r.id), state.activeAuthor(id: party) != nil else { continue }
                if !holds.contains(where: { $0.vault == r.vault && $0.id == r.id }) { holds.append(.init(vault: r.vault, id: r.id, through: state.generation)) }
            }
        }
        var s = summary(parsed, bytes: bytes.count)
        s.skippedShredded = skipped.count
        s.vaults -= skipped.count
        s.revocationsHeld = holds.count
        let restored = try Store.open(at: target, key: rootKey, location: source.location(storeId: storeId), restoring: true)
        // Each restored vault's tail, as the log's new baseline: the backup copied the log before the vaults, so a
        // vault may hold appends its copied log does not show.
        var baselines: [AuditLog.Event] = []
        for e in parsed.entries where e.path.hasSuffix(".vault") && !pointsAtShredded(e) {
            guard let id = [UInt8](hex: String((e.path as NSString).lastPathComponent.dropLast(6))), id.count == 16 else { continue }
            baselines.append(AuditLog.Event(vaultId: id, actor: "operator", role: "operator", action: "anchor-vault", outcome: "ok",
                                            detail: try restored.openVault(id: id).tailClaim()))
        }
        if !baselines.isEmpty { try restored.auditLog().append(contentsOf: baselines) }  // one durable write
        // The merged list, signed with the restored store's key (the backup's), so later restores from it stay safe.
        var list = known
        list.merge(TombstoneList.events(in: try restored.auditLog().entries(), storeId: storeId))
        list.holds.formUnion(holds)
        list.counter += 1
        list.updatedAt = AuditLog.isoNow()
        try Posix.writeNew(restored.tombstoneListPath, list.signed(with: try restored.signingKey()))
        try restored.log("tombstone-list", vaultId: nil, actor: "operator", role: "operator", detail: "signed tombstone list written by a restore")
        try restored.log("backup-restore", vaultId: nil, actor: "operator", role: "operator",
                         detail: "\(s.vaults) vaults restored, \(skipped.count) shredded vaults skipped, \(holds.count) revocations held, backup of \(s.createdAt), "
                            + (sources.isEmpty ? "no tombstone source (the operator declared none exists)" : "\(sources.count) tombstone sources"))
        if backupJurisdiction != targetJurisdiction {
            try restored.log("jurisdiction-change", vaultId: nil, actor: "operator", role: "operator",
                             detail: "restored a backup of jurisdiction \(backupJurisdiction) into a store of jurisdiction \(targetJurisdiction) (allowed explicitly)")
        }
        for h in holds {
            try restored.log("restore-hold", vaultId: [UInt8](hex: h.vault), actor: "operator", role: "operator", detail: "\(h.id) through \(h.through)")
        }
        // Complete: the store opens from here on (the removal is made durable before the restore reports success).
        try Posix.remove("\(target)/\(Store.restoreMarkerFile)")
        try Posix.syncDirectory(target)
        return s
    }
}
