/// Why bytes are not a well-formed MikataVault structure (docs/FORMAT.md, "Rejection rules").
/// Cases carry the structure's name and the rule broken, never contents.
package enum FormatError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The bytes end before the structure does.
    case truncated(String)
    /// A magic number is wrong: not a MikataVault structure at all, or damaged.
    case badMagic(String)
    /// A checksum does not match: accidental damage (a flipped bit, a torn write).
    case checksumMismatch(String)
    /// A length or count exceeds its documented maximum.
    case limitExceeded(String)
    /// Bytes are left over after the structure ends.
    case trailingBytes(String)
    /// A field holds a value the format forbids (reserved bits set, zero generation, ...).
    case invalidField(String)
    /// The format version is not one this build reads.
    case unsupportedVersion(UInt16)
    /// A slot, record kind or algorithm identifier this build does not know.
    case unsupportedType(String)

    package var description: String {
        switch self {
        case .truncated(let c): return "\(c) is truncated"
        case .badMagic(let c): return "\(c) has a wrong magic number"
        case .checksumMismatch(let c): return "\(c) fails its checksum"
        case .limitExceeded(let c): return "\(c)"
        case .trailingBytes(let c): return "\(c) has unexpected trailing bytes"
        case .invalidField(let c): return "\(c)"
        case .unsupportedVersion(let v): return "format version \(v) is not supported by this build (it reads version \(VaultFormat.version))"
        case .unsupportedType(let c): return "\(c) is not supported by this build"
        }
    }
}
