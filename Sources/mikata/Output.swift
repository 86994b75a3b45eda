import Foundation
#if canImport(Glibc)
import Glibc
#endif
import MikataVault

/// Exit codes of the CLI contract (sysexits.h values).
enum Exit {
    static let ok: Int32 = 0
    static let failure: Int32 = 1
    static let usage: Int32 = 64
    static let dataError: Int32 = 65
    static let notFound: Int32 = 66
    static let busy: Int32 = 75
    static let denied: Int32 = 77

    static func code(for error: VaultError) -> Int32 {
        switch error {
        case .notFound, .erased: return notFound
        case .authenticationFailed, .notPermitted: return denied
        case .corrupted, .tampered, .unsupported: return dataError
        case .busy: return busy
        case .invalidInput: return usage
        case .alreadyExists, .io: return failure
        }
    }
}

/// One line `mikata: error: ...` on stderr, optionally a `mikata: hint: ...` line. Best effort: with stderr gone
/// there is nowhere left to say anything, and the exit code still tells.
func reportError(_ message: String, hint: String? = nil) {
    var text = "mikata: error: \(message)\n"
    if let hint { text += "mikata: hint: \(hint)\n" }
    _ = try? StandardOutput.write(Array(text.utf8), fd: 2)
}

/// Every byte the CLI prints goes through here: a failed write(2) (a full disk, a closed pipe, a closed stream)
/// becomes one `mikata: error: cannot write the output` line and exit 1, never a crash or a silent exit 0.
/// SIGPIPE is ignored (Mikata.main), so a closed pipe is EPIPE here, reported like any other failure.
enum StandardOutput {
    static func write(_ bytes: [UInt8], fd: Int32 = 1) throws {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, bytes.count - done) }
            if n < 0 {
                if errno == EINTR { continue }
                throw CLIError.io("cannot write the output: \(String(cString: strerror(errno)))")
            }
            done += n
        }
    }

    static func line(_ text: String) throws { try write(Array((text + "\n").utf8)) }
}

/// One `mikata: warning: ...` line on stderr: the command goes on.
func reportWarning(_ message: String) {
    FileHandle.standardError.write(Data("mikata: warning: \(message)\n".utf8))
}

/// Prints a result: JSON on stdout with `--json`, else the human lines.
func emit(json: Bool, _ object: [String: Any], human: () -> String) throws {
    if json {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        try StandardOutput.write(Array(data) + [10])
    } else {
        let text = human()
        if !text.isEmpty { try StandardOutput.line(text) }
    }
}

func isoTime(millis: Int64) -> String { ISOTime().string(millis: millis) }

/// ISO 8601 UTC with milliseconds. Making a formatter costs more than formatting: a listing makes one for all rows.
final class ISOTime {
    private let formatter = ISO8601DateFormatter()

    init() { formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds] }

    func string(millis: Int64) -> String { formatter.string(from: Date(timeIntervalSince1970: Double(millis) / 1000)) }
}

/// Output gathered into writes of about 256 KiB (a streamed listing: one write(2) per row would dominate small
/// rows). Failures are `StandardOutput.write`'s.
struct OutputBuffer {
    static let flushSize = 256 << 10
    private var bytes: [UInt8] = []

    mutating func append(_ text: String) { bytes.append(contentsOf: text.utf8) }
    mutating func append<S: Sequence>(_ data: S) where S.Element == UInt8 { bytes.append(contentsOf: data) }

    mutating func flushIfFull() throws { if bytes.count >= OutputBuffer.flushSize { try flush() } }

    mutating func flush() throws {
        guard !bytes.isEmpty else { return }
        try StandardOutput.write(bytes)
        bytes.removeAll(keepingCapacity: true)
    }
}
