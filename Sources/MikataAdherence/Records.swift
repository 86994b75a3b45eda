public import Foundation

/// The record types of the adherence domain as stored in a vault (`VaultRecord.type`), each with the FHIR R4 resource
/// it corresponds to (docs/ADHERENCE.md).
public enum AdherenceRecordType: String, Sendable, CaseIterable {
    /// `Regimen` ≈ FHIR MedicationRequest (one version of the prescribed treatment).
    case regimen = "medication-request"
    /// `DoseEvent` ≈ FHIR MedicationStatement (self-reported) or MedicationAdministration (observed).
    case doseEvent = "dose-event"
    /// `SideEffect` ≈ FHIR Observation.
    case sideEffect = "side-effect"
    /// `Message` ≈ FHIR Communication.
    case message = "message"
}

/// A dose as the prescriber wrote it (FHIR Dosage.doseAndRate.doseQuantity): value and unit are kept as text and
/// only displayed, never computed with.
public struct DoseQuantity: Sendable, Hashable {
    /// The amount as written (`300`, `0.5`, `1-2`).
    public let value: String
    /// The unit as written (`mg`, `tablet`).
    public let unit: String

    /// A dose.
    public init(value: String, unit: String) {
        self.value = value
        self.unit = unit
    }
}

/// One medicine of a phase (FHIR MedicationRequest.medication + dosageInstruction).
public struct MedicationDosage: Sendable, Hashable {
    /// The medicine's code, lower-case INN (`isoniazid`, `rifampicin`); see `Medication`.
    public let medication: String
    /// The dose as written by the prescriber.
    public let dose: DoseQuantity
    /// Times of day the dose is due (FHIR Timing.repeat.timeOfDay), sorted, at least one.
    public let timesOfDay: [TimeOfDay]
    /// ISO weekdays (1 Monday ... 7 Sunday) it is due on (FHIR Timing.repeat.dayOfWeek); all seven when daily.
    public let daysOfWeek: Set<Int>

    /// Whether `code` is a medicine code as records hold it: 1 or more of `a-z 0-9 -` (the lower-case INN form), so
    /// that it is a valid FHIR `coding.code` as it stands.
    public static func isCode(_ code: String) -> Bool {
        !code.isEmpty && code.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2d }
    }

    /// A dosage; `daysOfWeek` defaults to every day.
    public init(medication: String, dose: DoseQuantity, timesOfDay: [TimeOfDay], daysOfWeek: Set<Int> = Set(1...7)) {
        self.medication = medication
        self.dose = dose
        self.timesOfDay = timesOfDay.sorted()
        self.daysOfWeek = daysOfWeek
    }
}

/// A phase of treatment (intensive, continuation): the medicines given between two dates, both included.
public struct RegimenPhase: Sendable, Hashable {
    /// `intensive`, `continuation`, or a prescriber's name for it.
    public let name: String
    /// First day (inclusive).
    public let start: LocalDate
    /// Last day (inclusive).
    public let end: LocalDate
    /// The medicines.
    public let medications: [MedicationDosage]

    /// A phase.
    public init(name: String, start: LocalDate, end: LocalDate, medications: [MedicationDosage]) {
        self.name = name
        self.start = start
        self.end = end
        self.medications = medications
    }
}

/// One version of a patient's regimen (≈ FHIR MedicationRequest): valid from `effectiveFrom` until a later
/// version's `effectiveFrom`. A change mid-treatment is a new version; nothing is edited in place.
public struct Regimen: Sendable, Hashable {
    /// The template it was made from (`2HRZE/4HR`), if any.
    public let template: String?
    /// The first day this version applies to.
    public let effectiveFrom: LocalDate
    /// The patient's time zone (IANA, default `Asia/Tokyo`): day boundaries and times of day are in it.
    public let timeZone: TimeZone
    /// The phases, in order, not overlapping.
    public let phases: [RegimenPhase]
    /// Free text from the prescriber.
    public let note: String?

    /// A regimen version.
    /// - Throws: `AdherenceValidationError` when phases overlap or run backwards.
    public init(template: String? = nil, effectiveFrom: LocalDate, timeZone: TimeZone = Regimen.defaultTimeZone,
                phases: [RegimenPhase], note: String? = nil) throws {
        self.template = template
        self.effectiveFrom = effectiveFrom
        self.timeZone = timeZone
        self.phases = phases
        self.note = note
        try Regimen.check(phases)
        guard effectiveFrom >= Regimen.earliest, effectiveFrom <= Regimen.latest else {
            throw AdherenceValidationError(field: "/effectiveFrom", reason: "must be a date in 2000 to 2099")
        }
    }

    /// Asia/Tokyo.
    public static let defaultTimeZone = TimeZone(identifier: "Asia/Tokyo")!

    /// First and last day of treatment.
    public var start: LocalDate { phases.first!.start }
    /// See `start`.
    public var end: LocalDate { phases.last!.end }

    /// The phase containing `date`, if any.
    public func phase(on date: LocalDate) -> RegimenPhase? { phases.first { $0.start <= date && date <= $0.end } }

    /// Treatment dates lie in 2000–2099 and a regimen spans at most 5 years (a report walks it day by day).
    static let earliest = LocalDate(year: 2000, month: 1, day: 1)!, latest = LocalDate(year: 2099, month: 12, day: 31)!

    static func check(_ phases: [RegimenPhase]) throws {
        guard !phases.isEmpty else { throw AdherenceValidationError(field: "/phases", reason: "must not be empty") }
        for (i, p) in phases.enumerated() {
            for (name, d) in [("start", p.start), ("end", p.end)] where d < earliest || d > latest {
                throw AdherenceValidationError(field: "/phases/\(i)/\(name)", reason: "must be a date in 2000 to 2099")
            }
            guard p.start <= p.end else { throw AdherenceValidationError(field: "/phases/\(i)/end", reason: "is before the phase's start") }
            if i > 0, p.start <= phases[i - 1].end {
                throw AdherenceValidationError(field: "/phases/\(i)/start", reason: "overlaps the previous phase")
            }
            guard !p.medications.isEmpty else { throw AdherenceValidationError(field: "/phases/\(i)/medications", reason: "must not be empty") }
        }
        guard phases.first!.start.days(to: phases.last!.end) <= 5 * 366 else {
            throw AdherenceValidationError(field: "/phases", reason: "span more than 5 years")
        }
    }
}

/// What a dose event says happened (FHIR MedicationStatement.status / MedicationAdministration.status, refined).
public enum DoseStatus: String, Sendable, CaseIterable {
    /// Taken on time.
    case taken
    /// Taken, but late.
    case late
    /// Not taken.
    case missed
    /// Deliberately not taken, with a reason (FHIR statusReason).
    case skipped
}

/// How a dose was reported (FHIR: self-reported → MedicationStatement; observed → MedicationAdministration).
public enum DoseMethod: String, Sendable, CaseIterable {
    /// The patient says so.
    case selfReport = "self-report"
    /// The patient sent a photo (e.g. the empty blister pack).
    case photo
    /// A supporter watched in person (DOT).
    case supporterObserved = "supporter-observed"
    /// A supporter watched by video (VOT).
    case videoCall = "video-call"

    /// Whether FHIR calls it an administration (observed) rather than a statement.
    public var isObserved: Bool { self == .supporterObserved || self == .videoCall }
}

/// Why a dose was skipped (FHIR statusReason).
public enum SkipReason: String, Sendable, CaseIterable {
    case sideEffects = "side-effects"
    case clinicianAdvised = "clinician-advised"
    case outOfMedicine = "out-of-medicine"
    case unwell
    case other
}

/// The scheduled dose an event answers: medicine, local date and time of day.
public struct ScheduledDose: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The medicine's code.
    public let medication: String
    /// The local date it was due.
    public let date: LocalDate
    /// The local time it was due.
    public let time: TimeOfDay

    /// A scheduled dose.
    public init(medication: String, date: LocalDate, time: TimeOfDay) {
        self.medication = medication
        self.date = date
        self.time = time
    }

    public static func < (a: ScheduledDose, b: ScheduledDose) -> Bool {
        (a.date, a.time, a.medication) < (b.date, b.time, b.medication)
    }

    /// `medicine@date Ttime`.
    public var description: String { "\(medication)@\(date)T\(time)" }
}

/// A dose event (≈ FHIR MedicationStatement when self-reported, MedicationAdministration when observed).
/// Corrections append a new event for the same scheduled dose, naming the one it supersedes; the latest wins.
public struct DoseEvent: Sendable, Hashable {
    /// The scheduled dose it answers.
    public let scheduled: ScheduledDose
    /// What happened.
    public let status: DoseStatus
    /// When it was taken (UTC); required for taken and late.
    public let takenAt: Date?
    /// When it was recorded (UTC).
    public let recordedAt: Date
    /// How it was reported.
    public let method: DoseMethod
    /// Why it was skipped; required for skipped.
    public let reason: SkipReason?
    /// The record sequence number of the event this one corrects.
    public let supersedes: UInt64?
    /// Free text.
    public let note: String?

    /// A dose event.
    /// - Throws: `AdherenceValidationError` for a taken/late event without `takenAt`, a skipped one without a reason,
    ///   or a reason on another status.
    public init(scheduled: ScheduledDose, status: DoseStatus, takenAt: Date?, recordedAt: Date, method: DoseMethod,
                reason: SkipReason? = nil, supersedes: UInt64? = nil, note: String? = nil) throws {
        self.scheduled = scheduled
        self.status = status
        self.takenAt = takenAt
        self.recordedAt = recordedAt
        self.method = method
        self.reason = reason
        self.supersedes = supersedes
        self.note = note
        if (status == .taken || status == .late) && takenAt == nil {
            throw AdherenceValidationError(field: "/takenAt", reason: "is required when the dose was taken")
        }
        if (status == .missed || status == .skipped) && takenAt != nil {
            throw AdherenceValidationError(field: "/takenAt", reason: "must be absent when the dose was not taken")
        }
        if status == .skipped && reason == nil { throw AdherenceValidationError(field: "/reason", reason: "is required when a dose is skipped") }
        if status != .skipped && reason != nil { throw AdherenceValidationError(field: "/reason", reason: "is only for skipped doses") }
    }

    /// Whether the dose counts as taken (on time or late).
    public var wasTaken: Bool { status == .taken || status == .late }
}

/// Symptoms of the coded list (common adverse reactions of first-line TB drugs; free text goes in `text`).
public enum Symptom: String, Sendable, CaseIterable {
    case nausea, vomiting, rash, itching, jaundice, fatigue, fever, dizziness
    case jointPain = "joint-pain"
    case visualChange = "visual-change"
    case numbness
    case abdominalPain = "abdominal-pain"
    case lossOfAppetite = "loss-of-appetite"
    case hearingChange = "hearing-change"
    case orangeUrine = "orange-urine"
    case other
}

/// A side effect (≈ FHIR Observation): a coded symptom, a grade, an onset.
public struct SideEffect: Sendable, Hashable {
    /// The symptom.
    public let symptom: Symptom
    /// Severity grade 1 (mild) ... 5 (CTCAE v5 grades; 3 and above are "severe").
    public let grade: Int
    /// When it started (UTC).
    public let onset: Date
    /// Whether it has resolved.
    public let resolved: Bool
    /// The patient's words.
    public let text: String?

    /// A side effect.
    /// - Throws: `AdherenceValidationError` for a grade outside 1...5, or `.other` without text.
    public init(symptom: Symptom, grade: Int, onset: Date, resolved: Bool = false, text: String? = nil) throws {
        guard (1...5).contains(grade) else { throw AdherenceValidationError(field: "/grade", reason: "must be 1 to 5") }
        if symptom == .other && (text ?? "").isEmpty { throw AdherenceValidationError(field: "/text", reason: "is required for symptom other") }
        self.symptom = symptom
        self.grade = grade
        self.onset = onset
        self.resolved = resolved
        self.text = text
    }

    /// Grade 3 or more.
    public var isSevere: Bool { grade >= 3 }
}

/// A message between patient and supporter (≈ FHIR Communication); its author is the record's signed author.
public struct Message: Sendable, Hashable {
    /// The text (1 to 4,000 characters).
    public let text: String
    /// When it was written (UTC).
    public let sentAt: Date

    /// A message.
    public init(text: String, sentAt: Date) {
        self.text = text
        self.sentAt = sentAt
    }
}
