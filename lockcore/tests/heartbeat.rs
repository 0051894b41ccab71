//! The heartbeat thread's life (its own test binary: it counts this process's threads). P13: a
//! manager on a real clock refreshes through a thread it starts at its first acquisition; the
//! thread ends as soon as the last handle to the manager goes, not at its next refresh period.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use lockcore::{LockManager, OsEnv, Policy};
use std::time::Duration;

/// Threads of this process named like the heartbeat (`comm` is cut at 15 bytes).
fn heartbeat_threads() -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm"))
                .is_ok_and(|c| c.trim().starts_with("lockcore-heart"))
        })
        .count()
}

/// Bounded: looks up to 100,000 times, yielding between looks; true once `cond` holds.
fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    (0..100_000).any(|_| {
        std::thread::yield_now();
        cond()
    })
}

// P13: the thread starts with the first lock and ends when the manager goes, although its period
// (an hour here) has not passed.
#[test]
fn the_heartbeat_thread_lives_as_long_as_its_manager() {
    let dir = tempfile::tempdir().unwrap();
    let policy = Policy {
        lease: Some(Duration::from_secs(3 * 3600)),
        refresh_every: Duration::from_secs(3600),
        ..Policy::default()
    };
    let m = LockManager::new(OsEnv::new(), policy.clone());
    assert_eq!(
        m.policy(),
        &policy,
        "the heartbeat reads its period from the manager's policy"
    );
    assert_eq!(heartbeat_threads(), 0, "no thread before the first lock");
    let g = m.acquire(&dir.path().join("s.jsonl")).unwrap();
    assert_eq!(g.payload().lease.map(|l| l.lease_ms), Some(3 * 3600 * 1000));
    // The thread names itself once it runs.
    assert!(
        eventually(|| heartbeat_threads() == 1),
        "one heartbeat thread per manager"
    );
    drop(g);
    drop(m);
    assert!(
        eventually(|| heartbeat_threads() == 0),
        "the heartbeat thread ends with its manager"
    );
}
