//! The lock manager: one per process instance, holding the registry of held locks with reentrant
//! counts (`registry.rs`), publishing and reclaiming lock files (`attempt.rs`, `files.rs`), and
//! releasing everything before rotating its nonce (`release.rs`). This file has the public types,
//! the acquisition entry points and the guard.
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

use crate::classify::{Policy, StaleReason};
use crate::env::{Clock, Env, FileId, FileMeta, Fs, ProcessIdentity, Procs};
use crate::error::{FsOp, LockError, Owner};
use crate::payload::{Malformed, Payload};
use crate::registry::{Hold, State};
use crate::sync::{self, Arc, Mutex};
use crate::wait::Waiter;
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
    /// The ticket of an older waiter of another process going (fair instances, and waiters
    /// queued once starved or yielding to the flagged queue).
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
        let token_seed = env.clock().random_u64();
        LockManager {
            inner: Arc::new(Inner {
                env,
                policy,
                identity,
                boot_ms,
                #[cfg(not(any(feature = "loom", feature = "shuttle")))]
                heartbeat_stop: Default::default(),
                state: Mutex::new(State::new(nonce, heartbeat, token_seed)),
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
        self.let_waiter_in(&lock_path, &mut waiter);
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
            // A front waiter blocked by another process takes its place in the queue across
            // processes (a fair instance at once, others once starved), then looks again at
            // once: older tickets may be ahead.
            let across = matches!(busy.wait, WaitOn::Process { .. } | WaitOn::Queue { .. });
            waiter.yields |= across;
            let queues = self.inner.policy.fair || waited >= self.inner.policy.queue_after;
            if queues && across && waiter.disk.is_none() {
                waiter.disk = self.join_queue(&lock_path);
                if waiter.disk.is_some() {
                    continue;
                }
            }
            self.wait_once(&lock_path, &busy, timeout - waited, &mut waiter);
        };
        self.leave_disk_queue(&lock_path, waiter.disk.take(), waiter.queued_behind);
        match self.leave_queue(&lock_path, &waiter) {
            Some(granted) => self.settle_grant(&lock_path, granted, result),
            None => result,
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
                flag_down_at: None,
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
pub(crate) fn new_nonce(clock: &impl Clock) -> String {
    let hi = u128::from(clock.random_u64());
    let lo = u128::from(clock.random_u64());
    uuid::Builder::from_random_bytes(((hi << 64) | lo).to_be_bytes())
        .into_uuid()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::new_nonce;
    use crate::env::FixedRandom as Fixed;

    // P8 (a nonce is unguessable: two instances of one pid never share one): the nonce carries
    // both 64-bit random words, one in each half, as a version-4 UUID.
    #[test]
    fn a_nonce_is_both_random_words_as_a_uuid() {
        let clock = Fixed(0x1111_1111_1111_1111);
        assert_eq!(new_nonce(&clock), "11111111-1111-4111-9111-111111111111");
    }
}
