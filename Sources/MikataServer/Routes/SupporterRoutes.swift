import Logging
import HTTPTypes
import Foundation
import Hummingbird
import MikataService

struct SupporterRegistration: RequestBody {
    let email: String
    let name: String
    let password: String
    static let members: Set<String> = ["email", "name", "password"]
}
struct Message: RequestBody {
    let text: String
    static let members: Set<String> = ["text"]
}

extension MikataServer {
    /// Supporters: register and log in (public); linked patients, their records, messages, password, deletion
    /// (a supporter's session). A vault that does not link this supporter answers 404, exactly like one that does
    /// not exist.
    func addSupporterRoutes(to router: Router<MikataRequestContext>) {
        let limit = configuration.maxBodyBytes
        router.post("/v1/supporters") { [service, throttle] request, context in
            let body = try await request.decode(SupporterRegistration.self, limit: self.publicBodyLimit)
            try throttle.admitRegistration(address: self.clientAddress(request, context))
            let account = try await service.createSupporter(email: body.email, name: body.name, password: Secret(utf8: body.password))
            return try JSONResponse.make(["supporterId": account.id.hex, "fingerprint": account.fingerprint], status: .created)
        }
        router.post("/v1/supporters/login") { [service, sessions] request, context in
            let body = try await request.decode(Credentials.self, limit: self.publicBodyLimit)
            let ticket = sessions.ticket()  // a password change during the check ends this login too
            let session = try await self.passwordCheck(account: "supporter:" + body.email, role: "supporter", request: request, context: context) {
                try await service.unlockSupporter(email: body.email, password: Secret(utf8: body.password))
            }
            let token = try sessions.open(.supporter(session, email: body.email), address: self.sessionAddress(request, context), ticket: ticket)
            return try JSONResponse.make(self.loginAnswer(token: token, supporterId: session.supporterId))
        }

        let supporter = router.group("/v1/supporter").add(middleware: SessionMiddleware(sessions: sessions, roles: ["supporter"]))
        supporter.get("/patients") { [service] _, context in
            guard case .supporter(let session, _)? = context.principal else { throw Problem.unauthenticated }
            let linked = try await service.linkedPatients(session)
            return try JSONResponse.make(["patients": linked.map(LinkedPatientAnswer.init)])
        }
        supporter.get("/patients/{vaultId}/records") { [service] request, context in
            guard case .supporter(let session, _)? = context.principal else { throw Problem.unauthenticated }
            let id = try Self.vaultId(context)
            let query = try RecordQuery(request)
            let read = try await Self.hidingOthers { try await service.records(session, of: .vault(id), query) }
            return JSONResponse.records(read.page)
        }
        supporter.post("/patients/{vaultId}/messages") { [service] request, context in
            guard case .supporter(let session, _)? = context.principal else { throw Problem.unauthenticated }
            let id = try Self.vaultId(context)
            let body = try await request.decode(Message.self, limit: limit)
            guard !body.text.isEmpty else { throw Problem.malformed("a message needs text", field: "/text") }
            let data = try JSONSerialization.data(withJSONObject: ["text": body.text], options: [.sortedKeys, .withoutEscapingSlashes])
            let r: AppendOutcome
            do { r = try await Self.hidingOthers { try await service.append(session, to: .vault(id), type: "message", data: Array(data)) } }
            catch let e as MikataError where e.field?.hasPrefix("/data") == true {
                // This route's body is the message's data itself: `/data/text` is `/text` here.
                throw MikataError(e.code, e.message, field: String(e.field!.dropFirst("/data".count)))
            }
            return try JSONResponse.make(["seq": r.seq], status: .created)
        }
        supporter.post("/password") { [service, sessions] request, context in
            guard case .supporter(let session, let email)? = context.principal else { throw Problem.unauthenticated }
            let body = try await request.decode(PasswordChange.self, limit: limit)
            _ = try await self.passwordCheck(account: "supporter:" + email, role: "supporter", request: request, context: context,
                                                     reauthentication: true) {
                try await service.changeSupporterPassword(email: email, password: Secret(utf8: body.currentPassword),
                                                          newPassword: Secret(utf8: body.newPassword))
            }
            sessions.close(account: "supporter:" + session.supporterId.hex, keeping: context.token)  // other devices sign in anew
            return JSONResponse.noContent()
        }
        supporter.post("/delete") { [service, sessions] request, context in
            guard case .supporter(let session, let email)? = context.principal else { throw Problem.unauthenticated }
            let body = try await request.decode(PasswordOnly.self, limit: limit)
            let id = try await self.passwordCheck(account: "supporter:" + email, role: "supporter", request: request, context: context,
                                                     reauthentication: true) {
                try await service.deleteSupporter(email: email, password: Secret(utf8: body.password))
            }
            sessions.close(account: "supporter:" + session.supporterId.hex)
            return try JSONResponse.make(["supporterId": id.hex, "deleted": "true"])
        }
    }

    static func vaultId(_ context: MikataRequestContext) throws -> VaultID {
        guard let s = context.parameters.get("vaultId"), let id = VaultID(hex: s) else { throw Problem.notFound }
        return id
    }

    /// A supporter's call on a vault: "not linked", "revoked", "no such vault" and "shredded" all answer 404, so a
    /// supporter learns nothing about vaults that do not link them.
    static func hidingOthers<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch let e as MikataError where [.notFound, .notPermitted, .erased].contains(e.code) {
            throw Problem.notFound
        }
    }

    struct LinkedPatientAnswer: Encodable {
        let vaultId: String
        let nickname: String?
        let fingerprint: String
        let pinned: Bool
        let recordCount: Int
        init(_ p: LinkedPatient) {
            vaultId = p.vaultId.hex; nickname = p.nickname; fingerprint = p.fingerprint; pinned = p.pinned; recordCount = p.recordCount
        }
    }
}
