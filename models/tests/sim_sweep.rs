//! The sweep on the simulated file system: a temp file that cannot be removed is reported, not
//! skipped, and the sweep goes on (P11, P12).
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use lockcore::{LockManager, Policy};
use models::{FaultKind, FaultRule, Replacement, SimOp, SimWorld};
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

/// The lock file of live process `pid` on host `h` (spawned here), as it would write it.
fn live_owners_bytes(world: &SimWorld, pid: u32) -> Vec<u8> {
    world.spawn("h", pid);
    lockcore::Payload {
        pid,
        nonce: Some(format!("n{pid}")),
        created_at_ms: world.now_wall_ms(),
        starttime: None,
        host: Some("h".to_string()),
        token: Some(format!("t{pid}")),
        lease: None,
    }
    .to_bytes()
}

fn sweeper(world: &SimWorld) -> LockManager<models::SimEnv> {
    world.spawn("h", 1);
    LockManager::new(world.env("h", 1), Policy::default())
}

// inspect's `mtime_age_ms` is the time since the file's mtime (its holder's last refresh):
// `inspect` shows it as REFRESHED, and an operator reads a lease's health from it.
#[test]
fn inspect_reports_the_time_since_the_files_mtime() {
    let world = SimWorld::new(21);
    let m = sweeper(&world);
    let bytes = live_owners_bytes(&world, 2);
    world.plant(
        Path::new("/d/a.jsonl.lock"),
        &bytes,
        world.now_wall_ms() - 5_000,
    );
    let seen = m.inspect_all(Path::new("/d")).expect("inspect");
    assert_eq!(seen.locks.len(), 1, "{}", world.trace());
    assert_eq!(seen.locks[0].mtime_age_ms, 5_000, "{}", world.trace());
}

// P2: a file judged stale by the sweep's first look, replaced by a live owner's fresh lock
// before the sweep looks again, is judged again and kept — the sweep never deletes by its
// first verdict (DESIGN §6, B16).
#[test]
fn a_stale_file_replaced_by_a_live_lock_before_the_second_look_is_kept() {
    let world = SimWorld::new(22);
    let m = sweeper(&world);
    let lock = Path::new("/d/a.jsonl.lock");
    world.plant_dead_owners_lock("h", 9, lock);
    let live = live_owners_bytes(&world, 2);
    // The sweep's looks: metadata at inspect, metadata again before removing.
    world.inject(
        FaultRule::replacing(SimOp::Metadata, Replacement::File(live.clone()))
            .on_path("a.jsonl.lock")
            .nth(2),
    );
    let report = m.clean_stale(Path::new("/d"), false).expect("sweep");
    assert!(
        report.removed.is_empty(),
        "{:?}\n{}",
        report.removed,
        world.trace()
    );
    assert_eq!(world.file(lock), Some(live), "{}", world.trace());
}

// P12: an orphaned temp file that is gone when the sweep stats it or removes it (another sweep
// took it) is neither an error nor reported as removed by this sweep.
#[test]
fn a_temp_file_gone_before_the_sweeps_stat_or_unlink_is_not_an_error() {
    for op in [SimOp::Metadata, SimOp::Remove] {
        let world = SimWorld::new(23);
        let m = sweeper(&world);
        let tmp = Path::new("/d/.a.jsonl.lock.77-0011.lktmp");
        world.plant(tmp, b"partial", world.now_wall_ms());
        world.inject(FaultRule::new(Some(op), FaultKind::Enoent).on_path(".lktmp"));
        let report = m.clean_stale(Path::new("/d"), false).expect("sweep");
        assert!(
            report.unreadable.is_empty(),
            "{op:?}: {:?}\n{}",
            report.unreadable,
            world.trace()
        );
        assert!(
            report.temp_files.is_empty(),
            "{op:?}: {:?}",
            report.temp_files
        );
    }
}

/// `clean --remove-non-regular` of `/d/a.jsonl.lock`, a dangling symlink when first seen, with
/// `rule` (on that path) in force.
fn clean_symlink_with(rule: Option<FaultRule>, seed: u64) -> (SimWorld, lockcore::CleanReport) {
    let world = SimWorld::new(seed);
    let m = sweeper(&world);
    world.plant_symlink(Path::new("/d/a.jsonl.lock"), Path::new("/nowhere"));
    if let Some(rule) = rule {
        world.inject(rule.on_path("a.jsonl.lock"));
    }
    let opts = lockcore::CleanOptions {
        dry_run: false,
        remove_non_regular: true,
    };
    let report = m.clean(Path::new("/d"), opts).expect("sweep");
    (world, report)
}

// P16, P2: the sweep removes a non-regular entry only if it is still the very entry it judged:
// one replaced (under the same inode number, as ext4 reuses a freed inode at once) by a live
// owner's lock file, or by another symlink, is kept; the one judged is removed.
#[test]
fn a_non_regular_entry_is_removed_only_if_it_is_still_the_one_judged() {
    let lock = Path::new("/d/a.jsonl.lock");
    let (world, report) = clean_symlink_with(None, 24);
    assert_eq!(report.removed.len(), 1, "{}", world.trace());
    assert!(world.node(lock).is_none(), "{}", world.trace());

    let live = live_owners_bytes(&SimWorld::new(0), 2);
    let same_ino = FaultRule::replacing(SimOp::Metadata, Replacement::File(live))
        .reusing_inode()
        .nth(2);
    let (world, report) = clean_symlink_with(Some(same_ino), 25);
    assert!(report.removed.is_empty(), "{}", world.trace());
    assert!(
        world.file(lock).is_some(),
        "the live lock file stays\n{}",
        world.trace()
    );

    let other_link = FaultRule::replacing(
        SimOp::Metadata,
        Replacement::Node(lockcore::FileKind::Symlink),
    )
    .nth(2);
    let (world, report) = clean_symlink_with(Some(other_link), 26);
    assert!(report.removed.is_empty(), "{}", world.trace());
    assert!(
        world.node(lock).is_some(),
        "the other symlink stays\n{}",
        world.trace()
    );
}

// P12: removing a non-regular entry that is gone at the unlink (another sweep) is not an error
// and not a removal; an unlink that fails for real (EIO) is reported, never taken for "gone".
#[test]
fn a_non_regular_entrys_unlink_gone_is_nothing_and_failed_is_reported() {
    let (world, report) = clean_symlink_with(
        Some(FaultRule::new(Some(SimOp::Remove), FaultKind::Enoent).nth(1)),
        27,
    );
    assert!(
        report.removed.is_empty() && report.unreadable.is_empty(),
        "{report:?}\n{}",
        world.trace()
    );
    let (world, report) = clean_symlink_with(
        Some(FaultRule::new(Some(SimOp::Remove), FaultKind::Eio).nth(1)),
        28,
    );
    assert!(report.removed.is_empty(), "{}", world.trace());
    assert_eq!(report.unreadable.len(), 1, "{report:?}\n{}", world.trace());
}
