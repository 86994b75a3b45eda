import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import MikataCrypto
import MikataFormat
import MikataVault

struct ShredCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shred",
        abstract: "Destroy a patient's vault on a health centre's request and issue a signed deletion certificate.",
        discussion: "Crypto-erases the vault (its erasure secret is overwritten and removed), overwrites and removes the vault file, removes the e-mail lookup, verifies, and prints the certificate. Interrupted shreds complete when run again; an already shredded patient gets the earlier certificate.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var account: EmailOptions
    @Option(help: "Why (e.g. 'patient deceased').") var reason: String?
    @Option(help: "Read the reason from the first line of this file (- for standard input).") var reasonFile: String?
    @Option(help: "The requesting organisation (e.g. the health centre).") var requestedBy: String?
    @Option(help: "Read the requesting organisation from the first line of this file (- for standard input).") var requestedByFile: String?
    @Option(help: "The request's reference number.") var requestRef: String?
    @Option(help: "Read the request's reference number from the first line of this file (- for standard input).") var requestRefFile: String?
    @Option(name: .customLong("operator"), help: "Who executes the shred (operator id).") var operatorId: String
    @Option(help: "Who approved it (operator id).") var approver: String?
    @Option(help: "Write the certificate to this file (default: stdout).") var out: String?

    func run() throws {
        let email = try account.resolve()
        let store = try global.openStore()
        let reason = try PersonalInput.required(reason, file: reasonFile, option: "reason")
        let requestedBy = try PersonalInput.required(requestedBy, file: requestedByFile, option: "requested-by")
        let requestRef = try PersonalInput.required(requestRef, file: requestRefFile, option: "request-ref")
        let outcome = try store.shred(email: email, request: ShredRequest(reason: reason, requestedBy: requestedBy, reference: requestRef,
                                                                          executedBy: operatorId, approvedBy: approver))
        try writeCertificate(outcome, out: out, json: global.json)
    }
}

func writeCertificate(_ outcome: ShredOutcome, out: String?, json: Bool) throws {
    if let out {
        // A shred run again prints the same certificate: the same bytes already at --out are not an error.
        do { try OutputFile.write(outcome.certificate + [10], to: out, identicalIsDone: true) } catch let e as VaultError {
            throw CLIError.io("the shred is complete and its certificate is kept in the store (certificates/\(outcome.certificateId).json), but --out could not be written: \(e.description); run the same command again to print it")
        }
        try emit(json: json, ["certificateId": outcome.certificateId, "vaultId": outcome.vaultId, "alreadyShredded": outcome.alreadyShredded, "certificate": out]) {
            (outcome.alreadyShredded ? "already shredded earlier; " : "shredded vault \(outcome.vaultId); ") + "certificate \(outcome.certificateId) written to \(out)"
        }
    } else {
        try StandardOutput.write(outcome.certificate + [10])
    }
}

extension PatientCommand {
    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The patient deletes their own vault (patient's password); prints a deletion certificate.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var account: EmailOptions
        @Option(help: "Write the certificate to this file (default: stdout).") var out: String?
        @OptionGroup var password: PasswordOptions

        func run() throws {
            let email = try account.resolve()
            let store = try global.openStore()
            let request = ShredRequest(reason: "deletion requested by the patient", requestedBy: "patient",
                                       reference: "self-service", executedBy: "patient", approvedBy: nil)
            // An interrupted deletion (already authorised by the password when it started) is completed as it is.
            if let id = try? store.vaultId(email: email), store.isShredPending(id) {
                try writeCertificate(try store.shred(email: email, request: request), out: out, json: global.json)
                return
            }
            _ = try store.unlockPatient(email: email, password: try password.read())  // only the patient may delete their data
            try writeCertificate(try store.shred(email: email, request: request), out: out, json: global.json)
        }
    }
}

extension SupporterCommand {
    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The supporter deletes their own registration and keys (supporter's password).")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var account: EmailOptions
        @OptionGroup var password: PasswordOptions

        func run() throws {
            let email = try account.resolve()
            let store = try global.openStore()
            let id = try store.deleteSupporter(email: email, password: try password.read())
            try emit(json: global.json, ["supporterId": id.hex, "deleted": true]) {
                "deleted supporter \(id.hex); their key shares are dropped at each patient's next write"
            }
        }
    }
}

struct CertificateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "certificate", abstract: "Deletion certificates.", subcommands: [Verify.self])

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Verify a deletion certificate offline: exit 0 if valid, 65 if not.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The certificate file.") var file: String
        @Option(help: "The issuing store's public key (hex, as 'mikata store public-key' prints it) or a file holding it.") var publicKey: String?

        func run() throws {
            guard let bytes = PathBytes.contents(ofFile: file) else { throw CLIError.notFound("cannot read the certificate file") }
            let key = try publicKey.map(parsePublicKey)
            var raw = Array(bytes)
            while let last = raw.last, last == 10 || last == 13 || last == 32 { raw.removeLast() }
            let v = try DeletionCertificate.verify(raw, publicKey: key)
            try emit(json: global.json, ["valid": true, "certificateId": v.certificateId, "vaultId": v.vaultId, "issuedAt": v.issuedAt,
                                         "signingKeyId": v.signingKeyId, "checkedAgainstGivenKey": v.checkedAgainstGivenKey]) {
                "valid: certificate \(v.certificateId) for vault \(v.vaultId), issued \(v.issuedAt) by key \(v.signingKeyId)"
                    + (v.checkedAgainstGivenKey ? "" : "\n(checked against the key inside the certificate; pass --public-key to check who issued it)")
            }
        }
    }
}

struct StoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "store", abstract: "The store itself.", subcommands: [PublicKey.self])

    struct PublicKey: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "public-key", abstract: "Print the store's Ed25519 public key, which operators publish to verify certificates.")
        @OptionGroup var global: GlobalOptions

        func run() throws {
            let key = try global.openStore().signingKey()
            try emit(json: global.json, ["publicKey": key.publicKey.hex, "keyId": Store.keyId(key.publicKey), "algorithm": "Ed25519"]) { key.publicKey.hex }
        }
    }
}

struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "audit", abstract: "The tamper-evident access log.",
                                                    subcommands: [Verify.self, Prune.self, Show.self, Mine.self, Checkpoint.self])

    static func rows(_ entries: [AuditLog.Entry]) -> [[String: Any]] {
        entries.map { ["seq": $0.seq, "time": $0.time, "vaultId": $0.vault, "actor": $0.actor, "role": $0.role, "action": $0.action,
                       "outcome": $0.outcome, "detail": $0.detail] }
    }

    static func text(_ entries: [AuditLog.Entry]) -> String {
        entries.map { "\($0.seq)\t\($0.time)\t\($0.vault.isEmpty ? "-" : $0.vault)\t\($0.actor)\t\($0.action)\t\($0.outcome)\($0.detail.isEmpty ? "" : "\t\($0.detail)")" }
            .joined(separator: "\n")
    }

    static func parseSince(_ s: String) throws -> Date {
        if s.hasSuffix("d"), let days = Double(s.dropLast()) { return Date().addingTimeInterval(-days * 86400) }
        let f = ISO8601DateFormatter()
        if let d = f.date(from: s) { return d }
        f.formatOptions = [.withFullDate]
        if let d = f.date(from: s) { return d }
        throw CLIError.usage("--since takes an ISO 8601 date or time (2026-11-01, 2026-11-01T09:00:00Z) or a number of days like 7d")
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check the whole chain and every signed checkpoint; exit 65 naming the first bad line.")
        @OptionGroup var global: GlobalOptions

        func run() throws {
            let r = try global.openStore().verifyAccessLog()
            try emit(json: global.json, ["ok": true, "entries": r.entries, "checkpoints": r.checkpoints, "firstSeq": r.firstSeq as Any? ?? NSNull(),
                                         "lastSeq": r.lastSeq as Any? ?? NSNull(), "lastCheckpointSeq": r.lastCheckpointSeq as Any? ?? NSNull()]) {
                "ok: \(r.entries) entries (\(r.firstSeq.map(String.init) ?? "-")…\(r.lastSeq.map(String.init) ?? "-")), \(r.checkpoints) signed checkpoints"
                    + (r.prunedBefore.map { "; entries before \($0) pruned under a signed anchor" } ?? "")
            }
        }
    }

    struct Prune: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Drop entries older than the retention period; the rest still verifies.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Keep this many days (at least \(AuditLog.minimumRetentionDays) unless overridden).") var retentionDays: Int = AuditLog.defaultRetentionDays
        @Option(help: ArgumentHelp("Allow a retention under \(AuditLog.minimumRetentionDays) days, for this reason (logged before the prune).", valueName: "reason"))
        var allowShortRetention: String?

        func run() throws {
            let dropped = try global.openStore().auditLog().prune(retentionDays: retentionDays, actor: "operator", shortRetentionReason: allowShortRetention)
            try emit(json: global.json, ["dropped": dropped, "retentionDays": retentionDays]) { "dropped \(dropped) entries older than \(retentionDays) days" }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show log entries (operators, for investigations).")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var account: EmailOptions
        @Option(help: "Only entries at or after this time (ISO 8601, or e.g. 7d).") var since: String?

        func run() throws {
            let store = try global.openStore()
            var entries = try store.auditLog().entries()
            if let email = try account.resolveIfGiven() { let id = try store.vaultId(email: email).hex; entries = entries.filter { $0.vault == id } }
            if let since {
                let cutoff = try AuditCommand.parseSince(since)
                entries = entries.filter { (AuditLog.parseTime($0.time) ?? .distantPast) >= cutoff }
            }
            try emit(json: global.json, ["entries": AuditCommand.rows(entries)]) { AuditCommand.text(entries) }
        }
    }

    struct Mine: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A patient sees who accessed their vault, when, and what they did (patient's password).")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var account: EmailOptions
        @OptionGroup var password: PasswordOptions

        func run() throws {
            let email = try account.resolve()
            let store = try global.openStore()
            let (vault, session) = try store.unlockPatient(email: email, password: try password.read())
            // Supporters named by the contact records sealed in the vault at grant time, where there is one.
            let named = try store.patientAccessLog(vault: vault, session: session)
            let rows = zip(AuditCommand.rows(named.map(\.entry)), named).map { row, n in
                row.merging(["actorName": n.actorName, "detailNamed": n.detail]) { a, _ in a }
            }
            try emit(json: global.json, ["entries": rows]) {
                named.map { n in
                    let e = n.entry
                    return "\(e.seq)\t\(e.time)\t\(e.vault)\t\(n.actorName)\t\(e.action)\t\(e.outcome)\(n.detail.isEmpty ? "" : "\t\(n.detail)")"
                }.joined(separator: "\n")
            }
        }
    }

    struct Checkpoint: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Append a signed checkpoint of the current head and print it, to publish elsewhere.")
        @OptionGroup var global: GlobalOptions

        func run() throws {
            try StandardOutput.line(try global.openStore().auditLog().checkpoint())
        }
    }
}

struct BackupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "backup", abstract: "Backups that never resurrect shredded patients or revoked supporters.",
                                                    subcommands: [Key.self, Create.self, Verify.self, Restore.self])

    struct Key: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Backup keys, one per period.", subcommands: [CreateKey.self, DestroyKey.self])
        struct CreateKey: ParsableCommand {
            static let configuration = CommandConfiguration(commandName: "create", abstract: "Create the next period's backup key: the secret goes to --out (keep it offline) with the store's public key and the key's expiry; the public half stays in the store.")
            @OptionGroup var global: GlobalOptions
            @Option(help: "Where to write the secret backup key (a new file).") var out: String
            @Option(help: ArgumentHelp("When the key expires and backups sealed to it can no longer be restored (ISO 8601 date, midnight UTC, or time); more than 30 days away (default: 60 days from now).", valueName: "date"))
            var validUntil: String?

            func run() throws {
                let until = try validUntil.map(parseDate)
                let id = try Backup.createKey(store: try global.openStore(), secretKeyOut: out, validUntil: until)
                let key = try Backup.readSecretKey(path: out)
                let expiry = key.validUntil.map { ISO8601DateFormatter().string(from: $0) } ?? ""
                try emit(json: global.json, ["backupKeyId": id, "secretKeyFile": out, "validUntil": expiry]) {
                    "backup key \(id) created, valid until \(expiry); keep \(out) offline: restores need it, and it pins the store's key"
                }
            }
        }

        struct DestroyKey: ParsableCommand {
            static let configuration = CommandConfiguration(commandName: "destroy", abstract: "Destroy a backup key at the end of its period: its secret half is overwritten in place, so backups sealed to it can no longer be restored. Destroy every offline copy too.")
            @OptionGroup var global: GlobalOptions
            @Option(help: "The secret backup key file to destroy.") var backupKeyFile: String

            func run() throws {
                let id = try Backup.destroyKey(path: backupKeyFile, store: try? global.openStore())
                try emit(json: global.json, ["backupKeyId": id ?? NSNull(), "destroyed": true, "alreadyDestroyed": id == nil]) {
                    id.map { "backup key \($0) destroyed in \(backupKeyFile); destroy every other copy of it as well" } ?? "that backup key was destroyed already"
                }
            }
        }
    }

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write a consistent backup while writers keep going, sealed to the current period's backup key.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "The backup file to write (must not exist).") var out: String

        func run() throws {
            let s = try Backup.create(store: try global.openStore(), out: out)
            try emit(json: global.json, ["file": out, "vaults": s.vaults, "files": s.files, "bytes": s.bytes, "createdAt": s.createdAt, "backupKeyId": s.backupKeyId,
                                         "expiresAt": s.expiresAt ?? NSNull()]) {
                "backup \(out): \(s.vaults) vaults, \(s.files) files, \(s.bytes) bytes, secrets sealed to backup key \(s.backupKeyId)"
                    + (s.expiresAt.map { ", restorable until \($0)" } ?? "")
            }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check a backup's integrity and that the pinned store key signed it (and, with the key, that every secret opens).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The backup file.") var file: String
        @Option(help: "The secret backup key file (it also pins the store's public key).") var backupKeyFile: String?
        @Option(help: "The store's public key (hex or a file) the backup must be signed with; needed without --backup-key-file.") var publicKey: String?

        func run() throws {
            let key = try backupKeyFile.map { try Backup.readSecretKey(path: $0) }
            let s = try Backup.verify(path: file, backupKey: key, publicKey: try publicKey.map(parsePublicKey))
            try emit(json: global.json, ["ok": true, "vaults": s.vaults, "files": s.files, "createdAt": s.createdAt, "storeId": s.storeId, "secretsChecked": key != nil,
                                         "expiresAt": s.expiresAt ?? NSNull()]) {
                "ok: backup of store \(s.storeId) from \(s.createdAt), \(s.vaults) vaults, \(s.files) files, signed by the pinned store key"
                    + (s.expiresAt.map { ", restorable until \($0)" } ?? "")
                    + (key == nil ? " (pass --backup-key-file to check the secrets too)" : "")
            }
        }
    }

    struct Restore: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Restore a backup into a new store directory (--store NEWDIR), skipping every shredded vault and holding every later revocation.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The backup file.") var file: String
        @Option(help: "The secret backup key file (it also pins the store's public key).") var backupKeyFile: String
        @Option(help: "Honour the tombstones and revocations of this source: the live store, a copy of its tombstones folder, or a copy of its signed list (tombstones/signed-list.json). Repeatable; one is required unless --no-tombstone-source.")
        var tombstonesFrom: [String] = []
        @Flag(help: "Declare that no tombstone source exists (only the backup's own tombstones apply); recorded in the restored store's access log.")
        var noTombstoneSource = false
        @Option(help: "The store's public key (hex or a file) the backup must be signed with (default: the one the backup key file records).") var publicKey: String?

        func validate() throws {
            if noTombstoneSource && !tombstonesFrom.isEmpty { throw ValidationError("use either --tombstones-from or --no-tombstone-source, not both") }
            if !noTombstoneSource && tombstonesFrom.isEmpty {
                throw ValidationError("a restore needs a tombstone source, or an old backup could bring back shredded patients and revoked supporters: give --tombstones-from (the live store, or a copy of its tombstones folder or signed list), or --no-tombstone-source if none exists (it is logged)")
            }
        }

        func run() throws {
            let started = Date()
            let s = try Backup.restore(path: file, into: global.storePath, backupKey: try Backup.readSecretKey(path: backupKeyFile),
                                       tombstones: noTombstoneSource ? .noneExists : .from(tombstonesFrom),
                                       publicKey: try publicKey.map(parsePublicKey), rootKey: global.rootKeySource)
            let seconds = Date().timeIntervalSince(started)
            try emit(json: global.json, ["store": global.storePath, "vaults": s.vaults, "skippedShredded": s.skippedShredded, "revocationsHeld": s.revocationsHeld,
                                         "seconds": seconds]) {
                "restored \(s.vaults) vaults into \(global.storePath) in \(String(format: "%.1f", seconds)) s; skipped \(s.skippedShredded) shredded vaults"
                    + (s.revocationsHeld > 0 ? "; \(s.revocationsHeld) revocations made after the backup are held (each party is refused and re-keyed away at the patient's next write)" : "")
            }
        }
    }
}

/// `--valid-until`: an ISO 8601 date (midnight UTC) or date and time.
func parseDate(_ s: String) throws -> Date {
    let f = ISO8601DateFormatter()
    if let d = f.date(from: s) { return d }
    f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    if let d = f.date(from: s) { return d }
    f.formatOptions = [.withFullDate]
    if let d = f.date(from: s) { return d }
    throw CLIError.usage("--valid-until takes an ISO 8601 date or time (2027-03-31, 2027-03-31T00:00:00Z)")
}

/// `--public-key`: 64 hexadecimal characters, or a file holding them.
func parsePublicKey(_ k: String) throws -> [UInt8] {
    let text = PathBytes.contents(ofFile: k).map { String(decoding: $0, as: UTF8.self) } ?? k
    guard let parsed = [UInt8](hex: text.trimmingCharacters(in: .whitespacesAndNewlines)), parsed.count == 32 else {
        throw CLIError.usage("--public-key must be 64 hexadecimal characters or a file holding them")
    }
    return parsed
}
