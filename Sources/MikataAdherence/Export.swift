public import Foundation

/// Who wrote a record (its signed author in the vault).
public enum RecordAuthorRef: Sendable, Hashable {
    /// The patient.
    case patient
    /// A supporter, by account id (32 hexadecimal digits).
    case supporter(String)
    /// A write-only service, by id.
    case service(String)

    /// `patient`, `supporter:<id>`, `service:<id>`.
    public var text: String {
        switch self {
        case .patient: return "patient"
        case .supporter(let id): return "supporter:" + id
        case .service(let id): return "service:" + id
        }
    }
}

/// One decoded adherence record of a vault, as exports take it.
public struct AdherenceRecord: Sendable {
    /// The record's content.
    public enum Content: Sendable {
        case regimen(Regimen)
        case doseEvent(DoseEvent)
        case sideEffect(SideEffect)
        case message(Message)
    }
    /// The vault sequence number.
    public let seq: UInt64
    /// Its signed author.
    public let author: RecordAuthorRef
    /// The record's own (signed) time.
    public let recordTime: Date
    /// What it says.
    public let content: Content

    /// A record.
    public init(seq: UInt64, author: RecordAuthorRef, recordTime: Date, content: Content) {
        self.seq = seq
        self.author = author
        self.recordTime = recordTime
        self.content = content
    }

    /// Decodes a vault record of one of the adherence types; nil for other types.
    /// - Throws: `AdherenceValidationError` when the type is an adherence type but the JSON is invalid.
    public static func decode(seq: UInt64, type: String, author: RecordAuthorRef, recordTime: Date, data: [UInt8]) throws -> AdherenceRecord? {
        guard let t = AdherenceRecordType(rawValue: type) else { return nil }
        let content: Content
        switch t {
        case .regimen: content = .regimen(try Regimen.decode(json: data))
        case .doseEvent: content = .doseEvent(try DoseEvent.decode(json: data))
        case .sideEffect: content = .sideEffect(try SideEffect.decode(json: data))
        case .message: content = .message(try Message.decode(json: data, recordTime: recordTime))
        }
        return AdherenceRecord(seq: seq, author: author, recordTime: recordTime, content: content)
    }
}

/// CSV exports that open correctly in Excel in Japan (docs/ADHERENCE.md, "Exports"): RFC 4180 with a UTF-8 byte
/// order mark, CRLF line ends, every cell quoted when it holds a comma, quote, CR or LF, Japanese text as UTF-8, and
/// formula injection neutralised (OWASP "CSV Injection"): a cell starting with `=`, `+`, `-`, `@`, tab or CR gets a
/// leading apostrophe. Times are shown in the patient's time zone with their offset.
public enum CSVExport {
    /// One row per dose event (corrections included, each naming what it supersedes).
    public static func doseEvents(_ records: [AdherenceRecord], timeZone: TimeZone) -> [UInt8] {
        var rows = [["record_seq", "scheduled_date", "scheduled_time", "medication", "status", "taken_at", "recorded_at",
                     "method", "skip_reason", "supersedes", "author", "note"]]
        for r in records {
            guard case .doseEvent(let e) = r.content else { continue }
            rows.append([String(r.seq), e.scheduled.date.description, e.scheduled.time.description, e.scheduled.medication,
                         e.status.rawValue, e.takenAt.map { local($0, timeZone) } ?? "", local(e.recordedAt, timeZone), e.method.rawValue,
                         e.reason?.rawValue ?? "", e.supersedes.map(String.init) ?? "", r.author.text, e.note ?? ""])
        }
        return document(rows)
    }

    /// One row per message.
    public static func messages(_ records: [AdherenceRecord], timeZone: TimeZone) -> [UInt8] {
        var rows = [["record_seq", "sent_at", "author", "text"]]
        for r in records {
            guard case .message(let m) = r.content else { continue }
            rows.append([String(r.seq), local(m.sentAt, timeZone), r.author.text, m.text])
        }
        return document(rows)
    }

    /// One row per side effect.
    public static func sideEffects(_ records: [AdherenceRecord], timeZone: TimeZone) -> [UInt8] {
        var rows = [["record_seq", "onset", "symptom", "grade", "resolved", "author", "text"]]
        for r in records {
            guard case .sideEffect(let s) = r.content else { continue }
            rows.append([String(r.seq), local(s.onset, timeZone), s.symptom.rawValue, String(s.grade), s.resolved ? "yes" : "no",
                         r.author.text, s.text ?? ""])
        }
        return document(rows)
    }

    /// `2026-10-31T23:30:00+09:00`.
    static func local(_ d: Date, _ zone: TimeZone) -> String {
        var style = Date.ISO8601FormatStyle(timeZone: zone)
        style = style.year().month().day().time(includingFractionalSeconds: false).timeZone(separator: .colon)
        return style.format(d)
    }

    static func document(_ rows: [[String]]) -> [UInt8] {
        var out: [UInt8] = [0xEF, 0xBB, 0xBF]
        for row in rows {
            out += Array(row.map(cell).joined(separator: ",").utf8)
            out += [0x0D, 0x0A]
        }
        return out
    }

    /// One cell: neutralised, then quoted if needed.
    static func cell(_ raw: String) -> String {
        var s = raw
        if let first = s.unicodeScalars.first, ["=", "+", "-", "@", "\t", "\r"].contains(first) { s = "'" + s }
        if s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\r" || $0 == "\n" || $0 == "\r\n" }) {
            s = "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        return s
    }
}
