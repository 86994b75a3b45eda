import Foundation
import MikataCrypto
import MikataFormat
@testable import MikataVault
import Testing

/// Issue 7 §5: the access log enforces its own policy. A store with one patient (linked to one supporter) and a
/// recovery code; every credential check of the library, with its right and wrong answers.
final class PolicyStore {
    static let patient = "policy.patient@example.jp"
    static let nurse = "policy.nurse@example.jp"
    static let unknown = "nobody.policy@example.jp"
    static let patientPassword = "patient-pw-41"
    static let nursePassword = "nurse-pw-77"
    static let wrong = "wrong-pw-13"

    let scratch: Scratch
    let vaultId: [UInt8]
    let supporterId: [UInt8]
    let recoveryCode: SecureBytes
    var store: Store { scratch.store }

    init() throws {
        scratch = try Scratch()
        let (vault, code) = try scratch.patient(Self.patient, password: Self.patientPassword)
        let (keys, _) = try scratch.supporter(Self.nurse, password: Self.nursePassword)
        let session = try vault.unlock(password: pw(Self.patientPassword))
        try vault.append(type: "dose", data: json(#"{"mg":300}"#), session: session)
        _ = try vault.grant(keys, session: session)
        vaultId = vault.vaultId
        supporterId = keys.id
        recoveryCode = code
    }

    func entries() throws -> [AuditLog.Entry] { try store.auditLog().entries() }

    /// A well-formed recovery code that is not this vault's.
    static var wrongRecoveryCode: SecureBytes { pw(Array(repeating: "00000", count: 8).joined(separator: "-")) }
}

/// The credentialed entry points of the library; each is tried with a wrong credential and with an unknown e-mail.
enum CredentialCheck: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case patientPassword, patientRecoveryCode, supporterUnlock, supporterDelete, supporterPasswordChange

    var testDescription: String { rawValue }
    var role: String { self == .patientPassword || self == .patientRecoveryCode ? "patient" : "supporter" }
    var action: String { self == .patientRecoveryCode ? "recovery-unlock" : "unlock" }

    /// Runs the check for `email` with a wrong credential.
    func attempt(_ s: PolicyStore, email: String) throws {
        switch self {
        case .patientPassword: _ = try s.store.unlockPatient(email: email, password: pw(PolicyStore.wrong))
        case .patientRecoveryCode: _ = try s.store.unlockPatient(email: email, recoveryCode: PolicyStore.wrongRecoveryCode)
        case .supporterUnlock: _ = try s.store.unlockSupporter(email: email, password: pw(PolicyStore.wrong))
        case .supporterDelete: _ = try s.store.deleteSupporter(email: email, password: pw(PolicyStore.wrong))
        case .supporterPasswordChange:
            try s.store.changeSupporterPassword(email: email, password: pw(PolicyStore.wrong), newPassword: pw("new-pw"))
        }
    }

    var knownEmail: String { role == "patient" ? PolicyStore.patient : PolicyStore.nurse }
}

func thrownError(_ body: () throws -> Void) -> VaultError? {
    do { try body(); return nil } catch let e as VaultError { return e } catch { return .io("not a VaultError: \(error)") }
}

@Suite("Access-log policy (issue 7 §5)")
struct AccessPolicyTests {
    // MARK: failed unlocks are logged, whoever fails

    @Test("a wrong credential is logged as denied, by role, with the account's id and never its e-mail", arguments: CredentialCheck.allCases)
    func wrongCredentialLogged(check: CredentialCheck) throws {
        let s = try PolicyStore()
        let before = try s.entries().count
        let error = thrownError { try check.attempt(s, email: check.knownEmail) }
        #expect(error?.failureClass == "authentication-failed")
        let added = try s.entries().dropFirst(before)
        #expect(added.count == 1, "\(added.map(\.action))")
        let e = try #require(added.last)
        #expect(e.action == check.action && e.outcome == "denied" && e.role == check.role && e.detail == "authentication-failed")
        if check.role == "patient" {
            #expect(e.actor == "patient" && e.vault == s.vaultId.hex)
        } else {
            #expect(e.actor == "supporter:\(s.supporterId.hex)" && e.vault == "")
        }
        let log = try String(contentsOfFile: "\(s.store.root)/audit/log.jsonl", encoding: .utf8)
        #expect(!log.contains(check.knownEmail) && !log.contains(PolicyStore.wrong))
        // Nothing changed: the supporter still opens with the right password after a refused delete or change.
        _ = try s.store.unlockSupporter(email: PolicyStore.nurse, password: pw(PolicyStore.nursePassword))
    }

    // MARK: an unknown e-mail is a wrong credential

    @Test("an unknown e-mail gets the wrong credential's error, the same expensive step, and one denied log entry",
          arguments: CredentialCheck.allCases)
    func unknownEmailLikeWrongCredential(check: CredentialCheck) throws {
        let s = try PolicyStore()
        let knownWork = CredentialWork()
        let known = CredentialWork.$current.withValue(knownWork) { thrownError { try check.attempt(s, email: check.knownEmail) } }
        let before = try s.entries().count
        let unknownWork = CredentialWork()
        let unknown = CredentialWork.$current.withValue(unknownWork) { thrownError { try check.attempt(s, email: PolicyStore.unknown) } }
        #expect(known != nil && unknown == known, "known: \(String(describing: known)), unknown: \(String(describing: unknown))")
        #expect(!knownWork.steps.isEmpty && unknownWork.steps == knownWork.steps)
        let added = try s.entries().dropFirst(before)
        #expect(added.count == 1)
        let e = try #require(added.last)
        #expect(e.action == check.action && e.outcome == "denied" && e.role == check.role && e.actor == "unknown" && e.vault == ""
                && e.detail == "unknown-account")
    }

    @Test("a wrong password whose NFKC form differs from its bytes costs a real account two Argon2id runs, and an unknown e-mail as many")
    func standInTriesEveryCandidate() throws {
        let s = try PolicyStore()
        let ligature = "\u{FB01}-wrong"  // NFKC: "fi-wrong"
        for (known, attempt) in [(PolicyStore.patient, { (e: String) in _ = try s.store.unlockPatient(email: e, password: pw(ligature)) }),
                                 (PolicyStore.nurse, { (e: String) in _ = try s.store.unlockSupporter(email: e, password: pw(ligature)) })] {
            let knownWork = CredentialWork(), unknownWork = CredentialWork()
            CredentialWork.$current.withValue(knownWork) { _ = thrownError { try attempt(known) } }
            CredentialWork.$current.withValue(unknownWork) { _ = thrownError { try attempt(PolicyStore.unknown) } }
            let argon2Runs = knownWork.steps.filter { if case .argon2id = $0 { return true } else { return false } }.count
            #expect(argon2Runs == 2 && unknownWork.steps == knownWork.steps, "\(knownWork.steps) vs \(unknownWork.steps)")
        }
    }

    @Test("the stand-in Argon2id runs at the store's parameters, what a real account's unlock costs")
    func standInAtStoreParameters() throws {
        let s = try PolicyStore()
        let work = CredentialWork()
        CredentialWork.$current.withValue(work) { _ = thrownError { _ = try s.store.unlockPatient(email: PolicyStore.unknown, password: pw("x")) } }
        #expect(work.steps == [.vaultHeader, .argon2id(s.store.kdf)])
    }

    @Test("an unknown e-mail's check opens the decoy as a known one opens its vault: a header read and verified, for every patient credential")
    func unknownEmailOpensTheDecoy() throws {
        let s = try PolicyStore()
        let attempts: [(String) throws -> Void] = [
            { _ = try s.store.unlockPatient(email: $0, password: pw(PolicyStore.wrong)) },
            { _ = try s.store.unlockPatient(email: $0, recoveryCode: PolicyStore.wrongRecoveryCode) },
        ]
        for attempt in attempts {
            let knownWork = CredentialWork(), unknownWork = CredentialWork()
            CredentialWork.$current.withValue(knownWork) { _ = thrownError { try attempt(PolicyStore.patient) } }
            CredentialWork.$current.withValue(unknownWork) { _ = thrownError { try attempt(PolicyStore.unknown) } }
            #expect(knownWork.steps.first == .vaultHeader && unknownWork.steps == knownWork.steps, "\(knownWork.steps) vs \(unknownWork.steps)")
        }
        // The decoy is made once per store handle and never written to the store's folders or its log.
        let decoy = try s.store.decoyVault()
        #expect(try s.store.decoyVault() === decoy)
        #expect(!FileManager.default.fileExists(atPath: s.store.vaultPath(decoy.vaultId)))
        let log = try String(contentsOfFile: "\(s.store.root)/audit/log.jsonl", encoding: .utf8)
        #expect(!log.contains(decoy.vaultId.hex))
    }

    @Test("a malformed recovery code fails alike for a known and an unknown e-mail, before either is looked up")
    func malformedRecoveryCodeAlike() throws {
        let s = try PolicyStore()
        for code in ["", "not-a-code", String(repeating: "A", count: 39)] {
            let before = try s.entries().count
            let knownWork = CredentialWork(), unknownWork = CredentialWork()
            let known = CredentialWork.$current.withValue(knownWork) {
                thrownError { _ = try s.store.unlockPatient(email: PolicyStore.patient, recoveryCode: pw(code)) }
            }
            let unknown = CredentialWork.$current.withValue(unknownWork) {
                thrownError { _ = try s.store.unlockPatient(email: PolicyStore.unknown, recoveryCode: pw(code)) }
            }
            #expect(known != nil && known == unknown, "\(code)")
            // Refused before the address is looked up: no vault opened, nothing logged, for either.
            let after = try s.entries().count
            #expect(knownWork.steps.isEmpty && unknownWork.steps.isEmpty && after == before, "\(code)")
        }
    }

    @Test("a shredded patient is an unknown e-mail: a wrong password's answer")
    func shreddedPatientIsUnknown() throws {
        let s = try PolicyStore()
        let wrong = thrownError { _ = try s.store.unlockPatient(email: PolicyStore.patient, password: pw(PolicyStore.wrong)) }
        _ = try s.store.shred(email: PolicyStore.patient, request: ShredKit.request())
        let afterShred = thrownError { _ = try s.store.unlockPatient(email: PolicyStore.patient, password: pw(PolicyStore.patientPassword)) }
        #expect(wrong?.failureClass == "authentication-failed" && afterShred == wrong)
    }

    @Test("a supporter asking for an unknown patient hears what an unlinked vault says, and it is logged")
    func supporterUnknownPatient() throws {
        let s = try PolicyStore()
        let identity = try s.store.unlockSupporter(email: PolicyStore.nurse, password: pw(PolicyStore.nursePassword))
        let other = "other.patient@example.jp"
        _ = try s.scratch.patient(other, password: "other-pw")
        let unlinkedWork = CredentialWork(), unknownWork = CredentialWork()
        let unlinked = CredentialWork.$current.withValue(unlinkedWork) { thrownError { _ = try s.store.openVault(email: other, supporter: identity) } }
        let unknown = CredentialWork.$current.withValue(unknownWork) {
            thrownError { _ = try s.store.openVault(email: PolicyStore.unknown, supporter: identity) }
        }
        #expect(unlinked?.failureClass == "not-permitted" && unknown == unlinked)
        // Both open a vault (the unknown address the decoy): the same header read and verified.
        #expect(unlinkedWork.steps == [.vaultHeader] && unknownWork.steps == unlinkedWork.steps)
        let e = try #require(try s.entries().last)
        #expect(e.actor == "supporter:\(s.supporterId.hex)" && e.outcome == "denied" && e.vault == "")
        // The linked vault opens.
        let (vault, session) = try s.store.openVault(email: PolicyStore.patient, supporter: identity)
        #expect(try vault.records(session).contains { $0.type == "dose" })
    }

    @Test("right credentials still open through the library's entry points")
    func rightCredentialsOpen() throws {
        let s = try PolicyStore()
        let (vault, session) = try s.store.unlockPatient(email: PolicyStore.patient, password: pw(PolicyStore.patientPassword))
        let records = try vault.records(session)
        #expect(vault.vaultId == s.vaultId && records.count >= 1)
        let (recovered, _) = try s.store.unlockPatient(email: PolicyStore.patient, recoveryCode: s.recoveryCode)
        #expect(recovered.vaultId == s.vaultId)
    }

    // MARK: operator inspection

    @Test("inspect without a password is a logged operator action; an unknown e-mail there is 'not found'")
    func inspectIsLogged() throws {
        let s = try PolicyStore()
        let info = try s.store.inspectVault(email: PolicyStore.patient, operator: "op-3")
        #expect(info.vaultId == s.vaultId)
        let e = try #require(try s.entries().last)
        #expect(e.action == "inspect" && e.role == "operator" && e.actor == "op-3" && e.outcome == "ok" && e.vault == s.vaultId.hex)
        #expect(thrownError { _ = try s.store.inspectVault(email: PolicyStore.unknown) }?.failureClass == "not-found")
    }

    // MARK: retention floor

    @Test("prune refuses a retention under 30 days without an override and changes nothing", arguments: [0, 1, 29])
    func retentionFloor(days: Int) throws {
        let s = try PolicyStore()
        let path = "\(s.store.root)/audit/log.jsonl"
        let before = try ShredKit.read(path)
        let error = thrownError { try s.store.auditLog().prune(retentionDays: days, actor: "op", now: Date().addingTimeInterval(400 * 86400)) }
        #expect(error?.failureClass == "not-permitted")
        #expect(try ShredKit.read(path) == before)
        for reason in ["", "   "] {
            #expect(thrownError { try s.store.auditLog().prune(retentionDays: days, actor: "op", shortRetentionReason: reason) }?.failureClass == "not-permitted")
        }
        #expect(try ShredKit.read(path) == before)
    }

    @Test("30 days and more need no override", arguments: [30, 31, 365])
    func retentionAtFloor(days: Int) throws {
        let s = try PolicyStore()
        let count = try s.entries().count
        let dropped = try s.store.auditLog().prune(retentionDays: days, actor: "op", now: Date().addingTimeInterval(Double(days + 1) * 86400))
        #expect(dropped == count)
        #expect(try s.entries().allSatisfy { $0.action != "audit-retention-override" })
        _ = try s.store.auditLog().verify()
    }

    @Test("an override is logged before the prune and survives it", arguments: [0, 29])
    func retentionOverride(days: Int) throws {
        let s = try PolicyStore()
        let count = try s.entries().count
        // Even with a clock far ahead (everything, the override included, looks old), the override entry stays.
        let dropped = try s.store.auditLog().prune(retentionDays: days, actor: "op-9", now: Date().addingTimeInterval(400 * 86400),
                                                   shortRetentionReason: "court order HC-7")
        #expect(dropped == count)
        let left = try s.entries()
        let override = try #require(left.first)
        #expect(override.action == "audit-retention-override" && override.actor == "op-9" && override.role == "operator"
                && override.detail.contains("court order HC-7") && override.detail.contains("\(days) days"))
        #expect(left.dropFirst().map(\.action) == ["audit-prune"])
        _ = try s.store.auditLog().verify()
    }

    @Test("an override reason must be one short line; a negative retention is invalid input")
    func retentionInputs() throws {
        let s = try PolicyStore()
        #expect(thrownError { try s.store.auditLog().prune(retentionDays: 0, actor: "op", shortRetentionReason: "a\nb") }?.failureClass == "invalid-input")
        #expect(thrownError { try s.store.auditLog().prune(retentionDays: 0, actor: "op", shortRetentionReason: String(repeating: "r", count: 257)) }?.failureClass == "invalid-input")
        #expect(thrownError { try s.store.auditLog().prune(retentionDays: -1, actor: "op", shortRetentionReason: "x") }?.failureClass == "invalid-input")
    }

    // MARK: supporter password change

    @Test("a supporter changes their password: the old one is refused, the new one opens, linked vaults still read, logged")
    func supporterPasswordChange() throws {
        let s = try PolicyStore()
        let accountPath = s.store.supporterPath(s.supporterId)
        let oldFile = try ShredKit.read(accountPath)
        let id = try s.store.changeSupporterPassword(email: PolicyStore.nurse, password: pw(PolicyStore.nursePassword), newPassword: pw("nurse-new-pw"))
        #expect(id == s.supporterId)
        #expect(thrownError { _ = try s.store.unlockSupporter(email: PolicyStore.nurse, password: pw(PolicyStore.nursePassword)) }?.failureClass == "authentication-failed")
        let identity = try s.store.unlockSupporter(email: PolicyStore.nurse, password: pw("nurse-new-pw"))
        let (vault, session) = try s.store.openVault(email: PolicyStore.patient, supporter: identity)
        #expect(try vault.records(session).contains { $0.type == "dose" })
        let change = try #require(try s.entries().first { $0.action == "password-change" && $0.role == "supporter" })
        #expect(change.actor == "supporter:\(s.supporterId.hex)" && change.outcome == "ok" && change.vault == "")
        let old = try SupporterAccountFile.parse(oldFile)
        let new = try SupporterAccountFile.parse(try ShredKit.read(accountPath))
        #expect(new.salt != old.salt && new.boxPublicKey == old.boxPublicKey && new.signPublicKey == old.signPublicKey
                && new.createdAtMillis == old.createdAtMillis && new.opsLimit == s.store.kdf.opsLimit)
        #expect(s.store.allFiles().allSatisfy { !(($0 as NSString).lastPathComponent.hasPrefix(".tmp-")) })
    }

    @Test("a refused password change leaves the account file as it was", arguments: ["wrong", "empty"])
    func refusedPasswordChange(kind: String) throws {
        let s = try PolicyStore()
        let accountPath = s.store.supporterPath(s.supporterId)
        let before = try ShredKit.read(accountPath)
        let old = kind == "wrong" ? PolicyStore.wrong : PolicyStore.nursePassword
        let newPassword = kind == "empty" ? "" : "nurse-new-pw"
        let error = thrownError { try s.store.changeSupporterPassword(email: PolicyStore.nurse, password: pw(old), newPassword: pw(newPassword)) }
        #expect(error?.failureClass == (kind == "wrong" ? "authentication-failed" : "invalid-input"))
        #expect(try ShredKit.read(accountPath) == before)
    }

    // MARK: key files in guarded memory

    @Test("key files are read into guarded memory: missing is nil, oversized is refused before reading")
    func secretFileReads() throws {
        let s = try PolicyStore()
        #expect(try Posix.readSecretFile("\(s.store.root)/keys/no-such.key", maxCount: 4096) == nil)
        let big = "\(s.scratch.dir)/big.key"
        try ShredKit.write([UInt8](repeating: 7, count: Store.keyFileMaximum + 1), to: big)
        #expect(thrownError { _ = try Posix.readSecretFile(big, maxCount: Store.keyFileMaximum) }?.failureClass == "corrupted")
        let secret = try #require(try Store.readErasureSecret(s.store.erasureSecretPath(s.vaultId)))
        #expect(secret.vaultId == s.vaultId && secret.secret.count == 32)
    }
}

/// The guarded-memory parsers agree with the array parsers on every input: each truncation and each single-byte
/// change of a valid file is refused with the same error, or parsed to the same secret.
@Suite("Key-file parsing from guarded memory")
struct SecretFileParsingTests {
    enum Kind: String, CaseIterable, CustomTestStringConvertible, Sendable {
        case lookupKey, signingSeed, erasureSecret
        var testDescription: String { rawValue }

        var valid: [UInt8] {
            switch self {
            case .lookupKey: return StoreSecretFile(.lookupKey, secret: SecureBytes.random(count: 32)).serialize()
            case .signingSeed: return StoreSecretFile(.signingSeed, secret: SecureBytes.random(count: 32)).serialize()
            case .erasureSecret: return ErasureSecretFile(vaultId: Random.bytes(16), secret: SecureBytes.random(count: 32)).serialize()
            }
        }

        /// (error, secret bytes and id) from one parser.
        func outcome(_ bytes: [UInt8], guarded: Bool) -> String {
            do {
                switch self {
                case .lookupKey, .signingSeed:
                    let k: StoreSecretFile.Kind = self == .lookupKey ? .lookupKey : .signingSeed
                    let f = guarded ? try StoreSecretFile.parse(SecureBytes(copying: bytes), as: k) : try StoreSecretFile.parse(bytes, as: k)
                    return "ok " + f.secret.unsafeCopyToArray().hex
                case .erasureSecret:
                    let f = guarded ? try ErasureSecretFile.parse(SecureBytes(copying: bytes)) : try ErasureSecretFile.parse(bytes)
                    return "ok " + f.vaultId.hex + f.secret.unsafeCopyToArray().hex
                }
            } catch { return "\(error)" }
        }
    }

    @Test("same answer for every truncation, extension and byte change", arguments: Kind.allCases)
    func parity(kind: Kind) {
        let valid = kind.valid
        var inputs: [[UInt8]] = [valid, valid + [0], []]
        for n in 0..<valid.count { inputs.append(Array(valid.prefix(n))) }
        for i in valid.indices { var b = valid; b[i] ^= 0x01; inputs.append(b) }
        // Re-checksummed changes reach the version, reserved and length rules.
        for i in 4..<8 {
            var b = Array(valid.dropLast(16)); b[i] ^= 0x01
            inputs.append(b + Blake2b.hash(b, outputLength: 16))
        }
        let longer = Array(valid.dropLast(16)) + [9]
        inputs.append(longer + Blake2b.hash(longer, outputLength: 16))
        for input in inputs {
            #expect(kind.outcome(input, guarded: true) == kind.outcome(input, guarded: false), "\(input.count) bytes")
        }
        #expect(kind.outcome(valid, guarded: true).hasPrefix("ok "))
    }
}
