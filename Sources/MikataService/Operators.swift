public import Foundation
import MikataCrypto
import MikataFormat
import MikataVault

// Operators' use cases (docs/OPERATIONS.md): inspection, shredding, the access log, backups. The HTTP service puts
// its operator authentication in front of these; the CLI trusts its Unix user. Each is a logged operator action.

extension VaultService {
    /// Non-secret metadata of the vault `email` leads to, without any password; logged as an operator action.
    /// - Parameters:
    ///   - operatorId: who inspects (logged).
    /// - Throws: `MikataError` `.notFound`, `.erased`, `.corrupted`, `.tampered`.
    public func inspect(email: String, operatorId: String = "operator") async throws -> VaultInspection {
        let key = try await laneKey(email: email)
        return try await lanes.run(key) {
            try await blocking { store in VaultInspection(try store.inspectVault(email: email, operator: operatorId)) }
        }
    }

    /// Shreds the vault `email` leads to on a documented request (NIST SP 800-88 "purge" by cryptographic erase plus
    /// overwrite), or completes an interrupted shred, or returns an earlier shred's certificate.
    /// - Parameter expectedVaultId: when given (hex), the shred goes ahead only if the address still leads to that
    ///   vault (or to none: an interrupted shred of it completes); an address that now leads to another vault is
    ///   `.notFound` for the vault asked for, and nothing is shredded (a dual-control request made before the patient
    ///   deleted their vault and someone re-registered the address); an address whose vault was deleted before (the
    ///   earlier certificate found) is `.notFound` too: that certificate does not answer this request.
    /// - Throws: `MikataError` `.notFound`, `.invalidInput` (request fields), `.io`.
    public func shred(email: String, request: DeletionRequest, expectedVaultId: String? = nil) async throws -> DeletionOutcome {
        let key = try await laneKey(email: email)
        return try await lanes.run(key) {
            try await blocking { store in
                if let expectedVaultId, let current = try? store.vaultId(email: email), current.hex != expectedVaultId {
                    throw MikataError(.notFound, "the vault this request names no longer exists; the address leads to another vault")
                }
                let outcome = DeletionOutcome(try store.shred(email: email, request: ShredRequest(
                    reason: request.reason, requestedBy: request.requestedBy, reference: request.reference,
                    executedBy: request.executedBy, approvedBy: request.approvedBy)))
                self.handles.drop(outcome.vaultId)
                // The outcome must be this request's: the vault it named, shredded now, or earlier by this very request
                // (an approval retried after its shred completed); an earlier deletion's certificate (the patient's own,
                // or one of an older vault of the same address) answers no administrator's request.
                if let expectedVaultId {
                    guard outcome.vaultId == expectedVaultId else {
                        throw MikataError(.notFound, "the vault this request names no longer exists; the address led to another vault")
                    }
                    if outcome.alreadyShredded, !Self.certificate(outcome.certificate, answers: request) {
                        throw MikataError(.notFound, "the vault this request names no longer exists; it was deleted before the request was approved")
                    }
                }
                return outcome
            }
        }
    }

    /// Whether a certificate records the shred `request` asked for: the same reference, executor and approver.
    static func certificate(_ bytes: [UInt8], answers request: DeletionRequest) -> Bool {
        guard let value = try? CanonicalJSON.parse(bytes) else { return false }
        return value["request"]?["reference"]?.stringValue == request.reference
            && value["execution"]?["executedBy"]?.stringValue == request.executedBy
            && value["execution"]?["approvedBy"]?.stringValue == request.approvedBy
    }

    /// Verifies a deletion certificate offline (docs/CERTIFICATE.md). Without `publicKey` it is checked against the
    /// key inside it (integrity, not issuer).
    /// - Throws: `MikataError(.tampered)` / `.corrupted` on any mismatch.
    public static func verifyCertificate(_ bytes: [UInt8], publicKey: [UInt8]?) throws -> CertificateVerification {
        do {  // pure computation on bytes in memory: no blocking call
            let v = try DeletionCertificate.verify(bytes, publicKey: publicKey)
            return CertificateVerification(certificateId: v.certificateId, vaultId: v.vaultId, issuedAt: v.issuedAt,
                                           signingKeyId: v.signingKeyId, checkedAgainstGivenKey: v.checkedAgainstGivenKey)
        } catch { throw MikataError.from(error) }
    }

    /// The store's Ed25519 public key, which operators publish.
    /// - Throws: `MikataError` `.erased` (missing), `.tampered`.
    public func storePublicKey() async throws -> StorePublicKey {
        try await blocking { store in
            let key = try store.signingKey().publicKey
            return StorePublicKey(publicKey: key, keyId: Store.keyId(key))
        }
    }

    // MARK: the access log

    /// Access-log entries, oldest first, optionally of one patient's vault and from a time on.
    /// - Throws: `MikataError` `.notFound` (unknown e-mail), `.corrupted`, `.io`.
    public func accessLog(email: String? = nil, since: Date? = nil) async throws -> [AccessLogEntry] {
        try await blocking { store in
            var entries = try store.auditLog().entries()
            if let email { let id = try store.vaultId(email: email).hex; entries = entries.filter { $0.vault == id } }
            if let since { entries = entries.filter { (AuditLog.parseTime($0.time) ?? .distantPast) >= since } }
            return entries.map(AccessLogEntry.init)
        }
    }

    /// Checks the log's chain, MACs and signed checkpoints, then every vault against what the log recorded of it.
    /// - Throws: `MikataError(.tampered)` naming the first discrepancy, `.corrupted`.
    public func verifyAccessLog() async throws -> AccessLogVerification {
        try await blocking { store in
            let r = try store.verifyAccessLog()
            return AccessLogVerification(entries: r.entries, checkpoints: r.checkpoints, firstSeq: r.firstSeq, lastSeq: r.lastSeq,
                                         lastCheckpointSeq: r.lastCheckpointSeq, prunedBefore: r.prunedBefore)
        }
    }

    /// The shortest retention `pruneAccessLog` accepts without a reason, in days.
    public static let minimumRetentionDays = AuditLog.minimumRetentionDays
    /// The retention operators promise by default, in days.
    public static let defaultRetentionDays = AuditLog.defaultRetentionDays

    /// Drops entries older than `retentionDays` under a signed anchor; the rest still verifies.
    /// - Parameters:
    ///   - shortRetentionReason: required (and logged first) for fewer than `minimumRetentionDays` days.
    /// - Returns: how many entries were dropped.
    /// - Throws: `MikataError` `.invalidInput` (retention), `.io`.
    public func pruneAccessLog(retentionDays: Int, operatorId: String = "operator", shortRetentionReason: String? = nil) async throws -> Int {
        try await blocking { store in
            try store.auditLog().prune(retentionDays: retentionDays, actor: operatorId, shortRetentionReason: shortRetentionReason)
        }
    }

    /// Appends a signed checkpoint of the log's head and returns it (one canonical JSON line) to publish elsewhere.
    /// - Throws: `MikataError` `.io`, `.tampered`.
    public func checkpointAccessLog() async throws -> String {
        try await blocking { store in try store.auditLog().checkpoint() }
    }

    // MARK: backups

    /// Creates the next period's backup key: the secret goes to a new file at `secretKeyOut` (keep it offline),
    /// with the store's public key and the key's expiry; the public half stays in the store.
    /// - Parameters:
    ///   - validUntil: more than 30 days away (default: 60 days from now).
    /// - Throws: `MikataError` `.alreadyExists` (the file exists), `.invalidInput`, `.io`.
    public func createBackupKey(secretKeyOut: String, validUntil: Date? = nil) async throws -> BackupKeyInfo {
        try await blocking { store in
            let id = try Backup.createKey(store: store, secretKeyOut: secretKeyOut, validUntil: validUntil)
            let key = try Backup.readSecretKey(path: secretKeyOut)
            return BackupKeyInfo(backupKeyId: id, validUntil: key.validUntil.map { ISO8601DateFormatter().string(from: $0) } ?? "")
        }
    }

    /// Destroys a backup key file in place (its secret overwritten); logged in the store when one is given.
    /// - Returns: the key's id, or nil when it was destroyed already.
    /// - Throws: `MikataError` `.notFound`, `.corrupted`, `.io`.
    public static func destroyBackupKey(path: String, service: VaultService?) async throws -> String? {
        try await BlockingPool.shared.run { try Backup.destroyKey(path: path, store: service?.store) }
    }

    /// Writes a consistent backup while writers keep going, sealed to the current backup key; refuses a store whose
    /// access log does not verify.
    /// - Throws: `MikataError` `.alreadyExists` (the file exists), `.notFound` (no backup key), `.tampered`, `.io`.
    public func createBackup(out: String) async throws -> BackupSummary {
        try await blocking { store in BackupSummary(try Backup.create(store: store, out: out)) }
    }

    /// Checks a backup's integrity and signature against the pinned store key (from the backup key file, or
    /// `publicKey`), and with the backup key that every secret opens.
    /// - Throws: `MikataError` `.invalidInput` (no pin), `.tampered`, `.corrupted`, `.notFound`.
    public static func verifyBackup(path: String, backupKeyFile: String?, publicKey: [UInt8]?) async throws -> BackupSummary {
        try await BlockingPool.shared.run {
            let key = try backupKeyFile.map { try Backup.readSecretKey(path: $0) }
            return BackupSummary(try Backup.verify(path: path, backupKey: key, publicKey: publicKey))
        }
    }

    /// Restores a backup into a new store directory, skipping shredded vaults and holding later revocations, and
    /// re-anchors everything under the target's root key.
    /// - Parameters:
    ///   - jurisdiction: what the restored store declares (an assigned ISO 3166-1 alpha-2 code; nil: `JP`, as `init`).
    ///   - allowJurisdictionChange: restore a backup of a store of another jurisdiction (logged in the restored
    ///     store as `jurisdiction-change`); without it such a restore is refused before anything is written.
    /// - Throws: `MikataError` `.notPermitted` (the backup's jurisdiction is not `jurisdiction` and the change was
    ///   not allowed), `.invalidInput` (not an ISO 3166-1 alpha-2 code), `.alreadyExists` (target not empty),
    ///   `.tampered`, `.notFound`, `.io`.
    public static func restoreBackup(path: String, into target: String, backupKeyFile: String, tombstones: TombstoneSource,
                                     publicKey: [UInt8]? = nil, rootKey: RootKeyLocation = .environment,
                                     jurisdiction: String? = nil, allowJurisdictionChange: Bool = false) async throws -> BackupSummary {
        let keySource = rootKey.source
        return try await BlockingPool.shared.run {
            let source: Backup.TombstoneSource
            switch tombstones {
            case .paths(let p): source = .from(p)
            case .noneExists: source = .noneExists
            }
            return BackupSummary(try Backup.restore(path: path, into: target, backupKey: try Backup.readSecretKey(path: backupKeyFile),
                                                    tombstones: source, publicKey: publicKey, rootKey: keySource,
                                                    jurisdiction: jurisdiction, allowJurisdictionChange: allowJurisdictionChange))
        }
    }
}
