import ArgumentParser
import Configuration
import Foundation
import MikataServer
import MikataService

// Issue 10 §4: `mikata notices consent|status|subscribe|run` (docs/ADHERENCE.md, "Missed-dose notices").

/// `mikata notices ...`.
struct NoticesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notices",
        abstract: "Missed-dose notices to supporters: the patient's consent, a supporter's opt-in, and the checker (for cron).",
        subcommands: [NoticeConsentCommand.self, NoticeStatusCommand.self, NoticeSubscribeCommand.self, NoticeRunCommand.self])
}

/// `mikata notices consent --email E [--grace-minutes N] [--off]`.
struct NoticeConsentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consent",
        abstract: "The patient shares their check-in times alone (no medicine or dose) for missed-dose notices, or withdraws (--off).")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var account: EmailOptions
    @Option(help: "Minutes after a dose's time before it counts as missed (15-1440).") var graceMinutes = NoticeRules.defaultGraceMinutes
    @Flag(help: "Withdraw: the schedule, check-ins and every supporter's opt-in are deleted.") var off = false
    @OptionGroup var password: PasswordOptions

    func validate() throws {
        guard NoticeRules.graceMinutes.contains(graceMinutes) else { throw ValidationError("--grace-minutes must be 15 to 1440") }
    }

    func run() async throws {
        let email = try account.resolve()
        let c = try await global.withService { service -> NoticeConsent in
            let session = try await service.unlockPatient(email: email, password: try password.read())
            defer { session.close() }
            return try await service.setNoticeConsent(session, enabled: !off, graceMinutes: graceMinutes)
        }
        try NoticeStatusCommand.print(c, json: global.json)
    }
}

/// `mikata notices status --email E`.
struct NoticeStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "The patient's notice consent: on or off, the grace period, the supporters who opted in.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var account: EmailOptions
    @OptionGroup var password: PasswordOptions

    func run() async throws {
        let email = try account.resolve()
        let c = try await global.withService { service -> NoticeConsent in
            let session = try await service.unlockPatient(email: email, password: try password.read())
            defer { session.close() }
            return try await service.noticeConsent(session)
        }
        try Self.print(c, json: global.json)
    }

    static func print(_ c: NoticeConsent, json: Bool) throws {
        if json {
            var o: [String: Any] = ["enabled": c.enabled, "scheduleVersions": c.scheduleVersions, "supporters": c.supporters.map(\.hex)]
            if let g = c.graceMinutes { o["graceMinutes"] = g }
            if let t = c.consentedAt { o["consentedAt"] = t.formatted(.iso8601) }
            try StandardOutput.json(Array(try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys])))
        } else if c.enabled {
            try StandardOutput.line("Missed-dose notices: on (grace \(c.graceMinutes ?? 0) min, \(c.scheduleVersions) regimen version(s) shared as check-in times, \(c.supporters.count) supporter(s) opted in)")
        } else {
            try StandardOutput.line("Missed-dose notices: off")
        }
    }
}

/// `mikata notices subscribe --email S --vault-id ID [--nickname N] [--off]`.
struct NoticeSubscribeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "subscribe",
        abstract: "A linked supporter opts in to a patient's missed-dose notices at their own account address (or out, --off).")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var account: EmailOptions
    @Option(help: "The patient's vault id (as 'mikata supporter patients' lists it).") var vaultId: String
    @Option(help: "How notices name the patient (default: the patient's nickname).") var nickname: String?
    @Option(help: "Read the nickname from the first line of this file (- for standard input).") var nicknameFile: String?
    @Flag(help: "Opt out: the address is deleted from the notice file.") var off = false
    @OptionGroup var password: PasswordOptions

    func validate() throws {
        guard VaultID(hex: vaultId) != nil else { throw ValidationError("--vault-id must be 32 hexadecimal digits") }
    }

    func run() async throws {
        let email = try account.resolve()
        let nick = try PersonalInput.value(nickname, file: nicknameFile, option: "nickname")
        let id = VaultID(hex: vaultId)!
        let s = try await global.withService { service -> NoticeSubscription in
            let session = try await service.unlockSupporter(email: email, password: try password.read())
            defer { session.close() }
            return try await service.setNoticeSubscription(session, of: id, enabled: !off, email: email, nickname: nick)
        }
        if global.json {
            var o: [String: Any] = ["vaultId": s.vaultId.hex, "enabled": s.enabled]
            if let n = s.nickname { o["nickname"] = n }
            try StandardOutput.json(Array(try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys])))
        } else {
            try StandardOutput.line(s.enabled ? "Notices for vault \(s.vaultId.hex): on, as \(printable(s.nickname ?? "-"))" : "Notices for vault \(s.vaultId.hex): off")
        }
    }
}

/// `mikata notices run [--now ISO] [--config FILE]`: one checker run, for cron.
struct NoticeRunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Send the missed-dose notices due now, once (for cron; 'mikata serve' runs it itself when notices.enabled).",
        discussion: """
            Mail settings are the notices.* keys of docs/OPERATIONS.md, from MIKATA_NOTICES_* environment variables or the \
            JSON file given with --config (notices.from is required). Prints counts only.
            """)
    @OptionGroup var global: GlobalOptions
    @Option(help: ArgumentHelp("The checker's clock (ISO 8601, e.g. 2026-11-09T02:30:00Z; default: now).", valueName: "instant")) var now: String?
    @Option(help: ArgumentHelp("A JSON settings file (the one 'mikata serve --config' reads).", valueName: "file")) var config: String?

    func validate() throws {
        if let now {
            guard let instant = try? Date(now, strategy: .iso8601) else { throw ValidationError("--now must be an ISO 8601 instant with a zone") }
            // A clock ahead of the real one would mark doses not yet due as notified, so the real misses never would be.
            // (Tests set MIKATA_ALLOW_TEST_CLOCK=1 to run the checker on a later day.)
            guard instant <= Date().addingTimeInterval(300) || ProcessInfo.processInfo.environment["MIKATA_ALLOW_TEST_CLOCK"] == "1" else {
                throw ValidationError("--now must not be later than the current time")
            }
        }
    }

    func run() async throws {
        let notices: NoticeConfiguration
        do {
            notices = try NoticeConfiguration(reader: try await ServerConfiguration.reader(flags: [:], file: config))
        } catch let e as MikataError {
            throw e
        } catch {
            throw CLIError.usage("--config: the settings file cannot be read as JSON")
        }
        let settings = try notices.mailSettings()
        let instant = now.flatMap { try? Date($0, strategy: .iso8601) } ?? Date()
        let r = try await global.withService { service in
            try await service.sendDueNotices(now: instant, transport: notices.mailTransport(), settings: settings)
        }
        if global.json {
            let o: [String: Any] = ["vaultsChecked": r.vaultsChecked, "sent": r.sent, "failed": r.failed, "unreadable": r.unreadable, "unmarkable": r.unmarkable]
            try StandardOutput.json(Array(try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys])))
        } else {
            try StandardOutput.line("Notices: \(r.vaultsChecked) vault(s) checked, \(r.sent) sent, \(r.failed) failed (tried again next run), \(r.unreadable) unreadable"
                                        + (r.unmarkable > 0 ? ", \(r.unmarkable) not sent (no room in the notice file to mark them sent)" : ""))
        }
        if r.failed > 0 || r.unreadable > 0 || r.unmarkable > 0 {
            throw CLIError.io(r.failed > 0 ? "\(r.failed) notice(s) could not be handed to the mail program (see notices.transport; they are tried again next run)"
                              : r.unreadable > 0 ? "\(r.unreadable) notice file(s) could not be read"
                              : "\(r.unmarkable) notice(s) not sent: their notice file is full (docs/ADHERENCE.md, \"Missed-dose notices\")")
        }
    }
}
