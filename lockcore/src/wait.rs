//! Waiting for a busy lock, fair inside an instance and event-driven across processes.
//!
//! - **Inside an instance** waiters queue per lock path (tickets): only the oldest may publish,
//!   and it is woken by the release's notify — which, where `handover.rs` allows, has handed it
//!   the lock already (a grant it takes at its next attempt, or as it leaves the queue). A
//!   waiter records the registry's generation when it found the lock busy and blocks only while
//!   it is unchanged, so a notify between its look and its wait is never lost. Each blocked
//!   thread has its own condition variable, and a change to one lock path wakes only the
//!   threads that can act on it (the oldest waiter when
//!   it can take or re-enter the lock, and `try_acquire`s waiting for the path's file I/O): a
//!   release with seven waiters wakes one, not seven.
//!   Under loom these waits block too, never timing out: a lost notification is a deadlock.
//! - **Across processes** the oldest waiter watches the lock file ([`Fs::wait_for_change`]:
//!   inotify on the directory) and, when the owner lives in our pid namespace, the owner's exit
//!   (a pidfd): it wakes when the file is removed or renamed, or its owner dies. It arms the
//!   watch, then looks again (the file may have gone in between), and blocks at most
//!   [`BACKOFF_MAX`]; a lease or an age that runs out is noticed by that bounded re-check.
//! - **Fallback:** where the environment cannot watch (no inotify, a virtual clock, an error),
//!   or nothing tells which file to watch, the waiter sleeps with jittered backoff (1–50 ms).
//! - **Across processes, no starving:** a waiter marks the file it waits for (its atime), and
//!   a release that sees the mark makes this instance's next acquire of that path, if it
//!   comes at once, wait up to [`HANDOFF_GRACE`] for someone else to take it first. A waiter
//!   that keeps losing the race queues once it has waited [`crate::Policy::queue_after`] (a
//!   ticket, `queue.rs`, and the path's queue flag), and a waiter that has found the lock busy
//!   (or an acquire right after this instance released it) lets flagged tickets go first.
//!
//! Fairness across processes is best effort by default: every waiting process wakes on the
//! release and the fastest publish wins until someone starves; then the starved go first, in
//! arrival order, and the race resumes. The grace and the flag only hold back contenders
//! that have seen the lock busy or just released it: a newcomer's first attempt publishes at
//! once, with no listing (the uncontended path costs nothing). With [`crate::Policy::fair`] an
//! instance queues at once (`queue.rs`): its front waiter holds a ticket on disk and waits for
//! the ticket just ahead of it (`WaitOn::Queue`) before it may publish.

use crate::classify::mutant;
use crate::env::{Clock, Env, FileId, Fs, Liveness, Procs, WaitFor};
use crate::manager::LockManager;
use crate::registry::State;
use crate::sync::{self, Arc, Condvar};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// First and largest backoff between attempts on a file held by another process.
pub(crate) const BACKOFF_START: Duration = Duration::from_millis(1);
/// The longest a cross-process wait blocks before it looks again (watch or backoff).
pub const BACKOFF_MAX: Duration = Duration::from_millis(50);
/// The longest a waiter for another process's lock sleeps without looking again: the backoff
/// cap with its jitter (a watched wait is capped at [`BACKOFF_MAX`]). The models check that a
/// waiter takes a freed lock within this much (virtual) time of its release.
pub const MAX_BLIND_WAIT: Duration = Duration::from_millis(75);

/// A release of ours that found another process waiting: for this long afterwards, an acquire
/// of the same path by this instance counts as taking the lock straight back.
pub(crate) const HANDOFF_WINDOW: Duration = Duration::from_millis(10);
/// The longest such an acquire waits for the other process to take the lock first (it ends
/// as soon as a lock file appears). 1 ms: with 8 processes on 2 cores, 0.5 ms let the woken
/// waiter in less often and 2 ms left the lock idle longer, for no fewer long waits.
pub(crate) const HANDOFF_GRACE: Duration = Duration::from_millis(1);

/// How an instance's threads have waited for each other: see [`LockManager::instance_waits`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InstanceWaits {
    /// Threads blocked on the registry right now.
    pub blocked_now: usize,
    /// Waits a notification ended.
    pub woken: u64,
    /// Waits that ended unnotified: they ran out `Policy::instance_recheck` (or woke
    /// spuriously, which a Linux futex wait does only on a signal).
    pub timed_out: u64,
    /// Notifications sent to blocked threads. A change to one lock path notifies only the
    /// threads that can act on it: a release notifies the oldest waiter of its path, not every
    /// thread queued behind it.
    pub notified: u64,
}

/// A thread of this instance blocked on the registry, with its own condition variable.
pub(crate) struct Sleeper {
    id: u64,
    /// The acquisition it waits in; `None` for a wait on any change (`release_all`'s).
    waits_for: Option<WaitsFor>,
    cv: Arc<Condvar>,
    notified: bool,
}

/// What a blocked acquisition waits for.
pub(crate) struct WaitsFor {
    lock_path: PathBuf,
    /// Its place in the path's queue (`None`: `try_acquire`, which holds none).
    ticket: Option<u64>,
    reentrant: bool,
}

/// The state of one lock path after a change to it, as a blocked acquisition would find it.
struct PathNow {
    /// First in the path's queue.
    front: Option<u64>,
    /// This instance holds it (an acquisition that may not re-enter finds it busy).
    held_here: bool,
    /// The ticket a release handed the path's hold to (`handover.rs`).
    granted: Option<u64>,
}

impl Sleeper {
    /// Whether a change to `changed` (`None`: to anything), leaving it as `now`, can let this
    /// thread through. A queued waiter behind the front cannot publish before the front leaves
    /// the queue, and leaving it is itself a change to the path; the front cannot either while
    /// this instance holds the path, unless it may re-enter (the release is a change too).
    fn acts_on(&self, changed: Option<&Path>, now: &PathNow) -> bool {
        let (Some(path), Some(w)) = (changed, &self.waits_for) else {
            return true;
        };
        let granted = w.ticket.is_some() && w.ticket == now.granted;
        let can_take = w.ticket == now.front && (w.reentrant || !now.held_here || granted);
        w.lock_path == path && (w.ticket.is_none() || can_take)
    }
}

/// One acquisition's place in its path's queue, and its backoff.
#[derive(Debug)]
pub(crate) struct Waiter {
    /// Taken at the first busy verdict of a waiting acquisition; `None` until then.
    pub(crate) ticket: Option<u64>,
    /// It may re-enter a hold of another thread of this instance.
    pub(crate) reentrant: bool,
    /// `try_acquire` does not queue.
    queues: bool,
    backoff: Duration,
    /// This instance's ticket in the queue across processes ([`crate::Policy::fair`]), held
    /// by the instance's front waiter while another process's lock or older ticket blocks it.
    pub(crate) disk: Option<crate::queue::DiskTicket>,
    /// It has found another process's lock busy (or released one that another process
    /// wanted): before it publishes, it lets queued waiters go first if the queue is flagged.
    pub(crate) yields: bool,
    /// When (monotonic) it, or the acquisition whose release it follows, last found the queue
    /// flag down: it looks again only after [`FLAG_RECHECK`], so a waiter that loses race after
    /// race, or a process that takes the lock in a loop, does not `stat` the flag every time.
    pub(crate) flag_down_at: Option<Duration>,
    /// Its last look at the queue across processes saw a ticket younger than its own: when it
    /// leaves the queue it is not the last, and leaves the flag up without looking again.
    pub(crate) queued_behind: bool,
}

/// How long a waiter trusts that the queue flag is down before it looks again (`queue.rs`): a
/// starved waiter's ticket is noticed this much later at worst.
pub(crate) const FLAG_RECHECK: Duration = Duration::from_micros(500);

impl Waiter {
    /// A waiting acquisition: it takes a ticket when it first finds the lock busy.
    pub(crate) fn queued(reentrant: bool) -> Self {
        Waiter {
            ticket: None,
            reentrant,
            queues: true,
            backoff: BACKOFF_START,
            disk: None,
            yields: false,
            flag_down_at: None,
            queued_behind: false,
        }
    }

    /// One attempt (`try_acquire`): no place in the queue.
    pub(crate) fn once(reentrant: bool) -> Self {
        Waiter {
            queues: false,
            ..Waiter::queued(reentrant)
        }
    }
}

impl<E: Env> LockManager<E> {
    /// Across processes, best effort: before acquiring a path this instance released less
    /// than [`HANDOFF_WINDOW`] ago while another process waited for it, waits up to
    /// [`HANDOFF_GRACE`] for that process to take it — so a process that takes a lock in a loop
    /// does not starve the others. Only delays the first attempt; real time only. Sets the
    /// waiter to yield to queued waiters when the path was released here lately, and hands
    /// it the released hold's last sight of the queue flag down (see [`FLAG_RECHECK`]).
    pub(crate) fn let_waiter_in(&self, lock_path: &Path, waiter: &mut Waiter) {
        let clock = self.inner.env.clock();
        // Before the registry lock: under a model checker that lock would be one more
        // scheduling point in every acquire (and model file systems never report a mark).
        if clock.is_virtual() || sync::MODEL_CHECKED {
            return;
        }
        let Some(note) = sync::lock(&self.inner.state).released.remove(lock_path) else {
            return;
        };
        if clock.now_mono().saturating_sub(note.at) > HANDOFF_WINDOW {
            return;
        }
        if note.wanted {
            self.inner
                .env
                .fs()
                .wait_for_taker(lock_path, HANDOFF_GRACE, clock);
        }
        waiter.yields = true;
        waiter.flag_down_at = note.flag_down_at;
    }

    /// A place at the back of `lock_path`'s queue, once, for a waiter that queues.
    pub(crate) fn take_ticket(&self, st: &mut State, lock_path: &Path, waiter: &mut Waiter) {
        if !waiter.queues || waiter.ticket.is_some() {
            return;
        }
        let t = st.next_ticket;
        st.next_ticket += 1;
        st.queues
            .entry(lock_path.to_path_buf())
            .or_default()
            .push_back(t);
        waiter.ticket = Some(t);
    }

    /// Leaves the queue (acquired, timed out or failed) and wakes the waiters behind. Returns
    /// the id of a hold a release granted this waiter and it has not taken (`handover.rs`).
    pub(crate) fn leave_queue(&self, lock_path: &Path, waiter: &Waiter) -> Option<u64> {
        let ticket = waiter.ticket?;
        let mut st = sync::lock(&self.inner.state);
        if let Some(q) = st.queues.get_mut(lock_path) {
            q.retain(|&t| t != ticket);
            if q.is_empty() {
                st.queues.remove(lock_path);
            }
        }
        let granted = match st.grants.get(lock_path) {
            Some(g) if g.ticket == ticket => st.grants.remove(lock_path).map(|g| g.hold_id),
            _ => None,
        };
        self.notify_path(&mut st, lock_path);
        // Mutant handover-lost-on-timeout: a waiter that gives up forgets the hold it was
        // granted, which nobody owns and nobody releases.
        granted.filter(|_| !mutant!(self.inner.policy, HandoverLostOnTimeout))
    }

    /// A change to anything (`release_all`, a lease): wakes every blocked thread. See
    /// [`LockManager::notify_path`].
    pub(crate) fn notify(&self, st: &mut State) {
        self.wake(st, None);
    }

    /// A change to `lock_path` (released, taken, its file I/O done, a waiter gone): wakes the
    /// blocked threads that can act on it (see [`Sleeper::acts_on`]), and bumps the generation,
    /// so that any waiter about to block sees the change.
    pub(crate) fn notify_path(&self, st: &mut State, lock_path: &Path) {
        self.wake(st, Some(lock_path));
    }

    fn wake(&self, st: &mut State, changed: Option<&Path>) {
        st.generation = st.generation.wrapping_add(1);
        if st.sleepers.is_empty() {
            return;
        }
        let now = PathNow {
            front: changed
                .and_then(|path| st.queues.get(path))
                .and_then(|q| q.front().copied()),
            // A hold a refresh found lost counts too: that finding notified everyone already.
            held_here: changed.is_some_and(|path| st.holds.contains_key(path)),
            granted: changed
                .and_then(|path| st.grants.get(path))
                .map(|g| g.ticket),
        };
        let State {
            sleepers, waits, ..
        } = st;
        for s in sleepers.iter_mut() {
            if s.acts_on(changed, &now) {
                s.notified = true;
                s.cv.notify_one();
                waits.notified += 1;
            }
        }
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

    /// How a waiter here learns that another process released or died: `inotify+pidfd`,
    /// `inotify`, or `backoff` (polling) where the environment cannot watch.
    pub fn wait_mechanism(&self) -> crate::env::WaitMechanism {
        self.inner.env.fs().wait_mechanism(self.inner.env.clock())
    }

    /// Waits for another thread of this instance (holding, taking or releasing `lock_path`)
    /// until the registry changes from `generation`, at most `dur` of real time; `waiter` says
    /// which notifications concern it (its place in the queue, whether it may re-enter).
    pub(crate) fn wait_in_instance(
        &self,
        lock_path: &Path,
        waiter: &Waiter,
        generation: u64,
        dur: Duration,
    ) {
        let st = sync::lock(&self.inner.state);
        if st.generation != generation {
            return;
        }
        let waits_for = WaitsFor {
            lock_path: lock_path.to_path_buf(),
            ticket: waiter.ticket,
            reentrant: waiter.reentrant,
        };
        drop(self.block_on_registry(st, dur, Some(waits_for)));
    }

    /// Blocks for at most `dur` of real time until a notification for `waits_for` (`None`: any
    /// change), counted as blocked (a release notifies only who is) and, after, as woken (it
    /// was notified) or timed out.
    pub(crate) fn block_on_registry<'a>(
        &'a self,
        mut st: sync::MutexGuard<'a, State>,
        dur: Duration,
        waits_for: Option<WaitsFor>,
    ) -> sync::MutexGuard<'a, State> {
        let id = st.next_sleeper;
        st.next_sleeper += 1;
        let cv = Arc::new(Condvar::new());
        st.sleepers.push(Sleeper {
            id,
            waits_for,
            cv: Arc::clone(&cv),
            notified: false,
        });
        let mut st = sync::wait_timeout(&cv, st, dur);
        let me = st.sleepers.iter().position(|s| s.id == id);
        if me.is_some_and(|i| st.sleepers.swap_remove(i).notified) {
            st.waits.woken += 1;
        } else {
            st.waits.timed_out += 1;
        }
        st
    }

    /// How this instance's threads have waited for each other on the real clock (the
    /// in-instance, notification-driven path): who is blocked now, how many notifications were
    /// sent, and how many waits a notification ended against how many ran out
    /// [`crate::Policy::instance_recheck`]. A timed-out wait means a release did not wake its
    /// waiter (or came later than the bound).
    pub fn instance_waits(&self) -> InstanceWaits {
        let st = sync::lock(&self.inner.state);
        InstanceWaits {
            blocked_now: st.sleepers.len(),
            ..st.waits
        }
    }

    /// Whether this instance's threads wait for each other by blocking on the registry until
    /// notified: on the real clock, and under loom (which then checks every such wait is
    /// notified). Elsewhere (a virtual clock, shuttle) they sleep on the clock or yield.
    pub(crate) fn blocks_in_instance(&self) -> bool {
        sync::NOTIFY_CHECKED || (!self.inner.env.clock().is_virtual() && !sync::MODEL_CHECKED)
    }

    /// A short wait for another thread's file I/O on the path (even `try_acquire` makes it).
    pub(crate) fn wait_for_progress(&self, lock_path: &Path, waiter: &Waiter, generation: u64) {
        if !self.blocks_in_instance() {
            sync::thread::yield_now();
        } else {
            let recheck = self.inner.policy.instance_recheck;
            self.wait_in_instance(lock_path, waiter, generation, recheck);
        }
    }

    /// One wait of a queued acquisition that found the lock busy, at most `remaining`.
    pub(crate) fn wait_once(
        &self,
        lock_path: &Path,
        busy: &crate::manager::Busy,
        remaining: Duration,
        waiter: &mut Waiter,
    ) {
        use crate::manager::WaitOn;
        let clock = self.inner.env.clock();
        let real = !clock.is_virtual() && !sync::MODEL_CHECKED;
        if let Some(ticket) = waiter.disk.as_mut() {
            self.refresh_ticket(lock_path, ticket);
        }
        match &busy.wait {
            WaitOn::Instance { in_progress: true } => {
                self.wait_for_progress(lock_path, waiter, busy.generation)
            }
            // The holder is in this instance: its release notifies us, no polling.
            WaitOn::Instance { .. } if self.blocks_in_instance() => {
                let recheck = self.inner.policy.instance_recheck.min(remaining);
                self.wait_in_instance(lock_path, waiter, busy.generation, recheck)
            }
            WaitOn::Process {
                seen: Some(seen),
                pid,
            } => {
                let (seen, pid) = (*seen, *pid);
                // Tell the holder someone waits: its release then lets us in before it asks
                // again (`let_waiter_in`).
                self.inner.env.fs().mark_wanted(lock_path);
                let on = Watched::LockFile { seen, pid };
                self.watch_or_back_off(lock_path, on, remaining, waiter);
            }
            // The file changed hands under every look of the attempt: the lock is churning, not
            // held long. Look again after the shortest backoff instead of a growing one (which
            // reached 50-75 ms sleeps with 8 processes on one lock).
            WaitOn::Process { seen: None, .. } if real => {
                waiter.backoff = BACKOFF_START;
                self.back_off(remaining, waiter);
            }
            // An older waiter of another process is queued: wait for its ticket to go.
            WaitOn::Queue { ahead } => {
                self.watch_or_back_off(ahead, Watched::Ticket, remaining, waiter)
            }
            // In model time, or nothing to watch (the file kept changing).
            _ => self.back_off(remaining, waiter),
        }
    }

    /// The fallback: a jittered sleep on the clock, doubling up to [`BACKOFF_MAX`].
    fn back_off(&self, remaining: Duration, waiter: &mut Waiter) {
        let clock = self.inner.env.clock();
        clock.sleep(jitter(clock, waiter.backoff).min(remaining));
        waiter.backoff = (waiter.backoff * 2).min(BACKOFF_MAX);
    }

    /// [`Self::watch`], which starts the backoff over; where the environment cannot watch, the
    /// backoff instead.
    fn watch_or_back_off(
        &self,
        path: &Path,
        on: Watched,
        remaining: Duration,
        waiter: &mut Waiter,
    ) {
        if self.watch(path, on, remaining) {
            waiter.backoff = BACKOFF_START;
        } else {
            self.back_off(remaining, waiter);
        }
    }

    /// Waits on `path` as `on` says through the environment's watch: arm, look again, block
    /// at most [`BACKOFF_MAX`]. False where it cannot watch.
    fn watch(&self, path: &Path, on: Watched, remaining: Duration) -> bool {
        let env = &self.inner.env;
        let (seen, pid) = match on {
            Watched::LockFile { seen, pid } => (Some(seen), pid),
            Watched::Ticket => (None, None),
        };
        // Mutant lost-wakeup: block for the whole timeout on a watch armed after the last look,
        // without looking again — a release or death in between is slept through.
        let lost = mutant!(self.inner.policy, LostWakeup);
        let wait = WaitFor {
            lock_path: path,
            owner: pid,
            timeout: if lost {
                remaining
            } else {
                remaining.min(BACKOFF_MAX)
            },
            clock: env.clock(),
            ticket: matches!(on, Watched::Ticket),
        };
        let mut still_blocked = |owner_watched: bool| {
            lost || (env
                .fs()
                .metadata(path)
                .is_ok_and(|m| seen.is_none_or(|s| m.id == s))
                && (owner_watched || pid.is_none_or(|p| env.procs().probe(p) != Liveness::Dead)))
        };
        env.fs()
            .wait_for_change(&wait, &mut still_blocked)
            .is_some()
    }
}

/// What a waiter for another process watches.
#[derive(Clone, Copy)]
enum Watched {
    /// The lock file `seen` going, and its owner `pid` (in our pid namespace) exiting.
    LockFile { seen: FileId, pid: Option<u32> },
    /// The queue ticket of the waiter just ahead going.
    Ticket,
}

/// `d` scaled by a random factor in [0.5, 1.5): contenders do not retry in lock step.
pub(crate) fn jitter(clock: &impl Clock, d: Duration) -> Duration {
    let permille = 500 + clock.random_u64() % 1000;
    d * permille as u32 / 1000
}

#[cfg(test)]
#[allow(clippy::disallowed_methods, clippy::expect_used)]
mod flag_memo_tests {
    use super::FLAG_RECHECK;
    use crate::env::{Clock, Env};
    use crate::test_support::{scratch_manager_on, RealHandClock};
    use crate::{AcquireOptions, LockError, Policy};
    use std::time::Duration;

    /// One attempt, no waiting.
    const AT_ONCE: AcquireOptions = AcquireOptions {
        reentrant: true,
        timeout: Some(Duration::ZERO),
    };

    /// A waiter of another process (pid 77) queues for `lock`: a fresh ticket, and the flag up.
    fn another_waiter_queues<E: Env>(m: &crate::LockManager<E>, lock: &std::path::Path) {
        let now = m.env().clock().now_wall_ms();
        let ticket = crate::queue::ticket_path(lock, now, 77, 1).expect("a ticket path");
        std::fs::write(&ticket, b"").expect("plant a ticket");
        let flag = crate::queue::flag_path(lock).expect("a flag path");
        std::fs::write(flag, b"").expect("raise the flag");
    }

    // P11 (a process that takes the lock in a loop looks at the queue flag once per
    // FLAG_RECHECK, not per acquisition): an acquisition right after this instance's release
    // trusts the released hold's sight of the flag down — it takes the lock although a flag and
    // a fresh ticket of another process appeared since — and once FLAG_RECHECK has passed it
    // looks, and lets that waiter go first.
    #[test]
    fn an_acquisition_after_a_release_trusts_its_sight_of_the_flag_for_flag_recheck() {
        let (dir, lock, m) = scratch_manager_on::<RealHandClock>(Policy::default());
        let session = dir.path().join("s.jsonl");
        // The first acquisition does not look (nothing released yet); the second looks, down.
        drop(m.acquire_with(&session, AT_ONCE).expect("first"));
        drop(m.acquire_with(&session, AT_ONCE).expect("second"));
        another_waiter_queues(&m, &lock);
        drop(
            m.acquire_with(&session, AT_ONCE)
                .expect("trusted: not looked"),
        );
        m.env()
            .clock()
            .sleep(FLAG_RECHECK.max(Duration::from_millis(1)));
        let looked = m.acquire_with(&session, AT_ONCE).map(drop);
        assert!(matches!(looked, Err(LockError::Busy { .. })), "{looked:?}");
    }

    // P11 (the handoff window is HANDOFF_WINDOW): an acquisition exactly that long after this
    // instance's release still counts as taking the lock back — it looks at the queue flag (the
    // released hold never looked) and lets the queued waiter go first; one later is a newcomer
    // and does not look.
    #[test]
    fn only_an_acquisition_within_the_handoff_window_yields() {
        let later = super::HANDOFF_WINDOW + Duration::from_millis(1);
        for (after, yields) in [(super::HANDOFF_WINDOW, true), (later, false)] {
            let (dir, lock, m) = scratch_manager_on::<RealHandClock>(Policy::default());
            let session = dir.path().join("s.jsonl");
            drop(m.acquire_with(&session, AT_ONCE).expect("first"));
            another_waiter_queues(&m, &lock);
            m.env().clock().sleep(after);
            let got = m.acquire_with(&session, AT_ONCE).map(drop);
            assert_eq!(got.is_err(), yields, "{after:?} after: {got:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::jitter;
    use crate::env::FixedRandom as Fixed;
    use std::time::Duration;

    // P11 (bounded backoff): the jitter scales a sleep by a factor in [0.5, 1.5) over the whole
    // range of random numbers — never more, never an overflow at the ends.
    #[test]
    fn p11_jitter_stays_within_half_and_one_and_a_half() {
        let d = Duration::from_millis(10);
        let cases = [
            (0, 5_000),
            (499, 9_990),
            (500, 10_000),
            (999, 14_990),
            (u64::MAX, 11_150),
        ];
        for (random, want_us) in cases {
            assert_eq!(
                jitter(&Fixed(random), d),
                Duration::from_micros(want_us),
                "random {random}"
            );
        }
    }
}
