#if canImport(Glibc)
import Glibc
#endif

/// Named points where crash tests kill the process (SIGKILL, no clean-up), as SQLite's crash tests do.
/// `MIKATA_CRASH_AT=<name>` in the environment arms one point; unset (always, outside tests) it does nothing.
enum CrashPoint {
    private static let armed: String? = {
        guard let p = getenv("MIKATA_CRASH_AT") else { return nil }
        return String(cString: p)
    }()

    static func hit(_ name: String) {
        if armed == name { kill(getpid(), SIGKILL) }
    }
}
