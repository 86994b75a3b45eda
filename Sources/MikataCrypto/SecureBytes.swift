internal import CSodium

/// A secret held in guarded memory (`sodium_malloc`: guard pages, `mlock`ed, never swapped or dumped where the
/// OS honours it), zeroed when released, compared in constant time, and never printed.
///
/// Modeled on swift-crypto's `SecureBytes`: the bytes are only reachable inside `withUnsafeBytes`.
package final class SecureBytes: @unchecked Sendable {
    // Immutable after init: the buffer is written only inside the initialisers below, so sharing is safe.
    private let pointer: UnsafeMutableRawPointer
    package let count: Int

    /// Allocates `count` guarded bytes and lets `initializer` fill them.
    package init(count: Int, _ initializer: (UnsafeMutableRawBufferPointer) throws -> Void) throws {
        Sodium.ready()
        precondition(count >= 0, "negative SecureBytes size")
        guard let p = sodium_malloc(max(count, 1)) else { throw CryptoError.outOfMemory }
        // Filled before the properties are set: a throw then leaves no object whose deinit would free `p` again.
        do {
            try initializer(UnsafeMutableRawBufferPointer(start: p, count: count))
        } catch {
            sodium_free(p)
            throw error
        }
        pointer = p
        self.count = count
        sodium_mprotect_readonly(p)
    }

    /// Fresh random secret bytes.
    package static func random(count: Int) -> SecureBytes {
        // Allocation failure for a few dozen bytes means the process is already lost.
        try! SecureBytes(count: count) { buf in
            if let base = buf.baseAddress { randombytes_buf(base, count) }
        }
    }

    /// Copies `bytes` into guarded memory. The caller stays responsible for wiping its own copy.
    package convenience init(copying bytes: some Collection<UInt8>) {
        // Copy element by element: no intermediate array that would outlive this call unwiped.
        try! self.init(count: bytes.count) { buf in
            for (i, b) in bytes.enumerated() { buf[i] = b }
        }
    }

    /// Takes ownership of a scratch array: copies it into guarded memory and wipes the array.
    package convenience init(wiping bytes: inout [UInt8]) {
        self.init(copying: bytes)
        Sodium.wipe(&bytes)
    }

    deinit {
        // sodium_free zeroes the region before unmapping it.
        sodium_mprotect_readwrite(pointer)
        sodium_free(pointer)
    }

    package func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: pointer, count: count))
    }

    /// A sub-range copied into new guarded memory.
    package func slice(_ range: Range<Int>) -> SecureBytes {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "SecureBytes slice out of range")
        return try! SecureBytes(count: range.count) { dst in
            if let d = dst.baseAddress { d.copyMemory(from: pointer + range.lowerBound, byteCount: range.count) }
        }
    }

    /// Concatenation in guarded memory.
    package static func concatenating(_ parts: [SecureBytes]) -> SecureBytes {
        let total = parts.reduce(0) { $0 + $1.count }
        return try! SecureBytes(count: total) { dst in
            var offset = 0
            for part in parts {
                part.withUnsafeBytes { src in
                    if let d = dst.baseAddress, let s = src.baseAddress { (d + offset).copyMemory(from: s, byteCount: src.count) }
                }
                offset += part.count
            }
        }
    }

    /// Copies the secret out into an ordinary array: only for writing it into an encrypted or access-controlled
    /// container (a key-store file). Callers wipe the array when done.
    package func unsafeCopyToArray() -> [UInt8] {
        withUnsafeBytes { Array($0) }
    }
}

extension SecureBytes: Equatable {
    /// Constant-time comparison; lengths are public.
    package static func == (lhs: SecureBytes, rhs: SecureBytes) -> Bool {
        guard lhs.count == rhs.count else { return false }
        if lhs.count == 0 { return true }
        return lhs.withUnsafeBytes { a in rhs.withUnsafeBytes { b in sodium_memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0 } }
    }
}

extension SecureBytes: CustomStringConvertible, CustomDebugStringConvertible {
    package var description: String { "SecureBytes(\(count) bytes, redacted)" }
    package var debugDescription: String { description }
}
