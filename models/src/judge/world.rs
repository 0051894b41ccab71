//! What the environment does to a run and what a run leaves in it: I/O faults and unexpected
//! errors (P12), litter and waits that do not end (P11), hostile entries at lock paths (P16), and
//! a harness that cannot run a step (named P12, the nearest property).

use super::Finding;

/// A publish temp file (`.lktmp`) was left behind, or the temp files differ from the ones the
/// rules leave (P11).
pub fn temp_left() -> Finding {
    Finding::new("P11", "a publish temp file was left behind")
}

/// A wait did not end within its bound (P11: nothing may block others beyond the dead-pid
/// check).
pub fn wait_unbounded() -> Finding {
    Finding::new("P11", "a wait did not end within its bound")
}

/// An operation that met an injected I/O fault failed with something other than a typed
/// `LockError::Io` (P12).
pub fn untyped_error() -> Finding {
    Finding::new("P12", "an injected I/O fault must surface as LockError::Io")
}

/// An operation failed with no fault injected (P12).
pub fn unexpected_error() -> Finding {
    Finding::new("P12", "an operation failed with no fault injected")
}

/// An injected fault was not reported (P12).
pub fn fault_unreported() -> Finding {
    Finding::new("P12", "an injected fault must be reported")
}

/// After a fault, the manager's registry disagrees with the guards that say they hold (P12).
pub fn registry_inconsistent() -> Finding {
    Finding::new(
        "P12",
        "the registry must agree with the live guards after a fault",
    )
}

/// The harness could not set up or run a step (temp directory, listing, start times): named
/// P12, the nearest property, so that it is never mistaken for a pass.
pub fn harness_failed() -> Finding {
    Finding::new("P12", "the harness could not run the step")
}

/// A hostile entry at a lock path (FIFO, socket, device, directory, symlink) was followed to
/// write or delete, removed without a clean that asked for it, or judged otherwise than refused
/// (P16).
pub fn hostile_harm() -> Finding {
    Finding::new(
        "P16",
        "an entry that is not a regular file must be refused, never followed, and removed only by a clean that asked for it",
    )
}

/// A waiter for another process's lock took it later than one bounded re-check
/// (`lockcore::wait::MAX_BLIND_WAIT` of virtual time) after the lock was released or its owner
/// died, or timed out although the lock was free: a wake-up was lost (P11: nothing may block a
/// free lock's waiters).
pub fn slept_through_release() -> Finding {
    Finding::new(
        "P11",
        "a waiter must take a freed lock within one bounded re-check of its release or its owner's death",
    )
}

/// Waiters of one instance were not served first come, first served: a newer waiter, or the
/// releasing thread asking again, got a freed lock before an older waiter (P11: a waiter that
/// can be overtaken forever is blocked).
pub fn served_out_of_order() -> Finding {
    Finding::new(
        "P11",
        "waiters of one instance must get a freed lock oldest first",
    )
}
