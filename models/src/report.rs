//! What the layers report: every result is a typed file of `lockcore-results` under
//! `$LOCKCORE_RESULTS_DIR` (one per test, twin, matrix cell or layer summary), which the gate
//! reads. The schema lives in that crate alone; this module re-exports it for the layers and adds
//! the one thing they share on top: a twin's or test's summary for people, printed beside its
//! file. Nothing parses the printed text.

pub use lockcore_results::{
    results_dir, Coverage, MatrixCell, Record, TestResult, Verdict, OPERATIONS, RESULTS_DIR_VAR,
};

/// A result in a few lines for people: the verdict, the property, the budget spent, then the
/// violation and the trace, one step per line.
pub fn summary(r: &TestResult) -> String {
    let what = match &r.mutant {
        Some(id) => format!("mutant {id} ({}, {})", r.layer, r.test),
        None => format!("{} {}", r.layer, r.test),
    };
    let verdict = match (&r.verdict, &r.mutant) {
        (Verdict::Violated, Some(_)) => "CAUGHT",
        (Verdict::Passed, Some(_)) => "MISSED",
        (Verdict::Violated, None) => "VIOLATED",
        (Verdict::Passed, None) => "passed",
        (Verdict::Skipped, _) => "skipped",
    };
    let mut out = format!(
        "{what}: {verdict} {} after {} iterations, {:.3} s",
        r.property.as_deref().unwrap_or("-"),
        r.iterations,
        r.seconds
    );
    for line in r.message.iter().chain(r.reason.iter()).chain(&r.trace) {
        out.push('\n');
        out.push_str(line);
    }
    out
}

/// Prints the result's [`summary`] and writes its file (when `$LOCKCORE_RESULTS_DIR` is set).
pub fn report(r: TestResult) {
    println!("{}", summary(&r));
    Record::Test(r).write_or_warn();
}

/// Splits a counterexample's text into its steps: one entry per non-empty line.
pub fn steps(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_twins_summary_names_its_verdict_and_every_step() {
        let r = TestResult {
            layer: "loom".into(),
            test: "loom_reclaim::mutant_naive_reclaim".into(),
            mutant: Some("naive-reclaim".into()),
            verdict: Verdict::Violated,
            property: Some("P1".into()),
            message: Some("P1 violated: two holders".into()),
            iterations: 42,
            seconds: 0.25,
            trace: steps("#1 p1 create\n\n#2 p2 unlink\n"),
            reason: None,
        };
        assert_eq!(r.trace, ["#1 p1 create", "#2 p2 unlink"]);
        let s = summary(&r);
        assert!(s.starts_with("mutant naive-reclaim (loom, loom_reclaim::mutant_naive_reclaim): CAUGHT P1 after 42 iterations"));
        assert!(s.ends_with("P1 violated: two holders\n#1 p1 create\n#2 p2 unlink"));
    }
}
