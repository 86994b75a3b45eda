import ArgumentParser
import Foundation
import MikataCrypto
import MikataFormat
import MikataVault

/// Who acts on a vault: the patient (their password), or `--as-supporter S` (S's password).
struct ActorOptions: ParsableArguments {
    @Option(help: "Act as this supporter (by e-mail) instead of the patient.") var asSupporter: String?
    @Option(help: "Read that supporter's e-mail address from the first line of this file (- for standard input).") var asSupporterFile: String?
    @Flag(help: "With --as-supporter: accept that the patient's address now leads to another vault than the one you first contacted (re-pins it; logged).")
    var acceptNewVault = false
    @OptionGroup var password: PasswordOptions

    func validate() throws {
        if acceptNewVault && asSupporter == nil && asSupporterFile == nil { throw ValidationError("--accept-new-vault applies only with --as-supporter") }
    }

    /// Opens the patient's vault and unlocks it (unknown e-mails are answered as the library decides). A supporter's
    /// contact is checked against their pin for the address: a change is a `mikata: warning:` line (reads) or refused
    /// (writes) unless `--accept-new-vault`.
    func open(store: Store, email: String, access: SupporterAccess) throws -> (vault: Vault, session: VaultSession, pin: VaultPin?) {
        if let s = try PersonalInput.value(asSupporter, file: asSupporterFile, option: "as-supporter") {
            let identity = try store.unlockSupporter(email: s, password: try password.read())
            let opened = try store.openVault(email: email, supporter: identity, access: access, acceptNewVault: acceptNewVault)
            if let w = opened.pin.warning(vaultId: opened.vault.vaultId) { reportWarning(w) }
            return (opened.vault, opened.session, opened.pin)
        }
        let (vault, session) = try store.unlockPatient(email: email, password: try password.read())
        return (vault, session, nil)
    }
}

/// The `--json` fields of a supporter's pin check: `vaultPin` and, on a change, `warning`.
func pinFields(_ pin: VaultPin?, vaultId: [UInt8]) -> [String: Any] {
    guard let pin else { return [:] }
    var out: [String: Any] = ["vaultPin": pin.name]
    if let w = pin.warning(vaultId: vaultId) { out["warning"] = w }
    return out
}

struct RecordCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "record", abstract: "Records in a vault.", subcommands: [Add.self, List.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Append a record (the actor's password); prints its sequence number.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var account: EmailOptions
        @Option(help: "Record type: 1-64 of a-z 0-9 . _ - (e.g. dose, side-effect, message).") var type: String
        @Option(help: "The record's JSON data, or - to read it from standard input.") var data: String?
        @Option(help: "Read the record's JSON data from this file (- for standard input).") var dataFile: String?
        @OptionGroup var actor: ActorOptions

        func validate() throws {
            if (data == nil) == (dataFile == nil) { throw ValidationError("give exactly one of --data or --data-file") }
            if (data == "-" || dataFile == "-") && actor.password.passwordStdin { throw ValidationError("--data - and --password-stdin cannot both read standard input") }
        }

        func run() throws {
            let email = try account.resolve()
            let bytes: [UInt8]
            if let f = dataFile, f != "-" {
                guard let d = PathBytes.contents(ofFile: f) else { throw CLIError.notFound("cannot read the data file") }
                bytes = d
            } else if data == "-" || dataFile == "-" {
                _ = try StandardInput.claim("record data")
                bytes = Array(FileHandle.standardInput.readDataToEndOfFile())
            } else {
                bytes = Array((data ?? "").utf8)
            }
            let trimmed = try HumanInput.recordData(bytes)  // strict JSON, checked before any password is asked
            let store = try global.openStore()
            let (vault, session, pin) = try actor.open(store: store, email: email, access: .write)
            let seq = try vault.append(type: type, data: trimmed, session: session)
            try emit(json: global.json, ["seq": seq].merging(pinFields(pin, vaultId: vault.vaultId)) { a, _ in a }) { "appended record \(seq)" }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Decrypt, verify and list every record (the actor's password).")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var account: EmailOptions
        @OptionGroup var actor: ActorOptions

        func run() throws {
            let email = try account.resolve()
            let store = try global.openStore()
            let (vault, session, pin) = try actor.open(store: store, email: email, access: .read)
            // Streams: each row is printed as it is read, so memory stays O(batch) whatever the vault's size. The JSON
            // document is the one `emit` would write: {"records":[...] then the pin fields (sorted after it)}.
            let time = ISOTime()
            var out = OutputBuffer()
            var first = true
            if global.json { out.append("{\"records\":[") }
            try vault.forEachRecord(session) { r in
                if global.json {
                    if !first { out.append(",") }
                    if PlainJSON.isPlain(r.data) {
                        // Data JSONSerialization would print back unchanged: copied as stored, in the row it would write
                        // (sorted keys; author, time and type hold no character that needs escaping).
                        out.append("{\"author\":\"\(r.author)\",\"data\":")
                        out.append(r.data)
                        out.append(",\"seq\":\(r.seq),\"time\":\"\(time.string(millis: r.timeMillis))\",\"type\":\"\(r.type)\"}")
                    } else {
                        let row: [String: Any] = [
                            "seq": r.seq, "type": r.type, "author": r.author.description, "time": time.string(millis: r.timeMillis),
                            "data": (try? JSONSerialization.jsonObject(with: Data(r.data), options: [.fragmentsAllowed])) ?? NSNull(),
                        ]
                        out.append(try JSONSerialization.data(withJSONObject: row, options: [.sortedKeys, .withoutEscapingSlashes]))
                    }
                } else {
                    out.append("\(r.seq)\t\(time.string(millis: r.timeMillis))\t\(r.author)\t\(r.type)\t\(String(decoding: r.data, as: UTF8.self))\n")
                }
                first = false
                try out.flushIfFull()
                return true
            }
            if global.json {
                let rest = try JSONSerialization.data(withJSONObject: pinFields(pin, vaultId: vault.vaultId), options: [.sortedKeys, .withoutEscapingSlashes])
                out.append("]")
                if rest.count > 2 { out.append(","); out.append(rest.dropFirst()) } else { out.append("}") }
                out.append("\n")
            }
            try out.flush()
        }
    }
}

struct PasswordCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "password", abstract: "Passwords.", subcommands: [Change.self])

    struct Change: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change the patient's password (current via --password-file/--password-stdin, new via --new-password-file).")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var account: EmailOptions
        @OptionGroup var password: PasswordOptions
        @OptionGroup var newPassword: NewPasswordOptions

        func run() throws {
            let email = try account.resolve()
            let store = try global.openStore()
            let (vault, session) = try store.unlockPatient(email: email, password: try password.read(prompt: "Current password: "))
            try vault.changePassword(to: try newPassword.read(), session: session)
            try emit(json: global.json, ["vaultId": vault.vaultId.hex, "changed": true]) { "password changed" }
        }
    }
}

struct RecoverCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "recover", abstract: "Set a new password with the recovery code.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var account: EmailOptions
    @Option(help: "Read the recovery code from the first line of this file (- for standard input).") var recoveryCodeFile: String?
    @OptionGroup var newPassword: NewPasswordOptions

    func run() throws {
        let email = try account.resolve()
        let store = try global.openStore()
        let code = try recoveryCodeFile.map { $0 == "-" ? try SecretInput.firstLine(fd: try StandardInput.claim("recovery code"), what: "recovery code")
                                                        : try SecretInput.firstLine(ofFile: $0, what: "recovery code") }
            ?? SecretInput.prompt("Recovery code: ", what: "recovery code")
        let (vault, session) = try store.unlockPatient(email: email, recoveryCode: code)
        try vault.changePassword(to: try newPassword.read(), session: session)
        try emit(json: global.json, ["vaultId": vault.vaultId.hex, "recovered": true]) { "new password set; the recovery code stays valid" }
    }
}

struct VaultCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "vault", abstract: "Inspect and verify vault files.", subcommands: [Inspect.self, Verify.self])

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Non-secret metadata, without any password.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var account: EmailOptions

        func run() throws {
            let email = try account.resolve()
            let info = try global.openStore().inspectVault(email: email)  // an operator action, logged
            let slots: [[String: Any]] = info.slots.map { s in
                var d: [String: Any] = ["kind": s.kind]
                if let id = s.supporterId { d["supporterId"] = id.hex }
                return d
            }
            let object: [String: Any] = [
                "vaultId": info.vaultId.hex, "formatVersion": info.formatVersion, "headerGeneration": info.headerGeneration,
                "currentEpoch": info.currentEpoch, "epochs": info.epochs, "slots": slots, "services": info.services.map(\.hex),
                "recordCount": info.recordCount, "tornTailBytes": info.tornTailBytes, "size": info.size, "path": info.path,
                "headerCopiesAgree": info.headerCopiesAgree,
            ]
            try emit(json: global.json, object) {
                """
                vault          \(info.vaultId.hex)
                format         v\(info.formatVersion), header generation \(info.headerGeneration)\(info.headerCopiesAgree ? "" : " (header copies differ)")
                key epochs     \(info.epochs.map(String.init).joined(separator: ", ")) (current \(info.currentEpoch))
                slots          \(info.slots.map { $0.supporterId.map { "supporter:\($0.hex)" } ?? $0.kind }.joined(separator: ", "))
                records        \(info.recordCount)\(info.tornTailBytes > 0 ? " (+\(info.tornTailBytes) bytes of torn tail, ignored)" : "")
                size           \(info.size) bytes
                path           \(info.path)
                """
            }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check both header copies and every record (patient's password); exit 65 on any problem.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var account: EmailOptions
        @OptionGroup var password: PasswordOptions

        func run() throws {
            let email = try account.resolve()
            let (vault, session) = try global.openStore().unlockPatient(email: email, password: try password.read())
            let report = try vault.verify(session)
            try emit(json: global.json, ["vaultId": vault.vaultId.hex, "ok": true, "recordCount": report.recordCount,
                                         "tornTailBytes": report.tornTailBytes, "headerGeneration": report.headerGeneration,
                                         "currentEpoch": report.currentEpoch]) {
                "ok: \(report.recordCount) records verified, header generation \(report.headerGeneration), key epoch \(report.currentEpoch)"
                    + (report.tornTailBytes > 0 ? "; \(report.tornTailBytes) bytes of an interrupted append ignored" : "")
            }
        }
    }
}
