//! The lease heartbeat thread: one per manager on a real clock, calling
//! [`LockManager::refresh`] every `refresh_every` until the last handle to the manager goes.
//! **Caveat:** a process that is stopped (SIGSTOP) or starved for longer than its lease stops
//! refreshing like a dead one; it learns at its next refresh that a lock it lost is gone.

// A real OS thread with a real-time wait: the models never run this (they call `refresh`), and
// it is compiled only without loom/shuttle.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use crate::env::Env;
use crate::manager::LockManager;
use std::io;
use std::sync::{Arc, Condvar, Mutex};

/// Tells the heartbeat thread to end (set when the manager's last handle drops).
#[derive(Debug, Default)]
pub(crate) struct Stop {
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl Stop {
    pub(crate) fn stop(&self) {
        *self.stopped.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.wake.notify_all();
    }

    /// Waits `d` or until stopped; true when stopped.
    fn wait(&self, d: std::time::Duration) -> bool {
        let guard = self.stopped.lock().unwrap_or_else(|e| e.into_inner());
        let (guard, _) = self
            .wake
            .wait_timeout_while(guard, d, |stopped| !*stopped)
            .unwrap_or_else(|e| e.into_inner());
        *guard
    }
}

/// Starts the thread. It holds the manager weakly, so it never keeps it alive.
pub(crate) fn start<E: Env>(manager: &LockManager<E>) -> io::Result<()> {
    let weak = Arc::downgrade(&manager.inner);
    let stop = Arc::clone(&manager.inner.heartbeat_stop);
    // A period at or above the lease would let a live holder's own lock expire between two
    // refreshes: never wait more than a third of the lease.
    let policy = manager.policy();
    let every = match policy.lease {
        Some(lease) => policy.refresh_every.min(lease / 3),
        None => policy.refresh_every,
    };
    std::thread::Builder::new()
        .name("lockcore-heartbeat".into())
        .spawn(move || {
            while !stop.wait(every) {
                let Some(inner) = weak.upgrade() else {
                    return;
                };
                let _ = LockManager { inner }.refresh();
            }
        })
        .map(|_| ())
}
