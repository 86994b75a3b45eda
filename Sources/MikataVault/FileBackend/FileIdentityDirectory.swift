import MikataFormat

/// The identity directory as files under `<root>/index/` (Store.swift's layout).
struct FileIdentityDirectory: IdentityDirectory {
    let root: String

    func path(_ name: [UInt8]) -> String { "\(root)/index/\(Store.shard(name))/\(name.hex)" }

    func entry(named name: [UInt8]) throws -> [UInt8]? { try Posix.readFile(path(name)) }
    func contains(_ name: [UInt8]) -> Bool { Posix.exists(path(name)) }

    func create(named name: [UInt8], _ bytes: [UInt8]) throws {
        try Posix.makeDirectories(Posix.parent(of: path(name)))
        try Posix.writeNew(path(name), bytes)
    }

    func remove(named name: [UInt8]) throws {
        try Posix.remove(path(name))
        if Posix.isDirectory(Posix.parent(of: path(name))) { try Posix.syncDirectory(Posix.parent(of: path(name))) }
    }
}
