internal import CSodium

/// BLAKE2b (libsodium's generichash), keyed or not: checksums, chain links, keyed e-mail lookups, key derivation.
package final class Blake2b {
    package static let keyLengthRange = Int(crypto_generichash_KEYBYTES_MIN)...Int(crypto_generichash_KEYBYTES_MAX)  // 16...64
    package static let outputLengthRange = Int(crypto_generichash_BYTES_MIN)...Int(crypto_generichash_BYTES_MAX)     // 16...64

    // crypto_generichash_state is 64-byte aligned and opaque to Swift: allocate it by its advertised size.
    private let state: UnsafeMutableRawPointer
    private let outputLength: Int
    private var opaque: OpaquePointer { OpaquePointer(state) }

    /// Starts a hash; `key`, when given, makes it a PRF (keyed BLAKE2b).
    package init(outputLength: Int = 32, key: SecureBytes? = nil) {
        Sodium.ready()
        precondition(Self.outputLengthRange.contains(outputLength), "BLAKE2b output length out of range")
        self.outputLength = outputLength
        state = UnsafeMutableRawPointer.allocate(byteCount: crypto_generichash_statebytes(), alignment: 64)
        if let key {
            precondition(Self.keyLengthRange.contains(key.count), "BLAKE2b key length out of range")
            _ = key.withUnsafeBytes { k in crypto_generichash_init(opaque, k.u8, k.count, outputLength) }
        } else {
            crypto_generichash_init(opaque, nil, 0, outputLength)
        }
    }

    deinit {
        // A keyed state holds key material: wipe it.
        sodium_memzero(state, crypto_generichash_statebytes())
        state.deallocate()
    }

    package func update(_ bytes: [UInt8]) {
        crypto_generichash_update(opaque, bytes, UInt64(bytes.count))
    }

    package func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress else { return }
        crypto_generichash_update(opaque, base.assumingMemoryBound(to: UInt8.self), UInt64(bytes.count))
    }

    package func update(_ string: StaticString) {
        update(UnsafeRawBufferPointer(start: string.utf8Start, count: string.utf8CodeUnitCount))
    }

    package func update(secret: SecureBytes) {
        secret.withUnsafeBytes { update($0) }
    }

    package func finalize() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: outputLength)
        crypto_generichash_final(opaque, &out, outputLength)
        return out
    }

    /// Finalises into guarded memory, for outputs that are keys.
    package func finalizeSecret() -> SecureBytes {
        var out = finalize()
        return SecureBytes(wiping: &out)
    }

    /// One-shot unkeyed hash.
    package static func hash(_ parts: [UInt8]..., outputLength: Int = 32) -> [UInt8] {
        let h = Blake2b(outputLength: outputLength)
        for p in parts { h.update(p) }
        return h.finalize()
    }

    /// One-shot unkeyed hash of the parts `feed` passes to its `update` argument, in order, with the hash state on
    /// the stack (no object, no heap state): for the per-frame hashes of record walks (links, header checksums).
    /// Unkeyed only: the stack state holds no key material to wipe.
    /// - Parameter outputLength: 16 to 64 bytes.
    package static func hash(outputLength: Int = 32, _ feed: (_ update: (UnsafeRawBufferPointer) -> Void) -> Void) -> [UInt8] {
        Sodium.ready()
        precondition(outputLengthRange.contains(outputLength), "BLAKE2b output length out of range")
        return withUnsafeTemporaryAllocation(byteCount: crypto_generichash_statebytes(), alignment: 64) { raw in
            let state = OpaquePointer(raw.baseAddress!)
            crypto_generichash_init(state, nil, 0, outputLength)
            feed { part in
                guard let base = part.baseAddress else { return }
                crypto_generichash_update(state, base.assumingMemoryBound(to: UInt8.self), UInt64(part.count))
            }
            return [UInt8](unsafeUninitializedCapacity: outputLength) { out, initialized in
                crypto_generichash_final(state, out.baseAddress!, outputLength)
                initialized = outputLength
            }
        }
    }
}

/// libsodium's `crypto_kdf` (BLAKE2b-based): numbered subkeys of a master key, separated by an 8-byte context.
package enum SubkeyDerivation {
    package static let contextLength = Int(crypto_kdf_CONTEXTBYTES)  // 8

    package static func derive(from master: SecureBytes, id: UInt64, context: StaticString, length: Int = 32) -> SecureBytes {
        Sodium.ready()
        precondition(master.count == Int(crypto_kdf_KEYBYTES), "crypto_kdf master key must be 32 bytes")
        precondition(context.utf8CodeUnitCount == contextLength, "crypto_kdf context must be 8 bytes")
        precondition(length >= Int(crypto_kdf_BYTES_MIN) && length <= Int(crypto_kdf_BYTES_MAX), "crypto_kdf subkey length out of range")
        return try! SecureBytes(count: length) { out in
            master.withUnsafeBytes { m in
                context.withUTF8Buffer { ctx in
                    ctx.withMemoryRebound(to: CChar.self) { c in
                        _ = crypto_kdf_derive_from_key(out.u8, length, id, c.baseAddress!,
                                                       m.u8)
                    }
                }
            }
        }
    }
}

/// Argon2id v1.3 (`crypto_pwhash`, one lane): password-derived keys.
package enum PasswordHash {
    package static let saltLength = Int(crypto_pwhash_SALTBYTES)  // 16
    package static let opsLimitMin = UInt64(crypto_pwhash_argon2id_OPSLIMIT_MIN)
    package static let opsLimitMax = UInt64(crypto_pwhash_argon2id_OPSLIMIT_MAX)
    package static let memLimitMin = UInt64(crypto_pwhash_argon2id_MEMLIMIT_MIN)
    package static let memLimitMax = UInt64(crypto_pwhash_argon2id_memlimit_max())
    /// libsodium's INTERACTIVE profile: 2 passes over 64 MiB; MikataVault's default floor for passwords.
    package static let opsLimitInteractive = UInt64(crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE)
    package static let memLimitInteractive = UInt64(crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE)
    package static let opsLimitModerate = UInt64(crypto_pwhash_argon2id_OPSLIMIT_MODERATE)
    package static let memLimitModerate = UInt64(crypto_pwhash_argon2id_MEMLIMIT_MODERATE)

    package static func deriveKey(password: SecureBytes, salt: [UInt8], opsLimit: UInt64, memLimit: UInt64, length: Int = 32) throws -> SecureBytes {
        Sodium.ready()
        guard salt.count == saltLength else { throw CryptoError.invalidInput("Argon2id salt must be 16 bytes") }
        guard opsLimit >= opsLimitMin, opsLimit <= opsLimitMax else { throw CryptoError.invalidInput("Argon2id opslimit out of range") }
        guard memLimit >= memLimitMin, memLimit <= memLimitMax else { throw CryptoError.invalidInput("Argon2id memlimit out of range") }
        guard length >= Int(crypto_pwhash_BYTES_MIN), UInt64(length) <= UInt64(crypto_pwhash_bytes_max()) else {
            throw CryptoError.invalidInput("Argon2id output length out of range")
        }
        guard UInt64(password.count) <= UInt64(crypto_pwhash_passwd_max()) else { throw CryptoError.invalidInput("password too long") }
        var rc: Int32 = 0
        let key = try SecureBytes(count: length) { out in
            rc = password.withUnsafeBytes { pw in
                // SecureBytes always has a base address (it allocates at least one byte), even for "".
                crypto_pwhash(out.u8, UInt64(length), pw.baseAddress!.assumingMemoryBound(to: CChar.self), UInt64(pw.count),
                              salt, opsLimit, Int(memLimit), crypto_pwhash_ALG_ARGON2ID13)
            }
        }
        // crypto_pwhash fails only when it cannot allocate memLimit bytes: that is "busy", not a wrong password.
        guard rc == 0 else { throw CryptoError.resourceExhausted }
        return key
    }
}
