import ArgumentParser
import Configuration
import Foundation
import Logging
import MikataServer
import MikataService

/// `mikata serve`: the HTTP service (docs/openapi.yaml; settings in docs/OPERATIONS.md, "The HTTP service").
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the HTTP service (JSON API under /v1, docs/openapi.yaml) until SIGTERM or SIGINT.",
        discussion: """
            Settings come from the flags, then MIKATA_* environment variables (MIKATA_HTTP_PORT, MIKATA_STORE_PATH, ...), \
            then the JSON file given with --config; docs/OPERATIONS.md lists every key and default. The store is \
            created with its root key on first start, as 'mikata init' does.
            """)

    @Option(help: ArgumentHelp("Address to listen on (default 127.0.0.1:8080).", valueName: "host:port")) var listen: String?
    @Option(help: "The store directory (default: $MIKATA_STORE, else ./mikata-data).") var store: String?
    @Option(help: ArgumentHelp("A JSON settings file.", valueName: "file")) var config: String?
    @Option(help: ArgumentHelp("The store root key file (default: as 'mikata init').", valueName: "file")) var rootKeyFile: String?
    @Option(help: ArgumentHelp("TLS certificate chain (PEM); with --tls-key.", valueName: "file")) var tlsCert: String?
    @Option(help: ArgumentHelp("TLS private key (PEM); with --tls-cert.", valueName: "file")) var tlsKey: String?

    func run() async throws {
        var flags: [String: ConfigContent] = [:]
        if let listen {
            guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]) else {
                throw CLIError.usage("--listen takes HOST:PORT (127.0.0.1:8080, [::1]:8080)")
            }
            var host = String(listen[..<colon])
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            flags["http.host"] = .string(host)
            flags["http.port"] = .int(port)
        }
        let storeDefault = VaultService.defaultStorePath(explicit: store)
        if store != nil || ProcessInfo.processInfo.environment["MIKATA_STORE_PATH"] == nil { flags["store.path"] = .string(storeDefault) }
        if let rootKeyFile { flags["store.rootKeyFile"] = .string(rootKeyFile) }
        if let tlsCert { flags["tls.certificatePath"] = .string(tlsCert) }
        if let tlsKey { flags["tls.keyPath"] = .string(tlsKey) }
        let settings: ServerConfiguration
        do {
            settings = try ServerConfiguration(reader: try await ServerConfiguration.reader(flags: flags, file: config))
        } catch let e as MikataError {
            throw e
        } catch {
            throw CLIError.usage("--config: the settings file cannot be read as JSON")
        }
        let level = settings.logLevel
        LoggingSystem.bootstrap { JSONLogHandler(label: $0, level: level) }
        defer { LogLineWriter.standardError.flush() }  // what the server logged up to its shutdown
        let logger = Logger(label: "mikata.serve")
        let service = try await MikataServer.openStore(settings)
        let server = MikataServer(configuration: settings, service: service, logger: logger)
        let scheme = settings.tlsCertificatePath == nil ? "http" : "https"
        let host = settings.host.contains(":") ? "[\(settings.host)]" : settings.host
        try await server.run { port in
            let base = "\(scheme)://\(host):\(port)"
            let tour = """
                mikata serve: listening on \(base) (store \(service.storePath), jurisdiction \(service.jurisdiction))
                root key: \(service.rootKeyLocation) (keep it outside the store and back it up apart from the store's backups)
                Try it (bash: passwords and tokens go in on stdin or a file descriptor, never on a command line):
                  curl -s \(base)/v1/info
                  curl -s \(base)/v1/patients -H 'Content-Type: application/json' --data @- <<< '{"email":"taro@example.jp","nickname":"Taro","password":"correct horse battery"}'
                  TOKEN=$(curl -s \(base)/v1/patients/login -H 'Content-Type: application/json' --data @- <<< '{"email":"taro@example.jp","password":"correct horse battery"}' | jq -r .token)
                Then: curl -s -H @<(echo "Authorization: Bearer $TOKEN") \(base)/v1/patient/records. Stop with Ctrl-C.

                """
            FileHandle.standardOutput.write(Data(tour.utf8))
        }
    }
}
