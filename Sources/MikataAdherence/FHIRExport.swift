public import Foundation

/// A FHIR R4 (4.0.1) `Bundle` of type `collection` with the patient's adherence data (docs/ADHERENCE.md, "FHIR
/// export"): the `Patient`, one `MedicationRequest` per medicine of each regimen phase and version, each dose event
/// as a `MedicationStatement` (self-reported, photo) or `MedicationAdministration` (observed by a supporter in
/// person or by video), side effects as `Observation`, messages as `Communication`, and a `Practitioner` (id only) for
/// each supporter who wrote. Every reference is a `urn:uuid:` `fullUrl` inside the bundle. A dose event that a later
/// one corrected is exported with status `entered-in-error`.
public enum FHIRExport {
    /// The bundle's JSON (sorted keys).
    /// - Parameters:
    ///   - vaultId: the vault's id (32 hexadecimal digits): the Patient's identifier and the seed of every uuid.
    ///   - nickname: the patient's nickname, as `Patient.name.text`, if they have one.
    ///   - generatedAt: `Bundle.timestamp`.
    public static func bundle(vaultId: String, nickname: String?, records: [AdherenceRecord], generatedAt: Date) -> [UInt8] {
        let patientURL = url(vaultId, 0)
        var entries: [[String: Any]] = []
        var patient: [String: Any] = ["resourceType": "Patient", "id": id(patientURL),
                                      "identifier": [["system": "https://mikata.example/fhir/vault-id", "value": vaultId]]]
        if let nickname { patient["name"] = [["text": nickname]] }
        entries.append(["fullUrl": patientURL, "resource": patient])
        let subject: [String: Any] = ["reference": patientURL]

        var practitioners: [String: String] = [:]
        func practitioner(_ supporterId: String) -> String {
            if let u = practitioners[supporterId] { return u }
            let u = url(supporterId, 1)
            practitioners[supporterId] = u
            entries.append(["fullUrl": u, "resource": ["resourceType": "Practitioner", "id": id(u),
                                                       "identifier": [["system": "https://mikata.example/fhir/supporter-id", "value": supporterId]]]])
            return u
        }

        // MedicationRequests, and which one each (date, medicine) falls under (the version in force that day).
        var requests: [(from: LocalDate, phase: RegimenPhase, medication: String, url: String)] = []
        let regimens = records.compactMap { r -> (UInt64, Regimen, RecordAuthorRef)? in
            if case .regimen(let g) = r.content { return (r.seq, g, r.author) } else { return nil }
        }.sorted { ($0.1.effectiveFrom, $0.0) < ($1.1.effectiveFrom, $1.0) }
        for (n, (seq, g, author)) in regimens.enumerated() {
            // Who wrote the order: a supporter (as Practitioner) or the patient (the subject); a clinician importing
            // the bundle can tell a prescriber's entry from a patient's own.
            let requester: [String: Any]? = switch author {
            case .supporter(let sid): ["reference": practitioner(sid)]
            case .patient: subject
            case .service: nil
            }
            let until = n + 1 < regimens.count ? regimens[n + 1].1.effectiveFrom : nil
            for (p, phase) in g.phases.enumerated() {
                for (m, med) in phase.medications.enumerated() {
                    let u = url(vaultId, 1_000_000 + seq * 10_000 + UInt64(p * 100 + m))
                    var timingRepeat: [String: Any] = ["boundsPeriod": ["start": phase.start.description, "end": phase.end.description],
                                                       "timeOfDay": med.timesOfDay.map { "\($0):00" }]
                    if med.daysOfWeek != Set(1...7) { timingRepeat["dayOfWeek"] = med.daysOfWeek.sorted().map(DayOfWeek.name) }
                    var dosage: [String: Any] = ["text": "\(med.dose.value) \(med.dose.unit)", "timing": ["repeat": timingRepeat]]
                    if let v = Decimal(string: med.dose.value), "\(v)" == med.dose.value {
                        dosage["doseAndRate"] = [["doseQuantity": ["value": NSDecimalNumber(decimal: v), "unit": med.dose.unit]]]
                    }
                    var request: [String: Any] = ["resourceType": "MedicationRequest", "id": id(u), "intent": "order",
                                                  "status": until == nil ? "active" : "completed", "subject": subject,
                                                  "medicationCodeableConcept": concept(med.medication),
                                                  "dosageInstruction": [dosage],
                                                  "authoredOn": g.effectiveFrom.description]
                    if let t = g.template { request["groupIdentifier"] = ["value": t] }
                    if let requester { request["requester"] = requester }
                    entries.append(["fullUrl": u, "resource": request])
                    requests.append((g.effectiveFrom, phase, med.medication, u))
                }
            }
        }
        // The last request (in version order) in force on the dose's date whose phase covers it, for that medicine:
        // looked up per medicine from the last version starting on or before the date backwards (usually one step),
        // and remembered per (medicine, date), so events of one day cost one look-up, not a scan of every request.
        let requestsByMedication = Dictionary(grouping: requests, by: \.medication)
        struct Day: Hashable { let medication: String; let date: LocalDate }
        var found: [Day: String?] = [:]
        func request(for s: ScheduledDose) -> String? {
            let key = Day(medication: s.medication, date: s.date)
            if let known = found[key] { return known }
            var answer: String?
            if let list = requestsByMedication[s.medication] {
                var low = 0, high = list.count  // the first index whose version starts after the date
                while low < high { let mid = (low + high) / 2; if list[mid].from <= s.date { low = mid + 1 } else { high = mid } }
                answer = list[..<low].last { $0.phase.start <= s.date && s.date <= $0.phase.end }?.url
            }
            found[key] = answer
            return answer
        }

        // Dose events: the latest per scheduled dose stands, earlier ones were corrected.
        var latest: [ScheduledDose: UInt64] = [:]
        for r in records { if case .doseEvent(let e) = r.content { latest[e.scheduled] = max(latest[e.scheduled] ?? 0, r.seq) } }

        for r in records {
            let u = url(vaultId, 1 << 40 + r.seq)
            switch r.content {
            case .regimen:
                continue
            case .doseEvent(let e):
                let corrected = latest[e.scheduled] != r.seq
                let effective = Instant.format(e.takenAt ?? e.scheduled.date.instant(at: e.scheduled.time, in: regimens.last?.1.timeZone ?? Regimen.defaultTimeZone))
                var resource: [String: Any] = ["id": id(u), "subject": subject, "medicationCodeableConcept": concept(e.scheduled.medication),
                                               "effectiveDateTime": effective]
                if e.method.isObserved {
                    resource["resourceType"] = "MedicationAdministration"
                    resource["status"] = corrected ? "entered-in-error" : e.wasTaken ? "completed" : "not-done"
                    if case .supporter(let sid) = r.author { resource["performer"] = [["actor": ["reference": practitioner(sid)]]] }
                    if let q = request(for: e.scheduled) { resource["request"] = ["reference": q] }
                } else {
                    resource["resourceType"] = "MedicationStatement"
                    resource["status"] = corrected ? "entered-in-error" : e.wasTaken ? "completed" : "not-taken"
                    resource["dateAsserted"] = Instant.format(e.recordedAt)
                    if let q = request(for: e.scheduled) { resource["basedOn"] = [["reference": q]] }
                }
                if let reason = e.reason { resource["statusReason"] = [["text": reason.rawValue]] }
                var notes: [String] = []
                if e.status == .late { notes.append("taken late") }
                notes.append("scheduled \(e.scheduled.date)T\(e.scheduled.time); reported by \(e.method.rawValue)")
                if let n = e.note { notes.append(n) }
                resource["note"] = notes.map { ["text": $0] }
                entries.append(["fullUrl": u, "resource": resource])
            case .sideEffect(let s):
                var resource: [String: Any] = ["resourceType": "Observation", "id": id(u), "status": "final", "subject": subject,
                                               "code": ["coding": [["system": "https://mikata.example/fhir/CodeSystem/symptom", "code": s.symptom.rawValue]],
                                                        "text": s.symptom.rawValue],
                                               "effectiveDateTime": Instant.format(s.onset), "valueInteger": s.grade,
                                               "interpretation": [["text": s.isSevere ? "severe" : "not severe"]]]
                var notes = [s.resolved ? "resolved" : "unresolved"]
                if let t = s.text { notes.append(t) }
                resource["note"] = notes.map { ["text": $0] }
                entries.append(["fullUrl": u, "resource": resource])
            case .message(let m):
                var resource: [String: Any] = ["resourceType": "Communication", "id": id(u), "status": "completed", "subject": subject,
                                               "sent": Instant.format(m.sentAt), "payload": [["contentString": m.text]]]
                switch r.author {
                case .patient: resource["sender"] = subject
                case .supporter(let sid): resource["sender"] = ["reference": practitioner(sid)]; resource["recipient"] = [subject]
                case .service: break
                }
                entries.append(["fullUrl": u, "resource": resource])
            }
        }
        let bundle: [String: Any] = ["resourceType": "Bundle", "id": id(url(vaultId, 2)), "type": "collection",
                                     "timestamp": Instant.format(generatedAt), "entry": entries]
        return Array((try? JSONSerialization.data(withJSONObject: bundle, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data())
    }

    static func concept(_ medication: String) -> [String: Any] {
        ["text": medication, "coding": [["system": "https://mikata.example/fhir/CodeSystem/medication", "code": medication]]]
    }

    /// A deterministic `urn:uuid:` (RFC 9562 version 8 layout) from a 32-hex-digit seed and a number.
    static func url(_ seed: String, _ n: UInt64) -> String {
        var hex = Array(seed.lowercased().filter(\.isHexDigit).prefix(16))
        while hex.count < 16 { hex.append("0") }
        var digits = hex + Array(String(format: "%016llx", n))
        digits[12] = "8"                                      // version 8
        digits[16] = ["8", "9", "a", "b"][Int(String(digits[16]), radix: 16)! & 3]  // RFC 9562 variant
        let s = String(digits)
        let parts = [s.prefix(8), s.dropFirst(8).prefix(4), s.dropFirst(12).prefix(4), s.dropFirst(16).prefix(4), s.dropFirst(20)]
        return "urn:uuid:" + parts.joined(separator: "-")
    }

    static func id(_ url: String) -> String { String(url.dropFirst("urn:uuid:".count)) }
}
