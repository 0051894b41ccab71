//! `lockcore-gate`: the merge gate. `ci/gate` runs it from the workspace root; see `ci/README.md`.

mod cargo_test;
mod cli;
mod faults;
mod gate;
mod matrix;
mod mutants_out;
mod properties;
mod protocol;
mod report;
mod runner;
mod stress;

use gate::{Exit, Kind, Step, StepOutcome};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

fn main() -> ExitCode {
    let opts = match cli::parse_args(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("gate: {e}\n\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    if opts.help {
        print!("{}", cli::USAGE);
        return ExitCode::SUCCESS;
    }
    match run(&opts) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("gate: {e}");
            ExitCode::from(2)
        }
    }
}

/// `12.3s` or `4m05s`.
fn dur(secs: f64) -> String {
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        let s = secs.round() as u64;
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

fn commit(root: &Path) -> Option<String> {
    let out = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(root)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let mut c = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .current_dir(root)
        .stderr(Stdio::null())
        .output()
        .map(|o| !o.stdout.is_empty())
        .unwrap_or(false);
    if dirty {
        c.push_str("-dirty");
    }
    Some(c)
}

fn have_cargo_mutants(root: &Path) -> bool {
    Command::new("cargo")
        .args(["mutants", "--version"])
        .current_dir(root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn run(opts: &cli::Options) -> Result<ExitCode, String> {
    let started = Instant::now();
    let root = std::env::current_dir().map_err(|e| format!("no current directory: {e}"))?;
    let manifest = std::fs::read_to_string(root.join("Cargo.toml"))
        .map_err(|e| format!("run from the workspace root (Cargo.toml: {e}); ci/gate does"))?;
    if !manifest.contains("[workspace]") {
        return Err("Cargo.toml here is not the workspace manifest; run ci/gate".into());
    }
    let target: PathBuf = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(t) => root.join(t),
        None => root.join("target"),
    };
    let gate_dir = target.join("gate");
    let rel = |p: &Path| -> String {
        p.strip_prefix(&root)
            .unwrap_or(p)
            .to_string_lossy()
            .into_owned()
    };
    let gate_rel = rel(&gate_dir);

    // Which steps.
    let known = gate::step_names(opts);
    for n in opts.only.iter().chain(&opts.skip) {
        if !known.contains(&n.as_str()) {
            return Err(format!("unknown step {n:?}; steps: {}", known.join(", ")));
        }
    }
    let cm_present = !opts.mutants || have_cargo_mutants(&root);
    let all_steps = gate::plan(opts, cm_present, &gate_rel);
    let steps: Vec<Step> = all_steps
        .iter()
        .filter(|s| opts.only.is_empty() || opts.only.iter().any(|o| o == s.name))
        .filter(|s| !opts.skip.iter().any(|o| o == s.name))
        .cloned()
        .collect();
    let partial = steps.len() != all_steps.len();
    if opts.list {
        for s in &steps {
            println!("{:<22} {}", s.name, s.command_line());
        }
        return Ok(ExitCode::SUCCESS);
    }

    let logs = gate_dir.join("logs");
    std::fs::create_dir_all(&logs).map_err(|e| format!("cannot create {}: {e}", logs.display()))?;
    // Logs of a previous run would be mistaken for this one's.
    if let Ok(entries) = std::fs::read_dir(&logs) {
        for e in entries.flatten() {
            if e.path().extension().is_some_and(|x| x == "log") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }

    // Matrix cells of a previous run would fill this run's matrix.
    let matrix_dir = gate_dir.join("results").join("matrix");
    let _ = std::fs::remove_dir_all(&matrix_dir);

    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .map_err(|e| format!("cannot install the signal handler: {e}"))?;
    }

    let budget = gate::budget(opts);
    println!(
        "gate: {} run, {} step(s){}; PROPTEST_CASES={}, {}; logs in {}/logs",
        if opts.quick { "quick" } else { "full" },
        steps.len(),
        if partial { " (partial)" } else { "" },
        budget.proptest_cases,
        budget.shuttle_iterations.map_or(
            "LOCKCORE_SHUTTLE_ITERATIONS unset (tests' default)".to_string(),
            |n| format!("{}={n}", gate::SHUTTLE_ITERATIONS)
        ),
        gate_rel
    );

    let catalogue = gate::catalogue();
    let step_ctx = gate::Context {
        catalogue: catalogue.clone(),
        ..gate::Context::default()
    };
    let mut outcomes: Vec<StepOutcome> = Vec::new();
    let n = steps.len();
    let mut interrupted = false;
    for (i, step) in steps.iter().enumerate() {
        let log = logs.join(format!("{}.log", step.name));
        print!("[{:>2}/{n}] {:<22} ", i + 1, step.name);
        let _ = std::io::stdout().flush();
        if opts.verbose {
            println!("\n$ {}", step.command_line());
        }
        // The follow-up cargo-mutants runs retest only what the earlier ones did not catch.
        let narrowed = match &step.kind {
            Kind::CargoMutants {
                features: Some(_), ..
            } => {
                let earlier: Vec<mutants_out::Outcomes> = outcomes
                    .iter()
                    .filter_map(|o| o.outcomes.as_ref().and_then(|r| r.as_ref().ok()))
                    // A run whose baseline failed tested nothing: it narrows nothing.
                    .filter(|o| {
                        o.baseline
                            .as_ref()
                            .is_none_or(|b| *b == mutants_out::Outcome::Success)
                    })
                    .cloned()
                    .collect();
                gate::narrow_cargo_mutants(step, &earlier)
            }
            _ => Some(step.clone()),
        };
        let Some(step) = narrowed else {
            let note = "nothing left to test: the earlier cargo-mutants runs caught (or found unviable) every mutant\n";
            let _ = std::fs::write(&log, note);
            println!("ok        0.0s  (nothing left to test)");
            outcomes.push(StepOutcome {
                step: step.clone(),
                exit: Exit::Code(0),
                seconds: 0.0,
                log: rel(&log),
                log_text: note.to_string(),
                outcomes: Some(Ok(mutants_out::Outcomes::default())),
                faults: None,
                stress: None,
            });
            continue;
        };
        let step = &step;
        if let Kind::CargoMutants { out, .. } = &step.kind {
            // cargo-mutants wants its --output directory to exist, and an outcomes.json of an
            // earlier gate run must not pass for this one's.
            let dir = root.join(out);
            let _ = std::fs::create_dir_all(&dir);
            let _ = std::fs::remove_file(dir.join("mutants.out").join("outcomes.json"));
        }
        // The step's result file (faults.json, stress.json); one of an earlier gate run must
        // not pass for this one's.
        let file = match step.name {
            "stress" => stress::FILE,
            "namespaces" => faults::NAMESPACES_FILE,
            _ => faults::FILE,
        };
        let results_json = step
            .env
            .iter()
            .find(|(k, _)| {
                k == faults::RESULTS_VAR && matches!(step.name, "faults" | "stress" | "namespaces")
            })
            .map(|(_, dir)| root.join(dir).join(file));
        if let Some(path) = &results_json {
            let _ = std::fs::remove_file(path);
        }
        let (exit, seconds) = runner::run(step, &root, &log, opts.verbose, &stop);
        let log_text = std::fs::read(&log)
            .map(|b| gate::strip_ansi(&String::from_utf8_lossy(&b)))
            .unwrap_or_default();
        let outcomes_json = match &step.kind {
            Kind::CargoMutants { out, .. } => {
                let path = root.join(out).join("mutants.out").join("outcomes.json");
                Some(
                    std::fs::read_to_string(&path)
                        .map_err(|e| format!("cannot read {}: {e}", path.display()))
                        .and_then(|t| mutants_out::parse_outcomes(&t).map_err(|e| e.to_string())),
                )
            }
            _ => None,
        };
        let results_text = results_json.map(|path| {
            std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", rel(&path)))
        });
        let (faults, stress) = match (step.name, results_text) {
            ("stress", Some(t)) => (None, Some(t.and_then(|t| stress::parse(&t)))),
            ("namespaces", Some(t)) => (Some(t.and_then(|t| faults::parse_namespaces(&t))), None),
            (_, Some(t)) => (Some(t.and_then(|t| faults::parse(&t))), None),
            (_, None) => (None, None),
        };
        let outcome = StepOutcome {
            step: step.clone(),
            exit: exit.clone(),
            seconds,
            log: rel(&log),
            log_text,
            outcomes: outcomes_json,
            faults,
            stress,
        };
        // Judge this step alone for the progress line.
        let verdict = gate::analyse(std::slice::from_ref(&outcome), &step_ctx);
        let layer = verdict.layers.first();
        let ok = layer.is_some_and(|l| l.ok);
        let mut tests = layer
            .and_then(|l| l.tests)
            .map_or(String::new(), |t| format!(" {t} tests"));
        if let Some(f) = layer.and_then(|l| l.faults.as_ref()) {
            tests.push_str(&format!(", {}", faults::describe(f)));
        }
        if let Some(s) = layer.and_then(|l| l.stress.as_ref()) {
            tests.push_str(&format!(", {}", stress::describe(s)));
        }
        if matches!(step.kind, Kind::Mutants { .. }) {
            let caught = verdict.mutant_results.iter().filter(|m| m.caught).count();
            tests.push_str(&format!(
                ", {caught}/{} mutants caught",
                verdict.mutant_results.len()
            ));
        }
        let elapsed = dur(started.elapsed().as_secs_f64());
        if ok {
            println!("ok     {:>7}{tests}  (total {elapsed})", dur(seconds));
        } else {
            println!(
                "FAILED {:>7}{tests}  (total {elapsed})\n         {}\n         log: {}\n         ---- last {} lines ----",
                dur(seconds),
                layer.and_then(|l| l.error.clone()).unwrap_or_default(),
                outcome.log,
                gate::TAIL_LINES
            );
            for l in gate::tail(&outcome.log_text, gate::TAIL_LINES).lines() {
                println!("         | {l}");
            }
        }
        outcomes.push(outcome);
        // A partial report after every step: a gate killed outright still leaves one.
        if i + 1 < n {
            let so_far = gate::Context {
                catalogue: catalogue.clone(),
                mode: if opts.quick { "quick" } else { "full" }.to_string(),
                partial: true,
                commit: None,
                seconds: started.elapsed().as_secs_f64(),
                budget: budget.clone(),
                mentions: Default::default(),
            };
            let mut r = gate::analyse(&outcomes, &so_far);
            r.ok = false;
            r.failures.insert(
                0,
                report::Failure {
                    what: format!("in progress: {} of {n} steps done", i + 1),
                    ..report::Failure::default()
                },
            );
            let _ = write_report(&gate_dir, &r);
        }
        if exit == Exit::Interrupted || stop.load(Ordering::Relaxed) {
            interrupted = true;
            break;
        }
        if opts.fail_fast && !ok {
            break;
        }
    }

    let ran = outcomes.len();
    let ctx = gate::Context {
        catalogue,
        mode: if opts.quick { "quick" } else { "full" }.to_string(),
        partial: partial || ran < n,
        commit: commit(&root),
        seconds: started.elapsed().as_secs_f64(),
        budget,
        mentions: properties::scan_sources(&root),
    };
    let mut report = gate::analyse(&outcomes, &ctx);
    judge_matrix(&mut report, &matrix_dir, &outcomes);
    if interrupted {
        report.ok = false;
        report.failures.insert(
            0,
            report::Failure {
                what: "interrupted".into(),
                ..report::Failure::default()
            },
        );
    } else if ran < n {
        report.ok = false;
        report.failures.push(report::Failure {
            what: format!("--fail-fast: stopped after {ran} of {n} steps"),
            ..report::Failure::default()
        });
    }

    let (json_path, md_path) = write_report(&gate_dir, &report)?;

    print_summary(&report, &rel(&md_path), &rel(&json_path));
    Ok(if interrupted {
        ExitCode::from(130)
    } else if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Fills the operation matrix from the cells the loom and shuttle steps wrote, and fails the gate
/// on a pair no model ran — once both steps have run (a partial run only reports).
fn judge_matrix(report: &mut report::Report, dir: &Path, outcomes: &[StepOutcome]) {
    let ran = |name: &str| outcomes.iter().any(|o| o.step.name == name);
    if !ran("loom") && !ran("shuttle") {
        return;
    }
    let cells = match matrix::read_cells(dir) {
        Ok(c) => c,
        Err(e) => {
            report.ok = false;
            report.failures.push(report::Failure {
                what: format!("operation matrix: {e}"),
                ..report::Failure::default()
            });
            return;
        }
    };
    report.matrix = matrix::build(&cells);
    let empty = matrix::empty(&report.matrix);
    if ran("loom") && ran("shuttle") && !empty.is_empty() {
        report.ok = false;
        report.failures.push(report::Failure {
            what: format!(
                "operation matrix: {} pair(s) ran in no loom or shuttle model: {}",
                empty.len(),
                empty.join(", ")
            ),
            ..report::Failure::default()
        });
    }
}

/// Writes report.json and report.md; returns their paths.
fn write_report(gate_dir: &Path, report: &report::Report) -> Result<(PathBuf, PathBuf), String> {
    let json = serde_json::to_string_pretty(report).map_err(|e| e.to_string())?;
    let json_path = gate_dir.join("report.json");
    let md_path = gate_dir.join("report.md");
    std::fs::write(&json_path, json + "\n")
        .map_err(|e| format!("cannot write {}: {e}", json_path.display()))?;
    std::fs::write(
        &md_path,
        report::render_markdown(report, &gate::MUTANT_LAYERS),
    )
    .map_err(|e| format!("cannot write {}: {e}", md_path.display()))?;
    Ok((json_path, md_path))
}

fn print_summary(r: &report::Report, md: &str, json: &str) {
    println!();
    let steps_ok = r.layers.iter().filter(|l| l.ok).count();
    println!("steps: {steps_ok}/{} passed", r.layers.len());
    if !r.mutant_results.is_empty() || r.mutants.iter().any(|m| m.caught) {
        let caught = r.mutants.iter().filter(|m| m.caught).count();
        println!("catalogue mutants caught: {caught}/{}", r.mutants.len());
        for m in &r.mutants {
            let cells: Vec<String> = gate::MUTANT_LAYERS
                .iter()
                .map(|l| format!("{l}:{}", m.by_layer.get(*l).map_or("-", String::as_str)))
                .collect();
            println!(
                "  {:<28} {:<4} {:<7} {}",
                m.id,
                m.expected_property,
                if m.caught { "caught" } else { "MISSED" },
                cells.join("  ")
            );
        }
    }
    if !r.coverage.is_empty() {
        let zero = r.coverage.values().filter(|v| **v == 0).count();
        println!(
            "coverage: {} entries, {} never exercised",
            r.coverage.len(),
            zero
        );
    }
    if let Some(cm) = &r.cargo_mutants {
        println!(
            "cargo-mutants: caught {}, missed {}, unviable {}, timeout {}",
            cm.counts.caught, cm.counts.missed, cm.counts.unviable, cm.counts.timeout
        );
    }
    if !r.failures.is_empty() {
        println!("\nFAILURES");
        for (i, f) in r.failures.iter().enumerate() {
            println!("\n{}. {}", i + 1, f.what);
            if let Some(p) = &f.property {
                println!("   property: {p}");
            }
            if f.what.starts_with("step ") {
                println!("   (its last {} lines are printed above)", gate::TAIL_LINES);
            } else if let Some(t) = &f.trace {
                println!("   trace:");
                for l in t.lines() {
                    println!("     {l}");
                }
            }
            if let Some(c) = &f.reproduce {
                println!("   reproduce:");
                for l in c.lines() {
                    println!("     {l}");
                }
            }
            if let Some(l) = &f.log {
                println!("   log: {l}");
            }
        }
    }
    println!(
        "\ngate: {}{} in {} — report: {md} ({json})",
        if r.ok { "PASS" } else { "FAIL" },
        if r.partial {
            " (partial run: not a merge verdict)"
        } else {
            ""
        },
        dur(r.seconds)
    );
}
