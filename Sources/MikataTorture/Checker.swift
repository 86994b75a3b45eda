import Foundation
#if canImport(Glibc)
import Glibc
#endif
import MikataCrypto
import MikataFormat
import MikataVault

/// `mikata-torture check`: the store must hold everything the journal says was acknowledged, in a state every
/// reader accepts, with no half-done operation visible.
struct Checker {
    let storePath: String
    let journalPath: String

    struct Violation {
        /// A short, stable name of the kind of problem (tests match on it).
        var kind: String
        var message: String
    }

    private(set) var violations: [Violation] = []
    private var stats: [String: Int] = [:]
    /// Vault folders (vaults/<ab>) in which a vault was opened: opening collects their stale temporaries.
    private var openedShards: Set<String> = []

    init(storePath: String, journalPath: String) {
        self.storePath = storePath; self.journalPath = journalPath
    }

    mutating func fail(_ kind: String, _ message: String) { violations.append(Violation(kind: kind, message: message)) }

    mutating func count(_ what: String, _ n: Int = 1) { stats[what, default: 0] += n }

    /// Runs every check; returns the summary line. `violations` lists what failed.
    mutating func check() throws -> String {
        let started = Date()
        let model = try Model(entries: try Journal.read(journalPath))
        for f in model.failures {
            fail(f.kind ?? "run-failed", "run \(f.run) stopped on a failed operation\(f.n.map { " \($0)" } ?? ""): \(f.error ?? "?")")
        }
        guard FileManager.default.fileExists(atPath: "\(storePath)/\(Store.metadataFile)") else {
            if model.runs > 0 { fail("store-missing", "the journal records \(model.runs) runs but \(storePath) is not a store") }
            return "no store yet (the first run was killed during initialisation); journal: \(model.runs) runs"
        }
        let store: Store
        do { store = try Store.open(at: storePath) } catch {
            fail("store-unreadable", "the store does not open: \(describe(error))")
            return "store does not open"
        }
        store.kdf = .minimumForTesting
        let operations = StoreOperations(store: store, model: model)

        // The operation in flight at kill time: either outcome is fine, a half-state is not.
        var inFlight = "none"
        var shredInProgress: String?
        if let (n, op) = model.unresolved {
            do {
                let r = try operations.probe(op, n: n)
                try model.apply(op, n: n, certain: false, seq: r.seq, id: r.id, if: r.applied)
                if r.shredInProgress { shredInProgress = op.patient }
                inFlight = "op \(n) \(op.kind.rawValue) \(r.shredInProgress ? "interrupted mid-shred" : r.applied ? "applied" : "not applied")"
            } catch let TortureError.violation(kind, message) {
                fail(kind, message)
                inFlight = "op \(n) \(op.kind.rawValue) in a half-state"
                // Keep checking the rest; this vault's checks below will report what they see.
            }
        }

        var identities: [String: SupporterIdentity] = [:]
        for email in model.supporterOrder {
            guard let s = model.supporters[email] else { continue }
            do {
                identities[email] = try store.unlockSupporter(email: email, password: secret(s.password))
                count("supporters")
            } catch { fail("supporter-unreadable", "supporter \(email) (created, journaled) does not open: \(describe(error))") }
        }

        for email in model.patientOrder {
            guard let p = model.patients[email] else { continue }
            if p.shredded {
                checkShredded(p, store: store)
            } else if shredInProgress == email {
                if let v = try? store.openVault(email: email) {
                    fail("shred-half-state", "\(email): a shred is in progress (intent written) but the vault \(v.vaultId.hex) still opens")
                }
                count("vaults mid-shred")
            } else {
                checkLive(p, store: store, identities: identities, operations: operations)
            }
        }
        checkBackups(model)
        checkAudit(model, store: store)
        checkTemporaries(store)

        let elapsed = Date().timeIntervalSince(started)
        let figures = "\(model.runs) runs, \(model.lastNumber) ops journaled (\(model.acknowledged) acknowledged, "
            + "\(model.resolvedApplied) interrupted and applied, \(model.resolvedNotApplied) interrupted and not applied); "
            + "\(stats["vaults", default: 0]) vaults, \(stats["records", default: 0]) records, "
            + "\(stats["shredded", default: 0]) shredded, \(stats["supporter checks", default: 0]) supporter checks, "
            + "\(stats["backups", default: 0]) backups, \(stats["audit entries", default: 0]) log entries; in flight: \(inFlight); "
            + "\(String(format: "%.2f", elapsed)) s"
        return figures
    }

    // MARK: vaults

    mutating func checkLive(_ p: PatientModel, store: Store, identities: [String: SupporterIdentity], operations: StoreOperations) {
        let vault: Vault
        do { vault = try store.openVault(email: p.email) } catch {
            fail("vault-unreadable", "\(p.email) (vault \(p.vaultId)): does not open: \(describe(error))")
            return
        }
        count("vaults")
        openedShards.insert(String(p.vaultId.prefix(2)))
        guard vault.vaultId.hex == p.vaultId else {
            fail("wrong-vault", "\(p.email): the lookup names vault \(vault.vaultId.hex), the journal \(p.vaultId)")
            return
        }
        let session: VaultSession
        do { session = try vault.unlock(password: secret(p.password)) } catch {
            let oldWorks = p.oldPasswords.contains { operations.opens(vault, $0) }
            fail(oldWorks ? "password-change-lost" : "password-fails",
                 "\(p.email): the current password does not open the vault (\(describe(error)))\(oldWorks ? "; an old password still does" : "")")
            return
        }
        for (i, old) in p.oldPasswords.suffix(3).enumerated() where old != p.password {
            do {
                _ = try vault.unlock(password: secret(old))
                fail("old-password-works", "\(p.email): a password replaced by an acknowledged change (\(p.oldPasswords.count - min(3, p.oldPasswords.count) + i + 1) of \(p.oldPasswords.count)) still opens the vault")
            } catch VaultError.authenticationFailed {
            } catch { fail("old-password-check", "\(p.email): an old password fails with \(describe(error)), not 'wrong password'") }
        }
        let records: [Record]
        do { records = try vault.records(session) } catch {
            fail("vault-unreadable", "\(p.email): the records do not read: \(describe(error))")
            return
        }
        count("records", records.count)
        compare(records, p.records, who: "\(p.email)")
        do { _ = try vault.verify(session) } catch {
            let text = describe(error)
            fail(text.contains("the two header copies differ") ? "header-copies-differ" : "verify-fails", "\(p.email): vault.verify: \(text)")
        }
        if let epochs = p.expectedEpochs {
            if let info = try? vault.inspect(), info.epochs.count != epochs {
                fail("reencrypt-half-state", "\(p.email): the header holds \(info.epochs.count) key epochs where the journal expects \(epochs) (an acknowledged re-encryption did not drop the old ones?)")
            }
        }
        // Supporters: every granted one reads everything; every revoked one is shut out.
        for email in p.everGranted.sorted() {
            guard let identity = identities[email], let sup = operations.model.supporters[email] else { continue }
            count("supporter checks")
            let linkPath = "\(storePath)/links/\(sup.id)/\(p.vaultId)"
            let link = p.links[email] ?? .unknown
            if link == .present && !FileManager.default.fileExists(atPath: linkPath) {
                fail("link-missing", "\(p.email): the acknowledged grant of \(email) left no links/ entry")
            }
            if link == .absent && FileManager.default.fileExists(atPath: linkPath) {
                fail("link-remains", "\(p.email): the acknowledged revocation of \(email) left its links/ entry")
            }
            if p.granted.contains(email) {
                do {
                    let s = try vault.unlock(supporter: identity)
                    let seen = try vault.records(s)
                    compare(seen, p.records, who: "\(p.email) as supporter \(email)")
                } catch {
                    fail("granted-supporter-cannot-read", "\(p.email): supporter \(email), granted (acknowledged), cannot read: \(describe(error))")
                }
            } else {
                do {
                    _ = try vault.unlock(supporter: identity)
                    fail("revoked-supporter-can-unlock", "\(p.email): supporter \(email), revoked (acknowledged), still unlocks the vault")
                } catch VaultError.notPermitted {
                } catch { fail("revoked-supporter-check", "\(p.email): revoked supporter \(email) fails with \(describe(error)), not 'not linked'") }
            }
        }
    }

    mutating func compare(_ records: [Record], _ expected: [ExpectedRecord], who: String) {
        for (i, e) in expected.enumerated() {
            guard i < records.count else {
                fail("lost-record", "\(who): records \(records.count)…\(expected.count - 1) are missing (\(expected.count - records.count) acknowledged records lost)")
                return
            }
            let r = records[i]
            if r.seq != e.seq || r.type != e.type || r.data != e.data || r.author.description != e.author {
                fail("record-mismatch", "\(who): record \(i) is seq \(r.seq) \(r.type) by \(r.author), expected seq \(e.seq) \(e.type) by \(e.author)\(r.data != e.data ? " (content differs)" : "")")
                return
            }
        }
        if records.count > expected.count {
            fail("extra-record", "\(who): \(records.count - expected.count) records the journal never began (seq \(expected.count)…)")
        }
    }

    mutating func checkShredded(_ p: PatientModel, store: Store) {
        count("shredded")
        let id = p.vaultId, shard = String(p.vaultId.prefix(2))
        if (try? store.vaultId(email: p.email)) != nil { fail("shred-lookup-remains", "\(p.email): shredded (acknowledged) but its e-mail lookup remains") }
        for (what, path) in [("vault file", "vaults/\(shard)/\(id).vault"), ("erasure secret", "keys/vaults/\(shard)/\(id).key"),
                             ("generation record", "keys/vaults/\(shard)/\(id).gen"), ("shred intent", "shred/\(id).intent")]
        where FileManager.default.fileExists(atPath: "\(storePath)/\(path)") {
            fail("shred-incomplete", "\(p.email): shredded (acknowledged) but its \(what) remains (\(path))")
        }
        if !FileManager.default.fileExists(atPath: "\(storePath)/tombstones/\(id)") {
            fail("shred-no-tombstone", "\(p.email): shredded (acknowledged) but tombstones/\(id) is missing")
        }
        if let bytes = [UInt8](hex: id), (try? store.openVault(id: bytes)) != nil {
            fail("shredded-vault-opens", "\(p.email): shredded (acknowledged) but vault \(id) still opens")
        }
    }

    // MARK: backups, access log, temporaries

    mutating func checkBackups(_ model: Model) {
        guard !model.backups.isEmpty else { return }
        guard let keyFile = model.backupKeyFile, let key = try? Backup.readSecretKey(path: keyFile) else {
            fail("backup-key-missing", "the journal lists backups but the secret backup key file does not read")
            return
        }
        for file in model.backups {
            count("backups")
            do { _ = try Backup.verify(path: file, backupKey: key) } catch {
                fail("backup-invalid", "backup \((file as NSString).lastPathComponent) (acknowledged) does not verify: \(describe(error))")
            }
        }
    }

    mutating func checkAudit(_ model: Model, store: Store) {
        let entries: [AuditLog.Entry]
        do {
            let log = try store.auditLog()
            _ = try log.verify()
            entries = try log.entries()
        } catch {
            fail("audit-broken", "store.auditLog().verify(): \(describe(error))")
            return
        }
        count("audit entries", entries.count)
        let ok = entries.filter { $0.outcome == "ok" }
        var byVault: [String: [AuditLog.Entry]] = [:]
        for e in ok { byVault[e.vault, default: []].append(e) }
        for email in model.patientOrder {
            guard let p = model.patients[email] else { continue }
            let mine = byVault[p.vaultId] ?? []
            for (action, bounds) in p.audit.sorted(by: { $0.key < $1.key }) {
                let n = mine.filter { $0.action == action }.count
                if !bounds.allows(n) {
                    fail(n < bounds.low ? "audit-missing" : "audit-claims",
                         "\(email): the log has \(n) '\(action) ok' entries where the journal allows \(bounds.text)")
                }
            }
            var seen: [UInt64: Int] = [:]
            for e in mine where e.action == "append" {
                // "seq N link L generation G": the sequence number is the word after "seq".
                let words = e.detail.split(separator: " ")
                if let i = words.firstIndex(of: "seq"), i + 1 < words.count, let s = UInt64(words[i + 1]) { seen[s, default: 0] += 1 }
            }
            for (seq, times) in seen.sorted(by: { $0.key < $1.key }) {
                if times > 1 { fail("audit-claims", "\(email): the log claims \(times) appends of seq \(seq)") }
                if !p.possibleAppendSeqs.contains(seq) { fail("audit-claims", "\(email): the log claims an append of seq \(seq), which the vault does not hold") }
            }
            for seq in p.ackedAppendSeqs.sorted() where seen[seq] == nil {
                fail("audit-missing", "\(email): the acknowledged append of seq \(seq) is not in the log")
            }
        }
        for email in model.supporterOrder {
            guard let s = model.supporters[email] else { continue }
            let n = ok.filter { $0.action == "create-supporter" && $0.actor == "supporter:\(s.id)" }.count
            if !s.audit.allows(n) { fail(n < s.audit.low ? "audit-missing" : "audit-claims", "supporter \(email): \(n) 'create-supporter ok' entries, journal allows \(s.audit.text)") }
        }
        for (action, bounds) in model.globalAudit.sorted(by: { $0.key < $1.key }) {
            let n = ok.filter { $0.action == action }.count
            if !bounds.allows(n) { fail(n < bounds.low ? "audit-missing" : "audit-claims", "the log has \(n) '\(action) ok' entries where the journal allows \(bounds.text)") }
        }
    }

    /// After every vault was opened (which collects the stale temporaries in its two shards, vaults/<ab> and
    /// keys/vaults/<ab>), none may be left there; the rest wait for the maintenance sweep (`mikata init` on the store,
    /// `Store.removeStaleTemporaries`), after which none may be left anywhere.
    mutating func checkTemporaries(_ store: Store) {
        func temporaries() -> [String] {
            guard let walker = FileManager.default.enumerator(atPath: storePath) else { return [] }
            var found: [String] = []
            while let relative = walker.nextObject() as? String {
                if (relative as NSString).lastPathComponent.hasPrefix(".tmp-") { found.append(relative) }
            }
            return found.sorted()
        }
        for t in temporaries() {
            let folder = (t as NSString).deletingLastPathComponent
            if folder.hasPrefix("vaults/") || folder.hasPrefix("keys/vaults/"), openedShards.contains((folder as NSString).lastPathComponent) {
                fail("stale-temporary-after-open", "a stale temporary survives the opening of a vault in its folder: \(t)")
            }
        }
        store.removeStaleTemporaries()
        for t in temporaries() {
            fail("stale-temporary", "a stale temporary survives the maintenance sweep: \(t)")
        }
    }
}
