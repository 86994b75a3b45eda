public import HTTPTypes
import Logging
public import Hummingbird
import Foundation
public import MikataService
import NIOCore
import Synchronization

/// An RFC 9457 problem details response (`application/problem+json`). Every error the service answers is one:
/// `type` is `https://mikata.example/problems/<code>` with the failure class of `MikataError.Code` (or one of the
/// HTTP layer's own: `malformed-request`, `payload-too-large`, `unauthenticated`, `forbidden`, `throttled`,
/// `not-found`), `title` the class in words, `status` the HTTP status, `detail` a message safe to show (never a
/// password, token, key, e-mail, nickname or record content), and `field` the JSON member at fault when one is.
public struct Problem: Error, HTTPResponseError, Sendable {
    /// The failure class (the last part of `type`).
    public let code: String
    /// The HTTP status.
    public let status: HTTPResponse.Status
    /// What went wrong, safe to show and to log.
    public let detail: String
    /// The request body member at fault (a JSON Pointer, RFC 6901), when one is.
    public let field: String?
    /// Seconds to wait before retrying (`Retry-After`, RFC 9110 §10.2.3), for 429 and 503.
    public let retryAfter: Int?
    /// The methods the path takes (`Allow`, RFC 9110 §10.2.1), for 405.
    public let allow: [HTTPRequest.Method]

    /// A problem of the HTTP layer's own.
    public init(_ code: String, _ status: HTTPResponse.Status, _ detail: String, field: String? = nil, retryAfter: Int? = nil,
                allow: [HTTPRequest.Method] = []) {
        self.code = code
        self.status = status
        self.detail = detail
        self.field = field
        self.retryAfter = retryAfter
        self.allow = allow
    }

    /// The problem a service error maps to (`MikataError.Code.httpStatus`); `.busy` carries `Retry-After: 1`.
    public init(_ error: MikataError) {
        self.init(error.code.rawValue, HTTPResponse.Status(code: error.code.httpStatus), error.message, field: error.field,
                  retryAfter: error.code == .busy ? 1 : nil)
    }

    /// 400: the body is not what the route takes.
    static func malformed(_ detail: String, field: String? = nil) -> Problem {
        Problem("malformed-request", .badRequest, detail, field: field)
    }

    /// 401: no session, an expired one, or a wrong credential.
    static let unauthenticated = Problem("unauthenticated", .unauthorized, "sign in first (Authorization: Bearer)")

    /// 404 for everything a role may not see: the same answer whether or not the thing exists.
    static let notFound = Problem("not-found", .notFound, "no such resource")

    /// The base of every problem `type` URI.
    public static let typeBase = "https://mikata.example/problems/"

    /// The problem's JSON members.
    var body: [String: Any] {
        var b: [String: Any] = ["type": Problem.typeBase + code, "title": Problem.title(code), "status": Int(status.code),
                                "detail": detail]
        if let field { b["field"] = field }
        return b
    }

    static func title(_ code: String) -> String {
        code.split(separator: "-").joined(separator: " ").capitalized
    }

    /// The response: `application/problem+json`, `Cache-Control: no-store`, `Retry-After` when set,
    /// `WWW-Authenticate: Bearer` on a 401 (RFC 6750 §3).
    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        var headers: HTTPFields = [.contentType: "application/problem+json", .cacheControl: "no-store"]
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer" }  // RFC 6750 §3: every 401 challenges
        if !allow.isEmpty { headers[.allow] = allow.map(\.rawValue).joined(separator: ", ") }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Turns every error a route throws into a `Problem`: `MikataError` by its code, Hummingbird's own `HTTPError`
/// (unknown route, wrong method, body too large) by its status, anything else as a 500 whose detail names no value.
struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    /// The router's routes, to tell a path served with other methods (405) from no such path (404).
    let routes: RouteTable

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let p as Problem {
            throw p
        } catch let e as MikataError {
            let problem = Problem(e)
            guard problem.status.code >= 500 else { throw problem }
            // A server-side failure: its message names store paths and vault ids, which are the operator's to read
            // (the log, with the request id), not the client's. The client gets the class and a fixed sentence.
            // Busy is overload, counted by the metrics; only failures are worth an error line each.
            context.logger.log(level: e.code == .busy ? .debug : .error, "request failed on the server side",
                               metadata: ["error.code": "\(e.code.rawValue)", "error.detail": "\(e.message)"])
            throw Problem(e.code.rawValue, problem.status, Self.serverSideDetail(e.code), retryAfter: problem.retryAfter)
        } catch let e as HTTPError {
            switch e.status {
            case .notFound:
                // Hummingbird answers a known path asked with another method as an unknown one: RFC 9110 §15.5.6 says 405.
                let allowed = routes.methods(forPath: request.uri.path)
                guard allowed.isEmpty else {
                    throw Problem("method-not-allowed", .methodNotAllowed, "this route does not take that method", allow: allowed)
                }
                throw Problem.notFound
            case .contentTooLarge: throw Problem("payload-too-large", .contentTooLarge, "the request body is too large")
            case .methodNotAllowed: throw Problem("method-not-allowed", .methodNotAllowed, "this route does not take that method")
            default: throw Problem(e.status.code >= 500 ? "internal" : "malformed-request", e.status,
                                   e.status.reasonPhrase)
            }
        } catch is CancellationError {
            throw Problem("unavailable", .serviceUnavailable, "the service is stopping", retryAfter: 5)
        } catch {
            context.logger.error("unexpected error", metadata: ["error.type": "\(type(of: error))"])
            throw Problem("internal", .internalServerError, "an internal error occurred")
        }
    }
}

extension ProblemMiddleware {
    /// The detail a client gets for a server-side failure (5xx): the failure class in words, no path or id.
    static func serverSideDetail(_ code: MikataError.Code) -> String {
        switch code {
        case .io: return "the server could not read or write its storage; the operator's log has the cause"
        case .corrupted: return "stored data is damaged; the operator's log names it"
        case .tampered: return "stored data failed its integrity checks; the operator's log names it"
        case .unsupported: return "stored data needs a later version of the service"
        case .busy: return "the service is busy: try again after Retry-After"
        default: return "an internal error occurred"
        }
    }
}

/// The paths and methods a router serves, filled in once every route is added (`MikataServer.router()`).
final class RouteTable: Sendable {
    private let table = Mutex<[(path: RouterPath, method: HTTPRequest.Method)]>([])

    /// Records the router's routes (its `routes`, after the last route is added).
    func set(_ routes: [(path: RouterPath, method: HTTPRequest.Method)]) { table.withLock { $0 = routes } }

    /// The methods served for a request path (matched with Hummingbird's own `RouterPath.Element ~=`, so a
    /// `{vaultId}` capture takes any one segment), sorted; empty when no route has that path.
    func methods(forPath path: String) -> [HTTPRequest.Method] {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        let found = table.withLock { table in
            table.filter { route in
                route.path.components.count == segments.count && zip(route.path.components, segments).allSatisfy { $0 ~= $1 }
            }.map(\.method)
        }
        return Set(found).sorted { $0.rawValue < $1.rawValue }
    }
}
