//! The models every verification layer drives: the simulated environment ([`sim`]) that
//! implements lockcore's seams with a readable [`trace`], the reference model
//! ([`reference`](mod@reference)) that says what lockcore must do, the loom/shuttle oracle
//! ([`oracle`]) that records a concurrent history of lockcore on the simulated world, and the
//! judge ([`judge`]): the one module that names the property (P1–P16) a harm violates, asked by
//! the oracle, by the reference model's invariants and by proptest's comparison with the model.

#![warn(clippy::unwrap_used, clippy::expect_used)]

pub mod hostile;
pub mod judge;
pub mod oracle;
pub mod reference;
pub mod report;
pub mod sim;
pub mod trace;

pub use hostile::SimKind;
pub use sim::{FaultKind, FaultRule, Replacement, SimEnv, SimOp, SimProcess, SimWorld};
pub use trace::{Event, Trace};
