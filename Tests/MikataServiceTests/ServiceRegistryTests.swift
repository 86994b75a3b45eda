import Foundation
import Testing
@testable @_spi(Testing) import MikataService

@Suite struct ServiceRegistryTests {
    /// A registered service the vault never authorised is refused by vault id as by address, and both refusals
    /// are in the vault's access log: the patient sees every refused attempt.
    @Test func refusedServiceAppendsAreLoggedByIdAndByAddress() async throws {
        let f = try await ServiceFixture.make()
        defer { Task { await f.tearDown() } }
        let s = f.service
        let r = try await s.registerService(name: "not authorised")
        let apiKey = r.apiKey.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
        _ = try await s.createPatient(email: "p@example.jp", nickname: "p", password: pw("pw"))
        let patient = try await s.unlockPatient(email: "p@example.jp", password: pw("pw"))
        let session = try await s.serviceSession(apiKey: apiKey)
        #expect(await code { _ = try await s.append(session, to: patient.vaultId, type: "dose", data: json("{}")) } == .notPermitted)
        #expect(await code { _ = try await s.append(session, toPatientEmail: "p@example.jp", type: "dose", data: json("{}")) } == .notPermitted)
        let actor = "service:" + r.service.serviceId.hex
        let denied = try await s.accessLog(patient).filter { $0.entry.action == "append" && $0.entry.outcome == "denied" && $0.entry.actor == actor }
        #expect(denied.count == 2)

        // Requests for unknown addresses do not share one lane (a queue there would answer a known address faster
        // than an unknown one): each address has its own, named without the address itself.
        let unknownA = try await s.laneKey(email: "nobody-a@example.jp"), unknownB = try await s.laneKey(email: "nobody-b@example.jp")
        #expect(unknownA != unknownB && !unknownA.isEmpty && !unknownA.contains("nobody"))
        #expect(try await s.laneKey(email: "Nobody-A@Example.jp") == unknownA)
        #expect(try await s.laneKey(email: "p@example.jp") == patient.vaultId.hex)
    }

    @Test func theRegistryKeepsOnlyTheKeysHashAndRefusesRevokedAndMalformedKeysAlike() async throws {
        let f = try await ServiceFixture.make()
        defer { Task { await f.tearDown() } }
        let s = f.service
        let r = try await s.registerService(name: "pillbox reminders")
        let apiKey = r.apiKey.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
        #expect(apiKey.utf8.count == 80 && apiKey.hasPrefix("mks_\(r.service.serviceId.hex)_"))

        // The registry file holds the id, name and public key, and neither the key nor its seed in any form.
        let file = try Data(contentsOf: URL(fileURLWithPath: "\(f.root)/store/services/registry.json"))
        let text = String(decoding: file, as: UTF8.self)
        let seedText = String(apiKey.dropFirst(37))
        let (_, seed) = try #require(ServiceAPIKey.parse(apiKey))
        let seedBytes = seed.withUnsafeBytes { Array($0) }
        #expect(text.contains(r.service.serviceId.hex) && text.contains("pillbox reminders"))
        #expect(!text.contains(apiKey) && !text.contains(seedText))
        #expect(!text.contains(seedBytes.map { String(format: "%02x", $0) }.joined()))
        #expect(file.range(of: Data(seedBytes)) == nil)
        #expect(text.contains(BearerToken.hash(apiKey).map { String(format: "%02x", $0) }.joined()))

        // The key opens a session that appends to a vault that authorised the registered service.
        _ = try await s.createPatient(email: "p@example.jp", nickname: "p", password: pw("pw"))
        let patient = try await s.unlockPatient(email: "p@example.jp", password: pw("pw"))
        try await s.authorizeRegisteredService(patient, serviceId: r.service.serviceId)
        let session = try await s.serviceSession(apiKey: apiKey)
        #expect(session.serviceId == r.service.serviceId)
        _ = try await s.append(session, to: patient.vaultId, type: "dose", data: json("{}"))
        session.close()
        #expect(await code { try await s.authorizeRegisteredService(patient, serviceId: ServiceID(bytes: Array(repeating: 7, count: 16))!) } == .notFound)

        // Malformed, unknown, tampered and (below) revoked keys: one class, one message.
        var messages: Set<String> = []
        func refused(_ key: String) async {
            do { _ = try await s.serviceSession(apiKey: key); Issue.record("accepted \(key.prefix(8))") } catch let e as MikataError {
                #expect(e.code == .authenticationFailed)
                messages.insert(e.message)
            } catch { Issue.record("\(error)") }
        }
        let other = ServiceKey.generate()
        let unknown = "mks_\(other.id.hex)_" + BearerToken.base64url(other.seed.withUnsafeBytes { Array($0) })
        let wrongSeed = "mks_\(r.service.serviceId.hex)_" + BearerToken.base64url(other.seed.withUnsafeBytes { Array($0) })
        for key in ["", "mks_", "not a key", String(apiKey.dropLast()), apiKey + "A", unknown, wrongSeed,
                    apiKey.replacingOccurrences(of: "mks_", with: "mkx_"), String(apiKey.prefix(37)) + String(repeating: "*", count: 43)] {
            await refused(key)
        }
        try await s.revokeService(r.service.serviceId)
        try await s.revokeService(r.service.serviceId)  // idempotent
        await refused(apiKey)
        #expect(messages.count == 1)
        // The same key written to a key file (`record add --as-service`) writes nothing either, by id or by e-mail.
        let (keyId, keySeed) = try #require(ServiceAPIKey.parse(apiKey))
        let fileSession = s.serviceSession(try ServiceKey(id: keyId, seed: keySeed))
        #expect(await code { _ = try await s.append(fileSession, to: patient.vaultId, type: "dose", data: json("{}")) } == .notPermitted)
        #expect(await code { _ = try await s.append(fileSession, toPatientEmail: "p@example.jp", type: "dose", data: json("{}")) } == .notPermitted)
        // Revoked: no longer authorisable, listed as revoked; an unknown id cannot be revoked.
        #expect(await code { try await s.authorizeRegisteredService(patient, serviceId: r.service.serviceId) } == .notFound)
        #expect(try await s.listServices().map(\.revoked) == [true])
        #expect(await code { try await s.revokeService(other.id) } == .notFound)
        #expect(await code { _ = try await s.registerService(name: "") } == .invalidInput)
        // Operator ids go to the access log, which `audit show` prints: no control character (escape sequences, rows).
        #expect(await code { _ = try await s.registerService(name: "x", operatorId: "op\u{1b}]52;c;AAAA\u{7}") } == .invalidInput)
        #expect(await code { _ = try await s.registerService(name: "x", operatorId: "op\n999\tfake") } == .invalidInput)
        #expect(await code { try await s.revokeService(r.service.serviceId, operatorId: "op\u{9b}2J") } == .invalidInput)
        // Another handle on the store (another process) sees the revocation at once.
        let again = try await f.reopen()
        #expect(await code { _ = try await again.serviceSession(apiKey: apiKey) } == .authenticationFailed)
        await again.shutdown()
    }

    @Test func anEditedRegistryIsTampered() async throws {
        let f = try await ServiceFixture.make()
        defer { Task { await f.tearDown() } }
        let r = try await f.service.registerService(name: "job")
        try await f.service.revokeService(r.service.serviceId)
        // Lifting the revocation by editing the file fails the registry's MAC.
        let path = "\(f.root)/store/services/registry.json"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        try text.replacingOccurrences(of: #""revoked":true"#, with: #""revoked":false"#).write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o600)
        let apiKey = r.apiKey.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
        #expect(await code { _ = try await f.service.serviceSession(apiKey: apiKey) } == .tampered)
    }
}
