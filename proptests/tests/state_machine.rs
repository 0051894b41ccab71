//! lockcore on a real temp directory against the reference model, step by step.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use lockcore::Policy;
use proptests::runner::{cases_from_env, config, run_machine};

/// P1–P12 (every step: outcome, directory, registries, guards, model invariants).
#[test]
fn state_machine_matches_reference_model() {
    let cases = cases_from_env(256);
    let report = run_machine(
        &Policy::default(),
        config(
            cases,
            0x10c4_c0de,
            Some("proptest-regressions/state_machine.txt"),
        ),
        40,
    );
    println!("{} cases in {:.2} s", report.cases, report.seconds);
    if let Some(f) = &report.failure {
        panic!("{} violated\n{}\n{}", f.property, f.message, f.steps);
    }
    models::report::emit_coverage(&report.counts);
}
