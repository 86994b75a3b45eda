import Foundation

// `make bench`: every figure is measured against its physical limit in the same run (BRIEF.md, "Measured limits").
do {
    let options = try BenchOptions.parse(Array(CommandLine.arguments.dropFirst()))
    if options.showHelp {
        print(BenchOptions.usage)
    } else {
        try BenchRun(options: options).run()
    }
} catch {
    FileHandle.standardError.write(Data("MikataBench: \(error)\n".utf8))
    exit(1)
}
