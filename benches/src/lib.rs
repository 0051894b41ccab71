//! Helpers shared by the lockcore benches (`benches/lock.rs`, `benches/multiprocess.rs`) and the
//! binaries (`multiproc`, the peer drivers): a process table that gives each in-process
//! `LockManager` its own identity, a dead pid, a realistic payload, the in-process contention and
//! parallel-sessions drivers, percentile summaries, the SIGKILL reclaim chain and the peer
//! drivers' loop.

#![warn(clippy::unwrap_used, clippy::expect_used)]

pub mod peer;
pub mod sigkill;
pub mod stats;

mod real;
pub use real::*;
