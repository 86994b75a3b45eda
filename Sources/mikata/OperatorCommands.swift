import ArgumentParser
import Foundation
import MikataService

struct ShredCommand: AsyncParsableCommand {
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

    func run() async throws {
        let email = try account.resolve()
        let outcome = try await global.withService { service in
            let request = DeletionRequest(reason: try PersonalInput.required(reason, file: reasonFile, option: "reason"),
                                          requestedBy: try PersonalInput.required(requestedBy, file: requestedByFile, option: "requested-by"),
                                          reference: try PersonalInput.required(requestRef, file: requestRefFile, option: "request-ref"),
                                          executedBy: operatorId, approvedBy: approver)
            return try await service.shred(email: email, request: request)
        }
        try writeCertificate(outcome, out: out, json: global.json)
    }
}

func writeCertificate(_ outcome: DeletionOutcome, out: String?, json: Bool) throws {
    if let out {
        // A shred run again prints the same certificate: the same bytes already at --out are not an error.
        do { try ClientFiles.writeNew(outcome.certificate + [10], to: out, identicalIsDone: true) } catch let e as MikataError {
            throw CLIError.io("the shred is complete and its certificate is kept in the store (certificates/\(outcome.certificateId).json), but --out could not be written: \(e.message); run the same command again to print it")
        }
        try emit(json: json, ["certificateId": outcome.certificateId, "vaultId": outcome.vaultId, "alreadyShredded": outcome.alreadyShredded, "certificate": out]) {
            (outcome.alreadyShredded ? "already shredded earlier; " : "shredded vault \(outcome.vaultId); ") + "certificate \(outcome.certificateId) written to \(out)"
        }
    } else {
        try StandardOutput.write(outcome.certificate + [10])
    }
}

struct CertificateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "certificate", abstract: "Deletion certificates.", subcommands: [Verify.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Verify a deletion certificate offline: exit 0 if valid, 65 if not.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The certificate file.") var file: String
        @Option(help: "The issuing store's public key (hex, as 'mikata store public-key' prints it) or a file holding it.") var publicKey: String?

        func run() async throws {
            guard let bytes = ClientFiles.contents(ofFile: file) else { throw CLIError.notFound("cannot read the certificate file") }
            let key = try publicKey.map(parsePublicKey)
            var raw = bytes
            while let last = raw.last, last == 10 || last == 13 || last == 32 { raw.removeLast() }
            let v = try VaultService.verifyCertificate(raw, publicKey: key)  // bytes in memory: no store, no blocking call
            try emit(json: global.json, ["valid": true, "certificateId": v.certificateId, "vaultId": v.vaultId, "issuedAt": v.issuedAt,
                                         "signingKeyId": v.signingKeyId, "checkedAgainstGivenKey": v.checkedAgainstGivenKey]) {
                let e = ControlEscapes.escaped  // fields of a certificate that may be self-signed by anyone
                return "valid: certificate \(e(v.certificateId)) for vault \(e(v.vaultId)), issued \(e(v.issuedAt)) by key \(e(v.signingKeyId))"
                    + (v.checkedAgainstGivenKey ? "" : "\n(checked against the key inside the certificate; pass --public-key to check who issued it)")
            }
        }
    }
}

struct StoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "store", abstract: "The store itself.", subcommands: [PublicKey.self])

    struct PublicKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "public-key", abstract: "Print the store's Ed25519 public key, which operators publish to verify certificates.")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let key = try await global.withService { service in try await service.storePublicKey() }
            try emit(json: global.json, ["publicKey": key.publicKey.hexText, "keyId": key.keyId, "algorithm": "Ed25519"]) { key.publicKey.hexText }
        }
    }
}

struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "audit", abstract: "The tamper-evident access log.",
                                                    subcommands: [Verify.self, Prune.self, Show.self, Mine.self, Checkpoint.self])

    static func row(_ e: AccessLogEntry) -> [String: Any] {
        ["seq": e.seq, "time": e.time, "vaultId": e.vaultId, "actor": e.actor, "role": e.role, "action": e.action,
         "outcome": e.outcome, "detail": e.detail]
    }

    static func text(_ entries: [AccessLogEntry]) -> String {
        // Every field as text the terminal shows: a log written by an older version (or edited on disk and caught by
        // `audit verify` only later) may hold control characters that would play escape sequences or fake rows.
        let e = ControlEscapes.escaped
        return entries.map { "\($0.seq)\t\(e($0.time))\t\($0.vaultId.isEmpty ? "-" : e($0.vaultId))\t\(e($0.actor))\t\(e($0.action))\t\(e($0.outcome))\($0.detail.isEmpty ? "" : "\t\(e($0.detail))")" }
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

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check the whole chain and every signed checkpoint; exit 65 naming the first bad line.")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let r = try await global.withService { service in try await service.verifyAccessLog() }
            try emit(json: global.json, ["ok": true, "entries": r.entries, "checkpoints": r.checkpoints, "firstSeq": r.firstSeq as Any? ?? NSNull(),
                                         "lastSeq": r.lastSeq as Any? ?? NSNull(), "lastCheckpointSeq": r.lastCheckpointSeq as Any? ?? NSNull()]) {
                "ok: \(r.entries) entries (\(r.firstSeq.map(String.init) ?? "-")…\(r.lastSeq.map(String.init) ?? "-")), \(r.checkpoints) signed checkpoints"
                    + (r.prunedBefore.map { "; entries before \($0) pruned under a signed anchor" } ?? "")
            }
        }
    }

    struct Prune: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Drop entries older than the retention period; the rest still verifies.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Keep this many days (at least \(VaultService.minimumRetentionDays) unless overridden).") var retentionDays: Int = VaultService.defaultRetentionDays
        @Option(help: ArgumentHelp("Allow a retention under \(VaultService.minimumRetentionDays) days, for this reason (logged before the prune).", valueName: "reason"))
        var allowShortRetention: String?

        func run() async throws {
            let dropped = try await global.withService { service in
                try await service.pruneAccessLog(retentionDays: retentionDays, operatorId: "operator", shortRetentionReason: allowShortRetention)
            }
            try emit(json: global.json, ["dropped": dropped, "retentionDays": retentionDays]) { "dropped \(dropped) entries older than \(retentionDays) days" }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show log entries (operators, for investigations).")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var account: EmailOptions
        @Option(help: "Only entries at or after this time (ISO 8601, or e.g. 7d).") var since: String?

        func run() async throws {
            let entries = try await global.withService { service in
                let email = try account.resolveIfGiven()
                return try await service.accessLog(email: email, since: try since.map(AuditCommand.parseSince))
            }
            try emit(json: global.json, ["entries": entries.map(AuditCommand.row)]) { AuditCommand.text(entries) }
        }
    }

    struct Mine: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A patient sees who accessed their vault, when, and what they did (patient's password).")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var account: EmailOptions
        @OptionGroup var password: PasswordOptions

        func run() async throws {
            let email = try account.resolve()
            // Supporters named by the contact records sealed in the vault at grant time, where there is one.
            let named = try await global.withService { service in
                let session = try await service.unlockPatient(email: email, password: try password.read())
                defer { session.close() }
                return try await service.accessLog(session)
            }
            let rows = named.map { n in AuditCommand.row(n.entry).merging(["actorName": n.actorName, "detailNamed": n.detail]) { a, _ in a } }
            try emit(json: global.json, ["entries": rows]) {
                let x = ControlEscapes.escaped  // as `audit show` prints them
                return named.map { n in
                    let e = n.entry
                    return "\(e.seq)\t\(x(e.time))\t\(x(e.vaultId))\t\(x(n.actorName))\t\(x(e.action))\t\(x(e.outcome))\(n.detail.isEmpty ? "" : "\t\(x(n.detail))")"
                }.joined(separator: "\n")
            }
        }
    }

    struct Checkpoint: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Append a signed checkpoint of the current head and print it, to publish elsewhere.")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try StandardOutput.line(try await global.withService { service in try await service.checkpointAccessLog() })
        }
    }
}

struct BackupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "backup", abstract: "Backups that never resurrect shredded patients or revoked supporters.",
                                                    subcommands: [Key.self, Create.self, Verify.self, Restore.self])

    struct Key: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Backup keys, one per period.", subcommands: [CreateKey.self, DestroyKey.self])
        struct CreateKey: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "create", abstract: "Create the next period's backup key: the secret goes to --out (keep it offline) with the store's public key and the key's expiry; the public half stays in the store.")
            @OptionGroup var global: GlobalOptions
            @Option(help: "Where to write the secret backup key (a new file).") var out: String
            @Option(help: ArgumentHelp("When the key expires and backups sealed to it can no longer be restored (ISO 8601 date, midnight UTC, or time); more than 30 days away (default: 60 days from now).", valueName: "date"))
            var validUntil: String?

            func run() async throws {
                let until = try validUntil.map(parseDate)
                let key = try await global.withService { service in try await service.createBackupKey(secretKeyOut: out, validUntil: until) }
                try emit(json: global.json, ["backupKeyId": key.backupKeyId, "secretKeyFile": out, "validUntil": key.validUntil]) {
                    "backup key \(key.backupKeyId) created, valid until \(key.validUntil); keep \(out) offline: restores need it, and it pins the store's key"
                }
            }
        }

        struct DestroyKey: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "destroy", abstract: "Destroy a backup key at the end of its period: its secret half is overwritten in place, so backups sealed to it can no longer be restored. Destroy every offline copy too.")
            @OptionGroup var global: GlobalOptions
            @Option(help: "The secret backup key file to destroy.") var backupKeyFile: String

            func run() async throws {
                let service = try? await global.openService()  // logged in the store when there is one
                let id: String?
                do { id = try await VaultService.destroyBackupKey(path: backupKeyFile, service: service) } catch {
                    await service?.shutdown()
                    throw error
                }
                await service?.shutdown()
                try emit(json: global.json, ["backupKeyId": id ?? NSNull(), "destroyed": true, "alreadyDestroyed": id == nil]) {
                    id.map { "backup key \($0) destroyed in \(backupKeyFile); destroy every other copy of it as well" } ?? "that backup key was destroyed already"
                }
            }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write a consistent backup while writers keep going, sealed to the current period's backup key.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "The backup file to write (must not exist).") var out: String

        func run() async throws {
            let s = try await global.withService { service in try await service.createBackup(out: out) }
            try emit(json: global.json, ["file": out, "vaults": s.vaults, "files": s.files, "bytes": s.bytes, "createdAt": s.createdAt, "backupKeyId": s.backupKeyId,
                                         "expiresAt": s.expiresAt ?? NSNull()]) {
                "backup \(out): \(s.vaults) vaults, \(s.files) files, \(s.bytes) bytes, secrets sealed to backup key \(s.backupKeyId)"
                    + (s.expiresAt.map { ", restorable until \($0)" } ?? "")
            }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check a backup's integrity and that the pinned store key signed it (and, with the key, that every secret opens).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The backup file.") var file: String
        @Option(help: "The secret backup key file (it also pins the store's public key).") var backupKeyFile: String?
        @Option(help: "The store's public key (hex or a file) the backup must be signed with; needed without --backup-key-file.") var publicKey: String?

        func run() async throws {
            let s = try await VaultService.verifyBackup(path: file, backupKeyFile: backupKeyFile, publicKey: try publicKey.map(parsePublicKey))
            try emit(json: global.json, ["ok": true, "vaults": s.vaults, "files": s.files, "createdAt": s.createdAt, "storeId": s.storeId, "secretsChecked": backupKeyFile != nil,
                                         "expiresAt": s.expiresAt ?? NSNull()]) {
                "ok: backup of store \(s.storeId) from \(s.createdAt), \(s.vaults) vaults, \(s.files) files, signed by the pinned store key"
                    + (s.expiresAt.map { ", restorable until \($0)" } ?? "")
                    + (backupKeyFile == nil ? " (pass --backup-key-file to check the secrets too)" : "")
            }
        }
    }

    struct Restore: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Restore a backup into a new store directory (--store NEWDIR), skipping every shredded vault and holding every later revocation.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The backup file.") var file: String
        @Option(help: "The secret backup key file (it also pins the store's public key).") var backupKeyFile: String
        @Option(help: "Honour the tombstones and revocations of this source: the live store, a copy of its tombstones folder, or a copy of its signed list (tombstones/signed-list.json). Repeatable; one is required unless --no-tombstone-source.")
        var tombstonesFrom: [String] = []
        @Flag(help: "Declare that no tombstone source exists (only the backup's own tombstones apply); recorded in the restored store's access log.")
        var noTombstoneSource = false
        @Option(help: "The store's public key (hex or a file) the backup must be signed with (default: the one the backup key file records).") var publicKey: String?
        @Option(help: ArgumentHelp("The jurisdiction the restored store declares (ISO 3166-1 alpha-2, default JP); a backup of another jurisdiction is refused (exit 77) unless --allow-jurisdiction-change.", valueName: "code"))
        var jurisdiction: String?
        @Flag(help: "Allow restoring a backup of a store of another jurisdiction than --jurisdiction (recorded in the restored store's access log).")
        var allowJurisdictionChange = false

        func validate() throws {
            if noTombstoneSource && !tombstonesFrom.isEmpty { throw ValidationError("use either --tombstones-from or --no-tombstone-source, not both") }
            if !noTombstoneSource && tombstonesFrom.isEmpty {
                throw ValidationError("a restore needs a tombstone source, or an old backup could bring back shredded patients and revoked supporters: give --tombstones-from (the live store, or a copy of its tombstones folder or signed list), or --no-tombstone-source if none exists (it is logged)")
            }
        }

        func run() async throws {
            let started = Date()
            let s = try await VaultService.restoreBackup(path: file, into: global.storePath, backupKeyFile: backupKeyFile,
                                                         tombstones: noTombstoneSource ? .noneExists : .paths(tombstonesFrom),
                                                         publicKey: try publicKey.map(parsePublicKey), rootKey: global.rootKey,
                                                         jurisdiction: jurisdiction, allowJurisdictionChange: allowJurisdictionChange)
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

/// `--public-key`: 64 hexadecimal characters, or a file holding them. The key as typed comes first: a file planted
/// in the working folder under the published key's own hex name is never read in its place.
func parsePublicKey(_ k: String) throws -> [UInt8] {
    if let typed = [UInt8](hexText: k.trimmingCharacters(in: .whitespacesAndNewlines)), typed.count == 32 { return typed }
    let text = ClientFiles.contents(ofFile: k).map { String(decoding: $0, as: UTF8.self) } ?? k
    guard let parsed = [UInt8](hexText: text.trimmingCharacters(in: .whitespacesAndNewlines)), parsed.count == 32 else {
        throw CLIError.usage("--public-key must be 64 hexadecimal characters or a file holding them")
    }
    return parsed
}
