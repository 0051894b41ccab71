//! Pid namespaces, SIGSTOP/SIGCONT and the boot time of the simulated world, with real lockcore
//! managers on it (P13, P14, P15). No wall clock: the world's virtual clock only.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use lockcore::{Acquired, LockError, LockManager, Payload, Policy, Released, StaleReason};
use models::SimWorld;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn s1() -> &'static Path {
    Path::new("/s/s1.jsonl")
}

fn l1() -> PathBuf {
    PathBuf::from("/s/s1.jsonl.lock")
}

/// A peer's host-less `{pid, nonce, createdAt}` (OpenClaw V1's shape).
fn peer_file(pid: u32, created_at_ms: i64) -> Vec<u8> {
    Payload {
        pid,
        nonce: Some("5c0a9b3e0d1f2a3b4c5d6e7f".into()),
        created_at_ms,
        starttime: None,
        host: None,
        token: None,
        lease: None,
    }
    .to_bytes()
}

fn busy(r: Result<lockcore::LockGuard<models::SimEnv>, LockError>) -> bool {
    matches!(r, Err(LockError::Busy { .. }))
}

// P14: a live peer in a sibling namespace with our very pid is never taken, and a namespace's
// death proves nothing about a host-less file (it might be another namespace's).
#[test]
fn p14_a_hostless_peer_file_with_our_pid_waits_whatever_the_namespaces_do() {
    let w = SimWorld::new(1);
    w.spawn("h1", 1);
    w.spawn("h2", 1);
    let m = LockManager::new(w.env("h1", 1), Policy::default());
    w.plant(&l1(), &peer_file(1, w.now_wall_ms()), w.now_wall_ms());
    assert!(busy(m.try_acquire(s1())), "a peer with our pid was taken");
    w.kill_namespace("h2");
    assert!(!w.namespace_alive("h2"));
    assert!(!w.process("h2", 1).is_some_and(|p| p.alive));
    assert!(
        w.process("h1", 1).is_some_and(|p| p.alive),
        "h1 is untouched"
    );
    assert!(
        busy(m.try_acquire(s1())),
        "host-less: no namespace proves death"
    );
    w.advance(Duration::from_secs(30 * 60 + 1));
    let g = m.try_acquire(s1()).expect("too old at last");
    assert_eq!(g.how(), Acquired::Reclaimed(StaleReason::TooOld));
}

// P14: a namespace that died and a new one with its id: the new pid 1 reclaims the old pid 1's
// file (equal host, another nonce), while the other namespace keeps waiting on it.
#[test]
fn p14_a_restarted_namespace_reclaims_its_predecessors_file() {
    let w = SimWorld::new(2);
    w.spawn("h1", 1);
    w.spawn("h2", 1);
    let other = LockManager::new(w.env("h1", 1), Policy::default());
    let old = LockManager::new(w.env("h2", 1), Policy::default());
    std::mem::forget(old.try_acquire(s1()).expect("acquire"));
    w.kill_namespace("h2");
    assert!(
        busy(other.try_acquire(s1())),
        "foreign host: live until too old"
    );
    w.restart_namespace("h2");
    assert!(w.namespace_alive("h2"));
    w.spawn("h2", 1);
    let new = LockManager::new(w.env("h2", 1), Policy::default());
    let g = new.try_acquire(s1()).expect("reclaim");
    assert_eq!(g.how(), Acquired::Reclaimed(StaleReason::NonceMismatch));
}

// P14: the only proof of death across namespaces — the file predates the machine's boot.
#[test]
fn p14_a_hostless_file_older_than_the_boot_is_stale() {
    let w = SimWorld::new(3);
    w.set_boot_time_ms(Some(w.now_wall_ms() - 60_000));
    assert_eq!(w.boot_time_ms(), Some(w.now_wall_ms() - 60_000));
    w.spawn("h1", 1);
    let m = LockManager::new(w.env("h1", 1), Policy::default());
    let before = w.now_wall_ms() - 60_001;
    w.plant(&l1(), &peer_file(1, before), before);
    let g = m.try_acquire(s1()).expect("before boot");
    assert_eq!(g.how(), Acquired::Reclaimed(StaleReason::BeforeBoot));
}

// P13 + P15: a stopped holder does not refresh; once its lease passed another process takes the
// lock; after SIGCONT its first refresh tells it (is_held false) and its release deletes nothing.
#[test]
fn p13_p15_a_stopped_holder_loses_its_lease_and_learns_it_at_its_next_refresh() {
    let w = SimWorld::new(4);
    w.spawn("h1", 1);
    w.spawn("h1", 2);
    let holder = LockManager::new(w.env("h1", 1), Policy::default());
    let taker = LockManager::new(w.env("h1", 2), Policy::default());
    holder.use_manual_heartbeat();
    let g = holder.try_acquire(s1()).expect("acquire");
    assert!(
        g.payload().lease.is_some(),
        "a manual heartbeat declares the lease"
    );
    w.advance(Duration::from_secs(20));
    assert_eq!(holder.refresh().refreshed, vec![l1()]);
    w.advance(Duration::from_secs(20));
    assert!(
        busy(taker.try_acquire(s1())),
        "refreshed 20 s ago: live (P13)"
    );
    w.stop("h1", 1);
    assert!(w.is_stopped("h1", 1));
    assert_eq!(w.process("h1", 1).map(|p| p.alive), Some(true));
    // Stopped: nobody calls the holder's heartbeat.
    w.advance(Duration::from_secs(11));
    let t = taker.try_acquire(s1()).expect("lease passed");
    assert_eq!(t.how(), Acquired::Reclaimed(StaleReason::LeaseExpired));
    w.cont("h1", 1);
    assert!(!w.is_stopped("h1", 1));
    assert!(g.is_held(), "not yet refreshed: it cannot know");
    let report = holder.refresh();
    assert_eq!(report.compromised, vec![l1()]);
    assert!(!g.is_held(), "P15: told within one refresh");
    assert_eq!(g.release().ok(), Some(Released::NotOurs));
    assert!(w.file(&l1()).is_some(), "P15: the new owner's file stays");
    assert!(t.is_held());
}
