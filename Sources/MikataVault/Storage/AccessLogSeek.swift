/// One log object's bytes, read at offsets: a file's open descriptor, or a snapshot in memory. What `AccessLogSeek`
/// walks; one object throughout, so a prune meanwhile never mixes two logs.
protocol AccessLogBytes {
    /// The object's size in bytes.
    func size() throws -> Int
    /// Up to `count` bytes at `offset` (fewer only at the end).
    func read(at offset: Int, count: Int) throws -> [UInt8]
}

/// A log held in memory, as `AccessLogBytes`.
struct AccessLogSnapshot: AccessLogBytes {
    let bytes: [UInt8]
    func size() -> Int { bytes.count }
    func read(at offset: Int, count: Int) -> [UInt8] {
        let start = min(max(0, offset), bytes.count)
        return Array(bytes[start..<min(bytes.count, start + max(0, count))])
    }
}

/// Streaming the access log's complete lines from a position found by sequence number (docs/FORMAT.md, "Access
/// log"): lines are in non-decreasing sequence order (entries number up from 0, a checkpoint repeats the number of
/// the entry it covers, an anchor opens a pruned log with the first number it keeps), so the first line at or past
/// a number is found by a binary search over byte offsets, reading O(log n) lines, and a page then reads only its
/// own lines: O(page + log n), not O(log).
///
/// The search trusts the order it reads, as the page's filter trusts the lines: someone who can write the log can
/// hide entries from a page (by a line with a high number where the search probes, or simply by deleting lines);
/// `AuditLog.verify` (the hash chain, MACs and signed checkpoints) is what reports it. Where a probed line has no readable number the search gives up and the walk
/// starts at the log's end it would have started from without a search (the start going forward, the end going
/// back), so a damaged line never hides another.
enum AccessLogSeek {
    /// Bytes per probe read while looking for a line's end (most lines are a few hundred bytes).
    static let probeWindow = 4096

    /// The complete line that starts at `start` (without its line feed) and the offset after its line feed; nil
    /// when no line feed follows before `end` (a torn or unfinished last line).
    /// - Throws: `VaultError.corrupted` for a line longer than `AccessLogLines.lineMax`; the read's errors.
    static func line(at start: Int, in log: any AccessLogBytes, end: Int) throws -> (line: [UInt8], next: Int)? {
        var line: [UInt8] = []
        var offset = start
        while offset < end {
            let chunk = try log.read(at: offset, count: min(probeWindow, end - offset))
            if chunk.isEmpty { return nil }
            if let lf = chunk.firstIndex(of: 10) {
                line += chunk[..<lf]
                return (line, offset + lf + 1)
            }
            line += chunk
            offset += chunk.count
            try checkLength(line.count)
        }
        return nil
    }

    /// The offset where the first line starting at or after `offset` starts, looking no further than `limit`
    /// (`limit` if none starts before it: a search never reads past the range it still has to decide).
    static func lineStart(atOrAfter offset: Int, in log: any AccessLogBytes, limit: Int) throws -> Int {
        guard offset > 0 else { return 0 }
        var at = offset - 1  // the byte before: a line starts at `offset` if it is a line feed
        while at < limit - 1 {
            let chunk = try log.read(at: at, count: min(probeWindow, limit - 1 - at))
            if chunk.isEmpty { return limit }
            if let lf = chunk.firstIndex(of: 10) { return at + lf + 1 }
            at += chunk.count
        }
        return limit
    }

    /// The start of the first complete line whose sequence number (`seqOf`) satisfies `isPast`, a predicate that is
    /// false and then true along the log (`seq > n`, `seq >= n`); `end` when no line does. nil when a probed line's
    /// number cannot be read (the caller then walks from its end of the log).
    static func firstLine(where isPast: (UInt64) -> Bool, seqOf: (ArraySlice<UInt8>) -> UInt64?,
                          in log: any AccessLogBytes, end: Int) throws -> Int? {
        // Every line starting before `low` is not past; the first that is starts in [low, high), or is `found`.
        var low = 0, high = end, found = end
        while low < high {
            let mid = low + (high - low) / 2
            let start = try lineStart(atOrAfter: mid, in: log, limit: high)
            guard start < high else { high = mid; continue }  // no line starts in [mid, high)
            guard let probe = try line(at: start, in: log, end: end) else { high = start; continue }  // torn tail
            guard let seq = seqOf(probe.line[...]) else { return nil }
            if isPast(seq) { found = start; high = start } else { low = probe.next }
        }
        return found
    }

    /// Hands `body` each complete line from the one starting at `offset` (a line start) on, in order, read
    /// `chunkSize` bytes at a time, until `body` returns false. A last line without its line feed is not delivered.
    /// - Throws: `VaultError.corrupted` for a line longer than `AccessLogLines.lineMax`; what `body` or the read throws.
    static func forward(_ log: any AccessLogBytes, from offset: Int, chunkSize: Int, _ body: (ArraySlice<UInt8>) throws -> Bool) throws {
        let end = try log.size()
        var offset = offset
        var pending: [UInt8] = []  // an unfinished line carried into the next chunk
        while offset < end {
            let chunk = try log.read(at: offset, count: min(chunkSize, end - offset))
            if chunk.isEmpty { return }
            offset += chunk.count
            let bytes = pending.isEmpty ? chunk : pending + chunk
            guard let rest = try AccessLogLines.split(bytes[...], body) else { return }
            pending = Array(bytes[rest...])
            try checkLength(pending.count)
        }
    }

    /// Hands `body` each complete line that ends before `offset`, newest first, read `chunkSize` bytes at a time
    /// backwards, until `body` returns false. Bytes after the last line feed before `offset` (a torn or unfinished
    /// line) are not delivered.
    /// - Throws: `VaultError.corrupted` for a line longer than `AccessLogLines.lineMax`; what `body` or the read throws.
    static func backward(_ log: any AccessLogBytes, before offset: Int, chunkSize: Int, _ body: (ArraySlice<UInt8>) throws -> Bool) throws {
        var position = min(offset, try log.size())
        // The tail of a line that starts before `position`, through its line feed (empty at first).
        var carry: [UInt8] = []
        var first = true
        var dropped = 0
        var delivered = false
        while position > 0 {
            let start = max(0, position - chunkSize)
            let chunk = try log.read(at: start, count: position - start)
            guard chunk.count == position - start else {
                // The log shrank under the walk: a writer took back a failed batch or cut a torn line (a prune
                // renames a new file in, and this descriptor keeps the old one). Before any line went out, start
                // again from its new end; after, the page cannot be finished truthfully: busy, try again.
                guard !delivered else { throw VaultError.busy("the access log changed during the read: try again") }
                position = min(position, try log.size())
                carry = []
                first = true
                dropped = 0
                continue
            }
            var bytes = carry.isEmpty ? chunk : chunk + carry
            if first {
                // Drop what follows the last line feed: a line still being written, or torn; never more than a line.
                guard let lastFeed = bytes.lastIndex(of: 10) else {
                    dropped += bytes.count
                    try checkLength(dropped)
                    position = start  // all of this chunk is that line
                    continue
                }
                try checkLength(dropped + bytes.count - lastFeed - 1)
                first = false
                bytes.removeSubrange((lastFeed + 1)...)
            }
            // `bytes` ends with a line feed: the lines after its first line feed are whole, the one before it is
            // whole only at the start of the log.
            var lineEnd = bytes.count - 1
            while let previous = bytes[..<lineEnd].lastIndex(of: 10) {
                try checkLength(lineEnd - previous - 1)
                delivered = true
                if try !body(bytes[(previous + 1)..<lineEnd]) { return }
                lineEnd = previous
            }
            if start == 0 {
                try checkLength(lineEnd)
                _ = try body(bytes[0..<lineEnd])
                return
            }
            carry = Array(bytes[0..<(lineEnd + 1)])
            try checkLength(lineEnd)
            position = start
        }
    }

    /// A line of `length` bytes is at most `AccessLogLines.lineMax`.
    /// - Throws: `VaultError.corrupted` otherwise.
    private static func checkLength(_ length: Int) throws {
        guard length <= AccessLogLines.lineMax else {
            throw VaultError.corrupted("the access log holds a line longer than \(AccessLogLines.lineMax) bytes: it was altered")
        }
    }
}

extension AccessLogSeek {
    /// `AccessLogSink.forEachLine(after:seqOf:_:)` over one object's bytes.
    static func lines(in log: any AccessLogBytes, after: UInt64?, seqOf: (ArraySlice<UInt8>) -> UInt64?, chunkSize: Int,
                      _ body: (ArraySlice<UInt8>) throws -> Bool) throws {
        var start = 0
        if let after { start = try firstLine(where: { $0 > after }, seqOf: seqOf, in: log, end: try log.size()) ?? 0 }
        try forward(log, from: start, chunkSize: chunkSize, body)
    }

    /// `AccessLogSink.forEachLineReversed(before:seqOf:_:)` over one object's bytes.
    static func linesReversed(in log: any AccessLogBytes, before: UInt64?, seqOf: (ArraySlice<UInt8>) -> UInt64?, chunkSize: Int,
                              _ body: (ArraySlice<UInt8>) throws -> Bool) throws {
        let end = try log.size()
        var start = end
        if let before { start = try firstLine(where: { $0 >= before }, seqOf: seqOf, in: log, end: end) ?? end }
        try backward(log, before: start, chunkSize: chunkSize, body)
    }
}
