//! loom model of a hostile lock path appearing during a handoff: M14 (P16, P1, P9). Budget
//! measured with `--release` on 2 cores.
#![cfg(feature = "loom")]

use loom_tests::harness::loom_model;
use loom_tests::scenarios::{m14_hostile_after_release, Cfg};

/// M14: preemption bound 3 (unbounded did not finish in 12 min).
const M14_BOUND: Option<usize> = Some(3);

/// M14 — P16, P1, P9: release + `mkfifo` at the freed lock path ∥ a second process's acquire.
/// Every interleaving ends with the contender holding (the FIFO plant refused) or refused with
/// `NotRegular`; the FIFO is never written over or removed. Bound 3: ~1.9k executions, ~0.3 s.
#[test]
fn m14_fifo_planted_after_release_vs_contender() {
    let n = loom_model(M14_BOUND, m14_hostile_after_release, Cfg::loom(None));
    println!("m14: {n} executions");
}
