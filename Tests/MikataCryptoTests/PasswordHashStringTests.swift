import Testing
import MikataCrypto

@Suite struct PasswordHashStringTests {
    @Test func hashesVerifyOnlyTheirPasswordAndNameTheirCost() throws {
        let password = SecureBytes(copying: Array("correct horse battery".utf8))
        let stored = try PasswordHashString.hash(password: password, opsLimit: PasswordHash.opsLimitMin, memLimit: PasswordHash.memLimitMin)
        #expect(stored.hasPrefix("$argon2id$v=19$"))
        #expect(PasswordHashString.verify(stored, password: password))
        #expect(!PasswordHashString.verify(stored, password: SecureBytes(copying: Array("correct horse batterY".utf8))))
        #expect(!PasswordHashString.verify("$argon2id$v=19$garbage", password: password), "malformed: no match")
        #expect(!PasswordHashString.verify(String(repeating: "x", count: 200), password: password), "longer than crypto_pwhash_STRBYTES")
        #expect(PasswordHashString.parameters(of: stored)?.memLimit == PasswordHash.memLimitMin)
        #expect(PasswordHashString.parameters(of: stored)?.opsLimit == PasswordHash.opsLimitMin)
        #expect(PasswordHashString.parameters(of: "$argon2id$v=19$garbage") == nil)
        let again = try PasswordHashString.hash(password: password, opsLimit: PasswordHash.opsLimitMin, memLimit: PasswordHash.memLimitMin)
        #expect(again != stored, "a fresh salt each time")
        #expect(throws: CryptoError.self) { try PasswordHashString.hash(password: password, opsLimit: 0, memLimit: PasswordHash.memLimitMin) }
    }
}
