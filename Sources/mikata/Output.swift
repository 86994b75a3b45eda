import Foundation
#if canImport(Glibc)
import Glibc
#endif
import MikataService

/// Exit codes of the CLI contract (sysexits.h values); a service error's code is `MikataError.Code.exitCode`.
enum Exit {
    static let ok: Int32 = 0
    static let failure: Int32 = 1
    static let usage: Int32 = 64
    static let notFound: Int32 = 66
}

/// What a user should try next after a failure of class `code`, where there is something useful to say. CLI words
/// (command names), so they live here and not in the service's messages.
func hint(for code: MikataError.Code) -> String? {
    switch code {
    case .corrupted: return "the file may be damaged; restore it from a backup or run 'mikata vault verify' for details"
    case .tampered: return "the file may have been altered; keep a copy for investigation and restore from a backup"
    case .busy: return "another process is using the vault or the machine is short of memory; try again"
    case .unsupported: return "upgrade mikata to a version that reads this file"
    case .authenticationFailed: return "check the password (a patient who lost it: 'mikata recover' with the recovery code)"
    default: return nil
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

/// The JSON writer of `--json` output: sorted keys, slashes unescaped. (`record list` writes its rows itself, in
/// the same member order, with each record's data as stored: `RecordListWriter`.)
func jsonBytes(_ object: Any) throws -> [UInt8] {
    Array(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
}

/// Prints a result: JSON on stdout with `--json`, else the human lines.
func emit(json: Bool, _ object: [String: Any], human: () -> String) throws {
    if json {
        try StandardOutput.write(try jsonBytes(object) + [10])
    } else {
        let text = human()
        if !text.isEmpty { try StandardOutput.line(text) }
    }
}

/// ISO 8601 UTC times with milliseconds; one formatter for a whole listing (making one costs more than using it).
struct RecordTimeFormatter {
    private let formatter: ISO8601DateFormatter = {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f
    }()

    func string(millis: Int64) -> String { formatter.string(from: Date(timeIntervalSince1970: Double(millis) / 1000)) }
}

extension Array where Element == UInt8 {
    /// Lower-case hexadecimal (public keys; never secrets).
    var hexText: String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(count * 2)
        for b in self { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// Parses hexadecimal digits (either case); nil for anything else.
    init?(hexText: String) {
        let chars = Array(hexText.utf8)
        guard chars.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: return c - 48
            case 97...102: return c - 87
            case 65...70: return c - 55
            default: return nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(chars.count / 2)
        var i = 0
        while i < chars.count {
            guard let hi = nibble(chars[i]), let lo = nibble(chars[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        self = out
    }
}
