//! The oracles fire, name the right property and print the trace: each case breaks the world by
//! hand (the correct lockcore never does), and the check must report it.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use lockcore::env::Fs;
use lockcore::{LockError, LockManager, Policy};
use models::oracle::{check_no_block, check_typed_io, property_in, Ghost, Violation};
use models::sim::{FaultKind, FaultRule, SimEnv, SimOp, SimWorld};
use std::path::{Path, PathBuf};

fn world(pids: &[u32]) -> (SimWorld, Ghost, Vec<LockManager<SimEnv>>) {
    let w = SimWorld::new(4);
    let ms = pids
        .iter()
        .map(|&p| {
            w.spawn("h", p);
            LockManager::new(w.env("h", p), Policy::default())
        })
        .collect();
    let g = Ghost::new(&w);
    (w, g, ms)
}

fn s1() -> &'static Path {
    Path::new("/s/s1.jsonl")
}

fn l1() -> PathBuf {
    PathBuf::from("/s/s1.jsonl.lock")
}

fn assert_names(v: &Violation, property: &str) {
    let text = v.to_string();
    assert_eq!(v.property, property, "{text}");
    assert!(
        text.starts_with(&format!("{property} violated: ")),
        "{text}"
    );
    assert!(text.contains("\n#1 "), "the trace is printed: {text}");
    assert_eq!(property_in(&text), Some(property));
}

#[test]
fn p1_two_owners_at_acquire() {
    let (w, g, ms) = world(&[1, 2]);
    let a = ms[0].try_acquire(s1()).expect("a");
    g.acquired("a", &ms[0], a).expect("first holder is fine");
    // Tamper: the file vanishes under a's feet.
    w.env("h", 1).fs.remove(&l1()).expect("tamper");
    let b = ms[1].try_acquire(s1()).expect("b takes the empty path");
    let v = g.acquired("b", &ms[1], b).expect_err("P1");
    assert_names(&v, "P1");
    g.finish();
}

#[test]
fn p2_live_holder_lost_its_file() {
    let (w, g, ms) = world(&[1]);
    let a = ms[0].try_acquire(s1()).expect("a");
    g.acquired("a", &ms[0], a).expect("ok");
    g.check_quiescent().expect("consistent so far");
    w.env("h", 1).fs.remove(&l1()).expect("tamper");
    assert_names(&g.check_quiescent().expect_err("P2"), "P2");
    g.finish();
}

#[test]
fn p9_file_left_without_a_holder() {
    let (w, g, ms) = world(&[1]);
    let a = ms[0].try_acquire(s1()).expect("a");
    let bytes = a.payload().to_bytes();
    let id = g.acquired("a", &ms[0], a).expect("ok");
    g.release(id).expect("no violation").expect("released");
    w.plant(&l1(), &bytes, w.now_wall_ms());
    assert_names(&g.check_quiescent().expect_err("P9"), "P9");
}

#[test]
fn p4_old_epoch_file_back_after_release_all() {
    let (w, g, ms) = world(&[1]);
    let a = ms[0].try_acquire(s1()).expect("a");
    let bytes = a.payload().to_bytes();
    g.acquired("a", &ms[0], a).expect("ok");
    let report = g.release_all(&ms[0]).expect("correct release_all");
    assert_eq!(report.released, vec![l1()]);
    g.check_quiescent().expect("clean");
    w.plant(&l1(), &bytes, w.now_wall_ms());
    assert_names(&g.check_quiescent().expect_err("P4"), "P4");
}

#[test]
fn p4_tolerates_a_reported_failure() {
    let (w, g, ms) = world(&[1]);
    let a = ms[0].try_acquire(s1()).expect("a");
    g.acquired("a", &ms[0], a).expect("ok");
    w.inject(FaultRule::new(Some(SimOp::Remove), FaultKind::Eio).on_path("/s/s1.jsonl.lock"));
    let report = g
        .release_all(&ms[0])
        .expect("a reported failure is not a P4 violation");
    assert_eq!(report.failed.len(), 1);
}

#[test]
fn p11_temp_litter() {
    let (w, g, _ms) = world(&[1]);
    w.plant(Path::new("/s/.s1.jsonl.lock.1-abc.lktmp"), b"{}", 0);
    assert_names(&g.check_quiescent().expect_err("P11"), "P11");
}

#[test]
fn p6_and_p12_helpers() {
    let (w, _g, ms) = world(&[1, 2]);
    let held = ms[1].try_acquire(s1()).expect("b");
    let busy = ms[0].try_acquire(s1());
    assert_names(&check_no_block(&w, s1(), &busy).expect_err("P6"), "P6");
    assert_names(&check_typed_io(&w, &busy).expect_err("P12"), "P12");
    let io: Result<(), LockError> = Err(LockError::Io {
        op: lockcore::FsOp::Read,
        path: l1(),
        source: std::io::Error::other("x"),
    });
    check_typed_io(&w, &io).expect("Io is typed");
    drop(held);
}

#[test]
fn property_ids_parse_from_panic_text() {
    assert_eq!(property_in("P3 violated: x\n#1 a"), Some("P3"));
    assert_eq!(property_in("panicked: P12 violated: y"), Some("P12"));
    assert_eq!(property_in("no property here"), None);
    assert_eq!(property_in("Pxx violated: z"), None);
}
