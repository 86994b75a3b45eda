import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import Logging
@testable import MikataServer
@_spi(Testing) import MikataService
import NIOCore
import Testing

/// A server over a throwaway store with cheap Argon2id (this file's own, so other suites' fixtures do not clash).
private func makeServer(_ configure: (inout ServerConfiguration) -> Void = { _ in }) async throws -> (MikataServer, String) {
    let base = FileManager.default.temporaryDirectory.appendingPathComponent("mikata-shutdown-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
    chmod(base, 0o700)
    var vc = VaultServiceConfiguration()
    vc.passwordCost = .minimumForTesting
    let (service, _) = try await VaultService.initialize(storePath: base + "/store", rootKey: .directory(base + "/keys"), configuration: vc)
    var c = ServerConfiguration()
    c.storePath = base + "/store"
    configure(&c)
    return (MikataServer(configuration: c, service: service, logger: Logger(label: "test")), base)
}

private func body(_ s: String) -> ByteBuffer { ByteBuffer(string: s) }

@Suite struct ShutdownTests {
    @Test func stoppingEndsEverySessionAndZeroesItsKeys() async throws {
        let (server, base) = try await makeServer()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let created = try await server.service.createPatient(email: "p@example.jp", nickname: "P", password: Secret(utf8: "pw-123456"))
        _ = created
        let session = try await server.service.unlockPatient(email: "p@example.jp", password: Secret(utf8: "pw-123456"))
        let token = try server.sessions.open(.patient(session, email: "p@example.jp"))
        #expect(server.openSessions == 1 && !session.isClosed)
        await server.stop()
        #expect(server.openSessions == 0 && session.isClosed)
        #expect(server.sessions.principal(token: token) == nil)
        await #expect(throws: MikataError.self) { _ = try await server.service.records(session) }
    }

    @Test func aTokenFromLoginWorksUntilLogoutAndNotAfter() async throws {
        let (server, base) = try await makeServer()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let app = Application(router: server.router())
        try await app.test(.router) { client in
            try await client.execute(uri: "/v1/patients", method: .post,
                                     body: body(#"{"email":"q@example.jp","nickname":"Q","password":"pw-123456"}"#)) { r in
                #expect(r.status == .created)
            }
            let token = try await client.execute(uri: "/v1/patients/login", method: .post,
                                                 body: body(#"{"email":"q@example.jp","password":"pw-123456"}"#)) { r in
                #expect(r.status == .ok)
                let json = try JSONSerialization.jsonObject(with: Data(r.body.readableBytesView)) as? [String: Any]
                return json?["token"] as? String ?? ""
            }
            let auth: HTTPFields = [.authorization: "Bearer \(token)"]
            try await client.execute(uri: "/v1/patient/records", method: .get, headers: auth) { r in #expect(r.status == .ok) }
            try await client.execute(uri: "/v1/sessions/logout", method: .post, headers: auth) { r in #expect(r.status == .noContent) }
            try await client.execute(uri: "/v1/patient/records", method: .get, headers: auth) { r in
                #expect(r.status == .unauthorized)
                #expect(r.headers[.contentType] == "application/problem+json")
            }
        }
        await server.stop()
    }
}
