import Foundation
import MikataCrypto
import MikataFormat
import MikataVault

func secret(_ s: String) -> SecureBytes { SecureBytes(copying: Array(s.utf8)) }

/// What an operation returned.
struct Outcome {
    var seq: UInt64?
    var id: String?
}

/// How an interrupted operation ended, as the store shows it.
struct Resolution {
    var applied: Bool
    var seq: UInt64?
    var id: String?
    /// A shred whose intent is written but which has not finished: the vault refuses to open until it is run again.
    var shredInProgress = false
}

/// The driver's view of a store: the library calls each operation makes, and the probes that tell whether an
/// interrupted operation took effect.
struct StoreOperations {
    let store: Store
    let model: Model

    static let shredRequest = ShredRequest(reason: "torture test", requestedBy: "torture", reference: "torture",
                                           executedBy: "torture", approvedBy: "torture-approver")

    /// Unlocks as the patient or as the journal's supporter.
    func session(_ vault: Vault, actor supporterEmail: String?, patient: PatientModel) throws -> VaultSession {
        if let s = supporterEmail, let sup = model.supporters[s] {
            return try vault.unlock(supporter: try store.unlockSupporter(email: s, password: secret(sup.password)))
        }
        return try vault.unlock(password: secret(patient.password))
    }

    func execute(_ op: Operation) throws -> Outcome {
        switch op.kind {
        case .createPatient:
            let (id, _) = try store.createPatient(email: op.patient!, nickname: op.name!, password: secret(op.password!))
            return Outcome(id: id.hex)
        case .createSupporter:
            let keys = try store.createSupporter(email: op.supporter!, name: op.name!, password: secret(op.password!))
            return Outcome(id: keys.id.hex)
        case .append:
            let p = model.patients[op.patient!]!
            let vault = try store.openVault(email: p.email)
            let s = try session(vault, actor: op.supporter, patient: p)
            let seq = try vault.append(type: op.type!, data: Array(op.data!.utf8), session: s)
            return Outcome(seq: seq)
        case .grant:
            let p = model.patients[op.patient!]!
            let vault = try store.openVault(email: p.email)
            let keys = try store.supporterPublicKeys(email: op.supporter!)
            let s = try vault.unlock(password: secret(p.password))
            guard try vault.grant(keys, session: s) else {
                throw TortureError.violation("model-diverged", "grant of \(op.supporter!) on \(p.email): the vault says the supporter was linked already")
            }
            try store.recordLink(supporterId: keys.id, vaultId: vault.vaultId)
            return Outcome()
        case .revoke:
            let p = model.patients[op.patient!]!
            let vault = try store.openVault(email: p.email)
            let id = try store.supporterId(email: op.supporter!)
            let s = try vault.unlock(password: secret(p.password))
            try vault.revoke(id, reencrypt: op.reencrypt ?? false, session: s)
            try store.removeLink(supporterId: id, vaultId: vault.vaultId)
            return Outcome()
        case .changePassword:
            let p = model.patients[op.patient!]!
            let vault = try store.openVault(email: p.email)
            let s = try vault.unlock(password: secret(p.password))
            try vault.changePassword(to: secret(op.password!), kdf: .minimumForTesting, session: s)
            return Outcome()
        case .shred:
            let outcome = try store.shred(email: op.patient!, request: StoreOperations.shredRequest)
            guard !outcome.alreadyShredded else {
                throw TortureError.violation("model-diverged", "shred of \(op.patient!): the store says it was shredded earlier")
            }
            return Outcome()
        case .backupKey:
            _ = try Backup.createKey(store: store, secretKeyOut: op.file!)
            return Outcome()
        case .backup:
            _ = try Backup.create(store: store, out: op.file!)
            return Outcome()
        }
    }

    var backupPublicKeyPath: String { "\(store.root)/keys/backup.pub" }

    /// Whether an operation that was in flight when the process died took effect. Throws `.violation` when the
    /// store is in neither the state before nor the state after it (a half-state).
    func probe(_ op: Operation, n: Int) throws -> Resolution {
        let what = "in-flight operation \(n) (\(op.summary))"
        switch op.kind {
        case .createPatient:
            guard let id = try? store.vaultId(email: op.patient!) else { return Resolution(applied: false) }
            do {
                let vault = try store.openVault(id: id)
                _ = try vault.unlock(password: secret(op.password!))
            } catch {
                throw TortureError.violation("half-created-vault", "\(what): the e-mail lookup exists but the vault does not open with its password: \(describe(error))")
            }
            return Resolution(applied: true, id: id.hex)
        case .createSupporter:
            guard let id = try? store.supporterId(email: op.supporter!) else { return Resolution(applied: false) }
            do { _ = try store.unlockSupporter(email: op.supporter!, password: secret(op.password!)) } catch {
                throw TortureError.violation("half-created-supporter", "\(what): the e-mail lookup exists but the account does not open: \(describe(error))")
            }
            return Resolution(applied: true, id: id.hex)
        case .append:
            let p = model.patients[op.patient!]!
            let records: [Record]
            do {
                let vault = try store.openVault(email: p.email)
                records = try vault.records(try vault.unlock(password: secret(p.password)))
            } catch {
                throw TortureError.violation("vault-unreadable", "\(what): the vault does not open: \(describe(error))")
            }
            let expected = p.records.count
            if records.count == expected { return Resolution(applied: false) }
            if records.count == expected + 1, let last = records.last {
                let author = try op.supporter.map { s -> String in
                    guard let sup = model.supporters[s] else { throw TortureError.journal("unknown supporter \(s)") }
                    return "supporter:\(sup.id)"
                } ?? "patient"
                guard last.type == op.type, last.data == Array((op.data ?? "").utf8), last.author.description == author else {
                    throw TortureError.violation("record-mismatch", "\(what): record \(last.seq) is not the record being appended")
                }
                return Resolution(applied: true, seq: last.seq)
            }
            throw TortureError.violation(records.count < expected ? "lost-record" : "extra-record",
                                         "\(what): the vault holds \(records.count) records where the journal allows \(expected) or \(expected + 1)")
        case .grant, .revoke:
            let p = model.patients[op.patient!]!
            let linked = try supporterCanUnlock(patient: p, supporter: op.supporter!, context: what)
            return Resolution(applied: op.kind == .grant ? linked : !linked)
        case .changePassword:
            let p = model.patients[op.patient!]!
            let vault: Vault
            do { vault = try store.openVault(email: p.email) } catch {
                throw TortureError.violation("vault-unreadable", "\(what): the vault does not open: \(describe(error))")
            }
            let newWorks = opens(vault, op.password!), oldWorks = opens(vault, p.password)
            if newWorks && oldWorks { throw TortureError.violation("old-password-works", "\(what): both the old and the new password open the vault") }
            if !newWorks && !oldWorks { throw TortureError.violation("no-password-works", "\(what): neither the old nor the new password opens the vault") }
            return Resolution(applied: newWorks)
        case .shred:
            let p = model.patients[op.patient!]!
            guard let id = [UInt8](hex: p.vaultId) else { throw TortureError.journal("bad vault id \(p.vaultId)") }
            if store.isShredPending(id) { return Resolution(applied: false, shredInProgress: true) }
            if (try? store.vaultId(email: p.email)) != nil { return Resolution(applied: false) }
            return Resolution(applied: true)
        case .backupKey:
            guard FileManager.default.fileExists(atPath: backupPublicKeyPath) else { return Resolution(applied: false) }
            do { _ = try Backup.readSecretKey(path: op.file!) } catch {
                throw TortureError.violation("half-created-backup-key", "\(what): keys/backup.pub exists but the secret key file does not read: \(describe(error))")
            }
            return Resolution(applied: true)
        case .backup:
            return Resolution(applied: FileManager.default.fileExists(atPath: op.file!))
        }
    }

    func opens(_ vault: Vault, _ password: String) -> Bool {
        (try? vault.unlock(password: secret(password))) != nil
    }

    /// Whether a supporter holds a key share of the patient's vault; anything but "not linked" is a violation.
    func supporterCanUnlock(patient p: PatientModel, supporter email: String, context: String) throws -> Bool {
        guard let sup = model.supporters[email] else { throw TortureError.journal("unknown supporter \(email)") }
        let identity: SupporterIdentity
        do { identity = try store.unlockSupporter(email: email, password: secret(sup.password)) } catch {
            throw TortureError.violation("supporter-unreadable", "\(context): the supporter's account does not open: \(describe(error))")
        }
        let vault: Vault
        do { vault = try store.openVault(email: p.email) } catch {
            throw TortureError.violation("vault-unreadable", "\(context): the vault does not open: \(describe(error))")
        }
        do {
            _ = try vault.unlock(supporter: identity)
            return true
        } catch VaultError.notPermitted {
            return false
        } catch {
            throw TortureError.violation("supporter-half-state", "\(context): the supporter's unlock fails with neither success nor 'not linked': \(describe(error))")
        }
    }
}

func describe(_ error: any Error) -> String {
    if let e = error as? VaultError { return "\(e.failureClass): \(e.description)" }
    return "\(error)"
}
