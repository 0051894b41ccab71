//! The nemesis' schedule: a pure function of the seed. Which worker slot gets which fault at
//! which offset from the start is fixed by the seed; the processes' own timing is not (that is
//! the real world the layer tests), so a replay repeats the schedule, not every interleaving.

use crate::rng::Rng;

/// Longest SIGSTOP. A stopped holder does not refresh: it must stay below the lease less one
/// refresh period (2000 − 500 ms) so that a live stopped holder is never legitimately reclaimed
/// and every reclaim the checker sees must be explained by a death or a real lapse.
pub const MAX_STOP_MS: u64 = 1_000;
/// How long a killed worker stays an unreaped zombie at most (the driver is its parent).
pub const MAX_ZOMBIE_MS: u64 = 1_500;

/// One fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// SIGKILL, reaped at once; a fresh worker takes the slot.
    Kill,
    /// SIGKILL, reaped only after `reap_after_ms` (a zombie owner); a fresh worker takes the slot.
    Zombie { reap_after_ms: u64 },
    /// SIGSTOP, SIGCONT after `ms`.
    Stop { ms: u64 },
    /// SIGUSR1: an in-place restart (`release_all`, new nonce).
    Usr1,
}

/// A fault aimed at a worker slot, `at_ms` after the start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    pub at_ms: u64,
    pub slot: usize,
    pub action: Action,
}

/// The schedule for a run of `run_ms` over the `targets` slots. `aggressive` packs faults
/// closer (the twin run, which must catch its bug within a short budget).
pub fn schedule(seed: u64, run_ms: u64, targets: &[usize], aggressive: bool) -> Vec<Event> {
    let mut rng = Rng::derive(seed, 0xfee1, 0);
    let (gap_lo, gap_hi) = if aggressive { (40, 200) } else { (150, 600) };
    let mut stopped_until = vec![0u64; targets.len()];
    let mut out = Vec::new();
    let mut at = rng.range(gap_lo, gap_hi);
    while at < run_ms && !targets.is_empty() {
        let free: Vec<usize> = (0..targets.len())
            .filter(|&i| stopped_until[i] <= at)
            .collect();
        if !free.is_empty() {
            let i = free[rng.range(0, free.len() as u64 - 1) as usize];
            let action = match rng.range(0, 99) {
                0..=24 => Action::Kill,
                25..=39 => Action::Zombie {
                    reap_after_ms: rng.range(200, MAX_ZOMBIE_MS),
                },
                40..=74 => Action::Stop {
                    ms: rng.range(50, MAX_STOP_MS),
                },
                _ => Action::Usr1,
            };
            if let Action::Stop { ms } = action {
                stopped_until[i] = at + ms;
            }
            out.push(Event {
                at_ms: at,
                slot: targets[i],
                action,
            });
        }
        at += rng.range(gap_lo, gap_hi);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_names_one_schedule() {
        let a = schedule(42, 30_000, &[2, 3, 4, 5], false);
        assert_eq!(a, schedule(42, 30_000, &[2, 3, 4, 5], false));
        assert_ne!(a, schedule(43, 30_000, &[2, 3, 4, 5], false));
        assert!(a.len() > 40, "{}", a.len());
        assert!(schedule(42, 30_000, &[], false).is_empty());
    }

    #[test]
    fn stops_are_shorter_than_the_lease_allows_and_never_overlap_on_a_slot() {
        const { assert!(MAX_STOP_MS + crate::REFRESH_MS < crate::LEASE_MS) };
        let s = schedule(7, 60_000, &[1, 2], true);
        let mut busy_until = [0u64; 3];
        for e in &s {
            assert!(e.at_ms < 60_000 && [1, 2].contains(&e.slot));
            assert!(e.at_ms >= busy_until[e.slot], "{e:?} hits a stopped slot");
            if let Action::Stop { ms } = e.action {
                assert!((50..=MAX_STOP_MS).contains(&ms));
                busy_until[e.slot] = e.at_ms + ms;
            }
        }
        for kind in [0, 1, 2, 3] {
            assert!(s.iter().any(|e| matches!(
                (kind, e.action),
                (0, Action::Kill)
                    | (1, Action::Zombie { .. })
                    | (2, Action::Stop { .. })
                    | (3, Action::Usr1)
            )));
        }
    }
}
