/// The access log in memory, for fast tests: one `MemoryVaultSlot` of lines.
struct MemoryAccessLogSink: AccessLogSink {
    let slot = MemoryVaultSlot(name: "memory-log")

    func openLocked(creating: Bool) throws -> any AccessLogWriter {
        let handle: MemoryVaultMedium
        do { handle = try slot.open() } catch VaultError.notFound {
            guard creating else { throw VaultError.tampered("the access log is missing: every store's log starts with its creation, so it was deleted") }
            if let made = try? slot.create([]) { handle = made } else { handle = try slot.open() }
        }
        if !creating, try handle.size() == 0 {
            throw VaultError.tampered("the access log is empty: every store's log starts with its creation, so it was emptied")
        }
        try handle.lock(exclusive: true, timeout: 10)
        guard try handle.isCurrent() else { handle.unlock(); return try openLocked(creating: creating) }
        return handle
    }

    func readAll() throws -> [UInt8]? { try? slot.bytes() }

    /// Bytes per read of the line walks (small, so the memory backend's tests cross chunk ends too).
    static let chunkSize = 256

    func forEachLine(after: UInt64?, seqOf: (ArraySlice<UInt8>) -> UInt64?, _ body: (ArraySlice<UInt8>) throws -> Bool) throws {
        guard let bytes = try readAll() else { return }
        try AccessLogSeek.lines(in: AccessLogSnapshot(bytes: bytes), after: after, seqOf: seqOf, chunkSize: Self.chunkSize, body)
    }

    func forEachLineReversed(before: UInt64?, seqOf: (ArraySlice<UInt8>) -> UInt64?, _ body: (ArraySlice<UInt8>) throws -> Bool) throws {
        guard let bytes = try readAll() else { return }
        try AccessLogSeek.linesReversed(in: AccessLogSnapshot(bytes: bytes), before: before, seqOf: seqOf, chunkSize: Self.chunkSize, body)
    }

    func replace(with bytes: [UInt8]) throws { slot.install(MemoryVaultObject(serial: MemoryVaultSlot.nextSerial(), bytes: bytes)) }
}
