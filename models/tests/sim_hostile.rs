//! Hostile lock paths on the simulated file system (P16): SimFs gives every non-regular kind the
//! real `Fs` contract (lstat, never follow, never block, unlink the entry itself), and lockcore
//! on top of it gives each a named verdict or a typed error, writes and deletes nothing through
//! a link, and treats two spellings of a session (a symlinked directory) as one lock (P9).
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use lockcore::env::{FileKind, Fs};
use lockcore::{
    Acquired, CleanOptions, LiveReason, LockError, LockManager, Policy, Released, Verdict,
};
use models::oracle::check_hostile;
use models::sim::SimFs;
use models::{SimKind, SimWorld};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

fn p(s: &str) -> PathBuf {
    PathBuf::from(s)
}

fn world() -> (SimWorld, SimFs) {
    let world = SimWorld::new(16);
    world.spawn("h", 1);
    let fs = world.env("h", 1).fs;
    (world, fs)
}

/// Every hostile kind, planted at `path`: the four specials, then symlinks to a regular file,
/// to nothing, and to themselves.
fn plant_each(world: &SimWorld, path: &Path, i: usize) -> FileKind {
    match i {
        0..=3 => {
            world.plant_special(path, SimKind::ALL[i]);
            SimKind::ALL[i].file_kind()
        }
        4 => {
            world.plant(&p("/victim/data"), b"precious", 0);
            world.plant_symlink(path, &p("/victim/data"));
            FileKind::Symlink
        }
        5 => {
            world.plant_symlink(path, &p("/nowhere/at-all"));
            FileKind::Symlink
        }
        _ => {
            world.plant_symlink(path, path);
            FileKind::Symlink
        }
    }
}

const KINDS: usize = 7;

// P16: lstat reports each kind without following; read fails with `not_regular` (InvalidInput,
// at once); write fails at once; list shows every kind.
#[test]
fn each_kind_is_seen_without_following_and_never_read() {
    for i in 0..KINDS {
        let (world, fs) = world();
        let at = p("/d/s.jsonl.lock");
        let kind = plant_each(&world, &at, i);
        let meta = fs.metadata(&at).expect("lstat");
        assert_eq!(meta.kind, kind, "{}", world.trace());
        let err = fs.read(&at, 4096).expect_err("read of a non-regular entry");
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.to_string().contains(kind.as_str()), "{err}");
        assert!(fs.write_existing(&at, b"x").is_err());
        assert!(fs.list(&p("/d")).expect("list").contains(&at));
        assert!(world.trace().to_string().contains(kind.as_str()));
        check_hostile(&world, &[]).expect("nothing written or removed");
    }
}

// P16: exclusive create and link fail AlreadyExists on every kind, a dangling link included.
#[test]
fn create_and_link_fail_on_anything_at_the_destination() {
    for i in 0..KINDS {
        let (world, fs) = world();
        let at = p("/d/s.jsonl.lock");
        plant_each(&world, &at, i);
        let err = fs.create_new(&at, b"mine").expect_err("create over it");
        assert_eq!(err.kind(), ErrorKind::AlreadyExists, "kind #{i}");
        fs.create_new(&p("/d/tmp"), b"mine").expect("temp");
        let err = fs.link(&p("/d/tmp"), &at).expect_err("link over it");
        assert_eq!(err.kind(), ErrorKind::AlreadyExists, "kind #{i}");
        check_hostile(&world, &[]).expect("targets untouched");
    }
}

// P16: remove unlinks the entry itself — a link, never its target; a directory is refused.
#[test]
fn remove_unlinks_the_entry_itself_and_refuses_a_directory() {
    for i in 0..KINDS {
        let (world, fs) = world();
        let at = p("/d/s.jsonl.lock");
        let kind = plant_each(&world, &at, i);
        let removed = fs.remove(&at);
        if kind == FileKind::Directory {
            assert!(removed.is_err());
            assert_eq!(world.kind_at(&at), Some(FileKind::Directory));
            continue;
        }
        removed.expect("unlink");
        assert_eq!(world.kind_at(&at), None);
        if i == 4 {
            assert_eq!(
                world.file(&p("/victim/data")).as_deref(),
                Some(&b"precious"[..])
            );
        }
        // Removed by h:1, which ran no clean: the oracle names it.
        let v = check_hostile(&world, &[]).expect_err("an unasked removal");
        assert_eq!(v.property, "P16");
        check_hostile(&world, &[("h", 1)]).expect("asked for");
    }
}

// P16: acquire and try_acquire fail at once with NotRegular naming the kind; nothing is written
// or deleted; inspect names the verdict; clean_stale keeps the entry.
#[test]
fn lockcore_refuses_every_kind_at_once_and_sweeps_keep_it() {
    for i in 0..KINDS {
        let (world, _) = world();
        let m = LockManager::new(world.env("h", 1), Policy::default());
        let at = p("/d/s.jsonl.lock");
        let kind = plant_each(&world, &at, i);
        for r in [m.try_acquire(&p("/d/s.jsonl")), m.acquire(&p("/d/s.jsonl"))] {
            match r {
                Err(LockError::NotRegular { kind: k, .. }) => assert_eq!(k, kind),
                other => panic!("kind #{i}: {other:?}\n{}", world.trace()),
            }
        }
        let seen = m.inspect(&p("/d")).expect("inspect");
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].verdict, Verdict::Live(LiveReason::NotRegular));
        let report = m.clean_stale(&p("/d"), false).expect("clean");
        assert!(report.removed.is_empty());
        assert_eq!(world.kind_at(&at), Some(kind));
        assert!(m.held().is_empty());
        check_hostile(&world, &[]).expect("nothing removed");
    }
}

// P16: clean with remove_non_regular removes every kind but a directory (reported instead),
// and a link's target survives; a dry run removes nothing.
#[test]
fn clean_remove_non_regular_removes_all_but_directories() {
    for i in 0..KINDS {
        let (world, _) = world();
        let m = LockManager::new(world.env("h", 1), Policy::default());
        let at = p("/d/s.jsonl.lock");
        let kind = plant_each(&world, &at, i);
        let opts = |dry_run| CleanOptions {
            dry_run,
            remove_non_regular: true,
        };
        m.clean(&p("/d"), opts(true)).expect("dry run");
        assert_eq!(world.kind_at(&at), Some(kind));
        let report = m.clean(&p("/d"), opts(false)).expect("clean");
        if kind == FileKind::Directory {
            assert_eq!(world.kind_at(&at), Some(kind));
            assert_eq!(report.unreadable.len(), 1, "{report:?}");
        } else {
            assert_eq!(world.kind_at(&at), None, "{}", world.trace());
            assert_eq!(report.removed.len(), 1);
        }
        check_hostile(&world, &[("h", 1)]).expect("only what clean asked for");
    }
}

// P9/P16: a session spelled through a symlinked directory is the same lock: the second spelling
// re-enters, one file exists, and the last release removes it.
#[test]
fn an_aliased_spelling_re_enters_the_same_lock() {
    let (world, fs) = world();
    world.alias_dir(&p("/a"), &p("/d"));
    assert_eq!(fs.canonical_dir(&p("/a")).expect("resolve"), p("/d"));
    let m = LockManager::new(world.env("h", 1), Policy::default());
    let g1 = m.acquire(&p("/d/s.jsonl")).expect("real spelling");
    let g2 = m.acquire(&p("/a/s.jsonl")).expect("aliased spelling");
    assert_eq!(g2.how(), Acquired::Reentered, "{}", world.trace());
    assert_eq!(m.held(), vec![(p("/d/s.jsonl.lock"), 2)]);
    assert!(world.file(&p("/d/s.jsonl.lock")).is_some());
    assert_eq!(g2.release().expect("r2"), Released::Decremented(1));
    assert_eq!(g1.release().expect("r1"), Released::Removed);
    assert!(world.files().is_empty(), "{}", world.trace());
    check_hostile(&world, &[]).expect("the alias link untouched");
}

// P1: a second process spelling the session through the alias waits for the first (one lock).
#[test]
fn an_aliased_spelling_from_another_process_is_busy() {
    let (world, _) = world();
    world.spawn("h", 2);
    world.alias_dir(&p("/a"), &p("/d"));
    let m1 = LockManager::new(world.env("h", 1), Policy::default());
    let m2 = LockManager::new(world.env("h", 2), Policy::default());
    let _g = m1.acquire(&p("/d/s.jsonl")).expect("first");
    assert!(matches!(
        m2.try_acquire(&p("/a/s.jsonl")),
        Err(LockError::Busy { .. })
    ));
}

// SimFs: an alias that loops resolves to ELOOP, a typed error (never a hang or a panic).
#[test]
fn a_looping_alias_is_an_error() {
    let (world, fs) = world();
    world.alias_dir(&p("/a"), &p("/b"));
    world.alias_dir(&p("/b"), &p("/a"));
    assert!(fs.canonical_dir(&p("/a")).is_err());
    let m = LockManager::new(world.env("h", 1), Policy::default());
    assert!(matches!(
        m.try_acquire(&p("/a/s.jsonl")),
        Err(LockError::Io { .. })
    ));
}
