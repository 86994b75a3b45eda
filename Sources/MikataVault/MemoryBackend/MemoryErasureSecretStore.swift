import MikataCrypto
import MikataFormat
import Synchronization

/// Erasure secrets in memory, for fast tests: each one a guarded copy, dropped (and so zeroed) when destroyed.
final class MemoryErasureSecretStore: ErasureSecretStore {
    private let secrets = Mutex<[[UInt8]: SecureBytes]>([:])

    init() {}

    func secret(of vaultId: [UInt8]) throws -> ErasureSecretFile? {
        secrets.withLock { $0[vaultId] }.map { ErasureSecretFile(vaultId: vaultId, secret: $0) }
    }

    func create(_ secret: ErasureSecretFile) throws {
        try secrets.withLock { s in
            guard s[secret.vaultId] == nil else { throw VaultError.alreadyExists("the vault already has an erasure secret") }
            s[secret.vaultId] = secret.secret
        }
    }

    func destroy(vaultId: [UInt8], lockTimeout: Double) throws -> Int {
        secrets.withLock { $0.removeValue(forKey: vaultId)?.count ?? 0 }
    }

    func discard(vaultId: [UInt8]) { secrets.withLock { _ = $0.removeValue(forKey: vaultId) } }
}
