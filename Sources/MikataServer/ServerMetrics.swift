import CoreMetrics
import Prometheus

/// The service's metrics (docs/OPERATIONS.md, "Metrics"), through swift-metrics into a Prometheus registry of this
/// server's own (several servers in one test process do not share counters). Labels never carry personal data:
/// routes are templates (`/v1/supporter/patients/{vaultId}/records`), never paths.
final class ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    let factory: PrometheusMetricsFactory
    /// `mikata_sessions_open`: sessions held now.
    let openSessions: CoreMetrics.Gauge

    init() {
        var f = PrometheusMetricsFactory(registry: registry)
        f.defaultDurationHistogramBuckets = [.milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
                                             .milliseconds(20), .milliseconds(50), .milliseconds(100), .milliseconds(200),
                                             .milliseconds(500), .seconds(1), .seconds(2), .seconds(5)]
        factory = f
        openSessions = CoreMetrics.Gauge(label: "mikata_sessions_open", factory: f)
        openSessions.record(0)
    }

    /// `mikata_http_requests_total{route,method,status}` and `mikata_http_request_duration_seconds{route,method}`.
    func request(route: String, method: String, status: Int, duration: Duration) {
        CoreMetrics.Counter(label: "mikata_http_requests_total", dimensions: [("route", route), ("method", method), ("status", String(status))],
                factory: factory).increment()
        CoreMetrics.Timer(label: "mikata_http_request_duration_seconds", dimensions: [("route", route), ("method", method)],
                      factory: factory).recordNanoseconds(Int64(duration.components.seconds) * 1_000_000_000
                                                            + Int64(duration.components.attoseconds / 1_000_000_000))
    }

    /// `mikata_unlocks_total{role,outcome}`: password, recovery-code and TOTP checks.
    func unlock(role: String, outcome: String) {
        CoreMetrics.Counter(label: "mikata_unlocks_total", dimensions: [("role", role), ("outcome", outcome)], factory: factory).increment()
    }

    /// `mikata_argon2_rejections_total`: password checks answered busy (503) because the Argon2id queue was full.
    func argon2Rejected() {
        CoreMetrics.Counter(label: "mikata_argon2_rejections_total", factory: factory).increment()
    }

    /// `mikata_refusal_throttled_total`: supporter accounts that reached `throttle.refusalLimit` (once per window).
    func refusalThrottled() {
        CoreMetrics.Counter(label: "mikata_refusal_throttled_total", factory: factory).increment()
    }

    /// `mikata_login_throttled_total`: attempts refused (429) before Argon2id.
    func throttled() {
        CoreMetrics.Counter(label: "mikata_login_throttled_total", factory: factory).increment()
    }

    /// The Prometheus text exposition (format 0.0.4) with the gauges sampled now.
    func exposition(argon2Waiting: Int, logBatches: (batches: UInt64, appends: UInt64)) -> String {
        CoreMetrics.Gauge(label: "mikata_argon2_queue_depth", factory: factory).record(argon2Waiting)
        CoreMetrics.Gauge(label: "mikata_access_log_group_commits", factory: factory).record(Double(logBatches.batches))
        CoreMetrics.Gauge(label: "mikata_access_log_group_commit_entries", factory: factory).record(Double(logBatches.appends))
        CoreMetrics.Gauge(label: "mikata_log_lines_dropped_total", factory: factory).record(LogLineWriter.standardError.droppedTotal)
        return registry.emitToString()
    }
}
