#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Paths are bytes (docs/SECURITY.md, "Local users"): Linux file names need not be UTF-8, but a Swift `String`
/// cannot hold invalid UTF-8, and `CommandLine.arguments`, `ProcessInfo.environment` and `String(cString:)` repair
/// it to U+FFFD, so a store at `/srv/\xFF` would silently become another path. Like Python's `surrogateescape`,
/// every byte that is not part of valid UTF-8 is carried as one scalar of a private-use block
/// (U+10FF00 + byte), and turned back into that byte right before the system call. A scalar of that block that
/// really occurs in a name is escaped byte by byte too, so the mapping is lossless both ways; names made of valid
/// UTF-8 outside that block (every name the store itself writes) are unchanged.
package enum PathBytes {
    private static let escapeBase: UInt32 = 0x10FF00

    private static func isEscape(_ s: Unicode.Scalar) -> Bool { s.value & 0xFFFF00 == escapeBase }

    /// The lossless `String` for raw path bytes.
    package static func string<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        let raw = Array(bytes)
        if let valid = String(validating: raw, as: UTF8.self), !valid.unicodeScalars.contains(where: isEscape) { return valid }
        var out = String.UnicodeScalarView()
        var i = 0
        while i < raw.count {
            let length = sequenceLength(raw, at: i)
            if length > 0, let s = String(validating: raw[i..<(i + length)], as: UTF8.self)?.unicodeScalars.first, !isEscape(s) {
                out.append(s)
                i += length
            } else {
                out.append(Unicode.Scalar(escapeBase + UInt32(raw[i]))!)
                i += 1
            }
        }
        return String(out)
    }

    /// The length of the well-formed UTF-8 sequence starting at `i`, or 0.
    private static func sequenceLength(_ b: [UInt8], at i: Int) -> Int {
        let lead = b[i]
        let length: Int
        switch lead {
        case 0x00...0x7F: return 1
        case 0xC2...0xDF: length = 2
        case 0xE0...0xEF: length = 3
        case 0xF0...0xF4: length = 4
        default: return 0
        }
        guard i + length <= b.count else { return 0 }
        return String(validating: b[i..<(i + length)], as: UTF8.self) == nil ? 0 : length
    }

    /// The bytes a path string stands for (the inverse of `string(_:)`).
    package static func bytes(_ path: String) -> [UInt8] {
        guard path.unicodeScalars.contains(where: isEscape) else { return Array(path.utf8) }
        var out: [UInt8] = []
        for s in path.unicodeScalars {
            if isEscape(s) { out.append(UInt8(s.value & 0xFF)) } else { out += Array(String(s).utf8) }
        }
        return out
    }

    /// Calls `body` with the NUL-terminated bytes of `path`, for a system call.
    package static func withCString<R>(_ path: String, _ body: (UnsafePointer<CChar>) throws -> R) rethrows -> R {
        guard path.unicodeScalars.contains(where: isEscape) else { return try path.withCString(body) }
        let c = bytes(path).map { CChar(bitPattern: $0) } + [0]
        return try c.withUnsafeBufferPointer { try body($0.baseAddress!) }
    }

    /// `path` for a message: escaped bytes shown as `\xFF`, so a message is plain text.
    package static func display(_ path: String) -> String {
        guard path.unicodeScalars.contains(where: isEscape) else { return path }
        var out = ""
        for s in path.unicodeScalars {
            if isEscape(s) {
                let v = Int(s.value & 0xFF)
                out += "\\x" + String(v >> 4, radix: 16, uppercase: true) + String(v & 15, radix: 16, uppercase: true)
            } else {
                out.unicodeScalars.append(s)
            }
        }
        return out
    }

    /// The process's arguments as the kernel gave them (`CommandLine.arguments` repairs invalid UTF-8).
    package static var arguments: [String] {
        (0..<Int(CommandLine.argc)).map { i in
            guard let p = CommandLine.unsafeArgv[i] else { return "" }
            return string(UnsafeBufferPointer(start: UnsafeRawPointer(p).assumingMemoryBound(to: UInt8.self), count: strlen(p)))
        }
    }

    /// An environment variable, losslessly.
    package static func environment(_ name: String) -> String? {
        guard let p = getenv(name) else { return nil }
        return string(UnsafeBufferPointer(start: UnsafeRawPointer(p).assumingMemoryBound(to: UInt8.self), count: strlen(p)))
    }

    /// The whole content of a file the user named (`--data-file`, `--public-key FILE`, a certificate): read as the
    /// user asked, links followed; nil if it cannot be opened or read.
    package static func contents(ofFile path: String) -> [UInt8]? {
        let fd = withCString(path) { open($0, O_RDONLY | O_CLOEXEC) }
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR { continue }; return nil }
            if n == 0 { return out }
            out += chunk[0..<n]
        }
    }
}
