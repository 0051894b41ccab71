//! shuttle twins: every catalogue mutant (`Mutant::ALL`, all 20) is caught at shuttle size
//! (≥ 4 threads, ≥ 3 sessions, ≥ 2 processes, a crash and an exec-restart) under PCT and, if PCT
//! has not failed it yet, the random scheduler — fixed seeds, so a run is replayable.
//!
//! Probability: PCT with depth d over n threads and k steps finds a bug of depth d with
//! probability ≥ 1/(n·k^(d-1)) per schedule; the catalogue bugs here need at most 2–3 ordering
//! constraints (depth ≤ 3) in scenarios of ~5 threads and ~150 steps, so ≥ 1/(5·150²) ≈ 1e-5 per
//! schedule in the worst case — but the random scheduler, which yields at every step, hits most
//! of them in the first few schedules (measured: see each result line). The fixed seeds make the
//! outcome deterministic, so a pass here is not luck that can turn into a flake.
//! Each twin asserts the property its mutant breaks, as the catalogue names it
//! (`Mutant::property()`: P1–P15 across the 20).
#![cfg(feature = "shuttle")]

use lockcore::Mutant;
use loom_tests::harness::shuttle_twin;

/// Schedules per scheduler before a twin gives up.
const SCHEDULES: usize = 2_000;
/// The fixed seed of every twin.
const SEED: u64 = 0x5eed_1001;

macro_rules! twin {
    ($name:ident, $m:expr) => {
        #[test]
        fn $name() {
            shuttle_twin(
                concat!("shuttle_mutants::", stringify!($name)),
                $m,
                SEED,
                SCHEDULES,
            );
        }
    };
}

twin!(mutant_rotate_before_cleanup, Mutant::RotateBeforeCleanup);
twin!(
    mutant_release_all_live_iteration,
    Mutant::ReleaseAllLiveIteration
);
twin!(mutant_release_all_index_skip, Mutant::ReleaseAllIndexSkip);
twin!(mutant_naive_reclaim, Mutant::NaiveReclaim);
twin!(mutant_rename_takeover, Mutant::RenameTakeover);
twin!(mutant_unchecked_release, Mutant::UncheckedRelease);
twin!(mutant_release_by_key, Mutant::ReleaseByKey);
twin!(mutant_registry_before_unlink, Mutant::RegistryBeforeUnlink);
twin!(mutant_empty_window, Mutant::EmptyWindow);
twin!(mutant_eperm_is_dead, Mutant::EpermIsDead);
twin!(mutant_ignore_nonce, Mutant::IgnoreNonce);
twin!(mutant_nonce_any_pid, Mutant::NonceAnyPid);
twin!(mutant_no_reentry_count, Mutant::NoReentryCount);
twin!(mutant_hostless_trusted, Mutant::HostlessTrusted);
twin!(mutant_lease_by_created_at, Mutant::LeaseByCreatedAt);
twin!(mutant_refresh_by_path, Mutant::RefreshByPath);
twin!(mutant_rename_aside_reclaim, Mutant::RenameAsideReclaim);
twin!(mutant_lost_wakeup, Mutant::LostWakeup);
twin!(mutant_barging, Mutant::Barging);
twin!(
    mutant_handover_lost_on_timeout,
    Mutant::HandoverLostOnTimeout
);

/// Every catalogue entry has a twin above (the list is checked against `Mutant::ALL`).
#[test]
fn every_mutant_has_a_shuttle_twin() {
    let source = include_str!("shuttle_mutants.rs");
    for m in Mutant::ALL {
        let name = format!("mutant_{}", m.id().replace('-', "_"));
        // `twin!(name, …)`, possibly split over lines by rustfmt.
        let compact: String = source.split_whitespace().collect();
        assert!(
            compact.contains(&format!("twin!({name},")),
            "no shuttle twin for {m}"
        );
    }
}
