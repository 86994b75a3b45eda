import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing
@testable import MikataServer
import MikataService

/// The role × operation matrix (issue 9 §2): anonymous, an unknown token, a patient, a supporter and an
/// administrator against every implemented authenticated route. No credential or an unknown one: 401
/// (`unauthenticated`, `WWW-Authenticate: Bearer`); another role's session: 403 (`forbidden`); the route's own role:
/// neither. A supporter asking for a vault that does not link them gets exactly the answer for a vault that does
/// not exist.
@Suite struct RoleMatrixTests {
    struct Operation: Sendable {
        let method: HTTPRequest.Method
        let path: String
        let body: String?
        let role: String
    }

    static func operations(linked: String, spareFingerprint: String) -> [Operation] {
        [
            .init(method: .post, path: "/v1/patient/records", body: #"{"type":"note","data":1}"#, role: "patient"),
            .init(method: .get, path: "/v1/patient/records", body: nil, role: "patient"),
            .init(method: .post, path: "/v1/patient/supporters", body: #"{"email":"spare@example.com","fingerprint":"\#(spareFingerprint)","password":"pw"}"#,
                  role: "patient"),
            .init(method: .post, path: "/v1/patient/supporters/revoke", body: #"{"email":"spare@example.com"}"#, role: "patient"),
            .init(method: .post, path: "/v1/patient/password", body: #"{"currentPassword":"wrong","newPassword":"x"}"#, role: "patient"),
            .init(method: .get, path: "/v1/patient/access-log", body: nil, role: "patient"),
            .init(method: .post, path: "/v1/patient/delete", body: #"{"password":"wrong"}"#, role: "patient"),
            .init(method: .get, path: "/v1/supporter/patients", body: nil, role: "supporter"),
            .init(method: .get, path: "/v1/supporter/patients/\(linked)/records", body: nil, role: "supporter"),
            .init(method: .post, path: "/v1/supporter/patients/\(linked)/messages", body: #"{"text":"hi"}"#, role: "supporter"),
            .init(method: .post, path: "/v1/supporter/password", body: #"{"currentPassword":"wrong","newPassword":"x"}"#, role: "supporter"),
            .init(method: .post, path: "/v1/supporter/delete", body: #"{"password":"wrong"}"#, role: "supporter"),
            .init(method: .get, path: "/v1/patient/report", body: nil, role: "patient"),
            .init(method: .get, path: "/v1/patient/export?format=fhir", body: nil, role: "patient"),
            .init(method: .get, path: "/v1/supporter/dashboard", body: nil, role: "supporter"),
            .init(method: .get, path: "/v1/supporter/patients/\(linked)/report", body: nil, role: "supporter"),
            .init(method: .get, path: "/v1/supporter/patients/\(linked)/export?format=csv&file=doses", body: nil, role: "supporter"),
        ]
    }

    @Test func everyRoleAgainstEveryAuthenticatedRoute() async throws {
        let f = try await ServerFixture.make()
        try await f.run { c in
            let p = try await c.patient("mp@example.com", "pw")
            let s = try await c.supporter("ms@example.com", "pw")
            let spare = try await c.supporter("spare@example.com", "pw")
            try await c.link(patientToken: p.token, supporterEmail: "ms@example.com", fingerprint: s.fingerprint, patientPassword: "pw")
            let admin = try f.server.sessions.open(.administrator(name: "ops", enrolment: ""))
            let tokens: [(role: String, token: String?)] = [("anonymous", nil), ("unknown", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
                                                            ("patient", p.token), ("supporter", s.token), ("administrator", admin)]
            let operations = Self.operations(linked: p.vaultId, spareFingerprint: spare.fingerprint)
            #expect(operations.count == 17)
            var forbidden: [String: String] = [:]
            for op in operations {
                for (role, token) in tokens {
                    let r = try await c.call(op.method, op.path, token: token, json: op.body)
                    let cell = "\(role) × \(op.method) \(op.path)"
                    #expect(r.code < 500, "\(cell): \(r.body)")
                    switch role {
                    case "anonymous", "unknown":
                        #expect(r.code == 401 && r.problem == "unauthenticated" && r.headers[.wwwAuthenticate] == "Bearer", "\(cell)")
                    case op.role:
                        // Its own role passes the role check (a wrong re-entered password is 403 authentication-failed).
                        #expect(r.problem != "unauthenticated" && r.problem != "forbidden", "\(cell): \(r.body)")
                        #expect(r.code != 403 || r.problem == "authentication-failed", "\(cell): \(r.body)")
                    default:
                        #expect(r.code == 403 && r.problem == "forbidden" && r.isProblem, "\(cell): \(r.body)")
                        forbidden[role] = forbidden[role] ?? r.body
                        #expect(forbidden[role] == r.body, "one 403 for every route")
                    }
                }
            }
            // Every session still works: nothing above ended one or changed a password.
            #expect(try await c.get("/v1/patient/records", token: p.token).code == 200)
            #expect(try await c.get("/v1/supporter/patients", token: s.token).code == 200)

            // The session routes: any role's token, nothing without one (each role's token ends here).
            for path in ["/v1/sessions/logout", "/v1/sessions/logout-all"] {
                for (role, token) in tokens {
                    let fresh: String? = switch role {
                    case "patient": try await c.post("/v1/patients/login", #"{"email":"mp@example.com","password":"pw"}"#).string("token")
                    case "supporter": try await c.post("/v1/supporters/login", #"{"email":"ms@example.com","password":"pw"}"#).string("token")
                    case "administrator": try f.server.sessions.open(.administrator(name: "ops2", enrolment: ""))
                    default: token
                    }
                    let r = try await c.post(path, token: fresh)
                    #expect(r.code == (token == nil || role == "unknown" ? 401 : 204), "\(role) × POST \(path)")
                }
            }
        }
    }

    @Test func aSupporterCannotTellAnUnlinkedVaultFromNoVault() async throws {
        let f = try await ServerFixture.make()
        try await f.run { c in
            let linked = try await c.patient("linked@example.com", "pw")
            let unlinked = try await c.patient("unlinked@example.com", "pw")
            let revoked = try await c.patient("revoked@example.com", "pw")
            let deleted = try await c.patient("deleted@example.com", "pw")
            let s = try await c.supporter("who@example.com", "pw")
            for owner in [linked, revoked, deleted] {
                try await c.link(patientToken: owner.token, supporterEmail: "who@example.com", fingerprint: s.fingerprint, patientPassword: "pw")
            }
            #expect(try await c.post("/v1/patient/supporters/revoke", #"{"email":"who@example.com"}"#, token: revoked.token).code == 200)
            #expect(try await c.post("/v1/patient/delete", #"{"password":"pw"}"#, token: deleted.token).code == 200)
            let admin = try f.server.sessions.open(.administrator(name: "ops", enrolment: ""))

            let nowhere = String(repeating: "ab", count: 16)
            let hidden = [unlinked.vaultId, revoked.vaultId, deleted.vaultId, nowhere, "not-a-vault-id", String(repeating: "Z", count: 32)]
            for (method, suffix, body) in [(HTTPRequest.Method.get, "records", nil as String?), (.post, "messages", #"{"text":"hi"}"#),
                                           (.get, "records?limit=5", nil), (.get, "report", nil), (.get, "export?format=fhir", nil)] {
                let ok = try await c.call(method, "/v1/supporter/patients/\(linked.vaultId)/\(suffix)", token: s.token, json: body)
                #expect(ok.code == 200 || ok.code == 201, "\(ok.body)")
                var answers: Set<String> = []
                for id in hidden {
                    let r = try await c.call(method, "/v1/supporter/patients/\(id)/\(suffix)", token: s.token, json: body)
                    #expect(r.code == 404 && r.problem == "not-found", "\(id) \(suffix): \(r.body)")
                    answers.insert("\(r.code) \(r.headers[.contentType] ?? "") \(r.body)")
                }
                #expect(answers.count == 1, "one answer for every vault the supporter may not see: \(answers)")
                // Other roles get one 403 whether or not the vault exists.
                for token in [linked.token, admin] {
                    let existing = try await c.call(method, "/v1/supporter/patients/\(linked.vaultId)/\(suffix)", token: token, json: body)
                    let none = try await c.call(method, "/v1/supporter/patients/\(nowhere)/\(suffix)", token: token, json: body)
                    #expect(existing.code == 403 && existing.body == none.body)
                }
            }
            // The linked patients list names only the linked vault.
            let list = try await c.get("/v1/supporter/patients", token: s.token)
            #expect((list.json["patients"] as? [[String: Any]])?.compactMap { $0["vaultId"] as? String } == [linked.vaultId])
        }
    }
}

/// The rest of the matrix: the administrator's and the services' routes against every kind of credential, over a
/// loopback socket (the admin allowlist needs a peer address). Administrators: only an administrator session passes
/// (anonymous, unknown and service-key credentials are 401 — a service key is not a session; patient and supporter
/// sessions are 403). Services: only a registered service's API key passes (every session token is 401: it is not
/// an API key). Nobody but a patient authorises a service (403 for the other sessions).
@Suite struct AdminAndServiceRoleMatrixTests {
    @Test func everyCredentialAgainstTheAdministratorAndServiceRoutes() async throws {
        let f = try await ServerFixture.make()
        _ = try await f.service.createAdministrator(name: "ops", password: Secret(utf8: "admin password"))
        try await f.run(live: true) { c in
            let p = try await c.patient("mp@example.com", "pw")
            let s = try await c.supporter("ms@example.com", "pw")
            let admin = try f.server.sessions.open(.administrator(name: "ops", enrolment: try #require(try await f.service.administratorEnrolment("ops"))))
            let registered = try await c.post("/v1/admin/services", #"{"name":"matrix"}"#, token: admin)
            let apiKey = try #require(registered.string("apiKey"))
            let serviceId = try #require(registered.string("serviceId"))
            #expect(try await c.post("/v1/patient/services", #"{"serviceId":"\#(serviceId)","password":"pw"}"#, token: p.token).code == 204)
            let credentials: [(role: String, token: String?)] = [
                ("anonymous", nil), ("unknown", String(repeating: "A", count: 43)), ("patient", p.token), ("supporter", s.token),
                ("administrator", admin), ("service", apiKey)]
            let none = String(repeating: "ab", count: 16)
            let adminOperations: [(HTTPRequest.Method, String, String?)] = [
                (.get, "/v1/admin/audit", nil), (.get, "/v1/admin/audit/verify", nil), (.get, "/v1/admin/shred-requests", nil),
                (.post, "/v1/admin/shred-requests", #"{"email":"nobody@example.com","reason":"r","requestedBy":"hc","reference":"1"}"#),
                (.post, "/v1/admin/shred-requests/\(none)/approve", #"{"email":"nobody@example.com"}"#), (.post, "/v1/admin/certificates/verify", #"{"certificate":{}}"#),
                (.get, "/v1/admin/tombstones", nil), (.get, "/v1/admin/services", nil), (.post, "/v1/admin/services", #"{"name":"x"}"#),
                (.post, "/v1/admin/services/\(none)/revoke", nil)]
            for (method, path, body) in adminOperations {
                for (role, token) in credentials {
                    let r = try await c.call(method, path, token: token, json: body)
                    let cell = "\(role) × \(method) \(path)"
                    #expect(r.code < 500 && r.isProblem || r.code < 300, "\(cell): \(r.body)")
                    switch role {
                    case "administrator": #expect(r.code != 401 && r.code != 403, "\(cell): \(r.body)")
                    case "patient", "supporter": #expect(r.code == 403 && r.problem == "forbidden", "\(cell): \(r.body)")
                    default: #expect(r.code == 401 && r.problem == "unauthenticated", "\(cell): \(r.body)")
                    }
                }
            }
            let append = #"{"vaultId":"\#(p.vaultId)","type":"reminder","data":{"n":1}}"#
            for (role, token) in credentials {
                let r = try await c.call(.post, "/v1/service/records", token: token, json: append)
                #expect(role == "service" ? r.code == 201 : r.code == 401, "\(role) × POST /v1/service/records: \(r.body)")
                let authorise = try await c.call(.post, "/v1/patient/services", token: token, json: #"{"serviceId":"\#(serviceId)","password":"pw"}"#)
                switch role {
                case "patient": #expect(authorise.code == 204)
                case "supporter", "administrator": #expect(authorise.code == 403, "\(role) authorising: \(authorise.body)")
                default: #expect(authorise.code == 401, "\(role) authorising: \(authorise.body)")
                }
            }
            // An administrator reads no health data: no admin route returns a record, and the audit log has ids only.
            let audit = try await c.get("/v1/admin/audit", token: admin)
            #expect(!audit.body.contains("mp@example.com") && !audit.body.contains("\"n\":1"))
        }
    }
}
