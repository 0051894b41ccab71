//! The merge gate: runs every verification layer within a budget, reads the result files the
//! layers write, and says *no* with a readable counterexample (target/gate/report.{md,json}).
//!
//! The plan (which steps, which commands) is `plan`; running a step is `run`; the verdict is
//! `judge`; the report's shape and its markdown are `report`. Test steps run under
//! `cargo nextest` (profile `gate`, `.config/nextest.toml`), whose JUnit file says which tests ran
//! and failed; what a layer *found* comes from its typed result files (`lockcore-results`).

mod judge;
mod junit;
mod options;
mod plan;
mod report;
mod run;

use clap::Parser;
pub use options::Options;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

fn main() -> ExitCode {
    let opts = Options::parse();
    match gate(&opts) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("gate: {e}");
            ExitCode::from(2)
        }
    }
}

fn gate(opts: &Options) -> Result<ExitCode, String> {
    let root = std::env::current_dir().map_err(|e| format!("working directory: {e}"))?;
    let gate_dir = root.join("target/gate");
    let steps = plan::steps(opts)?;
    if opts.list {
        steps.iter().for_each(|s| println!("{:<22} {}", s.name, s.command_line()));
        return Ok(ExitCode::SUCCESS);
    }
    let nextest = std::process::Command::new("cargo").args(["nextest", "--version"]).output();
    if steps.iter().any(|s| s.kind == plan::Kind::Tests) && !nextest.is_ok_and(|o| o.status.success()) {
        return Err("the test steps run under cargo-nextest: cargo install cargo-nextest --locked".into());
    }
    // A result file of an earlier run must not count; `cargo test`'s own are kept.
    let mut fresh = vec![gate_dir.join("logs")];
    fresh.extend((!opts.cargo_test_passed).then(|| gate_dir.join("results")));
    for d in fresh {
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in signal_hook::consts::TERM_SIGNALS {
        signal_hook::flag::register(*sig, Arc::clone(&stop)).map_err(|e| e.to_string())?;
    }
    let started = Instant::now();
    let outcomes = run_steps(&steps, opts, &root, &stop);
    let ctx = judge::Context {
        mode: if opts.mutants_only {
            "mutants-only"
        } else if opts.quick {
            "quick"
        } else {
            "full"
        }
        .to_string(),
        partial: !opts.only.is_empty() || !opts.skip.is_empty() || outcomes.len() < steps.len(),
        commit: commit(&root),
        seconds: started.elapsed().as_secs_f64(),
        budget: plan::budget(opts),
        passed_by_cargo_test: plan::RUN_BY_CARGO_TEST
            .iter()
            .filter(|_| opts.cargo_test_passed)
            .map(|s| s.to_string())
            .collect(),
        mutants_only: opts.mutants_only,
    };
    let r = judge::judge(&outcomes, &gate_dir.join("results"), &root, &ctx);
    let (md, json) = (gate_dir.join("report.md"), gate_dir.join("report.json"));
    let text = serde_json::to_string_pretty(&r).map_err(|e| e.to_string())? + "\n";
    for (path, text) in [(&json, text), (&md, report::markdown(&r))] {
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    print!("{}", report::summary(&r));
    println!("report: {} and {}", md.display(), json.display());
    Ok(ExitCode::from(if stop.load(Ordering::SeqCst) { 130 } else { u8::from(!r.ok) }))
}

/// Runs the steps in order, one progress line each (a failing step's log tail too), until the
/// end, a stop request, or the first failure under `--fail-fast`.
fn run_steps(steps: &[plan::Step], opts: &Options, root: &Path, stop: &AtomicBool) -> Vec<run::Outcome> {
    let (gate_dir, started) = (root.join("target/gate"), Instant::now());
    let mut outcomes = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let outcome = run::step(step, root, &gate_dir, stop);
        let line = judge::progress_line(&outcome, &gate_dir.join("results"));
        let total = report::dur(started.elapsed().as_secs_f64());
        println!("[{:>2}/{}] {:<18} {line}  (total {total})", i + 1, steps.len(), step.name);
        if opts.verbose || !outcome.ok_exit() {
            print!("{}", run::tail(&outcome.log, if opts.verbose { usize::MAX } else { 40 }));
        }
        let failed = !outcome.ok_exit();
        outcomes.push(outcome);
        if failed && opts.fail_fast {
            break;
        }
    }
    outcomes
}

/// `git rev-parse --short=12 HEAD`, with `-dirty` when the tree has changes.
fn commit(root: &Path) -> Option<String> {
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git").args(args).current_dir(root).output().ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let head = git(&["rev-parse", "--short=12", "HEAD"])?;
    let dirty = git(&["status", "--porcelain"]).is_some_and(|s| !s.is_empty());
    Some(if dirty { format!("{head}-dirty") } else { head })
}
