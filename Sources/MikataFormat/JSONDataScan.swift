/// What one reading of a record's data finds out, for readers that pass stored JSON on as it is instead of parsing and
/// re-serializing it (docs/FORMAT.md §5.2): whether it is in the plain subset (`PlainJSON`), strict JSON
/// (`CanonicalJSON.isStrictJSON`), compact, and whether its strings hold a control character that strict JSON allows
/// unescaped. A read makes it on the thread that decrypted the record (`Vault.records(_:after:limit:...:scanData:)`),
/// so a client's single-threaded output loop scans nothing.
package struct JSONDataScan: Sendable, Hashable {
    /// `PlainJSON.isPlain`.
    package let plain: Bool
    /// Plain, or strict JSON by the rules of `CanonicalJSON.parse`.
    package let strict: Bool
    /// Strict, with no white space between or around its tokens (RFC 8259 §2 `ws`).
    package let compact: Bool
    /// Strict, and a string holds U+007F DELETE or a C1 control (U+0080–U+009F) as such: the only control characters
    /// strict JSON carries unescaped (RFC 8259 §7 requires C0 ones escaped), which a writer of terminal or line-oriented
    /// output escapes. False for data that is not strict (its readers treat it apart).
    package let holdsDELOrC1: Bool

    /// One scan of `data`: the plain subset's check first (most app data fails it within a few bytes), then the
    /// strict scan (`StrictJSONScanner`: one pass, no value built). O(`data.count`).
    package static func of(_ data: [UInt8]) -> JSONDataScan {
        if PlainJSON.isPlain(data) { return JSONDataScan(plain: true, strict: true, compact: true, holdsDELOrC1: false) }
        switch StrictJSONScanner.scan(data) {
        case .strict(let compact, let controls):
            return JSONDataScan(plain: false, strict: true, compact: compact, holdsDELOrC1: controls)
        case .invalid:
            return JSONDataScan(plain: false, strict: false, compact: false, holdsDELOrC1: false)
        }
    }
}
