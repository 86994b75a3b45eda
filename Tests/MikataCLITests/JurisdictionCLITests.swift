import Foundation
import Testing

/// `init --jurisdiction` and `backup restore --jurisdiction/--allow-jurisdiction-change` (issue 9 §3).
@Suite("The store's jurisdiction from the CLI")
struct JurisdictionCLITests {
    @Test("init --jurisdiction: declared and reported; never changed; only ISO 3166-1 alpha-2 codes")
    func jurisdiction() throws {
        let fx = try CLIFixture()
        #expect(try fx.run(["init", "--jurisdiction", "XX"]).status == 64)
        let created = try fx.ok(["init", "--jurisdiction", "de", "--json"]).json()
        #expect(created["jurisdiction"] as? String == "DE")
        #expect(try fx.ok(["init", "--json"]).json()["jurisdiction"] as? String == "DE")
        #expect(try fx.run(["init", "--jurisdiction", "JP"]).status == 77)

        // A restore across jurisdictions: 77 and nothing written, unless allowed explicitly.
        try fx.ok(["backup", "key", "create", "--out", "\(fx.root)/backup.key"])
        try fx.ok(["backup", "create", "--out", "\(fx.root)/store.bak"])
        let restore = ["backup", "restore", "\(fx.root)/store.bak", "--backup-key-file", "\(fx.root)/backup.key", "--no-tombstone-source"]
        let refused = try fx.run(restore + ["--store", "\(fx.root)/jp"])
        #expect(refused.status == 77 && refused.stderr.contains("jurisdiction"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: "\(fx.root)/jp"))
        try fx.ok(restore + ["--store", "\(fx.root)/de", "--jurisdiction", "DE"])
        try fx.ok(restore + ["--store", "\(fx.root)/jp", "--allow-jurisdiction-change"])
        #expect(try fx.ok(["init", "--store", "\(fx.root)/jp", "--json"]).json()["jurisdiction"] as? String == "JP")
    }
}
