import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Synchronization
import Testing
@testable import MikataServer
@_spi(Testing) import MikataService

/// Every log line a server writes, through `JSONLogHandler(label:level:write:)` at trace level.
final class LogSink: Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }
    func logger(_ label: String) -> Logger {
        Logger(label: label) { JSONLogHandler(label: $0, level: .trace, write: { [self] line in self.append(line) }) }
    }
}

/// A `MikataServer` over a throwaway store (cheap Argon2id), its logs captured, driven in-process through
/// HummingbirdTesting's router framework.
struct ServerFixture {
    let root: String
    let service: VaultService
    let server: MikataServer
    let logs: LogSink

    /// A clock tests move by hand (sessions' and throttles' timeouts without sleeping).
    final class ManualClock: @unchecked Sendable {
        private let lock = NSLock()
        private var current = ContinuousClock.now
        var now: ContinuousClock.Instant { lock.withLock { current } }
        func advance(_ d: Duration) { lock.withLock { current += d } }
    }

    /// - Parameter lowPriorityPasswordChecks: the production setting (nice 19); off by default here, since the test
    ///   runner's other suites would starve the logins of the one under test.
    static func make(clock: ManualClock? = nil, lowPriorityPasswordChecks: Bool = false,
                     _ configure: (inout ServerConfiguration) -> Void = { _ in }) async throws -> ServerFixture {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("mikata-server-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        var c = VaultServiceConfiguration()
        c.passwordCost = .minimumForTesting
        c.threads = 8
        c.passwordChecksAtLowestPriority = lowPriorityPasswordChecks
        let (service, _) = try await VaultService.initialize(storePath: "\(base)/store", rootKey: .directory("\(base)/root-keys"),
                                                             configuration: c)
        var configuration = ServerConfiguration()
        configuration.storePath = "\(base)/store"
        configuration.freeFailures = 100
        configuration.ipFailureLimit = 10_000
        configure(&configuration)
        let logs = LogSink()
        let server = clock.map { clock in
            MikataServer(configuration: configuration, service: service, logger: logs.logger("mikata.test"), clock: { clock.now })
        } ?? MikataServer(configuration: configuration, service: service, logger: logs.logger("mikata.test"))
        return ServerFixture(root: base, service: service, server: server, logs: logs)
    }

    /// Runs `body` against the server's router (`live`: over a loopback socket, so the admin allowlist sees a
    /// peer address); the store is removed afterwards whatever happens.
    func run(live: Bool = false, _ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let app = Application(router: server.router(), logger: logs.logger("mikata.app"))
        do {
            try await app.test(live ? .live : .router) { client in try await body(client) }
        } catch {
            await tearDown()
            throw error
        }
        await tearDown()
    }

    func tearDown() async {
        await server.stop()
        try? FileManager.default.removeItem(atPath: root)
    }

    /// The number of records in a patient's vault, read through the service (not the HTTP API).
    func recordCount(email: String, password: String) async throws -> Int {
        let session = try await service.unlockPatient(email: email, password: Secret(utf8: password))
        defer { session.close() }
        return try await service.records(session, RecordQuery(limit: 1000)).records.count
    }
}

/// A parsed answer.
struct Answer: Sendable {
    let status: HTTPResponse.Status
    let headers: HTTPFields
    let body: String

    var code: Int { status.code }
    /// The body as a JSON object ([:] when it is not one).
    var json: [String: Any] {
        ((try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any]) ?? [:]
    }
    func string(_ key: String) -> String? { json[key] as? String }
    /// The problem's failure class (the last part of `type`).
    var problem: String? { string("type").map { String($0.dropFirst(Problem.typeBase.count)) } }
    var field: String? { string("field") }
    var isProblem: Bool { headers[.contentType] == "application/problem+json" }
}

extension TestClientProtocol {
    /// One request: a JSON body (or raw bytes), an optional bearer token.
    func call(_ method: HTTPRequest.Method, _ uri: String, token: String? = nil, json: String? = nil,
              bytes: [UInt8]? = nil, headers extra: HTTPFields = [:]) async throws -> Answer {
        var headers = extra
        if let token { headers[.authorization] = "Bearer \(token)" }
        var body: ByteBuffer?
        if let json { body = ByteBuffer(string: json); headers[.contentType] = "application/json" }
        if let bytes { body = ByteBuffer(bytes: bytes); headers[.contentType] = "application/json" }
        let r = try await execute(uri: uri, method: method, headers: headers, body: body)
        return Answer(status: r.status, headers: r.headers, body: String(buffer: r.body))
    }

    func post(_ uri: String, _ json: String? = nil, token: String? = nil) async throws -> Answer {
        try await call(.post, uri, token: token, json: json)
    }
    func get(_ uri: String, token: String? = nil) async throws -> Answer { try await call(.get, uri, token: token) }

    /// Registers a patient and logs in: (vault id, recovery code, token).
    func patient(_ email: String, _ password: String = "patient password", nickname: String = "Pat") async throws
        -> (vaultId: String, recoveryCode: String, token: String) {
        let created = try await post("/v1/patients", #"{"email":"\#(email)","nickname":"\#(nickname)","password":"\#(password)"}"#)
        #expect(created.code == 201, "\(created.body)")
        let login = try await post("/v1/patients/login", #"{"email":"\#(email)","password":"\#(password)"}"#)
        #expect(login.code == 200, "\(login.body)")
        return (created.string("vaultId") ?? "", created.string("recoveryCode") ?? "", login.string("token") ?? "")
    }

    /// Registers a supporter and logs in: (supporter id, fingerprint, token).
    func supporter(_ email: String, _ password: String = "supporter password", name: String = "Sam") async throws
        -> (supporterId: String, fingerprint: String, token: String) {
        let created = try await post("/v1/supporters", #"{"email":"\#(email)","name":"\#(name)","password":"\#(password)"}"#)
        #expect(created.code == 201, "\(created.body)")
        let login = try await post("/v1/supporters/login", #"{"email":"\#(email)","password":"\#(password)"}"#)
        #expect(login.code == 200, "\(login.body)")
        return (created.string("supporterId") ?? "", created.string("fingerprint") ?? "", login.string("token") ?? "")
    }

    /// The patient of `patientToken` (password `patientPassword`, entered again) links the supporter.
    func link(patientToken: String, supporterEmail: String, fingerprint: String, patientPassword: String = "patient password") async throws {
        let r = try await post("/v1/patient/supporters",
                               #"{"email":"\#(supporterEmail)","fingerprint":"\#(fingerprint)","password":"\#(patientPassword)"}"#,
                               token: patientToken)
        #expect(r.code == 201, "\(r.body)")
    }
}

extension SessionRegistry {
    /// A session from one test address, with a ticket taken now (tests that do not exercise those rules).
    func open(_ principal: Principal) throws -> String { try open(principal, address: "192.0.2.1", ticket: ticket()) }
}
