//! The lock manager: one per process instance, holding the registry of held locks with reentrant
//! counts, publishing and reclaiming lock files, and releasing everything before rotating its nonce.
//!
//! **Ordering that the suite proves:** `release_all` removes every lock it set out to remove and only
//! then rotates the nonce (P3); until then, acquisitions inside this instance wait at the gate.
//! **The registry lock is never held across a file system call:** an acquisition claims its path
//! (an in-progress mark, at most one per path), publishes or reclaims without the lock, and
//! registers its hold in the same step that drops the mark; a release marks its path while it
//! removes the file. `release_all` closes the gate, waits until no mark is left, and only then
//! takes its snapshot: an acquisition racing it is in the snapshot or waits at the gate.
//! Acquisitions of different sessions in one process run in parallel.
//! **Reentrancy is per instance, not per thread:** with the default options a second thread of
//! the same process that acquires a held session re-enters it and does *not* wait — the lock
//! serialises processes, as the historic lock did. Threads that must exclude each other pass
//! `AcquireOptions { reentrant: false, .. }`. **Waiting is first come, first served inside an
//! instance** (a ticket queue per lock path: only the oldest waiter publishes, or is handed the
//! lock by the release with the file left in place, `handover.rs`) **and event-driven
//! across processes:** a waiter whose lock another process holds is woken when the file goes
//! (inotify) or its owner in our pid namespace dies (pidfd), with a bounded re-check and a
//! backoff fallback (see `wait.rs`). Across processes fairness is best effort: the fastest
//! waiter wins, and a releasing process may take the lock straight back.
//! The registry is keyed by the lock path with its directory resolved (`realpath`), so two
//! spellings of one session (a symlinked directory, `..`) are one lock: re-entry, one release.
//! **Caveat:** a directory reached through two bind mounts has two real paths; such spellings
//! are told apart by the file's token and wait for each other (never reclaimed), like two processes.

use crate::classify::{mutant, Policy, StaleReason};
use crate::env::{Clock, Env, FileId, FileMeta, Fs, ProcessIdentity, Procs};
use crate::error::{FsOp, LockError, Owner};
use crate::payload::{Malformed, Payload};
use crate::sync::{self, Arc, Mutex, MutexGuard};
use crate::wait::{Waiter, BACKOFF_START};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The lock file for a session file: `<session file>.lock`.
pub fn lock_path_for(session_file: &Path) -> Result<PathBuf, LockError> {
    match session_file.file_name() {
        Some(name) if !name.is_empty() => {
            let mut lock_name = OsString::from(name);
            lock_name.push(".lock");
            Ok(session_file.with_file_name(lock_name))
        }
        _ => Err(LockError::InvalidPath {
            path: session_file.to_path_buf(),
        }),
    }
}

/// The directory holding a lock file (`.` for a bare file name).
pub(crate) fn dir_of(lock_path: &Path) -> PathBuf {
    match lock_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Name of the private temp file a publisher writes before linking it to the lock path.
/// The sweep recognises (and, once stale, removes) these by the `.lktmp` suffix.
pub(crate) fn temp_path_for(lock_path: &Path, pid: u32, token: &str) -> PathBuf {
    let name = lock_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    lock_path.with_file_name(format!(".{name}.{pid}-{token}.lktmp"))
}

/// Options for one acquisition.
#[derive(Clone, Copy, Debug)]
pub struct AcquireOptions {
    /// A second acquire of a path this instance holds re-enters it (default) instead of waiting.
    pub reentrant: bool,
    /// How long [`LockManager::acquire_with`] waits; `None` uses [`Policy::acquire_timeout`].
    pub timeout: Option<Duration>,
}

impl Default for AcquireOptions {
    fn default() -> Self {
        AcquireOptions {
            reentrant: true,
            timeout: None,
        }
    }
}

/// How a guard came to hold its lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acquired {
    /// Published a new lock file.
    Fresh,
    /// Re-entered a lock this instance already held.
    Reentered,
    /// Handed over by another thread of this instance as it released: the lock file (and its
    /// payload) stayed in place (see `handover.rs`).
    HandedOver,
    /// Removed a stale file first, for this reason.
    Reclaimed(StaleReason),
}

/// How tools and logs name it: `fresh`, `reentered`, `handed-over`, `reclaimed:<reason>`.
impl std::fmt::Display for Acquired {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Acquired::Fresh => f.write_str("fresh"),
            Acquired::Reentered => f.write_str("reentered"),
            Acquired::HandedOver => f.write_str("handed-over"),
            Acquired::Reclaimed(r) => write!(f, "reclaimed:{}", r.as_str()),
        }
    }
}

/// What a release did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Released {
    /// A reentrant hold ended; the lock stays held with this many holds.
    Decremented(u32),
    /// The last hold ended and the lock file was removed.
    Removed,
    /// The last hold ended and went straight to the oldest waiter of this instance; the lock
    /// file stayed in place (see `handover.rs`).
    HandedOver,
    /// The last hold ended, but the file was no longer ours (reclaimed by someone); left alone.
    NotOurs,
    /// The guard had been revoked by `release_all`: nothing was touched.
    Inert,
}

/// What `release_all` did.
#[derive(Debug)]
pub struct ReleaseReport {
    /// Lock files removed.
    pub released: Vec<PathBuf>,
    /// Holds whose file was gone or no longer ours (left alone).
    pub not_ours: Vec<PathBuf>,
    /// Holds whose file could not be removed; they are out of the registry, and the file carries
    /// the old nonce, so this process reclaims it at once later.
    pub failed: Vec<(PathBuf, LockError)>,
    /// The nonce before the rotation.
    pub old_nonce: String,
    /// The nonce after it.
    pub new_nonce: String,
}

/// One held lock in the registry.
#[derive(Clone, Debug)]
pub(crate) struct Hold {
    pub(crate) id: u64,
    pub(crate) count: u32,
    pub(crate) bytes: Vec<u8>,
    pub(crate) payload: Payload,
    /// A refresh found the file gone or replaced: not ours any more, and never touched again.
    pub(crate) compromised: bool,
    /// `release_all` is removing its file: no longer held (`is_held()` is false), but still
    /// this instance's until the file is gone (a contender judges it held here).
    pub(crate) removing: bool,
    /// When (monotonic) its file was published; handovers keep it (`handover.rs`).
    pub(crate) published: Duration,
}

pub(crate) struct State {
    pub(crate) epoch: u64,
    pub(crate) nonce: String,
    /// The epoch a `release_all` is closing; acquisitions wait while it equals `epoch`.
    pub(crate) closing: Option<u64>,
    /// Live holds of this instance, by lock path.
    pub(crate) holds: BTreeMap<PathBuf, Hold>,
    /// Holds a `release_all` has taken and not yet removed, by hold id.
    pub(crate) releasing: BTreeMap<u64, (PathBuf, Hold)>,
    /// File I/O of this instance on a lock path, running outside the registry lock: at most one
    /// per path. `release_all` waits until none is left before it takes its snapshot.
    pub(crate) in_progress: BTreeMap<PathBuf, InProgress>,
    next_hold_id: u64,
    /// Threads blocked on the registry, each on its own condition variable (a notification
    /// wakes only those it concerns), and how their waits ended (`waits.blocked_now` unused).
    pub(crate) sleepers: Vec<crate::wait::Sleeper>,
    pub(crate) next_sleeper: u64,
    pub(crate) waits: crate::wait::InstanceWaits,
    /// Bumped by every notify: a waiter that found the lock busy at generation g blocks only
    /// while it is still g, so a release between its look and its wait is never slept through.
    pub(crate) generation: u64,
    /// Lease refreshes: by this manager's own thread (real clock), or promised by the caller.
    pub(crate) heartbeat: crate::lease::Heartbeat,
    /// Told the lock path of every hold a refresh finds compromised.
    pub(crate) on_compromised: Option<crate::lease::OnCompromised>,
    /// Waiting acquisitions of this instance per lock path, in arrival order (tickets): only the
    /// oldest may publish, so a releasing thread cannot take the lock straight back (no barging).
    pub(crate) queues: BTreeMap<PathBuf, std::collections::VecDeque<u64>>,
    pub(crate) next_ticket: u64,
    /// Paths whose last release here found another process waiting for the file, with when
    /// (monotonic): this instance's next acquire of one lets that waiter in first (`wait.rs`).
    pub(crate) wanted: BTreeMap<PathBuf, Duration>,
    /// Holds a release handed to the front waiter of their path, not yet taken (`handover.rs`).
    pub(crate) grants: BTreeMap<PathBuf, crate::handover::Grant>,
}

/// File I/O of this instance in progress on one lock path (see [`State::in_progress`]).
#[derive(Debug)]
pub(crate) enum InProgress {
    /// An acquisition publishing (or reclaiming for) a file with this token.
    Acquiring { token: String },
    /// A guard's release removing its file.
    Releasing(Hold),
}

impl State {
    /// An empty registry of an instance with this nonce, at epoch 0.
    pub(crate) fn new(nonce: String, heartbeat: crate::lease::Heartbeat) -> Self {
        State {
            epoch: 0,
            nonce,
            closing: None,
            holds: BTreeMap::new(),
            releasing: BTreeMap::new(),
            in_progress: BTreeMap::new(),
            next_hold_id: 1,
            sleepers: Vec::new(),
            next_sleeper: 1,
            waits: crate::wait::InstanceWaits::default(),
            generation: 0,
            heartbeat,
            on_compromised: None,
            queues: BTreeMap::new(),
            next_ticket: 1,
            wanted: BTreeMap::new(),
            grants: BTreeMap::new(),
        }
    }

    /// Notes that a release of `lock_path` at `now` found another process waiting; forgets
    /// notes too old to matter, so the map stays as small as the set of contended paths.
    pub(crate) fn note_wanted(&mut self, lock_path: &Path, now: Duration) {
        let window = crate::wait::HANDOFF_WINDOW;
        self.wanted
            .retain(|_, at| now.saturating_sub(*at) <= window);
        self.wanted.insert(lock_path.to_path_buf(), now);
    }

    /// This instance holds, is taking or is releasing this path or a file carrying this token.
    /// An acquisition in progress counts by its token only, so that its own judge of a
    /// leftover at its path does not count its claim.
    pub(crate) fn is_ours(&self, lock_path: &Path, token: Option<&str>) -> bool {
        let token_matches = |h: &Hold| token.is_some() && h.payload.token.as_deref() == token;
        self.holds.contains_key(lock_path)
            || self.holds.values().any(token_matches)
            || self
                .releasing
                .values()
                .any(|(p, h)| p == lock_path || token_matches(h))
            || self.in_progress.iter().any(|(p, io)| match io {
                InProgress::Releasing(h) => p == lock_path || token_matches(h),
                InProgress::Acquiring { token: t } => token == Some(t.as_str()),
            })
    }

    /// The publish temp files of the acquisitions in progress (the sweep leaves them alone).
    pub(crate) fn temps_in_progress(&self, pid: u32) -> Vec<PathBuf> {
        self.in_progress
            .iter()
            .filter_map(|(p, io)| match io {
                InProgress::Acquiring { token } => Some(temp_path_for(p, pid, token)),
                InProgress::Releasing(_) => None,
            })
            .collect()
    }
}

pub(crate) struct Inner<E: Env> {
    pub(crate) env: E,
    pub(crate) policy: Policy,
    pub(crate) identity: ProcessIdentity,
    /// This machine's boot time, read once (a proof of death across pid namespaces).
    pub(crate) boot_ms: Option<i64>,
    pub(crate) state: Mutex<State>,
    /// Stops the heartbeat thread when the last handle to this manager goes.
    #[cfg(not(any(feature = "loom", feature = "shuttle")))]
    pub(crate) heartbeat_stop: std::sync::Arc<crate::heartbeat::Stop>,
}

#[cfg(not(any(feature = "loom", feature = "shuttle")))]
impl<E: Env> Drop for Inner<E> {
    fn drop(&mut self) {
        self.heartbeat_stop.stop();
    }
}

/// The per-instance lock manager. Cheap to clone (shared state).
pub struct LockManager<E: Env> {
    pub(crate) inner: Arc<Inner<E>>,
}

impl<E: Env> Clone for LockManager<E> {
    fn clone(&self) -> Self {
        LockManager {
            inner: Arc::clone(&self.inner),
        }
    }
}

/// A held lock; releases on drop.
pub struct LockGuard<E: Env> {
    inner: Arc<Inner<E>>,
    lock_path: PathBuf,
    hold_id: u64,
    payload: Payload,
    how: Acquired,
    done: bool,
}

/// A file seen at a contended lock path.
pub(crate) struct Seen {
    pub(crate) meta: FileMeta,
    pub(crate) bytes: Vec<u8>,
    pub(crate) parsed: Result<Payload, Malformed>,
}

/// Why an attempt did not acquire.
pub(crate) enum Blocked {
    /// Someone holds (or is taking or releasing) the lock; wait and try again.
    Busy(Busy),
    /// A typed error to return.
    Fatal(LockError),
}

/// A busy lock: who has it, and what to wait for.
pub(crate) struct Busy {
    pub(crate) owner: Owner,
    pub(crate) wait: WaitOn,
    /// The registry generation of the busy verdict (in-instance waits block while it is current).
    pub(crate) generation: u64,
}

/// What a waiter for a busy lock waits for.
#[derive(Clone, Debug)]
pub(crate) enum WaitOn {
    /// Another thread of this instance: its notify. `in_progress`: a short wait for its file
    /// I/O on the path, which even `try_acquire` makes.
    Instance { in_progress: bool },
    /// Another process: the file `seen` going (a watch) and, in our pid namespace, the death
    /// of its owner `pid`.
    Process {
        seen: Option<FileId>,
        pid: Option<u32>,
    },
    /// The ticket of an older waiter of another process going (fair instances only).
    Queue { ahead: PathBuf },
}

impl Busy {
    pub(crate) fn here(generation: u64, in_progress: bool) -> Self {
        Busy {
            owner: Owner::ThisInstance,
            wait: WaitOn::Instance { in_progress },
            generation,
        }
    }

    pub(crate) fn queued(ahead: PathBuf) -> Self {
        Busy {
            owner: Owner::Queued,
            wait: WaitOn::Queue { ahead },
            generation: 0,
        }
    }

    pub(crate) fn process(owner: Owner, seen: Option<FileId>, pid: Option<u32>) -> Self {
        Busy {
            owner,
            wait: WaitOn::Process { seen, pid },
            generation: 0,
        }
    }
}

impl From<LockError> for Blocked {
    fn from(e: LockError) -> Self {
        Blocked::Fatal(e)
    }
}

pub(crate) fn not_found(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound
}

impl<E: Env> LockManager<E> {
    /// A manager for this process instance with a fresh nonce.
    pub fn new(env: E, policy: Policy) -> Self {
        let identity = env.procs().identity();
        let boot_ms = env.procs().boot_time_ms();
        let nonce = new_nonce(env.clock());
        let heartbeat = crate::lease::Heartbeat::for_clock(env.clock(), &policy);
        LockManager {
            inner: Arc::new(Inner {
                env,
                policy,
                identity,
                boot_ms,
                #[cfg(not(any(feature = "loom", feature = "shuttle")))]
                heartbeat_stop: Default::default(),
                state: Mutex::new(State::new(nonce, heartbeat)),
            }),
        }
    }

    /// The environment.
    pub fn env(&self) -> &E {
        &self.inner.env
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    /// This process, as written into lock files.
    pub fn identity(&self) -> &ProcessIdentity {
        &self.inner.identity
    }

    /// The current instance nonce.
    pub fn nonce(&self) -> String {
        sync::lock(&self.inner.state).nonce.clone()
    }

    /// The current instance epoch (incremented by every `release_all`).
    pub fn epoch(&self) -> u64 {
        sync::lock(&self.inner.state).epoch
    }

    /// The lock paths this instance holds, with their hold counts.
    pub fn held(&self) -> Vec<(PathBuf, u32)> {
        let st = sync::lock(&self.inner.state);
        st.holds.iter().map(|(p, h)| (p.clone(), h.count)).collect()
    }

    /// The lock path of `session_file` with its directory's symlinks resolved: the registry's
    /// key and the path every file operation uses (a link swapped later cannot redirect them).
    pub fn resolve(&self, session_file: &Path) -> Result<PathBuf, LockError> {
        let lock_path = lock_path_for(session_file)?;
        let dir = dir_of(&lock_path);
        let real = self
            .inner
            .env
            .fs()
            .canonical_dir(&dir)
            .map_err(|e| LockError::io(FsOp::Resolve, &dir, e))?;
        match lock_path.file_name() {
            Some(name) => Ok(real.join(name)),
            None => Err(LockError::InvalidPath {
                path: session_file.to_path_buf(),
            }),
        }
    }

    /// One attempt to lock `session_file` (reentrant), including any stale reclaim.
    pub fn try_acquire(&self, session_file: &Path) -> Result<LockGuard<E>, LockError> {
        self.try_acquire_with(session_file, AcquireOptions::default())
    }

    /// One attempt with options (the timeout is ignored). It does not wait for another holder,
    /// only (briefly) for another thread of this instance that is taking or releasing the path.
    pub fn try_acquire_with(
        &self,
        session_file: &Path,
        opts: AcquireOptions,
    ) -> Result<LockGuard<E>, LockError> {
        let lock_path = self.resolve(session_file)?;
        let mut waiter = Waiter::once(opts.reentrant);
        loop {
            match self.attempt(&lock_path, &mut waiter) {
                Ok(g) => return Ok(g),
                Err(Blocked::Fatal(e)) => return Err(e),
                Err(Blocked::Busy(Busy {
                    wait: WaitOn::Instance { in_progress: true },
                    generation,
                    ..
                })) => self.wait_for_progress(&lock_path, &waiter, generation),
                Err(Blocked::Busy(busy)) => {
                    return Err(LockError::Busy {
                        owner: busy.owner,
                        lock_path,
                        waited: Duration::ZERO,
                    })
                }
            }
        }
    }

    /// Locks `session_file`, waiting up to the policy's timeout. Reentrant: a thread of this
    /// instance that already holds it — or *any* thread of this instance — gets in at once (see
    /// the module doc; use [`LockManager::acquire_with`] with `reentrant: false` to exclude threads).
    pub fn acquire(&self, session_file: &Path) -> Result<LockGuard<E>, LockError> {
        self.acquire_with(session_file, AcquireOptions::default())
    }

    /// Locks `session_file`, waiting up to `opts.timeout`: woken by an in-instance release, or,
    /// while another process holds the file, by its removal or its owner's death (or a bounded
    /// re-check; backoff where the environment cannot watch). See `wait.rs`.
    pub fn acquire_with(
        &self,
        session_file: &Path,
        opts: AcquireOptions,
    ) -> Result<LockGuard<E>, LockError> {
        let lock_path = self.resolve(session_file)?;
        let clock = self.inner.env.clock();
        let timeout = opts.timeout.unwrap_or(self.inner.policy.acquire_timeout);
        let start = clock.now_mono();
        // Takes a place in the queue at the first busy verdict, in the step that saw it.
        let mut waiter = Waiter::queued(opts.reentrant);
        self.let_waiter_in(&lock_path);
        let result = loop {
            let busy = match self.attempt(&lock_path, &mut waiter) {
                Ok(g) => break Ok(g),
                Err(Blocked::Fatal(e)) => break Err(e),
                Err(Blocked::Busy(busy)) => busy,
            };
            let waited = clock.now_mono().saturating_sub(start);
            if waited >= timeout {
                break Err(LockError::Busy {
                    owner: busy.owner,
                    lock_path: lock_path.clone(),
                    waited,
                });
            }
            // A fair instance's front waiter blocked by another process takes its place in the
            // queue across processes, then looks again at once: older tickets may be ahead.
            let across = matches!(busy.wait, WaitOn::Process { .. } | WaitOn::Queue { .. });
            if self.inner.policy.fair && across && waiter.disk.is_none() {
                waiter.disk = self.join_queue(&lock_path);
                if waiter.disk.is_some() {
                    continue;
                }
            }
            self.wait_once(&lock_path, &busy, timeout - waited, &mut waiter);
        };
        self.leave_disk_queue(waiter.disk.take());
        match self.leave_queue(&lock_path, &waiter) {
            Some(granted) => self.settle_grant(&lock_path, granted, result),
            None => result,
        }
    }

    /// Releases every lock this instance holds, then rotates the nonce. Guards of the released
    /// locks become inert. Acquisitions in this instance wait until it returns.
    pub fn release_all(&self) -> ReleaseReport {
        let mut st = sync::lock(&self.inner.state);
        while st.closing.is_some() {
            // Another release_all is running: let it finish, so ours returns after a full release.
            st = self.wait_registry_change(st);
        }
        if mutant!(self.inner.policy, ReleaseAllLiveIteration) {
            return self.release_all_live_iteration(st);
        }
        let old_nonce = st.nonce.clone();
        st.closing = Some(st.epoch);
        // The gate is closed: no acquisition starts. Let those in progress register (or fail)
        // and the releases in progress finish, so the snapshot below misses no hold and no file
        // of this epoch is still being removed when the nonce rotates.
        while !st.in_progress.is_empty() {
            st = self.wait_registry_change(st);
        }
        if mutant!(self.inner.policy, RotateBeforeCleanup) {
            self.rotate(&mut st);
        }
        let mut report = ReleaseReport {
            released: Vec::new(),
            not_ours: Vec::new(),
            failed: Vec::new(),
            old_nonce,
            new_nonce: String::new(),
        };
        if mutant!(self.inner.policy, ReleaseAllIndexSkip) {
            drop(st);
            self.release_all_index_skip(&mut report);
        } else {
            // Snapshot: the holds this release_all sets out to remove, taken out of the live
            // registry in one step. Their guards are revoked as each file goes.
            let taken = std::mem::take(&mut st.holds);
            let mut ids = Vec::with_capacity(taken.len());
            for (path, hold) in taken {
                ids.push(hold.id);
                st.releasing.insert(hold.id, (path, hold));
            }
            drop(st);
            for id in ids {
                self.release_taken(&mut report, id);
                sync::model_yield();
            }
        }
        let mut st = sync::lock(&self.inner.state);
        if !mutant!(self.inner.policy, RotateBeforeCleanup) {
            self.rotate(&mut st);
        }
        st.closing = None;
        report.new_nonce = st.nonce.clone();
        self.notify(&mut st);
        report
    }

    /// Removes one hold of the snapshot: its guard stops holding, its file goes (without the
    /// registry lock), then its entry. Until then it counts as this instance's (a contender
    /// judges its file held here), but never as held once its file may be gone.
    fn release_taken(&self, report: &mut ReleaseReport, id: u64) {
        let taken = {
            let mut st = sync::lock(&self.inner.state);
            st.releasing.get_mut(&id).map(|(path, hold)| {
                hold.removing = true;
                (path.clone(), hold.clone())
            })
        };
        if let Some((path, hold)) = taken {
            self.record_release(report, path, &hold);
        }
        let mut st = sync::lock(&self.inner.state);
        st.releasing.remove(&id);
        self.notify(&mut st);
    }

    /// Mutant `release-all-index-skip`: removes entries while walking the registry by position.
    fn release_all_index_skip(&self, report: &mut ReleaseReport) {
        let mut i = 0;
        loop {
            let mut st = sync::lock(&self.inner.state);
            let Some(path) = st.holds.keys().nth(i).cloned() else {
                break;
            };
            let hold = st.holds.remove(&path);
            drop(st);
            if let Some(hold) = hold {
                self.record_release(report, path, &hold);
            }
            i += 1;
            sync::model_yield();
        }
    }

    fn record_release(&self, report: &mut ReleaseReport, path: PathBuf, hold: &Hold) {
        if hold.compromised {
            // Its file is someone else's now (P15): touch nothing.
            report.not_ours.push(path);
            return;
        }
        match self.delete_if_ours(&path, &hold.bytes) {
            Ok(Released::Removed) => report.released.push(path),
            Ok(_) => report.not_ours.push(path),
            Err(e) => report.failed.push((path, e)),
        }
    }

    /// The historic `release_all` (mutant `release-all-live-iteration`): walks the live registry,
    /// yielding between picking an entry and deleting it, by key and by path, with no gate.
    fn release_all_live_iteration(&self, st: MutexGuard<'_, State>) -> ReleaseReport {
        let mut report = ReleaseReport {
            released: Vec::new(),
            not_ours: Vec::new(),
            failed: Vec::new(),
            old_nonce: st.nonce.clone(),
            new_nonce: String::new(),
        };
        drop(st);
        let mut visited = std::collections::BTreeSet::new();
        loop {
            let st = sync::lock(&self.inner.state);
            let Some(path) = st.holds.keys().find(|k| !visited.contains(*k)).cloned() else {
                break;
            };
            visited.insert(path.clone());
            drop(st);
            sync::model_yield();
            // As historic as the walk: the entry goes with its file, in one registry step.
            let mut st = sync::lock(&self.inner.state);
            match self.inner.env.fs().remove(&path) {
                Ok(()) => report.released.push(path.clone()),
                Err(e) if not_found(&e) => report.not_ours.push(path.clone()),
                Err(e) => report
                    .failed
                    .push((path.clone(), LockError::io(FsOp::Remove, &path, e))),
            }
            st.holds.remove(&path);
            drop(st);
        }
        let mut st = sync::lock(&self.inner.state);
        self.rotate(&mut st);
        report.new_nonce = st.nonce.clone();
        self.notify(&mut st);
        report
    }

    fn rotate(&self, st: &mut State) {
        st.nonce = new_nonce(self.inner.env.clock());
        st.epoch += 1;
    }

    /// Waits (registry lock released) until the registry changes, for `release_all`'s loops.
    fn wait_registry_change<'a>(&'a self, st: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        let clock = self.inner.env.clock();
        if self.blocks_in_instance() {
            self.block_on_registry(st, self.inner.policy.instance_recheck, None)
        } else {
            drop(st);
            clock.sleep(BACKOFF_START);
            sync::lock(&self.inner.state)
        }
    }

    /// Wakes in-instance waiters (for the lease module).
    pub(crate) fn notify_changed(&self, st: &mut State) {
        self.notify(st);
    }

    pub(crate) fn register(
        &self,
        st: &mut State,
        lock_path: &Path,
        bytes: Vec<u8>,
        payload: Payload,
        how: Acquired,
    ) -> LockGuard<E> {
        let now = self.inner.env.clock().now_mono();
        let id = self.register_hold(st, lock_path, bytes, payload.clone(), now);
        self.guard(lock_path, id, payload, how)
    }

    /// A new hold of `lock_path` (count 1) for a file published at `published`; its id.
    pub(crate) fn register_hold(
        &self,
        st: &mut State,
        lock_path: &Path,
        bytes: Vec<u8>,
        payload: Payload,
        published: Duration,
    ) -> u64 {
        let id = st.next_hold_id;
        st.next_hold_id += 1;
        st.holds.insert(
            lock_path.to_path_buf(),
            Hold {
                id,
                count: 1,
                bytes,
                payload,
                compromised: false,
                removing: false,
                published,
            },
        );
        id
    }

    pub(crate) fn guard(
        &self,
        lock_path: &Path,
        hold_id: u64,
        payload: Payload,
        how: Acquired,
    ) -> LockGuard<E> {
        LockGuard {
            inner: Arc::clone(&self.inner),
            lock_path: lock_path.to_path_buf(),
            hold_id,
            payload,
            how,
            done: false,
        }
    }

    pub(crate) fn release_hold(
        &self,
        lock_path: &Path,
        hold_id: u64,
    ) -> Result<Released, LockError> {
        let policy = &self.inner.policy;
        let mut st = sync::lock(&self.inner.state);
        let by_key = mutant!(policy, ReleaseByKey);
        let Some(hold) = st
            .holds
            .get_mut(lock_path)
            .filter(|h| by_key || h.id == hold_id)
        else {
            // Revoked by release_all (or being released by it): nothing of ours to touch.
            return Ok(Released::Inert);
        };
        if hold.count > 1 && !mutant!(policy, NoReentryCount) {
            hold.count -= 1;
            return Ok(Released::Decremented(hold.count));
        }
        let Some(hold) = st.holds.remove(lock_path) else {
            return Ok(Released::Inert);
        };
        if hold.compromised {
            // A refresh found the file gone or replaced: it is someone else's (P15).
            self.notify_path(&mut st, lock_path);
            return Ok(Released::NotOurs);
        }
        if mutant!(policy, RegistryBeforeUnlink) {
            self.notify_path(&mut st, lock_path);
            drop(st);
            sync::model_yield();
            return match self.inner.env.fs().remove(lock_path) {
                Ok(()) => Ok(Released::Removed),
                Err(e) if not_found(&e) => Ok(Released::NotOurs),
                Err(e) => Err(LockError::io(FsOp::Remove, lock_path, e)),
            };
        }
        // The path stays this instance's while its file goes: an acquirer of ours waits for
        // the release, and a judge of the file (a sweep) counts it held here.
        let bytes = hold.bytes.clone();
        let front = self.handover_front(&st, lock_path, &hold);
        st.in_progress
            .insert(lock_path.to_path_buf(), InProgress::Releasing(hold));
        drop(st);
        if let Some(released) = front.and_then(|t| self.hand_over(lock_path, &bytes, t)) {
            return Ok(released);
        }
        let result = self.delete_if_ours_noting_waiters(lock_path, &bytes);
        let mut st = sync::lock(&self.inner.state);
        st.in_progress.remove(lock_path);
        if let Ok((Released::Removed, true)) = result {
            let now = self.inner.env.clock().now_mono();
            st.note_wanted(lock_path, now);
        }
        self.notify_path(&mut st, lock_path);
        result.map(|(released, _)| released)
    }

    fn hold_is_live(&self, lock_path: &Path, hold_id: u64) -> bool {
        let st = sync::lock(&self.inner.state);
        st.holds
            .get(lock_path)
            .is_some_and(|h| h.id == hold_id && !h.compromised)
            || st
                .releasing
                .get(&hold_id)
                .is_some_and(|(_, h)| !h.compromised && !h.removing)
    }
}

impl<E: Env> LockGuard<E> {
    /// The lock file this guard holds.
    pub fn lock_path(&self) -> &Path {
        &self.lock_path
    }

    /// The payload of the lock file.
    pub fn payload(&self) -> &Payload {
        &self.payload
    }

    /// How the lock was obtained.
    pub fn how(&self) -> Acquired {
        self.how
    }

    /// True while this guard's hold is in the registry (not yet released or revoked by
    /// `release_all`) and no lease refresh has found its file gone or replaced (P15). A hold
    /// that `release_all` has taken still counts until it starts removing its file.
    pub fn is_held(&self) -> bool {
        !self.done
            && LockManager {
                inner: Arc::clone(&self.inner),
            }
            .hold_is_live(&self.lock_path, self.hold_id)
    }

    /// Releases now, reporting what happened (dropping releases too, ignoring errors).
    pub fn release(mut self) -> Result<Released, LockError> {
        self.done = true;
        LockManager {
            inner: Arc::clone(&self.inner),
        }
        .release_hold(&self.lock_path, self.hold_id)
    }
}

impl<E: Env> Drop for LockGuard<E> {
    fn drop(&mut self) {
        if !self.done {
            self.done = true;
            let _ = LockManager {
                inner: Arc::clone(&self.inner),
            }
            .release_hold(&self.lock_path, self.hold_id);
        }
    }
}

impl<E: Env> std::fmt::Debug for LockGuard<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockGuard")
            .field("lock_path", &self.lock_path)
            .field("hold_id", &self.hold_id)
            .field("how", &self.how)
            .finish()
    }
}

impl<E: Env> std::fmt::Debug for LockManager<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockManager")
            .field("identity", &self.inner.identity)
            .field("waits", &self.wait_mechanism().as_str())
            .finish()
    }
}

/// A fresh nonce in UUID form, from the environment's randomness.
fn new_nonce(clock: &impl Clock) -> String {
    let hi = u128::from(clock.random_u64());
    let lo = u128::from(clock.random_u64());
    uuid::Builder::from_random_bytes(((hi << 64) | lo).to_be_bytes())
        .into_uuid()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::{new_nonce, temp_path_for, Hold, InProgress, State};
    use crate::env::FixedRandom as Fixed;
    use crate::lease::Heartbeat;
    use crate::wait::HANDOFF_WINDOW;
    use crate::Payload;
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    fn hold(id: u64, token: Option<&str>) -> Hold {
        let payload = Payload {
            pid: 10,
            nonce: Some("n".into()),
            created_at_ms: 0,
            starttime: None,
            host: None,
            token: token.map(str::to_string),
            lease: None,
        };
        Hold {
            id,
            count: 1,
            bytes: payload.to_bytes(),
            payload,
            compromised: false,
            removing: false,
            published: Duration::ZERO,
        }
    }

    fn state() -> State {
        State::new("n".into(), Heartbeat::Off)
    }

    const HERE: &str = "/d/a.lock";
    const ELSEWHERE: &str = "/d/b.lock";

    /// Whether a file at `HERE` carrying `token` is judged this instance's, in a state that has
    /// exactly one entry, made by `put`.
    fn ours_with(put: impl FnOnce(&mut State), token: Option<&str>) -> bool {
        let mut st = state();
        put(&mut st);
        st.is_ours(Path::new(HERE), token)
    }

    // P2 (a contender never reclaims a file this instance holds or is releasing; our own
    // leftover is reclaimed at once, P6): every kind of entry counts by its path, and by its
    // token on any path — except an acquisition in progress, which counts by token only.
    #[test]
    fn is_ours_counts_each_kind_of_entry_by_path_and_token() {
        let held_at = |path: &'static str, token| {
            move |st: &mut State| {
                st.holds.insert(PathBuf::from(path), hold(1, token));
            }
        };
        let released_at = |path: &'static str, token| {
            move |st: &mut State| {
                st.releasing
                    .insert(1, (PathBuf::from(path), hold(1, token)));
            }
        };
        let removing_at = |path: &'static str, token| {
            move |st: &mut State| {
                let io = InProgress::Releasing(hold(1, token));
                st.in_progress.insert(PathBuf::from(path), io);
            }
        };
        let acquiring_at = |path: &'static str| {
            move |st: &mut State| {
                let io = InProgress::Acquiring { token: "t".into() };
                st.in_progress.insert(PathBuf::from(path), io);
            }
        };
        // Nothing in the registry: a file of ours is a leftover.
        assert!(!ours_with(|_| {}, Some("t")));
        // By path, whatever the file carries (a hold's file has no other token).
        assert!(ours_with(held_at(HERE, Some("t")), None));
        assert!(ours_with(released_at(HERE, Some("t")), None));
        assert!(ours_with(removing_at(HERE, Some("t")), None));
        // By token, on another path (two spellings of one file).
        assert!(ours_with(held_at(ELSEWHERE, Some("t")), Some("t")));
        assert!(ours_with(released_at(ELSEWHERE, Some("t")), Some("t")));
        assert!(ours_with(removing_at(ELSEWHERE, Some("t")), Some("t")));
        assert!(ours_with(acquiring_at(ELSEWHERE), Some("t")));
        // Not ours: another path and another token, or no token to match.
        assert!(!ours_with(held_at(ELSEWHERE, Some("t")), Some("u")));
        assert!(!ours_with(released_at(ELSEWHERE, Some("t")), Some("u")));
        assert!(!ours_with(removing_at(ELSEWHERE, Some("t")), Some("u")));
        assert!(!ours_with(released_at(ELSEWHERE, None), None));
        assert!(!ours_with(removing_at(ELSEWHERE, None), None));
        // An acquisition judging the leftover at its own path does not count its own claim.
        assert!(!ours_with(acquiring_at(HERE), Some("u")));
        assert!(!ours_with(acquiring_at(HERE), None));
    }

    // P11 (no temp file of a live acquisition is swept): the sweep is told exactly the temp
    // files of this instance's acquisitions in progress, and nothing for its releases.
    #[test]
    fn temps_in_progress_names_the_publishing_acquisitions_only() {
        let mut st = state();
        assert!(st.temps_in_progress(10).is_empty());
        let io = InProgress::Acquiring { token: "t".into() };
        st.in_progress.insert(PathBuf::from(HERE), io);
        let io = InProgress::Releasing(hold(2, Some("u")));
        st.in_progress.insert(PathBuf::from(ELSEWHERE), io);
        assert_eq!(
            st.temps_in_progress(10),
            vec![temp_path_for(Path::new(HERE), 10, "t")]
        );
    }

    // P11 (a waiter of another process is let in; the note stays as small as the set of
    // recently contended paths): a note is kept for the handoff window and forgotten after it.
    #[test]
    fn note_wanted_keeps_notes_for_the_handoff_window_only() {
        let mut st = state();
        let at = Duration::from_secs(100);
        st.note_wanted(Path::new(HERE), at);
        st.note_wanted(Path::new(ELSEWHERE), at + HANDOFF_WINDOW);
        assert_eq!(st.wanted.len(), 2, "both notes are within the window");
        assert_eq!(st.wanted.get(Path::new(HERE)), Some(&at));
        let later = at + HANDOFF_WINDOW * 2 + Duration::from_millis(1);
        st.note_wanted(Path::new("/d/c.lock"), later);
        assert_eq!(
            st.wanted.keys().collect::<Vec<_>>(),
            vec![Path::new("/d/c.lock")],
            "notes older than the window are forgotten"
        );
    }

    // P8 (a nonce is unguessable: two instances of one pid never share one): the nonce carries
    // both 64-bit random words, one in each half, as a version-4 UUID.
    #[test]
    fn a_nonce_is_both_random_words_as_a_uuid() {
        let clock = Fixed(0x1111_1111_1111_1111);
        assert_eq!(new_nonce(&clock), "11111111-1111-4111-9111-111111111111");
    }
}
