import Foundation
import HTTPTypes
import Hummingbird

/// The source-IP allowlist of `/v1/admin` (docs/SECURITY.md, "Administrators"): every request whose path is
/// `/v1/admin` or below it, login included and unknown paths too, must come from an address in
/// `ServerConfiguration.adminAllowlist`, else 403 before anything else runs. The address is
/// `MikataServer.clientAddress(_:_:)`: the TCP peer, or `X-Forwarded-For` only when the peer is a trusted proxy.
/// A request that carries `X-Forwarded-For`, `Forwarded` or `X-Real-IP` from a peer that is not a trusted proxy is
/// refused (403), and the first one logs a warning: it is a proxy left out of `http.trustedProxies` or a client
/// pretending to be one.
/// Without a peer address (in-process router tests) nothing is allowed.
struct AdminAllowlistMiddleware: RouterMiddleware {
    typealias Context = MikataRequestContext
    let server: MikataServer

    static let prefix = "/v1/admin"
    /// Headers by which proxies name the client they forward for (RFC 7239 `Forwarded`, and the de facto ones).
    static let forwardingHeaders = ["X-Forwarded-For", "Forwarded", "X-Real-IP"].map { HTTPField.Name($0)! }

    /// Whether `path` is an administration path, however it is spelled: percent-decoded (`%2F` included), empty
    /// and `.` segments dropped, any case (so `//v1/./Admin` or `/v1%2F%61dmin` cannot slip past a route matcher
    /// more lenient than a prefix test); a path with a `..` segment counts as one.
    static func covers(_ path: String) -> Bool {
        let bytes = path.utf8
        // The usual path is ASCII without `%` and `.`: nothing to decode, no dot segment, and every character one
        // byte (no ASCII character joins a `/` into one grapheme, as a combining mark would), so its first two
        // non-empty segments decide, compared with ASCII letters folded. The same answer as `coversDecoded` (tested
        // on random paths), without its allocations on every request.
        guard bytes.contains(where: { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: ".") || $0 >= 0x80 }) else {
            let first = bytes.split(separator: UInt8(ascii: "/")).prefix(2)
            guard first.count == 2 else { return false }
            return asciiFoldedEquals(first[first.startIndex], "v1") && asciiFoldedEquals(first[first.startIndex + 1], "admin")
        }
        return coversDecoded(path)
    }

    /// `covers` in full: percent-decoded, lower-cased, split at every `/` scalar (not at Swift's characters: a `/`
    /// followed by a combining mark is one character, but a router splitting the path's bytes sees a segment end
    /// there), `.` segments dropped.
    static func coversDecoded(_ path: String) -> Bool {
        let decoded = (path.removingPercentEncoding ?? path).lowercased()
        let parts = decoded.unicodeScalars.split(separator: "/").map { String(String.UnicodeScalarView($0)) }.filter { $0 != "." }
        if parts.contains("..") { return true }
        return parts.prefix(2) == ["v1", "admin"]
    }

    /// Whether `segment` is `lower` (ASCII, lower case) with its ASCII capitals folded.
    private static func asciiFoldedEquals(_ segment: Substring.UTF8View.SubSequence, _ lower: String) -> Bool {
        segment.elementsEqual(lower.utf8) { b, l in (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z") ? b + 32 : b) == l }
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard Self.covers(request.uri.path) else { return try await next(request, context) }
        // A forwarded request from a peer that is not a configured trusted proxy: a proxy left out of
        // `http.trustedProxies` (behind which every client would have the proxy's address, loopback by default,
        // which the default allowlist holds), or a client pretending to be one. Either way its client is unknown.
        if let peer = context.remoteAddress?.ipAddress, !server.configuration.trustedProxies.contains(where: { $0.contains(peer) }),
           Self.forwardingHeaders.contains(where: { request.headers[$0] != nil }) {
            server.warnUntrustedForwarding()
            throw Problem("forbidden", .forbidden, "administration is not open to forwarded requests from a peer that is not a trusted proxy (http.trustedProxies)")
        }
        let address = server.clientAddress(request, context)
        guard server.configuration.adminAllowlist.contains(where: { $0.contains(address) }) else {
            throw Problem("forbidden", .forbidden, "administration is not open to this address")
        }
        return try await next(request, context)
    }
}
