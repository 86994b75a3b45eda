import Foundation
import Testing

/// Issue 10 §4 through the `mikata` executable: consent, opt-in and `notices run` for cron, with a sendmail-compatible
/// script that keeps each message and its argv.
@Suite("CLI: missed-dose notices")
struct NoticeCLITests {
    static let patient = "ntc-patient-3f1a@example.jp"
    static let nurse = (email: "ntc-nurse-9b2e@example.jp", name: "Nurse Ono")

    @Test("consent, subscribe, run once at --now: one message to the nurse, no address in argv, nothing on the second run")
    func consentSubscribeRun() throws {
        let fx = try CLIFixture()
        try fx.setUp(patient: Self.patient, nickname: "Yuki", supporter: Self.nurse)
        let pw = ["--password-file", fx.patientPasswordFile], npw = ["--password-file", fx.nursePasswordFile]
        try fx.ok(["grant", "--email", Self.patient, "--supporter", Self.nurse.email, "--supporter-name", Self.nurse.name] + pw)
        // Consent is given on the wall clock: a regimen from yesterday (JST), one dose a day at 08:00.
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = TimeZone(identifier: "Asia/Tokyo")!
        let f = DateFormatter()
        f.calendar = cal; f.timeZone = cal.timeZone; f.locale = Locale(identifier: "en_US_POSIX"); f.dateFormat = "yyyy-MM-dd"
        let start = f.string(from: Date().addingTimeInterval(-86_400)), end = f.string(from: Date().addingTimeInterval(86_400 * 60))
        let regimen = #"{"effectiveFrom":"\#(start)","phases":[{"name":"intensive","start":"\#(start)","end":"\#(end)","medications":[{"medication":"isoniazid","dose":{"value":"300","unit":"mg"},"timeOfDay":["08:00"]}]}]}"#
        try fx.ok(["record", "add", "--email", Self.patient, "--type", "medication-request", "--data", regimen] + pw)

        let consent = try fx.ok(["notices", "consent", "--email", Self.patient, "--grace-minutes", "60", "--json"] + pw).json()
        #expect(consent["enabled"] as? Bool == true && consent["graceMinutes"] as? Int == 60 && consent["scheduleVersions"] as? Int == 1)
        let vaultId = ((try fx.vaultFile()) as NSString).lastPathComponent.replacingOccurrences(of: ".vault", with: "")
        let sub = try fx.ok(["notices", "subscribe", "--email", Self.nurse.email, "--vault-id", vaultId, "--json"] + npw).json()
        #expect(sub["enabled"] as? Bool == true && sub["nickname"] as? String == "Yuki")
        #expect(try fx.ok(["notices", "status", "--email", Self.patient] + pw).stdout.contains("1 supporter(s) opted in"))

        // A sendmail-compatible script: stdin to a file, argv to another.
        let outbox = "\(fx.root)/outbox"
        try FileManager.default.createDirectory(atPath: outbox, withIntermediateDirectories: true)
        let script = "\(fx.root)/fake-sendmail"
        try "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"\(outbox)/argv-$$\"\ncat > \"\(outbox)/mail-$$\"\n".write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o700)
        let config = "\(fx.root)/notices.json"
        try #"{"notices":{"from":"noreply@hokenjo.example.jp","transport":"sendmail","sendmail":{"path":"\#(script)"}}}"#
            .write(toFile: config, atomically: true, encoding: .utf8)
        let later = ISO8601DateFormatter().string(from: Date().addingTimeInterval(86_400))
        // A clock ahead of the real one is refused (it would mark doses not yet due as notified) unless a test allows it.
        #expect(try fx.run(["notices", "run", "--config", config, "--now", later]).status == 64)
        fx.extraEnvironment["MIKATA_ALLOW_TEST_CLOCK"] = "1"
        let run = try fx.ok(["notices", "run", "--config", config, "--now", later, "--json"]).json()
        #expect(run["sent"] as? Int == 1 && run["failed"] as? Int == 0 && run["vaultsChecked"] as? Int == 1, "\(run)")
        let files = try FileManager.default.contentsOfDirectory(atPath: outbox)
        let mail = try String(contentsOfFile: "\(outbox)/\(try #require(files.first { $0.hasPrefix("mail-") }))", encoding: .utf8)
        let argv = try String(contentsOfFile: "\(outbox)/\(try #require(files.first { $0.hasPrefix("argv-") }))", encoding: .utf8)
        #expect(mail.contains("To: \(Self.nurse.email)\n") && !mail.contains("\r\n") && !mail.contains(Self.patient))
        #expect(argv == "-t\n-i\n")  // recipients come from the headers, never argv
        // Once.
        #expect(try fx.ok(["notices", "run", "--config", config, "--now", later, "--json"]).json()["sent"] as? Int == 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: outbox).count == 2)
        // Bad input: a malformed --now and no sender are usage errors.
        #expect(try fx.run(["notices", "run", "--now", "tomorrow"]).status == 64)
        #expect(try fx.run(["notices", "run"]).status == 64)
    }
}
