// Fuzz target "vault" (scripts/fuzz.sh): the input is a whole vault file. Reaches MikataVault's internals through `@testable import`,
// so the internal reader (`Vault.loadHeader`, `Vault.scanRecords`) is called exactly as `mikata` calls it.
import MikataCrypto
import MikataFormat
@testable import MikataVault

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzVaultFile(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Fuzz.bytes(data, size)
    VaultFileFuzz.read(bytes)
    // Checksums stop a byte-mutating fuzzer at the first hash; the repaired twin gets past them to the order,
    // chain, epoch and floor checks (FORMAT.md §5.3). Signatures cannot be repaired: step 2 of `read` skips them.
    let repaired = Fuzz.repairVaultChecksums(bytes)
    if repaired != bytes { VaultFileFuzz.read(repaired) }
    return 0
}

enum VaultFileFuzz {
    /// FORMAT.md §5.6, without keys: what opening a vault (`Vault.init`) and `vault inspect` do.
    static func read(_ bytes: [UInt8]) {
        // 1. The real reader, from a file: preamble, both copies, signatures, the best copy; then the record walk.
        if let file = try? scratchFile(bytes), let loaded = try? Vault.loadHeader(file: file) {
            _ = try? Vault.scanRecords(bytes, preamble: loaded.preamble, state: loaded.state, keyring: nil, keepPayloads: false)
        }
        // 2. The format layer on its own, past the signature check: every copy whose key state parses is used
        //    for a record walk. Parsers are exact, so whatever parses must serialize back to the same bytes.
        guard let preamble = try? Preamble.parse(bytes) else { return }
        Fuzz.invariant(preamble.serialize() == Array(bytes[0..<VaultFormat.preambleLength]), "preamble round trip")
        for i in 0..<2 {
            let start = preamble.headerCopyOffset(i)
            let end = start + preamble.headerCopyLength
            guard end <= bytes.count, let copy = try? HeaderCopy.parse(bytes[start..<end]) else { continue }
            Fuzz.invariant((try? copy.serialize(copyLength: preamble.headerCopyLength)) == Array(bytes[start..<end]), "header copy round trip")
            guard let state = try? KeyState.parse(copy.body) else { continue }
            Fuzz.invariant(state.serialize() == copy.body, "key state round trip")
            _ = try? Vault.scanRecords(bytes, preamble: preamble, state: state, keyring: nil, keepPayloads: false)
        }
        // 3. The writer's O(1) tail lookup (FORMAT.md §5.4): the trailer at the end, then that frame's header.
        //    (Fuzz/FuzzVaultWriter.swift drives the real `currentTail`, which needs the vault's keys.)
        if bytes.count - preamble.recordsOffset >= RecordFrame.minimumLength,
           let length = RecordFrame.lengthFromTrailer(Array(bytes.suffix(RecordFrame.trailerLength))),
           length <= bytes.count - preamble.recordsOffset {
            let head = Array(bytes[(bytes.count - length)..<(bytes.count - length + RecordFrame.headerLength)])
            _ = RecordFrame.seqIfValidHeader(head, length: length)
            _ = try? RecordFrame.scan(Array(bytes.suffix(length)), at: 0)
        }
    }

    static func scratchFile(_ bytes: [UInt8]) throws -> PosixFile {
        let path = Fuzz.scratchPath("vault")
        let file = try PosixFile.open(path, create: true)
        try file.truncate(to: 0)
        try file.write(bytes, at: 0)
        return file
    }
}
