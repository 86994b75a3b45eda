import MikataCrypto
import MikataFormat

/// A vault's rollback anchor in the key store (FORMAT.md §7.2): the lowest header generation the vault may
/// present and, at that generation, its key epoch and record floor, authenticated under the store root key.
/// A header older than the anchor (a revocation undone by copying an old vault file back), an anchor forged or
/// copied from another vault, or a header that disagrees with its anchor at the same generation is tampering.
///
/// Without a root key (format-level tests and the fuzzers only; a store always has one) the anchor is the
/// unauthenticated version-1 `GenerationFile`.
struct VaultAnchor {
    /// Where the anchor is kept (`AnchorRecord`, docs/ARCHITECTURE.md "Storage protocols"), and its name in messages.
    let record: any AnchorRecord
    let path: String
    let vaultId: [UInt8]
    let rootKey: StoreRootKey?

    /// The anchor file at `path` (the local-directory backend).
    init(path: String, vaultId: [UInt8], rootKey: StoreRootKey?) {
        self.init(record: FileAnchorRecord(path: path), vaultId: vaultId, rootKey: rootKey)
    }

    init(record: any AnchorRecord, vaultId: [UInt8], rootKey: StoreRootKey?) {
        self.record = record; self.path = record.name; self.vaultId = vaultId; self.rootKey = rootKey
    }

    /// The anchor's bytes for a key state that is about to be, or has just been, written.
    func serialize(_ s: KeyState) -> [UInt8] {
        guard let rootKey else { return GenerationFile(vaultId: vaultId, minimumGeneration: s.generation).serialize() }
        return rootKey.sign(AnchorFile(vaultId: vaultId, generation: s.generation, epoch: s.currentEpoch.epoch,
                                       recordFloorCount: s.recordFloorCount, recordFloorLink: s.recordFloorLink)).serialize()
    }

    func write(_ s: KeyState) throws { try record.replace(with: serialize(s)) }

    func writeNew(_ s: KeyState) throws { try record.create(serialize(s)) }

    /// Checks a loaded key state against the anchor before anything adopts it.
    /// - Throws: `VaultError.erased` (no anchor), `.tampered` (rolled back, forged, foreign, or disagreeing).
    func check(_ candidate: KeyState) throws {
        guard let bytes = try record.read() else {
            // A shredded vault loses its anchor with its erasure secret, and is refused before this (erased); a vault
            // that is still here without one had it removed.
            throw VaultError.tampered("the vault's anchor (generation record) is missing from the key store: it was removed")
        }
        guard let rootKey else {
            let g = try VaultError.parsing("generation file") { try GenerationFile.parse(bytes) }
            guard g.vaultId == vaultId else { throw VaultError.corrupted("generation file belongs to another vault") }
            guard candidate.generation >= g.minimumGeneration else { throw rolledBack(candidate.generation, g.minimumGeneration) }
            return
        }
        let a = try VaultError.parsing("vault anchor") { try AnchorFile.parse(bytes) }
        guard rootKey.isAuthentic(a) else {
            throw VaultError.tampered("the vault's anchor is not authenticated by the store root key (forged, or an old-format record put back)")
        }
        guard a.vaultId == vaultId else { throw VaultError.tampered("the vault's anchor belongs to another vault") }
        guard candidate.generation >= a.generation else { throw rolledBack(candidate.generation, a.generation) }
        if candidate.generation == a.generation {
            guard candidate.currentEpoch.epoch == a.epoch, candidate.recordFloorCount == a.recordFloorCount,
                  candidate.recordFloorLink == a.recordFloorLink else {
                throw VaultError.tampered("the vault header disagrees with its anchor at generation \(a.generation) (key epoch or record floor changed)")
            }
        }
    }

    private func rolledBack(_ have: UInt64, _ floor: UInt64) -> VaultError {
        .tampered("the vault header (generation \(have)) is older than the store's anchor (\(floor)): it was rolled back")
    }
}
