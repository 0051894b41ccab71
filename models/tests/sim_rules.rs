//! The stale rules on the simulator, sequentially, through the oracles: P6 (no 30-minute block
//! after in-place and crash restarts), P7 (legacy files judged by pid and age alone), P8 (nonce
//! rules), P10 (malformed files inside the grace). Each failure prints the trace.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use lockcore::{Acquired, LockManager, Payload, Policy, StaleReason};
use models::oracle::check_no_block;
use models::SimWorld;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn s1() -> &'static Path {
    Path::new("/s/s1.jsonl")
}

fn l1() -> PathBuf {
    PathBuf::from("/s/s1.jsonl.lock")
}

/// A payload written in host `h`'s pid namespace, so the pid rules apply (P14: a host-less one
/// fails closed).
fn payload(pid: u32, nonce: Option<&str>, created_at_ms: i64, starttime: Option<u64>) -> Vec<u8> {
    Payload {
        pid,
        nonce: nonce.map(str::to_string),
        created_at_ms,
        starttime,
        host: Some("h".into()),
        token: None,
        lease: None,
    }
    .to_bytes()
}

#[test]
fn p6_in_place_and_crash_restart_reacquire_at_once() {
    let w = SimWorld::new(8);
    w.spawn("h", 1);
    let m = LockManager::new(w.env("h", 1), Policy::default());
    // In place: the file of the previous iteration (our pid, old nonce) is reclaimed at once.
    let g = m.try_acquire(s1()).expect("acquire");
    let bytes = w.file(&l1()).expect("file");
    std::mem::forget(g);
    let _ = m.release_all();
    w.plant(&l1(), &bytes, w.now_wall_ms());
    let r = m.try_acquire(s1());
    check_no_block(&w, s1(), &r).unwrap_or_else(|v| panic!("{v}"));
    assert_eq!(
        r.as_ref().map(lockcore::LockGuard::how).ok(),
        Some(Acquired::Reclaimed(StaleReason::NonceMismatch))
    );
    drop(r);
    // Crash + exec-restart with the same pid (container pid 1): a new manager reclaims at once.
    let w = SimWorld::new(9);
    w.spawn("h", 1);
    let old = LockManager::new(w.env("h", 1), Policy::default());
    let g = old.try_acquire(s1()).expect("acquire");
    std::mem::forget(g);
    w.crash("h", 1);
    w.exec_restart("h", 1);
    let new = LockManager::new(w.env("h", 1), Policy::default());
    let r = new.try_acquire(s1());
    check_no_block(&w, s1(), &r).unwrap_or_else(|v| panic!("{v}"));
}

#[test]
fn p7_legacy_files_by_pid_and_age() {
    let w = SimWorld::new(10);
    w.spawn("h", 1);
    w.spawn("h", 2);
    let m = LockManager::new(w.env("h", 1), Policy::default());
    let now = w.now_wall_ms();
    // Legacy, another live pid: live until stale_after.
    w.plant(&l1(), &payload(2, None, now, None), now);
    assert!(m.try_acquire(s1()).is_err(), "{}", w.trace());
    w.advance(Duration::from_secs(29 * 60));
    assert!(m.try_acquire(s1()).is_err(), "{}", w.trace());
    w.advance(Duration::from_secs(2 * 60));
    let g = m
        .try_acquire(s1())
        .unwrap_or_else(|e| panic!("{e}\n{}", w.trace()));
    assert_eq!(g.how(), Acquired::Reclaimed(StaleReason::TooOld));
    drop(g);
    // Legacy, our own pid and start time unknown: live until stale_after (no nonce to compare).
    let now = w.now_wall_ms();
    w.plant(&l1(), &payload(1, None, now, None), now);
    assert!(m.try_acquire(s1()).is_err(), "{}", w.trace());
    // Legacy, dead pid: stale at once.
    w.crash("h", 2);
    w.plant(&l1(), &payload(2, None, now, None), now);
    let g = m
        .try_acquire(s1())
        .unwrap_or_else(|e| panic!("{e}\n{}", w.trace()));
    assert_eq!(g.how(), Acquired::Reclaimed(StaleReason::DeadPid));
}

#[test]
fn p8_nonce_rules() {
    let w = SimWorld::new(11);
    w.spawn("h", 1);
    w.spawn("h", 2);
    let m = LockManager::new(w.env("h", 1), Policy::default());
    let now = w.now_wall_ms();
    // Another live pid with some nonce: not reclaimed on that basis.
    w.plant(&l1(), &payload(2, Some("other-nonce"), now, None), now);
    assert!(m.try_acquire(s1()).is_err(), "{}", w.trace());
    // Our pid, another nonce: reclaimed at once.
    w.plant(&l1(), &payload(1, Some("old-nonce"), now, None), now);
    let g = m
        .try_acquire(s1())
        .unwrap_or_else(|e| panic!("{e}\n{}", w.trace()));
    assert_eq!(g.how(), Acquired::Reclaimed(StaleReason::NonceMismatch));
    // Our own live hold (matching nonce): never reclaimed, another manager of another pid waits.
    let other = LockManager::new(w.env("h", 2), Policy::default());
    assert!(other.try_acquire(s1()).is_err(), "{}", w.trace());
    drop(g);
}

#[test]
fn p10_malformed_inside_and_after_the_grace() {
    let w = SimWorld::new(12);
    w.spawn("h", 1);
    let m = LockManager::new(w.env("h", 1), Policy::default());
    for bytes in [&b""[..], b"{", b"\xff\xfe", b"[]", b"{\"pid\": -1}"] {
        w.plant(&l1(), bytes, w.now_wall_ms());
        assert!(
            m.try_acquire(s1()).expect_err("inside the grace").is_busy(),
            "{}",
            w.trace()
        );
        w.advance(Duration::from_secs(31));
        let g = m
            .try_acquire(s1())
            .unwrap_or_else(|e| panic!("{e}\n{}", w.trace()));
        assert_eq!(g.how(), Acquired::Reclaimed(StaleReason::MalformedExpired));
        drop(g);
    }
    // Larger than the cap: malformed, not a panic.
    w.plant(&l1(), &vec![b' '; 10_000], w.now_wall_ms());
    assert!(m.try_acquire(s1()).is_err());
}

// P9 at the boundary: with a reentry limit of 3 (a model build's small limit), the fourth
// reentrant acquire is a typed ReentryOverflow that changes nothing; the file exists until the
// third release and is gone after it.
#[test]
fn p9_the_reentry_limit_is_a_typed_error_that_changes_nothing() {
    let w = SimWorld::new(21);
    w.spawn("h", 1);
    let policy = Policy {
        max_reentry: 3,
        ..Policy::default()
    };
    let m = LockManager::new(w.env("h", 1), policy);
    let guards: Vec<_> = (0..3)
        .map(|_| m.try_acquire(s1()).expect("within the limit"))
        .collect();
    match m.try_acquire(s1()) {
        Err(lockcore::LockError::ReentryOverflow { lock_path }) => assert_eq!(lock_path, l1()),
        other => panic!(
            "P9: the fourth hold must overflow, got {other:?}\n{}",
            w.trace()
        ),
    }
    assert_eq!(m.held(), vec![(l1(), 3)], "the overflow changed the count");
    let mut guards = guards.into_iter();
    for left in [2, 1] {
        let r = guards.next().map(|g| g.release());
        assert_eq!(
            r.map(|r| r.ok()),
            Some(Some(lockcore::Released::Decremented(left)))
        );
        assert!(
            w.file(&l1()).is_some(),
            "P9: held {left} times, the file stays"
        );
    }
    let last = guards.next().map(|g| g.release());
    assert_eq!(
        last.map(|r| r.ok()),
        Some(Some(lockcore::Released::Removed))
    );
    assert!(
        w.file(&l1()).is_none(),
        "P9: the last release removes the file"
    );
}
