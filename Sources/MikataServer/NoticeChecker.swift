public import Configuration
import Foundation
import Logging
public import MikataService
import ServiceLifecycle

/// The missed-dose notice settings of `mikata serve` and `mikata notices run` (docs/OPERATIONS.md, configuration
/// table, `notices.*`).
public struct NoticeConfiguration: Sendable, Hashable {
    /// `notices.enabled`: whether `mikata serve` runs the checker (default false).
    public var enabled = false
    /// `notices.intervalSeconds`: seconds between runs, 10 to 86,400 (default 300).
    public var intervalSeconds = 300
    /// `notices.from`: the sender address (required when enabled).
    public var from: String?
    /// `notices.signInURL`: where supporters sign in, printed in the notice (optional).
    public var signInURL: String?
    /// `notices.transport`: `msmtp` (default) or `sendmail`.
    public var transport = "msmtp"
    /// `notices.msmtp.path` (default `/usr/bin/msmtp`).
    public var msmtpPath = "/usr/bin/msmtp"
    /// `notices.msmtp.config`: a msmtprc (mode 0600) for TLS or authentication; when absent msmtp goes to
    /// `notices.smtp.host`:`notices.smtp.port` without either.
    public var msmtpConfig: String?
    /// `notices.smtp.host` (default 127.0.0.1) and `notices.smtp.port` (default 25).
    public var smtpHost = "127.0.0.1", smtpPort = 25
    /// `notices.sendmail.path` (default `/usr/sbin/sendmail`), for `notices.transport: sendmail`.
    public var sendmailPath = "/usr/sbin/sendmail"

    /// The defaults (disabled).
    public init() {}

    /// Reads the `notices.*` keys.
    /// - Throws: `MikataError(.invalidInput)` naming the key.
    public init(reader: ConfigReader) throws {
        enabled = reader.bool(forKey: "notices.enabled", default: false)
        intervalSeconds = reader.int(forKey: "notices.intervalSeconds", default: intervalSeconds)
        from = reader.string(forKey: "notices.from")
        signInURL = reader.string(forKey: "notices.signInURL")
        transport = reader.string(forKey: "notices.transport", default: transport)
        msmtpPath = reader.string(forKey: "notices.msmtp.path", default: msmtpPath)
        msmtpConfig = reader.string(forKey: "notices.msmtp.config")
        smtpHost = reader.string(forKey: "notices.smtp.host", default: smtpHost)
        smtpPort = reader.int(forKey: "notices.smtp.port", default: smtpPort)
        sendmailPath = reader.string(forKey: "notices.sendmail.path", default: sendmailPath)
        try validate()
    }

    /// Checks the values (an enabled checker needs `notices.from`).
    /// - Throws: `MikataError(.invalidInput)` naming the key.
    public func validate() throws {
        guard (10...86_400).contains(intervalSeconds) else { throw MikataError(.invalidInput, "notices.intervalSeconds: 10 to 86400") }
        guard ["msmtp", "sendmail"].contains(transport) else { throw MikataError(.invalidInput, "notices.transport: msmtp or sendmail") }
        guard (1...65_535).contains(smtpPort) else { throw MikataError(.invalidInput, "notices.smtp.port: 1 to 65535") }
        guard !smtpHost.isEmpty, !smtpHost.contains(where: { $0.isWhitespace || $0 == "=" }) else {
            throw MikataError(.invalidInput, "notices.smtp.host: a host name or address")
        }
        if enabled || from != nil { _ = try mailSettings() }
    }

    /// The checker's mail settings.
    /// - Throws: `MikataError(.invalidInput)`: no or a malformed `notices.from`, a malformed `notices.signInURL`.
    public func mailSettings() throws -> NoticeMailSettings {
        guard let from else { throw MikataError(.invalidInput, "notices.from: required to send notices") }
        return try NoticeMailSettings(from: from, signInURL: signInURL)
    }

    /// The configured sendmail interface.
    public func mailTransport() -> SendmailTransport {
        transport == "sendmail" ? .sendmail(path: sendmailPath)
            : .msmtp(path: msmtpPath, host: smtpHost, port: smtpPort, config: msmtpConfig)
    }
}

/// Runs the missed-dose checker every `notices.intervalSeconds` inside `mikata serve` (a swift-service-lifecycle
/// service; ends at once on graceful shutdown). A run that fails (another checker holds the lock, a disk error) is
/// logged by its class and retried at the next interval; the log line carries counts only.
struct NoticeChecker: Service {
    let service: VaultService
    let transport: any NoticeTransport
    let settings: NoticeMailSettings
    let interval: Duration
    let logger: Logger
    /// The checker's clock (tests inject one).
    let now: @Sendable () -> Date

    /// The checker of `configuration` (nil without a valid `notices.from`, which `validate` refuses when enabled).
    init?(service: VaultService, configuration: NoticeConfiguration, logger: Logger) {
        guard let settings = try? configuration.mailSettings() else { return nil }
        self.init(service: service, transport: configuration.mailTransport(), settings: settings,
                  interval: .seconds(configuration.intervalSeconds), logger: logger, now: { Date() })
    }

    init(service: VaultService, transport: any NoticeTransport, settings: NoticeMailSettings, interval: Duration, logger: Logger,
         now: @escaping @Sendable () -> Date) {
        self.service = service; self.transport = transport; self.settings = settings; self.interval = interval
        self.logger = logger; self.now = now
    }

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                _ = await runOnce()
                try await Task.sleep(for: interval)
            }
        }
    }

    /// One run at `now()`: its summary, or nil when it failed (logged by class).
    func runOnce() async -> NoticeRunSummary? {
        do {
            let r = try await service.sendDueNotices(now: now(), transport: transport, settings: settings)
            if r.sent + r.failed + r.unreadable + r.unmarkable > 0 {
                logger.info("missed-dose notices", metadata: ["vaults": "\(r.vaultsChecked)", "sent": "\(r.sent)",
                                                             "failed": "\(r.failed)", "unreadable": "\(r.unreadable)",
                                                             "unmarkable": "\(r.unmarkable)"])
            }
            return r
        } catch {
            logger.warning("missed-dose notice run failed", metadata: ["code": "\(MikataErrorCode.of(error))"])
            return nil
        }
    }
}

/// The class of an error for a log line (never its message, which could name a path).
enum MikataErrorCode {
    static func of(_ error: any Error) -> String { (error as? MikataError)?.code.rawValue ?? "unknown" }
}
