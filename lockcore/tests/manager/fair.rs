//! The queue across processes (`Policy::fair`, lockcore/src/queue.rs) against tickets planted
//! on disk: who goes first, when a ticket stops counting, and what is never touched. The
//! managers run on a virtual clock whose wall time moves with it, and every planted ticket's
//! mtime is set from that clock, so freshness is exact and no test depends on real time.

use super::*;
use lockcore::queue::{namespace_tag, TICKET_FRESH, TICKET_LITTER, TICKET_QUIET};

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

// P11 (liveness): a quiet ticket (not refreshed for TICKET_QUIET) whose token says its owner
// lives in our pid namespace and whose pid is dead holds nobody back: a fair instance removes
// it and takes the lock. A dead owner's ticket refreshed just now, a live owner's, and a dead
// pid's ticket written in another namespace or without a tag (an older lockcore) all count:
// nobody here can tell yet, so they count until stale, and they are left in place.
#[test]
fn a_dead_waiters_quiet_ticket_of_our_namespace_is_skipped_and_removed() {
    let quiet_ms = i64::try_from(TICKET_QUIET.as_millis()).unwrap();
    let ours = u64::from(namespace_tag(Some("host-a")));
    let theirs = u64::from(namespace_tag(Some("host-b")));
    // (tag, pid, dead, ms since its refresh, skipped); exactly TICKET_QUIET is not quiet yet.
    for (tag, pid, dead, age_ms, skipped) in [
        (ours, 77, true, quiet_ms + 1, true),
        (ours, 77, true, quiet_ms, false),
        (ours, 77, true, 0, false),
        (ours, 78, false, quiet_ms + 50, false),
        (theirs, 77, true, quiet_ms + 50, false),
        (0, 77, true, quiet_ms + 50, false),
    ] {
        let fx = Fixture::new();
        let start = now_ms();
        fx.set(
            pid,
            if dead {
                Liveness::Dead
            } else {
                Liveness::Alive
            },
        );
        let token = tag << 32 | 0xaa;
        let p = fx.dir.path().join(format!(
            ".s.jsonl.lock.{:015}.{pid}-{token:016x}.lkq",
            start - 500
        ));
        std::fs::write(&p, b"").unwrap();
        set_mtime_at(&p, start - age_ms);
        let m = fx.virtual_manager_with(10, fair(), Some(start));
        let got = m.try_acquire(&fx.session("s.jsonl"));
        let case = format!("tag {tag:x} pid {pid} dead {dead} refreshed {age_ms} ms ago");
        if skipped {
            drop(got.unwrap());
            assert!(!p.exists(), "{case}: the dead waiter's ticket is removed");
        } else {
            assert_queued(&got.unwrap_err());
            assert!(p.exists(), "{case}: the ticket stays");
        }
    }
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
    let flag = ".s.jsonl.lock.queued.lkq".to_string();
    assert_eq!(
        fx.files(),
        vec![name, flag],
        "the flag stays up for the older waiter"
    );
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

// ---- Waiters of every policy queue once starved (`Policy::queue_after`) ----

/// `s.jsonl.lock` held by live pid 77 under a 100 ms lease whose last refresh was at
/// `start_ms`: a waiter finds it busy, then (after 100 ms of virtual time) free to reclaim.
fn plant_lease_ending(fx: &Fixture, start_ms: i64) {
    let mut p = planted(77, Some("n77"), Duration::ZERO);
    p.created_at_ms = start_ms;
    p.lease = Some(lockcore::Lease {
        lease_ms: 100,
        max_hold_ms: None,
    });
    fx.plant("s.jsonl", &p);
    set_mtime_at(&fx.lock_file("s.jsonl"), start_ms);
}

/// A fixture whose `s.jsonl.lock` is held by live pid 77 under a lease ending 100 ms after
/// now (see [`plant_lease_ending`]), and now (wall clock, unix ms).
fn lease_ending_now() -> (Fixture, i64) {
    let fx = Fixture::new();
    let start = now_ms();
    fx.set(77, Liveness::Alive);
    plant_lease_ending(&fx, start);
    (fx, start)
}

/// The queue flag of `s.jsonl.lock`, a regular file refreshed at `mtime_ms`.
fn raise_flag(fx: &Fixture, mtime_ms: i64) -> PathBuf {
    let p = fx.dir.path().join(".s.jsonl.lock.queued.lkq");
    std::fs::write(&p, b"").unwrap();
    set_mtime_at(&p, mtime_ms);
    p
}

fn never_queues() -> Policy {
    Policy {
        queue_after: Duration::MAX,
        ..Policy::default()
    }
}

fn wait_up_to(ms: u64) -> AcquireOptions {
    AcquireOptions {
        reentrant: true,
        timeout: Some(Duration::from_millis(ms)),
    }
}

// P11 (no starving, best effort): a waiter of an instance without `fair` that has found another
// process's lock busy lets an older queued waiter go first while the queue is flagged: when
// the lock comes free (a lease runs out) it does not take it, and it times out naming the
// queue. Without the flag it never lists the queue and takes the lock (the race decides).
#[test]
fn a_waiter_that_found_the_lock_busy_yields_to_a_flagged_queue() {
    for flagged in [true, false] {
        let (fx, start) = lease_ending_now();
        let ticket = plant_ticket(&fx, start - 10, start + 200);
        if flagged {
            raise_flag(&fx, start + 200);
        }
        let m = fx.virtual_manager_with(10, never_queues(), Some(start));
        let got = m.acquire_with(&fx.session("s.jsonl"), wait_up_to(400));
        if flagged {
            assert_queued(&got.unwrap_err());
        } else {
            assert_eq!(
                got.unwrap().how(),
                Acquired::Reclaimed(StaleReason::LeaseExpired)
            );
        }
        assert!(ticket.exists(), "another waiter's ticket is never touched");
    }
}

// P11 + P16: only a regular, fresh flag counts. A directory, a symlink or a FIFO named like the
// flag, or a flag not refreshed for TICKET_FRESH, does not hold the waiter back, and none of
// them is removed.
#[test]
fn only_a_regular_fresh_flag_counts_and_no_flag_is_removed() {
    let fresh_ms = i64::try_from(TICKET_FRESH.as_millis()).unwrap();
    let kinds = ["stale", "dir", "symlink", "fifo"];
    for kind in kinds {
        let (fx, start) = lease_ending_now();
        plant_ticket(&fx, start - 10, start + 200);
        let flag = fx.dir.path().join(".s.jsonl.lock.queued.lkq");
        match kind {
            "stale" => drop(raise_flag(&fx, start - fresh_ms - 1)),
            "dir" => std::fs::create_dir(&flag).unwrap(),
            "symlink" => {
                let real = raise_flag(&fx, start + 200);
                std::fs::rename(&real, fx.dir.path().join("elsewhere")).unwrap();
                std::os::unix::fs::symlink(fx.dir.path().join("elsewhere"), &flag).unwrap();
            }
            _ => rustix::fs::mknodat(
                rustix::fs::CWD,
                &flag,
                rustix::fs::FileType::Fifo,
                rustix::fs::Mode::from_raw_mode(0o644),
                0,
            )
            .unwrap(),
        }
        let m = fx.virtual_manager_with(10, never_queues(), Some(start));
        let g = m.acquire_with(&fx.session("s.jsonl"), wait_up_to(400));
        assert!(g.is_ok(), "{kind}: {:?}", g.err());
        assert!(flag.symlink_metadata().is_ok(), "{kind}: the flag is left");
    }
}

// P11 (no starving): a waiter of an instance without `fair` that has waited `queue_after`
// takes its own ticket and raises the flag; behind an older ticket it lets that waiter go
// first even when nobody flagged the queue, and when it gives up it takes its ticket away and
// leaves the flag up for the waiter still queued. Once that one is gone without lowering it,
// the next waiter that finds the flag with no ticket behind it lowers it and takes the lock:
// nothing of the queue is left.
#[test]
fn a_starved_waiter_queues_and_the_last_to_leave_lowers_the_flag() {
    let (fx, start) = lease_ending_now();
    let older = plant_ticket(&fx, start - 10, start + 200);
    let m = fx.virtual_manager_with(10, Policy::default(), Some(start));
    assert_queued(
        &m.acquire_with(&fx.session("s.jsonl"), wait_up_to(400))
            .unwrap_err(),
    );
    let older_name = older.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(
        tickets(&fx),
        vec![older_name, ".s.jsonl.lock.queued.lkq".to_string()],
        "our ticket gone, the flag up for the older waiter"
    );
    std::fs::remove_file(&older).unwrap();
    std::fs::remove_file(fx.lock_file("s.jsonl")).unwrap();
    plant_lease_ending(&fx, start);
    let next = fx.virtual_manager_with(11, never_queues(), Some(start));
    let g = next
        .acquire_with(&fx.session("s.jsonl"), wait_up_to(400))
        .unwrap();
    assert_eq!(g.how(), Acquired::Reclaimed(StaleReason::LeaseExpired));
    drop(g);
    assert_eq!(
        fx.files(),
        Vec::<String>::new(),
        "no ticket, no flag, no lock left"
    );
}

// P11 (no unbounded litter): `clean` removes a queue flag nobody refreshed for TICKET_LITTER
// (its last waiter crashed) and reports it; a fresh flag stays.
#[test]
fn clean_removes_a_flag_left_by_crashed_waiters_only() {
    let fx = Fixture::new();
    let start = now_ms();
    let litter_age = i64::try_from(TICKET_LITTER.as_millis()).unwrap() + 1_000;
    let old = raise_flag(&fx, start - litter_age);
    let m = fx.virtual_manager_with(10, Policy::default(), Some(start));
    assert_eq!(
        m.clean_stale(fx.dir.path(), false).unwrap().temp_files,
        vec![old.clone()]
    );
    assert!(!old.exists());
    let fresh = raise_flag(&fx, start);
    assert!(m
        .clean_stale(fx.dir.path(), false)
        .unwrap()
        .temp_files
        .is_empty());
    assert!(fresh.exists());
}

// P16 + P11 (`inspect` tells operators who waits): a lock's `queued` counts its fresh regular
// tickets only — not a stale one, a directory named like one, or another lock's ticket.
#[test]
fn inspect_counts_the_fresh_tickets_of_each_lock() {
    let fx = Fixture::new();
    let start = now_ms();
    fx.set(77, Liveness::Alive);
    fx.plant("s.jsonl", &planted(77, Some("n77"), Duration::ZERO));
    plant_ticket(&fx, start - 10, start);
    let fresh_ms = i64::try_from(TICKET_FRESH.as_millis()).unwrap();
    plant_ticket(&fx, start - 20, start - fresh_ms - 1);
    let d = fx.dir.path();
    std::fs::create_dir(d.join(format!(".s.jsonl.lock.{:015}.78-00bb.lkq", start - 5))).unwrap();
    std::fs::write(
        d.join(format!(".t.jsonl.lock.{:015}.79-00cc.lkq", start - 5)),
        b"",
    )
    .unwrap();
    let m = fx.virtual_manager_with(10, Policy::default(), Some(start));
    let infos = m.inspect(d).unwrap();
    assert_eq!(infos.len(), 1);
    assert_eq!(infos[0].queued, 1, "{:?}", fx.files());
}

// P11 (no starving): the last ticket holder to leave lowers the flag, then looks again: a
// waiter that wrote its ticket just after the leaver's look, and raised the flag just before
// the leaver lowered it, finds the flag up (raised again), not down until its next refresh —
// when nobody would let it go first. The hook writes that ticket at the exact step: as the
// flag is about to be removed.
#[test]
fn a_flag_lowered_over_a_ticket_written_meanwhile_is_raised_again() {
    let (fx, start) = lease_ending_now();
    let late = fx
        .dir
        .path()
        .join(format!(".s.jsonl.lock.{:015}.78-00aa.lkq", start + 50));
    let planted_late = late.clone();
    let fs = HookedFs::new(move |op, path| {
        if op == Gated::Unlink
            && path.ends_with(".s.jsonl.lock.queued.lkq")
            && !planted_late.exists()
        {
            std::fs::write(&planted_late, b"")?;
            set_mtime_at(&planted_late, start + 100);
        }
        Ok(())
    });
    let env = EnvParts {
        fs,
        procs: fx.procs(10),
        clock: VirtualClock {
            wall_start_ms: Some(start),
            ..VirtualClock::default()
        },
    };
    let m = LockManager::new(env, Policy::default());
    let g = m.acquire_with(&fx.session("s.jsonl"), wait_up_to(400));
    assert_eq!(
        g.unwrap().how(),
        Acquired::Reclaimed(StaleReason::LeaseExpired)
    );
    assert!(late.exists(), "the late waiter's ticket is never touched");
    assert!(
        fx.dir.path().join(".s.jsonl.lock.queued.lkq").exists(),
        "the flag is up for the late waiter: {:?}",
        fx.files()
    );
}

// P11 (no litter): a queued waiter with nobody behind it lowers the flag as it takes the lock;
// one whose last look saw a younger ticket leaves the flag up for that waiter (without
// looking again).
#[test]
fn a_queued_waiter_lowers_the_flag_unless_someone_is_queued_behind_it() {
    for behind in [false, true] {
        let (fx, start) = lease_ending_now();
        let younger = behind.then(|| plant_ticket(&fx, start + 1_000, start + 200));
        let at_once = Policy {
            queue_after: Duration::ZERO,
            ..Policy::default()
        };
        let m = fx.virtual_manager_with(10, at_once, Some(start));
        let g = m
            .acquire_with(&fx.session("s.jsonl"), wait_up_to(400))
            .unwrap();
        assert_eq!(g.how(), Acquired::Reclaimed(StaleReason::LeaseExpired));
        let flag = fx.dir.path().join(".s.jsonl.lock.queued.lkq");
        assert_eq!(flag.exists(), behind, "behind: {behind}, {:?}", fx.files());
        assert!(
            younger.is_none_or(|t| t.exists()),
            "another waiter's ticket is never touched"
        );
    }
}

// P16 (any session name): tickets are named after the lock, so a session name that is not
// UTF-8 has no queue — a fair waiter then waits as an unfair one would, takes the lock when
// it comes free, and writes no ticket or flag.
#[test]
fn a_session_name_that_is_not_utf8_waits_without_a_queue() {
    use std::os::unix::ffi::OsStrExt;
    let (fx, start) = lease_ending_now();
    let name = std::ffi::OsStr::from_bytes(b"\xff\xfe.jsonl");
    let lock = fx
        .dir
        .path()
        .join(std::ffi::OsStr::from_bytes(b"\xff\xfe.jsonl.lock"));
    std::fs::rename(fx.lock_file("s.jsonl"), &lock).unwrap();
    let m = fx.virtual_manager_with(10, fair(), Some(start));
    let g = m
        .acquire_with(&fx.dir.path().join(name), wait_up_to(400))
        .unwrap();
    assert_eq!(g.how(), Acquired::Reclaimed(StaleReason::LeaseExpired));
    assert!(
        !fx.files().iter().any(|f| f.ends_with(".lkq")),
        "{:?}",
        fx.files()
    );
}
