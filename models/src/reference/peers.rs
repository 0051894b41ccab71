//! Peer implementations and pid namespaces in the model (DESIGN §4a, P14). A peer lives in a
//! pid namespace (a host), takes only a *free* lock path with a host-less file of one of the
//! three historic shapes, really holds it, and releases it by removing the file only if it is
//! still its own. A namespace can die (every process in it, peers included) and a new one can
//! take its id; its lockcore processes then start afresh.

use super::*;

impl Model {
    /// The live peer whose undisplaced hold's file at `path` is exactly `payload`.
    pub(super) fn live_peer_of(&self, path: &Path, payload: &Payload) -> Option<(ProcKey, u64)> {
        self.peers
            .iter()
            .filter(|(_, peer)| peer.alive)
            .find_map(|(key, peer)| {
                let h = peer.holds.get(path)?;
                (h.displaced.is_none() && h.payload == *payload).then(|| (key.clone(), h.id))
            })
    }

    /// A live peer with this key: its start time (what a probe in its namespace sees).
    pub(super) fn live_peer_start(&self, key: &ProcKey) -> Option<u64> {
        self.peers
            .get(key)
            .filter(|p| p.alive)
            .map(|p| p.start_time)
    }

    /// Starts the peer process `key` unless it runs already; false when its namespace is dead
    /// or a lockcore process has that key.
    fn ensure_peer(&mut self, key: &ProcKey) -> bool {
        if self.dead_namespaces.contains(&key.host) || self.procs.contains_key(key) {
            return false;
        }
        if self.live_peer_start(key).is_none() {
            let start_time = self.next_start_time;
            self.next_start_time += 1;
            let peer = Peer {
                start_time,
                alive: true,
                holds: BTreeMap::new(),
            };
            self.peers.insert(key.clone(), peer);
            let desc = format!("peer starts, start {start_time}");
            self.note(&key.to_string(), "spawn", Path::new(""), desc);
        }
        true
    }

    /// The host-less payload a peer writes in `shape`.
    fn peer_payload(&self, key: &ProcKey, shape: PeerShape, hold: u64) -> Payload {
        let start_time = self.live_peer_start(key);
        Payload {
            pid: key.pid,
            nonce: (shape == PeerShape::Nonce).then(|| format!("{:024x}", 0xbeef_0000 + hold)),
            created_at_ms: self.now_ms,
            starttime: start_time.filter(|_| shape == PeerShape::StartTime),
            host: None,
            token: None,
            lease: None,
        }
    }

    pub(super) fn peer_acquire(
        &mut self,
        key: &ProcKey,
        session: &Path,
        shape: PeerShape,
    ) -> Outcome {
        if !self.ensure_peer(key) {
            return Outcome::NoInstance;
        }
        let path = self.resolved_lock_path(session);
        if let Some(file) = self.files.get(&path) {
            return Outcome::Busy(Self::owner_of(file));
        }
        let id = self.next_hold;
        self.next_hold += 1;
        let payload = self.peer_payload(key, shape, id);
        let file = ModelFile {
            content: Content::Payload(payload.clone()),
            mtime_ms: self.now_ms,
            origin: Origin::Peer { peer: key.clone() },
        };
        self.files.insert(path.clone(), file);
        if let Some(peer) = self.peers.get_mut(key) {
            let hold = PeerHold {
                id,
                payload,
                displaced: None,
            };
            peer.holds.insert(path.clone(), hold);
        }
        self.note(
            &key.to_string(),
            "peer-acquire",
            &path,
            format!("{shape:?}"),
        );
        Outcome::Acquired(Acquired::Fresh)
    }

    pub(super) fn peer_release(&mut self, key: &ProcKey, session: &Path) -> Outcome {
        let path = self.resolved_lock_path(session);
        let hold = self
            .peers
            .get_mut(key)
            .filter(|p| p.alive)
            .and_then(|p| p.holds.remove(&path));
        let Some(hold) = hold else {
            return Outcome::NoGuard;
        };
        if !self.file_is(&path, &hold.payload) {
            self.note(
                &key.to_string(),
                "peer-release",
                &path,
                "not ours (left alone)",
            );
            return Outcome::Released(Released::NotOurs);
        }
        if let Some(file) = self.files.remove(&path) {
            self.note(&key.to_string(), "remove", &path, "peer release");
            self.deletions.push(Deletion {
                seq: self.events.len(),
                actor: key.clone(),
                path: path.clone(),
                content: file.content,
                cause: Cause::PeerRelease,
                verdict_then: None,
                live_owner: Some((key.clone(), hold.id, false)),
                own_payload: true,
                mtime_ms: file.mtime_ms,
                at_ms: self.now_ms,
            });
        }
        Outcome::Released(Released::Removed)
    }

    pub(super) fn kill_namespace(&mut self, host: &str) -> Outcome {
        let victims: Vec<ProcKey> = self
            .procs
            .keys()
            .filter(|k| k.host == host)
            .cloned()
            .collect();
        for key in &victims {
            self.forget_guards_of(key);
            if let Some(pr) = self.procs.get_mut(key) {
                pr.alive = false;
                pr.stopped = false;
                pr.instance = None;
            }
        }
        for (_, peer) in self.peers.iter_mut().filter(|(k, _)| k.host == host) {
            peer.alive = false;
        }
        self.dead_namespaces.insert(host.to_string());
        self.note(
            host,
            "namespace-dies",
            Path::new(""),
            "every process dead; files stay",
        );
        Outcome::Done
    }

    pub(super) fn restart_namespace(&mut self, host: &str) -> Outcome {
        if !self.dead_namespaces.remove(host) {
            return Outcome::NoInstance;
        }
        let procs: Vec<ProcKey> = self
            .procs
            .keys()
            .filter(|k| k.host == host)
            .cloned()
            .collect();
        for key in &procs {
            self.incarnate(key, "namespace-restart");
        }
        Outcome::Done
    }
}
