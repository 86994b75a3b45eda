import MikataFormat
import MikataVault

extension VaultRecord {
    init(_ r: Record, scan: JSONDataScan? = nil) {
        let author: RecordAuthor
        switch r.author.role {
        case "supporter": author = .supporter(SupporterID(trusted: r.author.id))
        case "service": author = .service(ServiceID(trusted: r.author.id))
        default: author = .patient
        }
        self.init(seq: r.seq, type: r.type, author: author, timeMillis: r.timeMillis, data: r.data, scan: scan)
    }
}

extension VaultPinCheck {
    init(_ p: VaultPin) {
        switch p {
        case .firstContact: self = .firstContact
        case .unchanged: self = .unchanged
        case .changed(let id): self = .changed(pinned: VaultID(trusted: id))
        case .accepted(let id): self = .accepted(previous: VaultID(trusted: id))
        }
    }
}

extension AccessLogEntry {
    init(_ e: AuditLog.Entry) {
        self.init(seq: e.seq, time: e.time, vaultId: e.vault, actor: e.actor, role: e.role, action: e.action,
                  outcome: e.outcome, detail: e.detail)
    }
}

extension DeletionOutcome {
    init(_ o: ShredOutcome) {
        self.init(certificate: o.certificate, certificateId: o.certificateId, vaultId: o.vaultId, alreadyShredded: o.alreadyShredded)
    }
}

extension BackupSummary {
    init(_ s: Backup.Summary) {
        self.init(vaults: s.vaults, files: s.files, bytes: s.bytes, createdAt: s.createdAt, storeId: s.storeId,
                  backupKeyId: s.backupKeyId, skippedShredded: s.skippedShredded, expiresAt: s.expiresAt,
                  revocationsHeld: s.revocationsHeld)
    }
}

extension VaultInspection {
    init(_ i: VaultInfo) {
        self.init(vaultId: VaultID(trusted: i.vaultId), formatVersion: i.formatVersion, headerGeneration: i.headerGeneration,
                  currentEpoch: i.currentEpoch, epochs: i.epochs,
                  slots: i.slots.map { Slot(kind: $0.kind, supporterId: $0.supporterId.map { SupporterID(trusted: $0) }) },
                  services: i.services.map { ServiceID(trusted: $0) }, recordCount: i.recordCount,
                  tornTailBytes: i.tornTailBytes, size: i.size, path: i.path, headerCopiesAgree: i.headerCopiesAgree)
    }
}

extension RecordQuery {
    /// Checks the query's bounds.
    /// - Throws: `MikataError(.invalidInput)`.
    func validated() throws -> RecordQuery {
        guard (1...RecordQuery.maximumLimit).contains(limit) else {
            throw MikataError(.invalidInput, "a page holds 1 to \(RecordQuery.maximumLimit) records")
        }
        guard maxBytes > 0 else { throw MikataError(.invalidInput, "a page's byte budget must be positive") }
        if let f = fromMillis, let u = untilMillis, f > u { throw MikataError(.invalidInput, "the time window ends before it starts") }
        return self
    }
}

