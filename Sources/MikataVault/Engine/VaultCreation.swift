import MikataCrypto
import MikataFormat

/// The identity of a vault about to be created: its owner key pair and the salt that together give its id.
/// The store needs the id first, to place the erasure secret and the file.
struct VaultDraft {
    let owner: SigningKeyPair
    let salt: [UInt8]
    let vaultId: [UInt8]

    static func new() -> VaultDraft {
        let owner = SigningKeyPair.generate()
        let salt = Random.bytes(16)
        return VaultDraft(owner: owner, salt: salt, vaultId: VaultFormat.vaultId(ownerPublicKey: owner.publicKey, salt: salt))
    }
}

extension Vault {
    /// Type of the record every vault starts with: the patient's profile (nickname), encrypted like any record.
    package static let profileRecordType = "mikata.profile"

    /// Writes a new vault file: preamble, two identical header copies (generation 1), and record 0 (the profile).
    /// Returns the opened vault and the recovery code, which is shown once and stored nowhere.
    static func create(draft: VaultDraft, path: String, anchor: VaultAnchor, erasureSecret: SecureBytes,
                       password: SecureBytes, kdf: KDFParameters, headerCopyLength: Int, profile: [UInt8],
                       nowMillis: Int64) throws -> (Vault, recoveryCode: SecureBytes) {
        try create(draft: draft, anchor: anchor, erasureSecret: erasureSecret, password: password, kdf: kdf,
                   headerCopyLength: headerCopyLength, profile: profile, nowMillis: nowMillis) { bytes in
            try Posix.writeNew(path, bytes)
            return try FileVaultMedium.open(path)
        }
    }

    /// `create` on any medium: `store` makes the vault's first content durable (failing if the vault exists) and
    /// returns a handle on it.
    static func create(draft: VaultDraft, anchor: VaultAnchor, erasureSecret: SecureBytes,
                       password: SecureBytes, kdf: KDFParameters, headerCopyLength: Int, profile: [UInt8],
                       nowMillis: Int64, store: ([UInt8]) throws -> any VaultMedium) throws -> (Vault, recoveryCode: SecureBytes) {
        let vaultId = draft.vaultId
        let ownerKey = SecureBytes.random(count: 32)
        let epochKey = SecureBytes.random(count: 32)
        let epoch: UInt32 = 1
        let keys = EpochKeys.derive(vaultId: vaultId, epoch: epoch, epochKey: epochKey, erasureSecret: erasureSecret)
        let password = try Vault.passwordSlot(ownerKey: ownerKey, password: password, kdf: kdf, vaultId: vaultId)
        let (codeText, codeBytes) = RecoveryCode.generate()
        var recovery = RecoverySlot(salt: Random.bytes(16), wrap: WrappedKey(nonce: [UInt8](repeating: 0, count: 24), ciphertext: [UInt8](repeating: 0, count: 48)))
        recovery.wrap = Wraps.wrap(ownerKey, under: RecoveryCode.slotKey(code: codeBytes, vaultId: vaultId, salt: recovery.salt),
                                   ad: recovery.associatedData(vaultId: vaultId))

        // Record 0: the profile, signed by the owner like every record.
        var payload = RecordPayload(authorId: vaultId, timeMillis: nowMillis, type: profileRecordType, data: profile)
        payload.signature = draft.owner.sign(RecordPayload.signatureMessage(vaultId: vaultId, seq: 0, unsignedPayload: payload.unsignedBytes()))
        let frame = try Vault.seal(payload.serialize(), seq: 0, epoch: epoch, prevLink: VaultFormat.genesisLink(vaultId: vaultId),
                                   vaultId: vaultId, kind: .vaultKey, recordKey: keys.recordKey)

        var state = KeyState(
            vaultId: vaultId, generation: 1, ownerPublicKey: draft.owner.publicKey, createdAtMillis: nowMillis,
            ownerSecret: Wraps.wrap(draft.owner.seed, under: ownerKey, ad: Wraps.ownerSecretAD(vaultId: vaultId)),
            recordFloorCount: 1, recordFloorLink: frame.link,
            epochs: [EpochEntry(epoch: epoch, startSeq: 0, writePublicKey: keys.writeKeyPair.publicKey, previousKeyWrap: nil)],
            currentEpochKeyWrap: Wraps.wrap(epochKey, under: ownerKey, ad: Wraps.epochOwnerAD(vaultId: vaultId, epoch: epoch)),
            authors: [Author(id: vaultId, role: .patient, signPublicKey: draft.owner.publicKey, activeFromSeq: 0)],
            slots: [.password(password), .recovery(recovery)])
        state.signature = draft.owner.sign(state.signedMessage())
        try VaultError.parsing("new key state") { try state.checkSlots() }

        let preamble = Preamble(headerCopyLength: headerCopyLength, vaultId: vaultId, vaultSalt: draft.salt)
        let copy = try VaultError.parsing("new vault") { try HeaderCopy(generation: 1, body: state.serialize()).serialize(copyLength: headerCopyLength) }
        try anchor.writeNew(state)
        let medium = try store(preamble.serialize() + copy + copy + frame.serialize())
        let vault = try Vault(medium: medium, erasureSecret: erasureSecret, anchor: anchor)
        return (vault, codeText)
    }
}
