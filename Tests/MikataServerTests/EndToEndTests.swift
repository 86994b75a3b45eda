import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// End to end (issue 9 §4): the real `mikata serve` process on a free loopback port over a temporary store, spoken
/// to by a real HTTP client over a real socket; restarts, SIGKILL and SIGTERM in the middle of appends.
/// Logins cost one INTERACTIVE Argon2id each (the server offers no cheaper cost), so each test keeps them few.
@Suite("End to end over a real socket", .serialized)
struct EndToEndTests {
    static let password = "Pw-E2E-correct-horse-41"

    /// One appender's outcome: the appends acknowledged with a 2xx (seq and the marker sent), the ones that got
    /// another status, and the ones that ended in a transport error (no answer).
    struct AppendLog: Sendable {
        var acked: [(seq: Int, n: Int)] = []
        var refused: [(n: Int, status: Int)] = []
        var unanswered: [Int] = []
    }

    /// Shared between the appenders and the test: when to stop, how many appends were acknowledged so far.
    final class Flags: Sendable {
        let stop = Atomic<Bool>(false)
        let acks = Atomic<Int>(0)
    }

    /// Appends `{"client": name, "n": 0, 1, ...}` until `stop` is set or, after a failure, `tolerance` more
    /// failures in a row; returns what the client saw.
    static func appender(_ client: E2EClient, token: String, name: String, flags: Flags) async -> AppendLog {
        var log = AppendLog()
        var n = 0
        while !flags.stop.load(ordering: .relaxed) {
            defer { n += 1 }
            do {
                let r = try await client.call(.POST, "/v1/patient/records", token: token,
                                              json: ["type": "note", "data": ["client": name, "n": n, "pad": String(repeating: "x", count: 120)]],
                                              timeout: .seconds(30))
                if (200..<300).contains(r.status), let seq = r.json?["seq"] as? Int {
                    log.acked.append((seq, n))
                    flags.acks.add(1, ordering: .relaxed)
                } else {
                    log.refused.append((n, r.status))
                    if log.refused.count > 50 { break }
                    try? await Task.sleep(for: .milliseconds(20))
                }
            } catch {
                log.unanswered.append(n)
                if log.unanswered.count > 50 { break }
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
        return log
    }

    /// Checks one vault's records against what its appenders saw: every acknowledged append present with its seq
    /// and data, no marker twice; returns the markers present that no client saw acknowledged.
    static func check(_ records: [(seq: Int, data: [String: Any])], against logs: [String: AppendLog],
                      sourceLocation: SourceLocation = #_sourceLocation) -> [String] {
        var bySeq: [Int: (String, Int)] = [:]
        var seen = Set<String>()
        var duplicates: [String] = []
        for r in records {
            guard let c = r.data["client"] as? String, let n = r.data["n"] as? Int else { continue }
            bySeq[r.seq] = (c, n)
            if !seen.insert("\(c)#\(n)").inserted { duplicates.append("\(c)#\(n)") }
        }
        #expect(duplicates.isEmpty, "records stored twice: \(duplicates)", sourceLocation: sourceLocation)
        var missing: [String] = []
        var acked = Set<String>()
        for (name, log) in logs {
            for a in log.acked {
                acked.insert("\(name)#\(a.n)")
                if let found = bySeq[a.seq], found == (name, a.n) { continue }
                missing.append("\(name)#\(a.n)@\(a.seq)")
            }
        }
        #expect(missing.isEmpty, "acknowledged appends missing or at another seq: \(missing.prefix(20))", sourceLocation: sourceLocation)
        return seen.subtracting(acked).sorted()
    }

    @Test("register, log in, append, read; restart: the old token is 401, the data intact")
    func restartInvalidatesSessionsKeepsData() async throws {
        let fixture = try ServeFixture()
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            var server = try fixture.start()
            var client = E2EClient(http: http, base: server.baseURL)
            #expect(try await client.call(.GET, "/healthz").status == 200)
            try await client.register("taro@example.jp", password: Self.password)
            let token = try await client.login("taro@example.jp", password: Self.password)
            var seqs: [Int] = []
            for i in 0..<5 {
                let r = try await client.call(.POST, "/v1/patient/records", token: token, json: ["type": "note", "data": ["i": i, "text": "entry \(i)"]])
                #expect(r.status == 201)
                seqs.append(try #require(r.json?["seq"] as? Int))
            }
            let before = try await client.allRecords(token: token)
            #expect(before.map(\.seq) == seqs)
            #expect(before.map { $0.data["i"] as? Int } == Array(0..<5))

            let status = server.terminate()
            #expect(status == 0, "SIGTERM should end serve cleanly (exit 0); got \(String(describing: status)): \(server.stderr.suffix(500))")

            server = try fixture.start()
            client = E2EClient(http: http, base: server.baseURL)
            let stale = try await client.call(.GET, "/v1/patient/records", token: token)
            #expect(stale.status == 401, "a token from before the restart must not work")
            let again = try await client.login("taro@example.jp", password: Self.password)
            #expect(again != token)
            let after = try await client.allRecords(token: again)
            #expect(after.map(\.seq) == seqs)
            #expect(after.map { $0.data["text"] as? String } == (0..<5).map { "entry \($0)" })
            #expect(server.terminate() == 0)
        } catch {
            try? await http.shutdown()
            throw error
        }
        try await http.shutdown()
    }

    /// Patients and tokens for the append tests: `own` patients with a vault each, one shared vault.
    static func setUpAppenders(_ client: E2EClient, own: Int) async throws -> (own: [String], shared: String) {
        var tokens: [String] = []
        for i in 0..<own {
            try await client.register("own\(i)@example.jp", password: password)
            tokens.append(try await client.login("own\(i)@example.jp", password: password))
        }
        try await client.register("shared@example.jp", password: password)
        return (tokens, try await client.login("shared@example.jp", password: password))
    }

    /// Runs appenders (one per own vault, `sharedWriters` on the shared vault) until `acksBefore` appends are
    /// acknowledged, calls `interrupt`, then lets them run until they stop on errors or for `drain`.
    static func appendUntilInterrupted(_ client: E2EClient, tokens: (own: [String], shared: String), sharedWriters: Int,
                                       acksBefore: Int, interrupt: @Sendable () -> Void) async -> [String: AppendLog] {
        let flags = Flags()
        return await withTaskGroup(of: (String, AppendLog).self) { group in
            for (i, token) in tokens.own.enumerated() {
                group.addTask { ("own\(i)", await appender(client, token: token, name: "own\(i)", flags: flags)) }
            }
            for w in 0..<sharedWriters {
                group.addTask { ("shared\(w)", await appender(client, token: tokens.shared, name: "shared\(w)", flags: flags)) }
            }
            let deadline = Date().addingTimeInterval(120)
            while flags.acks.load(ordering: .relaxed) < acksBefore && Date() < deadline { try? await Task.sleep(for: .milliseconds(5)) }
            interrupt()
            // Every client keeps trying for a moment after the signal: it sees the answer or the error.
            try? await Task.sleep(for: .seconds(3))
            flags.stop.store(true, ordering: .relaxed)
            var logs: [String: AppendLog] = [:]
            for await (name, log) in group { logs[name] = log }
            return logs
        }
    }

    @Test("kill -9 during concurrent appends: every acknowledged append is there after a restart, none twice; audit verify passes")
    func killDuringAppends() async throws {
        let fixture = try ServeFixture()
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            let server = try fixture.start()
            let client = E2EClient(http: http, base: server.baseURL)
            let tokens = try await Self.setUpAppenders(client, own: 3)
            let logs = await Self.appendUntilInterrupted(client, tokens: tokens, sharedWriters: 3, acksBefore: 150) {
                server.kill(SIGKILL)
            }
            server.crash()
            let acked = logs.values.reduce(0) { $0 + $1.acked.count }
            #expect(acked >= 150)
            #expect(logs.values.contains { !$0.unanswered.isEmpty }, "the kill should have cut some clients off")

            let restarted = try fixture.start()
            let after = E2EClient(http: http, base: restarted.baseURL)
            for i in 0..<3 {
                let token = try await after.login("own\(i)@example.jp", password: Self.password)
                _ = Self.check(try await after.allRecords(token: token), against: ["own\(i)": logs["own\(i)"]!])
            }
            let shared = try await after.login("shared@example.jp", password: Self.password)
            _ = Self.check(try await after.allRecords(token: shared), against: logs.filter { $0.key.hasPrefix("shared") })
            #expect(restarted.terminate() == 0)

            let verify = try fixture.run(["audit", "verify"])
            #expect(verify.status == 0, "mikata audit verify: \(verify.stdout) \(verify.stderr)")
        } catch {
            try? await http.shutdown()
            throw error
        }
        try await http.shutdown()
    }

    @Test("SIGTERM during concurrent appends: requests in flight are answered, nothing written goes unanswered, exit 0")
    func sigtermDuringAppends() async throws {
        let fixture = try ServeFixture()
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            let server = try fixture.start()
            let client = E2EClient(http: http, base: server.baseURL)
            let tokens = try await Self.setUpAppenders(client, own: 2)
            let logs = await Self.appendUntilInterrupted(client, tokens: tokens, sharedWriters: 2, acksBefore: 100) {
                server.kill(SIGTERM)
            }
            let status = server.terminate()
            #expect(status == 0, "graceful shutdown should exit 0; got \(String(describing: status)): \(server.stderr.suffix(500))")
            let acked = logs.values.reduce(0) { $0 + $1.acked.count }
            #expect(acked >= 100)

            let restarted = try fixture.start()
            let after = E2EClient(http: http, base: restarted.baseURL)
            var writtenButUnanswered: [String] = []
            for i in 0..<2 {
                let token = try await after.login("own\(i)@example.jp", password: Self.password)
                writtenButUnanswered += Self.check(try await after.allRecords(token: token), against: ["own\(i)": logs["own\(i)"]!])
            }
            let shared = try await after.login("shared@example.jp", password: Self.password)
            writtenButUnanswered += Self.check(try await after.allRecords(token: shared), against: logs.filter { $0.key.hasPrefix("shared") })
            // A request the server took in before the signal is finished and answered: no append is stored whose
            // client saw a reset instead of its 201.
            #expect(writtenButUnanswered.isEmpty, "stored but the client got no answer: \(writtenButUnanswered)")
            #expect(restarted.terminate() == 0)
        } catch {
            try? await http.shutdown()
            throw error
        }
        try await http.shutdown()
    }
}
