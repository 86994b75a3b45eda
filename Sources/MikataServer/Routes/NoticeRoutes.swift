import Foundation
import Hummingbird
import MikataService

// Issue 10 §4 (docs/ADHERENCE.md, "Missed-dose notices"): the patient's consent and a supporter's opt-in.

struct NoticeConsentBody: RequestBody {
    let enabled: Bool
    let graceMinutes: Int?
    static let members: Set<String> = ["enabled", "graceMinutes"]
}

struct NoticeSubscriptionBody: RequestBody {
    let enabled: Bool
    let email: String?
    let nickname: String?
    static let members: Set<String> = ["enabled", "email", "nickname"]
}

struct NoticeConsentAnswer: Encodable {
    let enabled: Bool
    let graceMinutes: Int?
    let consentedAt: String?
    let scheduleVersions: Int
    let supporters: [String]

    init(_ c: NoticeConsent) {
        enabled = c.enabled; graceMinutes = c.graceMinutes; consentedAt = c.consentedAt.map { $0.formatted(.iso8601) }
        scheduleVersions = c.scheduleVersions; supporters = c.supporters.map(\.hex)
    }
}

struct NoticeSubscriptionAnswer: Encodable {
    let vaultId: String
    let enabled: Bool
    let nickname: String?
}

extension MikataServer {
    /// `GET`/`PUT /v1/patient/notices` (consent) and `PUT /v1/supporter/patients/{vaultId}/notices` (opt-in).
    /// A supporter's opt-in on a vault that does not link them, or whose patient has not consented, is 404.
    func addNoticeRoutes(to router: Router<MikataRequestContext>) {
        let limit = configuration.maxBodyBytes
        let patient = router.group("/v1/patient").add(middleware: SessionMiddleware(sessions: sessions, roles: ["patient"]))
        patient.get("/notices") { [service] _, context in
            guard case .patient(let session, _)? = context.principal else { throw Problem.unauthenticated }
            return try JSONResponse.make(NoticeConsentAnswer(try await service.noticeConsent(session)))
        }
        patient.put("/notices") { [service] request, context in
            guard case .patient(let session, _)? = context.principal else { throw Problem.unauthenticated }
            let body = try await request.decode(NoticeConsentBody.self, limit: limit)
            let c = try await service.setNoticeConsent(session, enabled: body.enabled,
                                                       graceMinutes: body.graceMinutes ?? NoticeRules.defaultGraceMinutes)
            return try JSONResponse.make(NoticeConsentAnswer(c))
        }
        let supporter = router.group("/v1/supporter").add(middleware: SessionMiddleware(sessions: sessions, roles: ["supporter"]))
        supporter.put("/patients/{vaultId}/notices") { [service] request, context in
            // The address defaults to the one the supporter signed in with (kept in memory for the session).
            guard case .supporter(let session, let signedInAs)? = context.principal else { throw Problem.unauthenticated }
            let id = try Self.vaultId(context)
            let body = try await request.decode(NoticeSubscriptionBody.self, limit: limit)
            let s = try await Self.hidingOthers {
                try await service.setNoticeSubscription(session, of: id, enabled: body.enabled, email: body.email ?? signedInAs,
                                                        nickname: body.nickname)
            }
            return try JSONResponse.make(NoticeSubscriptionAnswer(vaultId: s.vaultId.hex, enabled: s.enabled, nickname: s.nickname))
        }
    }
}
