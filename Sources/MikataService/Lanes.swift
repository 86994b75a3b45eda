import Foundation
#if canImport(Glibc)
import Glibc
#endif
import MikataFormat
import MikataVault
import NIOPosix
import Synchronization

/// Where the service runs the engine's blocking calls (file I/O, fdatasync, flock waits, Argon2id): a dedicated
/// `NIOThreadPool`, never Swift's cooperative pool, whose few threads must stay free for the tasks that await.
final class BlockingPool: Sendable {
    private let pool: NIOThreadPool
    /// Whether its threads run at the lowest CPU priority (password checks: see `VaultService.passwordPool`).
    private let lowPriority: Bool

    /// For work that belongs to no store (verifying or restoring a backup file): NIO's process-wide pool.
    static let shared = BlockingPool(NIOThreadPool.singleton)

    private init(_ pool: NIOThreadPool) { self.pool = pool; lowPriority = false }

    /// Starts `threads` threads. Durable writes wait on the disk, so more threads than cores let concurrent writes
    /// share the access log's group commit instead of queueing behind each other. `lowPriority`: each thread lowers
    /// its own scheduling priority to nice 19 (setpriority(2) on the thread's id) before its first work.
    init(threads: Int, lowPriority: Bool = false) {
        pool = NIOThreadPool(numberOfThreads: max(1, threads))
        self.lowPriority = lowPriority
        pool.start()
    }

    /// Runs `body` on a pool thread and returns its result; errors become `MikataError`.
    /// - Throws: `MikataError` (`.closed` once the service was shut down).
    func run<R: Sendable>(_ body: @escaping @Sendable () throws -> R) async throws -> R {
        let lower = lowPriority
        do {
            return try await pool.runIfActive {
                if lower { ThreadPriority.lowerCurrentThread() }
                return try body()
            }
        } catch {
            if error is NIOThreadPoolError.ThreadPoolInactive { throw MikataError(.closed, "the vault service was shut down") }
            // A stopped pool answers new work with CancellationError too (NIO's async `runIfActive`); a caller whose
            // own task was cancelled gets the same error, and for it nothing ran either.
            if error is CancellationError { throw MikataError(.closed, Task.isCancelled ? "the operation was cancelled before it ran" : "the vault service was shut down") }
            throw MikataError.from(error)
        }
    }

    func shutdown() async throws { try await pool.shutdownGracefully() }
}

/// One lane per vault: operations on the same vault run one at a time in this process, in arrival order, while
/// operations on different vaults run in parallel. (Processes coordinate through the vault file's flock, as before.)
/// A task waiting for its lane suspends; it holds no thread.
final class VaultLanes: Sendable {
    private struct Lane {
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let lanes = Mutex<[String: Lane]>([:])

    private func acquire(_ key: String) async {
        let free: Bool = lanes.withLock { table in
            if table[key] == nil { table[key] = Lane(); return true }
            return false
        }
        if free { return }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let freeNow: Bool = lanes.withLock { table in
                if table[key] == nil { table[key] = Lane(); return true }  // released in between
                table[key]!.waiters.append(c)
                return false
            }
            if freeNow { c.resume() }
        }
    }

    private func release(_ key: String) {
        let next: CheckedContinuation<Void, Never>? = lanes.withLock { table in
            guard var lane = table[key] else { return nil }
            if lane.waiters.isEmpty { table[key] = nil; return nil }
            let first = lane.waiters.removeFirst()  // the lane passes straight to the next waiter
            table[key] = lane
            return first
        }
        next?.resume()
    }

    /// Runs `body` holding the lane of `key` (a vault id in hex).
    func run<R: Sendable>(_ key: String, _ body: () async throws -> R) async throws -> R {
        await acquire(key)
        defer { release(key) }
        return try await body()
    }
}

/// Appends waiting for their vault's lane (flat combining, docs/ARCHITECTURE.md "Appends on one vault"): the caller
/// that gets the lane writes every append queued for the vault by then, up to `Vault.maxAppendBatch`, as one batch
/// (`Vault.append(batch:)`: an `append-intent` entry, one write and one fdatasync of the vault, one access-log group
/// commit) and answers each;
/// a caller whose append was written by another finds its answer when its own lane turn comes and does no I/O.
/// Appends from many tasks to one vault thus share their syncs instead of queueing one fdatasync pair each.
final class AppendQueue: Sendable {
    /// One caller's append.
    final class Request: Sendable {
        /// Runs in the lane, on a pool thread: the caller's own checks and session, giving the record to write.
        let prepare: @Sendable (Vault) throws -> Vault.PendingAppend
        /// Runs after the record is durable and logged, with its sequence number (notice bookkeeping).
        let after: @Sendable (Vault, UInt64) -> Void
        /// The record data's size, for the batch's byte bound.
        let bytes: Int
        private let outcome = Mutex<Result<UInt64, MikataError>?>(nil)

        init(bytes: Int, prepare: @escaping @Sendable (Vault) throws -> Vault.PendingAppend, after: @escaping @Sendable (Vault, UInt64) -> Void) {
            self.bytes = bytes; self.prepare = prepare; self.after = after
        }

        func finish(_ result: Result<UInt64, any Error>) {
            outcome.withLock { if $0 == nil { $0 = result.mapError { MikataError.from($0) } } }
        }
        var result: Result<UInt64, MikataError>? { outcome.withLock { $0 } }
    }

    private let pending = Mutex<[String: [Request]]>([:])

    /// Queues `request` for the vault with hex id `key` (before the caller waits for the lane).
    func enqueue(_ key: String, _ request: Request) {
        pending.withLock { $0[key, default: []].append(request) }
    }

    /// How many appends wait for `key` now (tests).
    func count(_ key: String) -> Int { pending.withLock { $0[key]?.count ?? 0 } }

    /// The record data a batch holds at most (beyond its first append): a batch's frames are written from one buffer.
    static let batchBytes = 4 << 20

    /// The oldest appends queued for `key`, at most `limit` of them and `batchBytes` of data (at least one), removed
    /// from the queue.
    func take(_ key: String, limit: Int) -> [Request] {
        pending.withLock { table in
            guard var queue = table[key] else { return [] }
            var count = 0, bytes = 0
            while count < min(limit, queue.count), count == 0 || bytes + queue[count].bytes <= Self.batchBytes {
                bytes += queue[count].bytes
                count += 1
            }
            let batch = Array(queue.prefix(count))
            queue.removeFirst(batch.count)
            table[key] = queue.isEmpty ? nil : queue
            return batch
        }
    }
}

/// Open vault handles kept between operations, so a vault's frame index (where its pages start) and header survive
/// from one page to the next instead of being rebuilt by walking the file from record 0 for every page.
/// A handle is only used inside its vault's lane, one operation at a time, and a `Vault` handle re-checks its file
/// at every lock (replaced file, new header generation, erasure secret re-read after a rewrite), so a kept handle
/// sees other processes' changes as a fresh one would. At most `capacity` are kept (each holds a descriptor), the
/// least recently used dropped first; a handle whose operation failed is dropped, unless the failure was the caller's
/// (refused, wrong credential, bad input).
final class VaultHandles: @unchecked Sendable {
    // @unchecked: `entries` is behind `lock`; the `Vault` objects are used only inside their vault's lane.
    private let lock = NSLock()
    private var entries: [String: (vault: Vault, lastUse: UInt64)] = [:]
    private var clock: UInt64 = 0
    let capacity: Int

    init(capacity: Int) { self.capacity = max(1, capacity) }

    /// The kept handle of vault `id`, or a newly opened one (kept). A vault with an interrupted shred is never
    /// served from the cache.
    /// - Throws: what `Store.openVault(id:)` throws.
    func open(_ id: [UInt8], _ store: Store) throws -> Vault {
        let key = id.hex
        if store.isShredPending(id) { drop(key); return try store.openVault(id: id) }
        if let v = lock.withLock({ () -> Vault? in
            guard let e = entries[key] else { return nil }
            clock += 1
            entries[key] = (e.vault, clock)
            return e.vault
        }) { return v }
        let vault = try store.openVault(id: id)
        lock.withLock {
            if entries.count >= capacity, let oldest = entries.min(by: { $0.value.lastUse < $1.value.lastUse })?.key {
                entries[oldest] = nil
            }
            clock += 1
            entries[key] = (vault, clock)
        }
        return vault
    }

    /// Forgets the handle of the vault with this hex id.
    func drop(_ key: String) { lock.withLock { entries[key] = nil } }

    /// Handles kept now (for tests).
    var count: Int { lock.withLock { entries.count } }
}
