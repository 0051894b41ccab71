//! The simulated environment: an in-memory directory tree, a process table spanning hosts, and a
//! virtual clock, implementing lockcore's seams. Every file operation is one atomic step behind
//! the sync shim's `Mutex`, so loom and shuttle interleave *between* steps, and each is recorded
//! in the [`Trace`].
//!
//! **Only file-system steps (and the directory reclaim lock) are scheduling points.** The clock,
//! the random source and the process table sit behind a plain `std` mutex that is never held
//! across a shim operation: reading the time is not a race worth exploring, and leaving it out
//! keeps the loom state space to the steps that matter.

use crate::hostile::{eisdir, eloop, enxio, HostileLedger, NodeRemoval, Planted, SimKind, SimNode};
use crate::trace::{Event, Trace};
use lockcore::env::{
    Clock, EnvParts, FileId, FileKind, FileMeta, Fs, Liveness, ProcessIdentity, Procs, WaitFor,
    WaitMechanism, Wake,
};
use lockcore::sync::{self, Arc, Mutex};
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod faults;
mod fs;
mod namespaces;
mod procs;
mod watch;

pub use faults::{FaultKind, FaultRule, Replacement, SimOp};
pub use procs::{SimClock, SimProcs, DIR_LOCK_ATTEMPTS};

pub use watch::SimWaits;

/// Wall-clock time at which every simulated world starts: 2026-11-27T00:00:00.000Z.
pub const EPOCH_WALL_MS: i64 = 1_795_737_600_000;

/// The host name the ledger gives the world's own steps (planting over an entry).
pub const WORLD: &str = "world";

/// A simulated environment for one process: lockcore's `Env` over the shared world.
pub type SimEnv = EnvParts<SimFs, SimProcs, SimClock>;

/// One file of the simulated directory tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimFile {
    /// Contents.
    pub bytes: Vec<u8>,
    /// Identity: a creation counter, so a recreated file differs.
    pub ino: u64,
    /// Last modification, virtual wall ms.
    pub mtime_ms: i64,
}

struct FsState {
    files: BTreeMap<PathBuf, SimFile>,
    /// Everything that is not a regular file (P16): FIFOs, sockets, devices, directories, links.
    others: BTreeMap<PathBuf, SimNode>,
    ledger: HostileLedger,
    next_ino: u64,
    dir_locks: BTreeMap<PathBuf, String>,
    faults: Vec<FaultRule>,
    events: Vec<Event>,
    /// Armed waiters' watches (see `sim/watch.rs`).
    watches: Vec<watch::SimWatch>,
    next_watch: u64,
}

/// A process in the simulated table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimProcess {
    /// Host (container) name.
    pub host: String,
    /// Pid on that host.
    pub pid: u32,
    /// Start time; changes when the pid is reused or the process exec-restarts.
    pub start_time: u64,
    /// Alive (false after a crash).
    pub alive: bool,
    /// Answers the liveness probe with `EPERM` (another user's process).
    pub eperm: bool,
    /// Stopped (SIGSTOP): alive for every probe, but it runs nothing — in the models its
    /// heartbeat is simply not called until [`SimWorld::cont`].
    pub stopped: bool,
    /// Label in traces, e.g. `p1`.
    pub label: String,
}

struct Untracked {
    /// Thread ids in order of first appearance (`t1`, `t2`, …).
    thread_labels: Vec<String>,
    /// How many file-system events the trace holds (mirrors `FsState::events.len()`).
    fs_events: usize,
    /// Notes, each placed after that many file-system events.
    notes: Vec<(usize, Event)>,
    wall_ms: i64,
    mono_ms: u64,
    rng: u64,
    procs: BTreeMap<(String, u32), SimProcess>,
    next_start_time: u64,
    /// Symlinked directories (alias → target), set up before a run: resolving a spelling reads
    /// only this, so `canonical_dir` is not a scheduling point.
    aliases: BTreeMap<PathBuf, PathBuf>,
    /// When the machine booted (wall ms), if the world says: `Procs::boot_time_ms`.
    boot_ms: Option<i64>,
    /// Pid namespaces (hosts) that died and have not been started again.
    dead_namespaces: std::collections::BTreeSet<String>,
    /// How waiters wait: a watch (and how often a blocked one looks), or backoff.
    waits: SimWaits,
    /// Crashes and liveness looks are steps (see `sim/watch.rs`).
    track_deaths: bool,
}

struct WorldInner {
    fs: Mutex<FsState>,
    /// Crashes, as a step a model checker sees, while [`SimWorld::track_deaths`] is on.
    deaths: sync::atomic::AtomicU64,
    // Plain std mutex on purpose (see the module doc): never held across a shim operation.
    #[allow(clippy::disallowed_types)]
    untracked: std::sync::Mutex<Untracked>,
}

/// The shared simulated world: one directory tree, one process table, one clock.
#[derive(Clone)]
pub struct SimWorld {
    inner: Arc<WorldInner>,
}

impl std::fmt::Debug for SimWorld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SimWorld")
    }
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl SimWorld {
    /// An empty world whose randomness is derived from `seed`.
    pub fn new(seed: u64) -> Self {
        SimWorld {
            inner: Arc::new(WorldInner {
                fs: Mutex::new(FsState {
                    files: BTreeMap::new(),
                    others: BTreeMap::new(),
                    ledger: HostileLedger::default(),
                    next_ino: 1,
                    dir_locks: BTreeMap::new(),
                    faults: Vec::new(),
                    events: Vec::new(),
                    watches: Vec::new(),
                    next_watch: 1,
                }),
                deaths: sync::atomic::AtomicU64::new(0),
                #[allow(clippy::disallowed_types)]
                untracked: std::sync::Mutex::new(Untracked {
                    thread_labels: Vec::new(),
                    fs_events: 0,
                    notes: Vec::new(),
                    wall_ms: EPOCH_WALL_MS,
                    mono_ms: 0,
                    rng: seed,
                    procs: BTreeMap::new(),
                    next_start_time: 1000,
                    aliases: BTreeMap::new(),
                    boot_ms: None,
                    dead_namespaces: Default::default(),
                    waits: SimWaits::default(),
                    track_deaths: false,
                }),
            }),
        }
    }

    fn untracked(&self) -> std::sync::MutexGuard<'_, Untracked> {
        match self.inner.untracked.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    // ---- processes -------------------------------------------------------------------------

    /// Starts a live process `pid` on `host` (replacing a dead entry with that pid).
    pub fn spawn(&self, host: &str, pid: u32) -> SimProcess {
        let mut u = self.untracked();
        let start_time = u.next_start_time;
        u.next_start_time += 1;
        let label = format!("p{}", u.procs.len() + 1);
        let label = u
            .procs
            .get(&(host.to_string(), pid))
            .map(|p| p.label.clone())
            .unwrap_or(label);
        let p = SimProcess {
            host: host.to_string(),
            pid,
            start_time,
            alive: true,
            eperm: false,
            stopped: false,
            label,
        };
        u.procs.insert((host.to_string(), pid), p.clone());
        p
    }

    /// The process `pid` on `host`, if it was ever spawned.
    pub fn process(&self, host: &str, pid: u32) -> Option<SimProcess> {
        self.untracked()
            .procs
            .get(&(host.to_string(), pid))
            .cloned()
    }

    /// The process dies; its files stay.
    pub fn crash(&self, host: &str, pid: u32) {
        self.death_step();
        if let Some(p) = self.untracked().procs.get_mut(&(host.to_string(), pid)) {
            p.alive = false;
        }
    }

    /// Exec-restart with the same pid (the container PID 1 case): alive, with a new start time.
    /// Build a fresh `LockManager` on [`SimWorld::env`] for the new instance.
    pub fn exec_restart(&self, host: &str, pid: u32) -> SimProcess {
        self.spawn(host, pid)
    }

    /// An unrelated process reuses `pid` on `host`: alive, new start time.
    pub fn reuse_pid(&self, host: &str, pid: u32) -> SimProcess {
        self.spawn(host, pid)
    }

    /// Makes the probe of `pid` on `host` answer `EPERM` (alive, another user's).
    pub fn set_eperm(&self, host: &str, pid: u32, eperm: bool) {
        if let Some(p) = self.untracked().procs.get_mut(&(host.to_string(), pid)) {
            p.eperm = eperm;
        }
    }

    /// The environment of process `pid` on `host` (spawn it first).
    pub fn env(&self, host: &str, pid: u32) -> SimEnv {
        EnvParts {
            fs: SimFs {
                world: self.clone(),
                host: host.to_string(),
                pid,
            },
            procs: SimProcs {
                world: self.clone(),
                host: host.to_string(),
                pid,
            },
            clock: SimClock {
                world: self.clone(),
            },
        }
    }

    // ---- clock -----------------------------------------------------------------------------

    /// Advances virtual wall and monotonic time.
    pub fn advance(&self, d: Duration) {
        let mut u = self.untracked();
        let ms = d.as_millis().min(i64::MAX as u128) as i64;
        u.wall_ms = u.wall_ms.saturating_add(ms);
        u.mono_ms = u.mono_ms.saturating_add(ms as u64);
    }

    /// Virtual wall time, unix ms.
    pub fn now_wall_ms(&self) -> i64 {
        self.untracked().wall_ms
    }

    // ---- files -----------------------------------------------------------------------------

    /// Puts a file in place directly (a planted file), with an explicit mtime. Traced as `plant`.
    pub fn plant(&self, path: &Path, bytes: &[u8], mtime_ms: i64) {
        let mut fs = sync::lock(&self.inner.fs);
        let ino = fs.next_ino;
        fs.next_ino += 1;
        fs.world_removes_node(path);
        fs.files.insert(
            path.to_path_buf(),
            SimFile {
                bytes: bytes.to_vec(),
                ino,
                mtime_ms,
            },
        );
        let result = crate::trace::describe_bytes(bytes);
        push_event(self, &mut fs, "world", "plant", path, result);
    }

    /// Plants at `path` the lock file of process `pid` on `host`, which has died: work for a
    /// reclaim or a sweep (its nonce is `n<pid>`, its token `t<pid>`).
    pub fn plant_dead_owners_lock(&self, host: &str, pid: u32, path: &Path) {
        self.spawn(host, pid);
        self.crash(host, pid);
        let p = lockcore::Payload {
            pid,
            nonce: Some(format!("n{pid}")),
            created_at_ms: self.now_wall_ms(),
            starttime: None,
            host: Some(host.to_string()),
            token: Some(format!("t{pid}")),
            lease: None,
        };
        self.plant(path, &p.to_bytes(), self.now_wall_ms());
    }

    /// Puts a FIFO, socket, device or directory entry at `path`, replacing whatever was there
    /// (P16). Traced as `plant` with the kind.
    pub fn plant_special(&self, path: &Path, kind: SimKind) {
        self.plant_node(path, kind.file_kind(), None, false);
    }

    /// Puts a symlink at `path` pointing to `target` (absolute): to a file, to nothing
    /// (dangling), or to itself or another link (a loop). Never followed by any `Fs` step.
    pub fn plant_symlink(&self, path: &Path, target: &Path) {
        self.plant_node(path, FileKind::Symlink, Some(target.to_path_buf()), false);
    }

    /// Makes `alias` a symlinked directory resolving to `real`: every `Fs` step on a path in
    /// `alias` acts in `real`, and `canonical_dir(alias)` is `real`. Call it during setup,
    /// before any scenario thread runs (aliases are not a scheduling point).
    pub fn alias_dir(&self, alias: &Path, real: &Path) {
        self.untracked()
            .aliases
            .insert(alias.to_path_buf(), real.to_path_buf());
        self.plant_node(alias, FileKind::Symlink, Some(real.to_path_buf()), false);
    }

    /// `mkfifo`/`mknod`-like: puts a special entry at `path` only if nothing sits there
    /// (`false`: `EEXIST`). One atomic step, so a model checker races it against lockcore's.
    pub fn plant_special_new(&self, path: &Path, kind: SimKind) -> bool {
        self.plant_node(path, kind.file_kind(), None, true)
    }

    /// Plants a node (replacing any entry, or only into a free path when `exclusive`).
    fn plant_node(
        &self,
        path: &Path,
        kind: FileKind,
        target: Option<PathBuf>,
        exclusive: bool,
    ) -> bool {
        let mut fs = sync::lock(&self.inner.fs);
        if exclusive && fs.occupied(path) {
            push_event(self, &mut fs, "world", "plant", path, "ERR exists".into());
            return false;
        }
        let ino = fs.next_ino;
        fs.next_ino += 1;
        let mtime_ms = self.now_wall_ms();
        let node = SimNode {
            kind,
            target: target.clone(),
            ino,
            mtime_ms,
        };
        let desc = node.describe();
        let snapshot = target.as_ref().map(|t| {
            let file = fs.files.get(t).map(|f| (f.ino, f.bytes.clone()));
            (t.clone(), file)
        });
        fs.files.remove(path);
        fs.put_node(path, node, snapshot);
        push_event(self, &mut fs, "world", "plant", path, desc);
        true
    }

    /// The non-regular entry at `path`, if any.
    pub fn node(&self, path: &Path) -> Option<SimNode> {
        sync::lock(&self.inner.fs).others.get(path).cloned()
    }

    /// A snapshot of every non-regular entry.
    pub fn nodes(&self) -> BTreeMap<PathBuf, SimNode> {
        sync::lock(&self.inner.fs).others.clone()
    }

    /// What `lstat` would say sits at `path` (as given, aliases resolved in the parent).
    pub fn kind_at(&self, path: &Path) -> Option<FileKind> {
        let path = self.resolve_parent(path);
        let fs = sync::lock(&self.inner.fs);
        match fs.files.get(&path) {
            Some(_) => Some(FileKind::Regular),
            None => fs.others.get(&path).map(|n| n.kind),
        }
    }

    /// The P16 ledger: planted hostile entries, removals of non-regular entries, hazards.
    pub fn hostile_ledger(&self) -> HostileLedger {
        sync::lock(&self.inner.fs).ledger.clone()
    }

    /// `dir` with every alias resolved (`realpath` of the simulated tree); `ELOOP` after 40
    /// hops, like the kernel.
    pub fn resolve_dir(&self, dir: &Path) -> io::Result<PathBuf> {
        let aliases = self.untracked().aliases.clone();
        let mut cur = dir.to_path_buf();
        for _ in 0..40 {
            let hit = aliases
                .iter()
                .filter_map(|(a, real)| cur.strip_prefix(a).ok().map(|rest| real.join(rest)))
                .next();
            match hit {
                Some(next) => cur = next,
                None => return Ok(cur),
            }
        }
        Err(eloop())
    }

    /// `path` with its parent directory resolved (the kernel follows links in every component
    /// but the last; the last is never followed here).
    pub fn resolve_parent(&self, path: &Path) -> PathBuf {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return path.to_path_buf();
        };
        if self.untracked().aliases.is_empty() {
            return path.to_path_buf();
        }
        match self.resolve_dir(parent) {
            Ok(real) => real.join(name),
            Err(_) => path.to_path_buf(),
        }
    }

    /// Sets a file's mtime (ages it). Returns false if it does not exist.
    pub fn set_mtime(&self, path: &Path, mtime_ms: i64) -> bool {
        let mut fs = sync::lock(&self.inner.fs);
        match fs.files.get_mut(path) {
            Some(f) => {
                f.mtime_ms = mtime_ms;
                true
            }
            None => false,
        }
    }

    /// A snapshot of every file.
    pub fn files(&self) -> BTreeMap<PathBuf, SimFile> {
        sync::lock(&self.inner.fs).files.clone()
    }

    /// One file's contents.
    pub fn file(&self, path: &Path) -> Option<Vec<u8>> {
        sync::lock(&self.inner.fs)
            .files
            .get(path)
            .map(|f| f.bytes.clone())
    }

    /// Adds a fault rule.
    pub fn inject(&self, rule: FaultRule) {
        sync::lock(&self.inner.fs).faults.push(rule);
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        sync::lock(&self.inner.fs).faults.clear();
    }

    /// The trace so far: the file-system events with the notes merged in where they were made.
    pub fn trace(&self) -> Trace {
        let fs_events = sync::lock(&self.inner.fs).events.clone();
        let notes = self.untracked().notes.clone();
        let mut events = Vec::with_capacity(fs_events.len() + notes.len());
        let mut notes = notes.into_iter().peekable();
        for (i, e) in fs_events.into_iter().enumerate() {
            while let Some((_, n)) = notes.next_if(|(at, _)| *at <= i) {
                events.push(n);
            }
            events.push(e);
        }
        events.extend(notes.map(|(_, n)| n));
        for (i, e) in events.iter_mut().enumerate() {
            e.seq = i + 1;
        }
        Trace { events }
    }

    /// Records a note in the trace (e.g. `acquired`, `release_all done`) from `actor`.
    ///
    /// Notes are kept apart from the file-system events (behind the untracked mutex), so making
    /// one is not a scheduling point: loom and shuttle explore exactly the same interleavings
    /// with or without them.
    pub fn note(&self, actor: &str, what: &str, path: &Path, result: &str) {
        let mut u = self.untracked();
        let actor = labelled(&mut u, actor);
        let at = u.fs_events;
        u.notes.push((
            at,
            Event {
                seq: 0,
                actor,
                op: what.to_string(),
                path: path.to_path_buf(),
                result: result.to_string(),
            },
        ));
    }
}

fn labelled(u: &mut Untracked, actor: &str) -> String {
    if actor == "world" {
        return actor.to_string();
    }
    let id = format!("{:?}", sync::thread::current().id());
    let idx = match u.thread_labels.iter().position(|t| *t == id) {
        Some(i) => i,
        None => {
            u.thread_labels.push(id);
            u.thread_labels.len() - 1
        }
    };
    format!("{actor}/t{}", idx + 1)
}

fn push_event(
    world: &SimWorld,
    fs: &mut FsState,
    actor: &str,
    op: &str,
    path: &Path,
    result: String,
) {
    let mut u = world.untracked();
    let actor = labelled(&mut u, actor);
    fs.events.push(Event {
        seq: 0,
        actor,
        op: op.to_string(),
        path: path.to_path_buf(),
        result,
    });
    u.fs_events = fs.events.len();
}

/// The simulated file system, as seen by one process.
#[derive(Clone, Debug)]
pub struct SimFs {
    world: SimWorld,
    host: String,
    pid: u32,
}

/// The simulated directory reclaim lock; released (and traced) on drop.
pub struct SimDirLock {
    world: SimWorld,
    dir: PathBuf,
    actor: String,
}

impl std::fmt::Debug for SimDirLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SimDirLock({})", self.dir.display())
    }
}

impl Drop for SimDirLock {
    fn drop(&mut self) {
        let mut fs = sync::lock(&self.world.inner.fs);
        fs.dir_locks.remove(&self.dir);
        push_event(
            &self.world,
            &mut fs,
            &self.actor,
            "unlock-dir",
            &self.dir,
            "ok".into(),
        );
    }
}

fn parent_of(path: &Path) -> PathBuf {
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}

fn exists_err() -> io::Error {
    io::Error::new(io::ErrorKind::AlreadyExists, "exists")
}

fn missing_err() -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, "no such file")
}

impl SimFs {
    fn actor(&self) -> String {
        self.world
            .process(&self.host, self.pid)
            .map(|p| p.label)
            .unwrap_or_else(|| format!("pid{}", self.pid))
    }

    /// Runs one atomic step: checks fault rules, applies `f`, records the event.
    fn step<T>(
        &self,
        op: SimOp,
        path: &Path,
        f: impl FnOnce(&mut FsState, i64, Option<FaultKind>) -> (io::Result<T>, String),
    ) -> io::Result<T> {
        let actor = self.actor();
        let now = self.world.now_wall_ms();
        let mut fs = sync::lock(&self.world.inner.fs);
        check_step_budget(&fs);
        let fault = fs.faults.iter_mut().find_map(|r| {
            r.fires(op, path)
                .then(|| (r.kind, r.replacement.clone(), r.reuse_inode))
        });
        let fault = match fault {
            Some((FaultKind::Replaced, Some(with), reuse)) => {
                let desc = fs.replace_entry(path, with, reuse, now);
                push_event(&self.world, &mut fs, WORLD, "replace", path, desc);
                None
            }
            other => other.map(|(kind, _, _)| kind),
        };
        let (result, desc) = match fault {
            Some(kind)
                if kind != FaultKind::ShortWrite || !matches!(op, SimOp::Create | SimOp::Write) =>
            {
                (Err(kind.error()), format!("ERR {}", kind.error()))
            }
            other => f(&mut fs, now, other),
        };
        push_event(&self.world, &mut fs, &actor, op.as_str(), path, desc);
        result
    }
}

/// File-system steps one simulated world may take: far above any test's real work (a proptest
/// case or a loom execution takes thousands at most), so reaching it means an operation that
/// does not end — an endless retry — named as the liveness violation it is rather than a hang
/// that only a step timeout notices.
pub const STEP_BUDGET: usize = 200_000;

fn check_step_budget(fs: &FsState) {
    if fs.events.len() >= STEP_BUDGET {
        let last: Vec<String> = fs.events[fs.events.len() - 8..]
            .iter()
            .map(|e| format!("{} {} {} -> {}", e.actor, e.op, e.path.display(), e.result))
            .collect();
        panic!(
            "P11 violated: liveness: {STEP_BUDGET} file-system steps in one simulated world, an \
             operation does not end (an endless retry?); the last steps:\n{}",
            last.join("\n")
        );
    }
}

/// What opening a non-regular entry with `O_NOFOLLOW|O_NONBLOCK` for writing gives.
fn open_error(kind: FileKind) -> io::Error {
    match kind {
        FileKind::Symlink => eloop(),
        FileKind::Directory => eisdir(),
        _ => enxio(),
    }
}

impl FsState {
    /// Anything at all sits at `path` (a dangling symlink included).
    /// The world (not a process) takes the non-regular entry at `path` away, if there is one.
    fn world_removes_node(&mut self, path: &Path) {
        if let Some(node) = self.others.remove(path) {
            self.ledger.removed.push(NodeRemoval {
                path: path.to_path_buf(),
                kind: node.kind,
                by: (WORLD.to_string(), 0),
            });
        }
    }

    /// Puts a planted non-regular entry at `path`, in the ledger with its symlink target.
    fn put_node(
        &mut self,
        path: &Path,
        node: SimNode,
        target: Option<(PathBuf, Option<crate::hostile::FileSnapshot>)>,
    ) {
        self.ledger.planted.push(Planted {
            path: path.to_path_buf(),
            kind: node.kind,
            ino: node.ino,
            target,
        });
        self.others.insert(path.to_path_buf(), node);
    }

    /// Puts `with` at `path` in place of whatever entry was there (another process's work):
    /// a new inode, or the old entry's when `reuse_inode`. Returns the trace's description.
    fn replace_entry(
        &mut self,
        path: &Path,
        with: Replacement,
        reuse_inode: bool,
        mtime_ms: i64,
    ) -> String {
        let old_ino = self
            .files
            .get(path)
            .map(|f| f.ino)
            .or_else(|| self.others.get(path).map(|n| n.ino));
        let ino = match old_ino {
            Some(ino) if reuse_inode => ino,
            _ => {
                self.next_ino += 1;
                self.next_ino - 1
            }
        };
        self.files.remove(path);
        self.world_removes_node(path);
        match with {
            Replacement::File(bytes) => {
                let desc = crate::trace::describe_bytes(&bytes);
                self.files.insert(
                    path.to_path_buf(),
                    SimFile {
                        bytes,
                        ino,
                        mtime_ms,
                    },
                );
                desc
            }
            Replacement::Node(kind) => {
                let node = SimNode {
                    kind,
                    target: None,
                    ino,
                    mtime_ms,
                };
                let desc = node.describe();
                self.put_node(path, node, None);
                desc
            }
        }
    }

    fn occupied(&self, path: &Path) -> bool {
        self.files.contains_key(path) || self.others.contains_key(path)
    }

    /// `unlink` of a non-regular entry: the entry itself (a link, never its target); a
    /// directory fails with `EISDIR`.
    fn unlink_node(
        &mut self,
        path: &Path,
        node: SimNode,
        by: (String, u32),
    ) -> (io::Result<()>, String) {
        if node.kind == FileKind::Directory {
            return err_desc(Err(eisdir()));
        }
        self.others.remove(path);
        self.ledger.removed.push(NodeRemoval {
            path: path.to_path_buf(),
            kind: node.kind,
            by,
        });
        (Ok(()), format!("ok (was {})", node.describe()))
    }
}

fn err_desc<T>(r: io::Result<T>) -> (io::Result<T>, String) {
    let desc = match &r {
        Ok(_) => "ok".to_string(),
        Err(e) => format!("ERR {e}"),
    };
    (r, desc)
}
