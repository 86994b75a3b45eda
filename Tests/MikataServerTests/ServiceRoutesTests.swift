import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing
@testable import MikataServer
@testable @_spi(Testing) import MikataService

/// A server over a fresh temporary store, with cheap Argon2id, for the service-key routes.
private struct ServiceRoutesFixture {
    let base: String
    let server: MikataServer

    static func make(clock: ServerFixture.ManualClock? = nil, _ configure: (inout ServerConfiguration) -> Void = { _ in }) async throws -> ServiceRoutesFixture {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("mikata-svc-routes-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        chmod(base, 0o700)
        var vc = VaultServiceConfiguration()
        vc.passwordCost = .minimumForTesting
        vc.threads = 8
        let service = try await VaultService.initialize(storePath: "\(base)/store", rootKey: .directory("\(base)/root-keys"), configuration: vc).service
        var c = ServerConfiguration()
        c.storePath = "\(base)/store"
        c.passwordCost = .minimumForTesting
        configure(&c)
        let server = clock.map { clock in MikataServer(configuration: c, service: service, logger: Logger(label: "test"), clock: { clock.now }) }
            ?? MikataServer(configuration: c, service: service, logger: Logger(label: "test"))
        return ServiceRoutesFixture(base: base, server: server)
    }

    /// The server's router: the admin service routes sit in the admin group (allowlist, administrator session that
    /// must still exist in the store), so tests run `.live` (a loopback peer) with a real administrator.
    func router() -> Router<MikataRequestContext> { server.router() }

    func tearDown() async {
        await server.stop()
        try? FileManager.default.removeItem(atPath: base)
    }
}

private func bearer(_ token: String) -> HTTPFields { [.authorization: "Bearer \(token)", .contentType: "application/json"] }
private func body(_ json: String) -> ByteBuffer { ByteBuffer(string: json) }
private func object(_ response: TestResponse) -> [String: Any] {
    (try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any]) ?? [:]
}

@Suite struct ServiceRoutesTests {
    /// A key's refused appends are counted like a supporter's refused reads: past the limit, its requests answer 429
    /// (its authorised vault's too) and touch no vault until the window ends; another key is not slowed.
    @Test func aServiceKeyRefusedTooOftenWaitsOutTheWindow() async throws {
        let clock = ServerFixture.ManualClock()
        let f = try await ServiceRoutesFixture.make(clock: clock) { $0.refusalLimit = 3; $0.refusalWindow = .seconds(600) }
        defer { Task { await f.tearDown() } }
        let s = f.server.service
        _ = try await s.createPatient(email: "p@example.jp", nickname: "p", password: Secret(utf8: "pw"))
        _ = try await s.createPatient(email: "q@example.jp", nickname: "q", password: Secret(utf8: "pw2"))
        let p = try await s.unlockPatient(email: "p@example.jp", password: Secret(utf8: "pw"))
        let q = try await s.unlockPatient(email: "q@example.jp", password: Secret(utf8: "pw2"))
        var registered: [String] = []
        for name in ["prober", "other"] {
            let r = try await s.registerService(name: name)
            try await s.authorizeRegisteredService(p, serviceId: r.service.serviceId)
            registered.append(r.apiKey.withUnsafeBytes { String(decoding: $0, as: UTF8.self) })
        }
        let keys = registered
        @Sendable func denied() async throws -> Int { try await s.accessLog(q).filter { $0.entry.outcome == "denied" }.count }
        let before = try await denied()
        let record = #""type":"dose","data":{"taken":true}"#
        let app = Application(router: f.router())
        try await app.test(.router) { client in
            for _ in 0..<3 {
                try await client.execute(uri: "/v1/service/records", method: .post, headers: bearer(keys[0]), body: body(#"{"vaultId":"\#(q.vaultId.hex)",\#(record)}"#)) { r in
                    #expect(r.status == .notFound)
                }
            }
            let afterRefusals = try await denied()
            #expect(afterRefusals > before)
            for vault in [q.vaultId, p.vaultId] {
                try await client.execute(uri: "/v1/service/records", method: .post, headers: bearer(keys[0]), body: body(#"{"vaultId":"\#(vault.hex)",\#(record)}"#)) { r in
                    #expect(r.status == .tooManyRequests)
                    #expect((599...600).contains(Int(r.headers[.retryAfter] ?? "") ?? 0))
                }
            }
            #expect(try await denied() == afterRefusals, "a throttled request leaves no entry")
            try await client.execute(uri: "/v1/service/records", method: .post, headers: bearer(keys[1]), body: body(#"{"vaultId":"\#(p.vaultId.hex)",\#(record)}"#)) { r in
                #expect(r.status == .created, "another key is not slowed")
            }
            clock.advance(.seconds(601))
            try await client.execute(uri: "/v1/service/records", method: .post, headers: bearer(keys[0]), body: body(#"{"vaultId":"\#(p.vaultId.hex)",\#(record)}"#)) { r in
                #expect(r.status == .created, "a new window")
            }
        }
    }

    @Test func serviceAppendsOverHTTPOnlyWhereAuthorisedAndNotOnceRevoked() async throws {
        let f = try await ServiceRoutesFixture.make()
        defer { Task { await f.tearDown() } }
        let s = f.server.service
        _ = try await s.createAdministrator(name: "a", password: Secret(utf8: "admin-password"))
        let admin = try f.server.sessions.open(.administrator(name: "a", enrolment: try #require(try await s.administratorEnrolment("a"))))
        _ = try await s.createPatient(email: "p@example.jp", nickname: "p", password: Secret(utf8: "pw"))
        _ = try await s.createPatient(email: "q@example.jp", nickname: "q", password: Secret(utf8: "pw2"))
        let p = try await s.unlockPatient(email: "p@example.jp", password: Secret(utf8: "pw"))
        let q = try await s.unlockPatient(email: "q@example.jp", password: Secret(utf8: "pw2"))
        let patientToken = try f.server.sessions.open(.patient(p, email: "p@example.jp"))
        let exactData = #"{"z":123456789012345678901234567890,"a":[1.50,"\/"]}"#
        let app = Application(router: f.router())
        try await app.test(.live) { client in
            // An administrator registers a service: 201 with its id and key (shown once).
            var serviceId = "", apiKey = ""
            try await client.execute(uri: "/v1/admin/services", method: .post, headers: bearer(admin), body: body(#"{"name":"pillbox"}"#)) { r in
                #expect(r.status == .created)
                serviceId = object(r)["serviceId"] as? String ?? ""
                apiKey = object(r)["apiKey"] as? String ?? ""
            }
            #expect(serviceId.count == 32 && apiKey.hasPrefix("mks_"))
            try await client.execute(uri: "/v1/admin/services", method: .get, headers: bearer(admin)) { r in
                #expect(r.status == .ok)
                let list = object(r)["services"] as? [[String: Any]] ?? []
                #expect(list.count == 1 && list.first?["serviceId"] as? String == serviceId && list.first?["revoked"] as? Bool == false)
                #expect(!String(buffer: r.body).contains(apiKey), "the key is never listed")
            }
            // Not an administrator: the patient's session is refused on admin routes.
            try await client.execute(uri: "/v1/admin/services", method: .get, headers: bearer(patientToken)) { r in #expect(r.status == .forbidden) }

            // The patient authorises it (204); an unknown service is 404.
            try await client.execute(uri: "/v1/patient/services", method: .post, headers: bearer(patientToken), body: body(#"{"serviceId":"\#(serviceId)","password":"pw"}"#)) { r in
                #expect(r.status == .noContent)
            }
            try await client.execute(uri: "/v1/patient/services", method: .post, headers: bearer(patientToken),
                                     body: body(#"{"serviceId":"\#(String(repeating: "ab", count: 16))","password":"pw"}"#)) { r in #expect(r.status == .notFound) }

            // Appends: the authorised vault by id and by e-mail 201; the other vault, an unknown vault and an unknown
            // address all 404 alike.
            let record = #""type":"dose","data":{"taken":true}"#
            try await client.execute(uri: "/v1/service/records", method: .post, headers: bearer(apiKey), body: body(#"{"vaultId":"\#(p.vaultId.hex)",\#(record)}"#)) { r in
                #expect(r.status == .created)
                #expect(object(r)["seq"] as? Int != nil)
            }
            try await client.execute(uri: "/v1/service/records", method: .post, headers: bearer(apiKey), body: body(#"{"patientEmail":"p@example.jp",\#(record)}"#)) { r in
                #expect(r.status == .created)
            }
            // The data is stored as sent: member order, escapes and numbers beyond a double's precision kept.
            try await client.execute(uri: "/v1/service/records", method: .post, headers: bearer(apiKey),
                                     body: body(#"{"type":"device-reading", "d\u0061ta" : \#(exactData) ,"vaultId":"\#(p.vaultId.hex)"}"#)) { r in
                #expect(r.status == .created)
            }
            var notFound: [String] = []
            for target in [#""vaultId":"\#(q.vaultId.hex)""#, #""vaultId":"\#(String(repeating: "cd", count: 16))""#,
                           #""patientEmail":"q@example.jp""#, #""patientEmail":"nobody@example.jp""#] {
                try await client.execute(uri: "/v1/service/records", method: .post, headers: bearer(apiKey), body: body("{\(target),\(record)}")) { r in
                    #expect(r.status == .notFound, "\(target)")
                    notFound.append(String(buffer: r.body))
                }
            }
            #expect(Set(notFound).count == 1, "the same answer for every vault the service may not write to")
            // A regimen decides when doses are due: no service may write one (403, before any vault is looked up:
            // the same answer for a vault it may write to and one it may not).
            let regimen = #""type":"medication-request","data":{"effectiveFrom":"2026-11-01","phases":[{"name":"p","start":"2026-11-01","end":"2026-11-02","medications":[{"medication":"isoniazid","dose":{"value":"300","unit":"mg"},"timeOfDay":["08:00"]}]}]}"#
            for target in [#""vaultId":"\#(p.vaultId.hex)""#, #""vaultId":"\#(q.vaultId.hex)""#] {
                try await client.execute(uri: "/v1/service/records", method: .post, headers: bearer(apiKey), body: body("{\(target),\(regimen)}")) { r in
                    #expect(r.status == .forbidden, "\(target)")
                    #expect(object(r)["field"] as? String == "/type")
                }
            }
            // Exactly one of vaultId and patientEmail.
            for target in ["", #""vaultId":"\#(p.vaultId.hex)","patientEmail":"p@example.jp","#] {
                try await client.execute(uri: "/v1/service/records", method: .post, headers: bearer(apiKey), body: body("{\(target)\(record)}")) { r in
                    #expect(r.status == .badRequest)
                }
            }
            // A service key opens no session: not on patient routes (no read route exists for it).
            try await client.execute(uri: "/v1/patient/records", method: .get, headers: bearer(apiKey)) { r in #expect(r.status == .unauthorized) }
            try await client.execute(uri: "/v1/service/records", method: .get, headers: bearer(apiKey)) { r in
                #expect(r.status == .methodNotAllowed && r.headers[.allow] == "POST")
            }

            // Revoked: the next request is refused (401), with the same answer as a malformed or unknown key.
            try await client.execute(uri: "/v1/admin/services/\(serviceId)/revoke", method: .post, headers: bearer(admin)) { r in #expect(r.status == .noContent) }
            try await client.execute(uri: "/v1/admin/services/\(String(repeating: "ef", count: 16))/revoke", method: .post, headers: bearer(admin)) { r in
                #expect(r.status == .notFound)
            }
            var refusals: [String] = []
            for key in [apiKey, "mks_" + String(repeating: "0", count: 76), "not-a-key", String(apiKey.dropLast()) + "A"] {
                try await client.execute(uri: "/v1/service/records", method: .post, headers: bearer(key), body: body(#"{"vaultId":"\#(p.vaultId.hex)",\#(record)}"#)) { r in
                    #expect(r.status == .unauthorized)
                    refusals.append(String(buffer: r.body))
                }
            }
            #expect(Set(refusals).count == 1)
            // A revoked service cannot be authorised any more.
            try await client.execute(uri: "/v1/patient/services", method: .post, headers: bearer(patientToken), body: body(#"{"serviceId":"\#(serviceId)","password":"pw"}"#)) { r in
                #expect(r.status == .notFound)
            }
        }
        // Two appends by the service are in the patient's vault, nothing in the other.
        #expect(try await s.records(p).records.filter { $0.type == "dose" }.count == 2)
        #expect(try await s.records(p).records.filter { $0.type == "device-reading" }.map(\.data) == [Array(exactData.utf8)])
        #expect(try await s.records(q).records.filter { $0.type == "dose" }.isEmpty)
    }

    @Test func infoReportsTheStoresJurisdiction() async throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("mikata-jur-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        chmod(base, 0o700)
        defer { try? FileManager.default.removeItem(atPath: base) }
        var vc = VaultServiceConfiguration()
        vc.passwordCost = .minimumForTesting
        let service = try await VaultService.initialize(storePath: "\(base)/store", rootKey: .directory("\(base)/keys"), configuration: vc,
                                                        jurisdiction: "de").service
        let server = MikataServer(configuration: ServerConfiguration(), service: service, logger: Logger(label: "test"))
        defer { Task { await server.stop() } }
        try await Application(router: server.router()).test(.router) { client in
            try await client.execute(uri: "/v1/info", method: .get) { r in
                #expect(object(r)["jurisdiction"] as? String == "DE")
            }
        }
    }
}
