public import Configuration
public import Logging
@_spi(Testing) public import MikataService
import Foundation

/// Everything `mikata serve` can be told, with the defaults docs/OPERATIONS.md ("The HTTP service") lists.
///
/// Read through swift-configuration from, highest priority first: command-line flags, environment variables
/// (`MIKATA_` + the key in upper case, `_` for `.` and between camel-case words: `MIKATA_HTTP_PORT`,
/// `MIKATA_HTTP_TRUSTED_PROXIES`), and a JSON file (`--config FILE`,
/// keys as nested objects: `{"http": {"port": 8080}}`).
public struct ServerConfiguration: Sendable {
    /// `http.host`: the address to listen on. Default `127.0.0.1`.
    public var host: String = "127.0.0.1"
    /// `http.port`: the TCP port (0 picks a free one). Default 8080.
    public var port: Int = 8080
    /// `store.path`: the store directory, created with its root key on first start. Default `./mikata-data`.
    public var storePath: String = "mikata-data"
    /// `http.maxBodyBytes`: the largest request body accepted, in bytes (RFC 9110 §15.5.14: 413 beyond). Default 1 MiB.
    public var maxBodyBytes: Int = 1 << 20
    /// `photos.maxBytes`: the largest photo accepted (`POST .../photos`, streamed into the vault; 413 beyond, RFC 9110
    /// §15.5.14). Default 5 MiB (`VaultService.photoMaxBytesDefault`); at most 64 MiB.
    public var photosMaxBytes: Int = VaultService.photoMaxBytesDefault
    /// `photos.maxTransfersPerAccount`: photo uploads and downloads one account runs at once; one more answers 503.
    /// Default 4. (`photos.maxTransfers`: all accounts together; default 64.)
    public var photosMaxTransfersPerAccount: Int = 4
    /// `photos.maxTransfers`: photo uploads and downloads in flight at once in the server; one more answers 503.
    public var photosMaxTransfers: Int = 64
    /// `photos.transferTimeoutSeconds`: how long one photo transfer holds its place; an upload still arriving after it
    /// is ended (400), a download still being written gives its place back. Default 300 (5 MiB at 17 KB/s).
    public var photosTransferTimeout: Duration = .seconds(300)
    /// `http.idleTimeoutSeconds`: a connection that sends nothing this long while idle or sending its request (a
    /// dribbled upload) is closed (Hummingbird's `HTTP1Channel` idle timeout). Default 60.
    public var idleTimeout: Duration = .seconds(60)
    /// `http.shutdownTimeoutSeconds`: at SIGTERM, how long requests in flight may take before they are cancelled
    /// (swift-service-lifecycle's `maximumGracefulShutdownDuration`). Default 30.
    public var shutdownTimeout: Duration = .seconds(30)
    /// `sessions.idleTimeoutSeconds`: a session unused this long ends (its keys zeroed). Default 900 (15 min).
    public var sessionIdleTimeout: Duration = .seconds(900)
    /// `sessions.absoluteTimeoutSeconds`: a session ends this long after login whatever its use. Default 43,200 (12 h).
    public var sessionAbsoluteTimeout: Duration = .seconds(43_200)
    /// `sessions.maxOpen`: the most sessions held at once; a login beyond answers 503. Default 10,000.
    public var maxSessions: Int = 10_000
    /// `sessions.maxPerAccount`: the most sessions one account holds; a login beyond ends its oldest. Default 10.
    public var maxSessionsPerAccount: Int = 10
    /// `sessions.maxPerAddress`: the most sessions one client address holds (IPv6 by its /64); a login beyond ends
    /// that address's oldest. Default 500: accounts registered from one address cannot fill the table.
    public var maxSessionsPerAddress: Int = 500
    /// `http.trustedProxies`: peers whose `X-Forwarded-For` is believed (comma-separated IPs or CIDR ranges).
    /// Default none: the client address is the TCP peer.
    public var trustedProxies: [IPRange] = []
    /// `admin.allowlist`: client addresses (IPs or CIDR ranges) that may reach `/v1/admin`. Default loopback only.
    public var adminAllowlist: [IPRange] = [IPRange("127.0.0.0/8")!, IPRange("::1/128")!]
    /// `throttle.accountFailureLimit`: consecutive failed logins after which an account is locked
    /// (NIST SP 800-63B §5.2.2 allows at most 100). Default 100.
    public var accountFailureLimit: Int = 100
    /// `throttle.accountLockoutSeconds`: how long such an account stays locked. Default 900.
    public var accountLockout: Duration = .seconds(900)
    /// `throttle.freeFailures`: failed logins per account or address before backoff starts. Default 5.
    public var freeFailures: Int = 5
    /// `throttle.ipFailureLimit`: failed logins from one address within `throttle.ipWindowSeconds` after which
    /// it waits out the window. Default 50 in 600 s.
    public var ipFailureLimit: Int = 50
    /// `throttle.ipWindowSeconds`: see `ipFailureLimit`. Default 600.
    public var ipWindow: Duration = .seconds(600)
    /// `throttle.ipConcurrentChecks`: password checks (each an Argon2id) from one address at once, successful or
    /// not; more answer 429 (Retry-After 1) before any is queued, so the Argon2id queue is shared. Default 8.
    public var ipConcurrentChecks: Int = 8
    /// `throttle.ipRegistrationLimit`: registrations (patients and supporters) from one address within
    /// `throttle.ipWindowSeconds`, whatever their outcome; more answer 429 before any password is hashed. Default 20.
    public var ipRegistrationLimit: Int = 20
    /// `throttle.refusalLimit`: refused requests (403, 404) of one signed-in supporter within
    /// `throttle.refusalWindowSeconds`, after which that account's requests answer 429 until the window ends, before
    /// any vault is touched (each refusal on a patient's vault is a `denied` entry in that patient's log). Default 100.
    public var refusalLimit: Int = 100
    /// `throttle.refusalWindowSeconds`: see `refusalLimit`. Default 600.
    public var refusalWindow: Duration = .seconds(600)
    /// `tls.certificatePath` / `tls.keyPath`: PEM files; both or neither. Default none (plain HTTP, for loopback or
    /// behind a TLS-terminating proxy: docs/OPERATIONS.md).
    public var tlsCertificatePath: String?
    /// See `tlsCertificatePath`.
    public var tlsKeyPath: String?
    /// `log.level`: trace, debug, info, notice, warning, error, critical. Default info.
    public var logLevel: Logger.Level = .info
    /// `passwords.cost`: `interactive` (default) or `moderate`; Argon2id's cost for new password slots.
    /// `minimum-for-testing` (libsodium's floor, worthless against guessing) is accepted only when the environment
    /// has `MIKATA_ALLOW_TEST_PASSWORD_COST=1`; `make test`'s schemathesis run uses it.
    public var passwordCost: PasswordCost = .interactive
    /// `reads.verifiedSignatureCacheEntries`: record signatures remembered once verified, so a record read again is
    /// decrypted and checked but not verified again (docs/SECURITY.md, "Verified-signature cache"); about 64 bytes
    /// each. Default 262,144 (about 16 MiB once filled); 0 keeps none, else 32 to 16,777,216.
    public var verifiedSignatureCacheEntries: Int = 262_144
    /// `store.rootKeyDir`: where the store's root key is (default: as `mikata init`, `$MIKATA_ROOT_KEY_DIR` or the
    /// operator's default directory).
    public var rootKeyDirectory: String?
    /// `store.rootKeyFile`: the root key file itself (wins over `store.rootKeyDir`).
    public var rootKeyFile: String?

    /// The defaults.
    /// Missed-dose notices (`notices.*`; disabled by default).
    public var notices = NoticeConfiguration()

    public init() {}

    /// Reads every key above from `reader`, keeping the default where a key is absent.
    /// - Throws: `MikataError(.invalidInput)` naming the key when a value is malformed (a bad address range, a
    ///   negative timeout, half a TLS pair).
    public init(reader: ConfigReader) throws {
        host = reader.string(forKey: "http.host", default: host)
        port = reader.int(forKey: "http.port", default: port)
        storePath = reader.string(forKey: "store.path", default: storePath)
        rootKeyDirectory = reader.string(forKey: "store.rootKeyDir")
        rootKeyFile = reader.string(forKey: "store.rootKeyFile")
        maxBodyBytes = reader.int(forKey: "http.maxBodyBytes", default: maxBodyBytes)
        photosMaxBytes = reader.int(forKey: "photos.maxBytes", default: photosMaxBytes)
        photosMaxTransfersPerAccount = reader.int(forKey: "photos.maxTransfersPerAccount", default: photosMaxTransfersPerAccount)
        photosMaxTransfers = reader.int(forKey: "photos.maxTransfers", default: photosMaxTransfers)
        photosTransferTimeout = .seconds(reader.int(forKey: "photos.transferTimeoutSeconds", default: Int(photosTransferTimeout.components.seconds)))
        idleTimeout = .seconds(reader.int(forKey: "http.idleTimeoutSeconds", default: 60))
        shutdownTimeout = .seconds(reader.int(forKey: "http.shutdownTimeoutSeconds", default: 30))
        sessionIdleTimeout = .seconds(reader.int(forKey: "sessions.idleTimeoutSeconds", default: 900))
        sessionAbsoluteTimeout = .seconds(reader.int(forKey: "sessions.absoluteTimeoutSeconds", default: 43_200))
        maxSessions = reader.int(forKey: "sessions.maxOpen", default: maxSessions)
        verifiedSignatureCacheEntries = reader.int(forKey: "reads.verifiedSignatureCacheEntries", default: verifiedSignatureCacheEntries)
        maxSessionsPerAccount = reader.int(forKey: "sessions.maxPerAccount", default: maxSessionsPerAccount)
        maxSessionsPerAddress = reader.int(forKey: "sessions.maxPerAddress", default: maxSessionsPerAddress)
        accountFailureLimit = reader.int(forKey: "throttle.accountFailureLimit", default: accountFailureLimit)
        accountLockout = .seconds(reader.int(forKey: "throttle.accountLockoutSeconds", default: 900))
        freeFailures = reader.int(forKey: "throttle.freeFailures", default: freeFailures)
        ipFailureLimit = reader.int(forKey: "throttle.ipFailureLimit", default: ipFailureLimit)
        ipConcurrentChecks = reader.int(forKey: "throttle.ipConcurrentChecks", default: ipConcurrentChecks)
        ipWindow = .seconds(reader.int(forKey: "throttle.ipWindowSeconds", default: 600))
        ipRegistrationLimit = reader.int(forKey: "throttle.ipRegistrationLimit", default: ipRegistrationLimit)
        refusalLimit = reader.int(forKey: "throttle.refusalLimit", default: refusalLimit)
        refusalWindow = .seconds(reader.int(forKey: "throttle.refusalWindowSeconds", default: 600))
        tlsCertificatePath = reader.string(forKey: "tls.certificatePath")
        tlsKeyPath = reader.string(forKey: "tls.keyPath")
        if let list = reader.stringArray(forKey: "http.trustedProxies") { trustedProxies = try Self.ranges(list, key: "http.trustedProxies") }
        if let list = reader.stringArray(forKey: "admin.allowlist") { adminAllowlist = try Self.ranges(list, key: "admin.allowlist") }
        if let level = reader.string(forKey: "log.level") {
            guard let l = Logger.Level(rawValue: level) else { throw MikataError(.invalidInput, "log.level: unknown level") }
            logLevel = l
        }
        if let cost = reader.string(forKey: "passwords.cost") {
            switch cost {
            case "interactive": passwordCost = .interactive
            case "moderate": passwordCost = .moderate
            case "minimum-for-testing" where Self.testPasswordCostAllowed: passwordCost = .minimumForTesting
            default: throw MikataError(.invalidInput, "passwords.cost: interactive or moderate")
            }
        }
        notices = try NoticeConfiguration(reader: reader)
        try validate()
    }

    /// Whether `passwords.cost: minimum-for-testing` may be used: `MIKATA_ALLOW_TEST_PASSWORD_COST=1` in the
    /// process environment (never from a file or a flag, so a copied configuration cannot weaken a real store).
    static var testPasswordCostAllowed: Bool {
        ProcessInfo.processInfo.environment["MIKATA_ALLOW_TEST_PASSWORD_COST"] == "1"
    }

    /// Checks ranges and pairs.
    /// - Throws: `MikataError(.invalidInput)` naming the key.
    public func validate() throws {
        guard (0...65_535).contains(port) else { throw MikataError(.invalidInput, "http.port: 0 to 65535") }
        guard maxBodyBytes >= 1024 else { throw MikataError(.invalidInput, "http.maxBodyBytes: at least 1024") }
        guard photosMaxTransfersPerAccount >= 1 else { throw MikataError(.invalidInput, "photos.maxTransfersPerAccount: at least 1") }
        guard photosMaxTransfers >= 1 else { throw MikataError(.invalidInput, "photos.maxTransfers: at least 1") }
        guard photosTransferTimeout >= .seconds(1) else { throw MikataError(.invalidInput, "photos.transferTimeoutSeconds: at least 1") }
        guard idleTimeout >= .seconds(1) else { throw MikataError(.invalidInput, "http.idleTimeoutSeconds: at least 1") }
        guard shutdownTimeout >= .seconds(1) else { throw MikataError(.invalidInput, "http.shutdownTimeoutSeconds: at least 1") }
        guard (1024...(64 << 20)).contains(photosMaxBytes) else { throw MikataError(.invalidInput, "photos.maxBytes: 1024 to 67108864") }
        guard sessionIdleTimeout > .zero, sessionAbsoluteTimeout >= sessionIdleTimeout else {
            throw MikataError(.invalidInput, "sessions: timeouts must be positive, the absolute one at least the idle one")
        }
        guard verifiedSignatureCacheEntries == 0 || (32...(1 << 24)).contains(verifiedSignatureCacheEntries) else {
            throw MikataError(.invalidInput, "reads.verifiedSignatureCacheEntries: 0 (none), or 32 to 16777216")
        }
        guard maxSessions > 0 else { throw MikataError(.invalidInput, "sessions.maxOpen: at least 1") }
        guard maxSessionsPerAccount > 0 else { throw MikataError(.invalidInput, "sessions.maxPerAccount: at least 1") }
        guard maxSessionsPerAddress > 0 else { throw MikataError(.invalidInput, "sessions.maxPerAddress: at least 1") }
        guard (1...100).contains(accountFailureLimit) else {
            throw MikataError(.invalidInput, "throttle.accountFailureLimit: 1 to 100 (NIST SP 800-63B)")
        }
        guard freeFailures >= 0, ipFailureLimit > 0, ipConcurrentChecks > 0, ipRegistrationLimit > 0, ipWindow > .zero, accountLockout > .zero,
              refusalLimit > 0, refusalWindow > .zero else {
            throw MikataError(.invalidInput, "throttle: limits and windows must be positive")
        }
        guard (tlsCertificatePath == nil) == (tlsKeyPath == nil) else {
            throw MikataError(.invalidInput, "tls: give both tls.certificatePath and tls.keyPath, or neither")
        }
    }

    static func ranges(_ list: [String], key: String) throws -> [IPRange] {
        try list.map { s in
            let t = s.trimmingCharacters(in: .whitespaces)
            guard let r = IPRange(t) else { throw MikataError(.invalidInput, "\(key): not an IP address or CIDR range") }
            return r
        }
    }

    /// The reader `mikata serve` uses: `flags` (already parsed) over the environment over the JSON file at `file`.
    /// - Throws: what swift-configuration throws for a missing or malformed file.
    public static func reader(flags: [String: ConfigContent], file: String?,
                              environment: [String: String]? = nil) async throws -> ConfigReader {
        var providers: [any ConfigProvider] = []
        var values: [AbsoluteConfigKey: ConfigValue] = [:]
        for (k, v) in flags { values[AbsoluteConfigKey(k.split(separator: ".").map(String.init))] = .init(v, isSecret: false) }
        providers.append(InMemoryProvider(name: "flags", values: values))
        let env = environment.map { EnvironmentVariablesProvider(environmentVariables: $0) } ?? EnvironmentVariablesProvider()
        providers.append(env.prefixKeys(with: ConfigKey(["mikata"])))
        if let file {
            let location = ConfigReader(provider: InMemoryProvider(values: ["filePath": .init(.string(file), isSecret: false)]))
            providers.append(try await FileProvider<JSONSnapshot>(config: location))
        }
        return ConfigReader(providers: providers)
    }
}
