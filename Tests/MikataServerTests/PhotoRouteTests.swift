import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import MikataServer
@_spi(Testing) import MikataService

/// A fake image of `count` bytes: the type's signature, then a deterministic pattern.
private func image(_ type: PhotoContentType, _ count: Int) -> [UInt8] {
    var out = type.magic
    var x: UInt32 = 88_172_645
    while out.count < count {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5
        out.append(UInt8(truncatingIfNeeded: x))
    }
    return Array(out.prefix(count))
}

private extension TestClientProtocol {
    func upload(_ uri: String, _ bytes: [UInt8], type: String?, token: String) async throws -> (Answer, [UInt8]) {
        var headers: HTTPFields = [.authorization: "Bearer \(token)"]
        if let type { headers[.contentType] = type }
        let r = try await execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(bytes: bytes))
        return (Answer(status: r.status, headers: r.headers, body: String(buffer: r.body)), Array(r.body.readableBytesView))
    }

    func download(_ uri: String, token: String) async throws -> (HTTPResponse.Status, HTTPFields, [UInt8]) {
        let r = try await execute(uri: uri, method: .get, headers: [.authorization: "Bearer \(token)"], body: nil)
        return (r.status, r.headers, Array(r.body.readableBytesView))
    }
}

@Suite struct PhotoRouteTests {
    @Test func jpegAndPNGRoundTripOverHTTPForThePatientAndALinkedSupporter() async throws {
        let f = try await ServerFixture.make()
        try await f.run { c in
            let p = try await c.patient("p@example.jp")
            let s = try await c.supporter("s@example.jp")
            let jpeg = image(.jpeg, 600_000), png = image(.png, 5_000)
            let (a, _) = try await c.upload("/v1/patient/photos", jpeg, type: "image/jpeg", token: p.token)
            #expect(a.code == 201, "\(a.body)")
            let id = try #require(a.json["id"] as? Int)
            #expect(a.headers[.location] == "/v1/patient/photos/\(id)" && a.json["byteCount"] as? Int == jpeg.count)
            let (status, headers, bytes) = try await c.download("/v1/patient/photos/\(id)", token: p.token)
            #expect(status == .ok && headers[.contentType] == "image/jpeg" && headers[.cacheControl] == "no-store")
            #expect(headers[.contentDisposition]?.hasPrefix("attachment") == true && headers[.contentSecurityPolicy] == "sandbox")
            #expect(bytes == jpeg)
            // Not linked yet: 404, as for a vault that does not exist.
            let (refused, _) = try await c.upload("/v1/supporter/patients/\(p.vaultId)/photos", png, type: "image/png", token: s.token)
            #expect(refused.code == 404 && refused.isProblem)
            try await c.link(patientToken: p.token, supporterEmail: "s@example.jp", fingerprint: s.fingerprint)
            let (b, _) = try await c.upload("/v1/supporter/patients/\(p.vaultId)/photos", png, type: "image/png; charset=binary", token: s.token)
            #expect(b.code == 201, "\(b.body)")
            let pngId = try #require(b.json["id"] as? Int)
            #expect(b.json["author"] as? String == "supporter:\(s.supporterId)")
            let (_, pngHeaders, pngBytes) = try await c.download("/v1/supporter/patients/\(p.vaultId)/photos/\(pngId)", token: s.token)
            #expect(pngHeaders[.contentType] == "image/png" && pngBytes == png)
            let list = try await c.get("/v1/supporter/patients/\(p.vaultId)/photos", token: s.token)
            #expect((list.json["photos"] as? [[String: Any]])?.compactMap { $0["id"] as? Int } == [id, pngId])
            #expect(try await c.get("/v1/patient/photos/\(id + 1)", token: p.token).code == 404)
            #expect(try await c.get("/v1/patient/photos/x", token: p.token).code == 404)
        }
    }

    @Test func wrongTypesAndWrongBytesAreRefusedAndNothingIsVisible() async throws {
        let f = try await ServerFixture.make()
        try await f.run { c in
            let p = try await c.patient("p@example.jp")
            let png = image(.png, 2_000)
            for type in [nil, "image/gif", "application/json", "image/jpegx"] {
                let (r, _) = try await c.upload("/v1/patient/photos", png, type: type, token: p.token)
                #expect(r.code == 415 && r.isProblem && r.problem == "unsupported-media-type", "\(type ?? "none"): \(r.body)")
            }
            for (bytes, type) in [(Array("GIF89a-not-an-image".utf8), "image/png"), (png, "image/jpeg"), ([], "image/png")] {
                let (r, _) = try await c.upload("/v1/patient/photos", bytes, type: type, token: p.token)
                #expect(r.code == 400 && r.problem == "invalid-input" && r.field == "", "the body itself: \(r.body)")
            }
            let (badDose, _) = try await c.upload("/v1/patient/photos?doseEvent=abc", png, type: "image/png", token: p.token)
            #expect(badDose.code == 400 && badDose.field == "doseEvent")
            let list = try await c.get("/v1/patient/photos", token: p.token)
            #expect(list.code == 200 && (list.json["photos"] as? [Any])?.isEmpty == true)
        }
    }

    @Test func aPhotoOverTheLimitIs413AndNoPhotoIsStored() async throws {
        let f = try await ServerFixture.make { $0.photosMaxBytes = 300_000 }
        try await f.run { c in
            let p = try await c.patient("p@example.jp")
            let (r, _) = try await c.upload("/v1/patient/photos", image(.jpeg, 300_001), type: "image/jpeg", token: p.token)
            #expect(r.code == 413 && r.isProblem && r.problem == "payload-too-large", "\(r.body)")
            let list = try await c.get("/v1/patient/photos", token: p.token)
            #expect((list.json["photos"] as? [Any])?.isEmpty == true)
            // Refused by its Content-Length before a byte was read: not even an orphan chunk was written.
            let session = try await f.service.unlockPatient(email: "p@example.jp", password: Secret(utf8: "patient password"))
            #expect(try await f.service.records(session, RecordQuery(limit: 100, types: ["mikata.photo-chunk"])).records.isEmpty)
            session.close()
            // Without a Content-Length: 411 (RFC 9110 §15.5.12), nothing read.
            let unsized = try await c.execute(uri: "/v1/patient/photos", method: .post,
                                              headers: [.authorization: "Bearer \(p.token)", .contentType: "image/jpeg"], body: nil)
            #expect(unsized.status == .lengthRequired && unsized.headers[.contentType] == "application/problem+json")
            let (ok, _) = try await c.upload("/v1/patient/photos", image(.jpeg, 300_000), type: "image/jpeg", token: p.token)
            #expect(ok.code == 201, "\(ok.body)")
        }
    }

    @Test func photoTransfersAreLimitedPerAccountAndInAll() throws {
        let limit = TransferLimit(total: 3, perAccount: 2)
        let a1 = try limit.begin(account: "patient:a"), a2 = try limit.begin(account: "patient:a")
        #expect(throws: Problem.self) { _ = try limit.begin(account: "patient:a") }
        let b1 = try limit.begin(account: "patient:b")
        #expect(throws: Problem.self) { _ = try limit.begin(account: "patient:c") }  // 3 in all
        a1.end(); a1.end()  // given back once
        #expect(limit.inFlight == 2)
        let a3 = try limit.begin(account: "patient:a")
        for s in [a2, a3, b1] { s.end() }
        #expect(limit.inFlight == 0)
        // A download whose body never runs (the client reset the connection before the head went out): the response
        // is dropped unsent, and its place comes back with it.
        do {
            let slot = try limit.begin(account: "patient:a")
            let unsent = Response(status: .ok, body: ResponseBody { writer in
                defer { slot.end() }
                try await writer.finish(nil)
            })
            #expect(limit.inFlight == 1 && unsent.status == .ok)
        }
        #expect(limit.inFlight == 0)
    }

    // Second review, M4: a stalled transfer (a body trickled in, a client that stopped reading) holds its place for
    // the timeout at most; the late upload is ended, and nothing is given back twice.
    @Test func aStalledTransferHoldsItsPlaceForTheTimeoutAtMost() throws {
        let clock = ServerFixture.ManualClock()
        let limit = TransferLimit(total: 2, perAccount: 2, timeout: .seconds(300), now: { clock.now })
        let stalled = try limit.begin(account: "patient:a"), other = try limit.begin(account: "patient:b")
        #expect(throws: Problem.self) { _ = try limit.begin(account: "patient:c") }
        clock.advance(.seconds(299))
        #expect(throws: Problem.self) { _ = try limit.begin(account: "patient:c") }
        clock.advance(.seconds(2))  // both past their deadline: their places come back
        let c = try limit.begin(account: "patient:c")
        #expect(limit.inFlight == 1 && limit.currentTime() >= stalled.deadline)
        stalled.end(); other.end()  // the stalled transfers end at last: nothing given back twice
        #expect(limit.inFlight == 1)
        c.end()
        #expect(limit.inFlight == 0)
    }

    // A client that stopped reading a download: at the transfer's deadline the server ends the body and closes the
    // connection (its place came back before, but the connection and the task writing to it stayed).
    // (The body's end is under the deadline too; a stall just there is not made here: it needs the last chunk to fit
    // SwiftNIO's buffer while the socket's are full, which depends on the kernel's buffer sizing.)
    @Test func aStalledDownloadIsClosedAtItsDeadline() async throws {
        let f = try await ServerFixture.make { $0.photosTransferTimeout = .seconds(1); $0.photosMaxBytes = 16 << 20 }
        try await f.run(live: true) { c in
            let p = try await c.patient("p@example.jp")
            // Stored through the service: an upload over HTTP would have the same one-second limit.
            let photo = image(.jpeg, 12 << 20)
            let session = try await f.service.unlockPatient(email: "p@example.jp", password: Secret(utf8: "patient password"))
            let stored = try await f.service.addPhoto(session, bytes: AsyncThrowingStream { c in
                stride(from: 0, to: photo.count, by: 1 << 20).forEach { c.yield(Array(photo[$0..<min($0 + (1 << 20), photo.count)])) }
                c.finish()
            }, maxBytes: 16 << 20)
            session.close()
            let port = try #require(c.port)
            // 12 MiB is more than the loopback socket buffers hold, with the reader's window at its smallest: the
            // server's write waits on the client from the first megabytes.
            let stalled = try StalledDownload(port: port, path: "/v1/patient/photos/\(stored.id)", token: p.token)
            try await Task.sleep(for: .seconds(3))
            let (received, end) = stalled.readToEnd()
            #expect(stalled.contentLength == photo.count)
            #expect(end == "closed" && received < photo.count, "\(end) after \(received) of \(photo.count) bytes")
            // Logged, by account id, never by address.
            let warned = f.logs.all.filter { $0.contains("photo download not read") }
            #expect(warned.count == 1 && warned.allSatisfy { !$0.contains("p@example.jp") }, "\(warned)")
        }
    }

    @Test func anUploadBodyStillArrivingAfterTheDeadlineIsEnded() async throws {
        let clock = ServerFixture.ManualClock()
        let limit = TransferLimit(total: 2, perAccount: 2, timeout: .seconds(300), now: { clock.now })
        let slot = try limit.begin(account: "patient:a")
        var onTime = UploadBody(Hummingbird.RequestBody(buffer: ByteBuffer(bytes: [1, 2, 3])), slot: slot, limit: limit).makeAsyncIterator()
        #expect(try await onTime.next() == [1, 2, 3])
        clock.advance(.seconds(301))  // the next piece of a trickled body arrives after the deadline
        var late = UploadBody(Hummingbird.RequestBody(buffer: ByteBuffer(bytes: [4])), slot: slot, limit: limit).makeAsyncIterator()
        let error = await #expect(throws: MikataError.self) { _ = try await late.next() }
        #expect(error?.code == .invalidInput && error?.message.contains("longer than 300 s") == true)
        slot.end()
    }

    @Test func photosMaxBytesIsASetting() async throws {
        let reader = try await ServerConfiguration.reader(flags: [:], file: nil, environment: ["MIKATA_PHOTOS_MAX_BYTES": "1048576"])
        #expect(try ServerConfiguration(reader: reader).photosMaxBytes == 1 << 20)
        #expect(ServerConfiguration().photosMaxBytes == 5 << 20)
        let tooSmall = try await ServerConfiguration.reader(flags: [:], file: nil, environment: ["MIKATA_PHOTOS_MAX_BYTES": "10"])
        #expect(throws: MikataError.self) { _ = try ServerConfiguration(reader: tooSmall) }
    }
}

/// `mikata photo add` and `photo get` of a 5 MiB photo and of a 10 KiB one, each process's peak RSS read by wait4(2)
/// for that child alone (so other tests' processes do not count): a photo held whole, once or twice, would add at
/// least its 5 MiB to the larger run. The patient is made with the cheapest Argon2id, so the password check's memory
/// does not hide the photo's. Linux records, at exec, the peak RSS of the memory the process had before it (for a
/// child of posix_spawn's vfork: this whole test process), so the child is forked by a small intermediate (python3's
/// os.fork then execve, os.wait4): the floor is then that small process's size, the same for both runs.
@Suite struct PhotoMemoryTests {
    struct Run {
        let status: Int32
        let maxRSSKiB: Int
        let stdout: String
        let stderr: String
    }

    static func spawn(_ arguments: [String], environment: [String: String], scratch: String) throws -> Run {
        let out = "\(scratch)/out-\(UUID().uuidString)", err = "\(scratch)/err-\(UUID().uuidString)"
        // python3 forks, the child execs mikata, python3 reports the child's ru_maxrss (KiB) and exits with its status.
        let script = "import os,sys\npid=os.fork()\nif pid==0:\n    os.execve(sys.argv[2],sys.argv[2:],os.environ)\n_,st,ru=os.wait4(pid,0)\n"
            + "open(sys.argv[1],'w').write(str(ru.ru_maxrss))\nsys.exit(os.waitstatus_to_exitcode(st))"
        let rssFile = "\(scratch)/rss-\(UUID().uuidString)"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let python = "python3"
        let argv: [UnsafeMutablePointer<CChar>?] = ([python, "-c", script, rssFile, ServeBinary.path] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { argv.forEach { free($0) }; envp.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawnp(&pid, python, &actions, nil, argv, envp)
        try #require(rc == 0, "posix_spawn failed: \(rc)")
        var status: Int32 = 0
        var usage = rusage()
        var waited: pid_t
        repeat { waited = wait4(pid, &status, 0, &usage) } while waited < 0 && errno == EINTR
        try #require(waited == pid, "wait4 failed: errno \(errno)")
        defer { unlink(out); unlink(err); unlink(rssFile) }
        let text = { (path: String) in (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
        let rss = Int(text(rssFile).trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        return Run(status: (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f), maxRSSKiB: rss,
                   stdout: text(out), stderr: text(err))
    }

    @Test func aFiveMiBPhotoIsStoredAndReadBackInBoundedMemory() async throws {
        let f = try await ServerFixture.make()
        defer { Task { await f.tearDown() } }
        _ = try await f.service.createPatient(email: "m@example.jp", nickname: "M", password: Secret(utf8: "pw"))
        let dir = f.root
        try Data("pw\n".utf8).write(to: URL(fileURLWithPath: "\(dir)/pw"))
        var env = ProcessInfo.processInfo.environment
        for key in env.keys where key.hasPrefix("MIKATA_") { env[key] = nil }
        env["MIKATA_ROOT_KEY_DIR"] = "\(dir)/root-keys"
        env["MIKATA_STORE"] = "\(dir)/store"
        var add: [Int: Run] = [:], get: [Int: Run] = [:]
        for size in [10 << 10, 5 << 20] {
            let photo = image(.jpeg, size)
            try Data(photo).write(to: URL(fileURLWithPath: "\(dir)/in-\(size).jpg"))
            let a = try Self.spawn(["photo", "add", "--email", "m@example.jp", "--file", "\(dir)/in-\(size).jpg", "--password-file", "\(dir)/pw", "--json"],
                                   environment: env, scratch: dir)
            try #require(a.status == 0, "photo add: \(a.stderr)")
            let id = try #require((try JSONSerialization.jsonObject(with: Data(a.stdout.utf8)) as? [String: Any])?["id"] as? Int)
            let g = try Self.spawn(["photo", "get", "--email", "m@example.jp", "--id", String(id), "--out", "\(dir)/out-\(size).jpg",
                                    "--password-file", "\(dir)/pw"], environment: env, scratch: dir)
            try #require(g.status == 0, "photo get: \(g.stderr)")
            #expect(Array(try Data(contentsOf: URL(fileURLWithPath: "\(dir)/out-\(size).jpg"))) == photo, "the bytes read back are the bytes written")
            add[size] = a
            get[size] = g
        }
        let addGrowth = add[5 << 20]!.maxRSSKiB - add[10 << 10]!.maxRSSKiB
        let getGrowth = get[5 << 20]!.maxRSSKiB - get[10 << 10]!.maxRSSKiB
        print("photo memory: add peak RSS \(add[10 << 10]!.maxRSSKiB) KiB (10 KiB photo) vs \(add[5 << 20]!.maxRSSKiB) KiB (5 MiB); get \(get[10 << 10]!.maxRSSKiB) vs \(get[5 << 20]!.maxRSSKiB) KiB")
        // Half the photo: far below one whole copy of it.
        #expect(addGrowth < 2_560, "photo add grew by \(addGrowth) KiB for a 5 MiB photo")
        #expect(getGrowth < 2_560, "photo get grew by \(getGrowth) KiB for a 5 MiB photo")
    }
}

/// A GET over a plain socket whose reader stops after the response head (receive buffer at its smallest, 20 s receive
/// timeout so a test never hangs), then reads what is left until the server ends the connection.
private final class StalledDownload {
    let fd: Int32
    private(set) var contentLength = -1
    private var received = 0

    init(port: Int, path: String, token: String) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        var small: Int32 = 4096
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        var wait = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { close(fd); throw POSIXError(.ECONNREFUSED) }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\n\r\n".utf8)
        guard send(fd, request, request.count, 0) == request.count else { close(fd); throw POSIXError(.EIO) }
        // The head, and whatever body came with it.
        var head: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            guard n > 0 else { break }
            head += buffer[0..<n]
            if let end = head.firstRange(of: Array("\r\n\r\n".utf8)) {
                let text = String(decoding: head[..<end.lowerBound], as: UTF8.self).lowercased()
                if let line = text.split(separator: "\r\n").first(where: { $0.hasPrefix("content-length:") }) {
                    contentLength = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) ?? -1
                }
                received = head.count - end.upperBound
                break
            }
        }
    }

    /// Reads until the connection ends: ("closed", body bytes) when the server closed or reset it, ("timeout", …)
    /// when nothing came for 20 s.
    func readToEnd() -> (Int, String) {
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n > 0 { received += n; continue }
            if n == 0 || errno == ECONNRESET { return (received, "closed") }
            return (received, errno == EAGAIN || errno == EWOULDBLOCK ? "timeout" : "error \(errno)")
        }
    }
}
