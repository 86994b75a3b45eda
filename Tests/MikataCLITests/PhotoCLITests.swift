import Foundation
import Testing

@Suite struct PhotoCLITests {
    /// A PNG signature followed by a deterministic pattern.
    static func png(_ count: Int) -> [UInt8] {
        var out: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        var x: UInt32 = 1_234_567
        while out.count < count { x = x &* 1_103_515_245 &+ 12_345; out.append(UInt8(truncatingIfNeeded: x >> 16)) }
        return out
    }

    @Test func photoAddListGetRoundTripsAndRefusesWhatIsNotAnImage() throws {
        let f = try CLIFixture()
        try f.setUp(patient: "p@example.jp")
        let pw = ["--password-file", f.patientPasswordFile]
        // Refused before any password is read (stdin is /dev/null, no --password-file): the file alone decides.
        try Data("GIF89a, not a photo".utf8).write(to: URL(fileURLWithPath: "\(f.root)/not.png"))
        let wrong = try f.run(["photo", "add", "--email", "p@example.jp", "--file", "\(f.root)/not.png"])
        #expect(wrong.status == 64 && wrong.stderr.hasPrefix("mikata: error: photo: not a JPEG or PNG image"), "\(wrong.stderr)")
        let big = Self.png((5 << 20) + 1)
        try Data(big).write(to: URL(fileURLWithPath: "\(f.root)/big.png"))
        let tooBig = try f.run(["photo", "add", "--email", "p@example.jp", "--file", "\(f.root)/big.png"])
        #expect(tooBig.status == 64 && tooBig.stderr.contains("larger than the limit"), "\(tooBig.stderr)")
        let empty = try f.ok(["photo", "list", "--email", "p@example.jp", "--json"] + pw)
        #expect((try empty.json()["photos"] as? [Any])?.isEmpty == true)

        let photo = Self.png(400_000)
        try Data(photo).write(to: URL(fileURLWithPath: "\(f.root)/in.png"))
        let added = try f.ok(["photo", "add", "--email", "p@example.jp", "--file", "\(f.root)/in.png", "--json"] + pw)
        let id = try #require(try added.json()["id"] as? Int)
        #expect(try added.json()["contentType"] as? String == "image/png")
        let listed = try f.ok(["photo", "list", "--email", "p@example.jp"] + pw)
        #expect(listed.stdout.hasPrefix("\(id)  ") && listed.stdout.contains("image/png  400000 bytes"))
        try f.ok(["photo", "get", "--email", "p@example.jp", "--id", String(id), "--out", "\(f.root)/out.png"] + pw)
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: "\(f.root)/out.png"))) == photo)
        // Never over an existing file, never to standard output.
        let again = try f.run(["photo", "get", "--email", "p@example.jp", "--id", String(id), "--out", "\(f.root)/out.png"] + pw)
        #expect(again.status == 1 && again.stderr.contains("exists already"))
        let stdout = try f.run(["photo", "get", "--email", "p@example.jp", "--id", String(id), "--out", "-"] + pw)
        #expect(stdout.status == 64 && stdout.stdout.isEmpty)
        let missing = try f.run(["photo", "get", "--email", "p@example.jp", "--id", "999", "--out", "\(f.root)/none.png"] + pw)
        #expect(missing.status == 66 && !FileManager.default.fileExists(atPath: "\(f.root)/none.png"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: f.root).filter { $0.contains(".partial-") }.isEmpty)
    }
}
