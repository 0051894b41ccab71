//! The operation × operation matrix: every pair of public operations (`lockcore_results::OPERATIONS`)
//! runs concurrently in one small world, judged by the shared oracle (the [`Ghost`]) and a few
//! pair-specific checks. The world: process 1 holds session 1 (twice when the pair releases twice)
//! with a lease it refreshes by hand, session 2 holds a dead owner's stale file, processes 2 and 3
//! are the contenders, cleaners and inspectors.

use crate::scenarios::{lock_file, session, Cfg, HOST};
use lockcore::sync::thread;
use lockcore::{AcquireOptions, LockManager, Payload, Policy};
use lockcore_results::OPERATIONS;
use models::judge;
use models::oracle::{Ghost, HoldId, Violation};
use models::sim::{SimEnv, SimWorld};
use std::path::Path;
use std::time::Duration;

/// One public operation, as the matrix runs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    /// `acquire_with` (waits up to 3 ms of model time) on the held session 1.
    Acquire,
    /// One `try_acquire` of session 2 (a dead owner's stale file: a reclaim).
    TryAcquire,
    /// Process 1 releases a guard of session 1.
    Release,
    /// Process 1's `release_all`.
    ReleaseAll,
    /// `clean_stale` of the directory.
    CleanStale,
    /// `inspect` of the directory.
    Inspect,
    /// The signal cleanup: `release_all` of process 1 from the signal thread.
    SignalCleanup,
    /// Process 1's lease refresh.
    Refresh,
}

impl Op {
    /// Every operation, in `OPERATIONS` order.
    pub const ALL: [Op; 8] = [
        Op::Acquire,
        Op::TryAcquire,
        Op::Release,
        Op::ReleaseAll,
        Op::CleanStale,
        Op::Inspect,
        Op::SignalCleanup,
        Op::Refresh,
    ];

    /// The operation's name in `lockcore_results::OPERATIONS`.
    pub fn name(self) -> &'static str {
        OPERATIONS[Op::ALL.iter().position(|&o| o == self).unwrap_or(0)]
    }
}

/// Every unordered pair, an operation with itself included (36).
pub fn pairs() -> Vec<(Op, Op)> {
    let mut out = Vec::new();
    for (i, &a) in Op::ALL.iter().enumerate() {
        for &b in &Op::ALL[i..] {
            out.push((a, b));
        }
    }
    out
}

/// What the two threads share.
struct World {
    ghost: Ghost,
    holder: LockManager<SimEnv>,
    guards: Vec<HoldId>,
    others: [LockManager<SimEnv>; 2],
}

fn policy(cfg: &Cfg) -> Policy {
    Policy {
        mutant: cfg.mutant,
        ..Policy::default()
    }
}

fn setup(cfg: &Cfg, pair: (Op, Op)) -> Result<World, Violation> {
    let world = SimWorld::new(cfg.seed);
    for pid in [1, 2, 3] {
        world.spawn(HOST, pid);
    }
    let ghost = Ghost::new(&world);
    let holder = LockManager::new(world.env(HOST, 1), policy(cfg));
    holder.use_manual_heartbeat();
    let holds = if pair == (Op::Release, Op::Release) {
        2
    } else {
        1
    };
    let mut guards = Vec::new();
    for _ in 0..holds {
        let g = holder
            .try_acquire(&session(1))
            .map_err(|e| judge::harness_failed().violation(format!("setup: {e}"), world.trace()))?;
        guards.push(ghost.acquired("p1", &holder, g)?);
    }
    let stale = Payload {
        pid: 9,
        nonce: Some("dead-owner".into()),
        created_at_ms: world.now_wall_ms(),
        starttime: None,
        host: Some(HOST.into()),
        token: Some("dead".into()),
        lease: None,
    };
    world.plant(&lock_file(2), &stale.to_bytes(), world.now_wall_ms());
    let others = [2, 3].map(|pid| LockManager::new(world.env(HOST, pid), policy(cfg)));
    Ok(World {
        ghost,
        holder,
        guards,
        others,
    })
}

fn io(ghost: &Ghost, who: &str, e: &lockcore::LockError) -> Violation {
    crate::scenarios::unexpected(ghost.world(), who, e)
}

/// A contender's acquisition: recorded by the ghost (P1 and friends), then released.
fn took(
    w: &World,
    who: &str,
    m: &LockManager<SimEnv>,
    r: Result<lockcore::LockGuard<SimEnv>, lockcore::LockError>,
) -> Result<(), Violation> {
    match r {
        Ok(g) => {
            let id = w.ghost.acquired(who, m, g)?;
            w.ghost
                .release(id)?
                .map(|_| ())
                .map_err(|e| io(&w.ghost, who, &e))
        }
        Err(e) if e.is_busy() => Ok(()),
        Err(e) => Err(io(&w.ghost, who, &e)),
    }
}

/// Runs `op` as the pair's `slot`-th thread (0 or 1).
fn run_op(w: &World, op: Op, slot: usize) -> Result<(), Violation> {
    let other = &w.others[slot];
    let who = format!("p{}", slot + 2);
    match op {
        Op::Acquire => {
            let opts = AcquireOptions {
                reentrant: true,
                timeout: Some(Duration::from_millis(3)),
            };
            took(w, &who, other, other.acquire_with(&session(1), opts))
        }
        Op::TryAcquire => took(w, &who, other, other.try_acquire(&session(2))),
        Op::Release => {
            let id = w.guards[slot.min(w.guards.len() - 1)];
            w.ghost
                .release(id)?
                .map(|_| ())
                .map_err(|e| io(&w.ghost, "p1", &e))
        }
        Op::ReleaseAll | Op::SignalCleanup => w.ghost.release_all(&w.holder).map(|_| ()),
        Op::CleanStale => match other.clean_stale(Path::new("/s"), false) {
            Ok(r) if r.unreadable.is_empty() => Ok(()),
            Ok(r) => Err(judge::unexpected_error().violation(
                format!(
                    "{who}: clean reported unreadable entries: {:?}",
                    r.unreadable
                ),
                w.ghost.world().trace(),
            )),
            Err(e) => Err(io(&w.ghost, &who, &e)),
        },
        Op::Inspect => other
            .inspect_all(Path::new("/s"))
            .map(|_| ())
            .map_err(|e| io(&w.ghost, &who, &e)),
        Op::Refresh => {
            let r = w.holder.refresh();
            // No model time passes: nobody may legitimately take a lock of process 1 (P15: a
            // refresh never reports a live, unreplaced lock compromised).
            if r.compromised.is_empty() && r.failed.is_empty() {
                Ok(())
            } else {
                Err(judge::compromise_misjudged().violation(
                    format!(
                        "p1's refresh: compromised {:?}, failed {:?}",
                        r.compromised, r.failed
                    ),
                    w.ghost.world().trace(),
                ))
            }
        }
    }
}

/// The pair `(a, b)` run concurrently, then the end state checked (P1–P5, P9, P11, P15). At
/// shuttle size a background process crashes and restarts beside them.
pub fn run_pair(pair: (Op, Op), cfg: &Cfg) -> Result<(), Violation> {
    let w = models::oracle::shared(setup(cfg, pair)?);
    let mut hs = Vec::new();
    for (slot, op) in [(0, pair.0), (1, pair.1)] {
        let w = w.clone();
        hs.push(thread::spawn(move || run_op(&w, op, slot)));
    }
    let mut first = Ok(());
    for h in hs {
        match h.join() {
            Ok(r) => first = first.and(r),
            Err(p) => std::panic::resume_unwind(p),
        }
    }
    let end = first.and_then(|()| w.ghost.check_quiescent());
    crate::harness::record_trace(w.ghost.world().trace().to_string());
    w.ghost.finish();
    end
}
