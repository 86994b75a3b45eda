import Foundation
import Testing

/// `record list` streams its rows; its JSON is one line, the rows' members sorted, each record's data as stored less
/// white space between tokens.
@Suite("CLI: record list streams")
struct RecordListCLITests {
    static let patient = "list-patient-7e3a@example.jp"
    static let nurse = (email: "list-nurse-51bd@example.jp", name: "Nurse")

    @Test("--json: one line, rows with sorted members, data as stored less white space (with and without pin fields, empty or not); text is one line per record")
    func sameDocument() throws {
        let fx = try CLIFixture()
        try fx.setUp(patient: Self.patient, supporter: Self.nurse)
        let pw = ["--password-file", fx.patientPasswordFile]
        let list = ["record", "list", "--email", Self.patient]
        let empty = try fx.ok(list + pw + ["--json"])
        #expect(empty.stdout == "{\"records\":[]}\n")
        #expect(try fx.ok(list + pw).stdout.isEmpty)
        // Data as written: unsorted members, number spellings Foundation would change, white space between tokens
        // (dropped), white space and escapes inside strings (kept). The last is plain data larger than the output
        // buffer (written out directly, not through the buffer).
        let spaced = "{ \"b\" : [ 1 ,\t2 ] ,\r\n \"a\" : \"x  y\\n\", \"n\": 1.5e3, \"big\": 12345678901234567890 }"
        let data = [#"{"z":1,"a":[1,2.5,"x/y"],"u":"日本\u0001","n":null}"#, #""plain""#, "[true,false,{}]", "[-0.125]", spaced,
                    "{\"big\":\"" + String(repeating: "ab", count: 36_000) + "\"}"]
        let compacted = data.map { $0 == spaced ? #"{"b":[1,2],"a":"x  y\n","n":1.5e3,"big":12345678901234567890}"# : $0 }
        for (i, d) in data.enumerated() {
            try fx.ok(["record", "add", "--email", Self.patient, "--type", i % 2 == 0 ? "dose" : "note", "--data", d] + pw)
        }
        try fx.ok(["grant", "--email", Self.patient, "--supporter", Self.nurse.email] + pw)
        let patientList = try fx.ok(list + pw + ["--json"])
        let rows = try #require(try patientList.json()["records"] as? [[String: Any]])
        #expect(rows.map { $0["seq"] as? Int } == [1, 2, 3, 4, 5, 6], "the profile and contact records stay hidden")
        #expect((rows[5]["data"] as? [String: String])?["big"]?.count == 72_000)
        #expect(rows.allSatisfy { Set($0.keys) == ["seq", "type", "author", "time", "data"] })
        let expectedRows = zip(rows, compacted).map { row, d in
            #"{"author":"patient","data":\#(d),"seq":\#(row["seq"] as? Int ?? -1),"time":"\#(row["time"] as? String ?? "?")","type":"\#(row["type"] as? String ?? "?")"}"#
        }
        let recordsPart = #"{"records":["# + expectedRows.joined(separator: ",") + "]"
        #expect(patientList.stdout == recordsPart + "}\n")

        let nurseList = try fx.ok(list + ["--as-supporter", Self.nurse.email, "--password-file", fx.nursePasswordFile, "--json"])
        #expect(try Set(nurseList.json().keys) == ["records", "vaultPin"])
        #expect(nurseList.stdout == recordsPart + #","vaultPin":"first-contact"}"# + "\n")

        let text = try fx.ok(list + pw).stdout
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 7 && lines.last == "", "\(text)")
        for (line, row) in zip(lines, rows) {
            let fields = line.split(separator: "\t", maxSplits: 4).map(String.init)
            #expect(fields.count == 5 && fields[0] == "\(row["seq"] as? Int ?? -1)" && fields[1] == row["time"] as? String && fields[2] == "patient")
        }
        #expect(lines[1].hasSuffix("\t\"plain\""))
        #expect(lines[4].hasSuffix("\t{ \"b\" : [ 1 ,\\u00092 ] ,\\u000d\\u000a \"a\" : \"x  y\\n\", \"n\": 1.5e3, \"big\": 12345678901234567890 }"), "\(lines[4])")
    }

    @Test("text and --json output: one line per record whatever the data holds; line breaks, DEL and C1 in it are shown as \\u escapes")
    func controlCharactersEscaped() throws {
        let fx = try CLIFixture()
        try fx.setUp(patient: Self.patient)
        let pw = ["--password-file", fx.patientPasswordFile]
        let dataFile = "\(fx.root)/multi-line.json"
        // Strict JSON may put line breaks between tokens; a string may hold an escaped ESC (U+001B) and C1 control,
        // and DEL and C1 controls as they are (RFC 8259 asks escapes only below U+0020).
        try "{\"a\":\n1,\r\n\"b\":\"\\u001b[31m\\u0085\",\"c\":\"\u{7f}\u{85}\u{9f}\u{a0}日本\"}".write(toFile: dataFile, atomically: true, encoding: .utf8)
        try fx.ok(["record", "add", "--email", Self.patient, "--type", "note", "--data-file", dataFile] + pw)
        let text = try fx.ok(["record", "list", "--email", Self.patient] + pw).stdout
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 2 && lines.last == "", "\(text)")
        #expect(!text.unicodeScalars.contains { ($0.value < 0x20 && $0 != "\n" && $0 != "\t") || (0x7f...0x9f).contains($0.value) })
        #expect(lines.first?.hasSuffix("\tnote\t" + #"{"a":\u000a1,\u000d\u000a"b":"\u001b[31m\u0085","c":"\u007f\u0085\u009f\#u{a0}日本"}"#) == true,
                "\(text)")
        // --json: one line. DEL and C1, which JSON allows raw inside strings, are written as \u escapes (the same JSON
        // value); escapes and U+00A0 (also led by the byte 0xC2) stay as stored. Large compact data is written out
        // directly when it holds neither ("°" is C2 B0: no C1), and copied with escapes when it does (a raw CSI).
        let big = String(repeating: "x", count: 70_000)
        for d in ["{\"big\":\"\(big)\u{9b}[2J\"}", "{\"big\":\"\(big)37.5°C\"}"] {
            try fx.ok(["record", "add", "--email", Self.patient, "--type", "note", "--data", d] + pw)
        }
        let json = try fx.ok(["record", "list", "--email", Self.patient, "--json"] + pw).stdout
        // (Booleans first: a failed expectation would print the 140 KB document.)
        let small = json.contains(#""data":{"a":1,"b":"\u001b[31m\u0085","c":"\u007f\u0085\u009f\#u{a0}日本"}"#)
        let bigCSI = json.contains(#""data":{"big":"\#(big)\u009b[2J"}"#), bigDegree = json.contains(#""data":{"big":"\#(big)37.5°C"}"#)
        let raw = json.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" || (0x7f...0x9f).contains($0.value) }
        #expect(small, "\(json.prefix(300))")
        #expect(bigCSI && bigDegree && !raw)
        #expect(json.split(separator: "\n").count == 1)
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])["records"] as? [[String: Any]]
        #expect((rows?.first?["data"] as? [String: Any])?["c"] as? String == "\u{7f}\u{85}\u{9f}\u{a0}日本", "the same value")
        #expect((rows?.last?["data"] as? [String: Any])?["big"] as? String == big + "37.5°C")
        #expect((rows?.dropLast().last?["data"] as? [String: Any])?["big"] as? String == big + "\u{9b}[2J")
    }
}
