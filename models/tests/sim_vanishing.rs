//! A lock file may vanish between two looks (a release or a sweep elsewhere): `ENOENT` from a
//! later step means *gone* — retry or report "not ours" — never an I/O error (P12: an error only
//! for a real failure), and a real failure of a release's unlink is never swallowed as "gone".
//! Each test injects the error once on the lock file itself, so the file is in fact still there:
//! lockcore must take the error at its word and then see the file again.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use lockcore::{Acquired, FsOp, LockError, LockManager, Policy, Released};
use models::sim::{FaultKind, FaultRule, SimEnv, SimOp, SimWorld};
use std::path::Path;

const SESSION: &str = "/s/s1.jsonl";

fn is_lock_file(_op: SimOp, p: &Path) -> bool {
    p.extension().is_some_and(|e| e == "lock")
}

/// `op` on the lock file itself (not its publish temp file) fails once with `kind`.
fn once_on_lock(op: SimOp, kind: FaultKind) -> FaultRule {
    FaultRule::new(Some(op), kind).when(is_lock_file).nth(1)
}

fn manager(world: &SimWorld, pid: u32) -> LockManager<SimEnv> {
    world.spawn("h", pid);
    LockManager::new(world.env("h", pid), Policy::default())
}

// P12: the contender's stat, then its read, of a live holder's file says ENOENT (the file
// "vanished"); it looks again, finds the holder, and reports busy — not an I/O error.
#[test]
fn a_lock_file_vanishing_before_the_contenders_look_means_look_again() {
    for op in [SimOp::Metadata, SimOp::Read] {
        let world = SimWorld::new(3);
        let holder = manager(&world, 2);
        let _held = holder.try_acquire(Path::new(SESSION)).expect("holder");
        let contender = manager(&world, 1);
        world.inject(once_on_lock(op, FaultKind::Enoent));
        let r = contender.try_acquire(Path::new(SESSION));
        assert!(
            matches!(r, Err(LockError::Busy { .. })),
            "{op:?}: {r:?}\n{}",
            world.trace()
        );
    }
}

// P12: the reclaimer's unlink of a dead owner's file says ENOENT (someone else removed it):
// nothing to do, the next round publishes — the acquisition succeeds, it is not an I/O error.
#[test]
fn a_stale_file_gone_before_the_reclaimers_unlink_is_not_an_error() {
    let world = SimWorld::new(4);
    world.plant_dead_owners_lock("h", 9, Path::new(&format!("{SESSION}.lock")));
    let m = manager(&world, 1);
    world.inject(once_on_lock(SimOp::Remove, FaultKind::Enoent));
    let r = m.try_acquire(Path::new(SESSION));
    assert!(
        matches!(&r, Ok(g) if matches!(g.how(), Acquired::Reclaimed(_))),
        "{:?}\n{}",
        r.as_ref().map(|g| g.how()),
        world.trace()
    );
}

// P12: a release whose unlink says ENOENT finds its file gone: "not ours", not an I/O error; and
// one whose unlink fails for real (EIO) reports the I/O error — never "gone".
#[test]
fn a_releases_unlink_gone_is_not_ours_and_failed_is_an_error() {
    let world = SimWorld::new(5);
    let m = manager(&world, 1);
    let g = m.try_acquire(Path::new(SESSION)).expect("acquire");
    world.inject(once_on_lock(SimOp::Remove, FaultKind::Enoent));
    let r = g.release();
    assert!(
        matches!(r, Ok(Released::NotOurs)),
        "ENOENT: {r:?}\n{}",
        world.trace()
    );

    let world = SimWorld::new(6);
    let m = manager(&world, 1);
    let g = m.try_acquire(Path::new(SESSION)).expect("acquire");
    world.inject(once_on_lock(SimOp::Remove, FaultKind::Eio));
    let r = g.release();
    assert!(
        matches!(
            r,
            Err(LockError::Io {
                op: FsOp::Remove,
                ..
            })
        ),
        "EIO: {r:?}\n{}",
        world.trace()
    );
}
