// Fuzz target "backup" (scripts/fuzz.sh): the input is a backup file, checked as `mikata backup verify` does
// before any key is used (FORMAT.md §7.7). Reaches MikataVault's internals through `@testable import`.
import MikataCrypto
@testable import MikataVault

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzBackup(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Fuzz.bytes(data, size)
    BackupFuzz.parse(bytes)
    // The trailing checksum and the signed BLAKE2b-256 gate every field; the repaired twin reaches the parsers.
    let repaired = BackupFuzz.repairHash(bytes)
    if repaired != bytes { BackupFuzz.parse(repaired) }
    return 0
}

enum BackupFuzz {
    static func parse(_ bytes: [UInt8]) {
        if let parsed = try? Backup.parse(bytes, publicKey: nil) { _ = Backup.summary(parsed, bytes: bytes.count) }
    }

    /// The trailer is hash (32), signature (64), checksum (16) (FORMAT.md §7.7): recompute the hash over everything
    /// before it, then the checksum over everything before that.
    static func repairHash(_ input: [UInt8]) -> [UInt8] {
        var b = input
        guard b.count > 8 + 2 + 4 + 1 + 32 + 64 + 16 else { return b }
        let payloadEnd = b.count - 112
        Fuzz.put(Blake2b.hash(Array(b[0..<payloadEnd])), into: &b, at: payloadEnd)
        Fuzz.put(Blake2b.hash(Array(b[0..<(b.count - 16)]), outputLength: 16), into: &b, at: b.count - 16)
        return b
    }
}
