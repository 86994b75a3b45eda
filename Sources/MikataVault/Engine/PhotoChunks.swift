import MikataFormat

// Photos (docs/FORMAT.md §5.9, docs/ADHERENCE.md "Photos"): the image bytes travel in internal records of type
// `mikata.photo-chunk` whose data is binary (not JSON), appended through this narrow entry point; the public
// `append` keeps refusing `mikata.*` types and non-JSON data. The service layer writes the `photo` manifest (strict
// JSON) through the public `append` after the last chunk.

extension Vault {
    /// The internal record type of a photo's chunks (hidden from reads unless asked for by name).
    package static let photoChunkRecordType = "mikata.photo-chunk"
    /// The read window of photo reads: one chunk frame (256 KiB of image, its header, payload and frame overhead).
    static let photoReadWindow = 272 << 10

    /// Appends one photo chunk (its data as docs/FORMAT.md §5.9 lays it out: the service builds and checks it) as
    /// the session's actor: signed, encrypted, durable and logged exactly like any append (one `append` entry).
    /// - Returns: the record's sequence number.
    /// - Throws: `VaultError.invalidInput` (empty or larger than `VaultFormat.recordDataMax`), and what `append` throws.
    @discardableResult
    package func appendPhotoChunk(_ data: [UInt8], session: VaultSession) throws -> UInt64 {
        guard !data.isEmpty else { throw VaultError.invalidInput("a photo chunk is never empty") }
        try Vault.checkRecord(type: Vault.photoChunkRecordType, data: data, isInternal: true)
        return try appendRecord(type: Vault.photoChunkRecordType, data: data, timeMillis: Posix.wallClockMillis(), session: session)
    }

    /// A page of records as `records(_:after:limit:maxBytes:types:)` reads it, but decrypting one frame at a time
    /// (no batch read ahead, no parallel decryption) through a read window of `photoReadWindow` bytes instead of
    /// 1 MiB: photo reads walk past chunk frames of up to 256 KiB, and a batch of them would hold megabytes.
    /// Memory: about one chunk frame and its plaintext, whatever the vault. Logged as one read.
    /// - Throws: `VaultError.invalidInput` (limit, byte budget), `.notPermitted` (a write-only service), and what a
    ///   read throws (`.tampered`, `.corrupted`, ...).
    package func recordsOneAtATime(_ session: VaultSession, after: UInt64?, limit: Int, maxBytes: Int, types: Set<String>?,
                                   includeInternal: Bool = false) throws -> RecordPage {
        guard (1...Vault.pageLimitMax).contains(limit) else { throw VaultError.invalidInput("a page holds 1 to \(Vault.pageLimitMax) records") }
        guard maxBytes > 0 else { throw VaultError.invalidInput("a page's byte budget must be positive") }
        let filter = try RecordFilter(types: types, from: nil, until: nil, includeInternal: includeInternal)
        return try audited("read", actor: Vault.actor(of: session), detail: { "\($0.records.count) records" }) {
            try locked(exclusive: false) {
                try prepare(session)
                guard let keyring = session.keyring else { throw VaultError.notPermitted("a write-only service cannot read the vault") }
                var page: [Record] = []
                var bytes = 0
                var last: UInt64?
                let window = readChunkSize
                readChunkSize = min(window, Vault.photoReadWindow)
                defer { readChunkSize = window }
                let result = try walkFile(from: after, keyring: keyring, decryptFrom: Vault.firstSeq(after: after), pipelined: false,
                                          batch: { _, _ in BatchWant(frames: 1, bytes: Vault.batchBytesMax) }) { r, _ in
                    last = r.seq
                    guard filter.matches(r) else { return true }
                    page.append(r)
                    bytes += r.data.count
                    return page.count < limit && bytes < maxBytes
                }
                return RecordPage(records: page, nextAfter: result.reachedEnd ? nil : last)
            }
        }
    }
}
