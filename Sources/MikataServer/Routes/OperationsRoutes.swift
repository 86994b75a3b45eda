import Logging
import HTTPTypes
import Foundation
import Hummingbird
import MikataService

extension MikataServer {
    /// `/healthz`, `/readyz`, `/metrics`, `/v1/info`: no authentication, no personal data.
    func addOperationsRoutes(to router: Router<MikataRequestContext>) {
        router.get("/healthz") { _, _ in
            try JSONResponse.make(["status": "ok"])
        }
        router.get("/readyz") { [service] _, _ in
            // Ready when the store answers and its root key is still where it was found.
            let key = service.rootKeyLocation
            let keyPresent = !key.hasPrefix("/") || FileManager.default.fileExists(atPath: key)
            let storePresent = FileManager.default.fileExists(atPath: service.storePath + "/mikata-store.json")
            let ready = keyPresent && storePresent
            return try JSONResponse.make(["status": ready ? "ready" : "not-ready",
                                          "store": storePresent ? "open" : "missing",
                                          "rootKey": keyPresent ? "present" : "missing"],
                                         status: ready ? .ok : .serviceUnavailable)
        }
        router.get("/metrics") { [service, metrics] _, _ in
            let text = metrics.exposition(argon2Waiting: service.passwordChecksWaiting, logBatches: service.accessLogGroupCommits)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8", .cacheControl: "no-store"],
                            body: .init(byteBuffer: .init(string: text)))
        }
        router.get("/v1/info") { [service] _, _ in
            try JSONResponse.make(Info(version: VaultService.toolVersion, jurisdiction: service.jurisdiction, api: "v1"))
        }
    }

    struct Info: Encodable {
        let version: String
        let jurisdiction: String
        let api: String
    }
}
