import Foundation
public import Logging
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

    /// Writes one line.
    public func log(event: LogEvent) {
        var object: [String: Any] = ["time": Date().formatted(.iso8601), "level": event.level.rawValue, "label": label,
                                     "message": event.message.description]
        for (k, v) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) { object[k] = Self.json(v) }
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        write(String(decoding: data, as: UTF8.self))
    }

    static func json(_ v: Logger.Metadata.Value) -> Any {
        switch v {
        case .string(let s): return s
        case .stringConvertible(let c): return c.description
        case .array(let a): return a.map(json)
        case .dictionary(let d): return d.mapValues(json)
        }
    }
}
