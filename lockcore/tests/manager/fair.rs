//! The queue across processes (`Policy::fair`, lockcore/src/queue.rs) against tickets planted
//! on disk: who goes first, when a ticket stops counting, and what is never touched. The
//! managers run on a virtual clock whose wall time moves with it, and every planted ticket's
//! mtime is set from that clock, so freshness is exact and no test depends on real time.

use super::*;
use lockcore::queue::{TICKET_FRESH, TICKET_LITTER};

fn fair() -> Policy {
    Policy {
        fair: true,
        ..Policy::default()
    }
}

/// A regular ticket of `s.jsonl.lock` that arrived at `stamp_ms` (pid 77), its mtime set to
/// `mtime_ms` (wall clock, unix milliseconds).
fn plant_ticket(fx: &Fixture, stamp_ms: i64, mtime_ms: i64) -> PathBuf {
    let p = fx.dir.path().join(format!(
        ".s.jsonl.lock.{stamp_ms:015}.77-00000000000000aa.lkq"
    ));
    std::fs::write(&p, b"").unwrap();
    set_mtime_at(&p, mtime_ms);
    p
}

fn set_mtime_at(path: &Path, ms: i64) {
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(UNIX_EPOCH + Duration::from_millis(ms as u64))
        .unwrap();
}

/// The error of an acquisition that found older waiters of other processes queued.
fn assert_queued(e: &LockError) {
    assert!(
        matches!(
            e,
            LockError::Busy {
                owner: Owner::Queued,
                ..
            }
        ),
        "{e}"
    );
}

fn tickets(fx: &Fixture) -> Vec<String> {
    fx.files()
        .into_iter()
        .filter(|n| n.ends_with(".lkq"))
        .collect()
}

// P11 (fair order, opt-in): a fair instance does not take a free lock while an older waiter of
// another process is queued (a fresh ticket, up to TICKET_FRESH since its refresh), and says
// who it waits for; an instance without
// the policy may go first (best effort); once the ticket goes, the fair one takes the lock. A
// `try_acquire` never queues, so it leaves no ticket.
#[test]
fn a_fair_instance_lets_an_older_waiter_of_another_process_go_first() {
    let fx = Fixture::new();
    let start = now_ms();
    let older = plant_ticket(&fx, start - 10, start);
    let fair_mgr = fx.virtual_manager_with(10, fair(), Some(start));
    let e = fair_mgr.try_acquire(&fx.session("s.jsonl")).unwrap_err();
    assert_queued(&e);
    let unfair = fx.virtual_manager_with(11, Policy::default(), Some(start));
    drop(unfair.try_acquire(&fx.session("s.jsonl")).unwrap());
    std::fs::remove_file(&older).unwrap();
    // Refreshed exactly TICKET_FRESH ago: still fresh.
    let fresh_ms = i64::try_from(TICKET_FRESH.as_millis()).unwrap();
    let edge = plant_ticket(&fx, start - 20, start - fresh_ms);
    assert_queued(&fair_mgr.try_acquire(&fx.session("s.jsonl")).unwrap_err());
    std::fs::remove_file(&edge).unwrap();
    drop(fair_mgr.try_acquire(&fx.session("s.jsonl")).unwrap());
    assert_eq!(fx.files(), Vec::<String>::new(), "no ticket, no lock left");
}

// P11 (liveness): a ticket whose owner stopped refreshing it (crashed, stopped) holds a fair
// waiter back for TICKET_FRESH, no longer; the waiter then takes the lock and removes its own
// ticket, leaving the stale one (not yet litter) where it is.
#[test]
fn a_stale_ticket_ahead_holds_a_fair_waiter_back_for_ticket_fresh_only() {
    let fx = Fixture::new();
    let start = now_ms();
    let stale = plant_ticket(&fx, start - 10, start);
    let m = fx.virtual_manager_with(10, fair(), Some(start));
    let opts = AcquireOptions {
        reentrant: true,
        timeout: Some(Duration::from_secs(10)),
    };
    let g = m.acquire_with(&fx.session("s.jsonl"), opts).unwrap();
    let waited = Duration::from_millis((g.payload().created_at_ms - start) as u64);
    assert!(
        waited > TICKET_FRESH && waited < TICKET_FRESH + Duration::from_millis(200),
        "waited {waited:?} behind a ticket that stopped being refreshed at the start"
    );
    drop(g);
    let name = stale.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(
        tickets(&fx),
        vec![name],
        "our ticket gone, the stale one kept"
    );
}

// P11 (no litter, bounded waits): a fair acquire that times out behind a fresh ticket fails
// with Busy naming the queue, and takes its own ticket away with it.
#[test]
fn a_fair_acquire_that_times_out_leaves_no_ticket_of_its_own() {
    let fx = Fixture::new();
    let start = now_ms();
    let older = plant_ticket(&fx, start - 10, start);
    let m = fx.virtual_manager_with(10, fair(), Some(start));
    let opts = AcquireOptions {
        reentrant: true,
        timeout: Some(TICKET_FRESH / 2),
    };
    let e = m.acquire_with(&fx.session("s.jsonl"), opts).unwrap_err();
    assert_queued(&e);
    let name = older.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(fx.files(), vec![name]);
}

// P16 + P11: only regular, well-named, fresh tickets of this lock count. A symlink, a
// directory or a FIFO named like an older ticket, a near-miss name and another lock's ticket
// are ignored and left in place; a regular ticket stale past TICKET_LITTER is removed, one
// exactly that old is not.
#[test]
fn only_regular_fresh_tickets_count_and_only_litter_is_removed() {
    let fx = Fixture::new();
    let start = now_ms();
    let d = fx.dir.path();
    let litter_age = i64::try_from(TICKET_LITTER.as_millis()).unwrap() + 1_000;
    let litter = plant_ticket(&fx, start - litter_age, start - litter_age);
    // Exactly TICKET_LITTER old: stale, but not yet litter.
    let at_bound = i64::try_from(TICKET_LITTER.as_millis()).unwrap();
    plant_ticket(&fx, start - at_bound - 1, start - at_bound);
    let name = |stamp: i64| format!(".s.jsonl.lock.{stamp:015}.78-00000000000000bb.lkq");
    std::fs::write(d.join("target"), b"").unwrap();
    std::os::unix::fs::symlink(d.join("target"), d.join(name(start - 5))).unwrap();
    std::fs::create_dir(d.join(name(start - 6))).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        d.join(name(start - 7)),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    for odd in [
        format!(".s.jsonl.lock.{:014}.77-aa.lkq", start - 8),
        format!(".t.jsonl.lock.{:015}.77-aa.lkq", start - 9),
    ] {
        std::fs::write(d.join(&odd), b"").unwrap();
        set_mtime_at(&d.join(odd), start);
    }
    let before: Vec<String> = fx
        .files()
        .into_iter()
        .filter(|n| d.join(n) != litter)
        .collect();
    let m = fx.virtual_manager_with(10, fair(), Some(start));
    drop(m.try_acquire(&fx.session("s.jsonl")).unwrap());
    assert_eq!(fx.files(), before, "only the litter ticket removed");
}

// P11 (no unbounded litter): `clean` removes a regular ticket nobody refreshed for
// TICKET_LITTER (a waiter that crashed), and reports it; a fresh ticket and a link named like
// an old one stay; a dry run removes nothing.
#[test]
fn clean_removes_tickets_left_by_crashed_waiters_only() {
    let fx = Fixture::new();
    let start = now_ms();
    let litter_age = i64::try_from(TICKET_LITTER.as_millis()).unwrap() + 1_000;
    let old = plant_ticket(&fx, start - litter_age, start - litter_age);
    let fresh = plant_ticket(&fx, start - 5, start);
    let link = fx.dir.path().join(format!(
        ".t.jsonl.lock.{:015}.79-00cc.lkq",
        start - litter_age
    ));
    std::os::unix::fs::symlink(&fresh, &link).unwrap();
    let m = fx.virtual_manager_with(10, Policy::default(), Some(start));
    let dry = m.clean_stale(fx.dir.path(), true).unwrap();
    assert_eq!(dry.temp_files, vec![old.clone()]);
    assert!(old.exists(), "a dry run removes nothing");
    let done = m.clean_stale(fx.dir.path(), false).unwrap();
    assert_eq!(done.temp_files, vec![old.clone()]);
    assert!(!old.exists() && fresh.exists() && link.symlink_metadata().is_ok());
}
