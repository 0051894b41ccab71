//! The judge's rules, as a table: the same evidence gets the same property in every layer, and
//! the rules the loom/shuttle oracle and the reference model share agree with DESIGN §5.

use lockcore::{LiveReason, StaleReason, Verdict};
use models::judge::{self, Finding};
use models::trace::Trace;

fn p(f: Finding) -> &'static str {
    f.property()
}

#[test]
fn taken_while_live_names_the_rule_that_made_the_victim_live() {
    use LiveReason::*;
    use StaleReason::*;
    // P3: a nonce-mismatch reclaim of our own lock while its release_all runs.
    assert_eq!(
        p(judge::taken_while_live(NonceMismatch, Some(HeldHere), true)),
        "P3"
    );
    assert_eq!(
        p(judge::taken_while_live(
            NonceMismatch,
            Some(HeldHere),
            false
        )),
        "P1"
    );
    // P8: of another live pid's lock.
    assert_eq!(
        p(judge::taken_while_live(
            NonceMismatch,
            Some(OwnerAlive),
            false
        )),
        "P8"
    );
    // P2: a live owner's lock deleted on another ground (an EPERM probe read as dead).
    assert_eq!(
        p(judge::taken_while_live(DeadPid, Some(OwnerAlive), false)),
        "P2"
    );
    assert_eq!(
        p(judge::taken_while_live(TooOld, Some(ForeignHost), false)),
        "P2"
    );
    // P10: a file being written, reclaimed inside its grace.
    assert_eq!(
        p(judge::taken_while_live(
            MalformedExpired,
            Some(MalformedInGrace),
            false
        )),
        "P10"
    );
    assert_eq!(
        p(judge::taken_while_live(TooOld, Some(LegacyOwnPid), false)),
        "P7"
    );
    assert_eq!(
        p(judge::taken_while_live(
            DeadPid,
            Some(UnknownNamespace),
            false
        )),
        "P14"
    );
    assert_eq!(
        p(judge::taken_while_live(TooOld, Some(NotRegular), false)),
        "P16"
    );
    // A lease judged expired while its holder is live: P13, whatever made it live.
    assert_eq!(
        p(judge::taken_while_live(
            LeaseExpired,
            Some(OwnerAlive),
            false
        )),
        "P13"
    );
    // Nothing known beyond two owners: P1, even for a lease claim.
    assert_eq!(p(judge::taken_while_live(DeadPid, None, false)), "P1");
    assert_eq!(p(judge::taken_while_live(LeaseExpired, None, false)), "P1");
}

#[test]
fn release_rules() {
    assert_eq!(p(judge::wrongful_release(true, true, true)), "P9");
    assert_eq!(p(judge::wrongful_release(false, true, true)), "P5");
    assert_eq!(p(judge::wrongful_release(false, false, true)), "P15");
    assert_eq!(p(judge::wrongful_release(false, false, false)), "P2");
    assert_eq!(p(judge::lost_hold(true)), "P9");
    assert_eq!(p(judge::lost_hold(false)), "P2");
    assert_eq!(p(judge::release_all_removed(true, false)), "P2");
    assert_eq!(p(judge::release_all_removed(false, true)), "P2");
    assert_eq!(p(judge::release_all_removed(false, false)), "P4");
    assert_eq!(p(judge::nonce_not_rotated()), "P3");
    assert_eq!(p(judge::rotated_before_cleanup()), "P3");
    assert_eq!(p(judge::guard_differs(true, true)), "P15");
    assert_eq!(p(judge::guard_differs(false, true)), "P9");
    assert_eq!(p(judge::guard_differs(false, false)), "P5");
}

#[test]
fn kept_and_divergence_rules() {
    use StaleReason::*;
    assert_eq!(p(judge::stale_kept(NonceMismatch)), "P6");
    assert_eq!(p(judge::stale_kept(Leftover)), "P6");
    assert_eq!(p(judge::stale_kept(DeadPid)), "P11");
    assert_eq!(p(judge::stale_kept(MalformedExpired)), "P10");
    assert_eq!(p(judge::stale_kept(TooOld)), "P7");
    assert_eq!(p(judge::stale_kept(MaxHoldPassed)), "P13");
    assert_eq!(
        p(judge::reclaim_reasons_differ(DeadPid, NonceMismatch)),
        "P8"
    );
    assert_eq!(p(judge::reclaim_reasons_differ(Leftover, DeadPid)), "P6");
    assert_eq!(p(judge::reclaim_reasons_differ(DeadPid, TooOld)), "P7");
    let leftover = Verdict::Stale(Leftover);
    let too_old = Verdict::Stale(TooOld);
    assert_eq!(p(judge::verdicts_differ(Some((leftover, too_old)))), "P8");
    assert_eq!(p(judge::verdicts_differ(None)), "P11");
    assert_eq!(
        p(judge::directory_differs(true, true, true, true, true)),
        "P16"
    );
    assert_eq!(
        p(judge::directory_differs(false, true, true, true, true)),
        "P11"
    );
    assert_eq!(
        p(judge::directory_differs(false, false, true, false, true)),
        "P4"
    );
    assert_eq!(
        p(judge::directory_differs(false, false, true, false, false)),
        "P2"
    );
    assert_eq!(
        p(judge::directory_differs(false, false, false, true, false)),
        "P9"
    );
    assert_eq!(
        p(judge::directory_differs(false, false, false, false, false)),
        "P1"
    );
}

#[test]
fn a_finding_becomes_a_violation_with_its_rule() {
    let v = judge::blocked().violation("acquiring s1 was busy", Trace::default());
    assert_eq!(v.property, "P6");
    assert!(v.message.starts_with(judge::blocked().rule()));
    assert!(v.message.ends_with(": acquiring s1 was busy"));
    assert_eq!(judge::property_in(&v.to_string()), Some("P6"));
}

// P11: the waiting rules — a lost wake-up and an overtaken waiter are liveness failures.
#[test]
fn waiting_rules_are_p11() {
    assert_eq!(p(judge::slept_through_release()), "P11");
    assert_eq!(p(judge::served_out_of_order()), "P11");
    assert_eq!(p(judge::wait_unbounded()), "P11");
}
