package import MikataCrypto

/// FORMAT.md §7: the small binary files of a store, outside the vault files. Each is magic, version, content and
/// a BLAKE2b-128 checksum; none holds an e-mail, a nickname or record content in clear.
package enum StoreFile {
    package static let version: UInt16 = 1

    static func seal(magic: [UInt8], version: UInt16 = version, _ content: (inout ByteWriter) -> Void) -> [UInt8] {
        var w = ByteWriter()
        w.write(magic); w.writeU16(version); w.writeU16(0)
        content(&w)
        w.write(VaultFormat.checksum(w.bytes[...], length: 16))
        return w.bytes
    }

    static func open(_ bytes: [UInt8], magic: [UInt8], what: String) throws -> ByteReader {
        try open(bytes, magic: magic, what: what, versions: version...version).reader
    }

    /// Opens a store file whose kind has more than one version (`versions`), and tells which one it is.
    static func open(_ bytes: [UInt8], magic: [UInt8], what: String, versions: ClosedRange<UInt16>) throws -> (reader: ByteReader, version: UInt16) {
        guard bytes.count >= magic.count + 4 + 16 else { throw FormatError.truncated(what) }
        guard Array(bytes[0..<magic.count]) == magic else { throw FormatError.badMagic(what) }
        guard VaultFormat.checksum(bytes[0..<(bytes.count - 16)], length: 16) == Array(bytes[(bytes.count - 16)...]) else {
            throw FormatError.checksumMismatch(what)
        }
        var r = ByteReader(bytes, range: magic.count..<(bytes.count - 16), context: what)
        let v = try r.readU16()
        guard versions.contains(v) else { throw FormatError.unsupportedVersion(v) }
        guard try r.readU16() == 0 else { throw FormatError.invalidField("\(what): reserved bytes set") }
        return (r, v)
    }
}

/// FORMAT.md §7.1: a vault's erasure secret. Record keys depend on it; destroying this file (shred) makes every
/// copy of the vault file unreadable, even with the password. Written once, never rewritten in place by renames.
package struct ErasureSecretFile: Sendable {
    package static let magic: [UInt8] = Array("MKTK")
    package var vaultId: [UInt8]
    package var secret: SecureBytes

    package init(vaultId: [UInt8], secret: SecureBytes) { self.vaultId = vaultId; self.secret = secret }

    /// The serialised bytes hold the secret: the caller writes them to a 0600 file and wipes the array.
    package func serialize() -> [UInt8] {
        var s = secret.unsafeCopyToArray()
        defer { Sodium.wipe(&s) }
        return StoreFile.seal(magic: Self.magic) { w in w.write(vaultId); w.write(s) }
    }

    package static func parse(_ bytes: [UInt8]) throws -> ErasureSecretFile {
        var r = try StoreFile.open(bytes, magic: magic, what: "erasure secret file")
        let id = try r.read(16)
        var s = try r.read(32)
        try r.expectEnd()
        return ErasureSecretFile(vaultId: id, secret: SecureBytes(wiping: &s))
    }
}

/// FORMAT.md §7.2: the lowest header generation a vault may present: an older, validly signed header copied back
/// over the current one (a rollback, e.g. to undo a revocation) is refused.
package struct GenerationFile: Equatable, Sendable {
    package static let magic: [UInt8] = Array("MKTG")
    package var vaultId: [UInt8]
    package var minimumGeneration: UInt64

    package init(vaultId: [UInt8], minimumGeneration: UInt64) { self.vaultId = vaultId; self.minimumGeneration = minimumGeneration }

    package func serialize() -> [UInt8] {
        StoreFile.seal(magic: Self.magic) { w in w.write(vaultId); w.writeU64(minimumGeneration) }
    }

    package static func parse(_ bytes: [UInt8]) throws -> GenerationFile {
        var r = try StoreFile.open(bytes, magic: magic, what: "generation file")
        let id = try r.read(16); let g = try r.readU64()
        try r.expectEnd()
        return GenerationFile(vaultId: id, minimumGeneration: g)
    }
}

/// FORMAT.md §7.3: an e-mail lookup entry. The file name is a keyed BLAKE2b of the normalised e-mail; the
/// content is the id it maps to.
package struct LookupEntry: Equatable, Sendable {
    package static let magic: [UInt8] = Array("MKTL")
    package enum Kind: UInt8, Sendable { case patient = 1, supporter = 2 }
    package var kind: Kind
    package var id: [UInt8]

    package init(kind: Kind, id: [UInt8]) { self.kind = kind; self.id = id }

    package func serialize() -> [UInt8] {
        StoreFile.seal(magic: Self.magic) { w in w.writeU8(kind.rawValue); w.write(id) }
    }

    package static func parse(_ bytes: [UInt8]) throws -> LookupEntry {
        var r = try StoreFile.open(bytes, magic: magic, what: "lookup entry")
        let k = try r.readU8()
        guard let kind = Kind(rawValue: k) else { throw FormatError.unsupportedType("lookup entry kind \(k)") }
        let id = try r.read(16)
        try r.expectEnd()
        return LookupEntry(kind: kind, id: id)
    }
}

/// FORMAT.md §7.4: a supporter account: public keys in clear, secret keys and display name sealed under an
/// Argon2id key of the supporter's password.
package struct SupporterAccountFile: Equatable, Sendable {
    package static let magic: [UInt8] = Array("MKTS")
    package var supporterId: [UInt8]
    package var boxPublicKey: [UInt8]
    package var signPublicKey: [UInt8]
    package var createdAtMillis: Int64
    package var opsLimit: UInt64
    package var memLimit: UInt64
    package var salt: [UInt8]
    package var nonce: [UInt8]
    /// AEAD of `SupporterSecrets`.
    package var sealedSecrets: [UInt8]

    package init(supporterId: [UInt8], boxPublicKey: [UInt8], signPublicKey: [UInt8], createdAtMillis: Int64,
                 opsLimit: UInt64, memLimit: UInt64, salt: [UInt8], nonce: [UInt8], sealedSecrets: [UInt8]) {
        self.supporterId = supporterId; self.boxPublicKey = boxPublicKey; self.signPublicKey = signPublicKey
        self.createdAtMillis = createdAtMillis; self.opsLimit = opsLimit; self.memLimit = memLimit; self.salt = salt
        self.nonce = nonce; self.sealedSecrets = sealedSecrets
    }

    /// The AEAD's additional data: every public field, so none can be swapped.
    package func associatedData() -> [UInt8] {
        var w = ByteWriter()
        w.write(VaultFormat.Label.supporterAccount); w.write(supporterId); w.write(boxPublicKey); w.write(signPublicKey)
        w.writeI64(createdAtMillis); w.writeU8(PasswordSlot.algorithmArgon2id); w.writeU64(opsLimit); w.writeU64(memLimit); w.write(salt)
        return w.bytes
    }

    package func serialize() -> [UInt8] {
        StoreFile.seal(magic: Self.magic) { w in
            w.write(supporterId); w.write(boxPublicKey); w.write(signPublicKey); w.writeI64(createdAtMillis)
            w.writeU8(PasswordSlot.algorithmArgon2id); w.writeU64(opsLimit); w.writeU64(memLimit); w.write(salt); w.write(nonce)
            w.writeU32(UInt32(sealedSecrets.count)); w.write(sealedSecrets)
        }
    }

    package static func parse(_ bytes: [UInt8]) throws -> SupporterAccountFile {
        var r = try StoreFile.open(bytes, magic: magic, what: "supporter account")
        let id = try r.read(16); let box = try r.read(32); let sign = try r.read(32); let created = try r.readI64()
        let alg = try r.readU8()
        guard alg == PasswordSlot.algorithmArgon2id else { throw FormatError.unsupportedType("supporter account KDF \(alg)") }
        let ops = try r.readU64(); let mem = try r.readU64(); let salt = try r.read(16); let nonce = try r.read(24)
        let n = Int(try r.readU32())
        guard n <= 4096 else { throw FormatError.limitExceeded("supporter account: sealed secrets of \(n) bytes") }
        let sealed = try r.read(n)
        try r.expectEnd()
        return SupporterAccountFile(supporterId: id, boxPublicKey: box, signPublicKey: sign, createdAtMillis: created,
                                    opsLimit: ops, memLimit: mem, salt: salt, nonce: nonce, sealedSecrets: sealed)
    }
}

/// The sealed part of a supporter account: both secret keys and the display name.
package struct SupporterSecrets: Sendable {
    package var boxSecretKey: SecureBytes
    package var signSeed: SecureBytes
    package var name: String

    package init(boxSecretKey: SecureBytes, signSeed: SecureBytes, name: String) {
        self.boxSecretKey = boxSecretKey; self.signSeed = signSeed; self.name = name
    }

    /// Plaintext for the AEAD; the caller wipes it.
    package func serialize() -> [UInt8] {
        var w = ByteWriter()
        w.write(boxSecretKey.unsafeCopyToArray()); w.write(signSeed.unsafeCopyToArray()); w.writeVariable16(Array(name.utf8))
        return w.bytes
    }

    package static func parse(_ bytes: [UInt8]) throws -> SupporterSecrets {
        var r = ByteReader(bytes, context: "supporter secrets")
        var box = try r.read(32); var sign = try r.read(32)
        let nameBytes = try r.readVariable16(max: 1024)
        try r.expectEnd()
        guard let name = String(validating: nameBytes, as: UTF8.self) else { throw FormatError.invalidField("supporter secrets: name is not UTF-8") }
        return SupporterSecrets(boxSecretKey: SecureBytes(wiping: &box), signSeed: SecureBytes(wiping: &sign), name: name)
    }
}

/// FORMAT.md §7.5 and §7.6: a store-wide 32-byte secret in its own file: the e-mail lookup key (`MKTY`) and the
/// store's Ed25519 seed (`MKTP`). One layout, told apart by the magic.
package struct StoreSecretFile: Sendable {
    package enum Kind: Sendable {
        case lookupKey, signingSeed
        var magic: [UInt8] { self == .lookupKey ? Array("MKTY") : Array("MKTP") }
        var name: String { self == .lookupKey ? "lookup key file" : "store signing key file" }
    }

    package var kind: Kind
    package var secret: SecureBytes

    package init(_ kind: Kind, secret: SecureBytes) { self.kind = kind; self.secret = secret }

    package func serialize() -> [UInt8] {
        var k = secret.unsafeCopyToArray()
        defer { Sodium.wipe(&k) }
        return StoreFile.seal(magic: kind.magic) { w in w.write(k) }
    }

    package static func parse(_ bytes: [UInt8], as kind: Kind) throws -> StoreSecretFile {
        var r = try StoreFile.open(bytes, magic: kind.magic, what: kind.name)
        var k = try r.read(32)
        try r.expectEnd()
        return StoreSecretFile(kind, secret: SecureBytes(wiping: &k))
    }
}

/// FORMAT.md §7.7: the store root key file, kept **outside** the store directory. 32 secret bytes; the store's
/// description names the key by its key id, so a key given for the wrong store is refused before it is used.
package struct RootKeyFile: Sendable {
    package static let magic: [UInt8] = Array("MKTR")
    package var secret: SecureBytes

    package init(secret: SecureBytes) { self.secret = secret }

    /// The serialised bytes hold the secret: the caller writes them to a 0600 file and wipes the array.
    package func serialize() -> [UInt8] {
        var k = secret.unsafeCopyToArray()
        defer { Sodium.wipe(&k) }
        return StoreFile.seal(magic: Self.magic) { w in w.write(k) }
    }

    package static func parse(_ bytes: [UInt8]) throws -> RootKeyFile {
        var r = try StoreFile.open(bytes, magic: magic, what: "store root key file")
        var k = try r.read(32)
        try r.expectEnd()
        return RootKeyFile(secret: SecureBytes(wiping: &k))
    }
}

/// FORMAT.md §7.3: an identity entry, the authenticated successor of `LookupEntry`. The file name is the keyed
/// hash of the e-mail address; the content maps it to an id and, for a supporter, pins the hash of the supporter's
/// public keys. `mac` is keyed BLAKE2b-256 under the root key's identity subkey over `macMessage(name:)`, which
/// covers the file name: an entry copied over another one, or a supporter account swapped for another, is refused.
package struct IdentityEntry: Equatable, Sendable {
    package static let magic: [UInt8] = Array("MKTI")
    package var kind: LookupEntry.Kind
    package var id: [UInt8]
    /// BLAKE2b-256 of the supporter's public keys (`SupporterKeysDigest`); 32 zero bytes for a patient.
    package var keysDigest: [UInt8]
    package var mac: [UInt8]

    package init(kind: LookupEntry.Kind, id: [UInt8], keysDigest: [UInt8], mac: [UInt8] = [UInt8](repeating: 0, count: 32)) {
        self.kind = kind; self.id = id; self.keysDigest = keysDigest; self.mac = mac
    }

    /// What the MAC covers: a label, the entry's file name (32 bytes), kind, id and keys digest.
    package func macMessage(name: [UInt8]) -> [UInt8] {
        var w = ByteWriter()
        w.write(VaultFormat.Label.identityEntry); w.write(name); w.writeU8(kind.rawValue); w.write(id); w.write(keysDigest)
        return w.bytes
    }

    package func serialize() -> [UInt8] {
        StoreFile.seal(magic: Self.magic) { w in w.writeU8(kind.rawValue); w.write(id); w.write(keysDigest); w.write(mac) }
    }

    package static func parse(_ bytes: [UInt8]) throws -> IdentityEntry {
        var r = try StoreFile.open(bytes, magic: magic, what: "identity entry")
        let k = try r.readU8()
        guard let kind = LookupEntry.Kind(rawValue: k) else { throw FormatError.unsupportedType("identity entry kind \(k)") }
        let id = try r.read(16); let digest = try r.read(32); let mac = try r.read(32)
        try r.expectEnd()
        return IdentityEntry(kind: kind, id: id, keysDigest: digest, mac: mac)
    }

    /// The digest an identity entry pins for a supporter: BLAKE2b-256 over a label, the id and both public keys.
    package static func supporterKeysDigest(id: [UInt8], boxPublicKey: [UInt8], signPublicKey: [UInt8]) -> [UInt8] {
        let h = Blake2b(outputLength: 32)
        h.update(VaultFormat.Label.supporterKeys); h.update(id); h.update(boxPublicKey); h.update(signPublicKey)
        return h.finalize()
    }
}

/// FORMAT.md §7.2: a vault's rollback anchor, the authenticated successor of `GenerationFile`: the lowest header
/// generation the vault may present and, at that generation, its key epoch and record floor. `mac` is keyed
/// BLAKE2b-256 under the root key's anchor subkey, so the anchor cannot be forged or moved to another vault.
package struct AnchorFile: Equatable, Sendable {
    package static let magic: [UInt8] = Array("MKTA")
    package var vaultId: [UInt8]
    package var generation: UInt64
    package var epoch: UInt32
    package var recordFloorCount: UInt64
    package var recordFloorLink: [UInt8]
    package var mac: [UInt8]

    package init(vaultId: [UInt8], generation: UInt64, epoch: UInt32, recordFloorCount: UInt64, recordFloorLink: [UInt8],
                 mac: [UInt8] = [UInt8](repeating: 0, count: 32)) {
        self.vaultId = vaultId; self.generation = generation; self.epoch = epoch
        self.recordFloorCount = recordFloorCount; self.recordFloorLink = recordFloorLink; self.mac = mac
    }

    package func macMessage() -> [UInt8] {
        var w = ByteWriter()
        w.write(VaultFormat.Label.vaultAnchor); w.write(vaultId); w.writeU64(generation); w.writeU32(epoch)
        w.writeU64(recordFloorCount); w.write(recordFloorLink)
        return w.bytes
    }

    package func serialize() -> [UInt8] {
        StoreFile.seal(magic: Self.magic) { w in
            w.write(vaultId); w.writeU64(generation); w.writeU32(epoch); w.writeU64(recordFloorCount); w.write(recordFloorLink); w.write(mac)
        }
    }

    package static func parse(_ bytes: [UInt8]) throws -> AnchorFile {
        var r = try StoreFile.open(bytes, magic: magic, what: "vault anchor")
        let id = try r.read(16); let g = try r.readU64(); let e = try r.readU32(); let n = try r.readU64()
        let link = try r.read(32); let mac = try r.read(32)
        try r.expectEnd()
        return AnchorFile(vaultId: id, generation: g, epoch: e, recordFloorCount: n, recordFloorLink: link, mac: mac)
    }
}

/// FORMAT.md §7.6: a store secret sealed under the root key's sealing subkey (XChaCha20-Poly1305, the store id
/// and the secret's kind as additional data). Used for the store's Ed25519 seed: without the root key, a person
/// with the disk can neither sign checkpoints and certificates nor swap the key for one of their own.
///
/// Version 2 (what this build writes) also binds the jurisdiction the store's description declares (`u16 length ||
/// ISO 3166-1 alpha-2 code` after the store id in the additional data): an edited description then no longer opens
/// the store's signing key, so it signs no certificate or backup stating another jurisdiction. Version 1 (without
/// it) is still read, and rewritten as version 2 by the store that reads it.
package struct SealedStoreSecretFile: Sendable {
    package static let magic: [UInt8] = Array("MKTQ")
    /// 1: the store id and kind in the additional data; 2: also the jurisdiction.
    package var version: UInt16
    package var nonce: [UInt8]
    package var ciphertext: [UInt8]

    package init(version: UInt16 = 2, nonce: [UInt8], ciphertext: [UInt8]) { self.version = version; self.nonce = nonce; self.ciphertext = ciphertext }

    /// The additional data: version 1 without `jurisdiction` (nil), version 2 with it.
    package static func associatedData(storeId: String, kind: StoreSecretFile.Kind, jurisdiction: String? = nil) -> [UInt8] {
        var w = ByteWriter()
        w.write(VaultFormat.Label.sealedStoreSecret); w.write(kind.magic); w.writeVariable16(Array(storeId.utf8))
        if let jurisdiction { w.writeVariable16(Array(jurisdiction.utf8)) }
        return w.bytes
    }

    package func serialize() -> [UInt8] {
        StoreFile.seal(magic: Self.magic, version: version) { w in w.write(nonce); w.write(ciphertext) }
    }

    package static func parse(_ bytes: [UInt8]) throws -> SealedStoreSecretFile {
        let opened = try StoreFile.open(bytes, magic: magic, what: "sealed store secret", versions: 1...2)
        var r = opened.reader
        let version = opened.version
        let nonce = try r.read(24); let ct = try r.read(48)
        try r.expectEnd()
        return SealedStoreSecretFile(version: version, nonce: nonce, ciphertext: ct)
    }

    /// Whether `bytes` look like this file (by magic), to tell it from a legacy plain `StoreSecretFile`.
    package static func isSealed(_ bytes: [UInt8]) -> Bool { bytes.count >= 4 && Array(bytes[0..<4]) == magic }
}
