import Foundation
import MikataCrypto
import MikataFormat

/// The signed deletion certificate (docs/CERTIFICATE.md): RFC 8785 canonical JSON, Ed25519 by the store key over
/// `"mikata/v1/deletion-certificate\0" || JCS(certificate without "signature")`.
package enum DeletionCertificate {
    package static let type = "mikata-deletion-certificate"
    /// The release version: `mikata --version` and the `tool` field of certificates.
    package static let toolVersion = "0.1.0"
    /// How long backups are kept (docs/OPERATIONS.md); stated in certificates as the residual-copy horizon.
    package static let backupRetentionDays = 30

    static func issue(intent: JSONValue, store: Store, completedAt: String, secretBytes: Int, vaultBytes: Int, checks: [JSONValue]) throws -> [UInt8] {
        let key = try store.signingKey()
        func s(_ k: String) -> JSONValue { intent[k] ?? .null }
        let completedDate = AuditLog.parseTime(completedAt) ?? Date()
        // The real date: the latest expiry of the store's backup keys, after which no backup holding the vault opens.
        // Only a store with a key made before key periods falls back to the retention promise, and says so.
        let openUntil = BackupPublicKey.backupsOpenUntil(store)
        let backupsExpire = openUntil.date.map(BackupKey.iso)
            ?? AuditLog.iso(millis: Int64((completedDate.timeIntervalSince1970 + Double(backupRetentionDays) * 86400) * 1000))
        let backupsText: String
        switch openUntil.basis {
        case "backup-key-expiry":
            backupsText = "Backups taken before completedAt still contain the erasure secret, sealed to the operator's backup keys. The last of those keys expires at backupsExpireBy: from then on no backup holding this vault can be opened (the key's secret half is destroyed). A restore skips this vault: its id is in the store's signed tombstone list, which every later backup carries."
        case "no-backup-key":
            backupsText = "The store had no backup key, so no backup holds this vault; backupsExpireBy is the completion time."
        default:
            backupsText = "Backups taken before completedAt still contain the erasure secret, sealed to a backup key made without an expiry date: they expire by the retention policy (backupsExpireBy), not by the key. A restore skips this vault: its id is in the store's signed tombstone list."
        }
        let logsExpire = AuditLog.iso(millis: Int64((completedDate.timeIntervalSince1970 + Double(AuditLog.defaultRetentionDays) * 86400) * 1000))
        let members: [(String, JSONValue)] = [
            ("type", .string(type)), ("version", .number(1)),
            ("certificateId", s("certificateId")), ("issuedAt", .string(completedAt)),
            ("issuer", .object([("storeId", .string(store.storeId)), ("jurisdiction", .string(store.jurisdiction)),
                                ("signingKeyId", .string(Store.keyId(key.publicKey))), ("publicKey", .string(key.publicKey.hex))])),
            ("request", .object([("requestedBy", s("requestedBy")), ("reference", s("reference")), ("reason", s("reason")),
                                 ("receivedAt", s("receivedAt"))])),
            ("execution", .object([("executedBy", s("executedBy")), ("approvedBy", s("approvedBy")), ("startedAt", s("startedAt")),
                                   ("completedAt", .string(completedAt))])),
            ("subject", .object([("vaultId", s("vaultId")), ("subjectRef", s("subjectRef")), ("subjectRefSalt", s("subjectRefSalt")),
                                 ("subjectRefMethod", .string("hex(BLAKE2b-256(\"mikata/v1/subject-ref\\u0000\" || salt || lower-case e-mail address))"))])),
            ("destroyed", .object([
                ("keys", .array([.object([("kind", .string("erasure-secret")), ("keyId", s("erasureKeyId")), ("method", .string("overwritten once with random data, synced, unlinked"))])])),
                ("files", .array([
                    .object([("kind", .string("erasure-secret-file")), ("bytesOverwritten", .number(Double(secretBytes))), ("passes", .number(1))]),
                    .object([("kind", .string("vault-file")), ("bytesOverwritten", .number(Double(vaultBytes))), ("passes", .number(1))]),
                ])),
                ("bytesOverwritten", .number(Double(secretBytes + vaultBytes))), ("passes", .number(1)), ("pattern", .string("random")),
                ("alsoRemoved", .array([.string("generation record"), .string("e-mail lookup entry"), .string("supporter links")])),
            ])),
            ("method", .object([
                ("technique", .string("cryptographic erase + overwrite")),
                ("reference", .string("NIST SP 800-88 Rev. 1: cryptographic erase (Purge) of the per-vault erasure secret; single-pass overwrite (Clear) of the files")),
                ("note", .string("Overwriting in place is best effort on SSDs and on journaling or copy-on-write file systems, which may keep older blocks. The guarantee is the destroyed erasure secret: every record key depends on it, so no copy of the vault file can be decrypted, even with the patient's password.")),
            ])),
            ("tool", .object([("name", .string("mikata")), ("version", .string(toolVersion)), ("libsodium", .string(Sodium.version))])),
            ("verification", .object([("checks", .array(checks)), ("result", .string("passed"))])),
            ("residualCopies", .object([
                ("backups", .string(backupsText)),
                ("backupsExpireBy", .string(openUntil.basis == "no-backup-key" ? completedAt : backupsExpire)),
                ("backupsExpiryBasis", .string(openUntil.basis)),
                ("accessLog", .string("Access-log entries about this vault id (ids, actions and times only, no personal data) remain until pruned.")),
                ("accessLogExpiresBy", .string(logsExpire)),
            ])),
        ]
        return sign(members, key: key)
    }

    static func signedMessage(_ members: [(String, JSONValue)]) -> [UInt8] {
        var m = ByteWriter()
        m.write(VaultFormat.Label.deletionCertificate); m.write(CanonicalJSON.serialize(.object(members)))
        return m.bytes
    }

    static func sign(_ members: [(String, JSONValue)], key: SigningKeyPair) -> [UInt8] {
        let sig = key.sign(signedMessage(members))
        return CanonicalJSON.serialize(.object(members + [("signature", .object([("algorithm", .string("Ed25519")), ("value", .string(sig.hex))]))]))
    }

    package struct Verified: Sendable {
        package var certificateId: String
        package var vaultId: String
        package var issuedAt: String
        package var signingKeyId: String
        package var checkedAgainstGivenKey: Bool
    }

    /// Verifies offline. Without `publicKey` the certificate's own issuer key is used (which proves integrity, not
    /// who issued it); pass the key the operator published to prove both. Throws `.tampered` on any mismatch.
    package static func verify(_ bytes: [UInt8], publicKey: [UInt8]?) throws -> Verified {
        guard let value = try? CanonicalJSON.parse(bytes), case .object(let members) = value else {
            throw VaultError.corrupted("the certificate is not a JSON object")
        }
        guard value["type"] == .string(type), value["version"] == .number(1) else { throw VaultError.unsupported("not a version 1 MikataVault deletion certificate") }
        // The signature object is not covered by the signature: accept exactly its two members, in canonical form.
        guard case .object(let sigMembers)? = value["signature"], sigMembers.count == 2,
              value["signature"]?["algorithm"] == .string("Ed25519"),
              case .string(let sigHex)? = value["signature"]?["value"], let sig = [UInt8](hex: sigHex), sig.count == 64, sig.hex == sigHex
        else { throw VaultError.tampered("the certificate has no well-formed Ed25519 signature") }
        guard case .string(let embeddedHex)? = value["issuer"]?["publicKey"], let embedded = [UInt8](hex: embeddedHex), embedded.count == 32 else {
            throw VaultError.tampered("the certificate names no issuer key")
        }
        if let publicKey, publicKey != embedded { throw VaultError.tampered("the certificate was not issued with the given public key") }
        let unsigned = members.filter { $0.0 != "signature" }
        guard Ed25519.verify(signature: sig, message: signedMessage(unsigned), publicKey: publicKey ?? embedded) else {
            throw VaultError.tampered("the certificate's signature does not verify: it was altered after signing")
        }
        guard case .string(let keyId)? = value["issuer"]?["signingKeyId"], keyId == Store.keyId(embedded) else {
            throw VaultError.tampered("the certificate's signing key id does not match its key")
        }
        return Verified(certificateId: value["certificateId"]?.stringValue ?? "", vaultId: value["subject"]?["vaultId"]?.stringValue ?? "",
                        issuedAt: value["issuedAt"]?.stringValue ?? "", signingKeyId: keyId, checkedAgainstGivenKey: publicKey != nil)
    }
}
