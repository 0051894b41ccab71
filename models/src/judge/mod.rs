//! **The judge**: the one place that decides which property (P1…P16, DESIGN §5) a harm violates,
//! and with which rule sentence. Every layer that finds something wrong asks it:
//!
//! - loom and shuttle, through the [`crate::oracle::Ghost`] and the oracle's free checks, which
//!   record a concurrent history of the real lockcore on the simulated world and hand the judge
//!   what they saw;
//! - the reference model's invariants ([`crate::reference::Model::check_invariants`]), which walk
//!   the model's state and ghost record;
//! - proptest, through [`crate::reference::diagnose`] (a step where lockcore and the model
//!   disagree) and through the runner's directory, registry and guard comparisons;
//! - the scenarios' own end checks (loom-tests' `scenarios.rs` and `matrix.rs`).
//!
//! Each function here takes the *evidence* a layer has (a stale reason claimed, the rule that
//! made the victim live, whether a reentrant sibling was released, …) and returns a
//! [`Finding`]: the property and the rule broken. A layer turns it into a [`Violation`] with
//! [`Finding::violation`], adding what happened and the trace. No other module names a property:
//! a [`Finding`] can only be made here.
//!
//! The functions are grouped by what they judge, one file each:
//! [`exclusion`] (who may hold a lock: P1 and the stale rules that let a second owner in),
//! [`release`] (release, `release_all`, reentrancy, compromise: P2–P5, P9, P15),
//! [`world`] (faults, litter, hostile entries, the harness: P11, P12, P16) and
//! [`divergence`] (proptest's step-by-step comparison with the model: the outcome kinds).
//!
//! Why evidence and not one shared state: the ghost of a concurrent history and the reference
//! model see different things (the ghost sees that a lock is gone after `release_all` returned,
//! the model knows who deleted it and why), so the same bug can show as different harms in two
//! layers (`release-all-live-iteration` is P4 in loom and shuttle, P2 in proptest). What is
//! shared is the rule: the same evidence gets the same property everywhere.
//!
//! **Adding a property** `Pn`: write its rule here as a function returning
//! `Finding::new("Pn", "<the rule, one sentence>")` in the file of its family (or a new family
//! file re-exported below), with a doc comment saying which evidence it takes; call it from
//! every layer that can observe the harm (the ghost in `oracle.rs`, the model's
//! `reference/invariants.rs`, `reference/diagnosis.rs` or the proptest runner); add a test that
//! breaks the world by hand and expects `Pn` (`models/tests/sim_oracles.rs`,
//! `models/tests/reference_*.rs`); and, if a catalogue bug shows it, its expected property in
//! `lockcore/src/mutants.rs`.

use crate::trace::Trace;
use std::fmt;

pub mod divergence;
pub mod exclusion;
pub mod release;
pub mod world;

pub use divergence::*;
pub use exclusion::*;
pub use release::*;
pub use world::*;

/// The judge's decision on one harm: which property it violates, and the rule broken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Finding {
    property: &'static str,
    rule: &'static str,
}

impl Finding {
    /// Only the judge names a property.
    const fn new(property: &'static str, rule: &'static str) -> Self {
        Finding { property, rule }
    }

    /// `P1` … `P16`.
    pub fn property(self) -> &'static str {
        self.property
    }

    /// The rule broken, one sentence.
    pub fn rule(self) -> &'static str {
        self.rule
    }

    /// The violation: the property, `"<rule>: <details>"`, and the steps that led there.
    pub fn violation(self, details: impl fmt::Display, trace: Trace) -> Violation {
        Violation::new(self.property, format!("{}: {details}", self.rule), trace)
    }
}

/// A property violation: which property, what happened, and the steps that led there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// `P1` … `P16`.
    pub property: &'static str,
    /// What went wrong, in one or two sentences.
    pub message: String,
    /// The steps that led there.
    pub trace: Trace,
}

impl Violation {
    /// A violation of `property` (layers get theirs from a [`Finding`]; tests that break the
    /// world by hand may name one directly).
    pub fn new(property: &'static str, message: impl Into<String>, trace: Trace) -> Self {
        Violation {
            property,
            message: message.into(),
            trace,
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} violated: {}", self.property, self.message)?;
        write!(f, "{}", self.trace)
    }
}

impl std::error::Error for Violation {}

/// Extracts the property id (`P1` … `P16`) from a violation's Display text or a panic message
/// that contains one (`… P3 violated: …`).
pub fn property_in(message: &str) -> Option<&str> {
    let at = message.find(" violated:")?;
    let head = &message[..at];
    let start = head.rfind('P')?;
    let id = &head[start..];
    (id.len() >= 2 && id[1..].bytes().all(|b| b.is_ascii_digit())).then_some(id)
}
