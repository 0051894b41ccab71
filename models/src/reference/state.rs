//! The model's data: the lock directory's files with who wrote them, the process table with each
//! process's lock-manager instance (registry, epoch, nonce), the guards handed out, the peers and
//! pid namespaces, and the virtual clock. [`Model`] holds all of it; the ghost record of
//! deletions is in `record.rs`, the operations in `ops.rs`, the steps in `transitions.rs`.

use super::*;

/// First start time handed out, and the wall time the model starts at. They match
/// [`crate::sim::SimWorld`] so a layer can compare payloads field by field.
pub const FIRST_START_TIME: u64 = 1000;
pub use crate::sim::EPOCH_WALL_MS;

/// A process: host (container) and pid on it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProcKey {
    /// Host identity.
    pub host: String,
    /// Pid on that host.
    pub pid: u32,
}

impl ProcKey {
    /// `ProcKey { host, pid }`.
    pub fn new(host: &str, pid: u32) -> Self {
        ProcKey {
            host: host.to_string(),
            pid,
        }
    }
}

impl fmt::Display for ProcKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.pid)
    }
}

/// What a file holds: a payload that parses, or bytes that do not (empty, partial, garbage,
/// too large, not UTF-8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    /// A valid payload.
    Payload(Payload),
    /// Malformed bytes.
    Malformed(Vec<u8>),
    /// Not a regular file (P16): a FIFO, socket, device, directory or symlink — for a symlink,
    /// the path it points to (never followed, possibly dangling or itself).
    NotRegular {
        /// What sits there.
        kind: FileKind,
        /// A symlink's target.
        target: Option<PathBuf>,
    },
}

impl Content {
    /// A one-line description for traces and messages.
    pub fn describe(&self) -> String {
        match self {
            Content::Payload(p) => {
                let mut s = format!("{{pid {}", p.pid);
                if let Some(n) = &p.nonce {
                    s.push_str(&format!(", nonce {n}"));
                }
                if let Some(h) = &p.host {
                    s.push_str(&format!(", host {h}"));
                }
                if let Some(st) = p.starttime {
                    s.push_str(&format!(", starttime {st}"));
                }
                s.push_str(&format!(
                    ", createdAt {}",
                    lockcore::payload::format_rfc3339_ms(p.created_at_ms)
                ));
                if let Some(t) = &p.token {
                    s.push_str(&format!(", token {t}"));
                }
                if let Some(l) = &p.lease {
                    s.push_str(&format!(", leaseMs {}", l.lease_ms));
                    if let Some(max) = l.max_hold_ms {
                        s.push_str(&format!(", maxHoldMs {max}"));
                    }
                }
                s.push('}');
                s
            }
            Content::Malformed(b) => describe_bytes(b),
            Content::NotRegular { kind, target } => match target {
                Some(t) => format!("{} -> {}", kind.as_str(), t.display()),
                None => kind.as_str().to_string(),
            },
        }
    }
}

/// Who wrote a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Published by a lock manager instance, in this epoch, for this hold.
    Lockcore {
        /// The process.
        proc: ProcKey,
        /// The instance (model-wide counter).
        instance: u64,
        /// The instance's epoch when it published.
        epoch: u64,
    },
    /// Put in place by the world (tests, an older version, another tool).
    Planted,
    /// Written by a peer implementation (a host-less historic shape) that holds the lock.
    Peer {
        /// The peer process (its namespace and pid).
        peer: ProcKey,
    },
}

/// One file in the (single) lock directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelFile {
    /// Contents.
    pub content: Content,
    /// Last modification, virtual wall ms.
    pub mtime_ms: i64,
    /// Who wrote it.
    pub origin: Origin,
}

/// One held lock in an instance's registry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelHold {
    /// Hold id (model-wide counter); reentrant guards share it.
    pub id: u64,
    /// Reentrant hold count.
    pub count: u32,
    /// The payload this hold published (its file's exact content).
    pub payload: Payload,
    /// Set when someone legitimately removed or replaced this hold's file (e.g. reclaimed as
    /// `too-old`): the holder still believes it holds, but no longer owns the file.
    pub displaced: Option<String>,
    /// A refresh found its file gone or replaced (P15): the guard says it no longer holds, and
    /// its release deletes nothing.
    pub compromised: bool,
}

/// A lock-manager instance (one per process incarnation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instance {
    /// Model-wide instance id.
    pub id: u64,
    /// Incremented by every `release_all`.
    pub epoch: u64,
    /// Current nonce (`n<id>.<epoch>`).
    pub nonce: String,
    /// Start time of the process when this instance was created.
    pub start_time: u64,
    /// Live holds by lock path.
    pub holds: BTreeMap<PathBuf, ModelHold>,
    /// Holds a `release_all` in progress has taken and not yet removed.
    pub releasing: BTreeMap<PathBuf, ModelHold>,
    /// A `release_all` is in progress (acquisitions in this instance are refused).
    pub closing: bool,
    /// `use_manual_heartbeat` was called: acquisitions declare the policy's lease (P13).
    pub manual_heartbeat: bool,
}

/// A process in the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Process {
    /// Start time (changes on exec-restart and pid reuse).
    pub start_time: u64,
    /// Alive.
    pub alive: bool,
    /// Answers the probe with `EPERM`.
    pub eperm: bool,
    /// Stopped (SIGSTOP): alive for probes, but its heartbeat is not called.
    pub stopped: bool,
    /// Its lock manager, while alive.
    pub instance: Option<Instance>,
}

/// A guard handed out by an acquisition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuardRec {
    /// Owner process.
    pub proc: ProcKey,
    /// Owner instance.
    pub instance: u64,
    /// Lock path.
    pub path: PathBuf,
    /// The hold it refers to.
    pub hold: u64,
    /// Released (consumed) already.
    pub released: bool,
    /// Its hold was taken by `release_all`: releasing it must touch nothing.
    pub revoked: bool,
    /// Acquired while a `release_all` of its instance was in progress (only a buggy lock lets
    /// that happen).
    pub during_release_all: bool,
}

/// The reference model.
#[derive(Clone, Debug)]
pub struct Model {
    /// Stale rules (the `mutant` field, if compiled, is ignored: the model is the spec).
    pub policy: Policy,
    /// Virtual wall clock, unix ms.
    pub now_ms: i64,
    /// The lock directory's files.
    pub files: BTreeMap<PathBuf, ModelFile>,
    /// Symlinked directories: alias → real directory.
    pub aliases: BTreeMap<PathBuf, PathBuf>,
    /// The process table.
    pub procs: BTreeMap<ProcKey, Process>,
    /// Every guard handed out, by id.
    pub guards: BTreeMap<u64, GuardRec>,
    /// Ghost record of every deletion.
    pub deletions: Vec<Deletion>,
    /// The model's own trace.
    pub events: Vec<Event>,
    /// Record the trace (on by default; a fast layer may turn it off and replay a failing
    /// history with it on).
    pub record: bool,
    pub(super) next_start_time: u64,
    pub(super) next_instance: u64,
    pub(super) next_hold: u64,
    pub(super) next_guard: u64,
    pub(super) next_token: u64,
    /// When the machine booted (wall ms), if known (set before spawning: lockcore reads it
    /// once per manager). A host-less file older than that is stale (`before-boot`).
    pub boot_ms: Option<i64>,
    /// Peer implementations' processes (namespace and pid) and what they hold.
    pub peers: BTreeMap<ProcKey, Peer>,
    /// Pid namespaces that died and have not started again.
    pub dead_namespaces: std::collections::BTreeSet<String>,
}

/// A peer implementation's process: it takes only free lock paths and releases its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// Start time (a `starttime` shape records it).
    pub start_time: u64,
    /// Alive (until its namespace dies).
    pub alive: bool,
    /// The locks it holds, by lock path.
    pub holds: BTreeMap<PathBuf, PeerHold>,
}

/// A lock a peer holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerHold {
    /// Hold id (shared counter with lockcore holds).
    pub id: u64,
    /// The file it wrote.
    pub payload: Payload,
    /// Set when its file was legitimately taken (too old, before boot).
    pub displaced: Option<String>,
}

impl Model {
    /// An empty world at [`EPOCH_WALL_MS`].
    pub fn new(policy: Policy) -> Self {
        Model {
            policy,
            now_ms: EPOCH_WALL_MS,
            files: BTreeMap::new(),
            aliases: BTreeMap::new(),
            procs: BTreeMap::new(),
            guards: BTreeMap::new(),
            deletions: Vec::new(),
            events: Vec::new(),
            record: true,
            next_start_time: FIRST_START_TIME,
            next_instance: 1,
            next_hold: 1,
            next_guard: 1,
            next_token: 1,
            boot_ms: None,
            peers: BTreeMap::new(),
            dead_namespaces: Default::default(),
        }
    }

    /// The trace so far.
    pub fn trace(&self) -> Trace {
        Trace {
            events: self.events.clone(),
        }
    }

    pub(super) fn note(&mut self, actor: &str, op: &str, path: &Path, result: impl Into<String>) {
        if !self.record {
            return;
        }
        let seq = self.events.len() + 1;
        self.events.push(Event {
            seq,
            actor: actor.to_string(),
            op: op.to_string(),
            path: path.to_path_buf(),
            result: result.into(),
        });
    }

    /// The live instance of a process.
    pub fn instance(&self, p: &ProcKey) -> Option<&Instance> {
        self.procs
            .get(p)
            .filter(|pr| pr.alive)
            .and_then(|pr| pr.instance.as_ref())
    }

    pub(super) fn instance_mut(&mut self, p: &ProcKey) -> Option<&mut Instance> {
        self.procs
            .get_mut(p)
            .filter(|pr| pr.alive)
            .and_then(|pr| pr.instance.as_mut())
    }

    /// Guards not yet released, by id.
    pub fn live_guards(&self) -> impl Iterator<Item = (u64, &GuardRec)> {
        self.guards
            .iter()
            .filter(|(_, g)| !g.released)
            .map(|(id, g)| (*id, g))
    }
}
