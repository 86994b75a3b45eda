import Foundation
import Testing

/// Issue 7 §2 through the real `mikata`: the restore runbook with tombstone sources and pinning.
@Suite("Backup and restore (CLI)")
struct BackupCLITests {
    static let patient = "taro@backup.test"

    @Test("restore without a tombstone source is a usage error and writes nothing; --no-tombstone-source is logged; the live store as source keeps the shredded patient out")
    func tombstoneSourceRequired() throws {
        let f = try CLIFixture()
        try f.setUp(patient: Self.patient)
        let key = "\(f.root)/backup.key", backup = "\(f.root)/before.bak"
        let created = try f.ok(["backup", "key", "create", "--out", key, "--valid-until", "2099-01-01", "--json"])
        #expect(try created.json()["validUntil"] as? String == "2099-01-01T00:00:00Z")
        try f.ok(["backup", "create", "--out", backup])
        try f.ok(["backup", "verify", backup, "--backup-key-file", key])
        try f.ok(["shred", "--email", Self.patient, "--reason", "test", "--requested-by", "centre", "--request-ref", "R1",
                  "--operator", "op1", "--out", "\(f.root)/cert.json"])
        // The certificate states the backup key's expiry as the date backups holding the vault stop opening.
        let cert = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(f.root)/cert.json"))) as? [String: Any])
        let residual = cert["residualCopies"] as? [String: Any]
        #expect(residual?["backupsExpireBy"] as? String == "2099-01-01T00:00:00.000Z")
        #expect(residual?["backupsExpiryBasis"] as? String == "backup-key-expiry")

        for (name, extra) in [("none", [String]()), ("both", ["--no-tombstone-source", "--tombstones-from", f.store])] {
            let r = try f.run(["backup", "restore", backup, "--backup-key-file", key, "--store", "\(f.root)/t-\(name)"] + extra)
            #expect(r.status == 64, "\(name): \(r)")
            #expect(r.stderr.contains("tombstone"), "\(name): \(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: "\(f.root)/t-\(name)"), "\(name)")
        }
        let list = ["record", "list", "--email", Self.patient, "--password-file", f.patientPasswordFile]
        try f.ok(["backup", "restore", backup, "--backup-key-file", key, "--store", "\(f.root)/t-live", "--tombstones-from", f.store])
        // The shredded patient is an unknown account there: answered like a wrong password (77), as every login is.
        #expect(try f.run(list + ["--store", "\(f.root)/t-live"]).status == 77)
        try f.ok(["audit", "verify", "--store", "\(f.root)/t-live"])

        // Declared: the operator says no source exists; the patient returns, and the restored log records the declaration.
        try f.ok(["backup", "restore", backup, "--backup-key-file", key, "--store", "\(f.root)/t-declared", "--no-tombstone-source"])
        try f.ok(list + ["--store", "\(f.root)/t-declared"])
        let shown = try f.ok(["audit", "show", "--store", "\(f.root)/t-declared", "--json"])
        let entries = try #require(try shown.json()["entries"] as? [[String: Any]])
        #expect(entries.contains { $0["action"] as? String == "backup-restore" && ($0["detail"] as? String ?? "").contains("no tombstone source") })
    }

    @Test("a backup signed by another key is refused by default (65): the backup key file pins the store's key; verify without any pin is a usage error")
    func pinnedByDefault() throws {
        let f = try CLIFixture()
        try f.setUp(patient: Self.patient)
        let key = "\(f.root)/backup.key", backup = "\(f.root)/store.bak"
        try f.ok(["backup", "key", "create", "--out", key])
        try f.ok(["backup", "create", "--out", backup])
        // The forger's backup: another store's (its own signing key named in its header), with old-looking content.
        let forgerStore = "\(f.root)/forger", forged = "\(f.root)/forged.bak"
        try f.ok(["init", "--store", forgerStore])
        try f.ok(["backup", "key", "create", "--store", forgerStore, "--out", "\(f.root)/forger.key"])
        try f.ok(["backup", "create", "--store", forgerStore, "--out", forged])
        var r = try f.run(["backup", "verify", forged, "--backup-key-file", key])
        #expect(r.status == 65 && r.stderr.contains("pinned"), "\(r)")
        r = try f.run(["backup", "restore", forged, "--backup-key-file", key, "--store", "\(f.root)/t", "--tombstones-from", f.store])
        #expect(r.status == 65, "\(r)")
        #expect(!FileManager.default.fileExists(atPath: "\(f.root)/t"))
        r = try f.run(["backup", "verify", forged])
        #expect(r.status == 64 && r.stderr.contains("--public-key"), "\(r)")
        // With the store's published key given explicitly, the same answers; the real backup passes both ways.
        let publicKey = try f.ok(["store", "public-key"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try f.run(["backup", "verify", forged, "--public-key", publicKey]).status == 65)
        try f.ok(["backup", "verify", backup, "--public-key", publicKey])
        try f.ok(["backup", "verify", backup, "--backup-key-file", key])
        // Destroying the key ends every backup sealed to it.
        try f.ok(["backup", "key", "destroy", "--backup-key-file", key])
        r = try f.run(["backup", "restore", backup, "--backup-key-file", key, "--store", "\(f.root)/t2", "--tombstones-from", f.store])
        #expect(r.status == 66 && r.stderr.contains("destroyed"), "\(r)")
    }
}
