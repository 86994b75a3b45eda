// Shared by every libFuzzer target in this folder (built by scripts/fuzz.sh, not by SwiftPM).
#if canImport(Glibc)
import Glibc
#endif
import MikataCrypto
import MikataFormat

/// Helpers for the fuzz targets: input conversion, deliberate failures on broken invariants, big-endian fields,
/// and a per-process scratch path for the targets that go through files.
enum Fuzz {
    static func bytes(_ data: UnsafePointer<UInt8>, _ size: Int) -> [UInt8] {
        Array(UnsafeBufferPointer(start: data, count: size))
    }

    /// A broken invariant (a round trip that changes bytes, a canonical form that is not a fixed point) is a bug
    /// even though nothing trapped: stop here so libFuzzer saves the input as a crash.
    static func invariant(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition { fatalError("fuzz invariant broken: \(message())") }
    }

    static func u32(_ b: [UInt8], _ offset: Int) -> UInt32 {
        b[offset..<(offset + 4)].reduce(0) { $0 << 8 | UInt32($1) }
    }

    static func u64(_ b: [UInt8], _ offset: Int) -> UInt64 {
        b[offset..<(offset + 8)].reduce(0) { $0 << 8 | UInt64($1) }
    }

    static func put(_ value: [UInt8], into b: inout [UInt8], at offset: Int) {
        b.replaceSubrange(offset..<(offset + value.count), with: value)
    }

    /// A file path private to this process: `$MIKATA_FUZZ_SCRATCH` (scripts/fuzz.sh points it at /dev/shm) or /tmp.
    static func scratchPath(_ name: String) -> String {
        let dir = getenv("MIKATA_FUZZ_SCRATCH").map { String(cString: $0) } ?? "/tmp"
        return "\(dir)/mikata-fuzz-\(getpid())-\(name)"
    }

    /// Vault files (targets "vault" and "vaultwriter"): recomputes what a byte-mutating fuzzer cannot guess, so
    /// mutations get past the checksums to the checks behind them. Sets the preamble checksum; walks the frames from
    /// the first, setting each one's prevLink (the chain as the frames stand) and headerCheck; sets the headerCheck
    /// of the frame the trailer at the end of the file names (the writer's O(1) tail, FORMAT.md §5.4); sets each
    /// copy's recordFloorLink (when the floor names a frame present) and checksum. Everything else, including seq,
    /// epoch, kind and lengths, stays as mutated. Signatures cannot be repaired.
    /// MikataVaultTests/FuzzRegressionVaultTests.swift has a copy: keep the two in step.
    static func repairVaultChecksums(_ input: [UInt8]) -> [UInt8] {
        var b = input
        guard b.count >= VaultFormat.preambleLength, Array(b[0..<8]) == Preamble.magic else { return b }
        put(Blake2b.hash(Array(b[0..<48]), outputLength: 16), into: &b, at: 48)
        let copyLength = Int(u32(b, 12))
        guard copyLength >= VaultFormat.headerCopyLengthMin, copyLength <= VaultFormat.headerCopyLengthMax,
              copyLength % VaultFormat.headerCopyAlignment == 0, b.count >= 64 + 2 * copyLength
        else { return b }
        // links[i]: the prevLink frame i must carry; links[0] is the genesis link.
        var links = [VaultFormat.genesisLink(vaultId: Array(b[16..<32]))]
        var offset = 64 + 2 * copyLength
        while offset + RecordFrame.headerLength <= b.count, Array(b[offset..<(offset + 4)]) == RecordFrame.magic {
            put(links[links.count - 1], into: &b, at: offset + 24)
            put(Blake2b.hash(Array(b[offset..<(offset + 56)]), outputLength: 16), into: &b, at: offset + 56)
            let length = Int(u32(b, offset + 4))
            guard length >= RecordFrame.minimumLength, length <= b.count - offset else { break }
            let end = offset + length
            links.append(VaultFormat.link(fixedHeader: b[offset..<(offset + 56)], tag: b[(end - 24)..<(end - 8)]))
            offset = end
        }
        let records = 64 + 2 * copyLength
        if b.count - records >= RecordFrame.minimumLength,
           let length = RecordFrame.lengthFromTrailer(Array(b.suffix(RecordFrame.trailerLength))), length <= b.count - records {
            let last = b.count - length
            if Array(b[last..<(last + 4)]) == RecordFrame.magic {
                put(Blake2b.hash(Array(b[last..<(last + 56)]), outputLength: 16), into: &b, at: last + 56)
            }
        }
        for i in 0..<2 {
            let copy = 64 + i * copyLength
            // The key state starts at copy + 16: recordFloorCount at its byte 144, recordFloorLink at 152 (FORMAT.md §4).
            if Int(u32(b, copy + 12)) >= 184 {
                let floor = u64(b, copy + 16 + 144)
                if floor < UInt64(links.count) { put(links[Int(floor)], into: &b, at: copy + 16 + 152) }
            }
            put(Blake2b.hash(Array(b[copy..<(copy + copyLength - 32)]), outputLength: 32), into: &b, at: copy + copyLength - 32)
        }
        return b
    }
}
