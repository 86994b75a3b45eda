import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The built `mikata` executable: beside the test bundle (`swift build --build-tests` builds every product into one
/// folder), else `<package>/.build/debug/mikata`.
enum ServeBinary {
    static let path: String = locate()

    private static func locate() -> String {
        let fm = FileManager.default
        var starts: [URL] = []
        if let first = CommandLine.arguments.first { starts.append(URL(fileURLWithPath: first).deletingLastPathComponent()) }
        starts.append(URL(fileURLWithPath: Bundle.main.bundlePath))
        for start in starts {
            var dir = start.standardizedFileURL
            for _ in 0..<4 {
                let candidate = dir.appendingPathComponent("mikata").path
                var isDirectory: ObjCBool = false
                if fm.fileExists(atPath: candidate, isDirectory: &isDirectory), !isDirectory.boolValue, fm.isExecutableFile(atPath: candidate) {
                    return candidate
                }
                dir = dir.deletingLastPathComponent()
            }
        }
        var root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while root.path != "/" && !fm.fileExists(atPath: root.appendingPathComponent("Package.swift").path) {
            root = root.deletingLastPathComponent()
        }
        return root.appendingPathComponent(".build/debug/mikata").path
    }
}

/// A scratch folder holding a store; `mikata serve` processes over it, started and stopped by the test.
final class ServeFixture: @unchecked Sendable {
    let root: String
    let store: String
    private var counter = 0

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("mikata-e2e-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        store = "\(root)/store"
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    /// The test's environment (its `MIKATA_ROOT_KEY_DIR` included), without a store or port override.
    var environment: [String: String] {
        var env = ProcessInfo.processInfo.environment
        for key in env.keys where key.hasPrefix("MIKATA_") && key != "MIKATA_ROOT_KEY_DIR" { env[key] = nil }
        return env
    }

    /// Starts `mikata serve` on a free loopback port (port 0, read back from its first line) and waits until it
    /// listens.
    func start() throws -> ServeProcess {
        counter += 1
        return try ServeProcess(arguments: ["serve", "--listen", "127.0.0.1:0", "--store", store],
                                environment: environment, scratch: root, tag: "serve-\(counter)")
    }

    /// Runs a `mikata` command over the same store and waits: exit status and output.
    func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        counter += 1
        let p = try ServeProcess.spawn(arguments: arguments + ["--store", store], environment: environment,
                                       scratch: root, tag: "cli-\(counter)")
        p.process.waitUntilExit()
        return (p.process.terminationStatus, p.stdout, p.stderr)
    }
}

/// One `mikata serve` process, its output in files (never a pipe that could fill and block it).
final class ServeProcess: @unchecked Sendable {
    let process: Process
    private let outPath: String
    private let errPath: String
    /// The port it listens on.
    private(set) var port = 0

    var baseURL: String { "http://127.0.0.1:\(port)" }
    var stdout: String { (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "" }

    private init(process: Process, outPath: String, errPath: String) {
        self.process = process
        self.outPath = outPath
        self.errPath = errPath
    }

    static func spawn(arguments: [String], environment: [String: String], scratch: String, tag: String) throws -> ServeProcess {
        let outPath = "\(scratch)/\(tag).out", errPath = "\(scratch)/\(tag).err"
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ServeBinary.path)
        process.arguments = arguments
        process.environment = environment
        process.standardInput = FileHandle(forReadingAtPath: "/dev/null")
        process.standardOutput = FileHandle(forWritingAtPath: outPath)
        process.standardError = FileHandle(forWritingAtPath: errPath)
        try process.run()
        return ServeProcess(process: process, outPath: outPath, errPath: errPath)
    }

    convenience init(arguments: [String], environment: [String: String], scratch: String, tag: String) throws {
        let p = try Self.spawn(arguments: arguments, environment: environment, scratch: scratch, tag: tag)
        self.init(process: p.process, outPath: p.outPath, errPath: p.errPath)
        // "mikata serve: listening on http://127.0.0.1:PORT (store ...)"
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline {
            if let range = stdout.range(of: "listening on http://127.0.0.1:") {
                let digits = stdout[range.upperBound...].prefix(while: \.isNumber)
                if let p = Int(digits), p > 0 { port = p; return }
            }
            guard process.isRunning else { break }
            usleep(20_000)
        }
        kill(SIGKILL)
        throw ServeError.notListening(stderr: String(stderr.suffix(2000)))
    }

    func kill(_ signal: Int32) { if process.isRunning { _ = Glibc.kill(process.processIdentifier, signal) } }

    /// SIGTERM, then waits for the exit: its status (nil if it had to be killed after `seconds`).
    func terminate(within seconds: Double = 60) -> Int32? {
        kill(SIGTERM)
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        guard !process.isRunning else { kill(SIGKILL); process.waitUntilExit(); return nil }
        process.waitUntilExit()
        return process.terminationReason == .exit ? process.terminationStatus : -process.terminationStatus
    }

    /// SIGKILL and reap.
    func crash() {
        kill(SIGKILL)
        process.waitUntilExit()
    }
}

enum ServeError: Error, CustomStringConvertible {
    case notListening(stderr: String)
    var description: String {
        switch self { case .notListening(let e): "mikata serve did not start listening: \(e)" }
    }
}

/// A real HTTP client (async-http-client) speaking JSON to one server.
struct E2EClient: Sendable {
    let http: HTTPClient
    let base: String

    /// One request; the status and the decoded JSON body (nil when empty or not JSON).
    func call(_ method: HTTPMethod, _ path: String, token: String? = nil, json body: [String: Any]? = nil,
              timeout: TimeAmount = .seconds(60)) async throws -> (status: Int, json: [String: Any]?) {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
        }
        let response = try await http.execute(request, timeout: timeout)
        let bytes = try await response.body.collect(upTo: 16 << 20)
        let object = bytes.readableBytes == 0 ? nil
            : (try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView))) as? [String: Any]
        return (Int(response.status.code), object)
    }

    /// Registers a patient (201) and returns the vault id.
    @discardableResult
    func register(_ email: String, password: String) async throws -> String {
        let r = try await call(.POST, "/v1/patients", json: ["email": email, "nickname": "Nick", "password": password])
        #expect(r.status == 201, "register: \(r.status) \(r.json ?? [:])")
        return try #require(r.json?["vaultId"] as? String)
    }

    /// Logs a patient in (200) and returns the bearer token.
    func login(_ email: String, password: String) async throws -> String {
        let r = try await call(.POST, "/v1/patients/login", json: ["email": email, "password": password])
        #expect(r.status == 200, "login: \(r.status) \(r.json ?? [:])")
        return try #require(r.json?["token"] as? String)
    }

    /// Every record of the session's vault, page after page: seq → data.
    func allRecords(token: String) async throws -> [(seq: Int, data: [String: Any])] {
        var out: [(Int, [String: Any])] = []
        var after: Int?
        while true {
            let r = try await call(.GET, "/v1/patient/records?limit=1000" + (after.map { "&after=\($0)" } ?? ""), token: token)
            try #require(r.status == 200, "records: \(r.status) \(r.json ?? [:])")
            let rows = try #require(r.json?["records"] as? [[String: Any]])
            for row in rows { out.append((try #require(row["seq"] as? Int), row["data"] as? [String: Any] ?? [:])) }
            guard let next = r.json?["nextAfter"] as? Int else { return out }
            after = next
        }
    }
}
