import MikataCrypto
import Testing

@Suite("XChaCha20-Poly1305 wrapper")
struct AEADTests {
    let key = SecureBytes.random(count: XChaCha20Poly1305.keyLength)
    let nonce = Random.bytes(XChaCha20Poly1305.nonceLength)
    let ad: [UInt8] = Array("record 7".utf8)
    let plaintext: [UInt8] = Array("blood pressure 120/80".utf8)

    @Test("seal then open round-trips, ciphertext is plaintext plus a 16-byte tag")
    func roundTrip() throws {
        let sealed = try XChaCha20Poly1305.seal(plaintext, key: key, nonce: nonce, ad: ad)
        #expect(sealed.count == plaintext.count + XChaCha20Poly1305.tagLength)
        #expect(try XChaCha20Poly1305.open(sealed, key: key, nonce: nonce, ad: ad) == plaintext)
        let empty = try XChaCha20Poly1305.seal([], key: key, nonce: nonce, ad: [])
        #expect(try XChaCha20Poly1305.open(empty, key: key, nonce: nonce, ad: []) == [])
    }

    @Test("a ciphertext inside a larger buffer opens in place; a range one byte off fails; a range outside the buffer is invalid input")
    func opensInPlace() throws {
        let sealed = try XChaCha20Poly1305.seal(plaintext, key: key, nonce: nonce, ad: ad)
        let buffer = Random.bytes(7) + sealed + Random.bytes(5)
        let range = 7..<(7 + sealed.count)
        #expect(try XChaCha20Poly1305.open(buffer, range: range, key: key, nonce: nonce, ad: ad) == plaintext)
        for shifted in [6..<(6 + sealed.count), 8..<(8 + sealed.count), 7..<(6 + sealed.count)] {
            #expect(throws: CryptoError.authenticationFailed) { try XChaCha20Poly1305.open(buffer, range: shifted, key: key, nonce: nonce, ad: ad) }
        }
        for outside in [(-1)..<10, 0..<(buffer.count + 1)] {
            #expect(throws: CryptoError.invalidInput("ciphertext range outside its buffer")) {
                try XChaCha20Poly1305.open(buffer, range: outside, key: key, nonce: nonce, ad: ad)
            }
        }
    }

    @Test("wrong key, nonce, AD, a flipped bit or a truncated input fail as authenticationFailed")
    func tamperingFails() throws {
        let sealed = try XChaCha20Poly1305.seal(plaintext, key: key, nonce: nonce, ad: ad)
        #expect(throws: CryptoError.authenticationFailed) {
            try XChaCha20Poly1305.open(sealed, key: SecureBytes.random(count: 32), nonce: nonce, ad: ad)
        }
        #expect(throws: CryptoError.authenticationFailed) {
            try XChaCha20Poly1305.open(sealed, key: key, nonce: Random.bytes(24), ad: ad)
        }
        #expect(throws: CryptoError.authenticationFailed) {
            try XChaCha20Poly1305.open(sealed, key: key, nonce: nonce, ad: ad + [0])
        }
        var flipped = sealed
        flipped[3] ^= 0x01
        #expect(throws: CryptoError.authenticationFailed) {
            try XChaCha20Poly1305.open(flipped, key: key, nonce: nonce, ad: ad)
        }
        #expect(throws: CryptoError.authenticationFailed) {
            try XChaCha20Poly1305.open(Array(sealed.prefix(15)), key: key, nonce: nonce, ad: ad)
        }
    }

    @Test("wrong key or nonce sizes are refused before any crypto")
    func sizesChecked() {
        #expect(throws: CryptoError.invalidKey("XChaCha20-Poly1305 key must be 32 bytes")) {
            try XChaCha20Poly1305.seal(plaintext, key: SecureBytes.random(count: 31), nonce: nonce, ad: ad)
        }
        #expect(throws: CryptoError.invalidInput("XChaCha20-Poly1305 nonce must be 24 bytes")) {
            try XChaCha20Poly1305.open(Array(repeating: 0, count: 32), key: key, nonce: Array(nonce.prefix(12)), ad: ad)
        }
    }

    @Test("wrapped secrets round-trip through guarded memory")
    func secretRoundTrip() throws {
        let secret = SecureBytes.random(count: 32)
        let wrapped = try XChaCha20Poly1305.seal(secret: secret, key: key, nonce: nonce, ad: ad)
        #expect(try XChaCha20Poly1305.openSecret(wrapped, key: key, nonce: nonce, ad: ad) == secret)
    }
}
