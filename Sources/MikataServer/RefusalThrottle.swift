import HTTPTypes
import MikataService
import Synchronization

/// Refused requests per signed-in supporter account on the routes of one patient's vault
/// (`/v1/supporter/patients/{vaultId}/…`: an answer of 403 or 404, e.g. a patient not linked, a link revoked, no
/// such record or photo), and per service API key on `POST /v1/service/records` (account `service:<id hex>`: a vault
/// that does not authorise it, a type no service writes): past `limit` of them within `window`, the account's
/// requests there answer 429 with
/// `Retry-After` until that window ends, before any vault is touched. Every refused attempt on another patient's
/// vault takes that vault's turn and leaves a `denied` entry in its access log, which the patient reads; this keeps
/// one account from filling patients' logs (and the disk's sync queue) with probes. Requests in flight count
/// against the limit as if refused, so parallel probes cannot overshoot it (and one account has at most `limit`
/// such requests running). The account's own routes (its list, password, deletion, logout) are never throttled:
/// whoever holds a stolen token cannot lock the owner out of ending it. Settings `throttle.refusalLimit` and
/// `throttle.refusalWindowSeconds` (docs/OPERATIONS.md). Thread-safe; memory bounded by `maxTracked` accounts.
final class RefusalThrottle: Sendable {
    private struct State {
        var start: ContinuousClock.Instant
        var refused: Int
        var inFlight: Int
        /// Whether `onThrottle` was called in this window.
        var reported = false
    }
    private let states = Mutex<[String: State]>([:])
    let limit: Int
    let window: Duration
    let maxTracked: Int
    private let now: @Sendable () -> ContinuousClock.Instant
    /// Called when an account is first refused in a window (the metric and the warning line).
    let onThrottle: @Sendable (String) -> Void

    init(limit: Int = 100, window: Duration = .seconds(600), maxTracked: Int = 100_000,
         now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now },
         onThrottle: @escaping @Sendable (String) -> Void = { _ in }) {
        self.limit = limit; self.window = window; self.maxTracked = maxTracked; self.now = now; self.onThrottle = onThrottle
    }

    /// Whether requests to `path` are counted: those of one patient's vault, `/v1/supporter/patients/{vaultId}…`.
    /// The path is split as the router splits it (empty segments dropped), so `//` anywhere does not step around it.
    static func applies(toPath path: String) -> Bool {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        return parts.count >= 4 && parts[0] == "v1" && parts[1] == "supporter" && parts[2] == "patients"
    }

    /// Admits one request of `account`, or refuses it (429) when its refusals in the current window and its requests
    /// in flight reach the limit. Returns whether the request is counted (then it must be ended with `end`): not
    /// when every tracked account is active and this one is new.
    /// - Throws: `Problem` 429 (`throttled`) with `Retry-After` in seconds.
    func admit(account: String) throws -> Bool {
        let t = now()
        var counted = false
        let verdict: (wait: Duration, first: Bool)? = states.withLock { m in
            var s = m[account] ?? State(start: t, refused: 0, inFlight: 0)
            if t - s.start >= window { s.start = t; s.refused = 0; s.reported = false }
            if s.refused + s.inFlight >= limit {
                // Refusals end when the window does; requests in flight end sooner.
                let full = s.refused >= limit
                let first = full && !s.reported
                if full { s.reported = true }
                m[account] = s
                return (full ? s.start + window - t : .seconds(1), first)
            }
            if m[account] == nil, m.count >= maxTracked {
                m = m.filter { $0.value.inFlight > 0 || t - $0.value.start < window }
                if m.count >= maxTracked { return nil }  // every tracked account is active: this one goes uncounted
            }
            s.inFlight += 1
            m[account] = s
            counted = true
            return nil
        }
        if let verdict {
            if verdict.first { onThrottle(account) }
            throw LoginThrottle.throttled(verdict.wait, "too many refused requests: wait before trying again")
        }
        return counted
    }

    /// Ends a request `admit` let through; `refused` counts it.
    func end(account: String, refused: Bool) {
        let t = now()
        states.withLock { m in
            guard var s = m[account] else { return }
            s.inFlight = max(0, s.inFlight - 1)
            if refused {
                if t - s.start >= window { s.start = t; s.refused = 0; s.reported = false }
                s.refused += 1
            }
            m[account] = s
        }
    }

    /// Whether an error a route threw is a refusal this throttle counts: 403 or 404 to the client.
    static func isRefusal(_ error: any Error) -> Bool {
        if let e = error as? MikataError { return e.code == .notPermitted || e.code == .notFound }
        if let p = error as? Problem { return p.status == .forbidden || p.status == .notFound }
        return false
    }
}
