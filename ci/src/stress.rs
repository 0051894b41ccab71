//! The stress layer's result file, `<gate dir>/results/stress.json`, written by
//! `stress/tests/stress.rs`: the gate reads the seed, the counts, the violations and the twin's
//! result from it (not from the test's printed text).

use serde::{Deserialize, Serialize};

/// Environment variable: the stress layer's budget (`quick` or `full`).
pub const BUDGET_VAR: &str = "LOCKCORE_STRESS";
/// The file name inside the results directory (`LOCKCORE_RESULTS_DIR`, as for faults).
pub const FILE: &str = "stress.json";

/// What the twin run (a double-granting mutant under the same stress) came to.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TwinSummary {
    pub mutant: String,
    pub caught: bool,
    pub property: Option<String>,
    pub seconds: Option<f64>,
}

/// What the report keeps of `stress.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StressSummary {
    pub seed: u64,
    pub seconds: f64,
    pub workers: u64,
    pub operations: u64,
    /// Violations found in the (unmutated) run.
    pub violations: u64,
    /// Their properties, in order of appearance.
    pub properties: Vec<String>,
    pub twin: Option<TwinSummary>,
}

#[derive(Deserialize)]
struct Violation {
    property: String,
}

/// The part of the file's schema the gate reads.
#[derive(Deserialize)]
struct File {
    schema: u64,
    layer: String,
    seed: u64,
    seconds: f64,
    workers: u64,
    operations: u64,
    violations: Vec<Violation>,
    twin: Option<TwinSummary>,
}

/// Parses `stress.json`; a wrong schema or layer is an error, not a guess.
pub fn parse(text: &str) -> Result<StressSummary, String> {
    let f: File = serde_json::from_str(text).map_err(|e| format!("stress.json: {e}"))?;
    if f.schema != 1 || f.layer != "stress" {
        return Err(format!(
            "stress.json: expected schema 1 of layer \"stress\", found schema {} of {:?}",
            f.schema, f.layer
        ));
    }
    Ok(StressSummary {
        seed: f.seed,
        seconds: f.seconds,
        workers: f.workers,
        operations: f.operations,
        violations: f.violations.len() as u64,
        properties: f.violations.into_iter().map(|v| v.property).collect(),
        twin: f.twin,
    })
}

/// One line for the report: `seed 7, 6 workers, 4987 operations in 22.3 s, 0 violation(s);
/// twin nonce-any-pid caught (P1 after 0.02 s)`.
pub fn describe(s: &StressSummary) -> String {
    let mut line = format!(
        "seed {}, {} workers, {} operations in {:.1} s, {} violation(s)",
        s.seed, s.workers, s.operations, s.seconds, s.violations
    );
    if let Some(p) = s.properties.first() {
        line.push_str(&format!(" (first: {p})"));
    }
    match &s.twin {
        Some(t) if t.caught => line.push_str(&format!(
            "; twin {} caught ({} after {:.2} s)",
            t.mutant,
            t.property.as_deref().unwrap_or("?"),
            t.seconds.unwrap_or(0.0)
        )),
        Some(t) => line.push_str(&format!("; twin {} NOT caught", t.mutant)),
        None => line.push_str("; no twin"),
    }
    line
}

/// Why the layer fails on its own data (the test asserts the same; this keeps the report honest
/// if it did not).
pub fn problems(s: &StressSummary) -> Vec<String> {
    let mut out = Vec::new();
    if s.violations > 0 {
        out.push(format!(
            "{} violation(s) under seed {} (first: {})",
            s.violations,
            s.seed,
            s.properties.first().map_or("?", String::as_str)
        ));
    }
    match &s.twin {
        Some(t) if !t.caught => out.push(format!("the twin {} was not caught", t.mutant)),
        None => out.push("no twin ran (built without the `mutants` feature?)".into()),
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAN: &str = r#"{"schema":1,"layer":"stress","budget":"quick","seed":7,"seconds":22.3,
        "workers":6,"operations":4987,"holds":1504,"violations":[],
        "twin":{"mutant":"nonce-any-pid","caught":true,"property":"P1","seconds":0.017,"seed":7}}"#;

    #[test]
    fn reads_seed_counts_violations_and_twin() {
        let s = parse(RAN).unwrap();
        assert_eq!((s.seed, s.operations, s.violations), (7, 4987, 0));
        assert_eq!(
            describe(&s),
            "seed 7, 6 workers, 4987 operations in 22.3 s, 0 violation(s); twin nonce-any-pid caught (P1 after 0.02 s)"
        );
        assert!(problems(&s).is_empty());
        let bad = RAN.replace(
            r#""violations":[]"#,
            r#""violations":[{"property":"P2","message":"m","window":[]}]"#,
        );
        let bad = bad.replace(r#""caught":true"#, r#""caught":false"#);
        let s = parse(&bad).unwrap();
        assert_eq!(s.properties, ["P2"]);
        assert_eq!(problems(&s).len(), 2, "{:?}", problems(&s));
        assert!(parse(&RAN.replace(r#""schema":1"#, r#""schema":2"#))
            .unwrap_err()
            .contains("schema 2"));
        assert!(parse("not json").is_err());
    }
}
