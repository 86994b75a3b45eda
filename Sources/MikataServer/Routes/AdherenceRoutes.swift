import HTTPTypes
import Foundation
import Hummingbird
import MikataAdherence
import MikataService
import NIOCore

extension MikataServer {
    /// Issue 10 §2–§3 (docs/ADHERENCE.md): adherence reports, the supporter's dashboard, CSV and FHIR exports. A vault
    /// that does not link the supporter answers 404, like every supporter route (`hidingOthers`). Exports are logged
    /// by the service in the patient's access log.
    func addAdherenceRoutes(to router: Router<MikataRequestContext>) {
        let patient = router.group("/v1/patient").add(middleware: SessionMiddleware(sessions: sessions, roles: ["patient"]))
        patient.get("/report") { [service] request, context in
            guard case .patient(let session, _)? = context.principal else { throw Problem.unauthenticated }
            let (from, to) = try Self.period(request)
            return JSONResponse.raw(try await service.adherenceReport(session, from: from, to: to).json())
        }
        patient.get("/export") { [service] request, context in
            guard case .patient(let session, _)? = context.principal else { throw Problem.unauthenticated }
            let (format, file) = try Self.exportChoice(request)
            return try Self.download(try await service.export(session, format: format), file: file)
        }

        let supporter = router.group("/v1/supporter").add(middleware: SessionMiddleware(sessions: sessions, roles: ["supporter"]))
        supporter.get("/dashboard") { [service] request, context in
            guard case .supporter(let session, _)? = context.principal else { throw Problem.unauthenticated }
            var days = 7
            if let d = request.uri.queryParameters.get("days") {
                guard let n = Int(d), (1...28).contains(n) else { throw Problem.malformed("days: 1 to 28", field: "days") }
                days = n
            }
            return JSONResponse.raw(try await service.dashboard(session, days: days).json())
        }
        supporter.get("/patients/{vaultId}/report") { [service] request, context in
            guard case .supporter(let session, _)? = context.principal else { throw Problem.unauthenticated }
            let id = try Self.vaultId(context)
            let (from, to) = try Self.period(request)
            let report = try await Self.hidingOthers { try await service.adherenceReport(session, of: .vault(id), from: from, to: to) }
            return JSONResponse.raw(report.json())
        }
        supporter.get("/patients/{vaultId}/export") { [service] request, context in
            guard case .supporter(let session, _)? = context.principal else { throw Problem.unauthenticated }
            let id = try Self.vaultId(context)
            let (format, file) = try Self.exportChoice(request)
            return try Self.download(try await Self.hidingOthers { try await service.export(session, of: .vault(id), format: format) }, file: file)
        }
    }

    /// `?from=YYYY-MM-DD&to=YYYY-MM-DD` (both or neither).
    static func period(_ request: Request) throws -> (LocalDate?, LocalDate?) {
        let q = request.uri.queryParameters
        func date(_ name: String) throws -> LocalDate? {
            guard let s = q.get(name) else { return nil }
            guard let d = LocalDate(String(s)) else { throw Problem.malformed("\(name): a date YYYY-MM-DD", field: name) }
            return d
        }
        let from = try date("from"), to = try date("to")
        if (from == nil) != (to == nil) { throw Problem.malformed("from and to go together", field: from == nil ? "from" : "to") }
        return (from, to)
    }

    /// `?format=csv&file=doses|messages|side-effects` or `?format=fhir`.
    static func exportChoice(_ request: Request) throws -> (AdherenceExportFormat, String?) {
        let q = request.uri.queryParameters
        guard let f = q.get("format"), let format = AdherenceExportFormat(rawValue: String(f)) else {
            throw Problem.malformed("format: csv or fhir", field: "format")
        }
        let file: String? = q.get("file").map { String($0) }
        switch format {
        case .csv:
            guard let file, ["doses", "messages", "side-effects"].contains(file) else {
                throw Problem.malformed("file: doses, messages or side-effects (one CSV file per request)", field: "file")
            }
            return (format, file + ".csv")
        case .fhir:
            guard file == nil else { throw Problem.malformed("file: only for format csv", field: "file") }
            return (format, nil)
        }
    }

    /// The chosen file as a download: its content type, `Content-Disposition: attachment`, `Cache-Control: no-store`.
    static func download(_ export: AdherenceExport, file: String?) throws -> Response {
        guard let f = export.files.first(where: { file == nil || $0.name == file }) else { throw Problem.notFound }
        var headers: HTTPFields = [.contentType: f.contentType, .cacheControl: "no-store"]
        headers[.contentDisposition] = "attachment; filename=\"\(f.name)\""
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: f.bytes)))
    }
}
