import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing
@testable import MikataServer

/// Bad input on every route with a body (issue 9 §3): malformed JSON, a non-object, an unknown member, a wrong
/// type, a missing member → 400 naming the member (RFC 9457 `field`); a body over `http.maxBodyBytes` → 413;
/// and nothing written.
@Suite struct BadInputTests {
    /// A route with a body: who calls it, a valid body, and a required string member to break.
    struct BodyRoute: Sendable {
        let path: String
        let role: String  // "none", "patient", "supporter"
        let body: [String: String]
        let required: String
    }

    static func routes(vaultId: String) -> [BodyRoute] {
        [
            .init(path: "/v1/patients", role: "none", body: ["email": "new@example.com", "nickname": "N", "password": "p"], required: "nickname"),
            .init(path: "/v1/patients/login", role: "none", body: ["email": "bp@example.com", "password": "pw"], required: "password"),
            .init(path: "/v1/patients/recover", role: "none",
                  body: ["email": "bp@example.com", "recoveryCode": "x", "newPassword": "n"], required: "recoveryCode"),
            .init(path: "/v1/patient/records", role: "patient", body: ["type": "note", "data": "d"], required: "type"),
            .init(path: "/v1/patient/supporters", role: "patient", body: ["email": "bs@example.com", "fingerprint": "f", "password": "pw"], required: "fingerprint"),
            .init(path: "/v1/patient/supporters/revoke", role: "patient", body: ["email": "bs@example.com"], required: "email"),
            .init(path: "/v1/patient/password", role: "patient", body: ["currentPassword": "pw", "newPassword": "n"], required: "newPassword"),
            .init(path: "/v1/patient/delete", role: "patient", body: ["password": "pw"], required: "password"),
            .init(path: "/v1/supporters", role: "none", body: ["email": "ns@example.com", "name": "S", "password": "p"], required: "name"),
            .init(path: "/v1/supporters/login", role: "none", body: ["email": "bs@example.com", "password": "pw"], required: "email"),
            .init(path: "/v1/supporter/patients/\(vaultId)/messages", role: "supporter", body: ["text": "hi"], required: "text"),
            .init(path: "/v1/supporter/password", role: "supporter", body: ["currentPassword": "pw", "newPassword": "n"], required: "currentPassword"),
            .init(path: "/v1/supporter/delete", role: "supporter", body: ["password": "pw"], required: "password"),
        ]
    }

    static func json(_ d: [String: Any]) -> String {
        String(decoding: try! JSONSerialization.data(withJSONObject: d, options: [.sortedKeys]), as: UTF8.self)
    }

    // Second review, L7: what anyone may send (registration, login, recovery) is refused over 16 KiB, before it is
    // parsed or throttled; a signed-in client's record still takes up to `http.maxBodyBytes` (1 MiB by default).
    @Test func publicRoutesTakeSmallBodiesOnly() async throws {
        let f = try await ServerFixture.make()
        try await f.run { c in
            let p = try await c.patient("pb@example.com", "pw")
            let padding = String(repeating: "x", count: 20_000)
            for (path, body) in [("/v1/patients/login", #"{"email":"pb@example.com","password":"\#(padding)"}"#),
                                 ("/v1/patients", #"{"email":"big@example.com","nickname":"N","password":"\#(padding)"}"#),
                                 ("/v1/supporters/login", #"{"email":"pb@example.com","password":"\#(padding)"}"#),
                                 ("/v1/patients/recover", #"{"email":"pb@example.com","recoveryCode":"\#(padding)","newPassword":"n"}"#)] {
                let r = try await c.post(path, body)
                #expect(r.code == 413 && r.problem == "payload-too-large", "\(path): \(r.body)")
            }
            let record = try await c.post("/v1/patient/records", #"{"type":"note","data":{"text":"\#(padding)"}}"#, token: p.token)
            #expect(record.code == 201, "\(record.body)")
        }
    }

    @Test func everyBodyRouteRefusesBadInputAndWritesNothing() async throws {
        let f = try await ServerFixture.make { $0.maxBodyBytes = 4096 }
        try await f.run { c in
            let p = try await c.patient("bp@example.com", "pw")
            let s = try await c.supporter("bs@example.com", "pw")
            try await c.link(patientToken: p.token, supporterEmail: "bs@example.com", fingerprint: s.fingerprint, patientPassword: "pw")
            let before = try await f.recordCount(email: "bp@example.com", password: "pw")
            let routes = Self.routes(vaultId: p.vaultId)
            #expect(routes.count == 13)

            for route in routes {
                let token = route.role == "patient" ? p.token : route.role == "supporter" ? s.token : nil
                func send(_ text: String) async throws -> Answer { try await c.post(route.path, text, token: token) }
                let name = route.path

                let malformed = try await send(#"{"email": "#)
                #expect(malformed.code == 400 && malformed.problem == "malformed-request" && malformed.isProblem, "\(name)")
                let empty = try await send("")
                #expect(empty.code == 400 && empty.problem == "malformed-request", "\(name) empty: \(empty.body)")
                for nonObject in ["[1,2]", "\"text\"", "42", "null"] {
                    let r = try await send(nonObject)
                    #expect(r.code == 400 && r.field == "", "\(name) \(nonObject): \(r.body)")
                }
                var unknown: [String: Any] = route.body
                unknown["isAdmin"] = true
                let u = try await send(Self.json(unknown))
                #expect(u.code == 400 && u.field == "/isAdmin", "\(name): \(u.body)")
                var wrongType: [String: Any] = route.body
                wrongType[route.required] = 12345
                let w = try await send(Self.json(wrongType))
                #expect(w.code == 400 && w.field == "/\(route.required)", "\(name): \(w.body)")
                var nested: [String: Any] = route.body
                nested[route.required] = ["a": 1]
                let n = try await send(Self.json(nested))
                #expect(n.code == 400 && n.field == "/\(route.required)", "\(name): \(n.body)")
                var missing: [String: Any] = route.body
                missing[route.required] = nil
                let m = try await send(Self.json(missing))
                #expect(m.code == 400 && m.field == "/\(route.required)" && m.detail?.contains("missing") == true, "\(name): \(m.body)")
                let twice = try await send("{\"\(route.required)\":\"x\"," + Self.json(route.body).dropFirst())
                #expect(twice.code == 400 && twice.problem == "malformed-request", "\(name) duplicate member: \(twice.body)")
                var big: [String: Any] = route.body
                big[route.required] = String(repeating: "x", count: 5000)
                let b = try await send(Self.json(big))
                #expect(b.code == 413 && b.problem == "payload-too-large" && b.isProblem, "\(name): \(b.body)")
            }
            // Wrong types of the other members too: a Bool, JSON `data` of any kind is fine.
            let reencrypt = try await c.post("/v1/patient/supporters/revoke", #"{"email":"bs@example.com","reencrypt":"yes"}"#, token: p.token)
            #expect(reencrypt.code == 400 && reencrypt.field == "/reencrypt")
            let nullName = try await c.post("/v1/patient/supporters", #"{"email":"bs@example.com","fingerprint":"f","name":7,"password":"pw"}"#, token: p.token)
            #expect(nullName.code == 400 && nullName.field == "/name")
            // What the service refuses in a record names its member too: the type, the data, a member inside it.
            let badType = try await c.post("/v1/patient/records", #"{"type":"Not A Type","data":1}"#, token: p.token)
            #expect(badType.code == 400 && badType.problem == "invalid-input" && badType.field == "/type", "\(badType.body)")
            let reserved = try await c.post("/v1/patient/records", #"{"type":"mikata.key","data":1}"#, token: p.token)
            #expect(reserved.code == 400 && reserved.field == "/type", "\(reserved.body)")
            let badDose = try await c.post("/v1/patient/records", #"{"type":"dose-event","data":{"status":"eaten"}}"#, token: p.token)
            #expect(badDose.code == 400 && badDose.problem == "invalid-input" && (badDose.field ?? "").hasPrefix("/data"), "\(badDose.body)")

            // Nothing written: no record, no account, the supporter still linked, the passwords unchanged.
            #expect(try await f.recordCount(email: "bp@example.com", password: "pw") == before)
            #expect(try await c.post("/v1/patients/login", #"{"email":"new@example.com","password":"p"}"#).code == 401)
            #expect(try await c.post("/v1/supporters/login", #"{"email":"ns@example.com","password":"p"}"#).code == 401)
            #expect(try await c.get("/v1/supporter/patients/\(p.vaultId)/records", token: s.token).code == 200)
            #expect(try await c.post("/v1/supporters/login", #"{"email":"bs@example.com","password":"pw"}"#).code == 200)
            #expect(try await c.get("/v1/patient/records", token: p.token).code == 200, "the patient's session is still open")
        }
    }
}

extension Answer {
    var detail: String? { string("detail") }
}
