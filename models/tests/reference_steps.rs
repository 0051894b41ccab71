//! Step tests of the reference model: every operation, its outcome and the state it leaves,
//! with the model's invariants checked after each.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use lockcore::{Acquired, LiveReason, Payload, Policy, Released, StaleReason, Verdict};
use models::reference::{
    lock_path_of, BusyOwner, Content, Model, ModelFile, Op, Origin, Outcome, ProcKey,
};
use std::path::{Path, PathBuf};

const SEC: i64 = 1000;
const MIN: i64 = 60 * SEC;

fn p(host: &str, pid: u32) -> ProcKey {
    ProcKey::new(host, pid)
}
fn s(i: u32) -> PathBuf {
    PathBuf::from(format!("/d/s{i}.jsonl"))
}
fn l(i: u32) -> PathBuf {
    lock_path_of(&s(i))
}

/// Runs `op`, checks the invariants, returns the outcome and guard.
fn run(m: &mut Model, op: Op) -> (Outcome, Option<u64>) {
    let r = m.step(&op);
    if let Err(v) = m.check_invariants() {
        panic!("after {op}: {v}");
    }
    (r.outcome, r.guard)
}

fn acq(m: &mut Model, who: &ProcKey, i: u32, reentrant: bool) -> (Outcome, Option<u64>) {
    run(
        m,
        Op::Acquire {
            proc: who.clone(),
            session: s(i),
            reentrant,
        },
    )
}

fn world() -> Model {
    let mut m = Model::new(Policy::default());
    for k in [p("h1", 1), p("h1", 2), p("h2", 1)] {
        run(&mut m, Op::Spawn(k));
    }
    m
}

fn plant(m: &mut Model, i: u32, payload: Payload, mtime_age: i64) {
    let mtime_ms = m.now_ms - mtime_age;
    run(
        m,
        Op::Plant {
            path: l(i),
            content: Content::Payload(payload),
            mtime_ms,
        },
    );
}

/// The legacy shape as written in host `h1`'s pid namespace (so the pid rules apply; a file with
/// no host at all fails closed, P14).
fn legacy(pid: u32, created_at_ms: i64) -> Payload {
    Payload {
        pid,
        nonce: None,
        created_at_ms,
        starttime: None,
        host: Some("h1".into()),
        token: None,
        lease: None,
    }
}

/// The lock path is the session path plus `.lock`.
#[test]
fn lock_path_is_session_plus_lock() {
    assert_eq!(
        lock_path_of(Path::new("/d/a.jsonl")),
        PathBuf::from("/d/a.jsonl.lock")
    );
}

/// P1 (owners): every process incarnation is a distinct instance with its own nonce.
#[test]
fn spawn_gives_a_fresh_instance_and_start_time() {
    let m = world();
    let a = m.instance(&p("h1", 1)).unwrap();
    let b = m.instance(&p("h1", 2)).unwrap();
    assert_ne!(a.nonce, b.nonce);
    assert_eq!((a.epoch, a.start_time, b.start_time), (0, 1000, 1001));
}

/// P9: a fresh acquire publishes exactly our payload.
#[test]
fn acquire_fresh_publishes_our_payload() {
    // P9: the file exists iff the count is > 0.
    let mut m = world();
    let a = p("h1", 1);
    let (o, g) = acq(&mut m, &a, 1, true);
    assert_eq!(o, Outcome::Acquired(Acquired::Fresh));
    assert!(g.is_some());
    let f = &m.files[&l(1)];
    let Content::Payload(pl) = &f.content else {
        panic!("payload expected")
    };
    let inst = m.instance(&a).unwrap();
    assert_eq!(pl.pid, 1);
    assert_eq!(pl.nonce.as_deref(), Some(inst.nonce.as_str()));
    assert_eq!(pl.host.as_deref(), Some("h1"));
    assert_eq!(pl.starttime, Some(inst.start_time));
    assert_eq!(pl.created_at_ms, m.now_ms);
    assert!(matches!(f.origin, Origin::Lockcore { .. }));
}

/// P9, P1: reentry counts; non-reentrant reentry is busy.
#[test]
fn reentrant_acquire_counts_and_non_reentrant_is_busy() {
    // P9: reentry counts; P1: a non-reentrant second acquire is busy in this instance.
    let mut m = world();
    let a = p("h1", 1);
    let (_, g1) = acq(&mut m, &a, 1, true);
    let (o, g2) = acq(&mut m, &a, 1, true);
    assert_eq!(o, Outcome::Acquired(Acquired::Reentered));
    assert_eq!(m.instance(&a).unwrap().holds[&l(1)].count, 2);
    assert_eq!(
        acq(&mut m, &a, 1, false).0,
        Outcome::Busy(BusyOwner::ThisInstance)
    );
    assert_eq!(
        run(&mut m, Op::Release(g2.unwrap())).0,
        Outcome::Released(Released::Decremented(1))
    );
    assert!(m.files.contains_key(&l(1)));
    assert_eq!(
        run(&mut m, Op::Release(g1.unwrap())).0,
        Outcome::Released(Released::Removed)
    );
    assert!(!m.files.contains_key(&l(1)));
    assert_eq!(run(&mut m, Op::Release(g1.unwrap())).0, Outcome::NoGuard);
}

/// P1, P8: a live holder blocks another process.
#[test]
fn another_live_process_is_busy_with_the_owner() {
    // P1, P8: a live holder's matching nonce is never reclaimed by another pid.
    let mut m = world();
    acq(&mut m, &p("h1", 1), 1, true);
    let Outcome::Busy(BusyOwner::File(owner)) = acq(&mut m, &p("h1", 2), 1, true).0 else {
        panic!("busy expected")
    };
    assert_eq!(owner.pid, 1);
}

/// P11: a dead owner's lock is reclaimed at once.
#[test]
fn dead_owner_is_reclaimed_at_once() {
    // P11: a crash leaves nothing that blocks beyond the dead-pid check.
    let mut m = world();
    acq(&mut m, &p("h1", 2), 1, true);
    run(&mut m, Op::Crash(p("h1", 2)));
    assert!(m.files.contains_key(&l(1)), "files stay after a crash");
    assert_eq!(
        acq(&mut m, &p("h1", 1), 1, true).0,
        Outcome::Acquired(Acquired::Reclaimed(StaleReason::DeadPid))
    );
}

/// P11: a reused pid's old lock is reclaimed as recycled.
#[test]
fn reused_pid_is_recycled() {
    let mut m = world();
    acq(&mut m, &p("h1", 2), 1, true);
    run(&mut m, Op::Crash(p("h1", 2)));
    run(&mut m, Op::ReusePid(p("h1", 2)));
    assert_eq!(
        acq(&mut m, &p("h1", 1), 1, true).0,
        Outcome::Acquired(Acquired::Reclaimed(StaleReason::RecycledPid))
    );
}

/// P6: exec-restart with the same pid reclaims its predecessor's lock.
#[test]
fn exec_restart_reclaims_its_predecessor_by_nonce() {
    // P6: exec-restart with the same pid does not wait for stale_after.
    let mut m = world();
    let a = p("h1", 1);
    acq(&mut m, &a, 1, true);
    run(&mut m, Op::ExecRestart(a.clone()));
    assert_eq!(
        m.live_guards().count(),
        0,
        "the old instance's guards are gone"
    );
    assert_eq!(
        acq(&mut m, &a, 1, true).0,
        Outcome::Acquired(Acquired::Reclaimed(StaleReason::NonceMismatch))
    );
}

/// P3, P4, P5: release_all removes all, rotates after, revokes guards.
#[test]
fn release_all_removes_everything_then_rotates() {
    // P3, P4, P5: everything goes, the nonce rotates after, revoked guards are inert.
    let mut m = world();
    let a = p("h1", 1);
    let (_, g1) = acq(&mut m, &a, 1, true);
    let (_, _g2) = acq(&mut m, &a, 2, true);
    let old = m.instance(&a).unwrap().nonce.clone();
    assert_eq!(
        run(&mut m, Op::ReleaseAll(a.clone())).0,
        Outcome::ReleasedAll {
            released: vec![l(1), l(2)],
            not_ours: vec![]
        }
    );
    let inst = m.instance(&a).unwrap();
    assert_ne!(inst.nonce, old);
    assert_eq!(inst.epoch, 1);
    assert!(inst.holds.is_empty() && m.files.is_empty());
    // The next holder's lock survives the revoked guard.
    acq(&mut m, &a, 1, true);
    assert_eq!(
        run(&mut m, Op::Release(g1.unwrap())).0,
        Outcome::Released(Released::Inert)
    );
    assert!(m.files.contains_key(&l(1)));
}

/// P6: after an in-place restart the session is free at once.
#[test]
fn restart_in_place_is_release_all() {
    let mut m = world();
    let a = p("h1", 1);
    acq(&mut m, &a, 1, true);
    assert!(matches!(
        run(&mut m, Op::RestartInPlace(a.clone())).0,
        Outcome::ReleasedAll { .. }
    ));
    assert_eq!(
        acq(&mut m, &a, 1, true).0,
        Outcome::Acquired(Acquired::Fresh)
    );
}

/// P2, P4: release_all leaves a lock reclaimed from it alone.
#[test]
fn release_all_reports_not_ours_for_a_reclaimed_lock() {
    let mut m = world();
    let a = p("h1", 1);
    acq(&mut m, &a, 1, true);
    run(&mut m, Op::Advance(31 * MIN));
    assert_eq!(
        acq(&mut m, &p("h1", 2), 1, true).0,
        Outcome::Acquired(Acquired::Reclaimed(StaleReason::TooOld))
    );
    assert_eq!(
        run(&mut m, Op::ReleaseAll(a)).0,
        Outcome::ReleasedAll {
            released: vec![],
            not_ours: vec![l(1)]
        }
    );
    assert!(m.files.contains_key(&l(1)), "the new owner's file stays");
}

/// P2: EPERM means alive.
#[test]
fn eperm_is_alive() {
    // P2: an EPERM owner is live.
    let mut m = world();
    acq(&mut m, &p("h1", 2), 1, true);
    run(&mut m, Op::SetEperm(p("h1", 2), true));
    assert!(matches!(
        acq(&mut m, &p("h1", 1), 1, true).0,
        Outcome::Busy(BusyOwner::File(_))
    ));
}

/// P7: a legacy file of our pid is live until strictly older than stale_after.
#[test]
fn legacy_own_pid_waits_for_stale_after() {
    // P7: legacy files keep the pid + age rules; the boundary is strict.
    let mut m = world();
    let a = p("h1", 1);
    let now = m.now_ms;
    plant(&mut m, 1, legacy(1, now - 30 * MIN), 0);
    assert_eq!(
        acq(&mut m, &a, 1, true).0,
        Outcome::Busy(BusyOwner::File(legacy(1, now - 30 * MIN)))
    );
    run(&mut m, Op::Advance(1));
    assert_eq!(
        acq(&mut m, &a, 1, true).0,
        Outcome::Acquired(Acquired::Reclaimed(StaleReason::TooOld))
    );
}

/// P7, P8: another host's lock (same pid) is live until too old.
#[test]
fn foreign_host_same_pid_is_live_until_too_old() {
    let mut m = world();
    acq(&mut m, &p("h2", 1), 1, true);
    let f = m.files[&l(1)].clone();
    assert_eq!(
        m.verdict(&p("h1", 1), &l(1), &f),
        Some(Verdict::Live(LiveReason::ForeignHost))
    );
    run(&mut m, Op::Advance(31 * MIN));
    assert_eq!(
        acq(&mut m, &p("h1", 1), 1, true).0,
        Outcome::Acquired(Acquired::Reclaimed(StaleReason::TooOld))
    );
}

/// P10: a malformed file is live inside its grace, stale strictly after.
#[test]
fn malformed_is_live_in_grace_then_stale() {
    // P10: never reclaimed inside the grace (strictly greater).
    let mut m = world();
    let now = m.now_ms;
    run(
        &mut m,
        Op::Plant {
            path: l(1),
            content: Content::Malformed(Vec::new()),
            mtime_ms: now - 30 * SEC,
        },
    );
    assert_eq!(
        acq(&mut m, &p("h1", 1), 1, true).0,
        Outcome::Busy(BusyOwner::Malformed)
    );
    run(&mut m, Op::SetMtime(l(1), now - 30 * SEC - 1));
    assert_eq!(
        acq(&mut m, &p("h1", 1), 1, true).0,
        Outcome::Acquired(Acquired::Reclaimed(StaleReason::MalformedExpired))
    );
}

/// P7: a future createdAt ages by the file's mtime.
#[test]
fn future_created_at_ages_by_mtime() {
    let mut m = world();
    let now = m.now_ms;
    plant(&mut m, 1, legacy(2, now + 60 * MIN), 31 * MIN);
    assert_eq!(
        acq(&mut m, &p("h1", 1), 1, true).0,
        Outcome::Acquired(Acquired::Reclaimed(StaleReason::TooOld))
    );
}

/// P6: our own current-nonce leftover does not block us.
#[test]
fn nonce_matching_leftover_is_reclaimed() {
    // P6: our own current-nonce file that we do not hold does not block us.
    let mut m = world();
    let a = p("h1", 1);
    let nonce = m.instance(&a).unwrap().nonce.clone();
    let now = m.now_ms;
    plant(
        &mut m,
        1,
        Payload {
            nonce: Some(nonce),
            ..legacy(1, now)
        },
        0,
    );
    assert_eq!(
        acq(&mut m, &a, 1, true).0,
        Outcome::Acquired(Acquired::Reclaimed(StaleReason::Leftover))
    );
}

/// P2: a release never deletes a file that is no longer ours.
#[test]
fn release_of_a_replaced_file_is_not_ours() {
    let mut m = world();
    let a = p("h1", 1);
    let (_, g) = acq(&mut m, &a, 1, true);
    run(&mut m, Op::Advance(31 * MIN));
    run(&mut m, Op::CleanStale(p("h1", 2), PathBuf::from("/d")));
    assert!(!m.files.contains_key(&l(1)), "swept as too old");
    assert_eq!(
        run(&mut m, Op::Release(g.unwrap())).0,
        Outcome::Released(Released::NotOurs)
    );
}

/// P2, P11: the sweep removes stale locks and orphaned temp files only.
#[test]
fn clean_stale_and_inspect() {
    let mut m = world();
    let a = p("h1", 1);
    acq(&mut m, &a, 1, true);
    let now = m.now_ms;
    plant(&mut m, 2, legacy(77, now), 0);
    let temp = |name: &str| PathBuf::from(format!("/d/.s3.jsonl.lock.{name}.lktmp"));
    // Temp files: a dead publisher's (litter at once), a live publisher's young one (kept), a
    // live publisher's older than stale_after (litter), an unreadable publisher's (kept).
    for (name, age) in [
        ("77-x", 0),
        ("2-young", 29 * MIN),
        ("2-old", 30 * MIN + 1),
        ("unknown", 29 * MIN),
    ] {
        run(
            &mut m,
            Op::Plant {
                path: temp(name),
                content: Content::Malformed(b"{".to_vec()),
                mtime_ms: now - age,
            },
        );
    }
    // A dot-named session's lock is a lock too.
    run(
        &mut m,
        Op::Plant {
            path: PathBuf::from("/d/.hidden.lock"),
            content: Content::Malformed(Vec::new()),
            mtime_ms: now - 31 * MIN,
        },
    );
    assert_eq!(
        run(&mut m, Op::Inspect(a.clone(), PathBuf::from("/d"))).0,
        Outcome::Inspected(vec![
            (
                PathBuf::from("/d/.hidden.lock"),
                Verdict::Stale(StaleReason::MalformedExpired)
            ),
            (l(1), Verdict::Live(LiveReason::HeldHere)),
            (l(2), Verdict::Stale(StaleReason::DeadPid)),
        ])
    );
    assert_eq!(
        run(&mut m, Op::CleanStale(a, PathBuf::from("/d"))).0,
        Outcome::Cleaned {
            removed: vec![
                (
                    PathBuf::from("/d/.hidden.lock"),
                    StaleReason::MalformedExpired
                ),
                (l(2), StaleReason::DeadPid)
            ],
            temp_files: vec![temp("2-old"), temp("77-x")],
            non_regular: vec![],
            refused: vec![],
        }
    );
    assert!(m.files.contains_key(&l(1)));
    assert!(m.files.contains_key(&temp("2-young")) && m.files.contains_key(&temp("unknown")));
}

/// A dead process has no lock manager.
#[test]
fn operations_of_a_dead_process_have_no_instance() {
    let mut m = world();
    let b = p("h1", 2);
    run(&mut m, Op::Crash(b.clone()));
    assert_eq!(acq(&mut m, &b, 1, true).0, Outcome::NoInstance);
    assert_eq!(
        run(&mut m, Op::ReleaseAll(b.clone())).0,
        Outcome::NoInstance
    );
    assert_eq!(
        run(&mut m, Op::Inspect(b, PathBuf::from("/d"))).0,
        Outcome::NoInstance
    );
}

/// The virtual clock moves only when advanced.
#[test]
fn advance_moves_the_clock() {
    let mut m = world();
    let t = m.now_ms;
    run(&mut m, Op::Advance(5));
    assert_eq!(m.now_ms, t + 5);
}

/// P2: a hold whose file was replaced releases as not-ours.
#[test]
fn planting_over_a_held_file_displaces_the_hold() {
    let mut m = world();
    let (_, g) = acq(&mut m, &p("h1", 1), 1, true);
    let now = m.now_ms;
    plant(&mut m, 1, legacy(2, now), 0);
    assert!(m.instance(&p("h1", 1)).unwrap().holds[&l(1)]
        .displaced
        .is_some());
    assert_eq!(
        run(&mut m, Op::Release(g.unwrap())).0,
        Outcome::Released(Released::NotOurs)
    );
    let _: Option<&ModelFile> = m.files.get(&l(1));
}
