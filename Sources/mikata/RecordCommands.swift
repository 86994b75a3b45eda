import ArgumentParser
import Foundation
import MikataService

/// Who acts on a vault: the patient (their password), or `--as-supporter S` (S's password).
struct ActorOptions: ParsableArguments {
    @Option(help: "Act as this supporter (by e-mail) instead of the patient.") var asSupporter: String?
    @Option(help: "Read that supporter's e-mail address from the first line of this file (- for standard input).") var asSupporterFile: String?
    @Flag(help: "With --as-supporter: accept that the patient's address now leads to another vault than the one you first contacted (re-pins it; logged).")
    var acceptNewVault = false
    @OptionGroup var password: PasswordOptions

    func validate() throws {
        if acceptNewVault && !isSupporter { throw ValidationError("--accept-new-vault applies only with --as-supporter") }
    }

    var isSupporter: Bool { asSupporter != nil || asSupporterFile != nil }

    enum Session {
        case patient(PatientSession)
        case supporter(SupporterSession)

        func close() {
            switch self {
            case .patient(let s): s.close()
            case .supporter(let s): s.close()
            }
        }
    }

    /// Unlocks the patient's vault, or the supporter's account (unknown e-mails are answered as the service decides).
    func unlock(_ service: VaultService, patientEmail: String) async throws -> Session {
        if let s = try PersonalInput.value(asSupporter, file: asSupporterFile, option: "as-supporter") {
            return .supporter(try await service.unlockSupporter(email: s, password: try password.read()))
        }
        return .patient(try await service.unlockPatient(email: patientEmail, password: try password.read()))
    }
}

/// A supporter's pin check, as the CLI shows it: a `mikata: warning:` line, and the `--json` fields `vaultPin` and,
/// on a change, `warning`.
struct PinReport {
    let pin: VaultPinCheck
    let vaultId: VaultID

    /// The service's warning, with how to accept the new vault from the command line.
    var warning: String? {
        guard let w = pin.warning(vaultId: vaultId) else { return nil }
        if case .changed = pin { return w + ", then repeat with --accept-new-vault" }
        return w
    }

    var fields: [String: Any] {
        guard let name = pin.name else { return [:] }
        var out: [String: Any] = ["vaultPin": name]
        if let w = warning { out["warning"] = w }
        return out
    }

    static func fields(_ report: PinReport?) -> [String: Any] { report?.fields ?? [:] }
}

struct RecordCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "record", abstract: "Records in a vault.", subcommands: [Add.self, List.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Append a record (the actor's password, or a write-only service's key file); prints its sequence number.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var account: EmailOptions
        @Option(help: "Record type: 1-64 of a-z 0-9 . _ - (e.g. dose, side-effect, message).") var type: String
        @Option(help: "The record's JSON data, or - to read it from standard input.") var data: String?
        @Option(help: "Read the record's JSON data from this file (- for standard input).") var dataFile: String?
        @Option(help: ArgumentHelp("Append as this write-only service, authorised by the patient ('mikata service authorize'): its key file; no password.", valueName: "file"))
        var asService: String?
        @OptionGroup var actor: ActorOptions

        func validate() throws {
            if (data == nil) == (dataFile == nil) { throw ValidationError("give exactly one of --data or --data-file") }
            if (data == "-" || dataFile == "-") && actor.password.passwordStdin { throw ValidationError("--data - and --password-stdin cannot both read standard input") }
            if asService != nil && (actor.isSupporter || actor.password.passwordFile != nil || actor.password.passwordStdin) {
                throw ValidationError("--as-service takes no password and no --as-supporter: the service's key file is its credential")
            }
        }

        func run() async throws {
            let email = try account.resolve()
            let bytes: [UInt8]
            if let f = dataFile, f != "-" {
                guard let d = ClientFiles.contents(ofFile: f) else { throw CLIError.notFound("cannot read the data file") }
                bytes = d
            } else if data == "-" || dataFile == "-" {
                _ = try StandardInput.claim("record data")
                bytes = Array(FileHandle.standardInput.readDataToEndOfFile())
            } else {
                bytes = Array((data ?? "").utf8)
            }
            let trimmed = try VaultService.checkedRecordData(bytes, type: type)  // checked before any password is asked
            let (seq, pin) = try await global.withService { service -> (UInt64, PinReport?) in
                if let keyFile = asService {
                    let key = try await ServiceKey.read(path: keyFile)
                    let session = service.serviceSession(key)
                    defer { session.close() }
                    return (try await service.append(session, toPatientEmail: email, type: type, data: trimmed), nil)
                }
                let session = try await actor.unlock(service, patientEmail: email)
                defer { session.close() }
                switch session {
                case .patient(let s):
                    return (try await service.append(s, type: type, data: trimmed), nil)
                case .supporter(let s):
                    let r = try await service.append(s, to: .email(email), type: type, data: trimmed, acceptNewVault: actor.acceptNewVault)
                    return (r.seq, PinReport(pin: r.pin, vaultId: r.vaultId))
                }
            }
            if let w = pin?.warning { reportWarning(w) }
            try emit(json: global.json, ["seq": seq].merging(PinReport.fields(pin)) { a, _ in a }) { "appended record \(seq)" }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Decrypt, verify and list every record (the actor's password).",
                                                        discussion: "Records are printed as they are read, a page at a time: a failure part way leaves the lines (or the unfinished JSON document) printed so far, and the exit code says it failed.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var account: EmailOptions
        @OptionGroup var actor: ActorOptions

        /// Records read per page: the most a listing holds in memory at once.
        static let pageSize = 256

        func run() async throws {
            let email = try account.resolve()
            try await global.withService { service in
                let session = try await actor.unlock(service, patientEmail: email)
                defer { session.close() }
                var writer = RecordListWriter(json: global.json)
                switch session {
                case .patient(let s):
                    for try await r in service.recordStream(s, RecordQuery(limit: Self.pageSize)) { try writer.add(r) }
                case .supporter(let s):
                    // The first page checks the supporter's pin for the address; the rest follow by vault id.
                    let first = try await service.records(s, of: .email(email), RecordQuery(limit: Self.pageSize), acceptNewVault: actor.acceptNewVault)
                    let report = PinReport(pin: first.pin, vaultId: first.vaultId)
                    if let w = report.warning { reportWarning(w) }
                    writer.pin = report
                    for r in first.page.records { try writer.add(r) }
                    if let next = first.page.nextAfter {
                        for try await r in service.recordStream(s, of: .vault(first.vaultId), RecordQuery(after: next, limit: Self.pageSize)) {
                            try writer.add(r)
                        }
                    }
                }
                try writer.finish()
            }
        }
    }
}

/// `record list`'s output, written as the records arrive: text lines, or one line of JSON,
/// `{"records": [...], "vaultPin": ..., "warning": ...}` with sorted keys, built row by row. A record's `data` is its
/// JSON as stored, less white space between tokens (`VaultRecord.appendCompactData`): member order and the spelling of numbers and
/// escapes are the author's. Output is buffered up to `flushBytes`; what is still buffered when a read fails is never
/// printed.
struct RecordListWriter {
    let json: Bool
    var pin: PinReport?
    private var buffer: [UInt8] = []
    private var rows = 0
    private let time = RecordTimeFormatter()
    static let flushBytes = 64 * 1024

    init(json: Bool) {
        self.json = json
        if json { buffer = Array(#"{"records":["#.utf8) }
    }

    mutating func add(_ r: VaultRecord) throws {
        let stamp = time.string(millis: r.timeMillis)
        if json {
            if rows > 0 { buffer.append(UInt8(ascii: ",")) }
            if r.dataIsJSON {
                // Strict JSON (all data appended under the rules of docs/FORMAT.md §5.2) goes out as stored, less
                // white space between tokens, in the row JSONSerialization would write (sorted keys; author, time and
                // type hold no character that needs escaping). Compact data has no white space to drop. DEL and C1
                // inside its strings are escaped, as `StandardOutput.json` does for every other answer.
                buffer += Array(#"{"author":""#.utf8) + Array(r.author.description.utf8) + Array(#"","data":"#.utf8)
                let controls = r.dataHoldsDELOrC1  // found by the page read's scan
                if r.data.count >= Self.flushBytes, r.dataIsCompactJSON, !controls {  // large data goes out as it is, not copied first
                    try flush()
                    try StandardOutput.write(r.data)
                } else if controls {
                    var compact: [UInt8] = []
                    r.appendCompactData(to: &compact)
                    ControlEscapes.append(validUTF8: compact, c0: false, to: &buffer)
                } else {
                    r.appendCompactData(to: &buffer)
                }
                buffer += Array(#","seq":\#(r.seq),"time":"\#(stamp)","type":"\#(r.type)"}"#.utf8)
            } else {
                // Data from before the strict rules: what Foundation's parser makes of it, or null.
                let row: [String: Any] = [
                    "seq": r.seq, "type": r.type, "author": r.author.description, "time": stamp,
                    "data": (try? JSONSerialization.jsonObject(with: Data(r.data), options: [.fragmentsAllowed])) ?? NSNull(),
                ]
                let bytes = try jsonBytes(row)
                ControlEscapes.append(validUTF8: bytes, c0: false, to: &buffer)
            }
        } else {
            buffer += Array("\(r.seq)\t\(stamp)\t\(r.author)\t\(r.type)\t".utf8)
            // One line per record: JSON may hold line breaks between tokens, and a crafted record could hold terminal
            // escapes, so control characters (C0, DEL, C1) are shown as \u escapes; invalid UTF-8 as U+FFFD.
            if r.dataIsJSON {
                ControlEscapes.append(validUTF8: r.data, to: &buffer)
            } else {
                for scalar in String(decoding: r.data, as: UTF8.self).unicodeScalars {
                    let v = scalar.value
                    if v < 0x20 || (0x7f...0x9f).contains(v) {
                        ControlEscapes.appendEscape(UInt8(v), to: &buffer)
                    } else {
                        buffer += Array(String(scalar).utf8)
                    }
                }
            }
            buffer.append(10)
        }
        rows += 1
        if buffer.count >= Self.flushBytes { try flush() }
    }

    mutating func finish() throws {
        if json {
            buffer.append(UInt8(ascii: "]"))
            let tail = PinReport.fields(pin)
            if tail.isEmpty {
                buffer.append(UInt8(ascii: "}"))
            } else {  // the pin's members follow "records" in sorted order: `,"vaultPin":…,"warning":…}`
                buffer.append(UInt8(ascii: ","))
                buffer += try jsonBytes(tail).dropFirst()
            }
            buffer.append(10)
        }
        try flush()
    }

    private mutating func flush() throws {
        guard !buffer.isEmpty else { return }
        try StandardOutput.write(buffer)
        buffer.removeAll(keepingCapacity: true)
    }
}

struct PasswordCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "password", abstract: "Passwords.", subcommands: [Change.self])

    struct Change: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change the patient's password (current via --password-file/--password-stdin, new via --new-password-file).")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var account: EmailOptions
        @OptionGroup var password: PasswordOptions
        @OptionGroup var newPassword: NewPasswordOptions

        func run() async throws {
            let email = try account.resolve()
            let id = try await global.withService { service in
                let session = try await service.unlockPatient(email: email, password: try password.read(prompt: "Current password: "))
                defer { session.close() }
                try await service.changePassword(session, to: try newPassword.read())
                return session.vaultId
            }
            try emit(json: global.json, ["vaultId": id.hex, "changed": true]) { "password changed" }
        }
    }
}

struct RecoverCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "recover", abstract: "Set a new password with the recovery code.")
    @OptionGroup var global: GlobalOptions
    @OptionGroup var account: EmailOptions
    @Option(help: "Read the recovery code from the first line of this file (- for standard input).") var recoveryCodeFile: String?
    @OptionGroup var newPassword: NewPasswordOptions

    func run() async throws {
        let email = try account.resolve()
        let id = try await global.withService { service in
            let code = try recoveryCodeFile.map { $0 == "-" ? try SecretInput.firstLine(fd: try StandardInput.claim("recovery code"), what: "recovery code")
                                                            : try SecretInput.firstLine(ofFile: $0, what: "recovery code") }
                ?? SecretInput.prompt("Recovery code: ", what: "recovery code")
            // Unlocked first, so a wrong code is answered before a new password is asked for.
            let session = try await service.unlockPatient(email: email, recoveryCode: code)
            defer { session.close() }
            try await service.changePassword(session, to: try newPassword.read())
            return session.vaultId
        }
        try emit(json: global.json, ["vaultId": id.hex, "recovered": true]) { "new password set; the recovery code stays valid" }
    }
}

struct VaultCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "vault", abstract: "Inspect and verify vault files.", subcommands: [Inspect.self, Verify.self])

    struct Inspect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Non-secret metadata, without any password.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var account: EmailOptions

        func run() async throws {
            let email = try account.resolve()
            let info = try await global.withService { service in try await service.inspect(email: email) }  // an operator action, logged
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

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check both header copies and every record (patient's password); exit 65 on any problem.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var account: EmailOptions
        @OptionGroup var password: PasswordOptions

        func run() async throws {
            let email = try account.resolve()
            let report = try await global.withService { service in
                let session = try await service.unlockPatient(email: email, password: try password.read())
                defer { session.close() }
                return try await service.verify(session)
            }
            try emit(json: global.json, ["vaultId": report.vaultId.hex, "ok": true, "recordCount": report.recordCount,
                                         "tornTailBytes": report.tornTailBytes, "headerGeneration": report.headerGeneration,
                                         "currentEpoch": report.currentEpoch]) {
                "ok: \(report.recordCount) records verified, header generation \(report.headerGeneration), key epoch \(report.currentEpoch)"
                    + (report.tornTailBytes > 0 ? "; \(report.tornTailBytes) bytes of an interrupted append ignored" : "")
            }
        }
    }
}
