#if canImport(Glibc)
import Glibc
#endif
import Foundation
import MikataCrypto
import MikataFormat

// Missed-dose notice files (docs/FORMAT.md §7.15, docs/SECURITY.md "Missed-dose notices"): one per vault whose
// patient consented, `notices/<vaultId>`, a JSON document sealed under root subkey 8 with the store id and the vault
// id in the associated data. The store layer only seals, frames, locks and removes; the document's content is the
// service layer's. The folder is not a store folder walks visit (StoreLayout): like `admin/`, it is never in a
// backup, so the supporters' addresses it holds never leave the store's disk.

extension StoreRootKey {
    /// Subkey 8: notice files (FORMAT.md §7.15).
    var noticeKey: SecureBytes { SubkeyDerivation.derive(from: secret, id: 8, context: VaultFormat.Label.rootKDFContext) }
}

extension Store {
    var noticeDirectory: String { "\(root)/notices" }

    private func noticePath(_ vaultId: [UInt8]) -> String { "\(noticeDirectory)/\(vaultId.hex)" }

    /// Whether `vaultId` has a notice file (one `stat`, no lock: appends to vaults without one pay nothing more).
    package func hasNoticeFile(vaultId: [UInt8]) -> Bool { Posix.exists(noticePath(vaultId)) }

    /// The vaults that have a notice file (ids only, from the file names), sorted.
    package func noticeVaultIds() -> [[UInt8]] {
        Posix.list(noticeDirectory).compactMap { name in
            name.hasPrefix(Posix.temporaryPrefix) ? nil : [UInt8](hex: name).flatMap { $0.count == 16 ? $0 : nil }
        }.sorted { $0.hex < $1.hex }
    }

    /// The plaintext of `vaultId`'s notice file (the caller wipes it), nil when there is none.
    /// - Throws: `VaultError.corrupted` (framing), `.tampered` (does not open under the root key for this vault:
    ///   edited, moved from another vault, or from another store), `.io`.
    package func readNoticeFile(vaultId: [UInt8]) throws -> [UInt8]? {
        var st = stat()
        guard PathBytes.withCString(noticeDirectory, { lstat($0, &st) }) == 0 else { return nil }
        try Posix.checkFolder(noticeDirectory, st)
        guard let bytes = try Posix.readFile(noticePath(vaultId)) else { return nil }
        let file = try VaultError.parsing("notice file") { try SealedDocumentFile.parse(bytes, kind: .notices) }
        do {
            return try XChaCha20Poly1305.open(file.ciphertext, key: rootKey.noticeKey, nonce: file.nonce,
                                              ad: SealedDocumentFile.associatedData(storeId: storeId, kind: .notices, subject: vaultId))
        } catch {
            throw VaultError.tampered("a notice file does not open with the store root key (edited, moved, or from another store)")
        }
    }

    /// Reads, changes and rewrites (atomically) `vaultId`'s notice file under the flock of `notices/lock`, so that
    /// processes sharing the store (the server, the CLI's `notices run`) take turns. `body` gets the plaintext (nil
    /// when there is no file) and leaves the new plaintext, or nil to remove the file. Nothing is written when it
    /// leaves the bytes unchanged.
    /// - Throws: what `body` throws; `VaultError.busy` (lock), `.io`, and what `readNoticeFile` throws.
    package func updateNoticeFile<R>(vaultId: [UInt8], _ body: (inout [UInt8]?) throws -> R) throws -> R {
        guard vaultId.count == 16 else { throw VaultError.invalidInput("a vault id is 16 bytes") }
        try Posix.makeDirectories(noticeDirectory)
        let lock = try PosixFile.open("\(noticeDirectory)/lock", create: true)
        try lock.lock(exclusive: true, timeout: lockTimeout)
        defer { lock.unlock() }
        var before = try readNoticeFile(vaultId: vaultId)
        defer { if before != nil { Sodium.wipe(&before!) } }
        var after = before
        defer { if after != nil { Sodium.wipe(&after!) } }
        let result = try body(&after)
        guard after != before else { return result }
        guard let plain = after else {
            try Posix.remove(noticePath(vaultId))
            try Posix.syncDirectory(noticeDirectory)
            return result
        }
        let nonce = Random.bytes(24)
        let ct: [UInt8]
        do {
            ct = try XChaCha20Poly1305.seal(plain, key: rootKey.noticeKey, nonce: nonce,
                                            ad: SealedDocumentFile.associatedData(storeId: storeId, kind: .notices, subject: vaultId))
        } catch let e as CryptoError { throw VaultError.crypto(e, "notice file") }
        // Never write what no reader would open (SealedDocumentFile's bound): the file stays as it was.
        guard ct.count <= SealedDocumentFile.maxCiphertextLength else { throw VaultError.invalidInput("a notice file would exceed its size limit") }
        try Posix.writeAtomically(noticePath(vaultId), SealedDocumentFile(kind: .notices, nonce: nonce, ciphertext: ct).serialize())
        return result
    }

    /// Removes `vaultId`'s notice file, if any (shred, the patient's withdrawal): overwritten, unlinked, folder synced.
    /// - Throws: `VaultError.busy` (lock), `.io`.
    package func removeNoticeFile(vaultId: [UInt8]) throws {
        guard Posix.exists(noticePath(vaultId)) else { return }
        try Posix.makeDirectories(noticeDirectory)
        let lock = try PosixFile.open("\(noticeDirectory)/lock", create: true)
        try lock.lock(exclusive: true, timeout: lockTimeout)
        defer { lock.unlock() }
        _ = try Store.overwriteAndRemove(noticePath(vaultId), lockTimeout: lockTimeout)
    }

    /// Runs `body` holding the flock of `notices/run.lock`: one missed-dose checker at a time across the processes
    /// sharing the store (a second one waits up to `lockTimeout`, then answers busy). Stale temporaries a killed
    /// writer left in `notices/` are swept first (the store-wide sweep does not visit the folder).
    /// - Throws: what `body` throws; `VaultError.busy`, `.io`.
    package func withNoticeRun<R>(_ body: () throws -> R) throws -> R {
        try Posix.makeDirectories(noticeDirectory)
        let lock = try PosixFile.open("\(noticeDirectory)/run.lock", create: true)
        try lock.lock(exclusive: true, timeout: lockTimeout)
        defer { lock.unlock() }
        _ = Posix.removeStaleTemporaries(in: noticeDirectory)
        return try body()
    }
}
