import Foundation
import Testing

/// `mikata service register/list/revoke` and `service authorize --service-id` for a registered service (issue 9 §1
/// "Services").
@Suite("Registered services from the CLI")
struct ServiceRegistryCLITests {
    static let patient = "reg-patient-31f7@example.jp"

    @Test("register prints the key once; list never shows it; authorize by id; revoke; unknown ids are 66")
    func registerListAuthorizeRevoke() throws {
        let fx = try CLIFixture()
        try fx.setUp(patient: Self.patient)
        let registered = try fx.ok(["service", "register", "--name", "pillbox", "--json"]).json()
        let id = try #require(registered["serviceId"] as? String)
        let apiKey = try #require(registered["apiKey"] as? String)
        #expect(id.count == 32 && apiKey.hasPrefix("mks_\(id)_") && apiKey.count == 80)
        let listed = try fx.ok(["service", "list", "--json"])
        #expect(!listed.stdout.contains(apiKey) && listed.stdout.contains(id))
        #expect(((try listed.json()["services"]) as? [[String: Any]])?.first?["revoked"] as? Bool == false)
        for file in fx.allFiles() {
            #expect(!(try String(contentsOfFile: file, encoding: .isoLatin1)).contains(String(apiKey.dropFirst(37))), "\(file)")
        }

        let authorize = ["service", "authorize", "--email", Self.patient, "--password-file", fx.patientPasswordFile]
        let done = try fx.ok(authorize + ["--service-id", id, "--json"]).json()
        #expect(done["authorized"] as? Bool == true && done["serviceId"] as? String == id)
        let inspect = try fx.ok(["vault", "inspect", "--email", Self.patient, "--json"]).json()
        #expect(inspect["services"] as? [String] == [id])

        try fx.ok(["service", "revoke", "--service-id", id])
        #expect(try fx.ok(["service", "list"]).stdout.contains("revoked"))
        #expect(try fx.run(authorize + ["--service-id", id]).status == 66, "a revoked service is not authorised any more")
        #expect(try fx.run(["service", "revoke", "--service-id", String(repeating: "c", count: 32)]).status == 66)
        #expect(try fx.run(["service", "revoke", "--service-id", "zz"]).status == 64)
        let audit = try fx.ok(["--json", "audit", "show"]).stdout
        #expect(audit.contains("service-register") && audit.contains("service-revoke"))
    }
}
