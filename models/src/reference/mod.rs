//! The reference model: a pure, sequential specification of the whole lock system — lock files,
//! processes, lock-manager instances with their registries, guards and a virtual clock — written
//! from DESIGN §4. Each operation is a step that returns the outcome lockcore must produce and
//! updates the model state. The classification and every transition here are the model's own
//! code (only lockcore's data types are shared), so the model and lockcore can disagree.
//!
//! Identities are symbolic: a nonce is `n<instance>.<epoch>`, a token `t<acquisition>`. A layer
//! that runs real lockcore next to the model keeps the map between those and the real strings.
//!
//! Besides the state, the model keeps a ghost record — every file deletion with who did it, why,
//! and what the model's own classification said at that moment; which guards were revoked — so
//! that [`Model::check_invariants`] can name the property (P1…P12) a buggy history violates.
//!
//! `clean_stale` follows lockcore's refined sweep (commit e669087) rather than the first
//! wording: dot-named sessions' locks are locks too, and a publish temp file is litter only when
//! its publisher is this process or dead, or it is older than `stale_after` (removing a live
//! publisher's temp file would break its publish; DESIGN is silent, P11 still holds).

use crate::oracle::Violation;

mod classify;
mod diagnose;
mod heartbeat;
mod invariants;
mod locking;
mod peers;
mod sweep;
use crate::trace::{describe_bytes, Event, Trace};
pub use diagnose::{diagnose, property_for_kept, property_for_live};
use lockcore::{Acquired, FileKind, LiveReason, Payload, Policy, Released, StaleReason, Verdict};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// First start time handed out, and the wall time the model starts at. They match
/// [`crate::sim::SimWorld`] so a layer can compare payloads field by field.
pub const FIRST_START_TIME: u64 = 1000;
pub use crate::sim::EPOCH_WALL_MS;

/// How many publish/reclaim rounds one `try_acquire` makes (DESIGN: "up to 3 rounds").
const ROUNDS: usize = 3;

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

/// Why a file was deleted (ghost record).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cause {
    /// A guard's release of this hold.
    Release {
        /// The hold released.
        hold: u64,
        /// The guard had been revoked.
        revoked: bool,
    },
    /// `release_all` removing this hold.
    ReleaseAll {
        /// The hold released.
        hold: u64,
    },
    /// An acquirer reclaimed it as stale for this reason.
    Reclaim(StaleReason),
    /// `clean_stale` removed it as stale for this reason.
    Sweep(StaleReason),
    /// `clean_stale` removed an old publish temp file.
    TempSweep,
    /// A clean with `remove_non_regular` removed a non-regular entry of this kind (P16).
    NonRegular(FileKind),
    /// A peer released its own lock (it removes the file only if it is still its own).
    PeerRelease,
}

/// One deletion, with what the model knew at that moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deletion {
    /// Event sequence number.
    pub seq: usize,
    /// Who deleted.
    pub actor: ProcKey,
    /// Which file.
    pub path: PathBuf,
    /// What it held.
    pub content: Content,
    /// Why.
    pub cause: Cause,
    /// The model's own verdict on the file just before (from the actor's point of view).
    pub verdict_then: Option<Verdict>,
    /// The live, not displaced hold whose file it was, if any: (process, hold id, in a
    /// `release_all` in progress).
    pub live_owner: Option<(ProcKey, u64, bool)>,
    /// For a release: the file was byte for byte the payload of the hold being released (even
    /// if that hold had been displaced and the very same bytes were put back since).
    pub own_payload: bool,
    /// The file's mtime when it was removed (a lease is judged by it, P13).
    pub mtime_ms: i64,
    /// The virtual time of the removal.
    pub at_ms: i64,
}

/// Who a busy lock belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BusyOwner {
    /// Another hold in this very instance (or a `release_all` in progress).
    ThisInstance,
    /// The payload in the file.
    File(Payload),
    /// A malformed file in its grace.
    Malformed,
    /// The file kept changing.
    Unknown,
}

/// What an operation produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The lock is held: fresh, re-entered or reclaimed.
    Acquired(Acquired),
    /// Someone holds it.
    Busy(BusyOwner),
    /// A guard's release.
    Released(Released),
    /// `release_all`: removed files and holds whose file was gone or not ours (sorted).
    ReleasedAll {
        /// Files removed.
        released: Vec<PathBuf>,
        /// Holds whose file was no longer ours.
        not_ours: Vec<PathBuf>,
    },
    /// `clean_stale`: stale lock files and old temp files removed (sorted).
    Cleaned {
        /// Lock files removed, with the reason each was stale.
        removed: Vec<(PathBuf, StaleReason)>,
        /// Temp files removed.
        temp_files: Vec<PathBuf>,
        /// Non-regular entries removed (only a clean with `remove_non_regular`).
        non_regular: Vec<PathBuf>,
        /// Directories at lock paths that such a clean reported instead of removing.
        refused: Vec<PathBuf>,
    },
    /// Something that is not a regular file sits at the lock path: refused at once (P16).
    NotRegular(FileKind),
    /// `inspect`: every lock file with its verdict (sorted by path).
    Inspected(Vec<(PathBuf, Verdict)>),
    /// The operation has no outcome of its own (world changes, clock).
    Done,
    /// The operation needs a live process with a lock manager and there is none.
    NoInstance,
    /// The guard does not exist or was already released.
    NoGuard,
    /// A reentrant count would overflow.
    Overflow,
    /// A lease refresh: files touched and holds found compromised (sorted).
    Refreshed {
        /// Lock files whose mtime was set to now.
        refreshed: Vec<PathBuf>,
        /// Holds whose file was gone or replaced.
        compromised: Vec<PathBuf>,
    },
}

/// One operation on the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Start a live process (with a fresh lock manager).
    Spawn(ProcKey),
    /// `try_acquire` of a session file.
    Acquire {
        /// Who.
        proc: ProcKey,
        /// The session file (the lock is `<session>.lock`).
        session: PathBuf,
        /// Reentrant acquisition.
        reentrant: bool,
    },
    /// Release a guard (by guard id).
    Release(u64),
    /// `release_all` of a process's instance.
    ReleaseAll(ProcKey),
    /// In-place restart (SIGUSR1): `release_all`, same process, same instance object.
    RestartInPlace(ProcKey),
    /// The process dies; its files stay.
    Crash(ProcKey),
    /// Exec-restart with the same pid: new start time, a fresh lock manager, nothing released.
    ExecRestart(ProcKey),
    /// An unrelated process reuses a dead pid (it gets a lock manager of its own).
    ReusePid(ProcKey),
    /// Make the probe of a process answer `EPERM` (or stop doing so).
    SetEperm(ProcKey, bool),
    /// Put a file in place (replacing any), with an explicit mtime.
    Plant {
        /// Path.
        path: PathBuf,
        /// Contents.
        content: Content,
        /// Mtime, virtual wall ms.
        mtime_ms: i64,
    },
    /// Set a file's mtime.
    SetMtime(PathBuf, i64),
    /// Advance the virtual clock (ms).
    Advance(i64),
    /// `clean_stale(dir)` by a process's instance.
    CleanStale(ProcKey, PathBuf),
    /// `inspect(dir)` by a process's instance.
    Inspect(ProcKey, PathBuf),
    /// `clean(dir, remove_non_regular)` by a process's instance (P16).
    CleanNonRegular(ProcKey, PathBuf),
    /// Make the first directory a symlink to the second (setup; sessions may then be spelled
    /// through either).
    AliasDir(PathBuf, PathBuf),
    /// The process's manager calls `use_manual_heartbeat`: its new locks declare a lease.
    UseManualHeartbeat(ProcKey),
    /// The process's heartbeat runs once (`refresh`); a stopped process's does not.
    Refresh(ProcKey),
    /// SIGSTOP.
    Stop(ProcKey),
    /// SIGCONT.
    Cont(ProcKey),
    /// A peer implementation in namespace `peer.host` takes the free lock path of `session`
    /// with a host-less file of a historic shape (starting the peer process if needed).
    PeerAcquire {
        /// The peer (namespace and pid).
        peer: ProcKey,
        /// The session file.
        session: PathBuf,
        /// Which historic shape it writes.
        shape: PeerShape,
    },
    /// The peer releases the lock of `session`: removes the file only if it is still its own.
    PeerRelease {
        /// The peer.
        peer: ProcKey,
        /// The session file.
        session: PathBuf,
    },
    /// Every process of a pid namespace (host) dies, peers included; files stay.
    KillNamespace(String),
    /// A new namespace takes a dead one's id; its lockcore processes start afresh.
    RestartNamespace(String),
}

/// The three historic payload shapes a peer writes (DESIGN §4), none with a host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PeerShape {
    /// `{pid, createdAt}`.
    Legacy,
    /// `{pid, nonce, createdAt}`.
    Nonce,
    /// `{pid, createdAt, starttime}`.
    StartTime,
}

fn short_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Spawn(p) => write!(f, "{p} spawns"),
            Op::Acquire {
                proc,
                session,
                reentrant,
            } => write!(
                f,
                "{proc} try_acquire {}{}",
                short_name(session),
                if *reentrant { "" } else { " (non-reentrant)" }
            ),
            Op::Release(g) => write!(f, "release guard g{g}"),
            Op::ReleaseAll(p) => write!(f, "{p} release_all"),
            Op::RestartInPlace(p) => write!(f, "{p} restarts in place (release_all)"),
            Op::Crash(p) => write!(f, "{p} crashes"),
            Op::ExecRestart(p) => write!(f, "{p} exec-restarts (same pid, fresh instance)"),
            Op::ReusePid(p) => write!(f, "an unrelated process reuses {p}"),
            Op::SetEperm(p, on) => write!(f, "probe of {p} answers EPERM: {on}"),
            Op::Plant {
                path,
                content,
                mtime_ms,
            } => write!(
                f,
                "plant {} {} (mtime {})",
                short_name(path),
                content.describe(),
                lockcore::payload::format_rfc3339_ms(*mtime_ms)
            ),
            Op::SetMtime(path, ms) => write!(
                f,
                "set mtime of {} to {}",
                short_name(path),
                lockcore::payload::format_rfc3339_ms(*ms)
            ),
            Op::Advance(ms) => write!(f, "advance the clock {ms} ms"),
            Op::CleanStale(p, _) => write!(f, "{p} clean_stale"),
            Op::Inspect(p, _) => write!(f, "{p} inspect"),
            Op::CleanNonRegular(p, _) => write!(f, "{p} clean --remove-non-regular"),
            Op::AliasDir(alias, real) => {
                write!(f, "alias {} -> {}", alias.display(), real.display())
            }
            Op::UseManualHeartbeat(p) => write!(f, "{p} use_manual_heartbeat"),
            Op::Refresh(p) => write!(f, "{p} refresh"),
            Op::Stop(p) => write!(f, "{p} SIGSTOP"),
            Op::Cont(p) => write!(f, "{p} SIGCONT"),
            Op::PeerAcquire {
                peer,
                session,
                shape,
            } => write!(f, "peer {peer} takes {} ({shape:?})", short_name(session)),
            Op::PeerRelease { peer, session } => {
                write!(f, "peer {peer} releases {}", short_name(session))
            }
            Op::KillNamespace(h) => write!(f, "namespace {h} dies"),
            Op::RestartNamespace(h) => write!(f, "namespace {h} starts again"),
        }
    }
}

/// What a step returned besides the new state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepResult {
    /// The outcome lockcore must produce.
    pub outcome: Outcome,
    /// The guard id handed out, for a successful acquisition.
    pub guard: Option<u64>,
    /// Every classification made during the step (for coverage).
    pub verdicts: Vec<Verdict>,
}

/// The lock path of a session file: `<session>.lock` (as spelled; see
/// [`Model::resolved_lock_path`] for the registry's key).
pub fn lock_path_of(session: &Path) -> PathBuf {
    let mut s = session.as_os_str().to_os_string();
    s.push(".lock");
    PathBuf::from(s)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A `*.lock` file a sweep considers (dot-named sessions' locks included).
pub fn is_lock_name(path: &Path) -> bool {
    let n = file_name(path);
    n.len() > ".lock".len() && n.ends_with(".lock")
}

/// A publish temp file `.<lock name>.<pid>-<token>.lktmp`: `Some(publisher pid, if readable)`.
pub fn temp_publisher(path: &Path) -> Option<Option<u32>> {
    let n = file_name(path);
    let stem = n.strip_prefix('.')?.strip_suffix(".lktmp")?;
    let (_, pid_token) = stem.rsplit_once('.')?;
    Some(
        pid_token
            .split_once('-')
            .and_then(|(pid, _)| pid.parse().ok()),
    )
}

/// A publish temp file.
pub fn is_temp_name(path: &Path) -> bool {
    temp_publisher(path).is_some()
}

/// Strictly older than `limit`, and only for positive ages.
fn older_than(age_ms: i64, limit_ms: i64) -> bool {
    age_ms > 0 && age_ms > limit_ms
}

fn ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
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
    next_start_time: u64,
    next_instance: u64,
    next_hold: u64,
    next_guard: u64,
    next_token: u64,
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

    fn note(&mut self, actor: &str, op: &str, path: &Path, result: impl Into<String>) {
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

    fn instance_mut(&mut self, p: &ProcKey) -> Option<&mut Instance> {
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

    // ---- processes ---------------------------------------------------------------------------

    fn fresh_instance(&mut self, start_time: u64) -> Instance {
        let id = self.next_instance;
        self.next_instance += 1;
        Instance {
            id,
            epoch: 0,
            nonce: format!("n{id}.0"),
            start_time,
            holds: BTreeMap::new(),
            releasing: BTreeMap::new(),
            closing: false,
            manual_heartbeat: false,
        }
    }

    /// Starts (or restarts) `p` alive with a new start time and a fresh instance; the old
    /// instance (if any) and its guards are gone without any release.
    fn incarnate(&mut self, p: &ProcKey, op: &str) {
        let start_time = self.next_start_time;
        self.next_start_time += 1;
        let instance = self.fresh_instance(start_time);
        let nonce = instance.nonce.clone();
        self.forget_guards_of(p);
        self.procs.insert(
            p.clone(),
            Process {
                start_time,
                alive: true,
                eperm: false,
                stopped: false,
                instance: Some(instance),
            },
        );
        self.note(
            &p.to_string(),
            op,
            Path::new(""),
            format!("start {start_time}, nonce {nonce}"),
        );
    }

    fn forget_guards_of(&mut self, p: &ProcKey) {
        self.guards.retain(|_, g| g.proc != *p);
    }

    // ---- deletions (ghost-recorded) ----------------------------------------------------------

    /// The live, not displaced hold whose exact file `content` at `path` is.
    fn live_owner_of(&self, path: &Path, content: &Content) -> Option<(ProcKey, u64, bool)> {
        let Content::Payload(p) = content else {
            return None;
        };
        for (key, pr) in &self.procs {
            let Some(inst) = pr.instance.as_ref().filter(|_| pr.alive) else {
                continue;
            };
            for (releasing, holds) in [(false, &inst.holds), (true, &inst.releasing)] {
                if let Some(h) = holds.get(path) {
                    if h.displaced.is_none() && h.payload == *p {
                        return Some((key.clone(), h.id, releasing));
                    }
                }
            }
        }
        self.live_peer_of(path, p).map(|(key, id)| (key, id, false))
    }

    /// Marks the hold `hold` of `owner` (lockcore's or a peer's) displaced: its file was
    /// legitimately removed or replaced.
    fn displace(&mut self, owner: &ProcKey, hold: u64, why: &str) {
        if let Some(inst) = self.instance_mut(owner) {
            for h in inst.holds.values_mut().chain(inst.releasing.values_mut()) {
                if h.id == hold {
                    h.displaced = Some(why.to_string());
                }
            }
        }
        if let Some(peer) = self.peers.get_mut(owner) {
            for h in peer.holds.values_mut().filter(|h| h.id == hold) {
                h.displaced = Some(why.to_string());
            }
        }
    }

    /// Removes a file and records why. A legitimate stale removal of a live hold's file marks
    /// that hold displaced.
    fn delete(&mut self, actor: &ProcKey, path: &Path, cause: Cause) -> Option<ModelFile> {
        let file = self.files.get(path)?.clone();
        let verdict_then = self.verdict(actor, path, &file);
        let live_owner = self.live_owner_of(path, &file.content);
        let own_payload = match &cause {
            Cause::Release { hold, .. } | Cause::ReleaseAll { hold } => {
                self.instance(actor).is_some_and(|inst| {
                    inst.holds.values().chain(inst.releasing.values()).any(|h| {
                        h.id == *hold && file.content == Content::Payload(h.payload.clone())
                    })
                })
            }
            _ => false,
        };
        self.files.remove(path);
        let judged_stale = verdict_then.is_some_and(Verdict::is_stale);
        if let (Some((owner, hold, _)), Cause::Reclaim(r) | Cause::Sweep(r), true) =
            (&live_owner, &cause, judged_stale)
        {
            let why = format!("{} by {actor}", r.as_str());
            self.displace(owner, *hold, &why);
        }
        if self.record {
            let desc = format!("ok (was {}) [{cause:?}]", file.content.describe());
            self.note(&actor.to_string(), "remove", path, desc);
        }
        self.deletions.push(Deletion {
            seq: self.events.len(),
            actor: actor.clone(),
            path: path.to_path_buf(),
            content: file.content.clone(),
            cause,
            verdict_then,
            live_owner,
            own_payload,
            mtime_ms: file.mtime_ms,
            at_ms: self.now_ms,
        });
        Some(file)
    }

    /// Records a deletion a *buggy* lock made (the model itself never calls this): `actor`
    /// removed `path` claiming `cause`. The invariants then name the property it violates.
    pub fn buggy_delete(&mut self, actor: &ProcKey, path: &Path, cause: Cause) -> bool {
        self.delete(actor, path, cause).is_some()
    }

    /// Records a publish a *buggy* lock made: `actor` wrote its payload at `path` (replacing
    /// whatever was there, without displacing its owner) and registered a new hold. Returns the
    /// guard id.
    pub fn buggy_publish(&mut self, actor: &ProcKey, path: &Path) -> Option<u64> {
        let token = format!("t{}", self.next_token);
        self.next_token += 1;
        let inst = self.instance(actor)?;
        let payload = Payload {
            pid: actor.pid,
            nonce: Some(inst.nonce.clone()),
            created_at_ms: self.now_ms,
            starttime: Some(inst.start_time),
            host: Some(actor.host.clone()),
            token: Some(token),
            lease: None,
        };
        let (inst_id, epoch, closing) = (inst.id, inst.epoch, inst.closing);
        self.files.insert(
            path.to_path_buf(),
            ModelFile {
                content: Content::Payload(payload.clone()),
                mtime_ms: self.now_ms,
                origin: Origin::Lockcore {
                    proc: actor.clone(),
                    instance: inst_id,
                    epoch,
                },
            },
        );
        let hold = self.next_hold;
        self.next_hold += 1;
        let desc = Content::Payload(payload.clone()).describe();
        self.instance_mut(actor)?.holds.insert(
            path.to_path_buf(),
            ModelHold {
                id: hold,
                count: 1,
                payload,
                displaced: None,
                compromised: false,
            },
        );
        self.note(&actor.to_string(), "publish (buggy)", path, desc);
        Some(self.new_guard(actor, inst_id, path, hold, closing))
    }

    // ---- steps -------------------------------------------------------------------------------

    /// Applies one operation.
    pub fn step(&mut self, op: &Op) -> StepResult {
        let mut verdicts = Vec::new();
        let mut guard = None;
        let outcome = match op {
            Op::Spawn(p) => {
                self.incarnate(p, "spawn");
                Outcome::Done
            }
            Op::Acquire {
                proc,
                session,
                reentrant,
            } => {
                let (o, g) = self.acquire(proc, session, *reentrant, &mut verdicts);
                guard = g;
                o
            }
            Op::Release(g) => self.release(*g),
            Op::ReleaseAll(p) | Op::RestartInPlace(p) => self.release_all(p),
            Op::Crash(p) => {
                self.forget_guards_of(p);
                if let Some(pr) = self.procs.get_mut(p) {
                    pr.alive = false;
                    pr.instance = None;
                }
                self.note(&p.to_string(), "crash", Path::new(""), "dead; files stay");
                Outcome::Done
            }
            Op::ExecRestart(p) => {
                self.incarnate(p, "exec-restart");
                Outcome::Done
            }
            Op::ReusePid(p) => {
                self.incarnate(p, "reuse-pid");
                Outcome::Done
            }
            Op::SetEperm(p, on) => {
                if let Some(pr) = self.procs.get_mut(p) {
                    pr.eperm = *on;
                }
                Outcome::Done
            }
            Op::Plant {
                path,
                content,
                mtime_ms,
            } => {
                self.plant(path, content.clone(), *mtime_ms);
                Outcome::Done
            }
            Op::SetMtime(path, mtime) => {
                if let Some(f) = self.files.get_mut(path) {
                    f.mtime_ms = *mtime;
                }
                self.note("world", "set-mtime", path, format!("{mtime}"));
                Outcome::Done
            }
            Op::Advance(d) => {
                self.now_ms = self.now_ms.saturating_add(*d);
                self.note("world", "advance", Path::new(""), format!("+{d} ms"));
                Outcome::Done
            }
            Op::CleanStale(p, dir) => self.clean(p, dir, false, &mut verdicts),
            Op::CleanNonRegular(p, dir) => self.clean(p, dir, true, &mut verdicts),
            Op::AliasDir(alias, real) => {
                self.aliases.insert(alias.clone(), real.clone());
                let desc = format!("-> {}", real.display());
                self.note("world", "alias", alias, desc);
                Outcome::Done
            }
            Op::UseManualHeartbeat(p) => self.use_manual_heartbeat(p),
            Op::Refresh(p) => self.refresh(p),
            Op::Stop(p) => self.set_stopped(p, true),
            Op::Cont(p) => self.set_stopped(p, false),
            Op::PeerAcquire {
                peer,
                session,
                shape,
            } => self.peer_acquire(peer, session, *shape),
            Op::PeerRelease { peer, session } => self.peer_release(peer, session),
            Op::KillNamespace(h) => self.kill_namespace(h),
            Op::RestartNamespace(h) => self.restart_namespace(h),
            Op::Inspect(p, dir) => match self.inspect(p, dir) {
                Some(seen) => {
                    verdicts.extend(seen.iter().map(|(_, v)| *v));
                    Outcome::Inspected(seen)
                }
                None => Outcome::NoInstance,
            },
        };
        StepResult {
            outcome,
            guard,
            verdicts,
        }
    }

    /// Puts a file in place. Replacing a hold's file displaces that hold.
    pub fn plant(&mut self, path: &Path, content: Content, mtime_ms: i64) {
        if let Some(old) = self.files.get(path) {
            if let Some((owner, hold, _)) = self.live_owner_of(path, &old.content) {
                self.displace(&owner, hold, "replaced by the world");
            }
        }
        let desc = if self.record {
            content.describe()
        } else {
            String::new()
        };
        self.files.insert(
            path.to_path_buf(),
            ModelFile {
                content,
                mtime_ms,
                origin: Origin::Planted,
            },
        );
        self.note("world", "plant", path, desc);
    }
}
