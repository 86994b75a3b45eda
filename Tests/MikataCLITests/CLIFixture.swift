import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing

/// The built `mikata` executable: beside the test bundle (`swift build --build-tests` puts both in one folder),
/// else `<package>/.build/debug/mikata`.
enum MikataBinary {
    static let path: String = locate()

    private static func locate() -> String {
        let fm = FileManager.default
        var starts: [URL] = []
        if let first = CommandLine.arguments.first { starts.append(URL(fileURLWithPath: first).deletingLastPathComponent()) }
        starts.append(URL(fileURLWithPath: Bundle.main.bundlePath))
        starts.append(URL(fileURLWithPath: Bundle.main.bundlePath).deletingLastPathComponent())
        for start in starts {
            var dir = start.standardizedFileURL
            for _ in 0..<4 {
                let candidate = dir.appendingPathComponent("mikata").path
                var isDirectory: ObjCBool = false
                if fm.fileExists(atPath: candidate, isDirectory: &isDirectory), !isDirectory.boolValue, fm.isExecutableFile(atPath: candidate) {
                    return candidate
                }
                dir = dir.deletingLastPathComponent()
            }
        }
        var root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while root.path != "/" && !fm.fileExists(atPath: root.appendingPathComponent("Package.swift").path) {
            root = root.deletingLastPathComponent()
        }
        return root.appendingPathComponent(".build/debug/mikata").path
    }
}

/// How one `mikata` process ended.
struct CLIResult: Sendable {
    let status: Int32
    /// Ended by a signal (our SIGKILL) rather than by exiting.
    let signaled: Bool
    let stdout: String
    let stderr: String
    let seconds: Double

    var stderrLines: [String] { stderr.split(separator: "\n", omittingEmptySubsequences: true).map(String.init) }

    /// The JSON object printed with `--json`.
    func json() throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any], "stdout is not a JSON object: \(stdout.prefix(200))")
    }
}

/// A `mikata` process started but not yet waited for. Its output goes to files, so a large listing never blocks
/// on a full pipe.
final class CLIProcess {
    let process = Process()
    private let outPath: String
    private let errPath: String
    private let started = Date()

    init(arguments: [String], environment: [String: String], scratch: String) throws {
        let tag = UUID().uuidString
        outPath = "\(scratch)/out-\(tag)"
        errPath = "\(scratch)/err-\(tag)"
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: MikataBinary.path)
        process.arguments = arguments
        process.environment = environment
        // Never a terminal: a missing password must be a usage error, not a prompt.
        process.standardInput = FileHandle(forReadingAtPath: "/dev/null")
        process.standardOutput = FileHandle(forWritingAtPath: outPath)
        process.standardError = FileHandle(forWritingAtPath: errPath)
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }

    func kill() { if process.isRunning { _ = Glibc.kill(pid, SIGKILL) } }

    func wait() -> CLIResult {
        process.waitUntilExit()
        let seconds = Date().timeIntervalSince(started)
        let out = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        let err = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(atPath: outPath)
        try? FileManager.default.removeItem(atPath: errPath)
        return CLIResult(status: process.terminationStatus, signaled: process.terminationReason == .uncaughtSignal,
                         stdout: out, stderr: err, seconds: seconds)
    }
}

/// A scratch folder with a store (via `MIKATA_STORE`) and password files; removed when released.
final class CLIFixture {
    static let patientPassword = "Pw-Patient-8d41e"
    static let nursePassword = "Pw-Nurse-0b93f"
    static let wrongPassword = "Pw-Wrong-5a7c2"

    let root: String
    let store: String
    let patientPasswordFile: String
    let nursePasswordFile: String
    let wrongPasswordFile: String

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("mikata-cli-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        store = "\(root)/store"
        patientPasswordFile = "\(root)/patient.pw"
        nursePasswordFile = "\(root)/nurse.pw"
        wrongPasswordFile = "\(root)/wrong.pw"
        try Self.patientPassword.appending("\n").write(toFile: patientPasswordFile, atomically: true, encoding: .utf8)
        try Self.nursePassword.appending("\n").write(toFile: nursePasswordFile, atomically: true, encoding: .utf8)
        try Self.wrongPassword.appending("\n").write(toFile: wrongPasswordFile, atomically: true, encoding: .utf8)
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    /// Variables added to every command's environment (a test's own settings).
    var extraEnvironment: [String: String] = [:]

    var environment: [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["MIKATA_STORE"] = store
        env.merge(extraEnvironment) { _, new in new }
        return env
    }

    func start(_ arguments: [String]) throws -> CLIProcess {
        try CLIProcess(arguments: arguments, environment: environment, scratch: root)
    }

    func run(_ arguments: [String]) throws -> CLIResult { try start(arguments).wait() }

    /// Runs a command that must succeed.
    @discardableResult
    func ok(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> CLIResult {
        let r = try run(arguments)
        #expect(r.status == 0 && !r.signaled, "mikata \(arguments.joined(separator: " ")) exited \(r.status): \(r.stderr)", sourceLocation: sourceLocation)
        return r
    }

    /// `init` and one patient (and optionally a supporter), through the CLI itself: each costs one INTERACTIVE Argon2id.
    func setUp(patient: String, nickname: String = "Nick", supporter: (email: String, name: String)? = nil) throws {
        try ok(["init"])
        try ok(["patient", "create", "--email", patient, "--nickname", nickname, "--password-file", patientPasswordFile])
        if let supporter {
            try ok(["supporter", "create", "--email", supporter.email, "--name", supporter.name, "--password-file", nursePasswordFile])
        }
    }

    /// `record list --json` as the patient: each record's seq and data (canonicalised JSON text).
    func listRecords(patient: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [(seq: Int, type: String, data: String)] {
        let r = try ok(["record", "list", "--email", patient, "--password-file", patientPasswordFile, "--json"], sourceLocation: sourceLocation)
        guard r.status == 0 else { return [] }
        let rows = try #require(try r.json()["records"] as? [[String: Any]], sourceLocation: sourceLocation)
        return try rows.map { row in
            let seq = try #require(row["seq"] as? Int, sourceLocation: sourceLocation)
            let type = try #require(row["type"] as? String, sourceLocation: sourceLocation)
            let data = try JSONSerialization.data(withJSONObject: row["data"] ?? NSNull(), options: [.sortedKeys, .fragmentsAllowed])
            return (seq, type, String(decoding: data, as: UTF8.self))
        }
    }

    /// The one vault file of the store.
    func vaultFile() throws -> String {
        let files = allFiles().filter { $0.hasSuffix(".vault") }
        return try #require(files.count == 1 ? files[0] : nil, "expected one vault file, found \(files)")
    }

    /// Every regular file under the store.
    func allFiles() -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: store) else { return [] }
        var out: [String] = []
        while let relative = walker.nextObject() as? String {
            let path = "\(store)/\(relative)"
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue { out.append(path) }
        }
        return out.sorted()
    }

    /// Stale temporaries (`.tmp-*`) anywhere in the store.
    func temporaries() -> [String] { allFiles().filter { ($0 as NSString).lastPathComponent.hasPrefix(".tmp-") } }
}

/// Byte surgery on a vault file written by the CLI.
enum CLIVaultFile {
    static func read(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }
    static func write(_ bytes: [UInt8], to path: String) throws { try Data(bytes).write(to: URL(fileURLWithPath: path)) }

    /// Offset of the first record frame: 64-byte preamble, then two header copies of the length stored at byte 12.
    static func recordsOffset(_ bytes: [UInt8]) -> Int {
        let copyLength = bytes[12..<16].reduce(0) { $0 << 8 | Int($1) }
        return 64 + 2 * copyLength
    }
}

/// Whether `needle` occurs in `haystack`.
func cliContains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
    guard !needle.isEmpty, haystack.count >= needle.count else { return needle.isEmpty }
    var i = 0
    while i <= haystack.count - needle.count {
        if haystack[i] == needle[0] && haystack[i..<(i + needle.count)].elementsEqual(needle) { return true }
        i += 1
    }
    return false
}
