import Foundation
import HTTPTypes
import MikataService
import Synchronization

/// Throttling of password checks, before Argon2id runs (NIST SP 800-63B §5.2.2, "Rate Limiting").
///
/// Per account (keyed by a hash of the e-mail or name as typed, lower-cased, whether or not it exists, so an unknown
/// address throttles exactly like a known one): the first `freeFailures` consecutive failures are free; after them
/// each attempt waits 2^(n − free) seconds (at most 60) after the last failure; after `accountFailureLimit`
/// consecutive failures the account is locked for `accountLockout`. A success resets the count.
/// Per client address: `ipFailureLimit` failures within `ipWindow` and the address waits out the window.
/// Refusals are `Problem` 429 with `Retry-After`; memory is bounded (`maxTracked` keys each, oldest dropped first).
final class LoginThrottle: Sendable {
    struct AccountState: Sendable {
        var consecutive = 0
        var lastFailure: ContinuousClock.Instant
        var lockedUntil: ContinuousClock.Instant?
        /// Lockouts since the last success: each one lasts twice the one before (at most 64 × `accountLockout`).
        var lockouts = 0
        /// Checks admitted and not yet finished: counted as possible failures, so concurrent attempts cannot
        /// overshoot a limit by all passing `begin` before any has failed.
        var inFlight = 0
    }
    struct AddressState: Sendable {
        var windowStart: ContinuousClock.Instant
        var failures = 0
        var inFlight = 0
    }

    /// How an admitted attempt ended.
    enum Outcome: Sendable {
        /// The credential was right.
        case succeeded
        /// The credential was wrong (or the account unknown).
        case failed
        /// Neither was decided (busy, I/O error): nothing is counted.
        case undecided
    }

    private let accounts = Mutex<[[UInt8]: AccountState]>([:])
    private let addresses = Mutex<[String: AddressState]>([:])
    /// Registrations per address in the current window (`failures` counts them here).
    private let registrations = Mutex<[String: AddressState]>([:])
    /// The time source (tests pass a manual one, so no test depends on how fast the machine is).
    private let now: @Sendable () -> ContinuousClock.Instant
    let freeFailures: Int
    let accountFailureLimit: Int
    let accountLockout: Duration
    let ipFailureLimit: Int
    /// Password checks from one address at once, whatever their outcome (successful ones too: the Argon2id queue
    /// is shared by every client).
    let ipConcurrentChecks: Int
    let ipWindow: Duration
    let ipRegistrationLimit: Int
    let maxTracked: Int

    init(configuration c: ServerConfiguration, maxTracked: Int = 100_000,
         now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }) {
        self.now = now
        freeFailures = c.freeFailures
        accountFailureLimit = c.accountFailureLimit
        accountLockout = c.accountLockout
        ipFailureLimit = c.ipFailureLimit
        ipConcurrentChecks = c.ipConcurrentChecks
        ipWindow = c.ipWindow
        ipRegistrationLimit = c.ipRegistrationLimit
        self.maxTracked = maxTracked
    }

    /// What an address is counted as: an IPv4 address itself, an IPv6 address by its /64 (one host usually holds a
    /// whole /64, RFC 4291 §2.5.1, so counting single addresses would give it 2^64 allowances).
    static func addressKey(_ address: String) -> String {
        guard let bytes = IPRange.parse(address), bytes.count == 16 else { return address }
        if bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xff, bytes[11] == 0xff { return IPRange.format(Array(bytes[12...])) }
        return IPRange.format(Array(bytes[0..<8]) + [UInt8](repeating: 0, count: 8)) + "/64"
    }

    /// The account's key: NFKC, lower-cased, trimmed (stricter than the engine's own address rules, so two spellings
    /// of one address never get two allowances).
    static func key(_ account: String) -> [UInt8] {
        BearerToken.hash("throttle:" + account.precomposedStringWithCompatibilityMapping.lowercased().trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Admits one attempt or refuses it; an admitted attempt must be ended with `end` whatever happens. Attempts in
    /// flight count as failures against every limit: within the free failures they may run side by side, beyond
    /// them one at a time, and never more than the lockout or the address limit allows.
    /// - Throws: `Problem` 429 (`throttled`) with `Retry-After` in seconds.
    func begin(account: String, address: String) throws {
        let address = Self.addressKey(address)
        let now = self.now()
        let k = Self.key(account)
        let wait: Duration? = accounts.withLock { a in
            var s = a[k] ?? AccountState(lastFailure: now)
            if let until = s.lockedUntil {
                if until > now { return until - now }
                // The lock ran out, but the count does not start again: the next failure locks again, for twice as
                // long (a guesser gets one try per lockout, not another hundred).
                s.consecutive = accountFailureLimit - 1
                s.lockedUntil = nil
            }
            if s.consecutive + s.inFlight >= accountFailureLimit { return .seconds(1) }
            let over = s.consecutive - freeFailures
            if over > 0 {
                if s.inFlight > 0 { return .seconds(1) }
                let next = s.lastFailure + .seconds(min(60, 1 << min(over - 1, 6)))
                if next > now { return next - now }
            } else if s.consecutive + s.inFlight >= freeFailures, s.inFlight > 0 {
                return .seconds(1)
            }
            if a[k] == nil, a.count >= maxTracked { evict(&a, keepingAfter: now - accountLockout) }
            s.inFlight += 1
            a[k] = s
            return nil
        }
        if let wait { throw Self.throttled(wait) }
        let addressWait: Duration? = addresses.withLock { m in
            var s = m[address] ?? AddressState(windowStart: now)
            if now - s.windowStart > ipWindow { s = AddressState(windowStart: now, failures: 0, inFlight: s.inFlight) }
            if s.failures + s.inFlight >= ipFailureLimit {
                m[address] = s
                return s.failures >= ipFailureLimit ? ipWindow - (now - s.windowStart) : .seconds(1)
            }
            if s.inFlight >= ipConcurrentChecks { return .seconds(1) }
            if m[address] == nil { makeRoom(&m, now: now) }
            s.inFlight += 1
            m[address] = s
            return nil
        }
        if let addressWait {
            end(account: account, address: nil, .undecided)  // give back the account's admission
            throw Self.throttled(addressWait)
        }
    }

    /// Admits one registration (a patient or a supporter) from `address`, or refuses it before its Argon2id runs:
    /// at most `ipRegistrationLimit` per address (an IPv6 address by its /64) in a window of `ipWindow`. Every
    /// admitted one counts, whatever its outcome: each costs a password hash, and a success an account or a vault.
    /// Without it one client could make accounts without end, each open to ten sessions and to password checks that
    /// succeed (the login throttle counts failures only), and crowd everyone else out of both.
    /// - Throws: `Problem` 429 (`throttled`) with `Retry-After` in seconds (the rest of the window).
    func admitRegistration(address: String) throws {
        let address = Self.addressKey(address)
        let now = self.now()
        let wait: Duration? = registrations.withLock { m in
            var s = m[address] ?? AddressState(windowStart: now)
            if now - s.windowStart > ipWindow { s = AddressState(windowStart: now) }
            if s.failures >= ipRegistrationLimit { return ipWindow - (now - s.windowStart) }
            if m[address] == nil { makeRoom(&m, now: now) }
            s.failures += 1
            m[address] = s
            return nil
        }
        if let wait { throw Self.throttled(wait, "too many registrations from this address: wait before trying again") }
    }

    /// Ends an attempt `begin` admitted. `address` nil: only the account's admission is given back.
    func end(account: String, address: String?, _ outcome: Outcome) {
        let address = address.map(Self.addressKey)
        let now = self.now()
        let k = Self.key(account)
        accounts.withLock { a in
            guard var s = a[k] else { return }
            s.inFlight = max(0, s.inFlight - 1)
            switch outcome {
            case .failed:
                s.consecutive += 1
                s.lastFailure = now
                if s.consecutive >= accountFailureLimit { lock(&s, now) }
            case .succeeded:
                s.consecutive = 0
                s.lockouts = 0
            case .undecided:
                break
            }
            if s.consecutive == 0, s.inFlight == 0, s.lockedUntil == nil, s.lockouts == 0 { a[k] = nil } else { a[k] = s }
        }
        guard let address else { return }
        addresses.withLock { m in
            guard var s = m[address] else { return }
            s.inFlight = max(0, s.inFlight - 1)
            if outcome == .failed { s.failures += 1 }
            m[address] = s
        }
    }

    /// Forgets `account`'s failures and lock (and its lockout history): its owner proved who they are another way
    /// (the recovery code), so the lock a guesser ran it into ends. Attempts in flight are kept.
    func clear(account: String) {
        let k = Self.key(account)
        accounts.withLock { a in
            guard var s = a[k] else { return }
            s.consecutive = 0
            s.lockouts = 0
            s.lockedUntil = nil
            if s.inFlight == 0 { a[k] = nil } else { a[k] = s }
        }
    }

    /// Counts a failed attempt that was not admitted with `begin` (tests; equivalent to begin + end(.failed)).
    func failed(account: String, address: String) {
        let address = Self.addressKey(address)
        let now = self.now()
        let k = Self.key(account)
        accounts.withLock { a in
            var s = a[k] ?? AccountState(lastFailure: now)
            s.consecutive += 1
            s.lastFailure = now
            if s.consecutive >= accountFailureLimit { lock(&s, now) }
            if a[k] == nil, a.count >= maxTracked { evict(&a, keepingAfter: now - accountLockout) }
            a[k] = s
        }
        addresses.withLock { m in
            var s = m[address] ?? AddressState(windowStart: now)
            if now - s.windowStart > ipWindow { s = AddressState(windowStart: now, failures: 0, inFlight: s.inFlight) }
            s.failures += 1
            if m[address] == nil { makeRoom(&m, now: now) }
            m[address] = s
        }
    }

    /// Resets the account's count (tests; equivalent to begin + end(.succeeded)).
    func succeeded(account: String) {
        let k = Self.key(account)
        accounts.withLock { a in
            guard var s = a[k] else { return }
            s.consecutive = 0
            s.lockedUntil = nil
            s.lockouts = 0
            a[k] = s.inFlight == 0 ? nil : s
        }
    }

    /// Accounts and addresses tracked now (tests, metrics).
    var tracked: (accounts: Int, addresses: Int) { (accounts.withLock { $0.count }, addresses.withLock { $0.count }) }

    private func evict(_ a: inout [[UInt8]: AccountState], keepingAfter cutoff: ContinuousClock.Instant) {
        // Never a locked account (or one with lockouts behind it): flooding the table must not lift a lockout. Nor
        // does a flood wipe an account's progress towards one: stale entries go only while they are within the free
        // failures, and otherwise the entry with the fewest failures goes (the oldest of those). A guesser's flood of
        // made-up addresses, one failure each, evicts its own entries, never an account a few tries from its lock
        // (NIST SP 800-63B §5.2.2: the count is of consecutive failures, whenever they came).
        let evictable = a.filter { $0.value.lockedUntil == nil && $0.value.lockouts == 0 && $0.value.inFlight == 0 }
        let stale = evictable.filter { $0.value.lastFailure < cutoff && $0.value.consecutive <= freeFailures }.map(\.key)
        for o in stale { a[o] = nil }
        if stale.isEmpty, let least = evictable.min(by: {
            ($0.value.consecutive, $0.value.lastFailure) < ($1.value.consecutive, $1.value.lastFailure)
        })?.key {
            a[least] = nil
        }
    }

    /// Keeps an address table within `maxTracked` before a new key goes in: addresses whose window ended go first,
    /// then any with nothing in flight.
    private func makeRoom(_ m: inout [String: AddressState], now: ContinuousClock.Instant) {
        guard m.count >= maxTracked else { return }
        for o in m.filter({ now - $0.value.windowStart > ipWindow && $0.value.inFlight == 0 }).map(\.key) { m[o] = nil }
        if m.count >= maxTracked, let any = m.first(where: { $0.value.inFlight == 0 })?.key { m[any] = nil }
    }

    private func lock(_ s: inout AccountState, _ now: ContinuousClock.Instant) {
        s.lockedUntil = now + accountLockout * (1 << min(s.lockouts, 6))
        s.lockouts += 1
    }

    static func throttled(_ wait: Duration, _ detail: String = "too many failed attempts: wait before trying again") -> Problem {
        let seconds = max(1, Int(wait.components.seconds) + (wait.components.attoseconds > 0 ? 1 : 0))
        return Problem("throttled", .tooManyRequests, detail, retryAfter: seconds)
    }
}
