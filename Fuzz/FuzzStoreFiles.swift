// Fuzz target "storefiles" (scripts/fuzz.sh): the input is one of the store's small binary files (FORMAT.md §7),
// or the plaintext of a record or of a supporter account; every parser sees every input.
import MikataCrypto
import MikataFormat

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzStoreFiles(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Fuzz.bytes(data, size)
    StoreFilesFuzz.parseAll(bytes)
    // Every store file ends in BLAKE2b-128 of what precedes it; the repaired twin reaches the field parsers.
    let repaired = StoreFilesFuzz.repairChecksum(bytes)
    if repaired != bytes { StoreFilesFuzz.parseAll(repaired) }
    return 0
}

enum StoreFilesFuzz {
    static func parseAll(_ bytes: [UInt8]) {
        // Parsers are exact: what parses serializes back to the same bytes.
        if let f = try? ErasureSecretFile.parse(bytes) { Fuzz.invariant(f.serialize() == bytes, "erasure secret file round trip") }
        if let f = try? GenerationFile.parse(bytes) { Fuzz.invariant(f.serialize() == bytes, "generation file round trip") }
        if let f = try? LookupEntry.parse(bytes) { Fuzz.invariant(f.serialize() == bytes, "lookup entry round trip") }
        if let f = try? SupporterAccountFile.parse(bytes) {
            Fuzz.invariant(f.serialize() == bytes, "supporter account round trip")
            _ = f.associatedData()
        }
        if let f = try? StoreSecretFile.parse(bytes, as: .lookupKey) { Fuzz.invariant(f.serialize() == bytes, "lookup key file round trip") }
        if let f = try? StoreSecretFile.parse(bytes, as: .signingSeed) { Fuzz.invariant(f.serialize() == bytes, "store signing key file round trip") }
        if let s = try? SupporterSecrets.parse(bytes) { Fuzz.invariant(s.serialize() == bytes, "supporter secrets round trip") }
        if let p = try? RecordPayload.parse(bytes) { Fuzz.invariant(p.serialize() == bytes, "record payload round trip") }
    }

    static func repairChecksum(_ input: [UInt8]) -> [UInt8] {
        var b = input
        guard b.count >= 16 else { return b }
        Fuzz.put(Blake2b.hash(Array(b[0..<(b.count - 16)]), outputLength: 16), into: &b, at: b.count - 16)
        return b
    }
}
