import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing
@testable import MikataServer

/// Login throttling before Argon2id (NIST SP 800-63B §5.2.2): after the configured failures an account answers 429
/// with `Retry-After`, even to the right password; an unknown e-mail throttles exactly like a known one; one client
/// address failing across many accounts waits out its window. Recovery is throttled by the client's address only, and
/// a successful one ends the account's lock.
@Suite struct ThrottleTests {
    /// How many `denied` entries the patient's access log shows.
    static func deniedEntries(_ c: any TestClientProtocol, patientToken: String) async throws -> Int {
        let log = try await c.get("/v1/patient/access-log", token: patientToken)
        return try #require(log.json["entries"] as? [[String: Any]]).filter { ($0["outcome"] as? String) == "denied" }.count
    }

    @Test func anAccountLocksAfterItsFailuresAndAnUnknownAddressLocksAlike() async throws {
        let clock = ServerFixture.ManualClock()  // time stands still: a loaded machine does not shorten Retry-After
        let f = try await ServerFixture.make(clock: clock) {
            $0.freeFailures = 3; $0.accountFailureLimit = 3; $0.accountLockout = .seconds(600)
        }
        try await f.run { c in
            let known = try await c.patient("known@example.com", "right")
            _ = try await c.supporter("sknown@example.com", "right")
            var refusals: [Answer] = []
            for (route, email) in [("/v1/patients/login", "known@example.com"), ("/v1/patients/login", "unknown@example.com"),
                                   ("/v1/supporters/login", "sknown@example.com"), ("/v1/supporters/login", "sunknown@example.com")] {
                var failures: [Answer] = []
                for _ in 0..<3 { failures.append(try await c.post(route, #"{"email":"\#(email)","password":"wrong"}"#)) }
                #expect(failures.allSatisfy { $0.code == 401 && $0.problem == "authentication-failed" }, "\(email)")
                let refused = try await c.post(route, #"{"email":"\#(email)","password":"right"}"#)
                #expect(refused.code == 429 && refused.problem == "throttled" && refused.isProblem, "\(email): \(refused.body)")
                let retry = Int(refused.headers[.retryAfter] ?? "") ?? 0
                #expect((599...600).contains(retry), "\(email): Retry-After \(retry)")
                refusals.append(refused)
            }
            #expect(Set(refusals.map(\.body)).count == 1, "known and unknown addresses are refused alike")
            // Recovery is not locked with the login (whoever knows the address could otherwise keep the patient out of
            // both): a wrong code is a plain 401, counted by the client's address; the right code sets the new
            // password and ends the login's lock.
            let wrongCode = try await c.post("/v1/patients/recover",
                                             #"{"email":"known@example.com","recoveryCode":"\#(String(repeating: "0", count: 40))","newPassword":"n"}"#)
            #expect(wrongCode.code == 401, "\(wrongCode.body)")
            let recovered = try await c.post("/v1/patients/recover",
                                             #"{"email":"known@example.com","recoveryCode":"\#(known.recoveryCode)","newPassword":"new right"}"#)
            #expect(recovered.code == 200, "\(recovered.body)")
            #expect(try await c.post("/v1/patients/login", #"{"email":"known@example.com","password":"new right"}"#).code == 200)
            // Another account is not affected.
            _ = try await c.patient("other@example.com", "right")
        }
    }

    @Test func aSupporterRefusedTooOftenWaitsOutTheWindowWithoutTouchingAVault() async throws {
        let clock = ServerFixture.ManualClock()
        let f = try await ServerFixture.make(clock: clock) { $0.refusalLimit = 3; $0.refusalWindow = .seconds(600) }
        try await f.run { c in
            let p = try await c.patient("probed@example.com", "patient pw")
            let prober = try await c.supporter("prober@example.com")
            let other = try await c.supporter("other@example.com")
            // The prober's own patient: reads of it succeed and never count.
            let own = try await c.patient("own@example.com", "own pw")
            try await c.link(patientToken: own.token, supporterEmail: "prober@example.com", fingerprint: prober.fingerprint, patientPassword: "own pw")
            for _ in 0..<5 {
                #expect(try await c.get("/v1/supporter/patients/\(own.vaultId)/records", token: prober.token).code == 200)
            }
            func denied() async throws -> Int { try await Self.deniedEntries(c, patientToken: p.token) }
            let before = try await denied()
            let probe = "/v1/supporter/patients/\(p.vaultId)/records"
            for _ in 0..<3 {
                let r = try await c.get(probe, token: prober.token)
                #expect(r.code == 403 || r.code == 404, "\(r.body)")
            }
            let afterRefusals = try await denied()
            #expect(afterRefusals > before, "a refusal on the patient's vault is in the patient's log")
            // The limit reached: every request of that account on a patient's vault waits, its own patient's too, and
            // no vault is touched; its own routes (its list, logout) still answer.
            for path in [probe, "/v1/supporter/patients/\(own.vaultId)/records"] {
                let r = try await c.get(path, token: prober.token)
                #expect(r.code == 429 && r.problem == "throttled", "\(path): \(r.body)")
                #expect((599...600).contains(Int(r.headers[.retryAfter] ?? "") ?? 0), "\(r.headers)")
            }
            #expect(try await c.get("/v1/supporter/patients", token: prober.token).code == 200, "the account's own list is never throttled")
            // Empty segments, which the router drops, do not step around the count.
            for path in ["/v1//supporter/patients/\(p.vaultId)/records", "/v1/supporter//patients/\(p.vaultId)/records",
                         "/v1/supporter/patients//\(p.vaultId)/records"] {
                let r = try await c.get(path, token: prober.token)
                #expect(r.code == 429, "\(path): \(r.code) \(r.body)")
            }
            #expect(try await denied() == afterRefusals, "a throttled request leaves no entry")
            #expect(try await c.get("/v1/supporter/patients", token: other.token).code == 200, "another supporter is not slowed")
            let refusedOther = try await c.get(probe, token: other.token)
            #expect(refusedOther.code == 403 || refusedOther.code == 404)
            clock.advance(.seconds(601))
            let again = try await c.get(probe, token: prober.token)
            #expect(again.code == 403 || again.code == 404, "a new window: \(again.body)")
            let logout = try await c.post("/v1/sessions/logout-all", "{}", token: prober.token)
            #expect(logout.code / 100 == 2, "\(logout.body)")
        }
    }

    @Test func parallelProbesCannotOvershootTheRefusalLimit() async throws {
        let clock = ServerFixture.ManualClock()
        let f = try await ServerFixture.make(clock: clock) { $0.refusalLimit = 3; $0.refusalWindow = .seconds(600) }
        try await f.run { c in
            let p = try await c.patient("probed2@example.com", "patient pw")
            let prober = try await c.supporter("prober2@example.com")
            func denied() async throws -> Int { try await Self.deniedEntries(c, patientToken: p.token) }
            let before = try await denied()
            let codes = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<40 {
                    group.addTask { try await c.get("/v1/supporter/patients/\(p.vaultId)/records", token: prober.token).code }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(codes.filter { $0 == 403 || $0 == 404 }.count <= 3, "\(codes)")
            #expect(codes.filter { $0 == 429 }.count >= 37, "\(codes)")
            #expect(try await denied() - before <= 3, "no more refusals reach the patient's log than the limit")
        }
    }

    @Test func aSuccessResetsTheCount() async throws {
        let f = try await ServerFixture.make { $0.freeFailures = 3; $0.accountFailureLimit = 3 }
        try await f.run { c in
            _ = try await c.patient("reset@example.com", "right")
            for _ in 0..<2 { #expect(try await c.post("/v1/patients/login", #"{"email":"reset@example.com","password":"no"}"#).code == 401) }
            #expect(try await c.post("/v1/patients/login", #"{"email":"reset@example.com","password":"right"}"#).code == 200)
            for _ in 0..<2 { #expect(try await c.post("/v1/patients/login", #"{"email":"reset@example.com","password":"no"}"#).code == 401) }
            #expect(try await c.post("/v1/patients/login", #"{"email":"reset@example.com","password":"right"}"#).code == 200)
        }
    }

    @Test func oneAddressFailingAcrossAccountsWaitsOutItsWindow() async throws {
        // The server's time stands still (a manual clock): how long the logins take under load does not matter.
        let clock = ServerFixture.ManualClock()
        let f = try await ServerFixture.make(clock: clock) { $0.ipFailureLimit = 4; $0.ipWindow = .seconds(300) }
        try await f.run { c in
            for i in 0..<4 {
                #expect(try await c.post("/v1/patients/login", #"{"email":"spray\#(i)@example.com","password":"guess"}"#).code == 401)
            }
            let refused = try await c.post("/v1/supporters/login", #"{"email":"fresh@example.com","password":"guess"}"#)
            #expect(refused.code == 429 && refused.problem == "throttled")
            #expect((299...300).contains(Int(refused.headers[.retryAfter] ?? "") ?? 0), "\(refused.headers)")
            clock.advance(.seconds(301))  // the window has passed: the address may try again
            #expect(try await c.post("/v1/supporters/login", #"{"email":"fresh@example.com","password":"guess"}"#).code == 401)
        }
    }
}
