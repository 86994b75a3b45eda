import MikataFormat

/// Where each vault's erasure secret lives (FORMAT.md §6, §7.1), apart from the vault's frames: destroying it
/// makes every record of the vault undecryptable wherever copies of the frames survive (crypto-erasure). Kept
/// outside the frames' storage so that no backup or replica of the frames carries it.
///
/// Files: keys/vaults/<ab>/<id>.key, read into guarded memory, shredded by an in-place overwrite (NIST SP 800-88
/// Clear) before the unlink. PostgreSQL: a row per vault in another database (or a KMS) than the frames', deleted
/// in a transaction of its own; the database's own erasure story (VACUUM, WAL retention, backups) bounds how soon
/// the deleted row is unrecoverable, which the deployment must document.
protocol ErasureSecretStore: Sendable {
    /// The vault's secret, or nil if it has none (shredded, or never created).
    func secret(of vaultId: [UInt8]) throws -> ErasureSecretFile?

    /// Stores a new vault's secret durably; fails if the vault already has one.
    func create(_ secret: ErasureSecretFile) throws

    /// Destroys the vault's secret beyond recovery; returns how many bytes were destroyed (0 if none was there).
    func destroy(vaultId: [UInt8], lockTimeout: Double) throws -> Int

    /// Takes back a secret that `create` stored for a vault whose creation then failed (no record was written).
    func discard(vaultId: [UInt8])
}
