//! Every catalogue mutant a sequential history can expose, caught by the state machine.
//!
//! Not here, because no sequential history can tell them from the correct lock (their harm
//! needs two steps of different actors interleaved, which the loom and shuttle layers explore):
//! `rotate-before-cleanup` (the nonce changes before the loop, but the loop's deletes are
//! ownership-checked and nothing runs in between), `naive-reclaim` and `rename-takeover` (with
//! one actor at a time the unchecked delete or the rename hits exactly the file judged stale).
//! Each test searches with a fixed seed, stops at the first counterexample, shrinks it, and
//! writes its result file (`lockcore_results::TestResult`, under `$LOCKCORE_RESULTS_DIR`) with
//! the shrunk history and the model's trace as its steps; a summary is printed for people.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use lockcore::{Mutant, Policy};
use lockcore_results::{TestResult, Verdict};
use models::report::steps;
use proptests::runner::{config, run_machine};

fn hunt(m: Mutant, test: &str, accepted: &[&str]) {
    let policy = Policy {
        mutant: Some(m),
        ..Policy::default()
    };
    let report = run_machine(&policy, config(4000, 0x5eed_0000 + m as u64, None), 30);
    let failure = report.failure.as_ref();
    let caught = failure.is_some_and(|f| accepted.contains(&f.property.as_str()));
    // A violation names its property (`P<n>`); anything else (proptest aborted) caught nothing.
    let violated = failure.filter(|f| {
        f.property.len() >= 2
            && f.property.starts_with('P')
            && f.property[1..].bytes().all(|b| b.is_ascii_digit())
    });
    // The violation's first line is its message; the shrunk history's numbered steps and then
    // the model's trace (the rest of the message) are the steps.
    let (message, trace) = match failure {
        Some(f) => {
            let (first, rest) = f.message.split_once('\n').unwrap_or((&f.message, ""));
            let mut trace = steps(&f.steps);
            trace.extend(steps(rest));
            (Some(first.to_string()), trace)
        }
        None => (None, Vec::new()),
    };
    models::report::report(TestResult {
        layer: "proptest".into(),
        test: test.into(),
        mutant: Some(m.id().to_string()),
        verdict: if violated.is_some() {
            Verdict::Violated
        } else {
            Verdict::Passed
        },
        property: violated.map(|f| f.property.clone()),
        message,
        iterations: report.cases,
        seconds: report.seconds,
        trace,
        reason: None,
    });
    assert!(
        caught,
        "mutant {m} not caught with {accepted:?}: {:?}",
        report.failure
    );
}

macro_rules! mutant_test {
    ($name:ident, $m:ident, $($p:literal),+) => {
        /// The state machine finds this catalogue bug (property named in the list).
        #[test]
        fn $name() {
            hunt(Mutant::$m, concat!("mutants::", stringify!($name)), &[$($p),+]);
        }
    };
}

// P6 (or P8): the nonce is not consulted.
mutant_test!(mutant_ignore_nonce, IgnoreNonce, "P6", "P8");
// P8: a mismatched nonce of another live pid is reclaimed.
mutant_test!(mutant_nonce_any_pid, NonceAnyPid, "P8");
// P2: EPERM counted as dead.
mutant_test!(mutant_eperm_is_dead, EpermIsDead, "P2");
// P9: the first release frees a reentrant lock.
mutant_test!(mutant_no_reentry_count, NoReentryCount, "P9");
// P2 (P4 when found through release_all, which shares the unchecked delete): release deletes by path.
mutant_test!(mutant_unchecked_release, UncheckedRelease, "P2", "P4");
// P5: a revoked guard acts on a newer hold.
mutant_test!(mutant_release_by_key, ReleaseByKey, "P5");
// P10: an empty file reclaimed inside the grace.
mutant_test!(mutant_empty_window, EmptyWindow, "P10");
// P4: release_all skips every other hold.
mutant_test!(mutant_release_all_index_skip, ReleaseAllIndexSkip, "P4");
// P2: the registry entry goes before an unchecked unlink.
mutant_test!(mutant_registry_before_unlink, RegistryBeforeUnlink, "P2");
// P4 (P2 when the deleted file is another process's, the only sequential form): release_all deletes by key unchecked.
mutant_test!(
    mutant_release_all_live_iteration,
    ReleaseAllLiveIteration,
    "P4",
    "P2"
);
// P14: a host-less file (a peer in a sibling pid namespace) judged by our pid rules.
mutant_test!(mutant_hostless_trusted, HostlessTrusted, "P14");
// P13: a lease judged by createdAt, not by the mtime its holder refreshes.
mutant_test!(mutant_lease_by_created_at, LeaseByCreatedAt, "P13");
// P15: the refresh touches whatever file is at the path: a holder whose lock was taken never
// learns it.
mutant_test!(mutant_refresh_by_path, RefreshByPath, "P15");
