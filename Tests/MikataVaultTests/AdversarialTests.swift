import Foundation
import Testing
@testable import MikataVault
import MikataFormat
import MikataCrypto

/// fixtures/adversarial: hand-built hostile vault files, each with the failure class a reader must report (in the
/// manner of age's CCTV vectors). One small base store (minimum Argon2id, 1.5 KiB header copies) and, per case,
/// the vault file and/or generation record that replace the base's, plus `expect.json`. Every case must fail with
/// exactly its class at exactly its stage, never succeed, never crash, never show plaintext.
///
/// Regenerate only when the format changes, never to make a test pass:
/// `MIKATA_WRITE_ADVERSARIAL=1 swift test --filter writeAdversarialCorpus` writes fixtures/adversarial-new for review;
/// `MIKATA_ADVERSARIAL_TRACE=1` prints every case's outcome and message.
@Suite("Adversarial corpus")
struct AdversarialTests {
    @Test("every adversarial case fails with exactly its expected class, at its stage, without plaintext",
          arguments: AdversarialCorpus.caseNames())
    func adversarialCase(_ name: String) throws {
        let expectation = try AdversarialCorpus.expectation(name)
        let outcome = try AdversarialCorpus.run(name)
        // For reviewing a regenerated corpus: does each case fail for the reason its description gives?
        if ProcessInfo.processInfo.environment["MIKATA_ADVERSARIAL_TRACE"] == "1" {
            print("TRACE \(name) | \(outcome.stage) | \(outcome.failure ?? "ok") | \(outcome.message) | verify: \(outcome.verifyFailure ?? "-")")
        }
        let check = {
            if expectation.expect == "ok" {
                #expect(outcome.failure == nil, "\(name): \(outcome.message)")
                #expect(outcome.records == expectation.records, "\(name)")
            } else {
                #expect(outcome.failure == expectation.expect, "\(name) at \(outcome.stage): \(outcome.message)")
                #expect(outcome.stage == expectation.stage, "\(name): \(outcome.message)")
                // Whatever stops a read also stops `vault verify`, with the same class.
                if expectation.stage == "read" {
                    #expect(outcome.verifyFailure == expectation.expect, "\(name): verify gave \(outcome.verifyFailure ?? "success")")
                }
            }
        }
        if let issue = expectation.knownIssue {
            withKnownIssue(Comment(rawValue: issue)) { check() }
        } else {
            check()
        }
        // Never plaintext: not in the error, not in the access log.
        for canary in try AdversarialCorpus.base().canaries {
            #expect(!outcome.message.contains(canary), "\(name): the error shows a secret or plaintext")
            #expect(!outcome.auditLog.contains(canary), "\(name): the access log shows a secret or plaintext")
        }
    }

    @Test("the corpus is complete: the base store opens for every actor, every case is listed in the README")
    func corpusIsComplete() throws {
        let names = AdversarialCorpus.caseNames()
        #expect(names.count >= 60)
        let readme = try String(contentsOf: AdversarialCorpus.root.appendingPathComponent("README.md"), encoding: .utf8)
        for name in names { #expect(readme.contains("`\(name)`"), "README.md does not list \(name)") }
        // The base is sound: the cases fail because of what was done to them, not because the base is broken.
        let base = try AdversarialCorpus.base()
        let directory = try AdversarialCorpus.copyOfBase()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try Store.open(at: directory)
        let vault = try store.openVault(email: base.patientEmail)
        let patient = try vault.unlock(password: pw(base.patientPassword))
        let records = try vault.records(patient)
        #expect(records.count == base.recordCount)
        #expect(try vault.records(vault.unlock(recoveryCode: pw(base.recoveryCode))) == records)
        let nurse = try store.unlockSupporter(email: base.supporterEmail, password: pw(base.supporterPassword))
        #expect(try vault.records(vault.unlock(supporter: nurse)) == records)
        _ = try vault.verify(patient)
        // The canaries are real plaintext of the base vault, so their absence from errors means something.
        let text = records.map { String(decoding: $0.data, as: UTF8.self) }.joined()
        #expect(text.contains("adv-canary"))
    }

    @Test("writes a new adversarial corpus when MIKATA_WRITE_ADVERSARIAL=1",
          .enabled(if: ProcessInfo.processInfo.environment["MIKATA_WRITE_ADVERSARIAL"] == "1"))
    func writeAdversarialCorpus() throws {
        let out = GoldenTests.packageRoot.appendingPathComponent("fixtures/adversarial-new")
        try? FileManager.default.removeItem(at: out)
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("adversarial-other-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let forge = try AdversarialForge(storeDirectory: out.appendingPathComponent("base/store").path, scratchDirectory: scratch.path)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(forge.base).write(to: out.appendingPathComponent("base/base.json"))
        let cases = try forge.cases()
        #expect(Set(cases.map(\.name)).count == cases.count, "duplicate case names")
        for c in cases {
            let dir = out.appendingPathComponent("cases/\(c.name)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try encoder.encode(c.expectation).write(to: dir.appendingPathComponent("expect.json"))
            if let v = c.vault { try Data(v).write(to: dir.appendingPathComponent("vault")) }
            if let g = c.generation { try Data(g).write(to: dir.appendingPathComponent("generation")) }
        }
        try Data(AdversarialCorpus.readme(base: forge.base, cases: cases).utf8).write(to: out.appendingPathComponent("README.md"))
    }
}

// MARK: - the corpus on disk

/// fixtures/adversarial/base/base.json: who can open the base store, and the strings that must never leak.
struct AdversarialBase: Codable {
    var vaultId: String
    var vaultFile: String
    var generationFile: String
    var patientEmail: String
    var patientPassword: String
    var recoveryCode: String
    var supporterEmail: String
    var supporterPassword: String
    var revokedSupporterEmail: String
    var revokedSupporterPassword: String
    var strangerEmail: String
    var strangerPassword: String
    var recordCount: Int
    /// Plaintext and secrets of the base store: none may appear in an error message or the access log.
    var canaries: [String]
}

/// fixtures/adversarial/cases/<name>/expect.json.
struct AdversarialExpectation: Codable {
    /// A failure class (`VaultError.failureClass`), or "ok" for the few controls that must open.
    var expect: String
    /// Where it must fail: "open" (store.openVault), "unlock", "read" (records; verify must fail alike), "verify".
    var stage: String
    /// "patient" (password), "recovery" (recovery code) or "supporter" (e-mail and password).
    var openAs: String
    var email: String?
    var password: String
    var description: String
    /// For "ok" cases: how many records the read returns.
    var records: Int?
    /// Set while the build misclassifies the case: the test records a known issue instead of failing.
    var knownIssue: String?

    enum CodingKeys: String, CodingKey {
        case expect, stage, openAs = "open_as", email, password, description, records, knownIssue = "known_issue"
    }
}

/// One generated case: its expectation and the files that replace the base store's.
struct AdversarialCase {
    var name: String
    var expectation: AdversarialExpectation
    var vault: [UInt8]?
    var generation: [UInt8]?
}

enum AdversarialCorpus {
    static var root: URL { GoldenTests.packageRoot.appendingPathComponent("fixtures/adversarial") }

    static func caseNames() -> [String] {
        let dir = root.appendingPathComponent("cases").path
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
    }

    static func base() throws -> AdversarialBase {
        try JSONDecoder().decode(AdversarialBase.self, from: Data(contentsOf: root.appendingPathComponent("base/base.json")))
    }

    static func expectation(_ name: String) throws -> AdversarialExpectation {
        try JSONDecoder().decode(AdversarialExpectation.self, from: Data(contentsOf: root.appendingPathComponent("cases/\(name)/expect.json")))
    }

    /// Memory-backed when the machine has /dev/shm: each case's store does a few fsyncs.
    static func temporaryDirectory(_ prefix: String) -> String {
        let parent = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : FileManager.default.temporaryDirectory.path
        return "\(parent)/\(prefix)-\(UUID().uuidString)"
    }

    static func copyOfBase() throws -> String {
        let dir = temporaryDirectory("mikata-adversarial")
        try FileManager.default.copyItem(atPath: root.appendingPathComponent("base/store").path, toPath: dir)
        // The base store predates root keys: its one-time upgrade gives it one (in MIKATA_ROOT_KEY_DIR).
        _ = try Store.initialize(at: dir)
        return dir
    }

    struct Outcome {
        var stage: String
        var failure: String?
        var message: String
        var records: Int?
        var verifyFailure: String?
        var auditLog: String
    }

    /// Puts the case's files into a copy of the base store and walks open → unlock → read → verify until a failure.
    static func run(_ name: String) throws -> Outcome {
        let base = try base()
        let expectation = try expectation(name)
        let caseDir = root.appendingPathComponent("cases/\(name)")
        let directory = try copyOfBase()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let vaultSource = caseDir.appendingPathComponent("vault")
        if FileManager.default.fileExists(atPath: vaultSource.path) {
            try Data(contentsOf: vaultSource).write(to: URL(fileURLWithPath: "\(directory)/\(base.vaultFile)"))
        }
        let store = try Store.open(at: directory)
        // A case's generation record is a pre-root-key one: the attacker the case stands for put back a record
        // they saved earlier, so it becomes the anchor the root key vouched for at that generation.
        let generationSource = caseDir.appendingPathComponent("generation")
        if FileManager.default.fileExists(atPath: generationSource.path) {
            let g = try GenerationFile.parse(Array(try Data(contentsOf: generationSource)))
            let header = try Vault.loadHeader(file: try PosixFile.open("\(directory)/\(base.vaultFile)", readOnly: true)).state
            let anchor = store.rootKey.sign(AnchorFile(vaultId: g.vaultId, generation: g.minimumGeneration, epoch: header.currentEpoch.epoch,
                                                       recordFloorCount: header.recordFloorCount, recordFloorLink: header.recordFloorLink))
            try Data(anchor.serialize()).write(to: URL(fileURLWithPath: "\(directory)/\(base.generationFile)"))
        }
        var stage = "open"
        var outcome: Outcome
        do {
            let vault = try store.openVault(email: base.patientEmail)
            stage = "unlock"
            let session: VaultSession
            switch expectation.openAs {
            case "patient": session = try vault.unlock(password: pw(expectation.password))
            case "recovery": session = try vault.unlock(recoveryCode: pw(expectation.password))
            case "supporter":
                let identity = try store.unlockSupporter(email: expectation.email ?? "", password: pw(expectation.password))
                session = try vault.unlock(supporter: identity)
            default: throw VaultError.invalidInput("unknown open_as \(expectation.openAs)")
            }
            stage = "read"
            let records: [Record]
            do {
                records = try vault.records(session)
            } catch {
                outcome = Outcome(stage: stage, failure: classOf(error), message: "\(error)", auditLog: "")
                do { _ = try store.openVault(email: base.patientEmail).verify(session) } catch { outcome.verifyFailure = classOf(error) }
                outcome.auditLog = auditLog(directory)
                return outcome
            }
            stage = "verify"
            _ = try vault.verify(session)
            outcome = Outcome(stage: "done", failure: nil, message: "", records: records.count, auditLog: "")
        } catch {
            outcome = Outcome(stage: stage, failure: classOf(error), message: "\(error)", auditLog: "")
        }
        outcome.auditLog = auditLog(directory)
        return outcome
    }

    static func classOf(_ error: any Error) -> String {
        (error as? VaultError)?.failureClass ?? "unexpected \(type(of: error)): \(error)"
    }

    static func auditLog(_ directory: String) -> String {
        (try? String(contentsOfFile: "\(directory)/audit/log.jsonl", encoding: .utf8)) ?? ""
    }

    static func readme(base: AdversarialBase, cases: [AdversarialCase]) -> String {
        var s = """
        # Adversarial corpus (format v1)

        Hand-built hostile vault files, each with the failure class a reader must report, in the manner of age's
        CCTV vectors. `Tests/MikataVaultTests/AdversarialTests.swift` runs every case on every build: each must fail
        with exactly its class at exactly its stage (never succeed, never crash, never show plaintext or a secret in
        an error or the access log). A case whose read fails must make `vault verify` fail with the same class.

        ## Layout

        * `base/store/`: a small store written by the generator (minimum Argon2id cost, 1.5 KiB header copies).
          Vault `\(base.vaultId)` holds \(base.recordCount) records:
          the profile, a dose by the patient, a message by the former supporter, a pill-box record by a write-only
          service, then (after the former supporter's revocation, epoch 2) a side-effect by the patient and a
          message by the nurse. The header's record floor is 4.
        * `base/base.json`: credentials of the patient, recovery code, linked nurse, revoked former supporter and an
          unlinked stranger; the canaries (plaintext and secrets) that must never leak.
        * `cases/<name>/expect.json`: `expect` (a failure class, or `ok` for a control), `stage` (`open`, `unlock`,
          `read`, `verify`), `open_as` (`patient`, `recovery`, `supporter`), `email`, `password`, `description`,
          and `known_issue` while this build misclassifies the case (the test then records a known issue).
        * `cases/<name>/vault`, `cases/<name>/generation`: replace the base store's vault file and generation
          record (`.gen`); a case without them uses the base's.

        Header rewrites marked "re-signed" carry a valid Ed25519 signature by the patient's own key, so only the
        structural rule named can catch them. Regenerate only when the format changes, never to make a test pass:
        `MIKATA_WRITE_ADVERSARIAL=1 swift test --filter writeAdversarialCorpus` writes `fixtures/adversarial-new`
        for review; `MIKATA_ADVERSARIAL_TRACE=1 swift test --filter adversarialCase` prints each case's stage, class
        and message, to check that it fails for the reason its description gives.

        ## Cases

        | case | expect | stage | open as | what was done |
        |---|---|---|---|---|

        """
        for c in cases.sorted(by: { $0.name < $1.name }) {
            let e = c.expectation
            let issue = e.knownIssue.map { " **Known issue:** \($0)" } ?? ""
            s += "| `\(c.name)` | \(e.expect) | \(e.stage) | \(e.openAs) | \(e.description)\(issue) |\n"
        }
        return s
    }
}

// MARK: - vault file helpers

/// Reading, writing and splitting vault files (format layer only), for the adversarial and property tests.
enum AdversarialFile {
    static func read(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }

    static func write(_ bytes: [UInt8], to path: String) throws { try Data(bytes).write(to: URL(fileURLWithPath: path)) }

    /// The preamble and copy A's key state (both copies agree after every commit).
    static func header(of bytes: [UInt8]) throws -> (preamble: Preamble, state: KeyState) {
        let preamble = try Preamble.parse(bytes)
        let copy = try HeaderCopy.parse(bytes[preamble.headerCopyOffset(0)..<preamble.headerCopyOffset(1)])
        return (preamble, try KeyState.parse(copy.body))
    }

    /// Every complete frame, up to a torn tail.
    static func frames(_ bytes: [UInt8]) throws -> [(frame: RecordFrame, range: Range<Int>)] {
        var out: [(frame: RecordFrame, range: Range<Int>)] = []
        var offset = try Preamble.parse(bytes).recordsOffset
        while offset < bytes.count {
            guard case .frame(let f, let length) = try RecordFrame.scan(bytes, at: offset) else { break }
            out.append((f, offset..<(offset + length)))
            offset += length
        }
        return out
    }

    static func frameRanges(_ bytes: [UInt8]) throws -> [Range<Int>] { try frames(bytes).map(\.range) }
}

// MARK: - the generator

/// Builds the base store, then every hostile variant of its vault file. Used only by `writeAdversarialCorpus`.
final class AdversarialForge {
    let base: AdversarialBase
    let bytes: [UInt8]
    let generationBytes: [UInt8]
    let state: KeyState
    let preamble: Preamble
    let frames: [Range<Int>]
    let owner: SigningKeyPair
    let patientKeyring: Keyring
    let nurse: SupporterIdentity
    let nurseKeyring: Keyring
    let former: SupporterIdentity
    /// What the former supporter held before the revocation.
    let formerKeyring: Keyring
    let service: ServiceIdentity
    /// The whole vault file and generation record just before the revocation.
    let preRevocation: [UInt8]
    let preRevocationGeneration: [UInt8]
    /// A vault of another store, with header copies of the same length, and its generation record.
    let otherVault: [UInt8]
    let otherGeneration: [UInt8]

    static let headerCopyLength = 1536

    init(storeDirectory: String, scratchDirectory: String) throws {
        let patientEmail = "adv.patient@example.jp", patientPassword = "adversarial patient password"
        let nurseEmail = "adv.nurse@example.jp", nursePassword = "adversarial nurse password"
        let formerEmail = "adv.former@example.jp", formerPassword = "adversarial former password"
        let strangerEmail = "adv.stranger@example.jp", strangerPassword = "adversarial stranger password"
        let nickname = "AdvCanaryNickname"
        let (store, _) = try Store.initialize(at: storeDirectory)
        store.kdf = .minimumForTesting
        store.headerCopyLength = Self.headerCopyLength
        let (vaultId, code) = try store.createPatient(email: patientEmail, nickname: nickname, password: pw(patientPassword))
        let nurseKeys = try store.createSupporter(email: nurseEmail, name: "Adv Nurse", password: pw(nursePassword))
        let formerKeys = try store.createSupporter(email: formerEmail, name: "Adv Former", password: pw(formerPassword))
        _ = try store.createSupporter(email: strangerEmail, name: "Adv Stranger", password: pw(strangerPassword))
        nurse = try store.unlockSupporter(email: nurseEmail, password: pw(nursePassword))
        former = try store.unlockSupporter(email: formerEmail, password: pw(formerPassword))
        let vault = try store.openVault(id: vaultId)
        let patient = try vault.unlock(password: pw(patientPassword))
        owner = try #require(patient.ownerSigning)
        try vault.grant(nurseKeys, session: patient); try store.recordLink(supporterId: nurseKeys.id, vaultId: vaultId)
        try vault.grant(formerKeys, session: patient); try store.recordLink(supporterId: formerKeys.id, vaultId: vaultId)
        let t0: Int64 = 1_795_000_000_000
        try vault.appendRecord(type: "dose", data: json(#"{"canary":"adv-canary-dose","mg":300}"#), timeMillis: t0, session: patient)
        let formerSession = try vault.unlock(supporter: former)
        try vault.appendRecord(type: "message", data: json(#"{"canary":"adv-canary-former"}"#), timeMillis: t0 + 1000, session: formerSession)
        formerKeyring = try #require(formerSession.keyring)
        service = ServiceIdentity.generate()
        try vault.authorize(service: service.id, signPublicKey: service.signPublicKey, session: patient)
        try vault.appendRecord(type: "pillbox", data: json(#"{"canary":"adv-canary-pillbox"}"#), timeMillis: t0 + 2000,
                               session: try vault.session(service: service))
        preRevocation = try AdversarialFile.read(vault.path)
        preRevocationGeneration = try AdversarialFile.read(store.generationPath(vaultId))
        try vault.revoke(formerKeys.id, session: patient); try store.removeLink(supporterId: formerKeys.id, vaultId: vaultId)
        try vault.appendRecord(type: "side-effect", data: json(#"{"canary":"adv-canary-side-effect"}"#), timeMillis: t0 + 3000, session: patient)
        let nurseSession = try vault.unlock(supporter: nurse)
        try vault.appendRecord(type: "message", data: json(#"{"canary":"adv-canary-nurse"}"#), timeMillis: t0 + 4000, session: nurseSession)
        nurseKeyring = try #require(nurseSession.keyring)
        patientKeyring = try #require(patient.keyring)
        let records = try vault.records(patient)
        _ = try vault.verify(patient)
        bytes = try AdversarialFile.read(vault.path)
        generationBytes = try AdversarialFile.read(store.generationPath(vaultId))
        state = vault.keyState
        preamble = try Preamble.parse(bytes)
        frames = try AdversarialFile.frameRanges(bytes)
        precondition(frames.count == 6 && state.recordFloorCount == 4 && state.epochs.count == 2, "unexpected base vault shape")
        // The corpus needs no access log or store signing key: drop them to keep the base small.
        try? FileManager.default.removeItem(atPath: "\(storeDirectory)/audit")
        try? FileManager.default.removeItem(atPath: "\(storeDirectory)/keys/store-signing.key")

        let (other, _) = try Store.initialize(at: scratchDirectory)
        other.kdf = .minimumForTesting
        other.headerCopyLength = Self.headerCopyLength
        let (otherId, _) = try other.createPatient(email: "other@example.jp", nickname: "Other", password: pw("other"))
        let otherVaultHandle = try other.openVault(id: otherId)
        let otherPatient = try otherVaultHandle.unlock(password: pw("other"))
        try otherVaultHandle.append(type: "dose", data: json(#"{"other":1}"#), session: otherPatient)
        otherVault = try AdversarialFile.read(other.vaultPath(otherId))
        otherGeneration = try AdversarialFile.read(other.generationPath(otherId))

        let root = storeDirectory.hasSuffix("/") ? storeDirectory : storeDirectory + "/"
        base = AdversarialBase(
            vaultId: vaultId.hex, vaultFile: String(store.vaultPath(vaultId).dropFirst(root.count)),
            generationFile: String(store.generationPath(vaultId).dropFirst(root.count)),
            patientEmail: patientEmail, patientPassword: patientPassword,
            recoveryCode: String(decoding: code.unsafeCopyToArray(), as: UTF8.self),
            supporterEmail: nurseEmail, supporterPassword: nursePassword,
            revokedSupporterEmail: formerEmail, revokedSupporterPassword: formerPassword,
            strangerEmail: strangerEmail, strangerPassword: strangerPassword, recordCount: records.count,
            canaries: ["adv-canary", nickname, patientPassword, nursePassword, formerPassword, strangerPassword,
                       String(decoding: code.unsafeCopyToArray(), as: UTF8.self), patientEmail, nurseEmail, formerEmail])
    }

    // MARK: byte surgery

    var vaultId: [UInt8] { preamble.vaultId }
    var copyLength: Int { preamble.headerCopyLength }
    var recordsOffset: Int { preamble.recordsOffset }
    var head: [UInt8] { Array(bytes[0..<recordsOffset]) }
    var records: [UInt8] { Array(bytes[recordsOffset...]) }
    func frame(_ i: Int) -> [UInt8] { Array(bytes[frames[i]]) }

    static func putU16(_ b: inout [UInt8], _ at: Int, _ v: UInt16) { b[at] = UInt8(v >> 8); b[at + 1] = UInt8(v & 0xff) }
    static func putU32(_ b: inout [UInt8], _ at: Int, _ v: UInt32) { for i in 0..<4 { b[at + i] = UInt8(truncatingIfNeeded: v >> UInt32(24 - 8 * i)) } }
    static func putU64(_ b: inout [UInt8], _ at: Int, _ v: UInt64) { for i in 0..<8 { b[at + i] = UInt8(truncatingIfNeeded: v >> UInt64(56 - 8 * i)) } }
    static func u16(_ b: [UInt8], _ at: Int) -> Int { Int(b[at]) << 8 | Int(b[at + 1]) }

    /// Recomputes the preamble checksum (FORMAT.md §2), so only the rule under test can object.
    static func fixPreamble(_ b: inout [UInt8]) { b.replaceSubrange(48..<64, with: Blake2b.hash(Array(b[0..<48]), outputLength: 16)) }

    /// Recomputes a header copy's checksum (FORMAT.md §3).
    func fixCopy(_ b: inout [UInt8], _ index: Int) {
        let start = preamble.headerCopyOffset(index), end = start + copyLength
        b.replaceSubrange((end - 32)..<end, with: Blake2b.hash(Array(b[start..<(end - 32)]), outputLength: 32))
    }

    /// Recomputes a frame's headerCheck (FORMAT.md §5).
    static func fixFrameHeader(_ b: inout [UInt8], at start: Int) {
        b.replaceSubrange((start + 56)..<(start + 72), with: Blake2b.hash(Array(b[start..<(start + 56)]), outputLength: 16))
    }

    /// The base file with header copies replaced (both by default).
    func withCopy(_ copy: [UInt8], indices: [Int] = [0, 1], records tail: [UInt8]? = nil) -> [UInt8] {
        var b = head
        for i in indices { b.replaceSubrange(preamble.headerCopyOffset(i)..<(preamble.headerCopyOffset(i) + copyLength), with: copy) }
        return b + (tail ?? records)
    }

    /// A well-formed copy around any body bytes.
    func copy(body: [UInt8], generation: UInt64? = nil) throws -> [UInt8] {
        try HeaderCopy(generation: generation ?? state.generation, body: body).serialize(copyLength: copyLength)
    }

    /// A copy whose bodyLength field says `lengthField`, checksum valid.
    func rawCopy(lengthField: UInt32, body: [UInt8]) -> [UInt8] {
        var w = ByteWriter(capacity: copyLength)
        w.write(HeaderCopy.magic); w.writeU64(state.generation); w.writeU32(lengthField); w.write(body)
        w.pad(to: copyLength - 32)
        return w.bytes + Blake2b.hash(w.bytes, outputLength: 32)
    }

    /// A key state signed by `key` (default: the patient's own key, so only a structural rule can catch it).
    func signed(_ s: KeyState, by key: SigningKeyPair? = nil) -> [UInt8] {
        var s = s
        s.signature = (key ?? owner).sign(s.signedMessage())
        return s.serialize()
    }

    /// Raw unsigned body bytes signed by the patient's key.
    func signed(unsigned: [UInt8]) -> [UInt8] {
        unsigned + owner.sign([UInt8](VaultFormat.Label.headerSignature) + unsigned)
    }

    /// A vault whose key state is `s` re-signed by the patient, in both copies.
    func resigned(_ s: KeyState) throws -> [UInt8] { withCopy(try copy(body: signed(s))) }

    /// A vault whose unsigned body was patched, re-signed by the patient, in both copies.
    func resigned(patching patch: (inout [UInt8]) -> Void) throws -> [UInt8] {
        var unsigned = state.unsignedBody()
        patch(&unsigned)
        return withCopy(try copy(body: signed(unsigned: unsigned)))
    }

    // Offsets inside the unsigned body (FORMAT.md §4).
    static let epochCountOffset = 16 + 8 + 32 + 8 + 72 + 8 + 32
    var authorCountOffset: Int {
        Self.epochCountOffset + 2 + state.epochs.map { 45 + ($0.previousKeyWrap == nil ? 0 : 72) }.reduce(0, +) + 72
    }
    var slotCountOffset: Int { authorCountOffset + 2 + 65 * state.authors.count }
    var slotOffsets: [Int] {
        var offsets: [Int] = []
        var at = slotCountOffset + 2
        for slot in state.slots {
            offsets.append(at)
            switch slot {
            case .password: at += 3 + 105
            case .recovery: at += 3 + 88
            case .supporter: at += 3 + 132
            }
        }
        return offsets
    }

    /// The link of record `i`, which record `i + 1` carries as prevLink.
    func link(_ i: Int) throws -> [UInt8] {
        guard case .frame(let f, _) = try RecordFrame.scan(bytes, at: frames[i].lowerBound) else { throw VaultError.corrupted("no frame \(i)") }
        return f.link
    }

    /// A record appended after `onto` (default: the base file) at `seq` (default 6): signed by `signer` as
    /// `authorId`, kind 1 under `recordKey` or kind 2 sealed to `sealTo`.
    func appended(authorId: [UInt8], signer: SigningKeyPair, epoch: UInt32, recordKey: SecureBytes? = nil, sealTo: [UInt8]? = nil,
                  payloadVersion: UInt8 = 1, seq: UInt64 = 6, onto: [UInt8]? = nil) throws -> [UInt8] {
        let prevLink = try link(Int(seq) - 1)
        let payload = RecordPayload(authorId: authorId, timeMillis: 1_795_000_005_000, type: "dose", data: json(#"{"forged":true}"#))
        var unsigned = payload.unsignedBytes()
        unsigned[0] = payloadVersion
        let signature = signer.sign(RecordPayload.signatureMessage(vaultId: vaultId, seq: seq, unsignedPayload: unsigned))
        let frame: RecordFrame
        if let recordKey {
            frame = try Vault.seal(unsigned + signature, seq: seq, epoch: epoch, prevLink: prevLink, vaultId: vaultId, kind: .vaultKey, recordKey: recordKey)
        } else {
            let rk = SecureBytes.random(count: 32)
            let sealed = try SealedBox.seal(rk, to: try #require(sealTo))
            frame = try Vault.seal(unsigned + signature, seq: seq, epoch: epoch, prevLink: prevLink, vaultId: vaultId, kind: .sealed,
                                   recordKey: rk, sealedRecordKey: sealed)
        }
        return (onto ?? bytes) + frame.serialize()
    }

    /// The base file with one frame's fixed header edited and its headerCheck recomputed.
    func editedFrame(_ i: Int, _ edit: (inout [UInt8], Int) -> Void) -> [UInt8] {
        var b = bytes
        edit(&b, frames[i].lowerBound)
        Self.fixFrameHeader(&b, at: frames[i].lowerBound)
        return b
    }

    /// A key state forged by the nurse: an accomplice supporter with the current epoch key, signed by the nurse.
    func nurseForgery(replaceOwnerKey: Bool = false, newVaultId: [UInt8]? = nil) throws -> KeyState {
        var s = state
        s.generation += 1
        let accomplice = BoxKeyPair.generate()
        let accompliceId = Random.bytes(16)
        let current = state.currentEpoch.epoch
        let ek = try #require(nurseKeyring.epochKeys[current])
        s.authors.append(Author(id: accompliceId, role: .supporter, signPublicKey: SigningKeyPair.generate().publicKey, activeFromSeq: 6))
        s.slots.append(.supporter(SupporterSlot(supporterId: accompliceId, boxPublicKey: accomplice.publicKey, epoch: current,
                                                sealedEpochKey: try SealedBox.seal(ek, to: accomplice.publicKey))))
        if replaceOwnerKey {
            s.ownerPublicKey = nurse.signing.publicKey
            s.authors[0].signPublicKey = nurse.signing.publicKey
        }
        if let newVaultId {
            s.vaultId = newVaultId
            s.authors[0].id = newVaultId
        }
        s.signature = nurse.signing.sign(s.signedMessage())
        return s
    }

    // MARK: the cases

    func cases() throws -> [AdversarialCase] {
        var out: [AdversarialCase] = []
        let base = self.base
        func add(_ name: String, _ expect: String, _ stage: String, _ description: String, vault: [UInt8]? = nil, generation: [UInt8]? = nil,
                 as openAs: String = "patient", email: String? = nil, password: String? = nil, records: Int? = nil, knownIssue: String? = nil) {
            let e = AdversarialExpectation(expect: expect, stage: stage, openAs: openAs, email: email, password: password ?? base.patientPassword,
                                           description: description, records: records, knownIssue: knownIssue)
            out.append(AdversarialCase(name: name, expectation: e, vault: vault, generation: generation))
        }
        let L = copyLength
        let copyA = preamble.headerCopyOffset(0), copyB = preamble.headerCopyOffset(1)

        // Preamble and file size (FORMAT.md §2.1).
        add("empty-vault-file", "corrupted", "open", "The vault file is empty.", vault: [])
        add("truncated-preamble", "corrupted", "open", "The file ends after 40 bytes, inside the preamble.", vault: Array(bytes[0..<40]))
        add("preamble-bad-magic", "corrupted", "open", "The magic reads `XKTVAULT`.", vault: { var b = bytes; b[0] = UInt8(ascii: "X"); return b }())
        add("preamble-checksum-mismatch", "corrupted", "open", "One byte of the vault salt flipped; checksum not updated.",
            vault: { var b = bytes; b[40] ^= 0x01; return b }())
        add("unknown-format-version", "unsupported", "open", "Version 2 with a checksum computed over version 2: a genuine future file.",
            vault: { var b = bytes; Self.putU16(&b, 8, 2); Self.fixPreamble(&b); return b }())
        add("damaged-version-field", "corrupted", "open", "Version field reads 5 but the checksum matches version 1: damage, not a new version.",
            vault: { var b = bytes; Self.putU16(&b, 8, 5); return b }())
        add("preamble-flags-set", "unsupported", "open", "Flags = 1 with a valid checksum.",
            vault: { var b = bytes; Self.putU16(&b, 10, 1); Self.fixPreamble(&b); return b }())
        add("header-copy-length-beyond-file", "corrupted", "open", "Header copy length 16 MiB (in range, valid checksum): the copies would end far past the end of the file.",
            vault: { var b = bytes; Self.putU32(&b, 12, 16 << 20); Self.fixPreamble(&b); return b }())
        add("header-copy-length-out-of-range", "corrupted", "open", "Header copy length 0xFFFFFFFF with a valid checksum.",
            vault: { var b = bytes; Self.putU32(&b, 12, 0xFFFF_FFFF); Self.fixPreamble(&b); return b }())
        add("truncated-in-header-area", "corrupted", "open", "The file ends inside header copy B.", vault: Array(bytes[0..<(copyB + 100)]))
        add("preamble-vault-id-changed", "tampered", "open", "The preamble's vault id replaced (checksum fixed): the signed key states name another vault.",
            vault: { var b = bytes; b.replaceSubrange(16..<32, with: Random.bytes(16)); Self.fixPreamble(&b); return b }())
        add("preamble-salt-changed", "tampered", "open", "The preamble's vault salt replaced (checksum fixed): the vault id no longer certifies the owner key.",
            vault: { var b = bytes; b.replaceSubrange(32..<48, with: Random.bytes(16)); Self.fixPreamble(&b); return b }())

        // Header copies (FORMAT.md §3.1).
        add("zeroed-header-copies", "corrupted", "open", "Both header copies overwritten with zeros.",
            vault: { var b = bytes; b.replaceSubrange(copyA..<(copyB + L), with: [UInt8](repeating: 0, count: 2 * L)); return b }())
        add("zeroed-header-copy-a", "corrupted", "verify", "Copy A zeroed: copy B still opens and reads the vault; `vault verify` must report the damage.",
            vault: { var b = bytes; b.replaceSubrange(copyA..<(copyA + L), with: [UInt8](repeating: 0, count: L)); return b }())
        add("header-copies-checksum-mismatch", "corrupted", "open", "One padding byte flipped in both copies; checksums not updated.",
            vault: { var b = bytes; b[copyA + L - 40] ^= 0x80; b[copyB + L - 40] ^= 0x80; return b }())
        add("header-copy-bad-magic", "corrupted", "open", "Both copies' magic reads `XKTH` (checksums fixed).",
            vault: { var b = bytes; b[copyA] = UInt8(ascii: "X"); b[copyB] = UInt8(ascii: "X"); fixCopy(&b, 0); fixCopy(&b, 1); return b }())
        add("header-generation-zero", "corrupted", "open", "Both copies carry generation 0 (checksums fixed).",
            vault: { var b = bytes; Self.putU64(&b, copyA + 4, 0); Self.putU64(&b, copyB + 4, 0); fixCopy(&b, 0); fixCopy(&b, 1); return b }())
        add("header-padding-nonzero", "corrupted", "open", "A non-zero byte in both copies' padding (checksums fixed).",
            vault: { var b = bytes; b[copyA + L - 40] = 1; b[copyB + L - 40] = 1; fixCopy(&b, 0); fixCopy(&b, 1); return b }())
        add("keystate-length-exceeds-copy", "corrupted", "open", "Both copies' bodyLength is 0xFFFFFFF0, far beyond the copy (checksums valid).",
            vault: withCopy(rawCopy(lengthField: 0xFFFF_FFF0, body: state.serialize())))
        add("keystate-length-one-past-copy", "corrupted", "open", "Both copies' bodyLength is L − 47, one byte more than a copy can hold (checksums valid).",
            vault: withCopy(rawCopy(lengthField: UInt32(L - 47), body: state.serialize())))
        add("keystate-truncated", "corrupted", "open", "Both copies hold the key state minus its last 100 bytes, bodyLength to match (checksums valid).",
            vault: { let body = Array(state.serialize().dropLast(100)); return withCopy(rawCopy(lengthField: UInt32(body.count), body: body)) }())
        add("keystate-generation-mismatch", "corrupted", "open", "Both copies say generation +1 around the unchanged signed key state (checksums fixed).",
            vault: withCopy(try copy(body: state.serialize(), generation: state.generation + 1)))

        // Key-state structure, re-signed by the patient's key (FORMAT.md §4.5).
        add("epoch-count-0xffff", "corrupted", "open", "epochCount = 0xFFFF (limit 4096), re-signed.",
            vault: try resigned { Self.putU16(&$0, Self.epochCountOffset, 0xFFFF) })
        add("epoch-count-zero", "corrupted", "open", "epochCount = 0, re-signed.",
            vault: try resigned { Self.putU16(&$0, Self.epochCountOffset, 0) })
        add("epoch-count-past-end", "corrupted", "open", "epochCount = 4096 (allowed) but the body holds 2 entries, re-signed: the entries would run past the body.",
            vault: try resigned { Self.putU16(&$0, Self.epochCountOffset, 4096) })
        add("author-count-0xffff", "corrupted", "open", "authorCount = 0xFFFF (limit 4096), re-signed.",
            vault: try resigned { Self.putU16(&$0, authorCountOffset, 0xFFFF) })
        add("slot-count-0xffff", "corrupted", "open", "slotCount = 0xFFFF (limit 4096), re-signed.",
            vault: try resigned { Self.putU16(&$0, slotCountOffset, 0xFFFF) })
        add("slot-count-past-end", "corrupted", "open", "slotCount = 40 with 3 slots present, re-signed: slots would be read out of the signature and past the body.",
            vault: try resigned { Self.putU16(&$0, slotCountOffset, 40) })
        add("slot-length-past-end", "corrupted", "open", "The last slot's length = 1000 (≤ 1024, but more than remains of the body), re-signed.",
            vault: try resigned { Self.putU16(&$0, slotOffsets.last! + 1, 1000) })
        add("slot-length-0xffff", "corrupted", "open", "The last slot's length = 0xFFFF (limit 1024), re-signed.",
            vault: try resigned { Self.putU16(&$0, slotOffsets.last! + 1, 0xFFFF) })
        add("slot-length-short", "corrupted", "open", "The password slot's length = 50 (its content is 105 bytes), re-signed: the slot does not parse exactly.",
            vault: try resigned { Self.putU16(&$0, slotOffsets[0] + 1, 50) })
        add("duplicate-epochs", "corrupted", "open", "The second epoch entry renumbered to epoch 1 (a duplicate), re-signed.",
            vault: try resigned({ var s = state; s.epochs[1].epoch = s.epochs[0].epoch; return s }()))
        add("epoch-missing-chain-wrap", "corrupted", "open", "The second epoch does not wrap its predecessor's key, re-signed.",
            vault: try resigned({ var s = state; s.epochs[1].previousKeyWrap = nil; return s }()))
        add("epoch-start-decreasing", "corrupted", "open", "Epoch 1 starts at seq 5, after epoch 2's start (4), re-signed.",
            vault: try resigned({ var s = state; s.epochs[0].startSeq = 5; return s }()))
        add("two-password-slots", "corrupted", "open", "The password slot appears twice, re-signed.",
            vault: try resigned({ var s = state; s.slots.append(s.slots[0]); return s }()))
        add("two-recovery-slots", "corrupted", "open", "The recovery slot appears twice, re-signed.",
            vault: try resigned({ var s = state; s.slots.append(s.slots[1]); return s }()))
        add("supporter-slot-without-author", "corrupted", "open", "A supporter slot for an id with no author entry, re-signed.",
            vault: try resigned({ var s = state
                s.slots.append(.supporter(SupporterSlot(supporterId: Random.bytes(16), boxPublicKey: BoxKeyPair.generate().publicKey,
                                                        epoch: s.currentEpoch.epoch, sealedEpochKey: Random.bytes(80))))
                return s }()))
        add("supporter-slot-stale-epoch", "corrupted", "open", "The nurse's slot says epoch 1 while the current epoch is 2, re-signed.",
            vault: try resigned({ var s = state
                s.slots = s.slots.map { if case .supporter(var p) = $0 { p.epoch = 1; return .supporter(p) } else { return $0 } }
                return s }()))
        add("duplicate-supporter-slots", "corrupted", "open", "The nurse's slot appears twice, re-signed.",
            vault: try resigned({ var s = state; s.slots.append(s.slots.last!); return s }()))
        add("first-author-not-patient", "corrupted", "open", "The first two author entries swapped (the patient is second), re-signed.",
            vault: try resigned({ var s = state; s.authors.swapAt(0, 1); return s }()))
        add("overlapping-author-ranges", "corrupted", "open", "A second active author entry for the nurse, overlapping the first, re-signed.",
            vault: try resigned({ var s = state
                s.authors.append(Author(id: nurse.id, role: .supporter, signPublicKey: nurse.signing.publicKey, activeFromSeq: 5))
                return s }()))
        add("author-revoked-before-added", "corrupted", "open", "An author entry revoked at seq 2 but active from seq 3, re-signed.",
            vault: try resigned({ var s = state
                s.authors.append(Author(id: Random.bytes(16), role: .service, signPublicKey: SigningKeyPair.generate().publicKey, activeFromSeq: 3, revokedAtSeq: 2))
                return s }()))
        add("keystate-trailing-bytes", "corrupted", "open", "Four bytes after the key state's slots, re-signed over them.",
            vault: try resigned { $0 += [0, 0, 0, 0] })

        // Unknown types and absurd parameters: unsupported, never skipped (FORMAT.md §4.4).
        add("unknown-slot-type", "unsupported", "open", "The recovery slot's type byte = 9, re-signed.",
            vault: try resigned { $0[slotOffsets[1]] = 9 })
        add("unknown-password-algorithm", "unsupported", "open", "The password slot's algorithm = 2, re-signed.",
            vault: try resigned { $0[slotOffsets[0] + 3] = 2 })
        add("unknown-author-role", "unsupported", "open", "The second author's role = 9, re-signed.",
            vault: try resigned { $0[authorCountOffset + 2 + 65 + 16] = 9 })
        add("password-slot-argon2-ops-absurd", "unsupported", "unlock", "The password slot asks for 2^40 Argon2id passes (limit 64), re-signed: refused before any hashing.",
            vault: try resigned({ var s = state
                s.slots = s.slots.map { if case .password(var p) = $0 { p.opsLimit = 1 << 40; return .password(p) } else { return $0 } }
                return s }()))
        add("password-slot-argon2-memory-absurd", "unsupported", "unlock", "The password slot asks for 1 TiB of Argon2id memory (limit 4 GiB), re-signed.",
            vault: try resigned({ var s = state
                s.slots = s.slots.map { if case .password(var p) = $0 { p.memLimit = 1 << 40; return .password(p) } else { return $0 } }
                return s }()))

        // Authority of the key state (FORMAT.md §3.1, §4).
        add("header-from-another-vault", "tampered", "open", "Both copies replaced by another vault's validly signed header copies.",
            vault: Array(bytes[0..<64]) + Array(otherVault[64..<recordsOffset]) + records)
        add("vault-file-from-another-vault", "tampered", "open", "The whole file replaced by another store's genuine vault file (another vault id) at this vault's path.",
            vault: otherVault,
            knownIssue: "reported as corrupted (\"generation file belongs to another vault\"): Store.openVault(id:) never checks that the file's vault id is the one requested")
        add("vault-and-generation-from-another-vault", "tampered", "open", "As vault-file-from-another-vault, and the generation record replaced by that vault's own (both are plain checksummed files): a substituted vault at this vault's path.",
            vault: otherVault, generation: otherGeneration,
            knownIssue: "the substituted vault opens (only the patient's password then fails, as authentication-failed): Store.openVault(id:) never checks that the file's vault id is the one requested")
        add("keystate-signature-bitflip", "tampered", "open", "One bit of the key state's signature flipped in both copies (checksums fixed).",
            vault: try { var s = state; s.signature[10] ^= 0x01; return withCopy(try copy(body: s.serialize())) }())
        add("keystate-revocation-undone-unsigned", "tampered", "open", "The former supporter's author entry made active again; signature left as it was.",
            vault: try { var s = state
                for i in s.authors.indices where s.authors[i].id == former.id { s.authors[i].revokedAtSeq = Author.notRevoked }
                return withCopy(try copy(body: s.serialize())) }())
        add("supporter-forged-slot", "tampered", "open", "The nurse adds an accomplice (author entry and a slot with the current epoch key), generation +1, signed with the nurse's key.",
            vault: withCopy(try copy(body: nurseForgery().serialize(), generation: state.generation + 1)))
        add("supporter-replaced-owner-key", "tampered", "open", "As supporter-forged-slot, and the owner public key (and patient author key) replaced by the nurse's: the vault id does not certify it.",
            vault: withCopy(try copy(body: nurseForgery(replaceOwnerKey: true).serialize(), generation: state.generation + 1)))
        add("supporter-forged-whole-header", "tampered", "open", "The nurse rebuilds a self-consistent header under her own key: new vault id from her key and the salt, in the preamble and the key state, signed by her; records left as they were.",
            vault: try {
                let newId = VaultFormat.vaultId(ownerPublicKey: nurse.signing.publicKey, salt: preamble.vaultSalt)
                let forged = try nurseForgery(replaceOwnerKey: true, newVaultId: newId)
                var b = withCopy(try copy(body: forged.serialize(), generation: forged.generation))
                b.replaceSubrange(16..<32, with: newId); Self.fixPreamble(&b)
                return b }(),
            knownIssue: "reported as corrupted (\"generation file belongs to another vault\"): Store.openVault(id:) never checks that the file's vault id is the one requested")
        add("copy-a-forged-by-supporter", "tampered", "verify", "Copy A replaced by the nurse's forgery (generation +1); copy B intact, so the vault opens on B and reads, and `vault verify` must report the forged copy.",
            vault: withCopy(try copy(body: nurseForgery().serialize(), generation: state.generation + 1), indices: [0]))

        // Rollback (FORMAT.md §3.2, §5.3).
        add("rolled-back-vault-file", "tampered", "open", "The whole file as it was before the revocation (validly signed, generation −1); the store's generation record is current.",
            vault: preRevocation)
        add("rolled-back-header", "tampered", "open", "The header copies from before the revocation (which still hold the former supporter's slot) over the current records.",
            vault: Array(preRevocation[0..<recordsOffset]) + records)
        add("rolled-back-header-and-generation", "tampered", "read", "Header copies and generation record both from before the revocation (a rolled-back store); the revoked supporter opens it with her old slot but records after the revocation use epoch 2, which the old header does not hold.",
            vault: Array(preRevocation[0..<recordsOffset]) + records, generation: preRevocationGeneration,
            as: "supporter", email: base.revokedSupporterEmail, password: base.revokedSupporterPassword)

        // Record frames: structure (FORMAT.md §5.2).
        add("frame-length-past-eof-torn-tail", "ok", "done", "Control: a new frame header (valid checksum, length 4000) and 30 bytes after the last record: a torn append, ignored.",
            vault: try {
                let fixed = RecordFrame.fixedHeader(seq: 6, epoch: 2, kind: .vaultKey, prevLink: try link(5), frameLength: 4000)
                return bytes + fixed + Blake2b.hash(fixed, outputLength: 16) + Random.bytes(30) }(),
            records: 6)
        add("frame-length-over-maximum", "corrupted", "read", "Record 2's frameLength = 0xFFFFFFFF (header check fixed): out of range, not a torn tail.",
            vault: editedFrame(2) { b, s in Self.putU32(&b, s + 4, 0xFFFF_FFFF) })
        add("frame-length-to-end-of-file", "corrupted", "read", "Record 2's frameLength claims every remaining byte of the file (header check fixed): not torn, and the trailer at the end of the file does not repeat it.",
            vault: editedFrame(2) { b, s in Self.putU32(&b, s + 4, UInt32(b.count - s)) })
        add("frame-length-below-minimum", "corrupted", "read", "Record 2's frameLength = 16 (header check fixed).",
            vault: editedFrame(2) { b, s in Self.putU32(&b, s + 4, 16) })
        add("frame-header-checksum-mismatch", "corrupted", "read", "One bit of record 2's seq flipped; header check not updated.",
            vault: { var b = bytes; b[frames[2].lowerBound + 15] ^= 0x01; return b }())
        add("frame-reserved-bytes-set", "corrupted", "read", "Record 2's reserved bytes set (header check fixed).",
            vault: editedFrame(2) { b, s in b[s + 21] = 1 })
        add("frame-bad-magic", "corrupted", "read", "Record 2's magic reads `XKTR`.",
            vault: { var b = bytes; b[frames[2].lowerBound] = UInt8(ascii: "X"); return b }())
        add("frame-trailer-magic-wrong", "corrupted", "read", "Record 2's trailer magic reads `MKTX`.",
            vault: { var b = bytes; b[frames[2].upperBound - 1] = UInt8(ascii: "X"); return b }())
        add("trailing-garbage", "corrupted", "read", "100 bytes of 0xAA after the last record: too long for a torn header, and not a frame.",
            vault: bytes + [UInt8](repeating: 0xAA, count: 100))
        add("unknown-record-kind", "unsupported", "read", "Record 4's kind = 7 (header check fixed).",
            vault: editedFrame(4) { b, s in b[s + 20] = 7 })

        // Record frames: order, chain and epochs (FORMAT.md §5.3).
        add("record-ciphertext-bitflip", "tampered", "read", "One bit of record 3's ciphertext flipped.",
            vault: { var b = bytes; b[frames[3].lowerBound + 72 + 24 + 5] ^= 0x01; return b }())
        add("record-removed-from-middle", "tampered", "read", "Record 2 cut out.",
            vault: head + frame(0) + frame(1) + frame(3) + frame(4) + frame(5))
        add("records-swapped", "tampered", "read", "Records 4 and 5 (after the header's floor) swapped.",
            vault: head + frame(0) + frame(1) + frame(2) + frame(3) + frame(5) + frame(4))
        add("record-duplicated", "tampered", "read", "Record 5 appended a second time.", vault: bytes + frame(5))
        add("records-truncated-below-floor", "tampered", "read", "Records 3 to 5 cut off: fewer records than the header's floor (4) vouches for.",
            vault: head + frame(0) + frame(1) + frame(2))
        add("supporter-rewrites-floor-record", "tampered", "read", "The nurse cuts records 3 to 5 and appends her own record 3 in their place, with a valid chain link, encryption and signature: only the header's floor link (record 3) shows the replacement.",
            vault: try appended(authorId: nurse.id, signer: nurse.signing, epoch: 1, recordKey: try #require(nurseKeyring.derived[1]).recordKey,
                                seq: 3, onto: head + frame(0) + frame(1) + frame(2)))
        add("record-epoch-downgraded", "tampered", "read", "Record 4 (written in epoch 2) relabelled epoch 1 (header check fixed).",
            vault: editedFrame(4) { b, s in Self.putU32(&b, s + 16, 1) })
        add("record-epoch-unknown", "tampered", "read", "Record 5 relabelled epoch 9, which the header does not hold (header check fixed).",
            vault: editedFrame(5) { b, s in Self.putU32(&b, s + 16, 9) })

        // Records forged by people who hold some keys (FORMAT.md §5.1, §5.5; SECURITY.md).
        add("record-spliced-from-another-vault", "tampered", "read", "Another vault's record 0 (nonce and ciphertext) appended as seq 6 with this vault's header fields and chain link.",
            vault: try {
                guard case .frame(let f, _) = try RecordFrame.scan(otherVault, at: recordsOffset) else { throw VaultError.corrupted("other") }
                let spliced = RecordFrame(seq: 6, epoch: 2, kind: .vaultKey, prevLink: try link(5), sealedRecordKey: nil, nonce: f.nonce, ciphertext: f.ciphertext)
                return bytes + spliced.serialize() }())
        add("record-forged-as-patient-by-supporter", "tampered", "read", "The nurse appends a record that names the patient as author, signed with her own key, correctly encrypted under epoch 2's record key.",
            vault: try appended(authorId: vaultId, signer: nurse.signing, epoch: 2, recordKey: try #require(nurseKeyring.derived[2]).recordKey))
        add("record-forged-as-patient-by-service", "tampered", "read", "The write-only service seals a record to epoch 2 that names the patient as author, signed with the service's key.",
            vault: try appended(authorId: vaultId, signer: service.signing, epoch: 2, sealTo: state.currentEpoch.writePublicKey))
        add("record-by-revoked-supporter-old-epoch", "tampered", "read", "The revoked former supporter appends a record as herself under epoch 1, with the record key she kept.",
            vault: try appended(authorId: former.id, signer: former.signing, epoch: 1, recordKey: try #require(formerKeyring.derived[1]).recordKey))
        add("record-by-revoked-supporter-sealed", "tampered", "read", "The revoked former supporter seals a record to epoch 2's public write key, as herself: it decrypts, but her author entry ended at seq 4.",
            vault: try appended(authorId: former.id, signer: former.signing, epoch: 2, sealTo: state.currentEpoch.writePublicKey))
        add("unknown-payload-version", "unsupported", "read", "The patient appends a correctly encrypted and signed record whose payload version is 2.",
            vault: try appended(authorId: vaultId, signer: owner, epoch: 2, recordKey: try #require(patientKeyring.derived[2]).recordKey, payloadVersion: 2),
            knownIssue: "reported as tampered (\"decrypts to a malformed payload\"): Vault.scanRecords maps every payload parse error to tampered, including FormatError.unsupportedType for an unknown payload version")

        // Credentials and access.
        add("wrong-password", "authentication-failed", "unlock", "The intact vault, a wrong password.", password: "not the patient's password")
        add("wrong-recovery-code", "authentication-failed", "unlock", "The intact vault, a well-formed recovery code that is not this vault's.",
            as: "recovery", password: String(decoding: RecoveryCode.generate().text.unsafeCopyToArray(), as: UTF8.self))
        add("malformed-recovery-code", "invalid-input", "unlock", "The intact vault, a recovery code of the wrong length.",
            as: "recovery", password: "ABCDE-FGHJK")
        add("revoked-supporter-reads", "not-permitted", "unlock", "The intact vault, opened by the revoked former supporter with her own valid password.",
            as: "supporter", email: base.revokedSupporterEmail, password: base.revokedSupporterPassword)
        add("unlinked-supporter-reads", "not-permitted", "unlock", "The intact vault, opened by a supporter the patient never linked.",
            as: "supporter", email: base.strangerEmail, password: base.strangerPassword)
        add("supporter-wrong-password", "authentication-failed", "unlock", "The intact vault, the linked nurse with a wrong password.",
            as: "supporter", email: base.supporterEmail, password: "not the nurse's password")
        return out
    }
}

/// Attacks that need live processes or the store's API rather than a file at rest: not corpus material.
@Suite("Adversarial scenarios")
struct AdversarialScenarioTests {
    @Test("a grant whose supporter id collides with an existing author is refused, and never leaves a header readers reject")
    func grantWithCollidingId() throws {
        // The ids come from supporter account files, which are only checksummed: anyone who can write the store's
        // supporters/ and index/ folders chooses them.
        let s = try Scratch()
        let (vault, _) = try s.patient()
        let patient = try vault.unlock(password: pw("patient-pw"))
        let service = ServiceIdentity.generate()
        try vault.authorize(service: service.id, signPublicKey: service.signPublicKey, session: patient)
        for collidingId in [service.id, vault.vaultId] {
            let forged = SupporterPublicKeys(id: collidingId, boxPublicKey: BoxKeyPair.generate().publicKey, signPublicKey: SigningKeyPair.generate().publicKey)
            let before = try AdversarialFile.read(vault.path)
            // This was a bug: the grant went through and wrote a signed key state with overlapping author ids, which
            // every later open refused as corrupted: the patient's own grant bricked the vault.
            #expect(failureClass { try vault.grant(forged, session: patient) } == "invalid-input")
            #expect(try AdversarialFile.read(vault.path) == before)
            #expect(failureClass { _ = try s.store.openVault(email: "patient@example.jp") } == "ok")
        }
    }

    @Test("a handle that met a rolled-back header keeps refusing it: no append under the old epoch, no key change re-signing it")
    func rollbackSeenByLongLivedHandle() throws {
        let s = try Scratch()
        let (vault, _) = try s.patient()
        let (keys, nurse) = try s.supporter("nurse@example.jp")
        let patient = try vault.unlock(password: pw("patient-pw"))
        try vault.grant(keys, session: patient)
        let nurseKeys = try #require(try vault.unlock(supporter: nurse).keyring)  // all the nurse ever held
        try vault.append(type: "dose", data: json("1"), session: patient)
        let old = try AdversarialFile.read(vault.path)
        try vault.revoke(keys.id, session: patient)
        try vault.append(type: "dose", data: json(#""after the revocation""#), session: patient)
        // The revoked nurse, with write access to the disk, puts the old header back over the current records.
        let current = try AdversarialFile.read(vault.path)
        let recordsOffset = try Preamble.parse(current).recordsOffset
        try AdversarialFile.write(Array(old[0..<recordsOffset]) + Array(current[recordsOffset...]), to: vault.path)
        let firstNew = try AdversarialFile.frames(current).count
        // The patient's long-lived handle (a server's, say) refuses it, and keeps refusing on every retry.
        #expect(failureClass { _ = try vault.records(patient) } == "tampered")
        #expect(failureClass { _ = try vault.records(patient) } == "tampered")
        do {
            #expect(failureClass { try vault.append(type: "dose", data: json(#""written after the rollback""#), session: patient) } == "tampered",
                    "the patient's handle appends under the rolled-back header's epoch")
            let stranger = SupporterPublicKeys(id: Random.bytes(16), boxPublicKey: BoxKeyPair.generate().publicKey, signPublicKey: SigningKeyPair.generate().publicKey)
            #expect(failureClass { try vault.grant(stranger, session: patient) } == "tampered",
                    "a key change re-signs the rolled-back key state, with the revoked nurse's slot, at a generation the store accepts")
            #expect(failureClass { _ = try s.store.openVault(email: "patient@example.jp") } == "tampered", "the rollback has become the vault's signed state")
            // What it costs: the revoked nurse's old keys open records written after the rollback.
            let after = try AdversarialFile.frames(try AdversarialFile.read(vault.path)).dropFirst(firstNew)
            #expect(!after.contains { Self.opens($0.frame, vaultId: vault.vaultId, with: nurseKeys) },
                    "the revoked supporter's old keys decrypt a record the patient wrote after her revocation")
        }
    }

    static func opens(_ frame: RecordFrame, vaultId: [UInt8], with keyring: Keyring) -> Bool {
        keyring.derived.values.contains { AccessRun.decrypts(frame, vaultId: vaultId, keys: $0) }
    }

    @Test("after a shred, a vault file and generation record put back do not open, even through a handle opened before the shred")
    func shredReachesOpenHandles() throws {
        let s = try Scratch()
        let (vault, _) = try s.patient()
        let patient = try vault.unlock(password: pw("patient-pw"))
        try vault.append(type: "dose", data: json(#""before the shred""#), session: patient)
        let file = try AdversarialFile.read(vault.path)
        let generation = try AdversarialFile.read(s.store.generationPath(vault.vaultId))
        _ = try s.store.shred(email: "patient@example.jp",
                              request: ShredRequest(reason: "erasure request", requestedBy: "patient", reference: "t-1", executedBy: "tester", approvedBy: nil))
        #expect(failureClass { _ = try vault.records(patient) } == "not-found")
        // A backup of vaults/ and keys/*.gen, without the erasure secret, restored after the shred.
        try AdversarialFile.write(file, to: vault.path)
        try AdversarialFile.write(generation, to: s.store.generationPath(vault.vaultId))
        #expect(failureClass { _ = try s.store.openVault(id: vault.vaultId) } == "erased")
        // The handle opened before the shred notices the new file and re-reads the erasure secret: gone.
        #expect(failureClass { _ = try vault.records(patient) } == "erased", "the session opened before the shred reads the restored copy")
        do {
            #expect(failureClass { _ = try vault.records(patient) } == "erased", "a second read through the same handle")
            #expect(failureClass { _ = try vault.records(vault.unlock(password: pw("patient-pw"))) } == "erased", "the password opens the restored copy")
        }
    }
}

