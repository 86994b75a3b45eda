package import MikataCrypto

/// FORMAT.md §7.12: a write-only service's key file, one line of text kept by the service (never in the store):
/// `mikata-service-key-v1 <32 hex: service id> <64 hex: Ed25519 seed>` LF, exactly 120 bytes. Parsed from guarded
/// memory into guarded memory: the seed never passes through an ordinary array.
package enum ServiceKeyFile {
    /// The tag every service key file starts with, followed by the version's decimal digits.
    package static let tag: [UInt8] = Array("mikata-service-key-v".utf8)
    /// The only version this build reads and writes.
    package static let version: UInt16 = 1
    /// The file's exact size: tag, "1", space, 32 hex, space, 64 hex, LF.
    package static let size = 20 + 1 + 1 + 32 + 1 + 64 + 1
    /// Files larger than this are refused before they are read (any later version stays far below it).
    package static let maximumSize = 4096

    private static let what = "service key file"

    /// The file's bytes for `id` (16 bytes) and `seed` (32 bytes), in guarded memory.
    package static func serialize(id: [UInt8], seed: SecureBytes) -> SecureBytes {
        precondition(id.count == 16 && seed.count == 32, "ServiceKeyFile.serialize: a 16-byte id and a 32-byte seed")
        let digits = Array("0123456789abcdef".utf8)
        return try! SecureBytes(count: size) { out in
            var i = 0
            func put(_ b: UInt8) { out[i] = b; i += 1 }
            for b in tag { put(b) }
            put(UInt8(ascii: "1")); put(UInt8(ascii: " "))
            for b in id { put(digits[Int(b >> 4)]); put(digits[Int(b & 15)]) }
            put(UInt8(ascii: " "))
            seed.withUnsafeBytes { s in for b in s { put(digits[Int(b >> 4)]); put(digits[Int(b & 15)]) } }
            put(10)
        }
    }

    /// Parses a service key file (§7.12 rejection rules, in order): the tag (`badMagic`), the version
    /// (`unsupportedVersion` for any other decimal number), the size (`truncated` / `trailingBytes`), the separators
    /// and final LF (`invalidField`), the hexadecimal digits (`invalidField`; either case).
    /// - Returns: the service id (16 bytes) and the seed (32 bytes, guarded memory).
    package static func parse(_ file: SecureBytes) throws -> (id: [UInt8], seed: SecureBytes) {
        try file.withUnsafeBytes { raw in
            guard raw.count >= tag.count, raw.prefix(tag.count).elementsEqual(tag) else { throw FormatError.badMagic(what) }
            // The version: decimal digits up to the first space (at most 5: a u16).
            var i = tag.count
            var v = 0
            while i < raw.count, i - tag.count < 6, (48...57).contains(raw[i]) { v = v * 10 + Int(raw[i] - 48); i += 1 }
            guard i > tag.count, i < raw.count, raw[i] == 32 else { throw FormatError.invalidField("\(what): no version number") }
            guard v == Int(version) else { throw FormatError.unsupportedVersion(UInt16(clamping: v)) }
            guard raw.count >= size else { throw FormatError.truncated(what) }
            guard raw.count == size else { throw FormatError.trailingBytes(what) }
            guard raw[tag.count + 1] == 32, raw[tag.count + 2 + 32] == 32, raw[size - 1] == 10 else {
                throw FormatError.invalidField("\(what): separators or final line feed misplaced")
            }
            let idStart = tag.count + 2
            var id = [UInt8](repeating: 0, count: 16)
            for k in 0..<16 {
                guard let hi = [UInt8].hexNibble(raw[idStart + 2 * k]), let lo = [UInt8].hexNibble(raw[idStart + 2 * k + 1]) else {
                    throw FormatError.invalidField("\(what): the service id is not 32 hexadecimal digits")
                }
                id[k] = hi << 4 | lo
            }
            let seedStart = idStart + 33
            let seed = try SecureBytes(count: 32) { out in
                for k in 0..<32 {
                    guard let hi = [UInt8].hexNibble(raw[seedStart + 2 * k]), let lo = [UInt8].hexNibble(raw[seedStart + 2 * k + 1]) else {
                        throw FormatError.invalidField("\(what): the key is not 64 hexadecimal digits")
                    }
                    out[k] = hi << 4 | lo
                }
            }
            return (id, seed)
        }
    }
}
