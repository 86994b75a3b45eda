import Synchronization

/// A rollback anchor in memory, for fast tests.
final class MemoryAnchorRecord: AnchorRecord {
    private let bytes = Mutex<[UInt8]?>(nil)

    init() {}

    var name: String { "memory-anchor" }
    func read() throws -> [UInt8]? { bytes.withLock { $0 } }
    func replace(with new: [UInt8]) throws { bytes.withLock { $0 = new } }

    func create(_ new: [UInt8]) throws {
        try bytes.withLock { b in
            guard b == nil else { throw VaultError.alreadyExists("the vault's anchor exists already") }
            b = new
        }
    }
}
