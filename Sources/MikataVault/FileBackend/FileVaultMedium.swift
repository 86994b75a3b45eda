import MikataCrypto

/// A vault file of the local-directory store (docs/FORMAT.md): one `PosixFile` open on the path, flock for the
/// lock, the inode for the identity, rename for a replacement. The bytes are the vault format's bytes exactly.
final class FileVaultMedium: VaultMedium {
    let path: String
    let file: PosixFile

    init(path: String, file: PosixFile) { self.path = path; self.file = file }

    /// Opens the vault file at `path` for reading and writing.
    /// - Throws: `VaultError.notFound` if there is none; what `PosixFile.open` throws for anything else at the path.
    static func open(_ path: String, readOnly: Bool = false) throws -> FileVaultMedium {
        do { return FileVaultMedium(path: path, file: try PosixFile.open(path, readOnly: readOnly)) } catch VaultError.notFound {
            throw VaultError.notFound("vault file not found")
        }
    }

    var name: String { path }

    func identity() throws -> MediumIdentity {
        let i = try file.identity()
        return MediumIdentity(high: i.device, low: i.inode)
    }

    func size() throws -> Int { try file.size() }
    func read(at offset: Int, count: Int) throws -> [UInt8] { try file.read(at: offset, count: count) }
    func read(at offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws -> Int { try file.read(at: offset, into: buffer) }
    func readAll() throws -> [UInt8] { try file.readAll() }
    func writeHeaderCopy(_ bytes: [UInt8], at offset: Int) throws { try file.write(bytes, at: offset) }

    func append(_ bytes: [UInt8], atExpectedEnd end: Int) throws {
        // Under the exclusive flock nobody else moves the end; the check keeps the contract a lock-free backend needs.
        guard try file.size() == end else { throw VaultError.busy("the vault's end moved under this writer (another writer?)") }
        try file.write(bytes, at: end)
    }

    func truncate(to end: Int) throws { try file.truncate(to: end) }
    func syncData() throws { try file.syncData() }
    func lock(exclusive: Bool, timeout: Double) throws { try file.lock(exclusive: exclusive, timeout: timeout) }
    func unlock() { file.unlock() }

    func isCurrent() throws -> Bool { try Posix.identity(of: path) == file.identity() }

    func reopened() throws -> any VaultMedium { FileVaultMedium(path: path, file: try PosixFile.open(path)) }

    func replacing(with bytes: [UInt8]) throws -> any VaultMedium {
        FileVaultMedium(path: path, file: try Posix.replaceAtomically(path, bytes))
    }
}

extension Vault {
    /// Opens the vault file at `path` (the local-directory backend).
    convenience init(path: String, erasureSecret: SecureBytes, anchor: VaultAnchor, lockTimeout: Double = 10,
                     expectedVaultId: [UInt8]? = nil) throws {
        try self.init(medium: FileVaultMedium.open(path), erasureSecret: erasureSecret, anchor: anchor, lockTimeout: lockTimeout,
                      expectedVaultId: expectedVaultId)
    }

    /// `loadHeader` of a vault file opened by the caller (backups, upgrades, tests).
    static func loadHeader(file: PosixFile) throws -> LoadedHeader {
        try loadHeader(medium: FileVaultMedium(path: file.path, file: file))
    }
}
