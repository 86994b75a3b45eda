import Foundation
import MikataAdherence
import MikataCrypto
import MikataFormat
@_spi(Testing) import MikataService
import MikataVault
#if canImport(Glibc)
import Glibc
#endif

/// Issue 10 §5: a supporter's dashboard over 200 patients of six months each (`VaultService.dashboard`), time and
/// peak memory, against reading the same vaults' dose-event and regimen records alone through the same service.
extension BenchRun {
    func dashboardFigure(_ dir: String) throws {
        let patients = options.quick ? 20 : 200
        let small = options.quick ? 5 : 50
        let runs = options.quick ? 3 : 5
        let root = "\(dir)/dashboard-store", keys = "\(dir)/dashboard-root-keys"
        let nurse = "nurse@dashboard.invalid", nurseSmall = "nurse-small@dashboard.invalid"
        let now = Date()
        progress("dashboard: \(patients) patients on 2HRZE/4HR for ~6 months each, one supporter linked to all, another to \(small)")
        let (built, fixture) = try timed {
            try DashboardFixture.build(root: root, keys: keys, patients: patients, smallLinks: small, supporter: nurse,
                                       smallSupporter: nurseSmall, password: password, now: now)
        }
        let perVault = Double(fixture.records) / Double(patients)
        progress(String(format: "dashboard: fixture built in %.1f s (%d records, %.0f per vault, %.1f MiB of vault files)", built,
                        fixture.records, perVault, Double(fixture.bytes) / 1048576))
        defer { try? FileManager.default.removeItem(atPath: root) }

        let ids = fixture.vaultIds.compactMap { VaultID(hex: $0) }
        let readTypes: Set<String> = [AdherenceRecordType.doseEvent.rawValue, AdherenceRecordType.regimen.rawValue]
        let secret = Secret(copying: password.unsafeCopyToArray())
        var configuration = VaultServiceConfiguration()
        configuration.passwordCost = .minimumForTesting
        // Every request verifies every signature, as a first read does: the figure is the dashboard's work beside the
        // read's, not the verified-signature cache's (which would spare both series the same Ed25519 checks).
        configuration.verifiedSignatureCacheEntries = 0
        let config = configuration
        func openService() throws -> VaultService {
            try blockingAwait { try await VaultService.open(storePath: root, rootKey: .directory(keys), configuration: config) }
        }
        func session(_ service: VaultService, _ email: String) throws -> SupporterSession {
            try blockingAwait { try await service.unlockSupporter(email: email, password: secret) }
        }
        func dashboard(_ service: VaultService, _ s: SupporterSession, expect: Int) throws {
            let d = try blockingAwait { try await service.dashboard(s, now: now) }
            guard d.rows.count == expect, d.rows.allSatisfy({ $0.entry != nil && $0.unreadableRecords == 0 }) else {
                throw BenchError.unexpected("dashboard of \(d.rows.count) rows (\(d.rows.filter { $0.entry == nil }.count) failed), expected \(expect)")
            }
        }
        func peer(_ service: VaultService, _ s: SupporterSession, _ ids: [VaultID]) throws {
            let n = try blockingAwait { try await Self.readDoseRecords(service, s, ids, types: readTypes) }
            guard n == fixture.doseAndRegimenRecords(ids.count) else {
                throw BenchError.unexpected("read \(n) dose-event and regimen records, expected \(fixture.doseAndRegimenRecords(ids.count))")
            }
        }

        // The first request on a freshly opened service (no handles kept yet), once each: the peer on a service of its
        // own, the dashboard on the service the warm runs then use (so it is also their warm-up).
        progress("dashboard: first request on a fresh service, peer and dashboard")
        let peerService = try openService()
        let coldPeer = try RequestCost.measure { try peer(peerService, try session(peerService, nurse), ids) }
        blockingShutdown(peerService)

        // A long-running service (`mikata serve`): its handle cache (256) keeps the vaults' handles between requests, so
        // every request after the first finds them open. Then the series alternate, rotating which goes first.
        let service = try openService()
        defer { blockingShutdown(service) }
        let s = try session(service, nurse), sSmall = try session(service, nurseSmall)
        let coldDashboard = try RequestCost.measure { try dashboard(service, s, expect: patients) }
        let smallIds = Array(ids.prefix(small))
        progress("dashboard: \(runs) runs each of the dashboard and the peer read at \(patients) and at \(small) patients, alternating")
        var dash: [RequestCost] = [], read: [RequestCost] = [], dashSmall: [RequestCost] = [], readSmall: [RequestCost] = []
        for r in 0..<runs {
            let steps: [() throws -> Void] = [
                { dash.append(try RequestCost.measure { try dashboard(service, s, expect: patients) }) },
                { read.append(try RequestCost.measure { try peer(service, s, ids) }) },
                { dashSmall.append(try RequestCost.measure { try dashboard(service, sSmall, expect: small) }) },
                { readSmall.append(try RequestCost.measure { try peer(service, sSmall, smallIds) }) },
            ]
            for k in 0..<steps.count { try steps[(r + k) % steps.count]() }
        }
        for (name, series) in [("dashboard \(patients)", dash), ("peer \(patients)", read), ("dashboard \(small)", dashSmall), ("peer \(small)", readSmall)] {
            progress("dashboard: \(name): wall " + series.map { String(format: "%.2f", $0.seconds) }.joined(separator: " ") + " s; cpu "
                + series.map { String(format: "%.2f", $0.cpuSeconds) }.joined(separator: " ") + " s; peak "
                + series.map { String($0.peakBytes >> 10) }.joined(separator: " ") + " KiB")
        }

        let wall = RequestCost.median(dash, \.seconds), wallRead = RequestCost.median(read, \.seconds)
        let cpu = RequestCost.median(dash, \.cpuSeconds), cpuRead = RequestCost.median(read, \.cpuSeconds)
        let ratioTime = cpu / cpuRead, ratioWall = wall / wallRead
        let peak = RequestCost.median(dash, \.peak), peakRead = RequestCost.median(read, \.peak)
        let peakSmall = RequestCost.median(dashSmall, \.peak)
        let recordsText = "\(fixture.records) records, \(mib(Double(fixture.bytes))) of vault files"
        // The verdict uses CPU time: on this shared machine the same request's wall time varies severalfold from run to
        // run with the other tenants' load, its CPU time by a few per cent (both are in the progress log and the rows).
        report.goals.append(Row(
            figure: "Supporter dashboard over \(patients) patients of 6 months on 2HRZE/4HR (`VaultService.dashboard`, \(recordsText)), "
                + "long-running service (handles kept): CPU time of the request, median",
            measured: String(format: "%.2f s (wall %.2f s)", cpu, wall),
            baseline: String(format: "%.2f s (wall %.2f s) reading the same vaults' dose-event + regimen records alone (`records(_:of:_:)`, pages of 10,000, 4 vaults at a time)", cpuRead, wallRead),
            ratio: ratio(ratioTime), goal: "≤ 1.2×", pass: ratioTime <= 1.2, samples: "\(dash.count) + \(read.count)"))
        let perPatient = (peak - peakSmall) / Double(patients - small)
        // Bounded: the extra patients cost no more than the dashboard's rows (a few hundred bytes each) plus noise; a
        // pass that kept each vault's records would add about 0.2 MiB per vault here.
        let bounded = perPatient <= 16 * 1024
        report.goals.append(Row(
            figure: "Same dashboard over \(patients) patients, peak memory above the resident set before the request (median of runs)",
            measured: memoryText(peak) + " at \(patients) patients",
            baseline: "\(memoryText(peakSmall)) at \(small) patients; the peer read: \(memoryText(peakRead)) at \(patients)",
            ratio: String(format: "%+.1f KiB per added patient", perPatient / 1024), goal: "bounded (≤ 16 KiB per added patient)",
            pass: bounded, samples: "\(dash.count) + \(dashSmall.count)"))
        report.info.append(Row(
            figure: "Supporter dashboard over \(patients) patients (the goal row), wall time, median (spread: " + String(format: "%.2f–%.2f s against %.2f–%.2f s", dash.map(\.seconds).min()!,
                dash.map(\.seconds).max()!, read.map(\.seconds).min()!, read.map(\.seconds).max()!) + ")",
            measured: String(format: "%.2f s", wall), baseline: String(format: "%.2f s the peer read", wallRead),
            ratio: ratio(ratioWall), goal: "(≤ 1.2× would be)", pass: nil, samples: "\(dash.count) + \(read.count)",
            verdict: ratioWall <= 1.2 ? "would PASS" : "would MISS"))
        let wallSmall = RequestCost.median(dashSmall, \.seconds), wallReadSmall = RequestCost.median(readSmall, \.seconds)
        let cpuSmall = RequestCost.median(dashSmall, \.cpuSeconds), cpuReadSmall = RequestCost.median(readSmall, \.cpuSeconds)
        report.info.append(Row(
            figure: "Supporter dashboard over \(small) of those patients (another supporter), median wall / CPU time",
            measured: String(format: "%.2f s / %.2f s", wallSmall, cpuSmall),
            baseline: String(format: "%.2f s / %.2f s peer read of the same \(small) vaults", wallReadSmall, cpuReadSmall),
            ratio: "\(ratio(wallSmall / wallReadSmall)) / \(ratio(cpuSmall / cpuReadSmall))", goal: "", pass: nil,
            samples: "\(dashSmall.count) + \(readSmall.count)"))
        report.info.append(Row(
            figure: "Dashboard over \(patients) patients as the first request of a freshly opened service (every handle opened in it), once: wall / CPU time, peak",
            measured: String(format: "%.2f s / %.2f s, +%@", coldDashboard.seconds, coldDashboard.cpuSeconds, memoryText(coldDashboard.peak)),
            baseline: String(format: "%.2f s / %.2f s, +%@ peer read, first request of another fresh service", coldPeer.seconds,
                             coldPeer.cpuSeconds, memoryText(coldPeer.peak)),
            ratio: "\(ratio(coldDashboard.seconds / coldPeer.seconds)) / \(ratio(coldDashboard.cpuSeconds / coldPeer.cpuSeconds))",
            goal: "", pass: nil, samples: "1 + 1"))
        report.notes.append("Dashboard: one store, one supporter linked to \(patients) patients (another to the first \(small)), each on "
            + "2HRZE/4HR from 6 months (less a few days) ago with a dose event per medicine and day (mostly taken; late, missed "
            + "with or without an event, skipped; a stretch of misses for one patient in ten), a few side effects and two "
            + "messages a week: " + String(format: "%.0f records a vault, built in %.1f s", perVault, built) + " by the engine "
            + "(minimum-cost Argon2id, backdated appends, access log detached). Both series run on one `VaultService` whose handle "
            + "cache holds every vault after the first request (measured apart), alternating, \(runs) runs each; the peer reads "
            + "each vault's `dose-event` and `medication-request` records through `records(_:of:_:)` (decrypted and verified: the "
            + "service keeps no verified-signature cache here, so both verify every signature; nothing decoded, but each page read checks that every record's data is strict JSON, as it does for every client), four vaults at a time as the dashboard does; both write an unlock and a read entry per vault. "
            + "Time is the process's CPU time over the request (getrusage, every thread): its wall time varies severalfold with "
            + "the other tenants' load, its CPU time by a few per cent. Peak memory: `malloc_trim(0)`, VmHWM reset (`5` into "
            + "/proc/self/clear_refs), then VmHWM after the request minus VmRSS before it. Issue 10 asks for this figure (time "
            + "and peak memory against reading the dose records alone) and sets no ratio; ≤ 1.2× is our own goal. "
            + "Where the dashboard's extra time goes "
            + "(perf, 2026-11-30): about two thirds of its own thread in `DoseEvent.decode` (JSONSerialization, dynamic casts, "
            + "date and ISO 8601 parsing), a sixth in `AdherenceCalculator.report`.")
    }

    /// Reads the dose-event and regimen records of `ids` as a client would, a page at a time, four vaults at once;
    /// returns how many records came back.
    static func readDoseRecords(_ service: VaultService, _ s: SupporterSession, _ ids: [VaultID], types: Set<String>) async throws -> Int {
        try await withThrowingTaskGroup(of: Int.self) { group in
            var next = 0, total = 0
            func start() {
                guard next < ids.count else { return }
                let id = ids[next]
                next += 1
                group.addTask {
                    var count = 0
                    var query = RecordQuery(limit: RecordQuery.maximumLimit, types: types)
                    while true {
                        let page = try await service.records(s, of: .vault(id), query).page
                        count += page.records.count
                        guard let after = page.nextAfter else { return count }
                        query.after = after
                    }
                }
            }
            for _ in 0..<4 { start() }
            while let n = try await group.next() {
                total += n
                start()
            }
            return total
        }
    }
}

/// The dashboard figure's store: built with the engine, then closed (the service opens it afresh).
struct DashboardFixture {
    var vaultIds: [String] = []
    var records = 0
    var bytes = 0
    /// Dose-event and regimen records per vault, in vault order.
    var doseAndRegimen: [Int] = []

    func doseAndRegimenRecords(_ firstVaults: Int) -> Int { doseAndRegimen.prefix(firstVaults).reduce(0, +) }

    static func build(root: String, keys: String, patients: Int, smallLinks: Int, supporter: String, smallSupporter: String,
                      password: SecureBytes, now: Date) throws -> DashboardFixture {
        let store = try Store.initialize(at: root, rootKey: .directory(keys)).0
        store.kdf = .minimumForTesting
        _ = try store.createSupporter(email: supporter, name: "Bench Nurse", password: password)
        _ = try store.createSupporter(email: smallSupporter, name: "Bench Nurse Two", password: password)
        let nurse = try store.unlockSupporter(email: supporter, password: password)
        var vaults: [(Vault, VaultSession, VaultSession)] = []
        var fixture = DashboardFixture()
        for i in 0..<patients {
            let email = "p\(i)@dashboard.invalid"
            let created = try store.createPatient(email: email, nickname: "Patient \(i)", password: password)
            let vault = try store.openVault(email: email)
            let session = try vault.unlock(password: password)
            _ = try store.grant(vault: vault, session: session, supporterEmail: supporter)
            if i < smallLinks { _ = try store.grant(vault: vault, session: session, supporterEmail: smallSupporter) }
            vault.audit = nil  // building the figure, not measuring the access log
            vaults.append((vault, session, try vault.unlock(supporter: nurse)))
            fixture.vaultIds.append(created.vaultId.hex)
        }
        // Appends run on eight threads, each on its own vaults: their fdatasyncs overlap (the disk is the limit).
        let plans = (0..<patients).map { PatientPlan(index: $0, now: now) }
        fixture.doseAndRegimen = plans.map(\.doseAndRegimenCount)
        fixture.records = plans.reduce(0) { $0 + $1.records.count }
        let shared = BenchRun.Handed(vaults)
        let threads = 8
        let r = BenchRun.wallTime(threads: threads) { t in
            for i in stride(from: t, to: patients, by: threads) {
                let (vault, patient, nurse) = shared.value[i]
                for rec in plans[i].records {
                    try vault.append(type: rec.type, data: rec.data, timeMillis: rec.timeMillis, session: rec.bySupporter ? nurse : patient)
                }
                if t == 0, i % 40 == 0 { progress("dashboard: patient \(i + 1) / \(patients) written") }
            }
        }
        if let e = r.error { throw e }
        fixture.bytes = try vaults.reduce(0) { $0 + (try fileSize($1.0.path)) }
        return fixture
    }
}

/// One fixture patient's records, in the order they were written.
struct PatientPlan {
    struct Planned {
        var type: String
        var data: [UInt8]
        var timeMillis: Int64
        var bySupporter = false
    }

    var records: [Planned] = []
    var doseAndRegimenCount = 0

    init(index i: Int, now: Date) {
        var rng = SplitMix(seed: UInt64(i) &* 0x9E37_79B9 &+ 17)
        let zone = Regimen.defaultTimeZone
        let today = LocalDate(now, in: zone)
        let start = today.adding(months: -6).adding(days: 1 + i % 10)  // a few days of treatment still to go
        let eight = TimeOfDay("08:00")!
        let doses = ["isoniazid": DoseQuantity(value: "300", unit: "mg"), "rifampicin": DoseQuantity(value: "450", unit: "mg"),
                     "pyrazinamide": DoseQuantity(value: "1200", unit: "mg"), "ethambutol": DoseQuantity(value: "750", unit: "mg")]
        let regimen = try! RegimenTemplate.hrze6.regimen(start: start, doses: doses, timesOfDay: [eight])
        func ms(_ d: Date) -> Int64 { Int64((d.timeIntervalSince1970 * 1000).rounded()) }
        let prescribed = start.adding(days: -2).instant(at: TimeOfDay("10:30")!, in: zone)
        var out: [Planned] = [Planned(type: AdherenceRecordType.regimen.rawValue, data: regimen.json(), timeMillis: ms(prescribed), bySupporter: true)]
        // Adherence profile: most patients take nearly every dose; one in five misses more; one in ten has a bad stretch.
        let (pTaken, pLate, pMissed): (Double, Double, Double) = i % 10 == 9 ? (0.6, 0.1, 0.27) : i % 5 == 4 ? (0.78, 0.1, 0.1) : (0.92, 0.05, 0.02)
        let stretch = i % 10 == 9 ? (today.adding(days: -(3 + i % 7)), today) : nil
        var day = start
        var dayIndex = 0
        while day <= today {
            let scheduled = day.instant(at: eight, in: zone)
            guard scheduled.addingTimeInterval(2 * 3600) < now else { break }  // not yet due
            let meds = regimen.phase(on: day)?.medications.map(\.medication) ?? []
            let u = rng.unit()
            let inStretch = stretch.map { day >= $0.0 && day <= $0.1 } ?? false
            let status: DoseStatus = inStretch || (u >= pTaken + pLate && u < pTaken + pLate + pMissed) ? .missed
                : u < pTaken ? .taken : u < pTaken + pLate ? .late : .skipped
            let takenAt: Date? = status == .taken ? scheduled.addingTimeInterval(Double(rng.below(50)) * 60)
                : status == .late ? scheduled.addingTimeInterval(Double(120 + rng.below(240)) * 60) : nil
            let recordedAt = (takenAt ?? scheduled.addingTimeInterval(12 * 3600)).addingTimeInterval(Double(1 + rng.below(30)) * 60)
            let m = rng.below(100)
            let method: DoseMethod = m < 80 ? .selfReport : m < 90 ? .photo : m < 97 ? .videoCall : .supporterObserved
            // Half the misses are never reported (no event: the report counts them missed all the same).
            if !(status == .missed && rng.below(2) == 0) {
                for med in meds {
                    let e = try! DoseEvent(scheduled: ScheduledDose(medication: med, date: day, time: eight), status: status, takenAt: takenAt,
                                           recordedAt: recordedAt, method: method, reason: status == .skipped ? .sideEffects : nil,
                                           note: rng.below(40) == 0 ? "飲みました、少し気分が悪い" : nil)
                    out.append(Planned(type: AdherenceRecordType.doseEvent.rawValue, data: e.json(), timeMillis: ms(recordedAt)))
                }
            }
            // About two messages a week, one in four from the supporter.
            if rng.below(7) < 2 {
                let sent = day.instant(at: TimeOfDay("19:00")!, in: zone).addingTimeInterval(Double(rng.below(120)) * 60)
                if sent < now {
                    let fromNurse = rng.below(4) == 0
                    let text = fromNurse ? "体調はいかがですか。次の受診は来週です。" : "今日も薬を飲みました。少し疲れています。"
                    out.append(Planned(type: AdherenceRecordType.message.rawValue, data: Message(text: text, sentAt: sent).json(),
                                       timeMillis: ms(sent), bySupporter: fromNurse))
                }
            }
            // A few side effects over the treatment; one patient in twenty has an unresolved severe one.
            if dayIndex % 45 == 20 || (i % 20 == 7 && dayIndex == 150) {
                let severe = i % 20 == 7 && dayIndex == 150
                let onset = day.instant(at: TimeOfDay("13:00")!, in: zone)
                if onset < now {
                    let se = try! SideEffect(symptom: severe ? .jaundice : [.nausea, .jointPain, .orangeUrine, .fatigue][dayIndex / 45 % 4],
                                             grade: severe ? 3 : 1 + rng.below(2), onset: onset, resolved: !severe && rng.below(2) == 0)
                    out.append(Planned(type: AdherenceRecordType.sideEffect.rawValue, data: se.json(), timeMillis: ms(onset.addingTimeInterval(1800))))
                }
            }
            day = day.adding(days: 1)
            dayIndex += 1
        }
        out.sort { $0.timeMillis < $1.timeMillis }
        records = out
        doseAndRegimenCount = out.filter { $0.type == AdherenceRecordType.doseEvent.rawValue || $0.type == AdherenceRecordType.regimen.rawValue }.count
    }
}

/// A small deterministic generator (SplitMix64), so every run builds the same fixture.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}

// MARK: async and memory helpers

/// Holds an async result for the thread waiting on it.
private final class AsyncBox<T>: @unchecked Sendable {
    var result: Result<T, any Error>?
}

/// Runs `body` on the cooperative pool and waits for it on this (non-pool) thread.
func blockingAwait<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let box = AsyncBox<T>()
    let done = DispatchSemaphore(value: 0)
    Task.detached {
        do { box.result = .success(try await body()) } catch { box.result = .failure(error) }
        done.signal()
    }
    done.wait()
    return try box.result!.get()
}

func blockingShutdown(_ service: VaultService) {
    _ = try? blockingAwait { await service.shutdown() }
}

/// What one request cost: wall time, the process's CPU time (user + system, every thread), peak memory above the
/// resident set before it.
struct RequestCost {
    var seconds: Double
    var cpuSeconds: Double
    var peakBytes: Int
    var peak: Double { Double(peakBytes) }

    static func measure(_ body: () throws -> Void) throws -> RequestCost {
        let m = try peakMemory { () throws -> (Double, Double) in
            let cpu0 = processCPUSeconds()
            let t = try timed(body).seconds
            return (t, processCPUSeconds() - cpu0)
        }
        return RequestCost(seconds: m.value.0, cpuSeconds: m.value.1, peakBytes: m.peak)
    }

    static func median(_ series: [RequestCost], _ value: KeyPath<RequestCost, Double>) -> Double {
        Samples(series.map { $0[keyPath: value] }).median
    }
}

/// User + system CPU time of this process so far, in seconds.
func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

/// Runs `body` and returns its result with the resident-set high-water mark it reached above the resident set before
/// it, in bytes: free heap pages are returned first (`malloc_trim`), the high-water mark is reset (writing `5` to
/// /proc/self/clear_refs, Linux ≥ 4.0), VmRSS is read, `body` runs, VmHWM is read.
func peakMemory<R>(_ body: () throws -> R) throws -> (value: R, peak: Int) {
    trimHeap()
    let fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC)
    guard fd >= 0 else { throw BenchError.io("open /proc/self/clear_refs: errno \(errno)") }
    let wrote = write(fd, "5", 1)
    close(fd)
    guard wrote == 1 else { throw BenchError.io("write /proc/self/clear_refs: errno \(errno)") }
    let before = statusBytes("VmRSS:")
    let value = try body()
    return (value, max(0, statusBytes("VmHWM:") - before))
}

/// glibc's `malloc_trim(0)`, looked up at run time (Swift's Glibc module does not export malloc.h): returns the free
/// pages of every arena to the system, so VmRSS afterwards is what is in use. Does nothing where it is absent.
func trimHeap() {
    typealias Trim = @convention(c) (Int) -> Int32
    guard let symbol = dlsym(nil, "malloc_trim") else { return }
    _ = unsafeBitCast(symbol, to: Trim.self)(0)
}

/// A `kB` line of /proc/self/status, in bytes.
func statusBytes(_ field: String) -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = text.split(separator: "\n").first(where: { $0.hasPrefix(field) }) else { return 0 }
    return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
}

func memoryText(_ bytes: Double) -> String {
    bytes >= 10 * 1048576 ? String(format: "%.1f MiB", bytes / 1048576) : String(format: "%.0f KiB", bytes / 1024)
}
