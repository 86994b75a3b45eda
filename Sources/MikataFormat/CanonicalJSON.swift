/// A JSON value as RFC 8785 (JCS) sees it: numbers are IEEE 754 doubles, strings are Unicode scalars
/// compared exactly, objects keep their members in insertion order.
///
/// Equality is exact, because equal values must sign identically: strings compare by their scalars, not by
/// Swift's canonical equivalence ("\u{C5}" ≠ "A\u{30A}"), and objects compare as ordered member lists.
/// Numbers compare as doubles, so `0 == -0` (both serialize as "0").
package indirect enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    /// Must be finite: `CanonicalJSON.serialize` traps on NaN and infinities (RFC 8785 §3.2.2.3).
    /// Integers are exact only up to 2^53; encode larger ones (ids, counters) as strings (I-JSON, RFC 7493 §2.2).
    case number(Double)
    case string(String)
    case array([JSONValue])
    /// Member names must be distinct (by scalars): `CanonicalJSON.serialize` traps on duplicates.
    case object([(String, JSONValue)])

    package static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case let (.bool(a), .bool(b)): return a == b
        case let (.number(a), .number(b)): return a == b
        case let (.string(a), .string(b)): return a.unicodeScalars.elementsEqual(b.unicodeScalars)
        case let (.array(a), .array(b)): return a == b
        case let (.object(a), .object(b)):
            return a.elementsEqual(b) { $0.0.unicodeScalars.elementsEqual($1.0.unicodeScalars) && $0.1 == $1.1 }
        default: return false
        }
    }
}

extension JSONValue {
    /// The value of the member named `key` (exact scalar match), or nil if this is not an object or has no such member.
    package subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.0.unicodeScalars.elementsEqual(key.unicodeScalars) }?.1
    }

    package var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    package var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    package var doubleValue: Double? {
        if case .number(let d) = self { return d }
        return nil
    }

    /// The number as an `Int` if it is integral and within ±2^53, the range where doubles hold integers exactly.
    package var intValue: Int? {
        guard case .number(let d) = self, d.isFinite, d.rounded(.towardZero) == d,
              d.magnitude <= CanonicalJSON.maxExactInteger else { return nil }
        return Int(d)
    }

    package var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    package var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    package var objectValue: [(String, JSONValue)]? {
        if case .object(let o) = self { return o }
        return nil
    }
}

extension JSONValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral {
    package init(nilLiteral: ()) { self = .null }
    package init(booleanLiteral value: Bool) { self = .bool(value) }
    package init(integerLiteral value: Int) { self = .number(Double(value)) }
    package init(floatLiteral value: Double) { self = .number(value) }
    package init(stringLiteral value: String) { self = .string(value) }
    package init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    /// Keeps the literal's order; duplicate names are a programmer error that `serialize` traps on.
    package init(dictionaryLiteral elements: (String, JSONValue)...) { self = .object(elements) }
}

/// RFC 8785, the JSON Canonicalization Scheme: one byte string per JSON value, so that signatures
/// (deletion certificates, audit-log checkpoints) cover the value and not its formatting.
///
/// The parser is strict RFC 8259 over UTF-8 plus the I-JSON rules JCS relies on (RFC 7493): no duplicate
/// member names, no lone surrogates, numbers that are finite doubles. It never traps on input.
package enum CanonicalJSON {
    /// Upper bound on the input, far above any certificate or checkpoint; bounds the parser's work.
    package static let maxInputBytes = 16 << 20
    /// Arrays and objects nested deeper than this are rejected (RFC 8259 §9 lets parsers limit nesting);
    /// bounds the parser's recursion.
    package static let maxDepth = 64
    /// 2^53: integers beyond it are not all representable as doubles (RFC 7493 §2.2).
    package static let maxExactInteger: Double = 9_007_199_254_740_992

    /// Parses JSON text (RFC 8259, UTF-8, no byte order mark) into a value.
    ///
    /// - Throws: `FormatError.limitExceeded` for input over `maxInputBytes` or nesting over `maxDepth`;
    ///   `FormatError.truncated` when the text ends inside a value; `FormatError.trailingBytes` for anything but
    ///   whitespace after the value; `FormatError.invalidField` for every other violation (bad syntax, invalid
    ///   UTF-8, control characters in strings, lone surrogates, duplicate member names, numbers that overflow).
    ///   Messages give the byte offset, never content.
    package static func parse(_ bytes: [UInt8]) throws -> JSONValue {
        var compact = true
        return try parse(bytes, compact: &compact)
    }

    /// Whether `parse` would accept `bytes` (the same rules, the same limits), without building the value
    /// (`StrictJSONScanner`: one pass over the bytes; member names are compared where they lie in the text). For
    /// readers that pass stored JSON on as it is and only need to know that it is strict JSON.
    package static func isStrictJSON(_ bytes: [UInt8]) -> Bool {
        strictScan(bytes).strict
    }

    /// `isStrictJSON`, with `parse`'s error when it is not.
    /// - Throws: as `parse`.
    package static func validate(_ bytes: [UInt8]) throws {
        if case .strict = StrictJSONScanner.scan(bytes) { return }
        // Rejected: the parser names the first problem (both read the same rules; the tests hold them to it).
        _ = try parse(bytes)
        throw FormatError.invalidField("json: rejected by the check-only scan but not by the parser")
    }

    /// `isStrictJSON`, and whether the text is compact: no white space between its tokens (RFC 8259 §2 `ws`), so it
    /// is already what `CompactJSON.append` would write. One pass (`StrictJSONScanner`).
    package static func strictScan(_ bytes: [UInt8]) -> (strict: Bool, compact: Bool) {
        switch StrictJSONScanner.scan(bytes) {
        case .strict(let compact, _): return (true, compact)
        case .invalid: return (false, false)
        }
    }

    /// The content of the JSON string whose opening quote is `bytes[quote]`, escapes decoded (RFC 8259 §7), as
    /// `parse` decodes it; nil if no valid string starts there. For `StrictJSONScanner`'s member names.
    static func decodedString(_ bytes: [UInt8], quoteAt quote: Int) -> [UInt8]? {
        var parser = JSONParser(bytes: bytes, at: quote)
        return try? parser.parseString()
    }

    private static func parse(_ bytes: [UInt8], compact: inout Bool) throws -> JSONValue {
        guard bytes.count <= maxInputBytes else {
            throw FormatError.limitExceeded("json: input of \(bytes.count) bytes exceeds \(maxInputBytes)")
        }
        var parser = JSONParser(bytes: bytes)
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.offset == bytes.count else { throw FormatError.trailingBytes("json text (at byte \(parser.offset))") }
        compact = !parser.sawWhitespace
        return value
    }

    /// The RFC 8785 serialization of `value`: members sorted by UTF-16 code units (§3.2.3), no whitespace,
    /// minimal string escapes (§3.2.2.2), numbers as ECMAScript `Number.prototype.toString` (§3.2.2.3).
    ///
    /// - Precondition: every number is finite and no object has two members with the same name. `parse` never
    ///   produces such values; building one is a programmer error, and RFC 8785 requires stopping rather than
    ///   emitting something a verifier would read differently.
    package static func serialize(_ value: JSONValue) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        write(value, into: &out)
        return out
    }

    /// `serialize(parse(bytes))`.
    /// - Throws: what `parse` throws.
    package static func canonicalize(_ bytes: [UInt8]) throws -> [UInt8] {
        serialize(try parse(bytes))
    }

    // MARK: - Serialization

    private static func write(_ value: JSONValue, into out: inout [UInt8]) {
        switch value {
        case .null: out += "null".utf8
        case .bool(let b): out += (b ? "true" : "false").utf8
        case .number(let d): out += numberText(d).utf8
        case .string(let s): writeString(s, into: &out)
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            for (i, element) in elements.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                write(element, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            // §3.2.3: sort by the names' UTF-16 code units, which differs from scalar order above U+FFFF. For names
            // of ASCII only (the engine's own objects), UTF-8 bytes sort the same, compared in place.
            // For ASCII, Swift's `<` and `==` on String are byte order and byte equality (every ASCII string is its
            // own normal form), and take the standard library's memcmp fast path.
            let ascii = members.allSatisfy { $0.0.utf8.allSatisfy { $0 < 0x80 } }
            let sorted = ascii
                ? members.sorted { $0.0 < $1.0 }
                : members.map { (key: Array($0.0.utf16), member: $0) }.sorted { $0.key.lexicographicallyPrecedes($1.key) }.map(\.member)
            out.append(UInt8(ascii: "{"))
            for (i, member) in sorted.enumerated() {
                if i > 0 {
                    // Equal code units, not Swift's canonical-equivalence `==` (the same for ASCII).
                    precondition(ascii ? member.0 != sorted[i - 1].0 : !member.0.utf8.elementsEqual(sorted[i - 1].0.utf8),
                                 "JSONValue.object has a duplicate member name")
                    out.append(UInt8(ascii: ","))
                }
                writeString(member.0, into: &out)
                out.append(UInt8(ascii: ":"))
                write(member.1, into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// §3.2.2.2: the two-character escapes where JSON has them, `\u00xx` (lower-case hex) for the other controls,
    /// everything else (including U+007F, U+2028 and non-BMP scalars) as literal UTF-8.
    private static func writeString(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { text in
            // Runs of bytes that need no escape are copied whole.
            var run = 0
            for (i, byte) in text.enumerated() where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                out.append(contentsOf: UnsafeBufferPointer(rebasing: text[run..<i]))
                writeEscape(byte, into: &out)
                run = i + 1
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: text[run...]))
        }
        out.append(UInt8(ascii: "\""))
    }

    /// One byte that `writeString` escapes: a quote, a backslash or a control character.
    private static func writeEscape(_ byte: UInt8, into out: inout [UInt8]) {
        switch byte {
        case UInt8(ascii: "\""): out += #"\""#.utf8
        case UInt8(ascii: "\\"): out += #"\\"#.utf8
        case 0x08: out += #"\b"#.utf8
        case 0x09: out += #"\t"#.utf8
        case 0x0A: out += #"\n"#.utf8
        case 0x0C: out += #"\f"#.utf8
        case 0x0D: out += #"\r"#.utf8
        case 0x00..<0x20:
            out += #"\u00"#.utf8
            out.append(hexDigits[Int(byte >> 4)])
            out.append(hexDigits[Int(byte & 0x0F)])
        default: out.append(byte)
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// ECMA-262 Number::toString(x) for finite x (RFC 8785 §3.2.2.3).
    ///
    /// Swift's `description` already gives the shortest digits that round-trip (closest to x on ties), the same
    /// digits ECMAScript asks for; only the layout differs, so this takes the digits and exponent from it and
    /// lays them out the ECMAScript way.
    static func numberText(_ x: Double) -> String {
        precondition(x.isFinite, "RFC 8785 §3.2.2.3: NaN and infinities cannot be serialized")
        if x == 0 { return "0" }  // also -0
        // Integers below 2^53 (sequence numbers, counts, sizes): their digits, as Number.prototype.toString writes
        // every integer below 10^21.
        if x.magnitude < 9_007_199_254_740_992, x == x.rounded(.towardZero) { return String(Int64(x)) }
        return shortestText(x)
    }

    /// `numberText` through the shortest round-trip digits, for every finite nonzero x (the integers' fast path
    /// agrees with it: tested).
    static func shortestText(_ x: Double) -> String {
        let (digits, n) = decimalDigits(of: x.magnitude)
        let k = digits.count
        let zero = UInt8(ascii: "0")
        var text: [UInt8] = x < 0 ? [UInt8(ascii: "-")] : []
        if k <= n && n <= 21 {
            text += digits + repeatElement(zero, count: n - k)
        } else if 0 < n && n <= 21 {
            text += digits[..<n] + [UInt8(ascii: ".")] + digits[n...]
        } else if -6 < n && n <= 0 {
            text += [zero, UInt8(ascii: ".")] + repeatElement(zero, count: -n) + digits
        } else {
            let e = n - 1
            text.append(digits[0])
            if k > 1 { text += [UInt8(ascii: ".")] + digits[1...] }
            text += (e < 0 ? "e-" : "e+").utf8
            text += String(e.magnitude).utf8
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// The shortest round-trip digits of a finite positive x, without leading or trailing zeros, and n such that
    /// x = 0.d₁d₂…dₖ × 10^n. Reads any layout of `description` ("123.0", "1e-07", "1.5e+300", "0.0001").
    private static func decimalDigits(of x: Double) -> (digits: [UInt8], n: Int) {
        let text = Array(x.description.utf8)
        var digits: [UInt8] = []
        var integerDigits = 0
        var seenPoint = false
        var exponent = 0
        var i = 0
        while i < text.count {
            let c = text[i]
            i += 1
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                digits.append(c)
                if !seenPoint { integerDigits += 1 }
            case UInt8(ascii: "."):
                seenPoint = true
            case UInt8(ascii: "e"), UInt8(ascii: "E"):
                let negative = i < text.count && text[i] == UInt8(ascii: "-")
                if i < text.count && (text[i] == UInt8(ascii: "-") || text[i] == UInt8(ascii: "+")) { i += 1 }
                while i < text.count {
                    exponent = exponent * 10 + Int(text[i] &- UInt8(ascii: "0"))
                    i += 1
                }
                if negative { exponent = -exponent }
            default:
                preconditionFailure("unexpected character in Double.description")
            }
        }
        let first = digits.firstIndex { $0 != UInt8(ascii: "0") } ?? digits.endIndex
        let end = (digits.lastIndex { $0 != UInt8(ascii: "0") } ?? first - 1) + 1
        return (Array(digits[first..<max(first, end)]), integerDigits + exponent - first)
    }
}

/// A recursive-descent RFC 8259 parser over bytes. Every read checks what remains; nothing traps on input.
private struct JSONParser {
    let bytes: [UInt8]
    private(set) var offset = 0

    init(bytes: [UInt8], at offset: Int = 0) { self.bytes = bytes; self.offset = offset }

    private func invalid(_ what: String, at position: Int? = nil) -> FormatError {
        .invalidField("json: \(what) at byte \(position ?? offset)")
    }

    private var truncated: FormatError { .truncated("json text") }

    private func peek() throws -> UInt8 {
        guard offset < bytes.count else { throw truncated }
        return bytes[offset]
    }

    /// Whether any white space between tokens was skipped.
    private(set) var sawWhitespace = false

    /// RFC 8259 §2: whitespace is space, tab, line feed and carriage return only.
    @inline(__always)
    mutating func skipWhitespace() {
        while offset < bytes.count {
            switch bytes[offset] {
            case 0x20, 0x09, 0x0A, 0x0D: offset += 1; sawWhitespace = true
            default: return
            }
        }
    }

    /// `depth` counts the arrays and objects around this value.
    mutating func parseValue(depth: Int) throws -> JSONValue {
        skipWhitespace()
        switch try peek() {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""):
            return .string(String(decoding: try parseString(), as: UTF8.self))
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            let n = try parseNumber()
            return .number(n)
        default: throw invalid("unexpected byte")
        }
    }

    private mutating func expectLiteral(_ literal: String) throws {
        let start = offset
        for expected in literal.utf8 {
            guard try peek() == expected else { throw invalid("invalid literal", at: start) }
            offset += 1
        }
    }

    private mutating func enter(depth: Int) throws {
        guard depth <= CanonicalJSON.maxDepth else {
            throw FormatError.limitExceeded("json: nesting deeper than \(CanonicalJSON.maxDepth) at byte \(offset)")
        }
        offset += 1  // the opening bracket
    }

    private mutating func parseArray(depth: Int) throws -> JSONValue {
        try enter(depth: depth)
        var elements: [JSONValue] = []
        skipWhitespace()
        if try peek() == UInt8(ascii: "]") {
            offset += 1
            return .array(elements)
        }
        while true {
            let element = try parseValue(depth: depth)
            elements.append(element)
            skipWhitespace()
            switch try peek() {
            case UInt8(ascii: ","): offset += 1  // a value must follow: trailing commas fail in parseValue
            case UInt8(ascii: "]"): offset += 1; return .array(elements)
            default: throw invalid("expected ',' or ']'")
            }
        }
    }

    private mutating func parseObject(depth: Int) throws -> JSONValue {
        try enter(depth: depth)
        var members: [(String, JSONValue)] = []
        // Keys as bytes: Swift String equality and hashing use canonical equivalence, JSON names do not.
        var names = Set<[UInt8]>()
        skipWhitespace()
        if try peek() == UInt8(ascii: "}") {
            offset += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            let nameStart = offset
            guard try peek() == UInt8(ascii: "\"") else { throw invalid("expected a member name") }
            let name = try parseString()
            // RFC 7493 §2.3 / RFC 8785 §3.1: duplicate names make a value mean different things to different readers.
            guard names.insert(name).inserted else { throw invalid("duplicate member name", at: nameStart) }
            skipWhitespace()
            guard try peek() == UInt8(ascii: ":") else { throw invalid("expected ':'") }
            offset += 1
            let value = try parseValue(depth: depth)
            members.append((String(decoding: name, as: UTF8.self), value))
            skipWhitespace()
            switch try peek() {
            case UInt8(ascii: ","): offset += 1
            case UInt8(ascii: "}"): offset += 1; return .object(members)
            default: throw invalid("expected ',' or '}'")
            }
        }
    }

    /// A string's content as validated UTF-8 (RFC 8259 §7, §8.1), escapes decoded.
    fileprivate mutating func parseString() throws -> [UInt8] {
        var out: [UInt8] = []
        try parseString(into: &out)
        return out
    }

    /// The same, appended to `out`.
    private mutating func parseString(into out: inout [UInt8]) throws {
        offset += 1  // the opening quote
        while true {
            let byte = try peek()
            switch byte {
            case UInt8(ascii: "\""):
                offset += 1
                return
            case UInt8(ascii: "\\"):
                try parseEscape(into: &out)
            case 0x00..<0x20:
                throw invalid("unescaped control character in string")
            case 0x20..<0x80:
                out.append(byte)
                offset += 1
            default:
                try copyUTF8Sequence(into: &out)
            }
        }
    }

    private mutating func parseEscape(into out: inout [UInt8]) throws {
        let start = offset
        offset += 1  // the backslash
        let c = try peek()
        offset += 1
        switch c {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(c)
        case UInt8(ascii: "b"): out.append(0x08)
        case UInt8(ascii: "f"): out.append(0x0C)
        case UInt8(ascii: "n"): out.append(0x0A)
        case UInt8(ascii: "r"): out.append(0x0D)
        case UInt8(ascii: "t"): out.append(0x09)
        case UInt8(ascii: "u"):
            let unit = try parseHex4()
            var scalarValue = UInt32(unit)
            switch unit {
            case 0xD800...0xDBFF:
                // A high surrogate must be followed at once by an escaped low one (I-JSON, RFC 7493 §2.1).
                guard offset + 1 < bytes.count, bytes[offset] == UInt8(ascii: "\\"), bytes[offset + 1] == UInt8(ascii: "u")
                else { throw invalid("lone surrogate in \\u escape", at: start) }
                offset += 2
                let low = try parseHex4()
                guard (0xDC00...0xDFFF).contains(low) else { throw invalid("lone surrogate in \\u escape", at: start) }
                scalarValue = 0x10000 + ((UInt32(unit) - 0xD800) << 10) + (UInt32(low) - 0xDC00)
            case 0xDC00...0xDFFF:
                throw invalid("lone surrogate in \\u escape", at: start)
            default:
                break
            }
            guard let scalar = Unicode.Scalar(scalarValue) else { throw invalid("invalid \\u escape", at: start) }
            out += scalar.utf8
        default:
            throw invalid("invalid escape", at: start)
        }
    }

    private mutating func parseHex4() throws -> UInt16 {
        var value: UInt16 = 0
        for _ in 0..<4 {
            let c = try peek()
            let digit: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = c - UInt8(ascii: "A") + 10
            default: throw invalid("invalid hex digit in \\u escape")
            }
            value = value << 4 | UInt16(digit)
            offset += 1
        }
        return value
    }

    /// Copies one multi-byte UTF-8 sequence, rejecting what `utf8SequenceLength` rejects.
    private mutating func copyUTF8Sequence(into out: inout [UInt8]) throws {
        let count = StrictJSONScanner.utf8SequenceLength(bytes, at: offset)
        guard count > 0 else { throw invalid("invalid UTF-8") }
        out += bytes[offset..<offset + count]
        offset += count
    }

    /// RFC 8259 §6: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, and the value must be a finite double.
    private mutating func parseNumber() throws -> Double {
        let start = offset
        if bytes[offset] == UInt8(ascii: "-") { offset += 1 }
        guard offset < bytes.count, isDigit(bytes[offset]) else { throw invalid("invalid number", at: start) }
        if bytes[offset] == UInt8(ascii: "0") {
            offset += 1
            if offset < bytes.count, isDigit(bytes[offset]) { throw invalid("number with a leading zero", at: start) }
        } else {
            skipDigits()
        }
        if offset < bytes.count, bytes[offset] == UInt8(ascii: ".") {
            offset += 1
            guard offset < bytes.count, isDigit(bytes[offset]) else { throw invalid("invalid number", at: start) }
            skipDigits()
        }
        if offset < bytes.count, bytes[offset] == UInt8(ascii: "e") || bytes[offset] == UInt8(ascii: "E") {
            offset += 1
            if offset < bytes.count, bytes[offset] == UInt8(ascii: "+") || bytes[offset] == UInt8(ascii: "-") {
                offset += 1
            }
            guard offset < bytes.count, isDigit(bytes[offset]) else { throw invalid("invalid number", at: start) }
            skipDigits()
        }
        // The grammar above admits only text Double(_:) reads (correctly rounded); overflow gives ±infinity.
        let text = String(decoding: bytes[start..<offset], as: UTF8.self)
        guard let value = Double(text), value.isFinite else { throw invalid("number out of double range", at: start) }
        return value
    }

    private func isDigit(_ c: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) }

    private mutating func skipDigits() {
        while offset < bytes.count, isDigit(bytes[offset]) { offset += 1 }
    }
}
