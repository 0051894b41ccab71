//! loom models of waiting (issue #15): W1 (P11, release ∥ wake ∥ timeout), W1b (the same on
//! the backoff fallback), W2 (P11, wake on the owner's death), W3 (P3, P4, P9: two sessions
//! acquired at once in one instance, no registry lock across file I/O, ∥ `release_all`), W4
//! (P9, P1: a handover ∥ a waiter of the instance timing out), W5 (P4, P5, P1: a handover ∥
//! `release_all` ∥ a newcomer) and S1
//! (P11, P1: queued waiters of one instance blocked until notified), with their twins. Budgets were measured with `--release` on 2 cores.
#![cfg(feature = "loom")]

use lockcore::Mutant;
use loom_tests::harness::{expect_caught, loom_model, loom_twin};
use loom_tests::scenarios::{
    s1_fifo_waiters, w1_release_vs_waiter, w2_death_vs_waiter, w3_sessions_vs_release_all,
    w4_release_vs_timing_out_waiter, w5_handover_vs_release_all, Cfg,
};

/// W1 and W1b: bound 4 (bound 5: 71k executions, 10 s; unbounded: over 5 million).
const W1_BOUND: Option<usize> = Some(4);
/// W2: no preemption bound (exhaustive).
const W2_BOUND: Option<usize> = None;
/// W4: two threads; no preemption bound (exhaustive).
const W4_BOUND: Option<usize> = None;
/// W5: four threads; bound 1 (bound 2: ~504k executions, 106 s on a busy machine).
const W5_BOUND: Option<usize> = Some(1);
/// W3: three threads; bound 2.
const W3_BOUND: Option<usize> = Some(2);
/// S1 at loom size with blocking waits (`s1_queued_waiters_...`): bound 3 (~22k executions,
/// 7 s; bound 2: ~1k).
const S1_BLOCKING_BOUND: Option<usize> = Some(3);
/// S1 at loom size (two waiters and the releasing thread asking again), for its twin; bound 1.
const S1_BOUND: Option<usize> = Some(1);

/// S1 at loom size: two queued waiters (scale 0).
fn s1_cfg() -> Cfg {
    Cfg {
        scale: 0,
        ..Cfg::loom(None)
    }
}

fn backoff_cfg() -> Cfg {
    Cfg {
        watch: false,
        ..Cfg::loom(None)
    }
}

/// W1 — P11: process 2 releases ∥ process 1 waits on a watch; the release lands before the
/// arming, between arming and the look after it, between looks, or after the timeout was
/// decided. Preemption bound 4: ~14.6k executions, ~2 s.
#[test]
fn w1_release_vs_watching_waiter() {
    let n = loom_model(W1_BOUND, w1_release_vs_waiter, Cfg::loom(None));
    println!("w1: {n} executions");
}

/// W1b — P11: W1 where the environment cannot watch: the waiter backs off and still takes the
/// lock within one bounded sleep of the release. Preemption bound 4: ~12.5k executions, ~2 s.
#[test]
fn w1b_release_vs_backing_off_waiter() {
    let n = loom_model(W1_BOUND, w1_release_vs_waiter, backoff_cfg());
    println!("w1b: {n} executions");
}

/// W2 — P11: process 2 is SIGKILLed ∥ process 1 waits on a watch of the file and a pidfd of the
/// owner; the death lands before the pid watch is armed, before the look after arming, or
/// while it blocks (crashes and liveness looks are steps here). No preemption bound:
/// exhaustive, ~1.2k executions, < 1 s.
#[test]
fn w2_death_vs_watching_waiter() {
    let n = loom_model(W2_BOUND, w2_death_vs_waiter, Cfg::loom(None));
    println!("w2: {n} executions");
}

/// W4 — P9, P1: a release that hands the lock over ∥ a waiter of the same instance giving up at
/// its first busy verdict (timeout zero): the grant lands before its verdict, between the
/// verdict and its leaving the queue, or after. No preemption bound: exhaustive.
#[test]
fn w4_handover_vs_timing_out_waiter() {
    let n = loom_model(W4_BOUND, w4_release_vs_timing_out_waiter, Cfg::loom(None));
    println!("w4: {n} executions");
}

/// W5 — P4, P5, P1: a release handing the lock to the queued thread ∥ `release_all` ∥ a second
/// thread asking for it: `release_all` may take the granted hold before the waiter does, and a
/// new hold may be registered in between. Preemption bound 1.
#[test]
fn w5_handover_vs_release_all_and_a_newcomer() {
    let n = loom_model(W5_BOUND, w5_handover_vs_release_all, Cfg::loom(None));
    println!("w5: {n} executions");
}

/// Twin of W4: handover-lost-on-timeout → P9 (the waiter that gives up just after the grant
/// forgets it: the lock file stays, held by nobody).
#[test]
fn mutant_handover_lost_on_timeout() {
    loom_twin(
        "loom_wait::mutant_handover_lost_on_timeout",
        Mutant::HandoverLostOnTimeout,
        W4_BOUND,
        Cfg::loom(None),
    );
}

/// W3 — P3, P4, P9: re-enter + release of session 1 ∥ a fresh acquire of session 2 ∥
/// `release_all`, all in process 1. Preemption bound 2: ~12.5k executions, ~3 s.
#[test]
fn w3_two_sessions_vs_release_all() {
    let n = loom_model(W3_BOUND, w3_sessions_vs_release_all, Cfg::loom(None));
    println!("w3: {n} executions");
}

/// S1 at loom size — P11 (first come, first served; no lost notification), P1: two threads
/// queued behind the holder, which releases and at once asks again. Under loom an in-instance
/// wait blocks until it is notified (loom models no timeouts), so a release or a waiter leaving
/// the queue that fails to notify the thread it let through is a deadlock here, and a
/// notification to the wrong waiter leaves the oldest asleep. Preemption bound 3: ~22k
/// executions, ~7 s.
#[test]
fn s1_queued_waiters_are_notified_in_arrival_order() {
    let n = loom_model(S1_BLOCKING_BOUND, s1_fifo_waiters, s1_cfg());
    println!("s1: {n} executions");
}

/// Twin of S1: barging → P11 (the releasing thread, asking again, publishes ahead of the two
/// queued waiters) — found by loom's first execution. The correct S1 is not a loom model: its
/// waiters spin (yield) while they wait, and at preemption bound 1 loom had not finished after
/// 10 minutes; shuttle runs S1 at scale (`shuttle_waits.rs`).
#[test]
fn mutant_barging() {
    loom_twin(
        "loom_wait::mutant_barging",
        Mutant::Barging,
        S1_BOUND,
        s1_cfg(),
    );
}

/// Twin of W1: lost-wakeup → P11 (the release lands before the arming; without the look after
/// it the waiter sleeps its whole timeout).
#[test]
fn mutant_lost_wakeup() {
    loom_twin(
        "loom_wait::mutant_lost_wakeup",
        Mutant::LostWakeup,
        W1_BOUND,
        Cfg::loom(None),
    );
}

/// Twin of W2: lost-wakeup → P11 (the owner dies before the pid watch is armed).
#[test]
fn mutant_lost_wakeup_on_death() {
    expect_caught(
        "loom",
        "loom_wait::mutant_lost_wakeup_on_death",
        Mutant::LostWakeup,
        "P11",
        || {
            loom_model(
                W2_BOUND,
                w2_death_vs_waiter,
                Cfg::loom(Some(Mutant::LostWakeup)),
            );
        },
    );
}

/// Twin of W3: rotate-before-cleanup → P3 (the gate opens at the early rotation and the
/// re-entering thread reclaims the lock being released by nonce mismatch).
#[test]
fn mutant_rotate_before_cleanup_vs_sessions() {
    expect_caught(
        "loom",
        "loom_wait::mutant_rotate_before_cleanup_vs_sessions",
        Mutant::RotateBeforeCleanup,
        "P3",
        || {
            loom_model(
                W3_BOUND,
                w3_sessions_vs_release_all,
                Cfg::loom(Some(Mutant::RotateBeforeCleanup)),
            );
        },
    );
}
