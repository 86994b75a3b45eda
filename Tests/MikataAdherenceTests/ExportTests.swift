import Foundation
@testable import MikataAdherence
import Testing

private let tokyo = TimeZone(identifier: "Asia/Tokyo")!
private func at(_ s: String) -> Date { Instant.parse(s)! }

private func sampleRecords() throws -> [AdherenceRecord] {
    let doses: [String: DoseQuantity] = ["isoniazid": .init(value: "300", unit: "mg"), "rifampicin": .init(value: "600", unit: "mg"),
                                         "pyrazinamide": .init(value: "1.5", unit: "g"), "ethambutol": .init(value: "1-2", unit: "tablet")]
    let regimen = try RegimenTemplate.hrze6.regimen(start: LocalDate("2026-10-20")!, doses: doses, timesOfDay: [TimeOfDay("08:00")!])
    let s = ScheduledDose(medication: "isoniazid", date: LocalDate("2026-10-31")!, time: TimeOfDay("08:00")!)
    let nurse = String(repeating: "ab", count: 16)
    return [
        AdherenceRecord(seq: 1, author: .patient, recordTime: at("2026-10-20T00:00:00Z"), content: .regimen(regimen)),
        AdherenceRecord(seq: 2, author: .patient, recordTime: at("2026-10-31T15:10:00Z"), content: .doseEvent(
            try DoseEvent(scheduled: s, status: .missed, takenAt: nil, recordedAt: at("2026-10-31T15:10:00Z"), method: .selfReport))),
        AdherenceRecord(seq: 3, author: .patient, recordTime: at("2026-10-31T15:11:00Z"), content: .doseEvent(
            try DoseEvent(scheduled: s, status: .late, takenAt: at("2026-10-31T14:30:00Z"), recordedAt: at("2026-10-31T15:11:00Z"),
                          method: .selfReport, supersedes: 2, note: "=HYPERLINK(\"http://evil.example\")"))),
        AdherenceRecord(seq: 4, author: .supporter(nurse), recordTime: at("2026-11-01T00:30:00Z"), content: .doseEvent(
            try DoseEvent(scheduled: ScheduledDose(medication: "rifampicin", date: LocalDate("2026-11-01")!, time: TimeOfDay("08:00")!),
                          status: .skipped, takenAt: nil, recordedAt: at("2026-11-01T00:30:00Z"), method: .videoCall, reason: .sideEffects))),
        AdherenceRecord(seq: 5, author: .patient, recordTime: at("2026-11-01T01:00:00Z"), content: .sideEffect(
            try SideEffect(symptom: .visualChange, grade: 3, onset: at("2026-11-01T00:00:00Z"), text: "目がかすむ, 少し"))),
        AdherenceRecord(seq: 6, author: .supporter(nurse), recordTime: at("2026-11-01T02:00:00Z"), content: .message(
            Message(text: "受診してください\n\"明日\"", sentAt: at("2026-11-01T02:00:00Z")))),
        AdherenceRecord(seq: 7, author: .patient, recordTime: at("2026-11-01T03:00:00Z"), content: .message(
            Message(text: "@はい", sentAt: at("2026-11-01T03:00:00Z")))),
    ]
}

@Suite struct CSVExportTests {
    @Test func dosesAreExcelReadyBytes() throws {
        let csv = CSVExport.doseEvents(try sampleRecords(), timeZone: tokyo)
        #expect(Array(csv.prefix(3)) == [0xEF, 0xBB, 0xBF])
        let text = String(decoding: csv.dropFirst(3), as: UTF8.self)
        let lines = text.components(separatedBy: "\r\n")
        #expect(lines.count == 5 && lines.last == "")  // header, three events, final CRLF
        #expect(!text.replacingOccurrences(of: "\r\n", with: "").contains("\n"))
        #expect(lines[0] == "record_seq,scheduled_date,scheduled_time,medication,status,taken_at,recorded_at,method,skip_reason,supersedes,author,note")
        // The 23:30 JST dose, shown in Tokyo time; the formula in the note neutralised and quoted.
        #expect(lines[2] == #"3,2026-10-31,08:00,isoniazid,late,2026-10-31T23:30:00+09:00,2026-11-01T00:11:00+09:00,self-report,,2,patient,"'=HYPERLINK(""http://evil.example"")""#)
        #expect(lines[3].hasPrefix("4,2026-11-01,08:00,rifampicin,skipped,,2026-11-01T09:30:00+09:00,video-call,side-effects,,supporter:abab"))
    }

    @Test func messagesAndSideEffectsKeepJapaneseTextAndQuoteWhatNeedsIt() throws {
        let records = try sampleRecords()
        let messages = String(decoding: CSVExport.messages(records, timeZone: tokyo).dropFirst(3), as: UTF8.self)
        #expect(messages.contains("\"受診してください\n\"\"明日\"\"\""))  // a newline inside quotes stays, quotes doubled
        #expect(messages.contains(",patient,'@はい\r\n"))
        let effects = String(decoding: CSVExport.sideEffects(records, timeZone: tokyo).dropFirst(3), as: UTF8.self)
        #expect(effects.contains(#"5,2026-11-01T09:00:00+09:00,visual-change,3,no,patient,"目がかすむ, 少し""#))
        for c in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"] { #expect(CSVExport.cell(c).contains("'")) }
        #expect(CSVExport.cell("a-b") == "a-b" && CSVExport.cell("") == "")
    }
}

@Suite struct FHIRExportTests {
    func bundle() throws -> [String: Any] {
        let bytes = FHIRExport.bundle(vaultId: String(repeating: "0f", count: 16), nickname: "たろう", records: try sampleRecords(),
                                      generatedAt: at("2026-11-29T00:00:00Z"))
        return try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    @Test func everyReferenceResolvesInsideTheBundle() throws {
        let b = try bundle()
        let entries = try #require(b["entry"] as? [[String: Any]])
        let urls = Set(entries.compactMap { $0["fullUrl"] as? String })
        #expect(urls.count == entries.count)
        func refs(_ node: Any) -> [String] {
            if let d = node as? [String: Any] { return d.flatMap { k, v in k == "reference" ? [v as? String ?? ""] : refs(v) } }
            if let a = node as? [Any] { return a.flatMap(refs) }
            return []
        }
        let all = refs(b)
        #expect(!all.isEmpty && all.allSatisfy(urls.contains))
        let types = entries.compactMap { ($0["resource"] as? [String: Any])?["resourceType"] as? String }
        #expect(types.filter { $0 == "MedicationRequest" }.count == 6)  // 4 intensive + 2 continuation
        // Each order names who wrote it (the patient here), so an importer can tell it from a prescriber's.
        let requests = entries.compactMap { $0["resource"] as? [String: Any] }.filter { $0["resourceType"] as? String == "MedicationRequest" }
        #expect(requests.allSatisfy { ($0["requester"] as? [String: Any])?["reference"] as? String == entries.first?["fullUrl"] as? String })
        #expect(Set(types) == ["Patient", "Practitioner", "MedicationRequest", "MedicationStatement", "MedicationAdministration", "Observation", "Communication"])
        let statements = entries.compactMap { $0["resource"] as? [String: Any] }.filter { $0["resourceType"] as? String == "MedicationStatement" }
        #expect(statements.map { $0["status"] as? String } == ["entered-in-error", "completed"])  // the correction stands
    }

    @Test func anIndependentValidatorAcceptsTheBundle() throws {
        let bytes = FHIRExport.bundle(vaultId: String(repeating: "0f", count: 16), nickname: "たろう", records: try sampleRecords(),
                                      generatedAt: at("2026-11-29T00:00:00Z"))
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("bundle-\(UUID().uuidString).json")
        try Data(bytes).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/validate_fhir.py")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", script.path, file.path]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(p.terminationStatus == 0, "\(message)")
    }
}
