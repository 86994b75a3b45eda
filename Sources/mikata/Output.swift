import Foundation
import MikataVault

/// Exit codes of the CLI contract (sysexits.h values).
enum Exit {
    static let ok: Int32 = 0
    static let failure: Int32 = 1
    static let usage: Int32 = 64
    static let dataError: Int32 = 65
    static let notFound: Int32 = 66
    static let busy: Int32 = 75
    static let denied: Int32 = 77

    static func code(for error: VaultError) -> Int32 {
        switch error {
        case .notFound, .erased: return notFound
        case .authenticationFailed, .notPermitted: return denied
        case .corrupted, .tampered, .unsupported: return dataError
        case .busy: return busy
        case .invalidInput: return usage
        case .alreadyExists, .io: return failure
        }
    }
}

/// One line `mikata: error: ...` on stderr, optionally a `mikata: hint: ...` line.
func reportError(_ message: String, hint: String? = nil) {
    FileHandle.standardError.write(Data("mikata: error: \(message)\n".utf8))
    if let hint { FileHandle.standardError.write(Data("mikata: hint: \(hint)\n".utf8)) }
}

/// One `mikata: warning: ...` line on stderr: the command goes on.
func reportWarning(_ message: String) {
    FileHandle.standardError.write(Data("mikata: warning: \(message)\n".utf8))
}

/// Prints a result: JSON on stdout with `--json`, else the human lines.
func emit(json: Bool, _ object: [String: Any], human: () -> String) throws {
    if json {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        FileHandle.standardOutput.write(data + Data([10]))
    } else {
        let text = human()
        if !text.isEmpty { print(text) }
    }
}

func isoTime(millis: Int64) -> String {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return f.string(from: Date(timeIntervalSince1970: Double(millis) / 1000))
}
