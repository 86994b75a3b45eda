import MikataCrypto
import MikataFormat

/// The key store's erasure secrets as files: `<root>/keys/vaults/<shard>/<vault id hex>.key` (FORMAT.md §7.1).
struct FileErasureSecretStore: ErasureSecretStore {
    let root: String

    func path(_ vaultId: [UInt8]) -> String { "\(root)/keys/vaults/\(Store.shard(vaultId))/\(vaultId.hex).key" }

    func secret(of vaultId: [UInt8]) throws -> ErasureSecretFile? { try Store.readErasureSecret(path(vaultId)) }

    func create(_ secret: ErasureSecretFile) throws {
        var bytes = secret.serialize()
        defer { Sodium.wipe(&bytes) }
        try Posix.makeDirectories(Posix.parent(of: path(secret.vaultId)))
        try Posix.writeNew(path(secret.vaultId), bytes)
    }

    /// The secret is overwritten in place (it was written once, never renamed), synced, then unlinked.
    func destroy(vaultId: [UInt8], lockTimeout: Double) throws -> Int {
        try Store.overwriteAndRemove(path(vaultId), lockTimeout: lockTimeout)
    }

    func discard(vaultId: [UInt8]) { try? Posix.remove(path(vaultId)) }
}
