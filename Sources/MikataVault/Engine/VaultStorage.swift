import MikataCrypto
import MikataFormat

/// The byte level of a vault (docs/ARCHITECTURE.md, "Storage protocols"): the lock and the check that the medium
/// is still the vault's current object, the header copies (read, pick, refresh, repair, write B then A), the tail
/// where the next frame goes, and whole-content replacement. Vault.swift holds the key and epoch logic above it.
extension Vault {
    struct LoadedHeader {
        var preamble: Preamble
        var state: KeyState
        var copyGenerations: [UInt64?]
        var agree: Bool
        var copyErrors: [VaultError?]
    }

    /// Reads the preamble and both header copies; picks the highest valid generation (FORMAT.md §3.2).
    static func loadHeader(medium: any VaultMedium) throws -> LoadedHeader {
        let head = try medium.read(at: 0, count: VaultFormat.preambleLength)
        let preamble = try VaultError.parsing("vault file") { try Preamble.parse(head) }
        let copies = try medium.read(at: VaultFormat.preambleLength, count: 2 * preamble.headerCopyLength)
        guard copies.count == 2 * preamble.headerCopyLength else { throw VaultError.corrupted("vault file is truncated inside its header area") }
        var states: [KeyState?] = [nil, nil]
        var errors: [VaultError?] = [nil, nil]
        var generations: [UInt64?] = [nil, nil]
        let identical = copies[0..<preamble.headerCopyLength] == copies[preamble.headerCopyLength...]
        for i in 0..<2 {
            if i == 1 && identical && states[0] != nil {
                // Byte-identical copies (the normal case): one parse and one signature check serve both.
                states[1] = states[0]; generations[1] = generations[0]
                continue
            }
            let slice = copies[(i * preamble.headerCopyLength)..<((i + 1) * preamble.headerCopyLength)]
            do {
                let copy = try VaultError.parsing("header copy \(i == 0 ? "A" : "B")") { try HeaderCopy.parse(slice) }
                generations[i] = copy.generation
                let s = try VaultError.parsing("header copy \(i == 0 ? "A" : "B")") { try KeyState.parse(copy.body) }
                try verifyKeyState(s, preamble: preamble, generation: copy.generation, name: i == 0 ? "A" : "B")
                states[i] = s
            } catch let e as VaultError {
                errors[i] = e
            }
        }
        let candidates = [0, 1].compactMap { i in states[i].map { (i, $0) } }
        guard let best = candidates.max(by: { $0.1.generation < $1.1.generation }) else {
            // Prefer the cryptographic failure: it is the more serious and more precise finding.
            if let t = errors.first(where: { if case .tampered = $0 { return true } else { return false } }) { throw t! }
            throw errors[0] ?? errors[1] ?? VaultError.corrupted("no valid header copy")
        }
        let agree = candidates.count == 2 && states[0] == states[1]
        return LoadedHeader(preamble: preamble, state: best.1, copyGenerations: generations, agree: agree, copyErrors: errors)
    }

    /// Runs `body` under the vault's flock. A writer that replaced the file by rename while we waited is noticed
    /// (the path's inode changed) and the new file is opened instead.
    func locked<R>(exclusive: Bool, _ body: () throws -> R) throws -> R {
        while true {
            try medium.lock(exclusive: exclusive, timeout: lockTimeout)
            let current: Bool
            do { current = try medium.isCurrent() } catch {
                medium.unlock()
                if case VaultError.notFound = error { throw VaultError.notFound("vault file not found (shredded or moved?)") }
                throw error
            }
            if current { break }
            medium.unlock()
            // A new file at the path: check the erasure secret first, adopt the file only then.
            if let erasureSecrets {
                guard let f = try erasureSecrets.secret(of: vaultId) else {
                    throw VaultError.erased("the vault's erasure secret is gone (shredded): it cannot be opened")
                }
                guard f.vaultId == vaultId else { throw VaultError.corrupted("the erasure secret file belongs to another vault") }
                if !(f.secret == erasureSecret) { erasureSecret = f.secret }
            }
            medium = try medium.reopened()
            tail = nil
            copyGenerations = [nil, nil]
        }
        defer { medium.unlock() }
        try refreshHeader()
        if exclusive && !headerCopiesAgree { try repairHeaderCopies() }
        return try body()
    }

    /// After an interrupted key change or a damaged copy, the first writer rewrites both copies from the state in
    /// force (same generation), so a single copy is never all that stands between the patient and their vault.
    func repairHeaderCopies() throws {
        let copy = try VaultError.parsing("header repair") {
            try HeaderCopy(generation: state.generation, body: state.serialize()).serialize(copyLength: preamble.headerCopyLength)
        }
        for i in [1, 0] {
            try medium.writeHeaderCopy(copy, at: preamble.headerCopyOffset(i))
            try medium.syncData()
        }
        copyGenerations = [state.generation, state.generation]
        headerCopiesAgree = true
    }

    /// Re-reads the header only if a copy's generation changed (12 bytes per copy): appends stay cheap.
    func refreshHeader() throws {
        var current: [UInt64?] = []
        for i in 0..<2 {
            current.append(HeaderCopy.claimedGeneration(try medium.read(at: preamble.headerCopyOffset(i), count: HeaderCopy.generationPrefixLength)))
        }
        if current == copyGenerations && current[0] != nil { return }
        // Check before adopting: a refused (rolled-back) header must never become this handle's state.
        let loaded = try Vault.loadHeader(medium: medium)
        guard loaded.preamble.vaultId == vaultId else { throw VaultError.tampered("the vault file now belongs to another vault") }
        try checkGeneration(of: loaded.state)
        preamble = loaded.preamble
        state = loaded.state
        copyGenerations = loaded.copyGenerations
        headerCopiesAgree = loaded.agree
        tail = nil
    }

    /// The end of the last complete frame (FORMAT.md §5.4): from the trailer at the end of the file when it is
    /// intact, else by a scan that also cuts off a torn tail. Needs the exclusive lock.
    func currentTail() throws -> Tail {
        let size = try medium.size()
        if let t = tail, t.end == size { return t }
        let start = preamble.recordsOffset
        guard size >= start else { throw VaultError.corrupted("vault file is truncated inside its header area") }
        if size == start {
            let t = Tail(end: size, nextSeq: 0, link: VaultFormat.genesisLink(vaultId: vaultId))
            tail = t
            return t
        }
        if size - start >= RecordFrame.minimumLength,
           let length = RecordFrame.lengthFromTrailer(try medium.read(at: size - RecordFrame.trailerLength, count: RecordFrame.trailerLength)),
           length <= size - start {
            // Only the last frame's header and its tag are needed for the link: 96 bytes, whatever the record's size.
            // The frame must also follow the one before it (or the genesis), so a frame-shaped run of bytes inside a
            // torn tail is not taken for the end of the log (FORMAT.md §5.4).
            let head = try medium.read(at: size - length, count: RecordFrame.headerLength)
            let end = try medium.read(at: size - RecordFrame.trailerLength - RecordFrame.tagLength, count: RecordFrame.tagLength)
            if let seq = RecordFrame.seqIfValidHeader(head, length: length), seq < UInt64.max, seq + 1 >= state.recordFloorCount,
               try frameFollowsItsPredecessor(head: head, seq: seq, at: size - length) {
                let t = Tail(end: size, nextSeq: seq + 1, link: VaultFormat.link(fixedHeader: head[0..<RecordFrame.fixedHeaderLength], tag: end[...]))
                tail = t
                return t
            }
        }
        // Slow path: structural scan from the first record; a torn tail is cut off so the append lands after the
        // last complete frame.
        let result = try walkFile(from: nil, keyring: nil, decryptFrom: 0)
        if result.tornTailBytes > 0 {
            try medium.truncate(to: result.tail.end)
            try medium.syncData()
        }
        tail = result.tail
        return result.tail
    }

    /// Whether the frame at `offset` (header `head`, sequence `seq`) chains to the frame that ends where it starts,
    /// or to the genesis if it is the first: two more small reads.
    func frameFollowsItsPredecessor(head: [UInt8], seq: UInt64, at offset: Int) throws -> Bool {
        let prevLink = Array(head[24..<56])
        let start = preamble.recordsOffset
        if offset == start { return seq == 0 && prevLink == VaultFormat.genesisLink(vaultId: vaultId) }
        guard seq > 0, offset - start >= RecordFrame.minimumLength,
              let length = RecordFrame.lengthFromTrailer(try medium.read(at: offset - RecordFrame.trailerLength, count: RecordFrame.trailerLength)),
              length <= offset - start
        else { return false }
        let prevHead = try medium.read(at: offset - length, count: RecordFrame.headerLength)
        let prevTag = try medium.read(at: offset - RecordFrame.trailerLength - RecordFrame.tagLength, count: RecordFrame.tagLength)
        guard let prevSeq = RecordFrame.seqIfValidHeader(prevHead, length: length), prevSeq == seq - 1 else { return false }
        return VaultFormat.link(fixedHeader: prevHead[0..<RecordFrame.fixedHeaderLength], tag: prevTag[...]) == prevLink
    }

    /// Signs and writes a new key state: copy B, fsync, copy A, fsync, then the store's generation record.
    /// A crash leaves the old state or the new one (the highest valid generation wins).
    /// Returns an undo for the caller's last step (its access-log entry): if that fails, the change is taken back,
    /// so no command reports failure for a change that stays in force.
    @discardableResult
    func commit(_ next: KeyState, signing: SigningKeyPair) throws -> () -> Void {
        var s = next
        s.generation = state.generation + 1
        s.signature = signing.sign(s.signedMessage())
        let body = s.serialize()
        // Never write a key state that readers would refuse: parse what is about to be written.
        _ = try VaultError.parsing("new key state") { try KeyState.parse(body) }
        if body.count > HeaderCopy.capacity(copyLength: preamble.headerCopyLength) {
            // Rare: the header area is full (many supporters or epochs). Rewrite the file once with copies twice
            // as large; records are copied as they are, so this stays a copy, not a re-encryption.
            var length = preamble.headerCopyLength
            while body.count > HeaderCopy.capacity(copyLength: length) { length *= 2 }
            guard length <= VaultFormat.headerCopyLengthMax else {
                throw VaultError.invalidInput("the key state exceeds the largest header area; revoke unused supporters with --reencrypt")
            }
            let t = try currentTail()
            let frames = try medium.read(at: preamble.recordsOffset, count: t.end - preamble.recordsOffset)
            try replaceFile(state: s, copyLength: length, frames: frames)
            return {}
        }
        let copy = try HeaderCopy(generation: s.generation, body: body).serialize(copyLength: preamble.headerCopyLength)
        // Exclusive operations start from agreeing copies (see `locked`), so the old copy is the old state.
        let oldState = state
        let oldCopy = try VaultError.parsing("old header") {
            try HeaderCopy(generation: oldState.generation, body: oldState.serialize()).serialize(copyLength: preamble.headerCopyLength)
        }
        let oldGeneration = anchor.serialize(oldState)
        // Undo: the old generation record first; only once that is durable, the old header copies. If the record
        // cannot be put back, the new state stays in force (consistent either way) and the error says so.
        let undo: () -> Bool = { [self] in
            defer { copyGenerations = [nil, nil]; tail = nil; state = oldState }
            guard (try? anchor.record.replace(with: oldGeneration)) != nil else { return false }
            for i in [1, 0] { try? medium.writeHeaderCopy(oldCopy, at: preamble.headerCopyOffset(i)) }
            return (try? medium.syncData()) != nil
        }
        do {
            try medium.writeHeaderCopy(copy, at: preamble.headerCopyOffset(1))
            try medium.syncData()
            try medium.writeHeaderCopy(copy, at: preamble.headerCopyOffset(0))
            try medium.syncData()
            try anchor.write(s)
        } catch {
            if undo() { throw error }
            throw VaultError.io("\(error); the key change may have taken effect: check with 'mikata vault inspect'")
        }
        state = s
        copyGenerations = [s.generation, s.generation]
        headerCopiesAgree = true
        return { _ = undo() }
    }

    /// Writes preamble, both header copies of a signed `next` state, and `frames` to a temporary, then renames it
    /// over the vault: a crash leaves the old file or the new one. Processes waiting for the lock on the old inode
    /// notice the new one (see `locked`).
    func replaceFile(state next: KeyState, copyLength: Int, frames: [UInt8]) throws {
        let newPreamble = Preamble(headerCopyLength: copyLength, vaultId: vaultId, vaultSalt: preamble.vaultSalt)
        let copy = try VaultError.parsing("new header") {
            try HeaderCopy(generation: next.generation, body: next.serialize()).serialize(copyLength: copyLength)
        }
        // The new file is locked before it gets its name, so the rest of this operation (e.g. a re-encryption after
        // a header growth) still runs under the lock, and no other writer slips in between.
        medium = try medium.replacing(with: newPreamble.serialize() + copy + copy + frames)
        preamble = newPreamble
        state = next
        copyGenerations = [next.generation, next.generation]
        headerCopiesAgree = true
        tail = nil
        try anchor.write(next)
    }
}
