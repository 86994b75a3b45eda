public import Foundation
public import MikataAdherence
import MikataVault

// Issue 10 §2–§3 over the vault (docs/ADHERENCE.md, "Service, CLI and HTTP"): adherence reports, a supporter's
// dashboard and exports, each computed in one streamed pass over the vault records of the types it needs (never a
// whole vault in memory), plus the check that typed records decode before they are appended.

/// The format of an adherence export (issue 10 §3).
public enum AdherenceExportFormat: String, Sendable, CaseIterable {
    /// Three CSV files (doses, messages, side effects): UTF-8 with BOM, CRLF, formula injection neutralised.
    case csv
    /// One FHIR R4 `collection` Bundle (JSON).
    case fhir
}

/// One file of an export.
public struct AdherenceExportFile: Sendable, Hashable {
    /// `doses.csv`, `messages.csv`, `side-effects.csv` or `adherence.fhir.json` (never personal data).
    public let name: String
    /// `text/csv; charset=utf-8` or `application/fhir+json`.
    public let contentType: String
    /// The file's bytes.
    public let bytes: [UInt8]
}

/// An export of one patient's adherence records.
public struct AdherenceExport: Sendable {
    /// The vault exported.
    public let vaultId: VaultID
    /// The format.
    public let format: AdherenceExportFormat
    /// The files: three for CSV (doses, messages, side effects, in that order), one for FHIR.
    public let files: [AdherenceExportFile]
    /// Adherence records exported (regimen versions, dose events, side effects, messages).
    public let recordCount: Int
    /// Records of an adherence type that do not decode (written before typed validation): left out and counted.
    public let unreadableRecords: Int
    /// A supporter's pin check when the patient was named by e-mail (`.notApplicable` otherwise).
    public let pin: VaultPinCheck
}

/// A patient's adherence report as the service computed it.
public struct VaultAdherenceReport: Sendable {
    /// The vault reported on.
    public let vaultId: VaultID
    /// The patient's nickname, if they have one.
    public let nickname: String?
    /// The figures (`AdherenceCalculator.report` over the vault's regimen, dose-event and side-effect records).
    public let report: AdherenceReport
    /// Records of those types that do not decode (written before typed validation): left out and counted.
    public let unreadableRecords: Int
    /// A supporter's pin check when the patient was named by e-mail (`.notApplicable` otherwise).
    public let pin: VaultPinCheck
}

/// One row of a supporter's dashboard: a linked patient's risk figures, or why their vault could not be read.
public struct SupporterDashboardRow: Sendable {
    /// The vault.
    public let vaultId: VaultID
    /// The figures; nil when the vault could not be read (`error`).
    public let entry: DashboardEntry?
    /// Why the vault could not be read (its failure class; the message names no patient).
    public let error: MikataError?
    /// Records of the report's types that do not decode: left out and counted.
    public let unreadableRecords: Int
}

/// A supporter's dashboard (issue 10 §2): rows whose vault could not be read first (by vault id: they need a look),
/// then every other linked patient by risk, highest first (`Dashboard.sorted`).
public struct SupporterDashboard: Sendable {
    /// When it was computed.
    public let generatedAt: Date
    /// The window of `DashboardEntry.missedRecently`, in days.
    public let days: Int
    /// The rows in the order above.
    public let rows: [SupporterDashboardRow]
}

/// What one streamed pass over a vault gathers: decoded adherence records, the nickname, the unreadable count.
struct AdherencePass: Sendable {
    var input = AdherenceInput()
    var records: [AdherenceRecord] = []
    var nickname: String?
    var unreadable = 0
    let keepRecords: Bool

    /// The types the report needs (and the profile, for the nickname).
    static let reportTypes: Set<String> = [AdherenceRecordType.regimen.rawValue, AdherenceRecordType.doseEvent.rawValue,
                                           AdherenceRecordType.sideEffect.rawValue, Vault.profileRecordType]
    /// Every adherence type (and the profile).
    static let exportTypes: Set<String> = Set(AdherenceRecordType.allCases.map(\.rawValue)).union([Vault.profileRecordType])

    init(keepRecords: Bool) { self.keepRecords = keepRecords }

    mutating func add(_ engineRecord: Record) {
        let r = VaultRecord(engineRecord)
        if r.type == Vault.profileRecordType {
            if nickname == nil, let obj = try? JSONSerialization.jsonObject(with: Data(r.data)) as? [String: Any] {
                nickname = obj["nickname"] as? String
            }
            return
        }
        let author: RecordAuthorRef
        switch r.author {
        case .patient: author = .patient
        case .supporter(let id): author = .supporter(id.hex)
        case .service(let id): author = .service(id.hex)
        }
        let decoded: AdherenceRecord?
        do { decoded = try AdherenceRecord.decode(seq: r.seq, type: r.type, author: author, recordTime: r.time, data: r.data) } catch {
            unreadable += 1
            return
        }
        guard let a = decoded else { return }
        // A write-only service may report doses, not decide when one is due (docs/SECURITY.md): a regimen it wrote
        // (before appends refused them, or through the engine directly) is not the patient's regimen.
        if case .regimen = a.content, case .service = author { return }
        if author == .patient { input.patientActivity.append(r.time) }
        switch a.content {
        case .regimen(let g): input.regimens.append((a.seq, g))
        case .doseEvent(let e): input.doseEvents.append((a.seq, e))
        case .sideEffect(let s): input.sideEffects.append((a.seq, s))
        case .message: break
        }
        if keepRecords { records.append(a) }
    }

    /// Streams the vault's records of `types` into a pass (one access-log read). Lock held by the engine.
    static func run(_ vault: Vault, _ session: VaultSession, types: Set<String>, keepRecords: Bool) throws -> AdherencePass {
        var pass = AdherencePass(keepRecords: keepRecords)
        try vault.forEachRecord(session, types: types) { r in
            pass.add(r)
            return true
        }
        return pass
    }

    /// The patient's time zone: the latest regimen version's (default Asia/Tokyo).
    var timeZone: TimeZone {
        input.regimens.max { ($0.regimen.effectiveFrom, $0.seq) < ($1.regimen.effectiveFrom, $1.seq) }?.regimen.timeZone ?? Regimen.defaultTimeZone
    }
}

extension VaultService {
    /// The longest calendar period a report takes (`from`...`to`), in days.
    public static let adherenceReportMaxDays = 366

    /// The patient's adherence report at `now` (docs/ADHERENCE.md, "How adherence is counted"): one streamed pass
    /// over the vault's `medication-request`, `dose-event` and `side-effect` records (one access-log read).
    /// - Parameters:
    ///   - from, to: the calendar's period (both or neither; default the last 28 days), at most
    ///     `adherenceReportMaxDays` days, starting within 10 years of `now`.
    /// - Throws: `MikataError` `.invalidInput` (period), `.closed`, `.busy`, `.tampered`, `.corrupted`, `.erased`.
    public func adherenceReport(_ session: PatientSession, now: Date = Date(), from: LocalDate? = nil,
                                to: LocalDate? = nil) async throws -> VaultAdherenceReport {
        try Self.checkPeriod(from, to, now: now)
        let key = try session.ownerKey()
        let id = session.vaultId
        let pass = try await inVault(id) { store in
            try AdherencePass.run(try self.handles.open(id.bytes, store), VaultSession(ownerKey: key), types: AdherencePass.reportTypes,
                                  keepRecords: false)
        }
        return try await blocking { _ in Self.report(id, pass, now: now, from: from, to: to, pin: .notApplicable) }  // CPU: off the async pool
    }

    /// A linked patient's adherence report, as a supporter (by vault id, or by e-mail with the pin check).
    /// - Throws: `MikataError` `.notPermitted` (not linked or revoked), and what the patient's `adherenceReport` throws.
    public func adherenceReport(_ session: SupporterSession, of patient: PatientReference, now: Date = Date(),
                                from: LocalDate? = nil, to: LocalDate? = nil) async throws -> VaultAdherenceReport {
        try Self.checkPeriod(from, to, now: now)
        let identity = try session.current()
        let r = try await asSupporter(identity, patient, access: .read, acceptNewVault: false) { vault, s in
            try AdherencePass.run(vault, s, types: AdherencePass.reportTypes, keepRecords: false)
        }
        return try await blocking { _ in Self.report(r.vaultId, r.value, now: now, from: from, to: to, pin: r.pin) }
    }

    /// The supporter's dashboard (issue 10 §2): every patient who links them, one streamed pass per vault over its
    /// regimen, dose-event and side-effect records (and profile, for the nickname), a few vaults at a time. A vault
    /// that no longer links the supporter (or is shredded) is left out, as `linkedPatients` does; any other failure
    /// to read one is its row's `error`, never the whole dashboard's.
    /// - Parameters:
    ///   - days: the window of "missed recently", 1...28 (default 7).
    /// - Throws: `MikataError` `.invalidInput` (days), `.closed`, `.io`.
    public func dashboard(_ session: SupporterSession, now: Date = Date(), days: Int = 7) async throws -> SupporterDashboard {
        guard (1...28).contains(days) else { throw MikataError(.invalidInput, "days: must be 1 to 28") }
        let identity = try session.current()
        let ids = try await blocking { store in store.linkedVaults(supporterId: identity.id) }
        let rows = await withTaskGroup(of: SupporterDashboardRow?.self) { group in
            var rows: [SupporterDashboardRow] = []
            var next = 0
            func start() {
                guard next < ids.count else { return }
                let id = VaultID(trusted: ids[next])
                next += 1
                group.addTask {
                    do {
                        let pass = try await self.inVault(id) { store in
                            let vault = try self.handles.open(id.bytes, store)
                            return try AdherencePass.run(vault, try vault.unlock(supporter: identity), types: AdherencePass.reportTypes,
                                                         keepRecords: false)
                        }
                        let report = try await self.blocking { _ in AdherenceCalculator.report(pass.input, now: now, from: nil, to: nil) }
                        return SupporterDashboardRow(vaultId: id, entry: DashboardEntry(vaultId: id.hex, nickname: pass.nickname, report: report,
                                                                                         now: now, days: days),
                                                     error: nil, unreadableRecords: pass.unreadable)
                    } catch {
                        let e = MikataError.from(error)
                        if [.notPermitted, .notFound, .erased].contains(e.code) { return nil }  // not (or no longer) linked
                        return SupporterDashboardRow(vaultId: id, entry: nil, error: MikataError(e.code, "this vault could not be read"),
                                                     unreadableRecords: 0)
                    }
                }
            }
            for _ in 0..<4 { start() }  // a few vaults at a time: bounded memory, the pool shared with other users
            while let row = await group.next() {
                if let row { rows.append(row) }
                start()
            }
            return rows
        }
        let failed = rows.filter { $0.entry == nil }.sorted { $0.vaultId.hex < $1.vaultId.hex }
        var byId: [String: SupporterDashboardRow] = [:]
        for r in rows where r.entry != nil { byId[r.vaultId.hex] = r }
        let ordered = Dashboard.sorted(rows.compactMap(\.entry)).compactMap { byId[$0.vaultId] }
        return SupporterDashboard(generatedAt: now, days: days, rows: failed + ordered)
    }

    /// Exports the patient's adherence records (issue 10 §3) from one streamed pass over the vault's
    /// `medication-request`, `dose-event`, `side-effect` and `message` records. The export is an access-log entry
    /// (action `export`, detail the format and record count) the patient sees in `accessLog`.
    /// - Parameters:
    ///   - now: the FHIR Bundle's timestamp.
    /// - Throws: `MikataError` `.closed`, `.busy`, `.tampered`, `.corrupted`, `.erased`, `.io`.
    public func export(_ session: PatientSession, format: AdherenceExportFormat, now: Date = Date()) async throws -> AdherenceExport {
        let key = try session.ownerKey()
        let id = session.vaultId
        let pass = try await inVault(id) { store in
            try Self.exportPass(try self.handles.open(id.bytes, store), VaultSession(ownerKey: key), format: format)
        }
        return Self.export(id, pass, format: format, now: now, pin: .notApplicable)
    }

    /// Exports a linked patient's adherence records, as a supporter; logged as the patient's export is, with the
    /// supporter as actor.
    /// - Throws: `MikataError` `.notPermitted` (not linked or revoked), and what the patient's `export` throws.
    public func export(_ session: SupporterSession, of patient: PatientReference, format: AdherenceExportFormat,
                       now: Date = Date()) async throws -> AdherenceExport {
        let identity = try session.current()
        let r = try await asSupporter(identity, patient, access: .read, acceptNewVault: false) { vault, s in
            try Self.exportPass(vault, s, format: format)
        }
        return Self.export(r.vaultId, r.value, format: format, now: now, pin: r.pin)
    }

    // MARK: helpers

    static func checkPeriod(_ from: LocalDate?, _ to: LocalDate?, now: Date) throws {
        switch (from, to) {
        case (nil, nil): return
        case (let f?, let t?):
            let today = LocalDate(now, in: TimeZone(identifier: "UTC")!)
            guard abs(today.days(to: f)) <= 3660 else { throw MikataError(.invalidInput, "from: must be within 10 years of today") }
            guard f <= t else { throw MikataError(.invalidInput, "to: is before from") }
            guard f.days(to: t) < adherenceReportMaxDays else {
                throw MikataError(.invalidInput, "to: a report covers at most \(adherenceReportMaxDays) days")
            }
        default: throw MikataError(.invalidInput, "from: from and to go together")
        }
    }

    static func report(_ id: VaultID, _ pass: AdherencePass, now: Date, from: LocalDate?, to: LocalDate?, pin: VaultPinCheck) -> VaultAdherenceReport {
        VaultAdherenceReport(vaultId: id, nickname: pass.nickname, report: AdherenceCalculator.report(pass.input, now: now, from: from, to: to),
                             unreadableRecords: pass.unreadable, pin: pin)
    }

    /// The export's pass, logged as action `export` with the format and the record count (ids and counts only).
    static func exportPass(_ vault: Vault, _ session: VaultSession, format: AdherenceExportFormat) throws -> AdherencePass {
        try vault.audited("export", actor: Vault.actor(of: session),
                          detail: { "\(format.rawValue) \($0.records.count) records, \($0.unreadable) unreadable" }) {
            try AdherencePass.run(vault, session, types: AdherencePass.exportTypes, keepRecords: true)
        }
    }

    static func export(_ id: VaultID, _ pass: AdherencePass, format: AdherenceExportFormat, now: Date, pin: VaultPinCheck) -> AdherenceExport {
        let zone = pass.timeZone
        let files: [AdherenceExportFile]
        switch format {
        case .csv:
            let type = "text/csv; charset=utf-8"
            files = [AdherenceExportFile(name: "doses.csv", contentType: type, bytes: CSVExport.doseEvents(pass.records, timeZone: zone)),
                     AdherenceExportFile(name: "messages.csv", contentType: type, bytes: CSVExport.messages(pass.records, timeZone: zone)),
                     AdherenceExportFile(name: "side-effects.csv", contentType: type, bytes: CSVExport.sideEffects(pass.records, timeZone: zone))]
        case .fhir:
            files = [AdherenceExportFile(name: "adherence.fhir.json", contentType: "application/fhir+json",
                                         bytes: FHIRExport.bundle(vaultId: id.hex, nickname: pass.nickname, records: pass.records, generatedAt: now))]
        }
        return AdherenceExport(vaultId: id, format: format, files: files, recordCount: pass.records.count, unreadableRecords: pass.unreadable, pin: pin)
    }

    /// Typed-record validation on write (issue 10 §1): data of an adherence type (`AdherenceRecordType`) must decode
    /// as that type, else `.invalidInput` naming the member (`/scheduled/time: must be a time HH:MM`).
    ///
    /// A new dose event must also make sense in time: `recordedAt` not after now and `takenAt` not after
    /// `recordedAt` (each with `clockSkew` of slack for a phone's clock). These are write rules only: events stored
    /// before them still read.
    static func checkTyped(type: String, data: [UInt8], now: Date = Date()) throws {
        let record: AdherenceRecord?
        do {
            record = try AdherenceRecord.decode(seq: 0, type: type, author: .patient, recordTime: now, data: data)
        } catch let e as AdherenceValidationError {
            throw MikataError(.invalidInput, e.field.isEmpty ? e.reason : "\(e.field): \(e.reason)", field: "/data" + e.field)
        }
        let latest = now.addingTimeInterval(clockSkew)
        switch record?.content {
        case .doseEvent(let e)?:
            // The regimen's rule: an event can only answer a dose a regimen can schedule (and a FHIR coding.code
            // holds it). A write rule: events stored before it still read.
            guard MedicationDosage.isCode(e.scheduled.medication) else {
                throw MikataError(.invalidInput, "/scheduled/medication: must be a lower-case code (a-z, 0-9, -)", field: "/data/scheduled/medication")
            }
            guard e.recordedAt <= latest else {
                throw MikataError(.invalidInput, "/recordedAt: must not be in the future", field: "/data/recordedAt")
            }
            if let taken = e.takenAt, taken > e.recordedAt.addingTimeInterval(clockSkew) {
                throw MikataError(.invalidInput, "/takenAt: must not be after recordedAt", field: "/data/takenAt")
            }
        // Activity times: one in the future would keep a patient "active" on every dashboard for good.
        case .sideEffect(let e)? where e.onset > latest:
            throw MikataError(.invalidInput, "/onset: must not be in the future", field: "/data/onset")
        case .message(let m)? where m.sentAt > latest:
            throw MikataError(.invalidInput, "/sentAt: must not be in the future", field: "/data/sentAt")
        default: break
        }
    }

    /// The slack allowed between a client's clock and the server's (5 minutes).
    static let clockSkew: TimeInterval = AdherenceCalculator.clockSlack

    /// A dose event's `supersedes` must name a dose event of the same vault (read inside the append's lane turn:
    /// one access-log read, only for corrections).
    /// - Throws: `MikataError(.invalidInput)` naming `/data/supersedes`.
    static func checkSupersedes(type: String, data: [UInt8], _ vault: Vault, _ session: VaultSession) throws {
        guard type == AdherenceRecordType.doseEvent.rawValue, let e = try? DoseEvent.decode(json: data), let target = e.supersedes else { return }
        guard let r = try recordAt(target, vault, session), r.type == AdherenceRecordType.doseEvent.rawValue else {
            throw MikataError(.invalidInput, "/supersedes: no dose-event record has this sequence number", field: "/data/supersedes")
        }
    }
}

extension VaultService {
    /// `checkedRecordData(_:)` plus the typed shape of an adherence type (`medication-request`, `dose-event`,
    /// `side-effect`, `message`; docs/ADHERENCE.md), for clients that check data before asking for a password.
    /// - Returns: the data as an append stores it.
    /// - Throws: `MikataError(.invalidInput)` naming the member at fault.
    public static func checkedRecordData(_ data: [UInt8], type: String) throws -> [UInt8] {
        let json = try checkedRecordData(data)
        try checkTyped(type: type, data: json)
        return json
    }
}

// MARK: JSON (the CLI's --json and the HTTP answers share these shapes; docs/openapi.yaml AdherenceReport, Dashboard)

struct FigureJSON: Encodable {
    let expected, taken, onTime, late, missed, skipped: Int
    let adherence: Double?
    let band: String?
    init(_ f: AdherenceFigure) {
        expected = f.expected; taken = f.taken; onTime = f.onTime; late = f.late; missed = f.missed; skipped = f.skipped
        adherence = f.ratio.map { ($0 * 10_000).rounded() / 10_000 }
        band = f.band?.rawValue
    }
}

struct WindowsJSON: Encodable {
    let last7, last28, treatment: FigureJSON
}

struct DayJSON: Encodable {
    let date, status: String
    let expected, taken, late, missed, skipped, pending: Int
}

struct ReportJSON: Encodable {
    let vaultId: String
    let nickname: String?
    let asOf, timeZone: String
    let treatmentStart, treatmentEnd: String?
    let last7, last28, treatment: FigureJSON
    let perMedication: [String: WindowsJSON]
    let calendar: [DayJSON]
    let currentMissedRun: Int
    let lastActivity: String?
    let flags: [String]
    let unresolvedSevereSideEffects: Int
    let unreadableRecords: Int

    init(_ v: VaultAdherenceReport) {
        let r = v.report
        vaultId = v.vaultId.hex; nickname = v.nickname; asOf = r.asOf.description; timeZone = r.timeZone.identifier
        treatmentStart = r.treatmentStart?.description; treatmentEnd = r.treatmentEnd?.description
        last7 = FigureJSON(r.last7); last28 = FigureJSON(r.last28); treatment = FigureJSON(r.treatment)
        perMedication = r.perMedication.mapValues { WindowsJSON(last7: FigureJSON($0.last7), last28: FigureJSON($0.last28), treatment: FigureJSON($0.treatment)) }
        calendar = r.calendar.map { d in
            DayJSON(date: d.date.description, status: d.status.rawValue, expected: d.figure.expected, taken: d.figure.taken,
                    late: d.figure.late, missed: d.figure.missed, skipped: d.figure.skipped, pending: d.pending)
        }
        currentMissedRun = r.currentMissedRun
        lastActivity = r.lastActivity.map { $0.formatted(.iso8601) }
        flags = r.flags.map(\.rawValue).sorted()
        unresolvedSevereSideEffects = r.unresolvedSevereSideEffects
        unreadableRecords = v.unreadableRecords
    }
}

struct DashboardRowJSON: Encodable {
    struct ErrorJSON: Encodable { let code, message: String }
    let vaultId: String
    let nickname: String?
    let missedRecently, currentMissedRun, unresolvedSevereSideEffects: Int?
    let daysWithoutActivity: Int?
    let last7: Double?
    let flags: [String]?
    let unreadableRecords: Int
    let error: ErrorJSON?

    init(_ row: SupporterDashboardRow) {
        vaultId = row.vaultId.hex
        let e = row.entry
        nickname = e?.nickname; missedRecently = e?.missedRecently; currentMissedRun = e?.currentMissedRun
        unresolvedSevereSideEffects = e?.unresolvedSevereSideEffects; daysWithoutActivity = e?.daysWithoutActivity
        last7 = e?.last7.map { ($0 * 10_000).rounded() / 10_000 }
        flags = e.map { $0.flags.map(\.rawValue).sorted() }
        unreadableRecords = row.unreadableRecords
        error = row.error.map { ErrorJSON(code: $0.code.rawValue, message: $0.message) }
    }
}

struct DashboardJSON: Encodable {
    let generatedAt: String
    let days: Int
    let patients: [DashboardRowJSON]
}

private func encodeSorted(_ value: some Encodable) -> [UInt8] {
    let e = JSONEncoder()
    e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return (try? e.encode(value)).map(Array.init) ?? Array("{}".utf8)
}

extension VaultAdherenceReport {
    /// The report as JSON (sorted keys; docs/openapi.yaml `AdherenceReport`): `vaultId`, `nickname`?, `asOf`,
    /// `timeZone`, `treatmentStart`?, `treatmentEnd`?, `last7`/`last28`/`treatment` figures (`expected`, `taken`,
    /// `onTime`, `late`, `missed`, `skipped`, `adherence`? 0...1 to 4 places, `band`?), `perMedication` (code →
    /// the three figures), `calendar` (`date`, `status`, counts, `pending`), `currentMissedRun`, `lastActivity`?
    /// (ISO 8601 UTC), `flags`, `unresolvedSevereSideEffects`, `unreadableRecords`. Absent members are omitted.
    public func json() -> [UInt8] { encodeSorted(ReportJSON(self)) }
}

extension SupporterDashboard {
    /// The dashboard as JSON (sorted keys; docs/openapi.yaml `Dashboard`): `generatedAt` (ISO 8601 UTC), `days`,
    /// `patients` in the dashboard's order, each `vaultId`, `unreadableRecords`, and either the figures
    /// (`nickname`?, `missedRecently`, `currentMissedRun`, `unresolvedSevereSideEffects`, `daysWithoutActivity`?,
    /// `last7`?, `flags`) or `error` (`code`, `message`).
    public func json() -> [UInt8] {
        encodeSorted(DashboardJSON(generatedAt: generatedAt.formatted(.iso8601), days: days, patients: rows.map(DashboardRowJSON.init)))
    }
}
