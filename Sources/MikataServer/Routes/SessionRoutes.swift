import Foundation
import Logging
import HTTPTypes
import Hummingbird
import MikataService

extension MikataServer {
    /// Logging out: any role's session.
    func addSessionRoutes(to router: Router<MikataRequestContext>) {
        let group = router.group("/v1/sessions")
            .add(middleware: SessionMiddleware(sessions: sessions, roles: ["patient", "supporter", "administrator"]))
        // Ends this session (keys zeroed).
        group.post("/logout") { [sessions] _, context in
            if let token = context.token { sessions.close(token: token) }
            return JSONResponse.noContent()
        }
        // Ends every session of this account, this one included.
        group.post("/logout-all") { [sessions] _, context in
            if let p = context.principal { sessions.close(account: p.account) }
            return JSONResponse.noContent()
        }
    }

    /// Runs a password (or recovery code) check behind the throttles: refused with 429 before Argon2id when the
    /// account or address must wait; a wrong credential, an unknown e-mail and a shredded vault all answer the same
    /// 401; a full Argon2id queue answers 503 with `Retry-After`.
    ///
    /// - Parameters:
    ///   - account: `role:identifier`; the identifier is normalised as the store keys it (an e-mail by the engine's
    ///     address rules, an administrator name lower-cased and trimmed) so every spelling shares one allowance.
    ///   - reauthentication: the caller already holds a session and re-enters their password (password change,
    ///     deletion): a wrong one answers 403, so clients do not take it for an expired session.
    func passwordCheck<T: Sendable>(account: String, role: String, request: Request, context: MikataRequestContext,
                                    reauthentication: Bool = false, _ body: () async throws -> T) async throws -> T {
        let address = clientAddress(request, context)
        let account = Self.throttleAccount(account)
        do { try throttle.begin(account: account, address: address) } catch let p as Problem {
            metrics.throttled()
            // A tarpit: the refusal comes after a pause (at most its Retry-After, at most 2 s; the task suspends, no
            // thread waits), so a client hammering a throttled account or address sends a few requests a second
            // per connection instead of thousands, and does not crowd out everyone else's requests.
            try? await Task.sleep(for: .seconds(min(2, max(1, p.retryAfter ?? 1))))
            throw p
        }
        do {
            let result = try await body()
            throttle.end(account: account, address: address, .succeeded)
            metrics.unlock(role: role, outcome: "ok")
            return result
        } catch let e as MikataError where [.authenticationFailed, .notFound, .erased].contains(e.code) {
            throttle.end(account: account, address: address, .failed)
            metrics.unlock(role: role, outcome: "failed")
            if reauthentication { throw Problem("authentication-failed", .forbidden, "the password is wrong") }
            throw Problem("authentication-failed", .unauthorized, "the e-mail address or the password is wrong")
        } catch let e as MikataError where e.code == .busy {
            throttle.end(account: account, address: address, .undecided)
            metrics.argon2Rejected()
            throw Problem(e)
        } catch {
            throttle.end(account: account, address: address, .undecided)
            throw error
        }
    }

    /// `role:identifier` with the identifier normalised (see `passwordCheck`).
    static func throttleAccount(_ account: String) -> String {
        guard let colon = account.firstIndex(of: ":") else { return account }
        let role = account[..<colon], id = String(account[account.index(after: colon)...])
        if role == "administrator" { return "administrator:" + id.trimmingCharacters(in: .whitespacesAndNewlines).lowercased() }
        return "\(role):" + (BearerToken.normalizedEmail(id) ?? id.trimmingCharacters(in: .whitespacesAndNewlines).lowercased())
    }

    /// The login answer: the bearer token (shown once) and its timeouts.
    struct LoginAnswer: Encodable {
        let token: String
        let tokenType = "Bearer"
        /// Seconds of inactivity after which the session ends.
        let idleTimeoutSeconds: Int
        /// Seconds after login at which the session ends whatever its use.
        let absoluteTimeoutSeconds: Int
        let vaultId: String?
        let supporterId: String?
    }

    func loginAnswer(token: String, vaultId: VaultID? = nil, supporterId: SupporterID? = nil) -> LoginAnswer {
        LoginAnswer(token: token, idleTimeoutSeconds: Int(configuration.sessionIdleTimeout.components.seconds),
                    absoluteTimeoutSeconds: Int(configuration.sessionAbsoluteTimeout.components.seconds),
                    vaultId: vaultId?.hex, supporterId: supporterId?.hex)
    }
}
