// Fuzz target "json" (scripts/fuzz.sh): JSON bodies. There is no HTTP service yet; JSON from outside reaches
// MikataVault through RFC 8785 canonical JSON (certificates, the access log, backup headers, shred intents) and
// through the CLI's record data, which Foundation's JSONSerialization validates and `record list --json` re-emits.
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
        let value = try? CanonicalJSON.parse(bytes)
        // The check-only parse (record data checks, page reads) accepts exactly what the parse accepts.
        Fuzz.invariant(CanonicalJSON.isStrictJSON(bytes) == (value != nil), "isStrictJSON disagrees with parse")
        guard let value else { return }
        let once = CanonicalJSON.serialize(value)
        guard let twice = try? CanonicalJSON.canonicalize(once) else {
            Fuzz.invariant(false, "canonical output does not parse")
            return
        }
        Fuzz.invariant(twice == once, "canonicalization is not idempotent")
        visit(value)
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

    /// The CLI: `record add` accepts data that JSONSerialization reads (fragments allowed); `record list --json`
    /// reads it again and writes it inside its output object.
    static func recordData(_ bytes: [UInt8]) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed]) else { return }
        let output: [String: Any] = ["records": [["seq": 0, "data": object] as [String: Any]]]
        _ = try? JSONSerialization.data(withJSONObject: output, options: [.sortedKeys, .withoutEscapingSlashes])
    }
}
