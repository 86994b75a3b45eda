import Foundation
import MikataCrypto
import MikataVault

/// Figures that depend on how many patients a store or a process holds (issue 8, §2): unlocked sessions held in
/// one process, and the CLI's per-command cost on a store of 10,000 patients against one of 10.
extension BenchRun {
    func scaleFigures(_ dir: String) throws {
        let n = options.quick ? 300 : 10_000
        let recordData = "\(dir)/scale-record.json", passwordFile = "\(dir)/scale-password"
        try Data(#"{"drug":"isoniazid","mg":300,"taken":true}"#.utf8).write(to: URL(fileURLWithPath: recordData))
        try Data("bench-password-not-secret\n".utf8).write(to: URL(fileURLWithPath: passwordFile))
        progress("scale: creating a store of 10 patients and one of \(n) (Argon2id at the testing minimum except the measured patient)")
        let small = try scaleStore("\(dir)/scale-10", patients: 10)
        let (build, large) = try timed { try scaleStore("\(dir)/scale-\(n)", patients: n) }
        if options.only.contains("sessions") { try sessionsFigure(large, patients: n) }
        if options.only.contains("scale") {
            try storeSizeFigure(small: "\(dir)/scale-10", large: "\(dir)/scale-\(n)", patients: n, recordData: recordData,
                                passwordFile: passwordFile, buildSeconds: build)
        }
        _ = small
        try? FileManager.default.removeItem(atPath: "\(dir)/scale-10")
        try? FileManager.default.removeItem(atPath: "\(dir)/scale-\(n)")
    }

    /// A store of `patients` patients: `p<i>@scale.invalid` at minimum KDF cost, and `measured@scale.invalid` with
    /// the CLI's INTERACTIVE cost and 100 records of 200 B.
    private func scaleStore(_ root: String, patients: Int) throws -> Store {
        let store = try Store.initialize(at: root).0
        store.kdf = .minimumForTesting
        for i in 0..<(patients - 1) {
            _ = try store.createPatient(email: "p\(i)@scale.invalid", nickname: "P\(i)", password: password)
            if i % 1000 == 999 { progress("scale: \(i + 1) patients in \(root)") }
        }
        store.kdf = .interactive
        _ = try store.createPatient(email: "measured@scale.invalid", nickname: "Measured", password: password)
        store.kdf = .minimumForTesting
        let v = try store.openVault(email: "measured@scale.invalid")
        let s = try v.unlock(password: password)
        for _ in 0..<100 { try v.append(type: "dose", data: jsonBlob(200), session: s) }
        return store
    }

    // MARK: sessions held

    private func sessionsFigure(_ store: Store, patients n: Int) throws {
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max  // each held vault keeps its file open
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        let maxMaps = Int((try? String(contentsOfFile: "/proc/sys/vm/max_map_count", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 65_530
        progress("sessions: unlocking and holding all \(n) vaults in this process")
        let mapsBefore = mappingCount(), rssBefore = residentBytes(), poolBefore = SecretPool.shared.statistics()
        var held: [(Vault, VaultSession)] = []
        held.reserveCapacity(n)
        let unlockAll = try timed {
            for i in 0..<n {
                // The last one is the measured patient (its INTERACTIVE slot adds one full Argon2id).
                let v = try store.openVault(email: i < n - 1 ? "p\(i)@scale.invalid" : "measured@scale.invalid")
                v.audit = nil  // building the figure, not measuring the access log
                held.append((v, try v.unlock(password: password)))
            }
        }
        let maps = mappingCount() - mapsBefore, rss = residentBytes() - rssBefore
        let pool = SecretPool.shared.statistics()
        let count = held.count
        let mapsPerSession = Double(maps) / Double(count)
        let byMappings = mapsPerSession > 0 ? Double(maxMaps - mapsBefore) / mapsPerSession : .infinity
        let fit = byMappings > 1e6 ? "over a million (memory is the limit)" : String(format: "%.0f", byMappings)
        report.goals.append(Row(
            figure: "Unlocked patient sessions held in one process (`openVault` + `unlock`, handle and session kept)",
            measured: "\(count) sessions", baseline: "vm.max_map_count \(maxMaps), \(mapsBefore) mappings before",
            ratio: "", goal: "≥ 10,000", pass: count >= 10_000, samples: "1"))
        report.info.append(Row(
            figure: "Per held session: resident memory, new mappings; guarded memory in slots",
            measured: String(format: "%.1f KiB, %.3f mappings", Double(rss) / Double(count) / 1024, mapsPerSession),
            baseline: String(format: "%.0f B of slots per session (%.1f secrets); %d slabs of %d KiB in all",
                             Double(pool.bytesInUse - poolBefore.bytesInUse) / Double(count),
                             Double(pool.slotsInUse - poolBefore.slotsInUse) / Double(count), pool.slabs, (SecretPool.slabBytes + 64) >> 10),
            ratio: "", goal: "", pass: nil, samples: "\(count)", verdict: "fit by mappings: \(fit)"))
        report.notes.append("Sessions: \(count) patients' vaults opened and unlocked (minimum-cost Argon2id but the measured patient's, access log detached) "
            + "in \(String(format: "%.1f", unlockAll.seconds)) s and all held at once: each `Vault` keeps its file open and its "
            + "erasure secret, each owner session its owner key, signing key and keyring. Mappings are lines of /proc/self/maps, "
            + "resident memory is VmRSS, both before and after; \"fit by mappings\" divides what vm.max_map_count leaves by "
            + "the mappings one session adds. Secrets of up to \(SecretPool.largestSlot) B share guarded slabs (docs/SECURITY.md, "
            + "\"Guarded memory\").")
        withExtendedLifetime(held) {}
    }

    // MARK: the CLI on a large store

    private func storeSizeFigure(small: String, large: String, patients n: Int, recordData: String, passwordFile: String,
                                 buildSeconds: Double) throws {
        let cli = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("mikata").path
        guard FileManager.default.isExecutableFile(atPath: cli) else { throw BenchError.unexpected("no mikata binary beside MikataBench at \(cli)") }
        let email = "measured@scale.invalid"
        let commands: [(String, [String])] = [
            ("vault inspect", ["vault", "inspect", "--email", email]),
            ("record add", ["record", "add", "--email", email, "--type", "dose", "--data-file", recordData, "--password-file", passwordFile]),
            ("record list --json", ["--json", "record", "list", "--email", email, "--password-file", passwordFile]),
        ]
        let rounds = options.quick ? 3 : 15
        progress("scale: \(rounds) rounds of \(commands.map(\.0).joined(separator: ", ")) on each store, alternating")
        for (name, args) in commands {
            var atLarge = Samples(), atSmall = Samples()
            _ = try runCLI(cli, ["--store", small] + args); _ = try runCLI(cli, ["--store", large] + args)  // warm-up
            for r in 0..<rounds {
                if r % 2 == 0 {
                    atSmall.add(try runCLI(cli, ["--store", small] + args)); atLarge.add(try runCLI(cli, ["--store", large] + args))
                } else {
                    atLarge.add(try runCLI(cli, ["--store", large] + args)); atSmall.add(try runCLI(cli, ["--store", small] + args))
                }
            }
            let r = atLarge.median / atSmall.median
            report.goals.append(Row(
                figure: "`mikata \(name)` on a store of \(n) patients (a new process each, as run by hand)",
                measured: ms(atLarge.median), baseline: "\(ms(atSmall.median)) same on a store of 10 patients",
                ratio: ratio(r), goal: "≤ 1.1×", pass: r <= 1.1, samples: "\(atLarge.count) + \(atSmall.count)"))
        }
        report.notes.append("Store size: two stores built with the library (\(n) patients in \(String(format: "%.0f", buildSeconds)) s, "
            + "minimum-cost Argon2id), each with the same measured patient (INTERACTIVE Argon2id, as the CLI makes it, 100 "
            + "records of 200 B). Each sample runs the release `mikata` binary to completion; stores alternate which goes "
            + "first. `record add` and `record list` include one INTERACTIVE Argon2id each, `vault inspect` none.")
    }

    /// Runs the CLI to completion (output discarded) and returns the wall time; a non-zero exit is an error.
    /// One run of the CLI, timed from spawn to exit (`spawnAndWait`: not Foundation's `Process`, whose wait polls
    /// every 50 ms).
    private func runCLI(_ path: String, _ arguments: [String]) throws -> Double {
        var status: Int32 = 0
        let t = try timed { status = try spawnAndWait(path, arguments, stdout: "/dev/null", stderr: "/dev/null").0 }
        guard status == 0 else { throw BenchError.unexpected("mikata \(arguments.joined(separator: " ")) exited \(status)") }
        return t.seconds
    }
}

/// Lines of /proc/self/maps: the process's memory mappings (vm.max_map_count caps them).
func mappingCount() -> Int {
    // Read to the end with read(2): /proc files report a size of 0, and a sized read stops early.
    let fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return -1 }
    defer { close(fd) }
    var lines = 0
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0, errno == EINTR { continue }
        if n <= 0 { return lines }
        for i in 0..<n where buffer[i] == 10 { lines += 1 }
    }
}

/// VmRSS of this process, in bytes.
func residentBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return 0 }
    return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
}
