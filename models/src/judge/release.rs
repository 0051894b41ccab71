//! Giving locks back: a guard's release (P2, P5, P9, P15), `release_all` and the nonce rotation
//! (P3, P4), and the reentrancy bookkeeping (P9).

use super::Finding;

/// A release deleted or revoked a lock it did not own. Evidence: `sibling`, the lock lost was
/// held by another guard of the same reentrant hold (P9); `revoked`, the released guard had been
/// revoked by `release_all` (P5); `compromised`, a refresh had found the released guard's file
/// gone or replaced (P15); otherwise P2.
pub fn wrongful_release(sibling: bool, revoked: bool, compromised: bool) -> Finding {
    if sibling {
        reentrant_hold_freed()
    } else if revoked {
        Finding::new(
            "P5",
            "dropping a guard revoked by release_all changed what a later holder owns",
        )
    } else if compromised {
        compromise_misjudged()
    } else {
        Finding::new("P2", "a release deleted or revoked a lock it did not own")
    }
}

/// A holder that still believes it holds lost its lock (at the end of a run, nobody to blame
/// but the history): P9 when a reentrant sibling of its hold was released, else P2.
pub fn lost_hold(sibling_released: bool) -> Finding {
    if sibling_released {
        reentrant_hold_freed()
    } else {
        Finding::new(
            "P2",
            "a live holder lost its lock to a delete that did not check the owner",
        )
    }
}

/// The release of one reentrant hold freed the lock while another hold remains (P9).
pub fn reentrant_hold_freed() -> Finding {
    Finding::new(
        "P9",
        "the release of one reentrant hold freed the lock while another hold remains",
    )
}

/// A lock file exists without a hold, a hold without its file, or a hold count differs from the
/// guards out (P9).
pub fn reentrancy() -> Finding {
    Finding::new(
        "P9",
        "a lock file must exist iff its hold count is > 0, with one guard per count",
    )
}

/// `release_all` returned without rotating the nonce (P3).
pub fn nonce_not_rotated() -> Finding {
    Finding::new("P3", "release_all returned without rotating the nonce")
}

/// The nonce rotated while `release_all` still had locks of the old one to remove (P3).
pub fn rotated_before_cleanup() -> Finding {
    Finding::new(
        "P3",
        "the nonce rotated while release_all still had locks to remove",
    )
}

/// After `release_all` returned, a lock of the old epoch is still held, in the registry or on
/// disk, and no fault was reported for it (P4).
pub fn old_epoch_left() -> Finding {
    Finding::new(
        "P4",
        "after release_all returned, a lock of the old epoch is still held or on disk",
    )
}

/// `release_all` touched a lock it had not set out to remove: one of another owner or of the
/// new epoch is gone, replaced, or yanked from the registry (P4).
pub fn release_all_disturbed() -> Finding {
    Finding::new(
        "P4",
        "release_all touched a lock it had not set out to remove",
    )
}

/// `release_all` removed a file that was not one of its holds. Evidence: `live_owner_elsewhere`,
/// the file was the live lock of another process (P2); `judged_live`, the stale rules judged it
/// live (P2); otherwise P4.
pub fn release_all_removed(live_owner_elsewhere: bool, judged_live: bool) -> Finding {
    if live_owner_elsewhere {
        Finding::new("P2", "release_all removed the live lock of another owner")
    } else if judged_live {
        Finding::new("P2", "release_all removed a live lock it did not own")
    } else {
        release_all_disturbed()
    }
}

/// `release_all` released other locks than the old epoch's (P4).
pub fn release_all_incomplete() -> Finding {
    Finding::new(
        "P4",
        "release_all must release exactly the old epoch's locks",
    )
}

/// A holder's view of its lock after a refresh is wrong: it was not told its file was taken, or
/// was told a lock that is still its own was compromised (P15).
pub fn compromise_misjudged() -> Finding {
    Finding::new(
        "P15",
        "a holder must learn at its refresh that its file was reclaimed or replaced, and only then",
    )
}

/// A registry differs from the one it must be: after `release_all`, P4; otherwise P9.
pub fn registry_differs(after_release_all: bool) -> Finding {
    if after_release_all {
        release_all_incomplete()
    } else {
        reentrancy()
    }
}

/// A guard's `is_held()` differs from what it must be. Evidence: `compromised`, a refresh found
/// its file gone or replaced (P15); `should_hold`, it must still hold (P9); otherwise it must
/// no longer hold: revoked or released (P5).
pub fn guard_differs(compromised: bool, should_hold: bool) -> Finding {
    if compromised {
        compromise_misjudged()
    } else if should_hold {
        reentrancy()
    } else {
        Finding::new(
            "P5",
            "a guard revoked by release_all (or released) must no longer say it holds",
        )
    }
}
