//! The model's invariants: its state and ghost record walked for evidence of harm — two owners,
//! a rotation before cleanup, an old epoch left, a hold without its file, a live file deleted —
//! which [`crate::judge`] names (P1, P3, P4, P9, P14; the deletion record: P2, P5, P7, P8, P10,
//! P13, P16).

use super::*;

impl Model {
    fn violation(&self, finding: judge::Finding, details: String) -> Violation {
        finding.violation(details, self.trace())
    }

    /// Checks P1–P11 and P16 as far as they are properties of a state and of the ghost record; the
    /// first violation found, most specific first.
    pub fn check_invariants(&self) -> Result<(), Violation> {
        self.check_rotation()?;
        self.check_exclusion()?;
        self.check_deletions()?;
        self.check_release_all()?;
        self.check_reentrancy()
    }

    /// P2/P5/P8/P10/P7/P1/P3/P4 over the deletion record: nothing live was removed.
    fn check_deletions(&self) -> Result<(), Violation> {
        for d in &self.deletions {
            let what = d.content.describe();
            let file = file_name(&d.path);
            self.check_hostile_deletion(d)?;
            match &d.cause {
                Cause::Reclaim(claimed) | Cause::Sweep(claimed) => {
                    self.check_refreshed_lease(d, *claimed)?;
                    let Some(Verdict::Live(live)) = d.verdict_then else {
                        continue;
                    };
                    let releasing = d.live_owner.as_ref().is_some_and(|o| o.2);
                    return Err(self.violation(
                        judge::taken_while_live(*claimed, Some(live), releasing),
                        format!(
                            "#{} {} removed {file} {what} as stale ({}) but it is live ({})",
                            d.seq,
                            d.actor,
                            claimed.as_str(),
                            live.as_str()
                        ),
                    ));
                }
                Cause::Release { hold, revoked } => {
                    let own = d.own_payload
                        || d.live_owner
                            .as_ref()
                            .is_some_and(|(p, h, _)| *p == d.actor && h == hold);
                    if *revoked || !own {
                        let details = if *revoked {
                            format!(
                                "#{} {} released a guard revoked by release_all and removed {file} {what}",
                                d.seq, d.actor
                            )
                        } else {
                            format!(
                                "#{} {} released hold {hold} and removed {file} {what}, which is not its own",
                                d.seq, d.actor
                            )
                        };
                        return Err(self
                            .violation(judge::wrongful_release(false, *revoked, false), details));
                    }
                }
                Cause::ReleaseAll { hold } => {
                    let own = d.own_payload
                        || d.live_owner
                            .as_ref()
                            .is_some_and(|(p, h, _)| *p == d.actor && h == hold);
                    if !own {
                        let elsewhere = d.live_owner.as_ref().filter(|o| o.0 != d.actor);
                        let whose = match (elsewhere, d.verdict_then) {
                            (Some((owner, _, _)), _) => format!("the live lock of {owner}"),
                            (None, Some(Verdict::Live(live))) => {
                                format!("a live lock ({}) it did not own", live.as_str())
                            }
                            _ => "which it had not set out to remove".to_string(),
                        };
                        let judged_live = matches!(d.verdict_then, Some(Verdict::Live(_)));
                        return Err(self.violation(
                            judge::release_all_removed(elsewhere.is_some(), judged_live),
                            format!(
                                "#{} {} release_all removed {file} {what}, {whose}",
                                d.seq, d.actor
                            ),
                        ));
                    }
                }
                Cause::TempSweep | Cause::NonRegular(_) | Cause::PeerRelease => {}
            }
        }
        Ok(())
    }

    /// P13: a live holder's leased file whose mtime (its last refresh) is within the lease, and
    /// whose declared maximum hold has not passed, is never reclaimed or swept by age or lease.
    fn check_refreshed_lease(&self, d: &Deletion, claimed: StaleReason) -> Result<(), Violation> {
        let by_age_or_lease = matches!(
            claimed,
            StaleReason::TooOld | StaleReason::LeaseExpired | StaleReason::MaxHoldPassed
        );
        let (Some(_), Content::Payload(p), true) = (&d.live_owner, &d.content, by_age_or_lease)
        else {
            return Ok(());
        };
        let Some(lease) = p.lease else {
            return Ok(());
        };
        let since_refresh = d.at_ms - d.mtime_ms;
        let age = d.at_ms - p.created_at_ms;
        let max_passed = lease
            .max_hold_ms
            .is_some_and(|max| older_than(age, i64::try_from(max).unwrap_or(i64::MAX)));
        let lease_ms = i64::try_from(lease.lease_ms).unwrap_or(i64::MAX);
        if older_than(since_refresh, lease_ms) || max_passed {
            return Ok(());
        }
        Err(self.violation(
            judge::refreshed_lease_taken(),
            format!(
                "#{} {} removed {} {} as {} but its holder refreshed it {since_refresh} ms ago (lease {lease_ms} ms)",
                d.seq,
                d.actor,
                file_name(&d.path),
                d.content.describe(),
                claimed.as_str()
            ),
        ))
    }

    /// P16: a non-regular entry is removed only by a clean that asked for it, never a
    /// directory; such a clean removes nothing else.
    fn check_hostile_deletion(&self, d: &Deletion) -> Result<(), Violation> {
        let asked = matches!(d.cause, Cause::NonRegular(_));
        let wrong = match &d.content {
            Content::NotRegular { kind, .. } => !asked || *kind == FileKind::Directory,
            _ => asked,
        };
        if wrong {
            return Err(self.violation(
                judge::hostile_harm(),
                format!(
                    "#{} {} removed {} {} [{:?}]",
                    d.seq,
                    d.actor,
                    file_name(&d.path),
                    d.content.describe(),
                    d.cause
                ),
            ));
        }
        Ok(())
    }

    /// P3: while a `release_all` still has holds to remove, the nonce is the one they carry.
    fn check_rotation(&self) -> Result<(), Violation> {
        for (key, pr) in &self.procs {
            let Some(inst) = pr.instance.as_ref().filter(|_| pr.alive) else {
                continue;
            };
            for (path, h) in &inst.releasing {
                if h.payload.nonce.as_deref() != Some(inst.nonce.as_str()) {
                    return Err(self.violation(
                        judge::rotated_before_cleanup(),
                        format!(
                            "{key} rotated its nonce to {} while release_all still had {} to remove",
                            inst.nonce,
                            file_name(path)
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// P1: per lock path at most one owner whose hold was not legitimately displaced; P14 when
    /// one of them is a live peer (another pid namespace's process), whatever the pids.
    fn check_exclusion(&self) -> Result<(), Violation> {
        let mut owners: BTreeMap<&Path, Vec<String>> = BTreeMap::new();
        let mut peer_held = std::collections::BTreeSet::new();
        for (key, peer) in self.peers.iter().filter(|(_, p)| p.alive) {
            for (path, h) in peer.holds.iter().filter(|(_, h)| h.displaced.is_none()) {
                peer_held.insert(path.as_path());
                owners
                    .entry(path.as_path())
                    .or_default()
                    .push(format!("peer {key} (hold {})", h.id));
            }
        }
        for (key, pr) in &self.procs {
            let Some(inst) = pr.instance.as_ref().filter(|_| pr.alive) else {
                continue;
            };
            for (path, h) in inst.holds.iter().chain(inst.releasing.iter()) {
                if h.displaced.is_none() {
                    owners
                        .entry(path.as_path())
                        .or_default()
                        .push(format!("{key} (instance {}, hold {})", inst.id, h.id));
                }
            }
        }
        for (path, who) in owners {
            if who.len() > 1 {
                return Err(self.violation(
                    judge::two_owners(peer_held.contains(path)),
                    format!(
                        "{} has {} owners: {}",
                        file_name(path),
                        who.len(),
                        who.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    /// P4: after `release_all` no old-epoch hold is in the registry or on disk, and no hold
    /// taken during it was yanked.
    fn check_release_all(&self) -> Result<(), Violation> {
        for (key, pr) in &self.procs {
            let Some(inst) = pr
                .instance
                .as_ref()
                .filter(|_| pr.alive && !inst_closing(pr))
            else {
                continue;
            };
            for (path, h) in &inst.holds {
                if h.payload.nonce.as_deref() != Some(inst.nonce.as_str()) {
                    return Err(self.violation(
                        judge::old_epoch_left(),
                        format!(
                            "{key} still has {} of an old epoch (nonce {}) in its registry after release_all",
                            file_name(path),
                            h.payload.nonce.as_deref().unwrap_or("-")
                        ),
                    ));
                }
            }
            for (path, f) in &self.files {
                if let Origin::Lockcore {
                    proc,
                    instance,
                    epoch,
                } = &f.origin
                {
                    if proc == key && *instance == inst.id && *epoch < inst.epoch {
                        return Err(self.violation(
                            judge::old_epoch_left(),
                            format!(
                                "{} of {key}'s epoch {epoch} is still on disk after release_all (epoch {})",
                                file_name(path),
                                inst.epoch
                            ),
                        ));
                    }
                }
            }
        }
        for g in self.guards.values() {
            if g.during_release_all && !g.released && !g.revoked && !self.hold_exists(g) {
                return Err(self.violation(
                    judge::release_all_disturbed(),
                    format!(
                        "{}'s hold on {} taken during release_all was yanked",
                        g.proc,
                        file_name(&g.path)
                    ),
                ));
            }
        }
        Ok(())
    }

    fn hold_exists(&self, g: &GuardRec) -> bool {
        self.instance(&g.proc)
            .filter(|i| i.id == g.instance)
            .is_some_and(|i| {
                i.holds.get(&g.path).is_some_and(|h| h.id == g.hold)
                    || i.releasing.get(&g.path).is_some_and(|h| h.id == g.hold)
            })
    }

    /// P9: a lock file exists iff its hold count is > 0, and the count equals the guards.
    fn check_reentrancy(&self) -> Result<(), Violation> {
        for g in self.guards.values() {
            if !g.released && !g.revoked && !self.hold_exists(g) {
                return Err(self.violation(
                    judge::reentrancy(),
                    format!(
                        "{} still holds a guard on {} but its hold is gone",
                        g.proc,
                        file_name(&g.path)
                    ),
                ));
            }
        }
        for (key, pr) in &self.procs {
            let Some(inst) = pr.instance.as_ref().filter(|_| pr.alive) else {
                continue;
            };
            for (path, h) in &inst.holds {
                let guards = self
                    .guards
                    .values()
                    .filter(|g| g.instance == inst.id && g.hold == h.id && !g.released)
                    .count();
                if guards != h.count as usize {
                    return Err(self.violation(
                        judge::reentrancy(),
                        format!(
                            "{key}'s hold on {} counts {} but {guards} guards are out",
                            file_name(path),
                            h.count
                        ),
                    ));
                }
                if h.displaced.is_none() && !h.compromised && !self.file_is(path, &h.payload) {
                    return Err(self.violation(
                        judge::reentrancy(),
                        format!(
                            "{key} holds {} (count {}) but its file is gone or not its own",
                            file_name(path),
                            h.count
                        ),
                    ));
                }
            }
            for (path, f) in &self.files {
                let Origin::Lockcore {
                    proc,
                    instance,
                    epoch,
                } = &f.origin
                else {
                    continue;
                };
                if proc != key || *instance != inst.id || *epoch != inst.epoch {
                    continue;
                }
                let held = inst
                    .holds
                    .get(path)
                    .or_else(|| inst.releasing.get(path))
                    .is_some_and(|h| Content::Payload(h.payload.clone()) == f.content);
                if !held {
                    return Err(self.violation(
                        judge::reentrancy(),
                        format!(
                            "{} of {key} is on disk but no hold of it is in the registry",
                            file_name(path)
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

fn inst_closing(pr: &Process) -> bool {
    pr.instance.as_ref().is_some_and(|i| i.closing)
}
