import ArgumentParser
import MikataService

/// Write-only services (an app's back end, a reminder job, a pill box): they append sealed records to the vaults of
/// patients who authorised them and read nothing (docs/SECURITY.md, "Who may do what").
struct ServiceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "service", abstract: "Write-only services: their keys and the patients' authorisations.",
                                                    subcommands: [Create.self, Register.self, List.self, Revoke.self, Authorize.self])

    struct Register: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register a write-only service in the store and print its id and API key, once (the store keeps only the key's hash).",
            discussion: "The service sends the key as 'Authorization: Bearer KEY' to POST /v1/service/records; a patient authorises it with 'mikata service authorize --service-id ID'.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "What the service is (e.g. 'pillbox reminders'; 1 to 256 bytes).") var name: String
        @Option(name: .customLong("operator"), help: "Who registers it (operator id, for the access log).") var operatorId: String = "operator"

        func run() async throws {
            let r = try await global.withService { service in try await service.registerService(name: name, operatorId: operatorId) }
            let apiKey = r.apiKey.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
            try emit(json: global.json, ["serviceId": r.service.serviceId.hex, "name": r.service.name, "publicKey": r.service.signPublicKey.hexText,
                                         "createdAt": r.service.createdAt, "apiKey": apiKey]) {
                "registered service \(r.service.serviceId.hex)\nAPI key (shown once, not stored: give it to the service and keep it secret):\n\(apiKey)"
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the registered services (ids, names, creation times, revoked or not; never a key).")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let services = try await global.withService { service in try await service.listServices() }
            try emit(json: global.json, ["services": services.map {
                ["serviceId": $0.serviceId.hex, "name": $0.name, "publicKey": $0.signPublicKey.hexText, "createdAt": $0.createdAt, "revoked": $0.revoked] as [String: Any]
            }]) {
                services.isEmpty ? "no registered services"
                    : services.map { "\($0.serviceId.hex)  \($0.createdAt)  \($0.revoked ? "revoked" : "active ")  \($0.name)" }.joined(separator: "\n")
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a registered service: its API key is refused from the next request on.",
            discussion: "Vaults that authorised it keep its entry in their headers, inert without a valid key.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "The service's id (32 hexadecimal digits).") var serviceId: String
        @Option(name: .customLong("operator"), help: "Who revokes it (operator id, for the access log).") var operatorId: String = "operator"

        func run() async throws {
            guard let id = ServiceID(hex: serviceId) else { throw CLIError.usage("--service-id must be 32 hexadecimal digits") }
            try await global.withService { service in try await service.revokeService(id, operatorId: operatorId) }
            try emit(json: global.json, ["serviceId": id.hex, "revoked": true]) { "revoked service \(id.hex): its API key is refused from now on" }
        }
    }

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
        @Option(help: "The service's id (32 hexadecimal digits): alone for a service registered in the store ('mikata service register'), else with --public-key, instead of its key file.") var serviceId: String?
        @Option(help: "The service's Ed25519 public key (64 hexadecimal digits), with --service-id, for a service not registered in the store.") var publicKey: String?
        @OptionGroup var password: PasswordOptions

        func validate() throws {
            let byParts = serviceId != nil || publicKey != nil
            if serviceKeyFile != nil && byParts { throw ValidationError("give either --service-key-file or --service-id with --public-key, not both") }
            if serviceKeyFile == nil && serviceId == nil {
                throw ValidationError("give --service-id (with --public-key for a service not registered in the store) or --service-key-file")
            }
        }

        func run() async throws {
            let email = try account.resolve()
            let id: ServiceID
            let signPublicKey: [UInt8]?
            if let serviceKeyFile {
                let key = try await ServiceKey.read(path: serviceKeyFile)
                (id, signPublicKey) = (key.id, key.signPublicKey)
            } else {
                guard let parsed = serviceId.flatMap(ServiceID.init(hex:)) else { throw CLIError.usage("--service-id must be 32 hexadecimal digits") }
                if let publicKey {
                    guard let k = [UInt8](hexText: publicKey), k.count == 32 else { throw CLIError.usage("--public-key must be 64 hexadecimal digits") }
                    (id, signPublicKey) = (parsed, k)
                } else {
                    (id, signPublicKey) = (parsed, nil)  // a registered service: its key comes from the registry
                }
            }
            let vaultId = try await global.withService { service in
                let session = try await service.unlockPatient(email: email, password: try password.read())
                defer { session.close() }
                if let signPublicKey {
                    try await service.authorizeService(session, serviceId: id, signPublicKey: signPublicKey)
                } else {
                    try await service.authorizeRegisteredService(session, serviceId: id)
                }
                return session.vaultId
            }
            try emit(json: global.json, ["vaultId": vaultId.hex, "serviceId": id.hex, "authorized": true]) {
                "authorized service \(id.hex) to append to vault \(vaultId.hex) (it cannot read anything)"
            }
        }
    }
}
