import Foundation
import Testing
@testable import MikataVault
import MikataCrypto

/// The access log's group commit (AuditLog.append) and the vault append that syncs its frame beside its entry
/// (docs/AUDIT.md, docs/SECURITY.md "Truncation and rollback").
@Suite("Group commit")
struct GroupCommitTests {
    /// A value shared by the test's threads.
    final class Shared<Value>: @unchecked Sendable {
        private let lock = NSLock()
        private var value: Value
        init(_ value: Value) { self.value = value }
        func update<R>(_ body: (inout Value) -> R) -> R { lock.lock(); defer { lock.unlock() }; return body(&value) }
        var current: Value { update { $0 } }
    }

    /// Runs `body(i)` on `n` threads at once and waits for all of them.
    static func onThreads(_ n: Int, _ body: @escaping @Sendable (Int) -> Void) {
        let done = DispatchSemaphore(value: 0)
        for i in 0..<n {
            let t = Thread { body(i); done.signal() }
            t.start()
        }
        for _ in 0..<n { done.wait() }
    }

    /// Waits (without timing anything) until `condition` holds; gives up after 30 s so a bug fails instead of hanging.
    static func waitUntil(_ condition: () -> Bool) {
        let deadline = Date().addingTimeInterval(30)
        while !condition() && Date() < deadline { usleep(500) }
    }

    static func event(_ detail: String) -> AuditLog.Event {
        AuditLog.Event(vaultId: nil, actor: "test", role: "operator", action: "group-commit-test", outcome: "ok", detail: detail)
    }

    @Test("many threads appending at once: the log verifies, seqs run without gap or duplicate, each caller's seq is its own entry")
    func concurrentAppends() throws {
        let s = try Scratch()
        let log = try s.store.auditLog()
        let threads = 16, each = 25
        let got = Shared<[(seq: UInt64, detail: String)]>([])
        let failures = Shared<[String]>([])
        Self.onThreads(threads) { t in
            for k in 0..<each {
                let detail = "thread \(t) append \(k)"
                do {
                    let seq = try log.append(Self.event(detail))
                    got.update { $0.append((seq, detail)) }
                } catch { failures.update { $0.append("\(error)") } }
            }
        }
        #expect(failures.current.isEmpty, "\(failures.current)")
        let report = try log.verify()
        let entries = try log.entries()
        #expect(report.entries == entries.count)
        #expect(entries.map(\.seq) == Array(0..<UInt64(entries.count)))
        let bySeq = Dictionary(uniqueKeysWithValues: entries.map { ($0.seq, $0) })
        let answers = got.current
        #expect(answers.count == threads * each)
        #expect(Set(answers.map(\.seq)).count == answers.count, "a seq was given to two callers")
        for a in answers { #expect(bySeq[a.seq]?.detail == a.detail, "seq \(a.seq) is not \(a.detail)") }
        #expect(entries.filter { $0.action == "group-commit-test" }.count == threads * each)
    }

    /// Holds the first batch's fdatasync until every other caller is queued behind it, so they form one batch:
    /// the batch sizes are decided by the queue, not by timing.
    static func holdFirstBatch(_ log: AuditLog, callers: Int, failSecond: Bool) -> Shared<[Int]> {
        let batches = Shared<[Int]>([])
        log.setBeforeBatchSync { [log] count in
            let n = batches.update { $0.append(count); return $0.count }
            if n == 1 { Self.waitUntil { log.pendingCount == callers - count } }
            if n == 2 && failSecond { throw VaultError.io("fdatasync: injected failure") }
        }
        return batches
    }

    @Test("concurrent callers share fdatasyncs: N appends queued behind one batch take 2 syncs, not N")
    func fewerSyncsThanAppends() throws {
        let s = try Scratch()
        let log = try s.store.auditLog()
        let callers = 12
        let batches = Self.holdFirstBatch(log, callers: callers, failSecond: false)
        defer { log.setBeforeBatchSync(nil) }
        let syncsBefore = log.syncCount
        let seqs = Shared<[UInt64]>([])
        Self.onThreads(callers) { i in
            if let seq = try? log.append(Self.event("caller \(i)")) { seqs.update { $0.append(seq) } }
        }
        #expect(seqs.current.count == callers)
        #expect(Set(seqs.current).count == callers)
        #expect(batches.current.count == 2 && batches.current.reduce(0, +) == callers, "batches \(batches.current)")
        #expect(log.syncCount - syncsBefore == 2)
        _ = try log.verify()
    }

    @Test("a failed batch sync fails every caller of that batch, reports none durable, and leaves a log that verifies and goes on")
    func failedSyncFailsTheBatch() throws {
        let s = try Scratch()
        let log = try s.store.auditLog()
        let entriesBefore = try log.entries().count
        let callers = 8
        let batches = Self.holdFirstBatch(log, callers: callers, failSecond: true)
        let ok = Shared<[String]>([]), failed = Shared<[String]>([])
        Self.onThreads(callers) { i in
            do {
                _ = try log.append(Self.event("caller \(i)"))
                ok.update { $0.append("caller \(i)") }
            } catch { failed.update { $0.append("caller \(i)") } }
        }
        log.setBeforeBatchSync(nil)
        let sizes = batches.current
        #expect(sizes.count == 2 && ok.current.count == sizes[0] && failed.current.count == sizes[1], "batches \(sizes)")
        _ = try log.verify()
        let details = Set(try log.entries().dropFirst(entriesBefore).map(\.detail))
        #expect(details == Set(ok.current), "the log holds exactly the acknowledged entries")
        try log.append(Self.event("after"))
        #expect(try log.verify().entries == entriesBefore + ok.current.count + 1)
    }

    @Test("a lowered thread (a password check) whose turn it is to lead hands the batch to a normal thread waiting behind it; alone, it writes its own")
    func loweredThreadsDoNotLead() throws {
        let s = try Scratch()
        let log = try s.store.auditLog()
        // Who writes each batch: (events, written on a lowered thread). The first batch (a normal caller's) is held
        // until the lowered caller and then a normal one wait behind it, in that order: the lowered one heads the
        // queue when the first batch is done.
        let batches = Shared<[(count: Int, lowered: Bool)]>([])
        let release = DispatchSemaphore(value: 0)
        log.setBeforeBatchSync { count in
            let n = batches.update { $0.append((count, ThreadPriority.isCurrentLowered)); return $0.count }
            if n == 1 { release.wait() }
        }
        defer { log.setBeforeBatchSync(nil) }
        let seqs = Shared<[String: UInt64]>([:])
        func start(_ name: String, lowered: Bool) -> DispatchSemaphore {
            let done = DispatchSemaphore(value: 0)
            Thread {
                if lowered { ThreadPriority.lowerCurrentThread() }
                if let seq = try? log.append(Self.event(name)) { seqs.update { $0[name] = seq } }
                done.signal()
            }.start()
            return done
        }
        let first = start("first", lowered: false)
        Self.waitUntil { batches.current.count == 1 }
        let low = start("password check", lowered: true)
        Self.waitUntil { log.pendingCount == 1 }
        let normal = start("read", lowered: false)
        Self.waitUntil { log.pendingCount == 2 }
        release.signal()
        for d in [first, low, normal] { d.wait() }
        #expect(batches.current.map(\.count) == [1, 2] && batches.current.map(\.lowered) == [false, false], "\(batches.current)")
        #expect(seqs.current.count == 3)
        // Alone, a lowered caller writes its own batch (nobody to hand it to).
        start("alone", lowered: true).wait()
        #expect(batches.current.last.map { $0.count == 1 && $0.lowered } == true, "\(batches.current)")
        #expect(seqs.current.count == 4)
        _ = try log.verify()
    }

    @Test("many threads appending to their own vaults: every record and entry once, the log and every vault verify")
    func concurrentVaultAppends() throws {
        let s = try Scratch()
        let vaults = try (0..<8).map { i -> (Vault, VaultSession) in
            let (v, _) = try s.patient("p\(i)@example.jp")
            return (v, try v.unlock(password: pw("patient-pw")))
        }
        let box = Shared(vaults)
        let failures = Shared<[String]>([])
        Self.onThreads(vaults.count) { i in
            let (vault, session) = box.update { $0[i] }
            for k in 1...10 {
                do {
                    let seq = try vault.append(type: "dose", data: json("\(k)"), session: session)
                    if seq != UInt64(k) { failures.update { $0.append("vault \(i): seq \(seq) for append \(k)") } }
                } catch { failures.update { $0.append("vault \(i): \(error)") } }
            }
        }
        #expect(failures.current.isEmpty, "\(failures.current)")
        _ = try s.store.verifyAccessLog()
        for (vault, session) in vaults { #expect(try vault.verify(session).recordCount == 11) }
    }

    // MARK: crash orders

    static func read(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }
    static func write(_ bytes: [UInt8], _ path: String) throws { try Data(bytes).write(to: URL(fileURLWithPath: path)) }

    @Test("the log never claims a record the vault lacks: the newest logged record cut off, once or after every append, is tampering")
    func logAheadIsACut() throws {
        let s = try Scratch()
        let (vault, _) = try s.patient()
        let owner = try vault.unlock(password: pw("patient-pw"))
        try vault.append(type: "dose", data: json("1"), session: owner)
        let beforeSecond = try Self.read(vault.path)
        try vault.append(type: "dose", data: json("2"), session: owner)
        // Only an attacker leaves this state: a frame is durable before its entry is written (the reviewer's attack:
        // cut the newest record after each append, so that the next one takes its number again).
        try Self.write(beforeSecond, vault.path)
        let reopened = try s.store.openVault(id: vault.vaultId)
        let session = try reopened.unlock(password: pw("patient-pw"))
        #expect(failureClass { _ = try reopened.verify(session) } == "tampered")
        #expect(failureClass { _ = try s.store.verifyAccessLog() } == "tampered")
        // The next append retakes the number; the log then holds it twice: still a cut.
        #expect(try reopened.append(type: "dose", data: json("\"2 again\""), session: session) == 2)
        #expect(failureClass { _ = try reopened.verify(session) } == "tampered")
        #expect(failureClass { _ = try s.store.verifyAccessLog() } == "tampered")
    }

    @Test("crash with the frame durable and the entry lost (vault ahead by one): verify passes, the next append is logged")
    func crashVaultAhead() throws {
        let s = try Scratch()
        let (vault, _) = try s.patient()
        let owner = try vault.unlock(password: pw("patient-pw"))
        try vault.append(type: "dose", data: json("1"), session: owner)
        let logBefore = try Self.read(s.store.auditLogPath)
        try vault.append(type: "dose", data: json("2"), session: owner)
        // The state a crash leaves when the vault's fdatasync finished and the log's batch did not.
        try Self.write(logBefore, s.store.auditLogPath)
        let reopened = try Store.open(at: s.dir).openVault(id: vault.vaultId)
        let session = try reopened.unlock(password: pw("patient-pw"))
        #expect(try reopened.verify(session).recordCount == 3)
        _ = try s.store.verifyAccessLog()
        #expect(try reopened.append(type: "dose", data: json("3"), session: session) == 3)
        _ = try s.store.verifyAccessLog()
    }

    @Test("any number logged twice for a vault is a cut, the last one included; the log ahead of the vault is a cut")
    func everyRetakeIsACut() {
        func entry(_ seq: UInt64, _ action: String, _ detail: String) -> AuditLog.Entry {
            AuditLog.Entry(seq: seq, time: "", vault: "00", actor: "patient", role: "patient", action: action, outcome: "ok",
                           detail: detail, prev: "", hash: "")
        }
        let base = [entry(0, "create-vault", ""), entry(1, "append", "seq 1 link aa at 0"), entry(2, "append", "seq 2 link bb at 0")]
        let retakeLast = LogClaims(base + [entry(3, "append", "seq 2 link cc at 0")])
        #expect(failureClass { try retakeLast.check(vaultId: [0], generation: 0, recordCount: 3, lastLink: [0xcc]) } == "tampered")
        let retakeOlder = LogClaims(base + [entry(3, "append", "seq 1 link cc at 0")])
        #expect(failureClass { try retakeOlder.check(vaultId: [0], generation: 0, recordCount: 2, lastLink: [0xcc]) } == "tampered")
        let ahead = LogClaims(base)
        #expect(failureClass { try ahead.check(vaultId: [0], generation: 0, recordCount: 2, lastLink: [0xaa]) } == "tampered")
        #expect(failureClass { try ahead.check(vaultId: [0], generation: 0, recordCount: 3, lastLink: [0xbb]) } == "ok")
    }

    @Test("the log entry failing: the record is taken back (not reported, not stored), the next append takes its number")
    func logFailureTakesTheRecordBack() throws {
        let s = try Scratch()
        let (vault, _) = try s.patient()
        let owner = try vault.unlock(password: pw("patient-pw"))
        let log = try s.store.auditLog()
        log.setBeforeBatchSync { _ in throw VaultError.io("fdatasync: injected failure") }
        #expect(failureClass { _ = try vault.append(type: "dose", data: json("\"lost\""), session: owner) } == "io")
        log.setBeforeBatchSync(nil)
        #expect(try vault.records(owner).count == 1)
        #expect(try vault.append(type: "dose", data: json("1"), session: owner) == 1)
        #expect(try vault.verify(owner).recordCount == 2)
        _ = try s.store.verifyAccessLog()
    }

    @Test("the frame's fdatasync failing: the record is taken back before anything is logged as done, verify passes")
    func frameSyncFailure() throws {
        let s = try Scratch()
        let (vault, _) = try s.patient()
        let owner = try vault.unlock(password: pw("patient-pw"))
        vault.frameSyncFault = { throw VaultError.io("fdatasync: injected failure") }
        #expect(failureClass { _ = try vault.append(type: "dose", data: json("\"lost\""), session: owner) } == "io")
        vault.frameSyncFault = nil
        let last = try s.store.auditLog().entries().last.map { "\($0.action) \($0.outcome)" }
        #expect(last == "append failed")
        #expect(try vault.records(owner).count == 1)
        _ = try s.store.verifyAccessLog()
        #expect(try vault.append(type: "dose", data: json("1"), session: owner) == 1)
        #expect(try vault.verify(owner).recordCount == 2)
        _ = try s.store.verifyAccessLog()
    }

    // MARK: batches on one vault

    @Test("an append batch: one frame sync for every record, numbered in order, each author signing its own; a revoked author fails alone")
    func batchOfAuthors() throws {
        let s = try Scratch()
        let (vault, _) = try s.patient()
        let owner = try vault.unlock(password: pw("patient-pw"))
        let nursePublic = try s.store.createSupporter(email: "nurse@example.jp", name: "Nurse", password: pw("nurse-pw"))
        let formerPublic = try s.store.createSupporter(email: "former@example.jp", name: "Former", password: pw("former-pw"))
        let nurse = try s.store.unlockSupporter(email: "nurse@example.jp", password: pw("nurse-pw"))
        let former = try s.store.unlockSupporter(email: "former@example.jp", password: pw("former-pw"))
        try vault.grant(nursePublic, session: owner)
        try vault.grant(formerPublic, session: owner)
        let nurseSession = try vault.unlock(supporter: nurse), formerSession = try vault.unlock(supporter: former)
        try vault.revoke(former.id, session: owner)
        let syncs = Shared(0)
        vault.frameSyncFault = { syncs.update { $0 += 1 } }
        let t: Int64 = 1_750_000_000_000
        let results = vault.append(batch: [
            Vault.PendingAppend(type: "dose", data: json("1"), timeMillis: t, session: owner),
            Vault.PendingAppend(type: "message", data: json("2"), timeMillis: t + 1, session: formerSession),
            Vault.PendingAppend(type: "message", data: json("3"), timeMillis: t + 2, session: nurseSession),
            Vault.PendingAppend(type: "mikata.contact", data: json("4"), timeMillis: t + 3, session: owner),
            Vault.PendingAppend(type: "dose", data: json("5"), timeMillis: t + 4, session: owner),
        ])
        #expect(syncs.current == 1)
        let outcomes = results.map { r -> String in
            switch r {
            case .success(let seq): return "\(seq)"
            case .failure(let e): return (e as? VaultError)?.failureClass ?? "\(e)"
            }
        }
        #expect(outcomes == ["1", "not-permitted", "2", "invalid-input", "3"])
        let records = try vault.records(owner)
        #expect(records.map(\.seq) == [0, 1, 2, 3])
        #expect(records.dropFirst().map { String(decoding: $0.data, as: UTF8.self) } == ["1", "3", "5"])
        #expect(records[2].author == RecordAuthor(role: "supporter", id: nurse.id))
        #expect(try vault.verify(owner).recordCount == 4)
        let appends = try s.store.auditLog().entries().filter { $0.action == "append" }.suffix(5).map { "\($0.actor.prefix(9)) \($0.outcome)" }
        #expect(appends == ["patient failed", "supporter denied", "patient ok", "supporter ok", "patient ok"])
        _ = try s.store.verifyAccessLog()
    }

    @Test("a batch announces its numbers first: records a crash leaves without entries are ones the log named; the same records without the announcement are dropped entries")
    func batchIntent() throws {
        let s = try Scratch()
        let (vault, _) = try s.patient()
        let owner = try vault.unlock(password: pw("patient-pw"))
        try vault.append(type: "dose", data: json("0"), session: owner)
        let before = try Self.read(s.store.auditLogPath)
        let results = vault.append(batch: (1...5).map { Vault.PendingAppend(type: "dose", data: json("\($0)"), session: owner) })
        #expect(results.compactMap { try? $0.get() } == [2, 3, 4, 5, 6])
        let full = try Self.read(s.store.auditLogPath)
        _ = try s.store.verifyAccessLog()
        // The log as a crash after the frames' sync and before their entries leaves it: up to the intent.
        let lines = full.split(separator: 10, omittingEmptySubsequences: false)
        let intent = try #require(lines.firstIndex { String(decoding: $0, as: UTF8.self).contains(#""action":"append-intent""#) })
        #expect(String(decoding: lines[intent], as: UTF8.self).contains("seq 2 to 6"))
        try Self.write(Array(lines[...intent].joined(separator: [10])) + [10], s.store.auditLogPath)
        #expect(failureClass { _ = try s.store.verifyAccessLog() } == "ok")
        // Without the intent, five unlogged records are entries dropped.
        try Self.write(before, s.store.auditLogPath)
        #expect(failureClass { _ = try s.store.verifyAccessLog() } == "tampered")
        try Self.write(full, s.store.auditLogPath)
        // A single append makes no announcement: the allowance stays one record.
        #expect(try vault.append(type: "dose", data: json("7"), session: owner) == 7)
        #expect(try s.store.auditLog().entries().filter { $0.action == "append-intent" }.count == 1)
    }

    @Test("an announcement vouches for its own frames only: after a failed batch, records appended one by one under the same numbers and then cut from the log are dropped entries")
    func staleIntent() throws {
        let s = try Scratch()
        let (vault, _) = try s.patient()
        let owner = try vault.unlock(password: pw("patient-pw"))
        vault.frameSyncFault = { throw VaultError.io("fdatasync: injected failure") }
        let failed = vault.append(batch: (1...5).map { Vault.PendingAppend(type: "dose", data: json("\($0)"), session: owner) })
        #expect(failed.allSatisfy { if case .failure = $0 { return true } else { return false } })
        vault.frameSyncFault = nil
        #expect(try s.store.auditLog().entries().filter { $0.action == "append-intent" }.count == 1)  // 1 to 5, frames taken back
        #expect(try vault.append(type: "dose", data: json("1"), session: owner) == 1)
        let afterOne = try Self.read(s.store.auditLogPath)
        for i in 2...5 { #expect(try vault.append(type: "dose", data: json("\(i)"), session: owner) == UInt64(i)) }
        _ = try s.store.verifyAccessLog()
        // Records 2 to 5 are numbers the failed batch announced, but not its frames.
        try Self.write(afterOne, s.store.auditLogPath)
        let (cls, text) = TrustAnchorTests.message { _ = try s.store.verifyAccessLog() }
        #expect(cls == "tampered" && text.contains("dropped"), "\(cls): \(text)")
    }

    @Test("an append batch whose frame sync fails: every record is taken back and none is logged as done")
    func batchSyncFailure() throws {
        let s = try Scratch()
        let (vault, _) = try s.patient()
        let owner = try vault.unlock(password: pw("patient-pw"))
        vault.frameSyncFault = { throw VaultError.io("fdatasync: injected failure") }
        let results = vault.append(batch: (1...4).map { Vault.PendingAppend(type: "dose", data: json("\($0)"), timeMillis: 1_750_000_000_000, session: owner) })
        #expect(results.allSatisfy { if case .failure(let e) = $0 { return (e as? VaultError)?.failureClass == "io" } else { return false } })
        vault.frameSyncFault = nil
        #expect(try s.store.auditLog().entries().filter { $0.action == "append" && $0.outcome == "ok" }.isEmpty)
        #expect(try vault.records(owner).count == 1)
        #expect(try vault.append(type: "dose", data: json("1"), session: owner) == 1)
        _ = try s.store.verifyAccessLog()
    }

    // MARK: processes

    @Test("two processes appending to two vaults at once (flock between them, group commit within): one valid chain")
    func twoProcesses() throws {
        let s = try Scratch()
        _ = try s.patient("a@example.jp")
        _ = try s.patient("b@example.jp")
        let pwFile = s.dir + "/pw"
        try Data("patient-pw\n".utf8).write(to: URL(fileURLWithPath: pwFile))
        let binary = try #require(CLIBinary.path)
        let before = try s.store.auditLog().entries().count
        let script = """
            for who in a b; do
              ( for i in 1 2 3 4 5 6; do
                  "$0" record add --store "$1" --email "$who@example.jp" --type dose --data "{\\"n\\":$i}" --password-file "$2" >/dev/null || exit 1
                done ) &
              pids="$pids $!"
            done
            for p in $pids; do wait $p || exit 1; done
            """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["-c", script, binary, s.dir, pwFile]
        let err = Pipe()
        p.standardError = err
        try p.run()
        p.waitUntilExit()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(p.terminationStatus == 0, "stderr: \(stderr)")
        let log = try s.store.auditLog()
        _ = try log.verify()
        let entries = try log.entries()
        #expect(entries.map(\.seq) == Array(0..<UInt64(entries.count)))
        #expect(entries.dropFirst(before).filter { $0.action == "append" && $0.outcome == "ok" }.count == 12)
        _ = try s.store.verifyAccessLog()
    }
}
