//! The waiter's watch, simulated: Linux's inotify on the lock's directory and a pidfd on the
//! owner, as [`lockcore::Fs::wait_for_change`] uses them in the real environment.
//!
//! Arming is one step, and every removal or rename of the watched path fires the watches armed
//! on it *at that moment*: a release that lands before the arming is not seen by the watch —
//! the race the caller's look after arming must cover. A pid watch is armed only on a live
//! owner (a reaped pid fails `pidfd_open` with `ESRCH`), so a death before the arming is seen
//! only by that look too. A blocked waiter then looks at its watch a few times
//! ([`SimWaits::looks`], one step each, yielding in between) — a release, a death or its
//! timeout can come first — and, if nothing came, its timeout passes on its clock.

use super::{push_event, FsState, SimFs, SimOp, SimWorld};
use lockcore::env::{WaitFor, Wake};
use lockcore::sync::{self, atomic::Ordering};
use std::path::{Path, PathBuf};

/// How simulated waiters wait (set on the world before a run).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimWaits {
    /// The file system can watch (inotify + pidfd). `false`: `wait_for_change` says it cannot,
    /// and waiters fall back to backoff on the virtual clock.
    pub watch: bool,
    /// How many times a blocked waiter looks at its watch before its timeout passes (≥ 1).
    pub looks: u32,
}

impl Default for SimWaits {
    fn default() -> Self {
        SimWaits {
            watch: true,
            looks: 2,
        }
    }
}

/// One armed watch.
pub(super) struct SimWatch {
    id: u64,
    path: PathBuf,
    /// The owner's pid, watched only if it was alive when the watch was armed.
    pid: Option<u32>,
    fired: bool,
}

impl FsState {
    /// The entry at `path` was removed or renamed away or over: wake the watches on it.
    pub(super) fn fire(&mut self, path: &Path) {
        for w in self.watches.iter_mut().filter(|w| w.path == path) {
            w.fired = true;
        }
    }
}

impl SimWorld {
    /// Makes crashes and liveness looks (probe, start time, a pid watch) steps a model checker
    /// orders against each other (before a run), so that a death racing a waiter is explored
    /// at every point of its wait. Off by default: the process table is not a scheduling point.
    pub fn track_deaths(&self, on: bool) {
        self.untracked().track_deaths = on;
    }

    /// A crash, as a step (then the process table changes, with no step in between).
    pub(super) fn death_step(&self) {
        if self.untracked().track_deaths {
            self.inner.deaths.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A liveness look, as a step (then the process table is read, with no step in between).
    pub(super) fn liveness_step(&self) {
        if self.untracked().track_deaths {
            self.inner.deaths.load(Ordering::SeqCst);
        }
    }

    /// Sets how waiters wait (before a run).
    pub fn set_waits(&self, waits: SimWaits) {
        self.untracked().waits = waits;
    }

    /// How waiters wait.
    pub fn waits(&self) -> SimWaits {
        self.untracked().waits
    }
}

impl SimFs {
    fn alive_here(&self, pid: u32) -> bool {
        self.world.liveness_step();
        self.world.process(&self.host, pid).is_some_and(|p| p.alive)
    }

    /// `Fs::wait_for_change`: arm (one step, which a fault may fail: the caller backs off), let
    /// the caller look, then look at the watch up to `looks` times before the timeout passes.
    pub(super) fn wait_watched(
        &self,
        wait: &WaitFor<'_>,
        still_blocked: &mut dyn FnMut(bool) -> bool,
    ) -> Option<Wake> {
        let waits = self.world.waits();
        if !waits.watch {
            return None;
        }
        let path = self.world.resolve_parent(wait.lock_path);
        let pid = wait.owner.filter(|&p| self.alive_here(p));
        let armed = self.step(SimOp::Watch, &path, |fs, _, _| {
            let id = fs.next_watch;
            fs.next_watch += 1;
            fs.watches.push(SimWatch {
                id,
                path: path.clone(),
                pid,
                fired: false,
            });
            let on_pid = pid.map(|p| format!(" + pid {p}")).unwrap_or_default();
            (Ok(id), format!("armed #{id}{on_pid}"))
        });
        let id = armed.ok()?;
        // The model's watch is armed on a pid found alive a step earlier: it may have died
        // since, so the look asks (a pidfd would cover that; this model does not claim to).
        if !still_blocked(false) {
            self.look(id, &path, true, "changed before the watch was armed");
            return Some(Wake::Changed);
        }
        let looks = waits.looks.max(1);
        for n in 1..=looks {
            match self.look(id, &path, n == looks, "") {
                Some(Wake::TimedOut) => {
                    wait.clock.sleep(wait.timeout);
                    return Some(Wake::TimedOut);
                }
                Some(wake) => return Some(wake),
                None => sync::thread::yield_now(),
            }
        }
        Some(Wake::TimedOut)
    }

    /// One look at watch `id` (a step, never faulted: `poll` on an armed watch): what woke it,
    /// if anything; `last` turns nothing into the timeout, and `why` ends it for that reason.
    /// A watch that ends is disarmed in the same step.
    fn look(&self, id: u64, path: &Path, last: bool, why: &str) -> Option<Wake> {
        let actor = self.actor();
        let mut fs = sync::lock(&self.world.inner.fs);
        let at = fs.watches.iter().position(|w| w.id == id)?;
        let w = &fs.watches[at];
        let wake = if !why.is_empty() || w.fired {
            Some(Wake::Changed)
        } else if w.pid.is_some_and(|p| !self.alive_here(p)) {
            Some(Wake::OwnerExited)
        } else if last {
            Some(Wake::TimedOut)
        } else {
            None
        };
        let desc = match wake {
            _ if !why.is_empty() => why.to_string(),
            Some(Wake::Changed) => "woken: the file went".to_string(),
            Some(Wake::OwnerExited) => "woken: the owner died".to_string(),
            Some(Wake::TimedOut) => "nothing: timeout".to_string(),
            None => "nothing yet".to_string(),
        };
        if wake.is_some() {
            fs.watches.remove(at);
        }
        push_event(
            &self.world,
            &mut fs,
            &actor,
            SimOp::Wait.as_str(),
            path,
            desc,
        );
        wake
    }
}
