import MikataCrypto
import MikataFormat

/// Key files (FORMAT.md §7.1, §7.5, §7.6) are read straight into guarded memory and parsed there: the secret never
/// sits in an ordinary array that the allocator could hand out again, swap or dump unwiped.
extension Store {
    /// The largest key file accepted: every one is under 100 bytes; anything bigger is refused before it is read.
    static let keyFileMaximum = 4096

    /// A store-wide secret (lookup key, signing seed); nil if its file does not exist.
    static func readStoreSecret(_ path: String, as kind: StoreSecretFile.Kind, what: String) throws -> SecureBytes? {
        guard let file = try Posix.readSecretFile(path, maxCount: keyFileMaximum) else { return nil }
        return try VaultError.parsing(what) { try StoreSecretFile.parse(file, as: kind) }.secret
    }

    /// A vault's erasure secret file; nil if it does not exist (shredded, or the key store is incomplete).
    static func readErasureSecret(_ path: String) throws -> ErasureSecretFile? {
        guard let file = try Posix.readSecretFile(path, maxCount: keyFileMaximum) else { return nil }
        return try VaultError.parsing("erasure secret file") { try ErasureSecretFile.parse(file) }
    }
}
