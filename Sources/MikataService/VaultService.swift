import Foundation
import MikataCrypto
import MikataFormat
import MikataVault

/// Where a store's root key comes from (docs/SECURITY.md, "The store root key"). It is never inside the store.
public enum RootKeyLocation: Sendable, Hashable {
    /// `MIKATA_ROOT_KEY_FILE`, a systemd credential `mikata-root-key`, `MIKATA_ROOT_KEY_FD`, else `<storeId>.key` in
    /// `MIKATA_ROOT_KEY_DIR`, `$XDG_CONFIG_HOME/mikata/root-keys` or `~/.config/mikata/root-keys` (in that order).
    case environment
    /// A key file at this path (0600, owned by the process's user).
    case file(String)
    /// An inherited, readable file descriptor holding the key file's bytes.
    case descriptor(Int32)
    /// A folder holding `<storeId>.key` per store (created by `initialize` when absent).
    case directory(String)

    var source: RootKeySource {
        switch self {
        case .environment: return .fromEnvironment()
        case .file(let p): return .file(p)
        case .descriptor(let fd): return .descriptor(fd)
        case .directory(let d): return .directory(d)
        }
    }
}

/// Argon2id cost of new passwords (docs/FORMAT.md §4.4). Existing slots keep the cost they were made with.
public struct PasswordCost: Sendable, Equatable {
    let parameters: KDFParameters

    /// libsodium's INTERACTIVE profile (2 passes, 64 MiB): the default and the floor for real use.
    public static let interactive = PasswordCost(parameters: .interactive)
    /// libsodium's MODERATE profile (3 passes, 256 MiB).
    public static let moderate = PasswordCost(parameters: .moderate)
    /// The smallest cost libsodium accepts, for tests that create thousands of accounts. Never for real use.
    @_spi(Testing) public static let minimumForTesting = PasswordCost(parameters: .minimumForTesting)

    /// Memory one Argon2id at this cost takes, in bytes.
    public var memoryBytes: UInt64 { parameters.memLimit }
}

/// How a `VaultService` runs.
public struct VaultServiceConfiguration: Sendable {
    /// Threads of the pool that runs blocking work (file I/O, fdatasync, flock waits). Durable writes spend most of
    /// their time waiting for the disk: more threads than cores let them share group commits.
    public var threads: Int = 64
    /// Threads that run password checks (Argon2id, and the unlock around it), at the lowest CPU priority (nice 19).
    /// Checks beyond them wait in the Argon2id queue (`argon2QueueLimit`, then `.busy`). Default: half the cores,
    /// at least 1: a login flood then holds at most half the machine, at the lowest priority.
    public var passwordThreads: Int = max(1, ProcessInfo.processInfo.activeProcessorCount / 2)
    /// Whether the password-check threads run at nice 19 (the default: a login flood then yields the CPU to reads and
    /// appends). Off, they run at the process's own priority: for a process whose other work is not the service's
    /// (the test runner, where dozens of CPU-bound suites at nice 0 would starve nice-19 logins for minutes).
    public var passwordChecksAtLowestPriority = true
    /// Password checks that may wait for Argon2id memory at once; one more is answered `.busy` at once. The budget
    /// is process-wide, so this limit is too: the service opened last sets it.
    public var argon2QueueLimit: Int = 64
    /// Cost of new passwords.
    public var passwordCost: PasswordCost = .interactive
    /// Seconds an operation waits for another process holding a vault before answering `.busy`.
    public var lockTimeoutSeconds: Double = 10
    /// Ed25519 signatures of records remembered once verified, so a record read again is decrypted and checked but
    /// not verified again (docs/SECURITY.md, "Verified-signature cache"): about 64 bytes each, 262,144 by default
    /// (about 16 MiB once filled); fewer than 32 are taken as 32. 0 keeps none.
    public var verifiedSignatureCacheEntries: Int = 262_144
    /// The Argon2id memory budget password checks are admitted into (tests give a small one of their own).
    @_spi(Testing) public var argon2Budget: Argon2BudgetHandle = .shared

    /// The defaults: 64 threads, a queue of 64 password checks, INTERACTIVE cost, 10 s lock wait.
    public init() {}
}

/// The vault engine as a service: every use case of MikataVault, `Sendable` and async, over one store
/// (docs/ARCHITECTURE.md). Share one instance across every task of a process.
///
/// Concurrency: operations on different vaults run in parallel; operations on the same vault run one at a time in
/// this process (a lane per vault) and across processes (the vault file's flock). Nothing blocks the caller's
/// thread: file I/O, fdatasync, flock waits and Argon2id run on the service's own thread pool. Password checks
/// share a process-wide Argon2id memory budget (1 GiB by default, `MIKATA_ARGON2_BUDGET_MIB`) with a bounded
/// queue: a check that finds the queue full fails with `.busy` at once.
///
/// Errors: every method throws `MikataError` only.
public final class VaultService: Sendable {
    let store: Store
    let pool: BlockingPool
    /// Password checks (Argon2id) run here, on threads of their own (`passwordThreads`, half the cores by default)
    /// at the lowest CPU priority, so a flood of logins slows other logins, not the reads and writes of people already
    /// signed in: Argon2id is memory-bound, and more of it at once than half the cores would crowd out the rest even
    /// at nice 19 (the bench measured it).
    let passwordPool: BlockingPool
    let lanes = VaultLanes()
    let handles = VaultHandles(capacity: 256)
    let appendQueue = AppendQueue()
    let budget: Argon2Budget

    private init(store: Store, pool: BlockingPool, configuration: VaultServiceConfiguration) {
        self.store = store
        self.pool = pool
        passwordPool = BlockingPool(threads: configuration.passwordThreads, lowPriority: configuration.passwordChecksAtLowestPriority)
        budget = configuration.argon2Budget.budget
        store.kdf = configuration.passwordCost.parameters
        store.lockTimeout = configuration.lockTimeoutSeconds
        if configuration.verifiedSignatureCacheEntries > 0 {
            store.verifiedSignatures = VerifiedSignatures(capacity: max(32, configuration.verifiedSignatureCacheEntries))
        }
        budget.queueLimit = configuration.argon2QueueLimit
    }

    /// Where a client looks for the store when none is given: `explicit`, else `$MIKATA_STORE`, else `./mikata-data`.
    public static func defaultStorePath(explicit: String? = nil) -> String { Store.defaultPath(explicit: explicit) }

    /// Opens an existing store. O(1) in the number of vaults.
    /// - Parameters:
    ///   - path: the store directory.
    ///   - rootKey: where its root key is (never inside the store).
    /// - Throws: `MikataError` `.notFound` (no store, no root key), `.authenticationFailed` (another store's root
    ///   key), `.unsupported` (a store made before root keys: `initialize` it once), `.corrupted`, `.tampered`.
    public static func open(storePath path: String, rootKey: RootKeyLocation = .environment,
                            configuration: VaultServiceConfiguration = VaultServiceConfiguration()) async throws -> VaultService {
        let pool = BlockingPool(threads: configuration.threads)
        do {
            let source = rootKey.source
            let store = try await pool.run { try Store.open(at: path, rootKey: source) }
            return VaultService(store: store, pool: pool, configuration: configuration)
        } catch {
            try? await pool.shutdown()
            throw error
        }
    }

    /// Creates a store (or opens it: idempotent; a store made before root keys is upgraded once) and its root key
    /// where `rootKey` says, when none exists (docs/OPERATIONS.md, "Creating a store").
    /// - Parameters:
    ///   - jurisdiction: what a new store declares, an assigned ISO 3166-1 alpha-2 code (any case; nil: `JP`).
    ///     Given for an existing store, it must be the one that store declares: a jurisdiction is never rewritten.
    /// - Throws: `MikataError` `.io` (a folder or key cannot be written), `.tampered`, `.invalidInput` (not an
    ///   assigned ISO 3166-1 alpha-2 code), `.notPermitted` (an existing store of another jurisdiction), and what
    ///   `open` throws.
    public static func initialize(storePath path: String, rootKey: RootKeyLocation = .environment,
                                  configuration: VaultServiceConfiguration = VaultServiceConfiguration(),
                                  jurisdiction: String? = nil)
        async throws -> (service: VaultService, initialization: StoreInitialization) {
        let pool = BlockingPool(threads: configuration.threads)
        do {
            let source = rootKey.source
            let (store, created) = try await pool.run { () -> (Store, Bool) in
                let (s, c) = try Store.initialize(at: path, rootKey: source, jurisdiction: jurisdiction)
                _ = try s.signingKey()  // made with the store's first log entry; checked here
                return (s, c)
            }
            let service = VaultService(store: store, pool: pool, configuration: configuration)
            return (service, StoreInitialization(created: created, upgraded: store.upgradedFromLegacy))
        } catch {
            try? await pool.shutdown()
            throw error
        }
    }

    /// Stops the thread pool after the work in flight; later calls throw `.closed`.
    public func shutdown() async {
        try? await pool.shutdown()
        try? await passwordPool.shutdown()
    }

    /// The store directory.
    public var storePath: String { store.root }
    /// The store's id (32 hexadecimal digits; not secret).
    public var storeId: String { store.storeId }
    /// Where the root key was found (an operator path or descriptor number).
    public var rootKeyLocation: String { store.rootKeyLocation }

    // MARK: running work

    /// Makes now what the first request would otherwise make on first use: the decoy vault that an unknown
    /// e-mail's credential check opens in place of a patient's (docs/SECURITY.md, "Failed unlocks and unknown
    /// e-mails"), so that no answer's time includes its making (about a millisecond). A long-running service calls
    /// it once after opening the store; without it, the first unknown e-mail makes it (a CLI process, whose caller
    /// holds the store's root key and needs no timing to learn which addresses have vaults).
    /// - Throws: `MikataError` `.io` when it cannot be made.
    public func prepareForRequests() async throws {
        try await blocking { store in try store.prepareDecoy() }
    }

    /// Runs blocking work on the pool.
    func blocking<R: Sendable>(_ body: @escaping @Sendable (Store) throws -> R) async throws -> R {
        let store = self.store
        return try await pool.run { try body(store) }
    }

    /// Runs blocking work on the pool inside the vault's lane.
    func inVault<R: Sendable>(_ id: VaultID, _ body: @escaping @Sendable (Store) throws -> R) async throws -> R {
        try await lanes.run(id.hex) {
            do { return try await blocking(body) } catch {
                // A failed operation's handle is not reused, unless the failure was the caller's (refused, wrong
                // credential, bad input): a revoked supporter retrying would otherwise evict the patient's handle and
                // its frame index at every request.
                if !Self.isCallersFailure(error) { handles.drop(id.hex) }
                throw error
            }
        }
    }

    /// Whether `error` is the caller's (refused, wrong credential, bad input), after which the vault's kept handle
    /// stays: nothing about the vault went wrong.
    static func isCallersFailure(_ error: any Error) -> Bool {
        [.notPermitted, .authenticationFailed, .invalidInput].contains(MikataError.from(error).code)
    }

    /// The lane of the vault `email` leads to; for an address that leads nowhere, a lane of that address's own
    /// (`Store.addressLaneKey`), so requests for unknown addresses never queue together: one shared lane would make
    /// a known address answer faster than an unknown one whenever someone keeps unknown ones in flight (an e-mail
    /// oracle for anyone who can send them, e.g. a service key). "" only for a malformed address, which the operation
    /// refuses as invalid input.
    func laneKey(email: String) async throws -> String {
        try await blocking { store in (try? store.vaultId(email: email))?.hex ?? (try? store.addressLaneKey(email: email)) ?? "" }
    }

    /// Runs work that computes one Argon2id at the store's cost: admitted into the memory budget first (suspending,
    /// in a bounded queue), then run on the pool.
    /// - Throws: `MikataError(.busy)` when the queue is full.
    func withPasswordHash<R: Sendable>(_ body: @escaping @Sendable (Store) throws -> R) async throws -> R {
        let admission: Argon2Budget.Admission
        do { admission = try await budget.admit(store.kdf.memLimit) } catch { throw MikataError.from(error) }
        defer { budget.release(admission) }
        let store = self.store
        return try await passwordPool.run { try Argon2Budget.withAdmission(admission) { try body(store) } }
    }

    /// Access-log group commits since the store was opened (for metrics): batches written and the appends they
    /// carried (each one fdatasync); zero before the first entry.
    public var accessLogGroupCommits: (batches: UInt64, appends: UInt64) {
        (try? store.auditLog().groupCommitStatistics) ?? (0, 0)
    }

    /// The jurisdiction the store declares (ISO 3166-1 alpha-2, e.g. `JP`; `JP` for stores that predate the
    /// setting): read from `mikata-store.json`, written into certificates and backups (docs/OPERATIONS.md, "Jurisdiction").
    public var jurisdiction: String { store.jurisdiction }

    /// Argon2id requests waiting for memory now (for metrics).
    public var passwordChecksWaiting: Int { budget.waiting }
}

/// An Argon2id memory budget (tests make small ones; services share the process's).
@_spi(Testing) public struct Argon2BudgetHandle: Sendable {
    let budget: Argon2Budget
    /// The process-wide budget (1 GiB, or `MIKATA_ARGON2_BUDGET_MIB`).
    public static let shared = Argon2BudgetHandle(budget: .shared)
    /// A budget of its own of `bytes`.
    public init(bytes: UInt64) { budget = Argon2Budget(bytes: bytes) }
    init(budget: Argon2Budget) { self.budget = budget }
    /// The most memory ever granted at once.
    public var peak: UInt64 { budget.peak }
    /// The budget in bytes.
    public var capacity: UInt64 { budget.capacity }
}
