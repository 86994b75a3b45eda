import Foundation
package import MikataCrypto
import MikataFormat

/// The one rule for what people type (docs/SECURITY.md, "Input typed by people"). Every entry point of the library
/// (creating, unlocking, changing a password, recovering, looking up an e-mail) applies it, so the CLI and any
/// later service agree on one identity, one secret and one meaning for the same keystrokes.
///
/// - Passwords: trailing CR/LF removed, then Unicode NFKC (RFC 8265 OpaqueString, NIST SP 800-63B §5.1.1.2).
///   Bytes that are not UTF-8 are used as given.
/// - Recovery codes: NFKC, spaces and dashes dropped, upper-cased, then the Crockford base-32 alphabet and length
///   are checked; a code that cannot be one is invalid input, not a failed unlock.
/// - E-mail addresses: NFKC, trimmed, lower-cased as a whole (local part included, as since v1).
/// - Names and nicknames: NFC, trimmed, no control characters, 1 to 256 bytes.
package enum HumanInput {
    // MARK: passwords

    /// The normalised form of a password.
    package static func password(_ raw: SecureBytes) -> SecureBytes { normalise(withoutLineEnding(raw)) }

    /// The passwords to try, in order: the normalised form, then (if it differs) the bytes as given without their
    /// line ending, which is what v1 used. Vaults and accounts created before the rule keep opening; only such a
    /// password costs a second Argon2id.
    static func passwordCandidates(_ raw: SecureBytes) -> [SecureBytes] {
        let asGiven = withoutLineEnding(raw)
        let normalised = normalise(asGiven)
        return normalised == asGiven ? [normalised] : [normalised, asGiven]
    }

    /// A trailing CR/LF is never part of a secret (a password file's line ending).
    private static func withoutLineEnding(_ raw: SecureBytes) -> SecureBytes {
        let count = raw.withUnsafeBytes { b in
            var n = b.count
            while n > 0, b[n - 1] == 10 || b[n - 1] == 13 { n -= 1 }
            return n
        }
        return count == raw.count ? raw : raw.slice(0..<count)
    }

    private static func normalise(_ password: SecureBytes) -> SecureBytes {
        var bytes = password.unsafeCopyToArray()
        defer { Sodium.wipe(&bytes) }
        // ASCII is its own NFKC form: no String (an unwiped heap copy) is made for it.
        guard bytes.contains(where: { $0 >= 0x80 }), let text = String(validating: bytes, as: UTF8.self) else { return password }
        var normalised = Array(text.precomposedStringWithCompatibilityMapping.utf8)
        return SecureBytes(wiping: &normalised)
    }

    /// Runs `attempt` with each candidate form of `raw` until one is not "wrong password".
    static func tryPasswords<R>(_ raw: SecureBytes, _ attempt: (SecureBytes) throws -> R) throws -> R {
        let candidates = passwordCandidates(raw)
        for (i, candidate) in candidates.enumerated() {
            do { return try attempt(candidate) } catch VaultError.authenticationFailed where i + 1 < candidates.count { continue }
        }
        preconditionFailure("the last candidate returns or throws")
    }

    // MARK: recovery codes

    /// The 40 Crockford base-32 characters of a typed recovery code (I/L read as 1, O as 0).
    /// - Throws: `VaultError.invalidInput` when the text cannot be a recovery code (wrong characters or length).
    static func recoveryCode(_ typed: SecureBytes) throws -> SecureBytes {
        var bytes = typed.unsafeCopyToArray()
        defer { Sodium.wipe(&bytes) }
        if bytes.contains(where: { $0 >= 0x80 }) {
            guard let text = String(validating: bytes, as: UTF8.self) else { throw invalidCode }
            Sodium.wipe(&bytes)
            bytes = Array(text.precomposedStringWithCompatibilityMapping.utf8)
        }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw invalidCode }
        var out: [UInt8] = []
        defer { Sodium.wipe(&out) }
        for scalar in text.unicodeScalars {
            if scalar.properties.isWhitespace || scalar.properties.generalCategory == .dashPunctuation || scalar == "\u{2212}" { continue }
            guard scalar.isASCII else { throw invalidCode }
            var c = UInt8(scalar.value)
            if c >= 97 && c <= 122 { c -= 32 }
            if c == UInt8(ascii: "I") || c == UInt8(ascii: "L") { c = UInt8(ascii: "1") }
            if c == UInt8(ascii: "O") { c = UInt8(ascii: "0") }
            guard RecoveryCode.alphabet.contains(c) else { throw invalidCode }
            out.append(c)
        }
        guard out.count == RecoveryCode.characterCount else {
            throw VaultError.invalidInput("that is not a recovery code: it has \(RecoveryCode.characterCount) letters and digits (dashes and spaces do not matter)")
        }
        return SecureBytes(wiping: &out)
    }

    private static var invalidCode: VaultError {
        .invalidInput("that is not a recovery code: it is made of the digits 0-9 and the letters A-Z except I, L, O and U")
    }

    // MARK: e-mail addresses

    /// The address as the store keys it: NFKC, trimmed, lower-cased; it must look like an address.
    /// The message never repeats the input.
    package static func email(_ typed: String) throws -> String {
        let e = legacyEmail(typed.precomposedStringWithCompatibilityMapping).precomposedStringWithCompatibilityMapping
        let parts = e.split(separator: "@", omittingEmptySubsequences: false)
        guard e.utf8.count <= 254, parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty,
              !e.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.properties.generalCategory == .control })
        else { throw VaultError.invalidInput("that is not a valid e-mail address") }
        return e
    }

    /// The v1 key (trimmed and lower-cased, no NFKC): identical for ASCII addresses; lookups fall back to it so an
    /// entry made before the rule keeps resolving.
    static func legacyEmail(_ typed: String) -> String {
        typed.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
    }

    // MARK: names

    /// A name or nickname: NFC, trimmed, no control characters (a tab or a line break included), 1 to 256 bytes.
    package static func name(_ typed: String, what: String) throws -> String {
        let n = typed.precomposedStringWithCanonicalMapping.trimmingCharacters(in: .whitespacesAndNewlines)
        try rejectControlCharacters(n, what: what)
        guard !n.isEmpty, n.utf8.count <= 256 else { throw VaultError.invalidInput("the \(what) must be 1 to 256 bytes") }
        return n
    }

    /// Refuses text with a control character (Unicode general category Cc: C0, DEL, C1; a tab or a line break
    /// included): names, nicknames and the deletion certificate's texts, which are shown on terminals as they are.
    /// - Throws: `VaultError.invalidInput` naming `what`.
    package static func rejectControlCharacters(_ text: String, what: String) throws {
        guard !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw VaultError.invalidInput("the \(what) must not contain control characters (such as tabs, line breaks or DEL)")
        }
    }

    // MARK: record data

    /// Record data given by a person or a client: strict JSON (RFC 8259 with I-JSON's rules, RFC 7493: no duplicate
    /// member names at any depth, no lone surrogates, finite numbers). Returns the data without trailing whitespace.
    package static func recordData(_ bytes: [UInt8]) throws -> [UInt8] {
        try checkRecordData(bytes)
        var trimmed = bytes
        while let last = trimmed.last, last == 0x20 || last == 0x09 || last == 0x0A || last == 0x0D { trimmed.removeLast() }
        return trimmed
    }

    static func checkRecordData(_ bytes: [UInt8]) throws {
        do { try CanonicalJSON.validate(bytes) } catch let e as FormatError {
            throw VaultError.invalidInput("the record data is not strict JSON (\(e))")
        }
    }
}

extension Store {
    /// The name of an address's identity entry, if there is one: under `HumanInput.email`'s key, else under the v1
    /// key (only for addresses whose two keys differ, i.e. not ASCII), so entries made before the rule keep resolving.
    func existingLookupName(_ kind: LookupEntry.Kind, email: String) throws -> [UInt8]? {
        let name = try lookupName(kind, email: email)
        if identities.contains(name) { return name }
        let legacy = HumanInput.legacyEmail(email)
        guard legacy != (try HumanInput.email(email)) else { return nil }
        let legacyName = lookupName(kind, normalised: legacy)
        return identities.contains(legacyName) ? legacyName : nil
    }

    /// The path of an address's existing identity entry (`existingLookupName`).
    func existingLookupPath(_ kind: LookupEntry.Kind, email: String) throws -> String? {
        try existingLookupName(kind, email: email).map { lookupPath(name: $0) }
    }
}
