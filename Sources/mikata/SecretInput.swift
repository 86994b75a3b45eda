#if canImport(Glibc)
import Glibc
#endif
import MikataService

/// Reading passwords and recovery codes: from a file's first line, from standard input, or from a prompt on the
/// terminal with echo off. Never from argv. Bytes go straight into guarded memory (`Secret`); scratch buffers are
/// wiped.
enum SecretInput {
    /// The longest line taken, in bytes.
    static let maximumLength = 4096

    /// The first line of a file: everything after the first LF is ignored, and trailing CRs are not part of it.
    static func firstLine(ofFile path: String, what: String) throws -> Secret {
        let fd = ClientFiles.withCString(path) { open($0, O_RDONLY | O_CLOEXEC) }  // paths are bytes, never re-encoded
        guard fd >= 0 else {
            throw CLIError.notFound("cannot read the \(what) file: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        return try firstLine(fd: fd, what: what)
    }

    static func firstLine(fd: Int32, what: String) throws -> Secret {
        var line: [UInt8] = []
        line.reserveCapacity(maximumLength + 2)  // never reallocated: no unwiped copy left behind by growth
        defer { Secret.wipe(&line) }
        var byte: UInt8 = 0
        while true {
            let n = read(fd, &byte, 1)
            if n < 0 { if errno == EINTR { continue }; throw CLIError.io("cannot read the \(what): \(String(cString: strerror(errno)))") }
            if n == 0 || byte == 10 { break }
            line.append(byte)
            if line.count > maximumLength { throw CLIError.usage("the \(what) is longer than \(maximumLength) bytes") }
        }
        byte = 0
        while line.last == 13 { line.removeLast() }
        guard !line.isEmpty else { throw CLIError.usage("the \(what) is empty") }
        return Secret(wiping: &line)
    }

    static var canPrompt: Bool { isatty(0) == 1 }

    /// Prompts on the terminal with echo off.
    static func prompt(_ text: String, what: String) throws -> Secret {
        guard canPrompt else { throw CLIError.usage("no \(what) given: use a file option or --password-stdin (passwords are never taken from arguments)") }
        var old = termios()
        tcgetattr(0, &old)
        var silent = old
        silent.c_lflag &= ~tcflag_t(ECHO)
        writeTerminal(text)
        tcsetattr(0, TCSAFLUSH, &silent)
        defer { tcsetattr(0, TCSAFLUSH, &old); writeTerminal("\n") }
        return try firstLine(fd: 0, what: what)
    }
}

private func writeTerminal(_ text: String) {
    let bytes = Array(text.utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}

/// Errors the command line itself raises (usage, unreadable input files).
enum CLIError: Error {
    case usage(String)
    case notFound(String)
    case io(String)
}

extension Secret {
    /// The secret as text (a name or address read like a password: from a file or standard input).
    var text: String { withUnsafeBytes { String(decoding: $0, as: UTF8.self) } }
}
