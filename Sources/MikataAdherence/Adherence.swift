public import Foundation

/// What adherence is computed from: the regimen versions, dose events and side effects of one vault (in record
/// order), with the record sequence numbers that order corrections.
public struct AdherenceInput: Sendable {
    /// Regimen versions with their record sequence numbers.
    public var regimens: [(seq: UInt64, regimen: Regimen)] = []
    /// Dose events with their record sequence numbers.
    public var doseEvents: [(seq: UInt64, event: DoseEvent)] = []
    /// Side effects with their record sequence numbers.
    public var sideEffects: [(seq: UInt64, sideEffect: SideEffect)] = []
    /// Times of the patient's own records of any type (last activity).
    public var patientActivity: [Date] = []

    /// Empty input.
    public init() {}
}

/// WHO-style adherence bands.
public enum AdherenceBand: String, Sendable, CaseIterable, Codable {
    /// Below 80 %.
    case low = "below-80"
    /// 80 % to below 90 %.
    case moderate = "80-89"
    /// 90 % and above.
    case good = "90-plus"

    /// The band of `ratio` (0...1).
    public init(ratio: Double) {
        self = ratio >= 0.9 ? .good : ratio >= 0.8 ? .moderate : .low
    }
}

/// Doses expected and taken over one window.
public struct AdherenceFigure: Sendable, Hashable, Codable {
    /// Scheduled doses due in the window (due time plus grace passed).
    public let expected: Int
    /// Of them, taken (on time or late).
    public let taken: Int
    /// Of the taken, on time.
    public let onTime: Int
    /// Of the taken, late.
    public let late: Int
    /// Missed (reported missed, or no event at all).
    public let missed: Int
    /// Skipped with a reason.
    public let skipped: Int

    /// `taken ÷ expected` (nil when nothing was expected).
    public var ratio: Double? { expected == 0 ? nil : Double(taken) / Double(expected) }
    /// The band of `ratio` (nil when nothing was expected).
    public var band: AdherenceBand? { ratio.map(AdherenceBand.init(ratio:)) }

    static let zero = AdherenceFigure(expected: 0, taken: 0, onTime: 0, late: 0, missed: 0, skipped: 0)

    static func + (a: AdherenceFigure, b: AdherenceFigure) -> AdherenceFigure {
        AdherenceFigure(expected: a.expected + b.expected, taken: a.taken + b.taken, onTime: a.onTime + b.onTime,
                        late: a.late + b.late, missed: a.missed + b.missed, skipped: a.skipped + b.skipped)
    }
}

/// One day of the calendar.
public struct AdherenceDay: Sendable, Hashable, Codable {
    /// How the day went.
    public enum Status: String, Sendable, Codable {
        /// Every dose due that day was taken.
        case complete
        /// Some were.
        case partial
        /// None was.
        case missed
        /// None was, every one skipped with a reason (counted as not taken, as `missed` is).
        case skipped
        /// Doses are not yet due (today).
        case pending
        /// Nothing was scheduled.
        case none
    }
    /// The local date.
    public let date: LocalDate
    /// Doses due and taken that day.
    public let figure: AdherenceFigure
    /// Doses scheduled that day whose time has not come.
    public let pending: Int
    /// See `Status`.
    public let status: Status
}

/// Pattern flags (as digital adherence tools show them).
public enum AdherenceFlag: String, Sendable, CaseIterable, Codable {
    /// No dose taken in the first 3 days of treatment.
    case lateStart = "late-start"
    /// Two or more separate runs of missed doses in the last 28 days.
    case intermittentMisses = "intermittent-misses"
    /// Treatment continues but no dose was taken in the last 7 days.
    case stoppedEarly = "stopped-early"
}

/// An adherence report for one patient over a period (docs/ADHERENCE.md, "Reports").
public struct AdherenceReport: Sendable {
    /// The last local day the report covers ("today" for the patient).
    public let asOf: LocalDate
    /// The patient's time zone.
    public let timeZone: TimeZone
    /// Last 7 days (`asOf` included), last 28 days, and the whole treatment up to `asOf`.
    public let last7: AdherenceFigure, last28: AdherenceFigure, treatment: AdherenceFigure
    /// The same per medicine code.
    public let perMedication: [String: (last7: AdherenceFigure, last28: AdherenceFigure, treatment: AdherenceFigure)]
    /// One entry per day of the requested period (`from`...`to`).
    public let calendar: [AdherenceDay]
    /// Doses missed in a row, counting back from the latest dose due (skipped doses neither count nor break it).
    public let currentMissedRun: Int
    /// The latest record the patient wrote, if any.
    public let lastActivity: Date?
    /// Pattern flags.
    public let flags: Set<AdherenceFlag>
    /// Side effects of grade ≥ 3 not marked resolved.
    public let unresolvedSevereSideEffects: Int
    /// First and last day of treatment (the latest regimen version's).
    public let treatmentStart: LocalDate?, treatmentEnd: LocalDate?
}

/// Computes adherence (docs/ADHERENCE.md, "How adherence is counted"):
/// - Expected doses come from the regimen version in force on each day (the latest version whose `effectiveFrom`
///   is on or before it; later records win ties), its phase, medicines, days of week and times of day.
/// - A dose is due once its local time plus `grace` has passed at `now`; not-yet-due doses are "pending".
/// - Each scheduled dose's outcome is its latest dose event (corrections supersede); no event = missed.
/// - Taken = `taken` + `late`; adherence = taken ÷ expected; bands < 80 %, 80–89 %, ≥ 90 %.
/// - A dose counts on the day it was scheduled, whatever day it was taken or recorded on.
public enum AdherenceCalculator {
    /// The treatment figures count at most this many days back from today (5 years: the longest one regimen
    /// version may run), so that a report's cost is bounded whatever regimen records a vault holds.
    public static let treatmentDaysMax = 1830

    /// How far ahead of the reader's clock a stated time may be (a phone's clock), in seconds: writes refuse times
    /// beyond it (`VaultService.clockSkew`), and reports ignore them as activity.
    public static let clockSlack: TimeInterval = 300

    /// The report for `input` at instant `now`, with a calendar for `from`...`to` (default: the last 28 days).
    /// - Parameter grace: how long after its time a dose without an event still counts as pending (default 2 h).
    public static func report(_ input: AdherenceInput, now: Date, grace: Duration = .seconds(7200),
                              from: LocalDate? = nil, to: LocalDate? = nil) -> AdherenceReport {
        let versions = input.regimens.sorted { ($0.regimen.effectiveFrom, $0.seq) < ($1.regimen.effectiveFrom, $1.seq) }
        let zone = versions.last?.regimen.timeZone ?? Regimen.defaultTimeZone
        let today = LocalDate(now, in: zone)
        let graceSeconds = Double(grace.components.seconds)

        // The latest event per scheduled dose.
        var outcome: [ScheduledDose: DoseEvent] = [:]
        var outcomeSeq: [ScheduledDose: UInt64] = [:]
        for (seq, e) in input.doseEvents where seq >= (outcomeSeq[e.scheduled] ?? 0) {
            outcome[e.scheduled] = e
            outcomeSeq[e.scheduled] = seq
        }

        let firstDay = versions.map { $0.regimen.start }.min()
        let lastPlanned = versions.last?.regimen.end
        let calendarFrom = from ?? today.adding(days: -27)
        let calendarTo = to ?? today
        // Days walked, in order: the treatment up to today (its last `treatmentDaysMax` days at most), and the
        // calendar period. The work is bounded by days × the doses of one day, whatever the records hold.
        var days: [LocalDate] = []
        if let firstDay {
            var walked = Set<LocalDate>()
            for (start, stop) in [(max(firstDay, today.adding(days: -(treatmentDaysMax - 1))), today), (calendarFrom, calendarTo)] {
                var d = start
                while d <= stop { if walked.insert(d).inserted { days.append(d) }; d = d.adding(days: 1) }
            }
            days.sort()
        }
        // The version in force on each walked day (days ascending): the last one whose `effectiveFrom` is on or
        // before it, found by moving one index forward, not by a search per day.
        var current = -1
        func version(on d: LocalDate) -> Regimen? {
            while current + 1 < versions.count, versions[current + 1].regimen.effectiveFrom <= d { current += 1 }
            return current >= 0 ? versions[current].regimen : nil
        }

        struct Dose { let dose: ScheduledDose; let due: Bool; let status: DoseStatus? }
        var dosesByDay: [LocalDate: [Dose]] = [:]
        var allDue: [Dose] = []
        for d in days {
            guard let v = version(on: d), let phase = v.phase(on: d) else { continue }
            var list: [Dose] = []
            for m in phase.medications where m.daysOfWeek.contains(d.isoWeekday) {
                for t in m.timesOfDay {
                    let s = ScheduledDose(medication: m.medication, date: d, time: t)
                    let event = outcome[s]
                    let due = event != nil || d.instant(at: t, in: v.timeZone).addingTimeInterval(graceSeconds) <= now
                    let dose = Dose(dose: s, due: due, status: event?.status ?? (due ? .missed : nil))
                    list.append(dose)
                    if due { allDue.append(dose) }
                }
            }
            dosesByDay[d] = list
        }

        func figure(_ doses: [Dose]) -> AdherenceFigure {
            var f = AdherenceFigure.zero
            for x in doses where x.due {
                let onTime = x.status == .taken ? 1 : 0, late = x.status == .late ? 1 : 0
                f = f + AdherenceFigure(expected: 1, taken: onTime + late, onTime: onTime, late: late,
                                        missed: x.status == .missed ? 1 : 0, skipped: x.status == .skipped ? 1 : 0)
            }
            return f
        }
        func window(_ n: Int?) -> [Dose] {
            allDue.filter { $0.dose.date <= today && (n == nil || $0.dose.date > today.adding(days: -n!)) }
        }
        let w7 = window(7), w28 = window(28), wAll = window(nil)
        // Per medicine code: each window grouped once (a filter per code would cost codes × doses).
        let by7 = Dictionary(grouping: w7, by: \.dose.medication), by28 = Dictionary(grouping: w28, by: \.dose.medication)
        var perMedication: [String: (AdherenceFigure, AdherenceFigure, AdherenceFigure)] = [:]
        for (m, doses) in Dictionary(grouping: wAll, by: \.dose.medication) {
            perMedication[m] = (figure(by7[m] ?? []), figure(by28[m] ?? []), figure(doses))
        }

        var calendar: [AdherenceDay] = []
        var d = calendarFrom
        while d <= calendarTo {
            let list = dosesByDay[d] ?? []
            let f = figure(list)
            let pending = list.filter { !$0.due }.count
            let status: AdherenceDay.Status
            if list.isEmpty { status = .none } else if f.expected == 0 { status = .pending }
            else if f.taken == f.expected && pending == 0 { status = .complete }
            else if f.taken == 0 && pending == 0 { status = f.skipped == f.expected ? .skipped : .missed } else if f.taken == 0 { status = .pending } else { status = .partial }
            calendar.append(AdherenceDay(date: d, figure: f, pending: pending, status: status))
            d = d.adding(days: 1)
        }

        // The doses due, by slot (date and time of day), oldest first: runs are counted slot by slot, so the
        // medicines' order within one slot does not change them.
        func bySlot(_ list: [(dose: ScheduledDose, status: DoseStatus?)]) -> [[(dose: ScheduledDose, status: DoseStatus?)]] {
            var slots: [String: [(dose: ScheduledDose, status: DoseStatus?)]] = [:]
            for x in list { slots["\(x.dose.date)T\(x.dose.time)", default: []].append(x) }
            return slots.keys.sorted().map { slots[$0]! }
        }
        let slots = bySlot(wAll.map { ($0.dose, $0.status) })
        // The current run of missed doses, from the latest due slot back: a slot's missed doses count, and a slot
        // where any dose was taken ends the run (after its missed ones); skipped doses neither count nor end it.
        var run = 0
        for slot in slots.reversed() {
            run += slot.filter { $0.status == .missed }.count
            if slot.contains(where: { $0.status == .taken || $0.status == .late }) { break }
        }

        var flags: Set<AdherenceFlag> = []
        if let firstDay, firstDay.adding(days: 2) <= today,
           !wAll.contains(where: { $0.dose.date <= firstDay.adding(days: 2) && ($0.status == .taken || $0.status == .late) }),
           wAll.contains(where: { $0.dose.date <= firstDay.adding(days: 2) }) {
            flags.insert(.lateStart)
        }
        var runs = 0, inRun = false
        for slot in bySlot(w28.map { ($0.dose, $0.status) }) {
            if slot.contains(where: { $0.status == .missed }) { if !inRun { runs += 1; inRun = true } }
            if slot.contains(where: { $0.status == .taken || $0.status == .late }) { inRun = false }
        }
        if runs >= 2 { flags.insert(.intermittentMisses) }
        if let lastPlanned, lastPlanned > today, !w7.isEmpty, !w7.contains(where: { $0.status == .taken || $0.status == .late }) {
            flags.insert(.stoppedEarly)
        }

        // A time ahead of `now` (beyond 5 minutes of clock slack, as writes allow) is not activity that happened: a
        // record stored with one would otherwise keep the patient "active" for good. Slightly early ones count as now.
        let activity = (input.patientActivity + input.doseEvents.map(\.event.recordedAt) + input.sideEffects.map(\.sideEffect.onset))
            .filter { $0 <= now.addingTimeInterval(clockSlack) }.map { min($0, now) }
        return AdherenceReport(asOf: today, timeZone: zone, last7: figure(w7), last28: figure(w28), treatment: figure(wAll),
                               perMedication: perMedication.mapValues { (last7: $0.0, last28: $0.1, treatment: $0.2) },
                               calendar: calendar, currentMissedRun: run, lastActivity: activity.max(), flags: flags,
                               unresolvedSevereSideEffects: input.sideEffects.filter { $0.sideEffect.isSevere && !$0.sideEffect.resolved }.count,
                               treatmentStart: firstDay, treatmentEnd: lastPlanned)
    }
}
