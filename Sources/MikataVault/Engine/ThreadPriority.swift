import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Threads at the lowest CPU priority: the service's password checks (Argon2id), so a flood of logins yields the
/// CPU to the reads and writes of people already signed in. Linux schedules each thread by its own nice value;
/// nice 19 is the lowest. Measured during the bench's login floods (docs/BENCHMARKS.md, "HTTP service"), the kernel
/// still gives such a thread about 0.3 of 2 cores while every other thread wants the CPU, and all of a core when
/// nothing else runs.
///
/// A lowered thread must not hold what normal threads wait for: the access log's group commit hands such a
/// thread's turn to lead a batch to a waiting normal thread (`AuditLog.append`), so writers do not queue behind a
/// thread the scheduler seldom runs (priority inversion).
package enum ThreadPriority {
    static let key = "mikata.lowPriority"

    /// Lowers the calling thread to nice 19, once, and marks it (`isCurrentLowered`). An unprivileged thread cannot
    /// raise its priority again: call it only on threads that keep this role (a pool's own threads).
    package static func lowerCurrentThread() {
        let dictionary = Thread.current.threadDictionary
        guard dictionary[key] == nil else { return }
        dictionary[key] = true
        #if os(Linux)
        guard let tid = currentThreadId() else { return }
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), tid, 19)
        #endif
    }

    /// Whether the calling thread was lowered by `lowerCurrentThread`.
    package static var isCurrentLowered: Bool { Thread.current.threadDictionary[key] != nil }

    /// The calling thread's nice value (tests).
    package static func currentNice() -> Int32 {
        #if os(Linux)
        guard let tid = currentThreadId() else { return 0 }
        return getpriority(__priority_which_t(PRIO_PROCESS.rawValue), tid)
        #else
        return 0
        #endif
    }

    #if os(Linux)
    /// The calling thread's id, from /proc/thread-self ("PID/task/TID"): Glibc's overlay has no gettid().
    private static func currentThreadId() -> id_t? {
        guard let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/thread-self") else { return nil }
        return link.split(separator: "/").last.flatMap { id_t($0) }
    }
    #endif
}
