internal import CSodium
#if canImport(Glibc)
import Glibc
#endif

/// What a process that holds secrets does first: no core dumps (they would hold keys and records), no ptrace attach
/// or `/proc/PID/mem` read by other processes of the same user, and private files. The CLI calls it at start; a
/// server calls it before it reads its first key.
package enum ProcessHardening {
    /// Applies every measure; returns false if the kernel refused one (the caller may log it, nothing else depends on it).
    @discardableResult
    package static func apply() -> Bool {
        var ok = true
        var none = rlimit(rlim_cur: 0, rlim_max: 0)
        if setrlimit(Int32(RLIMIT_CORE.rawValue), &none) != 0 { ok = false }
        // PR_SET_DUMPABLE 0 also makes /proc/PID/{mem,environ,fd} unreadable to same-user processes without CAP_SYS_PTRACE.
        if mikata_set_not_dumpable() != 0 { ok = false }
        umask(0o077)
        return ok
    }

    /// The kernel's dumpable flag for this process (`PR_GET_DUMPABLE`): 1 for an ordinary process, 0 once `apply()` ran.
    package static var dumpable: Int { Int(mikata_get_dumpable()) }
}
