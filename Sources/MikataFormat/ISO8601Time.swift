#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Instants as the access log (docs/FORMAT.md, "Access log") and the service's log lines write them: ISO 8601 /
/// RFC 3339 §5.6 `date-time` in UTC with milliseconds, `2026-12-01T05:15:27.123Z`.
package enum ISO8601Time {
    /// `millis` (milliseconds since 1970-01-01T00:00:00Z, Unix time: no leap seconds) as `YYYY-MM-DDThh:mm:ss.sssZ`.
    /// Written digit by digit from `gmtime_r`: a Foundation formatter per call costs more than an fsync, and the
    /// access log's one writer and every request's log line format one each. Years outside 0…9999 and instants
    /// before 1970 take a slower path with the same shape (the year as many digits as it needs).
    package static func string(millis: Int64) -> String {
        var t = time_t(millis / 1000)
        var tm = tm()
        gmtime_r(&t, &tm)
        let year = Int(tm.tm_year) + 1900
        if millis >= 0, year <= 9999 {
            let fields = [(year, 4), (Int(tm.tm_mon) + 1, 2), (Int(tm.tm_mday), 2), (Int(tm.tm_hour), 2), (Int(tm.tm_min), 2),
                          (Int(tm.tm_sec), 2), (Int(millis % 1000), 3)]
            let separators: [UInt8] = Array("--T::.Z".utf8)
            return String(unsafeUninitializedCapacity: 24) { out in
                var i = 0
                for (k, (value, width)) in fields.enumerated() {
                    var v = value
                    for p in stride(from: i + width - 1, through: i, by: -1) { out[p] = UInt8(48 + v % 10); v /= 10 }
                    i += width
                    out[i] = separators[k]
                    i += 1
                }
                return i
            }
        }
        func pad(_ v: Int32, _ n: Int) -> String { let s = String(v); return String(repeating: "0", count: max(0, n - s.count)) + s }
        return "\(pad(tm.tm_year + 1900, 4))-\(pad(tm.tm_mon + 1, 2))-\(pad(tm.tm_mday, 2))T\(pad(tm.tm_hour, 2)):\(pad(tm.tm_min, 2)):\(pad(tm.tm_sec, 2)).\(pad(Int32(millis % 1000), 3))Z"
    }
}
