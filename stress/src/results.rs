//! The layer's result file, `$LOCKCORE_RESULTS_DIR/stress.json`, which the gate reads.

use crate::driver::Outcome;
use serde::Serialize;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Environment variable: the budget (`quick`, `full`; unset: a smoke run).
pub const BUDGET_VAR: &str = "LOCKCORE_STRESS";
/// Environment variable: where `stress.json` goes.
pub const RESULTS_VAR: &str = "LOCKCORE_RESULTS_DIR";

/// What the twin run (a mutant that double-grants) came to.
#[derive(Clone, Debug, Serialize)]
pub struct Twin {
    pub mutant: String,
    pub caught: bool,
    pub property: Option<String>,
    /// From the twin's start to its first violation.
    pub seconds: Option<f64>,
    pub seed: u64,
}

/// The result document (schema 1).
pub fn document(budget: &str, main: &Outcome, twin: Option<&Twin>) -> Value {
    let violations: Vec<Value> = main
        .violations
        .iter()
        .map(|v| json!({"property": v.property, "message": v.message, "window": v.window}))
        .collect();
    json!({
        "schema": 1,
        "layer": "stress",
        "budget": budget,
        "seed": main.seed,
        "seconds": (main.seconds * 10.0).round() / 10.0,
        "workers": main.workers,
        "operations": main.operations,
        "holds": main.holds,
        "nemesis_events": main.nemesis_events,
        "violations": violations,
        "notes": main.notes,
        "errors": main.errors,
        "twin": twin,
    })
}

/// Writes `stress.json` into `dir` (created if missing).
pub fn write(dir: &Path, doc: &Value) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("stress.json");
    let text = serde_json::to_string_pretty(doc).map_err(std::io::Error::other)?;
    std::fs::write(&path, text + "\n")?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_has_the_gate_fields() {
        let main = Outcome {
            seed: 9,
            seconds: 20.04,
            workers: 6,
            operations: 1234,
            ..Outcome::default()
        };
        let twin = Twin {
            mutant: "nonce-any-pid".into(),
            caught: true,
            property: Some("P1".into()),
            seconds: Some(0.4),
            seed: 9,
        };
        let d = document("quick", &main, Some(&twin));
        assert_eq!(d["schema"], 1);
        assert_eq!(d["layer"], "stress");
        assert_eq!(
            (d["seed"].as_u64(), d["operations"].as_u64()),
            (Some(9), Some(1234))
        );
        assert_eq!(d["seconds"].as_f64(), Some(20.0));
        assert!(d["violations"].as_array().unwrap().is_empty());
        assert_eq!(d["twin"]["property"], "P1");
        assert_eq!(document("smoke", &main, None)["twin"], Value::Null);
    }
}
