import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import MikataCrypto
import MikataFormat
import MikataVault

/// Issue 8 §1–2 reads: pages against a whole read, record verification on every core, and `mikata record list
/// --json` streaming a large vault (`--only reads`).
extension BenchRun {
    func readsFigures(_ store: Store) throws {
        try pagesFigure(store)
        try parallelReadFigure(store)
        try listFigure(store)
    }

    /// A patient vault filled with `count` records of `data` (access log detached while filling).
    private func filledVault(_ store: Store, _ name: String, count: Int, data: [UInt8], type: String = "bench.blob") throws -> (Vault, VaultSession, String) {
        let email = "\(name)@bench.invalid"
        let previous = store.kdf
        store.kdf = .minimumForTesting
        defer { store.kdf = previous }
        _ = try store.createPatient(email: email, nickname: "bench \(name)", password: password)
        let vault = try store.openVault(email: email)
        let session = try vault.unlock(password: password)
        let audit = vault.audit
        vault.audit = nil
        defer { vault.audit = audit }
        for i in 0..<count {
            try vault.append(type: type, data: data, session: session)
            if count >= 1000, (i + 1) % 1000 == 0 { progress("reads: \(name): \(i + 1) / \(count) records") }
        }
        return (vault, session, email)
    }

    private func detached<R>(_ vault: Vault, _ body: () throws -> R) rethrows -> R {
        let audit = vault.audit
        vault.audit = nil
        defer { vault.audit = audit }
        return try body()
    }

    // MARK: (a) pages

    private func pagesFigure(_ store: Store) throws {
        let n = 1000, pageSize = 100
        let passes = options.quick ? 3 : 21
        progress("reads: building a vault of \(n) × 200 B records")
        let (vault, session, _) = try filledVault(store, "pages", count: n, data: jsonBlob(200), type: "dose")
        func pages() throws {
            var after: UInt64?, total = 0
            repeat {
                let page = try vault.records(session, after: after, limit: pageSize)
                total += page.records.count
                after = page.nextAfter
            } while after != nil
            guard total == n else { throw BenchError.unexpected("pages held \(total) records, expected \(n)") }
        }
        func whole() throws {
            let all = try vault.records(session)
            guard all.count == n + 1 else { throw BenchError.unexpected("read \(all.count) records, expected \(n + 1)") }
        }
        try pages(); try whole()  // warm-up (and the frame index)
        var paged = Samples(), all = Samples(), pagedBare = Samples(), allBare = Samples()
        for p in 0..<passes {
            let steps: [() throws -> Void] = [
                { paged.add(try timed(pages).seconds) },
                { all.add(try timed(whole).seconds) },
                { pagedBare.add(try self.detached(vault) { try timed(pages).seconds }) },
                { allBare.add(try self.detached(vault) { try timed(whole).seconds }) },
            ]
            for k in 0..<steps.count { try steps[(p + k) % steps.count]() }
        }
        let r = paged.median / all.median, rBare = pagedBare.median / allBare.median
        report.goals.append(Row(
            figure: "Read \(n) records of 200 B as \(n / pageSize) pages of \(pageSize) (`Vault.records(_:after:limit:)`, an access-log entry per page)",
            measured: ms(paged.median), baseline: "\(ms(all.median)) all \(n) at once (`Vault.records`, one entry)",
            ratio: ratio(r), goal: "≤ 1.2×", pass: r <= 1.2, samples: "\(paged.count) + \(all.count) passes"))
        report.info.append(Row(
            figure: "Same, access log detached (the read path alone)",
            measured: ms(pagedBare.median), baseline: "\(ms(allBare.median)) all at once, detached",
            ratio: ratio(rBare), goal: "(≤ 1.2× would be)", pass: nil, samples: "\(pagedBare.count) + \(allBare.count) passes",
            verdict: rBare <= 1.2 ? "would PASS" : "would MISS"))
        report.notes.append("Pages: one vault of the profile record plus \(n) records of 200 B; each page starts at the frame index's "
            + "checkpoint (every 64th record) before it, walks the frames up to the page without decrypting them, and decrypts the "
            + "page's records in parallel batches. \(passes) passes of each of the four series, rotating, after one warm-up pass.")
    }

    // MARK: (b) 64 KiB records on every core

    private func parallelReadFigure(_ store: Store) throws {
        let recordSize = 64 << 10
        let n = counts.readRecords
        let passes = counts.readPasses
        progress("reads: building a vault of \(n) × 64 KiB records")
        let (vault, session, _) = try filledVault(store, "read-parallel", count: n, data: jsonBlob(recordSize))
        let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)

        // The same work on material already in memory: n chunks sealed under one key, each with a signature over
        // BLAKE2b-256 of (prefix, plaintext), as a record's.
        let key = SecureBytes.random(count: 32)
        let ad = Random.bytes(VaultFormat.Label.recordAD.utf8CodeUnitCount + VaultFormat.idLength + RecordFrame.fixedHeaderLength)
        let signer = SigningKeyPair.generate()
        let label = [UInt8](VaultFormat.Label.recordSignature)
        let prefix = Random.bytes(24)
        func digest(_ plain: [UInt8]) -> [UInt8] {
            let h = Blake2b(outputLength: 32)
            h.update(prefix); h.update(plain)
            return h.finalize()
        }
        var nonces: [[UInt8]] = [], ciphertexts: [[UInt8]] = [], signatures: [[UInt8]] = []
        for _ in 0..<n {
            let nonce = Random.bytes(24), plain = Random.bytes(recordSize)
            nonces.append(nonce)
            ciphertexts.append(try XChaCha20Poly1305.seal(plain, key: key, nonce: nonce, ad: ad))
            signatures.append(signer.sign(label + digest(plain)))
        }
        let material = RawRecords(key: key, ad: ad, label: label, publicKey: signer.publicKey, nonces: nonces, ciphertexts: ciphertexts,
                                  signatures: signatures, digest: digest)
        func rawAllCores() throws {
            let failures = ManagedCounter()
            DispatchQueue.concurrentPerform(iterations: n) { i in if !material.check(i) { failures.increment() } }
            guard failures.value == 0 else { throw BenchError.unexpected("baseline record did not verify") }
        }
        func rawOneCore() throws {
            for i in 0..<n where !material.check(i) { throw BenchError.unexpected("baseline record did not verify") }
        }
        var dataBytes = 0
        func library() throws {
            let records = try vault.records(session)
            guard records.count == n + 1 else { throw BenchError.unexpected("read \(records.count) records, expected \(n + 1)") }
            dataBytes = records.reduce(0) { $0 + $1.data.count }
        }
        try library(); try rawAllCores(); try rawOneCore()  // warm-up
        var lib = Samples(), libBare = Samples(), raw = Samples(), one = Samples()
        for p in 0..<passes {
            let steps: [() throws -> Void] = [
                { lib.add(try timed(library).seconds) },
                { libBare.add(try self.detached(vault) { try timed(library).seconds }) },
                { raw.add(try timed(rawAllCores).seconds) },
                { one.add(try timed(rawOneCore).seconds) },
            ]
            for k in 0..<steps.count { try steps[(p + k) % steps.count]() }
        }
        let rawBytes = Double(n * recordSize)
        let libMBs = Double(dataBytes) / lib.median / 1e6, bareMBs = Double(dataBytes) / libBare.median / 1e6
        let rawMBs = rawBytes / raw.median / 1e6, oneMBs = rawBytes / one.median / 1e6
        report.goals.append(Row(
            figure: "Read a vault of \(n) × 64 KiB records (`Vault.records`, batches decrypted and verified on \(cores) cores)",
            measured: mbs(libMBs), baseline: "\(mbs(rawMBs)) raw decrypt + BLAKE2b-256 + Ed25519 verify on \(cores) cores",
            ratio: ratio(libMBs / rawMBs), goal: "≥ 0.9×", pass: libMBs / rawMBs >= 0.9, samples: "\(lib.count) + \(raw.count) passes"))
        report.info.append(Row(
            figure: "Same read, access log detached; and against the raw pipeline on one core",
            measured: mbs(bareMBs), baseline: "\(mbs(rawMBs)) raw on \(cores) cores; \(mbs(oneMBs)) raw on one core",
            ratio: "\(ratio(bareMBs / rawMBs)) / \(ratio(libMBs / oneMBs)) (with log, vs one core)", goal: "", pass: nil,
            samples: "\(libBare.count) + \(one.count) passes"))
        report.notes.append("Parallel read: \(n) records of 64 KiB; the library reads the file in 1 MiB chunks and decrypts, "
            + "hashes and verifies batches of up to 256 frames or 4 MiB with DispatchQueue.concurrentPerform while the chain is "
            + "checked in order. The baselines run the same three steps through MikataCrypto on \(n) chunks in memory, "
            + "concurrentPerform over the records (all cores) or a loop (one core). Throughput counts record data, in MB/s.")
    }

    // MARK: (c) mikata record list --json

    private func listFigure(_ store: Store) throws {
        let recordSize = 64 << 10
        let targetMiB = options.quick ? 16 : 400
        let n = targetMiB * 16
        let passes = options.quick ? 1 : 3
        progress("reads: building a \(targetMiB) MiB vault (\(n) × 64 KiB records)")
        let (built, (vault, session, email)) = try timed { try filledVault(store, "list", count: n, data: appRecordJSON(recordSize)) }
        let fileBytes = try fileSize(vault.path)
        let passwordFile = "\(store.root)/../list-password"
        try Data(password.unsafeCopyToArray() + [10]).write(to: URL(fileURLWithPath: passwordFile))
        let binary = mikataBinary()
        var dataBytes = 0
        func library() throws {
            var bytes = 0, count = 0
            try vault.forEachRecord(session) { r in bytes += r.data.count; count += 1; return true }
            guard count == n else { throw BenchError.unexpected("streamed \(count) records, expected \(n)") }
            dataBytes = bytes
        }
        // The same read with the work the command's pages do beyond the stream: pages of the command's size (its
        // service's `readPage`: `Vault.records(_:after:limit:maxBytes:scanData:)`, a read entry per page) and the JSON
        // scan of every record's data on the decrypting threads. The command against this peer is what its own layers
        // (process, store open, unlock, service, output) cost.
        func pagedScan() throws {
            var bytes = 0, count = 0
            var after: UInt64? = nil
            repeat {
                let page = try vault.records(session, after: after, limit: 256, maxBytes: 8 << 20, scanData: true)
                for r in page.records {
                    guard r.dataScan?.strict == true else { throw BenchError.unexpected("record \(r.seq) not scanned as strict JSON") }
                    bytes += r.data.count; count += 1
                }
                after = page.nextAfter
            } while after != nil
            guard count == n, bytes == dataBytes else { throw BenchError.unexpected("paged \(count) records, expected \(n)") }
        }
        var peakKiB = 0
        func cli(_ email: String) throws -> Int {
            let arguments = ["record", "list", "--store", store.root, "--email", email, "--password-file", passwordFile, "--json"]
            // A child's maxrss counts the parent's pages it was forked (or vforked) with, so the bench's own size would
            // show: GNU time, a small process, forks the command and reports its peak alone.
            let rssFile = "\(store.root)/../list-rss"
            let (status, _) = try spawnAndWait("/usr/bin/time", ["-f", "%M", "-o", rssFile, binary] + arguments,
                                               stdout: "/dev/null", stderr: "\(store.root)/../list-stderr")
            guard status == 0 else {
                let text = (try? String(contentsOfFile: "\(store.root)/../list-stderr", encoding: .utf8)) ?? ""
                throw BenchError.unexpected("mikata record list exited \(status): \(text)")
            }
            let text = (try? String(contentsOfFile: rssFile, encoding: .utf8)) ?? ""
            guard let kib = text.split(whereSeparator: \.isNewline).last.flatMap({ Int($0) }) else {
                throw BenchError.unexpected("no peak memory from /usr/bin/time: \(text)")
            }
            return kib
        }
        // What the command needs whatever the vault's size: its peak on the small vault of the pages figure.
        let smallPeakMiB = Double(try cli("pages@bench.invalid")) / 1024
        func cli() throws { peakKiB = max(peakKiB, try cli(email)) }
        try library()
        var lib = Samples(), cmd = Samples(), scanned = Samples()
        for p in 0..<passes {
            if p % 2 == 0 {
                lib.add(try timed(library).seconds); cmd.add(try timed(cli).seconds); scanned.add(try timed(pagedScan).seconds)
            } else {
                scanned.add(try timed(pagedScan).seconds); cmd.add(try timed(cli).seconds); lib.add(try timed(library).seconds)
            }
        }
        let peakMiB = Double(peakKiB) / 1024
        let libMBs = Double(dataBytes) / lib.median / 1e6, cliMBs = Double(dataBytes) / cmd.median / 1e6
        let scannedMBs = Double(dataBytes) / scanned.median / 1e6
        report.goals.append(Row(
            figure: "`mikata record list --json` on a \(mib(Double(fileBytes))) vault (\(n) × 64 KiB records of app-shaped JSON), throughput",
            measured: "\(mbs(cliMBs)) (\(String(format: "%.2f", cmd.median)) s)",
            baseline: "\(mbs(libMBs)) (\(String(format: "%.2f", lib.median)) s) library stream of the same vault (`Vault.forEachRecord`)",
            ratio: ratio(cliMBs / libMBs), goal: "≥ 0.8×", pass: cliMBs / libMBs >= 0.8, samples: "\(cmd.count) + \(lib.count) runs"))
        report.goals.append(Row(
            figure: "Same command, peak resident memory (maxrss, measured by GNU time)",
            measured: String(format: "%.1f MiB", peakMiB),
            baseline: String(format: "%.1f MiB on the 1,000-record vault of 200 B records; vault file ", smallPeakMiB) + mib(Double(fileBytes)),
            ratio: String(format: "%.3f× of the vault", peakMiB * 1048576 / Double(fileBytes)), goal: "≤ 64 MiB", pass: peakMiB <= 64,
            samples: "\(cmd.count) runs"))
        // What the command's page reads add to the library's: the JSON scan of each record's data (`JSONDataScan.of`: plain,
        // strict, compact, DEL or C1), which they run on the thread that decrypted the record. Measured alone, on one
        // core, over the same data.
        let sample = appRecordJSON(recordSize)
        let checks = options.quick ? 64 : 1600
        var strict = true
        var check = Samples()
        for _ in 0..<(options.quick ? 1 : 5) {
            check.add(timed { for _ in 0..<checks { strict = strict && JSONDataScan.of(sample).strict } }.seconds)
        }
        guard strict else { throw BenchError.unexpected("the app-shaped record data is not strict JSON") }
        let checkMBs = Double(sample.count * checks) / check.median / 1e6
        report.info.append(Row(
            figure: "Same records' data: the JSON scan the command's page reads run on each (`JSONDataScan.of`, on the decrypting thread), one core",
            measured: mbs(checkMBs),
            baseline: "\(mbs(libMBs)) library stream (decrypt, hash, verify on \(ProcessInfo.processInfo.activeProcessorCount) cores)",
            ratio: ratio(checkMBs / libMBs), goal: "", pass: nil, samples: "\(check.count) × \(checks) records"))
        report.info.append(Row(
            figure: "The library's read doing the command's work: pages of 256 records or 8 MiB, each record's data scanned as JSON on the decrypting threads (`Vault.records(_:after:limit:maxBytes:scanData: true)`, a read entry per page), against the goal row's stream",
            measured: "\(mbs(scannedMBs)) (\(String(format: "%.2f", scanned.median)) s)",
            baseline: "\(mbs(libMBs)) library stream, no scan (`Vault.forEachRecord`)",
            ratio: ratio(scannedMBs / libMBs), goal: "", pass: nil, samples: "\(scanned.count) + \(lib.count) runs"))
        report.info.append(Row(
            figure: "`mikata record list --json` (the goal row) against that read: what the command's own layers cost (process start, store open, unlock, service, output)",
            measured: "\(mbs(cliMBs)) (\(String(format: "%.2f", cmd.median)) s)",
            baseline: "\(mbs(scannedMBs)) (\(String(format: "%.2f", scanned.median)) s) paged, scanned library read",
            ratio: ratio(cliMBs / scannedMBs), goal: "", pass: nil, samples: "\(cmd.count) + \(scanned.count) runs"))
        let buildTime = String(format: "%.1f", built)
        let note: String = "record list: the vault was built in \(buildTime) s (appends with the access log detached). Each record's "
            + "data is app-shaped JSON: FHIR-like entries with members in the app's order, Japanese text and decimals, so the "
            + "command checks it (strict JSON) and copies it as stored less white space."
        let how: String = "The command runs the release `mikata` as a child process (store open, unlock at the testing minimum "
            + "Argon2id, streamed listing, JSON per row with a reused ISO-8601 formatter) with stdout on /dev/null; its time "
            + "includes process start. The library streams the same records through `Vault.forEachRecord` on an open, unlocked "
            + "handle. Both write one access-log entry. The informative peer that does the command's work in the library reads "
            + "the same vault in the command's pages (256 records or 8 MiB: 50 pages here, a read entry each) with `scanData`, "
            + "so every record's data is scanned as JSON (`JSONDataScan.of`) on the thread that decrypted it; the three series "
            + "rotate. Where the command's time goes (perf, 2026-12-02): its main thread, which writes the output, is nearly "
            + "idle; the decrypting threads spend about 0.9 s of CPU in the JSON scan against 1.2 s in libsodium per run. Peak memory is the largest maxrss GNU time (`/usr/bin/time -f %M`, "
            + "a small parent, so the bench's own pages do not count) reports for these runs (its start-up is in the time too); the baseline column gives the same command's peak on the pages figure's small vault."
        report.notes.append(note + " " + how)
    }

    /// Record data as an app writes it, `count` bytes: an object of FHIR-shaped entries with members in the app's
    /// order (not sorted), Japanese text, decimals and nested objects, and a padding string to the exact size. Strict
    /// JSON, but not in the plain subset: the listing cannot copy it without checking it.
    private func appRecordJSON(_ count: Int) -> [UInt8] {
        var entries: [String] = []
        var size = 0
        let close = #"],"total":0,"pad":""}"#.utf8.count + 8
        for i in 0... {
            let entry = #"{"resourceType":"Observation","status":"final","code":{"text":"副作用: 吐き気 (\#(i))"},"#
                + #""valueQuantity":{"value":36.\#(i % 10),"unit":"Cel"},"effectiveDateTime":"2026-11-30T08:00:00+09:00","#
                + #""note":[{"text":"朝食後に服用。軽い吐き気あり、\#(i) 回目"}]}"#
            guard size + entry.utf8.count + 1 + close < count else { break }
            entries.append(entry)
            size += entry.utf8.count + 1
        }
        let head = #"{"entry":["# + entries.joined(separator: ",") + #"],"total":\#(entries.count),"pad":""#
        let pad = count - head.utf8.count - 2
        return Array((head + String(repeating: "x", count: max(pad, 0)) + #""}"#).utf8)
    }

    /// The `mikata` executable built beside this one.
    private func mikataBinary() -> String {
        let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: me).deletingLastPathComponent().appendingPathComponent("mikata").path
    }
}

/// The raw signed-record pipeline's material, shared by the worker threads (read-only while they run).
private struct RawRecords: @unchecked Sendable {
    let key: SecureBytes
    let ad: [UInt8]
    let label: [UInt8]
    let publicKey: [UInt8]
    let nonces: [[UInt8]]
    let ciphertexts: [[UInt8]]
    let signatures: [[UInt8]]
    let digest: ([UInt8]) -> [UInt8]

    func check(_ i: Int) -> Bool {
        guard let plain = try? XChaCha20Poly1305.open(ciphertexts[i], key: key, nonce: nonces[i], ad: ad) else { return false }
        return Ed25519.verify(signature: signatures[i], message: label + digest(plain), publicKey: publicKey)
    }
}

/// A counter the worker threads bump.
private final class ManagedCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.lock(); count += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return count }
}
