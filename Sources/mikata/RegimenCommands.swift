import ArgumentParser
import Foundation
import MikataService

// Issue 10 §1: regimens from the built-in templates. `mikata regimen templates` lists them; `mikata regimen
// from-template` prints the `medication-request` data to store with `mikata record add --type medication-request`.
// Neither opens a store.

/// `mikata regimen templates | from-template`.
struct RegimenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "regimen",
        abstract: "The built-in regimen templates (2HRZE/4HR, 2HRE/7HR, 2HPMZ/2HPM) and regimens made from them.",
        subcommands: [Templates.self, FromTemplate.self])

    /// `mikata regimen templates [--json]`.
    struct Templates: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "templates", abstract: "List the built-in templates: phases, lengths, medicines.")
        @Flag(help: "Machine-readable JSON on stdout.") var json = false

        func run() throws {
            let bytes = VaultService.regimenTemplatesJSON()
            if json { try StandardOutput.json(bytes); return }
            guard let o = try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any], let list = o["templates"] as? [[String: Any]] else { return }
            for t in list {
                try StandardOutput.line("\(t["code"] as? String ?? "")  \(t["summary"] as? String ?? "")")
                for p in t["phases"] as? [[String: Any]] ?? [] {
                    let length = (p["months"] as? Int).map { "\($0) months" } ?? (p["weeks"] as? Int).map { "\($0) weeks" } ?? ""
                    let meds = (p["medications"] as? [String] ?? []).joined(separator: ", ")
                    try StandardOutput.line("  \(p["name"] as? String ?? ""): \(length): \(meds)")
                }
            }
        }
    }

    /// `mikata regimen from-template --template CODE --start D --time HH:MM... --dose MED=VALUE UNIT... [--time-zone Z]`.
    struct FromTemplate: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "from-template",
            abstract: "Print a regimen (medication-request JSON) made from a template, with the prescriber's doses as written.",
            discussion: """
            Store it with: mikata record add --email E --type medication-request --data "$(mikata regimen from-template ...)"
            Every medicine of the template needs a --dose; the product displays doses, never computes them.
            """)
        @Option(help: ArgumentHelp("The template's code (see 'mikata regimen templates').", valueName: "code")) var template: String
        @Option(help: ArgumentHelp("The first day (YYYY-MM-DD, the patient's local date).", valueName: "date")) var start: String
        @Option(name: .customLong("time"), help: ArgumentHelp("A time of day (HH:MM), repeatable.", valueName: "HH:MM")) var times: [String] = []
        @Option(name: .customLong("dose"), help: ArgumentHelp("A medicine's dose as written: isoniazid=300mg or 'ethambutol=1.5 tablet', repeatable.",
                                                              valueName: "medicine=dose")) var doses: [String] = []
        @Option(help: ArgumentHelp("The patient's time zone (IANA; default Asia/Tokyo).", valueName: "zone")) var timeZone: String?

        /// `300mg` → ("300", "mg"); `1.5 tablet` → ("1.5", "tablet"): the leading number (with `.` or `-`) is the value.
        static func split(_ dose: String) -> (value: String, unit: String)? {
            let d = dose.trimmingCharacters(in: .whitespaces)
            let value = d.prefix { $0.isNumber || $0 == "." || $0 == "-" }
            let unit = d.dropFirst(value.count).trimmingCharacters(in: .whitespaces)
            return value.isEmpty || unit.isEmpty ? nil : (String(value), unit)
        }

        func run() throws {
            var parsed: [String: (value: String, unit: String)] = [:]
            for d in doses {
                guard let eq = d.firstIndex(of: "="), let q = Self.split(String(d[d.index(after: eq)...])) else {
                    throw ValidationError("--dose must be medicine=value unit (isoniazid=300mg)")
                }
                parsed[String(d[..<eq])] = q
            }
            let json = try VaultService.regimenFromTemplate(template, start: start, timesOfDay: times, doses: parsed, timeZone: timeZone)
            try StandardOutput.json(json)
        }
    }
}
