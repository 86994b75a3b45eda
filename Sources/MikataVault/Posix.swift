#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MikataCrypto
import MikataFormat

/// The storage layer's only contact with the operating system: open, pread/pwrite in full, fdatasync, flock,
/// rename and directory fsync. Every failure becomes a `VaultError` naming the operation and errno, never a path
/// that could hold personal data (store paths hold only random ids and keyed hashes).
final class PosixFile {
    let fd: Int32
    let path: String

    private init(fd: Int32, path: String) { self.fd = fd; self.path = path }

    /// A second handle on the same open file (and so the same flock), under another name: a temporary that was
    /// renamed into place keeps its lock.
    func renamed(to newPath: String) throws -> PosixFile {
        let copy = dup(fd)
        guard copy >= 0 else { throw Posix.error("dup", errno, newPath) }
        _ = fcntl(copy, F_SETFD, FD_CLOEXEC)
        return PosixFile(fd: copy, path: newPath)
    }

    deinit { close(fd) }

    static func open(_ path: String, create: Bool = false, exclusive: Bool = false, readOnly: Bool = false) throws -> PosixFile {
        var flags = readOnly ? O_RDONLY : O_RDWR
        flags |= O_CLOEXEC
        if create { flags |= O_CREAT }
        if exclusive { flags |= O_EXCL }
        let fd = Glibc.open(path, flags, 0o600)
        guard fd >= 0 else { throw Posix.error("open", errno, path) }
        return PosixFile(fd: fd, path: path)
    }

    func size() throws -> Int {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw Posix.error("fstat", errno, path) }
        return Int(st.st_size)
    }

    /// Device and inode: a rewrite replaces the file by rename, and a process that waited for the lock on the
    /// old inode must notice and reopen.
    func identity() throws -> FileIdentity {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw Posix.error("fstat", errno, path) }
        return FileIdentity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
    }

    /// Reads up to `count` bytes at `offset`; fewer only at end of file.
    func read(at offset: Int, count: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = out.withUnsafeMutableBytes { raw in pread(fd, raw.baseAddress! + done, count - done, off_t(offset + done)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw Posix.error("read", errno, path)
            }
            if n == 0 { break }
            done += n
        }
        if done < count { out.removeLast(count - done) }
        return out
    }

    func readAll() throws -> [UInt8] { try read(at: 0, count: try size()) }

    /// Fills `buffer` from `offset`; a file that ends early (changed while read) is an error, never zero padding.
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws {
        var done = 0
        while done < buffer.count {
            let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw Posix.error("read", errno, path)
            }
            if n == 0 { throw VaultError.corrupted("a key file changed size while it was read") }
            done += n
        }
    }

    func write(_ bytes: [UInt8], at offset: Int) throws {
        if let sim = PowerLossSimulator.active(for: path) { try sim.willWrite(self, bytes: bytes, at: offset) }
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { raw in pwrite(fd, raw.baseAddress! + done, bytes.count - done, off_t(offset + done)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw Posix.error("write", errno, path)
            }
            done += n
        }
    }

    /// fdatasync: the data and the size reach the disk. A failure is reported, never retried as success
    /// (after a failed fsync the page cache state is unknown).
    func syncData() throws {
        if let sim = PowerLossSimulator.active(for: path) { try sim.willSync(path) }
        guard fdatasync(fd) == 0 else { throw Posix.error("fdatasync", errno, path) }
    }

    func sync() throws {
        if let sim = PowerLossSimulator.active(for: path) { try sim.willSync(path) }
        guard fsync(fd) == 0 else { throw Posix.error("fsync", errno, path) }
    }

    func truncate(to length: Int) throws {
        if let sim = PowerLossSimulator.active(for: path) { try sim.willTruncate(self, to: length) }
        guard ftruncate(fd, off_t(length)) == 0 else { throw Posix.error("ftruncate", errno, path) }
    }

    func setMode(_ mode: mode_t) throws {
        guard fchmod(fd, mode) == 0 else { throw Posix.error("fchmod", errno, path) }
    }

    /// flock, polled until `timeout`: a vault held longer than that is reported busy (exit 75), not waited on forever.
    func lock(exclusive: Bool, timeout: Double) throws {
        let op = (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB
        if flock(fd, op) == 0 { return }
        let deadline = Posix.now() + timeout
        var pause: UInt32 = 200
        while true {
            if flock(fd, op) == 0 { return }
            let e = errno
            guard e == EWOULDBLOCK || e == EINTR else { throw Posix.error("flock", e, path) }
            if Posix.now() > deadline { throw VaultError.busy("the vault is locked by another process") }
            usleep(pause)
            pause = min(pause * 2, 20_000)
        }
    }

    func tryLockExclusive() -> Bool { flock(fd, LOCK_EX | LOCK_NB) == 0 }

    func unlock() { _ = flock(fd, LOCK_UN) }
}

struct FileIdentity: Equatable {
    var device: UInt64
    var inode: UInt64
}

enum Posix {
    static let temporaryPrefix = ".tmp-"

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    static func wallClockMillis() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    static func error(_ op: String, _ code: Int32, _ path: String) -> VaultError {
        let name = String(cString: strerror(code))
        switch code {
        case ENOENT: return .notFound("\(op) \(path): \(name)")
        case ENOSPC, EDQUOT: return .io("\(op) \(path): no space left on device; free space and retry")
        case EACCES, EPERM, EROFS: return .io("\(op) \(path): \(name); check the store's ownership and permissions")
        default: return .io("\(op) \(path): \(name)")
        }
    }

    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// Device and inode of whatever the path names now (stat(2), no open).
    static func identity(of path: String) throws -> FileIdentity {
        var st = stat()
        guard stat(path, &st) == 0 else { throw error("stat", errno, path) }
        return FileIdentity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
    }

    /// ISO 8601 UTC with milliseconds, formatted by hand: a formatter object per call costs more than an fsync.
    static func isoTime(millis: Int64) -> String {
        var t = time_t(millis / 1000)
        var tm = tm()
        gmtime_r(&t, &tm)
        func pad(_ v: Int32, _ n: Int) -> String { let s = String(v); return String(repeating: "0", count: max(0, n - s.count)) + s }
        return "\(pad(tm.tm_year + 1900, 4))-\(pad(tm.tm_mon + 1, 2))-\(pad(tm.tm_mday, 2))T\(pad(tm.tm_hour, 2)):\(pad(tm.tm_min, 2)):\(pad(tm.tm_sec, 2)).\(pad(Int32(millis % 1000), 3))Z"
    }

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// mkdir -p with 0700 folders; each new folder is made durable in its parent.
    static func makeDirectories(_ path: String) throws {
        if isDirectory(path) { return }
        let parent = parent(of: path)
        if parent != path && !isDirectory(parent) { try makeDirectories(parent) }
        if mkdir(path, 0o700) != 0 && errno != EEXIST { throw error("mkdir", errno, path) }
        try syncDirectory(parent)
    }

    static func syncDirectory(_ path: String) throws {
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw error("open directory", errno, path) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw error("fsync directory", errno, path) }
    }

    static func readFile(_ path: String) throws -> [UInt8]? {
        let file: PosixFile
        do { file = try PosixFile.open(path, readOnly: true) } catch VaultError.notFound { return nil }
        return try file.readAll()
    }

    /// Reads everything from an inherited descriptor (e.g. a root key passed by a supervisor), at most `limit` bytes.
    static func readAll(fd: Int32, limit: Int, what: String) throws -> [UInt8] {
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 512)
        defer { Sodium.wipe(&buffer) }
        while out.count <= limit {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw VaultError.io("cannot read \(what): \(String(cString: strerror(errno)))")
            }
            if n == 0 { return out }
            out += buffer[0..<n]
        }
        Sodium.wipe(&out)
        throw VaultError.invalidInput("\(what) holds more than \(limit) bytes")
    }

    /// Reads a small secret file (a key file) straight into guarded memory: no ordinary array ever holds its bytes.
    /// Nil if it does not exist; larger than `maxCount` is damage, refused before anything is read.
    static func readSecretFile(_ path: String, maxCount: Int) throws -> SecureBytes? {
        let file: PosixFile
        do { file = try PosixFile.open(path, readOnly: true) } catch VaultError.notFound { return nil }
        let size = try file.size()
        guard size <= maxCount else { throw VaultError.corrupted("a key file is \(size) bytes, more than any key file holds (\(maxCount))") }
        do {
            return try SecureBytes(count: size) { buffer in try file.read(into: buffer, at: 0) }
        } catch let e as CryptoError { throw VaultError.crypto(e, "key file") }
    }

    /// Writes a whole file durably and atomically: a locked temporary beside it, fsync, rename, fsync the folder.
    /// A crash leaves the old file or the new one, and at worst a stale temporary that `removeStaleTemporaries`
    /// deletes. The temporary is 0600 from its first byte.
    static func writeAtomically(_ path: String, _ bytes: [UInt8]) throws {
        _ = try replaceAtomically(path, bytes)
    }

    /// `writeAtomically`, returning a handle on the new file that holds an exclusive flock from before the rename:
    /// no other process can lock the new file before the caller lets go.
    static func replaceAtomically(_ path: String, _ bytes: [UInt8]) throws -> PosixFile {
        let dir = parent(of: path)
        removeStaleTemporaries(in: dir)
        let (temp, file) = try lockedTemporary(in: dir)
        do {
            try file.setMode(0o600)
            try file.write(bytes, at: 0)
            try file.sync()
            if let sim = PowerLossSimulator.active(for: path) { try sim.willStep() }
            guard rename(temp, path) == 0 else { throw error("rename", errno, path) }
        } catch {
            unlink(temp)
            throw error
        }
        try syncDirectory(dir)
        return try file.renamed(to: path)
    }

    /// A new temporary beside the target, flocked before anything is written to it: the stale-temporary sweep
    /// only touches temporaries whose lock it can take, i.e. whose writer is gone. If the sweep won the race for a
    /// brand-new name, that name is abandoned to it and another is tried.
    private static func lockedTemporary(in dir: String) throws -> (String, PosixFile) {
        for _ in 0..<8 {
            let temp = "\(dir)/\(temporaryPrefix)\(Random.bytes(8).hex)"
            let file = try PosixFile.open(temp, create: true, exclusive: true)
            // A sweep may have locked, unlinked and closed the brand-new file between our open and our lock, and then
            // our lock succeeds on an inode with no name: only a lock on the file the name still names counts.
            if file.tryLockExclusive(), (try? Posix.identity(of: temp)) == (try? file.identity()) { return (temp, file) }
        }
        throw VaultError.busy("could not create a temporary file in \(dir)")
    }

    /// Like `writeAtomically`, but fails if `path` exists (link(2) never replaces).
    static func writeNew(_ path: String, _ bytes: [UInt8]) throws {
        let dir = parent(of: path)
        removeStaleTemporaries(in: dir)
        let (temp, file) = try lockedTemporary(in: dir)
        // The temporary's name goes before its lock does: a sweep never sees a locked-free name that is also the
        // target's second hard link.
        try withExtendedLifetime(file) {
            defer { unlink(temp) }
            try file.setMode(0o600)
            try file.write(bytes, at: 0)
            try file.sync()
            if let sim = PowerLossSimulator.active(for: path) { try sim.willStep() }
            if link(temp, path) != 0 {
                if errno == EEXIST { throw VaultError.alreadyExists("\(path) exists already") }
                throw error("link", errno, path)
            }
        }
        // Not durable, not created: a file whose name may vanish in a crash is taken back and reported as failed.
        do { try syncDirectory(dir) } catch {
            unlink(path)
            throw error
        }
    }

    static func remove(_ path: String) throws {
        if unlink(path) != 0 && errno != ENOENT { throw error("unlink", errno, path) }
    }

    static func list(_ dir: String) -> [String] {
        guard let d = opendir(dir) else { return [] }
        defer { closedir(d) }
        var names: [String] = []
        while let entry = readdir(d) {
            let name = withUnsafePointer(to: entry.pointee.d_name) { p in
                p.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// Deletes temporaries whose writer is gone (their flock is free). Returns how many were removed.
    @discardableResult
    static func removeStaleTemporaries(in dir: String) -> Int {
        var removed = 0
        for name in list(dir) where name.hasPrefix(temporaryPrefix) {
            let path = "\(dir)/\(name)"
            guard let f = try? PosixFile.open(path) else { continue }
            if f.tryLockExclusive() {
                // It may hold a copy of a secret (an erasure secret being written): overwrite it before unlinking,
                // unless it is also the target's name (a writer killed between link(2) and unlink(2)).
                var st = stat()
                let linkedElsewhere = fstat(f.fd, &st) == 0 && st.st_nlink > 1
                if !linkedElsewhere, let size = try? f.size(), size > 0 {
                    var offset = 0
                    while offset < size {
                        let n = min(1 << 20, size - offset)
                        try? f.write([UInt8](repeating: 0, count: n), at: offset)
                        offset += n
                    }
                    try? f.syncData()
                }
                unlink(path)
                removed += 1
            }
        }
        if removed > 0 { try? syncDirectory(dir) }
        return removed
    }
}
