//! A catalogue bug reproduces its own bug and nothing else: each historic step does what DESIGN §6
//! says it did (a rename over the lock, a walk that skips every other entry), and around it the
//! bug's code takes errors the way the real code does — ENOENT from its unlink or rename is
//! "gone", a real failure is a typed error (P12). A maintainer who reproduces an old bug on demand
//! gets that bug, not a variant with a second one.
//! Runs wherever the catalogue is compiled (the root `cargo test` turns `models/mutants` on through
//! proptests); each test injects the error once on the lock file, which is in fact still there.
#![cfg(all(feature = "mutants", not(any(feature = "loom", feature = "shuttle"))))]

use lockcore::{Acquired, FsOp, LockError, LockManager, Mutant, Payload, Policy, Released};
use models::sim::{FaultKind, FaultRule, SimEnv, SimOp, SimWorld};
use std::path::{Path, PathBuf};

const SESSION: &str = "/s/s1.jsonl";

fn lock_file() -> PathBuf {
    PathBuf::from(format!("{SESSION}.lock"))
}

fn once_on_lock(op: SimOp, kind: FaultKind) -> FaultRule {
    FaultRule::new(Some(op), kind)
        .when(|_, p| p.extension().is_some_and(|e| e == "lock"))
        .nth(1)
}

fn manager(world: &SimWorld, pid: u32, bug: Mutant) -> LockManager<SimEnv> {
    world.spawn("h", pid);
    let policy = Policy {
        mutant: Some(bug),
        ..Policy::default()
    };
    LockManager::new(world.env("h", pid), policy)
}

fn is_io(r: &LockError, want: FsOp) -> bool {
    matches!(r, LockError::Io { op, .. } if *op == want)
}

// P12: a reclaim bug's own unlink or rename of the dead owner's file — ENOENT means someone else
// removed it (the acquisition goes on and succeeds), EIO is an error naming the call.
#[test]
fn a_reclaim_bugs_step_takes_gone_as_gone_and_a_failure_as_an_error() {
    for (bug, op) in [
        (Mutant::NaiveReclaim, SimOp::Remove),
        (Mutant::RenameAsideReclaim, SimOp::Rename),
    ] {
        let fs_op = if op == SimOp::Remove {
            FsOp::Remove
        } else {
            FsOp::Rename
        };
        for (kind, seed) in [(FaultKind::Enoent, 11), (FaultKind::Eio, 12)] {
            let world = SimWorld::new(seed);
            world.plant_dead_owners_lock("h", 9, &lock_file());
            let m = manager(&world, 1, bug);
            // A rename is traced by its destination (the aside name): the first one is the bug's.
            world.inject(if op == SimOp::Rename {
                FaultRule::new(Some(op), kind).nth(1)
            } else {
                once_on_lock(op, kind)
            });
            let r = m.try_acquire(Path::new(SESSION));
            let ok = match (kind, &r) {
                (FaultKind::Enoent, Ok(g)) => matches!(g.how(), Acquired::Reclaimed(_)),
                (FaultKind::Eio, Err(e)) => is_io(e, fs_op),
                _ => false,
            };
            assert!(
                ok,
                "{bug} with {kind:?} on {op:?}: {:?}\n{}",
                r.as_ref().map(|g| g.how()),
                world.trace()
            );
        }
    }
}

// P12: a release bug's own unlink — ENOENT is "not ours" (the file is gone), EIO is an error.
#[test]
fn a_release_bugs_unlink_takes_gone_as_not_ours_and_a_failure_as_an_error() {
    for bug in [Mutant::UncheckedRelease, Mutant::RegistryBeforeUnlink] {
        for (kind, seed) in [(FaultKind::Enoent, 21), (FaultKind::Eio, 22)] {
            let world = SimWorld::new(seed);
            let m = manager(&world, 1, bug);
            let g = m.try_acquire(Path::new(SESSION)).expect("acquire");
            world.inject(once_on_lock(SimOp::Remove, kind));
            let r = g.release();
            let ok = match (kind, &r) {
                (FaultKind::Enoent, Ok(Released::NotOurs)) => true,
                (FaultKind::Eio, Err(e)) => is_io(e, FsOp::Remove),
                _ => false,
            };
            assert!(ok, "{bug} with {kind:?}: {r:?}\n{}", world.trace());
        }
    }
}

// P4/P12: `release-all-live-iteration` without a concurrent acquisition releases every hold (its
// bug needs the race), and sorts an unlink's ENOENT into not_ours and EIO into failed.
#[test]
fn the_live_iteration_release_all_releases_everything_when_nothing_races_it() {
    let world = SimWorld::new(31);
    let m = manager(&world, 1, Mutant::ReleaseAllLiveIteration);
    let paths = ["/s/a.jsonl", "/s/b.jsonl", "/s/c.jsonl"];
    let guards: Vec<_> = paths
        .iter()
        .map(|p| m.try_acquire(Path::new(p)).expect("acquire"))
        .collect();
    world.inject(
        FaultRule::new(Some(SimOp::Remove), FaultKind::Enoent)
            .when(|_, p| p == Path::new("/s/a.jsonl.lock"))
            .nth(1),
    );
    world.inject(
        FaultRule::new(Some(SimOp::Remove), FaultKind::Eio)
            .when(|_, p| p == Path::new("/s/b.jsonl.lock"))
            .nth(1),
    );
    let report = m.release_all();
    assert_eq!(
        report.released,
        [PathBuf::from("/s/c.jsonl.lock")],
        "{report:?}"
    );
    assert_eq!(
        report.not_ours,
        [PathBuf::from("/s/a.jsonl.lock")],
        "{report:?}"
    );
    assert!(
        matches!(&report.failed[..], [(p, e)] if p == Path::new("/s/b.jsonl.lock") && is_io(e, FsOp::Remove)),
        "{report:?}"
    );
    assert!(
        guards.iter().all(|g| !g.is_held()),
        "the registry still holds"
    );
}

// P4: `release-all-index-skip` removes entries while walking by position: of four holds it
// releases the 1st and 3rd and leaves the 2nd and 4th held, files and all (DESIGN §6).
#[test]
fn the_index_skip_release_all_leaves_every_other_hold_behind() {
    let world = SimWorld::new(41);
    let m = manager(&world, 1, Mutant::ReleaseAllIndexSkip);
    let paths = ["/s/a.jsonl", "/s/b.jsonl", "/s/c.jsonl", "/s/d.jsonl"];
    let guards: Vec<_> = paths
        .iter()
        .map(|p| m.try_acquire(Path::new(p)).expect("acquire"))
        .collect();
    let report = m.release_all();
    let lock = |s: &str| PathBuf::from(format!("/s/{s}.jsonl.lock"));
    assert_eq!(report.released, [lock("a"), lock("c")], "{report:?}");
    let held: Vec<bool> = guards.iter().map(|g| g.is_held()).collect();
    assert_eq!(held, [false, true, false, true]);
    for (s, there) in [("a", false), ("b", true), ("c", false), ("d", true)] {
        assert_eq!(
            world.file(&lock(s)).is_some(),
            there,
            "{s}: {}",
            world.trace()
        );
    }
}

// P1: `rename-takeover` reclaims by renaming its own complete file over the stale one: the lock
// path then carries the taker's payload, and its temp file is gone (renamed, not copied).
#[test]
fn the_rename_takeover_puts_the_takers_payload_at_the_lock_path() {
    let world = SimWorld::new(51);
    world.plant_dead_owners_lock("h", 9, &lock_file());
    let m = manager(&world, 1, Mutant::RenameTakeover);
    let g = m.try_acquire(Path::new(SESSION)).expect("take over");
    let bytes = world.file(&lock_file()).expect("a lock file");
    let payload = Payload::parse(&bytes).expect("a complete payload");
    assert_eq!(payload.pid, 1, "{}", world.trace());
    assert_eq!(world.files().len(), 1, "{:?}", world.files().keys());
    drop(g);
}
