import Foundation
import MikataAdherence

// Issue 10 §1: regimens from the built-in templates (2HRZE/4HR, 2HRE/7HR, 2HPMZ/2HPM), for the CLI
// (`mikata regimen templates | from-template`) and HTTP (`/v1/regimen-templates`) alike. Nothing here reads or writes
// a vault: a client stores the regimen it gets back as a `medication-request` record, as it would a hand-written one.

extension VaultService {
    /// The built-in templates as JSON: `{"templates": [{"code", "summary", "phases": [{"name", "months"|"weeks",
    /// "medications": [...]}]}]}` (docs/ADHERENCE.md, "Regimen templates").
    public static func regimenTemplatesJSON() -> [UInt8] {
        let list: [[String: Any]] = RegimenTemplate.all.map { t in
            ["code": t.code, "summary": t.summary,
             "phases": t.phases.map { p -> [String: Any] in
                 var o: [String: Any] = ["name": p.name, "medications": p.medications]
                 switch p.length {
                 case .months(let n): o["months"] = n
                 case .weeks(let n): o["weeks"] = n
                 }
                 return o
             }]
        }
        let data = (try? JSONSerialization.data(withJSONObject: ["templates": list], options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return Array(data)
    }

    /// A regimen (`medication-request` data, strict JSON as an append stores it) made from a built-in template.
    /// - Parameters:
    ///   - template: a template's code (`2HRZE/4HR`).
    ///   - start: the first day (`YYYY-MM-DD`, the patient's local date).
    ///   - timesOfDay: local times (`HH:MM`), at least one.
    ///   - doses: the prescriber's dose of every medicine of the template, as written: medicine → (value, unit).
    ///   - timeZone: an IANA zone (default Asia/Tokyo).
    /// - Returns: the regimen's JSON.
    /// - Throws: `MikataError(.invalidInput)` naming the member (`/template`, `/start`, `/timesOfDay/0`,
    ///   `/doses/isoniazid`, `/timeZone`) as in the HTTP body.
    public static func regimenFromTemplate(_ template: String, start: String, timesOfDay: [String],
                                           doses: [String: (value: String, unit: String)], timeZone: String? = nil) throws -> [UInt8] {
        guard let t = RegimenTemplate.named(template) else {
            throw MikataError(.invalidInput, "template: not a built-in template (\(RegimenTemplate.all.map(\.code).joined(separator: ", ")))", field: "/template")
        }
        guard let day = LocalDate(start) else { throw MikataError(.invalidInput, "start: must be a date YYYY-MM-DD", field: "/start") }
        guard !timesOfDay.isEmpty else { throw MikataError(.invalidInput, "timesOfDay: at least one time HH:MM", field: "/timesOfDay") }
        var times: [TimeOfDay] = []
        for (i, s) in timesOfDay.enumerated() {
            guard let time = TimeOfDay(s) else { throw MikataError(.invalidInput, "timesOfDay: must be times HH:MM", field: "/timesOfDay/\(i)") }
            times.append(time)
        }
        var zone = Regimen.defaultTimeZone
        if let timeZone {
            guard let z = TimeZone(identifier: timeZone) else { throw MikataError(.invalidInput, "timeZone: not an IANA time zone", field: "/timeZone") }
            zone = z
        }
        let quantities = doses.mapValues { DoseQuantity(value: $0.value, unit: $0.unit) }
        let regimen: Regimen
        do { regimen = try t.regimen(start: day, doses: quantities, timesOfDay: times, timeZone: zone) } catch let e as AdherenceValidationError {
            // `/doses/<medicine>` is a member of the request; a pointer into the made regimen (a dose's unit left
            // empty: `/phases/0/medications/1/dose/unit`) is named in the message only.
            throw MikataError(.invalidInput, e.field.isEmpty ? e.reason : "\(e.field): \(e.reason)", field: e.field.hasPrefix("/doses/") ? e.field : nil)
        }
        return try checkedRecordData(regimen.json(), type: AdherenceRecordType.regimen.rawValue)
    }
}
