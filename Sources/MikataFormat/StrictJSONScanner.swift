/// The check-only reading of RFC 8259 behind `CanonicalJSON.isStrictJSON`, `validate` and `strictScan`: the rules
/// and limits of `CanonicalJSON.parse` (strict grammar, UTF-8 by Unicode §3.9 Table 3-7, no unescaped control
/// character, no lone surrogate, no duplicate member name, numbers a double holds, at most `maxDepth` nested
/// containers, at most `maxInputBytes`), in one pass that builds nothing.
///
/// Why a second reader: every append checks its record's data, and every read that splices stored data into a JSON
/// document (`record list --json`, the HTTP pages) checks it again, so this check runs over every byte a client
/// reads. The recursive parser builds a value and decodes each string; this one walks the bytes once, with an
/// explicit stack of open containers, and compares member names where they lie in the text.
///
/// Member names without escapes (nearly all) are compared where they lie in the text; a name spelled with escapes
/// is decoded by the parser's own string reading (`CanonicalJSON.decodedString`), since two spellings of one name
/// are one name. Agreement with the full parser on every input is what
/// the tests and the JSON fuzz target check; the parser alone names the first problem (`CanonicalJSON.validate`).
enum StrictJSONScanner {
    /// What the scan found.
    enum Outcome: Equatable {
        /// Strict JSON; `compact` when no white space (RFC 8259 §2 `ws`) lies between or around its tokens;
        /// `controls` when a string holds U+007F DELETE or a C1 control (U+0080–U+009F) as such, not escaped (the only
        /// control characters strict JSON carries unescaped: C0 ones must be escaped, RFC 8259 §7).
        case strict(compact: Bool, controls: Bool)
        /// Not strict JSON.
        case invalid
    }

    /// Objects with more members than this find duplicates through a hash set instead of comparing every pair.
    static let linearNames = 16

    /// Scans `b` as one JSON text. O(n) but for duplicate checks in objects of at most `linearNames` members
    /// (O(members²) comparisons of lengths, then bytes).
    static func scan(_ b: [UInt8]) -> Outcome {
        guard b.count <= CanonicalJSON.maxInputBytes else { return .invalid }
        var walk = Walk(b)
        return walk.run()
    }

    /// The scan's state: the text, the offset, and the open containers.
    private struct Walk {
        let b: [UInt8]
        let n: Int
        var i = 0
        var sawWhitespace = false
        var sawControl = false
        /// Open containers, innermost last: an array is -1, an object where its names begin in `names`.
        var open: [Int] = []
        /// Member names of the open objects, as offsets of their text in `b`: start, end, start, end, … (an object's
        /// names stop here once it has a hash set).
        var names: [Int] = []
        /// The hash set of names of each open object (by depth) that has more than `linearNames`.
        var nameSets: [Int: Set<ArraySlice<UInt8>>] = [:]

        init(_ b: [UInt8]) {
            self.b = b
            n = b.count
            open.reserveCapacity(16)
            names.reserveCapacity(64)
        }

        @inline(__always)
        mutating func skipWhitespace() {
            while i < n {
                let c = b[i]
                guard c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 else { return }
                sawWhitespace = true
                i += 1
            }
        }

        mutating func run() -> Outcome {
            while true {
                // A value starts here.
                skipWhitespace()
                guard i < n else { return .invalid }
                switch b[i] {
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    guard open.count < CanonicalJSON.maxDepth else { return .invalid }
                    let object = b[i] == UInt8(ascii: "{")
                    open.append(object ? names.count : -1)
                    i += 1
                    skipWhitespace()
                    if i < n, b[i] == (object ? UInt8(ascii: "}") : UInt8(ascii: "]")) {
                        i += 1
                        close()
                    } else if object {
                        if let outcome = memberHead() { return outcome }
                        continue
                    } else {
                        continue
                    }
                case UInt8(ascii: "\""):
                    var escaped = false
                    guard let end = stringEnd(b, from: i + 1, escaped: &escaped, controls: &sawControl) else { return .invalid }
                    i = end
                case UInt8(ascii: "t"):
                    guard literal(b, at: i, "true") else { return .invalid }
                    i += 4
                case UInt8(ascii: "f"):
                    guard literal(b, at: i, "false") else { return .invalid }
                    i += 5
                case UInt8(ascii: "n"):
                    guard literal(b, at: i, "null") else { return .invalid }
                    i += 4
                case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                    guard let end = numberEnd(b, from: i) else { return .invalid }
                    i = end
                default:
                    return .invalid
                }
                // A value ended: what follows it in the containers around it.
                while true {
                    skipWhitespace()
                    guard let top = open.last else {
                        return i == n ? .strict(compact: !sawWhitespace, controls: sawControl) : .invalid
                    }
                    let object = top >= 0
                    guard i < n else { return .invalid }
                    let c = b[i]
                    if c == UInt8(ascii: ",") {
                        i += 1
                        if object, let outcome = memberHead() { return outcome }
                        break
                    }
                    guard c == (object ? UInt8(ascii: "}") : UInt8(ascii: "]")) else { return .invalid }
                    i += 1
                    close()
                }
            }
        }

        /// After `{` or `,` in an object: the member name and its colon; nil when they are there.
        mutating func memberHead() -> Outcome? {
            skipWhitespace()
            guard i < n, b[i] == UInt8(ascii: "\"") else { return .invalid }
            let start = i + 1
            var escaped = false
            guard let end = stringEnd(b, from: start, escaped: &escaped, controls: &sawControl) else { return .invalid }
            if escaped {
                guard let name = CanonicalJSON.decodedString(b, quoteAt: i), addDecodedName(name) else { return .invalid }
            } else {
                guard addName(start: start, end: end - 1) else { return .invalid }
            }
            i = end
            skipWhitespace()
            guard i < n, b[i] == UInt8(ascii: ":") else { return .invalid }
            i += 1
            return nil
        }

        /// Adds the name whose text is `b[start..<end]` (no escapes: the text is the name) to the innermost object's;
        /// false if it has it already (RFC 7493 §2.3, RFC 8785 §3.1).
        mutating func addName(start: Int, end: Int) -> Bool {
            let length = end - start
            let base = open[open.count - 1], depth = open.count
            if !nameSets.isEmpty, nameSets[depth] != nil {
                // The set holds every name of this object: `names` is not needed for it any more.
                return nameSets[depth]!.insert(b[start..<end]).inserted
            } else {
                for k in stride(from: base, to: names.count, by: 2) {
                    let earlier = names[k]
                    guard names[k + 1] - earlier == length else { continue }
                    var same = true
                    for d in 0..<length where b[earlier + d] != b[start + d] { same = false; break }
                    if same { return false }
                }
                if names.count - base >= 2 * linearNames {
                    var set = Set<ArraySlice<UInt8>>()
                    for k in stride(from: base, to: names.count, by: 2) { set.insert(b[names[k]..<names[k + 1]]) }
                    set.insert(b[start..<end])
                    nameSets[depth] = set
                    return true
                }
            }
            names.append(start)
            names.append(end)
            return true
        }

        /// A name spelled with escapes, decoded: the innermost object's names are compared through its hash set from
        /// now on (two spellings of one name are one name).
        mutating func addDecodedName(_ name: [UInt8]) -> Bool {
            let base = open[open.count - 1], depth = open.count
            if nameSets[depth] == nil {
                var set = Set<ArraySlice<UInt8>>()
                for k in stride(from: base, to: names.count, by: 2) { set.insert(b[names[k]..<names[k + 1]]) }
                nameSets[depth] = set
            }
            return nameSets[depth]!.insert(name[...]).inserted
        }

        mutating func close() {
            let base = open.removeLast()
            if base >= 0 {
                names.removeSubrange(base...)
                if !nameSets.isEmpty { nameSets[open.count + 1] = nil }
            }
        }
    }

    /// The offset just past the closing quote of the string whose content starts at `from`, or nil if the string is
    /// not valid (RFC 8259 §7: an unescaped control character, a bad escape, a lone surrogate; §8.1: ill-formed UTF-8;
    /// the text ends inside it). `escaped` becomes true if the string holds an escape, `controls` if it holds U+007F
    /// or a C1 control unescaped.
    @inline(__always)
    static func stringEnd(_ b: [UInt8], from: Int, escaped: inout Bool, controls: inout Bool) -> Int? {
        let n = b.count
        var j = from
        while j < n {
            let c = b[j]
            // The usual bytes first: printable ASCII but the quote and the backslash, then the lead of a three-byte
            // sequence without a restricted second byte (E1–EC, EE–EF: most of the BMP, kana and kanji among it).
            if c >= 0x20, c < 0x7F, c != UInt8(ascii: "\""), c != UInt8(ascii: "\\") {
                j += 1
                continue
            }
            if c >= 0xE1, c <= 0xEF, c != 0xED, j + 2 < n, b[j + 1] & 0xC0 == 0x80, b[j + 2] & 0xC0 == 0x80 {
                j += 3
                continue
            }
            if c < 0x80 {
                if c == UInt8(ascii: "\"") { return j + 1 }
                if c < 0x20 { return nil }
                if c == UInt8(ascii: "\\") {
                    escaped = true
                    guard let next = escapeEnd(b, at: j) else { return nil }
                    j = next
                } else {
                    if c == 0x7F { controls = true }
                    j += 1
                }
                continue
            }
            let count = utf8SequenceLength(b, at: j)
            guard count > 0 else { return nil }
            if c == 0xC2, b[j + 1] < 0xA0 { controls = true }  // U+0080–U+009F
            j += count
        }
        return nil
    }

    /// The offset after the escape whose backslash is at `j` (RFC 8259 §7; a `\u` high surrogate must be followed
    /// at once by an escaped low one, a low one never stands alone: RFC 7493 §2.1), or nil.
    private static func escapeEnd(_ b: [UInt8], at j: Int) -> Int? {
        guard j + 1 < b.count else { return nil }
        switch b[j + 1] {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"), UInt8(ascii: "n"),
             UInt8(ascii: "r"), UInt8(ascii: "t"):
            return j + 2
        case UInt8(ascii: "u"):
            guard let unit = hex4(b, at: j + 2) else { return nil }
            switch unit {
            case 0xD800...0xDBFF:
                guard j + 7 < b.count, b[j + 6] == UInt8(ascii: "\\"), b[j + 7] == UInt8(ascii: "u"),
                      let low = hex4(b, at: j + 8), (0xDC00...0xDFFF).contains(low) else { return nil }
                return j + 12
            case 0xDC00...0xDFFF:
                return nil
            default:
                return j + 6
            }
        default:
            return nil
        }
    }

    private static func hex4(_ b: [UInt8], at j: Int) -> UInt16? {
        guard j + 4 <= b.count else { return nil }
        var value: UInt16 = 0
        for k in j..<j + 4 {
            let c = b[k]
            let digit: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = c - UInt8(ascii: "A") + 10
            default: return nil
            }
            value = value << 4 | UInt16(digit)
        }
        return value
    }

    /// The length of the well-formed multi-byte UTF-8 sequence at `b[j]`, or 0 where Unicode §3.9 Table 3-7 forbids
    /// one: a byte that cannot lead (a continuation byte, C0, C1, F5–FF), a second byte outside its lead's range
    /// (overlong forms, UTF-8-encoded surrogates, scalars above U+10FFFF), a later byte that is not a continuation
    /// byte, or a sequence cut short by the end of `b`.
    @inline(__always)
    static func utf8SequenceLength(_ b: [UInt8], at j: Int) -> Int {
        let count: Int
        var low: UInt8 = 0x80, high: UInt8 = 0xBF
        switch b[j] {
        case 0xC2...0xDF: count = 2
        case 0xE0: count = 3; low = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: count = 3
        case 0xED: count = 3; high = 0x9F
        case 0xF0: count = 4; low = 0x90
        case 0xF1...0xF3: count = 4
        case 0xF4: count = 4; high = 0x8F
        default: return 0
        }
        guard b.count - j >= count, b[j + 1] >= low, b[j + 1] <= high else { return 0 }
        if count >= 3, b[j + 2] & 0xC0 != 0x80 { return 0 }
        if count == 4, b[j + 3] & 0xC0 != 0x80 { return 0 }
        return count
    }

    private static func literal(_ b: [UInt8], at j: Int, _ word: StaticString) -> Bool {
        let count = word.utf8CodeUnitCount
        guard b.count - j >= count else { return false }
        return word.withUTF8Buffer { w in (0..<count).allSatisfy { b[j + $0] == w[$0] } }
    }

    /// RFC 8259 §6: the end of the number starting at `from`, `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`,
    /// whose value must be a finite double (nil otherwise). Without an exponent, fewer than 309 characters stay below
    /// 1e308, so only longer numbers and those with an exponent are converted (`Double(_:)`, correctly rounded).
    static func numberEnd(_ b: [UInt8], from: Int) -> Int? {
        let n = b.count
        var j = from
        @inline(__always) func isDigit(_ k: Int) -> Bool { k < n && b[k] >= UInt8(ascii: "0") && b[k] <= UInt8(ascii: "9") }
        if b[j] == UInt8(ascii: "-") { j += 1 }
        guard isDigit(j) else { return nil }
        if b[j] == UInt8(ascii: "0") {
            j += 1
            if isDigit(j) { return nil }
        } else {
            while isDigit(j) { j += 1 }
        }
        if j < n, b[j] == UInt8(ascii: ".") {
            j += 1
            guard isDigit(j) else { return nil }
            while isDigit(j) { j += 1 }
        }
        var exponent = false
        if j < n, b[j] == UInt8(ascii: "e") || b[j] == UInt8(ascii: "E") {
            exponent = true
            j += 1
            if j < n, b[j] == UInt8(ascii: "+") || b[j] == UInt8(ascii: "-") { j += 1 }
            guard isDigit(j) else { return nil }
            while isDigit(j) { j += 1 }
        }
        if exponent || j - from >= 309 {
            guard let value = Double(String(decoding: b[from..<j], as: UTF8.self)), value.isFinite else { return nil }
        }
        return j
    }
}
