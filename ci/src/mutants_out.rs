//! cargo-mutants' `mutants.out/outcomes.json`: per-mutant outcomes of one run, and the union of
//! several runs (default features, `--features loom`, `--features shuttle`).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

/// cargo-mutants' summary word for one scenario.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Outcome {
    Success,
    CaughtMutant,
    MissedMutant,
    Unviable,
    Failure,
    Timeout,
    /// A word this parser does not know (a newer cargo-mutants).
    Other(String),
}

impl Outcome {
    fn from_word(word: &str) -> Outcome {
        match word {
            "Success" => Outcome::Success,
            "CaughtMutant" => Outcome::CaughtMutant,
            "MissedMutant" => Outcome::MissedMutant,
            "Unviable" => Outcome::Unviable,
            "Failure" => Outcome::Failure,
            "Timeout" => Outcome::Timeout,
            other => Outcome::Other(other.to_string()),
        }
    }
}

/// One run's outcomes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcomes {
    /// The unmutated baseline's outcome; `None` if the run skipped it.
    pub baseline: Option<Outcome>,
    /// Mutant name (`src/manager.rs:120:9: replace … with …`) → outcome.
    pub mutants: BTreeMap<String, Outcome>,
}

/// Counts in the report's `cargo_mutants` object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub caught: u64,
    pub missed: u64,
    pub unviable: u64,
    pub timeout: u64,
}

/// Why an outcomes file could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutcomesError {
    Json(String),
    /// The top level is not an object with an `outcomes` array.
    NoOutcomes,
    /// Entry `n` has no usable `scenario` or `summary`.
    BadEntry(usize, &'static str),
}

impl fmt::Display for OutcomesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutcomesError::Json(e) => write!(f, "outcomes.json is not JSON: {e}"),
            OutcomesError::NoOutcomes => write!(f, "outcomes.json has no `outcomes` array"),
            OutcomesError::BadEntry(i, what) => write!(f, "outcomes.json entry {i}: {what}"),
        }
    }
}

impl std::error::Error for OutcomesError {}

/// A mutant's name: cargo-mutants' own `name` when present, else `file:line:col: replacement`.
fn mutant_name(m: &Value) -> Option<String> {
    if let Some(name) = m.get("name").and_then(Value::as_str) {
        return Some(name.to_string());
    }
    let file = m.get("file").and_then(Value::as_str)?;
    let span = m.get("span").and_then(|s| s.get("start"));
    let line = span.and_then(|s| s.get("line")).and_then(Value::as_u64);
    let col = span.and_then(|s| s.get("column")).and_then(Value::as_u64);
    let func = m
        .get("function")
        .and_then(|f| f.get("function_name"))
        .and_then(Value::as_str)
        .unwrap_or("?");
    let replacement = m.get("replacement").and_then(Value::as_str).unwrap_or("?");
    Some(format!(
        "{file}:{}:{}: {func} with {replacement}",
        line.unwrap_or(0),
        col.unwrap_or(0)
    ))
}

/// Parses one `outcomes.json`.
pub fn parse_outcomes(json: &str) -> Result<Outcomes, OutcomesError> {
    let v: Value = serde_json::from_str(json).map_err(|e| OutcomesError::Json(e.to_string()))?;
    let list = v
        .get("outcomes")
        .and_then(Value::as_array)
        .ok_or(OutcomesError::NoOutcomes)?;
    let mut out = Outcomes::default();
    for (i, entry) in list.iter().enumerate() {
        let summary = entry
            .get("summary")
            .and_then(Value::as_str)
            .ok_or(OutcomesError::BadEntry(i, "no `summary` string"))?;
        let outcome = Outcome::from_word(summary);
        match entry.get("scenario") {
            Some(Value::String(s)) if s == "Baseline" => out.baseline = Some(outcome),
            Some(Value::Object(o)) => {
                let m = o.get("Mutant").ok_or(OutcomesError::BadEntry(
                    i,
                    "scenario is neither Baseline nor Mutant",
                ))?;
                let name =
                    mutant_name(m).ok_or(OutcomesError::BadEntry(i, "mutant has no name"))?;
                out.mutants.insert(name, outcome);
            }
            _ => return Err(OutcomesError::BadEntry(i, "no usable `scenario`")),
        }
    }
    Ok(out)
}

/// The union of several runs over the same source: a mutant is caught if any run caught it;
/// otherwise a timeout if any run timed out; otherwise missed if any run built and ran it;
/// otherwise unviable.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Merged {
    pub counts: Counts,
    pub missed: Vec<String>,
    pub timeouts: Vec<String>,
}

///
/// The mutants counted are those of the first run that tested any: the follow-up runs only
/// retest what it did not catch, and cargo-mutants 27 lets some mutants (struct-field deletions)
/// through a `--re` filter, which must not add mutants of other shards.
pub fn merge(runs: &[Outcomes]) -> Merged {
    let universe = runs.iter().find(|r| !r.mutants.is_empty());
    let mut best: BTreeMap<&str, u8> = BTreeMap::new();
    for run in runs {
        for (name, o) in &run.mutants {
            if universe.is_some_and(|u| !u.mutants.contains_key(name)) {
                continue;
            }
            // Rank: caught 4 > timeout 3 > missed 2 > unviable/other 1.
            let rank = match o {
                Outcome::CaughtMutant => 4,
                Outcome::Timeout => 3,
                Outcome::MissedMutant | Outcome::Success => 2,
                Outcome::Unviable | Outcome::Failure | Outcome::Other(_) => 1,
            };
            let e = best.entry(name.as_str()).or_insert(0);
            *e = (*e).max(rank);
        }
    }
    let mut m = Merged::default();
    for (name, rank) in best {
        match rank {
            4 => m.counts.caught += 1,
            3 => {
                m.counts.timeout += 1;
                m.timeouts.push(name.to_string());
            }
            2 => {
                m.counts.missed += 1;
                m.missed.push(name.to_string());
            }
            _ => m.counts.unviable += 1,
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{
      "outcomes": [
        {"scenario": "Baseline", "log_path": "log/baseline.log", "summary": "Success", "phase_results": []},
        {"scenario": {"Mutant": {"name": "lockcore/src/manager.rs:10:5: replace release_all with ()", "package": "lockcore", "file": "lockcore/src/manager.rs", "function": {"function_name": "release_all", "return_type": "", "span": {"start": {"line": 9, "column": 1}, "end": {"line": 20, "column": 2}}}, "span": {"start": {"line": 10, "column": 5}, "end": {"line": 19, "column": 6}}, "replacement": "()", "genre": "FnValue"}}, "log_path": "a.log", "summary": "CaughtMutant", "phase_results": []},
        {"scenario": {"Mutant": {"name": "lockcore/src/payload.rs:3:1: replace == with !=", "file": "lockcore/src/payload.rs"}}, "summary": "MissedMutant"},
        {"scenario": {"Mutant": {"file": "lockcore/src/sweep.rs", "span": {"start": {"line": 7, "column": 9}}, "replacement": "0", "function": {"function_name": "count"}}}, "summary": "Unviable"},
        {"scenario": {"Mutant": {"name": "lockcore/src/os.rs:1:1: loop"}}, "summary": "Timeout"}
      ],
      "total_mutants": 4, "missed": 1, "caught": 1, "timeout": 1, "unviable": 1, "success": 0, "failure": 0
    }"#;

    #[test]
    fn parses_outcomes() {
        let o = parse_outcomes(SAMPLE).unwrap();
        assert_eq!(o.baseline, Some(Outcome::Success));
        assert_eq!(o.mutants.len(), 4);
        assert_eq!(
            o.mutants.get("lockcore/src/sweep.rs:7:9: count with 0"),
            Some(&Outcome::Unviable)
        );
        let m = merge(&[o]);
        assert_eq!(
            m.counts,
            Counts {
                caught: 1,
                missed: 1,
                unviable: 1,
                timeout: 1
            }
        );
        assert_eq!(
            m.missed,
            vec!["lockcore/src/payload.rs:3:1: replace == with !="]
        );
    }

    #[test]
    fn union_prefers_caught() {
        let mut a = Outcomes::default();
        a.mutants.insert("m1".into(), Outcome::MissedMutant);
        a.mutants.insert("m2".into(), Outcome::MissedMutant);
        a.mutants.insert("m3".into(), Outcome::Unviable);
        let mut b = Outcomes::default();
        b.mutants.insert("m1".into(), Outcome::CaughtMutant);
        b.mutants.insert("m2".into(), Outcome::Unviable);
        b.mutants.insert("m3".into(), Outcome::Unviable);
        let m = merge(&[a, b]);
        assert_eq!(
            m.counts,
            Counts {
                caught: 1,
                missed: 1,
                unviable: 1,
                timeout: 0
            }
        );
        assert_eq!(m.missed, vec!["m2"]);
    }

    #[test]
    fn follow_ups_cannot_add_mutants() {
        let mut first = Outcomes::default();
        first.mutants.insert("m1".into(), Outcome::MissedMutant);
        let mut loom = Outcomes::default();
        loom.mutants.insert("m1".into(), Outcome::CaughtMutant);
        loom.mutants.insert("stray".into(), Outcome::MissedMutant);
        let m = merge(&[Outcomes::default(), first, loom]);
        assert_eq!(
            m.counts,
            Counts {
                caught: 1,
                ..Counts::default()
            }
        );
        assert!(m.missed.is_empty());
    }

    #[test]
    fn bad_files_are_typed_errors() {
        assert!(matches!(parse_outcomes("{"), Err(OutcomesError::Json(_))));
        assert_eq!(parse_outcomes("{}"), Err(OutcomesError::NoOutcomes));
        assert_eq!(
            parse_outcomes(r#"{"outcomes": [{"scenario": "Baseline"}]}"#),
            Err(OutcomesError::BadEntry(0, "no `summary` string"))
        );
        assert!(matches!(
            parse_outcomes(r#"{"outcomes": [{"scenario": {"Other": 1}, "summary": "Success"}]}"#),
            Err(OutcomesError::BadEntry(0, _))
        ));
        assert!(matches!(
            parse_outcomes(r#"{"outcomes": [{"scenario": {"Mutant": {}}, "summary": "Success"}]}"#),
            Err(OutcomesError::BadEntry(0, "mutant has no name"))
        ));
        let o = parse_outcomes(
            r#"{"outcomes": [{"scenario": {"Mutant": {"name": "x"}}, "summary": "Exploded"}]}"#,
        )
        .unwrap();
        assert_eq!(o.mutants.get("x"), Some(&Outcome::Other("Exploded".into())));
        assert_eq!(o.baseline, None);
    }
}
