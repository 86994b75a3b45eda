import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
@testable import MikataServer
@_spi(Testing) import MikataService
import NIOCore
import NIOSSL
import NIOHTTP1
import ServiceLifecycle
import Testing

/// `--tls-cert/--tls-key`: the service speaks HTTPS with the given PEM files (fixtures/tls, a throwaway self-signed
/// certificate for localhost), and refuses to start with files that are not PEM.
@Suite struct TLSTests {
    static var fixtures: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("fixtures/tls").path
    }

    func service(_ base: String) async throws -> VaultService {
        var vc = VaultServiceConfiguration()
        vc.passwordCost = .minimumForTesting
        return try await VaultService.initialize(storePath: base + "/store", rootKey: .directory(base + "/keys"), configuration: vc).service
    }

    @Test func servesHTTPSWithTheConfiguredCertificate() async throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("mikata-tls-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: base) }
        var c = ServerConfiguration()
        c.port = 0
        c.tlsCertificatePath = Self.fixtures + "/test-cert.pem"
        c.tlsKeyPath = Self.fixtures + "/test-key.pem"
        let server = MikataServer(configuration: c, service: try await service(base), logger: Logger(label: "tls-test"))
        let (ports, portSink) = AsyncStream.makeStream(of: Int.self)
        let app = try server.application { port in portSink.yield(port) }
        let running = Task { try await app.runService() }
        var iterator = ports.makeAsyncIterator()
        let port = try #require(await iterator.next())

        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .file(Self.fixtures + "/test-cert.pem")
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
        let response = try await client.execute(HTTPClientRequest(url: "https://localhost:\(port)/v1/info"), timeout: .seconds(10))
        #expect(response.status == .ok)
        let body = try await response.body.collect(upTo: 1 << 16)
        #expect(String(buffer: body).contains(#""jurisdiction":"JP""#))
        // Plain HTTP on the TLS port gets no answer.
        let plain = HTTPClient(eventLoopGroupProvider: .singleton)
        await #expect(throws: (any Error).self) {
            _ = try await plain.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/info"), timeout: .seconds(5))
        }
        try await client.shutdown()
        try await plain.shutdown()
        running.cancel()
        _ = try? await running.value
        await server.stop()
    }

    @Test func aCertificateThatIsNotPEMStopsTheStart() async throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("mikata-tls-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: base) }
        try Data("not a certificate".utf8).write(to: URL(fileURLWithPath: base + "/bad.pem"))
        var c = ServerConfiguration()
        c.tlsCertificatePath = base + "/bad.pem"
        c.tlsKeyPath = Self.fixtures + "/test-key.pem"
        let server = MikataServer(configuration: c, service: try await service(base), logger: Logger(label: "tls-test"))
        do {
            _ = try server.application()
            Issue.record("started with a bad certificate")
        } catch let e as MikataError {
            #expect(e.code == .invalidInput && e.message.hasPrefix("tls"))
        }
        await server.stop()
    }
}
