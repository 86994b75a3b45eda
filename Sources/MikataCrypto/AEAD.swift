internal import CSodium

/// XChaCha20-Poly1305 (IETF construction, 192-bit nonces): the only bulk cipher MikataVault uses.
package enum XChaCha20Poly1305 {
    package static let keyLength = Int(crypto_aead_xchacha20poly1305_ietf_KEYBYTES)      // 32
    package static let nonceLength = Int(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES)  // 24
    package static let tagLength = Int(crypto_aead_xchacha20poly1305_ietf_ABYTES)        // 16

    /// Encrypts `plaintext`, authenticating `ad` too. Returns ciphertext followed by the 16-byte tag.
    package static func seal(_ plaintext: [UInt8], key: SecureBytes, nonce: [UInt8], ad: [UInt8]) throws -> [UInt8] {
        Sodium.ready()
        guard key.count == keyLength else { throw CryptoError.invalidKey("XChaCha20-Poly1305 key must be 32 bytes") }
        guard nonce.count == nonceLength else { throw CryptoError.invalidInput("XChaCha20-Poly1305 nonce must be 24 bytes") }
        var out = [UInt8](repeating: 0, count: plaintext.count + tagLength)
        var outLen: UInt64 = 0
        let rc = key.withUnsafeBytes { k in
            crypto_aead_xchacha20poly1305_ietf_encrypt(
                &out, &outLen, plaintext, UInt64(plaintext.count), ad, UInt64(ad.count), nil, nonce,
                k.u8)
        }
        guard rc == 0 else { throw CryptoError.invalidInput("plaintext too long") }
        return out
    }

    /// Decrypts and verifies; throws `.authenticationFailed` on any mismatch and returns nothing in that case.
    package static func open(_ ciphertext: [UInt8], key: SecureBytes, nonce: [UInt8], ad: [UInt8]) throws -> [UInt8] {
        try open(ciphertext, range: ciphertext.indices, key: key, nonce: nonce, ad: ad)
    }

    /// Decrypts `buffer[range]` (ciphertext with its 16-byte tag) straight out of a larger buffer, a vault file's
    /// chunk read into memory, without copying it out first. As `open(_:key:nonce:ad:)` otherwise.
    /// - Throws: `.invalidInput` for a range outside `buffer`, and what `open(_:key:nonce:ad:)` throws.
    package static func open(_ buffer: [UInt8], range: Range<Int>, key: SecureBytes, nonce: [UInt8], ad: [UInt8]) throws -> [UInt8] {
        guard range.lowerBound >= 0, range.upperBound <= buffer.count else { throw CryptoError.invalidInput("ciphertext range outside its buffer") }
        return try buffer.withUnsafeBufferPointer { all in
            try open(ciphertext: UnsafeBufferPointer(rebasing: all[range]), key: key, nonce: nonce, ad: ad)
        }
    }

    private static func open(ciphertext: UnsafeBufferPointer<UInt8>, key: SecureBytes, nonce: [UInt8], ad: [UInt8]) throws -> [UInt8] {
        Sodium.ready()
        guard key.count == keyLength else { throw CryptoError.invalidKey("XChaCha20-Poly1305 key must be 32 bytes") }
        guard nonce.count == nonceLength else { throw CryptoError.invalidInput("XChaCha20-Poly1305 nonce must be 24 bytes") }
        guard ciphertext.count >= tagLength else { throw CryptoError.authenticationFailed }
        // At least one byte, so the output buffer always has an address (an empty plaintext is legal). Not
        // zero-filled first: libsodium checks the tag before it decrypts and then writes every byte of the
        // plaintext; on a failure nothing of the buffer is kept (its count stays 0).
        var rc: Int32 = -1
        let out = [UInt8](unsafeUninitializedCapacity: max(ciphertext.count - tagLength, 1)) { o, initialized in
            var outLen: UInt64 = 0
            rc = key.withUnsafeBytes { k in
                crypto_aead_xchacha20poly1305_ietf_decrypt(
                    o.baseAddress!, &outLen, nil, ciphertext.baseAddress!, UInt64(ciphertext.count),
                    ad, UInt64(ad.count), nonce, k.u8)
            }
            initialized = rc == 0 ? Int(outLen) : 0
        }
        guard rc == 0 else { throw CryptoError.authenticationFailed }
        return out
    }

    /// Seals a secret (a wrapped key): same as `seal`, reading the plaintext from guarded memory.
    package static func seal(secret: SecureBytes, key: SecureBytes, nonce: [UInt8], ad: [UInt8]) throws -> [UInt8] {
        var plain = secret.unsafeCopyToArray()
        defer { Sodium.wipe(&plain) }
        return try seal(plain, key: key, nonce: nonce, ad: ad)
    }

    /// Opens a wrapped key straight into guarded memory.
    package static func openSecret(_ ciphertext: [UInt8], key: SecureBytes, nonce: [UInt8], ad: [UInt8]) throws -> SecureBytes {
        var plain = try open(ciphertext, key: key, nonce: nonce, ad: ad)
        return SecureBytes(wiping: &plain)
    }
}
