package import MikataCrypto
package import MikataFormat

/// Who wrote a record.
package struct RecordAuthor: Equatable, Sendable, CustomStringConvertible {
    package let role: String
    package let id: [UInt8]

    /// "patient", "supporter:<id>" or "service:<id>" (the CLI's `author` field).
    package var description: String { role == "patient" ? "patient" : "\(role):\(id.hex)" }
}

/// A decrypted, verified record.
package struct Record: Equatable, Sendable {
    package let seq: UInt64
    package let type: String
    package let author: RecordAuthor
    package let timeMillis: Int64
    package let data: [UInt8]
    /// What the read found out about `data` as JSON, when it was asked to (`scanData`); nil otherwise.
    package var dataScan: JSONDataScan? = nil

    // Equal records are equal whether or not their data was scanned.
    package static func == (a: Record, b: Record) -> Bool {
        a.seq == b.seq && a.type == b.type && a.author == b.author && a.timeMillis == b.timeMillis && a.data == b.data
    }
}

/// Non-secret facts about a vault, readable without any password (`mikata vault inspect`).
package struct VaultInfo: Sendable {
    package let vaultId: [UInt8]
    package let formatVersion: UInt16
    package let headerGeneration: UInt64
    package let currentEpoch: UInt32
    package let epochs: [UInt32]
    package let slots: [(kind: String, supporterId: [UInt8]?)]
    package let services: [[UInt8]]
    package let recordCount: Int
    package let tornTailBytes: Int
    package let size: Int
    package let path: String
    package let headerCopiesAgree: Bool
}

/// The outcome of `Vault.verify`: every record checked; problems throw instead.
package struct VerifyReport: Sendable {
    package let recordCount: Int
    package let tornTailBytes: Int
    package let headerGeneration: UInt64
    package let currentEpoch: UInt32
}

/// How a session unlocked the vault, kept so the keyring can be rebuilt when another process changes the header.
enum Unlock {
    /// The patient: the owner key (from the password or recovery slot).
    case owner(SecureBytes)
    case supporter(SupporterIdentity)
    /// A write-only service: no key material at all.
    case service(ServiceIdentity)
}

/// An unlocked vault: who is acting and what they hold. Sessions are not shared between threads.
package final class VaultSession {
    let unlock: Unlock
    var keyring: Keyring?
    var ownerSigning: SigningKeyPair?

    init(unlock: Unlock) { self.unlock = unlock }
}

/// One patient's vault: the append-only record log behind A/B header copies (docs/FORMAT.md), on a `VaultMedium`
/// (a file of the store, or memory in tests). Not thread-safe: one `Vault` per task; processes coordinate through
/// the medium's lock (flock).
package final class Vault {
    package let path: String
    package let vaultId: [UInt8]
    var erasureSecret: SecureBytes
    /// Where the erasure secret lives (set by the store): re-read whenever the vault file is replaced, so a
    /// long-lived handle never opens a file put back after a shred with a secret it still remembers.
    var erasureSecrets: (any ErasureSecretStore)?
    /// The rollback anchor in the key store (generation, epoch, record floor under the root key).
    let anchor: VaultAnchor
    let lockTimeout: Double

    /// Where every operation on this vault is recorded (set by the store; nil only in format-level tests and the
    /// vault-layer benchmark).
    package var audit: AuditLog?
    /// Tests only: runs before an append's frame fdatasync beside its log entry; a throw stands for a failed sync
    /// (strace cannot aim at it: its fault counters are per thread).
    var frameSyncFault: (@Sendable () throws -> Void)?
    /// Whether a supporter still has an account (set by the store): dead key shares are dropped at the next owner write.
    var supporterExists: (([UInt8]) -> Bool)?
    /// Set by the store: records a revocation (parties, the generation it will reach) in the signed tombstone list
    /// before the key change, so no restore of an older backup gives the access back (docs/SECURITY.md, "Backups and restores").
    var willRevoke: (([[UInt8]], UInt64) throws -> Void)?
    /// Set by the store: whether a restore holds this party out of the vault at this header generation.
    var isHeldOut: (([UInt8], UInt64) throws -> Bool)?

    /// The vault's bytes (docs/ARCHITECTURE.md, "Storage protocols"): a file today, rows of a database next.
    var medium: any VaultMedium
    var preamble: Preamble
    var state: KeyState
    var copyGenerations: [UInt64?]
    var headerCopiesAgree: Bool
    var tail: Tail?
    /// Frame offsets learnt by reads, so a page starts by seeking (VaultReading.swift).
    var frameIndex: FrameIndex?
    /// Bytes per read of the records region, and whether batches are decrypted on every core (tests vary both).
    var readChunkSize = FrameReader.defaultChunkSize
    var parallelReads = true
    /// Set by the store when its owner keeps a verified-signature cache (a long-running service): reads then skip
    /// Ed25519 verification of records whose exact signature, message and key this process verified before.
    var verifiedSignatures: VerifiedSignatures?

    struct Tail {
        var end: Int
        var nextSeq: UInt64
        var link: [UInt8]
    }

    // MARK: opening

    /// Opens a vault on its medium. `erasureSecret` comes from the store's key store; `anchor` holds the lowest
    /// header generation this vault may present, with its epoch and record floor (rollback protection).
    init(medium opened: any VaultMedium, erasureSecret: SecureBytes, anchor: VaultAnchor, lockTimeout: Double = 10,
         expectedVaultId: [UInt8]? = nil) throws {
        self.path = opened.name
        self.erasureSecret = erasureSecret
        self.anchor = anchor
        self.lockTimeout = lockTimeout
        try opened.lock(exclusive: false, timeout: lockTimeout)
        defer { opened.unlock() }
        medium = opened
        let loaded = try Vault.loadHeader(medium: opened)
        CredentialWork.current?.record(.vaultHeader)
        preamble = loaded.preamble
        state = loaded.state
        copyGenerations = loaded.copyGenerations
        headerCopiesAgree = loaded.agree
        vaultId = preamble.vaultId
        if let expectedVaultId, expectedVaultId != vaultId {
            throw VaultError.tampered("the file at this vault's path belongs to another vault")
        }
        try checkGeneration()
    }

    /// FORMAT.md §4.5: a key state belongs to this vault and is signed by the key the vault id certifies.
    static func verifyKeyState(_ s: KeyState, preamble: Preamble, generation: UInt64, name: String) throws {
        guard s.vaultId == preamble.vaultId else { throw VaultError.tampered("header copy \(name) belongs to another vault") }
        guard s.generation == generation else { throw VaultError.corrupted("header copy \(name): generation mismatch") }
        guard VaultFormat.vaultId(ownerPublicKey: s.ownerPublicKey, salt: preamble.vaultSalt) == preamble.vaultId else {
            throw VaultError.tampered("header copy \(name) names an owner key the vault id does not certify")
        }
        guard Ed25519.verify(signature: s.signature, message: s.signedMessage(), publicKey: s.ownerPublicKey) else {
            throw VaultError.tampered("header copy \(name) is not signed by the patient's key")
        }
    }

    private func checkGeneration() throws { try checkGeneration(of: state) }

    /// Checks a loaded key state against the store's anchor before anything adopts it.
    func checkGeneration(of candidate: KeyState) throws { try anchor.check(candidate) }

    // MARK: unlocking

    /// Unlocks with the patient's password: Argon2id with the slot's stored parameters unwraps the owner key.
    /// The password is read by `HumanInput`'s rule (its NFKC form first, then the bytes as given, for vaults made
    /// before the rule).
    package func unlock(password: SecureBytes) throws -> VaultSession {
        try audited("unlock", actor: ("patient", "patient")) { try HumanInput.tryPasswords(password) { try unlockWithPassword($0) } }
    }

    private func unlockWithPassword(_ password: SecureBytes) throws -> VaultSession {
        try locked(exclusive: false) {}  // the slot as it is now, not as this handle first saw it
        guard let slot = state.passwordSlot else { throw VaultError.corrupted("the vault has no password slot") }
        let kdf = KDFParameters(opsLimit: slot.opsLimit, memLimit: slot.memLimit)
        let key = try kdf.derive(password: password, salt: slot.salt)
        let ownerKey: SecureBytes
        do { ownerKey = try Wraps.unwrap(slot.wrap, under: key, ad: slot.associatedData(vaultId: vaultId)) }
        catch { throw VaultError.authenticationFailed("wrong password") }
        return try ownerSession(ownerKey)
    }

    /// Unlocks with the recovery code shown at creation.
    /// A text that cannot be a recovery code is invalid input, checked before anything is tried or logged.
    package func unlock(recoveryCode: SecureBytes) throws -> VaultSession {
        let code = try RecoveryCode.decode(recoveryCode)
        return try audited("recovery-unlock", actor: ("patient", "patient")) { try unlockWithRecoveryCode(code) }
    }

    private func unlockWithRecoveryCode(_ code: SecureBytes) throws -> VaultSession {
        try locked(exclusive: false) {}
        guard let slot = state.recoverySlot else { throw VaultError.notFound("the vault has no recovery slot") }
        let key = RecoveryCode.slotKey(code: code, vaultId: vaultId, salt: slot.salt)
        let ownerKey: SecureBytes
        do { ownerKey = try Wraps.unwrap(slot.wrap, under: key, ad: slot.associatedData(vaultId: vaultId)) }
        catch { throw VaultError.authenticationFailed("wrong recovery code") }
        return try ownerSession(ownerKey)
    }

    /// Unlocks as a linked supporter: their X25519 key opens the epoch key sealed in their slot.
    package func unlock(supporter: SupporterIdentity) throws -> VaultSession {
        let session = VaultSession(unlock: .supporter(supporter))
        return try audited("unlock", actor: Vault.actor(of: session)) {
            try locked(exclusive: false) { try prepare(session) }
            return session
        }
    }

    /// A write-only session for an authorised service: it can append sealed records and read nothing.
    package func session(service: ServiceIdentity) throws -> VaultSession {
        try locked(exclusive: false) {}
        guard let a = state.activeAuthor(id: service.id), a.role == .service, a.signPublicKey == service.signPublicKey else {
            throw VaultError.notPermitted("this service is not authorised to write to the vault")
        }
        guard try !(isHeldOut?(service.id, state.generation) ?? false) else { throw Vault.heldOut }
        return VaultSession(unlock: .service(service))
    }

    private func ownerSession(_ ownerKey: SecureBytes) throws -> VaultSession {
        let session = VaultSession(unlock: .owner(ownerKey))
        try prepare(session)
        return session
    }

    /// Builds (or rebuilds, after a header change) a session's keyring from the current key state.
    func prepare(_ session: VaultSession) throws {
        if let k = session.keyring, k.generation == state.generation, k.stateSignature == state.signature { return }
        switch session.unlock {
        case .owner(let ownerKey):
            let seed: SecureBytes
            do { seed = try Wraps.unwrap(state.ownerSecret, under: ownerKey, ad: Wraps.ownerSecretAD(vaultId: vaultId)) }
            catch { throw VaultError.tampered("the owner's signing key does not unwrap") }
            let signing = try SigningKeyPair.fromSeed(seed)
            guard signing.publicKey == state.ownerPublicKey else { throw VaultError.tampered("the owner's signing key does not match the header") }
            session.ownerSigning = signing
            let ek: SecureBytes
            do { ek = try Wraps.unwrap(state.currentEpochKeyWrap, under: ownerKey, ad: Wraps.epochOwnerAD(vaultId: vaultId, epoch: state.currentEpoch.epoch)) }
            catch { throw VaultError.tampered("the current epoch key does not unwrap with the owner key") }
            session.keyring = try Keyring.build(state: state, currentEpochKey: ek, erasureSecret: erasureSecret)
        case .supporter(let identity):
            guard let slot = state.supporterSlots.first(where: { $0.supporterId == identity.id }) else { throw VaultError.supporterNotLinked }
            guard try !(isHeldOut?(identity.id, state.generation) ?? false) else { throw Vault.heldOut }
            // An account deleted since the session began (by any process on the store: the CLI, another server) reads
            // and writes nothing more, though its share stays in the header until the patient's next write drops it.
            guard supporterExists?(identity.id) ?? true else { throw VaultError.supporterNotLinked }
            let ek: SecureBytes
            do { ek = try SealedBox.open(slot.sealedEpochKey, keyPair: identity.box) }
            catch { throw VaultError.authenticationFailed("the supporter's key share does not open with this supporter's key") }
            session.keyring = try Keyring.build(state: state, currentEpochKey: ek, erasureSecret: erasureSecret)
        case .service:
            session.keyring = nil
        }
    }

    // MARK: reading

    // Records are read by streaming walks of the medium: VaultReading.swift, FrameReader.swift. How key states and
    // frames reach the medium (locking, header copies, the tail): VaultStorage.swift.

    // MARK: appending

    /// Appends a record signed by the session's actor; durable (fdatasync) before it returns its sequence number.
    @discardableResult
    package func append(type: String, data: [UInt8], timeMillis: Int64? = nil, session: VaultSession) throws -> UInt64 {
        try Vault.checkRecord(type: type, data: data, isInternal: false)
        try HumanInput.checkRecordData(data)
        return try append(batch: [PendingAppend(type: type, data: data, timeMillis: timeMillis ?? Posix.wallClockMillis(), session: session)])[0].get()
    }

    static func checkRecord(type: String, data: [UInt8], isInternal: Bool) throws {
        guard RecordPayload.isValidType(type) else { throw VaultError.invalidInput("record type must be 1 to 64 of a-z 0-9 . _ -") }
        guard isInternal || !type.hasPrefix("mikata.") else { throw VaultError.invalidInput("record types starting 'mikata.' are reserved") }
        guard data.count <= VaultFormat.recordDataMax else { throw VaultError.invalidInput("record data exceeds \(VaultFormat.recordDataMax) bytes") }
    }

    @discardableResult
    func appendRecord(type: String, data: [UInt8], timeMillis: Int64, session: VaultSession) throws -> UInt64 {
        var item = PendingAppend(type: type, data: data, timeMillis: timeMillis, session: session)
        item.isInternal = true  // the engine's own record types (contacts, photo chunks), checked by their writers
        return try append(batch: [item])[0].get()
    }

    /// One record of an append batch (`append(batch:)`): its type and data are checked as `append` checks them.
    package struct PendingAppend {
        package var type: String
        package var data: [UInt8]
        /// Milliseconds since 1970 (UTC) the record carries.
        package var timeMillis: Int64
        /// Who writes it: the patient, a linked supporter or an authorised service (each item its own).
        package var session: VaultSession
        /// The engine's own records (`mikata.*` types, raw data); every record from outside is strict JSON.
        var isInternal = false

        /// - Parameter timeMillis: nil for now (the wall clock).
        package init(type: String, data: [UInt8], timeMillis: Int64? = nil, session: VaultSession) {
            self.type = type; self.data = data; self.timeMillis = timeMillis ?? Posix.wallClockMillis(); self.session = session
        }
    }

    /// The most records one `append(batch:)` writes. A batch of more than one first logs an `append-intent` entry
    /// naming its sequence numbers and frame links, so a crash after its frames are durable and before their entries leaves records
    /// the log announced: the cross-check tolerates those (`LogClaims`), and otherwise one unlogged record only.
    package static let maxAppendBatch = 32

    /// Appends records written by one caller or by several waiting on the same vault (the service layer's per-vault
    /// queue): one lock, an `append-intent` entry (two or more records), one write of every frame, one fdatasync of the
    /// vault, then every log entry in one access-log group commit (docs/FORMAT.md §5.4; docs/ARCHITECTURE.md, "Appends on one vault"). Items are numbered in the
    /// order given. An item that fails its own checks (type, data, a revoked or unlinked author) fails alone and is
    /// logged as a failed append; a failure of the write, the sync or the log fails every item still pending and
    /// takes their frames back, so no caller is told of a record that was not stored and logged.
    /// - Parameter batch: 1 to `maxAppendBatch` records.
    /// - Returns: each item's sequence number, or its error (`VaultError`, in the classes `append` throws).
    package func append(batch: [PendingAppend]) -> [Result<UInt64, any Error>] {
        precondition(!batch.isEmpty && batch.count <= Vault.maxAppendBatch, "an append batch holds 1 to \(Vault.maxAppendBatch) records")
        var results = [Result<UInt64, any Error>?](repeating: nil, count: batch.count)
        func fail(_ i: Int, _ error: any Error) {
            results[i] = .failure(error)
            if let e = error as? VaultError {
                try? log("append", actor: Vault.actor(of: batch[i].session), outcome: e.auditOutcome, detail: e.failureClass)
            }
        }
        for (i, item) in batch.enumerated() {
            do {
                try Vault.checkRecord(type: item.type, data: item.data, isInternal: item.isInternal)
                if !item.isInternal { try HumanInput.checkRecordData(item.data) }
            } catch { fail(i, error) }
        }
        do {
            try locked(exclusive: true) {
                // Key changes an owner write makes on the way (dropping dead shares starts an epoch) come first, so
                // no record of the batch is sealed under an epoch that a later item's preparation ends.
                for i in batch.indices where results[i] == nil {
                    do { try prepare(batch[i].session); try dropDeadShares(batch[i].session) } catch { fail(i, error) }
                }
                let start = try currentTail()
                var t = start
                var bytes: [UInt8] = []
                var written: [(index: Int, seq: UInt64, link: [UInt8])] = []
                for i in batch.indices where results[i] == nil {
                    do {
                        try prepare(batch[i].session)
                        let frame = try sealFrame(batch[i], after: t)
                        let frameBytes = frame.serialize()
                        bytes += frameBytes
                        written.append((i, t.nextSeq, frame.link))
                        t = Tail(end: t.end + frameBytes.count, nextSeq: t.nextSeq + 1, link: frame.link)
                    } catch { fail(i, error) }
                }
                guard !written.isEmpty else { return }
                // More than one record: the log announces their numbers first, durably, before any of their bytes can
                // reach the disk, so the records a crash may leave without entries are ones the log names (and the
                // cross-check need tolerate no more than the last batch: docs/SECURITY.md).
                // The entry names each frame's chain link, so it vouches for these frames only: a batch that fails
                // after it and records written later under the same numbers (fresh nonces, other links) gain nothing.
                if written.count > 1, let audit {
                    let intent = AuditLog.Event(vaultId: vaultId, actor: "vault", role: "batch", action: "append-intent", outcome: "ok",
                                                detail: "seq \(written[0].seq) to \(written[written.count - 1].seq) at \(state.generation) links "
                                                    + written.map(\.link.hex).joined(separator: ","))
                    do { try audit.append(intent) } catch {
                        throw VaultError.io("the access log could not be written (\(error)); the operation was not reported as done")
                    }
                }
                // Leave no partial frame behind; if even that fails, the next open discards the torn tail.
                func takeBack() {
                    try? medium.truncate(to: start.end)
                    try? medium.syncData()
                    tail = nil
                }
                do { try medium.append(bytes, atExpectedEnd: start.end) } catch VaultError.busy(let why) {
                    tail = nil  // another writer moved the end: nothing of ours is there to take back
                    throw VaultError.busy(why)
                } catch { takeBack(); throw error }
                // The frames are durable before their log entries are written (then committed with other appends'
                // entries in one fdatasync: group commit). A crash in between leaves one record, or the records of
                // the batch the last intent announced, without entries, which the log cross-check tolerates; the log
                // never claims a record the vault may lack, so cutting records off a vault is always caught
                // (docs/SECURITY.md). Syncing the two at once would let a crash leave the entries without their
                // frames, indistinguishable from a cut, and an attacker could then cut the newest records after every
                // append unseen. If the entries cannot be written, the records are taken back, so the log never
                // misses an acknowledged append and a retry never stores one twice.
                do { try frameSyncFault?(); try medium.syncData() } catch { takeBack(); throw error }
                if let audit {
                    let events = written.map { w in
                        let actor = Vault.actor(of: batch[w.index].session)
                        return AuditLog.Event(vaultId: vaultId, actor: actor.actor, role: actor.role, action: "append", outcome: "ok",
                                              detail: "seq \(w.seq) link \(w.link.hex) at \(state.generation)")
                    }
                    do { try audit.append(contentsOf: events) } catch {
                        takeBack()
                        throw VaultError.io("the access log could not be written (\(error)); the operation was not reported as done")
                    }
                }
                tail = t
                for w in written { results[w.index] = .success(w.seq) }
            }
        } catch {
            for i in batch.indices where results[i] == nil { fail(i, error) }
        }
        return results.map { $0! }
    }

    /// Signs and seals one record as the frame after `t` (FORMAT.md §5.1–5.3): under the epoch's record key for a
    /// session that holds it, else (write-only) under a fresh record key sealed to the epoch's public write key.
    /// - Throws: `VaultError.notPermitted` (the author was revoked), `.corrupted` (sequence numbers exhausted).
    private func sealFrame(_ item: PendingAppend, after t: Tail) throws -> RecordFrame {
        let seq = t.nextSeq
        guard seq < UInt64.max else { throw VaultError.corrupted("the vault's sequence numbers are exhausted (a damaged last record?)") }
        let epoch = state.currentEpoch
        let (authorId, signing) = try signer(for: item.session)
        guard state.author(id: authorId, seq: seq) != nil else {
            throw VaultError.notPermitted("this author may no longer write to the vault (revoked)")
        }
        var payload = RecordPayload(authorId: authorId, timeMillis: item.timeMillis, type: item.type, data: item.data)
        let unsigned = payload.unsignedBytes()
        payload.signature = signing.sign(RecordPayload.signatureMessage(vaultId: vaultId, seq: seq, unsignedPayload: unsigned))
        if let keyring = item.session.keyring, let keys = keyring.derived[epoch.epoch] {
            return try Vault.seal(payload.serialize(), seq: seq, epoch: epoch.epoch, prevLink: t.link, vaultId: vaultId, kind: .vaultKey, recordKey: keys.recordKey)
        }
        // Write-only: a fresh record key sealed to the epoch's public write key.
        let rk = SecureBytes.random(count: 32)
        let sealedKey = try SealedBox.seal(rk, to: epoch.writePublicKey)
        return try Vault.seal(payload.serialize(), seq: seq, epoch: epoch.epoch, prevLink: t.link, vaultId: vaultId, kind: .sealed,
                              recordKey: rk, sealedRecordKey: sealedKey)
    }

    static func seal(_ plaintext: [UInt8], seq: UInt64, epoch: UInt32, prevLink: [UInt8], vaultId: [UInt8], kind: RecordFrame.Kind,
                     recordKey: SecureBytes, sealedRecordKey: [UInt8]? = nil) throws -> RecordFrame {
        let nonce = Random.bytes(RecordFrame.nonceLength)
        let length = RecordFrame.headerLength + (sealedRecordKey?.count ?? 0) + nonce.count + plaintext.count + RecordFrame.tagLength + RecordFrame.trailerLength
        let fixed = RecordFrame.fixedHeader(seq: seq, epoch: epoch, kind: kind, prevLink: prevLink, frameLength: length)
        let ad = RecordFrame.associatedData(vaultId: vaultId, fixedHeader: fixed, sealedRecordKey: sealedRecordKey)
        let ct = try XChaCha20Poly1305.seal(plaintext, key: recordKey, nonce: nonce, ad: ad)
        return RecordFrame(seq: seq, epoch: epoch, kind: kind, prevLink: prevLink, sealedRecordKey: sealedRecordKey, nonce: nonce, ciphertext: ct)
    }

    private func signer(for session: VaultSession) throws -> ([UInt8], SigningKeyPair) {
        switch session.unlock {
        case .owner:
            guard let s = session.ownerSigning else { throw VaultError.notPermitted("the owner session is not ready") }
            return (vaultId, s)
        case .supporter(let id): return (id.id, id.signing)
        case .service(let id): return (id.id, id.signing)
        }
    }

    // MARK: the patient's key operations

    private func requireOwner(_ session: VaultSession) throws -> (SecureBytes, SigningKeyPair, Keyring) {
        guard case .owner(let ownerKey) = session.unlock, let signing = session.ownerSigning, let keyring = session.keyring else {
            throw VaultError.notPermitted("only the patient can change who has access to the vault")
        }
        return (ownerKey, signing, keyring)
    }

    /// The floor a new key state vouches for: every record durable so far.
    private func withFloor(_ s: KeyState, _ t: Tail) -> KeyState {
        var n = s
        n.recordFloorCount = t.nextSeq
        n.recordFloorLink = t.link
        return n
    }

    /// Links a supporter: seals the current epoch key to their X25519 key. Idempotent; returns false if already linked.
    @discardableResult
    package func grant(_ supporter: SupporterPublicKeys, session: VaultSession) throws -> Bool {
        try audited("grant", actor: Vault.actor(of: session), logsSuccessItself: true) {
            try grantLocked(supporter, session: session)
        }
    }

    private func grantLocked(_ supporter: SupporterPublicKeys, session: VaultSession) throws -> Bool {
        try locked(exclusive: true) {
            try prepare(session)
            try dropDeadShares(session)
            let (_, signing, keyring) = try requireOwner(session)
            if state.supporterSlots.contains(where: { $0.supporterId == supporter.id }) {
                try log("grant", actor: Vault.actor(of: session), outcome: "ok", detail: "supporter:\(supporter.id.hex) (already linked)")
                return false
            }
            guard supporter.id != vaultId, state.activeAuthor(id: supporter.id) == nil else {
                throw VaultError.invalidInput("that id already writes to this vault in another role")
            }
            let t = try currentTail()
            var next = withFloor(state, t)
            let epoch = state.currentEpoch.epoch
            guard let ek = keyring.epochKeys[epoch] else { throw VaultError.tampered("the current epoch key is missing") }
            let sealed: [UInt8]
            do { sealed = try SealedBox.seal(ek, to: supporter.boxPublicKey) }
            catch { throw VaultError.invalidInput("the supporter's public key is not a valid X25519 key") }
            next.authors.append(Author(id: supporter.id, role: .supporter, signPublicKey: supporter.signPublicKey, activeFromSeq: t.nextSeq))
            next.slots.append(.supporter(SupporterSlot(supporterId: supporter.id, boxPublicKey: supporter.boxPublicKey, epoch: epoch, sealedEpochKey: sealed)))
            let undo = try commit(next, signing: signing)
            try logOrUndo("grant", session, "supporter:\(supporter.id.hex)", undo)
            return true
        }
    }

    /// Authorises a write-only service to append sealed records.
    package func authorize(service id: [UInt8], signPublicKey: [UInt8], session: VaultSession) throws {
        try audited("authorize-service", actor: Vault.actor(of: session), logsSuccessItself: true) {
            try authorizeLocked(service: id, signPublicKey: signPublicKey, session: session)
        }
    }

    private func authorizeLocked(service id: [UInt8], signPublicKey: [UInt8], session: VaultSession) throws {
        try locked(exclusive: true) {
            try prepare(session)
            try dropDeadShares(session)
            let (_, signing, _) = try requireOwner(session)
            guard state.activeAuthor(id: id) == nil else {
                try log("authorize-service", actor: Vault.actor(of: session), outcome: "ok", detail: "service:\(id.hex) (already authorised)")
                return
            }
            let t = try currentTail()
            var next = withFloor(state, t)
            next.authors.append(Author(id: id, role: .service, signPublicKey: signPublicKey, activeFromSeq: t.nextSeq))
            try logOrUndo("authorize-service", session, "service:\(id.hex)", try commit(next, signing: signing))
        }
    }

    /// Revokes a supporter or service: a new key epoch the revoked party cannot derive, resealed to the remaining
    /// supporters. Costs one key state write, whatever the vault's size. With `reencrypt`, every record is then
    /// re-encrypted under the new epoch and the older epoch keys are dropped from the file.
    package func revoke(_ id: [UInt8], reencrypt: Bool = false, session: VaultSession) throws {
        try audited("revoke", actor: Vault.actor(of: session), logsSuccessItself: true) {
            try revokeLocked(id, reencrypt: reencrypt, session: session)
        }
    }

    private func revokeLocked(_ id: [UInt8], reencrypt: Bool, session: VaultSession) throws {
        try locked(exclusive: true) {
            try prepare(session)
            _ = try requireOwner(session)
            guard id != vaultId, state.activeAuthor(id: id) != nil else {
                // Revoked already (e.g. a re-run after a crash): nothing to do. Never linked: say so.
                if id != vaultId, state.authors.contains(where: { $0.id == id }) {
                    try log("revoke", actor: Vault.actor(of: session), outcome: "ok", detail: "\(id.hex) (revoked already)")
                    return
                }
                throw VaultError.notFound("no such supporter is linked to the vault")
            }
            // Dead key shares (supporters who deleted their registration) go in the same new epoch.
            let dead = supporterExists.map { exists in state.supporterSlots.map(\.supporterId).filter { $0 != id && !exists($0) } } ?? []
            let detail = ([id] + dead).map(\.hex).joined(separator: " ") + (dead.isEmpty ? "" : " (dead shares dropped)")
            try willRevoke?([id] + dead, state.generation + 1)
            if reencrypt {
                // One whole-file rewrite carries both the new epoch and every record re-encrypted under it: the file
                // is the old one or the new one, never revoked-but-not-re-encrypted.
                let undo = try revokeAndReencrypt([id] + dead, session: session)
                try logOrUndo("revoke", session, detail + " with re-encryption", undo)
            } else {
                try logOrUndo("revoke", session, detail, try startEpoch(revoking: [id] + dead, session: session))
            }
        }
    }

    /// A new key epoch without `revoked`: fresh random key, predecessor wrapped under it, resealed to every other
    /// supporter; their author entries end here. One key-state write whatever the vault's size. Lock held.
    @discardableResult
    private func startEpoch(revoking revoked: [[UInt8]], session: VaultSession) throws -> () -> Void {
        let (_, signing, _) = try requireOwner(session)
        let (next, _) = try nextEpochState(revoking: revoked, session: session)
        let undo = try commit(next, signing: signing)
        try prepare(session)
        return undo
    }

    /// The key state of a new epoch without `revoked`, and the new epoch key (nothing written yet).
    private func nextEpochState(revoking revoked: [[UInt8]], session: VaultSession) throws -> (KeyState, SecureBytes) {
        let (ownerKey, _, keyring) = try requireOwner(session)
        let t = try currentTail()
        var next = withFloor(state, t)
        guard let currentKey = keyring.epochKeys[state.currentEpoch.epoch] else { throw VaultError.tampered("the current epoch key is missing") }
        let newEpoch = state.currentEpoch.epoch + 1
        let newKey = SecureBytes.random(count: 32)
        let keys = EpochKeys.derive(vaultId: vaultId, epoch: newEpoch, epochKey: newKey, erasureSecret: erasureSecret)
        next.epochs.append(EpochEntry(epoch: newEpoch, startSeq: t.nextSeq, writePublicKey: keys.writeKeyPair.publicKey,
                                      previousKeyWrap: Wraps.wrap(currentKey, under: newKey, ad: Wraps.epochChainAD(vaultId: vaultId, epoch: newEpoch))))
        next.currentEpochKeyWrap = Wraps.wrap(newKey, under: ownerKey, ad: Wraps.epochOwnerAD(vaultId: vaultId, epoch: newEpoch))
        for i in next.authors.indices where revoked.contains(next.authors[i].id) && next.authors[i].isActive {
            next.authors[i].revokedAtSeq = max(t.nextSeq, next.authors[i].activeFromSeq)
        }
        var slots: [KeySlot] = []
        for slot in next.slots {
            switch slot {
            case .supporter(let s):
                if revoked.contains(s.supporterId) { continue }
                slots.append(.supporter(SupporterSlot(supporterId: s.supporterId, boxPublicKey: s.boxPublicKey, epoch: newEpoch,
                                                      sealedEpochKey: try SealedBox.seal(newKey, to: s.boxPublicKey))))
            default:
                slots.append(slot)
            }
        }
        next.slots = slots
        return (next, newKey)
    }

    /// A party whose revocation came after the backup this vault was restored from (its share in the header is
    /// dropped at the patient's next write).
    static let heldOut = VaultError.notPermitted("this access was revoked after the backup the vault was restored from")

    /// Supporters who deleted their registration leave dead key shares; the patient's next write drops them with
    /// a new epoch (so the shares could not be revived even from a backup of the supporter's account). Lock held.
    private func dropDeadShares(_ session: VaultSession) throws {
        guard case .owner = session.unlock else { return }
        var dead = supporterExists.map { exists in state.supporterSlots.map(\.supporterId).filter { !exists($0) } } ?? []
        // Parties a restore holds out (revoked after the backup it restored) go in the same new epoch.
        if let held = isHeldOut {
            let generation = state.generation
            dead += try state.authors.filter { $0.isActive && $0.id != vaultId && !dead.contains($0.id) }.map(\.id).filter { try held($0, generation) }
        }
        guard !dead.isEmpty else { return }
        try logOrUndo("drop-dead-shares", session, dead.map { "supporter:\($0.hex)" }.joined(separator: " "),
                      try startEpoch(revoking: dead, session: session))
    }

    /// Replaces the password slot (new salt, given Argon2id parameters); the owner key and everything else stay.
    /// The new password is stored in `HumanInput`'s normalised form.
    package func changePassword(to newPassword: SecureBytes, kdf: KDFParameters = .interactive, session: VaultSession) throws {
        let normalised = HumanInput.password(newPassword)
        try audited("password-change", actor: Vault.actor(of: session), logsSuccessItself: true) { try changePasswordLocked(to: normalised, kdf: kdf, session: session) }
    }

    /// Sets `newPassword` as given (tests use it to write a slot the way v1 did, before `HumanInput`).
    func changePasswordLocked(to newPassword: SecureBytes, kdf: KDFParameters, session: VaultSession) throws {
        try locked(exclusive: true) {
            try prepare(session)
            try dropDeadShares(session)
            let (ownerKey, signing, _) = try requireOwner(session)
            let t = try currentTail()
            var next = withFloor(state, t)
            let slot = try Vault.passwordSlot(ownerKey: ownerKey, password: newPassword, kdf: kdf, vaultId: vaultId)
            next.slots = next.slots.map { if case .password = $0 { return .password(slot) } else { return $0 } }
            try logOrUndo("password-change", session, "", try commit(next, signing: signing))
        }
    }

    static func passwordSlot(ownerKey: SecureBytes, password: SecureBytes, kdf: KDFParameters, vaultId: [UInt8]) throws -> PasswordSlot {
        guard password.count > 0 else { throw VaultError.invalidInput("the password is empty") }
        let salt = Random.bytes(PasswordHash.saltLength)
        var slot = PasswordSlot(opsLimit: kdf.opsLimit, memLimit: kdf.memLimit, salt: salt,
                                wrap: WrappedKey(nonce: [UInt8](repeating: 0, count: 24), ciphertext: [UInt8](repeating: 0, count: 48)))
        let key = try kdf.derive(password: password, salt: salt)
        slot.wrap = Wraps.wrap(ownerKey, under: key, ad: slot.associatedData(vaultId: vaultId))
        return slot
    }

    // MARK: rewriting

    /// Revokes and re-encrypts in one rewrite: a new epoch without `revoked`, every record re-encrypted under it,
    /// older epoch keys dropped from the file. Returns an undo (the old file and generation record back).
    private func revokeAndReencrypt(_ revoked: [[UInt8]], session: VaultSession) throws -> () -> Void {
        let (_, signing, keyring) = try requireOwner(session)
        let oldBytes = try medium.readAll()
        let result = try Vault.scanRecords(oldBytes, preamble: preamble, state: state, keyring: keyring, keepPayloads: true)
        var (next, newKey) = try nextEpochState(revoking: revoked, session: session)
        let epoch = next.currentEpoch
        let keys = EpochKeys.derive(vaultId: vaultId, epoch: epoch.epoch, epochKey: newKey, erasureSecret: erasureSecret)
        var link = VaultFormat.genesisLink(vaultId: vaultId)
        var frames: [UInt8] = []
        for (i, payload) in result.payloads.enumerated() {
            let f = try Vault.seal(payload, seq: UInt64(i), epoch: epoch.epoch, prevLink: link, vaultId: vaultId, kind: .vaultKey, recordKey: keys.recordKey)
            frames += f.serialize()
            link = f.link
        }
        next.epochs = [EpochEntry(epoch: epoch.epoch, startSeq: 0, writePublicKey: epoch.writePublicKey, previousKeyWrap: nil)]
        next.recordFloorCount = UInt64(result.payloads.count)
        next.recordFloorLink = link
        next.generation = state.generation + 1
        next.signature = signing.sign(next.signedMessage())
        _ = try VaultError.parsing("new key state") { try KeyState.parse(next.serialize()) }
        let oldState = state, oldPreamble = preamble, original = medium
        let undo: () -> Void = { [self] in
            guard (try? anchor.write(oldState)) != nil,
                  let restored = try? original.replacing(with: oldBytes) else { return }
            medium = restored
            state = oldState; preamble = oldPreamble
            copyGenerations = [nil, nil]; tail = nil
        }
        do {
            try replaceFile(state: next, copyLength: preamble.headerCopyLength, frames: frames)
        } catch {
            // The rename may have happened before the failure (the folder's fsync, the generation record): put the
            // old file back.
            if (try? original.isCurrent()) != true { undo() }
            throw error
        }
        try prepare(session)
        return undo
    }

    // MARK: inspection

    /// Non-secret metadata; needs no password. Checks structure, order and chain of every record, not their content:
    /// a walk of frame headers, tags and trailers (bodies of frames larger than a read chunk are not read).
    /// The supporters holding a key share of the current epoch, from the vault's signed header (checked against its
    /// anchor as every lock does); no record is read and no key is needed. The missed-dose checker asks this rather
    /// than trust the store's link hints, which a disk writer could plant.
    /// - Throws: `VaultError` `.notFound`, `.erased`, `.tampered`, `.corrupted`, `.busy`, `.io`.
    package func keyShareHolders() throws -> [[UInt8]] {
        try locked(exclusive: false) { state.supporterSlots.map(\.supporterId) }
    }

    package func inspect() throws -> VaultInfo {
        try locked(exclusive: false) {
            let result = try walkFile(from: nil, keyring: nil, decryptFrom: 0)
            let size = try medium.size()
            return VaultInfo(
                vaultId: vaultId, formatVersion: preamble.version, headerGeneration: state.generation,
                currentEpoch: state.currentEpoch.epoch, epochs: state.epochs.map(\.epoch),
                slots: state.slots.map { slot in
                    if case .supporter(let s) = slot { return (kind: slot.kindName, supporterId: s.supporterId) }
                    return (kind: slot.kindName, supporterId: nil)
                },
                services: state.authors.filter { $0.role == .service && $0.isActive }.map(\.id),
                recordCount: Int(result.tail.nextSeq), tornTailBytes: result.tornTailBytes, size: size, path: path,
                headerCopiesAgree: headerCopiesAgree)
        }
    }

    /// Strict check of everything (`mikata vault verify`): both header copies intact and identical, every record
    /// decrypted and its signature checked. Throws the first problem found.
    package func verify(_ session: VaultSession) throws -> VerifyReport {
        try audited("verify", actor: Vault.actor(of: session), detail: { "\($0.recordCount) records" }) { try verifyLocked(session) }
    }

    private func verifyLocked(_ session: VaultSession) throws -> VerifyReport {
        try locked(exclusive: false) {
            let loaded = try Vault.loadHeader(medium: medium)
            for (i, e) in loaded.copyErrors.enumerated() {
                if let e { throw e.prefixed("header copy \(i == 0 ? "A" : "B") is damaged (the other copy still opens the vault)") }
            }
            // Two valid copies of different generations are what an interrupted key change leaves (the newer one is
            // in force, the next write repairs the other): not a fault. An invalid copy is.
            try prepare(session)
            guard let keyring = session.keyring else { throw VaultError.notPermitted("a write-only service cannot verify the vault") }
            let result = try walkFile(from: nil, keyring: keyring, decryptFrom: 0)
            try checkAgainstLog(recordCount: result.tail.nextSeq, lastLink: result.tail.link)
            return VerifyReport(recordCount: Int(result.tail.nextSeq), tornTailBytes: result.tornTailBytes,
                                headerGeneration: state.generation, currentEpoch: state.currentEpoch.epoch)
        }
    }

    // MARK: access log

    /// Compares this vault with what the access log recorded of it (`LogClaims`). Reads the whole log.
    func checkAgainstLog(recordCount: UInt64, lastLink: [UInt8], claims: LogClaims? = nil) throws {
        guard let c = try claims ?? audit.map({ LogClaims(try $0.entries()) }) else { return }
        try c.check(vaultId: vaultId, generation: state.generation, recordCount: recordCount, lastLink: lastLink, logComplete: claims != nil)
    }

    /// What the access log records as a vault's baseline after a restore or an upgrade (`anchor-vault`): the last
    /// record's sequence number and link, the header generation, in the append and key-change forms `LogClaims` reads.
    func tailClaim() throws -> String {
        try locked(exclusive: false) {
            let result = try walkFile(from: nil, keyring: nil, decryptFrom: 0)
            let last = result.tail.nextSeq == 0 ? 0 : result.tail.nextSeq - 1
            return "seq \(last) link \(result.tail.link.hex) at \(state.generation) generation \(state.generation)"
        }
    }

    /// The structural check of `inspect` plus the log comparison, without any key (`mikata audit verify`).
    func checkStructureAgainstLog(_ claims: LogClaims) throws {
        try locked(exclusive: false) {
            let result = try walkFile(from: nil, keyring: nil, decryptFrom: 0)
            try checkAgainstLog(recordCount: result.tail.nextSeq, lastLink: result.tail.link, claims: claims)
        }
    }

    package static func actor(of session: VaultSession?) -> (actor: String, role: String) {
        switch session?.unlock {
        case .owner?: return ("patient", "patient")
        case .supporter(let s)?: return ("supporter:\(s.id.hex)", "supporter")
        case .service(let s)?: return ("service:\(s.id.hex)", "service")
        case nil: return ("unknown", "unknown")
        }
    }

    func log(_ action: String, actor: (actor: String, role: String), outcome: String, detail: String = "") throws {
        guard let audit else { return }
        do {
            try audit.append(AuditLog.Event(vaultId: vaultId, actor: actor.actor, role: actor.role, action: action, outcome: outcome, detail: detail))
        } catch {
            throw VaultError.io("the access log could not be written (\(error)); the operation was not reported as done")
        }
    }

    /// Logs a committed key change; if the entry cannot be written, takes the change back and fails.
    /// The entry names the generation the change reached, so a vault rolled back behind it is caught by the log.
    func logOrUndo(_ action: String, _ session: VaultSession, _ detail: String, _ undo: () -> Void) throws {
        do { try log(action, actor: Vault.actor(of: session), outcome: "ok", detail: "\(detail) generation \(state.generation)") } catch {
            undo()
            try? prepare(session)
            throw error
        }
    }

    /// Runs an operation and records it in the access log: success with `detail`, failure with its class.
    /// Reads are logged before their data is returned, so no access goes unrecorded.
    package func audited<R>(_ action: String, actor: (actor: String, role: String), logsSuccessItself: Bool = false,
                    detail: (R) -> String = { _ in "" }, _ body: () throws -> R) throws -> R {
        let result: R
        do {
            result = try body()
        } catch let e as VaultError {
            try? log(action, actor: actor, outcome: e.auditOutcome, detail: e.failureClass)
            throw e
        }
        if !logsSuccessItself { try log(action, actor: actor, outcome: "ok", detail: detail(result)) }
        return result
    }

    /// The current key state (tests and inspection).
    var keyState: KeyState { state }
}

extension VaultError {
    func prefixed(_ context: String) -> VaultError {
        switch self {
        case .corrupted(let s): return .corrupted("\(context): \(s)")
        case .tampered(let s): return .tampered("\(context): \(s)")
        case .unsupported(let s): return .unsupported("\(context): \(s)")
        default: return self
        }
    }
}
