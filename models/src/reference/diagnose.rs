//! Naming the property a divergence between the model and the lock under test violates.

use super::*;

/// Names the property a divergence violates: `expected` is the model's outcome of `op` (applied
/// to `before`), `actual` what the system under test did. Deletions the system made and the
/// model did not are replayed on a copy of `before` as [`Model::buggy_delete`] so that the
/// invariants name the property; otherwise the outcome kinds decide.
pub fn diagnose(before: &Model, op: &Op, expected: &Outcome, actual: &Outcome) -> Violation {
    let mut observed = before.clone();
    let message = format!("{op}: the model says {expected:?}, the lock did {actual:?}");
    let with = |property: &'static str| Violation::new(property, message.clone(), before.trace());
    if let Some(property) = namespace_or_lease_rule(before, op, expected, actual) {
        return with(property);
    }
    match (op, expected, actual) {
        // Anything but an immediate refusal at a hostile entry, or a refusal where the model
        // sees a regular file, or a clean that treats non-regular entries otherwise: P16.
        // A refresh that misses a lost file, or reports one it still has (P15).
        (Op::Refresh(_), _, _) => with("P15"),
        (Op::PeerAcquire { .. } | Op::PeerRelease { .. }, _, _) => with("P14"),
        (Op::Acquire { .. }, Outcome::NotRegular(_), _)
        | (Op::Acquire { .. }, _, Outcome::NotRegular(_))
        | (Op::CleanNonRegular(..), _, _) => with("P16"),
        (
            Op::CleanStale(..),
            Outcome::Cleaned {
                non_regular: exp, ..
            },
            Outcome::Cleaned {
                non_regular: act, ..
            },
        ) if exp != act => with("P16"),
        (
            Op::Acquire { proc, session, .. },
            Outcome::Busy(_),
            Outcome::Acquired(Acquired::Reclaimed(r)),
        ) => {
            observed.buggy_delete(proc, &lock_path_of(session), Cause::Reclaim(*r));
            match observed.check_invariants() {
                Err(mut v) => {
                    v.message = format!("{} — {}", v.message, message);
                    v
                }
                Ok(()) => with("P2"),
            }
        }
        (Op::Acquire { .. }, Outcome::Acquired(Acquired::Reclaimed(r)), Outcome::Busy(_)) => {
            with(property_for_kept(*r))
        }
        (
            Op::Acquire { .. },
            Outcome::Acquired(Acquired::Reclaimed(a)),
            Outcome::Acquired(Acquired::Reclaimed(b)),
        ) => with(
            if *a == StaleReason::NonceMismatch || *b == StaleReason::NonceMismatch {
                "P8"
            } else if *a == StaleReason::Leftover || *b == StaleReason::Leftover {
                // The nonce rule for our own leftover (P6) judged by another rule.
                "P6"
            } else {
                "P7"
            },
        ),
        (Op::Acquire { .. }, Outcome::Acquired(Acquired::Reentered), _)
        | (Op::Acquire { .. }, _, Outcome::Acquired(Acquired::Reentered)) => with("P9"),
        (Op::Acquire { .. }, Outcome::Busy(_), Outcome::Acquired(_)) => with("P1"),
        (Op::Acquire { .. }, Outcome::Acquired(_), Outcome::Busy(_)) => with("P6"),
        (Op::Acquire { .. }, _, _) => with("P1"),
        (Op::Release(_), Outcome::Released(Released::Inert), _) => with("P5"),
        (Op::Release(_), Outcome::Released(Released::Decremented(_)), _) => with("P9"),
        (
            Op::Release(g),
            Outcome::Released(Released::NotOurs),
            Outcome::Released(Released::Removed),
        ) => with(if before.guard_hold_compromised(*g) {
            "P15"
        } else {
            "P2"
        }),
        (Op::Release(_), _, _) => with("P9"),
        (
            Op::ReleaseAll(proc) | Op::RestartInPlace(proc),
            Outcome::ReleasedAll { released: exp, .. },
            Outcome::ReleasedAll { released: act, .. },
        ) => {
            // A file release_all removed and the model leaves alone: replay the removal.
            for path in act.iter().filter(|p| !exp.contains(p)) {
                let hold = before
                    .instance(proc)
                    .and_then(|i| i.holds.get(path))
                    .map_or(0, |h| h.id);
                observed.buggy_delete(proc, path, Cause::ReleaseAll { hold });
                if let Err(mut v) = observed.check_invariants() {
                    v.message = format!("{} — {}", v.message, message);
                    return v;
                }
            }
            with("P4")
        }
        (Op::ReleaseAll(_) | Op::RestartInPlace(_), _, _) => with("P4"),
        (
            Op::CleanStale(proc, _),
            Outcome::Cleaned { removed: exp, .. },
            Outcome::Cleaned { removed: act, .. },
        ) => {
            // A file the lock swept and the model keeps: replay the removal on the model.
            for (path, reason) in act {
                if !exp.iter().any(|(p, _)| p == path) {
                    observed.buggy_delete(proc, path, Cause::Sweep(*reason));
                    if let Err(mut v) = observed.check_invariants() {
                        v.message = format!("{} — {}", v.message, message);
                        return v;
                    }
                }
            }
            // A stale file the lock left in place.
            let kept = exp.iter().find(|(p, _)| !act.iter().any(|(q, _)| p == q));
            match kept {
                Some((_, r)) => with(property_for_kept(*r)),
                // Same lock files: the temp files differ (litter left, or a live publisher's
                // temp file removed).
                None if exp == act => with("P11"),
                None => with("P8"),
            }
        }
        (Op::Inspect(..), Outcome::Inspected(exp), Outcome::Inspected(act)) => {
            let differing = exp
                .iter()
                .zip(act.iter())
                .find(|((p, v), (q, w))| p == q && v != w);
            // A difference where one side rests on the nonce (held-here, leftover,
            // nonce-mismatch) and the other does not is a breach of the nonce rules.
            let nonce_based = |v: &Verdict| {
                matches!(
                    v,
                    Verdict::Live(LiveReason::HeldHere)
                        | Verdict::Stale(StaleReason::Leftover | StaleReason::NonceMismatch)
                )
            };
            if let Some(((_, v), (_, w))) = differing {
                if nonce_based(v) != nonce_based(w) && (!v.is_stale() || w.is_stale()) {
                    return with("P8");
                }
            }
            match differing {
                Some(((_, Verdict::Live(_)), (_, Verdict::Live(_)))) => with("P7"),
                Some(((_, Verdict::Live(l)), (_, Verdict::Stale(s)))) => {
                    with(property_for_live(*l, *s, false))
                }
                Some(((_, Verdict::Stale(s)), (_, Verdict::Live(_)))) => {
                    with(property_for_kept(*s))
                }
                Some(((_, Verdict::Stale(a)), (_, Verdict::Stale(b)))) => with(
                    if *a == StaleReason::NonceMismatch || *b == StaleReason::NonceMismatch {
                        "P8"
                    } else {
                        "P7"
                    },
                ),
                _ => with("P11"),
            }
        }
        _ => with("P12"),
    }
}

/// P13 when the two sides disagree on a lease verdict, else P14 when they disagree on a host-less
/// file (only the namespace rules govern those); `None` when neither applies. Deletions of a
/// live file are left to the replay below, which names the same properties.
fn namespace_or_lease_rule(
    before: &Model,
    op: &Op,
    expected: &Outcome,
    actual: &Outcome,
) -> Option<&'static str> {
    let leased =
        |r: &StaleReason| matches!(r, StaleReason::LeaseExpired | StaleReason::MaxHoldPassed);
    let hostless = |path: &Path| {
        !before.policy.same_pid_namespace
            && matches!(
                before.files.get(path).map(|f| &f.content),
                Some(Content::Payload(p)) if p.host.is_none()
            )
    };
    match (op, expected, actual) {
        (
            Op::Acquire { session, .. },
            Outcome::Acquired(Acquired::Reclaimed(a)),
            Outcome::Acquired(Acquired::Reclaimed(_)) | Outcome::Busy(_),
        ) => {
            let b = match actual {
                Outcome::Acquired(Acquired::Reclaimed(b)) => Some(b),
                _ => None,
            };
            if leased(a) || b.is_some_and(leased) {
                Some("P13")
            } else {
                hostless(&before.resolved_lock_path(session)).then_some("P14")
            }
        }
        (Op::Inspect(..), Outcome::Inspected(exp), Outcome::Inspected(act)) => {
            let ((path, v), (_, w)) = exp
                .iter()
                .zip(act.iter())
                .find(|((p, v), (q, w))| p == q && v != w)?;
            let lease = [v, w]
                .iter()
                .any(|x| matches!(x, Verdict::Stale(r) if leased(r)));
            if lease {
                Some("P13")
            } else {
                hostless(path).then_some("P14")
            }
        }
        _ => None,
    }
}

/// The property a lock breaks by removing a file the model judges live (`live`), claiming
/// `claimed`.
pub fn property_for_live(live: LiveReason, claimed: StaleReason, releasing: bool) -> &'static str {
    if matches!(
        claimed,
        StaleReason::LeaseExpired | StaleReason::MaxHoldPassed
    ) {
        // A lease judged stale while the model says its holder is live: P13.
        return "P13";
    }
    match live {
        LiveReason::MalformedInGrace => "P10",
        LiveReason::NotRegular => "P16",
        LiveReason::HeldHere if releasing => "P3",
        LiveReason::HeldHere => "P1",
        LiveReason::LegacyOwnPid => "P7",
        LiveReason::OwnerAlive if claimed == StaleReason::NonceMismatch => "P8",
        LiveReason::OwnerAlive | LiveReason::ForeignHost => "P2",
        LiveReason::UnknownNamespace => "P14",
    }
}

/// The property a lock breaks by keeping (or waiting on) a file the model judges stale.
pub fn property_for_kept(stale: StaleReason) -> &'static str {
    match stale {
        StaleReason::NonceMismatch | StaleReason::Leftover => "P6",
        StaleReason::DeadPid | StaleReason::RecycledPid => "P11",
        StaleReason::MalformedExpired => "P10",
        StaleReason::TooOld => "P7",
        StaleReason::LeaseExpired | StaleReason::MaxHoldPassed => "P13",
        StaleReason::BeforeBoot => "P11",
    }
}
