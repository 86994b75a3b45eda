import MikataFormat
import MikataVault

/// The one error type of the public API. `code` is the failure class: stable, machine-readable, and the only thing
/// the CLI's exit codes and the HTTP service's statuses are derived from (never the message). `message` says what
/// failed in words safe to show anyone: it never holds a password, key, token, e-mail, nickname or record content,
/// and it gives no command-line hints (clients add their own).
public struct MikataError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A failure class. Raw values are the names used in JSON error output and RFC 9457 problem `type` URIs.
    public enum Code: String, Sendable, CaseIterable, Codable {
        /// A store, patient, supporter, service or vault file does not exist.
        case notFound = "not-found"
        /// The password, recovery code or key did not unlock anything (an unknown e-mail answers the same).
        case authenticationFailed = "authentication-failed"
        /// The actor is known but may not do this (a revoked supporter, a write-only service reading).
        case notPermitted = "not-permitted"
        /// Accidental damage: a checksum, magic number or structure is wrong.
        case corrupted = "corrupted"
        /// Cryptographic verification failed: data was altered, forged, reordered, truncated or rolled back.
        case tampered = "tampered"
        /// Written by a newer or different format version, or a store that needs a one-time upgrade.
        case unsupported = "unsupported"
        /// The vault is held by another process, or too many password checks wait for memory: retry later.
        case busy = "busy"
        /// Something that must be new exists already.
        case alreadyExists = "already-exists"
        /// A caller's argument is invalid (a bad record type, data that is not JSON, an empty password).
        case invalidInput = "invalid-input"
        /// The operating system refused an operation (disk full, I/O error, permissions).
        case io = "io"
        /// The vault's erasure secret is gone: it was shredded.
        case erased = "erased"
        /// The session was closed (its keys are zeroed) or the service was shut down.
        case closed = "closed"
        /// The input is larger than the limit for its kind (a photo over `photos.maxBytes`): nothing was stored.
        case tooLarge = "payload-too-large"

        /// The BSD sysexits(3) code the `mikata` CLI exits with for this class (the CLI contract).
        public var exitCode: Int32 {
            switch self {
            case .notFound, .erased: return 66        // EX_NOINPUT
            case .authenticationFailed, .notPermitted: return 77  // EX_NOPERM
            case .corrupted, .tampered, .unsupported: return 65   // EX_DATAERR
            case .busy: return 75                     // EX_TEMPFAIL
            case .invalidInput, .tooLarge: return 64  // EX_USAGE
            case .alreadyExists, .io, .closed: return 1
            }
        }

        /// The HTTP status (RFC 9110 §15) the HTTP service answers with for this class.
        public var httpStatus: Int {
            switch self {
            case .notFound: return 404
            case .erased: return 410
            case .authenticationFailed: return 401
            case .notPermitted: return 403
            case .corrupted, .tampered: return 500
            case .unsupported: return 501
            case .busy: return 503
            case .alreadyExists: return 409
            case .invalidInput: return 400
            case .io: return 500
            case .closed: return 401
            case .tooLarge: return 413  // RFC 9110 §15.5.14 Content Too Large
            }
        }
    }

    /// The failure class.
    public let code: Code
    /// What failed, safe to show and to log.
    public let message: String

    /// The member at fault, when one is, as an RFC 6901 JSON Pointer into the arguments as a JSON document would
    /// hold them: a record append's are `/type` and `/data` (then the pointer inside the data, e.g.
    /// `/data/doses/0/status`), as in the HTTP bodies; the HTTP service returns it as the problem's `field`.
    public let field: String?

    /// Makes an error of class `code`, naming the member at fault (`field`) when there is one.
    public init(_ code: Code, _ message: String, field: String? = nil) { self.code = code; self.message = message; self.field = field }

    /// The message.
    public var description: String { message }

    /// The engine's error as the public class of the same name.
    init(_ e: VaultError) {
        switch e {
        case .notFound(let m): self.init(.notFound, m)
        case .authenticationFailed(let m): self.init(.authenticationFailed, m)
        case .notPermitted(let m): self.init(.notPermitted, m)
        case .corrupted(let m): self.init(.corrupted, m)
        case .tampered(let m): self.init(.tampered, m)
        case .unsupported(let m): self.init(.unsupported, m)
        case .busy(let m): self.init(.busy, m)
        case .alreadyExists(let m): self.init(.alreadyExists, m)
        case .invalidInput(let m): self.init(.invalidInput, m)
        case .io(let m): self.init(.io, m)
        case .erased(let m): self.init(.erased, m)
        }
    }

    /// Maps anything an engine call throws to the public type (unknown errors are `.io`: the engine throws only
    /// `VaultError`, the thread pool only its shutdown error).
    static func from(_ error: any Error) -> MikataError {
        if let e = error as? MikataError { return e }
        if let e = error as? VaultError { return MikataError(e) }
        return MikataError(.io, "the operation could not run: \(type(of: error))")
    }
}
