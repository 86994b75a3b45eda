import Foundation
import MikataCrypto
import MikataFormat

/// Gives a store made before root keys (description version 1) its first root key (docs/OPERATIONS.md,
/// "Upgrading a store made before root keys"). Trust on first use: the identity entries, anchors and signing key
/// as they are now become authenticated under the new key, so run it on a store you trust (e.g. right after the
/// new version is installed). Re-runnable after a crash: every step checks what an earlier run already did.
enum StoreUpgrade {
    /// Whether any identity entry or anchor of the store is already authenticated under `rootKey` (an upgrade
    /// began, or the store was made after root keys).
    static func hasAuthenticatedEntries(root: String, rootKey: StoreRootKey) throws -> Bool {
        for shard in Posix.list("\(root)/index") where !shard.hasPrefix(".") {
            for name in Posix.list("\(root)/index/\(shard)") where !name.hasPrefix(".") {
                guard let nameBytes = [UInt8](hex: name), nameBytes.count == 32, let bytes = try Posix.readFile("\(root)/index/\(shard)/\(name)"),
                      let e = try? IdentityEntry.parse(bytes) else { continue }
                if rootKey.isAuthentic(e, name: nameBytes) { return true }
            }
        }
        for shard in Posix.list("\(root)/keys/vaults") where !shard.hasPrefix(".") {
            for name in Posix.list("\(root)/keys/vaults/\(shard)") where name.hasSuffix(".gen") {
                guard let bytes = try Posix.readFile("\(root)/keys/vaults/\(shard)/\(name)"), let a = try? AnchorFile.parse(bytes) else { continue }
                if rootKey.isAuthentic(a) { return true }
            }
        }
        return false
    }

    static func run(root: String, storeId: String, source: RootKeySource) throws {
        try source.checkOutside(store: root, storeId: storeId)
        // A store that already went through this (its log has entries under a root key, or the entry of an upgrade or
        // a creation since root keys) is not an old store: its description was rewritten to make the upgrade trust
        // the disk again. Refused, whatever the key source holds.
        if try hasRootKeyEntries(root: root) {
            throw VaultError.tampered("this store says it was made before store root keys, but its access log was written under one: its description was rewritten; restore it from a backup")
        }
        let rootKey = try source.loadOrCreate(storeId: storeId)
        let meta = try Store.readMetadata(root)
        // 1. The signing key, sealed first: from then on a plain key is never the store's. A sealed one (an upgrade
        // interrupted after this step) must open under the root key. A plain key beside entries already authenticated
        // under the root key was put there after the upgrade began: refused (the disk must not choose the store's key).
        let signingPath = "\(root)/keys/store-signing.key"
        let signing: SigningKeyPair
        if let bytes = try Posix.readFile(signingPath) {
            if SealedStoreSecretFile.isSealed(bytes) {
                let file = try VaultError.parsing("store signing key") { try SealedStoreSecretFile.parse(bytes) }
                signing = try SigningKeyPair.fromSeed(try rootKey.open(file, storeId: storeId, kind: .signingSeed, jurisdiction: meta.jurisdiction))
            } else {
                if try hasAuthenticatedEntries(root: root, rootKey: rootKey) {
                    throw VaultError.tampered("this store's signing key is a plain key, but entries of the store are already authenticated under its root key: the key was replaced; restore the store from a backup")
                }
                let plain = try VaultError.parsing("store signing key") { try StoreSecretFile.parse(bytes, as: .signingSeed) }
                signing = try SigningKeyPair.fromSeed(plain.secret)
            }
        } else {
            if try hasAuthenticatedEntries(root: root, rootKey: rootKey) {
                throw VaultError.erased("this store's signing key is missing, but entries of the store are already authenticated under its root key: restore the store from a backup")
            }
            signing = SigningKeyPair.generate()
        }
        try Posix.writeAtomically(signingPath, try rootKey.seal(signing.seed, storeId: storeId, kind: .signingSeed, jurisdiction: meta.jurisdiction).serialize())
        // 2. Identity entries: each legacy lookup entry becomes an identity entry under the root key; a supporter's
        // entry pins the public keys of the account it points at now.
        for shard in Posix.list("\(root)/index") where !shard.hasPrefix(".") {
            for name in Posix.list("\(root)/index/\(shard)") where !name.hasPrefix(".") {
                guard let nameBytes = [UInt8](hex: name), nameBytes.count == 32 else { continue }
                let path = "\(root)/index/\(shard)/\(name)"
                guard let bytes = try Posix.readFile(path) else { continue }
                if let e = try? IdentityEntry.parse(bytes) {
                    guard rootKey.isAuthentic(e, name: nameBytes) else {
                        throw VaultError.tampered("an identity entry of the store is not authenticated by its root key")
                    }
                    continue
                }
                let legacy = try VaultError.parsing("lookup entry") { try LookupEntry.parse(bytes) }
                var digest = [UInt8](repeating: 0, count: 32)
                if legacy.kind == .supporter {
                    let accountPath = "\(root)/supporters/\(String(legacy.id.hex.prefix(2)))/\(legacy.id.hex).account"
                    guard let a = try Posix.readFile(accountPath) else { continue }  // a deleted supporter's leftover
                    let account = try VaultError.parsing("supporter account") { try SupporterAccountFile.parse(a) }
                    digest = IdentityEntry.supporterKeysDigest(id: account.supporterId, boxPublicKey: account.boxPublicKey,
                                                               signPublicKey: account.signPublicKey)
                }
                let entry = rootKey.sign(IdentityEntry(kind: legacy.kind, id: legacy.id, keysDigest: digest), name: nameBytes)
                try Posix.writeAtomically(path, entry.serialize())
            }
        }
        // 3. Anchors: each generation record becomes an anchor of the vault's current header (which must not be
        // older than the record).
        for shard in Posix.list("\(root)/keys/vaults") where !shard.hasPrefix(".") {
            for name in Posix.list("\(root)/keys/vaults/\(shard)") where name.hasSuffix(".gen") {
                guard let id = [UInt8](hex: String(name.dropLast(4))), id.count == 16 else { continue }
                let anchor = VaultAnchor(path: "\(root)/keys/vaults/\(shard)/\(name)", vaultId: id, rootKey: rootKey)
                guard let bytes = try Posix.readFile(anchor.path) else { continue }
                if let a = try? AnchorFile.parse(bytes) {
                    guard rootKey.isAuthentic(a) else { throw VaultError.tampered("a vault anchor of the store is not authenticated by its root key") }
                    continue
                }
                let g = try VaultError.parsing("generation file") { try GenerationFile.parse(bytes) }
                let vaultPath = "\(root)/vaults/\(shard)/\(id.hex).vault"
                guard Posix.exists(vaultPath) else { continue }
                let file = try PosixFile.open(vaultPath, readOnly: true)
                let header = try Vault.loadHeader(file: file)
                guard header.state.vaultId == id, header.state.generation >= g.minimumGeneration else {
                    throw VaultError.tampered("vault \(id.hex) is older than its generation record: it was rolled back")
                }
                try anchor.write(header.state)
            }
        }
        // 4. The description (last: until it is written, the store is still version 1 and a re-run finishes the job).
        try Store.writeMetadata(root, storeId: storeId, jurisdiction: meta.jurisdiction, rootKeyId: rootKey.keyId, createdAt: meta.createdAt, replace: true)
        let store = try Store.open(at: root, key: rootKey, location: source.location(storeId: storeId))
        try store.log("store-upgrade", vaultId: nil, actor: "operator", role: "operator", detail: "root key \(rootKey.keyId)", creating: true)
        // Each vault's tail as the log's baseline: a log older than the audit log itself may not know them.
        var baselines: [AuditLog.Event] = []
        let gone = store.tombstones()
        for shard in Posix.list("\(root)/vaults") where !shard.hasPrefix(".") {
            for name in Posix.list("\(root)/vaults/\(shard)") where name.hasSuffix(".vault") {
                guard let id = [UInt8](hex: String(name.dropLast(6))), id.count == 16, !gone.contains(id.hex) else { continue }
                baselines.append(AuditLog.Event(vaultId: id, actor: "operator", role: "operator", action: "anchor-vault", outcome: "ok",
                                                detail: try store.openVault(id: id).tailClaim()))
            }
        }
        if !baselines.isEmpty { try store.auditLog().append(contentsOf: baselines) }  // one durable write
    }

    /// Whether the store's log holds an entry written since root keys: one with a MAC, or a `store-init` or
    /// `store-upgrade` entry.
    static func hasRootKeyEntries(root: String) throws -> Bool {
        guard let bytes = try Posix.readFile("\(root)/audit/log.jsonl") else { return false }
        for line in bytes.split(separator: 10) {
            guard case .entry(let e)? = try? AuditLog.parseLine(Array(line), number: 0) else { continue }
            if e.mac != nil || e.action == "store-init" || e.action == "store-upgrade" { return true }
        }
        return false
    }
}
