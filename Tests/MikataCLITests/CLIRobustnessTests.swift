import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing

/// The `mikata` executable as a user or a supervisor sees it: exit codes, one-line errors that never repeat an
/// e-mail or password, concurrent writers, and processes killed with SIGKILL at random moments.
/// Serialized: the kill tests time their signals against measured run times, which parallel load would skew.
@Suite("CLI robustness", .serialized)
struct CLIRobustnessTests {
    static let patient = "cli-patient-3e9a@example.jp"
    static let nurse = (email: "cli-nurse-71bd@example.jp", name: "Nurse")

    /// Failure output is exactly `mikata: error: ...`, optionally followed by `mikata: hint: ...`, and holds no secret.
    static func expectErrorOutput(_ r: CLIResult, _ what: String, secrets: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        let lines = r.stderrLines
        #expect(lines.count == 1 || lines.count == 2, "\(what): \(lines.count) stderr lines: \(r.stderr)", sourceLocation: sourceLocation)
        #expect(lines.first?.hasPrefix("mikata: error: ") == true, "\(what): \(r.stderr)", sourceLocation: sourceLocation)
        if lines.count == 2 { #expect(lines[1].hasPrefix("mikata: hint: "), "\(what): \(r.stderr)", sourceLocation: sourceLocation) }
        #expect(r.stdout.isEmpty, "\(what): stdout \(r.stdout)", sourceLocation: sourceLocation)
        for s in secrets {
            #expect(!r.stderr.lowercased().contains(s.lowercased()), "\(what): stderr repeats a secret: \(r.stderr)", sourceLocation: sourceLocation)
        }
    }

    // MARK: a. exit codes

    @Test("exit codes: 77 wrong password or unknown e-mail, 66 erased or not found, 64 usage, 65 damaged file, 75 busy; one error line")
    func exitCodes() throws {
        let fx = try CLIFixture()
        try fx.setUp(patient: Self.patient, supporter: Self.nurse)
        let secrets = [Self.patient, Self.nurse.email, CLIFixture.patientPassword, CLIFixture.nursePassword, CLIFixture.wrongPassword,
                       "nobody-4f1d@example.jp"]
        let list = ["record", "list", "--email", Self.patient]
        let cases: [(String, [String], Int32)] = [
            ("wrong password", list + ["--password-file", fx.wrongPasswordFile], 77),
            ("wrong supporter password", list + ["--as-supporter", Self.nurse.email, "--password-file", fx.wrongPasswordFile], 77),
            ("supporter not linked", list + ["--as-supporter", Self.nurse.email, "--password-file", fx.nursePasswordFile], 77),
            // Issue 7 §5: a credentialed command answers an unknown e-mail exactly as a wrong password (was 66).
            ("unknown patient e-mail", ["record", "list", "--email", "nobody-4f1d@example.jp", "--password-file", fx.patientPasswordFile], 77),
            // The supporter to link is not the caller's credential: after the patient's password, "not found".
            ("unknown supporter e-mail", ["grant", "--email", Self.patient, "--supporter", "nobody-4f1d@example.jp", "--password-file", fx.patientPasswordFile], 66),
            ("missing store", list + ["--store", "\(fx.root)/no-such-store", "--password-file", fx.patientPasswordFile], 66),
            ("missing password file", list + ["--password-file", "\(fx.root)/no-such-file"], 66),
            ("no data option", ["record", "add", "--email", Self.patient, "--type", "dose", "--password-file", fx.patientPasswordFile], 64),
            ("data not JSON", ["record", "add", "--email", Self.patient, "--type", "dose", "--data", "{not json", "--password-file", fx.patientPasswordFile], 64),
            ("bad record type", ["record", "add", "--email", Self.patient, "--type", "Bad Type", "--data", "{}", "--password-file", fx.patientPasswordFile], 64),
            ("reserved record type", ["record", "add", "--email", Self.patient, "--type", "mikata.profile", "--data", "{}", "--password-file", fx.patientPasswordFile], 64),
            ("unknown subcommand", ["frobnicate"], 64),
            ("unknown option", list + ["--password-file", fx.patientPasswordFile, "--frobnicate"], 64),
            ("no password and no terminal", list, 64),
            ("two password sources", list + ["--password-file", fx.patientPasswordFile, "--password-stdin"], 64),
            ("not an e-mail address", ["record", "list", "--email", "not-an-address", "--password-file", fx.patientPasswordFile], 64),
        ]
        for (what, arguments, expected) in cases {
            let r = try fx.run(arguments)
            #expect(r.status == expected, "\(what): exit \(r.status), expected \(expected): \(r.stderr)")
            Self.expectErrorOutput(r, what, secrets: secrets)
        }

        // A flipped byte in the records region (inside record 0's ciphertext): 65 for reading and for verify.
        let path = try fx.vaultFile()
        let original = try CLIVaultFile.read(path)
        let recordsOffset = CLIVaultFile.recordsOffset(original)
        #expect(original.count > recordsOffset + 200)
        for offset in [original.count - 40, recordsOffset + 10, recordsOffset + 100] {
            var damaged = original
            damaged[offset] ^= 0x01
            try CLIVaultFile.write(damaged, to: path)
            let read = try fx.run(list + ["--password-file", fx.patientPasswordFile])
            #expect(read.status == 65, "flipped byte at \(offset): record list exited \(read.status): \(read.stderr)")
            Self.expectErrorOutput(read, "damaged record", secrets: secrets)
            let verify = try fx.run(["vault", "verify", "--email", Self.patient, "--password-file", fx.patientPasswordFile])
            #expect(verify.status == 65, "flipped byte at \(offset): vault verify exited \(verify.status)")
            Self.expectErrorOutput(verify, "damaged record (verify)", secrets: secrets)
        }
        // A flipped byte in header copy A: the other copy still reads, verify reports the damage.
        var damaged = original
        damaged[64 + 100] ^= 0x80
        try CLIVaultFile.write(damaged, to: path)
        try fx.ok(list + ["--password-file", fx.patientPasswordFile])
        let verify = try fx.run(["vault", "verify", "--email", Self.patient, "--password-file", fx.patientPasswordFile])
        #expect(verify.status == 65)
        Self.expectErrorOutput(verify, "damaged header copy (verify)", secrets: secrets)
        try CLIVaultFile.write(original, to: path)
        try fx.ok(["vault", "verify", "--email", Self.patient, "--password-file", fx.patientPasswordFile])

        // Damaged or missing store files around the vault: 65 for damage, 66 for what is gone (erased).
        let keyFile = path.replacingOccurrences(of: "/vaults/", with: "/keys/vaults/").replacingOccurrences(of: ".vault", with: ".key")
        let generationFile = keyFile.replacingOccurrences(of: ".key", with: ".gen")
        let accounts = fx.allFiles().filter { $0.hasSuffix(".account") }
        #expect(accounts.count == 1 && FileManager.default.fileExists(atPath: keyFile) && FileManager.default.fileExists(atPath: generationFile))
        let storeFileCases: [(String, String, Bool, [String], Int32)] = [
            ("erasure secret missing", keyFile, true, list + ["--password-file", fx.patientPasswordFile], 66),
            // A live vault's anchor removed is tampering (a shredded vault is refused earlier, as erased).
            ("generation record missing", generationFile, true, list + ["--password-file", fx.patientPasswordFile], 65),
            ("erasure secret damaged", keyFile, false, list + ["--password-file", fx.patientPasswordFile], 65),
            ("generation record damaged", generationFile, false, list + ["--password-file", fx.patientPasswordFile], 65),
            ("supporter account damaged", accounts.first ?? "", false,
             list + ["--as-supporter", Self.nurse.email, "--password-file", fx.nursePasswordFile], 65),
        ]
        for (what, file, remove, arguments, expected) in storeFileCases {
            let saved = try CLIVaultFile.read(file)
            if remove { try FileManager.default.removeItem(atPath: file) } else {
                var damaged = saved
                damaged[damaged.count / 2] ^= 0x04
                try CLIVaultFile.write(damaged, to: file)
            }
            let r = try fx.run(arguments)
            try CLIVaultFile.write(saved, to: file)
            #expect(r.status == expected, "\(what): exit \(r.status), expected \(expected): \(r.stderr)")
            Self.expectErrorOutput(r, what, secrets: secrets)
        }
        try fx.ok(list + ["--password-file", fx.patientPasswordFile])

        // Busy: another process holds the vault's lock for longer than the 10 s lock timeout.
        let fd = open(path, O_RDWR | O_CLOEXEC)
        #expect(fd >= 0)
        defer { close(fd) }
        #expect(flock(fd, LOCK_EX) == 0)
        let busy = try fx.run(list + ["--password-file", fx.patientPasswordFile])
        _ = flock(fd, LOCK_UN)
        #expect(busy.status == 75, "locked vault: exit \(busy.status): \(busy.stderr)")
        Self.expectErrorOutput(busy, "busy", secrets: secrets)
    }

    @Test("a usage error does not echo a stray argument, which may be a password or an e-mail")
    func usageErrorsDoNotEchoArguments() throws {
        let fx = try CLIFixture()
        try fx.setUp(patient: Self.patient)
        // A user who types the password after the options, or a second e-mail where none is expected.
        let r1 = try fx.run(["record", "list", "--email", Self.patient, "--password-file", fx.patientPasswordFile, CLIFixture.patientPassword])
        let r2 = try fx.run(["grant", "--email", Self.patient, "--supporter", Self.nurse.email, "--password-file", fx.patientPasswordFile,
                             "stray-7d2e@example.jp"])
        #expect(r1.status == 64 && r2.status == 64)
        #expect(!r1.stderr.contains(CLIFixture.patientPassword), "\(r1.stderr)")
        #expect(!r2.stderr.contains("stray-7d2e@example.jp"), "\(r2.stderr)")
        Self.expectErrorOutput(r1, "stray password", secrets: [CLIFixture.patientPassword])
        Self.expectErrorOutput(r2, "stray e-mail", secrets: ["stray-7d2e@example.jp"])
        // Option names stay readable.
        let r3 = try fx.run(["record", "list", "--email", Self.patient, "--frobnicate", CLIFixture.patientPassword])
        #expect(r3.status == 64 && r3.stderr.contains("--frobnicate") && !r3.stderr.contains(CLIFixture.patientPassword), "\(r3.stderr)")
    }

    // MARK: b. concurrent appends

    @Test("processes appending at the same moment: all succeed, every record once, seqs contiguous")
    func concurrentAppends() throws {
        let fx = try CLIFixture()
        try fx.setUp(patient: Self.patient)
        let rounds = 10, width = 2
        var reported: [String: Int] = [:]
        for round in 0..<rounds {
            let processes = try (0..<width).map { p in
                try fx.start(["record", "add", "--email", Self.patient, "--type", "dose", "--json",
                              "--data", #"{"marker":"r\#(round)p\#(p)"}"#, "--password-file", fx.patientPasswordFile])
            }
            for (p, process) in processes.enumerated() {
                let r = process.wait()
                #expect(r.status == 0, "round \(round) process \(p): exit \(r.status): \(r.stderr)")
                if r.status == 0, let seq = try r.json()["seq"] as? Int { reported["r\(round)p\(p)"] = seq }
            }
        }
        let records = try fx.listRecords(patient: Self.patient)
        #expect(records.map(\.seq) == Array(1...(rounds * width)), "seqs \(records.map(\.seq))")
        for round in 0..<rounds {
            for p in 0..<width {
                let marker = "r\(round)p\(p)"
                let found = records.filter { $0.data == #"{"marker":"\#(marker)"}"# }
                #expect(found.count == 1, "\(marker) found \(found.count) times")
                #expect(found.first?.seq == reported[marker], "\(marker): reported seq \(reported[marker] ?? -1), listed \(found.first?.seq ?? -1)")
            }
        }
        try fx.ok(["vault", "verify", "--email", Self.patient, "--password-file", fx.patientPasswordFile])
    }

    // MARK: c. SIGKILL during appends

    @Test("appends killed with SIGKILL at random moments: every reported append survives, seqs stay contiguous")
    func killDuringAppends() throws {
        let fx = try CLIFixture()
        try fx.setUp(patient: Self.patient)
        func add(_ marker: String) throws -> CLIProcess {
            try fx.start(["record", "add", "--email", Self.patient, "--type", "dose", "--json",
                          "--data", #"{"marker":"\#(marker)"}"#, "--password-file", fx.patientPasswordFile])
        }
        // Time one append, to spread the kills over a whole run (most of it is Argon2id; the write is short).
        let probe = try add("probe")
        let probeResult = probe.wait()
        #expect(probeResult.status == 0)
        let span = max(probeResult.seconds, 0.05)

        var survived: [String] = ["probe"], killed: [String] = [], failed: [String] = []
        let rounds = 5, width = 4
        for round in 0..<rounds {
            let markers = (0..<width).map { "r\(round)p\($0)" }
            let processes = try markers.map(add)
            // Kill half of them, each after its own random delay within about one append's run time.
            let victims = Array(processes.indices.shuffled().prefix(width / 2))
            let delays = victims.map { ($0, Double.random(in: 0...(1.5 * span))) }.sorted { $0.1 < $1.1 }
            let launched = Date()
            for (index, delay) in delays {
                let wait = delay - Date().timeIntervalSince(launched)
                if wait > 0 { usleep(UInt32(wait * 1_000_000)) }
                processes[index].kill()
            }
            for (index, process) in processes.enumerated() {
                let r = process.wait()
                if r.signaled { killed.append(markers[index]) }
                else if r.status == 0 { survived.append(markers[index]) }
                else { failed.append("\(markers[index]): exit \(r.status) \(r.stderr)") }
            }
        }
        print("kill during appends: \(survived.count) exited 0, \(killed.count) killed, \(failed.count) failed (span \(String(format: "%.0f", span * 1000)) ms)")
        #expect(failed.isEmpty, "\(failed)")

        let records = try fx.listRecords(patient: Self.patient)
        #expect(records.map(\.seq) == Array(1..<(records.count + 1)), "seqs not contiguous: \(records.map(\.seq))")
        for marker in survived {
            #expect(records.filter { $0.data == #"{"marker":"\#(marker)"}"# }.count == 1, "\(marker), reported appended, is not listed exactly once")
        }
        for marker in killed {
            #expect(records.filter { $0.data == #"{"marker":"\#(marker)"}"# }.count <= 1, "\(marker) listed twice")
        }
        #expect(records.count <= survived.count + killed.count)
        try fx.ok(["vault", "verify", "--email", Self.patient, "--password-file", fx.patientPasswordFile])
        // Still appendable after the kills: a torn tail is cut by the next writer.
        try fx.ok(["record", "add", "--email", Self.patient, "--type", "dose", "--data", #"{"marker":"after"}"#, "--password-file", fx.patientPasswordFile])
        #expect(try fx.listRecords(patient: Self.patient).last?.seq == records.count + 1)
        let vaultFolder = (try fx.vaultFile() as NSString).deletingLastPathComponent
        #expect(fx.temporaries().filter { $0.hasPrefix(vaultFolder) }.isEmpty, "\(fx.temporaries())")
    }

    // MARK: d. SIGKILL during a whole-file rewrite

    @Test("revoke --reencrypt killed with SIGKILL at different moments: the vault still lists every record and verifies")
    func killDuringRewrite() throws {
        let fx = try CLIFixture()
        try fx.setUp(patient: Self.patient, supporter: Self.nurse)
        // A few MiB of records, so the re-encryption and its fsync take a noticeable part of the run.
        let blobFile = "\(fx.root)/blob.json"
        for i in 0..<3 {
            let blob = #"{"blob":"\#(String(repeating: "abcdefgh", count: 128 << 10))","i":\#(i)}"#
            try blob.write(toFile: blobFile, atomically: true, encoding: .utf8)
            try fx.ok(["record", "add", "--email", Self.patient, "--type", "blob", "--data-file", blobFile, "--password-file", fx.patientPasswordFile])
        }
        try fx.ok(["record", "add", "--email", Self.patient, "--type", "dose", "--data", #"{"mg":300}"#, "--password-file", fx.patientPasswordFile])
        let expected = try fx.listRecords(patient: Self.patient)
        #expect(expected.count == 4)
        let grant = ["grant", "--email", Self.patient, "--supporter", Self.nurse.email, "--password-file", fx.patientPasswordFile]
        let revoke = ["revoke", "--email", Self.patient, "--supporter", Self.nurse.email, "--reencrypt", "--password-file", fx.patientPasswordFile]

        // Time a grant (start-up, Argon2id, one header commit) and a complete revoke --reencrypt (the same, then the
        // rewrite). Kills land at points spread over the rewrite, and also the moment its temporary file appears
        // (plus 0-6 ms: writing, fsync, rename), which timing alone rarely hits: the temporary lives a few ms.
        let grantSeconds = try fx.ok(grant).seconds
        let full = try fx.ok(revoke)
        let start = 0.9 * grantSeconds, span = max(full.seconds - start, 0.05)
        let vaultFolder = (try fx.vaultFile() as NSString).deletingLastPathComponent
        enum Trigger { case after(Double), onTemporary(microseconds: UInt32) }
        // Under load the poll can miss a temporary's short life: the last trigger repeats (at most 4 more times)
        // until two kills have landed mid-rewrite.
        var triggers: [Trigger] = [0.0, 0.3, 0.6, 0.9].map { .after(start + span * $0) }
            + [0, 1_000, 3_000, 6_000].map { .onTemporary(microseconds: $0) }
        var outcomes: [String] = []
        var strayTemporaries: [String] = []
        var midRewrite = 0
        var retries = 0
        while !triggers.isEmpty {
            let trigger = triggers.removeFirst()
            // Re-link first (idempotent if the last killed revoke never got as far as unlinking).
            try fx.ok(grant)
            let process = try fx.start(revoke)
            let launched = Date()
            var label: String
            switch trigger {
            case .after(let seconds):
                label = "\(Int(seconds * 1000)) ms"
                usleep(UInt32(seconds * 1_000_000))
            case .onTemporary(let extra):
                label = "temporary + \(extra / 1000) ms"
                while process.process.isRunning && Date().timeIntervalSince(launched) < 10 {
                    let names = (try? FileManager.default.contentsOfDirectory(atPath: vaultFolder)) ?? []
                    if names.contains(where: { $0.hasPrefix(".tmp-") }) { usleep(extra); break }
                    usleep(200)
                }
            }
            process.kill()
            let r = process.wait()
            #expect(r.signaled || r.status == 0, "revoke exited \(r.status): \(r.stderr)")
            // A rewrite killed before its rename leaves its temporary beside the vault (its lock died with it) ...
            let left = fx.temporaries().filter { $0.hasPrefix(vaultFolder) }.count
            midRewrite += left > 0 ? 1 : 0
            label += ": " + (r.signaled ? "killed" : "exit \(r.status)") + (left > 0 ? " mid-rewrite" : "")
            outcomes.append(label)

            // ... every record is still there, unchanged ...
            let listed = try fx.listRecords(patient: Self.patient)
            #expect(listed.map(\.seq) == expected.map(\.seq) && listed.map(\.data) == expected.map(\.data), "after a kill (\(label)): \(listed.count) records")
            try fx.ok(["vault", "verify", "--email", Self.patient, "--password-file", fx.patientPasswordFile])
            // ... and the next open removed the temporary.
            let temporaries = fx.temporaries()
            #expect(temporaries.filter { $0.hasPrefix(vaultFolder) }.isEmpty, "left beside the vault: \(temporaries)")
            strayTemporaries += temporaries.filter { !$0.hasPrefix(vaultFolder) }
            if triggers.isEmpty && midRewrite < 2 && retries < 4 { retries += 1; triggers.append(.onTemporary(microseconds: 500)) }
        }
        print("kill during revoke --reencrypt (grant \(Int(grantSeconds * 1000)) ms, full revoke \(Int(full.seconds * 1000)) ms; \(midRewrite) kills mid-rewrite): "
              + outcomes.joined(separator: "; "))
        #expect(midRewrite >= 1, "no kill landed while the rewrite's temporary existed")
        // The supporter can be revoked for good afterwards; the writes of that grant and revoke sweep the folders
        // (key store, links) where a killed run may have left a temporary.
        try fx.ok(grant)
        try fx.ok(revoke)
        try fx.ok(["vault", "verify", "--email", Self.patient, "--password-file", fx.patientPasswordFile])
        #expect(fx.temporaries().isEmpty, "left after the next writes: \(fx.temporaries()); seen between runs: \(Set(strayTemporaries).sorted())")
    }

    // MARK: e. `init`, interrupted or concurrent

    @Test("mikata init is idempotent: after a SIGKILL at any point, and when two run at once")
    func initInterruptedOrConcurrent() throws {
        let fx = try CLIFixture()
        // Killed the moment the lookup key appears, before the store description is written.
        var stuck: [String] = []
        for attempt in 0..<3 {
            let store = "\(fx.root)/killed-\(attempt)"
            let process = try CLIProcess(arguments: ["init", "--store", store], environment: fx.environment, scratch: fx.root)
            let launched = Date()
            while process.process.isRunning && Date().timeIntervalSince(launched) < 10 {
                if FileManager.default.fileExists(atPath: "\(store)/keys/lookup.key") { break }
                usleep(100)
            }
            process.kill()
            _ = process.wait()
            let again = try CLIProcess(arguments: ["init", "--store", store], environment: fx.environment, scratch: fx.root).wait()
            if again.status != 0 { stuck.append("attempt \(attempt): exit \(again.status): \(again.stderr)") }
        }
        // Two at once on a fresh folder.
        var raced: [String] = []
        for attempt in 0..<5 {
            let store = "\(fx.root)/raced-\(attempt)"
            let pair = try (0..<2).map { _ in try CLIProcess(arguments: ["init", "--store", store], environment: fx.environment, scratch: fx.root) }
            for r in pair.map({ $0.wait() }) where r.status != 0 { raced.append("attempt \(attempt): exit \(r.status): \(r.stderr)") }
        }
        print("init: \(stuck.count) of 3 stores stuck after a kill, \(raced.count) of 10 concurrent inits failed")
        do {
            #expect(stuck.isEmpty, "\(stuck)")
            #expect(raced.isEmpty, "\(raced)")
        }
    }

    // MARK: 6. canaries through the CLI

    @Test("no e-mail, nickname, name or record content reaches any file the CLI writes, nor its error output")
    func canaries() throws {
        let fx = try CLIFixture()
        let patient = "canary-mail-7c1e@example.jp", nurse = "canary-nurse-55ab@example.jp"
        try fx.setUp(patient: patient, nickname: "CanaryNick9f2", supporter: (nurse, "CanaryName31d"))
        let pw = ["--password-file", fx.patientPasswordFile]
        try fx.ok(["grant", "--email", patient, "--supporter", nurse] + pw)
        try fx.ok(["record", "add", "--email", patient, "--type", "note", "--data", #"{"text":"CanaryRecord0e4 by the patient"}"#] + pw)
        try fx.ok(["record", "add", "--email", patient, "--type", "message", "--data", #"{"text":"CanaryRecord0e4 from the nurse"}"#,
                   "--as-supporter", nurse, "--password-file", fx.nursePasswordFile])
        let patients = try fx.ok(["supporter", "patients", "--email", nurse, "--password-file", fx.nursePasswordFile, "--json"])
        #expect(patients.stdout.contains("CanaryNick9f2"), "the supporter sees the nickname")
        let before = fx.allFiles().map { ($0, (try? CLIVaultFile.read($0)) ?? []) }
        try fx.ok(["revoke", "--email", patient, "--supporter", nurse, "--reencrypt"] + pw)
        try fx.ok(["record", "add", "--email", patient, "--type", "note", "--data", #"{"text":"CanaryRecord0e4 after"}"#] + pw)
        let listed = try fx.ok(["record", "list", "--email", patient] + pw)
        #expect(listed.stdout.components(separatedBy: "CanaryRecord0e4").count - 1 == 3, "the records hold the canary")
        try fx.ok(["vault", "inspect", "--email", patient])
        try fx.ok(["vault", "verify", "--email", patient] + pw)

        let canaries = [patient, nurse, "canary-mail-7c1e", "canary-nurse-55ab", "CanaryNick9f2", "CanaryName31d", "CanaryRecord0e4"]
        // Failures that involve the e-mail: wrong password, revoked supporter, duplicate patient.
        let failures = [
            try fx.run(["record", "list", "--email", patient, "--password-file", fx.wrongPasswordFile]),
            try fx.run(["record", "list", "--email", patient, "--as-supporter", nurse, "--password-file", fx.nursePasswordFile]),
            try fx.run(["patient", "create", "--email", patient, "--nickname", "CanaryNick9f2"] + pw),
            try fx.run(["supporter", "create", "--email", nurse, "--name", "CanaryName31d", "--password-file", fx.nursePasswordFile]),
        ]
        #expect(failures.map(\.status) == [77, 77, 1, 1])
        for r in failures { Self.expectErrorOutput(r, "failure", secrets: canaries + [CLIFixture.patientPassword, CLIFixture.wrongPassword]) }

        let files = before + fx.allFiles().map { ($0, (try? CLIVaultFile.read($0)) ?? []) }
        #expect(files.count > 10)
        for (path, bytes) in files {
            for c in canaries {
                for form in Set([c, c.lowercased(), c.uppercased()]) {
                    #expect(!path.contains(form), "\(path) names \(form)")
                    #expect(!cliContains(bytes, Array(form.utf8)), "\(path) holds \(form)")
                }
            }
        }
    }
}
