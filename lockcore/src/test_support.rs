//! Scaffolding for the crate's unit tests on the real file system: a monotonic clock moved by
//! hand, and a manager on a scratch directory. Compiled for `cargo test` only.

// std's atomics are fine here: nothing of this runs under a model checker.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use crate::env::{Clock, EnvParts};
use crate::os::{OsFs, OsProcs};
use crate::{LockManager, Policy};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A monotonic clock the test moves by hand (`sleep`); the wall clock is real (the file
/// system's mtimes are). A failure here is the machine's.
#[derive(Default)]
pub(crate) struct HandClock(AtomicU64);

impl Clock for HandClock {
    fn now_wall_ms(&self) -> i64 {
        crate::os::OsClock.now_wall_ms()
    }
    fn now_mono(&self) -> Duration {
        Duration::from_millis(self.0.load(Ordering::SeqCst))
    }
    fn sleep(&self, d: Duration) {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
    fn random_u64(&self) -> u64 {
        7
    }
    fn is_virtual(&self) -> bool {
        true
    }
}

/// A [`HandClock`] that says it is real time: the steps meant for real time only run (a test
/// of them must not make them block).
#[derive(Default)]
pub(crate) struct RealHandClock(pub(crate) HandClock);

impl Clock for RealHandClock {
    fn now_wall_ms(&self) -> i64 {
        self.0.now_wall_ms()
    }
    fn now_mono(&self) -> Duration {
        self.0.now_mono()
    }
    fn sleep(&self, d: Duration) {
        self.0.sleep(d);
    }
    fn random_u64(&self) -> u64 {
        self.0.random_u64()
    }
    fn is_virtual(&self) -> bool {
        false
    }
}

pub(crate) type HandEnv = EnvParts<OsFs, OsProcs, HandClock>;
pub(crate) type HandManager = LockManager<HandEnv>;

/// A scratch directory, the lock path `s.jsonl.lock` in it, and a manager with `policy` on the
/// real file system whose monotonic clock the test moves.
pub(crate) fn scratch_manager_with(
    policy: Policy,
) -> (tempfile::TempDir, std::path::PathBuf, HandManager) {
    scratch_manager_on(policy)
}

/// [`scratch_manager_with`] on the clock `C` (a [`HandClock`] or a [`RealHandClock`]).
#[allow(clippy::expect_used)]
pub(crate) fn scratch_manager_on<C: Clock + Default + 'static>(
    policy: Policy,
) -> (
    tempfile::TempDir,
    std::path::PathBuf,
    LockManager<EnvParts<OsFs, OsProcs, C>>,
) {
    let dir = tempfile::tempdir().expect("a scratch directory");
    let lock = dir.path().join("s.jsonl.lock");
    let env = EnvParts {
        fs: OsFs,
        procs: OsProcs::current(),
        clock: C::default(),
    };
    (dir, lock, LockManager::new(env, policy))
}

/// [`scratch_manager_with`] the default policy.
pub(crate) fn scratch_manager() -> (tempfile::TempDir, std::path::PathBuf, HandManager) {
    scratch_manager_with(Policy::default())
}
