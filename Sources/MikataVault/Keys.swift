import Foundation
import MikataCrypto
import MikataFormat

/// Argon2id cost for a password slot. Stored per slot, so it can be raised later without a format change.
package struct KDFParameters: Equatable, Sendable {
    package var opsLimit: UInt64
    package var memLimit: UInt64

    package init(opsLimit: UInt64, memLimit: UInt64) { self.opsLimit = opsLimit; self.memLimit = memLimit }

    /// libsodium's INTERACTIVE profile (2 passes, 64 MiB): the floor for every password the CLI sets.
    package static let interactive = KDFParameters(opsLimit: PasswordHash.opsLimitInteractive, memLimit: PasswordHash.memLimitInteractive)
    /// libsodium's MODERATE profile (3 passes, 256 MiB).
    package static let moderate = KDFParameters(opsLimit: PasswordHash.opsLimitModerate, memLimit: PasswordHash.memLimitModerate)
    /// The smallest parameters libsodium accepts: for tests that open thousands of damaged vaults. Never a default.
    package static let minimumForTesting = KDFParameters(opsLimit: PasswordHash.opsLimitMin, memLimit: PasswordHash.memLimitMin)

    /// Reading a slot: refuse parameters that would make a single unlock a denial of service (FORMAT.md §4.4).
    static let readLimit = KDFParameters(opsLimit: 64, memLimit: 4 << 30)

    func derive(password: SecureBytes, salt: [UInt8]) throws -> SecureBytes {
        guard opsLimit <= Self.readLimit.opsLimit, memLimit <= Self.readLimit.memLimit else {
            throw VaultError.unsupported("password slot asks for Argon2id parameters above this build's limit")
        }
        CredentialWork.current?.record(.argon2id(self))
        let reservation = try Argon2Budget.shared.reserve(memLimit)
        defer { Argon2Budget.shared.release(reservation) }
        do { return try PasswordHash.deriveKey(password: password, salt: salt, opsLimit: opsLimit, memLimit: memLimit) }
        catch let e as CryptoError { throw VaultError.crypto(e, "password slot") }
    }
}

/// A 200-bit recovery code shown once at creation: 40 Crockford base-32 characters in groups of five.
package enum RecoveryCode {
    static let byteLength = 25
    /// 200 bits in 5-bit characters.
    static let characterCount = 40
    static let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)

    static func generate() -> (text: SecureBytes, bytes: SecureBytes) {
        let raw = SecureBytes.random(count: byteLength)
        return (encode(raw), raw)
    }

    static func encode(_ raw: SecureBytes) -> SecureBytes {
        var out: [UInt8] = []
        raw.withUnsafeBytes { bytes in
            var buffer: UInt32 = 0, bits = 0
            for b in bytes {
                buffer = buffer << 8 | UInt32(b); bits += 8
                while bits >= 5 {
                    bits -= 5
                    out.append(alphabet[Int((buffer >> UInt32(bits)) & 31)])
                    if out.count % 6 == 5 { out.append(UInt8(ascii: "-")) }
                }
            }
        }
        if out.last == UInt8(ascii: "-") { out.removeLast() }
        return SecureBytes(wiping: &out)
    }

    /// Parses a code typed by a person (`HumanInput.recoveryCode` normalises it first).
    /// - Throws: `VaultError.invalidInput` when the text cannot be a recovery code.
    static func decode(_ text: SecureBytes) throws -> SecureBytes {
        let canonical = try HumanInput.recoveryCode(text)
        var out: [UInt8] = []
        var buffer: UInt32 = 0, bits = 0
        canonical.withUnsafeBytes { chars in
            for c in chars {
                let v = UInt32(alphabet.firstIndex(of: c) ?? 0)  // HumanInput checked the alphabet
                buffer = buffer << 5 | v; bits += 5
                if bits >= 8 { bits -= 8; out.append(UInt8((buffer >> UInt32(bits)) & 0xff)) }
            }
        }
        buffer = 0
        return SecureBytes(wiping: &out)
    }

    static func slotKey(code: SecureBytes, vaultId: [UInt8], salt: [UInt8]) -> SecureBytes {
        CredentialWork.current?.record(.recoveryKey)
        let h = Blake2b(outputLength: 32, key: code)
        h.update(VaultFormat.Label.recoveryKey); h.update(vaultId); h.update(salt)
        return h.finalizeSecret()
    }
}

/// A supporter's identity once their account is unlocked: both key pairs.
package struct SupporterIdentity: Sendable {
    package let id: [UInt8]
    let box: BoxKeyPair
    let signing: SigningKeyPair
    package let name: String

    init(id: [UInt8], box: BoxKeyPair, signing: SigningKeyPair, name: String) {
        self.id = id; self.box = box; self.signing = signing; self.name = name
    }
}

/// What a patient grants: a supporter's public keys.
package struct SupporterPublicKeys: Equatable, Sendable {
    package let id: [UInt8]
    package let boxPublicKey: [UInt8]
    package let signPublicKey: [UInt8]

    package init(id: [UInt8], boxPublicKey: [UInt8], signPublicKey: [UInt8]) {
        self.id = id; self.boxPublicKey = boxPublicKey; self.signPublicKey = signPublicKey
    }
}

/// A service (the app's back end, a reminder job, a pill box) that may append records it cannot read.
package struct ServiceIdentity: Sendable {
    package let id: [UInt8]
    let signing: SigningKeyPair

    /// A new service identity. Its public signing key is what the patient authorises.
    package static func generate() -> ServiceIdentity { ServiceIdentity(id: Random.bytes(16), signing: SigningKeyPair.generate()) }

    package var signPublicKey: [UInt8] { signing.publicKey }

    init(id: [UInt8], signing: SigningKeyPair) { self.id = id; self.signing = signing }
}

/// The keys of one epoch: record key and write key pair, both derived from the epoch key and the erasure secret
/// (FORMAT.md §6): destroying the erasure secret makes every epoch key useless.
struct EpochKeys {
    let recordKey: SecureBytes
    let writeKeyPair: BoxKeyPair

    static func derive(vaultId: [UInt8], epoch: UInt32, epochKey: SecureBytes, erasureSecret: SecureBytes) -> EpochKeys {
        let h = Blake2b(outputLength: 32, key: erasureSecret)
        h.update(VaultFormat.Label.epochMaterial); h.update(vaultId)
        var w = ByteWriter(); w.writeU32(epoch); h.update(w.bytes)
        h.update(secret: epochKey)
        let material = h.finalizeSecret()
        let recordKey = SubkeyDerivation.derive(from: material, id: 1, context: VaultFormat.Label.recordKDFContext)
        let writeSeed = SubkeyDerivation.derive(from: material, id: 2, context: VaultFormat.Label.recordKDFContext)
        return EpochKeys(recordKey: recordKey, writeKeyPair: try! BoxKeyPair.fromSeed(writeSeed))
    }
}

/// All epoch keys a reader holds, from the current epoch back to the oldest the header keeps.
struct Keyring {
    let generation: UInt64
    let epochKeys: [UInt32: SecureBytes]
    let derived: [UInt32: EpochKeys]

    /// Walks the chain down from the current epoch key (each epoch wraps its predecessor).
    static func build(state: KeyState, currentEpochKey: SecureBytes, erasureSecret: SecureBytes) throws -> Keyring {
        var keys: [UInt32: SecureBytes] = [:]
        var derived: [UInt32: EpochKeys] = [:]
        var key = currentEpochKey
        for i in stride(from: state.epochs.count - 1, through: 0, by: -1) {
            let entry = state.epochs[i]
            keys[entry.epoch] = key
            derived[entry.epoch] = EpochKeys.derive(vaultId: state.vaultId, epoch: entry.epoch, epochKey: key, erasureSecret: erasureSecret)
            if i > 0 {
                guard let wrap = entry.previousKeyWrap else { throw VaultError.corrupted("key state: epoch \(entry.epoch) lacks its chain wrap") }
                do {
                    key = try XChaCha20Poly1305.openSecret(wrap.ciphertext, key: key, nonce: wrap.nonce,
                                                           ad: Wraps.epochChainAD(vaultId: state.vaultId, epoch: entry.epoch))
                } catch {
                    throw VaultError.tampered("key state: the key of epoch \(state.epochs[i - 1].epoch) does not unwrap")
                }
            }
        }
        return Keyring(generation: state.generation, epochKeys: keys, derived: derived)
    }
}

/// Additional data for the wraps inside a key state (FORMAT.md §4.1).
enum Wraps {
    static func epochChainAD(vaultId: [UInt8], epoch: UInt32) -> [UInt8] {
        var w = ByteWriter(); w.write(VaultFormat.Label.epochChain); w.write(vaultId); w.writeU32(epoch); return w.bytes
    }
    static func epochOwnerAD(vaultId: [UInt8], epoch: UInt32) -> [UInt8] {
        var w = ByteWriter(); w.write(VaultFormat.Label.epochOwner); w.write(vaultId); w.writeU32(epoch); return w.bytes
    }
    static func ownerSecretAD(vaultId: [UInt8]) -> [UInt8] {
        var w = ByteWriter(); w.write(VaultFormat.Label.ownerSecret); w.write(vaultId); return w.bytes
    }

    static func wrap(_ secret: SecureBytes, under key: SecureBytes, ad: [UInt8]) -> WrappedKey {
        let nonce = Random.bytes(24)
        let ct = try! XChaCha20Poly1305.seal(secret: secret, key: key, nonce: nonce, ad: ad)
        return WrappedKey(nonce: nonce, ciphertext: ct)
    }

    static func unwrap(_ wrapped: WrappedKey, under key: SecureBytes, ad: [UInt8]) throws -> SecureBytes {
        try XChaCha20Poly1305.openSecret(wrapped.ciphertext, key: key, nonce: wrapped.nonce, ad: ad)
    }
}

/// A process-wide cap on the memory that concurrent Argon2id computations may use, so a burst of unlocks (the HTTP
/// service, many threads) queues instead of exhausting the machine. Default 1 GiB (16 INTERACTIVE unlocks at once),
/// or `MIKATA_ARGON2_BUDGET_MIB`. A request that cannot be served within `wait` seconds is reported busy (exit 75).
package final class Argon2Budget: @unchecked Sendable {
    package static let shared = Argon2Budget(
        bytes: UInt64(ProcessInfo.processInfo.environment["MIKATA_ARGON2_BUDGET_MIB"].flatMap { UInt64($0) } ?? 1024) << 20)

    private let condition = NSCondition()
    package let capacity: UInt64
    private var inUse: UInt64 = 0
    /// The largest amount ever in use at once (tests assert it never exceeds the capacity).
    package private(set) var peak: UInt64 = 0
    package var wait: Double = 30

    package init(bytes: UInt64) { capacity = bytes }

    package func reserve(_ bytes: UInt64) throws -> UInt64 {
        guard bytes <= capacity else { throw VaultError.busy("this unlock needs more Argon2id memory (\(bytes >> 20) MiB) than the configured budget") }
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date().addingTimeInterval(wait)
        while inUse + bytes > capacity {
            if !condition.wait(until: deadline) { throw VaultError.busy("too many password checks at once; try again") }
        }
        inUse += bytes
        peak = max(peak, inUse)
        return bytes
    }

    package func release(_ bytes: UInt64) {
        condition.lock()
        inUse -= bytes
        condition.broadcast()
        condition.unlock()
    }
}
