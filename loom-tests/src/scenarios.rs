//! The scenarios, generic over the sync shim. Each one builds a fresh [`SimWorld`], lets its
//! threads act through the [`Ghost`] (which checks P1–P12 as they go), joins them, checks the end
//! state, and returns the first violation. `Cfg::scale` sizes a scenario: 1 is the loom size
//! (2–3 threads, 1–2 paths), 2 the shuttle size (≥ 4 threads, ≥ 3 sessions, ≥ 2 processes, a
//! crash and an exec-restart).

use lockcore::sync::thread;
use lockcore::{AcquireOptions, LockError, LockGuard, LockManager, Mutant, Payload, Policy};
use models::judge;
use models::oracle::{check_hostile, check_no_block, shared, Ghost, HoldId, Violation};
use models::sim::{FaultKind, FaultRule, SimEnv, SimOp, SimWorld};
use models::SimKind;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod waits;
pub use waits::*;

/// The one host every scenario process lives on.
pub const HOST: &str = "h";

/// How a scenario runs.
#[derive(Clone, Copy, Debug)]
pub struct Cfg {
    /// The catalogue bug every manager of the scenario re-introduces, if any.
    pub mutant: Option<Mutant>,
    /// 1: loom size; 2: shuttle size.
    pub scale: usize,
    /// `try_acquire` attempts of a retrying acquirer (each followed by a yield).
    pub tries: usize,
    /// Seed of the world's randomness (nonces, tokens).
    pub seed: u64,
    /// Add the scenario's optional extra thread (M1: a concurrent fresh acquire) even at
    /// scale 1.
    pub extra: bool,
    /// Waiters for another process's lock watch it (the simulated inotify + pidfd); `false`:
    /// they back off (the fallback).
    pub watch: bool,
}

impl Cfg {
    /// Loom size.
    pub fn loom(mutant: Option<Mutant>) -> Self {
        Cfg {
            mutant,
            scale: 1,
            tries: 2,
            seed: 1,
            extra: false,
            watch: true,
        }
    }
    /// Shuttle size.
    pub fn shuttle(mutant: Option<Mutant>) -> Self {
        Cfg {
            mutant,
            scale: 2,
            tries: 3,
            seed: 1,
            extra: true,
            watch: true,
        }
    }
}

/// Session file `i`: `/s/s<i>.jsonl`.
pub fn session(i: usize) -> PathBuf {
    PathBuf::from(format!("/s/s{i}.jsonl"))
}

/// Lock file of session `i`.
pub fn lock_file(i: usize) -> PathBuf {
    PathBuf::from(format!("/s/s{i}.jsonl.lock"))
}

type Handle = thread::JoinHandle<Result<(), Violation>>;

fn spawn(f: impl FnOnce() -> Result<(), Violation> + Send + 'static) -> Handle {
    thread::spawn(f)
}

fn manager(world: &SimWorld, pid: u32, cfg: &Cfg) -> LockManager<SimEnv> {
    let policy = Policy {
        mutant: cfg.mutant,
        ..Policy::default()
    };
    LockManager::new(world.env(HOST, pid), policy)
}

pub(crate) fn unexpected(world: &SimWorld, actor: &str, e: &LockError) -> Violation {
    // A wait that never ended (the simulated reclaim lock's bound) is a liveness failure.
    if let LockError::Io { source, .. } = e {
        if source.kind() == std::io::ErrorKind::TimedOut {
            return judge::wait_unbounded().violation(format!("{actor}: {e}"), world.trace());
        }
    }
    judge::unexpected_error().violation(format!("{actor}: {e}"), world.trace())
}

/// Up to `tries` attempts, yielding between them. `Ok(None)`: still busy.
fn acquire(
    mgr: &LockManager<SimEnv>,
    i: usize,
    reentrant: bool,
    tries: usize,
) -> Result<Option<LockGuard<SimEnv>>, LockError> {
    let opts = AcquireOptions {
        reentrant,
        timeout: None,
    };
    for attempt in 0..tries {
        match mgr.try_acquire_with(&session(i), opts) {
            Ok(g) => return Ok(Some(g)),
            Err(e) if e.is_busy() => {
                if attempt + 1 < tries {
                    thread::yield_now();
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// Acquire session `i` (up to `tries` attempts) and hand the guard to the ghost.
fn take(
    ghost: &Ghost,
    actor: &str,
    mgr: &LockManager<SimEnv>,
    i: usize,
    reentrant: bool,
    tries: usize,
) -> Result<Option<HoldId>, Violation> {
    match acquire(mgr, i, reentrant, tries) {
        Ok(Some(g)) => ghost.acquired(actor, mgr, g).map(Some),
        Ok(None) => Ok(None),
        Err(e) => Err(unexpected(ghost.world(), actor, &e)),
    }
}

fn release(ghost: &Ghost, actor: &str, id: HoldId) -> Result<(), Violation> {
    match ghost.release(id)? {
        Ok(_) => Ok(()),
        Err(e) => Err(unexpected(ghost.world(), actor, &e)),
    }
}

fn join_all(handles: Vec<Handle>) -> Result<(), Violation> {
    let mut first = Ok(());
    for h in handles {
        match h.join() {
            Ok(r) => {
                if first.is_ok() {
                    first = r;
                }
            }
            Err(payload) => std::panic::resume_unwind(payload),
        }
    }
    first
}

/// Joins, checks the end state, and drops every guard.
fn conclude(ghost: &Ghost, handles: Vec<Handle>) -> Result<(), Violation> {
    let r = join_all(handles).and_then(|()| ghost.check_quiescent());
    crate::harness::record_trace(ghost.world().trace().to_string());
    ghost.finish();
    r
}

/// Shuttle-size background process `pid`: holds its own session, crashes, exec-restarts with
/// the same pid, and must re-acquire at once (P6), then releases.
fn background(ghost: &Ghost, cfg: &Cfg, pid: u32) -> Handle {
    let (ghost, cfg) = (ghost.clone(), *cfg);
    spawn(move || {
        let world = ghost.world().clone();
        let actor = format!("bg{pid}");
        let i = 10 + pid as usize;
        let m = manager(&world, pid, &cfg);
        take(&ghost, &actor, &m, i, true, cfg.tries)?;
        ghost.crash(HOST, pid);
        world.exec_restart(HOST, pid);
        let m2 = manager(&world, pid, &cfg);
        let r = m2.try_acquire(&session(i));
        check_no_block(&world, &session(i), &r)?;
        if let Ok(g) = r {
            let id = ghost.acquired(&format!("{actor}'"), &m2, g)?;
            release(&ghost, &actor, id)?;
        }
        Ok(())
    })
}

fn world_for(cfg: &Cfg, pids: &[u32]) -> (SimWorld, Ghost) {
    let world = SimWorld::new(cfg.seed);
    world.set_waits(models::sim::SimWaits {
        watch: cfg.watch,
        ..Default::default()
    });
    for &pid in pids {
        world.spawn(HOST, pid);
    }
    let ghost = Ghost::new(&world);
    (world, ghost)
}

fn must_take(
    ghost: &Ghost,
    actor: &str,
    m: &LockManager<SimEnv>,
    i: usize,
) -> Result<HoldId, Violation> {
    match take(ghost, actor, m, i, true, 1)? {
        Some(id) => Ok(id),
        None => Err(judge::busy_when_free().violation(
            format!("{actor}: setup acquisition of an uncontended session {i} was busy"),
            ghost.world().trace(),
        )),
    }
}

/// M1 — P1, P3: `release_all` + rotate ∥ an acquire of a held path that would reclaim it by nonce
/// mismatch (∥, with `extra`, a fresh acquire of another path; at scale 2 also a background
/// process).
/// Targets the window between the rotation and the removal of the lock being released.
pub fn m1_release_all_vs_reclaim(cfg: &Cfg) -> Result<(), Violation> {
    let (world, ghost) = world_for(cfg, &[1, 2]);
    let m = manager(&world, 1, cfg);
    for i in 1..=cfg.scale {
        must_take(&ghost, "main", &m, i)?;
    }
    let mut hs = Vec::new();
    {
        let (ghost, m, tries) = (ghost.clone(), m.clone(), cfg.tries);
        hs.push(spawn(move || {
            take(&ghost, "reclaimer", &m, 1, true, tries).map(drop)
        }));
    }
    {
        let (ghost, m) = (ghost.clone(), m.clone());
        hs.push(spawn(move || ghost.release_all(&m).map(drop)));
    }
    if cfg.extra {
        let (g, m, tries, fresh, scale) = (
            ghost.clone(),
            m.clone(),
            cfg.tries,
            cfg.scale + 1,
            cfg.scale,
        );
        hs.push(spawn(move || {
            if let Some(id) = take(&g, "fresh", &m, fresh, true, tries)? {
                if scale >= 2 {
                    release(&g, "fresh", id)?;
                }
            }
            Ok(())
        }));
    }
    if cfg.scale >= 2 {
        hs.push(background(&ghost, cfg, 2));
    }
    conclude(&ghost, hs)
}

/// Plants the lock file of a dead process for session `i`.
fn plant_dead(world: &SimWorld, i: usize, dead_pid: u32) {
    world.spawn(HOST, dead_pid);
    world.crash(HOST, dead_pid);
    let p = Payload {
        pid: dead_pid,
        nonce: Some(format!("dead-nonce-{dead_pid}")),
        created_at_ms: world.now_wall_ms(),
        starttime: None,
        host: Some(HOST.to_string()),
        token: Some(format!("dead-token-{i}")),
        lease: None,
    };
    world.plant(&lock_file(i), &p.to_bytes(), world.now_wall_ms());
}

/// M2 — P1, P2: two reclaimers of one dead owner's lock (processes 1 and 2) ∥ a fresh acquirer
/// (process 3), one `try_acquire` each. Targets reclaimers working from an outdated "stale"
/// observation. Scale 2: four processes, two dead files, each acquirer tries both.
pub fn m2_two_reclaimers(cfg: &Cfg) -> Result<(), Violation> {
    let n = if cfg.scale >= 2 { 4 } else { 3 };
    let pids: Vec<u32> = (1..=n).collect();
    let (world, ghost) = world_for(cfg, &(1..=n + 1).collect::<Vec<u32>>());
    plant_dead(&world, 1, 90);
    if cfg.scale >= 2 {
        plant_dead(&world, 2, 91);
    }
    let sessions: Vec<usize> = if cfg.scale >= 2 { vec![1, 2] } else { vec![1] };
    let mut hs = Vec::new();
    for pid in pids {
        let (ghost, cfg, sessions) = (ghost.clone(), *cfg, sessions.clone());
        hs.push(spawn(move || {
            let m = manager(ghost.world(), pid, &cfg);
            for i in sessions {
                take(&ghost, &format!("p{pid}"), &m, i, true, 1)?;
            }
            Ok(())
        }));
    }
    if cfg.scale >= 2 {
        hs.push(background(&ghost, cfg, n + 1));
    }
    conclude(&ghost, hs)
}

/// M3 — P1, P2, P9: a release ∥ an acquire of the same path in the same instance. Targets the
/// window between a release's registry update and its file removal. Scale 2: also a second
/// path with its own releaser/acquirer pair and a background process.
pub fn m3_release_vs_acquire(cfg: &Cfg) -> Result<(), Violation> {
    let (world, ghost) = world_for(cfg, &[1, 2]);
    let m = manager(&world, 1, cfg);
    let paths: Vec<usize> = (1..=cfg.scale).collect();
    let mut hs = Vec::new();
    for &i in &paths {
        let id = must_take(&ghost, "main", &m, i)?;
        {
            let ghost = ghost.clone();
            hs.push(spawn(move || release(&ghost, "releaser", id)));
        }
        {
            let (ghost, m, tries) = (ghost.clone(), m.clone(), cfg.tries);
            hs.push(spawn(move || {
                if let Some(id) = take(&ghost, "acquirer", &m, i, true, tries)? {
                    if i > 1 {
                        release(&ghost, "acquirer", id)?;
                    }
                }
                Ok(())
            }));
        }
    }
    if cfg.scale >= 2 {
        hs.push(background(&ghost, cfg, 2));
    }
    conclude(&ghost, hs)
}

/// M4 — P5: a guard revoked by `release_all` is dropped ∥ the new holder acquires the path
/// again. Targets a revoked guard's release acting on the successor's hold. Scale 2: more held
/// sessions, and a background process.
pub fn m4_revoked_drop(cfg: &Cfg) -> Result<(), Violation> {
    let (world, ghost) = world_for(cfg, &[1, 2]);
    let m = manager(&world, 1, cfg);
    let mut ids = Vec::new();
    for i in 1..=cfg.scale {
        ids.push((i, must_take(&ghost, "main", &m, i)?));
    }
    let mut hs = Vec::new();
    {
        let (ghost, m, tries, n) = (ghost.clone(), m.clone(), cfg.tries, cfg.scale);
        hs.push(spawn(move || {
            ghost.release_all(&m)?;
            for i in 1..=n {
                take(&ghost, "successor", &m, i, true, tries)?;
            }
            Ok(())
        }));
    }
    for (i, id) in ids {
        let ghost = ghost.clone();
        hs.push(spawn(move || release(&ghost, &format!("old{i}"), id)));
    }
    if cfg.scale >= 2 {
        hs.push(background(&ghost, cfg, 2));
    }
    conclude(&ghost, hs)
}

/// M5 — P4: `release_all` of an instance holding two locks ∥ an acquire + release of another
/// path in the same instance. Targets the registry walk of `release_all` against late
/// acquisitions. Scale 2: three held sessions, two other-path acquirers, a background process.
pub fn m5_release_all_vs_other(cfg: &Cfg) -> Result<(), Violation> {
    let (world, ghost) = world_for(cfg, &[1, 2]);
    let m = manager(&world, 1, cfg);
    let held = cfg.scale + 1;
    for i in 1..=held {
        must_take(&ghost, "main", &m, i)?;
    }
    let mut hs = Vec::new();
    {
        let (ghost, m) = (ghost.clone(), m.clone());
        hs.push(spawn(move || ghost.release_all(&m).map(drop)));
    }
    for k in 0..cfg.scale {
        let (ghost, m, tries, i) = (ghost.clone(), m.clone(), cfg.tries, held + 1 + k);
        // At loom size the one other-path acquirer releases when `extra` is set; at shuttle
        // size the first keeps its lock (a late acquisition that must not outlive the epoch)
        // and the others release.
        let releases = if cfg.scale >= 2 { k > 0 } else { cfg.extra };
        hs.push(spawn(move || {
            // Arrive late: under loom a first yield lets release_all run ahead; at shuttle
            // size the late acquirer waits (yielding, bounded) until release_all has removed
            // every held file, so it targets the end of the registry walk.
            thread::yield_now();
            if !releases {
                let world = ghost.world().clone();
                for _ in 0..64 {
                    if (1..=held).all(|j| world.file(&lock_file(j)).is_none()) {
                        break;
                    }
                    thread::yield_now();
                }
            }
            if let Some(id) = take(&ghost, "other", &m, i, true, tries)? {
                if releases {
                    release(&ghost, "other", id)?;
                }
            }
            Ok(())
        }));
    }
    if cfg.scale >= 2 {
        hs.push(background(&ghost, cfg, 2));
    }
    conclude(&ghost, hs)
}

/// M6 — P1, P9: reentrant acquire + acquire + release of one of the holds ∥ a non-reentrant
/// acquire in the same instance. Targets the hold count. Scale 2: a second reentrant thread on
/// another path, and a background process.
pub fn m6_reentrant(cfg: &Cfg) -> Result<(), Violation> {
    let (world, ghost) = world_for(cfg, &[1, 2]);
    let m = manager(&world, 1, cfg);
    let mut hs = Vec::new();
    for i in 1..=cfg.scale {
        let (ghost, m, tries) = (ghost.clone(), m.clone(), cfg.tries);
        hs.push(spawn(move || {
            let Some(_first) = take(&ghost, "reentrant", &m, i, true, tries)? else {
                return Ok(());
            };
            if let Some(second) = take(&ghost, "reentrant", &m, i, true, 1)? {
                release(&ghost, "reentrant", second)?;
            }
            Ok(())
        }));
    }
    {
        let (ghost, m, tries) = (ghost.clone(), m.clone(), cfg.tries);
        hs.push(spawn(move || {
            if let Some(id) = take(&ghost, "exclusive", &m, 1, false, tries)? {
                release(&ghost, "exclusive", id)?;
            }
            Ok(())
        }));
    }
    if cfg.scale >= 2 {
        hs.push(background(&ghost, cfg, 2));
    }
    conclude(&ghost, hs)
}

/// M7 — P2: process 1's lock is older than `stale_after`; process 2 reclaims it (`too-old`) ∥
/// process 1 releases its guard. Targets a release that deletes without an ownership check.
/// Scale 2: two such sessions and a background process.
pub fn m7_superseded_release(cfg: &Cfg) -> Result<(), Violation> {
    let (world, ghost) = world_for(cfg, &[1, 2, 3]);
    let a = manager(&world, 1, cfg);
    let b = manager(&world, 2, cfg);
    let mut ids = Vec::new();
    for i in 1..=cfg.scale {
        ids.push(must_take(&ghost, "a", &a, i)?);
    }
    world.advance(a.policy().stale_after + Duration::from_secs(60));
    releases_against_a_contender(cfg, &ghost, ("a", ids), ("b", b))
}

/// The shape M7 and M8 share: one thread per hold of `holder` releases it ∥ one thread of
/// `contender` tries each session once (∥ a background process at scale 2).
fn releases_against_a_contender(
    cfg: &Cfg,
    ghost: &Ghost,
    (holder, ids): (&'static str, Vec<HoldId>),
    (name, contender): (&'static str, LockManager<SimEnv>),
) -> Result<(), Violation> {
    let mut hs = Vec::new();
    {
        let (ghost, n) = (ghost.clone(), cfg.scale);
        hs.push(spawn(move || {
            for i in 1..=n {
                take(&ghost, name, &contender, i, true, 1)?;
            }
            Ok(())
        }));
    }
    for id in ids {
        let ghost = ghost.clone();
        hs.push(spawn(move || release(&ghost, holder, id)));
    }
    if cfg.scale >= 2 {
        hs.push(background(ghost, cfg, 3));
    }
    conclude(ghost, hs)
}

/// M8 — P2, P8: process 2 (alive, but its probe answers `EPERM`) holds a lock and releases it ∥
/// process 1 tries to acquire it. Targets the liveness and nonce rules for another live pid.
/// Scale 2: two such sessions and a background process.
pub fn m8_live_foreign(cfg: &Cfg) -> Result<(), Violation> {
    let (world, ghost) = world_for(cfg, &[1, 2, 3]);
    let a = manager(&world, 1, cfg);
    let b = manager(&world, 2, cfg);
    world.set_eperm(HOST, 2, true);
    let mut ids = Vec::new();
    for i in 1..=cfg.scale {
        ids.push(must_take(&ghost, "b", &b, i)?);
    }
    releases_against_a_contender(cfg, &ghost, ("b", ids), ("a", a))
}

/// M9 — P6: an in-place restart (`release_all`) whose delete of one lock fails (injected `EIO`)
/// leaves that file with the old nonce; the next acquire of that session must succeed at once
/// (∥ an acquire + release of another path). Targets the nonce-mismatch reclaim after restart.
pub fn m9_restart_leftover(cfg: &Cfg) -> Result<(), Violation> {
    let (world, ghost) = world_for(cfg, &[1, 2]);
    let m = manager(&world, 1, cfg);
    for i in 1..=cfg.scale {
        must_take(&ghost, "main", &m, i)?;
    }
    world.inject(
        FaultRule::new(Some(SimOp::Remove), FaultKind::Eio)
            .on_path(&lock_file(1).to_string_lossy())
            .nth(1),
    );
    let mut hs = Vec::new();
    {
        let (ghost, m, n) = (ghost.clone(), m.clone(), cfg.scale);
        hs.push(spawn(move || {
            let world = ghost.world().clone();
            let report = ghost.release_all(&m)?;
            if report.failed.len() != 1 {
                return Err(judge::fault_unreported().violation(
                    format!("the injected EIO was not reported: {report:?}"),
                    world.trace(),
                ));
            }
            for i in 1..=n {
                let r = m.try_acquire(&session(i));
                check_no_block(&world, &session(i), &r)?;
                if let Ok(g) = r {
                    ghost.acquired("restarted", &m, g)?;
                }
            }
            Ok(())
        }));
    }
    for k in 0..cfg.scale {
        let (ghost, m, tries, i) = (ghost.clone(), m.clone(), cfg.tries, cfg.scale + 1 + k);
        hs.push(spawn(move || {
            if let Some(id) = take(&ghost, "other", &m, i, true, tries)? {
                release(&ghost, "other", id)?;
            }
            Ok(())
        }));
    }
    if cfg.scale >= 2 {
        hs.push(background(&ghost, cfg, 2));
    }
    conclude(&ghost, hs)
}

/// M10 — P10: two processes publish the same fresh lock at once. Targets the moment between a
/// publisher's create and its write. Scale 2: three publishers on two sessions and a
/// background process.
pub fn m10_concurrent_publish(cfg: &Cfg) -> Result<(), Violation> {
    let n: u32 = if cfg.scale >= 2 { 3 } else { 2 };
    let pids: Vec<u32> = (1..=n + 1).collect();
    let (_world, ghost) = world_for(cfg, &pids);
    let sessions: Vec<usize> = (1..=cfg.scale).collect();
    let mut hs = Vec::new();
    for pid in 1..=n {
        let (ghost, cfg, sessions) = (ghost.clone(), *cfg, sessions.clone());
        hs.push(spawn(move || {
            let m = manager(ghost.world(), pid, &cfg);
            for i in sessions {
                take(&ghost, &format!("p{pid}"), &m, i, true, 1)?;
            }
            Ok(())
        }));
    }
    if cfg.scale >= 2 {
        hs.push(background(&ghost, cfg, n + 1));
    }
    conclude(&ghost, hs)
}

/// The sibling pid namespace (a second container sharing the sessions directory).
pub const SIBLING: &str = "h2";

fn manager_on(world: &SimWorld, host: &str, pid: u32, cfg: &Cfg) -> LockManager<SimEnv> {
    let policy = Policy {
        mutant: cfg.mutant,
        ..Policy::default()
    };
    LockManager::new(world.env(host, pid), policy)
}

/// The historic host-less shapes a peer implementation writes, by session: `{pid, nonce,
/// createdAt}` with our pid, `{pid, createdAt}` with our pid, `{pid, createdAt, starttime}` of a
/// pid that does not exist in our namespace.
fn peer_payload(world: &SimWorld, i: usize) -> Vec<u8> {
    let (pid, nonce, starttime) = match i % 3 {
        1 => (1, Some("e9f2c4a1b0d3e5f6a7b8c9d0".to_string()), None),
        2 => (1, None, None),
        _ => (77, None, Some(3)),
    };
    Payload {
        pid,
        nonce,
        created_at_ms: world.now_wall_ms(),
        starttime,
        host: None,
        token: None,
        lease: None,
    }
    .to_bytes()
}

/// M11 — P14: a peer implementation, pid 1 of a sibling pid namespace, holds host-less lock files
/// and releases them ∥ lockcore, pid 1 of our namespace, tries each once. Targets the rules for a
/// file that does not show it was written in our namespace: any reclaim of a live peer's file is
/// two owners. Scale 2: the three historic shapes on three sessions, and a background process.
pub fn m11_peer_in_sibling_namespace(cfg: &Cfg) -> Result<(), Violation> {
    let (world, ghost) = world_for(cfg, &[1, 3]);
    world.spawn(SIBLING, 1);
    let n = cfg.scale.max(1) + usize::from(cfg.scale >= 2);
    for i in 1..=n {
        world.plant(&lock_file(i), &peer_payload(&world, i), world.now_wall_ms());
    }
    let mut hs = Vec::new();
    {
        let world = world.clone();
        hs.push(spawn(move || {
            let fs = world.env(SIBLING, 1).fs;
            for i in 1..=n {
                // The peer's own release: remove the file if it is still the one it wrote.
                use lockcore::Fs;
                if fs.read(&lock_file(i), 4096).ok() == Some(peer_payload(&world, i)) {
                    let _ = fs.remove(&lock_file(i));
                }
            }
            Ok(())
        }));
    }
    {
        let (ghost, cfg) = (ghost.clone(), *cfg);
        hs.push(spawn(move || {
            let m = manager(ghost.world(), 1, &cfg);
            for i in 1..=n {
                match acquire(&m, i, true, 1) {
                    Ok(Some(g)) if matches!(g.how(), lockcore::Acquired::Reclaimed(_)) => {
                        return Err(judge::namespace_owner_taken().violation(
                            format!(
                                "lockcore took {} by {:?} while its owner, a peer in a sibling pid namespace, was alive",
                                lock_file(i).display(),
                                g.how()
                            ),
                            ghost.world().trace(),
                        ));
                    }
                    Ok(Some(g)) => {
                        let id = ghost.acquired("lockcore", &m, g)?;
                        release(&ghost, "lockcore", id)?;
                    }
                    Ok(None) => {}
                    Err(e) => return Err(unexpected(ghost.world(), "lockcore", &e)),
                }
            }
            Ok(())
        }));
    }
    if cfg.scale >= 2 {
        hs.push(background(&ghost, cfg, 3));
    }
    conclude(&ghost, hs)
}

/// A holder with a 30 s lease that the test refreshes by hand (model time).
fn leased_holder(world: &SimWorld, cfg: &Cfg) -> LockManager<SimEnv> {
    let m = manager(world, 1, cfg);
    m.use_manual_heartbeat();
    m
}

/// M12 — P13: process 1 (our namespace) holds with a 30 s lease, refreshed 15 s ago and created
/// 35 s ago; it refreshes again and releases ∥ pid 1 of a sibling namespace tries to take the
/// lock. Targets how a lease is judged: a refreshed lease is never reclaimed, whatever its age.
pub fn m12_refreshed_lease_vs_contender(cfg: &Cfg) -> Result<(), Violation> {
    let (world, ghost) = world_for(cfg, &[1, 3]);
    world.spawn(SIBLING, 1);
    let a = leased_holder(&world, cfg);
    let mut ids = Vec::new();
    for i in 1..=cfg.scale {
        ids.push(must_take(&ghost, "a", &a, i)?);
    }
    world.advance(Duration::from_secs(20));
    let _ = a.refresh();
    world.advance(Duration::from_secs(15));
    let mut hs = Vec::new();
    {
        let (ghost, cfg, n) = (ghost.clone(), *cfg, cfg.scale);
        hs.push(spawn(move || {
            let b = manager_on(ghost.world(), SIBLING, 1, &cfg);
            for i in 1..=n {
                match acquire(&b, i, true, 1) {
                    Ok(Some(g))
                        if g.how()
                            == lockcore::Acquired::Reclaimed(lockcore::StaleReason::LeaseExpired) =>
                    {
                        return Err(judge::refreshed_lease_taken().violation(
                            format!(
                                "b reclaimed {} as lease-expired, but its holder refreshed it 15 s ago (lease 30 s)",
                                lock_file(i).display()
                            ),
                            ghost.world().trace(),
                        ));
                    }
                    Ok(Some(g)) => {
                        let id = ghost.acquired("b", &b, g)?;
                        release(&ghost, "b", id)?;
                    }
                    Ok(None) => {}
                    Err(e) => return Err(unexpected(ghost.world(), "b", &e)),
                }
            }
            Ok(())
        }));
    }
    {
        let ghost = ghost.clone();
        hs.push(spawn(move || {
            let _ = a.refresh();
            for id in ids {
                release(&ghost, "a", id)?;
            }
            Ok(())
        }));
    }
    if cfg.scale >= 2 {
        hs.push(background(&ghost, cfg, 3));
    }
    conclude(&ghost, hs)
}

/// M13 — P15: process 1 holds with a 30 s lease and stops refreshing for 31 s (SIGSTOP); then
/// its refresh ∥ pid 1 of a sibling namespace reclaims the lock (`lease-expired`, legitimate).
/// Targets compromise detection: afterwards the old holder must not believe it holds a file that
/// is someone else's, and its release deletes nothing of the new owner's.
pub fn m13_refresh_vs_lease_reclaim(cfg: &Cfg) -> Result<(), Violation> {
    let (world, ghost) = world_for(cfg, &[1, 3]);
    world.spawn(SIBLING, 1);
    let a = leased_holder(&world, cfg);
    let mut ids = Vec::new();
    for i in 1..=cfg.scale {
        ids.push(must_take(&ghost, "a", &a, i)?);
    }
    world.advance(Duration::from_secs(31));
    let b = manager_on(&world, SIBLING, 1, cfg);
    let taken = shared(lockcore::sync::Mutex::new(Vec::new()));
    let mut hs = Vec::new();
    {
        let (ghost, b, n, taken) = (ghost.clone(), b.clone(), cfg.scale, taken.clone());
        hs.push(spawn(move || {
            for i in 1..=n {
                if let Some(id) = take(&ghost, "b", &b, i, true, 1)? {
                    lockcore::sync::lock(&taken).push((i, id));
                }
            }
            Ok(())
        }));
    }
    {
        let a = a.clone();
        hs.push(spawn(move || {
            let _ = a.refresh();
            Ok(())
        }));
    }
    if cfg.scale >= 2 {
        hs.push(background(&ghost, cfg, 3));
    }
    let joined = join_all(hs);
    let taken = std::mem::take(&mut *lockcore::sync::lock(&taken));
    let believed = joined.and_then(|()| {
        for (i, _) in &taken {
            let a_id = ids[i - 1];
            if ghost.is_held(a_id) {
                return Err(judge::compromise_misjudged().violation(
                    format!(
                        "after its refresh, a still believes it holds {}, which b reclaimed and holds",
                        lock_file(*i).display()
                    ),
                    world.trace(),
                ));
            }
        }
        Ok(())
    });
    // The old holder releases last: it must delete nothing of b's (the ghost checks P2/P15).
    let released =
        believed.and_then(|()| ids.into_iter().try_for_each(|id| release(&ghost, "a", id)));
    conclude(&ghost, Vec::new()).and(released)
}

/// M14 — P16, P1, P9: a holder releases and an attacker then `mkfifo`s the freed lock path ∥
/// another process acquires the session (at scale 2 spelled through a symlinked directory, with
/// a background process). Targets the window between the release's unlink and the contender's
/// publish: the contender either wins the path (the FIFO plant then fails with EEXIST) or meets
/// the FIFO and is refused at once with `NotRegular`; never waits on it, writes over it, or
/// removes it, and its own release removes only its own file.
pub fn m14_hostile_after_release(cfg: &Cfg) -> Result<(), Violation> {
    let (world, ghost) = world_for(cfg, &[1, 2]);
    let spelled = if cfg.scale >= 2 {
        world.alias_dir(Path::new("/alias"), Path::new("/s"));
        PathBuf::from("/alias/s1.jsonl")
    } else {
        session(1)
    };
    let (holder, contender) = (manager(&world, 1, cfg), manager(&world, 2, cfg));
    let id = must_take(&ghost, "holder", &holder, 1)?;
    let mut hs = Vec::new();
    {
        let (ghost, world) = (ghost.clone(), world.clone());
        hs.push(spawn(move || {
            release(&ghost, "holder", id)?;
            world.plant_special_new(&lock_file(1), SimKind::Fifo);
            Ok(())
        }));
    }
    {
        let (ghost, tries) = (ghost.clone(), cfg.tries);
        hs.push(spawn(move || {
            contend_through(&ghost, &contender, &spelled, tries)
        }));
    }
    if cfg.scale >= 2 {
        hs.push(background(&ghost, cfg, 3));
    }
    conclude(&ghost, hs).and_then(|()| check_hostile(&world, &[]))
}

/// Up to `tries` attempts on `session`: a win is handed to the ghost and released; a
/// `NotRegular` refusal ends the attempts (P16: at once, never a wait).
fn contend_through(
    ghost: &Ghost,
    mgr: &LockManager<SimEnv>,
    session: &Path,
    tries: usize,
) -> Result<(), Violation> {
    for _ in 0..tries {
        match mgr.try_acquire(session) {
            Ok(g) => {
                let id = ghost.acquired("contender", mgr, g)?;
                return release(ghost, "contender", id);
            }
            Err(LockError::NotRegular { .. }) => return Ok(()),
            Err(e) if e.is_busy() => thread::yield_now(),
            Err(e) => return Err(unexpected(ghost.world(), "contender", &e)),
        }
    }
    Ok(())
}

/// M15 — P1, P4: process 1's own sweep (`clean_stale`) ∥ its `release_all` of two held locks ∥
/// process 2 trying each session. Targets the sweep judging a file of its own instance while
/// `release_all` has it in its snapshot (its guard still holds, its file is on disk): a sweep
/// that took it for a leftover of ours would delete it under that guard, and process 2 would
/// take the lock while the guard still holds. Scale 2: process 2 retries, and a background
/// process crashes and restarts beside them.
pub fn m15_own_sweep_vs_release_all(cfg: &Cfg) -> Result<(), Violation> {
    let (world, ghost) = world_for(cfg, &[1, 2, 3]);
    let m = manager(&world, 1, cfg);
    for i in 1..=2 {
        must_take(&ghost, "main", &m, i)?;
    }
    let mut hs = Vec::new();
    {
        let (ghost, m) = (ghost.clone(), m.clone());
        hs.push(spawn(move || ghost.release_all(&m).map(drop)));
    }
    {
        let (ghost, m) = (ghost.clone(), m.clone());
        hs.push(spawn(move || match m.clean_stale(Path::new("/s"), false) {
            Ok(r) if r.unreadable.is_empty() => Ok(()),
            Ok(r) => Err(judge::unexpected_error().violation(
                format!("own sweep: unreadable entries {:?}", r.unreadable),
                ghost.world().trace(),
            )),
            Err(e) => Err(unexpected(ghost.world(), "own sweep", &e)),
        }));
    }
    {
        let (ghost, cfg) = (ghost.clone(), *cfg);
        hs.push(spawn(move || {
            let p2 = manager(ghost.world(), 2, &cfg);
            for i in 1..=2 {
                if let Some(id) = take(&ghost, "p2", &p2, i, true, cfg.tries - 1)? {
                    release(&ghost, "p2", id)?;
                }
            }
            Ok(())
        }));
    }
    if cfg.scale >= 2 {
        hs.push(background(&ghost, cfg, 3));
    }
    conclude(&ghost, hs)
}

/// A scenario function.
pub type Scenario = fn(&Cfg) -> Result<(), Violation>;

/// The scenario that exposes each catalogue mutant, with the property its twin expects.
pub fn scenario_for(m: Mutant) -> (&'static str, Scenario, &'static str) {
    match m {
        Mutant::RotateBeforeCleanup => ("m1", m1_release_all_vs_reclaim, "P3"),
        Mutant::ReleaseAllLiveIteration => ("m5", m5_release_all_vs_other, "P4"),
        Mutant::ReleaseAllIndexSkip => ("m5", m5_release_all_vs_other, "P4"),
        Mutant::NaiveReclaim => ("m2", m2_two_reclaimers, "P1"),
        Mutant::RenameTakeover => ("m2", m2_two_reclaimers, "P1"),
        Mutant::UncheckedRelease => ("m7", m7_superseded_release, "P2"),
        Mutant::ReleaseByKey => ("m4", m4_revoked_drop, "P5"),
        Mutant::RegistryBeforeUnlink => ("m3", m3_release_vs_acquire, "P2"),
        Mutant::EmptyWindow => ("m10", m10_concurrent_publish, "P10"),
        Mutant::EpermIsDead => ("m8", m8_live_foreign, "P2"),
        Mutant::IgnoreNonce => ("m9", m9_restart_leftover, "P6"),
        Mutant::NonceAnyPid => ("m8", m8_live_foreign, "P8"),
        Mutant::NoReentryCount => ("m6", m6_reentrant, "P9"),
        Mutant::HostlessTrusted => ("m11", m11_peer_in_sibling_namespace, "P14"),
        Mutant::LeaseByCreatedAt => ("m12", m12_refreshed_lease_vs_contender, "P13"),
        Mutant::RefreshByPath => ("m13", m13_refresh_vs_lease_reclaim, "P15"),
        Mutant::RenameAsideReclaim => ("m2", m2_two_reclaimers, "P1"),
        Mutant::LostWakeup => ("w1", w1_release_vs_waiter, "P11"),
        Mutant::Barging => ("s1", s1_fifo_waiters, "P11"),
        Mutant::HandoverLostOnTimeout => ("w4", w4_release_vs_timing_out_waiter, "P9"),
    }
}
