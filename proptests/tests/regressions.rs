//! Named regressions: histories a shrink produced (or that pin down a divergence found on the
//! way), replayed through the same harness as the state machine.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use lockcore::{Mutant, Policy};
use proptests::machine::{
    HostChoice, LeaseChoice, NonceChoice, PayloadSpec, PidChoice, RefState, StartChoice, Transition,
};
use proptests::runner::run_case;

fn replay(policy: &Policy, transitions: &[Transition]) -> Result<(), String> {
    run_case(policy, RefState::initial(), transitions, None, None).map_err(|f| f.to_string())
}

fn property_of(policy: &Policy, transitions: &[Transition]) -> Option<&'static str> {
    run_case(policy, RefState::initial(), transitions, None, None)
        .err()
        .map(|f| f.violation.property)
}

/// P11: a young temp file of a live publisher survives a sweep; a dead publisher's goes at once.
/// (Found by the first release campaign: the issue's spec said "temp files older than the grace
/// are removed"; lockcore e669087 keeps a live publisher's temp file until `stale_after`, which
/// the model now follows — removing it would break that publisher's link.)
#[test]
fn regression_live_publishers_temp_file_survives_sweep() {
    let history = [
        Transition::PlantTemp {
            session: 0,
            publisher: 3,
            mtime_age_ms: 30_001,
        },
        Transition::PlantTemp {
            session: 1,
            publisher: 0,
            mtime_age_ms: 0,
        },
        Transition::CleanStale(1),
    ];
    assert_eq!(replay(&Policy::default(), &history), Ok(()));
}

/// P6: after an in-place restart a file of the previous iteration (same pid and start time,
/// old nonce) is reclaimed at once; the ignore-nonce mutant waits instead.
#[test]
fn regression_previous_iteration_file_is_reclaimed_at_once() {
    let history = [
        Transition::PlantPayload {
            session: 0,
            spec: PayloadSpec {
                viewer: 0,
                pid: PidChoice::Own,
                nonce: NonceChoice::Other(1),
                host: HostChoice::Same,
                starttime: StartChoice::Actual,
                created_offset_ms: 0,
                token: true,
                lease: LeaseChoice::Absent,
            },
            mtime_age_ms: 0,
        },
        Transition::Acquire {
            proc: 0,
            session: 0,
            reentrant: true,
        },
    ];
    assert_eq!(replay(&Policy::default(), &history), Ok(()));
    let buggy = Policy {
        mutant: Some(Mutant::IgnoreNonce),
        ..Policy::default()
    };
    assert_eq!(property_of(&buggy, &history), Some("P6"));
}

/// P4/P2: a lock reclaimed from us as too old is reported not-ours by release_all, and the new
/// owner's file survives (the unchecked-release shrink).
#[test]
fn regression_release_all_leaves_a_reclaimed_lock_alone() {
    let history = [
        Transition::Acquire {
            proc: 0,
            session: 2,
            reentrant: false,
        },
        Transition::Advance(31 * 60 * 1000),
        Transition::Acquire {
            proc: 1,
            session: 2,
            reentrant: false,
        },
        Transition::RestartInPlace(0),
    ];
    assert_eq!(replay(&Policy::default(), &history), Ok(()));
    let buggy = Policy {
        mutant: Some(Mutant::UncheckedRelease),
        ..Policy::default()
    };
    assert_eq!(property_of(&buggy, &history), Some("P2"));
}

/// P2 (model): releasing a file that is byte for byte our payload is legitimate even after the
/// hold was displaced and the very bytes were put back. (Shrunk by the 30 000-case release
/// campaign: the model's own invariant wrongly called this a P2; lockcore was right.)
#[test]
fn regression_release_all_of_restored_bytes_is_legitimate() {
    let history = [
        Transition::Acquire {
            proc: 2,
            session: 0,
            reentrant: true,
        },
        Transition::Copy { from: 0, to: 1 },
        Transition::Advance(1_860_000),
        Transition::Acquire {
            proc: 3,
            session: 0,
            reentrant: true,
        },
        Transition::Advance(1_860_000),
        Transition::CleanStale(2),
        Transition::Copy { from: 1, to: 0 },
        Transition::ReleaseAll(2),
    ];
    assert_eq!(replay(&Policy::default(), &history), Ok(()));
}

/// P15: a holder whose lease expired, whose file a sweep removed and at whose path a Unix socket
/// now sits, learns at its next refresh that the lock is not its own (compromised). Found by the
/// models: `OsFs::touch` returned a socket's `ENXIO` as an error, so the hold was reported failed
/// on every round and never compromised; a socket now counts as "not a regular file".
#[test]
fn regression_refresh_over_a_socket_marks_the_hold_compromised() {
    let history = [
        Transition::UseManualHeartbeat(0),
        Transition::Acquire {
            proc: 0,
            session: 0,
            reentrant: true,
        },
        Transition::Advance(31_000),
        Transition::CleanStale(1),
        Transition::PlantHostile {
            session: 0,
            kind: proptests::machine::HostileKind::Socket,
            mtime_age_ms: 0,
        },
        Transition::Refresh(0),
    ];
    assert_eq!(replay(&Policy::default(), &history), Ok(()));
}
