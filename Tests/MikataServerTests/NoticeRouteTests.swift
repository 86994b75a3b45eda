import Configuration
import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import MikataAdherence
import Synchronization
import Testing
@testable import MikataServer
import MikataService

/// Issue 10 §4 over HTTP: the patient's consent, a supporter's opt-in (404 unlinked or without consent), the checker's
/// settings.
@Suite struct NoticeRouteTests {
    @Test func consentAndOptIn() async throws {
        let f = try await ServerFixture.make()
        try await f.run { c in
            let p = try await c.patient("np@example.com", nickname: "Nao")
            let s = try await c.supporter("ns@example.com")
            try await AdherenceRouteTests.writeRegimen(c, token: p.token)
            let off = try await c.get("/v1/patient/notices", token: p.token)
            #expect(off.code == 200 && off.json["enabled"] as? Bool == false && off.json["graceMinutes"] == nil, "\(off.body)")
            // Unlinked: 404; linked but no consent: 404 too (the supporter learns nothing more).
            #expect(try await c.call(.put, "/v1/supporter/patients/\(p.vaultId)/notices", token: s.token, json: #"{"enabled":true}"#).code == 404)
            try await c.link(patientToken: p.token, supporterEmail: "ns@example.com", fingerprint: s.fingerprint)
            #expect(try await c.call(.put, "/v1/supporter/patients/\(p.vaultId)/notices", token: s.token, json: #"{"enabled":true}"#).code == 404)

            let bad = try await c.call(.put, "/v1/patient/notices", token: p.token, json: #"{"enabled":true,"graceMinutes":5}"#)
            #expect(bad.code == 400 && bad.isProblem)
            #expect(try await c.call(.put, "/v1/patient/notices", token: p.token, json: #"{"enabled":true,"grace":60}"#).field == "/grace")
            let on = try await c.call(.put, "/v1/patient/notices", token: p.token, json: #"{"enabled":true,"graceMinutes":90}"#)
            #expect(on.code == 200 && on.json["enabled"] as? Bool == true && on.json["graceMinutes"] as? Int == 90
                && on.json["scheduleVersions"] as? Int == 1, "\(on.body)")
            // The address defaults to the one the supporter signed in with; another address is refused.
            let other = try await c.call(.put, "/v1/supporter/patients/\(p.vaultId)/notices", token: s.token,
                                         json: #"{"enabled":true,"email":"np@example.com"}"#)
            #expect(other.code == 400 && other.isProblem)
            let sub = try await c.call(.put, "/v1/supporter/patients/\(p.vaultId)/notices", token: s.token, json: #"{"enabled":true}"#)
            #expect(sub.code == 200 && sub.json["nickname"] as? String == "Nao" && sub.json["vaultId"] as? String == p.vaultId, "\(sub.body)")
            let status = try await c.get("/v1/patient/notices", token: p.token)
            #expect((status.json["supporters"] as? [String])?.count == 1)
            // Roles: a patient token on the supporter route and the reverse are refused.
            #expect(try await c.get("/v1/patient/notices", token: s.token).code == 403)
            let out = try await c.call(.put, "/v1/supporter/patients/\(p.vaultId)/notices", token: s.token, json: #"{"enabled":false}"#)
            #expect(out.code == 200 && out.json["enabled"] as? Bool == false)
            #expect((try await c.get("/v1/patient/notices", token: p.token).json["supporters"] as? [String])?.isEmpty == true)
        }
    }

    @Test func checkerSettings() throws {
        func read(_ values: [String: ConfigValue]) throws -> NoticeConfiguration {
            try NoticeConfiguration(reader: ConfigReader(provider: InMemoryProvider(values: Dictionary(uniqueKeysWithValues: values.map {
                (AbsoluteConfigKey($0.key.split(separator: ".").map(String.init)), $0.value)
            }))))
        }
        let defaults = try read([:])
        #expect(!defaults.enabled && defaults.intervalSeconds == 300 && defaults.transport == "msmtp")
        #expect(defaults.mailTransport().arguments == ["-C", "/dev/null", "--host=127.0.0.1", "--port=25", "--auth=off", "--tls=off", "--timeout=30", "-t", "--read-envelope-from"])
        #expect(throws: MikataError.self) { _ = try read(["notices.enabled": .init(.bool(true), isSecret: false)]) }  // no sender
        let on = try read(["notices.enabled": .init(.bool(true), isSecret: false), "notices.from": .init(.string("noreply@example.jp"), isSecret: false),
                           "notices.transport": .init(.string("sendmail"), isSecret: false), "notices.intervalSeconds": .init(.int(60), isSecret: false)])
        #expect(on.enabled && on.intervalSeconds == 60 && on.mailTransport().executable == "/usr/sbin/sendmail"
            && on.mailTransport().arguments == ["-t", "-i"])
        #expect(throws: MikataError.self) { _ = try read(["notices.intervalSeconds": .init(.int(1), isSecret: false)]) }
        #expect(throws: MikataError.self) { _ = try read(["notices.transport": .init(.string("smtp"), isSecret: false)]) }
    }
}

/// Records what the checker hands over.
final class CollectingTransport: NoticeTransport {
    let sent = Mutex<[NoticeMessage]>([])
    func send(_ message: NoticeMessage) throws { sent.withLock { $0.append(message) } }
}

/// A clock the test moves.
final class SettableDate: Sendable {
    private let date: Mutex<Date>
    init(_ d: Date) { date = Mutex(d) }
    var value: Date { date.withLock { $0 } }
    func advance(_ seconds: Double) { date.withLock { $0 = $0.addingTimeInterval(seconds) } }
}

@Suite struct NoticeCheckerServiceTests {
    /// `mikata serve`'s checker service: one run on an injected clock sends the due notice once; it is only
    /// installed when `notices.enabled`.
    @Test func theServeCheckerSendsOnItsClock() async throws {
        let f = try await ServerFixture.make { c in
            c.notices.enabled = true
            c.notices.from = "noreply@example.jp"
        }
        #expect(f.server.noticeServices().count == 1)
        let plain = try await ServerFixture.make()
        #expect(plain.server.noticeServices().isEmpty)
        try await f.run { c in
            let p = try await c.patient("cp@example.com", nickname: "Chika")
            let s = try await c.supporter("cs@example.com")
            // Consent and opt-in are made on the wall clock: a regimen from yesterday (JST), one dose at 08:00.
            let start = LocalDate(Date(), in: TimeZone(identifier: "Asia/Tokyo")!).adding(days: -1)
            let regimen = try RegimenTemplate.hrze6.regimen(start: start, doses: ["isoniazid": .init(value: "300", unit: "mg"),
                                                                                  "rifampicin": .init(value: "600", unit: "mg"),
                                                                                  "pyrazinamide": .init(value: "1500", unit: "mg"),
                                                                                  "ethambutol": .init(value: "1000", unit: "mg")],
                                                            timesOfDay: [TimeOfDay("08:00")!])
            let r = try await c.post("/v1/patient/records", #"{"type":"medication-request","data":\#(String(decoding: regimen.json(), as: UTF8.self))}"#, token: p.token)
            #expect(r.code == 201)
            try await c.link(patientToken: p.token, supporterEmail: "cs@example.com", fingerprint: s.fingerprint)
            #expect(try await c.call(.put, "/v1/patient/notices", token: p.token, json: #"{"enabled":true}"#).code == 200)
            #expect(try await c.call(.put, "/v1/supporter/patients/\(p.vaultId)/notices", token: s.token, json: #"{"enabled":true}"#).code == 200)
            // A day after the opt-in, on the checker's own clock, one 08:00 slot has passed its grace without a dose event.
            let transport = CollectingTransport()
            let clock = SettableDate(Date().addingTimeInterval(86_400))
            let checker = NoticeChecker(service: f.server.service, transport: transport, settings: try! f.server.configuration.notices.mailSettings(),
                                        interval: .seconds(60), logger: Logger(label: "test"), now: { clock.value })
            let first = try #require(await checker.runOnce())
            #expect(first.sent == 1 && transport.sent.withLock { $0.count } == 1)
            #expect(transport.sent.withLock { $0[0].to } == "cs@example.com" && transport.sent.withLock { $0[0].body.contains("Chika") })
            clock.advance(60)
            #expect(await checker.runOnce()?.sent == 0)
        }
    }
}
