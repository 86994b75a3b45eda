import Foundation
@testable import MikataFormat
import Testing

private func utf8(_ s: String) -> [UInt8] { Array(s.utf8) }

private func canonical(_ s: String) throws -> String {
    String(decoding: try CanonicalJSON.canonicalize(utf8(s)), as: UTF8.self)
}

/// The failure class of a parse, so tests can tell a limit from a syntax error from a truncation.
enum JSONParseFailure: String, Sendable, CustomTestStringConvertible {
    case truncated, trailingBytes, limitExceeded, invalidField, other
    var testDescription: String { rawValue }

    init(_ error: FormatError) {
        switch error {
        case .truncated: self = .truncated
        case .trailingBytes: self = .trailingBytes
        case .limitExceeded: self = .limitExceeded
        case .invalidField: self = .invalidField
        default: self = .other
        }
    }
}

/// Parses `bytes` expecting a `FormatError`; returns its class, or nil if the parse succeeded. The check-only
/// parse (`validate`, `isStrictJSON`) must say the same, with the same error.
private func failure(_ bytes: [UInt8]) -> JSONParseFailure? {
    let parsed = outcome { _ = try CanonicalJSON.parse(bytes) }
    let validated = outcome { try CanonicalJSON.validate(bytes) }
    #expect(parsed.message == validated.message && CanonicalJSON.isStrictJSON(bytes) == (parsed.failure == nil))
    return parsed.failure
}

/// A parse's failure class and message (nil, nil: accepted).
private func outcome(_ body: () throws -> Void) -> (failure: JSONParseFailure?, message: String?) {
    do {
        try body()
        return (nil, nil)
    } catch let error as FormatError {
        return (JSONParseFailure(error), "\(error)")
    } catch {
        return (.other, "\(error)")
    }
}

// MARK: - RFC 8785 vectors

/// cyberphone/json-canonicalization testdata in fixtures/vectors/jcs (with its licence).
private enum JCSVectors {
    static let directory: URL = {
        var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) {
            let parent = dir.deletingLastPathComponent()
            if parent.path == dir.path { break }
            dir = parent
        }
        return dir.appendingPathComponent("fixtures/vectors/jcs")
    }()

    static let names: [String] = {
        let input = directory.appendingPathComponent("input").path
        let files = (try? FileManager.default.contentsOfDirectory(atPath: input)) ?? []
        return files.filter { $0.hasSuffix(".json") }.sorted()
    }()

    static func read(_ folder: String, _ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: directory.appendingPathComponent(folder).appendingPathComponent(name)))
    }
}

@Suite("RFC 8785 vectors")
struct CanonicalJSONVectorTests {
    @Test func vectorsArePresent() throws {
        #expect(JCSVectors.names == ["arrays.json", "french.json", "structures.json", "unicode.json", "values.json", "weird.json"])
    }

    /// The expected files have no trailing newline, so the comparison is byte for byte with nothing trimmed.
    @Test(arguments: JCSVectors.names)
    func canonicalizesVector(name: String) throws {
        let input = try JCSVectors.read("input", name)
        let expected = try JCSVectors.read("output", name)
        let output = try CanonicalJSON.canonicalize(input)
        #expect(output == expected, "\(name): \(String(decoding: output, as: UTF8.self))")
        // Canonical output is a fixed point.
        #expect(try CanonicalJSON.canonicalize(output) == output)
    }
}

// MARK: - Numbers

@Suite("RFC 8785 numbers")
struct CanonicalJSONNumberTests {
    /// Bit patterns and what ECMAScript `String(x)` gives for them, from node: RFC 8785 Appendix B plus boundaries.
    static let ecmaScript: [(bits: UInt64, text: String)] = [
        (0x0000_0000_0000_0000, "0"),
        (0x8000_0000_0000_0000, "0"),
        (0x0000_0000_0000_0001, "5e-324"),
        (0x8000_0000_0000_0001, "-5e-324"),
        (0x0000_0000_0000_0003, "1.5e-323"),
        (0x7fef_ffff_ffff_ffff, "1.7976931348623157e+308"),
        (0xffef_ffff_ffff_ffff, "-1.7976931348623157e+308"),
        (0x4340_0000_0000_0000, "9007199254740992"),
        (0xc340_0000_0000_0000, "-9007199254740992"),
        (0x4430_0000_0000_0000, "295147905179352830000"),
        (0x44b5_2d02_c7e1_4af5, "9.999999999999997e+22"),
        (0x44b5_2d02_c7e1_4af6, "1e+23"),
        (0x44b5_2d02_c7e1_4af7, "1.0000000000000001e+23"),
        (0x444b_1ae4_d6e2_ef4e, "999999999999999700000"),
        (0x444b_1ae4_d6e2_ef4f, "999999999999999900000"),
        (0x444b_1ae4_d6e2_ef50, "1e+21"),
        (0xc44b_1ae4_d6e2_ef50, "-1e+21"),
        (0x4415_af1d_78b5_8c40, "100000000000000000000"),
        (0x4415_af1d_78b5_8c3f, "99999999999999980000"),
        (0x3eb0_c6f7_a0b5_ed8c, "9.999999999999997e-7"),
        (0x3eb0_c6f7_a0b5_ed8d, "0.000001"),
        (0x3e7a_d7f2_9abc_af48, "1e-7"),
        (0xbe7a_d7f2_9abc_af48, "-1e-7"),
        (0x3e84_21f5_f40d_8376, "1.5e-7"),
        (0x3e80_0000_0000_0000, "1.1920928955078125e-7"),
        (0x41b3_de43_5555_5553, "333333333.3333332"),
        (0x41b3_de43_5555_5554, "333333333.33333325"),
        (0x41b3_de43_5555_5555, "333333333.3333333"),
        (0x41b3_de43_5555_5556, "333333333.3333334"),
        (0x41b3_de43_5555_5557, "333333333.33333343"),
        (0xbecb_f647_612f_3696, "-0.0000033333333333333333"),
        (0x4314_3ff3_c1cb_0959, "1424953923781206.2"),
        (0x000f_ffff_ffff_ffff, "2.225073858507201e-308"),
        (0x0010_0000_0000_0000, "2.2250738585072014e-308"),
        (0x3ff0_0000_0000_0001, "1.0000000000000002"),
        (0x3ca0_0000_0000_0000, "1.1102230246251565e-16"),
        (0x43e0_0000_0000_0000, "9223372036854776000"),
        (0x43f0_0000_0000_0000, "18446744073709552000"),
        (0x430c_6bf5_2634_0000, "1000000000000000"),
        (0x4341_c379_37e0_8000, "10000000000000000"),
        (0x4376_3457_85d8_a000, "100000000000000000"),
        (0x3fd5_5555_5555_5555, "0.3333333333333333"),
        (0x3fd3_3333_3333_3334, "0.30000000000000004"),
        (0x3c36_b082_c214_8b8e, "1.23e-18"),
        (0x4011_6666_6666_6666, "4.35"),
        (0x3fe0_0000_0000_0000, "0.5"),
        (0x4059_0000_0000_0000, "100"),
        (0x4167_8c29_dccc_cccd, "12345678.9"),
    ]

    @Test(arguments: ecmaScript)
    func serializesLikeECMAScript(bits: UInt64, text: String) {
        let output = CanonicalJSON.serialize(.number(Double(bitPattern: bits)))
        #expect(String(decoding: output, as: UTF8.self) == text)
    }

    /// Number text in, canonical text out: the brief's cases, exponent forms, and the decimal-point boundaries.
    @Test(arguments: [
        ("0", "0"), ("-0", "0"), ("-0.0", "0"), ("0e10", "0"), ("0.000", "0"),
        ("1e21", "1e+21"), ("1e20", "100000000000000000000"), ("123456789012345680000", "123456789012345680000"),
        ("0.000001", "0.000001"), ("1e-6", "0.000001"), ("1e-7", "1e-7"), ("0.0000001", "1e-7"),
        ("4.5", "4.5"), ("4.50", "4.5"), ("2e-3", "0.002"), ("5e-324", "5e-324"),
        ("1.7976931348623157e308", "1.7976931348623157e+308"),
        ("9007199254740993", "9007199254740992"), ("-9007199254740993", "-9007199254740992"),
        ("1E30", "1e+30"), ("1e+30", "1e+30"), ("1.5E-10", "1.5e-10"), ("-12.5e1", "-125"),
        ("333333333.33333329", "333333333.3333333"), ("0.000000000000000000000000001", "1e-27"),
        ("56.0", "56"), ("100", "100"), ("123.456", "123.456"), ("0.1", "0.1"), ("-0.5", "-0.5"),
        // Underflow is not an error: the nearest double is 0, as in ECMAScript.
        ("1e-400", "0"), ("-1e-400", "0"),
        // Many digits round correctly.
        ("0.1000000000000000055511151231257827021181583404541015625", "0.1"),
        ("18446744073709551615", "18446744073709552000"),
    ])
    func canonicalizesNumberText(input: String, expected: String) throws {
        #expect(try canonical(input) == expected)
        #expect(try canonical("[\(input)]") == "[\(expected)]")
    }

    /// Every finite double survives serialize → parse with its bits intact (-0 becomes 0).
    @Test func randomDoublesRoundTrip() throws {
        var rng = SplitMix64(seed: 0x4A43_5320_6E75_6D62)
        var checked = 0
        while checked < 20_000 {
            let x = Double(bitPattern: rng.next())
            guard x.isFinite else { continue }
            checked += 1
            let text = CanonicalJSON.serialize(.number(x))
            let back = try CanonicalJSON.parse(text)
            let expected = x == 0 ? 0 : x
            #expect(back.doubleValue?.bitPattern == expected.bitPattern, "\(x) → \(String(decoding: text, as: UTF8.self))")
        }
    }

    /// Integers below 2^53 take a fast path (their digits); it writes what the shortest-digits path writes.
    @Test func integerFastPathAgreesWithShortestDigits() {
        var rng = SplitMix64(seed: 0x696E_7466_6173_7470)
        var samples: [Double] = [1, -1, 9, 10, 99, 100, 1e15, 1e16 - 2, 9_007_199_254_740_991, -9_007_199_254_740_991, 123_456_789]
        for _ in 0..<20_000 {
            let bits = Int(rng.next() % 53)
            samples.append(Double(Int64(bitPattern: rng.next()) >> (63 - bits)))
        }
        for x in samples where x != 0 {
            #expect(CanonicalJSON.numberText(x) == CanonicalJSON.shortestText(x), "\(x)")
        }
    }

    @Test func integerAccessorStopsAtTwoToThe53() throws {
        #expect(JSONValue.number(9_007_199_254_740_992).intValue == 9_007_199_254_740_992)
        #expect(JSONValue.number(-9_007_199_254_740_992).intValue == -9_007_199_254_740_992)
        #expect(JSONValue.number(9_007_199_254_740_994).intValue == nil)
        #expect(JSONValue.number(1.5).intValue == nil)
        #expect(JSONValue.number(-0.0).intValue == 0)
        #expect(JSONValue.string("1").intValue == nil)
        #expect(try CanonicalJSON.parse(utf8("42")).intValue == 42)
    }

    /// RFC 8785 §3.2.2.3: NaN and infinities must stop serialization rather than produce JSON.
    @Test func nonFiniteNumbersTrap() async {
        await #expect(processExitsWith: .failure) { _ = CanonicalJSON.serialize(.number(.nan)) }
        await #expect(processExitsWith: .failure) { _ = CanonicalJSON.serialize(.array([.number(-.infinity)])) }
    }
}

// MARK: - Strings

@Suite("RFC 8785 strings")
struct CanonicalJSONStringTests {
    private func serialized(_ s: String) -> [UInt8] { CanonicalJSON.serialize(.string(s)) }

    /// §3.2.2.2: two-character escapes where JSON has them, lower-case \u00xx for the other controls.
    @Test func controlCharacters() {
        var expected: [String] = []
        for c in 0..<0x20 {
            switch c {
            case 0x08: expected.append(#"\b"#)
            case 0x09: expected.append(#"\t"#)
            case 0x0A: expected.append(#"\n"#)
            case 0x0C: expected.append(#"\f"#)
            case 0x0D: expected.append(#"\r"#)
            default:
                let hex = String(c, radix: 16)
                expected.append(#"\u00"# + (hex.count == 1 ? "0" + hex : hex))
            }
        }
        let all = String(decoding: (0..<0x20).map { UInt8($0) }, as: UTF8.self)
        #expect(String(decoding: serialized(all), as: UTF8.self) == "\"" + expected.joined() + "\"")
        #expect(expected[0x1F] == #"\u001f"#)
    }

    @Test func onlyQuoteAndBackslashAreEscapedAmongPrintables() {
        #expect(serialized(#"a"b\c/d"#) == utf8(#""a\"b\\c/d""#))
        // U+007F, U+2028, U+2029 and non-BMP scalars are written as literal UTF-8.
        #expect(serialized("\u{7F}\u{2028}\u{2029}\u{1F600}") == [0x22, 0x7F, 0xE2, 0x80, 0xA8, 0xE2, 0x80, 0xA9, 0xF0, 0x9F, 0x98, 0x80, 0x22])
    }

    @Test(arguments: [
        (#""\/""#, #""/""#),
        (#""\u0041\u00e9\u20AC""#, "\"Aé€\""),
        (#""\ud83d\ude00""#, "\"\u{1F600}\""),
        (#""\uD83D\uDE00""#, "\"\u{1F600}\""),
        (#""\uDBFF\uDFFF""#, "\"\u{10FFFF}\""),
        (#""\u0000\u001F\u007f""#, "\"\\u0000\\u001f\u{7F}\""),
        (#""\u2028\u2029""#, "\"\u{2028}\u{2029}\""),
        (#""\b\f\n\r\t\"\\""#, #""\b\f\n\r\t\"\\""#),
        ("\"\u{1F600}\"", "\"\u{1F600}\""),
        // No Unicode normalization (§3.2.2.2, vector unicode.json).
        (#""A\u030a""#, "\"A\u{30A}\""),
    ])
    func decodesEscapes(input: String, expected: String) throws {
        let output = try CanonicalJSON.canonicalize(utf8(input))
        #expect(output == utf8(expected))
    }

    /// Swift's String == uses canonical equivalence; JSON does not, and neither do JSONValue and the parser.
    @Test func canonicallyEquivalentStringsStayDistinct() throws {
        #expect(JSONValue.string("\u{C5}") != .string("A\u{30A}"))
        let value = try CanonicalJSON.parse(utf8(#"{"\u00e9":1,"e\u0301":2}"#))
        #expect(value["\u{E9}"] == 1)
        #expect(value["e\u{301}"] == 2)
        // Sorted by UTF-16: "e" (0x65) precedes "é" (0xE9).
        #expect(CanonicalJSON.serialize(value) == utf8("{\"e\u{301}\":2,\"\u{E9}\":1}"))
    }
}

// MARK: - Structure

@Suite("RFC 8785 structure")
struct CanonicalJSONStructureTests {
    /// §3.2.3: UTF-16 order differs from scalar order above U+FFFF (U+10000 is D800 DC00).
    @Test func sortsKeysByUTF16CodeUnits() throws {
        let value: JSONValue = ["\u{FFFF}": 1, "\u{10000}": 2, "\u{E000}": 3, "z": 4]
        #expect(CanonicalJSON.serialize(value) == utf8("{\"z\":4,\"\u{10000}\":2,\"\u{E000}\":3,\"\u{FFFF}\":1}"))
        #expect(try canonical(#"{"\uffff":1,"\ud800\udc00":2}"#) == "{\"\u{10000}\":2,\"\u{FFFF}\":1}")
    }

    @Test func sortsNestedObjectsAndKeepsArrayOrder() throws {
        let input = #" { "b" : [ 3 , { "y" : 1 , "x" : 2 } , 1 ] , "a" : { } , "" : null , "aa" : true , "A" : false } "#
        #expect(try canonical(input) == #"{"":null,"A":false,"a":{},"aa":true,"b":[3,{"x":2,"y":1},1]}"#)
    }

    @Test(arguments: ["null", "true", "false", "\"\"", "[]", "{}", "0", "-1"])
    func scalarsAndEmptyContainersAtTopLevel(text: String) throws {
        #expect(try canonical(" \t\r\n" + text + " \t\r\n") == text)
    }

    @Test func parseKeepsInsertionOrder() throws {
        let value = try CanonicalJSON.parse(utf8(#"{"b":1,"a":[true,null,"x"]}"#))
        #expect(value == .object([("b", .number(1)), ("a", .array([.bool(true), .null, .string("x")]))]))
        #expect(value != .object([("a", .array([.bool(true), .null, .string("x")])), ("b", .number(1))]))
        #expect(value["a"]?.arrayValue?.count == 3)
        #expect(value["b"]?.doubleValue == 1)
        #expect(value["missing"] == nil)
        #expect(value["a"]?.arrayValue?[2].stringValue == "x")
        #expect(value["a"]?.arrayValue?[0].boolValue == true)
        #expect(value["a"]?.arrayValue?[1].isNull == true)
        #expect(value.objectValue?.map(\.0) == ["b", "a"])
    }

    @Test func literalsBuildValues() {
        let value: JSONValue = ["n": nil, "t": true, "i": 7, "d": 0.25, "s": "x", "a": [1, "2"]]
        #expect(String(decoding: CanonicalJSON.serialize(value), as: UTF8.self)
            == #"{"a":[1,"2"],"d":0.25,"i":7,"n":null,"s":"x","t":true}"#)
    }

    /// Building an object with a repeated name is a programmer error that serialize refuses to sign over.
    @Test func duplicateNamesInBuiltValuesTrap() async {
        await #expect(processExitsWith: .failure) {
            _ = CanonicalJSON.serialize(.object([("a", .null), ("b", .null), ("a", .null)]))
        }
    }

    // Boundaries (one test per side).

    @Test func acceptsNesting64() throws {
        let arrays = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        #expect(try canonical(arrays) == arrays)
        let objects = String(repeating: #"{"a":"#, count: 63) + "{}" + String(repeating: "}", count: 63)
        #expect(try canonical(objects) == objects)
    }

    @Test func rejectsNesting65() {
        #expect(failure(utf8(String(repeating: "[", count: 65) + String(repeating: "]", count: 65))) == .limitExceeded)
        let objects = String(repeating: #"{"a":"#, count: 64) + "{}" + String(repeating: "}", count: 64)
        #expect(failure(utf8(objects)) == .limitExceeded)
        #expect(failure(utf8(String(repeating: "[{\"a\":", count: 33) + "1" + String(repeating: "}]", count: 33))) == .limitExceeded)
        // Deep garbage is cut off at the limit, not by the stack.
        #expect(failure(Array(repeating: UInt8(ascii: "["), count: 1_000_000)) == .limitExceeded)
    }

    @Test func acceptsInputOf16MiB() throws {
        var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: CanonicalJSON.maxInputBytes)
        bytes[0] = UInt8(ascii: "\"")
        bytes[bytes.count - 1] = UInt8(ascii: "\"")
        #expect(try CanonicalJSON.parse(bytes).stringValue?.utf8.count == CanonicalJSON.maxInputBytes - 2)
    }

    @Test func rejectsInputOver16MiB() {
        var bytes = [UInt8](repeating: UInt8(ascii: " "), count: CanonicalJSON.maxInputBytes + 1)
        bytes[0] = UInt8(ascii: "0")
        #expect(failure(bytes) == .limitExceeded)
    }
}

// MARK: - Rejections

@Suite("JSON rejections")
struct CanonicalJSONRejectionTests {
    @Test(arguments: [
        // Truncated text.
        ("", JSONParseFailure.truncated), ("  ", .truncated), ("{", .truncated), ("[1,", .truncated), (#""abc"#, .truncated),
        (#"{"a""#, .truncated), (#"{"a":"#, .truncated), ("tru", .truncated), (#""\u00"#, .truncated), (#""\"#, .truncated),
        // Trailing content.
        ("1 2", .trailingBytes), ("[1]]", .trailingBytes), ("{}{}", .trailingBytes), ("nulll", .trailingBytes),
        ("0\u{0}", .trailingBytes),
        // Syntax.
        ("[1,]", .invalidField), (#"{"a":1,}"#, .invalidField), ("[,1]", .invalidField), (#"{"a":1 "b":2}"#, .invalidField),
        (#"{"a" 1}"#, .invalidField), ("{1:2}", .invalidField), ("{'a':1}", .invalidField), ("['a']", .invalidField),
        ("True", .invalidField), ("nul1", .invalidField), ("undefined", .invalidField), ("\u{0B}1", .invalidField),
        ("\u{A0}1", .invalidField), ("\u{FEFF}1", .invalidField), ("/*c*/1", .invalidField), ("]", .invalidField),
        // Numbers.
        ("01", .invalidField), ("-01", .invalidField), ("00", .invalidField), ("+1", .invalidField), ("1.", .invalidField), (".5", .invalidField),
        ("1e", .invalidField), ("1e+", .invalidField), ("-", .invalidField), ("--1", .invalidField), ("0x10", .trailingBytes), ("[0x10]", .invalidField),
        ("1.e5", .invalidField), ("[-]", .invalidField), ("1_000", .trailingBytes),
        ("NaN", .invalidField), ("Infinity", .invalidField), ("-Infinity", .invalidField), ("nan", .invalidField),
        ("1e400", .invalidField), ("-1e400", .invalidField), ("1.8e308", .invalidField),
        ("1" + String(repeating: "0", count: 309), .invalidField),
        // Strings.
        ("\"a\tb\"", .invalidField), ("\"a\nb\"", .invalidField), ("\"\u{0}\"", .invalidField), ("\"\u{1F}\"", .invalidField),
        (#""\x""#, .invalidField), (#""\U0041""#, .invalidField), (#""\u12""#, .invalidField), (#""\u12G4""#, .invalidField),
        (#""\'""#, .invalidField),
        // Lone surrogates.
        (#""\ud800""#, .invalidField), (#""\udc00""#, .invalidField), (#""\uDFFF""#, .invalidField),
        (#""\ud800\u0041""#, .invalidField), (#""\ud800x""#, .invalidField), (#""\ud800\ud800""#, .invalidField),
        (#""\ude00\ud83d""#, .invalidField), (#"{"\ud800":1}"#, .invalidField),
        // Duplicate names, however spelled.
        (#"{"a":1,"a":2}"#, .invalidField), (#"{"a":1,"\u0061":1}"#, .invalidField),
        (#"{"x":{"a":1,"b":2,"a":3}}"#, .invalidField), ("{\"\\ud83d\\ude00\":1,\"\u{1F600}\":2}", .invalidField),
    ])
    func rejects(text: String, expected: JSONParseFailure) {
        #expect(failure(utf8(text)) == expected)
    }

    @Test(arguments: [
        [0xFF], [0x22, 0xFF, 0x22], [0x22, 0x80, 0x22], [0x22, 0xC0, 0xAF, 0x22], [0x22, 0xC1, 0xBF, 0x22],
        [0x22, 0xE0, 0x80, 0x80, 0x22], [0x22, 0xE0, 0x9F, 0xBF, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22],
        [0x22, 0xED, 0xBF, 0xBF, 0x22], [0x22, 0xF0, 0x80, 0x80, 0x80, 0x22], [0x22, 0xF0, 0x8F, 0xBF, 0xBF, 0x22],
        [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], [0x22, 0xF5, 0x80, 0x80, 0x80, 0x22], [0x22, 0xE2, 0x82, 0x22],
        [0x22, 0xC3, 0x22], [0x22, 0xC3], [0x22, 0xF0, 0x9F, 0x98], [0x22, 0xC3, 0x28, 0x22], [0xEF, 0xBB, 0xBF, 0x31],
    ] as [[UInt8]])
    func rejectsInvalidUTF8(bytes: [UInt8]) {
        #expect(failure(bytes) == .invalidField)
    }

    @Test func acceptsUTF8Boundaries() throws {
        let bytes: [UInt8] = [0x22, 0xC2, 0x80, 0xDF, 0xBF, 0xE0, 0xA0, 0x80, 0xED, 0x9F, 0xBF, 0xEE, 0x80, 0x80,
                              0xEF, 0xBF, 0xBF, 0xF0, 0x90, 0x80, 0x80, 0xF4, 0x8F, 0xBF, 0xBF, 0x22]
        #expect(try CanonicalJSON.canonicalize(bytes) == bytes)
    }

    /// The check-only scan (`StrictJSONScanner`) compares member names where they lie in the text, without a set up to
    /// 16 members, and decodes names spelled with escapes: it must find the same duplicates (escaped spellings
    /// included, at any member count and nesting, before and after the switch to a set) and accept the same texts as
    /// `parse`, and it skips `Double` parsing only where no overflow is possible.
    @Test func checkOnlyParseAgreesOnNamesAndNumbers() {
        func members(_ names: [String]) -> String { "{" + names.map { "\"\($0)\":0" }.joined(separator: ",") + "}" }
        let distinct = (0..<40).map { "m\($0)" }
        for count in [1, 2, 15, 16, 17, 18, 33, 40] {
            let names = Array(distinct.prefix(count))
            #expect(failure(utf8(members(names))) == nil)
            // A repeat of the first name, of a middle one and of the last, just after it.
            for repeated in Set([0, count / 2, count - 1]) {
                #expect(failure(utf8(members(names + [names[repeated]]))) == .invalidField)
                #expect(failure(utf8(members(Array(names[..<(repeated + 1)]) + [names[repeated]] + names[(repeated + 1)...]))) == .invalidField)
            }
        }
        // Escaped spellings of one name are duplicates; the same name at other levels is not.
        #expect(failure(utf8(#"{"ab":1,"\u0061b":2}"#)) == .invalidField)
        #expect(failure(utf8(#"{"a/":1,"a\/":2}"#)) == .invalidField)
        #expect(failure(utf8(members(Array(distinct.prefix(20)) + [#"m\u0031"#]))) == .invalidField)
        // An escaped name first, then plain ones: the object compares through its set from the escaped name on.
        #expect(failure(utf8(#"{"\u0061":1,"b":2,"a":3}"#)) == .invalidField)
        #expect(failure(utf8(#"{"\u0061":1,"b":2,"c":3}"#)) == nil)
        #expect(failure(utf8(#"{"x":{"\u0061":1},"a":{"a":2},"y":[{"\u00e9":1,"é":2}]}"#)) == .invalidField)
        #expect(failure(utf8(#"{"x":{"\u0061":1},"a":{"a":2},"y":[{"\u00e9":1,"e":2}]}"#)) == nil)
        #expect(failure(utf8(#"{"\ud83d\ude00":1,"😀":2}"#)) == .invalidField)
        #expect(failure(utf8(#"{"\t\n\"\\\/":1,"\u0009\u000a\u0022\u005c/":2}"#)) == .invalidField)
        // A set for a big object, then a small object at the same depth: its names start afresh.
        #expect(failure(utf8("[" + members(Array(distinct.prefix(20))) + "," + members(["m0", "m1"]) + "]")) == nil)
        #expect(failure(utf8("[" + members(Array(distinct.prefix(20))) + "," + members(["m0", "m0"]) + "]")) == .invalidField)
        #expect(failure(utf8(#"{"a":{"a":{"a":1},"b":{"a":2}},"b":[{"a":1,"b":2},{"a":3}]}"#)) == nil)
        #expect(failure(utf8(#"{"a":{"b":1,"c":2},"b":{"b":1,"c":2,"b":3}}"#)) == .invalidField)
        #expect(failure(utf8(#"{"a":{"b":1},"a":2}"#)) == .invalidField)
        #expect(failure(utf8(#"{"x":"\ud83d\ude00","y":"\ud83d"}"#)) == .invalidField)
        // Numbers: up to 308 digits without an exponent are finite (not parsed); longer ones and any exponent are.
        #expect(failure(utf8(String(repeating: "9", count: 308))) == nil)
        #expect(failure(utf8(String(repeating: "9", count: 309))) == .invalidField)
        #expect(failure(utf8("1" + String(repeating: "0", count: 308) + ".5")) == nil)
        #expect(failure(utf8("[1e308,-1.5E-400,0.1e1]")) == nil)
        #expect(failure(utf8("[1e309]")) == .invalidField)
        #expect(failure(utf8("-" + String(repeating: "9", count: 307) + ".99")) == nil)
    }

    /// The check-only parse steps over string content that needs no decoding in one loop (printable ASCII and
    /// well-formed UTF-8) and leaves the rest to the byte-by-byte rules: every lead byte with every boundary
    /// continuation byte, truncated at each length, in a name and in a value, between plain text and at the end of
    /// the input, gives the same answer and the same error at the same offset as `parse`.
    @Test func checkOnlyStringRunsAgreeOnUTF8() {
        let leads: [UInt8] = [0x7f, 0x80, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xff]
        let tails: [UInt8] = [0x00, 0x1f, 0x22, 0x41, 0x5c, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0]
        var accepted = 0
        for lead in leads {
            for second in tails {
                for (third, fourth) in [(UInt8(0x80), UInt8(0x80)), (0xbf, 0xbf), (0x80, 0x41), (0x80, 0xc0), (0x41, 0x80), (0xc0, 0x80)] {
                    for length in 1...4 {
                        let sequence = Array([lead, second, third, fourth].prefix(length))
                        for (before, after) in [([UInt8](), [UInt8]()), (utf8("ab日"), utf8("cd")), (utf8("x"), [])] {
                            let content = before + sequence + after
                            for text in [utf8("\"") + content + utf8("\""), utf8("{\"") + content + utf8("\":1}"),
                                         utf8("[\"") + content, utf8("[\"") + content + utf8("\",\"é\"]")] {
                                if failure(text) == nil { accepted += 1 }
                            }
                        }
                    }
                }
            }
        }
        #expect(accepted > 100)
    }

    @Test func errorsNameTheOffsetNotTheContent() {
        do {
            _ = try CanonicalJSON.parse(utf8(#"{"secret-name":1,"secret-name":2}"#))
            Issue.record("duplicate accepted")
        } catch {
            #expect("\(error)" == "json: duplicate member name at byte 17")
        }
    }
}

// MARK: - Robustness

/// Deterministic generator for the fuzz-style tests (SplitMix64), so any failure reproduces.
private struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite("JSON robustness")
struct CanonicalJSONRobustnessTests {
    /// Whatever the input, parse either throws a FormatError or yields a value whose canonical form is a fixed point.
    private func check(_ bytes: [UInt8]) {
        // The check-only parse accepts exactly what the parse accepts, failing with the same error.
        _ = failure(bytes)
        let once: [UInt8]
        do {
            once = try CanonicalJSON.canonicalize(bytes)
        } catch {
            #expect(error is FormatError)
            return
        }
        #expect((try? CanonicalJSON.canonicalize(once)) == once)
    }

    @Test func randomBytesNeverCrash() {
        var rng = SplitMix64(seed: 0x6A63_732D_6675_7A7A)
        let alphabet = utf8(#"{}[],:"\ -+.0123456789eEtrufalsn/bu"#) + [0x00, 0x1F, 0x7F, 0x80, 0xBF, 0xC3, 0xE2, 0xED, 0xF0, 0xF4, 0xFF]
        for _ in 0..<2000 {
            let count = Int.random(in: 0...48, using: &rng)
            let structured = Bool.random(using: &rng)
            let bytes = (0..<count).map { _ in
                structured ? alphabet.randomElement(using: &rng)! : UInt8.random(in: 0...255, using: &rng)
            }
            check(bytes)
        }
    }

    @Test func mutatedVectorsNeverCrash() throws {
        var rng = SplitMix64(seed: 0x6D75_7461_7465_2121)
        let seeds = try JCSVectors.names.map { try JCSVectors.read("input", $0) } + [
            utf8(#"{"a":[1,-2.5e-3,"\ud83d\ude00\u0000",true,false,null,{"b":{}}]}"#),
        ]
        let interesting = utf8(#"{}[],:"\-+.0e9tn"#) + [0x00, 0x80, 0xC3, 0xED, 0xF4, 0xFF]
        for i in 0..<2000 {
            var bytes = seeds[i % seeds.count]
            for _ in 0..<Int.random(in: 1...4, using: &rng) where !bytes.isEmpty {
                let at = Int.random(in: 0..<bytes.count, using: &rng)
                switch Int.random(in: 0..<5, using: &rng) {
                case 0: bytes[at] ^= UInt8(1) << UInt8.random(in: 0...7, using: &rng)
                case 1: bytes.insert(interesting.randomElement(using: &rng)!, at: at)
                case 2: bytes.remove(at: at)
                case 3: bytes.removeSubrange(at...)
                default: bytes[at] = interesting.randomElement(using: &rng)!
                }
            }
            check(bytes)
        }
    }
}
