import Foundation

// Test-only: seeded random operations on a store, killed at random moments; `check` proves that nothing
// acknowledged was lost and that no half-done operation is visible (docs/RELIABILITY.md).
let usage = """
    usage: mikata-torture run --store DIR --journal FILE --seed N [--ops K] [--cover]
           mikata-torture check --store DIR --journal FILE
    """

func options(_ args: ArraySlice<String>) throws -> [String: String] {
    var out: [String: String] = [:]
    var i = args.startIndex
    while i < args.endIndex {
        let key = args[i]
        if key == "--cover" { out["cover"] = "yes"; i += 1; continue }
        guard key.hasPrefix("--"), i + 1 < args.endIndex else { throw TortureError.usage("unexpected argument '\(key)'\n\(usage)") }
        out[String(key.dropFirst(2))] = args[i + 1]
        i += 2
    }
    return out
}

func require(_ o: [String: String], _ key: String) throws -> String {
    guard let v = o[key], !v.isEmpty else { throw TortureError.usage("--\(key) is required\n\(usage)") }
    return v
}

let arguments = CommandLine.arguments
let mode = arguments.count > 1 ? arguments[1] : ""
do {
    let o = try options(arguments.dropFirst(2))
    switch mode {
    case "run":
        guard let seed = UInt64(try require(o, "seed")) else { throw TortureError.usage("--seed takes a number") }
        let ops = try o["ops"].map { s -> Int in
            guard let k = Int(s), k >= 0 else { throw TortureError.usage("--ops takes a number") }
            return k
        }
        let runner = Runner(storePath: try require(o, "store"), journalPath: try require(o, "journal"), seed: seed, ops: ops,
                            cover: o["cover"] != nil)
        print(try runner.run())
    case "check":
        var checker = Checker(storePath: try require(o, "store"), journalPath: try require(o, "journal"))
        let summary = try checker.check()
        for v in checker.violations { print("mikata-torture check: VIOLATION [\(v.kind)] \(v.message)") }
        if checker.violations.isEmpty {
            print("mikata-torture check: ok: \(summary)")
        } else {
            let kinds = Set(checker.violations.map(\.kind)).sorted().joined(separator: ", ")
            print("mikata-torture check: FAILED: \(checker.violations.count) violations (\(kinds)); \(summary)")
            exit(1)
        }
    default:
        throw TortureError.usage(usage)
    }
} catch let e as TortureError {
    if case .usage(let m) = e { FileHandle.standardError.write(Data("mikata-torture: \(m)\n".utf8)); exit(64) }
    print("mikata-torture \(mode): FAILED \(e)")
    exit(2)
} catch {
    print("mikata-torture \(mode): FAILED \(error)")
    exit(2)
}
