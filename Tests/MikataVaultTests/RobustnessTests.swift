import Foundation
import MikataCrypto
import MikataFormat
@testable import MikataVault
import Testing

/// Damaged, truncated, spliced and rolled-back vault files, and what a revoked supporter can still do.
/// Each test names the failure class it expects (STYLE.md §6): corruption, tampering and a wrong password stay apart.
@Suite("Robustness of vault files")
struct RobustnessTests {
    /// What reading a damaged file may throw. A flipped bit in a password slot's salt or cost would give
    /// `authentication-failed`, which is acceptable; anything else (not-found, io, a crash) is not.
    static let acceptedReadFailures: Set<String> = ["corrupted", "tampered", "unsupported", "authentication-failed"]

    enum Region: String, CaseIterable {
        case preamble, headerA = "header A", headerB = "header B", records
    }

    static func region(of offset: Int, layout: RobustFile.Layout) -> Region {
        if offset < VaultFormat.preambleLength { return .preamble }
        if offset < VaultFormat.preambleLength + layout.headerCopyLength { return .headerA }
        if offset < layout.recordsOffset { return .headerB }
        return .records
    }

    // MARK: 1. one flipped bit at every offset

    @Test("a flipped bit anywhere is rejected with a precise class, or (one header copy) read unchanged; verify always fails")
    func corruptionMatrix() throws {
        let fx = try RobustFixture()
        let v = try fx.smallVault(email: "matrix@example.jp", supporterEmail: "matrix-nurse@example.jp")
        let original = try RobustFile.read(v.path)
        let layout = try RobustFile.layout(original)
        #expect(layout.frames.count == 4, "profile + 3 records")
        #expect(layout.frames.last?.upperBound == original.count)

        var readOutcomes: [String: Int] = [:]
        var verifyOutcomes: [String: Int] = [:]
        var violations: [String] = []
        let started = Date()
        // Bit 0 at every offset, bit 7 at every other offset as well (a subset keeps the run short).
        var flips = 0
        for mask: UInt8 in [0x01, 0x80] {
            for offset in original.indices where mask == 0x01 || offset % 2 == 1 {
                flips += 1
                var damaged = original
                damaged[offset] ^= mask
                try RobustFile.write(damaged, to: v.path)
                let region = Self.region(of: offset, layout: layout)
                do {
                    let vault = try fx.openUnlogged(v.id)
                    _ = try? vault.inspect()  // the password-less structural walk must not trap either
                    let session = try vault.unlock(password: RobustFixture.password())
                    let records = try vault.records(session)
                    guard records == v.records else {
                        violations.append("byte \(offset) ^ \(mask) (\(region.rawValue)): read returned altered records")
                        continue
                    }
                    readOutcomes["read unchanged", default: 0] += 1
                    // Only a damaged header copy may be tolerated: the other copy holds the same state.
                    if region != .headerA && region != .headerB {
                        violations.append("byte \(offset) ^ \(mask) (\(region.rawValue)): damage went unnoticed on read")
                    }
                    do {
                        _ = try vault.verify(session)
                        violations.append("byte \(offset) ^ \(mask) (\(region.rawValue)): verify accepted the damaged file")
                    } catch {
                        let c = robustClass(of: error)
                        verifyOutcomes[c, default: 0] += 1
                        if !["corrupted", "tampered", "unsupported"].contains(c) {
                            violations.append("byte \(offset) ^ \(mask) (\(region.rawValue)): verify threw \(c)")
                        }
                    }
                } catch {
                    let c = robustClass(of: error)
                    readOutcomes[c, default: 0] += 1
                    verifyOutcomes["rejected on read", default: 0] += 1
                    if !Self.acceptedReadFailures.contains(c) {
                        violations.append("byte \(offset) ^ \(mask) (\(region.rawValue)): read threw \(c)")
                    }
                    // One damaged copy of two is tolerated by design: a header flip must not make the vault unreadable.
                    if region == .headerA || region == .headerB {
                        violations.append("byte \(offset) ^ \(mask) (\(region.rawValue)): the intact other copy was not used (\(c))")
                    }
                }
            }
        }
        try RobustFile.write(original, to: v.path)
        #expect(try fx.readRecords(v.id) == v.records, "the restored file reads again")

        let elapsed = Date().timeIntervalSince(started)
        func list(_ d: [String: Int]) -> String { d.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ") }
        print("""
            corruption matrix: \(original.count) bytes, \(flips) damaged files (bit 0 everywhere, bit 7 at odd offsets) \
            (preamble \(VaultFormat.preambleLength), header area \(layout.headerArea.count), records \(original.count - layout.recordsOffset)); \
            read: \(list(readOutcomes)); verify: \(list(verifyOutcomes)); \(violations.count) violations; \(String(format: "%.1f", elapsed)) s
            """)
        for violation in violations.prefix(20) { Issue.record(Comment(rawValue: violation)) }
        #expect(violations.isEmpty, "\(violations.count) violations")
    }

    // MARK: 1b. edits that keep the checksums valid

    @Test("edits with recomputed checksums: a signed key state or a record header is still rejected, never a crash")
    func checksumFixedEdits() throws {
        let fx = try RobustFixture()
        let v = try fx.smallVault(email: "fixed@example.jp", supporterEmail: "fixed-nurse@example.jp")
        let original = try RobustFile.read(v.path)
        let layout = try RobustFile.layout(original)
        let copyLength = layout.headerCopyLength
        var outcomes: [String: Int] = [:]
        var violations: [String] = []

        // Both header copies edited identically, each checksum recomputed: only the signature (and the structure
        // checks before it) stand between an editor of the disk and a key state of their choosing.
        for offset in 0..<(copyLength - 32) {
            var damaged = original
            for copy in 0..<2 {
                let start = VaultFormat.preambleLength + copy * copyLength
                damaged[start + offset] ^= 0x01
                let sum = Blake2b.hash(Array(damaged[start..<(start + copyLength - 32)]), outputLength: 32)
                damaged.replaceSubrange((start + copyLength - 32)..<(start + copyLength), with: sum)
            }
            try RobustFile.write(damaged, to: v.path)
            let (records, failure) = robustOutcome { try fx.readRecords(v.id) }
            outcomes["key state: \(failure ?? "read")", default: 0] += 1
            if records != nil || !["corrupted", "tampered", "unsupported"].contains(failure ?? "") {
                violations.append("header byte \(offset) in both copies: \(failure ?? "read \(records?.count ?? 0) records")")
            }
        }

        // Each record's fixed header edited with its header check recomputed. A frameLength pointing past the end of
        // the file reads as an interrupted append (FORMAT.md §5.2), so a prefix is acceptable there, and only there.
        for (index, frame) in layout.frames.enumerated() {
            for offset in 0..<RecordFrame.fixedHeaderLength {
                for mask: UInt8 in [0x01, 0x80] {
                    var damaged = original
                    damaged[frame.lowerBound + offset] ^= mask
                    let check = Blake2b.hash(Array(damaged[frame.lowerBound..<(frame.lowerBound + RecordFrame.fixedHeaderLength)]), outputLength: 16)
                    damaged.replaceSubrange((frame.lowerBound + RecordFrame.fixedHeaderLength)..<(frame.lowerBound + RecordFrame.headerLength), with: check)
                    try RobustFile.write(damaged, to: v.path)
                    let (records, failure) = robustOutcome { try fx.readRecords(v.id) }
                    if let records {
                        let isPrefix = records.count >= 1 && records.count <= index && records == Array(v.records.prefix(records.count))
                        outcomes["record header: read as torn tail", default: 0] += 1
                        if !(isPrefix && (4..<8).contains(offset)) {
                            violations.append("frame \(index) byte \(offset) ^ \(mask): read \(records.count) records")
                        }
                    } else {
                        outcomes["record header: \(failure ?? "?")", default: 0] += 1
                        if !Self.acceptedReadFailures.contains(failure ?? "") || failure == "authentication-failed" {
                            violations.append("frame \(index) byte \(offset) ^ \(mask): \(failure ?? "?")")
                        }
                    }
                }
            }
        }
        try RobustFile.write(original, to: v.path)
        print("checksum-fixed edits: " + outcomes.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", "))
        for violation in violations.prefix(20) { Issue.record(Comment(rawValue: violation)) }
        #expect(violations.isEmpty)
    }

    // MARK: 2. truncation at every length

    @Test("a file cut at any length is rejected (corrupted/tampered) or reads as a prefix; the torn tail is cut on the next append")
    func truncationAtEveryLength() throws {
        let fx = try RobustFixture()
        let v = try fx.smallVault(email: "trunc@example.jp", supporterEmail: "trunc-nurse@example.jp")
        let original = try RobustFile.read(v.path)
        let layout = try RobustFile.layout(original)
        var outcomes: [String: Int] = [:]
        var violations: [String] = []
        for length in 0...original.count {
            try RobustFile.write(Array(original.prefix(length)), to: v.path)
            let (records, failure) = robustOutcome { try fx.readRecords(v.id) }
            // Exactly what to expect: the header's floor vouches for record 0, records 1-3 may vanish whole.
            let complete = layout.frames.filter { $0.upperBound <= length }.count
            let expected: String
            if length < layout.recordsOffset { expected = "corrupted" }
            else if complete < 1 { expected = "tampered" }
            else { expected = "prefix of \(complete)" }
            let got: String
            if let records {
                got = records == Array(v.records.prefix(records.count)) ? "prefix of \(records.count)" : "altered records"
            } else {
                got = failure ?? "?"
            }
            outcomes[got.hasPrefix("prefix") ? "prefix" : got, default: 0] += 1
            if got != expected { violations.append("length \(length): expected \(expected), got \(got)") }
        }
        print("truncation: \(original.count + 1) lengths: " + outcomes.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", "))
        for violation in violations.prefix(20) { Issue.record(Comment(rawValue: violation)) }
        #expect(violations.isEmpty)

        // A torn tail (an append cut short) is discarded by the next append, which then lands right after the last
        // complete frame. Every cut here also removes records the access log saw appended (a crash tears only an
        // unacknowledged append, which the log never saw): so the file reads, but verify names the cut.
        let cuts = [layout.frames[3].lowerBound + 1, layout.frames[3].lowerBound + 71, layout.frames[3].lowerBound + 72,
                    layout.frames[3].upperBound - 1, layout.frames[2].upperBound - 8, layout.frames[1].upperBound]
        for cut in cuts {
            try RobustFile.write(Array(original.prefix(cut)), to: v.path)
            let vault = try fx.store.openVault(id: v.id)
            let session = try vault.unlock(password: RobustFixture.password())
            let kept = layout.frames.filter { $0.upperBound <= cut }.count
            let seq = try vault.append(type: "after-cut", data: Array(#"{"cut":true}"#.utf8), session: session)
            #expect(seq == UInt64(kept), "cut at \(cut)")
            let records = try vault.records(session)
            #expect(Array(records.prefix(kept)) == Array(v.records.prefix(kept)))
            #expect(records.count == kept + 1 && records.last?.type == "after-cut")
            let verified = robustOutcome { try vault.verify(session) }
            #expect(verified.1 == "tampered", "cut at \(cut): the log's appends were cut, and verify must say so")
        }
    }

    // MARK: 3. frames spliced, duplicated, swapped or removed

    @Test("record frames from another vault, duplicated, swapped or removed are tampering")
    func splicedAndReorderedFrames() throws {
        let fx = try RobustFixture()
        let a = try fx.smallVault(email: "splice-a@example.jp", supporterEmail: "splice-a-nurse@example.jp")
        let b = try fx.smallVault(email: "splice-b@example.jp", supporterEmail: "splice-b-nurse@example.jp")
        let bytesA = try RobustFile.read(a.path), bytesB = try RobustFile.read(b.path)
        let la = try RobustFile.layout(bytesA), lb = try RobustFile.layout(bytesB)
        let head = bytesA[0..<la.recordsOffset]
        let framesA = la.frames.map { bytesA[$0] }
        let framesB = lb.frames.map { bytesB[$0] }

        var cases: [(String, [ArraySlice<UInt8>])] = []
        for i in framesA.indices {
            var f = framesA; f[i] = framesB[i]
            cases.append(("frame \(i) from another vault of the same store", f))
        }
        for i in framesA.indices {
            var f = framesA; f.insert(framesA[i], at: i + 1)
            cases.append(("frame \(i) duplicated", f))
        }
        for i in 0..<(framesA.count - 1) {
            var f = framesA; f.swapAt(i, i + 1)
            cases.append(("frames \(i) and \(i + 1) swapped", f))
        }
        for i in 0..<(framesA.count - 1) {
            var f = framesA; f.remove(at: i)
            cases.append(("frame \(i) removed", f))
        }
        cases.append(("all records from another vault", framesB))
        for (name, frames) in cases {
            try RobustFile.write(RobustFile.assemble(head: head, frames: frames), to: a.path)
            let (records, failure) = robustOutcome { try fx.readRecords(a.id) }
            #expect(records == nil && failure == "tampered", "\(name): got \(failure ?? "\(records?.count ?? 0) records")")
        }

        // Another vault's header area, or its whole file, in this vault's place.
        var foreignHeader = bytesA
        foreignHeader.replaceSubrange(la.headerArea, with: bytesB[lb.headerArea])
        try RobustFile.write(foreignHeader, to: a.path)
        #expect(robustOutcome { try fx.readRecords(a.id) }.failure == "tampered", "another vault's header copies")
        try RobustFile.write(bytesB, to: a.path)
        let swapped = robustOutcome { try fx.readRecords(a.id) }.failure
        #expect(swapped == "tampered" || swapped == "corrupted", "another vault's whole file: \(swapped ?? "read")")

        try RobustFile.write(bytesA, to: a.path)
        #expect(try fx.readRecords(a.id) == a.records)
    }

    // MARK: 4. a header from an older copy of the file

    @Test("an older header pasted over the current one is a rollback: tampered", arguments: ["grant", "revoke", "password"])
    func olderHeaderIsRollback(change: String) throws {
        let fx = try RobustFixture()
        let v = try fx.smallVault(email: "rollback@example.jp", supporterEmail: "rollback-nurse@example.jp")
        let other = try fx.store.createSupporter(email: "rollback-other@example.jp", name: "Other", password: RobustFixture.password())
        let saved = try RobustFile.read(v.path)
        let vault = try fx.store.openVault(id: v.id)
        let owner = try vault.unlock(password: RobustFixture.password())
        switch change {
        case "grant": try vault.grant(other, session: owner)
        case "revoke": try vault.revoke(v.supporterId, session: owner)
        default: try vault.changePassword(to: RobustFixture.password("new"), kdf: .minimumForTesting, session: owner)
        }
        let password = change == "password" ? "new" : "pw"
        try vault.append(type: "after", data: Array("{}".utf8), session: owner)
        let current = try RobustFile.read(v.path)
        let layout = try RobustFile.layout(current)
        let expected = try fx.readRecords(v.id, password: password)

        // Both copies from before the change: validly signed, but older than the store's generation record.
        try RobustFile.write(try RobustFile.withHead(of: saved, onto: current), to: v.path)
        #expect(robustOutcome { try fx.store.openVault(id: v.id) }.failure == "tampered")
        // The whole file from before the change: the same.
        try RobustFile.write(saved, to: v.path)
        #expect(robustOutcome { try fx.store.openVault(id: v.id) }.failure == "tampered")

        // An interrupted commit (copy B new, copy A old) is not a rollback: the newer copy wins, verify accepts it
        // (both copies are valid) and inspect reports that the copies differ until the next write repairs them. (A commit that had to grow the header area is a rename instead: no torn state.)
        let savedLayout = try RobustFile.layout(saved)
        if savedLayout.headerCopyLength == layout.headerCopyLength {
            let copyA = VaultFormat.preambleLength..<(VaultFormat.preambleLength + layout.headerCopyLength)
            var torn = current
            torn.replaceSubrange(copyA, with: saved[copyA])
            try RobustFile.write(torn, to: v.path)
            #expect(try fx.readRecords(v.id, password: password) == expected)
            let reopened = try fx.store.openVault(id: v.id)
            let session = try reopened.unlock(password: RobustFixture.password(password))
            #expect(try reopened.verify(session).recordCount == expected.count)
            #expect(try reopened.inspect().headerCopiesAgree == false)
            // The next key change rewrites both copies.
            try reopened.changePassword(to: RobustFixture.password(password), kdf: .minimumForTesting, session: session)
            #expect(try reopened.verify(session).recordCount == expected.count)
            // And the pair from before that change is now refused as well.
            try RobustFile.write(try RobustFile.withHead(of: current, onto: try RobustFile.read(v.path)), to: v.path)
            #expect(robustOutcome { try fx.store.openVault(id: v.id) }.failure == "tampered")
        } else {
            #expect(change == "grant", "only a grant adds enough to outgrow 1 KiB copies")
        }
    }

    // MARK: 5. a revoked supporter who kept everything

    @Test("a revoked supporter with a saved copy of the whole store cannot read records written after revocation",
          arguments: [false, true])
    func revokedSupporterWithSavedStore(reencrypt: Bool) throws {
        let fx = try RobustFixture()
        let store = fx.store
        let pw = RobustFixture.password()
        let (vaultId, _) = try store.createPatient(email: "revoke@example.jp", nickname: "P", password: pw)
        let xKeys = try store.createSupporter(email: "revoked-nurse@example.jp", name: "X", password: pw)
        let yKeys = try store.createSupporter(email: "kept-nurse@example.jp", name: "Y", password: pw)
        let vault = try store.openVault(id: vaultId)
        let owner = try vault.unlock(password: pw)
        try vault.grant(xKeys, session: owner)
        try vault.grant(yKeys, session: owner)
        let x = try store.unlockSupporter(email: "revoked-nurse@example.jp", password: pw)
        let y = try store.unlockSupporter(email: "kept-nurse@example.jp", password: pw)
        // Each supporter works through their own Vault, as another process would, with a session from before.
        let xVault = try store.openVault(id: vaultId), xSession = try xVault.unlock(supporter: x)
        let yVault = try store.openVault(id: vaultId), ySession = try yVault.unlock(supporter: y)
        try vault.append(type: "dose", data: Array(#"{"n":1}"#.utf8), session: owner)
        try xVault.append(type: "message", data: Array(#"{"from":"x"}"#.utf8), session: xSession)
        try yVault.append(type: "message", data: Array(#"{"from":"y"}"#.utf8), session: ySession)
        let before = try vault.records(owner)

        // Everything the supporter could take before being revoked: the whole store directory.
        let savedDirectory = fx.directory + "-saved"
        try FileManager.default.copyItem(atPath: fx.directory, toPath: savedDirectory)
        defer { try? FileManager.default.removeItem(atPath: savedDirectory) }
        let savedVaultBytes = try RobustFile.read(store.vaultPath(vaultId))

        try vault.revoke(xKeys.id, reencrypt: reencrypt, session: owner)
        let secretMarker = "AfterRevocationSecret"
        try vault.append(type: "note", data: Array(#"{"text":"\#(secretMarker)"}"#.utf8), session: owner)
        try yVault.append(type: "message", data: Array(#"{"from":"y","after":true}"#.utf8), session: ySession)
        let after = try vault.records(owner)
        #expect(after.count == before.count + 2)
        #expect(Array(after.prefix(before.count)) == before, "revocation keeps every earlier record readable")

        // The supporter who stays reads old and new records without doing anything: neither the old session
        // (the header change is picked up) nor a new one needs a step.
        #expect(try yVault.records(ySession) == after)
        let yFresh = try store.openVault(id: vaultId)
        #expect(try yFresh.records(try yFresh.unlock(supporter: y)) == after)

        // The revoked supporter on the live store: their old session and a new unlock are refused.
        #expect(robustOutcome { try xVault.records(xSession) }.failure == "not-permitted")
        #expect(robustOutcome { try xVault.append(type: "message", data: Array("{}".utf8), session: xSession) }.failure == "not-permitted")
        #expect(robustOutcome { try store.openVault(id: vaultId).unlock(supporter: x) }.failure == "not-permitted")

        // Their saved copy still reads what was written before the revocation.
        let savedStore = try Store.open(at: savedDirectory)
        let xSaved = try savedStore.unlockSupporter(email: "revoked-nurse@example.jp", password: pw)
        let savedVault = try savedStore.openVault(id: vaultId)
        #expect(try savedVault.records(try savedVault.unlock(supporter: xSaved)) == before)

        // The current file dropped into the saved store (whose generation record is older, so it opens).
        let current = try RobustFile.read(store.vaultPath(vaultId))
        let savedPath = savedStore.vaultPath(vaultId)
        try RobustFile.write(current, to: savedPath)
        let inSaved = robustOutcome { () throws -> [Record] in
            let v = try savedStore.openVault(id: vaultId)
            return try v.records(try v.unlock(supporter: xSaved))
        }
        #expect(inSaved.value == nil)
        #expect(inSaved.failure == "not-permitted" || inSaved.failure == "authentication-failed", "\(inSaved.failure ?? "read")")

        // The current file with the saved header pasted in: the saved store's generation record does not catch this
        // rollback, so the supporter's old key share opens the header, but records under the new epoch stay shut.
        let layout = try RobustFile.layout(current)
        try RobustFile.write(try RobustFile.withHead(of: savedVaultBytes, onto: current), to: savedPath)
        let rolledBack = robustOutcome { () throws -> [Record] in
            let v = try savedStore.openVault(id: vaultId)
            return try v.records(try v.unlock(supporter: xSaved))
        }
        #expect(rolledBack.value == nil, "records written after revocation were readable with a rolled-back header")
        #expect(["tampered", "not-permitted"].contains(rolledBack.failure ?? ""), "\(rolledBack.failure ?? "read")")

        // Raw keys: the supporter's old epoch key (from their saved key share) and the store's erasure secret open no
        // frame under the new epoch, whichever epoch number they derive with; no current key share opens with their key.
        let savedState = try KeyState.parse(try HeaderCopy.parse(try RobustFile.headerCopyA(savedVaultBytes)).body)
        let currentState = try KeyState.parse(try HeaderCopy.parse(try RobustFile.headerCopyA(current)).body)
        let slot = try #require(savedState.supporterSlots.first { $0.supporterId == x.id })
        let oldEpochKey = try SealedBox.open(slot.sealedEpochKey, keyPair: x.box)
        let erasure = try ErasureSecretFile.parse(try RobustFile.read(savedStore.erasureSecretPath(vaultId))).secret
        let newEpoch = currentState.currentEpoch.epoch
        #expect(newEpoch > slot.epoch)
        for s in currentState.supporterSlots {
            #expect(throws: (any Error).self) { try SealedBox.open(s.sealedEpochKey, keyPair: x.box) }
        }
        var newFrames = 0
        for range in layout.frames {
            guard case .frame(let frame, _) = try RecordFrame.scan(Array(current[range]), at: 0), frame.epoch == newEpoch else { continue }
            newFrames += 1
            let ad = RecordFrame.associatedData(vaultId: vaultId, fixedHeader: frame.fixedHeader, sealedRecordKey: frame.sealedRecordKey)
            for epoch in Set([slot.epoch, newEpoch]) {
                let keys = EpochKeys.derive(vaultId: vaultId, epoch: epoch, epochKey: oldEpochKey, erasureSecret: erasure)
                #expect(throws: (any Error).self) { try XChaCha20Poly1305.open(frame.ciphertext, key: keys.recordKey, nonce: frame.nonce, ad: ad) }
            }
        }
        #expect(newFrames == (reencrypt ? after.count : 2), "frames under the new epoch")
    }

    // MARK: 6. canaries

    @Test("no e-mail, nickname, name or record content appears in any file of the store, nor in error messages")
    func canariesNeverReachTheDisk() throws {
        let fx = try RobustFixture()
        let store = fx.store
        let pw = RobustFixture.password()
        let patientEmail = "canary-mail-7c1e@example.jp"
        let supporterEmail = "Canary-Nurse-55ab@Example.JP"  // mixed case: the lookup normalises it
        let (vaultId, _) = try store.createPatient(email: patientEmail, nickname: "CanaryNick9f2", password: pw)
        let keys = try store.createSupporter(email: supporterEmail, name: "CanaryName31d", password: pw)
        let vault = try store.openVault(email: patientEmail)
        let owner = try vault.unlock(password: pw)
        try vault.grant(keys, session: owner)
        try store.recordLink(supporterId: keys.id, vaultId: vaultId)
        try vault.append(type: "note", data: Array(#"{"text":"CanaryRecord0e4 by the patient"}"#.utf8), session: owner)
        let nurse = try store.unlockSupporter(email: "canary-nurse-55ab@example.jp", password: pw)
        try vault.append(type: "message", data: Array(#"{"text":"CanaryRecord0e4 from the nurse"}"#.utf8), session: try vault.unlock(supporter: nurse))
        let midway = try fx.storeContents()
        try vault.revoke(keys.id, reencrypt: true, session: owner)
        try store.removeLink(supporterId: keys.id, vaultId: vaultId)
        try vault.append(type: "note", data: Array(#"{"text":"CanaryRecord0e4 after"}"#.utf8), session: owner)
        // The canaries are in the vault (so the scan below would see them if they were stored in clear).
        #expect(try vault.records(owner).filter { String(decoding: $0.data, as: UTF8.self).contains("CanaryRecord0e4") }.count == 3)
        #expect(nurse.name == "CanaryName31d")

        // Error messages of failed look-ups and duplicates do not repeat the address.
        var messages: [String] = []
        for body: () throws -> Void in [
            { _ = try store.openVault(email: "canary-mail-7c1e@example.jp.invalid") },
            { _ = try store.createPatient(email: patientEmail, nickname: "CanaryNick9f2", password: pw) },
            { _ = try store.createSupporter(email: supporterEmail, name: "CanaryName31d", password: pw) },
            { _ = try store.unlockSupporter(email: supporterEmail, password: RobustFixture.password("wrong")) },
            { _ = try store.openVault(email: patientEmail).unlock(password: RobustFixture.password("wrong")) },
            { _ = try store.supporterPublicKeys(email: "canary-mail-7c1e@") },
        ] {
            do { try body(); Issue.record("expected a failure") } catch { messages.append("\(error)") }
        }

        let canaries = Self.canaryStrings(emails: [patientEmail, supporterEmail], others: ["CanaryNick9f2", "CanaryName31d", "CanaryRecord0e4"])
        var files = 0
        for (path, bytes) in midway + (try fx.storeContents()) {
            files += 1
            for c in canaries {
                #expect(!path.contains(c), "\(path) names \(c)")
                #expect(!robustContains(bytes, Array(c.utf8)), "\(path) holds \(c)")
            }
        }
        for m in messages { for c in canaries { #expect(!m.contains(c), "error message repeats \(c): \(m)") } }
        #expect(files > 10)
    }

    /// Each canary as given, lower- and upper-cased, and for e-mails also their local part.
    static func canaryStrings(emails: [String], others: [String]) -> [String] {
        var out: Set<String> = []
        for e in emails {
            for form in [e, e.lowercased(), e.uppercased()] {
                out.insert(form)
                out.insert(String(form.split(separator: "@")[0]))
            }
        }
        for o in others { out.insert(o); out.insert(o.lowercased()) }
        return out.sorted()
    }

    // MARK: 6b. appends racing a whole-file rewrite

    @Test("appends by another Vault racing revoke --reencrypt are never lost", arguments: ["supporter", "service"])
    func appendsRacingReencryption(revoked: String) throws {
        let fx = try RobustFixture()
        let store = fx.store
        let (vaultId, _) = try store.createPatient(email: "race@example.jp", nickname: "Race", password: RobustFixture.password())
        let nurse = try store.createSupporter(email: "race-nurse@example.jp", name: "Nurse", password: RobustFixture.password())
        let vault = try store.openVault(id: vaultId)
        let owner = try vault.unlock(password: RobustFixture.password())
        try vault.grant(nurse, session: owner)
        let service = ServiceIdentity.generate()
        try vault.authorize(service: service.id, signPublicKey: service.signPublicKey, session: owner)
        // Bulk, so that re-encryption takes a while.
        let blob = Array(("{\"blob\":\"" + String(repeating: "x", count: 1 << 20) + "\"}").utf8)
        for _ in 0..<4 { try vault.append(type: "blob", data: blob, session: owner) }
        let lengthBefore = try RobustFile.layout(try RobustFile.read(store.vaultPath(vaultId))).headerCopyLength

        // Another "process": its own Store and Vault (own descriptors, so flock applies between them), appending
        // as the patient in a loop.
        let log = RobustAppendLog()
        let group = DispatchGroup()
        let directory = fx.directory
        DispatchQueue.global().async(group: group) {
            do {
                let other = try Store.open(at: directory)
                let v = try other.openVault(id: vaultId)
                let session = try v.unlock(password: RobustFixture.password())
                var n = 0
                while !log.isStopped {
                    n += 1
                    do { log.add(marker: n, seq: try v.append(type: "race", data: Array("{\"n\":\(n)}".utf8), session: session)) }
                    catch { log.fail("append \(n): \(robustClass(of: error))") }
                    usleep(500)
                }
            } catch { log.fail("setup: \(robustClass(of: error))") }
        }
        let deadline = Date().addingTimeInterval(10)
        while log.appended.count < 3 && log.failures.isEmpty && Date() < deadline { usleep(1000) }
        try vault.revoke(revoked == "supporter" ? nurse.id : service.id, reencrypt: true, session: owner)
        usleep(100_000)
        log.stop()
        group.wait()

        let records = try vault.records(owner)
        let present = Set(records.filter { $0.type == "race" }.map { String(decoding: $0.data, as: UTF8.self) })
        let lost = log.appended.filter { !present.contains("{\"n\":\($0.marker)}") }
        let lengthAfter = try RobustFile.layout(try RobustFile.read(store.vaultPath(vaultId))).headerCopyLength
        print("race with revoke --reencrypt of a \(revoked): \(log.appended.count) appends reported, \(lost.count) lost; header copies \(lengthBefore) -> \(lengthAfter) bytes")
        #expect(log.failures.isEmpty, "\(log.failures.prefix(5))")
        #expect(log.appended.count >= 3)
        #expect(lost.isEmpty, "lost appends: \(lost.map { $0.marker })")
        #expect(Set(log.appended.map { $0.seq }).count == log.appended.count, "a sequence number was reported twice")
        // Revocation with re-encryption is one rewrite that keeps only the new epoch: the header never has to grow.
        #expect(lengthAfter == lengthBefore)
        #expect(try vault.verify(owner).recordCount == records.count)
    }

    // MARK: 6c. an interrupted `init`

    @Test("Store.initialize re-runs after a crash between the lookup key and the store description")
    func initializeAfterInterruptedInit() throws {
        let fx = try RobustFixture()
        // What a crash after `keys/lookup.key` but before `mikata-store.json` leaves: the comment in initialize says
        // "a crash mid-init is simply re-run".
        // Since root keys the description is written before the signing key and the log, so that is all there is.
        try FileManager.default.removeItem(atPath: fx.directory)
        for dir in ["", "/keys", "/keys/vaults", "/vaults", "/supporters", "/index", "/links"] { try Posix.makeDirectories(fx.directory + dir) }
        try Posix.writeNew(fx.directory + "/keys/lookup.key", StoreSecretFile(.lookupKey, secret: SecureBytes.random(count: 32)).serialize())
        #expect(!Posix.exists(fx.directory + "/" + Store.metadataFile) && Posix.exists(fx.directory + "/keys/lookup.key"))
        do {
            let (store, created) = try Store.initialize(at: fx.directory)
            #expect(created)
            #expect(Posix.exists(store.root + "/" + Store.metadataFile))
        }
    }

    // MARK: 7. stale temporaries

    @Test("temporaries left by a killed writer are removed by the next open or write in their folder")
    func staleTemporariesAreRemoved() throws {
        let fx = try RobustFixture()
        let v = try fx.smallVault(email: "stale@example.jp", supporterEmail: "stale-nurse@example.jp")
        let store = fx.store
        // What a writer killed inside Posix.writeNew / writeAtomically leaves: an unlocked ".tmp-" file beside its
        // target. Beside the erasure secret, such a file holds a copy of the secret.
        let keyCopy = try RobustFile.read(store.erasureSecretPath(v.id))
        let vaultTemp = Posix.parent(of: v.path) + "/.tmp-00000000000000a1"
        let keyTemp = Posix.parent(of: store.erasureSecretPath(v.id)) + "/.tmp-00000000000000a2"
        let linkTemp = store.linkDirectory(v.supporterId) + "/.tmp-00000000000000a4"
        for path in [vaultTemp, keyTemp, linkTemp] { try RobustFile.write(keyCopy, to: path) }

        // Opening the vault sweeps its folder.
        let reopened = try Store.open(at: fx.directory)
        let vault = try reopened.openVault(id: v.id)
        let owner = try vault.unlock(password: RobustFixture.password())
        #expect(try vault.records(owner) == v.records)
        #expect(!Posix.exists(vaultTemp), "opening a vault removes stale temporaries beside it")
        // A key change writes the generation record (keys/vaults/xx); a grant records a link (links/<supporter>).
        try vault.changePassword(to: RobustFixture.password(), kdf: .minimumForTesting, session: owner)
        #expect(!Posix.exists(keyTemp), "the next write beside the erasure secret removes the stale copy")
        try reopened.recordLink(supporterId: v.supporterId, vaultId: v.id)
        #expect(!Posix.exists(linkTemp), "the next write in the link folder removes it")
    }

    @Test("a shred leaves no copy of the erasure secret in the store, not even a crashed writer's temporary")
    func shredLeavesNoSecretCopy() throws {
        let fx = try RobustFixture()
        let v = try fx.smallVault(email: "shred-stale@example.jp", supporterEmail: "shred-stale-nurse@example.jp")
        let store = fx.store
        let keyFile = try RobustFile.read(store.erasureSecretPath(v.id))
        let secret = try ErasureSecretFile.parse(keyFile).secret.unsafeCopyToArray()
        // createPatient's Posix.writeNew of the erasure secret, killed after its temporary was written and before
        // its unlink: the temporary is a complete copy of the secret file.
        let keyTemp = Posix.parent(of: store.erasureSecretPath(v.id)) + "/.tmp-00000000000000b1"
        try RobustFile.write(keyFile, to: keyTemp)

        _ = try store.shred(email: "shred-stale@example.jp",
                            request: ShredRequest(reason: "patient request", requestedBy: "Health centre", reference: "REF-1",
                                                  executedBy: "operator", approvedBy: nil))
        #expect(robustOutcome { try store.openVault(id: v.id) }.failure != nil, "the shredded vault does not open")
        let holders = try fx.storeContents().filter { robustContains($0.bytes, secret) }.map(\.path)
        do {
            #expect(holders.isEmpty, "files still holding the erasure secret: \(holders)")
        }
    }
}

/// What a concurrent appender managed to write, shared with the test's thread.
final class RobustAppendLog: @unchecked Sendable {
    // Every field is read and written under `lock` only.
    private let lock = NSLock()
    private var entries: [(marker: Int, seq: UInt64)] = []
    private var errors: [String] = []
    private var stopped = false

    func add(marker: Int, seq: UInt64) { lock.withLock { entries.append((marker, seq)) } }
    func fail(_ message: String) { lock.withLock { errors.append(message) } }
    func stop() { lock.withLock { stopped = true } }
    var isStopped: Bool { lock.withLock { stopped } }
    var appended: [(marker: Int, seq: UInt64)] { lock.withLock { entries } }
    var failures: [String] { lock.withLock { errors } }
}

/// Whether `needle` occurs in `haystack`.
func robustContains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
    guard !needle.isEmpty, haystack.count >= needle.count else { return needle.isEmpty }
    let first = needle[0]
    var i = 0
    while i <= haystack.count - needle.count {
        if haystack[i] == first && haystack[i..<(i + needle.count)].elementsEqual(needle) { return true }
        i += 1
    }
    return false
}
