/// JSON text without the white space RFC 8259 §2 allows between its tokens: the same JSON value, on one line. For
/// writers that embed stored record data in a document of their own as it was written (member order, number and
/// escape spellings kept) but must not let the data's line breaks into their output.
package enum CompactJSON {
    /// Appends `json` to `out` without the white space between tokens (RFC 8259 §2 `ws`: space, horizontal tab, line
    /// feed, carriage return). Strings are copied as they are, escapes included; nothing else changes.
    ///
    /// `json` must be JSON text (`CanonicalJSON.isStrictJSON`, which every append checks): on other input the bytes
    /// appended are `json`'s, less some white space, and no more. O(n), one pass, copying runs whole.
    package static func append(_ json: [UInt8], to out: inout [UInt8]) {
        let b = json, n = json.count
        var runStart = 0, i = 0
        while i < n {
            let c = b[i]
            if c == UInt8(ascii: "\"") {
                // A string: to its closing quote, stepping over each escape's next byte.
                i += 1
                while i < n {
                    let s = b[i]
                    if s == UInt8(ascii: "\"") { break }
                    i += s == UInt8(ascii: "\\") ? 2 : 1
                }
                i += 1
            } else if isWhiteSpace(c) {
                out.append(contentsOf: b[runStart..<i])
                i += 1
                while i < n, isWhiteSpace(b[i]) { i += 1 }
                runStart = i
            } else {
                i += 1
            }
        }
        out.append(contentsOf: b[min(runStart, n)..<n])
    }

    private static func isWhiteSpace(_ c: UInt8) -> Bool {
        c == 0x20 || c == 0x0a || c == 0x0d || c == 0x09
    }
}
