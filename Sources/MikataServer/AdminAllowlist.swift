import Foundation
import HTTPTypes
import Hummingbird

/// The source-IP allowlist of `/v1/admin` (docs/SECURITY.md, "Administrators"): every request whose path is
/// `/v1/admin` or below it, login included and unknown paths too, must come from an address in
/// `ServerConfiguration.adminAllowlist`, else 403 before anything else runs. The address is
/// `MikataServer.clientAddress(_:_:)`: the TCP peer, or `X-Forwarded-For` only when the peer is a trusted proxy.
/// Without a peer address (in-process router tests) nothing is allowed.
struct AdminAllowlistMiddleware: RouterMiddleware {
    typealias Context = MikataRequestContext
    let server: MikataServer

    static let prefix = "/v1/admin"

    /// Whether `path` is an administration path, however it is spelled: percent-decoded (`%2F` included), empty
    /// and `.` segments dropped, any case (so `//v1/./Admin` or `/v1%2F%61dmin` cannot slip past a route matcher
    /// more lenient than a prefix test); a path with a `..` segment counts as one.
    static func covers(_ path: String) -> Bool {
        let decoded = (path.removingPercentEncoding ?? path).lowercased()
        let parts = decoded.split(separator: "/").map(String.init).filter { $0 != "." }
        if parts.contains("..") { return true }
        return parts.prefix(2) == ["v1", "admin"]
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard Self.covers(request.uri.path) else { return try await next(request, context) }
        let address = server.clientAddress(request, context)
        guard server.configuration.adminAllowlist.contains(where: { $0.contains(address) }) else {
            throw Problem("forbidden", .forbidden, "administration is not open to this address")
        }
        return try await next(request, context)
    }
}
