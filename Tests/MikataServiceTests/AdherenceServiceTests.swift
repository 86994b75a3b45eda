import Foundation
import MikataAdherence
import MikataVault
import Testing
@testable @_spi(Testing) import MikataService

private let tokyo = TimeZone(identifier: "Asia/Tokyo")!
private func day(_ s: String) -> LocalDate { LocalDate(s)! }
private func at(_ s: String) -> Date { try! Date(s, strategy: .iso8601) }
private let eight = TimeOfDay("08:00")!
private let meds = ["isoniazid", "rifampicin", "pyrazinamide", "ethambutol"]
private let doses: [String: DoseQuantity] = ["isoniazid": .init(value: "300", unit: "mg"), "rifampicin": .init(value: "600", unit: "mg"),
                                             "pyrazinamide": .init(value: "1500", unit: "mg"), "ethambutol": .init(value: "1000", unit: "mg")]
/// 2026-11-08 12:00 JST: the 08:00 dose of 11-08 is due (grace 2 h) and has no event.
private let now = at("2026-11-08T03:00:00Z")

/// Writes, through `VaultService.append`, 2HRZE/4HR from 2026-11-01 (one dose of each medicine at 08:00 JST) and dose
/// events for 11-01...11-07 by `pattern` (nil: no event); returns the same records as the calculator's input.
private func writePatient(_ s: VaultService, _ session: PatientSession,
                          pattern: (LocalDate, String) -> DoseStatus?, severe: Bool = false) async throws -> AdherenceInput {
    var input = AdherenceInput()
    let regimen = try RegimenTemplate.hrze6.regimen(start: day("2026-11-01"), doses: doses, timesOfDay: [eight])
    input.regimens.append((try await s.append(session, type: "medication-request", data: regimen.json()), regimen))
    var d = day("2026-11-01")
    while d <= day("2026-11-07") {
        for m in meds {
            guard let status = pattern(d, m) else { continue }
            let taken = d.instant(at: TimeOfDay(status == .late ? "11:30" : "08:05")!, in: tokyo)
            let e = try DoseEvent(scheduled: ScheduledDose(medication: m, date: d, time: eight), status: status,
                                  takenAt: status == .taken || status == .late ? taken : nil, recordedAt: taken.addingTimeInterval(60),
                                  method: .selfReport, reason: status == .skipped ? .sideEffects : nil)
            input.doseEvents.append((try await s.append(session, type: "dose-event", data: e.json()), e))
        }
        d = d.adding(days: 1)
    }
    if severe {
        let e = try SideEffect(symptom: .jaundice, grade: 3, onset: at("2026-11-06T01:00:00Z"))
        input.sideEffects.append((try await s.append(session, type: "side-effect", data: e.json()), e))
    }
    return input
}

/// The fixture's pattern: 11-03 all four reported missed, ethambutol skipped on 11-05, isoniazid late on 11-06,
/// everything else taken on time; 11-08 has no events.
private func fixturePattern(_ d: LocalDate, _ m: String) -> DoseStatus? {
    switch (d.description, m) {
    case ("2026-11-03", _): return .missed
    case ("2026-11-05", "ethambutol"): return .skipped
    case ("2026-11-06", "isoniazid"): return .late
    default: return .taken
    }
}

@Suite struct AdherenceServiceTests {
    @Test func reportEqualsTheCalculatorAndTheHandFigures() async throws {
        let f = try await ServiceFixture.make()
        defer { Task { await f.tearDown() } }
        let s = f.service
        _ = try await s.createPatient(email: "a@example.jp", nickname: "Aiko", password: pw("pw"))
        let session = try await s.unlockPatient(email: "a@example.jp", password: pw("pw"))
        let input = try await writePatient(s, session, pattern: fixturePattern, severe: true)
        _ = try await s.append(session, type: "note", data: json(#"{"free":"form"}"#))  // not an adherence type: ignored

        let got = try await s.adherenceReport(session, now: now)
        let want = AdherenceCalculator.report(input, now: now)
        let r = got.report
        #expect(got.vaultId == session.vaultId && got.nickname == "Aiko" && got.unreadableRecords == 0)
        #expect(r.last7 == want.last7 && r.last28 == want.last28 && r.treatment == want.treatment)
        #expect(r.calendar == want.calendar && r.currentMissedRun == want.currentMissedRun && r.flags == want.flags)
        #expect(r.perMedication.mapValues { [$0.last7, $0.last28, $0.treatment] } == want.perMedication.mapValues { [$0.last7, $0.last28, $0.treatment] })
        // By hand: 8 days × 4 doses = 32 due; missed 4 (11-03) + 4 (11-08, no events) = 8; skipped 1; late 1;
        // taken 32 − 8 − 1 = 23 (22 on time). The run: the 4 doses of 11-08. One unresolved grade-3 side effect.
        let t = r.treatment
        let counts: [Int] = [t.expected, t.taken, t.onTime, t.late, t.missed, t.skipped]
        #expect(counts == [32, 23, 22, 1, 8, 1])
        #expect(r.treatment.band == .low && r.currentMissedRun == 4 && r.unresolvedSevereSideEffects == 1)
        #expect(r.flags == [.intermittentMisses])
        #expect(r.lastActivity != nil)
        // A calendar period of its own; the period's rules.
        let week = try await s.adherenceReport(session, now: now, from: day("2026-11-02"), to: day("2026-11-04"))
        #expect(week.report.calendar.map(\.status) == [.complete, .missed, .complete])
        #expect(await code { _ = try await s.adherenceReport(session, now: now, from: day("2026-11-04"), to: day("2026-11-02")) } == .invalidInput)
        #expect(await code { _ = try await s.adherenceReport(session, now: now, from: day("2026-11-04"), to: nil) } == .invalidInput)
        let json = try JSONSerialization.jsonObject(with: Data(got.json())) as? [String: Any]
        #expect((json?["treatment"] as? [String: Any])?["taken"] as? Int == 23 && json?["vaultId"] as? String == session.vaultId.hex)
    }

    @Test func aSupporterGetsTheSameReportAndUnlinkedVaultsAreRefused() async throws {
        let f = try await ServiceFixture.make()
        defer { Task { await f.tearDown() } }
        let s = f.service
        _ = try await s.createPatient(email: "a@example.jp", nickname: "Aiko", password: pw("pw"))
        _ = try await s.createSupporter(email: "n@example.jp", name: "Nurse", password: pw("npw"))
        let patient = try await s.unlockPatient(email: "a@example.jp", password: pw("pw"))
        _ = try await writePatient(s, patient, pattern: fixturePattern)
        let nurse = try await s.unlockSupporter(email: "n@example.jp", password: pw("npw"))
        #expect(await code { _ = try await s.adherenceReport(nurse, of: .vault(patient.vaultId), now: now) } == .notPermitted)
        _ = try await s.grant(patient, supporterEmail: "n@example.jp")
        let mine = try await s.adherenceReport(patient, now: now)
        let theirs = try await s.adherenceReport(nurse, of: .email("a@example.jp"), now: now)
        #expect(theirs.report.treatment == mine.report.treatment && theirs.report.calendar == mine.report.calendar)
        #expect(theirs.pin == .firstContact)
    }

    @Test func dashboardOrdersThreePatientsByRisk() async throws {
        let f = try await ServiceFixture.make()
        defer { Task { await f.tearDown() } }
        let s = f.service
        _ = try await s.createSupporter(email: "n@example.jp", name: "Nurse", password: pw("npw"))
        var ids: [String: VaultID] = [:]
        // steady: every dose taken (only 11-08's 4 missed) · gaps: nothing after 11-02 · severe: the fixture + a severe side effect.
        let patterns: [(String, (LocalDate, String) -> DoseStatus?, Bool)] = [
            ("steady", { _, _ in .taken }, false),
            ("gaps", { d, _ in d <= day("2026-11-02") ? .taken : nil }, false),
            ("severe", fixturePattern, true),
        ]
        for (name, pattern, severe) in patterns {
            _ = try await s.createPatient(email: "\(name)@example.jp", nickname: name, password: pw("pw"))
            let p = try await s.unlockPatient(email: "\(name)@example.jp", password: pw("pw"))
            _ = try await writePatient(s, p, pattern: pattern, severe: severe)
            _ = try await s.grant(p, supporterEmail: "n@example.jp")
            ids[name] = p.vaultId
        }
        _ = try await s.createPatient(email: "other@example.jp", nickname: "other", password: pw("pw"))  // not linked: not shown
        let nurse = try await s.unlockSupporter(email: "n@example.jp", password: pw("npw"))
        let board = try await s.dashboard(nurse, now: now, days: 7)
        #expect(board.rows.map(\.vaultId) == [ids["severe"]!, ids["gaps"]!, ids["steady"]!])
        #expect(board.rows.map { $0.entry?.nickname } == ["severe", "gaps", "steady"])
        #expect(board.rows.allSatisfy { $0.error == nil && $0.unreadableRecords == 0 })
        // gaps: 11-03...11-08 missed, 6 × 4 = 24 in the last 7 days; steady: 11-08's 4.
        #expect(board.rows.map { $0.entry?.missedRecently } == [8, 24, 4])
        #expect(board.rows.first?.entry?.unresolvedSevereSideEffects == 1)
        #expect(await code { _ = try await s.dashboard(nurse, now: now, days: 0) } == .invalidInput)
    }

    @Test func aVaultThatCannotBeReadIsItsOwnRowNotTheDashboardsFailure() async throws {
        let f = try await ServiceFixture.make()
        defer { Task { await f.tearDown() } }
        let s = f.service
        _ = try await s.createSupporter(email: "n@example.jp", name: "Nurse", password: pw("npw"))
        var ids: [VaultID] = []
        for name in ["good", "damaged"] {
            _ = try await s.createPatient(email: "\(name)@example.jp", nickname: name, password: pw("pw"))
            let p = try await s.unlockPatient(email: "\(name)@example.jp", password: pw("pw"))
            _ = try await writePatient(s, p, pattern: { _, _ in .taken })
            _ = try await s.grant(p, supporterEmail: "n@example.jp")
            ids.append(p.vaultId)
        }
        // Flip one byte inside the damaged vault's last record: its read fails part-way.
        let path = try await s.inspect(email: "damaged@example.jp").path
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[bytes.count - 40] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        s.handles.drop(ids[1].hex)
        let nurse = try await s.unlockSupporter(email: "n@example.jp", password: pw("npw"))
        let board = try await s.dashboard(nurse, now: now)
        #expect(board.rows.map(\.vaultId) == [ids[1], ids[0]])  // the unreadable one first
        #expect(board.rows.first?.entry == nil && [.tampered, .corrupted].contains(board.rows.first?.error?.code))
        #expect(board.rows.last?.entry?.nickname == "good" && board.rows.last?.error == nil)
        #expect(board.rows.first?.error?.message.contains("damaged") == false)
    }

    @Test func exportsAreInThePatientsAccessLogWithFormatAndCountOnly() async throws {
        let f = try await ServiceFixture.make()
        defer { Task { await f.tearDown() } }
        let s = f.service
        _ = try await s.createPatient(email: "a@example.jp", nickname: "Aiko", password: pw("pw"))
        _ = try await s.createSupporter(email: "n@example.jp", name: "Nurse", password: pw("npw"))
        let patient = try await s.unlockPatient(email: "a@example.jp", password: pw("pw"))
        let input = try await writePatient(s, patient, pattern: fixturePattern, severe: true)
        _ = try await s.grant(patient, supporterEmail: "n@example.jp", supporterName: "Nurse Sato")
        let nurse = try await s.unlockSupporter(email: "n@example.jp", password: pw("npw"))
        _ = try await s.append(nurse, to: .vault(patient.vaultId), type: "message", data: json(#"{"text":"がんばって =1+1"}"#))
        let count = input.regimens.count + input.doseEvents.count + input.sideEffects.count + 1

        let csv = try await s.export(patient, format: .csv, now: now)
        #expect(csv.files.map(\.name) == ["doses.csv", "messages.csv", "side-effects.csv"])
        #expect(csv.files.allSatisfy { Array($0.bytes.prefix(3)) == [0xEF, 0xBB, 0xBF] && $0.contentType == "text/csv; charset=utf-8" })
        #expect(csv.recordCount == count && csv.unreadableRecords == 0)
        #expect(String(decoding: csv.files[1].bytes, as: UTF8.self).contains("がんばって =1+1"))
        let fhir = try await s.export(nurse, of: .vault(patient.vaultId), format: .fhir, now: now)
        #expect(fhir.files.count == 1 && fhir.files[0].contentType == "application/fhir+json")
        let bundle = try JSONSerialization.jsonObject(with: Data(fhir.files[0].bytes)) as? [String: Any]
        #expect(bundle?["resourceType"] as? String == "Bundle")

        let log = try await s.accessLog(patient).filter { $0.entry.action == "export" }
        #expect(log.count == 2)
        #expect(log.first?.entry.actor == "patient" && log.first?.entry.outcome == "ok" && log.first?.detail == "csv \(count) records, 0 unreadable")
        #expect(log.last?.actorName.hasPrefix("Nurse Sato") == true && log.last?.detail == "fhir \(count) records, 0 unreadable")
        #expect(!log.contains { $0.detail.contains("がんばって") || $0.detail.contains("Aiko") })
    }

    @Test func invalidTypedRecordsAreRefusedNamingTheFieldAndNothingIsWritten() async throws {
        let f = try await ServiceFixture.make()
        defer { Task { await f.tearDown() } }
        let s = f.service
        _ = try await s.createPatient(email: "a@example.jp", nickname: "Aiko", password: pw("pw"))
        _ = try await s.createSupporter(email: "n@example.jp", name: "Nurse", password: pw("npw"))
        let patient = try await s.unlockPatient(email: "a@example.jp", password: pw("pw"))
        _ = try await s.grant(patient, supporterEmail: "n@example.jp")
        let nurse = try await s.unlockSupporter(email: "n@example.jp", password: pw("npw"))
        let before = try await s.records(patient).records.count
        func message(_ body: () async throws -> Void) async -> String? {
            do { try await body(); return nil } catch let e as MikataError { return e.code == .invalidInput ? e.message : "\(e.code)" } catch { return "\(error)" }
        }
        let badTime = #"{"scheduled":{"medication":"isoniazid","date":"2026-11-01","time":"8am"},"status":"missed","recordedAt":"2026-11-01T00:00:00Z","method":"self-report"}"#
        #expect(await message { _ = try await s.append(patient, type: "dose-event", data: json(badTime)) } == "/scheduled/time: must be a time HH:MM")
        #expect(await message { _ = try await s.append(patient, type: "side-effect", data: json(#"{"symptom":"nausea","grade":1}"#)) }?.hasPrefix("/onset") == true)
        #expect(await message { _ = try await s.append(nurse, to: .vault(patient.vaultId), type: "message", data: json(#"{"from":"x"}"#)) }?.hasPrefix("/") == true)
        #expect(await message { _ = try await s.append(patient, type: "medication-request", data: json("{}")) }?.hasPrefix("/effectiveFrom") == true)
        #expect(throws: MikataError.self) { _ = try VaultService.checkedRecordData(json(badTime), type: "dose-event") }  // before a password
        // Dose events must make sense in time and correct an event that exists.
        func dose(_ extra: String, recordedAt: String = "2026-11-01T00:00:00Z", status: String = "missed") -> [UInt8] {
            json(#"{"scheduled":{"medication":"isoniazid","date":"2026-11-01","time":"08:00"},"status":"\#(status)","recordedAt":"\#(recordedAt)","method":"self-report"\#(extra)}"#)
        }
        func field(_ body: () async throws -> Void) async -> String? {
            do { try await body(); return nil } catch let e as MikataError { return e.field } catch { return "\(error)" }
        }
        let future = ISO8601DateFormatter().string(from: Date().addingTimeInterval(86_400))
        #expect(await field { _ = try await s.append(patient, type: "dose-event", data: dose("", recordedAt: future)) } == "/data/recordedAt")
        #expect(await field { _ = try await s.append(patient, type: "dose-event", data: dose(#","takenAt":"2026-11-02T00:00:00Z""#, status: "taken")) }
                == "/data/takenAt")
        #expect(await field { _ = try await s.append(patient, type: "dose-event", data: dose(#","supersedes":9999"#)) } == "/data/supersedes")
        #expect(await field { _ = try await s.append(nurse, to: .vault(patient.vaultId), type: "dose-event", data: dose(#","supersedes":1"#)) }
                == "/data/supersedes", "record 1 is not a dose event")
        #expect(try await s.records(patient).records.count == before)
        let first = try await s.append(patient, type: "dose-event", data: dose(""))
        _ = try await s.append(patient, type: "dose-event", data: dose(#","supersedes":\#(first)"#))  // a real correction
        // Other types stay free-form.
        _ = try await s.append(patient, type: "note", data: json(#"{"from":"x"}"#))
    }

    @Test func activityTimesInTheFutureAndMalformedMedicineCodesAreRefused() async throws {
        let f = try await ServiceFixture.make()
        defer { Task { await f.tearDown() } }
        let s = f.service
        _ = try await s.createPatient(email: "a@example.jp", nickname: "Aiko", password: pw("pw"))
        let patient = try await s.unlockPatient(email: "a@example.jp", password: pw("pw"))
        let before = try await s.records(patient).records.count
        func field(_ body: () async throws -> Void) async -> String? {
            do { try await body(); return nil } catch let e as MikataError { return e.field } catch { return "\(error)" }
        }
        let future = ISO8601DateFormatter().string(from: Date().addingTimeInterval(86_400))
        #expect(await field { _ = try await s.append(patient, type: "side-effect", data: json(#"{"symptom":"nausea","grade":1,"onset":"\#(future)"}"#)) }
                == "/data/onset")
        #expect(await field { _ = try await s.append(patient, type: "message", data: json(#"{"text":"hi","sentAt":"2099-01-01T00:00:00Z"}"#)) }
                == "/data/sentAt")
        for code in ["a  b", " x", "Isoniazid", ""] {
            let e = #"{"scheduled":{"medication":"\#(code)","date":"2026-11-01","time":"08:00"},"status":"missed","recordedAt":"2026-11-01T00:00:00Z","method":"self-report"}"#
            #expect(await field { _ = try await s.append(patient, type: "dose-event", data: json(e)) } == "/data/scheduled/medication", "\(code)")
        }
        #expect(try await s.records(patient).records.count == before, "nothing written")
        let now = ISO8601DateFormatter().string(from: Date())
        _ = try await s.append(patient, type: "side-effect", data: json(#"{"symptom":"nausea","grade":1,"onset":"\#(now)"}"#))
    }

    @Test func aServiceMayReportDosesButNotWriteARegimenAndOneItWroteIsNotThePatients() async throws {
        let f = try await ServiceFixture.make()
        defer { Task { await f.tearDown() } }
        let s = f.service
        _ = try await s.createPatient(email: "a@example.jp", nickname: "Aiko", password: pw("pw"))
        let patient = try await s.unlockPatient(email: "a@example.jp", password: pw("pw"))
        let input = try await writePatient(s, patient, pattern: fixturePattern)
        let key = ServiceKey.generate()
        try await s.authorizeService(patient, serviceId: key.id, signPublicKey: key.signPublicKey)
        let pillbox = s.serviceSession(key)
        // A regimen that would end the treatment: from today, one phase long past, so no dose is ever due again.
        let stop = try Regimen(effectiveFrom: day("2026-11-08"), timeZone: tokyo, phases: [
            RegimenPhase(name: "p", start: day("2026-01-01"), end: day("2026-01-02"),
                         medications: [MedicationDosage(medication: "isoniazid", dose: doses["isoniazid"]!, timesOfDay: [eight])]),
        ])
        let before = try await s.records(patient).records.count
        #expect(await code { _ = try await s.append(pillbox, to: patient.vaultId, type: "medication-request", data: stop.json()) } == .notPermitted)
        #expect(await code { _ = try await s.append(pillbox, toPatientEmail: "a@example.jp", type: "medication-request", data: stop.json()) }
                == .notPermitted)
        #expect(try await s.records(patient).records.count == before, "nothing written")
        let e = try DoseEvent(scheduled: ScheduledDose(medication: "isoniazid", date: day("2026-11-08"), time: eight), status: .taken,
                              takenAt: at("2026-11-07T23:05:00Z"), recordedAt: at("2026-11-07T23:06:00Z"), method: .selfReport)
        _ = try await s.append(pillbox, to: patient.vaultId, type: "dose-event", data: e.json())  // doses it reports
        // One written by a service through the engine directly (as before appends refused it) does not count.
        let id = patient.vaultId
        try await s.inVault(id) { store in
            let vault = try s.handles.open(id.bytes, store)
            _ = try vault.append(type: "medication-request", data: stop.json(), session: try vault.session(service: key.identity))
        }
        let report = try await s.adherenceReport(patient, now: now)
        var expected = input
        expected.doseEvents.append((0, e))
        #expect(report.report.treatment == AdherenceCalculator.report(expected, now: now).treatment)
        #expect(report.report.treatment.expected > 0)
    }

    @Test func recordsWrittenBeforeValidationAreSkippedAndCounted() async throws {
        let f = try await ServiceFixture.make()
        defer { Task { await f.tearDown() } }
        let s = f.service
        _ = try await s.createPatient(email: "a@example.jp", nickname: "Aiko", password: pw("pw"))
        let patient = try await s.unlockPatient(email: "a@example.jp", password: pw("pw"))
        let input = try await writePatient(s, patient, pattern: fixturePattern)
        // Legacy records, as the engine stored them before the service checked types.
        let key = try patient.ownerKey()
        let id = patient.vaultId
        try await s.inVault(id) { store in
            let vault = try s.handles.open(id.bytes, store)
            _ = try vault.append(type: "dose-event", data: json(#"{"legacy":true}"#), session: VaultSession(ownerKey: key))
            _ = try vault.append(type: "message", data: json(#"{"from":"x"}"#), session: VaultSession(ownerKey: key))
        }
        let report = try await s.adherenceReport(patient, now: now)
        #expect(report.unreadableRecords == 1)  // the report reads no messages
        #expect(report.report.treatment == AdherenceCalculator.report(input, now: now).treatment)
        let export = try await s.export(patient, format: .csv, now: now)
        #expect(export.unreadableRecords == 2 && export.recordCount == input.regimens.count + input.doseEvents.count)
    }
}
