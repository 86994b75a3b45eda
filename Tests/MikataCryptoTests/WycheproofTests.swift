import MikataCrypto
import Testing

// Every vector of the three Wycheproof files MikataVault's primitives are tested against.

struct AEADGroup: WycheproofGroup {
    struct Test: WycheproofTest {
        let tcId: Int
        let comment: String
        let flags: [String]
        let result: WycheproofResult
        @Hex var key: [UInt8]
        @Hex var iv: [UInt8]
        @Hex var aad: [UInt8]
        @Hex var msg: [UInt8]
        @Hex var ct: [UInt8]
        @Hex var tag: [UInt8]
    }
    let ivSize: Int
    let keySize: Int
    let tagSize: Int
    let tests: [Test]
}

struct XDHGroup: WycheproofGroup {
    struct Test: WycheproofTest {
        let tcId: Int
        let comment: String
        let flags: [String]
        let result: WycheproofResult
        @Hex var publicKey: [UInt8]
        @Hex var privateKey: [UInt8]
        @Hex var shared: [UInt8]

        enum CodingKeys: String, CodingKey {
            case tcId, comment, flags, result, shared
            case publicKey = "public"
            case privateKey = "private"
        }
    }
    let curve: String
    let tests: [Test]
}

struct EdDSAGroup: WycheproofGroup {
    struct PublicKey: Decodable {
        @Hex var pk: [UInt8]
    }
    struct Test: WycheproofTest {
        let tcId: Int
        let comment: String
        let flags: [String]
        let result: WycheproofResult
        @Hex var msg: [UInt8]
        @Hex var sig: [UInt8]
    }
    let publicKey: PublicKey
    let tests: [Test]
}

@Suite("Wycheproof")
struct WycheproofTests {
    @Test("XChaCha20-Poly1305: seal gives ct||tag, open gives msg; tampered or wrong-size input is refused")
    func xchacha20Poly1305() throws {
        try Wycheproof.run("xchacha20_poly1305_test.json", AEADGroup.self) { group, test in
            #expect(test.iv.count * 8 == group.ivSize && test.key.count * 8 == group.keySize, "tcId \(test.tcId): sizes differ from its group")
            let key = SecureBytes(copying: test.key)
            let sealed = test.ct + test.tag
            // Only 32-byte keys and 24-byte nonces exist in our API: other sizes must be refused before any crypto.
            let sizesSupported = test.key.count == XChaCha20Poly1305.keyLength && test.iv.count == XChaCha20Poly1305.nonceLength
            do {
                let opened = try XChaCha20Poly1305.open(sealed, key: key, nonce: test.iv, ad: test.aad)
                let resealed = try XChaCha20Poly1305.seal(test.msg, key: key, nonce: test.iv, ad: test.aad)
                return .accepted(matchesExpected: opened == test.msg && resealed == sealed)
            } catch CryptoError.authenticationFailed where sizesSupported {
                return .rejected
            } catch CryptoError.invalidKey where !sizesSupported {
                return .rejected
            } catch CryptoError.invalidInput where !sizesSupported {
                #expect(throws: CryptoError.self, "tcId \(test.tcId): seal accepted a wrong-size nonce") {
                    try XChaCha20Poly1305.seal(test.msg, key: key, nonce: test.iv, ad: test.aad)
                }
                return .rejected
            }
        }
    }

    @Test("X25519: shared secrets match; low-order public keys (all-zero secret) are refused")
    func x25519() throws {
        try Wycheproof.run("x25519_test.json", XDHGroup.self) { group, test in
            #expect(group.curve == "curve25519")
            // libsodium's crypto_scalarmult returns -1 rather than an all-zero shared secret.
            let mustRefuse = test.shared.allSatisfy { $0 == 0 }
                || test.flags.contains("ZeroSharedSecret") || test.flags.contains("LowOrderPublic")
            do {
                let shared = try X25519.sharedSecret(secretKey: SecureBytes(copying: test.privateKey), publicKey: test.publicKey)
                #expect(!mustRefuse, "tcId \(test.tcId): an all-zero / low-order shared secret was accepted")
                return .accepted(matchesExpected: shared == SecureBytes(copying: test.shared))
            } catch CryptoError.invalidKey {
                #expect(mustRefuse, "tcId \(test.tcId): refused though its shared secret is not all-zero")
                return .rejected
            }
        }
    }

    @Test("Ed25519: verify accepts exactly the valid signatures")
    func ed25519() throws {
        try Wycheproof.run("ed25519_test.json", EdDSAGroup.self) { group, test in
            Ed25519.verify(signature: test.sig, message: test.msg, publicKey: group.publicKey.pk)
                ? .accepted(matchesExpected: true) : .rejected
        }
    }

    @Test("Ed25519 through the verified-signature cache: the same answers, the first time and from the cache")
    func ed25519Cached() throws {
        let cache = VerifiedSignatures(capacity: 1 << 12)
        for _ in 0..<2 {
            try Wycheproof.run("ed25519_test.json", EdDSAGroup.self) { group, test in
                cache.verify(signature: test.sig, message: test.msg, publicKey: group.publicKey.pk)
                    ? .accepted(matchesExpected: true) : .rejected
            }
        }
        let stats = cache.statistics
        #expect(stats.entries > 0 && stats.hits >= stats.entries, "the second pass answered every valid signature from the cache")
    }
}
