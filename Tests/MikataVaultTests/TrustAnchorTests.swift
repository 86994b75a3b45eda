import Foundation
import Testing
@testable import MikataVault
import MikataFormat
import MikataCrypto

/// Issue 7 §1: an attacker who can write the store's files (or a backup) but does not hold the root key can no
/// longer redirect a grant, undo a revocation, cut records off or drop the access log undetected. Each attack is
/// done exactly as the issue describes it, and must fail as `tampered` (exit 65) naming what changed.
@Suite("Store root key and trust anchors")
struct TrustAnchorTests {
    static func read(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }
    static func write(_ bytes: [UInt8], _ path: String) throws { try Data(bytes).write(to: URL(fileURLWithPath: path)) }

    static func message(_ body: () throws -> Void) -> (String, String) {
        do { try body(); return ("ok", "") } catch let e as VaultError { return (e.failureClass, e.description) } catch { return ("other", "\(error)") }
    }

    // MARK: identity directory

    @Test("redirect a grant: a supporter's identity entry copied over another's is refused, the patient links nobody")
    func supporterEntryCopied() throws {
        let s = try Scratch()
        _ = try s.supporter("nurse-c@hokenjo.example.jp")
        let (attacker, _) = try s.supporter("attacker@example.jp")
        let victimEntry = try s.store.lookupPath(.supporter, email: "nurse-c@hokenjo.example.jp")
        try Self.write(try Self.read(try s.store.lookupPath(.supporter, email: "attacker@example.jp")), victimEntry)
        let (cls, text) = Self.message { _ = try s.store.supporterPublicKeys(email: "nurse-c@hokenjo.example.jp") }
        #expect(cls == "tampered" && text.contains("identity entry"), "\(cls): \(text)")
        // The attacker's key was never handed out: no grant can name it through the victim's address.
        #expect(failureClass { _ = try s.store.unlockSupporter(email: "nurse-c@hokenjo.example.jp", password: pw("nurse-pw")) } == "tampered")
        _ = attacker
    }

    @Test("a patient's identity entry copied over another's is refused: a nurse's message cannot land in the attacker's vault")
    func patientEntryCopied() throws {
        let s = try Scratch()
        _ = try s.patient("taro@example.jp")
        _ = try s.patient("mallory@example.jp", password: "mallory-pw")
        try Self.write(try Self.read(try s.store.lookupPath(.patient, email: "mallory@example.jp")),
                       try s.store.lookupPath(.patient, email: "taro@example.jp"))
        #expect(failureClass { _ = try s.store.openVault(email: "taro@example.jp") } == "tampered")
        #expect(failureClass { _ = try s.store.vaultId(email: "taro@example.jp") } == "tampered")
    }

    @Test("an identity entry rewritten with a valid checksum but no root key (forged, or the pre-root-key format) is refused")
    func entryForged() throws {
        let s = try Scratch()
        let (victim, _) = try s.supporter("nurse@example.jp")
        let (attacker, _) = try s.supporter("attacker@example.jp")
        let path = try s.store.lookupPath(.supporter, email: "nurse@example.jp")
        let digest = IdentityEntry.supporterKeysDigest(id: attacker.id, boxPublicKey: attacker.boxPublicKey, signPublicKey: attacker.signPublicKey)
        for forged in [IdentityEntry(kind: .supporter, id: attacker.id, keysDigest: digest).serialize(),
                       LookupEntry(kind: .supporter, id: attacker.id).serialize(),
                       LookupEntry(kind: .supporter, id: victim.id).serialize()] {
            try Self.write(forged, path)
            #expect(failureClass { _ = try s.store.supporterPublicKeys(email: "nurse@example.jp") } != "ok")
        }
    }

    @Test("a supporter account swapped for one with the attacker's keys under the victim's id is refused")
    func accountSwapped() throws {
        let s = try Scratch()
        let (victim, _) = try s.supporter("nurse@example.jp")
        let (attacker, _) = try s.supporter("attacker@example.jp")
        var account = try SupporterAccountFile.parse(try Self.read(s.store.supporterPath(attacker.id)))
        account.supporterId = victim.id
        try Self.write(account.serialize(), s.store.supporterPath(victim.id))
        let (cls, text) = Self.message { _ = try s.store.supporterPublicKeys(email: "nurse@example.jp") }
        #expect(cls == "tampered" && text.contains("public keys"), "\(cls): \(text)")
    }

    @Test("grant's fingerprint check: the right fingerprint in any case and with or without dashes passes, another is refused")
    func fingerprints() throws {
        let s = try Scratch()
        let (keys, _) = try s.supporter("nurse@example.jp")
        let (other, _) = try s.supporter("other@example.jp")
        let print = Fingerprint.supporter(keys)
        #expect(print.count == 19 && print.split(separator: "-").count == 4)
        for typed in [print, print.lowercased(), print.replacingOccurrences(of: "-", with: ""), " " + print.replacingOccurrences(of: "-", with: " ")] {
            #expect(try s.store.supporterPublicKeys(email: "nurse@example.jp", fingerprint: typed) == keys)
        }
        #expect(failureClass { _ = try s.store.supporterPublicKeys(email: "nurse@example.jp", fingerprint: Fingerprint.supporter(other)) } == "not-permitted")
        #expect(failureClass { _ = try s.store.supporterPublicKeys(email: "nurse@example.jp", fingerprint: "") } == "not-permitted")
        #expect(Fingerprint.vault(Array(repeating: 1, count: 16)) != Fingerprint.vault(Array(repeating: 2, count: 16)))
    }

    // MARK: rollback anchors

    @Test("undo a revocation: an earlier vault file put back with its earlier anchor opens, but verify and audit verify name the rollback")
    func revocationUndone() throws {
        let s = try Scratch()
        let (vault, _) = try s.patient()
        let (keys, nurse) = try s.supporter("nurse@example.jp")
        let owner = try vault.unlock(password: pw("patient-pw"))
        try vault.grant(keys, session: owner)
        try vault.append(type: "dose", data: json("1"), session: owner)
        let savedVault = try Self.read(vault.path)
        let savedAnchor = try Self.read(s.store.generationPath(vault.vaultId))
        try vault.revoke(keys.id, session: owner)
        try vault.append(type: "dose", data: json("2"), session: owner)
        try Self.write(savedVault, vault.path)
        try Self.write(savedAnchor, s.store.generationPath(vault.vaultId))
        // The revoked nurse could read the rolled-back file, so every reader that looks at the log must refuse it.
        let reopened = try s.store.openVault(id: vault.vaultId)
        let (cls, text) = Self.message { _ = try reopened.verify(try reopened.unlock(password: pw("patient-pw"))) }
        #expect(cls == "tampered" && text.contains("rolled back"), "\(cls): \(text)")
        let (cls2, text2) = Self.message { _ = try s.store.verifyAccessLog() }
        #expect(cls2 == "tampered" && text2.contains(vault.vaultId.hex), "\(cls2): \(text2)")
        _ = nurse
    }

    @Test("a forged anchor (legacy format, wrong MAC, another vault's) is refused on open")
    func anchorForged() throws {
        let s = try Scratch()
        let (vault, _) = try s.patient()
        let (other, _) = try s.patient("other@example.jp")
        let path = s.store.generationPath(vault.vaultId)
        let good = try AnchorFile.parse(try Self.read(path))
        var wrongMac = good
        wrongMac.generation = 0
        let forgeries: [[UInt8]] = [
            GenerationFile(vaultId: vault.vaultId, minimumGeneration: 0).serialize(),
            wrongMac.serialize(),
            try Self.read(s.store.generationPath(other.vaultId)),
        ]
        for bytes in forgeries {
            try Self.write(bytes, path)
            #expect(failureClass { _ = try s.store.openVault(id: vault.vaultId) } != "ok")
        }
        try Self.write(wrongMac.serialize(), path)
        #expect(failureClass { _ = try s.store.openVault(id: vault.vaultId) } == "tampered")
    }

    @Test("cut records: a vault truncated after records written since the last key change fails verify and audit verify")
    func recordsCutOff() throws {
        let s = try Scratch()
        let (vault, _) = try s.patient()
        let owner = try vault.unlock(password: pw("patient-pw"))
        try vault.append(type: "dose", data: json("1"), session: owner)
        let cut = try Self.read(vault.path).count
        try vault.append(type: "dose", data: json("2"), session: owner)
        try vault.append(type: "dose", data: json("3"), session: owner)
        let full = try Self.read(vault.path)
        try Self.write(Array(full[0..<cut]), vault.path)
        let reopened = try s.store.openVault(id: vault.vaultId)
        #expect(try reopened.records(try reopened.unlock(password: pw("patient-pw"))).count == 2)  // the file alone looks fine
        let (cls, text) = Self.message { _ = try reopened.verify(try reopened.unlock(password: pw("patient-pw"))) }
        #expect(cls == "tampered" && text.contains("cut off"), "\(cls): \(text)")
        #expect(failureClass { _ = try s.store.verifyAccessLog() } == "tampered")
    }

    // MARK: the access log

    @Test("delete or empty the whole log: audit verify fails instead of 'ok: 0 entries'")
    func logDeleted() throws {
        let s = try Scratch()
        _ = try s.patient()
        #expect(try s.store.verifyAccessLog().entries >= 2)
        try Self.write([], s.store.auditLogPath)
        #expect(Self.message { _ = try s.store.verifyAccessLog() }.0 == "tampered")
        try FileManager.default.removeItem(atPath: s.store.auditLogPath)
        let (cls, text) = Self.message { _ = try s.store.verifyAccessLog() }
        #expect(cls == "tampered" && text.contains("empty or missing"), "\(cls): \(text)")
    }

    @Test("drop the log's last entries: appends the vault holds but the log lost are named; one unlogged record (a crash) is not")
    func logTailDropped() throws {
        let s = try Scratch()
        let (vault, _) = try s.patient()
        let owner = try vault.unlock(password: pw("patient-pw"))
        try vault.append(type: "dose", data: json("1"), session: owner)
        let logAfterOne = try Self.read(s.store.auditLogPath)
        try vault.append(type: "dose", data: json("2"), session: owner)
        let logAfterTwo = try Self.read(s.store.auditLogPath)
        try vault.append(type: "dose", data: json("3"), session: owner)
        #expect(failureClass { _ = try s.store.verifyAccessLog() } == "ok")
        // One append missing from the log: what a kill between the record's sync and its entry leaves.
        try Self.write(logAfterTwo, s.store.auditLogPath)
        #expect(failureClass { _ = try s.store.verifyAccessLog() } == "ok")
        // Two: entries were dropped.
        try Self.write(logAfterOne, s.store.auditLogPath)
        let (cls, text) = Self.message { _ = try s.store.verifyAccessLog() }
        #expect(cls == "tampered" && text.contains("dropped"), "\(cls): \(text)")
    }

    @Test("a vault file removed without a shred is named by audit verify")
    func vaultRemoved() throws {
        let s = try Scratch()
        let (vault, _) = try s.patient()
        try vault.append(type: "dose", data: json("1"), session: try vault.unlock(password: pw("patient-pw")))
        try FileManager.default.removeItem(atPath: vault.path)
        let (cls, text) = Self.message { _ = try s.store.verifyAccessLog() }
        #expect(cls == "tampered" && text.contains("gone"), "\(cls): \(text)")
    }

    // MARK: the root key itself

    @Test("the signing key replaced by a plain or a foreign sealed key is refused; the root key is never in the store")
    func signingKeyReplaced() throws {
        let s = try Scratch()
        let other = try Scratch()
        let path = "\(s.dir)/keys/store-signing.key"
        let original = try Self.read(path)
        try Self.write(StoreSecretFile(.signingSeed, secret: SecureBytes.random(count: 32)).serialize(), path)
        #expect(failureClass { _ = try Store.open(at: s.dir).signingKey() } == "tampered")
        try Self.write(try Self.read("\(other.dir)/keys/store-signing.key"), path)
        #expect(failureClass { _ = try Store.open(at: s.dir).signingKey() } == "tampered")
        try Self.write(original, path)
        #expect(failureClass { _ = try Store.open(at: s.dir).signingKey() } == "ok")
        let secret = s.store.rootKey.secret.unsafeCopyToArray()
        for file in s.store.allFiles() { #expect(!(try Self.read(file)).containsRun(secret), "\(file) holds the root key") }
    }

    @Test("the store's jurisdiction is bound to its sealed signing key: an edited description signs nothing; a key sealed before the binding is bound on first use")
    func jurisdictionIsBoundToTheSigningKey() throws {
        let s = try Scratch()
        let meta = "\(s.dir)/\(Store.metadataFile)"
        let keyPath = "\(s.dir)/keys/store-signing.key"
        let original = try Self.read(meta)
        #expect(try SealedStoreSecretFile.parse(try Self.read(keyPath)).version == 2)
        func withJurisdiction(_ j: String) throws {
            var v = try #require(try JSONSerialization.jsonObject(with: Data(original)) as? [String: Any])
            v["jurisdiction"] = j
            try Self.write(Array(try JSONSerialization.data(withJSONObject: v, options: [.sortedKeys, .prettyPrinted])) + [10], meta)
        }
        // Someone with the disk declares another jurisdiction: nothing is signed under it (no certificate, backup or
        // log checkpoint), and since every access-log entry needs the store's key, nothing logged runs at all
        // (tampered) until the description is put back; nothing is destroyed meanwhile.
        _ = try s.patient("bound@example.jp", password: "patient-pw")
        try withJurisdiction("DE")
        let edited = try Store.open(at: s.dir)
        #expect(edited.jurisdiction == "DE")
        #expect(failureClass { _ = try edited.signingKey() } == "tampered")
        #expect(failureClass { _ = try edited.shred(email: "bound@example.jp", request: ShredKit.request()) } == "tampered")
        #expect(failureClass { _ = try edited.openVault(email: "bound@example.jp") } == "tampered")
        #expect(failureClass { _ = try Backup.createKey(store: edited, secretKeyOut: "\(s.dir)/../jurisdiction-backup.key") } == "tampered")
        try Self.write(original, meta)
        let restored = try Store.open(at: s.dir)
        #expect(failureClass { _ = try restored.signingKey() } == "ok")
        #expect(failureClass { _ = try restored.openVault(email: "bound@example.jp") } == "ok", "nothing was destroyed")

        // A key sealed by an earlier build (version 1: no jurisdiction in its additional data) opens, and is sealed
        // again, bound to the jurisdiction declared at that moment; from then on an edit is refused as above.
        let seed = try Store.open(at: s.dir).signingKey().seed
        let nonce = Random.bytes(24)
        let ct = try XChaCha20Poly1305.seal(secret: seed, key: s.store.rootKey.sealingKey, nonce: nonce,
                                            ad: SealedStoreSecretFile.associatedData(storeId: s.store.storeId, kind: .signingSeed))
        try Self.write(SealedStoreSecretFile(version: 1, nonce: nonce, ciphertext: ct).serialize(), keyPath)
        let legacy = try Store.open(at: s.dir)
        #expect(try legacy.signingKey().publicKey == (try s.store.signingKey().publicKey))
        #expect(try SealedStoreSecretFile.parse(try Self.read(keyPath)).version == 2, "sealed again, bound")
        try withJurisdiction("DE")
        #expect(failureClass { _ = try Store.open(at: s.dir).signingKey() } == "tampered")
        try Self.write(original, meta)

        // The key and the log deleted together, in a store that holds vaults: no fresh key is made (it would sign
        // under whatever the description declares then).
        let keyBytes = try Self.read(keyPath)
        let logBytes = try Self.read(s.store.auditLogPath)
        try FileManager.default.removeItem(atPath: keyPath)
        try FileManager.default.removeItem(atPath: s.store.auditLogPath)
        #expect(failureClass { _ = try Store.open(at: s.dir).signingKey() } == "erased")
        #expect(!FileManager.default.fileExists(atPath: keyPath))
        // Nor does a description rewritten to claim the store predates root keys let a plain key of the disk's choice
        // in: entries of the store are authenticated under its root key already.
        var claimsLegacy = try #require(try JSONSerialization.jsonObject(with: Data(original)) as? [String: Any])
        claimsLegacy["version"] = 1
        claimsLegacy.removeValue(forKey: "rootKeyId")
        try Self.write(Array(try JSONSerialization.data(withJSONObject: claimsLegacy, options: [.sortedKeys])), meta)
        try Self.write(StoreSecretFile(.signingSeed, secret: SecureBytes.random(count: 32)).serialize(), keyPath)
        #expect(failureClass { _ = try Store.initialize(at: s.dir) } == "tampered")
        try Self.write(original, meta)
        try Self.write(keyBytes, keyPath)
        try Self.write(logBytes, s.store.auditLogPath)
        #expect(failureClass { _ = try Store.open(at: s.dir).signingKey() } == "ok")
    }

    @Test("root key sources: a file, a descriptor, a credentials folder; a missing key is not-found, another store's key is refused")
    func rootKeySources() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mikata-rootkey-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let keyFile = "\(dir)/keys/root.key"
        let (store, created) = try Store.initialize(at: "\(dir)/store", rootKey: .file(keyFile))
        #expect(created && store.rootKeyLocation == keyFile && FileManager.default.fileExists(atPath: keyFile))
        #expect(failureClass { _ = try Store.open(at: "\(dir)/store", rootKey: .file(keyFile)) } == "ok")
        // Another store's key.
        let (_, _) = try Store.initialize(at: "\(dir)/other", rootKey: .file("\(dir)/keys/other.key"))
        let (cls, text) = Self.message { _ = try Store.open(at: "\(dir)/store", rootKey: .file("\(dir)/keys/other.key")) }
        #expect(cls == "authentication-failed" && text.contains("not this store's root key"), "\(cls): \(text)")
        // No key there.
        #expect(failureClass { _ = try Store.open(at: "\(dir)/store", rootKey: .directory("\(dir)/empty")) } == "not-found")
        // A descriptor.
        let fd = open(keyFile, O_RDONLY)
        defer { close(fd) }
        #expect(failureClass { _ = try Store.open(at: "\(dir)/store", rootKey: .descriptor(fd)) } == "ok")
        // Environment resolution: explicit file, then systemd credentials, then a descriptor, then folders.
        try FileManager.default.createDirectory(atPath: "\(dir)/creds", withIntermediateDirectories: true)
        try Self.write(try Self.read(keyFile), "\(dir)/creds/\(RootKeySource.credentialName)")
        chmod("\(dir)/creds/\(RootKeySource.credentialName)", 0o600)
        #expect(RootKeySource.fromEnvironment(["MIKATA_ROOT_KEY_FILE": "/k", "CREDENTIALS_DIRECTORY": "\(dir)/creds"]) == .file("/k"))
        #expect(RootKeySource.fromEnvironment(["CREDENTIALS_DIRECTORY": "\(dir)/creds", "MIKATA_ROOT_KEY_FD": "3"]) == .file("\(dir)/creds/mikata-root-key"))
        #expect(RootKeySource.fromEnvironment(["CREDENTIALS_DIRECTORY": "\(dir)/nothing", "MIKATA_ROOT_KEY_FD": "3"]) == .descriptor(3))
        #expect(RootKeySource.fromEnvironment(["MIKATA_ROOT_KEY_DIR": "/d", "HOME": "/h"]) == .directory("/d"))
        #expect(RootKeySource.fromEnvironment(["XDG_CONFIG_HOME": "/x", "HOME": "/h"]) == .directory("/x/mikata/root-keys"))
        #expect(RootKeySource.fromEnvironment(["HOME": "/h"]) == .directory("/h/.config/mikata/root-keys"))
        #expect(failureClass { _ = try Store.open(at: "\(dir)/store", rootKey: RootKeySource.fromEnvironment(["CREDENTIALS_DIRECTORY": "\(dir)/creds"])) } == "ok")
    }

    @Test("a store made before root keys must be upgraded once; an 'old' store whose signing key is already sealed is refused")
    func legacyUpgrade() throws {
        let (dir, _) = try GoldenTests.copyOfFixture()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (cls, text) = Self.message { _ = try Store.open(at: dir.path) }
        #expect(cls == "unsupported" && text.contains("mikata init"), "\(cls): \(text)")
        let (store, _) = try Store.initialize(at: dir.path)
        #expect(store.upgradedFromLegacy)
        let actions = try store.auditLog().entries().map(\.action)
        #expect(actions.contains("store-upgrade") && actions.last == "anchor-vault")  // each vault's tail is the log's baseline
        #expect(try store.verifyAccessLog().entries == actions.count)
        // The description rewritten to claim version 1 again, to provoke a second upgrade that would trust the disk.
        let meta = "\(dir.path)/\(Store.metadataFile)"
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: meta))) as! [String: Any]
        json["version"] = 1
        json.removeValue(forKey: "rootKeyId")
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: meta))
        // With a plain signing key of the attacker's and a pre-root-key entry of theirs too (review finding 4).
        try Self.write(StoreSecretFile(.signingSeed, secret: SecureBytes.random(count: 32)).serialize(), "\(dir.path)/keys/store-signing.key")
        let other = RootKeySource.directory(FileManager.default.temporaryDirectory.appendingPathComponent("mikata-otherkeys-\(UUID().uuidString)").path)
        #expect(failureClass { _ = try Store.initialize(at: dir.path, rootKey: other) } == "tampered")
        #expect(failureClass { _ = try Store.initialize(at: dir.path) } == "tampered")
    }

    @Test("a restore re-anchors everything under the target's root key; the restored store passes audit verify")
    func restoreReanchors() throws {
        let f = try BackupFixture()
        _ = try Backup.create(store: f.store, out: f.path("b.mkb"))
        let target = f.path("restored")
        let keyDir = RootKeySource.directory(f.path("target-keys"))
        _ = try Backup.restore(path: f.path("b.mkb"), into: target, backupKey: try Backup.readSecretKey(path: f.keyFile),
                               tombstones: .from([f.store.root]), rootKey: keyDir)
        let restored = try Store.open(at: target, rootKey: keyDir)
        #expect(restored.rootKey.keyId != f.store.rootKey.keyId)
        #expect(try restored.signingKey().publicKey == f.store.signingKey().publicKey)
        #expect(try restored.verifyAccessLog().entries > 0)
        for (email, _) in BackupFixture.patients { #expect(failureClass { _ = try restored.openVault(email: email) } == "ok") }
        // The source store's key does not open the restored one.
        #expect(failureClass { _ = try Store.open(at: target) } != "ok")
    }

    // MARK: the review's attacks (an attacker reading the first version of this work)

    /// The log's lines, for surgery.
    static func logLines(_ s: Scratch) throws -> [[UInt8]] { try Self.read(s.store.auditLogPath).split(separator: 10).map(Array.init) }
    static func writeLog(_ lines: [[UInt8]], _ s: Scratch) throws { try Self.write(lines.flatMap { $0 + [10] }, s.store.auditLogPath) }

    @Test("the log's tail re-chained without the root key (entries dropped, the hashes recomputed) is refused")
    func logRechained() throws {
        let s = try Scratch()
        let (vault, _) = try s.patient()
        let owner = try vault.unlock(password: pw("patient-pw"))
        for i in 0..<3 { try vault.append(type: "dose", data: json("\(i)"), session: owner) }
        var lines = try Self.logLines(s)
        // Drop the second-to-last entry and re-chain the last one to its new predecessor, as an attacker can: the
        // hash chain is unkeyed, the MAC is not.
        guard case .entry(let before) = try AuditLog.parseLine(lines[lines.count - 3], number: 0),
              case .entry(var last) = try AuditLog.parseLine(lines[lines.count - 1], number: 0) else { Issue.record("no entries"); return }
        last.seq -= 1; last.prev = before.hash; last.hash = last.computeHash(); last.mac = nil
        lines.removeLast(2)
        lines.append(CanonicalJSON.serialize(last.value(withHash: true)))
        try Self.writeLog(lines, s)
        let (cls, text) = Self.message { _ = try s.store.verifyAccessLog() }
        #expect(cls == "tampered" && text.contains("root key"), "\(cls): \(text)")
    }

    @Test("the log cut back together with a vault that had no earlier logged append: the vault's records beyond its creation are named")
    func logAndVaultCutTogether() throws {
        let s = try Scratch()
        let (vault, _) = try s.patient()
        let logAfterCreate = try Self.logLines(s)
        let owner = try vault.unlock(password: pw("patient-pw"))
        for i in 0..<3 { try vault.append(type: "dose", data: json("\(i)"), session: owner) }
        try Self.writeLog(logAfterCreate, s)
        let (cls, text) = Self.message { _ = try s.store.verifyAccessLog() }
        #expect(cls == "tampered" && text.contains("dropped"), "\(cls): \(text)")
        // And a vault the (never pruned) log does not know at all.
        try Self.writeLog(Array(logAfterCreate.prefix(1)), s)
        #expect(Self.message { _ = try s.store.verifyAccessLog() }.0 == "tampered")
    }

    @Test("a cut laundered by the next append (the new record takes a cut record's number) is still named")
    func cutThenAppend() throws {
        let s = try Scratch()
        let (vault, _) = try s.patient()
        let owner = try vault.unlock(password: pw("patient-pw"))
        try vault.append(type: "dose", data: json("1"), session: owner)
        let cut = try Self.read(vault.path).count
        for i in 2...4 { try vault.append(type: "dose", data: json("\(i)"), session: owner) }
        try Self.write(Array(try Self.read(vault.path)[0..<cut]), vault.path)
        let again = try s.store.openVault(id: vault.vaultId)
        try again.append(type: "dose", data: json("5"), session: try again.unlock(password: pw("patient-pw")))
        let (cls, text) = Self.message { _ = try s.store.verifyAccessLog() }
        #expect(cls == "tampered" && text.contains("twice"), "\(cls): \(text)")
        #expect(failureClass { _ = try again.verify(try again.unlock(password: pw("patient-pw"))) } == "tampered")
    }

    @Test("a deleted or emptied log is never made anew by the next operation")
    func logNotRecreated() throws {
        let s = try Scratch()
        let (vault, _) = try s.patient()
        let owner = try vault.unlock(password: pw("patient-pw"))
        try FileManager.default.removeItem(atPath: s.store.auditLogPath)
        #expect(failureClass { try vault.append(type: "dose", data: json("1"), session: owner) } != "ok")
        #expect(!FileManager.default.fileExists(atPath: s.store.auditLogPath))
        try Self.write([], s.store.auditLogPath)
        #expect(failureClass { try s.store.log("x", vaultId: nil, actor: "operator", role: "operator") } == "tampered")
        #expect(failureClass { _ = try s.store.verifyAccessLog() } == "tampered")
    }

    @Test("a store id that is not 32 hex digits (a path into the store) is refused before any key is looked for")
    func storeIdIsNotAPath() throws {
        let s = try Scratch()
        let meta = "\(s.dir)/\(Store.metadataFile)"
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: meta))) as! [String: Any]
        for bad in ["../store/certificates/x", "ABCDEF0123456789abcdef0123456789", "00", ""] {
            json["storeId"] = bad
            try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: meta))
            #expect(failureClass { _ = try Store.open(at: s.dir) } == "tampered", "\(bad)")
        }
        // A root key asked for inside the store directory is refused.
        #expect(failureClass { _ = try Store.initialize(at: "\(s.dir)-x", rootKey: .file("\(s.dir)-x/keys/root.key")) } == "invalid-input")
    }

    @Test("the root key file must be a regular file only its owner can read; a FIFO in its place never hangs")
    func rootKeyFileChecks() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mikata-keyfile-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let key = "\(dir)/keys/root.key"
        _ = try Store.initialize(at: "\(dir)/store", rootKey: .file(key))
        chmod(key, 0o644)
        #expect(failureClass { _ = try Store.open(at: "\(dir)/store", rootKey: .file(key)) } == "not-permitted")
        chmod(key, 0o600)
        #expect(failureClass { _ = try Store.open(at: "\(dir)/store", rootKey: .file(key)) } == "ok")
        let fifo = "\(dir)/keys/fifo.key"
        #expect(mkfifo(fifo, 0o600) == 0)
        #expect(failureClass { _ = try Store.open(at: "\(dir)/store", rootKey: .file(fifo)) } == "not-permitted")
        // A key folder others can write: no key is created there.
        try FileManager.default.createDirectory(atPath: "\(dir)/open", withIntermediateDirectories: true)
        chmod("\(dir)/open", 0o777)
        #expect(failureClass { _ = try Store.initialize(at: "\(dir)/store2", rootKey: .directory("\(dir)/open")) } == "not-permitted")
    }

    @Test("restore and upgrade read a root key descriptor once")
    func descriptorReadOnce() throws {
        let f = try BackupFixture()
        _ = try Backup.create(store: f.store, out: f.path("b.mkb"))
        let keyFile = f.path("target.key")
        try Self.write(RootKeyFile(secret: SecureBytes.random(count: 32)).serialize(), keyFile)
        chmod(keyFile, 0o600)
        let fd = open(keyFile, O_RDONLY)
        defer { close(fd) }
        _ = try Backup.restore(path: f.path("b.mkb"), into: f.path("restored"), backupKey: try Backup.readSecretKey(path: f.keyFile),
                               tombstones: .from([f.store.root]), rootKey: .descriptor(fd))
        #expect(try Store.open(at: f.path("restored"), rootKey: .file(keyFile)).verifyAccessLog().entries > 0)
    }

    @Test("a backup is never made of a tampered store: a copied identity entry or a rolled-back vault is refused")
    func backupRefusesTamperedStore() throws {
        let f = try BackupFixture()
        let a = try f.store.lookupPath(.patient, email: BackupFixture.patients[0].0)
        let b = try f.store.lookupPath(.patient, email: BackupFixture.patients[1].0)
        let saved = try Self.read(a)
        try Self.write(try Self.read(b), a)
        #expect(failureClass { _ = try Backup.create(store: f.store, out: f.path("t.mkb")) } == "tampered")
        #expect(!FileManager.default.fileExists(atPath: f.path("t.mkb")))
        try Self.write(saved, a)
        #expect(failureClass { _ = try Backup.create(store: f.store, out: f.path("ok.mkb")) } == "ok")
    }
}

extension Array where Element == UInt8 {
    func containsRun(_ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, count >= needle.count else { return false }
        return (0...(count - needle.count)).contains { self[$0..<($0 + needle.count)].elementsEqual(needle) }
    }
}
