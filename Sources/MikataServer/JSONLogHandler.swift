import Foundation
public import Logging
import MikataFormat
import Synchronization

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
    let write: @Sendable (String) -> Void

    /// A handler writing to standard error, or to `write` (tests).
    public init(label: String, level: Logger.Level = .info, write: (@Sendable (String) -> Void)? = nil) {
        self.label = label
        logLevel = level
        self.write = write ?? { line in
            let data = Array((line + "\n").utf8)
            JSONLogHandler.stderrLock.withLock { _ in FileHandle.standardError.write(Data(data)) }
        }
    }

    static let stderrLock = Mutex(())

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
        let line = CanonicalJSON.serialize(.object(members.map { ($0.key, $0.value) }))
        write(String(decoding: line, as: UTF8.self))
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
