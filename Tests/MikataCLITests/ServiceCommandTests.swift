import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing

/// `mikata service create`, `service authorize`, `record add --as-service` (issue 8 §1): every capability of the
/// library reachable without Swift. And `record list` streaming page by page with the same bytes as before.
@Suite("Write-only services from the CLI")
struct ServiceCommandTests {
    static let patient = "svc-patient-5b1e@example.jp"
    static let nurse = (email: "svc-nurse-90c2@example.jp", name: "Nurse")

    @Test("create → authorize → add as the service → the patient's list shows author service:<id>; the key file is 0600")
    func createAuthorizeAppend() throws {
        let fx = try CLIFixture()
        try fx.setUp(patient: Self.patient)
        let keyFile = "\(fx.root)/pillbox.key"
        let created = try fx.ok(["service", "create", "--out", keyFile, "--json"]).json()
        let id = try #require(created["serviceId"] as? String)
        let publicKey = try #require(created["publicKey"] as? String)
        #expect(id.count == 32 && publicKey.count == 64 && created["keyFile"] as? String == keyFile)
        var st = stat()
        #expect(stat(keyFile, &st) == 0 && st.st_mode & 0o777 == 0o600, "mode \(String(st.st_mode & 0o777, radix: 8))")
        let again = try fx.run(["service", "create", "--out", keyFile])
        #expect(again.status == 1 && again.stderr.contains("exists already"), "an existing file is never replaced: \(again.stderr)")

        let add = ["record", "add", "--email", Self.patient, "--type", "dose", "--data", #"{"taken":true}"#, "--as-service", keyFile]
        let refused = try fx.run(add)
        #expect(refused.status == 77, "an unauthorised service: \(refused.stderr)")
        #expect(refused.stdout.isEmpty && refused.stderrLines.first?.hasPrefix("mikata: error: ") == true)

        let authorized = try fx.ok(["service", "authorize", "--email", Self.patient, "--service-key-file", keyFile,
                                    "--password-file", fx.patientPasswordFile, "--json"]).json()
        #expect(authorized["serviceId"] as? String == id && authorized["authorized"] as? Bool == true && (authorized["vaultId"] as? String)?.count == 32)
        let text = try fx.ok(add)
        #expect(text.stdout == "appended record 1\n", "\(text.stdout)")
        #expect(try fx.ok(add + ["--json"]).json()["seq"] as? Int == 2)

        let rows = try #require(try fx.ok(["record", "list", "--email", Self.patient, "--password-file", fx.patientPasswordFile, "--json"])
            .json()["records"] as? [[String: Any]])
        #expect(rows.map { $0["author"] as? String } == ["service:\(id)", "service:\(id)"])
        #expect(try fx.listRecords(patient: Self.patient).map(\.data) == [#"{"taken":true}"#, #"{"taken":true}"#])
        let inspect = try fx.ok(["vault", "inspect", "--email", Self.patient, "--json"]).json()
        #expect(inspect["services"] as? [String] == [id])

        // A second service authorised by id and public key instead of its file.
        let other = "\(fx.root)/reminder.key"
        let second = try fx.ok(["service", "create", "--out", other, "--json"]).json()
        try fx.ok(["service", "authorize", "--email", Self.patient, "--service-id", try #require(second["serviceId"] as? String),
                   "--public-key", try #require(second["publicKey"] as? String), "--password-file", fx.patientPasswordFile])
        try fx.ok(["record", "add", "--email", Self.patient, "--type", "reminder", "--data", "{}", "--as-service", other])
    }

    /// A malformed key file is 64: the file is the caller's argument (the wrong file given, as a malformed backup key
    /// file is), not store data that was damaged (65). A later version of the format is 65 (unsupported).
    @Test("service key files and options refused: malformed 64, later version 65, missing 66, wrong options 64")
    func refusals() throws {
        let fx = try CLIFixture()
        try fx.setUp(patient: Self.patient)
        let keyFile = "\(fx.root)/pillbox.key"
        try fx.ok(["service", "create", "--out", keyFile])
        let good = try String(contentsOfFile: keyFile, encoding: .utf8)
        let add = ["record", "add", "--email", Self.patient, "--type", "dose", "--data", "{}"]
        let cases: [(String, String?, [String], Int32)] = [
            ("truncated key file", String(good.dropLast(5)) + "\n", [], 64),
            ("not hex", good.replacingOccurrences(of: " ", with: " zz", options: [], range: good.range(of: " ")), [], 64),
            ("empty file", "", [], 64),
            ("later version", good.replacingOccurrences(of: "-v1 ", with: "-v2 "), [], 65),
            ("missing file", nil, [], 66),
            ("with a password", good, ["--password-file", fx.patientPasswordFile], 64),
            ("with --as-supporter", good, ["--as-supporter", Self.nurse.email], 64),
        ]
        for (what, content, extra, expected) in cases {
            let path = "\(fx.root)/case.key"
            try? FileManager.default.removeItem(atPath: path)
            if let content {
                try content.write(toFile: path, atomically: true, encoding: .utf8)
                try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
            }
            let r = try fx.run(add + ["--as-service", path] + extra)
            #expect(r.status == expected, "\(what): exit \(r.status): \(r.stderr)")
            #expect(r.stderrLines.first?.hasPrefix("mikata: error: ") == true && r.stdout.isEmpty, "\(what): \(r.stderr)")
            #expect(!r.stderr.contains(good.dropFirst(55).prefix(20)), "\(what): the key never appears in a message")
        }
        // Like the root key: links followed (a mounted secret store), but a key others can read is refused (77).
        let link = "\(fx.root)/linked.key"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: keyFile)
        #expect(try fx.run(add + ["--as-service", link]).status == 77, "a followed link reaches the (unauthorised) key: 77 not permitted")
        let open = "\(fx.root)/open.key"
        try good.write(toFile: open, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: open)
        let openRun = try fx.run(add + ["--as-service", open])
        #expect(openRun.status == 77 && openRun.stderr.contains("open to other users"), "\(openRun.stderr)")
        let authorize = ["service", "authorize", "--email", Self.patient, "--password-file", fx.patientPasswordFile]
        // An id alone names a registered service: one the store does not know is not found (66).
        #expect(try fx.run(authorize + ["--service-id", String(repeating: "a", count: 32)]).status == 66)
        for (what, extra) in [("neither", [String]()),
                              ("both forms", ["--service-key-file", keyFile, "--service-id", String(repeating: "a", count: 32), "--public-key", String(repeating: "b", count: 64)]),
                              ("short id", ["--service-id", "abc", "--public-key", String(repeating: "b", count: 64)]),
                              ("short key", ["--service-id", String(repeating: "a", count: 32), "--public-key", "bb"])] {
            let r = try fx.run(authorize + extra)
            #expect(r.status == 64, "\(what): exit \(r.status): \(r.stderr)")
        }
        let wrong = try fx.run(["service", "authorize", "--email", Self.patient, "--service-key-file", keyFile, "--password-file", fx.wrongPasswordFile])
        #expect(wrong.status == 77)
        // A service key anyone can make must not tell which addresses are patients: an unknown address is answered
        // as the real patient's unauthorised vault is (77, the same line), and both refusals are logged.
        let real = try fx.run(add + ["--as-service", keyFile])
        let unknown = try fx.run(["record", "add", "--email", "nobody@example.jp", "--type", "dose", "--data", "{}", "--as-service", keyFile])
        #expect(real.status == 77 && unknown.status == 77, "\(real.stderr) / \(unknown.stderr)")
        #expect(real.stderr == unknown.stderr)
        let denied = try fx.run(["--json", "audit", "show"]).stdout
        #expect(denied.components(separatedBy: "\"outcome\":\"denied\"").count - 1 >= 3, "wrong password + two service refusals logged")
    }

    @Test("record list streams pages: 270 records in order, the --json document one line, each record's data as stored")
    func listingAcrossPages() throws {
        let fx = try CLIFixture()
        try fx.setUp(patient: Self.patient, supporter: Self.nurse)
        try fx.ok(["grant", "--email", Self.patient, "--supporter", Self.nurse.email, "--password-file", fx.patientPasswordFile])
        let keyFile = "\(fx.root)/pillbox.key"
        try fx.ok(["service", "create", "--out", keyFile])
        try fx.ok(["service", "authorize", "--email", Self.patient, "--service-key-file", keyFile, "--password-file", fx.patientPasswordFile])
        let count = 270  // more than one page (256): the second page is read after the first is printed
        let filler = String(repeating: "x", count: 300)  // ~100 KiB of output: flushed more than once
        func data(_ i: Int) -> String { #"{"i":\#(i),"url":"a/b","f":1.5,"u":"\u00e9\#u{1F48A}","n":null,"a":[true,{"z":1,"y":"\#(filler)"}]}"# }
        for i in 0..<count {
            let data = data(i)
            try fx.ok(["record", "add", "--email", Self.patient, "--type", i % 2 == 0 ? "dose" : "note", "--data", data, "--as-service", keyFile])
        }
        for actor in [["--password-file", fx.patientPasswordFile], ["--as-supporter", Self.nurse.email, "--password-file", fx.nursePasswordFile]] {
            let r = try fx.ok(["record", "list", "--email", Self.patient, "--json"] + actor)
            let object = try r.json()
            let rows = try #require(object["records"] as? [[String: Any]])
            #expect(rows.compactMap { $0["seq"] as? Int } == Array(1...count).map { $0 + 1 }, "every record once, in order")
            // Rows with sorted members, each record's data as the service wrote it (compact JSON: unchanged).
            let expectedRows = rows.map { row in
                let seq = row["seq"] as? Int ?? -1
                return #"{"author":"\#(row["author"] as? String ?? "?")","data":\#(data(seq - 2)),"seq":\#(seq),"# + #""time":"\#(row["time"] as? String ?? "?")","type":"\#(row["type"] as? String ?? "?")"}"#
            }
            let pin = (object["vaultPin"] as? String).map { #","vaultPin":"\#($0)""# } ?? ""
            #expect(r.stdout == #"{"records":["# + expectedRows.joined(separator: ",") + "]" + pin + "}\n", "the streamed document")
            let text = try fx.ok(["record", "list", "--email", Self.patient] + actor).stdout
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            #expect(lines.count == count + 1 && lines.last == "", "one line per record")
            #expect(lines.first?.hasPrefix("2\t") == true && lines.first?.hasSuffix("\t\(rows[0]["type"] as? String ?? "")\t" + #"{"i":0,"url":"a/b","f":1.5,"u":"\u00e9\#u{1F48A}","n":null,"a":[true,{"z":1,"y":"\#(filler)"}]}"#) == true)
        }
        let first = try fx.ok(["record", "list", "--email", Self.patient, "--as-supporter", Self.nurse.email, "--password-file", fx.nursePasswordFile, "--json"])
        #expect(try first.json()["vaultPin"] as? String == "unchanged")
    }

    @Test("patient delete completes an interrupted deletion without asking for the password, even after its lookup is gone")
    func interruptedDeletion() throws {
        let fx = try CLIFixture()
        try fx.setUp(patient: Self.patient)
        // Killed (a crash point, as in ShredCrashTests) right after the e-mail lookup was removed: the intent remains.
        var env = fx.environment
        env["MIKATA_CRASH_AT"] = "shred:lookup-removed"
        let killed = try CLIProcess(arguments: ["patient", "delete", "--email", Self.patient, "--password-file", fx.patientPasswordFile],
                                    environment: env, scratch: fx.root).wait()
        #expect(killed.status != 0 || killed.signaled, "the crash point was not reached: \(killed.stderr)")
        #expect(try fx.run(["record", "list", "--email", Self.patient, "--password-file", fx.patientPasswordFile]).status == 77)
        // No password (stdin is /dev/null, no terminal): completed all the same, with a valid certificate.
        let done = try fx.ok(["patient", "delete", "--email", Self.patient, "--out", "\(fx.root)/cert.json", "--json"]).json()
        #expect(done["alreadyShredded"] as? Bool == false && done["certificate"] as? String == "\(fx.root)/cert.json")
        try fx.ok(["certificate", "verify", "\(fx.root)/cert.json"])
        // Nothing pending any more: an unknown address again, so the password is asked for (and absent: 64).
        #expect(try fx.run(["patient", "delete", "--email", Self.patient]).status == 64)
    }
}
