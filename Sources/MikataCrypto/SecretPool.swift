internal import CSodium
#if canImport(Glibc)
import Glibc
#endif

/// Guarded memory for small secrets, packed into slabs (docs/SECURITY.md, "Guarded memory").
///
/// One `sodium_malloc` per secret costs four pages and up to four memory mappings (guard, data, guard, and the
/// header page), so a process could hold only a few thousand unlocked sessions before `vm.max_map_count` (65,530)
/// ran out, and most of their pages went unlocked past `RLIMIT_MEMLOCK`. Secrets of up to `largestSlot` bytes
/// instead take a fixed-size slot in a slab: one `sodium_malloc`'d region (mlocked, guard pages around it) of
/// `slabBytes`. A slab is read-only except while one of its slots is being written (filled or zeroed); a released
/// slot is zeroed before it can be handed out again; an empty slab is freed, except one spare per slot size.
package final class SecretPool: @unchecked Sendable {
    package static let shared = SecretPool()

    /// Slot sizes; a larger secret gets its own `sodium_malloc`.
    static let slotSizes = [32, 64, 128, 256]
    package static var largestSlot: Int { slotSizes[slotSizes.count - 1] }
    /// 16 pages once libsodium's 16-byte canary is added (so no 17th page), a multiple of every slot size's alignment.
    package static let slabBytes = (64 << 10) - 64

    /// A slot handed out: where it is, and which slab to give it back to.
    struct Slot {
        let slab: Slab
        let index: Int
        var pointer: UnsafeMutableRawPointer { slab.base + index * slab.slotSize }
    }

    final class Slab {
        let base: UnsafeMutableRawPointer
        let slotSize: Int
        let slotCount: Int
        /// Free slot indices, a stack (the most recently freed slot is reused first).
        var free: [Int]
        /// Slots being written right now: the slab is read-write while this is above zero.
        var writers = 0

        init?(slotSize: Int) {
            guard let p = sodium_malloc(SecretPool.slabBytes) else { return nil }
            base = p
            self.slotSize = slotSize
            slotCount = SecretPool.slabBytes / slotSize
            free = Array((0..<slotCount).reversed())
            // sodium_malloc fills new memory with a marker byte; free slots always read zero.
            sodium_memzero(p, SecretPool.slabBytes)
            sodium_mprotect_readonly(p)
        }

        func destroy() {
            // sodium_free zeroes the whole region before unmapping it.
            sodium_mprotect_readwrite(base)
            sodium_free(base)
        }

        var isEmpty: Bool { free.count == slotCount }
    }

    /// The slabs of one slot size, behind one lock.
    private final class SizeClass {
        let slotSize: Int
        let lock = PosixMutex()
        var slabs: [Slab] = []
        var spare: Slab?
        init(slotSize: Int) { self.slotSize = slotSize }
    }

    private let classes: [SizeClass] = SecretPool.slotSizes.map { SizeClass(slotSize: $0) }

    /// A zeroed slot for `count` bytes, its slab opened for writing (call `endWrite` once filled), or nil when the
    /// secret is too large for a slot. Throws only when no memory can be mapped.
    func allocate(count: Int) throws -> Slot? {
        guard let sizeClass = classes.first(where: { $0.slotSize >= count }) else { return nil }
        return try sizeClass.lock.withLock {
            let slab: Slab
            if let s = sizeClass.slabs.first(where: { !$0.free.isEmpty }) {
                slab = s
            } else if let s = sizeClass.spare {
                sizeClass.spare = nil
                sizeClass.slabs.append(s)
                slab = s
            } else {
                guard let s = Slab(slotSize: sizeClass.slotSize) else { throw CryptoError.outOfMemory }
                sizeClass.slabs.append(s)
                slab = s
            }
            let index = slab.free.removeLast()
            Self.openForWriting(slab)
            return Slot(slab: slab, index: index)
        }
    }

    /// Ends the write that `allocate` began: the slab goes back to read-only once no slot of it is being written.
    func endWrite(_ slot: Slot) {
        lockOf(slot.slab).withLock { Self.closeForWriting(slot.slab) }
    }

    /// Zeroes the slot and gives it back; frees the slab once it is empty (one spare is kept per slot size).
    func release(_ slot: Slot) {
        let sizeClass = classOf(slot.slab)
        sizeClass.lock.withLock {
            let slab = slot.slab
            Self.openForWriting(slab)
            sodium_memzero(slot.pointer, slab.slotSize)
            Self.closeForWriting(slab)
            slab.free.append(slot.index)
            guard slab.isEmpty, let i = sizeClass.slabs.firstIndex(where: { $0 === slab }) else { return }
            sizeClass.slabs.remove(at: i)
            if sizeClass.spare == nil { sizeClass.spare = slab } else { slab.destroy() }
        }
    }

    private static func openForWriting(_ slab: Slab) {
        if slab.writers == 0 { sodium_mprotect_readwrite(slab.base) }
        slab.writers += 1
    }

    private static func closeForWriting(_ slab: Slab) {
        slab.writers -= 1
        if slab.writers == 0 { sodium_mprotect_readonly(slab.base) }
    }

    private func classOf(_ slab: Slab) -> SizeClass { classes.first { $0.slotSize == slab.slotSize }! }
    private func lockOf(_ slab: Slab) -> PosixMutex { classOf(slab).lock }

    // MARK: figures and test hooks

    package struct Statistics: Sendable, Equatable {
        /// Slabs mapped, the spares included.
        package var slabs: Int
        package var slotsInUse: Int
        /// The sizes of the slots in use, added up.
        package var bytesInUse: Int
        /// Slots that are free and not all zero: always 0 (a released slot is zeroed before it is free).
        package var dirtyFreeSlots: Int
        /// Guarded bytes mapped for slabs (each slab also has its guard pages and libsodium's header page).
        package var slabBytes: Int
    }

    /// Counts slabs and slots; with `checkingFreeSlots`, also reads every free slot back (each size's lock held in turn).
    package func statistics(checkingFreeSlots: Bool = false) -> Statistics {
        var out = Statistics(slabs: 0, slotsInUse: 0, bytesInUse: 0, dirtyFreeSlots: 0, slabBytes: 0)
        for sizeClass in classes {
            sizeClass.lock.withLock {
                let all = sizeClass.slabs + (sizeClass.spare.map { [$0] } ?? [])
                out.slabs += all.count
                out.slabBytes += all.count * SecretPool.slabBytes
                for slab in all {
                    out.slotsInUse += slab.slotCount - slab.free.count
                    out.bytesInUse += (slab.slotCount - slab.free.count) * slab.slotSize
                    guard checkingFreeSlots else { continue }
                    for index in slab.free where !Self.isZero(Slot(slab: slab, index: index)) { out.dirtyFreeSlots += 1 }
                }
            }
        }
        return out
    }

    /// The bytes of a slot now, whoever holds it (nil if its slab was freed): lets a test see that a released slot
    /// reads back zero before it is reused.
    package func contents(ofSlot location: SecureBytes.SlotLocation) -> [UInt8]? {
        for sizeClass in classes {
            let found: [UInt8]? = sizeClass.lock.withLock {
                let all = sizeClass.slabs + (sizeClass.spare.map { [$0] } ?? [])
                guard let slab = all.first(where: { ObjectIdentifier($0) == location.slab }) else { return nil }
                return Array(UnsafeRawBufferPointer(start: Slot(slab: slab, index: location.index).pointer, count: slab.slotSize))
            }
            if let found { return found }
        }
        return nil
    }

    private static func isZero(_ slot: Slot) -> Bool {
        sodium_is_zero(slot.pointer.assumingMemoryBound(to: UInt8.self), slot.slab.slotSize) == 1
    }
}

/// A pthread mutex (the crypto layer has no Foundation).
final class PosixMutex: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func withLock<R>(_ body: () throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }
}
