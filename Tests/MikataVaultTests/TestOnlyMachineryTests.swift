import Foundation
import Testing
@testable import MikataVault

/// The rule of docs/RELIABILITY.md, "Test-only machinery": crash points and the power-loss simulator exist in debug
/// builds only, armed only from the environment (crash points) or by a test (the simulator); a release build has
/// neither, so no environment variable can make a production binary kill itself or fail on purpose.
@Suite("Test-only machinery")
struct TestOnlyMachineryTests {
    @Test("crash points exist only in debug builds and are armed only by MIKATA_CRASH_AT")
    func crashPointsAreDebugOnly() {
        #if DEBUG
        #expect(CrashPoint.isCompiledIn)
        #expect(CrashPoint.armed == ProcessInfo.processInfo.environment["MIKATA_CRASH_AT"])
        #else
        #expect(!CrashPoint.isCompiledIn)
        #endif
    }

    /// Sources of the production targets: every line that could kill the process, read the crash variable or reach the
    /// power-loss simulator must sit inside an `#if DEBUG` block (the release configuration is checked at compile
    /// time; this keeps the next hook from being added outside one).
    @Test("every self-kill, crash variable and power-loss hook in production sources is inside #if DEBUG")
    func hooksAreInsideDebugBlocks() throws {
        let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources")
        let markers = ["MIKATA_CRASH_AT", "SIGKILL", "kill(", "abort(", "PowerLossSimulator"]
        var checked = 0, outside: [String] = []
        for target in ["MikataCrypto", "MikataFormat", "MikataVault", "mikata"] {
            let dir = sources.appendingPathComponent(target)
            // Every file of the target, in its layer folders too (Engine/, FileBackend/, Testing/, …).
            for name in try FileManager.default.subpathsOfDirectory(atPath: dir.path) where name.hasSuffix(".swift") {
                let text = try String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)
                // The open #if conditions, innermost last; a branch counts as debug-only under "#if DEBUG" or the
                // "#else" of "#if !DEBUG".
                var stack: [(condition: String, inElse: Bool)] = []
                for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                    let line = raw.trimmingCharacters(in: .whitespaces)
                    if line.hasPrefix("#if") { stack.append((line, false)); continue }
                    if line.hasPrefix("#else") || line.hasPrefix("#elseif"), !stack.isEmpty { stack[stack.count - 1].inElse = true; continue }
                    if line.hasPrefix("#endif") { _ = stack.popLast(); continue }
                    if line.hasPrefix("//") { continue }
                    // CrashPoint.hit calls compile to nothing in release; what they call is checked in CrashPoint.swift.
                    guard markers.contains(where: { line.contains($0) }), !line.contains("CrashPoint.hit(") else { continue }
                    checked += 1
                    let debugOnly = stack.contains { ($0.condition == "#if DEBUG" && !$0.inElse) || ($0.condition == "#if !DEBUG" && $0.inElse) }
                    if !debugOnly { outside.append("\(target)/\(name):\(number + 1): \(line)") }
                }
            }
        }
        #expect(checked >= 8, "the scan found too few hooks: has the code moved?")
        #expect(outside.isEmpty, "outside #if DEBUG:\n\(outside.joined(separator: "\n"))")
    }
}
