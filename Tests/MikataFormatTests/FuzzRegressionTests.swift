import Foundation
import MikataCrypto
import MikataFormat
import Testing

/// The fuzz corpora in fixtures/fuzz/ (scripts/fuzz.sh, docs/RELIABILITY.md): each target's seeds and every input
/// a fuzzer ever crashed on (fixtures/fuzz/crashes/<target>/), read back through the parsers that target drives.
/// Errors are expected; a trap fails the whole test run, which is the point. The format-level targets are here;
/// vault, certificate, audit and backup are in MikataVaultTests/FuzzRegressionVaultTests.swift.
enum FormatFuzzCorpus {
    static let targets = ["keystate", "json", "storefiles"]

    static var root: URL {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) {
                return url.appendingPathComponent("fixtures/fuzz")
            }
        }
        return URL(fileURLWithPath: "fixtures/fuzz")
    }

    /// Paths relative to fixtures/fuzz of a folder's inputs (README.md and dot files are not inputs).
    static func files(in folder: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent(folder).path)) ?? []
        return names.filter { !$0.hasPrefix(".") && $0 != "README.md" }.sorted().map { "\(folder)/\($0)" }
    }

    /// A target's seeds, then its crash inputs.
    static func inputs(_ target: String) -> [String] { files(in: target) + files(in: "crashes/\(target)") }

    static func read(_ relative: String) throws -> [UInt8] {
        Array(try Data(contentsOf: root.appendingPathComponent(relative)))
    }

    /// Crash inputs listed in fixtures/fuzz/crashes/open-findings.txt: their bug is not fixed yet.
    static let openFindings: Set<String> = {
        guard let text = try? String(contentsOf: root.appendingPathComponent("crashes/open-findings.txt"), encoding: .utf8) else { return [] }
        return Set(text.split(separator: "\n").compactMap { line in
            let path = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0].trimmingCharacters(in: .whitespaces)
            return path.isEmpty ? nil : "crashes/\(path)"
        })
    }()

    /// False, with a known issue recorded, for an input whose bug is still open: running it could trap the test process.
    static func shouldRun(_ relative: String) -> Bool {
        guard openFindings.contains(relative) else { return true }
        withKnownIssue("open fuzz finding, listed in fixtures/fuzz/crashes/open-findings.txt") {
            Issue.record("\(relative) still crashes or breaks an invariant")
        }
        return false
    }
}

@Suite("Fuzz corpora, format layer: nothing traps")
struct FuzzRegressionTests {
    @Test("every format-level target has seeds")
    func seedsExist() {
        for target in FormatFuzzCorpus.targets {
            #expect(!FormatFuzzCorpus.files(in: target).isEmpty, "fixtures/fuzz/\(target) is empty: run scripts/fuzz.sh seeds")
        }
    }

    /// Fuzz/FuzzKeyState.swift: the parser is exact, so what parses serializes back to the same bytes.
    @Test("key states", arguments: FormatFuzzCorpus.inputs("keystate"))
    func keyState(_ file: String) throws {
        guard FormatFuzzCorpus.shouldRun(file) else { return }
        let bytes = try FormatFuzzCorpus.read(file)
        guard let state = try? KeyState.parse(bytes) else { return }
        #expect(state.serialize() == bytes)
        _ = state.signedMessage()
        for entry in state.epochs { _ = state.minimumEpoch(forSeq: entry.startSeq) }
        for author in state.authors { _ = state.author(id: author.id, seq: author.activeFromSeq) }
    }

    @Test("key state seeds parse")
    func keyStateSeeds() throws {
        for file in FormatFuzzCorpus.files(in: "keystate") {
            do { _ = try KeyState.parse(try FormatFuzzCorpus.read(file)) } catch { Issue.record("\(file): \(error)") }
        }
    }

    /// Fuzz/FuzzJSON.swift: canonicalization is idempotent, and the CLI's record-data path does not trap.
    @Test("JSON bodies", arguments: FormatFuzzCorpus.inputs("json"))
    func json(_ file: String) throws {
        guard FormatFuzzCorpus.shouldRun(file) else { return }
        let bytes = try FormatFuzzCorpus.read(file)
        if let value = try? CanonicalJSON.parse(bytes) {
            let once = CanonicalJSON.serialize(value)
            #expect(try CanonicalJSON.canonicalize(once) == once)
        }
        if let object = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed]) {
            let output: [String: Any] = ["records": [["seq": 0, "data": object] as [String: Any]]]
            _ = try? JSONSerialization.data(withJSONObject: output, options: [.sortedKeys, .withoutEscapingSlashes])
        }
    }

    /// Fuzz/FuzzStoreFiles.swift: every parser on every input, as is and with its trailing checksum recomputed.
    @Test("store files, record payloads, supporter secrets", arguments: FormatFuzzCorpus.inputs("storefiles"))
    func storeFiles(_ file: String) throws {
        guard FormatFuzzCorpus.shouldRun(file) else { return }
        let bytes = try FormatFuzzCorpus.read(file)
        var repaired = bytes
        if repaired.count >= 16 {
            repaired.replaceSubrange((repaired.count - 16)..., with: Blake2b.hash(Array(repaired.dropLast(16)), outputLength: 16))
        }
        for b in [bytes, repaired] {
            if let f = try? ErasureSecretFile.parse(b) { #expect(f.serialize() == b) }
            if let f = try? GenerationFile.parse(b) { #expect(f.serialize() == b) }
            if let f = try? LookupEntry.parse(b) { #expect(f.serialize() == b) }
            if let f = try? SupporterAccountFile.parse(b) { #expect(f.serialize() == b) }
            if let f = try? StoreSecretFile.parse(b, as: .lookupKey) { #expect(f.serialize() == b) }
            if let f = try? StoreSecretFile.parse(b, as: .signingSeed) { #expect(f.serialize() == b) }
            if let s = try? SupporterSecrets.parse(b) { #expect(s.serialize() == b) }
            if let p = try? RecordPayload.parse(b) { #expect(p.serialize() == b) }
        }
    }
}
