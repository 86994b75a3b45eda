import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MikataCrypto
import MikataFormat

/// One page of records (`Vault.records(_:after:limit:...)`).
package struct RecordPage: Equatable, Sendable {
    package let records: [Record]
    /// Pass as `after` for the next page; nil once the page reached the end of the vault. A full page may be
    /// followed by an empty one when the filters match nothing further.
    package let nextAfter: UInt64?
}

/// Where a walk of the records region can start: the offset of record `seq`, the link it must carry and the epoch
/// of the record before it.
struct FrameCheckpoint {
    var seq: UInt64
    var offset: Int
    var prevLink: [UInt8]
    var prevEpoch: UInt32
}

/// Frame offsets of one vault file (its inode), learnt by the walks: every 64th record's checkpoint, so a page
/// starts by seeking instead of walking from record 0. Valid while the file keeps its inode; rewrites replace it.
struct FrameIndex {
    static let stride: UInt64 = 64

    var identity: MediumIdentity?
    /// checkpoints[i] is record i × stride.
    var checkpoints: [FrameCheckpoint] = []
    /// The link after `count` records, seen by a walk that passed the header's floor there (FORMAT.md §5.4): a page
    /// that starts past the floor still compares it with the header.
    var floor: (count: UInt64, link: [UInt8])?

    /// The latest checkpoint at or before `seq`, if any.
    func checkpoint(atOrBefore seq: UInt64) -> FrameCheckpoint? {
        guard !checkpoints.isEmpty else { return nil }
        return checkpoints[Int(min(seq / FrameIndex.stride, UInt64(checkpoints.count - 1)))]
    }

    mutating func note(_ checkpoint: FrameCheckpoint) {
        if checkpoint.seq % FrameIndex.stride == 0, UInt64(checkpoints.count) == checkpoint.seq / FrameIndex.stride {
            checkpoints.append(checkpoint)
        }
    }
}

/// The chain rules of FORMAT.md §5.3–5.4 along a walk: order, links, epochs, and the header's record floor.
struct ChainCheck {
    let state: KeyState
    private(set) var expected: UInt64
    private(set) var prevLink: [UInt8]
    private(set) var prevEpoch: UInt32
    private(set) var floorLinkSeen: [UInt8]?

    init(state: KeyState, start: FrameCheckpoint, floorLink: [UInt8]?) {
        self.state = state
        expected = start.seq; prevLink = start.prevLink; prevEpoch = start.prevEpoch
        floorLinkSeen = start.seq == state.recordFloorCount ? start.prevLink : floorLink
    }

    var checkpoint: (seq: UInt64, prevLink: [UInt8], prevEpoch: UInt32) { (expected, prevLink, prevEpoch) }

    mutating func accept(_ f: WalkedFrame) throws {
        let n = f.header.seq
        guard n == expected else {
            throw VaultError.tampered("record at byte \(f.offset) has sequence number \(n) where \(expected) was expected: records were removed, reordered or duplicated")
        }
        guard f.header.prevLink == prevLink else {
            throw VaultError.tampered("record \(n) does not follow its predecessor (chain link mismatch): a record was replaced or spliced in")
        }
        guard state.epochEntry(f.header.epoch) != nil else {
            throw VaultError.tampered("record \(n) uses key epoch \(f.header.epoch), which the header does not hold: the header may have been rolled back")
        }
        guard f.header.epoch >= prevEpoch, f.header.epoch >= state.minimumEpoch(forSeq: n) else {
            throw VaultError.tampered("record \(n) uses key epoch \(f.header.epoch), older than allowed at its position")
        }
        prevLink = f.link
        prevEpoch = f.header.epoch
        expected += 1
        if expected == state.recordFloorCount { floorLinkSeen = prevLink }
    }

    /// The header's floor: at the end of the file the vault holds at least the records it vouches for, and the
    /// last of them is the one it vouches for; before the end, only the latter (if the walk passed it).
    func checkFloor(atEnd: Bool) throws {
        if atEnd {
            guard expected >= state.recordFloorCount else {
                throw VaultError.tampered("the vault holds \(expected) records but its header vouches for \(state.recordFloorCount): records were removed (truncated file?)")
            }
        } else if floorLinkSeen == nil {
            return
        }
        guard floorLinkSeen == state.recordFloorLink else {
            throw VaultError.tampered("record \(state.recordFloorCount == 0 ? 0 : state.recordFloorCount - 1) is not the one the header vouches for: records were replaced")
        }
    }
}

/// What a walk of the records region found.
struct WalkResult {
    var tornTailBytes: Int
    /// After the last frame walked: at the end of the file, the end of the log.
    var tail: Vault.Tail
    /// Whether the walk reached the end of the file (and ran the end checks); false when the visitor stopped it.
    var reachedEnd: Bool
}

extension Vault {
    /// The most records one page holds.
    package static let pageLimitMax = 10_000
    /// Frames decrypted together (in parallel): bounded in count and bytes, so a read holds O(batch), not O(vault).
    static let batchFramesMax = 256
    static let batchBytesMax = 4 << 20

    /// How much more a walk's visitor may still want beyond the frames queued for decryption and not yet handed to
    /// it: a hint for batch sizes only (the walk goes on for as long as the visitor asks for more, whatever it says).
    struct BatchWant {
        /// More records.
        var frames: Int
        /// More bytes of frames (a frame's length bounds its record's data).
        var bytes: Int
        /// No limit but the batch's own.
        static let batchful = BatchWant(frames: Vault.batchFramesMax, bytes: Vault.batchBytesMax)
        /// Whether frames already queued may satisfy the visitor.
        var isMet: Bool { frames <= 0 || bytes <= 0 }
    }

    // MARK: the public reads

    /// Reads and verifies every record (FORMAT.md §5.6). Internal records (type "mikata.*") are included.
    package func records(_ session: VaultSession) throws -> [Record] {
        try audited("read", actor: Vault.actor(of: session), detail: { "\($0.count) records" }) { try readRecords(session) }
    }

    /// `records` without its access-log entry, for callers that log the read themselves (contact records). With
    /// `keeping`, only the records it accepts are held: every record is still decrypted and verified, but memory is
    /// O(kept + one batch), not O(vault), when a caller wants a few records of one type.
    func readRecords(_ session: VaultSession, keeping: (Record) -> Bool = { _ in true }) throws -> [Record] {
        try locked(exclusive: false) {
            try prepare(session)
            guard let keyring = session.keyring else { throw VaultError.notPermitted("a write-only service cannot read the vault") }
            var out: [Record] = []
            _ = try walkFile(from: nil, keyring: keyring, decryptFrom: 0, visit: { r, _ in
                if keeping(r) { out.append(r) }
                return true
            })
            return out
        }
    }

    /// One page: at most `limit` records with a sequence number above `after` (from the start if nil), ending early
    /// with the record that brings its data to `maxBytes` (so a page's memory is bounded by bytes too), optionally
    /// only of `types` and with `from ≤ time < until` (milliseconds since 1970). Internal records ("mikata.*") only
    /// with `includeInternal` or when `types` names them. Starts at the nearest indexed checkpoint, checks the chain
    /// from there and decrypts only the records it returns (and any its filters skip; a selective page decrypts up to a
    /// batch ahead); the end-of-file checks run when the page reaches the end. A page of more than one batch is read
    /// ahead: the next batch is read from the file and decrypted while the one before it is handed over. With
    /// `scanData`, each record's data is scanned as JSON (`Record.dataScan`) on the thread that decrypted it. Logged as
    /// one read.
    package func records(_ session: VaultSession, after: UInt64? = nil, limit: Int, maxBytes: Int = Int.max, types: Set<String>? = nil,
                         from: Int64? = nil, until: Int64? = nil, includeInternal: Bool = false, scanData: Bool = false) throws -> RecordPage {
        guard (1...Vault.pageLimitMax).contains(limit) else { throw VaultError.invalidInput("a page holds 1 to \(Vault.pageLimitMax) records") }
        guard maxBytes > 0 else { throw VaultError.invalidInput("a page's byte budget must be positive") }
        let filter = try RecordFilter(types: types, from: from, until: until, includeInternal: includeInternal)
        return try audited("read", actor: Vault.actor(of: session), detail: { "\($0.records.count) records" }) {
            try locked(exclusive: false) {
                try prepare(session)
                guard let keyring = session.keyring else { throw VaultError.notPermitted("a write-only service cannot read the vault") }
                var page: [Record] = []
                var bytes = 0
                var last: UInt64?
                // A page decrypts about as many records as it returns: the next batch is started only while the page
                // still wants more than the records already queued.
                let result = try walkFile(from: after, keyring: keyring, decryptFrom: Vault.firstSeq(after: after), scanData: scanData,
                                          batch: { queued, queuedBytes in
                    filter.isSelective ? BatchWant(frames: 64, bytes: Vault.batchBytesMax)
                        : BatchWant(frames: limit - page.count - queued, bytes: maxBytes == Int.max ? Int.max : maxBytes - bytes - queuedBytes)
                }) { r, _ in
                    last = r.seq
                    guard filter.matches(r) else { return true }
                    page.append(r)
                    bytes += r.data.count
                    // The page ends at `limit` records, or with the record that reaches `maxBytes` of data (at least
                    // one record, so a page always moves on).
                    return page.count < limit && bytes < maxBytes
                }
                return RecordPage(records: page, nextAfter: result.reachedEnd ? nil : last)
            }
        }
    }

    /// Streams every record above `after` that passes the filters (as `records(_:after:limit:...)`) to `body`, in
    /// order, decrypted in parallel batches: memory O(batch), whatever the vault's size. `body` returns false to
    /// stop. The vault's shared lock is held until the stream ends (writers wait). A problem found part-way throws
    /// after the records before it were delivered. The read is logged before the first record is delivered; a
    /// failure is logged too.
    package func forEachRecord(_ session: VaultSession, after: UInt64? = nil, types: Set<String>? = nil, from: Int64? = nil,
                               until: Int64? = nil, includeInternal: Bool = false, _ body: (Record) throws -> Bool) throws {
        let filter = try RecordFilter(types: types, from: from, until: until, includeInternal: includeInternal)
        let actor = Vault.actor(of: session)
        var logged = false
        do {
            try locked(exclusive: false) {
                try prepare(session)
                guard let keyring = session.keyring else { throw VaultError.notPermitted("a write-only service cannot read the vault") }
                _ = try walkFile(from: after, keyring: keyring, decryptFrom: Vault.firstSeq(after: after), visit: { r, _ in
                    guard filter.matches(r) else { return true }
                    if !logged {
                        // No record leaves before its read is in the access log.
                        try log("read", actor: actor, outcome: "ok", detail: "streamed from record \(r.seq)")
                        logged = true
                    }
                    return try body(r)
                })
            }
        } catch let e as VaultError {
            try? log("read", actor: actor, outcome: e.auditOutcome, detail: e.failureClass)
            throw e
        }
        if !logged { try log("read", actor: actor, outcome: "ok", detail: "0 records") }
    }

    /// The first sequence number a read after `after` wants (none can be UInt64.max: appends stop before it).
    static func firstSeq(after: UInt64?) -> UInt64 { after.map { $0 == UInt64.max ? $0 : $0 + 1 } ?? 0 }

    // MARK: walks

    /// Walks this vault's file from the checkpoint before record `after + 1` (from record 0 if `after` is nil),
    /// checking the chain; records from `decryptFrom` on are decrypted (with a keyring) and handed to `visit`.
    /// Lock held. Uses and extends the frame index.
    func walkFile(from after: UInt64?, keyring: Keyring?, decryptFrom: UInt64, pipelined: Bool = true, scanData: Bool = false,
                  batch: (_ queued: Int, _ queuedBytes: Int) -> BatchWant = { _, _ in .batchful },
                  visit: (Record, [UInt8]) throws -> Bool = { _, _ in true }) throws -> WalkResult {
        let identity = try medium.identity()
        if frameIndex?.identity != identity { frameIndex = FrameIndex(identity: identity) }
        let genesis = FrameCheckpoint(seq: 0, offset: preamble.recordsOffset, prevLink: VaultFormat.genesisLink(vaultId: vaultId),
                                      prevEpoch: state.epochs[0].epoch)
        var start = genesis
        var floorLink: [UInt8]?
        if let after {
            var target = Vault.firstSeq(after: after)
            let floorCount = state.recordFloorCount
            if target > floorCount {
                // A page past the floor compares the floor's link seen by an earlier walk, or walks through it.
                if let f = frameIndex?.floor, f.count == floorCount { floorLink = f.link } else { target = floorCount }
            }
            start = frameIndex?.checkpoint(atOrBefore: target) ?? genesis
            if start.seq > floorCount, floorLink == nil { start = genesis }
        }
        let size = try medium.size()
        guard size >= preamble.recordsOffset else { throw VaultError.corrupted("vault file is truncated inside its header area") }
        var reader = FrameReader(medium: medium, from: start.offset, end: size, chunkSize: readChunkSize)
        return try Vault.walk(&reader, state: state, vaultId: vaultId, from: start, floorLink: floorLink, keyring: keyring,
                              decryptFrom: decryptFrom, index: &frameIndex, parallel: parallelReads, pipelined: pipelined,
                              scanData: scanData, signatures: verifiedSignatures, batch: batch, visit: visit)
    }

    struct ReadResult {
        var records: [Record]
        var payloads: [[UInt8]]
        var tornTailBytes: Int
        var tail: Tail
    }

    /// A whole walk over a vault file already in memory (a re-encryption, which keeps the old file for its undo;
    /// the fuzzers). With a keyring, decrypts and verifies each record; without, checks structure, order and chain.
    static func scanRecords(_ bytes: [UInt8], preamble: Preamble, state: KeyState, keyring: Keyring?, keepPayloads: Bool) throws -> ReadResult {
        guard bytes.count >= preamble.recordsOffset else { throw VaultError.corrupted("vault file is truncated inside its header area") }
        var reader = FrameReader(bytes: bytes, from: preamble.recordsOffset)
        let genesis = FrameCheckpoint(seq: 0, offset: preamble.recordsOffset, prevLink: VaultFormat.genesisLink(vaultId: preamble.vaultId),
                                      prevEpoch: state.epochs[0].epoch)
        var records: [Record] = [], payloads: [[UInt8]] = []
        var unused: FrameIndex?
        let result = try walk(&reader, state: state, vaultId: preamble.vaultId, from: genesis, floorLink: nil, keyring: keyring, decryptFrom: 0,
                              index: &unused, keepPayloads: keepPayloads) { record, payload in
            records.append(record)
            if keepPayloads { payloads.append(payload) }
            return true
        }
        return ReadResult(records: records, payloads: payloads, tornTailBytes: result.tornTailBytes, tail: result.tail)
    }

    /// The walk itself (FORMAT.md §5.2–5.6). Structure and chain are checked frame by frame; decryption and signature
    /// checks run on batches of frames in parallel, and the first problem in file order is the one thrown, exactly
    /// as a frame-by-frame walk would find it: a later frame's structural error waits until the frames before it
    /// are decrypted.
    static func walk(_ reader: inout FrameReader, state: KeyState, vaultId: [UInt8], from start: FrameCheckpoint, floorLink: [UInt8]?,
                     keyring: Keyring?, decryptFrom: UInt64, index: inout FrameIndex?, parallel: Bool = true, pipelined: Bool = false,
                     scanData: Bool = false, keepPayloads: Bool = false, signatures: VerifiedSignatures? = nil,
                     batch: (_ queued: Int, _ queuedBytes: Int) -> BatchWant = { _, _ in .batchful },
                     visit: (Record, [UInt8]) throws -> Bool) throws -> WalkResult {
        var chain = ChainCheck(state: state, start: start, floorLink: floorLink)
        var pending: [WalkedFrame] = []
        var pendingBytes = 0
        var lastEnd = start.offset
        var torn = 0
        var problem: (any Error)?
        var stopped = false
        var stoppedAtLast = false

        /// The batch decrypting in the background, and its frames' count and bytes.
        var inFlight: (job: DecodeJob, frames: Int, bytes: Int)?

        /// Hands decoded records over in order; false once the visitor stopped.
        func deliver(_ opened: [Result<(Record, [UInt8]), any Error>]) throws -> Bool {
            for (i, result) in opened.enumerated() {
                let (record, payload) = try result.get()
                if try !visit(record, payload) {
                    stoppedAtLast = i == opened.count - 1 && pending.isEmpty && inFlight == nil
                    return false
                }
            }
            return true
        }

        /// Hands the batch in flight over, if there is one; false once the visitor stopped.
        func drain() throws -> Bool {
            guard let previous = inFlight else { return true }
            inFlight = nil
            return try deliver(previous.job.wait())
        }

        /// Decrypts the pending frames and hands them over in order; false once the visitor stopped. Pipelined, and
        /// while the visitor wants more than the frames queued, the batch is decrypted in the background while the walk
        /// reads the next one, and the batch before it is handed over now (two batches in memory at most).
        func flush() throws -> Bool {
            guard let keyring else { return true }
            guard !pending.isEmpty else { return try drain() }
            let make = { DecodeJob(frames: pending, vaultId: vaultId, state: state, keyring: keyring, parallel: parallel, keepPayloads: keepPayloads,
                                   scanData: scanData, signatures: signatures) }
            let queued = (frames: pending.count + (inFlight?.frames ?? 0), bytes: pendingBytes + (inFlight?.bytes ?? 0))
            guard pipelined, !batch(queued.frames, queued.bytes).isMet else {
                // The last batch the visitor may want: handed over as soon as it is decrypted.
                guard try drain() else { return false }
                let next = make()
                pending = []
                pendingBytes = 0
                return try deliver(next.run())
            }
            let next = make()
            next.start()
            let previous = inFlight
            inFlight = (next, pending.count, pendingBytes)
            pending = []
            pendingBytes = 0
            guard let previous else { return true }
            let more: Bool
            do { more = try deliver(previous.job.wait()) } catch { _ = next.wait(); inFlight = nil; throw error }
            if !more { _ = next.wait(); inFlight = nil }
            return more
        }

        while true {
            let step: FrameReader.Step
            do {
                // Without a keyring (inspect, audit verify) or before the records wanted, bodies are not read.
                let wantBody = keyring != nil && chain.expected >= decryptFrom
                step = try VaultError.parsing("record \(chain.expected)") { try reader.next(body: wantBody) }
                switch step {
                case .frame(let f):
                    let before = chain.checkpoint
                    try chain.accept(f)
                    if index != nil {
                        index?.note(FrameCheckpoint(seq: before.seq, offset: f.offset, prevLink: before.prevLink, prevEpoch: before.prevEpoch))
                        if chain.expected == state.recordFloorCount { index?.floor = (chain.expected, chain.prevLink) }
                    }
                    lastEnd = f.offset + f.header.length
                case .end(let tornBytes):
                    if tornBytes > 0 { try Vault.refuseCraftedTail(reader, at: reader.offset) }
                    torn = tornBytes
                }
            } catch {
                problem = error
                break
            }
            guard case .frame(let f) = step else { break }
            if f.body != nil, keyring != nil, f.header.seq >= decryptFrom {
                pending.append(f)
                pendingBytes += f.header.length
                var want = batch(inFlight?.frames ?? 0, inFlight?.bytes ?? 0)
                if want.isMet, inFlight != nil {
                    // The batch in flight may be all the visitor wants: hand it over before deciding on more.
                    if try !drain() { stopped = true; break }
                    want = batch(0, 0)
                }
                if pending.count >= max(1, min(want.frames, Vault.batchFramesMax)) || pendingBytes >= max(1, min(want.bytes, Vault.batchBytesMax)) {
                    if try !flush() { stopped = true; break }
                }
            }
        }
        // Frames before a problem come first (and may hold an earlier one).
        while !stopped && (!pending.isEmpty || inFlight != nil) { stopped = try !flush() }
        let tail = Tail(end: lastEnd, nextSeq: chain.expected, link: chain.prevLink)
        if stopped {
            // The visitor stopped on the last frame read and nothing follows it: that is the end of the file too.
            guard stoppedAtLast, problem == nil, reader.offset == reader.end else {
                return WalkResult(tornTailBytes: 0, tail: tail, reachedEnd: false)
            }
        } else if let problem {
            throw problem
        }
        try chain.checkFloor(atEnd: true)
        return WalkResult(tornTailBytes: torn, tail: tail, reachedEnd: true)
    }

    /// One batch of frames to decrypt, on this thread or in the background. `results` is written before the group is
    /// left and read only after waiting on it.
    private final class DecodeJob: @unchecked Sendable {
        let frames: [WalkedFrame]
        let vaultId: [UInt8]
        let state: KeyState
        let keyring: Keyring
        let parallel: Bool
        let keepPayloads: Bool
        let scanData: Bool
        let signatures: VerifiedSignatures?
        private var results: [Result<(Record, [UInt8]), any Error>] = []
        private let done = DispatchGroup()

        init(frames: [WalkedFrame], vaultId: [UInt8], state: KeyState, keyring: Keyring, parallel: Bool, keepPayloads: Bool,
             scanData: Bool, signatures: VerifiedSignatures?) {
            self.frames = frames; self.vaultId = vaultId; self.state = state; self.keyring = keyring
            self.parallel = parallel; self.keepPayloads = keepPayloads; self.scanData = scanData; self.signatures = signatures
        }

        func run() -> [Result<(Record, [UInt8]), any Error>] {
            Vault.openRecords(frames, vaultId: vaultId, state: state, keyring: keyring, parallel: parallel, keepPayloads: keepPayloads,
                              scanData: scanData, signatures: signatures)
        }

        func start() {
            done.enter()
            DispatchQueue.global().async { self.results = self.run(); self.done.leave() }
        }

        func wait() -> [Result<(Record, [UInt8]), any Error>] {
            done.wait()
            return results
        }
    }

    /// An interrupted append leaves a prefix of one frame. If the file instead ends in a complete, well-formed frame
    /// that the walk does not reach, the tail was crafted: refuse it (FORMAT.md §5.2), so that writers, which find
    /// the end from the trailer, and readers agree on where the log ends.
    static func refuseCraftedTail(_ reader: FrameReader, at offset: Int) throws {
        let end = reader.end
        let remaining = end - offset
        guard remaining >= RecordFrame.minimumLength,
              let l = RecordFrame.lengthFromTrailer(try reader.read(at: end - RecordFrame.trailerLength, count: RecordFrame.trailerLength)),
              l <= remaining,
              RecordFrame.seqIfValidHeader(try reader.read(at: end - l, count: RecordFrame.headerLength), length: l) != nil
        else { return }
        throw VaultError.corrupted("the file ends in a record frame that the record walk does not reach (at byte \(offset) it finds an incomplete frame): the file was altered")
    }

    // MARK: decryption

    /// Decrypts and checks frames, in parallel over every core when there are several (the chain was checked by the
    /// walk). One result per frame, in order. With `signatures`, a signature this process verified before is not
    /// verified again.
    static func openRecords(_ frames: [WalkedFrame], vaultId: [UInt8], state: KeyState, keyring: Keyring, parallel: Bool = true,
                            keepPayloads: Bool = false, scanData: Bool = false, signatures: VerifiedSignatures? = nil) -> [Result<(Record, [UInt8]), any Error>] {
        guard parallel, frames.count > 1, Vault.cores > 1 else {
            return frames.map { f in
                Result {
                    try Vault.openRecord(f, vaultId: vaultId, state: state, keyring: keyring, keepPayload: keepPayloads, scanData: scanData,
                                         signatures: signatures)
                }
            }
        }
        var results = [Result<(Record, [UInt8]), any Error>?](repeating: nil, count: frames.count)
        results.withUnsafeMutableBufferPointer { out in
            let job = ParallelOpen(frames: frames, vaultId: vaultId, state: state, keyring: keyring, keepPayloads: keepPayloads,
                                   scanData: scanData, signatures: signatures, out: out)
            DispatchQueue.concurrentPerform(iterations: frames.count) { i in job.run(i) }
        }
        return results.map { $0! }
    }

    /// One batch shared by the worker threads. Safe to share: everything it reads is immutable for the batch's life
    /// (keys are read-only guarded memory), and iteration i writes slot i of `out` alone.
    private struct ParallelOpen: @unchecked Sendable {
        let frames: [WalkedFrame]
        let vaultId: [UInt8]
        let state: KeyState
        let keyring: Keyring
        let keepPayloads: Bool
        let scanData: Bool
        let signatures: VerifiedSignatures?
        let out: UnsafeMutableBufferPointer<Result<(Record, [UInt8]), any Error>?>

        func run(_ i: Int) {
            out[i] = Result {
                try Vault.openRecord(frames[i], vaultId: vaultId, state: state, keyring: keyring, keepPayload: keepPayloads, scanData: scanData,
                                     signatures: signatures)
            }
        }
    }

    static let cores = max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))

    /// FORMAT.md §5.5–5.6 for one frame: decrypt, parse the payload, check the author's right and signature (through
    /// `signatures` when given: exactly these bytes verified before are not verified again). The payload's bytes come
    /// back only if asked (a re-encryption); else they are let go at once. With `scanData`, the record's data is
    /// scanned as JSON here (`Record.dataScan`), while it is still in this core's cache.
    static func openRecord(_ walked: WalkedFrame, vaultId: [UInt8], state: KeyState, keyring: Keyring, keepPayload: Bool,
                           scanData: Bool = false, signatures: VerifiedSignatures? = nil) throws -> (Record, [UInt8]) {
        guard let body = walked.body else { preconditionFailure("a frame to decrypt was walked without its body") }
        let n = walked.header.seq
        // Decrypted where the walk read it: the ciphertext is not copied out of the chunk first.
        // The walk read the whole frame into the chunk (FrameReader.window); past `count` lie a pooled buffer's stale bytes.
        precondition(body.index + walked.header.length <= body.chunk.count, "a frame to decrypt lies past its chunk's read bytes")
        let bytes = body.chunk.bytes
        let layout = try VaultError.parsing("record \(n)") { try RecordFrame.bodyLayout(bytes, at: body.index, header: walked.header) }
        let payloadBytes = try decrypt(header: walked.header, bytes, layout, vaultId: vaultId, keyring: keyring)
        let payload: RecordPayload.Layout
        do { payload = try RecordPayload.layout(payloadBytes) }
        catch FormatError.unsupportedType(let what) { throw VaultError.unsupported("record \(n): \(what) is not supported by this build") }
        catch { throw VaultError.tampered("record \(n) decrypts to a malformed payload") }
        guard let author = state.author(id: payload.authorId, seq: n) else {
            throw VaultError.tampered("record \(n) names an author who was not allowed to write at that position")
        }
        let message = RecordPayload.signatureMessage(vaultId: vaultId, seq: n, unsignedPayload: payloadBytes.dropLast(64))
        let valid = signatures?.verify(signature: payload.signature, message: message, publicKey: author.signPublicKey)
            ?? Ed25519.verify(signature: payload.signature, message: message, publicKey: author.signPublicKey)
        guard valid else {
            throw VaultError.tampered("record \(n)'s signature does not match its claimed author")
        }
        let record = { (data: [UInt8]) in
            Record(seq: n, type: payload.type, author: RecordAuthor(role: author.role.name, id: author.id), timeMillis: payload.timeMillis, data: data,
                   dataScan: scanData ? JSONDataScan.of(data) : nil)
        }
        guard keepPayload else { return (record(RecordPayload.takeData(consume payloadBytes, payload.data)), []) }
        return (record(Array(payloadBytes[payload.data])), payloadBytes)
    }

    /// FORMAT.md §5.1: the payload of the frame whose checked header is `header` and whose body lies in `bytes`
    /// at `layout` (`RecordFrame.bodyLayout`), decrypted in place under the epoch's record key (kind 1) or the
    /// record key sealed to the epoch's write key (kind 2).
    /// - Throws: `VaultError.notPermitted` (an epoch the reader does not hold), `.tampered` (authentication failed).
    static func decrypt(header: RecordFrame.Header, _ bytes: [UInt8],
                        _ layout: (sealedRecordKey: Range<Int>?, nonce: Range<Int>, ciphertext: Range<Int>),
                        vaultId: [UInt8], keyring: Keyring) throws -> [UInt8] {
        guard let keys = keyring.derived[header.epoch] else {
            throw VaultError.notPermitted("record \(header.seq) is under key epoch \(header.epoch), which this reader does not hold")
        }
        let sealedRecordKey = layout.sealedRecordKey.map { Array(bytes[$0]) }
        let fixedHeader = RecordFrame.fixedHeader(seq: header.seq, epoch: header.epoch, kind: header.kind, prevLink: header.prevLink,
                                                  frameLength: header.length)
        let ad = RecordFrame.associatedData(vaultId: vaultId, fixedHeader: fixedHeader, sealedRecordKey: sealedRecordKey)
        let nonce = Array(bytes[layout.nonce])
        do {
            switch header.kind {
            case .vaultKey:
                return try XChaCha20Poly1305.open(bytes, range: layout.ciphertext, key: keys.recordKey, nonce: nonce, ad: ad)
            case .sealed:
                let rk = try SealedBox.open(sealedRecordKey ?? [], keyPair: keys.writeKeyPair)
                return try XChaCha20Poly1305.open(bytes, range: layout.ciphertext, key: rk, nonce: nonce, ad: ad)
            }
        } catch {
            throw VaultError.tampered("record \(header.seq) failed authentication: it was altered, or belongs to another vault")
        }
    }
}

/// Which records a read returns: by type, by time (`from ≤ time < until`, milliseconds), internal ones only if asked.
struct RecordFilter {
    let types: Set<String>?
    let from: Int64?
    let until: Int64?
    let includeInternal: Bool

    init(types: Set<String>?, from: Int64?, until: Int64?, includeInternal: Bool) throws {
        if let from, let until, from > until { throw VaultError.invalidInput("the time range ends before it starts") }
        self.types = types; self.from = from; self.until = until; self.includeInternal = includeInternal
    }

    /// Whether the filters may skip many records (internal ones are few): a page then decrypts ahead in batches
    /// instead of about as many records as it still needs.
    var isSelective: Bool { types != nil || from != nil || until != nil }

    func matches(_ r: Record) -> Bool {
        if let types, !types.contains(r.type) { return false }
        if types == nil, !includeInternal, r.type.hasPrefix(Vault.internalTypePrefix) { return false }
        if let from, r.timeMillis < from { return false }
        if let until, r.timeMillis >= until { return false }
        return true
    }
}

extension Vault {
    /// Record types the vault itself writes (contact records, FORMAT.md §5.8); readers hide them unless asked.
    package static let internalTypePrefix = "mikata."
}
