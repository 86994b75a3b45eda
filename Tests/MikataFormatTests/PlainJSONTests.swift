import Foundation
import Testing
import MikataFormat

/// Foundation's output for `text` as `record list --json` prints record data: parsed, then serialized with sorted
/// keys and unescaped slashes (inside an object, as in a row).
private func foundationOutput(_ text: [UInt8]) throws -> [UInt8] {
    let object = try JSONSerialization.jsonObject(with: Data(text), options: [.fragmentsAllowed])
    let row = try JSONSerialization.data(withJSONObject: ["data": object], options: [.sortedKeys, .withoutEscapingSlashes])
    return Array(row.dropFirst(8).dropLast())  // {"data": ... }
}

/// A random JSON value, mostly plain, sometimes with a feature outside the subset (a key, number or string).
private func randomJSON<G: RandomNumberGenerator>(_ g: inout G, depth: Int = 0) -> String {
    let pick = Int.random(in: 0..<(depth > 4 ? 5 : 7), using: &g)
    let keyAlphabet = Array("abcz") + (Int.random(in: 0..<8, using: &g) == 0 ? Array("AZ_-09 é") : [])
    let stringAlphabet = Array("ab Z/09-~!") + (Int.random(in: 0..<8, using: &g) == 0 ? Array("\\\té\u{7f}") : [])
    switch pick {
    case 0: return ["true", "false", "null"].randomElement(using: &g)!
    case 1:
        let digits = Int.random(in: 1...17, using: &g)
        let n = (0..<digits).map { _ in String(Int.random(in: 0...9, using: &g)) }.joined()
        return (Bool.random(using: &g) ? "-" : "") + n + (Int.random(in: 0..<10, using: &g) == 0 ? ".5" : "")
    case 2, 3:
        let s = String((0..<Int.random(in: 0...6, using: &g)).map { _ in stringAlphabet.randomElement(using: &g)! })
        return String(decoding: try! JSONSerialization.data(withJSONObject: s, options: [.fragmentsAllowed, .withoutEscapingSlashes]), as: UTF8.self)
    case 4: return "[" + (0..<Int.random(in: 0...3, using: &g)).map { _ in randomJSON(&g, depth: depth + 1) }.joined(separator: ",") + "]"
    default:
        var keys = Set<String>()
        for _ in 0..<Int.random(in: 0...4, using: &g) {
            keys.insert(String((0..<Int.random(in: 0...3, using: &g)).map { _ in keyAlphabet.randomElement(using: &g)! }))
        }
        let ordered = Bool.random(using: &g) ? keys.sorted() : Array(keys)
        return "{" + ordered.map { "\"\($0)\":" + randomJSON(&g, depth: depth + 1) }.joined(separator: ",") + "}"
    }
}

@Suite("Plain JSON: data a sorted-key serializer prints back unchanged")
struct PlainJSONTests {
    @Test("boundaries", arguments: [
        ("0", true), ("-5", true), ("123456789012345", true), ("1234567890123456", false), ("-0", false), ("01", false),
        ("1.0", false), ("1e2", false), ("-", false), ("", false), (" 1", false), ("1 ", false), ("true", true), ("tru", false),
        (#""a/b~ Z""#, true), (#""a\/b""#, false), (#""é""#, false), ("\"\u{7f}\"", false), ("\"a\tb\"", false), (#""abc"#, false),
        (#"{"a":1,"b":[true,null,"x"]}"#, true), (#"{"b":1,"a":2}"#, false), (#"{"a":1,"a":2}"#, false), (#"{"a":1,"ab":2}"#, true),
        (#"{"":1,"a":2}"#, true), (#"{"A":1}"#, false), (#"{"a9":1}"#, false), (#"{"a_b":1}"#, false), (#"{"a" :1}"#, false),
        ("{}", true), ("[]", true), ("[1,]", false), ("{,}", false), (#"[1]]"#, false),
        (String(repeating: "[", count: 31) + "1" + String(repeating: "]", count: 31), true),
        (String(repeating: "[", count: 32) + "1" + String(repeating: "]", count: 32), false),
    ])
    func boundaries(_ text: String, _ plain: Bool) throws {
        #expect(PlainJSON.isPlain(Array(text.utf8)) == plain, "\(text)")
        if plain { #expect(try foundationOutput(Array(text.utf8)) == Array(text.utf8), "\(text)") }
    }

    @Test("whatever it accepts, Foundation prints back byte for byte (5,000 random values)")
    func agreesWithFoundation() throws {
        var g = SystemRandomNumberGenerator()
        var accepted = 0
        for _ in 0..<5000 {
            let text = Array(randomJSON(&g).utf8)
            guard PlainJSON.isPlain(text) else { continue }
            accepted += 1
            #expect(try foundationOutput(text) == text, "\(String(decoding: text, as: UTF8.self))")
        }
        #expect(accepted > 500)
    }

    /// The eight-bytes-at-a-time scan of long strings decides exactly as the byte rule: every byte value at every
    /// position of a long string (inside the words and in the tail), and words of random boundary bytes.
    @Test func longStringsDecideByteByByte() {
        func plainByte(_ c: UInt8) -> Bool { c >= 0x20 && c <= 0x7e && c != UInt8(ascii: "\"") && c != UInt8(ascii: "\\") }
        for v in 0...255 {
            for position in [0, 1, 7, 8, 9, 15, 16, 40, 61, 62] {
                var body = [UInt8](repeating: UInt8(ascii: "a"), count: 63)
                body[position] = UInt8(v)
                let text = [UInt8(ascii: "\"")] + body + [UInt8(ascii: "\"")]
                #expect(PlainJSON.isPlain(text) == plainByte(UInt8(v)), "byte \(v) at \(position)")
            }
        }
        let edges: [UInt8] = [0x00, 0x01, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x5b, 0x5c, 0x5d, 0x7e, 0x7f, 0x80, 0x81, 0xa0, 0xdc, 0xff]
        var g = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let word = (0..<8).map { _ in Bool.random(using: &g) ? edges.randomElement(using: &g)! : UInt8.random(in: 0x20...0x7e, using: &g) }
            #expect(PlainJSON.wordIsPlain(word, 0) == word.allSatisfy(plainByte), "\(word)")
        }
    }
}

@Suite("Compact JSON: record data without the white space between its tokens")
struct CompactJSONTests {
    static func compact(_ text: String) -> String {
        var out: [UInt8] = []
        CompactJSON.append(Array(text.utf8), to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    @Test("white space between tokens goes; strings, escapes and number spellings stay", arguments: [
        (" { \"a b\" :\t[ 1 ,\r\n2.5e3 ] , \"c\" : \"x\\\" y\" }\n", #"{"a b":[1,2.5e3],"c":"x\" y"}"#),
        (#"["a\\", "b"]"#, #"["a\\","b"]"#),
        ("\"  \"", "\"  \""),
        (" true ", "true"),
        ("{ \"日本\" : \"日 本\\u2028\" }", #"{"日本":"日 本\u2028"}"#),
        ("", ""),
    ])
    func fixed(_ text: String, _ expected: String) {
        #expect(Self.compact(text) == expected)
    }

    /// Random values (as the plain-JSON tests make them) with random white space put around structural characters and
    /// the whole come back as they were; values without any come back unchanged.
    @Test("white space put between tokens is taken out exactly (3,000 random values)")
    func randomSpacing() {
        var g = SystemRandomNumberGenerator()
        let spaces: [[UInt8]] = [[0x20], [0x09], [0x0a], [0x0d, 0x0a], [0x20, 0x20, 0x09]]
        for _ in 0..<3000 {
            let text = Array(randomJSON(&g).utf8)
            var spaced: [UInt8] = [], inString = false, escaped = false
            let structural = Set("{}[],:".utf8)
            for c in text {
                // RFC 8259 §2: white space may stand before and after each structural character.
                let around = !inString && structural.contains(c)
                if around, Bool.random(using: &g) { spaced += spaces.randomElement(using: &g)! }
                spaced.append(c)
                if around, Bool.random(using: &g) { spaced += spaces.randomElement(using: &g)! }
                if inString {
                    if escaped { escaped = false } else if c == UInt8(ascii: "\\") { escaped = true } else if c == UInt8(ascii: "\"") { inString = false }
                } else if c == UInt8(ascii: "\"") {
                    inString = true
                }
            }
            if Bool.random(using: &g) { spaced = spaces.randomElement(using: &g)! + spaced + spaces.randomElement(using: &g)! }
            var once: [UInt8] = [], twice: [UInt8] = []
            CompactJSON.append(spaced, to: &once)
            CompactJSON.append(text, to: &twice)
            #expect(once == text, "\(String(decoding: spaced, as: UTF8.self))")
            #expect(twice == text)
            // The strict parse sees the same white space (values with a leading zero are not strict: skipped).
            if CanonicalJSON.strictScan(text).strict {
                #expect(CanonicalJSON.strictScan(text) == (true, true))
                #expect(CanonicalJSON.strictScan(spaced) == (true, spaced == text), "\(String(decoding: spaced, as: UTF8.self))")
            }
        }
    }
}

@Suite("JSON data scan: plain, strict, compact and unescaped DEL or C1 in one reading")
struct JSONDataScanTests {
    @Test("fixed cases", arguments: [
        // text, plain, strict, compact, DEL or C1
        (#"{"a":1}"#, true, true, true, false),
        (#"{"b":"x","a":"\#u{7F}"}"#, false, true, true, true),
        ("[\"\u{7F}\"]", false, true, true, true),
        (#"{"\#u{7F}":1}"#, false, true, true, true),
        ("\"\u{80}\"", false, true, true, true),
        ("\"\u{9F}\"", false, true, true, true),
        ("\"\u{A0}\u{FF}\u{100}\"", false, true, true, false),
        (#""\u007f\u0085""#, false, true, true, false),
        ("[1, \"\u{85}\"]", false, true, false, true),
        (#"{"a":1,"a":"\#u{7F}"}"#, false, false, false, false),
        ("\"\u{7F}", false, false, false, false),
        ("", false, false, false, false),
    ])
    func fixed(_ text: String, _ plain: Bool, _ strict: Bool, _ compact: Bool, _ controls: Bool) {
        let scan = JSONDataScan.of(Array(text.utf8))
        #expect([scan.plain, scan.strict, scan.compact, scan.holdsDELOrC1] == [plain, strict, compact, controls], "\(text)")
    }

    /// In strict JSON, DEL's byte (7F) and a C1 control's lead and second bytes (C2 80–9F) can stand only inside a
    /// string, and only as those characters: a search for them is the answer the scan must give, for names and values,
    /// next to escapes and multi-byte characters.
    @Test("DEL or C1 found exactly where a byte search finds them (2,000 random documents)")
    func randomControls() {
        var g = SystemRandomNumberGenerator()
        let pieces = ["a", "\u{7F}", "\u{80}", "\u{9F}", "\u{A0}", "\u{C2}", "日", "é", #"\u007f"#, #"\u0085"#, #"\n"#, #"\\"#, #"\""#, " "]
        func string() -> String { "\"" + (0..<Int.random(in: 0...4, using: &g)).map { _ in pieces.randomElement(using: &g)! }.joined() + "\"" }
        for _ in 0..<2000 {
            let members = (0..<Int.random(in: 0...3, using: &g)).map { i in "\"k\(i)" + string().dropFirst() + ":" + string() }
            let list = "\"list\":[" + string() + "," + string() + "]"
            let text = Array(("{" + (members + [list]).joined(separator: ",") + "}").utf8)
            let scan = JSONDataScan.of(text)
            #expect(scan.strict, "\(String(decoding: text, as: UTF8.self))")
            let expected = text.indices.contains { i in text[i] == 0x7F || (text[i] == 0xC2 && i + 1 < text.count && text[i + 1] < 0xA0) }
            #expect(scan.holdsDELOrC1 == expected, "\(String(decoding: text, as: UTF8.self))")
        }
    }
}
