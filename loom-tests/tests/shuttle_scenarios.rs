//! The loom scenarios scaled up for shuttle (≥ 4 threads, ≥ 3 sessions, ≥ 2 simulated
//! processes, a crash and an exec-restart in each), run against the correct lockcore under PCT
//! and the random scheduler with fixed seeds; and one bug-bearing helper (rotate-before-cleanup)
//! run under several schedulers in separately named tests, shuttle's own tests' style.
//!
//! Budget: each scenario test runs `SCHEDULES` schedules (~1–3 ms each in release), or
//! `LOCKCORE_SHUTTLE_ITERATIONS` when set; the whole file takes a few seconds on 2 cores.
#![cfg(feature = "shuttle")]

use lockcore::Mutant;
use loom_tests::harness::{expect_caught, shuttle_pct, shuttle_random, shuttle_schedules};
use loom_tests::scenarios::*;

const SCHEDULES: usize = 300;
const SEED: u64 = 0x5eed_2002;
/// PCT bug depth: the catalogue bugs need at most three ordering constraints.
const DEPTH: usize = 3;

macro_rules! scaled {
    ($pct:ident, $random:ident, $scenario:expr) => {
        /// PCT, fixed seed, correct lockcore: no violation.
        #[test]
        fn $pct() {
            let budget = shuttle_schedules(SCHEDULES);
            let n = shuttle_pct(SEED, DEPTH, budget, $scenario, Cfg::shuttle(None));
            assert_eq!(n, budget as u64);
        }
        /// Random scheduler, fixed seed, correct lockcore: no violation.
        #[test]
        fn $random() {
            let budget = shuttle_schedules(SCHEDULES);
            let n = shuttle_random(SEED, budget, $scenario, Cfg::shuttle(None));
            assert_eq!(n, budget as u64);
        }
    };
}

// M1 — P1, P3: release_all + rotate ∥ reclaiming acquire ∥ fresh acquire ∥ crash/restart.
scaled!(m1_pct, m1_random, m1_release_all_vs_reclaim);
// M2 — P1, P2: four reclaimers of two dead owners' locks.
scaled!(m2_pct, m2_random, m2_two_reclaimers);
// M3 — P1, P2, P9: releases ∥ same-instance acquires on two paths.
scaled!(m3_pct, m3_random, m3_release_vs_acquire);
// M4 — P5: revoked guards dropped ∥ successors.
scaled!(m4_pct, m4_random, m4_revoked_drop);
// M5 — P4: release_all of three locks ∥ late and other-path acquisitions.
scaled!(m5_pct, m5_random, m5_release_all_vs_other);
// M6 — P1, P9: reentrant holders on two paths ∥ a non-reentrant acquirer.
scaled!(m6_pct, m6_random, m6_reentrant);
// M7 — P2: too-old reclaims ∥ the superseded holder's releases.
scaled!(m7_pct, m7_random, m7_superseded_release);
// M8 — P2, P8: an EPERM owner's locks ∥ a contender.
scaled!(m8_pct, m8_random, m8_live_foreign);
// M9 — P6: in-place restart with a failed delete ∥ other-path acquisitions.
scaled!(m9_pct, m9_random, m9_restart_leftover);
// M10 — P10: three publishers on two sessions.
scaled!(m10_pct, m10_random, m10_concurrent_publish);
// M11 — P14: a peer in a sibling pid namespace holds the three host-less shapes ∥ lockcore.
scaled!(m11_pct, m11_random, m11_peer_in_sibling_namespace);
// M12 — P13: refreshed leases on two sessions ∥ a contender from a sibling namespace.
scaled!(m12_pct, m12_random, m12_refreshed_lease_vs_contender);
// M13 — P15: a stopped holder's refresh ∥ lease-expired reclaims from a sibling namespace.
scaled!(m13_pct, m13_random, m13_refresh_vs_lease_reclaim);
// M14 — P16, P1, P9: release + mkfifo at the freed path ∥ a contender through a symlinked
// directory ∥ a background process.
scaled!(m14_pct, m14_random, m14_hostile_after_release);
// M15 — P1, P4: an instance's own sweep ∥ its release_all ∥ another process's contender.
scaled!(m15_pct, m15_random, m15_own_sweep_vs_release_all);

/// The bug-bearing helper: M1 at shuttle size with rotate-before-cleanup, under a scheduler.
fn rotate_before_cleanup_under(test: &str, run: impl FnOnce(Cfg)) {
    let cfg = Cfg::shuttle(Some(Mutant::RotateBeforeCleanup));
    expect_caught(
        "shuttle",
        &format!("shuttle_scenarios::{test}"),
        Mutant::RotateBeforeCleanup,
        "P3",
        move || run(cfg),
    );
}

#[test]
fn rotate_before_cleanup_pct_depth_2() {
    rotate_before_cleanup_under("rotate_before_cleanup_pct_depth_2", |cfg| {
        shuttle_pct(SEED, 2, 2_000, m1_release_all_vs_reclaim, cfg);
    });
}

#[test]
fn rotate_before_cleanup_pct_depth_3() {
    rotate_before_cleanup_under("rotate_before_cleanup_pct_depth_3", |cfg| {
        shuttle_pct(SEED, 3, 2_000, m1_release_all_vs_reclaim, cfg);
    });
}

#[test]
fn rotate_before_cleanup_random() {
    rotate_before_cleanup_under("rotate_before_cleanup_random", |cfg| {
        shuttle_random(SEED, 2_000, m1_release_all_vs_reclaim, cfg);
    });
}

#[test]
fn rotate_before_cleanup_random_other_seed() {
    rotate_before_cleanup_under("rotate_before_cleanup_random_other_seed", |cfg| {
        shuttle_random(SEED ^ 0xffff, 2_000, m1_release_all_vs_reclaim, cfg);
    });
}

// Not run: shuttle's DFS scheduler. Like loom it explores from the end of the schedule, and
// without loom's partial-order reduction it did not reach this bug's early preemption within
// 20k schedules even at loom size (measured); loom covers exhaustive search instead.
