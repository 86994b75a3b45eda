import MikataFormat

/// What the access log says each vault must at least hold (docs/SECURITY.md, "Truncation and rollback"):
/// the last append it recorded (sequence number and the frame's chain link) and the highest header generation a
/// key change reached. A vault that holds less was cut off or rolled back, whatever its own files say; the log
/// itself is hash-chained and its checkpoints are signed with the store key, which is sealed under the root key.
struct LogClaims {
    struct Claim {
        var lastAppendSeq: UInt64?
        var lastAppendLink: String?
        /// The header generation the last append was made at: a later key change may have rewritten the file
        /// (revoke with re-encryption changes every link), so the link is compared only at the same generation.
        var lastAppendGeneration: UInt64?
        var generation: UInt64 = 0
        /// An append logged again at or below an earlier logged append's sequence number: records were cut off and
        /// the next write took their numbers (the cut is laundered if only the last append is compared).
        var reusedSeq: UInt64?
        var maxAppendSeq: UInt64?
        /// The sequence numbers the last `append-intent` announced (a batch of appends: `Vault.append(batch:)`) and
        /// the chain link of each of its frames, in order.
        var lastIntent: (range: ClosedRange<UInt64>, links: [String])?
    }

    private(set) var byVault: [String: Claim] = [:]

    /// Every vault (hex id) the log has a claim about.
    var vaultIds: [String] { byVault.filter { $0.value.lastAppendSeq != nil || $0.value.generation > 0 }.keys.sorted() }

    /// Whether the log knows the vault at all (its creation, a baseline, or any logged operation).
    func knows(_ vaultHex: String) -> Bool { byVault[vaultHex] != nil }

    init(_ entries: [AuditLog.Entry]) {
        for e in entries where e.outcome == "ok" && !e.vault.isEmpty {
            var c = byVault[e.vault] ?? Claim()
            let words = e.detail.split(separator: " ")
            func value(after key: String) -> Substring? {
                guard let i = words.firstIndex(of: Substring(key)), i + 1 < words.count else { return nil }
                return words[i + 1]
            }
            // A vault's creation logs its record 0 (the profile); a restore or an upgrade logs each vault's tail as
            // a new baseline (`anchor-vault`).
            if e.action == "create-vault" { c.lastAppendSeq = 0; c.maxAppendSeq = 0; c.lastIntent = nil }
            if e.action == "anchor-vault", let seq = value(after: "seq").flatMap({ UInt64($0) }) {
                c.lastAppendSeq = seq; c.maxAppendSeq = seq; c.lastIntent = nil
                c.lastAppendLink = value(after: "link").map(String.init)
                c.lastAppendGeneration = value(after: "at").flatMap { UInt64($0) }
            }
            if e.action == "append", let seq = value(after: "seq").flatMap({ UInt64($0) }) {
                if let m = c.maxAppendSeq, seq <= m, c.reusedSeq == nil { c.reusedSeq = seq }
                c.maxAppendSeq = max(c.maxAppendSeq ?? 0, seq)
                c.lastAppendSeq = seq
                c.lastAppendLink = value(after: "link").map(String.init)
                c.lastAppendGeneration = value(after: "at").flatMap { UInt64($0) }
            }
            if e.action == "append-intent" {
                // A malformed announcement announces nothing (and ends the one before it).
                c.lastIntent = nil
                if let from = value(after: "seq").flatMap({ UInt64($0) }), let to = value(after: "to").flatMap({ UInt64($0) }), from <= to,
                   to - from < UInt64(Vault.maxAppendBatch), let links = value(after: "links")?.split(separator: ",").map(String.init),
                   links.count == Int(to - from) + 1 {
                    c.lastIntent = (from...to, links)
                }
            }
            if let g = value(after: "generation").flatMap({ UInt64($0) }) { c.generation = max(c.generation, g) }
            if e.action == "shred" || e.action == "delete-vault" || e.action == "create-vault-undone" { c = Claim() }
            byVault[e.vault] = c
        }
    }

    /// Records a vault may hold beyond its last logged append: an append syncs its record before its log entry, so
    /// a process killed between the two leaves one record the log does not show (docs/SECURITY.md). A batch of
    /// appends announces its numbers and its frames' links first (`append-intent`): more records are tolerated when
    /// they lie in the last announced range, right after the last logged append, and the vault's last record is the
    /// frame the announcement named for its number.
    static let unloggedTailAllowance: UInt64 = 1

    /// Checks a vault's header generation and record tail against the log. With `logComplete`, also that the log
    /// shows the vault's appends up to its last record but `unloggedTailAllowance`, or the rest of the batch its
    /// last intent announced (dropped log entries otherwise).
    /// - Throws: `VaultError.tampered` naming what the log shows and the vault lacks, or the other way round.
    func check(vaultId: [UInt8], generation: UInt64, recordCount: UInt64, lastLink: [UInt8], logComplete: Bool = false) throws {
        guard let c = byVault[vaultId.hex] else { return }
        if let seq = c.reusedSeq {
            throw VaultError.tampered("the access log records the append of record \(seq) to vault \(vaultId.hex) twice: records were cut off and written again")
        }
        if generation < c.generation {
            throw VaultError.tampered("vault \(vaultId.hex) is at header generation \(generation) but the access log records a key change to generation \(c.generation): it was rolled back (a revocation may have been undone)")
        }
        if let seq = c.lastAppendSeq {
            guard recordCount > seq else {
                throw VaultError.tampered("vault \(vaultId.hex) ends at record \(Int64(recordCount) - 1) but the access log records the append of record \(seq): records were cut off")
            }
            // The link must be the announced one whatever happened since: a revocation with re-encryption after such
            // a crash rewrites the frames, and the vault is then named until its next logged append (docs/SECURITY.md).
            let announced = c.lastIntent.map { intent in
                intent.range.lowerBound <= seq + 1 && intent.range.contains(recordCount - 1)
                    && intent.links[Int(recordCount - 1 - intent.range.lowerBound)] == lastLink.hex
            } ?? false
            if logComplete, recordCount > seq + 1 + Self.unloggedTailAllowance, !announced {
                throw VaultError.tampered("vault \(vaultId.hex) holds records up to \(recordCount - 1) but the access log's last append for it is record \(seq): log entries were dropped")
            }
            if recordCount == seq + 1, c.lastAppendGeneration == generation, let link = c.lastAppendLink, link != lastLink.hex {
                throw VaultError.tampered("vault \(vaultId.hex): record \(seq) is not the one the access log recorded: records were replaced")
            }
        }
    }
}
