//! Running a scenario as a model body, counting executions, and turning a mutant twin's caught
//! panic into a [`MutantResult`] line.

use lockcore::Mutant;
use models::oracle::{property_in, Violation};
use models::report::MutantResult;
use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};

std::thread_local! {
    /// Executions started on this OS thread. loom and shuttle run every execution of a model on
    /// the test's own OS thread (as coroutines), so a thread-local counts one test's executions
    /// even while other tests run in parallel.
    static EXECUTIONS: Cell<u64> = const { Cell::new(0) };
    /// The trace of the last scenario execution that finished on this OS thread.
    static LAST_TRACE: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
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
/// Emits the [`MutantResult`] line with the failing execution's trace, the executions until the
/// failure and the seconds, then asserts that the violation was found and names `expected`.
pub fn expect_caught(layer: &str, test: &str, mutant: Mutant, expected: &str, run: impl FnOnce()) {
    reset_executions();
    let start = now();
    let outcome = panic::catch_unwind(AssertUnwindSafe(run));
    let seconds = start.elapsed().as_secs_f64();
    let iterations = executions();
    let (caught, property, trace) = match &outcome {
        Ok(()) => (false, None, String::new()),
        Err(payload) => {
            let text = panic_text(payload.as_ref());
            let property = property_in(&text).map(str::to_string);
            // The violation line (`Pn violated: …`) followed by the numbered trace.
            let trace = match text.find(" violated: ") {
                Some(at) if property.is_some() => {
                    let start = text[..at].rfind('P').unwrap_or(0);
                    text[start..].to_string()
                }
                _ => text.clone(),
            };
            (property.is_some(), property, trace)
        }
    };
    let result = MutantResult {
        id: mutant.id().to_string(),
        layer: layer.to_string(),
        test: test.to_string(),
        caught,
        property: property.clone(),
        seconds,
        iterations,
        trace: trace.clone(),
    };
    result.emit();
    assert!(
        caught,
        "{layer} did not catch mutant {mutant} in {iterations} executions ({seconds:.3} s){}",
        if trace.is_empty() {
            String::new()
        } else {
            format!(": the run failed without a property violation:\n{trace}")
        }
    );
    assert_eq!(
        property.as_deref(),
        Some(expected),
        "mutant {mutant}: {layer} found a violation of another property than expected"
    );
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
    builder.check(move || model_body(|| scenario(&cfg)));
    executions() - before
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
    shuttle::Runner::new(scheduler, config).run(move || model_body(|| scenario(&cfg)));
    executions() - before
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
