import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import MikataService

// Issue 10 §1 photos: `mikata photo add | list | get` (docs/ADHERENCE.md "Photos"). Photo bytes only ever go to and
// from files, a piece at a time; they are never printed.

struct PhotoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "photo", abstract: "Photos (JPEG or PNG) kept in a vault as evidence of a dose.",
                                                    subcommands: [Add.self, List.self, Get.self])

    /// The largest photo: `MIKATA_PHOTOS_MAX_BYTES` (as `mikata serve`'s `photos.maxBytes`), else 5 MiB.
    static var maxBytes: Int {
        ProcessInfo.processInfo.environment["MIKATA_PHOTOS_MAX_BYTES"].flatMap { Int($0) }.flatMap { $0 > 0 ? $0 : nil }
            ?? VaultService.photoMaxBytesDefault
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Store a JPEG or PNG photo in the patient's vault (the patient's or a linked supporter's password); prints its id.",
            discussion: "The file is checked (a regular file, at most 5 MiB or $MIKATA_PHOTOS_MAX_BYTES, starting with a JPEG or PNG signature) before any password is asked, then streamed into the vault in 256 KiB chunks.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var account: EmailOptions
        @Option(help: ArgumentHelp("The photo: a JPEG or PNG file.", valueName: "path")) var file: String
        @Option(help: ArgumentHelp("The sequence number of the dose-event record the photo documents.", valueName: "seq")) var doseEvent: UInt64?
        @OptionGroup var actor: ActorOptions

        func run() async throws {
            VaultService.giveLargeBuffersBack()
            let email = try account.resolve()
            let source = try PhotoFile(path: file, maxBytes: PhotoCommand.maxBytes)  // checked before any password is asked
            let (manifest, pin) = try await global.withService { service -> (PhotoManifest, PinReport?) in
                let session = try await actor.unlock(service, patientEmail: email)
                defer { session.close() }
                switch session {
                case .patient(let s):
                    return (try await service.addPhoto(s, bytes: source.pieces(), expectedByteCount: source.size, doseEvent: doseEvent,
                                                       maxBytes: PhotoCommand.maxBytes), nil)
                case .supporter(let s):
                    let r = try await service.addPhoto(s, to: .email(email), bytes: source.pieces(), expectedByteCount: source.size,
                                                       doseEvent: doseEvent, maxBytes: PhotoCommand.maxBytes, acceptNewVault: actor.acceptNewVault)
                    return (r.manifest, PinReport(pin: r.pin, vaultId: r.vaultId))
                }
            }
            if let w = pin?.warning { reportWarning(w) }
            let object = (try? JSONSerialization.jsonObject(with: Data(manifest.json()))) as? [String: Any] ?? [:]
            try emit(json: global.json, object.merging(PinReport.fields(pin)) { a, _ in a }) {
                "stored photo \(manifest.id) (\(manifest.contentType.rawValue), \(manifest.byteCount) bytes)"
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the photos of a patient's vault (the patient's or a linked supporter's password).")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var account: EmailOptions
        @OptionGroup var actor: ActorOptions

        func run() async throws {
            let email = try account.resolve()
            let list = try await global.withService { service -> PhotoList in
                let session = try await actor.unlock(service, patientEmail: email)
                defer { session.close() }
                switch session {
                case .patient(let s): return try await service.photos(s)
                case .supporter(let s): return try await service.photos(s, of: .email(email))
                }
            }
            if let w = PinReport(pin: list.pin, vaultId: list.vaultId).warning { reportWarning(w) }
            if global.json { try StandardOutput.json(list.json()); return }
            if list.photos.isEmpty { try StandardOutput.line("No photos."); return }
            let times = RecordTimeFormatter()
            var lines: [String] = []
            for p in list.photos {
                lines.append("\(p.id)  \(times.string(millis: p.timeMillis))  \(p.contentType.rawValue)  \(p.byteCount) bytes  "
                             + (p.doseEvent.map { "dose-event \($0)  " } ?? "") + p.author.description)
            }
            try StandardOutput.line(lines.joined(separator: "\n"))
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a photo to a new file (the patient's or a linked supporter's password).",
            discussion: "The file is written beside its name as a temporary (0600), synced, then linked to the name: it never replaces an existing file, and a photo that fails its checks part way leaves nothing under the name.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var account: EmailOptions
        @Option(help: ArgumentHelp("The photo's id (as 'mikata photo list' shows it).", valueName: "id")) var id: UInt64
        @Option(help: ArgumentHelp("The new file to write the image to.", valueName: "path")) var out: String
        @OptionGroup var actor: ActorOptions

        func validate() throws {
            if out == "-" { throw ValidationError("--out takes a file: photo bytes are never written to standard output") }
        }

        func run() async throws {
            VaultService.giveLargeBuffersBack()
            let email = try account.resolve()
            if ExportCommand.exists(out) { throw MikataError(.alreadyExists, "the output file exists already; choose a new name") }
            let manifest = try await global.withService { service -> PhotoManifest in
                let session = try await actor.unlock(service, patientEmail: email)
                defer { session.close() }
                let download: PhotoDownload
                switch session {
                case .patient(let s): download = try await service.photo(s, id: id)
                case .supporter(let s): download = try await service.photo(s, of: .email(email), id: id)
                }
                if let w = PinReport(pin: download.pin, vaultId: download.vaultId).warning { reportWarning(w) }
                let file = try ClientOutputFile(creatingNew: out)
                for try await chunk in download.chunks { try file.write(chunk) }
                try file.commit()
                return download.manifest
            }
            try emit(json: global.json, ["id": manifest.id, "contentType": manifest.contentType.rawValue, "byteCount": manifest.byteCount,
                                         "blake2b256": manifest.blake2b256, "out": out]) {
                "wrote photo \(manifest.id) (\(manifest.contentType.rawValue), \(manifest.byteCount) bytes) to \(out)"
            }
        }
    }
}

/// A photo file to send: opened once (no symbolic link followed), checked to be a regular file within the limit
/// whose first bytes are a JPEG or PNG signature, then read in 64 KiB pieces.
struct PhotoFile: Sendable {
    let fd: Int32
    let size: Int

    init(path: String, maxBytes: Int) throws {
        let fd = ClientFiles.withCString(path) { open($0, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC) }
        guard fd >= 0 else { throw CLIError.notFound("cannot open the photo file: \(String(cString: strerror(errno)))") }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw CLIError.usage("the photo must be a regular file")
        }
        guard Int(st.st_size) <= maxBytes else {
            close(fd)
            throw MikataError(.tooLarge, "photo: larger than the limit of \(maxBytes) bytes; nothing was stored")
        }
        var head = [UInt8](repeating: 0, count: 8)
        let n = head.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 8, 0) }
        guard n == 8, PhotoContentType.sniff(head) != nil else {
            close(fd)
            throw MikataError(.invalidInput, "photo: not a JPEG or PNG image (its first bytes are neither FF D8 FF nor 89 50 4E 47 0D 0A 1A 0A)")
        }
        self.fd = fd
        size = Int(st.st_size)
    }

    /// The file's bytes from the start, 64 KiB at a time (the descriptor is closed at the end).
    func pieces() -> AsyncThrowingStream<[UInt8], any Error> {
        let reader = Reader(fd: fd)
        return AsyncThrowingStream(unfolding: { try reader.next() })
    }

    /// Where the reading is; the stream asks for one piece at a time, never two at once.
    private final class Reader: @unchecked Sendable {
        let fd: Int32
        var offset = 0
        var done = false
        init(fd: Int32) { self.fd = fd }

        func next() throws -> [UInt8]? {
            if done { return nil }
            var buffer = [UInt8](repeating: 0, count: 64 << 10)
            var n: Int
            repeat { n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(offset)) } } while n < 0 && errno == EINTR
            if n < 0 { done = true; close(fd); throw CLIError.io("cannot read the photo file: \(String(cString: strerror(errno)))") }
            if n == 0 { done = true; close(fd); return nil }
            offset += n
            buffer.removeLast(buffer.count - n)
            return buffer
        }
    }
}
