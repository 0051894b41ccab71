//! Smoke test: lockcore runs on the simulated environment end to end (P1, P6, P9 on one path).
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use lockcore::{Acquired, LockManager, Policy, StaleReason};
use models::SimWorld;
use std::path::Path;

#[test]
fn acquire_contend_crash_reclaim_restart() {
    let world = SimWorld::new(7);
    world.spawn("h", 101);
    world.spawn("h", 102);
    let a = LockManager::new(world.env("h", 101), Policy::default());
    let b = LockManager::new(world.env("h", 102), Policy::default());
    let session = Path::new("/s/s1.jsonl");

    // P1: a holds, b is busy; P9: reentry counts.
    let g1 = a.try_acquire(session).expect("a acquires");
    let g2 = a.try_acquire(session).expect("a re-enters");
    assert_eq!(g2.how(), Acquired::Reentered);
    assert!(
        b.try_acquire(session)
            .expect_err("b must be busy")
            .is_busy(),
        "{}",
        world.trace()
    );
    drop(g2);
    assert!(
        world.file(Path::new("/s/s1.jsonl.lock")).is_some(),
        "file must stay while held"
    );

    // P6: in-place restart of a (release_all + rotate), then a leftover with the old nonce is
    // reclaimed at once.
    let report = a.release_all();
    assert_eq!(report.released.len(), 1);
    assert!(!g1.is_held());
    drop(g1);
    let g3 = a.try_acquire(session).expect("a acquires after restart");
    assert_eq!(g3.how(), Acquired::Fresh);
    let leftover = world.file(Path::new("/s/s1.jsonl.lock")).expect("file");
    drop(g3);
    let _ = a.release_all();
    world.plant(
        Path::new("/s/s1.jsonl.lock"),
        &leftover,
        world.now_wall_ms(),
    );
    let g4 = a.try_acquire(session).expect("reclaims own leftover");
    assert_eq!(
        g4.how(),
        Acquired::Reclaimed(StaleReason::NonceMismatch),
        "{}",
        world.trace()
    );
    drop(g4);

    // Dead pid: b crashes holding the lock; a reclaims at once.
    let gb = b.try_acquire(session).expect("b acquires");
    std::mem::forget(gb);
    world.crash("h", 102);
    let g5 = a.try_acquire(session).expect("a reclaims from dead b");
    assert_eq!(g5.how(), Acquired::Reclaimed(StaleReason::DeadPid));
    println!("{}", world.trace());
}
