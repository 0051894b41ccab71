//! The model's own classification of a lock path's content (DESIGN §4's table, plus P16's
//! not-regular entries).

use super::*;

impl Model {
    /// The model's verdict on `file` at `path`, from `me`'s point of view (DESIGN §4's table).
    /// `None` if `me` has no live instance.
    pub fn verdict(&self, me: &ProcKey, path: &Path, file: &ModelFile) -> Option<Verdict> {
        let inst = self.instance(me)?;
        let grace = ms(self.policy.malformed_grace);
        let stale_after = ms(self.policy.stale_after);
        let p = match &file.content {
            // Never read, followed or reclaimed, whatever its age (P16).
            Content::NotRegular { .. } => return Some(Verdict::Live(LiveReason::NotRegular)),
            Content::Malformed(_) => {
                return Some(if older_than(self.now_ms - file.mtime_ms, grace) {
                    Verdict::Stale(StaleReason::MalformedExpired)
                } else {
                    Verdict::Live(LiveReason::MalformedInGrace)
                });
            }
            Content::Payload(p) => p,
        };
        // A createdAt in the future would make a lock immortal: fall back to the mtime.
        let age = if p.created_at_ms > self.now_ms {
            self.now_ms - file.mtime_ms
        } else {
            self.now_ms - p.created_at_ms
        };
        // Ours, by pid and current nonce, whatever the host says.
        if p.pid == me.pid && p.nonce.as_deref() == Some(inst.nonce.as_str()) {
            return Some(if self.in_flight(inst, path, p.token.as_deref()) {
                Verdict::Live(LiveReason::HeldHere)
            } else {
                Verdict::Stale(StaleReason::Leftover)
            });
        }
        // DESIGN §4a: a lease is judged by the refreshed mtime, from any host (P13).
        if let Some(lease) = p.lease {
            if older_than(self.now_ms - file.mtime_ms, lease.lease_ms as i64) {
                return Some(Verdict::Stale(StaleReason::LeaseExpired));
            }
            if lease
                .max_hold_ms
                .is_some_and(|max| older_than(age, max as i64))
            {
                return Some(Verdict::Stale(StaleReason::MaxHoldPassed));
            }
        }
        let by_age = |live: LiveReason| {
            if p.lease.is_none() && older_than(age, stale_after) {
                Verdict::Stale(StaleReason::TooOld)
            } else {
                Verdict::Live(live)
            }
        };
        // The model's identities always carry a host; a file without one may come from another
        // pid namespace (P14) and fails closed unless the policy opts into one namespace.
        match p.host.as_deref() {
            Some(h) if h != me.host => return Some(by_age(LiveReason::ForeignHost)),
            None if !self.policy.same_pid_namespace => {
                // The one proof of death across namespaces: written before this machine booted.
                if self.boot_ms.is_some_and(|boot| file.mtime_ms < boot) {
                    return Some(Verdict::Stale(StaleReason::BeforeBoot));
                }
                return Some(by_age(LiveReason::UnknownNamespace));
            }
            _ => {}
        }
        Some(self.pid_verdict(me, inst, p, &by_age))
    }

    /// The pid rules, for a file of our own namespace that is not this instance's: our pid with
    /// another nonce, or a legacy file of our pid; another pid by the probe and its start time.
    /// `by_age` turns a live reason into `too-old` once the file is older than `stale_after`.
    fn pid_verdict(
        &self,
        me: &ProcKey,
        inst: &Instance,
        p: &Payload,
        by_age: &dyn Fn(LiveReason) -> Verdict,
    ) -> Verdict {
        if p.pid == me.pid {
            return match &p.nonce {
                Some(_) => Verdict::Stale(StaleReason::NonceMismatch),
                None => match p.starttime {
                    Some(recorded) if recorded != inst.start_time => {
                        Verdict::Stale(StaleReason::RecycledPid)
                    }
                    _ => by_age(LiveReason::LegacyOwnPid),
                },
            };
        }
        // The probe sees every process of our namespace: lockcore's and peers'.
        let key = ProcKey::new(&me.host, p.pid);
        let other = self.procs.get(&key).filter(|pr| pr.alive);
        let Some(other_start) = other
            .map(|pr| pr.start_time)
            .or_else(|| self.live_peer_start(&key))
        else {
            return Verdict::Stale(StaleReason::DeadPid);
        };
        // EPERM answers "alive": nothing more to do for it.
        if p.starttime.is_some_and(|recorded| recorded != other_start) {
            return Verdict::Stale(StaleReason::RecycledPid);
        }
        by_age(LiveReason::OwnerAlive)
    }

    fn in_flight(&self, inst: &Instance, path: &Path, token: Option<&str>) -> bool {
        let carries = |h: &ModelHold| token.is_some() && h.payload.token.as_deref() == token;
        inst.holds.contains_key(path)
            || inst.releasing.contains_key(path)
            || inst.holds.values().any(carries)
            || inst.releasing.values().any(carries)
    }
}

impl Model {
    /// The lock path of `session` with its directory's aliases resolved: the registry's key,
    /// so two spellings of one session are one lock (lockcore's `canonical_dir`).
    pub fn resolved_lock_path(&self, session: &Path) -> PathBuf {
        let lock = lock_path_of(session);
        let (Some(dir), Some(name)) = (lock.parent(), lock.file_name()) else {
            return lock;
        };
        let mut dir = dir.to_path_buf();
        // Bounded like the kernel's 40 hops; the model's aliases never loop.
        for _ in 0..40 {
            let next = self
                .aliases
                .iter()
                .find_map(|(a, real)| dir.strip_prefix(a).ok().map(|rest| real.join(rest)));
            match next {
                Some(d) => dir = d,
                None => break,
            }
        }
        dir.join(name)
    }
}

/// Strictly older than `limit`, and only for positive ages.
pub(super) fn older_than(age_ms: i64, limit_ms: i64) -> bool {
    age_ms > 0 && age_ms > limit_ms
}

pub(super) fn ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
