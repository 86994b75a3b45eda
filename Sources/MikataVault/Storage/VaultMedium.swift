/// Which stored object a medium handle refers to: the same value while nobody replaced the vault's content, a new
/// one after a replacement (a re-encryption, a header growth, a restore). The frame index is keyed by it.
struct MediumIdentity: Equatable, Sendable {
    var high: UInt64
    var low: UInt64
}

/// One vault's bytes, as the engine needs them (docs/ARCHITECTURE.md, "Storage protocols"): the preamble and the
/// two header copies at the front, the chained record frames after them (docs/FORMAT.md §3–§5). The engine
/// decides every byte; a medium only stores them, fences writers and makes them durable. Offsets are the file
/// format's offsets whatever the backend keeps underneath.
///
/// A handle is immutable and `Sendable` (its `syncData` runs beside the access log's sync on another thread); a
/// replacement or a reattachment gives a new handle. The requirements, each with what the local-directory backend
/// (`FileVaultMedium`) does and what a PostgreSQL backend must do:
protocol VaultMedium: AnyObject, Sendable {
    /// How messages and `vault inspect` name the vault (a store path, never personal data).
    var name: String { get }

    /// Which object this handle holds. Files: (device, inode). PostgreSQL: (vault id, content generation).
    func identity() throws -> MediumIdentity

    /// The length of the content: the end of the last frame, or of a torn append. Files: fstat. PostgreSQL: the
    /// end offset of the row with the highest sequence number (frames are rows keyed by (vault, seq)).
    func size() throws -> Int

    /// Up to `count` bytes at `offset` (fewer only at the end). Files: pread in full. PostgreSQL: the header row
    /// for offsets inside the header area, the frame rows covering the range for the rest.
    func read(at offset: Int, count: Int) throws -> [UInt8]

    /// The same into a buffer the caller owns (a walk's reused read chunk, `ReadChunkPool`), returning how many
    /// bytes were read: `buffer.count` unless the content ends first. Files: pread into it. Others may copy from
    /// `read(at:count:)` (the default).
    func read(at offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws -> Int

    /// Overwrites one header copy in place (`Preamble.headerCopyOffset`); the engine writes B, syncs, then A.
    /// Files: pwrite. PostgreSQL: an UPDATE of that copy's row carrying its generation, in its own transaction.
    func writeHeaderCopy(_ bytes: [UInt8], at offset: Int) throws

    /// Appends frame bytes where the caller believes the content ends. If it ends elsewhere (another writer
    /// appended or took back meanwhile), nothing is written and `VaultError.busy` is thrown: the caller read a
    /// stale tail. Files: the size is compared under the exclusive flock, then pwrite. PostgreSQL: an INSERT of
    /// the row (vault, seq) whose unique constraint fails on a race, in a transaction that checks the fencing
    /// token of the writer's lease.
    func append(_ bytes: [UInt8], atExpectedEnd end: Int) throws

    /// Takes back everything after `end`: an append whose sync or log entry failed, or a torn tail an earlier
    /// writer left. Files: ftruncate. PostgreSQL: DELETE of the rows at or after that frame (fenced like append).
    func truncate(to end: Int) throws

    /// Makes every write so far durable; an append counts as done only after it. Files: fdatasync. PostgreSQL:
    /// the transaction's COMMIT (with synchronous_commit on).
    func syncData() throws

    /// Takes the vault's lock, shared (readers) or exclusive (the single writer), polling until `timeout`
    /// seconds, then `VaultError.busy`. Files: flock on the open file. PostgreSQL: an advisory lock on the vault
    /// id (pg_advisory_lock_shared / pg_advisory_lock) or a lease row whose fencing token every write checks, so a
    /// writer whose lease expired cannot write after its successor.
    func lock(exclusive: Bool, timeout: Double) throws
    func unlock()

    /// Whether this handle still holds the vault's current object, checked under the lock: a writer may have
    /// replaced the content while this one waited. Throws `VaultError.notFound` if the vault is gone (shredded).
    /// Files: the path's inode against the open file's. PostgreSQL: the vault row's content generation.
    func isCurrent() throws -> Bool

    /// A handle on the vault's current object (after `isCurrent` said false). Files: open(2) of the path again.
    func reopened() throws -> any VaultMedium

    /// Every byte (a re-encryption keeps the old content for its undo).
    func readAll() throws -> [UInt8]

    /// Replaces the whole content at once: afterwards readers see the old content or the new, never a mix. The
    /// returned handle holds the new object with the exclusive lock already taken (taken before the new content
    /// became visible, so no other writer slips in). Files: a locked temporary, fsync, rename over the vault,
    /// fsync of the folder. PostgreSQL: one transaction that deletes the frame rows, inserts the new ones and the
    /// header rows, and bumps the content generation.
    func replacing(with bytes: [UInt8]) throws -> any VaultMedium
}

extension VaultMedium {
    func read(at offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let bytes = try read(at: offset, count: buffer.count)
        bytes.withUnsafeBytes { buffer.copyMemory(from: $0) }
        return bytes.count
    }
}
