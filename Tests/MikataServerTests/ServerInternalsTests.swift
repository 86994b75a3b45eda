import Configuration
import Foundation
import HTTPTypes
import Hummingbird
import Logging
@testable import MikataServer
import MikataService
import Testing

@Suite struct ServerConfigurationTests {
    @Test func defaultsAreTheDocumentedOnes() throws {
        let c = try ServerConfiguration(reader: ConfigReader(provider: InMemoryProvider(values: [:])))
        #expect(c.host == "127.0.0.1" && c.port == 8080 && c.storePath == "mikata-data")
        #expect(c.sessionIdleTimeout == .seconds(900) && c.sessionAbsoluteTimeout == .seconds(43_200))
        #expect(c.accountFailureLimit == 100 && c.maxBodyBytes == 1 << 20)
        #expect(c.adminAllowlist.map(\.description) == ["127.0.0.0/8", "0:0:0:0:0:0:0:1/128"])
        #expect(c.trustedProxies.isEmpty && c.tlsCertificatePath == nil)
        #expect(c.verifiedSignatureCacheEntries == 262_144)
        #expect(c.maxSessionsPerAddress == 500 && c.ipConcurrentChecks == 8)
    }

    @Test func flagsWinOverEnvironmentWhichWinsOverTheFile() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cfg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("mikata.json").path
        try Data(#"{"http": {"port": 7000, "host": "0.0.0.0", "trustedProxies": ["10.0.0.0/8"]}, "sessions": {"idleTimeoutSeconds": 60}}"#.utf8)
            .write(to: URL(fileURLWithPath: file))
        let reader = try await ServerConfiguration.reader(
            flags: ["http.port": .int(9000)], file: file,
            environment: ["MIKATA_HTTP_HOST": "127.0.0.2", "MIKATA_ADMIN_ALLOWLIST": "192.0.2.0/24,::1"])
        let c = try ServerConfiguration(reader: reader)
        #expect(c.port == 9000)           // flag over file
        #expect(c.host == "127.0.0.2")    // environment over file
        #expect(c.sessionIdleTimeout == .seconds(60))  // file over default
        #expect(c.trustedProxies.map(\.description) == ["10.0.0.0/8"])
        #expect(c.adminAllowlist.count == 2 && c.adminAllowlist[0].contains("192.0.2.77"))
    }

    @Test func malformedValuesAreRefusedNamingTheKey() async throws {
        func reading(_ env: [String: String]) async throws -> ServerConfiguration {
            try ServerConfiguration(reader: try await ServerConfiguration.reader(flags: [:], file: nil, environment: env))
        }
        for (env, key) in [(["MIKATA_ADMIN_ALLOWLIST": "10.0.0.0/33"], "admin.allowlist"),
                           (["MIKATA_HTTP_TRUSTED_PROXIES": "proxy.example"], "http.trustedProxies"),
                           (["MIKATA_THROTTLE_ACCOUNT_FAILURE_LIMIT": "101"], "throttle.accountFailureLimit"),
                           (["MIKATA_TLS_CERTIFICATE_PATH": "/x.pem"], "tls"),
                           (["MIKATA_READS_VERIFIED_SIGNATURE_CACHE_ENTRIES": "1"], "reads.verifiedSignatureCacheEntries"),
                           (["MIKATA_LOG_LEVEL": "loud"], "log.level")] {
            do {
                _ = try await reading(env)
                Issue.record("accepted \(env)")
            } catch let e as MikataError {
                #expect(e.code == .invalidInput && e.message.hasPrefix(key), "\(e.message)")
            }
        }
    }
}

@Suite struct IPRangeTests {
    @Test func cidrMatching() throws {
        let v4 = try #require(IPRange("10.1.0.0/16"))
        #expect(v4.contains("10.1.200.3") && !v4.contains("10.2.0.1") && !v4.contains("::1"))
        #expect(v4.contains("::ffff:10.1.2.3"))  // IPv4-mapped IPv6 counts as IPv4
        let one = try #require(IPRange("192.0.2.7"))
        #expect(one.contains("192.0.2.7") && !one.contains("192.0.2.8"))
        let v6 = try #require(IPRange("2001:db8::/32"))
        #expect(v6.contains("2001:db8:ffff::1") && !v6.contains("2001:db9::1"))
        #expect(IPRange("0.0.0.0/0")!.contains("203.0.113.9"))
        for bad in ["", "10.0.0.0/", "10.0.0.0/33", "::/129", "host.example", "10.0.0.256", "1.2.3.4/8/8"] {
            #expect(IPRange(bad) == nil, "\(bad)")
        }
        #expect(!v4.contains("not-an-address"))
    }
}

@Suite struct SessionRegistryTests {
    final class Counter: @unchecked Sendable { var last = -1 }

    @Test func tokensAreRandomAndOnlyTheirHashesAreKept() throws {
        let registry = SessionRegistry(idleTimeout: .seconds(60), absoluteTimeout: .seconds(120), maxSessions: 10)
        let a = try registry.open(.administrator(name: "a", enrolment: ""))
        let b = try registry.open(.administrator(name: "a", enrolment: ""))
        #expect(a != b && a.count == 43 && b.count == 43)
        #expect(registry.principal(token: a)?.account == "administrator:a")
        #expect(registry.principal(token: a + "x") == nil)
        registry.close(token: a)
        #expect(registry.principal(token: a) == nil && registry.principal(token: b) != nil)
        #expect(registry.close(account: "administrator:a") == 1 && registry.count == 0)
    }

    @Test func idleAndAbsoluteTimeoutsEndSessions() async throws {
        let idle = SessionRegistry(idleTimeout: .milliseconds(50), absoluteTimeout: .seconds(60), maxSessions: 10)
        let t = try idle.open(.administrator(name: "a", enrolment: ""))
        try await Task.sleep(for: .milliseconds(120))
        #expect(idle.principal(token: t) == nil && idle.count == 0)

        let absolute = SessionRegistry(idleTimeout: .milliseconds(100), absoluteTimeout: .milliseconds(100), maxSessions: 10)
        let u = try absolute.open(.administrator(name: "b", enrolment: ""))
        for _ in 0..<6 {  // used every 30 ms: never idle, but past the absolute limit after 100 ms
            try await Task.sleep(for: .milliseconds(30))
            _ = absolute.principal(token: u)
        }
        #expect(absolute.principal(token: u) == nil)
    }

    @Test func theSessionLimitAnswers503AfterSweepingExpiredOnes() async throws {
        let counter = Counter()
        let clock = ServerFixture.ManualClock()
        let r = SessionRegistry(idleTimeout: .milliseconds(40), absoluteTimeout: .seconds(60), maxSessions: 2,
                                now: { clock.now }, onCountChange: { counter.last = $0 })
        _ = try r.open(.administrator(name: "a", enrolment: ""))
        _ = try r.open(.administrator(name: "b", enrolment: ""))
        #expect(counter.last == 2)
        #expect(throws: Problem.self) { try r.open(.administrator(name: "c", enrolment: "")) }
        clock.advance(.milliseconds(80))
        _ = try r.open(.administrator(name: "c", enrolment: ""))  // the two expired ones were swept
        #expect(r.count == 1 && counter.last == 1)
        r.closeAll()
        #expect(r.count == 0 && counter.last == 0)
    }
}

@Suite struct LoginThrottleTests {
    func throttle(free: Int = 2, limit: Int = 5, ipLimit: Int = 1000) -> LoginThrottle {
        var c = ServerConfiguration()
        c.freeFailures = free
        c.accountFailureLimit = limit
        c.ipFailureLimit = ipLimit
        c.ipConcurrentChecks = 1_000  // these tests are about failures; concurrency has its own
        return LoginThrottle(configuration: c)
    }

    @Test func backoffStartsAfterTheFreeFailuresAndASuccessResetsIt() throws {
        let t = throttle()
        for _ in 0..<2 {
            try t.begin(account: "a@example.jp", address: "192.0.2.1")
            t.end(account: "a@example.jp", address: "192.0.2.1", .failed)
        }
        try t.begin(account: "a@example.jp", address: "192.0.2.1")  // two failures are free
        t.end(account: "a@example.jp", address: "192.0.2.1", .failed)
        do {
            try t.begin(account: " A@EXAMPLE.JP", address: "192.0.2.9")  // same account however typed, any address
            Issue.record("not throttled")
        } catch let p as Problem {
            #expect(p.status == .tooManyRequests && (p.retryAfter ?? 0) >= 1)
        }
        try t.begin(account: "b@example.jp", address: "192.0.2.1")  // other accounts unaffected
        t.end(account: "b@example.jp", address: "192.0.2.1", .undecided)
        t.succeeded(account: "a@example.jp")
        try t.begin(account: "a@example.jp", address: "192.0.2.1")
    }

    // Second review, M5: one address's logins, successful or not, hold at most `ipConcurrentChecks` of the shared
    // Argon2id queue.
    @Test func oneAddressRunsAtMostItsShareOfPasswordChecksAtOnce() throws {
        var c = ServerConfiguration()
        c.ipConcurrentChecks = 2
        let t = LoginThrottle(configuration: c)
        try t.begin(account: "a@example.jp", address: "192.0.2.1")
        try t.begin(account: "b@example.jp", address: "192.0.2.1")
        do {
            try t.begin(account: "c@example.jp", address: "192.0.2.1")
            Issue.record("a third check at once was admitted")
        } catch let p as Problem {
            #expect(p.status == .tooManyRequests && p.retryAfter == 1)
        }
        try t.begin(account: "c@example.jp", address: "192.0.2.2")  // another address is not held back
        t.end(account: "a@example.jp", address: "192.0.2.1", .succeeded)
        try t.begin(account: "c@example.jp", address: "192.0.2.1")  // a place came free: the same account again
    }

    @Test func anAccountLocksAfterTheLimitOfConsecutiveFailures() throws {
        let t = throttle(free: 100, limit: 3)
        for _ in 0..<3 { t.failed(account: "x@example.jp", address: "192.0.2.1") }
        #expect(throws: Problem.self) { try t.begin(account: "x@example.jp", address: "192.0.2.2") }
    }

    @Test func oneAddressIsLimitedAcrossAccounts() throws {
        let t = throttle(free: 100, limit: 100, ipLimit: 3)
        for i in 0..<3 { t.failed(account: "user\(i)@example.jp", address: "198.51.100.7") }
        #expect(throws: Problem.self) { try t.begin(account: "fresh@example.jp", address: "198.51.100.7") }
        try t.begin(account: "fresh@example.jp", address: "198.51.100.8")
    }

    @Test func attemptsInFlightCountAgainstTheLimits() throws {
        // The bench's finding: 50 concurrent attempts all passed the check before any had failed. Now at most
        // `free` run side by side per account, and an address's attempts in flight count against its limit.
        let t = throttle(free: 3, limit: 100, ipLimit: 1000)
        var admitted = 0
        for _ in 0..<50 { if (try? t.begin(account: "burst@example.jp", address: "192.0.2.1")) != nil { admitted += 1 } }
        #expect(admitted == 3)
        for _ in 0..<admitted { t.end(account: "burst@example.jp", address: "192.0.2.1", .failed) }
        let perAddress = throttle(free: 100, limit: 100, ipLimit: 10)
        var fromOne = 0
        for i in 0..<50 { if (try? perAddress.begin(account: "u\(i)@example.jp", address: "198.51.100.1")) != nil { fromOne += 1 } }
        #expect(fromOne == 10)
        // Undecided attempts (busy) give their admission back without counting.
        for i in 0..<10 { perAddress.end(account: "u\(i)@example.jp", address: "198.51.100.1", .undecided) }
        try perAddress.begin(account: "later@example.jp", address: "198.51.100.1")
    }

    @Test func registrationsPerAddressAreLimitedForAWindow() throws {
        final class ManualClock: @unchecked Sendable { var now = ContinuousClock.now }
        let clock = ManualClock()
        var c = ServerConfiguration()
        c.ipRegistrationLimit = 3
        c.ipWindow = .seconds(600)
        let t = LoginThrottle(configuration: c, now: { clock.now })
        for _ in 0..<3 { try t.admitRegistration(address: "198.51.100.7") }
        do {
            try t.admitRegistration(address: "198.51.100.7")
            Issue.record("a fourth registration was admitted")
        } catch let p as Problem {
            #expect(p.status == .tooManyRequests && p.retryAfter == 600)
        }
        for i in 1...3 { try t.admitRegistration(address: "2001:db8::\(i)") }  // one /64: one allowance
        #expect(throws: Problem.self) { try t.admitRegistration(address: "2001:db8::ffff") }
        try t.admitRegistration(address: "198.51.100.8")  // other addresses unaffected
        clock.now += .seconds(601)
        try t.admitRegistration(address: "198.51.100.7")  // a new window
    }

    @Test func trackedKeysAreBounded() {
        var c = ServerConfiguration()
        c.freeFailures = 100
        let t = LoginThrottle(configuration: c, maxTracked: 50)
        for i in 0..<500 { t.failed(account: "u\(i)@example.jp", address: "10.0.\(i / 250).\(i % 250)") }
        #expect(t.tracked.accounts <= 50 && t.tracked.addresses <= 50)
    }
}

/// `JSONLogHandler` writes one JSON object per line: members sorted, strings escaped, metadata of the event over the
/// handler's over the fixed members; `RequestLogMiddleware.milliseconds` rounds as `%.2f` did.
@Suite struct JSONLogLineTests {
    final class Lines: @unchecked Sendable {
        let lock = NSLock()
        var all: [String] = []
        func add(_ s: String) { lock.lock(); all.append(s); lock.unlock() }
    }

    @Test func linesAreSortedEscapedJSONObjects() throws {
        let lines = Lines()
        var logger = Logger(label: "test.label") { JSONLogHandler(label: $0, level: .debug, write: { lines.add($0) }) }
        logger[metadataKey: "shared"] = "handler"
        logger[metadataKey: "kept"] = "from the handler"
        logger.info("a \"quoted\"\nline\u{1}\\", metadata: [
            "shared": "event", "n": .stringConvertible(42), "list": ["x", ["y"]], "map": ["b": "2", "a": "1"], "level": "overridden",
        ])
        logger.debug("second")
        logger.trace("not written")
        #expect(lines.all.count == 2)
        let line = try #require(lines.all.first)
        #expect(!line.contains("\n"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["message"] as? String == "a \"quoted\"\nline\u{1}\\")
        #expect(object["label"] as? String == "test.label")
        #expect(object["shared"] as? String == "event" && object["kept"] as? String == "from the handler")
        #expect(object["level"] as? String == "overridden" && object["n"] as? String == "42")
        #expect((object["list"] as? [Any])?.count == 2 && (object["map"] as? [String: String]) == ["a": "1", "b": "2"])
        // Members in code-point order, as `.sortedKeys` wrote them.
        #expect(line.hasPrefix(#"{"kept":"from the handler","label":"test.label","level":"overridden","list":["x",["y"]],"map":{"a":"1","b":"2"},"message":"a \"quoted\"\nline\u0001\\","#))
        let time = try #require(object["time"] as? String)
        let parsed = try #require(try? Date(time, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
        #expect(abs(parsed.timeIntervalSinceNow) < 600 && time.count == 24 && time.hasSuffix("Z"))
        let second = try #require(try JSONSerialization.jsonObject(with: Data(lines.all[1].utf8)) as? [String: Any])
        #expect(second["level"] as? String == "debug" && second["message"] as? String == "second")
    }

    @Test(arguments: [(Duration.zero, "0.00"), (.microseconds(4), "0.00"), (.microseconds(5), "0.01"), (.microseconds(6_214), "6.21"),
                      (.microseconds(6_215), "6.22"), (.milliseconds(999_999), "999999.00"), (.seconds(3) + .microseconds(99_996), "3100.00")])
    func durationsInMilliseconds(duration: Duration, text: String) {
        #expect(RequestLogMiddleware.milliseconds(duration) == text)
    }

    /// A reader that stops reading (a full pipe) never makes `enqueue` wait: lines beyond the queue's bound are
    /// dropped and counted, a warning line stands where they are missing, and every line kept comes out once, whole,
    /// in order, when the reader catches up and the writer is flushed.
    @Test(.timeLimit(.minutes(1))) func aStalledReaderNeverHoldsTheCaller() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let writer = LogLineWriter(descriptor: fds[1], capacityBytes: 64 << 10)
        let pad = String(repeating: "x", count: 180)
        var kept: [Int] = []
        for n in 0..<2_000 where writer.enqueue(Array(#"{"n":\#(n),"pad":"\#(pad)"}"#.utf8)) { kept.append(n) }
        // The pipe holds 64 KiB and the queue 64 KiB more: most of 400 KB of lines were dropped, none waited.
        #expect(kept.count < 1_000 && writer.droppedTotal == 2_000 - kept.count)

        let readEnd = fds[0]
        let output = Lines()
        let reader = Thread {
            var all: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(readEnd, $0.baseAddress!, $0.count) }
                if n <= 0 { break }
                all += buffer[0..<n]
            }
            output.add(String(decoding: all, as: UTF8.self))
        }
        reader.start()
        writer.flush()
        close(fds[1])
        while output.all.isEmpty { usleep(1_000) }
        close(readEnd)

        let text = try #require(output.all.first)
        #expect(text.hasSuffix("\n"))
        var numbers: [Int] = [], reported = 0
        for line in text.split(separator: "\n") {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            if let n = object["n"] as? Int {
                numbers.append(n)
            } else {
                #expect(object["label"] as? String == "mikata.log" && object["level"] as? String == "warning")
                // The report stands after the last line kept before the gap.
                let count = try #require((object["dropped"] as? String).flatMap { Int($0) })
                #expect(!kept.contains((numbers.last ?? -1) + 1))
                reported += count
            }
        }
        #expect(numbers == kept)
        #expect(reported == writer.droppedTotal)
    }
}

/// `Authorization` values as `Request.bearerToken` reads them (RFC 6750 §2.1).
@Suite struct BearerHeaderTests {
    @Test func tokensAreTakenFromWellFormedValuesOnly() {
        let token = String(repeating: "aZ09-._~+/", count: 4) + "=="
        for value in ["Bearer " + token, "bearer " + token, "BEARER  " + token + " \t", "Bearer \t" + token] {
            #expect(Request.bearerToken(value) == token, "\(value)")
        }
        #expect(Request.bearerToken("Bearer " + String(repeating: "a", count: 512))?.utf8.count == 512)
        for value in [nil, "", "Bearer", "Bearer ", "Bearer \t ", "Basic abc", "Token x", "Bearerx abc", "Bearér abc", " Bearer abc",
                      "Bearer " + String(repeating: "a", count: 513), "Bearer " + String(repeating: "é", count: 300)] {
            #expect(Request.bearerToken(value) == nil, "\(value.map { String($0.prefix(20)) } ?? "nil")")
        }
        #expect(Request.bearerToken("Bearer a b") == "a b", "inner blanks are kept: such a token matches no session")
    }
}
