//! loom models of pid namespaces and leases (DESIGN §4a): M11 (P14), M12 (P13), M13 (P15), each
//! with its bug twin. Budgets measured with `--release` on 2 cores.
#![cfg(feature = "loom")]

use lockcore::Mutant;
use loom_tests::harness::{loom_model, loom_twin};
use loom_tests::scenarios::{
    m11_peer_in_sibling_namespace, m12_refreshed_lease_vs_contender, m13_refresh_vs_lease_reclaim,
    Cfg,
};

/// M11: no preemption bound (exhaustive): ~12.7k executions.
const M11_BOUND: Option<usize> = None;
/// M12: preemption bound 3: ~780 executions.
const M12_BOUND: Option<usize> = Some(3);
/// M13: preemption bound 5: ~16k executions, ~1.5 s. Unbounded it is 2.46 million executions
/// (264 s, no violation), too slow for the gate; bound 7 is ~118k executions, 12 s.
const M13_BOUND: Option<usize> = Some(5);

/// M11 — P14: a peer (pid 1 of a sibling namespace, host-less `{pid, nonce, createdAt}` file)
/// releases ∥ lockcore (pid 1 of ours) tries to acquire: lockcore never reclaims it.
#[test]
fn m11_peer_in_sibling_namespace_is_never_reclaimed() {
    let n = loom_model(M11_BOUND, m11_peer_in_sibling_namespace, Cfg::loom(None));
    println!("m11: {n} executions");
}

/// M12 — P13: the holder's refresh + release ∥ a contender from a sibling namespace, the lease
/// refreshed 15 s ago (created 35 s ago, lease 30 s): never reclaimed.
#[test]
fn m12_refreshed_lease_is_never_reclaimed() {
    let n = loom_model(M12_BOUND, m12_refreshed_lease_vs_contender, Cfg::loom(None));
    println!("m12: {n} executions");
}

/// M13 — P15: a stopped holder's refresh ∥ a lease-expired reclaim: the holder learns it lost
/// the lock, and its release deletes nothing of the new owner's.
#[test]
fn m13_stopped_holder_learns_it_lost_the_lock() {
    let n = loom_model(M13_BOUND, m13_refresh_vs_lease_reclaim, Cfg::loom(None));
    println!("m13: {n} executions");
}

/// Twin of M11: hostless-trusted → P14 (our pid + another nonce judged `nonce-mismatch`).
#[test]
fn mutant_hostless_trusted() {
    loom_twin(
        "loom_lease::mutant_hostless_trusted",
        Mutant::HostlessTrusted,
        M11_BOUND,
        Cfg::loom(None),
    );
}

/// Twin of M12: lease-by-created-at → P13 (a refreshed lease judged by its age).
#[test]
fn mutant_lease_by_created_at() {
    loom_twin(
        "loom_lease::mutant_lease_by_created_at",
        Mutant::LeaseByCreatedAt,
        M12_BOUND,
        Cfg::loom(None),
    );
}

/// Twin of M13: refresh-by-path → P15 (the refresh touches the new owner's file and the old
/// holder never learns).
#[test]
fn mutant_refresh_by_path() {
    loom_twin(
        "loom_lease::mutant_refresh_by_path",
        Mutant::RefreshByPath,
        M13_BOUND,
        Cfg::loom(None),
    );
}
