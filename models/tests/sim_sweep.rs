//! The sweep on the simulated file system: a temp file that cannot be removed is reported, not
//! skipped, and the sweep goes on (P11, P12).
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use lockcore::{LockManager, Policy};
use models::{FaultKind, FaultRule, SimOp, SimWorld};
use std::path::Path;

// P12: an EACCES while removing an orphaned temp file lands in `unreadable` with its path; the
// other orphan is still removed.
#[test]
fn a_temp_file_that_cannot_be_removed_is_reported() {
    let world = SimWorld::new(11);
    world.spawn("h", 1);
    let m = LockManager::new(world.env("h", 1), Policy::default());
    // Publisher pid 77 was never spawned: dead, so both temp files are orphans.
    let stuck = Path::new("/d/.a.jsonl.lock.77-0011.lktmp");
    let loose = Path::new("/d/.b.jsonl.lock.77-0022.lktmp");
    world.plant(stuck, b"partial", world.now_wall_ms());
    world.plant(loose, b"partial", world.now_wall_ms());
    world.inject(FaultRule::new(Some(SimOp::Remove), FaultKind::Eacces).on_path(".a.jsonl"));

    let report = m
        .clean_stale(Path::new("/d"), false)
        .expect("the sweep itself succeeds");
    assert_eq!(
        report.temp_files,
        vec![loose.to_path_buf()],
        "{}",
        world.trace()
    );
    assert_eq!(report.unreadable.len(), 1, "{}", world.trace());
    assert_eq!(report.unreadable[0].0, stuck.to_path_buf());
    assert!(world.file(stuck).is_some() && world.file(loose).is_none());
}

// P12: a temp file whose metadata cannot be read is not judged, and that is reported with its
// path (a silent partial clean would say "nothing stale" while litter stays).
#[test]
fn a_temp_file_that_cannot_be_judged_is_reported() {
    let world = SimWorld::new(12);
    world.spawn("h", 1);
    let m = LockManager::new(world.env("h", 1), Policy::default());
    let unjudged = Path::new("/d/.a.jsonl.lock.77-0011.lktmp");
    world.plant(unjudged, b"partial", world.now_wall_ms());
    world.inject(FaultRule::new(Some(SimOp::Metadata), FaultKind::Eio).on_path(".lktmp"));

    let report = m
        .clean_stale(Path::new("/d"), false)
        .expect("the sweep itself succeeds");
    assert!(report.temp_files.is_empty(), "{}", world.trace());
    assert_eq!(report.unreadable.len(), 1, "{}", world.trace());
    assert_eq!(report.unreadable[0].0, unjudged.to_path_buf());
    assert!(
        report.unreadable[0].1.contains("metadata"),
        "{:?}",
        report.unreadable
    );
}
