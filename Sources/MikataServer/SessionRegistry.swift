import Logging
import HTTPTypes
import MikataService
import Synchronization

/// Who a request acts as, once its bearer token is checked.
enum Principal: Sendable {
    /// A patient's unlocked vault; `email` is kept (in memory only) for the operations that re-check the password.
    case patient(PatientSession, email: String)
    /// A supporter's unlocked account.
    case supporter(SupporterSession, email: String)
    /// An administrator who passed password + TOTP: no keys, no access to health data. `enrolment` is the
    /// enrolment id the login matched (`VaultService.authenticateAdministrator`): the session ends when the
    /// administrator is deleted, even if one of the same name is created again.
    case administrator(name: String, enrolment: String)

    /// The role's name (logs, metrics).
    var role: String {
        switch self {
        case .patient: return "patient"
        case .supporter: return "supporter"
        case .administrator: return "administrator"
        }
    }

    /// The account every session of the same login shares ("log out everywhere"): a vault id, supporter id or
    /// administrator name, prefixed by role.
    var account: String {
        switch self {
        case .patient(let s, _): return "patient:" + s.vaultId.hex
        case .supporter(let s, _): return "supporter:" + s.supporterId.hex
        case .administrator(let name, _): return "administrator:" + name
        }
    }

    /// Zeroes the session's keys.
    func close() {
        switch self {
        case .patient(let s, _): s.close()
        case .supporter(let s, _): s.close()
        case .administrator: break
        }
    }
}

/// The sessions of one server (docs/SECURITY.md, "Sessions"): bearer token hash → principal, with an idle and an
/// absolute timeout. Only BLAKE2b-256 hashes of tokens are kept; a session that ends (logout, expiry, "log out
/// everywhere", shutdown) has its keys zeroed at once.
final class SessionRegistry: Sendable {
    struct Entry: Sendable {
        let principal: Principal
        /// The client's address as the throttle counts it (`LoginThrottle.addressKey`: an IPv6 address by its /64).
        let address: String
        let created: ContinuousClock.Instant
        var lastUsed: ContinuousClock.Instant
    }

    private let entries = Mutex<[[UInt8]: Entry]>([:])

    /// When each account's sessions were last ended (`close(account:)`), on a counter that only grows: a login whose
    /// password check began before (its `ticket`) opens no session, so a login racing a password change or a recovery
    /// cannot outlive it. Entries older than `closeMemory` are dropped (no login check runs that long).
    private struct Closes: ~Copyable {
        var tick: UInt64 = 0
        var closedAt: [String: (tick: UInt64, at: ContinuousClock.Instant)] = [:]
    }
    private let closes = Mutex(Closes())
    private static let closeMemory: Duration = .seconds(600)
    let idleTimeout: Duration
    let absoluteTimeout: Duration
    let maxSessions: Int
    /// The most sessions one account holds; a login beyond ends that account's oldest session (so one account
    /// cannot fill the table and lock everyone else out).
    let maxPerAccount: Int
    /// The most sessions one client address holds (an IPv6 address by its /64); a login beyond is refused (429), so
    /// accounts registered from one address cannot fill the table either.
    let maxPerAddress: Int
    /// Places only administrators' logins may take: patients and supporters, however many, leave them free.
    let administratorReserve: Int
    /// The time source (tests pass a manual one, so no test depends on how fast the machine is).
    private let now: @Sendable () -> ContinuousClock.Instant
    /// Called with the open-session count after every change (the `/metrics` gauge).
    let onCountChange: @Sendable (Int) -> Void

    /// Refused requests per supporter account (`RefusalThrottle`), checked by `SessionMiddleware`, and per service
    /// key, checked by the service append route.
    let refusals: RefusalThrottle

    init(idleTimeout: Duration, absoluteTimeout: Duration, maxSessions: Int, maxPerAccount: Int = 10, maxPerAddress: Int = 500,
         refusals: RefusalThrottle = RefusalThrottle(),
         now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now },
         onCountChange: @escaping @Sendable (Int) -> Void = { _ in }) {
        self.now = now
        self.refusals = refusals
        self.idleTimeout = idleTimeout
        self.absoluteTimeout = absoluteTimeout
        self.maxSessions = maxSessions
        self.maxPerAccount = max(1, maxPerAccount)
        self.maxPerAddress = max(1, maxPerAddress)
        administratorReserve = min(16, maxSessions / 10)
        self.onCountChange = onCountChange
    }

    /// The current point of the close counter: taken before a login's password check, given back to `open`.
    func ticket() -> UInt64 { closes.withLock { $0.tick } }

    /// Opens a session for `principal`, from a client at `address` (`LoginThrottle.addressKey` form).
    /// - Parameters:
    ///   - ticket: `ticket()` as it was before the login's password check: if the account's sessions were ended since
    ///     (a password change, a recovery, "log out everywhere"), no session opens.
    /// - Returns: the bearer token (shown to the client once).
    /// - Throws: `Problem` 401 when the account's sessions were ended during the login; 429 when the address holds
    ///   `maxPerAddress` (never for an administrator); 503 when `maxSessions` are open (expired ones are swept first; the last
    ///   `administratorReserve` places are for administrators).
    func open(_ principal: Principal, address: String, ticket: UInt64) throws -> String {
        let (token, hash) = BearerToken.generate()
        let now = self.now()
        var expired: [Principal] = []
        let account = principal.account
        // Administrators keep places of their own in the table, and are not held to the per-address cap: they sign in
        // only from allowlisted addresses, often behind one NAT with everyone else there (a health centre), where
        // other users' sessions must not lock them out (after their TOTP step was used up); their per-account cap
        // and the reserve bound them.
        var administrator = false
        if case .administrator = principal { administrator = true }
        let limit = administrator ? maxSessions : maxSessions - administratorReserve
        enum Outcome { case opened(Int), endedSince, addressFull, tableFull }
        // One critical section with `close(account:)` (which bumps the counter under this lock too): a close either
        // runs before it (and the ticket refuses) or after it (and removes the new session).
        let outcome: Outcome = entries.withLock { e in
            guard !(closes.withLock { $0.closedAt[account].map { $0.tick > ticket } ?? false }) else { return .endedSince }
            // The account's oldest sessions make room for its new one (never another account's).
            let own = e.filter { $0.value.principal.account == account }
            if own.count >= maxPerAccount {
                for (k, v) in own.sorted(by: { $0.value.created < $1.value.created }).prefix(own.count - maxPerAccount + 1) {
                    e[k] = nil
                    expired.append(v.principal)
                }
            }
            // Expired sessions are swept only when a limit is reached (a sweep reads every session).
            func fromAddress() -> Int { e.values.lazy.filter { $0.address == address }.count }
            if e.count >= limit || (!administrator && fromAddress() >= maxPerAddress) { expired += sweepLocked(&e, now: now) }
            // An address at its limit is refused, not made room for: ending the oldest session of an address would
            // let one client sign out everyone else who shares it (a clinic's network, a carrier's NAT).
            guard administrator || fromAddress() < maxPerAddress else { return .addressFull }
            guard e.count < limit else { return .tableFull }
            e[hash] = Entry(principal: principal, address: address, created: now, lastUsed: now)
            return .opened(e.count)
        }
        for p in expired { p.close() }
        switch outcome {
        case .opened(let count):
            onCountChange(count)
            return token
        case .endedSince:
            principal.close()
            throw Problem("unauthenticated", .unauthorized, "the account's sessions were ended while this login ran (a password change?): sign in again")
        case .addressFull:
            principal.close()
            throw Problem("throttled", .tooManyRequests, "too many open sessions from this address: sign out elsewhere, or try later", retryAfter: 60)
        case .tableFull:
            principal.close()
            throw Problem("unavailable", .serviceUnavailable, "too many open sessions", retryAfter: 60)
        }
    }

    /// Throws what `open` would throw for want of room, without opening anything (expired sessions are swept
    /// first): a login whose check uses something up (an administrator's TOTP step) asks before the check.
    /// Another login may still take the last place in between; then `open` refuses as before.
    /// - Throws: `Problem` 503 when `maxSessions` are open.
    func checkRoom() throws {
        let now = self.now()
        var expired: [Principal] = []
        let full: Bool = entries.withLock { e in
            if e.count >= maxSessions { expired = sweepLocked(&e, now: now) }
            return e.count >= maxSessions
        }
        for p in expired { p.close() }
        if !expired.isEmpty { onCountChange(count) }
        if full { throw Problem("unavailable", .serviceUnavailable, "too many open sessions", retryAfter: 60) }
    }

    /// The principal of `token`, refreshing its idle timer; nil (and the session closed) when unknown or expired.
    func principal(token: String) -> Principal? {
        let hash = BearerToken.hash(token)
        let now = self.now()
        var expired: Principal?
        let found: Principal? = entries.withLock { e in
            guard var entry = e[hash] else { return nil }
            if now - entry.lastUsed > idleTimeout || now - entry.created > absoluteTimeout {
                e[hash] = nil
                expired = entry.principal
                return nil
            }
            entry.lastUsed = now
            e[hash] = entry
            return entry.principal
        }
        if let expired { expired.close(); onCountChange(count) }
        return found
    }

    /// Ends the session of `token` (logout). Idempotent.
    func close(token: String) {
        let hash = BearerToken.hash(token)
        let removed = entries.withLock { $0.removeValue(forKey: hash) }
        if let removed { removed.principal.close(); onCountChange(count) }
    }

    /// Ends every session of `account` ("log out everywhere", a deleted vault or account, a password change), but
    /// the one of `keeping` (a token) if given.
    /// - Returns: how many ended.
    @discardableResult
    func close(account: String, keeping: String? = nil) -> Int {
        let kept = keeping.map(BearerToken.hash)
        let at = now()
        let removed: [Entry] = entries.withLock { e in
            closes.withLock { c in  // under the entries lock: see `open`
                c.tick += 1
                c.closedAt[account] = (c.tick, at)
                if c.closedAt.count > 1024 { c.closedAt = c.closedAt.filter { at - $0.value.at < SessionRegistry.closeMemory } }
            }
            let gone = e.filter { $0.value.principal.account == account && $0.key != kept }
            for k in gone.keys { e[k] = nil }
            return Array(gone.values)
        }
        for r in removed { r.principal.close() }
        if !removed.isEmpty { onCountChange(count) }
        return removed.count
    }

    /// Ends every expired session; run periodically.
    /// - Returns: how many ended.
    @discardableResult
    func sweep() -> Int {
        let now = self.now()
        let removed: [Principal] = entries.withLock { sweepLocked(&$0, now: now) }
        for p in removed { p.close() }
        if !removed.isEmpty { onCountChange(count) }
        return removed.count
    }

    /// Ends every session (shutdown): all keys zeroed.
    func closeAll() {
        let all = entries.withLock { e in
            let v = Array(e.values)
            e.removeAll()
            return v
        }
        for a in all { a.principal.close() }
        onCountChange(0)
    }

    /// Sessions open now.
    var count: Int { entries.withLock { $0.count } }

    private func sweepLocked(_ e: inout [[UInt8]: Entry], now: ContinuousClock.Instant) -> [Principal] {
        let gone = e.filter { now - $0.value.lastUsed > idleTimeout || now - $0.value.created > absoluteTimeout }
        for k in gone.keys { e[k] = nil }
        return gone.values.map(\.principal)
    }
}
