import Logging
import HTTPTypes
import Foundation
import Hummingbird
import MikataService
import NIOCore

/// JSON responses: UTF-8, sorted keys, `Cache-Control: no-store` (every answer may hold personal data or a secret).
enum JSONResponse {
    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()

    static func make(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        raw(Array(try encoder.encode(value)), status: status)
    }

    static func raw(_ bytes: [UInt8], status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                 body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// A shred's answer: `{"certificate": <the signed certificate, as issued>, "certificateId", "vaultId"}` (the
    /// certificate's canonical JSON is spliced in unchanged, so its signature still verifies).
    static func deletion(_ outcome: DeletionOutcome) -> Response {
        raw(Array(#"{"certificate":"#.utf8) + outcome.certificate
            + Array(#","certificateId":"\#(outcome.certificateId)","vaultId":"\#(outcome.vaultId)"}"#.utf8))
    }

    static func noContent() -> Response { Response(status: .noContent, headers: [.cacheControl: "no-store"]) }

    static let iso = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    /// ISO 8601 UTC with milliseconds.
    static func time(_ millis: Int64) -> String {
        iso.format(Date(timeIntervalSince1970: Double(millis) / 1000))
    }

    /// A page of records: `{"records": [{"seq", "type", "author", "time", "data"}], "nextAfter": N|null}`. `data` is
    /// the record's JSON as stored (every record appended through the service is strict JSON: `dataIsJSON`); a record
    /// whose data is not JSON (none is appended through this service) carries `dataBase64` instead.
    static func records(_ page: RecordPage) -> Response {
        var out: [UInt8] = []
        out.reserveCapacity(page.records.reduce(64) { $0 + $1.data.count + 160 })
        out.append(contentsOf: #"{"nextAfter":"#.utf8)
        out.append(contentsOf: (page.nextAfter.map(String.init) ?? "null").utf8)
        out.append(contentsOf: #","records":["#.utf8)
        for (i, r) in page.records.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            record(r, into: &out)
        }
        out.append(contentsOf: "]}".utf8)
        return raw(out)
    }

    /// One record's object, members in sorted order. Its head needs no escaping: `author` is `patient` or a role and
    /// hex id, `time` ISO 8601 digits, `type` one of `a-z 0-9 . _ -` (the engine refuses other types).
    static func record(_ r: VaultRecord, into out: inout [UInt8]) {
        out.append(contentsOf: #"{"author":""#.utf8)
        out.append(contentsOf: r.author.description.utf8)
        if r.dataIsJSON {
            out.append(contentsOf: #"","data":"#.utf8)
            out.append(contentsOf: r.data)
            out.append(contentsOf: #","seq":"#.utf8)
        } else {
            out.append(contentsOf: #"","dataBase64":""#.utf8)
            out.append(contentsOf: Data(r.data).base64EncodedString().utf8)
            out.append(contentsOf: #"","seq":"#.utf8)
        }
        out.append(contentsOf: String(r.seq).utf8)
        out.append(contentsOf: #","time":""#.utf8)
        out.append(contentsOf: time(r.timeMillis).utf8)
        out.append(contentsOf: #"","type":""#.utf8)
        out.append(contentsOf: r.type.utf8)
        out.append(contentsOf: #""}"#.utf8)
    }
}
