import MikataCrypto
import MikataFormat

/// What a supporter's pin says of the vault a patient's address leads to (docs/SECURITY.md, "Checking whom you
/// link"). A supporter pins each patient's vault id on first contact; a later change is shown, never silently taken.
package enum VaultPin: Equatable, Sendable {
    /// No pin for this address yet: the vault is pinned now.
    case firstContact
    /// The address leads to the pinned vault.
    case unchanged
    /// The address now leads to another vault than the pinned one (the patient re-registered, or the store was
    /// altered by someone holding its root key). Reads go on with this warning; writes are refused.
    case changed(pinnedVaultId: [UInt8])
    /// As `changed`, and the supporter accepted the new vault: re-pinned and logged.
    case accepted(previousVaultId: [UInt8])

    /// A stable name for `--json` (`vaultPin`).
    package var name: String {
        switch self {
        case .firstContact: return "first-contact"
        case .unchanged: return "unchanged"
        case .changed: return "changed"
        case .accepted: return "accepted"
        }
    }

    /// What to tell the supporter, if anything (no personal data: vault fingerprints only).
    package func warning(vaultId: [UInt8]) -> String? {
        switch self {
        case .firstContact, .unchanged: return nil
        case .changed(let pinned):
            return "this patient's address now leads to another vault (fingerprint \(Fingerprint.vault(vaultId))) than when you first contacted them (\(Fingerprint.vault(pinned))): the patient may have registered again, or the store was altered; check with the patient, then repeat with --accept-new-vault"
        case .accepted(let previous):
            return "accepted the patient's new vault (fingerprint \(Fingerprint.vault(vaultId))) in place of the one pinned before (\(Fingerprint.vault(previous)))"
        }
    }
}

/// Whether a supporter reads a vault or writes to it: a changed pin refuses writes only.
package enum SupporterAccess: Sendable { case read, write }

extension Store {
    func pinsPath(_ supporterId: [UInt8]) -> String { "\(root)/supporters/\(String(supporterId.hex.prefix(2)))/\(supporterId.hex).pins" }

    /// Keys derived from the supporter's signing seed (FORMAT.md §7.11): 1 seals the pins file, 2 names addresses.
    private static func pinsFileKey(_ identity: SupporterIdentity) -> SecureBytes {
        SubkeyDerivation.derive(from: identity.signing.seed, id: 1, context: VaultFormat.Label.pinsKDFContext)
    }

    private static func addressKey(_ identity: SupporterIdentity, email: String) throws -> [UInt8] {
        let h = Blake2b(outputLength: 32, key: SubkeyDerivation.derive(from: identity.signing.seed, id: 2, context: VaultFormat.Label.pinsKDFContext))
        h.update(Array(try Store.normalise(email: email).utf8))
        return h.finalize()
    }

    /// The supporter's pins (none before their first contact).
    /// - Throws: `VaultError.tampered` when the file does not open with this supporter's key; `.corrupted`.
    func pins(_ identity: SupporterIdentity) throws -> SupporterPinsFile {
        guard let bytes = try Posix.readFile(pinsPath(identity.id)) else { return SupporterPinsFile(supporterId: identity.id, pins: []) }
        let file: SupporterPinsFile
        do { file = try SupporterPinsFile.parse(bytes, key: Store.pinsFileKey(identity)) }
        catch let e as FormatError { throw VaultError.from(e, in: "pins file") }
        catch { throw VaultError.tampered("the supporter's pins file does not open with their key (replaced, or another supporter's)") }
        guard file.supporterId == identity.id else { throw VaultError.tampered("the supporter's pins file belongs to another supporter") }
        return file
    }

    private func savePins(_ file: SupporterPinsFile, _ identity: SupporterIdentity) throws {
        let bytes = try VaultError.parsing("pins file") { try file.serialize(key: Store.pinsFileKey(identity)) }
        try Posix.writeAtomically(pinsPath(identity.id), bytes)
    }

    /// The vault ids the supporter has pinned (hex), for `supporter patients`.
    package func pinnedVaultIds(_ identity: SupporterIdentity) throws -> Set<String> {
        Set(try pins(identity).pins.map(\.vaultId.hex))
    }

    /// Opens and unlocks the vault `email` leads to as `identity`, and checks it against the supporter's pin for that
    /// address: the first contact pins it (after the unlock proved the vault links the supporter); a changed vault is
    /// returned as `.changed` for reads and refused for writes, unless `acceptNewVault`, which re-pins and is logged.
    /// The pin is read-modify-written without a lock: of two first contacts at once one pin survives, and a lost
    /// re-pin only shows the warning again.
    /// - Throws: `VaultError.notPermitted` for a write to a changed vault (nothing written); what `openVault`,
    ///   `Vault.unlock(supporter:)` and `pins` throw.
    package func openVault(email: String, supporter identity: SupporterIdentity, access: SupporterAccess,
                           acceptNewVault: Bool = false) throws -> (vault: Vault, session: VaultSession, pin: VaultPin) {
        let (vault, session) = try openVault(email: email, supporter: identity)  // an unknown address answers "not linked"
        var file = try pins(identity)
        let key = try Store.addressKey(identity, email: email)
        let now = Posix.wallClockMillis()
        let actor = "supporter:\(identity.id.hex)"
        guard let i = file.pins.firstIndex(where: { Sodium.constantTimeEqual($0.addressKey, key) }) else {
            file.pins.append(.init(addressKey: key, vaultId: vault.vaultId, pinnedAtMillis: now))
            try savePins(file, identity)
            return (vault, session, .firstContact)
        }
        let pinned = file.pins[i].vaultId
        if pinned == vault.vaultId { return (vault, session, .unchanged) }
        if acceptNewVault {
            file.pins[i] = .init(addressKey: key, vaultId: vault.vaultId, pinnedAtMillis: now)
            try savePins(file, identity)
            // The old vault id stays out of the log: it would tie a shredded patient to their new vault.
            try log("vault-pin", vaultId: vault.vaultId, actor: actor, role: "supporter", detail: "accepted as the address's new vault")
            return (vault, session, .accepted(previousVaultId: pinned))
        }
        if access == .write {
            try log("vault-pin", vaultId: vault.vaultId, actor: actor, role: "supporter", outcome: "denied", detail: "not the pinned vault: write refused")
            throw VaultError.notPermitted("this patient's address now leads to another vault than when you first contacted them: nothing was written; check with the patient, then repeat with --accept-new-vault")
        }
        return (vault, session, .changed(pinnedVaultId: pinned))
    }
}
