import Foundation
import Testing
@testable @_spi(Testing) import MikataService

@Suite struct JurisdictionTests {
    static func base() throws -> String {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("mikata-jurisdiction-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        chmod(base, 0o700)
        return base
    }

    static var configuration: VaultServiceConfiguration {
        var c = VaultServiceConfiguration()
        c.passwordCost = .minimumForTesting
        c.threads = 4
        return c
    }

    @Test func aNewStoreDeclaresItsJurisdictionAndKeepsIt() async throws {
        let base = try Self.base()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let keys = RootKeyLocation.directory("\(base)/keys")
        let (s, _) = try await VaultService.initialize(storePath: "\(base)/de", rootKey: keys, configuration: Self.configuration, jurisdiction: "de")
        #expect(s.jurisdiction == "DE")
        await s.shutdown()
        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(base)/de/mikata-store.json"))) as? [String: Any]
        #expect(meta?["jurisdiction"] as? String == "DE")
        let reopened = try await VaultService.open(storePath: "\(base)/de", rootKey: keys, configuration: Self.configuration)
        #expect(reopened.jurisdiction == "DE")
        await reopened.shutdown()
        // Never rewritten: init with another jurisdiction is refused; with the same one (or none) it is a no-op.
        #expect(await code { _ = try await VaultService.initialize(storePath: "\(base)/de", rootKey: keys, configuration: Self.configuration, jurisdiction: "JP") } == .notPermitted)
        let same = try await VaultService.initialize(storePath: "\(base)/de", rootKey: keys, configuration: Self.configuration, jurisdiction: "DE").service
        #expect(same.jurisdiction == "DE")
        await same.shutdown()
        // Only assigned ISO 3166-1 alpha-2 codes.
        for bad in ["XX", "ZZ", "J", "JPN", "J1", "", "日本"] {
            #expect(await code { _ = try await VaultService.initialize(storePath: "\(base)/bad", rootKey: keys, configuration: Self.configuration, jurisdiction: bad) } == .invalidInput, "\(bad)")
        }
        #expect(!FileManager.default.fileExists(atPath: "\(base)/bad/mikata-store.json"))
        // The default is JP.
        let jp = try await VaultService.initialize(storePath: "\(base)/jp", rootKey: keys, configuration: Self.configuration).service
        #expect(jp.jurisdiction == "JP")
        await jp.shutdown()
    }

    @Test func theGoldenStoreIsStillJP() async throws {
        let base = try Self.base()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("fixtures/golden-v1/store")
        try FileManager.default.copyItem(atPath: fixture.path, toPath: "\(base)/store")
        let s = try await VaultService.initialize(storePath: "\(base)/store", rootKey: .directory("\(base)/keys"), configuration: Self.configuration).service
        #expect(s.jurisdiction == "JP")
        await s.shutdown()
        // A description without the member (a store that predates it) reads as JP, and is not rewritten by opening.
        let path = "\(base)/store/mikata-store.json"
        var meta = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        meta["jurisdiction"] = nil
        let bytes = try JSONSerialization.data(withJSONObject: meta, options: [.sortedKeys])
        try bytes.write(to: URL(fileURLWithPath: path))
        chmod(path, 0o600)
        let opened = try await VaultService.open(storePath: "\(base)/store", rootKey: .directory("\(base)/keys"), configuration: Self.configuration)
        #expect(opened.jurisdiction == "JP")
        await opened.shutdown()
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == bytes)
    }

    @Test func aRestoreAcrossJurisdictionsIsRefusedUnlessAllowed() async throws {
        let base = try Self.base()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let keys = RootKeyLocation.directory("\(base)/keys")
        let s = try await VaultService.initialize(storePath: "\(base)/de", rootKey: keys, configuration: Self.configuration, jurisdiction: "DE").service
        _ = try await s.createPatient(email: "p@example.jp", nickname: "p", password: pw("pw"))
        let registered = try await s.registerService(name: "pillbox")
        _ = try await s.createBackupKey(secretKeyOut: "\(base)/backup.key")
        _ = try await s.createBackup(out: "\(base)/backup.mkb")
        await s.shutdown()

        // Into a JP store (the default): refused, nothing written.
        #expect(await code {
            _ = try await VaultService.restoreBackup(path: "\(base)/backup.mkb", into: "\(base)/jp", backupKeyFile: "\(base)/backup.key",
                                                     tombstones: .noneExists, rootKey: keys)
        } == .notPermitted)
        #expect(!FileManager.default.fileExists(atPath: "\(base)/jp"))
        // Into a DE store: the same jurisdiction, allowed.
        _ = try await VaultService.restoreBackup(path: "\(base)/backup.mkb", into: "\(base)/de2", backupKeyFile: "\(base)/backup.key",
                                                 tombstones: .noneExists, rootKey: keys, jurisdiction: "DE")
        let de2 = try await VaultService.open(storePath: "\(base)/de2", rootKey: keys, configuration: Self.configuration)
        #expect(de2.jurisdiction == "DE")
        await de2.shutdown()
        // Into JP with the explicit flag: allowed, declared JP, and logged; the registry survives (re-MACed).
        _ = try await VaultService.restoreBackup(path: "\(base)/backup.mkb", into: "\(base)/jp", backupKeyFile: "\(base)/backup.key",
                                                 tombstones: .noneExists, rootKey: keys, jurisdiction: "JP", allowJurisdictionChange: true)
        let jp = try await VaultService.open(storePath: "\(base)/jp", rootKey: keys, configuration: Self.configuration)
        #expect(jp.jurisdiction == "JP")
        #expect(try await jp.accessLog().contains { $0.action == "jurisdiction-change" })
        #expect(try await jp.listServices().map(\.serviceId) == [registered.service.serviceId])
        let apiKey = registered.apiKey.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
        _ = try await jp.serviceSession(apiKey: apiKey)
        _ = try await jp.verifyAccessLog()
        await jp.shutdown()
    }
}
