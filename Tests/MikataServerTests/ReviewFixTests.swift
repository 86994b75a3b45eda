import Foundation
import HTTPTypes
import Logging
@testable import MikataServer
@_spi(Testing) @testable import MikataService
import MikataCrypto
import MikataVault
import Testing

/// The attacker review's findings on the HTTP service, each shown fixed.
@Suite struct ReviewFixTests {
    // H1: every spelling of one address shares one allowance.
    @Test func throttleAccountsUseTheStoresAddressRules() {
        let a = MikataServer.throttleAccount("patient:victim@example.com")
        for variant in ["patient: victim@example.com", "patient:victim@example.com  ", "patient:\tvictim@example.com",
                        "patient:\u{ff56}ictim@example.com", "patient:VICTIM@example.com", "patient:\u{ff56}ictim@example.com "] {
            #expect(LoginThrottle.key(MikataServer.throttleAccount(variant)) == LoginThrottle.key(a), "\(variant)")
        }
        #expect(MikataServer.throttleAccount("administrator: OPS ") == "administrator:ops")
        #expect(MikataServer.throttleAccount("supporter:x@example.com") != MikataServer.throttleAccount("patient:x@example.com"))
    }

    // H1: flooding the table with new keys never lifts a lockout; IPv6 counts by /64.
    @Test func lockedAccountsAreNeverEvictedAndIPv6CountsByPrefix() throws {
        var c = ServerConfiguration()
        c.freeFailures = 100
        c.accountFailureLimit = 2
        let t = LoginThrottle(configuration: c, maxTracked: 20)
        t.failed(account: "victim", address: "192.0.2.1")
        t.failed(account: "victim", address: "192.0.2.1")
        for i in 0..<200 { t.failed(account: "junk\(i)", address: "10.\(i / 250).\(i % 250).1") }
        #expect(throws: Problem.self) { try t.begin(account: "victim", address: "192.0.2.200") }
        #expect(LoginThrottle.addressKey("2001:db8:1:2:aaaa::1") == LoginThrottle.addressKey("2001:db8:1:2:bbbb::9"))
        #expect(LoginThrottle.addressKey("2001:db8:1:3::1") != LoginThrottle.addressKey("2001:db8:1:2::1"))
        #expect(LoginThrottle.addressKey("::ffff:192.0.2.7") == "192.0.2.7")
    }

    // A flood of made-up accounts, each failed once, long after the victim's last failure, never wipes the victim's
    // count of consecutive failures: it still locks at the limit.
    @Test func aFloodOfNewAccountsKeepsAnAccountsProgressTowardsItsLock() throws {
        let clock = ServerFixture.ManualClock()
        var c = ServerConfiguration()
        c.freeFailures = 2
        c.accountFailureLimit = 6
        c.accountLockout = .seconds(100)
        let t = LoginThrottle(configuration: c, maxTracked: 20, now: { clock.now })
        for _ in 0..<5 {
            try t.begin(account: "victim", address: "192.0.2.1")
            t.end(account: "victim", address: "192.0.2.1", .failed)
            clock.advance(.seconds(61))  // past every backoff
        }
        clock.advance(.seconds(1_000))  // long past the lockout's length: the entry is stale
        for i in 0..<200 { t.failed(account: "junk\(i)", address: "10.\(i / 250).\(i % 250).1") }
        #expect(t.tracked.accounts <= 20)
        try t.begin(account: "victim", address: "192.0.2.2")
        t.end(account: "victim", address: "192.0.2.2", .failed)  // the sixth consecutive failure: locked
        #expect(throws: Problem.self) { try t.begin(account: "victim", address: "192.0.2.3") }
    }

    // M4: once a lockout ends, the next failure locks again at once, for twice as long.
    @Test func lockoutsEscalate() throws {
        final class ManualClock: @unchecked Sendable {
            var now = ContinuousClock.now
            func advance(_ d: Duration) { now += d }
        }
        let clock = ManualClock()
        var c = ServerConfiguration()
        c.freeFailures = 100
        c.accountFailureLimit = 3
        c.accountLockout = .seconds(100)
        let t = LoginThrottle(configuration: c, now: { clock.now })
        for _ in 0..<3 { t.failed(account: "admin", address: "192.0.2.1") }
        #expect(throws: Problem.self) { try t.begin(account: "admin", address: "192.0.2.1") }
        clock.advance(.seconds(101))
        try t.begin(account: "admin", address: "192.0.2.1")  // one try after the lock ran out
        t.end(account: "admin", address: "192.0.2.1", .failed)
        #expect(throws: Problem.self) { try t.begin(account: "admin", address: "192.0.2.1") }  // locked again at once
        clock.advance(.seconds(101))
        #expect(throws: Problem.self) { try t.begin(account: "admin", address: "192.0.2.1") }  // 200 s this time
        clock.advance(.seconds(100))
        try t.begin(account: "admin", address: "192.0.2.1")
        t.end(account: "admin", address: "192.0.2.1", .succeeded)  // a success forgives everything
        for _ in 0..<2 { t.failed(account: "admin", address: "192.0.2.1") }
        try t.begin(account: "admin", address: "192.0.2.1")
    }

    // H2: one account cannot fill the session table.
    @Test func anAccountHoldsAtMostItsShareOfSessions() throws {
        let r = SessionRegistry(idleTimeout: .seconds(60), absoluteTimeout: .seconds(120), maxSessions: 20, maxPerAccount: 3)
        var tokens: [String] = []
        for _ in 0..<50 { tokens.append(try r.open(.administrator(name: "flood", enrolment: ""))) }
        #expect(r.count == 3)
        #expect(tokens.suffix(3).allSatisfy { r.principal(token: $0) != nil })
        #expect(tokens.prefix(47).allSatisfy { r.principal(token: $0) == nil })  // the oldest ended
        _ = try r.open(.administrator(name: "someone-else", enrolment: ""))  // others still get in
        #expect(r.close(account: "administrator:flood", keeping: tokens.last) == 2 && r.principal(token: tokens.last!) != nil)
    }

    // Second review, H1: accounts registered from one address cannot fill the table (each holds its 10 sessions),
    // and patients and supporters, however many addresses they come from, leave administrators' places free.
    @Test func anAddressHoldsAtMostItsShareAndAdministratorsKeepTheirPlaces() throws {
        let r = SessionRegistry(idleTimeout: .seconds(60), absoluteTimeout: .seconds(120), maxSessions: 40, maxPerAccount: 10, maxPerAddress: 5)
        func patient() -> Principal {
            .patient(PatientSession(vaultId: VaultID(trusted: Random.bytes(16)), ownerKey: SecureBytes.random(count: 32)), email: "x@example.jp")
        }
        var flood: [String] = []
        for _ in 0..<5 { flood.append(try r.open(patient(), address: "198.51.100.7", ticket: r.ticket())) }
        // The sixth from that address is refused (429), and nobody there is signed out to make room for it.
        do {
            _ = try r.open(patient(), address: "198.51.100.7", ticket: r.ticket())
            Issue.record("a sixth session from one address was opened")
        } catch let p as Problem {
            #expect(p.status == .tooManyRequests && p.retryAfter == 60)
        }
        #expect(r.count == 5 && flood.allSatisfy { r.principal(token: $0) != nil })
        // An administrator behind the same address (a health centre's NAT) still signs in: the address's cap is not
        // theirs, so other users' sessions cannot lock them out after their TOTP step is spent.
        let admin = try r.open(.administrator(name: "nat", enrolment: ""), address: "198.51.100.7", ticket: r.ticket())
        #expect(r.count == 6)
        r.close(token: admin)
        // Many addresses fill what patients and supporters may hold: 40 less the administrators' 4.
        for i in 0..<40 { _ = try? r.open(patient(), address: "203.0.113.\(i)", ticket: r.ticket()) }
        #expect(r.count == 36)
        #expect(throws: Problem.self) { _ = try r.open(patient(), address: "192.0.2.200", ticket: r.ticket()) }
        _ = try r.open(.administrator(name: "ops", enrolment: ""), address: "192.0.2.9", ticket: r.ticket())  // still gets in
        #expect(r.count == 37)
    }

    // Second review, L6: a login whose password check ran while the account's sessions were ended (a password
    // change, a recovery) opens nothing: the old password cannot outlive the change through a login in flight.
    @Test func aLoginRacingAPasswordChangeOpensNoSession() throws {
        let r = SessionRegistry(idleTimeout: .seconds(60), absoluteTimeout: .seconds(120), maxSessions: 40)
        let ticket = r.ticket()  // the login's check begins
        _ = try r.open(.administrator(name: "ops", enrolment: ""), address: "192.0.2.9", ticket: ticket)  // no close yet: opens
        #expect(r.count == 1)
        r.close(account: "administrator:ops")  // the password changes meanwhile
        #expect(r.count == 0, "the close ended the session opened before it")
        #expect(throws: Problem.self) { _ = try r.open(.administrator(name: "ops", enrolment: ""), address: "192.0.2.9", ticket: ticket) }
        #expect(r.count == 0)
        _ = try r.open(.administrator(name: "other", enrolment: ""), address: "192.0.2.9", ticket: ticket)  // other accounts unaffected
        _ = try r.open(.administrator(name: "ops", enrolment: ""), address: "192.0.2.9", ticket: r.ticket())  // a new login works
        #expect(r.count == 2)
    }

    // M2: a password change ends the account's other sessions, not this one.
    @Test func aPasswordChangeSignsOutOtherDevices() async throws {
        let f = try await ServerFixture.make()
        try await f.run { c in
            let p = try await c.patient("pc@example.com", "old password")
            let other = try #require(try await c.post("/v1/patients/login", #"{"email":"pc@example.com","password":"old password"}"#).string("token"))
            let change = try await c.post("/v1/patient/password", #"{"currentPassword":"old password","newPassword":"new password"}"#, token: p.token)
            #expect(change.code == 204)
            #expect(try await c.get("/v1/patient/records", token: p.token).code == 200)
            #expect(try await c.get("/v1/patient/records", token: other).code == 401)
            // A wrong current password is 403 (the session is fine), not 401.
            let wrong = try await c.post("/v1/patient/password", #"{"currentPassword":"nope","newPassword":"x"}"#, token: p.token)
            #expect(wrong.code == 403 && wrong.problem == "authentication-failed" && wrong.headers[.wwwAuthenticate] == nil)
        }
    }

    // Second review, L8: a request waits 7 days for its approval, and dies with its requester.
    @Test func aShredRequestExpiresAndDiesWithItsRequester() async throws {
        let f = try await ServerFixture.make()
        let s = f.service
        for n in ["a1", "a2", "a3"] { _ = try await s.createAdministrator(name: n, password: Secret(utf8: "admin password \(n)")) }
        _ = try await s.createPatient(email: "stale@example.com", nickname: "S", password: Secret(utf8: "pw one"))
        let stale = try await s.requestShred(email: "stale@example.com", reason: "r", requestedBy: "hc", reference: "1", administrator: "a1")
        let late = await #expect(throws: MikataError.self) {
            _ = try await s.approveShred(requestId: stale.requestId, administrator: "a2", confirmingEmail: "stale@example.com", now: Date().addingTimeInterval(VaultService.shredRequestLifetime + 60))
        }
        #expect(late?.code == .notFound && late?.message.contains("expired") == true)
        #expect(try await s.shredRequests().isEmpty, "the void request is gone")
        let orphan = try await s.requestShred(email: "stale@example.com", reason: "r", requestedBy: "hc", reference: "2", administrator: "a3")
        try await s.deleteAdministrator(name: "a3")
        let void = await #expect(throws: MikataError.self) { _ = try await s.approveShred(requestId: orphan.requestId, administrator: "a2", confirmingEmail: "stale@example.com") }
        #expect(void?.code == .notFound && void?.message.contains("no longer exists") == true)
        #expect(try await s.shredRequests().isEmpty)
        // Deleted and enrolled again under the same name (how a compromised administrator's password and TOTP are
        // reset): the request made before dies with the old enrolment.
        _ = try await s.createAdministrator(name: "a3", password: Secret(utf8: "admin password a3, again"))
        let reset = try await s.requestShred(email: "stale@example.com", reason: "r", requestedBy: "hc", reference: "2b", administrator: "a3")
        try await s.deleteAdministrator(name: "a3")
        _ = try await s.createAdministrator(name: "a3", password: Secret(utf8: "admin password a3, new"))
        let reenrolled = await #expect(throws: MikataError.self) { _ = try await s.approveShred(requestId: reset.requestId, administrator: "a2", confirmingEmail: "stale@example.com") }
        #expect(reenrolled?.code == .notFound && reenrolled?.message.contains("no longer exists") == true)
        #expect(try await s.shredRequests().isEmpty)
        _ = try await s.unlockPatient(email: "stale@example.com", password: Secret(utf8: "pw one"))  // the vault is untouched
        // Within its week, from an administrator who still exists, a request is approved as before.
        let fresh = try await s.requestShred(email: "stale@example.com", reason: "r", requestedBy: "hc", reference: "3", administrator: "a1")
        _ = try await s.approveShred(requestId: fresh.requestId, administrator: "a2", confirmingEmail: "stale@example.com", now: Date().addingTimeInterval(VaultService.shredRequestLifetime - 60))
    }

    // Third review: a request binds the enrolment of the session that made it, read under the administrators' lock
    // (a session whose administrator was deleted while its body was on its way makes none), and the approver types
    // the address from the health centre's request (another one shreds nothing and is logged as denied).
    @Test func aShredRequestNeedsItsSessionsEnrolmentAndTheApproverTheAddress() async throws {
        let f = try await ServerFixture.make()
        let s = f.service
        for n in ["a1", "a2"] { _ = try await s.createAdministrator(name: n, password: Secret(utf8: "admin password \(n)")) }
        _ = try await s.createPatient(email: "target@example.com", nickname: "T", password: Secret(utf8: "pw one"))
        _ = try await s.createPatient(email: "other@example.com", nickname: "O", password: Secret(utf8: "pw two"))
        let old = try #require(try await s.administratorEnrolment("a1"))
        try await s.deleteAdministrator(name: "a1")
        _ = try await s.createAdministrator(name: "a1", password: Secret(utf8: "admin password a1, again"))
        let stale = await #expect(throws: MikataError.self) {
            _ = try await s.requestShred(email: "target@example.com", reason: "r", requestedBy: "hc", reference: "1", administrator: "a1", enrolment: old)
        }
        #expect(stale?.code == .authenticationFailed)
        #expect(try await s.shredRequests().isEmpty, "no request from a deleted administrator's session")
        let current = try #require(try await s.administratorEnrolment("a1"))
        // An address that leads to no patient: 404, and the attempt is in the log (without the address).
        let miss = await #expect(throws: MikataError.self) {
            _ = try await s.requestShred(email: "nobody@example.com", reason: "r", requestedBy: "hc", reference: "0", administrator: "a1", enrolment: current)
        }
        #expect(miss?.code == .notFound)
        let misses = try await s.accessLog().filter { $0.action == "shred-request" && $0.outcome == "denied" }
        #expect(misses.count == 1 && !misses[0].detail.contains("nobody"))
        let made = try await s.requestShred(email: "target@example.com", reason: "r", requestedBy: "hc", reference: "2", administrator: "a1", enrolment: current)
        for typed in ["other@example.com", "nobody@example.com", "not an address"] {
            let refused = await #expect(throws: MikataError.self) {
                _ = try await s.approveShred(requestId: made.requestId, administrator: "a2", confirmingEmail: typed)
            }
            #expect(refused?.code == .notPermitted && refused?.field == "/email")
            #expect(refused.map { !$0.message.contains("target") } ?? false, "the request's address is not revealed")
        }
        _ = try await s.unlockPatient(email: "target@example.com", password: Secret(utf8: "pw one"))  // untouched
        let denied = try await s.accessLog(email: "target@example.com").filter { $0.action == "shred-approve" && $0.outcome == "denied" }
        #expect(denied.count == 3)
        let outcome = try await s.approveShred(requestId: made.requestId, administrator: "a2", confirmingEmail: "Target@Example.com")
        #expect(!outcome.alreadyShredded)
        // One administrator's waiting requests are capped (the file is shared by all); another's are not affected.
        for n in 0..<VaultService.maxPendingShredRequests {
            _ = try await s.requestShred(email: "other@example.com", reason: "r", requestedBy: "hc", reference: "cap \(n)", administrator: "a1")
        }
        let over = await #expect(throws: MikataError.self) {
            _ = try await s.requestShred(email: "other@example.com", reason: "r", requestedBy: "hc", reference: "over", administrator: "a1")
        }
        #expect(over?.code == .notPermitted)
        _ = try await s.requestShred(email: "other@example.com", reason: "r", requestedBy: "hc", reference: "a2's", administrator: "a2")
        await f.tearDown()
    }

    // A shred run another way (the patient's own deletion, the CLI) takes the vault's pending requests with it: they
    // hold the address as typed, which must not outlive the certificate.
    @Test func aShredRunAnotherWayTakesThePendingRequestsWithIt() async throws {
        let f = try await ServerFixture.make()
        let s = f.service
        _ = try await s.createAdministrator(name: "a1", password: Secret(utf8: "admin password a1"))
        _ = try await s.createPatient(email: "leaving@example.com", nickname: "L", password: Secret(utf8: "pw one"))
        _ = try await s.createPatient(email: "staying@example.com", nickname: "S", password: Secret(utf8: "pw two"))
        _ = try await s.requestShred(email: "leaving@example.com", reason: "r", requestedBy: "hc", reference: "1", administrator: "a1")
        let other = try await s.requestShred(email: "staying@example.com", reason: "r", requestedBy: "hc", reference: "2", administrator: "a1")
        _ = try await s.deletePatient(email: "leaving@example.com", password: Secret(utf8: "pw one"))
        #expect(try await s.shredRequests().map(\.requestId) == [other.requestId])
    }

    // M1: an approval shreds the vault the request named, or nothing.
    @Test func anApprovalNeverShredsAVaultTheRequestDidNotName() async throws {
        let f = try await ServerFixture.make()
        let s = f.service
        _ = try await s.createAdministrator(name: "a1", password: Secret(utf8: "admin password 1"))
        _ = try await s.createAdministrator(name: "a2", password: Secret(utf8: "admin password 2"))
        let first = try await s.createPatient(email: "toctou@example.com", nickname: "T", password: Secret(utf8: "pw one"))
        let request = try await s.requestShred(email: "toctou@example.com", reason: "r", requestedBy: "hc", reference: "1", administrator: "a1")
        _ = try await s.deletePatient(email: "toctou@example.com", password: Secret(utf8: "pw one"))
        let second = try await s.createPatient(email: "toctou@example.com", nickname: "U", password: Secret(utf8: "pw two"))
        #expect(first.vaultId != second.vaultId)
        let refused = await #expect(throws: MikataError.self) { _ = try await s.approveShred(requestId: request.requestId, administrator: "a2", confirmingEmail: "toctou@example.com") }
        #expect(refused?.code == .notFound)
        let session = try await s.unlockPatient(email: "toctou@example.com", password: Secret(utf8: "pw two"))  // untouched
        #expect(session.vaultId == second.vaultId)
        #expect(try await s.shredRequests().isEmpty)  // the void request is gone
        // The patient deletes their vault while a request for it waits, and nobody takes the address again: the
        // approval finds only the patient's own certificate, which answers no administrator's request.
        _ = try await s.createPatient(email: "gone@example.com", nickname: "G", password: Secret(utf8: "pw three"))
        let waiting = try await s.requestShred(email: "gone@example.com", reason: "r", requestedBy: "hc", reference: "2", administrator: "a1")
        let own = try await s.deletePatient(email: "gone@example.com", password: Secret(utf8: "pw three"))
        let void = await #expect(throws: MikataError.self) { _ = try await s.approveShred(requestId: waiting.requestId, administrator: "a2", confirmingEmail: "gone@example.com") }
        #expect(void?.code == .notFound)
        #expect(try await s.shredRequests().isEmpty)
        let tombstones = try await s.tombstones()
        #expect(!own.alreadyShredded && Set(tombstones.map(\.vaultId)).count == 2)  // the two self-deletions only
        // An approval retried after its shred completed (the request not yet removed) gets that shred's certificate.
        let twice = try await s.createPatient(email: "twice@example.com", nickname: "W", password: Secret(utf8: "pw four"))
        let deletion = DeletionRequest(reason: "r", requestedBy: "hc", reference: "3", executedBy: "a1", approvedBy: "a2")
        let done = try await s.shred(email: "twice@example.com", request: deletion, expectedVaultId: twice.vaultId.hex)
        let retried = try await s.shred(email: "twice@example.com", request: deletion, expectedVaultId: twice.vaultId.hex)
        #expect(!done.alreadyShredded && retried.alreadyShredded && retried.certificateId == done.certificateId)
        await f.tearDown()
    }

    // A server-side failure (a vault damaged on disk) answers its class; the store's paths and the vault id go to the
    // operator's log with the request, not to the client.
    @Test func serverSideFailuresNameNoPathToTheClient() async throws {
        let f = try await ServerFixture.make()
        try await f.run { c in
            let p = try await c.patient("damaged@example.com")
            #expect(try await c.post("/v1/patient/records", #"{"type":"note","data":{"text":"x"}}"#, token: p.token).code == 201)
            let path = "\(f.root)/store/vaults/\(p.vaultId.prefix(2))/\(p.vaultId).vault"
            // The vault file replaced by a folder (what a broken disk or a careless hand can leave).
            try FileManager.default.removeItem(atPath: path)
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
            let read = try await c.get("/v1/patient/records", token: p.token)
            #expect(read.code >= 500 && read.code != 503, "\(read.body)")
            #expect(f.logs.all.contains { $0.contains(p.vaultId) }, "the operator's log names the vault")
            #expect(!read.body.contains(f.root) && !read.body.contains(p.vaultId) && !read.body.contains("/vaults/"), "\(read.body)")
            #expect(f.logs.all.contains { $0.contains("request failed on the server side") })
        }
        await f.tearDown()
    }

    // The certificate is printed as it is signed: its texts hold no control character a terminal would act on.
    @Test func shredRequestsWithControlCharactersAreRefusedBeforeAnythingIsKept() async throws {
        let f = try await ServerFixture.make()
        let s = f.service
        _ = try await s.createAdministrator(name: "a1", password: Secret(utf8: "admin password 1"))
        _ = try await s.createPatient(email: "cc@example.com", nickname: "C", password: Secret(utf8: "pw one"))
        for (reason, by, ref) in [("r\u{9b}[2J", "hc", "1"), ("r", "hc\u{7f}", "1"), ("r", "hc", "1\n2"), ("r", "hc", "1\u{85}")] {
            let refused = await #expect(throws: MikataError.self) {
                _ = try await s.requestShred(email: "cc@example.com", reason: reason, requestedBy: by, reference: ref, administrator: "a1")
            }
            #expect(refused?.code == .invalidInput && refused?.message.contains("control characters") == true, "\(String(describing: refused))")
        }
        #expect(try await s.shredRequests().isEmpty)
        // Printable text beyond ASCII is fine.
        _ = try await s.requestShred(email: "cc@example.com", reason: "本人死亡 (°C ±)", requestedBy: "保健所", reference: "HC-1", administrator: "a1")
        #expect(try await s.shredRequests().count == 1)
        await f.tearDown()
    }

    // The flood finding: password checks run at the lowest CPU priority, everything else does not.
    @Test func passwordChecksRunAtTheLowestPriority() async throws {
        #expect(VaultServiceConfiguration().passwordChecksAtLowestPriority)  // the default
        let f = try await ServerFixture.make(lowPriorityPasswordChecks: true)
        let low = try await f.service.passwordPool.run { ThreadPriority.currentNice() }
        let normal = try await f.service.pool.run { ThreadPriority.currentNice() }
        #expect(low == 19 && normal < 19)
        await f.tearDown()
        let off = try await ServerFixture.make(lowPriorityPasswordChecks: false)
        #expect(try await off.service.passwordPool.run { ThreadPriority.currentNice() } < 19)
        await off.tearDown()
    }
}
