public import Hummingbird
import Logging
public import NIOCore

/// The request context of `mikata serve`: Hummingbird's core storage, the TCP peer, and the principal the
/// authentication middleware found (nil on public routes).
public struct MikataRequestContext: RequestContext, RemoteAddressRequestContext {
    /// Hummingbird's per-request storage (logger with request id, route parameters).
    public var coreContext: CoreRequestContextStorage
    /// The TCP peer (a trusted proxy's `X-Forwarded-For` is read by `ClientAddress`, not here).
    public let remoteAddress: SocketAddress?
    /// Who the request acts as, once authenticated.
    var principal: Principal?
    /// The bearer token as sent (to end exactly this session at logout); never logged.
    var token: String?

    /// A context for a request arriving on `source`'s channel.
    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}
