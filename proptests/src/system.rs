//! The system under test: real lockcore managers on the real file system (`OsFs`) in a fresh temp
//! directory, with the simulated process table and virtual clock of [`models::sim::SimWorld`], so
//! several simulated processes and instances share one real directory.
//!
//! **Real mtimes, virtual clock.** Files that lockcore publishes keep their real mtime (about
//! "now" in real time, unrelated to the virtual clock). That is harmless because lockcore only
//! consults the mtime of a malformed file, of a payload whose `createdAt` is in the future and of
//! a publish temp file — and every such file in these runs is planted by the harness, which sets
//! its mtime explicitly (`File::set_modified`) to the virtual time the model records; the
//! "aged mtime" transition does the same. Lockcore's own payloads carry `createdAt` = virtual
//! now, and the virtual clock never goes back, so they are never in the future. A lease is
//! judged by the mtime too: every leased file lockcore publishes, and every file its refresh
//! touches (`UTIME_NOW`, real time), is set to the virtual now right after, as the model has it. This keeps grace
//! boundaries exact (both sides read the same virtual numbers), so the generator may probe them.
//!
//! Nonces and tokens are random in lockcore and symbolic in the model (`n<instance>.<epoch>`,
//! `t<n>`); [`Translator`]s keep the map, filled as managers are created, rotate, and acquire.

use crate::machine::{slot_of, DIR, PROCS};
use lockcore::os::OsFs;
use lockcore::{
    AcquireOptions, CleanOptions, EnvParts, LiveReason, LockError, LockGuard, LockManager, Owner,
    Payload, Policy, Verdict,
};
use models::reference::{BusyOwner, Content, Model, Op, Outcome, ProcKey};
use models::sim::{SimClock, SimProcs};
use models::SimWorld;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The environment of one simulated process on the real file system.
pub type RealEnv = EnvParts<OsFs, SimProcs, SimClock>;

/// A two-way map between the model's symbolic strings and lockcore's random ones.
#[derive(Default, Debug)]
pub struct Translator {
    to_real: HashMap<String, String>,
    to_model: HashMap<String, String>,
}

impl Translator {
    fn learn(&mut self, model: &str, real: &str) {
        self.to_real.insert(model.to_string(), real.to_string());
        self.to_model.insert(real.to_string(), model.to_string());
    }
    fn real(&self, model: &str) -> String {
        self.to_real
            .get(model)
            .cloned()
            .unwrap_or_else(|| model.to_string())
    }
    fn model(&self, real: &str) -> String {
        self.to_model
            .get(real)
            .cloned()
            .unwrap_or_else(|| real.to_string())
    }
}

/// The system under test.
pub struct System {
    // Field order is drop order: guards first (while the directory exists), the directory last.
    graveyard: Vec<LockGuard<RealEnv>>,
    guards: BTreeMap<u64, (usize, LockGuard<RealEnv>)>,
    managers: Vec<Option<LockManager<RealEnv>>>,
    world: SimWorld,
    policy: Policy,
    nonces: Translator,
    tokens: Translator,
    /// The ages the last `inspect` reported, by model path.
    pub last_ages: Vec<(PathBuf, i64)>,
    /// What each live peer wrote, by peer and real lock path (it releases only these bytes).
    peer_files: BTreeMap<(ProcKey, PathBuf), Vec<u8>>,
    /// The lock directory (the model's `/d`), inside `root`.
    lock_dir: PathBuf,
    /// The scratch root: the model's `/` (so `/a` can be a symlink to `/d`).
    root: tempfile::TempDir,
}

/// A fresh directory for one case: under `LOCKCORE_PROPTEST_DIR` if set, else on `/dev/shm`
/// when it is a writable tmpfs (creating and deleting many small files on a disk file system
/// dominated the run time: ext4 scans recently deleted inodes on every create), else the
/// system temp directory.
fn scratch_dir() -> std::io::Result<tempfile::TempDir> {
    let builder = {
        let mut b = tempfile::Builder::new();
        b.prefix("lockcore-proptest-");
        b
    };
    if let Some(dir) = std::env::var_os("LOCKCORE_PROPTEST_DIR") {
        return builder.tempdir_in(dir);
    }
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(d) = builder.tempdir_in(shm) {
            return Ok(d);
        }
    }
    builder.tempdir()
}

fn ms_to_system_time(ms: i64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The model path of a real path (same file name, model directory).
pub fn model_path(real: &Path) -> PathBuf {
    Path::new(DIR).join(file_name(real))
}

impl System {
    /// A fresh temp directory and world; every process of `model` spawned in slot order.
    pub fn new(policy: Policy, model: &Model) -> std::io::Result<Self> {
        let mut sys = System {
            graveyard: Vec::new(),
            guards: BTreeMap::new(),
            managers: (0..PROCS.len()).map(|_| None).collect(),
            world: SimWorld::new(0x5eed),
            policy,
            nonces: Translator::default(),
            tokens: Translator::default(),
            last_ages: Vec::new(),
            peer_files: BTreeMap::new(),
            lock_dir: PathBuf::new(),
            root: scratch_dir()?,
        };
        sys.lock_dir = sys.real_path(Path::new(DIR));
        std::fs::create_dir(&sys.lock_dir)?;
        for (alias, real) in &model.aliases {
            sys.alias(alias, real)?;
        }
        for (path, f) in &model.files {
            sys.plant(path, &f.content, f.mtime_ms)
                .map_err(std::io::Error::other)?;
        }
        // Before any manager: lockcore reads the boot time once per manager.
        sys.world.set_boot_time_ms(model.boot_ms);
        for (i, (host, pid)) in PROCS.iter().enumerate() {
            sys.world.spawn(host, *pid);
            sys.start_manager(i, model);
        }
        Ok(sys)
    }

    /// The real path of a model path (`/d/x` → `<root>/d/x`, `/a/x` → `<root>/a/x`).
    pub fn real_path(&self, model: &Path) -> PathBuf {
        self.root
            .path()
            .join(model.strip_prefix("/").unwrap_or(model))
    }

    /// A symlinked directory: `alias` → `real` (relative, so the tree can move).
    fn alias(&self, alias: &Path, real: &Path) -> std::io::Result<()> {
        let link = self.real_path(alias);
        if link.symlink_metadata().is_ok() {
            return Ok(());
        }
        std::os::unix::fs::symlink(real.strip_prefix("/").unwrap_or(real), link)
    }

    /// Puts `content` at the model path `path` with the model's mtime: a regular file written
    /// aside and renamed into place (a new inode, as another writer's would be), or a real FIFO,
    /// socket, device, directory or symlink (P16).
    fn plant(&self, path: &Path, content: &Content, mtime_ms: i64) -> Result<(), String> {
        let real = self.real_path(path);
        let bytes = match content {
            Content::Payload(p) => self.to_real_payload(p).to_bytes(),
            Content::Malformed(b) => b.clone(),
            Content::NotRegular { kind, target } => {
                let target = target.as_deref().map(file_name);
                crate::hostile::make(&real, *kind, target.as_deref())?;
                return crate::hostile::set_mtime_nofollow(&real, mtime_ms);
            }
        };
        let aside = self.root.path().join("planting.tmp");
        let mut f = std::fs::File::create(&aside).map_err(|e| e.to_string())?;
        f.write_all(&bytes).map_err(|e| e.to_string())?;
        f.set_modified(ms_to_system_time(mtime_ms))
            .map_err(|e| e.to_string())?;
        drop(f);
        std::fs::rename(&aside, &real).map_err(|e| e.to_string())
    }

    fn start_manager(&mut self, slot: usize, model: &Model) {
        let (host, pid) = PROCS[slot];
        let env = self.world.env(host, pid);
        let mgr = LockManager::new(
            EnvParts {
                fs: OsFs,
                procs: env.procs,
                clock: env.clock,
            },
            self.policy.clone(),
        );
        if let Some(inst) = model.instance(&ProcKey::new(host, pid)) {
            self.nonces.learn(&inst.nonce, &mgr.nonce());
        }
        self.managers[slot] = Some(mgr);
    }

    /// The start time the simulated world gave a process (to check the model's).
    pub fn start_time(&self, p: &ProcKey) -> Option<u64> {
        self.world.process(&p.host, p.pid).map(|p| p.start_time)
    }

    fn bury_guards_of(&mut self, slot: usize) {
        let ids: Vec<u64> = self
            .guards
            .iter()
            .filter(|(_, (s, _))| *s == slot)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            if let Some((_, g)) = self.guards.remove(&id) {
                // A dead process releases nothing: keep the guard undropped until teardown.
                self.graveyard.push(g);
            }
        }
        self.managers[slot] = None;
    }

    fn manager(&self, p: &ProcKey) -> Result<&LockManager<RealEnv>, String> {
        slot_of(p)
            .and_then(|s| self.managers[s].as_ref())
            .ok_or_else(|| format!("no manager for {p}"))
    }

    fn to_model_payload(&self, p: &Payload) -> Payload {
        let mut p = p.clone();
        p.nonce = p.nonce.map(|n| self.nonces.model(&n));
        p.token = p.token.map(|t| self.tokens.model(&t));
        p
    }

    fn to_real_payload(&self, p: &Payload) -> Payload {
        let mut p = p.clone();
        p.nonce = p.nonce.map(|n| self.nonces.real(&n));
        p.token = p.token.map(|t| self.tokens.real(&t));
        p
    }

    /// Runs `op` on the real system. `after` is the model after the same step (for the symbolic
    /// names it introduced) and `guard` the guard id the model handed out, if any.
    pub fn execute(
        &mut self,
        op: &Op,
        after: &Model,
        guard: Option<u64>,
    ) -> Result<Outcome, String> {
        match op {
            Op::Spawn(p) | Op::ExecRestart(p) | Op::ReusePid(p) => {
                let slot = slot_of(p).ok_or("unknown process")?;
                self.bury_guards_of(slot);
                match op {
                    Op::ExecRestart(_) => self.world.exec_restart(&p.host, p.pid),
                    Op::ReusePid(_) => self.world.reuse_pid(&p.host, p.pid),
                    _ => self.world.spawn(&p.host, p.pid),
                };
                self.start_manager(slot, after);
                Ok(Outcome::Done)
            }
            Op::Acquire {
                proc,
                session,
                reentrant,
            } => {
                let mgr = self.manager(proc)?;
                let real = self.real_path(session);
                let opts = AcquireOptions {
                    reentrant: *reentrant,
                    timeout: None,
                };
                match mgr.try_acquire_with(&real, opts) {
                    Ok(g) => {
                        let how = g.how();
                        if how != lockcore::Acquired::Reentered && g.payload().lease.is_some() {
                            // Published now (real time): a lease is judged by the mtime, so
                            // put the file on the virtual clock, as the model has it.
                            self.set_virtual_mtime(&real_lock_path(&real))?;
                        }
                        if let (Some(id), Some(model_guard)) =
                            (guard, guard.and_then(|id| after.guards.get(&id)))
                        {
                            let model_token = after
                                .instance(proc)
                                .and_then(|i| i.holds.get(&model_guard.path))
                                .and_then(|h| h.payload.token.clone());
                            if let (Some(m), Some(r)) = (model_token, g.payload().token.clone()) {
                                self.tokens.learn(&m, &r);
                            }
                            let slot = slot_of(proc).ok_or("unknown process")?;
                            self.guards.insert(id, (slot, g));
                        } else {
                            // The model says no: keep the guard alive so the divergence is
                            // reported as it is, not changed by a drop.
                            self.graveyard.push(g);
                        }
                        Ok(Outcome::Acquired(how))
                    }
                    Err(LockError::NotRegular { kind, .. }) => Ok(Outcome::NotRegular(kind)),
                    Err(LockError::Busy { owner, .. }) => Ok(Outcome::Busy(match owner {
                        Owner::ThisInstance => BusyOwner::ThisInstance,
                        Owner::File(p) => BusyOwner::File(self.to_model_payload(&p)),
                        Owner::Malformed(_) => BusyOwner::Malformed,
                        Owner::Unknown | Owner::Queued => BusyOwner::Unknown,
                    })),
                    Err(e) => Err(format!("acquire failed: {e}")),
                }
            }
            Op::Release(id) => match self.guards.remove(id) {
                Some((_, g)) => g
                    .release()
                    .map(Outcome::Released)
                    .map_err(|e| format!("release failed: {e}")),
                None => Ok(Outcome::NoGuard),
            },
            Op::ReleaseAll(p) | Op::RestartInPlace(p) => {
                let report = self.manager(p)?.release_all();
                if let Some(inst) = after.instance(p) {
                    self.nonces.learn(&inst.nonce, &report.new_nonce);
                }
                if let Some((path, e)) = report.failed.first() {
                    return Err(format!("release_all failed on {}: {e}", path.display()));
                }
                let mut released: Vec<PathBuf> =
                    report.released.iter().map(|p| model_path(p)).collect();
                let mut not_ours: Vec<PathBuf> =
                    report.not_ours.iter().map(|p| model_path(p)).collect();
                released.sort();
                not_ours.sort();
                Ok(Outcome::ReleasedAll { released, not_ours })
            }
            Op::Crash(p) => {
                let slot = slot_of(p).ok_or("unknown process")?;
                self.world.crash(&p.host, p.pid);
                self.bury_guards_of(slot);
                Ok(Outcome::Done)
            }
            Op::SetEperm(p, on) => {
                self.world.set_eperm(&p.host, p.pid, *on);
                Ok(Outcome::Done)
            }
            Op::Plant {
                path,
                content,
                mtime_ms,
            } => {
                self.plant(path, content, *mtime_ms)?;
                Ok(Outcome::Done)
            }
            Op::AliasDir(alias, real) => {
                self.alias(alias, real).map_err(|e| e.to_string())?;
                Ok(Outcome::Done)
            }
            Op::SetMtime(path, mtime_ms) => {
                let real = self.real_path(path);
                if let Ok(f) = std::fs::File::options().append(true).open(&real) {
                    f.set_modified(ms_to_system_time(*mtime_ms))
                        .map_err(|e| e.to_string())?;
                }
                Ok(Outcome::Done)
            }
            Op::Advance(d) => {
                self.world
                    .advance(Duration::from_millis(u64::try_from(*d).unwrap_or(0)));
                Ok(Outcome::Done)
            }
            Op::CleanStale(p, _) | Op::CleanNonRegular(p, _) => {
                let remove_non_regular = matches!(op, Op::CleanNonRegular(..));
                let opts = CleanOptions {
                    dry_run: false,
                    remove_non_regular,
                };
                let report = self
                    .manager(p)?
                    .clean(&self.lock_dir, opts)
                    .map_err(|e| format!("clean failed: {e}"))?;
                let (mut removed, mut non_regular) = (Vec::new(), Vec::new());
                for info in &report.removed {
                    match info.verdict {
                        Verdict::Stale(r) => removed.push((model_path(&info.path), r)),
                        // With or without the option: the model says whether it may (P16).
                        Verdict::Live(LiveReason::NotRegular) => {
                            non_regular.push(model_path(&info.path))
                        }
                        Verdict::Live(l) => {
                            return Err(format!(
                                "clean_stale removed live {} ({})",
                                info.path.display(),
                                l.as_str()
                            ))
                        }
                    }
                }
                removed.sort();
                non_regular.sort();
                let mut temp_files: Vec<PathBuf> =
                    report.temp_files.iter().map(|p| model_path(p)).collect();
                temp_files.sort();
                // Only a directory at a lock path may be reported (refused, never removed).
                let mut refused = Vec::new();
                for (path, e) in &report.unreadable {
                    if !path.is_dir() || path.is_symlink() {
                        return Err(format!("clean: {}: {e}", path.display()));
                    }
                    refused.push(model_path(path));
                }
                refused.sort();
                Ok(Outcome::Cleaned {
                    removed,
                    temp_files,
                    non_regular,
                    refused,
                })
            }
            Op::UseManualHeartbeat(_)
            | Op::Refresh(_)
            | Op::Stop(_)
            | Op::Cont(_)
            | Op::PeerAcquire { .. }
            | Op::PeerRelease { .. }
            | Op::KillNamespace(_)
            | Op::RestartNamespace(_) => self.execute_namespaces(op, after),
            Op::Inspect(p, _) => {
                let seen = self
                    .manager(p)?
                    .inspect(&self.lock_dir)
                    .map_err(|e| format!("inspect failed: {e}"))?;
                let mut ages: Vec<(PathBuf, i64)> = seen
                    .iter()
                    .map(|i| (model_path(&i.path), i.age_ms))
                    .collect();
                ages.sort();
                self.last_ages = ages;
                let mut seen: Vec<(PathBuf, Verdict)> = seen
                    .into_iter()
                    .map(|i| (model_path(&i.path), i.verdict))
                    .collect();
                seen.sort_by(|a, b| a.0.cmp(&b.0));
                Ok(Outcome::Inspected(seen))
            }
        }
    }

    /// Every file of the real directory, in model terms.
    pub fn files(&self) -> Result<BTreeMap<PathBuf, Content>, String> {
        let mut out = BTreeMap::new();
        let entries = std::fs::read_dir(&self.lock_dir).map_err(|e| e.to_string())?;
        for entry in entries {
            let path = entry.map_err(|e| e.to_string())?.path();
            // lstat first: never open (and so never block on) a FIFO, never follow a link.
            if let Some(content) = crate::hostile::describe(&path)? {
                out.insert(model_path(&path), content);
                continue;
            }
            // Replaced by something else since the lstat: look again next time.
            let Some(bytes) = crate::hostile::read_regular(&path).map_err(|e| e.to_string())?
            else {
                continue;
            };
            let content = match Payload::parse(&bytes) {
                Ok(p) => Content::Payload(self.to_model_payload(&p)),
                Err(_) => Content::Malformed(bytes),
            };
            out.insert(model_path(&path), content);
        }
        Ok(out)
    }

    /// Each live manager's registry: (process, lock path, count), in model terms.
    pub fn registries(&self) -> BTreeMap<ProcKey, BTreeMap<PathBuf, u32>> {
        let mut out = BTreeMap::new();
        for (slot, mgr) in self.managers.iter().enumerate() {
            if let Some(mgr) = mgr {
                let (host, pid) = PROCS[slot];
                let held = mgr
                    .held()
                    .into_iter()
                    .map(|(p, n)| (model_path(&p), n))
                    .collect();
                out.insert(ProcKey::new(host, pid), held);
            }
        }
        out
    }

    /// Whether each outstanding guard still holds (`LockGuard::is_held`), by model guard id.
    pub fn guards_held(&self) -> BTreeMap<u64, bool> {
        self.guards
            .iter()
            .map(|(id, (_, g))| (*id, g.is_held()))
            .collect()
    }
}

/// `<session>.lock` of a real session path.
fn real_lock_path(session: &Path) -> PathBuf {
    models::reference::lock_path_of(session)
}

impl System {
    /// Sets a real file's mtime to the virtual now (lockcore publishes and touches in real
    /// time; the model and every reader here live on the virtual clock).
    fn set_virtual_mtime(&self, real: &Path) -> Result<(), String> {
        let f = std::fs::File::options()
            .append(true)
            .open(real)
            .map_err(|e| format!("{}: {e}", real.display()))?;
        f.set_modified(ms_to_system_time(self.world.now_wall_ms()))
            .map_err(|e| e.to_string())
    }

    /// The namespace, peer and lease operations (DESIGN §4a).
    fn execute_namespaces(&mut self, op: &Op, after: &Model) -> Result<Outcome, String> {
        let alive = |p: &ProcKey| self.world.process(&p.host, p.pid).is_some_and(|x| x.alive);
        match op {
            Op::UseManualHeartbeat(p) => {
                self.manager(p)?.use_manual_heartbeat();
                Ok(Outcome::Done)
            }
            Op::Refresh(p) if self.world.is_stopped(&p.host, p.pid) => Ok(Outcome::Done),
            Op::Refresh(p) => self.refresh(p),
            Op::Stop(p) | Op::Cont(p) if !alive(p) => Ok(Outcome::NoInstance),
            Op::Stop(p) => {
                self.world.stop(&p.host, p.pid);
                Ok(Outcome::Done)
            }
            Op::Cont(p) => {
                self.world.cont(&p.host, p.pid);
                Ok(Outcome::Done)
            }
            Op::PeerAcquire { peer, session, .. } => self.peer_acquire(peer, session, after),
            Op::PeerRelease { peer, session } => self.peer_release(peer, session),
            Op::KillNamespace(host) => {
                self.world.kill_namespace(host);
                for slot in (0..PROCS.len()).filter(|s| PROCS[*s].0 == host) {
                    self.bury_guards_of(slot);
                }
                self.peer_files.retain(|(peer, _), _| peer.host != *host);
                Ok(Outcome::Done)
            }
            Op::RestartNamespace(host) if self.world.namespace_alive(host) => {
                Ok(Outcome::NoInstance)
            }
            Op::RestartNamespace(host) => {
                self.world.restart_namespace(host);
                for slot in (0..PROCS.len()).filter(|s| PROCS[*s].0 == host) {
                    self.world.spawn(host, PROCS[slot].1);
                    self.start_manager(slot, after);
                }
                Ok(Outcome::Done)
            }
            _ => Err(format!("{op}: not a namespace operation")),
        }
    }

    fn refresh(&self, p: &ProcKey) -> Result<Outcome, String> {
        let report = self.manager(p)?.refresh();
        if let Some((path, e)) = report.failed.first() {
            return Err(format!("refresh failed on {}: {e}", path.display()));
        }
        for path in &report.refreshed {
            self.set_virtual_mtime(path)?;
        }
        let sorted = |v: &[PathBuf]| {
            let mut v: Vec<PathBuf> = v.iter().map(|p| model_path(p)).collect();
            v.sort();
            v
        };
        Ok(Outcome::Refreshed {
            refreshed: sorted(&report.refreshed),
            compromised: sorted(&report.compromised),
        })
    }

    /// A peer writes its host-less file exclusively (`O_EXCL`) at a free lock path: the
    /// model's payload, which the peer's own start time and pid decide.
    fn peer_acquire(
        &mut self,
        peer: &ProcKey,
        session: &Path,
        after: &Model,
    ) -> Result<Outcome, String> {
        if !self.world.namespace_alive(&peer.host) || slot_of(peer).is_some() {
            return Ok(Outcome::NoInstance);
        }
        if !self
            .world
            .process(&peer.host, peer.pid)
            .is_some_and(|p| p.alive)
        {
            self.world.spawn(&peer.host, peer.pid);
        }
        let model_lock = models::reference::lock_path_of(session);
        let real = self.real_path(&model_lock);
        let Some(Content::Payload(payload)) = after.files.get(&model_lock).map(|f| &f.content)
        else {
            return Err(format!(
                "the model has no peer file at {}",
                model_lock.display()
            ));
        };
        let mut expected = payload.clone();
        let start = self
            .world
            .process(&peer.host, peer.pid)
            .map(|p| p.start_time);
        expected.starttime = expected.starttime.and(start);
        let bytes = expected.to_bytes();
        let created = std::fs::File::options()
            .write(true)
            .create_new(true)
            .open(&real);
        let mut f = match created {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Ok(Outcome::Busy(BusyOwner::Unknown));
            }
            Err(e) => return Err(format!("peer create {}: {e}", real.display())),
        };
        f.write_all(&bytes).map_err(|e| e.to_string())?;
        drop(f);
        self.set_virtual_mtime(&real)?;
        self.peer_files.insert((peer.clone(), real), bytes);
        Ok(Outcome::Acquired(lockcore::Acquired::Fresh))
    }

    /// The peer removes its lock file only if it still holds exactly its bytes.
    fn peer_release(&mut self, peer: &ProcKey, session: &Path) -> Result<Outcome, String> {
        let real = self.real_path(&models::reference::lock_path_of(session));
        let Some(bytes) = self.peer_files.remove(&(peer.clone(), real.clone())) else {
            return Ok(Outcome::NoGuard);
        };
        match crate::hostile::read_regular(&real) {
            Ok(Some(now)) if now == bytes => {
                std::fs::remove_file(&real).map_err(|e| e.to_string())?;
                Ok(Outcome::Released(lockcore::Released::Removed))
            }
            _ => Ok(Outcome::Released(lockcore::Released::NotOurs)),
        }
    }
}
