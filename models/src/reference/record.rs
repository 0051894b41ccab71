//! The ghost record: every file deletion with who made it, why, and what the model's own rules
//! said of the file at that moment — the evidence [`Model::check_invariants`] hands the judge.
//! Deletions made by a *buggy* lock (replayed by the diagnosis, or written by hand in the
//! catalogue tests) are recorded the same way, through [`Model::buggy_delete`] and
//! [`Model::buggy_publish`].

use super::*;

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

impl Model {
    /// The live, not displaced hold whose exact file `content` at `path` is.
    pub(super) fn live_owner_of(
        &self,
        path: &Path,
        content: &Content,
    ) -> Option<(ProcKey, u64, bool)> {
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
    pub(super) fn displace(&mut self, owner: &ProcKey, hold: u64, why: &str) {
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
    pub(super) fn delete(
        &mut self,
        actor: &ProcKey,
        path: &Path,
        cause: Cause,
    ) -> Option<ModelFile> {
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
        let hold = self.place_hold(actor, path, &payload, (inst_id, epoch));
        let desc = Content::Payload(payload).describe();
        self.note(&actor.to_string(), "publish (buggy)", path, desc);
        Some(self.new_guard(actor, inst_id, path, hold, closing))
    }
}
