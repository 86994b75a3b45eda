import Foundation
import MikataCrypto
import MikataFormat
@testable import MikataVault
import Testing

/// The vault-level fuzz corpora in fixtures/fuzz/ (scripts/fuzz.sh, docs/RELIABILITY.md): seeds and every input a
/// fuzzer ever crashed on, through the readers the targets in Fuzz/ drive. Errors are expected; nothing may trap.
/// The format-level targets are in MikataFormatTests/FuzzRegressionTests.swift.
enum VaultFuzzCorpus {
    static let targets = ["vault", "vaultwriter", "certificate", "audit", "backup"]
    /// Fuzz/FuzzAuditLog.swift's store id and key, which signed the audit seeds.
    static let auditStoreId = "fuzz-store"
    static let auditSigning = try! SigningKeyPair.fromSeed(SecureBytes(copying: [UInt8](repeating: 0x5a, count: 32)))

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

    static func files(in folder: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent(folder).path)) ?? []
        return names.filter { !$0.hasPrefix(".") && $0 != "README.md" }.sorted().map { "\(folder)/\($0)" }
    }

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

    /// A scratch file holding `bytes`, removed by the caller.
    static func scratchFile(_ bytes: [UInt8], _ name: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-regression-\(UUID().uuidString)-\(name)").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }
}

/// What Fuzz/FuzzVault.swift does with one input; returns how many records the real reader walked, if it got there.
enum VaultFileReplay {
    @discardableResult
    static func read(_ bytes: [UInt8]) throws -> Int? {
        let path = try VaultFuzzCorpus.scratchFile(bytes, "vault")
        defer { try? FileManager.default.removeItem(atPath: path) }
        var walked: Int?
        if let loaded = try? Vault.loadHeader(file: try PosixFile.open(path, readOnly: true)) {
            walked = (try? Vault.scanRecords(bytes, preamble: loaded.preamble, state: loaded.state, keyring: nil, keepPayloads: false))
                .map { Int($0.tail.nextSeq) }
        }
        guard let preamble = try? Preamble.parse(bytes) else { return walked }
        #expect(preamble.serialize() == Array(bytes[0..<VaultFormat.preambleLength]))
        for i in 0..<2 {
            let start = preamble.headerCopyOffset(i)
            let end = start + preamble.headerCopyLength
            guard end <= bytes.count, let copy = try? HeaderCopy.parse(bytes[start..<end]) else { continue }
            #expect(try copy.serialize(copyLength: preamble.headerCopyLength) == Array(bytes[start..<end]))
            guard let state = try? KeyState.parse(copy.body) else { continue }
            #expect(state.serialize() == copy.body)
            _ = try? Vault.scanRecords(bytes, preamble: preamble, state: state, keyring: nil, keepPayloads: false)
        }
        if bytes.count - preamble.recordsOffset >= RecordFrame.minimumLength,
           let length = RecordFrame.lengthFromTrailer(Array(bytes.suffix(RecordFrame.trailerLength))),
           length <= bytes.count - preamble.recordsOffset {
            _ = RecordFrame.seqIfValidHeader(Array(bytes[(bytes.count - length)..<(bytes.count - length + RecordFrame.headerLength)]), length: length)
            _ = try? RecordFrame.scan(Array(bytes.suffix(length)), at: 0)
        }
        return walked
    }

    /// The same repair as `Fuzz.repairVaultChecksums` in Fuzz/FuzzSupport.swift (keep the two in step): preamble
    /// checksum, frame headerChecks and prevLinks, the headerCheck of the frame the final trailer names, each copy's
    /// recordFloorLink and checksum.
    static func repairChecksums(_ input: [UInt8]) -> [UInt8] {
        var b = input
        func u32(_ o: Int) -> UInt32 { b[o..<(o + 4)].reduce(0) { $0 << 8 | UInt32($1) } }
        func u64(_ o: Int) -> UInt64 { b[o..<(o + 8)].reduce(0) { $0 << 8 | UInt64($1) } }
        func put(_ v: [UInt8], _ o: Int) { b.replaceSubrange(o..<(o + v.count), with: v) }
        guard b.count >= VaultFormat.preambleLength, Array(b[0..<8]) == Preamble.magic else { return b }
        put(Blake2b.hash(Array(b[0..<48]), outputLength: 16), 48)
        let copyLength = Int(u32(12))
        guard copyLength >= VaultFormat.headerCopyLengthMin, copyLength <= VaultFormat.headerCopyLengthMax,
              copyLength % VaultFormat.headerCopyAlignment == 0, b.count >= 64 + 2 * copyLength
        else { return b }
        var links = [VaultFormat.genesisLink(vaultId: Array(b[16..<32]))]
        var offset = 64 + 2 * copyLength
        while offset + RecordFrame.headerLength <= b.count, Array(b[offset..<(offset + 4)]) == RecordFrame.magic {
            put(links[links.count - 1], offset + 24)
            put(Blake2b.hash(Array(b[offset..<(offset + 56)]), outputLength: 16), offset + 56)
            let length = Int(u32(offset + 4))
            guard length >= RecordFrame.minimumLength, length <= b.count - offset else { break }
            let end = offset + length
            links.append(VaultFormat.link(fixedHeader: b[offset..<(offset + 56)], tag: b[(end - 24)..<(end - 8)]))
            offset = end
        }
        let records = 64 + 2 * copyLength
        if b.count - records >= RecordFrame.minimumLength,
           let length = RecordFrame.lengthFromTrailer(Array(b.suffix(RecordFrame.trailerLength))), length <= b.count - records {
            let last = b.count - length
            if Array(b[last..<(last + 4)]) == RecordFrame.magic { put(Blake2b.hash(Array(b[last..<(last + 56)]), outputLength: 16), last + 56) }
        }
        for i in 0..<2 {
            let copy = 64 + i * copyLength
            if Int(u32(copy + 12)) >= 184 {
                let floor = u64(copy + 16 + 144)
                if floor < UInt64(links.count) { put(links[Int(floor)], copy + 16 + 152) }
            }
            put(Blake2b.hash(Array(b[copy..<(copy + copyLength - 32)]), outputLength: 32), copy + copyLength - 32)
        }
        return b
    }
}

/// What Fuzz/FuzzVaultWriter.swift does with one input.
enum VaultWriterReplay {
    static let erasureSecret = SecureBytes(copying: [UInt8](repeating: 0x11, count: 32))
    static let password = SecureBytes(copying: Array("fuzz-password".utf8))

    @discardableResult
    static func readAndAppend(_ bytes: [UInt8]) throws -> (read: Int?, appended: UInt64?) {
        let path = try VaultFuzzCorpus.scratchFile(bytes, "writer.vault")
        let vaultId = bytes.count >= 32 ? Array(bytes[16..<32]) : [UInt8](repeating: 0, count: 16)
        let generationPath = try VaultFuzzCorpus.scratchFile(GenerationFile(vaultId: vaultId, minimumGeneration: 0).serialize(), "writer.gen")
        defer { try? FileManager.default.removeItem(atPath: path); try? FileManager.default.removeItem(atPath: generationPath) }
        guard let vault = try? Vault(path: path, erasureSecret: erasureSecret, anchor: VaultAnchor(path: generationPath, vaultId: vaultId, rootKey: nil), lockTimeout: 0),
              let session = try? vault.unlock(password: password)
        else { return (nil, nil) }
        let before = try? vault.records(session)
        let seq = try? vault.append(type: "fuzz", data: Array("{}".utf8), timeMillis: 0, session: session)
        let after = try? vault.records(session)
        if let before, let seq {
            #expect(seq == UInt64(before.count))
            #expect(after?.count == before.count + 1)
        }
        return (before?.count, seq)
    }
}

@Suite("Fuzz corpora, vault layer: nothing traps")
struct FuzzRegressionVaultTests {
    @Test("every vault-level target has seeds")
    func seedsExist() {
        for target in VaultFuzzCorpus.targets {
            #expect(!VaultFuzzCorpus.files(in: target).isEmpty, "fixtures/fuzz/\(target) is empty: run scripts/fuzz.sh seeds")
        }
    }

    /// Fuzz/FuzzVault.swift: the whole file through the real reader and the format layer, as is and repaired.
    @Test("vault files", arguments: VaultFuzzCorpus.inputs("vault"))
    func vaultFile(_ file: String) throws {
        guard VaultFuzzCorpus.shouldRun(file) else { return }
        let bytes = try VaultFuzzCorpus.read(file)
        try VaultFileReplay.read(bytes)
        try VaultFileReplay.read(VaultFileReplay.repairChecksums(bytes))
    }

    /// The seeds must stay valid vaults, or the fuzzer starts from rejections and reaches little.
    @Test("vault seeds open and walk their records")
    func vaultSeeds() throws {
        for file in VaultFuzzCorpus.files(in: "vault") {
            let bytes = try VaultFuzzCorpus.read(file)
            let walked = try VaultFileReplay.read(bytes)
            #expect((walked ?? 0) >= 1, "\(file) no longer opens: run scripts/fuzz.sh seeds")
            // The repair recomputes what a valid file already holds (a torn tail's partial frame aside).
            if !file.contains("torn") {
                #expect(VaultFileReplay.repairChecksums(bytes) == bytes, "\(file): repairing a valid vault must change nothing")
            }
        }
    }

    /// Fuzz/FuzzVaultWriter.swift: open with the fixed erasure secret and password, read, append, read again.
    @Test("vault files opened with keys, appended to", arguments: VaultFuzzCorpus.inputs("vaultwriter"))
    func vaultWriter(_ file: String) throws {
        guard VaultFuzzCorpus.shouldRun(file) else { return }
        let bytes = try VaultFuzzCorpus.read(file)
        try VaultWriterReplay.readAndAppend(bytes)
        try VaultWriterReplay.readAndAppend(VaultFileReplay.repairChecksums(bytes))
    }

    @Test("writer seeds unlock, read and take an append")
    func vaultWriterSeeds() throws {
        for file in VaultFuzzCorpus.files(in: "vaultwriter") {
            let outcome = try VaultWriterReplay.readAndAppend(try VaultFuzzCorpus.read(file))
            #expect(outcome.read != nil && outcome.appended != nil, "\(file) no longer opens with the fuzz keys: run scripts/fuzz.sh seeds")
        }
    }

    /// Fuzz/FuzzCertificate.swift.
    @Test("deletion certificates", arguments: VaultFuzzCorpus.inputs("certificate"))
    func certificate(_ file: String) throws {
        guard VaultFuzzCorpus.shouldRun(file) else { return }
        let bytes = try VaultFuzzCorpus.read(file)
        _ = try? DeletionCertificate.verify(bytes, publicKey: nil)
        if let value = try? CanonicalJSON.parse(bytes), case .string(let hex)? = value["issuer"]?["publicKey"], let key = [UInt8](hex: hex) {
            _ = try? DeletionCertificate.verify(bytes, publicKey: key)
        }
    }

    @Test("certificate seeds verify")
    func certificateSeeds() throws {
        for file in VaultFuzzCorpus.files(in: "certificate") {
            do { _ = try DeletionCertificate.verify(try VaultFuzzCorpus.read(file), publicKey: nil) } catch { Issue.record("\(file): \(error)") }
        }
    }

    /// Fuzz/FuzzAuditLog.swift: each line, then verify, append and verify again on a copy of the file.
    @Test("access logs", arguments: VaultFuzzCorpus.inputs("audit"))
    func auditLog(_ file: String) throws {
        guard VaultFuzzCorpus.shouldRun(file) else { return }
        let bytes = try VaultFuzzCorpus.read(file)
        var start = 0
        for (number, i) in bytes.indices.filter({ bytes[$0] == 10 }).enumerated() {
            _ = try? AuditLog.parseLine(Array(bytes[start..<i]), number: number + 1)
            start = i + 1
        }
        if start < bytes.count { _ = try? AuditLog.parseLine(Array(bytes[start...]), number: 0) }
        let path = try VaultFuzzCorpus.scratchFile(bytes, "audit.jsonl")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let log = AuditLog(path: path, storeId: VaultFuzzCorpus.auditStoreId, signing: VaultFuzzCorpus.auditSigning)
        let valid = (try? log.verify()) != nil
        let appended = (try? log.append(AuditLog.Event(vaultId: [UInt8](repeating: 1, count: 16), actor: "patient", role: "patient",
                                                       action: "read", outcome: "ok", detail: "fuzz"))) != nil
        // An append to a log that verifies leaves a log that verifies.
        if valid && appended {
            do { _ = try log.verify() } catch { Issue.record("\(file): the log no longer verifies after an append: \(error)") }
        }
    }

    @Test("access log seeds verify with the fuzz target's key")
    func auditSeeds() throws {
        for file in VaultFuzzCorpus.files(in: "audit") {
            let path = try VaultFuzzCorpus.scratchFile(try VaultFuzzCorpus.read(file), "audit.jsonl")
            defer { try? FileManager.default.removeItem(atPath: path) }
            let log = AuditLog(path: path, storeId: VaultFuzzCorpus.auditStoreId, signing: VaultFuzzCorpus.auditSigning)
            do { _ = try log.verify() } catch { Issue.record("\(file): \(error)") }
        }
    }

    /// Fuzz/FuzzBackup.swift: as is and with the signed hash and the trailing checksum recomputed.
    @Test("backup files", arguments: VaultFuzzCorpus.inputs("backup"))
    func backup(_ file: String) throws {
        guard VaultFuzzCorpus.shouldRun(file) else { return }
        let bytes = try VaultFuzzCorpus.read(file)
        for b in [bytes, Self.repairBackup(bytes)] {
            if let parsed = try? Backup.parse(b, publicKey: nil) { _ = Backup.summary(parsed, bytes: b.count) }
        }
    }

    /// Fuzz/FuzzBackup.swift's `repairHash` (keep the two in step): the signed hash, then the trailing checksum.
    static func repairBackup(_ input: [UInt8]) -> [UInt8] {
        var b = input
        guard b.count > 8 + 2 + 4 + 1 + 32 + 64 + 16 else { return b }
        let end = b.count - 112
        b.replaceSubrange(end..<(end + 32), with: Blake2b.hash(Array(b[0..<end])))
        b.replaceSubrange((b.count - 16)..., with: Blake2b.hash(Array(b.dropLast(16)), outputLength: 16))
        return b
    }

    @Test("backup seeds parse")
    func backupSeeds() throws {
        for file in VaultFuzzCorpus.files(in: "backup") {
            let bytes = try VaultFuzzCorpus.read(file)
            do { _ = try Backup.parse(bytes, publicKey: nil) } catch { Issue.record("\(file): \(error) (run scripts/fuzz.sh seeds)") }
            #expect(Self.repairBackup(bytes) == bytes, "\(file): repairing a valid backup must change nothing")
        }
    }
}
