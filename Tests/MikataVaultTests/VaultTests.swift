import Foundation
import Testing
@testable import MikataVault
import MikataFormat
import MikataCrypto

/// A throwaway store with fast Argon2id and small header copies, removed when the fixture goes away.
final class Scratch {
    let dir: String
    let store: Store

    init(headerCopyLength: Int = 1024) throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("mikata-test-\(UUID().uuidString)").path
        store = try Store.initialize(at: dir).0
        store.kdf = .minimumForTesting
        store.headerCopyLength = headerCopyLength
    }

    deinit { try? FileManager.default.removeItem(atPath: dir) }

    func patient(_ email: String = "patient@example.jp", password: String = "patient-pw") throws -> (Vault, SecureBytes) {
        let (_, code) = try store.createPatient(email: email, nickname: "Nick", password: pw(password))
        return (try store.openVault(email: email), code)
    }

    func supporter(_ email: String, password: String = "nurse-pw") throws -> (SupporterPublicKeys, SupporterIdentity) {
        let keys = try store.createSupporter(email: email, name: "Nurse", password: pw(password))
        return (keys, try store.unlockSupporter(email: email, password: pw(password)))
    }
}

func pw(_ s: String) -> SecureBytes { SecureBytes(copying: Array(s.utf8)) }
func json(_ s: String) -> [UInt8] { Array(s.utf8) }

func failureClass(_ body: () throws -> Void) -> String {
    do { try body(); return "ok" } catch let e as VaultError { return e.failureClass } catch { return "other: \(error)" }
}

@Suite("Vault core")
struct VaultTests {
    @Test("create, append, read back; the profile record comes first")
    func roundTrip() throws {
        let s = try Scratch()
        let (vault, _) = try s.patient()
        let session = try vault.unlock(password: pw("patient-pw"))
        let a = try vault.append(type: "dose", data: json(#"{"mg":300}"#), session: session)
        let b = try vault.append(type: "message", data: json(#""hello""#), session: session)
        #expect(a == 1 && b == 2)
        let records = try vault.records(session)
        #expect(records.map(\.seq) == [0, 1, 2])
        #expect(records[0].type == Vault.profileRecordType)
        #expect(records[1].data == json(#"{"mg":300}"#))
        #expect(records[2].author.description == "patient")
        // A second handle (another process would do the same) sees the same records.
        let again = try s.store.openVault(email: "patient@example.jp")
        #expect(try again.records(again.unlock(password: pw("patient-pw"))) == records)
    }

    @Test("wrong password and wrong recovery code are authentication failures; the recovery code sets a new password")
    func passwordsAndRecovery() throws {
        let s = try Scratch()
        let (vault, code) = try s.patient()
        #expect(failureClass { _ = try vault.unlock(password: pw("nope")) } == "authentication-failed")
        #expect(failureClass { _ = try vault.unlock(recoveryCode: pw("0000-0000")) } == "invalid-input")  // cannot be a code
        var wrongCode = code.unsafeCopyToArray()
        wrongCode[0] = wrongCode[0] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        #expect(failureClass { _ = try vault.unlock(recoveryCode: SecureBytes(copying: wrongCode)) } == "authentication-failed")
        // Typed in lower case with spaces instead of dashes still works.
        let typed = String(decoding: code.unsafeCopyToArray(), as: UTF8.self).lowercased().replacingOccurrences(of: "-", with: " ")
        let session = try vault.unlock(recoveryCode: pw(typed))
        try vault.changePassword(to: pw("new-pw"), kdf: .minimumForTesting, session: session)
        #expect(failureClass { _ = try vault.unlock(password: pw("patient-pw")) } == "authentication-failed")
        let fresh = try s.store.openVault(email: "patient@example.jp")
        #expect(try fresh.records(fresh.unlock(password: pw("new-pw"))).count == 1)
    }

    @Test("grant: a supporter reads and writes, attributed to them; only the patient changes access")
    func grantAndAttribution() throws {
        let s = try Scratch()
        let (vault, _) = try s.patient()
        let (nurseKeys, nurse) = try s.supporter("nurse@example.jp")
        let (_, other) = try s.supporter("other@example.jp")
        let patient = try vault.unlock(password: pw("patient-pw"))
        #expect(failureClass { _ = try vault.unlock(supporter: nurse) } == "not-permitted")
        #expect(try vault.grant(nurseKeys, session: patient))
        #expect(try vault.grant(nurseKeys, session: patient) == false)  // idempotent
        let ns = try vault.unlock(supporter: nurse)
        try vault.append(type: "message", data: json(#""from the nurse""#), session: ns)
        let records = try vault.records(ns)
        #expect(records.last?.author == RecordAuthor(role: "supporter", id: nurseKeys.id))
        // A supporter cannot grant, revoke or change the password.
        #expect(failureClass { try vault.grant(SupporterPublicKeys(id: other.id, boxPublicKey: other.box.publicKey, signPublicKey: other.signing.publicKey), session: ns) } == "not-permitted")
        #expect(failureClass { try vault.revoke(nurseKeys.id, session: ns) } == "not-permitted")
        #expect(failureClass { try vault.changePassword(to: pw("x"), session: ns) } == "not-permitted")
        #expect(failureClass { _ = try vault.unlock(supporter: other) } == "not-permitted")
    }

    @Test("revoke: a new epoch; the revoked supporter is out, the others read old and new records without doing anything")
    func revocation() throws {
        let s = try Scratch()
        let (vault, _) = try s.patient()
        let (aKeys, a) = try s.supporter("a@example.jp")
        let (bKeys, b) = try s.supporter("b@example.jp")
        let patient = try vault.unlock(password: pw("patient-pw"))
        try vault.grant(aKeys, session: patient)
        try vault.grant(bKeys, session: patient)
        let aSession = try vault.unlock(supporter: a)
        let bSession = try vault.unlock(supporter: b)
        try vault.append(type: "message", data: json("1"), session: aSession)
        try vault.revoke(aKeys.id, session: patient)
        try vault.append(type: "dose", data: json("2"), session: patient)
        #expect(vault.keyState.currentEpoch.epoch == 2)
        // A's session is stale: rebuilding its keys fails, and so does writing.
        #expect(failureClass { _ = try vault.records(aSession) } == "not-permitted")
        #expect(failureClass { try vault.append(type: "message", data: json("3"), session: aSession) } == "not-permitted")
        #expect(failureClass { _ = try vault.unlock(supporter: a) } == "not-permitted")
        // B's existing session keeps working across the epoch change, and A's earlier record still verifies.
        let records = try vault.records(bSession)
        #expect(records.map(\.data) == [records[0].data, json("1"), json("2")])
        #expect(records[1].author.id == aKeys.id)
        #expect(failureClass { try vault.revoke(aKeys.id, session: patient) } == "ok")  // idempotent (a re-run after a crash)
        #expect(failureClass { try vault.revoke(Random.bytes(16), session: patient) } == "not-found")
        // Re-granting A later works, with a fresh key share.
        try vault.grant(aKeys, session: patient)
        #expect(try vault.records(vault.unlock(supporter: a)).count == 3)
    }

    @Test("a revoked supporter with a saved copy of the file and their old keys cannot read what is written afterwards")
    func revokedSupporterWithSavedCopy() throws {
        let s = try Scratch()
        let (vault, _) = try s.patient()
        let (aKeys, a) = try s.supporter("a@example.jp")
        let patient = try vault.unlock(password: pw("patient-pw"))
        try vault.grant(aKeys, session: patient)
        try vault.append(type: "dose", data: json("\"before\""), session: patient)
        let saved = try Data(contentsOf: URL(fileURLWithPath: vault.path))
        // What A can keep: the saved file and the epoch keys it unwrapped from it.
        let oldSession = try vault.unlock(supporter: a)
        let oldKeyring = try #require(oldSession.keyring)
        try vault.revoke(aKeys.id, session: patient)
        try vault.append(type: "dose", data: json("\"secret-after\""), session: patient)
        let current = Array(try Data(contentsOf: URL(fileURLWithPath: vault.path)))
        // Decrypting the current file with the keys A held: the new record's epoch key is simply not there.
        let loaded = try Vault.loadHeader(file: try PosixFile.open(vault.path, readOnly: true))
        #expect(failureClass {
            _ = try Vault.scanRecords(current, preamble: loaded.preamble, state: loaded.state, keyring: oldKeyring, keepPayloads: false)
        } == "not-permitted")
        // Even forcing A's old epoch keys onto the new epoch fails authentication.
        let forced = Keyring(generation: 0, stateSignature: [], epochKeys: [:], derived: [1: oldKeyring.derived[1]!, 2: oldKeyring.derived[1]!])
        #expect(failureClass {
            _ = try Vault.scanRecords(current, preamble: loaded.preamble, state: loaded.state, keyring: forced, keepPayloads: false)
        } == "tampered")
        // The saved copy still holds only what A could already read.
        let savedState = try Vault.loadHeader(file: try { let p = s.dir + "/saved.vault"; try saved.write(to: URL(fileURLWithPath: p)); return try PosixFile.open(p) }())
        let old = try Vault.scanRecords(Array(saved), preamble: savedState.preamble, state: savedState.state, keyring: oldKeyring, keepPayloads: false)
        #expect(old.records.last?.data == json("\"before\""))
    }

    @Test("revoke --reencrypt: every record under the new epoch, old epochs dropped, signatures intact")
    func reencrypt() throws {
        let s = try Scratch()
        let (vault, _) = try s.patient()
        let (aKeys, a) = try s.supporter("a@example.jp")
        let (bKeys, b) = try s.supporter("b@example.jp")
        let patient = try vault.unlock(password: pw("patient-pw"))
        try vault.grant(aKeys, session: patient)
        try vault.grant(bKeys, session: patient)
        let aSession = try vault.unlock(supporter: a)
        for i in 0..<5 { try vault.append(type: "dose", data: json("\(i)"), session: i % 2 == 0 ? patient : aSession) }
        let before = try vault.records(patient)
        let oldKeyring = try #require(aSession.keyring)
        try vault.revoke(aKeys.id, reencrypt: true, session: patient)
        #expect(vault.keyState.epochs.map(\.epoch) == [2])
        #expect(try vault.records(patient) == before)
        let other = try s.store.openVault(email: "patient@example.jp")
        #expect(try other.records(other.unlock(supporter: b)) == before)
        _ = try other.verify(other.unlock(password: pw("patient-pw")))
        // A's old keys open nothing in the re-encrypted file, not even the old records.
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: vault.path)))
        let loaded = try Vault.loadHeader(file: try PosixFile.open(vault.path, readOnly: true))
        let forced = Keyring(generation: 0, stateSignature: [], epochKeys: [:], derived: [2: oldKeyring.derived[1]!])
        #expect(failureClass { _ = try Vault.scanRecords(bytes, preamble: loaded.preamble, state: loaded.state, keyring: forced, keepPayloads: false) } == "tampered")
        // Appending continues the sequence.
        #expect(try vault.append(type: "dose", data: json("9"), session: patient) == 6)
    }

    @Test("write-only service: appends sealed records it cannot read; the patient and supporters read them")
    func writeOnlyService() throws {
        let s = try Scratch()
        let (vault, _) = try s.patient()
        let (aKeys, a) = try s.supporter("a@example.jp")
        let patient = try vault.unlock(password: pw("patient-pw"))
        try vault.grant(aKeys, session: patient)
        let pillBox = ServiceIdentity.generate()
        #expect(failureClass { _ = try vault.session(service: pillBox) } == "not-permitted")
        try vault.authorize(service: pillBox.id, signPublicKey: pillBox.signPublicKey, session: patient)
        let service = try s.store.openVault(email: "patient@example.jp").session(service: pillBox)
        let writer = try s.store.openVault(email: "patient@example.jp")
        let svc = try writer.session(service: pillBox)
        _ = service
        let seq = try writer.append(type: "dose", data: json(#"{"box":"opened"}"#), session: svc)
        #expect(failureClass { _ = try writer.records(svc) } == "not-permitted")
        let records = try vault.records(patient)
        #expect(records.last?.seq == seq && records.last?.author == RecordAuthor(role: "service", id: pillBox.id))
        #expect(try vault.records(vault.unlock(supporter: a)).last?.data == json(#"{"box":"opened"}"#))
        // After a revocation (new epoch) the service keeps writing, sealed to the new epoch's key.
        try vault.revoke(aKeys.id, session: patient)
        try writer.append(type: "dose", data: json("2"), session: svc)
        #expect(try vault.records(patient).last?.data == json("2"))
        // Revoking the service stops it.
        try vault.revoke(pillBox.id, session: patient)
        #expect(failureClass { try writer.append(type: "dose", data: json("3"), session: svc) } == "not-permitted")
    }

    @Test("a supporter cannot forge a record as the patient, nor re-sign the key state")
    func forgery() throws {
        let s = try Scratch()
        let (vault, _) = try s.patient()
        let (aKeys, a) = try s.supporter("a@example.jp")
        let patient = try vault.unlock(password: pw("patient-pw"))
        try vault.grant(aKeys, session: patient)
        let aSession = try vault.unlock(supporter: a)
        let keyring = try #require(aSession.keyring)
        // A frame that claims the patient as author, signed with the supporter's key, appended with valid encryption.
        let records = try vault.records(patient)
        let file = try PosixFile.open(vault.path)
        let bytes = try file.readAll()
        let loaded = try Vault.loadHeader(file: file)
        let tail = try Vault.scanRecords(bytes, preamble: loaded.preamble, state: loaded.state, keyring: nil, keepPayloads: false).tail
        var payload = RecordPayload(authorId: vault.vaultId, timeMillis: 0, type: "dose", data: json("\"forged\""))
        payload.signature = a.signing.sign(RecordPayload.signatureMessage(vaultId: vault.vaultId, seq: tail.nextSeq, unsignedPayload: payload.unsignedBytes()))
        let frame = try Vault.seal(payload.serialize(), seq: tail.nextSeq, epoch: 1, prevLink: tail.link, vaultId: vault.vaultId,
                                   kind: .vaultKey, recordKey: keyring.derived[1]!.recordKey)
        try file.write(frame.serialize(), at: tail.end)
        let fresh = try s.store.openVault(email: "patient@example.jp")
        #expect(failureClass { _ = try fresh.records(fresh.unlock(password: pw("patient-pw"))) } == "tampered")
        try file.truncate(to: tail.end)
        #expect(try fresh.records(fresh.unlock(password: pw("patient-pw"))) == records)
        // A key state re-signed by the supporter (adding themselves a second slot) is refused.
        var forged = loaded.state
        forged.generation += 1
        forged.signature = a.signing.sign(forged.signedMessage())
        let copy = try HeaderCopy(generation: forged.generation, body: forged.serialize()).serialize(copyLength: loaded.preamble.headerCopyLength)
        try file.write(copy, at: loaded.preamble.headerCopyOffset(0))
        try file.write(copy, at: loaded.preamble.headerCopyOffset(1))
        #expect(failureClass { _ = try s.store.openVault(email: "patient@example.jp") } == "tampered")
    }

    @Test("destroying the erasure secret: the file plus the password opens nothing")
    func erasureSecret() throws {
        let s = try Scratch()
        let (vault, _) = try s.patient()
        let session = try vault.unlock(password: pw("patient-pw"))
        try vault.append(type: "dose", data: json("1"), session: session)
        try FileManager.default.removeItem(atPath: s.store.erasureSecretPath(vault.vaultId))
        #expect(failureClass { _ = try s.store.openVault(email: "patient@example.jp") } == "erased")
        // Even with a guessed (any other) erasure secret, the password unwraps the owner key but no record decrypts.
        let forced = try Vault(path: vault.path, erasureSecret: SecureBytes.random(count: 32), anchor: s.store.anchor(vault.vaultId))
        let forcedSession = try forced.unlock(password: pw("patient-pw"))
        #expect(failureClass { _ = try forced.records(forcedSession) } == "tampered")
    }

    @Test("format version and slot types: unknown values are clear errors, never guesses")
    func unknownVersions() throws {
        let s = try Scratch()
        let (vault, _) = try s.patient()
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: vault.path)))
        // A genuine future version: version 2 with a checksum that matches it.
        var preamble = try Preamble.parse(bytes)
        preamble.version = 2
        bytes.replaceSubrange(0..<64, with: preamble.serialize())
        try Data(bytes).write(to: URL(fileURLWithPath: vault.path))
        #expect(failureClass { _ = try s.store.openVault(email: "patient@example.jp") } == "unsupported")
        // A damaged version field (checksum matches version 1) is corruption.
        bytes[9] ^= 0x04
        preamble.version = 1
        bytes.replaceSubrange(0..<64, with: preamble.serialize())
        bytes[9] ^= 0x04
        try Data(bytes).write(to: URL(fileURLWithPath: vault.path))
        #expect(failureClass { _ = try s.store.openVault(email: "patient@example.jp") } == "corrupted")
        #expect(throws: FormatError.unsupportedType("key slot type 9")) {
            var w = ByteWriter()
            w.writeU8(9); w.writeVariable16([])
            _ = try KeyStateSlotProbe.parseSlot(w.bytes)
        }
    }

    @Test("record types and e-mail addresses are validated without echoing them")
    func inputValidation() throws {
        let s = try Scratch()
        let (vault, _) = try s.patient()
        let session = try vault.unlock(password: pw("patient-pw"))
        for bad in ["", "Dose", "mikata.profile", String(repeating: "a", count: 65), "dose!"] {
            #expect(failureClass { try vault.append(type: bad, data: json("1"), session: session) } == "invalid-input")
        }
        #expect(throws: VaultError.invalidInput("that is not a valid e-mail address")) { try Store.normalise(email: "secret-person") }
        #expect(try Store.normalise(email: "  Taro@Example.JP ") == "taro@example.jp")
        #expect(failureClass { _ = try s.store.createPatient(email: "PATIENT@example.jp", nickname: "x", password: pw("p")) } == "already-exists")
    }

    @Test("recovery codes: 40 characters in groups of five, round trip")
    func recoveryCodeFormat() throws {
        let (text, raw) = RecoveryCode.generate()
        let s = String(decoding: text.unsafeCopyToArray(), as: UTF8.self)
        #expect(s.count == 47 && s.split(separator: "-").count == 8)
        #expect(try RecoveryCode.decode(text) == raw)
    }
}

/// Parses a single slot through the real key-state parser by wrapping it in a minimal state.
enum KeyStateSlotProbe {
    static func parseSlot(_ slotBytes: [UInt8]) throws -> KeyState {
        let owner = SigningKeyPair.generate()
        let id = [UInt8](repeating: 7, count: 16)
        var w = ByteWriter()
        w.write(id); w.writeU64(1); w.write(owner.publicKey); w.writeI64(0)
        w.write([UInt8](repeating: 0, count: 72)); w.writeU64(0); w.write([UInt8](repeating: 0, count: 32))
        w.writeU16(1); w.writeU32(1); w.writeU64(0); w.write([UInt8](repeating: 0, count: 32)); w.writeU8(0)
        w.write([UInt8](repeating: 0, count: 72))
        w.writeU16(1); w.write(id); w.writeU8(1); w.write(owner.publicKey); w.writeU64(0); w.writeU64(UInt64.max)
        w.writeU16(1); w.write(slotBytes)
        w.write([UInt8](repeating: 0, count: 64))
        return try KeyState.parse(w.bytes)
    }
}
