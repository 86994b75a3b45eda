import Foundation
import HTTPTypes
import HummingbirdTesting
import MikataAdherence
import Testing
@testable import MikataServer

/// Issue 10 §2–§3 over HTTP: reports, the dashboard, exports (content types, attachment, BOM), 404 for unlinked vaults.
@Suite struct AdherenceRouteTests {
    /// A regimen from 2026-11-01 and one dose event, posted as the patient.
    static func writeRegimen(_ c: any TestClientProtocol, token: String) async throws {
        let regimen = try RegimenTemplate.hrze6.regimen(start: LocalDate("2026-11-01")!, doses: ["isoniazid": .init(value: "300", unit: "mg"),
                                                                                                 "rifampicin": .init(value: "600", unit: "mg"),
                                                                                                 "pyrazinamide": .init(value: "1500", unit: "mg"),
                                                                                                 "ethambutol": .init(value: "1000", unit: "mg")],
                                                        timesOfDay: [TimeOfDay("08:00")!])
        let r = try await c.post("/v1/patient/records", #"{"type":"medication-request","data":\#(String(decoding: regimen.json(), as: UTF8.self))}"#, token: token)
        #expect(r.code == 201, "\(r.body)")
        let dose = #"{"scheduled":{"medication":"isoniazid","date":"2026-11-01","time":"08:00"},"status":"taken","takenAt":"2026-10-31T23:05:00Z","recordedAt":"2026-10-31T23:06:00Z","method":"self-report","note":"=HYPERLINK(\"x\")"}"#
        let d = try await c.post("/v1/patient/records", #"{"type":"dose-event","data":\#(dose)}"#, token: token)
        #expect(d.code == 201, "\(d.body)")
    }

    @Test func aRegimenFromATemplateIsMadeForASignedInUserAndStoredAsARecord() async throws {
        let f = try await ServerFixture.make()
        try await f.run { c in
            #expect(try await c.get("/v1/regimen-templates").code == 401)
            let p = try await c.patient("tp@example.com")
            let list = try await c.get("/v1/regimen-templates", token: p.token)
            let codes = (list.json["templates"] as? [[String: Any]])?.compactMap { $0["code"] as? String }
            #expect(codes == ["2HRZE/4HR", "2HRE/7HR", "2HPMZ/2HPM"], "\(list.body)")
            let body = #"{"template":"2HRE/7HR","start":"2026-11-01","timesOfDay":["08:00"],"doses":{"isoniazid":{"value":"300","unit":"mg"},"rifampicin":{"value":"450","unit":"mg"},"ethambutol":{"value":"750","unit":"mg"}}}"#
            let made = try await c.post("/v1/regimen-templates/regimen", body, token: p.token)
            #expect(made.code == 200 && made.json["template"] as? String == "2HRE/7HR" && (made.json["phases"] as? [Any])?.count == 2, "\(made.body)")
            let stored = try await c.post("/v1/patient/records", #"{"type":"medication-request","data":\#(made.body)}"#, token: p.token)
            #expect(stored.code == 201, "\(stored.body)")
            // Each member at fault is named; nothing is stored by this route.
            let missing = try await c.post("/v1/regimen-templates/regimen", body.replacingOccurrences(of: #","ethambutol":{"value":"750","unit":"mg"}"#, with: ""), token: p.token)
            #expect(missing.code == 400 && missing.field == "/doses/ethambutol", "\(missing.body)")
            let unknown = try await c.post("/v1/regimen-templates/regimen", body.replacingOccurrences(of: "2HRE/7HR", with: "3HP"), token: p.token)
            #expect(unknown.code == 400 && unknown.field == "/template")
            let badTime = try await c.post("/v1/regimen-templates/regimen", body.replacingOccurrences(of: #"["08:00"]"#, with: #"["8am"]"#), token: p.token)
            #expect(badTime.code == 400 && badTime.field == "/timesOfDay/0")
            // Unknown members are refused at every depth, not only at the top.
            let nested = try await c.post("/v1/regimen-templates/regimen", body.replacingOccurrences(of: #""unit":"mg"},"rifampicin""#, with: #""unit":"mg","route":"oral"},"rifampicin""#), token: p.token)
            #expect(nested.code == 400 && nested.field == "/doses/isoniazid/route", "\(nested.body)")
        }
    }

    @Test func reportsDashboardAndExports() async throws {
        let f = try await ServerFixture.make()
        try await f.run { c in
            let p = try await c.patient("ap@example.com", nickname: "Aki")
            let s = try await c.supporter("as@example.com")
            try await Self.writeRegimen(c, token: p.token)
            // Typed records are validated on write: 400 naming the member, nothing written.
            let bad = try await c.post("/v1/patient/records", #"{"type":"side-effect","data":{"symptom":"nausea","grade":9,"onset":"2026-11-01T00:00:00Z"}}"#, token: p.token)
            #expect(bad.code == 400 && bad.problem == "invalid-input" && (bad.string("detail") ?? "").hasPrefix("/grade")
                    && bad.field == "/data/grade", "\(bad.body)")

            let report = try await c.get("/v1/patient/report?from=2026-11-01&to=2026-11-03", token: p.token)
            #expect(report.code == 200 && report.headers[.contentType] == "application/json", "\(report.body)")
            #expect(report.string("vaultId") == p.vaultId && (report.json["calendar"] as? [Any])?.count == 3)
            #expect(((report.json["treatment"] as? [String: Any])?["taken"] as? Int) == 1)
            let half = try await c.get("/v1/patient/report?from=2026-11-01", token: p.token)
            #expect(half.code == 400 && half.field == "to")
            let badDate = try await c.get("/v1/patient/report?from=2026-13-01&to=2026-11-03", token: p.token)
            #expect(badDate.code == 400 && badDate.field == "from")

            // Unlinked: 404 like every supporter route; linked: the same report.
            #expect(try await c.get("/v1/supporter/patients/\(p.vaultId)/report", token: s.token).code == 404)
            #expect(try await c.get("/v1/supporter/patients/\(p.vaultId)/export?format=fhir", token: s.token).code == 404)
            let empty = try await c.get("/v1/supporter/dashboard", token: s.token)
            #expect(empty.code == 200 && (empty.json["patients"] as? [Any])?.count == 0)
            try await c.link(patientToken: p.token, supporterEmail: "as@example.com", fingerprint: s.fingerprint)
            let theirs = try await c.get("/v1/supporter/patients/\(p.vaultId)/report?from=2026-11-01&to=2026-11-03", token: s.token)
            #expect(theirs.code == 200 && theirs.string("vaultId") == p.vaultId)
            let board = try await c.get("/v1/supporter/dashboard?days=14", token: s.token)
            let rows = try #require(board.json["patients"] as? [[String: Any]])
            #expect(board.code == 200 && board.json["days"] as? Int == 14 && rows.count == 1 && rows.first?["nickname"] as? String == "Aki")
            #expect(try await c.get("/v1/supporter/dashboard?days=0", token: s.token).field == "days")

            // CSV: one file per request, BOM, CRLF, the formula neutralised, an attachment.
            let doses = try await c.get("/v1/patient/export?format=csv&file=doses", token: p.token)
            #expect(doses.code == 200 && doses.headers[.contentType] == "text/csv; charset=utf-8")
            #expect(doses.headers[.contentDisposition] == #"attachment; filename="doses.csv""#)
            #expect(doses.body.unicodeScalars.first == "\u{FEFF}" && doses.body.contains("\r\n") && doses.body.contains(#""'=HYPERLINK(""x"")""#))
            let messages = try await c.get("/v1/supporter/patients/\(p.vaultId)/export?format=csv&file=messages", token: s.token)
            #expect(messages.code == 200 && messages.body.hasPrefix("\u{FEFF}record_seq"))
            #expect(try await c.get("/v1/patient/export?format=csv", token: p.token).field == "file")
            #expect(try await c.get("/v1/patient/export?format=pdf", token: p.token).field == "format")
            #expect(try await c.get("/v1/patient/export?format=fhir&file=doses", token: p.token).field == "file")
            let fhir = try await c.get("/v1/supporter/patients/\(p.vaultId)/export?format=fhir", token: s.token)
            #expect(fhir.code == 200 && fhir.headers[.contentType] == "application/fhir+json")
            #expect(fhir.headers[.contentDisposition] == #"attachment; filename="adherence.fhir.json""#)
            #expect(fhir.string("resourceType") == "Bundle")

            // Each export is in the patient's access log, the supporter's under the name the patient knows.
            let log = try await c.get("/v1/patient/access-log", token: p.token)
            let exports = (log.json["entries"] as? [[String: Any]])?.filter { $0["action"] as? String == "export" } ?? []
            #expect(exports.count == 3, "\(log.body)")
        }
    }
}
