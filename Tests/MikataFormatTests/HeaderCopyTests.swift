import Testing
import MikataFormat

@Suite("Header copy generation prefix")
struct HeaderCopyTests {
    @Test("the generation a copy claims is read from its first 12 bytes, only behind the magic")
    func claimedGeneration() throws {
        let copy = try HeaderCopy(generation: 0x0102_0304_0506_0708, body: [1, 2, 3]).serialize(copyLength: 256)
        #expect(HeaderCopy.claimedGeneration(Array(copy.prefix(HeaderCopy.generationPrefixLength))) == 0x0102_0304_0506_0708)
        var damaged = Array(copy.prefix(12)); damaged[0] ^= 1
        #expect(HeaderCopy.claimedGeneration(damaged) == nil)
        #expect(HeaderCopy.claimedGeneration(Array(copy.prefix(11))) == nil, "a short read (a truncated file) claims nothing")
    }
}
