//! Runs generated histories against the real system step by step and checks, after every step,
//! that lockcore did what the reference model says (outcome, directory, registries, guards) and
//! that the model's own invariants (P1, P3, P4, P9 and the deletion record) hold. A divergence
//! becomes a [`Violation`] naming the property, via [`models::reference::diagnose`]; a directory,
//! registry or guard that differs from the model's is named by the same judge
//! ([`models::judge`]), which loom and shuttle ask too.

use crate::machine::{LockMachine, RefState, Transition};
use crate::system::System;
use lockcore::{Acquired, Policy, Released, Verdict};
use models::judge::{self, Finding};
use models::oracle::Violation;
use models::reference::{diagnose, Content, Model, Op, Outcome};
use proptest::test_runner::{
    Config, FileFailurePersistence, RngSeed, TestCaseError, TestError, TestRunner,
};
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Counts of transition kinds, classification reasons and outcomes.
pub type Counts = BTreeMap<String, u64>;

/// A failed step.
#[derive(Clone, Debug)]
pub struct Failure {
    /// 1-based index of the failing transition.
    pub step: usize,
    /// What was violated.
    pub violation: Violation,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "step {}: {}", self.step, self.violation)
    }
}

/// The real system, plus what it takes to rebuild the model state before any step: the
/// initial state and the transitions so far (replayed only when a step diverges, so a passing
/// step costs no copy of the model).
pub struct Harness {
    sys: System,
    init: RefState,
    history: Vec<Transition>,
    step: usize,
}

/// A failed step, named by the judge's `finding` (a harness that cannot run a step is P12).
fn fail(step: usize, finding: Finding, message: String, model: &Model) -> Failure {
    Failure {
        step,
        violation: finding.violation(message, model.trace()),
    }
}

fn outcome_label(o: &Outcome) -> String {
    match o {
        Outcome::Acquired(Acquired::Fresh) => "outcome-acquired-fresh".into(),
        Outcome::Acquired(Acquired::Reentered) => "outcome-reentered".into(),
        Outcome::Acquired(Acquired::Reclaimed(r)) => format!("outcome-reclaimed-{}", r.as_str()),
        Outcome::Busy(_) => "outcome-busy".into(),
        Outcome::Released(Released::Decremented(_)) => "outcome-released-decremented".into(),
        Outcome::Released(Released::Removed) => "outcome-released-removed".into(),
        Outcome::Released(Released::NotOurs) => "outcome-released-not-ours".into(),
        Outcome::Released(Released::Inert) => "outcome-released-inert".into(),
        Outcome::ReleasedAll { .. } => "outcome-released-all".into(),
        Outcome::Cleaned { refused, .. } if !refused.is_empty() => {
            "outcome-refused-directory".into()
        }
        Outcome::Cleaned { non_regular, .. } if !non_regular.is_empty() => {
            "outcome-swept-non-regular".into()
        }
        Outcome::Cleaned { removed, .. } if !removed.is_empty() => "outcome-swept-some".into(),
        Outcome::NotRegular(_) => "outcome-not-regular".into(),
        Outcome::Cleaned { .. } => "outcome-swept-none".into(),
        Outcome::Inspected(_) => "outcome-inspected".into(),
        Outcome::Refreshed { compromised, .. } if !compromised.is_empty() => {
            "outcome-refresh-compromised".into()
        }
        Outcome::Refreshed { refreshed, .. } if !refreshed.is_empty() => {
            "outcome-refresh-touched".into()
        }
        Outcome::Refreshed { .. } => "outcome-refresh-nothing".into(),
        other => format!("outcome-{other:?}").to_lowercase(),
    }
}

impl Harness {
    /// Sets up the real system for the initial reference state.
    pub fn new(policy: Policy, init: &RefState) -> Result<Self, Failure> {
        let sys = System::new(policy, &init.model).map_err(|e| {
            fail(
                0,
                judge::harness_failed(),
                format!("temp dir: {e}"),
                &init.model,
            )
        })?;
        Ok(Harness {
            sys,
            init: init.clone(),
            history: Vec::new(),
            step: 0,
        })
    }

    /// The model as it was before the current step.
    fn model_before(&self) -> Model {
        let mut state = self.init.clone();
        for t in &self.history[..self.history.len().saturating_sub(1)] {
            state = LockMachine::apply(state, t);
        }
        state.model
    }

    /// Applies the step the reference state `after` has just taken to the real system and checks
    /// everything; counts coverage into `counts`.
    pub fn step(
        &mut self,
        transition: &Transition,
        after: &RefState,
        counts: Option<&mut Counts>,
    ) -> Result<(), Failure> {
        self.step += 1;
        self.history.push(transition.clone());
        let step = self.step;
        let (Some(op), Some(expected)) = (&after.last_op, &after.last) else {
            return Err(fail(
                step,
                judge::harness_failed(),
                "no step recorded".into(),
                &after.model,
            ));
        };
        if let Some(counts) = counts {
            for l in &after.labels {
                *counts.entry((*l).to_string()).or_default() += 1;
            }
            for v in &expected.verdicts {
                let key = match v {
                    Verdict::Live(r) => format!("reason-live-{}", r.as_str()),
                    Verdict::Stale(r) => format!("reason-stale-{}", r.as_str()),
                };
                *counts.entry(key).or_default() += 1;
            }
            *counts.entry(outcome_label(&expected.outcome)).or_default() += 1;
        }
        self.check(step, op, &expected.outcome, expected.guard, after)
    }

    fn check(
        &mut self,
        step: usize,
        op: &Op,
        expected: &Outcome,
        guard: Option<u64>,
        after: &RefState,
    ) -> Result<(), Failure> {
        let model = &after.model;
        let actual = self
            .sys
            .execute(op, model, guard)
            .map_err(|e| fail(step, judge::harness_failed(), format!("{op}: {e}"), model))?;

        // 1. The outcome is the model's.
        if actual != *expected {
            return Err(Failure {
                step,
                violation: diagnose(&self.model_before(), op, expected, &actual),
            });
        }
        // 1b. inspect reports the ages the model computes (P7: createdAt, or the mtime for a
        //     malformed file or a future createdAt).
        if let Op::Inspect(_, dir) = op {
            let want = model.ages(dir);
            if self.sys.last_ages != want {
                return Err(fail(
                    step,
                    judge::ages_differ(),
                    format!(
                        "{op}: inspect ages {:?}, the model's {want:?}",
                        self.sys.last_ages
                    ),
                    model,
                ));
            }
        }
        // 2. Start times agree (the harness's own consistency).
        if let Op::Spawn(p) | Op::ExecRestart(p) | Op::ReusePid(p) = op {
            let model_start = model.procs.get(p).map(|pr| pr.start_time);
            if self.sys.start_time(p) != model_start {
                return Err(fail(
                    step,
                    judge::harness_failed(),
                    format!("harness: start time of {p} differs from the model's"),
                    model,
                ));
            }
        }
        // 3. The directory is the model's (names and contents; lockcore's payloads field by
        //    field through the nonce/token maps). Steps that only change the simulated world
        //    or the clock never reach the file system: skip the (syscall-bound) listing.
        if matches!(
            op,
            Op::Advance(_)
                | Op::SetEperm(..)
                | Op::Crash(_)
                | Op::ExecRestart(_)
                | Op::ReusePid(_)
                | Op::Stop(_)
                | Op::Cont(_)
                | Op::UseManualHeartbeat(_)
                | Op::KillNamespace(_)
                | Op::RestartNamespace(_)
        ) {
            return self.check_registries_and_guards(step, op, model);
        }
        let real = self.sys.files().map_err(|e| {
            fail(
                step,
                judge::harness_failed(),
                format!("listing: {e}"),
                model,
            )
        })?;
        let modelled: BTreeMap<PathBuf, Content> = model
            .files
            .iter()
            .map(|(p, f)| (p.clone(), f.content.clone()))
            .collect();
        if real != modelled {
            return Err(self.directory_violation(step, op, &real, &modelled, model));
        }
        self.check_registries_and_guards(step, op, model)
    }

    fn check_registries_and_guards(
        &self,
        step: usize,
        op: &Op,
        model: &Model,
    ) -> Result<(), Failure> {
        // 4. Registries: the same locks with the same counts.
        let registries = self.sys.registries();
        for (key, held) in &registries {
            let want: BTreeMap<PathBuf, u32> = model
                .instance(key)
                .map(|i| i.holds.iter().map(|(p, h)| (p.clone(), h.count)).collect())
                .unwrap_or_default();
            if *held != want {
                // P4 after release_all, else P9 (the judge's registry rule).
                let after_release_all = matches!(op, Op::ReleaseAll(_) | Op::RestartInPlace(_));
                return Err(fail(
                    step,
                    judge::registry_differs(after_release_all),
                    format!("{op}: {key}'s registry is {held:?}, the model's {want:?}"),
                    model,
                ));
            }
        }
        // 5. Guards: held exactly while their hold is registered, not revoked and not found
        //    compromised by a refresh (P15).
        for (id, held) in self.sys.guards_held() {
            let want = model.guards.get(&id).is_some_and(|g| {
                !g.released
                    && !g.revoked
                    && model
                        .instance(&g.proc)
                        .and_then(|i| i.holds.get(&g.path))
                        .is_some_and(|h| h.id == g.hold && !h.compromised)
            });
            if held != want {
                // P15 when a refresh found it compromised, else P9 or P5.
                return Err(fail(
                    step,
                    judge::guard_differs(model.guard_hold_compromised(id), want),
                    format!("{op}: guard {id} is_held() = {held}, the model says {want}"),
                    model,
                ));
            }
        }
        // 6. The model's own invariants (a failure here is a bug of the model).
        model.check_invariants().map_err(|v| Failure {
            step,
            violation: Violation::new(
                v.property,
                format!("the reference model itself: {}", v.message),
                v.trace,
            ),
        })
    }

    fn directory_violation(
        &self,
        step: usize,
        op: &Op,
        real: &BTreeMap<PathBuf, Content>,
        modelled: &BTreeMap<PathBuf, Content>,
        model: &Model,
    ) -> Failure {
        let gone: Vec<&PathBuf> = modelled.keys().filter(|p| !real.contains_key(*p)).collect();
        let extra: Vec<&PathBuf> = real.keys().filter(|p| !modelled.contains_key(*p)).collect();
        let changed: Vec<&PathBuf> = real
            .iter()
            .filter(|(p, c)| modelled.get(*p).is_some_and(|m| m != *c))
            .map(|(p, _)| p)
            .collect();
        // A hostile entry or a link's target gone or changed: written or deleted through it.
        let hostile = |p: &&PathBuf| {
            model.files.iter().any(|(q, f)| match &f.content {
                Content::NotRegular { target, .. } => q == *p || target.as_ref() == Some(*p),
                _ => false,
            })
        };
        // P16, P11, P4, P2, P9 or P1, most specific first: the judge's directory rule.
        let finding = judge::directory_differs(
            gone.iter().chain(changed.iter()).any(hostile),
            extra.iter().any(|p| models::reference::is_temp_name(p)),
            !gone.is_empty(),
            !extra.is_empty(),
            matches!(op, Op::ReleaseAll(_) | Op::RestartInPlace(_)),
        );
        fail(
            step,
            finding,
            format!(
                "{op}: the directory differs from the model: lockcore removed {gone:?}, left {extra:?}, changed {changed:?}"
            ),
            model,
        )
    }
}

/// Runs one generated history; `seen` is proptest-state-machine's shrinking counter.
pub fn run_case(
    policy: &Policy,
    init: RefState,
    transitions: &[Transition],
    seen: Option<&AtomicUsize>,
    mut counts: Option<&mut Counts>,
) -> Result<(), Failure> {
    let mut harness = Harness::new(policy.clone(), &init)?;
    let mut state = init;
    for t in transitions {
        if let Some(s) = seen {
            s.fetch_add(1, Ordering::SeqCst);
        }
        state = LockMachine::apply(state, t);
        harness.step(t, &state, counts.as_deref_mut())?;
    }
    Ok(())
}

/// The failing history as numbered steps: each operation with the model's outcome.
pub fn numbered_steps(init: &RefState, transitions: &[Transition]) -> String {
    let mut state = init.clone();
    let mut out = String::new();
    for (i, t) in transitions.iter().enumerate() {
        state = LockMachine::apply(state, t);
        let op = state
            .last_op
            .as_ref()
            .map(|o| o.to_string())
            .unwrap_or_default();
        let outcome = state
            .last
            .as_ref()
            .map(|r| format!("{:?}", r.outcome))
            .unwrap_or_default();
        out.push_str(&format!("{}. {op} => {outcome}\n", i + 1));
    }
    out
}

/// How a state-machine run ended.
#[derive(Debug)]
pub struct RunReport {
    /// Cases run (until the first failure, if any).
    pub cases: u64,
    /// Seconds until the first failure, or for the whole run.
    pub seconds: f64,
    /// Coverage counts over the passing cases.
    pub counts: Counts,
    /// The minimal failure found, if any.
    pub failure: Option<MinimalFailure>,
}

/// A shrunk counterexample.
#[derive(Debug)]
pub struct MinimalFailure {
    /// The property violated.
    pub property: String,
    /// The violation on the shrunk history.
    pub message: String,
    /// The shrunk history as numbered steps.
    pub steps: String,
    /// The shrunk transitions.
    pub transitions: Vec<Transition>,
}

/// Cases per run: `PROPTEST_CASES` if set, else `default`.
pub fn cases_from_env(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A deterministic proptest configuration.
pub fn config(cases: u32, seed: u64, persist: Option<&'static str>) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: persist.map(|p| Box::new(FileFailurePersistence::Direct(p)) as Box<_>),
        max_shrink_iters: 4096,
        ..Config::default()
    }
}

/// Runs the state machine with `policy` (the model is always the spec) over histories of up to
/// `max_len` transitions. Returns the run's report; `failure` holds the shrunk counterexample.
pub fn run_machine(policy: &Policy, config: Config, max_len: usize) -> RunReport {
    let clock = std::time::Instant::now();
    let cases = Cell::new(0u64);
    let first_failure: Cell<Option<(u64, f64)>> = Cell::new(None);
    let counts = RefCell::new(Counts::new());
    let strategy = LockMachine::sequential_strategy(1..=max_len);
    let mut runner = TestRunner::new(config);
    let result = runner.run(&strategy, |(init, transitions, seen)| {
        let counting = first_failure.get().is_none();
        if counting {
            cases.set(cases.get() + 1);
        }
        let mut local = Counts::new();
        let r = run_case(
            policy,
            init,
            &transitions,
            seen.as_deref(),
            counting.then_some(&mut local),
        );
        match r {
            Ok(()) => {
                let mut all = counts.borrow_mut();
                for (k, v) in local {
                    *all.entry(k).or_default() += v;
                }
                Ok(())
            }
            Err(f) => {
                if first_failure.get().is_none() {
                    first_failure.set(Some((cases.get(), clock.elapsed().as_secs_f64())));
                }
                Err(TestCaseError::fail(f.to_string()))
            }
        }
    });
    let (n, secs) = first_failure
        .get()
        .unwrap_or((cases.get(), clock.elapsed().as_secs_f64()));
    let failure = match result {
        Ok(()) => None,
        Err(TestError::Fail(reason, (_, transitions, _))) => {
            // Re-run the shrunk history for its violation (deterministic), now with the model's
            // trace recorded.
            let init = RefState::initial();
            let replay = run_case(policy, init.clone(), &transitions, None, None);
            let (property, message) = match replay {
                Err(f) => (f.violation.property.to_string(), f.to_string()),
                Ok(()) => ("?".to_string(), reason.to_string()),
            };
            Some(MinimalFailure {
                property,
                message,
                steps: numbered_steps(&init, &transitions),
                transitions,
            })
        }
        Err(TestError::Abort(reason)) => Some(MinimalFailure {
            property: "abort".into(),
            message: reason.to_string(),
            steps: String::new(),
            transitions: Vec::new(),
        }),
    };
    RunReport {
        cases: n,
        seconds: secs,
        counts: counts.into_inner(),
        failure,
    }
}

/// The same machine through proptest-state-machine's own runner ([`StateMachineTest`]): the
/// real system with lockcore's default policy; a divergence panics with the violation.
pub struct LockcoreTest;

/// The system under test of [`LockcoreTest`].
pub struct Sut {
    harness: Option<Harness>,
}

impl StateMachineTest for LockcoreTest {
    type SystemUnderTest = Sut;
    type Reference = LockMachine;

    fn init_test(ref_state: &RefState) -> Sut {
        match Harness::new(Policy::default(), ref_state) {
            Ok(h) => Sut { harness: Some(h) },
            Err(f) => panic!("{f}"),
        }
    }

    fn apply(mut sut: Sut, ref_state: &RefState, t: Transition) -> Sut {
        if let Some(h) = sut.harness.as_mut() {
            if let Err(f) = h.step(&t, ref_state, None) {
                panic!("{f}");
            }
        }
        sut
    }
}

/// Keeps `Arc` in use for the seen-counter type the strategy hands out.
pub type SeenCounter = Option<Arc<AtomicUsize>>;
