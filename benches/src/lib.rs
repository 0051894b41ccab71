//! Helpers shared by the lockcore benches (`benches/lock.rs`, `benches/multiprocess.rs`) and the
//! `multiproc` binary: a process table that gives each in-process `LockManager` its own identity,
//! a dead pid, a realistic payload, the in-process contention driver and percentile summaries.

#![warn(clippy::unwrap_used, clippy::expect_used)]

pub mod stats;

mod real;
pub use real::*;
