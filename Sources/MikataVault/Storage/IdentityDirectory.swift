/// The store's e-mail lookup (FORMAT.md §7.3): entries named by a keyed hash of a normalised address, each an
/// identity entry authenticated under the root key (the engine signs and checks them; the directory only keeps
/// bytes). The address itself is stored nowhere.
///
/// Files: `<root>/index/<shard>/<name hex>`, created with link(2) so a second creation fails, removed with unlink
/// and a folder fsync. PostgreSQL: a table (name PRIMARY KEY, entry bytea); create is an INSERT that fails on the
/// key, remove a DELETE.
protocol IdentityDirectory: Sendable {
    /// The entry's bytes, or nil if there is none.
    func entry(named name: [UInt8]) throws -> [UInt8]?
    /// Whether an entry of that name exists.
    func contains(_ name: [UInt8]) -> Bool
    /// Stores a new entry durably; `VaultError.alreadyExists` if the name is taken.
    func create(named name: [UInt8], _ bytes: [UInt8]) throws
    /// Removes an entry durably (nothing to do if there is none).
    func remove(named name: [UInt8]) throws
}
