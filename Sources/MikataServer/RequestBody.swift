import Logging
import HTTPTypes
import Hummingbird
import Foundation
import NIOCore
import MikataService

/// A JSON request body a route takes: decoded strictly (RFC 8259 JSON object, no member the type does not name,
/// every member of the right type, I-JSON: no member name twice at any depth), so a typo'd field is a 400 naming it
/// rather than a silently ignored value.
protocol RequestBody: Decodable, Sendable {
    /// The members the body may have.
    static var members: Set<String> { get }
}

extension Request {
    /// The body as `T`, read up to `limit` bytes.
    /// - Throws: `Problem` 413 beyond `limit`; 400 naming the member for malformed JSON, a non-object, an unknown
    ///   member, a missing one or one of the wrong type. Nothing is written before this succeeds.
    func decode<T: RequestBody>(_ type: T.Type, limit: Int) async throws -> T {
        let bytes = try await collectBody(limit: limit)
        return try T.decodeStrictly(bytes)
    }

    /// The raw body, at most `limit` bytes.
    /// - Throws: `Problem` 413 beyond it.
    func collectBody(limit: Int) async throws -> ByteBuffer {
        do {
            return try await body.collect(upTo: limit)
        } catch let e as HTTPError where e.status == .contentTooLarge {
            throw Problem("payload-too-large", .contentTooLarge, "the request body is larger than \(limit) bytes")
        } catch is NIOTooManyBytesError {
            throw Problem("payload-too-large", .contentTooLarge, "the request body is larger than \(limit) bytes")
        }
    }
}

extension RequestBody {
    /// Strict decoding of `bytes` (see `RequestBody`).
    static func decodeStrictly(_ buffer: ByteBuffer) throws -> Self {
        let bytes = Array(buffer.readableBytesView)
        let names: [String]?
        // One parse for the shape and for I-JSON (RFC 7493), as record data must be: Foundation's parsers keep one
        // of two members of the same name silently, so `{"a":1,"a":2}` would otherwise be stored as something the
        // client did not send.
        do { names = try VaultService.checkedObjectMemberNames(bytes) } catch {
            // Which of the two it is, for the message (this path only).
            if (try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])) == nil {
                throw Problem.malformed("the body is not JSON")
            }
            throw Problem.malformed("the body is not I-JSON (RFC 7493): a member name repeats, or a string or number is not allowed")
        }
        // Fragments are JSON: `42` is JSON (RFC 8259 §2), just not an object, and is answered as such.
        guard let names else { throw Problem.malformed("the body must be a JSON object", field: "") }
        if let unknown = names.sorted().first(where: { !members.contains($0) }) {
            throw Problem.malformed("unknown member", field: "/" + pointerEscape(unknown))
        }
        let data = Data(bytes)
        do {
            let decoder = JSONDecoder()
            decoder.userInfo[.requestBody] = bytes
            return try decoder.decode(Self.self, from: data)
        } catch let e as DecodingError {
            throw problem(e)
        } catch let p as Problem {
            throw p
        } catch {
            throw Problem.malformed("the body could not be read")
        }
    }

    static func problem(_ e: DecodingError) -> Problem {
        func pointer(_ path: [any CodingKey]) -> String {
            "/" + path.map { $0.intValue.map(String.init) ?? pointerEscape($0.stringValue) }.joined(separator: "/")
        }
        switch e {
        case .keyNotFound(let key, let ctx):
            return .malformed("a required member is missing", field: pointer(ctx.codingPath + [key]))
        case .typeMismatch(_, let ctx), .valueNotFound(_, let ctx):
            return .malformed("a member has the wrong type", field: pointer(ctx.codingPath))
        case .dataCorrupted(let ctx):
            return .malformed("a member's value is not valid", field: pointer(ctx.codingPath))
        @unknown default:
            return .malformed("the body could not be read")
        }
    }
}

/// Any member name, as a coding key: what an object holds, known or not.
private struct AnyMemberName: CodingKey {
    let stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

extension Decoder {
    /// For an object nested in a `RequestBody`: a member outside `members` is `Problem` 400 naming it (a JSON Pointer
    /// from the body's root), as `decodeStrictly` does for the top level. A value that is not an object is left to the
    /// caller's own decoding (its type mismatch names it).
    func refuseUnknownMembers(_ members: Set<String>) throws {
        guard let c = try? container(keyedBy: AnyMemberName.self),
              let unknown = c.allKeys.map(\.stringValue).sorted().first(where: { !members.contains($0) }) else { return }
        let path = codingPath.map { $0.intValue.map(String.init) ?? pointerEscape($0.stringValue) } + [pointerEscape(unknown)]
        throw Problem.malformed("unknown member", field: "/" + path.joined(separator: "/"))
    }
}

/// RFC 6901 §3 escaping of one reference token.
func pointerEscape(_ s: String) -> String {
    s.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
}

/// A JSON value carried through untouched (a record's `data`, a certificate): the bytes of the member's value exactly
/// as the client sent them (re-serialising would reorder members and round numbers beyond a double's precision).
/// Only a top-level member of a `RequestBody` can be one: `decodeStrictly` hands the body to the decoder
/// (`CodingUserInfoKey.requestBody`), and the body has already been checked to be I-JSON, so the member's bytes are
/// one JSON value and occur once.
struct JSONValue: Decodable, Sendable {
    /// The value, serialised (RFC 8259), as sent.
    let bytes: [UInt8]

    /// - Throws: `DecodingError.dataCorrupted` when decoded other than as a top-level member of a request body.
    init(from decoder: any Decoder) throws {
        guard decoder.codingPath.count == 1, let body = decoder.userInfo[.requestBody] as? [UInt8],
              let value = rawMember(decoder.codingPath[0].stringValue, in: body), !value.isEmpty else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "a JSON value is read only as a top-level member of a request body"))
        }
        bytes = Array(value)
    }
}

extension CodingUserInfoKey {
    /// The request body's bytes, for `JSONValue`.
    static let requestBody = CodingUserInfoKey(rawValue: "mikata.requestBody")!
}

/// The bytes of top-level member `name`'s value in `body`, exactly as sent (a record's `data` is stored as the client
/// wrote it: re-serialising through `JSONSerialization` would round numbers beyond a double's precision).
/// `body` must already have passed `decodeStrictly`'s strict parse (a JSON object, I-JSON: so the member occurs at
/// most once).
/// - Returns: nil when the member is absent.
func rawMember(_ name: String, in body: [UInt8]) -> ArraySlice<UInt8>? {
    var i = 0
    func skipSpace() { while i < body.count, [0x20, 0x09, 0x0A, 0x0D].contains(body[i]) { i += 1 } }
    func skipString() {  // at the opening quote
        i += 1
        while i < body.count, body[i] != UInt8(ascii: "\"") { i += body[i] == UInt8(ascii: "\\") ? 2 : 1 }
        i += 1
    }
    skipSpace()
    guard i < body.count, body[i] == UInt8(ascii: "{") else { return nil }
    i += 1
    while true {
        skipSpace()
        guard i < body.count, body[i] == UInt8(ascii: "\"") else { return nil }
        let keyStart = i
        skipString()
        let rawKey = body[min(keyStart + 1, body.count)..<max(keyStart + 1, min(i - 1, body.count))]
        // A name without escapes is its bytes; one with escapes is decoded (rare: member names are ASCII words).
        let key = rawKey.contains(UInt8(ascii: "\\"))
            ? (try? JSONSerialization.jsonObject(with: Data(body[keyStart..<min(i, body.count)]), options: [.fragmentsAllowed])) as? String
            : String(decoding: rawKey, as: UTF8.self)
        skipSpace()
        guard i < body.count, body[i] == UInt8(ascii: ":") else { return nil }
        i += 1
        skipSpace()
        let valueStart = i
        var depth = 0
        while i < body.count {
            let b = body[i]
            if b == UInt8(ascii: "\"") { skipString(); if depth == 0 { break }; continue }
            if b == UInt8(ascii: "{") || b == UInt8(ascii: "[") { depth += 1 }
            if b == UInt8(ascii: "}") || b == UInt8(ascii: "]") {
                if depth == 0 { break }
                depth -= 1
                if depth == 0 { i += 1; break }
            }
            if depth == 0, b == UInt8(ascii: ",") || [0x20, 0x09, 0x0A, 0x0D].contains(b) { break }
            i += 1
        }
        if key == name { return body[valueStart..<min(i, body.count)] }
        skipSpace()
        guard i < body.count, body[i] == UInt8(ascii: ",") else { return nil }
        i += 1
    }
}
