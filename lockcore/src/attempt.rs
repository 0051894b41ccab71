//! One acquisition attempt, in three steps, so that the registry lock is never held across a
//! file system call and acquisitions of different sessions in one process run in parallel:
//!
//! 1. **claim** (under the registry lock): the `release_all` gate, re-entry, the first come,
//!    first served queue, and the path's in-progress mark — at most one thread of this instance
//!    does file I/O on a lock path at a time; the payload takes the current nonce here;
//! 2. **contend** (no lock): publish, observe, judge and reclaim, up to three rounds;
//! 3. **finish** (under the registry lock): the in-progress mark goes and, on success, the hold
//!    is registered in the same step, so a `release_all` sees either the claim (and waits for
//!    it: it drains in-progress work behind its gate) or the hold (in its snapshot), never
//!    neither.
//!
//! Judging a file needs the nonce and whether this instance holds that file: both are read in
//! one short critical section, and the classification (which may probe a pid) runs outside it.
//! That snapshot is sound because a file's token belongs to one acquisition, which is in
//! progress, held or being released from before its file exists until after it is gone.

use crate::classify::{classify, mutant, LiveReason, Me, Observed, Policy, Verdict};
use crate::env::{Clock, Env, ProcessIdentity, Procs};
use crate::error::{LockError, Owner};
use crate::manager::{Acquired, Blocked, Busy, LockGuard, LockManager, Seen};
use crate::payload::Payload;
use crate::registry::{InProgress, State};
use crate::sync;
use crate::wait::Waiter;
use std::path::Path;

/// How many publish/reclaim rounds one attempt makes before it reports the lock busy.
const ROUNDS_PER_ATTEMPT: usize = 3;

/// What the claim step decided.
enum Claimed<E: Env> {
    /// This instance holds the path already: re-entered, or handed over to this waiter by a
    /// release (`handover.rs`); nothing to publish.
    Held(LockGuard<E>),
    /// The path is ours to publish: this payload, under the in-progress mark.
    Publish(Payload, Vec<u8>),
}

/// Removes a claim's in-progress mark if the contend step unwinds (a bug would otherwise block
/// the path in this instance, and every `release_all`, for good).
struct ClaimMark<'a, E: Env> {
    mgr: &'a LockManager<E>,
    lock_path: &'a Path,
    armed: bool,
}

impl<E: Env> Drop for ClaimMark<'_, E> {
    fn drop(&mut self) {
        if self.armed {
            let mut st = sync::lock(&self.mgr.inner.state);
            st.in_progress.remove(self.lock_path);
            self.mgr.notify_path(&mut st, self.lock_path);
        }
    }
}

impl<E: Env> LockManager<E> {
    /// One attempt: claim, contend, finish (see the module doc). A busy outcome takes a place in
    /// the path's queue for `waiter` when it queues and has none yet, in the same critical
    /// section that saw the lock busy.
    pub(crate) fn attempt(
        &self,
        lock_path: &Path,
        waiter: &mut Waiter,
    ) -> Result<LockGuard<E>, Blocked> {
        let (payload, bytes) = match self.claim(lock_path, waiter)? {
            Claimed::Held(guard) => return Ok(guard),
            Claimed::Publish(payload, bytes) => (payload, bytes),
        };
        let mut mark = ClaimMark {
            mgr: self,
            lock_path,
            armed: true,
        };
        // A queued waiter (and every attempt of a fair instance) lets older waiters of other
        // processes go first, and so does a waiter not queued yet while the queue is flagged.
        let own = waiter.disk.as_ref().map(|t| t.path.as_path());
        let ahead = if self.inner.policy.fair || own.is_some() {
            let (ahead, behind) = self.queue_around(lock_path, own);
            waiter.queued_behind = behind;
            ahead
        } else if waiter.yields {
            self.flagged_ticket(lock_path, &mut waiter.flag_down_at)
        } else {
            None
        };
        let outcome = match ahead {
            Some(ahead) => Err(Blocked::Busy(Busy::queued(ahead))),
            None => self.contend(lock_path, &payload, &bytes),
        };
        mark.armed = false;
        let mut st = sync::lock(&self.inner.state);
        st.in_progress.remove(lock_path);
        match outcome {
            Ok(how) => {
                let guard = self.register(&mut st, lock_path, bytes, payload, how);
                if let Some(hold) = st.holds.get_mut(lock_path) {
                    hold.flag_down_at = waiter.flag_down_at;
                }
                self.notify_path(&mut st, lock_path);
                Ok(guard)
            }
            Err(Blocked::Busy(mut busy)) => {
                // Our own notify must not wake us: keep the generation current if nothing else
                // changed since the busy verdict.
                let quiet = st.generation == busy.generation;
                self.notify_path(&mut st, lock_path);
                busy.generation = if quiet { st.generation } else { 0 };
                self.take_ticket(&mut st, lock_path, waiter);
                Err(Blocked::Busy(busy))
            }
            Err(fatal) => {
                self.notify_path(&mut st, lock_path);
                Err(fatal)
            }
        }
    }

    /// Step 1, under the registry lock.
    fn claim(&self, lock_path: &Path, waiter: &mut Waiter) -> Result<Claimed<E>, Blocked> {
        let policy = &self.inner.policy;
        let (ticket, reentrant) = (waiter.ticket, waiter.reentrant);
        let mut st = sync::lock(&self.inner.state);
        // A release handed this waiter its hold: taken before the gate (a `release_all` since
        // has ended it, and then it is not offered).
        if let Some(guard) = self.take_grant(&mut st, lock_path, ticket) {
            return Ok(Claimed::Held(guard));
        }
        self.ensure_heartbeat(&mut st);
        let mut busy_here = |st: &mut State, in_progress: bool| {
            let busy = Busy::here(st.generation, in_progress);
            self.take_ticket(st, lock_path, waiter);
            Err(Blocked::Busy(busy))
        };
        if st.closing == Some(st.epoch) {
            return busy_here(&mut st, false);
        }
        if st.holds.get(lock_path).is_some_and(|h| h.compromised) {
            // Lost to another owner: its guard is inert already; this is a fresh acquisition.
            st.holds.remove(lock_path);
        }
        if let Some(hold) = st.holds.get_mut(lock_path) {
            if !reentrant {
                return busy_here(&mut st, false);
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
            return Ok(Claimed::Held(self.guard(
                lock_path,
                id,
                payload,
                Acquired::Reentered,
            )));
        }
        // Another thread of this instance is publishing, reclaiming or releasing this path: a
        // short wait for it, which even `try_acquire` makes (it used to block on the registry).
        if st.in_progress.contains_key(lock_path) {
            return busy_here(&mut st, true);
        }
        // First come, first served inside this instance: only the oldest waiter publishes, and a
        // newcomer (a releasing thread taking the lock straight back, say) queues behind it.
        // Mutant barging: no queue order — whoever looks first when the lock is free publishes.
        let first = st.queues.get(lock_path).and_then(|q| q.front().copied());
        if !mutant!(self.inner.policy, Barging) && first.is_some_and(|t| Some(t) != ticket) {
            return busy_here(&mut st, false);
        }
        let payload = self.new_payload(&mut st);
        let bytes = payload.to_bytes();
        let token = payload.token.clone().unwrap_or_default();
        st.in_progress
            .insert(lock_path.to_path_buf(), InProgress::Acquiring { token });
        Ok(Claimed::Publish(payload, bytes))
    }

    fn new_payload(&self, st: &mut State) -> Payload {
        let clock = self.inner.env.clock();
        Payload {
            pid: self.inner.identity.pid,
            nonce: Some(st.nonce.clone()),
            created_at_ms: clock.now_wall_ms(),
            starttime: self.inner.identity.start_time,
            host: self.inner.identity.host.clone(),
            token: Some(st.next_token()),
            lease: self.declared_lease(st),
        }
    }

    /// Step 2, without the registry lock: publish, or judge what blocks us and reclaim it.
    fn contend(
        &self,
        lock_path: &Path,
        payload: &Payload,
        bytes: &[u8],
    ) -> Result<Acquired, Blocked> {
        let policy = &self.inner.policy;
        let token = payload.token.as_deref().unwrap_or("");
        let mut how = Acquired::Fresh;
        let mut last_owner = Owner::Unknown;
        for _ in 0..ROUNDS_PER_ATTEMPT {
            if self.publish(lock_path, bytes, token)? {
                return Ok(how);
            }
            let Some(seen) = self.observe(lock_path)? else {
                continue;
            };
            let (verdict, generation) = self.judge(lock_path, &seen);
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
                    return Err(Blocked::Busy(
                        self.busy_on(reason, last_owner, &seen, generation),
                    ));
                }
                Verdict::Stale(reason) => {
                    how = Acquired::Reclaimed(reason);
                    if mutant!(policy, RenameTakeover) {
                        self.rename_over(lock_path, bytes, token)?;
                        return Ok(how);
                    }
                    self.remove_if_unchanged(lock_path, &seen)?;
                }
            }
        }
        Err(Blocked::Busy(Busy::process(last_owner, None, None)))
    }

    /// What a live file makes us wait for: this instance (a notify), or another process (a
    /// watch on the file and, in our pid namespace, on its owner).
    fn busy_on(&self, reason: LiveReason, owner: Owner, seen: &Seen, generation: u64) -> Busy {
        if reason == LiveReason::HeldHere {
            return Busy::here(generation, false);
        }
        let pid = seen
            .parsed
            .as_ref()
            .ok()
            .filter(|p| in_our_namespace(p, &self.inner.identity, &self.inner.policy))
            .map(|p| p.pid);
        Busy::process(owner, Some(seen.meta.id), pid)
    }

    /// Judges a file seen at `lock_path`: the nonce and whether this instance holds that file
    /// are read under the registry lock (with the generation, for a waiter); the classification,
    /// which may probe a pid, runs outside it.
    pub(crate) fn judge(&self, lock_path: &Path, seen: &Seen) -> (Verdict, u64) {
        let token = seen.parsed.as_ref().ok().and_then(|p| p.token.as_deref());
        let (nonce, in_flight, generation) = {
            let st = sync::lock(&self.inner.state);
            (
                st.nonce.clone(),
                st.is_ours(lock_path, token),
                st.generation,
            )
        };
        let now_ms = self.inner.env.clock().now_wall_ms();
        let observed = Observed {
            payload: seen.parsed.as_ref(),
            mtime_age_ms: now_ms - seen.meta.mtime_ms,
            now_ms,
        };
        let me = Me {
            identity: &self.inner.identity,
            nonce: &nonce,
            in_flight,
            boot_ms: self.inner.boot_ms,
        };
        let procs = self.inner.env.procs();
        let verdict = classify(&observed, &me, &self.inner.policy, &mut |pid| {
            procs.probe_with_start_time(pid)
        });
        (verdict, generation)
    }
}

/// The file's writer lives in our pid namespace and is not us, by the rule `classify` uses for
/// the pid rules: the same host (hostname + pid namespace), or no host where the policy says the
/// directory has one pid namespace. Only then can a pidfd on its pid watch the right process.
fn in_our_namespace(p: &Payload, me: &ProcessIdentity, policy: &Policy) -> bool {
    let same_host = match (&p.host, &me.host) {
        (Some(theirs), Some(ours)) => theirs == ours,
        (None, _) => policy.same_pid_namespace,
        (Some(_), None) => false,
    };
    same_host && p.pid != me.pid
}

#[cfg(test)]
mod tests {
    use super::in_our_namespace;
    use crate::{Payload, Policy, ProcessIdentity};

    fn file(pid: u32, host: Option<&str>) -> Payload {
        Payload {
            pid,
            nonce: Some("n".into()),
            created_at_ms: 0,
            starttime: None,
            host: host.map(str::to_string),
            token: Some("t".into()),
            lease: None,
        }
    }

    fn me(host: Option<&str>) -> ProcessIdentity {
        ProcessIdentity {
            pid: 10,
            host: host.map(str::to_string),
            start_time: None,
        }
    }

    // P11 (wake on death, the right process): a waiter watches the owner's pid only where that
    // pid names the owner — our host and pid namespace, or a host-less file where the policy
    // says the directory has one pid namespace — and never its own pid.
    #[test]
    fn p11_only_an_owner_in_our_pid_namespace_is_watched_by_pid() {
        let same_ns = Policy {
            same_pid_namespace: true,
            ..Policy::default()
        };
        let cases = [
            (
                file(7, Some("h/ns1")),
                me(Some("h/ns1")),
                Policy::default(),
                true,
            ),
            (
                file(7, Some("h/ns2")),
                me(Some("h/ns1")),
                Policy::default(),
                false,
            ),
            (file(7, Some("h/ns1")), me(None), Policy::default(), false),
            (file(7, None), me(Some("h/ns1")), Policy::default(), false),
            (file(7, None), me(Some("h/ns1")), same_ns.clone(), true),
            (
                file(10, Some("h/ns1")),
                me(Some("h/ns1")),
                Policy::default(),
                false,
            ),
            (file(10, None), me(None), same_ns, false),
        ];
        for (i, (p, me, policy, want)) in cases.into_iter().enumerate() {
            assert_eq!(
                in_our_namespace(&p, &me, &policy),
                want,
                "case {i}: {p:?} {me:?}"
            );
        }
    }
}
