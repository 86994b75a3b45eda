import Synchronization

/// One chunk of a vault file read by a walk (`FrameReader`), shared by the frames that lie in it: they keep it
/// alive until their batch is decrypted. When the last of them lets go, its buffer goes back to `ReadChunkPool`
/// for the next walk's chunk, so a read does not fault in (and the kernel zero) fresh pages for every chunk.
/// Immutable once read: the reader fills a chunk before any frame refers to it.
final class FrameChunk: @unchecked Sendable {
    /// The chunk's bytes: at least as many as were read into it; only the first `count` are the file's.
    let bytes: [UInt8]
    /// How many bytes of `bytes` the read filled.
    let count: Int
    /// Where the buffer goes back to (nil: it is freed).
    let pool: ReadChunkPool?

    init(bytes: [UInt8], count: Int, pool: ReadChunkPool? = nil) {
        precondition(count <= bytes.count, "a chunk holds at most its buffer")
        self.bytes = bytes; self.count = count; self.pool = pool
    }

    deinit { pool?.recycle(bytes) }
}

/// Buffers for walks' read chunks (`FrameReader.defaultChunkSize`), kept between reads, process-wide: at most
/// `limit` idle buffers (16 MiB at 1 MiB each), the rest freed. A buffer holds ciphertext and frame headers as they
/// are on disk, never plaintext or keys. Thread-safe.
final class ReadChunkPool: Sendable {
    static let shared = ReadChunkPool(bufferSize: FrameReader.defaultChunkSize, limit: 16)

    let bufferSize: Int
    let limit: Int
    private let idle = Mutex<[[UInt8]]>([])

    init(bufferSize: Int, limit: Int) { self.bufferSize = bufferSize; self.limit = limit }

    /// A buffer of at least `count` bytes to read into, and whether it may come back (`recycle`): an idle one when
    /// `count` is more than half the pool's size and fits it, else a new one (of the pool's size in that case, so
    /// it can come back; of `count` bytes exactly otherwise, e.g. a photo's small read window, so a small read does
    /// not hold a whole pooled buffer). Its bytes are whatever it held before, and a new one's are not zero-filled:
    /// the reader uses only the bytes its read wrote.
    func take(count: Int) -> (bytes: [UInt8], pooled: Bool) {
        let pooled = count > bufferSize / 2 && count <= bufferSize
        if pooled, let b = idle.withLock({ $0.popLast() }) { return (b, true) }
        let size = pooled ? bufferSize : count
        return ([UInt8](unsafeUninitializedCapacity: size) { _, initialized in initialized = size }, pooled)
    }

    /// Keeps `buffer` for a later `take` if it has the pool's size and the pool is not full.
    func recycle(_ buffer: [UInt8]) {
        guard buffer.count == bufferSize else { return }
        idle.withLock { if $0.count < limit { $0.append(buffer) } }
    }

    /// Idle buffers now (tests).
    var idleCount: Int { idle.withLock { $0.count } }
}
