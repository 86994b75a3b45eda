import ArgumentParser
import MikataServer
import MikataService

/// The HTTP service's administrators (docs/OPERATIONS.md, "Administrators"): password + TOTP accounts that log in
/// at `/v1/admin/login`. Managed here by the store's Unix user, who needs no administrator login to do so.
struct AdminCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "admin", abstract: "Administrators of 'mikata serve': create, list, delete.",
                                                    subcommands: [Create.self, List.self, Delete.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create an administrator; prints its TOTP secret and otpauth:// URL once (enrol them in an authenticator app now).",
            discussion: "The name is 1 to 64 of a-z, 0-9, '.', '_', '-'. The password (at least 8 bytes) is kept as an Argon2id hash; the TOTP secret sealed under the store's root key.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "The administrator's name (an operator id such as 'op1').") var name: String
        @OptionGroup var password: PasswordOptions

        func run() async throws {
            let secret = try password.readNew()
            let enrolment = try await global.withService { service in try await service.createAdministrator(name: name, password: secret) }
            let url = AdministratorTOTP.authenticatorURL(enrolment)
            try emit(json: global.json, ["name": enrolment.name, "totpSecret": enrolment.authenticatorKey, "otpauthURL": url]) {
                """
                created administrator \(enrolment.name)
                TOTP secret (base32, for an authenticator app): \(enrolment.authenticatorKey)
                otpauth URL: \(url)
                shown once: enrol it now (RFC 6238, SHA-1, 6 digits, 30 s); it cannot be shown again
                """
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the administrators (names and creation times; no secret).")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let list = try await global.withService { service in try await service.administrators() }
            try emit(json: global.json, ["administrators": list.map { ["name": $0.name, "createdAt": $0.createdAt] }]) {
                list.isEmpty ? "no administrators" : list.map { "\($0.name)\tcreated \($0.createdAt)" }.joined(separator: "\n")
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete an administrator (its server sessions end at their next request).")
        @OptionGroup var global: GlobalOptions
        @Option(help: "The administrator's name.") var name: String

        func run() async throws {
            try await global.withService { service in try await service.deleteAdministrator(name: name) }
            try emit(json: global.json, ["name": name.lowercased(), "deleted": true]) { "deleted administrator \(name.lowercased())" }
        }
    }
}
