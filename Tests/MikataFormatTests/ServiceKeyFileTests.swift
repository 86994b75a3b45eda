import Foundation
import MikataCrypto
import MikataFormat
import Testing

/// FORMAT.md §7.12: the service key file, its one valid shape and each rejection rule.
@Suite struct ServiceKeyFileTests {
    static let id: [UInt8] = (0..<16).map { UInt8($0 * 17) }
    static let seed: [UInt8] = (0..<32).map { UInt8(255 - $0) }
    static var valid: String {
        "mikata-service-key-v1 " + id.hex + " " + seed.hex + "\n"
    }

    static func parse(_ text: String) throws -> (id: [UInt8], seed: SecureBytes) {
        try ServiceKeyFile.parse(SecureBytes(copying: Array(text.utf8)))
    }

    @Test func serializesToOneLineOf120BytesAndParsesBack() throws {
        let bytes = ServiceKeyFile.serialize(id: Self.id, seed: SecureBytes(copying: Self.seed))
        #expect(bytes.count == ServiceKeyFile.size && ServiceKeyFile.size == 120)
        #expect(bytes.unsafeCopyToArray() == Array(Self.valid.utf8))
        let parsed = try ServiceKeyFile.parse(bytes)
        #expect(parsed.id == Self.id && parsed.seed.unsafeCopyToArray() == Self.seed)
        let upper = try Self.parse(Self.valid.uppercased().replacingOccurrences(of: "MIKATA-SERVICE-KEY-V1", with: "mikata-service-key-v1"))
        #expect(upper.id == Self.id && upper.seed.unsafeCopyToArray() == Self.seed, "hex digits in either case")
    }

    static let valid0 = valid
    static let malformed: [(String, String, FormatError)] = [
        ("empty", "", .badMagic("service key file")),
        ("another tag", valid0.replacingOccurrences(of: "service-key", with: "backup-key"), .badMagic("service key file")),
        ("a backup key file", "mikata-backup-key-v1 " + String(repeating: "a", count: 64) + "\n", .badMagic("service key file")),
        ("no version", "mikata-service-key-v " + id.hex + " " + seed.hex + "\n", .invalidField("service key file: no version number")),
        ("tag only", "mikata-service-key-v1", .invalidField("service key file: no version number")),
        ("version 2", valid0.replacingOccurrences(of: "-v1 ", with: "-v2 "), .unsupportedVersion(2)),
        ("version 65536", valid0.replacingOccurrences(of: "-v1 ", with: "-v65536 "), .unsupportedVersion(65535)),
        ("truncated", String(valid0.dropLast(2)) + "\n", .truncated("service key file")),
        ("no final LF", String(valid0.dropLast()), .truncated("service key file")),
        ("CRLF", String(valid0.dropLast()) + "\r\n", .trailingBytes("service key file")),
        ("a second line", valid0 + "store-id x\n", .trailingBytes("service key file")),
        ("tab for space", valid0.replacingOccurrences(of: " ", with: "\t"), .invalidField("service key file: no version number")),
        ("id and seed run together", "mikata-service-key-v1 " + id.hex + "-" + seed.hex + "\n",
         .invalidField("service key file: separators or final line feed misplaced")),
        ("id not hex", "mikata-service-key-v1 " + String(repeating: "g", count: 32) + " " + seed.hex + "\n",
         .invalidField("service key file: the service id is not 32 hexadecimal digits")),
        ("seed not hex", "mikata-service-key-v1 " + id.hex + " " + String(seed.hex.dropLast()) + "z\n",
         .invalidField("service key file: the key is not 64 hexadecimal digits")),
    ]

    @Test(arguments: 0..<malformed.count)
    func rejectsMalformedFiles(_ index: Int) {
        let (what, text, expected) = Self.malformed[index]
        #expect(throws: expected, "\(what)") { _ = try Self.parse(text) }
    }

    @Test func neverTrapsOnAnyPrefixOrSingleByteChange() {
        let bytes = Array(Self.valid.utf8)
        for n in 0...bytes.count { _ = try? ServiceKeyFile.parse(SecureBytes(copying: bytes.prefix(n))) }
        for i in bytes.indices {
            for b: UInt8 in [0, 10, 32, 48, 255] {
                var changed = bytes
                changed[i] = b
                _ = try? ServiceKeyFile.parse(SecureBytes(copying: changed))
            }
        }
    }
}
