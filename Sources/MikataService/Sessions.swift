import Foundation
import MikataCrypto
import MikataFormat
import MikataVault
import Synchronization

// Sessions are types: what a supporter or a write-only service may not do has no overload taking their session, so
// it does not compile. Each holds its keys in guarded memory (`sodium_malloc`); `close()` drops them at once and the
// last release zeroes them (`sodium_free`). A session holds credentials, not an open file: every operation rebuilds
// its keyring from the vault's current header, so it sees changes made by other processes or nodes (a revocation
// shuts a supporter out at their next operation).

/// The credential a session holds, behind a lock: `close()` drops it (the last release zeroes its guarded memory);
/// `current()` throws `.closed` afterwards.
final class HeldCredential<Credential: Sendable>: Sendable {
    private let held: Mutex<Credential?>

    init(_ credential: Credential) { held = Mutex(credential) }

    func close() { held.withLock { $0 = nil } }

    var isClosed: Bool { held.withLock { $0 == nil } }

    func current() throws -> Credential {
        guard let c = held.withLock({ $0 }) else { throw MikataError(.closed, "this session was closed") }
        return c
    }
}

/// A patient's unlocked vault: everything the patient may do (read, append, grant, revoke, change the password,
/// authorise services, verify, read their access log, delete the vault).
public final class PatientSession: Sendable {
    /// The patient's vault.
    public let vaultId: VaultID
    private let key: HeldCredential<SecureBytes>
    private let engine = EngineSessionCache()

    init(vaultId: VaultID, ownerKey: SecureBytes) {
        self.vaultId = vaultId
        key = HeldCredential(ownerKey)
    }

    /// Drops the session's keys (zeroed when no operation in flight still uses them). Later calls throw `.closed`.
    public func close() {
        key.close()
        engine.drop()
    }

    /// Whether `close()` was called.
    public var isClosed: Bool { key.isClosed }

    func ownerKey() throws -> SecureBytes { try key.current() }

    /// The engine session for appends and page reads, kept from one to the next: its keyring (the signing key and
    /// record keys derived from the owner key) is rebuilt only when the vault's key state changes (generation or
    /// signature), which the engine checks at every lock (`Vault.prepare`), so another process's key change is still seen. Call only
    /// inside the vault's lane (one operation at a time).
    /// - Throws: `MikataError(.closed)` after `close()`.
    func engineSession() throws -> VaultSession {
        guard let s = engine.session(ownerKey: try key.current()) else { throw MikataError(.closed, "this session was closed") }
        return s
    }
}

/// A patient session's engine session (`VaultSession`), built once and reused inside the vault's lane; `drop()` lets
/// its guarded memory go (zeroed at the last release). @unchecked: the reference is behind `lock`; the session
/// object itself is used only inside its vault's lane, one operation at a time.
final class EngineSessionCache: @unchecked Sendable {
    private let lock = NSLock()
    private var cached: VaultSession?
    private var dropped = false

    /// The kept session, made on first use; nil once `drop()` ran (a close racing an operation keeps nothing).
    func session(ownerKey: SecureBytes) -> VaultSession? {
        lock.lock(); defer { lock.unlock() }
        if dropped { return nil }
        if let s = cached { return s }
        let s = VaultSession(ownerKey: ownerKey)
        cached = s
        return s
    }

    func drop() { lock.lock(); cached = nil; dropped = true; lock.unlock() }
}

/// A supporter's unlocked account: reads and appends to the vaults that link them; never grants, revokes or deletes.
public final class SupporterSession: Sendable {
    /// The supporter's account id.
    public let supporterId: SupporterID
    private let identity: HeldCredential<SupporterIdentity>

    init(identity: SupporterIdentity) {
        supporterId = SupporterID(trusted: identity.id)
        self.identity = HeldCredential(identity)
    }

    /// Drops the session's keys. Later calls throw `.closed`.
    public func close() { identity.close() }

    /// Whether `close()` was called.
    public var isClosed: Bool { identity.isClosed }

    func current() throws -> SupporterIdentity { try identity.current() }
}

/// A write-only service (an app's back end, a reminder job, a pill box): appends sealed records to vaults whose
/// patient authorised it; it has no key that reads anything.
public final class ServiceSession: Sendable {
    /// The service's id.
    public let serviceId: ServiceID
    private let identity: HeldCredential<ServiceIdentity>

    init(identity: ServiceIdentity) {
        serviceId = ServiceID(trusted: identity.id)
        self.identity = HeldCredential(identity)
    }

    /// Drops the session's key. Later calls throw `.closed`.
    public func close() { identity.close() }

    /// Whether `close()` was called.
    public var isClosed: Bool { identity.isClosed }

    func current() throws -> ServiceIdentity { try identity.current() }
}

/// A write-only service's key: its id and Ed25519 signing key. The patient authorises its public key; the service
/// keeps the secret (a key file, 0600, outside the store).
public struct ServiceKey: Sendable {
    let identity: ServiceIdentity

    /// A new random service key.
    public static func generate() -> ServiceKey { ServiceKey(identity: ServiceIdentity.generate()) }

    /// A service key from its id and 32-byte Ed25519 seed.
    /// - Throws: `MikataError(.invalidInput)` for a seed that is not 32 bytes.
    public init(id: ServiceID, seed: Secret) throws {
        do { identity = try ServiceIdentity(id: id.bytes, seed: seed.bytes) } catch { throw MikataError.from(error) }
    }

    init(identity: ServiceIdentity) { self.identity = identity }

    /// The service's id (16 random bytes).
    public var id: ServiceID { ServiceID(trusted: identity.id) }
    /// The Ed25519 public key (32 bytes) the patient authorises.
    public var signPublicKey: [UInt8] { identity.signPublicKey }
    /// The 32-byte seed, for the service's key file.
    public var seed: Secret { Secret(identity.seed) }
}
