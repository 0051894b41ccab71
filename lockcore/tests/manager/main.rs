//! LockManager on the real file system (a temp dir), with a scripted process table so that other
//! "processes" can be alive, dead or EPERM without spawning any. One test binary, a module per
//! concern: `holds` (taking, re-entry, guards, bad paths), `reclaim` (stale rules, leases,
//! inspect, clean, sweep), `release_all`, `waits` (queueing, notifications, timeouts), on
//! `support` (fixture, process table, virtual clock, watchdog) and `gated` (a file system that
//! stops inside one call).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use lockcore::os::{OsClock, OsFs};
use lockcore::{
    AcquireOptions, Acquired, EnvParts, InstanceWaits, LiveReason, Liveness, LockError,
    LockManager, Owner, Payload, Policy, ProcessIdentity, Procs, Released, StaleReason, Verdict,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod fair;
mod gated;
mod handover;
mod holds;
mod reclaim;
mod release_all;
mod support;
mod waits;

use gated::*;
use support::*;
