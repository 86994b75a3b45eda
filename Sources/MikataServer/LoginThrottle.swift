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
    }
    struct AddressState: Sendable {
        var windowStart: ContinuousClock.Instant
        var failures = 0
    }

    private let accounts = Mutex<[[UInt8]: AccountState]>([:])
    private let addresses = Mutex<[String: AddressState]>([:])
    private let clock = ContinuousClock()
    let freeFailures: Int
    let accountFailureLimit: Int
    let accountLockout: Duration
    let ipFailureLimit: Int
    let ipWindow: Duration
    let maxTracked: Int

    init(configuration c: ServerConfiguration, maxTracked: Int = 100_000) {
        freeFailures = c.freeFailures
        accountFailureLimit = c.accountFailureLimit
        accountLockout = c.accountLockout
        ipFailureLimit = c.ipFailureLimit
        ipWindow = c.ipWindow
        self.maxTracked = maxTracked
    }

    static func key(_ account: String) -> [UInt8] { BearerToken.hash("throttle:" + account.lowercased()) }

    /// Refuses an attempt that must wait.
    /// - Throws: `Problem` 429 (`throttled`) with `Retry-After` in seconds.
    func check(account: String, address: String) throws {
        let now = clock.now
        let k = Self.key(account)
        let wait: Duration? = accounts.withLock { a in
            guard var s = a[k] else { return nil }
            if let until = s.lockedUntil {
                if until > now { return until - now }
                s = AccountState(consecutive: 0, lastFailure: now, lockedUntil: nil)
                a[k] = s
                return nil
            }
            let over = s.consecutive - freeFailures
            guard over > 0 else { return nil }
            let delay = Duration.seconds(min(60, 1 << min(over - 1, 6)))
            let next = s.lastFailure + delay
            return next > now ? next - now : nil
        }
        if let wait { throw Self.throttled(wait) }
        let addressWait: Duration? = addresses.withLock { m in
            guard let s = m[address] else { return nil }
            if now - s.windowStart > ipWindow { m[address] = nil; return nil }
            return s.failures >= ipFailureLimit ? ipWindow - (now - s.windowStart) : nil
        }
        if let addressWait { throw Self.throttled(addressWait) }
    }

    /// Counts a failed attempt.
    func failed(account: String, address: String) {
        let now = clock.now
        let k = Self.key(account)
        accounts.withLock { a in
            var s = a[k] ?? AccountState(lastFailure: now)
            s.consecutive += 1
            s.lastFailure = now
            if s.consecutive >= accountFailureLimit { s.lockedUntil = now + accountLockout }
            if a[k] == nil, a.count >= maxTracked { Self.evict(&a, keepingAfter: now - accountLockout) }
            a[k] = s
        }
        addresses.withLock { m in
            var s = m[address] ?? AddressState(windowStart: now)
            if now - s.windowStart > ipWindow { s = AddressState(windowStart: now) }
            s.failures += 1
            if m[address] == nil, m.count >= maxTracked {
                let old = m.filter { now - $0.value.windowStart > ipWindow }.map(\.key)
                for o in old { m[o] = nil }
                if m.count >= maxTracked, let any = m.keys.first { m[any] = nil }
            }
            m[address] = s
        }
    }

    /// Resets the account's count after a successful login.
    func succeeded(account: String) {
        let k = Self.key(account)
        _ = accounts.withLock { $0.removeValue(forKey: k) }
    }

    /// Accounts and addresses tracked now (tests, metrics).
    var tracked: (accounts: Int, addresses: Int) { (accounts.withLock { $0.count }, addresses.withLock { $0.count }) }

    private static func evict(_ a: inout [[UInt8]: AccountState], keepingAfter cutoff: ContinuousClock.Instant) {
        let old = a.filter { $0.value.lockedUntil == nil && $0.value.lastFailure < cutoff }.map(\.key)
        for o in old { a[o] = nil }
        if a.count >= 1, let oldest = a.min(by: { $0.value.lastFailure < $1.value.lastFailure })?.key, old.isEmpty { a[oldest] = nil }
    }

    static func throttled(_ wait: Duration) -> Problem {
        let seconds = max(1, Int(wait.components.seconds) + (wait.components.attoseconds > 0 ? 1 : 0))
        return Problem("throttled", .tooManyRequests, "too many failed attempts: wait before trying again", retryAfter: seconds)
    }
}
