import Foundation
@testable import MikataAdherence
import Testing

private let tokyo = TimeZone(identifier: "Asia/Tokyo")!
private func day(_ s: String) -> LocalDate { LocalDate(s)! }
private func at(_ s: String) -> Date { Instant.parse(s)! }
private let mg: [String: DoseQuantity] = ["isoniazid": .init(value: "300", unit: "mg"), "rifampicin": .init(value: "600", unit: "mg"),
                                          "pyrazinamide": .init(value: "1500", unit: "mg"), "ethambutol": .init(value: "1000", unit: "mg")]

/// The fixture patient of issue 10 §5, with every figure worked out by hand in the comments.
///
/// 2HRZE/4HR from Tue 2026-10-20, one dose of each medicine at 08:00 JST. On 2026-11-05 pyrazinamide is stopped (a
/// new regimen version: H, R, E). "Now" is 2026-11-08 12:00 JST, so every 08:00 dose up to today is due.
/// Default: every dose taken at 08:05 JST. Exceptions:
///   10-31 (Sat): all four taken late, at 23:30 JST, recorded 00:10 JST on 11-01 (month boundary, zone edge)
///   11-01: all four reported missed · 11-02: no events at all (implicitly missed)
///   11-03: ethambutol skipped (side effects) · 11-06: isoniazid missed
///   11-07: rifampicin reported missed, then corrected to late (a later event superseding it)
private func fixture() throws -> AdherenceInput {
    var input = AdherenceInput()
    let v1 = try RegimenTemplate.hrze6.regimen(start: day("2026-10-20"), doses: mg, timesOfDay: [TimeOfDay("08:00")!])
    let v2 = try Regimen(template: "2HRE/7HR", effectiveFrom: day("2026-11-05"), timeZone: tokyo, phases: [
        RegimenPhase(name: "intensive", start: day("2026-10-20"), end: day("2026-12-19"),
                     medications: ["isoniazid", "rifampicin", "ethambutol"].map { MedicationDosage(medication: $0, dose: mg[$0]!, timesOfDay: [TimeOfDay("08:00")!]) }),
        RegimenPhase(name: "continuation", start: day("2026-12-20"), end: day("2027-07-19"),
                     medications: ["isoniazid", "rifampicin"].map { MedicationDosage(medication: $0, dose: mg[$0]!, timesOfDay: [TimeOfDay("08:00")!]) }),
    ])
    input.regimens = [(1, v1), (2, v2)]
    var seq: UInt64 = 10
    func add(_ e: DoseEvent) { seq += 1; input.doseEvents.append((seq, e)) }
    var d = day("2026-10-20")
    while d <= day("2026-11-08") {
        let meds = d < day("2026-11-05") ? ["isoniazid", "rifampicin", "pyrazinamide", "ethambutol"] : ["isoniazid", "rifampicin", "ethambutol"]
        for m in meds {
            let s = ScheduledDose(medication: m, date: d, time: TimeOfDay("08:00")!)
            let takenOnTime = d.instant(at: TimeOfDay("08:05")!, in: tokyo)
            switch (d.description, m) {
            case ("2026-10-31", _):
                add(try DoseEvent(scheduled: s, status: .late, takenAt: at("2026-10-31T14:30:00Z"), recordedAt: at("2026-10-31T15:10:00Z"), method: .selfReport))
            case ("2026-11-01", _):
                add(try DoseEvent(scheduled: s, status: .missed, takenAt: nil, recordedAt: at("2026-11-01T12:00:00Z"), method: .selfReport))
            case ("2026-11-02", _):
                break
            case ("2026-11-03", "ethambutol"):
                add(try DoseEvent(scheduled: s, status: .skipped, takenAt: nil, recordedAt: takenOnTime, method: .selfReport, reason: .sideEffects))
            case ("2026-11-06", "isoniazid"):
                add(try DoseEvent(scheduled: s, status: .missed, takenAt: nil, recordedAt: takenOnTime, method: .selfReport))
            case ("2026-11-07", "rifampicin"):
                add(try DoseEvent(scheduled: s, status: .missed, takenAt: nil, recordedAt: takenOnTime, method: .selfReport))
                let wrong = seq
                add(try DoseEvent(scheduled: s, status: .late, takenAt: at("2026-11-07T03:00:00Z"), recordedAt: at("2026-11-07T03:01:00Z"),
                                  method: .videoCall, supersedes: wrong))
            default:
                add(try DoseEvent(scheduled: s, status: .taken, takenAt: takenOnTime, recordedAt: takenOnTime, method: .selfReport))
            }
        }
        d = d.adding(days: 1)
    }
    input.sideEffects = [(500, try SideEffect(symptom: .visualChange, grade: 3, onset: at("2026-11-02T23:00:00Z"), text: "blurred"))]
    return input
}

@Suite struct AdherenceReportTests {
    @Test func theFixturesFiguresMatchTheHandComputedOnes() throws {
        let r = AdherenceCalculator.report(try fixture(), now: at("2026-11-08T03:00:00Z"))
        #expect(r.asOf == day("2026-11-08"))
        // Whole treatment, 10-20..11-08: 16 days × 4 (H, R, Z, E) + 4 days × 3 (H, R, E) = 76 expected.
        // Not taken: 11-01 4 missed, 11-02 4 missed, 11-06 1 missed → 9 missed; 11-03 1 skipped.
        // Taken 76 − 9 − 1 = 66, of which late: 10-31 × 4 and 11-07 rifampicin → 5; on time 61. 66/76 = 86.8 %.
        #expect(r.treatment == AdherenceFigure(expected: 76, taken: 66, onTime: 61, late: 5, missed: 9, skipped: 1))
        #expect(r.treatment.band == .moderate)
        // The last 28 days (10-12..11-08) hold the whole treatment.
        #expect(r.last28 == r.treatment)
        // Last 7 days, 11-02..11-08: 3 days × 4 + 4 days × 3 = 24; missed 11-02 × 4 + 11-06 H = 5; skipped 1;
        // taken 18, late 1 (11-07 R). 18/24 = 75 %.
        #expect(r.last7 == AdherenceFigure(expected: 24, taken: 18, onTime: 17, late: 1, missed: 5, skipped: 1))
        #expect(r.last7.band == .low)
        // Per medicine (treatment): H 20 expected, missed 11-01, 11-02, 11-06, late 10-31 → 17 taken, 16 on time.
        #expect(r.perMedication["isoniazid"]?.treatment == AdherenceFigure(expected: 20, taken: 17, onTime: 16, late: 1, missed: 3, skipped: 0))
        // R: missed 11-01, 11-02; late 10-31 and 11-07 (the correction won) → 18 taken.
        #expect(r.perMedication["rifampicin"]?.treatment == AdherenceFigure(expected: 20, taken: 18, onTime: 16, late: 2, missed: 2, skipped: 0))
        // Z: only until the regimen change, 16 days; missed 2, late 1.
        #expect(r.perMedication["pyrazinamide"]?.treatment == AdherenceFigure(expected: 16, taken: 14, onTime: 13, late: 1, missed: 2, skipped: 0))
        // E: missed 2, skipped 1 (11-03), late 1.
        #expect(r.perMedication["ethambutol"]?.treatment == AdherenceFigure(expected: 20, taken: 17, onTime: 16, late: 1, missed: 2, skipped: 1))
        #expect(r.currentMissedRun == 0)
        // Missed runs in the last 28 days: 11-01..11-02 (ended by 11-03's isoniazid) and 11-06's isoniazid.
        #expect(r.flags == [.intermittentMisses])
        #expect(r.unresolvedSevereSideEffects == 1)
        #expect(r.treatmentStart == day("2026-10-20") && r.treatmentEnd == day("2027-07-19"))
        #expect(r.lastActivity == at("2026-11-07T23:05:00Z") || r.lastActivity == day("2026-11-08").instant(at: TimeOfDay("08:05")!, in: tokyo))
    }

    @Test func theMissedRunCountsBySlotWhateverTheMedicinesOrder() throws {
        var input = try fixture()
        // 11-08: isoniazid taken, rifampicin and ethambutol missed in the same 08:00 slot.
        input.doseEvents.removeAll { $0.event.scheduled.date == day("2026-11-08") && $0.event.scheduled.medication != "isoniazid" }
        for (i, m) in ["rifampicin", "ethambutol"].enumerated() {
            let s = ScheduledDose(medication: m, date: day("2026-11-08"), time: TimeOfDay("08:00")!)
            input.doseEvents.append((UInt64(950 + i), try DoseEvent(scheduled: s, status: .missed, takenAt: nil, recordedAt: at("2026-11-08T01:00:00Z"),
                                                                     method: .selfReport)))
        }
        let r = AdherenceCalculator.report(input, now: at("2026-11-08T03:00:00Z"))
        #expect(r.currentMissedRun == 2, "both missed doses of the latest slot, not only those sorting after isoniazid")
    }

    @Test func aDayWhoseDosesWereAllSkippedIsSkippedNotMissed() throws {
        var input = try fixture()
        // 11-08: all four doses skipped for side effects (their taken events dropped first).
        input.doseEvents.removeAll { $0.event.scheduled.date == day("2026-11-08") }
        for (i, m) in ["isoniazid", "rifampicin", "ethambutol"].enumerated() {
            let s = ScheduledDose(medication: m, date: day("2026-11-08"), time: TimeOfDay("08:00")!)
            input.doseEvents.append((UInt64(900 + i), try DoseEvent(scheduled: s, status: .skipped, takenAt: nil, recordedAt: at("2026-11-07T23:30:00Z"),
                                                                     method: .selfReport, reason: .sideEffects)))
        }
        let r = AdherenceCalculator.report(input, now: at("2026-11-08T03:00:00Z"))
        let nov8 = try #require(r.calendar.first { $0.date == day("2026-11-08") })
        #expect(nov8.status == .skipped && nov8.figure.skipped == 3 && nov8.figure.taken == 0)
        let nov1 = try #require(r.calendar.first { $0.date == day("2026-11-01") })
        #expect(nov1.status == .missed)
    }

    @Test func aDoseTakenLateAtNightCountsOnItsScheduledDayNotOnTheDayItWasRecorded() throws {
        let r = AdherenceCalculator.report(try fixture(), now: at("2026-11-08T03:00:00Z"))
        let oct31 = try #require(r.calendar.first { $0.date == day("2026-10-31") })
        let nov1 = try #require(r.calendar.first { $0.date == day("2026-11-01") })
        #expect(oct31.status == .complete && oct31.figure.late == 4 && oct31.figure.expected == 4)
        #expect(nov1.status == .missed && nov1.figure.missed == 4)
        let calendar = Dictionary(uniqueKeysWithValues: r.calendar.map { ($0.date.description, $0.status) })
        #expect(calendar["2026-10-19"] == AdherenceDay.Status.none && calendar["2026-10-20"] == .complete)
        #expect(calendar["2026-11-02"] == .missed && calendar["2026-11-03"] == .partial && calendar["2026-11-06"] == .partial)
        #expect(calendar["2026-11-07"] == .complete && r.calendar.count == 28)
    }

    @Test func theMissedRunCountsBackFromTheLatestDueDose() throws {
        // At 11-02 12:00 JST: 11-02's four (no events) and 11-01's four are missed; 10-31's were taken late.
        let r = AdherenceCalculator.report(try fixture(), now: at("2026-11-02T03:00:00Z"))
        #expect(r.currentMissedRun == 8)
        // At 11-02 09:00 JST the 08:00 doses are inside the 2 h grace: pending, not missed.
        let early = AdherenceCalculator.report(try fixture(), now: at("2026-11-02T00:00:00Z"))
        #expect(early.currentMissedRun == 4)
        #expect(early.calendar.last?.status == .pending && early.calendar.last?.pending == 4)
    }

    @Test func stoppingAndStartingLateAreFlagged() throws {
        var input = AdherenceInput()
        input.regimens = [(1, try RegimenTemplate.hpmz4.regimen(start: day("2026-11-01"), doses: ["isoniazid": .init(value: "300", unit: "mg"),
            "rifapentine": .init(value: "1200", unit: "mg"), "moxifloxacin": .init(value: "400", unit: "mg"),
            "pyrazinamide": .init(value: "1500", unit: "mg")], timesOfDay: [TimeOfDay("20:00")!]))]
        let r = AdherenceCalculator.report(input, now: at("2026-11-12T12:00:00Z"))
        #expect(r.flags == [.lateStart, .stoppedEarly])
        // Now is 21:00 JST on 11-12: that day's 20:00 doses are within the 2 h grace, so 11-01..11-11 are due.
        #expect(r.treatment.taken == 0 && r.treatment.expected == 11 * 4 && r.treatment.band == .low)
        #expect(r.treatmentEnd == day("2026-11-01").adding(days: 17 * 7 - 1))
    }
}

@Suite struct AdherenceRecordTests {
    @Test func everyRecordTypeRoundTrips() throws {
        let regimen = try RegimenTemplate.hre9.regimen(start: day("2026-01-31"), doses: mg, timesOfDay: [TimeOfDay("07:30")!, TimeOfDay("19:30")!])
        #expect(regimen.phases[0].end == day("2026-03-30") && regimen.phases[1].start == day("2026-03-31"))  // month clamping
        #expect(try Regimen.decode(json: regimen.json()) == regimen)
        var weekly = try Regimen.decode(json: Array(#"{"effectiveFrom":"2026-05-01","timeZone":"Europe/Berlin","phases":[{"name":"continuation","start":"2026-05-01","end":"2026-08-31","medications":[{"medication":"isoniazid","dose":{"value":"900","unit":"mg"},"timeOfDay":["09:00"],"dayOfWeek":["mon","wed","fri"]}]}]}"#.utf8))
        #expect(weekly.phases[0].medications[0].daysOfWeek == [1, 3, 5] && weekly.timeZone.identifier == "Europe/Berlin")
        weekly = try Regimen.decode(json: weekly.json())
        #expect(weekly.phases[0].medications[0].daysOfWeek == [1, 3, 5])

        let s = ScheduledDose(medication: "isoniazid", date: day("2026-11-29"), time: TimeOfDay("08:00")!)
        for e in [try DoseEvent(scheduled: s, status: .taken, takenAt: at("2026-11-28T23:05:00.250Z"), recordedAt: at("2026-11-28T23:06:00Z"), method: .photo, note: "空のブリスター"),
                  try DoseEvent(scheduled: s, status: .skipped, takenAt: nil, recordedAt: at("2026-11-29T01:00:00Z"), method: .supporterObserved, reason: .clinicianAdvised, supersedes: 7)] {
            #expect(try DoseEvent.decode(json: e.json()) == e)
        }
        let se = try SideEffect(symptom: .jointPain, grade: 2, onset: at("2026-11-20T10:00:00Z"), resolved: true, text: "膝が痛い")
        #expect(try SideEffect.decode(json: se.json()) == se)
        let m = Message(text: "よく頑張りました", sentAt: at("2026-11-29T00:00:00Z"))
        #expect(try Message.decode(json: m.json(), recordTime: Date()) == m)
        #expect(try Message.decode(json: Array(#"{"text":"hi"}"#.utf8), recordTime: at("2026-01-01T00:00:00Z")).sentAt == at("2026-01-01T00:00:00Z"))
    }

    @Test(arguments: [
        (#"{"effectiveFrom":"2026-13-01","phases":[]}"#, "/effectiveFrom"),
        (#"{"effectiveFrom":"2026-01-01"}"#, "/phases"),
        (#"{"effectiveFrom":"2026-01-01","phases":[]}"#, "/phases"),
        (#"{"effectiveFrom":"2026-01-01","timeZone":"Mars/Olympus","phases":[{}]}"#, "/timeZone"),
        (#"{"effectiveFrom":"2026-01-01","phases":[{"name":"x","start":"2026-01-02","end":"2026-01-01","medications":[{"medication":"isoniazid","dose":{"value":"1","unit":"mg"},"timeOfDay":["08:00"]}]}]}"#, "/phases/0/end"),
        (#"{"effectiveFrom":"2026-01-01","phases":[{"name":"x","start":"0001-01-01","end":"2026-01-01","medications":[{"medication":"isoniazid","dose":{"value":"1","unit":"mg"},"timeOfDay":["08:00"]}]}]}"#, "/phases/0/start"),
        (#"{"effectiveFrom":"2026-01-01","phases":[{"name":"x","start":"2026-01-01","end":"2099-01-01","medications":[{"medication":"isoniazid","dose":{"value":"1","unit":"mg"},"timeOfDay":["08:00"]}]}]}"#, "/phases"),
        (#"{"effectiveFrom":"2026-01-01","phases":[{"name":"x","start":"2026-01-01","end":"2026-02-01","medications":[{"medication":"Isoniazid","dose":{"value":"1","unit":"mg"},"timeOfDay":["08:00"]}]}]}"#, "/phases/0/medications/0/medication"),
        (#"{"effectiveFrom":"2026-01-01","phases":[{"name":"x","start":"2026-01-01","end":"2026-02-01","medications":[{"medication":"isoniazid","dose":{"value":"1"},"timeOfDay":["08:00"]}]}]}"#, "/phases/0/medications/0/dose/unit"),
        (#"{"effectiveFrom":"2026-01-01","phases":[{"name":"x","start":"2026-01-01","end":"2026-02-01","medications":[{"medication":"isoniazid","dose":{"value":"1","unit":"mg"},"timeOfDay":["25:00"]}]}]}"#, "/phases/0/medications/0/timeOfDay/0"),
        (#"{"effectiveFrom":"2026-01-01","phases":[{"name":"x","start":"2026-01-01","end":"2026-02-01","medications":[{"medication":"isoniazid","dose":{"value":"1","unit":"mg"},"timeOfDay":["08:00"],"dayOfWeek":["funday"]}]}]}"#, "/phases/0/medications/0/dayOfWeek/0"),
        (#"{"effectiveFrom":"2026-01-01","phases":[{"name":"x","start":"2026-01-01","end":"2026-02-01","medications":[{"medication":"isoniazid","dose":{"value":"1","unit":"mg"},"timeOfDay":["08:00"],"mg":300}]}]}"#, "/phases/0/medications/0/mg"),
    ])
    func invalidRegimensNameTheirField(json: String, field: String) {
        #expect(throws: AdherenceValidationError.self) { try Regimen.decode(json: Array(json.utf8)) }
        do { _ = try Regimen.decode(json: Array(json.utf8)) } catch let e as AdherenceValidationError { #expect(e.field == field, "\(e)") } catch {}
    }

    @Test(arguments: [
        (#"{"status":"taken","recordedAt":"2026-11-29T00:00:00Z","method":"photo"}"#, "/scheduled"),
        (#"{"scheduled":{"medication":"isoniazid","date":"2026-11-29","time":"8:00"},"status":"taken","takenAt":"2026-11-29T00:00:00Z","recordedAt":"2026-11-29T00:00:00Z","method":"photo"}"#, "/scheduled/time"),
        (#"{"scheduled":{"medication":"isoniazid","date":"2026-11-29","time":"08:00"},"status":"done","recordedAt":"2026-11-29T00:00:00Z","method":"photo"}"#, "/status"),
        (#"{"scheduled":{"medication":"isoniazid","date":"2026-11-29","time":"08:00"},"status":"taken","recordedAt":"2026-11-29T00:00:00Z","method":"photo"}"#, "/takenAt"),
        (#"{"scheduled":{"medication":"isoniazid","date":"2026-11-29","time":"08:00"},"status":"taken","takenAt":"2026-11-29 08:00","recordedAt":"2026-11-29T00:00:00Z","method":"photo"}"#, "/takenAt"),
        (#"{"scheduled":{"medication":"isoniazid","date":"2026-11-29","time":"08:00"},"status":"skipped","recordedAt":"2026-11-29T00:00:00Z","method":"photo"}"#, "/reason"),
        (#"{"scheduled":{"medication":"isoniazid","date":"2026-11-29","time":"08:00"},"status":"missed","recordedAt":"2026-11-29T00:00:00Z","method":"telepathy"}"#, "/method"),
        (#"{"scheduled":{"medication":"isoniazid","date":"2026-11-29","time":"08:00"},"status":"missed","recordedAt":"2026-11-29T00:00:00Z","method":"photo","supersedes":0}"#, "/supersedes"),
        (#"{"scheduled":{"medication":"isoniazid","date":"2026-11-29","time":"08:00"},"status":"missed","method":"photo"}"#, "/recordedAt"),
    ])
    func invalidDoseEventsNameTheirField(json: String, field: String) {
        do { _ = try DoseEvent.decode(json: Array(json.utf8)); Issue.record("accepted") } catch let e as AdherenceValidationError {
            #expect(e.field == field, "\(e)")
        } catch { Issue.record("\(error)") }
    }

    @Test(arguments: [
        (#"{"symptom":"sneezing","grade":1,"onset":"2026-11-29T00:00:00Z"}"#, "/symptom"),
        (#"{"symptom":"rash","grade":6,"onset":"2026-11-29T00:00:00Z"}"#, "/grade"),
        (#"{"symptom":"rash","grade":true,"onset":"2026-11-29T00:00:00Z"}"#, "/grade"),
        (#"{"symptom":"rash","grade":2}"#, "/onset"),
        (#"{"symptom":"other","grade":2,"onset":"2026-11-29T00:00:00Z"}"#, "/text"),
        (#"{"symptom":"rash","grade":2,"onset":"2026-11-29T00:00:00Z","resolved":"yes"}"#, "/resolved"),
        (#"{"symptom":"rash","grade":2,"onset":"2026-11-29T00:00:00Z","a/b~c":1}"#, "/a~1b~0c"),
        (#"[1]"#, ""),
        (#"not json"#, ""),
    ])
    func invalidSideEffectsNameTheirField(json: String, field: String) {
        do { _ = try SideEffect.decode(json: Array(json.utf8)); Issue.record("accepted") } catch let e as AdherenceValidationError {
            #expect(e.field == field, "\(e)")
            #expect(!e.description.contains("sneezing") && !e.description.contains("yes"))  // values are never repeated
        } catch { Issue.record("\(error)") }
    }

    /// The string checks of record decoding use their own tests for blank and control characters (the dashboard
    /// decodes every record it reads): they must agree with Foundation's trimming and Unicode's Cc on every scalar.
    @Test func blankAndControlScalarsAreTheOnesFoundationAndUnicodeName() throws {
        var disagree: [UInt32] = []
        for v in UInt32(0)...0x10FFFF {
            guard let u = Unicode.Scalar(v) else { continue }
            let blank = String(Character(u)).trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
            if FieldReader.isBlank(u) != blank || FieldReader.isControl(u) != (u.properties.generalCategory == .control) { disagree.append(v) }
        }
        #expect(disagree.isEmpty, "\(disagree.prefix(10).map { String($0, radix: 16) })")
        // And through a decode: blank (U+3000, U+0085, U+2028), control (U+009B), long by characters, not by bytes.
        let note = { (n: String) in Array(#"{"scheduled":{"medication":"isoniazid","date":"2026-11-29","time":"08:00"},"status":"missed","recordedAt":"2026-11-29T00:00:00Z","method":"photo","note":"\#(n)"}"#.utf8) }
        for bad in ["\u{3000}\u{85} \u{2028}", "a\u{9B}b", String(repeating: "x", count: 2001)] {
            #expect(throws: AdherenceValidationError.self) { try DoseEvent.decode(json: note(bad)) }
        }
        #expect(try DoseEvent.decode(json: note(String(repeating: "薬", count: 1000) + String(repeating: "e\u{301}", count: 1000))).note?.count == 2000)
    }

    @Test func localDatesAndWeekdays() {
        #expect(day("2026-11-29").isoWeekday == 7 && day("2026-11-30").isoWeekday == 1)
        #expect(day("2026-10-31").adding(days: 1) == day("2026-11-01") && day("2026-12-31").adding(days: 1) == day("2027-01-01"))
        #expect(LocalDate("2026-02-29") == nil && LocalDate("2028-02-29") != nil && LocalDate("2026-1-01") == nil)
        // 2026-11-28T15:30Z is 00:30 on the 29th in Tokyo, still the 28th in UTC.
        #expect(LocalDate(at("2026-11-28T15:30:00Z"), in: tokyo) == day("2026-11-29"))
        #expect(LocalDate(at("2026-11-28T15:30:00Z"), in: TimeZone(identifier: "UTC")!) == day("2026-11-28"))
    }
}

@Suite struct DashboardTests {
    @Test func patientsAreOrderedByRisk() throws {
        let now = at("2026-11-08T03:00:00Z")
        let fixtureEntry = DashboardEntry(vaultId: "b", nickname: "Taro", report: AdherenceCalculator.report(try fixture(), now: now), now: now, days: 7)
        // Fixture: 11-02..11-08 hold 5 missed doses; one unresolved grade-3 side effect; active today.
        #expect(fixtureEntry.missedRecently == 5 && fixtureEntry.unresolvedSevereSideEffects == 1 && fixtureEntry.daysWithoutActivity == 0)
        var calm = try fixture()
        calm.sideEffects = []
        let calmEntry = DashboardEntry(vaultId: "a", nickname: nil, report: AdherenceCalculator.report(calm, now: now), now: now, days: 7)
        var quiet = AdherenceInput()
        quiet.regimens = calm.regimens
        let quietEntry = DashboardEntry(vaultId: "c", nickname: nil, report: AdherenceCalculator.report(quiet, now: now), now: now, days: 7)
        #expect(quietEntry.missedRecently == 24 && quietEntry.daysWithoutActivity == nil)
        // Severe side effect first, then the one who missed everything, then the calm one.
        #expect(Dashboard.sorted([calmEntry, quietEntry, fixtureEntry]).map(\.vaultId) == ["b", "c", "a"])
    }
}

/// A report's cost is bounded whatever regimen records a vault holds (a review found a few crafted versions could
/// make one report walk decades of days and filter every dose once per medicine code).
@Suite struct AdherenceBoundsTests {
    private func daily(_ from: String, _ to: String, codes: [String]) throws -> Regimen {
        try Regimen(effectiveFrom: day(from), timeZone: tokyo, phases: [
            RegimenPhase(name: "p", start: day(from), end: day(to),
                         medications: codes.map { MedicationDosage(medication: $0, dose: .init(value: "1", unit: "mg"), timesOfDay: [TimeOfDay("08:00")!]) }),
        ])
    }

    @Test func treatmentFiguresCountAtMostTheLastFiveYears() throws {
        var input = AdherenceInput()
        input.regimens = [(1, try daily("2012-01-01", "2016-12-31", codes: ["isoniazid"])),
                          (2, try daily("2017-01-01", "2021-12-31", codes: ["isoniazid"])),
                          (3, try daily("2022-01-01", "2026-12-31", codes: ["isoniazid"]))]
        let report = AdherenceCalculator.report(input, now: at("2026-11-08T03:00:00Z"))
        // One dose a day, none taken: the walk covers today and the 1,829 days before it, not the 5,426 since 2012.
        #expect(report.treatment.expected == AdherenceCalculator.treatmentDaysMax)
        #expect(report.treatment.missed == AdherenceCalculator.treatmentDaysMax)
        #expect(report.treatmentStart == day("2012-01-01"), "the treatment still starts where the records say")
        #expect(report.calendar.count == 28 && report.calendar.allSatisfy { $0.status == .missed })
    }

    @Test func manyMedicineCodesAndVersionsGiveTheFiguresOfTheVersionInForce() throws {
        // 40 versions, a week apart, each with 16 codes of its own: only the version in force on a day schedules it.
        var input = AdherenceInput()
        for v in 0..<40 {
            let from = day("2026-01-05").adding(days: 7 * v)
            input.regimens.append((UInt64(v + 1), try Regimen(effectiveFrom: from, timeZone: tokyo, phases: [
                RegimenPhase(name: "p", start: day("2026-01-05"), end: day("2026-12-31"),
                             medications: (0..<16).map { MedicationDosage(medication: "m\(v)-\($0)", dose: .init(value: "1", unit: "mg"),
                                                                          timesOfDay: [TimeOfDay("08:00")!]) }),
            ])))
        }
        let report = AdherenceCalculator.report(input, now: at("2026-11-08T03:00:00Z"))
        #expect(report.perMedication.count == 40 * 16)
        // The last version (from 2026-10-05) governs 35 days up to 11-08; each earlier one its 7 days.
        #expect(report.perMedication["m39-0"]?.treatment.expected == 35)
        #expect(report.perMedication["m0-15"]?.treatment.expected == 7 && report.perMedication["m0-15"]?.last28.expected == 0)
        #expect(report.perMedication["m38-3"]?.last28.expected == 0 && report.perMedication["m39-3"]?.last28.expected == 28)
        #expect(report.treatment.expected == 16 * (39 * 7 + 35))
    }

    @Test func activityTimesAheadOfNowAreNotActivity() throws {
        var input = fixtureInputWithoutEvents()
        let now = at("2026-11-08T03:00:00Z")
        input.sideEffects = [(5, try SideEffect(symptom: .nausea, grade: 1, onset: at("2099-01-01T00:00:00Z")))]
        #expect(AdherenceCalculator.report(input, now: now).lastActivity == nil, "a side effect dated 2099 is not activity")
        input.sideEffects.append((6, try SideEffect(symptom: .nausea, grade: 1, onset: now.addingTimeInterval(60))))
        #expect(AdherenceCalculator.report(input, now: now).lastActivity == now, "a minute ahead (a phone's clock) counts as now")
    }

    private func fixtureInputWithoutEvents() -> AdherenceInput {
        var input = AdherenceInput()
        input.regimens = [(1, try! daily("2026-10-20", "2027-04-19", codes: ["isoniazid"]))]
        return input
    }
}
