import HTTPTypes
import Foundation
import Hummingbird
import Logging
import MikataService
import NIOCore
import Synchronization

extension MikataServer {
    /// Issue 10 §1 photos (docs/ADHERENCE.md "Photos"): the request body streams into the vault chunk by chunk and the
    /// image streams back out the same way (never collected whole). Limits: `photos.maxBytes` (not
    /// `http.maxBodyBytes`). A vault that does not link the supporter answers 404, like every supporter route.
    func addPhotoRoutes(to router: Router<MikataRequestContext>) {
        let limit = configuration.photosMaxBytes
        let transfers = photoTransfers
        let patient = router.group("/v1/patient").add(middleware: SessionMiddleware(sessions: sessions, roles: ["patient"]))
        patient.post("/photos") { [service] request, context in
            guard case .patient(let session, _)? = context.principal, let account = context.principal?.account else { throw Problem.unauthenticated }
            let upload = try Self.photoUpload(request, limit: limit)
            let slot = try transfers.begin(account: account)
            defer { slot.end() }
            let manifest = try await service.addPhoto(session, bytes: UploadBody(request.body, slot: slot, limit: transfers), contentType: upload.type,
                                                      expectedByteCount: upload.length, doseEvent: upload.doseEvent, maxBytes: limit)
            return Self.created(manifest, location: "/v1/patient/photos/\(manifest.id)")
        }
        patient.get("/photos") { [service] _, context in
            guard case .patient(let session, _)? = context.principal else { throw Problem.unauthenticated }
            return JSONResponse.raw(try await service.photos(session).json())
        }
        patient.get("/photos/{photoId}") { [service] _, context in
            guard case .patient(let session, _)? = context.principal, let account = context.principal?.account else { throw Problem.unauthenticated }
            let slot = try transfers.begin(account: account)
            do { return Self.image(try await service.photo(session, id: try Self.photoId(context)), slot: slot, account: account, logger: context.logger) } catch { slot.end(); throw error }
        }

        let supporter = router.group("/v1/supporter").add(middleware: SessionMiddleware(sessions: sessions, roles: ["supporter"]))
        supporter.post("/patients/{vaultId}/photos") { [service] request, context in
            guard case .supporter(let session, _)? = context.principal, let account = context.principal?.account else { throw Problem.unauthenticated }
            let id = try Self.vaultId(context)
            let upload = try Self.photoUpload(request, limit: limit)
            let slot = try transfers.begin(account: account)
            defer { slot.end() }
            let stored = try await Self.hidingOthers {
                try await service.addPhoto(session, to: .vault(id), bytes: UploadBody(request.body, slot: slot, limit: transfers), contentType: upload.type,
                                           expectedByteCount: upload.length, doseEvent: upload.doseEvent, maxBytes: limit)
            }
            return Self.created(stored.manifest, location: "/v1/supporter/patients/\(id.hex)/photos/\(stored.manifest.id)")
        }
        supporter.get("/patients/{vaultId}/photos") { [service] _, context in
            guard case .supporter(let session, _)? = context.principal else { throw Problem.unauthenticated }
            let id = try Self.vaultId(context)
            return JSONResponse.raw(try await Self.hidingOthers { try await service.photos(session, of: .vault(id)) }.json())
        }
        supporter.get("/patients/{vaultId}/photos/{photoId}") { [service] _, context in
            guard case .supporter(let session, _)? = context.principal, let account = context.principal?.account else { throw Problem.unauthenticated }
            let id = try Self.vaultId(context)
            let photoId = try Self.photoId(context)
            let slot = try transfers.begin(account: account)
            do {
                return Self.image(try await Self.hidingOthers { try await service.photo(session, of: .vault(id), id: photoId) }, slot: slot,
                                  account: account, logger: context.logger)
            } catch { slot.end(); throw error }
        }
    }

    /// What an upload declares: its `Content-Type` (415 unless `image/jpeg` or `image/png`: RFC 9110 §15.5.16),
    /// its `Content-Length` (required: 411 without it, RFC 9110 §15.5.12, so a photo over `limit` is refused before
    /// anything is written: 413), and `?doseEvent=SEQ`.
    static func photoUpload(_ request: Request, limit: Int) throws -> (type: PhotoContentType, length: Int?, doseEvent: UInt64?) {
        guard let declared = request.headers[.contentType], let type = PhotoContentType(mediaType: declared) else {
            throw Problem("unsupported-media-type", .unsupportedMediaType, "a photo is sent as image/jpeg or image/png", field: "Content-Type")
        }
        guard let l = request.headers[.contentLength] else {
            throw Problem("length-required", .lengthRequired, "a photo is sent with its Content-Length", field: "Content-Length")
        }
        guard let n = Int(l), n >= 0 else { throw Problem.malformed("Content-Length: a number of bytes", field: "Content-Length") }
        guard n <= limit else { throw Problem(MikataError(.tooLarge, "photo: larger than the limit of \(limit) bytes; nothing was stored")) }
        let length: Int? = n
        var doseEvent: UInt64?
        if let d = request.uri.queryParameters.get("doseEvent") {
            guard let n = UInt64(d) else { throw Problem.malformed("doseEvent: a record sequence number", field: "doseEvent") }
            doseEvent = n
        }
        return (type, length, doseEvent)
    }

    /// `{photoId}`: a photo is addressed by its manifest's sequence number; anything else is no such photo.
    static func photoId(_ context: MikataRequestContext) throws -> UInt64 {
        guard let s = context.parameters.get("photoId"), let id = UInt64(s) else { throw Problem.notFound }
        return id
    }

    /// 201 with the manifest and where to read it.
    static func created(_ manifest: PhotoManifest, location: String) -> Response {
        var response = JSONResponse.raw(manifest.json(), status: .created)
        response.headers[.location] = location
        return response
    }

    /// The image, streamed chunk by chunk: its type, its length, `Cache-Control: no-store`, `X-Content-Type-Options:
    /// nosniff`, `Content-Disposition: attachment` and `Content-Security-Policy: sandbox` (a polyglot image is never
    /// run as a page). The last chunk is checked against the manifest (count, BLAKE2b-256) before it is sent, so a
    /// photo that fails its checks ends the connection before `Content-Length` bytes arrived: a client never takes a
    /// damaged photo for a whole one. `slot` (a transfer place) is given back when the body ends, and the body ends
    /// at the slot's deadline at the latest: a client that stopped reading (its window closed, the server's write
    /// waiting) has its connection closed then, so a stalled download holds neither its place nor its connection
    /// and task (`photos.transferTimeoutSeconds`).
    /// A download ended so is logged as a warning naming the account (`account`: role and id, no e-mail).
    static func image(_ download: PhotoDownload, slot: TransferLimit.Slot, account: String, logger: Logger) -> Response {
        let m = download.manifest
        let headers: HTTPFields = [.contentType: m.contentType.rawValue, .cacheControl: "no-store",
                                   HTTPField.Name("X-Content-Type-Options")!: "nosniff",
                                   .contentDisposition: "attachment; filename=\"photo-\(m.id).\(m.contentType == .png ? "png" : "jpg")\"",
                                   .contentSecurityPolicy: "sandbox"]
        let chunks = download.chunks
        return Response(status: .ok, headers: headers, body: ResponseBody(contentLength: m.byteCount) { writer in
            defer { slot.end() }
            // The writes run in a child task that the deadline cancels: a write suspended on a closed window then
            // throws (SwiftNIO's writer answers cancellation), and the error ends the connection mid-body.
            let out = BodyWriterBox(writer)
            let written = try await withThrowingTaskGroup(of: Bool.self) { group in
                group.addTask {
                    for try await chunk in chunks { try await out.write(ByteBuffer(bytes: chunk)) }
                    // The end of the body waits on a closed window too: it is under the deadline as well.
                    try await out.finish()
                    return true
                }
                group.addTask {
                    try await Task.sleep(until: slot.deadline, clock: .continuous)
                    return false
                }
                defer { group.cancelAll() }
                return try await group.next() ?? false
            }
            guard written else {
                logger.warning("photo download not read within photos.transferTimeoutSeconds: connection closed", metadata: ["account": "\(account)"])
                throw PhotoDownloadExpired()
            }
        })
    }
}

/// A download still being written at its transfer's deadline (`PhotoRoutes.image`): the connection is closed.
struct PhotoDownloadExpired: Error, CustomStringConvertible {
    var description: String { "photo: the download was not read within the transfer's time; the connection was closed" }
}

/// The response body's writer, handed to the one child task that writes and ends the body (`PhotoRoutes.image`):
/// never used by two tasks at once, which is what makes the unchecked `Sendable` sound. Hummingbird's writers are `Sendable` structs over SwiftNIO's writer, or wrap one.
private final class BodyWriterBox: @unchecked Sendable {
    private var writer: any ResponseBodyWriter
    init(_ writer: any ResponseBodyWriter) { self.writer = writer }
    func write(_ buffer: ByteBuffer) async throws { try await writer.write(buffer) }
    func finish() async throws {
        let last = writer
        try await last.finish(nil)
    }
}

/// An upload's request body as pieces of bytes; a body that breaks off or is malformed (the client's fault) is
/// `invalid-input` (400), not an I/O failure of the server.
struct UploadBody: AsyncSequence, Sendable {
    typealias Element = [UInt8]
    let body: Hummingbird.RequestBody
    /// The transfer's place and its clock: a piece that arrives after the deadline ends the upload (400).
    let slot: TransferLimit.Slot
    let limit: TransferLimit

    init(_ body: Hummingbird.RequestBody, slot: TransferLimit.Slot, limit: TransferLimit) {
        self.body = body; self.slot = slot; self.limit = limit
    }

    struct AsyncIterator: AsyncIteratorProtocol {
        var inner: Hummingbird.RequestBody.AsyncIterator
        let slot: TransferLimit.Slot
        let limit: TransferLimit
        mutating func next() async throws -> [UInt8]? {
            let piece: [UInt8]?
            do { piece = try await inner.next().map { Array($0.readableBytesView) } } catch {
                throw MikataError(.invalidInput, "photo: the request body broke off or was malformed")
            }
            // A body trickled in (Hummingbird's idle timer restarts at every piece) holds its place no longer.
            guard limit.currentTime() < slot.deadline else {
                throw MikataError(.invalidInput, "photo: the upload took longer than \(limit.timeout.components.seconds) s; send it again")
            }
            return piece
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(inner: body.makeAsyncIterator(), slot: slot, limit: limit) }
}

/// Photo transfers in flight: at most `total` in the server and `perAccount` per account (a session's role-prefixed
/// account); one more answers 503 with `Retry-After`.
///
/// A transfer holds its place for `timeout` at most: an upload whose body still arrives after it is ended (400), and
/// a download still being written is ended (its connection closed mid-body, `PhotoRoutes.image`) and its place given
/// back, so slow or stalled clients cannot keep every place taken. The deadline is an instant of `now`'s clock and
/// a download sleeps until it on `ContinuousClock`: an injected `now` must tell that clock's time (tests that move
/// time by hand test the places, not the sleeping download).
final class TransferLimit: Sendable {
    private struct Counts {
        var total = 0
        var byAccount: [String: Int] = [:]
        var serial: UInt64 = 0
        /// The places taken: serial → (account, deadline).
        var held: [UInt64: (account: String, deadline: ContinuousClock.Instant)] = [:]

        mutating func free(_ id: UInt64) {
            guard let h = held.removeValue(forKey: id) else { return }  // given back already
            total -= 1
            let n = byAccount[h.account, default: 1] - 1
            byAccount[h.account] = n > 0 ? n : nil
        }
    }
    private let counts = Mutex(Counts())
    let total: Int
    let perAccount: Int
    let timeout: Duration
    private let now: @Sendable () -> ContinuousClock.Instant

    init(total: Int, perAccount: Int, timeout: Duration = .seconds(300),
         now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }) {
        self.total = total; self.perAccount = perAccount; self.timeout = timeout; self.now = now
    }

    /// A place taken; `end()` gives it back (once; later calls do nothing), and so does the slot's release when
    /// nothing holds it any more: a response whose body never ran (the connection reset before the head was written)
    /// drops its body closure, and with it the slot.
    final class Slot: Sendable {
        private let release: Mutex<(@Sendable () -> Void)?>
        /// When the place is given back whatever the transfer does.
        let deadline: ContinuousClock.Instant
        init(deadline: ContinuousClock.Instant, _ release: @escaping @Sendable () -> Void) {
            self.deadline = deadline
            self.release = Mutex(release)
        }
        func end() { release.withLock { r in r?(); r = nil } }
        deinit { end() }
    }

    /// Takes a place for `account` (places past their deadline are given back first).
    /// - Throws: `Problem` 503 when the server's or the account's places are all taken.
    func begin(account: String) throws -> Slot {
        let now = self.now()
        let deadline = now + timeout
        let id: UInt64? = counts.withLock { c in
            for (k, h) in c.held where h.deadline <= now { c.free(k) }
            guard c.total < total, c.byAccount[account, default: 0] < perAccount else { return nil }
            c.total += 1
            c.byAccount[account, default: 0] += 1
            c.serial += 1
            c.held[c.serial] = (account, deadline)
            return c.serial
        }
        guard let id else { throw Problem("unavailable", .serviceUnavailable, "too many photo transfers at once", retryAfter: 5) }
        return Slot(deadline: deadline) { [self] in self.counts.withLock { $0.free(id) } }
    }

    /// The time source's now (an upload checks its slot's deadline against it).
    func currentTime() -> ContinuousClock.Instant { now() }

    /// Transfers in flight now (tests).
    var inFlight: Int { counts.withLock { $0.total } }
}
