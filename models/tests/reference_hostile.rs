//! The reference model on hostile lock paths (P16) and aliased spellings (P9): what it predicts,
//! and that its invariants name P16 for a buggy lock's removal of a non-regular entry.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use lockcore::{Acquired, FileKind, LiveReason, Policy, Released, Verdict};
use models::reference::{lock_path_of, Cause, Content, Model, Op, Outcome, ProcKey};
use std::path::PathBuf;

const HOUR: i64 = 3_600_000;

fn me() -> ProcKey {
    ProcKey::new("h1", 1)
}

fn run(m: &mut Model, op: Op) -> Outcome {
    let r = m.step(&op);
    if let Err(v) = m.check_invariants() {
        panic!("after {op}: {v}");
    }
    r.outcome
}

fn acquire(m: &mut Model, session: &str) -> Outcome {
    run(
        m,
        Op::Acquire {
            proc: me(),
            session: PathBuf::from(session),
            reentrant: true,
        },
    )
}

fn hostile(kind: FileKind) -> Content {
    let target = (kind == FileKind::Symlink).then(|| PathBuf::from("/d/victim.data"));
    Content::NotRegular { kind, target }
}

const KINDS: [FileKind; 5] = [
    FileKind::Fifo,
    FileKind::Socket,
    FileKind::Device,
    FileKind::Directory,
    FileKind::Symlink,
];

fn world_with(kind: FileKind) -> (Model, PathBuf) {
    let mut m = Model::new(Policy::default());
    run(&mut m, Op::Spawn(me()));
    let lock = lock_path_of(&PathBuf::from("/d/s.jsonl"));
    let old = m.now_ms - 5 * HOUR;
    run(
        &mut m,
        Op::Plant {
            path: lock.clone(),
            content: hostile(kind),
            mtime_ms: old,
        },
    );
    (m, lock)
}

// P16: whatever its age, a non-regular entry is live (not-regular), acquire is refused at once
// naming its kind, and clean_stale keeps it.
#[test]
fn a_hostile_entry_is_refused_and_kept() {
    for kind in KINDS {
        let (mut m, lock) = world_with(kind);
        assert_eq!(acquire(&mut m, "/d/s.jsonl"), Outcome::NotRegular(kind));
        let seen = run(&mut m, Op::Inspect(me(), "/d".into()));
        assert_eq!(
            seen,
            Outcome::Inspected(vec![(lock.clone(), Verdict::Live(LiveReason::NotRegular))])
        );
        run(&mut m, Op::CleanStale(me(), "/d".into()));
        assert!(m.files.contains_key(&lock), "{kind:?} kept");
    }
}

// P16: clean --remove-non-regular removes every kind but a directory, which it reports.
#[test]
fn clean_non_regular_removes_all_but_a_directory() {
    for kind in KINDS {
        let (mut m, lock) = world_with(kind);
        let out = run(&mut m, Op::CleanNonRegular(me(), "/d".into()));
        let Outcome::Cleaned {
            non_regular,
            refused,
            ..
        } = out
        else {
            panic!("{out:?}");
        };
        if kind == FileKind::Directory {
            assert_eq!(refused, vec![lock.clone()]);
            assert!(m.files.contains_key(&lock));
        } else {
            assert_eq!(non_regular, vec![lock.clone()]);
            assert!(!m.files.contains_key(&lock));
        }
    }
}

// P16: the invariants name a buggy lock's removal of a non-regular entry (as stale, or a
// directory by a clean) as P16.
#[test]
fn removing_a_hostile_entry_unasked_is_p16() {
    for (kind, cause) in [
        (
            FileKind::Fifo,
            Cause::Reclaim(lockcore::StaleReason::TooOld),
        ),
        (
            FileKind::Symlink,
            Cause::Sweep(lockcore::StaleReason::TooOld),
        ),
        (FileKind::Directory, Cause::NonRegular(FileKind::Directory)),
    ] {
        let (mut m, lock) = world_with(kind);
        assert!(m.buggy_delete(&me(), &lock, cause));
        let v = m.check_invariants().expect_err("a P16 violation");
        assert_eq!(v.property, "P16", "{v}");
    }
}

// P9: a session spelled through an aliased directory re-enters the same hold, one file.
#[test]
fn an_aliased_spelling_is_the_same_lock() {
    let mut m = Model::new(Policy::default());
    run(&mut m, Op::Spawn(me()));
    run(&mut m, Op::AliasDir("/a".into(), "/d".into()));
    assert_eq!(
        acquire(&mut m, "/d/s.jsonl"),
        Outcome::Acquired(Acquired::Fresh)
    );
    assert_eq!(
        acquire(&mut m, "/a/s.jsonl"),
        Outcome::Acquired(Acquired::Reentered)
    );
    assert_eq!(m.files.len(), 1);
    let guards: Vec<u64> = m.live_guards().map(|(id, _)| id).collect();
    assert_eq!(
        run(&mut m, Op::Release(guards[1])),
        Outcome::Released(Released::Decremented(1))
    );
    assert_eq!(
        run(&mut m, Op::Release(guards[0])),
        Outcome::Released(Released::Removed)
    );
    assert!(m.files.is_empty());
}
