//! Helpers shared by the lockcore benches (`benches/lock.rs`, `benches/multiprocess.rs`) and the
//! `multiproc` binary: a process table that gives each in-process `LockManager` its own identity,
//! a dead pid, a realistic payload, the in-process contention driver and percentile summaries.
//!
//! Everything that touches real lockcore types is compiled only without the `loom`/`shuttle`
//! features: under those features lockcore's primitives belong to a model checker and cannot run
//! in a plain process, so the benches build but measure nothing.

#![warn(clippy::unwrap_used, clippy::expect_used)]

pub mod stats;

#[cfg(not(any(feature = "loom", feature = "shuttle")))]
mod real;
#[cfg(not(any(feature = "loom", feature = "shuttle")))]
pub use real::*;

/// True when the crate was built with a model-checker feature and the benches cannot run.
pub const DISABLED: bool = cfg!(any(feature = "loom", feature = "shuttle"));
