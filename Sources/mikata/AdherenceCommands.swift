import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import MikataAdherence
import MikataService

// Issue 10 §2–§3: `mikata report`, `mikata dashboard`, `mikata export` (docs/ADHERENCE.md, docs/OPERATIONS.md).

/// `mikata report --email E [--from D --to D] [--as-supporter S] [--json]`.
struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "A patient's adherence report: last 7 and 28 days, the whole treatment, per medicine, a calendar (the patient's or a linked supporter's password).")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var account: EmailOptions
    @Option(help: ArgumentHelp("First day of the calendar (YYYY-MM-DD, with --to; default: the last 28 days).", valueName: "date")) var from: String?
    @Option(help: ArgumentHelp("Last day of the calendar (YYYY-MM-DD, with --from).", valueName: "date")) var to: String?
    @OptionGroup var actor: ActorOptions

    func validate() throws {
        if (from == nil) != (to == nil) { throw ValidationError("give --from and --to together") }
        if let f = from, LocalDate(f) == nil { throw ValidationError("--from must be a date YYYY-MM-DD") }
        if let t = to, LocalDate(t) == nil { throw ValidationError("--to must be a date YYYY-MM-DD") }
    }

    func run() async throws {
        let email = try account.resolve()
        let from = self.from.flatMap(LocalDate.init), to = self.to.flatMap(LocalDate.init)
        let result = try await global.withService { service -> VaultAdherenceReport in
            let session = try await actor.unlock(service, patientEmail: email)
            defer { session.close() }
            switch session {
            case .patient(let s): return try await service.adherenceReport(s, from: from, to: to)
            case .supporter(let s): return try await service.adherenceReport(s, of: .email(email), from: from, to: to)
            }
        }
        let pin = PinReport(pin: result.pin, vaultId: result.vaultId)
        if let w = pin.warning { reportWarning(w) }
        if global.json {
            try StandardOutput.json(result.json())
        } else {
            try StandardOutput.line(Self.text(result))
        }
    }

    static func percent(_ f: AdherenceFigure) -> String {
        guard let r = f.ratio else { return "no doses due" }
        return String(format: "%.1f %% (%d of %d taken, %d late, %d missed, %d skipped)", r * 100, f.taken, f.expected, f.late, f.missed, f.skipped)
    }

    static func text(_ v: VaultAdherenceReport) -> String {
        let r = v.report
        var lines = ["Adherence of \(printable(v.nickname ?? "-")) (vault \(v.vaultId.hex)) as of \(r.asOf) (\(r.timeZone.identifier))"]
        if let s = r.treatmentStart, let e = r.treatmentEnd { lines.append("Treatment: \(s) to \(e)") } else { lines.append("Treatment: no regimen recorded") }
        lines.append("Last 7 days:  " + percent(r.last7))
        lines.append("Last 28 days: " + percent(r.last28))
        lines.append("Treatment:    " + percent(r.treatment))
        for (m, f) in r.perMedication.sorted(by: { $0.key < $1.key }) {
            lines.append("  \(m): 7 d \(f.last7.ratio.map { String(format: "%.1f %%", $0 * 100) } ?? "-"), 28 d \(f.last28.ratio.map { String(format: "%.1f %%", $0 * 100) } ?? "-"), treatment \(f.treatment.ratio.map { String(format: "%.1f %%", $0 * 100) } ?? "-")")
        }
        lines.append("Missed in a row now: \(r.currentMissedRun)")
        lines.append("Last activity: " + (r.lastActivity.map { CSVLikeTime.string($0, r.timeZone) } ?? "never"))
        lines.append("Unresolved severe side effects: \(r.unresolvedSevereSideEffects)")
        if !r.flags.isEmpty { lines.append("Flags: " + r.flags.map(\.rawValue).sorted().joined(separator: ", ")) }
        if v.unreadableRecords > 0 { lines.append("Unreadable records left out: \(v.unreadableRecords)") }
        lines.append("Calendar:")
        for d in r.calendar {
            lines.append("  \(d.date)  \(d.status.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0))  \(d.figure.taken)/\(d.figure.expected)" + (d.pending > 0 ? " (+\(d.pending) pending)" : ""))
        }
        return lines.joined(separator: "\n")
    }
}

/// Times shown in the patient's zone with their offset.
enum CSVLikeTime {
    static func string(_ d: Date, _ zone: TimeZone) -> String {
        Date.ISO8601FormatStyle(timeZone: zone).year().month().day().time(includingFractionalSeconds: false).timeZone(separator: .colon).format(d)
    }
}

/// `mikata dashboard --email S [--json]`.
struct DashboardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dashboard",
        abstract: "A supporter's linked patients sorted by risk: severe side effects, missed doses, days without activity (the supporter's password).")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var account: EmailOptions
    @Option(help: "The window of \"missed recently\", in days (1-28).") var days = 7
    @OptionGroup var password: PasswordOptions

    func validate() throws {
        guard (1...28).contains(days) else { throw ValidationError("--days must be 1 to 28") }
    }

    func run() async throws {
        let email = try account.resolve()
        let board = try await global.withService { service -> SupporterDashboard in
            let session = try await service.unlockSupporter(email: email, password: try password.read())
            defer { session.close() }
            return try await service.dashboard(session, days: days)
        }
        if global.json {
            try StandardOutput.json(board.json())
            return
        }
        if board.rows.isEmpty { try StandardOutput.line("No linked patients."); return }
        var lines = ["vault                             nickname         missed/\(board.days)d  run  inactive  severe  7-day   flags"]
        for row in board.rows {
            guard let e = row.entry else {
                lines.append("\(row.vaultId.hex)  (could not be read: \(row.error?.code.rawValue ?? "unknown"))")
                continue
            }
            let nick = printable(e.nickname ?? "-")
            let cols = [e.vaultId, nick.padding(toLength: 16, withPad: " ", startingAt: 0),
                        String(e.missedRecently).leftPad(9), String(e.currentMissedRun).leftPad(4),
                        (e.daysWithoutActivity.map(String.init) ?? "never").leftPad(8), String(e.unresolvedSevereSideEffects).leftPad(6),
                        (e.last7.map { String(format: "%.0f %%", $0 * 100) } ?? "-").leftPad(6),
                        e.flags.map(\.rawValue).sorted().joined(separator: ",")]
            lines.append(cols.joined(separator: "  "))
        }
        try StandardOutput.line(lines.joined(separator: "\n"))
    }
}

/// A nickname is the patient's own text: control characters (C0, DEL, C1) are not printed to a terminal.
func printable(_ text: String) -> String {
    String(String.UnicodeScalarView(text.unicodeScalars.filter { $0.value >= 0x20 && !(0x7f...0x9f).contains($0.value) }))
}

extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}

/// `mikata export --email E --format csv|fhir --out DIR_OR_FILE [--as-supporter S]`.
struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export a patient's adherence records as CSV (a folder: doses.csv, messages.csv, side-effects.csv) or a FHIR R4 Bundle (one file); logged in the patient's access log.",
        discussion: "New files are 0600 and never overwrite anything: --out must not exist (csv: a new folder, or an existing one without those files).")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var account: EmailOptions
    @Option(help: "csv or fhir.") var format: String
    @Option(help: ArgumentHelp("csv: the folder for the three files; fhir: the new file.", valueName: "path")) var out: String
    @OptionGroup var actor: ActorOptions

    func validate() throws {
        guard AdherenceExportFormat(rawValue: format) != nil else { throw ValidationError("--format must be csv or fhir") }
    }

    func run() async throws {
        let email = try account.resolve()
        let format = AdherenceExportFormat(rawValue: self.format)!
        // Checked before any password is asked and before the export is logged.
        let targets = try Self.targets(format: format, out: out)
        let export = try await global.withService { service -> AdherenceExport in
            let session = try await actor.unlock(service, patientEmail: email)
            defer { session.close() }
            switch session {
            case .patient(let s): return try await service.export(s, format: format)
            case .supporter(let s): return try await service.export(s, of: .email(email), format: format)
            }
        }
        let pin = PinReport(pin: export.pin, vaultId: export.vaultId)
        if let w = pin.warning { reportWarning(w) }
        if format == .csv, !Self.exists(out) {
            let rc = ClientFiles.withCString(out) { mkdir($0, 0o700) }
            guard rc == 0 else { throw CLIError.io("cannot create the output folder: \(String(cString: strerror(errno)))") }
        }
        var written: [String] = []
        for (file, path) in zip(export.files, targets) {
            try ClientFiles.writeNew(file.bytes, to: path)
            written.append(path)
        }
        try emit(json: global.json, ["vaultId": export.vaultId.hex, "format": format.rawValue, "records": export.recordCount,
                                     "unreadableRecords": export.unreadableRecords, "files": written].merging(pin.fields) { a, _ in a }) {
            "exported \(export.recordCount) records (\(format.rawValue)) to \(written.joined(separator: ", "))"
                + (export.unreadableRecords > 0 ? "; \(export.unreadableRecords) unreadable records left out" : "")
        }
    }

    static func exists(_ path: String) -> Bool {
        var st = stat()
        return ClientFiles.withCString(path) { lstat($0, &st) } == 0
    }

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return ClientFiles.withCString(path) { stat($0, &st) } == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// The files an export writes, refused when any exists already.
    static func targets(format: AdherenceExportFormat, out: String) throws -> [String] {
        switch format {
        case .fhir:
            if exists(out) { throw MikataError(.alreadyExists, "the output file exists already; choose a new name") }
            return [out]
        case .csv:
            if exists(out) && !isDirectory(out) { throw MikataError(.alreadyExists, "the output path exists and is not a folder") }
            let base = out.hasSuffix("/") ? out : out + "/"
            let paths = ["doses.csv", "messages.csv", "side-effects.csv"].map { base + $0 }
            if paths.contains(where: exists) { throw MikataError(.alreadyExists, "the output folder already holds an export; choose a new folder") }
            return paths
        }
    }
}
