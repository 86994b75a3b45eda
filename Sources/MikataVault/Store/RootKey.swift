#if canImport(Glibc)
import Glibc
#endif
import Foundation
import MikataCrypto
import MikataFormat

/// Where a store's root key comes from (docs/SECURITY.md, "The store root key"; docs/OPERATIONS.md). The key is
/// never inside the store directory: a person who can write the store's files or its backups must not also hold it.
///
/// Resolution order of `fromEnvironment`: `MIKATA_ROOT_KEY_FILE`; systemd's `$CREDENTIALS_DIRECTORY/mikata-root-key`
/// (when that file exists); `MIKATA_ROOT_KEY_FD` (an inherited, readable descriptor); else the folder
/// `MIKATA_ROOT_KEY_DIR`, `$XDG_CONFIG_HOME/mikata/root-keys` or `$HOME/.config/mikata/root-keys`, holding one
/// `<storeId>.key` per store (the embedded default, created by `mikata init`).
package enum RootKeySource: Sendable, Equatable, CustomStringConvertible {
    /// A key file at an explicit path (`--root-key-file`, `MIKATA_ROOT_KEY_FILE`, a systemd credential).
    case file(String)
    /// An inherited file descriptor holding the key file's bytes (`MIKATA_ROOT_KEY_FD`); read, never created.
    case descriptor(Int32)
    /// A folder of per-store key files, `<storeId>.key` (the embedded default).
    case directory(String)

    package static let credentialName = "mikata-root-key"

    package static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) -> RootKeySource {
        if let f = env["MIKATA_ROOT_KEY_FILE"], !f.isEmpty { return .file(f) }
        if let dir = env["CREDENTIALS_DIRECTORY"], !dir.isEmpty, Posix.exists("\(dir)/\(credentialName)") {
            return .file("\(dir)/\(credentialName)")
        }
        if let s = env["MIKATA_ROOT_KEY_FD"], let fd = Int32(s), fd >= 0 { return .descriptor(fd) }
        if let d = env["MIKATA_ROOT_KEY_DIR"], !d.isEmpty { return .directory(d) }
        if let x = env["XDG_CONFIG_HOME"], x.hasPrefix("/") { return .directory("\(x)/mikata/root-keys") }
        return .directory("\(env["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? "/root")/.config/mikata/root-keys")
    }

    /// Where the key of store `storeId` is, as a message can show it (no personal data: ids and operator paths).
    package func location(storeId: String) -> String {
        switch self {
        case .file(let p): return p
        case .descriptor(let fd): return "file descriptor \(fd)"
        case .directory(let d): return "\(d)/\(storeId).key"
        }
    }

    package var description: String { location(storeId: "<storeId>") }

    /// Refuses a key location inside the store directory: the key must not be on the store's disk tree.
    /// - Throws: `VaultError.invalidInput` naming the rule.
    func checkOutside(store root: String, storeId: String) throws {
        guard case .descriptor = self else {
            // The real path of `p`, existing or not: the real path of its nearest existing ancestor with the rest of
            // `p` after it (a store not made yet, as a restore's target, is compared where it will be).
            func real(_ p: String) -> String? {
                var path = p
                var rest: [Substring] = []
                while true {
                    if let r = PathBytes.withCString(path, { realpath($0, nil) }) {
                        defer { free(r) }
                        let base = String(cString: r)
                        return rest.isEmpty ? base : (base == "/" ? "" : base) + "/" + rest.reversed().joined(separator: "/")
                    }
                    let parent = Posix.parent(of: path)
                    if parent == path { return nil }
                    if let name = path.dropFirst(parent.count).split(separator: "/").last { rest.append(name) }
                    path = parent
                }
            }
            guard let store = real(root), let key = real(Posix.parent(of: location(storeId: storeId))) else { return }
            if key == store || key.hasPrefix(store.hasSuffix("/") ? store : store + "/") {
                throw VaultError.invalidInput("the store root key must be kept outside the store directory; give another place with --root-key-file")
            }
            return
        }
    }

    /// Reads the key, or nil if there is none at this source (a missing file; never for a descriptor).
    func load(storeId: String) throws -> StoreRootKey? {
        var bytes: [UInt8]
        switch self {
        case .file, .directory:
            // Outside the store: an operator's path (links followed, e.g. to a mounted secret store); type, owner
            // and mode checked like an ssh private key.
            guard let b = try Posix.readKeyFile(location(storeId: storeId), limit: 4096) else { return nil }
            bytes = b
        case .descriptor(let fd):
            bytes = try Posix.readAll(fd: fd, limit: 4096, what: "the root key descriptor")
        }
        defer { Sodium.wipe(&bytes) }
        let file = try VaultError.parsing("store root key file") { try RootKeyFile.parse(bytes) }
        return StoreRootKey(secret: file.secret)
    }

    /// Creates a new key at this source (O_EXCL: never replaces one). A descriptor cannot be created.
    func create(storeId: String) throws -> StoreRootKey {
        let key = StoreRootKey(secret: SecureBytes.random(count: 32))
        let path: String
        switch self {
        case .file(let p): path = p
        case .directory(let d): path = "\(d)/\(storeId).key"
        case .descriptor:
            throw VaultError.notFound("the root key descriptor holds no key: create one with 'mikata init' and pass it again")
        }
        try Posix.checkKeyFolder(Posix.parent(of: path))
        try Posix.makeDirectories(Posix.parent(of: path))
        var bytes = RootKeyFile(secret: key.secret).serialize()
        defer { Sodium.wipe(&bytes) }
        // O_CREAT|O_EXCL|O_NOFOLLOW, no temporary and no sweep: the folder is not the store's.
        do { try Posix.writeOutside(path, bytes) } catch VaultError.alreadyExists {
            // Another process made it first (two inits of one store): that key is the key.
            if let existing = try load(storeId: storeId) { return existing }
            throw VaultError.notFound("the store's root key vanished while it was being created")
        }
        return key
    }

    /// The key at this source, made if there is none yet (init, upgrade, restore).
    func loadOrCreate(storeId: String) throws -> StoreRootKey { try load(storeId: storeId) ?? create(storeId: storeId) }
}

/// The store root key (FORMAT.md §7.7) and its subkeys (crypto_kdf, context `mkroot01`): 1 identity entries,
/// 2 vault anchors, 3 sealed store secrets. Everything that authenticates the store's own state is keyed here,
/// so a copy of the store directory alone can neither forge nor move it.
package final class StoreRootKey: Sendable {
    let secret: SecureBytes
    private let identityKey: SecureBytes
    private let anchorKey: SecureBytes
    let sealingKey: SecureBytes
    /// Subkey 5: the access log's per-entry MAC (`AuditLog.macKey`).
    let logKey: SecureBytes
    /// A public name for the key: 8 bytes of a keyed BLAKE2b, in hex. Reveals nothing about the key.
    package let keyId: String

    init(secret: SecureBytes) {
        self.secret = secret
        identityKey = SubkeyDerivation.derive(from: secret, id: 1, context: VaultFormat.Label.rootKDFContext)
        anchorKey = SubkeyDerivation.derive(from: secret, id: 2, context: VaultFormat.Label.rootKDFContext)
        sealingKey = SubkeyDerivation.derive(from: secret, id: 3, context: VaultFormat.Label.rootKDFContext)
        logKey = SubkeyDerivation.derive(from: secret, id: 5, context: VaultFormat.Label.rootKDFContext)
        let h = Blake2b(outputLength: 16, key: SubkeyDerivation.derive(from: secret, id: 4, context: VaultFormat.Label.rootKDFContext))
        h.update(VaultFormat.Label.rootKeyId)
        keyId = Array(h.finalize().prefix(8)).hex
    }

    private static func mac(_ key: SecureBytes, _ message: [UInt8]) -> [UInt8] {
        let h = Blake2b(outputLength: 32, key: key)
        h.update(message)
        return h.finalize()
    }

    func sign(_ entry: IdentityEntry, name: [UInt8]) -> IdentityEntry {
        var e = entry
        e.mac = Self.mac(identityKey, entry.macMessage(name: name))
        return e
    }

    func isAuthentic(_ entry: IdentityEntry, name: [UInt8]) -> Bool {
        Sodium.constantTimeEqual(Self.mac(identityKey, entry.macMessage(name: name)), entry.mac)
    }

    func sign(_ anchor: AnchorFile) -> AnchorFile {
        var a = anchor
        a.mac = Self.mac(anchorKey, anchor.macMessage())
        return a
    }

    func isAuthentic(_ anchor: AnchorFile) -> Bool {
        Sodium.constantTimeEqual(Self.mac(anchorKey, anchor.macMessage()), anchor.mac)
    }

    /// A shred intent's MAC (FORMAT.md §7.7): `KH32(rootSubkey 9, "mikata/v1/shred-intent\0" || canonical JSON of the
    /// intent without its `mac` member)`.
    func mac(shredIntent canonical: [UInt8]) -> [UInt8] {
        let h = Blake2b(outputLength: 32, key: SubkeyDerivation.derive(from: secret, id: 9, context: VaultFormat.Label.rootKDFContext))
        h.update(VaultFormat.Label.shredIntent)
        h.update(canonical)
        return h.finalize()
    }

    /// Whether `mac` is `mac(shredIntent: canonical)` (constant-time comparison).
    func isAuthentic(shredIntent canonical: [UInt8], mac: [UInt8]) -> Bool {
        Sodium.constantTimeEqual(self.mac(shredIntent: canonical), mac)
    }

    /// Seals `secret` as a version 2 file (FORMAT.md §7.6), bound to the store id, the kind and `jurisdiction`.
    func seal(_ secret: SecureBytes, storeId: String, kind: StoreSecretFile.Kind, jurisdiction: String) throws -> SealedStoreSecretFile {
        let nonce = Random.bytes(24)
        let ct = try XChaCha20Poly1305.seal(secret: secret, key: sealingKey, nonce: nonce,
                                            ad: SealedStoreSecretFile.associatedData(storeId: storeId, kind: kind, jurisdiction: jurisdiction))
        return SealedStoreSecretFile(version: 2, nonce: nonce, ciphertext: ct)
    }

    /// Opens a sealed store secret: version 1 under the store id and kind, version 2 also under `jurisdiction`.
    /// - Throws: `VaultError.tampered` (another root key or store, a replaced file; for version 2 also a
    ///   jurisdiction other than the one it was sealed for: the store's description was edited).
    func open(_ file: SealedStoreSecretFile, storeId: String, kind: StoreSecretFile.Kind, jurisdiction: String) throws -> SecureBytes {
        do {
            return try XChaCha20Poly1305.openSecret(file.ciphertext, key: sealingKey, nonce: file.nonce,
                                                    ad: SealedStoreSecretFile.associatedData(storeId: storeId, kind: kind,
                                                                                             jurisdiction: file.version >= 2 ? jurisdiction : nil))
        } catch {
            throw VaultError.tampered(file.version >= 2
                ? "the store's sealed secret does not open with the store root key for jurisdiction \(jurisdiction): the store's description was edited (its jurisdiction changed), or the file was replaced or is another store's"
                : "a sealed store secret does not open with the store root key (replaced, or from another store)")
        }
    }
}

/// A short, readable fingerprint of a public identity (a supporter's keys, a patient's vault id), for people to
/// compare out of band: BLAKE2b-256 over a label and the identity, its first 10 bytes in Crockford base32,
/// grouped 4-4-4-4 (e.g. `7KQ2-M9XD-4TZA-P1C8`). 80 bits: enough against a second-preimage search.
package enum Fingerprint {
    private static let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ")

    package static func of(_ parts: [UInt8]...) -> String {
        let h = Blake2b(outputLength: 32)
        h.update(VaultFormat.Label.fingerprint)
        for p in parts { h.update(p) }
        let bytes = Array(h.finalize().prefix(10))
        var bits = 0, value = 0
        var out: [Character] = []
        for b in bytes {
            value = (value << 8) | Int(b); bits += 8
            while bits >= 5 { bits -= 5; out.append(alphabet[(value >> bits) & 31]) }
            value &= (1 << bits) - 1
        }
        return stride(from: 0, to: out.count, by: 4).map { String(out[$0..<min($0 + 4, out.count)]) }.joined(separator: "-")
    }

    /// A supporter's fingerprint: their id and both public keys.
    package static func supporter(_ keys: SupporterPublicKeys) -> String {
        of(Array("supporter".utf8), keys.id, keys.boxPublicKey, keys.signPublicKey)
    }

    /// A patient's vault fingerprint: the self-certifying vault id.
    package static func vault(_ vaultId: [UInt8]) -> String { of(Array("vault".utf8), vaultId) }

    /// Compares a fingerprint a person typed (any case, with or without dashes or spaces; I/L read as 1, O as 0).
    package static func matches(_ typed: String, _ expected: String) -> Bool {
        func canon(_ s: String) -> [UInt8] {
            Array(s.uppercased().compactMap { c -> Character? in
                switch c {
                case "-", " ": return nil
                case "I", "L": return "1"
                case "O": return "0"
                default: return c
                }
            }.map { $0 }.reduce(into: "") { $0.append($1) }.utf8)
        }
        return Sodium.constantTimeEqual(canon(typed), canon(expected))
    }
}
