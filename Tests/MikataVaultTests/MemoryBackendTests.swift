import Foundation
import Testing
@testable import MikataVault
import MikataFormat
import MikataCrypto

/// A vault on the in-memory backend: no store, no file (the medium and the rollback anchor are both in memory).
final class MemoryVault {
    let slot = MemoryVaultSlot(name: "memory-test")
    let erasureSecret = SecureBytes.random(count: 32)
    let anchor: VaultAnchor
    let vault: Vault

    init() throws {
        let draft = VaultDraft.new()
        anchor = VaultAnchor(record: MemoryAnchorRecord(), vaultId: draft.vaultId, rootKey: nil)
        vault = try Vault.create(draft: draft, anchor: anchor, erasureSecret: erasureSecret, password: pw("patient-pw"),
                                 kdf: .minimumForTesting, headerCopyLength: 1024, profile: json(#"{"nickname":"Nick"}"#),
                                 nowMillis: 1_700_000_000_000) { [slot] in try slot.create($0) }.0
    }

    /// Another handle on the same vault, as a second process would open it.
    func reopen() throws -> Vault { try Vault(medium: slot.open(), erasureSecret: erasureSecret, anchor: anchor) }
}

private func supporterIdentity() -> (SupporterPublicKeys, SupporterIdentity) {
    let box = BoxKeyPair.generate(), signing = SigningKeyPair.generate(), id = Random.bytes(16)
    return (SupporterPublicKeys(id: id, boxPublicKey: box.publicKey, signPublicKey: signing.publicKey),
            SupporterIdentity(id: id, box: box, signing: signing, name: "Nurse"))
}

@Suite("Memory backend")
struct MemoryBackendTests {
    @Test("create, unlock, append and paginated reads run on the in-memory medium")
    func appendAndPages() throws {
        let m = try MemoryVault()
        let session = try m.vault.unlock(password: pw("patient-pw"))
        for i in 1...9 { #expect(try m.vault.append(type: "dose", data: json(#"{"n":\#(i)}"#), session: session) == UInt64(i)) }
        let first = try m.vault.records(session, after: 0, limit: 4)
        #expect(first.records.map(\.seq) == [1, 2, 3, 4])
        let rest = try m.vault.records(session, after: first.nextAfter, limit: 100)
        #expect(rest.records.map(\.seq) == [5, 6, 7, 8, 9])
        #expect(rest.records.last?.data == json(#"{"n":9}"#))
        let again = try m.reopen()
        #expect(try again.records(again.unlock(password: pw("patient-pw"))).count == 10)
        #expect(try m.vault.verify(session).recordCount == 10)
    }

    @Test("grant, revoke and revoke with re-encryption on the in-memory medium")
    func grantAndRevoke() throws {
        let m = try MemoryVault()
        let owner = try m.vault.unlock(password: pw("patient-pw"))
        let (keys, nurse) = supporterIdentity()
        #expect(try m.vault.grant(keys, session: owner))
        try m.vault.append(type: "dose", data: json("1"), session: owner)
        let theirs = try m.reopen()
        let nurseSession = try theirs.unlock(supporter: nurse)
        #expect(try theirs.records(nurseSession).map(\.seq) == [0, 1])
        try m.vault.revoke(keys.id, session: owner)
        #expect(failureClass { _ = try m.reopen().unlock(supporter: nurse) } != "ok")

        let (keys2, nurse2) = supporterIdentity()
        try m.vault.grant(keys2, session: owner)
        let before = try m.slot.open().identity()
        try m.vault.revoke(keys2.id, reencrypt: true, session: owner)
        #expect(try m.slot.open().identity() != before, "a re-encryption replaces the content")
        #expect(m.vault.keyState.epochs.count == 1)
        #expect(failureClass { _ = try m.reopen().unlock(supporter: nurse2) } != "ok")
        // A handle opened before the replacement notices it and reads the new content.
        #expect(try theirs.records(theirs.unlock(password: pw("patient-pw"))).map(\.seq) == [0, 1])
        #expect(try m.vault.verify(owner).recordCount == 2)
    }

    @Test("an append at a stale end fails as busy and writes nothing")
    func raceFailingAppend() throws {
        let m = try MemoryVault()
        let medium = try m.slot.open()
        let end = try medium.size()
        #expect(failureClass { try medium.append([1, 2, 3], atExpectedEnd: end - 1) } == VaultError.busy("").failureClass)
        #expect(try medium.size() == end)
        try medium.append([1, 2, 3], atExpectedEnd: end)
        #expect(try medium.size() == end + 3)
        #expect(failureClass { _ = try m.slot.create([]) } == VaultError.alreadyExists("").failureClass, "a vault is created once")
    }

    @Test("the file medium refuses an append at a stale end too")
    func raceFailingFileAppend() throws {
        let s = try Scratch()
        let (vault, _) = try s.patient()
        let medium = try FileVaultMedium.open(vault.path)
        let end = try medium.size()
        #expect(failureClass { try medium.append([1], atExpectedEnd: end + 1) } == VaultError.busy("").failureClass)
        #expect(try medium.size() == end)
    }

    @Test("a torn tail is cut off by the next append; a crash keeps only synced bytes")
    func tornTailAndCrash() throws {
        let m = try MemoryVault()
        let session = try m.vault.unlock(password: pw("patient-pw"))
        try m.vault.append(type: "dose", data: json("1"), session: session)
        let synced = try m.slot.bytes()
        // An append that never reached its sync, then a power loss.
        let raw = try m.slot.open()
        try raw.append(Array(synced.suffix(40)), atExpectedEnd: synced.count)
        m.slot.crash()
        #expect(try m.slot.bytes() == synced)
        // A torn frame that was synced: the next writer cuts it off and appends after the last complete frame.
        try raw.append(Array(synced.suffix(40)), atExpectedEnd: synced.count)
        try raw.syncData()
        let other = try m.reopen()
        #expect(try other.inspect().tornTailBytes == 40)
        #expect(try other.append(type: "dose", data: json("2"), session: other.unlock(password: pw("patient-pw"))) == 2)
        #expect(try m.vault.verify(session).recordCount == 3)
    }

    @Test("the rollback anchor in memory refuses an older vault content put back after a revocation")
    func rollbackOnMemory() throws {
        let m = try MemoryVault()
        let owner = try m.vault.unlock(password: pw("patient-pw"))
        let (keys, nurse) = supporterIdentity()
        try m.vault.grant(keys, session: owner)
        let beforeRevoke = try m.slot.bytes()
        try m.vault.revoke(keys.id, session: owner)
        m.slot.install(MemoryVaultObject(serial: MemoryVaultSlot.nextSerial(), bytes: beforeRevoke))
        #expect(failureClass { _ = try m.reopen().unlock(supporter: nurse) } == VaultError.tampered("").failureClass)
        #expect(failureClass { try m.anchor.writeNew(m.vault.keyState) } == VaultError.alreadyExists("").failureClass)
    }

    @Test("two handles exclude each other like flock; a dropped handle lets go")
    func locks() throws {
        let m = try MemoryVault()
        var a: MemoryVaultMedium? = try m.slot.open()
        let b = try m.slot.open()
        try a?.lock(exclusive: true, timeout: 0)
        #expect(failureClass { try b.lock(exclusive: false, timeout: 0) } == VaultError.busy("").failureClass)
        a = nil
        try b.lock(exclusive: true, timeout: 0)
        b.unlock()
    }

    @Test("a vault written by the file backend opens from memory with the same bytes, and back")
    func sameBytesBothWays() throws {
        let s = try Scratch()
        let (vault, _) = try s.patient()
        let session = try vault.unlock(password: pw("patient-pw"))
        try vault.append(type: "dose", data: json(#"{"mg":300}"#), session: session)
        let expected = try vault.records(session)
        let secret = try #require(try Store.readErasureSecret(s.store.erasureSecretPath(vault.vaultId))).secret
        let fileBytes = Array(try Data(contentsOf: URL(fileURLWithPath: vault.path)))

        // File → memory: the same bytes open and read the same records.
        let slot = MemoryVaultSlot(bytes: fileBytes)
        let inMemory = try Vault(medium: slot.open(), erasureSecret: secret, anchor: s.store.anchor(vault.vaultId))
        let memorySession = try inMemory.unlock(password: pw("patient-pw"))
        #expect(try inMemory.records(memorySession) == expected)

        // Memory → file: a write on the memory medium, then its bytes put in the vault file, open through the file.
        _ = try inMemory.append(type: "dose", data: json(#"{"mg":100}"#), session: memorySession)
        let memoryBytes = try slot.bytes()
        #expect(Array(memoryBytes.prefix(fileBytes.count)) == fileBytes, "an append only adds bytes after the old end")
        try Data(memoryBytes).write(to: URL(fileURLWithPath: vault.path))
        let fromFile = try Vault(path: vault.path, erasureSecret: secret, anchor: s.store.anchor(vault.vaultId))
        let all = try fromFile.records(fromFile.unlock(password: pw("patient-pw")))
        #expect(all.map(\.seq) == [0, 1, 2])
        #expect(Array(all.prefix(2)) == expected)
    }
}

/// The three other storage boundaries: each in-memory twin against the file implementation, through the protocol.
@Suite("Storage protocols")
struct StorageProtocolTests {
    /// A file-backed and a memory-backed instance of each boundary, and the folder that holds the files.
    final class Backends {
        let dir: String
        init() throws {
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("mikata-protocols-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }
        deinit { try? FileManager.default.removeItem(atPath: dir) }
        var secretStores: [any ErasureSecretStore] { [FileErasureSecretStore(root: dir), MemoryErasureSecretStore()] }
        var directories: [any IdentityDirectory] { [FileIdentityDirectory(root: dir), MemoryIdentityDirectory()] }
        var sinks: [any AccessLogSink] { [FileAccessLogSink(path: "\(dir)/audit/log.jsonl"), MemoryAccessLogSink()] }
    }

    @Test("an erasure secret is created once, read back, and gone after destroy")
    func erasureSecrets() throws {
        let b = try Backends()
        for store in b.secretStores {
            let id = Random.bytes(16), secret = SecureBytes.random(count: 32)
            #expect(try store.secret(of: id) == nil)
            try store.create(ErasureSecretFile(vaultId: id, secret: secret))
            #expect(try store.secret(of: id)?.secret == secret)
            #expect(failureClass { try store.create(ErasureSecretFile(vaultId: id, secret: secret)) } == VaultError.alreadyExists("").failureClass)
            #expect(try store.destroy(vaultId: id, lockTimeout: 1) > 0)
            #expect(try store.secret(of: id) == nil)
            #expect(try store.destroy(vaultId: id, lockTimeout: 1) == 0)
        }
    }

    @Test("a vault handle whose erasure secret was destroyed cannot adopt a replaced vault")
    func destroyedSecretOnMemory() throws {
        let m = try MemoryVault()
        let secrets = MemoryErasureSecretStore()
        try secrets.create(ErasureSecretFile(vaultId: m.vault.vaultId, secret: m.erasureSecret))
        let owner = try m.vault.unlock(password: pw("patient-pw"))
        let other = try m.reopen()
        other.erasureSecrets = secrets
        let (keys, _) = supporterIdentity()
        try m.vault.grant(keys, session: owner)
        try m.vault.revoke(keys.id, reencrypt: true, session: owner)  // a new object: `other` must re-read the secret
        _ = try secrets.destroy(vaultId: m.vault.vaultId, lockTimeout: 1)
        #expect(failureClass { _ = try other.inspect() } == VaultError.erased("").failureClass)
    }

    @Test("identity entries: create once, read, remove")
    func identities() throws {
        let b = try Backends()
        for directory in b.directories {
            let name = Random.bytes(32)
            #expect(!directory.contains(name))
            #expect(try directory.entry(named: name) == nil)
            try directory.create(named: name, [1, 2, 3])
            #expect(directory.contains(name))
            #expect(try directory.entry(named: name) == [1, 2, 3])
            #expect(failureClass { try directory.create(named: name, [4]) } == VaultError.alreadyExists("").failureClass)
            try directory.remove(named: name)
            #expect(!directory.contains(name))
            try directory.remove(named: name)
        }
    }

    @Test("the access log on either sink: created once, group-committed appends from many threads, a chain that verifies")
    func accessLogSinks() throws {
        let b = try Backends()
        let signing = SigningKeyPair.generate()
        for sink in b.sinks {
            let log = AuditLog(sink: sink, name: "log", storeId: "store", signing: signing, macKey: SecureBytes.random(count: 32))
            #expect(failureClass { try log.append(AuditLog.Event(vaultId: nil, actor: "a", role: "operator", action: "x", outcome: "ok", detail: "")) }
                    == VaultError.tampered("").failureClass, "a missing log is never made by a later entry")
            try log.append(AuditLog.Event(vaultId: nil, actor: "a", role: "operator", action: "store-init", outcome: "ok", detail: ""), creating: true)
            DispatchQueue.concurrentPerform(iterations: 16) { i in
                _ = try? log.append(AuditLog.Event(vaultId: Random.bytes(16), actor: "patient", role: "patient", action: "append", outcome: "ok", detail: "\(i)"))
            }
            #expect(try log.entries().map(\.seq) == Array(0...16))
            #expect(try log.verify().entries == 17)
            #expect(log.syncCount <= 17)
            // A torn last line (a crash mid-write) is cut off by the next writer.
            let writer = try sink.openLocked(creating: false)
            try writer.append(Array(#"{"torn"#.utf8), atExpectedEnd: try writer.size())
            writer.unlock()
            try log.checkpoint()
            #expect(try log.verify().entries == 17)
        }
    }

    @Test("the file sink keeps its log open between batches yet follows a replaced log and refuses a deleted, emptied or symlinked one")
    func keptAccessLogFile() throws {
        let b = try Backends()
        let path = "\(b.dir)/audit/log.jsonl"
        let sink = FileAccessLogSink(path: path)
        func write(_ line: String) throws {
            let w = try sink.openLocked(creating: !FileManager.default.fileExists(atPath: path))
            defer { w.unlock() }
            try w.append(Array((line + "\n").utf8), atExpectedEnd: try w.size())
        }
        func identity() throws -> MediumIdentity {
            let w = try sink.openLocked(creating: false)
            defer { w.unlock() }
            return try w.identity()
        }
        try write("one")
        try write("two")
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "one\ntwo\n")
        // Replaced by rename (a prune, here or in another process): the next batch writes to the new file.
        try Data("new\n".utf8).write(to: URL(fileURLWithPath: path + ".tmp"))
        #expect(rename(path + ".tmp", path) == 0)
        try write("three")
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "new\nthree\n")
        _ = try identity()
        // Emptied in place: tampering, as for a fresh open.
        #expect(truncate(path, 0) == 0)
        #expect(failureClass { _ = try identity() } == VaultError.tampered("").failureClass)
        // Deleted: tampering, though the descriptor kept from before is still open.
        try Data("again\n".utf8).write(to: URL(fileURLWithPath: path))
        _ = try identity()
        try FileManager.default.removeItem(atPath: path)
        #expect(failureClass { _ = try identity() } == VaultError.tampered("").failureClass)
        // A symlink in its place is not followed.
        try Data("elsewhere\n".utf8).write(to: URL(fileURLWithPath: "\(b.dir)/other.jsonl"))
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: "\(b.dir)/other.jsonl")
        #expect(throws: (any Error).self) { _ = try identity() }
        #expect(try String(contentsOfFile: "\(b.dir)/other.jsonl", encoding: .utf8) == "elsewhere\n")
    }
}
