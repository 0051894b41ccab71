//! The operation × operation matrix under loom: each of the 36 pairs of public operations
//! (`lockcore_results::OPERATIONS`, an operation with itself included) runs concurrently in the
//! matrix world (`loom_tests::matrix`), explored within `BOUND`, judged by the shared oracle.
//! Each passing pair writes its cell (`<LOCKCORE_RESULTS_DIR>/matrix/loom-<a>-<b>.json`), and the
//! gate prints the matrix and fails on an empty cell. Budget: the 36 pairs at bound 3 take ~14 s in
//! release on 2 cores (bound 2: 1.7 s; the largest pair, acquire ∥ try_acquire, ~6k executions).
#![cfg(feature = "loom")]

use lockcore_results::{MatrixCell, Record};
use loom_tests::harness::loom_model;
use loom_tests::matrix::{pairs, run_pair, Op};
use loom_tests::scenarios::Cfg;

/// Preemption bound of every pair: `LOCKCORE_MATRIX_BOUND`, default 3 (the gate's `--quick`
/// sets 2; measured: see the module doc).
fn bound() -> Option<usize> {
    let from_env = std::env::var("LOCKCORE_MATRIX_BOUND").ok();
    Some(from_env.and_then(|v| v.trim().parse().ok()).unwrap_or(3))
}

fn explore(a: Op, b: Op) {
    let bound = bound();
    let n = loom_model(bound, move |cfg| run_pair((a, b), cfg), Cfg::loom(None));
    println!("matrix {} ∥ {}: {n} executions", a.name(), b.name());
    Record::MatrixCell(MatrixCell {
        layer: "loom".into(),
        pair: [a.name().into(), b.name().into()],
        model: "matrix".into(),
        executions: n,
        bound,
    })
    .write_or_warn();
}

macro_rules! row {
    ($name:ident, $a:ident) => {
        /// P1–P5, P9, P11, P15: `$a` against every operation (itself included) at or after it in
        /// `OPERATIONS` order; the interleavings are every schedule of the two threads' file
        /// steps within the bound.
        #[test]
        fn $name() {
            for (a, b) in pairs().into_iter().filter(|(a, _)| *a == Op::$a) {
                explore(a, b);
            }
        }
    };
}

row!(matrix_acquire, Acquire);
row!(matrix_try_acquire, TryAcquire);
row!(matrix_release, Release);
row!(matrix_release_all, ReleaseAll);
row!(matrix_clean_stale, CleanStale);
row!(matrix_inspect, Inspect);
row!(matrix_signal_cleanup, SignalCleanup);
row!(matrix_refresh, Refresh);

/// The loom bound of the catalogue sweep: `LOCKCORE_MATRIX_SWEEP_BOUND`, default 1 (the full gate
/// sets 2). Measured in release on 2 cores: bound 1 finds 3 of the 16 catalogue bugs in ~4 s,
/// bound 2 finds 5 in ~36 s.
fn sweep_bound() -> usize {
    std::env::var("LOCKCORE_MATRIX_SWEEP_BOUND")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(1)
}

/// How many catalogue bugs the matrix finds by itself, with no scenario written for them: each
/// mutant against every pair, counting the pairs that fail. A bug the matrix sees is one it would
/// also see in a form nobody has written yet. The floor (3 at bound 1, 5 at bound 2) guards
/// against a matrix or oracle change that makes it see less. The rows go to
/// `<LOCKCORE_RESULTS_DIR>/matrix-sweep/loom.json`, which the gate report shows.
#[test]
fn mutant_matrix_sweep() {
    use lockcore::Mutant;
    use lockcore_results::{MatrixSweep, SweepRow, SweptPair};
    use std::sync::Mutex;
    // The first violation of the running pair, as the oracle returned it (a std lock: it is
    // written from inside loom's executions but is not part of the model).
    static FOUND: Mutex<Option<&'static str>> = Mutex::new(None);
    let bound = sweep_bound();
    let start = loom_tests::harness::now();
    let mut rows = Vec::new();
    for m in Mutant::ALL {
        let mut failing = Vec::new();
        for (a, b) in pairs() {
            *FOUND.lock().unwrap_or_else(|e| e.into_inner()) = None;
            let cfg = Cfg::loom(Some(m));
            let r = std::panic::catch_unwind(move || {
                let scenario = move |c: &Cfg| {
                    run_pair((a, b), c).inspect_err(|v| {
                        FOUND
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .get_or_insert(v.property);
                    })
                };
                loom_model(Some(bound), scenario, cfg)
            });
            if r.is_err() {
                let property = FOUND.lock().unwrap_or_else(|e| e.into_inner()).take();
                failing.push(SweptPair {
                    pair: [a.name().into(), b.name().into()],
                    property: property.map(str::to_string),
                });
            }
        }
        let names: Vec<String> = failing
            .iter()
            .map(|f| {
                let p = f.property.as_deref().unwrap_or("-");
                format!("{} ∥ {} {p}", f.pair[0], f.pair[1])
            })
            .collect();
        println!(
            "matrix sweep {m}: {} pair(s) fail: {names:?}",
            failing.len()
        );
        rows.push(SweepRow {
            mutant: m.id().into(),
            failing,
        });
    }
    let floor = if bound >= 2 { 5 } else { 3 };
    let sweep = MatrixSweep {
        layer: "loom".into(),
        bound: Some(bound),
        floor,
        seconds: start.elapsed().as_secs_f64(),
        rows,
    };
    Record::MatrixSweep(sweep.clone()).write_or_warn();
    let caught = sweep.found();
    println!(
        "matrix sweep (bound {bound}): {}/{} catalogue bugs found by the matrix alone: {caught:?}",
        caught.len(),
        Mutant::ALL.len()
    );
    assert!(
        caught.len() as u64 >= floor,
        "the matrix alone found {} catalogue bugs at bound {bound}, fewer than its floor {floor}",
        caught.len()
    );
}
