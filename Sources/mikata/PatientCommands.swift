import ArgumentParser
import MikataService

struct PatientCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "patient", abstract: "Patients' vaults.", subcommands: [Create.self, Delete.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a patient's vault; prints the vault id and the recovery code (shown this once).")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var account: EmailOptions
        @Option(help: "The patient's nickname (stored encrypted inside the vault).") var nickname: String?
        @Option(help: "Read the nickname from the first line of this file instead (- for standard input).") var nicknameFile: String?
        @OptionGroup var password: PasswordOptions

        func run() async throws {
            let email = try account.resolve()
            let created = try await global.withService { service in
                let nick = try PersonalInput.required(nickname, file: nicknameFile, option: "nickname")
                return try await service.createPatient(email: email, nickname: nick, password: try password.readNew())
            }
            let codeText = created.recoveryCode.text
            try emit(json: global.json, ["vaultId": created.vaultId.hex, "recoveryCode": codeText]) {
                """
                created vault \(created.vaultId.hex)
                recovery code: \(codeText)
                Write the recovery code down and keep it safe: it is shown only this once and resets a forgotten password.
                """
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The patient deletes their own vault (patient's password); prints a deletion certificate.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var account: EmailOptions
        @Option(help: "Write the certificate to this file (default: stdout).") var out: String?
        @OptionGroup var password: PasswordOptions

        func run() async throws {
            let email = try account.resolve()
            let outcome = try await global.withService { service in
                // An interrupted deletion (authorised by the password when it started) completes without asking again.
                if let done = try await service.completeInterruptedDeletion(email: email) { return done }
                return try await service.deletePatient(email: email, password: try password.read())
            }
            try writeCertificate(outcome, out: out, json: global.json)
        }
    }
}

struct SupporterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "supporter", abstract: "Supporter accounts.", subcommands: [Create.self, Patients.self, Password.self, Delete.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a supporter account with its own key pairs.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var account: EmailOptions
        @Option(help: "The supporter's display name (stored encrypted).") var name: String?
        @Option(help: "Read the display name from the first line of this file instead (- for standard input).") var nameFile: String?
        @OptionGroup var password: PasswordOptions

        func run() async throws {
            let email = try account.resolve()
            let keys = try await global.withService { service in
                let name = try PersonalInput.required(name, file: nameFile, option: "name")
                return try await service.createSupporter(email: email, name: name, password: try password.readNew())
            }
            try emit(json: global.json, ["supporterId": keys.id.hex, "publicKey": keys.boxPublicKey.hexText, "signPublicKey": keys.signPublicKey.hexText,
                                         "fingerprint": keys.fingerprint]) {
                "created supporter \(keys.id.hex)\npublic key: \(keys.boxPublicKey.hexText)\nkey fingerprint: \(keys.fingerprint) (give it to your patients, so they can check whom they link)"
            }
        }
    }

    /// Under `supporter`, like every command on a supporter's own account (`--email` is the supporter's own address);
    /// `--as-supporter` elsewhere means acting on a patient's vault.
    struct Password: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The supporter changes their own password (current via --password-file/--password-stdin, new via --new-password-file).",
            discussion: "Linked patients' vaults stay readable: the supporter's keys do not change, only the password that seals them.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var account: EmailOptions
        @OptionGroup var password: PasswordOptions
        @OptionGroup var newPassword: NewPasswordOptions

        func run() async throws {
            let email = try account.resolve()
            let id = try await global.withService { service in
                try await service.changeSupporterPassword(email: email, password: try password.read(prompt: "Current password: "),
                                                          newPassword: try newPassword.read())
            }
            try emit(json: global.json, ["supporterId": id.hex, "changed": true]) { "password changed" }
        }
    }

    struct Patients: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the patients who linked this supporter (supporter's password).")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var account: EmailOptions
        @OptionGroup var password: PasswordOptions

        func run() async throws {
            let email = try account.resolve()
            let patients = try await global.withService { service in
                let session = try await service.unlockSupporter(email: email, password: try password.read())
                defer { session.close() }
                return try await service.linkedPatients(session)
            }
            let rows: [[String: Any]] = patients.map { p in
                var row: [String: Any] = ["vaultId": p.vaultId.hex, "fingerprint": p.fingerprint, "pinned": p.pinned, "recordCount": p.recordCount]
                if let n = p.nickname { row["nickname"] = n }
                return row
            }
            try emit(json: global.json, ["patients": rows]) {
                patients.isEmpty ? "no linked patients" :
                    patients.map {
                        "\($0.vaultId.hex)  \($0.fingerprint)  \(printable($0.nickname ?? ""))  \($0.recordCount) records"
                            + ($0.pinned ? "" : "  (not yet pinned: not contacted by e-mail address)")
                    }.joined(separator: "\n")
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The supporter deletes their own registration and keys (supporter's password).")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var account: EmailOptions
        @OptionGroup var password: PasswordOptions

        func run() async throws {
            let email = try account.resolve()
            let id = try await global.withService { service in try await service.deleteSupporter(email: email, password: try password.read()) }
            try emit(json: global.json, ["supporterId": id.hex, "deleted": true]) {
                "deleted supporter \(id.hex); their key shares are dropped at each patient's next write"
            }
        }
    }
}

struct GrantCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "grant", abstract: "Link a supporter to a patient's vault (patient's password).")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var account: EmailOptions
    @OptionGroup var supporterAccount: SupporterEmailOptions
    @Option(help: "The supporter's key fingerprint as the supporter gave it to you (e.g. 7KQ2-M9XD-4TZA-P1C8); a mismatch is refused.")
    var fingerprint: String?
    @Option(help: "The supporter's name as you know them; 'audit mine' shows it (sealed in your vault, only you can read it).")
    var supporterName: String?
    @Option(help: "Read the supporter's name from the first line of this file instead.") var supporterNameFile: String?
    @OptionGroup var password: PasswordOptions

    func validate() throws {
        if supporterName != nil && supporterNameFile != nil { throw ValidationError("give at most one of --supporter-name or --supporter-name-file") }
    }

    func run() async throws {
        let email = try account.resolve()
        let supporter = try supporterAccount.resolve()
        let result = try await global.withService { service in
            let name = try supporterNameFile.map { try SecretInput.firstLine(ofFile: $0, what: "supporter name").text } ?? supporterName
            let session = try await service.unlockPatient(email: email, password: try password.read())
            defer { session.close() }
            return try await service.grant(session, supporterEmail: supporter, supporterName: name, fingerprint: fingerprint)
        }
        let id = result.supporterId.hex
        try emit(json: global.json, ["vaultId": result.vaultId.hex, "supporterId": id, "linked": true, "alreadyLinked": !result.added,
                                     "fingerprint": result.fingerprint, "fingerprintChecked": result.fingerprintChecked,
                                     "contactRecorded": result.contactRecorded]) {
            (result.added ? "linked supporter \(id)" : "supporter \(id) was linked already")
                + "\nsupporter key fingerprint: \(result.fingerprint)" + (result.fingerprintChecked ? " (matches the one given)" : " (compare it with the one your supporter gives you)")
        }
    }
}

struct RevokeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "revoke", abstract: "Unlink a supporter: a new key epoch shuts them out (patient's password).")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var account: EmailOptions
    @OptionGroup var supporterAccount: SupporterEmailOptions
    @Flag(help: "Also re-encrypt every existing record under the new epoch.") var reencrypt = false
    @OptionGroup var password: PasswordOptions

    func run() async throws {
        let email = try account.resolve()
        let supporter = try supporterAccount.resolve()
        let result = try await global.withService { service in
            let session = try await service.unlockPatient(email: email, password: try password.read())
            defer { session.close() }
            return try await service.revoke(session, supporterEmail: supporter, reencrypt: reencrypt)
        }
        try emit(json: global.json, ["vaultId": result.vaultId.hex, "supporterId": result.supporterId.hex, "revoked": true,
                                     "epoch": result.epoch, "reencrypted": result.reencrypted]) {
            "revoked supporter \(result.supporterId.hex); vault is now at key epoch \(result.epoch)\(result.reencrypted ? " (all records re-encrypted)" : "")"
        }
    }
}
