internal import CSodium

/// An X25519 key pair for sealed boxes (key shares sealed to supporters, write-only records).
package struct BoxKeyPair: Sendable {
    package static let publicKeyLength = Int(crypto_box_PUBLICKEYBYTES)  // 32
    package static let secretKeyLength = Int(crypto_box_SECRETKEYBYTES)  // 32
    package static let seedLength = Int(crypto_box_SEEDBYTES)            // 32

    package let publicKey: [UInt8]
    package let secretKey: SecureBytes

    package static func generate() -> BoxKeyPair {
        Sodium.ready()
        var pk = [UInt8](repeating: 0, count: publicKeyLength)
        let sk = try! SecureBytes(count: secretKeyLength) { buf in
            _ = crypto_box_keypair(&pk, buf.u8)
        }
        return BoxKeyPair(publicKey: pk, secretKey: sk)
    }

    /// Deterministic key pair from a 32-byte secret seed (e.g. a per-epoch subkey).
    package static func fromSeed(_ seed: SecureBytes) throws -> BoxKeyPair {
        Sodium.ready()
        guard seed.count == seedLength else { throw CryptoError.invalidKey("box seed must be 32 bytes") }
        var pk = [UInt8](repeating: 0, count: publicKeyLength)
        let sk = try SecureBytes(count: secretKeyLength) { buf in
            _ = seed.withUnsafeBytes { s in
                crypto_box_seed_keypair(&pk, buf.u8, s.u8)
            }
        }
        return BoxKeyPair(publicKey: pk, secretKey: sk)
    }

    /// Rebuilds a key pair from a stored secret key (the public key is recomputed, never trusted from storage).
    package static func fromSecretKey(_ secretKey: SecureBytes) throws -> BoxKeyPair {
        guard secretKey.count == secretKeyLength else { throw CryptoError.invalidKey("box secret key must be 32 bytes") }
        let pk = try X25519.publicKey(for: secretKey)
        return BoxKeyPair(publicKey: pk, secretKey: secretKey)
    }
}

/// Anonymous sealed boxes (`crypto_box_seal`): ephemeral X25519 + XSalsa20-Poly1305.
package enum SealedBox {
    package static let overhead = Int(crypto_box_sealbytes())  // 48

    package static func seal(_ secret: SecureBytes, to publicKey: [UInt8]) throws -> [UInt8] {
        Sodium.ready()
        guard publicKey.count == BoxKeyPair.publicKeyLength else { throw CryptoError.invalidKey("X25519 public key must be 32 bytes") }
        var out = [UInt8](repeating: 0, count: secret.count + overhead)
        let rc = secret.withUnsafeBytes { m in
            crypto_box_seal(&out, m.u8, UInt64(m.count), publicKey)
        }
        guard rc == 0 else { throw CryptoError.invalidKey("X25519 public key rejected") }
        return out
    }

    package static func open(_ sealed: [UInt8], keyPair: BoxKeyPair) throws -> SecureBytes {
        Sodium.ready()
        guard sealed.count >= overhead else { throw CryptoError.authenticationFailed }
        var failed = false
        let plain = try SecureBytes(count: sealed.count - overhead) { buf in
            let rc = keyPair.secretKey.withUnsafeBytes { sk in
                crypto_box_seal_open(buf.u8, sealed, UInt64(sealed.count),
                                     keyPair.publicKey, sk.u8)
            }
            failed = rc != 0
        }
        guard !failed else { throw CryptoError.authenticationFailed }
        return plain
    }
}

/// Raw X25519, exposed for the Wycheproof vectors and for recomputing public keys.
package enum X25519 {
    package static func publicKey(for secretKey: SecureBytes) throws -> [UInt8] {
        Sodium.ready()
        guard secretKey.count == 32 else { throw CryptoError.invalidKey("X25519 secret key must be 32 bytes") }
        var pk = [UInt8](repeating: 0, count: 32)
        let rc = secretKey.withUnsafeBytes { sk in crypto_scalarmult_base(&pk, sk.u8) }
        guard rc == 0 else { throw CryptoError.invalidKey("X25519 secret key rejected") }
        return pk
    }

    /// The shared secret; throws for public keys libsodium rejects (all-zero output from low-order points).
    package static func sharedSecret(secretKey: SecureBytes, publicKey: [UInt8]) throws -> SecureBytes {
        Sodium.ready()
        guard secretKey.count == 32, publicKey.count == 32 else { throw CryptoError.invalidKey("X25519 keys must be 32 bytes") }
        var failed = false
        let shared = try SecureBytes(count: 32) { out in
            let rc = secretKey.withUnsafeBytes { sk in
                crypto_scalarmult(out.u8, sk.u8, publicKey)
            }
            failed = rc != 0
        }
        guard !failed else { throw CryptoError.invalidKey("X25519 public key is of low order") }
        return shared
    }
}

/// Ed25519 signing keys: the patient's owner key, supporters' and services' author keys, the store's key.
package struct SigningKeyPair: Sendable {
    package static let publicKeyLength = Int(crypto_sign_PUBLICKEYBYTES)  // 32
    package static let seedLength = Int(crypto_sign_SEEDBYTES)            // 32
    package static let signatureLength = Int(crypto_sign_BYTES)          // 64

    package let publicKey: [UInt8]
    /// The 32-byte seed (what is stored, wrapped).
    package let seed: SecureBytes
    /// libsodium's expanded 64-byte secret key, kept in guarded memory so signing does not re-derive it each time.
    private let expanded: SecureBytes

    package static func generate() -> SigningKeyPair {
        try! fromSeed(SecureBytes.random(count: seedLength))
    }

    package static func fromSeed(_ seed: SecureBytes) throws -> SigningKeyPair {
        Sodium.ready()
        guard seed.count == seedLength else { throw CryptoError.invalidKey("Ed25519 seed must be 32 bytes") }
        var pk = [UInt8](repeating: 0, count: publicKeyLength)
        let expanded = try SecureBytes(count: Int(crypto_sign_SECRETKEYBYTES)) { sk in
            _ = seed.withUnsafeBytes { s in crypto_sign_seed_keypair(&pk, sk.u8, s.u8) }
        }
        return SigningKeyPair(publicKey: pk, seed: seed, expanded: expanded)
    }

    package func sign(_ message: [UInt8]) -> [UInt8] {
        var sig = [UInt8](repeating: 0, count: Self.signatureLength)
        _ = expanded.withUnsafeBytes { sk in crypto_sign_detached(&sig, nil, message, UInt64(message.count), sk.u8) }
        return sig
    }
}

package enum Ed25519 {
    /// Verifies a detached signature. libsodium rejects non-canonical encodings and small-order keys.
    package static func verify(signature: [UInt8], message: [UInt8], publicKey: [UInt8]) -> Bool {
        Sodium.ready()
        guard signature.count == SigningKeyPair.signatureLength, publicKey.count == SigningKeyPair.publicKeyLength else { return false }
        return crypto_sign_verify_detached(signature, message, UInt64(message.count), publicKey) == 0
    }
}
