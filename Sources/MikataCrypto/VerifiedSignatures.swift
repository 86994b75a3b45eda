import Synchronization

/// Ed25519 signatures this process has already verified, so that a record read again is not verified again (the
/// idea of Bitcoin Core's signature cache, `src/script/sigcache.h`). A long-running service reads the same recent
/// records over and over (an app refreshing its first page); Ed25519 verification is most of the cost of each.
///
/// An entry is the BLAKE2b-256 digest, keyed with 32 random bytes drawn when the cache is made, of the public key,
/// the signature and the message (each length-prefixed). A hit means exactly these bytes passed
/// `crypto_sign_verify_detached` before in this process; verification is deterministic, so it would pass again.
/// Only successes are kept: a failure is verified (and fails) every time. The key makes digests unpredictable
/// outside the process, so nobody can aim inputs at an entry or at eviction.
///
/// Bounded: at most `capacity` entries, spread by digest over 16 shards, each in two generations of a 32nd of the
/// capacity. A hit in a shard's older generation moves the entry to its newer one; when the newer one is full, the
/// older is dropped whole. Memory: about 64 bytes per entry (32-byte digests in sets at most three quarters full),
/// all of it resident once the cache has filled (docs/SECURITY.md, "Verified-signature cache").
///
/// Thread-safe: a lock per shard, held for a lookup or an insert only (never during verification), so the threads
/// of a parallel read seldom meet on one.
package final class VerifiedSignatures: Sendable {
    /// Entries kept at most.
    package let capacity: Int
    private let key: SecureBytes
    private let shards: [Shard]
    private let half: Int
    private static let shardCount = 16

    /// A 256-bit digest as four words (hashing and comparing without an array).
    private struct Digest: Hashable {
        var a, b, c, d: UInt64

        static func == (x: Digest, y: Digest) -> Bool { x.a == y.a && x.b == y.b && x.c == y.c && x.d == y.d }

        /// The first word alone: a digest is keyed BLAKE2b output, uniform and unknown to whoever chose the inputs,
        /// so its 64 bits spread entries as well as all 256 would (and `Set` still seeds them per process).
        func hash(into h: inout Hasher) { h.combine(a) }
    }

    private final class Shard: Sendable {
        let generations = Mutex(Generations())
    }

    private struct Generations: ~Copyable {
        var newer: Set<Digest> = []
        var older: Set<Digest> = []
        var hits = 0
        var misses = 0
    }

    /// - Parameter capacity: entries kept at most (≥ 32: one per generation of each shard).
    package init(capacity: Int) {
        precondition(capacity >= 2 * Self.shardCount, "a verified-signature cache holds at least 32 entries")
        self.capacity = capacity
        key = SecureBytes.random(count: 32)
        half = capacity / (2 * Self.shardCount)
        shards = (0..<Self.shardCount).map { _ in Shard() }
    }

    /// `Ed25519.verify(signature:message:publicKey:)`, answered from the cache when these exact bytes verified before.
    /// - Returns: whether the signature is valid for the message under the key.
    package func verify(signature: [UInt8], message: [UInt8], publicKey: [UInt8]) -> Bool {
        guard signature.count == SigningKeyPair.signatureLength, publicKey.count == SigningKeyPair.publicKeyLength else { return false }
        let digest = self.digest(signature: signature, message: message, publicKey: publicKey)
        let half = self.half
        let shard = shards[Int(digest.d % UInt64(Self.shardCount))]
        let known = shard.generations.withLock { g -> Bool in
            if g.newer.contains(digest) { g.hits += 1; return true }
            guard g.older.remove(digest) != nil else { g.misses += 1; return false }
            g.hits += 1
            Self.insert(digest, into: &g, half: half)
            return true
        }
        if known { return true }
        guard Ed25519.verify(signature: signature, message: message, publicKey: publicKey) else { return false }
        shard.generations.withLock { Self.insert(digest, into: &$0, half: half) }
        return true
    }

    /// Entries held now, and lookups answered from the cache (hits) or verified (misses) since it was made.
    package var statistics: (entries: Int, hits: Int, misses: Int) {
        shards.reduce(into: (entries: 0, hits: 0, misses: 0)) { sum, shard in
            shard.generations.withLock { g in
                sum.entries += g.newer.count + g.older.count
                sum.hits += g.hits
                sum.misses += g.misses
            }
        }
    }

    private static func insert(_ digest: Digest, into g: inout Generations, half: Int) {
        if g.newer.count >= half {
            g.older = g.newer
            g.newer = Set(minimumCapacity: half)
        }
        g.newer.insert(digest)
    }

    private func digest(signature: [UInt8], message: [UInt8], publicKey: [UInt8]) -> Digest {
        let h = Blake2b(outputLength: 32, key: key)  // its state is wiped when let go
        for part in [publicKey, signature, message] {
            var length = UInt64(part.count).littleEndian
            withUnsafeBytes(of: &length) { h.update($0) }
            h.update(part)
        }
        let out = h.finalize()
        return out.withUnsafeBytes { b in
            Digest(a: b.load(fromByteOffset: 0, as: UInt64.self), b: b.load(fromByteOffset: 8, as: UInt64.self),
                   c: b.load(fromByteOffset: 16, as: UInt64.self), d: b.load(fromByteOffset: 24, as: UInt64.self))
        }
    }
}
