import Foundation
import MikataAdherence
import Testing

private let tokyo = TimeZone(identifier: "Asia/Tokyo")!
private func day(_ s: String) -> LocalDate { LocalDate(s)! }
private func at(_ s: String) -> Date { try! Date(s, strategy: .iso8601) }
private func time(_ s: String) -> TimeOfDay { TimeOfDay(s)! }

/// A one-phase regimen from 2026-11-01 to 2026-11-30 with the given medicines' times and weekdays.
private func regimen(from: String = "2026-11-01", _ meds: [(String, [String], Set<Int>)], zone: TimeZone = tokyo) throws -> Regimen {
    try Regimen(effectiveFrom: day(from), timeZone: zone, phases: [
        RegimenPhase(name: "intensive", start: day("2026-11-01"), end: day("2026-11-30"), medications: meds.map { m in
            MedicationDosage(medication: m.0, dose: DoseQuantity(value: "300", unit: "mg"), timesOfDay: m.1.map(time), daysOfWeek: m.2)
        }),
    ])
}

@Suite struct CheckInScheduleTests {
    @Test func aVersionKeepsTimesAndWeekdaysAndDropsMedicinesAndDoses() throws {
        let r = try regimen([("isoniazid", ["08:00", "20:00"], [1, 3, 5]), ("rifampicin", ["08:00"], [2])])
        let v = CheckInSchedule.Version(seq: 7, regimen: r)
        #expect(v.periods.count == 1)
        #expect(v.periods[0].times == [CheckInSchedule.Times(time: time("08:00"), daysOfWeek: [1, 2, 3, 5]),
                                       CheckInSchedule.Times(time: time("20:00"), daysOfWeek: [1, 3, 5])])
        let json = String(decoding: try JSONEncoder().encode(CheckInSchedule(versions: [v])), as: UTF8.self)
        for secret in ["isoniazid", "rifampicin", "300", "mg", "intensive"] { #expect(!json.contains(secret), "\(secret) in \(json)") }
        #expect(try JSONDecoder().decode(CheckInSchedule.self, from: Data(json.utf8)) == CheckInSchedule(versions: [v]))
        // 2026-11-02 is a Monday: both slots; 11-03 (Tuesday): 08:00 only; 11-08 (Sunday): none.
        let s = CheckInSchedule(versions: [v])
        #expect(s.slots(on: day("2026-11-02")).map(\.description) == ["2026-11-02T08:00", "2026-11-02T20:00"])
        #expect(s.slots(on: day("2026-11-03")).map(\.description) == ["2026-11-03T08:00"])
        #expect(s.slots(on: day("2026-11-08")).isEmpty && s.slots(on: day("2026-12-01")).isEmpty)
    }

    @Test func dueSlotsFollowTheJSTDayAcrossTheUTCBoundary() throws {
        // 00:30 JST on 11-09 is 15:30 UTC on 11-08; 23:30 JST on 11-08 is 14:30 UTC on 11-08. Grace one hour.
        let s = CheckInSchedule(versions: [.init(seq: 1, regimen: try regimen([("isoniazid", ["00:30", "23:30"], Set(1...7))]))])
        let due = s.dueSlots(after: at("2026-11-08T15:00:00Z"), through: at("2026-11-08T17:00:00Z"), grace: .seconds(3600))
        // 23:30 JST 11-08 falls due at 15:30 UTC; 00:30 JST 11-09 at 16:30 UTC: it keeps its JST date.
        #expect(due.map(\.slot.description) == ["2026-11-08T23:30", "2026-11-09T00:30"])
        #expect(due.map(\.dueAt) == [at("2026-11-08T15:30:00Z"), at("2026-11-08T16:30:00Z")])
        #expect(due.map(\.scheduledAt) == [at("2026-11-08T14:30:00Z"), at("2026-11-08T15:30:00Z")])
        // The window is (after, through]: a slot due exactly at `after` is not in it, one due at `through` is.
        #expect(s.dueSlots(after: at("2026-11-08T15:30:00Z"), through: at("2026-11-08T16:30:00Z"), grace: .seconds(3600))
            .map(\.slot.description) == ["2026-11-09T00:30"])
        // Before the grace has passed, nothing.
        #expect(s.dueSlots(after: at("2026-11-08T15:00:00Z"), through: at("2026-11-08T15:29:59Z"), grace: .seconds(3600)).isEmpty)
        // The same local times in UTC fall due nine hours later.
        let utc = CheckInSchedule(versions: [.init(seq: 1, regimen: try regimen([("isoniazid", ["00:30"], Set(1...7))], zone: TimeZone(identifier: "UTC")!))])
        #expect(utc.dueSlots(after: at("2026-11-08T15:00:00Z"), through: at("2026-11-08T17:00:00Z"), grace: .seconds(3600)).isEmpty)
    }

    @Test func aLaterVersionGovernsFromItsEffectiveDate() throws {
        var s = CheckInSchedule(versions: [.init(seq: 1, regimen: try regimen([("isoniazid", ["08:00"], Set(1...7))]))])
        s.add(.init(seq: 9, regimen: try regimen(from: "2026-11-10", [("isoniazid", ["21:00"], Set(1...7))])))
        #expect(s.slots(on: day("2026-11-09")).map(\.time) == [time("08:00")])
        #expect(s.slots(on: day("2026-11-10")).map(\.time) == [time("21:00")])
        // Nothing before treatment starts: its first slot, 08:00 JST on 11-01, is 23:00 UTC on 10-31.
        #expect(s.dueSlots(after: at("2026-10-29T00:00:00Z"), through: at("2026-10-31T22:59:59Z"), grace: .seconds(0)).isEmpty)
        #expect(s.dueSlots(after: at("2026-10-29T00:00:00Z"), through: at("2026-10-31T23:00:00Z"), grace: .seconds(0))
            .map(\.slot.description) == ["2026-11-01T08:00"])
        // A dose event answers its slot by its scheduled date and time, whatever the medicine.
        #expect(CheckInSlot(answering: ScheduledDose(medication: "rifampicin", date: day("2026-11-09"), time: time("08:00"))).description == "2026-11-09T08:00")
        #expect(CheckInSlot("2026-11-09T08:00") == CheckInSlot(date: day("2026-11-09"), time: time("08:00")))
        #expect(CheckInSlot("2026-11-09 08:00") == nil)
    }
}
