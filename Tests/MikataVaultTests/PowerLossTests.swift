import Foundation
import Testing
@testable import MikataVault
import MikataCrypto

/// Power loss at every I/O step of a sequence of operations (docs/RELIABILITY.md): unsynced writes are dropped and
/// the last one torn; after "reboot" every acknowledged operation must be there and the vault must open and verify.
@Suite("Power loss")
struct PowerLossTests {
    enum Op: Equatable {
        case append(String, bySupporter: Bool)
        case grant
        case revoke(reencrypt: Bool)
        case changePassword
    }

    static let sequence: [Op] = [
        .append("p1", bySupporter: false), .grant, .append("s1", bySupporter: true), .append("p2", bySupporter: false),
        .changePassword, .append("p3", bySupporter: false), .revoke(reencrypt: false), .append("p4", bySupporter: false),
        .grant, .revoke(reencrypt: true), .append("p5", bySupporter: false),
    ]

    struct Outcome {
        var acknowledged: [Op] = []
        var inFlight: Op?
    }

    /// Runs the sequence with the simulator armed; returns what was acknowledged before the cut.
    static func run(_ s: Scratch, cutAt: Int, seed: UInt64) throws -> (Outcome, steps: Int) {
        let (vault, _) = try s.patient()
        let (nurseKeys, nurse) = try s.supporter("nurse@example.jp")
        var patient = try vault.unlock(password: pw("patient-pw"))
        let sim = PowerLossSimulator(root: s.dir, cutAt: cutAt, seed: seed)
        sim.arm()
        defer { sim.disarm() }
        var outcome = Outcome()
        for op in sequence {
            outcome.inFlight = op
            do {
                switch op {
                case .append(let text, let bySupporter):
                    let session = bySupporter ? try vault.unlock(supporter: nurse) : patient
                    try vault.append(type: "note", data: json("\"\(text)\""), session: session)
                case .grant:
                    try vault.grant(nurseKeys, session: patient)
                case .revoke(let reencrypt):
                    try vault.revoke(nurseKeys.id, reencrypt: reencrypt, session: patient)
                case .changePassword:
                    try vault.changePassword(to: pw("new-pw"), kdf: .minimumForTesting, session: patient)
                    patient = try vault.unlock(password: pw("new-pw"))
                }
            } catch let e as VaultError {
                guard sim.cut else { throw e }
                return (outcome, sim.steps)
            }
            outcome.acknowledged.append(op)
            outcome.inFlight = nil
        }
        return (outcome, sim.steps)
    }

    @Test("every acknowledged operation survives a power cut at any I/O step; the vault always opens and verifies")
    func cutAtEveryStep() throws {
        let total = try Self.run(try Scratch(), cutAt: Int.max, seed: 0).steps
        #expect(total > 40)
        var cuts = 0
        for cut in 1...total {
            let s = try Scratch()
            let (outcome, _) = try Self.run(s, cutAt: cut, seed: UInt64(cut))
            cuts += 1
            // Reboot: fresh objects on the same folder.
            let store = try Store.open(at: s.dir)
            store.kdf = .minimumForTesting
            let vault = try store.openVault(email: "patient@example.jp")
            let passwordChanged = outcome.acknowledged.contains(.changePassword)
            let session: VaultSession
            if passwordChanged {
                session = try vault.unlock(password: pw("new-pw"))
            } else if outcome.inFlight == .changePassword, let s2 = try? vault.unlock(password: pw("new-pw")) {
                session = s2
            } else {
                session = try vault.unlock(password: pw("patient-pw"))
            }
            // The first write after the reboot repairs an interrupted header write; then everything must verify.
            let texts = try vault.records(session).dropFirst().map { String(decoding: $0.data, as: UTF8.self) }
            try vault.append(type: "note", data: json("\"after\""), session: session)
            let report = try vault.verify(session)
            var expected: [String] = []
            for op in outcome.acknowledged { if case .append(let t, _) = op { expected.append("\"\(t)\"") } }
            // Every acknowledged append is there, in order; at most the in-flight one more.
            if case .append(let t, _)? = outcome.inFlight, texts.count == expected.count + 1 { expected.append("\"\(t)\"") }
            #expect(texts == expected, "cut at step \(cut) of \(total): records \(texts), expected \(expected)")
            // Access state matches what was acknowledged.
            let grants = outcome.acknowledged.filter { $0 == .grant }.count
            let revokes = outcome.acknowledged.filter { if case .revoke = $0 { true } else { false } }.count
            let nurse = try store.unlockSupporter(email: "nurse@example.jp", password: pw("nurse-pw"))
            let nurseCanRead = (try? vault.records(vault.unlock(supporter: nurse))) != nil
            let inFlightAccessChange = outcome.inFlight == .grant || { if case .revoke? = outcome.inFlight { true } else { false } }()
            if !inFlightAccessChange {
                #expect(nurseCanRead == (grants > revokes), "cut at step \(cut): supporter access \(nurseCanRead), grants \(grants), revokes \(revokes)")
            }
            #expect(report.recordCount == expected.count + 2)  // profile + acknowledged (+ in-flight) + "after"
        }
        print("power loss: \(cuts) cut points over \(total) I/O steps, 0 acknowledged operations lost")
    }
}
