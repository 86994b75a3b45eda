public import Foundation
import HummingbirdOTP
public import MikataService

/// TOTP codes for administrators through hummingbird-auth's HummingbirdOTP (RFC 6238: HMAC-SHA-1, 6 digits, 30 s
/// steps). HummingbirdOTP keys the HMAC with the UTF-8 bytes of the secret string, and its `otpauth://` URL carries
/// the base32 of those bytes, so an authenticator app given that URL computes the same codes. Whether a code is
/// accepted is decided by `TOTPRules` in MikataService (±1 step, once only, constant-time comparison).
public struct AdministratorTOTP: TOTPCodeGenerator {
    /// The generator.
    public init() {}

    /// The code of `secret` for the time step containing `date` (0...999_999).
    public func code(secret: String, at date: Date) -> Int {
        TOTP(secret: secret, length: TOTPRules.digits, timeStep: Int(TOTPRules.stepSeconds), hashFunction: .sha1).compute(date: date)
    }

    /// The `otpauth://totp/…` URL (Google Authenticator's key URI format) an authenticator app scans: the
    /// administrator's name as label, `MikataVault` as issuer. It holds the secret: show it once, never log it.
    public static func authenticatorURL(_ enrolment: AdministratorEnrolment, issuer: String = "MikataVault") -> String {
        let secret = enrolment.totpSecret.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
        return TOTP(secret: secret, length: TOTPRules.digits, timeStep: Int(TOTPRules.stepSeconds), hashFunction: .sha1)
            .createAuthenticatorURL(label: "\(issuer):\(enrolment.name)", issuer: issuer)
    }
}
