import HTTPTypes
import Foundation
import Hummingbird
import MikataService
import NIOCore

extension MikataServer {
    /// Issue 10 §1 photos (docs/ADHERENCE.md "Photos"): the request body streams into the vault chunk by chunk and the
    /// image streams back out the same way (never collected whole). Limits: `photos.maxBytes` (not
    /// `http.maxBodyBytes`). A vault that does not link the supporter answers 404, like every supporter route.
    func addPhotoRoutes(to router: Router<MikataRequestContext>) {
        let limit = configuration.photosMaxBytes
        let patient = router.group("/v1/patient").add(middleware: SessionMiddleware(sessions: sessions, roles: ["patient"]))
        patient.post("/photos") { [service] request, context in
            guard case .patient(let session, _)? = context.principal else { throw Problem.unauthenticated }
            let upload = try Self.photoUpload(request)
            let manifest = try await service.addPhoto(session, bytes: request.body.map { Array($0.readableBytesView) }, contentType: upload.type,
                                                      expectedByteCount: upload.length, doseEvent: upload.doseEvent, maxBytes: limit)
            return Self.created(manifest, location: "/v1/patient/photos/\(manifest.id)")
        }
        patient.get("/photos") { [service] _, context in
            guard case .patient(let session, _)? = context.principal else { throw Problem.unauthenticated }
            return JSONResponse.raw(try await service.photos(session).json())
        }
        patient.get("/photos/{photoId}") { [service] _, context in
            guard case .patient(let session, _)? = context.principal else { throw Problem.unauthenticated }
            return Self.image(try await service.photo(session, id: try Self.photoId(context)))
        }

        let supporter = router.group("/v1/supporter").add(middleware: SessionMiddleware(sessions: sessions, roles: ["supporter"]))
        supporter.post("/patients/{vaultId}/photos") { [service] request, context in
            guard case .supporter(let session, _)? = context.principal else { throw Problem.unauthenticated }
            let id = try Self.vaultId(context)
            let upload = try Self.photoUpload(request)
            let stored = try await Self.hidingOthers {
                try await service.addPhoto(session, to: .vault(id), bytes: request.body.map { Array($0.readableBytesView) }, contentType: upload.type,
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
            guard case .supporter(let session, _)? = context.principal else { throw Problem.unauthenticated }
            let id = try Self.vaultId(context)
            let photoId = try Self.photoId(context)
            return Self.image(try await Self.hidingOthers { try await service.photo(session, of: .vault(id), id: photoId) })
        }
    }

    /// What an upload declares: its `Content-Type` (415 unless `image/jpeg` or `image/png`: RFC 9110 §15.5.16),
    /// its `Content-Length` if sent, and `?doseEvent=SEQ`.
    static func photoUpload(_ request: Request) throws -> (type: PhotoContentType, length: Int?, doseEvent: UInt64?) {
        guard let declared = request.headers[.contentType], let type = PhotoContentType(mediaType: declared) else {
            throw Problem("unsupported-media-type", .unsupportedMediaType, "a photo is sent as image/jpeg or image/png", field: "Content-Type")
        }
        var length: Int?
        if let l = request.headers[.contentLength] {
            guard let n = Int(l), n >= 0 else { throw Problem.malformed("Content-Length: a number of bytes", field: "Content-Length") }
            length = n
        }
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
    /// nosniff`. A chunk that fails its checks after the status was sent ends the connection before `Content-Length`
    /// bytes arrived, so a client never takes a damaged photo for a whole one.
    static func image(_ download: PhotoDownload) -> Response {
        let m = download.manifest
        let headers: HTTPFields = [.contentType: m.contentType.rawValue, .cacheControl: "no-store",
                                   HTTPField.Name("X-Content-Type-Options")!: "nosniff"]
        let chunks = download.chunks
        return Response(status: .ok, headers: headers, body: ResponseBody(contentLength: m.byteCount) { writer in
            for try await chunk in chunks { try await writer.write(ByteBuffer(bytes: chunk)) }
            try await writer.finish(nil)
        })
    }
}
