import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing

/// Where a command's standard output goes when it cannot be written.
enum BrokenOutput: String, CaseIterable, Sendable {
    case fullDisk = "/dev/full"
    case closedPipe = "a pipe nobody reads"
    case closedStream = "a closed stdout"
}

/// A `mikata` run with chosen standard streams (CLIProcess always gives /dev/null and files).
private func runWith(_ fx: CLIFixture, _ arguments: [String], stdout: BrokenOutput? = nil, closeStdin: Bool = false,
                     stdin: String? = nil, environment: [String: String]? = nil) throws -> CLIResult {
    let process = Process()
    let errPath = "\(fx.root)/err-\(UUID().uuidString)"
    let outPath = "\(fx.root)/out-\(UUID().uuidString)"
    _ = FileManager.default.createFile(atPath: errPath, contents: nil)
    _ = FileManager.default.createFile(atPath: outPath, contents: nil)
    var redirections = ""
    if closeStdin { redirections += " <&-" }
    if stdout == .closedStream { redirections += " >&-" }
    // A shell closes the streams that Process cannot, then becomes mikata.
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", "exec \"$0\" \"$@\"\(redirections)", MikataBinary.path] + arguments
    process.environment = environment ?? fx.environment
    var pipe: Pipe?
    if stdin != nil {
        let p = Pipe()
        process.standardInput = p
        pipe = p
    } else {
        process.standardInput = FileHandle(forReadingAtPath: "/dev/null")
    }
    let outPipe = Pipe()
    switch stdout {
    case .fullDisk: process.standardOutput = FileHandle(forWritingAtPath: "/dev/full")
    case .closedPipe:
        process.standardOutput = outPipe
        try outPipe.fileHandleForReading.close()  // no reader: every write is EPIPE
    default: process.standardOutput = FileHandle(forWritingAtPath: outPath)
    }
    process.standardError = FileHandle(forWritingAtPath: errPath)
    try process.run()
    if let stdin, let pipe {
        pipe.fileHandleForWriting.write(Data(stdin.utf8))
        try pipe.fileHandleForWriting.close()
    }
    process.waitUntilExit()
    let err = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
    let out = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
    try? FileManager.default.removeItem(atPath: errPath)
    try? FileManager.default.removeItem(atPath: outPath)
    return CLIResult(status: process.terminationStatus, signaled: process.terminationReason == .uncaughtSignal, stdout: out, stderr: err, seconds: 0)
}

private func write(_ text: String, _ path: String) throws { try Data(text.utf8).write(to: URL(fileURLWithPath: path)) }

@Suite("CLI: input typed by people, output, streams, argv")
struct InputRulesCLITests {
    static let patient = "rules-patient-61c2@example.jp"
    static let nurse = (email: "rules-nurse-0d7e@example.jp", name: "Nurse")

    // MARK: output errors

    @Test("a failed write of the output is one error line and exit 1, for every command that prints", arguments: BrokenOutput.allCases)
    func outputFailures(_ broken: BrokenOutput) throws {
        let fx = try CLIFixture()
        try fx.setUp(patient: Self.patient, supporter: Self.nurse)
        let pwf = ["--password-file", fx.patientPasswordFile]
        let commands: [[String]] = [
            ["init"], ["init", "--json"],
            ["record", "list", "--email", Self.patient, "--json"] + pwf,
            ["record", "add", "--email", Self.patient, "--type", "dose", "--data", "{}"] + pwf,
            ["record", "list", "--email", Self.patient] + pwf,  // after the add: an empty list prints nothing
            ["vault", "inspect", "--email", Self.patient], ["vault", "verify", "--email", Self.patient, "--json"] + pwf,
            ["supporter", "patients", "--email", Self.nurse.email, "--password-file", fx.nursePasswordFile],
            ["audit", "show", "--json"], ["audit", "verify"], ["audit", "checkpoint"], ["audit", "mine", "--email", Self.patient] + pwf,
            ["store", "public-key"], ["--help"], ["record", "--help"], ["--version"],
        ]
        for command in commands {
            let r = try runWith(fx, command, stdout: broken)
            let what = "\(command.joined(separator: " ")) > \(broken.rawValue)"
            #expect(r.status == 1 && !r.signaled, "\(what): exit \(r.status) signaled \(r.signaled): \(r.stderr)")
            #expect(r.stderrLines.count == 1, "\(what): \(r.stderr)")
            #expect(r.stderrLines.first?.hasPrefix("mikata: error: cannot write the output") == true, "\(what): \(r.stderr)")
        }
    }

    // MARK: closed standard streams

    @Test("shred: a certificate text with a control character (C0, DEL, C1), or the operator as approver, is refused with 64 before anything is destroyed")
    func shredTextsWithoutControls() throws {
        let fx = try CLIFixture()
        try fx.setUp(patient: Self.patient)
        let base = ["shred", "--email", Self.patient, "--out", "\(fx.root)/cert.json"]
        let fields = ["--reason": "test", "--requested-by": "centre", "--request-ref": "R1", "--operator": "op1"]
        for (flag, bad) in [("--reason", "test\u{9b}[2J"), ("--requested-by", "centre\u{7f}"), ("--request-ref", "R\t1"), ("--operator", "op\u{85}")] {
            let args = fields.sorted { $0.key < $1.key }.flatMap { [$0.key, $0.key == flag ? bad : $0.value] }
            let r = try fx.run(base + args)
            #expect(r.status == 64 && r.stderr.contains("control characters"), "\(flag): \(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: "\(fx.root)/cert.json"))
        }
        // Dual control: the approver is another operator.
        for approver in ["op1", " OP1", "ｏｐ１", "op\u{200B}1", "o p1"] {
            let r = try fx.run(base + fields.sorted { $0.key < $1.key }.flatMap { [$0.key, $0.value] } + ["--approver", approver])
            #expect(r.status == 64 && r.stderr.contains("dual control"), "\(approver): \(r.stderr)")
        }
        #expect(try fx.listRecords(patient: Self.patient).isEmpty, "the vault is still there and opens")
        let ok = try fx.run(base + fields.sorted { $0.key < $1.key }.flatMap { [$0.key, $0.value] })
        #expect(ok.status == 0, "\(ok.stderr)")
    }

    @Test("--password-stdin with stdin closed is an empty password (64), and no failed login is logged")
    func closedStdin() throws {
        let fx = try CLIFixture()
        try fx.setUp(patient: Self.patient)
        for command in [["record", "list", "--email", Self.patient, "--password-stdin"],
                        ["vault", "verify", "--email", Self.patient, "--password-stdin"]] {
            let r = try runWith(fx, command, closeStdin: true)
            #expect(r.status == 64, "\(r.stderr)")
            #expect(r.stderrLines == ["mikata: error: the password is empty"])
        }
        let log = try fx.ok(["audit", "show", "--json"]).json()["entries"] as? [[String: Any]] ?? []
        #expect(!log.contains { ($0["outcome"] as? String) != "ok" }, "\(log)")
    }

    // MARK: secrets and lines

    @Test("a password file's line ending is not part of the password; NFC and NFD are one password",
          arguments: ["\(CLIFixture.patientPassword)", "\(CLIFixture.patientPassword)\r\n", "\(CLIFixture.patientPassword)\r",
                      "\(CLIFixture.patientPassword)\n\(CLIFixture.wrongPassword)\n", "\(CLIFixture.patientPassword)\r\r\n"])
    func passwordLineEndings(_ content: String) throws {
        let fx = try CLIFixture()
        try fx.setUp(patient: Self.patient)
        let f = "\(fx.root)/typed.pw"
        try write(content, f)
        try fx.ok(["record", "list", "--email", Self.patient, "--password-file", f])
        let r = try runWith(fx, ["record", "list", "--email", Self.patient, "--password-stdin"], stdin: content)
        #expect(r.status == 0, "\(r.stderr)")
    }

    @Test("a password set in NFC opens when typed in NFD or full width, through the CLI")
    func normalizationThroughCLI() throws {
        let fx = try CLIFixture()
        try fx.ok(["init"])
        let nfc = "\(fx.root)/nfc.pw", nfd = "\(fx.root)/nfd.pw", wide = "\(fx.root)/wide.pw"
        try write("ma\u{F1}ana-\u{C5}\n", nfc)
        try write("man\u{303}ana-A\u{30A}\n", nfd)
        try write("\u{FF4D}\u{FF41}\u{F1}\u{FF41}\u{FF4E}\u{FF41}-\u{212B}\n", wide)
        try fx.ok(["patient", "create", "--email", Self.patient, "--nickname", "N", "--password-file", nfc])
        try fx.ok(["record", "list", "--email", Self.patient, "--password-file", nfd])
        try fx.ok(["record", "list", "--email", Self.patient, "--password-file", wide])
        try fx.ok(["password", "change", "--email", Self.patient, "--password-file", wide, "--new-password-file", nfd])
        try fx.ok(["record", "list", "--email", Self.patient, "--password-file", nfc])
    }

    @Test("recovery codes: full width, lower case, without dashes are accepted; a malformed one is 64, not logged")
    func recoveryCodes() throws {
        let fx = try CLIFixture()
        try fx.ok(["init"])
        let created = try fx.ok(["patient", "create", "--email", Self.patient, "--nickname", "N", "--password-file", fx.patientPasswordFile, "--json"])
        let code = try #require(try created.json()["recoveryCode"] as? String)
        let f = "\(fx.root)/code.txt"
        for typed in [CodeTyping.fullWidth(code), code.lowercased().replacingOccurrences(of: "-", with: ""), code.replacingOccurrences(of: "-", with: " ") + "\r\n"] {
            try write(typed, f)
            try fx.ok(["recover", "--email", Self.patient, "--recovery-code-file", f, "--new-password-file", fx.patientPasswordFile])
        }
        let before = try fx.ok(["audit", "show", "--json"]).json()["entries"] as? [[String: Any]] ?? []
        for malformed in ["ABCDE-FGHJK", String(code.dropLast()), code + "U", "\(code.dropLast())!"] {
            try write(malformed + "\n", f)
            let r = try fx.run(["recover", "--email", Self.patient, "--recovery-code-file", f, "--new-password-file", fx.patientPasswordFile])
            #expect(r.status == 64, "\(malformed): \(r.stderr)")
            #expect(r.stderrLines.count == 1 && !r.stderr.contains(code.prefix(5)), "\(r.stderr)")
        }
        let after = try fx.ok(["audit", "show", "--json"]).json()["entries"] as? [[String: Any]] ?? []
        #expect(after.filter { $0["action"] as? String == "recovery-unlock" }.count == before.filter { $0["action"] as? String == "recovery-unlock" }.count)
    }

    // MARK: record data

    @Test("record data with a member name twice is refused (64), at any depth; nothing is appended",
          arguments: [#"{"mg":300,"mg":600}"#, #"{"dose":{"mg":300,"mg":600}}"#, #"[{"a":1},{"b":1,"b":1}]"#, #"{"mg":300,"\u006dg":600}"#])
    func duplicateMembers(_ data: String) throws {
        let fx = try CLIFixture()
        try fx.setUp(patient: Self.patient)
        let f = "\(fx.root)/data.json"
        try write(data, f)
        for source in [["--data", data], ["--data-file", f]] {
            let r = try fx.run(["record", "add", "--email", Self.patient, "--type", "dose", "--password-file", fx.patientPasswordFile] + source)
            #expect(r.status == 64, "\(r.stderr)")
        }
        #expect(try fx.listRecords(patient: Self.patient).isEmpty)
    }

    // MARK: personal data off argv

    @Test("every personal value can come from a file or stdin; nothing personal is in argv")
    func fileForms() throws {
        let fx = try CLIFixture()
        try fx.ok(["init"])
        let files: [String: String] = ["patient": Self.patient, "nurse": Self.nurse.email, "nick": "Taro", "name": "Nurse A",
                                       "reason": "patient deceased", "by": "Example Hokenjo", "ref": "HC-1"]
        for (k, v) in files { try write(v + "\n", "\(fx.root)/\(k)") }
        func f(_ k: String) -> String { "\(fx.root)/\(k)" }
        let pw = ["--password-file", fx.patientPasswordFile], npw = ["--password-file", fx.nursePasswordFile]
        try fx.ok(["patient", "create", "--email-file", f("patient"), "--nickname-file", f("nick")] + pw)
        let r = try runWith(fx, ["supporter", "create", "--email-file", "-", "--name-file", f("name")] + npw, stdin: Self.nurse.email + "\n")
        #expect(r.status == 0, "\(r.stderr)")
        try fx.ok(["grant", "--email-file", f("patient"), "--supporter-file", f("nurse")] + pw)
        let data = try runWith(fx, ["record", "add", "--email-file", f("patient"), "--type", "message", "--data-file", "-",
                                    "--as-supporter-file", f("nurse")] + npw, stdin: #"{"text":"hello"}"#)
        #expect(data.status == 0, "\(data.stderr)")
        #expect(try fx.listRecords(patient: Self.patient).map(\.data) == [#"{"text":"hello"}"#])
        try fx.ok(["supporter", "patients", "--email-file", f("nurse")] + npw)
        try fx.ok(["audit", "show", "--email-file", f("patient")])
        try fx.ok(["revoke", "--email-file", f("patient"), "--supporter-file", f("nurse")] + pw)
        // Two inputs cannot share stdin.
        let twice = try runWith(fx, ["record", "list", "--email-file", "-", "--password-stdin"], stdin: Self.patient + "\n")
        #expect(twice.status == 64 && twice.stderrLines.count == 1, "\(twice.stderr)")
        try fx.ok(["shred", "--email-file", f("patient"), "--reason-file", f("reason"), "--requested-by-file", f("by"),
                   "--request-ref-file", f("ref"), "--operator", "op1", "--out", f("cert.json")])
        // Both forms of one value are refused, and so is neither.
        let both = try fx.run(["vault", "inspect", "--email", Self.patient, "--email-file", f("patient")])
        #expect(both.status == 64, "\(both.stderr)")
        let neither = try fx.run(["vault", "inspect"])
        #expect(neither.status == 64, "\(neither.stderr)")
    }

    @Test("personal values given in argv are wiped from the process's argv memory (/proc/PID/cmdline)")
    func argvWiped() throws {
        let fx = try CLIFixture()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: MikataBinary.path)
        let email = "argv-wipe-5c1e@example.jp"
        process.arguments = ["record", "add", "--email", email, "--type", "dose", "--data", "-", "--as-supporter=nurse-9f3a@example.jp",
                             "--password-file", fx.patientPasswordFile]
        process.environment = fx.environment
        let stdin = Pipe()
        process.standardInput = stdin
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        defer { try? stdin.fileHandleForWriting.close(); process.waitUntilExit() }
        // Wait until it blocks reading the record data from stdin: argv was handled long before.
        #if arch(x86_64)
        let readSyscall = "0 0x0 "
        #else
        let readSyscall = "63 0x0 "
        #endif
        // Any of its threads: the async commands read on a thread of Swift's pool, not the main thread.
        let tasks = "/proc/\(process.processIdentifier)/task"
        var reading = false
        for _ in 0..<6000 where !reading {
            let threads = (try? FileManager.default.contentsOfDirectory(atPath: tasks)) ?? []
            reading = threads.contains { t in
                ((try? String(contentsOfFile: "\(tasks)/\(t)/syscall", encoding: .utf8)) ?? "").hasPrefix(readSyscall)
            }
            if !reading { usleep(10_000) }
        }
        #expect(reading, "the child never blocked reading stdin")
        let cmdline = String(decoding: try Data(contentsOf: URL(fileURLWithPath: "/proc/\(process.processIdentifier)/cmdline")), as: UTF8.self)
        #expect(!cmdline.contains(email) && !cmdline.contains("nurse-9f3a"), "\(cmdline)")
        #expect(cmdline.contains("--email") && cmdline.contains("--password-file"), "option names stay: \(cmdline)")
    }

    // MARK: global options before the subcommand

    @Test("global options are accepted before the subcommand as well as after it")
    func globalOptionsFirst() throws {
        let fx = try CLIFixture()
        var env = fx.environment
        env["MIKATA_STORE"] = "\(fx.root)/not-this-one"
        let store = "\(fx.root)/first"
        let emailFile = "\(fx.root)/email"
        try write(Self.patient + "\n", emailFile)
        #expect(try runWith(fx, ["--store", store, "init"], environment: env).status == 0)
        #expect(FileManager.default.fileExists(atPath: "\(store)/mikata-store.json"))
        #expect(try runWith(fx, ["--store=\(store)", "patient", "create", "--email-file", emailFile, "--nickname", "N",
                                 "--password-file", fx.patientPasswordFile], environment: env).status == 0)
        let inspect = try runWith(fx, ["--json", "--store", store, "vault", "inspect", "--email-file", emailFile], environment: env)
        #expect(inspect.status == 0, "\(inspect.stderr)")
        #expect((try? JSONSerialization.jsonObject(with: Data(inspect.stdout.utf8)) as? [String: Any])?["vaultId"] != nil, "\(inspect.stdout)")
        #expect(try runWith(fx, ["vault", "inspect", "--json", "--store", store, "--email-file", emailFile], environment: env).status == 0)
        #expect(!FileManager.default.fileExists(atPath: "\(fx.root)/not-this-one"))
        for bad in [["--bogus", "init"], ["--json", "--bogus", "init"], ["--store", store, "vault"], ["--json"], ["--store"]] {
            let r = try runWith(fx, bad, environment: env)
            #expect(r.status == 64, "\(bad): \(r.status) \(r.stderr)")
        }
    }
}

/// Full-width forms of ASCII (as a Japanese input method types them).
enum CodeTyping {
    static func fullWidth(_ s: String) -> String {
        String(String.UnicodeScalarView(s.unicodeScalars.map { $0.value >= 0x21 && $0.value <= 0x7E ? Unicode.Scalar($0.value + 0xFEE0)! : $0 }))
    }
}
