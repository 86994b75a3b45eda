import Foundation
import MikataCrypto
import Testing

// Project Wycheproof vectors (C2SP/wycheproof testvectors_v1), decoded by one generic loader and run by one
// generic runner that applies the valid / invalid / acceptable rules; each primitive only says what it did.

/// The expected result of one vector.
enum WycheproofResult: String, Decodable, Sendable {
    /// The implementation must accept and produce exactly the expected output.
    case valid
    /// The implementation must reject.
    case invalid
    /// Either is allowed (weak but harmless inputs); accepting must still give the expected output.
    case acceptable
}

/// One test of a Wycheproof file; the conforming type adds the primitive's own fields.
protocol WycheproofTest: Decodable {
    var tcId: Int { get }
    var comment: String { get }
    var flags: [String] { get }
    var result: WycheproofResult { get }
}

/// One `testGroups[]` entry: shared parameters (a public key, sizes) and its tests.
protocol WycheproofGroup: Decodable {
    associatedtype Test: WycheproofTest
    var tests: [Test] { get }
}

/// A whole file. `numberOfTests` is what the file claims, checked against what actually ran.
struct WycheproofFile<Group: WycheproofGroup>: Decodable {
    let algorithm: String
    let numberOfTests: Int
    let testGroups: [Group]
}

/// Bytes written as a lowercase or uppercase hex string in the JSON.
@propertyWrapper
struct Hex: Decodable {
    var wrappedValue: [UInt8]

    init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let bytes = [UInt8](hex: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a hex string"))
        }
        wrappedValue = bytes
    }
}

extension [UInt8] {
    /// Parses an even-length hex string; nil for anything else.
    init?(hex: String) {
        let digits = Array(hex.utf8)
        guard digits.count.isMultiple(of: 2) else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        for i in stride(from: 0, to: digits.count, by: 2) {
            guard let high = nibble(digits[i]), let low = nibble(digits[i + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        self = bytes
    }

    var hexString: String { map { String(format: "%02x", $0) }.joined() }
}

/// What the code under test did with one vector.
enum VectorOutcome {
    /// It accepted; `matchesExpected` says whether its output was the vector's.
    case accepted(matchesExpected: Bool)
    /// It refused with the error class expected for this kind of input.
    case rejected
}

/// Per-file counts, printed so they show up in the test log.
struct WycheproofTally {
    var validPassed = 0
    var invalidRejected = 0
    var acceptableAccepted = 0
    var acceptableRejected = 0
    var failed = 0

    var total: Int { validPassed + invalidRejected + acceptableAccepted + acceptableRejected + failed }

    func summary(_ name: String) -> String {
        var line = "wycheproof \(name): \(total) vectors, \(validPassed) valid ok, \(invalidRejected) invalid rejected, "
            + "\(acceptableAccepted + acceptableRejected) acceptable"
        if acceptableAccepted + acceptableRejected > 0 {
            line += " (\(acceptableAccepted) accepted, \(acceptableRejected) rejected)"
        }
        if failed > 0 { line += ", \(failed) FAILED" }
        return line
    }
}

enum Wycheproof {
    /// `<package root>/fixtures/vectors/wycheproof` (copied from the shared test data with its licence), the package root being the nearest ancestor of this file
    /// that holds Package.swift (so the tests work from any working directory).
    static func vectorDirectory(from file: String = #filePath) throws -> URL {
        var directory = URL(filePath: file).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: directory.appending(path: "Package.swift").path(percentEncoded: false)) {
            let parent = directory.deletingLastPathComponent()
            guard parent.path(percentEncoded: false) != directory.path(percentEncoded: false) else {
                throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: "Package.swift above \(file)"])
            }
            directory = parent
        }
        return directory.appending(path: "fixtures/vectors/wycheproof").standardizedFileURL
    }

    static func load<Group: WycheproofGroup>(_ fileName: String, as _: Group.Type = Group.self) throws -> WycheproofFile<Group> {
        let url = try vectorDirectory().appending(path: fileName)
        return try JSONDecoder().decode(WycheproofFile<Group>.self, from: Data(contentsOf: url))
    }

    /// Runs every vector of `fileName` through `check` and records an issue, naming the tcId, for each vector whose
    /// outcome its result does not allow. `check` returns `.rejected` only for the failure it expects; any error
    /// it lets escape is recorded as a failure of that vector.
    @discardableResult
    static func run<Group: WycheproofGroup>(
        _ fileName: String,
        _ groupType: Group.Type = Group.self,
        sourceLocation: SourceLocation = #_sourceLocation,
        check: (Group, Group.Test) throws -> VectorOutcome
    ) throws -> WycheproofTally {
        let file = try load(fileName, as: groupType)
        var tally = WycheproofTally()
        for group in file.testGroups {
            for test in group.tests {
                let label = "tcId \(test.tcId) (\(test.result.rawValue), \(test.flags.joined(separator: ",")), \"\(test.comment)\")"
                let outcome: VectorOutcome
                do {
                    outcome = try check(group, test)
                } catch {
                    tally.failed += 1
                    Issue.record("\(label): unexpected error \(error)", sourceLocation: sourceLocation)
                    continue
                }
                switch (test.result, outcome) {
                case (.valid, .accepted(matchesExpected: true)):
                    tally.validPassed += 1
                case (.invalid, .rejected):
                    tally.invalidRejected += 1
                case (.acceptable, .accepted(matchesExpected: true)):
                    tally.acceptableAccepted += 1
                case (.acceptable, .rejected):
                    tally.acceptableRejected += 1
                case (_, .accepted(matchesExpected: false)):
                    tally.failed += 1
                    Issue.record("\(label): accepted with the wrong output", sourceLocation: sourceLocation)
                case (.valid, .rejected):
                    tally.failed += 1
                    Issue.record("\(label): a valid vector was rejected", sourceLocation: sourceLocation)
                case (.invalid, .accepted):
                    tally.failed += 1
                    Issue.record("\(label): an invalid vector was accepted", sourceLocation: sourceLocation)
                }
            }
        }
        let name = fileName.replacingOccurrences(of: "_test.json", with: "")
        print(tally.summary(name))
        let inFile = file.testGroups.reduce(0) { $0 + $1.tests.count }
        #expect(inFile == file.numberOfTests, "\(fileName) holds \(inFile) tests but claims \(file.numberOfTests)", sourceLocation: sourceLocation)
        #expect(tally.total == file.numberOfTests, "ran \(tally.total) of \(file.numberOfTests) vectors in \(fileName)", sourceLocation: sourceLocation)
        #expect(tally.total > 0, "no vectors ran from \(fileName)", sourceLocation: sourceLocation)
        return tally
    }
}
