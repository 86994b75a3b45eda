public import Foundation

/// One linked patient on a supporter's dashboard (docs/ADHERENCE.md, "Dashboard").
public struct DashboardEntry: Sendable {
    /// The vault (32 hexadecimal digits).
    public let vaultId: String
    /// The patient's nickname, if they have one.
    public let nickname: String?
    /// Doses missed over the last `days` days.
    public let missedRecently: Int
    /// Whole days since the patient's last record (nil: never wrote one).
    public let daysWithoutActivity: Int?
    /// Side effects of grade ≥ 3 not marked resolved.
    public let unresolvedSevereSideEffects: Int
    /// Adherence over the last 7 days (nil: nothing was due).
    public let last7: Double?
    /// Doses missed in a row up to now.
    public let currentMissedRun: Int
    /// Pattern flags.
    public let flags: Set<AdherenceFlag>

    /// The entry for one patient's report at `now`.
    /// - Parameter days: the window for `missedRecently` (1...28).
    public init(vaultId: String, nickname: String?, report: AdherenceReport, now: Date, days: Int) {
        self.vaultId = vaultId
        self.nickname = nickname
        let from = report.asOf.adding(days: -(days - 1))
        missedRecently = report.calendar.filter { $0.date >= from }.reduce(0) { $0 + $1.figure.missed }
        daysWithoutActivity = report.lastActivity.map { max(0, LocalDate($0, in: report.timeZone).days(to: report.asOf)) }
        unresolvedSevereSideEffects = report.unresolvedSevereSideEffects
        last7 = report.last7.ratio
        currentMissedRun = report.currentMissedRun
        flags = report.flags
    }
}

/// Orders a supporter's patients by risk, highest first: unresolved severe side effects, then doses missed
/// recently, then the current missed run, then days without activity (never active counts as most), then the
/// lowest 7-day adherence; ties by vault id so the order is stable.
public enum Dashboard {
    /// `entries` sorted by risk.
    public static func sorted(_ entries: [DashboardEntry]) -> [DashboardEntry] {
        entries.sorted { a, b in
            let ka = key(a), kb = key(b)
            if ka != kb { return ka.lexicographicallyPrecedes(kb, by: >) }
            return a.vaultId < b.vaultId
        }
    }

    static func key(_ e: DashboardEntry) -> [Double] {
        [Double(e.unresolvedSevereSideEffects), Double(e.missedRecently), Double(e.currentMissedRun),
         Double(e.daysWithoutActivity ?? Int.max / 2), 1 - (e.last7 ?? 1)]
    }
}
