import Foundation

/// Why a record's JSON was refused: the member at fault as a JSON Pointer (RFC 6901), and what is wrong with it in
/// words that repeat no value (so the message is safe to log and to show).
public struct AdherenceValidationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The member at fault, e.g. `/phases/0/medications/1/dose/unit`; `""` for the whole document.
    public let field: String
    /// What is wrong, never quoting the value.
    public let reason: String

    /// An error for `field`.
    public init(field: String, reason: String) {
        self.field = field
        self.reason = reason
    }

    /// `field: reason`.
    public var description: String { field.isEmpty ? reason : "\(field): \(reason)" }
}

/// Reads one JSON object member by member, so each failure names its member; refuses members it was not asked
/// about (`finish()`), so a misspelt field is an error rather than silently dropped.
struct FieldReader {
    let object: [String: Any]
    let path: String
    private var seen: Set<String> = []

    init(_ value: Any?, path: String) throws {
        guard let object = value as? [String: Any] else {
            throw AdherenceValidationError(field: path, reason: "must be a JSON object")
        }
        self.object = object
        self.path = path
    }

    /// Parses `bytes` as one JSON object.
    init(json bytes: [UInt8]) throws {
        guard let value = try? JSONSerialization.jsonObject(with: Data(bytes), options: []) else {
            throw AdherenceValidationError(field: "", reason: "not JSON")
        }
        try self.init(value, path: "")
    }

    func pointer(_ key: String) -> String {
        // RFC 6901 escapes; nested objects ask for their path on every decode, so skip Foundation when none is needed.
        guard key.utf8.contains(where: { $0 == UInt8(ascii: "~") || $0 == UInt8(ascii: "/") }) else { return path + "/" + key }
        return path + "/" + key.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }

    mutating func raw(_ key: String) -> Any? {
        seen.insert(key)
        let v = object[key]
        return v is NSNull ? nil : v
    }

    mutating func string(_ key: String, maxLength: Int = 200, allowEmpty: Bool = false) throws -> String? {
        guard let v = raw(key) else { return nil }
        guard let s = v as? String else { throw AdherenceValidationError(field: pointer(key), reason: "must be a string") }
        // Every string of every record a report or the dashboard reads passes here, so these checks avoid Foundation's
        // bridged trimming, grapheme counting when the UTF-8 length settles it, and Unicode table lookups for ASCII.
        guard allowEmpty || !s.unicodeScalars.allSatisfy(FieldReader.isBlank) else {
            throw AdherenceValidationError(field: pointer(key), reason: "must not be empty")
        }
        guard s.utf8.count <= maxLength || s.count <= maxLength else {  // a character is at least one UTF-8 byte
            throw AdherenceValidationError(field: pointer(key), reason: "is longer than \(maxLength) characters")
        }
        guard !s.unicodeScalars.contains(where: { FieldReader.isControl($0) && $0 != "\n" && $0 != "\t" }) else {
            throw AdherenceValidationError(field: pointer(key), reason: "contains control characters")
        }
        return s
    }

    /// Whether `u` is white space as `CharacterSet.whitespacesAndNewlines` has it (Unicode White_Space: Zs, Zl, Zp,
    /// U+0009–000D, U+0085; and, as Foundation's set, U+200B), so a string of only these is empty once trimmed.
    static func isBlank(_ u: Unicode.Scalar) -> Bool {
        u.value < 0x80 ? u.value == 0x20 || (0x09...0x0D).contains(u.value) : u.value == 0x200B || u.properties.isWhitespace
    }

    /// Whether `u` is of general category Cc (control): U+0000–001F and U+007F–009F, no other code point.
    static func isControl(_ u: Unicode.Scalar) -> Bool { u.value < 0x20 || (0x7F...0x9F).contains(u.value) }

    mutating func requiredString(_ key: String, maxLength: Int = 200) throws -> String {
        guard let s = try string(key, maxLength: maxLength) else { throw missing(key) }
        return s
    }

    mutating func int(_ key: String, range: ClosedRange<Int>) throws -> Int? {
        guard let v = raw(key) else { return nil }
        guard !JSONKinds.isBool(v), let n = v as? NSNumber, let i = Int(exactly: n.doubleValue) else {
            throw AdherenceValidationError(field: pointer(key), reason: "must be an integer")
        }
        guard range.contains(i) else {
            throw AdherenceValidationError(field: pointer(key), reason: "must be \(range.lowerBound) to \(range.upperBound)")
        }
        return i
    }

    mutating func bool(_ key: String) throws -> Bool? {
        guard let v = raw(key) else { return nil }
        guard JSONKinds.isBool(v), let b = v as? Bool else {
            throw AdherenceValidationError(field: pointer(key), reason: "must be true or false")
        }
        return b
    }

    mutating func array(_ key: String, maxCount: Int) throws -> [Any]? {
        guard let v = raw(key) else { return nil }
        guard let a = v as? [Any] else { throw AdherenceValidationError(field: pointer(key), reason: "must be an array") }
        guard a.count <= maxCount else { throw AdherenceValidationError(field: pointer(key), reason: "has more than \(maxCount) entries") }
        return a
    }

    mutating func requiredArray(_ key: String, maxCount: Int) throws -> [Any] {
        guard let a = try array(key, maxCount: maxCount) else { throw missing(key) }
        guard !a.isEmpty else { throw AdherenceValidationError(field: pointer(key), reason: "must not be empty") }
        return a
    }

    mutating func object(_ key: String) throws -> FieldReader? {
        guard let v = raw(key) else { return nil }
        return try FieldReader(v, path: pointer(key))
    }

    mutating func requiredObject(_ key: String) throws -> FieldReader {
        guard let r = try object(key) else { throw missing(key) }
        return r
    }

    mutating func date(_ key: String) throws -> LocalDate? {
        guard let s = try string(key, maxLength: 10) else { return nil }
        guard let d = LocalDate(s) else { throw AdherenceValidationError(field: pointer(key), reason: "must be a date YYYY-MM-DD") }
        return d
    }

    mutating func requiredDate(_ key: String) throws -> LocalDate {
        guard let d = try date(key) else { throw missing(key) }
        return d
    }

    mutating func instant(_ key: String) throws -> Date? {
        guard let s = try string(key, maxLength: 40) else { return nil }
        guard let d = Instant.parse(s) else {
            throw AdherenceValidationError(field: pointer(key), reason: "must be an ISO 8601 date-time with a zone (2026-11-29T09:00:00Z)")
        }
        return d
    }

    mutating func code<C: RawRepresentable & CaseIterable>(_ key: String, _ type: C.Type) throws -> C? where C.RawValue == String {
        guard let s = try string(key, maxLength: 64) else { return nil }
        guard let c = C(rawValue: s) else {
            throw AdherenceValidationError(field: pointer(key), reason: "must be one of " + C.allCases.map(\.rawValue).joined(separator: ", "))
        }
        return c
    }

    mutating func requiredCode<C: RawRepresentable & CaseIterable>(_ key: String, _ type: C.Type) throws -> C where C.RawValue == String {
        guard let c = try code(key, type) else { throw missing(key) }
        return c
    }

    func missing(_ key: String) -> AdherenceValidationError {
        AdherenceValidationError(field: pointer(key), reason: "is required")
    }

    /// Refuses members nobody asked for.
    func finish() throws {
        if let extra = object.keys.sorted().first(where: { !seen.contains($0) }) {
            throw AdherenceValidationError(field: pointer(extra), reason: "is not a member of this record")
        }
    }
}

/// ISO 8601 instants: with or without fractional seconds, always with a zone.
enum Instant {
    static let plain = Date.ISO8601FormatStyle()
    static let fractional = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    static func parse(_ s: String) -> Date? {
        (try? fractional.parse(s)) ?? (try? plain.parse(s)) ?? (try? Date(s, strategy: .iso8601))
    }

    /// UTC with milliseconds: `2026-11-29T14:30:00.000Z`.
    static func format(_ d: Date) -> String { fractional.format(d) }
}

/// Serialises a record's JSON: sorted keys, no escaped slashes (what the vault stores).
enum RecordJSON {
    static func bytes(_ object: [String: Any]) -> [UInt8] {
        // Values come from validated types only: serialisation cannot fail.
        Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8))
    }
}

/// Tells JSON `true`/`false` from numbers after `JSONSerialization` (both arrive as `NSNumber` subclasses).
enum JSONKinds {
    static let boolType: Any.Type = {
        let v = try? JSONSerialization.jsonObject(with: Data("true".utf8), options: [.fragmentsAllowed])
        return v.map { type(of: $0) } ?? Bool.self
    }()

    static func isBool(_ v: Any) -> Bool { type(of: v) == boolType }
}
