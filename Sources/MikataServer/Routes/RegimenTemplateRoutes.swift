import HTTPTypes
import Hummingbird
import MikataService

/// `POST /v1/regimen-templates/regimen`: a regimen from a built-in template (docs/ADHERENCE.md, "Regimen templates").
struct RegimenFromTemplate: RequestBody {
    struct Dose: Decodable, Sendable {
        let value: String
        let unit: String

        private enum CodingKeys: String, CodingKey { case value, unit }

        /// Refuses a member it does not know, as the body's top level does (400 naming it).
        init(from decoder: any Decoder) throws {
            try decoder.refuseUnknownMembers(["value", "unit"])
            let c = try decoder.container(keyedBy: CodingKeys.self)
            value = try c.decode(String.self, forKey: .value)
            unit = try c.decode(String.self, forKey: .unit)
        }
    }
    let template: String
    let start: String
    let timesOfDay: [String]
    let doses: [String: Dose]
    let timeZone: String?
    static let members: Set<String> = ["template", "start", "timesOfDay", "doses", "timeZone"]
}

extension MikataServer {
    /// Issue 10 §1: the built-in regimen templates, for any signed-in patient or supporter. Nothing is read or stored:
    /// the client appends the regimen it gets back as a `medication-request` record.
    func addRegimenTemplateRoutes(to router: Router<MikataRequestContext>) {
        let limit = configuration.maxBodyBytes
        let group = router.group("/v1/regimen-templates").add(middleware: SessionMiddleware(sessions: sessions, roles: ["patient", "supporter"]))
        group.get("") { _, _ in JSONResponse.raw(VaultService.regimenTemplatesJSON()) }
        group.post("/regimen") { request, _ in
            let body = try await request.decode(RegimenFromTemplate.self, limit: limit)
            let json = try VaultService.regimenFromTemplate(body.template, start: body.start, timesOfDay: body.timesOfDay,
                                                            doses: body.doses.mapValues { ($0.value, $0.unit) }, timeZone: body.timeZone)
            return JSONResponse.raw(json)
        }
    }
}
