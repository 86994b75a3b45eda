/// FORMAT.md §7.13: a small store document sealed under the store root key, for the HTTP service's administration
/// state: the administrators (`admin/administrators`, magic `MKTD`) and the pending shred requests
/// (`admin/shred-requests`, magic `MKTX`); and §7.15, a vault's missed-dose notice file (`notices/<vaultId>`,
/// magic `MKTN`), sealed under root subkey 8 with the vault id appended to the associated data.
///
///     store-file envelope (magic) { nonce (24) || u32 n || n bytes of XChaCha20-Poly1305(plaintext) }
///
/// The plaintext is a UTF-8 JSON document the store layer reads; this type only frames it. The AEAD key is root
/// subkey 7 and the associated data `"mikata/v1/sealed-document\0" || magic || u16 length || store id`, so a file
/// of one kind cannot be passed off as the other, nor moved to another store.
package struct SealedDocumentFile: Sendable {
    /// Which document (and magic) a file is.
    package enum Kind: Sendable {
        case administrators
        case shredRequests
        /// One vault's missed-dose notice file (FORMAT.md §7.15).
        case notices

        package var magic: [UInt8] {
            switch self {
            case .administrators: Array("MKTD".utf8)
            case .shredRequests: Array("MKTX".utf8)
            case .notices: Array("MKTN".utf8)
            }
        }
        var what: String {
            switch self {
            case .administrators: "administrators file"
            case .shredRequests: "shred requests file"
            case .notices: "notice file"
            }
        }
    }

    /// Largest ciphertext a reader accepts (1 MiB): a few hundred accounts or requests fit many times over.
    package static let maxCiphertextLength = 1 << 20

    package let kind: Kind
    package let nonce: [UInt8]
    package let ciphertext: [UInt8]

    package init(kind: Kind, nonce: [UInt8], ciphertext: [UInt8]) { self.kind = kind; self.nonce = nonce; self.ciphertext = ciphertext }

    /// The AEAD's associated data for a document of `kind` in store `storeId`.
    /// `subject` (a notice file's 16-byte vault id) is appended when given, so a vault's file cannot be passed off
    /// as another vault's; the administration documents have none (their associated data is unchanged).
    package static func associatedData(storeId: String, kind: Kind, subject: [UInt8]? = nil) -> [UInt8] {
        var w = ByteWriter()
        w.write("mikata/v1/sealed-document\0"); w.write(kind.magic); w.writeVariable16(Array(storeId.utf8))
        if let subject { w.writeVariable16(subject) }
        return w.bytes
    }

    package func serialize() -> [UInt8] {
        StoreFile.seal(magic: kind.magic) { w in w.write(nonce); w.writeU32(UInt32(ciphertext.count)); w.write(ciphertext) }
    }

    /// Parses a file of `kind`.
    /// - Throws: `FormatError` (wrong magic, checksum, version, a length over the limit or past the end).
    package static func parse(_ bytes: [UInt8], kind: Kind) throws -> SealedDocumentFile {
        var r = try StoreFile.open(bytes, magic: kind.magic, what: kind.what)
        let nonce = try r.read(24)
        let n = Int(try r.readU32())
        guard n <= maxCiphertextLength else { throw FormatError.limitExceeded("\(kind.what): \(n) bytes exceed \(maxCiphertextLength)") }
        let ct = try r.read(n)
        try r.expectEnd()
        return SealedDocumentFile(kind: kind, nonce: nonce, ciphertext: ct)
    }
}
