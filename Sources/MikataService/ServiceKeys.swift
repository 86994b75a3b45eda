import MikataCrypto
import MikataFormat
import MikataVault

// A write-only service keeps its key in a file of its own (docs/FORMAT.md §7.12), never in the store.

extension ServiceKey {
    /// Reads a service key file into guarded memory.
    /// - Parameters:
    ///   - path: the key file (written by `write(to:)` or `mikata service create`).
    /// - Throws: `MikataError` `.notFound` (no such file), `.invalidInput` (not a service key file: the wrong file
    ///   was given), `.unsupported` (a later version of the format), `.io`.
    public static func read(path: String) async throws -> ServiceKey {
        try await BlockingPool.shared.run { ServiceKey(identity: try ServiceIdentity.readKeyFile(path)) }
    }

    /// Writes the key to `path`, a new file (mode 0600; never replaces one: an O_EXCL temporary beside it, fsync,
    /// link, fsync of the folder).
    /// - Throws: `MikataError` `.alreadyExists` (the file exists), `.io`.
    public func write(to path: String) async throws {
        let identity = self.identity
        try await BlockingPool.shared.run { try identity.writeKeyFile(to: path) }
    }
}

extension Identifier where Kind == VaultKind {
    /// The vault's fingerprint (e.g. `7KQ2-M9XD-4TZA-P1C8`), which a supporter compares with what the patient says.
    public var fingerprint: String { Fingerprint.vault(bytes) }
}
