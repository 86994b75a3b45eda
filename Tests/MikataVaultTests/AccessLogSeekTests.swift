import Testing
@testable import MikataVault

/// `AccessLogSeek`: the binary search over byte offsets and the walks forward and backward from where it lands, on
/// synthetic logs whose lines are `seq|payload` (the search only needs a line's sequence number), checked against a
/// plain scan of the same lines.
@Suite struct AccessLogSeekTests {
    /// Counts the bytes read, to show what a seek reads.
    final class CountingBytes: AccessLogBytes {
        let base: AccessLogSnapshot
        var read = 0
        init(_ bytes: [UInt8]) { base = AccessLogSnapshot(bytes: bytes) }
        func size() -> Int { base.size() }
        func read(at offset: Int, count: Int) -> [UInt8] {
            let out = base.read(at: offset, count: count)
            read += out.count
            return out
        }
    }

    static func seq(_ line: ArraySlice<UInt8>) -> UInt64? {
        guard let bar = line.firstIndex(of: UInt8(ascii: "|")) else { return nil }
        return UInt64(String(decoding: line[..<bar], as: UTF8.self))
    }

    /// A log of `count` lines with non-decreasing numbers (some repeated, as a checkpoint repeats its entry's), of
    /// up to 120 bytes and, in logs of more than 57 lines, some of 4–9 KiB (longer than a probe's window), and a torn
    /// last line.
    static func log(count: Int, seed: UInt64) -> (bytes: [UInt8], lines: [[UInt8]]) {
        var rng = SplitMix(seed: seed)
        var lines: [[UInt8]] = []
        var seq: UInt64 = UInt64.random(in: 0...5, using: &rng)
        for _ in 0..<count {
            if Int.random(in: 0..<5, using: &rng) > 0 { seq += UInt64.random(in: 1...3, using: &rng) }
            let long = count > 57 && Int.random(in: 0..<20, using: &rng) == 0
            let length = long ? Int.random(in: 4000...9000, using: &rng) : Int.random(in: 0...120, using: &rng)
            lines.append(Array("\(seq)|".utf8) + [UInt8](repeating: UInt8(ascii: "x"), count: length))
        }
        let bytes: [UInt8] = lines.flatMap { $0 + [10] } + Array("\(seq + 1)|torn".utf8)
        return (bytes, lines)
    }

    @Test(arguments: [(0, UInt64(1)), (1, 2), (2, 3), (57, 4), (400, 5)])
    func walksFromTheSearchedLineMatchAPlainScan(count: Int, seed: UInt64) throws {
        let (bytes, lines) = Self.log(count: count, seed: seed)
        let top = (lines.last.flatMap { Self.seq($0[...]) } ?? 0) + 3
        // Tiny chunks cross every line's ends (on the short logs: a walk in chunks of c bytes copies a line's carried
        // part once per chunk, which in a debug build is slow for long lines).
        for chunk in count <= 57 ? [1, 7, 256, 1 << 20] : [256, 4096, 1 << 20] {
            for n in stride(from: UInt64(0), through: top, by: Int(max(1, top / 20))) {
                // Where each walk starts is what the search decides: the first lines of each suffice.
                var forward: [[UInt8]] = []
                try AccessLogSeek.lines(in: AccessLogSnapshot(bytes: bytes), after: n, seqOf: Self.seq, chunkSize: chunk) {
                    forward.append(Array($0)); return forward.count < 4
                }
                #expect(forward == Array(lines.filter { Self.seq($0[...])! > n }.prefix(4)), "after \(n), chunks of \(chunk)")
                var backward: [[UInt8]] = []
                try AccessLogSeek.linesReversed(in: AccessLogSnapshot(bytes: bytes), before: n, seqOf: Self.seq, chunkSize: chunk) {
                    backward.append(Array($0)); return backward.count < 4
                }
                #expect(backward == Array(lines.filter { Self.seq($0[...])! < n }.reversed().prefix(4)), "before \(n), chunks of \(chunk)")
            }
            var all: [[UInt8]] = []
            try AccessLogSeek.linesReversed(in: AccessLogSnapshot(bytes: bytes), before: nil, seqOf: Self.seq, chunkSize: chunk) {
                all.append(Array($0)); return true
            }
            #expect(all == lines.reversed(), "every complete line newest first, the torn one left out (chunks of \(chunk))")
            var three: [[UInt8]] = []
            try AccessLogSeek.linesReversed(in: AccessLogSnapshot(bytes: bytes), before: nil, seqOf: Self.seq, chunkSize: chunk) {
                three.append(Array($0)); return three.count < 3
            }
            #expect(three.count == min(3, lines.count), "stops when asked")
        }
    }

    /// Empty lines and a log that is one line, or nothing but a torn line, walk as the plain split does.
    @Test func edgesOfTheLog() throws {
        for text in ["", "torn", "1|a\n", "\n", "\n\n1|a\n\n", "1|a\n2|b", "1|a\n\n2|b\n"] {
            let bytes = Array(text.utf8)
            var whole: [[UInt8]] = []
            _ = try AccessLogLines.split(bytes[...]) { whole.append(Array($0)); return true }
            for chunk in [1, 2, 3, 100] {
                var backward: [[UInt8]] = []
                try AccessLogSeek.backward(AccessLogSnapshot(bytes: bytes), before: bytes.count, chunkSize: chunk) { backward.append(Array($0)); return true }
                #expect(backward == whole.reversed(), "\(text.debugDescription), chunks of \(chunk)")
                var forward: [[UInt8]] = []
                try AccessLogSeek.forward(AccessLogSnapshot(bytes: bytes), from: 0, chunkSize: chunk) { forward.append(Array($0)); return true }
                #expect(forward == whole, "\(text.debugDescription), chunks of \(chunk)")
            }
        }
    }

    /// A page deep in a long log reads O(log n) probe windows plus the page, not the log.
    @Test func aSeekReadsLittleOfALongLog() throws {
        var bytes: [UInt8] = []
        for seq in 0..<200_000 { bytes += Array("\(seq)|\(String(repeating: "e", count: 300))\n".utf8) }
        let log = CountingBytes(bytes)
        var got: [UInt64] = []
        try AccessLogSeek.lines(in: log, after: 150_000, seqOf: Self.seq, chunkSize: 4096) {
            got.append(Self.seq($0)!); return got.count < 10
        }
        #expect(got == Array(150_001...150_010))
        #expect(log.read < 40 * 2 * AccessLogSeek.probeWindow + 8192, "read \(log.read) B of a \(bytes.count) B log")
        let back = CountingBytes(bytes)
        var newest: [UInt64] = []
        try AccessLogSeek.linesReversed(in: back, before: nil, seqOf: Self.seq, chunkSize: 4096) {
            newest.append(Self.seq($0)!); return newest.count < 10
        }
        #expect(newest == Array((199_990..<200_000).reversed()))
        #expect(back.read <= 8192, "the newest lines are read from the end: \(back.read) B")
    }

    /// A probed line without a readable number stops the search: the walk starts where it would without one (the
    /// log's start going forward, its end going back), so the damaged line is delivered and nothing is skipped.
    @Test func anUnreadableProbeFallsBackToTheWholeWalk() throws {
        // Every line but the first and the last is damaged, so the first probe meets one.
        var lines: [[UInt8]] = (0..<64).map { Array("\($0)|ok".utf8) }
        for k in 1..<63 { lines[k] = Array("garbage".utf8) }
        let bytes: [UInt8] = lines.flatMap { $0 + [10] }
        var forward: [[UInt8]] = []
        try AccessLogSeek.lines(in: AccessLogSnapshot(bytes: bytes), after: 50, seqOf: Self.seq, chunkSize: 64) { forward.append(Array($0)); return true }
        #expect(forward.contains(Array("garbage".utf8)) && forward.last == Array("63|ok".utf8))
        var backward: [[UInt8]] = []
        try AccessLogSeek.linesReversed(in: AccessLogSnapshot(bytes: bytes), before: 20, seqOf: Self.seq, chunkSize: 64) { backward.append(Array($0)); return true }
        #expect(backward.contains(Array("garbage".utf8)) && backward.last == Array("0|ok".utf8))
    }

    /// A log that a writer cuts back (a failed batch taken back, a torn line cut) under a backward walk.
    final class ShrinkingBytes: AccessLogBytes {
        var bytes: [UInt8]
        var reportedSize: Int?
        var cut: (afterReads: Int, to: Int)?
        var reads = 0
        init(_ bytes: [UInt8]) { self.bytes = bytes }
        func size() -> Int { defer { reportedSize = nil }; return reportedSize ?? bytes.count }
        func read(at offset: Int, count: Int) -> [UInt8] {
            reads += 1
            if let cut, reads == cut.afterReads { bytes = Array(bytes[..<cut.to]) }
            return AccessLogSnapshot(bytes: bytes).read(at: offset, count: count)
        }
    }

    @Test func aLogCutBackUnderABackwardWalk() throws {
        let lines: [[UInt8]] = (0..<10).map { Array("\($0)|abc".utf8) }
        let bytes: [UInt8] = lines.flatMap { $0 + [10] }
        // Cut before the first read (the size was read with a torn batch still there): the walk starts again at the
        // new end and gives every line.
        let torn = ShrinkingBytes(bytes + Array("10|torn batch".utf8))
        torn.cut = (afterReads: 1, to: bytes.count)
        var got: [[UInt8]] = []
        try AccessLogSeek.linesReversed(in: torn, before: nil, seqOf: Self.seq, chunkSize: 8) { got.append(Array($0)); return true }
        #expect(got == lines.reversed())
        // Cut after lines went out: busy, not a short page that looks like the end.
        let late = ShrinkingBytes(bytes)
        late.cut = (afterReads: 4, to: 20)  // deeper than the walk has read: its next read comes short
        #expect(throws: VaultError.self) {
            try AccessLogSeek.linesReversed(in: late, before: nil, seqOf: Self.seq, chunkSize: 8) { _ in true }
        }
    }

    /// A line longer than `AccessLogLines.lineMax` is corrupted going backwards too.
    @Test func anOverlongLineIsCorruptedBackwards() {
        let bytes = Array("1|a\n".utf8) + [UInt8](repeating: UInt8(ascii: "x"), count: AccessLogLines.lineMax + 10) + [10] + Array("2|b\n".utf8)
        for chunk in [1 << 16, 1 << 21] {
            #expect(throws: VaultError.self) {
                try AccessLogSeek.backward(AccessLogSnapshot(bytes: bytes), before: bytes.count, chunkSize: chunk) { _ in true }
            }
        }
        // An unfinished last line over the limit too, as the forward walk finds it.
        let tail = Array("1|a\n".utf8) + [UInt8](repeating: UInt8(ascii: "x"), count: AccessLogLines.lineMax + 10)
        #expect(throws: VaultError.self) {
            try AccessLogSeek.backward(AccessLogSnapshot(bytes: tail), before: tail.count, chunkSize: 1 << 16) { _ in true }
        }
        #expect(throws: VaultError.self) {
            try AccessLogSeek.forward(AccessLogSnapshot(bytes: tail), from: 0, chunkSize: 1 << 16) { _ in true }
        }
    }
}
