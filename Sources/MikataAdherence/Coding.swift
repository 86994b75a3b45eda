public import Foundation

// The JSON of each record type (docs/ADHERENCE.md, "Record JSON"): FHIR R4 field names where FHIR has one, dates
// `YYYY-MM-DD`, times `HH:MM`, instants ISO 8601 UTC. Decoding is strict (unknown members refused) and names the
// member at fault; encoding is what decoding accepts (round trip).

extension Regimen {
    /// Decodes and validates a `medication-request` record.
    /// - Throws: `AdherenceValidationError` naming the member.
    public static func decode(json bytes: [UInt8]) throws -> Regimen {
        var r = try FieldReader(json: bytes)
        let template = try r.string("template", maxLength: 32)
        let effectiveFrom = try r.requiredDate("effectiveFrom")
        var zone = Regimen.defaultTimeZone
        if let z = try r.string("timeZone", maxLength: 64) {
            guard let tz = TimeZone(identifier: z) else { throw AdherenceValidationError(field: "/timeZone", reason: "must be an IANA time zone") }
            zone = tz
        }
        let note = try r.string("note", maxLength: 2000)
        var phases: [RegimenPhase] = []
        for (i, p) in try r.requiredArray("phases", maxCount: 12).enumerated() {
            var pr = try FieldReader(p, path: "/phases/\(i)")
            let name = try pr.requiredString("name", maxLength: 64)
            let start = try pr.requiredDate("start")
            let end = try pr.requiredDate("end")
            var meds: [MedicationDosage] = []
            for (j, m) in try pr.requiredArray("medications", maxCount: 16).enumerated() {
                var mr = try FieldReader(m, path: "/phases/\(i)/medications/\(j)")
                let code = try mr.requiredString("medication", maxLength: 64)
                guard MedicationDosage.isCode(code) else {
                    throw AdherenceValidationError(field: mr.pointer("medication"), reason: "must be a lower-case code (a-z, 0-9, -)")
                }
                var dr = try mr.requiredObject("dose")
                let dose = DoseQuantity(value: try dr.requiredString("value", maxLength: 32), unit: try dr.requiredString("unit", maxLength: 32))
                try dr.finish()
                var times: [TimeOfDay] = []
                for (k, t) in try mr.requiredArray("timeOfDay", maxCount: 6).enumerated() {
                    guard let s = t as? String, let tod = TimeOfDay(s) else {
                        throw AdherenceValidationError(field: mr.pointer("timeOfDay") + "/\(k)", reason: "must be a time HH:MM")
                    }
                    times.append(tod)
                }
                guard Set(times).count == times.count else {
                    throw AdherenceValidationError(field: mr.pointer("timeOfDay"), reason: "lists a time twice")
                }
                var days = Set(1...7)
                if let list = try mr.array("dayOfWeek", maxCount: 7) {
                    days = []
                    for (k, d) in list.enumerated() {
                        guard let s = d as? String, let n = DayOfWeek.number(s) else {
                            throw AdherenceValidationError(field: mr.pointer("dayOfWeek") + "/\(k)", reason: "must be mon, tue, wed, thu, fri, sat or sun")
                        }
                        days.insert(n)
                    }
                    guard !days.isEmpty else { throw AdherenceValidationError(field: mr.pointer("dayOfWeek"), reason: "must not be empty") }
                }
                try mr.finish()
                meds.append(MedicationDosage(medication: code, dose: dose, timesOfDay: times, daysOfWeek: days))
            }
            try pr.finish()
            phases.append(RegimenPhase(name: name, start: start, end: end, medications: meds))
        }
        try r.finish()
        return try Regimen(template: template, effectiveFrom: effectiveFrom, timeZone: zone, phases: phases, note: note)
    }

    /// The record's JSON.
    public func json() -> [UInt8] {
        var o: [String: Any] = ["effectiveFrom": effectiveFrom.description, "timeZone": timeZone.identifier,
                                "phases": phases.map { p -> [String: Any] in
                                    ["name": p.name, "start": p.start.description, "end": p.end.description,
                                     "medications": p.medications.map { m -> [String: Any] in
                                         var d: [String: Any] = ["medication": m.medication,
                                                                 "dose": ["value": m.dose.value, "unit": m.dose.unit],
                                                                 "timeOfDay": m.timesOfDay.map(\.description)]
                                         if m.daysOfWeek != Set(1...7) { d["dayOfWeek"] = m.daysOfWeek.sorted().map(DayOfWeek.name) }
                                         return d
                                     }]
                                }]
        if let template { o["template"] = template }
        if let note { o["note"] = note }
        return RecordJSON.bytes(o)
    }
}

/// FHIR's day-of-week codes (`mon` ... `sun`) and ISO weekday numbers.
enum DayOfWeek {
    static let names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    static func number(_ s: String) -> Int? { names.firstIndex(of: s).map { $0 + 1 } }
    static func name(_ n: Int) -> String { names[n - 1] }
}

extension DoseEvent {
    /// Decodes and validates a `dose-event` record.
    /// - Throws: `AdherenceValidationError` naming the member.
    public static func decode(json bytes: [UInt8]) throws -> DoseEvent {
        var r = try FieldReader(json: bytes)
        var s = try r.requiredObject("scheduled")
        let medication = try s.requiredString("medication", maxLength: 64)
        let date = try s.requiredDate("date")
        guard let timeText = try s.string("time", maxLength: 5) else { throw s.missing("time") }
        guard let time = TimeOfDay(timeText) else { throw AdherenceValidationError(field: "/scheduled/time", reason: "must be a time HH:MM") }
        try s.finish()
        let status = try r.requiredCode("status", DoseStatus.self)
        let takenAt = try r.instant("takenAt")
        guard let recordedAt = try r.instant("recordedAt") else { throw r.missing("recordedAt") }
        let method = try r.requiredCode("method", DoseMethod.self)
        let reason = try r.code("reason", SkipReason.self)
        var supersedes: UInt64?
        if let n = try r.int("supersedes", range: 1...Int.max) { supersedes = UInt64(n) }
        let note = try r.string("note", maxLength: 2000)
        try r.finish()
        return try DoseEvent(scheduled: ScheduledDose(medication: medication, date: date, time: time), status: status, takenAt: takenAt,
                             recordedAt: recordedAt, method: method, reason: reason, supersedes: supersedes, note: note)
    }

    /// The record's JSON.
    public func json() -> [UInt8] {
        var o: [String: Any] = ["scheduled": ["medication": scheduled.medication, "date": scheduled.date.description,
                                              "time": scheduled.time.description],
                                "status": status.rawValue, "recordedAt": Instant.format(recordedAt), "method": method.rawValue]
        if let takenAt { o["takenAt"] = Instant.format(takenAt) }
        if let reason { o["reason"] = reason.rawValue }
        if let supersedes { o["supersedes"] = supersedes }
        if let note { o["note"] = note }
        return RecordJSON.bytes(o)
    }
}

extension SideEffect {
    /// Decodes and validates a `side-effect` record.
    /// - Throws: `AdherenceValidationError` naming the member.
    public static func decode(json bytes: [UInt8]) throws -> SideEffect {
        var r = try FieldReader(json: bytes)
        let symptom = try r.requiredCode("symptom", Symptom.self)
        guard let grade = try r.int("grade", range: 1...5) else { throw r.missing("grade") }
        guard let onset = try r.instant("onset") else { throw r.missing("onset") }
        let resolved = try r.bool("resolved") ?? false
        let text = try r.string("text", maxLength: 2000)
        try r.finish()
        return try SideEffect(symptom: symptom, grade: grade, onset: onset, resolved: resolved, text: text)
    }

    /// The record's JSON.
    public func json() -> [UInt8] {
        var o: [String: Any] = ["symptom": symptom.rawValue, "grade": grade, "onset": Instant.format(onset), "resolved": resolved]
        if let text { o["text"] = text }
        return RecordJSON.bytes(o)
    }
}

extension Message {
    /// Decodes and validates a `message` record (`{"text": ...}`; `sentAt` defaults to `recordTime`, the record's
    /// own signed time, for messages written before the adherence domain).
    /// - Throws: `AdherenceValidationError` naming the member.
    public static func decode(json bytes: [UInt8], recordTime: Date) throws -> Message {
        var r = try FieldReader(json: bytes)
        let text = try r.requiredString("text", maxLength: 4000)
        let sentAt = try r.instant("sentAt") ?? recordTime
        try r.finish()
        return Message(text: text, sentAt: sentAt)
    }

    /// The record's JSON.
    public func json() -> [UInt8] { RecordJSON.bytes(["text": text, "sentAt": Instant.format(sentAt)]) }
}
