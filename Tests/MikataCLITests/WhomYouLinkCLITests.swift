import Foundation
import Testing

/// Issue 7 §1 through the `mikata` executable: `grant --supporter-name`, `audit mine` naming supporters,
/// contact records hidden from `record list`, and a supporter's vault pin (warning, refusal, `--accept-new-vault`).
@Suite("CLI: checking whom you link")
struct WhomYouLinkCLITests {
    static let patient = "whom-patient-2c7d@example.jp"
    static let nurseA = (email: "whom-aiko-91fe@example.jp", name: "Aiko Sato")
    static let nurseB = (email: "whom-ken-4ab0@example.jp", name: "Ken Mori")

    @Test("two nurses linked and reading: audit mine names them (text and --json), shows none of their ids; record list hides contact records")
    func auditMineNames() throws {
        let fx = try CLIFixture()
        try fx.setUp(patient: Self.patient, supporter: Self.nurseA)
        try fx.ok(["supporter", "create", "--email", Self.nurseB.email, "--name", Self.nurseB.name, "--password-file", fx.nursePasswordFile])
        let pw = ["--password-file", fx.patientPasswordFile]
        let nameFile = "\(fx.root)/name"
        try "\(Self.nurseA.name)\n".write(toFile: nameFile, atomically: true, encoding: .utf8)
        let ga = try fx.ok(["grant", "--email", Self.patient, "--supporter", Self.nurseA.email, "--supporter-name-file", nameFile, "--json"] + pw).json()
        let gb = try fx.ok(["grant", "--email", Self.patient, "--supporter", Self.nurseB.email, "--json"] + pw).json()
        #expect(ga["contactRecorded"] as? Bool == true && gb["contactRecorded"] as? Bool == true && ga["linked"] as? Bool == true)
        let ids = try [ga, gb].map { try #require($0["supporterId"] as? String) }
        for nurse in [Self.nurseA.email, Self.nurseB.email] {
            let r = try fx.ok(["record", "list", "--email", Self.patient, "--as-supporter", nurse, "--password-file", fx.nursePasswordFile, "--json"])
            #expect(r.stderr.isEmpty, "the first contact pins silently: \(r.stderr)")
            #expect(try r.json()["vaultPin"] as? String == "first-contact")
        }
        let text = try fx.ok(["audit", "mine", "--email", Self.patient] + pw).stdout
        #expect(text.contains("\(Self.nurseA.name) <\(Self.nurseA.email)>\tread\tok"), "\(text)")
        #expect(text.contains("\t\(Self.nurseB.email)\tread\tok"), "\(text)")
        for id in ids { #expect(!text.contains(id), "audit mine shows a raw supporter id: \(text)") }
        let rows = try #require(try fx.ok(["audit", "mine", "--email", Self.patient, "--json"] + pw).json()["entries"] as? [[String: Any]])
        let reads = rows.filter { $0["action"] as? String == "read" && $0["role"] as? String == "supporter" }
        #expect(Set(reads.compactMap { $0["actorName"] as? String }) == ["\(Self.nurseA.name) <\(Self.nurseA.email)>", Self.nurseB.email])
        #expect(Set(reads.compactMap { $0["actor"] as? String }) == Set(ids.map { "supporter:\($0)" }), "the logged actor stays as it was")
        // The patient's own listing: the profile and the contact records are internal, none is shown.
        #expect(try fx.listRecords(patient: Self.patient).isEmpty)
        let list = try fx.ok(["record", "list", "--email", Self.patient] + pw)
        #expect(!list.stdout.contains("mikata."))
    }

    @Test("a patient shredded and registered again: the nurse's read warns, the write is refused (77), --accept-new-vault writes and re-pins")
    func changedVault() throws {
        let fx = try CLIFixture()
        try fx.setUp(patient: Self.patient, supporter: Self.nurseA)
        let pw = ["--password-file", fx.patientPasswordFile]
        let nurse = ["--as-supporter", Self.nurseA.email, "--password-file", fx.nursePasswordFile]
        let list = ["record", "list", "--email", Self.patient]
        let add = ["record", "add", "--email", Self.patient, "--type", "message", "--data", #"{"text":"hello"}"#]
        try fx.ok(["grant", "--email", Self.patient, "--supporter", Self.nurseA.email] + pw)
        try fx.ok(add + nurse)
        #expect(try fx.ok(["supporter", "patients", "--email", Self.nurseA.email, "--password-file", fx.nursePasswordFile, "--json"])
            .json()["patients"].flatMap { ($0 as? [[String: Any]])?.first?["pinned"] as? Bool } == true)
        try fx.ok(["shred", "--email", Self.patient, "--reason", "test", "--requested-by", "centre", "--request-ref", "R1",
                   "--operator", "op1", "--approver", "op2", "--out", "\(fx.root)/cert.json"])
        try fx.ok(["patient", "create", "--email", Self.patient, "--nickname", "Again"] + pw)
        try fx.ok(["grant", "--email", Self.patient, "--supporter", Self.nurseA.email] + pw)

        let read = try fx.ok(list + nurse + ["--json"])
        #expect(read.stderrLines.count == 1 && read.stderrLines.first?.hasPrefix("mikata: warning: ") == true, "\(read.stderr)")
        #expect(!read.stderr.contains(Self.patient))
        #expect(try read.json()["vaultPin"] as? String == "changed" && (try read.json()["warning"] as? String) != nil)
        let refused = try fx.run(add + nurse)
        #expect(refused.status == 77, "\(refused.stderr)")
        #expect(refused.stderrLines.filter { $0.hasPrefix("mikata: error: ") }.count == 1 && refused.stdout.isEmpty, "\(refused.stderr)")
        #expect(try fx.listRecords(patient: Self.patient).isEmpty, "nothing was written to the new vault")
        let usage = try fx.run(add + ["--accept-new-vault"] + pw)
        #expect(usage.status == 64, "--accept-new-vault without --as-supporter: \(usage.stderr)")
        let accepted = try fx.ok(add + nurse + ["--accept-new-vault", "--json"])
        #expect(try accepted.json()["vaultPin"] as? String == "accepted" && accepted.json()["seq"] != nil)
        let after = try fx.ok(list + nurse)
        #expect(after.stderr.isEmpty, "\(after.stderr)")
        #expect(try fx.listRecords(patient: Self.patient).map(\.type) == ["message"])
    }
}
