import NIOSSL
import HTTPTypes
public import Hummingbird
import HummingbirdTLS
import HummingbirdCore
import UnixSignals
public import Logging
public import MikataService
import Metrics
import NIOCore
import ServiceLifecycle
import Foundation
import Synchronization

/// `mikata serve`: the HTTP service (docs/openapi.yaml, docs/ARCHITECTURE.md "The HTTP service").
///
/// Routes are thin: they decode and check the request, call `VaultService`, and encode the answer; every use case
/// lives in MikataService. One `MikataServer` owns one `VaultService`, its sessions and its throttles.
public final class MikataServer: Sendable {
    /// The settings it runs with.
    public let configuration: ServerConfiguration
    /// The vault service every route calls.
    public let service: VaultService
    let sessions: SessionRegistry
    let throttle: LoginThrottle
    /// Photo uploads and downloads in flight (`photos.maxTransfers*`).
    let photoTransfers: TransferLimit
    let metrics: ServerMetrics
    let logger: Logger
    /// Whether the warning about forwarded requests from an untrusted peer was logged (once per server).
    private let untrustedForwardingWarned = Atomic<Bool>(false)

    /// Logs, once, that an administration request carried a forwarding header (`AdminAllowlistMiddleware.forwardingHeaders`)
    /// from a peer outside `http.trustedProxies` (docs/OPERATIONS.md, "Listening safely").
    func warnUntrustedForwarding() {
        guard untrustedForwardingWarned.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged else { return }
        logger.warning("an administration request carried X-Forwarded-For, Forwarded or X-Real-IP from a peer that is not in http.trustedProxies: refused; if a reverse proxy runs in front of this server, add its address to http.trustedProxies")
    }

    /// A server over `service`.
    public convenience init(configuration: ServerConfiguration, service: VaultService, logger: Logger) {
        self.init(configuration: configuration, service: service, logger: logger, clock: { ContinuousClock.now })
    }

    /// A server whose sessions and throttles read time from `clock` (tests).
    init(configuration: ServerConfiguration, service: VaultService, logger: Logger,
         clock: @escaping @Sendable () -> ContinuousClock.Instant) {
        self.configuration = configuration
        self.service = service
        self.logger = logger
        let metrics = ServerMetrics()
        self.metrics = metrics
        sessions = SessionRegistry(idleTimeout: configuration.sessionIdleTimeout,
                                   absoluteTimeout: configuration.sessionAbsoluteTimeout,
                                   maxSessions: configuration.maxSessions,
                                   maxPerAccount: configuration.maxSessionsPerAccount,
                                   maxPerAddress: configuration.maxSessionsPerAddress,
                                   refusals: RefusalThrottle(limit: configuration.refusalLimit, window: configuration.refusalWindow, now: clock,
                                                             onThrottle: { account in
                                                                 metrics.refusalThrottled()
                                                                 // An id, never an address: which account probes vaults.
                                                                 logger.warning("refused requests over the limit: throttled until the window ends",
                                                                                metadata: ["account": "\(account)"])
                                                             }),
                                   now: clock,
                                   onCountChange: { metrics.openSessions.record($0) })
        throttle = LoginThrottle(configuration: configuration, now: clock)
        photoTransfers = TransferLimit(total: configuration.photosMaxTransfers, perAccount: configuration.photosMaxTransfersPerAccount,
                                       timeout: configuration.photosTransferTimeout)
    }

    /// Opens (creating on first start, as `mikata init` does) the configured store; `VaultService.initialize` checks
    /// that its signing key opens for the jurisdiction its description declares.
    /// - Throws: `MikataError` as `VaultService.initialize` throws; `.tampered` (the description's jurisdiction
    ///   edited, or the signing key replaced), `.erased` (the signing key missing).
    public static func openStore(_ configuration: ServerConfiguration) async throws -> VaultService {
        let rootKey: RootKeyLocation = configuration.rootKeyFile.map { .file($0) }
            ?? configuration.rootKeyDirectory.map { .directory($0) } ?? .environment
        var vc = VaultServiceConfiguration()
        vc.passwordCost = configuration.passwordCost
        vc.verifiedSignatureCacheEntries = configuration.verifiedSignatureCacheEntries
        let service = try await VaultService.initialize(storePath: configuration.storePath, rootKey: rootKey, configuration: vc).service
        // `initialize` opened the signing key, which opens only for the jurisdiction the description declares
        // (FORMAT.md §7.6): an edited description has stopped the start already.
        do { try await service.prepareForRequests() } catch {
            await service.shutdown()
            throw error
        }
        return service
    }

    /// The router with every route and middleware.
    public func router() -> Router<MikataRequestContext> {
        let router = Router(context: MikataRequestContext.self)
        router.add(middleware: RequestLogMiddleware(metrics: metrics))
        let routes = RouteTable()
        router.add(middleware: ProblemMiddleware(routes: routes))
        addAdminRoutes(to: router)  // first: its allowlist covers every /v1/admin route added after it
        addOperationsRoutes(to: router)
        addSessionRoutes(to: router)
        addPatientRoutes(to: router)
        addSupporterRoutes(to: router)
        addAdherenceRoutes(to: router)
        addPhotoRoutes(to: router)
        addRegimenTemplateRoutes(to: router)
        addNoticeRoutes(to: router)
        addServiceRoutes(to: router)
        routes.set(router.routes.map { ($0.path, $0.method) })
        return router
    }

    /// The Hummingbird application: HTTP/1.1, or TLS when a certificate and key are configured; on graceful
    /// shutdown it stops accepting, lets requests in flight finish, then ends every session (keys zeroed) and
    /// stops the vault service.
    /// - Throws: `MikataError(.invalidInput)` for unreadable TLS files.
    public func application(onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) throws -> some ApplicationProtocol {
        let appConfiguration = ApplicationConfiguration(address: .hostname(configuration.host, port: configuration.port),
                                                        serverName: "mikata")
        let server: HTTPServerBuilder
        let http1 = HTTP1Channel.Configuration(idleTimeout: .nanoseconds(Int64(configuration.idleTimeout.components.seconds) * 1_000_000_000))
        if let cert = configuration.tlsCertificatePath, let key = configuration.tlsKeyPath {
            let tls: TLSConfiguration
            do {
                let chain = try NIOSSLCertificate.fromPEMFile(cert)
                let privateKey = try NIOSSLPrivateKey(file: key, format: .pem)
                tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) },
                                                               privateKey: .privateKey(privateKey))
            } catch {
                throw MikataError(.invalidInput, "tls: the certificate or key file cannot be read as PEM")
            }
            server = try .tls(.http1(configuration: http1), tlsConfiguration: tls)
        } else {
            server = .http1(configuration: http1)
        }
        return Application(router: router(), server: server, configuration: appConfiguration,
                           services: [SessionSweeper(sessions: sessions)] + noticeServices(),
                           onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
                           logger: logger)
    }

    /// The missed-dose checker when `notices.enabled` (docs/OPERATIONS.md).
    func noticeServices() -> [any Service] {
        guard configuration.notices.enabled,
              let checker = NoticeChecker(service: service, configuration: configuration.notices, logger: logger) else { return [] }
        return [checker]
    }

    /// Runs until SIGTERM or SIGINT, then shuts down gracefully (docs/OPERATIONS.md, "Stopping").
    /// - Throws: what binding the address throws.
    public func run(onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let app = try application(onServerRunning: onServerRunning)
        var groupConfiguration = ServiceGroupConfiguration(services: [app], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        groupConfiguration.maximumGracefulShutdownDuration = configuration.shutdownTimeout  // a stalled download cannot hold the stop
        let group = ServiceGroup(configuration: groupConfiguration)
        do {
            try await group.run()
        } catch {
            await stop()
            throw error
        }
        await stop()
    }

    /// Ends every session (keys zeroed) and stops the vault service.
    public func stop() async {
        sessions.closeAll()
        await service.shutdown()
    }

    /// Sessions open now.
    public var openSessions: Int { sessions.count }
}

/// Ends expired sessions every 30 s, so an idle session's keys do not outlive its timeout by more than that.
struct SessionSweeper: Service {
    let sessions: SessionRegistry
    func run() async throws {
        // Ends at once when a graceful shutdown starts (not after the current 30 s wait).
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: .seconds(30))
                sessions.sweep()
            }
        }
    }
}
