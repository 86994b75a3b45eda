internal import CSodium

/// How the process's allocator treats large buffers.
package enum ProcessMemory {
    /// Buffers of 128 KiB and more are mapped and given back to the system when freed (glibc's M_MMAP_THRESHOLD fixed
    /// at 128 KiB instead of growing with the largest buffer freed so far, mallopt(3)). A command that streams a
    /// photo through buffers of 256 KiB would otherwise keep them in the heap of each thread that touched them, and
    /// its memory would grow with the photo although it never holds more than a chunk or two. Returns whether the
    /// setting took (always false off glibc).
    @discardableResult
    package static func giveLargeBuffersBack() -> Bool {
        #if os(Linux)
        return mikata_fix_mmap_threshold(128 << 10) == 1
        #else
        return false
        #endif
    }
}
