/// A rollback anchor as a file of the key store (keys/vaults/<ab>/<id>.gen).
struct FileAnchorRecord: AnchorRecord {
    let path: String

    var name: String { path }
    func read() throws -> [UInt8]? { try Posix.readFile(path) }
    func replace(with bytes: [UInt8]) throws { try Posix.writeAtomically(path, bytes) }
    func create(_ bytes: [UInt8]) throws { try Posix.writeNew(path, bytes) }
}
