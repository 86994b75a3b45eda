import MikataCrypto
import Testing

@Suite("SecureBytes and constant-time equality")
struct SecureBytesTests {
    struct FillFailed: Error {}

    @Test("an initializer that throws frees the guarded memory once (it crashed in a double sodium_free)")
    func throwingInitializer() {
        for _ in 0..<3 {
            #expect(throws: FillFailed.self) { _ = try SecureBytes(count: 32) { buffer in buffer[0] = 1; throw FillFailed() } }
        }
        #expect(SecureBytes(copying: [7]) == SecureBytes(copying: [7]))
    }

    @Test("equality is by value, not identity")
    func equalityByValue() {
        let a = SecureBytes(copying: [1, 2, 3, 4])
        #expect(a == SecureBytes(copying: [1, 2, 3, 4]))
        #expect(a != SecureBytes(copying: [1, 2, 3, 5]))
        #expect(a != SecureBytes(copying: [1, 2, 3]))
        #expect(SecureBytes(copying: []) == SecureBytes(copying: []))
        #expect(SecureBytes.random(count: 32) != SecureBytes.random(count: 32))
    }

    @Test("description, debugDescription and interpolation never show the bytes")
    func descriptionIsRedacted() {
        let bytes: [UInt8] = [0xDE, 0xAD, 0xBE, 0xEF, 0xCA, 0xFE, 0xBA, 0xBE]
        let secret = SecureBytes(copying: bytes)
        for text in [secret.description, secret.debugDescription, "\(secret)", String(reflecting: secret)] {
            #expect(text.contains("redacted"))
            #expect(!text.lowercased().contains("deadbeef"))
            #expect(!text.contains("222"), "decimal bytes leaked: \(text)")
        }
    }

    @Test("wiping init copies then zeroes the scratch array")
    func wipingInit() {
        var scratch: [UInt8] = [9, 8, 7]
        let secret = SecureBytes(wiping: &scratch)
        #expect(scratch == [0, 0, 0])
        #expect(secret.unsafeCopyToArray() == [9, 8, 7])
    }

    @Test("slices and concatenation rebuild the original")
    func sliceAndConcatenate() {
        let whole = SecureBytes(copying: Array(0..<40))
        let rebuilt = SecureBytes.concatenating([whole.slice(0..<16), whole.slice(16..<16), whole.slice(16..<40)])
        #expect(rebuilt == whole)
        #expect(whole.slice(8..<12).unsafeCopyToArray() == [8, 9, 10, 11])
    }

    @Test("Sodium.constantTimeEqual compares values and lengths")
    func constantTimeEqual() {
        #expect(Sodium.constantTimeEqual([1, 2, 3], [1, 2, 3]))
        #expect(!Sodium.constantTimeEqual([1, 2, 3], [1, 2, 4]))
        #expect(!Sodium.constantTimeEqual([1, 2, 3], [1, 2]))
        #expect(Sodium.constantTimeEqual([], []))
    }

    @Test("Random.bytes gives the asked length and fresh values")
    func randomBytes() {
        #expect(Random.bytes(0).isEmpty)
        #expect(Random.bytes(24).count == 24)
        #expect(Random.bytes(32) != Random.bytes(32))
    }
}
