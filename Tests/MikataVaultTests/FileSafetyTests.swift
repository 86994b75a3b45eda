import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import MikataVault
import MikataFormat
import MikataCrypto

/// Files the store did not create are never trusted, followed or destroyed (issue 7 §3, docs/SECURITY.md "Local
/// users"). The tests run as root in CI, so "another user" is uid 65534 via chown; ownership cases are skipped
/// where chown is not allowed.
@Suite("File safety")
struct FileSafetyTests {
    static let stranger: uid_t = 65534
    static var canChown: Bool { geteuid() == 0 }

    /// A scratch folder (not a store) with a canary file outside any store.
    final class Playground {
        let dir: String
        let canary: String
        static let canaryBytes = Array("canary: must never change".utf8)

        init() throws {
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("mikata-fs-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            canary = "\(dir)/canary"
            try Data(Self.canaryBytes).write(to: URL(fileURLWithPath: canary))
        }

        deinit { try? FileManager.default.removeItem(atPath: dir) }

        var canaryIntact: Bool { (try? Data(contentsOf: URL(fileURLWithPath: canary))) == Data(Self.canaryBytes) }

        func write(_ bytes: [UInt8], _ path: String, mode: mode_t = 0o600, owner: uid_t? = nil) throws {
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            chmod(path, mode)
            if let owner { chown(path, owner, owner) }
        }

        func folder(_ path: String, mode: mode_t = 0o700, owner: uid_t? = nil) throws {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            chmod(path, mode)
            if let owner { chown(path, owner, owner) }
        }
    }

    static func lookupKeyFile() -> [UInt8] { StoreSecretFile(.lookupKey, secret: SecureBytes.random(count: 32)).serialize() }
    static func signingKeyFile() -> [UInt8] { StoreSecretFile(.signingSeed, secret: SecureBytes.random(count: 32)).serialize() }

    // MARK: init and open refuse folders other users own or can write

    /// How a folder another local user prepared looks.
    enum Planted: String, CaseIterable, CustomTestStringConvertible {
        /// The case: mode 0777, another user's, with their lookup and signing keys in it.
        case strangersOpenFolderWithKeys
        case strangersFolder
        case ownOpenFolderWithKeys
        case ownFolderStrangersKeysFolder
        case ownFolderOpenKeysFolder
        case ownFolderStrangersLookupKey
        case ownFolderLinkedKeysFolder
        var testDescription: String { rawValue }
        var needsChown: Bool { [.strangersOpenFolderWithKeys, .strangersFolder, .ownFolderStrangersKeysFolder, .ownFolderStrangersLookupKey].contains(self) }
    }

    @Test("init refuses a folder another user owns, could write, or filled, and adopts none of its keys", arguments: Planted.allCases)
    func initRefusesPlantedFolders(_ planted: Planted) throws {
        guard !planted.needsChown || Self.canChown else { return }
        let p = try Playground()
        let root = "\(p.dir)/store"
        let lookup = Self.lookupKeyFile(), signing = Self.signingKeyFile()
        var expected = "not-permitted"
        switch planted {
        case .strangersOpenFolderWithKeys:
            try p.folder(root, mode: 0o777, owner: Self.stranger)
            try p.folder("\(root)/keys", mode: 0o777, owner: Self.stranger)
            try p.write(lookup, "\(root)/keys/lookup.key", mode: 0o666, owner: Self.stranger)
            try p.write(signing, "\(root)/keys/store-signing.key", mode: 0o666, owner: Self.stranger)
        case .strangersFolder:
            try p.folder(root, owner: Self.stranger)
        case .ownOpenFolderWithKeys:
            try p.folder(root, mode: 0o777)
            try p.folder("\(root)/keys", mode: 0o777)
            try p.write(lookup, "\(root)/keys/lookup.key", mode: 0o666)
            try p.write(signing, "\(root)/keys/store-signing.key", mode: 0o666)
        case .ownFolderStrangersKeysFolder:
            try p.folder(root)
            try p.folder("\(root)/keys", owner: Self.stranger)
        case .ownFolderOpenKeysFolder:
            try p.folder(root)
            try p.folder("\(root)/keys", mode: 0o777)
            try p.write(lookup, "\(root)/keys/lookup.key")
        case .ownFolderStrangersLookupKey:
            try p.folder("\(root)/keys")
            try p.write(lookup, "\(root)/keys/lookup.key", owner: Self.stranger)
        case .ownFolderLinkedKeysFolder:
            try p.folder(root)
            try p.folder("\(p.dir)/elsewhere")
            try p.write(lookup, "\(p.dir)/elsewhere/lookup.key")
            try FileManager.default.createSymbolicLink(atPath: "\(root)/keys", withDestinationPath: "\(p.dir)/elsewhere")
            expected = "tampered"
        }
        var before = stat()
        stat(root, &before)
        #expect(failureClass { _ = try Store.initialize(at: root) } == expected)
        #expect(failureClass { _ = try Store.open(at: root) } != "ok")
        // Nothing written, nothing adopted, the folder's mode as it was.
        #expect(!FileManager.default.fileExists(atPath: "\(root)/mikata-store.json"))
        var after = stat()
        stat(root, &after)
        #expect(after.st_mode == before.st_mode)
        for (path, bytes) in [("\(root)/keys/lookup.key", lookup), ("\(root)/keys/store-signing.key", signing)] where FileManager.default.fileExists(atPath: path) {
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data(bytes))
        }
    }

    @Test("init takes an empty folder of this user (made 0700) and a missing one; never an open folder with content")
    func initTakesEmptyOwnFolder() throws {
        let p = try Playground()
        for mode: mode_t in [0o700, 0o755, 0o777] {
            let root = "\(p.dir)/empty-\(String(mode, radix: 8))"
            try p.folder(root, mode: mode)
            let (store, created) = try Store.initialize(at: root)
            #expect(created)
            var st = stat()
            stat(root, &st)
            #expect(st.st_mode & 0o777 == 0o700)
            #expect(try Store.open(at: root).storeId == store.storeId)
        }
        #expect(try Store.initialize(at: "\(p.dir)/new/deeper").created)
        // A half-finished init of this user (its own lookup key, nothing else) is completed, not refused.
        let half = "\(p.dir)/half"
        try p.folder("\(half)/keys")
        let key = Self.lookupKeyFile()
        try p.write(key, "\(half)/keys/lookup.key")
        #expect(try Store.initialize(at: half).created)
        #expect(try Data(contentsOf: URL(fileURLWithPath: "\(half)/keys/lookup.key")) == Data(key))
    }

    /// A change made to a working store that the next open must refuse.
    enum Loosened: String, CaseIterable, CustomTestStringConvertible {
        case rootWritableByAll, rootWritableByGroup, keysWritableByOthers, vaultsOfStranger, rootOfStranger, indexIsLink, auditIsFile
        var testDescription: String { rawValue }
    }

    @Test("every open refuses a store whose root or fixed folders another user owns or can write", arguments: Loosened.allCases)
    func openRefusesLoosenedStore(_ change: Loosened) throws {
        guard ![.vaultsOfStranger, .rootOfStranger].contains(change) || Self.canChown else { return }
        let s = try Scratch()
        _ = try s.patient()
        let root = s.store.root
        var expected = "not-permitted"
        switch change {
        case .rootWritableByAll: chmod(root, 0o777)
        case .rootWritableByGroup: chmod(root, 0o770)
        case .keysWritableByOthers: chmod("\(root)/keys", 0o703)
        case .vaultsOfStranger: chown("\(root)/vaults", Self.stranger, Self.stranger)
        case .rootOfStranger: chown(root, Self.stranger, Self.stranger)
        case .indexIsLink:
            try FileManager.default.moveItem(atPath: "\(root)/index", toPath: "\(root)/index-real")
            try FileManager.default.createSymbolicLink(atPath: "\(root)/index", withDestinationPath: "\(root)/index-real")
            expected = "tampered"
        case .auditIsFile:
            try FileManager.default.removeItem(atPath: "\(root)/audit")
            #expect(FileManager.default.createFile(atPath: "\(root)/audit", contents: Data()))
            expected = "tampered"
        }
        #expect(failureClass { _ = try Store.open(at: root) } == expected)
        #expect(failureClass { _ = try Store.initialize(at: root) } == expected)
    }

    @Test("group and others may read the folders (0755): the rule is about writing, files stay 0600")
    func readableFoldersOpen() throws {
        let s = try Scratch()
        _ = try s.patient()
        for folder in [s.store.root] + StoreLayout.initFolders.map({ "\(s.store.root)/\($0)" }) { chmod(folder, 0o755) }
        let store = try Store.open(at: s.store.root)
        store.kdf = .minimumForTesting
        _ = try store.openVault(email: "patient@example.jp").unlock(password: pw("patient-pw"))
    }

    // MARK: entries the store did not create, at the paths it uses

    /// What someone put where the store keeps a file.
    enum Intruder: String, CaseIterable, CustomTestStringConvertible {
        case linkToCanary, danglingLink, linkLoop, fifo, folder, strangersFile
        var testDescription: String { rawValue }
        var failure: String { self == .strangersFile ? "not-permitted" : "tampered" }

        func plant(at path: String, _ p: Playground) throws {
            try? FileManager.default.removeItem(atPath: path)
            switch self {
            case .linkToCanary: try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: p.canary)
            case .danglingLink: try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: "\(p.dir)/nothing-here")
            case .linkLoop: try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: path)
            case .fifo: #expect(mkfifo(path, 0o600) == 0)
            case .folder: try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
            case .strangersFile:
                try Data("x".utf8).write(to: URL(fileURLWithPath: path))
                chown(path, FileSafetyTests.stranger, FileSafetyTests.stranger)
            }
        }
    }

    /// The store files an intruder replaces.
    enum Target: String, CaseIterable, CustomTestStringConvertible {
        case vault, erasureSecret, generation, lookupEntry, accessLog, signingKey
        var testDescription: String { rawValue }
    }

    @Test("a link, FIFO, folder or another user's file where the store keeps a file is refused, never followed or waited on",
          arguments: Intruder.allCases, Target.allCases)
    func intruderAtStorePath(_ intruder: Intruder, _ target: Target) throws {
        guard intruder != .strangersFile || Self.canChown else { return }
        let p = try Playground()
        let s = try Scratch()
        let (vault, _) = try s.patient()
        let id = vault.vaultId
        _ = try s.store.signingKey()
        let path: String
        switch target {
        case .vault: path = s.store.vaultPath(id)
        case .erasureSecret: path = s.store.erasureSecretPath(id)
        case .generation: path = s.store.generationPath(id)
        case .lookupEntry: path = try s.store.lookupPath(.patient, email: "patient@example.jp")
        case .accessLog: path = "\(s.store.root)/audit/log.jsonl"
        case .signingKey: path = "\(s.store.root)/keys/store-signing.key"
        }
        try intruder.plant(at: path, p)
        let store = try Store.open(at: s.store.root)
        store.kdf = .minimumForTesting
        let expected = intruder.failure
        let outcome = failureClass {
            // Through a vault, a failed log write is reported as io ("not reported as done"); the log itself says why.
            if target == .accessLog { _ = try store.auditLog().verify(); try store.log("test", vaultId: nil, actor: "operator", role: "operator"); return }
            let v = try store.openVault(email: "patient@example.jp")
            let session = try v.unlock(password: pw("patient-pw"))
            try v.append(type: "dose", data: json("1"), session: session)
            _ = try store.auditLog().verify()
        }
        #expect(outcome == expected, "\(intruder) at \(target): \(outcome)")
        #expect(p.canaryIntact)
        #expect(!FileManager.default.fileExists(atPath: "\(p.dir)/nothing-here"))
    }

    // MARK: the stale-temporary sweep and walks

    @Test("the sweep removes this user's stale temporaries and leaves links, FIFOs, folders and others' files alone")
    func sweepTouchesOnlyOwnTemporaries() throws {
        let p = try Playground()
        let s = try Scratch()
        let (vault, _) = try s.patient()
        let folders = [s.store.root, "\(s.store.root)/keys", Posix.parent(of: s.store.erasureSecretPath(vault.vaultId)),
                       Posix.parent(of: s.store.vaultPath(vault.vaultId)), "\(s.store.root)/audit"]
        for (i, folder) in folders.enumerated() {
            try FileManager.default.createSymbolicLink(atPath: "\(folder)/.tmp-link\(i)", withDestinationPath: p.canary)
            #expect(mkfifo("\(folder)/.tmp-fifo\(i)", 0o600) == 0)
            try FileManager.default.createDirectory(atPath: "\(folder)/.tmp-dir\(i)", withIntermediateDirectories: false)
            try p.write(Array("stale".utf8), "\(folder)/.tmp-stale\(i)")
            if Self.canChown { try p.write(Array("theirs".utf8), "\(folder)/.tmp-theirs\(i)", owner: Self.stranger) }
        }
        let store = try Store.open(at: s.store.root)  // O(1): no sweep (StoreOpenTests)
        _ = store.removeStaleTemporaries()
        #expect(p.canaryIntact)
        for (i, folder) in folders.enumerated() {
            #expect(!Posix.exists("\(folder)/.tmp-stale\(i)"), "own stale temporary kept in \(folder)")
            for kept in [".tmp-link\(i)", ".tmp-fifo\(i)", ".tmp-dir\(i)"] + (Self.canChown ? [".tmp-theirs\(i)"] : []) {
                #expect(Posix.exists("\(folder)/\(kept)"), "\(kept) removed")
            }
            if Self.canChown { #expect(try Data(contentsOf: URL(fileURLWithPath: "\(folder)/.tmp-theirs\(i)")) == Data("theirs".utf8)) }
        }
    }

    @Test("walks never leave the store's folders: linked shards and loops are not entered")
    func walksStayInside() throws {
        let p = try Playground()
        try p.write(Array("stale".utf8), "\(p.dir)/.tmp-outside")
        let s = try Scratch()
        _ = try s.patient()
        // Shard names the store does not use yet (its own shards are random).
        func unused(_ folder: String) -> String {
            let taken = Set((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [])
            return (0..<256).map { String(format: "%02x", $0) }.first { !taken.contains($0) }!
        }
        let ee = unused("\(s.store.root)/vaults"), ff = unused("\(s.store.root)/index"), zz = unused("\(s.store.root)/keys/vaults")
        try FileManager.default.createSymbolicLink(atPath: "\(s.store.root)/vaults/\(ee)", withDestinationPath: p.dir)
        try FileManager.default.createSymbolicLink(atPath: "\(s.store.root)/index/\(ff)", withDestinationPath: "\(s.store.root)/index")
        try FileManager.default.createSymbolicLink(atPath: "\(s.store.root)/keys/vaults/\(zz)", withDestinationPath: "/")
        try p.folder("\(s.store.root)/notes")
        try p.write(Array("operator's own".utf8), "\(s.store.root)/notes/.tmp-draft")
        _ = s.store.removeStaleTemporaries()
        let files = s.store.allFiles()
        #expect(files.allSatisfy { $0.hasPrefix(s.store.root + "/") && !$0.contains("/notes/") && !$0.contains("/\(ee)/") && !$0.contains("/\(ff)/") })
        #expect(p.canaryIntact)
        #expect(Posix.exists("\(p.dir)/.tmp-outside"))
        #expect(Posix.exists("\(s.store.root)/notes/.tmp-draft"))
    }

    @Test("deleting a supporter whose links folder is a link removes nothing behind it")
    func supporterLinksFolderLink() throws {
        let p = try Playground()
        let s = try Scratch()
        let (keys, _) = try s.supporter("nurse@example.jp")
        let links = s.store.linkDirectory(keys.id)
        try? FileManager.default.removeItem(atPath: links)
        try FileManager.default.createSymbolicLink(atPath: links, withDestinationPath: p.dir)
        _ = try s.store.deleteSupporter(email: "nurse@example.jp", password: pw("nurse-pw"))
        #expect(p.canaryIntact)
    }

    // MARK: files written where the caller asks (--out)

    enum OutTarget: String, CaseIterable, CustomTestStringConvertible {
        case existingFile, linkToCanary, danglingLink, fifo
        var testDescription: String { rawValue }
    }

    @Test("an --out file is created new: an existing file, link or FIFO there is refused and unchanged", arguments: OutTarget.allCases)
    func outIsNeverReplaced(_ target: OutTarget) throws {
        let p = try Playground()
        let s = try Scratch()
        _ = try Backup.createKey(store: s.store, secretKeyOut: "\(p.dir)/backup.key")
        let out = "\(p.dir)/out"
        switch target {
        case .existingFile: try p.write(Array("mine".utf8), out)
        case .linkToCanary: try FileManager.default.createSymbolicLink(atPath: out, withDestinationPath: p.canary)
        case .danglingLink: try FileManager.default.createSymbolicLink(atPath: out, withDestinationPath: "\(p.dir)/nothing-here")
        case .fifo: #expect(mkfifo(out, 0o600) == 0)
        }
        #expect(failureClass { _ = try Backup.create(store: s.store, out: out) } == "already-exists")
        #expect(failureClass { _ = try Backup.createKey(store: s.store, secretKeyOut: out) } == "already-exists")
        #expect(failureClass { try OutputFile.write([1, 2, 3], to: out) } == "already-exists")
        #expect(p.canaryIntact)
        #expect(!Posix.exists("\(p.dir)/nothing-here"))
        if target == .existingFile { #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == Data("mine".utf8)) }
    }

    @Test("a repeated idempotent command may find its own bytes at --out: only an identical regular file counts as written")
    func identicalOutIsDone() throws {
        let p = try Playground()
        let out = "\(p.dir)/cert.json"
        try OutputFile.write([1, 2, 3], to: out, identicalIsDone: true)
        try OutputFile.write([1, 2, 3], to: out, identicalIsDone: true)
        #expect(failureClass { try OutputFile.write([1, 2, 4], to: out, identicalIsDone: true) } == "already-exists")
        #expect(failureClass { try OutputFile.write([1, 2, 3], to: out) } == "already-exists")
        // A link to a file with the same bytes is still refused (never followed).
        try FileManager.default.createSymbolicLink(atPath: "\(p.dir)/link", withDestinationPath: p.canary)
        #expect(failureClass { try OutputFile.write(Playground.canaryBytes, to: "\(p.dir)/link", identicalIsDone: true) } == "already-exists")
        #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == Data([1, 2, 3]))
    }

    @Test("writing --out never sweeps its folder: unrelated .tmp-* files beside it survive")
    func outLeavesNeighboursAlone() throws {
        let p = try Playground()
        try p.write(Array("someone's temporary".utf8), "\(p.dir)/.tmp-unrelated")
        try FileManager.default.createSymbolicLink(atPath: "\(p.dir)/.tmp-link", withDestinationPath: p.canary)
        let s = try Scratch()
        _ = try s.patient()
        _ = try Backup.createKey(store: s.store, secretKeyOut: "\(p.dir)/backup.key")
        _ = try Backup.create(store: s.store, out: "\(p.dir)/store.bak")
        #expect(try Data(contentsOf: URL(fileURLWithPath: "\(p.dir)/.tmp-unrelated")) == Data("someone's temporary".utf8))
        #expect(p.canaryIntact)
        var st = stat()
        #expect(stat("\(p.dir)/store.bak", &st) == 0 && st.st_mode & 0o777 == 0o600)
        _ = try Backup.verify(path: "\(p.dir)/store.bak", backupKey: Backup.readSecretKey(path: "\(p.dir)/backup.key"))
    }

    // MARK: paths are bytes

    @Test("path bytes survive the trip through String, whatever they are",
          arguments: [[0xFF], [0x73, 0xFF, 0x74], [0xC3], [0xED, 0xA0, 0x80], [0xF4, 0x8F, 0xBC, 0x81], [0xE2, 0x82, 0xAC], Array("store".utf8),
                      Array("日本".utf8), [0xC3, 0xA9, 0x80, 0xFE]] as [[UInt8]])
    func pathBytesRoundTrip(_ bytes: [UInt8]) {
        let s = PathBytes.string(bytes)
        #expect(PathBytes.bytes(s) == bytes)
        #expect(PathBytes.withCString(s) { strlen($0) } == bytes.count)
        if let valid = String(validating: bytes, as: UTF8.self), !valid.unicodeScalars.contains(where: { $0.value >= 0x10FF00 }) { #expect(s == valid) }
        #expect(!PathBytes.display(s).unicodeScalars.contains { $0.value >= 0x10FF00 })
    }

    @Test("path bytes: random byte strings round-trip")
    func pathBytesRandom() {
        for _ in 0..<2000 {
            let bytes = Random.bytes(Int(Random.bytes(1)[0] % 12))
            #expect(PathBytes.bytes(PathBytes.string(bytes)) == bytes)
        }
    }

    @Test("a store whose path is not UTF-8 is created and used at exactly that path")
    func nonUTF8StorePath() throws {
        let p = try Playground()
        let name: [UInt8] = Array("st".utf8) + [0xFF, 0xFE] + Array("ore".utf8)
        let root = p.dir + "/" + PathBytes.string(name)
        let (store, created) = try Store.initialize(at: root)
        #expect(created)
        store.kdf = .minimumForTesting
        _ = try store.createPatient(email: "bytes@example.jp", nickname: "B", password: pw("pw"))
        let vault = try store.openVault(email: "bytes@example.jp")
        try vault.append(type: "dose", data: json("1"), session: try vault.unlock(password: pw("pw")))
        #expect(Posix.list(p.dir).map(PathBytes.bytes).contains(name))
        #expect(!Posix.list(p.dir).contains { $0.contains("\u{FFFD}") })
        #expect(try Store.open(at: root).storeId == store.storeId)
        #expect(store.allFiles().contains { $0.hasSuffix(".vault") })
    }
}
