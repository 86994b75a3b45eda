import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A local SMTP sink for the notice tests: aiosmtpd (PyPI; `make deps` installs it) storing every message it accepts
/// in a Maildir, on a free loopback port. `start` waits until the server answers with its 220 greeting (polled,
/// bounded), so no test sleeps a fixed time.
final class SMTPSink: @unchecked Sendable {
    let port: Int
    let maildir: String
    private let process: Process

    private init(port: Int, maildir: String, process: Process) {
        self.port = port; self.maildir = maildir; self.process = process
    }

    /// Starts `python3 -m aiosmtpd -n -l 127.0.0.1:PORT -c aiosmtpd.handlers.Mailbox DIR` (DIR must not exist yet:
    /// the handler makes the Maildir).
    static func start(in base: String) async throws -> SMTPSink {
        let port = try freePort()
        let maildir = "\(base)/maildir"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-m", "aiosmtpd", "-n", "-l", "127.0.0.1:\(port)", "-c", "aiosmtpd.handlers.Mailbox", maildir]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        let sink = SMTPSink(port: port, maildir: maildir, process: p)
        for _ in 0..<400 {  // up to ~20 s on a loaded machine, usually a few hundred milliseconds
            if sink.greets() { return sink }
            guard p.isRunning else { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        sink.stop()
        throw SinkError.notReady
    }

    enum SinkError: Error { case notReady, noPort }

    /// Kills the sink (SIGKILL: aiosmtpd's loop does not always end on SIGTERM) and reaps it.
    func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    /// The raw messages delivered so far (Maildir `new/`), oldest first by name.
    func messages() -> [String] {
        let dir = "\(maildir)/new"
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
        return names.compactMap { try? String(contentsOfFile: "\(dir)/\($0)", encoding: .utf8) }
    }

    /// Whether something on the port answers `220`.
    private func greets() -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard ok == 0 else { return false }
        var buf = [UInt8](repeating: 0, count: 64)
        let n = read(fd, &buf, buf.count)
        guard n >= 3 else { return false }
        _ = "QUIT\r\n".withCString { write(fd, $0, 6) }
        return buf[0] == UInt8(ascii: "2") && buf[1] == UInt8(ascii: "2") && buf[2] == UInt8(ascii: "0")
    }

    /// A port the kernel hands out for loopback now (bound, read, closed).
    private static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        guard bound == 0 else { throw SinkError.noPort }
        let got = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        guard got == 0 else { throw SinkError.noPort }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}

/// A raw message's headers (unfolded) and its base64 body decoded.
struct ReceivedMail {
    let raw: String
    let headers: [(String, String)]
    let body: String

    init(_ raw: String) {
        self.raw = raw
        let normalised = raw.replacingOccurrences(of: "\r\n", with: "\n")
        let split = normalised.range(of: "\n\n")
        let head = split.map { String(normalised[..<$0.lowerBound]) } ?? normalised
        let rest = split.map { String(normalised[$0.upperBound...]) } ?? ""
        var headers: [(String, String)] = []
        for line in head.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.first == " " || line.first == "\t", let last = headers.popLast() {
                headers.append((last.0, last.1 + String(line)))
            } else if let colon = line.firstIndex(of: ":") {
                headers.append((String(line[..<colon]), String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces)))
            }
        }
        self.headers = headers
        let b64 = rest.split(whereSeparator: \.isNewline).joined()
        body = Data(base64Encoded: String(b64)).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }

    func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }

    /// The subject with its RFC 2047 B encoded-words (UTF-8) decoded; nil when a word does not decode.
    var decodedSubject: String? {
        guard let subject = header("Subject") else { return nil }
        var out = ""
        for word in subject.split(whereSeparator: { $0 == " " || $0 == "\t" }) {
            guard word.hasPrefix("=?UTF-8?B?"), word.hasSuffix("?="),
                  let data = Data(base64Encoded: String(word.dropFirst(10).dropLast(2))) else { return nil }
            out += String(decoding: data, as: UTF8.self)
        }
        return out
    }
}
