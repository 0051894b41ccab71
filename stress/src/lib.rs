//! The stress layer (DESIGN §7 "stress"): real worker processes lock a few sessions in one
//! directory on the real file system while a seeded nemesis kills, stops, restarts in place,
//! leaves zombies, sweeps and injects system-call faults. Every process appends its history
//! (JSON lines, one system-wide monotonic clock) and a pure checker reads them afterwards:
//! overlapping holds (P1), wrongful deletions and lost fencing increments (P2), a live holder
//! reclaimed (P13), waits the rules do not explain (P11), writes after a compromise (P15).
//!
//! Modelled on Jepsen: histories of invocations and completions, a nemesis with a schedule,
//! and a checker that knows nothing of the implementation. No code of it is used.

pub mod checker;
pub mod driver;
pub mod history;
pub mod nemesis;
pub mod results;
pub mod rng;

/// The lease the workers declare, and how often they refresh it. Nemesis stops are kept
/// shorter than `LEASE_MS - REFRESH_MS` (see [`nemesis::MAX_STOP_MS`]), so a stopped live
/// holder is never legitimately reclaimed.
pub const LEASE_MS: u64 = 2_000;
/// How often a worker refreshes its lease.
pub const REFRESH_MS: u64 = 500;
/// How long a worker waits for a lock before it records `busy`.
pub const ACQUIRE_TIMEOUT_MS: u64 = 3_000;
