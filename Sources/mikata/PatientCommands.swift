import ArgumentParser
import Foundation
import MikataCrypto
import MikataFormat
import MikataVault

struct PatientCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "patient", abstract: "Patients' vaults.", subcommands: [Create.self, Delete.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a patient's vault; prints the vault id and the one-time recovery code.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var account: EmailOptions
        @Option(help: "The patient's nickname (stored encrypted inside the vault).") var nickname: String?
        @Option(help: "Read the nickname from the first line of this file instead (- for standard input).") var nicknameFile: String?
        @OptionGroup var password: PasswordOptions

        func run() throws {
            let email = try account.resolve()
            let store = try global.openStore()
            let nick = try PersonalInput.required(nickname, file: nicknameFile, option: "nickname")
            let pw = try password.readNew()
            let (id, code) = try store.createPatient(email: email, nickname: nick, password: pw)
            let codeText = code.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
            try emit(json: global.json, ["vaultId": id.hex, "recoveryCode": codeText]) {
                """
                created vault \(id.hex)
                recovery code: \(codeText)
                Write the recovery code down and keep it safe: it is shown only this once and resets a forgotten password.
                """
            }
        }
    }
}

struct SupporterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "supporter", abstract: "Supporter accounts.", subcommands: [Create.self, Patients.self, Password.self, Delete.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a supporter account with its own key pairs.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var account: EmailOptions
        @Option(help: "The supporter's display name (stored encrypted).") var name: String?
        @Option(help: "Read the display name from the first line of this file instead (- for standard input).") var nameFile: String?
        @OptionGroup var password: PasswordOptions

        func run() throws {
            let email = try account.resolve()
            let store = try global.openStore()
            let name = try PersonalInput.required(name, file: nameFile, option: "name")
            let pw = try password.readNew()
            let keys = try store.createSupporter(email: email, name: name, password: pw)
            let shown = Fingerprint.supporter(keys)
            try emit(json: global.json, ["supporterId": keys.id.hex, "publicKey": keys.boxPublicKey.hex, "signPublicKey": keys.signPublicKey.hex,
                                         "fingerprint": shown]) {
                "created supporter \(keys.id.hex)\npublic key: \(keys.boxPublicKey.hex)\nkey fingerprint: \(shown) (give it to your patients, so they can check whom they link)"
            }
        }
    }

    /// Under `supporter`, like every command on a supporter's own account (`--email` is the supporter's own address);
    /// `--as-supporter` elsewhere means acting on a patient's vault.
    struct Password: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The supporter changes their own password (current via --password-file/--password-stdin, new via --new-password-file).",
            discussion: "Linked patients' vaults stay readable: the supporter's keys do not change, only the password that seals them.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "The supporter's e-mail address.") var email: String
        @OptionGroup var password: PasswordOptions
        @OptionGroup var newPassword: NewPasswordOptions

        func run() throws {
            let store = try global.openStore()
            let id = try store.changeSupporterPassword(email: email, password: try password.read(prompt: "Current password: "),
                                                       newPassword: try newPassword.read())
            try emit(json: global.json, ["supporterId": id.hex, "changed": true]) { "password changed" }
        }
    }

    struct Patients: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the patients who linked this supporter (supporter's password).")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var account: EmailOptions
        @OptionGroup var password: PasswordOptions

        func run() throws {
            let email = try account.resolve()
            let store = try global.openStore()
            let identity = try store.unlockSupporter(email: email, password: try password.read())
            let pinned = try store.pinnedVaultIds(identity)
            var patients: [[String: Any]] = []
            for id in store.linkedVaults(supporterId: identity.id) {
                // The link is a hint; the vault's signed header decides. Unlinked or shredded vaults are skipped.
                guard let vault = try? store.openVault(id: id), let session = try? vault.unlock(supporter: identity),
                      let records = try? vault.records(session) else { continue }
                var entry: [String: Any] = ["vaultId": id.hex, "fingerprint": Fingerprint.vault(id), "pinned": pinned.contains(id.hex)]
                if let profile = records.first(where: { $0.type == Vault.profileRecordType }),
                   let obj = try? JSONSerialization.jsonObject(with: Data(profile.data)) as? [String: Any] {
                    entry["nickname"] = obj["nickname"]
                }
                entry["recordCount"] = records.filter { !$0.type.hasPrefix("mikata.") }.count
                patients.append(entry)
            }
            try emit(json: global.json, ["patients": patients]) {
                patients.isEmpty ? "no linked patients" :
                    patients.map {
                        "\($0["vaultId"] ?? "")  \($0["fingerprint"] ?? "")  \($0["nickname"] ?? "")  \($0["recordCount"] ?? 0) records"
                            + ($0["pinned"] as? Bool == true ? "" : "  (not yet pinned: not contacted by e-mail address)")
                    }.joined(separator: "\n")
            }
        }
    }
}

struct GrantCommand: ParsableCommand {
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

    func run() throws {
        let email = try account.resolve()
        let supporter = try supporterAccount.resolve()
        let store = try global.openStore()
        var name = supporterName
        if let f = supporterNameFile {
            let s = try SecretInput.firstLine(ofFile: f, what: "supporter name")
            name = s.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
        }
        let (vault, session) = try store.unlockPatient(email: email, password: try password.read())
        let result = try store.grant(vault: vault, session: session, supporterEmail: supporter, supporterName: name, fingerprint: fingerprint)
        let id = result.supporter.id.hex
        try emit(json: global.json, ["vaultId": vault.vaultId.hex, "supporterId": id, "linked": true, "alreadyLinked": !result.added,
                                     "fingerprint": result.fingerprint, "fingerprintChecked": fingerprint != nil,
                                     "contactRecorded": result.contactRecorded]) {
            (result.added ? "linked supporter \(id)" : "supporter \(id) was linked already")
                + "\nsupporter key fingerprint: \(result.fingerprint)" + (fingerprint != nil ? " (matches the one given)" : " (compare it with the one your supporter gives you)")
        }
    }
}

struct RevokeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "revoke", abstract: "Unlink a supporter: a new key epoch shuts them out (patient's password).")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var account: EmailOptions
    @OptionGroup var supporterAccount: SupporterEmailOptions
    @Flag(help: "Also re-encrypt every existing record under the new epoch.") var reencrypt = false
    @OptionGroup var password: PasswordOptions

    func run() throws {
        let email = try account.resolve()
        let supporter = try supporterAccount.resolve()
        let store = try global.openStore()
        let (vault, session) = try store.unlockPatient(email: email, password: try password.read())
        let supporterId = try store.supporterId(email: supporter)
        // The hint goes first: if the revocation then fails, re-running it (or a grant) restores the hint.
        try store.removeLink(supporterId: supporterId, vaultId: vault.vaultId)
        try vault.revoke(supporterId, reencrypt: reencrypt, session: session)
        let info = try vault.inspect()
        try emit(json: global.json, ["vaultId": vault.vaultId.hex, "supporterId": supporterId.hex, "revoked": true,
                                     "epoch": info.currentEpoch, "reencrypted": reencrypt]) {
            "revoked supporter \(supporterId.hex); vault is now at key epoch \(info.currentEpoch)\(reencrypt ? " (all records re-encrypted)" : "")"
        }
    }
}
