import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing

/// An I/O fault strace injects into one syscall.
enum InjectedFault: String, CaseIterable, Sendable {
    case noSpaceOnWrite, ioErrorOnFsync, ioErrorOnFdatasync

    var syscall: String {
        switch self {
        case .noSpaceOnWrite: return "pwrite64"
        case .ioErrorOnFsync: return "fsync"
        case .ioErrorOnFdatasync: return "fdatasync"
        }
    }

    var errnoName: String { self == .noSpaceOnWrite ? "ENOSPC" : "EIO" }
    /// What the one error line must say.
    var messageFragment: String { self == .noSpaceOnWrite ? "no space left on device" : "input/output error" }
}

/// The commands part 3 of the issue puts under fault injection.
enum FaultedCommand: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case recordAdd = "record add"
    case grant
    case revokeReencrypt = "revoke --reencrypt"
    case passwordChange = "password change"
    case shred
    case backupCreate = "backup create"

    var testDescription: String { rawValue }

    /// The access-log action the command's success is recorded under.
    var auditAction: String {
        switch self {
        case .recordAdd: return "append"
        case .grant: return "grant"
        case .revokeReencrypt: return "revoke"
        case .passwordChange: return "password-change"
        case .shred: return "shred"
        case .backupCreate: return "backup-create"
        }
    }
}

/// One store driven through the real `mikata` CLI (INTERACTIVE Argon2id), with the facts the test knows to be
/// acknowledged: the records, the patient's password, whether the supporter is linked.
final class FaultStore {
    static let patient = "patient@io.test"
    static let supporter = "nurse@io.test"

    let scratch: ScratchFolder
    let store: String
    let passwords: [String]
    let supporterPassword: String
    /// Index into `passwords` of the patient's current one.
    var current = 0
    /// The acknowledged records (seq → canonical JSON of the data), excluding the profile.
    var records: [(seq: Int, data: String)] = []
    var tally = ViolationTally()
    var invocations = 0

    init(_ name: String) throws {
        let folder = try ScratchFolder("mikata-io-\(name)")
        scratch = folder
        store = "\(folder.path)/store"
        passwords = try ["Pw-One-3b7f1", "Pw-Two-9c2d4"].enumerated().map { i, pw in
            let path = "\(folder.path)/pw\(i)"
            try (pw + "\n").write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        supporterPassword = "\(folder.path)/spw"
        try "Pw-Nurse-77ad0\n".write(toFile: supporterPassword, atomically: true, encoding: .utf8)
    }

    var password: String { passwords[current] }
    var otherPassword: String { passwords[1 - current] }

    func mikata(_ args: [String]) throws -> SpawnResult {
        invocations += 1
        return try SpawnedProcess.run(TortureBinaries.mikata, args, environment: ["MIKATA_STORE": store], scratch: scratch.path, timeout: 60)
    }

    @discardableResult
    func ok(_ args: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> SpawnResult {
        let r = try mikata(args)
        try #require(r.exitedZero, "mikata \(args.joined(separator: " ")) \(r.outcome): \(r.stderr)", sourceLocation: sourceLocation)
        return r
    }

    /// Runs `mikata args` under strace; returns the result and the trace lines of the injected calls.
    func traced(_ args: [String], strace: String, straceArgs: [String]) throws -> (SpawnResult, trace: [String]) {
        invocations += 1
        let traceFile = "\(scratch.path)/trace-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: traceFile) }
        let r = try SpawnedProcess.run(strace, ["-f", "-qq", "-y", "-o", traceFile] + straceArgs + [TortureBinaries.mikata] + args,
                                       environment: ["MIKATA_STORE": store], scratch: scratch.path, timeout: 60)
        let lines = ((try? String(contentsOfFile: traceFile, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        return (r, lines)
    }

    /// How many calls of each faulted syscall `args` makes (the run is real: it succeeds and changes the store).
    func countCalls(_ args: [String], strace: String) throws -> (SpawnResult, [InjectedFault: Int]) {
        let (r, lines) = try traced(args, strace: strace, straceArgs: ["-e", "trace=" + InjectedFault.allCases.map(\.syscall).joined(separator: ",")])
        var counts: [InjectedFault: Int] = [:]
        for f in InjectedFault.allCases { counts[f] = lines.filter { $0.contains(" \(f.syscall)(") }.count }
        return (r, counts)
    }

    func setUp() throws {
        try ok(["init"])
        try ok(["patient", "create", "--email", Self.patient, "--nickname", "Io", "--password-file", password])
        try ok(["supporter", "create", "--email", Self.supporter, "--name", "Nurse", "--password-file", supporterPassword])
        for _ in 0..<2 { try addRecord() }
    }

    func recordData(_ seq: Int) -> String { "{\"io\":\(seq),\"note\":\"acknowledged before the faults\"}" }

    func addRecord() throws {
        let r = try ok(["record", "add", "--email", Self.patient, "--type", "dose", "--data", recordData(records.count + 1), "--password-file", password, "--json"])
        let seq = try #require(try FaultStore.json(r.stdout)["seq"] as? Int)
        records.append((seq, FaultStore.canonical(recordData(records.count + 1))))
    }

    static func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "not a JSON object: \(text.prefix(200))")
    }

    static func canonical(_ json: String) -> String {
        guard let v = try? JSONSerialization.jsonObject(with: Data(json.utf8), options: [.fragmentsAllowed]) else { return json }
        return canonical(object: v)
    }

    static func canonical(object: Any) -> String {
        let d = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .fragmentsAllowed])) ?? Data()
        return String(decoding: d, as: UTF8.self)
    }

    /// The patient's records (seq, canonical data), or nil with the failed result.
    func listRecords(email: String = FaultStore.patient, password: String? = nil) throws -> ([(seq: Int, data: String)]?, SpawnResult) {
        let r = try mikata(["record", "list", "--email", email, "--password-file", password ?? self.password, "--json"])
        guard r.exitedZero else { return (nil, r) }
        let rows = try #require(try FaultStore.json(r.stdout)["records"] as? [[String: Any]])
        return (rows.map { (($0["seq"] as? Int) ?? -1, FaultStore.canonical(object: $0["data"] ?? NSNull())) }, r)
    }

    func supporterCanRead() throws -> Bool {
        let r = try mikata(["record", "list", "--email", Self.patient, "--as-supporter", Self.supporter, "--password-file", supporterPassword])
        if r.exitedZero { return true }
        if r.status == 77 { return false }
        tally.add(kind: "supporter-half-state", "the supporter's read fails with neither success nor 'not linked' (\(r.outcome)): \(r.stderr)")
        return false
    }

    func auditEntries() throws -> [[String: Any]] {
        let r = try ok(["audit", "show", "--json"])
        return try #require(try FaultStore.json(r.stdout)["entries"] as? [[String: Any]])
    }

    func temporaries() -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: store) else { return [] }
        var found: [String] = []
        while let relative = walker.nextObject() as? String {
            if (relative as NSString).lastPathComponent.hasPrefix(".tmp-") { found.append(relative) }
        }
        return found.sorted()
    }

    /// After a faulted command: every acknowledged record is there in order, `vault verify` passes, and the commands
    /// just run (successful ones) left no temporary anywhere in the store.
    func checkPatientVault(context: String) throws {
        let (list, r) = try listRecords()
        guard let list else {
            tally.add(kind: r.stderr.contains("wrong password") ? "password-half-state" : "vault-unreadable", "\(context): record list \(r.outcome): \(r.stderr)")
            return
        }
        let stored = list
        for (i, want) in records.enumerated() {
            guard i < stored.count else {
                tally.add(kind: "lost-record", "\(context): acknowledged record \(want.seq) is missing (\(stored.count) records listed)")
                break
            }
            if stored[i].seq != want.seq || stored[i].data != want.data {
                tally.add(kind: "record-mismatch", "\(context): record \(i) is seq \(stored[i].seq) \(stored[i].data), expected seq \(want.seq) \(want.data)")
                break
            }
        }
        if stored.count > records.count {
            tally.add(kind: "extra-record", "\(context): \(stored.count - records.count) records beyond the acknowledged ones")
        }
        let v = try mikata(["vault", "verify", "--email", Self.patient, "--password-file", password])
        if !v.exitedZero {
            guard v.stderr.contains("the two header copies differ") else {
                tally.add(kind: "verify-fails", "\(context): vault verify \(v.outcome): \(v.stderr)")
                return
            }
            tally.add(kind: "header-copies-differ", "\(context): vault verify \(v.outcome): \(v.stderr.split(separator: "\n").first ?? "")")
            // The next writer repairs the copies (so the next fault site starts from agreeing copies): check that it does.
            try addRecord()
            let again = try mikata(["vault", "verify", "--email", Self.patient, "--password-file", password])
            if !again.exitedZero { tally.add(kind: "verify-fails", "\(context): vault verify after the next write \(again.outcome): \(again.stderr)") }
        }
        let temps = temporaries()
        if !temps.isEmpty { tally.add(kind: "temporary-left", "\(context): after successful commands, \(temps.joined(separator: ", ")) remain") }
    }
}

/// What a faulted command left behind.
enum FaultEffect {
    /// As before the command.
    case unchanged
    /// The command's change is in effect.
    case applied
    /// A shred stopped after its intent record: the vault refuses to open until the shred is run again.
    case interrupted
}

/// Part 3 of "Reliability and security suite": ENOSPC on every pwrite64 and EIO on every fsync and fdatasync of each
/// write command, one call at a time. A fault must fail the command with one clear error line, lose nothing
/// acknowledged, leave a vault that opens and verifies, no temporary, and no "ok" in the access log.
@Suite("I/O errors: ENOSPC and EIO at every write and sync call site")
struct IOErrorTests {
    /// A call site for the report: the path with ids and temporary names generalised.
    /// The file of an injected call, for the report: relative to the store, ids and temporary names generalised.
    static func site(_ traceLine: String, store: String, scratch: String) -> String {
        guard let open = traceLine.range(of: "<"), let close = traceLine[open.upperBound...].firstIndex(of: ">") else { return traceLine }
        var path = String(traceLine[open.upperBound..<close])
        if path.hasPrefix(store + "/") { path = String(path.dropFirst(store.count + 1)) } else if path == store { path = "<store>" }
        path = path.replacingOccurrences(of: scratch, with: "<beside the store>")
        for (pattern, replacement) in [("[0-9a-f]{32}", "<id>"), ("^(vaults|keys/vaults|index|supporters)/[0-9a-f]{2}", "$1/<ab>"),
                                       ("\\.tmp-[0-9a-f]{16}", ".tmp-*"), ("\\.dat\\.nosync.*", ".dat.nosync* (Foundation's atomic write)")] {
            path = path.replacingOccurrences(of: pattern, with: replacement, options: .regularExpression)
        }
        return path
    }

    @Test("every fault site of one command", .enabled(if: TortureBinaries.strace != nil, "strace is not installed: 'make deps' installs it (apt package strace)"),
          arguments: FaultedCommand.allCases)
    func faultSites(_ command: FaultedCommand) throws {
        let strace = try #require(TortureBinaries.strace)
        let started = Date()
        let s = try FaultStore(command.rawValue.replacingOccurrences(of: " ", with: "-"))
        try s.setUp()
        let keyFile = "\(s.scratch.path)/backup.key"
        switch command {
        case .revokeReencrypt:
            try s.ok(["grant", "--email", FaultStore.patient, "--supporter", FaultStore.supporter, "--password-file", s.password])
        case .backupCreate:
            try s.ok(["backup", "key", "create", "--out", keyFile])
        default:
            break
        }
        var shredTarget = (email: "", vaultId: "", arguments: [String]())
        var backupNumber = 0

        /// The command's arguments for this attempt (shred: a fresh patient with a supporter each time; backup: a new file).
        func arguments() throws -> [String] {
            switch command {
            case .recordAdd:
                return ["record", "add", "--email", FaultStore.patient, "--type", "dose", "--data", s.recordData(s.records.count + 1), "--password-file", s.password]
            case .grant:
                return ["grant", "--email", FaultStore.patient, "--supporter", FaultStore.supporter, "--password-file", s.password]
            case .revokeReencrypt:
                return ["revoke", "--email", FaultStore.patient, "--supporter", FaultStore.supporter, "--reencrypt", "--password-file", s.password]
            case .passwordChange:
                return ["password", "change", "--email", FaultStore.patient, "--password-file", s.password, "--new-password-file", s.otherPassword]
            case .shred:
                backupNumber += 1
                let email = "shred\(backupNumber)@io.test"
                let created = try s.ok(["patient", "create", "--email", email, "--nickname", "Sh", "--password-file", s.password, "--json"])
                try s.ok(["grant", "--email", email, "--supporter", FaultStore.supporter, "--password-file", s.password])
                shredTarget = (email, try #require(try FaultStore.json(created.stdout)["vaultId"] as? String),
                               ["shred", "--email", email, "--reason", "test", "--requested-by", "centre", "--request-ref", "R\(backupNumber)",
                                "--operator", "op1", "--approver", "op2", "--out", "\(s.scratch.path)/cert-\(backupNumber).json"])
                return shredTarget.arguments
            case .backupCreate:
                backupNumber += 1
                return ["backup", "create", "--out", "\(s.scratch.path)/backup-\(backupNumber).bak"]
            }
        }

        /// Finds out what the attempt left, brings the known state up to date and restores the precondition.
        func settle(succeeded: Bool, context: String) throws -> FaultEffect {
            switch command {
            case .recordAdd:
                let (list, _) = try s.listRecords()
                let present = (list?.count ?? 0) > s.records.count
                if present || succeeded {
                    s.records.append((list?.last?.seq ?? s.records.count + 1, FaultStore.canonical(s.recordData(s.records.count + 1))))
                }
                return present ? .applied : .unchanged
            case .grant, .revokeReencrypt:
                let linked = try s.supporterCanRead()
                let applied = command == .grant ? linked : !linked
                if succeeded && !applied { s.tally.add(kind: "success-not-applied", "\(context): the command succeeded but the supporter is \(linked ? "still" : "not") linked") }
                if linked && command == .grant { try s.ok(["revoke", "--email", FaultStore.patient, "--supporter", FaultStore.supporter, "--password-file", s.password]) }
                if !linked && command == .revokeReencrypt { try s.ok(["grant", "--email", FaultStore.patient, "--supporter", FaultStore.supporter, "--password-file", s.password]) }
                return applied ? .applied : .unchanged
            case .passwordChange:
                let (old, _) = try s.listRecords()
                if old != nil {
                    if succeeded { s.tally.add(kind: "old-password-works", "\(context): the change succeeded but the old password still opens the vault") }
                    return .unchanged
                }
                let (new, r) = try s.listRecords(password: s.otherPassword)
                guard new != nil else {
                    s.tally.add(kind: "no-password-works", "\(context): neither the old nor the new password opens the vault: \(r.stderr)")
                    return .unchanged
                }
                s.current = 1 - s.current
                return .applied
            case .shred:
                let (list, r) = try s.listRecords(email: shredTarget.email)
                var effect = FaultEffect.applied
                if list != nil {
                    if succeeded { s.tally.add(kind: "shredded-vault-opens", "\(context): shred succeeded but the vault still opens") }
                    let v = try s.mikata(["vault", "verify", "--email", shredTarget.email, "--password-file", s.password])
                    if !v.exitedZero { s.tally.add(kind: "verify-fails", "\(context): the vault the failed shred left alone fails verify: \(v.stderr)") }
                    effect = .unchanged
                } else if r.stderr.contains("being shredded") {
                    effect = .interrupted
                }
                // The runbook: run the same shred again; it completes (or returns the earlier certificate).
                let again = try s.mikata(shredTarget.arguments)
                if !again.exitedZero { s.tally.add(kind: "shred-not-completable", "\(context): the repeated shred \(again.outcome): \(again.stderr)") }
                if try s.listRecords(email: shredTarget.email).0 != nil { s.tally.add(kind: "shredded-vault-opens", "\(context): after the repeated shred the vault still opens") }
                // Exactly one "shred ok" for the vault, whichever run completed it.
                let oks = try s.auditEntries().filter { ($0["vaultId"] as? String) == shredTarget.vaultId && ($0["action"] as? String) == "shred" && ($0["outcome"] as? String) == "ok" }.count
                if oks == 0 { s.tally.add(kind: "shred-unlogged", "\(context): the shred completed (certificate issued) but the access log has no 'shred ok' entry for the vault, even after the repeated run") }
                if oks > 1 { s.tally.add(kind: "audit-claims", "\(context): \(oks) 'shred ok' entries for one vault") }
                return effect
            case .backupCreate:
                let file = "\(s.scratch.path)/backup-\(backupNumber).bak"
                guard FileManager.default.fileExists(atPath: file) else { return .unchanged }
                let v = try s.mikata(["backup", "verify", file, "--backup-key-file", keyFile])
                if !v.exitedZero { s.tally.add(kind: "backup-invalid", "\(context): the backup file left behind does not verify: \(v.stderr)") }
                return .applied
            }
        }

        // Count the calls: one real, successful run under strace.
        let (counted, counts) = try s.countCalls(try arguments(), strace: strace)
        try #require(counted.exitedZero, "the counting run failed (\(counted.outcome)): \(counted.stderr)")
        _ = try settle(succeeded: true, context: "counting run")

        var sites = 0, failedCleanly = 0, notReached = 0
        var table: [String] = []
        for fault in InjectedFault.allCases {
            let calls = counts[fault] ?? 0
            guard calls > 0 else { continue }
            for n in 1...calls {
                let context = "\(command.rawValue), \(fault.errnoName) on \(fault.syscall) #\(n)"
                let before = try s.auditEntries().count
                let args = try arguments()
                let (r, trace) = try s.traced(args, strace: strace, straceArgs: ["-e", "trace=\(fault.syscall)", "-e", "inject=\(fault.syscall):error=\(fault.errnoName):when=\(n)"])
                guard let hit = trace.first(where: { $0.contains("(INJECTED)") }) else {
                    notReached += 1
                    _ = try settle(succeeded: r.exitedZero, context: context)
                    continue
                }
                sites += 1
                let site = "\(fault.syscall) \(IOErrorTests.site(hit, store: s.store, scratch: s.scratch.path))"
                let errorLines = r.stderr.split(separator: "\n").filter { $0.hasPrefix("mikata: error:") }.map(String.init)
                if r.exitedZero {
                    s.tally.add(kind: "fault-reported-as-success:\(command.rawValue)", "\(context): exit 0 although \(site) failed")
                } else {
                    if errorLines.count != 1 {
                        s.tally.add(kind: "error-lines:\(command.rawValue)", "\(context): \(errorLines.count) 'mikata: error:' lines (\(r.outcome)): \(r.stderr.prefix(400))")
                    } else if !errorLines[0].lowercased().contains(fault.messageFragment) {
                        s.tally.add(kind: "unclear-message:\(command.rawValue)", "\(context): '\(errorLines[0])' does not say '\(fault.messageFragment)'")
                    } else {
                        failedCleanly += 1
                    }
                    // The log must not claim the failed operation — unless the error itself says the operation is
                    // complete and only its clean-up failed (a shred whose intent record could not be removed: the
                    // re-run finishes it without logging it twice; docs/RELIABILITY.md).
                    let new = try s.auditEntries().dropFirst(before)
                    let completeButCleanupFailed = errorLines.first?.contains("is complete") == true
                    if !completeButCleanupFailed,
                       let claim = new.first(where: { ($0["action"] as? String) == command.auditAction && ($0["outcome"] as? String) == "ok" }) {
                        s.tally.add(kind: "ok-logged-for-failed-op:\(command.rawValue)", "\(context): the command failed ('\(errorLines.first ?? "")') but the log has '\(command.auditAction) ok' (\(claim["detail"] ?? ""))")
                    }
                }
                let effect = try settle(succeeded: r.exitedZero, context: context)
                if !r.exitedZero {
                    if effect == .applied && command != .shred {
                        s.tally.add(kind: "failed-but-applied:\(command.rawValue)", "\(context): exit \(r.status) ('\(errorLines.first ?? "")') but the \(command.rawValue) took effect (fault at \(site))")
                    }
                    if effect != .unchanged, let line = errorLines.first, line.contains("nothing was changed") {
                        s.tally.add(kind: "message-claims-nothing-changed", "\(context): '\(line)' although the \(command.rawValue) \(effect == .applied ? "took effect" : "was half done (vault refuses to open)")")
                    }
                }
                table.append("\(fault.errnoName) at \(fault.syscall) #\(n) (\(IOErrorTests.site(hit, store: s.store, scratch: s.scratch.path))): \(r.exitedZero ? "exit 0" : "exit \(r.status)"), \(effect)")
                try s.checkPatientVault(context: context)
            }
        }
        let seconds = Date().timeIntervalSince(started)
        let countText = InjectedFault.allCases.map { "\(counts[$0] ?? 0) \($0.syscall)" }.joined(separator: ", ")
        print("""
            io faults \(command.rawValue): \(sites) fault sites (\(countText)), \(failedCleanly) failed with one clear error line, \
            \(notReached) not reached; \(s.invocations) mikata invocations in \(String(format: "%.1f", seconds)) s; \
            \(s.records.count) acknowledged records kept; violations: \(s.tally.total == 0 ? "none" : s.tally.text)
            """ + table.map { "\n  \($0)" }.joined())
        s.tally.report(of: "faults in \(command.rawValue)")
    }
}
