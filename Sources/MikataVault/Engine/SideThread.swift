import Dispatch
import Foundation
import Synchronization

/// Runs one blocking call on a parked helper thread while the caller does another, e.g. a vault's fdatasync beside
/// its access-log entry (docs/RELIABILITY.md, "I/O errors"). Threads are made on demand, parked when idle and kept:
/// there are never more than the calls that ran at the same time. Blocking primitives only: callers are threads of
/// a pool (the service layer's), never the cooperative pool.
enum SideThread {
    /// A call started on a helper thread; `wait()` returns when it is done, rethrowing its error.
    final class Call: Sendable {
        fileprivate let work: @Sendable () throws -> Void
        fileprivate let outcome = Mutex<(any Error)?>(nil)
        fileprivate let done = DispatchSemaphore(value: 0)

        fileprivate init(_ work: @escaping @Sendable () throws -> Void) { self.work = work }

        func wait() throws {
            done.wait()
            if let e = outcome.withLock({ $0 }) { throw e }
        }
    }

    private final class Worker: Sendable {
        let wake = DispatchSemaphore(value: 0)
        let call = Mutex<Call?>(nil)

        func loop() {
            while true {
                wake.wait()
                guard let c = call.withLock({ v in let c = v; v = nil; return c }) else { continue }
                do { try c.work() } catch { c.outcome.withLock { $0 = error } }
                SideThread.idle.withLock { $0.append(self) }  // parked before the caller is told: reusable at once
                c.done.signal()
            }
        }
    }

    private static let idle = Mutex<[Worker]>([])

    /// Starts `work` on an idle helper thread (a new one if none is idle).
    static func start(_ work: @escaping @Sendable () throws -> Void) -> Call {
        let c = Call(work)
        let worker: Worker
        if let w = idle.withLock({ $0.popLast() }) {
            worker = w
        } else {
            worker = Worker()
            let thread = Thread { worker.loop() }
            thread.name = "mikata-side"
            thread.start()
        }
        worker.call.withLock { $0 = c }
        worker.wake.signal()
        return c
    }
}
