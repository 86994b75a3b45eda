import Foundation
#if canImport(Glibc)
import Glibc
import MikataVault
#endif

/// One operation the driver performs, as the journal describes it. Everything the checker needs to predict the
/// operation's effect is here (the new password, the record's bytes), so an operation in flight at kill time can be
/// recognised whichever way it ended.
struct Operation: Codable, Equatable {
    enum Kind: String, Codable, CaseIterable {
        case createPatient, createSupporter, append, grant, revoke, changePassword, shred, backupKey, backup
    }

    var kind: Kind
    /// The patient's e-mail (every vault operation).
    var patient: String?
    /// The supporter's e-mail (createSupporter, grant, revoke; append by a supporter).
    var supporter: String?
    /// The new password (createPatient, createSupporter, changePassword).
    var password: String?
    /// Nickname or display name (createPatient, createSupporter).
    var name: String?
    /// Record type and JSON text (append).
    var type: String?
    var data: String?
    /// Whether a revocation re-encrypts every record.
    var reencrypt: Bool?
    /// The backup file or the secret backup key file (backup, backupKey).
    var file: String?
}

/// One journal line. `begin` is written (and synced) before an operation starts, `ack` after it returned, `fail` if
/// it threw; `resolve` records how a later run found an operation that was in flight when the process died.
struct JournalEntry: Codable {
    enum Event: String, Codable { case start, begin, ack, fail, resolve }

    var ev: Event
    /// The run's seed.
    var run: UInt64
    /// The operation's number, unique across the whole journal (begin, ack, fail and resolve share it).
    var n: Int?
    var op: Operation?
    /// ack of append: the sequence number; ack of createPatient/createSupporter: the new id (hex).
    var seq: UInt64?
    var id: String?
    /// resolve: whether the interrupted operation took effect.
    var applied: Bool?
    var error: String?
    /// fail: the kind of problem, as the checker names violations.
    var kind: String?
}

/// The journal: a file outside the store, appended one line per event and fdatasync'ed, so it never claims more
/// than the driver saw acknowledged.
final class Journal {
    let path: String
    private var fd: Int32 = -1

    init(path: String) { self.path = path }

    deinit { if fd >= 0 { close(fd) } }

    /// Every complete line; a torn last line (the process died inside `write`) is ignored.
    static func read(_ path: String) throws -> [JournalEntry] {
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        var entries: [JournalEntry] = []
        var lineNumber = 0
        let bytes = [UInt8](data)
        var start = 0
        let decoder = JSONDecoder()
        for i in bytes.indices where bytes[i] == 10 {
            lineNumber += 1
            let line = Data(bytes[start..<i])
            start = i + 1
            if line.isEmpty { continue }
            do { entries.append(try decoder.decode(JournalEntry.self, from: line)) } catch {
                throw TortureError.journal("line \(lineNumber) of \(path) is not a journal entry: \(error)")
            }
        }
        return entries
    }

    /// Opens for appending; cuts off a torn last line first.
    func openForAppend() throws {
        fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw TortureError.journal("cannot open \(path): \(String(cString: strerror(errno)))") }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw TortureError.journal("cannot stat \(path)") }
        let size = Int(st.st_size)
        if size > 0 {
            let bytes = [UInt8]((try? Data(contentsOf: URL(fileURLWithPath: path))) ?? Data())
            let keep = (bytes.lastIndex(of: 10).map { $0 + 1 }) ?? 0
            if keep != size {
                guard ftruncate(fd, off_t(keep)) == 0, fdatasync(fd) == 0 else { throw TortureError.journal("cannot cut the torn tail of \(path)") }
            }
        }
        guard lseek(fd, 0, SEEK_END) >= 0 else { throw TortureError.journal("cannot seek \(path)") }
    }

    /// One line, then fdatasync: the line is on disk before the driver goes on.
    func append(_ entry: JournalEntry) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var line = [UInt8](try encoder.encode(entry))
        line.append(10)
        var done = 0
        while done < line.count {
            let n = line.withUnsafeBytes { write(fd, $0.baseAddress! + done, line.count - done) }
            if n < 0 {
                if errno == EINTR { continue }
                throw TortureError.journal("cannot write \(path): \(String(cString: strerror(errno)))")
            }
            done += n
        }
        guard fdatasync(fd) == 0 else { throw TortureError.journal("cannot fdatasync \(path): \(String(cString: strerror(errno)))") }
    }
}

enum TortureError: Error, CustomStringConvertible {
    case usage(String)
    case journal(String)
    /// The store is not in a state the journal allows (the runner cannot go on).
    case violation(String, String)

    var description: String {
        switch self {
        case .usage(let s), .journal(let s): return s
        case .violation(let cls, let s): return "[\(cls)] \(s)"
        }
    }
}

/// The library's SplitMix64, so a seed replays the same run on any machine.
struct SeededGenerator: RandomNumberGenerator {
    private var mix: SplitMix

    init(seed: UInt64) { mix = SplitMix(seed: seed) }

    mutating func next() -> UInt64 { mix.next() }

    mutating func chance(_ p: Double) -> Bool { Double(next() >> 11) / Double(1 << 53) < p }

    mutating func hex(_ bytes: Int) -> String {
        var s = ""
        for _ in 0..<bytes { s += String(format: "%02x", UInt8(truncatingIfNeeded: next())) }
        return s
    }
}
