//! The models every verification layer drives: the simulated environment ([`sim`]) that
//! implements lockcore's seams with a readable [`trace`], the reference model ([`reference`]) that
//! says what lockcore must do, and the oracles ([`oracle`]) that check P1–P12 and name the
//! property a counterexample violates.

#![warn(clippy::unwrap_used, clippy::expect_used)]

pub mod hostile;
pub mod oracle;
pub mod reference;
pub mod report;
pub mod sim;
pub mod trace;

pub use hostile::SimKind;
pub use sim::{FaultKind, FaultRule, SimEnv, SimOp, SimProcess, SimWorld};
pub use trace::{Event, Trace};
