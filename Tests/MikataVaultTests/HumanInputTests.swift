import Foundation
import Testing
@testable import MikataVault
import MikataFormat
import MikataCrypto

/// Two ways a person may type the same password (other normalization forms, full width, a file's line ending).
struct PasswordForms: Sendable, CustomTestStringConvertible {
    let label: String
    let created: String
    let typed: String
    var testDescription: String { label }

    static let all: [PasswordForms] = [
        PasswordForms(label: "mañana NFC / NFD", created: "ma\u{F1}ana", typed: "man\u{303}ana"),
        PasswordForms(label: "mañana NFD / NFC", created: "man\u{303}ana", typed: "ma\u{F1}ana"),
        PasswordForms(label: "full-width / ASCII", created: "\u{FF50}\u{FF41}\u{FF53}\u{FF53}-word", typed: "pass-word"),
        PasswordForms(label: "Å U+212B / U+00C5", created: "\u{212B}ngstr\u{F6}m", typed: "\u{C5}ngstro\u{308}m"),
        PasswordForms(label: "Å U+00C5 / A + ring", created: "\u{C5}sa", typed: "A\u{30A}sa"),
        PasswordForms(label: "ﬁ ligature / fi", created: "\u{FB01}nal answer", typed: "final answer"),
        PasswordForms(label: "CRLF ending / none", created: "line-pw\r\n", typed: "line-pw"),
        PasswordForms(label: "none / LF ending", created: "line-pw", typed: "line-pw\n"),
        PasswordForms(label: "none / CR ending", created: "line-pw", typed: "line-pw\r"),
    ]
}

/// Typed recovery codes that mean the same code, built from the code shown at creation.
enum CodeTyping: String, CaseIterable, Sendable {
    case asShown, lowercase, noDashes, spaces, fullWidth, fullWidthLowercaseNoDashes, unicodeDashes, lookalikes

    func apply(_ code: String) -> String {
        switch self {
        case .asShown: return code
        case .lowercase: return code.lowercased()
        case .noDashes: return code.replacingOccurrences(of: "-", with: "")
        case .spaces: return "  " + code.replacingOccurrences(of: "-", with: " ") + " \r\n"
        case .fullWidth: return Self.fullWidth(code)
        case .fullWidthLowercaseNoDashes: return Self.fullWidth(code.lowercased().replacingOccurrences(of: "-", with: ""))
        case .unicodeDashes: return code.replacingOccurrences(of: "-", with: "\u{2010}")
        case .lookalikes: return code.replacingOccurrences(of: "1", with: "l").replacingOccurrences(of: "0", with: "o")
        }
    }

    static func fullWidth(_ s: String) -> String {
        String(String.UnicodeScalarView(s.unicodeScalars.map { $0.value >= 0x21 && $0.value <= 0x7E ? Unicode.Scalar($0.value + 0xFEE0)! : $0 }))
    }
}

private func text(_ s: SecureBytes) -> String { String(decoding: s.unsafeCopyToArray(), as: UTF8.self) }

private func auditCount(_ store: Store, action: String) throws -> Int {
    try store.auditLog().entries().filter { $0.action == action }.count
}

@Suite("Input typed by people")
struct HumanInputTests {
    // MARK: passwords

    @Test("a patient's password opens in every form that means it", arguments: PasswordForms.all)
    func patientPassword(_ forms: PasswordForms) throws {
        let s = try Scratch()
        let (vault, _) = try s.patient(password: forms.created)
        _ = try vault.unlock(password: pw(forms.typed))
        _ = try vault.unlock(password: pw(forms.created))
    }

    @Test("a supporter's password opens in every form that means it", arguments: PasswordForms.all)
    func supporterPassword(_ forms: PasswordForms) throws {
        let s = try Scratch()
        _ = try s.store.createSupporter(email: "nurse@example.jp", name: "Nurse", password: pw(forms.created))
        _ = try s.store.unlockSupporter(email: "nurse@example.jp", password: pw(forms.typed))
    }

    @Test("a changed password opens in every form that means it; so does a recovered one", arguments: PasswordForms.all)
    func changedPassword(_ forms: PasswordForms) throws {
        let s = try Scratch()
        let (vault, code) = try s.patient()
        try vault.changePassword(to: pw(forms.created), kdf: .minimumForTesting, session: try vault.unlock(password: pw("patient-pw")))
        _ = try vault.unlock(password: pw(forms.typed))
        try vault.changePassword(to: pw(forms.typed), kdf: .minimumForTesting, session: try vault.unlock(recoveryCode: code))
        _ = try vault.unlock(password: pw(forms.created))
    }

    @Test("different passwords stay different", arguments: [("ma\u{F1}ana", "manana"), ("\u{C5}sa", "Asa"), ("pass", "PASS"), ("pw", "pw "), ("pw", " pw")])
    func differentPasswords(_ pair: (String, String)) throws {
        let s = try Scratch()
        let (vault, _) = try s.patient(password: pair.0)
        #expect(failureClass { _ = try vault.unlock(password: pw(pair.1)) } == "authentication-failed")
    }

    @Test("bytes that are not UTF-8 are a password as given")
    func nonUTF8Password() throws {
        let raw: [UInt8] = [0xFF, 0xFE, 0x41, 0xC3]
        #expect(HumanInput.password(SecureBytes(copying: raw)).unsafeCopyToArray() == raw)
        let s = try Scratch()
        _ = try s.store.createPatient(email: "bytes@example.jp", nickname: "B", password: SecureBytes(copying: raw))
        _ = try s.store.openVault(email: "bytes@example.jp").unlock(password: SecureBytes(copying: raw))
        #expect(failureClass { _ = try s.store.openVault(email: "bytes@example.jp").unlock(password: SecureBytes(copying: raw.dropLast())) }
            == "authentication-failed")
    }

    @Test("a vault whose slot holds a password as typed before the rule (NFD) still opens with it")
    func legacyVaultSlot() throws {
        let s = try Scratch()
        let (vault, _) = try s.patient()
        let nfd = "man\u{303}ana"
        // v1 wrote the slot from the bytes as given.
        try vault.changePasswordLocked(to: pw(nfd), kdf: .minimumForTesting, session: try vault.unlock(password: pw("patient-pw")))
        _ = try vault.unlock(password: pw(nfd))
        _ = try vault.unlock(password: pw(nfd + "\n"))
    }

    @Test("a supporter account sealed under a password as typed before the rule (NFD) still opens with it")
    func legacySupporterAccount() throws {
        let s = try Scratch()
        let (keys, identity) = try s.supporter("legacy@example.jp")
        let nfd = "man\u{303}ana"
        // Re-seal the account's secrets the way v1 did: Argon2id over the bytes as given.
        let path = s.store.supporterPath(keys.id)
        var account = try SupporterAccountFile.parse(try #require(try Posix.readFile(path)))
        let key = try KDFParameters.minimumForTesting.derive(password: pw(nfd), salt: account.salt)
        let plain = SupporterSecrets(boxSecretKey: identity.box.secretKey, signSeed: identity.signing.seed, name: identity.name).serialize()
        account.sealedSecrets = try XChaCha20Poly1305.seal(plain, key: key, nonce: account.nonce, ad: account.associatedData())
        try Posix.writeAtomically(path, account.serialize())
        #expect(try s.store.unlockSupporter(email: "legacy@example.jp", password: pw(nfd)).id == keys.id)
        #expect(failureClass { _ = try s.store.unlockSupporter(email: "legacy@example.jp", password: pw("nurse-pw")) } == "authentication-failed")
    }

    // MARK: recovery codes

    @Test("a recovery code typed in every harmless way opens the vault", arguments: CodeTyping.allCases)
    func recoveryCodeTypings(_ typing: CodeTyping) throws {
        let s = try Scratch()
        let (vault, code) = try s.patient()
        _ = try vault.unlock(recoveryCode: pw(typing.apply(text(code))))
    }

    @Test("a text that cannot be a recovery code is invalid input, and no failed unlock is logged",
          arguments: ["", "KXHY3", "KXHY3-A6A3W-7J6AW-1ZFRQ-VKRG9-ERNJ9-JR4R8-1766", "KXHY3-A6A3W-7J6AW-1ZFRQ-VKRG9-ERNJ9-JR4R8-1766CC",
                      "UXHY3-A6A3W-7J6AW-1ZFRQ-VKRG9-ERNJ9-JR4R8-1766C", "KXHY3!A6A3W-7J6AW-1ZFRQ-VKRG9-ERNJ9-JR4R8-1766C",
                      "KXHY3-A6A3W-7J6AW-1ZFRQ-VKRG9-ERNJ9-JR4R8-1766\u{C7}", "patient-pw"])
    func malformedRecoveryCode(_ typed: String) throws {
        let s = try Scratch()
        let (vault, _) = try s.patient()
        let before = try auditCount(s.store, action: "recovery-unlock")
        #expect(failureClass { _ = try vault.unlock(recoveryCode: pw(typed)) } == "invalid-input")
        #expect(try auditCount(s.store, action: "recovery-unlock") == before)
    }

    @Test("a well-formed but wrong recovery code is a failed unlock, logged")
    func wrongRecoveryCode() throws {
        let s = try Scratch()
        let (vault, _) = try s.patient()
        #expect(failureClass { _ = try vault.unlock(recoveryCode: pw("00000-00000-00000-00000-00000-00000-00000-00000")) } == "authentication-failed")
        #expect(try s.store.auditLog().entries().contains { $0.action == "recovery-unlock" && $0.outcome == "denied" })
    }

    // MARK: e-mail addresses

    @Test("an address typed in another width, case or with spaces is the same identity",
          arguments: ["Taro@Example.JP", "  taro@example.jp\n", "\u{FF54}\u{FF41}\u{FF52}\u{FF4F}\u{FF20}\u{FF45}\u{FF58}\u{FF41}\u{FF4D}\u{FF50}\u{FF4C}\u{FF45}\u{FF0E}\u{FF4A}\u{FF50}"])
    func emailForms(_ typed: String) throws {
        let s = try Scratch()
        let (vault, _) = try s.patient("taro@example.jp")
        #expect(try s.store.vaultId(email: typed) == vault.vaultId)
        #expect(failureClass { _ = try s.store.createPatient(email: typed, nickname: "Again", password: pw("x")) } == "already-exists")
    }

    @Test("addresses that are not addresses are invalid input", arguments: ["", "taro", "@example.jp", "taro@", "ta ro@example.jp", "a@b@c", "taro\u{7}@example.jp"])
    func invalidEmails(_ typed: String) throws {
        #expect(failureClass { _ = try HumanInput.email(typed) } == "invalid-input")
    }

    @Test("an index entry keyed the v1 way (no NFKC) for a non-ASCII address still resolves")
    func legacyEmailEntry() throws {
        let s = try Scratch()
        let typed = "\u{FF54}aro@example.jp"  // a full-width t
        let (vault, _) = try s.patient(typed)
        let current = try s.store.lookupPath(.patient, email: typed)
        let legacyName = s.store.lookupName(.patient, normalised: HumanInput.legacyEmail(typed))
        let legacy = s.store.lookupPath(name: legacyName)
        #expect(current != legacy)
        // What the one-time upgrade leaves for an entry made before the rule: the entry under its v1 name,
        // authenticated under that name.
        let entry = try IdentityEntry.parse(Array(try Data(contentsOf: URL(fileURLWithPath: current))))
        try Posix.makeDirectories(Posix.parent(of: legacy))
        try Posix.writeNew(legacy, s.store.rootKey.sign(entry, name: legacyName).serialize())
        try Posix.remove(current)
        #expect(try s.store.vaultId(email: typed) == vault.vaultId)
        #expect(failureClass { _ = try s.store.createPatient(email: typed, nickname: "Again", password: pw("x")) } == "already-exists")
        // ASCII addresses have one key: NFKC changes nothing.
        #expect(HumanInput.legacyEmail(" Golden.Patient@Example.JP ") == (try HumanInput.email(" Golden.Patient@Example.JP ")))
    }

    // MARK: names

    @Test("names and nicknames are stored NFC and trimmed")
    func namesNormalised() throws {
        let s = try Scratch()
        _ = try s.store.createPatient(email: "n@example.jp", nickname: "  Jose\u{301}\n", password: pw("pw"))
        let vault = try s.store.openVault(email: "n@example.jp")
        let profile = try #require(try vault.records(vault.unlock(password: pw("pw"))).first)
        #expect(profile.data == Array(#"{"nickname":"Jos\#u{E9}"}"#.utf8))
        _ = try s.store.createSupporter(email: "s@example.jp", name: "Nurse A\u{30A} ", password: pw("pw"))
        #expect(try s.store.unlockSupporter(email: "s@example.jp", password: pw("pw")).name == "Nurse \u{C5}")
    }

    @Test("names with control characters, or empty once trimmed, are invalid input", arguments: ["", "   ", "Ta\tro", "Ta\nro", "Taro\u{0}", "\u{1B}[31mTaro"])
    func invalidNames(_ name: String) throws {
        let s = try Scratch()
        #expect(failureClass { _ = try s.store.createPatient(email: "n@example.jp", nickname: name, password: pw("pw")) } == "invalid-input")
        #expect(failureClass { _ = try s.store.createSupporter(email: "s@example.jp", name: name, password: pw("pw")) } == "invalid-input")
        #expect(s.store.allFiles().allSatisfy { !$0.contains("/vaults/") && !$0.contains("/supporters/") })
    }

    // MARK: record data

    @Test("record data with a member name twice in one object is refused, at any depth",
          arguments: [#"{"mg":300,"mg":600}"#, #"{"a":{"b":1,"b":2}}"#, #"[1,{"x":true,"x":true}]"#, #"{"a":1,"\u0061":2}"#,
                      #"{"k":[{"d":{"z":0,"z":0}}]}"#])
    func duplicateMembers(_ data: String) throws {
        let s = try Scratch()
        let (vault, _) = try s.patient()
        let session = try vault.unlock(password: pw("patient-pw"))
        #expect(failureClass { try vault.append(type: "dose", data: json(data), session: session) } == "invalid-input")
        #expect(failureClass { _ = try HumanInput.recordData(json(data)) } == "invalid-input")
        #expect(try vault.records(session).count == 1)
    }

    @Test("record data that is not strict JSON is refused", arguments: [#"{"mg":300"#, "{'a':1}", #""\ud800""#, "1e400", "", "{} {}", "NaN"])
    func notStrictJSON(_ data: String) throws {
        #expect(failureClass { _ = try HumanInput.recordData(json(data)) } == "invalid-input")
    }

    @Test("distinct member names (by code points) are fine, trailing whitespace is dropped",
          arguments: [#"{"mg":300,"MG":600}"#, #"{"\#u{E9}":1,"e\#u{301}":2}"#, #"{"a":{"b":1},"b":{"a":2}}"#, "3", #""text""#])
    func distinctMembers(_ data: String) throws {
        #expect(try HumanInput.recordData(json(data + " \r\n")) == json(data))
    }

    // MARK: the golden store

    @Test("the golden v1 store opens with its e-mails, password and recovery code typed in other forms")
    func goldenOtherForms() throws {
        let (dir, expected) = try GoldenTests.copyOfFixture()
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try Store.initialize(at: dir.path).0  // its one-time root-key upgrade
        let vault = try store.openVault(email: CodeTyping.fullWidth(expected.patientEmail.uppercased()))
        _ = try vault.unlock(password: pw(expected.patientPassword + "\r\n"))
        _ = try vault.unlock(recoveryCode: pw(CodeTyping.fullWidthLowercaseNoDashes.apply(expected.recoveryCode)))
        _ = try store.unlockSupporter(email: " " + expected.supporterEmail.uppercased(), password: pw(CodeTyping.fullWidth(expected.supporterPassword)))
    }
}
