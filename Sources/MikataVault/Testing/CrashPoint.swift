#if canImport(Glibc)
import Glibc
#endif

/// Named points where crash tests kill the process (SIGKILL, no clean-up), as SQLite's crash tests do.
/// `MIKATA_CRASH_AT=<name>` in the environment arms one point, in debug builds only: a release build
/// (`swift build -c release`) compiles every point to nothing and never reads the variable, so no environment can
/// make a production binary kill itself (docs/RELIABILITY.md, "Test-only machinery").
enum CrashPoint {
    #if DEBUG
    /// Whether crash points exist in this build (tests assert the rule).
    static let isCompiledIn = true

    /// The armed point's name, read once from the environment and from nowhere else.
    static let armed: String? = {
        guard let p = getenv("MIKATA_CRASH_AT") else { return nil }
        return String(cString: p)
    }()

    static func hit(_ name: String) {
        if armed == name { kill(getpid(), SIGKILL) }
    }
    #else
    static let isCompiledIn = false

    @inline(__always) static func hit(_ name: String) {}
    #endif
}
