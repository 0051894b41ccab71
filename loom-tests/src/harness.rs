//! Running a scenario as a model body, counting executions, and turning a model run into a
//! result file (`lockcore-results`): a mutant twin's caught panic into its [`TestResult`], and the
//! passing model runs of a test into that test's.

use lockcore::Mutant;
use lockcore_results::{Record, TestResult, Verdict};
use models::oracle::{property_in, Violation};
use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};

std::thread_local! {
    /// Executions started on this OS thread. loom and shuttle run every execution of a model on
    /// the test's own OS thread (as coroutines), so a thread-local counts one test's executions
    /// even while other tests run in parallel.
    static EXECUTIONS: Cell<u64> = const { Cell::new(0) };
    /// The trace of the last scenario execution that finished on this OS thread.
    static LAST_TRACE: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    /// Set while a twin runs ([`expect_caught`]): its model runs are the twin's, not a test's.
    static IN_TWIN: Cell<bool> = const { Cell::new(false) };
    /// The passing model runs of the test on this OS thread so far: (executions, seconds).
    static PASSED: Cell<(u64, f64)> = const { Cell::new((0, 0.0)) };
}

/// Records the trace of a finished scenario execution (called by the scenarios).
pub fn record_trace(trace: String) {
    LAST_TRACE.with(|t| *t.borrow_mut() = trace);
}

/// The trace of the last scenario execution that finished on this thread.
pub fn last_trace() -> String {
    LAST_TRACE.with(|t| t.borrow().clone())
}

/// Call at the start of every model execution.
pub fn begin_execution() {
    EXECUTIONS.with(|c| c.set(c.get() + 1));
}

/// Executions started on this thread since the last [`reset_executions`].
pub fn executions() -> u64 {
    EXECUTIONS.with(Cell::get)
}

/// Resets the execution counter.
pub fn reset_executions() {
    EXECUTIONS.with(|c| c.set(0));
}

/// A model body: counts the execution, runs the scenario, and panics with the violation's
/// Display (`Pn violated: …` followed by the trace) if the oracles found one.
pub fn model_body(scenario: impl FnOnce() -> Result<(), Violation>) {
    begin_execution();
    if let Err(v) = scenario() {
        panic!("{v}");
    }
}

/// A stopwatch for budgets. Test timing is the one place real time is read: it measures the
/// checker, never drives the model.
#[allow(clippy::disallowed_methods)]
pub fn now() -> std::time::Instant {
    std::time::Instant::now()
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_string()
    } else {
        "<non-string panic>".to_string()
    }
}

/// Runs a mutant twin: `run` must fail (panic) with a violation of `expected` (e.g. `"P3"`).
/// Writes the twin's [`TestResult`] (verdict `Violated` if a property was violated, else `Passed`:
/// missed) with the failing execution's violation and trace, the executions until the failure and
/// the seconds, prints its summary, then asserts that the violation was found and names
/// `expected`.
pub fn expect_caught(layer: &str, test: &str, mutant: Mutant, expected: &str, run: impl FnOnce()) {
    reset_executions();
    IN_TWIN.with(|t| t.set(true));
    let start = now();
    let outcome = panic::catch_unwind(AssertUnwindSafe(run));
    let seconds = start.elapsed().as_secs_f64();
    IN_TWIN.with(|t| t.set(false));
    let iterations = executions();
    let (property, message, trace) = match &outcome {
        Ok(()) => (None, None, Vec::new()),
        Err(payload) => {
            let text = panic_text(payload.as_ref());
            let property = property_in(&text).map(str::to_string);
            match text.find(" violated: ") {
                // The violation line (`Pn violated: …`), then the numbered trace.
                Some(at) if property.is_some() => {
                    let from = text[..at].rfind('P').unwrap_or(0);
                    let (first, rest) =
                        text[from..].split_once('\n').unwrap_or((&text[from..], ""));
                    (
                        property,
                        Some(first.to_string()),
                        models::report::steps(rest),
                    )
                }
                // A failure that names no property (a harness panic, a deadlock): not caught.
                _ => (None, Some(text.clone()), Vec::new()),
            }
        }
    };
    let caught = property.is_some();
    models::report::report(TestResult {
        layer: layer.to_string(),
        test: test.to_string(),
        mutant: Some(mutant.id().to_string()),
        verdict: if caught {
            Verdict::Violated
        } else {
            Verdict::Passed
        },
        property: property.clone(),
        message: message.clone(),
        iterations,
        seconds,
        trace,
        reason: None,
    });
    assert!(
        caught,
        "{layer} did not catch mutant {mutant} in {iterations} executions ({seconds:.3} s){}",
        match &message {
            None => String::new(),
            Some(m) => format!(": the run failed without a property violation:\n{m}"),
        }
    );
    assert_eq!(
        property.as_deref(),
        Some(expected),
        "mutant {mutant}: {layer} found a violation of another property than expected"
    );
}

/// The running test as `<test binary>::<test function>`: libtest runs each test on a thread
/// named after it (also under nextest, one test per process). `None` off a test thread.
fn current_test() -> Option<String> {
    let thread = std::thread::current();
    let name = thread.name().filter(|n| *n != "main")?;
    let exe = std::env::current_exe().ok()?;
    let stem = exe.file_stem()?.to_str()?;
    // Cargo names a test binary `<target>-<hash>`.
    let binary = stem.rsplit_once('-').map_or(stem, |(b, _)| b);
    Some(format!("{binary}::{name}"))
}

/// A model run of the correct lockcore (`cfg.mutant` unset, outside a twin) ended without a
/// violation: adds it to the running test's passing runs and (re)writes that test's result file
/// (`tests/<layer>-<binary>.<test>.json`, verdict `Passed`, the executions or schedules of all its
/// runs so far). The file records the model runs, not the test's other assertions: whether the
/// test as a whole passed is the test runner's verdict.
fn passed_run(layer: &str, cfg: &crate::scenarios::Cfg, executions: u64, seconds: f64) {
    if cfg.mutant.is_some() || IN_TWIN.with(Cell::get) {
        return;
    }
    let Some(test) = current_test() else {
        return;
    };
    let (n, s) = PASSED.with(|p| {
        let (n, s) = p.get();
        p.set((n + executions, s + seconds));
        p.get()
    });
    Record::Test(TestResult {
        layer: layer.to_string(),
        test,
        mutant: None,
        verdict: Verdict::Passed,
        property: None,
        message: None,
        iterations: n,
        seconds: s,
        trace: Vec::new(),
        reason: None,
    })
    .write_or_warn();
}

/// Explores `scenario` exhaustively with loom, within `preemption_bound` (`None`: unbounded).
/// Returns the number of executions explored. `max_branches` is raised from loom's default
/// 1000, since one lockcore acquisition is a few dozen steps.
#[cfg(feature = "loom")]
pub fn loom_model(
    preemption_bound: Option<usize>,
    scenario: impl Fn(&crate::scenarios::Cfg) -> Result<(), Violation> + Send + Sync + 'static,
    cfg: crate::scenarios::Cfg,
) -> u64 {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = preemption_bound;
    builder.max_branches = 100_000;
    let before = executions();
    let start = now();
    builder.check(move || model_body(|| scenario(&cfg)));
    let n = executions() - before;
    passed_run("loom", &cfg, n, start.elapsed().as_secs_f64());
    n
}

/// The schedule budget of a passing shuttle scenario: `LOCKCORE_SHUTTLE_ITERATIONS` when set to a
/// positive number (the gate's `--quick` lowers it), else `default`. Bug hunts keep their own
/// budgets: they stop at the first counterexample anyway.
pub fn shuttle_schedules(default: usize) -> usize {
    std::env::var("LOCKCORE_SHUTTLE_ITERATIONS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

/// Runs `scenario` under shuttle's PCT scheduler with a fixed seed: `iterations` schedules of
/// bug depth `depth`. Returns the number of schedules run.
#[cfg(feature = "shuttle")]
pub fn shuttle_pct(
    seed: u64,
    depth: usize,
    iterations: usize,
    scenario: impl Fn(&crate::scenarios::Cfg) -> Result<(), Violation> + Send + Sync + 'static,
    cfg: crate::scenarios::Cfg,
) -> u64 {
    let scheduler = shuttle::scheduler::PctScheduler::new_from_seed(seed, depth, iterations);
    shuttle_run(scheduler, shuttle::Config::new(), scenario, cfg)
}

/// Runs `scenario` under shuttle's random scheduler with a fixed seed for `iterations`
/// schedules. Returns the number of schedules run.
#[cfg(feature = "shuttle")]
pub fn shuttle_random(
    seed: u64,
    iterations: usize,
    scenario: impl Fn(&crate::scenarios::Cfg) -> Result<(), Violation> + Send + Sync + 'static,
    cfg: crate::scenarios::Cfg,
) -> u64 {
    let scheduler = shuttle::scheduler::RandomScheduler::new_from_seed(seed, iterations);
    shuttle_run(scheduler, shuttle::Config::new(), scenario, cfg)
}

/// Runs `scenario` under any shuttle scheduler and configuration.
#[cfg(feature = "shuttle")]
pub fn shuttle_run<S: shuttle::scheduler::Scheduler + 'static>(
    scheduler: S,
    config: shuttle::Config,
    scenario: impl Fn(&crate::scenarios::Cfg) -> Result<(), Violation> + Send + Sync + 'static,
    cfg: crate::scenarios::Cfg,
) -> u64 {
    let before = executions();
    let start = now();
    shuttle::Runner::new(scheduler, config).run(move || model_body(|| scenario(&cfg)));
    let n = executions() - before;
    passed_run("shuttle", &cfg, n, start.elapsed().as_secs_f64());
    n
}

/// A loom mutant twin: explores the mutant's scenario (see
/// [`crate::scenarios::scenario_for`]) with `cfg` (whose `mutant` is set here) within
/// `preemption_bound`, and asserts that loom finds a violation of the expected property.
#[cfg(feature = "loom")]
pub fn loom_twin(
    test: &str,
    mutant: Mutant,
    preemption_bound: Option<usize>,
    mut cfg: crate::scenarios::Cfg,
) {
    let (_, scenario, expected) = crate::scenarios::scenario_for(mutant);
    cfg.mutant = Some(mutant);
    expect_caught("loom", test, mutant, expected, move || {
        loom_model(preemption_bound, scenario, cfg);
    });
}

/// A shuttle mutant twin: runs the mutant's scenario at shuttle size under PCT (seed, depth 3)
/// and then, if PCT did not fail it, under the random scheduler (same seed), and asserts that a
/// violation of the expected property is found.
#[cfg(feature = "shuttle")]
pub fn shuttle_twin(test: &str, mutant: Mutant, seed: u64, schedules: usize) {
    let (_, scenario, expected) = crate::scenarios::scenario_for(mutant);
    let cfg = crate::scenarios::Cfg::shuttle(Some(mutant));
    expect_caught("shuttle", test, mutant, expected, move || {
        shuttle_pct(seed, 3, schedules, scenario, cfg);
        shuttle_random(seed, schedules, scenario, cfg);
    });
}
