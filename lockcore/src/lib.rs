//! lockcore: a file-based session write lock. `<session>.lock` is published atomically with a
//! JSON payload naming its owner; a [`LockManager`] per process instance keeps reentrant holds,
//! reclaims stale files safely, and on shutdown or in-place restart releases everything before
//! rotating its nonce.
//!
//! The lock is generic over its environment ([`env::Fs`], [`env::Procs`], [`env::Clock`]) so the
//! same code runs on the OS ([`OsEnv`]) and inside the loom, shuttle and proptest models (which
//! build these sources as the package lockcore-for-models, the only one with the `loom` and
//! `shuttle` features).
//! **Caveats:** one `LockManager` per process (two managers in one process have different
//! nonces and would reclaim each other's locks as a previous instance's); lock files are not
//! `fsync`ed (after a crash of the machine every owner pid is gone anyway).

#![warn(clippy::unwrap_used, clippy::expect_used)]

mod attempt;
pub mod classify;
pub mod env;
pub mod error;
mod files;
mod handover;
#[cfg(not(any(feature = "loom", feature = "shuttle")))]
mod heartbeat;
pub mod lease;
pub mod manager;
#[cfg(feature = "mutants")]
pub mod mutants;
pub mod os;
pub mod payload;
pub mod queue;
mod registry;
mod release;
#[cfg(not(any(feature = "loom", feature = "shuttle")))]
pub mod signals;
pub mod sweep;
pub mod sync;
#[cfg(test)]
mod test_support;
pub mod wait;

pub use classify::{classify, LiveReason, Policy, StaleReason, Verdict};
pub use env::{
    Clock, Env, EnvParts, FileId, FileKind, FileMeta, Fs, Liveness, ProcessIdentity, Procs,
    WaitFor, WaitMechanism, Wake,
};
pub use error::{FsOp, LockError, Owner};
pub use handover::HANDOVER_KEEP;
pub use lease::{OnCompromised, RefreshReport};
pub use manager::{
    lock_path_for, AcquireOptions, Acquired, LockGuard, LockManager, ReleaseReport, Released,
};
#[cfg(feature = "mutants")]
pub use mutants::Mutant;
pub use os::OsEnv;
pub use payload::{Lease, Malformed, Payload};
pub use queue::QUEUE_AFTER;
pub use sweep::{CleanOptions, CleanReport, Inspection, LockInfo};
pub use wait::InstanceWaits;
