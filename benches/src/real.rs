//! The parts that drive real lockcore types.

use crate::stats::{Human, Summary};
use lockcore::os::{OsClock, OsFs, OsProcs};
use lockcore::{
    AcquireOptions, Env, EnvParts, Liveness, LockManager, Payload, ProcessIdentity, Procs,
};
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

/// Fake pids start here: above Linux's largest possible `pid_max` (2^22), so a fake pid never
/// names a real process, and below `i32::MAX`, so payloads carrying one still parse.
pub const FAKE_PID_BASE: u32 = 1_000_000_000;

/// How long a contender in the contention drivers waits before giving up (a bench failure).
pub const CONTENDED_TIMEOUT: Duration = Duration::from_secs(60);

/// A process table for running several `LockManager`s with distinct identities in one OS
/// process (lockcore supports one manager per process; two with one pid would take each other's
/// files for a previous instance's). Reports a fake pid of its own, says every fake pid is
/// alive with no start time, and asks the real process table about every other pid.
#[derive(Clone, Debug)]
pub struct FakeProcs {
    me: ProcessIdentity,
    os: OsProcs,
}

impl FakeProcs {
    /// Instance `index`: pid `FAKE_PID_BASE + index`, this host, no start time.
    pub fn new(index: u32) -> Self {
        let os = OsProcs::current();
        let mut me = os.identity();
        me.pid = FAKE_PID_BASE + index;
        me.start_time = None;
        FakeProcs { me, os }
    }
}

impl Procs for FakeProcs {
    fn identity(&self) -> ProcessIdentity {
        self.me.clone()
    }

    fn probe(&self, pid: u32) -> Liveness {
        if pid >= FAKE_PID_BASE {
            Liveness::Alive
        } else {
            self.os.probe(pid)
        }
    }

    fn start_time(&self, pid: u32) -> Option<u64> {
        if pid >= FAKE_PID_BASE {
            None
        } else {
            self.os.start_time(pid)
        }
    }
}

/// The real file system and clock with a [`FakeProcs`] identity.
pub type InstanceEnv = EnvParts<OsFs, FakeProcs, OsClock>;

/// A manager for simulated instance `index` (its own fake pid and nonce).
pub fn instance(index: u32) -> LockManager<InstanceEnv> {
    LockManager::new(
        EnvParts {
            fs: OsFs,
            procs: FakeProcs::new(index),
            clock: OsClock,
        },
        lockcore::Policy::default(),
    )
}

/// A pid that is dead: spawn a child (`true`) and reap it. Checked with the real probe; retried
/// a few times in the unlikely case the pid was reused at once.
pub fn dead_pid() -> io::Result<u32> {
    let os = OsProcs::current();
    for _ in 0..16 {
        let mut child = std::process::Command::new("true").spawn()?;
        let pid = child.id();
        child.wait()?;
        if os.probe(pid) == Liveness::Dead {
            return Ok(pid);
        }
    }
    Err(io::Error::other(
        "no dead pid found: every reaped child's pid was reused",
    ))
}

/// The bytes of a lock file as another process on this host would write it (every field set,
/// about the size of lockcore's own files).
pub fn payload_bytes(pid: u32, host: Option<String>, created_at_ms: i64) -> Vec<u8> {
    Payload {
        pid,
        nonce: Some("5c0a9b3e-6f1d-4c2a-9e8b-7d6c5b4a3f21".to_string()),
        created_at_ms,
        starttime: Some(123_456),
        host,
        token: Some("00c0ffee00c0ffee".to_string()),
        lease: None,
    }
    .to_bytes()
}

/// One hold in a contention run; times are offsets from a common origin.
#[derive(Clone, Copy, Debug)]
pub struct HoldRecord {
    /// Which contender (thread or process) held it.
    pub who: usize,
    /// `acquire` was called.
    pub asked: Duration,
    /// `acquire` returned the guard.
    pub acquired: Duration,
    /// The release (guard drop) started.
    pub released: Duration,
    /// The release returned.
    pub done: Duration,
}

/// What a contention run says.
#[derive(Clone, Debug)]
pub struct Contention {
    /// Holds counted.
    pub holds: usize,
    /// First `acquire` call to last release returned.
    pub span: Duration,
    /// `acquire` call to guard, per hold.
    pub wait: Summary,
    /// Release started to the next holder's guard, over all consecutive holds.
    pub gap_all: Summary,
    /// The same, only where the next holder is another contender (a real handoff).
    pub gap_cross: Summary,
    /// Release returned (the lock is free) to another contender's guard: the wake-up plus the
    /// new holder's publish.
    pub free_cross: Summary,
    /// Consecutive holds that overlapped (the next guard returned before the previous release
    /// started): a broken lock. Always 0 for a correct one.
    pub overlaps: usize,
}

/// The header of [`Contention::row`]'s markdown table (the contention table of RESULTS.md).
pub const CONTENTION_HEADER: &str = "| id | holds/s | wait p50 / p99 / max | handoff, all holds, \
     p50 | handoff to another contender: n of holds, p50 / p99 (release call → its guard) |\n\
     | --- | ---: | --- | ---: | --- |";

impl Contention {
    /// One row of the contention table: holds per second (`per_second`, which the caller
    /// measured), the wait's median, p99 and maximum, and the handoffs to another contender.
    pub fn row(&self, id: &str, per_second: f64) -> String {
        format!(
            "| `{id}` | {per_second:.0} | {} / {} / {} | {} | {} of {}, {} / {} |",
            Human(self.wait.p50),
            Human(self.wait.p99),
            Human(self.wait.max),
            Human(self.gap_all.p50),
            self.gap_cross.n,
            self.holds,
            Human(self.gap_cross.p50),
            Human(self.gap_cross.p99),
        )
    }

    /// Holds per second over the span.
    pub fn per_second(&self) -> f64 {
        if self.span.is_zero() {
            return 0.0;
        }
        self.holds as f64 / self.span.as_secs_f64()
    }
}

/// Analyses the holds of a run (any order). Holds of one lock never overlap, so sorted by
/// acquisition time each hold's predecessor is the one that handed the lock over.
pub fn analyse(mut holds: Vec<HoldRecord>) -> Contention {
    holds.sort_by_key(|h| h.acquired);
    let span = match (
        holds.iter().map(|h| h.asked).min(),
        holds.iter().map(|h| h.done).max(),
    ) {
        (Some(first), Some(last)) => last.saturating_sub(first),
        _ => Duration::ZERO,
    };
    let wait = holds.iter().map(|h| h.acquired.saturating_sub(h.asked));
    let mut gap_all = Vec::with_capacity(holds.len());
    let mut gap_cross = Vec::new();
    let mut free_cross = Vec::new();
    let mut overlaps = 0;
    for pair in holds.windows(2) {
        if pair[1].acquired < pair[0].released {
            overlaps += 1;
        }
        let gap = pair[1].acquired.saturating_sub(pair[0].released);
        gap_all.push(gap);
        if pair[1].who != pair[0].who {
            gap_cross.push(gap);
            free_cross.push(pair[1].acquired.saturating_sub(pair[0].done));
        }
    }
    Contention {
        holds: holds.len(),
        span,
        wait: Summary::of(wait.collect()),
        gap_all: Summary::of(gap_all),
        gap_cross: Summary::of(gap_cross),
        free_cross: Summary::of(free_cross),
        overlaps,
    }
}

/// Runs one contender per manager (threads; pass clones of one manager for in-process
/// contention, distinct managers for instance contention), all on `session`, until `handoffs`
/// holds are done: each thread loops `acquire` → release with no work inside or between.
/// Acquisitions are not reentrant: reentry is per instance, so with the default options a
/// second thread of one manager would re-enter the held lock instead of waiting for it.
/// Returns the time from the start to the end of the `handoffs`-th hold, and the holds if
/// `record` (holds taken after the count is reached are not counted).
///
/// # Panics
/// If an `acquire` fails (times out after [`CONTENDED_TIMEOUT`]): the bench cannot go on.
pub fn contend<E: Env>(
    managers: &[LockManager<E>],
    session: &Path,
    handoffs: u64,
    record: bool,
) -> (Duration, Vec<HoldRecord>) {
    let opts = AcquireOptions {
        reentrant: false,
        timeout: Some(CONTENDED_TIMEOUT),
    };
    let tickets = AtomicU64::new(0);
    let barrier = Barrier::new(managers.len() + 1);
    let per_thread = if record {
        (handoffs as usize / managers.len().max(1)) * 2 + 16
    } else {
        0
    };
    // One origin for every thread's timestamps; the run starts when the barrier opens.
    let origin = Instant::now();
    let (start, results) = std::thread::scope(|s| {
        let workers: Vec<_> = managers
            .iter()
            .enumerate()
            .map(|(who, mgr)| {
                let (tickets, barrier) = (&tickets, &barrier);
                s.spawn(move || {
                    let mut holds = Vec::with_capacity(per_thread);
                    let mut last_done = None;
                    barrier.wait();
                    loop {
                        let asked = origin.elapsed();
                        #[allow(clippy::expect_used)] // a bench cannot go on without the lock
                        let guard = mgr
                            .acquire_with(session, opts)
                            .expect("contended acquire failed (60 s timeout)");
                        let acquired = origin.elapsed();
                        if tickets.fetch_add(1, Ordering::Relaxed) >= handoffs {
                            drop(guard);
                            break;
                        }
                        let released = origin.elapsed();
                        drop(guard);
                        let done = origin.elapsed();
                        last_done = Some(done);
                        if record {
                            holds.push(HoldRecord {
                                who,
                                asked,
                                acquired,
                                released,
                                done,
                            });
                        }
                    }
                    (last_done, holds)
                })
            })
            .collect();
        let start = origin.elapsed();
        barrier.wait();
        let results: Vec<_> = workers
            .into_iter()
            .map(|w| match w.join() {
                Ok(r) => r,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect();
        (start, results)
    });
    let mut end = start;
    let mut all = Vec::new();
    for (last_done, holds) in results {
        end = end.max(last_done.unwrap_or(start));
        all.extend(holds);
    }
    (end - start, all)
}

/// Runs one thread per session, all on one manager, each doing `acquire` → release on its own
/// session in a loop (no contention for a lock, only for the manager and the file system), until
/// `holds` holds are done in all. Returns the time from the start to the last release.
///
/// # Panics
/// If an `acquire` fails (times out after [`CONTENDED_TIMEOUT`]): the bench cannot go on.
pub fn parallel_sessions<E: Env>(
    mgr: &LockManager<E>,
    sessions: &[std::path::PathBuf],
    holds: u64,
) -> Duration {
    let opts = AcquireOptions {
        reentrant: false,
        timeout: Some(CONTENDED_TIMEOUT),
    };
    let tickets = AtomicU64::new(0);
    let barrier = Barrier::new(sessions.len() + 1);
    let origin = Instant::now();
    let (start, ends) = std::thread::scope(|s| {
        let workers: Vec<_> = sessions
            .iter()
            .map(|session| {
                let (tickets, barrier) = (&tickets, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    while tickets.fetch_add(1, Ordering::Relaxed) < holds {
                        #[allow(clippy::expect_used)] // a bench cannot go on without the lock
                        let guard = mgr
                            .acquire_with(session, opts)
                            .expect("uncontended acquire failed (60 s timeout)");
                        drop(guard);
                    }
                    origin.elapsed()
                })
            })
            .collect();
        let start = origin.elapsed();
        barrier.wait();
        let ends: Vec<Duration> = workers
            .into_iter()
            .map(|w| match w.join() {
                Ok(end) => end,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect();
        (start, ends)
    });
    ends.into_iter()
        .max()
        .unwrap_or(start)
        .saturating_sub(start)
}
