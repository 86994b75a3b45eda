import Foundation
import Testing

/// `mikata admin create | list | delete` (issue 9 §1, administrators of `mikata serve`).
@Suite("Administrators from the CLI")
struct AdminCommandTests {
    @Test("create prints the TOTP secret and otpauth URL once; list shows no secret; delete removes; errors keep their codes")
    func createListDelete() throws {
        let fx = try CLIFixture()
        try fx.ok(["init"])
        let created = try fx.ok(["admin", "create", "--name", "Op1", "--password-file", fx.patientPasswordFile, "--json"]).json()
        let secret = try #require(created["totpSecret"] as? String)
        #expect(created["name"] as? String == "op1" && secret.count == 52)
        #expect((created["otpauthURL"] as? String)?.contains("secret=\(secret)&") == true)
        #expect((created["otpauthURL"] as? String)?.hasPrefix("otpauth://totp/") == true, "\(created)")
        let human = try fx.ok(["admin", "create", "--name", "op2", "--password-file", fx.patientPasswordFile])
        #expect(human.stdout.contains("created administrator op2") && human.stdout.contains("otpauth://totp/"))

        let list = try fx.ok(["admin", "list", "--json"])
        #expect(!list.stdout.contains(secret) && !list.stdout.contains("argon2"))
        #expect((try list.json()["administrators"] as? [[String: Any]])?.compactMap { $0["name"] as? String } == ["op1", "op2"])

        let again = try fx.run(["admin", "create", "--name", "op1", "--password-file", fx.patientPasswordFile])
        #expect(again.status == 1 && again.stderr.contains("exists already"), "\(again.stderr)")
        let bad = try fx.run(["admin", "create", "--name", "no spaces", "--password-file", fx.patientPasswordFile])
        #expect(bad.status == 64, "\(bad.stderr)")

        try fx.ok(["admin", "delete", "--name", "op1"])
        #expect(try fx.ok(["admin", "list"]).stdout.hasPrefix("op2\t"))
        #expect(try fx.run(["admin", "delete", "--name", "op1"]).status == 66)
    }
}
