import Glibc
import Foundation

/// An IPv4 or IPv6 address range in CIDR notation (RFC 4632 §3.1, RFC 4291 §2.3), or one address.
/// Used for the admin allowlist and the trusted-proxy list.
public struct IPRange: Sendable, Hashable, CustomStringConvertible {
    /// The network's address bytes (4 or 16).
    public let network: [UInt8]
    /// The prefix length in bits.
    public let prefixLength: Int

    /// Parses `"10.0.0.0/8"`, `"::1"`, `"192.0.2.7"`; nil when malformed.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let address = IPRange.parse(String(parts[0])) else { return nil }
        let bits = address.count * 8
        var prefix = bits
        if parts.count == 2 {
            guard let p = Int(parts[1]), (0...bits).contains(p) else { return nil }
            prefix = p
        }
        network = IPRange.masked(address, prefix)
        prefixLength = prefix
    }

    /// Whether `address` (text, as a peer or `X-Forwarded-For` gives it) lies in the range. IPv4-mapped IPv6
    /// addresses (`::ffff:192.0.2.7`) count as their IPv4 address.
    public func contains(_ address: String) -> Bool {
        guard var bytes = IPRange.parse(address) else { return false }
        if bytes.count == 16, network.count == 4, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xff, bytes[11] == 0xff {
            bytes = Array(bytes[12...])
        }
        guard bytes.count == network.count else { return false }
        return IPRange.masked(bytes, prefixLength) == network
    }

    /// `network/prefix` with the address in its usual text form.
    public var description: String { "\(IPRange.format(network))/\(prefixLength)" }

    /// The bytes of an IPv4 or IPv6 address in text (inet_pton), nil when it is neither.
    static func parse(_ text: String) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: 16)
        if inet_pton(AF_INET, text, &buffer) == 1 { return Array(buffer[0..<4]) }
        if inet_pton(AF_INET6, text, &buffer) == 1 { return buffer }
        return nil
    }

    static func format(_ bytes: [UInt8]) -> String {
        if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
        return stride(from: 0, to: 16, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
            .joined(separator: ":")
    }

    static func masked(_ bytes: [UInt8], _ prefix: Int) -> [UInt8] {
        bytes.enumerated().map { i, b in
            let keep = max(0, min(8, prefix - i * 8))
            return keep == 8 ? b : b & UInt8(truncatingIfNeeded: 0xff << (8 - keep))
        }
    }
}
