//! Leases (DESIGN §4a): a holder refreshes its lock files' mtimes, declares the lease in the
//! payload, and learns within one refresh when a file is no longer its own (P13, P15).
//!
//! **A lease is declared only while something refreshes it:** on a real clock the manager starts
//! its own heartbeat thread at its first acquisition; on a virtual clock (the models) nothing
//! refreshes by itself, so leases are declared only after [`LockManager::use_manual_heartbeat`],
//! whose caller promises to call [`LockManager::refresh`] every `refresh_every`.

use crate::classify::{mutant, Policy};
use crate::env::{Clock, Env, Fs};
use crate::error::{FsOp, LockError};
use crate::manager::{dir_of, LockManager};
use crate::payload::Lease;
use crate::registry::State;
use crate::sync;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Told the lock path of a hold whose file a refresh found gone or replaced.
pub type OnCompromised = std::sync::Arc<dyn Fn(&Path) + Send + Sync>;

/// Who refreshes this manager's leases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Heartbeat {
    /// Nobody: no lease is declared (a virtual clock, or `Policy::lease` is `None`).
    Off,
    /// This manager's own thread, started at the first acquisition.
    Thread { started: bool },
    /// The caller, through [`LockManager::refresh`].
    Manual,
}

impl Heartbeat {
    pub(crate) fn for_clock(clock: &impl Clock, policy: &Policy) -> Self {
        if policy.lease.is_none() || clock.is_virtual() || sync::MODEL_CHECKED {
            Heartbeat::Off
        } else {
            Heartbeat::Thread { started: false }
        }
    }
}

/// What one refresh round did.
#[derive(Debug, Default)]
pub struct RefreshReport {
    /// Lock files whose mtime was set to now.
    pub refreshed: Vec<PathBuf>,
    /// Holds whose file was gone or replaced: no longer ours (their guards say so).
    pub compromised: Vec<PathBuf>,
    /// Refreshes that failed with an I/O error; retried at the next round.
    pub failed: Vec<(PathBuf, LockError)>,
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl<E: Env> LockManager<E> {
    /// The caller refreshes from now on: acquisitions declare the policy's lease, and the caller
    /// promises to call [`LockManager::refresh`] at least every `refresh_every` (a virtual clock's
    /// model, or an application with a timer of its own).
    pub fn use_manual_heartbeat(&self) {
        sync::lock(&self.inner.state).heartbeat = Heartbeat::Manual;
    }

    /// Calls `f` with the lock path of every hold a refresh finds compromised (gone or replaced),
    /// once per hold, on the refreshing thread, outside the registry lock. **Register it before
    /// acquiring:** a compromise found while no callback is set is only recorded
    /// (`LockGuard::is_held()` turns false), never replayed to a later callback.
    pub fn on_compromised(&self, f: impl Fn(&Path) + Send + Sync + 'static) {
        sync::lock(&self.inner.state).on_compromised = Some(std::sync::Arc::new(f));
    }

    /// The lease to write into a new lock file: only while something refreshes it.
    pub(crate) fn declared_lease(&self, st: &State) -> Option<Lease> {
        let refreshed = matches!(
            st.heartbeat,
            Heartbeat::Manual | Heartbeat::Thread { started: true }
        );
        let lease = self.inner.policy.lease.filter(|_| refreshed)?;
        Some(Lease {
            lease_ms: millis(lease),
            max_hold_ms: self.inner.policy.max_hold.map(millis),
        })
    }

    /// Starts the heartbeat thread once, before the first lock that declares a lease. If it
    /// cannot start, no lease is declared and locks fall back to `stale_after`.
    pub(crate) fn ensure_heartbeat(&self, st: &mut State) {
        // Under a model checker the heartbeat is never a thread (see `Heartbeat::for_clock`).
        #[cfg(not(any(feature = "loom", feature = "shuttle")))]
        if st.heartbeat == (Heartbeat::Thread { started: false }) {
            st.heartbeat = match crate::heartbeat::start(self) {
                Ok(()) => Heartbeat::Thread { started: true },
                Err(_) => Heartbeat::Off,
            };
        }
        #[cfg(any(feature = "loom", feature = "shuttle"))]
        let _ = st;
    }

    /// One refresh round: sets the mtime of every lock file this instance holds (or is
    /// releasing) to now, if it is still exactly ours. A file gone or replaced marks its hold
    /// compromised (P15): `is_held()` turns false, `on_compromised` is told, and its release
    /// deletes nothing. The registry lock is never held across the file I/O.
    pub fn refresh(&self) -> RefreshReport {
        let snapshot: Vec<(PathBuf, u64, Vec<u8>)> = {
            let st = sync::lock(&self.inner.state);
            let live = st.holds.iter();
            let releasing = st.releasing.values().map(|(p, h)| (p, h));
            live.chain(releasing)
                .filter(|(_, h)| !h.compromised && !h.removing)
                .map(|(p, h)| (p.clone(), h.id, h.bytes.clone()))
                .collect()
        };
        let mut report = RefreshReport::default();
        let mut lost = Vec::new();
        for (path, id, bytes) in snapshot {
            match self.touch_if_ours(&path, &bytes) {
                Ok(true) => report.refreshed.push(path),
                Ok(false) => lost.push((path, id)),
                Err(e) => report.failed.push((path, e)),
            }
            sync::model_yield();
        }
        if lost.is_empty() {
            return report;
        }
        let callback = {
            let mut st = sync::lock(&self.inner.state);
            let st = &mut *st;
            for (path, id) in lost {
                let live = st.holds.values_mut();
                let releasing = st.releasing.values_mut().map(|(_, h)| h);
                // A hold release_all is removing lost its file to us, not to another owner.
                if let Some(h) = live.chain(releasing).find(|h| h.id == id && !h.removing) {
                    h.compromised = true;
                    report.compromised.push(path);
                }
            }
            self.notify_changed(st);
            st.on_compromised.clone()
        };
        if let Some(tell) = callback {
            for path in &report.compromised {
                tell(path);
            }
        }
        report
    }

    /// Touches our file under the directory's reclaim lock: a reclaimer re-checks the mtime
    /// under the same lock, so it either sees the refresh and backs off, or removed the file
    /// first and the refresh finds it gone — never both.
    fn touch_if_ours(&self, path: &Path, ours: &[u8]) -> Result<bool, LockError> {
        let fs = self.inner.env.fs();
        if mutant!(self.inner.policy, RefreshByPath) {
            return fs
                .touch(path, None)
                .map_err(|e| LockError::io(FsOp::Touch, path, e));
        }
        let dir = dir_of(path);
        let _dir_lock = fs
            .lock_dir(&dir)
            .map_err(|e| LockError::io(FsOp::LockDir, &dir, e))?;
        fs.touch(path, Some(ours))
            .map_err(|e| LockError::io(FsOp::Touch, path, e))
    }
}
