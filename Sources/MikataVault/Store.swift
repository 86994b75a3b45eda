import Foundation
package import MikataCrypto
import MikataFormat

/// A store: one directory holding vault files, the key store (erasure secrets, lookup key, generation records),
/// supporter accounts and keyed e-mail lookups (docs/FORMAT.md §7). Files are 0600, folders 0700.
///
///     STORE/mikata-store.json                 store id, jurisdiction (no secrets)
///     STORE/keys/lookup.key                   e-mail lookup key
///     STORE/keys/vaults/ab/<vaultId>.key      erasure secret        .gen  lowest header generation
///     STORE/vaults/ab/<vaultId>.vault         the vault file
///     STORE/supporters/ab/<supporterId>.account
///     STORE/index/ab/<keyed hash of e-mail>   lookup entry (patient or supporter id)
///     STORE/links/<supporterId>/<vaultId>     which vaults link a supporter (ids only)
package final class Store {
    package static let metadataFile = "mikata-store.json"
    package static let jurisdiction = "JP"

    package let root: String
    package let storeId: String
    let lookupKey: SecureBytes
    /// Argon2id cost for new passwords; tests lower it, the CLI never does.
    package var kdf: KDFParameters = .interactive
    /// Header copy size for new vaults; tests use small copies to keep byte-flip matrices small.
    package var headerCopyLength = VaultFormat.headerCopyLengthDefault
    package var lockTimeout: Double = 10

    private init(root: String, storeId: String, lookupKey: SecureBytes) {
        self.root = root; self.storeId = storeId; self.lookupKey = lookupKey
    }

    /// Where the CLI looks: `--store DIR`, else `$MIKATA_STORE`, else `./mikata-data`.
    package static func defaultPath(explicit: String?) -> String {
        if let explicit, !explicit.isEmpty { return explicit }
        if let env = PathBytes.environment("MIKATA_STORE"), !env.isEmpty { return env }
        return "./mikata-data"
    }

    /// Creates a store, or opens it if it exists (idempotent). Returns whether it was created.
    package static func initialize(at root: String) throws -> (Store, created: Bool) {
        if Posix.exists("\(root)/\(metadataFile)") { return (try open(at: root), false) }
        try StoreLayout.prepare(root: root)  // never adopts a folder or key another user could have planted
        // An init killed (or run twice at once) may have written the lookup key already: keep the one that exists.
        do {
            try Posix.writeNew("\(root)/keys/lookup.key", StoreSecretFile(.lookupKey, secret: SecureBytes.random(count: 32)).serialize())
        } catch VaultError.alreadyExists {}
        let id = Random.bytes(16).hex
        let meta: [String: Any] = ["format": "mikata-store", "version": 1, "storeId": id, "jurisdiction": jurisdiction,
                                   "createdAt": ISO8601DateFormatter().string(from: Date())]
        let json = try JSONSerialization.data(withJSONObject: meta, options: [.sortedKeys, .prettyPrinted])
        // Written last: a store without its metadata is not a store, so a crash mid-init is simply re-run.
        // If another init won the race, its store is the store.
        do { try Posix.writeNew("\(root)/\(metadataFile)", Array(json) + [10]) } catch VaultError.alreadyExists {
            return (try open(at: root), false)
        }
        return (try open(at: root), true)
    }

    package static func open(at root: String) throws -> Store {
        try StoreLayout.check(root: root)  // owner and mode of the root and fixed folders, O(1)
        guard let metaBytes = try Posix.readFile("\(root)/\(metadataFile)") else {
            throw VaultError.notFound("no MikataVault store at \(root) (run 'mikata init' first)")
        }
        guard let meta = try? JSONSerialization.jsonObject(with: Data(metaBytes)) as? [String: Any],
              meta["format"] as? String == "mikata-store", let id = meta["storeId"] as? String
        else { throw VaultError.corrupted("\(root)/\(metadataFile) is not a MikataVault store description") }
        guard (meta["version"] as? Int) == 1 else { throw VaultError.unsupported("store version \(meta["version"] ?? "?") is not supported by this build") }
        guard let keyBytes = try Posix.readFile("\(root)/keys/lookup.key") else { throw VaultError.erased("the store's lookup key is missing") }
        let lookup = try VaultError.parsing("lookup key") { try StoreSecretFile.parse(keyBytes, as: .lookupKey) }
        let store = Store(root: root, storeId: id, lookupKey: lookup.secret)
        store.removeStaleTemporaries()
        return store
    }

    // MARK: paths

    private static func shard(_ id: [UInt8]) -> String { String(id.hex.prefix(2)) }
    func vaultPath(_ id: [UInt8]) -> String { "\(root)/vaults/\(Store.shard(id))/\(id.hex).vault" }
    func erasureSecretPath(_ id: [UInt8]) -> String { "\(root)/keys/vaults/\(Store.shard(id))/\(id.hex).key" }
    func generationPath(_ id: [UInt8]) -> String { "\(root)/keys/vaults/\(Store.shard(id))/\(id.hex).gen" }
    func supporterPath(_ id: [UInt8]) -> String { "\(root)/supporters/\(Store.shard(id))/\(id.hex).account" }
    func linkDirectory(_ supporterId: [UInt8]) -> String { "\(root)/links/\(supporterId.hex)" }

    /// The lookup file for an e-mail: a keyed BLAKE2b of the normalised address; the address itself is stored nowhere.
    func lookupPath(_ kind: LookupEntry.Kind, email: String) throws -> String {
        let normalised = try Store.normalise(email: email)
        let h = Blake2b(outputLength: 32, key: lookupKey)
        h.update(VaultFormat.Label.emailLookup); h.update([kind.rawValue]); h.update(Array(normalised.utf8))
        let name = h.finalize()
        return "\(root)/index/\(Store.shard(name))/\(name.hex)"
    }

    /// Trimmed and lower-cased; must look like an address. The message never repeats the input.
    package static func normalise(email: String) throws -> String {
        let e = email.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        let parts = e.split(separator: "@", omittingEmptySubsequences: false)
        guard e.utf8.count <= 254, parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty,
              !e.contains(where: { $0.isWhitespace || $0.isNewline })
        else { throw VaultError.invalidInput("that is not a valid e-mail address") }
        return e
    }

    private func resolve(_ kind: LookupEntry.Kind, email: String) throws -> [UInt8] {
        guard let bytes = try Posix.readFile(try lookupPath(kind, email: email)) else {
            throw VaultError.notFound(kind == .patient ? "no patient with that e-mail address in this store" : "no supporter with that e-mail address in this store")
        }
        let entry = try VaultError.parsing("lookup entry") { try LookupEntry.parse(bytes) }
        guard entry.kind == kind else { throw VaultError.corrupted("lookup entry has the wrong kind") }
        return entry.id
    }

    // MARK: patients

    /// Creates a patient's vault. Order: erasure secret, generation record, vault file, then the lookup entry, so a
    /// crash never leaves an e-mail pointing at nothing (at worst an unreachable vault file and key, which hold no personal data).
    package func createPatient(email: String, nickname: String, password: SecureBytes) throws -> (vaultId: [UInt8], recoveryCode: SecureBytes) {
        let lookup = try lookupPath(.patient, email: email)
        guard !Posix.exists(lookup) else { throw VaultError.alreadyExists("a patient with that e-mail address exists already") }
        guard !nickname.isEmpty, nickname.utf8.count <= 256 else { throw VaultError.invalidInput("the nickname must be 1 to 256 bytes") }
        let draft = VaultDraft.new()
        let id = draft.vaultId
        let secret = SecureBytes.random(count: 32)
        for dir in [Posix.parent(of: erasureSecretPath(id)), Posix.parent(of: vaultPath(id)), Posix.parent(of: lookup)] {
            try Posix.makeDirectories(dir)
        }
        var secretFile = ErasureSecretFile(vaultId: id, secret: secret).serialize()
        defer { Sodium.wipe(&secretFile) }
        try Posix.writeNew(erasureSecretPath(id), secretFile)
        let profile = try JSONSerialization.data(withJSONObject: ["nickname": nickname], options: [.sortedKeys])
        do {
            let (_, code) = try Vault.create(draft: draft, path: vaultPath(id), generationPath: generationPath(id), erasureSecret: secret,
                                              password: password, kdf: kdf, headerCopyLength: headerCopyLength, profile: Array(profile),
                                              nowMillis: Posix.wallClockMillis())
            try Posix.writeNew(lookup, LookupEntry(kind: .patient, id: id).serialize())
            try log("create-vault", vaultId: id, actor: "patient", role: "patient")
            return (id, code)
        } catch {
            // Nothing points at the new vault yet: remove its pieces so a retry starts clean.
            try? Posix.remove(vaultPath(id)); try? Posix.remove(generationPath(id)); try? Posix.remove(erasureSecretPath(id))
            throw error
        }
    }

    package func vaultId(email: String) throws -> [UInt8] { try resolve(.patient, email: email) }

    /// The store's Ed25519 key: signs deletion certificates and audit-log checkpoints. Created on first use, so
    /// stores made before it existed get one too; `link(2)` makes concurrent first uses agree on one key.
    package func signingKey() throws -> SigningKeyPair {
        let path = "\(root)/keys/store-signing.key"
        if try Posix.readFile(path) == nil {
            let fresh = SigningKeyPair.generate()
            do { try Posix.writeNew(path, StoreSecretFile(.signingSeed, secret: fresh.seed).serialize()) } catch VaultError.alreadyExists {}
        }
        guard let bytes = try Posix.readFile(path) else { throw VaultError.erased("the store's signing key is missing") }
        let file = try VaultError.parsing("store signing key") { try StoreSecretFile.parse(bytes, as: .signingSeed) }
        return try SigningKeyPair.fromSeed(file.secret)
    }

    /// A short id for a public key: the first 8 bytes of BLAKE2b-256 of it, in hex.
    package static func keyId(_ publicKey: [UInt8]) -> String { Array(Blake2b.hash(publicKey).prefix(8)).hex }

    package func openVault(email: String) throws -> Vault { try openVault(id: try vaultId(email: email)) }

    package func openVault(id: [UInt8]) throws -> Vault {
        guard !isShredPending(id) else {
            throw VaultError.erased("this vault is being shredded (an interrupted shred); run 'mikata shred' again to complete it")
        }
        let path = vaultPath(id)
        guard Posix.exists(path) else { throw VaultError.notFound("the vault file is missing from the store") }
        guard let bytes = try Posix.readFile(erasureSecretPath(id)) else {
            throw VaultError.erased("the vault's erasure secret is gone (shredded, or the key store is incomplete): it cannot be opened")
        }
        let file = try VaultError.parsing("erasure secret file") { try ErasureSecretFile.parse(bytes) }
        guard file.vaultId == id else { throw VaultError.corrupted("the erasure secret file belongs to another vault") }
        Posix.removeStaleTemporaries(in: Posix.parent(of: path))
        // The file at this vault's path must be this vault (its id is self-certifying): a substituted file is tampering.
        let vault = try Vault(path: path, erasureSecret: file.secret, generationPath: generationPath(id), lockTimeout: lockTimeout,
                              expectedVaultId: id)
        vault.audit = try auditLog()
        vault.erasureSecretPath = erasureSecretPath(id)
        vault.supporterExists = { [weak self] id in self?.supporterExists(id) ?? true }
        return vault
    }

    private var cachedAuditLog: AuditLog?

    /// The store's access log (audit/log.jsonl), signed with the store key.
    package func auditLog() throws -> AuditLog {
        if let a = cachedAuditLog { return a }
        let a = AuditLog(path: "\(root)/audit/log.jsonl", storeId: storeId, signing: try signingKey())
        cachedAuditLog = a
        return a
    }

    /// Records a store-level event (creation, deletion, shred, inspection) in the access log.
    package func log(_ action: String, vaultId: [UInt8]?, actor: String, role: String, outcome: String = "ok", detail: String = "") throws {
        try auditLog().append(AuditLog.Event(vaultId: vaultId, actor: actor, role: role, action: action, outcome: outcome, detail: detail))
    }

    // MARK: supporters

    /// Creates a supporter account: fresh X25519 and Ed25519 key pairs, secrets sealed under Argon2id(password).
    package func createSupporter(email: String, name: String, password: SecureBytes) throws -> SupporterPublicKeys {
        let lookup = try lookupPath(.supporter, email: email)
        guard !Posix.exists(lookup) else { throw VaultError.alreadyExists("a supporter with that e-mail address exists already") }
        guard !name.isEmpty, name.utf8.count <= 256 else { throw VaultError.invalidInput("the name must be 1 to 256 bytes") }
        guard password.count > 0 else { throw VaultError.invalidInput("the password is empty") }
        let id = Random.bytes(16)
        let box = BoxKeyPair.generate()
        let signing = SigningKeyPair.generate()
        let salt = Random.bytes(PasswordHash.saltLength)
        var account = SupporterAccountFile(supporterId: id, boxPublicKey: box.publicKey, signPublicKey: signing.publicKey,
                                           createdAtMillis: Posix.wallClockMillis(), opsLimit: kdf.opsLimit, memLimit: kdf.memLimit,
                                           salt: salt, nonce: Random.bytes(24), sealedSecrets: [])
        let key = try kdf.derive(password: password, salt: salt)
        var plain = SupporterSecrets(boxSecretKey: box.secretKey, signSeed: signing.seed, name: name).serialize()
        defer { Sodium.wipe(&plain) }
        account.sealedSecrets = try XChaCha20Poly1305.seal(plain, key: key, nonce: account.nonce, ad: account.associatedData())
        try Posix.makeDirectories(Posix.parent(of: supporterPath(id)))
        try Posix.makeDirectories(Posix.parent(of: lookup))
        try Posix.writeNew(supporterPath(id), account.serialize())
        do {
            try Posix.writeNew(lookup, LookupEntry(kind: .supporter, id: id).serialize())
        } catch {
            try? Posix.remove(supporterPath(id))
            throw error
        }
        try log("create-supporter", vaultId: nil, actor: "supporter:\(id.hex)", role: "supporter")
        return SupporterPublicKeys(id: id, boxPublicKey: box.publicKey, signPublicKey: signing.publicKey)
    }

    package func supporterId(email: String) throws -> [UInt8] { try resolve(.supporter, email: email) }

    private func account(id: [UInt8]) throws -> SupporterAccountFile {
        guard let bytes = try Posix.readFile(supporterPath(id)) else { throw VaultError.notFound("the supporter's account is missing from the store") }
        let account = try VaultError.parsing("supporter account") { try SupporterAccountFile.parse(bytes) }
        guard account.supporterId == id else { throw VaultError.corrupted("the supporter account file belongs to another supporter") }
        return account
    }

    /// A supporter's public keys, for a patient's grant: no password needed.
    package func supporterPublicKeys(email: String) throws -> SupporterPublicKeys {
        let a = try account(id: try supporterId(email: email))
        return SupporterPublicKeys(id: a.supporterId, boxPublicKey: a.boxPublicKey, signPublicKey: a.signPublicKey)
    }

    /// Opens a supporter's account with their password.
    package func unlockSupporter(email: String, password: SecureBytes) throws -> SupporterIdentity {
        let a = try account(id: try supporterId(email: email))
        let key = try KDFParameters(opsLimit: a.opsLimit, memLimit: a.memLimit).derive(password: password, salt: a.salt)
        var plain: [UInt8]
        do { plain = try XChaCha20Poly1305.open(a.sealedSecrets, key: key, nonce: a.nonce, ad: a.associatedData()) }
        catch { throw VaultError.authenticationFailed("wrong password") }
        defer { Sodium.wipe(&plain) }
        let secrets = try VaultError.parsing("supporter secrets") { try SupporterSecrets.parse(plain) }
        let box = try BoxKeyPair.fromSecretKey(secrets.boxSecretKey)
        let signing = try SigningKeyPair.fromSeed(secrets.signSeed)
        guard box.publicKey == a.boxPublicKey, signing.publicKey == a.signPublicKey else {
            throw VaultError.tampered("the supporter account's public keys do not match its secret keys")
        }
        return SupporterIdentity(id: a.supporterId, box: box, signing: signing, name: secrets.name)
    }

    // MARK: links (which vaults name a supporter; a hint, always checked against the vault's header)

    package func recordLink(supporterId: [UInt8], vaultId: [UInt8]) throws {
        let dir = linkDirectory(supporterId)
        try Posix.makeDirectories(dir)
        try Posix.writeAtomically("\(dir)/\(vaultId.hex)", [])
    }

    package func removeLink(supporterId: [UInt8], vaultId: [UInt8]) throws {
        let dir = linkDirectory(supporterId)
        guard Posix.exists("\(dir)/\(vaultId.hex)") else { return }
        try Posix.remove("\(dir)/\(vaultId.hex)")
        try Posix.syncDirectory(dir)
    }

    package func linkedVaults(supporterId: [UInt8]) -> [[UInt8]] {
        Posix.list(linkDirectory(supporterId)).compactMap { name in
            name.hasPrefix(Posix.temporaryPrefix) ? nil : [UInt8](hex: name).flatMap { $0.count == 16 ? $0 : nil }
        }
    }

    /// Removes every temporary a killed writer left anywhere in the store (they may hold a copy of a secret).
    /// One readdir per folder: a few milliseconds for a store of 10,000 vaults.
    @discardableResult
    package func removeStaleTemporaries() -> Int {
        StoreLayout.removeStaleTemporaries(root: root)
    }

    /// Every file under the store (for audits such as the canary test).
    package func allFiles() -> [String] {
        StoreLayout.files(root: root)
    }
}
