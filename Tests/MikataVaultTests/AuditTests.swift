import Foundation
import MikataCrypto
import MikataFormat
@testable import MikataVault
import Testing

/// A store with a history: create, unlock, read, append, grant, revoke, a failed unlock, more than
/// `AuditLog.checkpointInterval` appends, and a shred. Every personal value is a canary.
struct AuditHistory {
    static let email = "canary.hanako@example.jp"
    static let nickname = "NICKNAME-CANARY-8123"
    static let password = "PASSWORD-CANARY-913"
    static let record = "RECORD-CANARY-551"
    static let supporterEmail = "canary.helper@example.jp"
    static let supporterPassword = "SUPPORTER-PASSWORD-CANARY-77"
    static var canaries: [String] { [email, "canary.hanako", nickname, password, record, supporterEmail, supporterPassword, "Helper-Name-Canary"] }

    let scratch: Scratch
    let vaultId: [UInt8]
    let supporterId: [UInt8]
    /// Every store file's bytes just before the shred (the vault file is gone after it).
    let filesBeforeShred: [(path: String, bytes: [UInt8])]

    init(appends: Int = Int(AuditLog.checkpointInterval) + 6) throws {
        let s = try Scratch()
        _ = try s.store.createPatient(email: Self.email, nickname: Self.nickname, password: pw(Self.password))
        let vault = try s.store.openVault(email: Self.email)
        let session = try vault.unlock(password: pw(Self.password))
        try vault.append(type: "message", data: json(#"{"text":"\#(Self.record)"}"#), session: session)
        _ = try vault.records(session)
        let keys = try s.store.createSupporter(email: Self.supporterEmail, name: "Helper-Name-Canary", password: pw(Self.supporterPassword))
        try vault.grant(keys, session: session)
        try vault.revoke(keys.id, session: session)
        #expect(failureClass { _ = try vault.unlock(password: pw("wrong-\(Self.password)")) } == "authentication-failed")
        for i in 0..<appends { try vault.append(type: "dose", data: json("\(i)"), session: session) }
        filesBeforeShred = try s.store.allFiles().map { ($0, try ShredKit.read($0)) }
        _ = try s.store.shred(email: Self.email, request: ShredKit.request())
        scratch = s
        vaultId = vault.vaultId
        supporterId = keys.id
    }

    var logPath: String { "\(scratch.store.root)/audit/log.jsonl" }

    /// The log's lines (without their newlines).
    func lines() throws -> [[UInt8]] {
        try ShredKit.read(logPath).split(separator: 10, omittingEmptySubsequences: false).dropLast().map(Array.init)
    }

    /// Verifies `lines` written to a copy of the log, with this store's key.
    func verifyCopy(_ lines: [[UInt8]]) throws -> AuditLog.VerifyReport {
        let path = "\(scratch.dir)/audit-copy-\(UUID().uuidString).jsonl"
        try ShredKit.write(lines.flatMap { $0 + [10] }, to: path)
        defer { ShredKit.cleanup(path) }
        return try AuditLog(path: path, storeId: scratch.store.storeId, signing: try scratch.store.signingKey()).verify()
    }

    static func isEntry(_ line: [UInt8]) -> Bool { ShredKit.contains(line, Array(#""type":"entry""#.utf8)) }
    static func isCheckpoint(_ line: [UInt8]) -> Bool { ShredKit.contains(line, Array(#""type":"checkpoint""#.utf8)) }

    static func replacing(_ line: [UInt8], _ old: String, with new: String) -> [UInt8] {
        Array(String(decoding: line, as: UTF8.self).replacingOccurrences(of: old, with: new).utf8)
    }
}

/// The error's message, for asserting which line a verification names.
func auditFailure(_ body: () throws -> Void) -> (failureClass: String, message: String) {
    do { try body(); return ("ok", "") } catch let e as VaultError { return (e.failureClass, e.description) } catch { return ("other", "\(error)") }
}

@Suite("Access log")
struct AuditTests {
    @Test("a line rewritten to another spelling of the same value (members reordered, a space, an escape) is refused, though its hash holds")
    func nonCanonicalLineRefused() throws {
        let h = try AuditHistory()
        let lines = try h.lines()
        let i = try #require(lines.lastIndex(where: AuditHistory.isEntry))
        // The first member (`action`) moved to the end: the same object, so the same hash, in another order.
        let text = String(decoding: lines[i], as: UTF8.self)
        let cut = try #require(text.range(of: #"",""#))
        let first = text[text.index(after: text.startIndex)...text.index(before: cut.upperBound).self]
        let reordered = "{" + text[text.index(before: cut.upperBound)..<text.index(before: text.endIndex)] + "," + first.dropLast() + "}"
        for respelled in [Array(reordered.utf8), AuditHistory.replacing(lines[i], #"","#, with: #"", ""#),
                          AuditHistory.replacing(lines[i], #""type":"entry""#, with: #""type":"\u0065ntry""#)] {
            #expect(respelled != lines[i])
            var copy = lines
            copy[i] = respelled
            let outcome = auditFailure { _ = try h.verifyCopy(copy) }
            #expect(outcome.failureClass == "tampered" || outcome.failureClass == "corrupted", "\(outcome.message)")
        }
        #expect(auditFailure { _ = try h.verifyCopy(lines) }.failureClass == "ok")
    }

    @Test("one vault's entries, found by the line's last member without parsing the rest, are exactly the filtered log's")
    func entriesOfOneVault() throws {
        let h = try AuditHistory()
        let log = try h.scratch.store.auditLog()
        let second = try h.scratch.patient("second@example.jp", password: "pw2").0
        try second.append(type: "dose", data: json("1"), session: try second.unlock(password: pw("pw2")))
        let all = try log.entries()
        for id in [h.vaultId.hex, second.vaultId.hex, String(repeating: "0", count: 32)] {
            let mine = try log.entries(ofVault: id)
            #expect(mine.map(\.seq) == all.filter { $0.vault == id }.map(\.seq), "\(id)")
        }
        #expect(try log.entries(ofVault: h.vaultId.hex).count > Int(AuditLog.checkpointInterval))
        // A torn last line is left out, as `lines()` leaves it.
        var bytes = try ShredKit.read(h.logPath)
        let lastEntry = try #require(all.last { $0.vault == second.vaultId.hex })
        bytes += Array(String(decoding: CanonicalJSON.serialize(lastEntry.value(withHash: true)), as: UTF8.self).dropLast(1).utf8)
        #expect(try AuditLog.entries(ofVault: second.vaultId.hex, in: bytes).count == all.filter { $0.vault == second.vaultId.hex }.count)
    }

    @Test("the log's lines stream in chunks of any size as the whole file splits; pages of one vault's entries concatenate to all of them")
    func streamedPages() throws {
        let h = try AuditHistory()
        let log = try h.scratch.store.auditLog()
        var bytes = try ShredKit.read(h.logPath)
        // A torn last line (a write in progress): never delivered.
        bytes += Array(#"{"action":"read""#.utf8)
        try ShredKit.write(bytes, to: h.logPath)
        var whole: [ArraySlice<UInt8>] = []
        _ = try AccessLogLines.split(bytes[...]) { whole.append($0); return true }
        #expect(whole.count > 50)
        for size in [1, 7, 100, 4096, 1 << 20] {
            var lines: [ArraySlice<UInt8>] = []
            try FileAccessLogSink(path: h.logPath, chunkSize: size).forEachLine { lines.append($0); return true }
            #expect(lines.map(Array.init) == whole.map(Array.init), "chunks of \(size) B")
            var first: [ArraySlice<UInt8>] = []
            try FileAccessLogSink(path: h.logPath, chunkSize: size).forEachLine { first.append($0); return first.count < 3 }
            #expect(first.count == 3, "stops when asked")
        }
        let all = try log.entries(ofVault: h.vaultId.hex)
        for limit in [1, 3, 50, all.count, all.count + 1] {
            var pages: [AuditLog.Entry] = []
            var after: UInt64?
            while true {
                let page = try log.entries(ofVault: h.vaultId.hex, after: after, limit: limit)
                #expect(page.entries.count <= limit && !page.entries.isEmpty)
                pages += page.entries
                #expect(page.more == (pages.count < all.count), "more exactly when entries follow (limit \(limit))")
                guard page.more else { break }
                #expect(page.entries.count == limit, "a page with more after it is full")
                after = page.entries.last?.seq
            }
            #expect(pages.map(\.seq) == all.map(\.seq), "limit \(limit)")
        }
        // Newest first, through `before`: the same entries, reversed.
        for limit in [1, 3, 50, all.count, all.count + 1] {
            var pages: [AuditLog.Entry] = []
            var before: UInt64?
            while true {
                let page = try log.entries(ofVault: h.vaultId.hex, .before(before), limit: limit)
                #expect(page.entries.count <= limit && !page.entries.isEmpty)
                #expect(zip(page.entries, page.entries.dropFirst()).allSatisfy { $0.seq > $1.seq }, "newest first")
                pages += page.entries
                #expect(page.more == (pages.count < all.count), "more exactly when older entries remain (limit \(limit))")
                guard page.more else { break }
                before = page.entries.last?.seq
            }
            #expect(pages.map(\.seq) == all.reversed().map(\.seq), "newest first, limit \(limit)")
        }
        // The filter counts toward the page: only accepted entries fill it.
        let reads = try log.entries(ofVault: h.vaultId.hex, after: nil, limit: 1000) { $0.action == "read" }
        #expect(!reads.entries.isEmpty && reads.entries.allSatisfy { $0.action == "read" })
        #expect(reads.entries.map(\.seq) == all.filter { $0.action == "read" }.map(\.seq))
    }

    @Test("a history of operations is logged with actions and outcomes, verifies, and holds no personal data")
    func history() throws {
        let h = try AuditHistory()
        let log = try h.scratch.store.auditLog()
        let report = try log.verify()
        let entries = try log.entries()
        #expect(report.entries == entries.count && report.firstSeq == 0 && report.lastSeq == UInt64(entries.count - 1))
        #expect(report.checkpoints >= 1 && report.prunedBefore == nil)
        #expect(entries.map(\.seq) == (0..<UInt64(entries.count)).map { $0 })
        let id = h.vaultId.hex
        func has(_ action: String, _ outcome: String = "ok", vault: String? = nil, actor: String? = nil) -> Bool {
            entries.contains { $0.action == action && $0.outcome == outcome && (vault == nil || $0.vault == vault) && (actor == nil || $0.actor == actor) }
        }
        #expect(has("create-vault", vault: id, actor: "patient"))
        #expect(has("unlock", vault: id, actor: "patient"))
        #expect(has("read", vault: id))
        #expect(has("append", vault: id))
        #expect(has("create-supporter", actor: "supporter:\(h.supporterId.hex)"))
        #expect(has("grant", vault: id))
        #expect(has("revoke", vault: id))
        #expect(has("unlock", "denied", vault: id, actor: "patient"))
        #expect(entries.first { $0.outcome == "denied" }?.detail == "authentication-failed")
        #expect(has("shred", vault: id, actor: "operator:op-7"))
        #expect(entries.last?.action == "shred")
        #expect(entries.filter { $0.action == "append" }.count == Int(AuditLog.checkpointInterval) + 7)

        let logBytes = try ShredKit.read(h.logPath)
        for canary in AuditHistory.canaries {
            #expect(!ShredKit.containsText(logBytes, canary), "the access log contains \(canary)")
        }
        // Nor does any other file of the store, before or after the shred.
        for file in h.filesBeforeShred + (try h.scratch.store.allFiles().map { ($0, try ShredKit.read($0)) }) {
            for canary in AuditHistory.canaries {
                #expect(!ShredKit.containsText(file.1, canary), "\(file.0) contains \(canary)")
            }
        }
    }

    @Test("edited, dropped, swapped, duplicated entries and a forged checkpoint are each caught, naming the line")
    func tampering() throws {
        let h = try AuditHistory()
        let lines = try h.lines()
        #expect(try h.verifyCopy(lines).entries == lines.filter(AuditHistory.isEntry).count)
        let entryIndices = lines.indices.filter { AuditHistory.isEntry(lines[$0]) }
        let checkpointIndices = lines.indices.filter { AuditHistory.isCheckpoint(lines[$0]) }
        #expect(!checkpointIndices.isEmpty)
        // A middle entry that succeeded, followed by another entry.
        let mid = try #require(entryIndices.first { $0 >= lines.count / 2 && ShredKit.contains(lines[$0], Array(#""outcome":"ok""#.utf8))
            && AuditHistory.isEntry(lines[$0 + 1]) })

        var edited = lines
        edited[mid] = AuditHistory.replacing(lines[mid], #""outcome":"ok""#, with: #""outcome":"denied""#)
        var result = auditFailure { _ = try h.verifyCopy(edited) }
        #expect(result.failureClass == "tampered" && result.message.contains("line \(mid + 1)"), "\(result)")

        var dropped = lines
        dropped.remove(at: mid)
        result = auditFailure { _ = try h.verifyCopy(dropped) }
        #expect(result.failureClass == "tampered" && result.message.contains("line \(mid + 1)"), "\(result)")

        var swapped = lines
        swapped.swapAt(mid, mid + 1)
        result = auditFailure { _ = try h.verifyCopy(swapped) }
        #expect(result.failureClass == "tampered" && result.message.contains("line \(mid + 1)"), "\(result)")

        var duplicated = lines
        duplicated.insert(lines[mid], at: mid + 1)
        result = auditFailure { _ = try h.verifyCopy(duplicated) }
        #expect(result.failureClass == "tampered" && result.message.contains("line \(mid + 2)"), "\(result)")

        // The first entry dropped: the chain no longer starts at the genesis.
        result = auditFailure { _ = try h.verifyCopy(Array(lines.dropFirst())) }
        #expect(result.failureClass == "tampered" && result.message.contains("line 1"), "\(result)")

        // A checkpoint's signature, its head, and a line torn in the middle of the file.
        let cp = checkpointIndices[0]
        let cpValue = try CanonicalJSON.parse(lines[cp])
        let signature = try #require(cpValue["signature"]?.stringValue)
        let flipped = (signature.first == "0" ? "1" : "0") + signature.dropFirst()
        var forged = lines
        forged[cp] = AuditHistory.replacing(lines[cp], signature, with: flipped)
        result = auditFailure { _ = try h.verifyCopy(forged) }
        #expect(result.failureClass == "tampered" && result.message.contains("line \(cp + 1)"), "\(result)")

        let head = try #require(cpValue["head"]?.stringValue)
        var moved = lines
        moved[cp] = AuditHistory.replacing(lines[cp], head, with: (head.first == "0" ? "1" : "0") + head.dropFirst())
        #expect(auditFailure { _ = try h.verifyCopy(moved) }.failureClass == "tampered")

        // A genuine checkpoint moved to another place in the log no longer matches the head there.
        var misplaced = lines
        let cpLine = misplaced.remove(at: cp)
        misplaced.insert(cpLine, at: 3)
        result = auditFailure { _ = try h.verifyCopy(misplaced) }
        #expect(result.failureClass == "tampered" && result.message.contains("line 4"), "\(result)")

        var torn = lines
        torn[mid] = Array(lines[mid].prefix(lines[mid].count / 2))
        result = auditFailure { _ = try h.verifyCopy(torn) }
        #expect(result.failureClass == "corrupted" && result.message.contains("line \(mid + 1)"), "\(result)")

        // A checkpoint signed by another store's key.
        let other = try Scratch()
        let foreign = AuditLog(path: "\(other.dir)/foreign.jsonl", storeId: h.scratch.store.storeId, signing: try other.store.signingKey())
        var copy = lines
        try ShredKit.write(lines.flatMap { $0 + [10] }, to: foreign.path)
        try foreign.checkpoint()
        copy.append(try #require(try ShredKit.read(foreign.path).split(separator: 10).last.map(Array.init)))
        result = auditFailure { _ = try h.verifyCopy(copy) }
        #expect(result.failureClass == "tampered" && result.message.contains("line \(copy.count)"), "\(result)")
    }

    @Test("checkpoints: every checkpointInterval entries, and on demand; a torn last line is ignored and cut off by the next append")
    func checkpointsAndTornTail() throws {
        let s = try Scratch()
        let log = try s.store.auditLog()
        // Every store's log starts with its creation (store-init): that entry counts among the n.
        #expect(try log.entries().map(\.action) == ["store-init"])
        let n = Int(AuditLog.checkpointInterval) * 2 + 3
        for i in 1..<n { try s.store.log("test-\(i % 3)", vaultId: nil, actor: "operator", role: "operator") }
        var report = try log.verify()
        #expect(report.entries == n && report.checkpoints == 2)
        #expect(report.lastCheckpointSeq == AuditLog.checkpointInterval * 2 - 1)
        let line = try log.checkpoint()
        #expect(line.contains(#""type":"checkpoint""#))
        report = try log.verify()
        #expect(report.checkpoints == 3 && report.lastCheckpointSeq == UInt64(n - 1))

        // A crash mid-append leaves a torn line: verify ignores it, the next append cuts it off and chains on.
        let path = "\(s.store.root)/audit/log.jsonl"
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(#"{"type":"entry","seq":"#.utf8))
        try handle.close()
        #expect(try log.verify().entries == n)
        try s.store.log("after-crash", vaultId: nil, actor: "operator", role: "operator")
        report = try log.verify()
        #expect(report.entries == n + 1 && report.lastSeq == UInt64(n))
        #expect(try ShredKit.read(path).last == 10)
    }

    @Test("prune everything: a signed anchor starts the log, the prune is logged and checkpointed, and appends chain on")
    func pruneAll() throws {
        let h = try AuditHistory(appends: 3)
        let log = try h.scratch.store.auditLog()
        let before = try log.entries()
        #expect(failureClass { try log.prune(retentionDays: -1, actor: "operator:test") } == "invalid-input")
        // The 30-day floor, seen from 31 days on: every entry is older (shorter retentions need an override, AccessPolicyTests).
        let dropped = try log.prune(retentionDays: 30, actor: "operator:test", now: Date().addingTimeInterval(31 * 86400))
        #expect(dropped == before.count)
        let report = try log.verify()
        #expect(report.prunedBefore == UInt64(before.count))
        let after = try log.entries()
        #expect(after.count == 1)
        #expect(after.first?.action == "audit-prune" && after.first?.actor == "operator:test" && after.first?.seq == UInt64(before.count))
        #expect(after.first?.detail == "dropped \(before.count) entries older than 30 days")
        #expect(report.checkpoints == 1 && report.lastCheckpointSeq == UInt64(before.count))

        for i in 0..<3 { try h.scratch.store.log("after-prune-\(i)", vaultId: nil, actor: "operator", role: "operator") }
        let again = try log.verify()
        #expect(again.entries == 4 && again.lastSeq == UInt64(before.count + 3) && again.prunedBefore == UInt64(before.count))

        // The anchor is signed: moving it, or dropping it, is caught.
        let lines = try h.lines()
        let anchor = try CanonicalJSON.parse(lines[0])
        #expect(anchor["type"] == .string("anchor"))
        var moved = lines
        moved[0] = AuditHistory.replacing(lines[0], #""seq":\#(before.count)"#, with: #""seq":\#(before.count - 1)"#)
        #expect(auditFailure { _ = try h.verifyCopy(moved) }.failureClass == "tampered")
        #expect(auditFailure { _ = try h.verifyCopy(Array(lines.dropFirst())) }.failureClass == "tampered")
        // An anchor anywhere but the first line.
        var late = lines
        late.insert(lines[0], at: 2)
        #expect(auditFailure { _ = try h.verifyCopy(late) }.message.contains("line 3"))
    }

    @Test("prune with a retention that keeps the newer entries: they still verify, the older are gone, the prune is logged")
    func pruneSome() throws {
        let s = try Scratch()
        let log = try s.store.auditLog()
        // The store-init entry and four more: five old entries.
        for i in 0..<4 { try s.store.log("old-\(i)", vaultId: nil, actor: "operator", role: "operator") }
        Thread.sleep(forTimeInterval: 0.03)
        let cut = Date()
        Thread.sleep(forTimeInterval: 0.03)
        let (vault, _) = try s.patient()
        let session = try vault.unlock(password: pw("patient-pw"))
        for i in 0..<Int(AuditLog.checkpointInterval) { try vault.append(type: "dose", data: json("\(i)"), session: session) }
        let all = try log.entries()
        let kept = all.filter { (AuditLog.parseTime($0.time) ?? .distantPast) >= cut }
        #expect(all.count - kept.count == 5)

        // Retention 30 days, as seen 30 days after `cut`: everything before `cut` is older than that.
        let dropped = try log.prune(retentionDays: 30, actor: "operator:test", now: cut.addingTimeInterval(30 * 86400))
        #expect(dropped == 5)
        let report = try log.verify()
        #expect(report.prunedBefore == 5 && report.firstSeq == 5)
        let after = try log.entries()
        #expect(after.dropLast().map(\.hash) == kept.map(\.hash))
        #expect(!after.contains { $0.action.hasPrefix("old-") })
        #expect(after.last?.action == "audit-prune" && after.last?.outcome == "ok" && after.last?.detail.hasPrefix("dropped 5 entries") == true)
        // The checkpoint written after the kept entries survived the prune.
        #expect(report.checkpoints >= 2)
        // Nothing older than the retention: a second prune drops nothing, but is logged too.
        #expect(try log.prune(retentionDays: 30, actor: "operator:test", now: cut.addingTimeInterval(30 * 86400)) == 0)
        #expect(try log.entries().filter { $0.action == "audit-prune" }.count == 2)
        _ = try log.verify()
        try vault.append(type: "dose", data: json("999"), session: session)
        #expect(try log.verify().lastSeq == (try log.entries().last?.seq))
    }
}

/// The access log's timestamps (`Posix.isoTime`, written digit by digit) agree with Foundation's ISO 8601 formatter.
@Suite struct AccessLogTimeTests {
    @Test(arguments: [Int64(0), 1, 999, 1_000, 59_999, 951_782_400_000 /* 2000-02-29 */, 1_764_460_799_999, 1_798_761_599_123,
                      4_102_444_800_000 /* 2100-01-01 */, 253_402_300_799_999 /* 9999-12-31T23:59:59.999 */])
    func isoTimeMatchesFoundation(millis: Int64) {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        f.timeZone = TimeZone(identifier: "UTC")
        #expect(Posix.isoTime(millis: millis) == f.string(from: Date(timeIntervalSince1970: Double(millis) / 1000)))
        #expect(AuditLog.parseTime(Posix.isoTime(millis: millis)).map { Int64(($0.timeIntervalSince1970 * 1000).rounded()) } == millis)
    }
}
