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
    /// The signature of the key state it was built from: a session kept across operations is rebuilt when the
    /// header differs, even at the same generation number (a vault file put back from a backup and changed again).
    let stateSignature: [UInt8]
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
        return Keyring(generation: state.generation, stateSignature: state.signature, epochKeys: keys, derived: derived)
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
/// service, many tasks) is bounded instead of exhausting the machine. Default 1 GiB (16 INTERACTIVE unlocks at once),
/// or `MIKATA_ARGON2_BUDGET_MIB`.
///
/// Two ways in, sharing one account of the memory in use:
/// * `admit(_:)` (the service layer, async): a task waits without blocking a thread, first come first served, in a
///   queue of at most `queueLimit` waiters; a request that finds the queue full is answered `.busy` at once (exit 75,
///   HTTP 503), never an unbounded wait. The admission is then handed to the thread that runs the Argon2id
///   (`withAdmission`), whose `reserve` uses it instead of reserving again.
/// * `reserve(_:)` without an admission (the engine called directly, one thread per caller): waits on a condition
///   for at most `wait` seconds, then `.busy`.
package final class Argon2Budget: @unchecked Sendable {
    package static let shared = Argon2Budget(
        bytes: UInt64(ProcessInfo.processInfo.environment["MIKATA_ARGON2_BUDGET_MIB"].flatMap { UInt64($0) } ?? 1024) << 20)

    /// Memory granted to one waiting or running Argon2id (bytes); release it exactly once.
    package struct Admission: Sendable {
        package let bytes: UInt64
    }

    private struct Waiter {
        let bytes: UInt64
        let continuation: CheckedContinuation<Bool, Never>
    }

    private let condition = NSCondition()
    package let capacity: UInt64
    private var inUse: UInt64 = 0
    private var waiters: [Waiter] = []
    /// The largest amount ever in use at once (tests assert it never exceeds the capacity).
    package var peak: UInt64 { condition.withLock { peakInUse } }
    private var peakInUse: UInt64 = 0
    /// Seconds a synchronous `reserve` waits before answering busy.
    package var wait: Double {
        get { condition.withLock { waitSeconds } }
        set { condition.withLock { waitSeconds = newValue } }
    }
    private var waitSeconds: Double = 30
    /// How many async requests may wait for memory at once; one more is answered busy.
    package var queueLimit: Int {
        get { condition.withLock { maxWaiters } }
        set { condition.withLock { maxWaiters = newValue } }
    }
    private var maxWaiters = 64

    package init(bytes: UInt64) { capacity = bytes }

    /// Requests currently waiting in `admit` (for tests and metrics).
    package var waiting: Int { condition.withLock { waiters.count } }
    /// Bytes currently granted.
    package var bytesInUse: UInt64 { condition.withLock { inUse } }

    private static func tooBig(_ bytes: UInt64) -> VaultError {
        .busy("this unlock needs more Argon2id memory (\(bytes >> 20) MiB) than the configured budget")
    }

    /// Waits (suspending, not blocking a thread) until `bytes` fit in the budget, in arrival order.
    /// - Throws: `VaultError.busy` when `bytes` exceed the whole budget or `queueLimit` requests are already waiting.
    package func admit(_ bytes: UInt64) async throws -> Admission {
        guard bytes <= capacity else { throw Self.tooBig(bytes) }
        enum Outcome { case granted, queued, full }
        let outcome: Outcome = condition.withLock {
            if waiters.isEmpty && inUse + bytes <= capacity {
                inUse += bytes
                peakInUse = max(peakInUse, inUse)
                return .granted
            }
            return waiters.count >= maxWaiters ? .full : .queued
        }
        switch outcome {
        case .granted: return Admission(bytes: bytes)
        case .full: throw VaultError.busy("too many password checks at once; try again")
        case .queued:
            let admitted: Bool = await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
                enum Now { case granted, queued, full }
                let now: Now = condition.withLock {
                    if waiters.isEmpty && inUse + bytes <= capacity {  // memory freed in between
                        inUse += bytes
                        peakInUse = max(peakInUse, inUse)
                        return .granted
                    }
                    if waiters.count >= maxWaiters { return .full }  // the queue filled in between: checked again
                    waiters.append(Waiter(bytes: bytes, continuation: c))
                    return .queued
                }
                if now != .queued { c.resume(returning: now == .granted) }
            }
            guard admitted else { throw VaultError.busy("too many password checks at once; try again") }
            return Admission(bytes: bytes)
        }
    }

    /// Gives an admission's memory back and admits the next waiters that fit.
    package func release(_ admission: Admission) { release(admission.bytes) }

    private static let heldKey = "mikata.argon2.admission"

    /// Runs `body` on this thread with `admission` available to the `reserve` calls inside it.
    package static func withAdmission<R>(_ admission: Admission, _ body: () throws -> R) rethrows -> R {
        Thread.current.threadDictionary[heldKey] = admission.bytes
        defer { Thread.current.threadDictionary.removeObject(forKey: heldKey) }
        return try body()
    }

    /// Reserves `bytes` for one Argon2id on this thread: uses the thread's admission if it covers them (returns 0:
    /// nothing more to release), else waits up to `wait` seconds.
    /// - Throws: `VaultError.busy`.
    package func reserve(_ bytes: UInt64) throws -> UInt64 {
        if let held = Thread.current.threadDictionary[Self.heldKey] as? UInt64, held >= bytes { return 0 }
        guard bytes <= capacity else { throw Self.tooBig(bytes) }
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date().addingTimeInterval(waitSeconds)
        while inUse + bytes > capacity {
            if !condition.wait(until: deadline) { throw VaultError.busy("too many password checks at once; try again") }
        }
        inUse += bytes
        peakInUse = max(peakInUse, inUse)
        return bytes
    }

    package func release(_ bytes: UInt64) {
        guard bytes > 0 else { return }
        var wake: [CheckedContinuation<Bool, Never>] = []
        condition.lock()
        inUse -= bytes
        while let first = waiters.first, inUse + first.bytes <= capacity {
            waiters.removeFirst()
            inUse += first.bytes
            peakInUse = max(peakInUse, inUse)
            wake.append(first.continuation)
        }
        condition.broadcast()
        condition.unlock()
        for c in wake { c.resume(returning: true) }
    }
}
