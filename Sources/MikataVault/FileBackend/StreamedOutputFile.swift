#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MikataCrypto
import MikataFormat

/// A new file outside the store written piece by piece (`mikata photo get --out`), with `Posix.writeOutside`'s
/// rules: the bytes go to a 0600 temporary beside the target (`.<name>.partial-<random>`, O_EXCL|O_NOFOLLOW), which
/// `commit` fsyncs and links to the target's name (link(2) never replaces an existing file), then fsyncs the folder.
/// Until then nothing exists under the name asked for; a temporary not committed is removed when the value goes.
/// Not thread-safe: one writer.
package final class StreamedOutputFile {
    private let path: String
    private let temp: String
    private let file: PosixFile
    private var offset = 0

    /// Creates the temporary beside `path`.
    /// - Throws: `VaultError.alreadyExists` (`path` exists: checked again at `commit`), `.io`.
    package init(creatingNew path: String) throws {
        guard !Posix.exists(path) else { throw VaultError.alreadyExists("the output file exists already (it is never replaced); choose a new name") }
        let name = path.split(separator: "/", omittingEmptySubsequences: false).last.map(String.init) ?? path
        self.path = path
        temp = "\(Posix.parent(of: path))/.\(name).partial-\(Random.bytes(6).hex)"
        file = try PosixFile.createOutside(temp)
    }

    /// Appends `bytes`.
    /// - Throws: `VaultError.io`.
    package func write(_ bytes: [UInt8]) throws {
        try file.write(bytes, at: offset)
        offset += bytes.count
    }

    /// fsync, link to the target name, fsync of the folder.
    /// - Throws: `VaultError.alreadyExists` (a file appeared under the name meanwhile), `.io`.
    package func commit() throws {
        try file.sync()
        let linked = PathBytes.withCString(temp) { t in PathBytes.withCString(path) { link(t, $0) } }
        if linked != 0 {
            let e = errno
            if e == EEXIST { throw VaultError.alreadyExists("the output file exists already (it is never replaced); choose a new name") }
            throw Posix.error("link", e, path)
        }
        do { try Posix.syncDirectory(Posix.parent(of: path)) } catch {
            _ = PathBytes.withCString(path) { unlink($0) }  // ours, linked a moment ago; not durable, so not written
            throw error
        }
    }

    deinit { _ = PathBytes.withCString(temp) { unlink($0) } }
}
