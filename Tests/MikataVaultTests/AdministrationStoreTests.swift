import Foundation
import Testing
import MikataCrypto
import MikataFormat
@testable import MikataVault

/// The store side of the HTTP service's administrators (docs/FORMAT.md §7.13).
@Suite struct AdministrationStoreTests {
    @Test func anUnknownAdministratorCostsTheSameArgon2idAsAWrongPassword() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mikata-admin-store-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (store, _) = try Store.initialize(at: "\(dir)/store", rootKey: .directory("\(dir)/keys"))
        store.kdf = .minimumForTesting
        let stored = try store.hashAdministratorPassword(SecureBytes(copying: Array("correct horse battery".utf8)))
        let wrong = SecureBytes(copying: Array("wrong horse battery".utf8))
        let known = CredentialWork(), unknown = CredentialWork()
        let knownAnswer = try CredentialWork.$current.withValue(known) { try store.checkAdministratorPassword(stored, wrong) }
        let unknownAnswer = try CredentialWork.$current.withValue(unknown) { try store.checkAdministratorPassword(nil, wrong) }
        #expect(!knownAnswer && !unknownAnswer)
        #expect(known.steps == [.argon2id(.minimumForTesting)] && unknown.steps == known.steps)
        #expect(try store.checkAdministratorPassword(stored, SecureBytes(copying: Array("correct horse battery".utf8))))
        // A hash asking for more than a slot may is refused before Argon2id runs; one that is not a hash is damage.
        let greedy = stored.replacingOccurrences(of: "m=\(PasswordHash.memLimitMin >> 10)", with: "m=\(8 << 20)")
        #expect(throws: VaultError.self) { try store.checkAdministratorPassword(greedy, wrong) }
        #expect(throws: VaultError.self) { try store.checkAdministratorPassword("plain text", wrong) }
    }

    @Test func documentsAreRewrittenOnlyWhenChangedAndOneKindCannotPassForTheOther() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mikata-admin-store-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (store, _) = try Store.initialize(at: "\(dir)/store", rootKey: .directory("\(dir)/keys"))
        let request = PendingShredRequest(requestId: "r1", requestedAt: "t", requestedByAdministrator: "op1", email: "a@example.jp",
                                          reason: "r", requestedBy: "o", reference: "ref")
        try store.updateDocument(.shredRequests, as: PendingShredRequest.self) { $0.append(request) }
        let path = "\(dir)/store/admin/shred-requests"
        let written = try Data(contentsOf: URL(fileURLWithPath: path))
        try store.updateDocument(.shredRequests, as: PendingShredRequest.self) { _ in }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == written, "unchanged: not rewritten (a fresh nonce would differ)")
        #expect(try store.readDocument(.shredRequests, as: PendingShredRequest.self) == [request])
        // A folder others can write is refused like any store folder (they could swap the files).
        chmod("\(dir)/store/admin", 0o777)
        #expect(throws: VaultError.self) { _ = try store.readDocument(.shredRequests, as: PendingShredRequest.self) }
        chmod("\(dir)/store/admin", 0o700)
        // The requests file under the administrators' name: wrong magic (corrupted), never read as accounts.
        try written.write(to: URL(fileURLWithPath: "\(dir)/store/admin/administrators"))
        #expect(throws: VaultError.self) { _ = try store.readDocument(.administrators, as: AdministratorAccount.self) }
    }
}
