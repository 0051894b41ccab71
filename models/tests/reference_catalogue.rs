//! The DESIGN §6 bug catalogue, one test per row, against the reference model: the model says
//! what must happen, and the state (or outcome) a buggy lock would produce instead is flagged by
//! the model's invariants with the catalogue's property.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use lockcore::{Acquired, LiveReason, Payload, Policy, Released, StaleReason, Verdict};
use models::oracle::Violation;
use models::reference::{
    diagnose, lock_path_of, BusyOwner, Cause, Content, Model, Op, Outcome, ProcKey,
};
use std::path::{Path, PathBuf};

const MIN: i64 = 60_000;

fn a() -> ProcKey {
    ProcKey::new("h1", 1)
}
fn b() -> ProcKey {
    ProcKey::new("h1", 2)
}
fn c() -> ProcKey {
    ProcKey::new("h1", 3)
}
fn session() -> PathBuf {
    PathBuf::from("/d/s1.jsonl")
}
fn lock() -> PathBuf {
    lock_path_of(&session())
}

/// A world with processes a, b, c alive on host h1.
fn world() -> Model {
    let mut m = Model::new(Policy::default());
    for p in [a(), b(), c()] {
        m.step(&Op::Spawn(p));
    }
    m
}

fn acquire(m: &mut Model, p: &ProcKey, session: &Path) -> (Outcome, Option<u64>) {
    let r = m.step(&Op::Acquire {
        proc: p.clone(),
        session: session.to_path_buf(),
        reentrant: true,
    });
    (r.outcome, r.guard)
}

fn hold_id(m: &Model, p: &ProcKey, path: &Path) -> u64 {
    m.instance(p).unwrap().holds[path].id
}

/// Asserts the model state is sound, then that `bad` is flagged with `property`.
fn expect_flagged(row: &str, good: &Model, bad: Result<(), Violation>, property: &str) {
    if let Err(v) = good.check_invariants() {
        panic!("{row}: the correct history must pass, got {v}");
    }
    match bad {
        Ok(()) => panic!("{row}: the buggy outcome was not flagged"),
        Err(v) => {
            println!("{row}: {v}");
            assert_eq!(v.property, property, "{row}: {v}");
        }
    }
}

/// P3: rotating the nonce while release_all still has locks to remove is flagged.
#[test]
fn rotate_before_cleanup_is_p3() {
    let mut m = world();
    acquire(&mut m, &a(), &session());
    // Correct: the release loop runs under the old nonce; rotation only at the end.
    let mut good = m.clone();
    assert!(good.begin_release_all(&a()));
    assert!(good.check_invariants().is_ok());
    while good.release_all_one(&a()).is_some() {}
    good.finish_release_all(&a());
    // Buggy: the nonce is rotated while the lock is still being released.
    let mut bad = m.clone();
    bad.begin_release_all(&a());
    let inst = bad
        .procs
        .get_mut(&a())
        .and_then(|p| p.instance.as_mut())
        .unwrap();
    inst.nonce = "n1.1".into();
    inst.epoch = 1;
    expect_flagged("rotate-before-cleanup", &good, bad.check_invariants(), "P3");
}

/// P4: a hold taken during release_all and yanked by it is flagged.
#[test]
fn release_all_live_iteration_is_p4() {
    let mut m = world();
    acquire(&mut m, &a(), &session());
    let late = Path::new("/d/s2.jsonl");
    // Correct: an acquisition while release_all runs waits at the gate.
    let mut good = m.clone();
    good.begin_release_all(&a());
    assert_eq!(
        acquire(&mut good, &a(), late).0,
        Outcome::Busy(BusyOwner::ThisInstance)
    );
    while good.release_all_one(&a()).is_some() {}
    good.finish_release_all(&a());
    // Buggy: no gate, the late acquisition lands in the live registry, and the live walk
    // deletes it by key.
    let mut bad = m.clone();
    bad.begin_release_all(&a());
    let guard = bad.buggy_publish(&a(), &lock_path_of(late)).unwrap();
    bad.guards.get_mut(&guard).unwrap().during_release_all = true;
    let late_hold = hold_id(&bad, &a(), &lock_path_of(late));
    bad.buggy_delete(
        &a(),
        &lock_path_of(late),
        Cause::ReleaseAll { hold: late_hold },
    );
    bad.procs
        .get_mut(&a())
        .and_then(|p| p.instance.as_mut())
        .unwrap()
        .holds
        .remove(&lock_path_of(late));
    while bad.release_all_one(&a()).is_some() {}
    bad.finish_release_all(&a());
    expect_flagged(
        "release-all-live-iteration",
        &good,
        bad.check_invariants(),
        "P4",
    );
}

/// P4: a hold left in the registry and on disk after release_all is flagged.
#[test]
fn release_all_index_skip_is_p4() {
    let mut m = world();
    acquire(&mut m, &a(), &session());
    acquire(&mut m, &a(), Path::new("/d/s2.jsonl"));
    let mut good = m.clone();
    let out = good.step(&Op::ReleaseAll(a())).outcome;
    assert_eq!(
        out,
        Outcome::ReleasedAll {
            released: vec![lock(), lock_path_of(Path::new("/d/s2.jsonl"))],
            not_ours: vec![]
        }
    );
    // Buggy: removing while walking by position skips the second entry.
    let mut bad = m.clone();
    bad.begin_release_all(&a());
    bad.release_all_one(&a());
    let inst = bad
        .procs
        .get_mut(&a())
        .and_then(|p| p.instance.as_mut())
        .unwrap();
    let skipped = std::mem::take(&mut inst.releasing);
    inst.holds.extend(skipped);
    bad.finish_release_all(&a());
    expect_flagged(
        "release-all-index-skip",
        &good,
        bad.check_invariants(),
        "P4",
    );
}

fn dead_owner_file(m: &mut Model) {
    let payload = Payload {
        pid: 77,
        nonce: Some("dead-owner".into()),
        created_at_ms: m.now_ms,
        starttime: None,
        host: Some("h1".into()),
        token: None,
        lease: None,
    };
    let now = m.now_ms;
    m.step(&Op::Plant {
        path: lock(),
        content: Content::Payload(payload),
        mtime_ms: now,
    });
}

/// P1: the second reclaimer deleting the first one's fresh lock leaves two owners.
#[test]
fn naive_reclaim_is_p1() {
    let mut m = world();
    dead_owner_file(&mut m);
    // Correct: b reclaims the dead owner's file; c, coming second, finds b's fresh lock live.
    let mut good = m.clone();
    assert_eq!(
        acquire(&mut good, &b(), &session()).0,
        Outcome::Acquired(Acquired::Reclaimed(StaleReason::DeadPid))
    );
    assert!(matches!(
        acquire(&mut good, &c(), &session()).0,
        Outcome::Busy(BusyOwner::File(_))
    ));
    // Buggy: c judged the dead owner's file stale earlier, then deletes by path — b's fresh lock.
    let mut bad = m.clone();
    acquire(&mut bad, &b(), &session());
    bad.buggy_delete(&c(), &lock(), Cause::Reclaim(StaleReason::DeadPid));
    bad.buggy_publish(&c(), &lock());
    expect_flagged("naive-reclaim", &good, bad.check_invariants(), "P1");
}

/// P1: a rename over a just-taken lock leaves two owners.
#[test]
fn rename_takeover_is_p1() {
    let mut m = world();
    dead_owner_file(&mut m);
    let mut good = m.clone();
    acquire(&mut good, &b(), &session());
    // Buggy: c renames its temp file over the lock that b has just taken.
    let mut bad = good.clone();
    bad.buggy_publish(&c(), &lock());
    expect_flagged("rename-takeover", &good, bad.check_invariants(), "P1");
}

/// P2: a release deleting the next owner's lock is flagged.
#[test]
fn unchecked_release_is_p2() {
    let mut m = world();
    let (_, ga) = acquire(&mut m, &a(), &session());
    m.step(&Op::Advance(31 * MIN));
    assert_eq!(
        acquire(&mut m, &b(), &session()).0,
        Outcome::Acquired(Acquired::Reclaimed(StaleReason::TooOld))
    );
    let mut good = m.clone();
    assert_eq!(
        good.step(&Op::Release(ga.unwrap())).outcome,
        Outcome::Released(Released::NotOurs)
    );
    // Buggy: a's release deletes by path, i.e. b's lock.
    let mut bad = m.clone();
    let a_hold = hold_id(&bad, &a(), &lock());
    bad.guards.get_mut(&ga.unwrap()).unwrap().released = true;
    bad.buggy_delete(
        &a(),
        &lock(),
        Cause::Release {
            hold: a_hold,
            revoked: false,
        },
    );
    expect_flagged("unchecked-release", &good, bad.check_invariants(), "P2");
}

/// P5: a revoked guard touching a newer hold is flagged.
#[test]
fn release_by_key_is_p5() {
    let mut m = world();
    let (_, g_old) = acquire(&mut m, &a(), &session());
    m.step(&Op::RestartInPlace(a()));
    let (_, _g_new) = acquire(&mut m, &a(), &session());
    let mut good = m.clone();
    assert_eq!(
        good.step(&Op::Release(g_old.unwrap())).outcome,
        Outcome::Released(Released::Inert)
    );
    // Buggy: the revoked guard acts on whatever hold has the key now and deletes it.
    let mut bad = m.clone();
    let new_hold = hold_id(&bad, &a(), &lock());
    bad.guards.get_mut(&g_old.unwrap()).unwrap().released = true;
    bad.buggy_delete(
        &a(),
        &lock(),
        Cause::Release {
            hold: new_hold,
            revoked: true,
        },
    );
    expect_flagged("release-by-key", &good, bad.check_invariants(), "P5");
}

/// P2: the old release deleting the re-acquired lock is flagged.
#[test]
fn registry_before_unlink_is_p2() {
    let mut m = world();
    let (_, g1) = acquire(&mut m, &a(), &session());
    let good = {
        let mut good = m.clone();
        assert_eq!(
            good.step(&Op::Release(g1.unwrap())).outcome,
            Outcome::Released(Released::Removed)
        );
        good
    };
    // Buggy: the entry goes first; in the gap this instance re-acquires and reclaims its own
    // "leftover"; then the old release deletes the new file.
    let mut bad = m.clone();
    let old_hold = hold_id(&bad, &a(), &lock());
    bad.guards.get_mut(&g1.unwrap()).unwrap().released = true;
    bad.procs
        .get_mut(&a())
        .and_then(|p| p.instance.as_mut())
        .unwrap()
        .holds
        .remove(&lock());
    assert_eq!(
        acquire(&mut bad, &a(), &session()).0,
        Outcome::Acquired(Acquired::Reclaimed(StaleReason::Leftover))
    );
    bad.buggy_delete(
        &a(),
        &lock(),
        Cause::Release {
            hold: old_hold,
            revoked: false,
        },
    );
    expect_flagged(
        "registry-before-unlink",
        &good,
        bad.check_invariants(),
        "P2",
    );
}

/// P10: an empty file reclaimed inside its grace is flagged.
#[test]
fn empty_window_is_p10() {
    let mut m = world();
    // b's publish is between create and write: an empty file, mtime now.
    let now = m.now_ms;
    m.step(&Op::Plant {
        path: lock(),
        content: Content::Malformed(Vec::new()),
        mtime_ms: now,
    });
    let mut good = m.clone();
    assert_eq!(
        acquire(&mut good, &a(), &session()).0,
        Outcome::Busy(BusyOwner::Malformed)
    );
    let mut bad = m.clone();
    bad.buggy_delete(&a(), &lock(), Cause::Reclaim(StaleReason::MalformedExpired));
    expect_flagged("empty-window", &good, bad.check_invariants(), "P10");
}

/// P2: an EPERM owner's lock reclaimed as dead is flagged.
#[test]
fn eperm_is_dead_is_p2() {
    let mut m = world();
    acquire(&mut m, &b(), &session());
    m.step(&Op::SetEperm(b(), true));
    let mut good = m.clone();
    assert!(matches!(
        acquire(&mut good, &a(), &session()).0,
        Outcome::Busy(BusyOwner::File(_))
    ));
    let mut bad = m.clone();
    bad.buggy_delete(&a(), &lock(), Cause::Reclaim(StaleReason::DeadPid));
    expect_flagged("eperm-is-dead", &good, bad.check_invariants(), "P2");
}

/// P6: waiting on our previous iteration's lock is flagged.
#[test]
fn ignore_nonce_is_p6() {
    let mut m = world();
    // A file of a's previous iteration (same pid, same start time, old nonce) whose delete
    // failed.
    let start = m.instance(&a()).unwrap().start_time;
    let now = m.now_ms;
    m.step(&Op::Plant {
        path: lock(),
        content: Content::Payload(Payload {
            pid: 1,
            nonce: Some("n-previous".into()),
            created_at_ms: now,
            starttime: Some(start),
            host: Some("h1".into()),
            token: Some("old".into()),
            lease: None,
        }),
        mtime_ms: now,
    });
    let op = Op::Acquire {
        proc: a(),
        session: session(),
        reentrant: true,
    };
    let mut good = m.clone();
    let expected = good.step(&op).outcome;
    assert_eq!(
        expected,
        Outcome::Acquired(Acquired::Reclaimed(StaleReason::NonceMismatch))
    );
    // Buggy: without the nonce the file looks like a live legacy lock of our pid.
    let buggy = Outcome::Busy(BusyOwner::File(Payload {
        pid: 1,
        nonce: Some("n-previous".into()),
        created_at_ms: now,
        starttime: Some(start),
        host: Some("h1".into()),
        token: Some("old".into()),
        lease: None,
    }));
    expect_flagged(
        "ignore-nonce",
        &good,
        Err(diagnose(&m, &op, &expected, &buggy)),
        "P6",
    );
}

/// P8: reclaiming another live pid's lock by nonce mismatch is flagged.
#[test]
fn nonce_any_pid_is_p8() {
    let mut m = world();
    acquire(&mut m, &b(), &session());
    let mut good = m.clone();
    assert!(matches!(
        acquire(&mut good, &a(), &session()).0,
        Outcome::Busy(BusyOwner::File(_))
    ));
    let mut bad = m.clone();
    bad.buggy_delete(&a(), &lock(), Cause::Reclaim(StaleReason::NonceMismatch));
    expect_flagged("nonce-any-pid", &good, bad.check_invariants(), "P8");
}

/// P9: the file gone while a reentrant guard is still out is flagged.
#[test]
fn no_reentry_count_is_p9() {
    let mut m = world();
    let (_, _g1) = acquire(&mut m, &a(), &session());
    let (o, g2) = acquire(&mut m, &a(), &session());
    assert_eq!(o, Outcome::Acquired(Acquired::Reentered));
    let mut good = m.clone();
    assert_eq!(
        good.step(&Op::Release(g2.unwrap())).outcome,
        Outcome::Released(Released::Decremented(1))
    );
    // Buggy: the first release frees the lock although one guard is still out.
    let mut bad = m.clone();
    let h = hold_id(&bad, &a(), &lock());
    bad.guards.get_mut(&g2.unwrap()).unwrap().released = true;
    bad.buggy_delete(
        &a(),
        &lock(),
        Cause::Release {
            hold: h,
            revoked: false,
        },
    );
    bad.procs
        .get_mut(&a())
        .and_then(|p| p.instance.as_mut())
        .unwrap()
        .holds
        .remove(&lock());
    expect_flagged("no-reentry-count", &good, bad.check_invariants(), "P9");
}

/// The verdict the model gives a file, from `me`.
fn verdict_of(m: &Model, me: &ProcKey) -> Verdict {
    let f = m.files.get(&lock()).unwrap();
    m.verdict(me, &lock(), f).unwrap()
}

#[test]
fn p6_after_in_place_restart_the_old_lock_is_reclaimed_at_once() {
    // P6: a's lock survives a failed delete; after the restart a reclaims it without waiting.
    let mut m = world();
    acquire(&mut m, &a(), &session());
    let survivor = m.files[&lock()].content.clone();
    m.step(&Op::RestartInPlace(a()));
    let now = m.now_ms;
    m.step(&Op::Plant {
        path: lock(),
        content: survivor,
        mtime_ms: now,
    });
    assert_eq!(
        verdict_of(&m, &a()),
        Verdict::Stale(StaleReason::NonceMismatch)
    );
    assert_eq!(
        acquire(&mut m, &a(), &session()).0,
        Outcome::Acquired(Acquired::Reclaimed(StaleReason::NonceMismatch))
    );
    m.check_invariants().unwrap();
    let _ = LiveReason::HeldHere;
}
