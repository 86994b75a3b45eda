/// Big-endian binary reading that never traps: every read checks what remains and throws `FormatError.truncated`.
/// Modeled on swift-nio's ByteBuffer readers (all-or-nothing, no partial reads).
package struct ByteReader {
    package let bytes: [UInt8]
    package private(set) var offset: Int
    private let end: Int
    private let context: String

    package init(_ bytes: [UInt8], range: Range<Int>? = nil, context: String) {
        self.bytes = bytes
        self.offset = range?.lowerBound ?? 0
        self.end = range?.upperBound ?? bytes.count
        self.context = context
    }

    package var remaining: Int { end - offset }
    package var isAtEnd: Bool { offset == end }

    package mutating func read(_ count: Int) throws -> [UInt8] {
        guard count >= 0, count <= remaining else { throw FormatError.truncated(context) }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    /// Steps over `count` bytes without copying them; where they lie is `offset - count ..< offset` after.
    /// - Throws: `FormatError.truncated` when fewer remain.
    package mutating func skip(_ count: Int) throws {
        guard count >= 0, count <= remaining else { throw FormatError.truncated(context) }
        offset += count
    }

    package mutating func readU8() throws -> UInt8 {
        guard remaining >= 1 else { throw FormatError.truncated(context) }
        defer { offset += 1 }
        return bytes[offset]
    }

    package mutating func readU16() throws -> UInt16 { UInt16(truncatingIfNeeded: try readBigEndian(2)) }

    package mutating func readU32() throws -> UInt32 { UInt32(truncatingIfNeeded: try readBigEndian(4)) }

    package mutating func readU64() throws -> UInt64 { try readBigEndian(8) }

    /// An unsigned big-endian integer of `count` (1 to 8) bytes, read in place (no copy of the bytes).
    private mutating func readBigEndian(_ count: Int) throws -> UInt64 {
        guard count <= remaining else { throw FormatError.truncated(context) }
        defer { offset += count }
        return bytes.bigEndianInteger(at: offset, count: count)
    }

    package mutating func readI64() throws -> Int64 { Int64(bitPattern: try readU64()) }

    /// Reads a u16-length-prefixed field no longer than `max`.
    package mutating func readVariable16(max: Int) throws -> [UInt8] {
        let n = Int(try readU16())
        guard n <= max else { throw FormatError.limitExceeded("\(context): field of \(n) bytes exceeds \(max)") }
        return try read(n)
    }

    package mutating func expectMagic(_ magic: [UInt8]) throws {
        guard magic.count <= remaining else { throw FormatError.truncated(context) }
        guard bytes[offset..<offset + magic.count].elementsEqual(magic) else { throw FormatError.badMagic(context) }
        offset += magic.count
    }

    package func expectEnd() throws {
        guard isAtEnd else { throw FormatError.trailingBytes(context) }
    }
}

/// Big-endian binary writing.
package struct ByteWriter {
    package private(set) var bytes: [UInt8] = []

    package init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    package mutating func write(_ b: [UInt8]) { bytes.append(contentsOf: b) }
    package mutating func write(_ b: ArraySlice<UInt8>) { bytes.append(contentsOf: b) }
    package mutating func write(_ s: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }
    package mutating func writeU8(_ v: UInt8) { bytes.append(v) }
    package mutating func writeU16(_ v: UInt16) { bytes.append(contentsOf: [UInt8(v >> 8), UInt8(v & 0xff)]) }
    package mutating func writeU32(_ v: UInt32) { for s in stride(from: 24, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: v >> UInt32(s))) } }
    package mutating func writeU64(_ v: UInt64) { for s in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: v >> UInt64(s))) } }
    package mutating func writeI64(_ v: Int64) { writeU64(UInt64(bitPattern: v)) }
    package mutating func writeVariable16(_ b: [UInt8]) {
        precondition(b.count <= Int(UInt16.max), "field too long for a u16 length")
        writeU16(UInt16(b.count)); write(b)
    }
    package mutating func pad(to length: Int) {
        precondition(bytes.count <= length, "ByteWriter.pad: content longer than target")
        bytes.append(contentsOf: [UInt8](repeating: 0, count: length - bytes.count))
    }
}

extension Array where Element == UInt8 {
    /// The unsigned big-endian integer in `count` (1 to 8) bytes from `index`; the caller has checked the bounds.
    package func bigEndianInteger(at index: Int, count: Int) -> UInt64 {
        precondition(count >= 1 && count <= 8 && index >= 0 && count <= self.count - index, "bigEndianInteger out of bounds")
        var v: UInt64 = 0
        for i in index..<(index + count) { v = v << 8 | UInt64(self[i]) }
        return v
    }

    /// Lower-case hexadecimal, for identifiers (never for secrets).
    package var hex: String {
        @inline(__always) func digit(_ v: UInt8) -> UInt8 { v < 10 ? v + 48 : v + 87 }  // 0-9, a-f
        return String(unsafeUninitializedCapacity: count * 2) { out in
            var i = 0
            for b in self {
                out[i] = digit(b >> 4)
                out[i + 1] = digit(b & 0x0F)
                i += 2
            }
            return i
        }
    }

    /// The value of one hex digit (either case), or nil.
    package static func hexNibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: return c - 48
        case 97...102: return c - 87
        case 65...70: return c - 55
        default: return nil
        }
    }

    package init?(hex: String) {
        let chars = Array(hex.utf8)
        guard chars.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(chars.count / 2)
        let nibble = Self.hexNibble
        var i = 0
        while i < chars.count {
            guard let hi = nibble(chars[i]), let lo = nibble(chars[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        self = out
    }

    package init(_ s: StaticString) {
        self = Array(UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }
}
