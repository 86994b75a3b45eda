#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Where one in-memory vault lives (what a path is to the file backend): its current object, replaced whole by a
/// re-encryption. Fast tests run the engine on it; `crash()` keeps only what was synced, as a power loss would.
final class MemoryVaultSlot: Sendable {
    let name: String
    private let current: Mutex<MemoryVaultObject?>
    private static let serials = Atomic<UInt64>(0)

    init(name: String = "memory") {
        self.name = name
        current = Mutex(nil)
    }

    /// A slot holding `bytes` (durable), e.g. a vault file's content loaded into memory.
    convenience init(name: String = "memory", bytes: [UInt8]) {
        self.init(name: name)
        current.withLock { $0 = MemoryVaultObject(serial: MemoryVaultSlot.nextSerial(), bytes: bytes) }
    }

    static func nextSerial() -> UInt64 { serials.wrappingAdd(1, ordering: .relaxed).newValue }

    /// Creates the vault's first content; fails if it exists (like link(2) for a new vault file).
    func create(_ bytes: [UInt8]) throws -> MemoryVaultMedium {
        try current.withLock { c in
            guard c == nil else { throw VaultError.alreadyExists("a vault already exists in this memory slot") }
            let object = MemoryVaultObject(serial: MemoryVaultSlot.nextSerial(), bytes: bytes)
            c = object
            return MemoryVaultMedium(slot: self, object: object)
        }
    }

    /// A handle on the current object.
    /// - Throws: `VaultError.notFound` when the slot is empty (never created, or removed).
    func open() throws -> MemoryVaultMedium { MemoryVaultMedium(slot: self, object: try object()) }

    func object() throws -> MemoryVaultObject {
        guard let o = current.withLock({ $0 }) else { throw VaultError.notFound("vault not found") }
        return o
    }

    func install(_ object: MemoryVaultObject) { current.withLock { $0 = object } }
    func remove() { current.withLock { $0 = nil } }

    /// The current content, synced or not.
    func bytes() throws -> [UInt8] { try object().contents.withLock { $0.bytes } }

    /// A simulated power loss: the current object keeps only its synced bytes; every lock is let go (its holders died).
    func crash() {
        guard let o = current.withLock({ $0 }) else { return }
        o.contents.withLock { c in c.bytes = c.synced; c.readers = [:]; c.writer = nil }
    }
}

/// One stored content of an in-memory vault: bytes written, bytes synced, and an in-process reader/writer lock
/// whose holders are handles.
final class MemoryVaultObject: Sendable {
    struct Contents {
        var bytes: [UInt8]
        var synced: [UInt8]
        var readers: [ObjectIdentifier: Int] = [:]
        var writer: ObjectIdentifier?
    }

    let serial: UInt64
    let contents: Mutex<Contents>

    init(serial: UInt64, bytes: [UInt8]) {
        self.serial = serial
        contents = Mutex(Contents(bytes: bytes, synced: bytes))
    }
}

/// A handle on one object of a `MemoryVaultSlot`. Its locks are its own, like a flock on one open file: two handles
/// on the same vault exclude each other.
final class MemoryVaultMedium: VaultMedium {
    let slot: MemoryVaultSlot
    let object: MemoryVaultObject

    init(slot: MemoryVaultSlot, object: MemoryVaultObject) { self.slot = slot; self.object = object }

    /// A dropped handle lets go of its lock, as closing a file lets go of its flock.
    deinit { unlock() }

    var name: String { slot.name }
    private var me: ObjectIdentifier { ObjectIdentifier(self) }

    func identity() throws -> MediumIdentity { MediumIdentity(high: 0, low: object.serial) }
    func size() throws -> Int { object.contents.withLock { $0.bytes.count } }

    func read(at offset: Int, count: Int) throws -> [UInt8] {
        precondition(offset >= 0 && count >= 0, "negative read")
        return object.contents.withLock { c in
            guard offset < c.bytes.count else { return [] }
            return Array(c.bytes[offset..<min(c.bytes.count, offset + count)])
        }
    }

    func readAll() throws -> [UInt8] { object.contents.withLock { $0.bytes } }

    func writeHeaderCopy(_ bytes: [UInt8], at offset: Int) throws {
        object.contents.withLock { c in
            if c.bytes.count < offset + bytes.count { c.bytes += [UInt8](repeating: 0, count: offset + bytes.count - c.bytes.count) }
            c.bytes.replaceSubrange(offset..<(offset + bytes.count), with: bytes)
        }
    }

    func append(_ bytes: [UInt8], atExpectedEnd end: Int) throws {
        try object.contents.withLock { c in
            guard c.bytes.count == end else { throw VaultError.busy("the vault's end moved under this writer (another writer?)") }
            c.bytes += bytes
        }
    }

    func truncate(to end: Int) throws {
        object.contents.withLock { c in if c.bytes.count > end { c.bytes.removeLast(c.bytes.count - end) } }
    }

    func syncData() throws { object.contents.withLock { $0.synced = $0.bytes } }

    func lock(exclusive: Bool, timeout: Double) throws {
        let deadline = Self.now() + timeout
        while true {
            let taken = object.contents.withLock { c -> Bool in
                // Like flock: a holder converts its own lock.
                let othersRead = c.readers.keys.contains { $0 != me }
                let otherWrites = c.writer != nil && c.writer != me
                if exclusive {
                    guard !othersRead && !otherWrites else { return false }
                    c.readers[me] = nil; c.writer = me
                } else {
                    guard !otherWrites else { return false }
                    if c.writer == me { c.writer = nil }
                    c.readers[me] = 1
                }
                return true
            }
            if taken { return }
            if Self.now() > deadline { throw VaultError.busy("the vault is locked by another holder") }
            usleep(200)
        }
    }

    func unlock() {
        object.contents.withLock { c in
            c.readers[me] = nil
            if c.writer == me { c.writer = nil }
        }
    }

    func isCurrent() throws -> Bool { try slot.object() === object }
    func reopened() throws -> any VaultMedium { try slot.open() }

    func replacing(with bytes: [UInt8]) throws -> any VaultMedium {
        let next = MemoryVaultObject(serial: MemoryVaultSlot.nextSerial(), bytes: bytes)
        let handle = MemoryVaultMedium(slot: slot, object: next)
        next.contents.withLock { $0.writer = ObjectIdentifier(handle) }
        slot.install(next)
        return handle
    }

    private static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
