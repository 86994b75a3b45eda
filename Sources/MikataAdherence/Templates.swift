public import Foundation

/// The built-in regimen templates (WHO consolidated guidelines on tuberculosis, Module 4: treatment, 2022; Japan's
/// standard regimens). A template names medicines and phase lengths only: doses are the prescriber's and are given
/// when a regimen is made from it (the product displays doses, never computes them).
public struct RegimenTemplate: Sendable, Hashable {
    /// The usual abbreviation (`2HRZE/4HR`).
    public let code: String
    /// What it is for, in words.
    public let summary: String
    /// Phases: name, length, medicine codes.
    public let phases: [(name: String, length: Length, medications: [String])]

    /// A phase length in calendar months or in weeks.
    public enum Length: Sendable, Hashable {
        case months(Int)
        case weeks(Int)
    }

    /// 6 months: isoniazid, rifampicin, pyrazinamide, ethambutol for 2 months, then isoniazid + rifampicin for 4.
    public static let hrze6 = RegimenTemplate(code: "2HRZE/4HR", summary: "drug-susceptible TB, 6 months",
        phases: [("intensive", .months(2), ["isoniazid", "rifampicin", "pyrazinamide", "ethambutol"]),
                 ("continuation", .months(4), ["isoniazid", "rifampicin"])])
    /// 9 months, when pyrazinamide cannot be given: isoniazid, rifampicin, ethambutol for 2 months, then
    /// isoniazid + rifampicin for 7.
    public static let hre9 = RegimenTemplate(code: "2HRE/7HR", summary: "drug-susceptible TB without pyrazinamide, 9 months",
        phases: [("intensive", .months(2), ["isoniazid", "rifampicin", "ethambutol"]),
                 ("continuation", .months(7), ["isoniazid", "rifampicin"])])
    /// 17 weeks daily: isoniazid, rifapentine, moxifloxacin, pyrazinamide for 8 weeks, then isoniazid, rifapentine,
    /// moxifloxacin for 9 (the 4-month regimen of WHO 2022).
    public static let hpmz4 = RegimenTemplate(code: "2HPMZ/2HPM", summary: "drug-susceptible TB, 4 months (17 weeks)",
        phases: [("intensive", .weeks(8), ["isoniazid", "rifapentine", "moxifloxacin", "pyrazinamide"]),
                 ("continuation", .weeks(9), ["isoniazid", "rifapentine", "moxifloxacin"])])

    /// Every built-in template.
    public static let all: [RegimenTemplate] = [hrze6, hre9, hpmz4]

    /// The template with `code`, if built in.
    public static func named(_ code: String) -> RegimenTemplate? { all.first { $0.code == code } }

    /// A regimen from this template starting on `start`, daily at `timesOfDay`.
    /// - Parameter doses: the prescriber's dose for each medicine of the template.
    /// - Throws: `AdherenceValidationError` (`/doses/<medicine>`) when a medicine has no dose.
    public func regimen(start: LocalDate, doses: [String: DoseQuantity], timesOfDay: [TimeOfDay],
                        timeZone: TimeZone = Regimen.defaultTimeZone) throws -> Regimen {
        var phasesOut: [RegimenPhase] = []
        var from = start
        for p in phases {
            let next: LocalDate
            switch p.length {
            case .months(let n): next = from.adding(months: n)
            case .weeks(let n): next = from.adding(days: 7 * n)
            }
            let meds = try p.medications.map { m -> MedicationDosage in
                guard let d = doses[m] else { throw AdherenceValidationError(field: "/doses/\(m)", reason: "is required by \(code)") }
                return MedicationDosage(medication: m, dose: d, timesOfDay: timesOfDay)
            }
            phasesOut.append(RegimenPhase(name: p.name, start: from, end: next.adding(days: -1), medications: meds))
            from = next
        }
        return try Regimen(template: code, effectiveFrom: start, timeZone: timeZone, phases: phasesOut)
    }

    public static func == (a: RegimenTemplate, b: RegimenTemplate) -> Bool { a.code == b.code }
    public func hash(into h: inout Hasher) { h.combine(code) }
}

