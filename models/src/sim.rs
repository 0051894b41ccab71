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

mod namespaces;
mod watch;

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

/// A file operation, for fault rules and the trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SimOp {
    /// `Fs::create_new`.
    Create,
    /// `Fs::write_existing`.
    Write,
    /// `Fs::link`.
    Link,
    /// `Fs::rename`.
    Rename,
    /// `Fs::read`.
    Read,
    /// `Fs::remove`.
    Remove,
    /// `Fs::list`.
    List,
    /// `Fs::metadata`.
    Metadata,
    /// `Fs::lock_dir`.
    LockDir,
    /// `Fs::touch` (a lease refresh).
    Touch,
    /// `Fs::wait_for_change` arming its watch (inotify, and a pidfd on the owner).
    Watch,
    /// A waiter looking at its watch (the model's `poll`).
    Wait,
}

impl SimOp {
    /// Lower-case name used in traces.
    pub fn as_str(self) -> &'static str {
        match self {
            SimOp::Create => "create",
            SimOp::Write => "write",
            SimOp::Link => "link",
            SimOp::Rename => "rename",
            SimOp::Read => "read",
            SimOp::Remove => "remove",
            SimOp::List => "list",
            SimOp::Metadata => "stat",
            SimOp::LockDir => "lock-dir",
            SimOp::Touch => "touch",
            SimOp::Watch => "watch",
            SimOp::Wait => "wait",
        }
    }
}

/// The error a fault injects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// `EIO`.
    Eio,
    /// `ENOSPC`.
    Enospc,
    /// `EACCES`.
    Eacces,
    /// A create/write that stores only the first half of the bytes, then fails with `ENOSPC`.
    ShortWrite,
    /// `ENOENT`: what a `link` meets when another host's sweep removed its temp file.
    Enoent,
    /// No error: just before the step, another process replaced the entry at the step's path
    /// with the rule's [`Replacement`] (a new inode unless [`FaultRule::reusing_inode`], mtime
    /// now); then the step runs on it. A change between two looks, at a chosen step.
    Replaced,
}

/// What a [`FaultKind::Replaced`] rule puts at the path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Replacement {
    /// A regular file with these bytes.
    File(Vec<u8>),
    /// A non-regular entry of this kind (a symlink points nowhere).
    Node(FileKind),
}

impl FaultKind {
    fn error(self) -> io::Error {
        let (kind, msg) = match self {
            FaultKind::Eio => (io::ErrorKind::Other, "injected EIO"),
            FaultKind::Enospc | FaultKind::ShortWrite => {
                (io::ErrorKind::StorageFull, "injected ENOSPC")
            }
            FaultKind::Eacces => (io::ErrorKind::PermissionDenied, "injected EACCES"),
            FaultKind::Enoent => (io::ErrorKind::NotFound, "injected ENOENT"),
            FaultKind::Replaced => (io::ErrorKind::Other, "a replacement is not an error"),
        };
        io::Error::new(kind, msg)
    }
}

/// When a fault fires: on the `nth` matching operation (1-based, counted from when the rule was
/// added), or on every matching one when `nth` is `None`.
#[derive(Clone, Debug)]
pub struct FaultRule {
    /// Only this operation (any if `None`).
    pub op: Option<SimOp>,
    /// Only paths whose display contains this (any if `None`).
    pub path_contains: Option<String>,
    /// Fire on the nth match only.
    pub nth: Option<u64>,
    /// Only operations for which this predicate holds (any if `None`).
    pub predicate: Option<fn(SimOp, &Path) -> bool>,
    /// What to inject.
    pub kind: FaultKind,
    /// What [`FaultKind::Replaced`] puts at the path.
    pub replacement: Option<Replacement>,
    /// The replacement takes the replaced entry's inode number, as a file system that frees an
    /// inode and hands it out again at once does: identity by inode alone is fooled.
    pub reuse_inode: bool,
    seen: u64,
}

impl FaultRule {
    /// A rule matching `op` (any op if `None`) that injects `kind` every time.
    pub fn new(op: Option<SimOp>, kind: FaultKind) -> Self {
        FaultRule {
            op,
            path_contains: None,
            nth: None,
            predicate: None,
            kind,
            replacement: None,
            reuse_inode: false,
            seen: 0,
        }
    }
    /// A rule that, just before a matching `op`, replaces the entry at its path with `with`
    /// ([`FaultKind::Replaced`]).
    pub fn replacing(op: SimOp, with: Replacement) -> Self {
        FaultRule {
            replacement: Some(with),
            ..FaultRule::new(Some(op), FaultKind::Replaced)
        }
    }
    /// The replacement reuses the replaced entry's inode number.
    pub fn reusing_inode(mut self) -> Self {
        self.reuse_inode = true;
        self
    }
    /// Restrict to operations for which `f(op, path)` holds.
    pub fn when(mut self, f: fn(SimOp, &Path) -> bool) -> Self {
        self.predicate = Some(f);
        self
    }
    /// Restrict to paths containing `s`.
    pub fn on_path(mut self, s: &str) -> Self {
        self.path_contains = Some(s.to_string());
        self
    }
    /// Fire only on the nth match.
    pub fn nth(mut self, n: u64) -> Self {
        self.nth = Some(n);
        self
    }
    fn fires(&mut self, op: SimOp, path: &Path) -> bool {
        if self.op.is_some_and(|o| o != op) {
            return false;
        }
        if let Some(s) = &self.path_contains {
            if !path.to_string_lossy().contains(s.as_str()) {
                return false;
            }
        }
        if self.predicate.is_some_and(|f| !f(op, path)) {
            return false;
        }
        self.seen += 1;
        self.nth.is_none_or(|n| n == self.seen)
    }
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

impl Fs for SimFs {
    type DirLock = SimDirLock;

    fn create_new(&self, path: &Path, contents: &[u8]) -> io::Result<()> {
        let path = &self.world.resolve_parent(path);
        self.step(SimOp::Create, path, |fs, now, fault| {
            // O_CREAT|O_EXCL: anything at the path, a dangling symlink included, is "exists".
            if fs.occupied(path) {
                return err_desc(Err(exists_err()));
            }
            let ino = fs.next_ino;
            fs.next_ino += 1;
            let short = fault == Some(FaultKind::ShortWrite);
            let bytes = if short {
                contents[..contents.len() / 2].to_vec()
            } else {
                contents.to_vec()
            };
            fs.files.insert(
                path.to_path_buf(),
                SimFile {
                    bytes,
                    ino,
                    mtime_ms: now,
                },
            );
            if short {
                return err_desc(Err(FaultKind::ShortWrite.error()));
            }
            (
                Ok(()),
                format!("ok {}", crate::trace::describe_bytes(contents)),
            )
        })
    }

    fn write_existing(&self, path: &Path, contents: &[u8]) -> io::Result<()> {
        let path = &self.world.resolve_parent(path);
        self.step(SimOp::Write, path, |fs, now, fault| {
            // O_NOFOLLOW|O_NONBLOCK: a link or a special file fails at once.
            if let Some(node) = fs.others.get(path) {
                return err_desc(Err(open_error(node.kind)));
            }
            let Some(file) = fs.files.get_mut(path) else {
                return err_desc(Err(missing_err()));
            };
            let short = fault == Some(FaultKind::ShortWrite);
            file.bytes = if short {
                contents[..contents.len() / 2].to_vec()
            } else {
                contents.to_vec()
            };
            file.mtime_ms = now;
            if short {
                return err_desc(Err(FaultKind::ShortWrite.error()));
            }
            (
                Ok(()),
                format!("ok {}", crate::trace::describe_bytes(contents)),
            )
        })
    }

    fn link(&self, src: &Path, dst: &Path) -> io::Result<()> {
        let (src, dst) = (
            &self.world.resolve_parent(src),
            &self.world.resolve_parent(dst),
        );
        self.step(SimOp::Link, dst, |fs, _, _| {
            let Some(file) = fs.files.get(src).cloned() else {
                return err_desc(Err(missing_err()));
            };
            if fs.occupied(dst) {
                return err_desc(Err(exists_err()));
            }
            let desc = format!("ok {}", crate::trace::describe_bytes(&file.bytes));
            fs.files.insert(dst.to_path_buf(), file);
            (Ok(()), desc)
        })
    }

    fn rename(&self, src: &Path, dst: &Path) -> io::Result<()> {
        let (src, dst) = (
            &self.world.resolve_parent(src),
            &self.world.resolve_parent(dst),
        );
        self.step(SimOp::Rename, dst, |fs, _, _| {
            if fs
                .others
                .get(dst)
                .is_some_and(|n| n.kind == FileKind::Directory)
            {
                return err_desc(Err(eisdir()));
            }
            let Some(file) = fs.files.remove(src) else {
                return err_desc(Err(missing_err()));
            };
            fs.fire(src);
            fs.fire(dst);
            // rename(2) replaces the entry at dst itself (a link is replaced, not followed).
            let replaced_node = fs.others.remove(dst).is_some();
            let replaced =
                fs.files.insert(dst.to_path_buf(), file.clone()).is_some() || replaced_node;
            let desc = format!(
                "ok {}{}",
                crate::trace::describe_bytes(&file.bytes),
                if replaced {
                    " (replaced an existing file)"
                } else {
                    ""
                }
            );
            (Ok(()), desc)
        })
    }

    fn read(&self, path: &Path, cap: usize) -> io::Result<Vec<u8>> {
        let path = &self.world.resolve_parent(path);
        self.step(SimOp::Read, path, |fs, _, _| match fs.files.get(path) {
            None if fs.others.contains_key(path) => {
                let kind = fs.others.get(path).map_or(FileKind::Other, |n| n.kind);
                err_desc(Err(lockcore::env::not_regular(path, kind)))
            }
            Some(f) => {
                let n = f.bytes.len().min(cap.saturating_add(1));
                let bytes = f.bytes[..n].to_vec();
                let desc = crate::trace::describe_bytes(&bytes);
                (Ok(bytes), desc)
            }
            None => err_desc(Err(missing_err())),
        })
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let path = &self.world.resolve_parent(path);
        let by = (self.host.clone(), self.pid);
        self.step(SimOp::Remove, path, |fs, _, _| {
            if let Some(node) = fs.others.get(path).cloned() {
                let removed = fs.unlink_node(path, node, by);
                if removed.0.is_ok() {
                    fs.fire(path);
                }
                return removed;
            }
            match fs.files.remove(path) {
                Some(f) => {
                    fs.fire(path);
                    (
                        Ok(()),
                        format!("ok (was {})", crate::trace::describe_bytes(&f.bytes)),
                    )
                }
                None => err_desc(Err(missing_err())),
            }
        })
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        let dir = &self.world.resolve_dir(dir)?;
        self.step(SimOp::List, dir, |fs, _, _| {
            let mut names: Vec<PathBuf> = fs
                .files
                .keys()
                .chain(fs.others.keys())
                .filter(|p| parent_of(p) == *dir)
                .cloned()
                .collect();
            names.sort();
            let desc = format!("{} entries", names.len());
            (Ok(names), desc)
        })
    }

    fn metadata(&self, path: &Path) -> io::Result<FileMeta> {
        let path = &self.world.resolve_parent(path);
        self.step(SimOp::Metadata, path, |fs, _, _| match fs.files.get(path) {
            // lstat: the entry itself, a link never followed.
            None if fs.others.contains_key(path) => match fs.others.get(path) {
                Some(n) => {
                    let meta = FileMeta {
                        id: FileId { dev: 0, ino: n.ino },
                        kind: n.kind,
                        len: n.len(),
                        mtime_ms: n.mtime_ms,
                    };
                    (Ok(meta), format!("{} ino {}", n.describe(), n.ino))
                }
                None => err_desc(Err(missing_err())),
            },
            Some(f) => {
                let meta = FileMeta {
                    id: FileId { dev: 0, ino: f.ino },
                    kind: FileKind::Regular,
                    len: f.bytes.len() as u64,
                    mtime_ms: f.mtime_ms,
                };
                (Ok(meta), format!("ino {} len {}", f.ino, f.bytes.len()))
            }
            None => err_desc(Err(missing_err())),
        })
    }

    fn touch(&self, path: &Path, expect: Option<&[u8]>) -> io::Result<bool> {
        self.step(SimOp::Touch, path, |fs, now, _| {
            match fs.files.get_mut(path) {
                Some(f) if expect.is_none_or(|e| f.bytes == e) => {
                    f.mtime_ms = now;
                    (
                        Ok(true),
                        format!("ok {}", crate::trace::describe_bytes(&f.bytes)),
                    )
                }
                Some(f) => (
                    Ok(false),
                    format!("not ours ({})", crate::trace::describe_bytes(&f.bytes)),
                ),
                None => (Ok(false), "gone".to_string()),
            }
        })
    }

    fn canonical_dir(&self, dir: &Path) -> io::Result<PathBuf> {
        // Aliases are fixed at setup and live behind the untracked mutex: not a scheduling
        // point, so loom explores exactly the interleavings it did before aliases existed.
        self.world.resolve_dir(dir)
    }

    fn wait_for_change(
        &self,
        wait: &WaitFor<'_>,
        still_blocked: &mut dyn FnMut() -> bool,
    ) -> Option<Wake> {
        self.wait_watched(wait, still_blocked)
    }

    fn wait_mechanism(&self, _clock: &dyn Clock) -> WaitMechanism {
        if self.world.waits().watch {
            WaitMechanism::InotifyPidfd
        } else {
            WaitMechanism::Backoff
        }
    }

    fn lock_dir(&self, dir: &Path) -> io::Result<SimDirLock> {
        let dir = &self.world.resolve_dir(dir)?;
        let actor = self.actor();
        for _ in 0..DIR_LOCK_ATTEMPTS {
            let taken = self.step(SimOp::LockDir, dir, |fs, _, _| {
                if let Some(holder) = fs.dir_locks.get(dir) {
                    return (Ok(false), format!("busy (held by {holder})"));
                }
                fs.dir_locks.insert(dir.to_path_buf(), actor.clone());
                (Ok(true), "ok".to_string())
            })?;
            if taken {
                return Ok(SimDirLock {
                    world: self.world.clone(),
                    dir: dir.to_path_buf(),
                    actor,
                });
            }
            // Blocked on another holder: let the scheduler run it (a model-checked retry loop
            // must yield).
            sync::thread::yield_now();
        }
        // The model's DIR_LOCK_TIMEOUT: a holder that never lets go is a wait that never ends,
        // named here after a bounded number of steps instead of spinning until a step timeout.
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "liveness (P11): the directory lock on {} was not released within {DIR_LOCK_ATTEMPTS} attempts",
                dir.display()
            ),
        ))
    }
}

/// How many times `SimFs::lock_dir` finds the lock busy (yielding in between) before it gives up
/// with `TimedOut`, as the real one does after `DIR_LOCK_TIMEOUT`. Legitimate holders keep it
/// for a few steps; loom and shuttle run the holder while the waiter yields.
pub const DIR_LOCK_ATTEMPTS: u32 = 1_000;

/// The simulated process table, as seen by one process.
#[derive(Clone, Debug)]
pub struct SimProcs {
    world: SimWorld,
    host: String,
    pid: u32,
}

impl Procs for SimProcs {
    fn identity(&self) -> ProcessIdentity {
        let start_time = self
            .world
            .process(&self.host, self.pid)
            .map(|p| p.start_time);
        ProcessIdentity {
            pid: self.pid,
            host: Some(self.host.clone()),
            start_time,
        }
    }

    fn probe(&self, pid: u32) -> Liveness {
        self.world.liveness_step();
        match self.world.process(&self.host, pid) {
            Some(p) if p.alive && p.eperm => Liveness::NoPermission,
            Some(p) if p.alive => Liveness::Alive,
            _ => Liveness::Dead,
        }
    }

    fn start_time(&self, pid: u32) -> Option<u64> {
        self.world.liveness_step();
        self.world
            .process(&self.host, pid)
            .filter(|p| p.alive)
            .map(|p| p.start_time)
    }

    fn boot_time_ms(&self) -> Option<i64> {
        self.world.boot_time_ms()
    }
}

/// The virtual clock and seeded randomness.
#[derive(Clone, Debug)]
pub struct SimClock {
    world: SimWorld,
}

impl Clock for SimClock {
    fn now_wall_ms(&self) -> i64 {
        self.world.now_wall_ms()
    }

    fn now_mono(&self) -> Duration {
        Duration::from_millis(self.world.untracked().mono_ms)
    }

    fn sleep(&self, d: Duration) {
        self.world.advance(d);
        sync::thread::yield_now();
    }

    fn random_u64(&self) -> u64 {
        splitmix64(&mut self.world.untracked().rng)
    }

    fn is_virtual(&self) -> bool {
        true
    }
}
