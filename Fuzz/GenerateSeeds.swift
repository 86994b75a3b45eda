// Writes the fuzz seed corpora (fixtures/fuzz/<target>/) from real stores made by the library itself:
// `scripts/fuzz.sh seeds`. Compiled into the MikataVault module, without sanitizers. Test data only.
import Foundation
import MikataCrypto
import MikataFormat

@main
struct GenerateSeeds {
    static func main() throws {
        let args = CommandLine.arguments
        guard args.count == 3 else {
            FileHandle.standardError.write(Data("usage: generate-seeds OUT_DIR JCS_INPUT_DIR\n".utf8))
            exit(64)
        }
        let seeds = Seeds(out: args[1])
        let scratch = NSTemporaryDirectory() + "mikata-seeds-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        try seeds.vaultsAndStoreFiles(scratch: scratch + "/store")
        try seeds.writerVaults(scratch: scratch + "/writer")
        try seeds.auditLogs(scratch: scratch + "/audit")
        try seeds.backup(scratch: scratch + "/backup")
        try seeds.json(jcsInput: args[2])
    }
}

struct Seeds {
    let out: String

    func write(_ target: String, _ name: String, _ bytes: [UInt8]) throws {
        let dir = "\(out)/\(target)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: "\(dir)/\(name)"))
    }

    func read(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }

    static func secret(_ s: String) -> SecureBytes { SecureBytes(copying: Array(s.utf8)) }
    static func data(_ s: String) -> [UInt8] { Array(s.utf8) }

    /// A small store: 1 KiB header copies, the cheapest Argon2id.
    func smallStore(_ root: String) throws -> Store {
        let (store, _) = try Store.initialize(at: root)
        store.kdf = .minimumForTesting
        store.headerCopyLength = VaultFormat.headerCopyLengthMin
        return store
    }

    /// Vault files (fresh; shared with a supporter, a service and a revocation; the same with a torn tail), the
    /// key states of their header copies, the store's binary files, a record payload and a deletion certificate.
    func vaultsAndStoreFiles(scratch: String) throws {
        let store = try smallStore(scratch)
        let t0: Int64 = 1_795_000_000_000

        // Fresh: the profile record only.
        let (freshId, _) = try store.createPatient(email: "fresh@example.jp", nickname: "Fresh", password: Self.secret("fresh-pw"))
        let fresh = try read(store.vaultPath(freshId))
        try write("vault", "fresh.vault", fresh)

        // Shared: supporters, a service's sealed records, a revocation (epoch 2), records before and after.
        let (sharedId, _) = try store.createPatient(email: "shared@example.jp", nickname: "Shared", password: Self.secret("shared-pw"))
        let vault = try store.openVault(id: sharedId)
        let patient = try vault.unlock(password: Self.secret("shared-pw"))
        let nurse = try store.createSupporter(email: "nurse@example.jp", name: "Nurse", password: Self.secret("nurse-pw"))
        let former = try store.createSupporter(email: "former@example.jp", name: "Former", password: Self.secret("former-pw"))
        try vault.grant(nurse, session: patient)
        try vault.grant(former, session: patient)
        try vault.appendRecord(type: "dose", data: Self.data(#"{"drug":"isoniazid","mg":300}"#), timeMillis: t0, session: patient)
        let formerSession = try vault.unlock(supporter: try store.unlockSupporter(email: "former@example.jp", password: Self.secret("former-pw")))
        try vault.appendRecord(type: "message", data: Self.data(#"{"text":"今日も頑張りましょう"}"#), timeMillis: t0 + 1000, session: formerSession)
        let service = ServiceIdentity.generate()
        try vault.authorize(service: service.id, signPublicKey: service.signPublicKey, session: patient)
        try vault.appendRecord(type: "pillbox", data: Self.data(#"{"opened":true}"#), timeMillis: t0 + 2000, session: try vault.session(service: service))
        try vault.revoke(former.id, session: patient)
        let nurseSession = try vault.unlock(supporter: try store.unlockSupporter(email: "nurse@example.jp", password: Self.secret("nurse-pw")))
        try vault.appendRecord(type: "message", data: Self.data(#"{"text":"Noted."}"#), timeMillis: t0 + 3000, session: nurseSession)
        try vault.appendRecord(type: "pillbox", data: Self.data(#"{"opened":false}"#), timeMillis: t0 + 4000, session: try vault.session(service: service))
        let shared = try read(store.vaultPath(sharedId))
        try write("vault", "shared.vault", shared)
        // Torn tail: an append interrupted after 100 bytes of its frame (FORMAT.md §5.2).
        let freshPreamble = try Preamble.parse(fresh)
        try write("vault", "torn-tail.vault", shared + Array(fresh[freshPreamble.recordsOffset...].prefix(100)))

        // Key states: the signed bodies of copy A of each vault.
        for (name, file) in [("fresh", fresh), ("shared", shared)] {
            let p = try Preamble.parse(file)
            let copy = try HeaderCopy.parse(file[p.headerCopyOffset(0)..<(p.headerCopyOffset(0) + p.headerCopyLength)])
            try write("keystate", "\(name).keystate", copy.body)
        }

        // Store files (FORMAT.md §7) of this throwaway store.
        try write("storefiles", "erasure-secret.key", try read(store.erasureSecretPath(freshId)))
        try write("storefiles", "generation.gen", try read(store.generationPath(sharedId)))
        try write("storefiles", "supporter.account", try read(store.supporterPath(nurse.id)))
        try write("storefiles", "lookup-entry", LookupEntry(kind: .patient, id: freshId).serialize())
        try write("storefiles", "lookup.key", try read("\(store.root)/keys/lookup.key"))
        try write("storefiles", "store-signing.key", StoreSecretFile(.signingSeed, secret: try store.signingKey().seed).serialize())
        let payload = RecordPayload(authorId: freshId, timeMillis: t0, type: "dose", data: Self.data(#"{"mg":300}"#),
                                    signature: [UInt8](repeating: 0x33, count: 64))
        try write("storefiles", "record.payload", payload.serialize())
        let secrets = SupporterSecrets(boxSecretKey: SecureBytes.random(count: 32), signSeed: SecureBytes.random(count: 32), name: "Nurse")
        try write("storefiles", "supporter.secrets", secrets.serialize())

        // A deletion certificate: shred the fresh patient.
        let outcome = try store.shred(email: "fresh@example.jp", request: ShredRequest(
            reason: "patient request", requestedBy: "patient", reference: "REQ-1", executedBy: "operator", approvedBy: "dpo"))
        try write("certificate", "certificate.json", outcome.certificate)
        try write("json", "certificate.json", outcome.certificate)
    }

    /// Vaults the "vaultwriter" target can open: Fuzz/FuzzVaultWriter.swift's erasure secret and password, the
    /// cheapest Argon2id. Profile only; with a patient record and a service's sealed record; after revoking the
    /// service (epoch 2) and one more record; the same with a torn tail.
    func writerVaults(scratch: String) throws {
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        let erasureSecret = SecureBytes(copying: [UInt8](repeating: 0x11, count: 32))
        let password = Self.secret("fuzz-password")
        let path = "\(scratch)/writer.vault"
        let t0: Int64 = 1_795_000_000_000
        let draft = VaultDraft.new()
        let (vault, _) = try Vault.create(draft: draft, path: path, anchor: VaultAnchor(path: "\(scratch)/writer.gen", vaultId: draft.vaultId, rootKey: nil),
                                          erasureSecret: erasureSecret, password: password, kdf: .minimumForTesting,
                                          headerCopyLength: VaultFormat.headerCopyLengthMin, profile: Self.data(#"{"nickname":"Writer"}"#),
                                          nowMillis: t0)
        try write("vaultwriter", "profile-only.vault", try read(path))
        let patient = try vault.unlock(password: password)
        try vault.appendRecord(type: "dose", data: Self.data(#"{"mg":300}"#), timeMillis: t0 + 1000, session: patient)
        let service = ServiceIdentity.generate()
        try vault.authorize(service: service.id, signPublicKey: service.signPublicKey, session: patient)
        try vault.appendRecord(type: "pillbox", data: Self.data(#"{"opened":true}"#), timeMillis: t0 + 2000, session: try vault.session(service: service))
        try write("vaultwriter", "records.vault", try read(path))
        try vault.revoke(service.id, session: patient)
        let before = try read(path)
        try vault.appendRecord(type: "dose", data: Self.data(#"{"mg":150}"#), timeMillis: t0 + 3000, session: patient)
        let revoked = try read(path)
        try write("vaultwriter", "revoked.vault", revoked)
        // An append cut off after 100 bytes of its frame (FORMAT.md §5.2).
        try write("vaultwriter", "torn-tail.vault", before + Array(revoked[before.count...].prefix(100)))
    }

    /// Access logs signed with the fuzz target's fixed store id and key (Fuzz/FuzzAuditLog.swift): entries with a
    /// checkpoint; the same after a prune (an anchor first); one with a torn last line.
    func auditLogs(scratch: String) throws {
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        let signing = try SigningKeyPair.fromSeed(SecureBytes(copying: [UInt8](repeating: 0x5a, count: 32)))
        let path = "\(scratch)/log.jsonl"
        let log = AuditLog(path: path, storeId: "fuzz-store", signing: signing)
        let vault = [UInt8](repeating: 0xab, count: 16)
        let events = [("patient", "patient", "create-vault", "ok", ""), ("patient", "patient", "unlock", "ok", ""),
                      ("patient", "patient", "append", "ok", "seq 1"), ("supporter:00112233445566778899aabbccddeeff", "supporter", "unlock", "denied", "authentication-failed"),
                      ("patient", "patient", "read", "ok", "2 records")]
        for (actor, role, action, outcome, detail) in events {
            try log.append(AuditLog.Event(vaultId: vault, actor: actor, role: role, action: action, outcome: outcome, detail: detail))
        }
        try log.checkpoint()
        try log.append(AuditLog.Event(vaultId: nil, actor: "operator", role: "operator", action: "inspect", outcome: "ok"))
        let entries = try read(path)
        try write("audit", "log.jsonl", entries)
        try write("audit", "torn-last-line.jsonl", entries + Array(#"{"type":"entry","seq":7,"ti"#.utf8))
        try write("json", "audit-line.json", Array(entries.prefix { $0 != 10 }))
        try log.prune(retentionDays: 0, actor: "operator", shortRetentionReason: "fuzz seed")
        try write("audit", "pruned.jsonl", try read(path))
        _ = try log.verify()
    }

    /// A backup of a store with one small vault.
    func backup(scratch: String) throws {
        let store = try smallStore(scratch + "/store")
        _ = try store.createPatient(email: "backup@example.jp", nickname: "Backup", password: Self.secret("backup-pw"))
        _ = try Backup.createKey(store: store, secretKeyOut: scratch + "/backup.key")
        _ = try Backup.create(store: store, out: scratch + "/store.mkb")
        try write("backup", "store.mkb", try read(scratch + "/store.mkb"))
    }

    /// The RFC 8785 vectors' inputs.
    func json(jcsInput: String) throws {
        for name in try FileManager.default.contentsOfDirectory(atPath: jcsInput).sorted() where name.hasSuffix(".json") {
            try write("json", "jcs-\(name)", try read("\(jcsInput)/\(name)"))
        }
        try write("json", "profile.json", Self.data(#"{"nickname":"Fresh"}"#))
    }
}
