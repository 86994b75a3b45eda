import Logging
import HTTPTypes
import Foundation
import Hummingbird
import MikataService

// Bodies (strict: unknown members are refused; see RequestBody).
struct PatientRegistration: RequestBody {
    let email: String
    let nickname: String
    let password: String
    static let members: Set<String> = ["email", "nickname", "password"]
}
struct Credentials: RequestBody {
    let email: String
    let password: String
    static let members: Set<String> = ["email", "password"]
}
struct Recovery: RequestBody {
    let email: String
    let recoveryCode: String
    let newPassword: String
    static let members: Set<String> = ["email", "recoveryCode", "newPassword"]
}
struct NewRecord: RequestBody {
    let type: String
    let data: JSONValue
    static let members: Set<String> = ["type", "data"]
}
struct Grant: RequestBody {
    let email: String
    let fingerprint: String
    let name: String?
    /// The patient's password, entered again: a grant gives lasting read access, so a session token alone (which a
    /// thief may hold) is not enough, as for a password change.
    let password: String
    static let members: Set<String> = ["email", "fingerprint", "name", "password"]
}
struct Revoke: RequestBody {
    let email: String
    let reencrypt: Bool?
    static let members: Set<String> = ["email", "reencrypt"]
}
struct PasswordChange: RequestBody {
    let currentPassword: String
    let newPassword: String
    static let members: Set<String> = ["currentPassword", "newPassword"]
}
struct PasswordOnly: RequestBody {
    let password: String
    static let members: Set<String> = ["password"]
}
extension MikataServer {
    /// Patients: register, log in, recover (public); records, supporters, password, access log, deletion (a
    /// patient's session).
    func addPatientRoutes(to router: Router<MikataRequestContext>) {
        let limit = configuration.maxBodyBytes
        router.post("/v1/patients") { [service, throttle] request, context in
            let body = try await request.decode(PatientRegistration.self, limit: self.publicBodyLimit)
            try throttle.admitRegistration(address: self.clientAddress(request, context))
            let created: CreatedPatient
            do {
                created = try await service.createPatient(email: body.email, nickname: body.nickname, password: Secret(utf8: body.password))
            } catch let e as MikataError where e.code == .alreadyExists {
                // Said as it is: registration is the one place an address's use shows (as in any sign-up form).
                throw Problem(e)
            }
            let code = created.recoveryCode.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
            return try JSONResponse.make(["vaultId": created.vaultId.hex, "recoveryCode": code], status: .created)
        }
        router.post("/v1/patients/login") { [service, sessions] request, context in
            let body = try await request.decode(Credentials.self, limit: self.publicBodyLimit)
            let ticket = sessions.ticket()  // a password change or recovery during the check ends this login too
            let session = try await self.passwordCheck(account: "patient:" + body.email, role: "patient", request: request, context: context) {
                try await service.unlockPatient(email: body.email, password: Secret(utf8: body.password))
            }
            let token = try sessions.open(.patient(session, email: body.email), address: self.sessionAddress(request, context), ticket: ticket)
            return try JSONResponse.make(self.loginAnswer(token: token, vaultId: session.vaultId))
        }
        router.post("/v1/patients/recover") { [service, sessions, throttle] request, context in
            let body = try await request.decode(Recovery.self, limit: self.publicBodyLimit)
            // Counted by the client's address, not the patient's account: a 200-bit code needs no account lock, and
            // whoever knows the address and locks the login with wrong passwords must not lock the recovery too.
            let client = "recovery:" + self.sessionAddress(request, context)
            let id = try await self.passwordCheck(account: client, role: "patient", request: request, context: context) {
                try await service.recover(email: body.email, recoveryCode: Secret(utf8: body.recoveryCode),
                                          newPassword: Secret(utf8: body.newPassword))
            }
            // The owner proved the code: a lock that guessers ran the login into ends with it.
            throttle.clear(account: Self.throttleAccount("patient:" + body.email))
            sessions.close(account: "patient:" + id.hex)  // whoever held the old password is signed out
            return try JSONResponse.make(["vaultId": id.hex])
        }

        let patient = router.group("/v1/patient").add(middleware: SessionMiddleware(sessions: sessions, roles: ["patient"]))
        patient.post("/records") { [service] request, context in
            guard case .patient(let session, _)? = context.principal else { throw Problem.unauthenticated }
            let bytes = try await request.collectBody(limit: limit)
            let body = try NewRecord.decodeStrictly(bytes)
            let seq = try await service.append(session, type: body.type, data: body.data.bytes)
            return try JSONResponse.make(["seq": seq], status: .created)
        }
        patient.get("/records") { [service] request, context in
            guard case .patient(let session, _)? = context.principal else { throw Problem.unauthenticated }
            let page = try await service.records(session, try RecordQuery(request))
            return JSONResponse.records(page)
        }
        patient.post("/supporters") { [service] request, context in
            guard case .patient(let session, let email)? = context.principal else { throw Problem.unauthenticated }
            let body = try await request.decode(Grant.self, limit: limit)
            let check = try await self.passwordCheck(account: "patient:" + email, role: "patient", request: request, context: context,
                                                     reauthentication: true) {
                try await service.unlockPatient(email: email, password: Secret(utf8: body.password))
            }
            check.close()
            guard check.vaultId == session.vaultId else { throw Problem.unauthenticated }
            let r: GrantOutcome
            do { r = try await service.grant(session, supporterEmail: body.email, supporterName: body.name, fingerprint: body.fingerprint) }
            catch let e as MikataError where e.code == .notFound || e.code == .notPermitted {
                // An unknown address and a wrong fingerprint are one answer (docs/SECURITY.md, "What an answer tells").
                throw MikataError(.notFound, "no supporter has this e-mail address and fingerprint: check both with the supporter")
            }
            return try JSONResponse.make(GrantAnswer(supporterId: r.supporterId.hex, added: r.added, fingerprint: r.fingerprint),
                                         status: r.added ? .created : .ok)
        }
        patient.post("/supporters/revoke") { [service] request, context in
            guard case .patient(let session, _)? = context.principal else { throw Problem.unauthenticated }
            let body = try await request.decode(Revoke.self, limit: limit)
            let r = try await service.revoke(session, supporterEmail: body.email, reencrypt: body.reencrypt ?? false)
            return try JSONResponse.make(RevokeAnswer(supporterId: r.supporterId.hex, epoch: r.epoch, reencrypted: r.reencrypted))
        }
        patient.post("/password") { [service, sessions] request, context in
            guard case .patient(let session, let email)? = context.principal else { throw Problem.unauthenticated }
            let body = try await request.decode(PasswordChange.self, limit: limit)
            let check = try await self.passwordCheck(account: "patient:" + email, role: "patient", request: request, context: context,
                                                              reauthentication: true) {
                try await service.unlockPatient(email: email, password: Secret(utf8: body.currentPassword))
            }
            check.close()
            guard check.vaultId == session.vaultId else { throw Problem.unauthenticated }
            try await service.changePassword(session, to: Secret(utf8: body.newPassword))
            sessions.close(account: "patient:" + session.vaultId.hex, keeping: context.token)  // other devices sign in anew
            return JSONResponse.noContent()
        }
        patient.get("/access-log") { [service] request, context in
            guard case .patient(let session, _)? = context.principal else { throw Problem.unauthenticated }
            // `?after=SEQ&limit=N`: a page of at most 1000 entries (the default), oldest first; `nextAfter` null on the
            // last. `?order=newest&before=SEQ&limit=N`: newest first; `nextBefore` null once no older entry remains.
            let q = request.uri.queryParameters
            func sequenceNumber(_ name: String) throws -> UInt64? {
                guard let a = q.get(name) else { return nil }
                guard let v = UInt64(a) else { throw Problem.malformed("\(name): an access-log sequence number", field: name) }
                return v
            }
            var limit = VaultService.accessLogPageMax
            if let l = q.get("limit") {
                guard let v = Int(l), (1...VaultService.accessLogPageMax).contains(v) else {
                    throw Problem.malformed("limit: 1 to \(VaultService.accessLogPageMax)", field: "limit")
                }
                limit = v
            }
            let newest: Bool
            switch q.get("order") {
            case nil, "oldest": newest = false
            case "newest": newest = true
            default: throw Problem.malformed("order: oldest or newest", field: "order")
            }
            if newest, q.get("after") != nil { throw Problem.malformed("after: only with order=oldest (newest pages take before)", field: "after") }
            if !newest, q.get("before") != nil { throw Problem.malformed("before: only with order=newest", field: "before") }
            let page = newest ? try await service.accessLog(session, before: try sequenceNumber("before"), limit: limit)
                              : try await service.accessLog(session, after: try sequenceNumber("after"), limit: limit)
            return try JSONResponse.make(AccessLogAnswer(entries: page.entries.map(AccessEntry.init),
                                                         next: newest ? page.nextBefore : page.nextAfter, newestFirst: newest))
        }
        patient.post("/delete") { [service, sessions] request, context in
            guard case .patient(let session, let email)? = context.principal else { throw Problem.unauthenticated }
            let body = try await request.decode(PasswordOnly.self, limit: limit)
            let outcome = try await self.passwordCheck(account: "patient:" + email, role: "patient", request: request, context: context,
                                                              reauthentication: true) {
                try await service.deletePatient(email: email, password: Secret(utf8: body.password))
            }
            sessions.close(account: "patient:" + session.vaultId.hex)
            return JSONResponse.deletion(outcome)
        }
    }

    struct GrantAnswer: Encodable {
        let supporterId: String
        let added: Bool
        let fingerprint: String
    }
    struct RevokeAnswer: Encodable {
        let supporterId: String
        let epoch: UInt32
        let reencrypted: Bool
    }
    /// A page of the patient's access log: `nextAfter` (oldest first) or `nextBefore` (newest first), null on the
    /// last page, as on a page of records.
    struct AccessLogAnswer: Encodable {
        let entries: [AccessEntry]
        let next: UInt64?
        let newestFirst: Bool
        enum CodingKeys: String, CodingKey { case entries, nextAfter, nextBefore }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(entries, forKey: .entries)
            try c.encode(next, forKey: newestFirst ? .nextBefore : .nextAfter)
        }
    }
    /// An access-log entry as the patient sees it.
    struct AccessEntry: Encodable {
        let seq: UInt64
        let time: String
        let actor: String
        let role: String
        let action: String
        let outcome: String
        let detail: String
        init(_ e: PatientAccessLogEntry) {
            seq = e.entry.seq; time = e.entry.time; actor = e.actorName; role = e.entry.role; action = e.entry.action
            outcome = e.entry.outcome; detail = e.detail
        }
    }
}

extension RecordQuery {
    /// A page query from `?after=SEQ&limit=N&type=T1,T2&from=ISO&to=ISO` (limit 1...1000, default 100).
    /// - Throws: `Problem` 400 naming the parameter.
    init(_ request: Request) throws {
        let q = request.uri.queryParameters
        var after: UInt64?
        if let a = q.get("after") {
            guard let v = UInt64(a) else { throw Problem.malformed("after: a record sequence number", field: "after") }
            after = v
        }
        var limit = 100
        if let l = q.get("limit") {
            guard let v = Int(l), (1...1000).contains(v) else { throw Problem.malformed("limit: 1 to 1000", field: "limit") }
            limit = v
        }
        var types: Set<String>?
        if let t = q.get("type") {
            let list = t.split(separator: ",").map(String.init)
            guard !list.isEmpty else { throw Problem.malformed("type: one or more record types, comma-separated", field: "type") }
            types = Set(list)
        }
        func millis(_ name: String) throws -> Int64? {
            guard let s = q.get(name) else { return nil }
            guard let d = try? Date(s, strategy: .iso8601) else {
                throw Problem.malformed("\(name): an ISO 8601 date-time (2026-11-29T09:00:00Z)", field: name)
            }
            return Int64((d.timeIntervalSince1970 * 1000).rounded())
        }
        self.init(after: after, limit: limit, types: types, fromMillis: try millis("from"), untilMillis: try millis("to"))
    }
}
