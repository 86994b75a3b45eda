/// JSON text in a plain subset that a serializer with sorted keys prints back byte for byte: no white space; strings
/// of printable ASCII without escapes; integers of at most 15 digits (exact as doubles), never "-0"; object keys of
/// lower-case ASCII letters in strictly increasing order (an order every key-sorting serializer agrees on, numeric
/// and case-folding comparisons included); at most 32 levels deep. Lets a listing copy record data as it is stored
/// instead of parsing and re-serializing it, where that would print the same bytes.
package enum PlainJSON {
    static let depthMax = 32
    static let digitsMax = 15

    /// Whether `bytes` are one value of the plain subset, and nothing else.
    package static func isPlain(_ bytes: [UInt8]) -> Bool {
        var i = 0
        guard value(bytes, &i, depth: 0) else { return false }
        return i == bytes.count
    }

    private static func value(_ b: [UInt8], _ i: inout Int, depth: Int) -> Bool {
        guard i < b.count, depth < depthMax else { return false }
        switch b[i] {
        case UInt8(ascii: "{"):
            i += 1
            if i < b.count, b[i] == UInt8(ascii: "}") { i += 1; return true }
            var previous: ArraySlice<UInt8>?
            while true {
                let start = i + 1
                guard string(b, &i, keyLetters: true) else { return false }
                let key = b[start..<(i - 1)]
                if let previous, !previous.lexicographicallyPrecedes(key) { return false }
                previous = key
                guard i < b.count, b[i] == UInt8(ascii: ":") else { return false }
                i += 1
                guard value(b, &i, depth: depth + 1), i < b.count else { return false }
                if b[i] == UInt8(ascii: "}") { i += 1; return true }
                guard b[i] == UInt8(ascii: ",") else { return false }
                i += 1
            }
        case UInt8(ascii: "["):
            i += 1
            if i < b.count, b[i] == UInt8(ascii: "]") { i += 1; return true }
            while true {
                guard value(b, &i, depth: depth + 1), i < b.count else { return false }
                if b[i] == UInt8(ascii: "]") { i += 1; return true }
                guard b[i] == UInt8(ascii: ",") else { return false }
                i += 1
            }
        case UInt8(ascii: "\""):
            return string(b, &i, keyLetters: false)
        case UInt8(ascii: "t"): return literal(b, &i, "true")
        case UInt8(ascii: "f"): return literal(b, &i, "false")
        case UInt8(ascii: "n"): return literal(b, &i, "null")
        default:
            return integer(b, &i)
        }
    }

    private static func string(_ b: [UInt8], _ i: inout Int, keyLetters: Bool) -> Bool {
        guard i < b.count, b[i] == UInt8(ascii: "\"") else { return false }
        // A local index and one loop per kind (a key's letters, a value's printable ASCII) keep the per-byte work to
        // a compare or two: record data is mostly long strings, and listings scan every byte of it.
        var j = i + 1
        let n = b.count
        defer { i = j }
        if keyLetters {
            while j < n {
                let c = b[j]
                if c &- UInt8(ascii: "a") < 26 { j += 1; continue }
                guard c == UInt8(ascii: "\"") else { return false }
                j += 1
                return true
            }
            return false
        }
        // Eight bytes at a time while every one of them is plain (the word tests below never pass a word holding a
        // byte that is not; a word they stop at, and the rest, are decided byte by byte).
        while j + 8 <= n, wordIsPlain(b, j) { j += 8 }
        while j < n {
            let c = b[j]
            // Printable ASCII (0x20...0x7e) but for the quote and the backslash.
            if c &- 0x20 < 0x5f, c != UInt8(ascii: "\""), c != UInt8(ascii: "\\") { j += 1; continue }
            guard c == UInt8(ascii: "\"") else { return false }
            j += 1
            return true
        }
        return false
    }

    /// Whether `b[at..<at + 8]` are all printable ASCII other than `"` and `\\`, tested on one 64-bit word
    /// (Anderson, "Bit Twiddling Hacks": `haszero`, `hasless`; exact as "some byte is" tests when no byte has its top
    /// bit set, which is tested first).
    package static func wordIsPlain(_ b: [UInt8], _ at: Int) -> Bool {
        var w: UInt64 = 0
        for k in 0..<8 { w |= UInt64(b[at + k]) << (8 * k) }
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        func hasZeroByte(_ x: UInt64) -> Bool { (x &- ones) & ~x & highs != 0 }
        if w & highs != 0 { return false }                          // a byte ≥ 0x80
        if (w &- ones &* 0x20) & ~w & highs != 0 { return false }   // a byte < 0x20
        return !hasZeroByte(w ^ (ones &* 0x22)) && !hasZeroByte(w ^ (ones &* 0x5c)) && !hasZeroByte(w ^ (ones &* 0x7f))
    }

    private static func literal(_ b: [UInt8], _ i: inout Int, _ word: StaticString) -> Bool {
        let n = word.utf8CodeUnitCount
        guard b.count - i >= n else { return false }
        for k in 0..<n where b[i + k] != word.utf8Start[k] { return false }
        i += n
        return true
    }

    private static func integer(_ b: [UInt8], _ i: inout Int) -> Bool {
        let negative = b[i] == UInt8(ascii: "-")
        if negative { i += 1 }
        let start = i
        while i < b.count, b[i] >= UInt8(ascii: "0"), b[i] <= UInt8(ascii: "9") { i += 1 }
        let digits = i - start
        guard digits >= 1, digits <= digitsMax else { return false }
        if b[start] == UInt8(ascii: "0") { return digits == 1 && !negative }
        // A fraction or exponent would follow here: not plain.
        return i == b.count || ![UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(b[i])
    }
}
