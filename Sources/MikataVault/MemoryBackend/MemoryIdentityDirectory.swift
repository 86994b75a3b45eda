import Synchronization

/// The identity directory in memory, for fast tests.
final class MemoryIdentityDirectory: IdentityDirectory {
    private let entries = Mutex<[[UInt8]: [UInt8]]>([:])

    init() {}

    func entry(named name: [UInt8]) throws -> [UInt8]? { entries.withLock { $0[name] } }
    func contains(_ name: [UInt8]) -> Bool { entries.withLock { $0[name] != nil } }

    func create(named name: [UInt8], _ bytes: [UInt8]) throws {
        try entries.withLock { e in
            guard e[name] == nil else { throw VaultError.alreadyExists("an identity entry of that name exists already") }
            e[name] = bytes
        }
    }

    func remove(named name: [UInt8]) throws { entries.withLock { _ = $0.removeValue(forKey: name) } }
}
