//! The model's lock operations: `try_acquire`, a guard's release and `release_all`.

use super::*;

/// How many publish/reclaim rounds one `try_acquire` makes (DESIGN: "up to 3 rounds").
const ROUNDS: usize = 3;

impl Model {
    pub(super) fn owner_of(file: &ModelFile) -> BusyOwner {
        match &file.content {
            Content::Payload(p) => BusyOwner::File(p.clone()),
            Content::Malformed(_) | Content::NotRegular { .. } => BusyOwner::Malformed,
        }
    }

    /// `try_acquire`: re-enter a hold of this instance, or contend for the lock file with a
    /// fresh payload.
    pub(super) fn acquire(
        &mut self,
        me: &ProcKey,
        session: &Path,
        reentrant: bool,
        verdicts: &mut Vec<Verdict>,
    ) -> (Outcome, Option<u64>) {
        let path = self.resolved_lock_path(session);
        let Some(inst) = self.instance_mut(me) else {
            return (Outcome::NoInstance, None);
        };
        if inst.closing {
            return (Outcome::Busy(BusyOwner::ThisInstance), None);
        }
        let inst_id = inst.id;
        if inst.holds.get(&path).is_some_and(|h| h.compromised) {
            // Lost to another owner (P15): a fresh acquisition; the old guards are inert.
            if let Some(lost) = inst.holds.remove(&path) {
                self.revoke_guards(inst_id, lost.id);
            }
        }
        let Some(inst) = self.instance(me) else {
            return (Outcome::NoInstance, None);
        };
        if inst.holds.contains_key(&path) {
            return self.reenter(me, inst_id, &path, reentrant);
        }
        let token = format!("t{}", self.next_token);
        self.next_token += 1;
        let Some(inst) = self.instance(me) else {
            return (Outcome::NoInstance, None);
        };
        let payload = Payload {
            pid: me.pid,
            nonce: Some(inst.nonce.clone()),
            created_at_ms: self.now_ms,
            starttime: Some(inst.start_time),
            host: Some(me.host.clone()),
            token: Some(token),
            lease: self.declared_lease(inst),
        };
        let publisher = (inst_id, inst.epoch, inst.closing);
        self.contend(me, &path, &payload, publisher, verdicts)
    }

    /// Re-enters this instance's hold on `path` (unless the acquisition is not reentrant).
    fn reenter(
        &mut self,
        me: &ProcKey,
        inst_id: u64,
        path: &Path,
        reentrant: bool,
    ) -> (Outcome, Option<u64>) {
        let actor = me.to_string();
        let Some(h) = self.instance_mut(me).and_then(|i| i.holds.get_mut(path)) else {
            return (Outcome::NoInstance, None);
        };
        if !reentrant {
            self.note(&actor, "acquire", path, "busy (held by this instance)");
            return (Outcome::Busy(BusyOwner::ThisInstance), None);
        }
        let Some(count) = h.count.checked_add(1) else {
            return (Outcome::Overflow, None);
        };
        h.count = count;
        let hold = h.id;
        let g = self.new_guard(me, inst_id, path, hold, false);
        self.note(&actor, "acquire", path, format!("re-entered ({count})"));
        (Outcome::Acquired(Acquired::Reentered), Some(g))
    }

    /// Up to [`ROUNDS`] rounds on the lock file: publish `payload` where the path is free; refuse
    /// a hostile entry; busy on a live file; reclaim a stale one and go again. `publisher` is
    /// (instance, epoch, closing) of `me`.
    fn contend(
        &mut self,
        me: &ProcKey,
        path: &Path,
        payload: &Payload,
        publisher: (u64, u64, bool),
        verdicts: &mut Vec<Verdict>,
    ) -> (Outcome, Option<u64>) {
        let actor = me.to_string();
        let mut how = Acquired::Fresh;
        let mut last_owner = BusyOwner::Unknown;
        for _ in 0..ROUNDS {
            let Some(file) = self.files.get(path).cloned() else {
                return self.publish(me, path, payload, publisher, how);
            };
            let Some(v) = self.verdict(me, path, &file) else {
                return (Outcome::NoInstance, None);
            };
            verdicts.push(v);
            if let Content::NotRegular { kind, .. } = file.content {
                self.note(
                    &actor,
                    "acquire",
                    path,
                    format!("refused ({})", kind.as_str()),
                );
                return (Outcome::NotRegular(kind), None);
            }
            match v {
                Verdict::Live(reason) => {
                    self.note(
                        &actor,
                        "acquire",
                        path,
                        format!("busy ({})", reason.as_str()),
                    );
                    let owner = if reason == LiveReason::HeldHere {
                        BusyOwner::ThisInstance
                    } else {
                        Self::owner_of(&file)
                    };
                    return (Outcome::Busy(owner), None);
                }
                Verdict::Stale(reason) => {
                    last_owner = Self::owner_of(&file);
                    how = Acquired::Reclaimed(reason);
                    self.delete(me, path, Cause::Reclaim(reason));
                }
            }
        }
        (Outcome::Busy(last_owner), None)
    }

    /// Publishes `payload` at the free `path` and registers the new hold and its guard.
    fn publish(
        &mut self,
        me: &ProcKey,
        path: &Path,
        payload: &Payload,
        (inst_id, epoch, closing): (u64, u64, bool),
        how: Acquired,
    ) -> (Outcome, Option<u64>) {
        let hold = self.place_hold(me, path, payload, (inst_id, epoch));
        let g = self.new_guard(me, inst_id, path, hold, closing);
        if self.record {
            let desc = Content::Payload(payload.clone()).describe();
            self.note(&me.to_string(), "publish", path, format!("{how:?} {desc}"));
        }
        (Outcome::Acquired(how), Some(g))
    }

    /// Writes `payload` at `path` as instance `inst_id`'s file of `epoch` and registers a new
    /// hold of it; returns the hold's id. Shared by the model's publish and a buggy lock's.
    pub(super) fn place_hold(
        &mut self,
        me: &ProcKey,
        path: &Path,
        payload: &Payload,
        (inst_id, epoch): (u64, u64),
    ) -> u64 {
        self.files.insert(
            path.to_path_buf(),
            ModelFile {
                content: Content::Payload(payload.clone()),
                mtime_ms: self.now_ms,
                origin: Origin::Lockcore {
                    proc: me.clone(),
                    instance: inst_id,
                    epoch,
                },
            },
        );
        let hold = self.next_hold;
        self.next_hold += 1;
        if let Some(inst) = self.instance_mut(me) {
            inst.holds.insert(
                path.to_path_buf(),
                ModelHold {
                    id: hold,
                    count: 1,
                    payload: payload.clone(),
                    displaced: None,
                    compromised: false,
                },
            );
        }
        hold
    }

    /// Every guard of hold `hold` of instance `inst` turns inert: releasing it touches nothing.
    fn revoke_guards(&mut self, inst: u64, hold: u64) {
        for g in self.guards.values_mut() {
            if g.instance == inst && g.hold == hold {
                g.revoked = true;
            }
        }
    }

    pub(super) fn new_guard(
        &mut self,
        me: &ProcKey,
        instance: u64,
        path: &Path,
        hold: u64,
        during_release_all: bool,
    ) -> u64 {
        let id = self.next_guard;
        self.next_guard += 1;
        self.guards.insert(
            id,
            GuardRec {
                proc: me.clone(),
                instance,
                path: path.to_path_buf(),
                hold,
                released: false,
                revoked: false,
                during_release_all,
            },
        );
        id
    }

    pub(super) fn file_is(&self, path: &Path, payload: &Payload) -> bool {
        matches!(self.files.get(path), Some(ModelFile { content: Content::Payload(p), .. }) if p == payload)
    }

    pub(super) fn release(&mut self, guard: u64) -> Outcome {
        let Some(g) = self.guards.get_mut(&guard).filter(|g| !g.released) else {
            return Outcome::NoGuard;
        };
        g.released = true;
        let g = g.clone();
        let actor = g.proc.to_string();
        let Some(inst) = self
            .instance_mut(&g.proc)
            .filter(|inst| inst.id == g.instance)
        else {
            return Outcome::NoInstance;
        };
        let Some(h) = inst.holds.get_mut(&g.path).filter(|h| h.id == g.hold) else {
            self.note(&actor, "release", &g.path, "inert (revoked)");
            return Outcome::Released(Released::Inert);
        };
        if h.count > 1 {
            h.count -= 1;
            let left = h.count;
            self.note(&actor, "release", &g.path, format!("decremented ({left})"));
            return Outcome::Released(Released::Decremented(left));
        }
        let h = h.clone();
        // Delete while the hold is still registered, so the ghost record sees it as the owner.
        // A compromised hold's file is someone else's whatever it holds now (P15).
        let outcome = if !h.compromised && self.file_is(&g.path, &h.payload) {
            self.delete(
                &g.proc,
                &g.path,
                Cause::Release {
                    hold: h.id,
                    revoked: false,
                },
            );
            Outcome::Released(Released::Removed)
        } else {
            self.note(&actor, "release", &g.path, "not ours (left alone)");
            Outcome::Released(Released::NotOurs)
        };
        if let Some(inst) = self.instance_mut(&g.proc) {
            inst.holds.remove(&g.path);
        }
        outcome
    }

    /// First half of `release_all`: close the gate and take every hold (their guards are
    /// revoked). Returns false without a live instance.
    pub fn begin_release_all(&mut self, me: &ProcKey) -> bool {
        let Some(inst) = self.instance_mut(me) else {
            return false;
        };
        inst.closing = true;
        let taken = std::mem::take(&mut inst.holds);
        let ids: Vec<u64> = taken.values().map(|h| h.id).collect();
        inst.releasing.extend(taken);
        let inst_id = inst.id;
        for g in self.guards.values_mut() {
            if g.instance == inst_id && ids.contains(&g.hold) {
                g.revoked = true;
            }
        }
        self.note(&me.to_string(), "release_all", Path::new(""), "begin");
        true
    }

    /// One removal of `release_all`: the next taken hold (by path); `None` when none is left.
    /// `Some(true)`: its file was removed; `Some(false)`: the file was gone or not ours.
    pub fn release_all_one(&mut self, me: &ProcKey) -> Option<(PathBuf, bool)> {
        let inst = self.instance_mut(me)?;
        let path = inst.releasing.keys().next()?.clone();
        let hold = inst.releasing.get(&path)?.clone();
        let removed = if !hold.compromised && self.file_is(&path, &hold.payload) {
            self.delete(me, &path, Cause::ReleaseAll { hold: hold.id });
            true
        } else {
            self.note(
                &me.to_string(),
                "release_all",
                &path,
                "not ours (left alone)",
            );
            false
        };
        if let Some(inst) = self.instance_mut(me) {
            inst.releasing.remove(&path);
        }
        Some((path, removed))
    }

    /// Last half of `release_all`: rotate the nonce (only now, P3), bump the epoch, open the gate.
    pub fn finish_release_all(&mut self, me: &ProcKey) {
        let Some(inst) = self.instance_mut(me) else {
            return;
        };
        inst.epoch += 1;
        inst.nonce = format!("n{}.{}", inst.id, inst.epoch);
        inst.closing = false;
        let nonce = inst.nonce.clone();
        self.note(
            &me.to_string(),
            "release_all",
            Path::new(""),
            format!("done, nonce {nonce}"),
        );
    }

    pub(super) fn release_all(&mut self, me: &ProcKey) -> Outcome {
        if !self.begin_release_all(me) {
            return Outcome::NoInstance;
        }
        let (mut released, mut not_ours) = (Vec::new(), Vec::new());
        while let Some((path, removed)) = self.release_all_one(me) {
            if removed {
                released.push(path);
            } else {
                not_ours.push(path);
            }
        }
        self.finish_release_all(me);
        Outcome::ReleasedAll { released, not_ours }
    }
}
