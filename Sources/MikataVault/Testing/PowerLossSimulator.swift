import Foundation

#if DEBUG
/// In-process model of a power loss, for crash tests (docs/RELIABILITY.md). SIGKILL loses nothing the kernel
/// already has; a power cut also loses every write not yet made durable by fsync/fdatasync, and may tear the
/// last one. Armed on a folder, it counts the storage layer's I/O steps (writes, syncs, truncations, renames,
/// links) below that folder; at step `cutAt` it undoes every unsynced write (keeping a random prefix of the most
/// recent one), then fails that step and every later one with `VaultError.io("simulated power loss")`.
///
/// Only `PosixFile` and `Posix` call it, so everything the vault and the store write goes through it. Unarmed (always,
/// outside tests) each hook is one lock-free read of a nil global. Debug builds only: in a release build the class and
/// its hooks do not exist (docs/RELIABILITY.md, "Test-only machinery").
package final class PowerLossSimulator: @unchecked Sendable {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var armed: PowerLossSimulator?

    private let root: String
    private let cutAt: Int
    private var rng: SplitMix
    private let mutex = NSLock()
    package private(set) var steps = 0
    package private(set) var cut = false

    /// An undo record: the bytes and size a file had before an unsynced write.
    private struct Undo {
        var path: String
        var offset: Int
        var old: [UInt8]
        var oldSize: Int
        var written: [UInt8]
    }
    private var unsynced: [Undo] = []

    package init(root: String, cutAt: Int, seed: UInt64) {
        self.root = root.hasSuffix("/") ? root : root + "/"
        self.cutAt = cutAt
        self.rng = SplitMix(seed: seed)
    }

    /// Arms the simulator for its folder until `disarm()`.
    package func arm() { Self.lock.lock(); Self.armed = self; Self.lock.unlock() }
    package func disarm() { Self.lock.lock(); if Self.armed === self { Self.armed = nil }; Self.lock.unlock() }

    static func active(for path: String) -> PowerLossSimulator? {
        lock.lock(); defer { lock.unlock() }
        guard let s = armed, path.hasPrefix(s.root) else { return nil }
        return s
    }

    private func step() throws {
        if cut { throw VaultError.io("simulated power loss (the machine is off)") }
        steps += 1
        if steps == cutAt { powerCut(); throw VaultError.io("simulated power loss") }
    }

    func willStep() throws {
        mutex.lock(); defer { mutex.unlock() }
        try step()
    }

    func willWrite(_ file: PosixFile, bytes: [UInt8], at offset: Int) throws {
        mutex.lock(); defer { mutex.unlock() }
        try step()
        let size = try file.size()
        let old = offset < size ? try file.read(at: offset, count: min(bytes.count, size - offset)) : []
        unsynced.append(Undo(path: file.path, offset: offset, old: old, oldSize: size, written: bytes))
    }

    func willTruncate(_ file: PosixFile, to length: Int) throws {
        mutex.lock(); defer { mutex.unlock() }
        try step()
        let size = try file.size()
        if length < size {
            unsynced.append(Undo(path: file.path, offset: length, old: try file.read(at: length, count: size - length), oldSize: size, written: []))
        }
    }

    func willSync(_ path: String) throws {
        mutex.lock(); defer { mutex.unlock() }
        try step()
        unsynced.removeAll { $0.path == path }
    }

    /// Undo unsynced writes newest first; the newest keeps a random prefix of what it wrote (a torn write).
    private func powerCut() {
        cut = true
        for (i, u) in unsynced.enumerated().reversed() {
            guard let f = try? PosixFile.open(u.path) else { continue }
            if i == unsynced.count - 1 && !u.written.isEmpty {
                // The first `keep` bytes reached the disk; the rest is as before, and the file is only as long as
                // the old size or the persisted prefix, whichever is longer.
                let keep = Int(rng.next() % UInt64(u.written.count + 1))
                let restoredTail = Array(u.old.dropFirst(keep))
                if !restoredTail.isEmpty { Self.rawWrite(f, restoredTail, at: u.offset + keep) }
                _ = ftruncate(f.fd, off_t(max(u.oldSize, u.offset + keep)))
            } else {
                if !u.old.isEmpty { Self.rawWrite(f, u.old, at: u.offset) }
                _ = ftruncate(f.fd, off_t(u.oldSize))
            }
            _ = fsync(f.fd)
        }
        unsynced.removeAll()
    }

    private static func rawWrite(_ f: PosixFile, _ bytes: [UInt8], at offset: Int) {
        _ = bytes.withUnsafeBytes { pwrite(f.fd, $0.baseAddress, $0.count, off_t(offset)) }
    }
}

#endif

/// SplitMix64: a small, fully specified seeded generator, so a failing power cut or torture run replays exactly.
package struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    package init(seed: UInt64) { state = seed }
    package mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
