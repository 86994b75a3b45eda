/// One vault's rollback anchor as stored bytes (FORMAT.md §7.2): `VaultAnchor` builds and checks them (under the
/// store root key); the record only keeps them. The engine writes it after each key change's header copies, and
/// puts the old one back when the change is taken back.
///
/// Files: keys/vaults/<ab>/<id>.gen beside the erasure secret, replaced by rename. PostgreSQL: a row per vault
/// (vault id, generation, bytes) in the erasure secrets' database, updated in the key change's transaction with a
/// check that the generation only grows.
protocol AnchorRecord: Sendable {
    /// How messages name it.
    var name: String { get }
    /// The bytes, or nil if there are none (a shredded vault, or a removed anchor: tampering).
    func read() throws -> [UInt8]?
    /// Replaces the bytes at once and durably.
    func replace(with bytes: [UInt8]) throws
    /// Stores the first bytes (a new vault); fails if there are some.
    func create(_ bytes: [UInt8]) throws
}
