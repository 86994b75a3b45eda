import Foundation
import MikataCrypto

/// The machine a run measured: figures are only comparable on the same hardware, kernel and filesystem.
struct MachineInfo {
    var date: String
    var uname: String
    var cpuModel: String
    var cores: Int
    var memory: String
    var filesystem: String
    var libsodium: String
    var swift: String

    static func collect(benchDirectory: String) -> MachineInfo {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
            .map { $0.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "?" } ?? "unknown"
        let meminfo = (try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8)) ?? ""
        let memTotal = meminfo.split(separator: "\n").first { $0.hasPrefix("MemTotal:") }
            .flatMap { line in line.split(separator: " ").dropFirst().first.flatMap { Double($0) } }
            .map { String(format: "%.1f GiB", $0 / 1024 / 1024) } ?? "unknown"
        return MachineInfo(
            date: ISO8601DateFormatter().string(from: Date()),
            uname: run("/bin/uname", ["-a"]) ?? "unknown",
            cpuModel: model,
            cores: ProcessInfo.processInfo.activeProcessorCount,
            memory: memTotal,
            filesystem: filesystem(of: benchDirectory),
            libsodium: Sodium.version,
            swift: swiftVersion())
    }

    /// The mount holding `path` (longest matching mount point in /proc/mounts), and what statfs reports.
    private static func filesystem(of path: String) -> String {
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
        let mounts = (try? String(contentsOfFile: "/proc/mounts", encoding: .utf8)) ?? ""
        var best: (point: String, type: String, device: String)?
        for line in mounts.split(separator: "\n") {
            let f = line.split(separator: " ").map(String.init)
            guard f.count >= 3 else { continue }
            let point = f[1].replacingOccurrences(of: "\\040", with: " ")
            let inside = point == "/" || absolute == point || absolute.hasPrefix(point + "/")
            if inside, point.count >= (best?.point.count ?? -1) { best = (point, f[2], f[0]) }
        }
        let statType = run("/usr/bin/stat", ["-f", "-c", "%T", path]).map { "; stat -f: \($0)" } ?? ""
        guard let best else { return "unknown\(statType)" }
        return "\(best.type) (\(best.device) on \(best.point)\(statType))"
    }

    private static func swiftVersion() -> String {
        if let line = run("/usr/bin/env", ["swift", "--version"])?.split(separator: "\n").first { return String(line) }
        #if compiler(>=6.3)
        return "compiled with Swift 6.3 or later"
        #else
        return "compiled with Swift before 6.3"
        #endif
    }

    /// Runs a tool and returns its trimmed standard output, or nil if it could not run or failed.
    private static func run(_ tool: String, _ arguments: [String]) -> String? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = arguments
        let out = Pipe()
        p.standardOutput = out
        p.standardError = Pipe()
        do { try p.run() } catch { return nil }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { return nil }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
