import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import MikataService

@main
struct Mikata: AsyncParsableCommand {
    static let version = VaultService.toolVersion  // one version for --version and certificates

    static let configuration = CommandConfiguration(
        commandName: "mikata",
        abstract: "MikataVault: encrypted per-patient health record vaults with supporter key shares.",
        version: version,
        subcommands: [
            InitCommand.self, PatientCommand.self, SupporterCommand.self, GrantCommand.self, RevokeCommand.self,
            RecordCommand.self, PasswordCommand.self, RecoverCommand.self, VaultCommand.self,
            ShredCommand.self, CertificateCommand.self, StoreCommand.self, AuditCommand.self, BackupCommand.self,
            ServiceCommand.self, ServeCommand.self, AdminCommand.self, ReportCommand.self, DashboardCommand.self, ExportCommand.self,
            PhotoCommand.self, RegimenCommand.self,
            NoticesCommand.self,
        ]
    )

    /// Parses, runs, and maps every failure to one `mikata: error:` line and the contract's exit code (a service
    /// error's is its code's `exitCode`).
    static func main() async {
        ensureStandardStreams()  // before anything opens a file
        hardenProcess()
        let arguments = Array(ClientFiles.arguments.dropFirst())  // copied before argv is wiped; as bytes: a path is never re-encoded
        wipePersonalArguments()
        let code: Int32
        do {
            var command = try parseAsRoot(hoistGlobalOptions(arguments))
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            code = Exit.ok
        } catch let e as MikataError {
            reportError(e.message, hint: hint(for: e.code))
            code = e.code.exitCode
        } catch let e as CLIError {
            switch e {
            case .usage(let m): reportError(m); code = Exit.usage
            case .notFound(let m): reportError(m); code = Exit.notFound
            case .io(let m): reportError(m); code = Exit.failure
            }
        } catch {
            let exit = exitCode(for: error)
            if exit == .success {  // --help, --version: printed like any output, so a failed write is reported
                do { try StandardOutput.line(fullMessage(for: error)); code = Exit.ok } catch CLIError.io(let m) {
                    reportError(m); code = Exit.failure
                } catch { reportError("cannot write the output"); code = Exit.failure }
            } else {
                let message = fullMessage(for: error).split(separator: "\n").first.map(String.init) ?? "invalid arguments"
                let cleaned = redactArguments(message.hasPrefix("Error: ") ? String(message.dropFirst(7)) : message)
                reportError(cleaned, hint: exit.rawValue == Exit.usage ? "see 'mikata help'" : nil)
                code = exit.rawValue == Exit.usage ? Exit.usage : Exit.failure
            }
        }
        Foundation.exit(code)
    }

    /// Descriptors 0-2 closed by the caller (`<&-`) would be handed to the first files this process opens (a vault
    /// read as the password, a record written to the terminal's place). Each closed one is opened on /dev/null,
    /// read-only: stdin reads as empty, and writing to a closed stdout fails (EBADF) and is reported, not lost.
    static func ensureStandardStreams() {
        for fd: Int32 in 0...2 where fcntl(fd, F_GETFD) == -1 && errno == EBADF {
            let opened = open("/dev/null", O_RDONLY)
            if opened >= 0 && opened != fd { dup2(opened, fd); close(opened) }
            if opened < 0 { Foundation.exit(Exit.failure) }  // cannot make the process safe to run
        }
    }

    /// Options of `GlobalOptions` given before the subcommand (`mikata --store DIR init`, as in git or kubectl) are
    /// moved after the subcommand's path, where ArgumentParser reads them. Anything else before the subcommand is
    /// left for the parser to refuse.
    static func hoistGlobalOptions(_ args: [String]) -> [String] {
        var moved: [String] = []
        var i = 0
        while i < args.count, args[i].hasPrefix("-") {
            if args[i] == "--json" || args[i].hasPrefix("--store=") {
                moved.append(args[i]); i += 1
            } else if args[i] == "--store", i + 1 < args.count {
                moved += [args[i], args[i + 1]]; i += 2
            } else {
                return args
            }
        }
        guard !moved.isEmpty else { return args }
        var command: any ParsableCommand.Type = Mikata.self
        var j = i
        while j < args.count, let sub = command.configuration.subcommands.first(where: { $0._commandName == args[j] }) {
            command = sub
            j += 1
        }
        guard j > i, command.configuration.subcommands.isEmpty else { return args }
        return Array(args[i..<j]) + moved + Array(args[j...])
    }

    /// Every local user can read a process's arguments (`/proc/PID/cmdline`): the values of options that carry
    /// personal data are overwritten in the process's argv memory at start. The file and stdin forms
    /// (`--email-file`, `--data -`, ...) never put them there at all.
    static func wipePersonalArguments() {
        let argc = Int(CommandLine.argc)
        let argv = CommandLine.unsafeArgv
        var i = 1
        while i < argc {
            guard let p = argv[i] else { i += 1; continue }
            let arg = String(cString: p)
            if arg == "--" { break }
            if let eq = arg.utf8.firstIndex(of: UInt8(ascii: "=")), PersonalInput.argvOptions.contains(String(arg[..<eq])) {
                let offset = arg.utf8.distance(from: arg.utf8.startIndex, to: eq) + 1
                memset(p + offset, Int32(UInt8(ascii: "*")), strlen(p + offset))
            } else if PersonalInput.argvOptions.contains(arg), i + 1 < argc, let value = argv[i + 1] {
                memset(value, Int32(UInt8(ascii: "*")), strlen(value))
                i += 1
            }
            i += 1
        }
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

    /// No core dumps and not dumpable (no ptrace attach or /proc/PID/mem read by other processes of the user): they
    /// would reach keys and records. Files the process creates are private.
    /// SIGPIPE is ignored: a closed pipe is reported (EPIPE, exit 1) like every other failed write.
    static func hardenProcess() {
        signal(SIGPIPE, SIG_IGN)
        VaultService.hardenProcess()
    }
}

struct InitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "init", abstract: "Create a store (idempotent).")
    @OptionGroup var global: GlobalOptions
    @Option(help: ArgumentHelp("The jurisdiction a new store declares: an ISO 3166-1 alpha-2 country code (default JP). Set at creation, never changed; for an existing store it must match.", valueName: "code"))
    var jurisdiction: String?

    func run() async throws {
        let (service, initialization) = try await VaultService.initialize(storePath: global.storePath, rootKey: global.rootKey,
                                                                         configuration: GlobalOptions.serviceConfiguration,
                                                                         jurisdiction: jurisdiction)
        let declared = service.jurisdiction
        let publicKey: String
        do { publicKey = try await service.storePublicKey().publicKey.hexText } catch { await service.shutdown(); throw error }
        await service.shutdown()
        let (root, id, location) = (service.storePath, service.storeId, service.rootKeyLocation)
        let (created, upgraded) = (initialization.created, initialization.upgraded)
        try emit(json: global.json, ["store": root, "storeId": id, "created": created, "upgraded": upgraded,
                                     "rootKey": location, "publicKey": publicKey, "jurisdiction": declared]) {
            let head = created ? "created store \(root) (id \(id))"
                : upgraded ? "upgraded store \(root) (id \(id)): it now has a root key"
                : "store \(root) exists already (id \(id))"
            return head + "\nroot key: \(location) (keep it outside the store and back it up apart from the store's backups)"
                + "\nstore public key: \(publicKey)\njurisdiction: \(declared)"
        }
    }
}
