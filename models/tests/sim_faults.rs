//! P12 I/O faults: an error injected at each file step of acquire (fresh and reclaiming),
//! release, release_all, clean_stale, inspect and the lease refresh yields a typed
//! `LockError::Io` (or a `failed`/`unreadable` entry in the report) and a consistent registry.
//! The aftermath is checked too, once the fault clears: the next acquire succeeds at once, a
//! sweep succeeds, and no publish temp file is left behind (P11). Each case prints the trace when
//! it fails.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use lockcore::{LockError, LockGuard, LockManager, Payload, Policy};
use models::oracle::{check_registry_consistent, check_typed_io, Violation};
use models::sim::{FaultKind, FaultRule, SimEnv, SimOp, SimWorld};
use std::path::{Path, PathBuf};

const KINDS: [FaultKind; 4] = [
    FaultKind::Eio,
    FaultKind::Enospc,
    FaultKind::Eacces,
    FaultKind::ShortWrite,
];

fn s(i: usize) -> PathBuf {
    PathBuf::from(format!("/s/s{i}.jsonl"))
}

fn lock(i: usize) -> PathBuf {
    PathBuf::from(format!("/s/s{i}.jsonl.lock"))
}

/// A publish temp file of `pid` for session 1.
fn temp_of(pid: u32) -> PathBuf {
    PathBuf::from(format!("/s/.s1.jsonl.lock.{pid}-00000000deadbeef.lktmp"))
}

fn is_temp(p: &Path) -> bool {
    p.extension().is_some_and(|e| e == "lktmp")
}

#[derive(Clone, Copy, Debug)]
enum Op {
    AcquireFresh,
    AcquireReclaim,
    Release,
    ReleaseReentrant,
    ReleaseAll,
    CleanStale,
    Inspect,
    Refresh,
}

struct Setup {
    world: SimWorld,
    m: LockManager<SimEnv>,
    guards: Vec<LockGuard<SimEnv>>,
}

fn setup(op: Op) -> Setup {
    let world = SimWorld::new(11);
    world.spawn("h", 1);
    let m = LockManager::new(world.env("h", 1), Policy::default());
    let mut guards = Vec::new();
    match op {
        Op::AcquireFresh => {}
        Op::AcquireReclaim => {
            world.plant_dead_owners_lock("h", 9, &lock(1));
        }
        Op::Release => guards.push(m.try_acquire(&s(1)).expect("setup")),
        Op::ReleaseReentrant => {
            guards.push(m.try_acquire(&s(1)).expect("setup"));
            guards.push(m.try_acquire(&s(1)).expect("setup reentry"));
        }
        Op::ReleaseAll => {
            guards.push(m.try_acquire(&s(1)).expect("setup"));
            guards.push(m.try_acquire(&s(2)).expect("setup"));
        }
        Op::CleanStale | Op::Inspect => {
            // A dead owner's lock and its orphaned publish temp file: work for the sweep.
            world.plant_dead_owners_lock("h", 9, &lock(1));
            world.plant(&temp_of(9), b"{", world.now_wall_ms());
        }
        Op::Refresh => {
            m.use_manual_heartbeat();
            guards.push(m.try_acquire(&s(1)).expect("setup"));
        }
    }
    Setup { world, m, guards }
}

/// Runs the operation; returns a violation if its outcome is not typed or leaves the registry
/// inconsistent with the guards.
fn run(op: Op, st: &mut Setup) -> Result<(), Violation> {
    let world = &st.world;
    match op {
        Op::AcquireFresh | Op::AcquireReclaim => {
            let r = st.m.try_acquire(&s(1));
            check_typed_io(world, &r)?;
            match r {
                Ok(g) => {
                    let on_disk = world
                        .file(&lock(1))
                        .and_then(|b| Payload::parse(&b).ok())
                        .and_then(|p| p.token);
                    if on_disk != g.payload().token {
                        return Err(Violation::new(
                            "P12",
                            "acquire succeeded but the file is not the guard's",
                            world.trace(),
                        ));
                    }
                    st.guards.push(g);
                }
                Err(LockError::Io { .. }) => {}
                Err(e) => {
                    return Err(Violation::new("P12", format!("{e:?}"), world.trace()));
                }
            }
        }
        Op::Release | Op::ReleaseReentrant => {
            let g = st.guards.pop().expect("a guard");
            let r = g.release();
            check_typed_io(world, &r)?;
        }
        Op::ReleaseAll => {
            let old = st.m.nonce();
            let report = st.m.release_all();
            if report.new_nonce == old || st.m.nonce() == old {
                return Err(Violation::new("P3", "nonce not rotated", world.trace()));
            }
            let accounted = report.released.len() + report.not_ours.len() + report.failed.len();
            if accounted != 2 {
                return Err(Violation::new(
                    "P4",
                    format!("release_all accounted for {accounted} of 2 locks: {report:?}"),
                    world.trace(),
                ));
            }
            for (path, e) in &report.failed {
                if !matches!(e, LockError::Io { .. }) {
                    return Err(Violation::new(
                        "P12",
                        format!("failed entry for {} is not typed Io: {e:?}", path.display()),
                        world.trace(),
                    ));
                }
            }
            for i in [1, 2] {
                let failed = report.failed.iter().any(|(p, _)| *p == lock(i));
                if world.file(&lock(i)).is_some() && !failed {
                    return Err(Violation::new(
                        "P4",
                        format!("{} left on disk but not reported failed", lock(i).display()),
                        world.trace(),
                    ));
                }
            }
            if st.guards.iter().any(LockGuard::is_held) {
                return Err(Violation::new(
                    "P4",
                    "a guard is still held after release_all",
                    world.trace(),
                ));
            }
        }
        Op::CleanStale => match st.m.clean_stale(Path::new("/s"), false) {
            Ok(_) => {}
            Err(LockError::Io { .. }) => {}
            Err(e) => {
                return Err(Violation::new(
                    "P12",
                    format!("clean: {e:?}"),
                    world.trace(),
                ))
            }
        },
        Op::Inspect => match st.m.inspect_all(Path::new("/s")) {
            Ok(_) | Err(LockError::Io { .. }) => {}
            Err(e) => {
                return Err(Violation::new(
                    "P12",
                    format!("inspect: {e:?}"),
                    world.trace(),
                ))
            }
        },
        Op::Refresh => {
            let report = st.m.refresh();
            // The fault replaced nothing: a refresh that fails reports it, it never calls a lock
            // that is still ours compromised (P15).
            if !report.compromised.is_empty() {
                return Err(Violation::new(
                    "P15",
                    format!("a fault made refresh call our own lock compromised: {report:?}"),
                    world.trace(),
                ));
            }
        }
    }
    let refs: Vec<&LockGuard<SimEnv>> = st.guards.iter().collect();
    check_registry_consistent(world, &st.m, &refs)
}

/// Right after the faulted operation: a publish temp file may be left only where the fault hit
/// that very file (its create wrote half, or its removal failed) — a failed `link` or any other
/// failed step must not leave one behind (P11/P12).
fn temps_explained(op: Op, st: &Setup) -> Result<(), Violation> {
    let trace = st.world.trace();
    for temp in st.world.files().into_keys().filter(|p| is_temp(p)) {
        let faulted_here = trace.events.iter().any(|e| {
            e.path == temp && e.result.starts_with("ERR") && (e.op == "create" || e.op == "remove")
        });
        if !faulted_here && temp != temp_of(9) {
            return Err(Violation::new(
                "P11",
                format!(
                    "{op:?}: {} left behind, though no fault hit it",
                    temp.display()
                ),
                trace,
            ));
        }
    }
    Ok(())
}

/// The aftermath, fault cleared: a sweep succeeds and leaves no publish temp file behind (P11:
/// no unbounded litter, whatever step failed).
fn no_litter(op: Op, st: &Setup) -> Result<(), Violation> {
    if let Err(e) = st.m.clean_stale(Path::new("/s"), false) {
        return Err(Violation::new(
            "P12",
            format!("{op:?}: after the fault cleared, clean failed: {e}"),
            st.world.trace(),
        ));
    }
    let left: Vec<PathBuf> = st
        .world
        .files()
        .into_keys()
        .filter(|p| is_temp(p))
        .collect();
    if left.is_empty() {
        Ok(())
    } else {
        Err(Violation::new(
            "P11",
            format!("{op:?}: temp files left after a clean: {left:?}"),
            st.world.trace(),
        ))
    }
}

/// Fault cleared: the session must be acquirable again at once (nothing stuck), for the
/// operations that leave it free.
fn recover(op: Op, st: &mut Setup) -> Result<(), Violation> {
    temps_explained(op, st)?;
    st.world.clear_faults();
    no_litter(op, st)?;
    let still_held = st.guards.iter().any(LockGuard::is_held);
    if still_held {
        return Ok(());
    }
    match st.m.try_acquire(&s(1)) {
        Ok(g) => {
            drop(g);
            Ok(())
        }
        Err(e) => Err(Violation::new(
            "P12",
            format!("{op:?}: after the fault cleared, acquire failed: {e}"),
            st.world.trace(),
        )),
    }
}

/// The file steps an operation takes without faults (each a fault point).
fn steps(op: Op) -> usize {
    let mut st = setup(op);
    let before = st.world.trace().events.len();
    run(op, &mut st).unwrap_or_else(|v| panic!("{v}"));
    st.world.trace().events[before..]
        .iter()
        .filter(|e| e.op != "unlock-dir")
        .count()
}

fn sweep(op: Op) {
    let n = steps(op);
    assert!(n >= 2, "{op:?} takes {n} steps");
    let mut cases = 0;
    for k in 1..=n as u64 {
        for kind in KINDS {
            let mut st = setup(op);
            st.world.inject(FaultRule::new(None, kind).nth(k));
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                run(op, &mut st).and_then(|()| recover(op, &mut st))
            }));
            match outcome {
                Ok(Ok(())) => {}
                Ok(Err(v)) => panic!("{op:?}, {kind:?} at step {k}: {v}"),
                Err(_) => panic!(
                    "P12 violated: {op:?}, {kind:?} at step {k} panicked\n{}",
                    st.world.trace()
                ),
            }
            cases += 1;
        }
    }
    println!(
        "{op:?}: {n} fault points x {} kinds = {cases} cases",
        KINDS.len()
    );
}

#[test]
fn fault_at_each_step_of_a_fresh_acquire() {
    sweep(Op::AcquireFresh);
}

#[test]
fn fault_at_each_step_of_a_reclaiming_acquire() {
    sweep(Op::AcquireReclaim);
}

#[test]
fn fault_at_each_step_of_a_release() {
    sweep(Op::Release);
}

#[test]
fn fault_at_each_step_of_a_reentrant_release() {
    // The inner release of a reentrant hold touches no file: nothing to fault, and it must not
    // fail.
    let mut st = setup(Op::ReleaseReentrant);
    st.world.inject(FaultRule::new(None, FaultKind::Eio));
    run(Op::ReleaseReentrant, &mut st).unwrap_or_else(|v| panic!("{v}"));
    assert!(st.guards[0].is_held());
}

#[test]
fn fault_at_each_step_of_release_all() {
    sweep(Op::ReleaseAll);
}

#[test]
fn fault_at_each_step_of_clean_stale() {
    sweep(Op::CleanStale);
}

#[test]
fn fault_at_each_step_of_inspect() {
    sweep(Op::Inspect);
}

#[test]
fn fault_at_each_step_of_a_lease_refresh() {
    sweep(Op::Refresh);
}

#[test]
fn a_persistent_fault_is_typed_every_time() {
    let world = SimWorld::new(2);
    world.spawn("h", 1);
    let m = LockManager::new(world.env("h", 1), Policy::default());
    world.inject(FaultRule::new(None, FaultKind::Eio));
    for _ in 0..3 {
        let r = m.try_acquire(Path::new("/s/s1.jsonl"));
        assert!(matches!(r, Err(LockError::Io { .. })), "{}", world.trace());
    }
    assert!(m.held().is_empty());
}

/// An acquire of session 1 on a fresh world with `rules` in force from the start.
fn acquire_under(rules: Vec<FaultRule>) -> (SimWorld, Result<LockGuard<SimEnv>, LockError>) {
    let world = SimWorld::new(3);
    world.spawn("h", 1);
    let m = LockManager::new(world.env("h", 1), Policy::default());
    for r in rules {
        world.inject(r);
    }
    let r = m.try_acquire(&s(1));
    (world, r)
}

fn is_lock_create(op: SimOp, p: &Path) -> bool {
    op == SimOp::Create && p.extension().is_some_and(|e| e == "lock")
}

// P12: a `link` that fails every time is a typed Io error naming the link — never "busy" (the
// failure taken for an existing file) and never an endless retry; a missing temp file (another
// host's sweep) is retried once, then reported. No temp file is left either way (P11).
#[test]
fn a_link_that_keeps_failing_is_a_typed_error_not_busy_nor_a_loop() {
    for kind in [FaultKind::Eio, FaultKind::Enoent] {
        let (world, r) = acquire_under(vec![FaultRule::new(Some(SimOp::Link), kind)]);
        assert!(
            matches!(
                r,
                Err(LockError::Io {
                    op: lockcore::FsOp::Link,
                    ..
                })
            ),
            "{kind:?}: {r:?}\n{}",
            world.trace()
        );
        let links = world
            .trace()
            .events
            .iter()
            .filter(|e| e.op == "link")
            .count();
        let expected = if kind == FaultKind::Enoent { 2 } else { 1 };
        assert_eq!(
            links,
            expected,
            "{kind:?}: link attempts\n{}",
            world.trace()
        );
        assert!(
            world.files().keys().all(|p| !is_temp(p)),
            "{}",
            world.trace()
        );
    }
}

// P12: where hard links are refused (EACCES), the lock is published by exclusive create instead;
// if that create fails too, the error is typed — not "busy".
#[test]
fn the_exclusive_create_fallback_reports_its_own_failure() {
    let (world, r) = acquire_under(vec![FaultRule::new(Some(SimOp::Link), FaultKind::Eacces)]);
    assert!(
        r.is_ok(),
        "the fallback publishes: {r:?}\n{}",
        world.trace()
    );
    drop(r);
    let (world, r) = acquire_under(vec![
        FaultRule::new(Some(SimOp::Link), FaultKind::Eacces),
        FaultRule::new(None, FaultKind::Eio).when(is_lock_create),
    ]);
    assert!(
        matches!(
            r,
            Err(LockError::Io {
                op: lockcore::FsOp::Create,
                ..
            })
        ),
        "{r:?}\n{}",
        world.trace()
    );
}

// A std atomic, not the model checkers' door: this file never runs under loom or shuttle, and a
// fault predicate is a plain `fn` that can only reach a static.
#[allow(clippy::disallowed_types)]
static PANICKED_AT_LINK: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A fault predicate that panics once, at the first `link` (a bug inside a file step).
#[allow(clippy::disallowed_types)]
fn panic_once_at_link(op: SimOp, _: &Path) -> bool {
    if op == SimOp::Link && !PANICKED_AT_LINK.swap(true, std::sync::atomic::Ordering::SeqCst) {
        panic!("a bug inside a file step");
    }
    false
}

// P11: a panic inside an acquisition's file steps (a bug in an `Fs` implementation, say) leaves
// nothing behind in the instance: the same instance then takes the path at once. Without the
// unwind guard the path stays marked in progress and every later attempt waits for it forever
// (here bounded: the attempt runs on a thread and must answer within a patience of 30 s).
#[test]
fn a_panic_inside_a_publish_leaves_the_path_free_in_the_instance() {
    let world = SimWorld::new(31);
    world.spawn("h", 1);
    let m = LockManager::new(world.env("h", 1), Policy::default());
    let session = Path::new("/d/s.jsonl");
    world.inject(FaultRule::new(None, FaultKind::Eio).when(panic_once_at_link));
    let first = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| m.try_acquire(session)));
    assert!(
        first.is_err(),
        "the injected panic did not fire\n{}",
        world.trace()
    );
    let (tx, rx) = std::sync::mpsc::channel();
    let m2 = m.clone();
    std::thread::spawn(move || tx.send(m2.try_acquire(Path::new("/d/s.jsonl")).map(drop)));
    let again = rx.recv_timeout(std::time::Duration::from_secs(30));
    assert!(
        matches!(again, Ok(Ok(()))),
        "P11 violated: after a panic inside its publish the instance cannot take the path: {again:?}\n{}",
        world.trace()
    );
}
