//! The operation × operation matrix under shuttle: every pair of public operations in the matrix
//! world (`loom_tests::matrix`) under PCT (depth 3) and the random scheduler with fixed seeds,
//! `shuttle_schedules(100)` schedules each; each passing pair writes its cell
//! (`<LOCKCORE_RESULTS_DIR>/matrix/shuttle-<a>-<b>.json`). Complements the loom matrix with
//! deeper interleavings than loom's bound reaches.
#![cfg(feature = "shuttle")]

use lockcore_results::{MatrixCell, Record};
use loom_tests::harness::{shuttle_pct, shuttle_random, shuttle_schedules};
use loom_tests::matrix::{pairs, run_pair};
use loom_tests::scenarios::Cfg;

const SEED: u64 = 0x5eed_3003;

/// P1–P5, P9, P11, P15: every pair, each run as two concurrent threads; the interleavings are
/// PCT's and the random scheduler's schedules of their file steps.
#[test]
fn matrix_every_pair_under_pct_and_random() {
    let budget = shuttle_schedules(100);
    for (a, b) in pairs() {
        let cfg = Cfg::shuttle(None);
        let n = shuttle_pct(SEED, 3, budget, move |c| run_pair((a, b), c), cfg)
            + shuttle_random(SEED, budget, move |c| run_pair((a, b), c), cfg);
        println!("matrix {} ∥ {}: {n} schedules", a.name(), b.name());
        Record::MatrixCell(MatrixCell {
            layer: "shuttle".into(),
            pair: [a.name().into(), b.name().into()],
            model: "matrix".into(),
            executions: n,
            bound: None,
        })
        .write_or_warn();
    }
}
