package import MikataCrypto

// FORMAT.md §7: the key-store files parsed from guarded memory. The same checks, in the same order and with the
// same errors, as the `[UInt8]` parsers in StoreFiles.swift; the secret goes from the file's guarded copy to its
// own guarded memory without ever passing through an ordinary array.

extension StoreFile {
    /// `open(_:magic:what:)` for a file held in guarded memory; hands the content (between the reserved bytes and
    /// the checksum), which must be exactly `contentLength` bytes, to `body` in place.
    static func open<R>(_ file: SecureBytes, magic: [UInt8], what: String, contentLength: Int,
                        _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        try file.withUnsafeBytes { raw in
            let head = magic.count + 4
            guard raw.count >= head + 16 else { throw FormatError.truncated(what) }
            guard raw.prefix(magic.count).elementsEqual(magic) else { throw FormatError.badMagic(what) }
            let h = Blake2b(outputLength: 16)
            h.update(UnsafeRawBufferPointer(rebasing: raw[..<(raw.count - 16)]))
            guard h.finalize().elementsEqual(raw.suffix(16)) else { throw FormatError.checksumMismatch(what) }
            let v = UInt16(raw[magic.count]) << 8 | UInt16(raw[magic.count + 1])
            guard v == version else { throw FormatError.unsupportedVersion(v) }
            guard raw[magic.count + 2] == 0, raw[magic.count + 3] == 0 else { throw FormatError.invalidField("\(what): reserved bytes set") }
            let content = UnsafeRawBufferPointer(rebasing: raw[head..<(raw.count - 16)])
            guard content.count >= contentLength else { throw FormatError.truncated(what) }
            guard content.count == contentLength else { throw FormatError.trailingBytes(what) }
            return try body(content)
        }
    }
}

extension StoreSecretFile {
    /// `parse(_:as:)` for a file read straight into guarded memory.
    package static func parse(_ file: SecureBytes, as kind: Kind) throws -> StoreSecretFile {
        try StoreFile.open(file, magic: kind.magic, what: kind.name, contentLength: 32) { content in
            StoreSecretFile(kind, secret: SecureBytes(copying: content))
        }
    }
}

extension ErasureSecretFile {
    /// `parse(_:)` for a file read straight into guarded memory.
    package static func parse(_ file: SecureBytes) throws -> ErasureSecretFile {
        try StoreFile.open(file, magic: magic, what: "erasure secret file", contentLength: 16 + 32) { content in
            ErasureSecretFile(vaultId: Array(content[0..<16]), secret: SecureBytes(copying: UnsafeRawBufferPointer(rebasing: content[16..<48])))
        }
    }
}
