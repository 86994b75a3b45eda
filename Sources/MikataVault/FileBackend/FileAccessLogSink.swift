import Synchronization

/// The access log as one file (audit/log.jsonl); its writer is a `FileVaultMedium` on it.
struct FileAccessLogSink: AccessLogSink {
    let path: String
    /// The log's file as the last batch left it, kept open: the next batch locks it and checks with one lstat(2)
    /// that the path still names it, instead of opening the file twice. Every caller holds the `AuditLog`'s writer
    /// lock, so one open file description serves one batch at a time; the flock fences other processes.
    private let kept = KeptFile()

    /// Bytes per read of `forEachLine` and `forEachLineReversed` (1 MiB; tests use a few bytes to cross chunk ends).
    let chunkSize: Int

    init(path: String, chunkSize: Int = 1 << 20) { self.path = path; self.chunkSize = max(1, chunkSize) }

    private final class KeptFile: Sendable {
        let file = Mutex<PosixFile?>(nil)
    }

    func openLocked(creating: Bool) throws -> any AccessLogWriter {
        if !creating, let file = kept.file.withLock({ $0 }) {
            try file.lock(exclusive: true, timeout: 10)
            // Still the file the path names (a prune replaces it by rename), and not emptied since.
            if let current = try? Posix.identity(of: path), current == (try? file.identity()), ((try? file.size()) ?? 0) > 0 {
                return FileVaultMedium(path: path, file: file)
            }
            file.unlock()
            kept.file.withLock { if $0 === file { $0 = nil } }
        }
        if creating { try Posix.makeDirectories(Posix.parent(of: path)) }
        while true {
            let file: PosixFile
            do { file = try PosixFile.open(path, create: creating) } catch VaultError.notFound {
                throw VaultError.tampered("the access log is missing: every store's log starts with its creation, so it was deleted")
            }
            if !creating, try file.size() == 0 {
                throw VaultError.tampered("the access log is empty: every store's log starts with its creation, so it was emptied")
            }
            try file.lock(exclusive: true, timeout: 10)
            // A prune replaces the file by rename: a writer that got the lock on the old inode reopens.
            if let current = try? PosixFile.open(path, readOnly: true).identity(), current == (try file.identity()) {
                kept.file.withLock { $0 = file }
                return FileVaultMedium(path: path, file: file)
            }
            file.unlock()
        }
    }

    func readAll() throws -> [UInt8]? { try Posix.readFile(path) }

    func forEachLine(after: UInt64?, seqOf: (ArraySlice<UInt8>) -> UInt64?, _ body: (ArraySlice<UInt8>) throws -> Bool) throws {
        let file: PosixFile
        do { file = try PosixFile.open(path, readOnly: true) } catch VaultError.notFound { return }
        try AccessLogSeek.lines(in: file, after: after, seqOf: seqOf, chunkSize: chunkSize, body)
    }

    func forEachLineReversed(before: UInt64?, seqOf: (ArraySlice<UInt8>) -> UInt64?, _ body: (ArraySlice<UInt8>) throws -> Bool) throws {
        let file: PosixFile
        do { file = try PosixFile.open(path, readOnly: true) } catch VaultError.notFound { return }
        try AccessLogSeek.linesReversed(in: file, before: before, seqOf: seqOf, chunkSize: chunkSize, body)
    }

    /// A prune: the new file replaces the old by rename, and the kept descriptor on the old one is let go at once
    /// (with the entries the prune dropped). Another process's prune is seen at the next batch.
    func replace(with bytes: [UInt8]) throws {
        try Posix.writeAtomically(path, bytes)
        kept.file.withLock { $0 = nil }
    }
}

extension PosixFile: AccessLogBytes {}
