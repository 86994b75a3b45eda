#if canImport(Glibc)
import Glibc
#endif
import Foundation
import MikataCrypto
import MikataFormat

/// The store's signed tombstone list (FORMAT.md §7.10, docs/SECURITY.md "Backups and restores"): every vault shredded, every
/// supporter deleted, every revocation (vault, party, the header generation it took effect at), and, in a store made
/// by a restore, the revocations the restore holds open until the patient's next write. RFC 8785 canonical JSON
/// signed with the store's Ed25519 key, whose seed is sealed under the root key: a person with the disk can delete
/// the list but not forge or shorten it. A rollback to an older signed copy is caught by the access log, which
/// records every event the list must hold (`check(against:)`); every backup carries the list forward.
struct TombstoneList: Equatable {
    struct Revocation: Hashable { var vault: String; var id: String; var generation: UInt64 }
    /// A revocation the backed-up header predates: `id` keeps its share in `vault`'s header up to generation
    /// `through`, and the store refuses it there until the patient's next write re-keys the vault.
    struct Hold: Hashable { var vault: String; var id: String; var through: UInt64 }

    static let relativePath = "tombstones/signed-list.json"
    static let type = "mikata-tombstone-list"
    static let label: StaticString = "mikata/v1/tombstone-list\0"
    /// Largest list read (10,000s of shreds fit many times over).
    static let maxBytes = 64 << 20

    var storeId: String
    var counter: UInt64 = 0
    var updatedAt = ""
    var vaults: Set<String> = []
    var supporters: Set<String> = []
    var revocations: Set<Revocation> = []
    var holds: Set<Hold> = []

    init(storeId: String) { self.storeId = storeId }

    mutating func merge(_ other: TombstoneList) {
        counter = max(counter, other.counter)
        vaults.formUnion(other.vaults); supporters.formUnion(other.supporters)
        revocations.formUnion(other.revocations); holds.formUnion(other.holds)
    }

    /// Whether every event of `other` is in this list.
    func contains(_ other: TombstoneList) -> String? {
        if let v = other.vaults.subtracting(vaults).min() { return "the shred of vault \(v)" }
        if let s = other.supporters.subtracting(supporters).min() { return "the deletion of supporter \(s)" }
        for r in other.revocations.sorted(by: { ($0.vault, $0.id) < ($1.vault, $1.id) })
        where !revocations.contains(where: { $0.vault == r.vault && $0.id == r.id && $0.generation >= r.generation }) {
            return "the revocation of \(r.id) from vault \(r.vault) at generation \(r.generation)"
        }
        if let h = other.holds.subtracting(holds).first { return "the restore's hold of \(h.id) out of vault \(h.vault)" }
        return nil
    }

    // MARK: bytes

    private func members() -> [(String, JSONValue)] {
        [("type", .string(Self.type)), ("version", .number(1)), ("storeId", .string(storeId)), ("counter", .number(Double(counter))),
         ("updatedAt", .string(updatedAt)),
         ("vaults", .array(vaults.sorted().map { .string($0) })),
         ("supporters", .array(supporters.sorted().map { .string($0) })),
         ("revocations", .array(revocations.sorted { ($0.vault, $0.id, $0.generation) < ($1.vault, $1.id, $1.generation) }.map {
             .object([("vaultId", .string($0.vault)), ("id", .string($0.id)), ("generation", .number(Double($0.generation)))])
         })),
         ("holds", .array(holds.sorted { ($0.vault, $0.id, $0.through) < ($1.vault, $1.id, $1.through) }.map {
             .object([("vaultId", .string($0.vault)), ("id", .string($0.id)), ("throughGeneration", .number(Double($0.through)))])
         }))]
    }

    private static func message(_ members: [(String, JSONValue)]) -> [UInt8] {
        var m = ByteWriter()
        m.write(label); m.write(CanonicalJSON.serialize(.object(members)))
        return m.bytes
    }

    func signed(with key: SigningKeyPair) -> [UInt8] {
        let m = members()
        let sig = key.sign(Self.message(m))
        return CanonicalJSON.serialize(.object(m + [("signature", .object([("algorithm", .string("Ed25519")), ("value", .string(sig.hex))]))]))
    }

    /// Parses a list and checks its signature against `publicKey` (the store's key, pinned by the caller).
    /// - Throws: `VaultError.corrupted` (not a list), `.unsupported` (another version), `.tampered` (signature).
    static func parse(_ bytes: [UInt8], publicKey: [UInt8]) throws -> TombstoneList {
        guard bytes.count <= maxBytes, let value = try? CanonicalJSON.parse(bytes), case .object(let members) = value,
              value["type"] == .string(type) else {
            throw VaultError.corrupted("the tombstone list is not a MikataVault tombstone list")
        }
        guard value["version"] == .number(1) else { throw VaultError.unsupported("a tombstone list of another version") }
        guard case .object(let s)? = value["signature"], s.count == 2, value["signature"]?["algorithm"] == .string("Ed25519"),
              case .string(let sigHex)? = value["signature"]?["value"], let sig = [UInt8](hex: sigHex), sig.count == 64,
              Ed25519.verify(signature: sig, message: message(members.filter { $0.0 != "signature" }), publicKey: publicKey)
        else { throw VaultError.tampered("the signed tombstone list does not verify with the store's key: it was altered, shortened or forged") }
        func ids(_ k: String) throws -> Set<String> {
            guard case .array(let a)? = value[k] else { throw VaultError.corrupted("the tombstone list has no \(k)") }
            return Set(try a.map { v -> String in
                guard case .string(let id) = v, id.count == 32, [UInt8](hex: id) != nil else { throw VaultError.corrupted("the tombstone list has a bad id") }
                return id
            })
        }
        func number(_ v: JSONValue?) throws -> UInt64 {
            guard case .number(let d)? = v, d >= 0, d < 9_007_199_254_740_992, d == d.rounded() else {
                throw VaultError.corrupted("the tombstone list has a bad number")
            }
            return UInt64(d)
        }
        func triples(_ k: String, _ n: String) throws -> [(String, String, UInt64)] {
            guard case .array(let a)? = value[k] else { throw VaultError.corrupted("the tombstone list has no \(k)") }
            return try a.map { v in
                guard case .string(let vault)? = v["vaultId"], case .string(let id)? = v["id"], vault.count == 32, id.count == 32 else {
                    throw VaultError.corrupted("the tombstone list has a bad \(k) entry")
                }
                return (vault, id, try number(v[n]))
            }
        }
        guard case .string(let storeId)? = value["storeId"] else { throw VaultError.corrupted("the tombstone list names no store") }
        var list = TombstoneList(storeId: storeId)
        list.counter = try number(value["counter"])
        list.updatedAt = value["updatedAt"]?.stringValue ?? ""
        list.vaults = try ids("vaults")
        list.supporters = try ids("supporters")
        list.revocations = Set(try triples("revocations", "generation").map { Revocation(vault: $0.0, id: $0.1, generation: $0.2) })
        list.holds = Set(try triples("holds", "throughGeneration").map { Hold(vault: $0.0, id: $0.1, through: $0.2) })
        return list
    }

    // MARK: what the access log says the list must hold

    /// The events of an access log the list records: shreds (and patients' own deletions), supporter deletions,
    /// revocations with the generation they reached, and restore holds. Entries pruned away are not seen.
    static func events(in entries: [AuditLog.Entry], storeId: String) -> TombstoneList {
        var list = TombstoneList(storeId: storeId)
        for e in entries where e.outcome == "ok" {
            let words = e.detail.split(separator: " ").map(String.init)
            let ids = words.filter { $0.count == 32 && [UInt8](hex: $0) != nil }
            func value(after key: String) -> UInt64? {
                guard let i = words.firstIndex(of: key), i + 1 < words.count else { return nil }
                return UInt64(words[i + 1])
            }
            switch e.action {
            case "shred" where !e.vault.isEmpty: list.vaults.insert(e.vault)
            case "delete-supporter" where e.actor.hasPrefix("supporter:"): list.supporters.insert(String(e.actor.dropFirst(10)))
            case "revoke" where !e.vault.isEmpty:
                if let g = value(after: "generation") { for id in ids { list.revocations.insert(Revocation(vault: e.vault, id: id, generation: g)) } }
            case "restore-hold" where !e.vault.isEmpty:
                if let g = value(after: "through") { for id in ids { list.holds.insert(Hold(vault: e.vault, id: id, through: g)) } }
            default: break
            }
        }
        return list
    }

    /// Reads a log file's entries without checking its chain (a tombstone source's log only adds tombstones).
    static func logEntries(atPath path: String) throws -> [AuditLog.Entry] {
        guard let bytes = try Posix.readFile(path) else { return [] }
        var out: [AuditLog.Entry] = []
        var start = 0
        for i in bytes.indices where bytes[i] == 10 {
            if case .entry(let e) = try AuditLog.parseLine(Array(bytes[start..<i]), number: out.count + 1) { out.append(e) }
            start = i + 1
        }
        return out
    }
}

extension [UInt8] {
    fileprivate func containsRun(_ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, count >= needle.count else { return false }
        return (0...(count - needle.count)).contains { self[$0..<($0 + needle.count)].elementsEqual(needle) }
    }
}

extension Store {
    var tombstoneListPath: String { "\(root)/\(TombstoneList.relativePath)" }

    /// The signed list as it is on disk (nil: none written yet), checked against the store's key.
    func signedTombstoneList() throws -> TombstoneList? {
        guard let bytes = try Posix.readFile(tombstoneListPath) else { return nil }
        let list = try TombstoneList.parse(bytes, publicKey: try signingKey().publicKey)
        guard list.storeId == storeId else { throw VaultError.tampered("the signed tombstone list belongs to another store") }
        return list
    }

    /// The list in force: the signed list and what the access log records; checked against the log first. The
    /// plain `tombstones/` files count only in a store that has no signed list yet (made before lists: its files
    /// are its only record of shreds the log no longer holds); once a list exists they are hints a disk writer could
    /// plant, and a backup that carried them would have every restore drop that vault.
    /// - Throws: `VaultError.tampered` when the signed list does not verify or lacks an event the log records.
    func tombstoneList() throws -> TombstoneList {
        let lines = try auditLog().lines()
        let entries = AuditLog.entries(of: lines)
        let signed = try signedTombstoneList()
        try checkTombstoneList(signed, entries: entries)
        var list = signed ?? TombstoneList(storeId: storeId)
        if signed == nil { addPlainTombstones(to: &list, unlessBackedBy: lines) }
        list.merge(TombstoneList.events(in: entries, storeId: storeId))
        return list
    }

    /// Compares the signed list with the access log: an event the log records and the list lacks means the list
    /// was rolled back to an older signed copy, or deleted. A store that never wrote a list (made before lists) passes.
    func checkTombstoneList(_ signed: TombstoneList?, entries: [AuditLog.Entry]? = nil) throws {
        let entries = try entries ?? auditLog().entries()
        guard let signed else {
            guard !entries.contains(where: { $0.action == "tombstone-list" }) else {
                throw VaultError.tampered("the signed tombstone list is missing but the access log records it: it was deleted")
            }
            return
        }
        if let missing = signed.contains(TombstoneList.events(in: entries, storeId: storeId)) {
            throw VaultError.tampered("the signed tombstone list lacks \(missing), which the access log records: it was rolled back or replaced")
        }
    }

    /// Adds to the signed list under its lock (read, change, counter + 1, sign, replace atomically). The log is not
    /// re-read here (a list re-signed on top of a rolled-back copy still lacks the logged event, which every check
    /// finds), except when a store writes its first list: it starts from what the store and its log know, and that
    /// start is logged (`tombstone-list`), so a later deletion of the list is detected.
    func updateTombstoneList(_ change: (inout TombstoneList) -> Void) throws {
        try Posix.makeDirectories(tombstoneDirectory)
        let lock = try PosixFile.open("\(tombstoneDirectory)/.list.lock", create: true)
        try lock.lock(exclusive: true, timeout: lockTimeout)
        defer { lock.unlock() }
        let existing = try signedTombstoneList()
        var list = existing ?? TombstoneList(storeId: storeId)
        if existing == nil {
            let lines = try auditLog().lines()
            let entries = AuditLog.entries(of: lines)
            try checkTombstoneList(nil, entries: entries)
            addPlainTombstones(to: &list, unlessBackedBy: lines)
            list.merge(TombstoneList.events(in: entries, storeId: storeId))
        }
        change(&list)
        list.counter += 1
        list.updatedAt = AuditLog.isoNow()
        try Posix.writeAtomically(tombstoneListPath, list.signed(with: try signingKey()))
        if existing == nil {
            try log("tombstone-list", vaultId: nil, actor: "operator", role: "operator", detail: "signed tombstone list started")
        }
    }

    /// Adds the plain `tombstones/` files to `list`, for a store with no signed list yet, when they count as a record
    /// of shreds and supporter deletions: only when the access log (`lines`) may lack some: it was pruned (it starts
    /// with an anchor line), or the store was made by a restore from before signed lists (a `backup-restore` entry and
    /// no `tombstone-list` one), whose tombstones were written as plain files. A log kept from the store's creation
    /// holds every deletion, and a plain file it does not back is a hint a disk writer planted: it never reaches a
    /// signed list or a backup.
    func addPlainTombstones(to list: inout TombstoneList, unlessBackedBy lines: [AuditLog.Line]) {
        var count = false
        if case .anchor? = lines.first { count = true } else {
            for case .entry(let e) in lines {
                if e.action == "tombstone-list" { count = false; break }
                if e.action == "backup-restore" { count = true }
            }
        }
        guard count else { return }
        list.vaults.formUnion(Posix.list(tombstoneDirectory).filter { $0.count == 32 && [UInt8](hex: $0) != nil })
        list.supporters.formUnion(supporterTombstones())
    }

    /// The holds the signed list records for one vault. Only a store made by a restore has any; a list without the
    /// `throughGeneration` member is not parsed (a removed hold breaks the signature, which `audit verify` reports).
    func holds(vault id: String) throws -> Set<TombstoneList.Hold> {
        guard let bytes = try Posix.readFile(tombstoneListPath), bytes.containsRun(Array("throughGeneration".utf8)) else { return [] }
        return try signedTombstoneList()?.holds.filter { $0.vault == id } ?? []
    }

    /// Connects a vault to the list: a revocation is recorded before its key change, and a party a restore holds
    /// out is refused and then re-keyed away at the patient's next write (docs/SECURITY.md, "Backups and restores").
    func installTombstoneHooks(on vault: Vault) {
        let id = vault.vaultId.hex
        vault.willRevoke = { [weak self] parties, generation in
            try self?.updateTombstoneList { list in
                for p in parties { list.revocations.insert(.init(vault: id, id: p.hex, generation: generation)) }
            }
        }
        var holds: Set<TombstoneList.Hold>?
        vault.isHeldOut = { [weak self] party, generation in
            guard let self else { return false }
            if holds == nil { holds = try self.holds(vault: id) }
            return holds!.contains { $0.id == party.hex && generation <= $0.through }
        }
    }
}
