import Foundation
import Testing
@testable import MikataVault
import MikataFormat
import MikataCrypto

/// fixtures/golden-v1: a store written by the first release of format v1. Every later version must open it and
/// read exactly the records in expected.json. Regenerate only for a new format version, never to make a test pass:
/// `MIKATA_WRITE_GOLDEN=1 swift test --filter Golden` writes fixtures/golden-v1-new for review.
@Suite("Golden v1 store")
struct GoldenTests {
    static var packageRoot: URL {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
        }
        fatalError("Package.swift not found above \(#filePath)")
    }

    static var fixture: URL { packageRoot.appendingPathComponent("fixtures/golden-v1") }

    struct Expected: Codable {
        var patientEmail: String
        var patientPassword: String
        var recoveryCode: String
        var supporterEmail: String
        var supporterPassword: String
        var revokedSupporterEmail: String
        var revokedSupporterPassword: String
        var records: [ExpectedRecord]
    }

    struct ExpectedRecord: Codable, Equatable {
        var seq: UInt64
        var type: String
        var author: String
        var timeMillis: Int64
        var data: String
    }

    static func copyOfFixture() throws -> (URL, Expected) {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("golden-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: fixture.appendingPathComponent("store"), to: tmp)
        let expected = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: fixture.appendingPathComponent("expected.json")))
        return (tmp, expected)
    }

    /// Every vault file's bytes, by path.
    static func vaultFiles(_ dir: URL) throws -> [String: Data] {
        var out: [String: Data] = [:]
        let vaults = dir.appendingPathComponent("vaults")
        for shard in try FileManager.default.contentsOfDirectory(atPath: vaults.path) {
            for name in try FileManager.default.contentsOfDirectory(atPath: vaults.appendingPathComponent(shard).path) where name.hasSuffix(".vault") {
                out["\(shard)/\(name)"] = try Data(contentsOf: vaults.appendingPathComponent(shard).appendingPathComponent(name))
            }
        }
        return out
    }

    static func rows(_ records: [Record]) -> [ExpectedRecord] {
        records.map { ExpectedRecord(seq: $0.seq, type: $0.type, author: $0.author.description, timeMillis: $0.timeMillis, data: String(decoding: $0.data, as: UTF8.self)) }
    }

    @Test("the golden v1 vault opens with its password, its recovery code and its supporter, with the expected records")
    func opensGolden() throws {
        let (dir, expected) = try Self.copyOfFixture()
        defer { try? FileManager.default.removeItem(at: dir) }
        // A store made before root keys opens after its one-time upgrade (mikata init), which changes no vault file.
        let vaultFiles = try Self.vaultFiles(dir)
        let (store, created) = try Store.initialize(at: dir.path)
        #expect(!created && store.upgradedFromLegacy)
        #expect(try Self.vaultFiles(dir) == vaultFiles)
        #expect(try Store.open(at: dir.path).verifyAccessLog().entries > 0)
        let vault = try store.openVault(email: expected.patientEmail)
        let patient = try vault.unlock(password: pw(expected.patientPassword))
        #expect(Self.rows(try vault.records(patient)) == expected.records)
        _ = try vault.verify(patient)
        #expect(Self.rows(try vault.records(vault.unlock(recoveryCode: pw(expected.recoveryCode)))) == expected.records)
        let nurse = try store.unlockSupporter(email: expected.supporterEmail, password: pw(expected.supporterPassword))
        #expect(Self.rows(try vault.records(vault.unlock(supporter: nurse))) == expected.records)
        let revoked = try store.unlockSupporter(email: expected.revokedSupporterEmail, password: pw(expected.revokedSupporterPassword))
        #expect(failureClass { _ = try vault.unlock(supporter: revoked) } == "not-permitted")
        // And it accepts new writes.
        #expect(try vault.append(type: "dose", data: json("1"), session: patient) == UInt64(expected.records.count))
    }

    @Test("writes a new golden store when MIKATA_WRITE_GOLDEN=1", .enabled(if: ProcessInfo.processInfo.environment["MIKATA_WRITE_GOLDEN"] == "1"))
    func writeGolden() throws {
        let out = Self.packageRoot.appendingPathComponent("fixtures/golden-v1-new")
        try? FileManager.default.removeItem(at: out)
        let storeDir = out.appendingPathComponent("store")
        let (store, _) = try Store.initialize(at: storeDir.path)
        // Real defaults: INTERACTIVE Argon2id and 64 KiB header copies.
        let e = Expected(patientEmail: "golden.patient@example.jp", patientPassword: "golden patient password",
                         recoveryCode: "", supporterEmail: "golden.nurse@example.jp", supporterPassword: "golden nurse password",
                         revokedSupporterEmail: "golden.former@example.jp", revokedSupporterPassword: "golden former password", records: [])
        let (_, code) = try store.createPatient(email: e.patientEmail, nickname: "Golden", password: pw(e.patientPassword))
        let nurse = try store.createSupporter(email: e.supporterEmail, name: "Golden Nurse", password: pw(e.supporterPassword))
        let former = try store.createSupporter(email: e.revokedSupporterEmail, name: "Former Nurse", password: pw(e.revokedSupporterPassword))
        let vault = try store.openVault(email: e.patientEmail)
        let patient = try vault.unlock(password: pw(e.patientPassword))
        try vault.grant(nurse, session: patient); try store.recordLink(supporterId: nurse.id, vaultId: vault.vaultId)
        try vault.grant(former, session: patient); try store.recordLink(supporterId: former.id, vaultId: vault.vaultId)
        let t0: Int64 = 1_795_000_000_000
        try vault.appendRecord(type: "dose", data: json(#"{"drug":"isoniazid","mg":300}"#), timeMillis: t0, session: patient)
        let formerSession = try vault.unlock(supporter: try store.unlockSupporter(email: e.revokedSupporterEmail, password: pw(e.revokedSupporterPassword)))
        try vault.appendRecord(type: "message", data: json(#"{"text":"今日も頑張りましょう"}"#), timeMillis: t0 + 1000, session: formerSession)
        let service = ServiceIdentity.generate()
        try vault.authorize(service: service.id, signPublicKey: service.signPublicKey, session: patient)
        try vault.appendRecord(type: "pillbox", data: json(#"{"opened":true}"#), timeMillis: t0 + 2000, session: try vault.session(service: service))
        try vault.revoke(former.id, session: patient); try store.removeLink(supporterId: former.id, vaultId: vault.vaultId)
        let nurseSession = try vault.unlock(supporter: try store.unlockSupporter(email: e.supporterEmail, password: pw(e.supporterPassword)))
        try vault.appendRecord(type: "side-effect", data: json(#"{"symptom":"nausea","grade":1}"#), timeMillis: t0 + 3000, session: patient)
        try vault.appendRecord(type: "message", data: json(#"{"text":"Noted."}"#), timeMillis: t0 + 4000, session: nurseSession)
        try vault.appendRecord(type: "pillbox", data: json(#"{"opened":true}"#), timeMillis: t0 + 5000, session: try vault.session(service: service))
        var expected = e
        expected.recoveryCode = String(decoding: code.unsafeCopyToArray(), as: UTF8.self)
        expected.records = Self.rows(try vault.records(patient))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(expected).write(to: out.appendingPathComponent("expected.json"))
    }
}
