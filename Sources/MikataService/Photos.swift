import Foundation
import MikataCrypto
import MikataFormat
import MikataVault

// Issue 10 §1 photos (docs/ADHERENCE.md "Photos", docs/FORMAT.md §5.9): a JPEG or PNG (e.g. the empty blister pack)
// stored encrypted in the patient's vault as raw chunks of at most 256 KiB (internal records `mikata.photo-chunk`),
// then a `photo` manifest record (strict JSON) once the last chunk is durable: a photo is visible only when whole,
// and an upload cut short leaves chunks no manifest names, which every reader ignores. Bytes stream in and out one
// chunk at a time: neither the vault nor the photo is ever held whole in memory.

/// The image types a photo may have, recognised by their first bytes (magic numbers), never by a name or a claim.
public enum PhotoContentType: String, Sendable, CaseIterable, Hashable {
    /// JPEG (ISO/IEC 10918-1 / JFIF, EXIF): starts FF D8 FF.
    case jpeg = "image/jpeg"
    /// PNG (ISO/IEC 15948 §5.2 signature): starts 89 50 4E 47 0D 0A 1A 0A.
    case png = "image/png"

    /// The first bytes of each type.
    public var magic: [UInt8] {
        switch self {
        case .jpeg: return [0xFF, 0xD8, 0xFF]
        case .png: return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        }
    }

    /// The type whose magic number `prefix` starts with (at least 8 bytes are needed to tell), nil for anything else.
    public static func sniff(_ prefix: some Collection<UInt8>) -> PhotoContentType? {
        allCases.first { prefix.count >= $0.magic.count && prefix.prefix($0.magic.count).elementsEqual($0.magic) }
    }

    /// A media type as an HTTP `Content-Type` names it (RFC 9110 §8.3.1: case-insensitive type and subtype,
    /// parameters ignored), nil when it is neither `image/jpeg` nor `image/png`.
    public init?(mediaType: String) {
        let essence = mediaType.split(separator: ";", maxSplits: 1).first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        guard let t = PhotoContentType(rawValue: essence) else { return nil }
        self = t
    }
}

/// A stored photo: its `photo` manifest record (docs/FORMAT.md §5.9).
public struct PhotoManifest: Sendable, Hashable {
    /// The manifest record's sequence number: the photo's id in every API (`photo(_:id:)`, `GET .../photos/{id}`).
    public let id: UInt64
    /// Who stored it (the manifest's signed author, the same as every chunk's).
    public let author: RecordAuthor
    /// When the manifest was written: milliseconds since the Unix epoch (UTC).
    public let timeMillis: Int64
    /// JPEG or PNG, as its first bytes say.
    public let contentType: PhotoContentType
    /// The image's size in bytes.
    public let byteCount: Int
    /// How many chunk records hold it.
    public let chunkCount: Int
    /// BLAKE2b-256 of the image bytes (RFC 7693), 64 lower-case hexadecimal digits.
    public let blake2b256: String
    /// The `dose-event` record (its sequence number) the photo documents, if one was named.
    public let doseEvent: UInt64?
    /// The random id (32 hexadecimal digits) every chunk of this upload carries.
    public let uploadId: String
    /// The first and last chunk records' sequence numbers (records between them that are not its chunks are skipped).
    public let firstChunkSeq: UInt64
    /// See `firstChunkSeq`.
    public let lastChunkSeq: UInt64

    /// The manifest as JSON (sorted keys; docs/openapi.yaml `Photo`): `id`, `author`, `time` (ISO 8601 UTC),
    /// `contentType`, `byteCount`, `chunkCount`, `blake2b256`, `doseEvent`? (omitted when none).
    public func json() -> [UInt8] {
        var object: [String: Any] = ["id": id, "author": author.description, "contentType": contentType.rawValue,
                                     "byteCount": byteCount, "chunkCount": chunkCount, "blake2b256": blake2b256,
                                     "time": Date(timeIntervalSince1970: Double(timeMillis) / 1000).formatted(.iso8601)]
        if let doseEvent { object["doseEvent"] = doseEvent }
        return (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])).map(Array.init) ?? Array("{}".utf8)
    }
}

/// A photo just stored.
public struct StoredPhoto: Sendable {
    /// The vault it went into.
    public let vaultId: VaultID
    /// Its manifest.
    public let manifest: PhotoManifest
    /// A supporter's pin check when the patient was named by e-mail (`.notApplicable` otherwise).
    public let pin: VaultPinCheck
}

/// The photos of a vault.
public struct PhotoList: Sendable {
    /// The vault read.
    public let vaultId: VaultID
    /// Every complete photo (manifest), in the order they were stored.
    public let photos: [PhotoManifest]
    /// `photo` records that are not a manifest (free-form records of that type written before photos existed).
    public let unreadableRecords: Int
    /// A supporter's pin check when the patient was named by e-mail (`.notApplicable` otherwise).
    public let pin: VaultPinCheck

    /// The list as JSON: `{"vaultId", "photos": [Photo...], "unreadableRecords"}` (sorted keys).
    public func json() -> [UInt8] {
        var out = Array(#"{"photos":["#.utf8)
        for (i, p) in photos.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out += p.json()
        }
        out += Array(#"],"unreadableRecords":\#(unreadableRecords),"vaultId":"\#(vaultId.hex)"}"#.utf8)
        return out
    }
}

/// A photo being read: its manifest, and its bytes as a stream of chunks (each at most 256 KiB), read from the
/// vault one chunk record at a time as the consumer asks for them.
public struct PhotoDownload: Sendable {
    /// The vault read.
    public let vaultId: VaultID
    /// The manifest (read and logged before any byte).
    public let manifest: PhotoManifest
    /// The image bytes in order. The stream checks each chunk as it goes (its upload id, author, index, the running
    /// size) and, after the last, the byte count and BLAKE2b-256: a mismatch ends it with `MikataError(.tampered)`
    /// (or `.corrupted`), after the chunks before it were delivered; the consumer must then discard what it got.
    public let chunks: AsyncThrowingStream<[UInt8], any Error>
    /// A supporter's pin check when the patient was named by e-mail (`.notApplicable` otherwise).
    public let pin: VaultPinCheck
}

extension VaultService {
    /// The default largest photo: 5 MiB (issue 10 §1; the HTTP service's `photos.maxBytes`).
    public static let photoMaxBytesDefault = 5 << 20
    /// The most bytes of image one chunk record holds: 256 KiB.
    public static let photoChunkBytes = 256 << 10
    /// The record type of photo manifests.
    public static let photoRecordType = "photo"

    /// Stores a photo as the patient (docs/ADHERENCE.md "Photos"): `bytes` is read piece by piece (any sizes) and
    /// written as chunk records of 256 KiB as they fill, then the manifest. Memory: one chunk, whatever the photo.
    /// - Parameters:
    ///   - bytes: the image, e.g. an HTTP request body or a file read in pieces. Read no further than `maxBytes` + 1.
    ///   - contentType: what the client declared, if anything: the bytes must then be of that type.
    ///   - expectedByteCount: the size the client announced (`Content-Length`, a file's size), if known: over
    ///     `maxBytes` is refused before anything is read, and the bytes must then be exactly that many.
    ///   - doseEvent: the sequence number of the `dose-event` record the photo documents.
    ///   - maxBytes: the largest photo accepted (default 5 MiB).
    /// - Returns: the manifest.
    /// - Throws: `MikataError` `.tooLarge` (over `maxBytes`: reading stops there and no manifest is written; chunks
    ///   already written stay as unreferenced records every reader ignores), `.invalidInput` (`photo:` not a JPEG
    ///   or PNG by its first bytes, not the declared type, empty, not the announced size; `doseEvent:` no such
    ///   dose-event record) with nothing visible stored, and what `append` throws.
    public func addPhoto<S: AsyncSequence>(_ session: PatientSession, bytes: S, contentType: PhotoContentType? = nil,
                                           expectedByteCount: Int? = nil, doseEvent: UInt64? = nil,
                                           maxBytes: Int = VaultService.photoMaxBytesDefault) async throws -> PhotoManifest where S.Element == [UInt8] {
        try Self.checkAnnounced(expectedByteCount, maxBytes: maxBytes)
        let key = try session.ownerKey()
        let id = session.vaultId
        if let doseEvent {
            try await inVault(id) { store in
                try Self.checkDoseEvent(doseEvent, try self.handles.open(id.bytes, store), VaultSession(ownerKey: key))
            }
        }
        return try await storePhoto(id, bytes: bytes, contentType: contentType, expectedByteCount: expectedByteCount, doseEvent: doseEvent,
                                    maxBytes: maxBytes, author: .patient) { id, store in
            // The session is asked again at every chunk: an upload stops when its session ends (logout, expiry).
            (try self.handles.open(id.bytes, store), VaultSession(ownerKey: try session.ownerKey()))
        }
    }

    /// Stores a photo in a linked patient's vault, as a supporter (by vault id, or by e-mail with the pin check: a
    /// vault other than the pinned one is refused unless `acceptNewVault`). The supporter's key share is opened once
    /// for the whole upload; a revocation in the middle stops it at the next chunk.
    /// - Throws: `MikataError` `.notPermitted` (not linked, revoked, not the pinned vault), and what the patient's
    ///   `addPhoto` throws.
    public func addPhoto<S: AsyncSequence>(_ session: SupporterSession, to patient: PatientReference, bytes: S,
                                           contentType: PhotoContentType? = nil, expectedByteCount: Int? = nil,
                                           doseEvent: UInt64? = nil, maxBytes: Int = VaultService.photoMaxBytesDefault,
                                           acceptNewVault: Bool = false) async throws -> StoredPhoto where S.Element == [UInt8] {
        try Self.checkAnnounced(expectedByteCount, maxBytes: maxBytes)
        let identity = try session.current()
        let opened = try await asSupporter(identity, patient, access: .write, acceptNewVault: acceptNewVault) { vault, s in
            if let doseEvent { try Self.checkDoseEvent(doseEvent, vault, s) }
            return HeldVaultSession(s)
        }
        let held = opened.value
        let manifest = try await storePhoto(opened.vaultId, bytes: bytes, contentType: contentType, expectedByteCount: expectedByteCount,
                                            doseEvent: doseEvent, maxBytes: maxBytes, author: .supporter(SupporterID(trusted: identity.id))) { id, store in
            _ = try session.current()  // an upload stops when its session ends
            return (try self.handles.open(id.bytes, store), held.session)
        }
        return StoredPhoto(vaultId: opened.vaultId, manifest: manifest, pin: opened.pin)
    }

    /// The patient's photos (complete ones: manifests), read in pages of `photo` records, one frame decrypted at a
    /// time (each page one access-log read).
    /// - Throws: `MikataError` `.closed`, `.busy`, `.tampered`, `.corrupted`, `.erased`.
    public func photos(_ session: PatientSession) async throws -> PhotoList {
        let key = try session.ownerKey()
        let id = session.vaultId
        let (photos, unreadable) = try await listPhotos { after in
            try await self.inVault(id) { store in
                try Self.photoPage(try self.handles.open(id.bytes, store), VaultSession(ownerKey: key), after: after)
            }
        }
        return PhotoList(vaultId: id, photos: photos, unreadableRecords: unreadable, pin: .notApplicable)
    }

    /// A linked patient's photos, as a supporter.
    /// - Throws: `MikataError` `.notPermitted` (not linked or revoked), and what the patient's `photos` throws.
    public func photos(_ session: SupporterSession, of patient: PatientReference) async throws -> PhotoList {
        let identity = try session.current()
        let first = try await asSupporter(identity, patient, access: .read, acceptNewVault: false) { vault, s in
            (HeldVaultSession(s), try Self.photoPage(vault, s, after: nil))
        }
        let (held, id) = (first.value.0, first.vaultId)
        var firstPage: MikataVault.RecordPage? = first.value.1
        let (photos, unreadable) = try await listPhotos { after in
            if let p = firstPage { firstPage = nil; return p }
            return try await self.inVault(id) { store in try Self.photoPage(try self.handles.open(id.bytes, store), held.session, after: after) }
        }
        return PhotoList(vaultId: id, photos: photos, unreadableRecords: unreadable, pin: first.pin)
    }

    /// Reads one of the patient's photos: the manifest now (one access-log read), the bytes as the stream is
    /// consumed (one chunk record per read, each an access-log read).
    /// - Parameters:
    ///   - id: the photo's id (its manifest's sequence number).
    /// - Throws: `MikataError` `.notFound` (no photo with this id), `.closed`, `.busy`, `.tampered`, `.corrupted`,
    ///   `.erased`; the stream throws those too.
    public func photo(_ session: PatientSession, id photoId: UInt64) async throws -> PhotoDownload {
        let key = try session.ownerKey()
        let id = session.vaultId
        let manifest = try await Self.manifest(photoId) { seq in
            try await self.inVault(id) { store in try Self.recordAt(seq, try self.handles.open(id.bytes, store), VaultSession(ownerKey: key)) }
        }
        let nextChunk: @Sendable (UInt64) async throws -> Record? = { seq in
            // The session is asked again at every chunk: a download stops when its session ends.
            try await self.inVault(id) { store in
                try Self.chunkRecord(from: seq, try self.handles.open(id.bytes, store), VaultSession(ownerKey: try session.ownerKey()))
            }
        }
        return PhotoDownload(vaultId: id, manifest: manifest.0, chunks: Self.chunkStream(manifest.0, author: manifest.1, nextChunk), pin: .notApplicable)
    }

    /// Reads one of a linked patient's photos, as a supporter (their key share opened once for the whole read).
    /// - Throws: `MikataError` `.notPermitted` (not linked or revoked), and what the patient's `photo` throws.
    public func photo(_ session: SupporterSession, of patient: PatientReference, id photoId: UInt64) async throws -> PhotoDownload {
        let identity = try session.current()
        let first = try await asSupporter(identity, patient, access: .read, acceptNewVault: false) { vault, s in
            (HeldVaultSession(s), try Self.recordAt(photoId, vault, s))
        }
        let (held, id) = (first.value.0, first.vaultId)
        let manifest = try await Self.manifest(photoId) { _ in first.value.1 }
        let nextChunk: @Sendable (UInt64) async throws -> Record? = { seq in
            _ = try session.current()  // a download stops when its session ends
            return try await self.inVault(id) { store in try Self.chunkRecord(from: seq, try self.handles.open(id.bytes, store), held.session) }
        }
        return PhotoDownload(vaultId: id, manifest: manifest.0, chunks: Self.chunkStream(manifest.0, author: manifest.1, nextChunk), pin: first.pin)
    }

    /// For a client process that streams photos (`mikata photo add|get`): large buffers go back to the system when
    /// freed, so the process's peak memory does not grow with the photo (`ProcessMemory.giveLargeBuffersBack`).
    package static func giveLargeBuffersBack() { ProcessMemory.giveLargeBuffersBack() }

    // MARK: writing

    static func checkAnnounced(_ expected: Int?, maxBytes: Int) throws {
        guard maxBytes > 0 else { throw MikataError(.invalidInput, "maxBytes: must be positive") }
        if let expected, expected > maxBytes { throw tooLarge(maxBytes) }
        if let expected, expected < 0 { throw MikataError(.invalidInput, "photo: a size is never negative", field: "") }
    }

    static func tooLarge(_ maxBytes: Int) -> MikataError {
        MikataError(.tooLarge, "photo: larger than the limit of \(maxBytes) bytes; nothing was stored")
    }

    /// The record at `seq` must be a `dose-event`.
    static func checkDoseEvent(_ seq: UInt64, _ vault: Vault, _ session: VaultSession) throws {
        guard let r = try recordAt(seq, vault, session), r.type == "dose-event" else {
            throw MikataError(.invalidInput, "doseEvent: no dose-event record has this sequence number", field: "doseEvent")
        }
    }

    /// The upload: pieces in, chunk records out as they fill, the manifest last. `open` gives the vault and the
    /// session to append with, inside the vault's lane (one lane turn per chunk: other users of the vault interleave).
    func storePhoto<S: AsyncSequence>(_ id: VaultID, bytes: S, contentType declared: PhotoContentType?, expectedByteCount: Int?,
                                      doseEvent: UInt64?, maxBytes: Int, author: RecordAuthor,
                                      open: @escaping @Sendable (VaultID, Store) throws -> (Vault, VaultSession)) async throws -> PhotoManifest
        where S.Element == [UInt8] {
        let uploadId = Random.bytes(16)
        let hash = Blake2b(outputLength: 32)
        let chunkBytes = Self.photoChunkBytes
        var buffer: [UInt8] = []
        buffer.reserveCapacity(chunkBytes)
        var total = 0
        var index: UInt32 = 0
        var first: UInt64?
        var last: UInt64?
        var sniffedType: PhotoContentType?

        func checkType() throws {
            guard let sniffed = PhotoContentType.sniff(buffer) else {
                throw MikataError(.invalidInput, "photo: not a JPEG or PNG image (its first bytes are neither FF D8 FF nor 89 50 4E 47 0D 0A 1A 0A)", field: "")
            }
            if let declared, declared != sniffed {
                throw MikataError(.invalidInput, "photo: the bytes are \(sniffed.rawValue), not \(declared.rawValue) as declared", field: "")
            }
            sniffedType = sniffed
        }
        func flush() async throws {
            let data = PhotoChunk.encode(uploadId: uploadId, index: index, bytes: buffer)
            let seq = try await inVault(id) { store in
                let (vault, session) = try open(id, store)
                return try vault.appendPhotoChunk(data, session: session)
            }
            if first == nil { first = seq }
            last = seq
            index += 1
            buffer.removeAll(keepingCapacity: true)
        }

        do {
            for try await piece in bytes {
                total += piece.count
                // Reading stops at the limit: a client sending more is not read to its end.
                guard total <= maxBytes else { throw Self.tooLarge(maxBytes) }
                if let expectedByteCount, total > expectedByteCount {
                    throw MikataError(.invalidInput, "photo: more bytes than the announced \(expectedByteCount)", field: "")
                }
                hash.update(piece)
                var rest = piece[...]
                while !rest.isEmpty {
                    let take = min(chunkBytes - buffer.count, rest.count)
                    buffer.append(contentsOf: rest.prefix(take))
                    rest = rest.dropFirst(take)
                    // The type is known from the first 8 bytes, before any chunk is written.
                    if sniffedType == nil, buffer.count >= 8 { try checkType() }
                    if buffer.count == chunkBytes { try await flush() }
                }
            }
        } catch let e as MikataError {
            throw e
        } catch {
            throw MikataError(.io, "photo: the image could not be read to its end (\(type(of: error)))")
        }
        guard total > 0 else { throw MikataError(.invalidInput, "photo: empty", field: "") }
        if sniffedType == nil {
            guard total >= 8 else { throw MikataError(.invalidInput, "photo: too short to be an image", field: "") }
            try checkType()
        }
        if let expectedByteCount, total != expectedByteCount {
            throw MikataError(.invalidInput, "photo: \(total) bytes where \(expectedByteCount) were announced", field: "")
        }
        if !buffer.isEmpty { try await flush() }
        guard let type = sniffedType, let first, let last else { throw MikataError(.io, "photo: nothing was written") }
        let digest = hash.finalize().hex
        let record = PhotoRecord(uploadId: uploadId.hex, contentType: type, byteCount: total, chunkCount: Int(index), blake2b256: digest,
                                 doseEvent: doseEvent, firstChunkSeq: first, lastChunkSeq: last)
        let data = record.data()
        let time = Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
        let seq = try await inVault(id) { store in
            let (vault, session) = try open(id, store)
            return try vault.append(type: Self.photoRecordType, data: data, timeMillis: time, session: session)
        }
        return record.manifest(id: seq, author: author, timeMillis: time)
    }

    // MARK: reading

    /// The record at `seq`, read alone (one frame decrypted, one access-log read); nil when the vault has none.
    static func recordAt(_ seq: UInt64, _ vault: Vault, _ session: VaultSession) throws -> Record? {
        let page = try vault.recordsOneAtATime(session, after: seq == 0 ? nil : seq - 1, limit: 1, maxBytes: 1, types: nil, includeInternal: true)
        guard let r = page.records.first, r.seq == seq else { return nil }
        return r
    }

    /// The first chunk record at or after `seq` (one walk, one frame decrypted per record passed, one access-log
    /// read), nil when there is none: records of other types in between cost no lane turn or log entry of their own.
    static func chunkRecord(from seq: UInt64, _ vault: Vault, _ session: VaultSession) throws -> Record? {
        try vault.recordsOneAtATime(session, after: seq == 0 ? nil : seq - 1, limit: 1, maxBytes: 1, types: [Vault.photoChunkRecordType],
                                    includeInternal: true).records.first
    }

    /// Whether a manifest can name a photo: written by the patient or a supporter (a write-only service never stores
    /// photos, so a `photo` record of a service's is not one), its chunks before it.
    static func isPhotoManifest(_ m: PhotoManifest) -> Bool {
        if case .service = m.author { return false }
        return m.firstChunkSeq <= m.lastChunkSeq && m.lastChunkSeq < m.id
    }

    /// One page of `photo` records after `after`.
    static func photoPage(_ vault: Vault, _ session: VaultSession, after: UInt64?) throws -> MikataVault.RecordPage {
        try vault.recordsOneAtATime(session, after: after, limit: 1000, maxBytes: 1 << 20, types: [photoRecordType])
    }

    /// Every manifest, page by page.
    func listPhotos(_ page: (UInt64?) async throws -> MikataVault.RecordPage) async throws -> ([PhotoManifest], Int) {
        var photos: [PhotoManifest] = []
        var unreadable = 0
        var after: UInt64?
        repeat {
            let p = try await page(after)
            for r in p.records {
                if let m = PhotoRecord.parse(r.data)?.manifest(id: r.seq, author: VaultRecord(r).author, timeMillis: r.timeMillis),
                   Self.isPhotoManifest(m) {
                    photos.append(m)
                } else {
                    unreadable += 1
                }
            }
            after = p.nextAfter
        } while after != nil
        return (photos, unreadable)
    }

    /// The manifest with id `seq` and its engine author.
    static func manifest(_ seq: UInt64, _ read: (UInt64) async throws -> Record?) async throws -> (PhotoManifest, MikataVault.RecordAuthor) {
        guard let r = try await read(seq), r.type == photoRecordType,
              let m = PhotoRecord.parse(r.data)?.manifest(id: r.seq, author: VaultRecord(r).author, timeMillis: r.timeMillis),
              Self.isPhotoManifest(m) else {
            throw MikataError(.notFound, "no photo with this id")
        }
        return (m, r.author)
    }

    /// The chunks of `manifest`, read one chunk record at a time as the consumer asks (`read(seq)`: the first chunk
    /// record at or after `seq`).
    static func chunkStream(_ manifest: PhotoManifest, author: MikataVault.RecordAuthor,
                            _ read: @escaping @Sendable (UInt64) async throws -> Record?) -> AsyncThrowingStream<[UInt8], any Error> {
        let cursor = ChunkCursor(manifest: manifest, author: author, read: read)
        return AsyncThrowingStream(unfolding: {
            do { return try await cursor.next() } catch { throw MikataError.from(error) }
        })
    }
}

/// A vault session kept across the lane turns of one upload or download (a supporter's key share opened once). Only
/// used inside the vault's lane, one turn at a time, so never by two threads at once.
final class HeldVaultSession: @unchecked Sendable {
    let session: VaultSession
    init(_ session: VaultSession) { self.session = session }
}

/// Where a photo download is: the next record to read, the next chunk index, the running size and hash. The stream
/// calls `next` once at a time (AsyncThrowingStream's unfolding never overlaps calls).
final class ChunkCursor: @unchecked Sendable {
    let manifest: PhotoManifest
    let author: MikataVault.RecordAuthor
    let read: @Sendable (UInt64) async throws -> Record?
    let uploadId: [UInt8]
    var nextSeq: UInt64
    var index: UInt32 = 0
    var total = 0
    let hash = Blake2b(outputLength: 32)
    var finished = false

    init(manifest: PhotoManifest, author: MikataVault.RecordAuthor, read: @escaping @Sendable (UInt64) async throws -> Record?) {
        self.manifest = manifest
        self.author = author
        self.read = read
        uploadId = [UInt8](hex: manifest.uploadId) ?? []
        nextSeq = manifest.firstChunkSeq
    }

    func next() async throws -> [UInt8]? {
        if finished { return nil }
        while nextSeq <= manifest.lastChunkSeq {
            // The next chunk record at or after nextSeq: other records in between are passed in the same read.
            guard let r = try await read(nextSeq), r.seq <= manifest.lastChunkSeq else { break }
            nextSeq = r.seq + 1
            // Records of other kinds, other uploads or other authors written meanwhile are not this photo's.
            guard r.type == Vault.photoChunkRecordType, r.author == author, let chunk = PhotoChunk.parse(r.data), chunk.uploadId == uploadId else { continue }
            guard chunk.index == index else { throw MikataError(.tampered, "photo \(manifest.id): chunk \(chunk.index) where \(index) was expected") }
            index += 1
            total += chunk.bytes.count
            guard total <= manifest.byteCount else { throw MikataError(.tampered, "photo \(manifest.id): more bytes than its manifest says") }
            hash.update(chunk.bytes)
            // The last bytes are checked (count and BLAKE2b-256) before they are handed out, so a reader that stops
            // at the manifest's size never takes a photo that does not match it for a whole one.
            if total == manifest.byteCount { try finish() }
            return chunk.bytes
        }
        if !finished { try finish() }
        return nil
    }

    private func finish() throws {
        finished = true
        guard Int(index) == manifest.chunkCount, total == manifest.byteCount, hash.finalize().hex == manifest.blake2b256 else {
            throw MikataError(.tampered, "photo \(manifest.id): its chunks do not match its manifest (count, size or BLAKE2b-256)")
        }
    }
}

/// A `mikata.photo-chunk` record's data (docs/FORMAT.md §5.9): "MKPC", version 1, the 16-byte upload id, the chunk
/// index (u32, big-endian), then the image bytes (1 to 256 KiB).
struct PhotoChunk {
    static let magic: [UInt8] = Array("MKPC".utf8)
    static let version: UInt8 = 1
    static let headerLength = 4 + 1 + 16 + 4

    let uploadId: [UInt8]
    let index: UInt32
    let bytes: [UInt8]

    static func encode(uploadId: [UInt8], index: UInt32, bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(headerLength + bytes.count)
        out += magic
        out.append(version)
        out += uploadId
        out += [UInt8(index >> 24), UInt8(index >> 16 & 0xFF), UInt8(index >> 8 & 0xFF), UInt8(index & 0xFF)]
        out += bytes
        return out
    }

    /// nil for data that is not a chunk of this version (never traps).
    static func parse(_ data: [UInt8]) -> PhotoChunk? {
        guard data.count > headerLength, data[0..<4].elementsEqual(magic), data[4] == version else { return nil }
        let index = data[21..<25].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        return PhotoChunk(uploadId: Array(data[5..<21]), index: index, bytes: Array(data[headerLength...]))
    }
}

/// A `photo` record's data (docs/FORMAT.md §5.9): strict JSON with exactly the members `blake2b256`, `byteCount`,
/// `chunkCount`, `contentType`, `doseEvent`?, `firstChunkSeq`, `lastChunkSeq`, `uploadId`.
struct PhotoRecord {
    let uploadId: String
    let contentType: PhotoContentType
    let byteCount: Int
    let chunkCount: Int
    let blake2b256: String
    let doseEvent: UInt64?
    let firstChunkSeq: UInt64
    let lastChunkSeq: UInt64

    static let members: Set<String> = ["blake2b256", "byteCount", "chunkCount", "contentType", "doseEvent", "firstChunkSeq", "lastChunkSeq", "uploadId"]

    func data() -> [UInt8] {
        var object: [String: Any] = ["uploadId": uploadId, "contentType": contentType.rawValue, "byteCount": byteCount, "chunkCount": chunkCount,
                                     "blake2b256": blake2b256, "firstChunkSeq": firstChunkSeq, "lastChunkSeq": lastChunkSeq]
        if let doseEvent { object["doseEvent"] = doseEvent }
        return (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])).map(Array.init) ?? []
    }

    private struct Coded: Decodable {
        let uploadId: String
        let contentType: String
        let byteCount: Int
        let chunkCount: Int
        let blake2b256: String
        let doseEvent: UInt64?
        let firstChunkSeq: UInt64
        let lastChunkSeq: UInt64
    }

    /// nil for anything else (a free-form `photo` record, a member too many or of the wrong type).
    static func parse(_ data: [UInt8]) -> PhotoRecord? {
        guard let o = try? JSONSerialization.jsonObject(with: Data(data)) as? [String: Any], Set(o.keys).isSubset(of: members),
              let c = try? JSONDecoder().decode(Coded.self, from: Data(data)) else { return nil }
        func isHex(_ s: String, _ count: Int) -> Bool { s.utf8.count == count && s == s.lowercased() && [UInt8](hex: s) != nil }
        guard isHex(c.uploadId, 32), isHex(c.blake2b256, 64), let type = PhotoContentType(rawValue: c.contentType),
              c.byteCount > 0, c.chunkCount > 0, c.firstChunkSeq <= c.lastChunkSeq else { return nil }
        return PhotoRecord(uploadId: c.uploadId, contentType: type, byteCount: c.byteCount, chunkCount: c.chunkCount, blake2b256: c.blake2b256,
                           doseEvent: c.doseEvent, firstChunkSeq: c.firstChunkSeq, lastChunkSeq: c.lastChunkSeq)
    }

    func manifest(id: UInt64, author: RecordAuthor, timeMillis: Int64) -> PhotoManifest {
        PhotoManifest(id: id, author: author, timeMillis: timeMillis, contentType: contentType, byteCount: byteCount, chunkCount: chunkCount,
                      blake2b256: blake2b256, doseEvent: doseEvent, uploadId: uploadId, firstChunkSeq: firstChunkSeq, lastChunkSeq: lastChunkSeq)
    }
}

/// A new file written piece by piece by a client (`mikata photo get --out`): a 0600 temporary beside `path`, linked
/// to it by `commit` after fsync (never replacing a file), removed if never committed.
package final class ClientOutputFile {
    private let file: StreamedOutputFile

    /// - Throws: `MikataError` `.alreadyExists`, `.io`.
    package init(creatingNew path: String) throws {
        do { file = try StreamedOutputFile(creatingNew: path) } catch { throw MikataError.from(error) }
    }

    /// - Throws: `MikataError(.io)`.
    package func write(_ bytes: [UInt8]) throws {
        do { try file.write(bytes) } catch { throw MikataError.from(error) }
    }

    /// - Throws: `MikataError` `.alreadyExists`, `.io`.
    package func commit() throws {
        do { try file.commit() } catch { throw MikataError.from(error) }
    }
}
