import Foundation
import MikataAdherence
import MikataFormat
import MikataVault
import Synchronization

// Reading and appending records: the patient, a linked supporter, or (appending only) an authorised service.
// There is no read overload for `ServiceSession`: a write-only service cannot ask.

extension VaultService {
    /// One page of records, read from the vault file frame by frame from the nearest indexed checkpoint
    /// (docs/FORMAT.md §5.6): only the page is decrypted and held. Logged as one read. Runs on a pool thread inside
    /// the vault's lane.
    static func readPage(_ vault: Vault, _ session: VaultSession, _ query: RecordQuery) throws -> RecordPage {
        // Each record's data is scanned as JSON by the read, on the thread that decrypted it (every core for a large
        // page), so a client's output loop does not scan it again.
        let page = try vault.records(session, after: query.after, limit: query.limit, maxBytes: query.maxBytes, types: query.types, from: query.fromMillis,
                                     until: query.untilMillis, includeInternal: query.includeInternal, scanData: true)
        return RecordPage(records: page.records.map { VaultRecord($0, scan: $0.dataScan) }, nextAfter: page.nextAfter)
    }

    /// Appends a record as the patient.
    /// - Parameters:
    ///   - type: 1–64 of `a-z 0-9 . _ -` (not `mikata.*`), e.g. `dose`, `side-effect`, `message`.
    ///   - data: the record's JSON (UTF-8, strict: no duplicate members; a trailing line ending is trimmed), at
    ///     most 16 MiB (`VaultFormat.recordDataMax`, docs/FORMAT.md §5). Data of an adherence type
    ///     (`medication-request`, `dose-event`, `side-effect`, `message`) must have its typed shape (docs/ADHERENCE.md).
    /// - Returns: the record's sequence number.
    /// - Throws: `MikataError` `.invalidInput` (type or data), `.closed`, `.busy`, `.tampered`, `.erased`, `.io`.
    public func append(_ session: PatientSession, type: String, data: [UInt8]) async throws -> UInt64 {
        _ = try session.ownerKey()
        let id = session.vaultId
        let json = try checkedData(type: type, data)
        return try await appendCombined(id, bytes: json.count, prepare: { vault in
            let s = try session.engineSession()
            try Self.checkSupersedes(type: type, data: json, vault, s)
            return Vault.PendingAppend(type: type, data: json, session: s)
        }, after: { vault, seq in self.noteAppend(self.store, vaultId: id.bytes, type: type, data: json, seq: seq) })
    }

    /// A page of the patient's records (`query.after`, `query.limit`, types, time window).
    /// - Throws: `MikataError` `.invalidInput` (query bounds), `.closed`, `.busy`, `.tampered`, `.corrupted`, `.erased`.
    public func records(_ session: PatientSession, _ query: RecordQuery = RecordQuery()) async throws -> RecordPage {
        _ = try session.ownerKey()
        let id = session.vaultId
        let q = try query.validated()
        return try await inVault(id) { store in
            try VaultService.readPage(try self.handles.open(id.bytes, store), try session.engineSession(), q)
        }
    }

    /// Every matching record of the patient's vault as an async sequence, one page (`query.limit`) in memory at a
    /// time; each page is one read (one lane turn, one access-log entry).
    public func recordStream(_ session: PatientSession, _ query: RecordQuery = RecordQuery()) -> AsyncThrowingStream<VaultRecord, any Error> {
        pages { q in try await self.records(session, q) }(query)
    }

    /// Appends a record as a supporter the patient linked.
    /// - Parameters:
    ///   - patient: by e-mail (checked against the supporter's pin: a vault other than the pinned one is refused
    ///     unless `acceptNewVault`, which re-pins and is logged) or by vault id.
    /// - Throws: `MikataError` `.notPermitted` (not linked, revoked, or not the pinned vault), and what the patient's
    ///   `append` throws.
    public func append(_ session: SupporterSession, to patient: PatientReference, type: String, data: [UInt8],
                       acceptNewVault: Bool = false) async throws -> AppendOutcome {
        let identity = try session.current()
        let json = try checkedData(type: type, data)
        if case .vault(let id) = patient {
            let seq = try await appendCombined(id, bytes: json.count, prepare: { vault in
                let s = try vault.unlock(supporter: identity)
                try Self.checkSupersedes(type: type, data: json, vault, s)
                return Vault.PendingAppend(type: type, data: json, session: s)
            }, after: { vault, seq in self.noteAppend(self.store, vaultId: id.bytes, type: type, data: json, seq: seq) })
            return AppendOutcome(vaultId: id, seq: seq, pin: .notApplicable)
        }
        // By e-mail: the address is resolved and the supporter's pin checked inside the lane, one append at a time.
        let r = try await asSupporter(identity, patient, access: .write, acceptNewVault: acceptNewVault) { vault, s in
            try Self.checkSupersedes(type: type, data: json, vault, s)
            let seq = try vault.append(type: type, data: json, session: s)
            self.noteAppend(self.store, vaultId: vault.vaultId, type: type, data: json, seq: seq)
            return seq
        }
        return AppendOutcome(vaultId: r.vaultId, seq: r.value, pin: r.pin)
    }

    /// A page of a linked patient's records, as a supporter.
    /// - Throws: `MikataError` `.notPermitted` (not linked or revoked), and what the patient's `records` throws.
    public func records(_ session: SupporterSession, of patient: PatientReference, _ query: RecordQuery = RecordQuery(),
                        acceptNewVault: Bool = false) async throws -> SupporterRead {
        let identity = try session.current()
        let q = try query.validated()
        let r = try await asSupporter(identity, patient, access: .read, acceptNewVault: acceptNewVault) { vault, s in
            try VaultService.readPage(vault, s, q)
        }
        return SupporterRead(vaultId: r.vaultId, page: r.value, pin: r.pin)
    }

    /// A linked patient's records as an async sequence, a page at a time. A patient named by e-mail is resolved
    /// (and the supporter's pin checked) by the first page; the pages after it read that same vault by id, so a
    /// stream never carries on in another vault the address comes to lead to.
    public func recordStream(_ session: SupporterSession, of patient: PatientReference,
                             _ query: RecordQuery = RecordQuery()) -> AsyncThrowingStream<VaultRecord, any Error> {
        let target = Mutex(patient)
        return pages { q in
            let read = try await self.records(session, of: target.withLock { $0 }, q)
            target.withLock { $0 = .vault(read.vaultId) }
            return read.page
        }(query)
    }

    /// Appends a record as an authorised write-only service: sealed under the vault's current epoch, signed with
    /// the service's key; the service cannot read it back.
    /// - Throws: `MikataError` `.notPermitted` (not authorised, or revoked), `.notFound` (no such vault), and what
    ///   the patient's `append` throws.
    public func append(_ session: ServiceSession, to vaultId: VaultID, type: String, data: [UInt8]) async throws -> UInt64 {
        let identity = try session.current()
        let json = try checkedData(type: type, data, byService: true)
        return try await appendCombined(vaultId, bytes: json.count, prepare: { vault in
            Vault.PendingAppend(type: type, data: json, session: try Self.writeOnlySession(identity, vault, self.store))
        }, after: { vault, seq in self.noteAppend(self.store, vaultId: vaultId.bytes, type: type, data: json, seq: seq, byService: true) })
    }

    /// Appends as an authorised write-only service to the vault `patientEmail` leads to. An address with no vault is
    /// answered exactly as a vault that has not authorised the service (same class, same message), so a service key
    /// (which anyone can make) does not tell which addresses are patients; both refusals are logged.
    /// - Throws: `MikataError` `.notPermitted` (no such patient, not authorised, or revoked), and what the patient's
    ///   `append` throws.
    public func append(_ session: ServiceSession, toPatientEmail email: String, type: String, data: [UInt8]) async throws -> UInt64 {
        let identity = try session.current()
        let json = try checkedData(type: type, data, byService: true)
        // The lane is chosen by the vault the address leads to before it is taken; inside, the address is looked up
        // again, and if it leads elsewhere by then (registered, deleted or re-registered meanwhile) the lane is chosen
        // again: the kept handle of a vault is only ever used inside that vault's lane.
        for _ in 0..<Self.laneAttempts {
            let key = try await laneKey(email: email)
            let written: UInt64? = try await lanes.run(key) {
                try await blocking { store in
                    let id: [UInt8]
                    do { id = try store.vaultId(email: email) } catch VaultError.notFound {
                        try? store.log("append", vaultId: nil, actor: "service:\(identity.id.hex)", role: "service", outcome: "denied",
                                       detail: "not-permitted")
                        throw VaultError.notPermitted("this service is not authorised to write to the vault")
                    }  // a malformed address (invalid input) or a damaged entry (tampered) keeps its own class
                    guard id.hex == key else { return nil }
                    let vault = try self.handles.open(id, store)
                    let seq = try vault.append(type: type, data: json, session: try Self.writeOnlySession(identity, vault, store))
                    self.noteAppend(store, vaultId: id, type: type, data: json, seq: seq, byService: true)
                    return seq
                }
            }
            if let written { return written }
        }
        throw MikataError(.busy, "the address changed vaults while the append waited; try again")
    }

    /// How many times an operation by e-mail chooses its vault's lane before it answers busy (the address led to
    /// another vault each time it got the lane).
    static let laneAttempts = 3

    /// The write-only session of `identity` on `vault`. A refusal (the service revoked in the registry, or not
    /// authorised by the vault) is logged as a denied append, by vault id or by address alike, so the patient's
    /// access log shows every refused attempt.
    /// - Throws: `VaultError.notPermitted`.
    static func writeOnlySession(_ identity: ServiceIdentity, _ vault: Vault, _ store: Store) throws -> VaultSession {
        do {
            try refuseRevokedService(identity, store)
            return try vault.session(service: identity)
        } catch VaultError.notPermitted(let m) {
            try? store.log("append", vaultId: vault.vaultId, actor: "service:\(identity.id.hex)", role: "service", outcome: "denied",
                           detail: "not-permitted")
            throw VaultError.notPermitted(m)
        }
    }

    // MARK: helpers

    /// A registered service an administrator revoked writes nothing, whatever form its key takes: the API key (refused
    /// at `serviceSession(apiKey:)`) or a key file made from it for `record add --as-service`. Answered as a vault
    /// that has not authorised the service. The registry is read anew each time (a revocation applies at once).
    /// - Throws: `VaultError.notPermitted`; `.tampered` (the registry fails its MAC), `.io`.
    static func refuseRevokedService(_ identity: ServiceIdentity, _ store: Store) throws {
        if try store.serviceRegistry().entry(identity.id)?.revoked == true {
            throw VaultError.notPermitted("this service is not authorised to write to the vault")
        }
    }

    /// Appends through the vault's append queue (`AppendQueue`): queued, then, holding the vault's lane, written
    /// together with the appends queued meanwhile unless another caller already wrote this one. `prepare` runs in
    /// the lane on a pool thread (the caller's checks and session); `after` once the record is durable and logged.
    /// - Returns: the record's sequence number.
    /// - Throws: `MikataError`: what `prepare` throws, and what the engine's append throws.
    func appendCombined(_ id: VaultID, bytes: Int, prepare: @escaping @Sendable (Vault) throws -> Vault.PendingAppend,
                        after: @escaping @Sendable (Vault, UInt64) -> Void) async throws -> UInt64 {
        let request = AppendQueue.Request(bytes: bytes, prepare: prepare, after: after)
        appendQueue.enqueue(id.hex, request)
        return try await lanes.run(id.hex) {
            while request.result == nil {
                let batch = appendQueue.take(id.hex, limit: Vault.maxAppendBatch)
                guard !batch.isEmpty else { break }
                // In a task of its own: the batch holds other callers' appends, so this caller's cancellation must
                // not keep it from running.
                do { try await Task { try await self.blocking { store in self.writeBatch(batch, id, store) } }.value } catch {
                    for r in batch { r.finish(.failure(error)) }  // the pool was shut down: nothing ran
                }
            }
            guard let result = request.result else { throw MikataError(.io, "the append was not run") }
            return try result.get()
        }
    }

    /// One batch of queued appends on a pool thread, inside the vault's lane: each caller's `prepare`, one engine
    /// batch, each caller answered. A handle whose batch had a failure is not kept (as `inVault` does).
    private func writeBatch(_ batch: [AppendQueue.Request], _ id: VaultID, _ store: Store) {
        let vault: Vault
        do { vault = try handles.open(id.bytes, store) } catch {
            for r in batch { r.finish(.failure(error)) }
            handles.drop(id.hex)
            return
        }
        var items: [Vault.PendingAppend] = [], owners: [AppendQueue.Request] = []
        var failed = false  // a failure that may concern the vault (not a refused caller's): the handle is not kept
        for r in batch {
            do { items.append(try r.prepare(vault)); owners.append(r) } catch {
                r.finish(.failure(error))
                if !Self.isCallersFailure(error) { failed = true }
            }
        }
        if !items.isEmpty {
            for (r, result) in zip(owners, vault.append(batch: items)) {
                if case .success(let seq) = result { r.after(vault, seq) } else if case .failure(let e) = result, !Self.isCallersFailure(e) { failed = true }
                r.finish(result)
            }
        }
        if failed { handles.drop(id.hex) }
    }

    /// The one rule for record data, shared by every entry point: strict JSON, trimmed; and for an adherence type
    /// (`medication-request`, `dose-event`, `side-effect`, `message`) its typed shape (docs/ADHERENCE.md), else
    /// `.invalidInput` naming the member and nothing is written.
    ///
    /// `byService`: the writer is a write-only service, which may report doses (a connected pill box) but not write a
    /// regimen, which decides when a dose is due (`.notPermitted`, docs/SECURITY.md).
    func checkedData(type: String, _ data: [UInt8], byService: Bool = false) throws -> [UInt8] {
        guard RecordPayload.isValidType(type) else {
            throw MikataError(.invalidInput, "record type must be 1 to 64 of a-z 0-9 . _ -", field: "/type")
        }
        guard !(byService && type == AdherenceRecordType.regimen.rawValue) else {
            throw MikataError(.notPermitted, "a write-only service may report doses, not write a regimen (medication-request)", field: "/type")
        }
        guard !type.hasPrefix("mikata.") else { throw MikataError(.invalidInput, "record types starting 'mikata.' are reserved", field: "/type") }
        // A photo's manifest is written only by `addPhoto`, after its chunks (docs/ADHERENCE.md, "Photos").
        guard type != VaultService.photoRecordType else {
            throw MikataError(.invalidInput, "record type 'photo' is written by adding a photo, not as a record", field: "/type")
        }
        let json: [UInt8]
        do { json = try HumanInput.recordData(data) } catch {
            let e = MikataError.from(error)
            throw MikataError(e.code, e.message, field: e.code == .invalidInput ? "/data" : nil)
        }
        try VaultService.checkTyped(type: type, data: json)
        return json
    }

    struct SupporterResult<T: Sendable>: Sendable {
        let vaultId: VaultID
        let value: T
        let pin: VaultPinCheck
    }

    /// Opens the patient's vault as the supporter (by e-mail: with the pin check) inside its lane and runs `body`.
    func asSupporter<T: Sendable>(_ identity: SupporterIdentity, _ patient: PatientReference, access: SupporterAccess,
                                  acceptNewVault: Bool,
                                  _ body: @escaping @Sendable (Vault, VaultSession) throws -> T) async throws -> SupporterResult<T> {
        switch patient {
        case .vault(let id):
            return try await inVault(id) { store in
                let vault = try self.handles.open(id.bytes, store)
                let s = try vault.unlock(supporter: identity)
                return SupporterResult(vaultId: id, value: try body(vault, s), pin: .notApplicable)
            }
        case .email(let email):
            let key = try await laneKey(email: email)
            return try await lanes.run(key) {
                try await blocking { store in
                    let (vault, s, pin) = try store.openVault(email: email, supporter: identity, access: access, acceptNewVault: acceptNewVault)
                    return SupporterResult(vaultId: VaultID(trusted: vault.vaultId), value: try body(vault, s), pin: VaultPinCheck(pin))
                }
            }
        }
    }

    /// Turns a page reader into a stream that reads the next page only when the consumer has taken the last one.
    func pages(_ read: @escaping @Sendable (RecordQuery) async throws -> RecordPage) -> @Sendable (RecordQuery) -> AsyncThrowingStream<VaultRecord, any Error> {
        { start in
            let cursor = PageCursor(start: start, read: read)
            return AsyncThrowingStream(unfolding: { try await cursor.next() })
        }
    }
}

/// The state of a record stream: the current page (reversed, so taking one is O(1)) and where the next starts.
final class PageCursor: Sendable {
    private struct State {
        var buffer: [VaultRecord] = []
        var query: RecordQuery
        var done = false
    }
    private let state: Mutex<State>
    private let read: @Sendable (RecordQuery) async throws -> RecordPage

    init(start: RecordQuery, read: @escaping @Sendable (RecordQuery) async throws -> RecordPage) {
        state = Mutex(State(query: start))
        self.read = read
    }

    func next() async throws -> VaultRecord? {
        while true {
            let (record, query, done): (VaultRecord?, RecordQuery, Bool) = state.withLock { s in (s.buffer.popLast(), s.query, s.done) }
            if let record { return record }
            if done { return nil }
            let page = try await read(query)
            state.withLock { s in
                s.buffer = page.records.reversed()
                if let n = page.nextAfter { s.query.after = n } else { s.done = true }
            }
        }
    }
}

/// A supporter's read: the page, the vault it came from, and the pin check.
public struct SupporterRead: Sendable {
    /// The vault read.
    public let vaultId: VaultID
    /// The records.
    public let page: RecordPage
    /// What the supporter's pin for the address said.
    public let pin: VaultPinCheck
}
