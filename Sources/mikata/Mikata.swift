import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import MikataVault

@main
struct Mikata: ParsableCommand {
    static let version = DeletionCertificate.toolVersion  // one version for --version and certificates

    static let configuration = CommandConfiguration(
        commandName: "mikata",
        abstract: "MikataVault: encrypted per-patient health record vaults with supporter key shares.",
        version: version,
        subcommands: [
            InitCommand.self, PatientCommand.self, SupporterCommand.self, GrantCommand.self, RevokeCommand.self,
            RecordCommand.self, PasswordCommand.self, RecoverCommand.self, VaultCommand.self,
            ShredCommand.self, CertificateCommand.self, StoreCommand.self, AuditCommand.self, BackupCommand.self,
        ]
    )

    /// Parses, runs, and maps every failure to one `mikata: error:` line and the contract's exit code.
    static func main() {
        hardenProcess()
        let code: Int32
        do {
            var command = try parseAsRoot(Array(PathBytes.arguments.dropFirst()))  // argv as bytes: a path is never re-encoded
            try command.run()
            code = Exit.ok
        } catch let e as VaultError {
            reportError(e.description, hint: e.hint)
            code = Exit.code(for: e)
        } catch let e as CLIError {
            switch e {
            case .usage(let m): reportError(m); code = Exit.usage
            case .notFound(let m): reportError(m); code = Exit.notFound
            case .io(let m): reportError(m); code = Exit.failure
            }
        } catch {
            let exit = exitCode(for: error)
            if exit == .success {
                Self.exit(withError: error)  // --help, --version
            }
            let message = fullMessage(for: error).split(separator: "\n").first.map(String.init) ?? "invalid arguments"
            let cleaned = redactArguments(message.hasPrefix("Error: ") ? String(message.dropFirst(7)) : message)
            reportError(cleaned, hint: exit.rawValue == Exit.usage ? "see 'mikata help'" : nil)
            code = exit.rawValue == Exit.usage ? Exit.usage : Exit.failure
        }
        Foundation.exit(code)
    }

    /// ArgumentParser quotes what it did not understand; that could be a password typed in the wrong place, or an
    /// e-mail. Option names (starting with "-") are kept, anything else quoted is replaced.
    static func redactArguments(_ message: String) -> String {
        var out = ""
        var inQuote = false
        var quoted = ""
        for c in message {
            if c == "'" {
                if inQuote { out += quoted.hasPrefix("-") && !quoted.contains("=") ? "'\(quoted)'" : "'…'"; quoted = "" }
                inQuote.toggle()
            } else if inQuote {
                quoted.append(c)
            } else {
                out.append(c)
            }
        }
        if inQuote { out += "'…" }
        return out
    }

    /// No core dumps (they would hold keys and records; guarded memory is also excluded from dumps by libsodium),
    /// and files the process creates are private.
    static func hardenProcess() {
        var none = rlimit(rlim_cur: 0, rlim_max: 0)
        setrlimit(Int32(RLIMIT_CORE.rawValue), &none)
        umask(0o077)
    }
}

struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "init", abstract: "Create a store (idempotent).")
    @OptionGroup var global: GlobalOptions

    func run() throws {
        let (store, created) = try Store.initialize(at: global.storePath)
        try emit(json: global.json, ["store": store.root, "storeId": store.storeId, "created": created]) {
            created ? "created store \(store.root) (id \(store.storeId))" : "store \(store.root) exists already (id \(store.storeId))"
        }
    }
}
