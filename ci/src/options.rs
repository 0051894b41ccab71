//! The gate's flags (`ci/gate --help`).

use clap::Parser;

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
    /// Run only the cargo-mutants passes (the nightly job): the verdict is theirs alone — every
    /// surviving mutant explained in ci/mutants/equivalent.txt — not a merge verdict.
    #[arg(long)]
    pub mutants_only: bool,
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
    /// `.ci/run` does): record test, real-processes, namespaces and mutants-proptest as passed by
    /// it, keep its result files, run the rest.
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
