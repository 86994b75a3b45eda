import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Personal data (e-mail addresses, names, record data, request details) can always come from a file or from
/// standard input (`-`) instead of argv, where every local user can read it; values that do arrive in argv are
/// wiped from the process's memory at start (`Mikata.wipePersonalArguments`).
enum PersonalInput {
    /// The options whose values `Mikata.wipePersonalArguments` overwrites in argv.
    static let argvOptions: Set<String> = [
        "--email", "--supporter", "--as-supporter", "--nickname", "--name", "--data", "--reason", "--requested-by",
        "--request-ref", "--operator", "--approver", "--supporter-name",
    ]

    /// The value of `--X` or of `--X-file F` (first line; `-` reads standard input); nil when neither is given.
    static func value(_ value: String?, file: String?, option: String) throws -> String? {
        if value != nil && file != nil { throw CLIError.usage("give either --\(option) or --\(option)-file, not both") }
        if let value { return value }
        guard let file else { return nil }
        let what = option.replacingOccurrences(of: "-", with: " ")
        let line = file == "-" ? try SecretInput.firstLine(fd: try StandardInput.claim(what), what: what)
                               : try SecretInput.firstLine(ofFile: file, what: what)
        return line.text
    }

    /// As `value`, for an option the command needs.
    static func required(_ value: String?, file: String?, option: String) throws -> String {
        guard let v = try self.value(value, file: file, option: option) else {
            throw CLIError.usage("give --\(option) or --\(option)-file (a file, or - for standard input)")
        }
        return v
    }
}

/// Standard input can feed one thing per command (a password, record data, an e-mail...).
enum StandardInput {
    nonisolated(unsafe) private static var claimedBy: String?

    /// Returns fd 0 for `what`, or a usage error if another input already read it.
    static func claim(_ what: String) throws -> Int32 {
        if let other = claimedBy { throw CLIError.usage("the \(what) and the \(other) cannot both come from standard input") }
        claimedBy = what
        return 0
    }
}

/// `--email E` or `--email-file F`: the e-mail address of the account the command is about.
struct EmailOptions: ParsableArguments {
    @Option(help: "The e-mail address (the patient's; the supporter's for 'supporter' commands). Visible to local users until wiped: prefer --email-file.")
    var email: String?
    @Option(help: "Read the e-mail address from the first line of this file (- for standard input).")
    var emailFile: String?

    func resolve() throws -> String { try PersonalInput.required(email, file: emailFile, option: "email") }
    func resolveIfGiven() throws -> String? { try PersonalInput.value(email, file: emailFile, option: "email") }
}

/// `--supporter S` or `--supporter-file F`: the supporter a patient grants or revokes.
struct SupporterEmailOptions: ParsableArguments {
    @Option(help: "The supporter's e-mail address.") var supporter: String?
    @Option(help: "Read the supporter's e-mail address from the first line of this file (- for standard input).") var supporterFile: String?

    func resolve() throws -> String { try PersonalInput.required(supporter, file: supporterFile, option: "supporter") }
}
