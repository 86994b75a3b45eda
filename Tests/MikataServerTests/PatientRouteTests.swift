import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing
@testable import MikataServer

/// The patient routes (routes9.md "Patients"): success and the main failures of each.
@Suite struct PatientRouteTests {
    @Test func registerAndLogin() async throws {
        let f = try await ServerFixture.make()
        try await f.run { c in
            let created = try await c.post("/v1/patients", #"{"email":"ann@example.com","nickname":"Ann","password":"pw one"}"#)
            #expect(created.code == 201)
            #expect(created.headers[.cacheControl] == "no-store")
            let vaultId = try #require(created.string("vaultId"))
            #expect(vaultId.count == 32)
            #expect((created.string("recoveryCode") ?? "").count >= 40)

            let again = try await c.post("/v1/patients", #"{"email":"ANN@example.com","nickname":"Ann","password":"x"}"#)
            #expect(again.code == 409 && again.problem == "already-exists" && again.isProblem)

            let login = try await c.post("/v1/patients/login", #"{"email":"ann@example.com","password":"pw one"}"#)
            #expect(login.code == 200)
            #expect(login.string("tokenType") == "Bearer" && login.string("vaultId") == vaultId)
            #expect((login.json["idleTimeoutSeconds"] as? Int) == 900 && (login.json["absoluteTimeoutSeconds"] as? Int) == 43_200)
            #expect((login.string("token") ?? "").count >= 43)
            let second = try await c.post("/v1/patients/login", #"{"email":"ann@example.com","password":"pw one"}"#)
            #expect(second.string("token") != login.string("token"), "a new token on every login")

            let wrong = try await c.post("/v1/patients/login", #"{"email":"ann@example.com","password":"pw two"}"#)
            let unknown = try await c.post("/v1/patients/login", #"{"email":"nobody@example.com","password":"pw one"}"#)
            #expect(wrong.code == 401 && wrong.problem == "authentication-failed")
            #expect(wrong.headers[.wwwAuthenticate] == "Bearer")
            #expect(wrong.body == unknown.body && wrong.code == unknown.code, "an unknown e-mail answers as a wrong password")

            let badEmail = try await c.post("/v1/patients", #"{"email":"not an address","nickname":"Ann","password":"pw"}"#)
            #expect(badEmail.code == 400 && badEmail.problem == "invalid-input")
        }
    }

    @Test func appendAndPageRecords() async throws {
        let f = try await ServerFixture.make()
        try await f.run { c in
            let p = try await c.patient("rec@example.com")
            for i in 0..<3 {
                let r = try await c.post("/v1/patient/records", #"{"type":"\#(i == 1 ? "bp" : "note")","data":{"n":\#(i),"s":"é"}}"#,
                                         token: p.token)
                #expect(r.code == 201, "\(r.body)")
                #expect(r.json["seq"] is Int)
            }
            let all = try await c.get("/v1/patient/records", token: p.token)
            #expect(all.code == 200)
            let records = try #require(all.json["records"] as? [[String: Any]])
            #expect(records.count >= 3)
            #expect(all.json["nextAfter"] is NSNull)
            let mine = records.filter { ($0["type"] as? String) == "note" || ($0["type"] as? String) == "bp" }
            #expect(mine.count == 3)
            #expect(((mine.last?["data"] as? [String: Any])?["s"] as? String) == "é")
            #expect(mine.allSatisfy { $0["author"] is String && $0["time"] is String && $0["seq"] is Int })

            let first = try await c.get("/v1/patient/records?limit=1", token: p.token)
            let next = try #require(first.json["nextAfter"] as? Int)
            let second = try await c.get("/v1/patient/records?limit=1&after=\(next)", token: p.token)
            #expect(((second.json["records"] as? [[String: Any]])?.first?["seq"] as? Int).map { $0 > next } == true)

            let bp = try await c.get("/v1/patient/records?type=bp", token: p.token)
            #expect((bp.json["records"] as? [[String: Any]])?.map { $0["type"] as? String } == ["bp"])
            let future = try await c.get("/v1/patient/records?from=2999-01-01T00:00:00Z", token: p.token)
            #expect((future.json["records"] as? [Any])?.count == 0)

            for (query, field) in [("limit=0", "limit"), ("limit=1001", "limit"), ("after=x", "after"), ("from=yesterday", "from"),
                                   ("to=2026-13-01", "to"), ("type=", "type")] {
                let bad = try await c.get("/v1/patient/records?\(query)", token: p.token)
                #expect(bad.code == 400 && bad.field == field && bad.isProblem, "\(query): \(bad.body)")
            }
            let badData = try await c.post("/v1/patient/records", #"{"type":"note","data":{"a":1,"a":2}}"#, token: p.token)
            #expect(badData.code == 400 && badData.problem == "malformed-request", "duplicate members: \(badData.body)")
            let lone = try await c.post("/v1/patient/records", #"{"type":"note","data":"\ud800"}"#, token: p.token)
            #expect(lone.code == 400, "a lone surrogate: \(lone.body)")
            let count = try await f.recordCount(email: "rec@example.com", password: "patient password")
            #expect(count == records.count, "neither was written")
        }
    }

    /// Record data is stored as sent (numbers beyond a double's precision kept), also under an escaped member name.
    @Test func recordDataIsStoredAsSent() async throws {
        let f = try await ServerFixture.make()
        try await f.run { c in
            let p = try await c.patient("exact@example.com")
            let sent = #"{"z":[123456789012345678901234567890,"\/"],"a":{"y":true,"b":null}}"#
            for body in [#"{"type":"n","data":\#(sent)}"#, #"{ "d\u0061ta" : \#(sent) , "type":"n" }"#] {
                #expect(try await c.post("/v1/patient/records", body, token: p.token).code == 201)
            }
            #expect(try await c.post("/v1/patient/records", #"{"data":12345678901234567890123,"type":"n"}"#, token: p.token).code == 201)
            let page = try await c.get("/v1/patient/records?type=n", token: p.token)
            #expect(page.body.components(separatedBy: "[123456789012345678901234567890,").count == 3, "\(page.body)")
            #expect(page.body.contains(#""data":12345678901234567890123,"seq":3,"#), "\(page.body)")
            // Returned as stored, byte for byte (members in sorted order around it).
            #expect(page.body.contains(#""data":\#(sent),"seq":1,"#), "\(page.body)")
        }
    }

    @Test func grantAndRevokeSupporters() async throws {
        let f = try await ServerFixture.make()
        try await f.run { c in
            let p = try await c.patient("pg@example.com")
            let s = try await c.supporter("sg@example.com")
            let wrongPrint = try await c.post("/v1/patient/supporters", #"{"email":"sg@example.com","fingerprint":"AAAA-AAAA-AAAA-AAAA","password":"patient password"}"#,
                                              token: p.token)
            let nobody = try await c.post("/v1/patient/supporters", #"{"email":"nobody@example.com","fingerprint":"\#(s.fingerprint)","password":"patient password"}"#,
                                          token: p.token)
            // A wrong fingerprint and an unknown address are one answer: a grant does not tell who is a supporter.
            #expect(wrongPrint.code == 404 && wrongPrint.problem == "not-found", "\(wrongPrint.body)")
            #expect(nobody.code == 404 && nobody.body == wrongPrint.body, "\(nobody.body)")
            let registeredUnlinked = try await c.supporter("su@example.com")
            _ = registeredUnlinked
            let notLinked = try await c.post("/v1/patient/supporters/revoke", #"{"email":"su@example.com"}"#, token: p.token)
            let neverRegistered = try await c.post("/v1/patient/supporters/revoke", #"{"email":"nobody@example.com"}"#, token: p.token)
            #expect(notLinked.code == 404 && neverRegistered.code == 404 && notLinked.body == neverRegistered.body, "\(notLinked.body)")

            // The patient's password is entered again: a session token alone cannot give lasting access.
            let noPassword = try await c.post("/v1/patient/supporters", #"{"email":"sg@example.com","fingerprint":"\#(s.fingerprint)"}"#,
                                              token: p.token)
            #expect(noPassword.code == 400 && noPassword.json["field"] as? String == "/password", "\(noPassword.body)")
            let wrongPassword = try await c.post("/v1/patient/supporters",
                                                 #"{"email":"sg@example.com","fingerprint":"\#(s.fingerprint)","password":"not it"}"#, token: p.token)
            #expect(wrongPassword.code == 403 && wrongPassword.problem == "authentication-failed", "\(wrongPassword.body)")
            #expect(try await c.get("/v1/supporter/patients/\(p.vaultId)/records", token: s.token).code == 404, "nothing was linked")

            let added = try await c.post("/v1/patient/supporters",
                                         #"{"email":"sg@example.com","fingerprint":"\#(s.fingerprint)","name":"Sis","password":"patient password"}"#, token: p.token)
            #expect(added.code == 201 && (added.json["added"] as? Bool) == true && added.string("supporterId") == s.supporterId)
            let again = try await c.post("/v1/patient/supporters", #"{"email":"sg@example.com","fingerprint":"\#(s.fingerprint)","password":"patient password"}"#,
                                         token: p.token)
            #expect(again.code == 200 && (again.json["added"] as? Bool) == false)
            #expect(try await c.get("/v1/supporter/patients/\(p.vaultId)/records", token: s.token).code == 200)

            let revoked = try await c.post("/v1/patient/supporters/revoke", #"{"email":"sg@example.com","reencrypt":true}"#, token: p.token)
            #expect(revoked.code == 200 && (revoked.json["reencrypted"] as? Bool) == true && (revoked.json["epoch"] as? Int ?? 0) >= 1,
                    "\(revoked.body)")
            #expect(try await c.get("/v1/supporter/patients/\(p.vaultId)/records", token: s.token).code == 404)
            let unknown = try await c.post("/v1/patient/supporters/revoke", #"{"email":"nobody@example.com"}"#, token: p.token)
            #expect(unknown.code == 404)
        }
    }

    @Test func changePasswordAndRecover() async throws {
        let f = try await ServerFixture.make()
        try await f.run { c in
            let p = try await c.patient("pw@example.com", "old password")
            let wrong = try await c.post("/v1/patient/password", #"{"currentPassword":"nope","newPassword":"new password"}"#, token: p.token)
            #expect(wrong.code == 403 && wrong.problem == "authentication-failed")  // re-entered password: the session stays valid
            let changed = try await c.post("/v1/patient/password", #"{"currentPassword":"old password","newPassword":"new password"}"#,
                                           token: p.token)
            #expect(changed.code == 204 && changed.body.isEmpty)
            #expect(try await c.post("/v1/patients/login", #"{"email":"pw@example.com","password":"old password"}"#).code == 401)
            #expect(try await c.post("/v1/patients/login", #"{"email":"pw@example.com","password":"new password"}"#).code == 200)

            let badCode = try await c.post("/v1/patients/recover",
                                           #"{"email":"pw@example.com","recoveryCode":"not a code","newPassword":"third"}"#)
            #expect(badCode.code == 400 || badCode.code == 401, "\(badCode.body)")
            let wrongCode = try await c.post("/v1/patients/recover", #"""
                {"email":"pw@example.com","recoveryCode":"\#(String(repeating: "0", count: 40))","newPassword":"third"}
                """#)
            #expect(wrongCode.code == 401 && wrongCode.problem == "authentication-failed", "\(wrongCode.body)")
            let recovered = try await c.post("/v1/patients/recover",
                                             #"{"email":"pw@example.com","recoveryCode":"\#(p.recoveryCode)","newPassword":"third"}"#)
            #expect(recovered.code == 200 && recovered.string("vaultId") == p.vaultId, "\(recovered.body)")
            #expect(try await c.get("/v1/patient/records", token: p.token).code == 401, "recovery ends the vault's sessions")
            #expect(try await c.post("/v1/patients/login", #"{"email":"pw@example.com","password":"third"}"#).code == 200)
        }
    }

    @Test func accessLogAndDelete() async throws {
        let f = try await ServerFixture.make()
        try await f.run { c in
            let p = try await c.patient("del@example.com", "delete me")
            _ = try await c.post("/v1/patient/records", #"{"type":"note","data":1}"#, token: p.token)
            let log = try await c.get("/v1/patient/access-log", token: p.token)
            #expect(log.code == 200)
            let entries = try #require(log.json["entries"] as? [[String: Any]])
            #expect(!entries.isEmpty)
            #expect(entries.allSatisfy { e in ["seq", "time", "actor", "role", "action", "outcome", "detail"].allSatisfy { e[$0] != nil } })
            #expect(log.json["nextAfter"] is NSNull, "one page holds them all")
            // Pages of two, followed by `nextAfter`, are the whole log in order, none twice.
            // Viewing the log is logged too (`access-log-view`), but the view leaves those entries out, so paging
            // ends even by one entry at a time.
            for limit in [1, 2] {
                var paged: [Int] = []
                var query = "?limit=\(limit)"
                var ended = false
                for _ in 0..<50 {
                    let page = try await c.get("/v1/patient/access-log" + query, token: p.token)
                    #expect(page.code == 200, "\(page.body)")
                    let got = try #require(page.json["entries"] as? [[String: Any]]).compactMap { $0["seq"] as? Int }
                    #expect(!got.isEmpty && got.count <= limit)
                    paged += got
                    guard let next = page.json["nextAfter"] as? Int else { ended = true; break }
                    #expect(got.count == limit && next == got.last)
                    query = "?limit=\(limit)&after=\(next)"
                }
                #expect(ended, "paging by \(limit) ends")
                #expect(paged == entries.compactMap { $0["seq"] as? Int })
            }
            // Newest first, through `nextBefore`: the same entries, reversed.
            var newest: [Int] = []
            var query = "?order=newest&limit=1"
            var ended = false
            for _ in 0..<50 {
                let page = try await c.get("/v1/patient/access-log" + query, token: p.token)
                #expect(page.code == 200, "\(page.body)")
                newest += try #require(page.json["entries"] as? [[String: Any]]).compactMap { $0["seq"] as? Int }
                guard let next = page.json["nextBefore"] as? Int else { ended = page.json["nextBefore"] is NSNull; break }
                query = "?order=newest&limit=1&before=\(next)"
            }
            #expect(ended && newest == entries.compactMap { $0["seq"] as? Int }.reversed())
            for bad in ["?limit=0", "?limit=1001", "?limit=two", "?after=-1", "?order=sideways", "?order=newest&after=3", "?before=3",
                        "?order=newest&before=x"] {
                let r = try await c.get("/v1/patient/access-log" + bad, token: p.token)
                #expect(r.code == 400 && r.problem == "malformed-request", "\(bad): \(r.body)")
            }

            let other = try await c.post("/v1/patients/login", #"{"email":"del@example.com","password":"delete me"}"#)
            let wrong = try await c.post("/v1/patient/delete", #"{"password":"not it"}"#, token: p.token)
            #expect(wrong.code == 403 && wrong.problem == "authentication-failed")  // re-entered password: the session stays valid
            let deleted = try await c.post("/v1/patient/delete", #"{"password":"delete me"}"#, token: p.token)
            #expect(deleted.code == 200, "\(deleted.body)")
            #expect(deleted.json["certificate"] is [String: Any])
            #expect(deleted.string("vaultId") == p.vaultId && deleted.string("certificateId") != nil)
            #expect(try await c.get("/v1/patient/records", token: p.token).code == 401)
            #expect(try await c.get("/v1/patient/records", token: other.string("token")).code == 401, "every session of the vault ends")
            let login = try await c.post("/v1/patients/login", #"{"email":"del@example.com","password":"delete me"}"#)
            #expect(login.code == 401 && login.problem == "authentication-failed")
        }
    }
}
