/// What an identifier names; the phantom type keeps a vault id from being passed where a supporter id is expected.
public protocol IdentifierKind: Sendable {}
/// A patient's vault.
public enum VaultKind: IdentifierKind {}
/// A supporter account.
public enum SupporterKind: IdentifierKind {}
/// A write-only service.
public enum ServiceKind: IdentifierKind {}

/// A 16-byte random identifier (docs/FORMAT.md §2: vault ids, supporter ids, service ids), shown as 32 lowercase
/// hexadecimal digits. Not secret, not personal: safe in logs and URLs.
public struct Identifier<Kind: IdentifierKind>: Hashable, Sendable, CustomStringConvertible, Codable {
    /// The 16 bytes.
    public let bytes: [UInt8]

    /// - Returns: nil unless `bytes` has exactly 16 bytes.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    /// Parses 32 hexadecimal digits (either case).
    /// - Returns: nil for anything else.
    public init?(hex: String) {
        let digits = Array(hex.utf8)
        guard digits.count == 32 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(16)
        var i = 0
        while i < 32 {
            guard let hi = Self.nibble(digits[i]), let lo = Self.nibble(digits[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        bytes = out
    }

    init(trusted bytes: [UInt8]) { self.bytes = bytes }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: return c - 48
        case 97...102: return c - 87
        case 65...70: return c - 55
        default: return nil
        }
    }

    /// 32 lowercase hexadecimal digits.
    public var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(32)
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// The hex form.
    public var description: String { hex }

    /// Decodes the hex form. Throws `DecodingError.dataCorrupted` for anything else.
    public init(from decoder: any Decoder) throws {
        let s = try decoder.singleValueContainer().decode(String.self)
        guard let v = Self(hex: s) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not 32 hexadecimal digits"))
        }
        self = v
    }

    /// Encodes the hex form.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(hex)
    }
}

/// A patient's vault id.
public typealias VaultID = Identifier<VaultKind>
/// A supporter's account id.
public typealias SupporterID = Identifier<SupporterKind>
/// A write-only service's id.
public typealias ServiceID = Identifier<ServiceKind>
