import MikataCrypto

/// FORMAT.md §5: one record as stored. Frames follow the header copies back to back; appending writes a new
/// frame at the end and never touches earlier bytes.
///
///     0  4  magic "MKTR"          24 32 prevLink
///     4  4  frameLength           56 16 headerCheck = BLAKE2b-128(bytes 0..<56)
///     8  8  seq                   72    [kind 2: sealedRecordKey, 80 bytes]
///     16 4  epoch                       nonce (24), ciphertext and tag
///     20 1  kind                  -8 4  frameLength again
///     21 3  reserved (zero)       -4 4  magic "MKTE"
package struct RecordFrame: Equatable, Sendable {
    package static let magic: [UInt8] = Array("MKTR")
    package static let trailerMagic: [UInt8] = Array("MKTE")
    package static let fixedHeaderLength = 56
    package static let headerLength = 72
    package static let trailerLength = 8
    package static let sealedKeyLength = 80
    package static let nonceLength = 24
    package static let tagLength = 16
    /// The smallest possible frame: a kind-1 frame with an empty ciphertext body.
    package static let minimumLength = headerLength + nonceLength + tagLength + trailerLength
    /// FORMAT.md §5: the largest frame a v1 reader accepts.
    package static let maximumLength = headerLength + sealedKeyLength + nonceLength + tagLength + trailerLength + RecordPayload.maximumLength

    package enum Kind: UInt8, Sendable {
        /// Encrypted under the epoch's record key: written by key holders (patient, supporters).
        case vaultKey = 1
        /// A fresh key sealed to the epoch's write public key: written by write-only services.
        case sealed = 2
    }

    package var seq: UInt64
    package var epoch: UInt32
    package var kind: Kind
    package var prevLink: [UInt8]
    package var sealedRecordKey: [UInt8]?
    package var nonce: [UInt8]
    /// Ciphertext followed by the 16-byte tag.
    package var ciphertext: [UInt8]

    package init(seq: UInt64, epoch: UInt32, kind: Kind, prevLink: [UInt8], sealedRecordKey: [UInt8]?, nonce: [UInt8], ciphertext: [UInt8]) {
        self.seq = seq; self.epoch = epoch; self.kind = kind; self.prevLink = prevLink
        self.sealedRecordKey = sealedRecordKey; self.nonce = nonce; self.ciphertext = ciphertext
    }

    package var frameLength: Int {
        Self.headerLength + (sealedRecordKey?.count ?? 0) + nonce.count + ciphertext.count + Self.trailerLength
    }

    /// Bytes 0..<56: what the AEAD authenticates and the successor's link hashes, before the ciphertext exists.
    package static func fixedHeader(seq: UInt64, epoch: UInt32, kind: Kind, prevLink: [UInt8], frameLength: Int) -> [UInt8] {
        var w = ByteWriter(capacity: 56)
        w.write(magic); w.writeU32(UInt32(frameLength)); w.writeU64(seq); w.writeU32(epoch); w.writeU8(kind.rawValue)
        w.write([0, 0, 0]); w.write(prevLink)
        return w.bytes
    }

    package var fixedHeader: [UInt8] {
        Self.fixedHeader(seq: seq, epoch: epoch, kind: kind, prevLink: prevLink, frameLength: frameLength)
    }

    /// The AEAD's additional data: label, vault id, fixed header, and (kind 2) the sealed record key.
    package static func associatedData(vaultId: [UInt8], fixedHeader: [UInt8], sealedRecordKey: [UInt8]?) -> [UInt8] {
        var w = ByteWriter(capacity: 200)
        w.write(VaultFormat.Label.recordAD); w.write(vaultId); w.write(fixedHeader)
        if let k = sealedRecordKey { w.write(k) }
        return w.bytes
    }

    /// The link the next frame must carry as prevLink.
    package var link: [UInt8] {
        VaultFormat.link(fixedHeader: fixedHeader[...], tag: ciphertext[(ciphertext.count - Self.tagLength)...])
    }

    package func serialize() -> [UInt8] {
        let fixed = fixedHeader
        var w = ByteWriter(capacity: frameLength)
        w.write(fixed)
        w.write(VaultFormat.checksum(fixed[...], length: 16))
        if let k = sealedRecordKey { w.write(k) }
        w.write(nonce); w.write(ciphertext)
        w.writeU32(UInt32(frameLength)); w.write(Self.trailerMagic)
        return w.bytes
    }

    /// What lies at a position of the records region (FORMAT.md §5.2).
    package enum Scan: Equatable {
        /// A structurally valid frame of this many bytes.
        case frame(RecordFrame, length: Int)
        /// The end of the file is an incomplete append (a crash mid-write): discard from here on.
        case tornTail
    }

    /// Reads the frame at `offset` of `bytes`, which end where the file ends. Distinguishes a torn tail (the file
    /// ends inside a frame whose header is intact, or inside a header, or in zeros) from damage (FORMAT.md §5.2).
    /// A reader that does not hold the whole file applies the same steps to a window of it: `startsWithMagic`,
    /// `parseHeader`, then `parseFrame` (or `checkTrailer` alone for a walk that skips the body).
    package static func scan(_ bytes: [UInt8], at offset: Int) throws -> Scan {
        let remaining = bytes.count - offset
        precondition(remaining > 0, "scan past the end")
        if remaining < headerLength { return .tornTail }
        // A zero run to the end of the file is a torn tail; magic bytes are not zero, so only a frame without its
        // magic needs the look at the rest.
        guard startsWithMagic(bytes, at: offset) else {
            if bytes[offset...].allSatisfy({ $0 == 0 }) { return .tornTail }
            throw FormatError.badMagic("record frame at byte \(offset)")
        }
        let header = try parseHeader(bytes, at: offset, position: offset)
        if header.length > remaining { return .tornTail }
        return .frame(try parseFrame(bytes, at: offset, header: header, position: offset), length: header.length)
    }

    /// The checked fields of a frame's 72-byte header: all a reader needs before it holds the rest of the frame.
    package struct Header: Equatable, Sendable {
        package var length: Int
        package var seq: UInt64
        package var epoch: UInt32
        package var kind: Kind
        package var prevLink: [UInt8]
    }

    /// Whether the bytes at `index` begin with the frame magic (`bytes` holds at least 4 bytes from there).
    package static func startsWithMagic(_ bytes: [UInt8], at index: Int) -> Bool {
        bytes[index] == magic[0] && bytes[index + 1] == magic[1] && bytes[index + 2] == magic[2] && bytes[index + 3] == magic[3]
    }

    /// FORMAT.md §5.2 for the 72 header bytes at `index` of `bytes`: magic, header check, reserved bytes, kind and
    /// the length's range. `position` is the frame's offset in the file, for messages.
    package static func parseHeader(_ bytes: [UInt8], at index: Int, position: Int) throws -> Header {
        precondition(bytes.count - index >= headerLength, "parseHeader needs the whole header")
        guard startsWithMagic(bytes, at: index) else { throw FormatError.badMagic("record frame at byte \(position)") }
        guard VaultFormat.checksum(bytes[index..<(index + fixedHeaderLength)], length: 16).elementsEqual(bytes[(index + fixedHeaderLength)..<(index + headerLength)]) else {
            throw FormatError.checksumMismatch("record frame header at byte \(position)")
        }
        // Fixed offsets (FORMAT.md §5.2), read in place: the whole header is there (the precondition above).
        let length = Int(bytes.bigEndianInteger(at: index + 4, count: 4))
        let seq = bytes.bigEndianInteger(at: index + 8, count: 8)
        let epoch = UInt32(truncatingIfNeeded: bytes.bigEndianInteger(at: index + 16, count: 4))
        let kindCode = bytes[index + 20]
        guard bytes[index + 21] == 0, bytes[index + 22] == 0, bytes[index + 23] == 0 else {
            throw FormatError.invalidField("record frame at byte \(position): reserved bytes set")
        }
        let prevLink = Array(bytes[(index + 24)..<(index + fixedHeaderLength)])
        guard let kind = Kind(rawValue: kindCode) else { throw FormatError.unsupportedType("record kind \(kindCode)") }
        let minimum = minimumLength + (kind == .sealed ? sealedKeyLength : 0)
        guard length >= minimum, length <= maximumLength else {
            throw FormatError.invalidField("record frame at byte \(position): length \(length) out of range")
        }
        return Header(length: length, seq: seq, epoch: epoch, kind: kind, prevLink: prevLink)
    }

    /// The trailer of a frame of `length` bytes whose last 8 bytes are at `index` of `bytes` (FORMAT.md §5.2);
    /// `end` is the frame's end in the file, for messages.
    package static func checkTrailer(_ bytes: [UInt8], at index: Int, length: Int, end: Int) throws {
        guard index >= 0, trailerLength <= bytes.count - index else { throw FormatError.truncated("record frame trailer at byte \(end - trailerLength)") }
        guard Int(bytes.bigEndianInteger(at: index, count: 4)) == length else {
            throw FormatError.invalidField("record frame trailer at byte \(end - trailerLength): length mismatch")
        }
        guard bytes[(index + 4)..<(index + trailerLength)].elementsEqual(trailerMagic) else {
            throw FormatError.badMagic("record frame trailer at byte \(end - trailerLength)")
        }
    }

    /// The whole frame at `index` of `bytes` (which hold at least `header.length` bytes from there), its header
    /// already checked: the trailer, then the body split into sealed key, nonce and ciphertext.
    package static func parseFrame(_ bytes: [UInt8], at index: Int, header: Header, position: Int) throws -> RecordFrame {
        let end = index + header.length
        try checkTrailer(bytes, at: end - trailerLength, length: header.length, end: position + header.length)
        let body = try bodyLayout(bytes, at: index, header: header)
        return RecordFrame(seq: header.seq, epoch: header.epoch, kind: header.kind, prevLink: header.prevLink,
                           sealedRecordKey: body.sealedRecordKey.map { Array(bytes[$0]) },
                           nonce: Array(bytes[body.nonce]), ciphertext: Array(bytes[body.ciphertext]))
    }

    /// Where the body of the frame at `index` of `bytes` lies (FORMAT.md §5.2: sealed record key for kind 2, nonce,
    /// ciphertext with its tag), as ranges of `bytes`, for readers that decrypt in place instead of copying the
    /// ciphertext out (`parseFrame` copies it). The header was checked (`parseHeader`), so the ranges are in bounds.
    /// - Throws: `FormatError.truncated` when the body is too short for its fields (a header check lets none through).
    package static func bodyLayout(_ bytes: [UInt8], at index: Int, header: Header) throws
        -> (sealedRecordKey: Range<Int>?, nonce: Range<Int>, ciphertext: Range<Int>) {
        var start = index + headerLength
        let end = index + header.length - trailerLength
        guard index >= 0, header.length <= bytes.count - index else { throw FormatError.truncated("record frame body") }
        var sealedKey: Range<Int>?
        if header.kind == .sealed {
            guard sealedKeyLength <= end - start else { throw FormatError.truncated("record frame body") }
            sealedKey = start..<(start + sealedKeyLength)
            start += sealedKeyLength
        }
        guard nonceLength <= end - start else { throw FormatError.truncated("record frame body") }
        return (sealedKey, start..<(start + nonceLength), (start + nonceLength)..<end)
    }

    /// The sequence number in a 72-byte frame header, if its magic, checksum and length field are right.
    package static func seqIfValidHeader(_ head: [UInt8], length: Int) -> UInt64? {
        guard head.count == headerLength, Array(head[0..<4]) == magic,
              VaultFormat.checksum(head[0..<fixedHeaderLength], length: 16) == Array(head[fixedHeaderLength..<headerLength])
        else { return nil }
        let declared = head[4..<8].reduce(0) { $0 << 8 | Int($1) }
        guard declared == length else { return nil }
        return head[8..<16].reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// The trailer at the end of a region: the length of the frame that ends there, if the trailer is well formed.
    /// Used to find the last frame without scanning the file (FORMAT.md §5.4).
    package static func lengthFromTrailer(_ trailer: [UInt8]) -> Int? {
        guard trailer.count == trailerLength, Array(trailer[4..<8]) == trailerMagic else { return nil }
        let n = trailer[0..<4].reduce(0) { $0 << 8 | Int($1) }
        return n >= minimumLength && n <= maximumLength ? n : nil
    }
}

/// FORMAT.md §5.5: the plaintext inside a record's AEAD: author, time, type, data and the author's signature.
package struct RecordPayload: Equatable, Sendable {
    package static let version: UInt8 = 1
    package static let maximumLength = 1 + 16 + 8 + 1 + VaultFormat.recordTypeMaxLength + 4 + VaultFormat.recordDataMax + 64

    package var authorId: [UInt8]
    package var timeMillis: Int64
    package var type: String
    package var data: [UInt8]
    package var signature: [UInt8]

    package init(authorId: [UInt8], timeMillis: Int64, type: String, data: [UInt8], signature: [UInt8] = []) {
        self.authorId = authorId; self.timeMillis = timeMillis; self.type = type; self.data = data; self.signature = signature
    }

    /// Record types: 1 to 64 of [a-z0-9._-]. Types starting "mikata." are reserved for the vault itself.
    package static func isValidType(_ type: String) -> Bool {
        let u = Array(type.utf8)
        guard (1...VaultFormat.recordTypeMaxLength).contains(u.count) else { return false }
        return u.allSatisfy { (97...122).contains($0) || (48...57).contains($0) || $0 == 46 || $0 == 95 || $0 == 45 }
    }

    package func unsignedBytes() -> [UInt8] {
        var w = ByteWriter(capacity: data.count + 100)
        w.writeU8(Self.version); w.write(authorId); w.writeI64(timeMillis)
        let t = Array(type.utf8)
        w.writeU8(UInt8(t.count)); w.write(t)
        w.writeU32(UInt32(data.count)); w.write(data)
        return w.bytes
    }

    package func serialize() -> [UInt8] {
        precondition(signature.count == 64, "RecordPayload must be signed before serialising")
        return unsignedBytes() + signature
    }

    /// The message an author signs: the label, then BLAKE2b-256(vault id, seq, unsigned payload).
    /// The epoch is left out so that re-encryption under a new epoch keeps every signature valid.
    package static func signatureMessage(vaultId: [UInt8], seq: UInt64, unsignedPayload: [UInt8]) -> [UInt8] {
        signatureMessage(vaultId: vaultId, seq: seq, unsignedPayload: unsignedPayload[...])
    }

    /// The same, hashing a slice in place (a read path without copying the record).
    package static func signatureMessage(vaultId: [UInt8], seq: UInt64, unsignedPayload: ArraySlice<UInt8>) -> [UInt8] {
        let h = Blake2b(outputLength: 32)
        var w = ByteWriter(capacity: 24); w.write(vaultId); w.writeU64(seq)
        h.update(w.bytes)
        unsignedPayload.withUnsafeBytes { h.update($0) }
        var m = ByteWriter(capacity: 64)
        m.write(VaultFormat.Label.recordSignature); m.write(h.finalize())
        return m.bytes
    }

    /// FORMAT.md §5.5's fields of a payload, with where its data lies in the payload's bytes instead of a copy of it.
    package struct Layout: Sendable {
        package let authorId: [UInt8]
        package let timeMillis: Int64
        package let type: String
        /// The data's bytes in the payload: 0 to `VaultFormat.recordDataMax` of them.
        package let data: Range<Int>
        /// The author's Ed25519 signature, 64 bytes (the payload's last).
        package let signature: [UInt8]
    }

    /// Reads a payload's fields (FORMAT.md §5.5) without copying its data.
    /// - Throws: `FormatError.unsupportedType` (another payload version), `.invalidField` (a type outside
    ///   `isValidType`), `.limitExceeded` (data over `recordDataMax`), `.truncated`, `.trailingBytes`.
    package static func layout(_ bytes: [UInt8]) throws -> Layout {
        var r = ByteReader(bytes, context: "record payload")
        let v = try r.readU8()
        guard v == version else { throw FormatError.unsupportedType("record payload version \(v)") }
        let author = try r.read(16)
        let time = try r.readI64()
        let typeLength = Int(try r.readU8())
        let typeBytes = try r.read(typeLength)
        guard let type = String(validating: typeBytes, as: UTF8.self), isValidType(type) else { throw FormatError.invalidField("record payload: invalid type") }
        let dataLength = Int(try r.readU32())
        guard dataLength <= VaultFormat.recordDataMax else { throw FormatError.limitExceeded("record payload: data of \(dataLength) bytes") }
        try r.skip(dataLength)
        let data = r.offset - dataLength..<r.offset
        let signature = try r.read(64)
        try r.expectEnd()
        return Layout(authorId: author, timeMillis: time, type: type, data: data, signature: signature)
    }

    /// Parses a payload (FORMAT.md §5.5), its data copied out.
    /// - Throws: as `layout`.
    package static func parse(_ bytes: [UInt8]) throws -> RecordPayload {
        let l = try layout(bytes)
        return RecordPayload(authorId: l.authorId, timeMillis: l.timeMillis, type: l.type, data: Array(bytes[l.data]), signature: l.signature)
    }

    /// The data of `payload` (whose layout is `data`), made of the payload's own storage: what follows the data is
    /// cut off and what precedes it moved out of the way in place, so a reader does not allocate and copy each
    /// record's data a second time after decrypting it.
    package static func takeData(_ payload: consuming [UInt8], _ data: Range<Int>) -> [UInt8] {
        var bytes = payload
        bytes.removeSubrange(data.upperBound...)
        bytes.removeSubrange(..<data.lowerBound)
        return bytes
    }
}
