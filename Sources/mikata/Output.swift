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

    /// Writes one JSON document (`json`: JSON text in UTF-8, on one line) and a line feed: every `--json` answer goes
    /// out here. DEL and the C1 controls (U+007F–009F), which JSON allows raw inside strings (RFC 8259 §7) but a
    /// terminal may act on (U+009B is CSI, ECMA-48 §5.3), become `\u00XX` escapes: the same JSON value (JSON text
    /// holds them only inside strings; C0 characters are escaped there already). `record list` writes its document
    /// itself by the same rule; the deletion certificate is printed as its signed bytes (its texts cannot hold a
    /// control character: `ShredRequest.checkField`).
    /// - Throws: `CLIError.io` when the write fails.
    static func json(_ json: [UInt8]) throws {
        if ControlEscapes.holdsDELOrC1(json) {
            var out: [UInt8] = []
            out.reserveCapacity(json.count + 16)
            ControlEscapes.append(validUTF8: json, c0: false, to: &out)
            out.append(10)
            try write(out)
        } else {
            try write(json + [10])
        }
    }
}

/// Control characters as `\u00XX` escapes in what the CLI prints: C0 (U+0000–001F), DEL and C1 (U+0080–009F), the
/// characters a terminal acts on instead of showing. The form is JSON's (RFC 8259 §7), so inside a JSON string the
/// value is unchanged, and a text line shows a crafted record's escape sequence as text.
enum ControlEscapes {
    /// `text` with its control characters as `\u00XX` escapes, for a text line built from stored or given values
    /// (an access-log actor, a certificate's fields): a terminal shows them instead of acting on them.
    static func escaped(_ text: String) -> String {
        var out: [UInt8] = []
        append(validUTF8: Array(text.utf8), to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends `bytes` (valid UTF-8) with each control character written as a `\u00XX` escape, the rest copied in
    /// runs; with `c0` false, C0 characters are copied too (JSON text: its line breaks and tabs are white space
    /// between tokens, and inside strings C0 is always escaped already). O(n), no decoding.
    static func append(validUTF8 bytes: [UInt8], c0: Bool = true, to out: inout [UInt8]) {
        var runStart = 0, i = 0
        let n = bytes.count
        while i < n {
            let c = bytes[i]
            let width: Int
            if (c0 && c < 0x20) || c == 0x7f {
                width = 1
            } else if c == 0xc2, i + 1 < n, bytes[i + 1] >= 0x80, bytes[i + 1] <= 0x9f {  // C1: U+0080–009F
                width = 2
            } else {
                i += 1
                continue
            }
            out.append(contentsOf: bytes[runStart..<i])
            appendEscape(width == 1 ? c : bytes[i + 1], to: &out)
            i += width
            runStart = i
        }
        out.append(contentsOf: bytes[runStart..<n])
    }

    /// Whether `bytes` (valid UTF-8) holds DEL (0x7F) or a C1 character (U+0080–009F: 0xC2 then 0x80–0x9F); U+00A0–00BF
    /// (°, ±, µ, also led by 0xC2) do not count. No C0 check: JSON text holds none outside its white space.
    /// Branch-free over blocks of 4 KiB so the compiler can vectorise it (400 MiB in about 60 ms, where `append`
    /// would copy).
    static func holdsDELOrC1(_ bytes: [UInt8]) -> Bool {
        let n = bytes.count
        guard n > 0 else { return false }
        if bytes[n - 1] == 0x7f { return true }  // the pairs below cover every other byte
        var start = 0
        while start < n - 1 {
            let end = min(n - 1, start + 4096)
            var hit: UInt8 = 0
            for j in start..<end {
                let c = bytes[j], next = bytes[j + 1]
                hit |= (c == 0x7f ? 1 : 0) | ((c == 0xc2 ? 1 : 0) & (next < 0xa0 ? 1 : 0))
            }
            if hit != 0 { return true }
            start = end
        }
        return false
    }

    /// `\u00XX` for a code point below U+0100, lower-case hex digits.
    static func appendEscape(_ v: UInt8, to out: inout [UInt8]) {
        let digits = Array("0123456789abcdef".utf8)
        out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), digits[Int(v >> 4)], digits[Int(v & 15)]])
    }
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
        try StandardOutput.json(try jsonBytes(object))
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
