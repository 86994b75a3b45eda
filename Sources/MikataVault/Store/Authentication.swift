import Foundation
package import MikataCrypto
import MikataFormat

// Credentialed entry points (docs/SECURITY.md, "Failed unlocks and unknown e-mails"). Every way a person proves who
// they are goes through here or through `Vault.unlock`, so the CLI and the HTTP service answer alike:
// * an e-mail with no account (never registered, deleted, shredded) gets the wrong credential's answer: the same
//   error class and message (exit 77), the same expensive step (one Argon2id at the store's parameters, or one
//   recovery-key derivation), and one "denied" access-log entry as a wrong credential writes, with actor "unknown";
// * every failed unlock, of any role, is in the access log;
// * the vault an e-mail would lead to is stood in for by the store's decoy (`DecoyVault`): an unknown e-mail's check
//   opens it and tries the credential on it, so the header read and signature check a real account's check costs
//   are there too (without it, an unknown e-mail's recovery-code answer came 0.2 ms sooner over HTTP).
// Operator paths that take no credential (`vault inspect`, `shred`, `audit show --email`, `grant --supporter`) still
// say "not found" (66): they are logged operator actions, not a login.

/// Test hook: the expensive steps of the credential checks the current task ran. Tests compare the steps for a known
/// and an unknown account (never a time measurement).
package final class CredentialWork: @unchecked Sendable {
    package enum Step: Equatable, Sendable {
        case argon2id(KDFParameters)
        case recoveryKey
        /// A vault's header read, parsed and its signature checked (opening a vault).
        case vaultHeader
    }

    @TaskLocal package static var current: CredentialWork?

    private let lock = NSLock()
    private var recorded: [Step] = []

    package init() {}

    package var steps: [Step] { lock.withLock { recorded } }

    func record(_ step: Step) { lock.withLock { recorded.append(step) } }
}

extension VaultError {
    /// What a supporter hears for a vault that does not link them, and for a patient e-mail with no vault.
    static var supporterNotLinked: VaultError {
        .notPermitted("this supporter is not linked to the vault (never granted, or revoked)")
    }

    /// The access log's outcome for a failure of this class.
    var auditOutcome: String {
        switch self {
        case .authenticationFailed, .notPermitted: return "denied"
        default: return "failed"
        }
    }
}

extension Store {
    /// The salt of the stand-in Argon2id for an unknown e-mail: fixed and public, its output is thrown away.
    static let unknownAccountSalt = [UInt8](repeating: 0x6d, count: PasswordHash.saltLength)

    /// The id an e-mail maps to, or nil if it has no account of that kind.
    private func knownAccount(_ kind: LookupEntry.Kind, email: String) throws -> [UInt8]? {
        do { return kind == .patient ? try vaultId(email: email) : try supporterId(email: email) } catch VaultError.notFound { return nil }
    }

    /// Answers a credential given for an e-mail with no account as a wrong one: `standIn` does the work a real check
    /// does (its failures are logged and thrown as a real check's would be), then one "denied" entry is logged.
    private func refuseUnknownAccount(role: String, action: String, message: String, standIn: () throws -> Void) throws -> Never {
        do { try standIn() } catch let e as VaultError {
            try? log(action, vaultId: nil, actor: "unknown", role: role, outcome: e.auditOutcome, detail: e.failureClass)
            throw e
        }
        try? log(action, vaultId: nil, actor: "unknown", role: role, outcome: "denied", detail: "unknown-account")
        throw VaultError.authenticationFailed(message)
    }

    /// One Argon2id per candidate form of the password (`HumanInput.passwordCandidates`: the NFKC form, then the
    /// bytes as typed when they differ), as a real account's wrong password costs.
    private func standInPasswordCheck(_ password: SecureBytes) throws {
        for candidate in HumanInput.passwordCandidates(password) {
            _ = try kdf.derive(password: candidate, salt: Store.unknownAccountSalt)
        }
    }

    // MARK: patients

    /// The patient's vault, unlocked with their password (`Vault.unlock(password:)` logs the outcome).
    package func unlockPatient(email: String, password: SecureBytes) throws -> (vault: Vault, session: VaultSession) {
        guard let id = try knownAccount(.patient, email: email) else {
            try refuseUnknownAccount(role: "patient", action: "unlock", message: "wrong password") {
                _ = try openDecoy()
                try standInPasswordCheck(password)
            }
        }
        let vault = try openVault(id: id)
        return (vault, try vault.unlock(password: password))
    }

    /// The patient's vault, unlocked with the recovery code (`Vault.unlock(recoveryCode:)` logs the outcome).
    /// A code that is not a recovery code's form is refused before the e-mail is looked up (`.invalidInput`, nothing
    /// logged), alike for every address.
    package func unlockPatient(email: String, recoveryCode: SecureBytes) throws -> (vault: Vault, session: VaultSession) {
        _ = try RecoveryCode.decode(recoveryCode)
        guard let id = try knownAccount(.patient, email: email) else {
            // A real check opens the vault, derives one keyed BLAKE2b (a 200-bit code needs no Argon2id) and tries the
            // slot: so does this, on the decoy.
            try refuseUnknownAccount(role: "patient", action: "recovery-unlock", message: "wrong recovery code") {
                do { _ = try openDecoy().unlock(recoveryCode: recoveryCode) } catch VaultError.authenticationFailed {}
            }
        }
        let vault = try openVault(id: id)
        return (vault, try vault.unlock(recoveryCode: recoveryCode))
    }

    /// A non-secret description of a patient's vault, for an operator (no credential: an unknown e-mail is "not
    /// found"). Logged as the operator's "inspect" before it is returned.
    package func inspectVault(email: String, operator actor: String = "operator") throws -> VaultInfo {
        let vault = try openVault(email: email)
        return try vault.audited("inspect", actor: (actor, "operator")) { try vault.inspect() }
    }

    // MARK: supporters

    /// The supporter's identity entry for `unlockSupporter`: an unknown e-mail is refused here like a wrong password.
    func supporterEntry(email: String, password: SecureBytes) throws -> IdentityEntry {
        let entry: IdentityEntry
        do { entry = try resolveEntry(.supporter, email: email) } catch VaultError.notFound {
            try refuseUnknownAccount(role: "supporter", action: "unlock", message: "wrong password") { try standInPasswordCheck(password) }
        }
        return entry
    }

    /// The supporter id for a credentialed supporter operation (`supporterEntry`'s id).
    func supporterAccountId(email: String, password: SecureBytes) throws -> [UInt8] { try supporterEntry(email: email, password: password).id }

    /// A supporter's wrong password: logged (no e-mail, the supporter's id), then the error to throw.
    func supporterPasswordRefused(_ id: [UInt8]) -> VaultError {
        let e = VaultError.authenticationFailed("wrong password")
        try? log("unlock", vaultId: nil, actor: "supporter:\(id.hex)", role: "supporter", outcome: e.auditOutcome, detail: e.failureClass)
        return e
    }

    /// A supporter's session on a patient's vault. The supporter has proven who they are; a patient e-mail with no
    /// vault is answered like a vault that does not link them, so supporters cannot probe for patients either.
    package func openVault(email: String, supporter: SupporterIdentity) throws -> (vault: Vault, session: VaultSession) {
        guard let id = try knownAccount(.patient, email: email) else {
            // An unlinked vault is opened and its key state searched for the supporter: so is the decoy.
            _ = try? openDecoy().unlock(supporter: supporter)
            let e = VaultError.supporterNotLinked
            try? log("unlock", vaultId: nil, actor: "supporter:\(supporter.id.hex)", role: "supporter", outcome: e.auditOutcome, detail: "unknown-account")
            throw e
        }
        let vault = try openVault(id: id)
        return (vault, try vault.unlock(supporter: supporter))
    }

    /// A supporter changes their own password: the account's secrets re-sealed under a new Argon2id key (new salt,
    /// the store's current parameters), the account file replaced atomically, the change logged, the old file's
    /// bytes overwritten. Key pairs and links stay, so every linked vault still opens. Returns the supporter id.
    @discardableResult
    package func changeSupporterPassword(email: String, password: SecureBytes, newPassword: SecureBytes) throws -> [UInt8] {
        guard newPassword.count > 0 else { throw VaultError.invalidInput("the password is empty") }
        let id = try supporterAccountId(email: email, password: password)
        let path = supporterPath(id)
        let file = try lockedAccountFile(path)
        defer { file.unlock() }
        // Checked under the lock: the account as it is now, not as a concurrent change left it a moment ago.
        let identity = try unlockSupporter(email: email, password: password)
        let oldBytes = try file.readAll()
        var next = try VaultError.parsing("supporter account") { try SupporterAccountFile.parse(oldBytes) }
        guard next.supporterId == identity.id else { throw VaultError.corrupted("the supporter account file belongs to another supporter") }
        next.opsLimit = kdf.opsLimit; next.memLimit = kdf.memLimit
        next.salt = Random.bytes(PasswordHash.saltLength); next.nonce = Random.bytes(24)
        let key = try kdf.derive(password: HumanInput.password(newPassword), salt: next.salt)
        var plain = SupporterSecrets(boxSecretKey: identity.box.secretKey, signSeed: identity.signing.seed, name: identity.name).serialize()
        defer { Sodium.wipe(&plain) }
        next.sealedSecrets = try XChaCha20Poly1305.seal(plain, key: key, nonce: next.nonce, ad: next.associatedData())
        try Posix.writeAtomically(path, next.serialize())
        do {
            try log("password-change", vaultId: nil, actor: "supporter:\(id.hex)", role: "supporter")
        } catch {
            // Not logged, not done: the old account goes back.
            try? Posix.writeAtomically(path, oldBytes)
            throw VaultError.io("the access log could not be written (\(error)); the password was not changed")
        }
        // The old file (sealed under the old password) is no longer the account: overwrite its blocks, as a deletion does.
        try? file.write(Random.bytes(oldBytes.count), at: 0)
        try? file.syncData()
        return id
    }

    /// The account file, opened and exclusively locked; a file replaced while we waited is noticed and reopened.
    private func lockedAccountFile(_ path: String) throws -> PosixFile {
        while true {
            let file: PosixFile
            do { file = try PosixFile.open(path) } catch VaultError.notFound {
                throw VaultError.notFound("the supporter's account is missing from the store")
            }
            try file.lock(exclusive: true, timeout: lockTimeout)
            if let current = try? Posix.identity(of: path), current == (try file.identity()) { return file }
            file.unlock()
            if !Posix.exists(path) { throw VaultError.notFound("the supporter's account is missing from the store") }
        }
    }
}

/// The vault an unknown e-mail's credential check opens instead of a real one (docs/SECURITY.md, "Failed unlocks and
/// unknown e-mails"): a vault made in memory when the store first needs it, with random keys and credentials no one
/// holds, its header copies as long as the store's and its anchor signed with the store's root key, so opening it
/// reads, parses and verifies a header as opening a patient's vault does. Never written anywhere, never logged
/// (its handles have no access log: the caller logs the unknown account's entry), never reachable from an e-mail.
final class DecoyVault: Sendable {
    private let slot: MemoryVaultSlot
    private let erasureSecret: SecureBytes
    private let anchorRecord: MemoryAnchorRecord
    /// Its id: random, so no e-mail's lookup leads to it.
    let vaultId: [UInt8]
    private let rootKey: StoreRootKey

    /// Makes the decoy (about a millisecond: key generation, a minimum-cost Argon2id for its unused password slot,
    /// signatures). Its work is not a credential check: nothing is recorded in `CredentialWork`.
    init(rootKey: StoreRootKey, headerCopyLength: Int) throws {
        let draft = VaultDraft.new()
        slot = MemoryVaultSlot(name: "decoy")
        erasureSecret = SecureBytes.random(count: 32)
        anchorRecord = MemoryAnchorRecord()
        vaultId = draft.vaultId
        self.rootKey = rootKey
        let anchor = VaultAnchor(record: anchorRecord, vaultId: vaultId, rootKey: rootKey)
        try CredentialWork.$current.withValue(nil) { [slot, erasureSecret] in
            _ = try Vault.create(draft: draft, anchor: anchor, erasureSecret: erasureSecret, password: SecureBytes.random(count: 32),
                                 kdf: .minimumForTesting, headerCopyLength: headerCopyLength, profile: Array(#"{"nickname":""}"#.utf8),
                                 nowMillis: Posix.wallClockMillis()) { try slot.create($0) }
        }
    }

    /// A new handle on the decoy, opened as `Store.openVault(id:)` opens a vault: header and anchor checked.
    /// - Throws: what `Vault.init(medium:…)` throws (nothing, for an intact decoy).
    func open() throws -> Vault {
        try Vault(medium: slot.open(), erasureSecret: erasureSecret,
                  anchor: VaultAnchor(record: anchorRecord, vaultId: vaultId, rootKey: rootKey), expectedVaultId: vaultId)
    }
}
