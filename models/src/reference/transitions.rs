//! The steps: [`Model::step`] applies one [`Op`] and returns what lockcore must produce. The lock
//! manager's operations live in their own files — `locking.rs` (`try_acquire`, a guard's
//! release, `release_all`), `sweep.rs` (`inspect`, `clean_stale`, `clean`), `heartbeat.rs`
//! (leases, refresh, stop/continue) and `peers.rs` (peer implementations, pid namespaces) —
//! and all of them judge a file with `classify.rs`. This file holds the dispatch and the world's
//! own steps (processes, files, clock).

use super::*;

impl Model {
    pub(super) fn fresh_instance(&mut self, start_time: u64) -> Instance {
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
    pub(super) fn incarnate(&mut self, p: &ProcKey, op: &str) {
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

    pub(super) fn forget_guards_of(&mut self, p: &ProcKey) {
        self.guards.retain(|_, g| g.proc != *p);
    }

    /// Applies one operation.
    pub fn step(&mut self, op: &Op) -> StepResult {
        let mut verdicts = Vec::new();
        let mut guard = None;
        let outcome = match op {
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
            Op::CleanStale(p, dir) => self.clean(p, dir, false, &mut verdicts),
            Op::CleanNonRegular(p, dir) => self.clean(p, dir, true, &mut verdicts),
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
            Op::Spawn(_)
            | Op::Crash(_)
            | Op::ExecRestart(_)
            | Op::ReusePid(_)
            | Op::SetEperm(..)
            | Op::Plant { .. }
            | Op::SetMtime(..)
            | Op::Advance(_)
            | Op::AliasDir(..) => self.world_step(op),
        };
        StepResult {
            outcome,
            guard,
            verdicts,
        }
    }

    /// The world's own steps: processes start, crash and restart, files are planted, the clock
    /// advances. None of them has an outcome of its own.
    fn world_step(&mut self, op: &Op) -> Outcome {
        match op {
            Op::Spawn(p) => self.incarnate(p, "spawn"),
            Op::Crash(p) => {
                self.forget_guards_of(p);
                if let Some(pr) = self.procs.get_mut(p) {
                    pr.alive = false;
                    pr.instance = None;
                }
                self.note(&p.to_string(), "crash", Path::new(""), "dead; files stay");
            }
            Op::ExecRestart(p) => self.incarnate(p, "exec-restart"),
            Op::ReusePid(p) => self.incarnate(p, "reuse-pid"),
            Op::SetEperm(p, on) => {
                if let Some(pr) = self.procs.get_mut(p) {
                    pr.eperm = *on;
                }
            }
            Op::Plant {
                path,
                content,
                mtime_ms,
            } => self.plant(path, content.clone(), *mtime_ms),
            Op::SetMtime(path, mtime) => {
                if let Some(f) = self.files.get_mut(path) {
                    f.mtime_ms = *mtime;
                }
                self.note("world", "set-mtime", path, format!("{mtime}"));
            }
            Op::Advance(d) => {
                self.now_ms = self.now_ms.saturating_add(*d);
                self.note("world", "advance", Path::new(""), format!("+{d} ms"));
            }
            Op::AliasDir(alias, real) => {
                self.aliases.insert(alias.clone(), real.clone());
                let desc = format!("-> {}", real.display());
                self.note("world", "alias", alias, desc);
            }
            // The lock manager's operations never come here (`step` dispatches them).
            _ => return Outcome::NoInstance,
        }
        Outcome::Done
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
