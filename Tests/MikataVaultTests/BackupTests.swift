import Foundation
import MikataCrypto
import MikataFormat
@testable import MikataVault
import Testing

/// A store with three patients (one with a supporter), a backup key, and a folder outside the store for the key,
/// backups and restore targets. Removed when released.
final class BackupFixture {
    static let patients = [("ayumi@example.jp", "ayumi-pw"), ("bunta@example.jp", "bunta-pw"), ("chika@example.jp", "chika-pw")]

    let scratch: Scratch
    let outside: String
    var store: Store { scratch.store }
    var keyFile: String { "\(outside)/backup.key" }

    init(withKey: Bool = true) throws {
        scratch = try Scratch()
        outside = ShredKit.temporaryPath("backup-out")
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        for (i, (email, password)) in Self.patients.enumerated() {
            let (vault, _) = try scratch.patient(email, password: password)
            let session = try vault.unlock(password: pw(password))
            for n in 0...i { try vault.append(type: "dose", data: json(#"{"patient":\#(i),"n":\#(n)}"#), session: session) }
        }
        let (keys, _) = try scratch.supporter("nurse@example.jp", password: "nurse-pw")
        let vault = try store.openVault(email: Self.patients[0].0)
        try vault.grant(keys, session: try vault.unlock(password: pw(Self.patients[0].1)))
        try store.recordLink(supporterId: keys.id, vaultId: vault.vaultId)
        if withKey { _ = try Backup.createKey(store: store, secretKeyOut: keyFile) }
    }

    deinit { ShredKit.cleanup(outside) }

    func path(_ name: String) -> String { "\(outside)/\(name)" }

    func records(in store: Store, email: String, password: String) throws -> [Record] {
        let vault = try store.openVault(email: email)
        return try vault.records(try vault.unlock(password: pw(password)))
    }

    func allRecords(in store: Store) throws -> [[Record]] {
        try Self.patients.map { try records(in: store, email: $0.0, password: $0.1) }
    }
}

@Suite("Backup")
struct BackupTests {
    @Test("a backup needs a backup key; it verifies, restores every vault and record, and keeps every secret sealed")
    func roundTrip() throws {
        let f = try BackupFixture(withKey: false)
        #expect(failureClass { _ = try Backup.create(store: f.store, out: f.path("no-key.mkb")) } == "not-found")
        #expect(!ShredKit.exists(f.path("no-key.mkb")))
        let keyId = try Backup.createKey(store: f.store, secretKeyOut: f.keyFile)
        #expect(failureClass { _ = try Backup.createKey(store: f.store, secretKeyOut: f.keyFile) } == "already-exists")
        let original = try f.allRecords(in: f.store)

        let summary = try Backup.create(store: f.store, out: f.path("full.mkb"))
        #expect(summary.vaults == 3 && summary.backupKeyId == keyId && summary.storeId == f.store.storeId)
        #expect(failureClass { _ = try Backup.create(store: f.store, out: f.path("full.mkb")) } == "already-exists")
        let key = try Backup.readSecretKey(path: f.keyFile)
        let checked = try Backup.verify(path: f.path("full.mkb"), backupKey: key)
        #expect(checked.vaults == 3 && checked.files == summary.files && checked.storeId == f.store.storeId)
        _ = try Backup.verify(path: f.path("full.mkb"), backupKey: nil, publicKey: try f.store.signingKey().publicKey)
        #expect(failureClass { _ = try Backup.verify(path: f.path("missing.mkb"), backupKey: nil, publicKey: try f.store.signingKey().publicKey) } == "not-found")

        let target = f.path("restored")
        let restoredSummary = try Backup.restore(path: f.path("full.mkb"), into: target, backupKey: key, tombstones: .noneExists)
        #expect(restoredSummary.vaults == 3 && restoredSummary.skippedShredded == 0)
        let restored = try Store.open(at: target)
        restored.kdf = .minimumForTesting
        #expect(restored.storeId == f.store.storeId)
        _ = try restored.auditLog().verify()
        #expect(try restored.auditLog().entries().last?.action == "backup-restore")
        #expect(try f.allRecords(in: restored) == original)
        // The supporter, the store key and the access log come along.
        let nurse = try restored.unlockSupporter(email: "nurse@example.jp", password: pw("nurse-pw"))
        let shared = try restored.openVault(email: BackupFixture.patients[0].0)
        #expect(try shared.records(try shared.unlock(supporter: nurse)) == original[0])
        #expect(try restored.signingKey().publicKey == (try f.store.signingKey().publicKey))
        // The restored store keeps working, and so does its access log.
        try shared.append(type: "dose", data: json("42"), session: try shared.unlock(password: pw(BackupFixture.patients[0].1)))
        _ = try restored.auditLog().verify()
    }

    @Test("no secret of the key store is in clear in the backup file")
    func secretsSealed() throws {
        let f = try BackupFixture()
        _ = try Backup.create(store: f.store, out: f.path("b.mkb"))
        let backup = try ShredKit.read(f.path("b.mkb"))
        var checkedSecrets = 0
        for (email, _) in BackupFixture.patients {
            let id = try f.store.vaultId(email: email)
            // Positive control: vault files are stored as they are (they are encrypted already), so the search works.
            #expect(ShredKit.contains(backup, try ShredKit.read(f.store.vaultPath(id))))
            let secretFile = try ShredKit.read(f.store.erasureSecretPath(id))
            #expect(!ShredKit.contains(backup, secretFile), "erasure secret file of \(id.hex) in clear")
            let secret = try ErasureSecretFile.parse(secretFile).secret.unsafeCopyToArray()
            #expect(!ShredKit.contains(backup, secret), "erasure secret of \(id.hex) in clear")
            #expect(!ShredKit.contains(backup, Array(secret.hex.utf8)))
            checkedSecrets += 1
        }
        #expect(checkedSecrets == 3)
        let lookupKey = try ShredKit.read("\(f.store.root)/keys/lookup.key")
        let signingKey = try ShredKit.read("\(f.store.root)/keys/store-signing.key")
        #expect(!ShredKit.contains(backup, lookupKey) && !ShredKit.contains(backup, signingKey))
        #expect(!ShredKit.contains(backup, try StoreSecretFile.parse(lookupKey, as: .lookupKey).secret.unsafeCopyToArray()))
        // The signing seed is sealed under the root key in the store, and sealed to the backup key in the backup.
        #expect(!ShredKit.contains(backup, try f.store.signingKey().seed.unsafeCopyToArray()))
        // Nor the root key, which is never in a backup at all.
        #expect(!ShredKit.contains(backup, f.store.rootKey.secret.unsafeCopyToArray()))
        // Nor the backup key's secret half.
        let secretKeyLine = try ShredKit.read(f.keyFile)
        #expect(!ShredKit.contains(backup, Array(secretKeyLine.suffix(65).prefix(64))))
        // No e-mail address either (the store holds only keyed hashes of them).
        for (email, _) in BackupFixture.patients { #expect(!ShredKit.containsText(backup, email)) }
    }

    @Test("a wrong backup key: verify and restore fail as authentication failures")
    func wrongKey() throws {
        let f = try BackupFixture()
        _ = try Backup.create(store: f.store, out: f.path("b.mkb"))
        let other = try Scratch()
        let otherKeyFile = f.path("other.key")
        _ = try Backup.createKey(store: other.store, secretKeyOut: otherKeyFile)
        let wrong = try Backup.readSecretKey(path: otherKeyFile)
        let storeKey = try f.store.signingKey().publicKey
        #expect(failureClass { _ = try Backup.verify(path: f.path("b.mkb"), backupKey: wrong, publicKey: storeKey) } == "authentication-failed")
        #expect(failureClass { _ = try Backup.restore(path: f.path("b.mkb"), into: f.path("t"), backupKey: wrong, tombstones: .noneExists, publicKey: storeKey) } == "authentication-failed")
        // Without --public-key the other store's key file pins the other store's key: the backup is not its store's.
        #expect(failureClass { _ = try Backup.verify(path: f.path("b.mkb"), backupKey: wrong) } == "tampered")
        // Not a key file at all.
        try ShredKit.write(json("mikata-backup-key-v1 nothex\n"), to: f.path("bad.key"))
        #expect(failureClass { _ = try Backup.readSecretKey(path: f.path("bad.key")) } == "invalid-input")
        #expect(failureClass { _ = try Backup.readSecretKey(path: f.path("missing.key")) } == "not-found")
    }

    @Test("restore refuses a non-empty target, and refuses a second restore into the same folder")
    func nonEmptyTarget() throws {
        let f = try BackupFixture()
        _ = try Backup.create(store: f.store, out: f.path("b.mkb"))
        let key = try Backup.readSecretKey(path: f.keyFile)
        let busy = f.path("busy")
        try ShredKit.write(json("x"), to: "\(busy)/something")
        #expect(failureClass { _ = try Backup.restore(path: f.path("b.mkb"), into: busy, backupKey: key, tombstones: .noneExists) } == "already-exists")
        #expect(try FileManager.default.contentsOfDirectory(atPath: busy) == ["something"])
        // Into the live store itself.
        #expect(failureClass { _ = try Backup.restore(path: f.path("b.mkb"), into: f.store.root, backupKey: key, tombstones: .noneExists) } == "already-exists")
        let fresh = f.path("fresh")
        _ = try Backup.restore(path: f.path("b.mkb"), into: fresh, backupKey: key, tombstones: .noneExists)
        #expect(failureClass { _ = try Backup.restore(path: f.path("b.mkb"), into: fresh, backupKey: key, tombstones: .noneExists) } == "already-exists")
        // An empty folder that exists is fine.
        let empty = f.path("empty")
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        #expect(try Backup.restore(path: f.path("b.mkb"), into: empty, backupKey: key, tombstones: .noneExists).vaults == 3)
        // A tombstone source that does not exist is an error, not silently ignored.
        #expect(failureClass { _ = try Backup.restore(path: f.path("b.mkb"), into: f.path("t2"), backupKey: key, tombstones: .from([f.path("nowhere")])) } == "not-found")
    }

    @Test("a truncated or bit-flipped backup is corrupted, for verify and for restore, which writes nothing")
    func damaged() throws {
        let f = try BackupFixture()
        _ = try Backup.create(store: f.store, out: f.path("b.mkb"))
        let key = try Backup.readSecretKey(path: f.keyFile)
        let good = try ShredKit.read(f.path("b.mkb"))
        let n = good.count
        var damaged: [(String, [UInt8])] = []
        for length in [0, 7, 8, 20, n / 2, n - 97, n - 96, n - 64, n - 1] { damaged.append(("truncated to \(length)", Array(good.prefix(length)))) }
        damaged.append(("one byte appended", good + [0]))
        // Magic, version, header length, header, an entry, the end marker, the hash, the signature.
        for offset in [0, 8, 11, 20, n / 3, n / 2, n - 97, n - 80, n - 40, n - 1] {
            var b = good
            b[offset] ^= 0x01
            damaged.append(("bit flipped at \(offset)", b))
        }
        for (i, (what, bytes)) in damaged.enumerated() {
            let path = f.path("damaged-\(i).mkb")
            try ShredKit.write(bytes, to: path)
            #expect(failureClass { _ = try Backup.verify(path: path, backupKey: nil, publicKey: try f.store.signingKey().publicKey) } == "corrupted", "\(what)")
            #expect(failureClass { _ = try Backup.verify(path: path, backupKey: key) } == "corrupted", "\(what)")
            let target = f.path("target-\(i)")
            #expect(failureClass { _ = try Backup.restore(path: path, into: target, backupKey: key, tombstones: .noneExists) } == "corrupted", "\(what)")
            #expect(!ShredKit.exists(target), "\(what): restore wrote into the target")
        }
    }

    @Test("a backup edited by someone who recomputed its checksum fails the signature, which is tampering, not damage")
    func forgedChecksum() throws {
        let f = try BackupFixture()
        _ = try Backup.create(store: f.store, out: f.path("b.mkb"))
        var bytes = try ShredKit.read(f.path("b.mkb"))
        let payloadEnd = bytes.count - 112
        bytes[payloadEnd / 2] ^= 0x01
        bytes.replaceSubrange(payloadEnd..<(payloadEnd + 32), with: Blake2b.hash(Array(bytes[0..<payloadEnd])))
        bytes.replaceSubrange((bytes.count - 16)..., with: Blake2b.hash(Array(bytes[0..<(bytes.count - 16)]), outputLength: 16))
        try ShredKit.write(bytes, to: f.path("forged.mkb"))
        let result = failureClass { _ = try Backup.verify(path: f.path("forged.mkb"), backupKey: nil, publicKey: try f.store.signingKey().publicKey) }
        #expect(result != "ok")
        do {
            #expect(result == "tampered")
        }
    }

    @Test("a shredded patient stays shredded: a backup from before the shred, restored with the live tombstones, skips the vault")
    func restoreSkipsShredded() throws {
        let f = try BackupFixture()
        let (gone, gonePassword) = BackupFixture.patients[0]
        let goneId = try f.store.vaultId(email: gone)
        let before = try f.allRecords(in: f.store)
        _ = try Backup.create(store: f.store, out: f.path("before-shred.mkb"))
        _ = try f.store.shred(email: gone, request: ShredKit.request())
        #expect(f.store.tombstones() == [goneId.hex])
        let key = try Backup.readSecretKey(path: f.keyFile)

        // Without a tombstone source the restore is refused and writes nothing: it would bring the patient back.
        #expect(failureClass { _ = try Backup.restore(path: f.path("before-shred.mkb"), into: f.path("naive"), backupKey: key, tombstones: .from([])) } == "invalid-input")
        #expect(!ShredKit.exists(f.path("naive")))
        // Only the operator's explicit declaration that none exists restores it as it was, and the restored log says so.
        let declared = try Backup.restore(path: f.path("before-shred.mkb"), into: f.path("declared"), backupKey: key, tombstones: .noneExists)
        #expect(declared.vaults == 3 && declared.skippedShredded == 0)
        let declaredStore = try Store.open(at: f.path("declared"))
        #expect(try f.records(in: declaredStore, email: gone, password: gonePassword) == before[0])
        #expect(try declaredStore.auditLog().entries().contains { $0.action == "backup-restore" && $0.detail.contains("no tombstone source (the operator declared none exists)") })

        // With them: skipped, with its keys, lookup and links; the others intact.
        let safe = try Backup.restore(path: f.path("before-shred.mkb"), into: f.path("safe"), backupKey: key, tombstones: .from([f.store.root]))
        #expect(safe.vaults == 2 && safe.skippedShredded == 1)
        let restored = try Store.open(at: f.path("safe"))
        try Self.expectShredded(goneId, email: gone, in: restored)
        #expect(try f.records(in: restored, email: BackupFixture.patients[1].0, password: BackupFixture.patients[1].1) == before[1])
        #expect(try f.records(in: restored, email: BackupFixture.patients[2].0, password: BackupFixture.patients[2].1) == before[2])
        #expect(restored.tombstones().contains(goneId.hex))
        _ = try restored.auditLog().verify()

        // The restored store carries the tombstone: the old backup restored with it as the only source skips the vault too,
        // and so does a backup of the restored store, restored without any source.
        let viaRestored = try Backup.restore(path: f.path("before-shred.mkb"), into: f.path("via-restored"), backupKey: key,
                                             tombstones: .from([restored.root]))
        #expect(viaRestored.skippedShredded == 1)
        try Self.expectShredded(goneId, email: gone, in: try Store.open(at: f.path("via-restored")))
        _ = try Backup.create(store: restored, out: f.path("of-restored.mkb"))
        let second = try Backup.restore(path: f.path("of-restored.mkb"), into: f.path("second"), backupKey: key, tombstones: .noneExists)
        #expect(second.vaults == 2)
        let secondStore = try Store.open(at: f.path("second"))
        try Self.expectShredded(goneId, email: gone, in: secondStore)
        #expect(secondStore.tombstones().contains(goneId.hex))

        // A copy of just the tombstones folder works as a source as well.
        let copied = f.path("tombstones-copy")
        try FileManager.default.copyItem(atPath: "\(f.store.root)/tombstones", toPath: copied)
        #expect(try Backup.restore(path: f.path("before-shred.mkb"), into: f.path("via-copy"), backupKey: key, tombstones: .from([copied])).skippedShredded == 1)
    }

    @Test("a backup taken while a shred is pending does not carry the vault out of its shred")
    func backupDuringPendingShred() throws {
        let f = try BackupFixture()
        let (email, password) = BackupFixture.patients[1]
        let id = try f.store.vaultId(email: email)
        // The shred stops after its intent (the erasure secret is locked by someone): the vault refuses to open.
        let holder = try PosixFile.open(f.store.erasureSecretPath(id))
        try holder.lock(exclusive: true, timeout: 1)
        f.store.lockTimeout = 0.2
        #expect(failureClass { _ = try f.store.shred(email: email, request: ShredKit.request()) } == "busy")
        holder.unlock()
        f.store.lockTimeout = 10
        #expect(failureClass { _ = try f.store.openVault(email: email) } == "erased")

        _ = try Backup.create(store: f.store, out: f.path("pending.mkb"))
        let key = try Backup.readSecretKey(path: f.keyFile)
        _ = try Backup.restore(path: f.path("pending.mkb"), into: f.path("restored"), backupKey: key, tombstones: .noneExists)
        let restored = try Store.open(at: f.path("restored"))
        // A vault whose shred is under way is not copied into backups at all.
        do {
            #expect(failureClass { _ = try f.records(in: restored, email: email, password: password) } != "ok")
        }
        // Completing the shred and restoring with the live tombstones closes the gap.
        #expect(try f.store.completePendingShreds() == 1)
        _ = try Backup.restore(path: f.path("pending.mkb"), into: f.path("later"), backupKey: key, tombstones: .from([f.store.root]))
        #expect(failureClass { _ = try f.records(in: try Store.open(at: f.path("later")), email: email, password: password) } == "not-found")
    }

    @Test("a supporter who deleted their registration stays deleted when a backup from before is restored")
    func restoreSkipsDeletedSupporter() throws {
        let f = try BackupFixture()
        let nurseId = try f.store.supporterId(email: "nurse@example.jp")
        _ = try Backup.create(store: f.store, out: f.path("before.mkb"))
        _ = try f.store.deleteSupporter(email: "nurse@example.jp", password: pw("nurse-pw"))
        let key = try Backup.readSecretKey(path: f.keyFile)
        _ = try Backup.restore(path: f.path("before.mkb"), into: f.path("restored"), backupKey: key, tombstones: .from([f.store.root]))
        let restored = try Store.open(at: f.path("restored"))
        // Supporter deletion leaves a tombstone, which restores honour.
        do {
            #expect(failureClass { _ = try restored.unlockSupporter(email: "nurse@example.jp", password: pw("nurse-pw")) } == "not-found")
            #expect(!ShredKit.exists(restored.supporterPath(nurseId)))
            #expect(restored.linkedVaults(supporterId: nurseId).isEmpty)
        }
    }

    /// Nothing of the shredded vault in `store`: no lookup, no vault, key or generation file, no links.
    static func expectShredded(_ id: [UInt8], email: String, in store: Store) throws {
        #expect(failureClass { _ = try store.openVault(email: email) } == "not-found")
        #expect(failureClass { _ = try store.openVault(id: id) } == "not-found")
        for path in [store.vaultPath(id), store.erasureSecretPath(id), store.generationPath(id)] { #expect(!ShredKit.exists(path)) }
        let leftovers = store.allFiles().map { String($0.dropFirst(store.root.count + 1)) }
            .filter { $0.contains(id.hex) && !$0.hasPrefix("tombstones/") }
        #expect(leftovers.isEmpty, "files of the shredded vault: \(leftovers)")
    }
}
