import Foundation
import MikataCrypto
import MikataVault
import Synchronization
import Testing
@testable @_spi(Testing) import MikataService

/// Appends a record below the service's checks, as a client holding the vault key could write one.
func rawAppend(_ s: VaultService, _ patient: PatientSession, type: String, data: [UInt8]) async throws -> UInt64 {
    let key = try patient.ownerKey()
    let id = patient.vaultId
    return try await s.inVault(id) { store in try s.handles.open(id.bytes, store).append(type: type, data: data, session: VaultSession(ownerKey: key)) }
}

/// A fake image of `count` bytes: the type's signature, then a deterministic pattern (never all zeros).
func photoBytes(_ type: PhotoContentType, count: Int) -> [UInt8] {
    var out = type.magic
    var x: UInt32 = 2_463_534_242
    while out.count < count {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5
        out.append(UInt8(truncatingIfNeeded: x))
    }
    return Array(out.prefix(count))
}

/// `bytes` in pieces of `piece` bytes, as an HTTP body or a file read would arrive; throws after `failAfter` bytes.
func pieces(_ bytes: [UInt8], piece: Int = 10_000, failAfter: Int? = nil) -> AsyncThrowingStream<[UInt8], any Error> {
    let chunks: [[UInt8]] = stride(from: 0, to: bytes.count, by: piece).map { Array(bytes[$0..<min($0 + piece, bytes.count)]) }
    var sent = 0
    return AsyncThrowingStream { c in
        for chunk in chunks {
            if let failAfter, sent >= failAfter { c.finish(throwing: CancellationError()); return }
            c.yield(chunk)
            sent += chunk.count
        }
        c.finish()
    }
}

func collect(_ download: PhotoDownload) async throws -> [UInt8] {
    var out: [UInt8] = []
    for try await chunk in download.chunks {
        #expect(chunk.count <= VaultService.photoChunkBytes)
        out += chunk
    }
    return out
}

@Suite struct PhotoServiceTests {
    @Test(arguments: [(PhotoContentType.jpeg, 700_000), (.png, 1_000), (.jpeg, VaultService.photoChunkBytes)])
    func aPhotoRoundTripsAndIsListed(type: PhotoContentType, size: Int) async throws {
        let f = try await ServiceFixture.make()
        defer { Task { await f.tearDown() } }
        let s = f.service
        _ = try await s.createPatient(email: "a@example.jp", nickname: "Aiko", password: pw("pw"))
        let patient = try await s.unlockPatient(email: "a@example.jp", password: pw("pw"))
        let image = photoBytes(type, count: size)
        let m = try await s.addPhoto(patient, bytes: pieces(image, piece: 65_537))
        #expect(m.contentType == type && m.byteCount == size && m.author == .patient)
        #expect(m.chunkCount == (size + VaultService.photoChunkBytes - 1) / VaultService.photoChunkBytes)
        #expect(m.blake2b256 == Blake2b.hash(image).map { String(format: "%02x", $0) }.joined())
        let list = try await s.photos(patient)
        #expect(list.photos == [m] && list.unreadableRecords == 0)
        let download = try await s.photo(patient, id: m.id)
        #expect(download.manifest == m)
        #expect(try await collect(download) == image)
        // The manifest is an ordinary record; the chunks stay hidden from ordinary reads.
        let records = try await s.records(patient, RecordQuery(limit: 1000)).records
        #expect(records.map(\.type).filter { $0 != "mikata.profile" } == ["photo"])
    }

    @Test func aSupporterStoresAndReadsAPhotoOfALinkedPatientOnly() async throws {
        let f = try await ServiceFixture.make()
        defer { Task { await f.tearDown() } }
        let s = f.service
        _ = try await s.createPatient(email: "a@example.jp", nickname: "Aiko", password: pw("pw"))
        _ = try await s.createSupporter(email: "n@example.jp", name: "Nurse", password: pw("npw"))
        let patient = try await s.unlockPatient(email: "a@example.jp", password: pw("pw"))
        let nurse = try await s.unlockSupporter(email: "n@example.jp", password: pw("npw"))
        let image = photoBytes(.png, count: 300_000)
        #expect(await code { _ = try await s.addPhoto(nurse, to: .vault(patient.vaultId), bytes: pieces(image)) } == .notPermitted)
        _ = try await s.grant(patient, supporterEmail: "n@example.jp")
        let stored = try await s.addPhoto(nurse, to: .email("a@example.jp"), bytes: pieces(image))
        #expect(stored.pin == .firstContact && stored.manifest.author == .supporter(nurse.supporterId))
        #expect(try await collect(try await s.photo(patient, id: stored.manifest.id)) == image)
        #expect(try await collect(try await s.photo(nurse, of: .vault(patient.vaultId), id: stored.manifest.id)) == image)
        #expect(try await s.photos(nurse, of: .vault(patient.vaultId)).photos == [stored.manifest])
    }

    @Test func bytesThatAreNotAJPEGOrPNGAreRefusedAndNothingIsStored() async throws {
        let f = try await ServiceFixture.make()
        defer { Task { await f.tearDown() } }
        let s = f.service
        _ = try await s.createPatient(email: "a@example.jp", nickname: "Aiko", password: pw("pw"))
        let patient = try await s.unlockPatient(email: "a@example.jp", password: pw("pw"))
        let gif = Array("GIF89a".utf8) + photoBytes(.png, count: 400_000)
        let pngAsJpeg = photoBytes(.png, count: 400_000)
        var truncatedPNG = PhotoContentType.png.magic; truncatedPNG[7] = 0x0B
        let cases: [([UInt8], PhotoContentType?)] = [(gif, nil), (pngAsJpeg, PhotoContentType.jpeg), (truncatedPNG + [1, 2, 3], nil), ([0xFF, 0xD8], nil), ([], nil)]
        for (bytes, declared) in cases {
            let error = await #expect(throws: MikataError.self) { _ = try await s.addPhoto(patient, bytes: pieces(bytes, piece: 3), contentType: declared) }
            #expect(error?.code == .invalidInput && error?.message.hasPrefix("photo:") == true, "\(error?.message ?? "")")
        }
        #expect(try await s.photos(patient).photos.isEmpty)
        // Refused in the first bytes: not even a chunk was written.
        #expect(try await s.records(patient, RecordQuery(limit: 100, types: ["mikata.photo-chunk"])).records.isEmpty)
        let notADose = try await s.append(patient, type: "note", data: Array(#"{"a":1}"#.utf8))
        let error = await #expect(throws: MikataError.self) {
            _ = try await s.addPhoto(patient, bytes: pieces(photoBytes(.jpeg, count: 100)), doseEvent: notADose)
        }
        #expect(error?.code == .invalidInput && error?.message.hasPrefix("doseEvent:") == true)
    }

    @Test func aPhotoOverTheLimitIsRefusedAndNoPhotoIsVisible() async throws {
        let f = try await ServiceFixture.make()
        defer { Task { await f.tearDown() } }
        let s = f.service
        _ = try await s.createPatient(email: "a@example.jp", nickname: "Aiko", password: pw("pw"))
        let patient = try await s.unlockPatient(email: "a@example.jp", password: pw("pw"))
        let limit = 600_000
        let big = photoBytes(.jpeg, count: limit + 1)
        // Announced: refused before a byte is read. Not announced: reading stops at the limit.
        #expect(await code { _ = try await s.addPhoto(patient, bytes: pieces(big), expectedByteCount: big.count, maxBytes: limit) } == .tooLarge)
        #expect(await code { _ = try await s.addPhoto(patient, bytes: pieces(big), maxBytes: limit) } == .tooLarge)
        #expect(try await s.photos(patient).photos.isEmpty)
        // Exactly the limit is accepted.
        let atLimit = try await s.addPhoto(patient, bytes: pieces(Array(big.prefix(limit))), maxBytes: limit)
        #expect(try await s.photos(patient).photos == [atLimit])
        #expect(MikataError.Code.tooLarge.httpStatus == 413)
    }

    @Test func aTornUploadLeavesOrphanChunksThatNoReaderShowsAsAPhoto() async throws {
        let f = try await ServiceFixture.make()
        defer { Task { await f.tearDown() } }
        let s = f.service
        _ = try await s.createPatient(email: "a@example.jp", nickname: "Aiko", password: pw("pw"))
        let patient = try await s.unlockPatient(email: "a@example.jp", password: pw("pw"))
        let image = photoBytes(.jpeg, count: 900_000)
        #expect(await code { _ = try await s.addPhoto(patient, bytes: pieces(image, failAfter: 600_000)) } == .io)
        let orphans = try await s.records(patient, RecordQuery(limit: 100, types: ["mikata.photo-chunk"])).records
        #expect(orphans.count == 2)  // two full chunks were durable before the connection "dropped"
        #expect(try await s.photos(patient).photos.isEmpty)
        // A later whole upload is unaffected by them.
        let m = try await s.addPhoto(patient, bytes: pieces(image))
        #expect(try await s.photos(patient).photos == [m])
        #expect(try await collect(try await s.photo(patient, id: m.id)) == image)
        // Ids that are not a manifest are no photo.
        for id in [orphans[0].seq, m.id + 1, 0] { #expect(await code { _ = try await s.photo(patient, id: id) } == .notFound) }
    }

    @Test func aManifestWhoseChunksDoNotMatchEndsTheStreamAsTampered() async throws {
        let f = try await ServiceFixture.make()
        defer { Task { await f.tearDown() } }
        let s = f.service
        _ = try await s.createPatient(email: "a@example.jp", nickname: "Aiko", password: pw("pw"))
        let patient = try await s.unlockPatient(email: "a@example.jp", password: pw("pw"))
        let image = photoBytes(.png, count: 300_000)
        let m = try await s.addPhoto(patient, bytes: pieces(image))
        // A hand-written manifest naming the same chunks with another digest (a free-form `photo` record).
        let forged = PhotoRecord(uploadId: m.uploadId, contentType: .png, byteCount: m.byteCount, chunkCount: m.chunkCount,
                                 blake2b256: String(repeating: "0", count: 64), doseEvent: nil, firstChunkSeq: m.firstChunkSeq, lastChunkSeq: m.lastChunkSeq)
        // Only adding a photo writes a `photo` record: an append of that type is refused, naming the type.
        let refused = await #expect(throws: MikataError.self) { _ = try await s.append(patient, type: "photo", data: forged.data()) }
        #expect(refused?.code == .invalidInput && refused?.field == "/type")
        let forgedId = try await rawAppend(s, patient, type: "photo", data: forged.data())
        let download = try await s.photo(patient, id: forgedId)
        var handedOut = 0
        let error = await #expect(throws: MikataError.self) { for try await chunk in download.chunks { handedOut += chunk.count } }
        #expect(error?.code == .tampered)
        // The last bytes are checked before they are handed out: a reader never gets the manifest's whole size.
        #expect(handedOut < m.byteCount)
        // A `photo` record that is no manifest is counted, not listed.
        _ = try await rawAppend(s, patient, type: "photo", data: Array(#"{"caption":"x"}"#.utf8))
        let list = try await s.photos(patient)
        #expect(list.photos.map(\.id) == [m.id, forgedId] && list.unreadableRecords == 1)
    }

    @Test func readingAPhotoCostsOneAccessLogReadPerChunkNotPerRecordInItsRange() async throws {
        let f = try await ServiceFixture.make()
        defer { Task { await f.tearDown() } }
        let s = f.service
        _ = try await s.createPatient(email: "a@example.jp", nickname: "Aiko", password: pw("pw"))
        let patient = try await s.unlockPatient(email: "a@example.jp", password: pw("pw"))
        let image = photoBytes(.png, count: 300_000)
        let m = try await s.addPhoto(patient, bytes: pieces(image))
        var last: UInt64 = 0
        for i in 0..<40 { last = try await s.append(patient, type: "note", data: Array(#"{"n":\#(i)}"#.utf8)) }
        // A manifest whose range spans the whole vault (as a slow upload among busy writers would have).
        let wide = PhotoRecord(uploadId: m.uploadId, contentType: .png, byteCount: m.byteCount, chunkCount: m.chunkCount,
                               blake2b256: m.blake2b256, doseEvent: nil, firstChunkSeq: 0, lastChunkSeq: last)
        let id = try await rawAppend(s, patient, type: "photo", data: wide.data())
        let before = try await s.accessLog(patient).count
        #expect(try await collect(try await s.photo(patient, id: id)) == image)
        let reads = try await s.accessLog(patient).count - before
        #expect(reads <= m.chunkCount + 2, "\(reads) access-log entries for \(m.chunkCount) chunks")
    }

    @Test func anUploadStopsWhenItsSessionEnds() async throws {
        let f = try await ServiceFixture.make()
        defer { Task { await f.tearDown() } }
        let s = f.service
        _ = try await s.createPatient(email: "a@example.jp", nickname: "Aiko", password: pw("pw"))
        let patient = try await s.unlockPatient(email: "a@example.jp", password: pw("pw"))
        let image = photoBytes(.jpeg, count: 900_000)
        // The session is closed (a logout) while the body is still arriving: the next chunk is not written.
        let pulls = Atomic<Int>(0)
        let stream = AsyncThrowingStream<[UInt8], any Error>(unfolding: {
            switch pulls.add(1, ordering: .relaxed).newValue {
            case 1: return Array(image[0..<300_000])  // a first chunk is written from these
            case 2: patient.close(); return Array(image[300_000...])
            default: return nil
            }
        })
        #expect(await code { _ = try await s.addPhoto(patient, bytes: stream) } == .closed)
        let again = try await s.unlockPatient(email: "a@example.jp", password: pw("pw"))
        #expect(try await s.photos(again).photos.isEmpty)
        #expect(try await s.records(again, RecordQuery(limit: 100, types: ["mikata.photo-chunk"])).records.count == 1, "the chunk before the logout only")
    }
}
