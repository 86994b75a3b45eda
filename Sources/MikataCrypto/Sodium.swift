internal import CSodium

/// Library start-up. Every public entry point of this module calls `Sodium.ready()` first, so callers never have to.
package enum Sodium {
    private static let initialised: Bool = sodium_init() >= 0

    /// Initialises libsodium once per process; traps only if libsodium itself cannot start (a broken install).
    @inline(__always)
    package static func ready() {
        precondition(initialised, "libsodium failed to initialise")
    }

    /// The libsodium version linked in, e.g. "1.0.18" (for `mikata --version` and the benchmark report).
    package static var version: String {
        ready()
        return String(cString: sodium_version_string())
    }

    /// Overwrites a scratch buffer in a way the compiler may not optimise out.
    package static func wipe(_ bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { raw in
            if let base = raw.baseAddress { sodium_memzero(base, raw.count) }
        }
    }

    /// Constant-time equality of two public byte strings (tags, hashes); lengths are not secret.
    package static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        if a.isEmpty { return true }
        return a.withUnsafeBytes { pa in
            b.withUnsafeBytes { pb in sodium_memcmp(pa.baseAddress!, pb.baseAddress!, a.count) == 0 }
        }
    }
}

/// Everything that can go wrong in the crypto layer. No case carries key material or plaintext.
package enum CryptoError: Error, Equatable, Sendable, CustomStringConvertible {
    /// An AEAD tag, sealed box or signature did not verify: wrong key, or corrupted or tampered data.
    case authenticationFailed
    /// A key, nonce or public key had the wrong length or was rejected by libsodium (e.g. a low-order point).
    case invalidKey(String)
    /// An input was outside what the primitive accepts (length limits, parameter ranges).
    case invalidInput(String)
    /// Argon2id could not get the memory it was told to use: the machine is busy, try again later.
    case resourceExhausted
    /// Guarded memory could not be allocated.
    case outOfMemory

    package var description: String {
        switch self {
        case .authenticationFailed: return "authentication failed (wrong key, or data corrupted or tampered with)"
        case .invalidKey(let what): return "invalid key: \(what)"
        case .invalidInput(let what): return "invalid input: \(what)"
        case .resourceExhausted: return "not enough memory for the password hash right now"
        case .outOfMemory: return "guarded memory could not be allocated"
        }
    }
}

/// Cryptographically secure random bytes from the operating system (libsodium's randombytes).
package enum Random {
    package static func bytes(_ count: Int) -> [UInt8] {
        Sodium.ready()
        var out = [UInt8](repeating: 0, count: count)
        out.withUnsafeMutableBytes { raw in
            if let base = raw.baseAddress { randombytes_buf(base, raw.count) }
        }
        return out
    }
}

// libsodium takes non-null pointers; zero-length guarded buffers are never passed (SecureBytes allocates >= 1 byte).
extension UnsafeRawBufferPointer {
    var u8: UnsafePointer<UInt8> { baseAddress!.assumingMemoryBound(to: UInt8.self) }
}
extension UnsafeMutableRawBufferPointer {
    var u8: UnsafeMutablePointer<UInt8> { baseAddress!.assumingMemoryBound(to: UInt8.self) }
}
