import Synchronization

#if DEBUG
/// Named gaps between a check and what follows it, where a test plays the disk writer who races the check
/// (docs/RELIABILITY.md, "Test-only machinery"). A test opens a window on one store folder with an action; the code
/// at that point runs the action once, synchronously, and goes on. Keyed by the store's folder, so tests running
/// in parallel on other stores are untouched. Debug builds only: in a release build `reach` compiles to nothing.
package enum RaceWindow {
    /// `Backup.create`, after the store was checked (`verifyAccessLog`) and before the files it carries are read.
    package static let backupAfterCheck = "backup:after-check"
    /// `Backup.create`, once a vault's copy passed its anchor check (under the vault's shared lock).
    package static let backupVaultChecked = "backup:vault-checked"
    /// `Store.overwriteAndRemove`, between opening the file and taking its lock (keyed by the file's folder): where a
    /// writer holding the lock renames a new file over the name.
    package static let overwriteBeforeLock = "overwrite:before-lock"

    private static let actions = Mutex<[String: @Sendable () throws -> Void]>([:])

    /// Arms `window` on the store at `root` (and, for a window reached once per vault, on the vault `subject`, in
    /// hex): the next time the code reaches it there, `action` runs (once).
    package static func open(_ window: String, root: String, subject: String = "", action: @escaping @Sendable () throws -> Void) {
        actions.withLock { $0["\(window)\u{0}\(root)\u{0}\(subject)"] = action }
    }

    /// Called by the code at `window` for the store at `root` (and `subject`); the action's errors are the test's.
    static func reach(_ window: String, root: String, subject: String = "") throws {
        let action = actions.withLock { $0.removeValue(forKey: "\(window)\u{0}\(root)\u{0}\(subject)") }
        try action?()
    }
}
#else
enum RaceWindow {
    static let backupAfterCheck = "backup:after-check"
    static let backupVaultChecked = "backup:vault-checked"
    static let overwriteBeforeLock = "overwrite:before-lock"
    @inline(__always) static func reach(_ window: String, root: String, subject: String = "") throws {}
}
#endif
