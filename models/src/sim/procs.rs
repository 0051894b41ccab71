//! The simulated process table and clock, as one process sees them.

use super::*;

/// How many times `SimFs::lock_dir` finds the lock busy (yielding in between) before it gives up
/// with `TimedOut`, as the real one does after `DIR_LOCK_TIMEOUT`. Legitimate holders keep it
/// for a few steps; loom and shuttle run the holder while the waiter yields.
pub const DIR_LOCK_ATTEMPTS: u32 = 1_000;

/// The simulated process table, as seen by one process.
#[derive(Clone, Debug)]
pub struct SimProcs {
    pub(super) world: SimWorld,
    pub(super) host: String,
    pub(super) pid: u32,
}

impl Procs for SimProcs {
    fn identity(&self) -> ProcessIdentity {
        let start_time = self
            .world
            .process(&self.host, self.pid)
            .map(|p| p.start_time);
        ProcessIdentity {
            pid: self.pid,
            host: Some(self.host.clone()),
            start_time,
        }
    }

    fn probe(&self, pid: u32) -> Liveness {
        self.world.liveness_step();
        match self.world.process(&self.host, pid) {
            Some(p) if p.alive && p.eperm => Liveness::NoPermission,
            Some(p) if p.alive => Liveness::Alive,
            _ => Liveness::Dead,
        }
    }

    fn start_time(&self, pid: u32) -> Option<u64> {
        self.world.liveness_step();
        self.world
            .process(&self.host, pid)
            .filter(|p| p.alive)
            .map(|p| p.start_time)
    }

    fn boot_time_ms(&self) -> Option<i64> {
        self.world.boot_time_ms()
    }
}

/// The virtual clock and seeded randomness.
#[derive(Clone, Debug)]
pub struct SimClock {
    pub(super) world: SimWorld,
}

impl Clock for SimClock {
    fn now_wall_ms(&self) -> i64 {
        self.world.now_wall_ms()
    }

    fn now_mono(&self) -> Duration {
        Duration::from_millis(self.world.untracked().mono_ms)
    }

    fn sleep(&self, d: Duration) {
        self.world.advance(d);
        sync::thread::yield_now();
    }

    fn random_u64(&self) -> u64 {
        splitmix64(&mut self.world.untracked().rng)
    }

    fn is_virtual(&self) -> bool {
        true
    }
}
