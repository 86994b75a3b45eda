import Foundation
import MikataCrypto
import MikataVault

/// Bearer tokens for the HTTP service's sessions and service API keys (docs/SECURITY.md, "Sessions").
///
/// A token is 256 bits from the operating system's CSPRNG (libsodium `randombytes_buf`), written as 43 characters
/// of base64url without padding (RFC 4648 §5). Servers keep only `hash(_:)` of it: BLAKE2b-256 (RFC 7693), so a
/// copy of server memory or of a key registry gives no usable token.
public enum BearerToken {
    /// Bytes of randomness in a token.
    public static let entropyBytes = 32

    /// A new token and its hash.
    /// - Returns: `token` (43 base64url characters; shown once, never stored) and `hash` (32 bytes).
    public static func generate() -> (token: String, hash: [UInt8]) {
        var raw = Random.bytes(entropyBytes)
        defer { Sodium.wipe(&raw) }
        let token = base64url(raw)
        return (token, hash(token))
    }

    /// BLAKE2b-256 of the token's UTF-8 bytes (32 bytes): what a server keeps and looks tokens up by.
    public static func hash(_ token: String) -> [UInt8] {
        Blake2b.hash(Array("mikata-bearer-token-v1".utf8), Array(token.utf8), outputLength: 32)
    }

    /// Compares two hashes in constant time (libsodium `sodium_memcmp`).
    public static func hashesEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool { Sodium.constantTimeEqual(a, b) }

    /// An e-mail address as the store keys it (NFKC, the engine's address rules), or nil when it is not one: what
    /// a server throttles by, so two spellings of one address never get two allowances.
    public static func normalizedEmail(_ typed: String) -> String? { try? Store.normalise(email: typed) }

    /// Random bytes for other server secrets (TOTP secrets, request ids): `count` bytes from the CSPRNG.
    public static func randomBytes(_ count: Int) -> [UInt8] { Random.bytes(count) }

    /// RFC 4648 §5 base64url without padding (Foundation's base64 with the URL alphabet).
    public static func base64url(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
