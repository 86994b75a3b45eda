// Fuzz target "audit" (scripts/fuzz.sh): the input is an access log file, audit/log.jsonl. Reaches MikataVault's
// internals through `@testable import`: each line through `AuditLog.parseLine`, the file through `verify()` (the chain walk) and
// `append()` (which reads the log backwards from its end and cuts off a torn last line).
import MikataCrypto
@testable import MikataVault

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAuditLog(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Fuzz.bytes(data, size)
    AuditLogFuzz.parseLines(bytes)
    AuditLogFuzz.walk(bytes)
    return 0
}

enum AuditLogFuzz {
    /// The store id and key scripts/fuzz.sh's seed generator wrote the seed logs with, so their checkpoint and
    /// anchor signatures verify and mutations get past them.
    static let storeId = "fuzz-store"
    static let signing = try! SigningKeyPair.fromSeed(SecureBytes(copying: [UInt8](repeating: 0x5a, count: 32)))

    static func parseLines(_ bytes: [UInt8]) {
        var start = 0
        var number = 1
        for i in bytes.indices where bytes[i] == 10 {
            _ = try? AuditLog.parseLine(Array(bytes[start..<i]), number: number)
            start = i + 1
            number += 1
        }
        if start < bytes.count { _ = try? AuditLog.parseLine(Array(bytes[start...]), number: number) }
    }

    static func walk(_ bytes: [UInt8]) {
        let path = Fuzz.scratchPath("audit.jsonl")
        guard (try? write(bytes, to: path)) != nil else { return }
        let log = AuditLog(path: path, storeId: storeId, signing: signing)
        let valid = (try? log.verify()) != nil
        let appended = (try? log.append(AuditLog.Event(vaultId: [UInt8](repeating: 1, count: 16), actor: "patient", role: "patient",
                                                       action: "read", outcome: "ok", detail: "fuzz"))) != nil
        // An append to a log that verifies leaves a log that verifies.
        if valid && appended { Fuzz.invariant((try? log.verify()) != nil, "the log no longer verifies after an append") }
    }

    static func write(_ bytes: [UInt8], to path: String) throws {
        let file = try PosixFile.open(path, create: true)
        try file.truncate(to: 0)
        try file.write(bytes, at: 0)
    }
}
