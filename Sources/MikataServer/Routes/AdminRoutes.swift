import Logging
import HTTPTypes
import Foundation
import Hummingbird
import MikataService

struct AdministratorLogin: RequestBody {
    let name: String
    let password: String
    let totp: String
    static let members: Set<String> = ["name", "password", "totp"]
}
struct ShredRequestBody: RequestBody {
    let email: String
    let reason: String
    let requestedBy: String
    let reference: String
    static let members: Set<String> = ["email", "reason", "requestedBy", "reference"]
}
struct ShredApprovalBody: RequestBody {
    /// The patient's address as the approver reads it in the health centre's request.
    let email: String
    static let members: Set<String> = ["email"]
}
struct CertificateBody: RequestBody {
    let certificate: JSONValue
    static let members: Set<String> = ["certificate"]
}

/// An administrator's session stays valid only while the administrator exists (one deleted with
/// `mikata admin delete` is signed out at its next request).
struct AdministratorCheckMiddleware: RouterMiddleware {
    typealias Context = MikataRequestContext
    let service: VaultService
    let sessions: SessionRegistry

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard case .administrator(let name, let enrolment)? = context.principal else { throw Problem.unauthenticated }
        guard try await service.administratorIsCurrent(name, enrolment: enrolment) else {
            if let token = context.token { sessions.close(token: token) }  // this session only: a re-enrolled namesake's stay
            throw Problem.unauthenticated
        }
        return try await next(request, context)
    }
}

extension MikataServer {
    /// Administrators (docs/SECURITY.md, "Administrators"): login with password + TOTP, then the audit log, dual-
    /// control shreds, certificate checks and tombstones. No route here reads a record. Every `/v1/admin` path,
    /// these and any added later, is behind the source-IP allowlist (`AdminAllowlistMiddleware`, added to the
    /// whole router here, so call this before adding other `/v1/admin` routes).
    func addAdminRoutes(to router: Router<MikataRequestContext>) {
        router.add(middleware: AdminAllowlistMiddleware(server: self))
        let limit = configuration.maxBodyBytes
        router.post("/v1/admin/login") { [service, sessions] request, context in
            let body = try await request.decode(AdministratorLogin.self, limit: self.publicBodyLimit)
            try sessions.checkRoom()  // a code is used up by the check: not for a session that cannot be opened
            let ticket = sessions.ticket()
            let admin = try await self.passwordCheck(account: "administrator:" + body.name, role: "administrator", request: request, context: context) {
                try await service.authenticateAdministrator(name: body.name, password: Secret(utf8: body.password), totp: body.totp,
                                                            generator: AdministratorTOTP())
            }
            let token = try sessions.open(.administrator(name: admin.name, enrolment: admin.enrolment), address: self.sessionAddress(request, context),
                                          ticket: ticket)
            return try JSONResponse.make(self.loginAnswer(token: token))
        }

        let admin = router.group("/v1/admin")
            .add(middleware: SessionMiddleware(sessions: sessions, roles: ["administrator"]))
            .add(middleware: AdministratorCheckMiddleware(service: service, sessions: sessions))
        addAdminServiceRoutes(to: admin)  // /v1/admin/services: register, list, revoke API keys
        admin.get("/audit") { [service] request, _ in
            var since: Date?
            if let s = request.uri.queryParameters.get("since") {
                guard let d = try? Date(s, strategy: .iso8601) else {
                    throw Problem.malformed("since: an ISO 8601 date-time (2026-11-29T09:00:00Z)", field: "since")
                }
                since = d
            }
            let entries = try await service.accessLog(since: since)
            return try JSONResponse.make(["entries": entries.map(AuditEntry.init)])
        }
        admin.get("/audit/verify") { [service] _, _ in
            let v = try await service.verifyAccessLog()
            return try JSONResponse.make(AuditVerification(entries: v.entries, checkpoints: v.checkpoints, firstSeq: v.firstSeq, lastSeq: v.lastSeq,
                                                           lastCheckpointSeq: v.lastCheckpointSeq, prunedBefore: v.prunedBefore))
        }
        admin.post("/shred-requests") { [service] request, context in
            guard case .administrator(let name, let enrolment)? = context.principal else { throw Problem.unauthenticated }
            let body = try await request.decode(ShredRequestBody.self, limit: limit)
            // The session's own enrolment: an administrator deleted while this body was on its way makes no request.
            let r: ShredRequestSummary
            do {
                r = try await service.requestShred(email: body.email, reason: body.reason, requestedBy: body.requestedBy,
                                                   reference: body.reference, administrator: name, enrolment: enrolment)
            } catch let e as MikataError where e.code == .authenticationFailed {
                throw Problem.unauthenticated
            }
            return try JSONResponse.make(["requestId": r.requestId, "status": "pending"], status: .created)
        }
        admin.get("/shred-requests") { [service] _, _ in
            let pending = try await service.shredRequests()
            return try JSONResponse.make(["requests": pending.map(ShredRequestAnswer.init)])
        }
        admin.post("/shred-requests/{requestId}/approve") { [service, sessions] request, context in
            guard case .administrator(let name, let enrolment)? = context.principal else { throw Problem.unauthenticated }
            guard let id = context.parameters.get("requestId"), id.utf8.count == 32, id.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) })
            else { throw Problem.notFound }
            let body = try await request.decode(ShredApprovalBody.self, limit: limit)
            let outcome: DeletionOutcome
            do {
                outcome = try await service.approveShred(requestId: id, administrator: name, confirmingEmail: body.email, approverEnrolment: enrolment)
            } catch let e as MikataError where e.code == .authenticationFailed {
                throw Problem.unauthenticated
            }
            sessions.close(account: "patient:" + outcome.vaultId)  // the shredded vault's sessions end with it
            return JSONResponse.deletion(outcome)
        }
        admin.post("/certificates/verify") { [service] request, _ in
            let body = try await request.decode(CertificateBody.self, limit: limit)
            let key = try await service.storePublicKey()
            let v: CertificateVerification
            do { v = try VaultService.verifyCertificate(body.certificate.bytes, publicKey: key.publicKey) } catch let e as MikataError {
                // A certificate that does not verify is bad input (the answer to this question), not a server fault:
                // 400 naming the member, with the failure class (corrupted, tampered, unsupported) as the problem type.
                throw Problem(e.code.rawValue, .badRequest, e.message, field: "/certificate")
            }
            return try JSONResponse.make(["certificateId": v.certificateId, "vaultId": v.vaultId, "issuedAt": v.issuedAt,
                                          "signingKeyId": v.signingKeyId])
        }
        admin.get("/tombstones") { [service] _, _ in
            let list = try await service.tombstones()
            return try JSONResponse.make(["tombstones": list.map(TombstoneAnswer.init)])
        }
    }

    /// An access-log entry as administrators see it: ids, roles, actions, outcomes (docs/FORMAT.md §8).
    struct AuditEntry: Encodable {
        let seq: UInt64
        let time: String
        let vaultId: String
        let actor: String
        let role: String
        let action: String
        let outcome: String
        let detail: String
        init(_ e: AccessLogEntry) {
            seq = e.seq; time = e.time; vaultId = e.vaultId; actor = e.actor; role = e.role; action = e.action; outcome = e.outcome
            detail = e.detail
        }
    }
    struct AuditVerification: Encodable {
        let entries: Int
        let checkpoints: Int
        let firstSeq: UInt64?
        let lastSeq: UInt64?
        let lastCheckpointSeq: UInt64?
        let prunedBefore: UInt64?

        // Absent values are `null`, not missing members.
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(entries, forKey: .entries); try c.encode(checkpoints, forKey: .checkpoints)
            try c.encode(firstSeq, forKey: .firstSeq); try c.encode(lastSeq, forKey: .lastSeq)
            try c.encode(lastCheckpointSeq, forKey: .lastCheckpointSeq); try c.encode(prunedBefore, forKey: .prunedBefore)
        }
        enum CodingKeys: String, CodingKey { case entries, checkpoints, firstSeq, lastSeq, lastCheckpointSeq, prunedBefore }
    }
    struct ShredRequestAnswer: Encodable {
        let requestId: String
        let requestedAt: String
        let requestedByAdministrator: String
        let reason: String
        let requestedBy: String
        let reference: String
        init(_ r: ShredRequestSummary) {
            requestId = r.requestId; requestedAt = r.requestedAt; requestedByAdministrator = r.requestedByAdministrator
            reason = r.reason; requestedBy = r.requestedBy; reference = r.reference
        }
    }
    struct TombstoneAnswer: Encodable {
        let vaultId: String
        let shreddedAt: String?
        let certificateId: String?
        init(_ t: Tombstone) { vaultId = t.vaultId; shreddedAt = t.shreddedAt; certificateId = t.certificateId }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(vaultId, forKey: .vaultId); try c.encode(shreddedAt, forKey: .shreddedAt); try c.encode(certificateId, forKey: .certificateId)
        }
        enum CodingKeys: String, CodingKey { case vaultId, shreddedAt, certificateId }
    }
}
