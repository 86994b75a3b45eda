#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// The store's folders as the code knows them (docs/FORMAT.md §7), and the rules that keep other local users out
/// (docs/SECURITY.md, "Local users"): the root and the fixed folders are checked on `init` and on every open, and
/// walks visit these folders only, through descriptors opened with O_DIRECTORY|O_NOFOLLOW.
enum StoreLayout {
    /// Made by `init`.
    static let initFolders = ["keys", "keys/vaults", "vaults", "supporters", "index", "links"]
    /// Made when first needed.
    static let laterFolders = ["audit", "shred", "certificates", "tombstones", "tombstones/supporters", "services"]

    /// Whether the folder at these components below the root is one the store makes. A new kind of store folder
    /// must be added here, or walks (the stale-temporary sweep, backups) do not see it.
    static func isFolder(_ c: [String]) -> Bool {
        func hex(_ s: String, _ n: Int) -> Bool { s.utf8.count == n && s.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) } }
        switch c.count {
        case 0: return true
        case 1: return initFolders.contains(c[0]) || laterFolders.contains(c[0])
        case 2:
            if c == ["keys", "vaults"] || c == ["tombstones", "supporters"] { return true }
            if ["vaults", "supporters", "index"].contains(c[0]) { return hex(c[1], 2) }
            return c[0] == "links" && hex(c[1], 32)
        case 3: return c[0] == "keys" && c[1] == "vaults" && hex(c[2], 2)
        default: return false
        }
    }

    /// The check every open makes, in O(1): the root (links to it are followed: operators may link a store into
    /// place) and each fixed folder that exists (never a link) must pass `Posix.checkFolder`. Files are checked
    /// as they are opened (`PosixFile.open`).
    static func check(root: String) throws {
        var st = stat()
        guard PathBytes.withCString(root, { stat($0, &st) }) == 0 else {
            if errno == ENOENT { throw VaultError.notFound("no MikataVault store at \(PathBytes.display(root)) (run 'mikata init' first)") }
            throw Posix.error("stat", errno, root)
        }
        try Posix.checkFolder(root, st)
        for folder in initFolders + laterFolders {
            let path = "\(root)/\(folder)"
            if PathBytes.withCString(path, { lstat($0, &st) }) == 0 {
                try Posix.checkFolder(path, st)
            } else if errno != ENOENT {
                throw Posix.error("lstat", errno, path)
            }
        }
    }

    /// Makes `root` fit to become a store (`init`, `backup restore`), or refuses: a missing root is made 0700; an
    /// existing one must be this user's folder. One that others could write is taken only if it is empty once
    /// nobody else can write it any more (chmod first, then look: no race lets a file in after the look), so no
    /// key or file another user planted is ever adopted. Then the fixed folders are made or checked.
    static func prepare(root: String) throws {
        var st = stat()
        if PathBytes.withCString(root, { stat($0, &st) }) == 0 {
            guard st.st_mode & S_IFMT == S_IFDIR, st.st_uid == geteuid() else { return try Posix.checkFolder(root, st) }
            if st.st_mode & 0o077 != 0 {
                let fd = PathBytes.withCString(root) { open($0, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
                guard fd >= 0 else { throw Posix.error("open directory", errno, root) }
                defer { close(fd) }
                guard fchmod(fd, 0o700) == 0 else { throw Posix.error("fchmod", errno, root) }
                if !Posix.list(fd: dup(fd)).isEmpty {
                    _ = fchmod(fd, st.st_mode & 0o7777)  // a folder in use: not ours to change
                    if st.st_mode & 0o022 != 0 { throw VaultError.notPermitted("\(PathBytes.display(root)) is not empty and other users could write to it (mode \(String(st.st_mode & 0o7777, radix: 8))): it may hold files the store did not create; use a new folder") }
                }
            }
        } else if errno == ENOENT {
            try Posix.makeDirectories(root)
        } else {
            throw Posix.error("stat", errno, root)
        }
        try check(root: root)
        for folder in initFolders { try Posix.makeDirectories("\(root)/\(folder)") }
        // What an earlier, interrupted init left is kept (only this user could write here); anything else that is
        // not this user's regular file is refused before a key is made beside it.
        for folder in [root, "\(root)/keys"] {
            for name in Posix.list(folder) where !isFolder(folder == root ? [name] : ["keys", name]) {
                // A name gone since the listing was another init's temporary (written, then unlinked): nothing to check.
                do { _ = try PosixFile.open("\(folder)/\(name)", readOnly: true) } catch VaultError.notFound { continue }
            }
        }
    }

    /// Walks the store's folders (`isFolder`) depth first through descriptors: a link, a loop, or a file where a
    /// folder should be is never entered, and nothing outside the layout is visited.
    static func walk(root: String, _ visit: (_ dirfd: Int32, _ path: String, _ names: [String]) -> Void) {
        func go(_ fd: Int32, _ path: String, _ components: [String]) {
            defer { close(fd) }
            let names = Posix.list(fd: dup(fd))
            visit(fd, path, names)
            for name in names where isFolder(components + [name]) {
                let sub = Posix.openFolder(name, in: fd)
                if sub >= 0 { go(sub, "\(path)/\(name)", components + [name]) }
            }
        }
        let fd = PathBytes.withCString(root) { open($0, O_RDONLY | O_DIRECTORY | O_NONBLOCK | O_CLOEXEC) }
        if fd >= 0 { go(fd, root, []) }
    }

    #if DEBUG
    /// Whole-store sweeps per store root, for tests that check an operation does not walk the store.
    nonisolated(unsafe) private static var sweepCounts: [String: Int] = [:]
    private static let sweepCountLock = NSLock()
    static func sweepCount(root: String) -> Int { sweepCountLock.withLock { sweepCounts[root, default: 0] } }
    #endif

    /// Removes every stale temporary in the store's folders. Returns how many.
    static func removeStaleTemporaries(root: String) -> Int {
        #if DEBUG
        sweepCountLock.withLock { sweepCounts[root, default: 0] += 1 }
        #endif
        var removed = 0
        walk(root: root) { fd, path, names in
            if names.contains(where: { $0.hasPrefix(Posix.temporaryPrefix) }) { removed += Posix.removeStaleTemporaries(dirfd: fd, path: path) }
        }
        return removed
    }

    /// Every entry of the store's folders that is not itself one of its folders: regular files, and whatever else
    /// someone put there (reading it then fails with the reason, see `PosixFile.open`).
    static func files(root: String) -> [String] {
        var out: [String] = []
        walk(root: root) { fd, path, names in
            for name in names {
                var st = stat()
                guard PathBytes.withCString(name, { fstatat(fd, $0, &st, AT_SYMLINK_NOFOLLOW) }) == 0 else { continue }
                if st.st_mode & S_IFMT == S_IFDIR { continue }  // a store folder is walked; any other folder is not the store's
                out.append("\(path)/\(name)")
            }
        }
        return out
    }
}
