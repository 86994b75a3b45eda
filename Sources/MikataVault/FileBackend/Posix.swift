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
final class PosixFile: Sendable {
    let fd: Int32
    let path: String

    fileprivate init(fd: Int32, path: String) { self.fd = fd; self.path = path }

    /// A second handle on the same open file (and so the same flock), under another name: a temporary that was
    /// renamed into place keeps its lock.
    func renamed(to newPath: String) throws -> PosixFile {
        let copy = dup(fd)
        guard copy >= 0 else { throw Posix.error("dup", errno, newPath) }
        _ = fcntl(copy, F_SETFD, FD_CLOEXEC)
        return PosixFile(fd: copy, path: newPath)
    }

    deinit { close(fd) }

    /// Opens a file of the store: never through a symbolic link (O_NOFOLLOW), never blocking on a FIFO or device
    /// (O_NONBLOCK), and only if it is a regular file owned by the effective user (fstat). Anything else at a
    /// store path was put there by someone else: a link, FIFO, device or folder is `tampered` (65), a file of
    /// another user `notPermitted` (77) (docs/SECURITY.md, "Local users").
    static func open(_ path: String, create: Bool = false, exclusive: Bool = false, readOnly: Bool = false) throws -> PosixFile {
        var flags = readOnly ? O_RDONLY : O_RDWR
        flags |= O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK
        if create { flags |= O_CREAT }
        if exclusive { flags |= O_EXCL }
        let fd = PathBytes.withCString(path) { Glibc.open($0, flags, 0o600) }
        guard fd >= 0 else {
            let e = errno
            switch e {
            case ELOOP: throw VaultError.tampered("\(PathBytes.display(path)) is a symbolic link; the store never creates one")
            case EISDIR: throw VaultError.tampered("\(PathBytes.display(path)) is a folder where the store keeps a file")
            case ENXIO, ENODEV: throw VaultError.tampered("\(PathBytes.display(path)) is a device or socket where the store keeps a file")
            default: throw Posix.error("open", e, path)
            }
        }
        let file = PosixFile(fd: fd, path: path)
        try file.checkStoreFile()
        // Back to blocking I/O for the regular file (O_NONBLOCK only guarded the open).
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        return file
    }

    /// A regular file owned by the effective user, or an error naming what it is instead.
    private func checkStoreFile() throws {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw Posix.error("fstat", errno, path) }
        guard st.st_mode & S_IFMT == S_IFREG else {
            throw VaultError.tampered("\(PathBytes.display(path)) is a \(Posix.kind(st.st_mode)) where the store keeps a regular file")
        }
        guard st.st_uid == geteuid() else {
            throw VaultError.notPermitted("\(PathBytes.display(path)) belongs to another user (uid \(st.st_uid)); the store only uses its own files")
        }
    }

    /// Creates a new file where the caller asked (`--out`), outside the store: O_CREAT|O_EXCL|O_NOFOLLOW, so an
    /// existing file or link there is never followed, replaced or truncated; nothing beside it is touched.
    static func createOutside(_ path: String) throws -> PosixFile {
        let fd = PathBytes.withCString(path) { Glibc.open($0, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600) }
        guard fd >= 0 else {
            let e = errno
            if e == EEXIST { throw VaultError.alreadyExists("the output file exists already (it is never replaced); choose a new name") }
            throw Posix.error("create", e, path)
        }
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

    /// Reads up to `count` bytes at `offset`; fewer only at end of file. The buffer is not zero-filled first:
    /// pread writes the bytes it returns, and only those are kept.
    func read(at offset: Int, count: Int) throws -> [UInt8] {
        try [UInt8](unsafeUninitializedCapacity: count) { out, initialized in
            initialized = try read(at: offset, into: UnsafeMutableRawBufferPointer(out))
        }
    }

    /// Reads up to `buffer.count` bytes at `offset` into `buffer`, in full unless the file ends first; returns how
    /// many were read. - Throws: `VaultError` for an I/O error (EINTR is retried).
    func read(at offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var done = 0
        while done < buffer.count {
            let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw Posix.error("read", errno, path)
            }
            if n == 0 { break }
            done += n
        }
        return done
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
        #if DEBUG
        if let sim = PowerLossSimulator.active(for: path) { try sim.willWrite(self, bytes: bytes, at: offset) }
        #endif
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
        #if DEBUG
        if let sim = PowerLossSimulator.active(for: path) { try sim.willSync(path) }
        #endif
        guard fdatasync(fd) == 0 else { throw Posix.error("fdatasync", errno, path) }
    }

    func sync() throws {
        #if DEBUG
        if let sim = PowerLossSimulator.active(for: path) { try sim.willSync(path) }
        #endif
        guard fsync(fd) == 0 else { throw Posix.error("fsync", errno, path) }
    }

    func truncate(to length: Int) throws {
        #if DEBUG
        if let sim = PowerLossSimulator.active(for: path) { try sim.willTruncate(self, to: length) }
        #endif
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
        let path = PathBytes.display(path)
        switch code {
        case ENOENT: return .notFound("\(op) \(path): \(name)")
        case ENOSPC, EDQUOT: return .io("\(op) \(path): no space left on device; free space and retry")
        case EACCES, EPERM, EROFS: return .io("\(op) \(path): \(name); check the store's ownership and permissions")
        default: return .io("\(op) \(path): \(name)")
        }
    }

    /// Whether anything, a dangling link included, has this name (lstat(2): never follows).
    static func exists(_ path: String) -> Bool {
        var st = stat()
        return PathBytes.withCString(path) { lstat($0, &st) } == 0
    }

    /// What a file mode names, for messages.
    static func kind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFREG: return "regular file"
        case S_IFDIR: return "folder"
        case S_IFLNK: return "symbolic link"
        case S_IFIFO: return "FIFO"
        case S_IFSOCK: return "socket"
        case S_IFCHR, S_IFBLK: return "device file"
        default: return "special file"
        }
    }

    /// Device and inode of whatever the path names now (stat(2), no open).
    static func identity(of path: String) throws -> FileIdentity {
        var st = stat()
        guard PathBytes.withCString(path, { lstat($0, &st) }) == 0 else { throw error("lstat", errno, path) }
        return FileIdentity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
    }

    /// ISO 8601 UTC with milliseconds (`ISO8601Time.string(millis:)`).
    static func isoTime(millis: Int64) -> String { ISO8601Time.string(millis: millis) }

    /// Whether `path` names a folder, links followed: for folders the caller named (restore targets, tombstone
    /// sources). Store folders are checked with `checkFolder`.
    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return PathBytes.withCString(path, { stat($0, &st) }) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// mkdir -p with 0700 folders; each new folder is made durable in its parent. The last folder, new or not,
    /// must pass `checkFolder` (a real folder of this user that no one else can write); the folders above it that
    /// exist are taken as they are (the caller named them, and the store root is checked on open).
    static func makeDirectories(_ path: String) throws {
        var st = stat()
        if PathBytes.withCString(path, { lstat($0, &st) }) == 0 { return try checkFolder(path, st) }
        let parent = parent(of: path)
        if parent != path && !isDirectory(parent) { try makeDirectories(parent) }
        if PathBytes.withCString(path, { mkdir($0, 0o700) }) != 0 {
            guard errno == EEXIST else { throw error("mkdir", errno, path) }
            guard PathBytes.withCString(path, { lstat($0, &st) }) == 0 else { throw error("lstat", errno, path) }
            return try checkFolder(path, st)  // another process made it first
        }
        try syncDirectory(parent)
    }

    /// The store's rule for its folders (docs/SECURITY.md, "Local users", after ssh's StrictModes): a real folder
    /// (not a link), owned by the effective user, that neither group nor others can write. A folder someone else
    /// owns or can write lets them plant, swap or remove files the store would then trust.
    static func checkFolder(_ path: String, _ st: stat) throws {
        guard st.st_mode & S_IFMT == S_IFDIR else {
            throw VaultError.tampered("\(PathBytes.display(path)) is a \(kind(st.st_mode)) where the store keeps a folder")
        }
        guard st.st_uid == geteuid() else {
            throw VaultError.notPermitted("\(PathBytes.display(path)) belongs to another user (uid \(st.st_uid)); a store's folders must belong to the user running mikata")
        }
        guard st.st_mode & 0o022 == 0 else {
            throw VaultError.notPermitted("\(PathBytes.display(path)) can be written by other users (mode \(String(st.st_mode & 0o7777, radix: 8))); run 'chmod go-w' on it (0700 is the store's default)")
        }
    }

    /// rmdir(2); a missing or non-empty folder, or a link, is left as it is.
    static func removeDirectory(_ path: String) { _ = PathBytes.withCString(path) { rmdir($0) } }

    static func syncDirectory(_ path: String) throws {
        let fd = PathBytes.withCString(path) { Glibc.open($0, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        guard fd >= 0 else { throw error("open directory", errno, path) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw error("fsync directory", errno, path) }
    }

    /// A store file's content, nil if it does not exist (see `PosixFile.open` for what else is refused).
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

    /// The store root key file (outside the store; links followed, so it can live on a mounted secret store): it
    /// must be a regular file of this user or root that nobody else can read or write, at most `limit` bytes (like
    /// ssh's private keys). Opened non-blocking, so a FIFO planted in its place never hangs a command. Nil if absent.
    /// - Throws: `VaultError.notPermitted` (type, owner or mode), `.corrupted` (too large), `.io`.
    static func readKeyFile(_ path: String, limit: Int, what: String = "root key") throws -> [UInt8]? {
        let fd = PathBytes.withCString(path) { Glibc.open($0, O_RDONLY | O_NONBLOCK | O_CLOEXEC) }
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw error("open", errno, path)
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw error("fstat", errno, path) }
        guard st.st_mode & S_IFMT == S_IFREG else { throw VaultError.notPermitted("the \(what) at \(PathBytes.display(path)) is not a regular file") }
        guard st.st_uid == geteuid() || st.st_uid == 0 else {
            throw VaultError.notPermitted("the \(what) at \(PathBytes.display(path)) belongs to another user: it must be this user's or root's")
        }
        guard st.st_mode & 0o077 == 0 else {
            throw VaultError.notPermitted("the \(what) at \(PathBytes.display(path)) is open to other users (mode \(String(st.st_mode & 0o777, radix: 8))): chmod 600 it, and treat the key as exposed")
        }
        guard Int(st.st_size) <= limit else { throw VaultError.corrupted("the \(what) file at \(PathBytes.display(path)) is larger than any \(what) file") }
        return try readAll(fd: fd, limit: limit, what: "the \(what) file")
    }

    /// A folder that will hold a key: this user's or root's, and nobody else may write to it.
    static func checkKeyFolder(_ path: String) throws {
        var st = stat()
        guard PathBytes.withCString(path, { stat($0, &st) }) == 0 else {
            if errno == ENOENT { return }  // made 0700 by the caller
            throw error("stat", errno, path)
        }
        guard st.st_mode & S_IFMT == S_IFDIR, st.st_uid == geteuid() || st.st_uid == 0, st.st_mode & 0o022 == 0 else {
            throw VaultError.notPermitted("the root key folder \(PathBytes.display(path)) is not a folder of this user that only they can write: a key planted there would be trusted")
        }
    }

    /// A file the caller named outside the store (a backup, a backup key): links followed, any owner; nil if it
    /// does not exist.
    /// Only a regular file is read: opened without blocking, so a FIFO (or a link to one) is refused instead of
    /// waiting for a writer forever, and a device such as /dev/zero is refused instead of read without end.
    /// - Throws: `VaultError.invalidInput` for anything but a regular file; `.io` on a read error.
    static func readOutsideFile(_ path: String) throws -> [UInt8]? {
        let fd = PathBytes.withCString(path) { Glibc.open($0, O_RDONLY | O_CLOEXEC | O_NONBLOCK) }
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw error("open", errno, path)
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw error("stat", errno, path) }
        guard st.st_mode & S_IFMT == S_IFREG else {
            throw VaultError.invalidInput("\(PathBytes.display(path)) is not a regular file (a pipe or a device): give the backup file itself")
        }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        defer { Sodium.wipe(&chunk) }  // a backup key passes through it
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR { continue }; throw error("read", errno, path) }
            if n == 0 { return out }
            out += chunk[0..<n]
        }
    }

    /// Writes a new file where the caller asked (`--out`), durably: created with O_EXCL|O_NOFOLLOW, written,
    /// fsynced, its folder fsynced. On failure the half-written file (ours: we created it) is removed again. No
    /// temporary, no sweep: the folder is not the store's, and its other files are not ours to touch.
    /// With `identicalIsDone`, a regular file there that already holds exactly `bytes` (a repeated idempotent
    /// command, such as a shred run again) counts as written; it is only read (O_NOFOLLOW|O_NONBLOCK), never changed.
    ///
    /// The bytes go to a new temporary of ours beside the target first (`.<name>.partial-<random>`, created the same
    /// way), which is then linked to the target's name (link(2) never replaces): a process killed midway leaves at
    /// most that temporary, never a half-written file under the name the operator asked for.
    static func writeOutside(_ path: String, _ bytes: [UInt8], identicalIsDone: Bool = false) throws {
        let dir = parent(of: path)
        let name = path.split(separator: "/", omittingEmptySubsequences: false).last.map(String.init) ?? path
        let temp = "\(dir)/.\(name).partial-\(Random.bytes(6).hex)"
        let file = try PosixFile.createOutside(temp)
        defer { _ = PathBytes.withCString(temp) { unlink($0) } }
        try withExtendedLifetime(file) {
            try file.write(bytes, at: 0)
            try file.sync()
            let linked = PathBytes.withCString(temp) { t in PathBytes.withCString(path) { link(t, $0) } }
            if linked != 0 {
                let e = errno
                if e == EEXIST {
                    if identicalIsDone && holds(path, bytes) { return }
                    throw VaultError.alreadyExists("the output file exists already (it is never replaced); choose a new name")
                }
                throw error("link", e, path)
            }
        }
        do { try syncDirectory(dir) } catch {
            _ = PathBytes.withCString(path) { unlink($0) }  // ours: linked a moment ago; not durable, so not written
            throw error
        }
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
            #if DEBUG
            if let sim = PowerLossSimulator.active(for: path) { try sim.willStep() }
            #endif
            guard renamePath(temp, path) == 0 else { throw error("rename", errno, path) }
        } catch {
            unlinkPath(temp)
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
            // Locked, and still under its name: a sweep that took the lock first may have unlinked it meanwhile.
            if file.tryLockExclusive(), (try? identity(of: temp)) == (try file.identity()) { return (temp, file) }
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
            defer { unlinkPath(temp) }
            try file.setMode(0o600)
            try file.write(bytes, at: 0)
            try file.sync()
            #if DEBUG
            if let sim = PowerLossSimulator.active(for: path) { try sim.willStep() }
            #endif
            if PathBytes.withCString(temp, { t in PathBytes.withCString(path) { link(t, $0) } }) != 0 {
                if errno == EEXIST { throw VaultError.alreadyExists("\(path) exists already") }
                throw error("link", errno, path)
            }
        }
        // Not durable, not created: a file whose name may vanish in a crash is taken back and reported as failed.
        do { try syncDirectory(dir) } catch {
            unlinkPath(path)
            throw error
        }
    }

    /// Whether `path` is a regular file holding exactly `bytes` (looked at without following a link or waiting).
    private static func holds(_ path: String, _ bytes: [UInt8]) -> Bool {
        let fd = PathBytes.withCString(path) { Glibc.open($0, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC) }
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG, Int(st.st_size) == bytes.count else { return false }
        var existing = [UInt8](repeating: 0, count: bytes.count)
        let n = existing.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        return n == bytes.count && existing == bytes
    }

    private static func renamePath(_ from: String, _ to: String) -> Int32 {
        PathBytes.withCString(from) { f in PathBytes.withCString(to) { rename(f, $0) } }
    }

    private static func unlinkPath(_ path: String) { _ = PathBytes.withCString(path) { unlink($0) } }

    static func remove(_ path: String) throws {
        if PathBytes.withCString(path, { unlink($0) }) != 0 && errno != ENOENT { throw error("unlink", errno, path) }
    }

    /// The names in a folder, sorted. A store folder is opened with O_NOFOLLOW (a link where a store folder should
    /// be lists nothing); `followLinks` is for folders the caller named. Names are decoded losslessly (PathBytes).
    static func list(_ dir: String, followLinks: Bool = false) -> [String] {
        let fd = PathBytes.withCString(dir) { Glibc.open($0, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK | (followLinks ? 0 : O_NOFOLLOW)) }
        guard fd >= 0 else { return [] }
        return list(fd: fd)
    }

    /// The names in an open folder (the descriptor is consumed).
    static func list(fd: Int32) -> [String] {
        guard let d = fdopendir(fd) else { close(fd); return [] }
        rewinddir(d)  // a dup of a folder already read shares its offset
        defer { closedir(d) }
        var names: [String] = []
        while let entry = readdir(d) {
            let name = withUnsafePointer(to: entry.pointee.d_name) { p in
                p.withMemoryRebound(to: UInt8.self, capacity: 256) { PathBytes.string(UnsafeBufferPointer(start: $0, count: strlen(UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)))) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// Opens a folder of the store as a descriptor for `*at` calls: O_DIRECTORY|O_NOFOLLOW, so a link or a file
    /// where the folder should be is never entered. -1 if it cannot be opened.
    static func openFolder(_ path: String) -> Int32 {
        PathBytes.withCString(path) { Glibc.open($0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC) }
    }

    /// Opens the sub-folder `name` of an open folder the same way.
    static func openFolder(_ name: String, in dirfd: Int32) -> Int32 {
        PathBytes.withCString(name) { openat(dirfd, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC) }
    }

    /// Deletes temporaries whose writer is gone (their flock is free). Returns how many were removed.
    @discardableResult
    static func removeStaleTemporaries(in dir: String) -> Int {
        let fd = openFolder(dir)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        return removeStaleTemporaries(dirfd: fd, path: dir)
    }

    /// The sweep of one open store folder. Only a `.tmp-*` that is a regular file of this user, looked at without
    /// following links (fstatat, then openat O_NOFOLLOW|O_NONBLOCK and fstat again on what was opened), is
    /// overwritten and unlinked: a link, FIFO, device or another user's file is left exactly as it is.
    static func removeStaleTemporaries(dirfd: Int32, path dir: String) -> Int {
        var removed = 0
        let euid = geteuid()
        let listing = dup(dirfd)
        guard listing >= 0 else { return 0 }
        for name in list(fd: listing) where name.hasPrefix(temporaryPrefix) {
            var before = stat()
            guard PathBytes.withCString(name, { fstatat(dirfd, $0, &before, AT_SYMLINK_NOFOLLOW) }) == 0,
                  before.st_mode & S_IFMT == S_IFREG, before.st_uid == euid else { continue }
            let fd = PathBytes.withCString(name) { openat(dirfd, $0, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC) }
            guard fd >= 0 else { continue }
            let f = PosixFile(fd: fd, path: "\(dir)/\(name)")
            var st = stat()
            guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG, st.st_uid == euid, st.st_ino == before.st_ino, st.st_dev == before.st_dev
            else { continue }
            if f.tryLockExclusive() {
                // It may hold a copy of a secret (an erasure secret being written): overwrite it before unlinking,
                // unless it is also the target's name (a writer killed between link(2) and unlink(2)).
                let linkedElsewhere = st.st_nlink > 1
                let size = Int(st.st_size)
                if !linkedElsewhere, size > 0 {
                    var offset = 0
                    while offset < size {
                        let n = min(1 << 20, size - offset)
                        try? f.write([UInt8](repeating: 0, count: n), at: offset)
                        offset += n
                    }
                    try? f.syncData()
                }
                _ = PathBytes.withCString(name) { unlinkat(dirfd, $0, 0) }
                removed += 1
            }
        }
        if removed > 0 { _ = fsync(dirfd) }
        return removed
    }
}

/// A new file where the caller asked, outside the store (`--out`): created with O_CREAT|O_EXCL|O_NOFOLLOW, never
/// replacing or following what is there, durable when this returns, removed again if it could not be completed.
package enum OutputFile {
    package static func write(_ bytes: [UInt8], to path: String, identicalIsDone: Bool = false) throws {
        try Posix.writeOutside(path, bytes, identicalIsDone: identicalIsDone)
    }
}
