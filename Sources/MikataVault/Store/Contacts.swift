import Foundation
import MikataCrypto
import MikataFormat

/// A linked supporter as the patient knows them (docs/SECURITY.md, "Checking whom you link"): the address the
/// patient typed at grant time, the name the patient gave (optional: the supporter's own display name is sealed
/// under the supporter's password, so the patient cannot read it), and the key fingerprint the grant linked.
package struct SupporterContact: Equatable, Sendable {
    package let supporterId: [UInt8]
    /// The normalised e-mail address.
    package let email: String
    package let name: String?
    package let fingerprint: String

    /// Checks and normalises what a person typed. The name: 1 to 256 bytes after trimming, no control characters.
    /// - Throws: `VaultError.invalidInput` (the message repeats neither the name nor the address).
    package init(supporterId: [UInt8], email: String, name: String?, fingerprint: String) throws {
        self.supporterId = supporterId
        self.email = try Store.normalise(email: email)
        self.fingerprint = fingerprint
        if let name {
            let trimmed = name.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !trimmed.isEmpty, trimmed.utf8.count <= 256, !trimmed.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
                throw VaultError.invalidInput("the supporter's name must be 1 to 256 bytes without control characters")
            }
            self.name = trimmed
        } else {
            self.name = nil
        }
    }

    private init(checked supporterId: [UInt8], email: String, name: String?, fingerprint: String) {
        self.supporterId = supporterId; self.email = email; self.name = name; self.fingerprint = fingerprint
    }

    /// "Name <address>", or the address alone when the patient gave no name.
    package var displayName: String { name.map { "\($0) <\(email)>" } ?? email }

    func json() throws -> [UInt8] {
        var object: [String: String] = ["supporterId": supporterId.hex, "email": email, "fingerprint": fingerprint]
        if let name { object["name"] = name }
        return Array(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
    }

    static func parse(_ json: [UInt8]) -> SupporterContact? {
        guard let o = try? JSONSerialization.jsonObject(with: Data(json)) as? [String: Any],
              let idHex = o["supporterId"] as? String, let id = [UInt8](hex: idHex), id.count == 16,
              let email = o["email"] as? String, let fingerprint = o["fingerprint"] as? String
        else { return nil }
        let name = o["name"] as? String
        if o["name"] != nil && name == nil { return nil }
        return SupporterContact(checked: id, email: email, name: name, fingerprint: fingerprint)
    }

    /// This contact, keeping the name an earlier one recorded when this one has none (a grant repeated without it).
    func keepingName(of earlier: SupporterContact?) -> SupporterContact {
        guard name == nil, let earlier, earlier.email == email, earlier.fingerprint == fingerprint else { return self }
        return SupporterContact(checked: supporterId, email: email, name: earlier.name, fingerprint: fingerprint)
    }
}

extension Vault {
    /// Internal record naming a linked supporter for the patient (FORMAT.md §5.8), sealed to the owner key.
    package static let contactRecordType = "mikata.contact"

    /// The key contact records are sealed under: derived from the owner key, which only the patient's password or
    /// recovery code unwraps and which a password change keeps.
    private static func contactKey(_ ownerKey: SecureBytes) -> SecureBytes {
        SubkeyDerivation.derive(from: ownerKey, id: 1, context: VaultFormat.Label.ownerKDFContext)
    }

    /// The supporters the patient named at grant time, by supporter id (hex); the latest record for an id wins.
    /// Logged as a read. Only the patient can read them.
    /// - Throws: `VaultError.notPermitted` for any other session; `.tampered` for a patient-signed contact record
    ///   that does not open; what `records` throws.
    package func contacts(_ session: VaultSession) throws -> [String: SupporterContact] {
        try audited("read", actor: Vault.actor(of: session), detail: { "contacts (\($0.count))" }) { try contactsUnlogged(session) }
    }

    fileprivate func contactsUnlogged(_ session: VaultSession) throws -> [String: SupporterContact] {
        guard case .owner(let ownerKey) = session.unlock else {
            throw VaultError.notPermitted("only the patient can read the names of the supporters they linked")
        }
        let key = Vault.contactKey(ownerKey)
        var out: [String: SupporterContact] = [:]
        // Only the patient writes contact records (the reserved type is refused for everyone else's appends); one
        // signed by another author is ignored rather than trusted. Only they are held while the vault is walked: a
        // vault of many photos costs its walk's time here, not its size in memory (each access-log page and each grant
        // reads the contacts).
        for r in try readRecords(session, keeping: { $0.type == Vault.contactRecordType && $0.author.role == "patient" }) {
            let json: [UInt8]
            do { json = try SealedContact.open(r.data, key: key, vaultId: vaultId) }
            catch let e as FormatError { throw VaultError.from(e, in: "contact record \(r.seq)") }
            catch { throw VaultError.tampered("contact record \(r.seq) does not open with the patient's key") }
            guard let contact = SupporterContact.parse(json) else { throw VaultError.corrupted("contact record \(r.seq) does not hold a contact") }
            out[contact.supporterId.hex] = contact
        }
        return out
    }

    /// Appends a contact record for `contact`, unless the latest one for that supporter says the same already.
    /// Returns whether a record was appended (logged as an append by the patient).
    func recordContact(_ contact: SupporterContact, session: VaultSession) throws -> Bool {
        guard case .owner(let ownerKey) = session.unlock else {
            throw VaultError.notPermitted("only the patient can change who has access to the vault")
        }
        let earlier = try contacts(session)[contact.supporterId.hex]
        let merged = contact.keepingName(of: earlier)
        if merged == earlier { return false }
        let data = try VaultError.parsing("contact record") {
            try SealedContact.seal(json: try merged.json(), key: Vault.contactKey(ownerKey), vaultId: vaultId)
        }
        try Vault.checkRecord(type: Vault.contactRecordType, data: data, isInternal: true)
        try appendRecord(type: Vault.contactRecordType, data: data, timeMillis: Posix.wallClockMillis(), session: session)
        return true
    }
}

/// What `Store.grant` did.
package struct GrantResult: Sendable {
    package let supporter: SupporterPublicKeys
    /// False when the supporter was linked already (the grant changed nothing in the header).
    package let added: Bool
    /// The supporter's key fingerprint, to show the patient.
    package let fingerprint: String
    /// Whether a new contact record was written (first grant, or a new name).
    package let contactRecorded: Bool
}

/// A log entry as the patient sees it (`mikata audit mine`): supporters named by the contact records.
package struct PatientLogEntry: Sendable {
    package let entry: AuditLog.Entry
    /// "Name <address>" for a supporter the patient has a contact record for; else the actor as logged.
    package let actorName: String
    /// The entry's detail with supporter ids replaced the same way.
    package let detail: String
}

extension Store {
    /// The grant use case: checks the supporter's key fingerprint (when given), seals a contact record naming the
    /// supporter into the patient's vault, then links the supporter. The contact comes first, so a grant in force
    /// always has it; a grant that fails after it leaves a contact for an unlinked supporter, which names nobody.
    /// - Throws: `VaultError.notPermitted` on a fingerprint mismatch or a non-patient session (nothing changed),
    ///   `.invalidInput` for a bad name or address, `.notFound` for an unknown supporter, what `Vault.grant` throws.
    package func grant(vault: Vault, session: VaultSession, supporterEmail: String, supporterName: String? = nil,
                       fingerprint: String? = nil) throws -> GrantResult {
        let keys = try supporterPublicKeys(email: supporterEmail, fingerprint: fingerprint)
        let shown = Fingerprint.supporter(keys)
        let name = try supporterName.map { try HumanInput.name($0, what: "supporter name") }  // one rule for names (HumanInput)
        let contact = try SupporterContact(supporterId: keys.id, email: supporterEmail, name: name, fingerprint: shown)
        let recorded = try vault.recordContact(contact, session: session)
        // The link is only a hint for 'supporter patients' (the vault's header decides): written before the grant, so
        // a grant that succeeds always has it, and one that fails leaves at most a stale hint.
        try recordLink(supporterId: keys.id, vaultId: vault.vaultId)
        let added = try vault.grant(keys, session: session)
        return GrantResult(supporter: keys, added: added, fingerprint: shown, contactRecorded: recorded)
    }

    /// The access log of the patient's own vault, with supporters named as the patient knows them (their contact
    /// records); actors without one (grants made before contact records, services) keep their id.
    package func patientAccessLog(vault: Vault, session: VaultSession) throws -> [PatientLogEntry] {
        try patientAccessLog(vault: vault, session: session, .after(nil), limit: Int.max).entries
    }

    /// The access-log action of a patient viewing their own access log (`patientAccessLog`): it reads the contact
    /// records, and the view itself leaves these entries out; `audit show` lists them.
    package static let accessLogViewAction = "access-log-view"

    /// One page of `patientAccessLog(vault:session:)`: at most `limit` entries from `start` (oldest first after a log
    /// sequence number, or newest first before one), and whether more remain that way. The store's log is streamed,
    /// not held (`AuditLog.entries(ofVault:_:limit:where:)`).
    package func patientAccessLog(vault: Vault, session: VaultSession, _ start: AuditLog.PageStart, limit: Int) throws
        -> (entries: [PatientLogEntry], more: Bool) {
        // The view reads the contact records to name supporters: logged as its own action, which the view leaves out
        // (as it leaves out its own reading), so paging a log that every page request writes to still ends.
        let contacts = try vault.audited(Store.accessLogViewAction, actor: Vault.actor(of: session), detail: { "contacts (\($0.count))" }) {
            try vault.contactsUnlogged(session)
        }
        let id = vault.vaultId.hex
        func named(_ text: String) -> String {
            var t = text
            for (hex, c) in contacts where t.contains(hex) {
                t = t.replacingOccurrences(of: "supporter:\(hex)", with: c.displayName).replacingOccurrences(of: hex, with: c.displayName)
            }
            return t
        }
        // An append batch's announcement (`append-intent`) is bookkeeping, not an access: each record has its own entry.
        // The patient's own views of this log are left out too.
        let page = try auditLog().entries(ofVault: id, start, limit: limit) {
            $0.action != "append-intent" && $0.action != Store.accessLogViewAction
        }
        return (page.entries.map { e in PatientLogEntry(entry: e, actorName: named(e.actor), detail: named(e.detail)) }, page.more)
    }
}
