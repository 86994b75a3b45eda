import Foundation

/// A record as the journal says it must be in the vault.
struct ExpectedRecord: Equatable {
    var seq: UInt64
    var type: String
    var data: [UInt8]
    /// "patient" or "supporter:<id hex>", as `RecordAuthor.description` prints it.
    var author: String
}

/// Whether the supporter-link hint (links/<supporter>/<vault>) must exist.
enum LinkExpectation { case present, absent, unknown }

/// How many "ok" access-log entries an action may have: at least the acknowledged operations, at most those plus
/// the ones that took effect without being acknowledged (the process died before it could log or journal them).
struct Bounds {
    var low = 0
    var high = 0
    mutating func add(certain: Bool) { high += 1; if certain { low += 1 } }
    func allows(_ n: Int) -> Bool { n >= low && n <= high }
    var text: String { low == high ? "\(low)" : "\(low)…\(high)" }
}

final class PatientModel {
    let email: String
    let nickname: String
    var vaultId: String
    var password: String
    var oldPasswords: [String] = []
    var records: [ExpectedRecord]
    /// Supporters (e-mails) whose grant took effect and was not revoked since.
    var granted: Set<String> = []
    var everGranted: Set<String> = []
    var links: [String: LinkExpectation] = [:]
    var shredded = false
    /// Key epochs the header must hold (nil once an interrupted re-encryption makes it unknowable).
    var expectedEpochs: Int? = 1
    var audit: [String: Bounds] = [:]
    var ackedAppendSeqs: Set<UInt64> = []
    var possibleAppendSeqs: Set<UInt64> = []

    init(email: String, nickname: String, vaultId: String, password: String) {
        self.email = email; self.nickname = nickname; self.vaultId = vaultId; self.password = password
        records = [ExpectedRecord(seq: 0, type: "mikata.profile", data: PatientModel.profile(nickname), author: "patient")]
    }

    /// The bytes `Store.createPatient` writes as record 0.
    static func profile(_ nickname: String) -> [UInt8] {
        [UInt8]((try? JSONSerialization.data(withJSONObject: ["nickname": nickname], options: [.sortedKeys])) ?? Data())
    }
}

final class SupporterModel {
    let email: String
    let password: String
    let id: String
    var audit = Bounds()

    init(email: String, password: String, id: String) { self.email = email; self.password = password; self.id = id }
}

/// The world as the journal describes it: replayed from the journal by both modes.
final class Model {
    var patients: [String: PatientModel] = [:]
    var patientOrder: [String] = []
    var supporters: [String: SupporterModel] = [:]
    var supporterOrder: [String] = []
    var backupKeyFile: String?
    var backups: [String] = []
    var globalAudit: [String: Bounds] = [:]
    /// The highest operation number so far.
    var lastNumber = 0
    var runs = 0
    var acknowledged = 0
    var resolvedApplied = 0
    var resolvedNotApplied = 0
    /// An operation begun and never acknowledged, failed or resolved: at most one (each run resolves it first).
    var unresolved: (n: Int, op: Operation)?
    var failures: [JournalEntry] = []
    var counts: [Operation.Kind: Int] = [:]

    init(entries: [JournalEntry]) throws {
        var begun: [Int: Operation] = [:]
        for e in entries {
            switch e.ev {
            case .start:
                runs += 1
            case .begin:
                guard let n = e.n, let op = e.op else { throw TortureError.journal("a begin line without its operation") }
                lastNumber = max(lastNumber, n)
                begun[n] = op
                unresolved = (n, op)
            case .ack:
                guard let n = e.n, let op = begun.removeValue(forKey: n) else { throw TortureError.journal("an ack without its begin") }
                try apply(op, n: n, certain: true, seq: e.seq, id: e.id)
                acknowledged += 1
                counts[op.kind, default: 0] += 1
                if unresolved?.n == n { unresolved = nil }
            case .fail:
                failures.append(e)
            case .resolve:
                guard let n = e.n, let op = begun.removeValue(forKey: n) else { throw TortureError.journal("a resolve without its begin") }
                if e.applied == true {
                    try apply(op, n: n, certain: false, seq: e.seq, id: e.id)
                    resolvedApplied += 1
                } else {
                    resolvedNotApplied += 1
                }
                if unresolved?.n == n { unresolved = nil }
            }
        }
    }

    var livePatients: [PatientModel] { patientOrder.compactMap { patients[$0] }.filter { !$0.shredded } }

    /// Applies an operation that took effect. `certain`: it was acknowledged (so it must also be in the access log).
    func apply(_ op: Operation, n: Int, certain: Bool, seq: UInt64?, id: String?) throws {
        func patient() throws -> PatientModel {
            guard let e = op.patient, let p = patients[e] else { throw TortureError.journal("operation \(n) names an unknown patient") }
            return p
        }
        func supporter() throws -> SupporterModel {
            guard let e = op.supporter, let s = supporters[e] else { throw TortureError.journal("operation \(n) names an unknown supporter") }
            return s
        }
        switch op.kind {
        case .createPatient:
            guard let email = op.patient, let pw = op.password, let nick = op.name, let id else { throw TortureError.journal("operation \(n): incomplete createPatient") }
            let p = PatientModel(email: email, nickname: nick, vaultId: id, password: pw)
            p.audit["create-vault", default: Bounds()].add(certain: certain)
            patients[email] = p
            patientOrder.append(email)
        case .createSupporter:
            guard let email = op.supporter, let pw = op.password, let id else { throw TortureError.journal("operation \(n): incomplete createSupporter") }
            let s = SupporterModel(email: email, password: pw, id: id)
            s.audit.add(certain: certain)
            supporters[email] = s
            supporterOrder.append(email)
        case .append:
            let p = try patient()
            let author = try op.supporter.map { _ in "supporter:\(try supporter().id)" } ?? "patient"
            let next = UInt64(p.records.count)
            if let seq, seq != next {
                throw TortureError.violation("wrong-seq", "operation \(n): append acknowledged with seq \(seq) where the journal expects \(next)")
            }
            p.records.append(ExpectedRecord(seq: next, type: op.type ?? "", data: [UInt8]((op.data ?? "").utf8), author: author))
            p.possibleAppendSeqs.insert(next)
            if certain { p.ackedAppendSeqs.insert(next) }
        case .grant:
            let p = try patient(), s = try supporter()
            p.granted.insert(s.email); p.everGranted.insert(s.email)
            p.links[s.email] = certain ? .present : .unknown
            p.audit["grant", default: Bounds()].add(certain: certain)
        case .revoke:
            let p = try patient(), s = try supporter()
            p.granted.remove(s.email)
            p.links[s.email] = certain ? .absent : .unknown
            if op.reencrypt == true {
                p.expectedEpochs = certain ? 1 : nil
            } else {
                p.expectedEpochs = p.expectedEpochs.map { $0 + 1 }
            }
            p.audit["revoke", default: Bounds()].add(certain: certain)
        case .changePassword:
            let p = try patient()
            guard let pw = op.password else { throw TortureError.journal("operation \(n): changePassword without a password") }
            p.oldPasswords.append(p.password)
            p.password = pw
            p.audit["password-change", default: Bounds()].add(certain: certain)
        case .shred:
            let p = try patient()
            p.shredded = true
            p.audit["shred", default: Bounds()].add(certain: certain)
        case .backupKey:
            backupKeyFile = op.file
            globalAudit["backup-key-create", default: Bounds()].add(certain: certain)
        case .backup:
            if let f = op.file { backups.append(f) }
            globalAudit["backup-create", default: Bounds()].add(certain: certain)
        }
    }
}

extension Operation {
    /// A short description for summaries and messages (no passwords).
    var summary: String {
        switch kind {
        case .createPatient: return "createPatient \(patient ?? "?")"
        case .createSupporter: return "createSupporter \(supporter ?? "?")"
        case .append: return "append to \(patient ?? "?") by \(supporter ?? "patient")"
        case .grant: return "grant \(supporter ?? "?") on \(patient ?? "?")"
        case .revoke: return "revoke \(supporter ?? "?") on \(patient ?? "?")\(reencrypt == true ? " with re-encryption" : "")"
        case .changePassword: return "changePassword of \(patient ?? "?")"
        case .shred: return "shred \(patient ?? "?")"
        case .backupKey: return "backupKey"
        case .backup: return "backup to \((file ?? "?") as NSString).lastPathComponent"
        }
    }
}
