#if canImport(Glibc)
import Glibc
#endif
@testable import MikataCrypto
import Testing

/// The number of memory mappings of this process (`vm.max_map_count` caps it, 65,530 by default).
private func mappingCount() -> Int {
    guard let f = fopen("/proc/self/maps", "r") else { return -1 }
    defer { fclose(f) }
    var lines = 0
    while true {
        let c = fgetc(f)
        if c == EOF { return lines }
        if c == 10 { lines += 1 }
    }
}

@Suite("Pooled guarded memory", .serialized)
struct SecretPoolTests {
    @Test("a released slot reads back zero, and is reused with the new secret's bytes only")
    func releasedSlotIsZeroed() throws {
        // Through SecureBytes on the shared pool. Other suites allocate from it at the same time, so the freed slot
        // may be taken again at once: what holds whatever they do is that no free slot is ever dirty.
        var secret: SecureBytes? = SecureBytes(copying: [UInt8](repeating: 0xA5, count: 32))
        let location = try #require(secret?.slotLocation)
        #expect(SecretPool.shared.contents(ofSlot: location) == [UInt8](repeating: 0xA5, count: 32))
        #expect(secret?.unsafeCopyToArray() == [UInt8](repeating: 0xA5, count: 32))
        secret = nil
        #expect(SecretPool.shared.statistics(checkingFreeSlots: true).dirtyFreeSlots == 0)

        // Reuse, on a pool of this test's own that nothing else allocates from.
        let pool = SecretPool()
        func take(_ bytes: [UInt8]) throws -> SecretPool.Slot {
            let slot = try #require(try pool.allocate(count: bytes.count))
            bytes.withUnsafeBytes { slot.pointer.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
            pool.endWrite(slot)
            return slot
        }
        func slotOf(_ slot: SecretPool.Slot) -> SecureBytes.SlotLocation {
            SecureBytes.SlotLocation(slab: ObjectIdentifier(slot.slab), index: slot.index)
        }
        let neighbour = try take([UInt8](repeating: 0x11, count: 32))  // keeps the slab mapped
        let first = try take([UInt8](repeating: 0xA5, count: 32))
        #expect(pool.contents(ofSlot: slotOf(first)) == [UInt8](repeating: 0xA5, count: 32))
        pool.release(first)
        #expect(pool.contents(ofSlot: slotOf(first)) == [UInt8](repeating: 0, count: 32))
        // The most recently freed slot of this size is handed out next; a shorter secret leaves the rest zero.
        let next = try take([UInt8](repeating: 0x5A, count: 20))
        #expect(slotOf(next) == slotOf(first))
        #expect(pool.contents(ofSlot: slotOf(next)) == [UInt8](repeating: 0x5A, count: 20) + [UInt8](repeating: 0, count: 12))
        #expect(pool.contents(ofSlot: slotOf(neighbour)) == [UInt8](repeating: 0x11, count: 32))
        #expect(pool.statistics(checkingFreeSlots: true).dirtyFreeSlots == 0)
        pool.release(next)
        pool.release(neighbour)
        #expect(pool.statistics(checkingFreeSlots: true) == SecretPool.Statistics(slabs: 1, slotsInUse: 0, bytesInUse: 0, dirtyFreeSlots: 0,
                                                                                  slabBytes: SecretPool.slabBytes))
    }

    @Test("an initializer that throws leaves its slot zeroed and free")
    func throwingInitializer() throws {
        struct Refused: Error {}
        #expect(throws: Refused.self) {
            _ = try SecureBytes(count: 32) { buf in
                for i in 0..<buf.count { buf[i] = 0xEE }
                throw Refused()
            }
        }
        #expect(SecretPool.shared.statistics(checkingFreeSlots: true).dirtyFreeSlots == 0)
    }

    @Test("secrets larger than a slot keep their own allocation")
    func largeSecrets() {
        let big = SecureBytes(copying: [UInt8](repeating: 7, count: SecretPool.largestSlot + 1))
        #expect(big.slotLocation == nil)
        #expect(big.unsafeCopyToArray() == [UInt8](repeating: 7, count: SecretPool.largestSlot + 1))
        #expect(SecureBytes(copying: [1, 2, 3]).slotLocation != nil)
        #expect(SecureBytes(copying: []).slotLocation != nil)
    }

    @Test("many threads create, check and release secrets at once; every freed slot reads zero")
    func concurrentCreateAndRelease() async {
        let sizes = [0, 1, 31, 32, 33, 64, 100, 128, 200, 256]
        await withTaskGroup(of: Int.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    var mismatches = 0
                    var held: [(SecureBytes, UInt8)] = []
                    for i in 0..<3000 {
                        let fill = UInt8(truncatingIfNeeded: worker &* 31 &+ i) | 1
                        let count = sizes[(worker + i) % sizes.count]
                        held.append((SecureBytes(copying: [UInt8](repeating: fill, count: count)), fill))
                        if held.count > 40 || i % 3 == 0 {
                            let (s, f) = held.removeFirst()
                            if s.unsafeCopyToArray() != [UInt8](repeating: f, count: s.count) { mismatches += 1 }
                        }
                    }
                    for (s, f) in held where s.unsafeCopyToArray() != [UInt8](repeating: f, count: s.count) { mismatches += 1 }
                    return mismatches
                }
            }
            group.addTask {
                // Meanwhile: every free slot must read zero whenever we look.
                var dirty = 0
                for _ in 0..<50 { dirty += SecretPool.shared.statistics(checkingFreeSlots: true).dirtyFreeSlots }
                return dirty
            }
            var total = 0
            for await n in group { total += n }
            #expect(total == 0)
        }
        #expect(SecretPool.shared.statistics(checkingFreeSlots: true).dirtyFreeSlots == 0)
    }

    @Test("10,000 sessions' worth of secrets take a bounded number of mappings")
    func tenThousandSessions() {
        // An owner session holds about eight secrets: owner key, signing seed and expanded key, the vault's erasure
        // secret, and per epoch its key, record key and write key (sizes 32 and 64).
        let before = mappingCount()
        var sessions: [[SecureBytes]] = []
        sessions.reserveCapacity(10_000)
        for _ in 0..<10_000 {
            sessions.append([32, 32, 64, 32, 32, 32, 32, 32].map { SecureBytes.random(count: $0) })
        }
        let held = mappingCount() - before
        // One sodium_malloc each would need 80,000 allocations, at least 160,000 mappings: past vm.max_map_count.
        #expect(held < 2_000, "\(held) new mappings for 10,000 sessions")
        #expect(sessions.allSatisfy { $0.count == 8 && $0[0] != $0[1] })
    }
}
