//! Handing a released lock to the oldest waiter of this instance without the file going: the
//! release checks the file is still exactly ours, then gives its hold to the front of the
//! path's queue, and the lock file stays where it is.
//!
//! **Why:** to another thread, a release that removes the file and a publish that makes it again
//! cost one uncontended acquire + release (the file system's floor); a handover costs one read
//! and one wake-up. **When:** only while nobody else can be starved or misled by it — never in
//! a fair instance (older waiters of other processes hold tickets), never when another process
//! has marked the file (it waits for it: the file goes, as before), never while `release_all`
//! closes the epoch, never for a file that declares a maximum hold (its `createdAt` starts the
//! maximum hold, which a new holder did not declare), and only while the file is younger than
//! [`crate::Policy::handover_keep`] (default [`HANDOVER_KEEP`], 10 ms), so a busy instance
//! still releases through the file at least that often and a waiter of another process that
//! cannot mark the file is not shut out for good.
//! **Caveat:** a handed-over guard's payload (token, `createdAt`) is the file's, which an
//! earlier thread of this instance published; to every other process it is one hold.
//!
//! A grant is made under the registry lock to the queue's front ticket, and is a hold in the
//! registry from then on: the waiter takes it at its next attempt, or — if it gives up (timeout,
//! error) before that — when it leaves the queue, which turns a timeout into success and
//! releases the grant on any other exit (never a hold nobody owns).

use crate::classify::mutant;
use crate::env::{Clock, Env, Fs};
use crate::error::LockError;
use crate::manager::{Acquired, LockGuard, LockManager, Released};
use crate::payload::MAX_PAYLOAD_BYTES;
use crate::registry::{Hold, InProgress, State};
use crate::sync;
use std::path::Path;
use std::time::Duration;

/// The default of [`crate::Policy::handover_keep`]: the oldest a lock file may be and still be
/// handed along, so a busy instance releases through the file (and a waiter of another process
/// may take it) at least this often.
pub const HANDOVER_KEEP: Duration = Duration::from_millis(10);

/// A hold granted to a queued waiter that has not taken it yet.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Grant {
    pub(crate) ticket: u64,
    pub(crate) hold_id: u64,
}

impl<E: Env> LockManager<E> {
    /// The front waiter's ticket if the last hold of `lock_path` (just taken out of the registry)
    /// may be handed to it, by the rules in the module doc that need no file system call.
    pub(crate) fn handover_front(&self, st: &State, lock_path: &Path, hold: &Hold) -> Option<u64> {
        let policy = &self.inner.policy;
        let front = st.queues.get(lock_path)?.front().copied()?;
        let age = self
            .inner
            .env
            .clock()
            .now_mono()
            .saturating_sub(hold.published);
        let max_hold = hold.payload.lease.and_then(|l| l.max_hold_ms).is_some();
        let eligible = !policy.fair
            && !mutant!(policy, Barging)
            && st.closing != Some(st.epoch)
            && !max_hold
            && age < policy.handover_keep;
        eligible.then_some(front)
    }

    /// Hands the hold being released at `lock_path` (its in-progress mark) to the waiter with
    /// `ticket` if the file is still exactly ours, no other process has marked it, and that
    /// waiter is still the front. `None`: not handed over, the caller removes the file as usual.
    pub(crate) fn hand_over(&self, lock_path: &Path, ours: &[u8], ticket: u64) -> Option<Released> {
        // A read without the directory's reclaim lock: nothing is removed here, and a file that
        // is ours and held here is never judged stale by a reclaimer whose holder refreshes it.
        match self
            .inner
            .env
            .fs()
            .read_noting_waiters(lock_path, MAX_PAYLOAD_BYTES)
        {
            Ok((bytes, wanted)) if bytes == ours && !wanted => {}
            _ => return None,
        }
        let mut st = sync::lock(&self.inner.state);
        let front = st.queues.get(lock_path).and_then(|q| q.front().copied());
        if front != Some(ticket) || st.closing == Some(st.epoch) {
            return None;
        }
        let Some(InProgress::Releasing(hold)) = st.in_progress.remove(lock_path) else {
            return None;
        };
        let hold_id =
            self.register_hold(&mut st, lock_path, hold.bytes, hold.payload, hold.published);
        st.grants
            .insert(lock_path.to_path_buf(), Grant { ticket, hold_id });
        self.notify_path(&mut st, lock_path);
        Some(Released::HandedOver)
    }

    /// The hold granted to `ticket` at `lock_path`, taken: its guard, if the hold is still live
    /// (a `release_all` or a refresh that found the file lost may have ended it since).
    pub(crate) fn take_grant(
        &self,
        st: &mut State,
        lock_path: &Path,
        ticket: Option<u64>,
    ) -> Option<LockGuard<E>> {
        let grant = *st.grants.get(lock_path)?;
        if Some(grant.ticket) != ticket {
            return None;
        }
        st.grants.remove(lock_path);
        self.granted_guard(st, lock_path, grant.hold_id)
    }

    fn granted_guard(&self, st: &State, lock_path: &Path, hold_id: u64) -> Option<LockGuard<E>> {
        let hold = st
            .holds
            .get(lock_path)
            .filter(|h| h.id == hold_id && !h.compromised)?;
        Some(self.guard(
            lock_path,
            hold_id,
            hold.payload.clone(),
            Acquired::HandedOver,
        ))
    }

    /// An acquisition that left its queue with a grant it had not taken (see the module doc):
    /// a timeout becomes the granted hold; any other outcome releases it.
    pub(crate) fn settle_grant(
        &self,
        lock_path: &Path,
        hold_id: u64,
        result: Result<LockGuard<E>, LockError>,
    ) -> Result<LockGuard<E>, LockError> {
        if matches!(result, Err(LockError::Busy { .. })) {
            let st = sync::lock(&self.inner.state);
            if let Some(guard) = self.granted_guard(&st, lock_path, hold_id) {
                return Ok(guard);
            }
            return result;
        }
        // Nobody owns it: release it as its guard would (to the next waiter, or the file goes).
        let _ = self.release_hold(lock_path, hold_id);
        result
    }
}

#[cfg(test)]
#[allow(clippy::expect_used, clippy::unwrap_used)]
mod tests {
    use crate::env::{Clock, Env};
    use crate::manager::{Acquired, Released};
    use crate::registry::InProgress;
    use crate::sync;
    use crate::test_support::{scratch_manager_with, HandManager};
    use crate::Policy;
    use std::collections::VecDeque;
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    const FRONT: u64 = 5;

    type HandGuard = crate::LockGuard<crate::test_support::HandEnv>;

    /// A manager with `policy` holding `s.jsonl` (its file on disk, published at monotonic 0),
    /// and the lock path.
    fn holding(policy: Policy) -> (tempfile::TempDir, PathBuf, HandManager) {
        let (dir, lock, m) = scratch_manager_with(policy);
        let g = m.try_acquire(&dir.path().join("s.jsonl")).unwrap();
        std::mem::forget(g); // the hold stays; the tests take it apart by hand
        (dir, lock, m)
    }

    fn queue(m: &HandManager, lock: &Path, tickets: &[u64]) {
        let mut st = sync::lock(&m.inner.state);
        st.queues
            .insert(lock.to_path_buf(), VecDeque::from(tickets.to_vec()));
    }

    fn front_now(m: &HandManager, lock: &Path) -> Option<u64> {
        let st = sync::lock(&m.inner.state);
        let hold = st.holds.get(lock).unwrap().clone();
        m.handover_front(&st, lock, &hold)
    }

    // P11 (a busy instance still releases through the directory): a file is handed along only
    // while it is younger than `handover_keep` — at 9 ms of 10 yes, at 10 ms no — and zero
    // never hands over, even at age zero.
    #[test]
    fn the_keep_bound_is_exclusive_and_zero_turns_handovers_off() {
        let (_dir, lock, m) = holding(Policy::default());
        queue(&m, &lock, &[FRONT]);
        m.inner.env.clock().sleep(Duration::from_millis(9));
        assert_eq!(front_now(&m, &lock), Some(FRONT));
        m.inner.env.clock().sleep(Duration::from_millis(1));
        assert_eq!(
            front_now(&m, &lock),
            None,
            "10 ms old: not younger than 10 ms"
        );
        let never = Policy {
            handover_keep: Duration::ZERO,
            ..Policy::default()
        };
        let (_dir, lock, m) = holding(never);
        queue(&m, &lock, &[FRONT]);
        assert_eq!(front_now(&m, &lock), None, "age zero, keep zero");
    }

    // P11, P13 (no handover that would bypass an older claim or stretch a declared maximum
    // hold): nobody queued, a fair instance, a closing epoch or a file that declares a maximum
    // hold each rule a handover out, on an otherwise eligible file.
    #[test]
    fn each_rule_of_eligibility_can_say_no() {
        let (_dir, lock, m) = holding(Policy::default());
        assert_eq!(front_now(&m, &lock), None, "nobody queued");
        queue(&m, &lock, &[FRONT, FRONT + 1]);
        assert_eq!(front_now(&m, &lock), Some(FRONT), "the oldest waiter");
        {
            let mut st = sync::lock(&m.inner.state);
            st.closing = Some(st.epoch);
        }
        assert_eq!(
            front_now(&m, &lock),
            None,
            "release_all is closing the epoch"
        );
        // (policy, handed over before the manual heartbeat, after it): a fair instance never
        // hands over; a maximum hold is declared (with a lease) only once something refreshes.
        let fair = Policy {
            fair: true,
            ..Policy::default()
        };
        let max_hold = Policy {
            max_hold: Some(Duration::from_secs(60)),
            ..Policy::default()
        };
        for (policy, before, after) in [(fair, None, None), (max_hold, Some(FRONT), None)] {
            let (_dir, lock, m) = holding(policy.clone());
            m.use_manual_heartbeat();
            let g = m.try_acquire(&lock.with_file_name("t.jsonl")).unwrap();
            let declared = g.lock_path().to_path_buf();
            std::mem::forget(g);
            queue(&m, &lock, &[FRONT]);
            queue(&m, &declared, &[FRONT]);
            assert_eq!(front_now(&m, &lock), before, "{policy:?}");
            assert_eq!(front_now(&m, &declared), after, "{policy:?}");
        }
    }

    /// Takes `lock`'s hold out of the registry as a release does before its file I/O; its bytes.
    fn start_release(m: &HandManager, lock: &Path) -> Vec<u8> {
        let mut st = sync::lock(&m.inner.state);
        let hold = st.holds.remove(lock).unwrap();
        let bytes = hold.bytes.clone();
        st.in_progress
            .insert(lock.to_path_buf(), InProgress::Releasing(hold));
        bytes
    }

    // P9, P1 (a grant goes only to a waiter that is still the front, never during release_all):
    // after its read, a release looks again — a front that left, or a closing epoch, keeps the
    // release on the usual path (its in-progress mark left for it); else the front is granted
    // a new hold of the same file, which only its own ticket takes.
    #[test]
    fn a_grant_is_made_only_to_the_front_that_is_still_there() {
        let (_dir, lock, m) = holding(Policy::default());
        let bytes = start_release(&m, &lock);
        queue(&m, &lock, &[FRONT + 1]);
        assert_eq!(m.hand_over(&lock, &bytes, FRONT), None, "the front left");
        queue(&m, &lock, &[FRONT]);
        {
            let mut st = sync::lock(&m.inner.state);
            st.closing = Some(st.epoch);
        }
        assert_eq!(m.hand_over(&lock, &bytes, FRONT), None, "closing");
        assert!(sync::lock(&m.inner.state).in_progress.contains_key(&lock));
        sync::lock(&m.inner.state).closing = None;
        assert_eq!(
            m.hand_over(&lock, &bytes, FRONT),
            Some(Released::HandedOver)
        );
        let mut st = sync::lock(&m.inner.state);
        assert!(!st.in_progress.contains_key(&lock));
        let grant = *st.grants.get(&lock).unwrap();
        assert_eq!(grant.ticket, FRONT);
        assert_eq!(st.holds.get(&lock).unwrap().id, grant.hold_id);
        // Guards are forgotten, never dropped, while the registry is locked here (a drop
        // releases, which takes that lock): a wrong answer fails the test instead of hanging it.
        let other = taken(m.take_grant(&mut st, &lock, Some(FRONT + 1)));
        let none = taken(m.take_grant(&mut st, &lock, None));
        let front = taken(m.take_grant(&mut st, &lock, Some(FRONT)));
        let left = st.grants.len();
        drop(st);
        assert_eq!(
            (other, none),
            (None, None),
            "only the front's ticket takes it"
        );
        assert_eq!(front, Some(Acquired::HandedOver));
        assert_eq!(left, 0);
    }

    // P11, P9 (a grant is its waiter's alone): a waiter behind the front that leaves the queue
    // (its timeout) neither takes the front's grant nor drops it; the front, leaving, gets it.
    #[test]
    fn only_the_granted_waiter_leaves_the_queue_with_its_grant() {
        let (_dir, lock, m) = holding(Policy::default());
        let bytes = start_release(&m, &lock);
        queue(&m, &lock, &[FRONT, FRONT + 1]);
        assert_eq!(
            m.hand_over(&lock, &bytes, FRONT),
            Some(Released::HandedOver)
        );
        let waiter = |ticket| {
            let mut w = crate::wait::Waiter::queued(false);
            w.ticket = Some(ticket);
            w
        };
        assert_eq!(m.leave_queue(&lock, &waiter(FRONT + 1)), None);
        let id = sync::lock(&m.inner.state)
            .grants
            .get(&lock)
            .map(|g| g.hold_id);
        assert!(id.is_some(), "the front's grant stays");
        assert_eq!(m.leave_queue(&lock, &waiter(FRONT)), id);
        assert!(sync::lock(&m.inner.state).grants.is_empty());
    }

    /// How a guard was acquired, the guard itself forgotten (see the caller).
    fn taken(g: Option<HandGuard>) -> Option<Acquired> {
        let how = g.as_ref().map(crate::LockGuard::how);
        std::mem::forget(g);
        how
    }

    // P15 (a lost hold is never handed on): a grant whose hold a refresh found compromised, or
    // whose hold is not the one granted any more, gives its waiter nothing — and is gone.
    #[test]
    fn a_grant_of_a_lost_or_replaced_hold_gives_nothing() {
        let (_dir, lock, m) = holding(Policy::default());
        let bytes = start_release(&m, &lock);
        queue(&m, &lock, &[FRONT]);
        assert_eq!(
            m.hand_over(&lock, &bytes, FRONT),
            Some(Released::HandedOver)
        );
        let mut st = sync::lock(&m.inner.state);
        let id = st.grants.get(&lock).unwrap().hold_id;
        st.holds.get_mut(&lock).unwrap().compromised = true;
        let lost = taken(m.take_grant(&mut st, &lock, Some(FRONT)));
        let left = st.grants.len();
        st.holds.get_mut(&lock).unwrap().compromised = false;
        let replaced = taken(m.granted_guard(&st, &lock, id + 1));
        let granted = taken(m.granted_guard(&st, &lock, id));
        drop(st);
        assert_eq!(lost, None, "a compromised hold");
        assert_eq!(left, 0, "taken, though it gave nothing");
        assert_eq!(replaced, None, "another hold");
        assert_eq!(granted, Some(Acquired::HandedOver));
    }
}
