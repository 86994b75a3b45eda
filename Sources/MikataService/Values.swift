public import Foundation
import MikataFormat

/// Who wrote a record.
public enum RecordAuthor: Sendable, Hashable, CustomStringConvertible {
    case patient
    case supporter(SupporterID)
    case service(ServiceID)

    /// "patient", "supporter:<id>" or "service:<id>" (the CLI's `author` field).
    public var description: String {
        switch self {
        case .patient: return "patient"
        case .supporter(let id): return "supporter:\(id.hex)"
        case .service(let id): return "service:\(id.hex)"
        }
    }
}

/// One decrypted, verified record (docs/FORMAT.md §5).
public struct VaultRecord: Sendable, Hashable {
    /// Position in the vault's record chain, from 0.
    public let seq: UInt64
    /// The record type: 1–64 of `a-z 0-9 . _ -`; `mikata.*` types are the vault's own.
    public let type: String
    /// Who wrote it (their signature was checked).
    public let author: RecordAuthor
    /// When the author wrote it: milliseconds since the Unix epoch (UTC), as the author's clock said.
    public let timeMillis: Int64
    /// The record's JSON data (UTF-8), exactly as appended.
    public let data: [UInt8]

    /// `timeMillis` as a `Date`.
    public var time: Date { Date(timeIntervalSince1970: Double(timeMillis) / 1000) }

    /// What the read that made this record found out about its data (page reads scan it, on every core for a large
    /// page), so a client's output loop does not scan it again.
    private let scan: JSONDataScan?

    /// Whether `data` is in the plain JSON subset a key-sorting serializer prints back byte for byte (no white space,
    /// printable-ASCII strings without escapes, integers of at most 15 digits, lower-case keys in increasing order;
    /// `PlainJSON` in MikataFormat). Records of a page read carry the answer; others scan `data` here.
    public var dataIsPlainJSON: Bool { scan?.plain ?? PlainJSON.isPlain(data) }

    /// Whether `data` is one JSON value under the rules every append checks (RFC 8259, strict: no duplicate member,
    /// no lone surrogate, numbers a double holds; docs/FORMAT.md §5.2), so a client may embed it in a JSON document
    /// as stored. Only records written before those rules can fail it. Records of a page read carry the answer;
    /// others are checked here (`CanonicalJSON.isStrictJSON`: one pass, no value built), each time it is asked.
    public var dataIsJSON: Bool { (scan ?? JSONDataScan.of(data)).strict }

    /// Whether `data` is strict JSON (`dataIsJSON`) with no white space between its tokens: as stored, it is already
    /// what `appendCompactData` writes. Records of a page read carry the answer; others are checked here.
    public var dataIsCompactJSON: Bool { (scan ?? JSONDataScan.of(data)).compact }

    /// Whether `data`, strict JSON (`dataIsJSON`), holds U+007F DELETE or a C1 control (U+0080–U+009F) unescaped in a
    /// string: the only control characters strict JSON carries as they are (RFC 8259 §7 has C0 ones escaped), which a
    /// writer of terminal or line-oriented output escapes. False when `data` is not strict JSON. Records of a page read
    /// carry the answer; others are scanned here.
    public var dataHoldsDELOrC1: Bool { (scan ?? JSONDataScan.of(data)).holdsDELOrC1 }

    /// Appends `data` to `out` without the white space RFC 8259 §2 allows between tokens (`CompactJSON`): the same JSON
    /// value on one line, member order and the spelling of numbers and escapes as the author wrote them. For a client
    /// embedding data that `dataIsJSON` in a line-oriented JSON document; on other data the bytes appended are
    /// `data`'s less some white space. Compact data (`dataIsCompactJSON`, known from a page read's scan) and plain data are
    /// appended as they are. O(`data.count`).
    public func appendCompactData(to out: inout [UInt8]) {
        if (scan ?? JSONDataScan.of(data)).compact { out += data } else { CompactJSON.append(data, to: &out) }
    }

    init(seq: UInt64, type: String, author: RecordAuthor, timeMillis: Int64, data: [UInt8], scan: JSONDataScan? = nil) {
        self.seq = seq; self.type = type; self.author = author; self.timeMillis = timeMillis; self.data = data
        self.scan = scan
    }

    // Equal records are equal whether or not their data was scanned yet.
    public static func == (a: VaultRecord, b: VaultRecord) -> Bool {
        a.seq == b.seq && a.type == b.type && a.author == b.author && a.timeMillis == b.timeMillis && a.data == b.data
    }

    public func hash(into h: inout Hasher) {
        h.combine(seq); h.combine(type); h.combine(author); h.combine(timeMillis); h.combine(data)
    }
}

/// Which records a read returns: those after `after` (a sequence number), at most `limit`, optionally only some
/// types and a time window. The vault's own `mikata.*` records are left out unless `includeInternal`.
public struct RecordQuery: Sendable, Hashable {
    /// Return records with `seq > after`; nil starts at the first record.
    public var after: UInt64?
    /// At most this many records (1...10_000).
    public var limit: Int
    /// The page ends with the record that brings its data to this many bytes (at least one record per page), so a
    /// page's memory is bounded whatever the records' sizes. Default 8 MiB.
    public var maxBytes: Int
    /// Only these types; nil for every type.
    public var types: Set<String>?
    /// Only records written at or after this time (milliseconds since the epoch).
    public var fromMillis: Int64?
    /// Only records written before this time (milliseconds since the epoch).
    public var untilMillis: Int64?
    /// Also return the vault's own `mikata.*` records (profile, contacts).
    public var includeInternal: Bool

    /// The largest page a read returns.
    public static let maximumLimit = 10_000
    /// The default byte budget of a page: 8 MiB of record data.
    public static let defaultMaxBytes = 8 << 20

    /// A query; see the properties. Checked when used (`.invalidInput` for a limit outside 1...`maximumLimit`).
    public init(after: UInt64? = nil, limit: Int = 100, maxBytes: Int = RecordQuery.defaultMaxBytes, types: Set<String>? = nil,
                fromMillis: Int64? = nil, untilMillis: Int64? = nil, includeInternal: Bool = false) {
        self.after = after; self.limit = limit; self.maxBytes = maxBytes; self.types = types; self.fromMillis = fromMillis
        self.untilMillis = untilMillis; self.includeInternal = includeInternal
    }
}

/// One page of records and where the next one starts.
public struct RecordPage: Sendable {
    /// The page's records in sequence order (at most `RecordQuery.limit`).
    public let records: [VaultRecord]
    /// Pass as `RecordQuery.after` for the next page; nil once the page reached the end of the vault (a full page may
    /// be followed by an empty one when the filters match nothing further).
    public let nextAfter: UInt64?
}

/// What a supporter's e-mail-addressed access found against their pin for that address (docs/SECURITY.md,
/// "Whom you link").
public enum VaultPinCheck: Sendable, Hashable {
    /// First contact: the vault is pinned now.
    case firstContact
    /// The address leads to the pinned vault.
    case unchanged
    /// The address leads to another vault than the pinned one; reads go on, writes are refused.
    case changed(pinned: VaultID)
    /// As `changed`, accepted by the supporter: re-pinned and logged.
    case accepted(previous: VaultID)
    /// Reached by vault id (a linked patient), not by address: no pin involved.
    case notApplicable

    /// A stable name for JSON (`vaultPin`): first-contact, unchanged, changed, accepted; nil when not applicable.
    public var name: String? {
        switch self {
        case .firstContact: return "first-contact"
        case .unchanged: return "unchanged"
        case .changed: return "changed"
        case .accepted: return "accepted"
        case .notApplicable: return nil
        }
    }

    /// A warning to show the supporter, when the vault is not the one they pinned (clients add how to accept it).
    public func warning(vaultId: VaultID) -> String? {
        switch self {
        case .changed(let pinned):
            return "this patient's address now leads to another vault (fingerprint \(vaultId.fingerprint)) than when you first contacted them (\(pinned.fingerprint)): the patient may have registered again, or the store was altered; check with the patient"
        case .accepted(let previous):
            return "accepted the patient's new vault (fingerprint \(vaultId.fingerprint)) in place of the one pinned before (\(previous.fingerprint))"
        default: return nil
        }
    }
}

/// How a supporter names the patient whose vault they act on.
public enum PatientReference: Sendable, Hashable {
    /// By the patient's e-mail address: checked against the supporter's pin for it.
    case email(String)
    /// By vault id (as `linkedPatients` lists them): no address, no pin.
    case vault(VaultID)
}

/// A patient's vault, just created.
public struct CreatedPatient: Sendable {
    public let vaultId: VaultID
    /// The one-time recovery code (40 characters in groups of five): shown once, never stored in the clear.
    public let recoveryCode: Secret
}

/// A supporter account's public part.
public struct SupporterAccount: Sendable, Hashable {
    /// The supporter's account id.
    public let id: SupporterID
    /// X25519 public key (32 bytes) key shares are sealed to.
    public let boxPublicKey: [UInt8]
    /// Ed25519 public key (32 bytes) their records are signed with.
    public let signPublicKey: [UInt8]
    /// The key fingerprint patients compare before linking (e.g. `7KQ2-M9XD-4TZA-P1C8`).
    public let fingerprint: String
}

/// A patient who linked a supporter, as the supporter sees them.
public struct LinkedPatient: Sendable, Hashable {
    public let vaultId: VaultID
    /// The vault's fingerprint, to compare with what the patient says.
    public let fingerprint: String
    /// Whether the supporter has pinned this vault (contacted it by e-mail address).
    public let pinned: Bool
    /// The patient's nickname from their profile record, if they have one.
    public let nickname: String?
    /// How many of the patient's own records (not `mikata.*`) the vault holds.
    public let recordCount: Int
}

/// The outcome of `grant`.
public struct GrantOutcome: Sendable, Hashable {
    public let vaultId: VaultID
    public let supporterId: SupporterID
    /// False when the supporter was linked already (nothing changed).
    public let added: Bool
    /// The supporter's key fingerprint, to show the patient.
    public let fingerprint: String
    /// Whether a given fingerprint was checked (a mismatch throws instead).
    public let fingerprintChecked: Bool
    /// Whether a contact record naming the supporter was sealed into the vault.
    public let contactRecorded: Bool
}

/// The outcome of `revoke`.
public struct RevokeOutcome: Sendable, Hashable {
    public let vaultId: VaultID
    public let supporterId: SupporterID
    /// The vault's key epoch after the revocation.
    public let epoch: UInt32
    /// Whether every record was re-encrypted under the new epoch.
    public let reencrypted: Bool
}

/// Where an append by a supporter landed.
public struct AppendOutcome: Sendable, Hashable {
    public let vaultId: VaultID
    /// The sequence number (from 0 for the first record or entry).
    public let seq: UInt64
    /// What the supporter's pin for the address said.
    public let pin: VaultPinCheck
}

/// Non-secret facts about a vault (`vault inspect`).
public struct VaultInspection: Sendable, Hashable {
    /// One key slot of the header (docs/FORMAT.md §4).
    public struct Slot: Sendable, Hashable {
        /// "password", "recovery" or "supporter".
        public let kind: String
        /// The supporter a `supporter` slot is sealed to; nil for other kinds.
        public let supporterId: SupporterID?
    }
    public let vaultId: VaultID
    /// The vault format version (docs/FORMAT.md §2), 1 today.
    public let formatVersion: UInt16
    /// The signed key state's generation: grows by one with every header write.
    public let headerGeneration: UInt64
    /// The key epoch new records are sealed under (from 1; a revocation adds one).
    public let currentEpoch: UInt32
    /// The key epochs whose keys the header still holds.
    public let epochs: [UInt32]
    /// The key slots: password, recovery, and one per linked supporter.
    public let slots: [Slot]
    /// The write-only services authorised to append.
    public let services: [ServiceID]
    /// Records in the vault, its own `mikata.*` records included.
    public let recordCount: Int
    /// Bytes of an interrupted append at the end of the file, ignored.
    public let tornTailBytes: Int
    /// The file's size in bytes.
    public let size: Int
    /// The vault file's path (an operator path; no personal data).
    public let path: String
    /// Whether both header copies hold the same generation (false after an interrupted header write; repaired at the next write).
    public let headerCopiesAgree: Bool
}

/// The outcome of `verify`: every record checked (problems throw instead).
public struct VaultVerification: Sendable, Hashable {
    public let vaultId: VaultID
    /// Records in the vault, its own `mikata.*` records included.
    public let recordCount: Int
    /// Bytes of an interrupted append at the end of the file, ignored.
    public let tornTailBytes: Int
    /// The signed key state's generation: grows by one with every header write.
    public let headerGeneration: UInt64
    /// The key epoch new records are sealed under (from 1; a revocation adds one).
    public let currentEpoch: UInt32
}

/// A deletion request as the operator received it (docs/CERTIFICATE.md, "request").
public struct DeletionRequest: Sendable, Hashable {
    /// Why (e.g. "patient deceased"); in the certificate.
    public var reason: String
    /// The requesting organisation (e.g. the health centre).
    public var requestedBy: String
    /// The request's reference number.
    public var reference: String
    /// The operator who executes the shred.
    public var executedBy: String
    /// The operator who approved it, if a second one did.
    public var approvedBy: String?

    /// A request as received; the fields are written into the signed certificate as given.
    public init(reason: String, requestedBy: String, reference: String, executedBy: String, approvedBy: String? = nil) {
        self.reason = reason; self.requestedBy = requestedBy; self.reference = reference; self.executedBy = executedBy; self.approvedBy = approvedBy
    }
}

/// A signed deletion certificate (docs/CERTIFICATE.md) and how it came about.
public struct DeletionOutcome: Sendable, Hashable {
    /// The certificate: RFC 8785 canonical JSON, signed with the store's Ed25519 key.
    public let certificate: [UInt8]
    /// The certificate's id (docs/CERTIFICATE.md, `certificateId`).
    public let certificateId: String
    /// The shredded vault's id in hex.
    public let vaultId: String
    /// True when the vault was shredded earlier and this is that shred's certificate.
    public let alreadyShredded: Bool
}

/// A checked deletion certificate.
public struct CertificateVerification: Sendable, Hashable {
    /// The certificate's id (docs/CERTIFICATE.md, `certificateId`).
    public let certificateId: String
    /// The shredded vault's id in hex.
    public let vaultId: String
    /// When it was issued (ISO 8601, UTC).
    public let issuedAt: String
    /// The id of the store key that signed it (first 8 bytes of BLAKE2b-256 of the key, hex).
    public let signingKeyId: String
    /// Whether it was checked against the key given (else only against the key inside it).
    public let checkedAgainstGivenKey: Bool
}

/// One access-log entry (docs/FORMAT.md §8): ids, roles, actions and outcomes only.
public struct AccessLogEntry: Sendable, Hashable {
    /// The sequence number (from 0 for the first record or entry).
    public let seq: UInt64
    /// ISO 8601 UTC time with milliseconds.
    public let time: String
    /// The vault's id in hex, or "" for a store-level entry.
    public let vaultId: String
    /// Who acted: "patient", "supporter:<id>", "service:<id>", an operator id, or "unknown".
    public let actor: String
    /// The actor's role: patient, supporter, service, operator, store or unknown.
    public let role: String
    /// What was done (e.g. unlock, read, append, grant, revoke, shred; docs/FORMAT.md §8).
    public let action: String
    /// "ok", "denied" or "failed".
    public let outcome: String
    /// Ids and counts that qualify the action; never personal data.
    public let detail: String
}

/// An access-log entry as the patient sees it (`audit mine`): supporters named as the patient knows them.
public struct PatientAccessLogEntry: Sendable, Hashable {
    /// The entry as logged.
    public let entry: AccessLogEntry
    /// "Name <address>" for a supporter the patient has a contact record for, else the actor as logged.
    public let actorName: String
    /// The detail with supporter ids named the same way.
    public let detail: String
}

/// One page of a patient's access log: oldest first (`VaultService.accessLog(_:after:limit:)`) or newest first
/// (`VaultService.accessLog(_:before:limit:)`).
public struct PatientAccessLogPage: Sendable, Hashable {
    public let entries: [PatientAccessLogEntry]
    /// Oldest first: pass as `after` for the next page (the last entry's log sequence number); nil when no entry follows.
    public let nextAfter: UInt64?
    /// Newest first: pass as `before` for the next (older) page; nil when no older entry remains.
    public let nextBefore: UInt64?
}

/// The outcome of `verifyAccessLog`.
public struct AccessLogVerification: Sendable, Hashable {
    /// Entries checked.
    public let entries: Int
    /// Signed checkpoints checked.
    public let checkpoints: Int
    /// The first entry's sequence number (nil for an empty log).
    public let firstSeq: UInt64?
    /// The last entry's sequence number.
    public let lastSeq: UInt64?
    /// The sequence number the last signed checkpoint covers.
    public let lastCheckpointSeq: UInt64?
    /// Entries before this sequence number were pruned under a signed anchor.
    public let prunedBefore: UInt64?
}

/// The store's Ed25519 public key, which operators publish to verify certificates and backups.
public struct StorePublicKey: Sendable, Hashable {
    /// The Ed25519 public key (32 bytes).
    public let publicKey: [UInt8]
    /// First 8 bytes of BLAKE2b-256 of the key, in hex.
    public let keyId: String
}

/// What `initialize` did.
public struct StoreInitialization: Sendable, Hashable {
    /// Whether the store was created now (false: it existed).
    public let created: Bool
    /// A store made before root keys got its first one.
    public let upgraded: Bool
}

/// A backup, written or checked (docs/OPERATIONS.md, "Backups").
public struct BackupSummary: Sendable, Hashable {
    /// Vaults in the backup (restored, for a restore).
    public let vaults: Int
    /// Files in the backup.
    public let files: Int
    /// The backup file's size in bytes.
    public let bytes: Int
    /// When the backup was taken (ISO 8601, UTC).
    public let createdAt: String
    /// The backed-up store's id.
    public let storeId: String
    /// The backup key's id.
    public let backupKeyId: String
    /// Restores only: shredded vaults left out.
    public let skippedShredded: Int
    /// When the backup key expires (ISO 8601), if it does.
    public let expiresAt: String?
    /// Restores only: revocations made after the backup, held until the patient's next write.
    public let revocationsHeld: Int
}

/// A new backup key.
public struct BackupKeyInfo: Sendable, Hashable {
    /// The backup key's id.
    public let backupKeyId: String
    /// ISO 8601, or "" for a key without expiry.
    public let validUntil: String
}

/// Where a restore takes the tombstones and revocations it must honour.
public enum TombstoneSource: Sendable, Hashable {
    /// The live store, a copy of its tombstones folder, or a copy of its signed list: one or more paths.
    case paths([String])
    /// No source exists: only the backup's own tombstones apply (logged in the restored store).
    case noneExists
}
