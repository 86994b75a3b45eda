public import Foundation
import MikataAdherence
import MikataCrypto
import MikataFormat
import MikataVault

// Issue 10 §4: missed-dose notices to supporters (docs/ADHERENCE.md, "Missed-dose notices"; docs/SECURITY.md,
// "Missed-dose notices"; docs/FORMAT.md §7.15). The patient consents to share their check-in schedule alone (times of
// day, weekdays, dates, time zone: no medicine or dose); the service keeps it in the vault's notice file, sealed under
// the store root key, with the slots answered by dose events appended through the service and the supporters who
// opted in (their address and the nickname they know the patient by). The checker reads only notice files, never a
// vault: it works while nobody is signed in.

/// The patient's consent to missed-dose notices, as the service keeps it.
public struct NoticeConsent: Sendable, Hashable {
    /// Whether the patient consented (a notice file exists).
    public let enabled: Bool
    /// Minutes after a slot's time before it counts as missed (nil when not enabled).
    public let graceMinutes: Int?
    /// When the patient consented; slots due before then are never notified.
    public let consentedAt: Date?
    /// Regimen versions in the shared schedule (stripped: times, weekdays, dates, zone).
    public let scheduleVersions: Int
    /// The supporters who opted in, by id.
    public let supporters: [SupporterID]
}

/// A supporter's opt-in to one patient's notices.
public struct NoticeSubscription: Sendable, Hashable {
    /// The patient's vault.
    public let vaultId: VaultID
    /// Whether the supporter gets notices for this patient.
    public let enabled: Bool
    /// The nickname the notices name the patient by (nil when not enabled).
    public let nickname: String?
}

/// What one run of the checker did (counts only).
public struct NoticeRunSummary: Sendable, Hashable {
    /// Notice files read.
    public let vaultsChecked: Int
    /// Messages the transport accepted.
    public let sent: Int
    /// Messages the transport refused: left unsent, tried again at the next run.
    public let failed: Int
    /// Notice files that could not be read (damaged or tampered: their class is not in the summary).
    public let unreadable: Int
    /// Notices not sent because their file has no room left to mark them sent (docs/ADHERENCE.md): mailed, they
    /// would go out again at every run. The vault's notices stay off until check-ins and marks are pruned.
    public var unmarkable: Int = 0
}

/// The checker's mail settings.
public struct NoticeMailSettings: Sendable, Hashable {
    /// The sender address (`notices.from`).
    public let from: String
    /// Where supporters sign in (`notices.signInURL`), printed in the notice; nil for none.
    public let signInURL: String?

    /// Settings.
    /// - Throws: `MikataError(.invalidInput)` for a sender that is not a plain address, or a sign-in URL that is
    ///   not `https://` or `http://` or holds white space.
    public init(from: String, signInURL: String? = nil) throws {
        guard NoticeMessage.isHeaderSafeAddress(from) else { throw MikataError(.invalidInput, "notices.from: not a plain e-mail address") }
        if let u = signInURL {
            guard u.hasPrefix("https://") || u.hasPrefix("http://"), !u.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 }) else {
                throw MikataError(.invalidInput, "notices.signInURL: must be an http(s) URL without white space")
            }
        }
        self.from = from
        self.signInURL = signInURL
    }
}

/// The notice file's plaintext (docs/FORMAT.md §7.15): canonical member order by JSONEncoder's sorted keys.
struct NoticeDocument: Codable, Equatable {
    struct Subscriber: Codable, Equatable {
        var supporterId: String
        var email: String
        var nickname: String
        /// When they opted in (ISO 8601): slots due before are not notified to them.
        var since: String
        /// Slots notified to them (`YYYY-MM-DDTHH:MM`), pruned with the check-ins.
        var sent: [String]
    }
    var format = "mikata-notices"
    var version = 1
    var vaultId: String
    var graceMinutes: Int
    var consentedAt: String
    var schedule: CheckInSchedule
    /// Slots answered by a dose event appended through the service, sorted, pruned after `retentionDays`.
    var checkIns: [String]
    var supporters: [Subscriber]

    static func decode(_ bytes: [UInt8]) throws -> NoticeDocument {
        var data = Data(bytes)
        defer { data.resetBytes(in: 0..<data.count) }
        let d: NoticeDocument
        do { d = try JSONDecoder().decode(NoticeDocument.self, from: data) } catch {
            throw MikataError(.corrupted, "a notice file opens but its content is not what this build writes")
        }
        guard d.format == "mikata-notices" else { throw MikataError(.corrupted, "a notice file is not a notice file") }
        guard d.version == 1 else { throw MikataError(.unsupported, "a notice file's version is not supported by this build") }
        return d
    }

    func encoded() -> [UInt8] {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array((try? e.encode(self)) ?? Data())
    }

    /// Whether the store would write this document (sealed, it stays within `SealedDocumentFile.maxCiphertextLength`).
    var fitsItsFile: Bool {
        var plain = encoded()
        defer { Sodium.wipe(&plain) }
        return plain.count + XChaCha20Poly1305.tagLength <= SealedDocumentFile.maxCiphertextLength
    }

    /// Drops check-ins and sent marks of slots older than `NoticeRules.retentionDays` before `now` (UTC dates):
    /// the checker never looks that far back, and the file stays small.
    mutating func prune(now: Date) {
        let today = LocalDate(now, in: TimeZone(identifier: "UTC")!)
        let cutoff = today.adding(days: -NoticeRules.retentionDays)
        let horizon = today.adding(days: NoticeRules.checkInHorizonDays)
        func keep(_ s: String) -> Bool { CheckInSlot(s).map { $0.date >= cutoff && $0.date <= horizon } ?? false }
        checkIns = checkIns.filter(keep)
        for i in supporters.indices { supporters[i].sent = supporters[i].sent.filter(keep) }
    }
}

/// The checker's fixed rules (docs/ADHERENCE.md, "Missed-dose notices").
public enum NoticeRules {
    /// A dose event counts as a check-in only for a slot of the schedule at most this many days after its
    /// `recordedAt` (UTC dates); the checker also drops check-ins this far ahead of its clock.
    public static let checkInHorizonDays = 2
    /// At most this many schedule versions are kept (regimen changes): the one in force `retentionDays` ago and the
    /// nearest after it (`CheckInSchedule.latest(_:count:governing:)`); older ones leave first, then the furthest in
    /// the future, so versions dated far ahead never push out the one the checker needs.
    public static let maxScheduleVersions = 32
    /// The most a notice file's check-in schedule may take, encoded (bytes): a quarter of the file's 1 MiB bound, so
    /// check-ins and sent marks always have room. Past it, versions leave until the schedule fits: first those that
    /// only governed days gone by (oldest first), then the furthest in the future; the version in force on `now`'s
    /// date (UTC) always stays.
    public static let scheduleBudgetBytes = 256 * 1024

    /// `versions` as a notice file keeps them: at most `maxScheduleVersions` (`CheckInSchedule.latest` governing
    /// `scheduleHorizon(now)`), then fewer while their encoding passes `scheduleBudgetBytes`, as that describes.
    static func keptSchedule(_ versions: [CheckInSchedule.Version], now: Date) -> CheckInSchedule {
        var kept = CheckInSchedule.latest(versions, count: maxScheduleVersions, governing: scheduleHorizon(now)).versions
        let today = LocalDate(now, in: TimeZone(identifier: "UTC")!)
        func size() -> Int { (try? JSONEncoder().encode(CheckInSchedule(versions: kept)).count) ?? 0 }
        while kept.count > 1, size() > scheduleBudgetBytes {
            // Sorted by (effectiveFrom, seq): the one in force today is the last that starts on or before it.
            let inForce = kept.lastIndex { $0.effectiveFrom <= today }
            if let inForce, inForce > 0 { kept.removeFirst() } else { kept.removeLast() }
        }
        return CheckInSchedule(versions: kept)
    }

    /// The date whose governing version (and those after it) a kept schedule holds: `retentionDays` before `now`'s
    /// UTC date, which covers the lookback, the longest grace and any time zone.
    static func scheduleHorizon(_ now: Date) -> LocalDate {
        LocalDate(now, in: TimeZone(identifier: "UTC")!).adding(days: -retentionDays)
    }
    /// The checker looks back at most this far (48 h): after an outage it does not mail supporters about old slots.
    public static let lookback: Duration = .seconds(48 * 3600)
    /// Grace periods a patient may choose, in minutes (15 minutes to 24 hours; default 120, as reports use).
    public static let graceMinutes = 15...1440
    /// The default grace period, in minutes.
    public static let defaultGraceMinutes = 120
    /// Check-ins and sent marks are kept this many days (covers `lookback` plus the longest grace and any zone).
    public static let retentionDays = 5
}

extension VaultService {
    // MARK: the patient's consent

    /// Turns missed-dose notices on or off for the patient's vault (docs/SECURITY.md, "Missed-dose notices").
    /// On: one streamed pass over the vault's `medication-request` records (one access-log read) builds the check-in
    /// schedule (times of day, weekdays, dates, time zone; no medicine or dose), which the notice file keeps under
    /// the store root key with `graceMinutes`; turning it on again refreshes the schedule and grace and keeps the
    /// supporters' opt-ins. Off: the notice file is removed (schedule, check-ins and every supporter's opt-in and
    /// address). Both are logged (`notice-consent`, detail `on` / `off`).
    /// - Parameters:
    ///   - graceMinutes: `NoticeRules.graceMinutes` (default 120).
    /// - Throws: `MikataError` `.invalidInput` (grace), `.closed`, `.busy`, `.tampered`, `.corrupted`, `.erased`, `.io`.
    public func setNoticeConsent(_ session: PatientSession, enabled: Bool, graceMinutes: Int = NoticeRules.defaultGraceMinutes,
                                 now: Date = Date()) async throws -> NoticeConsent {
        guard NoticeRules.graceMinutes.contains(graceMinutes) else {
            throw MikataError(.invalidInput, "graceMinutes: must be \(NoticeRules.graceMinutes.lowerBound) to \(NoticeRules.graceMinutes.upperBound)")
        }
        let key = try session.ownerKey()
        let id = session.vaultId
        return try await inVault(id) { store in
            guard enabled else {
                try store.removeNoticeFile(vaultId: id.bytes)
                try store.log("notice-consent", vaultId: id.bytes, actor: "patient", role: "patient", detail: "off")
                return NoticeConsent(enabled: false, graceMinutes: nil, consentedAt: nil, scheduleVersions: 0, supporters: [])
            }
            let vault = try self.handles.open(id.bytes, store)
            var schedule = CheckInSchedule()
            // The patient's and linked supporters' regimens (never a write-only service's), the latest
            // `maxScheduleVersions` of them: collected first, then made one schedule (no sort per record).
            var versions: [CheckInSchedule.Version] = []
            try vault.forEachRecord(VaultSession(ownerKey: key), types: [AdherenceRecordType.regimen.rawValue]) { r in
                if r.author.role != "service", let regimen = try? Regimen.decode(json: r.data) {
                    versions.append(CheckInSchedule.Version(seq: r.seq, regimen: regimen))
                }
                return true
            }
            schedule = NoticeRules.keptSchedule(versions, now: now)
            let doc: NoticeDocument = try store.updateNoticeFile(vaultId: id.bytes) { plain in
                var doc = try plain.map(NoticeDocument.decode)
                    ?? NoticeDocument(vaultId: id.hex, graceMinutes: graceMinutes, consentedAt: now.formatted(.iso8601), schedule: schedule,
                                      checkIns: [], supporters: [])
                doc.graceMinutes = graceMinutes
                doc.schedule = schedule
                doc.prune(now: now)
                plain = doc.encoded()
                return doc
            }
            try store.log("notice-consent", vaultId: id.bytes, actor: "patient", role: "patient", detail: "on")
            return Self.consent(doc)
        }
    }

    /// The patient's notice consent as the service keeps it.
    /// - Throws: `MikataError` `.closed`, `.busy`, `.tampered`, `.corrupted`, `.io`.
    public func noticeConsent(_ session: PatientSession) async throws -> NoticeConsent {
        _ = try session.ownerKey()
        let id = session.vaultId
        return try await blocking { store in
            guard var plain = try store.readNoticeFile(vaultId: id.bytes) else {
                return NoticeConsent(enabled: false, graceMinutes: nil, consentedAt: nil, scheduleVersions: 0, supporters: [])
            }
            defer { Sodium.wipe(&plain) }
            return Self.consent(try NoticeDocument.decode(plain))
        }
    }

    static func consent(_ doc: NoticeDocument) -> NoticeConsent {
        NoticeConsent(enabled: true, graceMinutes: doc.graceMinutes, consentedAt: try? Date(doc.consentedAt, strategy: .iso8601),
                      scheduleVersions: doc.schedule.versions.count,
                      supporters: doc.supporters.compactMap { [UInt8](hex: $0.supporterId).map { SupporterID(trusted: $0) } })
    }

    // MARK: a supporter's opt-in

    /// A linked supporter opts in to (or out of) one patient's missed-dose notices. On: the vault must link the
    /// supporter (it is unlocked as them: a read of the profile when no nickname is given, logged), the patient must
    /// have consented, and `email` must be the supporter's own account address (the store resolves it to their id),
    /// so notices go to nobody the patient did not link. The address and nickname are kept in the notice file under
    /// the store root key; notices cover slots due from now on. Off: the opt-in and address are removed.
    /// - Parameters:
    ///   - email: the supporter's account address (required when `enabled`).
    ///   - nickname: how notices name the patient (1–256 bytes, no control characters); nil: the patient's own
    ///     nickname, as `linkedPatients` shows it.
    /// - Throws: `MikataError` `.invalidInput` (address not theirs, nickname), `.notPermitted` (not linked or revoked;
    ///   the patient has not consented), `.closed`, `.busy`, `.tampered`, `.io`.
    public func setNoticeSubscription(_ session: SupporterSession, of vaultId: VaultID, enabled: Bool, email: String? = nil,
                                      nickname: String? = nil, now: Date = Date()) async throws -> NoticeSubscription {
        let identity = try session.current()
        guard enabled else {
            try await blocking { store in
                try store.updateNoticeFile(vaultId: vaultId.bytes) { plain in
                    guard var doc = try plain.map(NoticeDocument.decode) else { return }
                    doc.supporters.removeAll { $0.supporterId == identity.id.hex }
                    plain = doc.encoded()
                }
            }
            return NoticeSubscription(vaultId: vaultId, enabled: false, nickname: nil)
        }
        guard let email else { throw MikataError(.invalidInput, "email: required to turn notices on") }
        let given: String?
        do { given = try nickname.map { try HumanInput.name($0, what: "nickname") } } catch { throw MikataError.from(error) }
        return try await inVault(vaultId) { store in
            let notYours = MikataError(.invalidInput, "email: must be the address of your own supporter account")
            let normalised: String
            do {
                normalised = try Store.normalise(email: email)
                guard try store.supporterId(email: normalised) == identity.id else { throw notYours }
            } catch VaultError.notFound { throw notYours }
            guard NoticeMessage.isHeaderSafeAddress(normalised) else { throw notYours }
            let vault = try self.handles.open(vaultId.bytes, store)
            let s = try vault.unlock(supporter: identity)
            var name = given
            if name == nil {
                try vault.forEachRecord(s, types: [Vault.profileRecordType], includeInternal: true) { r in
                    if let o = try? JSONSerialization.jsonObject(with: Data(r.data)) as? [String: Any], let n = o["nickname"] as? String {
                        name = n
                        return false
                    }
                    return true
                }
            }
            guard let nick = name.flatMap({ try? HumanInput.name($0, what: "nickname") }) else {
                throw MikataError(.invalidInput, "nickname: the patient has none; give one")
            }
            try store.updateNoticeFile(vaultId: vaultId.bytes) { plain in
                guard var doc = try plain.map(NoticeDocument.decode) else {
                    throw MikataError(.notPermitted, "the patient has not turned on missed-dose notices")
                }
                let entry = NoticeDocument.Subscriber(supporterId: identity.id.hex, email: normalised, nickname: nick,
                                                      since: now.formatted(.iso8601), sent: [])
                if let i = doc.supporters.firstIndex(where: { $0.supporterId == identity.id.hex }) {
                    doc.supporters[i].email = normalised
                    doc.supporters[i].nickname = nick
                } else {
                    doc.supporters.append(entry)
                }
                plain = doc.encoded()
            }
            try store.log("notice-subscribe", vaultId: vaultId.bytes, actor: "supporter:\(identity.id.hex)", role: "supporter", detail: "on")
            return NoticeSubscription(vaultId: vaultId, enabled: true, nickname: nick)
        }
    }

    // MARK: hooks on writes the service already makes

    /// After an append through the service: a dose event records the slot it answers (date and time, not its
    /// content); a regimen version refreshes the schedule. Only when the patient consented (a notice file exists).
    /// Failures are swallowed: the record is written, and an error would invite the client to write it twice; the
    /// worst outcome is one notice too many.
    ///
    /// A dose event counts only for a slot of the schedule at most `NoticeRules.retentionDays` before and
    /// `checkInHorizonDays` after its `recordedAt` (which a write may not put in the future), so the file holds at
    /// most the schedule's own slots. A regimen changes the schedule only when the patient or a linked supporter
    /// wrote it (`byService` false): a write-only service may report doses (a connected pill box), not decide when
    /// a dose is due; and only up to `NoticeRules.maxScheduleVersions` versions. Vaults without a notice file cost
    /// one `stat`, no lock.
    func noteAppend(_ store: Store, vaultId: [UInt8], type: String, data: [UInt8], seq: UInt64, byService: Bool = false) {
        guard type == AdherenceRecordType.doseEvent.rawValue || (type == AdherenceRecordType.regimen.rawValue && !byService) else { return }
        guard store.hasNoticeFile(vaultId: vaultId) else { return }
        _ = try? store.updateNoticeFile(vaultId: vaultId) { plain in
            guard var doc = try plain.map(NoticeDocument.decode) else { return }
            if type == AdherenceRecordType.doseEvent.rawValue {
                guard let e = try? DoseEvent.decode(json: data) else { return }
                let slot = CheckInSlot(answering: e.scheduled)
                let recorded = LocalDate(e.recordedAt, in: TimeZone(identifier: "UTC")!)
                guard slot.date >= recorded.adding(days: -NoticeRules.retentionDays), slot.date <= recorded.adding(days: NoticeRules.checkInHorizonDays),
                      doc.schedule.slots(on: slot.date).contains(where: { $0.description == slot.description }) else { return }
                guard !doc.checkIns.contains(slot.description) else { return }
                doc.checkIns = (doc.checkIns + [slot.description]).sorted()  // pruned by the checker, on its clock
            } else {
                guard let r = try? Regimen.decode(json: data) else { return }
                // The version in force and the nearest after it stay (those governing only days long past leave first,
                // then the furthest in the future).
                doc.schedule = NoticeRules.keptSchedule(doc.schedule.versions + [CheckInSchedule.Version(seq: seq, regimen: r)], now: Date())
            }
            plain = doc.encoded()
        }
    }

    /// After a revocation: the supporter's opt-in and address leave the notice file (the checker also skips a
    /// supporter whose link is gone). Failures are swallowed for the same reason as `noteAppend`.
    func noteRevocation(_ store: Store, vaultId: [UInt8], supporterId: [UInt8]) {
        _ = try? store.updateNoticeFile(vaultId: vaultId) { plain in
            guard var doc = try plain.map(NoticeDocument.decode) else { return }
            doc.supporters.removeAll { $0.supporterId == supporterId.hex }
            plain = doc.encoded()
        }
    }

    // MARK: the checker

    /// Sends the missed-dose notices due at `now` (docs/ADHERENCE.md, "Missed-dose notices"). Reads notice files and
    /// each vault's signed header (whom it links: no key, no record). For each vault: the slots whose time plus the patient's grace fell due within
    /// `NoticeRules.lookback` before `now`, after the consent, without a check-in; for each opted-in supporter still
    /// linked (`links/`), the slots due after their opt-in and not yet notified to them; if any, one message (the
    /// nickname, "sign in to see details") through `transport`, then those slots are marked sent in the file.
    /// At least once: a crash between the transport's acceptance and the mark sends that notice again at the next
    /// run; a transport failure leaves it unsent for the next run (until it leaves the lookback). One checker at a
    /// time across processes (`notices/run.lock`).
    /// - Throws: `MikataError` `.busy` (another checker holds the lock), `.io`. A damaged notice file is counted in
    ///   `unreadable` and skipped, never fatal to the run.
    public func sendDueNotices(now: Date = Date(), transport: any NoticeTransport, settings: NoticeMailSettings) async throws -> NoticeRunSummary {
        try await blocking { store in
            try store.withNoticeRun {
                var checked = 0, sent = 0, failed = 0, unreadable = 0, unmarkable = 0
                for id in store.noticeVaultIds() {
                    checked += 1
                    let doc: NoticeDocument
                    do {
                        guard var plain = try store.readNoticeFile(vaultId: id) else { continue }
                        defer { Sodium.wipe(&plain) }
                        doc = try NoticeDocument.decode(plain)
                    } catch {
                        unreadable += 1
                        continue
                    }
                    let consented = (try? Date(doc.consentedAt, strategy: .iso8601)) ?? now
                    let after = max(consented, now.addingTimeInterval(-Double(NoticeRules.lookback.components.seconds)))
                    let missed = doc.schedule.dueSlots(after: after, through: now, grace: .seconds(doc.graceMinutes * 60))
                        .filter { !doc.checkIns.contains($0.slot.description) }
                    defer {  // old check-ins and sent marks go, on the checker's clock (no write when none is old)
                        _ = try? store.updateNoticeFile(vaultId: id) { plain in
                            guard var d = try plain.map(NoticeDocument.decode) else { return }
                            d.prune(now: now)
                            plain = d.encoded()
                        }
                    }
                    // Whom the vault's signed header links now (not the link hints alone, which a disk writer could
                    // plant): a vault that cannot be opened (shredded, rolled back, damaged) gets no notice.
                    let holders: Set<String>
                    do { holders = Set(try store.openVault(id: id).keyShareHolders().map(\.hex)) } catch {
                        unreadable += 1
                        continue
                    }
                    for sub in doc.supporters {
                        guard let sid = [UInt8](hex: sub.supporterId), holders.contains(sub.supporterId),
                              store.linkedVaults(supporterId: sid).contains(id) else {
                            self.noteRevocation(store, vaultId: id, supporterId: [UInt8](hex: sub.supporterId) ?? [])
                            continue
                        }
                        let since = (try? Date(sub.since, strategy: .iso8601)) ?? now
                        let slots = missed.filter { $0.dueAt > since && !sub.sent.contains($0.slot.description) }.map(\.slot.description)
                        guard !slots.isEmpty else { continue }
                        // Still unanswered and unsent now, under the file's lock (a check-in may have just arrived), and
                        // markable: a notice whose sent mark the file has no room for would go out again at every run.
                        let (still, markable): ([String], Bool) = (try? store.updateNoticeFile(vaultId: id) { plain -> ([String], Bool) in
                            guard let p = plain, var d = try? NoticeDocument.decode(p),
                                  let i = d.supporters.firstIndex(where: { $0.supporterId == sub.supporterId }) else { return ([], true) }
                            let still = slots.filter { !d.checkIns.contains($0) && !d.supporters[i].sent.contains($0) }
                            d.supporters[i].sent = Array(Set(d.supporters[i].sent).union(still)).sorted()
                            d.prune(now: now)
                            return (still, d.fitsItsFile)
                        }) ?? ([], true)
                        guard !still.isEmpty else { continue }
                        guard markable else {
                            unmarkable += 1
                            continue
                        }
                        do {
                            let message = try NoticeMessage.missedDoseNotice(from: settings.from, to: sub.email, nickname: sub.nickname,
                                                                             signInURL: settings.signInURL, date: now)
                            try transport.send(message)
                        } catch {
                            failed += 1
                            continue
                        }
                        sent += 1
                        _ = try? store.updateNoticeFile(vaultId: id) { plain in
                            guard var d = try plain.map(NoticeDocument.decode),
                                  let i = d.supporters.firstIndex(where: { $0.supporterId == sub.supporterId }) else { return }
                            d.supporters[i].sent = Array(Set(d.supporters[i].sent).union(still)).sorted()
                            d.prune(now: now)
                            plain = d.encoded()
                        }
                    }
                }
                if sent > 0 || failed > 0 || unreadable > 0 || unmarkable > 0 {  // quiet runs leave no entry (their rhythm would be a signal)
                    try? store.log("notices-run", vaultId: nil, actor: "service", role: "operator",
                                   detail: "\(checked) vaults, \(sent) sent, \(failed) failed, \(unreadable) unreadable"
                                       + (unmarkable > 0 ? ", \(unmarkable) not sent (no room to mark them sent)" : ""))
                }
                return NoticeRunSummary(vaultsChecked: checked, sent: sent, failed: failed, unreadable: unreadable, unmarkable: unmarkable)
            }
        }
    }
}
