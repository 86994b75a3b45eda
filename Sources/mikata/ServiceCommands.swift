import ArgumentParser
import MikataService

/// Write-only services (an app's back end, a reminder job, a pill box): they append sealed records to the vaults of
/// patients who authorised them and read nothing (docs/SECURITY.md, "Who may do what").
struct ServiceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "service", abstract: "Write-only services: their keys and the patients' authorisations.",
                                                    subcommands: [Create.self, Authorize.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a write-only service's key: the secret goes to --out (a new file, 0600, kept by the service); prints its id and public key.",
            discussion: "The store is not touched: a patient authorises the service with 'mikata service authorize', then 'mikata record add --as-service FILE' appends.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Where to write the service key file (a new file).") var out: String

        func run() async throws {
            let key = ServiceKey.generate()
            try await key.write(to: out)
            try emit(json: global.json, ["serviceId": key.id.hex, "publicKey": key.signPublicKey.hexText, "keyFile": out]) {
                "created service \(key.id.hex)\npublic key: \(key.signPublicKey.hexText)\nkeep \(out) secret: whoever holds it can append to the vaults that authorise this service"
            }
        }
    }

    struct Authorize: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Authorise a write-only service to append to a patient's vault (patient's password); it reads nothing.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var account: EmailOptions
        @Option(help: ArgumentHelp("The service's key file ('mikata service create --out').", valueName: "file")) var serviceKeyFile: String?
        @Option(help: "The service's id (32 hexadecimal digits), with --public-key, instead of its key file.") var serviceId: String?
        @Option(help: "The service's Ed25519 public key (64 hexadecimal digits), with --service-id.") var publicKey: String?
        @OptionGroup var password: PasswordOptions

        func validate() throws {
            let byParts = serviceId != nil || publicKey != nil
            if serviceKeyFile != nil && byParts { throw ValidationError("give either --service-key-file or --service-id with --public-key, not both") }
            if serviceKeyFile == nil && (serviceId == nil || publicKey == nil) {
                throw ValidationError("give --service-key-file, or both --service-id and --public-key")
            }
        }

        func run() async throws {
            let email = try account.resolve()
            let id: ServiceID
            let signPublicKey: [UInt8]
            if let serviceKeyFile {
                let key = try await ServiceKey.read(path: serviceKeyFile)
                (id, signPublicKey) = (key.id, key.signPublicKey)
            } else {
                guard let parsed = serviceId.flatMap(ServiceID.init(hex:)) else { throw CLIError.usage("--service-id must be 32 hexadecimal digits") }
                guard let k = publicKey.flatMap([UInt8].init(hexText:)), k.count == 32 else {
                    throw CLIError.usage("--public-key must be 64 hexadecimal digits")
                }
                (id, signPublicKey) = (parsed, k)
            }
            let vaultId = try await global.withService { service in
                let session = try await service.unlockPatient(email: email, password: try password.read())
                defer { session.close() }
                try await service.authorizeService(session, serviceId: id, signPublicKey: signPublicKey)
                return session.vaultId
            }
            try emit(json: global.json, ["vaultId": vaultId.hex, "serviceId": id.hex, "authorized": true]) {
                "authorized service \(id.hex) to append to vault \(vaultId.hex) (it cannot read anything)"
            }
        }
    }
}
