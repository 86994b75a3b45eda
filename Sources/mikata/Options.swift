import ArgumentParser
import MikataService

/// Options every command takes.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "The store directory (default: $MIKATA_STORE, else ./mikata-data).")
    var store: String?

    @Flag(name: .long, help: "Machine-readable JSON on stdout.")
    var json = false

    @Option(name: .long, help: ArgumentHelp("The store root key file, kept outside the store (default: $MIKATA_ROOT_KEY_FILE, a systemd credential 'mikata-root-key', $MIKATA_ROOT_KEY_FD, else <storeId>.key in $MIKATA_ROOT_KEY_DIR or ~/.config/mikata/root-keys).", valueName: "file"))
    var rootKeyFile: String?

    var storePath: String { VaultService.defaultStorePath(explicit: store) }

    var rootKey: RootKeyLocation { rootKeyFile.map { .file($0) } ?? .environment }

    /// One command is one operation at a time: a small pool is plenty, and it reads each record once (no signature
    /// cache).
    static var serviceConfiguration: VaultServiceConfiguration {
        var c = VaultServiceConfiguration()
        c.threads = 2
        c.verifiedSignatureCacheEntries = 0
        return c
    }

    /// Opens the store; the caller shuts the service down (`withService` does).
    func openService() async throws -> VaultService {
        try await VaultService.open(storePath: storePath, rootKey: rootKey, configuration: Self.serviceConfiguration)
    }

    /// Opens the store, runs `body`, and shuts the service down whatever happens.
    func withService<R>(_ body: (VaultService) async throws -> R) async throws -> R {
        let service = try await openService()
        do {
            let result = try await body(service)
            await service.shutdown()
            return result
        } catch {
            await service.shutdown()
            throw error
        }
    }
}

/// Where the acting user's password comes from. Never argv.
struct PasswordOptions: ParsableArguments {
    @Option(name: .long, help: "Read the password from the first line of this file.")
    var passwordFile: String?

    @Flag(name: .long, help: "Read the password from the first line of standard input.")
    var passwordStdin = false

    func validate() throws {
        if passwordFile != nil && passwordStdin { throw ValidationError("use either --password-file or --password-stdin, not both") }
    }

    func read(prompt: String = "Password: ") throws -> Secret {
        if let f = passwordFile { return try SecretInput.firstLine(ofFile: f, what: "password") }
        if passwordStdin { return try SecretInput.firstLine(fd: try StandardInput.claim("password"), what: "password") }
        return try SecretInput.prompt(prompt, what: "password")
    }

    /// Reads the password twice at a prompt; once from a file or stdin.
    func readNew(prompt: String = "New password: ") throws -> Secret {
        if passwordFile != nil || passwordStdin { return try read() }
        let first = try SecretInput.prompt(prompt, what: "password")
        let again = try SecretInput.prompt("Repeat: ", what: "password")
        guard first == again else { throw CLIError.usage("the two passwords differ") }
        return first
    }
}

/// `--new-password-file F`, else a double prompt on a terminal.
struct NewPasswordOptions: ParsableArguments {
    @Option(name: .long, help: "Read the new password from the first line of this file.")
    var newPasswordFile: String?

    func read() throws -> Secret {
        if let f = newPasswordFile { return try SecretInput.firstLine(ofFile: f, what: "new password") }
        let first = try SecretInput.prompt("New password: ", what: "new password")
        let again = try SecretInput.prompt("Repeat: ", what: "new password")
        guard first == again else { throw CLIError.usage("the two passwords differ") }
        return first
    }
}
