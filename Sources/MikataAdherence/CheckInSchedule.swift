public import Foundation

// Issue 10 §4 (docs/ADHERENCE.md, "Missed-dose notices"; docs/SECURITY.md, "Missed-dose notices"): the check-in
// schedule is what a patient consents to share with the service for missed-dose notices: the local times of day and
// days of week of their regimen, its dates and time zone; never a medicine, a dose or a phase name. Several
// medicines due at the same time are one check-in slot.

/// One check-in slot: a local date and time of day at which at least one dose is scheduled.
public struct CheckInSlot: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The local date.
    public let date: LocalDate
    /// The local time of day.
    public let time: TimeOfDay

    /// A slot.
    public init(date: LocalDate, time: TimeOfDay) {
        self.date = date
        self.time = time
    }

    /// Parses `YYYY-MM-DDTHH:MM` (the form `description` writes); nil when malformed.
    public init?(_ text: String) {
        let parts = text.split(separator: "T", omittingEmptySubsequences: false)
        guard parts.count == 2, let d = LocalDate(String(parts[0])), let t = TimeOfDay(String(parts[1])) else { return nil }
        self.init(date: d, time: t)
    }

    /// The slot a dose event answers (its scheduled date and time; the medicine is dropped).
    public init(answering dose: ScheduledDose) { self.init(date: dose.date, time: dose.time) }

    public static func < (a: CheckInSlot, b: CheckInSlot) -> Bool { (a.date, a.time) < (b.date, b.time) }

    /// `YYYY-MM-DDTHH:MM`.
    public var description: String { "\(date)T\(time)" }
}

/// A slot that fell due: the slot and the instant it was due (its local time plus the grace period).
public struct DueCheckIn: Sendable, Hashable {
    /// The slot.
    public let slot: CheckInSlot
    /// Its local time in the zone of the regimen version in force that day, as an instant (UTC).
    public let scheduledAt: Date
    /// `scheduledAt` plus the grace period.
    public let dueAt: Date
}

/// A patient's check-in schedule: the regimen versions stripped to times, days of week, dates and time zone.
public struct CheckInSchedule: Sendable, Hashable {
    /// A time of day and the ISO weekdays (1 Monday ... 7 Sunday) it applies on.
    public struct Times: Sendable, Hashable {
        /// The local time of day.
        public let time: TimeOfDay
        /// ISO weekdays, 1...7.
        public let daysOfWeek: Set<Int>

        /// A time of day on the given weekdays.
        public init(time: TimeOfDay, daysOfWeek: Set<Int>) {
            self.time = time
            self.daysOfWeek = daysOfWeek
        }
    }

    /// A phase without its name and medicines: its dates (both included) and check-in times.
    public struct Period: Sendable, Hashable {
        /// First and last day, inclusive.
        public let start: LocalDate, end: LocalDate
        /// Check-in times, sorted by time, one entry per time (the union of the medicines' weekdays).
        public let times: [Times]

        /// A period.
        public init(start: LocalDate, end: LocalDate, times: [Times]) {
            self.start = start
            self.end = end
            self.times = times.sorted { $0.time < $1.time }
        }
    }

    /// One regimen version, stripped.
    public struct Version: Sendable, Hashable {
        /// The `medication-request` record's sequence number (orders versions with the same `effectiveFrom`).
        public let seq: UInt64
        /// The first day this version governs.
        public let effectiveFrom: LocalDate
        /// The time zone its times of day are in.
        public let timeZone: TimeZone
        /// The periods (phases), in order.
        public let periods: [Period]

        /// A version from its parts.
        public init(seq: UInt64, effectiveFrom: LocalDate, timeZone: TimeZone, periods: [Period]) {
            self.seq = seq
            self.effectiveFrom = effectiveFrom
            self.timeZone = timeZone
            self.periods = periods
        }

        /// The check-in part of a regimen version: medicines, doses, phase names, template and note are dropped.
        public init(seq: UInt64, regimen: Regimen) {
            let periods = regimen.phases.map { phase -> Period in
                var days: [TimeOfDay: Set<Int>] = [:]
                for m in phase.medications { for t in m.timesOfDay { days[t, default: []].formUnion(m.daysOfWeek) } }
                return Period(start: phase.start, end: phase.end, times: days.map { Times(time: $0.key, daysOfWeek: $0.value) })
            }
            self.init(seq: seq, effectiveFrom: regimen.effectiveFrom, timeZone: regimen.timeZone, periods: periods)
        }
    }

    /// The versions, ordered by (`effectiveFrom`, `seq`): the last one on or before a day governs it, as in
    /// `AdherenceCalculator`.
    public private(set) var versions: [Version]

    /// A schedule of these versions.
    public init(versions: [Version] = []) {
        self.versions = versions.sorted { ($0.effectiveFrom, $0.seq) < ($1.effectiveFrom, $1.seq) }
    }

    /// At most `count` of `versions` (a later duplicate of a `seq` wins), by (`effectiveFrom`, `seq`): the version
    /// governing `from` and the nearest after it first, then the latest of those before it. Without `from`, the latest
    /// `count`. Versions far in the future therefore never push out the one in force: a linked author who appends
    /// many regimens effective in 2099 does not silence the notices of today's.
    public static func latest(_ versions: [Version], count: Int, governing from: LocalDate? = nil) -> CheckInSchedule {
        var bySeq: [UInt64: Version] = [:]
        for v in versions { bySeq[v.seq] = v }
        let sorted = bySeq.values.sorted { ($0.effectiveFrom, $0.seq) < ($1.effectiveFrom, $1.seq) }
        guard let from, sorted.count > count else { return CheckInSchedule(versions: Array(sorted.suffix(count))) }
        let start = sorted.lastIndex { $0.effectiveFrom <= from } ?? 0
        var kept = Array(sorted[start...].prefix(count))
        if kept.count < count { kept = Array(sorted[max(0, start - (count - kept.count))..<start]) + kept }
        return CheckInSchedule(versions: kept)
    }

    /// Adds a version (a regimen change), replacing one with the same `seq`.
    public mutating func add(_ version: Version) {
        self = CheckInSchedule(versions: versions.filter { $0.seq != version.seq } + [version])
    }

    /// The version governing `date`, if any.
    public func version(on date: LocalDate) -> Version? { versions.last { $0.effectiveFrom <= date } }

    /// The slots of `date` (sorted), none outside treatment.
    public func slots(on date: LocalDate) -> [CheckInSlot] {
        guard let v = version(on: date), let p = v.periods.first(where: { $0.start <= date && date <= $0.end }) else { return [] }
        return p.times.filter { $0.daysOfWeek.contains(date.isoWeekday) }.map { CheckInSlot(date: date, time: $0.time) }
    }

    /// The slots whose due instant (local time in the governing version's zone, plus `grace`) lies in
    /// `(after, through]`, oldest first. The walk covers the UTC dates of that window widened by two days each side
    /// (every zone's offset is within ±14 h), so a caller bounds the work by bounding the window.
    public func dueSlots(after: Date, through: Date, grace: Duration) -> [DueCheckIn] {
        guard after < through else { return [] }
        let graceSeconds = Double(grace.components.seconds)
        let utc = TimeZone(identifier: "UTC")!
        var day = LocalDate(after.addingTimeInterval(-graceSeconds), in: utc).adding(days: -2)
        let last = LocalDate(through, in: utc).adding(days: 2)
        var out: [DueCheckIn] = []
        while day <= last {
            if let v = version(on: day) {
                for s in slots(on: day) {
                    let at = day.instant(at: s.time, in: v.timeZone)
                    let due = at.addingTimeInterval(graceSeconds)
                    if due > after && due <= through { out.append(DueCheckIn(slot: s, scheduledAt: at, dueAt: due)) }
                }
            }
            day = day.adding(days: 1)
        }
        return out.sorted { ($0.dueAt, $0.slot) < ($1.dueAt, $1.slot) }
    }
}

// MARK: JSON (the notice file's `schedule` member; docs/FORMAT.md, "Notice files")

extension CheckInSchedule: Codable {
    private struct TimesJSON: Codable { let time: String; let days: [Int] }
    private struct PeriodJSON: Codable { let start: LocalDate; let end: LocalDate; let times: [TimesJSON] }
    private struct VersionJSON: Codable { let seq: UInt64; let effectiveFrom: LocalDate; let timeZone: String; let periods: [PeriodJSON] }

    public init(from decoder: any Decoder) throws {
        let raw = try decoder.singleValueContainer().decode([VersionJSON].self)
        var versions: [Version] = []
        for v in raw {
            guard let zone = TimeZone(identifier: v.timeZone) else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a time zone"))
            }
            let periods = try v.periods.map { p -> Period in
                Period(start: p.start, end: p.end, times: try p.times.map { t -> Times in
                    guard let tod = TimeOfDay(t.time), t.days.allSatisfy({ (1...7).contains($0) }) else {
                        throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a check-in time"))
                    }
                    return Times(time: tod, daysOfWeek: Set(t.days))
                })
            }
            versions.append(Version(seq: v.seq, effectiveFrom: v.effectiveFrom, timeZone: zone, periods: periods))
        }
        self.init(versions: versions)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(versions.map { v in
            VersionJSON(seq: v.seq, effectiveFrom: v.effectiveFrom, timeZone: v.timeZone.identifier, periods: v.periods.map { p in
                PeriodJSON(start: p.start, end: p.end, times: p.times.map { TimesJSON(time: $0.time.description, days: $0.daysOfWeek.sorted()) })
            })
        })
    }
}
