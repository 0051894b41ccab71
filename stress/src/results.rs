//! The layer's result file, `$LOCKCORE_RESULTS_DIR/stress.json`: a
//! [`lockcore_results::Record::Stress`], which the gate reads.

use crate::checker::render_record;
use crate::driver::Outcome;
use lockcore_results::{StressResult, StressTwin, StressViolation};

/// Environment variable: the budget (`quick`, `full`; unset: a smoke run).
pub const BUDGET_VAR: &str = "LOCKCORE_STRESS";

/// The layer's result: the main run's counts and violations (each window one rendered record per
/// entry, times in ms since the run's start), and the twin's outcome.
pub fn document(budget: &str, main: &Outcome, twin: Option<&StressTwin>) -> StressResult {
    let violations = main
        .violations
        .iter()
        .map(|v| StressViolation {
            property: v.property.to_string(),
            message: v.message.clone(),
            window: v
                .window
                .iter()
                .map(|r| render_record(r, main.start_ns))
                .collect(),
        })
        .collect();
    StressResult {
        budget: budget.to_string(),
        seed: main.seed,
        seconds: (main.seconds * 10.0).round() / 10.0,
        workers: main.workers as u64,
        operations: main.operations,
        holds: main.holds,
        nemesis_events: main.nemesis_events,
        violations,
        notes: main.notes.clone(),
        errors: main.errors.clone(),
        twin: twin.cloned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::Violation;
    use crate::history::Record as HistoryRecord;
    use lockcore_results::{Record, ResultFile, SCHEMA};

    fn outcome() -> Outcome {
        let start_ns = 1_000_000_000;
        let acquire = HistoryRecord::new(
            "w1.0",
            "acquire",
            start_ns + 2_000_000,
            start_ns + 2_500_000,
            "ok",
        )
        .session("s0")
        .token(Some("1f2e"));
        Outcome {
            seed: 9,
            seconds: 20.04,
            workers: 6,
            operations: 1234,
            holds: 300,
            nemesis_events: 41,
            start_ns,
            violations: vec![Violation {
                property: "P1",
                message: "w1.0 and w2.0 both hold s0".into(),
                at_ns: start_ns + 3_000_000,
                window: vec![acquire],
            }],
            notes: vec!["strace missing: no injected faults".into()],
            ..Outcome::default()
        }
    }

    /// What the gate reads of the file: the kind and schema, seed and counts, each violation's
    /// property and its window for people, and the twin's verdict.
    #[test]
    fn the_file_has_what_the_gate_reads() {
        let twin = StressTwin {
            mutant: "nonce-any-pid".into(),
            caught: true,
            property: Some("P1".into()),
            seconds: Some(0.4),
            seed: 9,
        };
        let record = Record::Stress(document("quick", &outcome(), Some(&twin)));
        assert_eq!(record.relative_path().to_str(), Some("stress.json"));
        let text = serde_json::to_string(&ResultFile {
            schema: SCHEMA,
            record: record.clone(),
        })
        .unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            (v["schema"].as_u64(), v["kind"].as_str()),
            (Some(2), Some("stress"))
        );
        assert_eq!(v["budget"], "quick");
        assert_eq!(
            (
                v["seed"].as_u64(),
                v["operations"].as_u64(),
                v["workers"].as_u64()
            ),
            (Some(9), Some(1234), Some(6))
        );
        assert_eq!(v["seconds"].as_f64(), Some(20.0));
        assert_eq!(v["violations"][0]["property"], "P1");
        let window = v["violations"][0]["window"][0].as_str().unwrap();
        assert!(
            window.contains("2.0 ..") && window.contains("w1.0") && window.contains("token 1f2e"),
            "{window}"
        );
        assert_eq!(v["twin"]["property"], "P1");
        assert_eq!(v["twin"]["caught"], true);
        // The reader of the gate gets the same record back.
        assert_eq!(lockcore_results::parse(&text), Ok(record));
    }

    #[test]
    fn a_run_without_a_twin_says_so() {
        let d = document("smoke", &Outcome::default(), None);
        assert_eq!(d.twin, None);
        assert!(d.violations.is_empty());
        let v = serde_json::to_value(Record::Stress(d)).unwrap();
        assert_eq!(v["twin"], serde_json::Value::Null);
    }
}
