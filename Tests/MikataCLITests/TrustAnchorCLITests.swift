import Foundation
import Testing

/// Issue 7 §1 through the command line: the attacks of the issue, done on the files the CLI wrote, each ending in the
/// exit code the contract names (65 tampered, 66 not found, 77 refused) and nothing changed.
@Suite("CLI: store root key and trust anchors")
struct TrustAnchorCLITests {
    static let patient = "taro@example.jp"

    /// Files under `dir` that appeared between `before` and now.
    static func newFiles(_ fx: CLIFixture, since before: [String], under dir: String) -> [String] {
        fx.allFiles().filter { $0.contains("/\(dir)/") && !before.contains($0) }
    }

    @Test("init creates the root key outside the store and says where; the key's bytes are nowhere in the store")
    func initSaysWhere() throws {
        let fx = try CLIFixture()
        let r = try fx.ok(["init", "--json"])
        let json = try r.json()
        let location = try #require(json["rootKey"] as? String)
        #expect(!location.hasPrefix(fx.store + "/") && FileManager.default.fileExists(atPath: location))
        #expect((json["publicKey"] as? String)?.count == 64)
        let key = Array(try Data(contentsOf: URL(fileURLWithPath: location)))
        for file in fx.allFiles() { #expect(!cliContains(try CLIVaultFile.read(file), Array(key[8..<40])), "\(file) holds the root key") }
        // Again: idempotent, same key.
        #expect(try fx.ok(["init", "--json"]).json()["rootKey"] as? String == location)
    }

    @Test("no root key: exit 66 naming where it was looked for; another store's key: exit 77; nothing changed")
    func missingOrWrongKey() throws {
        let fx = try CLIFixture()
        try fx.setUp(patient: Self.patient)
        let before = fx.allFiles().map { (try? CLIVaultFile.read($0)) ?? [] }
        let missing = try fx.run(["vault", "inspect", "--email", Self.patient, "--root-key-file", "\(fx.root)/nowhere.key"])
        #expect(missing.status == 66 && missing.stderr.contains("root key is not at"), "\(missing.status): \(missing.stderr)")
        let other = try CLIFixture()
        let otherInit = try other.ok(["init", "--json"])
        let otherKey = try #require(otherInit.json()["rootKey"] as? String)
        let wrong = try fx.run(["vault", "inspect", "--email", Self.patient, "--root-key-file", otherKey])
        #expect(wrong.status == 77 && wrong.stderr.contains("not this store's root key"), "\(wrong.status): \(wrong.stderr)")
        #expect(fx.allFiles().map { (try? CLIVaultFile.read($0)) ?? [] } == before)
    }

    @Test("redirect a grant: a nurse's identity entry replaced by the attacker's makes grant fail with 65, linking nobody")
    func redirectedGrant() throws {
        let fx = try CLIFixture()
        try fx.setUp(patient: Self.patient)
        var before = fx.allFiles()
        try fx.ok(["supporter", "create", "--email", "nurse-c@hokenjo.example.jp", "--name", "Nurse C", "--password-file", fx.nursePasswordFile])
        let nurseEntry = try #require(Self.newFiles(fx, since: before, under: "index").first)
        before = fx.allFiles()
        try fx.ok(["supporter", "create", "--email", "attacker@example.jp", "--name", "Mallory", "--password-file", fx.wrongPasswordFile])
        let attackerEntry = try #require(Self.newFiles(fx, since: before, under: "index").first)
        try CLIVaultFile.write(try CLIVaultFile.read(attackerEntry), to: nurseEntry)
        let vault = try fx.vaultFile()
        let header = try CLIVaultFile.read(vault)
        let r = try fx.run(["grant", "--email", Self.patient, "--supporter", "nurse-c@hokenjo.example.jp", "--password-file", fx.patientPasswordFile])
        #expect(r.status == 65 && r.stderr.contains("identity entry"), "\(r.status): \(r.stderr)")
        #expect(try CLIVaultFile.read(vault) == header, "the vault changed")
        let attackerRead = try fx.run(["record", "list", "--email", Self.patient, "--as-supporter", "attacker@example.jp", "--password-file", fx.wrongPasswordFile])
        #expect(attackerRead.status == 77)
    }

    @Test("grant --fingerprint: the nurse's own fingerprint links, any other is refused with 77 and nothing changes")
    func fingerprintCheck() throws {
        let fx = try CLIFixture()
        try fx.setUp(patient: Self.patient)
        let created = try fx.ok(["supporter", "create", "--email", "nurse@hokenjo.example.jp", "--name", "Nurse", "--password-file", fx.nursePasswordFile, "--json"])
        let shown = try #require(try created.json()["fingerprint"] as? String)
        let other = try fx.ok(["supporter", "create", "--email", "other@hokenjo.example.jp", "--name", "Other", "--password-file", fx.nursePasswordFile, "--json"])
        let otherPrint = try #require(try other.json()["fingerprint"] as? String)
        let vault = try fx.vaultFile()
        let before = try CLIVaultFile.read(vault)
        let refused = try fx.run(["grant", "--email", Self.patient, "--supporter", "nurse@hokenjo.example.jp", "--fingerprint", otherPrint,
                                  "--password-file", fx.patientPasswordFile])
        #expect(refused.status == 77 && refused.stderr.contains("fingerprint"), "\(refused.status): \(refused.stderr)")
        #expect(try CLIVaultFile.read(vault) == before)
        let linked = try fx.ok(["grant", "--email", Self.patient, "--supporter", "nurse@hokenjo.example.jp", "--fingerprint", shown.lowercased(),
                                "--password-file", fx.patientPasswordFile, "--json"])
        #expect(try linked.json()["fingerprint"] as? String == shown)
        let patients = try fx.ok(["supporter", "patients", "--email", "nurse@hokenjo.example.jp", "--password-file", fx.nursePasswordFile, "--json"])
        let rows = try #require(try patients.json()["patients"] as? [[String: Any]])
        #expect((rows.first?["fingerprint"] as? String)?.count == 19)
    }

    @Test("undo a revocation by putting back the old vault file and its anchor: vault verify and audit verify exit 65")
    func revocationUndone() throws {
        let fx = try CLIFixture()
        try fx.setUp(patient: Self.patient, supporter: (email: "nurse@hokenjo.example.jp", name: "Nurse"))
        try fx.ok(["grant", "--email", Self.patient, "--supporter", "nurse@hokenjo.example.jp", "--password-file", fx.patientPasswordFile])
        let vault = try fx.vaultFile()
        let anchor = String(vault.replacingOccurrences(of: "/vaults/", with: "/keys/vaults/").dropLast(6)) + ".gen"
        let savedVault = try CLIVaultFile.read(vault), savedAnchor = try CLIVaultFile.read(anchor)
        try fx.ok(["revoke", "--email", Self.patient, "--supporter", "nurse@hokenjo.example.jp", "--password-file", fx.patientPasswordFile])
        try CLIVaultFile.write(savedVault, to: vault)
        try CLIVaultFile.write(savedAnchor, to: anchor)
        let verify = try fx.run(["vault", "verify", "--email", Self.patient, "--password-file", fx.patientPasswordFile])
        #expect(verify.status == 65 && verify.stderr.contains("rolled back"), "\(verify.status): \(verify.stderr)")
        let audit = try fx.run(["audit", "verify"])
        #expect(audit.status == 65, "\(audit.status): \(audit.stderr)")
    }

    @Test("delete the access log: audit verify exits 65 instead of 'ok: 0 entries'")
    func logDeleted() throws {
        let fx = try CLIFixture()
        try fx.setUp(patient: Self.patient)
        try fx.ok(["audit", "verify"])
        try FileManager.default.removeItem(atPath: "\(fx.store)/audit/log.jsonl")
        let r = try fx.run(["audit", "verify"])
        #expect(r.status == 65 && r.stderr.contains("empty or missing"), "\(r.status): \(r.stderr)")
    }
}
