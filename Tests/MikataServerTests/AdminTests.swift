import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdOTP
import HummingbirdTesting
import Logging
import NIOCore
import Testing
@testable import MikataServer
@_spi(Testing) import MikataService

/// A temporary store, a service over it at the cheapest Argon2id cost, and servers over that service.
private struct AdminFixture {
    let root: String
    let keys: RootKeyLocation
    var service: VaultService

    static func make() async throws -> AdminFixture {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("mikata-admin-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        chmod(base, 0o700)
        let keys = RootKeyLocation.directory("\(base)/root-keys")
        let (service, _) = try await VaultService.initialize(storePath: "\(base)/store", rootKey: keys, configuration: Self.serviceConfiguration)
        return AdminFixture(root: base, keys: keys, service: service)
    }

    static var serviceConfiguration: VaultServiceConfiguration {
        var c = VaultServiceConfiguration()
        c.passwordCost = .minimumForTesting
        c.threads = 8
        c.passwordChecksAtLowestPriority = false  // the TOTP codes of a test stay within their steps however busy the runner is
        return c
    }

    /// Another handle on the same store, as a restarted process would open it.
    func reopen() async throws -> VaultService {
        try await VaultService.open(storePath: "\(root)/store", rootKey: keys, configuration: Self.serviceConfiguration)
    }

    func server(_ configure: (inout ServerConfiguration) -> Void = { _ in }, service: VaultService? = nil, logger: Logger? = nil) -> MikataServer {
        var c = ServerConfiguration()
        configure(&c)
        return MikataServer(configuration: c, service: service ?? self.service, logger: logger ?? Logger(label: "admin-tests"))
    }

    func tearDown() async {
        await service.shutdown()
        try? FileManager.default.removeItem(atPath: root)
    }
}

/// An administrator enrolled in the test's "authenticator app".
private struct Enrolled {
    let name: String
    let password: String
    let secret: String

    func code(at date: Date = Date()) -> String { TOTPRules.format(AdministratorTOTP().code(secret: secret, at: date)) }
}

private func adminEnrol(_ service: VaultService, _ name: String, password: String = "correct horse battery") async throws -> Enrolled {
    let e = try await service.createAdministrator(name: name, password: Secret(utf8: password))
    return Enrolled(name: e.name, password: password, secret: e.totpSecret.withUnsafeBytes { String(decoding: $0, as: UTF8.self) })
}

private struct AdminAnswer {
    let status: Int
    let text: String
    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:] }
}

private func adminCall(_ client: some TestClientProtocol, _ method: HTTPRequest.Method, _ uri: String, token: String? = nil,
                  headers extra: HTTPFields = [:], body: Any? = nil) async throws -> AdminAnswer {
    var headers = extra
    if let token { headers[.authorization] = "Bearer \(token)" }
    var buffer: ByteBuffer?
    if let body {
        headers[.contentType] = "application/json"
        buffer = ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body))
    }
    let r = try await client.execute(uri: uri, method: method, headers: headers, body: buffer)
    return AdminAnswer(status: Int(r.status.code), text: String(buffer: r.body))
}

private func adminLogin(_ client: some TestClientProtocol, _ a: Enrolled, code: String? = nil) async throws -> AdminAnswer {
    try await adminCall(client, .post, "/v1/admin/login", body: ["name": a.name, "password": a.password, "totp": code ?? a.code()])
}

private func adminLiveApp(_ server: MikataServer) -> some ApplicationProtocol {
    Application(router: server.router(), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
}

@Suite struct TOTPTests {
    /// RFC 6238 Appendix B, SHA-1 rows: the 20-byte ASCII secret "12345678901234567890", 8 digits.
    @Test(arguments: [(59.0, 94287082), (1111111109, 7081804), (1111111111, 14050471), (1234567890, 89005924),
                      (2000000000, 69279037), (20000000000, 65353130)])
    func rfc6238AppendixBThroughHummingbirdOTP(time: Double, expected: Int) {
        let totp = TOTP(secret: "12345678901234567890", length: 8, timeStep: 30, hashFunction: .sha1)
        #expect(totp.compute(date: Date(timeIntervalSince1970: time)) == expected)
    }

    @Test func theWindowIsOneStepEitherSideAndACodeIsAcceptedOnce() {
        let secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
        let now = Date(timeIntervalSince1970: 1_764_000_015)  // mid-step
        let s = TOTPRules.step(at: now)
        let code = { (step: Int64) in TOTPRules.format(AdministratorTOTP().code(secret: secret, at: TOTPRules.date(ofStep: step))) }
        let gen = { (step: Int64) in AdministratorTOTP().code(secret: secret, at: TOTPRules.date(ofStep: step)) }
        for d in [-1, 0, 1] as [Int64] {
            #expect(TOTPRules.acceptedStep(given: code(s + d), at: now, lastAccepted: nil, code: gen) == s + d, "±1 accepted: \(d)")
        }
        for d in [-3, -2, 2, 3] as [Int64] where code(s + d) != code(s - 1) && code(s + d) != code(s) && code(s + d) != code(s + 1) {
            #expect(TOTPRules.acceptedStep(given: code(s + d), at: now, lastAccepted: nil, code: gen) == nil, "±2 refused: \(d)")
        }
        // Once step s is accepted, its code and the one before are refused; the next step's is not.
        #expect(TOTPRules.acceptedStep(given: code(s), at: now, lastAccepted: s, code: gen) == nil)
        #expect(TOTPRules.acceptedStep(given: code(s - 1), at: now, lastAccepted: s, code: gen) == nil)
        #expect(TOTPRules.acceptedStep(given: code(s + 1), at: now, lastAccepted: s, code: gen) == s + 1)
        // Anything but six ASCII digits matches nothing.
        let c = code(s)
        for bad in [String(c.dropLast()), c + "0", " " + c.dropFirst(), "", "١٢٣٤٥٦", "abcdef"] {
            #expect(TOTPRules.acceptedStep(given: bad, at: now, lastAccepted: nil, code: gen) == nil, "\(bad)")
        }
        #expect(TOTPRules.format(7) == "000007" && TOTPRules.format(123456) == "123456")
    }

    @Test func everyStepOfTheWindowGoesThroughTheConstantTimeComparison() {
        let now = Date(timeIntervalSince1970: 1_764_000_015)
        let s = TOTPRules.step(at: now)
        for matching in [s - 1, s, s + 1, s + 5] {
            var compared: [String] = []
            let accepted = TOTPRules.acceptedStep(given: TOTPRules.format(Int(matching) % 1_000_000), at: now, lastAccepted: nil,
                                                  code: { Int($0) % 1_000_000 },
                                                  equal: { a, b in compared.append(a); return TOTPRules.codesEqual(a, b) })
            #expect(compared.count == 3, "all three steps compared, no early exit (match at \(matching - s))")
            #expect(accepted == (matching == s + 5 ? nil : matching))
        }
        #expect(TOTPRules.codesEqual("123456", "123456") && !TOTPRules.codesEqual("123456", "123457") && !TOTPRules.codesEqual("12345", "123456"))
    }

    @Test func theAuthenticatorURLCarriesTheBase32OfTheSecretHummingbirdOTPKeysWith() async throws {
        let f = try await AdminFixture.make()
        let e = try await f.service.createAdministrator(name: "Op1", password: Secret(utf8: "correct horse battery"))
        let secret = e.totpSecret.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
        #expect(e.name == "op1" && secret.count == 32 && secret.allSatisfy { "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".contains($0) })
        let url = AdministratorTOTP.authenticatorURL(e)
        #expect(url.hasPrefix("otpauth://totp/") && url.contains("secret=\(e.authenticatorKey)&") && url.contains("issuer=MikataVault"))
        #expect(e.authenticatorKey.count == 52, "base32 of 32 bytes, unpadded")
        await f.tearDown()
    }
}

@Suite struct AdministratorAccountTests {
    @Test func loginNeedsThePasswordAndAFreshCodeAndAnswersEveryFailureAlike() async throws {
        let f = try await AdminFixture.make()
        let a = try await adminEnrol(f.service, "op1")
        let now = Date()
        func verify(_ name: String, _ password: String, _ code: String, on s: VaultService? = nil) async -> MikataError.Code? {
            do { _ = try await (s ?? f.service).verifyAdministrator(name: name, password: Secret(utf8: password), totp: code, now: now, generator: AdministratorTOTP()); return nil }
            catch let e as MikataError { return e.code } catch { return .io }
        }
        #expect(await verify("op1", a.password, "000000") == .authenticationFailed || a.code(at: now) == "000000")
        #expect(await verify("op1", "wrong password", a.code(at: now)) == .authenticationFailed)
        #expect(await verify("nobody", a.password, a.code(at: now)) == .authenticationFailed)
        #expect(await verify("not a name!", a.password, a.code(at: now)) == .authenticationFailed)
        #expect(await verify("OP1", a.password, a.code(at: now)) == nil, "names are case-insensitive")
        #expect(await verify("op1", a.password, a.code(at: now)) == .authenticationFailed, "the same code twice: refused")
        let other = try await f.reopen()
        #expect(await verify("op1", a.password, a.code(at: now), on: other) == .authenticationFailed, "refused by another process too: persisted")
        #expect(await verify("op1", a.password, a.code(at: now.addingTimeInterval(30)), on: other) == nil, "the next step's code is fresh")
        await other.shutdown()

        // Listed and deleted; duplicates and weak input refused.
        #expect(try await f.service.administrators().map(\.name) == ["op1"])
        #expect(await adminErrorCode { _ = try await f.service.createAdministrator(name: "op1", password: Secret(utf8: "another password")) } == .alreadyExists)
        #expect(await adminErrorCode { _ = try await f.service.createAdministrator(name: "op2", password: Secret(utf8: "short")) } == .invalidInput)
        #expect(await adminErrorCode { _ = try await f.service.createAdministrator(name: "-op", password: Secret(utf8: "long enough")) } == .invalidInput)
        try await f.service.deleteAdministrator(name: "op1")
        #expect(try await f.service.administrators().isEmpty)
        #expect(await adminErrorCode { try await f.service.deleteAdministrator(name: "op1") } == .notFound)
        #expect(await verify("op1", a.password, a.code(at: now.addingTimeInterval(60))) == .authenticationFailed)
        await f.tearDown()
    }

    @Test func theStoreKeepsNoSecretNameOrAddressInClearAndRefusesAForeignOrDamagedFile() async throws {
        let f = try await AdminFixture.make()
        let a = try await adminEnrol(f.service, "op1")
        _ = try await adminEnrol(f.service, "op2")
        _ = try await f.service.createPatient(email: "taro@example.jp", nickname: "Taro", password: Secret(utf8: "pw"))
        _ = try await f.service.requestShred(email: "taro@example.jp", reason: "deceased", requestedBy: "Hokenjo", reference: "HC-1", administrator: "op1")
        let folder = "\(f.root)/store/admin"
        for file in ["administrators", "shred-requests"] {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: "\(folder)/\(file)"))
            for needle in ["op1", a.secret, "taro@example.jp", "argon2id", "deceased"] {
                #expect(bytes.range(of: Data(needle.utf8)) == nil, "\(file) holds \(needle) in clear")
            }
            var st = stat()
            #expect(stat("\(folder)/\(file)", &st) == 0 && st.st_mode & 0o777 == 0o600)
        }
        // Another store's file does not open under this root key (tampered); a flipped byte fails the checksum.
        let g = try await AdminFixture.make()
        let original = try Data(contentsOf: URL(fileURLWithPath: "\(folder)/administrators"))
        try FileManager.default.createDirectory(atPath: "\(g.root)/store/admin", withIntermediateDirectories: true)
        try original.write(to: URL(fileURLWithPath: "\(g.root)/store/admin/administrators"))
        #expect(await adminErrorCode { _ = try await g.service.administrators() } == .tampered)
        var damaged = original
        damaged[damaged.count / 2] ^= 1
        try damaged.write(to: URL(fileURLWithPath: "\(folder)/administrators"))
        #expect(await adminErrorCode { _ = try await f.service.administrators() } == .corrupted)
        await g.tearDown()
        await f.tearDown()
    }
}

@Suite struct AdminRouteTests {
    @Test func loginOverHTTPAnswersEveryFailureWithTheSame401() async throws {
        let f = try await AdminFixture.make()
        let a = try await adminEnrol(f.service, "op1")
        let app = adminLiveApp(f.server())
        try await app.test(.live) { client async throws in
            let unknown = try await adminCall(client, .post, "/v1/admin/login", body: ["name": "nobody", "password": a.password, "totp": a.code()])
            let wrongPassword = try await adminCall(client, .post, "/v1/admin/login", body: ["name": "op1", "password": "nope nope", "totp": a.code()])
            let code = a.code()
            let wrongCode = try await adminLogin(client, a, code: code == "123456" ? "654321" : "123456")
            for r in [unknown, wrongPassword, wrongCode] {
                #expect(r.status == 401 && r.text == unknown.text, "\(r.text)")
            }
            let ok = try await adminLogin(client, a, code: code)
            #expect(ok.status == 200, "\(ok.text)")
            #expect(ok.json["tokenType"] as? String == "Bearer" && (ok.json["token"] as? String)?.count == 43)
            #expect(ok.json["idleTimeoutSeconds"] as? Int == 900 && ok.json["absoluteTimeoutSeconds"] as? Int == 43_200)
            #expect(ok.json["vaultId"] == nil && ok.json["supporterId"] == nil)
            let replay = try await adminLogin(client, a, code: code)
            #expect(replay.status == 401 && replay.text == unknown.text, "a replayed code")
            let strict = try await adminCall(client, .post, "/v1/admin/login", body: ["name": "op1", "password": a.password, "totp": a.code(), "extra": 1])
            #expect(strict.status == 400 && strict.json["field"] as? String == "/extra")

            let token = try #require(ok.json["token"] as? String)
            #expect(try await adminCall(client, .get, "/v1/admin/tombstones", token: token).status == 200)
            // Deleted: the session ends at its next request.
            try await f.service.deleteAdministrator(name: "op1")
            #expect(try await adminCall(client, .get, "/v1/admin/tombstones", token: token).status == 401)
        }
        await f.tearDown()
    }

    @Test func aSessionEndsWhenItsAdministratorIsDeletedEvenIfTheNameIsEnrolledAgain() async throws {
        let f = try await AdminFixture.make()
        let a = try await adminEnrol(f.service, "op1")
        let app = adminLiveApp(f.server())
        try await app.test(.live) { client async throws in
            let ok = try await adminLogin(client, a)
            let token = try #require(ok.json["token"] as? String)
            #expect(try await adminCall(client, .get, "/v1/admin/tombstones", token: token).status == 200)
            // Deleted and enrolled again under the same name before the old session's next request.
            try await f.service.deleteAdministrator(name: "op1")
            let again = try await adminEnrol(f.service, "op1", password: "another long password")
            #expect(try await adminCall(client, .get, "/v1/admin/tombstones", token: token).status == 401)
            let fresh = try await adminLogin(client, again)
            let freshToken = try #require(fresh.json["token"] as? String)
            #expect(try await adminCall(client, .get, "/v1/admin/tombstones", token: freshToken).status == 200)
        }
        await f.tearDown()
    }

    @Test func aFullSessionTableRefusesAnAdministratorLoginWithoutUsingUpTheCode() async throws {
        let f = try await AdminFixture.make()
        let a = try await adminEnrol(f.service, "op1")
        let server = f.server { $0.maxSessions = 1 }
        let app = adminLiveApp(server)
        try await app.test(.live) { client async throws in
            let filler = try server.sessions.open(.administrator(name: "somebody", enrolment: ""))
            let code = a.code()
            let refused = try await adminLogin(client, a, code: code)
            #expect(refused.status == 503, "\(refused.text)")
            server.sessions.close(token: filler)
            let ok = try await adminLogin(client, a, code: code)
            #expect(ok.status == 200, "the code refused for want of room is still good: \(ok.text)")
        }
        await f.tearDown()
    }

    @Test func dualControlShredSurvivesARestartAndNamesBothAdministrators() async throws {
        var f = try await AdminFixture.make()
        let op1 = try await adminEnrol(f.service, "op1")
        let op2 = try await adminEnrol(f.service, "op2")
        let created = try await f.service.createPatient(email: "taro@example.jp", nickname: "Taro", password: Secret(utf8: "pw"))
        let vaultId = created.vaultId.hex

        let first = f.server()
        let requestId = try await adminLiveApp(first).test(.live) { client async throws -> String in
            let t1 = try #require(try await adminLogin(client, op1).json["token"] as? String)
            let unknown = try await adminCall(client, .post, "/v1/admin/shred-requests", token: t1,
                                         body: ["email": "nobody@example.jp", "reason": "deceased", "requestedBy": "Hokenjo", "reference": "HC-1"])
            #expect(unknown.status == 404)
            let made = try await adminCall(client, .post, "/v1/admin/shred-requests", token: t1,
                                      body: ["email": "taro@example.jp", "reason": "deceased", "requestedBy": "Hokenjo", "reference": "HC-1"])
            #expect(made.status == 201 && made.json["status"] as? String == "pending", "\(made.text)")
            let requestId = try #require(made.json["requestId"] as? String)
            let list = try await adminCall(client, .get, "/v1/admin/shred-requests", token: t1)
            #expect(list.status == 200 && !list.text.contains("taro") && list.text.contains(requestId) && list.text.contains("\"requestedByAdministrator\":\"op1\""))
            let own = try await adminCall(client, .post, "/v1/admin/shred-requests/\(requestId)/approve", token: t1, body: ["email": "taro@example.jp"])
            #expect(own.status == 403, "the requester cannot approve: \(own.text)")
            #expect(try await adminCall(client, .post, "/v1/admin/shred-requests/\(String(repeating: "0", count: 32))/approve", token: t1,
                                        body: ["email": "taro@example.jp"]).status == 404)
            return requestId
        }
        // Restart: a new process over the same store; sessions are gone, the request is not.
        await first.stop()
        f.service = try await f.reopen()
        let second = f.server()
        try await adminLiveApp(second).test(.live) { client async throws in
            let t2 = try #require(try await adminLogin(client, op2).json["token"] as? String)
            let list = try await adminCall(client, .get, "/v1/admin/shred-requests", token: t2)
            #expect(list.text.contains(requestId), "the request survived the restart")
            // The approver types the address from the health centre's request: another one (or none) shreds nothing.
            let mistyped = try await adminCall(client, .post, "/v1/admin/shred-requests/\(requestId)/approve", token: t2, body: ["email": "hanako@example.jp"])
            #expect(mistyped.status == 403 && mistyped.json["field"] as? String == "/email", "\(mistyped.text)")
            #expect(!mistyped.text.contains("taro"), "the request's address is not revealed")
            #expect(try await adminCall(client, .post, "/v1/admin/shred-requests/\(requestId)/approve", token: t2).status == 400)
            let approved = try await adminCall(client, .post, "/v1/admin/shred-requests/\(requestId)/approve", token: t2, body: ["email": " Taro@Example.JP"])
            #expect(approved.status == 200, "\(approved.text)")
            #expect(approved.json["vaultId"] as? String == vaultId)
            let certificate = try #require(approved.json["certificate"] as? [String: Any])
            let execution = try #require(certificate["execution"] as? [String: Any])
            #expect(execution["executedBy"] as? String == "op1" && execution["approvedBy"] as? String == "op2")
            let after = try await adminCall(client, .get, "/v1/admin/shred-requests", token: t2)
            #expect((after.json["requests"] as? [Any])?.isEmpty == true, "executed: no longer pending")
            // The certificate verifies against this store's key; an altered one does not (400).
            let verified = try await adminCall(client, .post, "/v1/admin/certificates/verify", token: t2, body: ["certificate": certificate])
            #expect(verified.status == 200 && verified.json["vaultId"] as? String == vaultId, "\(verified.text)")
            var altered = certificate
            altered["issuedAt"] = "2000-01-01T00:00:00.000Z"
            #expect(try await adminCall(client, .post, "/v1/admin/certificates/verify", token: t2, body: ["certificate": altered]).status == 400)
            let tombstones = try await adminCall(client, .get, "/v1/admin/tombstones", token: t2)
            #expect(tombstones.text.contains(vaultId) && tombstones.text.contains(approved.json["certificateId"] as? String ?? "?"))
            // The audit log shows the request, the logins and the shred, and still verifies.
            let audit = try await adminCall(client, .get, "/v1/admin/audit", token: t2)
            let actions = (audit.json["entries"] as? [[String: Any]] ?? []).compactMap { $0["action"] as? String }
            #expect(actions.contains("shred-request") && actions.contains("shred") && actions.contains("administrator-login"))
            #expect(try await adminCall(client, .get, "/v1/admin/audit?since=2999-01-01T00:00:00Z", token: t2).json["entries"] as? [Any] != nil)
            #expect(try await adminCall(client, .get, "/v1/admin/audit?since=yesterday", token: t2).status == 400)
            let check = try await adminCall(client, .get, "/v1/admin/audit/verify", token: t2)
            #expect(check.status == 200 && check.json["entries"] as? Int ?? 0 > 0, "\(check.text)")
        }
        #expect(await adminErrorCode { _ = try await f.service.unlockPatient(email: "taro@example.jp", password: Secret(utf8: "pw")) } == .authenticationFailed,
                "the vault is gone")
        await second.stop()
        try? FileManager.default.removeItem(atPath: f.root)
    }

    @Test func rolesStayApartOnAdministratorAndPatientRoutes() async throws {
        let f = try await AdminFixture.make()
        let a = try await adminEnrol(f.service, "op1")
        _ = try await f.service.createPatient(email: "p@example.jp", nickname: "P", password: Secret(utf8: "pw"))
        _ = try await f.service.createSupporter(email: "s@example.jp", name: "S", password: Secret(utf8: "pw"))
        try await adminLiveApp(f.server()).test(.live) { client async throws in
            let admin = try #require(try await adminLogin(client, a).json["token"] as? String)
            let patient = try #require(try await adminCall(client, .post, "/v1/patients/login", body: ["email": "p@example.jp", "password": "pw"]).json["token"] as? String)
            let supporter = try #require(try await adminCall(client, .post, "/v1/supporters/login", body: ["email": "s@example.jp", "password": "pw"]).json["token"] as? String)
            let adminRoutes: [(HTTPRequest.Method, String)] = [
                (.get, "/v1/admin/audit"), (.get, "/v1/admin/audit/verify"), (.get, "/v1/admin/shred-requests"), (.post, "/v1/admin/shred-requests"),
                (.post, "/v1/admin/shred-requests/\(String(repeating: "a", count: 32))/approve"), (.post, "/v1/admin/certificates/verify"),
                (.get, "/v1/admin/tombstones"),
            ]
            for (method, uri) in adminRoutes {
                #expect(try await adminCall(client, method, uri).status == 401, "no token: \(uri)")
                for token in [patient, supporter] {
                    #expect(try await adminCall(client, method, uri, token: token).status == 403, "\(uri)")
                }
            }
            for (method, uri) in [(HTTPRequest.Method.get, "/v1/patient/records"), (.get, "/v1/patient/access-log"), (.get, "/v1/supporter/patients"),
                                  (.get, "/v1/supporter/patients/\(String(repeating: "a", count: 32))/records")] {
                #expect(try await adminCall(client, method, uri, token: admin).status == 403, "an administrator reads no records: \(uri)")
            }
        }
        await f.tearDown()
    }

    @Test func theAllowlistGuardsEveryAdministrationPathAndBelievesOnlyTrustedProxies() async throws {
        let f = try await AdminFixture.make()
        let a = try await adminEnrol(f.service, "op1")
        let paths = ["/v1/admin/login", "/v1/admin/audit", "/v1/admin/services", "/v1/admin/anything", "/v1/./admin/audit", "/V1/ADMIN/audit", "/v1/%61dmin/audit"]
        // In-process router tests have no peer address: nothing is allowed.
        try await Application(router: f.server().router()).test(.router) { client async throws in
            #expect(try await adminLogin(client, a).status == 403)
        }
        // Outside the list (the default is loopback only; this one is a documentation range).
        try await adminLiveApp(f.server { $0.adminAllowlist = [IPRange("192.0.2.0/24")!] }).test(.live) { client async throws in
            for p in paths {
                let r = try await adminCall(client, .post, p, body: ["name": "op1", "password": a.password, "totp": a.code()])
                #expect(r.status == 403 && r.json["type"] as? String == Problem.typeBase + "forbidden", "\(p): \(r.text)")
            }
            #expect(try await adminCall(client, .get, "/healthz").status == 200, "other routes are not concerned")
        }
        // Inside it (loopback, the default): the routes answer.
        try await adminLiveApp(f.server()).test(.live) { client async throws in
            #expect(try await adminCall(client, .post, "/v1/admin/login", body: ["name": "op1"]).status == 400)
            #expect(try await adminCall(client, .get, "/v1/admin/audit").status == 401)
        }
        let xff = HTTPFields([HTTPField(name: HTTPField.Name("X-Forwarded-For")!, value: "203.0.113.7")])
        let outsider = HTTPFields([HTTPField(name: HTTPField.Name("X-Forwarded-For")!, value: "203.0.113.7, 198.51.100.1")])
        // From a trusted proxy, X-Forwarded-For is the client: allowed when it is in the list, refused when not.
        try await adminLiveApp(f.server {
            $0.trustedProxies = [IPRange("127.0.0.0/8")!, IPRange("::1")!]
            $0.adminAllowlist = [IPRange("203.0.113.7")!]
        }).test(.live) { client async throws in
            #expect(try await adminCall(client, .get, "/v1/admin/audit", headers: xff).status == 401, "allowed, then asked to sign in")
            #expect(try await adminCall(client, .get, "/v1/admin/audit", headers: outsider).status == 403, "the nearest untrusted hop is the client")
            #expect(try await adminCall(client, .get, "/v1/admin/audit").status == 403, "the proxy itself is not in the list")
        }
        // Behind a proxy on loopback with the default allowlist (loopback): a request through the proxy that names no
        // client, or a malformed one, is not the proxy's own; it has no address the allowlist knows.
        try await adminLiveApp(f.server { $0.trustedProxies = [IPRange("127.0.0.0/8")!, IPRange("::1")!] }).test(.live) { client async throws in
            for value in ["203.0.113.7:5678", "fe80::1%eth0", "not an address", "203.0.113.7, 198.51.100.1:80"] {
                let malformed = HTTPFields([HTTPField(name: HTTPField.Name("X-Forwarded-For")!, value: value)])
                #expect(try await adminCall(client, .get, "/v1/admin/audit", headers: malformed).status == 403, "\(value)")
            }
            #expect(try await adminCall(client, .get, "/v1/admin/audit").status == 403, "no X-Forwarded-For from the proxy")
            let local = HTTPFields([HTTPField(name: HTTPField.Name("X-Forwarded-For")!, value: "127.0.0.1")])
            #expect(try await adminCall(client, .get, "/v1/admin/audit", headers: local).status == 401, "a client on loopback, as the proxy saw it")
        }
        // From an untrusted peer, a spoofed X-Forwarded-For gains nothing.
        try await adminLiveApp(f.server { $0.adminAllowlist = [IPRange("203.0.113.7")!] }).test(.live) { client async throws in
            #expect(try await adminCall(client, .get, "/v1/admin/audit", headers: xff).status == 403)
        }
        // A proxy on loopback left out of http.trustedProxies (the default allowlist holds loopback): its forwarded
        // requests are refused, not taken as the proxy's own; a request without the header still answers.
        let logs = LogSink()
        try await adminLiveApp(f.server(logger: logs.logger("admin-tests"))).test(.live) { client async throws in
            for _ in 0..<2 {
                let r = try await adminCall(client, .get, "/v1/admin/audit", headers: xff)
                #expect(r.status == 403 && r.text.contains("trusted proxy"), "\(r.text)")
            }
            #expect(try await adminCall(client, .get, "/v1/admin/audit").status == 401)
            for (name, value) in [("Forwarded", "for=203.0.113.7"), ("X-Real-IP", "203.0.113.7")] {
                let other = HTTPFields([HTTPField(name: HTTPField.Name(name)!, value: value)])
                #expect(try await adminCall(client, .get, "/v1/admin/audit", headers: other).status == 403, "\(name)")
            }
            #expect(try await adminCall(client, .get, "/v1/patient/records", headers: xff).status == 401, "other routes are not affected")
        }
        #expect(logs.all.filter { $0.contains("http.trustedProxies") }.count == 1, "one warning, not one per request")
        await f.tearDown()
    }

    @Test func registrationsFromOneAddressAreLimitedBeforeAnyPasswordIsHashed() async throws {
        let f = try await AdminFixture.make()
        try await adminLiveApp(f.server { $0.ipRegistrationLimit = 2 }).test(.live) { client async throws in
            for i in 0..<2 {
                let r = try await adminCall(client, .post, "/v1/patients", body: ["email": "reg\(i)@example.jp", "nickname": "R", "password": "registration pw \(i)"])
                #expect(r.status == 201, "\(r.text)")
            }
            // Patients and supporters share the address's allowance; the refusal comes before the account is made.
            let third = try await client.execute(uri: "/v1/supporters", method: .post, headers: [.contentType: "application/json"],
                                                 body: ByteBuffer(string: #"{"email":"reg2@example.jp","name":"S","password":"registration pw 2"}"#))
            #expect(third.status == .tooManyRequests && Int(third.headers[.retryAfter] ?? "") ?? 0 >= 1)
            #expect(String(buffer: third.body).contains(Problem.typeBase + "throttled"))
            let fourth = try await adminCall(client, .post, "/v1/patients", body: ["email": "reg3@example.jp", "nickname": "R", "password": "registration pw 3"])
            #expect(fourth.status == 429)
            #expect(try await adminCall(client, .post, "/v1/supporters/login", body: ["email": "reg2@example.jp", "password": "registration pw 2"]).status == 401)
        }
        await f.tearDown()
    }

    @Test func theAllowlistCoversEverySpellingOfAdministrationPaths() {
        for p in ["/v1/admin", "/v1/admin/", "/v1/admin/x", "//v1//admin", "/v1/../v1/admin", "/v1/%41DMIN", "/v1%2Fadmin/audit", "/./v1/admin/x"] {
            #expect(AdminAllowlistMiddleware.covers(p), "\(p)")
        }
        for p in ["/v1/administrators", "/v1/patient/admin", "/healthz", "/v1"] {
            #expect(!AdminAllowlistMiddleware.covers(p), "\(p)")
        }
        // The fast path (no `%`, no `.`): capitals folded, empty segments skipped, nothing else taken for a letter.
        for p in ["/V1/ADMIN", "/v1/AdMiN/audit", "///v1///admin///x", "v1/admin"] { #expect(AdminAllowlistMiddleware.covers(p), "\(p)") }
        // A `/` with a combining mark after it still ends a segment (a router splits the bytes).
        for p in ["/v1/admin/\u{301}", "/v1/admin/%CC%81audit", "/v1/admin/\u{301}x"] {
            #expect(AdminAllowlistMiddleware.covers(p), "\(p.debugDescription)")
        }
        for p in ["/v\u{11}/admin", "/v1/admİn", "/v1/admin\u{0}", "/v1x/admin", "/v1", "/", "", "/v2/admin", "/v1\r\n/admin"] {
            #expect(!AdminAllowlistMiddleware.covers(p), "\(p)")
        }
    }

    /// The fast path of `covers` answers as the full decoding does, on random paths over the characters that matter.
    @Test func theAllowlistFastPathAgreesWithFullDecoding() {
        let pieces = ["/", "/", "//", "v", "V", "1", "a", "A", "d", "D", "m", "M", "i", "I", "n", "N", "admin", "ADMIN", "v1",
                      "%", "%2F", "%41", "%2e", ".", "..", "x", "\u{11}", "İ", "K", "\u{212A}", "é", "\u{301}", "\r", "\n", "%CC%81"]
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let path = (0..<Int.random(in: 0...9, using: &rng)).map { _ in pieces.randomElement(using: &rng)! }.joined()
            #expect(AdminAllowlistMiddleware.covers(path) == AdminAllowlistMiddleware.coversDecoded(path), "\(path.debugDescription)")
        }
    }
}

private func adminErrorCode(_ body: () async throws -> Void) async -> MikataError.Code? {
    do { try await body(); return nil } catch let e as MikataError { return e.code } catch { return nil }
}
