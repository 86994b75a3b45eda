import Dispatch
package import Foundation
import MikataCrypto
package import MikataFormat
import Synchronization

/// The store-wide access log (docs/AUDIT.md): one JSON object per line, RFC 8785 canonical, hash-chained, with
/// checkpoints signed by the store's Ed25519 key. Entries hold ids, roles, actions and outcomes: never an e-mail,
/// nickname, password or record content.
///
/// Shared by every thread of a process (the store keeps one per `Store`): appends commit in groups (`append`), and
/// all mutable state sits behind locks.
package final class AuditLog: Sendable {
    package static let checkpointInterval: UInt64 = 64
    package static let defaultRetentionDays = 30
    /// The shortest retention `prune` accepts without an explicit, logged override: the 30 days operators promise.
    package static let minimumRetentionDays = 30

    let path: String
    /// Where the lines are kept (docs/ARCHITECTURE.md, "Storage protocols").
    let sink: any AccessLogSink
    let storeId: String
    let signing: SigningKeyPair
    /// The root key's log subkey (a store since root keys): every new entry carries `mac` = KH32(key, label || hash),
    /// so nobody without the root key can edit, insert or re-chain entries, not even after the last checkpoint.
    let macKey: SecureBytes?

    convenience init(path: String, storeId: String, signing: SigningKeyPair, macKey: SecureBytes? = nil) {
        self.init(sink: FileAccessLogSink(path: path), name: path, storeId: storeId, signing: signing, macKey: macKey)
    }

    /// A log on any sink (`MemoryAccessLogSink` in fast tests); `name` stands for the path in messages.
    init(sink: any AccessLogSink, name: String, storeId: String, signing: SigningKeyPair, macKey: SecureBytes? = nil) {
        self.sink = sink; self.path = name; self.storeId = storeId; self.signing = signing; self.macKey = macKey
    }

    /// What only the thread writing the file may touch: held from the flock to the unlock by a batch's leader,
    /// `checkpoint` and `prune` (flock orders processes; this orders the threads of one without polling flock).
    private struct WriterState {
        /// The tail as of our last write, valid while the file still has the size we left it at (another
        /// process's append changes the size, and we look again).
        var cachedTail: (identity: MediumIdentity, size: Int, nextSeq: UInt64, prev: String)?
    }
    private let writer = Mutex(WriterState())

    /// The group commit queue: appends waiting for the next batch, and whether a leader is writing one.
    /// Invariant: `leading == false` implies `pending` is empty.
    private struct CommitState {
        var pending: [Request] = []
        var leading = false
    }
    private let commits = Mutex(CommitState())

    /// Batches written since the log was opened in this process, and the appends (callers) they carried: their
    /// ratio is the mean group-commit size (`/metrics`).
    package var groupCommitStatistics: (batches: UInt64, appends: UInt64) { statistics.withLock { ($0.0, $0.1) } }
    private let statistics = Mutex<(UInt64, UInt64)>((0, 0))

    /// One caller's events, and how the leader answers it.
    private final class Request: Sendable {
        enum Answer: Sendable {
            case committed(lastSeq: UInt64)
            case failed(any Error)
            /// The previous leader is done and this request heads the queue: it writes the next batch.
            case lead
        }
        let events: [Event]
        let creating: Bool
        /// Made on a thread at the lowest CPU priority (`ThreadPriority`): it leads a batch only if no other waits.
        let lowPriority: Bool
        private let answers = Mutex<[Answer]>([])
        private let woken = DispatchSemaphore(value: 0)

        init(events: [Event], creating: Bool, lowPriority: Bool) {
            self.events = events; self.creating = creating; self.lowPriority = lowPriority
        }

        func post(_ a: Answer) {
            answers.withLock { $0.append(a) }
            woken.signal()
        }

        func next() -> Answer {
            woken.wait()
            return answers.withLock { $0.removeFirst() }
        }
    }

    /// fdatasyncs of the log file by this handle (tests: group commit shares them).
    private let syncs = Mutex(0)
    package var syncCount: Int { syncs.withLock { $0 } }

    /// Tests only: runs before each batch's fdatasync with the number of events in the batch; a throw stands for
    /// a failed fdatasync.
    private let beforeBatchSync = Mutex<(@Sendable (Int) throws -> Void)?>(nil)
    package func setBeforeBatchSync(_ hook: (@Sendable (Int) throws -> Void)?) { beforeBatchSync.withLock { $0 = hook } }

    /// Appends waiting in the queue (tests: to know a batch has formed without timing).
    package var pendingCount: Int { commits.withLock { $0.pending.count } }

    private func syncFile(_ file: any AccessLogWriter) throws {
        try file.syncData()
        syncs.withLock { $0 += 1 }
    }

    func mac(ofHash hash: String) -> String? { macKey.map { AuditLog.mac(ofHash: hash, key: $0) } }

    static func mac(ofHash hash: String, key: SecureBytes) -> String {
        let h = Blake2b(outputLength: 32, key: key)
        h.update(VaultFormat.Label.auditEntryMAC); h.update(Array(hash.utf8))
        return h.finalize().hex
    }

    /// One access: who (role and id), what, on which vault, and how it ended.
    package struct Event: Sendable {
        package var vaultId: [UInt8]?
        package var actor: String
        package var role: String
        package var action: String
        package var outcome: String
        package var detail: String

        package init(vaultId: [UInt8]?, actor: String, role: String, action: String, outcome: String, detail: String = "") {
            self.vaultId = vaultId; self.actor = actor; self.role = role; self.action = action; self.outcome = outcome; self.detail = detail
        }
    }

    /// A parsed line.
    package enum Line: Sendable {
        case entry(Entry)
        case checkpoint(seq: UInt64, head: String, time: String, value: JSONValue)
        case anchor(seq: UInt64, prev: String, time: String, value: JSONValue)
    }

    package struct Entry: Sendable {
        package var seq: UInt64
        package var time: String
        package var vault: String
        package var actor: String
        package var role: String
        package var action: String
        package var outcome: String
        package var detail: String
        package var prev: String
        package var hash: String
        /// The root-key MAC over `hash` (FORMAT.md §8.1); nil in entries written before root keys.
        package var mac: String? = nil

        func value(withHash: Bool) -> JSONValue {
            var members: [(String, JSONValue)] = [
                ("type", .string("entry")), ("seq", .number(Double(seq))), ("time", .string(time)), ("vault", .string(vault)),
                ("actor", .string(actor)), ("role", .string(role)), ("action", .string(action)), ("outcome", .string(outcome)),
                ("detail", .string(detail)), ("prev", .string(prev)),
            ]
            if withHash {
                members.append(("hash", .string(hash)))
                if let mac { members.append(("mac", .string(mac))) }
            }
            return .object(members)
        }

        func computeHash() -> String {
            let h = Blake2b(outputLength: 32)
            h.update(VaultFormat.Label.auditEntry); h.update(CanonicalJSON.serialize(value(withHash: false)))
            return h.finalize().hex
        }
    }

    static func genesis(storeId: String) -> String {
        let h = Blake2b(outputLength: 32)
        h.update(VaultFormat.Label.auditGenesis); h.update(Array(storeId.utf8))
        return h.finalize().hex
    }

    static func isoNow() -> String { iso(millis: Posix.wallClockMillis()) }

    static func iso(millis: Int64) -> String { Posix.isoTime(millis: millis) }

    package static func parseTime(_ s: String) -> Date? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.date(from: s)
    }

    // MARK: writing

    /// Opens and locks the log (`AccessLogSink.openLocked`: a log replaced by a prune meanwhile is reopened).
    /// The log of a store is made once, by the store's first entry (`creating`); after that a missing or empty log
    /// is never made anew by a later entry, so deleting it cannot be covered up by the next operation.
    private func openLocked(creating: Bool = false) throws -> any AccessLogWriter { try sink.openLocked(creating: creating) }

    /// The next seq and the previous entry's hash; cuts off a torn last line (a crash mid-append). Locks held.
    private func tail(_ file: any AccessLogWriter, _ state: inout WriterState) throws -> (nextSeq: UInt64, prev: String) {
        let size = try file.size()
        if let c = state.cachedTail, c.size == size, c.identity == (try file.identity()) { return (c.nextSeq, c.prev) }
        if size == 0 { return (0, AuditLog.genesis(storeId: storeId)) }
        let window = min(size, 256 << 10)
        let bytes = try file.read(at: size - window, count: window)
        var end = bytes.count
        if bytes.last != 10 {
            guard let nl = bytes.lastIndex(of: 10) else {
                if window == size { try file.truncate(to: 0); try syncFile(file); return (0, AuditLog.genesis(storeId: storeId)) }
                throw VaultError.corrupted("access log: last line longer than 256 KiB")
            }
            try file.truncate(to: size - window + nl + 1)
            try syncFile(file)
            end = nl + 1
        }
        // Walk back to the last entry (past checkpoints), or to an anchor that starts a pruned log.
        var lineEnd = end - 1
        while lineEnd > 0 {
            let start = (bytes[..<lineEnd].lastIndex(of: 10).map { $0 + 1 }) ?? 0
            switch try AuditLog.parseLine(Array(bytes[start..<lineEnd]), number: 0) {
            case .entry(let e): return (e.seq + 1, e.hash)
            case .anchor(let seq, let prev, _, _): return (seq, prev)
            case .checkpoint: break
            }
            if start == 0 {
                if window < size { throw VaultError.corrupted("access log: no entry in its last 256 KiB") }
                break
            }
            lineEnd = start - 1
        }
        return (0, AuditLog.genesis(storeId: storeId))
    }

    /// Appends an event durably (write + fdatasync); adds a signed checkpoint every `checkpointInterval` entries.
    /// Returns the entry's sequence number.
    @discardableResult
    package func append(_ event: Event, creating: Bool = false) throws -> UInt64 {
        try append(contentsOf: [event], creating: creating)
    }

    /// Appends several events with one write and one fdatasync (all or none), e.g. a restore's per-vault baselines.
    /// Returns the last entry's sequence number.
    ///
    /// Group commit (docs/OPERATIONS.md, "The access log"): callers on other threads of this process that append meanwhile are written by
    /// one of them, the leader, in one batch: one flock, one tail read, one write, one fdatasync. Each caller gets
    /// its own entries' sequence numbers, or, if the batch failed, the batch's error (nothing unsynced is reported
    /// durable). A caller waits at most for the batch being written when it arrived, then for its own. The bytes
    /// are those the same events appended one by one would give. A caller on a lowered thread (`ThreadPriority`)
    /// whose turn it is to lead hands the turn to the first normal caller waiting, which writes both.
    @discardableResult
    package func append(contentsOf events: [Event], creating: Bool = false) throws -> UInt64 {
        precondition(!events.isEmpty, "append(contentsOf:) needs at least one event")
        let request = Request(events: events, creating: creating, lowPriority: ThreadPriority.isCurrentLowered)
        let leads = commits.withLock { s in
            s.pending.append(request)
            if s.leading { return false }
            s.leading = true
            return true
        }
        var answer: Request.Answer = leads ? .lead : request.next()
        while true {
            switch answer {
            case .lead:
                if request.lowPriority, let deputy = deputy(for: request) {
                    deputy.post(.lead)
                    answer = request.next()
                } else {
                    answer = leadOneBatch(including: request)
                }
            case .committed(let seq): return seq
            case .failed(let error): throw error
            }
        }
    }

    /// For a lowered caller whose turn it is to lead (it heads the queue): the first waiting caller of a normal
    /// thread that can share its batch, moved to the head of the queue to lead in its place; its batch then holds
    /// `own` too. Nil when none waits. Normal callers then never wait for a batch written by a thread the scheduler
    /// seldom runs.
    private func deputy(for own: Request) -> Request? {
        commits.withLock { s in
            guard s.pending.first === own,
                  let j = s.pending.firstIndex(where: { !$0.lowPriority && $0.creating == own.creating }) else { return nil }
            let deputy = s.pending.remove(at: j)
            s.pending.insert(deputy, at: 0)
            return deputy
        }
    }

    /// Writes the batch at the head of the queue (which holds `own`), answers its callers, and hands the lead to
    /// the next waiting request if any. Returns `own`'s answer.
    private func leadOneBatch(including own: Request) -> Request.Answer {
        // One batch shares one `creating`: only a store's first entry may create the log.
        let batch: [Request] = commits.withLock { s in
            let creating = s.pending[0].creating
            let n = s.pending.firstIndex { $0.creating != creating } ?? s.pending.count
            let b = Array(s.pending[..<n])
            s.pending.removeFirst(n)
            return b
        }
        let outcome = Result { try writeBatch(batch.map(\.events), creating: batch[0].creating) }
        if case .success = outcome { statistics.withLock { $0.0 += 1; $0.1 += UInt64(batch.count) } }
        let next: Request? = commits.withLock { s in
            if let first = s.pending.first { return first }
            s.leading = false
            return nil
        }
        var ownAnswer: Request.Answer = .lead
        for (i, r) in batch.enumerated() {
            let answer: Request.Answer
            switch outcome {
            case .success(let seqs): answer = .committed(lastSeq: seqs[i])
            case .failure(let error): answer = .failed(error)
            }
            if r === own { ownAnswer = answer } else { r.post(answer) }
        }
        next?.post(.lead)
        return ownAnswer
    }

    /// One batch: lock, read the tail, chain every event, one write and one fdatasync (all or none). Returns each
    /// group's last sequence number.
    private func writeBatch(_ groups: [[Event]], creating: Bool) throws -> [UInt64] {
        try writer.withLock { state in
            let file = try openLocked(creating: creating)
            defer { file.unlock() }
            let t = try tail(file, &state)
            var out: [UInt8] = []
            var seq = t.nextSeq, prev = t.prev
            var lastSeqs: [UInt64] = []
            var count = 0
            for events in groups {
                for event in events {
                    var e = Entry(seq: seq, time: AuditLog.isoNow(), vault: event.vaultId?.hex ?? "", actor: event.actor, role: event.role,
                                  action: event.action, outcome: event.outcome, detail: event.detail, prev: prev, hash: "")
                    e.hash = e.computeHash()
                    e.mac = mac(ofHash: e.hash)
                    out += CanonicalJSON.serialize(e.value(withHash: true)) + [10]
                    // A signed checkpoint after every `checkpointInterval`-th entry.
                    if e.seq % AuditLog.checkpointInterval == AuditLog.checkpointInterval - 1 {
                        out += checkpointLine(seq: e.seq, head: e.hash) + [10]
                    }
                    seq += 1; prev = e.hash
                }
                lastSeqs.append(seq - 1)
                count += events.count
            }
            let end = try file.size()
            do {
                try file.append(out, atExpectedEnd: end)
                try beforeBatchSync.withLock { $0 }?(count)
                try syncFile(file)
            } catch {
                state.cachedTail = nil
                try? file.truncate(to: end)
                throw error
            }
            state.cachedTail = (try file.identity(), end + out.count, seq, prev)
            return lastSeqs
        }
    }

    /// Appends a signed checkpoint of the current head now (e.g. to publish it elsewhere). Returns the line.
    @discardableResult
    package func checkpoint() throws -> String {
        try writer.withLock { state in
            let file = try openLocked()
            defer { file.unlock() }
            let t = try tail(file, &state)
            guard t.nextSeq > 0 else { throw VaultError.notFound("the access log is empty") }
            let line = checkpointLine(seq: t.nextSeq - 1, head: t.prev)
            let end = try file.size()
            state.cachedTail = nil
            try file.append(line + [10], atExpectedEnd: end)
            try syncFile(file)
            state.cachedTail = (try file.identity(), end + line.count + 1, t.nextSeq, t.prev)
            return String(decoding: line, as: UTF8.self)
        }
    }

    private func signed(_ members: [(String, JSONValue)], label: StaticString) -> [UInt8] {
        var m = ByteWriter()
        m.write(label); m.write(CanonicalJSON.serialize(.object(members)))
        let sig = signing.sign(m.bytes)
        return CanonicalJSON.serialize(.object(members + [("signature", .string(sig.hex))]))
    }

    private func checkpointLine(seq: UInt64, head: String) -> [UInt8] {
        signed([("type", .string("checkpoint")), ("seq", .number(Double(seq))), ("head", .string(head)), ("time", .string(AuditLog.isoNow())),
                ("storeId", .string(storeId)), ("keyId", .string(Store.keyId(signing.publicKey)))], label: VaultFormat.Label.auditCheckpoint)
    }

    // MARK: reading and verifying

    static func parseLine(_ bytes: [UInt8], number: Int) throws -> Line {
        guard let v = try? CanonicalJSON.parse(bytes), case .object = v else { throw VaultError.corrupted("access log line \(number) is not a JSON object") }
        // Every line is written in its canonical form (RFC 8785), and hashes and MACs cover the parsed value: a line
        // rewritten to another spelling of the same value (members reordered, spaces, escapes) would still verify, so
        // only the canonical bytes are a line (and a reader may find a vault's lines by their bytes).
        guard CanonicalJSON.serialize(v) == bytes else {
            throw VaultError.tampered("access log line \(number) is not in canonical form: it was rewritten")
        }
        func str(_ k: String) throws -> String {
            guard case .string(let s)? = v[k] else { throw VaultError.corrupted("access log line \(number): missing \(k)") }
            return s
        }
        func int(_ k: String) throws -> UInt64 {
            guard case .number(let d)? = v[k], d >= 0, d < 9_007_199_254_740_992, d == d.rounded() else { throw VaultError.corrupted("access log line \(number): bad \(k)") }
            return UInt64(d)
        }
        switch try str("type") {
        case "entry":
            return .entry(Entry(seq: try int("seq"), time: try str("time"), vault: try str("vault"), actor: try str("actor"), role: try str("role"),
                                action: try str("action"), outcome: try str("outcome"), detail: try str("detail"), prev: try str("prev"), hash: try str("hash"),
                                mac: v["mac"] == nil ? nil : try str("mac")))
        case "checkpoint": return .checkpoint(seq: try int("seq"), head: try str("head"), time: try str("time"), value: v)
        case "anchor": return .anchor(seq: try int("seq"), prev: try str("prev"), time: try str("time"), value: v)
        default: throw VaultError.corrupted("access log line \(number): unknown type")
        }
    }

    package func lines() throws -> [Line] {
        guard let bytes = try sink.readAll() else { return [] }
        return try AuditLog.lines(of: bytes)
    }

    /// The lines of a log's bytes (a whole `audit/log.jsonl`), parsed but not verified (`verify(_:)` does that).
    /// - Throws: `VaultError.corrupted` naming the first line that is not a log line.
    package static func lines(of bytes: [UInt8]) throws -> [Line] {
        var out: [Line] = []
        var start = 0
        var number = 1
        for i in bytes.indices where bytes[i] == 10 {
            out.append(try AuditLog.parseLine(Array(bytes[start..<i]), number: number))
            start = i + 1
            number += 1
        }
        return out  // a torn last line (no newline) is ignored, as the next append cuts it off
    }

    package func entries() throws -> [Entry] { AuditLog.entries(of: try lines()) }

    /// The entries of vault `id` (32 hexadecimal digits), parsing only the lines that name it: an entry line is
    /// canonical JSON (RFC 8785, members sorted), whose last member is `vault`, so a line of this vault ends in
    /// `"vault":"<id>"}`; only those are parsed. One vault's view then costs a scan of the store's log for line ends,
    /// not a parse of every line in it. A torn last line is ignored, as `lines()` does.
    /// - Throws: `VaultError.corrupted` for a damaged line that names the vault.
    package func entries(ofVault id: String) throws -> [Entry] {
        try entries(ofVault: id, after: nil, limit: Int.max).entries
    }

    /// Where a page of one vault's entries starts (`entries(ofVault:_:limit:where:)`).
    package enum PageStart: Sendable, Equatable {
        /// Oldest first, from the first entry whose log sequence number is above this one (from the first if nil).
        case after(UInt64?)
        /// Newest first, from the last entry whose log sequence number is below this one (from the last if nil).
        case before(UInt64?)
    }

    /// One page of `entries(ofVault:)`: at most `limit` entries with a sequence number above `after` (all if nil)
    /// that `include` accepts, oldest first, and whether more follow. The log is streamed (`AccessLogSink.forEachLine`):
    /// memory O(page + chunk) whatever the log's size.
    package func entries(ofVault id: String, after: UInt64?, limit: Int, where include: (Entry) -> Bool = { _ in true }) throws
        -> (entries: [Entry], more: Bool) {
        try entries(ofVault: id, .after(after), limit: limit, where: include)
    }

    /// One page of `entries(ofVault:)` from either end: `.after` oldest first, `.before` newest first. The walk
    /// starts at the page's sequence number, found by a search over the log (`AccessLogSink.forEachLine(after:…)`,
    /// `forEachLineReversed(before:…)`: O(log n) lines read to find it, for files), and stops one match past the
    /// page, so a full page reads the log from its first entry to the match after its last, not the log before it;
    /// the last page walks on to the log's end (or start). `more` says whether entries beyond the page remain in
    /// its direction. Memory O(page + chunk).
    /// - Throws: `VaultError.corrupted` for a damaged line that names the vault or a line over 1 MiB;
    ///   `VaultError.busy` when the log is cut back under a newest-first walk that already gave lines.
    package func entries(ofVault id: String, _ start: PageStart, limit: Int, where include: (Entry) -> Bool = { _ in true }) throws
        -> (entries: [Entry], more: Bool) {
        switch start {
        case .after(let after):
            return try AuditLog.entries(ofVault: id, start, limit: limit, where: include,
                                        lines: { try sink.forEachLine(after: after, seqOf: AuditLog.sequenceNumber, $0) })
        case .before(let before):
            return try AuditLog.entries(ofVault: id, start, limit: limit, where: include,
                                        lines: { try sink.forEachLineReversed(before: before, seqOf: AuditLog.sequenceNumber, $0) })
        }
    }

    /// The sequence number of a line of any type (entry, checkpoint, anchor), or nil if it is not a valid line: what
    /// the seeks compare.
    static func sequenceNumber(_ line: ArraySlice<UInt8>) -> UInt64? {
        switch try? parseLine(Array(line), number: 0) {
        case .entry(let e)?: return e.seq
        case .checkpoint(let seq, _, _, _)?, .anchor(let seq, _, _, _)?: return seq
        case nil: return nil
        }
    }

    /// `entries(ofVault:)` over a log's bytes (a torn last line is left out).
    static func entries(ofVault id: String, in bytes: [UInt8]) throws -> [Entry] {
        try entries(ofVault: id, .after(nil), limit: Int.max, where: { _ in true }, lines: { _ = try AccessLogLines.split(bytes[...], $0) }).entries
    }

    /// The page over lines that `lines` hands out: in order for `.after`, newest first for `.before`. A line is
    /// parsed only when it ends in this vault's member (the canonical last member of an entry that names a vault);
    /// the parse then checks it in full.
    private static func entries(ofVault id: String, _ start: PageStart, limit: Int, where include: (Entry) -> Bool,
                                lines: ((ArraySlice<UInt8>) throws -> Bool) throws -> Void) throws -> (entries: [Entry], more: Bool) {
        precondition(limit > 0, "a page holds at least one entry")
        let tail = Array("\"vault\":\"\(id)\"}".utf8)
        var out: [Entry] = []
        var more = false
        try withoutActuallyEscaping(include) { include in
            try lines { line in
                guard line.count >= tail.count, line.suffix(tail.count).elementsEqual(tail),
                      case .entry(let e) = try AuditLog.parseLine(Array(line), number: 0), e.vault == id else { return true }
                switch start {
                case .after(let after):
                    if let after, e.seq <= after { return true }
                    guard include(e) else { return true }
                    if out.count == limit { more = true; return false }
                    out.append(e)
                    return true
                case .before(let before):
                    if let before, e.seq >= before { return true }
                    guard include(e) else { return true }
                    if out.count == limit { more = true; return false }
                    out.append(e)
                    return true
                }
            }
        }
        return (out, more)
    }

    /// The entries among `lines` (checkpoints and an anchor left out), for a caller that read the lines already.
    package static func entries(of lines: [Line]) -> [Entry] {
        lines.compactMap { if case .entry(let e) = $0 { return e } else { return nil } }
    }

    package struct VerifyReport: Sendable {
        package var entries: Int
        package var checkpoints: Int
        package var firstSeq: UInt64?
        package var lastSeq: UInt64?
        package var lastCheckpointSeq: UInt64?
        package var prunedBefore: UInt64?
    }

    func verifySignature(_ value: JSONValue, label: StaticString, what: String) throws {
        guard case .object(let members) = value, case .string(let sigHex)? = value["signature"], let sig = [UInt8](hex: sigHex),
              sig.hex == sigHex else {
            throw VaultError.tampered("\(what) has no valid signature")
        }
        var m = ByteWriter()
        m.write(label); m.write(CanonicalJSON.serialize(.object(members.filter { $0.0 != "signature" })))
        guard Ed25519.verify(signature: sig, message: m.bytes, publicKey: signing.publicKey) else {
            throw VaultError.tampered("\(what) is not signed by this store's key")
        }
    }

    /// The log's bytes with every MAC'd entry's MAC made anew under `macKey` (a restore anchoring a backup's log
    /// under its own root key; the backup's signature vouched for the content). Other lines are kept as they are.
    static func remac(_ bytes: [UInt8], macKey: SecureBytes) throws -> [UInt8] {
        var out: [UInt8] = []
        var start = 0
        for i in bytes.indices where bytes[i] == 10 {
            let line = Array(bytes[start..<i])
            if case .entry(var e) = try AuditLog.parseLine(line, number: 0), e.mac != nil {
                e.mac = AuditLog.mac(ofHash: e.hash, key: macKey)
                out += CanonicalJSON.serialize(e.value(withHash: true)) + [10]
            } else {
                out += line + [10]
            }
            start = i + 1
        }
        return out
    }

    /// Checks the whole chain: any edited, dropped, inserted or reordered entry is reported with its line.
    /// `lines`: the log as the caller read it already (one read for a check that also needs the entries).
    package func verify(_ lines: [Line]? = nil) throws -> VerifyReport {
        let all = try lines ?? self.lines()
        var report = VerifyReport(entries: 0, checkpoints: 0)
        var expected: UInt64 = 0
        var prev = AuditLog.genesis(storeId: storeId)
        // Since root keys every entry is MAC'd; only entries before the first MAC'd one (a log older than the store's
        // upgrade) may lack it, and none after a signed anchor.
        var macsRequired = false
        for (i, line) in all.enumerated() {
            let n = i + 1
            switch line {
            case .anchor(let seq, let p, _, let value):
                guard i == 0 else { throw VaultError.tampered("access log line \(n): an anchor may only start the log") }
                try verifySignature(value, label: VaultFormat.Label.auditAnchor, what: "access log anchor (line 1)")
                expected = seq; prev = p; report.prunedBefore = seq
            case .entry(let e):
                guard e.seq == expected else {
                    throw VaultError.tampered("access log line \(n): entry \(e.seq) where \(expected) was expected (entries dropped, inserted or reordered)")
                }
                guard e.prev == prev else { throw VaultError.tampered("access log line \(n): entry \(e.seq) does not chain to its predecessor") }
                guard e.computeHash() == e.hash else { throw VaultError.tampered("access log line \(n): entry \(e.seq) was edited (hash mismatch)") }
                if let expectedMac = mac(ofHash: e.hash) {
                    if let m = e.mac {
                        guard Sodium.constantTimeEqual(Array(m.utf8), Array(expectedMac.utf8)) else {
                            throw VaultError.tampered("access log line \(n): entry \(e.seq) is not authenticated by the store root key (forged or edited)")
                        }
                        macsRequired = true
                    } else if macsRequired {
                        throw VaultError.tampered("access log line \(n): entry \(e.seq) lacks the root key's MAC that every entry after the store's upgrade carries (forged)")
                    }
                }
                if report.firstSeq == nil { report.firstSeq = e.seq }
                report.lastSeq = e.seq
                report.entries += 1
                prev = e.hash
                expected += 1
            case .checkpoint(let seq, let head, _, let value):
                try verifySignature(value, label: VaultFormat.Label.auditCheckpoint, what: "access log checkpoint (line \(n))")
                guard expected > 0, seq == expected - 1, head == prev else {
                    throw VaultError.tampered("access log line \(n): checkpoint for entry \(seq) does not match the log")
                }
                report.checkpoints += 1
                report.lastCheckpointSeq = seq
            }
        }
        if macKey != nil, report.entries > 0, !macsRequired {
            throw VaultError.tampered("the access log holds no entry authenticated by the store root key: it was replaced or cut back to before the store's root key")
        }
        return report
    }

    /// Drops entries older than `retentionDays`; what remains starts with a signed anchor and still verifies.
    /// The prune itself is logged. Returns how many entries were dropped.
    ///
    /// A retention under `minimumRetentionDays` is refused (not permitted) unless `shortRetentionReason` is given:
    /// the override and its reason are logged first, and that entry survives the prune it allows.
    @discardableResult
    package func prune(retentionDays: Int, actor: String, now: Date = Date(), shortRetentionReason: String? = nil) throws -> Int {
        guard retentionDays >= 0 else { throw VaultError.invalidInput("the retention must be 0 days or more") }
        var keepFrom: UInt64?
        if retentionDays < AuditLog.minimumRetentionDays {
            let floor = AuditLog.minimumRetentionDays
            guard let reason = shortRetentionReason?.trimmingCharacters(in: .whitespacesAndNewlines), !reason.isEmpty else {
                throw VaultError.notPermitted("the access log keeps at least \(floor) days; a shorter retention needs an explicit override with a reason (--allow-short-retention REASON), which is logged")
            }
            guard reason.utf8.count <= 256, !reason.contains(where: \.isNewline),
                  !reason.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
                throw VaultError.invalidInput("the override reason must be one line of at most 256 bytes, without control characters")
            }
            keepFrom = try append(Event(vaultId: nil, actor: actor, role: "operator", action: "audit-retention-override", outcome: "ok",
                                        detail: "retention \(retentionDays) days, under the \(floor)-day floor: \(reason)"))
        }
        let dropped: Int = try writer.withLock { state in
            let file = try openLocked()
            defer { file.unlock() }
            _ = try verify()
            let cutoff = now.addingTimeInterval(-Double(retentionDays) * 86400)
            let all = try lines()
            var keep: [Line] = []
            var firstKept: Entry?
            var droppedCount = 0
            for line in all {
                switch line {
                case .entry(let e):
                    // The override that allowed this prune is never dropped by it.
                    if firstKept == nil, e.seq < keepFrom ?? .max, let t = AuditLog.parseTime(e.time), t < cutoff { droppedCount += 1; continue }
                    if firstKept == nil { firstKept = e }
                    keep.append(line)
                case .checkpoint(let seq, _, _, _):
                    if let f = firstKept, seq >= f.seq { keep.append(line) }
                case .anchor:
                    continue
                }
            }
            guard droppedCount > 0 else { return 0 }
            var out: [UInt8] = []
            let end = try tail(file, &state)
            let anchorSeq = firstKept?.seq ?? end.nextSeq
            let anchorPrev = firstKept?.prev ?? end.prev
            out += signed([("type", .string("anchor")), ("seq", .number(Double(anchorSeq))), ("prev", .string(anchorPrev)),
                           ("time", .string(AuditLog.isoNow())), ("storeId", .string(storeId)),
                           ("keyId", .string(Store.keyId(signing.publicKey))), ("retentionDays", .number(Double(retentionDays)))],
                          label: VaultFormat.Label.auditAnchor) + [10]
            for line in keep {
                switch line {
                case .entry(let e): out += CanonicalJSON.serialize(e.value(withHash: true)) + [10]  // with its MAC
                case .checkpoint(_, _, _, let v), .anchor(_, _, _, let v): out += CanonicalJSON.serialize(v) + [10]
                }
            }
            try sink.replace(with: out)
            state.cachedTail = nil
            return droppedCount
        }
        try append(Event(vaultId: nil, actor: actor, role: "operator", action: "audit-prune", outcome: "ok",
                         detail: "dropped \(dropped) entries older than \(retentionDays) days"))
        try checkpoint()
        return dropped
    }
}
