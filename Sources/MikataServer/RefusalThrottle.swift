import HTTPTypes
import MikataService
import Synchronization

/// Refused requests per signed-in supporter account (an answer of 403 or 404: a patient not linked, a link revoked,
/// no such record or photo): after `limit` of them within `window`, the account's requests are answered 429 with
/// `Retry-After` until that window ends, before any vault is touched. Every refused attempt on another patient's vault
/// takes that vault's turn and leaves a `denied` entry in its access log, which the patient reads; this keeps one
/// account from filling patients' logs (and the disk's sync queue) with probes. Settings `throttle.refusalLimit`
/// and `throttle.refusalWindowSeconds` (docs/OPERATIONS.md). Thread-safe; memory bounded by `maxTracked` accounts.
final class RefusalThrottle: Sendable {
    private struct Window {
        var start: ContinuousClock.Instant
        var count: Int
    }
    private let windows = Mutex<[String: Window]>([:])
    let limit: Int
    let window: Duration
    let maxTracked: Int
    private let now: @Sendable () -> ContinuousClock.Instant

    init(limit: Int = 100, window: Duration = .seconds(600), maxTracked: Int = 100_000,
         now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }) {
        self.limit = limit; self.window = window; self.maxTracked = maxTracked; self.now = now
    }

    /// Refuses the request (429) if `account` used up its refusals in the current window.
    /// - Throws: `Problem` 429 (`throttled`) with `Retry-After` in seconds.
    func admit(account: String) throws {
        let t = now()
        let wait: Duration? = windows.withLock { w in
            guard let s = w[account], t - s.start < window, s.count >= limit else { return nil }
            return s.start + window - t
        }
        if let wait { throw LoginThrottle.throttled(wait, "too many refused requests: wait before trying again") }
    }

    /// Counts one refused request of `account`.
    func refused(account: String) {
        let t = now()
        windows.withLock { w in
            if var s = w[account], t - s.start < window {
                s.count += 1
                w[account] = s
                return
            }
            if w.count >= maxTracked {
                w = w.filter { t - $0.value.start < window }
                guard w.count < maxTracked else { return }  // every tracked account is active: the newest goes uncounted
            }
            w[account] = Window(start: t, count: 1)
        }
    }

    /// Whether an error a route threw is a refusal this throttle counts: 403 or 404 to the client.
    static func isRefusal(_ error: any Error) -> Bool {
        if let e = error as? MikataError { return e.code == .notPermitted || e.code == .notFound }
        if let p = error as? Problem { return p.status == .forbidden || p.status == .notFound }
        return false
    }
}
