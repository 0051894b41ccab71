//! Oracles for P1–P12: checks over (reference-model state, trace, ghost record of who believes it
//! holds what) that return a named [`Violation`] carrying the trace.

use crate::trace::Trace;
use std::fmt;

/// A property violation: which property, what happened, and the steps that led there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// `P1` … `P12`.
    pub property: &'static str,
    /// What went wrong, in one or two sentences.
    pub message: String,
    /// The steps that led there.
    pub trace: Trace,
}

impl Violation {
    /// A violation of `property`.
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
