//! The kinds of disagreement proptest finds between lockcore and the reference model in one step
//! (an outcome, a verdict, a sweep, the ages), each named by the rule the two sides apply
//! differently. [`crate::reference::diagnose`] picks the kind; deletions lockcore made and the
//! model did not are first replayed on the model, so that the invariants name them.

use super::{
    blocked, hostile_harm, old_epoch_left, reentrancy, reentrant_hold_freed, release_all_disturbed,
    stale_kept, taken_while_live, temp_left, two_owners, Finding,
};
use lockcore::{LiveReason, StaleReason, Verdict};

/// lockcore and the model disagree on a lease verdict (P13).
pub fn lease_rule_broken() -> Finding {
    Finding::new(
        "P13",
        "a lease is judged by its holder's refreshes (the mtime)",
    )
}

/// lockcore and the model disagree on a peer's operation or on a host-less file, which only the
/// namespace rules govern (P14).
pub fn namespace_rule_broken() -> Finding {
    Finding::new(
        "P14",
        "a host-less file may come from another pid namespace: no pid rule applies to it",
    )
}

/// lockcore took a lock the model says is busy (P1).
pub fn taken_while_busy() -> Finding {
    two_owners(false)
}

/// lockcore reclaimed (as `claimed`) a lock the model keeps, and the model's invariants name no
/// more specific rule (P2).
pub fn wrongful_reclaim() -> Finding {
    Finding::new("P2", "reclaimed a lock whose owner is live")
}

/// Both reclaimed, for different reasons `a` (the model's) and `b` (lockcore's): P8 when one is
/// a nonce mismatch, P6 when one is our own leftover, else P7.
pub fn reclaim_reasons_differ(a: StaleReason, b: StaleReason) -> Finding {
    if a == StaleReason::NonceMismatch || b == StaleReason::NonceMismatch {
        nonce_rules()
    } else if a == StaleReason::Leftover || b == StaleReason::Leftover {
        // The nonce rule for our own leftover (P6) judged by another rule.
        blocked()
    } else {
        legacy_rules()
    }
}

/// The two sides disagree on re-entering a lock, or on what a release does to a reentrant hold
/// (P9).
pub fn reentry_differs() -> Finding {
    reentrant_hold_freed()
}

/// The nonce rules (P8): a matching nonce of a live holder is never reclaimed, a mismatch with
/// our pid is reclaimed at once, a mismatch with another live pid is not reclaimed on that basis.
pub fn nonce_rules() -> Finding {
    Finding::new(
        "P8",
        "the nonce rules: a matching nonce is kept, a mismatch is stale only for our own pid",
    )
}

/// The pid and age rules (P7): a file without a nonce is judged by pid and age alone.
pub fn legacy_rules() -> Finding {
    Finding::new(
        "P7",
        "a file without a nonce is judged by pid and age alone",
    )
}

/// `inspect` reports ages other than the model's (createdAt, or the mtime for a malformed file or
/// a createdAt in the future): P7.
pub fn ages_differ() -> Finding {
    legacy_rules()
}

/// A sweep removed the same lock files as the model, but not for the same reasons (P8).
pub fn sweep_reasons_differ() -> Finding {
    nonce_rules()
}

/// `inspect`'s verdicts differ: `differing` is the first path where the model says `v` and
/// lockcore `w` (`None`: the lists differ in which files they hold, P11).
pub fn verdicts_differ(differing: Option<(Verdict, Verdict)>) -> Finding {
    let Some((v, w)) = differing else {
        return temp_left();
    };
    // A difference where one side rests on the nonce (held-here, leftover, nonce-mismatch) and
    // the other does not is a breach of the nonce rules.
    let nonce_based = |v: &Verdict| {
        matches!(
            v,
            Verdict::Live(LiveReason::HeldHere)
                | Verdict::Stale(StaleReason::Leftover | StaleReason::NonceMismatch)
        )
    };
    if nonce_based(&v) != nonce_based(&w) && (!v.is_stale() || w.is_stale()) {
        return nonce_rules();
    }
    match (v, w) {
        (Verdict::Live(_), Verdict::Live(_)) => legacy_rules(),
        (Verdict::Live(l), Verdict::Stale(s)) => taken_while_live(s, Some(l), false),
        (Verdict::Stale(s), Verdict::Live(_)) => stale_kept(s),
        (Verdict::Stale(a), Verdict::Stale(b)) => {
            if a == StaleReason::NonceMismatch || b == StaleReason::NonceMismatch {
                nonce_rules()
            } else {
                legacy_rules()
            }
        }
    }
}

/// The directory differs from the model's after a step. Evidence, most specific first:
/// `hostile`, a hostile entry or a symlink's target is gone or changed (P16); `temp`, a
/// publish temp file is left (P11); `removed`, lockcore removed a file the model keeps (P4 after
/// `release_all`, else P2); `left`, lockcore left a file the model removes (P4 after
/// `release_all`, else P9); otherwise a file was replaced: another owner's (P1).
pub fn directory_differs(
    hostile: bool,
    temp: bool,
    removed: bool,
    left: bool,
    after_release_all: bool,
) -> Finding {
    if hostile {
        hostile_harm()
    } else if temp {
        temp_left()
    } else if removed && after_release_all {
        release_all_disturbed()
    } else if removed {
        Finding::new("P2", "lockcore removed a lock file the protocol keeps")
    } else if left && after_release_all {
        old_epoch_left()
    } else if left {
        reentrancy()
    } else {
        two_owners(false)
    }
}

/// The two sides' outcomes differ in a way no rule above covers (P12: the lock did something
/// the protocol has no step for).
pub fn outcome_differs() -> Finding {
    Finding::new("P12", "the lock's outcome must be the model's")
}
