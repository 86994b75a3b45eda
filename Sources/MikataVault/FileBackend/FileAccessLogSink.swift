/// The access log as one file (audit/log.jsonl); its writer is a `FileVaultMedium` on it.
struct FileAccessLogSink: AccessLogSink {
    let path: String

    func openLocked(creating: Bool) throws -> any AccessLogWriter {
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
                return FileVaultMedium(path: path, file: file)
            }
            file.unlock()
        }
    }

    func readAll() throws -> [UInt8]? { try Posix.readFile(path) }

    func replace(with bytes: [UInt8]) throws { try Posix.writeAtomically(path, bytes) }
}
