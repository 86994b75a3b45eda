#ifndef MIKATA_CSODIUM_SHIM_H
#define MIKATA_CSODIUM_SHIM_H
// The one C header of MikataVault: libsodium, as Debian's libsodium-dev installs it.
#include <sodium.h>

#ifdef __linux__
#include <sys/prctl.h>
// prctl(2) is variadic, which Swift does not import: this fixed-arity wrapper is the one call MikataCrypto needs.
// Clears the process's "dumpable" flag: no core dump, no ptrace attach or /proc/PID/mem read by same-user processes.
static inline int mikata_set_not_dumpable(void) { return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0); }
static inline int mikata_get_dumpable(void) { return prctl(PR_GET_DUMPABLE, 0, 0, 0, 0); }
#include <malloc.h>
// glibc's M_MMAP_THRESHOLD fixed at `bytes` (Swift's Glibc module does not import malloc.h): see ProcessMemory.
static inline int mikata_fix_mmap_threshold(int bytes) { return mallopt(M_MMAP_THRESHOLD, bytes); }
#endif
#endif
