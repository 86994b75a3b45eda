package import MikataCrypto

// What the service layer keeps of an unlocked session between operations: the credential, never a `Vault` handle.
// Each operation rebuilds a `VaultSession` from it, so a session sees every header change (a grant, a revocation,
// a re-key by another process or node) at its next operation: `Vault.prepare` rebuilds the keyring from the current
// key state and checks the credential against it.
extension VaultSession {
    /// A patient's session from their owner key (checked against the vault's header at first use).
    package convenience init(ownerKey: SecureBytes) { self.init(unlock: .owner(ownerKey)) }
    /// A supporter's session on a vault (their share is checked at first use).
    package convenience init(supporter: SupporterIdentity) { self.init(unlock: .supporter(supporter)) }
    /// A write-only service's session (its authorisation is checked by `Vault.session(service:)` and at append).
    package convenience init(service: ServiceIdentity) { self.init(unlock: .service(service)) }

    /// The owner key of a patient's session; nil for supporters and services.
    package var ownerKey: SecureBytes? {
        if case .owner(let k) = unlock { return k }
        return nil
    }
}

extension ServiceIdentity {
    /// A service identity from its id (16 bytes) and Ed25519 seed (32 bytes), as a service key file holds them.
    /// - Throws: `VaultError.invalidInput` for wrong lengths.
    package init(id: [UInt8], seed: SecureBytes) throws {
        guard id.count == 16, seed.count == SigningKeyPair.seedLength else {
            throw VaultError.invalidInput("a service key is a 16-byte id and a 32-byte Ed25519 seed")
        }
        self.init(id: id, signing: try SigningKeyPair.fromSeed(seed))
    }

    /// The Ed25519 seed, for writing the service's key file.
    package var seed: SecureBytes { signing.seed }
}

