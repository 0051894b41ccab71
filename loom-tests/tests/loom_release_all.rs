//! loom models of `release_all`: M1 (P1, P3), M4 (P5), M5 (P4), M9 (P6), M15 (P1, P4), each with the twins of
//! the mutants it exposes. Budgets were measured with `--release` on 2 cores.
#![cfg(feature = "loom")]

use lockcore::Mutant;
use loom_tests::harness::{loom_model, loom_twin};
use loom_tests::scenarios::{
    m15_own_sweep_vs_release_all, m1_release_all_vs_reclaim, m4_revoked_drop,
    m5_release_all_vs_other, m9_restart_leftover, Cfg,
};

/// M1: no preemption bound (exhaustive).
const M1_BOUND: Option<usize> = None;
/// M1 with the extra concurrent fresh acquire: three threads; bound 1.
const M1X_BOUND: Option<usize> = Some(1);
/// M4: bound 4.
const M4_BOUND: Option<usize> = Some(4);
/// M5 (acquire + release of another path): bound 3.
const M5_BOUND: Option<usize> = Some(3);
/// M9: bound 4.
const M9_BOUND: Option<usize> = Some(4);
/// M15 (three threads): bound 2.
const M15_BOUND: Option<usize> = Some(2);

fn m5_cfg() -> Cfg {
    Cfg {
        extra: true,
        ..Cfg::loom(None)
    }
}

fn m1x_cfg() -> Cfg {
    Cfg {
        extra: true,
        ..Cfg::loom(None)
    }
}

/// M1 — P1, P3: `release_all` + rotate ∥ an acquire of the held path that would reclaim it by
/// nonce mismatch. No preemption bound: exhaustive, ~33k executions, ~4 s (~8.8k before the
/// registry lock stopped covering file I/O: the acquisition steps interleave more now).
#[test]
fn m1_release_all_vs_reclaiming_acquire() {
    let n = loom_model(M1_BOUND, m1_release_all_vs_reclaim, Cfg::loom(None));
    println!("m1: {n} executions");
}

/// M1x — P1, P3: M1 ∥ a fresh acquire of another path in the same instance (three threads).
/// Preemption bound 1: ~260 executions, < 0.1 s (bound 2 exceeds 100 s).
#[test]
fn m1x_release_all_vs_reclaim_and_fresh_acquire() {
    let n = loom_model(M1X_BOUND, m1_release_all_vs_reclaim, m1x_cfg());
    println!("m1x: {n} executions");
}

/// M4 — P5: a guard revoked by `release_all` dropped ∥ its successor re-acquiring the path.
/// Preemption bound 4: ~3.0k executions, ~0.7 s (unbounded: 76k executions, 34 s).
#[test]
fn m4_revoked_guard_dropped_vs_new_holder() {
    let n = loom_model(M4_BOUND, m4_revoked_drop, Cfg::loom(None));
    println!("m4: {n} executions");
}

/// M5 — P4: `release_all` of two held locks ∥ an acquire + release of another path.
/// Preemption bound 3: ~1.1k executions, ~0.3 s.
#[test]
fn m5_release_all_vs_other_path() {
    let n = loom_model(M5_BOUND, m5_release_all_vs_other, m5_cfg());
    println!("m5: {n} executions");
}

/// M9 — P6: in-place restart whose delete of one lock fails (EIO) ∥ an acquire + release of
/// another path; the leftover must be re-acquired at once. Preemption bound 4: ~84k
/// executions, ~16 s (~7.7k, 3 s, while the registry lock covered file I/O).
#[test]
fn m9_restart_with_leftover() {
    let n = loom_model(M9_BOUND, m9_restart_leftover, Cfg::loom(None));
    println!("m9: {n} executions");
}

/// M15 — P1, P4: an instance's own sweep ∥ its `release_all` of two locks ∥ another process
/// trying each session. Preemption bound 2 (measured below).
#[test]
fn m15_own_sweep_vs_release_all_vs_contender() {
    let n = loom_model(M15_BOUND, m15_own_sweep_vs_release_all, Cfg::loom(None));
    println!("m15: {n} executions");
}

/// Twin of M1: rotate-before-cleanup → P3 (the gate opens at the early rotation, the reclaiming
/// acquire takes the lock being released).
#[test]
fn mutant_rotate_before_cleanup() {
    loom_twin(
        "loom_release_all::mutant_rotate_before_cleanup",
        Mutant::RotateBeforeCleanup,
        M1_BOUND,
        Cfg::loom(None),
    );
}

/// Twin of M4: release-by-key → P5 (the revoked guard's drop removes the successor's hold).
#[test]
fn mutant_release_by_key() {
    loom_twin(
        "loom_release_all::mutant_release_by_key",
        Mutant::ReleaseByKey,
        M4_BOUND,
        Cfg::loom(None),
    );
}

/// Twin of M5: release-all-live-iteration → P4 (an acquisition after the walk keeps an
/// old-epoch lock past release_all).
#[test]
fn mutant_release_all_live_iteration() {
    loom_twin(
        "loom_release_all::mutant_release_all_live_iteration",
        Mutant::ReleaseAllLiveIteration,
        M5_BOUND,
        m5_cfg(),
    );
}

/// Twin of M5: release-all-index-skip → P4 (the second of two locks is skipped).
#[test]
fn mutant_release_all_index_skip() {
    loom_twin(
        "loom_release_all::mutant_release_all_index_skip",
        Mutant::ReleaseAllIndexSkip,
        M5_BOUND,
        m5_cfg(),
    );
}

/// Twin of M9: ignore-nonce → P6 (the leftover of the previous epoch blocks for stale_after).
#[test]
fn mutant_ignore_nonce() {
    loom_twin(
        "loom_release_all::mutant_ignore_nonce",
        Mutant::IgnoreNonce,
        M9_BOUND,
        Cfg::loom(None),
    );
}

/// Every catalogue entry has a loom twin in one of the five loom files.
#[test]
fn every_mutant_has_a_loom_twin() {
    let sources: String = [
        include_str!("loom_release_all.rs"),
        include_str!("loom_release.rs"),
        include_str!("loom_reclaim.rs"),
        include_str!("loom_lease.rs"),
        include_str!("loom_wait.rs"),
    ]
    .concat()
    .split_whitespace()
    .collect();
    for m in Mutant::ALL {
        let name = format!("fnmutant_{}()", m.id().replace('-', "_"));
        assert!(sources.contains(&name), "no loom twin for {m}");
    }
}
