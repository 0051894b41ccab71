//! The gate's plan (which steps, which commands, which budgets) and its verdict (a pure function
//! of the steps' logs), kept apart from process handling so both are unit-tested.

use crate::cargo_test::{parse_test_output, TestRun};
use crate::cli::Options;
use crate::faults::FaultsSummary;
use crate::mutants_out::{merge, Outcome, Outcomes};
use crate::properties::PROPERTY_COUNT;
use crate::protocol::{collect, MutantLine};
use crate::report::{
    Budget, CargoMutantsReport, CargoMutantsRun, Failure, LayerReport, MutantReport,
    PropertyReport, Report,
};
use crate::stress::StressSummary;
use std::collections::{BTreeMap, BTreeSet};

/// Budget env var the proptest layer reads (proptest's own).
pub const PROPTEST_CASES: &str = "PROPTEST_CASES";
/// Budget env var the shuttle tests may read: iterations per schedule test.
pub const SHUTTLE_ITERATIONS: &str = "LOCKCORE_SHUTTLE_ITERATIONS";

/// Layers that run mutant twins, in the matrix's column order.
pub const MUTANT_LAYERS: [&str; 3] = ["loom", "shuttle", "proptest"];

/// Lines of a failing step's log printed by the gate.
pub const TAIL_LINES: usize = 40;

/// What a step is, which decides how its log is judged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// fmt, clippy: the exit code decides.
    Check,
    /// A test layer: exit code, and at least one test must have run.
    Tests { layer: &'static str },
    /// A layer's mutant twins: their `LOCKCORE-MUTANT` lines.
    Mutants { layer: &'static str },
    /// `cargo install cargo-mutants --locked`.
    Install,
    /// One cargo-mutants run; `out` is its `--output` directory (relative to the root).
    CargoMutants {
        features: Option<&'static str>,
        out: String,
    },
}

/// One step: a command and how to judge it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub name: &'static str,
    pub kind: Kind,
    pub program: String,
    /// Cargo arguments up to (not including) a test-name filter.
    pub base: Vec<String>,
    /// Test-name filter, if any.
    pub filter: Option<String>,
    /// Arguments after `--` (for the test harness).
    pub harness: Vec<String>,
    pub env: Vec<(String, String)>,
    pub timeout_secs: u64,
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Quotes a word for a POSIX shell when it needs it.
fn shell_word(w: &str) -> String {
    if !w.is_empty()
        && w.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
    {
        w.to_string()
    } else {
        format!("'{}'", w.replace('\'', r"'\''"))
    }
}

impl Step {
    /// The full argument list.
    pub fn args(&self) -> Vec<String> {
        let mut a = self.base.clone();
        a.extend(self.filter.clone());
        if !self.harness.is_empty() {
            a.push("--".to_string());
            a.extend(self.harness.iter().cloned());
        }
        a
    }

    /// The exact command line, with its environment, as a user would paste it.
    pub fn command_line(&self) -> String {
        let mut words: Vec<String> = self
            .env
            .iter()
            .map(|(k, v)| format!("{k}={}", shell_word(v)))
            .collect();
        words.push(self.program.clone());
        words.extend(self.args().iter().map(|a| shell_word(a)));
        words.join(" ")
    }

    /// The command that replays one test of this step.
    pub fn replay(&self, test: &str) -> String {
        let s = Step {
            filter: Some(test.to_string()),
            harness: strings(&["--exact", "--nocapture"]),
            ..self.clone()
        };
        s.command_line()
    }
}

/// Cargo arguments of a mutant layer's twin run, before the filter.
fn mutant_base(layer: &str) -> Vec<String> {
    match layer {
        "loom" => strings(&[
            "test",
            "--release",
            "--features",
            "loom",
            "-p",
            "loom-tests",
        ]),
        "shuttle" => strings(&[
            "test",
            "--release",
            "--features",
            "shuttle",
            "-p",
            "loom-tests",
        ]),
        "proptest" => strings(&["test", "--release", "-p", "proptests"]),
        _ => strings(&["test", "--release", "--workspace"]),
    }
}

/// The filter a layer's twin for `id` is expected to match: `mutant_<id with underscores>`.
pub fn twin_filter(id: &str) -> String {
    format!("mutant_{}", id.replace('-', "_"))
}

/// The command that replays one mutant twin (prints its `LOCKCORE-MUTANT` line and trace).
/// A twin may name itself `<test binary>::<fn>` (e.g. `loom_reclaim::mutant_naive_reclaim`);
/// libtest knows it as `<fn>` inside that binary, so the first segment is dropped from the filter.
pub fn mutant_command(layer: &str, test: &str, id: &str) -> String {
    let test = test.trim();
    let filter = if test.is_empty() {
        twin_filter(id)
    } else {
        match test.split_once("::") {
            Some((_, rest)) if !rest.is_empty() => rest.to_string(),
            _ => test.to_string(),
        }
    };
    let mut words = vec!["cargo".to_string()];
    words.extend(mutant_base(layer));
    words.push(shell_word(&filter));
    words.push("--".to_string());
    words.push("--nocapture".to_string());
    words.join(" ")
}

/// Resolved budgets.
pub fn budget(o: &Options) -> Budget {
    Budget {
        proptest_cases: o.proptest_cases.unwrap_or(if o.quick { 256 } else { 8192 }),
        shuttle_iterations: o
            .shuttle_iterations
            .or(if o.quick { Some(100) } else { None }),
        step_timeout: o.step_timeout.unwrap_or(if o.quick { 600 } else { 1800 }),
    }
}

/// Every step of this invocation, in order (before `--only`/`--skip`).
/// `have_cargo_mutants`: whether `cargo mutants --version` works (else an install step is added).
pub fn plan(o: &Options, have_cargo_mutants: bool, gate_dir_rel: &str) -> Vec<Step> {
    let b = budget(o);
    let t = b.step_timeout;
    let step = |name: &'static str, kind: Kind, base: &[&str], harness: &[&str]| Step {
        name,
        kind,
        program: "cargo".to_string(),
        base: strings(base),
        filter: None,
        harness: strings(harness),
        env: Vec::new(),
        timeout_secs: t,
    };
    let proptest_env = vec![(PROPTEST_CASES.to_string(), b.proptest_cases.to_string())];
    // Where the loom and shuttle models write their operation-matrix cells.
    let results_env = vec![(
        models::report::RESULTS_DIR_VAR.to_string(),
        format!("{gate_dir_rel}/results"),
    )];
    // The loom matrix explores every pair at bound 3; `--quick` at bound 2 (1.7 s instead of 14 s).
    let loom_env: Vec<(String, String)> = if o.quick {
        vec![("LOCKCORE_MATRIX_BOUND".to_string(), "2".to_string())]
    } else {
        Vec::new()
    };
    let shuttle_env: Vec<(String, String)> = b
        .shuttle_iterations
        .map(|n| (SHUTTLE_ITERATIONS.to_string(), n.to_string()))
        .into_iter()
        .collect();

    let mut steps = vec![
        step("fmt", Kind::Check, &["fmt", "--all", "--", "--check"], &[]),
        step(
            "clippy",
            Kind::Check,
            &["clippy", "--workspace", "--all-targets"],
            &["-D", "warnings"],
        ),
        step(
            "clippy-loom",
            Kind::Check,
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--features",
                "loom",
            ],
            &["-D", "warnings"],
        ),
        step(
            "clippy-shuttle",
            Kind::Check,
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--features",
                "shuttle",
            ],
            &["-D", "warnings"],
        ),
        step(
            "test",
            Kind::Tests { layer: "test" },
            &["test", "--workspace"],
            &[],
        ),
        Step {
            env: [loom_env, results_env.clone()].concat(),
            ..step(
                "loom",
                Kind::Tests { layer: "loom" },
                &[
                    "test",
                    "--release",
                    "--features",
                    "loom",
                    "-p",
                    "loom-tests",
                ],
                &["--skip", "mutant_"],
            )
        },
        Step {
            env: [shuttle_env, results_env].concat(),
            ..step(
                "shuttle",
                Kind::Tests { layer: "shuttle" },
                &[
                    "test",
                    "--release",
                    "--features",
                    "shuttle",
                    "-p",
                    "loom-tests",
                ],
                &["--skip", "mutant_"],
            )
        },
        Step {
            env: proptest_env,
            ..step(
                "proptest",
                Kind::Tests { layer: "proptest" },
                &["test", "--release", "-p", "proptests"],
                &["--skip", "mutant_", "--nocapture"],
            )
        },
        Step {
            env: vec![
                (
                    crate::faults::BUDGET_VAR.to_string(),
                    if o.quick { "quick" } else { "full" }.to_string(),
                ),
                (
                    crate::faults::RESULTS_VAR.to_string(),
                    format!("{gate_dir_rel}/results"),
                ),
            ],
            ..step(
                "faults",
                Kind::Tests { layer: "faults" },
                &["test", "-p", "lockcore", "--test", "faults"],
                &["--nocapture"],
            )
        },
        Step {
            env: vec![
                (
                    crate::stress::BUDGET_VAR.to_string(),
                    if o.quick { "quick" } else { "full" }.to_string(),
                ),
                (
                    crate::faults::RESULTS_VAR.to_string(),
                    format!("{gate_dir_rel}/results"),
                ),
            ],
            ..step(
                "stress",
                Kind::Tests { layer: "stress" },
                &[
                    "test",
                    "-p",
                    "lockcore-stress",
                    "--features",
                    "mutants",
                    "--test",
                    "stress",
                ],
                &["--nocapture"],
            )
        },
        step(
            "real-processes",
            Kind::Tests {
                layer: "real-processes",
            },
            &[
                "test",
                "-p",
                "lockcore",
                "--test",
                "real_processes",
                "--test",
                "cli",
            ],
            &[],
        ),
        // Real processes in sibling pid namespaces (root only): the skip reason, if any, is read
        // from its namespaces.json and shown in the report.
        Step {
            env: vec![(
                crate::faults::RESULTS_VAR.to_string(),
                format!("{gate_dir_rel}/results"),
            )],
            ..step(
                "namespaces",
                Kind::Tests {
                    layer: "namespaces",
                },
                &["test", "-p", "lockcore", "--test", "namespaces"],
                &["--nocapture"],
            )
        },
    ];
    for (name, layer) in [
        ("mutants-loom", "loom"),
        ("mutants-shuttle", "shuttle"),
        ("mutants-proptest", "proptest"),
    ] {
        steps.push(Step {
            name,
            kind: Kind::Mutants { layer },
            program: "cargo".to_string(),
            base: mutant_base(layer),
            filter: Some("mutant_".to_string()),
            harness: strings(&["--nocapture"]),
            // The matrix's catalogue sweep explores one bound deeper in the full gate.
            env: if layer == "loom" && !o.quick {
                vec![("LOCKCORE_MATRIX_SWEEP_BOUND".to_string(), "2".to_string())]
            } else {
                Vec::new()
            },
            timeout_secs: t,
        });
    }
    // Every test binary runs even after one fails: the report stays complete and no mutant
    // line is lost.
    for s in &mut steps {
        if matches!(s.kind, Kind::Tests { .. } | Kind::Mutants { .. }) {
            s.base.insert(1, "--no-fail-fast".to_string());
        }
    }
    if o.mutants {
        if !have_cargo_mutants {
            steps.push(Step {
                timeout_secs: 1800,
                ..step(
                    "install-cargo-mutants",
                    Kind::Install,
                    &["install", "cargo-mutants", "--locked"],
                    &[],
                )
            });
        }
        // Under cargo-mutants every mutant reruns the whole workspace's tests: use the quick
        // budgets there whatever the mode.
        let quick = budget(&Options {
            quick: true,
            ..Options::default()
        });
        let mut cm_env = vec![(PROPTEST_CASES.to_string(), quick.proptest_cases.to_string())];
        if let Some(n) = quick.shuttle_iterations {
            cm_env.push((SHUTTLE_ITERATIONS.to_string(), n.to_string()));
        }
        for (name, features) in [
            ("cargo-mutants", None),
            ("cargo-mutants-loom", Some("loom")),
            ("cargo-mutants-shuttle", Some("shuttle")),
        ] {
            let out = format!("{gate_dir_rel}/cargo-mutants/{name}");
            let mut base = strings(&[
                "mutants",
                // lockcore's files (the same mutants as `--package lockcore`) less the test
                // child, whose mutants would test the tests. With `--test-workspace=true` every
                // mutant runs `cargo test --workspace` (cargo-mutants 27.1 still runs only
                // lockcore's own tests for the unmutated baseline).
                "--file",
                "lockcore/src/**",
                "--exclude",
                "lockcore/src/bin/lockcore-testchild.rs",
                "--test-workspace=true",
                // cargo-mutants would derive the per-mutant timeout from that lockcore-only
                // baseline (~20 s), too short for the workspace's tests on 2 loaded cores.
                "--timeout",
                "180",
                "--no-shuffle",
                "--output",
            ]);
            base.push(out.clone());
            if let Some(f) = features {
                base.push("--features".to_string());
                base.push(f.to_string());
            }
            if let Some(shard) = &o.mutants_shard {
                base.push("--shard".to_string());
                base.push(shard.clone());
            }
            if let Some(j) = o.mutants_jobs {
                base.push("--jobs".to_string());
                base.push(j.to_string());
            }
            steps.push(Step {
                name,
                kind: Kind::CargoMutants { features, out },
                program: "cargo".to_string(),
                base,
                filter: None,
                harness: Vec::new(),
                env: cm_env.clone(),
                timeout_secs: o.step_timeout.unwrap_or(4 * 3600),
            });
        }
    }
    steps
}

/// Escapes regex metacharacters (the set `regex::escape` escapes).
pub fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The follow-up cargo-mutants runs (`--features loom`, `--features shuttle`) retest only what the
/// earlier runs of this gate did not catch (missed or timed out): one `--re ^name$` per mutant, and
/// no `--shard` (the earlier runs already applied it). `None`: nothing is left to test. With no
/// earlier outcomes (the first run failed) the step runs unchanged.
pub fn narrow_cargo_mutants(step: &Step, earlier: &[Outcomes]) -> Option<Step> {
    if earlier.is_empty() {
        return Some(step.clone());
    }
    let mut pending: Vec<String> = Vec::new();
    // The first run that tested anything defines the mutants (see `mutants_out::merge`).
    let names: Vec<&str> = earlier
        .iter()
        .find(|r| !r.mutants.is_empty())
        .map(|r| r.mutants.keys().map(String::as_str).collect())
        .unwrap_or_default();
    for name in names {
        let caught_or_unviable = earlier.iter().any(|r| {
            matches!(
                r.mutants.get(name),
                Some(Outcome::CaughtMutant | Outcome::Unviable)
            )
        });
        if !caught_or_unviable {
            pending.push(name.to_string());
        }
    }
    if pending.is_empty() {
        return None;
    }
    let mut base = Vec::new();
    let mut args = step.base.iter();
    while let Some(a) = args.next() {
        if a == "--shard" {
            args.next();
            continue;
        }
        base.push(a.clone());
    }
    for name in pending {
        base.push("--re".to_string());
        base.push(format!("^{}$", regex_escape(&name)));
    }
    Some(Step {
        base,
        ..step.clone()
    })
}

/// Step names a user may pass to `--only`/`--skip`.
pub fn step_names(o: &Options) -> Vec<&'static str> {
    let all = Options {
        mutants: true,
        ..o.clone()
    };
    plan(&all, false, "target/gate")
        .iter()
        .map(|s| s.name)
        .collect()
}

/// How a step's process ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal,
    TimedOut(u64),
    Interrupted,
    SpawnFailed(String),
}

/// A finished step and what it left behind.
#[derive(Clone, Debug)]
pub struct StepOutcome {
    pub step: Step,
    pub exit: Exit,
    pub seconds: f64,
    /// Log path relative to the root.
    pub log: String,
    pub log_text: String,
    /// For cargo-mutants steps: the parsed `outcomes.json`, or why it could not be read.
    pub outcomes: Option<Result<Outcomes, String>>,
    /// For the faults step: its `faults.json`, or why it could not be read.
    pub faults: Option<Result<FaultsSummary, String>>,
    /// For the stress step: its `stress.json`, or why it could not be read.
    pub stress: Option<Result<StressSummary, String>>,
}

impl StepOutcome {
    fn exit_ok(&self) -> bool {
        self.exit == Exit::Code(0)
    }

    fn exit_text(&self) -> String {
        match &self.exit {
            Exit::Code(c) => format!("exit code {c}"),
            Exit::Signal => "killed by a signal".to_string(),
            Exit::TimedOut(s) => format!("timed out after {s} s"),
            Exit::Interrupted => "interrupted".to_string(),
            Exit::SpawnFailed(e) => format!("could not start: {e}"),
        }
    }
}

/// Removes terminal escape sequences (rustfmt colours its diff even with `CARGO_TERM_COLOR=never`).
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        match chars.next() {
            // CSI: parameters up to a final byte in '@'..='~'.
            Some('[') => {
                for d in chars.by_ref() {
                    if ('@'..='~').contains(&d) {
                        break;
                    }
                }
            }
            // Character-set designation: one more character.
            Some('(' | ')') => {
                chars.next();
            }
            _ => {}
        }
    }
    out
}

/// The last `n` lines of a log.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The first property id (`Pn`) named in `text`.
fn first_property(text: &str) -> Option<String> {
    crate::properties::mentioned_in_order(text)
        .first()
        .map(|n| format!("P{n}"))
}

/// Drops `stack backtrace:` blocks (up to their closing `note:` line) and leading blank lines:
/// the trace that matters is the test's own message.
pub fn trim_backtrace(text: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let mut in_bt = false;
    for l in text.lines() {
        let t = l.trim_start();
        if t.starts_with("stack backtrace:") {
            in_bt = true;
            continue;
        }
        if in_bt {
            if t.starts_with("note: ") {
                in_bt = false;
            }
            continue;
        }
        if out.is_empty() && t.is_empty() {
            continue;
        }
        out.push(l);
    }
    out.join("\n")
}

/// Caps a trace so a runaway test cannot flood the report.
fn cap_lines(text: &str, n: usize) -> String {
    let text = &trim_backtrace(text);
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() <= n {
        text.trim_end().to_string()
    } else {
        format!(
            "{}\n… ({} more lines in the log)",
            lines[..n].join("\n"),
            lines.len() - n
        )
    }
}

/// One catalogue entry as the gate sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogueEntry {
    pub id: String,
    pub description: String,
    pub property: String,
}

/// The catalogue compiled into lockcore (`lockcore::Mutant::ALL`).
pub fn catalogue() -> Vec<CatalogueEntry> {
    lockcore::Mutant::ALL
        .iter()
        .map(|m| CatalogueEntry {
            id: m.id().to_string(),
            description: m.description().to_string(),
            property: m.property().to_string(),
        })
        .collect()
}

/// Everything besides the step outcomes that the verdict needs.
#[derive(Clone, Debug, Default)]
pub struct Context {
    pub catalogue: Vec<CatalogueEntry>,
    pub mode: String,
    pub partial: bool,
    pub commit: Option<String>,
    pub seconds: f64,
    pub budget: Budget,
    /// Layer → properties its test sources mention (see `properties`).
    pub mentions: BTreeMap<String, BTreeSet<u32>>,
}

/// Judges every step and builds the report.
pub fn analyse(outcomes: &[StepOutcome], ctx: &Context) -> Report {
    let mut r = Report {
        mode: ctx.mode.clone(),
        partial: ctx.partial,
        commit: ctx.commit.clone(),
        seconds: ctx.seconds,
        budget: ctx.budget.clone(),
        ..Report::default()
    };
    let known: BTreeSet<&str> = ctx.catalogue.iter().map(|c| c.id.as_str()).collect();
    let mut coverage: Option<BTreeMap<String, u64>> = None;
    let mut test_layer_ok: BTreeMap<&str, bool> = BTreeMap::new();
    let mut mutant_layers_run: BTreeSet<&str> = BTreeSet::new();
    let mut proptest_ran = false;
    let mut cm_runs: Vec<(CargoMutantsRun, Outcomes)> = Vec::new();
    let mut cm_ran = false;

    for o in outcomes {
        let mut layer = LayerReport {
            name: o.step.name.to_string(),
            seconds: o.seconds,
            command: o.step.command_line(),
            log: o.log.clone(),
            ..LayerReport::default()
        };
        let mut errors: Vec<String> = Vec::new();
        let step_failure = |what: String| Failure {
            what,
            property: None,
            trace: Some(tail(&o.log_text, TAIL_LINES)),
            reproduce: Some(o.step.command_line()),
            log: Some(o.log.clone()),
        };
        let mut failures: Vec<Failure> = Vec::new();
        match &o.step.kind {
            Kind::Check | Kind::Install => {
                if !o.exit_ok() {
                    errors.push(o.exit_text());
                }
            }
            Kind::Tests { layer: name } | Kind::Mutants { layer: name } => {
                let run: TestRun = parse_test_output(&o.log_text);
                let total = run.total();
                layer.tests = Some(total.ran());
                layer.passed = total.passed;
                layer.failed = total.failed;
                layer.ignored = total.ignored;
                layer.binaries = run.binaries.clone();
                layer.failed_tests = run.failed_tests.clone();
                let collected = collect(&o.log_text);
                for e in &collected.errors {
                    errors.push(format!("layer {name}: {e}"));
                }
                for (line, e) in &run.errors {
                    errors.push(format!("unreadable summary line {line:?}: {e}"));
                }
                if let Some(cov) = collected.coverage {
                    let total = coverage.get_or_insert_with(BTreeMap::new);
                    for (k, v) in cov {
                        let e = total.entry(k).or_insert(0);
                        *e = e.saturating_add(v);
                    }
                }
                let cut_short =
                    matches!(o.exit, Exit::TimedOut(_) | Exit::Interrupted | Exit::Signal);
                if cut_short {
                    // Said once below; what did not run is no news.
                } else if !run.selection_errors.is_empty() {
                    errors.push(format!(
                        "layer {name}: no tests found ({})",
                        run.selection_errors.join("; ")
                    ));
                } else if total.ran() == 0 && run.binaries.is_empty() && !o.exit_ok() {
                    errors.push(format!(
                        "layer {name}: no test ran ({}; build error?)",
                        o.exit_text()
                    ));
                } else if total.ran() == 0 {
                    errors.push(format!("layer {name}: no tests found"));
                } else if !o.exit_ok() && run.failed_tests.is_empty() {
                    errors.push(o.exit_text());
                }
                if !run.failed_tests.is_empty() {
                    errors.push(format!(
                        "{} test(s) failed: {}",
                        run.failed_tests.len(),
                        run.failed_tests.join(", ")
                    ));
                }
                match &o.faults {
                    Some(Ok(f)) => layer.faults = Some(f.clone()),
                    Some(Err(e)) if !cut_short => errors.push(format!("layer {name}: {e}")),
                    _ => {}
                }
                match &o.stress {
                    Some(Ok(st)) => {
                        let problems = crate::stress::problems(st);
                        errors.extend(problems.iter().map(|p| format!("layer {name}: {p}")));
                        layer.stress = Some(st.clone());
                    }
                    Some(Err(e)) if !cut_short => errors.push(format!("layer {name}: {e}")),
                    _ => {}
                }
                if let Kind::Mutants { layer: name } = &o.step.kind {
                    mutant_layers_run.insert(name);
                    if collected.mutants.is_empty() && total.ran() > 0 && !cut_short {
                        errors.push(format!(
                            "layer {name}: no mutant results found (no LOCKCORE-MUTANT line)"
                        ));
                    }
                    for m in &collected.mutants {
                        if !known.contains(m.id.as_str()) {
                            errors.push(format!(
                                "layer {name}: unknown mutant id {:?} (test {})",
                                m.id, m.test
                            ));
                        }
                    }
                    r.mutant_results.extend(collected.mutants.iter().cloned());
                    // A failing twin: say which mutant it missed.
                    for t in &run.failed_tests {
                        let line = collected
                            .mutants
                            .iter()
                            .find(|m| m.test == *t || t.ends_with(&format!("::{}", m.test)));
                        let section = run.output_of(t);
                        failures.push(Failure {
                            what: match line {
                                Some(m) if !m.caught => format!(
                                    "layer {name}: twin {t} did not catch mutant {} ({} iterations)",
                                    m.id, m.iterations
                                ),
                                _ => format!("layer {name}: twin {t} failed"),
                            },
                            property: line.and_then(|m| m.property.clone()),
                            trace: section.map(|s| cap_lines(s, 80)),
                            reproduce: Some(o.step.replay(t)),
                            log: Some(o.log.clone()),
                        });
                    }
                } else {
                    test_layer_ok.insert(name, false);
                    if *name == "proptest" && !cut_short {
                        proptest_ran = true;
                    }
                    // A failing test: its property, its captured output (panic + trace), a replay.
                    for t in &run.failed_tests {
                        let section = run.output_of(t);
                        failures.push(Failure {
                            what: format!("layer {name}: test {t} failed"),
                            property: section.and_then(first_property),
                            trace: section.map(|s| cap_lines(s, 80)),
                            reproduce: Some(o.step.replay(t)),
                            log: Some(o.log.clone()),
                        });
                    }
                }
            }
            Kind::CargoMutants { features, out } => {
                cm_ran = true;
                match &o.outcomes {
                    Some(Ok(outs)) => {
                        let baseline_ok = outs
                            .baseline
                            .as_ref()
                            .is_none_or(|b| *b == Outcome::Success);
                        if !baseline_ok {
                            errors.push(
                                "cargo-mutants: the unmutated baseline failed its tests"
                                    .to_string(),
                            );
                        }
                        let counts = merge(std::slice::from_ref(outs)).counts;
                        cm_runs.push((
                            CargoMutantsRun {
                                name: o.step.name.to_string(),
                                features: features.map(str::to_string),
                                outcomes: format!("{out}/mutants.out/outcomes.json"),
                                baseline_ok,
                                counts,
                            },
                            outs.clone(),
                        ));
                    }
                    Some(Err(e)) => errors.push(format!("cargo-mutants: {e}")),
                    None => errors.push(format!("cargo-mutants: no outcomes ({})", o.exit_text())),
                }
                // cargo-mutants exits 2 for missed mutants and 3 for timeouts: reported, not fatal.
                if !matches!(o.exit, Exit::Code(0 | 2 | 3)) && errors.is_empty() {
                    errors.push(o.exit_text());
                }
            }
        }
        if matches!(o.exit, Exit::TimedOut(_) | Exit::Interrupted | Exit::Signal) {
            let t = o.exit_text();
            if !errors.contains(&t) {
                errors.insert(0, t);
            }
        }
        layer.ok = errors.is_empty() && failures.is_empty();
        if let Kind::Tests { layer: name } = &o.step.kind {
            test_layer_ok.insert(name, layer.ok);
        }
        if !layer.ok {
            layer.error = Some(if errors.is_empty() {
                format!("{} failure(s)", failures.len())
            } else {
                errors.join("; ")
            });
            if failures.is_empty() {
                r.failures.push(step_failure(format!(
                    "step {} failed: {}",
                    o.step.name,
                    errors.join("; ")
                )));
            }
            r.failures.extend(failures);
        }
        r.layers.push(layer);
    }

    // The mutant matrix: every catalogue entry caught by at least one layer.
    for c in &ctx.catalogue {
        let results: Vec<&MutantLine> = r.mutant_results.iter().filter(|m| m.id == c.id).collect();
        let mut m = MutantReport {
            id: c.id.clone(),
            description: c.description.clone(),
            expected_property: c.property.clone(),
            ..MutantReport::default()
        };
        for res in &results {
            let e = m
                .by_layer
                .entry(res.layer.clone())
                .or_insert("missed".to_string());
            if res.caught {
                *e = "caught".to_string();
            }
        }
        let layer_rank = |l: &str| MUTANT_LAYERS.iter().position(|x| *x == l).unwrap_or(9);
        let best = results.iter().filter(|x| x.caught).min_by(|a, b| {
            (a.trace.lines().count(), layer_rank(&a.layer))
                .cmp(&(b.trace.lines().count(), layer_rank(&b.layer)))
                .then(a.seconds.total_cmp(&b.seconds))
        });
        if let Some(b) = best {
            m.caught = true;
            m.layer = Some(b.layer.clone());
            m.property = b.property.clone();
            m.seconds = Some(b.seconds);
            m.iterations = Some(b.iterations);
            m.test = Some(b.test.clone());
            m.trace = Some(b.trace.clone());
            m.reproduce = Some(mutant_command(&b.layer, &b.test, &b.id));
        } else if !mutant_layers_run.is_empty() {
            let mut trace = String::new();
            for res in &results {
                trace.push_str(&format!(
                    "missed by {} (test {}) after {} iterations, {:.2} s\n",
                    res.layer, res.test, res.iterations, res.seconds
                ));
            }
            if results.is_empty() {
                trace.push_str("no layer reported a result for this mutant (no twin test?)\n");
            }
            let repro: Vec<String> = if results.is_empty() {
                mutant_layers_run
                    .iter()
                    .map(|l| mutant_command(l, "", &c.id))
                    .collect()
            } else {
                results
                    .iter()
                    .map(|x| mutant_command(&x.layer, &x.test, &x.id))
                    .collect()
            };
            r.failures.push(Failure {
                what: format!(
                    "mutant {} is caught by no layer ({}) [ran: {}]",
                    c.id,
                    c.description,
                    mutant_layers_run
                        .iter()
                        .copied()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                property: Some(c.property.clone()),
                trace: Some(trace.trim_end().to_string()),
                reproduce: Some(repro.join("\n")),
                log: None,
            });
        }
        r.mutants.push(m);
    }

    // Coverage: complete when every count is positive.
    if proptest_ran {
        match &coverage {
            None => r.failures.push(Failure {
                what: "proptest: no LOCKCORE-COVERAGE line (is the coverage test missing?)"
                    .to_string(),
                ..Failure::default()
            }),
            Some(cov) => {
                let never: Vec<&str> = cov
                    .iter()
                    .filter(|(_, v)| **v == 0)
                    .map(|(k, _)| k.as_str())
                    .collect();
                if !never.is_empty() {
                    r.failures.push(Failure {
                        what: format!("coverage incomplete: never exercised: {}", never.join(", ")),
                        reproduce: outcomes
                            .iter()
                            .find(|o| o.step.name == "proptest")
                            .map(|o| o.step.command_line()),
                        ..Failure::default()
                    });
                }
            }
        }
    }
    r.coverage = coverage.unwrap_or_default();

    // Properties: evidence (a caught mutant) or a mention in a passing layer's sources.
    for n in 1..=PROPERTY_COUNT {
        let id = format!("P{n}");
        let mut by: BTreeSet<String> = BTreeSet::new();
        let mut caught_mutants: Vec<String> = Vec::new();
        for m in r.mutant_results.iter().filter(|m| m.caught) {
            if m.property.as_deref() == Some(id.as_str()) {
                by.insert(m.layer.clone());
                if !caught_mutants.contains(&m.id) {
                    caught_mutants.push(m.id.clone());
                }
            }
        }
        for (layer, ids) in &ctx.mentions {
            if ids.contains(&n) && test_layer_ok.get(layer.as_str()) == Some(&true) {
                by.insert(layer.clone());
            }
        }
        r.properties.push(PropertyReport {
            id,
            checked_by: by.into_iter().collect(),
            caught_mutants,
        });
    }

    if cm_ran {
        let all: Vec<Outcomes> = cm_runs.iter().map(|(_, o)| o.clone()).collect();
        let merged = merge(&all);
        r.cargo_mutants = Some(CargoMutantsReport {
            counts: merged.counts,
            runs: cm_runs.into_iter().map(|(run, _)| run).collect(),
            missed_mutants: merged.missed,
            timeout_mutants: merged.timeouts,
        });
    }

    r.ok = r.failures.is_empty();
    r
}

#[cfg(test)]
mod tests;
