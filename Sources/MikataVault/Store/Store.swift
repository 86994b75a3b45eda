import Foundation
package import MikataCrypto
import MikataFormat
import Synchronization

/// A store: one directory holding vault files, the key store (erasure secrets, lookup key, generation records),
/// supporter accounts and keyed e-mail lookups (docs/FORMAT.md §7). Files are 0600, folders 0700.
///
///     STORE/mikata-store.json                 store id, jurisdiction (no secrets)
///     STORE/services/registry.json            registered write-only services (ids, public keys, API key hashes)
///     STORE/keys/lookup.key                   e-mail lookup key
///     STORE/keys/vaults/ab/<vaultId>.key      erasure secret        .gen  lowest header generation
///     STORE/vaults/ab/<vaultId>.vault         the vault file
///     STORE/supporters/ab/<supporterId>.account
///     STORE/index/ab/<keyed hash of e-mail>   lookup entry (patient or supporter id)
///     STORE/links/<supporterId>/<vaultId>     which vaults link a supporter (ids only)
/// `Sendable`: one `Store` is shared by every task of a service. Its settings and caches are behind a lock; the files
/// it reaches are coordinated by flock between processes and, for vaults, by the service layer's per-vault lanes.
package final class Store: Sendable {
    package static let metadataFile = "mikata-store.json"
    /// Present in a store's root while a restore writes it (docs/OPERATIONS.md, "Runbook: restore"): written before
    /// anything else, removed (durably) after the restore's last entry. A store that holds it never opens.
    static let restoreMarkerFile = "restore-incomplete"
    /// The jurisdiction of stores that declare none (made before jurisdictions were settable) and of new stores
    /// when none is given.
    package static let defaultJurisdiction = "JP"

    package let root: String
    package let storeId: String
    /// The jurisdiction the store declares (ISO 3166-1 alpha-2), from `mikata-store.json`; set at creation.
    package let jurisdiction: String
    let lookupKey: SecureBytes
    /// The store root key (FORMAT.md §7.7), loaded from outside the store directory.
    let rootKey: StoreRootKey
    /// Where the root key was found (an operator path or descriptor; never personal data).
    package let rootKeyLocation: String
    /// Set by `initialize` when it gave a store made before root keys its first one (docs/OPERATIONS.md).
    package private(set) var upgradedFromLegacy: Bool {
        get { settings.withLock { $0.upgradedFromLegacy } }
        set { settings.withLock { $0.upgradedFromLegacy = newValue } }
    }
    /// Argon2id cost for new passwords; tests lower it, the CLI never does.
    package var kdf: KDFParameters {
        get { settings.withLock { $0.kdf } }
        set { settings.withLock { $0.kdf = newValue } }
    }
    /// Header copy size for new vaults; tests use small copies to keep byte-flip matrices small.
    package var headerCopyLength: Int {
        get { settings.withLock { $0.headerCopyLength } }
        set { settings.withLock { $0.headerCopyLength = newValue } }
    }
    /// Seconds a vault operation waits for another process's flock before answering busy.
    package var lockTimeout: Double {
        get { settings.withLock { $0.lockTimeout } }
        set { settings.withLock { $0.lockTimeout = newValue } }
    }

    /// Ed25519 signatures already verified, shared by every vault this handle opens from now on (nil: none kept, the
    /// default; a long-running service sets one: `VaultServiceConfiguration.verifiedSignatureCacheEntries`).
    package var verifiedSignatures: VerifiedSignatures? {
        get { settings.withLock { $0.verifiedSignatures } }
        set { settings.withLock { $0.verifiedSignatures = newValue } }
    }

    /// The mutable part of a store handle: settings and caches, behind one lock.
    private struct Settings: ~Copyable {
        var upgradedFromLegacy = false
        var kdf: KDFParameters = .interactive
        var headerCopyLength = VaultFormat.headerCopyLengthDefault
        var lockTimeout: Double = 10
        var signingKey: SigningKeyPair?
        var auditLog: AuditLog?
        var verifiedSignatures: VerifiedSignatures?
        var decoy: DecoyVault?
    }
    private let settings = Mutex(Settings())

    /// The store description's version: 2 since store root keys (a version-1 store is upgraded by `initialize`).
    package static let storeVersion = 2

    private init(root: String, storeId: String, jurisdiction: String, lookupKey: SecureBytes, rootKey: StoreRootKey, rootKeyLocation: String) {
        self.root = root; self.storeId = storeId; self.jurisdiction = jurisdiction; self.lookupKey = lookupKey; self.rootKey = rootKey; self.rootKeyLocation = rootKeyLocation
    }

    /// Where the CLI looks: `--store DIR`, else `$MIKATA_STORE`, else `./mikata-data`.
    package static func defaultPath(explicit: String?) -> String {
        if let explicit, !explicit.isEmpty { return explicit }
        if let env = PathBytes.environment("MIKATA_STORE"), !env.isEmpty { return env }
        return "./mikata-data"
    }

    /// Creates a store, or opens it if it exists (idempotent). Returns whether it was created. A store made before
    /// root keys (description version 1) is upgraded: it gets a root key at `rootKey` and its identity entries,
    /// anchors and signing key are authenticated under it, trusting their current content (docs/OPERATIONS.md).
    /// `jurisdiction` (ISO 3166-1 alpha-2, `Jurisdiction.check`) is what a new store declares (nil: `JP`); given for
    /// an existing store it must be the one that store declares (a store's jurisdiction is never rewritten).
    /// - Throws: `VaultError` (`.io` when a folder or key cannot be written, `.tampered` when a store claims to
    ///   predate root keys but holds a sealed signing key, `.invalidInput` for a jurisdiction that is not an
    ///   assigned ISO 3166-1 alpha-2 code, `.notPermitted` for an existing store of another jurisdiction).
    package static func initialize(at root: String, rootKey source: RootKeySource = .fromEnvironment(),
                                   jurisdiction requested: String? = nil) throws -> (Store, created: Bool) {
        let requested = try requested.map(Jurisdiction.check)
        try refuseInterruptedRestore(root)  // before anything is written there (a root key, a description)
        if Posix.exists("\(root)/\(metadataFile)") {
            let meta = try readMetadata(root)
            if let requested, requested != meta.jurisdiction {
                throw VaultError.notPermitted("the store declares jurisdiction \(meta.jurisdiction), not \(requested): a store's jurisdiction is set when it is created and never changed")
            }
            if meta.version == 1 {
                try StoreUpgrade.run(root: root, storeId: meta.storeId, source: source)
                let store = try open(at: root, rootKey: source)
                store.removeStaleTemporaries()
                store.upgradedFromLegacy = true
                return (store, false)
            }
            let store = try open(at: root, rootKey: source)
            store.removeStaleTemporaries()  // init on an existing store is its maintenance sweep
            // An init interrupted between the description and the first entry: finish it.
            if (try Posix.readFile(store.auditLogPath))?.isEmpty ?? true {
                try store.log("store-init", vaultId: nil, actor: "operator", role: "operator", detail: "root key \(store.rootKey.keyId)", creating: true)
            }
            return (store, false)
        }
        // No description yet: a fresh folder, or an init that crashed before writing it (which leaves at most the
        // folders and the lookup key). Keys or a log without a description are a damaged or planted store: refuse.
        try StoreLayout.prepare(root: root)  // never adopts a folder or key another user could have planted
        if Posix.exists("\(root)/keys/store-signing.key") || Posix.exists("\(root)/audit") {
            // An init writes its description before its signing key and log: with the description there now, another
            // init won the race since our first look, and its store is the store.
            if Posix.exists("\(root)/\(metadataFile)") { return (try open(at: root, rootKey: source), false) }
            throw VaultError.corrupted("\(root) holds a store's signing key or access log but no store description: it is damaged or was not made by 'mikata init'; restore it from a backup")
        }
        // An init killed (or run twice at once) may have written the lookup key already: keep the one that exists.
        do {
            try Posix.writeNew("\(root)/keys/lookup.key", StoreSecretFile(.lookupKey, secret: SecureBytes.random(count: 32)).serialize())
        } catch VaultError.alreadyExists {}
        let id = Random.bytes(16).hex
        // The root key first (outside the store), then the description, which decides a race between two inits
        // (the loser opens the winner's store); the signing key is made, sealed, at the first log entry.
        try source.checkOutside(store: root, storeId: id)
        let rootKey = try source.loadOrCreate(storeId: id)
        do {
            try writeMetadata(root, storeId: id, jurisdiction: requested ?? defaultJurisdiction, rootKeyId: rootKey.keyId,
                              createdAt: ISO8601DateFormatter().string(from: Date()), replace: false)
        } catch VaultError.alreadyExists {
            return (try open(at: root, rootKey: source), false)
        }
        let store = try open(at: root, key: rootKey, location: source.location(storeId: id))
        // The first entry of every store's access log: an empty or missing log is never a valid state.
        try store.log("store-init", vaultId: nil, actor: "operator", role: "operator", detail: "root key \(rootKey.keyId)", creating: true)
        return (store, true)
    }

    struct Metadata { var storeId: String; var version: Int; var rootKeyId: String?; var createdAt: String?; var jurisdiction: String }

    static func readMetadata(_ root: String) throws -> Metadata {
        guard let metaBytes = try Posix.readFile("\(root)/\(metadataFile)") else {
            throw VaultError.notFound("no MikataVault store at \(root) (run 'mikata init' first)")
        }
        guard let meta = try? JSONSerialization.jsonObject(with: Data(metaBytes)) as? [String: Any],
              meta["format"] as? String == "mikata-store", let id = meta["storeId"] as? String
        else { throw VaultError.corrupted("\(root)/\(metadataFile) is not a MikataVault store description") }
        // The id names the root key's file in the default folder: exactly 32 lower-case hex digits, never a path.
        guard isStoreId(id) else { throw VaultError.tampered("\(root)/\(metadataFile) names an invalid store id (it must be 32 lower-case hex digits)") }
        guard let version = meta["version"] as? Int, version == 1 || version == storeVersion else {
            throw VaultError.unsupported("store version \(meta["version"] ?? "?") is not supported by this build")
        }
        // A store made before jurisdictions were settable declares JP (or nothing, read as JP); what it declares must
        // be an assigned code, since certificates and backups carry it.
        var jurisdiction = defaultJurisdiction
        if let declared = meta["jurisdiction"] {
            guard let j = declared as? String, (try? Jurisdiction.check(j)) == j else {
                throw VaultError.corrupted("\(root)/\(metadataFile) declares a jurisdiction that is not an ISO 3166-1 alpha-2 code")
            }
            jurisdiction = j
        }
        return Metadata(storeId: id, version: version, rootKeyId: meta["rootKeyId"] as? String, createdAt: meta["createdAt"] as? String,
                        jurisdiction: jurisdiction)
    }

    /// A store id as `init` makes them: 16 random bytes in lower-case hex.
    static func isStoreId(_ s: String) -> Bool { s.utf8.count == 32 && s.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) } }

    static func writeMetadata(_ root: String, storeId: String, jurisdiction: String, rootKeyId: String, createdAt: String?, replace: Bool) throws {
        var meta: [String: Any] = ["format": "mikata-store", "version": storeVersion, "storeId": storeId, "jurisdiction": jurisdiction,
                                   "rootKeyId": rootKeyId]
        if let createdAt { meta["createdAt"] = createdAt }
        let json = try JSONSerialization.data(withJSONObject: meta, options: [.sortedKeys, .prettyPrinted])
        // Written last: a store without its description is not a store, so a crash mid-init is simply re-run.
        if replace { try Posix.writeAtomically("\(root)/\(metadataFile)", Array(json) + [10]) } else { try Posix.writeNew("\(root)/\(metadataFile)", Array(json) + [10]) }
    }

    /// Opens a store and its root key.
    /// - Throws: `VaultError.notFound` (no store; no root key at `rootKey`), `.authenticationFailed` (the key found
    ///   is another store's), `.unsupported` (a store made before root keys: run `initialize` once), `.corrupted`.
    package static func open(at root: String, rootKey source: RootKeySource = .fromEnvironment()) throws -> Store {
        try StoreLayout.check(root: root)  // owner and mode of the root and fixed folders, O(1)
        let meta = try readMetadata(root)
        guard meta.version == storeVersion, meta.rootKeyId != nil else {
            throw VaultError.unsupported("this store was made before store root keys: run 'mikata init' on it once to give it one (docs/OPERATIONS.md)")
        }
        try source.checkOutside(store: root, storeId: meta.storeId)
        guard let rootKey = try source.load(storeId: meta.storeId) else {
            throw VaultError.notFound("the store's root key is not at \(source.location(storeId: meta.storeId)) (give it with --root-key-file or MIKATA_ROOT_KEY_FILE)")
        }
        return try open(at: root, key: rootKey, location: source.location(storeId: meta.storeId))
    }

    /// Refuses a folder a restore was writing when it stopped (`restoreMarkerFile`).
    /// - Throws: `VaultError.corrupted`.
    static func refuseInterruptedRestore(_ root: String) throws {
        if Posix.exists("\(root)/\(restoreMarkerFile)") {
            throw VaultError.corrupted("\(PathBytes.display(root)) is a restore that did not finish: remove the folder and run 'mikata backup restore' again into a new one")
        }
    }

    /// Opens a store with a root key already loaded (init, upgrade and restore read a descriptor only once).
    static func open(at root: String, key rootKey: StoreRootKey, location: String, restoring: Bool = false) throws -> Store {
        try StoreLayout.check(root: root)
        // A restore that stopped part-way (a crash, a full disk) may lack its tombstones and holds: it would bring back
        // shredded patients and revoked supporters. Only the restore itself opens it.
        if !restoring { try refuseInterruptedRestore(root) }
        let meta = try readMetadata(root)
        guard meta.version == storeVersion, let expectedKeyId = meta.rootKeyId else {
            throw VaultError.unsupported("this store was made before store root keys: run 'mikata init' on it once to give it one (docs/OPERATIONS.md)")
        }
        guard Sodium.constantTimeEqual(Array(rootKey.keyId.utf8), Array(expectedKeyId.utf8)) else {
            throw VaultError.authenticationFailed("the root key at \(location) is not this store's root key (key \(rootKey.keyId), the store expects \(expectedKeyId))")
        }
        guard let lookup = try readStoreSecret("\(root)/keys/lookup.key", as: .lookupKey, what: "lookup key") else {
            throw VaultError.erased("the store's lookup key is missing")
        }
        // No sweep of the whole store here: opening is O(1) in the number of vaults. Temporaries are swept where they
        // are made and read (writers sweep their folder, openVault its shards) and in full by init (docs/OPERATIONS.md).
        return Store(root: root, storeId: meta.storeId, jurisdiction: meta.jurisdiction, lookupKey: lookup, rootKey: rootKey, rootKeyLocation: location)
    }

    // MARK: paths

    static func shard(_ id: [UInt8]) -> String { String(id.hex.prefix(2)) }
    func vaultPath(_ id: [UInt8]) -> String { "\(root)/vaults/\(Store.shard(id))/\(id.hex).vault" }
    func erasureSecretPath(_ id: [UInt8]) -> String { FileErasureSecretStore(root: root).path(id) }

    /// The key store's erasure secrets (docs/ARCHITECTURE.md, "Storage protocols").
    var erasureSecrets: any ErasureSecretStore { FileErasureSecretStore(root: root) }
    func generationPath(_ id: [UInt8]) -> String { "\(root)/keys/vaults/\(Store.shard(id))/\(id.hex).gen" }
    /// A vault's rollback anchor (FORMAT.md §7.2), authenticated under the root key.
    func anchor(_ id: [UInt8]) -> VaultAnchor { VaultAnchor(path: generationPath(id), vaultId: id, rootKey: rootKey) }
    func supporterPath(_ id: [UInt8]) -> String { "\(root)/supporters/\(Store.shard(id))/\(id.hex).account" }
    func linkDirectory(_ supporterId: [UInt8]) -> String { "\(root)/links/\(supporterId.hex)" }

    /// The lookup file for an e-mail: a keyed BLAKE2b of the normalised address; the address itself is stored nowhere.
    func lookupPath(_ kind: LookupEntry.Kind, email: String) throws -> String {
        lookupPath(name: try lookupName(kind, email: email))
    }

    func lookupPath(name: [UInt8]) -> String { FileIdentityDirectory(root: root).path(name) }

    /// The e-mail lookup's entries (docs/ARCHITECTURE.md, "Storage protocols").
    var identities: any IdentityDirectory { FileIdentityDirectory(root: root) }

    func lookupName(_ kind: LookupEntry.Kind, email: String) throws -> [UInt8] {
        lookupName(kind, normalised: try Store.normalise(email: email))
    }

    /// A name for in-process serialization of operations on an address that leads to no vault: the address's
    /// keyed lookup name (not the address itself), prefixed so it never equals a vault id's hex.
    /// - Throws: `VaultError.invalidInput` for a malformed address.
    package func addressLaneKey(email: String) throws -> String { "address:" + (try lookupName(.patient, email: email)).hex }

    func lookupName(_ kind: LookupEntry.Kind, normalised: String) -> [UInt8] {
        let h = Blake2b(outputLength: 32, key: lookupKey)
        h.update(VaultFormat.Label.emailLookup); h.update([kind.rawValue]); h.update(Array(normalised.utf8))
        return h.finalize()
    }

    /// `HumanInput.email`: NFKC, trimmed and lower-cased; must look like an address. The message never repeats the input.
    package static func normalise(email: String) throws -> String { try HumanInput.email(email) }

    /// Reads and authenticates the identity entry at `name` (FORMAT.md §7.3): nil if there is none. An entry the
    /// root key did not vouch for at this name (copied from another entry, forged, or a pre-root-key leftover) is
    /// tampering (exit 65), never followed.
    func identityEntry(name: [UInt8]) throws -> IdentityEntry? {
        guard let bytes = try identities.entry(named: name) else { return nil }
        return try authenticIdentityEntry(name: name, bytes: bytes)
    }

    /// The identity entry in `bytes`, stored under `name`, if its MAC under this store's root key holds
    /// (FORMAT.md §7.3): for a caller that has the bytes already and must check exactly those (a backup).
    /// - Throws: `VaultError.corrupted` (not an entry), `.tampered` (altered, forged or moved from another name).
    func authenticIdentityEntry(name: [UInt8], bytes: [UInt8]) throws -> IdentityEntry {
        let entry = try VaultError.parsing("identity entry") { try IdentityEntry.parse(bytes) }
        guard rootKey.isAuthentic(entry, name: name) else {
            throw VaultError.tampered("the identity entry for that e-mail address was altered, forged or moved from another entry")
        }
        return entry
    }

    /// Writes a new identity entry (fails if one exists), authenticated under the root key.
    func writeIdentityEntry(name: [UInt8], kind: LookupEntry.Kind, id: [UInt8], keysDigest: [UInt8]) throws {
        try identities.create(named: name, rootKey.sign(IdentityEntry(kind: kind, id: id, keysDigest: keysDigest), name: name).serialize())
    }

    func resolveEntry(_ kind: LookupEntry.Kind, email: String) throws -> IdentityEntry {
        guard let name = try existingLookupName(kind, email: email), let entry = try identityEntry(name: name) else {
            throw VaultError.notFound(kind == .patient ? "no patient with that e-mail address in this store" : "no supporter with that e-mail address in this store")
        }
        guard entry.kind == kind else { throw VaultError.tampered("identity entry has the wrong kind") }
        return entry
    }

    private func resolve(_ kind: LookupEntry.Kind, email: String) throws -> [UInt8] { try resolveEntry(kind, email: email).id }

    // MARK: patients

    /// Creates a patient's vault. Order: erasure secret, generation record, vault file, then the lookup entry, so a
    /// crash never leaves an e-mail pointing at nothing (at worst an unreachable vault file and key, which hold no personal data).
    package func createPatient(email: String, nickname: String, password: SecureBytes) throws -> (vaultId: [UInt8], recoveryCode: SecureBytes) {
        let name = try lookupName(.patient, email: email)
        let lookup = lookupPath(name: name)
        guard try existingLookupName(.patient, email: email) == nil else { throw VaultError.alreadyExists("a patient with that e-mail address exists already") }
        let nickname = try HumanInput.name(nickname, what: "nickname")
        let password = HumanInput.password(password)
        let draft = VaultDraft.new()
        let id = draft.vaultId
        let secret = SecureBytes.random(count: 32)
        for dir in [Posix.parent(of: erasureSecretPath(id)), Posix.parent(of: vaultPath(id)), Posix.parent(of: lookup)] {
            try Posix.makeDirectories(dir)
        }
        try erasureSecrets.create(ErasureSecretFile(vaultId: id, secret: secret))
        let profile = try JSONSerialization.data(withJSONObject: ["nickname": nickname], options: [.sortedKeys])
        do {
            let (_, code) = try Vault.create(draft: draft, path: vaultPath(id), anchor: anchor(id), erasureSecret: secret,
                                              password: password, kdf: kdf, headerCopyLength: headerCopyLength, profile: Array(profile),
                                              nowMillis: Posix.wallClockMillis())
            // Logged before the e-mail leads to it: a vault anyone can reach is always in the log (a crash before the
            // entry leaves an unreachable vault file, which `verifyAccessLog` tells apart).
            try log("create-vault", vaultId: id, actor: "patient", role: "patient")
            do { try writeIdentityEntry(name: name, kind: .patient, id: id, keysDigest: [UInt8](repeating: 0, count: 32)) } catch {
                try? log("create-vault-undone", vaultId: id, actor: "patient", role: "patient", detail: error is VaultError ? (error as! VaultError).failureClass : "failed")
                throw error
            }
            return (id, code)
        } catch {
            // Nothing points at the new vault yet: remove its pieces so a retry starts clean.
            try? Posix.remove(vaultPath(id)); try? Posix.remove(generationPath(id)); erasureSecrets.discard(vaultId: id)
            throw error
        }
    }

    package func vaultId(email: String) throws -> [UInt8] { try resolve(.patient, email: email) }

    /// The store's Ed25519 key: signs deletion certificates, audit-log checkpoints and backups. Its seed is sealed
    /// under the root key (FORMAT.md §7.6), bound to the store's jurisdiction, so the store's disk alone can neither
    /// sign as the store nor change the jurisdiction its certificates and backups state. A key sealed before the
    /// binding (file version 1) is sealed again, bound to the jurisdiction declared now.
    /// - Throws: `VaultError.erased` (missing), `.tampered` (does not open with the root key: replaced or foreign,
    ///   or the description's jurisdiction edited).
    package func signingKey() throws -> SigningKeyPair {
        if let k = settings.withLock({ $0.signingKey }) { return k }
        let path = "\(root)/keys/store-signing.key"
        if try Posix.readFile(path) == nil {
            // Made once, at the store's first log entry (an init interrupted before it, or a store opened by an older
            // init, has none yet). Once the log has entries, a missing key is lost, never silently replaced.
            guard (try Posix.readFile(auditLogPath))?.isEmpty ?? true else { throw VaultError.erased("the store's signing key is missing") }
            // Nor once the store holds a vault: a key and log deleted together must not make a fresh key (which would
            // sign under whatever jurisdiction the description declares now).
            guard Posix.list("\(root)/keys/vaults").isEmpty, Posix.list("\(root)/vaults").isEmpty else {
                throw VaultError.erased("the store's signing key is missing, and the store holds vaults: it is not made anew; restore the store from a backup")
            }
            let fresh = SigningKeyPair.generate()
            do {
                try Posix.writeNew(path, try rootKey.seal(fresh.seed, storeId: storeId, kind: .signingSeed, jurisdiction: jurisdiction).serialize())
            } catch VaultError.alreadyExists {}
        }
        guard let bytes = try Posix.readFile(path) else { throw VaultError.erased("the store's signing key is missing") }
        guard SealedStoreSecretFile.isSealed(bytes) else {
            throw VaultError.tampered("the store's signing key is not sealed under the root key (replaced by a plain key?)")
        }
        let file = try VaultError.parsing("store signing key") { try SealedStoreSecretFile.parse(bytes) }
        // Version 2 binds the jurisdiction the description declares: an edited one does not open it (tampered).
        let pair = try SigningKeyPair.fromSeed(try rootKey.open(file, storeId: storeId, kind: .signingSeed, jurisdiction: jurisdiction))
        if file.version < 2 {
            // Written before the binding: sealed again, bound to the jurisdiction declared now (trusted on first use).
            // A store that cannot be written (read-only media) keeps the old file and is read as before.
            try? Posix.writeAtomically(path, try rootKey.seal(pair.seed, storeId: storeId, kind: .signingSeed, jurisdiction: jurisdiction).serialize())
        }
        settings.withLock { $0.signingKey = pair }
        return pair
    }

    var auditLogPath: String { "\(root)/audit/log.jsonl" }

    /// A short id for a public key: the first 8 bytes of BLAKE2b-256 of it, in hex.
    package static func keyId(_ publicKey: [UInt8]) -> String { Array(Blake2b.hash(publicKey).prefix(8)).hex }

    package func openVault(email: String) throws -> Vault { try openVault(id: try vaultId(email: email)) }

    package func openVault(id: [UInt8]) throws -> Vault {
        guard !isShredPending(id) else {
            throw VaultError.erased("this vault is being shredded (an interrupted shred); run 'mikata shred' again to complete it")
        }
        let path = vaultPath(id)
        guard Posix.exists(path) else { throw VaultError.notFound("the vault file is missing from the store") }
        guard let file = try erasureSecrets.secret(of: id) else {
            throw VaultError.erased("the vault's erasure secret is gone (shredded, or the key store is incomplete): it cannot be opened")
        }
        guard file.vaultId == id else { throw VaultError.corrupted("the erasure secret file belongs to another vault") }
        // A killed writer's temporary in this vault's shards may hold a copy of a secret (an erasure secret, a
        // re-encrypted vault): gone before the vault is read.
        Posix.removeStaleTemporaries(in: Posix.parent(of: path))
        Posix.removeStaleTemporaries(in: Posix.parent(of: erasureSecretPath(id)))
        // The file at this vault's path must be this vault (its id is self-certifying): a substituted file is tampering.
        let vault = try Vault(path: path, erasureSecret: file.secret, anchor: anchor(id), lockTimeout: lockTimeout,
                              expectedVaultId: id)
        vault.audit = try auditLog()
        vault.verifiedSignatures = verifiedSignatures
        vault.erasureSecrets = erasureSecrets
        vault.supporterExists = { [weak self] id in self?.supporterExists(id) ?? true }
        installTombstoneHooks(on: vault)
        return vault
    }

    /// The decoy an unknown e-mail's credential check opens (`DecoyVault`), made on first use. A long-running
    /// service makes it before its first request (`prepareDecoy`), so no answer includes its making.
    func decoyVault() throws -> DecoyVault {
        if let d = settings.withLock({ $0.decoy }) { return d }
        let made = try DecoyVault(rootKey: rootKey, headerCopyLength: headerCopyLength)
        return settings.withLock { s in
            if let d = s.decoy { return d }
            s.decoy = made
            return made
        }
    }

    /// Makes the decoy now (`decoyVault`), for a service about to answer requests.
    /// - Throws: `VaultError` when it cannot be made (no randomness, no memory).
    package func prepareDecoy() throws { _ = try decoyVault() }

    /// `openVault(id:)`'s work for an e-mail with no account: the same look-ups for the decoy's id (none finds a
    /// file), the same sweep of the folders that id falls in (in a store of more than a few hundred vaults every
    /// shard folder holds some; in a small one the folder may be missing, and the sweep stops at its open), then the
    /// decoy's header, read and verified. No handle of it logs anything.
    func openDecoy() throws -> Vault {
        let decoy = try decoyVault()
        let id = decoy.vaultId
        _ = isShredPending(id)
        _ = Posix.exists(vaultPath(id))
        _ = try? erasureSecrets.secret(of: id)
        Posix.removeStaleTemporaries(in: Posix.parent(of: vaultPath(id)))
        Posix.removeStaleTemporaries(in: Posix.parent(of: erasureSecretPath(id)))
        _ = try? anchor(id).record.read()
        return try decoy.open()
    }

    /// The store's access log (audit/log.jsonl), signed with the store key.
    package func auditLog() throws -> AuditLog {
        if let a = settings.withLock({ $0.auditLog }) { return a }
        let made = AuditLog(path: auditLogPath, storeId: storeId, signing: try signingKey(), macKey: rootKey.logKey)
        // Two tasks may build one at once: both keep the first, so every vault of the process shares one log queue.
        return settings.withLock { s in
            if let a = s.auditLog { return a }
            s.auditLog = made
            return made
        }
    }

    /// `mikata audit verify`: the log's chain and signed checkpoints, then every vault against what the log
    /// recorded of it (no vault cut off or rolled back behind its logged appends and key changes, no vault file
    /// removed without a shred). An initialised store's log is never empty: it starts with `store-init`.
    /// `given`: the log's lines as the caller read them (a backup checks the very bytes it carries); nil reads them.
    /// - Throws: `VaultError.tampered` naming the first discrepancy; `.corrupted` for damaged lines.
    package func verifyAccessLog(lines given: [AuditLog.Line]? = nil) throws -> AuditLog.VerifyReport {
        let log = try auditLog()
        let lines = try given ?? log.lines()  // read once: verified, then compared with the vaults
        let report = try log.verify(lines)
        guard report.entries > 0 || report.prunedBefore != nil else {
            throw VaultError.tampered("the access log is empty or missing: every store's log starts with its creation, so it was deleted or emptied")
        }
        let entries = AuditLog.entries(of: lines)
        let claims = LogClaims(entries)
        let list = try signedTombstoneList()
        try checkTombstoneList(list, entries: entries)
        // Only what the list, the log or an authentic intent records: a plain `tombstones/` file is a hint a disk
        // writer can plant to hide a rolled-back vault from these checks.
        let gone = confirmedShredded(entries: entries, list: list)
        // Every identity entry is checked on the way (MAC, pinned keys), and says which vaults an e-mail reaches.
        var reachable = Set<String>()
        for shard in Posix.list("\(root)/index") where !shard.hasPrefix(".") {
            for name in Posix.list("\(root)/index/\(shard)") where !name.hasPrefix(".") {
                guard let n = [UInt8](hex: name), n.count == 32 else { continue }
                if let e = try checkIdentityEntry(name: n), e.kind == .patient { reachable.insert(e.id.hex) }
            }
        }
        var present = Set<String>()
        for shard in Posix.list("\(root)/vaults") where !shard.hasPrefix(".") {
            for name in Posix.list("\(root)/vaults/\(shard)") where name.hasSuffix(".vault") {
                guard let id = [UInt8](hex: String(name.dropLast(6))), id.count == 16, !gone.contains(id.hex) else { continue }
                // A log that was never pruned has every vault from its creation (or the restore or upgrade that
                // brought it): a vault it does not know, that an e-mail leads to, was cut out of it together with the
                // log's tail. (An unreachable vault file is what a crash inside `createPatient` leaves.)
                if report.prunedBefore == nil, !claims.knows(id.hex), !reachable.contains(id.hex) { continue }
                present.insert(id.hex)
                if report.prunedBefore == nil, !claims.knows(id.hex) {
                    throw VaultError.tampered("vault \(id.hex) is not in the access log, which was never pruned: the log's entries for it were dropped")
                }
                try openVault(id: id).checkStructureAgainstLog(claims)
            }
        }
        for id in claims.vaultIds where !present.contains(id) && !gone.contains(id) {
            throw VaultError.tampered("vault \(id) is in the access log but its file is gone without a shred or deletion")
        }
        return report
    }

    /// Records a store-level event (creation, deletion, shred, inspection) in the access log.
    /// `creating`: only the store's first entry (init, upgrade) may create the log; otherwise a missing or empty log
    /// is tampering, never silently made anew.
    package func log(_ action: String, vaultId: [UInt8]?, actor: String, role: String, outcome: String = "ok", detail: String = "",
                     creating: Bool = false) throws {
        try auditLog().append(AuditLog.Event(vaultId: vaultId, actor: actor, role: role, action: action, outcome: outcome, detail: detail),
                              creating: creating)
    }

    // MARK: supporters

    /// Creates a supporter account: fresh X25519 and Ed25519 key pairs, secrets sealed under Argon2id(password).
    package func createSupporter(email: String, name: String, password: SecureBytes) throws -> SupporterPublicKeys {
        let entryName = try lookupName(.supporter, email: email)
        let lookup = lookupPath(name: entryName)
        guard try existingLookupName(.supporter, email: email) == nil else { throw VaultError.alreadyExists("a supporter with that e-mail address exists already") }
        let name = try HumanInput.name(name, what: "name")
        let password = HumanInput.password(password)
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
            try writeIdentityEntry(name: entryName, kind: .supporter, id: id,
                                   keysDigest: IdentityEntry.supporterKeysDigest(id: id, boxPublicKey: box.publicKey, signPublicKey: signing.publicKey))
        } catch {
            try? Posix.remove(supporterPath(id))
            throw error
        }
        try log("create-supporter", vaultId: nil, actor: "supporter:\(id.hex)", role: "supporter")
        return SupporterPublicKeys(id: id, boxPublicKey: box.publicKey, signPublicKey: signing.publicKey)
    }

    package func supporterId(email: String) throws -> [UInt8] { try resolve(.supporter, email: email) }

    /// The account of the supporter an identity entry names, checked against the public keys the entry pins: an
    /// account file swapped for another (the attacker's keys under a victim's id) is tampering.
    private func account(_ entry: IdentityEntry) throws -> SupporterAccountFile {
        let id = entry.id
        guard let bytes = try Posix.readFile(supporterPath(id)) else { throw VaultError.notFound("the supporter's account is missing from the store") }
        return try Store.account(bytes, pinnedBy: entry)
    }

    /// The supporter account in `bytes` if its public keys are the ones `entry` (an authentic identity entry) pins.
    /// - Throws: `VaultError.corrupted` (not an account, or another supporter's), `.tampered` (other keys).
    static func account(_ bytes: [UInt8], pinnedBy entry: IdentityEntry) throws -> SupporterAccountFile {
        let id = entry.id
        let account = try VaultError.parsing("supporter account") { try SupporterAccountFile.parse(bytes) }
        guard account.supporterId == id else { throw VaultError.corrupted("the supporter account file belongs to another supporter") }
        let digest = IdentityEntry.supporterKeysDigest(id: id, boxPublicKey: account.boxPublicKey, signPublicKey: account.signPublicKey)
        guard Sodium.constantTimeEqual(digest, entry.keysDigest) else {
            throw VaultError.tampered("the supporter account's public keys are not the ones the store registered for that e-mail address")
        }
        return account
    }

    /// Checks the identity entry at `name` as a lookup would (its MAC; for a supporter, the account's keys against
    /// the digest it pins), returning it (nil if there is none). `verifyAccessLog` runs it on every entry.
    /// - Throws: `VaultError.tampered`, `.corrupted`, `.notFound` (a supporter entry without its account).
    @discardableResult
    func checkIdentityEntry(name: [UInt8]) throws -> IdentityEntry? {
        guard let entry = try identityEntry(name: name) else { return nil }
        if entry.kind == .supporter { _ = try account(entry) }
        return entry
    }

    /// A supporter's public keys, for a patient's grant: no password needed. Authenticated through the identity
    /// entry, so the keys are the ones registered for that e-mail address (show `Fingerprint.supporter` to the patient).
    package func supporterPublicKeys(email: String) throws -> SupporterPublicKeys {
        let a = try account(try resolveEntry(.supporter, email: email))
        return SupporterPublicKeys(id: a.supporterId, boxPublicKey: a.boxPublicKey, signPublicKey: a.signPublicKey)
    }

    /// `supporterPublicKeys(email:)`, refusing keys whose fingerprint is not the one the patient got from the
    /// supporter out of band (docs/SECURITY.md, "Checking whom you link"). Nil `fingerprint`: no check.
    /// - Throws: `VaultError.notPermitted` on a mismatch (nothing changed), and what `supporterPublicKeys` throws.
    package func supporterPublicKeys(email: String, fingerprint: String?) throws -> SupporterPublicKeys {
        let keys = try supporterPublicKeys(email: email)
        if let fingerprint, !Fingerprint.matches(fingerprint, Fingerprint.supporter(keys)) {
            throw VaultError.notPermitted("the supporter's key fingerprint is not the one given: check it with the supporter; nothing was changed")
        }
        return keys
    }

    /// Opens a supporter's account with their password. A wrong password and an unknown e-mail give the same answer
    /// and are both logged (Authentication.swift).
    package func unlockSupporter(email: String, password: SecureBytes) throws -> SupporterIdentity {
        let a = try account(try supporterEntry(email: email, password: password))  // unknown e-mail: as a wrong password
        var plain: [UInt8]
        do {
            plain = try HumanInput.tryPasswords(password) { candidate in
                let key = try KDFParameters(opsLimit: a.opsLimit, memLimit: a.memLimit).derive(password: candidate, salt: a.salt)
                do { return try XChaCha20Poly1305.open(a.sealedSecrets, key: key, nonce: a.nonce, ad: a.associatedData()) }
                catch { throw VaultError.authenticationFailed("wrong password") }
            }
        } catch VaultError.authenticationFailed { throw supporterPasswordRefused(a.supporterId) }  // logged
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
    /// One readdir per folder: a few milliseconds for a store of 10,000 vaults. Run by `initialize` on an existing
    /// store (`mikata init`, the maintenance sweep), never by `open`.
    @discardableResult
    package func removeStaleTemporaries() -> Int {
        StoreLayout.removeStaleTemporaries(root: root)
    }

    /// Every file under the store (for audits such as the canary test).
    package func allFiles() -> [String] {
        StoreLayout.files(root: root)
    }
}
