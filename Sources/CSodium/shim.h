#ifndef MIKATA_CSODIUM_SHIM_H
#define MIKATA_CSODIUM_SHIM_H
// The one C header of MikataVault: libsodium, as Debian's libsodium-dev installs it.
#include <sodium.h>
#endif
