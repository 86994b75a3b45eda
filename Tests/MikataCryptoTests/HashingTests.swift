import MikataCrypto
import Testing

@Suite("Argon2id, crypto_kdf and BLAKE2b wrappers")
struct HashingTests {
    let password = SecureBytes(copying: Array("correct horse battery staple".utf8))
    let salt: [UInt8] = Array(0..<16)

    @Test("Argon2id is deterministic for the same salt and parameters, and matches libsodium called from C")
    func argon2idDeterministic() throws {
        let a = try PasswordHash.deriveKey(password: password, salt: salt, opsLimit: PasswordHash.opsLimitMin, memLimit: PasswordHash.memLimitMin)
        let b = try PasswordHash.deriveKey(password: password, salt: salt, opsLimit: PasswordHash.opsLimitMin, memLimit: PasswordHash.memLimitMin)
        #expect(a == b)
        #expect(a.count == 32)
        // crypto_pwhash(out, 32, password, salt 00..0f, OPSLIMIT_MIN=1, MEMLIMIT_MIN=8192, ARGON2ID13), libsodium 1.0.18.
        #expect(a.unsafeCopyToArray().hexString == "d17ea6341ca93da6079ea2f64dc4aa31dd1aaf9caa67fb42ac4afd0714706f26")

        let otherSalt = try PasswordHash.deriveKey(password: password, salt: Array(1...16), opsLimit: PasswordHash.opsLimitMin, memLimit: PasswordHash.memLimitMin)
        #expect(otherSalt != a)
        let otherPassword = try PasswordHash.deriveKey(password: SecureBytes(copying: Array("Tr0ub4dor&3".utf8)), salt: salt, opsLimit: PasswordHash.opsLimitMin, memLimit: PasswordHash.memLimitMin)
        #expect(otherPassword != a)
        let empty = try PasswordHash.deriveKey(password: SecureBytes(copying: []), salt: salt, opsLimit: PasswordHash.opsLimitMin, memLimit: PasswordHash.memLimitMin, length: 64)
        #expect(empty.count == 64)
    }

    @Test("Argon2id with the interactive profile gives another key than the minimum one")
    func argon2idInteractive() throws {
        let interactive = try PasswordHash.deriveKey(password: password, salt: salt, opsLimit: PasswordHash.opsLimitInteractive, memLimit: PasswordHash.memLimitInteractive)
        let minimum = try PasswordHash.deriveKey(password: password, salt: salt, opsLimit: PasswordHash.opsLimitMin, memLimit: PasswordHash.memLimitMin)
        #expect(interactive.count == 32)
        #expect(interactive != minimum)
    }

    @Test("Argon2id refuses a wrong salt length and out-of-range limits as invalidInput", arguments: [
        (15, PasswordHash.opsLimitMin, PasswordHash.memLimitMin),
        (17, PasswordHash.opsLimitMin, PasswordHash.memLimitMin),
        (16, PasswordHash.opsLimitMin - 1, PasswordHash.memLimitMin),
        (16, PasswordHash.opsLimitMax + 1, PasswordHash.memLimitMin),
        (16, PasswordHash.opsLimitMin, PasswordHash.memLimitMin - 1),
        (16, PasswordHash.opsLimitMin, UInt64.max),
    ] as [(Int, UInt64, UInt64)])
    func argon2idOutOfRange(saltLength: Int, opsLimit: UInt64, memLimit: UInt64) {
        #expect {
            try PasswordHash.deriveKey(password: password, salt: Array(repeating: 1, count: saltLength), opsLimit: opsLimit, memLimit: memLimit)
        } throws: { error in
            if case CryptoError.invalidInput = error { true } else { false }
        }
    }

    @Test("Argon2id parameters libsodium refuses are invalidInput, not resourceExhausted")
    func argon2idLimitsLibsodiumRefuses() {
        #expect {
            try PasswordHash.deriveKey(password: password, salt: salt, opsLimit: 1, memLimit: PasswordHash.memLimitMax + 1)
        } throws: { error in
            if case CryptoError.invalidInput = error { true } else { false }
        }
        #expect {
            try PasswordHash.deriveKey(password: password, salt: salt, opsLimit: 1, memLimit: PasswordHash.memLimitMin, length: 15)
        } throws: { error in
            if case CryptoError.invalidInput = error { true } else { false }
        }
    }

    @Test("crypto_kdf subkeys differ per id and per context, and match BLAKE2b(key, salt=id, personal=context)")
    func subkeyDerivation() {
        let master = SecureBytes(copying: Array(0..<32))
        let first = SubkeyDerivation.derive(from: master, id: 0, context: "MIKATA01")
        let second = SubkeyDerivation.derive(from: master, id: 1, context: "MIKATA01")
        #expect(first != second)
        #expect(first == SubkeyDerivation.derive(from: master, id: 0, context: "MIKATA01"))
        #expect(first != SubkeyDerivation.derive(from: master, id: 0, context: "MIKATA02"))
        #expect(SubkeyDerivation.derive(from: master, id: 0, context: "MIKATA01", length: 64).count == 64)
        // Python: hashlib.blake2b(b"", digest_size=32, key=bytes(range(32)),
        //         salt=id.to_bytes(8, "little") + bytes(8), person=b"MIKATA01" + bytes(8))
        #expect(first.unsafeCopyToArray().hexString == "b7f938194e6733897c0e4ff711ff8135c77858d9da5e1b506b67d7bf9cedb4ae")
        #expect(second.unsafeCopyToArray().hexString == "6e70dea6714fe57f0a7f2c57561dcd9270bcec847001dabd5faf403606a0d858")
    }

    @Test("BLAKE2b keyed and unkeyed differ; both match Python's hashlib")
    func blake2b() {
        let message: [UInt8] = Array("abc".utf8)
        let unkeyed = Blake2b.hash(message)
        let h = Blake2b(key: SecureBytes(copying: Array(0..<32)))
        h.update(message)
        let keyed = h.finalize()
        #expect(keyed != unkeyed)
        #expect(unkeyed.hexString == "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319")
        #expect(keyed.hexString == "d63a32d3e44738d7907f964316c241adaba0abfeabc32349677578a15a203f7f")
        #expect(Blake2b.hash([]).hexString == "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8")
        #expect(Blake2b.hash(message, outputLength: 64).hexString
            == "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d17d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923")
        let otherKey = Blake2b(key: SecureBytes(copying: Array(1...32)))
        otherKey.update(message)
        #expect(otherKey.finalize() != keyed)
    }

    @Test("BLAKE2b hashes parts as their concatenation, whichever update is used")
    func blake2bIncremental() {
        let h = Blake2b()
        h.update([0x61])
        h.update("b")
        h.update(secret: SecureBytes(copying: [0x63]))
        #expect(h.finalize() == Blake2b.hash(Array("abc".utf8)))
        #expect(Blake2b.hash([0x61], [0x62, 0x63]) == Blake2b.hash(Array("abc".utf8)))
    }
}
