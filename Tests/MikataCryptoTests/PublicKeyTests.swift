import MikataCrypto
import Testing

@Suite("Sealed boxes, X25519 and Ed25519 wrappers")
struct PublicKeyTests {
    @Test("a sealed box opens with its key pair and fails with another as authenticationFailed")
    func sealedBox() throws {
        let recipient = BoxKeyPair.generate()
        let secret = SecureBytes.random(count: 32)
        let sealed = try SealedBox.seal(secret, to: recipient.publicKey)
        #expect(sealed.count == secret.count + SealedBox.overhead)
        #expect(try SealedBox.open(sealed, keyPair: recipient) == secret)
        #expect(throws: CryptoError.authenticationFailed) {
            try SealedBox.open(sealed, keyPair: BoxKeyPair.generate())
        }
        var tampered = sealed
        tampered[tampered.count - 1] ^= 0x80
        #expect(throws: CryptoError.authenticationFailed) { try SealedBox.open(tampered, keyPair: recipient) }
        #expect(throws: CryptoError.authenticationFailed) { try SealedBox.open(Array(sealed.prefix(47)), keyPair: recipient) }
    }

    @Test("sealing to a low-order or wrong-length public key is refused as invalidKey")
    func sealedBoxBadRecipient() {
        let secret = SecureBytes.random(count: 32)
        #expect(throws: CryptoError.invalidKey("X25519 public key rejected")) {
            try SealedBox.seal(secret, to: Array(repeating: 0, count: 32))
        }
        #expect(throws: CryptoError.invalidKey("X25519 public key must be 32 bytes")) {
            try SealedBox.seal(secret, to: Array(repeating: 9, count: 31))
        }
    }

    @Test("box key pairs are deterministic from a seed and rebuilt from the secret key alone")
    func boxKeyPairDerivation() throws {
        let seed = SecureBytes(copying: Array(repeating: 7, count: BoxKeyPair.seedLength))
        let a = try BoxKeyPair.fromSeed(seed)
        let b = try BoxKeyPair.fromSeed(seed)
        #expect(a.publicKey == b.publicKey && a.secretKey == b.secretKey)
        #expect(try BoxKeyPair.fromSecretKey(a.secretKey).publicKey == a.publicKey)
        #expect(try X25519.publicKey(for: a.secretKey) == a.publicKey)
        #expect(throws: CryptoError.self) { try BoxKeyPair.fromSeed(SecureBytes.random(count: 31)) }
    }

    @Test("X25519 shared secrets agree from both sides")
    func x25519Agreement() throws {
        let alice = BoxKeyPair.generate()
        let bob = BoxKeyPair.generate()
        let ab = try X25519.sharedSecret(secretKey: alice.secretKey, publicKey: bob.publicKey)
        let ba = try X25519.sharedSecret(secretKey: bob.secretKey, publicKey: alice.publicKey)
        #expect(ab == ba)
        #expect(throws: CryptoError.self) { try X25519.sharedSecret(secretKey: alice.secretKey, publicKey: Array(repeating: 0, count: 32)) }
    }

    @Test("SigningKeyPair.fromSeed is deterministic and matches RFC 8032 test 1")
    func signingFromSeed() throws {
        let seed = SecureBytes(copying: [UInt8](hex: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")!)
        let a = try SigningKeyPair.fromSeed(seed)
        let b = try SigningKeyPair.fromSeed(SecureBytes(copying: seed.unsafeCopyToArray()))
        #expect(a.publicKey == b.publicKey)
        #expect(a.sign([1, 2, 3]) == b.sign([1, 2, 3]))
        #expect(a.publicKey.hexString == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
        #expect(a.sign([]).hexString == "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
        #expect(try SigningKeyPair.fromSeed(SecureBytes.random(count: 32)).publicKey != a.publicKey)
        #expect(throws: CryptoError.self) { try SigningKeyPair.fromSeed(SecureBytes.random(count: 64)) }
    }

    @Test("signatures verify only for their message and key")
    func signAndVerify() {
        let signer = SigningKeyPair.generate()
        let message: [UInt8] = Array("entry 42".utf8)
        let signature = signer.sign(message)
        #expect(signature.count == SigningKeyPair.signatureLength)
        #expect(Ed25519.verify(signature: signature, message: message, publicKey: signer.publicKey))
        #expect(!Ed25519.verify(signature: signature, message: message + [0], publicKey: signer.publicKey))
        #expect(!Ed25519.verify(signature: signature, message: message, publicKey: SigningKeyPair.generate().publicKey))
        #expect(!Ed25519.verify(signature: Array(signature.prefix(63)), message: message, publicKey: signer.publicKey))
        #expect(!Ed25519.verify(signature: signature, message: message, publicKey: Array(signer.publicKey.prefix(31))))
    }

    @Test("the verified-signature cache keeps only successes, under the exact key, signature and message, and stays bounded")
    func verifiedSignatureCache() throws {
        let signer = SigningKeyPair.generate()
        let other = SigningKeyPair.generate()
        let cache = VerifiedSignatures(capacity: 32)
        let message = Array("record 1".utf8)
        let signature = signer.sign(message)
        #expect(cache.verify(signature: signature, message: message, publicKey: signer.publicKey))
        #expect(cache.verify(signature: signature, message: message, publicKey: signer.publicKey))
        #expect(cache.statistics == (entries: 1, hits: 1, misses: 1))
        // Any byte of key, signature or message changed is a new question, verified (and refused) every time.
        for _ in 0..<2 {
            #expect(!cache.verify(signature: signature, message: message + [0], publicKey: signer.publicKey))
            #expect(!cache.verify(signature: signature, message: message, publicKey: other.publicKey))
            var flipped = signature
            flipped[63] ^= 0x01
            #expect(!cache.verify(signature: flipped, message: message, publicKey: signer.publicKey))
        }
        #expect(!cache.verify(signature: [], message: message, publicKey: signer.publicKey))
        #expect(cache.statistics.entries == 1, "failures are never kept")
        // Bounded: many more valid signatures than it holds.
        for i in 0..<200 {
            let m = Array("record \(i + 2)".utf8)
            #expect(cache.verify(signature: signer.sign(m), message: m, publicKey: signer.publicKey))
            #expect(cache.statistics.entries <= 32)
        }
    }
}
