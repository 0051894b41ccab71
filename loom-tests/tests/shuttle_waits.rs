//! shuttle schedules of waiting (issue #15), against the correct lockcore under PCT and the
//! random scheduler with fixed seeds: the queue of one instance's waiters (S1, FIFO), a
//! `release_all` with waiters queued (S2), and the loom wait models scaled up (W1, W2 on the
//! watch and on the backoff fallback, W3), each at shuttle size (≥ 4 threads, a background
//! process that crashes and exec-restarts).
//!
//! Budget: `SCHEDULES` schedules per test (or `LOCKCORE_SHUTTLE_ITERATIONS`); the whole file
//! takes a few seconds on 2 cores in release.
#![cfg(feature = "shuttle")]

use loom_tests::harness::{shuttle_pct, shuttle_random, shuttle_schedules};
use loom_tests::scenarios::*;

const SCHEDULES: usize = 300;
const SEED: u64 = 0x5eed_3003;
/// PCT bug depth.
const DEPTH: usize = 3;

fn backoff() -> Cfg {
    Cfg {
        watch: false,
        ..Cfg::shuttle(None)
    }
}

macro_rules! scaled {
    ($pct:ident, $random:ident, $scenario:expr, $cfg:expr) => {
        /// PCT, fixed seed, correct lockcore: no violation.
        #[test]
        fn $pct() {
            let budget = shuttle_schedules(SCHEDULES);
            let n = shuttle_pct(SEED, DEPTH, budget, $scenario, $cfg);
            assert_eq!(n, budget as u64);
        }
        /// Random scheduler, fixed seed, correct lockcore: no violation.
        #[test]
        fn $random() {
            let budget = shuttle_schedules(SCHEDULES);
            let n = shuttle_random(SEED, budget, $scenario, $cfg);
            assert_eq!(n, budget as u64);
        }
    };
}

// S1 — P11 (FIFO), P1: six waiters of one instance queue for a held lock; at each release the
// oldest gets it, and the releasing thread asking again comes last.
scaled!(s1_pct, s1_random, s1_fifo_waiters, Cfg::shuttle(None));
// S3 — P11, P1: fair instances (Policy::fair): two threads of one process and one of another
// queue for a held lock; every one gets it, none at once, no ticket is left (the queue of an
// instance and the queue across processes never wait for each other).
scaled!(
    s3_pct,
    s3_random,
    s3_fair_queues_do_not_deadlock,
    Cfg::shuttle(None)
);
// S4 — P11, P1: default instances queue once starved (Policy::queue_after): a waiter that
// queues at once, one that only yields to the flagged queue and the releasing holder asking
// again; every one gets it, none at once, no ticket is left.
scaled!(
    s4_pct,
    s4_random,
    s4_starved_waiters_queue,
    Cfg::shuttle(None)
);
// S2 — P3, P4, P1, P11: release_all with four waiters of the instance queued and another
// process watching; the old epoch goes before the rotation, then the queue is served in order.
scaled!(
    s2_pct,
    s2_random,
    s2_release_all_with_waiters,
    Cfg::shuttle(None)
);
// W1 — P11: two releases ∥ two watching waiters of other processes ∥ crash/restart.
scaled!(w1_pct, w1_random, w1_release_vs_waiter, Cfg::shuttle(None));
// W1b — P11: the same with waiters backing off (no watch).
scaled!(w1b_pct, w1b_random, w1_release_vs_waiter, backoff());
// W2 — P11: two owners SIGKILLed ∥ their waiters (file + pid watch) ∥ crash/restart.
scaled!(w2_pct, w2_random, w2_death_vs_waiter, Cfg::shuttle(None));
// W2b — P11: the same with waiters backing off.
scaled!(w2b_pct, w2b_random, w2_death_vs_waiter, backoff());
// W3 — P3, P4, P9: re-enter + release ∥ two fresh sessions ∥ release_all ∥ crash/restart.
scaled!(
    w3_pct,
    w3_random,
    w3_sessions_vs_release_all,
    Cfg::shuttle(None)
);
// W4 — P9, P1: a handover ∥ a waiter of the instance timing out at once ∥ a patient waiter ∥
// crash/restart: the granted hold is taken or released, never left to nobody.
scaled!(
    w4_pct,
    w4_random,
    w4_release_vs_timing_out_waiter,
    Cfg::shuttle(None)
);
// W5 — P4, P5, P1: a handover ∥ release_all ∥ a second thread asking ∥ crash/restart: a hold
// granted and then revoked is never taken, nor another thread's hold in its place.
scaled!(
    w5_pct,
    w5_random,
    w5_handover_vs_release_all,
    Cfg::shuttle(None)
);
