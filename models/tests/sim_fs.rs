//! SimFs semantics: the simulated file system behaves like the real one in every way lockcore
//! relies on (exclusive create, `link`, silent `rename`, remove, the read cap, metadata identity),
//! and each fault kind and fault selector fires exactly where asked.
//! They check the simulator, not a lockcore property: every P1–P12 verdict of the loom, shuttle
//! and oracle tests rests on these semantics being the real file system's.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use lockcore::env::Fs;
use models::sim::{FaultKind, FaultRule, SimOp, SimWorld};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

fn fs() -> (SimWorld, models::sim::SimFs) {
    let world = SimWorld::new(1);
    world.spawn("h", 1);
    let env = world.env("h", 1);
    (world, env.fs)
}

fn p(s: &str) -> PathBuf {
    PathBuf::from(s)
}

#[test]
fn exclusive_create_fails_on_an_existing_path() {
    let (world, fs) = fs();
    fs.create_new(&p("/d/a"), b"one").expect("first create");
    let err = fs
        .create_new(&p("/d/a"), b"two")
        .expect_err("second create");
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    assert_eq!(world.file(&p("/d/a")).as_deref(), Some(&b"one"[..]));
}

#[test]
fn link_fails_on_an_existing_path_and_needs_a_source() {
    let (world, fs) = fs();
    fs.create_new(&p("/d/src"), b"payload").expect("create src");
    fs.create_new(&p("/d/dst"), b"other").expect("create dst");
    assert_eq!(
        fs.link(&p("/d/src"), &p("/d/dst"))
            .expect_err("dst exists")
            .kind(),
        ErrorKind::AlreadyExists
    );
    assert_eq!(world.file(&p("/d/dst")).as_deref(), Some(&b"other"[..]));
    assert_eq!(
        fs.link(&p("/d/missing"), &p("/d/new"))
            .expect_err("no src")
            .kind(),
        ErrorKind::NotFound
    );
    fs.link(&p("/d/src"), &p("/d/new")).expect("link");
    // A hard link: same identity, both names present.
    let a = fs.metadata(&p("/d/src")).expect("meta src");
    let b = fs.metadata(&p("/d/new")).expect("meta new");
    assert_eq!(a.id, b.id);
    assert!(world.file(&p("/d/src")).is_some());
}

#[test]
fn rename_replaces_silently() {
    let (world, fs) = fs();
    fs.create_new(&p("/d/tmp"), b"new").expect("tmp");
    fs.create_new(&p("/d/lock"), b"old").expect("lock");
    fs.rename(&p("/d/tmp"), &p("/d/lock"))
        .expect("rename over an existing file succeeds");
    assert_eq!(world.file(&p("/d/lock")).as_deref(), Some(&b"new"[..]));
    assert!(world.file(&p("/d/tmp")).is_none());
    let trace = world.trace().to_string();
    assert!(trace.contains("replaced an existing file"), "{trace}");
}

#[test]
fn remove_and_not_found() {
    let (world, fs) = fs();
    fs.create_new(&p("/d/a"), b"x").expect("create");
    fs.remove(&p("/d/a")).expect("remove");
    assert!(world.file(&p("/d/a")).is_none());
    assert_eq!(
        fs.remove(&p("/d/a")).expect_err("gone").kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        fs.read(&p("/d/a"), 10).expect_err("gone").kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        fs.metadata(&p("/d/a")).expect_err("gone").kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn read_returns_at_most_cap_plus_one_bytes() {
    let (world, fs) = fs();
    world.plant(&p("/d/big"), &[b'x'; 100], world.now_wall_ms());
    assert_eq!(fs.read(&p("/d/big"), 10).expect("read").len(), 11);
    assert_eq!(fs.read(&p("/d/big"), 1000).expect("read").len(), 100);
    assert_eq!(fs.read(&p("/d/big"), 99).expect("read").len(), 100);
    assert_eq!(fs.read(&p("/d/big"), usize::MAX).expect("read").len(), 100);
}

#[test]
fn recreated_file_has_a_new_identity_and_list_is_per_directory() {
    let (world, fs) = fs();
    fs.create_new(&p("/d/a"), b"x").expect("create");
    let first = fs.metadata(&p("/d/a")).expect("meta").id;
    fs.remove(&p("/d/a")).expect("remove");
    world.advance(std::time::Duration::from_millis(5));
    fs.create_new(&p("/d/a"), b"xy").expect("recreate");
    let meta = fs.metadata(&p("/d/a")).expect("meta");
    assert_ne!(meta.id, first);
    assert_eq!(meta.len, 2);
    assert_eq!(meta.mtime_ms, world.now_wall_ms());
    fs.create_new(&p("/e/b"), b"y").expect("other dir");
    let mut listed = fs.list(Path::new("/d")).expect("list");
    listed.sort();
    assert_eq!(listed, vec![p("/d/a")]);
    assert!(world.set_mtime(&p("/d/a"), 42));
    assert_eq!(fs.metadata(&p("/d/a")).expect("meta").mtime_ms, 42);
    assert!(!world.set_mtime(&p("/d/none"), 42));
}

#[test]
fn write_existing_overwrites_and_needs_the_file() {
    let (world, fs) = fs();
    assert_eq!(
        fs.write_existing(&p("/d/a"), b"x")
            .expect_err("missing")
            .kind(),
        ErrorKind::NotFound
    );
    fs.create_new(&p("/d/a"), b"").expect("create empty");
    fs.write_existing(&p("/d/a"), b"full").expect("write");
    assert_eq!(world.file(&p("/d/a")).as_deref(), Some(&b"full"[..]));
}

#[test]
fn dir_lock_is_exclusive_until_dropped() {
    let (world, fs) = fs();
    let guard = fs.lock_dir(Path::new("/d")).expect("lock");
    drop(guard);
    let again = fs.lock_dir(Path::new("/d")).expect("lock again after drop");
    drop(again);
    let trace = world.trace().to_string();
    assert_eq!(trace.matches(" lock-dir ").count(), 2, "{trace}");
    assert_eq!(trace.matches("unlock-dir").count(), 2, "{trace}");
}

fn kind_of(k: FaultKind) -> ErrorKind {
    match k {
        FaultKind::Eio => ErrorKind::Other,
        FaultKind::Enospc | FaultKind::ShortWrite => ErrorKind::StorageFull,
        FaultKind::Eacces => ErrorKind::PermissionDenied,
        FaultKind::Enoent => ErrorKind::NotFound,
        FaultKind::Replaced => ErrorKind::Other,
    }
}

#[test]
fn each_fault_kind_fails_the_matching_op_with_its_error() {
    for kind in [
        FaultKind::Eio,
        FaultKind::Enospc,
        FaultKind::Eacces,
        FaultKind::ShortWrite,
        FaultKind::Enoent,
    ] {
        let (world, fs) = fs();
        world.plant(&p("/d/a"), b"abcd", 0);
        world.inject(FaultRule::new(Some(SimOp::Read), kind));
        let err = fs.read(&p("/d/a"), 100).expect_err("read faulted");
        assert_eq!(err.kind(), kind_of(kind), "{kind:?}");
        // Other ops are unaffected.
        fs.metadata(&p("/d/a")).expect("metadata unaffected");
        let trace = world.trace().to_string();
        assert!(trace.contains("ERR injected"), "{kind:?}: {trace}");
    }
}

#[test]
fn short_write_stores_half_the_bytes_then_fails() {
    let (world, fs) = fs();
    world.inject(FaultRule::new(Some(SimOp::Create), FaultKind::ShortWrite));
    let err = fs.create_new(&p("/d/a"), b"12345678").expect_err("short");
    assert_eq!(err.kind(), ErrorKind::StorageFull);
    assert_eq!(world.file(&p("/d/a")).as_deref(), Some(&b"1234"[..]));
    world.clear_faults();
    world.inject(FaultRule::new(Some(SimOp::Write), FaultKind::ShortWrite));
    let err = fs.write_existing(&p("/d/a"), b"abcdef").expect_err("short");
    assert_eq!(err.kind(), ErrorKind::StorageFull);
    assert_eq!(world.file(&p("/d/a")).as_deref(), Some(&b"abc"[..]));
}

#[test]
fn nth_fault_fires_once_on_the_nth_match_only() {
    let (world, fs) = fs();
    world.plant(&p("/d/a"), b"x", 0);
    world.inject(FaultRule::new(Some(SimOp::Read), FaultKind::Eio).nth(2));
    fs.read(&p("/d/a"), 10).expect("1st read ok");
    fs.metadata(&p("/d/a")).expect("other ops do not count");
    fs.read(&p("/d/a"), 10).expect_err("2nd read fails");
    fs.read(&p("/d/a"), 10).expect("3rd read ok");
}

#[test]
fn path_and_predicate_faults_select_their_targets() {
    let (world, fs) = fs();
    world.plant(&p("/d/a.lock"), b"x", 0);
    world.plant(&p("/d/b.lock"), b"x", 0);
    world.inject(FaultRule::new(None, FaultKind::Eacces).on_path("a.lock"));
    fs.read(&p("/d/a.lock"), 10).expect_err("a faulted");
    fs.metadata(&p("/d/a.lock"))
        .expect_err("any op on a faulted");
    fs.read(&p("/d/b.lock"), 10).expect("b not faulted");
    world.clear_faults();
    world.inject(
        FaultRule::new(None, FaultKind::Enospc)
            .when(|op, path| op == SimOp::Remove && path.ends_with("b.lock")),
    );
    fs.remove(&p("/d/a.lock")).expect("a removable");
    assert_eq!(
        fs.remove(&p("/d/b.lock"))
            .expect_err("b remove faulted")
            .kind(),
        ErrorKind::StorageFull
    );
    assert!(
        world.file(&p("/d/b.lock")).is_some(),
        "a failed remove keeps the file"
    );
}

// P11: an operation that never ends (an endless retry) is a named liveness violation after
// STEP_BUDGET file-system steps, not a hang that only a step timeout notices.
#[test]
fn an_endless_retry_is_a_named_liveness_violation() {
    let (_world, fs) = fs();
    let spin = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| loop {
        let _ = fs.metadata(&p("/s/never.lock"));
    }));
    let err = spin.expect_err("the budget must stop the loop");
    let message = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.starts_with("P11 violated: liveness"), "{message}");
    assert!(message.contains("stat /s/never.lock"), "{message}");
}

// A `Replaced` rule puts another process's entry at the path just before the matching step,
// which then runs on it: a new inode, or the old one's number when asked (inode reuse).
#[test]
fn a_replaced_rule_swaps_the_entry_before_the_step() {
    use models::Replacement;
    for reuse in [false, true] {
        let (world, fs) = fs();
        world.plant(&p("/d/a"), b"old", 0);
        let before = fs.metadata(&p("/d/a")).expect("stat").id;
        let rule = FaultRule::replacing(SimOp::Read, Replacement::File(b"new".to_vec()));
        world.inject(if reuse { rule.reusing_inode() } else { rule });
        assert_eq!(fs.read(&p("/d/a"), 64).expect("read"), b"new".to_vec());
        let after = fs.metadata(&p("/d/a")).expect("stat").id;
        assert_eq!(before == after, reuse, "{}", world.trace());
        assert!(
            world.trace().to_string().contains(" replace "),
            "{}",
            world.trace()
        );
    }
}
