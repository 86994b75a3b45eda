import Foundation
import HTTPTypes
import Hummingbird
import Testing
@testable import MikataServer

/// docs/openapi.yaml and the routes the server registers are the same set (issue 9 §1: "test that every route and
/// the spec agree"). The spec's `paths:` are read by line (no YAML package): a path is a two-space-indented key
/// starting with `/`, an operation a four-space-indented HTTP method under it.
@Suite struct RouteSpecAgreementTests {
    /// Routes the contract (and so the spec) has but that parallel work adds to the server (administrators,
    /// services). Each must be absent from the server while listed here: delete a line when its route lands.
    static let pendingRoutes: Set<String> = []

    static func specRoutes() throws -> Set<String> {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/openapi.yaml")
        let text = try String(contentsOf: url, encoding: .utf8)
        var routes: Set<String> = []
        var inPaths = false
        var path: String?
        let methods: Set<String> = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if !line.hasPrefix(" ") && !line.isEmpty { inPaths = line == "paths:"; path = nil; continue }
            guard inPaths else { continue }
            if line.hasPrefix("  /"), !line.hasPrefix("   "), line.hasSuffix(":") {
                path = String(line.dropFirst(2).dropLast())
            } else if let path, line.hasPrefix("    "), !line.hasPrefix("     "), line.hasSuffix(":") {
                let key = String(line.dropFirst(4).dropLast())
                if methods.contains(key) { routes.insert("\(key.uppercased()) \(path)") }
            }
        }
        return routes
    }

    @Test func theSpecParsesToTheContractsRoutes() throws {
        let spec = try Self.specRoutes()
        #expect(spec.count == 52)  // 36 of issue 9; of issue 10: 5 adherence, 6 photo, 3 notice and 2 regimen-template routes
        #expect(spec.contains("GET /v1/supporter/patients/{vaultId}/records"))
        #expect(spec.contains("POST /v1/admin/shred-requests") && spec.contains("GET /v1/admin/shred-requests"))
    }

    @Test func everyServedRouteIsInTheSpecAndEverySpecRouteIsServed() async throws {
        let f = try await ServerFixture.make()
        let served = Set(f.server.router().routes.map { "\($0.method.rawValue) \($0.path)" })
        await f.tearDown()
        let spec = try Self.specRoutes()
        #expect(served.subtracting(spec).sorted() == [], "served but not in docs/openapi.yaml")
        #expect(spec.subtracting(served).subtracting(Self.pendingRoutes).sorted() == [], "in docs/openapi.yaml but not served")
        #expect(served.intersection(Self.pendingRoutes).sorted() == [], "served now: remove from pendingRoutes")
    }
}
