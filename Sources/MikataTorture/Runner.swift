import Foundation
import MikataCrypto
import MikataFormat
import MikataVault

/// `mikata-torture run`: seeded random operations on a store, each journaled only once acknowledged.
struct Runner {
    let storePath: String
    let journalPath: String
    let seed: UInt64
    let ops: Int?
    /// Start with a fixed script that performs every kind of operation once (short runs under strace reach every
    /// rename and fsync call site this way).
    var cover = false

    /// Backups and the secret backup key go beside the store, never inside it.
    var sideFolder: String { storePath.hasSuffix("/") ? String(storePath.dropLast()) + ".backups" : storePath + ".backups" }

    func run() throws -> String {
        let started = Date()
        let journal = Journal(path: journalPath)
        try journal.openForAppend()
        let (store, created): (Store, Bool)
        do { (store, created) = try Store.initialize(at: storePath) } catch {
            try? journal.append(JournalEntry(ev: .fail, run: seed, error: "store initialisation: \(describe(error))", kind: "init-failed"))
            throw TortureError.violation("init-failed", "Store.initialize failed (on a store whose earlier initialisation may have been interrupted): \(describe(error))")
        }
        store.kdf = .minimumForTesting
        store.headerCopyLength = 1024
        try journal.append(JournalEntry(ev: .start, run: seed))
        let model = try Model(entries: try Journal.read(journalPath))
        let operations = StoreOperations(store: store, model: model)
        var resolvedText = ""
        if let (n, op) = model.unresolved {
            var r: Resolution
            do { r = try operations.probe(op, n: n) } catch let TortureError.violation(kind, message) {
                try? journal.append(JournalEntry(ev: .fail, run: seed, error: "resolving op \(n): \(message)", kind: kind))
                throw TortureError.violation(kind, message)
            }
            if r.shredInProgress {
                // An interrupted shred is completed by running it again (docs/OPERATIONS.md, deletion runbook).
                do { _ = try store.shred(email: op.patient!, request: StoreOperations.shredRequest) } catch {
                    try? journal.append(JournalEntry(ev: .fail, run: seed, error: "completing shred \(n): \(describe(error))", kind: "shred-not-completable"))
                    throw TortureError.violation("shred-not-completable", "interrupted shred \(n) does not complete when run again: \(describe(error))")
                }
                r = Resolution(applied: true)
            }
            try journal.append(JournalEntry(ev: .resolve, run: seed, n: n, op: op, seq: r.seq, id: r.id, applied: r.applied))
            try model.apply(op, n: n, certain: false, seq: r.seq, id: r.id, if: r.applied)
            resolvedText = "; resolved interrupted op \(n) (\(op.kind.rawValue)): \(r.applied ? "applied" : "not applied")"
        }
        // The generator also depends on how far the journal is, so a repeated seed on a continued store differs.
        var rng = SeededGenerator(seed: seed &* 0x2545_F491_4F6C_DD1D ^ UInt64(model.lastNumber))
        try FileManager.default.createDirectory(atPath: sideFolder, withIntermediateDirectories: true)
        var done = 0
        var kinds: [Operation.Kind: Int] = [:]
        var script = Script()
        while ops.map({ done < $0 }) ?? true {
            let n = model.lastNumber + 1
            model.lastNumber = n
            let op = (cover ? script.next(model: model, n: n, runner: self, rng: &rng) : nil) ?? choose(model: model, n: n, rng: &rng, store: store)
            try journal.append(JournalEntry(ev: .begin, run: seed, n: n, op: op))
            let outcome: Outcome
            do { outcome = try operations.execute(op) } catch {
                let failure: TortureError
                if let t = error as? TortureError { failure = t } else {
                    failure = .violation("op-failed:\(op.kind.rawValue)", "operation \(n) (\(op.summary)) failed: \(describe(error))")
                }
                var kind: String?
                if case .violation(let k, _) = failure { kind = k }
                try? journal.append(JournalEntry(ev: .fail, run: seed, n: n, op: op, error: describe(error), kind: kind))
                throw failure
            }
            try journal.append(JournalEntry(ev: .ack, run: seed, n: n, op: op, seq: outcome.seq, id: outcome.id))
            try model.apply(op, n: n, certain: true, seq: outcome.seq, id: outcome.id)
            done += 1
            kinds[op.kind, default: 0] += 1
        }
        let elapsed = Date().timeIntervalSince(started)
        let mix = Operation.Kind.allCases.compactMap { k in kinds[k].map { "\($0) \(k.rawValue)" } }.joined(separator: ", ")
        return "mikata-torture run: ok: seed \(seed), \(done) ops acknowledged (\(mix)) in \(String(format: "%.2f", elapsed)) s; store \(created ? "created" : "continued"), "
            + "\(model.livePatients.count) live vaults, \(model.supporters.count) supporters\(resolvedText)"
    }

    /// The next operation: weighted by kind, always valid for the journal's state.
    func choose(model: Model, n: Int, rng: inout SeededGenerator, store: Store) -> Operation {
        let live = model.livePatients
        func pick<T>(_ xs: [T]) -> T { xs[Int(rng.next() % UInt64(xs.count))] }
        func newPatient() -> Operation { newPatientOperation(n: n, rng: &rng) }
        guard !live.isEmpty else { return newPatient() }
        let roll = rng.next() % 100
        func append() -> Operation {
            let p = pick(live)
            let actor: String? = (!p.granted.isEmpty && rng.chance(0.4)) ? pick(p.granted.sorted()) : nil
            return appendOperation(to: p, by: actor, n: n, rng: &rng)
        }
        switch roll {
        case 0..<7:
            return live.count < 5 ? newPatient() : append()
        case 7..<12:
            guard model.supporters.count < 5 else { return append() }
            return newSupporterOperation(n: n, rng: &rng)
        case 12..<55:
            return append()
        case 55..<68:
            let p = pick(live)
            let candidates = model.supporterOrder.filter { !p.granted.contains($0) }
            guard !candidates.isEmpty else { return append() }
            return Operation(kind: .grant, patient: p.email, supporter: pick(candidates))
        case 68..<78:
            let withSupporters = live.filter { !$0.granted.isEmpty }
            guard !withSupporters.isEmpty else { return append() }
            let p = pick(withSupporters)
            return Operation(kind: .revoke, patient: p.email, supporter: pick(p.granted.sorted()), reencrypt: rng.chance(0.4))
        case 78..<87:
            return Operation(kind: .changePassword, patient: pick(live).email, password: "pw-\(n)-\(rng.hex(6))")
        case 87..<90:
            guard live.count >= 2 else { return append() }
            return Operation(kind: .shred, patient: pick(live).email)
        case 90..<96:
            return append()
        default:
            if model.backupKeyFile == nil {
                return Operation(kind: .backupKey, file: "\(sideFolder)/backup-\(n)-\(seed).key")
            }
            return Operation(kind: .backup, file: "\(sideFolder)/backup-\(n)-\(seed).bak")
        }
    }
}

extension Runner {
    func newPatientOperation(n: Int, rng: inout SeededGenerator) -> Operation {
        Operation(kind: .createPatient, patient: "p\(n)-\(seed)@torture.test", password: "pw-\(n)-\(rng.hex(6))", name: "nick\(n)")
    }

    func newSupporterOperation(n: Int, rng: inout SeededGenerator) -> Operation {
        Operation(kind: .createSupporter, supporter: "s\(n)-\(seed)@torture.test", password: "spw-\(n)-\(rng.hex(6))", name: "Supporter \(n)")
    }

    func appendOperation(to p: PatientModel, by actor: String?, n: Int, rng: inout SeededGenerator) -> Operation {
        let size = rng.chance(0.05) ? 2048 + Int(rng.next() % 8192) : 4 + Int(rng.next() % 60)
        let data = "{\"n\":\(n),\"run\":\(seed),\"v\":\"\(rng.hex(size))\"}"
        let types = ["dose", "note", "side-effect", "mood.daily"]
        return Operation(kind: .append, patient: p.email, supporter: actor, type: types[Int(rng.next() % UInt64(types.count))], data: data)
    }
}

/// The `--cover` script: one of every kind of operation, including a re-grant after a re-encrypting revocation
/// (which outgrows 1 KiB header copies, so the whole-file rewrite runs too). A step whose precondition does not hold
/// (on a continued store) falls back to a random operation.
struct Script {
    private var step = 0
    private var first: String?
    private var second: String?
    private var supporter: String?

    mutating func next(model: Model, n: Int, runner: Runner, rng: inout SeededGenerator) -> Operation? {
        defer { step += 1 }
        let a = first.flatMap { model.patients[$0] }.flatMap { $0.shredded ? nil : $0 }
        let b = second.flatMap { model.patients[$0] }.flatMap { $0.shredded ? nil : $0 }
        let s = supporter.flatMap { model.supporters[$0] }
        switch step {
        case 0:
            let op = runner.newPatientOperation(n: n, rng: &rng); first = op.patient; return op
        case 1:
            let op = runner.newSupporterOperation(n: n, rng: &rng); supporter = op.supporter; return op
        case 2, 14:
            return a.map { runner.appendOperation(to: $0, by: nil, n: n, rng: &rng) }
        case 3, 7:
            guard let a, let s, !a.granted.contains(s.email) else { return nil }
            return Operation(kind: .grant, patient: a.email, supporter: s.email)
        case 4:
            guard let a, let s, a.granted.contains(s.email) else { return nil }
            return runner.appendOperation(to: a, by: s.email, n: n, rng: &rng)
        case 5:
            return a.map { Operation(kind: .changePassword, patient: $0.email, password: "pw-\(n)-\(rng.hex(6))") }
        case 6, 8:
            guard let a, let s, a.granted.contains(s.email) else { return nil }
            return Operation(kind: .revoke, patient: a.email, supporter: s.email, reencrypt: step == 6)
        case 9, 10:
            if model.backupKeyFile == nil { return Operation(kind: .backupKey, file: "\(runner.sideFolder)/backup-\(n)-\(runner.seed).key") }
            return Operation(kind: .backup, file: "\(runner.sideFolder)/backup-\(n)-\(runner.seed).bak")
        case 11:
            let op = runner.newPatientOperation(n: n, rng: &rng); second = op.patient; return op
        case 12:
            return b.map { runner.appendOperation(to: $0, by: nil, n: n, rng: &rng) }
        case 13:
            return b.map { Operation(kind: .shred, patient: $0.email) }
        default:
            return nil
        }
    }
}

extension Model {
    func apply(_ op: Operation, n: Int, certain: Bool, seq: UInt64?, id: String?, if applied: Bool) throws {
        if applied { try apply(op, n: n, certain: certain, seq: seq, id: id) }
    }
}
