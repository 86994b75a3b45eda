import Foundation
import MikataCrypto
import MikataFormat

/// The store's registry of write-only services that hold an API key (docs/FORMAT.md §7.14): `services/registry.json`.
///
/// It keeps, per service, its id, name, Ed25519 public key, creation time, revoked flag and a hash of its API key;
/// never the signing seed nor the key. The file is authenticated under the store root key (a MAC with subkey 1 of
/// context `mksvcreg`), so a copy of the store alone can neither add a service nor lift a revocation by editing it.
package struct ServiceRegistry: Sendable, Equatable {
    /// One registered service.
    package struct Entry: Sendable, Equatable {
        package var id: [UInt8]
        package var name: String
        package var signPublicKey: [UInt8]
        package var createdAt: String
        package var revoked: Bool
        package var revokedAt: String?
        /// The API key's hash (32 bytes, chosen by the caller: the service layer's `BearerToken.hash`).
        package var keyHash: [UInt8]
    }

    package var storeId: String
    package var services: [Entry] = []

    static let relativePath = "services/registry.json"
    static let folder = "services"
    static let kdfContext: StaticString = "mksvcreg"
    static let macLabel: StaticString = "mikata/v1/service-registry\0"
    /// At most this many services (every one ever registered, revoked ones included): the file stays small enough
    /// to read on every request.
    package static let maxServices = 10_000

    /// The JSON without its MAC (RFC 8785 canonical).
    func body() -> [UInt8] {
        CanonicalJSON.serialize(.object([
            ("type", .string("mikata-service-registry")), ("version", .number(1)), ("storeId", .string(storeId)),
            ("services", .array(services.map { e in
                .object([("serviceId", .string(e.id.hex)), ("name", .string(e.name)), ("signPublicKey", .string(e.signPublicKey.hex)),
                         ("createdAt", .string(e.createdAt)), ("revoked", .bool(e.revoked)),
                         ("revokedAt", e.revokedAt.map { .string($0) } ?? .null), ("keyHash", .string(e.keyHash.hex))])
            })),
        ]))
    }

    static func macKey(_ rootKey: StoreRootKey) -> SecureBytes {
        SubkeyDerivation.derive(from: rootKey.secret, id: 1, context: kdfContext)
    }

    static func mac(_ body: [UInt8], rootKey: StoreRootKey) -> [UInt8] {
        let h = Blake2b(outputLength: 32, key: macKey(rootKey))
        h.update(macLabel)
        h.update(body)
        return h.finalize()
    }

    /// The file: the canonical body with a `mac` member (hex) added.
    func serialize(rootKey: StoreRootKey) throws -> [UInt8] {
        let b = body()
        guard case .object(var members) = try CanonicalJSON.parse(b) else { return b }
        members.append(("mac", .string(Self.mac(b, rootKey: rootKey).hex)))
        return CanonicalJSON.serialize(.object(members)) + [10]
    }

    /// Parses and authenticates the file (`rootKey` nil: no MAC check, for a restore, which trusts the signed
    /// backup and MACs the registry anew under the target's root key).
    /// - Throws: `VaultError.corrupted` (not a registry), `.tampered` (the MAC does not verify under this store's
    ///   root key, or it names another store).
    static func parse(_ bytes: [UInt8], storeId: String, rootKey: StoreRootKey?) throws -> ServiceRegistry {
        let value: MikataFormat.JSONValue
        do { value = try CanonicalJSON.parse(bytes.last == 10 ? Array(bytes.dropLast()) : bytes) } catch {
            throw VaultError.corrupted("the service registry is not JSON")
        }
        guard case .object(let members) = value, value["type"]?.stringValue == "mikata-service-registry" else {
            throw VaultError.corrupted("the service registry is not a MikataVault service registry")
        }
        guard value["version"]?.intValue == 1 else { throw VaultError.unsupported("the service registry's version is not supported by this build") }
        guard let macHex = value["mac"]?.stringValue, let mac = [UInt8](hex: macHex), mac.count == 32 else {
            throw VaultError.tampered("the service registry carries no MAC")
        }
        let body = CanonicalJSON.serialize(.object(members.filter { $0.0 != "mac" }))
        if let rootKey, !Sodium.constantTimeEqual(Self.mac(body, rootKey: rootKey), mac) {
            throw VaultError.tampered("the service registry's MAC does not verify under the store root key: it was edited or comes from another store")
        }
        guard value["storeId"]?.stringValue == storeId else { throw VaultError.tampered("the service registry belongs to another store") }
        var registry = ServiceRegistry(storeId: storeId)
        for s in value["services"]?.arrayValue ?? [] {
            guard let id = s["serviceId"]?.stringValue.flatMap({ [UInt8](hex: $0) }), id.count == 16,
                  let name = s["name"]?.stringValue,
                  let key = s["signPublicKey"]?.stringValue.flatMap({ [UInt8](hex: $0) }), key.count == 32,
                  let createdAt = s["createdAt"]?.stringValue, let revoked = s["revoked"]?.boolValue,
                  let hash = s["keyHash"]?.stringValue.flatMap({ [UInt8](hex: $0) }), hash.count == 32
            else { throw VaultError.corrupted("a service registry entry is malformed") }
            registry.services.append(Entry(id: id, name: name, signPublicKey: key, createdAt: createdAt, revoked: revoked,
                                           revokedAt: s["revokedAt"]?.stringValue, keyHash: hash))
        }
        return registry
    }

    /// A registry from a backup, MACed anew under the restored store's root key.
    static func reanchor(_ bytes: [UInt8], storeId: String, rootKey: StoreRootKey) throws -> [UInt8] {
        try parse(bytes, storeId: storeId, rootKey: nil).serialize(rootKey: rootKey)
    }

    /// The entry of `id`, if any.
    package func entry(_ id: [UInt8]) -> Entry? { services.first { $0.id == id } }
}

extension Store {
    var serviceRegistryPath: String { "\(root)/\(ServiceRegistry.relativePath)" }

    /// The registry (empty when no service was ever registered).
    /// - Throws: `VaultError.tampered` (MAC), `.corrupted`, `.io`.
    package func serviceRegistry() throws -> ServiceRegistry {
        guard let bytes = try Posix.readFile(serviceRegistryPath) else { return ServiceRegistry(storeId: storeId) }
        return try ServiceRegistry.parse(bytes, storeId: storeId, rootKey: rootKey)
    }

    /// Changes the registry under its lock (read, change, MAC, replace atomically).
    private func updateServiceRegistry<R>(_ change: (inout ServiceRegistry) throws -> R) throws -> R {
        let folder = "\(root)/\(ServiceRegistry.folder)"
        try Posix.makeDirectories(folder)
        let lock = try PosixFile.open("\(folder)/.registry.lock", create: true)
        try lock.lock(exclusive: true, timeout: lockTimeout)
        defer { lock.unlock() }
        var registry = try serviceRegistry()
        let result = try change(&registry)
        try Posix.writeAtomically(serviceRegistryPath, try registry.serialize(rootKey: rootKey))
        return result
    }

    /// Registers a write-only service: its id, name, public key and API key hash (docs/OPERATIONS.md, "Service keys").
    /// - Throws: `VaultError.invalidInput` (name, key or hash length), `.alreadyExists` (the id is taken),
    ///   `.notPermitted` (`ServiceRegistry.maxServices` reached), `.busy`, `.tampered`, `.io`.
    package func registerService(id: [UInt8], name: String, signPublicKey: [UInt8], keyHash: [UInt8], actor: String) throws -> ServiceRegistry.Entry {
        let name = try HumanInput.name(name, what: "service name")
        let actor = try HumanInput.name(actor, what: "operator id")  // logged, and shown by `audit show`
        guard id.count == 16, signPublicKey.count == 32, keyHash.count == 32 else {
            throw VaultError.invalidInput("a service id is 16 bytes, its public key and key hash 32")
        }
        let entry = ServiceRegistry.Entry(id: id, name: name, signPublicKey: signPublicKey, createdAt: AuditLog.isoNow(),
                                          revoked: false, revokedAt: nil, keyHash: keyHash)
        try updateServiceRegistry { r in
            guard r.entry(id) == nil else { throw VaultError.alreadyExists("a service with that id is registered already") }
            guard r.services.count < ServiceRegistry.maxServices else {
                throw VaultError.notPermitted("the registry holds \(ServiceRegistry.maxServices) services, its limit")
            }
            r.services.append(entry)
        }
        try log("service-register", vaultId: nil, actor: actor, role: "operator", detail: "service \(id.hex)")
        return entry
    }

    /// Revokes a registered service: its API key is refused from the next request on. Idempotent.
    /// - Throws: `VaultError.notFound` (no such service), `.busy`, `.tampered`, `.io`.
    package func revokeService(id: [UInt8], actor: String) throws {
        let actor = try HumanInput.name(actor, what: "operator id")  // logged, and shown by `audit show`
        let changed: Bool = try updateServiceRegistry { r in
            guard let i = r.services.firstIndex(where: { $0.id == id }) else { throw VaultError.notFound("no such service") }
            guard !r.services[i].revoked else { return false }
            r.services[i].revoked = true
            r.services[i].revokedAt = AuditLog.isoNow()
            return true
        }
        if changed { try log("service-revoke", vaultId: nil, actor: actor, role: "operator", detail: "service \(id.hex)") }
    }
}
