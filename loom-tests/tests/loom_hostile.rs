//! loom model of a hostile lock path appearing during a handoff: M11 (P16, P1, P9). Budget
//! measured with `--release` on 2 cores.
#![cfg(feature = "loom")]

use loom_tests::harness::loom_model;
use loom_tests::scenarios::{m11_hostile_after_release, Cfg};

/// M11: preemption bound 3 (unbounded did not finish in 12 min).
const M11_BOUND: Option<usize> = Some(3);

/// M11 — P16, P1, P9: release + `mkfifo` at the freed lock path ∥ a second process's acquire.
/// Every interleaving ends with the contender holding (the FIFO plant refused) or refused with
/// `NotRegular`; the FIFO is never written over or removed. Bound 3: ~1.9k executions, ~0.3 s.
#[test]
fn m11_fifo_planted_after_release_vs_contender() {
    let n = loom_model(M11_BOUND, m11_hostile_after_release, Cfg::loom(None));
    println!("m11: {n} executions");
}
