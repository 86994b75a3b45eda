import Foundation
import Testing
@testable @_spi(Testing) import MikataService

@Suite struct ServiceKeyAndDeletionTests {
    @Test func serviceKeyFilesRoundTripAreNewPrivateFilesAndRefuseWhatIsNotOne() async throws {
        let f = try await ServiceFixture.make()
        defer { Task { await f.tearDown() } }
        let s = f.service
        let path = "\(f.root)/pillbox.key"
        let key = ServiceKey.generate()
        try await key.write(to: path)
        var st = stat()
        #expect(stat(path, &st) == 0 && st.st_mode & 0o777 == 0o600)
        #expect(await code { try await ServiceKey.generate().write(to: path) } == .alreadyExists, "never replaced")
        let read = try await ServiceKey.read(path: path)
        #expect(read.id == key.id && read.signPublicKey == key.signPublicKey && read.seed == key.seed)

        // The key read back appends once the patient authorised it, and not before.
        _ = try await s.createPatient(email: "p@example.jp", nickname: "p", password: pw("pw"))
        let patient = try await s.unlockPatient(email: "p@example.jp", password: pw("pw"))
        #expect(await code { _ = try await s.append(s.serviceSession(read), to: patient.vaultId, type: "dose", data: json("{}")) } == .notPermitted)
        try await s.authorizeService(patient, serviceId: read.id, signPublicKey: read.signPublicKey)
        let seq = try await s.append(s.serviceSession(read), to: patient.vaultId, type: "dose", data: json("{\"taken\":true}"))
        let last = try #require(try await s.records(patient).records.last)
        #expect(last.seq == seq && last.author == .service(key.id))

        // Not a key file: the wrong file given (invalid input); a later version: unsupported; none: not found.
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let cases: [(String, String, MikataError.Code)] = [
            ("truncated", String(text.dropLast(3)) + "\n", .invalidInput),
            ("another file", "mikata-backup-key-v1 " + String(repeating: "a", count: 64) + "\n", .invalidInput),
            ("later version", text.replacingOccurrences(of: "-v1 ", with: "-v2 "), .unsupported),
            ("too large", String(repeating: "x", count: 5000), .invalidInput),
        ]
        for (what, content, expected) in cases {
            let bad = "\(f.root)/\(what).key"
            try content.write(toFile: bad, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: bad)
            #expect(await code { _ = try await ServiceKey.read(path: bad) } == expected, "\(what)")
        }
        // A key file others may read is refused like a root key (not permitted), whatever it holds.
        let open = "\(f.root)/open.key"
        try text.write(toFile: open, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: open)
        #expect(await code { _ = try await ServiceKey.read(path: open) } == .notPermitted)
        #expect(await code { _ = try await ServiceKey.read(path: "\(f.root)/absent.key") } == .notFound)
    }

    /// A supporter account deleted by another process on the store (the CLI, a second server) ends what this
    /// process's sessions of it can do at once, not when they expire: its share is still in the vault's header.
    @Test func aSupporterDeletedElsewhereReadsNothingMoreHere() async throws {
        let f = try await ServiceFixture.make()
        defer { Task { await f.tearDown() } }
        let s = f.service
        _ = try await s.createPatient(email: "p@example.jp", nickname: "p", password: pw("pw"))
        let patient = try await s.unlockPatient(email: "p@example.jp", password: pw("pw"))
        let account = try await s.createSupporter(email: "n@example.jp", name: "N", password: pw("npw"))
        _ = try await s.grant(patient, supporterEmail: "n@example.jp", supporterName: "N", fingerprint: account.fingerprint)
        _ = try await s.append(patient, type: "note", data: Array(#"{"t":1}"#.utf8))
        let nurse = try await s.unlockSupporter(email: "n@example.jp", password: pw("npw"))
        #expect(try await s.records(nurse, of: .vault(patient.vaultId)).page.records.count >= 1)
        let other = try await f.reopen()
        _ = try await other.deleteSupporter(email: "n@example.jp", password: pw("npw"))
        await other.shutdown()
        #expect(await code { _ = try await s.records(nurse, of: .vault(patient.vaultId)) } == .notPermitted)
        let write = await code { _ = try await s.append(nurse, to: .vault(patient.vaultId), type: "note", data: Array(#"{"t":2}"#.utf8)) }
        #expect(write == .notPermitted, "\(String(describing: write))")
    }

    @Test func anInterruptedDeletionCompletesWithoutThePasswordEvenAfterItsLookupIsGone() async throws {
        let f = try await ServiceFixture.make()
        defer { Task { await f.tearDown() } }
        let s = f.service
        _ = try await s.createPatient(email: "half@example.jp", nickname: "h", password: pw("pw"))
        _ = try await s.createPatient(email: "whole@example.jp", nickname: "w", password: pw("other"))
        #expect(try await s.completeInterruptedDeletion(email: "whole@example.jp") == nil, "nothing pending: nothing done, no password needed")
        // A plain file where the certificates folder goes: the deletion fails after destroying the vault and its
        // lookup, with its intent kept.
        let blocked = "\(f.root)/store/certificates"
        try? FileManager.default.removeItem(atPath: blocked)
        #expect(FileManager.default.createFile(atPath: blocked, contents: Data()))
        #expect(await code { _ = try await s.deletePatient(email: "half@example.jp", password: pw("pw")) } == .io)
        #expect(await code { _ = try await s.unlockPatient(email: "half@example.jp", password: pw("pw")) } == .authenticationFailed)
        try FileManager.default.removeItem(atPath: blocked)
        let done = try #require(try await s.completeInterruptedDeletion(email: "half@example.jp"))
        #expect(!done.alreadyShredded && !done.certificate.isEmpty)
        #expect(try await s.completeInterruptedDeletion(email: "half@example.jp") == nil, "completed once")
        #expect(await code { _ = try await s.completeInterruptedDeletion(email: "not-an-address") } == .invalidInput)
        // The other patient is untouched.
        _ = try await s.unlockPatient(email: "whole@example.jp", password: pw("other"))
    }

    @Test func pinWarningsNameVaultsByFingerprint() throws {
        let now = VaultID(bytes: Array(repeating: 1, count: 16))!
        let before = VaultID(bytes: Array(repeating: 2, count: 16))!
        for pin in [VaultPinCheck.changed(pinned: before), .accepted(previous: before)] {
            let w = try #require(pin.warning(vaultId: now))
            #expect(w.contains(now.fingerprint) && w.contains(before.fingerprint), "\(pin)")
            #expect(!w.contains(now.hex) && !w.contains("--"), "no raw ids, no CLI flags: \(w)")
        }
        #expect(VaultPinCheck.unchanged.warning(vaultId: now) == nil)
    }
}
