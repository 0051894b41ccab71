//! The catalogue of historic bugs of this lock family (DESIGN §6), compiled only with the `mutants`
//! feature. Each one is re-introduced at the exact place it lived, and only for a
//! [`crate::LockManager`] whose [`crate::Policy::mutant`] selects it — never a global.

/// One historic bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mutant {
    /// The nonce is rotated before the release loop instead of after it.
    RotateBeforeCleanup,
    /// `release_all` walks the live registry with yields in between and deletes by key.
    ReleaseAllLiveIteration,
    /// `release_all` removes entries while walking the registry by position.
    ReleaseAllIndexSkip,
    /// Stale reclaim: read, judge stale, delete by path — no serialisation, no re-read.
    NaiveReclaim,
    /// Stale reclaim by renaming a temp file over the lock.
    RenameTakeover,
    /// Release deletes the lock file by path without checking ownership.
    UncheckedRelease,
    /// A guard's release acts on whatever registry entry has its key now.
    ReleaseByKey,
    /// Release drops the registry entry before removing the file.
    RegistryBeforeUnlink,
    /// The file is created empty and written after; an empty file is judged stale at once.
    EmptyWindow,
    /// `EPERM` from the liveness probe counts as dead.
    EpermIsDead,
    /// The nonce is not consulted.
    IgnoreNonce,
    /// A nonce mismatch is treated as stale for any pid.
    NonceAnyPid,
    /// The first release frees a reentrant lock.
    NoReentryCount,
    /// A file without a host is judged by our pid rules as if its writer shared our namespace.
    HostlessTrusted,
    /// A lease is judged by `createdAt` instead of the mtime its holder refreshes.
    LeaseByCreatedAt,
    /// The heartbeat refreshes whatever file sits at the lock path, without checking it is ours.
    RefreshByPath,
    /// Stale reclaim renames the lock aside, checks it, and links it back when it was not the
    /// stale file (the way a popular Python lock breaks stale locks; DESIGN §4's 8-step race).
    RenameAsideReclaim,
    /// A waiter arms its watch after its last look and blocks for its whole timeout without
    /// looking again: a release (or the owner's death) in between is slept through.
    LostWakeup,
    /// A waiter of this instance that finds the lock free publishes whatever its place in the
    /// path's queue: a newcomer (the releasing thread asking again) overtakes older waiters.
    Barging,
    /// A waiter that gives up (times out) just as a release hands it the lock forgets the
    /// hold it was granted: nobody owns it, nobody releases it.
    HandoverLostOnTimeout,
}

impl Mutant {
    /// Every catalogue entry, in DESIGN §6 order.
    pub const ALL: [Mutant; 20] = [
        Mutant::RotateBeforeCleanup,
        Mutant::ReleaseAllLiveIteration,
        Mutant::ReleaseAllIndexSkip,
        Mutant::NaiveReclaim,
        Mutant::RenameTakeover,
        Mutant::UncheckedRelease,
        Mutant::ReleaseByKey,
        Mutant::RegistryBeforeUnlink,
        Mutant::EmptyWindow,
        Mutant::EpermIsDead,
        Mutant::IgnoreNonce,
        Mutant::NonceAnyPid,
        Mutant::NoReentryCount,
        Mutant::HostlessTrusted,
        Mutant::LeaseByCreatedAt,
        Mutant::RefreshByPath,
        Mutant::RenameAsideReclaim,
        Mutant::LostWakeup,
        Mutant::Barging,
        Mutant::HandoverLostOnTimeout,
    ];

    /// The catalogue id, e.g. `rotate-before-cleanup`.
    pub fn id(self) -> &'static str {
        self.info().0
    }

    /// One line: the bug and its bad outcome.
    pub fn description(self) -> &'static str {
        self.info().1
    }

    /// The property (P1…P16) whose violation shows the bug.
    pub fn property(self) -> &'static str {
        self.info().2
    }

    /// Looks a mutant up by its catalogue id.
    pub fn from_id(id: &str) -> Option<Mutant> {
        Mutant::ALL.into_iter().find(|m| m.id() == id)
    }

    fn info(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Mutant::RotateBeforeCleanup => ("rotate-before-cleanup", "nonce rotated before the release loop: a live lock is reclaimed by nonce mismatch, two owners", "P3"),
            Mutant::ReleaseAllLiveIteration => ("release-all-live-iteration", "release_all walks the live registry with yields and deletes by key: a late acquisition is yanked", "P4"),
            Mutant::ReleaseAllIndexSkip => ("release-all-index-skip", "release_all removes entries while walking by position: every other lock is left behind", "P4"),
            Mutant::NaiveReclaim => ("naive-reclaim", "reclaim reads, judges stale and deletes by path: a second reclaimer deletes the first one's fresh lock", "P1"),
            Mutant::RenameTakeover => ("rename-takeover", "reclaim renames a temp file over the lock: the rename replaces silently, two owners", "P1"),
            Mutant::UncheckedRelease => ("unchecked-release", "release deletes by path without an ownership check: deletes the next owner's file", "P2"),
            Mutant::ReleaseByKey => ("release-by-key", "a stale guard's release acts on whatever entry has the key now: decrements or deletes a newer hold", "P5"),
            Mutant::RegistryBeforeUnlink => ("registry-before-unlink", "registry entry dropped before the file is removed: the old release deletes a new owner's file", "P2"),
            Mutant::EmptyWindow => ("empty-window", "file created empty and written after, empty judged stale at once: a live lock reclaimed in its first moments", "P10"),
            Mutant::EpermIsDead => ("eperm-is-dead", "EPERM from the probe counted as dead: another user's live lock reclaimed", "P2"),
            Mutant::IgnoreNonce => ("ignore-nonce", "nonce not consulted: after a restart the lock blocks for stale_after", "P6"),
            Mutant::NonceAnyPid => ("nonce-any-pid", "nonce mismatch treated as stale for any pid: another live process's lock reclaimed", "P8"),
            Mutant::NoReentryCount => ("no-reentry-count", "first release frees a reentrant lock: file gone while still held", "P9"),
            Mutant::HostlessTrusted => ("hostless-trusted", "a host-less file is judged by our pid rules: a live peer in a sibling pid namespace is reclaimed, two owners", "P14"),
            Mutant::LeaseByCreatedAt => ("lease-by-created-at", "a lease judged by createdAt instead of the refreshed mtime: a live, refreshing holder is reclaimed", "P13"),
            Mutant::RenameAsideReclaim => ("rename-aside-reclaim", "reclaim renames the lock aside, verifies it, links it back if it was not the stale one: a second reclaimer moves the first one's fresh lock aside, two owners", "P1"),
            Mutant::LostWakeup => ("lost-wakeup", "a waiter arms its watch after its last look and sleeps its whole timeout without looking again: a release in between is slept through, the free lock waits", "P11"),
            Mutant::Barging => ("barging", "a waiter that finds the lock free publishes whatever its place in the queue: the releasing thread asking again overtakes the waiters, who can starve", "P11"),
            Mutant::HandoverLostOnTimeout => ("handover-lost-on-timeout", "a waiter that times out as a release hands it the lock forgets the granted hold: the lock file stays, owned by nobody, and every later acquire waits", "P9"),
            Mutant::RefreshByPath => ("refresh-by-path", "the heartbeat touches whatever file is at the path: a holder whose lock was taken never learns it, and keeps the new owner's lease alive", "P15"),
        }
    }
}

impl std::fmt::Display for Mutant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}
