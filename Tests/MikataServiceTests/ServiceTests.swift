import Foundation
import Testing
import MikataFormat
import MikataCrypto
@testable import MikataVault
@testable @_spi(Testing) import MikataService

/// A throwaway store with its root key in a folder of its own, opened through the public API only.
struct ServiceFixture {
    let root: String
    let service: VaultService
    let keys: RootKeyLocation

    static func make(_ configure: (inout VaultServiceConfiguration) -> Void = { _ in }) async throws -> ServiceFixture {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("mikata-service-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        chmod(base, 0o700)
        let keys = RootKeyLocation.directory("\(base)/root-keys")
        var c = VaultServiceConfiguration()
        c.passwordCost = .minimumForTesting
        c.threads = 16
        configure(&c)
        let (service, i) = try await VaultService.initialize(storePath: "\(base)/store", rootKey: keys, configuration: c)
        #expect(i.created)
        return ServiceFixture(root: base, service: service, keys: keys)
    }

    /// A second, independent handle on the same store (as another process would have).
    func reopen() async throws -> VaultService {
        var c = VaultServiceConfiguration()
        c.passwordCost = .minimumForTesting
        c.threads = 4
        return try await VaultService.open(storePath: "\(root)/store", rootKey: keys, configuration: c)
    }

    func tearDown() async {
        await service.shutdown()
        try? FileManager.default.removeItem(atPath: root)
    }
}

func pw(_ s: String) -> Secret { Secret(utf8: s) }
func json(_ s: String) -> [UInt8] { Array(s.utf8) }

func code(_ body: () async throws -> Void) async -> MikataError.Code? {
    do { try await body(); return nil } catch let e as MikataError { return e.code } catch { return nil }
}

@Suite struct ServiceTests {
    /// What a page read's scan says of record data, and the same answer for a record that was not scanned; equal
    /// records are equal whether scanned or not.
    @Test func dataScanClassifiesRecordData() {
        func record(_ text: String, scanned: Bool) -> VaultRecord {
            let data = Array(text.utf8)
            return VaultRecord(seq: 1, type: "t", author: .patient, timeMillis: 0, data: data, scan: scanned ? JSONDataScan.of(data) : nil)
        }
        let cases: [(String, plain: Bool, json: Bool, compact: Bool)] = [
            (#"{"a":1,"b":"x"}"#, true, true, true), (#"{"b":1,"a":2}"#, false, true, true), (#"[1.5, "\u00e9"]"#, false, true, false),
            (#"{"b":"x y","a":"日本"}"#, false, true, true), (" 1", false, true, false), ("1\n", false, true, false),
            (#"{"a":1,"a":2}"#, false, false, false), ("not json", false, false, false), (#"{"a":"#, false, false, false), ("", false, false, false),
        ]
        for (text, plain, json, compact) in cases {
            for scanned in [true, false] {
                let r = record(text, scanned: scanned)
                #expect(r.dataIsPlainJSON == plain && r.dataIsJSON == json && r.dataIsCompactJSON == compact, "\(text) scanned: \(scanned)")
                var out: [UInt8] = []
                r.appendCompactData(to: &out)
                if json { #expect(CanonicalJSON.strictScan(out) == (true, true), "\(text)") }
            }
            #expect(record(text, scanned: true) == record(text, scanned: false))
        }
        // DEL or C1 unescaped in a string, found by the same scan (the CLI escapes them in what it prints).
        for (text, controls) in [("\"\u{7F}\"", true), ("{\"\u{85}\":1}", true), (#""\u007f""#, false), ("\"\u{A0}\"", false), ("{\"a\":1}", false)] {
            #expect(record(text, scanned: true).dataHoldsDELOrC1 == controls && record(text, scanned: false).dataHoldsDELOrC1 == controls, "\(text)")
        }
    }

    /// A service remembers verified record signatures: a page read again is answered with the same records, its
    /// signatures from the cache; a service configured with none verifies every time.
    @Test func readsAgainUseTheVerifiedSignatureCache() async throws {
        for entries in [0, 1024] {
            let f = try await ServiceFixture.make { $0.verifiedSignatureCacheEntries = entries }
            defer { Task { await f.tearDown() } }
            let s = f.service
            _ = try await s.createPatient(email: "sig@example.jp", nickname: "sig", password: pw("pw"))
            let session = try await s.unlockPatient(email: "sig@example.jp", password: pw("pw"))
            for i in 0..<5 { _ = try await s.append(session, type: "dose", data: json("{\"n\":\(i)}")) }
            let first = try await s.records(session).records
            let again = try await s.records(session).records
            #expect(first.count == 5 && first == again)
            let stats = s.store.verifiedSignatures?.statistics
            if entries == 0 {
                #expect(stats == nil)
            } else {
                #expect((stats?.hits ?? 0) >= 5, "the second read's signatures came from the cache: \(String(describing: stats))")
            }
        }
    }

    @Test func patientLifecycleThroughThePublicAPI() async throws {
        let f = try await ServiceFixture.make()
        defer { Task { await f.tearDown() } }
        let s = f.service
        let created = try await s.createPatient(email: "Hana@Example.jp", nickname: "hana", password: pw("correct horse"))
        #expect(created.recoveryCode.count == 47)  // 40 characters in 8 groups of five
        let session = try await s.unlockPatient(email: "hana@example.jp", password: pw("correct horse"))
        #expect(session.vaultId == created.vaultId)
        for i in 0..<5 { _ = try await s.append(session, type: "dose", data: json("{\"n\":\(i)}")) }
        _ = try await s.append(session, type: "side-effect", data: json("{\"grade\":1,\"onset\":\"2026-11-01T09:00:00Z\",\"symptom\":\"nausea\"}\r\n"))
        let page = try await s.records(session, RecordQuery(limit: 100))
        #expect(page.records.map(\.type) == ["dose", "dose", "dose", "dose", "dose", "side-effect"])
        #expect(page.nextAfter == nil)
        #expect(page.records.last?.data == json("{\"grade\":1,\"onset\":\"2026-11-01T09:00:00Z\",\"symptom\":\"nausea\"}"))  // trimmed by the one rule for record data
        #expect(page.records.allSatisfy { $0.author == .patient })
        #expect(await code { _ = try await s.unlockPatient(email: "hana@example.jp", password: pw("wrong")) } == .authenticationFailed)
        #expect(await code { _ = try await s.unlockPatient(email: "nobody@example.jp", password: pw("wrong")) } == .authenticationFailed)
        #expect(await code { _ = try await s.append(session, type: "dose", data: json("{\"a\":1,\"a\":2}")) } == .invalidInput)
        let v = try await s.verify(session)
        #expect(v.recordCount == 7)  // the profile record and six appends
        session.close()
        #expect(await code { _ = try await s.records(session) } == .closed)
    }

    @Test func aRevokedSupportersRetriesDoNotEvictThePatientsKeptHandle() async throws {
        let f = try await ServiceFixture.make()
        defer { Task { await f.tearDown() } }
        let s = f.service
        _ = try await s.createPatient(email: "p@example.jp", nickname: "p", password: pw("pw"))
        _ = try await s.createSupporter(email: "n@example.jp", name: "Nurse", password: pw("npw"))
        let patient = try await s.unlockPatient(email: "p@example.jp", password: pw("pw"))
        _ = try await s.grant(patient, supporterEmail: "n@example.jp")
        let nurse = try await s.unlockSupporter(email: "n@example.jp", password: pw("npw"))
        _ = try await s.revoke(patient, supporterEmail: "n@example.jp")
        _ = try await s.records(patient)
        #expect(s.handles.count == 1)
        for _ in 0..<3 {
            #expect(await code { _ = try await s.records(nurse, of: .vault(patient.vaultId)) } == .notPermitted)
            #expect(await code { _ = try await s.append(nurse, to: .vault(patient.vaultId), type: "note", data: json("{}")) } == .notPermitted)
        }
        #expect(s.handles.count == 1, "refusals are the caller's failure: the patient's handle (and frame index) stays")
    }

    /// A supporter's stream by address reads the vault its first page resolved: when the address comes to lead to
    /// another vault the supporter is also linked to (the patient deleted theirs and the address was registered
    /// again), the stream fails instead of carrying on in the other vault from the first one's sequence numbers.
    @Test func aSupportersStreamByAddressStaysOnItsVault() async throws {
        let f = try await ServiceFixture.make()
        defer { Task { await f.tearDown() } }
        let s = f.service
        _ = try await s.createPatient(email: "p@example.jp", nickname: "p", password: pw("pw"))
        _ = try await s.createSupporter(email: "n@example.jp", name: "Nurse", password: pw("npw"))
        let first = try await s.unlockPatient(email: "p@example.jp", password: pw("pw"))
        for i in 0..<6 { _ = try await s.append(first, type: "note", data: json("{\"first\":\(i)}")) }
        _ = try await s.grant(first, supporterEmail: "n@example.jp")
        let nurse = try await s.unlockSupporter(email: "n@example.jp", password: pw("npw"))

        var stream = s.recordStream(nurse, of: .email("p@example.jp"), RecordQuery(limit: 2)).makeAsyncIterator()
        var read: [VaultRecord] = []
        for _ in 0..<2 { read.append(try #require(try await stream.next())) }  // the first page: both from the first vault
        _ = try await s.deletePatient(email: "p@example.jp", password: pw("pw"))
        _ = try await s.createPatient(email: "p@example.jp", nickname: "p2", password: pw("pw2"))
        let second = try await s.unlockPatient(email: "p@example.jp", password: pw("pw2"))
        for i in 0..<6 { _ = try await s.append(second, type: "note", data: json("{\"second\":\(i)}")) }
        _ = try await s.grant(second, supporterEmail: "n@example.jp")

        do {
            while let r = try await stream.next() { read.append(r) }
            Issue.record("the stream went on after its vault was deleted")
        } catch {}
        #expect(read.allSatisfy { String(decoding: $0.data, as: UTF8.self).contains("first") })
    }

    @Test func pagesAndStreamsReturnEveryRecordOnceInOrder() async throws {
        let f = try await ServiceFixture.make()
        defer { Task { await f.tearDown() } }
        let s = f.service
        _ = try await s.createPatient(email: "p@example.jp", nickname: "p", password: pw("pw"))
        let session = try await s.unlockPatient(email: "p@example.jp", password: pw("pw"))
        for i in 0..<23 { _ = try await s.append(session, type: i % 3 == 0 ? "note" : "dose", data: json("{\"i\":\(i)}")) }
        var seen: [UInt64] = []
        var query = RecordQuery(limit: 5)
        while true {
            let page = try await s.records(session, query)
            #expect(page.records.count <= 5)
            seen += page.records.map(\.seq)
            guard let next = page.nextAfter else { break }
            query.after = next
        }
        #expect(seen == Array(1...23))
        #expect(s.handles.count == 1)  // every page used the vault's kept handle (its frame index), none reopened it
        var streamed: [UInt64] = []
        for try await r in s.recordStream(session, RecordQuery(limit: 4, types: ["note"])) { streamed.append(r.seq) }
        #expect(streamed == stride(from: 1, through: 23, by: 3).map { UInt64($0) })
        #expect(await code { _ = try await s.records(session, RecordQuery(limit: 0)) } == .invalidInput)
        #expect(await code { _ = try await s.records(session, RecordQuery(maxBytes: 0)) } == .invalidInput)
        // A page also ends with the record that reaches its byte budget: memory bounded by bytes, not only by count.
        let big = json("{\"text\":\"" + String(repeating: "x", count: 40_000) + "\"}")
        for _ in 0..<4 { _ = try await s.append(session, type: "scan", data: big) }
        let byBytes = try await s.records(session, RecordQuery(limit: 100, maxBytes: 100_000, types: ["scan"]))
        #expect(byBytes.records.count == 3 && byBytes.nextAfter == byBytes.records.last?.seq)
        var photos = 0
        for try await _ in s.recordStream(session, RecordQuery(limit: 100, maxBytes: 50_000, types: ["scan"])) { photos += 1 }
        #expect(photos == 4)
    }

    @Test func supporterAndServiceSessionsDoWhatTheirTypeAllows() async throws {
        let f = try await ServiceFixture.make()
        defer { Task { await f.tearDown() } }
        let s = f.service
        _ = try await s.createPatient(email: "p@example.jp", nickname: "p", password: pw("pw"))
        let account = try await s.createSupporter(email: "nurse@example.jp", name: "Nurse", password: pw("npw"))
        let patient = try await s.unlockPatient(email: "p@example.jp", password: pw("pw"))
        let grant = try await s.grant(patient, supporterEmail: "nurse@example.jp", supporterName: "Nurse Sato", fingerprint: account.fingerprint)
        #expect(grant.added && grant.fingerprintChecked)
        let nurse = try await s.unlockSupporter(email: "nurse@example.jp", password: pw("npw"))
        let wrote = try await s.append(nurse, to: .email("p@example.jp"), type: "message", data: json("{\"text\":\"ok\"}"))
        #expect(wrote.pin == .firstContact)
        let read = try await s.records(nurse, of: .email("p@example.jp"))
        #expect(read.page.records.last?.author == .supporter(account.id))
        #expect(read.pin == .unchanged)
        let linked = try await s.linkedPatients(nurse)
        #expect(linked.map(\.vaultId) == [patient.vaultId])
        #expect(linked.first?.nickname == "p")

        let key = ServiceKey.generate()
        try await s.authorizeService(patient, serviceId: key.id, signPublicKey: key.signPublicKey)
        let pillBox = s.serviceSession(key)
        let seq = try await s.append(pillBox, to: patient.vaultId, type: "dose", data: json("{\"taken\":true}"))
        #expect(try await s.records(patient).records.last?.seq == seq)
        // A revocation made through another handle on the store (another process) shuts the supporter out at once.
        let other = try await f.reopen()
        let again = try await other.unlockPatient(email: "p@example.jp", password: pw("pw"))
        let revoked = try await other.revoke(again, supporterEmail: "nurse@example.jp")
        #expect(revoked.epoch == 2)  // vaults start at epoch 1
        #expect(await code { _ = try await s.records(nurse, of: .email("p@example.jp")) } == .notPermitted)
        #expect(await code { _ = try await s.append(nurse, to: .vault(patient.vaultId), type: "message", data: json("{\"text\":\"x\"}")) } == .notPermitted)
        // The patient's own session, unlocked before the re-key, still works after it.
        #expect(try await s.records(patient).records.map(\.type) == ["message", "dose"])
        await other.shutdown()
    }

    @Test func excessPasswordChecksAreAnsweredBusyAndMemoryStaysBounded() async throws {
        let budget = Argon2BudgetHandle(bytes: 2 * PasswordCost.minimumForTesting.memoryBytes)
        let f = try await ServiceFixture.make { c in
            c.argon2Budget = budget
            c.argon2QueueLimit = 4
        }
        defer { Task { await f.tearDown() } }
        let s = f.service
        _ = try await s.createPatient(email: "p@example.jp", nickname: "p", password: pw("pw"))
        let outcomes = await withTaskGroup(of: MikataError.Code?.self) { group in
            for _ in 0..<64 {
                group.addTask { await code { _ = try await s.unlockPatient(email: "p@example.jp", password: pw("pw")) } }
            }
            var out: [MikataError.Code?] = []
            for await o in group { out.append(o) }
            return out
        }
        let succeeded = outcomes.filter { $0 == nil }.count
        let busy = outcomes.filter { $0 == .busy }.count
        #expect(succeeded + busy == 64)
        #expect(succeeded >= 2)  // the budget ran checks
        #expect(busy > 0)        // and answered the excess at once instead of queueing without bound
        #expect(budget.peak <= budget.capacity)
    }

    @Test func errorCodesGiveTheContractsExitCodesAndStatuses() {
        let expected: [MikataError.Code: (Int32, Int)] = [
            .notFound: (66, 404), .erased: (66, 410), .authenticationFailed: (77, 401), .notPermitted: (77, 403),
            .corrupted: (65, 500), .tampered: (65, 500), .unsupported: (65, 501), .busy: (75, 503), .invalidInput: (64, 400),
            .alreadyExists: (1, 409), .io: (1, 500), .closed: (1, 401), .tooLarge: (64, 413),
        ]
        for c in MikataError.Code.allCases {
            #expect(expected[c]?.0 == c.exitCode, "\(c)")
            #expect(expected[c]?.1 == c.httpStatus, "\(c)")
        }
    }
}
