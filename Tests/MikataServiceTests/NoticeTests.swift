import Foundation
import MikataAdherence
import MikataCrypto
import MikataFormat
import MikataVault
import Synchronization
import Testing
@testable @_spi(Testing) import MikataService

private let tokyo = TimeZone(identifier: "Asia/Tokyo")!
private func day(_ s: String) -> LocalDate { LocalDate(s)! }
private func at(_ s: String) -> Date { try! Date(s, strategy: .iso8601) }
private let eight = TimeOfDay("08:00")!
private let meds = ["isoniazid", "rifampicin", "pyrazinamide", "ethambutol"]
private let doses: [String: DoseQuantity] = ["isoniazid": .init(value: "300", unit: "mg"), "rifampicin": .init(value: "600", unit: "mg"),
                                             "pyrazinamide": .init(value: "1500", unit: "mg"), "ethambutol": .init(value: "1000", unit: "mg")]
/// Consent and opt-ins: 2026-11-08 05:00 JST.
private let consentTime = at("2026-11-07T20:00:00Z")
/// 2026-11-08 10:30 JST: the 08:00 slot of 11-08 is past its 2 h grace.
private let afterEighth = at("2026-11-08T01:30:00Z")
/// 2026-11-09 09:30 JST: the 08:00 slot of 11-09 is within its grace.
private let withinGraceNinth = at("2026-11-09T00:30:00Z")
/// 2026-11-09 11:30 JST: the 08:00 slot of 11-09 is past its grace.
private let afterNinth = at("2026-11-09T02:30:00Z")
private let settings = try! NoticeMailSettings(from: "noreply@hokenjo.example.jp", signInURL: "https://mikata.example.jp/signin")

/// Records the messages a checker hands over; fails when told to.
final class RecordingTransport: NoticeTransport {
    let sent = Mutex<[NoticeMessage]>([])
    let failing = Mutex(false)
    func send(_ message: NoticeMessage) throws {
        if failing.withLock({ $0 }) { throw MikataError(.io, "refused") }
        sent.withLock { $0.append(message) }
    }
    var count: Int { sent.withLock { $0.count } }
}

/// A patient (nickname Taro) on 2HRZE/4HR from 2026-11-01, one dose of each medicine at 08:00 JST, with two linked
/// supporters (Sato, Kato); the patient consented to notices at `consentTime`.
private struct NoticeFixture {
    let f: ServiceFixture
    let patient: PatientSession
    let sato: SupporterSession
    let kato: SupporterSession

    static func make(consent: Bool = true) async throws -> NoticeFixture {
        let f = try await ServiceFixture.make()
        let s = f.service
        _ = try await s.createPatient(email: "taro@example.jp", nickname: "Taro", password: pw("pw"))
        let patient = try await s.unlockPatient(email: "taro@example.jp", password: pw("pw"))
        for (email, name) in [("sato@hokenjo.example.jp", "Nurse Sato"), ("kato@hokenjo.example.jp", "Nurse Kato")] {
            let account = try await s.createSupporter(email: email, name: name, password: pw("npw"))
            _ = try await s.grant(patient, supporterEmail: email, supporterName: name, fingerprint: account.fingerprint)
        }
        let regimen = try RegimenTemplate.hrze6.regimen(start: day("2026-11-01"), doses: doses, timesOfDay: [eight])
        _ = try await s.append(patient, type: "medication-request", data: regimen.json())
        if consent { _ = try await s.setNoticeConsent(patient, enabled: true, graceMinutes: 120, now: consentTime) }
        return NoticeFixture(f: f, patient: patient,
                             sato: try await s.unlockSupporter(email: "sato@hokenjo.example.jp", password: pw("npw")),
                             kato: try await s.unlockSupporter(email: "kato@hokenjo.example.jp", password: pw("npw")))
    }

    var s: VaultService { f.service }

    /// Sato opts in (Kato, linked too, does not).
    func satoOptsIn() async throws {
        _ = try await s.setNoticeSubscription(sato, of: patient.vaultId, enabled: true, email: "sato@hokenjo.example.jp", now: consentTime)
    }

    /// The patient reports every dose of `date`'s 08:00 slot taken at 08:05.
    func takeDoses(on date: String) async throws {
        let d = day(date)
        let taken = d.instant(at: TimeOfDay("08:05")!, in: tokyo)
        for m in meds {
            let e = try DoseEvent(scheduled: ScheduledDose(medication: m, date: d, time: eight), status: .taken, takenAt: taken,
                                  recordedAt: taken.addingTimeInterval(60), method: .selfReport, reason: nil)
            _ = try await s.append(patient, type: "dose-event", data: e.json())
        }
    }
}

@Suite struct NoticeMessageTests {
    @Test func headersAndEncoding() throws {
        let m = try NoticeMessage.missedDoseNotice(from: "noreply@hokenjo.example.jp", to: "sato@hokenjo.example.jp", nickname: "たろう",
                                                   signInURL: "https://mikata.example.jp/signin", date: at("2026-11-09T02:30:00Z"))
        let raw = String(decoding: m.rfc5322(), as: UTF8.self)
        let (head, body) = {
            let r = raw.range(of: "\r\n\r\n")!
            return (String(raw[..<r.lowerBound]), String(raw[r.upperBound...]))
        }()
        // Every line ends with CRLF; no bare LF; only ASCII on the wire (UTF-8 is in encoded-words and base64).
        #expect(!raw.replacingOccurrences(of: "\r\n", with: "").contains("\n") && raw.hasSuffix("\r\n"))
        #expect(raw.unicodeScalars.allSatisfy { $0.isASCII })
        let lines = head.components(separatedBy: "\r\n")
        #expect(lines.allSatisfy { $0.utf8.count <= 78 })
        #expect(lines.contains("Date: Mon, 09 Nov 2026 02:30:00 +0000"))
        #expect(lines.contains("From: noreply@hokenjo.example.jp") && lines.contains("To: sato@hokenjo.example.jp"))
        #expect(lines.contains("MIME-Version: 1.0") && lines.contains("Content-Type: text/plain; charset=UTF-8")
            && lines.contains("Content-Transfer-Encoding: base64"))
        #expect(lines.contains { $0.hasPrefix("Message-ID: <") && $0.hasSuffix("@hokenjo.example.jp>") })
        // The subject: RFC 2047 B encoded-words, folded, decoding to the fixed bilingual subject.
        let mail = ReceivedMail(raw)
        let subject = try #require(mail.header("Subject"))
        let words = subject.split(separator: " ").map(String.init)
        #expect(words.count >= 2 && words.allSatisfy { $0.hasPrefix("=?UTF-8?B?") && $0.hasSuffix("?=") && $0.utf8.count <= 75 })
        let decoded = try #require(mail.decodedSubject)
        #expect(decoded == NoticeMessage.noticeSubject)
        #expect(!decoded.contains("たろう"))  // the nickname is in the body only
        // The body: base64 lines of at most 76 characters, decoding to the nickname and the sign-in hint.
        #expect(body.components(separatedBy: "\r\n").allSatisfy { $0.utf8.count <= 76 })
        #expect(mail.body.contains("たろう さんについてお知らせがあります。") && mail.body.contains("Sign in to see details.")
            && mail.body.contains("https://mikata.example.jp/signin"))
        // LF for a local sendmail interface.
        #expect(!String(decoding: m.rfc5322(lineEnding: "\n"), as: UTF8.self).contains("\r"))
    }

    @Test func asciiSubjectsStayPlainAndUnsafeAddressesAreRefused() throws {
        #expect(NoticeMessage.encodedHeaderText("A notice") == "A notice")
        #expect(NoticeMessage.encodedHeaderText("é") == "=?UTF-8?B?w6k=?=")
        for bad in ["a@b\r\nBcc: x@y", "a b@c", "<a@b>", "a@b,c@d", "nobody", "@b", "a@"] {
            #expect(throws: MikataError.self) { _ = try NoticeMessage(from: "n@x.jp", to: bad, subject: "s", body: "b", date: Date()) }
        }
        #expect(throws: MikataError.self) { _ = try NoticeMessage(from: "n@x.jp", to: "a@b.jp", subject: "s\r\nBcc: x@y", body: "b", date: Date()) }
        #expect(throws: MikataError.self) { _ = try NoticeMailSettings(from: "noreply@x.jp", signInURL: "javascript:alert(1)") }
    }
}

@Suite struct MissedDoseNoticeTests {
    /// End to end through msmtp and a local SMTP sink (aiosmtpd): one dose taken, one missed past its grace.
    @Test func oneNoticeForTheMissedDoseToTheSupporterWhoOptedInOnce() async throws {
        let n = try await NoticeFixture.make()
        defer { Task { await n.f.tearDown() } }
        let sink = try await SMTPSink.start(in: n.f.root)
        defer { sink.stop() }
        let transport = SendmailTransport.msmtp(host: "127.0.0.1", port: sink.port)
        try await n.satoOptsIn()
        try await n.takeDoses(on: "2026-11-08")

        // The taken 11-08 slot sends nothing; 11-09 within its grace sends nothing.
        #expect(try await n.s.sendDueNotices(now: afterEighth, transport: transport, settings: settings).sent == 0)
        #expect(try await n.s.sendDueNotices(now: withinGraceNinth, transport: transport, settings: settings).sent == 0)
        #expect(sink.messages().isEmpty)
        // 11-09 past its grace: one message, to Sato only.
        let run = try await n.s.sendDueNotices(now: afterNinth, transport: transport, settings: settings)
        #expect(run.sent == 1 && run.failed == 0 && run.vaultsChecked == 1)
        let messages = sink.messages()
        try #require(messages.count == 1)
        let mail = ReceivedMail(messages[0])
        #expect(mail.header("X-RcptTo") == "sato@hokenjo.example.jp" && mail.header("To") == "sato@hokenjo.example.jp")
        #expect(mail.header("X-MailFrom") == "noreply@hokenjo.example.jp")
        #expect(!mail.raw.contains("kato@"))
        #expect(mail.body.contains("Taro さんについてお知らせがあります。") && mail.body.contains("Sign in to see details."))
        // No health data: no medicine, dose, unit, time or date of the dose, record content, status, or the
        // patient's address in any header (the subject is the fixed one) or in the decoded body.
        #expect(mail.decodedSubject == NoticeMessage.noticeSubject)
        let headers = mail.headers.filter { $0.0 != "Subject" }.map { "\($0.0): \($0.1)" }.joined(separator: "\n")
        for text in [headers, NoticeMessage.noticeSubject, mail.body] {
            for secret in meds + ["mg", "08:00", "08:05", "2026-11-09", "2026-11-08", "taro@example.jp", "2HRZE", "dose", "missed", "taken",
                                  "adherence", "medication"] {
                #expect(!text.lowercased().contains(secret.lowercased()), "\(secret) in the notice")
            }
        }
        for figure in ["300", "600", "1500", "1000"] { #expect(!mail.body.contains(figure)) }
        // Once: later runs (the same slot still unanswered) send nothing, also from another handle on the store.
        #expect(try await n.s.sendDueNotices(now: afterNinth.addingTimeInterval(600), transport: transport, settings: settings).sent == 0)
        let other = try await n.f.reopen()
        #expect(try await other.sendDueNotices(now: afterNinth.addingTimeInterval(1200), transport: transport, settings: settings).sent == 0)
        await other.shutdown()
        #expect(sink.messages().count == 1)
    }

    @Test func aTakenDoseSendsNothingEvenWhenReportedByASupporter() async throws {
        let n = try await NoticeFixture.make()
        defer { Task { await n.f.tearDown() } }
        try await n.satoOptsIn()
        // Kato reports one medicine of the 11-09 slot observed: the slot is answered.
        let d = day("2026-11-09")
        let e = try DoseEvent(scheduled: ScheduledDose(medication: "isoniazid", date: d, time: eight), status: .taken,
                              takenAt: d.instant(at: eight, in: tokyo), recordedAt: d.instant(at: eight, in: tokyo), method: .supporterObserved,
                              reason: nil)
        _ = try await n.s.append(n.kato, to: .vault(n.patient.vaultId), type: "dose-event", data: e.json())
        try await n.takeDoses(on: "2026-11-08")
        let t = RecordingTransport()
        #expect(try await n.s.sendDueNotices(now: afterNinth, transport: t, settings: settings).sent == 0)
        #expect(t.count == 0)
    }

    @Test func withoutThePatientsConsentNothingIsSentNorKept() async throws {
        let n = try await NoticeFixture.make(consent: false)
        defer { Task { await n.f.tearDown() } }
        #expect(try await n.s.noticeConsent(n.patient).enabled == false)
        // No opt-in without consent.
        #expect(await code { try await n.satoOptsIn() } == .notPermitted)
        let t = RecordingTransport()
        #expect(try await n.s.sendDueNotices(now: afterNinth, transport: t, settings: settings) == NoticeRunSummary(vaultsChecked: 0, sent: 0, failed: 0, unreadable: 0))
        // Consent, opt-in, then withdrawal: the file (schedule, address) is gone and nothing is sent.
        let on = try await n.s.setNoticeConsent(n.patient, enabled: true, graceMinutes: 120, now: consentTime)
        #expect(on.enabled && on.graceMinutes == 120 && on.scheduleVersions == 1)
        try await n.satoOptsIn()
        #expect(try await n.s.noticeConsent(n.patient).supporters == [n.sato.supporterId])
        _ = try await n.s.setNoticeConsent(n.patient, enabled: false, now: consentTime)
        #expect(!FileManager.default.fileExists(atPath: "\(n.f.root)/store/notices/\(n.patient.vaultId.hex)"))
        #expect(try await n.s.sendDueNotices(now: afterNinth, transport: t, settings: settings).sent == 0)
        #expect(t.count == 0)
        #expect(await code { _ = try await n.s.setNoticeConsent(n.patient, enabled: true, graceMinutes: 5) } == .invalidInput)
    }

    @Test func optInRulesRevocationAndShred() async throws {
        let n = try await NoticeFixture.make()
        defer { Task { await n.f.tearDown() } }
        // Only the supporter's own account address; a nickname of their own is used as given.
        #expect(await code { _ = try await n.s.setNoticeSubscription(n.sato, of: n.patient.vaultId, enabled: true, email: "kato@hokenjo.example.jp") } == .invalidInput)
        #expect(await code { _ = try await n.s.setNoticeSubscription(n.sato, of: n.patient.vaultId, enabled: true, email: "x@elsewhere.example") } == .invalidInput)
        let sub = try await n.s.setNoticeSubscription(n.sato, of: n.patient.vaultId, enabled: true, email: "SATO@hokenjo.example.jp",
                                                      nickname: "田中さん (A-12)", now: consentTime)
        #expect(sub.enabled && sub.nickname == "田中さん (A-12)")
        let t = RecordingTransport()
        // A transport failure leaves the notice for the next run.
        t.failing.withLock { $0 = true }
        let failed = try await n.s.sendDueNotices(now: afterEighth, transport: t, settings: settings)
        #expect(failed.sent == 0 && failed.failed == 1)
        t.failing.withLock { $0 = false }
        #expect(try await n.s.sendDueNotices(now: afterEighth.addingTimeInterval(300), transport: t, settings: settings).sent == 1)
        #expect(t.sent.withLock { $0.first?.body.contains("田中さん (A-12)") } == true)
        // A supporter who is not linked cannot opt in; a revoked one stops getting notices.
        _ = try await n.s.revoke(n.patient, supporterEmail: "sato@hokenjo.example.jp")
        #expect(try await n.s.noticeConsent(n.patient).supporters.isEmpty)
        #expect(await code { try await n.satoOptsIn() } == .notPermitted)
        #expect(try await n.s.sendDueNotices(now: afterNinth, transport: t, settings: settings).sent == 0)
        #expect(t.count == 1)
        // Shredding the vault removes its notice file.
        let path = "\(n.f.root)/store/notices/\(n.patient.vaultId.hex)"
        #expect(FileManager.default.fileExists(atPath: path))
        _ = try await n.s.deletePatient(email: "taro@example.jp", password: pw("pw"))
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func aRegimenChangeRefreshesTheScheduleWithoutAVaultRead() async throws {
        let n = try await NoticeFixture.make()
        defer { Task { await n.f.tearDown() } }
        try await n.satoOptsIn()
        try await n.takeDoses(on: "2026-11-08")
        // From 11-09 the doses move to 20:00 JST: at 11:30 JST on 11-09 nothing is due yet.
        let evening = try RegimenTemplate.hrze6.regimen(start: day("2026-11-01"), doses: doses, timesOfDay: [TimeOfDay("20:00")!])
        let changed = try Regimen(template: evening.template, effectiveFrom: day("2026-11-09"), timeZone: tokyo, phases: evening.phases)
        _ = try await n.s.append(n.patient, type: "medication-request", data: changed.json())
        #expect(try await n.s.noticeConsent(n.patient).scheduleVersions == 2)
        let t = RecordingTransport()
        #expect(try await n.s.sendDueNotices(now: afterNinth, transport: t, settings: settings).sent == 0)
        // 22:30 JST on 11-09: the 20:00 slot is past its grace.
        #expect(try await n.s.sendDueNotices(now: at("2026-11-09T13:30:00Z"), transport: t, settings: settings).sent == 1)
    }

    @Test func aNoticeFileMovedToAnotherVaultDoesNotOpen() async throws {
        let n = try await NoticeFixture.make()
        defer { Task { await n.f.tearDown() } }
        _ = try await n.s.createPatient(email: "hana@example.jp", nickname: "Hana", password: pw("pw"))
        let hana = try await n.s.unlockPatient(email: "hana@example.jp", password: pw("pw"))
        _ = try await n.s.setNoticeConsent(hana, enabled: true, now: consentTime)
        let dir = "\(n.f.root)/store/notices"
        try FileManager.default.removeItem(atPath: "\(dir)/\(hana.vaultId.hex)")
        try FileManager.default.copyItem(atPath: "\(dir)/\(n.patient.vaultId.hex)", toPath: "\(dir)/\(hana.vaultId.hex)")
        #expect(await code { _ = try await n.s.noticeConsent(hana) } == .tampered)
        let run = try await n.s.sendDueNotices(now: afterNinth, transport: RecordingTransport(), settings: settings)
        #expect(run.vaultsChecked == 2 && run.unreadable == 1)
    }

    @Test func aSupporterWhoDeletesTheirAccountLeavesNoAddressBehind() async throws {
        let n = try await NoticeFixture.make()
        defer { Task { await n.f.tearDown() } }
        try await n.satoOptsIn()
        #expect(try await n.s.noticeConsent(n.patient).supporters == [n.sato.supporterId])
        _ = try await n.s.deleteSupporter(email: "sato@hokenjo.example.jp", password: pw("npw"))
        #expect(try await n.s.noticeConsent(n.patient).supporters.isEmpty, "removed at once, not at the next checker run")
    }

    @Test func theScheduleKeepsABoundedNumberOfVersions() async throws {
        let n = try await NoticeFixture.make()
        defer { Task { await n.f.tearDown() } }
        for k in 0..<NoticeRules.maxScheduleVersions + 3 {
            let base = try RegimenTemplate.hrze6.regimen(start: day("2026-11-01"), doses: doses, timesOfDay: [eight])
            let v = try Regimen(template: base.template, effectiveFrom: day("2026-11-01").adding(days: k), timeZone: tokyo, phases: base.phases)
            _ = try await n.s.append(n.patient, type: "medication-request", data: v.json())
        }
        #expect(try await n.s.noticeConsent(n.patient).scheduleVersions == NoticeRules.maxScheduleVersions)
        // Consent given anew rebuilds the schedule from the vault's regimens, which hold more versions: the latest
        // ones are kept, as many as appends keep.
        _ = try await n.s.setNoticeConsent(n.patient, enabled: false)
        let again = try await n.s.setNoticeConsent(n.patient, enabled: true)
        #expect(again.scheduleVersions == NoticeRules.maxScheduleVersions)
    }

    /// Regimens with many times of day: fewer versions are kept, so that the schedule stays within its budget and
    /// check-ins and sent marks keep room in the file; the version in force today stays.
    @Test func largeSchedulesKeepFewerVersionsNotTheOneInForce() throws {
        let times = (0..<144).map { TimeOfDay(String(format: "%02d:%02d", $0 / 6, ($0 % 6) * 10))! }
        let base = try RegimenTemplate.hrze6.regimen(start: day("2026-11-01"), doses: doses, timesOfDay: times)
        let versions = try (0..<40).map { k in
            CheckInSchedule.Version(seq: UInt64(k + 1), regimen: try Regimen(effectiveFrom: day("2026-10-01").adding(days: 2 * k), timeZone: tokyo, phases: base.phases))
        }
        let now = at("2026-11-20T00:00:00Z")
        let unbounded = CheckInSchedule.latest(versions, count: NoticeRules.maxScheduleVersions, governing: NoticeRules.scheduleHorizon(now))
        #expect(try JSONEncoder().encode(unbounded).count > NoticeRules.scheduleBudgetBytes, "the example must need the budget")
        let kept = NoticeRules.keptSchedule(versions, now: now)
        #expect(kept.versions.count < NoticeRules.maxScheduleVersions && kept.versions.count > 1)
        #expect(try JSONEncoder().encode(kept).count <= NoticeRules.scheduleBudgetBytes)
        // Today's version and the nearest ahead stay; those that governed days gone by leave first.
        let today = day("2026-11-20")
        #expect(kept.version(on: today)?.effectiveFrom == today && kept.versions.last?.seq == unbounded.versions.last?.seq)
        #expect(kept.versions.first!.effectiveFrom > unbounded.versions.first!.effectiveFrom)
    }

    /// A notice whose sent mark the file has no room for is not mailed: mailed, it would go out at every run.
    @Test func aNoticeThatCannotBeMarkedSentIsNotSent() async throws {
        let n = try await NoticeFixture.make()
        defer { Task { await n.f.tearDown() } }
        try await n.satoOptsIn()
        let vaultId = n.patient.vaultId.bytes
        // Fill the file to a few bytes below its bound with a stale entry after Sato's (the checker drops it, but only
        // after Sato's turn): the mark of the 11-09 slot would pass the bound.
        try await n.s.blocking { store in
            try store.updateNoticeFile(vaultId: vaultId) { plain in
                var doc = try NoticeDocument.decode(plain!)
                var filler = doc.supporters[0]
                filler.supporterId = String(repeating: "0", count: 32)
                filler.email = "stale@example.jp"
                filler.nickname = ""
                doc.supporters.append(filler)
                let room = SealedDocumentFile.maxCiphertextLength - XChaCha20Poly1305.tagLength - doc.encoded().count
                doc.supporters[1].nickname = String(repeating: "x", count: room - 10)
                #expect(doc.fitsItsFile)
                plain = doc.encoded()
            }
        }
        let t = RecordingTransport()
        let run = try await n.s.sendDueNotices(now: afterNinth, transport: t, settings: settings)
        #expect(run.sent == 0 && run.unmarkable >= 1 && t.count == 0)
    }

    @Test func theLatestVersionsAreTheOnesKept() {
        let base = try! RegimenTemplate.hrze6.regimen(start: day("2026-11-01"), doses: doses, timesOfDay: [eight])
        let versions = (0..<40).map { k in
            CheckInSchedule.Version(seq: UInt64(100 - k),
                                    regimen: try! Regimen(effectiveFrom: day("2026-11-01").adding(days: k), timeZone: tokyo, phases: base.phases))
        }
        let kept = CheckInSchedule.latest(versions.shuffled(), count: 32).versions
        #expect(kept.count == 32 && kept.first?.effectiveFrom == day("2026-11-09") && kept.last?.effectiveFrom == day("2026-12-10"))
    }

    /// Versions dated far ahead (a linked author appending many regimens effective in 2099) never push out the one
    /// in force: the version governing the horizon date stays, with the nearest after it; the furthest go first.
    @Test func versionsFarAheadNeverPushOutTheOneInForce() {
        let base = try! RegimenTemplate.hrze6.regimen(start: day("2026-11-01"), doses: doses, timesOfDay: [eight])
        let inForce = CheckInSchedule.Version(seq: 1, regimen: base)
        let future = (0..<40).map { k in
            CheckInSchedule.Version(seq: UInt64(10 + k),
                                    regimen: try! Regimen(effectiveFrom: day("2099-01-01").adding(days: k), timeZone: tokyo, phases: base.phases))
        }
        let schedule = CheckInSchedule.latest(([inForce] + future).shuffled(), count: 32, governing: day("2026-11-20"))
        #expect(schedule.versions.count == 32 && schedule.versions.first?.seq == 1)
        #expect(schedule.versions.last?.effectiveFrom == day("2099-01-31"))
        #expect(schedule.version(on: day("2026-11-20"))?.seq == 1)
        // Older versions leave before any in force or ahead: with 40 past ones, the one in force and those after stay.
        let past = (0..<40).map { k in
            CheckInSchedule.Version(seq: UInt64(200 + k),
                                    regimen: try! Regimen(effectiveFrom: day("2025-01-01").adding(days: k), timeZone: tokyo, phases: base.phases))
        }
        let mixed = CheckInSchedule.latest(past + [inForce] + Array(future.prefix(3)), count: 32, governing: day("2026-11-20"))
        #expect(mixed.versions.count == 32 && mixed.version(on: day("2026-11-20"))?.seq == 1)
        #expect(mixed.versions.last?.effectiveFrom == day("2099-01-03") && mixed.versions.first?.effectiveFrom == day("2025-01-13"))
    }

    @Test func aMailProgramThatHangsIsStoppedAtItsDeadline() throws {
        let hanging = SendmailTransport(executable: "/bin/sh", arguments: ["-c", "cat >/dev/null; sleep 60"], deadline: .seconds(1))
        let message = try NoticeMessage.missedDoseNotice(from: "noreply@hokenjo.example.jp", to: "sato@hokenjo.example.jp", nickname: "Taro",
                                                         signInURL: nil, date: at("2026-11-09T02:30:00Z"))
        let error = #expect(throws: MikataError.self) { try hanging.send(message) }
        #expect(error?.code == .io && error?.message.contains("did not finish") == true)
    }
}
