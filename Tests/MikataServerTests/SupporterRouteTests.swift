import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing
@testable import MikataServer

/// The supporter routes (routes9.md "Supporters"): success and the main failures of each.
@Suite struct SupporterRouteTests {
    @Test func registerAndLogin() async throws {
        let f = try await ServerFixture.make()
        try await f.run { c in
            let created = try await c.post("/v1/supporters", #"{"email":"sue@example.com","name":"Sue","password":"sue pw"}"#)
            #expect(created.code == 201)
            #expect(created.string("supporterId")?.count == 32 && created.string("fingerprint") != nil)
            let again = try await c.post("/v1/supporters", #"{"email":"sue@example.com","name":"Sue","password":"x"}"#)
            #expect(again.code == 409 && again.problem == "already-exists")
            let badName = try await c.post("/v1/supporters", #"{"email":"s2@example.com","name":"","password":"x"}"#)
            #expect(badName.code == 400)

            let login = try await c.post("/v1/supporters/login", #"{"email":"sue@example.com","password":"sue pw"}"#)
            #expect(login.code == 200 && login.string("supporterId") == created.string("supporterId") && login.string("tokenType") == "Bearer")
            #expect(login.json["vaultId"] == nil)
            let wrong = try await c.post("/v1/supporters/login", #"{"email":"sue@example.com","password":"nope"}"#)
            let unknown = try await c.post("/v1/supporters/login", #"{"email":"nobody@example.com","password":"sue pw"}"#)
            #expect(wrong.code == 401 && wrong.body == unknown.body)
        }
    }

    @Test func linkedPatientsRecordsAndMessages() async throws {
        let f = try await ServerFixture.make()
        try await f.run { c in
            let p = try await c.patient("lp@example.com", nickname: "Lee")
            let s = try await c.supporter("ls@example.com")
            let none = try await c.get("/v1/supporter/patients", token: s.token)
            #expect(none.code == 200 && (none.json["patients"] as? [Any])?.count == 0)
            try await c.link(patientToken: p.token, supporterEmail: "ls@example.com", fingerprint: s.fingerprint)
            _ = try await c.post("/v1/patient/records", #"{"type":"note","data":{"t":"hello"}}"#, token: p.token)

            let linked = try await c.get("/v1/supporter/patients", token: s.token)
            let patients = try #require(linked.json["patients"] as? [[String: Any]])
            #expect(patients.count == 1)
            #expect(patients.first?["vaultId"] as? String == p.vaultId)
            #expect(patients.first?["fingerprint"] is String && patients.first?["pinned"] is Bool && patients.first?["recordCount"] is Int)

            let records = try await c.get("/v1/supporter/patients/\(p.vaultId)/records?type=note", token: s.token)
            #expect(records.code == 200)
            #expect((records.json["records"] as? [[String: Any]])?.count == 1)
            let badQuery = try await c.get("/v1/supporter/patients/\(p.vaultId)/records?limit=abc", token: s.token)
            #expect(badQuery.code == 400 && badQuery.field == "limit")

            let message = try await c.post("/v1/supporter/patients/\(p.vaultId)/messages", #"{"text":"take care"}"#, token: s.token)
            #expect(message.code == 201 && message.json["seq"] is Int, "\(message.body)")
            let long = try await c.post("/v1/supporter/patients/\(p.vaultId)/messages", #"{"text":"\#(String(repeating: "x", count: 4001))"}"#,
                                        token: s.token)
            #expect(long.code == 400 && long.field == "/text", "the body's own member: \(long.body)")
            let empty = try await c.post("/v1/supporter/patients/\(p.vaultId)/messages", #"{"text":""}"#, token: s.token)
            #expect(empty.code == 400 && empty.field == "/text")
            let seen = try await c.get("/v1/patient/records?type=message", token: p.token)
            let msg = try #require((seen.json["records"] as? [[String: Any]])?.first)
            #expect((msg["data"] as? [String: Any])?["text"] as? String == "take care")
        }
    }

    @Test func changePasswordAndDelete() async throws {
        let f = try await ServerFixture.make()
        try await f.run { c in
            let s = try await c.supporter("sd@example.com", "first")
            let wrong = try await c.post("/v1/supporter/password", #"{"currentPassword":"nope","newPassword":"second"}"#, token: s.token)
            #expect(wrong.code == 403 && wrong.problem == "authentication-failed")  // re-entered password: the session stays valid
            let changed = try await c.post("/v1/supporter/password", #"{"currentPassword":"first","newPassword":"second"}"#, token: s.token)
            #expect(changed.code == 204)
            #expect(try await c.post("/v1/supporters/login", #"{"email":"sd@example.com","password":"first"}"#).code == 401)
            #expect(try await c.post("/v1/supporters/login", #"{"email":"sd@example.com","password":"second"}"#).code == 200)

            let badDelete = try await c.post("/v1/supporter/delete", #"{"password":"first"}"#, token: s.token)
            #expect(badDelete.code == 403)
            let deleted = try await c.post("/v1/supporter/delete", #"{"password":"second"}"#, token: s.token)
            #expect(deleted.code == 200 && deleted.string("deleted") == "true" && deleted.string("supporterId") == s.supporterId)
            #expect(try await c.get("/v1/supporter/patients", token: s.token).code == 401)
            #expect(try await c.post("/v1/supporters/login", #"{"email":"sd@example.com","password":"second"}"#).code == 401)
        }
    }
}
