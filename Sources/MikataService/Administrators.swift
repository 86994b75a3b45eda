public import Foundation
import MikataCrypto
import MikataFormat
import MikataVault

// The HTTP service's administrators (docs/SECURITY.md, "Administrators"): password + TOTP, dual-control shreds,
// and the operator views that hold no health data. The accounts and the pending requests live in the store, sealed
// under the root key (docs/FORMAT.md §7.13). TOTP codes themselves are computed by the caller (`TOTPCodeGenerator`:
// the server and the CLI use hummingbird-auth's HummingbirdOTP, which this layer does not link); the rules that
// decide whether a code is accepted are here.

/// Computes RFC 6238 TOTP codes for `TOTPRules`: HMAC-SHA-1, 6 digits, the 30-second step that contains a date,
/// keyed with the UTF-8 bytes of the printable secret (HummingbirdOTP's convention).
public protocol TOTPCodeGenerator: Sendable {
    /// The code (0...999_999) of `secret` for the time step that contains `date`.
    func code(secret: String, at date: Date) -> Int
}

/// The rules a TOTP code must pass (RFC 6238 §4 and §5.2): 30-second steps from the Unix epoch, 6 digits, the
/// current step or one step either side, compared in constant time, and never a step at or before the last one
/// accepted (so a code is used at most once, and an older code after a newer one never).
public enum TOTPRules {
    /// X, the time step in seconds (RFC 6238 §4.1).
    public static let stepSeconds: Int64 = 30
    /// Digits of a code.
    public static let digits = 6
    /// Steps accepted either side of the current one (RFC 6238 §5.2: at most one step of network delay/clock drift).
    public static let window: Int64 = 1

    /// T = floor(Unix time / X) (RFC 6238 §4.2).
    public static func step(at date: Date) -> Int64 { Int64((date.timeIntervalSince1970 / Double(stepSeconds)).rounded(.down)) }

    /// The start of time step `step`.
    public static func date(ofStep step: Int64) -> Date { Date(timeIntervalSince1970: Double(step * stepSeconds)) }

    /// A code as its `digits` ASCII digits, zero-padded.
    public static func format(_ code: Int) -> String {
        let s = String(code % 1_000_000)
        return String(repeating: "0", count: max(0, digits - s.count)) + s
    }

    /// Constant-time comparison of two codes' ASCII bytes (libsodium `sodium_memcmp`; lengths are public).
    public static func codesEqual(_ a: String, _ b: String) -> Bool { Sodium.constantTimeEqual(Array(a.utf8), Array(b.utf8)) }

    /// The step `given` is accepted for at `date`, or nil.
    ///
    /// Every step of the window is computed and compared (no early exit), each with `equal`; of the steps whose
    /// code matches, the latest one after `lastAccepted` is the answer.
    /// - Parameters:
    ///   - given: what the person typed: exactly `digits` ASCII digits, else nothing matches.
    ///   - lastAccepted: the last step accepted for this secret (nil: none yet).
    ///   - code: the code of a step (a `TOTPCodeGenerator` at `date(ofStep:)`).
    ///   - equal: the comparison (`codesEqual`, constant time; a parameter so tests can watch it being used).
    public static func acceptedStep(given: String, at date: Date, lastAccepted: Int64?, code: (Int64) -> Int,
                                    equal: (String, String) -> Bool = codesEqual) -> Int64? {
        let wellFormed = given.utf8.count == digits && given.utf8.allSatisfy { (48...57).contains($0) }
        let current = step(at: date)
        var accepted: Int64?
        for s in (current - window)...(current + window) {
            let matches = equal(format(code(s)), wellFormed ? given : String(repeating: "x", count: digits))
            if matches && wellFormed && s > (lastAccepted ?? Int64.min) { accepted = s }
        }
        return accepted
    }
}

/// A new administrator and the TOTP secret to enrol in an authenticator app, shown once.
public struct AdministratorEnrolment: Sendable {
    /// The administrator's name as stored (lower-case).
    public let name: String
    /// The printable TOTP secret (32 RFC 4648 base32 characters, 160 random bits); its UTF-8 bytes are the HMAC key.
    public let totpSecret: Secret
    /// What an authenticator app is given to type in: RFC 4648 base32, without padding, of `totpSecret`'s UTF-8
    /// bytes (the `secret` parameter of the `otpauth://` URL).
    public let authenticatorKey: String
}

/// An administrator as listed: no secret.
public struct AdministratorSummary: Sendable, Hashable {
    /// The name (lower-case).
    public let name: String
    /// When it was created (ISO 8601, UTC).
    public let createdAt: String
}

/// A shred request that waits for a second administrator, as listed: the e-mail address is never shown.
public struct ShredRequestSummary: Sendable, Hashable {
    /// The request's id (32 hexadecimal digits).
    public let requestId: String
    /// When it was made (ISO 8601, UTC).
    public let requestedAt: String
    /// The administrator who made it; a different one must approve it.
    public let requestedByAdministrator: String
    /// Why (the certificate's `request.reason`).
    public let reason: String
    /// The requesting organisation (`request.requestedBy`).
    public let requestedBy: String
    /// Their reference (`request.reference`).
    public let reference: String

    init(_ r: PendingShredRequest) {
        requestId = r.requestId; requestedAt = r.requestedAt; requestedByAdministrator = r.requestedByAdministrator
        reason = r.reason; requestedBy = r.requestedBy; reference = r.reference
    }
}

/// A shredded vault's tombstone: ids and times only.
public struct Tombstone: Sendable, Hashable {
    /// The vault's id in hex.
    public let vaultId: String
    /// When the shred completed (ISO 8601); nil while it is still under way.
    public let shreddedAt: String?
    /// The deletion certificate's id; nil while the shred is under way.
    public let certificateId: String?
}

extension VaultService {
    /// Shortest administrator password, in bytes after normalisation (NIST SP 800-63B §5.1.1.2: at least 8).
    public static let administratorPasswordMinimum = 8

    /// An administrator name as stored: 1 to 64 of `a-z 0-9 . _ -`, starting with a letter or digit; letters are
    /// lower-cased. Nil for anything else.
    public static func administratorName(_ typed: String) -> String? {
        let n = typed.lowercased()
        let bytes = Array(n.utf8)
        guard (1...64).contains(bytes.count), bytes.allSatisfy({ (97...122).contains($0) || (48...57).contains($0) || $0 == 46 || $0 == 95 || $0 == 45 }),
              !(bytes[0] == 46 || bytes[0] == 95 || bytes[0] == 45) else { return nil }
        return n
    }

    /// Creates an administrator: the password kept as an Argon2id string at the store's cost (run behind the
    /// Argon2id admission), and a fresh TOTP secret, returned once. Logged (`administrator-create`).
    /// - Parameters:
    ///   - name: see `administratorName(_:)`.
    ///   - password: at least `administratorPasswordMinimum` bytes after normalisation.
    /// - Throws: `MikataError` `.invalidInput` (name, password), `.alreadyExists`, `.busy`, `.io`, `.tampered`.
    public func createAdministrator(name: String, password: Secret) async throws -> AdministratorEnrolment {
        guard let n = Self.administratorName(name) else {
            throw MikataError(.invalidInput, "an administrator name is 1 to 64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit")
        }
        let length = HumanInput.password(password.bytes).count
        guard length >= Self.administratorPasswordMinimum else {
            throw MikataError(.invalidInput, "an administrator password must be at least \(Self.administratorPasswordMinimum) bytes")
        }
        var raw = Random.bytes(20)
        defer { Sodium.wipe(&raw) }
        var secret = Array(Base32.encode(raw).utf8)
        let enrolment = AdministratorEnrolment(name: n, totpSecret: Secret(copying: secret),
                                               authenticatorKey: Base32.encode(secret))
        let secretText = String(decoding: secret, as: UTF8.self)
        Sodium.wipe(&secret)
        do {
            let hash = try await withPasswordHash { store in try store.hashAdministratorPassword(password.bytes) }
            try await blocking { store in
                try store.updateDocument(.administrators, as: AdministratorAccount.self) { list in
                    guard !list.contains(where: { $0.name == n }) else { throw VaultError.alreadyExists("an administrator with that name exists already") }
                    list.append(AdministratorAccount(name: n, createdAt: Self.isoNow(), passwordHash: hash, totpSecret: secretText))
                }
                try store.log("administrator-create", vaultId: nil, actor: "operator", role: "operator", detail: "administrator \(n)")
            }
        } catch { throw MikataError.from(error) }
        return enrolment
    }

    /// The administrators, by name.
    /// - Throws: `MikataError` `.tampered`, `.corrupted`, `.io`.
    public func administrators() async throws -> [AdministratorSummary] {
        do {
            return try await blocking { store in
                try store.readDocument(.administrators, as: AdministratorAccount.self)
                    .map { AdministratorSummary(name: $0.name, createdAt: $0.createdAt) }.sorted { $0.name < $1.name }
            }
        } catch { throw MikataError.from(error) }
    }

    /// Deletes an administrator (its sessions in a server end when it next checks; the HTTP service ends them at
    /// once). Logged (`administrator-delete`).
    /// - Throws: `MikataError` `.notFound`, `.tampered`, `.io`.
    public func deleteAdministrator(name: String) async throws {
        guard let n = Self.administratorName(name) else { throw MikataError(.notFound, "no administrator of that name") }
        do {
            try await blocking { store in
                try store.updateDocument(.administrators, as: AdministratorAccount.self) { list in
                    guard let i = list.firstIndex(where: { $0.name == n }) else { throw VaultError.notFound("no administrator of that name") }
                    list.remove(at: i)
                }
                try store.log("administrator-delete", vaultId: nil, actor: "operator", role: "operator", detail: "administrator \(n)")
            }
        } catch { throw MikataError.from(error) }
    }

    /// Checks an administrator's password and TOTP code (docs/SECURITY.md, "Administrators").
    ///
    /// The password first, behind the Argon2id admission: an unknown name runs one Argon2id at the store's cost
    /// too, and every failure (unknown name, wrong password, a code that is wrong, outside ±1 step, or of a step
    /// at or before the last one accepted) is the same `.authenticationFailed`. Then, under the administrators
    /// file's lock, the code is checked with `TOTPRules` and the step accepted is written (atomically) before the
    /// call returns, so two logins with one code cannot both succeed, in this process or another. Logged
    /// (`administrator-login`, ok or failed; an unknown name as actor `unknown`).
    /// - Parameters:
    ///   - totp: the 6 digits as typed.
    ///   - now: the time the code is checked against.
    ///   - generator: computes the codes (HummingbirdOTP in the server).
    /// - Returns: the administrator's name as stored.
    /// - Throws: `MikataError` `.authenticationFailed`, `.busy` (Argon2id queue full), `.tampered`, `.io`.
    public func verifyAdministrator(name: String, password: Secret, totp: String, now: Date = Date(),
                                    generator: some TOTPCodeGenerator) async throws -> String {
        try await authenticateAdministrator(name: name, password: password, totp: totp, now: now, generator: generator).name
    }

    /// `verifyAdministrator`, also returning the enrolment the password and code belong to, read under the same lock
    /// as the code check, so a session can be bound to it (`administratorIsCurrent`).
    /// - Returns: the administrator's name as stored and their enrolment id (32 hex digits, opaque).
    /// - Throws: what `verifyAdministrator` throws.
    public func authenticateAdministrator(name: String, password: Secret, totp: String, now: Date = Date(),
                                          generator: some TOTPCodeGenerator) async throws -> (name: String, enrolment: String) {
        let n = Self.administratorName(name)
        let failed = MikataError(.authenticationFailed, "the administrator name, password or code is wrong")
        do {
            let passwordOK = try await withPasswordHash { store -> Bool in
                let account = try n.flatMap { n in try store.readDocument(.administrators, as: AdministratorAccount.self).first { $0.name == n } }
                let ok = try store.checkAdministratorPassword(account?.passwordHash, password.bytes)
                if !ok { try? store.log("administrator-login", vaultId: nil, actor: account.map { "administrator:\($0.name)" } ?? "unknown",
                                        role: "operator", outcome: "failed", detail: "password") }
                return ok
            }
            guard passwordOK, let n else { throw failed }
            let enrolment = try await blocking { store -> String? in
                let enrolment = try store.updateDocument(.administrators, as: AdministratorAccount.self) { list -> String? in
                    guard let i = list.firstIndex(where: { $0.name == n }) else { return nil }
                    let secret = list[i].totpSecret
                    guard let step = TOTPRules.acceptedStep(given: totp, at: now, lastAccepted: list[i].lastAcceptedStep,
                                                            code: { generator.code(secret: secret, at: TOTPRules.date(ofStep: $0)) })
                    else { return nil }
                    list[i].lastAcceptedStep = step
                    return list[i].enrolment
                }
                try? store.log("administrator-login", vaultId: nil, actor: "administrator:\(n)", role: "operator",
                               outcome: enrolment != nil ? "ok" : "failed", detail: enrolment != nil ? "" : "code")
                return enrolment
            }
            guard let enrolment else { throw failed }
            return (n, enrolment)
        } catch { throw MikataError.from(error) }
    }

    /// Whether `name` is an administrator now (a server checks this before each administrator request, so a
    /// deleted administrator's session stops working).
    /// - Throws: `MikataError` `.tampered`, `.corrupted`, `.io`.
    public func administratorExists(_ name: String) async throws -> Bool {
        try await administrators().contains { $0.name == name }
    }

    /// The enrolment id of administrator `name` now (what `authenticateAdministrator` returned at login), or nil
    /// when there is no such administrator.
    /// - Throws: `MikataError` `.tampered`, `.corrupted`, `.io`.
    public func administratorEnrolment(_ name: String) async throws -> String? {
        do {
            return try await blocking { store in
                try store.readDocument(.administrators, as: AdministratorAccount.self).first { $0.name == name }?.enrolment
            }
        } catch { throw MikataError.from(error) }
    }

    /// Whether administrator `name` exists now with the enrolment a session was opened for: false once they were
    /// deleted, even if an administrator of the same name was created since (a server checks this before each
    /// administrator request).
    /// - Throws: `MikataError` `.tampered`, `.corrupted`, `.io`.
    public func administratorIsCurrent(_ name: String, enrolment: String) async throws -> Bool {
        try await administratorEnrolment(name) == enrolment
    }

    // MARK: dual-control shreds

    /// Records a shred request by administrator `administrator`; a different administrator must approve it
    /// (`approveShred`). The e-mail address is kept only in the sealed requests file. Logged (`shred-request`).
    /// - Parameters:
    ///   - reason, requestedBy, reference: as the certificate will state them (1 to 512 bytes each, no control
    ///     characters).
    ///   - enrolment: the enrolment the requester's session was opened for (`administratorEnrolment`); nil takes
    ///     the current one. The request binds the enrolment read under the administrators' lock.
    /// - Throws: `MikataError` `.invalidInput` (an address or field the shred would refuse), `.notFound` (no
    ///   patient with that address), `.authenticationFailed` (no administrator `administrator`, or not with
    ///   `enrolment`: deleted since the session opened), `.notPermitted` (`maxPendingShredRequests` of theirs
    ///   waiting already), `.io`, `.tampered`.
    public func requestShred(email: String, reason: String, requestedBy: String, reference: String,
                             administrator: String, enrolment: String? = nil) async throws -> ShredRequestSummary {
        do {
            for (what, value) in [("reason", reason), ("requestedBy", requestedBy), ("reference", reference)] {
                try ShredRequest.checkField(value, what: what)  // the certificate's rule, checked before anything is kept
            }
        } catch { throw MikataError.from(error) }
        do {
            return try await blocking { store in
                _ = try Store.normalise(email: email)
                let vault: [UInt8]
                do { vault = try store.vaultId(email: email) } catch VaultError.notFound {
                    // A miss is logged too (without the address): an administrator cannot test addresses unseen.
                    try? store.log("shred-request", vaultId: nil, actor: "administrator:\(administrator)", role: "operator", outcome: "denied",
                                   detail: "no patient with that address")
                    throw VaultError.notFound("no patient with that address")
                }
                var request = PendingShredRequest(requestId: Random.bytes(16).hex, requestedAt: Self.isoNow(),
                                                  requestedByAdministrator: administrator, email: email, reason: reason,
                                                  requestedBy: requestedBy, reference: reference, vaultId: vault.hex)
                try store.updateDocument(.shredRequests, as: PendingShredRequest.self) { pending in
                    // The requester's enrolment, read under the lock a deletion of administrators takes: a session
                    // whose administrator was deleted (and perhaps enrolled again) while its request was on its way
                    // makes none.
                    let current = try store.readDocument(.administrators, as: AdministratorAccount.self).first { $0.name == administrator }?.enrolment
                    guard let current, enrolment.map({ $0 == current }) ?? true else {
                        throw VaultError.authenticationFailed("the administrator who made this request no longer exists: sign in again")
                    }
                    // One administrator cannot fill the requests file (1 MiB, shared by all) and so stop everyone's.
                    guard pending.filter({ $0.requestedByAdministrator == administrator }).count < Self.maxPendingShredRequests else {
                        throw VaultError.notPermitted("this administrator has \(Self.maxPendingShredRequests) shred requests waiting for approval: have them approved or let them expire first")
                    }
                    request.requesterEnrolment = current
                    pending.append(request)
                }
                try store.log("shred-request", vaultId: vault, actor: "administrator:\(administrator)", role: "operator",
                              detail: "request \(request.requestId)")
                return ShredRequestSummary(request)
            }
        } catch { throw MikataError.from(error) }
    }

    /// The shred requests waiting for approval, oldest first, without their e-mail addresses.
    /// - Throws: `MikataError` `.tampered`, `.corrupted`, `.io`.
    public func shredRequests() async throws -> [ShredRequestSummary] {
        do {
            return try await blocking { store in
                try store.readDocument(.shredRequests, as: PendingShredRequest.self).map(ShredRequestSummary.init)
            }
        } catch { throw MikataError.from(error) }
    }

    /// Shred requests one administrator may have waiting at once (`requestShred` refuses more, `.notPermitted`).
    public static let maxPendingShredRequests = 100

    /// How long a shred request waits for its approval (7 days): an older one is void, so a request made and
    /// forgotten is not approved months later, when the health centre's request no longer stands.
    public static let shredRequestLifetime: TimeInterval = 7 * 86_400

    /// Approves a pending shred request and runs the shred. The certificate names both administrators:
    /// `execution.executedBy` the one who requested it, `execution.approvedBy` the approver (docs/CERTIFICATE.md).
    /// The request is removed once the shred completed (an interrupted one keeps it, and approving again
    /// completes the same shred). A request older than `shredRequestLifetime` at `now`, or whose requester is no
    /// longer an administrator (deleted, even if enrolled again under the same name), is void: removed, and answered
    /// as no request.
    /// - Parameters:
    ///   - confirmingEmail: the patient's address as the approver read it in the health centre's request; it must
    ///     be the request's (normalised, compared in constant time) and lead to the vault the request named, or
    ///     nothing is shredded and a `shred-approve` entry with outcome `denied` is logged.
    ///   - approverEnrolment: the enrolment the approving session signed in with; when given, the approver must
    ///     still exist with it (`.authenticationFailed` otherwise).
    /// - Throws: `MikataError` `.notFound` (no such request, or a void one), `.notPermitted` (the approver made the
    ///   request; field `/email`: another address than the request's), and what `shred(email:request:)` throws.
    public func approveShred(requestId: String, administrator: String, confirmingEmail: String, approverEnrolment: String? = nil,
                             now: Date = Date()) async throws -> DeletionOutcome {
        let request: PendingShredRequest
        do {
            guard let r = try await blocking({ store in
                try store.readDocument(.shredRequests, as: PendingShredRequest.self).first { $0.requestId == requestId }
            }) else { throw MikataError(.notFound, "no pending shred request with that id") }
            request = r
        } catch { throw MikataError.from(error) }
        let madeAt = Self.isoFormatter().date(from: request.requestedAt)
        let expired = madeAt.map { now.timeIntervalSince($0) > Self.shredRequestLifetime } ?? true
        // Void once its requester is deleted, even if an administrator of that name was enrolled since (a deletion and
        // re-creation is how a compromised administrator's password and TOTP are reset: their requests go with them).
        let current = try await administratorEnrolment(request.requestedByAdministrator)
        let requesterGone = current == nil || request.requesterEnrolment != current
        if expired || requesterGone {
            try? await blocking { store in
                try store.updateDocument(.shredRequests, as: PendingShredRequest.self) { $0.removeAll { $0.requestId == requestId } }
            }
            throw MikataError(.notFound, expired ? "the shred request expired (a request waits 7 days for its approval): make a new one"
                                                 : "the shred request is void: the administrator who made it no longer exists")
        }
        guard request.requestedByAdministrator != administrator else {
            throw MikataError(.notPermitted, "a shred request must be approved by another administrator than the one who made it")
        }
        // The approver types the address from the health centre's request themselves: an approval checks what is
        // destroyed, not only the reason the requester wrote beside it.
        // The same address, and one that leads to the vault the request named (an address typed differently could
        // reach another vault through the lookup's fallback to the key addresses had before normalisation).
        let sameAddress: Bool
        do {
            sameAddress = Sodium.constantTimeEqual(Array(try Store.normalise(email: confirmingEmail).utf8), Array(try Store.normalise(email: request.email).utf8))
        } catch { sameAddress = false }
        var leadsThere = true
        if sameAddress, let named = request.vaultId {
            leadsThere = (try? await blocking { store -> Bool in
                if (try? store.vaultId(email: confirmingEmail).hex) == named { return true }
                // The vault the request named is gone (the patient deleted it): the shred below finds the request void.
                guard let id = [UInt8](hex: named) else { return false }
                return (try? store.openVault(id: id)) == nil
            }) ?? false
        }
        let confirmed = sameAddress && leadsThere
        guard confirmed else {
            try? await blocking { store in
                try store.log("shred-approve", vaultId: request.vaultId.flatMap { [UInt8](hex: $0) }, actor: "administrator:\(administrator)",
                              role: "operator", outcome: "denied", detail: "request \(requestId): the address given is not the request's")
            }
            throw MikataError(.notPermitted, "the address given is not the one in the shred request: check the health centre's request", field: "/email")
        }
        if let approverEnrolment {
            // The approving session's administrator still exists with the enrolment it signed in with, checked just
            // before the shred (an approver deleted while the approval was arriving approves nothing).
            let current = try await administratorEnrolment(administrator)
            guard current == approverEnrolment else {
                throw MikataError(.authenticationFailed, "the administrator approving no longer exists: sign in again")
            }
        }
        let outcome: DeletionOutcome
        do {
            outcome = try await shred(email: request.email, request: DeletionRequest(
                reason: request.reason, requestedBy: request.requestedBy, reference: request.reference,
                executedBy: request.requestedByAdministrator, approvedBy: administrator), expectedVaultId: request.vaultId)
        } catch let e as MikataError where e.code == .notFound && request.vaultId != nil {
            // The vault the request named is gone (the patient deleted it; the address may now lead to someone
            // else's vault): the request is void.
            try? await blocking { store in
                try store.updateDocument(.shredRequests, as: PendingShredRequest.self) { $0.removeAll { $0.requestId == requestId } }
            }
            throw e
        }
        do {
            try await blocking { store in
                try store.updateDocument(.shredRequests, as: PendingShredRequest.self) { $0.removeAll { $0.requestId == requestId } }
            }
        } catch { throw MikataError.from(error) }
        return outcome
    }

    /// The store's tombstones: shredded vault ids with when and under which certificate (no personal data).
    /// - Throws: `MikataError(.io)` when the pool is shut down.
    public func tombstones() async throws -> [Tombstone] {
        do {
            return try await blocking { store in
                store.tombstoneEntries().map { Tombstone(vaultId: $0.vaultId, shreddedAt: $0.shreddedAt, certificateId: $0.certificateId) }
            }
        } catch { throw MikataError.from(error) }
    }
}

extension VaultService {
    /// Now in ISO 8601 UTC with milliseconds, as the store writes times.
    static func isoNow() -> String { isoFormatter().string(from: Date()) }

    /// The store's time format: ISO 8601 UTC with milliseconds.
    static func isoFormatter() -> ISO8601DateFormatter {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f
    }
}

/// RFC 4648 §6 base32 (A–Z, 2–7), without padding.
enum Base32 {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        var buffer = 0, bits = 0
        for b in bytes {
            buffer = (buffer << 8) | Int(b); bits += 8
            while bits >= 5 { bits -= 5; out.append(alphabet[(buffer >> bits) & 31]) }
            buffer &= (1 << bits) - 1
        }
        if bits > 0 { out.append(alphabet[(buffer << (5 - bits)) & 31]) }
        return String(decoding: out, as: UTF8.self)
    }
}
