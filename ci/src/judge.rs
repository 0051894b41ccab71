//! The verdict: every step's exit and JUnit file, and every result file the layers wrote, judged
//! into a [`Report`]. Nothing here reads a test's printed text.

use crate::plan::Kind;
use crate::report::{Budget, Failure, LayerReport, MutantReport, PairCoverage, PropertyReport, Report};
use crate::run::Outcome;
use lockcore_results::{property_ids, read_all, Record, TestResult, Verdict, OPERATIONS};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Everything besides the step outcomes that the verdict needs.
#[derive(Clone, Debug, Default)]
pub struct Context {
    pub mode: String,
    pub partial: bool,
    pub commit: Option<String>,
    pub seconds: f64,
    pub budget: Budget,
    /// Steps a `cargo test` run just before the gate covered (`--cargo-test-passed`).
    pub passed_by_cargo_test: Vec<String>,
    /// `--mutants-only`: the cargo-mutants passes alone, judged on their own.
    pub mutants_only: bool,
}

/// The layers whose twins the mutant matrix shows.
const TWIN_LAYERS: [&str; 3] = ["loom", "shuttle", "proptest"];

/// One line per finished step for the progress output.
pub fn progress_line(o: &Outcome, results: &Path) -> String {
    let layer = layer_report(o, &read_all(results).0);
    let mut line = format!("{} {}", if layer.ok { "ok" } else { "FAILED" }, crate::report::dur(o.seconds));
    if let Some(t) = layer.tests {
        line.push_str(&format!(" {t} tests"));
    }
    for extra in [layer.error, layer.summary].into_iter().flatten() {
        line.push_str(&format!("  {extra}"));
    }
    line
}

/// Judges every step and every result file.
pub fn judge(outcomes: &[Outcome], results: &Path, root: &Path, ctx: &Context) -> Report {
    let (records, errors) = read_all(results);
    let mut r = Report {
        mode: ctx.mode.clone(),
        partial: ctx.partial,
        commit: ctx.commit.clone(),
        seconds: ctx.seconds,
        budget: ctx.budget.clone(),
        ..Report::default()
    };
    for name in &ctx.passed_by_cargo_test {
        let command = "cargo test (at the root, before the gate)".to_string();
        r.layers.push(LayerReport {
            name: name.clone(),
            ok: true,
            command,
            summary: Some("passed in cargo test".into()),
            ..LayerReport::default()
        });
    }
    for o in outcomes {
        let layer = layer_report(o, &records);
        r.failures.extend(step_failures(o, &layer));
        r.layers.push(layer);
    }
    for e in &errors {
        r.failures.push(Failure { what: format!("unreadable result file {e}"), ..Failure::default() });
    }
    r.mutant_results = twins(&records).cloned().collect();
    r.mutants = mutants(&r.mutant_results, outcomes);
    if !ctx.mutants_only {
        judge_mutants(&mut r);
        judge_coverage(&mut r, &records, outcomes);
        judge_matrix(&mut r, &records, outcomes);
        judge_matrix_sweep(&mut r, &records, outcomes);
    }
    if let Some(c) = outcomes.iter().find_map(|o| match &o.step.kind {
        Kind::CargoMutants { out, .. } => Some(root.join(out)),
        _ => None,
    }) {
        judge_cargo_mutants(&mut r, &c, root);
    }
    r.properties = properties(&r, &records, root);
    r.ok = r.failures.is_empty() && !r.partial;
    r
}

/// cargo-mutants' lists; a missed mutant that `ci/mutants/equivalent.txt` does not explain fails
/// the gate (the surviving mutant is the counterexample: its test is missing).
fn judge_cargo_mutants(r: &mut Report, out: &Path, root: &Path) {
    let Some(mut c) = crate::report::CargoMutants::read(out) else {
        r.failures.push(Failure {
            what: format!("cargo-mutants wrote no outcomes under {}", out.display()),
            ..Failure::default()
        });
        return;
    };
    let equivalent = root.join("ci/mutants/equivalent.txt");
    c.explain(&std::fs::read_to_string(&equivalent).unwrap_or_default());
    for m in &c.unexplained {
        r.failures.push(Failure {
            what: format!("cargo-mutants: `{m}` survived every pass and is not in ci/mutants/equivalent.txt"),
            trace: Some(format!(
                "{}/mutants.out/diff/ has its diff; add a test that kills it, or a line saying why it is equivalent",
                out.display()
            )),
            reproduce: Some(format!("cargo mutants -p lockcore --re '^{}$'", crate::run::escape_regex(m))),
            ..Failure::default()
        });
    }
    r.cargo_mutants = Some(c);
}

fn twins(records: &[Record]) -> impl Iterator<Item = &TestResult> {
    records.iter().filter_map(|r| match r {
        Record::Test(t) if t.mutant.is_some() => Some(t),
        _ => None,
    })
}

/// A step's report: its exit, its JUnit counts, and the layer summary from its result file.
fn layer_report(o: &Outcome, records: &[Record]) -> LayerReport {
    let mut l = LayerReport {
        name: o.step.name.to_string(),
        ok: o.ok_exit(),
        seconds: o.seconds,
        command: o.step.command_line(),
        log: o.log.display().to_string(),
        error: (!o.ok_exit()).then(|| o.exit_text()),
        ..LayerReport::default()
    };
    if o.step.kind == Kind::Tests {
        match crate::junit::read(o.junit.as_deref()) {
            Ok(run) => {
                l.passed = run.passed();
                l.failed = run.failed_count();
                l.ignored = run.ignored();
                l.tests = Some(l.passed + l.failed);
                l.failed_tests = run.failed.iter().map(|f| format!("{} {}", f.binary, f.name)).collect();
                l.binaries = run.binaries;
            }
            Err(e) => l.error = Some(l.error.map_or(e.clone(), |x| format!("{x}; {e}"))),
        }
        if l.tests == Some(0) {
            l.ok = false;
            l.error = Some("no tests ran".to_string());
        }
    }
    summarise_layer(&mut l, records);
    l
}

/// The faults, stress and namespaces layers' own findings, which can fail a step whose tests passed.
fn summarise_layer(l: &mut LayerReport, records: &[Record]) {
    for rec in records {
        match (l.name.as_str(), rec) {
            ("faults", Record::Faults(f)) => {
                (l.summary, l.ok, l.faults) = (Some(f.describe()), l.ok && f.passed(), Some(f.clone()));
            }
            ("stress", Record::Stress(s)) => {
                (l.summary, l.ok, l.stress) = (Some(s.describe()), l.ok && s.passed(), Some(s.clone()));
            }
            _ => {}
        }
    }
    if l.name == "namespaces" {
        let tests = records.iter().filter_map(|r| match r {
            Record::Test(t) if t.layer == "namespaces" => Some(t),
            _ => None,
        });
        let (skipped, ran): (Vec<&TestResult>, Vec<&TestResult>) = tests.partition(|t| t.verdict == Verdict::Skipped);
        l.summary = Some(match skipped.first().and_then(|t| t.reason.clone()) {
            Some(reason) if ran.is_empty() => format!("skipped: {reason}"),
            _ => format!("{} tests in sibling pid namespaces", ran.len()),
        });
    }
}

/// One failure per failing test (with its output as the trace), or one for the step.
fn step_failures(o: &Outcome, l: &LayerReport) -> Vec<Failure> {
    if l.ok {
        return Vec::new();
    }
    let log = Some(l.log.clone());
    let failed = crate::junit::read(o.junit.as_deref()).map(|r| r.failed).unwrap_or_default();
    if failed.is_empty() {
        let why = l.error.clone().or_else(|| l.summary.clone()).unwrap_or_default();
        return vec![Failure {
            what: format!("step {}: {why}", l.name),
            reproduce: Some(l.command.clone()),
            log,
            ..Failure::default()
        }];
    }
    failed
        .into_iter()
        .map(|t| Failure {
            what: format!("{}: {} {} failed", l.name, t.binary, t.name),
            property: first_property(&t.output),
            trace: Some(trim(&t.output, 80)),
            reproduce: Some(o.step.replay(&t.name)),
            log: log.clone(),
        })
        .collect()
}

fn trim(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.contains("RUST_BACKTRACE")).collect();
    lines[..lines.len().min(n)].join("\n")
}

/// The first property named in a text.
pub fn first_property(text: &str) -> Option<String> {
    property_ids(text).into_iter().next().map(|n| format!("P{n}"))
}

/// One entry per catalogue mutant: the shortest counterexample among the layers that caught it.
fn mutants(twins: &[TestResult], outcomes: &[Outcome]) -> Vec<MutantReport> {
    lockcore::Mutant::ALL
        .iter()
        .map(|m| {
            let mine: Vec<&TestResult> = twins.iter().filter(|t| t.mutant.as_deref() == Some(m.id())).collect();
            let mut r = MutantReport {
                id: m.id().into(),
                description: m.description().into(),
                expected_property: m.property().into(),
                ..MutantReport::default()
            };
            for t in &mine {
                let word = if t.caught() { "caught" } else { "missed" };
                r.by_layer
                    .entry(t.layer.clone())
                    .and_modify(|w| {
                        if t.caught() {
                            *w = "caught".into()
                        }
                    })
                    .or_insert_with(|| word.into());
            }
            let rank = |t: &&&TestResult| (t.trace.len(), TWIN_LAYERS.iter().position(|l| *l == t.layer));
            if let Some(best) = mine.iter().filter(|t| t.caught()).min_by_key(rank) {
                let step = format!("mutants-{}", best.layer);
                let replay = outcomes
                    .iter()
                    .find(|o| o.step.name == step)
                    .map(|o| o.step.replay(best.test.rsplit("::").next().unwrap_or(&best.test)));
                r.caught = true;
                r.layer = Some(best.layer.clone());
                r.property = best.property.clone();
                r.seconds = Some(best.seconds);
                r.iterations = Some(best.iterations);
                r.test = Some(best.test.clone());
                r.trace = best.message.iter().chain(&best.trace).cloned().collect();
                r.reproduce = replay;
            }
            r
        })
        .collect()
}

fn judge_mutants(r: &mut Report) {
    let known: BTreeSet<&str> = lockcore::Mutant::ALL.iter().map(|m| m.id()).collect();
    for t in &r.mutant_results {
        let id = t.mutant.as_deref().unwrap_or("");
        if !known.contains(id) {
            r.failures.push(Failure {
                what: format!("{} twin {} reports {id:?}, which is not in the catalogue", t.layer, t.test),
                ..Failure::default()
            });
        }
    }
    if r.partial {
        return;
    }
    for m in r.mutants.iter().filter(|m| !m.caught) {
        let seen: Vec<String> = m.by_layer.iter().map(|(l, w)| format!("{l}: {w}")).collect();
        let trace = if seen.is_empty() { "no layer ran a twin".to_string() } else { seen.join(", ") };
        r.failures.push(Failure {
            what: format!("mutant {} not caught by any layer", m.id),
            property: Some(m.expected_property.clone()),
            trace: Some(trace),
            ..Failure::default()
        });
    }
}

fn ran(outcomes: &[Outcome], step: &str) -> bool {
    outcomes.iter().any(|o| o.step.name == step)
}

fn judge_coverage(r: &mut Report, records: &[Record], outcomes: &[Outcome]) {
    for rec in records {
        if let Record::Coverage(c) = rec {
            for (k, v) in &c.counts {
                *r.coverage.entry(k.clone()).or_default() += v;
            }
        }
    }
    if !ran(outcomes, "proptest") && !passed_by_cargo_test(r, "test") {
        return;
    }
    let zero: Vec<&String> = r.coverage.iter().filter(|(_, v)| **v == 0).map(|(k, _)| k).collect();
    if r.coverage.is_empty() || !zero.is_empty() {
        let what = if r.coverage.is_empty() {
            "proptest coverage: no coverage result file".to_string()
        } else {
            format!("proptest coverage: never reached: {zero:?}")
        };
        r.failures.push(Failure { what, ..Failure::default() });
    }
}

fn judge_matrix(r: &mut Report, records: &[Record], outcomes: &[Outcome]) {
    let cells: Vec<_> =
        records.iter().filter_map(|x| if let Record::MatrixCell(c) = x { Some(c.clone()) } else { None }).collect();
    for (i, a) in OPERATIONS.iter().enumerate() {
        for b in &OPERATIONS[i..] {
            let mine = cells
                .iter()
                .filter(|c| (c.pair[0] == *a && c.pair[1] == *b) || (c.pair[0] == *b && c.pair[1] == *a))
                .cloned()
                .collect();
            r.matrix.push(PairCoverage { pair: [a.to_string(), b.to_string()], cells: mine });
        }
    }
    if r.partial || !(ran(outcomes, "loom") && ran(outcomes, "shuttle")) {
        return;
    }
    let empty: Vec<String> = r.matrix.iter().filter(|p| p.cells.is_empty()).map(|p| p.pair.join(" ∥ ")).collect();
    if !empty.is_empty() {
        r.failures.push(Failure {
            what: format!("operation matrix: {} empty cell(s): {}", empty.len(), empty.join(", ")),
            ..Failure::default()
        });
    }
}

/// The matrix sweep's rows, written by the loom twins' step (which runs `mutant_matrix_sweep`):
/// a run of that step without them is a failure, so the report never silently lacks the number.
fn judge_matrix_sweep(r: &mut Report, records: &[Record], outcomes: &[Outcome]) {
    r.matrix_sweep = records.iter().find_map(|x| if let Record::MatrixSweep(m) = x { Some(m.clone()) } else { None });
    if r.matrix_sweep.is_none() && !r.partial && ran(outcomes, "mutants-loom") {
        r.failures.push(Failure {
            what: "mutants-loom ran but mutant_matrix_sweep wrote no result (matrix-sweep/loom.json)".into(),
            ..Failure::default()
        });
    }
}

/// The step was covered by the `cargo test` run before the gate (`--cargo-test-passed`).
fn passed_by_cargo_test(r: &Report, step: &str) -> bool {
    r.layers.iter().any(|l| l.name == step && l.command.starts_with("cargo test (at the root"))
}

/// Which layers check which property: a layer that caught a mutant with `Pn`, or whose passing
/// result files name `Pn`, or (a documented heuristic) whose test sources name `Pn`.
fn properties(r: &Report, records: &[Record], root: &Path) -> Vec<PropertyReport> {
    let ok: BTreeSet<&str> = r.layers.iter().filter(|l| l.ok).map(|l| l.name.as_str()).collect();
    let mut checked: BTreeMap<u32, BTreeSet<String>> = BTreeMap::new();
    for rec in records {
        if let Record::Test(t) = rec {
            for n in property_ids(t.property.as_deref().unwrap_or("")) {
                checked.entry(n).or_default().insert(t.layer.clone());
            }
        }
    }
    for (layer, paths) in SOURCES {
        if !ok.contains(layer) {
            continue;
        }
        for n in paths.iter().flat_map(|p| sources(&root.join(p))).flat_map(|t| property_ids(&t)) {
            checked.entry(n).or_default().insert(layer.to_string());
        }
    }
    (1..=16)
        .map(|n| {
            let id = format!("P{n}");
            let caught = r
                .mutants
                .iter()
                .filter(|m| m.caught && m.property.as_deref() == Some(id.as_str()))
                .map(|m| m.id.clone())
                .collect();
            PropertyReport {
                checked_by: checked.remove(&n).unwrap_or_default().into_iter().collect(),
                id,
                caught_mutants: caught,
            }
        })
        .collect()
}

/// Test sources per step, for the property heuristic (a file or a directory of `.rs` files).
const SOURCES: [(&str, &[&str]); 8] = [
    ("loom", &["loom-tests/src", "loom-tests/tests"]),
    ("shuttle", &["loom-tests/src", "loom-tests/tests"]),
    ("proptest", &["proptests/src", "proptests/tests"]),
    ("faults", &["testkit/tests/faults.rs"]),
    ("stress", &["stress/src", "stress/tests"]),
    ("real-processes", &["testkit/tests/real_processes.rs", "testkit/tests/cli.rs"]),
    ("namespaces", &["testkit/tests/namespaces.rs"]),
    ("test", &["models/tests", "lockcore/tests", "testkit/tests/hostile_paths.rs", "testkit/tests/waits.rs"]),
];

fn sources(path: &Path) -> Vec<String> {
    if path.is_file() {
        return std::fs::read_to_string(path).into_iter().collect();
    }
    let Ok(entries) = std::fs::read_dir(path) else {
        return Vec::new();
    };
    let rust = |p: &Path| p.is_dir() || p.extension().is_some_and(|e| e == "rs");
    entries.flatten().map(|e| e.path()).filter(|p| rust(p)).flat_map(|p| sources(&p)).collect()
}

#[cfg(test)]
mod tests;
