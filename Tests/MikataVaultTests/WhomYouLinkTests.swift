import Foundation
import Testing
@testable import MikataVault
import MikataFormat
import MikataCrypto

/// Issue 7 §1, "so a patient can check whom they link": contact records name supporters in `audit mine`, sealed so
/// only the patient reads them; supporters pin each patient's vault on first contact and are warned of a change.
@Suite("Checking whom you link: contact records and vault pins")
struct WhomYouLinkTests {
    static let nurseA = (email: "aiko.sato@hokenjo.example.jp", name: "Aiko Sato")
    static let nurseB = (email: "ken.mori@hokenjo.example.jp", name: "Ken Mori")

    /// A patient who linked two nurses through the grant use case (A with a name, B without), each of whom read.
    static func twoNurses(_ s: Scratch) throws -> (vault: Vault, patient: VaultSession, a: SupporterIdentity, b: SupporterIdentity) {
        let (vault, _) = try s.patient()
        let (_, a) = try s.supporter(nurseA.email)
        let (_, b) = try s.supporter(nurseB.email)
        let patient = try vault.unlock(password: pw("patient-pw"))
        let ga = try s.store.grant(vault: vault, session: patient, supporterEmail: nurseA.email, supporterName: nurseA.name)
        let gb = try s.store.grant(vault: vault, session: patient, supporterEmail: nurseB.email)
        #expect(ga.added && gb.added && ga.contactRecorded && gb.contactRecorded)
        for nurse in [a, b] { _ = try vault.records(try vault.unlock(supporter: nurse)) }
        return (vault, patient, a, b)
    }

    @Test("audit mine names both nurses as the patient knows them (name and address, or the address alone) and shows no raw id for them")
    func auditMineNamesSupporters() throws {
        let s = try Scratch()
        let (vault, patient, a, b) = try Self.twoNurses(s)
        let named = try s.store.patientAccessLog(vault: vault, session: patient)
        // The view itself is logged (it read the contact records), and left out of what it shows.
        let views = try s.store.auditLog().entries(ofVault: vault.vaultId.hex).filter { $0.action == Store.accessLogViewAction }
        #expect(views.count == 1 && views.first?.role == "patient", "\(views)")
        #expect(!named.contains { $0.entry.action == Store.accessLogViewAction })
        let actors = Set(named.map(\.actorName))
        #expect(actors.contains("\(Self.nurseA.name) <\(Self.nurseA.email)>"), "\(actors)")
        #expect(actors.contains(Self.nurseB.email), "\(actors)")
        for n in named {
            for id in [a.id.hex, b.id.hex] {
                #expect(!n.actorName.contains(id) && !n.detail.contains(id), "entry \(n.entry.seq) still shows a raw id: \(n.actorName) \(n.detail)")
            }
        }
        // Both nurses' reads are there, under their names.
        let reads = named.filter { $0.entry.action == "read" && $0.entry.role == "supporter" }.map(\.actorName)
        #expect(Set(reads) == ["\(Self.nurseA.name) <\(Self.nurseA.email)>", Self.nurseB.email])
        // The grants name them in the detail too.
        #expect(named.contains { $0.entry.action == "grant" && $0.detail.hasPrefix("\(Self.nurseA.name) <") })
    }

    @Test("a supporter linked before contact records (no contact) keeps their id; a named one beside them is still named")
    func fallbackToId() throws {
        let s = try Scratch()
        let (vault, _) = try s.patient()
        let (keys, old) = try s.supporter("old-nurse@example.jp")
        let (_, a) = try s.supporter(Self.nurseA.email)
        let patient = try vault.unlock(password: pw("patient-pw"))
        try vault.grant(keys, session: patient)  // the vault-level grant, as before this change: no contact record
        _ = try s.store.grant(vault: vault, session: patient, supporterEmail: Self.nurseA.email, supporterName: Self.nurseA.name)
        for nurse in [old, a] { _ = try vault.records(try vault.unlock(supporter: nurse)) }
        let reads = try s.store.patientAccessLog(vault: vault, session: patient).filter { $0.entry.action == "read" && $0.entry.role == "supporter" }
        #expect(Set(reads.map(\.actorName)) == ["supporter:\(old.id.hex)", "\(Self.nurseA.name) <\(Self.nurseA.email)>"])
    }

    @Test("one nurse cannot read another's contact record: it is sealed to the patient's key, padded, and refused to a supporter session")
    func contactsSealedFromOtherSupporters() throws {
        let s = try Scratch()
        let (vault, patient, _, b) = try Self.twoNurses(s)
        let asB = try vault.unlock(supporter: b)
        let contacts = try vault.records(asB).filter { $0.type == Vault.contactRecordType }
        #expect(contacts.count == 2)
        for r in contacts {
            #expect(!ShredKit.contains(r.data, Array(Self.nurseA.email.utf8)) && !ShredKit.contains(r.data, Array(Self.nurseA.name.utf8)))
            #expect((r.data.count - 1 - 24 - 16) % SealedContact.padBlock == 0, "padded to whole blocks")
        }
        #expect(contacts[0].data.count == contacts[1].data.count, "a name and no name seal to the same size")
        #expect(failureClass { _ = try vault.contacts(asB) } == "not-permitted")
        #expect(try vault.contacts(patient).count == 2)
        // A supporter cannot plant a contact record either: the type is reserved.
        #expect(failureClass { try vault.append(type: Vault.contactRecordType, data: json("{}"), session: asB) } == "invalid-input")
    }

    @Test("the contact survives a password change and a revocation with re-encryption (sealed under the owner key)")
    func contactSurvivesKeyChanges() throws {
        let s = try Scratch()
        let (vault, patient, a, _) = try Self.twoNurses(s)
        try vault.changePassword(to: pw("new-pw"), kdf: .minimumForTesting, session: patient)
        try vault.revoke(a.id, reencrypt: true, session: patient)
        let again = try vault.unlock(password: pw("new-pw"))
        #expect(try vault.contacts(again)[a.id.hex]?.displayName == "\(Self.nurseA.name) <\(Self.nurseA.email)>")
    }

    @Test("grant repeated: no second contact record; without a name it keeps the earlier name; a new name is a new record and wins")
    func grantIdempotence() throws {
        let s = try Scratch()
        let (vault, patient, a, _) = try Self.twoNurses(s)
        func contactRecords() throws -> Int { try vault.records(patient).filter { $0.type == Vault.contactRecordType }.count }
        let before = try contactRecords()
        for name in [Self.nurseA.name, nil, "  \(Self.nurseA.name) "] as [String?] {
            let r = try s.store.grant(vault: vault, session: patient, supporterEmail: Self.nurseA.email.uppercased(), supporterName: name)
            #expect(!r.added && !r.contactRecorded, "name \(name ?? "nil")")
        }
        #expect(try contactRecords() == before)
        let renamed = try s.store.grant(vault: vault, session: patient, supporterEmail: Self.nurseA.email, supporterName: "Sato-san")
        #expect(renamed.contactRecorded && !renamed.added)
        #expect(try vault.contacts(patient)[a.id.hex]?.displayName == "Sato-san <\(Self.nurseA.email)>")
    }

    @Test("grant refuses a bad name or a fingerprint mismatch before anything is written", arguments: [
        ("", nil), ("   ", nil), ("Line\nbreak", nil), (String(repeating: "x", count: 257), nil), ("Aiko", "0000-0000-0000-0000"),
    ] as [(String, String?)])
    func grantRefusals(name: String, fingerprint: String?) throws {
        let s = try Scratch()
        let (vault, _) = try s.patient()
        let (_, a) = try s.supporter(Self.nurseA.email)
        let patient = try vault.unlock(password: pw("patient-pw"))
        let count = try vault.records(patient).count
        let cls = failureClass { _ = try s.store.grant(vault: vault, session: patient, supporterEmail: Self.nurseA.email, supporterName: name, fingerprint: fingerprint) }
        #expect(cls == (fingerprint == nil ? "invalid-input" : "not-permitted"))
        #expect(try vault.records(patient).count == count)
        #expect(failureClass { _ = try vault.unlock(supporter: a) } == "not-permitted")
    }

    @Test("a 256-byte name is the longest accepted")
    func longestName() throws {
        let s = try Scratch()
        let (vault, _) = try s.patient()
        _ = try s.supporter(Self.nurseA.email)
        let patient = try vault.unlock(password: pw("patient-pw"))
        let name = String(repeating: "\u{3042}", count: 85) + "x"  // 85 three-byte characters and one byte
        #expect(name.utf8.count == 256)
        #expect(try s.store.grant(vault: vault, session: patient, supporterEmail: Self.nurseA.email, supporterName: name).contactRecorded)
    }

    // MARK: pins

    /// The patient shredded and registered again under the same address: a new vault that links the nurse again.
    static func reRegister(_ s: Scratch, email: String = "patient@example.jp") throws -> Vault {
        _ = try s.store.shred(email: email, request: ShredRequest(reason: "request", requestedBy: "patient", reference: "R1", executedBy: "op1", approvedBy: "op2"))
        let (vault, _) = try s.patient(email)
        _ = try s.store.grant(vault: vault, session: try vault.unlock(password: pw("patient-pw")), supporterEmail: nurseA.email)
        return vault
    }

    @Test("the first contact pins silently, the next finds the pin unchanged, by read or by write", arguments: [SupporterAccess.read, .write])
    func firstContactPins(access: SupporterAccess) throws {
        let s = try Scratch()
        let (vault, _, a, _) = try Self.twoNurses(s)
        let first = try s.store.openVault(email: "patient@example.jp", supporter: a, access: access)
        #expect(first.pin == .firstContact && first.pin.warning(vaultId: vault.vaultId) == nil && first.vault.vaultId == vault.vaultId)
        let again = try s.store.openVault(email: "PATIENT@example.jp ", supporter: a, access: access)
        #expect(again.pin == .unchanged)
        #expect(try s.store.pinnedVaultIds(a) == [vault.vaultId.hex])
        // Nothing in the pins file names the patient.
        let bytes = try TrustAnchorTests.read(s.store.pinsPath(a.id))
        #expect(!ShredKit.contains(bytes, Array("patient@example.jp".utf8)) && !ShredKit.contains(bytes, vault.vaultId))
    }

    @Test("a patient shredded and registered again under the same address: reads warn, writes are refused until accepted, which is logged")
    func changedVaultWarns() throws {
        let s = try Scratch()
        let (old, _, a, _) = try Self.twoNurses(s)
        _ = try s.store.openVault(email: "patient@example.jp", supporter: a, access: .read)
        let new = try Self.reRegister(s)
        let read = try s.store.openVault(email: "patient@example.jp", supporter: a, access: .read)
        #expect(read.pin == .changed(pinnedVaultId: old.vaultId))
        let warning = try #require(read.pin.warning(vaultId: new.vaultId))
        #expect(warning.contains(Fingerprint.vault(new.vaultId)) && warning.contains(Fingerprint.vault(old.vaultId)) && !warning.contains("patient@"))
        // A write is refused and leaves the new vault as it was; the refusal is logged.
        let count = try new.records(try new.unlock(password: pw("patient-pw"))).count
        #expect(failureClass { _ = try s.store.openVault(email: "patient@example.jp", supporter: a, access: .write) } == "not-permitted")
        #expect(try new.records(try new.unlock(password: pw("patient-pw"))).count == count)
        // Reads keep warning: the pin is not moved by them.
        #expect(try s.store.openVault(email: "patient@example.jp", supporter: a, access: .read).pin == .changed(pinnedVaultId: old.vaultId))
        let accepted = try s.store.openVault(email: "patient@example.jp", supporter: a, access: .write, acceptNewVault: true)
        #expect(accepted.pin == .accepted(previousVaultId: old.vaultId))
        try accepted.vault.append(type: "message", data: json(#"{"text":"welcome back"}"#), session: accepted.session)
        #expect(try s.store.openVault(email: "patient@example.jp", supporter: a, access: .write).pin == .unchanged)
        let log = try s.store.auditLog().entries().filter { $0.action == "vault-pin" && $0.vault == new.vaultId.hex }
        #expect(log.map(\.outcome) == ["denied", "ok"])
        #expect(!log.contains { $0.detail.contains(old.vaultId.hex) }, "the log never ties the shredded vault to the new one")
    }

    @Test("each supporter pins for themselves: another nurse's first contact after the change pins the new vault silently")
    func pinsArePerSupporter() throws {
        let s = try Scratch()
        let (_, _, a, b) = try Self.twoNurses(s)
        _ = try s.store.openVault(email: "patient@example.jp", supporter: a, access: .read)
        let new = try Self.reRegister(s)
        _ = try s.store.grant(vault: new, session: try new.unlock(password: pw("patient-pw")), supporterEmail: Self.nurseB.email)
        #expect(try s.store.openVault(email: "patient@example.jp", supporter: b, access: .write).pin == .firstContact)
    }

    @Test("a pins file replaced by another supporter's, or damaged, is refused (tampered, corrupted), never taken as no pins")
    func pinsFileTampering() throws {
        let s = try Scratch()
        let (_, _, a, b) = try Self.twoNurses(s)
        _ = try s.store.openVault(email: "patient@example.jp", supporter: a, access: .read)
        _ = try s.store.openVault(email: "patient@example.jp", supporter: b, access: .read)
        let aPath = s.store.pinsPath(a.id), bBytes = try TrustAnchorTests.read(s.store.pinsPath(b.id))
        let good = try TrustAnchorTests.read(aPath)
        var flipped = good
        flipped[40] ^= 1  // inside the nonce, with the checksum made right again below
        let resealed = Array(flipped.dropLast(16)) + Blake2b.hash(Array(flipped.dropLast(16)), outputLength: 16)
        for (bytes, expected) in [(bBytes, "tampered"), (resealed, "tampered"), (Array(good.dropLast()), "corrupted"), ([UInt8](), "corrupted")] {
            try TrustAnchorTests.write(bytes, aPath)
            #expect(failureClass { _ = try s.store.openVault(email: "patient@example.jp", supporter: a, access: .read) } == expected)
        }
    }

    @Test("deleting a supporter removes their pins file")
    func deleteRemovesPins() throws {
        let s = try Scratch()
        let (_, _, a, _) = try Self.twoNurses(s)
        _ = try s.store.openVault(email: "patient@example.jp", supporter: a, access: .read)
        #expect(FileManager.default.fileExists(atPath: s.store.pinsPath(a.id)))
        _ = try s.store.deleteSupporter(email: Self.nurseA.email, password: pw("nurse-pw"))
        #expect(!FileManager.default.fileExists(atPath: s.store.pinsPath(a.id)))
    }

    // MARK: formats

    @Test("pins file: round trip at 0, 1 and the maximum count; one more is refused", arguments: [0, 1, SupporterPinsFile.maxPins, SupporterPinsFile.maxPins + 1])
    func pinsFileBounds(count: Int) throws {
        let key = SecureBytes.random(count: 32)
        let file = SupporterPinsFile(supporterId: Array(repeating: 7, count: 16),
                                     pins: (0..<count).map { _ in .init(addressKey: Array(repeating: 1, count: 32), vaultId: Array(repeating: 2, count: 16), pinnedAtMillis: 5) })
        if count > SupporterPinsFile.maxPins {
            #expect(throws: FormatError.self) { _ = try file.serialize(key: key) }
        } else {
            #expect(try SupporterPinsFile.parse(try file.serialize(key: key), key: key) == file)
            #expect(throws: CryptoError.self) { _ = try SupporterPinsFile.parse(try file.serialize(key: key), key: SecureBytes.random(count: 32)) }
        }
    }

    @Test("contact record: JSON up to the maximum seals and opens; one byte more is refused; non-zero padding is refused",
          arguments: [0, 1, SealedContact.maxJSON, SealedContact.maxJSON + 1])
    func sealedContactBounds(length: Int) throws {
        let key = SecureBytes.random(count: 32), vault = [UInt8](repeating: 3, count: 16)
        let jsonBytes = [UInt8](repeating: 0x61, count: length)
        if length > SealedContact.maxJSON {
            #expect(throws: FormatError.self) { _ = try SealedContact.seal(json: jsonBytes, key: key, vaultId: vault) }
            return
        }
        let sealed = try SealedContact.seal(json: jsonBytes, key: key, vaultId: vault)
        #expect(try SealedContact.open(sealed, key: key, vaultId: vault) == jsonBytes)
        #expect(throws: CryptoError.self) { _ = try SealedContact.open(sealed, key: key, vaultId: [UInt8](repeating: 4, count: 16)) }
        // Padding that is not zeros (sealed by hand) is refused.
        var w = ByteWriter(); w.writeVariable16(jsonBytes); w.pad(to: (w.bytes.count + 255) / 256 * 256)
        var plain = w.bytes
        if plain.count > 2 + length { plain[plain.count - 1] = 1 } else { plain += [1] }
        let nonce = Random.bytes(24)
        let forged = [SealedContact.version] + nonce + (try XChaCha20Poly1305.seal(plain, key: key, nonce: nonce, ad: SealedContact.associatedData(vaultId: vault)))
        #expect(throws: FormatError.self) { _ = try SealedContact.open(forged, key: key, vaultId: vault) }
    }
}
