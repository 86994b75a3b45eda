public import Foundation

/// A calendar date without a time or zone (`2026-11-29`, ISO 8601 extended calendar date): a day of treatment as the
/// patient lives it, in their time zone. Comparable, and counted in days.
public struct LocalDate: Sendable, Hashable, Comparable, CustomStringConvertible, Codable {
    /// Year (1...9999), month (1...12), day (1...31, valid for the month).
    public let year: Int, month: Int, day: Int

    /// Parses `YYYY-MM-DD`; nil when malformed or not a real date.
    public init?(_ text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard text.count == 10, parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]) else { return nil }
        self.init(year: y, month: m, day: d)
    }

    /// A date from its parts; nil when not a real date.
    public init?(year: Int, month: Int, day: Int) {
        guard (1...9999).contains(year), (1...12).contains(month), (1...31).contains(day) else { return nil }
        var c = DateComponents()
        (c.year, c.month, c.day) = (year, month, day)
        guard c.isValidDate(in: LocalDate.utc) else { return nil }
        (self.year, self.month, self.day) = (year, month, day)
    }

    /// The date of `instant` in `timeZone`.
    public init(_ instant: Date, in timeZone: TimeZone) {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = timeZone
        let c = cal.dateComponents([.year, .month, .day], from: instant)
        (year, month, day) = (c.year!, c.month!, c.day!)
    }

    static let utc: Calendar = {
        var c = Calendar(identifier: .gregorian)
        c.timeZone = TimeZone(identifier: "UTC")!
        return c
    }()

    /// Days since 1970-01-01.
    public var dayNumber: Int {
        let d = LocalDate.utc.date(from: DateComponents(year: year, month: month, day: day))!
        return Int((d.timeIntervalSince1970 / 86_400).rounded(.down))
    }

    /// The date `n` days later (earlier when negative).
    public func adding(days n: Int) -> LocalDate {
        let d = Date(timeIntervalSince1970: Double(dayNumber + n) * 86_400)
        return LocalDate(d, in: TimeZone(identifier: "UTC")!)
    }

    /// The date `n` calendar months later, clamped to the month's last day (2026-01-31 + 1 month = 2026-02-28).
    public func adding(months n: Int) -> LocalDate {
        let d = LocalDate.utc.date(byAdding: .month, value: n, to: LocalDate.utc.date(from: DateComponents(year: year, month: month, day: day))!)!
        return LocalDate(d, in: TimeZone(identifier: "UTC")!)
    }

    /// Days from `self` to `other` (positive when `other` is later).
    public func days(to other: LocalDate) -> Int { other.dayNumber - dayNumber }

    /// ISO weekday: 1 Monday ... 7 Sunday.
    public var isoWeekday: Int { ((dayNumber % 7) + 7 + 3) % 7 + 1 }  // 1970-01-01 was a Thursday

    /// The instant at `time` on this date in `timeZone`.
    public func instant(at time: TimeOfDay, in timeZone: TimeZone) -> Date {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = timeZone
        return cal.date(from: DateComponents(year: year, month: month, day: day, hour: time.hour, minute: time.minute))!
    }

    public static func < (a: LocalDate, b: LocalDate) -> Bool { (a.year, a.month, a.day) < (b.year, b.month, b.day) }

    /// `YYYY-MM-DD`.
    public var description: String { String(format: "%04d-%02d-%02d", year, month, day) }

    public init(from decoder: any Decoder) throws {
        let s = try decoder.singleValueContainer().decode(String.self)
        guard let d = LocalDate(s) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a date"))
        }
        self = d
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// A time of day (`08:00`, 24-hour `HH:MM`) in the patient's time zone.
public struct TimeOfDay: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Hour 0...23 and minute 0...59.
    public let hour: Int, minute: Int

    /// Parses `HH:MM`; nil when malformed.
    public init?(_ text: String) {
        let p = text.split(separator: ":", omittingEmptySubsequences: false)
        guard text.count == 5, p.count == 2, let h = Int(p[0]), let m = Int(p[1]), (0...23).contains(h), (0...59).contains(m) else { return nil }
        (hour, minute) = (h, m)
    }

    public static func < (a: TimeOfDay, b: TimeOfDay) -> Bool { (a.hour, a.minute) < (b.hour, b.minute) }

    /// `HH:MM`.
    public var description: String { String(format: "%02d:%02d", hour, minute) }
}
