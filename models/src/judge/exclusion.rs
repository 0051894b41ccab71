//! Who may hold a lock: P1 exclusion, and the stale rules (DESIGN §4's table) whose breach lets a
//! second owner in or keeps a stale lock in place: P2, P3, P6, P7, P8, P10, P11, P13, P14, P16.

use super::Finding;
use lockcore::{LiveReason, StaleReason};

/// Two owners hold one lock path at once (P1); when one of them is a live peer in another pid
/// namespace, P14. Evidence: the owners, nothing about how the second got in.
pub fn two_owners(peer: bool) -> Finding {
    if peer {
        Finding::new(
            "P14",
            "a lock that a peer in another pid namespace holds has a second owner",
        )
    } else {
        Finding::new("P1", "two owners hold the lock at once")
    }
}

/// A lock was taken or removed as stale (`claimed`) while its holder was live. `live` is the rule
/// of DESIGN §4's table that made it live, as far as the layer can tell (`None`: it cannot tell,
/// and the harm is plain exclusion, P1); `releasing`: the holder's `release_all` was running.
pub fn taken_while_live(
    claimed: StaleReason,
    live: Option<LiveReason>,
    releasing: bool,
) -> Finding {
    let Some(live) = live else {
        return two_owners(false);
    };
    if matches!(
        claimed,
        StaleReason::LeaseExpired | StaleReason::MaxHoldPassed
    ) {
        return Finding::new("P13", "a lease was judged expired while its holder is live");
    }
    match live {
        LiveReason::MalformedInGrace => Finding::new(
            "P10",
            "reclaimed a malformed/empty lock file inside its grace: it was a live lock being written",
        ),
        LiveReason::NotRegular => Finding::new(
            "P16",
            "removed as a stale lock an entry that is not a regular file",
        ),
        LiveReason::HeldHere if releasing => Finding::new(
            "P3",
            "took as stale a lock whose release_all is still running (the nonce rotated before cleanup)",
        ),
        LiveReason::HeldHere => Finding::new(
            "P1",
            "took as stale a lock its own process holds: two owners",
        ),
        LiveReason::LegacyOwnPid => Finding::new(
            "P7",
            "judged a legacy lock (no nonce) of our live pid by more than pid and age",
        ),
        LiveReason::OwnerAlive if claimed == StaleReason::NonceMismatch => Finding::new(
            "P8",
            "reclaimed by nonce mismatch the live lock of another pid",
        ),
        LiveReason::OwnerAlive | LiveReason::ForeignHost => Finding::new(
            "P2",
            "deleted as stale the lock of a live owner",
        ),
        LiveReason::UnknownNamespace => Finding::new(
            "P14",
            "took the lock of an owner that may be alive in another pid namespace",
        ),
    }
}

/// A lease-bearing lock whose holder refreshed it within the lease (and whose declared maximum
/// hold had not passed) was reclaimed or swept by age or lease (P13).
pub fn refreshed_lease_taken() -> Finding {
    Finding::new(
        "P13",
        "a lease-bearing lock whose holder refreshed it in time was reclaimed",
    )
}

/// lockcore reclaimed a lock whose owner, a peer in a sibling pid namespace, was alive (P14).
pub fn namespace_owner_taken() -> Finding {
    Finding::new(
        "P14",
        "lockcore took a lock whose owner is alive in another pid namespace",
    )
}

/// A lock the rules judge stale (`stale`) was kept, or waited on.
pub fn stale_kept(stale: StaleReason) -> Finding {
    match stale {
        StaleReason::NonceMismatch | StaleReason::Leftover => blocked(),
        StaleReason::DeadPid | StaleReason::RecycledPid | StaleReason::BeforeBoot => Finding::new(
            "P11",
            "a lock of a dead owner blocked others beyond the dead-pid check",
        ),
        StaleReason::MalformedExpired => {
            Finding::new("P10", "a malformed lock file past its grace was kept")
        }
        StaleReason::TooOld => Finding::new("P7", "a lock older than stale_after was kept"),
        StaleReason::LeaseExpired | StaleReason::MaxHoldPassed => Finding::new(
            "P13",
            "a lock whose lease (or maximum hold) has passed was kept",
        ),
    }
}

/// A lock that the protocol lets us take at once (left by an earlier epoch or incarnation of our
/// pid) stayed busy: the 30-minute block (P6).
pub fn blocked() -> Finding {
    Finding::new(
        "P6",
        "a lock left by an earlier epoch of our pid was not taken at once (the 30-minute block)",
    )
}

/// An uncontended lock was busy: a phantom second owner (P1).
pub fn busy_when_free() -> Finding {
    Finding::new("P1", "an uncontended lock was busy")
}
