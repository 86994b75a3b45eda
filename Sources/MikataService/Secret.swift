import MikataCrypto

/// A secret (a password, a recovery code, a service key) held in guarded memory: `mlock`ed, outside core dumps where
/// the OS honours it, zeroed when the last copy is released, compared in constant time, never printed.
/// Copies share one buffer. Give it bytes you then wipe (`init(wiping:)`), so no plain copy outlives the call.
public struct Secret: Sendable, Equatable, CustomStringConvertible {
    let bytes: SecureBytes

    init(_ bytes: SecureBytes) { self.bytes = bytes }

    /// Copies `bytes` into guarded memory; the caller wipes its own copy.
    public init(copying bytes: some Collection<UInt8>) { self.bytes = SecureBytes(copying: bytes) }

    /// Takes a scratch array: copies it into guarded memory and overwrites the array with zeros.
    public init(wiping bytes: inout [UInt8]) { self.bytes = SecureBytes(wiping: &bytes) }

    /// The secret's text as UTF-8 (for a password typed by a person; prefer `init(wiping:)` for bytes read from a file).
    public init(utf8 text: String) { self.bytes = SecureBytes(copying: Array(text.utf8)) }

    /// Length in bytes.
    public var count: Int { bytes.count }

    /// Calls `body` with the secret's bytes; do not let them escape.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R { try bytes.withUnsafeBytes(body) }

    /// Constant-time comparison.
    public static func == (a: Secret, b: Secret) -> Bool { a.bytes == b.bytes }

    /// Never the content.
    public var description: String { "Secret(\(count) bytes)" }
}
