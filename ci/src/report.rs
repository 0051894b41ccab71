//! `target/gate/report.json` and `target/gate/report.md`.

use crate::cargo_test::BinaryResult;
use crate::faults::{describe, FaultsSummary};
use crate::mutants_out::Counts;
use crate::protocol::MutantLine;
use crate::stress::StressSummary;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The whole report.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The merge verdict: every step passed, every catalogue mutant caught, coverage complete.
    pub ok: bool,
    /// `quick` or `full`.
    pub mode: String,
    /// True when `--only`/`--skip` left steps out: not a merge verdict.
    pub partial: bool,
    /// `git rev-parse HEAD` (+ `-dirty`), when available.
    pub commit: Option<String>,
    /// Wall time of the whole gate.
    pub seconds: f64,
    pub budget: Budget,
    /// One entry per gate step (fmt, clippy…, test layers, mutant layers, cargo-mutants runs).
    pub layers: Vec<LayerReport>,
    pub properties: Vec<PropertyReport>,
    /// One entry per catalogue mutant, in DESIGN §6 order.
    pub mutants: Vec<MutantReport>,
    /// Every `LOCKCORE-MUTANT` line the layers printed.
    pub mutant_results: Vec<MutantLine>,
    /// Sum of the `LOCKCORE-COVERAGE` lines: transition or reason → count.
    pub coverage: BTreeMap<String, u64>,
    pub cargo_mutants: Option<CargoMutantsReport>,
    /// The operation × operation matrix: every pair with the loom/shuttle models that ran it.
    #[serde(default)]
    pub matrix: Vec<crate::matrix::PairCoverage>,
    /// Why the gate failed, in order; empty when `ok`.
    pub failures: Vec<Failure>,
}

/// The budgets the run used.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    /// `PROPTEST_CASES` for the proptest layer.
    pub proptest_cases: u64,
    /// `LOCKCORE_SHUTTLE_ITERATIONS` for the shuttle layer; `None`: the tests' own default.
    pub shuttle_iterations: Option<u64>,
    /// Per-step timeout in seconds.
    pub step_timeout: u64,
}

/// One gate step.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LayerReport {
    pub name: String,
    pub ok: bool,
    pub seconds: f64,
    /// Tests run (passed + failed); `None` for steps that are not test runs (fmt, clippy).
    pub tests: Option<u64>,
    pub passed: u64,
    pub failed: u64,
    pub ignored: u64,
    /// The exact command, with the environment it set.
    pub command: String,
    /// Its log, relative to the workspace root.
    pub log: String,
    /// Why it failed, in one line.
    pub error: Option<String>,
    /// Per test binary.
    pub binaries: Vec<BinaryResult>,
    pub failed_tests: Vec<String>,
    /// The faults step's `faults.json`: case count, skip reason, failures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub faults: Option<FaultsSummary>,
    /// The stress step's `stress.json`: seed, operations, violations, the twin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stress: Option<StressSummary>,
}

/// Which layers check a property.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PropertyReport {
    /// `P1` … `P16`.
    pub id: String,
    pub checked_by: Vec<String>,
    /// Catalogue mutants caught with this property.
    pub caught_mutants: Vec<String>,
}

/// One catalogue mutant across all layers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MutantReport {
    pub id: String,
    pub description: String,
    /// The property DESIGN §6 expects to be violated.
    pub expected_property: String,
    /// Caught by at least one layer.
    pub caught: bool,
    /// The layer whose counterexample is shown (the shortest trace among the catching layers).
    pub layer: Option<String>,
    pub property: Option<String>,
    pub seconds: Option<f64>,
    pub iterations: Option<u64>,
    pub test: Option<String>,
    pub trace: Option<String>,
    /// The command that replays that counterexample.
    pub reproduce: Option<String>,
    /// Layer → `caught` / `missed`, for every layer that reported on this mutant.
    pub by_layer: BTreeMap<String, String>,
}

/// The cargo-mutants part (`--mutants`), the union over its runs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CargoMutantsReport {
    #[serde(flatten)]
    pub counts: Counts,
    pub runs: Vec<CargoMutantsRun>,
    pub missed_mutants: Vec<String>,
    pub timeout_mutants: Vec<String>,
}

/// One cargo-mutants invocation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CargoMutantsRun {
    pub name: String,
    pub features: Option<String>,
    pub outcomes: String,
    pub baseline_ok: bool,
    #[serde(flatten)]
    pub counts: Counts,
}

/// One reason the gate failed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub what: String,
    pub property: Option<String>,
    pub trace: Option<String>,
    pub reproduce: Option<String>,
    pub log: Option<String>,
}

/// At most `n` characters, with an ellipsis (the full command is in report.json and the log).
fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

/// Markdown-safe table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// Renders `report.md`: summary, a table per layer, properties, the mutant matrix, coverage,
/// cargo-mutants, failures and every counterexample trace.
pub fn render_markdown(r: &Report, matrix_layers: &[&str]) -> String {
    let mut md = String::new();
    let verdict = if r.ok { "PASS" } else { "FAIL" };
    let _ = writeln!(md, "# lockcore gate: {verdict}\n");
    let _ = writeln!(
        md,
        "mode `{}`{}, {:.1} s, commit `{}`; budget: PROPTEST_CASES={}, LOCKCORE_SHUTTLE_ITERATIONS={}, step timeout {} s.\n",
        r.mode,
        if r.partial { " (PARTIAL: not a merge verdict)" } else { "" },
        r.seconds,
        r.commit.as_deref().unwrap_or("?"),
        r.budget.proptest_cases,
        r.budget
            .shuttle_iterations
            .map_or("(tests' default)".to_string(), |n| n.to_string()),
        r.budget.step_timeout,
    );

    if !r.failures.is_empty() {
        let _ = writeln!(md, "## Failures\n");
        for f in &r.failures {
            let _ = writeln!(md, "- **{}**", f.what);
            if let Some(p) = &f.property {
                let _ = writeln!(md, "  - property: {p}");
            }
            if let Some(c) = &f.reproduce {
                let _ = writeln!(md, "  - reproduce: `{c}`");
            }
            if let Some(l) = &f.log {
                let _ = writeln!(md, "  - log: `{l}`");
            }
            if let Some(t) = &f.trace {
                let _ = writeln!(md, "\n  ```text");
                for l in t.trim_end().lines() {
                    let _ = writeln!(md, "  {l}");
                }
                let _ = writeln!(md, "  ```\n");
            }
        }
        md.push('\n');
    }

    let _ = writeln!(md, "## Steps\n");
    let _ = writeln!(md, "| step | result | tests | seconds | command |");
    let _ = writeln!(md, "| --- | --- | ---: | ---: | --- |");
    for l in &r.layers {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.1} | `{}` |",
            l.name,
            if l.ok {
                "ok".to_string()
            } else {
                format!("**FAILED**: {}", cell(l.error.as_deref().unwrap_or("")))
            },
            l.tests.map_or("-".to_string(), |t| t.to_string()),
            l.seconds,
            cell(&short(&l.command, 240))
        );
    }
    for l in &r.layers {
        if let Some(f) = &l.faults {
            let _ = writeln!(md, "\n{}: {}", l.name, describe(f));
        }
        if let Some(s) = &l.stress {
            let _ = writeln!(md, "\n{}: {}", l.name, crate::stress::describe(s));
        }
    }
    md.push('\n');

    for l in r.layers.iter().filter(|l| !l.binaries.is_empty()) {
        let _ = writeln!(md, "### {}\n", l.name);
        let _ = writeln!(
            md,
            "| test binary | result | passed | failed | ignored | seconds |"
        );
        let _ = writeln!(md, "| --- | --- | ---: | ---: | ---: | ---: |");
        // Binaries where the filter selected nothing are noise (e.g. the mutant steps).
        let shown: Vec<&BinaryResult> = l
            .binaries
            .iter()
            .filter(|b| b.summary.ran() + b.summary.ignored > 0 || !b.summary.ok)
            .collect();
        for b in shown {
            let s = &b.summary;
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} |",
                cell(&b.name),
                if s.ok { "ok" } else { "**FAILED**" },
                s.passed,
                s.failed,
                s.ignored,
                s.seconds.map_or("-".to_string(), |x| format!("{x:.2}"))
            );
        }
        for t in &l.failed_tests {
            let _ = writeln!(md, "\nfailed: `{t}`");
        }
        md.push('\n');
    }

    let _ = writeln!(md, "## Properties\n");
    let _ = writeln!(
        md,
        "| property | checked by | catalogue mutants caught with it |"
    );
    let _ = writeln!(md, "| --- | --- | --- |");
    for p in &r.properties {
        let _ = writeln!(
            md,
            "| {} | {} | {} |",
            p.id,
            if p.checked_by.is_empty() {
                "**none**".to_string()
            } else {
                p.checked_by.join(", ")
            },
            p.caught_mutants.join(", ")
        );
    }
    md.push('\n');

    let _ = writeln!(md, "## Mutant matrix\n");
    let _ = write!(md, "| mutant | expected |");
    for l in matrix_layers {
        let _ = write!(md, " {l} |");
    }
    let _ = writeln!(md, " caught |");
    let _ = write!(md, "| --- | --- |");
    for _ in matrix_layers {
        let _ = write!(md, " --- |");
    }
    let _ = writeln!(md, " --- |");
    for m in &r.mutants {
        let _ = write!(md, "| {} | {} |", m.id, m.expected_property);
        for l in matrix_layers {
            let c = mutant_cell(r, &m.id, l);
            let _ = write!(md, " {c} |");
        }
        let _ = writeln!(md, " {} |", if m.caught { "yes" } else { "**NO**" });
    }
    let _ = writeln!(
        md,
        "\nA cell reads `caught Pn, seconds, iterations` (time and executions/cases to the first counterexample), `missed` (the layer ran the twin and found nothing) or `-` (no twin in that layer).\n"
    );

    if !r.matrix.is_empty() {
        let _ = writeln!(md, "## Operation matrix\n");
        let _ = writeln!(
            md,
            "Each pair of public operations run concurrently, and the layers whose models ran it (details in report.json).\n"
        );
        md.push_str(&crate::matrix::markdown(&r.matrix));
        md.push('\n');
    }

    let _ = writeln!(md, "## Coverage\n");
    if r.coverage.is_empty() {
        let _ = writeln!(md, "(no LOCKCORE-COVERAGE line)\n");
    } else {
        let _ = writeln!(md, "| transition or reason | count |");
        let _ = writeln!(md, "| --- | ---: |");
        for (k, v) in &r.coverage {
            let flag = if *v == 0 { " **(never)**" } else { "" };
            let _ = writeln!(md, "| {} | {v}{flag} |", cell(k));
        }
        md.push('\n');
    }

    if let Some(cm) = &r.cargo_mutants {
        let _ = writeln!(md, "## cargo-mutants (lockcore)\n");
        let _ = writeln!(
            md,
            "union over the runs: caught {}, missed {}, unviable {}, timeout {}\n",
            cm.counts.caught, cm.counts.missed, cm.counts.unviable, cm.counts.timeout
        );
        let _ = writeln!(
            md,
            "| run | features | baseline | caught | missed | unviable | timeout |"
        );
        let _ = writeln!(md, "| --- | --- | --- | ---: | ---: | ---: | ---: |");
        for run in &cm.runs {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} |",
                run.name,
                run.features.as_deref().unwrap_or("-"),
                if run.baseline_ok { "ok" } else { "**FAILED**" },
                run.counts.caught,
                run.counts.missed,
                run.counts.unviable,
                run.counts.timeout
            );
        }
        if !cm.missed_mutants.is_empty() {
            let _ = writeln!(md, "\nmissed by every run:\n");
            for m in &cm.missed_mutants {
                let _ = writeln!(md, "- `{m}`");
            }
        }
        md.push('\n');
    }

    let _ = writeln!(md, "## Counterexamples\n");
    // Catalogue order, then loom, shuttle, proptest.
    let order = |m: &MutantLine| {
        (
            r.mutants
                .iter()
                .position(|x| x.id == m.id)
                .unwrap_or(usize::MAX),
            crate::gate::MUTANT_LAYERS
                .iter()
                .position(|l| *l == m.layer)
                .unwrap_or(usize::MAX),
        )
    };
    let mut caught: Vec<&MutantLine> = r.mutant_results.iter().filter(|m| m.caught).collect();
    caught.sort_by_key(|m| order(m));
    if caught.is_empty() {
        let _ = writeln!(md, "(none)\n");
    }
    for m in caught {
        let _ = writeln!(
            md,
            "### {} — {} — {} (`{}`)\n",
            m.id,
            m.layer,
            m.property.as_deref().unwrap_or("?"),
            m.test
        );
        let _ = writeln!(
            md,
            "first counterexample after {} iterations, {:.3} s. Replay: `{}`\n",
            m.iterations,
            m.seconds,
            crate::gate::mutant_command(&m.layer, &m.test, &m.id)
        );
        let _ = writeln!(md, "```text\n{}\n```\n", m.trace.trim_end());
    }
    md
}

/// One matrix cell: this mutant in this layer.
fn mutant_cell(r: &Report, id: &str, layer: &str) -> String {
    let results: Vec<&MutantLine> = r
        .mutant_results
        .iter()
        .filter(|m| m.id == id && m.layer == layer)
        .collect();
    if results.is_empty() {
        return "-".to_string();
    }
    let best = results
        .iter()
        .filter(|m| m.caught)
        .min_by(|a, b| a.seconds.total_cmp(&b.seconds));
    match best {
        Some(m) => format!(
            "caught {}, {:.2} s, {} it",
            m.property.as_deref().unwrap_or("?"),
            m.seconds,
            m.iterations
        ),
        None => "**missed**".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn sample() -> Report {
        Report {
            ok: false,
            mode: "quick".into(),
            seconds: 12.5,
            layers: vec![LayerReport {
                name: "loom".into(),
                ok: true,
                seconds: 3.0,
                tests: Some(4),
                passed: 4,
                command: "cargo test --release --features loom -p loom-tests".into(),
                log: "target/gate/logs/loom.log".into(),
                ..LayerReport::default()
            }],
            properties: vec![PropertyReport {
                id: "P1".into(),
                checked_by: vec!["loom".into()],
                caught_mutants: vec!["naive-reclaim".into()],
            }],
            mutants: vec![MutantReport {
                id: "naive-reclaim".into(),
                expected_property: "P1".into(),
                caught: true,
                layer: Some("loom".into()),
                property: Some("P1".into()),
                seconds: Some(0.1),
                trace: Some("1. a: create".into()),
                ..MutantReport::default()
            }],
            mutant_results: vec![MutantLine {
                id: "naive-reclaim".into(),
                layer: "loom".into(),
                test: "mutant_naive_reclaim".into(),
                caught: true,
                property: Some("P1".into()),
                seconds: 0.1,
                iterations: 9,
                trace: "1. a: create".into(),
            }],
            coverage: [("acquire".to_string(), 3u64), ("dead-pid".to_string(), 0)]
                .into_iter()
                .collect(),
            ..Report::default()
        }
    }

    #[test]
    fn json_has_the_documented_shape() {
        let v: Value = serde_json::to_value(sample()).unwrap();
        assert!(v["ok"].is_boolean());
        assert!(v["seconds"].is_number());
        let layer = &v["layers"][0];
        for k in ["name", "ok", "seconds", "tests"] {
            assert!(layer.get(k).is_some(), "layer key {k}");
        }
        assert!(layer["tests"].is_u64());
        let p = &v["properties"][0];
        assert_eq!(p["id"], "P1");
        assert!(p["checked_by"].is_array());
        let m = &v["mutants"][0];
        for k in ["id", "caught", "layer", "property", "seconds", "trace"] {
            assert!(m.get(k).is_some(), "mutant key {k}");
        }
        assert!(v["coverage"].is_object());
        assert_eq!(v["coverage"]["acquire"], 3);
        assert!(v["cargo_mutants"].is_null());

        let mut with_cm = sample();
        with_cm.cargo_mutants = Some(CargoMutantsReport {
            counts: Counts {
                caught: 5,
                missed: 1,
                unviable: 2,
                timeout: 0,
            },
            ..CargoMutantsReport::default()
        });
        let v: Value = serde_json::to_value(&with_cm).unwrap();
        for k in ["caught", "missed", "unviable", "timeout"] {
            assert!(v["cargo_mutants"][k].is_u64(), "cargo_mutants key {k}");
        }
        // And it reads back.
        let back: Report = serde_json::from_value(v).unwrap();
        assert_eq!(back, with_cm);
    }

    #[test]
    fn markdown_has_tables_matrix_and_traces() {
        let md = render_markdown(&sample(), &["loom", "shuttle", "proptest"]);
        assert!(md.starts_with("# lockcore gate: FAIL"));
        assert!(md.contains("| mutant | expected | loom | shuttle | proptest | caught |"));
        assert!(md.contains("| naive-reclaim | P1 | caught P1, 0.10 s, 9 it | - | - | yes |"));
        assert!(md.contains("```text\n1. a: create\n```"));
        assert!(md.contains("dead-pid | 0 **(never)**"));
        assert!(md.contains("mutant_naive_reclaim -- --nocapture"));
    }
}
