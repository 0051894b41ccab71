//! Scenario code shared by the loom models (`tests/loom_*.rs`) and the shuttle schedules
//! (`tests/shuttle_*.rs`). Every scenario spawns its threads through `lockcore::sync::thread`,
//! so the same code runs under loom or shuttle, whichever feature selects the sync shim.
//!
//! In the default build (neither feature) this crate is empty: nothing here may touch loom or
//! shuttle state outside their models.

#[cfg(any(feature = "loom", feature = "shuttle"))]
pub mod harness;
#[cfg(any(feature = "loom", feature = "shuttle"))]
pub mod matrix;
#[cfg(any(feature = "loom", feature = "shuttle"))]
pub mod scenarios;
