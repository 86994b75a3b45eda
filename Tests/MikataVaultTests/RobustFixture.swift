import Foundation
import MikataCrypto
import MikataFormat
@testable import MikataVault
import Testing

/// A throw-away store for the robustness tests: minimum Argon2id cost and 1 KiB header copies, so a vault is a few
/// KiB and an unlock costs microseconds (the cost is stored per slot, so every later open is cheap too).
/// Removed when released. Named apart from the fixtures of the other vault test files.
final class RobustFixture {
    let directory: String
    let store: Store

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("mikata-robust-\(UUID().uuidString)").path
        let (store, _) = try Store.initialize(at: directory)
        store.kdf = .minimumForTesting
        store.headerCopyLength = VaultFormat.headerCopyLengthMin
        self.store = store
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    static func password(_ text: String = "pw") -> SecureBytes { SecureBytes(copying: Array(text.utf8)) }

    /// A patient with a supporter who has a key share, and three records after the grant, one by the supporter:
    /// records 1-3 lie after the last header write, so the header's floor vouches only for record 0.
    func smallVault(email: String, supporterEmail: String) throws -> RobustVault {
        let (vaultId, _) = try store.createPatient(email: email, nickname: "Nick", password: Self.password())
        let keys = try store.createSupporter(email: supporterEmail, name: "Nurse", password: Self.password())
        let vault = try store.openVault(id: vaultId)
        let session = try vault.unlock(password: Self.password())
        try vault.grant(keys, session: session)
        try store.recordLink(supporterId: keys.id, vaultId: vaultId)
        try vault.append(type: "dose", data: Array(#"{"mg":300,"n":1}"#.utf8), session: session)
        let supporter = try store.unlockSupporter(email: supporterEmail, password: Self.password())
        try vault.append(type: "message", data: Array(#"{"text":"keep going"}"#.utf8), session: try vault.unlock(supporter: supporter))
        try vault.append(type: "side-effect", data: Array(#"{"symptom":"nausea","grade":1}"#.utf8), session: session)
        let records = try vault.records(session)
        return RobustVault(id: vaultId, path: store.vaultPath(vaultId), supporterId: keys.id, records: records)
    }

    /// Opens a vault as the store does, without its access log: the byte-flip loops open thousands of damaged
    /// files, and an fsync'd log entry per open would multiply their run time by six for nothing they check.
    func openUnlogged(_ id: [UInt8]) throws -> Vault {
        let vault = try store.openVault(id: id)
        vault.audit = nil
        return vault
    }

    /// Opens the vault afresh (unlogged), unlocks it with the password and reads every record.
    func readRecords(_ id: [UInt8], password: String = "pw") throws -> [Record] {
        let vault = try openUnlogged(id)
        return try vault.records(try vault.unlock(password: Self.password(password)))
    }

    /// Every file of the store, with its bytes.
    func storeContents() throws -> [(path: String, bytes: [UInt8])] {
        try store.allFiles().map { ($0, Array(try Data(contentsOf: URL(fileURLWithPath: $0)))) }
    }
}

/// The facts a robustness test needs about one small vault.
struct RobustVault {
    let id: [UInt8]
    let path: String
    let supporterId: [UInt8]
    let records: [Record]
}

/// File surgery on vault files: read, write, and split into preamble, header area and record frames.
enum RobustFile {
    static func read(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }

    static func write(_ bytes: [UInt8], to path: String) throws { try Data(bytes).write(to: URL(fileURLWithPath: path)) }

    /// The byte ranges of a vault file: preamble, header area (both copies) and each complete record frame.
    struct Layout {
        let headerCopyLength: Int
        let headerArea: Range<Int>
        let frames: [Range<Int>]
        var recordsOffset: Int { headerArea.upperBound }
    }

    static func layout(_ bytes: [UInt8]) throws -> Layout {
        let preamble = try Preamble.parse(Array(bytes.prefix(VaultFormat.preambleLength)))
        var frames: [Range<Int>] = []
        var offset = preamble.recordsOffset
        while offset < bytes.count {
            guard case .frame(_, let length) = try RecordFrame.scan(bytes, at: offset) else { break }
            frames.append(offset..<(offset + length))
            offset += length
        }
        return Layout(headerCopyLength: preamble.headerCopyLength,
                      headerArea: VaultFormat.preambleLength..<preamble.recordsOffset, frames: frames)
    }

    /// `target`'s records behind `donor`'s preamble and header copies (which may be of another size: a full header
    /// area grows by a rewrite).
    static func withHead(of donor: [UInt8], onto target: [UInt8]) throws -> [UInt8] {
        Array(donor[0..<(try layout(donor).recordsOffset)]) + Array(target[(try layout(target).recordsOffset)...])
    }

    /// The bytes of header copy A.
    static func headerCopyA(_ bytes: [UInt8]) throws -> ArraySlice<UInt8> {
        bytes[VaultFormat.preambleLength..<(VaultFormat.preambleLength + (try layout(bytes).headerCopyLength))]
    }

    /// A vault file rebuilt from its head (preamble and header area) and a list of frames.
    static func assemble(head: ArraySlice<UInt8>, frames: [ArraySlice<UInt8>]) -> [UInt8] {
        var out = Array(head)
        for f in frames { out += f }
        return out
    }
}

/// The failure class of an error thrown by the vault layer; anything else is named by its type so a test can flag it.
func robustClass(of error: any Error) -> String {
    if let e = error as? VaultError { return e.failureClass }
    return "unexpected \(type(of: error)): \(error)"
}

/// Runs `body` and returns the failure class it threw, or nil if it did not throw.
func robustOutcome<T>(_ body: () throws -> T) -> (value: T?, failure: String?) {
    do { return (try body(), nil) } catch { return (nil, robustClass(of: error)) }
}
