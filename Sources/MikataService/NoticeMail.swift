#if canImport(Glibc)
import Glibc
#endif
public import Foundation
import MikataCrypto
import MikataFormat

// Missed-dose notices leave as plain RFC 5322 messages through the system's sendmail interface (docs/OPERATIONS.md,
// "Missed-dose notices"): msmtp from Debian, or any sendmail-compatible program. The message carries the patient's
// nickname as the supporter knows it and "sign in to see details", nothing else (docs/SECURITY.md).

/// An e-mail message as the notice checker sends it: one recipient, a text/plain UTF-8 body.
public struct NoticeMessage: Sendable, Hashable {
    /// The sender's address (`notices.from`), e.g. `noreply@hokenjo.example.jp`.
    public let from: String
    /// The recipient's address.
    public let to: String
    /// The subject (any Unicode; RFC 2047-encoded on the wire when not ASCII).
    public let subject: String
    /// The body text (any Unicode; lines end with `\n`).
    public let body: String
    /// The `Date:` header's instant.
    public let date: Date
    /// The `Message-ID:` without its angle brackets (`<hex>@<sender's domain>`).
    public let messageId: String

    /// A message.
    /// - Parameters:
    ///   - messageId: nil for a new random one (128 bits, hex) at the sender's domain.
    /// - Throws: `MikataError(.invalidInput)` when an address is not a plain `local@domain` a header can carry (no
    ///   spaces, control characters, `<>()[],;:"\`), or the subject holds a line break. The message names neither value.
    public init(from: String, to: String, subject: String, body: String, date: Date, messageId: String? = nil) throws {
        for (name, address) in [("from", from), ("to", to)] {
            guard Self.isHeaderSafeAddress(address) else { throw MikataError(.invalidInput, "\(name): not an address a mail header can carry") }
        }
        guard !subject.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw MikataError(.invalidInput, "subject: must not contain control characters")
        }
        self.from = from
        self.to = to
        self.subject = subject
        self.body = body
        self.date = date
        self.messageId = messageId ?? "\(Random.bytes(16).hex)@\(from.split(separator: "@").last.map(String.init) ?? "localhost")"
    }

    /// Whether `address` is `local@domain` with only characters a header can carry verbatim (RFC 5322 §3.4.1
    /// dot-atom, plus UTF-8 per RFC 6532): no whitespace, control characters or specials.
    public static func isHeaderSafeAddress(_ address: String) -> Bool {
        let parts = address.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty, address.utf8.count <= 254 else { return false }
        let specials = Set("<>()[],;:\"\\".unicodeScalars)
        return !address.unicodeScalars.contains { $0.properties.isWhitespace || $0.properties.generalCategory == .control || specials.contains($0) }
    }

    /// The subject of every notice: fixed, bilingual, naming nobody (a subject shows in mail lists, previews and
    /// server logs).
    public static let noticeSubject = "MikataVault からのお知らせ / A notice from MikataVault"

    /// A missed-dose notice: the nickname and "sign in to see details", in Japanese and English. No medicine,
    /// dose, time of dose, count or adherence figure (docs/SECURITY.md, "Missed-dose notices").
    /// - Parameters:
    ///   - nickname: the patient's nickname as the supporter knows it.
    ///   - signInURL: where the supporter signs in (`notices.signInURL`), if configured.
    /// - Throws: what `init` throws.
    public static func missedDoseNotice(from: String, to: String, nickname: String, signInURL: String?, date: Date) throws -> NoticeMessage {
        var lines = ["\(nickname) さんについてお知らせがあります。", "詳しくはサインインしてご確認ください。"]
        if let signInURL { lines.append(signInURL) }
        lines += ["", "There is a notice about \(nickname)\(nickname.hasSuffix(".") ? "" : ".")", "Sign in to see details."]
        if let signInURL { lines.append(signInURL) }
        lines += ["", "-- ", "MikataVault (送信専用 / do not reply)", ""]
        let body = lines.joined(separator: "\n")
        return try NoticeMessage(from: from, to: to, subject: noticeSubject, body: body, date: date)
    }

    /// The message's bytes (RFC 5322 with MIME, RFC 2045/2047): `Date`, `From`, `To`, `Subject`, `Message-ID`,
    /// `MIME-Version: 1.0`, `Content-Type: text/plain; charset=UTF-8`, `Content-Transfer-Encoding: base64`, a blank
    /// line and the body in base64 lines of 76 characters.
    /// - Parameter lineEnding: `\r\n` (RFC 5322 §2.1, the default), or `\n` for a local sendmail interface, which
    ///   takes the system's line ending and converts.
    public func rfc5322(lineEnding: String = "\r\n") -> [UInt8] {
        var headers = [
            "Date: \(Self.rfc5322Date(date))",
            "From: \(from)",
            "To: \(to)",
            "Subject: \(Self.encodedHeaderText(subject, separator: lineEnding + " "))",
            "Message-ID: <\(messageId)>",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=UTF-8",
            "Content-Transfer-Encoding: base64",
        ]
        headers.append("")
        let b64 = Data(body.utf8).base64EncodedString()
        var lines: [String] = []
        var i = b64.startIndex
        while i < b64.endIndex {
            let j = b64.index(i, offsetBy: 76, limitedBy: b64.endIndex) ?? b64.endIndex
            lines.append(String(b64[i..<j]))
            i = j
        }
        return Array((headers + lines).map { $0 + lineEnding }.joined().utf8)
    }

    /// RFC 5322 §3.3 date-time in UTC: `Mon, 30 Nov 2026 09:05:00 +0000`.
    public static func rfc5322Date(_ date: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        return f.string(from: date)
    }

    /// Header text as is when printable ASCII, else RFC 2047 encoded-words (`=?UTF-8?B?...?=`, each at most 75
    /// characters, split between whole characters) joined by `separator`: a space, or a fold (`CRLF SP`, RFC 5322
    /// §2.2.3) so that each header line stays under 78 characters; a reader drops the white space between adjacent
    /// encoded-words (RFC 2047 §6.2).
    public static func encodedHeaderText(_ text: String, separator: String = " ") -> String {
        if text.unicodeScalars.allSatisfy({ $0.isASCII && $0.value >= 0x20 && $0.value < 0x7F }) { return text }
        // 39 bytes of UTF-8 per word: 52 base64 characters, a 64-character word, so "Subject: " and the first word
        // stay within 78 characters (RFC 5322 §2.1.1), and every word within RFC 2047's 75.
        var words: [String] = []
        var chunk: [UInt8] = []
        for ch in text {
            let bytes = Array(String(ch).utf8)
            if chunk.count + bytes.count > 39 {
                words.append("=?UTF-8?B?\(Data(chunk).base64EncodedString())?=")
                chunk = []
            }
            chunk += bytes
        }
        if !chunk.isEmpty { words.append("=?UTF-8?B?\(Data(chunk).base64EncodedString())?=") }
        return words.joined(separator: separator)
    }
}

/// Where notices go: something that delivers one message or throws. The checker marks a notice sent only after
/// `send` returned.
public protocol NoticeTransport: Sendable {
    /// Delivers `message` (blocking; the service calls it on a pool thread).
    /// - Throws: any error: the notice stays unsent and is tried again at the next run.
    func send(_ message: NoticeMessage) throws
}

/// The system's sendmail interface: a program that reads one message on standard input and takes its recipients from
/// the `To:` header (`-t`), so no address is ever in a child's argv (`ps` shows argv to every local user).
public struct SendmailTransport: NoticeTransport {
    /// The program.
    public let executable: String
    /// Its arguments (never an address).
    public let arguments: [String]
    /// How long one message may take (default 60 s); a program still running then is stopped (SIGTERM, then
    /// SIGKILL after 5 s) and the send fails.
    public let deadline: Duration

    /// A sendmail-compatible program with its arguments (they must make it read recipients from the headers).
    public init(executable: String, arguments: [String], deadline: Duration = .seconds(60)) {
        self.executable = executable
        self.arguments = arguments
        self.deadline = deadline
    }

    /// `sendmail -t -i` at `path` (Postfix, Exim, msmtp-mta, ...): recipients from the headers, a lone `.` is not
    /// the end.
    public static func sendmail(path: String = "/usr/sbin/sendmail") -> SendmailTransport {
        SendmailTransport(executable: path, arguments: ["-t", "-i"])
    }

    /// Debian's msmtp straight to an SMTP relay: `msmtp -C CONFIG --timeout=30 -t --read-envelope-from` with, when
    /// `config` is nil, `-C /dev/null --host=H --port=P --auth=off --tls=off` (a relay on the same host or a trusted
    /// network; for TLS or authentication give a msmtprc of mode 0600 as `config`).
    public static func msmtp(path: String = "/usr/bin/msmtp", host: String = "127.0.0.1", port: Int = 25,
                             config: String? = nil) -> SendmailTransport {
        var args: [String]
        if let config { args = ["-C", config] } else {
            args = ["-C", "/dev/null", "--host=\(host)", "--port=\(port)", "--auth=off", "--tls=off"]
        }
        args += ["--timeout=30", "-t", "--read-envelope-from"]  // a relay that does not answer must not hold the checker
        return SendmailTransport(executable: path, arguments: args)
    }

    /// Runs the program with the message (LF line endings, as a local sendmail interface takes) on its standard
    /// input, its output discarded (it could repeat an address), and waits for it.
    /// - Throws: `MikataError(.io)` when it cannot be started, is killed, or exits with a status other than 0
    ///   (the message names the status only).
    public func send(_ message: NoticeMessage) throws {
        // A child that exits before reading its input must not kill us with SIGPIPE on the write.
        signal(SIGPIPE, SIG_IGN)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }
        let input = Pipe()
        process.standardInput = input
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch {
            throw MikataError(.io, "the mail program could not be started (notices.transport)")
        }
        var writeFailed = false
        do {
            try input.fileHandleForWriting.write(contentsOf: message.rfc5322(lineEnding: "\n"))
        } catch { writeFailed = true }
        try? input.fileHandleForWriting.close()
        // A program (or a relay trickling its answers) that takes longer than `deadline` is stopped: the notice stays
        // unsent for the next run, and the checker's lock is not held indefinitely.
        if exited.wait(timeout: .now() + .milliseconds(Int(deadline.components.seconds) * 1000)) == .timedOut {
            process.terminate()
            if exited.wait(timeout: .now() + .seconds(5)) == .timedOut {
                kill(process.processIdentifier, SIGKILL)
                exited.wait()
            }
            throw MikataError(.io, "the mail program did not finish within \(deadline.components.seconds) s and was stopped")
        }
        guard process.terminationReason == .exit else { throw MikataError(.io, "the mail program was killed by signal \(process.terminationStatus)") }
        guard process.terminationStatus == 0 else { throw MikataError(.io, "the mail program exited with status \(process.terminationStatus)") }
        guard !writeFailed else { throw MikataError(.io, "the mail program did not read the whole message") }
    }
}
