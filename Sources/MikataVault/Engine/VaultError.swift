import MikataCrypto
import MikataFormat

/// The one error type of the vault layer. Each case is a failure class with its own CLI exit code; messages say
/// what failed and what to do, and never contain a password, key, e-mail, nickname or record content.
package enum VaultError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A store, patient, supporter or vault file does not exist.
    case notFound(String)
    /// The password, recovery code or key did not unlock anything.
    case authenticationFailed(String)
    /// The actor is known but not allowed to do this (e.g. a revoked supporter, a non-owner changing slots).
    case notPermitted(String)
    /// Accidental damage: a checksum, magic number or structure is wrong.
    case corrupted(String)
    /// Cryptographic verification failed: data was altered, forged, reordered, truncated or rolled back.
    case tampered(String)
    /// Written by a newer or different format version, or uses a type this build does not know.
    case unsupported(String)
    /// Another process holds the vault, or the machine lacks memory for the password hash: try again.
    case busy(String)
    /// Something that must be new exists already.
    case alreadyExists(String)
    /// A caller's argument is invalid (bad record type, data not JSON, empty password).
    case invalidInput(String)
    /// The operating system refused an operation (disk full, I/O error, permissions).
    case io(String)
    /// The vault's erasure secret is gone: the vault was shredded, or the key store is incomplete.
    case erased(String)

    package var description: String {
        switch self {
        case .notFound(let s), .authenticationFailed(let s), .notPermitted(let s), .corrupted(let s), .tampered(let s),
             .unsupported(let s), .busy(let s), .alreadyExists(let s), .invalidInput(let s), .io(let s), .erased(let s):
            return s
        }
    }

    /// The failure class's name, as tests and `--json` error output use it.
    package var failureClass: String {
        switch self {
        case .notFound: return "not-found"
        case .authenticationFailed: return "authentication-failed"
        case .notPermitted: return "not-permitted"
        case .corrupted: return "corrupted"
        case .tampered: return "tampered"
        case .unsupported: return "unsupported"
        case .busy: return "busy"
        case .alreadyExists: return "already-exists"
        case .invalidInput: return "invalid-input"
        case .io: return "io"
        case .erased: return "erased"
        }
    }

    /// Maps a format-layer rejection to its failure class.
    static func from(_ error: FormatError, in what: String) -> VaultError {
        switch error {
        case .unsupportedVersion, .unsupportedType: return .unsupported("\(what): \(error)")
        default: return .corrupted("\(what): \(error)")
        }
    }

    /// Runs a parse, mapping its FormatError into this module's classes.
    static func parsing<T>(_ what: @autoclosure () -> String, _ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as FormatError { throw from(e, in: what()) }
    }

    static func crypto(_ error: CryptoError, _ what: String) -> VaultError {
        switch error {
        case .authenticationFailed: return .tampered("\(what): authentication failed")
        case .resourceExhausted: return .busy("not enough memory for the password hash right now")
        case .outOfMemory: return .busy("guarded memory could not be allocated")
        case .invalidKey(let s), .invalidInput(let s): return .corrupted("\(what): \(s)")
        }
    }
}
