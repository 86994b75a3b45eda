import Foundation
import Testing
@testable import MikataVault
import MikataFormat
import MikataCrypto

/// A patient vault holding `count` records of mixed types, times and sizes (appended without the access log, for
/// speed), and the session that wrote them.
private func mixedVault(_ s: Scratch, count: Int, sizes: (Int) -> Int = { 20 + $0 % 7 * 30 }) throws -> (Vault, VaultSession) {
    let (vault, _) = try s.patient()
    let session = try vault.unlock(password: pw("patient-pw"))
    let audit = vault.audit
    vault.audit = nil
    defer { vault.audit = audit }
    let types = ["dose", "side-effect", "message"]
    for i in 0..<count {
        // Times go back and forth, so a time range is not a range of sequence numbers.
        let time = 1_700_000_000_000 + Int64((i * 7919) % count) * 60_000
        let data = json("\"" + String(repeating: "x", count: sizes(i)) + "\"")
        try vault.append(type: types[i % 3], data: data, timeMillis: time, session: session)
    }
    return (vault, session)
}

/// Every page of `limit` from the start, concatenated; also checks that only the last page has no `nextAfter`.
private func allPages(_ vault: Vault, _ session: VaultSession, limit: Int, types: Set<String>? = nil, from: Int64? = nil,
                      until: Int64? = nil, includeInternal: Bool = false) throws -> [Record] {
    var out: [Record] = []
    var after: UInt64?
    for _ in 0..<10_000 {
        let page = try vault.records(session, after: after, limit: limit, types: types, from: from, until: until, includeInternal: includeInternal)
        #expect(page.records.count <= limit)
        out += page.records
        guard let next = page.nextAfter else { return out }
        #expect(page.records.count == limit, "a page short of its limit is the last")
        after = next
    }
    Issue.record("pagination did not end")
    return out
}

/// The offset and length of every complete frame of a vault file.
private func frameOffsets(_ path: String) throws -> [(offset: Int, length: Int)] {
    let bytes = try RobustFile.read(path)
    var offset = try Preamble.parse(bytes).recordsOffset
    var out: [(Int, Int)] = []
    while offset < bytes.count, case .frame(_, let length) = try RecordFrame.scan(bytes, at: offset) {
        out.append((offset, length))
        offset += length
    }
    return out
}

private func flipByte(_ path: String, at offset: Int) throws {
    var bytes = try RobustFile.read(path)
    bytes[offset] ^= 0x40
    try RobustFile.write(bytes, to: path)
}

/// The error a read throws, as class and message (nil if it succeeds).
private func readError(_ body: () throws -> Void) -> String? {
    do { try body(); return nil } catch let e as VaultError { return "\(e.failureClass): \(e)" } catch { return "other: \(error)" }
}

@Suite("Streaming and paginated reads")
struct StreamingReadTests {
    @Test("pages concatenated are the records, for any limit; filters by type and time; internal records only when asked")
    func pagination() throws {
        let s = try Scratch()
        let (vault, session) = try mixedVault(s, count: 300)
        let all = try vault.records(session)
        let visible = all.filter { !$0.type.hasPrefix("mikata.") }
        #expect(all.count == 301 && visible.count == 300)
        for limit in [1, 7, 64, 100, 300, 301, Vault.pageLimitMax] {
            #expect(try allPages(vault, session, limit: limit) == visible, "limit \(limit)")
        }
        #expect(try allPages(vault, session, limit: 50, includeInternal: true) == all)
        #expect(try allPages(vault, session, limit: 9, types: ["dose", "message"]) == visible.filter { $0.type != "side-effect" })
        #expect(try allPages(vault, session, limit: 9, types: ["mikata.profile"]) == [all[0]], "naming an internal type asks for it")
        let from: Int64 = 1_700_000_000_000 + 50 * 60_000, until: Int64 = 1_700_000_000_000 + 120 * 60_000
        let inRange = visible.filter { $0.timeMillis >= from && $0.timeMillis < until }
        #expect(inRange.count == 70)
        #expect(try allPages(vault, session, limit: 8, from: from, until: until) == inRange)
        #expect(try allPages(vault, session, limit: 8, types: ["dose"], from: from) == visible.filter { $0.type == "dose" && $0.timeMillis >= from })
        #expect(try vault.records(session, limit: 5, from: from, until: from).records.isEmpty)

        // A page starting in the middle, on a fresh handle (no index yet) and on this one (indexed).
        let fresh = try s.store.openVault(email: "patient@example.jp")
        let freshSession = try fresh.unlock(password: pw("patient-pw"))
        for v in [(fresh, freshSession), (vault, session)] {
            let page = try v.0.records(v.1, after: 200, limit: 10)
            #expect(page.records == Array(visible[200..<210]) && page.nextAfter == 210)
        }
        #expect((vault.frameIndex?.checkpoints.count ?? 0) == 5, "every 64th record of 301 is indexed")

        // The end: the last full page says nil when nothing follows; after the end (or at UInt64.max) is an empty last page.
        #expect(try vault.records(session, after: 290, limit: 10) == RecordPage(records: Array(visible[290...]), nextAfter: nil))
        #expect(try vault.records(session, after: 289, limit: 10) == RecordPage(records: Array(visible[289..<299]), nextAfter: 299))
        #expect(try vault.records(session, after: 300, limit: 10) == RecordPage(records: [], nextAfter: nil))
        #expect(try vault.records(session, after: 5000, limit: 10) == RecordPage(records: [], nextAfter: nil))
        #expect(try vault.records(session, after: UInt64.max, limit: 10) == RecordPage(records: [], nextAfter: nil))

        // Limits and ranges outside the contract are invalid input, never a trap.
        for limit in [0, -1, Vault.pageLimitMax + 1] {
            #expect(failureClass { _ = try vault.records(session, limit: limit) } == "invalid-input", "limit \(limit)")
        }
        #expect(failureClass { _ = try vault.records(session, limit: 5, from: 10, until: 9) } == "invalid-input")

        // Appends after the index was built are read by the next page.
        try vault.append(type: "dose", data: json("1"), session: session)
        #expect(try vault.records(session, after: 299, limit: 10).records.map(\.seq) == [300, 301])
    }

    /// A page of more than one batch (`Vault.batchFramesMax` frames or `batchBytesMax` bytes) reads the next batch
    /// while handing the one before over: what it returns, where it stops and its byte budget are as for any page.
    @Test("pages larger than a decryption batch, by count and by bytes, read the same records; a byte budget ends a page at the record that reaches it")
    func pipelinedPages() throws {
        let s = try Scratch()
        // 700 records of 20 to 200 bytes, and every 50th of 100 KiB, so batches end on bytes as well as on count.
        let (vault, session) = try mixedVault(s, count: 700, sizes: { $0 % 50 == 49 ? 100 * 1024 : 20 + $0 % 7 * 30 })
        let visible = try vault.records(session).filter { !$0.type.hasPrefix("mikata.") }
        #expect(visible.count == 700)
        for limit in [255, 256, 257, 513, 699, 700, Vault.pageLimitMax] {
            #expect(try allPages(vault, session, limit: limit) == visible, "limit \(limit)")
        }
        for maxBytes in [1, 5_000, 150_000, 1 << 20, 5 << 20] {
            var out: [Record] = []
            var after: UInt64?
            while true {
                let page = try vault.records(session, after: after, limit: Vault.pageLimitMax, maxBytes: maxBytes)
                let bytes = page.records.map(\.data.count)
                // Under budget until the last record, which reaches it (unless the page ended with the vault).
                #expect(bytes.dropLast().reduce(0, +) < maxBytes, "maxBytes \(maxBytes)")
                if page.nextAfter != nil { #expect(bytes.reduce(0, +) >= maxBytes, "maxBytes \(maxBytes)") }
                out += page.records
                guard let next = page.nextAfter else { break }
                after = next
            }
            #expect(out == visible, "maxBytes \(maxBytes)")
        }
        // A selective page over batches, starting mid-vault.
        let page = try vault.records(session, after: 100, limit: 300, types: ["message"])
        #expect(page.records == Array(visible.filter { $0.type == "message" && $0.seq > 100 }.prefix(300)))
    }

    /// `scanData` has each record's data scanned on the thread that decrypted it; the answer is `JSONDataScan.of`'s.
    @Test("a page read with scanData carries each record's JSON scan; without it, none; records compare equal either way")
    func scannedPages() throws {
        let s = try Scratch()
        let (vault, _) = try s.patient()
        let session2 = try vault.unlock(password: pw("patient-pw"))
        // Plain; strict with DEL in a string; not compact; a C1 control; DEL escaped (none as such); U+00A0.
        let datas = [#"{"a":1}"#, #"{"b":1,"a":"\#u{7F}"}"#, "[1, 2]", #""\#u{85}""#, #""\u007f""#, #"{"\#u{A0}":"\#u{9F}"}"#, #""\#u{A0}""#]
        for d in datas { try vault.append(type: "note", data: Array(d.utf8), session: session2) }
        for limit in [1, 3, 300] {
            var scanned: [Record] = []
            var after: UInt64?
            repeat {
                let page = try vault.records(session2, after: after, limit: limit, scanData: true)
                scanned += page.records
                after = page.nextAfter
            } while after != nil
            #expect(scanned.map(\.dataScan) == scanned.map { JSONDataScan.of($0.data) })
            #expect(scanned.map { $0.dataScan?.holdsDELOrC1 } == [false, true, false, true, false, true, false])
            let plain = try vault.records(session2, limit: 300)
            #expect(plain.records.allSatisfy { $0.dataScan == nil } && plain.records == scanned)
        }
    }

    @Test("forEachRecord streams the same records in order, stops when asked, and logs the read before the first record")
    func stream() throws {
        let s = try Scratch()
        let (vault, session) = try mixedVault(s, count: 40)
        var seen: [Record] = []
        try vault.forEachRecord(session) { seen.append($0); return true }
        #expect(seen == (try vault.records(session)).filter { !$0.type.hasPrefix("mikata.") })
        var firstTen: [UInt64] = []
        try vault.forEachRecord(session, after: 5, types: ["dose"]) { firstTen.append($0.seq); return firstTen.count < 10 }
        #expect(firstTen == Array(stride(from: 7, to: 37, by: 3)))
        let before = try s.store.auditLog().entries().count
        var entriesAtFirst = 0
        try vault.forEachRecord(session) { _ in entriesAtFirst = (try? s.store.auditLog().entries().count) ?? -1; return false }
        #expect(entriesAtFirst == before + 1, "the read is in the log before any record is handed over")
    }

    @Test("frames spanning read chunks and frames larger than a chunk read as with one chunk; inspect agrees")
    func chunkBoundaries() throws {
        let s = try Scratch()
        // Sizes from 20 B to 11 KB against 4 KiB chunks: most frames cross a chunk boundary, some are larger than one.
        let (vault, session) = try mixedVault(s, count: 90, sizes: { ($0 * 3571) % 11_000 + 20 })
        let reference = try vault.records(session)
        let small = try s.store.openVault(email: "patient@example.jp")
        small.readChunkSize = 4096
        let smallSession = try small.unlock(password: pw("patient-pw"))
        #expect(try small.records(smallSession) == reference)
        #expect(try allPages(small, smallSession, limit: 13, includeInternal: true) == reference)
        #expect(try small.verify(smallSession).recordCount == 91)
        let info = try small.inspect()
        #expect(info.recordCount == 91 && info.tornTailBytes == 0)
        #expect(try frameOffsets(vault.path).contains { $0.length > 4096 }, "some frames are larger than a chunk")
    }

    @Test("read chunks go back to their pool once no frame holds them; a reused buffer's stale bytes never count as the file's")
    func chunkPool() throws {
        let s = try Scratch()
        let (vault, _) = try mixedVault(s, count: 40, sizes: { _ in 2_000 })
        let bytes = try RobustFile.read(vault.path)
        let start = vault.preamble.recordsOffset
        #expect(bytes.count - start > 64 << 10 && bytes.count < 128 << 10, "one read of more than half a buffer: pooled")
        let pool = ReadChunkPool(bufferSize: 128 << 10, limit: 1)
        /// Every frame of `path` (bodies kept, as a batch waiting to be decrypted does) and how the walk ended.
        func walk(_ path: String) throws -> (frames: [WalkedFrame], torn: Int) {
            let medium = try FileVaultMedium.open(path, readOnly: true)
            var reader = FrameReader(medium: medium, from: start, end: try medium.size(), pool: pool)
            var frames: [WalkedFrame] = []
            while true {
                switch try reader.next(body: true) {
                case .frame(let f): frames.append(f)
                case .end(let torn): return (frames, torn)
                }
            }
        }
        var whole: [WalkedFrame]? = try walk(vault.path).frames
        #expect(whole?.count == 41)
        #expect(pool.idleCount == 0, "frames still hold their chunk")
        whole = nil
        #expect(pool.idleCount == 1, "the chunk came back when its last frame let go")
        // The same file cut inside its last frame: the pooled buffer still holds the rest of that frame past what this
        // read filled, and the walk must not see it.
        let last = try #require(try frameOffsets(vault.path).last)
        let torn = s.dir + "/torn.mkv"
        try RobustFile.write(Array(bytes[..<(last.offset + last.length - 10)]), to: torn)
        let cut = try walk(torn)
        #expect(pool.idleCount == 0, "the walk took the pooled buffer")
        #expect(cut.frames.count == 40 && cut.torn == last.length - 10)
        #expect(cut.frames.map(\.link) == (try walk(vault.path)).frames.dropLast().map(\.link))

        // Chunks of 4,100 B in pooled buffers of 8 KiB that hold junk past what each read filled: frames that cross a
        // chunk's end are read anew from the file, never taken from the junk.
        let junk = ReadChunkPool(bufferSize: 8192, limit: 4)
        for _ in 0..<4 { junk.recycle([UInt8](repeating: 0xAB, count: 8192)) }
        #expect(junk.take(count: 4100).pooled && !junk.take(count: 4096).pooled, "more than half a buffer is pooled")
        for _ in 0..<2 { junk.recycle([UInt8](repeating: 0xAB, count: 8192)) }
        let medium = try FileVaultMedium.open(vault.path, readOnly: true)
        var reader = FrameReader(medium: medium, from: start, end: try medium.size(), chunkSize: 4100, pool: junk)
        var links: [[UInt8]] = []
        while case .frame(let f) = try reader.next(body: true) { links.append(f.link) }
        #expect(links == (try walk(vault.path)).frames.map(\.link))
        #expect(junk.idleCount > 0, "the junk buffers were taken and came back")
    }

    @Test("a torn tail reads as before the append, on every path; a crafted tail is refused alike")
    func tornTail() throws {
        let s = try Scratch()
        let (vault, session) = try mixedVault(s, count: 100)
        vault.readChunkSize = 4096
        let expected = try vault.records(session)
        let bytes = try RobustFile.read(vault.path)
        let last = try #require(try frameOffsets(vault.path).last)
        // A torn append: the first 150 bytes of a copy of the last frame after it.
        try RobustFile.write(bytes + bytes[last.offset..<(last.offset + 150)], to: vault.path)
        #expect(try vault.records(session) == expected)
        #expect(try allPages(vault, session, limit: 30, includeInternal: true) == expected)
        #expect(try vault.records(session, after: 95, limit: 50).nextAfter == nil)
        #expect(try vault.inspect().tornTailBytes == 150)
        #expect(try vault.verify(session).tornTailBytes == 150)
        // Zeros after the last frame (a file extended but never written): torn too, across several chunks.
        try RobustFile.write(bytes + [UInt8](repeating: 0, count: 10_000), to: vault.path)
        #expect(try vault.records(session, after: 90, limit: 50).records == Array(expected[91...]))
        #expect(try vault.inspect().tornTailBytes == 10_000)
        // What looks like a torn append followed by a whole frame: the walk does not reach it, so the tail was crafted.
        let big = try #require(try frameOffsets(vault.path).max { $0.length < $1.length })
        #expect(big.length > 80 + last.length)
        try RobustFile.write(bytes + bytes[big.offset..<(big.offset + 80)] + bytes[last.offset..<(last.offset + last.length)], to: vault.path)
        let full = readError { _ = try vault.records(session) }
        #expect(full?.contains("does not reach") == true && full?.hasPrefix("corrupted: ") == true)
        #expect(readError { _ = try vault.records(session, after: 95, limit: 50) } == full)
        #expect(readError { _ = try vault.verify(session) } == full)
        #expect(readError { _ = try vault.inspect() } == full)
    }

    @Test("a frame altered in a later page: that page fails as the full read does; pages before it still read")
    func tamperedLaterPage() throws {
        let s = try Scratch()
        let (vault, session) = try mixedVault(s, count: 300)
        let visible = try allPages(vault, session, limit: 50)  // builds the index
        let frames = try frameOffsets(vault.path)
        // Inside record 250's ciphertext (not its tag, so record 251 still chains to it).
        try flipByte(vault.path, at: frames[250].offset + RecordFrame.headerLength + RecordFrame.nonceLength + 2)
        let full = readError { _ = try vault.records(session) }
        #expect(full?.contains("record 250 failed authentication") == true && full?.hasPrefix("tampered") == true)
        #expect(readError { _ = try vault.records(session, after: 240, limit: 20) } == full)
        #expect(readError { _ = try vault.verify(session) } == full)
        #expect(readError { try vault.forEachRecord(session) { _ in true } } == full)
        #expect(try vault.records(session, after: 100, limit: 50).records == Array(visible[100..<150]))
        #expect(try vault.inspect().recordCount == 301, "inspect checks structure, not content")

        // Its header instead: corrupted, named by the record the walk expected there.
        try flipByte(vault.path, at: frames[250].offset + RecordFrame.headerLength + RecordFrame.nonceLength + 2)
        try flipByte(vault.path, at: frames[250].offset + 10)
        let header = readError { _ = try vault.records(session) }
        #expect(header?.hasPrefix("corrupted: record 250:") == true)
        #expect(readError { _ = try vault.records(session, after: 240, limit: 20) } == header)
        #expect(readError { _ = try vault.inspect() } == header)
    }

    @Test("a page reaching the end of a file cut below the header's floor fails as the full read does")
    func truncatedBelowFloor() throws {
        let s = try Scratch()
        let (vault, session) = try mixedVault(s, count: 150)
        let (keys, _) = try s.supporter("nurse@example.jp")
        try vault.grant(keys, session: session)  // the header now vouches for 151 records
        _ = try vault.records(session, after: 140, limit: 5)
        let frames = try frameOffsets(vault.path)
        let bytes = try RobustFile.read(vault.path)
        try RobustFile.write(Array(bytes[..<frames[149].offset]), to: vault.path)
        let full = readError { _ = try vault.records(session) }
        #expect(full?.contains("vouches for 151") == true)
        #expect(readError { _ = try vault.records(session, after: 140, limit: 50) } == full)
    }

    @Test("parallel verify reports the first problem in file order, as the serial walk does", arguments: [
        // (record whose ciphertext is altered, record whose header is altered)
        (40, 120), (120, 40), (60, 61), (61, 60), (200, nil), (nil, 7),
    ] as [(Int?, Int?)])
    func parallelFirstError(content: Int?, header: Int?) throws {
        let s = try Scratch()
        let (vault, session) = try mixedVault(s, count: 260)
        let frames = try frameOffsets(vault.path)
        if let content { try flipByte(vault.path, at: frames[content].offset + RecordFrame.headerLength + RecordFrame.nonceLength + 1) }
        if let header { try flipByte(vault.path, at: frames[header].offset + 30) }
        vault.parallelReads = false
        let serial = readError { _ = try vault.verify(session) }
        let serialRead = readError { _ = try vault.records(session) }
        vault.parallelReads = true
        #expect(serial != nil)
        #expect(readError { _ = try vault.verify(session) } == serial)
        #expect(readError { _ = try vault.records(session) } == serialRead)
        let first = [content, header].compactMap { $0 }.min()!
        #expect(serial?.contains("record \(first)") == true, "\(serial ?? "ok")")
    }
}
