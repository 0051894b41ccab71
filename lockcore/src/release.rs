//! Releasing: a guard's release (with its handover to the oldest waiter of the instance, see
//! `handover.rs`) and `release_all`, which removes every hold of the epoch behind its gate and only
//! then rotates the nonce (P3), and the two historic `release_all` bugs of the catalogue.

use crate::classify::mutant;
use crate::env::{Clock, Env, Fs};
use crate::error::{FsOp, LockError};
use crate::manager::{new_nonce, not_found, LockManager, ReleaseReport, Released};
use crate::registry::{Hold, InProgress, ReleaseNote, State};
use crate::sync::{self, MutexGuard};
use crate::wait::BACKOFF_START;
use std::path::{Path, PathBuf};

impl<E: Env> LockManager<E> {
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
        let (bytes, flag_down_at) = (hold.bytes.clone(), hold.flag_down_at);
        let front = self.handover_front(&st, lock_path, &hold);
        st.in_progress
            .insert(lock_path.to_path_buf(), InProgress::Releasing(hold));
        drop(st);
        if let Some(released) = front.and_then(|t| self.hand_over(lock_path, &bytes, t)) {
            // Let the thread we handed the lock to run: with more threads than cores it
            // otherwise waits for a time slice while this one goes on (a performance hint only;
            // contended_in_process/8's longest wait, median of 8: 2.0 → 0.7 ms).
            if !sync::MODEL_CHECKED && !self.inner.env.clock().is_virtual() {
                sync::thread::yield_now();
            }
            return Ok(released);
        }
        let result = self.delete_if_ours_noting_waiters(lock_path, &bytes);
        let mut st = sync::lock(&self.inner.state);
        st.in_progress.remove(lock_path);
        if let Ok((Released::Removed, wanted)) = result {
            let at = self.inner.env.clock().now_mono();
            let note = ReleaseNote {
                at,
                wanted,
                flag_down_at,
            };
            st.note_released(lock_path, note);
        }
        self.notify_path(&mut st, lock_path);
        result.map(|(released, _)| released)
    }
}
