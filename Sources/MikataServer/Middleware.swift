import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// One structured log line per request (docs/OPERATIONS.md, "Logs") and the request metrics. It logs the request
/// id, method, route template, status and duration: never the path's values beyond ids, the query, a header or a
/// body, so no password, token, e-mail, nickname or record content reaches the log.
struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = MikataRequestContext
    let metrics: ServerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let route: () -> String = { context.endpointPath ?? "unmatched" }
        do {
            let response = try await next(request, context)
            finish(request, context, route(), Int(response.status.code), start)
            return response
        } catch let error as any HTTPResponseError {
            finish(request, context, route(), Int(error.status.code), start)
            throw error
        } catch {
            finish(request, context, route(), 500, start)
            throw error
        }
    }

    private func finish(_ request: Request, _ context: Context, _ route: String, _ status: Int, _ start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        metrics.request(route: route, method: request.method.rawValue, status: status, duration: elapsed)
        let ms = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        context.logger.info("request", metadata: [
            "http.method": .string(request.method.rawValue), "http.route": .string(route), "http.status": .stringConvertible(status),
            "duration_ms": .string(String(format: "%.2f", ms)),
            
        ])
    }
}

/// Requires a session of `role` (`Authorization: Bearer TOKEN`, RFC 6750 §2.1).
/// No token, an unknown or expired one: 401 with `WWW-Authenticate: Bearer`. A session of another role: 403. A
/// supporter past `throttle.refusalLimit` refused requests on patients' vaults in the window: 429 there
/// (`RefusalThrottle`).
struct SessionMiddleware: RouterMiddleware {
    typealias Context = MikataRequestContext
    let sessions: SessionRegistry
    /// The roles allowed, by `Principal.role`.
    let roles: Set<String>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let token = request.bearerToken, let principal = sessions.principal(token: token) else {
            throw Problem.unauthenticated
        }
        guard roles.contains(principal.role) else {
            throw Problem("forbidden", .forbidden, "this role may not do this")
        }
        var context = context
        context.principal = principal
        context.token = token
        guard case .supporter = principal, RefusalThrottle.applies(toPath: request.uri.path) else { return try await next(request, context) }
        // A supporter's refused requests (403, 404) on a patient's vault are counted; past the limit they wait
        // (RefusalThrottle). Requests in flight count too, so parallel probes cannot overshoot it.
        let account = principal.account
        guard try sessions.refusals.admit(account: account) else { return try await next(request, context) }
        do {
            let response = try await next(request, context)
            sessions.refusals.end(account: account, refused: response.status == .forbidden || response.status == .notFound)
            return response
        } catch {
            sessions.refusals.end(account: account, refused: RefusalThrottle.isRefusal(error))
            throw error
        }
    }
}

extension Request {
    /// The token of `Authorization: Bearer TOKEN`, if well formed (RFC 6750 §2.1: b64token).
    var bearerToken: String? {
        guard let value = headers[.authorization] else { return nil }
        let parts = value.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let token = parts[1].trimmingCharacters(in: .whitespaces)
        guard !token.isEmpty, token.count <= 512 else { return nil }
        return token
    }
}

extension MikataServer {
    /// The client's address: the TCP peer, or, when the peer is a configured trusted proxy, the right-most
    /// `X-Forwarded-For` entry that is not itself a trusted proxy (the client as the nearest untrusted hop saw it).
    /// "unknown" when there is no peer address (in-process tests), and when a trusted proxy's request names no
    /// client (no header) or a malformed one before the first untrusted hop: the proxy's own address would stand for
    /// every client behind it, and behind a proxy on loopback that address is in the default admin allowlist.
    /// "unknown" is in no allowlist; the login throttle counts it as one address.
    /// The body limit of the routes anyone may call (registration, login, recovery): 16 KiB, or `http.maxBodyBytes`
    /// if smaller. Their bodies are a few short strings; a bigger one is refused (413) before it is parsed, and before
    /// the throttle, so no unauthenticated client makes the server parse a megabyte per request.
    var publicBodyLimit: Int { min(configuration.maxBodyBytes, 16 << 10) }

    /// The client's address as sessions and the throttle count it (`LoginThrottle.addressKey`: IPv6 by its /64).
    func sessionAddress(_ request: Request, _ context: MikataRequestContext) -> String {
        LoginThrottle.addressKey(clientAddress(request, context))
    }

    func clientAddress(_ request: Request, _ context: MikataRequestContext) -> String {
        guard let peer = context.remoteAddress?.ipAddress else { return "unknown" }
        guard configuration.trustedProxies.contains(where: { $0.contains(peer) }) else { return peer }
        let hops = request.headers[values: HTTPField.Name("X-Forwarded-For")!]
            .flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }
        for hop in hops.reversed() {
            guard IPRange.parse(hop) != nil else { return "unknown" }  // malformed: trust nothing past the proxy
            if !configuration.trustedProxies.contains(where: { $0.contains(hop) }) { return hop }
        }
        return hops.first ?? "unknown"
    }
}
