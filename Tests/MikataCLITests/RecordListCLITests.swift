import Foundation
import Testing

/// `record list` streams its rows; its output stays the document `emit` writes for the whole listing.
@Suite("CLI: record list streams")
struct RecordListCLITests {
    static let patient = "list-patient-7e3a@example.jp"
    static let nurse = (email: "list-nurse-51bd@example.jp", name: "Nurse")

    /// The bytes `emit` would print for `stdout`'s JSON document (sorted keys, slashes unescaped, one newline).
    static func emitted(_ stdout: String) throws -> String {
        let object = try JSONSerialization.jsonObject(with: Data(stdout.utf8))
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    @Test("--json is the same document byte for byte (with and without pin fields, empty or not); text is one line per record")
    func sameDocument() throws {
        let fx = try CLIFixture()
        try fx.setUp(patient: Self.patient, supporter: Self.nurse)
        let pw = ["--password-file", fx.patientPasswordFile]
        let list = ["record", "list", "--email", Self.patient]
        let empty = try fx.ok(list + pw + ["--json"])
        #expect(empty.stdout == "{\"records\":[]}\n")
        #expect(try fx.ok(list + pw).stdout.isEmpty)
        // The last is plain data larger than the output buffer (written out directly, not through the buffer).
        let data = [#"{"z":1,"a":[1,2.5,"x/y"],"u":"日本\u0001","n":null}"#, #""plain""#, "[true,false,{}]", "[-0.125]",
                    "{\"big\":\"" + String(repeating: "ab", count: 36_000) + "\"}"]
        for (i, d) in data.enumerated() {
            try fx.ok(["record", "add", "--email", Self.patient, "--type", i % 2 == 0 ? "dose" : "note", "--data", d] + pw)
        }
        try fx.ok(["grant", "--email", Self.patient, "--supporter", Self.nurse.email] + pw)
        let patientList = try fx.ok(list + pw + ["--json"])
        #expect(patientList.stdout == (try Self.emitted(patientList.stdout)))
        let rows = try #require(try patientList.json()["records"] as? [[String: Any]])
        #expect(rows.map { $0["seq"] as? Int } == [1, 2, 3, 4, 5], "the profile and contact records stay hidden")
        #expect((rows[4]["data"] as? [String: String])?["big"]?.count == 72_000)
        #expect(rows.allSatisfy { Set($0.keys) == ["seq", "type", "author", "time", "data"] })
        #expect(patientList.stdout.contains(#""data":{"a":[1,2.5,"x/y"],"n":null,"u":"日本\u0001","z":1}"#), "\(patientList.stdout)")

        let nurseList = try fx.ok(list + ["--as-supporter", Self.nurse.email, "--password-file", fx.nursePasswordFile, "--json"])
        #expect(nurseList.stdout == (try Self.emitted(nurseList.stdout)))
        #expect(try Set(nurseList.json().keys) == ["records", "vaultPin"])
        #expect(nurseList.stdout.hasSuffix(#"],"vaultPin":"first-contact"}"# + "\n"))
        #expect(try (nurseList.json()["records"] as? [[String: Any]])?.count == 5)

        let text = try fx.ok(list + pw).stdout
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 6 && lines.last == "", "\(text)")
        for (line, row) in zip(lines, rows) {
            let fields = line.split(separator: "\t", maxSplits: 4).map(String.init)
            #expect(fields.count == 5 && fields[0] == "\(row["seq"] as? Int ?? -1)" && fields[1] == row["time"] as? String && fields[2] == "patient")
        }
        #expect(lines[1].hasSuffix("\t\"plain\""))
    }

    @Test("text output: one line per record whatever the data holds; line breaks and escapes in it are shown as \\u escapes")
    func controlCharactersEscaped() throws {
        let fx = try CLIFixture()
        try fx.setUp(patient: Self.patient)
        let pw = ["--password-file", fx.patientPasswordFile]
        let dataFile = "\(fx.root)/multi-line.json"
        // Strict JSON may put line breaks between tokens; a string may hold an escaped ESC (U+001B) and C1 control.
        try "{\"a\":\n1,\r\n\"b\":\"\\u001b[31m\\u0085\"}".write(toFile: dataFile, atomically: true, encoding: .utf8)
        try fx.ok(["record", "add", "--email", Self.patient, "--type", "note", "--data-file", dataFile] + pw)
        let text = try fx.ok(["record", "list", "--email", Self.patient] + pw).stdout
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 2 && lines.last == "", "\(text)")
        #expect(!text.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" && $0 != "\t" })
        #expect(lines.first?.contains("\\u000a") == true)
    }
}
