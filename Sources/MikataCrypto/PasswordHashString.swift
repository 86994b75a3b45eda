internal import CSodium

/// Argon2id password hashes in libsodium's self-describing string form (`crypto_pwhash_str`,
/// `$argon2id$v=19$m=…,t=…,p=1$salt$hash`): the salt and cost travel with the hash, so a verifier needs nothing
/// else. Used for accounts that are only checked, never used to derive a key (the HTTP service's administrators).
package enum PasswordHashString {
    /// Longest string `crypto_pwhash_str` writes, its NUL included.
    package static let maxLength = Int(crypto_pwhash_STRBYTES)  // 128

    /// Hashes `password` with a fresh random salt at the given cost.
    /// - Throws: `CryptoError.invalidInput` for parameters out of range, `.resourceExhausted` when the memory
    ///   cannot be allocated.
    package static func hash(password: SecureBytes, opsLimit: UInt64, memLimit: UInt64) throws -> String {
        Sodium.ready()
        guard opsLimit >= PasswordHash.opsLimitMin, opsLimit <= PasswordHash.opsLimitMax,
              memLimit >= PasswordHash.memLimitMin, memLimit <= PasswordHash.memLimitMax else {
            throw CryptoError.invalidInput("Argon2id parameters out of range")
        }
        guard UInt64(password.count) <= UInt64(crypto_pwhash_passwd_max()) else { throw CryptoError.invalidInput("password too long") }
        var out = [CChar](repeating: 0, count: maxLength)
        let rc = password.withUnsafeBytes { pw in
            crypto_pwhash_str(&out, pw.baseAddress!.assumingMemoryBound(to: CChar.self), UInt64(pw.count), opsLimit, Int(memLimit))
        }
        guard rc == 0 else { throw CryptoError.resourceExhausted }
        return String(decoding: out.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Whether `password` matches `stored` (`crypto_pwhash_str_verify`: recomputes Argon2id at the cost the string
    /// names and compares in constant time). A malformed string is no match.
    package static func verify(_ stored: String, password: SecureBytes) -> Bool {
        Sodium.ready()
        var s = Array(stored.utf8CString)
        guard s.count <= maxLength else { return false }
        return password.withUnsafeBytes { pw in
            crypto_pwhash_str_verify(&s, pw.baseAddress!.assumingMemoryBound(to: CChar.self), UInt64(pw.count)) == 0
        }
    }

    /// The cost `stored` names: `t=` passes and `m=` memory (KiB in the string, bytes here); nil when it has none.
    package static func parameters(of stored: String) -> (opsLimit: UInt64, memLimit: UInt64)? {
        func field(_ prefix: String) -> UInt64? {
            for part in stored.split(separator: "$") {
                for item in part.split(separator: ",") where item.hasPrefix(prefix) {
                    return UInt64(item.dropFirst(prefix.count))
                }
            }
            return nil
        }
        guard let t = field("t="), let m = field("m="), m <= UInt64.max >> 10 else { return nil }
        return (t, m << 10)
    }
}
