import Foundation
import Testing
import PropertyBased
@testable import MikataVault
import MikataFormat
import MikataCrypto

/// Random sequences of grants, revocations, appends, snapshots and intrusions, checked against a reference model
/// of who may read and change what (SECURITY.md, "Actors"). Supporters S0...S2 and one write-only service act on
/// one patient's vault per sequence, each through their own long-lived handle, as separate processes would.
@Suite("Access-rule properties")
struct PropertyTests {
    @Test("random operation sequences keep the access rules of the reference model")
    func accessRules() async throws {
        let world = try AccessWorld()
        await propertyCheck(count: 200, input: AccessOp.generator.array(of: 5...30), Gen.bool(0.25)) { ops, shred in
            // propertyCheck does not report thrown errors: turn them into issues.
            do { try world.run(ops, shred: shred) } catch { Issue.record("sequence threw \(error)") }
        }
        // The generator reached the interesting cases, not just trivial sequences.
        let c = world.coverage
        if ProcessInfo.processInfo.environment["MIKATA_PROPERTY_TRACE"] == "1" { print("COVERAGE \(c)") }
        #expect(c.closedRecordChecks > 50, "records written after a snapshot holder's revocation, checked against their saved keys")
        #expect(c.rollbacks > 10 && c.shreds > 10 && c.reencryptions > 10 && c.regrants > 10 && c.refusedIntrusions > 10, "\(c)")
    }

    @Test("unlocking through a handle opened earlier answers from the current header, not the one cached at open")
    func staleHandleUnlock() throws {
        let s = try Scratch()
        let (vault, _) = try s.patient()
        let (keys, nurse) = try s.supporter("nurse@example.jp")
        let (laterKeys, later) = try s.supporter("later@example.jp")
        let patient = try vault.unlock(password: pw("patient-pw"))
        try vault.grant(keys, session: patient)
        let service = ServiceIdentity.generate()
        try vault.authorize(service: service.id, signPublicKey: service.signPublicKey, session: patient)
        // Handles kept open, as a server or a client that stays running would keep them.
        let handles = try (0..<6).map { _ in try s.store.openVault(email: "patient@example.jp") }
        try vault.revoke(keys.id, session: patient)
        try vault.revoke(service.id, session: patient)
        try vault.grant(laterKeys, session: patient)
        try vault.changePassword(to: pw("new-pw"), kdf: .minimumForTesting, session: patient)
        try vault.append(type: "dose", data: json(#""after the password change""#), session: patient)
        // A handle opened now answers every question right.
        let fresh = try s.store.openVault(email: "patient@example.jp")
        #expect(failureClass { _ = try fresh.unlock(supporter: nurse) } == "not-permitted")
        #expect(failureClass { _ = try fresh.session(service: service) } == "not-permitted")
        #expect(failureClass { _ = try fresh.unlock(supporter: later) } == "ok")
        #expect(failureClass { _ = try fresh.unlock(password: pw("patient-pw")) } == "authentication-failed")
        // Reading through an old handle re-reads the header under the lock: the revoked nurse still reads nothing.
        #expect(failureClass { _ = try handles[5].records(handles[5].unlock(supporter: nurse)) } == "not-permitted")
        // Unlocking answers from the header as it is now, not as the handle first saw it (this was a bug: unlock and
        // session(service:) used the key state cached at open, so a revoked supporter or service got a session, a newly
        // linked supporter was refused, and the replaced password unlocked a full owner session).
        #expect(failureClass { _ = try handles[0].unlock(supporter: nurse) } == "not-permitted")
        #expect(failureClass { _ = try handles[1].session(service: service) } == "not-permitted")
        #expect(failureClass { _ = try handles[2].unlock(supporter: later) } == "ok", "a newly linked supporter is refused")
        #expect(failureClass { _ = try handles[3].unlock(password: pw("patient-pw")) } == "authentication-failed", "the replaced password unlocks")
        #expect(failureClass { _ = try handles[4].records(handles[4].unlock(password: pw("patient-pw"))) } == "authentication-failed",
                "the replaced password reads the vault")
    }
}

// MARK: - operations

/// One step of a sequence. Supporters are 0...2; `intrude(3)` is the service.
enum AccessOp: Sendable, Equatable, CustomStringConvertible {
    case grant(Int)
    case revoke(Int, reencrypt: Bool)
    case appendPatient
    case appendSupporter(Int)
    case appendService
    case authorizeService
    case revokeService(reencrypt: Bool)
    /// A linked supporter saves the vault file and the keys they hold.
    case snapshot(Int)
    /// A supporter or the service tries every slot change: grant, revoke, password change, service authorisation.
    case intrude(Int)

    /// The weighted menu the generator draws from; shrinking moves towards its first entries.
    static let menu: [AccessOp] = [
        .grant(0), .grant(1), .grant(2), .grant(0), .grant(1), .grant(2),
        .appendPatient, .appendPatient, .appendPatient,
        .appendSupporter(0), .appendSupporter(1), .appendSupporter(2),
        .revoke(0, reencrypt: false), .revoke(1, reencrypt: false), .revoke(2, reencrypt: false),
        .revoke(0, reencrypt: true), .revoke(1, reencrypt: true), .revoke(2, reencrypt: true),
        .snapshot(0), .snapshot(1), .snapshot(2),
        .authorizeService, .appendService, .appendService, .revokeService(reencrypt: false), .revokeService(reencrypt: true),
        .intrude(0), .intrude(1), .intrude(2), .intrude(3),
    ]

    static var generator: Generator<AccessOp, Shrink.Integer<Int>> {
        Gen.int(in: 0...(menu.count - 1)).map { menu[$0] }
    }

    var description: String {
        switch self {
        case .grant(let i): return "grant(S\(i))"
        case .revoke(let i, let r): return "revoke(S\(i)\(r ? ", reencrypt" : ""))"
        case .appendPatient: return "append(patient)"
        case .appendSupporter(let i): return "append(S\(i))"
        case .appendService: return "append(service)"
        case .authorizeService: return "authorize(service)"
        case .revokeService(let r): return "revoke(service\(r ? ", reencrypt" : ""))"
        case .snapshot(let i): return "snapshot(S\(i))"
        case .intrude(let i): return i < 3 ? "intrude(S\(i))" : "intrude(service)"
        }
    }
}

// MARK: - the reference model

struct ModelRecord {
    var data: [UInt8]
    var author: String
    /// The key epoch the record is encrypted under now (re-encryption moves every record to the current epoch).
    var epoch: UInt32
}

struct AccessModel {
    var linked: Set<Int> = []
    /// Everyone who was ever authorised: revoking them again is a no-op, revoking anyone else is "not found".
    var everLinked: Set<Int> = []
    var serviceActive = false
    var serviceEverAuthorised = false
    var records: [ModelRecord] = []
    var epoch: UInt32 = 1
    /// The epochs the header keeps: all since the last re-encryption.
    var headerEpochs: [UInt32] = [1]
    /// Supporter revocations, with the number of records that existed at the time.
    var revocations: [(supporter: Int, atRecord: Int)] = []

    mutating func newEpoch(reencrypt: Bool) {
        epoch += 1
        if reencrypt {
            headerEpochs = [epoch]
            for i in records.indices { records[i].epoch = epoch }
        } else {
            headerEpochs.append(epoch)
        }
    }
}

/// What a linked supporter walked away with: the vault file and the keys their session held.
struct AccessSnapshot {
    var supporter: Int
    var bytes: [UInt8]
    var keyring: Keyring
    var recordCount: Int
    var generation: UInt64
    /// How many revocations had happened when the snapshot was taken.
    var revocationsBefore: Int
}

// MARK: - the world: one store for all sequences

final class AccessWorld {
    let directory: String
    let store: Store
    let supporters: [(keys: SupporterPublicKeys, identity: SupporterIdentity)]
    let service: ServiceIdentity
    private var sequences = 0

    /// How often each interesting situation came up, over all sequences.
    struct Coverage {
        var closedRecordChecks = 0, rollbacks = 0, shreds = 0, reencryptions = 0, regrants = 0, refusedIntrusions = 0
    }
    var coverage = Coverage()

    init() throws {
        // Memory-backed when possible: a sequence does hundreds of fsyncs.
        directory = AdversarialCorpus.temporaryDirectory("mikata-property")
        let store = try Store.initialize(at: directory).0
        store.kdf = .minimumForTesting
        store.headerCopyLength = VaultFormat.headerCopyLengthMin
        self.store = store
        supporters = try (0..<3).map { i in
            let keys = try store.createSupporter(email: "s\(i)@example.jp", name: "S\(i)", password: pw("s\(i)"))
            return (keys, try store.unlockSupporter(email: "s\(i)@example.jp", password: pw("s\(i)")))
        }
        service = ServiceIdentity.generate()
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    func run(_ ops: [AccessOp], shred: Bool) throws {
        sequences += 1
        let run = try AccessRun(world: self, email: "p\(sequences)@example.jp")
        for (step, op) in ops.enumerated() {
            try run.apply(op)
            try run.checkAccess(after: "\(step): \(op)")
        }
        try run.checkFinal()
        if shred { try run.shredAndCheck() }
    }
}

// MARK: - one sequence

final class AccessRun {
    let world: AccessWorld
    let email: String
    let vaultId: [UInt8]
    let patientVault: Vault
    let patient: VaultSession
    /// Each actor's own handle and session, opened when they first get access (as a new process would) and kept from
    /// then on, so every later header change reaches them through the handle's refresh.
    var supporterVaults: [Vault?] = [nil, nil, nil]
    var supporterSessions: [VaultSession?] = [nil, nil, nil]
    var serviceVault: Vault?
    var serviceSession: VaultSession?
    var model = AccessModel()
    var snapshots: [AccessSnapshot] = []
    private var counter = 0

    init(world: AccessWorld, email: String) throws {
        self.world = world
        self.email = email
        let id = try world.store.createPatient(email: email, nickname: "Nick", password: pw("pw")).vaultId
        vaultId = id
        patientVault = try Self.open(world.store, id)
        patient = try patientVault.unlock(password: pw("pw"))
        let profile = try patientVault.records(patient)
        model.records = profile.map { ModelRecord(data: $0.data, author: "patient", epoch: 1) }
    }

    /// A handle without the access log: this suite checks access rules, not logging, and logs cost an fsync each.
    static func open(_ store: Store, _ id: [UInt8]) throws -> Vault {
        let vault = try store.openVault(id: id)
        vault.audit = nil
        return vault
    }

    var path: String { world.store.vaultPath(vaultId) }
    var generationPath: String { world.store.generationPath(vaultId) }
    func fileBytes() throws -> [UInt8] { try AdversarialFile.read(path) }
    func generationBytes() throws -> [UInt8] { try AdversarialFile.read(generationPath) }
    func identity(_ i: Int) -> SupporterIdentity { world.supporters[i].identity }
    func keys(_ i: Int) -> SupporterPublicKeys { world.supporters[i].keys }

    func nextData(_ who: String) -> [UInt8] {
        counter += 1
        return json(#"{"n":\#(counter),"by":"\#(who)"}"#)
    }

    /// The supporter's handle and session: kept once made, as a client would keep them.
    func supporterSession(_ i: Int) throws -> (Vault, VaultSession) {
        if let v = supporterVaults[i], let s = supporterSessions[i] { return (v, s) }
        let v = try Self.open(world.store, vaultId)
        let s = try v.unlock(supporter: identity(i))
        supporterVaults[i] = v
        supporterSessions[i] = s
        return (v, s)
    }

    func serviceSessionOrNew() throws -> (Vault, VaultSession) {
        if let v = serviceVault, let s = serviceSession { return (v, s) }
        let v = try Self.open(world.store, vaultId)
        let s = try v.session(service: world.service)
        serviceVault = v
        serviceSession = s
        return (v, s)
    }

    /// Supporter `i` (linked) saves the vault file and every key their session holds.
    func takeSnapshot(_ i: Int) throws {
        let (vault, session) = try supporterSession(i)
        let records = try vault.records(session)
        #expect(records.map(\.data) == model.records.map(\.data))
        let keyring = try #require(session.keyring)
        #expect(Set(keyring.derived.keys) == Set(model.headerEpochs), "the supporter's keys are not the header's epochs")
        let bytes = try fileBytes()
        snapshots.append(AccessSnapshot(supporter: i, bytes: bytes, keyring: keyring, recordCount: model.records.count,
                                        generation: try AdversarialFile.header(of: bytes).state.generation, revocationsBefore: model.revocations.count))
    }

    func apply(_ op: AccessOp) throws {
        switch op {
        case .grant(let i):
            let granted = try patientVault.grant(keys(i), session: patient)
            #expect(granted == !model.linked.contains(i), "grant(S\(i)) reported \(granted)")
            if granted && model.revocations.contains(where: { $0.supporter == i }) { world.coverage.regrants += 1 }
            model.linked.insert(i)
            model.everLinked.insert(i)

        case .revoke(let i, let reencrypt):
            if model.linked.contains(i) {
                // The worst case SECURITY.md promises against: the supporter saved everything just before.
                try takeSnapshot(i)
                try patientVault.revoke(keys(i).id, reencrypt: reencrypt, session: patient)
                if reencrypt { world.coverage.reencryptions += 1 }
                model.linked.remove(i)
                model.revocations.append((i, model.records.count))
                model.newEpoch(reencrypt: reencrypt)
            } else {
                let before = try fileBytes()
                let outcome = failureClass { try patientVault.revoke(keys(i).id, reencrypt: reencrypt, session: patient) }
                #expect(outcome == (model.everLinked.contains(i) ? "ok" : "not-found"), "revoke(S\(i)) of an unlinked supporter: \(outcome)")
                #expect(try fileBytes() == before, "revoking an unlinked supporter changed the vault")
            }

        case .appendPatient:
            let data = nextData("patient")
            let seq = try patientVault.append(type: "dose", data: data, session: patient)
            #expect(seq == UInt64(model.records.count))
            model.records.append(ModelRecord(data: data, author: "patient", epoch: model.epoch))

        case .appendSupporter(let i):
            let data = nextData("S\(i)")
            let before = try fileBytes()
            let outcome = failureClass {
                let (vault, session) = try supporterSession(i)
                let seq = try vault.append(type: "message", data: data, session: session)
                #expect(seq == UInt64(model.records.count))
            }
            if model.linked.contains(i) {
                #expect(outcome == "ok", "a linked supporter S\(i) could not write")
                model.records.append(ModelRecord(data: data, author: "supporter:\(keys(i).id.hex)", epoch: model.epoch))
            } else {
                #expect(outcome == "not-permitted", "an unlinked supporter S\(i) wrote: \(outcome)")
                #expect(try fileBytes() == before)
            }

        case .appendService:
            let data = nextData("service")
            let before = try fileBytes()
            let outcome = failureClass {
                let (vault, session) = try serviceSessionOrNew()
                _ = try vault.append(type: "pillbox", data: data, session: session)
            }
            if model.serviceActive {
                #expect(outcome == "ok", "the authorised service could not write")
                model.records.append(ModelRecord(data: data, author: "service:\(world.service.id.hex)", epoch: model.epoch))
            } else {
                #expect(outcome == "not-permitted", "an unauthorised service wrote: \(outcome)")
                #expect(try fileBytes() == before)
            }

        case .authorizeService:
            try patientVault.authorize(service: world.service.id, signPublicKey: world.service.signPublicKey, session: patient)
            model.serviceActive = true
            model.serviceEverAuthorised = true

        case .revokeService(let reencrypt):
            if model.serviceActive {
                try patientVault.revoke(world.service.id, reencrypt: reencrypt, session: patient)
                model.serviceActive = false
                model.newEpoch(reencrypt: reencrypt)
            } else {
                let before = try fileBytes()
                let outcome = failureClass { try patientVault.revoke(world.service.id, reencrypt: reencrypt, session: patient) }
                #expect(outcome == (model.serviceEverAuthorised ? "ok" : "not-found"), "revoke(service) of an unauthorised service: \(outcome)")
                #expect(try fileBytes() == before, "revoking an unauthorised service changed the vault")
            }

        case .snapshot(let i):
            guard model.linked.contains(i) else { return }
            try takeSnapshot(i)

        case .intrude(let a):
            let actor: (Vault, VaultSession)?
            if a < 3 {
                actor = try supporterSessions[a] != nil || model.linked.contains(a) ? supporterSession(a) : nil
            } else {
                actor = try serviceSession != nil || model.serviceActive ? serviceSessionOrNew() : nil
            }
            guard let (vault, session) = actor else { return }  // never had access: checkAccess shows they cannot get a session
            let before = try fileBytes(), generationBefore = try generationBytes()
            let other = keys((a + 1) % 3)
            #expect(failureClass { try vault.grant(other, session: session) } == "not-permitted")
            #expect(failureClass { try vault.revoke(other.id, session: session) } == "not-permitted")
            #expect(failureClass { try vault.revoke(keys(a % 3).id, reencrypt: true, session: session) } == "not-permitted")
            #expect(failureClass { try vault.revoke(world.service.id, session: session) } == "not-permitted")
            #expect(failureClass { try vault.changePassword(to: pw("stolen"), kdf: .minimumForTesting, session: session) } == "not-permitted")
            #expect(failureClass { try vault.authorize(service: Random.bytes(16), signPublicKey: SigningKeyPair.generate().publicKey, session: session) } == "not-permitted")
            #expect(try fileBytes() == before, "a non-patient changed the vault file")
            #expect(try generationBytes() == generationBefore, "a non-patient changed the generation record")
            world.coverage.refusedIntrusions += 1
        }
    }

    /// After every step: a supporter unlocks iff linked, the service gets a session iff authorised (fresh handles,
    /// as a new process would open them).
    func checkAccess(after step: String) throws {
        let fresh = try Self.open(world.store, vaultId)
        for i in 0..<3 {
            let outcome = failureClass { _ = try fresh.unlock(supporter: identity(i)) }
            #expect(outcome == (model.linked.contains(i) ? "ok" : "not-permitted"), "after \(step): S\(i) unlock \(outcome)")
        }
        let outcome = failureClass { _ = try fresh.session(service: world.service) }
        #expect(outcome == (model.serviceActive ? "ok" : "not-permitted"), "after \(step): service session \(outcome)")
    }

    /// The end of a sequence: every reader sees exactly what the model says, and every saved copy and key set gives
    /// its holder nothing written after their revocation.
    func checkFinal() throws {
        let expected = model.records.map(\.data)
        let fresh = try Self.open(world.store, vaultId)
        let owner = try fresh.unlock(password: pw("pw"))
        let records = try fresh.records(owner)
        #expect(records.map(\.data) == expected, "the patient does not read the model's records")
        #expect(records.map(\.author.description) == model.records.map(\.author))
        _ = try fresh.verify(owner)
        #expect(try patientVault.records(patient).map(\.data) == expected)

        let bytes = try fileBytes()
        let current = try AdversarialFile.header(of: bytes)
        let frames = try AdversarialFile.frames(bytes).map(\.frame)
        #expect(frames.map(\.epoch) == model.records.map(\.epoch), "records are not under the model's epochs")
        #expect(current.state.epochs.map(\.epoch) == model.headerEpochs)

        for i in 0..<3 {
            let handle = try Self.open(world.store, vaultId)
            if model.linked.contains(i) {
                #expect(try handle.records(handle.unlock(supporter: identity(i))).map(\.data) == expected, "linked S\(i) cannot read everything")
                if let v = supporterVaults[i], let s = supporterSessions[i] { #expect(try v.records(s).map(\.data) == expected) }
            } else {
                #expect(failureClass { _ = try handle.unlock(supporter: identity(i)) } == "not-permitted")
                if let v = supporterVaults[i], let s = supporterSessions[i] {
                    #expect(failureClass { _ = try v.records(s) } == "not-permitted", "unlinked S\(i) reads with an old session")
                    #expect(failureClass { _ = try v.verify(s) } == "not-permitted")
                }
            }
        }
        if let v = serviceVault, let s = serviceSession { #expect(failureClass { _ = try v.records(s) } == "not-permitted", "the service reads") }

        for snap in snapshots {
            // The saved copy gives exactly what its holder could read when they saved it.
            let saved = try AdversarialFile.header(of: snap.bytes)
            let old = try Vault.scanRecords(snap.bytes, preamble: saved.preamble, state: saved.state, keyring: snap.keyring, keepPayloads: false)
            #expect(old.records.map(\.data) == Array(expected.prefix(snap.recordCount)))

            // The current file, record by record, with the saved keys.
            let held = Set(snap.keyring.derived.keys)
            let revokedAt = model.revocations.dropFirst(snap.revocationsBefore).first { $0.supporter == snap.supporter }?.atRecord
            for (k, frame) in frames.enumerated() {
                let opens = Self.decrypts(frame, vaultId: vaultId, keys: snap.keyring.derived[frame.epoch])
                #expect(opens == held.contains(model.records[k].epoch), "record \(k): saved keys open it: \(opens)")
                if let revokedAt, k >= revokedAt {
                    // Written after the holder's revocation: no key they ever held opens it, whatever epoch it claims.
                    #expect(!snap.keyring.derived.values.contains { Self.decrypts(frame, vaultId: vaultId, keys: $0) },
                            "S\(snap.supporter)'s saved keys open record \(k), written after their revocation")
                    world.coverage.closedRecordChecks += 1
                }
            }
            // Reading the current file with the saved keys stops exactly at the first record they cannot open.
            let firstClosed = frames.indices.first { !held.contains(model.records[$0].epoch) }
            do {
                let r = try Vault.scanRecords(bytes, preamble: current.preamble, state: current.state, keyring: snap.keyring, keepPayloads: false)
                #expect(firstClosed == nil, "saved keys read record \(firstClosed ?? -1)")
                #expect(r.records.map(\.data) == expected)
            } catch let e as VaultError {
                #expect(e.failureClass == "not-permitted" && firstClosed.map { e.description.hasPrefix("record \($0) ") } == true,
                        "saved keys: \(e.failureClass) \(e), first closed record \(firstClosed ?? -1)")
            }
            // Put back over the vault, an older header is refused as a rollback.
            if snap.generation < current.state.generation {
                try Data(snap.bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
                #expect(failureClass { _ = try Self.open(world.store, vaultId) } == "tampered", "a rolled-back copy opens")
                world.coverage.rollbacks += 1
                try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
            }
        }
    }

    /// Shreds the vault, then puts back the last file and every saved copy: none opens, with or without the
    /// generation record, and a guessed erasure secret decrypts nothing.
    func shredAndCheck() throws {
        let last = try fileBytes(), generation = try generationBytes()
        _ = try world.store.shred(email: email, request: ShredRequest(reason: "property test", requestedBy: "test suite",
                                                                    reference: "seq-\(email)", executedBy: "tester", approvedBy: nil))
        world.coverage.shreds += 1
        #expect(failureClass { _ = try world.store.openVault(email: email) } == "not-found")
        #expect(failureClass { _ = try world.store.openVault(id: vaultId) } == "not-found")
        #expect(failureClass { _ = try patientVault.records(patient) } == "not-found")
        for i in 0..<3 {
            if let v = supporterVaults[i], let s = supporterSessions[i] { #expect(failureClass { _ = try v.records(s) } == "not-found") }
        }
        for copy in [last] + snapshots.map(\.bytes) {
            try Data(copy).write(to: URL(fileURLWithPath: path), options: .atomic)
            #expect(failureClass { _ = try world.store.openVault(id: vaultId) } == "erased")
            try Data(generation).write(to: URL(fileURLWithPath: generationPath), options: .atomic)
            #expect(failureClass { _ = try world.store.openVault(id: vaultId) } == "erased")
            let outcome = failureClass {
                let guessed = try Vault(path: path, erasureSecret: SecureBytes.random(count: 32), anchor: world.store.anchor(vaultId))
                _ = try guessed.records(try guessed.unlock(password: pw("pw")))
            }
            #expect(outcome == "tampered", "a shredded copy with a guessed erasure secret: \(outcome)")
            try? FileManager.default.removeItem(atPath: generationPath)
        }
        try? FileManager.default.removeItem(atPath: path)
    }

    // MARK: decryption

    /// Whether `keys` authenticate and decrypt `frame` (FORMAT.md §5.1).
    static func decrypts(_ frame: RecordFrame, vaultId: [UInt8], keys: EpochKeys?) -> Bool {
        guard let keys else { return false }
        let ad = RecordFrame.associatedData(vaultId: vaultId, fixedHeader: frame.fixedHeader, sealedRecordKey: frame.sealedRecordKey)
        do {
            switch frame.kind {
            case .vaultKey:
                _ = try XChaCha20Poly1305.open(frame.ciphertext, key: keys.recordKey, nonce: frame.nonce, ad: ad)
            case .sealed:
                let rk = try SealedBox.open(frame.sealedRecordKey ?? [], keyPair: keys.writeKeyPair)
                _ = try XChaCha20Poly1305.open(frame.ciphertext, key: rk, nonce: frame.nonce, ad: ad)
            }
            return true
        } catch {
            return false
        }
    }
}
