// Fuzz target "vaultwriter" (scripts/fuzz.sh): the input is a whole vault file, opened with its keys as
// `mikata record add` / `record list` do: open, unlock with the password, read every record (decrypt, payload,
// author, signature, floor), append one record (the writer's tail lookup, FORMAT.md §5.4, and torn-tail cut),
// read again. Reaches MikataVault's internals through `@testable import`. The seeds (fixtures/fuzz/vaultwriter/) were made with the
// fixed erasure secret and password below and the cheapest Argon2id, so every input unlocks in microseconds.
import MikataCrypto
import MikataFormat
@testable import MikataVault

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzVaultWriter(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Fuzz.bytes(data, size)
    VaultWriterFuzz.readAndAppend(bytes)
    let repaired = Fuzz.repairVaultChecksums(bytes)
    if repaired != bytes { VaultWriterFuzz.readAndAppend(repaired) }
    return 0
}

enum VaultWriterFuzz {
    static let erasureSecret = SecureBytes(copying: [UInt8](repeating: 0x11, count: 32))
    static let password = SecureBytes(copying: Array("fuzz-password".utf8))

    static func readAndAppend(_ bytes: [UInt8]) {
        let path = Fuzz.scratchPath("writer.vault")
        let generationPath = Fuzz.scratchPath("writer.gen")
        // The store's generation record for whatever vault id the preamble names, at 0: no rollback refusal.
        let vaultId = bytes.count >= 32 ? Array(bytes[16..<32]) : [UInt8](repeating: 0, count: 16)
        guard (try? write(bytes, to: path)) != nil,
              (try? write(GenerationFile(vaultId: vaultId, minimumGeneration: 0).serialize(), to: generationPath)) != nil,
              let vault = try? Vault(path: path, erasureSecret: erasureSecret, anchor: VaultAnchor(path: generationPath, vaultId: vaultId, rootKey: nil), lockTimeout: 0),
              let session = try? vault.unlock(password: password)
        else { return }
        let before = try? vault.records(session)
        let seq = try? vault.append(type: "fuzz", data: Array("{}".utf8), timeMillis: 0, session: session)
        let after = try? vault.records(session)
        // A vault that reads cleanly takes an append at the next sequence number, and reads cleanly after it.
        if let before, let seq {
            Fuzz.invariant(seq == UInt64(before.count), "append at seq \(seq) after \(before.count) readable records")
            Fuzz.invariant(after?.count == before.count + 1, "the appended record does not read back (\(after.map { "\($0.count) records" } ?? "read fails"))")
        }
    }

    static func write(_ bytes: [UInt8], to path: String) throws {
        let file = try PosixFile.open(path, create: true)
        try file.truncate(to: 0)
        try file.write(bytes, at: 0)
    }
}
