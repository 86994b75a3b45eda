/// An AEAD-wrapped 32-byte key: XChaCha20-Poly1305 nonce plus ciphertext-and-tag (FORMAT.md §4.1).
package struct WrappedKey: Equatable, Sendable {
    package static let length = 24 + 32 + 16
    package var nonce: [UInt8]
    package var ciphertext: [UInt8]

    package init(nonce: [UInt8], ciphertext: [UInt8]) {
        precondition(nonce.count == 24 && ciphertext.count == 48, "WrappedKey holds a 32-byte key")
        self.nonce = nonce
        self.ciphertext = ciphertext
    }

    func write(to w: inout ByteWriter) { w.write(nonce); w.write(ciphertext) }
    static func read(from r: inout ByteReader) throws -> WrappedKey {
        WrappedKey(nonce: try r.read(24), ciphertext: try r.read(48))
    }
}

/// FORMAT.md §4.2: one key epoch. Each epoch key wraps its predecessor, so the current key opens all older ones.
package struct EpochEntry: Equatable, Sendable {
    package var epoch: UInt32
    /// The first record sequence number written under this epoch: later records may not use an older epoch.
    package var startSeq: UInt64
    /// X25519 public key for write-only records sealed to this epoch.
    package var writePublicKey: [UInt8]
    /// The previous epoch's key encrypted under this epoch's key; absent for the first epoch kept.
    package var previousKeyWrap: WrappedKey?

    package init(epoch: UInt32, startSeq: UInt64, writePublicKey: [UInt8], previousKeyWrap: WrappedKey?) {
        self.epoch = epoch; self.startSeq = startSeq; self.writePublicKey = writePublicKey; self.previousKeyWrap = previousKeyWrap
    }
}

package enum AuthorRole: UInt8, Sendable, CaseIterable {
    case patient = 1
    case supporter = 2
    case service = 3

    package var name: String {
        switch self {
        case .patient: return "patient"
        case .supporter: return "supporter"
        case .service: return "service"
        }
    }
}

/// FORMAT.md §4.3: everyone who may sign records, kept after revocation so older records still verify.
package struct Author: Equatable, Sendable {
    package static let notRevoked = UInt64.max
    package var id: [UInt8]
    package var role: AuthorRole
    package var signPublicKey: [UInt8]
    package var activeFromSeq: UInt64
    /// Records with seq >= this are rejected; `notRevoked` while active.
    package var revokedAtSeq: UInt64

    package init(id: [UInt8], role: AuthorRole, signPublicKey: [UInt8], activeFromSeq: UInt64, revokedAtSeq: UInt64 = Author.notRevoked) {
        self.id = id; self.role = role; self.signPublicKey = signPublicKey; self.activeFromSeq = activeFromSeq; self.revokedAtSeq = revokedAtSeq
    }

    package var isActive: Bool { revokedAtSeq == Self.notRevoked }
    package func mayWrite(seq: UInt64) -> Bool { seq >= activeFromSeq && seq < revokedAtSeq }
}

/// FORMAT.md §4.4: key slots. Each type is explicit; an unknown type is an error, never skipped.
package enum KeySlot: Equatable, Sendable {
    /// The patient's password: Argon2id(password, salt, ops, mem) wraps the owner key.
    case password(PasswordSlot)
    /// The recovery code shown once at creation: BLAKE2b-keyed(code) wraps the owner key.
    case recovery(RecoverySlot)
    /// A linked supporter: the current epoch key sealed to the supporter's X25519 public key.
    case supporter(SupporterSlot)

    package enum TypeCode: UInt8 {
        case password = 1
        case recovery = 2
        case supporter = 3
    }

    package var kindName: String {
        switch self {
        case .password: return "password"
        case .recovery: return "recovery"
        case .supporter: return "supporter"
        }
    }
}

package struct PasswordSlot: Equatable, Sendable {
    /// 1 = Argon2id v1.3 (crypto_pwhash_ALG_ARGON2ID13); the only algorithm of v1.
    package static let algorithmArgon2id: UInt8 = 1
    package var opsLimit: UInt64
    package var memLimit: UInt64
    package var salt: [UInt8]
    package var wrap: WrappedKey

    package init(opsLimit: UInt64, memLimit: UInt64, salt: [UInt8], wrap: WrappedKey) {
        self.opsLimit = opsLimit; self.memLimit = memLimit; self.salt = salt; self.wrap = wrap
    }

    /// The additional data binding the wrap to its vault and its parameters.
    package func associatedData(vaultId: [UInt8]) -> [UInt8] {
        var w = ByteWriter()
        w.write(VaultFormat.Label.passwordSlot); w.write(vaultId); w.writeU8(Self.algorithmArgon2id)
        w.writeU64(opsLimit); w.writeU64(memLimit); w.write(salt)
        return w.bytes
    }
}

package struct RecoverySlot: Equatable, Sendable {
    package var salt: [UInt8]
    package var wrap: WrappedKey

    package init(salt: [UInt8], wrap: WrappedKey) { self.salt = salt; self.wrap = wrap }

    package func associatedData(vaultId: [UInt8]) -> [UInt8] {
        var w = ByteWriter()
        w.write(VaultFormat.Label.recoverySlot); w.write(vaultId); w.write(salt)
        return w.bytes
    }
}

package struct SupporterSlot: Equatable, Sendable {
    package static let sealedLength = 32 + 48
    package var supporterId: [UInt8]
    package var boxPublicKey: [UInt8]
    package var epoch: UInt32
    package var sealedEpochKey: [UInt8]

    package init(supporterId: [UInt8], boxPublicKey: [UInt8], epoch: UInt32, sealedEpochKey: [UInt8]) {
        self.supporterId = supporterId; self.boxPublicKey = boxPublicKey; self.epoch = epoch; self.sealedEpochKey = sealedEpochKey
    }
}

/// FORMAT.md §4: the key state, the signed body of a header copy. Only the patient's owner key signs it,
/// so nobody else (supporters, services, anyone with the disk) can grant, revoke or re-key.
package struct KeyState: Equatable, Sendable {
    package var vaultId: [UInt8]
    package var generation: UInt64
    package var ownerPublicKey: [UInt8]
    package var createdAtMillis: Int64
    /// The owner's Ed25519 seed, wrapped under the owner key.
    package var ownerSecret: WrappedKey
    /// Records known to exist when this state was signed: truncating below this is detected.
    package var recordFloorCount: UInt64
    package var recordFloorLink: [UInt8]
    package var epochs: [EpochEntry]
    /// The current epoch's key wrapped under the owner key.
    package var currentEpochKeyWrap: WrappedKey
    package var authors: [Author]
    package var slots: [KeySlot]
    package var signature: [UInt8]

    package init(vaultId: [UInt8], generation: UInt64, ownerPublicKey: [UInt8], createdAtMillis: Int64, ownerSecret: WrappedKey,
                 recordFloorCount: UInt64, recordFloorLink: [UInt8], epochs: [EpochEntry], currentEpochKeyWrap: WrappedKey,
                 authors: [Author], slots: [KeySlot], signature: [UInt8] = []) {
        self.vaultId = vaultId; self.generation = generation; self.ownerPublicKey = ownerPublicKey; self.createdAtMillis = createdAtMillis
        self.ownerSecret = ownerSecret; self.recordFloorCount = recordFloorCount; self.recordFloorLink = recordFloorLink
        self.epochs = epochs; self.currentEpochKeyWrap = currentEpochKeyWrap; self.authors = authors; self.slots = slots
        self.signature = signature
    }

    package var currentEpoch: EpochEntry { epochs[epochs.count - 1] }

    /// The author entry permitted to write at `seq`, if any.
    package func author(id: [UInt8], seq: UInt64) -> Author? { authors.first { $0.id == id && $0.mayWrite(seq: seq) } }

    /// The active entry of an author, if any.
    package func activeAuthor(id: [UInt8]) -> Author? { authors.first { $0.id == id && $0.isActive } }

    package var supporterSlots: [SupporterSlot] {
        slots.compactMap { if case .supporter(let s) = $0 { return s } else { return nil } }
    }
    package var passwordSlot: PasswordSlot? {
        for s in slots { if case .password(let p) = s { return p } }
        return nil
    }
    package var recoverySlot: RecoverySlot? {
        for s in slots { if case .recovery(let p) = s { return p } }
        return nil
    }

    /// The epoch in force at `seq`: records at or after an epoch's startSeq must use that epoch or a later one.
    package func minimumEpoch(forSeq seq: UInt64) -> UInt32 {
        var e = epochs[0].epoch
        for entry in epochs where entry.startSeq <= seq { e = entry.epoch }
        return e
    }

    package func epochEntry(_ epoch: UInt32) -> EpochEntry? { epochs.first { $0.epoch == epoch } }

    /// The body without its signature.
    package func unsignedBody() -> [UInt8] {
        var w = ByteWriter(capacity: 1024)
        w.write(vaultId); w.writeU64(generation); w.write(ownerPublicKey); w.writeI64(createdAtMillis)
        ownerSecret.write(to: &w)
        w.writeU64(recordFloorCount); w.write(recordFloorLink)
        w.writeU16(UInt16(epochs.count))
        for e in epochs {
            w.writeU32(e.epoch); w.writeU64(e.startSeq); w.write(e.writePublicKey)
            if let p = e.previousKeyWrap { w.writeU8(1); p.write(to: &w) } else { w.writeU8(0) }
        }
        currentEpochKeyWrap.write(to: &w)
        w.writeU16(UInt16(authors.count))
        for a in authors {
            w.write(a.id); w.writeU8(a.role.rawValue); w.write(a.signPublicKey); w.writeU64(a.activeFromSeq); w.writeU64(a.revokedAtSeq)
        }
        w.writeU16(UInt16(slots.count))
        for slot in slots {
            var s = ByteWriter()
            let code: KeySlot.TypeCode
            switch slot {
            case .password(let p):
                code = .password
                s.writeU8(PasswordSlot.algorithmArgon2id); s.writeU64(p.opsLimit); s.writeU64(p.memLimit); s.write(p.salt); p.wrap.write(to: &s)
            case .recovery(let r):
                code = .recovery
                s.write(r.salt); r.wrap.write(to: &s)
            case .supporter(let sp):
                code = .supporter
                s.write(sp.supporterId); s.write(sp.boxPublicKey); s.writeU32(sp.epoch); s.write(sp.sealedEpochKey)
            }
            w.writeU8(code.rawValue); w.writeVariable16(s.bytes)
        }
        return w.bytes
    }

    /// What the owner signs: a label, then the unsigned body.
    package func signedMessage() -> [UInt8] {
        var w = ByteWriter(capacity: 1100)
        w.write(VaultFormat.Label.headerSignature); w.write(unsignedBody())
        return w.bytes
    }

    package func serialize() -> [UInt8] {
        precondition(signature.count == 64, "KeyState must be signed before serialising")
        return unsignedBody() + signature
    }

    /// Parses a key state and checks its structural invariants (FORMAT.md §4.5). Signature checks are the vault's.
    package static func parse(_ body: [UInt8]) throws -> KeyState {
        var r = ByteReader(body, context: "key state")
        let vaultId = try r.read(16)
        let generation = try r.readU64()
        let ownerPK = try r.read(32)
        let created = try r.readI64()
        let ownerSecret = try WrappedKey.read(from: &r)
        let floorCount = try r.readU64()
        let floorLink = try r.read(32)
        let epochCount = Int(try r.readU16())
        guard epochCount >= 1, epochCount <= VaultFormat.maxEpochs else { throw FormatError.limitExceeded("key state: \(epochCount) epochs (1 to \(VaultFormat.maxEpochs) allowed)") }
        var epochs: [EpochEntry] = []
        for _ in 0..<epochCount {
            let e = try r.readU32(); let start = try r.readU64(); let wpk = try r.read(32)
            let flag = try r.readU8()
            let prev: WrappedKey?
            switch flag {
            case 0: prev = nil
            case 1: prev = try WrappedKey.read(from: &r)
            default: throw FormatError.invalidField("key state: epoch \(e) has an invalid wrap flag")
            }
            if let last = epochs.last {
                guard e > last.epoch else { throw FormatError.invalidField("key state: epochs not strictly increasing (duplicate epoch \(e)?)") }
                guard start >= last.startSeq else { throw FormatError.invalidField("key state: epoch \(e) starts before its predecessor") }
                guard prev != nil else { throw FormatError.invalidField("key state: epoch \(e) does not wrap its predecessor") }
            }
            epochs.append(EpochEntry(epoch: e, startSeq: start, writePublicKey: wpk, previousKeyWrap: prev))
        }
        let currentWrap = try WrappedKey.read(from: &r)
        let authorCount = Int(try r.readU16())
        guard authorCount >= 1, authorCount <= VaultFormat.maxAuthors else { throw FormatError.limitExceeded("key state: \(authorCount) authors") }
        var authors: [Author] = []
        for _ in 0..<authorCount {
            let id = try r.read(16)
            let roleCode = try r.readU8()
            guard let role = AuthorRole(rawValue: roleCode) else { throw FormatError.unsupportedType("author role \(roleCode)") }
            let pk = try r.read(32); let from = try r.readU64(); let revoked = try r.readU64()
            guard from <= revoked else { throw FormatError.invalidField("key state: author revoked before it was added") }
            // An id may appear again after a revocation (re-granted), never with overlapping ranges.
            guard !authors.contains(where: { $0.id == id && !($0.revokedAtSeq <= from) }) else {
                throw FormatError.invalidField("key state: an author id appears twice with overlapping ranges")
            }
            authors.append(Author(id: id, role: role, signPublicKey: pk, activeFromSeq: from, revokedAtSeq: revoked))
        }
        guard authors[0].role == .patient, authors[0].id == vaultId, authors[0].signPublicKey == ownerPK, authors[0].isActive,
              authors.dropFirst().allSatisfy({ $0.role != .patient })
        else { throw FormatError.invalidField("key state: the first author must be the patient, and only the first") }
        let slotCount = Int(try r.readU16())
        guard slotCount <= VaultFormat.maxSlots else { throw FormatError.limitExceeded("key state: \(slotCount) slots") }
        var slots: [KeySlot] = []
        for _ in 0..<slotCount {
            let code = try r.readU8()
            let content = try r.readVariable16(max: 1024)
            var s = ByteReader(content, context: "key slot")
            guard let type = KeySlot.TypeCode(rawValue: code) else { throw FormatError.unsupportedType("key slot type \(code)") }
            switch type {
            case .password:
                let alg = try s.readU8()
                guard alg == PasswordSlot.algorithmArgon2id else { throw FormatError.unsupportedType("password slot algorithm \(alg)") }
                let ops = try s.readU64(); let mem = try s.readU64(); let salt = try s.read(16); let wrap = try WrappedKey.read(from: &s)
                slots.append(.password(PasswordSlot(opsLimit: ops, memLimit: mem, salt: salt, wrap: wrap)))
            case .recovery:
                let salt = try s.read(16); let wrap = try WrappedKey.read(from: &s)
                slots.append(.recovery(RecoverySlot(salt: salt, wrap: wrap)))
            case .supporter:
                let id = try s.read(16); let pk = try s.read(32); let e = try s.readU32(); let sealed = try s.read(SupporterSlot.sealedLength)
                slots.append(.supporter(SupporterSlot(supporterId: id, boxPublicKey: pk, epoch: e, sealedEpochKey: sealed)))
            }
            try s.expectEnd()
        }
        let signature = try r.read(64)
        try r.expectEnd()
        let state = KeyState(vaultId: vaultId, generation: generation, ownerPublicKey: ownerPK, createdAtMillis: created, ownerSecret: ownerSecret,
                             recordFloorCount: floorCount, recordFloorLink: floorLink, epochs: epochs, currentEpochKeyWrap: currentWrap,
                             authors: authors, slots: slots, signature: signature)
        try state.checkSlots()
        return state
    }

    /// FORMAT.md §4.5: exactly one password slot, at most one recovery slot, one slot per supporter, each for
    /// the current epoch and backed by an active supporter author entry.
    package func checkSlots() throws {
        var passwords = 0, recoveries = 0
        var seen: [[UInt8]] = []
        for slot in slots {
            switch slot {
            case .password: passwords += 1
            case .recovery: recoveries += 1
            case .supporter(let s):
                guard !seen.contains(s.supporterId) else { throw FormatError.invalidField("key state: two slots for one supporter") }
                seen.append(s.supporterId)
                guard s.epoch == currentEpoch.epoch else { throw FormatError.invalidField("key state: a supporter slot is not for the current epoch") }
                guard let a = activeAuthor(id: s.supporterId), a.role == .supporter else {
                    throw FormatError.invalidField("key state: a supporter slot has no active supporter author")
                }
            }
        }
        guard passwords == 1 else { throw FormatError.invalidField("key state: \(passwords) password slots (exactly 1 required)") }
        guard recoveries <= 1 else { throw FormatError.invalidField("key state: \(recoveries) recovery slots (at most 1 allowed)") }
    }
}
