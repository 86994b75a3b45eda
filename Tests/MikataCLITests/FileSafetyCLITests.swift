import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing

/// Issue 7 §3 through the `mikata` executable: hostile entries in a store never hang a command or reach outside
/// it, `--out` never replaces or sweeps, `init` never adopts a planted folder, and paths are bytes. Every command
/// runs under a watchdog (SpawnedProcess kills it after `watchdog` seconds): a hang is a failed expectation, not a
/// stuck test run, and no test measures time.
@Suite("CLI file safety")
struct FileSafetyCLITests {
    static let patient = "fs-patient-51c2@example.jp"
    static let watchdog = 120.0
    static let canaryBytes = Data("canary: must never change".utf8)

    /// Runs `mikata` with the fixture's store under the watchdog.
    static func run(_ fx: CLIFixture, _ arguments: [String]) throws -> SpawnResult {
        try SpawnedProcess.run(MikataBinary.path, arguments, environment: ["MIKATA_STORE": fx.store], scratch: fx.root, timeout: watchdog)
    }

    static func canary(_ fx: CLIFixture) throws -> String {
        let path = "\(fx.root)/canary"
        if !FileManager.default.fileExists(atPath: path) { try canaryBytes.write(to: URL(fileURLWithPath: path)) }
        return path
    }

    static func intact(_ path: String) -> Bool { (try? Data(contentsOf: URL(fileURLWithPath: path))) == canaryBytes }

    static func shard(_ fx: CLIFixture, _ folder: String) throws -> String {
        let names = try FileManager.default.contentsOfDirectory(atPath: "\(fx.store)/\(folder)").filter { $0.count == 2 }
        return "\(fx.store)/\(folder)/\(try #require(names.first, "no shard in \(folder)"))"
    }

    @Test("a .tmp-* link to a file outside the store is never followed: the file survives every command")
    func temporaryLinksNeverFollowed() throws {
        let fx = try CLIFixture()
        try fx.setUp(patient: Self.patient)
        let canary = try Self.canary(fx)
        let folders = [fx.store, "\(fx.store)/keys", "\(fx.store)/audit", try Self.shard(fx, "keys/vaults"), try Self.shard(fx, "vaults"),
                       try Self.shard(fx, "index")]
        for (i, folder) in folders.enumerated() {
            try FileManager.default.createSymbolicLink(atPath: "\(folder)/.tmp-x\(i)", withDestinationPath: canary)
        }
        let pw = ["--password-file", fx.patientPasswordFile]
        for arguments in [["audit", "verify"], ["record", "add", "--email", Self.patient, "--type", "dose", "--data", "{\"mg\":1}"] + pw,
                          ["record", "list", "--email", Self.patient] + pw, ["vault", "verify", "--email", Self.patient] + pw,
                          ["vault", "inspect", "--email", Self.patient], ["backup", "key", "create", "--out", "\(fx.root)/backup.key"],
                          ["backup", "create", "--out", "\(fx.root)/store.bak"], ["audit", "verify"]] {
            let r = try Self.run(fx, arguments)
            #expect(r.status == 0 && r.signal == 0 && !r.timedOut, "\(arguments.prefix(2)): \(r.stderr)")
            #expect(Self.intact(canary), "\(arguments.prefix(2)) changed the file behind a .tmp- link")
        }
        for (i, folder) in folders.enumerated() { #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: "\(folder)/.tmp-x\(i)")) == canary) }
    }

    /// What someone put into the store.
    enum Intruder: String, CaseIterable, CustomTestStringConvertible {
        case fifo, device, linkLoop, folder
        var testDescription: String { rawValue }

        func plant(at path: String) throws {
            try? FileManager.default.removeItem(atPath: path)
            switch self {
            case .fifo: #expect(mkfifo(path, 0o600) == 0)
            case .device: #expect(mknod(path, S_IFCHR | 0o600, 0x0103) == 0)  // 1:3, like /dev/null
            case .linkLoop: try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: path)
            case .folder: try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
            }
        }
    }

    /// Where it was put, and the command that must then fail (65) rather than hang.
    enum Place: String, CaseIterable, CustomTestStringConvertible {
        case vaultFile, lookupEntry, lookupKey, accessLog, temporary
        var testDescription: String { rawValue }
    }

    @Test("a FIFO, device, link loop or folder named like a store file never hangs a command", arguments: Intruder.allCases, Place.allCases)
    func hostileEntriesNeverHang(_ intruder: Intruder, _ place: Place) throws {
        guard intruder != .device || geteuid() == 0 else { return }
        let fx = try CLIFixture()
        try fx.setUp(patient: Self.patient)
        let path: String
        switch place {
        case .vaultFile: path = try fx.vaultFile()
        case .lookupEntry: path = try #require(fx.allFiles().first { $0.contains("/index/") })
        case .lookupKey: path = "\(fx.store)/keys/lookup.key"
        case .accessLog: path = "\(fx.store)/audit/log.jsonl"
        case .temporary: path = "\(try Self.shard(fx, "vaults"))/.tmp-0123456789abcdef"
        }
        try intruder.plant(at: path)
        let list = ["record", "list", "--email", Self.patient, "--password-file", fx.patientPasswordFile]
        let commands = [list, ["vault", "inspect", "--email", Self.patient], ["audit", "verify"], ["backup", "key", "create", "--out", "\(fx.root)/k"]]
        for arguments in commands {
            let r = try Self.run(fx, arguments)
            #expect(!r.timedOut && r.signal == 0, "\(intruder) at \(place): \(arguments.prefix(2)) hung or crashed")
            #expect(r.stdout.isEmpty || r.status == 0)
            let mustFail = switch place {
            case .vaultFile, .lookupEntry: arguments == list || arguments[0] == "vault"
            case .lookupKey: true
            case .accessLog: arguments[0] == "audit"
            case .temporary: false
            }
            if mustFail { #expect(r.status == 65, "\(intruder) at \(place): \(arguments.prefix(2)) exited \(r.status): \(r.stderr)") }
            if place == .temporary { #expect(r.status == 0, "\(arguments.prefix(2)) exited \(r.status): \(r.stderr)") }
        }
        #expect(FileManager.default.fileExists(atPath: path) || (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) != nil,
                "the \(intruder) was removed")
    }

    /// What is already at an --out path.
    enum Existing: String, CaseIterable, CustomTestStringConvertible {
        case file, linkToCanary, danglingLink
        var testDescription: String { rawValue }
    }

    @Test("--out never replaces or follows what is there (backup, backup key, shred certificate)", arguments: Existing.allCases)
    func outNeverReplaces(_ existing: Existing) throws {
        let fx = try CLIFixture()
        try fx.setUp(patient: Self.patient)
        let canary = try Self.canary(fx)
        try #require(try Self.run(fx, ["backup", "key", "create", "--out", "\(fx.root)/backup.key"]).status == 0)
        let out = "\(fx.root)/out"
        let mine = Data("my own file".utf8)
        switch existing {
        case .file: try mine.write(to: URL(fileURLWithPath: out))
        case .linkToCanary: try FileManager.default.createSymbolicLink(atPath: out, withDestinationPath: canary)
        case .danglingLink: try FileManager.default.createSymbolicLink(atPath: out, withDestinationPath: "\(fx.root)/nothing-here")
        }
        let shred = ["shred", "--email", Self.patient, "--reason", "test", "--requested-by", "centre", "--request-ref", "R1", "--operator", "op1", "--out", out]
        for arguments in [["backup", "create", "--out", out], ["backup", "key", "create", "--out", out], shred] {
            let r = try Self.run(fx, arguments)
            #expect(r.status == 1 && !r.timedOut, "\(arguments.prefix(2)) onto an existing \(existing): exit \(r.status): \(r.stderr)")
            #expect(r.stderr.contains("exists already"), "\(r.stderr)")
            #expect(Self.intact(canary))
            #expect(!FileManager.default.fileExists(atPath: "\(fx.root)/nothing-here"))
            if existing == .file { #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == mine) }
        }
        // The shred completed; a new --out gets its certificate.
        let again = try Self.run(fx, Array(shred.dropLast()) + ["\(fx.root)/cert.json"])
        #expect(again.status == 0, "\(again.stderr)")
    }

    @Test("writing --out leaves other .tmp-* files in its folder alone")
    func outLeavesNeighbours() throws {
        let fx = try CLIFixture()
        try fx.setUp(patient: Self.patient)
        let neighbour = "\(fx.root)/.tmp-someone-elses"
        try Self.canaryBytes.write(to: URL(fileURLWithPath: neighbour))
        #expect(try Self.run(fx, ["backup", "key", "create", "--out", "\(fx.root)/backup.key"]).status == 0)
        #expect(try Self.run(fx, ["backup", "create", "--out", "\(fx.root)/store.bak"]).status == 0)
        #expect(Self.intact(neighbour))
    }

    @Test("init refuses a 0777 folder of another user with planted keys, and keeps none of them", .enabled(if: geteuid() == 0))
    func initRefusesPlantedFolder() throws {
        let fx = try CLIFixture()
        let keys = "\(fx.store)/keys"
        try FileManager.default.createDirectory(atPath: keys, withIntermediateDirectories: true)
        for name in ["lookup.key", "store-signing.key"] { try Self.canaryBytes.write(to: URL(fileURLWithPath: "\(keys)/\(name)")) }
        for path in [fx.store, keys, "\(keys)/lookup.key", "\(keys)/store-signing.key"] {
            chmod(path, 0o777)
            chown(path, 65534, 65534)
        }
        let r = try Self.run(fx, ["init"])
        #expect(r.status == 77, "init exited \(r.status): \(r.stderr)")
        #expect(r.stderr.hasPrefix("mikata: error: "))
        #expect(!FileManager.default.fileExists(atPath: "\(fx.store)/mikata-store.json"))
        #expect(Self.intact("\(keys)/lookup.key") && Self.intact("\(keys)/store-signing.key"))
        #expect(try Self.run(fx, ["audit", "verify"]).status == 77)
    }

    // MARK: paths are bytes

    /// Runs `mikata` with argv given as raw bytes (Foundation's Process only takes valid UTF-8).
    static func runRaw(_ arguments: [[UInt8]], environment: [(String, [UInt8])] = [], scratch: String) throws -> SpawnResult {
        let outPath = "\(scratch)/.raw-out", errPath = "\(scratch)/.raw-err"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        func cString(_ bytes: [UInt8]) -> UnsafeMutablePointer<CChar>? {
            let p = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count + 1)
            for (i, b) in bytes.enumerated() { p[i] = CChar(bitPattern: b) }
            p[bytes.count] = 0
            return p
        }
        var env = ProcessInfo.processInfo.environment.filter { $0.key != "MIKATA_STORE" }.map { Array("\($0.key)=\($0.value)".utf8) }
        env += environment.map { Array("\($0.0)=".utf8) + $0.1 }
        let argv = ([Array(MikataBinary.path.utf8)] + arguments).map(cString) + [nil]
        let envp = env.map(cString) + [nil]
        defer { (argv + envp).forEach { $0?.deallocate() } }
        var child: pid_t = 0
        let rc = posix_spawn(&child, MikataBinary.path, &actions, nil, argv, envp)
        try #require(rc == 0)
        var status: Int32 = 0
        while waitpid(child, &status, 0) < 0 && errno == EINTR {}
        let out = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        let err = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        return SpawnResult(status: (status >> 8) & 0xff, signal: status & 0x7f, stdout: out, stderr: err, seconds: 0, timedOut: false)
    }

    @Test("a store and a password file whose names are not UTF-8 are used at exactly those names, end to end")
    func nonUTF8Paths() throws {
        let fx = try CLIFixture()
        let root = Array(fx.root.utf8)
        let store = root + Array("/st".utf8) + [0xFF, 0xFE] + Array("ore".utf8)
        let passwordFile = root + Array("/pass".utf8) + [0xE9] + Array(".pw".utf8)  // Latin-1 é: not UTF-8
        let cPath = (passwordFile + [0]).map { CChar(bitPattern: $0) }
        let wfd = cPath.withUnsafeBufferPointer { Glibc.open($0.baseAddress!, O_WRONLY | O_CREAT | O_EXCL, 0o600) }
        try #require(wfd >= 0)
        let password = Array("Pw-Bytes-7c1e\n".utf8)
        _ = password.withUnsafeBytes { write(wfd, $0.baseAddress, $0.count) }
        close(wfd)
        func a(_ s: String) -> [UInt8] { Array(s.utf8) }
        var r = try Self.runRaw([a("init"), a("--store"), store], scratch: fx.root)
        #expect(r.status == 0, "init: \(r.stderr)")
        r = try Self.runRaw([a("patient"), a("create"), a("--store"), store, a("--email"), a(Self.patient), a("--nickname"), a("B"),
                             a("--password-file"), passwordFile], scratch: fx.root)
        #expect(r.status == 0, "patient create: \(r.stderr)")
        r = try Self.runRaw([a("record"), a("add"), a("--email"), a(Self.patient), a("--type"), a("dose"), a("--data"), a("{\"mg\":417}"),
                             a("--password-file"), passwordFile], environment: [("MIKATA_STORE", store)], scratch: fx.root)
        #expect(r.status == 0, "record add (store from the environment): \(r.stderr)")
        r = try Self.runRaw([a("record"), a("list"), a("--store"), store, a("--email"), a(Self.patient), a("--password-file"), passwordFile, a("--json")],
                            scratch: fx.root)
        #expect(r.status == 0 && r.stdout.contains("417"), "record list: \(r.stderr)")
        // On disk: exactly the given bytes, and no repaired (U+FFFD) twin.
        var names: [[UInt8]] = []
        if let d = opendir(fx.root) {
            while let e = readdir(d) {
                names.append(withUnsafePointer(to: e.pointee.d_name) { p in
                    p.withMemoryRebound(to: UInt8.self, capacity: 256) { Array(UnsafeBufferPointer(start: $0, count: strlen(UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)))) }
                })
            }
            closedir(d)
        }
        #expect(names.contains(Array(store.dropFirst(root.count + 1))))
        #expect(!names.contains { cliContains($0, [0xEF, 0xBF, 0xBD]) })
    }
}
