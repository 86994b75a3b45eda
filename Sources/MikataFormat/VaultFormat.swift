import MikataCrypto

/// Constants of vault format v1. Each limit cites docs/FORMAT.md.
package enum VaultFormat {
    /// FORMAT.md §2: the only version this build writes and reads.
    package static let version: UInt16 = 1
    /// FORMAT.md §2: the preamble is the first 64 bytes.
    package static let preambleLength = 64
    /// FORMAT.md §3: each header copy is a multiple of 512 bytes, 1 KiB to 16 MiB; new vaults use 8 KiB (room for
    /// about 30 supporters and epochs; a full header area doubles by a rewrite).
    package static let headerCopyLengthMin = 1024
    package static let headerCopyLengthMax = 16 << 20
    package static let headerCopyLengthDefault = 8 << 10
    package static let headerCopyAlignment = 512
    /// FORMAT.md §5: a record's data is at most 16 MiB; a frame at most that plus its fixed parts.
    package static let recordDataMax = 16 << 20
    package static let recordTypeMaxLength = 64
    /// FORMAT.md §4: limits on the key state, far above any real vault, that bound a parser's work.
    package static let maxEpochs = 4096
    package static let maxAuthors = 4096
    package static let maxSlots = 4096

    package static let idLength = 16
    package static let linkLength = 32

    /// Domain-separation labels (FORMAT.md §6). Every hash, signature and AD starts with one.
    package enum Label {
        package static let vaultId: StaticString = "mikata/v1/vault-id\0"
        package static let genesis: StaticString = "mikata/v1/genesis\0"
        package static let link: StaticString = "mikata/v1/link\0"
        package static let headerSignature: StaticString = "mikata/v1/header\0"
        package static let recordAD: StaticString = "mikata/v1/record\0"
        package static let recordSignature: StaticString = "mikata/v1/record-signature\0"
        package static let epochMaterial: StaticString = "mikata/v1/epoch-material\0"
        package static let epochChain: StaticString = "mikata/v1/epoch-chain\0"
        package static let epochOwner: StaticString = "mikata/v1/epoch-owner\0"
        package static let ownerSecret: StaticString = "mikata/v1/owner-secret\0"
        package static let passwordSlot: StaticString = "mikata/v1/slot/password\0"
        package static let recoverySlot: StaticString = "mikata/v1/slot/recovery\0"
        package static let recoveryKey: StaticString = "mikata/v1/recovery-key\0"
        package static let supporterAccount: StaticString = "mikata/v1/supporter-account\0"
        package static let emailLookup: StaticString = "mikata/v1/email-lookup\0"
        package static let auditEntry: StaticString = "mikata/v1/audit-entry\0"
        package static let auditGenesis: StaticString = "mikata/v1/audit-genesis\0"
        package static let auditCheckpoint: StaticString = "mikata/v1/audit-checkpoint\0"
        package static let auditAnchor: StaticString = "mikata/v1/audit-anchor\0"
        package static let deletionCertificate: StaticString = "mikata/v1/deletion-certificate\0"
        package static let subjectRef: StaticString = "mikata/v1/subject-ref\0"
        package static let erasureKeyId: StaticString = "mikata/v1/erasure-key-id\0"
        package static let identityEntry: StaticString = "mikata/v1/identity-entry\0"
        package static let auditEntryMAC: StaticString = "mikata/v1/audit-entry-mac\0"
        package static let vaultAnchor: StaticString = "mikata/v1/vault-anchor\0"
        package static let sealedStoreSecret: StaticString = "mikata/v1/sealed-store-secret\0"
        package static let rootKeyId: StaticString = "mikata/v1/root-key-id\0"
        package static let supporterKeys: StaticString = "mikata/v1/supporter-keys\0"
        package static let fingerprint: StaticString = "mikata/v1/fingerprint\0"
        package static let contact: StaticString = "mikata/v1/contact\0"
        package static let supporterPins: StaticString = "mikata/v1/supporter-pins\0"
        package static let shredIntent: StaticString = "mikata/v1/shred-intent\0"
        /// crypto_kdf context of the keys derived from a vault's owner key (FORMAT.md §5.8): 1 contact records.
        package static let ownerKDFContext: StaticString = "mkowner1"
        /// crypto_kdf context of the keys derived from a supporter's signing seed (FORMAT.md §7.11): 1 pins file, 2 address keys.
        package static let pinsKDFContext: StaticString = "mkpins01"
        /// crypto_kdf context (8 bytes) of the subkeys derived from the store root key (FORMAT.md §7.7).
        package static let rootKDFContext: StaticString = "mkroot01"
        /// crypto_kdf contexts are exactly 8 bytes.
        package static let recordKDFContext: StaticString = "mkrecord"
    }

    /// The self-certifying vault id: the first 16 bytes of BLAKE2b(label || owner public key || vault salt).
    /// A header signed by any other owner key cannot claim this vault's id (FORMAT.md §2).
    package static func vaultId(ownerPublicKey: [UInt8], salt: [UInt8]) -> [UInt8] {
        let h = Blake2b(outputLength: 16)
        h.update(Label.vaultId); h.update(ownerPublicKey); h.update(salt)
        return h.finalize()
    }

    /// The link a record's successor carries (FORMAT.md §5.3): a hash of its fixed header and its AEAD tag.
    package static func link(fixedHeader: ArraySlice<UInt8>, tag: ArraySlice<UInt8>) -> [UInt8] {
        Blake2b.hash(outputLength: 32) { update in
            Label.link.withUTF8Buffer { update(UnsafeRawBufferPointer($0)) }
            fixedHeader.withUnsafeBytes(update)
            tag.withUnsafeBytes(update)
        }
    }

    /// The prevLink of record 0.
    package static func genesisLink(vaultId: [UInt8]) -> [UInt8] {
        let h = Blake2b(outputLength: 32)
        h.update(Label.genesis); h.update(vaultId)
        return h.finalize()
    }

    static func checksum(_ bytes: ArraySlice<UInt8>, length: Int) -> [UInt8] {
        Blake2b.hash(outputLength: length) { update in bytes.withUnsafeBytes(update) }
    }
}

/// FORMAT.md §2: the fixed 64-byte preamble.
package struct Preamble: Equatable, Sendable {
    package static let magic: [UInt8] = Array("MKTVAULT")
    package var version: UInt16
    package var headerCopyLength: Int
    package var vaultId: [UInt8]
    package var vaultSalt: [UInt8]

    package init(headerCopyLength: Int, vaultId: [UInt8], vaultSalt: [UInt8]) {
        self.version = VaultFormat.version
        self.headerCopyLength = headerCopyLength
        self.vaultId = vaultId
        self.vaultSalt = vaultSalt
    }

    package func serialize() -> [UInt8] {
        var w = ByteWriter(capacity: 64)
        w.write(Self.magic); w.writeU16(version); w.writeU16(0); w.writeU32(UInt32(headerCopyLength))
        w.write(vaultId); w.write(vaultSalt)
        w.write(VaultFormat.checksum(w.bytes[...], length: 16))
        return w.bytes
    }

    /// Offset of header copy `index` (0 = A, 1 = B) and of the first record.
    package func headerCopyOffset(_ index: Int) -> Int { VaultFormat.preambleLength + index * headerCopyLength }
    package var recordsOffset: Int { VaultFormat.preambleLength + 2 * headerCopyLength }

    /// Parses and checks the preamble (FORMAT.md §2.1 rejection rules, in order).
    package static func parse(_ bytes: [UInt8]) throws -> Preamble {
        guard bytes.count >= VaultFormat.preambleLength else { throw FormatError.truncated("vault preamble") }
        guard Array(bytes[0..<8]) == magic else { throw FormatError.badMagic("vault preamble (not a MikataVault file)") }
        let sum = VaultFormat.checksum(bytes[0..<48], length: 16)
        let version = UInt16(bytes[8]) << 8 | UInt16(bytes[9])
        if version != VaultFormat.version {
            // A damaged version field is corruption, not a newer file: check the v1 checksum with version 1 in place.
            var repaired = Array(bytes[0..<48]); repaired[8] = 0; repaired[9] = 1
            if VaultFormat.checksum(repaired[...], length: 16) == Array(bytes[48..<64]) {
                throw FormatError.checksumMismatch("vault preamble (damaged version field)")
            }
            throw FormatError.unsupportedVersion(version)
        }
        guard sum == Array(bytes[48..<64]) else { throw FormatError.checksumMismatch("vault preamble") }
        var r = ByteReader(bytes, range: 10..<48, context: "vault preamble")
        let flags = try r.readU16()
        guard flags == 0 else { throw FormatError.unsupportedType("vault flags \(flags)") }
        let copyLength = Int(try r.readU32())
        guard copyLength >= VaultFormat.headerCopyLengthMin, copyLength <= VaultFormat.headerCopyLengthMax,
              copyLength % VaultFormat.headerCopyAlignment == 0
        else { throw FormatError.invalidField("vault preamble: header copy length \(copyLength) out of range") }
        let id = try r.read(16)
        let salt = try r.read(16)
        return Preamble(headerCopyLength: copyLength, vaultId: id, vaultSalt: salt)
    }
}

/// FORMAT.md §3: one of the two header copies: a generation, the signed key state, padding and a checksum.
package struct HeaderCopy: Equatable, Sendable {
    package static let magic: [UInt8] = Array("MKTH")
    package static let fixedOverhead = 4 + 8 + 4 + 32
    package var generation: UInt64
    package var body: [UInt8]

    package init(generation: UInt64, body: [UInt8]) {
        self.generation = generation
        self.body = body
    }

    package static func capacity(copyLength: Int) -> Int { copyLength - fixedOverhead }

    /// Bytes at the start of a copy that name its generation (magic, generation): enough to tell whether a copy
    /// changed since it was last read, without parsing or checking it (FORMAT.md §3.2).
    package static let generationPrefixLength = 12

    /// The generation a copy claims in its first `generationPrefixLength` bytes; nil if they are not a copy's.
    /// Unverified: a changed value only tells the reader to load and check the copy again.
    package static func claimedGeneration(_ prefix: [UInt8]) -> UInt64? {
        guard prefix.count == generationPrefixLength, Array(prefix[0..<4]) == magic else { return nil }
        return prefix[4..<12].reduce(0) { $0 << 8 | UInt64($1) }
    }

    package func serialize(copyLength: Int) throws -> [UInt8] {
        guard body.count <= Self.capacity(copyLength: copyLength) else {
            throw FormatError.limitExceeded("key state of \(body.count) bytes does not fit a header copy of \(copyLength) bytes")
        }
        var w = ByteWriter(capacity: copyLength)
        w.write(Self.magic); w.writeU64(generation); w.writeU32(UInt32(body.count)); w.write(body)
        w.pad(to: copyLength - 32)
        w.write(VaultFormat.checksum(w.bytes[...], length: 32))
        return w.bytes
    }

    /// Parses a copy; checksum first, so accidental damage is told apart from a bad signature later.
    package static func parse(_ bytes: ArraySlice<UInt8>) throws -> HeaderCopy {
        let copy = Array(bytes)
        guard copy.count >= VaultFormat.headerCopyLengthMin else { throw FormatError.truncated("header copy") }
        if copy.allSatisfy({ $0 == 0 }) { throw FormatError.invalidField("header copy is blank") }
        guard VaultFormat.checksum(copy[0..<(copy.count - 32)], length: 32) == Array(copy[(copy.count - 32)...]) else {
            throw FormatError.checksumMismatch("header copy")
        }
        var r = ByteReader(copy, range: 0..<(copy.count - 32), context: "header copy")
        try r.expectMagic(magic)
        let generation = try r.readU64()
        guard generation >= 1 else { throw FormatError.invalidField("header copy: generation 0") }
        let n = Int(try r.readU32())
        guard n <= capacity(copyLength: copy.count) else { throw FormatError.limitExceeded("header copy: key state length \(n) exceeds the copy") }
        let body = try r.read(n)
        // Padding must be zero: any other byte is damage the checksum cannot miss anyway, but keep the rule explicit.
        guard copy[r.offset..<(copy.count - 32)].allSatisfy({ $0 == 0 }) else { throw FormatError.invalidField("header copy: non-zero padding") }
        return HeaderCopy(generation: generation, body: body)
    }
}
