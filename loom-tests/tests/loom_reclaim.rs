//! loom models of stale reclaim and of contention between processes: M2 (P1, P2), M7 (P2),
//! M8 (P2, P8), M10 (P10), with their twins. Budgets measured with `--release` on 2 cores.
#![cfg(feature = "loom")]

use lockcore::Mutant;
use loom_tests::harness::{loom_model, loom_twin};
use loom_tests::scenarios::{
    m10_concurrent_publish, m2_two_reclaimers, m7_superseded_release, m8_live_foreign, Cfg,
};

/// M2: three full `try_acquire`s; bound 1 (bound 2 exceeds 100 s).
const M2_BOUND: Option<usize> = Some(1);
/// The depth DESIGN §4's 8-step rename-aside race needs: bound 1 misses it (156 executions, no
/// violation); bound 2 finds it after ~730 executions, 0.3 s. **So the passing M2 at bound 1 is
/// not deep enough for races of that length**; its bound-2 run does not finish here (> 25 min), and
/// the shuttle M2 (PCT + random, which finds this race after ~2k schedules) covers the depth.
const M2_DEPTH_BOUND: Option<usize> = Some(2);
/// M7: bound 4.
const M7_BOUND: Option<usize> = Some(4);
/// M8: bound 4.
const M8_BOUND: Option<usize> = Some(4);
/// M10: no preemption bound (exhaustive).
const M10_BOUND: Option<usize> = None;

/// M2 — P1, P2: two reclaimers (processes 1, 2) of one dead owner's lock ∥ a fresh acquirer
/// (process 3), one `try_acquire` each. Preemption bound 1: ~170 executions, < 0.1 s.
#[test]
fn m2_two_reclaimers_and_a_fresh_acquirer() {
    let n = loom_model(M2_BOUND, m2_two_reclaimers, Cfg::loom(None));
    println!("m2: {n} executions");
}

/// M7 — P2: a `too-old` reclaim by process 2 ∥ process 1 releasing the superseded guard.
/// Preemption bound 4: ~8.3k executions, ~2 s.
#[test]
fn m7_superseded_holder_releases() {
    let n = loom_model(M7_BOUND, m7_superseded_release, Cfg::loom(None));
    println!("m7: {n} executions");
}

/// M8 — P2, P8: process 2 (alive, probe answers EPERM) holds and releases ∥ process 1
/// acquires. Preemption bound 4: ~2.2k executions, ~0.9 s (unbounded: 90k, 43 s).
#[test]
fn m8_live_foreign_owner() {
    let n = loom_model(M8_BOUND, m8_live_foreign, Cfg::loom(None));
    println!("m8: {n} executions");
}

/// M10 — P10: two processes publish the same fresh lock at once. No preemption bound:
/// exhaustive, ~3.8k executions, ~1.2 s.
#[test]
fn m10_concurrent_publishers() {
    let n = loom_model(M10_BOUND, m10_concurrent_publish, Cfg::loom(None));
    println!("m10: {n} executions");
}

/// Twin of M2: naive-reclaim → P1 (the second reclaimer deletes the first one's fresh lock).
#[test]
fn mutant_naive_reclaim() {
    loom_twin(
        "loom_reclaim::mutant_naive_reclaim",
        Mutant::NaiveReclaim,
        M2_BOUND,
        Cfg::loom(None),
    );
}

/// Twin of M2: rename-takeover → P1 (the second rename replaces the first reclaimer's lock).
#[test]
fn mutant_rename_takeover() {
    loom_twin(
        "loom_reclaim::mutant_rename_takeover",
        Mutant::RenameTakeover,
        M2_BOUND,
        Cfg::loom(None),
    );
}

/// Twin of M2 and the measure of its depth: rename-aside-reclaim → P1. DESIGN §4 records that a
/// throwaway model found this design's two holders in 8 file-system steps; this twin runs M2 at
/// the bound such a race needs (see `M2_DEPTH_BOUND`).
#[test]
fn mutant_rename_aside_reclaim() {
    loom_twin(
        "loom_reclaim::mutant_rename_aside_reclaim",
        Mutant::RenameAsideReclaim,
        M2_DEPTH_BOUND,
        Cfg::loom(None),
    );
}

/// Twin of M7: unchecked-release → P2 (the superseded holder deletes its successor's file).
#[test]
fn mutant_unchecked_release() {
    loom_twin(
        "loom_reclaim::mutant_unchecked_release",
        Mutant::UncheckedRelease,
        M7_BOUND,
        Cfg::loom(None),
    );
}

/// Twin of M8: eperm-is-dead → P2 (the EPERM owner's live lock is deleted as dead-pid).
#[test]
fn mutant_eperm_is_dead() {
    loom_twin(
        "loom_reclaim::mutant_eperm_is_dead",
        Mutant::EpermIsDead,
        M8_BOUND,
        Cfg::loom(None),
    );
}

/// Twin of M8: nonce-any-pid → P8 (another live pid's lock is reclaimed by nonce mismatch).
#[test]
fn mutant_nonce_any_pid() {
    loom_twin(
        "loom_reclaim::mutant_nonce_any_pid",
        Mutant::NonceAnyPid,
        M8_BOUND,
        Cfg::loom(None),
    );
}

/// Twin of M10: empty-window → P10 (an empty file being written is reclaimed at once).
#[test]
fn mutant_empty_window() {
    loom_twin(
        "loom_reclaim::mutant_empty_window",
        Mutant::EmptyWindow,
        M10_BOUND,
        Cfg::loom(None),
    );
}

/// M2 at preemption bound 2: too slow for the default run (not finished after 25 min), so
/// it is opt-in: `cargo test --release --features loom -p loom-tests m2_bound_2 -- --ignored`.
#[test]
#[ignore = "long: M2 at preemption bound 2 did not finish in 25 min"]
fn m2_bound_2() {
    let t = loom_tests::harness::now();
    let n = loom_model(Some(2), m2_two_reclaimers, Cfg::loom(None));
    println!(
        "m2 bound 2: {n} executions in {:.1} s",
        t.elapsed().as_secs_f64()
    );
}
