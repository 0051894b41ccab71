//! The faults layer's result file, `<gate dir>/results/faults.json`, written by
//! `lockcore/tests/faults.rs`: the gate reads its case count and skip reason from it (not from the
//! test's printed text).

use serde::{Deserialize, Serialize};

/// Environment variable: the faults layer's budget (`quick` or `full`).
pub const BUDGET_VAR: &str = "LOCKCORE_FAULTS";
/// Environment variable: where the faults layer writes `faults.json`.
pub const RESULTS_VAR: &str = "LOCKCORE_RESULTS_DIR";
/// The file name inside the results directory.
pub const FILE: &str = "faults.json";

/// What the report keeps of `faults.json`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultsSummary {
    /// Injected runs.
    pub cases: u64,
    /// Why the layer did not run (strace missing, ptrace not permitted), if it did not.
    pub skipped: Option<String>,
    /// Invariant failures found.
    pub failures: u64,
}

/// The part of the file's schema the gate reads.
#[derive(Deserialize)]
struct File {
    schema: u64,
    layer: String,
    skipped: Option<String>,
    cases: u64,
    failures: Vec<serde_json::Value>,
}

/// Parses `faults.json`; a wrong schema or layer is an error, not a guess.
pub fn parse(text: &str) -> Result<FaultsSummary, String> {
    let f: File = serde_json::from_str(text).map_err(|e| format!("faults.json: {e}"))?;
    if f.schema != 1 || f.layer != "faults" {
        return Err(format!(
            "faults.json: expected schema 1 of layer \"faults\", found schema {} of {:?}",
            f.schema, f.layer
        ));
    }
    Ok(FaultsSummary {
        cases: f.cases,
        skipped: f.skipped,
        failures: f.failures.len() as u64,
    })
}

/// The namespaces layer's file, `<gate dir>/results/namespaces.json`, written by
/// `lockcore/tests/namespaces.rs`: one record per test (`outcome`: passed, failed, skipped) and the
/// reason the layer was skipped (no root, no `unshare`), read into the same summary.
pub const NAMESPACES_FILE: &str = "namespaces.json";

#[derive(Deserialize)]
struct NamespacesFile {
    schema: u64,
    layer: String,
    skipped: Option<String>,
    tests: Vec<serde_json::Value>,
}

/// Parses `namespaces.json`: tests run as cases, failed tests as failures.
pub fn parse_namespaces(text: &str) -> Result<FaultsSummary, String> {
    let f: NamespacesFile =
        serde_json::from_str(text).map_err(|e| format!("namespaces.json: {e}"))?;
    if f.schema != 1 || f.layer != "namespaces" {
        return Err(format!(
            "namespaces.json: expected schema 1 of layer \"namespaces\", found schema {} of {:?}",
            f.schema, f.layer
        ));
    }
    let outcome = |t: &serde_json::Value| t["outcome"].as_str().unwrap_or("").to_string();
    Ok(FaultsSummary {
        cases: f.tests.iter().filter(|t| outcome(t) != "skipped").count() as u64,
        skipped: f.skipped,
        failures: f.tests.iter().filter(|t| outcome(t) == "failed").count() as u64,
    })
}

/// One line for the report: `265 cases, 34 invariant failures` or `skipped: <reason>`.
pub fn describe(s: &FaultsSummary) -> String {
    match &s.skipped {
        Some(reason) => format!("skipped: {reason}"),
        None => format!("{} cases, {} invariant failure(s)", s.cases, s.failures),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_namespaces_file_and_its_skip() {
        let ran = r#"{"schema":1,"layer":"namespaces","skipped":null,"tests":[
            {"name":"a","outcome":"passed"},{"name":"b","outcome":"failed"}]}"#;
        let s = parse_namespaces(ran).unwrap();
        assert_eq!((s.cases, s.failures), (2, 1));
        let skipped = r#"{"schema":1,"layer":"namespaces","skipped":"not root","tests":[
            {"name":"a","outcome":"skipped"}]}"#;
        assert_eq!(
            describe(&parse_namespaces(skipped).unwrap()),
            "skipped: not root"
        );
        assert!(
            parse_namespaces(r#"{"schema":1,"layer":"faults","skipped":null,"tests":[]}"#).is_err()
        );
    }

    #[test]
    fn reads_cases_skip_and_failures() {
        let ran = r#"{"schema":1,"layer":"faults","skipped":null,"cases":265,
            "failures":[{"scenario":"inspect","syscall":"close"}],"budget":"quick"}"#;
        let s = parse(ran).unwrap();
        assert_eq!((s.cases, s.skipped.as_deref(), s.failures), (265, None, 1));
        assert_eq!(describe(&s), "265 cases, 1 invariant failure(s)");
        let skipped =
            r#"{"schema":1,"layer":"faults","skipped":"strace not found","cases":0,"failures":[]}"#;
        assert_eq!(
            describe(&parse(skipped).unwrap()),
            "skipped: strace not found"
        );
        assert!(
            parse(r#"{"schema":2,"layer":"faults","skipped":null,"cases":0,"failures":[]}"#)
                .unwrap_err()
                .contains("schema 2")
        );
        assert!(parse("not json").is_err());
    }
}
