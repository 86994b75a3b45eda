#if canImport(Glibc)
import Glibc
#endif
import Foundation
package import MikataCrypto
package import MikataFormat

// The HTTP service's administration state (docs/FORMAT.md §7.13): its administrators and the shred requests that
// wait for a second administrator. Both live in `admin/`, each one document sealed under root subkey 7, rewritten
// whole (atomically) under the flock of `admin/lock`. Neither is in backups: the folder is not a store folder that
// walks visit (StoreLayout), so TOTP secrets and pending e-mail addresses never leave the store's disk.

/// One administrator as stored. `passwordHash` is libsodium's Argon2id string; `totpSecret` the printable secret
/// whose UTF-8 bytes are the HMAC key (RFC 6238); `lastAcceptedStep` the last TOTP time step accepted (a code of
/// that step or an earlier one is never accepted again).
package struct AdministratorAccount: Codable, Sendable, Equatable {
    package var name: String
    package var createdAt: String
    package var passwordHash: String
    package var totpSecret: String
    package var lastAcceptedStep: Int64?

    package init(name: String, createdAt: String, passwordHash: String, totpSecret: String, lastAcceptedStep: Int64? = nil) {
        self.name = name; self.createdAt = createdAt; self.passwordHash = passwordHash; self.totpSecret = totpSecret
        self.lastAcceptedStep = lastAcceptedStep
    }

    /// An opaque id of this enrolment: BLAKE2b-128 (hex) over the password hash string (salted, so new at every
    /// creation) and the TOTP secret. An administrator deleted and created again under the same name has another
    /// one, so a session bound to the old one ends (docs/SECURITY.md, "Administrators").
    package var enrolment: String {
        let h = Blake2b(outputLength: 16)
        h.update(Array(passwordHash.utf8))
        h.update([0])
        h.update(Array(totpSecret.utf8))
        return h.finalize().hex
    }
}

/// A shred request waiting for its approval by a second administrator. `email` is only ever in the sealed file.
package struct PendingShredRequest: Codable, Sendable, Equatable {
    package var requestId: String
    package var requestedAt: String
    package var requestedByAdministrator: String
    package var email: String
    package var reason: String
    package var requestedBy: String
    package var reference: String
    /// The vault the address led to when the request was made (hex): the approval shreds that vault or nothing.
    package var vaultId: String?
    /// The requester's enrolment (`AdministratorAccount.enrolment`) when the request was made: the request is void
    /// once that administrator is deleted, even if one of the same name is enrolled again. Absent in requests made
    /// before it was kept (those are checked by name, as they were).
    package var requesterEnrolment: String?

    package init(requestId: String, requestedAt: String, requestedByAdministrator: String, email: String, reason: String,
                 requestedBy: String, reference: String, vaultId: String? = nil, requesterEnrolment: String? = nil) {
        self.requestId = requestId; self.requestedAt = requestedAt; self.requestedByAdministrator = requestedByAdministrator
        self.email = email; self.reason = reason; self.requestedBy = requestedBy; self.reference = reference
        self.vaultId = vaultId; self.requesterEnrolment = requesterEnrolment
    }
}

/// A shredded vault as its tombstone records it (ids and times only).
package struct TombstoneEntry: Sendable, Equatable {
    package var vaultId: String
    package var shreddedAt: String?
    package var certificateId: String?
}

extension StoreRootKey {
    /// Subkey 7: the sealed administration documents (FORMAT.md §7.13).
    var documentKey: SecureBytes { SubkeyDerivation.derive(from: secret, id: 7, context: VaultFormat.Label.rootKDFContext) }
}

extension Store {
    var administrationDirectory: String { "\(root)/admin" }

    private func documentPath(_ kind: SealedDocumentFile.Kind) -> String {
        "\(administrationDirectory)/\(kind == .administrators ? "administrators" : "shred-requests")"
    }

    private struct Document<T: Codable>: Codable { var entries: [T] }

    /// The entries of a sealed document; none when the file does not exist yet.
    /// - Throws: `VaultError.corrupted` (checksum, structure), `.tampered` (does not open under the root key:
    ///   replaced or from another store), `.unsupported`.
    package func readDocument<T: Codable>(_ kind: SealedDocumentFile.Kind, as: T.Type) throws -> [T] {
        // The folder must pass the store's folder rule (a real folder of this user that nobody else can write).
        var st = stat()
        guard PathBytes.withCString(administrationDirectory, { lstat($0, &st) }) == 0 else { return [] }
        try Posix.checkFolder(administrationDirectory, st)
        guard let bytes = try Posix.readFile(documentPath(kind)) else { return [] }
        let file = try VaultError.parsing(kind == .administrators ? "administrators file" : "shred requests file") {
            try SealedDocumentFile.parse(bytes, kind: kind)
        }
        var plain: [UInt8]
        do {
            plain = try XChaCha20Poly1305.open(file.ciphertext, key: rootKey.documentKey, nonce: file.nonce,
                                               ad: SealedDocumentFile.associatedData(storeId: storeId, kind: kind))
        } catch {
            throw VaultError.tampered("\(documentPath(kind)) does not open with the store root key (replaced, or from another store)")
        }
        defer { Sodium.wipe(&plain) }
        var data = Data(plain)
        defer { data.resetBytes(in: 0..<data.count) }
        do { return try JSONDecoder().decode(Document<T>.self, from: data).entries } catch {
            throw VaultError.corrupted("\(documentPath(kind)) opens but its content is not what this build writes")
        }
    }

    /// Reads, changes and (when `body` changed anything) rewrites a sealed document, under the flock of
    /// `admin/lock` so that processes sharing the store (the server, the CLI) take turns.
    /// - Throws: what `body` throws; `VaultError.busy` when another process holds the lock past `lockTimeout`;
    ///   `.io`, and what `readDocument` throws.
    package func updateDocument<T: Codable & Equatable, R>(_ kind: SealedDocumentFile.Kind, as type: T.Type,
                                                          _ body: (inout [T]) throws -> R) throws -> R {
        try Posix.makeDirectories(administrationDirectory)
        let lock = try PosixFile.open("\(administrationDirectory)/lock", create: true)
        try lock.lock(exclusive: true, timeout: lockTimeout)
        defer { lock.unlock() }
        let before = try readDocument(kind, as: type)
        var entries = before
        let result = try body(&entries)
        guard entries != before else { return result }
        var plain = Array(try JSONEncoder().encode(Document(entries: entries)))
        defer { Sodium.wipe(&plain) }
        let nonce = Random.bytes(24)
        let ct: [UInt8]
        do {
            ct = try XChaCha20Poly1305.seal(plain, key: rootKey.documentKey, nonce: nonce,
                                            ad: SealedDocumentFile.associatedData(storeId: storeId, kind: kind))
        } catch let e as CryptoError { throw VaultError.crypto(e, "administration document") }
        try Posix.writeAtomically(documentPath(kind), SealedDocumentFile(kind: kind, nonce: nonce, ciphertext: ct).serialize())
        return result
    }

    // MARK: administrator passwords

    /// An Argon2id string of `password` (normalised as every password is) at the store's cost, under the Argon2id
    /// budget (the caller's admission when it holds one).
    /// - Throws: `VaultError.busy` (no memory), `.invalidInput`.
    package func hashAdministratorPassword(_ password: SecureBytes) throws -> String {
        let normalised = HumanInput.password(password)
        CredentialWork.current?.record(.argon2id(kdf))
        let reservation = try Argon2Budget.shared.reserve(kdf.memLimit)
        defer { Argon2Budget.shared.release(reservation) }
        do { return try PasswordHashString.hash(password: normalised, opsLimit: kdf.opsLimit, memLimit: kdf.memLimit) }
        catch let e as CryptoError { throw VaultError.crypto(e, "administrator password") }
    }

    /// Whether `password` matches `stored`. With no stored hash (an unknown name) it hashes the password once at
    /// the store's cost and answers false, so an unknown name costs what a wrong password costs.
    /// - Throws: `VaultError.busy` (no memory), `.unsupported` (a hash asking for more memory than this build allows).
    package func checkAdministratorPassword(_ stored: String?, _ password: SecureBytes) throws -> Bool {
        guard let stored else {
            _ = try hashAdministratorPassword(password)
            return false
        }
        guard let cost = PasswordHashString.parameters(of: stored) else {
            throw VaultError.corrupted("an administrator's password hash is not an Argon2id string")
        }
        guard cost.opsLimit <= KDFParameters.readLimit.opsLimit, cost.memLimit <= KDFParameters.readLimit.memLimit else {
            throw VaultError.unsupported("an administrator's password hash asks for more Argon2id work than this build allows")
        }
        let normalised = HumanInput.password(password)
        CredentialWork.current?.record(.argon2id(KDFParameters(opsLimit: cost.opsLimit, memLimit: cost.memLimit)))
        let reservation = try Argon2Budget.shared.reserve(cost.memLimit)
        defer { Argon2Budget.shared.release(reservation) }
        return PasswordHashString.verify(stored, password: normalised)
    }

    // MARK: tombstones

    /// The shredded vaults with the time and certificate their tombstone records; a shred still under way has
    /// neither. Oldest first, then by id.
    package func tombstoneEntries() -> [TombstoneEntry] {
        tombstones().map { id -> TombstoneEntry in
            var entry = TombstoneEntry(vaultId: id)
            if let bytes = try? Posix.readFile("\(tombstoneDirectory)/\(id)"),
               let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] {
                entry.shreddedAt = object["shreddedAt"] as? String
                entry.certificateId = object["certificateId"] as? String
            }
            return entry
        }.sorted { ($0.shreddedAt ?? "~", $0.vaultId) < ($1.shreddedAt ?? "~", $1.vaultId) }
    }
}
