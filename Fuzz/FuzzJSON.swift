// Fuzz target "json" (scripts/fuzz.sh): JSON bodies. JSON from outside reaches MikataVault through RFC 8785
// canonical JSON (certificates, the access log, backup headers, shred intents), HTTP request bodies, and record
// data: every append checks it with the strict parser (check only: `CanonicalJSON.strictScan`), and listings splice
// it as stored (`record list --json` less the white space between tokens: `CompactJSON`); data that is not strict
// (old vaults) goes through Foundation's JSONSerialization.
import Foundation
import MikataFormat

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Fuzz.bytes(data, size)
    JSONFuzz.canonical(bytes)
    JSONFuzz.recordData(bytes)
    return 0
}

enum JSONFuzz {
    /// Whatever `CanonicalJSON.parse` accepts must serialize (its preconditions: finite numbers, distinct names)
    /// and canonicalization must be idempotent: canonicalize(canonicalize(x)) == canonicalize(x).
    static func canonical(_ bytes: [UInt8]) {
        var parseError: String?, validateError: String?
        var value: JSONValue?
        do { value = try CanonicalJSON.parse(bytes) } catch { parseError = "\(error)" }
        do { try CanonicalJSON.validate(bytes) } catch { validateError = "\(error)" }
        // The check-only parse (record data checks, page reads) accepts exactly what the parse accepts, and fails
        // with the same error at the same offset.
        Fuzz.invariant(parseError == validateError, "validate's error differs from parse's")
        let scan = CanonicalJSON.strictScan(bytes)
        Fuzz.invariant(CanonicalJSON.isStrictJSON(bytes) == (value != nil) && scan.strict == (value != nil), "isStrictJSON disagrees with parse")
        guard let value else { return }
        let once = CanonicalJSON.serialize(value)
        guard let twice = try? CanonicalJSON.canonicalize(once) else {
            Fuzz.invariant(false, "canonical output does not parse")
            return
        }
        Fuzz.invariant(twice == once, "canonicalization is not idempotent")
        compacted(bytes, canonical: once, compact: scan.compact)
        visit(value)
    }

    /// Strict JSON less its white space between tokens (what `record list --json` prints) is strict, compact and
    /// the same value; the scan calls the text compact exactly when there was nothing to drop.
    private static func compacted(_ bytes: [UInt8], canonical: [UInt8], compact: Bool) {
        var out: [UInt8] = []
        CompactJSON.append(bytes, to: &out)
        Fuzz.invariant(CanonicalJSON.strictScan(out) == (true, true), "compacted JSON is not strict and compact")
        Fuzz.invariant((try? CanonicalJSON.canonicalize(out)) == canonical, "compacting changed the value")
        Fuzz.invariant(compact == (out == bytes), "strictScan's compact flag disagrees with CompactJSON")
    }

    /// The accessors signatures and log checks use on parsed values.
    private static func visit(_ value: JSONValue) {
        _ = value.intValue
        _ = value.doubleValue
        if let members = value.objectValue {
            for (name, member) in members {
                Fuzz.invariant(value[name] != nil, "a parsed member is not found by its name")
                visit(member)
            }
        }
        if let elements = value.arrayValue { elements.forEach(visit) }
    }

    /// Record data from before the strict rules: `record list --json` reads it with JSONSerialization (fragments
    /// allowed) and writes it inside its output object.
    static func recordData(_ bytes: [UInt8]) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed]) else { return }
        let output: [String: Any] = ["records": [["seq": 0, "data": object] as [String: Any]]]
        _ = try? JSONSerialization.data(withJSONObject: output, options: [.sortedKeys, .withoutEscapingSlashes])
    }
}
