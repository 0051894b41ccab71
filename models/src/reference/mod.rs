//! The reference model: a pure, sequential specification of the whole lock system — lock files,
//! processes, lock-manager instances with their registries, guards and a virtual clock — written
//! from DESIGN §4. Each operation is a step that returns the outcome lockcore must produce and
//! updates the model state. The classification and every transition here are the model's own
//! code (only lockcore's data types are shared), so the model and lockcore can disagree.
//!
//! Where things are, by concern:
//!
//! | file | what it holds |
//! | --- | --- |
//! | `state.rs` | the model's data: [`Model`], files, processes, instances, holds, guards, peers |
//! | `ops.rs` | the operations ([`Op`]), their outcomes ([`Outcome`]) and [`StepResult`] |
//! | `transitions.rs` | [`Model::step`]: the dispatch and the world's own steps (processes, files, clock) |
//! | `locking.rs`, `sweep.rs`, `heartbeat.rs`, `peers.rs` | the lock manager's operations, one family each |
//! | `classify.rs` | DESIGN §4's table: the model's verdict on a file ([`Model::verdict`]) |
//! | `record.rs` | the ghost record: every deletion with who, why and the verdict then |
//! | `names.rs` | lock and temp file names |
//! | `invariants.rs` | [`Model::check_invariants`]: the state and record as evidence for the judge |
//! | `diagnosis.rs` | [`diagnose`]: a step where lockcore and the model disagree, as evidence for the judge |
//!
//! Which property a harm violates is decided by [`crate::judge`], not here: the invariants and
//! the diagnosis gather the evidence and ask it, as the loom/shuttle oracle does.
//!
//! Identities are symbolic: a nonce is `n<instance>.<epoch>`, a token `t<acquisition>`. A layer
//! that runs real lockcore next to the model keeps the map between those and the real strings.
//!
//! `clean_stale` follows lockcore's refined sweep (commit e669087) rather than the first
//! wording: dot-named sessions' locks are locks too, and a publish temp file is litter only when
//! its publisher is this process or dead, or it is older than `stale_after` (removing a live
//! publisher's temp file would break its publish; DESIGN is silent, P11 still holds).

mod classify;
mod diagnosis;
mod heartbeat;
mod invariants;
mod locking;
mod names;
mod ops;
mod peers;
mod record;
mod state;
mod sweep;
mod transitions;

pub use diagnosis::diagnose;
pub use names::{is_lock_name, is_temp_name, lock_path_of, temp_publisher};
pub use ops::{BusyOwner, Op, Outcome, PeerShape, StepResult};
pub use record::{Cause, Deletion};
pub use state::{
    Content, GuardRec, Instance, Model, ModelFile, ModelHold, Origin, Peer, PeerHold, ProcKey,
    Process, EPOCH_WALL_MS, FIRST_START_TIME,
};

// What every file of the model shares (each one starts with `use super::*;`).
use crate::judge::{self, Violation};
use crate::trace::{describe_bytes, Event, Trace};
use classify::{ms, older_than};
use lockcore::{Acquired, FileKind, LiveReason, Payload, Policy, Released, StaleReason, Verdict};
use names::file_name;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
