import MikataCrypto
import MikataFormat

/// Write-only services' key files (FORMAT.md §7.12), kept by the service outside the store: written once as a new
/// 0600 file (O_EXCL temporary, fsync, link: never replacing a file), read straight into guarded memory.
extension ServiceIdentity {
    /// Writes the identity's key file to `path`, a new file.
    /// - Throws: `VaultError.alreadyExists` (the file exists), `.io`.
    package func writeKeyFile(to path: String) throws {
        let file = ServiceKeyFile.serialize(id: id, seed: seed)
        var bytes = file.unsafeCopyToArray()  // the write(2) needs an array; wiped as soon as it is written
        defer { Sodium.wipe(&bytes) }
        try Posix.writeOutside(path, bytes)
    }

    /// Reads a service key file.
    /// - Throws: `VaultError.notFound` (no such file), `.notPermitted` (not a regular file, another user's, or open
    ///   to other users), `.invalidInput` (not a service key file: the caller gave the wrong file), `.unsupported` (a
    ///   later version), `.io`.
    package static func readKeyFile(_ path: String) throws -> ServiceIdentity {
        // Outside the store, like the root key: links followed (mounted secret stores), a regular file of this user
        // or root that nobody else can read or write (`.notPermitted` otherwise), opened non-blocking.
        var raw: [UInt8]
        do {
            guard let r = try Posix.readKeyFile(path, limit: ServiceKeyFile.maximumSize, what: "service key") else {
                throw VaultError.notFound("cannot read the service key file")
            }
            raw = r
        } catch VaultError.corrupted {
            throw VaultError.invalidInput("that is not a MikataVault service key file (it is larger than one)")
        }
        let file = SecureBytes(wiping: &raw)
        let parsed: (id: [UInt8], seed: SecureBytes)
        do { parsed = try ServiceKeyFile.parse(file) } catch let e as FormatError {
            if case .unsupportedVersion = e { throw VaultError.unsupported("service key file: \(e)") }
            throw VaultError.invalidInput("that is not a MikataVault service key file (\(e))")
        }
        return try ServiceIdentity(id: parsed.id, seed: parsed.seed)
    }
}
