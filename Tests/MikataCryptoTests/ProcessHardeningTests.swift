#if canImport(Glibc)
import Glibc
#endif
import MikataCrypto
import Testing

@Suite("Process hardening")
struct ProcessHardeningTests {
    @Test("apply() makes the process non-dumpable (checked in a child process, so the test runner stays as it was)")
    func notDumpable() async {
        await #expect(processExitsWith: .success) {
            guard ProcessHardening.dumpable == 1 else { exit(2) }  // an ordinary process is dumpable: the check can fail
            guard ProcessHardening.apply(), ProcessHardening.dumpable == 0 else { exit(1) }
            exit(0)
        }
    }
}
