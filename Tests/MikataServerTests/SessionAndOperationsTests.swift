import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing
@testable import MikataServer

/// Sessions (logout, log out everywhere, idle timeout) and the operations routes.
@Suite struct SessionAndOperationsTests {
    @Test func logoutEndsOnlyThisToken() async throws {
        let f = try await ServerFixture.make()
        try await f.run { c in
            let p = try await c.patient("lo@example.com", "pw")
            let other = try #require(try await c.post("/v1/patients/login", #"{"email":"lo@example.com","password":"pw"}"#).string("token"))
            let out = try await c.post("/v1/sessions/logout", token: p.token)
            #expect(out.code == 204)
            let after = try await c.get("/v1/patient/records", token: p.token)
            #expect(after.code == 401 && after.problem == "unauthenticated" && after.headers[.wwwAuthenticate] == "Bearer")
            #expect(try await c.post("/v1/sessions/logout", token: p.token).code == 401)
            #expect(try await c.get("/v1/patient/records", token: other).code == 200)
            #expect(f.server.openSessions == 1)
        }
    }

    @Test func logoutAllEndsEveryTokenOfTheAccountOnly() async throws {
        let f = try await ServerFixture.make()
        try await f.run { c in
            let p = try await c.patient("la@example.com", "pw")
            let second = try #require(try await c.post("/v1/patients/login", #"{"email":"la@example.com","password":"pw"}"#).string("token"))
            let bystander = try await c.patient("by@example.com", "pw")
            let s = try await c.supporter("ls@example.com", "pw")
            let s2 = try #require(try await c.post("/v1/supporters/login", #"{"email":"ls@example.com","password":"pw"}"#).string("token"))
            #expect(try await c.post("/v1/sessions/logout-all", token: second).code == 204)
            #expect(try await c.get("/v1/patient/records", token: p.token).code == 401)
            #expect(try await c.get("/v1/patient/records", token: second).code == 401)
            #expect(try await c.get("/v1/patient/records", token: bystander.token).code == 200)
            #expect(try await c.post("/v1/sessions/logout-all", token: s.token).code == 204)
            #expect(try await c.get("/v1/supporter/patients", token: s2).code == 401)
            let admin = try f.server.sessions.open(.administrator(name: "ops", enrolment: ""))
            #expect(try await c.post("/v1/sessions/logout", token: admin).code == 204)
            #expect(try await c.post("/v1/sessions/logout", token: admin).code == 401)
            #expect(try await c.post("/v1/sessions/logout-all").code == 401)
        }
    }

    @Test func anIdleSessionEnds() async throws {
        let clock = ServerFixture.ManualClock()
        let f = try await ServerFixture.make(clock: clock) { $0.sessionIdleTimeout = .seconds(1) }
        try await f.run { c in
            let p = try await c.patient("idle@example.com")
            #expect(try await c.get("/v1/patient/records", token: p.token).code == 200)
            clock.advance(.milliseconds(1_500))
            let late = try await c.get("/v1/patient/records", token: p.token)
            #expect(late.code == 401 && late.problem == "unauthenticated")
            #expect(f.server.openSessions == 0, "the expired session is closed, its keys zeroed")
        }
    }

    @Test func malformedBearerHeaders() async throws {
        let f = try await ServerFixture.make()
        try await f.run { c in
            for value in ["Basic abc", "Bearer", "Bearer ", "bearer " + String(repeating: "a", count: 600), "Token x"] {
                let r = try await c.call(.get, "/v1/patient/records", headers: [.authorization: value])
                #expect(r.code == 401 && r.problem == "unauthenticated", "\(value.prefix(20))")
            }
        }
    }

    @Test func operationsRoutes() async throws {
        let f = try await ServerFixture.make()
        try await f.run { c in
            let health = try await c.get("/healthz")
            #expect(health.code == 200 && health.string("status") == "ok")
            let ready = try await c.get("/readyz")
            #expect(ready.code == 200 && ready.string("status") == "ready" && ready.string("store") == "open"
                    && ready.string("rootKey") == "present", "\(ready.body)")
            let info = try await c.get("/v1/info")
            #expect(info.code == 200 && info.string("api") == "v1" && info.string("jurisdiction") == "JP" && info.string("version") != nil)
            let metrics = try await c.get("/metrics")
            #expect(metrics.code == 200 && metrics.headers[.contentType]?.hasPrefix("text/plain") == true)
            #expect(metrics.body.contains("mikata_http_requests_total") && metrics.body.contains("mikata_sessions_open"))
            let missing = try await c.get("/v1/nothing-here")
            #expect(missing.code == 404 && missing.isProblem && missing.problem == "not-found")
            // A path served with other methods: 405 naming them (RFC 9110 §15.5.6), also where the path has a capture.
            let wrongMethod = try await c.get("/v1/patients")
            #expect(wrongMethod.code == 405 && wrongMethod.problem == "method-not-allowed" && wrongMethod.headers[.allow] == "POST",
                    "\(wrongMethod.body)")
            let captured = try await c.call(.delete, "/v1/supporter/patients/\(String(repeating: "ab", count: 16))/records")
            #expect(captured.code == 405 && captured.headers[.allow] == "GET", "\(captured.headers)")
            #expect(try await c.call(.head, "/v1/info").headers[.allow] == "GET")
            #expect(try await c.call(.delete, "/v1/supporter/patients/x/y/z").code == 404)
        }
    }
}
