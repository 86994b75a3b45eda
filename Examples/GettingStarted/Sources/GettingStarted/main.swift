// Getting started with MikataService: open a store, create a patient, append records and read them back a page at
// a time. Run it with `swift run` in this folder (or `make test`, which does). It writes a throwaway store and root
// key under a temporary folder and removes them at the end.
import Foundation
import MikataService

let base = FileManager.default.temporaryDirectory.appendingPathComponent("mikata-getting-started-\(getpid())").path
try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true,
                                        attributes: [.posixPermissions: 0o700])
defer { try? FileManager.default.removeItem(atPath: base) }

// 1. Open (here: create) a store. Its root key lives outside the store directory.
let (service, setup) = try await VaultService.initialize(storePath: "\(base)/store", rootKey: .directory("\(base)/root-keys"))
print("store \(service.storeId) created: \(setup.created)")

// 2. Create a patient. The recovery code is shown once; keep it as safely as the password.
var typed = Array("correct horse battery staple".utf8)
let password = Secret(wiping: &typed)  // the plain copy is zeroed
let patient = try await service.createPatient(email: "hana@example.jp", nickname: "Hana", password: password)
print("vault \(patient.vaultId), recovery code of \(patient.recoveryCode.count) characters")

// 3. Unlock the vault and append records: JSON data, a type, and the time the library adds.
let session = try await service.unlockPatient(email: "hana@example.jp", password: password)
for day in 1...12 {
    _ = try await service.append(session, type: "dose", data: Array("{\"medication\":\"isoniazid\",\"day\":\(day)}".utf8))
}
_ = try await service.append(session, type: "side-effect", data: Array(#"{"symptom":"nausea","grade":1,"onset":"2026-11-01T09:00:00Z"}"#.utf8))

// 4. Read them back, five at a time: only one page is ever in memory.
var query = RecordQuery(limit: 5)
var pages = 0, records = 0
repeat {
    let page = try await service.records(session, query)
    pages += 1
    records += page.records.count
    for r in page.records { print("  \(r.seq)  \(r.type)  \(String(decoding: r.data, as: UTF8.self))") }
    guard let next = page.nextAfter else { break }
    query.after = next
} while true
print("read \(records) records in \(pages) pages")

// 5. Only side effects, as a stream.
for try await r in service.recordStream(session, RecordQuery(types: ["side-effect"])) {
    print("side effect recorded at \(r.time)")
}

// 6. Errors carry a stable code: here, a wrong password.
do {
    _ = try await service.unlockPatient(email: "hana@example.jp", password: Secret(utf8: "wrong"))
} catch let e as MikataError {
    print("wrong password: \(e.code.rawValue) (exit \(e.code.exitCode), HTTP \(e.code.httpStatus))")
}

session.close()  // the keys are zeroed
await service.shutdown()
guard records == 13 else { fatalError("expected 13 records, read \(records)") }
print("ok")
