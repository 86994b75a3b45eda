import MikataCrypto
import MikataFormat
import MikataVault

// What the project's own clients (the `mikata` CLI, the coming `mikata serve`) need around the use cases: the tool's
// version, process hardening, the rule for record data checked before a password is asked. The file helpers are
// `package`: they are the CLI's (argv as bytes, `--out` files), not part of the public API.

extension VaultService {
    /// The tool's version, as `--version` and deletion certificates give it.
    public static let toolVersion = DeletionCertificate.toolVersion

    /// Makes the process safe to hold keys: no core dumps, not dumpable (no ptrace attach or /proc/PID/mem read by
    /// the user's other processes), private files (umask 077). Call first thing in `main`.
    /// - Returns: false if the kernel refused a measure (nothing else depends on it).
    @discardableResult
    public static func hardenProcess() -> Bool { ProcessHardening.apply() }

    /// The one rule for record data every append applies (strict JSON: RFC 8259 with I-JSON's rules, no duplicate
    /// member names; trailing white space trimmed), for clients that check it before asking for a password.
    /// - Returns: the data as an append stores it.
    /// - Throws: `MikataError(.invalidInput)`.
    public static func checkedRecordData(_ data: [UInt8]) throws -> [UInt8] {
        do { return try HumanInput.recordData(data) } catch { throw MikataError.from(error) }
    }

    /// The member names of a JSON object checked by the same rule as record data (RFC 8259 with I-JSON's rules: a
    /// member name at most once at any depth), in the order sent: one parse for a request body's shape and
    /// strictness.
    /// - Returns: nil when `text` is strict JSON but not an object.
    /// - Throws: `MikataError(.invalidInput)` when it is not strict JSON.
    public static func checkedObjectMemberNames(_ text: [UInt8]) throws -> [String]? {
        let value: JSONValue
        do { value = try CanonicalJSON.parse(text) } catch { throw MikataError(.invalidInput, "the text is not strict JSON (\(error))") }
        guard case .object(let members) = value else { return nil }
        return members.map(\.0)
    }
}

extension Secret {
    /// Overwrites a scratch array with zeros (`sodium_memzero`: not optimised away).
    public static func wipe(_ bytes: inout [UInt8]) { Sodium.wipe(&bytes) }
}

/// Files and arguments as the CLI handles them: paths are bytes (never re-encoded), output files are new files.
package enum ClientFiles {
    /// The process's arguments, each exactly as its bytes were given.
    package static var arguments: [String] { PathBytes.arguments }

    /// A file's bytes, or nil when it cannot be read.
    package static func contents(ofFile path: String) -> [UInt8]? { PathBytes.contents(ofFile: path) }

    /// Calls `body` with the path's bytes as a C string.
    package static func withCString<R>(_ path: String, _ body: (UnsafePointer<CChar>) throws -> R) rethrows -> R {
        try PathBytes.withCString(path, body)
    }

    /// Writes `bytes` to `path` as a new 0600 file (an O_EXCL temporary beside it, fsync, link, fsync of the folder);
    /// with `identicalIsDone`, the same bytes already there are not an error.
    /// - Throws: `MikataError` `.alreadyExists`, `.io`.
    package static func writeNew(_ bytes: [UInt8], to path: String, identicalIsDone: Bool = false) throws {
        do { try OutputFile.write(bytes, to: path, identicalIsDone: identicalIsDone) } catch { throw MikataError.from(error) }
    }
}
