//! The diagnosis: a step where lockcore and the model disagree, turned into evidence for
//! [`crate::judge`]. Deletions lockcore made and the model did not are replayed on a copy of the
//! model as [`Model::buggy_delete`], so that the invariants name them; otherwise the kind of
//! disagreement (which operation, which outcomes) is what the judge rules on.

use super::*;

/// Names the property a divergence violates: `expected` is the model's outcome of `op` (applied
/// to `before`), `actual` what the system under test did. Deletions the system made and the
/// model did not are replayed on a copy of `before` as [`Model::buggy_delete`] so that the
/// invariants name the property; otherwise the outcome kinds decide.
pub fn diagnose(before: &Model, op: &Op, expected: &Outcome, actual: &Outcome) -> Violation {
    let message = format!("{op}: the model says {expected:?}, the lock did {actual:?}");
    let with = |finding: judge::Finding| finding.violation(&message, before.trace());
    if let Some(finding) = namespace_or_lease_rule(before, op, expected, actual) {
        return with(finding);
    }
    match op {
        // A refresh that misses a lost file, or reports one it still has (P15).
        Op::Refresh(_) => with(judge::compromise_misjudged()),
        Op::PeerAcquire { .. } | Op::PeerRelease { .. } => with(judge::namespace_rule_broken()),
        // A clean that treats non-regular entries otherwise (P16).
        Op::CleanNonRegular(..) => with(judge::hostile_harm()),
        Op::Acquire { proc, session, .. } => {
            acquire(before, proc, session, expected, actual, &message)
        }
        Op::Release(g) => with(release(before, *g, expected, actual)),
        Op::ReleaseAll(proc) | Op::RestartInPlace(proc) => {
            release_all(before, proc, expected, actual, &message)
        }
        Op::CleanStale(proc, _) => clean_stale(before, proc, expected, actual, &message),
        Op::Inspect(..) => with(match (expected, actual) {
            (Outcome::Inspected(exp), Outcome::Inspected(act)) => {
                let differing = exp
                    .iter()
                    .zip(act.iter())
                    .find(|((p, v), (q, w))| p == q && v != w)
                    .map(|((_, v), (_, w))| (*v, *w));
                judge::verdicts_differ(differing)
            }
            _ => judge::outcome_differs(),
        }),
        _ => with(judge::outcome_differs()),
    }
}

/// Replays on a copy of `before` the removals lockcore made and the model did not, one at a
/// time; the first that the invariants flag is the violation (with the divergence appended).
fn replay(
    before: &Model,
    actor: &ProcKey,
    removals: impl IntoIterator<Item = (PathBuf, Cause)>,
    message: &str,
) -> Option<Violation> {
    let mut observed = before.clone();
    for (path, cause) in removals {
        observed.buggy_delete(actor, &path, cause);
        if let Err(mut v) = observed.check_invariants() {
            v.message = format!("{} — {}", v.message, message);
            return Some(v);
        }
    }
    None
}

/// A `try_acquire` whose outcome differs from the model's.
fn acquire(
    before: &Model,
    proc: &ProcKey,
    session: &Path,
    expected: &Outcome,
    actual: &Outcome,
    message: &str,
) -> Violation {
    let finding = match (expected, actual) {
        // Anything but an immediate refusal at a hostile entry, or a refusal where the model
        // sees a regular file (P16).
        (Outcome::NotRegular(_), _) | (_, Outcome::NotRegular(_)) => judge::hostile_harm(),
        (Outcome::Busy(_), Outcome::Acquired(Acquired::Reclaimed(r))) => {
            let removal = (lock_path_of(session), Cause::Reclaim(*r));
            if let Some(v) = replay(before, proc, [removal], message) {
                return v;
            }
            judge::wrongful_reclaim()
        }
        (Outcome::Acquired(Acquired::Reclaimed(r)), Outcome::Busy(_)) => judge::stale_kept(*r),
        (Outcome::Acquired(Acquired::Reclaimed(a)), Outcome::Acquired(Acquired::Reclaimed(b))) => {
            judge::reclaim_reasons_differ(*a, *b)
        }
        (Outcome::Acquired(Acquired::Reentered), _)
        | (_, Outcome::Acquired(Acquired::Reentered)) => judge::reentry_differs(),
        (Outcome::Busy(_), Outcome::Acquired(_)) => judge::taken_while_busy(),
        (Outcome::Acquired(_), Outcome::Busy(_)) => judge::blocked(),
        _ => judge::two_owners(false),
    };
    finding.violation(message, before.trace())
}

/// A guard's release whose outcome differs from the model's.
fn release(before: &Model, guard: u64, expected: &Outcome, actual: &Outcome) -> judge::Finding {
    match (expected, actual) {
        (Outcome::Released(Released::Inert), _) => judge::wrongful_release(false, true, false),
        (Outcome::Released(Released::Decremented(_)), _) => judge::reentry_differs(),
        (Outcome::Released(Released::NotOurs), Outcome::Released(Released::Removed)) => {
            judge::wrongful_release(false, false, before.guard_hold_compromised(guard))
        }
        _ => judge::reentrancy(),
    }
}

/// A `release_all` whose outcome differs from the model's: a file it removed and the model
/// leaves alone is replayed; otherwise P4.
fn release_all(
    before: &Model,
    proc: &ProcKey,
    expected: &Outcome,
    actual: &Outcome,
    message: &str,
) -> Violation {
    if let (
        Outcome::ReleasedAll { released: exp, .. },
        Outcome::ReleasedAll { released: act, .. },
    ) = (expected, actual)
    {
        let removals = act.iter().filter(|p| !exp.contains(p)).map(|path| {
            let hold = before
                .instance(proc)
                .and_then(|i| i.holds.get(path))
                .map_or(0, |h| h.id);
            (path.clone(), Cause::ReleaseAll { hold })
        });
        if let Some(v) = replay(before, proc, removals, message) {
            return v;
        }
    }
    judge::release_all_incomplete().violation(message, before.trace())
}

/// A `clean_stale` whose outcome differs from the model's: non-regular entries treated
/// otherwise (P16); a file swept that the model keeps is replayed; a stale file left in place
/// is named by its stale rule; the same lock files with other temp files is litter (P11).
fn clean_stale(
    before: &Model,
    proc: &ProcKey,
    expected: &Outcome,
    actual: &Outcome,
    message: &str,
) -> Violation {
    let with = |finding: judge::Finding| finding.violation(message, before.trace());
    let (
        Outcome::Cleaned {
            removed: exp,
            non_regular: exp_non_regular,
            ..
        },
        Outcome::Cleaned {
            removed: act,
            non_regular: act_non_regular,
            ..
        },
    ) = (expected, actual)
    else {
        return with(judge::outcome_differs());
    };
    if exp_non_regular != act_non_regular {
        return with(judge::hostile_harm());
    }
    let swept = act
        .iter()
        .filter(|(path, _)| !exp.iter().any(|(p, _)| p == path))
        .map(|(path, reason)| (path.clone(), Cause::Sweep(*reason)));
    if let Some(v) = replay(before, proc, swept, message) {
        return v;
    }
    // A stale file the lock left in place.
    let kept = exp.iter().find(|(p, _)| !act.iter().any(|(q, _)| p == q));
    with(match kept {
        Some((_, r)) => judge::stale_kept(*r),
        // Same lock files: the temp files differ (litter left, or a live publisher's temp file
        // removed).
        None if exp == act => judge::temp_left(),
        None => judge::sweep_reasons_differ(),
    })
}

/// The lease rule (P13) when the two sides disagree on a lease verdict, else the namespace rule
/// (P14) when they disagree on a host-less file (only the namespace rules govern those); `None`
/// when neither applies. Deletions of a live file are left to the replay, which names the same
/// properties.
fn namespace_or_lease_rule(
    before: &Model,
    op: &Op,
    expected: &Outcome,
    actual: &Outcome,
) -> Option<judge::Finding> {
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
                Some(judge::lease_rule_broken())
            } else {
                hostless(&before.resolved_lock_path(session)).then(judge::namespace_rule_broken)
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
                Some(judge::lease_rule_broken())
            } else {
                hostless(path).then(judge::namespace_rule_broken)
            }
        }
        _ => None,
    }
}
