//! The lock manager: one per process instance, holding the registry of held locks with reentrant
//! counts, publishing and reclaiming lock files, and releasing everything before rotating its nonce.
//!
//! **Ordering that the suite proves:** `release_all` removes every lock it set out to remove and only
//! then rotates the nonce (P3); until then, acquisitions inside this instance wait at the gate.
//! **Reentrancy is per instance, not per thread:** with the default options a second thread of
//! the same process that acquires a held session re-enters it and does *not* wait — the lock
//! serialises processes, as the historic lock did. Threads that must exclude each other pass
//! `AcquireOptions { reentrant: false, .. }`. **Waiting is first come, first served inside an
//! instance** (a ticket queue per lock path: only the oldest waiter publishes) **and not fair
//! across processes:** a waiter whose lock another process holds retries with backoff, so a
//! releasing process may take the lock straight back.
//! The registry is keyed by the lock path with its directory resolved (`realpath`), so two
//! spellings of one session (a symlinked directory, `..`) are one lock: re-entry, one release.
//! **Caveat:** a directory reached through two bind mounts has two real paths; such spellings
//! are told apart by the file's token and wait for each other (never reclaimed), like two processes.

use crate::classify::{classify, mutant, LiveReason, Me, Observed, Policy, StaleReason, Verdict};
use crate::env::{Clock, Env, FileMeta, Fs, ProcessIdentity, Procs};
use crate::error::{FsOp, LockError, Owner};
use crate::payload::{Malformed, Payload};
use crate::sync::{self, Arc, Condvar, Mutex, MutexGuard};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How many publish/reclaim rounds one attempt makes before it reports the lock busy.
const ROUNDS_PER_ATTEMPT: usize = 3;
/// First and largest backoff between attempts on a file held by another process.
const BACKOFF_START: Duration = Duration::from_millis(1);
const BACKOFF_MAX: Duration = Duration::from_millis(50);
/// Longest real-time wait on the in-instance condition variable before re-checking.
const HANDOFF_WAIT_MAX: Duration = Duration::from_millis(100);

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
    /// Removed a stale file first, for this reason.
    Reclaimed(StaleReason),
}

/// What a release did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Released {
    /// A reentrant hold ended; the lock stays held with this many holds.
    Decremented(u32),
    /// The last hold ended and the lock file was removed.
    Removed,
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
    next_hold_id: u64,
    /// Threads blocked on the condition variable; releases notify only when there are any.
    waiters: usize,
    /// Lease refreshes: by this manager's own thread (real clock), or promised by the caller.
    pub(crate) heartbeat: crate::lease::Heartbeat,
    /// Told the lock path of every hold a refresh finds compromised.
    pub(crate) on_compromised: Option<crate::lease::OnCompromised>,
    /// Waiting acquisitions of this instance per lock path, in arrival order (tickets): only the
    /// oldest may publish, so a releasing thread cannot take the lock straight back (no barging).
    queues: BTreeMap<PathBuf, std::collections::VecDeque<u64>>,
    next_ticket: u64,
}

impl State {
    /// This instance holds, or is releasing, this path or a file carrying this token.
    pub(crate) fn in_flight(&self, lock_path: &Path, token: Option<&str>) -> bool {
        let token_matches = |h: &Hold| token.is_some() && h.payload.token.as_deref() == token;
        self.holds.contains_key(lock_path)
            || self.holds.values().any(token_matches)
            || self
                .releasing
                .values()
                .any(|(p, h)| p == lock_path || token_matches(h))
    }
}

pub(crate) struct Inner<E: Env> {
    pub(crate) env: E,
    pub(crate) policy: Policy,
    pub(crate) identity: ProcessIdentity,
    /// This machine's boot time, read once (a proof of death across pid namespaces).
    pub(crate) boot_ms: Option<i64>,
    pub(crate) state: Mutex<State>,
    changed: Condvar,
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

enum Blocked {
    Busy { owner: Owner, in_instance: bool },
    Fatal(LockError),
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
                state: Mutex::new(State {
                    epoch: 0,
                    nonce,
                    closing: None,
                    holds: BTreeMap::new(),
                    releasing: BTreeMap::new(),
                    next_hold_id: 1,
                    waiters: 0,
                    heartbeat,
                    on_compromised: None,
                    queues: BTreeMap::new(),
                    next_ticket: 1,
                }),
                changed: Condvar::new(),
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

    /// One attempt with options (the timeout is ignored).
    pub fn try_acquire_with(
        &self,
        session_file: &Path,
        opts: AcquireOptions,
    ) -> Result<LockGuard<E>, LockError> {
        let lock_path = self.resolve(session_file)?;
        let mut st = sync::lock(&self.inner.state);
        self.ensure_heartbeat(&mut st);
        match self.attempt(&mut st, &lock_path, opts.reentrant, None) {
            Ok(g) => Ok(g),
            Err(Blocked::Fatal(e)) => Err(e),
            Err(Blocked::Busy { owner, .. }) => Err(LockError::Busy {
                owner,
                lock_path,
                waited: Duration::ZERO,
            }),
        }
    }

    /// Locks `session_file`, waiting up to the policy's timeout. Reentrant: a thread of this
    /// instance that already holds it — or *any* thread of this instance — gets in at once (see
    /// the module doc; use [`LockManager::acquire_with`] with `reentrant: false` to exclude threads).
    pub fn acquire(&self, session_file: &Path) -> Result<LockGuard<E>, LockError> {
        self.acquire_with(session_file, AcquireOptions::default())
    }

    /// Locks `session_file`, waiting up to `opts.timeout`: woken by an in-instance release, or
    /// backing off with jitter while another process holds the file.
    pub fn acquire_with(
        &self,
        session_file: &Path,
        opts: AcquireOptions,
    ) -> Result<LockGuard<E>, LockError> {
        let lock_path = self.resolve(session_file)?;
        let clock = self.inner.env.clock();
        let timeout = opts.timeout.unwrap_or(self.inner.policy.acquire_timeout);
        let start = clock.now_mono();
        let mut backoff = BACKOFF_START;
        let mut st = sync::lock(&self.inner.state);
        self.ensure_heartbeat(&mut st);
        // Taken at the first wait: from then on this acquisition has a place in the queue.
        let mut ticket = None;
        let result = loop {
            let (owner, in_instance) =
                match self.attempt(&mut st, &lock_path, opts.reentrant, ticket) {
                    Ok(g) => break Ok(g),
                    Err(Blocked::Fatal(e)) => break Err(e),
                    Err(Blocked::Busy { owner, in_instance }) => (owner, in_instance),
                };
            let waited = clock.now_mono().saturating_sub(start);
            if waited >= timeout {
                break Err(LockError::Busy {
                    owner,
                    lock_path: lock_path.clone(),
                    waited,
                });
            }
            if ticket.is_none() {
                ticket = Some(self.enqueue(&mut st, &lock_path));
            }
            let remaining = timeout - waited;
            if in_instance && !clock.is_virtual() && !sync::MODEL_CHECKED {
                // The holder is in this instance: its release notifies us, no polling.
                st = self.wait_notified(st, remaining.min(HANDOFF_WAIT_MAX));
            } else {
                drop(st);
                clock.sleep(jitter(clock, backoff).min(remaining));
                backoff = (backoff * 2).min(BACKOFF_MAX);
                st = sync::lock(&self.inner.state);
            }
        };
        if let Some(t) = ticket {
            self.dequeue(&mut st, &lock_path, t);
        }
        result
    }

    /// A place at the back of `lock_path`'s queue.
    fn enqueue(&self, st: &mut State, lock_path: &Path) -> u64 {
        let t = st.next_ticket;
        st.next_ticket += 1;
        st.queues
            .entry(lock_path.to_path_buf())
            .or_default()
            .push_back(t);
        t
    }

    /// Leaves the queue (acquired, timed out or failed) and wakes the waiters behind.
    fn dequeue(&self, st: &mut State, lock_path: &Path, ticket: u64) {
        if let Some(q) = st.queues.get_mut(lock_path) {
            q.retain(|&t| t != ticket);
            if q.is_empty() {
                st.queues.remove(lock_path);
            }
        }
        self.notify(st);
    }

    /// Acquisitions of this instance waiting for `session_file`'s lock (for tests and tools).
    pub fn queued(&self, session_file: &Path) -> usize {
        let Ok(lock_path) = self.resolve(session_file) else {
            return 0;
        };
        sync::lock(&self.inner.state)
            .queues
            .get(&lock_path)
            .map_or(0, std::collections::VecDeque::len)
    }

    /// Releases every lock this instance holds, then rotates the nonce. Guards of the released
    /// locks become inert. Acquisitions in this instance wait until it returns.
    pub fn release_all(&self) -> ReleaseReport {
        let mut st = sync::lock(&self.inner.state);
        while st.closing.is_some() {
            // Another release_all is running: let it finish, so ours returns after a full release.
            st = self.wait_for_change(st);
        }
        if mutant!(self.inner.policy, ReleaseAllLiveIteration) {
            return self.release_all_live_iteration(st);
        }
        let old_nonce = st.nonce.clone();
        st.closing = Some(st.epoch);
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
            let mut i = 0;
            loop {
                let mut st = sync::lock(&self.inner.state);
                let Some(path) = st.holds.keys().nth(i).cloned() else {
                    break;
                };
                if let Some(hold) = st.holds.remove(&path) {
                    self.record_release(&mut report, path, &hold);
                }
                i += 1;
                drop(st);
                sync::model_yield();
            }
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
                let mut st = sync::lock(&self.inner.state);
                if let Some((path, hold)) = st.releasing.remove(&id) {
                    self.record_release(&mut report, path, &hold);
                }
                self.notify(&st);
                drop(st);
                sync::model_yield();
            }
        }
        let mut st = sync::lock(&self.inner.state);
        if !mutant!(self.inner.policy, RotateBeforeCleanup) {
            self.rotate(&mut st);
        }
        st.closing = None;
        report.new_nonce = st.nonce.clone();
        self.notify(&st);
        report
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
        self.notify(&st);
        report
    }

    /// Blocks on the condition variable (real time) until a release notifies or `dur` passes.
    fn wait_notified<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        dur: Duration,
    ) -> MutexGuard<'a, State> {
        st.waiters += 1;
        let mut st = sync::wait_timeout(&self.inner.changed, st, dur);
        st.waiters -= 1;
        st
    }

    /// Wakes in-instance waiters, if there are any (a notify is a system call otherwise wasted).
    fn notify(&self, st: &State) {
        if st.waiters > 0 {
            self.inner.changed.notify_all();
        }
    }

    fn rotate(&self, st: &mut State) {
        st.nonce = new_nonce(self.inner.env.clock());
        st.epoch += 1;
    }

    fn wait_for_change<'a>(&'a self, st: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        let clock = self.inner.env.clock();
        if !clock.is_virtual() && !sync::MODEL_CHECKED {
            self.wait_notified(st, HANDOFF_WAIT_MAX)
        } else {
            drop(st);
            clock.sleep(BACKOFF_START);
            sync::lock(&self.inner.state)
        }
    }

    /// One attempt, under the registry lock: the lock is held across reading the nonce,
    /// publishing the file and registering it, so acquisitions in one instance never race on
    /// the file and a `release_all` sees either the hold or nothing.
    fn attempt(
        &self,
        st: &mut MutexGuard<'_, State>,
        lock_path: &Path,
        reentrant: bool,
        ticket: Option<u64>,
    ) -> Result<LockGuard<E>, Blocked> {
        let policy = &self.inner.policy;
        if st.closing == Some(st.epoch) {
            return Err(Blocked::Busy {
                owner: Owner::ThisInstance,
                in_instance: true,
            });
        }
        if st.holds.get(lock_path).is_some_and(|h| h.compromised) {
            // Lost to another owner: its guard is inert already; this is a fresh acquisition.
            st.holds.remove(lock_path);
        }
        if let Some(hold) = st.holds.get_mut(lock_path) {
            if !reentrant {
                return Err(Blocked::Busy {
                    owner: Owner::ThisInstance,
                    in_instance: true,
                });
            }
            if !mutant!(policy, NoReentryCount) {
                hold.count = hold
                    .count
                    .checked_add(1)
                    .filter(|&n| n <= policy.max_reentry)
                    .ok_or_else(|| {
                        Blocked::Fatal(LockError::ReentryOverflow {
                            lock_path: lock_path.to_path_buf(),
                        })
                    })?;
            }
            let (id, payload) = (hold.id, hold.payload.clone());
            return Ok(self.guard(lock_path, id, payload, Acquired::Reentered));
        }
        // First come, first served inside this instance: only the oldest waiter publishes, and a
        // newcomer (a releasing thread taking the lock straight back, say) queues behind it.
        let first = st.queues.get(lock_path).and_then(|q| q.front().copied());
        if first.is_some_and(|t| Some(t) != ticket) {
            return Err(Blocked::Busy {
                owner: Owner::ThisInstance,
                in_instance: true,
            });
        }

        let clock = self.inner.env.clock();
        let payload = Payload {
            pid: self.inner.identity.pid,
            nonce: Some(st.nonce.clone()),
            created_at_ms: clock.now_wall_ms(),
            starttime: self.inner.identity.start_time,
            host: self.inner.identity.host.clone(),
            token: Some(format!("{:016x}", clock.random_u64())),
            lease: self.declared_lease(st),
        };
        let bytes = payload.to_bytes();
        let mut how = Acquired::Fresh;
        let mut last_owner = Owner::Unknown;
        for _ in 0..ROUNDS_PER_ATTEMPT {
            if self.publish(lock_path, &bytes, payload.token.as_deref().unwrap_or(""))? {
                return Ok(self.register(st, lock_path, bytes, payload, how));
            }
            let Some(seen) = self.observe(lock_path)? else {
                continue;
            };
            let verdict = self.judge(st, lock_path, &seen);
            last_owner = match &seen.parsed {
                Ok(p) => Owner::File(Box::new(p.clone())),
                Err(m) => Owner::Malformed(m.clone()),
            };
            match verdict {
                Verdict::Live(LiveReason::NotRegular) => {
                    return Err(Blocked::Fatal(LockError::NotRegular {
                        lock_path: lock_path.to_path_buf(),
                        kind: seen.meta.kind,
                    }));
                }
                Verdict::Live(reason) => {
                    let in_instance = reason == LiveReason::HeldHere;
                    let owner = if in_instance {
                        Owner::ThisInstance
                    } else {
                        last_owner
                    };
                    return Err(Blocked::Busy { owner, in_instance });
                }
                Verdict::Stale(reason) => {
                    how = Acquired::Reclaimed(reason);
                    if mutant!(policy, RenameTakeover) {
                        self.rename_over(
                            lock_path,
                            &bytes,
                            payload.token.as_deref().unwrap_or(""),
                        )?;
                        return Ok(self.register(st, lock_path, bytes, payload, how));
                    }
                    self.remove_if_unchanged(lock_path, &seen)?;
                }
            }
        }
        Err(Blocked::Busy {
            owner: last_owner,
            in_instance: false,
        })
    }

    /// Wakes in-instance waiters (for the lease module).
    pub(crate) fn notify_changed(&self, st: &State) {
        self.notify(st);
    }

    pub(crate) fn judge(&self, st: &State, lock_path: &Path, seen: &Seen) -> Verdict {
        let token = seen.parsed.as_ref().ok().and_then(|p| p.token.as_deref());
        let now_ms = self.inner.env.clock().now_wall_ms();
        let observed = Observed {
            payload: seen.parsed.as_ref(),
            mtime_age_ms: now_ms - seen.meta.mtime_ms,
            now_ms,
        };
        let me = Me {
            identity: &self.inner.identity,
            nonce: &st.nonce,
            in_flight: st.in_flight(lock_path, token),
            boot_ms: self.inner.boot_ms,
        };
        let procs = self.inner.env.procs();
        classify(&observed, &me, &self.inner.policy, &mut |pid| {
            let liveness = procs.probe(pid);
            (liveness, procs.start_time(pid))
        })
    }

    fn register(
        &self,
        st: &mut State,
        lock_path: &Path,
        bytes: Vec<u8>,
        payload: Payload,
        how: Acquired,
    ) -> LockGuard<E> {
        let id = st.next_hold_id;
        st.next_hold_id += 1;
        st.holds.insert(
            lock_path.to_path_buf(),
            Hold {
                id,
                count: 1,
                bytes,
                payload: payload.clone(),
                compromised: false,
            },
        );
        self.guard(lock_path, id, payload, how)
    }

    fn guard(
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

    fn release_hold(&self, lock_path: &Path, hold_id: u64) -> Result<Released, LockError> {
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
            self.notify(&st);
            return Ok(Released::NotOurs);
        }
        if mutant!(policy, RegistryBeforeUnlink) {
            self.notify(&st);
            drop(st);
            sync::model_yield();
            return match self.inner.env.fs().remove(lock_path) {
                Ok(()) => Ok(Released::Removed),
                Err(e) if not_found(&e) => Ok(Released::NotOurs),
                Err(e) => Err(LockError::io(FsOp::Remove, lock_path, e)),
            };
        }
        let result = self.delete_if_ours(lock_path, &hold.bytes);
        self.notify(&st);
        result
    }

    fn hold_is_live(&self, lock_path: &Path, hold_id: u64) -> bool {
        let st = sync::lock(&self.inner.state);
        st.holds
            .get(lock_path)
            .is_some_and(|h| h.id == hold_id && !h.compromised)
            || st
                .releasing
                .get(&hold_id)
                .is_some_and(|(_, h)| !h.compromised)
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
    /// that `release_all` has taken but not yet removed still counts.
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

/// `d` scaled by a random factor in [0.5, 1.5): contenders do not retry in lock step.
fn jitter(clock: &impl Clock, d: Duration) -> Duration {
    let permille = 500 + clock.random_u64() % 1000;
    d * permille as u32 / 1000
}
