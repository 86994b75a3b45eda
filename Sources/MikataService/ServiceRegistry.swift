import Foundation
import MikataCrypto
import MikataVault

// Registered write-only services (docs/OPERATIONS.md, "Service keys"; docs/SECURITY.md, "Service API keys").
//
// A registered service's credential is an API key that carries its own signing seed:
//
//     mks_<service id: 32 hex digits>_<Ed25519 seed: 43 characters of base64url without padding>
//
// The store keeps only the service's id, name, public key, creation time, revoked flag and `BearerToken.hash` of
// the key (docs/FORMAT.md §7.14), never the seed nor the key. Each request presents the key; `serviceSession(apiKey:)`
// looks its id up in the registry (read anew every time, so a revocation applies from the next request), compares
// hashes in constant time, and rebuilds the signing identity from the seed for that request only.

/// A write-only service in the store's registry.
public struct RegisteredService: Sendable, Equatable {
    /// The service's id (16 random bytes).
    public let serviceId: ServiceID
    /// The name an administrator gave it (1 to 256 bytes; not secret, not personal data).
    public let name: String
    /// Its Ed25519 public key (32 bytes), which a patient authorises.
    public let signPublicKey: [UInt8]
    /// When it was registered (ISO 8601 UTC with milliseconds).
    public let createdAt: String
    /// Whether it was revoked: its API key is refused.
    public let revoked: Bool

    init(_ e: ServiceRegistry.Entry) {
        serviceId = ServiceID(trusted: e.id)
        name = e.name
        signPublicKey = e.signPublicKey
        createdAt = e.createdAt
        revoked = e.revoked
    }
}

/// A new registration: the service and its API key, which is shown once and kept nowhere.
public struct ServiceRegistration: Sendable {
    /// The registered service.
    public let service: RegisteredService
    /// The API key (80 ASCII characters, `mks_<id hex>_<seed base64url>`): give it to the service; whoever holds it
    /// appends as this service to the vaults that authorise it. Only its hash is stored.
    public let apiKey: Secret
}

/// The API key format (see the top of this file).
enum ServiceAPIKey {
    static let prefix = "mks_"
    /// 4 + 32 + 1 + 43.
    static let length = 80

    static func make(_ key: ServiceKey) -> Secret {
        var seed = key.seed.withUnsafeBytes { Array($0) }
        defer { Sodium.wipe(&seed) }
        var text = Array((prefix + key.id.hex + "_" + BearerToken.base64url(seed)).utf8)
        return Secret(wiping: &text)
    }

    /// The id and seed a well-formed key carries; nil for anything else.
    static func parse(_ apiKey: String) -> (id: ServiceID, seed: Secret)? {
        let utf8 = Array(apiKey.utf8)
        guard utf8.count == length, apiKey.hasPrefix(prefix), utf8[36] == UInt8(ascii: "_"),
              let id = ServiceID(hex: String(decoding: utf8[4..<36], as: UTF8.self)) else { return nil }
        let alphabet = { (c: UInt8) in (65...90).contains(c) || (97...122).contains(c) || (48...57).contains(c) || c == 45 || c == 95 }
        guard utf8[37...].allSatisfy(alphabet) else { return nil }
        // RFC 4648 §5 back to §4, padded, for Foundation's decoder.
        var b64 = utf8[37...].map { c -> UInt8 in c == UInt8(ascii: "-") ? UInt8(ascii: "+") : c == UInt8(ascii: "_") ? UInt8(ascii: "/") : c }
        b64 += Array("=".utf8)
        defer { Sodium.wipe(&b64) }
        guard var seed = Data(base64Encoded: Data(b64)).map(Array.init), seed.count == 32 else { return nil }
        return (id, Secret(wiping: &seed))
    }
}

extension VaultService {
    /// The one answer for every key that does not open a session: malformed, unknown, revoked or wrong.
    static let serviceKeyRefused = MikataError(.authenticationFailed, "the service API key is not valid")

    /// Registers a write-only service: a new identity (`ServiceKey.generate()`), recorded in the store's registry
    /// with its public key and the hash of its API key, and logged (`service-register`).
    /// - Parameters:
    ///   - name: what the service is (1 to 256 bytes, no control characters).
    ///   - operatorId: who registers it, for the access log.
    /// - Returns: the service and its API key (shown once: it is not stored and cannot be shown again).
    /// - Throws: `MikataError` `.invalidInput` (name), `.notPermitted` (the registry's limit reached), `.busy`,
    ///   `.tampered` (the registry fails its MAC), `.io`.
    public func registerService(name: String, operatorId: String = "operator") async throws -> ServiceRegistration {
        let key = ServiceKey.generate()
        let apiKey = ServiceAPIKey.make(key)
        let hash = apiKey.withUnsafeBytes { BearerToken.hash(String(decoding: $0, as: UTF8.self)) }
        let entry = try await blocking { store in
            try store.registerService(id: key.id.bytes, name: name, signPublicKey: key.signPublicKey, keyHash: hash, actor: operatorId)
        }
        return ServiceRegistration(service: RegisteredService(entry), apiKey: apiKey)
    }

    /// Revokes a registered service: its API key is refused from the next request on (logged, `service-revoke`).
    /// Idempotent. Vaults that authorised it keep its author entry in their headers, inert without a valid key;
    /// a patient removes it by re-keying (docs/SECURITY.md, "Service API keys").
    /// - Throws: `MikataError` `.notFound` (no such service), `.busy`, `.tampered`, `.io`.
    public func revokeService(_ serviceId: ServiceID, operatorId: String = "operator") async throws {
        try await blocking { store in try store.revokeService(id: serviceId.bytes, actor: operatorId) }
    }

    /// Every registered service, revoked ones included, in the order they were registered.
    /// - Throws: `MikataError` `.tampered` (the registry fails its MAC), `.corrupted`, `.io`.
    public func listServices() async throws -> [RegisteredService] {
        try await blocking { store in try store.serviceRegistry().services.map(RegisteredService.init) }
    }

    /// The session of a registered, unrevoked service whose API key this is, for one request: close it afterwards.
    /// The registry is read anew on every call (a revocation applies at once); the key's hash is compared in
    /// constant time; the signing identity is rebuilt from the seed the key carries.
    /// - Throws: `MikataError(.authenticationFailed)` with one message for a malformed, unknown, revoked or wrong
    ///   key; `.tampered` (the registry fails its MAC), `.io`.
    public func serviceSession(apiKey: String) async throws -> ServiceSession {
        let hash = BearerToken.hash(apiKey)
        guard let (id, seed) = ServiceAPIKey.parse(apiKey) else { throw Self.serviceKeyRefused }
        let entry = try await blocking { store in try store.serviceRegistry().entry(id.bytes) }
        guard let entry, BearerToken.hashesEqual(hash, entry.keyHash), !entry.revoked else { throw Self.serviceKeyRefused }
        let key = try ServiceKey(id: id, seed: seed)
        guard key.signPublicKey == entry.signPublicKey else { throw Self.serviceKeyRefused }
        return serviceSession(key)
    }

    /// Authorises a registered, unrevoked service to append to the patient's vault (it reads nothing), with the
    /// public key the registry holds for it. Idempotent.
    /// - Throws: `MikataError` `.notFound` (no such service, or revoked: the same answer), and what
    ///   `authorizeService(_:serviceId:signPublicKey:)` throws.
    public func authorizeRegisteredService(_ session: PatientSession, serviceId: ServiceID) async throws {
        _ = try session.ownerKey()
        let entry = try await blocking { store in try store.serviceRegistry().entry(serviceId.bytes) }
        guard let entry, !entry.revoked else { throw MikataError(.notFound, "no such service") }
        try await authorizeService(session, serviceId: serviceId, signPublicKey: entry.signPublicKey)
    }
}
