import Foundation
package import MikataCrypto
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

    /// The backup key pair: the public half stays in the store (keys/backup.pub), the secret half is kept offline
    /// by the operator and is needed only to restore.
    package static func createKey(store: Store, secretKeyOut: String) throws -> String {
        let pair = BoxKeyPair.generate()
        var secret = pair.secretKey.unsafeCopyToArray()
        defer { Sodium.wipe(&secret) }
        try Posix.writeOutside(secretKeyOut, Array("mikata-backup-key-v1 ".utf8) + Array(secret.hex.utf8) + [10])
        try Posix.writeAtomically("\(store.root)/keys/backup.pub", Array(pair.publicKey.hex.utf8) + [10])
        try store.log("backup-key-create", vaultId: nil, actor: "operator", role: "operator", detail: "key \(Store.keyId(pair.publicKey))")
        return Store.keyId(pair.publicKey)
    }

    static func publicKey(store: Store) throws -> [UInt8] {
        guard let bytes = try Posix.readFile("\(store.root)/keys/backup.pub"),
              let key = [UInt8](hex: String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)), key.count == 32
        else { throw VaultError.notFound("the store has no backup key: run 'mikata backup key create --out FILE' and keep FILE offline") }
        return key
    }

    package static func readSecretKey(path: String) throws -> BoxKeyPair {
        // Read into guarded memory and hex-decoded there: no ordinary array or string ever holds the key.
        guard let file = try Posix.readSecretFile(path, maxCount: 4096) else { throw VaultError.notFound("cannot read the backup key file") }
        let prefix = Array("mikata-backup-key-v1 ".utf8)
        let notAKey = VaultError.invalidInput("that is not a MikataVault backup key file")
        let nibble = [UInt8].hexNibble
        let secret: SecureBytes = try file.withUnsafeBytes { raw in
            guard raw.count >= prefix.count + 64, raw.prefix(prefix.count).elementsEqual(prefix) else { throw notAKey }
            return try SecureBytes(count: 32) { out in
                for i in 0..<32 {
                    guard let hi = nibble(raw[prefix.count + 2 * i]), let lo = nibble(raw[prefix.count + 2 * i + 1]) else { throw notAKey }
                    out[i] = hi << 4 | lo
                }
            }
        }
        return try BoxKeyPair.fromSecretKey(secret)
    }

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
    }

    /// Writes a backup of `store` to `out` (a new file, 0600).
    package static func create(store: Store, out: String) throws -> Summary {
        let backupKey = try publicKey(store: store)
        let signing = try store.signingKey()
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
        for name in Posix.list("\(store.root)/audit") where !name.hasPrefix(Posix.temporaryPrefix) {
            guard let bytes = try Posix.readFile("\(store.root)/audit/\(name)") else { continue }
            try add("audit/\(name)", bytes)
            seen.insert("audit/\(name)")
        }
        // The store's signing seed, unsealed from the root key and sealed to the backup key instead: a restore
        // seals it under its own root key.
        try add("keys/store-signing.key", StoreSecretFile(.signingSeed, secret: signing.seed).serialize())
        seen.insert("keys/store-signing.key")
        // Vaults next, each with its anchor and erasure secret, under the vault's shared lock.
        let shredded = store.tombstones()  // includes shreds under way: their vaults are not copied
        for shard in Posix.list("\(store.root)/vaults") {
            for name in Posix.list("\(store.root)/vaults/\(shard)") where name.hasSuffix(".vault") {
                guard let id = [UInt8](hex: String(name.dropLast(6))), id.count == 16, !shredded.contains(id.hex) else { continue }
                let file: PosixFile
                do { file = try PosixFile.open(store.vaultPath(id), readOnly: true) } catch VaultError.notFound { continue }
                try file.lock(exclusive: false, timeout: store.lockTimeout)
                defer { file.unlock() }
                guard let secret = try Posix.readFile(store.erasureSecretPath(id)), let gen = try Posix.readFile(store.generationPath(id)) else { continue }
                let rel = { (p: String) in String(p.dropFirst(store.root.count + 1)) }
                try add(rel(store.vaultPath(id)), try file.readAll())
                try add(rel(store.generationPath(id)), gen)
                try add(rel(store.erasureSecretPath(id)), secret)
                seen.insert(rel(store.vaultPath(id))); seen.insert(rel(store.generationPath(id))); seen.insert(rel(store.erasureSecretPath(id)))
                vaults += 1
            }
        }
        // Then everything else a store holds (accounts, lookups, links, tombstones, certificates, keys, the log).
        for path in store.allFiles() {
            let relative = String(path.dropFirst(store.root.count + 1))
            let name = (relative as NSString).lastPathComponent
            if seen.contains(relative) || name.hasPrefix(Posix.temporaryPrefix) || relative.hasPrefix("vaults/") || relative.hasPrefix("keys/vaults/") || relative.hasPrefix("shred/") { continue }
            guard let bytes = try Posix.readFile(path) else { continue }
            try add(relative, bytes)
        }
        let header = CanonicalJSON.serialize(.object([
            ("type", .string("mikata-backup")), ("version", .number(1)), ("storeId", .string(store.storeId)),
            ("createdAt", .string(createdAt)), ("vaults", .number(Double(vaults))), ("files", .number(Double(files))),
            ("backupKeyId", .string(Store.keyId(backupKey))), ("signingPublicKey", .string(signing.publicKey.hex)),
            ("tombstones", .array(shredded.sorted().map { .string($0) })),
            ("supporterTombstones", .array(store.supporterTombstones().sorted().map { .string($0) })),
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
        return Summary(vaults: vaults, files: files, bytes: all.count, createdAt: createdAt, storeId: store.storeId, backupKeyId: Store.keyId(backupKey))
    }

    struct Parsed {
        var header: JSONValue
        var entries: [(kind: UInt8, path: String, data: [UInt8])]
    }

    /// Checks structure, hash and signature (no key needed). `publicKey`, when given, must be the signer.
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
        if let publicKey, publicKey != signer { throw VaultError.tampered("the backup was not signed by the given store key") }
        var m = ByteWriter(); m.write(label); m.write(hash)
        guard Ed25519.verify(signature: sig, message: m.bytes, publicKey: signer) else { throw VaultError.tampered("the backup's signature does not verify") }
        return parsed
    }

    /// Verifies a backup offline; with the backup key, also that every sealed secret opens.
    package static func verify(path: String, backupKey: BoxKeyPair?, publicKey: [UInt8]? = nil) throws -> Summary {
        guard let bytes = try Posix.readOutsideFile(path) else { throw VaultError.notFound("cannot read the backup file") }
        let parsed = try parse(bytes, publicKey: publicKey)
        if let backupKey {
            for e in parsed.entries where e.kind == 2 {
                do { _ = try SealedBox.open(e.data, keyPair: backupKey) } catch { throw VaultError.authenticationFailed("a secret in the backup does not open with this backup key") }
            }
        }
        return summary(parsed, bytes: bytes.count)
    }

    static func summary(_ p: Parsed, bytes: Int) -> Summary {
        Summary(vaults: p.entries.filter { $0.path.hasSuffix(".vault") }.count, files: p.entries.count, bytes: bytes,
                createdAt: p.header["createdAt"]?.stringValue ?? "", storeId: p.header["storeId"]?.stringValue ?? "",
                backupKeyId: p.header["backupKeyId"]?.stringValue ?? "")
    }

    /// The kind and id of an identity entry, or of a lookup entry in a backup made before root keys.
    static func identity(_ data: [UInt8]) -> (LookupEntry.Kind, [UInt8])? {
        if let e = try? IdentityEntry.parse(data) { return (e.kind, e.id) }
        if let e = try? LookupEntry.parse(data) { return (e.kind, e.id) }
        return nil
    }

    /// Restores into a new, empty directory. Vaults tombstoned in the backup, in `tombstoneSources` (the live store,
    /// or copies of its tombstones/ folder) or in the target are skipped, with their keys and lookups: no restore
    /// ever resurrects a shredded patient.
    package static func restore(path: String, into target: String, backupKey: BoxKeyPair, tombstoneSources: [String],
                                publicKey: [UInt8]? = nil, rootKey source: RootKeySource = .fromEnvironment()) throws -> Summary {
        guard let bytes = try Posix.readOutsideFile(path) else { throw VaultError.notFound("cannot read the backup file") }
        let parsed = try parse(bytes, publicKey: publicKey)
        if Posix.isDirectory(target), !Posix.list(target, followLinks: true).isEmpty { throw VaultError.alreadyExists("restore needs a new or empty directory") }
        var shredded = Set<String>()
        var deletedSupporters = Set<String>()
        if case .array(let t)? = parsed.header["tombstones"] { for case .string(let id) in t { shredded.insert(id) } }
        if case .array(let t)? = parsed.header["supporterTombstones"] { for case .string(let id) in t { deletedSupporters.insert(id) } }
        for source in tombstoneSources {
            let dir = Posix.isDirectory("\(source)/tombstones") ? "\(source)/tombstones" : source
            guard Posix.isDirectory(dir) else { throw VaultError.notFound("tombstone source \(source) is not a folder") }
            for name in Posix.list(dir, followLinks: true) where name.count == 32 { shredded.insert(name) }
            for name in Posix.list("\(dir)/supporters", followLinks: true) where name.count == 32 { deletedSupporters.insert(name) }
        }
        // Open every sealed secret before writing anything: a wrong backup key leaves the target untouched.
        var opened: [Int: SecureBytes] = [:]
        for (i, e) in parsed.entries.enumerated() where e.kind == 2 {
            do { opened[i] = try SealedBox.open(e.data, keyPair: backupKey) }
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
        guard case .string(let storeId)? = parsed.header["storeId"], !storeId.isEmpty, storeId.allSatisfy({ $0.isHexDigit }) else {
            throw VaultError.corrupted("the backup names no store id")
        }
        // The restored store's trust anchors are made anew under the target's root key (the same store's key where
        // it survived, else a new one), trusting the backup because its signature was checked above.
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
            if path == "keys/store-signing.key" {
                let plain = try VaultError.parsing("store signing key") { try StoreSecretFile.parse(data, as: .signingSeed) }
                return try rootKey.seal(plain.secret, storeId: storeId, kind: .signingSeed).serialize()
            }
            if path == Store.metadataFile {
                let createdAt = (try? JSONSerialization.jsonObject(with: Data(data)) as? [String: Any])?["createdAt"] as? String
                var meta: [String: Any] = ["format": "mikata-store", "version": Store.storeVersion, "storeId": storeId,
                                           "jurisdiction": Store.jurisdiction, "rootKeyId": rootKey.keyId]
                if let createdAt { meta["createdAt"] = createdAt }
                return Array(try JSONSerialization.data(withJSONObject: meta, options: [.sortedKeys, .prettyPrinted])) + [10]
            }
            return data
        }
        var skipped = Set<String>()
        try StoreLayout.prepare(root: target)
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
            var data = e.data
            if e.kind == 2, let secret = opened[i] { data = secret.unsafeCopyToArray() }
            data = try reanchor(e.path, data)
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
        var s = summary(parsed, bytes: bytes.count)
        s.skippedShredded = skipped.count
        s.vaults -= skipped.count
        let restored = try Store.open(at: target, rootKey: source)
        try restored.log("backup-restore", vaultId: nil, actor: "operator", role: "operator",
                         detail: "\(s.vaults) vaults restored, \(skipped.count) shredded vaults skipped, backup of \(s.createdAt)")
        return s
    }
}
