import Foundation
import MikataCrypto
import MikataFormat
import MikataVault
@_spi(Testing) import MikataService

/// Issue 8 §4: appends from many threads at once (the access log's group commit), and one durable append (its frame
/// durable first, then its log entry in the next group commit; docs/SECURITY.md says why not both at once). Each figure alternates rounds of the library and of its raw baseline.
extension BenchRun {
    /// Hands a non-Sendable bench object to the one thread that uses it.
    final class Handed<Value>: @unchecked Sendable {
        let value: Value
        init(_ value: Value) { self.value = value }
    }

    /// Runs `body(i)` on `n` threads released together; returns the wall time from the release to the last one's end
    /// and the first error thrown, if any.
    static func wallTime(threads n: Int, _ body: @escaping @Sendable (Int) throws -> Void) -> (seconds: Double, error: (any Error)?) {
        let ready = DispatchSemaphore(value: 0), go = DispatchSemaphore(value: 0), done = DispatchSemaphore(value: 0)
        let firstError = FirstError()
        for i in 0..<n {
            Thread {
                ready.signal()
                go.wait()
                do { try body(i) } catch { firstError.keep(error) }
                done.signal()
            }.start()
        }
        for _ in 0..<n { ready.wait() }
        let t0 = monotonicSeconds()
        for _ in 0..<n { go.signal() }
        for _ in 0..<n { done.wait() }
        return (monotonicSeconds() - t0, firstError.error)
    }

    final class FirstError: @unchecked Sendable {
        private let lock = NSLock()
        private var first: (any Error)?
        func keep(_ e: any Error) { lock.lock(); if first == nil { first = e }; lock.unlock() }
        var error: (any Error)? { lock.lock(); defer { lock.unlock() }; return first }
    }

    func concurrencyFigure(_ store: Store) throws {
        let threads = 32
        let perThread = options.quick ? 5 : 25
        let rounds = options.quick ? 2 : 5
        progress("concurrency: \(threads) vaults, \(rounds) rounds of \(threads) threads × \(perThread) appends, against raw pwrite + fdatasync")
        let data = jsonBlob(200)
        var vaults: [(Vault, VaultSession)] = []
        for i in 0..<threads {
            let email = "concurrent-\(i)@bench.invalid"
            _ = try store.createPatient(email: email, nickname: "bench \(i)", password: password)
            let vault = try store.openVault(email: email)
            vaults.append((vault, try vault.unlock(password: password)))
        }
        // A frame's and a log entry's size, from appends (the smallest log growth of three: every 64th entry also
        // brings a signed checkpoint line).
        let logPath = "\(store.root)/audit/log.jsonl"
        var frameLength = 0, entryLength = Int.max
        for _ in 0..<3 {
            let before = try fileSize(vaults[0].0.path), logBefore = try fileSize(logPath)
            try vaults[0].0.append(type: "dose", data: data, session: vaults[0].1)
            frameLength = try fileSize(vaults[0].0.path) - before
            entryLength = min(entryLength, try fileSize(logPath) - logBefore)
        }
        let frame = Random.bytes(frameLength), entry = Random.bytes(entryLength)
        let dir = parentDirectory(of: vaults[0].0.path)
        let raws = try (0..<threads).map { Handed(try RawAppendFile(path: "\(dir)/bench-raw-concurrent-\($0).bin")) }
        // The ordered design's ceiling: each frame durable in its own file, then its entry in a shared file whose
        // writers share one pwrite + fdatasync (group commit), with no other work.
        let rawLog = try RawGroupCommitFile(path: "\(dir)/bench-raw-group-commit.bin")
        let shared = Handed(vaults)
        // (d) The same 32 appenders on one vault as tasks of one `VaultService` (a store opened a second time, as a
        // service process would): its per-vault queue writes the appends waiting for the lane as one batch.
        let serviceEmail = "concurrent-service@bench.invalid"
        _ = try store.createPatient(email: serviceEmail, nickname: "bench service", password: password)
        var configuration = VaultServiceConfiguration()
        configuration.passwordCost = .minimumForTesting
        let config = configuration, root = store.root, secret = Secret(copying: password.unsafeCopyToArray())
        let service = try blockingAwait { try await VaultService.open(storePath: root, configuration: config) }
        defer { blockingShutdown(service) }
        let servicePatient = try blockingAwait { try await service.unlockPatient(email: serviceEmail, password: secret) }
        let tasksTotal = threads * perThread
        func serviceRound() throws -> Double {
            try blockingAwait {
                let t0 = monotonicSeconds()
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<threads {
                        group.addTask { for _ in 0..<perThread { _ = try await service.append(servicePatient, type: "dose", data: data) } }
                    }
                    try await group.waitForAll()
                }
                return Double(tasksTotal) / (monotonicSeconds() - t0)
            }
        }
        let commitsBefore = service.accessLogGroupCommits
        _ = try serviceRound()  // warm-up: handle opened, pool threads started

        // (a) 32 threads, each on its own vault; (b) 32 threads on one vault, serialized by a lock as the service
        // layer will; each against its raw baseline: 32 threads on 32 files, or one thread on one file.
        let oneVault = NSLock()
        var many = Samples(), manyRaw = Samples(), one = Samples(), oneRaw = Samples(), manyBare = Samples(), oneService = Samples()
        var manyOrdered = Samples()
        func rate(_ r: (seconds: Double, error: (any Error)?), _ count: Int) throws -> Double {
            if let e = r.error { throw e }
            return Double(count) / r.seconds
        }
        for _ in 0..<rounds {
            many.add(try rate(Self.wallTime(threads: threads) { i in
                let (vault, session) = shared.value[i]
                for _ in 0..<perThread { try vault.append(type: "dose", data: data, session: session) }
            }, threads * perThread))
            for (vault, _) in vaults { vault.audit = nil }
            manyBare.add(try rate(Self.wallTime(threads: threads) { i in
                let (vault, session) = shared.value[i]
                for _ in 0..<perThread { try vault.append(type: "dose", data: data, session: session) }
            }, threads * perThread))
            for (vault, _) in vaults { vault.audit = try store.auditLog() }
            manyRaw.add(try rate(Self.wallTime(threads: threads) { i in
                for _ in 0..<perThread { try raws[i].value.appendDurably(frame) }
            }, threads * perThread))
            manyOrdered.add(try rate(Self.wallTime(threads: threads) { i in
                for _ in 0..<perThread {
                    try raws[i].value.appendDurably(frame)
                    try rawLog.appendDurably(entry)
                }
            }, threads * perThread))
            one.add(try rate(Self.wallTime(threads: threads) { _ in
                let (vault, session) = shared.value[0]
                for _ in 0..<perThread {
                    oneVault.lock()
                    defer { oneVault.unlock() }
                    try vault.append(type: "dose", data: data, session: session)
                }
            }, threads * perThread))
            oneRaw.add(try rate(Self.wallTime(threads: 1) { _ in
                for _ in 0..<(threads * perThread) { try raws[0].value.appendDurably(frame) }
            }, threads * perThread))
            oneService.add(try serviceRound())
        }
        let commitsAfter = service.accessLogGroupCommits
        let rawBatches = rawLog.batches
        let serviceAppends = Double(tasksTotal * (rounds + 1))
        let logBatches = Double(commitsAfter.batches - commitsBefore.batches)
        func perSecond(_ v: Double) -> String { String(format: "%.0f appends/s", v) }
        let samples = "\(rounds) rounds × \(threads * perThread) appends, each"
        report.goals.append(Row(
            figure: "\(threads) threads appending 200 B records to \(threads) different vaults (one store, access log included), appends/s",
            measured: perSecond(many.median), baseline: "\(perSecond(manyRaw.median)) for \(threads) threads raw pwrite \(frameLength) B + fdatasync on \(threads) files",
            ratio: ratio(many.median / manyRaw.median), goal: "≥ 0.7×", pass: many.median / manyRaw.median >= 0.7, samples: samples))
        report.info.append(Row(
            figure: "Same, against the ordered design's raw ceiling: each thread's frame durable in its own file, then a \(entryLength) B entry in one shared file by group commit (pwrite + fdatasync per batch, nothing else), appends/s",
            measured: perSecond(many.median), baseline: "\(perSecond(manyOrdered.median)) raw ordered (frame, then group-committed entry; \(String(format: "%.1f", Double(rawBatches.callers) / Double(max(1, rawBatches.count)))) entries per batch); \(perSecond(manyRaw.median)) frames alone",
            ratio: "\(ratio(many.median / manyOrdered.median)) of it; it is \(ratio(manyOrdered.median / manyRaw.median)) of the frames alone",
            goal: "", pass: nil, samples: samples))
        report.info.append(Row(
            figure: "\(threads) threads appending 200 B records to \(threads) different vaults with the access log detached (`vault.audit = nil`: the vault layer alone), appends/s",
            measured: perSecond(manyBare.median), baseline: "\(perSecond(manyRaw.median)) raw, as above",
            ratio: ratio(manyBare.median / manyRaw.median), goal: "", pass: nil, samples: samples))
        report.goals.append(Row(
            figure: "\(threads) tasks appending 200 B records to ONE vault through `VaultService` (per-vault queue: appends that wait for the vault's lane are written as one batch: an intent entry, one fdatasync of the vault, one log group commit), appends/s",
            measured: perSecond(oneService.median), baseline: "\(perSecond(oneRaw.median)) raw pwrite \(frameLength) B + fdatasync on one file, serial",
            ratio: ratio(oneService.median / oneRaw.median), goal: "≥ 1×", pass: oneService.median / oneRaw.median >= 1, samples: samples))
        report.info.append(Row(
            figure: "Same, appends per vault batch (mean, from the access log's group commits: each batch of two or more is two log writes and fdatasyncs, its intent and its entries)",
            measured: String(format: "%.1f appends per log commit", serviceAppends / max(1, logBatches)), baseline: "\(Int(logBatches)) log commits for \(Int(serviceAppends)) appends (warm-up round included)",
            ratio: "", goal: "", pass: nil, samples: samples))
        report.info.append(Row(
            figure: "\(threads) threads appending 200 B records to ONE vault, one append per turn of a lock (the engine alone: no queue, every append its own two fdatasyncs), appends/s",
            measured: perSecond(one.median), baseline: "\(perSecond(oneRaw.median)) raw pwrite \(frameLength) B + fdatasync on one file, serial",
            ratio: ratio(one.median / oneRaw.median), goal: "", pass: nil, samples: samples))

        // (c) One durable append at a time: its frame's fdatasync, then its log entry's (group commit).
        let n = options.quick ? 100 : 1000, block = 10
        let (vault, session) = vaults[1]
        let (bare, bareSession) = vaults[2]
        bare.audit = nil
        let accessLog = try store.auditLog()
        let event = AuditLog.Event(vaultId: vault.vaultId, actor: "bench", role: "patient", action: "bench", outcome: "ok", detail: "seq 0")
        let series: [() throws -> Void] = [
            { try vault.append(type: "dose", data: data, session: session) },
            { try raws[1].value.appendDurably(frame) },
            { try bare.append(type: "dose", data: data, session: bareSession) },
            { try accessLog.append(event) },
            { try raws[2].value.appendDurably(frame); try rawLog.appendDurably(entry) },
        ]
        for _ in 0..<20 { for op in series { try op() } }
        var single = [Samples](repeating: Samples(), count: series.count)
        for b in 0..<(n / block) {
            for k in 0..<series.count {
                let i = (b + k) % series.count
                for _ in 0..<block { single[i].add(try timed(series[i]).seconds) }
            }
        }
        let (lib, raw, libBare, logOnly, ordered) = (single[0], single[1], single[2], single[3], single[4])
        let rawLabel = "raw pwrite \(frameLength) B + fdatasync"
        report.goals.append(Row(
            figure: "Single durable append, 200 B record, frame synced, then its log entry (group commit), **median**",
            measured: us(lib.median), baseline: "\(us(raw.median)) \(rawLabel)",
            ratio: ratio(lib.median / raw.median), goal: "≤ 1.5×", pass: lib.median / raw.median <= 1.5, samples: "\(lib.count) + \(raw.count)"))
        report.goals.append(Row(
            figure: "Single durable append, same, **p99**",
            measured: us(lib.percentile(99)), baseline: "\(us(raw.percentile(99))) \(rawLabel)",
            ratio: ratio(lib.percentile(99) / raw.percentile(99)), goal: "≤ 1.5×", pass: lib.percentile(99) / raw.percentile(99) <= 1.5,
            samples: "\(lib.count) + \(raw.count)"))
        report.info.append(Row(
            figure: "Single durable append, parts: the vault layer alone (log detached) / one access-log entry alone, median",
            measured: "\(us(libBare.median)) / \(us(logOnly.median))", baseline: "\(us(raw.median)) \(rawLabel)",
            ratio: "\(ratio(libBare.median / raw.median)) / \(ratio(logOnly.median / raw.median))", goal: "", pass: nil,
            samples: "\(libBare.count) + \(logOnly.count)"))
        report.info.append(Row(
            figure: "Single durable append against the ordered design's raw ceiling: \(rawLabel), then \(entryLength) B + fdatasync on a second file, median / p99",
            measured: "\(us(lib.median)) / \(us(lib.percentile(99)))", baseline: "\(us(ordered.median)) / \(us(ordered.percentile(99))) raw ordered",
            ratio: "\(ratio(lib.median / ordered.median)) / \(ratio(lib.percentile(99) / ordered.percentile(99))) of it; it is \(ratio(ordered.median / raw.median)) / \(ratio(ordered.percentile(99) / raw.percentile(99))) of one raw write",
            goal: "", pass: nil, samples: "\(lib.count) + \(ordered.count)"))
        report.notes.append("Concurrency: \(threads) patient vaults in one store, each opened by `Store.openVault` (one shared access log, "
            + "group commit) and unlocked once. Each round releases \(threads) threads together and times until the last finishes "
            + "\(perThread) appends of 200 B (\(frameLength) B frames); the medians of \(rounds) rounds are compared. The one-vault goal "
            + "row runs \(threads) tasks on one `VaultService` (the same store opened a second time, minimum-cost Argon2id for its one "
            + "unlock), each awaiting `append(_:type:data:)` \(perThread) times on one patient's vault: appends that arrive while the "
            + "vault's lane is busy wait in its queue, and the next holder writes up to \(Vault.maxAppendBatch) of them as one batch "
            + "(`Vault.append(batch:)`); a warm-up round comes first. The informative one-vault row takes an NSLock around each append "
            + "of the engine (one append per turn); both compare with one thread appending "
            + "the same number of frame-sized writes to one file. Rounds of the library and of the baselines alternate. The single "
            + "append figure rotates blocks of \(block) of five series (store handle, raw frame, detached handle, log entry alone, raw frame "
            + "then raw entry), after 20 warm-up operations of each. The raw ordered ceiling (both figures) writes a frame-sized block "
            + "to the thread's own file with pwrite + fdatasync and then a log-entry-sized block (\(entryLength) B, the size of one "
            + "access-log line) to one shared file through `RawGroupCommitFile`: callers that arrive while a batch is written "
            + "wait, and the next leader writes all of theirs with one pwrite and one fdatasync. It is what the ordering costs on "
            + "this disk with no lock, no hashing, no signature and no JSON.")
    }
}
