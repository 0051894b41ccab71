//! The loom/shuttle oracle: it records a concurrent history of the real lockcore on the
//! simulated world — (trace, ghost record of who believes it holds what, simulated files,
//! lockcore guards' `is_held()`/`how()`, release reports) — and hands what it sees to
//! [`crate::judge`], which names the property a harm violates (P1–P16) in a [`Violation`]
//! carrying the trace.
//!
//! The centre is the [`Ghost`]: every scenario thread hands the guards it obtains to the ghost
//! ([`Ghost::acquired`]), releases them through it ([`Ghost::release`]), and runs `release_all`
//! through it ([`Ghost::release_all`]). Each of these looks for the harm that the step can do,
//! at the moment it happens; [`Ghost::check_quiescent`] looks at the end state once every
//! thread has finished. The ghost's own mutex is the sync shim's, so a model checker sees it; it
//! is never taken by lockcore, so holding it while asking a guard `is_held()` cannot deadlock.
//!
//! What the oracle keeps is what only a concurrent history has (the entries in their states,
//! the processes whose `release_all` is running, the epochs rotated out, the paths a fault hit);
//! which property a harm violates, and with which rule, is the judge's: the most specific one
//! that the evidence shows (a nonce-mismatch reclaim of a lock whose release is running is P3
//! rather than plain P1, a reclaim of an empty file inside its grace is P10, …).

use crate::judge::{self, Finding};
pub use crate::judge::{property_in, Violation};
use crate::sim::{SimEnv, SimWorld};
use lockcore::sync::{self, Arc, Mutex};
use lockcore::{Acquired, LockError, LockGuard, LockManager, Payload, ReleaseReport, Released};
use lockcore::{LiveReason, StaleReason};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

/// The identity of an owner in P1's sense: one process instance epoch (host, pid, nonce).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OwnerId {
    /// Host of the process.
    pub host: String,
    /// Pid of the process.
    pub pid: u32,
    /// The instance nonce the lock was taken under.
    pub nonce: String,
}

impl OwnerId {
    fn of(p: &Payload) -> Self {
        OwnerId {
            host: p.host.clone().unwrap_or_default(),
            pid: p.pid,
            nonce: p.nonce.clone().unwrap_or_default(),
        }
    }
}

impl fmt::Display for OwnerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{} nonce {}",
            self.host,
            self.pid,
            self.nonce.get(..8).unwrap_or(&self.nonce)
        )
    }
}

/// Where a ghost entry is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryState {
    /// Its thread believes it holds the lock.
    Live,
    /// Its thread is releasing it right now.
    Releasing,
    /// Released by its thread.
    Released,
    /// Revoked by a `release_all` that has returned.
    Revoked,
    /// Its owner process crashed: nothing is checked of it any more.
    Crashed,
    /// Legitimately taken over by another owner (a `too-old` reclaim): no longer checked.
    Superseded,
}

/// A handle to one ghost entry (one guard).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HoldId(pub u64);

struct Entry {
    id: HoldId,
    actor: String,
    owner: OwnerId,
    token: String,
    bytes: Vec<u8>,
    lock_path: PathBuf,
    how: Acquired,
    state: EntryState,
    guard: Option<LockGuard<SimEnv>>,
    mgr: LockManager<SimEnv>,
}

impl Entry {
    /// The guard still says it holds (false once taken out for release).
    fn is_held(&self) -> bool {
        self.guard.as_ref().is_some_and(LockGuard::is_held)
    }
}

#[derive(Default)]
struct GhostState {
    entries: Vec<Entry>,
    next: u64,
    /// Processes (host, pid) whose `release_all` is running.
    /// How many `release_all` calls are running per process (the signal cleanup can overlap the
    /// application's own shutdown).
    closing: BTreeMap<(String, u32), usize>,
    /// Processes whose `release_all` returned at least once, with the old nonces.
    rotated_out: BTreeSet<OwnerId>,
    /// Paths whose files were touched by an injected fault (P9/P2 are then not claimed of them).
    faulted: BTreeSet<PathBuf>,
}

/// The ghost record: who believes it holds what. Shared by every thread of a scenario.
#[derive(Clone)]
pub struct Ghost {
    world: SimWorld,
    st: Arc<Mutex<GhostState>>,
}

impl fmt::Debug for Ghost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Ghost")
    }
}

fn mgr_key(m: &LockManager<SimEnv>) -> (String, u32) {
    let id = m.identity();
    (id.host.clone().unwrap_or_default(), id.pid)
}

/// An acquisition as the ghost checks it.
#[derive(Clone, Copy)]
struct Taken<'a> {
    actor: &'a str,
    owner: &'a OwnerId,
    how: Acquired,
    lock_path: &'a Path,
    /// The taker's instance's nonce now: another than the owner's means a `release_all` has
    /// closed the epoch the lock was taken in since (the thread records it late).
    instance_nonce: &'a str,
}

/// What the ghost can prove made the victim of a reclaim live, in DESIGN §4's terms, given the
/// reason the culprit `claimed`: a nonce mismatch of our own process's lock means it was held
/// here; of another pid, that its owner is alive; a malformed file was a live lock being written
/// (inside its grace); a dead-pid verdict on an owner whose probe answers `EPERM` was a live
/// owner. `None`: nothing beyond exclusion (plain P1).
fn victim_live(claimed: StaleReason, same_process: bool, victim_eperm: bool) -> Option<LiveReason> {
    match claimed {
        StaleReason::NonceMismatch if same_process => Some(LiveReason::HeldHere),
        StaleReason::NonceMismatch => Some(LiveReason::OwnerAlive),
        StaleReason::MalformedExpired => Some(LiveReason::MalformedInGrace),
        StaleReason::DeadPid if victim_eperm => Some(LiveReason::OwnerAlive),
        _ => None,
    }
}

impl Ghost {
    /// An empty ghost record over `world`.
    pub fn new(world: &SimWorld) -> Self {
        Ghost {
            world: world.clone(),
            st: Arc::new(Mutex::new(GhostState::default())),
        }
    }

    /// The world this ghost watches.
    pub fn world(&self) -> &SimWorld {
        &self.world
    }

    fn violation(&self, finding: Finding, details: impl fmt::Display) -> Violation {
        finding.violation(details, self.world.trace())
    }

    fn file_token(&self, lock_path: &Path) -> Option<Option<String>> {
        self.world
            .file(lock_path)
            .map(|b| Payload::parse(&b).ok().and_then(|p| p.token))
    }

    /// Records that `actor` obtained `guard` from `mgr`, after checking the acquisition.
    ///
    /// **P1 exclusion**: no other owner's guard for the path still `is_held()`. A reclaim by an
    /// age rule the holder agreed to (`too-old`, an expired lease or maximum hold) supersedes the
    /// previous owner legitimately. Otherwise the evidence goes to the judge: how the culprit
    /// took the lock (whichever of the two took it by reclaim: the order the threads record in
    /// does not matter) and what the ghost knows made the victim live — see `victim_live`.
    pub fn acquired(
        &self,
        actor: &str,
        mgr: &LockManager<SimEnv>,
        guard: LockGuard<SimEnv>,
    ) -> Result<HoldId, Violation> {
        let owner = OwnerId::of(guard.payload());
        let token = guard.payload().token.clone().unwrap_or_default();
        let lock_path = guard.lock_path().to_path_buf();
        let how = guard.how();
        self.world.note(
            actor,
            "acquired",
            &lock_path,
            &format!("{how:?} as {owner}"),
        );
        let mut st = sync::lock(&self.st);
        let id = HoldId(st.next);
        st.next += 1;
        let instance_nonce = mgr.nonce();
        let taken = Taken {
            actor,
            owner: &owner,
            how,
            lock_path: &lock_path,
            instance_nonce: &instance_nonce,
        };
        let result = self.check_exclusion(&mut st, &taken).map(|()| id);
        let bytes = guard.payload().to_bytes();
        // Taken before a release_all that has already returned and revoked it (the thread only
        // records it now): it was revoked legitimately.
        let state = if st.rotated_out.contains(&owner) && !guard.is_held() {
            EntryState::Revoked
        } else {
            EntryState::Live
        };
        st.entries.push(Entry {
            id,
            actor: actor.to_string(),
            owner,
            token,
            bytes,
            lock_path,
            how,
            state,
            guard: Some(guard),
            mgr: mgr.clone(),
        });
        drop(st);
        result
    }

    /// P1 and the rule that let a second owner in: the first other live entry on the path whose
    /// guard still `is_held()`, unless the new owner superseded it legitimately.
    fn check_exclusion(&self, st: &mut GhostState, taken: &Taken<'_>) -> Result<(), Violation> {
        let Taken {
            actor,
            owner,
            how,
            lock_path,
            instance_nonce,
        } = *taken;
        let owner_closing = st.closing.contains_key(&(owner.host.clone(), owner.pid));
        for e in st.entries.iter_mut() {
            if e.lock_path != *lock_path || e.owner == *owner || e.state != EntryState::Live {
                continue;
            }
            if !e.is_held() {
                if let Some(v) = self.reclaimed_while_releasing(e, taken, owner_closing) {
                    return Err(v);
                }
                continue;
            }
            // Recorded late: a lock taken in an epoch its instance has closed since, against a
            // hold of a later epoch of the same instance. `release_all` revoked every hold of
            // the old epoch before it rotated, and the new one began after: one after the other.
            let same_instance = e.mgr.nonce() == instance_nonce;
            if same_instance && owner.nonce != instance_nonce && e.owner.nonce != owner.nonce {
                continue;
            }
            // Taken over by an age rule the holder agreed to (too old; its lease not refreshed
            // in time): legitimate, and P15 is then about the old holder learning it.
            if matches!(
                how,
                Acquired::Reclaimed(
                    StaleReason::TooOld | StaleReason::LeaseExpired | StaleReason::MaxHoldPassed
                )
            ) {
                e.state = EntryState::Superseded;
                continue;
            }
            // The culprit is whichever of the two took the lock by reclaiming it.
            let (culprit_how, culprit, victim) = if matches!(how, Acquired::Reclaimed(_)) {
                (how, actor, e.actor.as_str())
            } else {
                (e.how, e.actor.as_str(), actor)
            };
            let same_process = e.owner.host == owner.host && e.owner.pid == owner.pid;
            let (victim_host, victim_pid) = if culprit == actor {
                (e.owner.host.as_str(), e.owner.pid)
            } else {
                (owner.host.as_str(), owner.pid)
            };
            let victim_eperm = self
                .world
                .process(victim_host, victim_pid)
                .is_some_and(|p| p.alive && p.eperm);
            let finding = match culprit_how {
                Acquired::Reclaimed(claimed) => judge::taken_while_live(
                    claimed,
                    victim_live(claimed, same_process, victim_eperm),
                    same_process && owner_closing,
                ),
                _ => judge::two_owners(false),
            };
            return Err(self.violation(
                finding,
                format!(
                    "{actor} acquired {} ({how:?}) as {owner} while {} ({:?}) still holds it as {}; culprit {culprit} ({culprit_how:?}), victim {victim}",
                    lock_path.display(),
                    e.actor,
                    e.how,
                    e.owner
                ),
            ));
        }
        Ok(())
    }

    /// A guard that no longer holds because its own process's `release_all` is removing its
    /// lock (not yet revoked: that release_all has not returned): a reclaim of that lock by
    /// nonce mismatch is still P3, whether or not lockcore had started removing it.
    fn reclaimed_while_releasing(
        &self,
        e: &Entry,
        taken: &Taken<'_>,
        owner_closing: bool,
    ) -> Option<Violation> {
        let same_process = e.owner.host == taken.owner.host && e.owner.pid == taken.owner.pid;
        let nonce_reclaim = taken.how == Acquired::Reclaimed(StaleReason::NonceMismatch);
        if !(same_process && owner_closing && nonce_reclaim) {
            return None;
        }
        Some(self.violation(
            judge::taken_while_live(StaleReason::NonceMismatch, Some(LiveReason::HeldHere), true),
            format!(
                "{} reclaimed {} by nonce mismatch as {} while its release_all was removing {}'s lock of {}",
                taken.actor,
                taken.lock_path.display(),
                taken.owner,
                e.actor,
                e.owner
            ),
        ))
    }

    /// Releases the guard of entry `id` (its thread calls this instead of dropping it), then
    /// checks that the release took nothing from anyone else.
    ///
    /// For every other entry on the same path that its thread still believes it holds and that
    /// `is_held()`, the file must still carry that entry's token afterwards, and a sibling of the
    /// same hold must still be held. The judge names a harm by whether the one who lost is a
    /// reentrant sibling of the released guard (P9) and whether the released guard had been
    /// revoked by `release_all` (P5); otherwise P2 (owner-checked delete).
    pub fn release(&self, id: HoldId) -> Result<Result<Released, LockError>, Violation> {
        let (guard, revoked, lock_path, token, actor) = {
            let mut st = sync::lock(&self.st);
            let Some(e) = st.entries.iter_mut().find(|e| e.id == id) else {
                return Ok(Ok(Released::Inert));
            };
            let Some(guard) = e.guard.take() else {
                return Ok(Ok(Released::Inert));
            };
            let revoked = !guard.is_held();
            e.state = EntryState::Releasing;
            (
                guard,
                revoked,
                e.lock_path.clone(),
                e.token.clone(),
                e.actor.clone(),
            )
        };
        let released = guard.release();
        self.world
            .note(&actor, "released", &lock_path, &format!("{released:?}"));
        let mut st = sync::lock(&self.st);
        if let Some(e) = st.entries.iter_mut().find(|e| e.id == id) {
            e.state = EntryState::Released;
        }
        let mgr_closing = st.closing.clone();
        for e in st.entries.iter() {
            if e.id == id || e.lock_path != lock_path || e.state != EntryState::Live {
                continue;
            }
            let sibling = e.token == token;
            // The file first, then the guard: a release_all that runs meanwhile revokes the
            // guard before it removes the file, so a file gone under a guard that still holds
            // is never its doing.
            let file_ok = self.file_token(&lock_path) == Some(Some(e.token.clone()));
            let held = e.is_held();
            if !held
                && (mgr_closing.contains_key(&(e.owner.host.clone(), e.owner.pid))
                    || e.mgr.nonce() != e.owner.nonce)
            {
                // Revoked by a release_all (running now, or returned): nothing to claim of it.
                continue;
            }
            if held && file_ok {
                continue;
            }
            if st.faulted.contains(&lock_path) {
                continue;
            }
            return Err(self.violation(
                judge::wrongful_release(sibling, revoked, false),
                format!(
                    "{actor} released {} ({released:?}); {} still believes it holds it ({:?}) as {} but is_held() = {held}, file {}",
                    lock_path.display(),
                    e.actor,
                    e.how,
                    e.owner,
                    if file_ok { "intact" } else { "gone or replaced" }
                ),
            ));
        }
        Ok(released)
    }

    /// Runs `mgr.release_all()` and checks it.
    ///
    /// **P4** (complete release-all): once it returns, no guard of the old epoch still
    /// `is_held()` and no file of the old epoch is on disk (unless reported failed); every guard
    /// of another owner that its thread still holds keeps its file. **P3**: the reported new
    /// nonce differs from the old one.
    pub fn release_all(&self, mgr: &LockManager<SimEnv>) -> Result<ReleaseReport, Violation> {
        let key = mgr_key(mgr);
        *sync::lock(&self.st).closing.entry(key.clone()).or_insert(0) += 1;
        let who = format!("{}:{}", key.0, key.1);
        self.world
            .note(&who, "release_all", Path::new("*"), "start");
        let report = mgr.release_all();
        self.world.note(
            &who,
            "release_all",
            Path::new("*"),
            &format!(
                "done: released {}, not ours {}, failed {}; nonce {} -> {}",
                report.released.len(),
                report.not_ours.len(),
                report.failed.len(),
                report.old_nonce.get(..8).unwrap_or(&report.old_nonce),
                report.new_nonce.get(..8).unwrap_or(&report.new_nonce)
            ),
        );
        let mut st = sync::lock(&self.st);
        if let Some(n) = st.closing.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                st.closing.remove(&key);
            }
        }
        let old = OwnerId {
            host: key.0.clone(),
            pid: key.1,
            nonce: report.old_nonce.clone(),
        };
        st.rotated_out.insert(old.clone());
        if report.new_nonce == report.old_nonce {
            return Err(self.violation(
                judge::nonce_not_rotated(),
                format!("{who} kept nonce {}", report.old_nonce),
            ));
        }
        let failed: BTreeSet<PathBuf> = report.failed.iter().map(|(p, _)| p.clone()).collect();
        self.check_released_all(&mut st, &old, &failed)?;
        Ok(report)
    }

    /// Once `release_all` of the epoch `old` returned: each of its entries is revoked, unless it
    /// is still held or on disk without a reported failure (P4); every other entry whose guard
    /// still holds keeps its file (P4: release_all touches nothing it did not set out to remove).
    fn check_released_all(
        &self,
        st: &mut GhostState,
        old: &OwnerId,
        failed: &BTreeSet<PathBuf>,
    ) -> Result<(), Violation> {
        for e in st.entries.iter_mut() {
            if e.state != EntryState::Live {
                continue;
            }
            let held = e.is_held();
            let file_token = self.file_token(&e.lock_path);
            if e.owner == *old {
                let file_left = file_token == Some(Some(e.token.clone()));
                if (held || file_left) && !failed.contains(&e.lock_path) {
                    return Err(self.violation(
                        judge::old_epoch_left(),
                        format!(
                            "{}'s lock {} of the old epoch is still {}",
                            e.actor,
                            e.lock_path.display(),
                            if held {
                                "held in the registry"
                            } else {
                                "on disk"
                            }
                        ),
                    ));
                }
                e.state = EntryState::Revoked;
            } else if held && file_token != Some(Some(e.token.clone())) {
                return Err(self.violation(
                    judge::release_all_disturbed(),
                    format!(
                        "{}'s lock {} ({}) is gone or replaced",
                        e.actor,
                        e.lock_path.display(),
                        e.owner
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Process `pid` on `host` crashes: the world marks it dead, and its guards stop being
    /// checked (they are never released; their files stay for others to reclaim by dead pid).
    pub fn crash(&self, host: &str, pid: u32) {
        // One step for whoever checks: its guards stop counting as the world kills it, so a
        // waiter that reclaims its lock at once never sees it both dead and holding.
        let mut st = sync::lock(&self.st);
        for e in st.entries.iter_mut() {
            if e.owner.host == host && e.owner.pid == pid && e.state == EntryState::Live {
                e.state = EntryState::Crashed;
            }
        }
        self.world.crash(host, pid);
        drop(st);
        self.world
            .note("world", "crash", Path::new(&format!("{host}:{pid}")), "");
    }

    /// Tells the ghost that an injected fault may have left `lock_path` inconsistent (P12 is
    /// then checked through the typed error instead).
    pub fn faulted(&self, lock_path: &Path) {
        sync::lock(&self.st).faulted.insert(lock_path.to_path_buf());
    }

    /// The end state, once every scenario thread has finished.
    ///
    /// **P2**: every live, unrevoked guard still `is_held()` and its file carries its token.
    /// **P9**: a reentrant sibling lost its hold → P9; every `.lock` file written by a live
    /// process of the scenario is held by someone (file exists iff hold count > 0); a file of a
    /// rotated-out epoch left behind is **P4**. **P11**: no temp files (`.lktmp`) left behind.
    pub fn check_quiescent(&self) -> Result<(), Violation> {
        let st = sync::lock(&self.st);
        self.check_entries_at_end(&st)?;
        self.check_files_at_end(&st)
    }

    /// Every live entry (not faulted): of a closed epoch, no longer held (P4); otherwise held,
    /// with its file (the judge: P9 when a reentrant sibling was released, else P2).
    fn check_entries_at_end(&self, st: &GhostState) -> Result<(), Violation> {
        for e in st.entries.iter() {
            if e.state != EntryState::Live || st.faulted.contains(&e.lock_path) {
                continue;
            }
            let held = e.is_held();
            if st.rotated_out.contains(&e.owner) {
                if held {
                    return Err(self.violation(
                        judge::old_epoch_left(),
                        format!(
                            "at the end, {}'s lock {} of an epoch that release_all closed is still held",
                            e.actor,
                            e.lock_path.display()
                        ),
                    ));
                }
                continue;
            }
            let file_ok = self.file_token(&e.lock_path) == Some(Some(e.token.clone()));
            if held && file_ok {
                continue;
            }
            let released_sibling = st
                .entries
                .iter()
                .any(|o| o.id != e.id && o.token == e.token && o.state == EntryState::Released);
            return Err(self.violation(
                judge::lost_hold(released_sibling),
                format!(
                    "at the end, {} still believes it holds {} ({:?}) as {} but is_held() = {held}, file {}",
                    e.actor,
                    e.lock_path.display(),
                    e.how,
                    e.owner,
                    if file_ok { "intact" } else { "gone or replaced" }
                ),
            ));
        }
        Ok(())
    }

    /// The files: no temp file left (P11, unless a fault hit); every `.lock` file that a live
    /// process of the scenario wrote is held by someone (of a closed epoch: P4; else P9).
    fn check_files_at_end(&self, st: &GhostState) -> Result<(), Violation> {
        for (path, file) in self.world.files() {
            let name = path.to_string_lossy().into_owned();
            if name.ends_with(".lktmp") && st.faulted.is_empty() {
                return Err(self.violation(judge::temp_left(), path.display()));
            }
            if !name.ends_with(".lock") || st.faulted.contains(&path) {
                continue;
            }
            let Ok(p) = Payload::parse(&file.bytes) else {
                continue;
            };
            let Some(token) = p.token.as_deref() else {
                continue;
            };
            let alive = self
                .world
                .process(p.host.as_deref().unwrap_or_default(), p.pid)
                .is_some_and(|q| q.alive);
            if !alive {
                continue;
            }
            let holder = st
                .entries
                .iter()
                .find(|e| e.token == token && e.state == EntryState::Live && e.is_held());
            if holder.is_none() {
                let owner = OwnerId::of(&p);
                let ours = st.entries.iter().any(|e| e.token == token);
                if !ours {
                    // Written by someone outside the ghost's view (a planted file).
                    continue;
                }
                let finding = if st.rotated_out.contains(&owner) {
                    judge::old_epoch_left()
                } else {
                    judge::reentrancy()
                };
                return Err(self.violation(
                    finding,
                    format!(
                        "{} ({owner}) is on disk but nobody holds it",
                        path.display()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Releases every guard the ghost still keeps (without checks), so a model ends with no live
    /// shim objects besides the world.
    pub fn finish(&self) {
        let guards: Vec<LockGuard<SimEnv>> = {
            let mut st = sync::lock(&self.st);
            st.entries
                .iter_mut()
                .filter_map(|e| e.guard.take())
                .collect()
        };
        drop(guards);
    }

    /// Bytes the entry's guard wrote (for tests).
    pub fn bytes_of(&self, id: HoldId) -> Option<Vec<u8>> {
        sync::lock(&self.st)
            .entries
            .iter()
            .find(|e| e.id == id)
            .map(|e| e.bytes.clone())
    }

    /// Whether the entry's guard still says it holds (false once released, revoked, or found
    /// compromised by a lease refresh).
    pub fn is_held(&self, id: HoldId) -> bool {
        sync::lock(&self.st)
            .entries
            .iter()
            .find(|e| e.id == id)
            .is_some_and(Entry::is_held)
    }

    /// The state of an entry.
    pub fn state_of(&self, id: HoldId) -> Option<EntryState> {
        sync::lock(&self.st)
            .entries
            .iter()
            .find(|e| e.id == id)
            .map(|e| e.state)
    }
}

/// **P6 no 30-minute block**: after an in-place or crash restart with the same pid, the next
/// acquire of a previously held session succeeds at once. `result` is that acquisition (one
/// `try_acquire`, in model time).
pub fn check_no_block<T>(
    world: &SimWorld,
    session: &Path,
    result: &Result<T, LockError>,
) -> Result<(), Violation> {
    match result {
        Ok(_) => Ok(()),
        Err(e) => Err(judge::blocked().violation(
            format!(
                "after a restart with the same pid, acquiring {} did not succeed at once: {e}",
                session.display()
            ),
            world.trace(),
        )),
    }
}

/// **P12 I/O faults**: after a fault was injected, the operation's outcome is typed (an
/// `LockError::Io`, or success when the fault hit a step whose failure is tolerated) and the
/// registry is consistent with the guards: every path the manager lists as held belongs to a
/// guard in `guards` that `is_held()`, and no guard that `is_held()` is missing from it.
pub fn check_registry_consistent(
    world: &SimWorld,
    mgr: &LockManager<SimEnv>,
    guards: &[&LockGuard<SimEnv>],
) -> Result<(), Violation> {
    let held: BTreeSet<PathBuf> = mgr.held().into_iter().map(|(p, _)| p).collect();
    let live: BTreeSet<PathBuf> = guards
        .iter()
        .filter(|g| g.is_held())
        .map(|g| g.lock_path().to_path_buf())
        .collect();
    if held != live {
        return Err(judge::registry_inconsistent().violation(
            format!("registry {held:?} disagrees with the live guards {live:?}"),
            world.trace(),
        ));
    }
    Ok(())
}

/// **P12**: an operation that met an injected fault failed with a typed `Io` error (never a
/// panic, never `Busy`, never success by pretending).
pub fn check_typed_io<T>(world: &SimWorld, result: &Result<T, LockError>) -> Result<(), Violation> {
    match result {
        Err(LockError::Io { .. }) => Ok(()),
        Ok(_) => Ok(()),
        Err(e) => Err(judge::untyped_error().violation(
            format!("an injected I/O fault surfaced as {e:?}, not as LockError::Io"),
            world.trace(),
        )),
    }
}

/// Shared ownership helper for scenario code: an `Arc` of the shim.
pub fn shared<T>(t: T) -> Arc<T> {
    Arc::new(t)
}

/// **P16 hostile paths**, over the simulated world's ledger once a scenario is over: no step
/// followed a link to write or delete or would have blocked; every symlink's regular-file target
/// is still the very file it was (same identity, same bytes); every planted non-regular entry is
/// still there unless removed by one of `cleaners` (processes that ran a clean with
/// `remove_non_regular`), and a directory was never removed by anyone.
pub fn check_hostile(world: &SimWorld, cleaners: &[(&str, u32)]) -> Result<(), Violation> {
    let ledger = world.hostile_ledger();
    let fail = |message: String| Err(judge::hostile_harm().violation(message, world.trace()));
    if let Some(h) = ledger.hazards.first() {
        return fail(h.clone());
    }
    let files = world.files();
    for p in &ledger.planted {
        if let Some((target, Some((ino, bytes)))) = &p.target {
            let intact = files
                .get(target)
                .is_some_and(|f| f.ino == *ino && f.bytes == *bytes);
            if !intact {
                return fail(format!(
                    "the target {} of the symlink {} was changed or removed through the link",
                    target.display(),
                    p.path.display()
                ));
            }
        }
    }
    for r in &ledger.removed {
        let allowed = r.by.0 == crate::sim::WORLD
            || cleaners
                .iter()
                .any(|(h, pid)| r.by.0 == *h && r.by.1 == *pid);
        if r.kind == lockcore::FileKind::Directory || !allowed {
            return fail(format!(
                "{}:{} removed the {} at {}, and no clean that asked for it ran there",
                r.by.0,
                r.by.1,
                r.kind.as_str(),
                r.path.display()
            ));
        }
    }
    let nodes = world.nodes();
    for p in &ledger.planted {
        let removed = ledger.removed.iter().any(|r| r.path == p.path);
        let same = nodes.get(&p.path).is_some_and(|n| n.ino == p.ino);
        let replanted = ledger
            .planted
            .iter()
            .any(|q| q.path == p.path && q.ino > p.ino);
        if !same && !removed && !replanted {
            let now = if files.contains_key(&p.path) {
                "was written over by a regular file"
            } else {
                "vanished without a remove step"
            };
            return fail(format!(
                "the {} planted at {} {now}",
                p.kind.as_str(),
                p.path.display()
            ));
        }
    }
    Ok(())
}
