import Configuration
import Foundation
import Testing
@testable import MikataServer
@_spi(Testing) import MikataService

/// `passwords.cost: minimum-for-testing` is for `make test`'s schemathesis run only: refused unless the process
/// environment has `MIKATA_ALLOW_TEST_PASSWORD_COST=1` (never from a file or a flag).
@Suite struct ConfigurationTests {
    static var allowed: Bool { ProcessInfo.processInfo.environment["MIKATA_ALLOW_TEST_PASSWORD_COST"] == "1" }

    @Test(.disabled(if: allowed, "the test process itself allows the test cost"))
    func theTestPasswordCostIsRefusedWithoutItsEnvironmentVariable() async throws {
        for source in ["flag", "environment"] {
            let reader = try await ServerConfiguration.reader(
                flags: source == "flag" ? ["passwords.cost": .string("minimum-for-testing")] : [:], file: nil,
                environment: source == "environment" ? ["MIKATA_PASSWORDS_COST": "minimum-for-testing"] : [:])
            #expect(throws: MikataError.self, "\(source)") { try ServerConfiguration(reader: reader) }
        }
        let moderate = try await ServerConfiguration.reader(flags: [:], file: nil, environment: ["MIKATA_PASSWORDS_COST": "moderate"])
        #expect(try ServerConfiguration(reader: moderate).passwordCost == .moderate)
        #expect(ServerConfiguration().passwordCost == .interactive)
    }
}
