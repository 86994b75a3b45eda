// Fuzz target "certificate" (scripts/fuzz.sh): the input is a deletion certificate, verified offline as
// `mikata certificate verify` does (docs/CERTIFICATE.md). Reaches MikataVault's internals through `@testable import`.
import MikataFormat
@testable import MikataVault

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCertificate(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Fuzz.bytes(data, size)
    // With the certificate's own key, then with the key it names (the "given key" branch).
    _ = try? DeletionCertificate.verify(bytes, publicKey: nil)
    if let value = try? CanonicalJSON.parse(bytes), case .string(let hex)? = value["issuer"]?["publicKey"], let key = [UInt8](hex: hex) {
        _ = try? DeletionCertificate.verify(bytes, publicKey: key)
    }
    return 0
}
