/// Command-line options of MikataBench.
struct BenchOptions {
    static let usage = """
        usage: MikataBench [--out FILE] [--dir DIR] [--quick] [--only LIST]
          --out FILE   also write the report as Markdown (make bench: docs/BENCHMARKS.md)
          --dir DIR    scratch folder for the bench vaults, on the filesystem to measure (default: bench-out);
                       a run-specific subfolder is created there and removed at the end
          --quick      smaller sample counts, for checking that the bench runs (figures are then rough)
          --only LIST  run only these figures, comma-separated: append, read, unlock, revoke, restore, concurrency, reads, sessions, scale, dashboard (partial report)
        """

    var outPath: String?
    var scratchRoot = "bench-out"
    var quick = false
    var showHelp = false
    var only: Set<String> = BenchOptions.figures

    static let figures: Set<String> = ["append", "read", "unlock", "revoke", "restore", "concurrency", "reads", "sessions", "scale", "dashboard"]

    static func parse(_ arguments: [String]) throws -> BenchOptions {
        var o = BenchOptions()
        var i = 0
        func value(_ name: String) throws -> String {
            i += 1
            guard i < arguments.count else { throw BenchError.usage("\(name) needs a value") }
            return arguments[i]
        }
        while i < arguments.count {
            switch arguments[i] {
            case "--out": o.outPath = try value("--out")
            case "--dir": o.scratchRoot = try value("--dir")
            case "--quick": o.quick = true
            case "--only":
                o.only = Set(try value("--only").split(separator: ",").map { String($0) })
                guard o.only.isSubset(of: figures), !o.only.isEmpty else { throw BenchError.usage("--only takes a list of: \(figures.sorted().joined(separator: ", "))") }
            case "-h", "--help": o.showHelp = true
            default: throw BenchError.usage("unknown argument \(arguments[i])\n\(usage)")
            }
            i += 1
        }
        return o
    }
}

/// Sample counts: the full run targets a few minutes on a 2-core VM; `--quick` only checks the plumbing.
struct SampleCounts {
    var appends: Int
    var appendBlock: Int
    var readRecords: Int
    var readPasses: Int
    var unlockRecords: Int
    var unlockPairs: Int
    var bigVaultMiB: Int
    var revokes: Int
    var reencrypts: Int
    var restoreVaults: Int = 10_000

    static let full = SampleCounts(appends: 5000, appendBlock: 10, readRecords: 256, readPasses: 21, unlockRecords: 10_000,
                                   unlockPairs: 31, bigVaultMiB: 100, revokes: 15, reencrypts: 5)
    static let quick = SampleCounts(appends: 200, appendBlock: 10, readRecords: 64, readPasses: 3, unlockRecords: 500,
                                    unlockPairs: 3, bigVaultMiB: 8, revokes: 3, reencrypts: 1, restoreVaults: 200)
}

enum BenchError: Error, CustomStringConvertible {
    case usage(String)
    case io(String)
    case unexpected(String)

    var description: String {
        switch self {
        case .usage(let s): return s
        case .io(let s): return "I/O: \(s)"
        case .unexpected(let s): return "unexpected result: \(s)"
        }
    }
}
