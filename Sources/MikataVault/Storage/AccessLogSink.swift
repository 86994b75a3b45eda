/// The store's access log as bytes (docs/OPERATIONS.md, "The access log"): a file of lines, one writer at a time.
/// `AuditLog` decides every line (hash chain, MACs, signed checkpoints) and batches concurrent appends (group
/// commit: one lock, one write and one sync per batch); the sink stores, fences and syncs.
///
/// Files: audit/log.jsonl, flock for the writer, pwrite + fdatasync, rename for a prune. PostgreSQL: a table of
/// lines keyed by (store, line number) with a unique constraint; a batch is one INSERT of many rows in one
/// transaction under an advisory lock; a prune deletes and inserts in one transaction.
protocol AccessLogSink: Sendable {
    /// Opens the log and takes its writer lock, reattaching if a prune replaced it meanwhile. `creating` makes the
    /// log (the store's first entry); without it a missing or empty log is `VaultError.tampered`: every store's
    /// log starts with its creation, so it was deleted or emptied.
    func openLocked(creating: Bool) throws -> any AccessLogWriter

    /// Every byte of the log; nil if there is none.
    func readAll() throws -> [UInt8]?

    /// The log's complete lines in order (each without its line feed), read a chunk at a time from one object
    /// (a prune meanwhile does not mix two logs), until `body` returns false: memory O(chunk + longest line),
    /// not O(log). A last line still without its line feed (being written) is not delivered; no log, no lines.
    /// Files: pread of 1 MiB chunks from one open descriptor. Others: `readAll` split (the default).
    func forEachLine(_ body: (ArraySlice<UInt8>) throws -> Bool) throws

    /// `forEachLine` from the first line whose sequence number (`seqOf`, read from a line's bytes) is above `after`
    /// (from the first line if nil), found without reading the lines before it where the backend can: files by a
    /// binary search over byte offsets (`AccessLogSeek`), O(log n) lines read. Later lines are delivered whatever
    /// their numbers (the caller filters).
    func forEachLine(after: UInt64?, seqOf: (ArraySlice<UInt8>) -> UInt64?, _ body: (ArraySlice<UInt8>) throws -> Bool) throws

    /// The log's complete lines newest first, from the last whose sequence number is below `before` (from the last
    /// line if nil), until `body` returns false; found and read as `forEachLine(after:seqOf:_:)`, backwards a chunk at
    /// a time. Earlier lines are delivered whatever their numbers (the caller filters).
    func forEachLineReversed(before: UInt64?, seqOf: (ArraySlice<UInt8>) -> UInt64?, _ body: (ArraySlice<UInt8>) throws -> Bool) throws

    /// Replaces the whole log at once (a prune), the writer lock held.
    func replace(with bytes: [UInt8]) throws
}

/// The log under its writer lock, for one batch. The same requirements as a vault medium's (`VaultMedium`):
/// `append` at the end the writer read, failing on a race; `truncate` takes back a failed batch or a torn line.
protocol AccessLogWriter: Sendable {
    func identity() throws -> MediumIdentity
    func size() throws -> Int
    func read(at offset: Int, count: Int) throws -> [UInt8]
    func append(_ bytes: [UInt8], atExpectedEnd end: Int) throws
    func truncate(to end: Int) throws
    func syncData() throws
    func unlock()
}

extension AccessLogSink {
    func forEachLine(_ body: (ArraySlice<UInt8>) throws -> Bool) throws {
        try forEachLine(after: nil, seqOf: { _ in nil }, body)
    }
}

/// Splitting a log's bytes into lines, for the sinks.
enum AccessLogLines {
    /// The longest line a streamed read carries over between chunks (1 MiB; an entry is a few hundred bytes, a
    /// checkpoint or an anchor a few kilobytes). A longer one is `VaultError.corrupted`.
    static let lineMax = 1 << 20

    /// Hands `body` each line of `bytes` that ends in a line feed; returns the index after the last one (where an
    /// unfinished line starts), or nil once `body` returned false.
    static func split(_ bytes: ArraySlice<UInt8>, _ body: (ArraySlice<UInt8>) throws -> Bool) throws -> Int? {
        var start = bytes.startIndex
        while let end = bytes[start...].firstIndex(of: 10) {
            if try !body(bytes[start..<end]) { return nil }
            start = end + 1
        }
        return start
    }
}

extension FileVaultMedium: AccessLogWriter {}
extension MemoryVaultMedium: AccessLogWriter {}
