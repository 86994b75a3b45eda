import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Monotonic time in seconds.
@inline(__always)
func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// Runs `body` once and returns how long it took, in seconds, with its result.
@inline(__always)
func timed<R>(_ body: () throws -> R) rethrows -> (seconds: Double, result: R) {
    let t0 = monotonicSeconds()
    let r = try body()
    return (monotonicSeconds() - t0, r)
}

/// A set of timings (seconds). Percentiles use the nearest-rank method.
struct Samples {
    private(set) var values: [Double] = []

    init(_ values: [Double] = []) { self.values = values }

    mutating func add(_ v: Double) { values.append(v) }
    var count: Int { values.count }

    func percentile(_ p: Double) -> Double {
        precondition(!values.isEmpty, "no samples")
        let sorted = values.sorted()
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
        return sorted[min(max(rank, 1), sorted.count) - 1]
    }

    /// The median; for an even count the mean of the two middle values.
    var median: Double {
        precondition(!values.isEmpty, "no samples")
        let s = values.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
}

/// The fsync baseline: raw pwrite at the end of a file, then fdatasync, nothing else.
final class RawAppendFile {
    private let fd: Int32
    private var end = 0

    init(path: String) throws {
        fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw BenchError.io("open \(path): errno \(errno)") }
    }

    deinit { close(fd) }

    func appendDurably(_ bytes: [UInt8]) throws {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { raw in pwrite(fd, raw.baseAddress! + done, bytes.count - done, off_t(end + done)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw BenchError.io("pwrite: errno \(errno)")
            }
            done += n
        }
        guard fdatasync(fd) == 0 else { throw BenchError.io("fdatasync: errno \(errno)") }
        end += bytes.count
    }
}

/// Reads a whole file the way the vault does (a zero-filled buffer of the file's size, then pread): the I/O share
/// of a full read, for the per-record split.
func readWholeFile(_ path: String) throws -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw BenchError.io("open \(path): errno \(errno)") }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0 else { throw BenchError.io("fstat: errno \(errno)") }
    let size = Int(st.st_size)
    var out = [UInt8](repeating: 0, count: size)
    var done = 0
    while done < size {
        let n = out.withUnsafeMutableBytes { raw in pread(fd, raw.baseAddress! + done, size - done, off_t(done)) }
        if n < 0 {
            if errno == EINTR { continue }
            throw BenchError.io("pread: errno \(errno)")
        }
        if n == 0 { break }
        done += n
    }
    return out
}

func fileSize(_ path: String) throws -> Int {
    var st = stat()
    guard stat(path, &st) == 0 else { throw BenchError.io("stat \(path): errno \(errno)") }
    return Int(st.st_size)
}

func parentDirectory(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return slash == path.startIndex ? "/" : String(path[..<slash])
}

/// Progress goes to stderr, so stdout carries only the report.
func progress(_ message: String) {
    let line = Array("bench: \(message)\n".utf8)
    _ = line.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress!, $0.count) }
}

/// The physical ceiling of an append whose frame must be durable before its log entry is written (docs/SECURITY.md,
/// "The newest records of a vault can be hidden from the log"): a raw shared file whose writers share one
/// pwrite + fdatasync (group commit) and nothing else: no lock file, no tail read, no hashing. The hand-off is the
/// access log's (`AuditLog.append(contentsOf:)`): the first caller leads and writes every entry waiting; each of
/// that batch's callers is woken once with the outcome, and the lead passes to the first caller that arrived
/// meanwhile. A caller's entry is durable when `appendDurably` returns.
final class RawGroupCommitFile: @unchecked Sendable {
    private enum Answer { case lead, committed, failed(any Error) }

    /// One caller: its entry, and the semaphore it waits on for its answer (written before the signal).
    private final class Waiter: @unchecked Sendable {
        let entry: [UInt8]
        let ready = DispatchSemaphore(value: 0)
        var answer = Answer.lead
        init(_ entry: [UInt8]) { self.entry = entry }
    }

    private let file: RawAppendFile
    private let lock = NSLock()
    private var pending: [Waiter] = []
    private var leading = false
    private var written = 0, callers = 0

    init(path: String) throws { file = try RawAppendFile(path: path) }

    /// Batches written (each one pwrite and one fdatasync) and the callers they held.
    var batches: (count: Int, callers: Int) { lock.withLock { (written, callers) } }

    func appendDurably(_ entry: [UInt8]) throws {
        let me = Waiter(entry)
        let leads: Bool = lock.withLock {
            pending.append(me)
            if leading { return false }
            leading = true
            return true
        }
        var answer = Answer.lead
        if !leads {
            me.ready.wait()
            answer = me.answer
        }
        while true {
            switch answer {
            case .committed: return
            case .failed(let error): throw error
            case .lead:
                let batch: [Waiter] = lock.withLock {
                    defer { pending = [] }
                    return pending
                }
                let outcome: Answer
                do {
                    try file.appendDurably(batch.flatMap(\.entry))
                    outcome = .committed
                } catch {
                    outcome = .failed(error)
                }
                let next: Waiter? = lock.withLock {
                    if case .committed = outcome { written += 1; callers += batch.count }
                    if let first = pending.first { return first }
                    leading = false
                    return nil
                }
                for w in batch where w !== me {
                    w.answer = outcome
                    w.ready.signal()
                }
                next?.answer = .lead
                next?.ready.signal()
                answer = outcome
            }
        }
    }
}

/// Runs `path` with `arguments` (stdin /dev/null, stdout and stderr to files) and waits: exit status and maxrss (KiB).
/// posix_spawn and wait4, so a timing around it ends when the child does: Foundation's `Process.waitUntilExit` polls
/// every 50 ms on Linux, which made every CLI figure a multiple of 50 ms.
func spawnAndWait(_ path: String, _ arguments: [String], stdout: String, stderr: String) throws -> (Int32, Int) {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    let argv = ([path] + arguments).map { strdup($0) } + [nil]
    defer { for p in argv { free(p) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, path, &actions, nil, argv, environ)
    guard rc == 0 else { throw BenchError.io("posix_spawn \(path): errno \(rc)") }
    var status: Int32 = 0
    var usage = rusage()
    while wait4(pid, &status, 0, &usage) < 0 {
        guard errno == EINTR else { throw BenchError.io("wait4: errno \(errno)") }
    }
    let exited = status & 0x7f == 0
    return (exited ? (status >> 8) & 0xff : 128 + (status & 0x7f), usage.ru_maxrss)
}
