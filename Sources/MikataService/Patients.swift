import Foundation
import MikataCrypto
import MikataFormat
import MikataVault

// The patient's use cases (docs/SECURITY.md, "Who may do what"): only a credential of the patient unlocks them.

extension VaultService {
    /// Creates a patient's vault (docs/FORMAT.md §3–§7): a password slot (Argon2id at the service's cost), a
    /// recovery slot, a profile record holding the nickname, and the keyed e-mail lookup.
    /// - Parameters:
    ///   - email: the patient's address (NFKC-normalised, case-folded; never stored in the clear).
    ///   - nickname: shown to linked supporters; sealed inside the vault.
    ///   - password: at least one byte (NFKC-normalised).
    /// - Returns: the vault id and the one-time recovery code.
    /// - Throws: `MikataError` `.alreadyExists` (the address has a vault), `.invalidInput`, `.busy`, `.io`.
    public func createPatient(email: String, nickname: String, password: Secret) async throws -> CreatedPatient {
        try await withPasswordHash { store in
            let (id, code) = try store.createPatient(email: email, nickname: nickname, password: password.bytes)
            return CreatedPatient(vaultId: VaultID(trusted: id), recoveryCode: Secret(code))
        }
    }

    /// Unlocks the patient's vault with their password. Every outcome is in the access log; an unknown address is
    /// answered exactly as a wrong password (same class, message and work).
    /// - Throws: `MikataError` `.authenticationFailed`, `.busy` (Argon2id queue full), `.erased`, `.tampered`, `.io`.
    public func unlockPatient(email: String, password: Secret) async throws -> PatientSession {
        try await withPasswordHash { store in
            let (vault, session) = try store.unlockPatient(email: email, password: password.bytes)
            return try PatientSession(vaultId: VaultID(trusted: vault.vaultId), ownerKey: VaultService.ownerKey(session))
        }
    }

    /// Unlocks the patient's vault with the recovery code (40 Crockford base-32 characters, groups and case free).
    /// - Throws: `MikataError` `.invalidInput` (not a recovery code), `.authenticationFailed`, `.erased`, `.io`.
    public func unlockPatient(email: String, recoveryCode: Secret) async throws -> PatientSession {
        try await blocking { store in
            let (vault, session) = try store.unlockPatient(email: email, recoveryCode: recoveryCode.bytes)
            return try PatientSession(vaultId: VaultID(trusted: vault.vaultId), ownerKey: VaultService.ownerKey(session))
        }
    }

    static func ownerKey(_ session: VaultSession) throws -> SecureBytes {
        guard let k = session.ownerKey else { throw MikataError(.notPermitted, "not a patient's session") }
        return k
    }

    /// Sets a new password (Argon2id at the service's cost). The recovery code stays valid.
    /// - Throws: `MikataError` `.invalidInput` (empty), `.closed`, `.busy`, `.tampered`, `.io`.
    public func changePassword(_ session: PatientSession, to newPassword: Secret) async throws {
        let key = try session.ownerKey()
        let id = session.vaultId
        try await lanes.run(id.hex) {
            try await withPasswordHash { store in
                try self.handles.open(id.bytes, store).changePassword(to: newPassword.bytes, kdf: store.kdf, session: VaultSession(ownerKey: key))
            }
        }
    }

    /// Sets a new password with the recovery code (`mikata recover`).
    /// - Returns: the vault id.
    /// - Throws: what `unlockPatient(email:recoveryCode:)` and `changePassword` throw.
    public func recover(email: String, recoveryCode: Secret, newPassword: Secret) async throws -> VaultID {
        let session = try await unlockPatient(email: email, recoveryCode: recoveryCode)
        defer { session.close() }
        try await changePassword(session, to: newPassword)
        return session.vaultId
    }

    /// Links a supporter (docs/SECURITY.md, "Whom you link"): checks their key fingerprint when given, seals a
    /// contact record naming them into the vault, writes the link hint, then wraps the epoch key to them.
    /// - Parameters:
    ///   - supporterName: how the patient knows them (`accessLog` shows it); sealed in the vault.
    ///   - fingerprint: as the supporter gave it (`7KQ2-M9XD-4TZA-P1C8`); a mismatch is refused.
    /// - Throws: `MikataError` `.notFound` (no such supporter), `.notPermitted` (fingerprint mismatch),
    ///   `.invalidInput`, `.closed`, `.busy`, `.io`. (The HTTP service answers the first two alike: docs/SECURITY.md,
    ///   "What an answer tells".)
    public func grant(_ session: PatientSession, supporterEmail: String, supporterName: String? = nil,
                      fingerprint: String? = nil) async throws -> GrantOutcome {
        let key = try session.ownerKey()
        let id = session.vaultId
        return try await inVault(id) { store in
            let vault = try self.handles.open(id.bytes, store)
            let r = try store.grant(vault: vault, session: VaultSession(ownerKey: key), supporterEmail: supporterEmail,
                                    supporterName: supporterName, fingerprint: fingerprint)
            return GrantOutcome(vaultId: id, supporterId: SupporterID(trusted: r.supporter.id), added: r.added, fingerprint: r.fingerprint,
                                fingerprintChecked: fingerprint != nil, contactRecorded: r.contactRecorded)
        }
    }

    /// Unlinks a supporter: a new key epoch they cannot derive (one header write whatever the vault's size); with
    /// `reencrypt`, every record is re-encrypted under it and older epoch keys are dropped.
    ///   An address no supporter has and a supporter never linked to this vault are one answer (docs/SECURITY.md,
    ///   "What an answer tells").
    /// - Throws: `MikataError` `.notFound` (no supporter with that address is linked), `.closed`, `.busy`, `.io`.
    public func revoke(_ session: PatientSession, supporterEmail: String, reencrypt: Bool = false) async throws -> RevokeOutcome {
        let key = try session.ownerKey()
        let id = session.vaultId
        return try await inVault(id) { store in
            let vault = try self.handles.open(id.bytes, store)
            let supporterId: [UInt8]
            do { supporterId = try store.supporterId(email: supporterEmail) } catch VaultError.notFound { throw VaultService.noLinkedSupporter }
            // The hint goes first: if the revocation then fails, re-running it (or a grant) restores the hint.
            try store.removeLink(supporterId: supporterId, vaultId: vault.vaultId)
            do { try vault.revoke(supporterId, reencrypt: reencrypt, session: VaultSession(ownerKey: key)) }
            catch VaultError.notFound { throw VaultService.noLinkedSupporter }
            self.noteRevocation(store, vaultId: vault.vaultId, supporterId: supporterId)
            return RevokeOutcome(vaultId: id, supporterId: SupporterID(trusted: supporterId), epoch: try vault.inspect().currentEpoch,
                                 reencrypted: reencrypt)
        }
    }

    /// Authorises a write-only service to append sealed records (it reads nothing). Idempotent.
    /// - Parameters:
    ///   - signPublicKey: the service's Ed25519 public key (32 bytes).
    /// - Throws: `MikataError` `.invalidInput` (key length), `.closed`, `.busy`, `.io`.
    public func authorizeService(_ session: PatientSession, serviceId: ServiceID, signPublicKey: [UInt8]) async throws {
        guard signPublicKey.count == 32 else { throw MikataError(.invalidInput, "a service's public key is 32 bytes") }
        let key = try session.ownerKey()
        let id = session.vaultId
        try await inVault(id) { store in
            try self.handles.open(id.bytes, store).authorize(service: serviceId.bytes, signPublicKey: signPublicKey, session: VaultSession(ownerKey: key))
        }
    }

    /// Checks both header copies and every record of the patient's vault.
    /// - Throws: `MikataError` `.corrupted` / `.tampered` naming the first problem, `.closed`, `.busy`.
    public func verify(_ session: PatientSession) async throws -> VaultVerification {
        let key = try session.ownerKey()
        let id = session.vaultId
        return try await inVault(id) { store in
            let r = try self.handles.open(id.bytes, store).verify(VaultSession(ownerKey: key))
            return VaultVerification(vaultId: id, recordCount: r.recordCount, tornTailBytes: r.tornTailBytes,
                                     headerGeneration: r.headerGeneration, currentEpoch: r.currentEpoch)
        }
    }

    /// Who accessed the patient's vault, when, and what they did (`audit mine`), supporters named as the patient
    /// recorded them at grant time.
    /// - Throws: `MikataError` `.closed`, `.tampered`, `.io`.
    public func accessLog(_ session: PatientSession) async throws -> [PatientAccessLogEntry] {
        try await accessLogEntries(session, .after(nil), limit: Int.max).entries
    }

    /// The most entries one page of `accessLog(_:after:limit:)` holds.
    public static let accessLogPageMax = 1000

    /// One page of `accessLog(_:)`: at most `limit` (1–`accessLogPageMax`) entries whose log sequence number is above
    /// `after` (from the first if nil), oldest first; `nextAfter` when more follow. The store's log is streamed,
    /// never held whole, so a page costs memory O(page) whatever the log's size (and a scan of the log's lines up to
    /// the page's end).
    /// - Throws: `MikataError` `.invalidInput` (limit out of range), `.closed`, `.tampered`, `.io`.
    public func accessLog(_ session: PatientSession, after: UInt64?, limit: Int) async throws -> PatientAccessLogPage {
        try Self.checkAccessLogLimit(limit)
        let page = try await accessLogEntries(session, .after(after), limit: limit)
        return PatientAccessLogPage(entries: page.entries, nextAfter: page.more ? page.entries.last?.entry.seq : nil, nextBefore: nil)
    }

    /// One page of `accessLog(_:)` from the newest end: at most `limit` (1–`accessLogPageMax`) entries whose log
    /// sequence number is below `before` (from the last if nil), newest first; `nextBefore` when older ones remain.
    /// The whole log is scanned (streamed, memory O(page)).
    /// - Throws: as `accessLog(_:after:limit:)`.
    public func accessLog(_ session: PatientSession, before: UInt64?, limit: Int) async throws -> PatientAccessLogPage {
        try Self.checkAccessLogLimit(limit)
        let page = try await accessLogEntries(session, .before(before), limit: limit)
        return PatientAccessLogPage(entries: page.entries, nextAfter: nil, nextBefore: page.more ? page.entries.last?.entry.seq : nil)
    }

    private static func checkAccessLogLimit(_ limit: Int) throws {
        guard (1...accessLogPageMax).contains(limit) else {
            throw MikataError(.invalidInput, "an access-log page holds 1 to \(accessLogPageMax) entries")
        }
    }

    private func accessLogEntries(_ session: PatientSession, _ start: AuditLog.PageStart, limit: Int) async throws
        -> (entries: [PatientAccessLogEntry], more: Bool) {
        let key = try session.ownerKey()
        let id = session.vaultId
        return try await inVault(id) { store in
            let vault = try self.handles.open(id.bytes, store)
            let page = try store.patientAccessLog(vault: vault, session: VaultSession(ownerKey: key), start, limit: limit)
            return (page.entries.map { PatientAccessLogEntry(entry: AccessLogEntry($0.entry), actorName: $0.actorName, detail: $0.detail) }, page.more)
        }
    }

    /// The patient deletes their own vault: shredded as an operator's shred is (docs/OPERATIONS.md), with a signed
    /// deletion certificate. Only the patient's password authorises it; an interrupted deletion (authorised when it
    /// started) is completed without checking it (`completeInterruptedDeletion`).
    /// - Throws: `MikataError` `.authenticationFailed`, `.invalidInput` (not an e-mail address), `.busy`, `.io`.
    public func deletePatient(email: String, password: Secret) async throws -> DeletionOutcome {
        if let done = try await completeInterruptedDeletion(email: email) { return done }
        let request = ShredRequest(reason: "deletion requested by the patient", requestedBy: "patient",
                                   reference: "self-service", executedBy: "patient", approvedBy: nil)
        let key = try await laneKey(email: email)
        return try await lanes.run(key) {
            try await withPasswordHash { store in
                _ = try store.unlockPatient(email: email, password: password.bytes)  // only the patient may delete their data
                let outcome = DeletionOutcome(try store.shred(email: email, request: request))
                self.handles.drop(outcome.vaultId)
                return outcome
            }
        }
    }

    /// Completes an interrupted deletion or shred of the vault `email` leads to, or led to before the interruption
    /// (it was authorised when it started, so no credential is asked); nil when none is pending. Clients call it
    /// before asking the patient for a password they would not need.
    /// - Throws: `MikataError` `.invalidInput` (not an e-mail address), `.corrupted` (a damaged intent record), `.io`.
    public func completeInterruptedDeletion(email: String) async throws -> DeletionOutcome? {
        let key = try await laneKey(email: email)
        return try await lanes.run(key) {
            try await blocking { store in try store.completePendingShred(email: email).map { DeletionOutcome($0) } }
        }
    }
}

extension VaultService {
    /// The one answer to a revocation of an address that is unknown or was never linked to the vault.
    static let noLinkedSupporter = MikataError(.notFound, "no supporter with this e-mail address is linked to the vault")
}
