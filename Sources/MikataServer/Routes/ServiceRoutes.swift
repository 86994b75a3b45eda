import Logging
import HTTPTypes
import Foundation
import Hummingbird
import MikataService

// Bodies (strict: unknown members are refused; see RequestBody).
struct ServiceRecord: RequestBody {
    let vaultId: String?
    let patientEmail: String?
    let type: String
    let data: JSONValue
    static let members: Set<String> = ["vaultId", "patientEmail", "type", "data"]
}
struct ServiceAuthorization: RequestBody {
    let serviceId: String
    /// The patient's password, entered again: an authorisation gives lasting write access (docs/SECURITY.md,
    /// "Re-entered password").
    let password: String
    static let members: Set<String> = ["serviceId", "password"]
}
struct ServiceName: RequestBody {
    let name: String
    static let members: Set<String> = ["name"]
}

extension MikataServer {
    /// Write-only services: `POST /v1/service/records` (the service's API key, docs/SECURITY.md "Service API keys")
    /// and `POST /v1/patient/services` (a patient authorises a registered service).
    func addServiceRoutes(to router: Router<MikataRequestContext>) {
        let limit = configuration.maxBodyBytes
        // The API key is checked against the registry on every request (a revoked key is refused at once); the
        // session it opens lives for this request only. A vault that is unknown, shredded or does not authorise the
        // service, and an unknown address, all answer the same 404.
        router.post("/v1/service/records") { [service, sessions] request, _ in
            guard let apiKey = request.bearerToken else { throw Problem.unauthenticated }
            let session: ServiceSession
            do { session = try await service.serviceSession(apiKey: apiKey) } catch let e as MikataError where e.code == .authenticationFailed {
                throw Problem("unauthenticated", .unauthorized, e.message)
            }
            defer { session.close() }
            // A key's refused appends (404: a vault it may not write, or none; 403: a type no service writes) are
            // counted as a supporter's are (RefusalThrottle): each one is a denied entry in a vault's access log and a
            // share of the log's sync. Past the limit the key's requests answer 429 until the window ends.
            let account = "service:" + session.serviceId.hex
            let counted = try sessions.refusals.admit(account: account)
            var refused = false
            defer { if counted { sessions.refusals.end(account: account, refused: refused) } }
            let body = try await request.decode(ServiceRecord.self, limit: limit)
            do {
                let seq: UInt64
                switch (body.vaultId, body.patientEmail) {
                case (let v?, nil):
                    guard let id = VaultID(hex: v) else { throw Problem.malformed("vaultId: 32 hexadecimal digits", field: "/vaultId") }
                    seq = try await service.append(session, to: id, type: body.type, data: body.data.bytes)
                case (nil, let email?):
                    seq = try await service.append(session, toPatientEmail: email, type: body.type, data: body.data.bytes)
                default:
                    throw Problem.malformed("give exactly one of vaultId and patientEmail", field: body.vaultId == nil ? "/vaultId" : "/patientEmail")
                }
                return try JSONResponse.make(["seq": seq], status: .created)
            } catch let e as MikataError where e.code == .notPermitted && e.field == "/type" {
                refused = true
                throw Problem(e)  // a type no service may write (a regimen): refused before any vault is looked up, 403
            } catch let e as MikataError where [.notPermitted, .notFound, .erased].contains(e.code) {
                refused = true
                throw Problem.notFound
            } catch {
                refused = RefusalThrottle.isRefusal(error)
                throw error
            }
        }

        let patient = router.group("/v1/patient").add(middleware: SessionMiddleware(sessions: sessions, roles: ["patient"]))
        // A registered service that is unknown or revoked answers 404.
        patient.post("/services") { [service] request, context in
            guard case .patient(let session, let email)? = context.principal else { throw Problem.unauthenticated }
            let body = try await request.decode(ServiceAuthorization.self, limit: limit)
            guard let id = ServiceID(hex: body.serviceId) else { throw Problem.malformed("serviceId: 32 hexadecimal digits", field: "/serviceId") }
            let check = try await self.passwordCheck(account: "patient:" + email, role: "patient", request: request, context: context,
                                                     reauthentication: true) {
                try await service.unlockPatient(email: email, password: Secret(utf8: body.password))
            }
            check.close()
            guard check.vaultId == session.vaultId else { throw Problem.unauthenticated }
            do { try await service.authorizeRegisteredService(session, serviceId: id) } catch let e as MikataError where e.code == .notFound {
                throw Problem.notFound
            }
            return JSONResponse.noContent()
        }
    }

    /// The administrators' service-key routes, relative to the group they are added to (`/v1/admin`, behind the
    /// administrator session and the source-IP allowlist): `POST /services` {name} → 201 {serviceId, apiKey} (the
    /// key shown once), `GET /services`, `POST /services/{serviceId}/revoke` → 204 (404 for an unknown id).
    func addAdminServiceRoutes(to group: RouterGroup<MikataRequestContext>) {
        let limit = configuration.maxBodyBytes
        group.post("/services") { [service] request, context in
            let body = try await request.decode(ServiceName.self, limit: limit)
            let r = try await service.registerService(name: body.name, operatorId: Self.operatorId(context))
            let apiKey = r.apiKey.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
            return try JSONResponse.make(["serviceId": r.service.serviceId.hex, "apiKey": apiKey], status: .created)
        }
        group.get("/services") { [service] _, _ in
            let list = try await service.listServices()
            return try JSONResponse.make(["services": list.map {
                ServiceListing(serviceId: $0.serviceId.hex, name: $0.name, createdAt: $0.createdAt, revoked: $0.revoked)
            }])
        }
        group.post("/services/{serviceId}/revoke") { [service] _, context in
            guard let id = context.parameters.get("serviceId").flatMap(ServiceID.init(hex:)) else { throw Problem.notFound }
            do { try await service.revokeService(id, operatorId: Self.operatorId(context)) } catch let e as MikataError where e.code == .notFound {
                throw Problem.notFound
            }
            return JSONResponse.noContent()
        }
    }

    /// Who acts, for the access log: the administrator's account.
    static func operatorId(_ context: MikataRequestContext) -> String {
        context.principal.map(\.account) ?? "administrator"
    }

    struct ServiceListing: Encodable {
        let serviceId: String
        let name: String
        let createdAt: String
        let revoked: Bool
    }
}
