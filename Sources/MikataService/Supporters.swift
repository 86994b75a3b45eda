import Foundation
import MikataCrypto
import MikataFormat
import MikataVault

// Supporters' own accounts (docs/SECURITY.md, "Supporters").

extension VaultService {
    /// Creates a supporter account with its own X25519 and Ed25519 key pairs, sealed under their password.
    /// - Parameters:
    ///   - name: their display name (sealed with their keys).
    /// - Returns: the account's public part and key fingerprint, which the supporter gives patients.
    /// - Throws: `MikataError` `.alreadyExists`, `.invalidInput`, `.busy`, `.io`.
    public func createSupporter(email: String, name: String, password: Secret) async throws -> SupporterAccount {
        try await withPasswordHash { store in
            let keys = try store.createSupporter(email: email, name: name, password: password.bytes)
            return SupporterAccount(id: SupporterID(trusted: keys.id), boxPublicKey: keys.boxPublicKey, signPublicKey: keys.signPublicKey,
                                    fingerprint: Fingerprint.supporter(keys))
        }
    }

    /// Unlocks a supporter's account. An unknown address is answered as a wrong password; every outcome is logged.
    /// - Throws: `MikataError` `.authenticationFailed`, `.busy`, `.tampered`, `.io`.
    public func unlockSupporter(email: String, password: Secret) async throws -> SupporterSession {
        try await withPasswordHash { store in SupporterSession(identity: try store.unlockSupporter(email: email, password: password.bytes)) }
    }

    /// The supporter changes their own password; linked vaults stay readable (their keys do not change).
    /// - Returns: the supporter's id.
    /// - Throws: `MikataError` `.authenticationFailed`, `.invalidInput` (empty), `.busy`, `.io`.
    public func changeSupporterPassword(email: String, password: Secret, newPassword: Secret) async throws -> SupporterID {
        try await withPasswordHash { store in
            SupporterID(trusted: try store.changeSupporterPassword(email: email, password: password.bytes, newPassword: newPassword.bytes))
        }
    }

    /// The supporter deletes their own account and keys; their key shares are dropped at each patient's next write.
    /// - Throws: `MikataError` `.authenticationFailed`, `.busy`, `.io`.
    public func deleteSupporter(email: String, password: Secret) async throws -> SupporterID {
        try await withPasswordHash { store in
            let id = try store.deleteSupporter(email: email, password: password.bytes)
            // Their address leaves every notice file now, not at the next checker run (docs/SECURITY.md).
            for vault in store.noticeVaultIds() { self.noteRevocation(store, vaultId: vault, supporterId: id) }
            return SupporterID(trusted: id)
        }
    }

    /// The patients who linked this supporter, with their nickname and record count. The link folder is a hint:
    /// each vault's signed header decides, and vaults that no longer link the supporter (or are shredded) are left out.
    /// - Throws: `MikataError` `.closed`, `.tampered` (the supporter's pins file), `.io`.
    public func linkedPatients(_ session: SupporterSession) async throws -> [LinkedPatient] {
        let identity = try session.current()
        let (ids, pinned) = try await blocking { store in (store.linkedVaults(supporterId: identity.id), try store.pinnedVaultIds(identity)) }
        var out: [LinkedPatient] = []
        for raw in ids {
            let id = VaultID(trusted: raw)
            let entry: LinkedPatient? = try? await inVault(id) { store in
                let vault = try self.handles.open(raw, store)
                let s = try vault.unlock(supporter: identity)
                var nickname: String?
                var count = 0
                try vault.forEachRecord(s, includeInternal: true) { r in  // streamed, logged as one read
                    if r.type == Vault.profileRecordType, nickname == nil,
                       let obj = try? JSONSerialization.jsonObject(with: Data(r.data)) as? [String: Any] {
                        nickname = obj["nickname"] as? String
                    }
                    if !r.type.hasPrefix("mikata.") { count += 1 }
                    return true
                }
                return LinkedPatient(vaultId: id, fingerprint: Fingerprint.vault(raw), pinned: pinned.contains(raw.hex),
                                     nickname: nickname, recordCount: count)
            }
            if let entry { out.append(entry) }
        }
        return out
    }

    /// A supporter's account's public keys and fingerprint, by e-mail (what a patient checks before linking).
    /// - Throws: `MikataError(.notFound)`, `.tampered`.
    public func supporterAccount(email: String) async throws -> SupporterAccount {
        try await blocking { store in
            let keys = try store.supporterPublicKeys(email: email)
            return SupporterAccount(id: SupporterID(trusted: keys.id), boxPublicKey: keys.boxPublicKey, signPublicKey: keys.signPublicKey,
                                    fingerprint: Fingerprint.supporter(keys))
        }
    }

    /// A write-only service's session from its key (no password: the key file is the credential).
    public func serviceSession(_ key: ServiceKey) -> ServiceSession { ServiceSession(identity: key.identity) }
}
