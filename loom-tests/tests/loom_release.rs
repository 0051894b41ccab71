//! loom models of release and reentrancy in one instance: M3 (P1, P2, P9) and M6 (P1, P9), with
//! their twins. Budgets measured with `--release` on 2 cores.
#![cfg(feature = "loom")]

use lockcore::Mutant;
use loom_tests::harness::{loom_model, loom_twin};
use loom_tests::scenarios::{m3_release_vs_acquire, m6_reentrant, Cfg};

/// M3: no preemption bound (exhaustive).
const M3_BOUND: Option<usize> = None;
/// M6: bound 4.
const M6_BOUND: Option<usize> = Some(4);

/// M3 — P1, P2, P9: a release ∥ an acquire of the same path in the same instance.
/// No preemption bound: exhaustive, ~7.8k executions, ~2 s.
#[test]
fn m3_release_vs_acquire_same_path() {
    let n = loom_model(M3_BOUND, m3_release_vs_acquire, Cfg::loom(None));
    println!("m3: {n} executions");
}

/// M6 — P1, P9: reentrant acquire ×2 + release of one hold ∥ a non-reentrant acquire.
/// Preemption bound 4: ~9.7k executions, ~1.5 s.
#[test]
fn m6_reentrant_vs_exclusive_acquire() {
    let n = loom_model(M6_BOUND, m6_reentrant, Cfg::loom(None));
    println!("m6: {n} executions");
}

/// Twin of M3: registry-before-unlink → P2 (the old release deletes the file a same-instance
/// acquirer just took over as a leftover).
#[test]
fn mutant_registry_before_unlink() {
    loom_twin(
        "loom_release::mutant_registry_before_unlink",
        Mutant::RegistryBeforeUnlink,
        M3_BOUND,
        Cfg::loom(None),
    );
}

/// Twin of M6: no-reentry-count → P9 (the inner release frees the lock the outer guard holds).
#[test]
fn mutant_no_reentry_count() {
    loom_twin(
        "loom_release::mutant_no_reentry_count",
        Mutant::NoReentryCount,
        M6_BOUND,
        Cfg::loom(None),
    );
}
