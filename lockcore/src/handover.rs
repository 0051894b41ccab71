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
//! [`crate::Policy::handover_keep`] (default [`HANDOVER_KEEP`], 10 ms), so a busy instance still releases through the file at least that often
//! and a waiter of another process that cannot mark the file is not shut out for good.
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
use crate::manager::{Acquired, Hold, InProgress, LockGuard, LockManager, Released, State};
use crate::payload::MAX_PAYLOAD_BYTES;
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
