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
        var object: [String: LineValue] = ["time": .string(Date().formatted(.iso8601)), "level": .string(event.level.rawValue),
                                           "label": .string(label), "message": .string(event.message.description)]
        for (k, v) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) { object[k] = LineValue(v) }
        guard let data = try? Self.encoder.encode(object) else { return }
        write(String(decoding: data, as: UTF8.self))
    }

    /// Foundation's Swift JSON encoder, members sorted (by code point: no locale-aware comparison per key and line).
    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()

    /// A metadata value as it is written: strings, arrays and objects of them.
    indirect enum LineValue: Encodable {
        case string(String)
        case array([LineValue])
        case object([String: LineValue])

        init(_ v: Logger.Metadata.Value) {
            switch v {
            case .string(let s): self = .string(s)
            case .stringConvertible(let c): self = .string(c.description)
            case .array(let a): self = .array(a.map(LineValue.init))
            case .dictionary(let d): self = .object(d.mapValues(LineValue.init))
            }
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .string(let s): try c.encode(s)
            case .array(let a): try c.encode(a)
            case .object(let o): try c.encode(o)
            }
        }
    }
}
