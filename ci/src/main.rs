//! The merge gate: runs every verification layer within a budget, reads the result files the
//! layers write, and says *no* with a readable counterexample (target/gate/report.{md,json}).
//!
//! The plan (which steps, which commands) is `plan`; running a step is `run`; the verdict is
//! `judge`; the report's shape and its markdown are `report`. Test steps run under
//! `cargo nextest` (profile `gate`, `.config/nextest.toml`), whose JUnit file says which tests ran
//! and failed; what a layer *found* comes from its typed result files (`lockcore-results`).

mod cargo_mutants;
mod judge;
mod junit;
mod plan;
mod report;
mod run;

use clap::Parser;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Runs every verification layer of the workspace within a budget and writes
/// target/gate/report.json and target/gate/report.md. Exit 0 only if every step passes, every
/// catalogue mutant is caught by at least one layer, the proptest coverage is complete and the
/// operation matrix has no empty cell; 1 otherwise, 2 on a usage error, 130 when interrupted.
#[derive(Parser, Clone, Debug, Default)]
#[command(name = "ci/gate")]
pub struct Options {
    /// Pull-request budget: 256 proptest cases, 100 shuttle schedules, quick faults and stress, the
    /// loom matrix at bound 2, 600 s per step.
    #[arg(long, overrides_with = "full")]
    pub quick: bool,
    /// The full budget (the default).
    #[arg(long)]
    pub full: bool,
    /// Also run cargo-mutants over lockcore (installed if missing).
    #[arg(long)]
    pub mutants: bool,
    /// cargo-mutants: only shard K of N (0-based).
    #[arg(long, value_name = "K/N")]
    pub mutants_shard: Option<String>,
    /// cargo-mutants: N parallel jobs.
    #[arg(long, value_name = "N")]
    pub mutants_jobs: Option<u32>,
    /// PROPTEST_CASES of the proptest step (quick 256, full 8192).
    #[arg(long, value_name = "N")]
    pub proptest_cases: Option<u64>,
    /// LOCKCORE_SHUTTLE_ITERATIONS of the shuttle step (quick 100, full: the tests' default).
    #[arg(long, value_name = "N")]
    pub shuttle_iterations: Option<u64>,
    /// Kill a step after SECS (quick 600, full 1800, cargo-mutants 4 h).
    #[arg(long, value_name = "SECS")]
    pub step_timeout: Option<u64>,
    /// Run only these steps (a partial run: never a pass).
    #[arg(long, value_delimiter = ',', value_name = "STEP,…")]
    pub only: Vec<String>,
    /// Leave these steps out (a partial run: never a pass).
    #[arg(long, value_delimiter = ',', value_name = "STEP,…")]
    pub skip: Vec<String>,
    /// `cargo test` just passed at the root with LOCKCORE_RESULTS_DIR=target/gate/results (as
    /// `.ci/run` does): record test, real-processes and namespaces as passed by it, keep its
    /// result files, run the rest.
    #[arg(long)]
    pub cargo_test_passed: bool,
    /// Stop at the first failing step.
    #[arg(long)]
    pub fail_fast: bool,
    /// Print each step's whole log after it, not only a failing step's last 40 lines.
    #[arg(short, long)]
    pub verbose: bool,
    /// Print the steps and their commands; run nothing.
    #[arg(long)]
    pub list: bool,
}

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

/// `12.3s` or `4m05s`.
pub fn dur(secs: f64) -> String {
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        let s = secs.round() as u64;
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

fn gate(opts: &Options) -> Result<ExitCode, String> {
    let root = std::env::current_dir().map_err(|e| format!("working directory: {e}"))?;
    let gate_dir = root.join("target/gate");
    let steps = plan::steps(opts, have_cargo_mutants(&root))?;
    if opts.list {
        for s in &steps {
            println!("{:<22} {}", s.name, s.command_line());
        }
        return Ok(ExitCode::SUCCESS);
    }
    prepare(&gate_dir, opts)?;
    let stop = Arc::new(AtomicBool::new(false));
    for sig in signal_hook::consts::TERM_SIGNALS {
        signal_hook::flag::register(*sig, Arc::clone(&stop)).map_err(|e| e.to_string())?;
    }
    let started = Instant::now();
    let mut outcomes = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let outcome = run::step(step, &root, &gate_dir, &stop);
        let line = judge::progress_line(&outcome, &gate_dir.join("results"));
        println!(
            "[{:>2}/{}] {:<18} {line}  (total {})",
            i + 1,
            steps.len(),
            step.name,
            dur(started.elapsed().as_secs_f64())
        );
        if opts.verbose || !outcome.ok_exit() {
            print!("{}", run::tail(&outcome.log, if opts.verbose { usize::MAX } else { 40 }));
        }
        let failed = !outcome.ok_exit();
        outcomes.push(outcome);
        if failed && opts.fail_fast {
            break;
        }
    }
    let interrupted = stop.load(Ordering::SeqCst);
    let ctx = judge::Context {
        mode: if opts.quick { "quick" } else { "full" }.to_string(),
        partial: !opts.only.is_empty() || !opts.skip.is_empty() || outcomes.len() < steps.len(),
        commit: commit(&root),
        seconds: started.elapsed().as_secs_f64(),
        budget: plan::budget(opts),
        passed_by_cargo_test: if opts.cargo_test_passed {
            plan::RUN_BY_CARGO_TEST.iter().map(|s| s.to_string()).collect()
        } else {
            Vec::new()
        },
    };
    let r = judge::judge(&outcomes, &gate_dir.join("results"), &root, &ctx);
    let md = gate_dir.join("report.md");
    let json = gate_dir.join("report.json");
    let text = serde_json::to_string_pretty(&r).map_err(|e| e.to_string())?;
    std::fs::write(&json, text + "\n").map_err(|e| format!("{}: {e}", json.display()))?;
    std::fs::write(&md, report::markdown(&r)).map_err(|e| format!("{}: {e}", md.display()))?;
    print!("{}", report::summary(&r));
    println!("report: {} and {}", md.display(), json.display());
    Ok(match (interrupted, r.ok) {
        (true, _) => ExitCode::from(130),
        (false, true) => ExitCode::SUCCESS,
        (false, false) => ExitCode::from(1),
    })
}

/// A fresh results and logs directory: a result file from an earlier run must not count. Result
/// files already there are kept only when `cargo test` just wrote them (`--cargo-test-passed`).
fn prepare(gate_dir: &Path, opts: &Options) -> Result<(), String> {
    let mut dirs: Vec<PathBuf> = vec![gate_dir.join("logs")];
    if !opts.cargo_test_passed {
        dirs.push(gate_dir.join("results"));
    }
    for d in dirs {
        match std::fs::remove_dir_all(&d) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("{}: {e}", d.display())),
        }
        std::fs::create_dir_all(&d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    Ok(())
}

/// `git rev-parse --short=12 HEAD`, with `-dirty` when the tree has changes.
fn commit(root: &Path) -> Option<String> {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(root)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let head = git(&["rev-parse", "--short=12", "HEAD"])?;
    let dirty = git(&["status", "--porcelain"]).is_some_and(|s| !s.is_empty());
    Some(if dirty { format!("{head}-dirty") } else { head })
}

fn have_cargo_mutants(root: &Path) -> bool {
    std::process::Command::new("cargo")
        .args(["mutants", "--version"])
        .current_dir(root)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
