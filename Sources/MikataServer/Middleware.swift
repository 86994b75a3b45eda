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
        context.logger.info("request", metadata: [
            "http.method": .string(request.method.rawValue), "http.route": .string(route), "http.status": .stringConvertible(status),
            "duration_ms": .string(Self.milliseconds(elapsed)),
        ])
    }

    /// A duration in milliseconds with two decimals (`"6.21"`), rounded half up; what `String(format: "%.2f")` wrote,
    /// without a Foundation format string per request.
    static func milliseconds(_ d: Duration) -> String {
        let (s, atto) = d.components
        let hundredths = max(0, s) * 100_000 + (max(0, atto) + 5_000_000_000_000) / 10_000_000_000_000
        let cents = hundredths % 100
        return "\(hundredths / 100).\(cents < 10 ? "0" : "")\(cents)"
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
    var bearerToken: String? { Self.bearerToken(headers[.authorization]) }

    /// The token of an `Authorization` value: the scheme `Bearer` in any case, one space, then the token, with
    /// spaces and tabs around it dropped; 1…512 bytes, else nil. Read byte by byte (no Foundation character sets:
    /// this runs on every authenticated request). A token that is not a b64token is taken as it is and matches no
    /// session (tokens are compared by their hashes).
    static func bearerToken(_ value: String?) -> String? {
        guard let value else { return nil }
        let bytes = value.utf8
        guard let space = bytes.firstIndex(of: UInt8(ascii: " ")),
              bytes[..<space].elementsEqual("bearer".utf8, by: { b, l in (b >= 65 && b <= 90 ? b + 32 : b) == l }) else { return nil }
        let blank: (UInt8) -> Bool = { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
        let rest = bytes[bytes.index(after: space)...]
        guard let first = rest.firstIndex(where: { !blank($0) }), let last = rest.lastIndex(where: { !blank($0) }) else { return nil }
        let token = rest[first...last]
        guard token.count <= 512 else { return nil }
        return String(Substring(token))
    }
}

extension MikataServer {
    /// The body limit of the routes anyone may call (registration, login, recovery): 16 KiB, or `http.maxBodyBytes`
    /// if smaller. Their bodies are a few short strings; a bigger one is refused (413) before it is parsed, and before
    /// the throttle, so no unauthenticated client makes the server parse a megabyte per request.
    var publicBodyLimit: Int { min(configuration.maxBodyBytes, 16 << 10) }

    /// The client's address as sessions and the throttle count it (`LoginThrottle.addressKey`: IPv6 by its /64).
    func sessionAddress(_ request: Request, _ context: MikataRequestContext) -> String {
        LoginThrottle.addressKey(clientAddress(request, context))
    }

    /// The client's address: the TCP peer, or, when the peer is a configured trusted proxy, the right-most
    /// `X-Forwarded-For` entry that is not itself a trusted proxy (the client as the nearest untrusted hop saw it).
    /// "unknown" when there is no peer address (in-process tests), and when a trusted proxy's request names no
    /// client (no header) or a malformed one before the first untrusted hop: the proxy's own address would stand for
    /// every client behind it, and behind a proxy on loopback that address is in the default admin allowlist.
    /// "unknown" is in no allowlist; the login throttle counts it as one address.
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
