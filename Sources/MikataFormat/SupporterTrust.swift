package import MikataCrypto

/// FORMAT.md §5.8: the data of a `mikata.contact` record, which names a linked supporter for the patient (name,
/// e-mail, key fingerprint). Every linked supporter can open the record itself, so its data is sealed a second time
/// under a key only the patient's owner key derives: one nurse never reads another's address.
///
///     u8 version = 1 || nonce (24) || XChaCha20-Poly1305(u16 length || JSON || zero padding)
///
/// The plaintext is padded to a multiple of `padBlock`, so the sealed size says little about the name's length.
package enum SealedContact {
    package static let version: UInt8 = 1
    package static let padBlock = 256
    /// The largest JSON a contact may hold: a 254-byte address, a 256-byte name (escaped) and the fixed fields.
    package static let maxJSON = 2046

    package static func associatedData(vaultId: [UInt8]) -> [UInt8] {
        var w = ByteWriter(); w.write(VaultFormat.Label.contact); w.write(vaultId); return w.bytes
    }

    package static func seal(json: [UInt8], key: SecureBytes, vaultId: [UInt8]) throws -> [UInt8] {
        guard json.count <= maxJSON else { throw FormatError.limitExceeded("contact record: \(json.count) bytes of JSON exceed \(maxJSON)") }
        var w = ByteWriter()
        w.writeVariable16(json)
        w.pad(to: (w.bytes.count + padBlock - 1) / padBlock * padBlock)
        let nonce = Random.bytes(24)
        return [version] + nonce + (try XChaCha20Poly1305.seal(w.bytes, key: key, nonce: nonce, ad: associatedData(vaultId: vaultId)))
    }

    /// The JSON inside. Throws `FormatError` for a malformed record, `CryptoError` when it does not open with `key`.
    package static func open(_ data: [UInt8], key: SecureBytes, vaultId: [UInt8]) throws -> [UInt8] {
        var r = ByteReader(data, context: "contact record")
        let v = try r.readU8()
        guard v == version else { throw FormatError.unsupportedVersion(UInt16(v)) }
        let nonce = try r.read(24)
        let plain = try XChaCha20Poly1305.open(try r.read(r.remaining), key: key, nonce: nonce, ad: associatedData(vaultId: vaultId))
        var p = ByteReader(plain, context: "contact record")
        let json = try p.readVariable16(max: maxJSON)
        guard p.remaining < padBlock, try p.read(p.remaining).allSatisfy({ $0 == 0 }) else {
            throw FormatError.invalidField("contact record: padding is not zero bytes up to the next block")
        }
        return json
    }
}

/// FORMAT.md §7.11: `supporters/ab/<supporterId>.pins`, the vault each patient's address led to when this supporter
/// first contacted them. Sealed under a key derived from the supporter's signing seed, so neither the store's disk
/// nor its root key can read or rewrite a pin (only delete or replay the whole file).
///
///     store-file envelope (magic MKTN) { supporterId (16) || nonce (24) || u32 n || n bytes of XChaCha20-Poly1305 }
///     plaintext: u32 count || count × (addressKey (32) || vaultId (16) || i64 pinnedAt millis)
package struct SupporterPinsFile: Equatable, Sendable {
    package static let magic: [UInt8] = Array("MKTN".utf8)
    package static let maxPins = 100_000
    static let pinLength = 32 + 16 + 8

    package struct Pin: Equatable, Sendable {
        /// Keyed BLAKE2b of the patient's normalised address under the supporter's pin key: never the address.
        package var addressKey: [UInt8]
        package var vaultId: [UInt8]
        package var pinnedAtMillis: Int64

        package init(addressKey: [UInt8], vaultId: [UInt8], pinnedAtMillis: Int64) {
            self.addressKey = addressKey; self.vaultId = vaultId; self.pinnedAtMillis = pinnedAtMillis
        }
    }

    package var supporterId: [UInt8]
    package var pins: [Pin]

    package init(supporterId: [UInt8], pins: [Pin]) { self.supporterId = supporterId; self.pins = pins }

    package static func associatedData(supporterId: [UInt8]) -> [UInt8] {
        var w = ByteWriter(); w.write(VaultFormat.Label.supporterPins); w.write(supporterId); return w.bytes
    }

    package func serialize(key: SecureBytes) throws -> [UInt8] {
        guard pins.count <= Self.maxPins else { throw FormatError.limitExceeded("pins file: more than \(Self.maxPins) pins") }
        var p = ByteWriter(capacity: 4 + pins.count * Self.pinLength)
        p.writeU32(UInt32(pins.count))
        for pin in pins {
            guard pin.addressKey.count == 32, pin.vaultId.count == 16 else { throw FormatError.invalidField("pins file: a pin has the wrong length") }
            p.write(pin.addressKey); p.write(pin.vaultId); p.writeI64(pin.pinnedAtMillis)
        }
        let nonce = Random.bytes(24)
        let ct = try XChaCha20Poly1305.seal(p.bytes, key: key, nonce: nonce, ad: Self.associatedData(supporterId: supporterId))
        return StoreFile.seal(magic: Self.magic) { w in
            w.write(supporterId); w.write(nonce); w.writeU32(UInt32(ct.count)); w.write(ct)
        }
    }

    /// Throws `FormatError` for a malformed file, `CryptoError.authenticationFailed` when it does not open with `key`
    /// (another supporter's file, or rewritten).
    package static func parse(_ bytes: [UInt8], key: SecureBytes) throws -> SupporterPinsFile {
        var r = try StoreFile.open(bytes, magic: magic, what: "pins file")
        let id = try r.read(16)
        let nonce = try r.read(24)
        let n = Int(try r.readU32())
        guard n <= 4 + maxPins * pinLength + 16 else { throw FormatError.limitExceeded("pins file: sealed list of \(n) bytes") }
        let ct = try r.read(n)
        try r.expectEnd()
        let plain = try XChaCha20Poly1305.open(ct, key: key, nonce: nonce, ad: associatedData(supporterId: id))
        var p = ByteReader(plain, context: "pins file")
        let count = Int(try p.readU32())
        guard count <= maxPins, count * pinLength == p.remaining else { throw FormatError.invalidField("pins file: pin count does not match its length") }
        var pins: [Pin] = []
        pins.reserveCapacity(count)
        for _ in 0..<count {
            pins.append(Pin(addressKey: try p.read(32), vaultId: try p.read(16), pinnedAtMillis: try p.readI64()))
        }
        return SupporterPinsFile(supporterId: id, pins: pins)
    }
}
