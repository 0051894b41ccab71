//! The simulated process table (crash, restart in place, exec-restart, pid reuse, EPERM, two
//! hosts both with pid 1), the virtual clock and seeded randomness, and trace formatting.
//! They check the simulator, not a lockcore property: the liveness (P2, P8), restart (P6) and
//! age (P7, P10) verdicts of the other layers rest on this process table and clock.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use lockcore::env::{Clock, Fs, Liveness, Procs};
use lockcore::{Acquired, LiveReason, LockManager, Owner, Policy, StaleReason};
use models::SimWorld;
use std::path::Path;
use std::time::Duration;

#[test]
fn crash_makes_the_probe_answer_dead() {
    let world = SimWorld::new(1);
    world.spawn("h", 1);
    world.spawn("h", 2);
    let procs = world.env("h", 1).procs;
    assert_eq!(procs.probe(2), Liveness::Alive);
    assert_eq!(procs.probe(3), Liveness::Dead, "never spawned");
    world.crash("h", 2);
    assert_eq!(procs.probe(2), Liveness::Dead);
    assert_eq!(procs.start_time(2), None);
}

#[test]
fn restart_in_place_keeps_pid_and_start_time_but_rotates_the_nonce() {
    let world = SimWorld::new(1);
    world.spawn("h", 1);
    let m = LockManager::new(world.env("h", 1), Policy::default());
    let before = m.identity().clone();
    let nonce = m.nonce();
    let report = m.release_all();
    assert_eq!(report.old_nonce, nonce);
    assert_ne!(m.nonce(), nonce);
    assert_eq!(world.env("h", 1).procs.identity(), before);
}

#[test]
fn exec_restart_and_pid_reuse_change_the_start_time() {
    let world = SimWorld::new(1);
    let first = world.spawn("h", 7);
    world.crash("h", 7);
    let restarted = world.exec_restart("h", 7);
    assert!(restarted.alive);
    assert_ne!(restarted.start_time, first.start_time);
    assert_eq!(
        restarted.label, first.label,
        "same process slot, same label"
    );
    let reused = world.reuse_pid("h", 7);
    assert_ne!(reused.start_time, restarted.start_time);
    let procs = world.env("h", 1).procs;
    assert_eq!(procs.start_time(7), Some(reused.start_time));
}

#[test]
fn eperm_is_alive_no_permission() {
    let world = SimWorld::new(1);
    world.spawn("h", 1);
    world.spawn("h", 2);
    world.set_eperm("h", 2, true);
    assert_eq!(world.env("h", 1).procs.probe(2), Liveness::NoPermission);
    world.set_eperm("h", 2, false);
    assert_eq!(world.env("h", 1).procs.probe(2), Liveness::Alive);
}

#[test]
fn two_hosts_both_pid_1_share_a_directory_without_reclaiming_each_other() {
    let world = SimWorld::new(1);
    world.spawn("a", 1);
    world.spawn("b", 1);
    let a = LockManager::new(world.env("a", 1), Policy::default());
    let b = LockManager::new(world.env("b", 1), Policy::default());
    assert_eq!(a.identity().pid, b.identity().pid);
    assert_ne!(a.identity().host, b.identity().host);
    let session = Path::new("/s/s1.jsonl");
    let g = a.try_acquire(session).expect("a acquires");
    let err = b.try_acquire(session).expect_err("b must wait");
    match err {
        lockcore::LockError::Busy {
            owner: Owner::File(p),
            ..
        } => assert_eq!(p.host.as_deref(), Some("a")),
        other => panic!("unexpected {other:?}\n{}", world.trace()),
    }
    // Host a's pid 1 dying is invisible from host b: still live until stale_after.
    world.crash("a", 1);
    assert!(b.try_acquire(session).is_err(), "{}", world.trace());
    world.advance(Duration::from_secs(31 * 60));
    let gb = b.try_acquire(session).expect("too old now");
    assert_eq!(gb.how(), Acquired::Reclaimed(StaleReason::TooOld));
    drop(gb);
    drop(g);
    let _ = LiveReason::ForeignHost;
}

#[test]
fn the_clock_advances_only_when_told_or_slept() {
    let world = SimWorld::new(1);
    let clock = world.env("h", 1).clock;
    let (w0, m0) = (clock.now_wall_ms(), clock.now_mono());
    assert_eq!(w0, models::sim::EPOCH_WALL_MS);
    assert_eq!(clock.now_wall_ms(), w0, "no real time leaks in");
    world.advance(Duration::from_millis(1500));
    assert_eq!(clock.now_wall_ms(), w0 + 1500);
    assert_eq!(clock.now_mono(), m0 + Duration::from_millis(1500));
    clock.sleep(Duration::from_millis(20));
    assert_eq!(clock.now_wall_ms(), w0 + 1520);
    assert!(clock.is_virtual());
}

#[test]
fn acquire_waits_in_virtual_time_only() {
    let world = SimWorld::new(1);
    world.spawn("h", 1);
    world.spawn("h", 2);
    let a = LockManager::new(world.env("h", 1), Policy::default());
    let b = LockManager::new(world.env("h", 2), Policy::default());
    let session = Path::new("/s/s1.jsonl");
    let _g = a.try_acquire(session).expect("a");
    let before = world.now_wall_ms();
    let err = b
        .acquire_with(
            session,
            lockcore::AcquireOptions {
                reentrant: true,
                timeout: Some(Duration::from_secs(2)),
            },
        )
        .expect_err("busy");
    match err {
        lockcore::LockError::Busy { waited, .. } => assert!(waited >= Duration::from_secs(2)),
        other => panic!("{other:?}"),
    }
    assert!(
        world.now_wall_ms() - before >= 2000,
        "the wait advanced virtual time"
    );
}

#[test]
fn seeded_randomness_is_deterministic() {
    let draw = |seed| {
        let w = SimWorld::new(seed);
        let c = w.env("h", 1).clock;
        (0..4).map(|_| c.random_u64()).collect::<Vec<_>>()
    };
    assert_eq!(draw(5), draw(5));
    assert_ne!(draw(5), draw(6));
    let nonce = |seed| {
        let w = SimWorld::new(seed);
        w.spawn("h", 1);
        LockManager::new(w.env("h", 1), Policy::default()).nonce()
    };
    assert_eq!(nonce(9), nonce(9));
    assert_ne!(nonce(9), nonce(10));
}

#[test]
fn trace_formatting_is_numbered_and_readable() {
    let world = SimWorld::new(3);
    world.spawn("h", 1);
    let m = LockManager::new(world.env("h", 1), Policy::default());
    let g = m.try_acquire(Path::new("/s/s1.jsonl")).expect("acquire");
    world.note("p1", "acquired", g.lock_path(), "fresh");
    drop(g);
    let trace = world.trace();
    let text = trace.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("#1 p1/t1 create .s1.jsonl.lock."),
        "{text}"
    );
    assert!(lines[0].contains("-> ok {pid 1, nonce "), "{text}");
    assert!(
        text.contains("p1/t1 link s1.jsonl.lock -> ok {pid 1"),
        "{text}"
    );
    assert!(
        text.contains("p1/t1 acquired s1.jsonl.lock -> fresh"),
        "{text}"
    );
    assert!(
        text.contains("remove s1.jsonl.lock -> ok (was {pid 1"),
        "{text}"
    );
    for (i, e) in trace.events.iter().enumerate() {
        assert_eq!(e.seq, i + 1);
    }
    assert_eq!(trace.since(2).events.first().map(|e| e.seq), Some(3));
    // Planted files are attributed to the world, malformed ones described.
    world.plant(Path::new("/s/x.lock"), b"", 0);
    let last = world.trace().events.last().cloned().expect("event");
    assert_eq!(
        last.to_string(),
        format!("#{} world plant x.lock -> malformed(empty)", last.seq)
    );
    let fs = world.env("h", 1).fs;
    let _ = fs.read(Path::new("/s/x.lock"), 10);
}
