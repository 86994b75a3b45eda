import Foundation
public import Logging
import MikataFormat

/// A swift-log handler writing one JSON object per line (JSON Lines) to standard error: `time` (ISO 8601 UTC),
/// `level`, `label`, `message` and the metadata as members (Hummingbird's request id is `hb.request.id`).
/// swift-log ships no JSON handler; this is the few lines it takes. What is logged is chosen by the callers, which
/// never pass a password, token, key, e-mail, nickname or record content (tested: ServerLogCanaryTests).
public struct JSONLogHandler: LogHandler {
    /// The logger's label.
    public let label: String
    /// The least severe level written.
    public var logLevel: Logger.Level
    /// Metadata on every line.
    public var metadata: Logger.Metadata = [:]
    /// Takes one line (UTF-8, no line feed).
    let write: @Sendable ([UInt8]) -> Void

    /// A handler writing to standard error through `LogLineWriter.standardError` (the caller never waits on the
    /// descriptor), or to `write` (tests: each line as it is logged).
    public init(label: String, level: Logger.Level = .info, write: (@Sendable (String) -> Void)? = nil) {
        self.label = label
        logLevel = level
        if let write {
            self.write = { write(String(decoding: $0, as: UTF8.self)) }
        } else {
            self.write = { LogLineWriter.standardError.enqueue($0) }
        }
    }

    /// Reads or sets one metadata value.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Writes one line: the members sorted by name, metadata over the four fixed members of the same name, then the
    /// event's metadata over the handler's. Serialized by the project's RFC 8785 serializer (`CanonicalJSON`), which
    /// sorts and escapes as Foundation's `JSONEncoder` with `.sortedKeys` did, at a tenth of its cost per line (one
    /// line per request: `make bench-server` showed the encoder at 8 % of the server's CPU on appends).
    public func log(event: LogEvent) {
        var members: [String: MikataFormat.JSONValue] = [
            "time": .string(Self.now()), "level": .string(event.level.rawValue),
            "label": .string(label), "message": .string(event.message.description),
        ]
        for (k, v) in metadata { members[k] = Self.value(v) }
        for (k, v) in event.metadata ?? [:] { members[k] = Self.value(v) }
        write(CanonicalJSON.serialize(.object(members.map { ($0.key, $0.value) })))
    }

    /// The time of a line: ISO 8601 UTC with milliseconds (`2026-12-01T05:15:27.123Z`).
    static func now() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return ISO8601Time.string(millis: Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec / 1_000_000))
    }

    /// A metadata value as it is written: strings, arrays and objects of them.
    static func value(_ v: Logger.Metadata.Value) -> MikataFormat.JSONValue {
        switch v {
        case .string(let s): return .string(s)
        case .stringConvertible(let c): return .string(c.description)
        case .array(let a): return .array(a.map(value))
        case .dictionary(let d): return .object(d.map { ($0.key, value($0.value)) })
        }
    }
}

/// Log lines on their way to a descriptor (standard error), written by a thread of their own: a request's task only
/// copies its line into memory, so a slow reader of the log (a full pipe, a stalled journal) never holds a thread of
/// Swift's cooperative pool (docs/ARCHITECTURE.md, "Nothing blocks the caller"). The writer takes everything queued
/// since its last write and writes it with one `write(2)` (looping on short writes and `EINTR`), so a busy server
/// makes a few large writes instead of one per request.
///
/// At most `capacityBytes` wait. A line that would go beyond is dropped and counted (`droppedTotal`, metric
/// `mikata_log_lines_dropped_total`), and a warning line giving the number dropped stands where they are missing:
/// the log says where it has a gap. A process killed with SIGKILL loses what was still queued;
/// `mikata serve` calls `flush()` after a graceful shutdown. A write that fails (the descriptor closed) drops its
/// batch, as a failed write to standard error would have lost the line.
public final class LogLineWriter: @unchecked Sendable {
    /// The writer for standard error (descriptor 2), 4 MiB of lines at most in memory; its thread starts at the
    /// first line.
    public static let standardError = LogLineWriter(descriptor: 2)

    /// The most bytes of lines (line feeds included) waiting at once.
    public let capacityBytes: Int
    private let descriptor: Int32
    /// Guards every member below (`@unchecked Sendable`: nothing else reads or writes them) and wakes the writer
    /// (a line, a drop) and `flush` (a batch written).
    private let condition = NSCondition()
    private var pending: [UInt8] = []
    private var spare: [UInt8] = []
    private var droppedSinceReport = 0
    /// Where in `pending` the lines dropped since the last report are missing (the report goes there).
    private var gapOffset = 0
    private var dropped = 0
    private var writing = false
    private var writerIdle = false
    private var started = false

    /// - Parameters:
    ///   - descriptor: an open file descriptor, written with `write(2)`; not closed by the writer.
    ///   - capacityBytes: the bound on queued bytes (at least 64 KiB).
    public init(descriptor: Int32, capacityBytes: Int = 4 << 20) {
        self.descriptor = descriptor
        self.capacityBytes = max(capacityBytes, 64 << 10)
    }

    /// Lines dropped because the queue was full, since the writer was made.
    public var droppedTotal: Int { condition.lock(); defer { condition.unlock() }; return dropped }

    /// Queues `line` and a line feed for the writer thread; never waits on the descriptor.
    /// - Returns: false if the line was dropped (the queue holds `capacityBytes`).
    @discardableResult
    public func enqueue(_ line: [UInt8]) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if !started {
            started = true
            let thread = Thread { [self] in run() }
            thread.name = "mikata-log"
            thread.start()
        }
        guard pending.count + line.count + 1 <= capacityBytes else {
            if droppedSinceReport == 0 { gapOffset = pending.count }
            dropped += 1
            droppedSinceReport += 1
            return false
        }
        pending += line
        pending.append(10)
        if writerIdle { writerIdle = false; condition.broadcast() }
        return true
    }

    /// Waits until every line queued before the call is written (or its write failed).
    public func flush() {
        condition.lock()
        defer { condition.unlock() }
        while started && (!pending.isEmpty || writing || droppedSinceReport > 0) { condition.wait() }
    }

    private func run() {
        while true {
            condition.lock()
            while pending.isEmpty && droppedSinceReport == 0 {
                writerIdle = true
                condition.broadcast()  // a `flush` waiting for the last batch
                condition.wait()
            }
            writerIdle = false
            var batch: [UInt8] = []
            swap(&batch, &pending)  // the lines out, and the buffer written last time in (emptied, its capacity kept)
            swap(&pending, &spare)
            let gap = droppedSinceReport, at = gapOffset
            droppedSinceReport = 0
            gapOffset = 0
            writing = true
            condition.unlock()

            if gap > 0 { batch.insert(contentsOf: Self.dropReport(gap), at: at) }
            Self.writeAll(descriptor, batch)

            condition.lock()
            batch.removeAll(keepingCapacity: true)
            spare = batch
            writing = false
            condition.broadcast()
            condition.unlock()
        }
    }

    /// The warning line that tells a reader of the log `count` lines are missing before it.
    static func dropReport(_ count: Int) -> [UInt8] {
        CanonicalJSON.serialize(.object([
            ("time", .string(JSONLogHandler.now())), ("level", .string("warning")), ("label", .string("mikata.log")),
            ("message", .string("log lines dropped: the log's reader fell behind")), ("dropped", .string(String(count))),
        ])) + [10]
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
        bytes.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + done, raw.count - done)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return }
                done += n
            }
        }
    }
}
