//! The result-line protocol of `models::report`: `LOCKCORE-MUTANT {json}` from each mutant twin
//! and `LOCKCORE-COVERAGE {json}` from the proptest coverage test.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Prefix of a mutant result line (same as `models::report::MUTANT_PREFIX`).
pub const MUTANT_PREFIX: &str = "LOCKCORE-MUTANT ";
/// Prefix of a coverage line (same as `models::report::COVERAGE_PREFIX`).
pub const COVERAGE_PREFIX: &str = "LOCKCORE-COVERAGE ";

/// One mutant twin's result, as printed by `models::report::MutantResult::emit`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MutantLine {
    pub id: String,
    pub layer: String,
    pub test: String,
    pub caught: bool,
    #[serde(default)]
    pub property: Option<String>,
    pub seconds: f64,
    pub iterations: u64,
    #[serde(default)]
    pub trace: String,
}

/// A result line that could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProtocolError {
    /// The JSON after the prefix is not valid for this line kind.
    BadJson { kind: &'static str, message: String },
    /// The JSON parsed but a field is out of range (empty id, negative seconds, …).
    BadField { kind: &'static str, message: String },
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::BadJson { kind, message } => {
                write!(f, "unreadable {kind} line: {message}")
            }
            ProtocolError::BadField { kind, message } => write!(f, "bad {kind} line: {message}"),
        }
    }
}

impl std::error::Error for ProtocolError {}

/// Deserialises the first JSON value of `text`, ignoring whatever follows it on the line (under
/// `--nocapture` libtest may append its own ` ok` to the same line).
fn first_json<T: serde::de::DeserializeOwned>(
    text: &str,
    kind: &'static str,
) -> Result<T, ProtocolError> {
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<T>();
    match stream.next() {
        Some(Ok(v)) => Ok(v),
        Some(Err(e)) => Err(ProtocolError::BadJson {
            kind,
            message: e.to_string(),
        }),
        None => Err(ProtocolError::BadJson {
            kind,
            message: "no JSON after the prefix".to_string(),
        }),
    }
}

/// Parses the JSON part of a `LOCKCORE-MUTANT` line.
pub fn parse_mutant_json(json: &str) -> Result<MutantLine, ProtocolError> {
    const KIND: &str = "LOCKCORE-MUTANT";
    let m: MutantLine = first_json(json, KIND)?;
    let bad = |message: String| ProtocolError::BadField {
        kind: KIND,
        message,
    };
    if m.id.trim().is_empty() {
        return Err(bad("empty id".to_string()));
    }
    if m.layer.trim().is_empty() {
        return Err(bad(format!("mutant {}: empty layer", m.id)));
    }
    if !m.seconds.is_finite() || m.seconds < 0.0 {
        return Err(bad(format!("mutant {}: seconds = {}", m.id, m.seconds)));
    }
    Ok(m)
}

/// Parses the JSON part of a `LOCKCORE-COVERAGE` line: name → count.
pub fn parse_coverage_json(json: &str) -> Result<BTreeMap<String, u64>, ProtocolError> {
    const KIND: &str = "LOCKCORE-COVERAGE";
    let map: BTreeMap<String, u64> = first_json(json, KIND)?;
    if map.is_empty() {
        return Err(ProtocolError::BadField {
            kind: KIND,
            message: "empty coverage map".to_string(),
        });
    }
    Ok(map)
}

/// Everything the protocol lines of one log say.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Collected {
    pub mutants: Vec<MutantLine>,
    /// Sum over all coverage lines (several coverage tests add up); `None` if there was none.
    pub coverage: Option<BTreeMap<String, u64>>,
    pub errors: Vec<ProtocolError>,
}

/// Scans a log for result lines. The prefix may appear anywhere in a line (libtest's
/// `test name ... ` can precede it under `--nocapture`).
pub fn collect(text: &str) -> Collected {
    let mut out = Collected::default();
    for line in text.lines() {
        if let Some(i) = line.find(MUTANT_PREFIX) {
            match parse_mutant_json(&line[i + MUTANT_PREFIX.len()..]) {
                Ok(m) => out.mutants.push(m),
                Err(e) => out.errors.push(e),
            }
        } else if let Some(i) = line.find(COVERAGE_PREFIX) {
            match parse_coverage_json(&line[i + COVERAGE_PREFIX.len()..]) {
                Ok(map) => {
                    let total = out.coverage.get_or_insert_with(BTreeMap::new);
                    for (k, v) in map {
                        let e = total.entry(k).or_insert(0);
                        *e = e.saturating_add(v);
                    }
                }
                Err(e) => out.errors.push(e),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = r#"LOCKCORE-MUTANT {"id":"naive-reclaim","layer":"loom","test":"mutant_naive_reclaim","caught":true,"property":"P1","seconds":0.25,"iterations":42,"trace":"1. a: read x.lock\n2. b: unlink x.lock"}"#;

    #[test]
    fn parses_a_mutant_line() {
        let c = collect(LINE);
        assert!(c.errors.is_empty(), "{:?}", c.errors);
        assert_eq!(c.mutants.len(), 1);
        let m = &c.mutants[0];
        assert_eq!(m.id, "naive-reclaim");
        assert_eq!(m.layer, "loom");
        assert!(m.caught);
        assert_eq!(m.property.as_deref(), Some("P1"));
        assert_eq!(m.iterations, 42);
        assert!(m.trace.contains("2. b: unlink"));
    }

    #[test]
    fn prefix_inside_a_line_and_trailing_text() {
        let line = format!("test mutant_naive_reclaim ... {LINE} ok");
        let c = collect(&line);
        assert_eq!(c.mutants.len(), 1);
        assert!(c.errors.is_empty());
    }

    #[test]
    fn missed_mutant_with_null_property() {
        let c = collect(
            r#"LOCKCORE-MUTANT {"id":"empty-window","layer":"shuttle","test":"t","caught":false,"property":null,"seconds":3.0,"iterations":1000,"trace":""}"#,
        );
        assert_eq!(c.mutants.len(), 1);
        assert!(!c.mutants[0].caught);
        assert_eq!(c.mutants[0].property, None);
    }

    #[test]
    fn bad_lines_are_typed_errors() {
        let log = [
            "LOCKCORE-MUTANT {\"error\": \"key must be a string\"}",
            "LOCKCORE-MUTANT not json",
            "LOCKCORE-MUTANT ",
            r#"LOCKCORE-MUTANT {"id":"","layer":"loom","test":"t","caught":true,"seconds":1,"iterations":1}"#,
            r#"LOCKCORE-MUTANT {"id":"x","layer":"loom","test":"t","caught":true,"seconds":-1,"iterations":1}"#,
            r#"LOCKCORE-MUTANT {"id":"x","layer":"loom","test":"t","caught":"yes","seconds":1,"iterations":1}"#,
            "LOCKCORE-COVERAGE {}",
            "LOCKCORE-COVERAGE {\"acquire\": -1}",
            "LOCKCORE-COVERAGE [1,2]",
        ]
        .join("\n");
        let c = collect(&log);
        assert!(c.mutants.is_empty());
        assert_eq!(c.coverage, None);
        assert_eq!(c.errors.len(), 9);
        assert!(matches!(c.errors[0], ProtocolError::BadJson { .. }));
        assert!(matches!(c.errors[3], ProtocolError::BadField { .. }));
        assert!(matches!(c.errors[4], ProtocolError::BadField { .. }));
        assert!(matches!(c.errors[6], ProtocolError::BadField { .. }));
    }

    #[test]
    fn coverage_lines_add_up() {
        let c = collect(
            "LOCKCORE-COVERAGE {\"acquire\":3,\"dead-pid\":0}\nnoise\nLOCKCORE-COVERAGE {\"dead-pid\":2}",
        );
        let cov = c.coverage.unwrap();
        assert_eq!(cov.get("acquire"), Some(&3));
        assert_eq!(cov.get("dead-pid"), Some(&2));
    }

    #[test]
    fn prefixes_match_the_models_crate() {
        assert_eq!(MUTANT_PREFIX, models::report::MUTANT_PREFIX);
        assert_eq!(COVERAGE_PREFIX, models::report::COVERAGE_PREFIX);
    }

    #[test]
    fn round_trips_what_models_emits() {
        let r = models::report::MutantResult {
            id: "rotate-before-cleanup".into(),
            layer: "loom".into(),
            test: "mutant_rotate_before_cleanup".into(),
            caught: true,
            property: Some("P3".into()),
            seconds: 0.5,
            iterations: 7,
            trace: "1. t0: create a.lock\n2. t1: unlink \"a.lock\"".into(),
        };
        let line = format!(
            "{}{}",
            models::report::MUTANT_PREFIX,
            serde_json::to_string(&r).unwrap()
        );
        let m = parse_mutant_json(&line[MUTANT_PREFIX.len()..]).unwrap();
        assert_eq!(m.id, r.id);
        assert_eq!(m.trace, r.trace);
        assert_eq!(m.property, r.property);
    }
}
