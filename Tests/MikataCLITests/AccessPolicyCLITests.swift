import Foundation
import Testing

/// Issue 7 §5 through the real `mikata`: failed unlocks logged for every role and command, unknown e-mails answered
/// as wrong passwords, the retention floor, the logged operator inspect, supporter password change, non-dumpable.
@Suite("Access-log policy (CLI)")
struct AccessPolicyCLITests {
    static let patient = "policy-cli-patient@example.jp"
    static let nurse = "policy-cli-nurse@example.jp"
    static let unknown = "policy-cli-nobody@example.jp"

    /// A store with a patient linked to a supporter, plus a new-password file and a well-formed wrong recovery code.
    static func fixture() throws -> (CLIFixture, newPasswordFile: String, wrongCodeFile: String) {
        let fx = try CLIFixture()
        try fx.setUp(patient: patient, supporter: (nurse, "Nurse"))
        try fx.ok(["grant", "--email", patient, "--supporter", nurse, "--password-file", fx.patientPasswordFile])
        let newPasswordFile = "\(fx.root)/new.pw"
        try "Pw-New-90d1c\n".write(toFile: newPasswordFile, atomically: true, encoding: .utf8)
        let wrongCodeFile = "\(fx.root)/wrong.code"
        try (Array(repeating: "00000", count: 8).joined(separator: "-") + "\n").write(toFile: wrongCodeFile, atomically: true, encoding: .utf8)
        return (fx, newPasswordFile, wrongCodeFile)
    }

    static func lastEntry(_ fx: CLIFixture) throws -> [String: Any] {
        let entries = try #require(try fx.ok(["audit", "show", "--json"]).json()["entries"] as? [[String: Any]])
        return try #require(entries.last)
    }

    /// What a command line is made of: the e-mail tried, a wrong password file, a new password file, a wrong code file.
    struct Inputs {
        let email, wrong, newPassword, wrongCode: String
    }

    /// A credentialed command: its arguments for an e-mail and a wrong credential, and who the log names.
    struct Credentialed: CustomTestStringConvertible, Sendable {
        let name: String
        let role: String
        let action: String
        let arguments: @Sendable (Inputs) -> [String]
        var testDescription: String { name }
    }

    static let credentialed: [Credentialed] = [
        .init(name: "record list", role: "patient", action: "unlock") { ["record", "list", "--email", $0.email, "--password-file", $0.wrong] },
        .init(name: "record add", role: "patient", action: "unlock") { ["record", "add", "--email", $0.email, "--type", "dose", "--data", "1", "--password-file", $0.wrong] },
        .init(name: "grant", role: "patient", action: "unlock") { ["grant", "--email", $0.email, "--supporter", nurse, "--password-file", $0.wrong] },
        .init(name: "revoke", role: "patient", action: "unlock") { ["revoke", "--email", $0.email, "--supporter", nurse, "--password-file", $0.wrong] },
        .init(name: "password change", role: "patient", action: "unlock") { ["password", "change", "--email", $0.email, "--password-file", $0.wrong, "--new-password-file", $0.newPassword] },
        .init(name: "recover", role: "patient", action: "recovery-unlock") { ["recover", "--email", $0.email, "--recovery-code-file", $0.wrongCode, "--new-password-file", $0.newPassword] },
        .init(name: "vault verify", role: "patient", action: "unlock") { ["vault", "verify", "--email", $0.email, "--password-file", $0.wrong] },
        .init(name: "audit mine", role: "patient", action: "unlock") { ["audit", "mine", "--email", $0.email, "--password-file", $0.wrong] },
        .init(name: "patient delete", role: "patient", action: "unlock") { ["patient", "delete", "--email", $0.email, "--password-file", $0.wrong] },
        .init(name: "supporter patients", role: "supporter", action: "unlock") { ["supporter", "patients", "--email", $0.email, "--password-file", $0.wrong] },
        .init(name: "supporter delete", role: "supporter", action: "unlock") { ["supporter", "delete", "--email", $0.email, "--password-file", $0.wrong] },
        .init(name: "supporter password", role: "supporter", action: "unlock") { ["supporter", "password", "--email", $0.email, "--password-file", $0.wrong, "--new-password-file", $0.newPassword] },
        .init(name: "record list --as-supporter", role: "supporter", action: "unlock") { ["record", "list", "--email", patient, "--as-supporter", $0.email, "--password-file", $0.wrong] },
        .init(name: "record add --as-supporter", role: "supporter", action: "unlock") { ["record", "add", "--email", patient, "--type", "note", "--data", "1", "--as-supporter", $0.email, "--password-file", $0.wrong] },
        .init(name: "report", role: "patient", action: "unlock") { ["report", "--email", $0.email, "--password-file", $0.wrong] },
        .init(name: "report --as-supporter", role: "supporter", action: "unlock") { ["report", "--email", patient, "--as-supporter", $0.email, "--password-file", $0.wrong] },
        .init(name: "dashboard", role: "supporter", action: "unlock") { ["dashboard", "--email", $0.email, "--password-file", $0.wrong] },
        .init(name: "export", role: "patient", action: "unlock") { ["export", "--email", $0.email, "--format", "fhir", "--out", "/nonexistent-dir/x.json", "--password-file", $0.wrong] },
    ]

    @Test("each credentialed command: a wrong credential is 77 and logged as denied; an unknown e-mail is the same answer, logged as unknown",
          arguments: credentialed)
    func wrongAndUnknown(command: Credentialed) throws {
        let (fx, newPassword, wrongCode) = try Self.fixture()
        let known = command.role == "patient" ? Self.patient : Self.nurse
        let before = fx.allFiles().filter { !$0.hasSuffix("log.jsonl") }.map { ($0, try? Data(contentsOf: URL(fileURLWithPath: $0))) }

        let wrong = try fx.run(command.arguments(Inputs(email: known, wrong: fx.wrongPasswordFile, newPassword: newPassword, wrongCode: wrongCode)))
        #expect(wrong.status == 77, "\(command.name), wrong credential: exit \(wrong.status): \(wrong.stderr)")
        let denied = try Self.lastEntry(fx)
        #expect(denied["outcome"] as? String == "denied" && denied["role"] as? String == command.role && denied["action"] as? String == command.action)
        let actor = denied["actor"] as? String ?? ""
        #expect(command.role == "patient" ? actor == "patient" : actor.hasPrefix("supporter:"), "actor \(actor)")

        let unknown = try fx.run(command.arguments(Inputs(email: Self.unknown, wrong: fx.wrongPasswordFile, newPassword: newPassword, wrongCode: wrongCode)))
        #expect(unknown.status == 77 && unknown.stderr == wrong.stderr, "\(command.name), unknown e-mail: exit \(unknown.status): \(unknown.stderr)")
        let refused = try Self.lastEntry(fx)
        #expect(refused["actor"] as? String == "unknown" && refused["outcome"] as? String == "denied" && refused["role"] as? String == command.role
                && refused["vaultId"] as? String == "")

        // Nothing but the log changed.
        let after = fx.allFiles().filter { !$0.hasSuffix("log.jsonl") }.map { ($0, try? Data(contentsOf: URL(fileURLWithPath: $0))) }
        #expect(after.map(\.0) == before.map(\.0) && zip(after, before).allSatisfy { $0.1 == $1.1 })
        let log = try String(contentsOfFile: "\(fx.store)/audit/log.jsonl", encoding: .utf8)
        #expect(!log.contains(Self.unknown) && !log.contains(known))
    }

    @Test("operator commands without a credential still say 'not found' (66) for an unknown e-mail")
    func operatorPathsSayNotFound() throws {
        let fx = try CLIFixture()
        try fx.setUp(patient: Self.patient)
        for arguments in [["vault", "inspect", "--email", Self.unknown], ["audit", "show", "--email", Self.unknown],
                          ["shred", "--email", Self.unknown, "--reason", "r", "--requested-by", "c", "--request-ref", "1", "--operator", "op"]] {
            let r = try fx.run(arguments)
            #expect(r.status == 66, "\(arguments[0]) \(arguments[1]): exit \(r.status): \(r.stderr)")
        }
    }

    @Test("vault inspect is logged as the operator's inspection")
    func inspectLogged() throws {
        let fx = try CLIFixture()
        try fx.setUp(patient: Self.patient)
        let info = try fx.ok(["vault", "inspect", "--email", Self.patient, "--json"]).json()
        let e = try Self.lastEntry(fx)
        #expect(e["action"] as? String == "inspect" && e["role"] as? String == "operator" && e["outcome"] as? String == "ok"
                && e["vaultId"] as? String == info["vaultId"] as? String)
    }

    @Test("audit prune: under 30 days refused (77, log unchanged) without an override; 30 days, or an override, prune", arguments: [0, 29, 30])
    func retentionFloor(days: Int) throws {
        let fx = try CLIFixture()
        try fx.setUp(patient: Self.patient)
        let logPath = "\(fx.store)/audit/log.jsonl"
        let before = try Data(contentsOf: URL(fileURLWithPath: logPath))
        let prune = ["audit", "prune", "--retention-days", "\(days)", "--json"]
        let r = try fx.run(prune)
        if days < 30 {
            #expect(r.status == 77 && r.stderr.contains("--allow-short-retention"), "exit \(r.status): \(r.stderr)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: logPath)) == before)
            let overridden = try fx.ok(prune + ["--allow-short-retention", "incident HC-12: log holds a leaked test e-mail"]).json()
            #expect(overridden["retentionDays"] as? Int == days)
            let entries = try #require(try fx.ok(["audit", "show", "--json"]).json()["entries"] as? [[String: Any]])
            let override = try #require(entries.first { $0["action"] as? String == "audit-retention-override" })
            #expect((override["detail"] as? String)?.contains("incident HC-12") == true && override["role"] as? String == "operator")
        } else {
            #expect(r.status == 0, "exit \(r.status): \(r.stderr)")
        }
        try fx.ok(["audit", "verify"])
    }

    @Test("supporter password: the old password is refused, the new one works, the linked patient still reads, logged")
    func supporterPassword() throws {
        let (fx, newPassword, _) = try Self.fixture()
        try fx.ok(["record", "add", "--email", Self.patient, "--type", "dose", "--data", #"{"mg":300}"#, "--password-file", fx.patientPasswordFile])
        let changed = try fx.ok(["supporter", "password", "--email", Self.nurse, "--password-file", fx.nursePasswordFile,
                                 "--new-password-file", newPassword, "--json"]).json()
        #expect(changed["changed"] as? Bool == true)
        let e = try Self.lastEntry(fx)
        #expect(e["action"] as? String == "password-change" && e["role"] as? String == "supporter" && e["actor"] as? String == "supporter:\(changed["supporterId"] as? String ?? "?")")
        let old = try fx.run(["supporter", "patients", "--email", Self.nurse, "--password-file", fx.nursePasswordFile])
        #expect(old.status == 77)
        let patients = try #require(try fx.ok(["supporter", "patients", "--email", Self.nurse, "--password-file", newPassword, "--json"]).json()["patients"] as? [[String: Any]])
        #expect(patients.count == 1)
        let records = try #require(try fx.ok(["record", "list", "--email", Self.patient, "--as-supporter", Self.nurse, "--password-file", newPassword, "--json"]).json()["records"] as? [[String: Any]])
        #expect(records.count == 1)
    }

    @Test("mikata makes itself non-dumpable before anything else", .enabled(if: TortureBinaries.strace != nil, "strace is not installed: 'make deps' installs it"))
    func notDumpable() throws {
        let strace = try #require(TortureBinaries.strace)
        let scratch = try ScratchFolder("mikata-dumpable")
        let trace = "\(scratch.path)/trace"
        let r = try SpawnedProcess.run(strace, ["-f", "-qq", "-o", trace, "-e", "trace=prctl", TortureBinaries.mikata, "init", "--store", "\(scratch.path)/store"],
                                       scratch: scratch.path)
        #expect(r.status == 0, "\(r.stderr)")
        let lines = try String(contentsOfFile: trace, encoding: .utf8)
        #expect(lines.contains("PR_SET_DUMPABLE") && lines.contains("= 0"), "\(lines)")
    }
}
