import Foundation
import Testing

/// Issue 10 §2–§3 through the `mikata` executable: `report`, `dashboard`, `export`, and typed-record validation.
@Suite("CLI: adherence reports and exports")
struct AdherenceCLITests {
    static let patient = "adh-patient-5e21@example.jp"
    static let nurse = (email: "adh-nurse-77c0@example.jp", name: "Nurse Ito")
    static let regimen = #"{"effectiveFrom":"2026-11-01","phases":[{"name":"intensive","start":"2026-11-01","end":"2027-04-30","medications":[{"medication":"isoniazid","dose":{"value":"300","unit":"mg"},"timeOfDay":["08:00"]}]}]}"#
    static let dose = #"{"scheduled":{"medication":"isoniazid","date":"2026-11-01","time":"08:00"},"status":"taken","takenAt":"2026-10-31T23:05:00Z","recordedAt":"2026-10-31T23:06:00Z","method":"self-report","note":"=cmd|' /C calc'!A0"}"#

    @Test("report, dashboard and export: happy paths, files 0600 never overwritten, the export in audit mine")
    func happyPaths() throws {
        let fx = try CLIFixture()
        try fx.setUp(patient: Self.patient, nickname: "Hiro", supporter: Self.nurse)
        let pw = ["--password-file", fx.patientPasswordFile], npw = ["--password-file", fx.nursePasswordFile]
        try fx.ok(["grant", "--email", Self.patient, "--supporter", Self.nurse.email, "--supporter-name", Self.nurse.name] + pw)
        try fx.ok(["record", "add", "--email", Self.patient, "--type", "medication-request", "--data", Self.regimen] + pw)
        try fx.ok(["record", "add", "--email", Self.patient, "--type", "dose-event", "--data", Self.dose] + pw)
        try fx.ok(["record", "add", "--email", Self.patient, "--type", "message", "--data", #"{"text":"毎朝8時に飲みましょう"}"#,
                   "--as-supporter", Self.nurse.email] + npw)

        let json = try fx.ok(["report", "--email", Self.patient, "--from", "2026-11-01", "--to", "2026-11-02", "--json"] + pw).json()
        #expect((json["treatment"] as? [String: Any])?["taken"] as? Int == 1 && (json["calendar"] as? [Any])?.count == 2)
        #expect(json["nickname"] as? String == "Hiro" && json["unreadableRecords"] as? Int == 0)
        let text = try fx.ok(["report", "--email", Self.patient] + pw).stdout
        #expect(text.contains("Last 7 days:") && text.contains("isoniazid") && text.contains("Calendar:"), "\(text)")
        let theirs = try fx.ok(["report", "--email", Self.patient, "--as-supporter", Self.nurse.email, "--json"] + npw).json()
        #expect((theirs["treatment"] as? [String: Any])?["taken"] as? Int == 1)

        let board = try fx.ok(["dashboard", "--email", Self.nurse.email, "--json"] + npw).json()
        let rows = try #require(board["patients"] as? [[String: Any]])
        #expect(rows.count == 1 && rows.first?["nickname"] as? String == "Hiro" && board["days"] as? Int == 7)
        #expect(try fx.ok(["dashboard", "--email", Self.nurse.email] + npw).stdout.contains("Hiro"))

        let folder = "\(fx.root)/csv-out"
        let csv = try fx.ok(["export", "--email", Self.patient, "--format", "csv", "--out", folder, "--json"] + pw).json()
        #expect(csv["records"] as? Int == 3)
        for name in ["doses.csv", "messages.csv", "side-effects.csv"] {
            let path = "\(folder)/\(name)"
            let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
            #expect(Array(bytes.prefix(3)) == [0xEF, 0xBB, 0xBF], "\(name)")
            let mode = (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? 0
            #expect(mode & 0o777 == 0o600, "\(name) mode \(String(mode, radix: 8))")
        }
        let doses = try String(contentsOfFile: "\(folder)/doses.csv", encoding: .utf8)
        #expect(doses.contains("\r\n") && doses.contains("'=cmd|"))
        #expect(try String(contentsOfFile: "\(folder)/messages.csv", encoding: .utf8).contains("毎朝8時に飲みましょう"))
        let again = try fx.run(["export", "--email", Self.patient, "--format", "csv", "--out", folder] + pw)
        #expect(again.status == 1 && again.stderr.contains("already holds an export"), "\(again.stderr)")

        let bundle = "\(fx.root)/bundle.json"
        try fx.ok(["export", "--email", Self.patient, "--format", "fhir", "--out", bundle, "--as-supporter", Self.nurse.email] + npw)
        let fhir = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: bundle))) as? [String: Any]
        #expect(fhir?["resourceType"] as? String == "Bundle")
        // The independent validator make test installs (fhir.resources, scripts/validate_fhir.py) on the bundle as exported.
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/validate_fhir.py")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", script.path, bundle]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "\(String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))")
        #expect(try fx.run(["export", "--email", Self.patient, "--format", "fhir", "--out", bundle] + pw).status == 1)

        let audit = try fx.ok(["audit", "mine", "--email", Self.patient, "--json"] + pw).stdout
        let exports = audit.components(separatedBy: #""action":"export""#).count - 1
        #expect(exports == 2, "\(audit)")
        #expect(audit.contains(Self.nurse.name))
    }

    @Test("usage errors: --from without --to, an unknown format, an invalid typed record (exit 64 naming the field, nothing written)")
    func usageErrors() throws {
        let fx = try CLIFixture()
        try fx.setUp(patient: Self.patient)
        let pw = ["--password-file", fx.patientPasswordFile]
        #expect(try fx.run(["report", "--email", Self.patient, "--from", "2026-11-01"] + pw).status == 64)
        #expect(try fx.run(["report", "--email", Self.patient, "--from", "yesterday", "--to", "2026-11-01"] + pw).status == 64)
        #expect(try fx.run(["export", "--email", Self.patient, "--format", "pdf", "--out", "\(fx.root)/x"] + pw).status == 64)
        #expect(try fx.run(["dashboard", "--email", Self.nurse.email, "--days", "0"] + pw).status == 64)
        let bad = try fx.run(["record", "add", "--email", Self.patient, "--type", "side-effect", "--data", #"{"symptom":"nausea","grade":9,"onset":"2026-11-01T00:00:00Z"}"#] + pw)
        #expect(bad.status == 64 && bad.stderr.contains("/grade"), "\(bad.stderr)")
        #expect(try fx.listRecords(patient: Self.patient).isEmpty)
    }

    @Test("regimen templates and from-template: the regimen prints, stores as a medication-request; a missing dose is exit 64 naming it")
    func regimenFromTemplate() throws {
        let fx = try CLIFixture()
        let list = try fx.ok(["regimen", "templates"])
        #expect(list.stdout.contains("2HRZE/4HR") && list.stdout.contains("2HPMZ/2HPM"))
        let made = try fx.ok(["regimen", "from-template", "--template", "2HPMZ/2HPM", "--start", "2026-11-01", "--time", "08:00",
                              "--dose", "isoniazid=300mg", "--dose", "rifapentine=1200mg", "--dose", "moxifloxacin=400mg", "--dose", "pyrazinamide=1.5 g"])
        let o = try #require(try JSONSerialization.jsonObject(with: Data(made.stdout.utf8)) as? [String: Any])
        #expect(o["template"] as? String == "2HPMZ/2HPM" && (o["phases"] as? [Any])?.count == 2)
        #expect(made.stdout.contains(#""unit":"g","value":"1.5""#))
        let missing = try fx.run(["regimen", "from-template", "--template", "2HPMZ/2HPM", "--start", "2026-11-01", "--time", "08:00", "--dose", "isoniazid=300mg"])
        #expect(missing.status == 64 && missing.stderr.contains("/doses/"), "\(missing.stderr)")
    }
}
