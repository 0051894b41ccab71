//! Step tests of the reference model's peers, pid namespaces, stop/cont and leases (P13, P14,
//! P15), with the model's invariants checked after each step, and the invariants shown to fire
//! on a buggy lock's deletions.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use lockcore::{Acquired, LiveReason, Policy, Released, StaleReason, Verdict};
use models::reference::{
    lock_path_of, BusyOwner, Cause, Content, Model, Op, Origin, Outcome, PeerShape, ProcKey,
};
use std::path::PathBuf;

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

fn run(m: &mut Model, op: Op) -> (Outcome, Option<u64>) {
    let r = m.step(&op);
    if let Err(v) = m.check_invariants() {
        panic!("after {op}: {v}");
    }
    (r.outcome, r.guard)
}

fn acq(m: &mut Model, who: &ProcKey, i: u32) -> (Outcome, Option<u64>) {
    let op = Op::Acquire {
        proc: who.clone(),
        session: s(i),
        reentrant: true,
    };
    run(m, op)
}

fn peer_takes(m: &mut Model, peer: &ProcKey, i: u32, shape: PeerShape) -> Outcome {
    let op = Op::PeerAcquire {
        peer: peer.clone(),
        session: s(i),
        shape,
    };
    run(m, op).0
}

fn world() -> Model {
    let mut m = Model::new(Policy::default());
    m.boot_ms = Some(m.now_ms - 60 * MIN);
    for k in [p("h1", 1), p("h1", 2), p("h2", 1)] {
        run(&mut m, Op::Spawn(k));
    }
    m
}

fn busy(o: &Outcome) -> bool {
    matches!(o, Outcome::Busy(BusyOwner::File(_)))
}

// P14: a peer's host-less file is live (unknown-namespace) for every lockcore process,
// whichever of the three shapes and whatever its pid shadows in our namespace.
#[test]
fn p14_peer_files_of_every_shape_are_live_for_everyone() {
    let mut m = world();
    let shapes = [PeerShape::Legacy, PeerShape::Nonce, PeerShape::StartTime];
    for (i, shape) in (0u32..).zip(shapes) {
        // Pid 1 in namespace h3: the same pid as h1:1 and h2:1.
        let o = peer_takes(&mut m, &p("h3", 1), i, shape);
        assert_eq!(o, Outcome::Acquired(Acquired::Fresh));
        let Some(Content::Payload(pl)) = m.files.get(&l(i)).map(|f| f.content.clone()) else {
            panic!("no peer file");
        };
        assert_eq!(pl.host, None);
        assert_eq!(pl.nonce.is_some(), shape == PeerShape::Nonce);
        assert_eq!(pl.starttime.is_some(), shape == PeerShape::StartTime);
        for who in [p("h1", 1), p("h1", 2), p("h2", 1)] {
            let file = m.files.get(&l(i)).cloned().unwrap();
            assert_eq!(
                m.verdict(&who, &l(i), &file),
                Some(Verdict::Live(LiveReason::UnknownNamespace))
            );
            assert!(
                busy(&acq(&mut m, &who, i).0),
                "{who} took a live peer's lock"
            );
        }
    }
    assert!(matches!(m.files[&l(0)].origin, Origin::Peer { .. }));
}

// P14: the exclusion invariant names P14 when a lockcore process holds what a live peer holds.
#[test]
fn p14_two_owners_with_a_peer_is_named() {
    let mut m = world();
    peer_takes(&mut m, &p("h2", 2), 0, PeerShape::Nonce);
    // A buggy lock judged the peer (pid 2, like h1:2) by our pid rules and took it.
    assert!(m.buggy_delete(
        &p("h1", 2),
        &l(0),
        Cause::Reclaim(StaleReason::NonceMismatch)
    ));
    let v = m
        .check_invariants()
        .expect_err("a live peer's file removed");
    assert_eq!(v.property, "P14");
    let mut m = world();
    peer_takes(&mut m, &p("h2", 2), 0, PeerShape::Legacy);
    m.files.remove(&l(0));
    m.buggy_publish(&p("h1", 1), &l(0));
    let v = m.check_invariants().expect_err("two owners");
    assert_eq!(v.property, "P14");
}

// P14: a peer releases only its own file; once too old a lockcore process takes it legitimately
// and the peer's late release leaves the new owner's file alone.
#[test]
fn p14_a_peer_releases_only_its_own_file() {
    let mut m = world();
    let peer = p("h3", 1);
    peer_takes(&mut m, &peer, 0, PeerShape::Legacy);
    assert!(busy(&peer_takes_again(&mut m, &peer)));
    run(&mut m, Op::Advance(30 * MIN + 1));
    let (o, _) = acq(&mut m, &p("h1", 1), 0);
    assert_eq!(
        o,
        Outcome::Acquired(Acquired::Reclaimed(StaleReason::TooOld))
    );
    let release = Op::PeerRelease {
        peer: peer.clone(),
        session: s(0),
    };
    assert_eq!(
        run(&mut m, release.clone()).0,
        Outcome::Released(Released::NotOurs)
    );
    assert!(m.files.contains_key(&l(0)));
    assert_eq!(run(&mut m, release).0, Outcome::NoGuard);
}

fn peer_takes_again(m: &mut Model, peer: &ProcKey) -> Outcome {
    peer_takes(m, peer, 0, PeerShape::Nonce)
}

// P14: a namespace's death kills its peers and lockcore processes; their host-less files stay
// live (no proof of death across namespaces), its lockcore file is reclaimed by the new pid 1
// of a restarted namespace, and a file older than the boot is stale.
#[test]
fn p14_namespace_death_restart_and_boot() {
    let mut m = world();
    peer_takes(&mut m, &p("h2", 2), 0, PeerShape::StartTime);
    acq(&mut m, &p("h2", 1), 1);
    run(&mut m, Op::KillNamespace("h2".into()));
    assert!(m.instance(&p("h2", 1)).is_none());
    assert!(!m.peers[&p("h2", 2)].alive);
    assert_eq!(
        peer_takes(&mut m, &p("h2", 2), 2, PeerShape::Legacy),
        Outcome::NoInstance
    );
    assert!(
        busy(&acq(&mut m, &p("h1", 1), 0).0),
        "host-less: unknown namespace"
    );
    run(&mut m, Op::RestartNamespace("h2".into()));
    let (o, _) = acq(&mut m, &p("h2", 1), 1);
    assert_eq!(
        o,
        Outcome::Acquired(Acquired::Reclaimed(StaleReason::NonceMismatch))
    );
    let before_boot = m.boot_ms.unwrap() - 1;
    run(&mut m, Op::SetMtime(l(0), before_boot));
    let (o, _) = acq(&mut m, &p("h1", 2), 0);
    assert_eq!(
        o,
        Outcome::Acquired(Acquired::Reclaimed(StaleReason::BeforeBoot))
    );
}

// P13: with a manual heartbeat a lock declares the lease; refreshed within it, it stays live;
// a stopped holder does not refresh and loses it once the lease passed.
#[test]
fn p13_a_refreshed_lease_is_live_and_a_stopped_one_expires() {
    let mut m = world();
    let (holder, taker) = (p("h1", 1), p("h1", 2));
    run(&mut m, Op::UseManualHeartbeat(holder.clone()));
    let (_, g) = acq(&mut m, &holder, 0);
    let lease = m.instance(&holder).unwrap().holds[&l(0)].payload.lease;
    assert_eq!(lease.map(|l| l.lease_ms), Some(30_000));
    run(&mut m, Op::Advance(25 * SEC));
    let (o, _) = run(&mut m, Op::Refresh(holder.clone()));
    assert_eq!(
        o,
        Outcome::Refreshed {
            refreshed: vec![l(0)],
            compromised: vec![]
        }
    );
    run(&mut m, Op::Advance(25 * SEC));
    assert!(busy(&acq(&mut m, &taker, 0).0), "refreshed 25 s ago");
    run(&mut m, Op::Stop(holder.clone()));
    assert_eq!(run(&mut m, Op::Refresh(holder.clone())).0, Outcome::Done);
    run(&mut m, Op::Advance(6 * SEC));
    let (o, _) = acq(&mut m, &taker, 0);
    assert_eq!(
        o,
        Outcome::Acquired(Acquired::Reclaimed(StaleReason::LeaseExpired))
    );
    run(&mut m, Op::Cont(holder.clone()));
    assert!(g.is_some());
}

// P13: a buggy lock that reclaims a file refreshed within its lease is named P13.
#[test]
fn p13_reclaiming_a_refreshed_lease_is_named() {
    let mut m = world();
    run(&mut m, Op::UseManualHeartbeat(p("h1", 1)));
    acq(&mut m, &p("h1", 1), 0);
    run(&mut m, Op::Advance(31 * SEC));
    run(&mut m, Op::Refresh(p("h1", 1)));
    let mut aged = m.clone();
    assert!(m.buggy_delete(
        &p("h1", 2),
        &l(0),
        Cause::Reclaim(StaleReason::LeaseExpired)
    ));
    let v = m.check_invariants().expect_err("refreshed lease reclaimed");
    assert_eq!(v.property, "P13");
    // By age: a refreshed lease is never too old.
    assert!(aged.buggy_delete(&p("h1", 2), &l(0), Cause::Sweep(StaleReason::TooOld)));
    let v = aged
        .check_invariants()
        .expect_err("refreshed lease swept as too old");
    assert_eq!(v.property, "P13");
}

// P15: after a refresh, a holder whose file was taken is compromised: its guard no longer
// holds, its release deletes nothing, and a new acquisition starts afresh.
#[test]
fn p15_a_refresh_finds_the_file_taken_and_the_release_deletes_nothing() {
    let mut m = world();
    let (holder, taker) = (p("h1", 1), p("h1", 2));
    run(&mut m, Op::UseManualHeartbeat(holder.clone()));
    let (_, g) = acq(&mut m, &holder, 0);
    let (_, g2) = acq(&mut m, &holder, 0);
    run(&mut m, Op::Advance(31 * SEC));
    let (o, _) = acq(&mut m, &taker, 0);
    assert_eq!(
        o,
        Outcome::Acquired(Acquired::Reclaimed(StaleReason::LeaseExpired))
    );
    assert!(!m.guard_hold_compromised(g.unwrap()), "not refreshed yet");
    let (o, _) = run(&mut m, Op::Refresh(holder.clone()));
    assert_eq!(
        o,
        Outcome::Refreshed {
            refreshed: vec![],
            compromised: vec![l(0)]
        }
    );
    assert!(m.guard_hold_compromised(g.unwrap()));
    // A second refresh does not report it again.
    let (o, _) = run(&mut m, Op::Refresh(holder.clone()));
    assert_eq!(
        o,
        Outcome::Refreshed {
            refreshed: vec![],
            compromised: vec![]
        }
    );
    let taken = m.files[&l(0)].clone();
    assert_eq!(
        run(&mut m, Op::Release(g2.unwrap())).0,
        Outcome::Released(Released::Decremented(1))
    );
    assert_eq!(
        run(&mut m, Op::Release(g.unwrap())).0,
        Outcome::Released(Released::NotOurs)
    );
    assert_eq!(m.files[&l(0)], taken, "the new owner's file is untouched");
    // Re-acquiring after a compromise is a fresh attempt (busy here: the taker holds it).
    let (_, g3) = acq(&mut m, &holder, 0);
    assert!(g3.is_none());
}
