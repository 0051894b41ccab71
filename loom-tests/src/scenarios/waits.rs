//! The waiting scenarios (issue #15): a waiter for another process's lock woken by the release
//! or the owner's death (W1, W2), acquisitions of different sessions in one instance racing a
//! `release_all` now that no registry lock is held across file I/O (W3), and the queue of one
//! instance's waiters (S1, S2: shuttle only, their size is the point).
//!
//! Times are virtual (the simulated clock advances only when a waiter sleeps or times out), so
//! "within one bounded re-check" is exact: a correct waiter sleeps at most once, at most
//! [`MAX_BLIND_WAIT`], after the lock it waits for is freed.

use super::*;
use lockcore::sync::{self, Arc, Mutex};
use lockcore::wait::MAX_BLIND_WAIT;
use lockcore::{Acquired, StaleReason};
use models::oracle::shared;

/// How long a waiter for another process waits (virtual time): far beyond [`MAX_BLIND_WAIT`].
const WAIT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a queued waiter of one instance waits: every waiter's sleeps advance the one
/// virtual clock, so a long queue needs far more than [`WAIT_TIMEOUT`].
const QUEUE_TIMEOUT: Duration = Duration::from_secs(3600);

type Timed = thread::JoinHandle<Result<i64, Violation>>;

fn opts(reentrant: bool, timeout: Duration) -> AcquireOptions {
    AcquireOptions {
        reentrant,
        timeout: Some(timeout),
    }
}

/// Process `pid` waits for session `i` (`acquire`, 10 s) and hands the guard to the ghost;
/// returns the virtual time at which it got it. Timing out is a lost wake-up: the lock is freed
/// in every schedule of these scenarios. `want`: how it must get the lock, if that is known.
fn waiter(ghost: &Ghost, cfg: &Cfg, pid: u32, i: usize, want: Option<Acquired>) -> Timed {
    let (ghost, cfg) = (ghost.clone(), *cfg);
    thread::spawn(move || {
        let world = ghost.world().clone();
        let m = manager(&world, pid, &cfg);
        let actor = format!("waiter{pid}");
        match m.acquire_with(&session(i), opts(true, WAIT_TIMEOUT)) {
            Ok(g) if want.is_some_and(|w| w != g.how()) => {
                Err(judge::stale_kept(StaleReason::DeadPid).violation(
                    format!(
                        "{actor} got {} as {:?}, not {want:?}",
                        lock_file(i).display(),
                        g.how()
                    ),
                    world.trace(),
                ))
            }
            Ok(g) => {
                let at = world.now_wall_ms();
                ghost.acquired(&actor, &m, g)?;
                Ok(at)
            }
            Err(e) if e.is_busy() => Err(judge::slept_through_release().violation(
                format!(
                    "{actor} timed out on {} although it was freed: {e}",
                    lock_file(i).display()
                ),
                world.trace(),
            )),
            Err(e) => Err(unexpected(&world, &actor, &e)),
        }
    })
}

/// Joins `(freer, waiter)` pairs and checks each waiter got its lock within [`MAX_BLIND_WAIT`]
/// of the moment it was freed; then the end state.
fn conclude_timed(
    ghost: &Ghost,
    pairs: Vec<(Timed, Timed)>,
    rest: Vec<Handle>,
) -> Result<(), Violation> {
    let mut first = Ok(());
    for (freer, waiter) in pairs {
        let (freed, got) = (join_timed(freer), join_timed(waiter));
        let checked = freed.and_then(|freed| {
            let got = got?;
            let late = Duration::from_millis(u64::try_from(got - freed).unwrap_or(0));
            if late > MAX_BLIND_WAIT {
                return Err(judge::slept_through_release().violation(
                    format!("the waiter took the lock {late:?} after it was freed (bound {MAX_BLIND_WAIT:?})"),
                    ghost.world().trace(),
                ));
            }
            Ok(())
        });
        if first.is_ok() {
            first = checked;
        }
    }
    conclude(ghost, rest).and(first)
}

fn join_timed(h: Timed) -> Result<i64, Violation> {
    match h.join() {
        Ok(r) => r,
        Err(payload) => std::panic::resume_unwind(payload),
    }
}

/// W1 — P11 (no lost wake-up): process 2 releases its lock ∥ process 1 waits for it. Targets
/// release ∥ wake ∥ timeout: the release lands before the waiter's watch is armed (only its look
/// after arming sees it), between the arming and that look, between its looks at the watch, or
/// after its timeout was decided; with `watch` off, during its backoff. The waiter must take the
/// lock within [`MAX_BLIND_WAIT`] of the release. Scale 2: two sessions, each with its own holder
/// and waiter process, and a background process.
pub fn w1_release_vs_waiter(cfg: &Cfg) -> Result<(), Violation> {
    let (world, ghost) = world_for(cfg, &[1, 2, 3, 4, 5]);
    let mut pairs = Vec::new();
    for i in 1..=cfg.scale {
        let (holder_pid, waiter_pid) = (2 * i as u32, 2 * i as u32 - 1);
        let holder = manager(&world, holder_pid, cfg);
        let id = must_take(&ghost, "holder", &holder, i)?;
        let g = ghost.clone();
        let freer = thread::spawn(move || {
            release(&g, "holder", id)?;
            Ok(g.world().now_wall_ms())
        });
        pairs.push((freer, waiter(&ghost, cfg, waiter_pid, i, None)));
    }
    let rest = if cfg.scale >= 2 {
        vec![background(&ghost, cfg, 5)]
    } else {
        Vec::new()
    };
    conclude_timed(&ghost, pairs, rest)
}

/// W2 — P11 (wake on death): process 2 holds a lock and is SIGKILLed ∥ process 1 waits for it.
/// Targets the death landing before the waiter's pid watch is armed (a reaped pid cannot be
/// watched: only the look after arming sees it), between the arming and that look, or while it
/// blocks. The waiter must reclaim the lock (dead pid) within [`MAX_BLIND_WAIT`] of the death.
/// Scale 2: two sessions, each with its own dying holder and waiter, and a background process.
pub fn w2_death_vs_waiter(cfg: &Cfg) -> Result<(), Violation> {
    let (world, ghost) = world_for(cfg, &[1, 2, 3, 4, 5]);
    world.track_deaths(true);
    let mut pairs = Vec::new();
    for i in 1..=cfg.scale {
        let (holder_pid, waiter_pid) = (2 * i as u32, 2 * i as u32 - 1);
        let holder = manager(&world, holder_pid, cfg);
        must_take(&ghost, "holder", &holder, i)?;
        let g = ghost.clone();
        let killer = thread::spawn(move || {
            g.crash(HOST, holder_pid);
            Ok(g.world().now_wall_ms())
        });
        let dead = Some(Acquired::Reclaimed(StaleReason::DeadPid));
        pairs.push((killer, waiter(&ghost, cfg, waiter_pid, i, dead)));
    }
    let rest = if cfg.scale >= 2 {
        vec![background(&ghost, cfg, 5)]
    } else {
        Vec::new()
    };
    conclude_timed(&ghost, pairs, rest)
}

/// W4 — P9, P1 (release ∥ wake ∥ timeout inside one instance): process 1 holds session 1; a
/// second thread of it asks for the lock (non-reentrant) with a timeout of zero, so it gives up
/// at its first busy verdict ∥ the holder releases. Targets a handover granted between that
/// verdict (which queued the waiter) and its leaving the queue: the waiter must take the granted
/// hold (its timeout turns into success), or the release must remove the file — never a hold
/// nobody owns. Scale 2: a patient waiter of the same instance queues too and must be served,
/// and a background process.
pub fn w4_release_vs_timing_out_waiter(cfg: &Cfg) -> Result<(), Violation> {
    let (world, ghost) = world_for(cfg, &[1, 5]);
    let m = manager(&world, 1, cfg);
    let id = must_take(&ghost, "holder", &m, 1)?;
    // Who gave up: the quick waiter may; the patient one never should (checked after the end
    // state, so a hold left to nobody is reported as what it is, P9, not as its symptom).
    let gave_up: Arc<Mutex<Vec<&'static str>>> = shared(Mutex::new(Vec::new()));
    let asker = |actor: &'static str, timeout: Duration| {
        let (ghost, m, gave_up) = (ghost.clone(), m.clone(), gave_up.clone());
        spawn(
            move || match m.acquire_with(&session(1), opts(false, timeout)) {
                Ok(g) => {
                    let id = ghost.acquired(actor, &m, g)?;
                    release(&ghost, actor, id)
                }
                Err(e) if e.is_busy() => {
                    ghost
                        .world()
                        .note(actor, "gave up", &lock_file(1), &e.to_string());
                    sync::lock(&gave_up).push(actor);
                    Ok(())
                }
                Err(e) => Err(unexpected(ghost.world(), actor, &e)),
            },
        )
    };
    let mut hs = vec![asker("quick", Duration::ZERO)];
    if cfg.scale >= 2 {
        hs.push(asker("patient", QUEUE_TIMEOUT));
        hs.push(background(&ghost, cfg, 5));
    }
    let g = ghost.clone();
    hs.push(spawn(move || release(&g, "holder", id)));
    conclude(&ghost, hs)?;
    if sync::lock(&gave_up).contains(&"patient") {
        return Err(judge::slept_through_release().violation(
            "patient timed out on a lock that every other thread released",
            world.trace(),
        ));
    }
    Ok(())
}

/// W5 — P4, P5, P1 (a handover ∥ `release_all`): process 1 holds session 1 and one thread of it
/// is queued for it; the holder releases (handing the lock to that waiter) ∥ `release_all` ∥ a
/// second thread asking for the lock. Targets `release_all` taking the granted hold before the
/// waiter takes it, and a fresh hold of the new epoch registered in between: the waiter must
/// never take a hold that is not the one granted to it (two threads of the instance inside) nor
/// one `release_all` revoked, and every waiter is served. Scale 2: a background process.
pub fn w5_handover_vs_release_all(cfg: &Cfg) -> Result<(), Violation> {
    let (world, ghost) = world_for(cfg, &[1, 2]);
    let m = manager(&world, 1, cfg);
    let log: Served = shared(Mutex::new((None, Vec::new())));
    let id = must_take(&ghost, "holder", &m, 1)?;
    let mut hs = queue_up(&ghost, &m, 1, 1, &log)?;
    let g = ghost.clone();
    hs.push(spawn(move || release(&g, "holder", id)));
    {
        let (ghost, m) = (ghost.clone(), m.clone());
        hs.push(spawn(move || ghost.release_all(&m).map(drop)));
    }
    hs.push(served(&ghost, &m, 1, 2, &log));
    if cfg.scale >= 2 {
        hs.push(background(&ghost, cfg, 2));
    }
    conclude(&ghost, hs)
}

/// W3 — P3, P4, P9: process 1 holds session 1; one thread re-enters it and releases that hold
/// ∥ another acquires session 2 (fresh) ∥ `release_all`. Targets the new acquisition steps
/// (claim, publish without the registry lock, register) of two sessions at once against
/// `release_all`'s gate, drain and snapshot: every acquisition is in the snapshot or waits at the
/// gate, no old-epoch lock survives, the re-entered hold's count stays right. Scale 2: a third
/// session acquired fresh and a background process.
pub fn w3_sessions_vs_release_all(cfg: &Cfg) -> Result<(), Violation> {
    let (world, ghost) = world_for(cfg, &[1, 2]);
    let m = manager(&world, 1, cfg);
    must_take(&ghost, "main", &m, 1)?;
    let mut hs = Vec::new();
    {
        let (ghost, m, tries) = (ghost.clone(), m.clone(), cfg.tries);
        hs.push(spawn(move || {
            if let Some(id) = take(&ghost, "reenter", &m, 1, true, tries)? {
                release(&ghost, "reenter", id)?;
            }
            Ok(())
        }));
    }
    for i in 2..=cfg.scale + 1 {
        let (ghost, m, tries) = (ghost.clone(), m.clone(), cfg.tries);
        hs.push(spawn(move || {
            take(&ghost, "fresh", &m, i, true, tries).map(drop)
        }));
    }
    {
        let (ghost, m) = (ghost.clone(), m.clone());
        hs.push(spawn(move || ghost.release_all(&m).map(drop)));
    }
    if cfg.scale >= 2 {
        hs.push(background(&ghost, cfg, 2));
    }
    conclude(&ghost, hs)
}

/// The order in which one instance's waiters got the lock, and the nonce (epoch) of the one
/// inside, if any (P1 among threads that do not re-enter; a hold of an earlier epoch was revoked
/// by a `release_all`, which lets the next one in legitimately).
type Served = Arc<Mutex<(Option<String>, Vec<usize>)>>;

/// Waiter `k` of `m` takes session `i` exclusively (waiting), records itself, releases.
fn serve(
    ghost: &Ghost,
    m: &LockManager<SimEnv>,
    i: usize,
    k: usize,
    log: &Served,
) -> Result<(), Violation> {
    let world = ghost.world();
    let actor = format!("w{k}");
    let g = match m.acquire_with(&session(i), opts(false, QUEUE_TIMEOUT)) {
        Ok(g) => g,
        Err(e) => return Err(unexpected(world, &actor, &e)),
    };
    {
        let mut log = sync::lock(log);
        let epoch = g.payload().nonce.clone();
        if log.0.is_some() && log.0 == epoch {
            return Err(judge::two_owners(false).violation(
                format!(
                    "{actor} got {} while another thread of its instance was inside",
                    lock_file(i).display()
                ),
                world.trace(),
            ));
        }
        log.0 = epoch;
        log.1.push(k);
    }
    let id = ghost.acquired(&actor, m, g)?;
    sync::lock(log).0 = None;
    release(ghost, &actor, id)
}

fn served(ghost: &Ghost, m: &LockManager<SimEnv>, i: usize, k: usize, log: &Served) -> Handle {
    let (ghost, m, log) = (ghost.clone(), m.clone(), log.clone());
    spawn(move || serve(&ghost, &m, i, k, &log))
}

/// Lets `n` waiters of `m` queue for session `i` one after another (each spawned once the one
/// before holds a ticket), so that their arrival order is `1..=n`.
fn queue_up(
    ghost: &Ghost,
    m: &LockManager<SimEnv>,
    i: usize,
    n: usize,
    log: &Served,
) -> Result<Vec<Handle>, Violation> {
    let mut hs = Vec::new();
    for k in 1..=n {
        hs.push(served(ghost, m, i, k, log));
        let queued = (0..100_000).any(|_| {
            thread::yield_now();
            m.queued(&session(i)) >= k
        });
        if !queued {
            return Err(judge::harness_failed()
                .violation(format!("w{k} never queued"), ghost.world().trace()));
        }
    }
    Ok(hs)
}

fn check_order(ghost: &Ghost, log: &Served, want: &[usize]) -> Result<(), Violation> {
    let got = sync::lock(log).1.clone();
    if got != want {
        return Err(judge::served_out_of_order().violation(
            format!(
                "served {got:?}, arrival order {want:?} (0: the releasing thread asking again)"
            ),
            ghost.world().trace(),
        ));
    }
    Ok(())
}

/// S1 — P11 (first come, first served), P1: process 1 holds session 1; `n` threads of the same
/// instance queue for it (`acquire`, non-reentrant) one after another; the holder releases and
/// at once asks again. Targets every handoff: the oldest waiter must get the lock, never a newer
/// one nor the releasing thread (which must come last). Shuttle: n = 2 + 2·scale.
pub fn s1_fifo_waiters(cfg: &Cfg) -> Result<(), Violation> {
    let (world, ghost) = world_for(cfg, &[1, 2]);
    let m = manager(&world, 1, cfg);
    let n = 2 + 2 * cfg.scale;
    let log: Served = shared(Mutex::new((None, Vec::new())));
    let first = match m.acquire_with(&session(1), opts(false, QUEUE_TIMEOUT)) {
        Ok(g) => ghost.acquired("holder", &m, g)?,
        Err(e) => return Err(unexpected(&world, "holder", &e)),
    };
    let hs = queue_up(&ghost, &m, 1, n, &log)?;
    // The releasing thread asks again at once: it must queue behind every waiter.
    let again = release(&ghost, "holder", first).and_then(|()| serve(&ghost, &m, 1, 0, &log));
    let r = conclude(&ghost, hs).and(again);
    let want: Vec<usize> = (1..=n).chain([0]).collect();
    r.and_then(|()| check_order(&ghost, &log, &want))
}

/// Files of the queue across processes (`*.lkq`: tickets and queue flags) in the sessions'
/// directory.
fn disk_tickets(world: &models::sim::SimWorld) -> usize {
    disk_entries(world, |n| n.ends_with(lockcore::queue::TICKET_SUFFIX))
}

/// Queue flags (`.<lock name>.queued.lkq`) in the sessions' directory.
fn disk_flags(world: &models::sim::SimWorld) -> usize {
    disk_entries(world, lockcore::queue::is_any_flag)
}

/// Entries of the sessions' directory whose name `keep` accepts.
fn disk_entries(world: &models::sim::SimWorld, keep: impl Fn(&str) -> bool) -> usize {
    use lockcore::{Env, Fs};
    let env = world.env(HOST, 1);
    env.fs()
        .list(std::path::Path::new("/s"))
        .map(|l| {
            l.iter()
                .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(&keep))
                .count()
        })
        .unwrap_or(0)
}

/// S3 — P11 (no deadlock between the queue of one instance and the queue across processes,
/// `Policy::fair`; no ticket left), P1: a thread of process 2 holds session 1; thread A of
/// process 2 queues behind it in the instance; then process 3 queues (its ticket on disk); then
/// thread B of process 2; the holder releases and asks again. All fair. Targets the two queues
/// crossing: had B taken a ticket on disk when it saw process 3's (before A, which waited in
/// the instance), A would wait on disk for B while B waits in the instance for A. Only an
/// instance's front waiter may hold a ticket, so every waiter gets the lock (the timeout is far
/// beyond any schedule), none at once, and no ticket is left. Arrival order across processes
/// is best effort (a ticket not refreshed for a second of virtual time stops counting), so it is
/// not asserted.
pub fn s3_fair_queues_do_not_deadlock(cfg: &Cfg) -> Result<(), Violation> {
    let (world, ghost) = world_for(cfg, &[2, 3]);
    let fair = |pid: u32| {
        let policy = lockcore::Policy {
            fair: true,
            mutant: cfg.mutant,
            ..lockcore::Policy::default()
        };
        LockManager::new(world.env(HOST, pid), policy)
    };
    let (m2, m3) = (fair(2), fair(3));
    let log: Served = shared(Mutex::new((None, Vec::new())));
    let first = match m2.acquire_with(&session(1), opts(false, QUEUE_TIMEOUT)) {
        Ok(g) => ghost.acquired("holder", &m2, g)?,
        Err(e) => return Err(unexpected(&world, "holder", &e)),
    };
    let mut hs = queue_up(&ghost, &m2, 1, 1, &log)?;
    hs.push(served(&ghost, &m3, 1, 3, &log));
    queued_on_disk(&world, 1, "process 3 never queued on disk")?;
    hs.push(served(&ghost, &m2, 1, 2, &log));
    let again = release(&ghost, "holder", first).and_then(|()| serve(&ghost, &m2, 1, 0, &log));
    let r = conclude(&ghost, hs).and(again);
    r.and_then(|()| no_ticket_left(&world))
}

/// P11 (no litter): no ticket of the queue across processes is left (a queue flag may be).
fn no_ticket_left(world: &models::sim::SimWorld) -> Result<(), Violation> {
    let left = disk_tickets(world) - disk_flags(world);
    if left == 0 {
        return Ok(());
    }
    Err(judge::temp_left().violation(
        format!("{left} ticket(s) of the queue across processes left behind"),
        world.trace(),
    ))
}

/// S4 — P11 (no deadlock, no ticket left), P1: default instances that queue once starved
/// (`Policy::queue_after`). Process 2 holds session 1; process 3 (queues at its first busy
/// verdict: its ticket and the queue flag appear) and then process 4 (never queues: it only yields to the queue while it is flagged) wait
/// for it; the holder releases and asks again, queueing too. Targets the flag: raised by a
/// ticket holder ∥ read by a waiter that does not queue ∥ lowered by the last to leave. Every
/// waiter gets the lock, none at once, and no ticket is left. A flag may be left (two ticket
/// holders leaving together each see the other's ticket): it goes stale, and the next waiter
/// that finds it with no ticket behind lowers it, so it is not asserted.
pub fn s4_starved_waiters_queue(cfg: &Cfg) -> Result<(), Violation> {
    let (world, ghost) = world_for(cfg, &[2, 3, 4]);
    let with = |pid: u32, queue_after: Duration| {
        let policy = lockcore::Policy {
            queue_after,
            mutant: cfg.mutant,
            ..lockcore::Policy::default()
        };
        LockManager::new(world.env(HOST, pid), policy)
    };
    let (m2, m3, m4) = (
        with(2, Duration::ZERO),
        with(3, Duration::ZERO),
        with(4, Duration::MAX),
    );
    let log: Served = shared(Mutex::new((None, Vec::new())));
    let first = match m2.acquire_with(&session(1), opts(false, QUEUE_TIMEOUT)) {
        Ok(g) => ghost.acquired("holder", &m2, g)?,
        Err(e) => return Err(unexpected(&world, "holder", &e)),
    };
    let mut hs = vec![served(&ghost, &m3, 1, 3, &log)];
    queued_on_disk(
        &world,
        2,
        "process 3 never queued on disk (its ticket and the flag)",
    )?;
    hs.push(served(&ghost, &m4, 1, 4, &log));
    let again = release(&ghost, "holder", first).and_then(|()| serve(&ghost, &m2, 1, 0, &log));
    let r = conclude(&ghost, hs).and(again);
    r.and_then(|()| no_ticket_left(&world))
}

/// Yields until `n` files of the queue (tickets and flag) are in the sessions' directory.
fn queued_on_disk(world: &models::sim::SimWorld, n: usize, failed: &str) -> Result<(), Violation> {
    if (0..100_000).any(|_| {
        thread::yield_now();
        disk_tickets(world) >= n
    }) {
        return Ok(());
    }
    Err(judge::harness_failed().violation(failed, world.trace()))
}

/// S2 — P3, P4, P1, P11: process 1 holds session 1 (twice, re-entered) and session 2; `n`
/// threads of it queue for session 1 and process 2 waits for session 2 (watching the file) ∥
/// `release_all` of process 1. Targets the gate with waiters queued: the old holds all go before
/// the nonce rotates, no waiter takes a lock of the closing epoch, and afterwards the queued
/// waiters are served oldest first while process 2 is woken by the release. Shuttle: n = 2·scale.
pub fn s2_release_all_with_waiters(cfg: &Cfg) -> Result<(), Violation> {
    let (world, ghost) = world_for(cfg, &[1, 2, 3]);
    let m = manager(&world, 1, cfg);
    for i in [1, 1, 2] {
        must_take(&ghost, "main", &m, i)?;
    }
    let n = 2 * cfg.scale;
    let log: Served = shared(Mutex::new((None, Vec::new())));
    let mut hs = queue_up(&ghost, &m, 1, n, &log)?;
    let other = waiter(&ghost, cfg, 2, 2, None);
    {
        let (ghost, m) = (ghost.clone(), m.clone());
        hs.push(spawn(move || ghost.release_all(&m).map(drop)));
    }
    if cfg.scale >= 2 {
        hs.push(background(&ghost, cfg, 3));
    }
    let got = join_timed(other).map(drop);
    let r = conclude(&ghost, hs).and(got);
    let want: Vec<usize> = (1..=n).collect();
    r.and_then(|()| check_order(&ghost, &log, &want))
}
