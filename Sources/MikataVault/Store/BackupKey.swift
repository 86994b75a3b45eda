#if canImport(Glibc)
import Glibc
#endif
package import Foundation
package import MikataCrypto
import MikataFormat

/// A secret backup key file (FORMAT.md §7.9; docs/OPERATIONS.md, "Backup and restore"), kept offline:
///
///     mikata-backup-key-v1 <64 hex: X25519 secret key>
///     store-id <store id>
///     store-public-key <64 hex: the store's Ed25519 key, which every backup sealed to this key must be signed with>
///     valid-until <ISO 8601 UTC: the key's expiry; after it the secret half is destroyed>
///
/// Files made before pinning and expiry have the first line only and still read. A destroyed key keeps its file with
/// the secret overwritten in place by 64 `-`, so the tool can say what happened.
package struct BackupKey: Sendable {
    package let path: String
    package let keyPair: BoxKeyPair
    package let storeId: String?
    /// The store key the backups must be signed with (nil: a key file made before pinning).
    package let storePublicKey: [UInt8]?
    /// When the key expires (nil: a key file made before key periods; it never expires by itself).
    package let validUntil: Date?

    package var keyId: String { Store.keyId(keyPair.publicKey) }

    static let prefix = Array("mikata-backup-key-v1 ".utf8)
    static let destroyedMarker = [UInt8](repeating: UInt8(ascii: "-"), count: 64)

    static func serialize(secret: [UInt8], storeId: String, storePublicKey: [UInt8], validUntil: Date) -> [UInt8] {
        prefix + Array(secret.hex.utf8) + Array("\nstore-id \(storeId)\nstore-public-key \(storePublicKey.hex)\nvalid-until \(iso(validUntil))\n".utf8)
    }

    static func iso(_ d: Date) -> String { AuditLog.iso(millis: Int64((d.timeIntervalSince1970 * 1000).rounded())) }

    /// Reads a key file.
    /// - Throws: `VaultError.notFound` (no file), `.invalidInput` (not a key file), `.erased` (the key was destroyed).
    package static func read(path: String) throws -> BackupKey {
        guard var bytes = try Posix.readFile(path) else { throw VaultError.notFound("cannot read the backup key file") }
        defer { Sodium.wipe(&bytes) }
        guard bytes.count >= prefix.count + 64, Array(bytes[0..<prefix.count]) == prefix else {
            throw VaultError.invalidInput("that is not a MikataVault backup key file")
        }
        let secretRange = prefix.count..<(prefix.count + 64)
        if Array(bytes[secretRange]) == destroyedMarker {
            throw VaultError.erased("this backup key was destroyed at the end of its period: the backups sealed to it can no longer be restored")
        }
        guard var raw = [UInt8](hex: String(decoding: bytes[secretRange], as: UTF8.self)) else {
            throw VaultError.invalidInput("that is not a MikataVault backup key file")
        }
        let pair = try BoxKeyPair.fromSecretKey(SecureBytes(wiping: &raw))
        var storeId: String?, storePublicKey: [UInt8]?, validUntil: Date?
        for line in String(decoding: bytes[secretRange.upperBound...], as: UTF8.self).split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { continue }
            switch parts[0] {
            case "store-id": storeId = parts[1]
            case "store-public-key":
                guard let k = [UInt8](hex: parts[1]), k.count == 32 else { throw VaultError.invalidInput("the backup key file's store-public-key line is not a key") }
                storePublicKey = k
            case "valid-until":
                guard let d = AuditLog.parseTime(parts[1]) else { throw VaultError.invalidInput("the backup key file's valid-until line is not a time") }
                validUntil = d
            default: continue  // a later version's line: ignored
            }
        }
        return BackupKey(path: path, keyPair: pair, storeId: storeId, storePublicKey: storePublicKey, validUntil: validUntil)
    }

    /// Overwrites the secret half of a key file in place (synced), keeping the rest so the file says what it was.
    /// Returns the key's id, or nil if it was destroyed already. Offline copies are the operator's to destroy.
    @discardableResult
    package static func destroy(path: String) throws -> String? {
        let key: BackupKey
        do { key = try read(path: path) } catch VaultError.erased { return nil }
        let file = try PosixFile.open(path)
        try file.write(destroyedMarker, at: prefix.count)
        try file.syncData()
        return key.keyId
    }

    /// Refuses an expired key, destroying the secret half of this file first (the tool can only reach this copy).
    /// - Throws: `VaultError.erased` naming the expiry.
    func checkNotExpired(now: Date) throws {
        guard let validUntil, now >= validUntil else { return }
        let destroyed = (try? Self.destroy(path: path)) != nil
        throw VaultError.erased("backup key \(keyId) expired at \(Self.iso(validUntil))" + (destroyed ? "; its secret half in this file is now destroyed" : "")
                                + ": the backups sealed to it can no longer be restored (use a backup sealed to a newer key)")
    }
}

/// The public half of the store's current backup key (`keys/backup.pub`: the hex key, then `valid-until <time>`),
/// and the halves of earlier keys (`keys/backup-retired/<keyId>.pub`), kept for the certificates' expiry date.
struct BackupPublicKey {
    var key: [UInt8]
    var validUntil: Date?

    func serialize() -> [UInt8] {
        Array(key.hex.utf8) + [10] + (validUntil.map { Array("valid-until \(BackupKey.iso($0))\n".utf8) } ?? [])
    }

    static func parse(_ bytes: [UInt8]) -> BackupPublicKey? {
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        guard let first = lines.first, let key = [UInt8](hex: first), key.count == 32 else { return nil }
        let until = lines.dropFirst().first { $0.hasPrefix("valid-until ") }.flatMap { AuditLog.parseTime(String($0.dropFirst(12))) }
        return BackupPublicKey(key: key, validUntil: until)
    }

    static func current(_ store: Store) throws -> BackupPublicKey? {
        try Posix.readFile("\(store.root)/keys/backup.pub").flatMap(parse)
    }

    static func all(_ store: Store) throws -> [BackupPublicKey] {
        let retired = "\(store.root)/keys/backup-retired"
        return try ([try current(store)] + Posix.list(retired).filter { $0.hasSuffix(".pub") }.map {
            try Posix.readFile("\(retired)/\($0)").flatMap(parse)
        }).compactMap { $0 }
    }

    /// Until when a backup taken now could still be opened: the latest expiry of any backup key of the store; nil
    /// with a reason when that is not set by a key (no key at all, or a key made before key periods).
    static func backupsOpenUntil(_ store: Store) -> (date: Date?, basis: String) {
        guard let keys = try? all(store), !keys.isEmpty else { return (nil, "no-backup-key") }
        let dates = keys.compactMap(\.validUntil)
        guard dates.count == keys.count, let latest = dates.max() else { return (nil, "retention-policy") }
        return (latest, "backup-key-expiry")
    }
}

extension Backup {
    /// `mikata backup key destroy`: overwrites the key file's secret half; logged in `store` when it is reachable.
    /// Returns the key id, or nil if the file held a destroyed key already.
    package static func destroyKey(path: String, store: Store?) throws -> String? {
        let id = try BackupKey.destroy(path: path)
        if let id, let store { try store.log("backup-key-destroy", vaultId: nil, actor: "operator", role: "operator", detail: "key \(id)") }
        return id
    }
}
