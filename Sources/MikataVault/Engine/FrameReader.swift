import MikataCrypto
import MikataFormat

/// One frame met by a walk of the records region: where it lies, its checked header and trailer, the link its
/// successor must carry and, when the walk reads bodies, the bytes that hold it (a chunk shared with the frames
/// beside it, not a copy), so that splitting and decrypting it can run on another thread.
struct WalkedFrame {
    let offset: Int
    let header: RecordFrame.Header
    let link: [UInt8]
    /// The frame's bytes from `index` on in its chunk (its trailer was checked by the walk, so only the split into
    /// fields remains: `RecordFrame.bodyLayout`, then `Vault.decrypt` in place).
    let body: (chunk: FrameChunk, index: Int)?
}

/// Reads the records region of a vault frame by frame through one bounded buffer (FORMAT.md §5.2): memory is
/// O(chunk + largest frame), never O(file). The end is the file's size when the walk began; callers hold the
/// vault's lock, so no writer moves it meanwhile. Errors are `FormatError`s for the caller to name
/// (`VaultError.parsing("record N")`), or `VaultError` for I/O.
struct FrameReader {
    /// 1 MiB: a few thousand small frames per read, and a buffer that stays small beside a frame of 16 MiB.
    static let defaultChunkSize = 1 << 20

    private let file: (any VaultMedium)?
    private let pool: ReadChunkPool
    let end: Int
    let chunkSize: Int
    /// The chunk read last; frames waiting in a batch keep earlier ones alive.
    private var chunk: FrameChunk
    private var buffer: [UInt8] { chunk.bytes }
    private var bufferStart: Int
    /// Where the next frame starts.
    private(set) var offset: Int

    init(medium file: any VaultMedium, from offset: Int, end: Int, chunkSize: Int = FrameReader.defaultChunkSize, pool: ReadChunkPool = .shared) {
        self.file = file; self.pool = pool; self.end = end; self.chunkSize = max(chunkSize, RecordFrame.headerLength)
        chunk = FrameChunk(bytes: [], count: 0); bufferStart = offset; self.offset = offset
    }

    /// A walk over bytes already in memory (a whole-file rewrite keeps the old file for its undo anyway).
    init(bytes: [UInt8], from offset: Int) {
        file = nil; pool = .shared; end = bytes.count; chunkSize = bytes.count
        chunk = FrameChunk(bytes: bytes, count: bytes.count); bufferStart = 0; self.offset = offset
    }

    enum Step {
        case frame(WalkedFrame)
        /// No complete frame at `offset`: the end of the file, or `tornBytes` of an interrupted append before it.
        case end(tornBytes: Int)
    }

    /// The next frame, or the end. With `body: false`, a frame larger than a chunk is checked from its header, tag
    /// and trailer alone (what `vault inspect` needs); smaller ones come from the chunk either way.
    mutating func next(body: Bool) throws -> Step {
        let remaining = end - offset
        if remaining == 0 { return .end(tornBytes: 0) }
        // FORMAT.md §5.2, in `RecordFrame.scan`'s order.
        if remaining < RecordFrame.headerLength { return .end(tornBytes: remaining) }
        var i = try window(offset, RecordFrame.headerLength)
        guard RecordFrame.startsWithMagic(buffer, at: i) else {
            if try restIsZero(from: offset) { return .end(tornBytes: remaining) }
            throw FormatError.badMagic("record frame at byte \(offset)")
        }
        let header = try RecordFrame.parseHeader(buffer, at: i, position: offset)
        let length = header.length
        if length > remaining { return .end(tornBytes: remaining) }
        let walked: WalkedFrame
        if body || length <= chunkSize {
            i = try window(offset, length)
            let tagAt = i + length - RecordFrame.trailerLength - RecordFrame.tagLength
            try RecordFrame.checkTrailer(buffer, at: i + length - RecordFrame.trailerLength, length: length, end: offset + length)
            walked = WalkedFrame(offset: offset, header: header,
                                 link: VaultFormat.link(fixedHeader: buffer[i..<(i + RecordFrame.fixedHeaderLength)],
                                                        tag: buffer[tagAt..<(tagAt + RecordFrame.tagLength)]),
                                 body: body ? (chunk, i) : nil)
        } else {
            let fixed = Array(buffer[i..<(i + RecordFrame.fixedHeaderLength)])
            let tail = try read(at: offset + length - RecordFrame.trailerLength - RecordFrame.tagLength,
                                count: RecordFrame.tagLength + RecordFrame.trailerLength)
            try RecordFrame.checkTrailer(tail, at: RecordFrame.tagLength, length: length, end: offset + length)
            walked = WalkedFrame(offset: offset, header: header, link: VaultFormat.link(fixedHeader: fixed[...], tag: tail[0..<RecordFrame.tagLength]),
                                 body: nil)
        }
        offset += length
        return .frame(walked)
    }

    /// `count` bytes at `position` (a small read beside the walk, e.g. the trailer at the end of the file).
    func read(at position: Int, count: Int) throws -> [UInt8] {
        precondition(position >= 0 && count >= 0 && position + count <= end, "read outside the walked region")
        if position >= bufferStart && position + count <= bufferStart + chunk.count {
            return Array(buffer[(position - bufferStart)..<(position - bufferStart + count)])
        }
        guard let file else { preconditionFailure("an in-memory walk holds every byte") }
        let bytes = try file.read(at: position, count: count)
        guard bytes.count == count else { throw VaultError.corrupted("the vault file shrank while it was read") }
        return bytes
    }

    /// The buffer index of `position`, after making sure the buffer holds `count` bytes from there: a new chunk
    /// (or the frame, if larger) is read from `position` when it does not.
    private mutating func window(_ position: Int, _ count: Int) throws -> Int {
        if position >= bufferStart && position + count <= bufferStart + chunk.count { return position - bufferStart }
        guard let file else { preconditionFailure("an in-memory walk holds every byte") }
        let size = min(max(chunkSize, count), end - position)
        // A pooled buffer (ReadChunkPool): frames still waiting in a batch keep the old chunk alive meanwhile.
        var (bytes, pooled) = pool.take(count: size)
        let n = try bytes.withUnsafeMutableBytes { try file.read(at: position, into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<size])) }
        guard n == size else { throw VaultError.corrupted("the vault file shrank while it was read") }
        chunk = FrameChunk(bytes: bytes, count: size, pool: pooled ? pool : nil)
        bufferStart = position
        return 0
    }

    /// Whether every byte from `position` to the end is zero (a torn tail of zeros), read chunk by chunk.
    private mutating func restIsZero(from position: Int) throws -> Bool {
        var p = position
        while p < end {
            let n = min(chunkSize, end - p)
            let i = try window(p, n)
            guard buffer[i..<(i + n)].allSatisfy({ $0 == 0 }) else { return false }
            p += n
        }
        return true
    }
}
