import NIOPosix
import Synchronization

/// Where the service runs the engine's blocking calls (file I/O, fdatasync, flock waits, Argon2id): a dedicated
/// `NIOThreadPool`, never Swift's cooperative pool, whose few threads must stay free for the tasks that await.
final class BlockingPool: Sendable {
    private let pool: NIOThreadPool

    /// For work that belongs to no store (verifying or restoring a backup file): NIO's process-wide pool.
    static let shared = BlockingPool(NIOThreadPool.singleton)

    private init(_ pool: NIOThreadPool) { self.pool = pool }

    /// Starts `threads` threads. Durable writes wait on the disk, so more threads than cores let concurrent writes
    /// share the access log's group commit instead of queueing behind each other.
    init(threads: Int) {
        pool = NIOThreadPool(numberOfThreads: max(1, threads))
        pool.start()
    }

    /// Runs `body` on a pool thread and returns its result; errors become `MikataError`.
    /// - Throws: `MikataError` (`.closed` once the service was shut down).
    func run<R: Sendable>(_ body: @escaping @Sendable () throws -> R) async throws -> R {
        do { return try await pool.runIfActive(body) } catch {
            if error is NIOThreadPoolError.ThreadPoolInactive { throw MikataError(.closed, "the vault service was shut down") }
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

    /// Lanes currently held (for tests and metrics).
    var busyLanes: Int { lanes.withLock { $0.count } }

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
