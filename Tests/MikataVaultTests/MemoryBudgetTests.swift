import Foundation
import Testing
@testable import MikataVault
import MikataCrypto

@Suite("Argon2id memory")
struct MemoryBudgetTests {
    @Test("many concurrent unlocks never hold more Argon2id memory than the budget")
    func budgetCapsConcurrentUnlocks() throws {
        let budget = Argon2Budget(bytes: 3 * PasswordHash.memLimitInteractive)
        let salt = Random.bytes(16)
        let group = DispatchGroup()
        let failures = FailureCounter()
        // Real threads (not the 2-thread cooperative pool), so more unlocks than the budget allows run at once.
        for _ in 0..<12 {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                do {
                    let r = try budget.reserve(PasswordHash.memLimitInteractive)
                    defer { budget.release(r) }
                    _ = try PasswordHash.deriveKey(password: pw("p"), salt: salt, opsLimit: PasswordHash.opsLimitInteractive, memLimit: PasswordHash.memLimitInteractive)
                } catch { failures.add() }
            }
        }
        group.wait()
        #expect(failures.count == 0)
        #expect(budget.peak <= budget.capacity)
        #expect(budget.peak == budget.capacity)  // the budget was actually the limit, with waiters queued
    }

    @Test("a request larger than the whole budget, or one that waits too long, is busy")
    func budgetRefusals() throws {
        let budget = Argon2Budget(bytes: 64 << 20)
        #expect(throws: VaultError.self) { _ = try budget.reserve(65 << 20) }
        budget.wait = 0.05
        let held = try budget.reserve(64 << 20)
        #expect(failureClass { _ = try budget.reserve(1 << 20) } == "busy")
        budget.release(held)
        budget.release(try budget.reserve(1 << 20))
    }

    @Test("crypto_pwhash failing for lack of memory is 'busy' (exit 75), not a crash or a wrong password")
    func argon2OutOfMemoryIsBusy() throws {
        let s = try Scratch()
        s.store.kdf = KDFParameters(opsLimit: 1, memLimit: 1 << 30)  // 1 GiB per unlock
        _ = try s.store.createPatient(email: "big@example.jp", nickname: "Big", password: pw("pw"))
        let pwFile = s.dir + "/pw"
        try Data("pw\n".utf8).write(to: URL(fileURLWithPath: pwFile))
        let binary = try #require(CLIBinary.path)
        // 700 MB of address space: enough for the process, not for a 1 GiB Argon2id.
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["-c", "ulimit -v 700000; exec \"$0\" record list --store \"$1\" --email big@example.jp --password-file \"$2\"", binary, s.dir, pwFile]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = Pipe()
        try p.run()
        p.waitUntilExit()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(p.terminationStatus == 75, "stderr: \(stderr)")
        #expect(stderr.hasPrefix("mikata: error: "))
    }
}

/// The `mikata` executable built beside the test bundle.
enum CLIBinary {
    static var path: String? {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("mikata").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir.deleteLastPathComponent()
        }
        let fallback = GoldenTests.packageRoot.appendingPathComponent(".build/debug/mikata").path
        return FileManager.default.isExecutableFile(atPath: fallback) ? fallback : nil
    }
}

final class FailureCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func add() { lock.lock(); n += 1; lock.unlock() }
    var count: Int { lock.lock(); defer { lock.unlock() }; return n }
}
