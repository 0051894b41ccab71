//! The queue across processes: an instance's front waiter for another process's lock leaves a
//! ticket file beside it, named by its arrival time, at once with
//! [`Policy::fair`](crate::Policy::fair) and otherwise once it has waited
//! [`Policy::queue_after`](crate::Policy::queue_after); a queued waiter publishes only when no
//! older fresh ticket is left. Ticket holders also keep the path's queue flag
//! (`.<lock name>.queued.lkq`) up, so a waiter not queued yet lists the tickets only while
//! the flag says someone may be queued, and lets them go first.
//!
//! **Tickets order waiters; they never decide safety.** The lock file alone does. A ticket or
//! flag that is stale (its owner stopped refreshing it), missing, not a regular file or badly
//! named is ignored, so a crashed, stopped or hostile waiter delays the others by at most
//! [`TICKET_FRESH`] or until their own timeout, never forever. A newcomer's first attempt,
//! and other implementations, ignore tickets and may go first.
//!
//! One ticket per instance and path, owned by the instance's front waiter (only the front
//! contends): a ticket per thread could order two threads of one instance against the
//! instance's own queue, and each would wait for the other.

use crate::env::{Clock, Env, FileKind, FileMeta, Fs, Procs};
use crate::manager::{dir_of, LockManager};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A ticket file's name ends with this.
pub const TICKET_SUFFIX: &str = ".lkq";
/// A ticket whose mtime is further than this from now is ignored (its owner refreshes it at
/// least every [`TICKET_REFRESH`]).
pub const TICKET_FRESH: Duration = Duration::from_secs(1);
/// How often a waiter refreshes its ticket's mtime (it looks again at least every 50 ms).
pub const TICKET_REFRESH: Duration = Duration::from_millis(100);
/// A ticket not refreshed for this long (its owner refreshes it every [`TICKET_REFRESH`]) has
/// its owner checked, where the ticket says the owner lives in our pid namespace: a dead
/// owner's ticket is skipped and removed then, not [`TICKET_FRESH`] later.
pub const TICKET_QUIET: Duration = Duration::from_millis(200);
/// A regular ticket file this stale is litter a fair waiter removes when it sees it.
pub const TICKET_LITTER: Duration = Duration::from_secs(60);
/// How long a waiter of any policy waits for another process's lock before it queues (the
/// default of [`crate::Policy::queue_after`]).
pub const QUEUE_AFTER: Duration = Duration::from_millis(2);
/// The name of a lock's queue flag ends with this: `.<lock name>.queued.lkq`.
const FLAG_SUFFIX: &str = "queued.lkq";
/// Digits of the arrival time (unix milliseconds) in a ticket's name: names sort by arrival.
const STAMP_DIGITS: usize = 15;

/// This instance's place in the queue of one lock path.
#[derive(Debug)]
pub(crate) struct DiskTicket {
    pub(crate) path: PathBuf,
    /// When it was last written or refreshed (the instance's monotonic clock).
    refreshed: Duration,
}

/// The pid and token in a well-formed ticket's name (`.<lock>.<stamp>.<pid>-<token>.lkq`).
fn ticket_owner(name: &str) -> Option<(u32, u64)> {
    let owner = name.strip_suffix(TICKET_SUFFIX)?.rsplit('.').next()?;
    let (pid, token) = owner.split_once('-')?;
    Some((pid.parse().ok()?, u64::from_str_radix(token, 16).ok()?))
}

/// The high half of a ticket's token: a hash (FNV-1a) of its writer's host identity
/// (hostname and pid namespace, as in lock files), so a reader of the same pid namespace can
/// probe the pid in the name. 0 without an identity (nobody then probes).
pub fn namespace_tag(host: Option<&str>) -> u32 {
    let Some(host) = host else { return 0 };
    let hash = host.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    hash.max(1)
}

/// `.<lock name>.`: every ticket of `lock_path` starts with it.
fn prefix(lock_path: &Path) -> Option<String> {
    Some(format!(".{}.", lock_path.file_name()?.to_str()?))
}

/// The ticket of `lock_path` for an arrival at `stamp_ms` by `pid`, unique by `token`:
/// `.<lock name>.<stamp, 15 digits>.<pid>-<token>.lkq`.
pub(crate) fn ticket_path(
    lock_path: &Path,
    stamp_ms: i64,
    pid: u32,
    token: u64,
) -> Option<PathBuf> {
    let stamp = u64::try_from(stamp_ms).ok()?;
    let name = format!(
        "{}{stamp:0w$}.{pid}-{token:016x}{TICKET_SUFFIX}",
        prefix(lock_path)?,
        w = STAMP_DIGITS
    );
    Some(lock_path.with_file_name(name))
}

/// The queue flag of `lock_path`: a fresh regular file there says some waiter holds a ticket,
/// so that instances which queue only when starved look at the tickets (a listing) only then.
pub(crate) fn flag_path(lock_path: &Path) -> Option<PathBuf> {
    Some(lock_path.with_file_name(format!("{}{FLAG_SUFFIX}", prefix(lock_path)?)))
}

/// Whether `name` is the queue flag of some lock (for the sweep).
pub fn is_any_flag(name: &str) -> bool {
    name.strip_suffix(FLAG_SUFFIX)
        .and_then(|head| head.strip_suffix('.'))
        .is_some_and(|lock| lock.len() > 1 && lock.starts_with('.'))
}

/// Whether `name` is a well-formed ticket of the lock whose ticket prefix is `prefix`.
/// Anything else in the directory (other locks' tickets, temp files, hostile names) is not.
pub fn is_ticket(name: &str, prefix: &str) -> bool {
    let Some(rest) = name
        .strip_prefix(prefix)
        .and_then(|r| r.strip_suffix(TICKET_SUFFIX))
    else {
        return false;
    };
    let Some((stamp, owner)) = rest.split_once('.') else {
        return false;
    };
    let Some((pid, token)) = owner.split_once('-') else {
        return false;
    };
    stamp.len() == STAMP_DIGITS
        && stamp.bytes().all(|b| b.is_ascii_digit())
        && !pid.is_empty()
        && pid.bytes().all(|b| b.is_ascii_digit())
        && !token.is_empty()
        && token.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether `name` is a well-formed ticket of any lock (for the sweep).
pub fn is_any_ticket(name: &str) -> bool {
    let Some((head, _owner)) = name
        .strip_suffix(TICKET_SUFFIX)
        .and_then(|s| s.rsplit_once('.'))
    else {
        return false;
    };
    let Some((lock, _stamp)) = head.rsplit_once('.') else {
        return false;
    };
    lock.len() > 1 && lock.starts_with('.') && is_ticket(name, &format!("{lock}."))
}

/// Whether the entry `meta` of a ticket or flag counts at `now_ms` (wall clock): a regular
/// file refreshed within [`TICKET_FRESH`] (either way: another host's clock may run ahead).
fn is_fresh(meta: &FileMeta, now_ms: i64) -> bool {
    meta.kind == FileKind::Regular
        && Duration::from_millis(now_ms.abs_diff(meta.mtime_ms)) <= TICKET_FRESH
}

/// Whether the entry `meta` of a ticket is litter at `now_ms` (wall clock): a regular file
/// nobody has refreshed for [`TICKET_LITTER`], left by a waiter that crashed. Fair waiters and
/// the sweep remove such tickets; nothing else is ever removed as one.
pub(crate) fn is_litter(meta: &FileMeta, now_ms: i64) -> bool {
    let litter_ms = i64::try_from(TICKET_LITTER.as_millis()).unwrap_or(i64::MAX);
    meta.kind == FileKind::Regular && now_ms.saturating_sub(meta.mtime_ms) > litter_ms
}

impl<E: Env> LockManager<E> {
    /// Takes this instance's place at the back of `lock_path`'s queue. `None` if the ticket
    /// cannot be written (the waiter then waits as an unfair one would).
    pub(crate) fn join_queue(&self, lock_path: &Path) -> Option<DiskTicket> {
        let clock = self.inner.env.clock();
        let tag = u64::from(namespace_tag(self.inner.identity.host.as_deref()));
        let token = tag << 32 | (clock.random_u64() & 0xffff_ffff);
        let path = ticket_path(
            lock_path,
            clock.now_wall_ms(),
            self.inner.identity.pid,
            token,
        )?;
        self.inner.env.fs().create_new(&path, b"").ok()?;
        self.raise_flag(lock_path);
        Some(DiskTicket {
            path,
            refreshed: clock.now_mono(),
        })
    }

    /// Whether the owner of the quiet ticket `name` is known dead: its token's tag says it
    /// lives in our pid namespace and its pid is gone. Another namespace, a host-less writer
    /// or an older lockcore's ticket: nobody here can tell, so it counts until it is stale.
    fn ticket_owner_dead(&self, name: &str) -> bool {
        let ours = namespace_tag(self.inner.identity.host.as_deref());
        match ticket_owner(name) {
            Some((pid, token)) if ours != 0 && (token >> 32) as u32 == ours => {
                self.inner.env.procs().probe(pid) == crate::env::Liveness::Dead
            }
            _ => false,
        }
    }

    /// Writes (or refreshes) `lock_path`'s queue flag: waiters that do not queue yet look for
    /// older tickets while it is fresh.
    fn raise_flag(&self, lock_path: &Path) {
        if let Some(flag) = flag_path(lock_path) {
            self.keep_marker(&flag);
        }
    }

    /// Refreshes the empty regular file at `path` (a ticket, a flag), or writes it if it is
    /// gone. Anything else there (a hostile entry) is left alone: the touch finds it foreign
    /// and the exclusive create finds it present.
    fn keep_marker(&self, path: &Path) {
        let fs = self.inner.env.fs();
        if !fs.touch(path, Some(b"")).unwrap_or(true) {
            let _ = fs.create_new(path, b"");
        }
    }

    /// Whether `lock_path`'s queue flag is a fresh regular file: someone may be queued.
    fn queue_flagged(&self, lock_path: &Path) -> bool {
        let env = &self.inner.env;
        let Some(meta) = flag_path(lock_path).and_then(|f| env.fs().metadata(&f).ok()) else {
            return false;
        };
        is_fresh(&meta, env.clock().now_wall_ms())
    }

    /// Keeps `ticket` fresh: refreshes its mtime once [`TICKET_REFRESH`] has passed, and
    /// writes it again, at the same place, if someone removed it.
    pub(crate) fn refresh_ticket(&self, lock_path: &Path, ticket: &mut DiskTicket) {
        let env = &self.inner.env;
        let now = env.clock().now_mono();
        if now.saturating_sub(ticket.refreshed) < TICKET_REFRESH {
            return;
        }
        ticket.refreshed = now;
        self.keep_marker(&ticket.path);
        self.raise_flag(lock_path);
    }

    /// Leaves the queue (acquired, timed out or failed); the last to leave lowers the flag.
    /// A waiter whose last look at the queue saw a younger ticket (`behind`) is not the last:
    /// it leaves the flag to that waiter, without a second listing on its way to the lock.
    pub(crate) fn leave_disk_queue(
        &self,
        lock_path: &Path,
        ticket: Option<DiskTicket>,
        behind: bool,
    ) {
        let Some(t) = ticket else {
            return;
        };
        let _ = self.inner.env.fs().remove(&t.path);
        if !behind && self.ticket_ahead(lock_path, None).is_none() {
            self.lower_flag_unless_queued(lock_path);
        }
    }

    /// The older waiter a waiter not queued yet lets go first: the youngest fresh ticket, if
    /// the queue is flagged. A flag with no ticket left behind it (its last waiter crashed, or
    /// the lock is taken by an instance that never queued) is lowered. `down_at`: when this
    /// waiter last found the flag down; it looks again only after [`crate::wait::FLAG_RECHECK`].
    pub(crate) fn flagged_ticket(
        &self,
        lock_path: &Path,
        down_at: &mut Option<Duration>,
    ) -> Option<PathBuf> {
        let now = self.inner.env.clock().now_mono();
        if down_at.is_some_and(|at| now.saturating_sub(at) < crate::wait::FLAG_RECHECK) {
            return None;
        }
        if !self.queue_flagged(lock_path) {
            *down_at = Some(now);
            return None;
        }
        *down_at = None;
        let ahead = self.ticket_ahead(lock_path, None);
        if ahead.is_none() {
            self.lower_flag_unless_queued(lock_path);
        }
        ahead
    }

    /// Lowers `lock_path`'s queue flag, which a look found no ticket behind, then looks again
    /// and raises it if a ticket is there now: a waiter that wrote its ticket just after our
    /// look may have raised the flag just before we lowered it, and would not raise it again
    /// before its next refresh ([`TICKET_REFRESH`]) — meanwhile nobody would let it go first.
    fn lower_flag_unless_queued(&self, lock_path: &Path) {
        self.lower_flag(lock_path);
        if self.ticket_ahead(lock_path, None).is_some() {
            self.raise_flag(lock_path);
        }
    }

    /// Removes `lock_path`'s queue flag if it is a regular file (anything else of that name is
    /// not ours to remove).
    fn lower_flag(&self, lock_path: &Path) {
        let fs = self.inner.env.fs();
        if let Some(flag) = flag_path(lock_path) {
            if fs
                .metadata(&flag)
                .is_ok_and(|m| m.kind == FileKind::Regular)
            {
                let _ = fs.remove(&flag);
            }
        }
    }

    /// How many fresh regular tickets of `lock_path` a directory `listing` holds: the waiters
    /// queued for it across processes (for `inspect`).
    pub(crate) fn queued_in(&self, lock_path: &Path, listing: &[PathBuf]) -> usize {
        let env = &self.inner.env;
        let Some(prefix) = prefix(lock_path) else {
            return 0;
        };
        let now = env.clock().now_wall_ms();
        listing
            .iter()
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| is_ticket(n, &prefix))
            })
            .filter_map(|p| env.fs().metadata(p).ok())
            .filter(|m| is_fresh(m, now))
            .count()
    }

    /// The ticket just ahead of `own` in `lock_path`'s queue (the youngest fresh one older than
    /// it; any fresh one when `own` is `None`), to wait for. `None`: nobody is ahead, or the
    /// directory cannot be listed (fairness is best effort; the lock file decides). Looks at
    /// the candidates youngest first and stops at the first fresh one: one `stat` in the
    /// common case, however long the queue. Litter met on the way is removed, and so is a
    /// quiet ticket of a waiter of our pid namespace that died ([`TICKET_QUIET`]).
    pub(crate) fn ticket_ahead(&self, lock_path: &Path, own: Option<&Path>) -> Option<PathBuf> {
        self.queue_around(lock_path, own).0
    }

    /// [`Self::ticket_ahead`], and whether the listing held a well-named ticket younger than
    /// `own` (someone queued behind it; not checked for freshness: a hint for the flag only).
    pub(crate) fn queue_around(
        &self,
        lock_path: &Path,
        own: Option<&Path>,
    ) -> (Option<PathBuf>, bool) {
        let env = &self.inner.env;
        let Some(prefix) = prefix(lock_path) else {
            return (None, false);
        };
        let own_name = own.and_then(|p| p.file_name()).and_then(|n| n.to_str());
        let now = env.clock().now_wall_ms();
        let age = |mtime: i64| Duration::from_millis(now.abs_diff(mtime));
        let Ok(listing) = env.fs().list(&dir_of(lock_path)) else {
            return (None, false);
        };
        let mut behind = false;
        let mut candidates: Vec<PathBuf> = listing
            .into_iter()
            .filter(|path| {
                let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                    return false;
                };
                if !is_ticket(name, &prefix) {
                    return false;
                }
                match own_name {
                    Some(o) if name > o => {
                        behind = true;
                        false
                    }
                    Some(o) => name < o,
                    None => true,
                }
            })
            .collect();
        // Same directory, names sort by arrival: the youngest last.
        candidates.sort_unstable();
        while let Some(path) = candidates.pop() {
            let Ok(meta) = env.fs().metadata(&path) else {
                continue;
            };
            if is_litter(&meta, now) {
                let _ = env.fs().remove(&path);
                continue;
            }
            if !is_fresh(&meta, now) {
                continue;
            }
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if age(meta.mtime_ms) > TICKET_QUIET && self.ticket_owner_dead(name) {
                let _ = env.fs().remove(&path);
                continue;
            }
            return (Some(path), behind);
        }
        (None, behind)
    }
}

#[cfg(test)]
// Test scaffolding on the real file system: std's atomics and fs calls are fine here.
#[allow(clippy::disallowed_types, clippy::disallowed_methods)]
mod tests {
    use super::*;
    use crate::env::Clock;
    use crate::test_support::scratch_manager;

    fn mtime(p: &Path) -> std::time::SystemTime {
        std::fs::symlink_metadata(p)
            .and_then(|m| m.modified())
            .unwrap_or(std::time::UNIX_EPOCH)
    }

    fn age_to_epoch(p: &Path) {
        let f = std::fs::File::options().write(true).open(p);
        let _ = f.and_then(|f| f.set_modified(std::time::UNIX_EPOCH));
    }

    // P11 (order): a waiter waits for the youngest fresh ticket older than its own (the one
    // just ahead), and one without a ticket for the youngest of all; the same look says
    // whether a younger ticket is queued behind its own (then it is not the last to leave).
    #[test]
    #[allow(clippy::expect_used)]
    fn the_ticket_ahead_is_the_youngest_older_one() {
        let (_dir, lock, m) = scratch_manager();
        let now = m.inner.env.clock().now_wall_ms();
        let at = |stamp: i64| {
            let p = ticket_path(&lock, stamp, 9, 1).expect("a ticket path");
            std::fs::write(&p, b"").expect("plant a ticket");
            p
        };
        let (a, b, c) = (at(now - 30), at(now - 20), at(now - 10));
        let own = ticket_path(&lock, now, 9, 2).expect("a ticket path");
        let ahead = |own: Option<&Path>| m.ticket_ahead(&lock, own);
        assert_eq!(ahead(Some(&own)), Some(c.clone()));
        assert_eq!(ahead(Some(&b)), Some(a.clone()));
        assert_eq!(ahead(Some(&a)), None);
        assert_eq!(ahead(None), Some(c.clone()));
        // Whether anyone is queued behind: a younger well-named ticket in the same listing.
        let around = |own: Option<&Path>| m.queue_around(&lock, own);
        assert_eq!(around(Some(&own)), (Some(c.clone()), false));
        assert_eq!(around(Some(&b)), (Some(a.clone()), true));
        assert_eq!(around(Some(&a)), (None, true));
        assert_eq!(around(None), (Some(c), false));
    }

    // P11 (a live waiter keeps its place): a ticket is refreshed once TICKET_REFRESH has passed
    // (not before), written again at the same place if someone removed it, and removed when
    // its waiter leaves.
    #[test]
    #[allow(clippy::expect_used)]
    fn a_waiters_ticket_is_refreshed_rewritten_and_removed() {
        let (_dir, lock, m) = scratch_manager();
        let mut t = m.join_queue(&lock).expect("a ticket");
        let name = t.path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        assert!(is_ticket(name, ".s.jsonl.lock."), "{name}");
        age_to_epoch(&t.path);
        m.inner.env.clock().sleep(TICKET_REFRESH / 2);
        m.refresh_ticket(&lock, &mut t);
        assert_eq!(mtime(&t.path), std::time::UNIX_EPOCH, "refreshed too early");
        m.inner.env.clock().sleep(TICKET_REFRESH);
        m.refresh_ticket(&lock, &mut t);
        assert!(mtime(&t.path) > std::time::UNIX_EPOCH, "not refreshed");
        std::fs::remove_file(&t.path).expect("remove the ticket");
        m.inner.env.clock().sleep(TICKET_REFRESH);
        m.refresh_ticket(&lock, &mut t);
        assert!(
            t.path.exists(),
            "a removed ticket is written again, at its place"
        );
        let path = t.path.clone();
        m.leave_disk_queue(&lock, Some(t), false);
        assert!(!path.exists(), "leaving removes the ticket");
    }

    const P: &str = ".s.jsonl.lock.";

    // P16 (nothing read from disk is trusted): only a name of the exact shape is a ticket of
    // this lock; other locks' tickets, temp files and near misses are not.
    #[test]
    fn only_well_formed_names_of_this_lock_are_tickets() {
        assert!(is_ticket(".s.jsonl.lock.001764000000000.42-00ff.lkq", P));
        assert!(is_any_ticket(".s.jsonl.lock.001764000000000.42-00ff.lkq"));
        assert!(is_any_ticket(".a.b.lock.001764000000000.42-00ff.lkq"));
        assert!(!is_any_ticket("..001764000000000.42-00ff.lkq"));
        assert!(!is_any_ticket(".s.jsonl.lock.42-00ff.lkq"));
        for name in [
            ".t.jsonl.lock.001764000000000.42-00ff.lkq",
            ".s.jsonl.lock.01764000000000.42-00ff.lkq",
            ".s.jsonl.lock.0017640000000x0.42-00ff.lkq",
            ".s.jsonl.lock.001764000000000.-00ff.lkq",
            ".s.jsonl.lock.001764000000000.42-.lkq",
            ".s.jsonl.lock.001764000000000.42-zz.lkq",
            ".s.jsonl.lock.001764000000000.42.lkq",
            ".s.jsonl.lock.001764000000000.42-00ff.lktmp",
            ".s.jsonl.lock.42-00ff.lkq",
            "s.jsonl.lock",
            "",
        ] {
            assert!(!is_ticket(name, P), "{name:?}");
        }
    }

    // P11 (a starved waiter is noticed, cheaply): a waiter that found the flag down trusts that
    // for FLAG_RECHECK, then sees a raised flag and the ticket behind it; a flag with no ticket
    // left behind it is lowered.
    #[test]
    #[allow(clippy::expect_used)]
    fn a_waiter_rechecks_the_flag_after_flag_recheck_and_lowers_an_orphan() {
        let (_dir, lock, m) = scratch_manager();
        let mut down_at = None;
        assert_eq!(m.flagged_ticket(&lock, &mut down_at), None);
        assert_eq!(down_at, Some(Duration::ZERO));
        let now = m.inner.env.clock().now_wall_ms();
        let ticket = ticket_path(&lock, now, 9, 1).expect("a ticket path");
        std::fs::write(&ticket, b"").expect("plant a ticket");
        let flag = flag_path(&lock).expect("a flag path");
        std::fs::write(&flag, b"").expect("raise the flag");
        assert_eq!(
            m.flagged_ticket(&lock, &mut down_at),
            None,
            "trusted for a while"
        );
        m.inner
            .env
            .clock()
            .sleep(crate::wait::FLAG_RECHECK.max(Duration::from_millis(1)));
        let ahead = m.flagged_ticket(&lock, &mut down_at);
        assert_eq!(ahead, Some(ticket.clone()));
        assert_eq!(down_at, None);
        std::fs::remove_file(&ticket).expect("the ticket goes");
        assert_eq!(m.flagged_ticket(&lock, &mut down_at), None);
        assert!(!flag.exists(), "an orphaned flag is lowered");
    }

    // P11 (a dead waiter's ticket can be told): the ticket this instance writes carries its
    // namespace tag in the token's high half whatever the random low half is, and its pid.
    #[test]
    #[allow(clippy::expect_used)]
    fn our_tickets_carry_our_namespace_tag_and_pid() {
        let dir = tempfile::tempdir().expect("a scratch directory");
        let lock = dir.path().join("s.jsonl.lock");
        for random in [0, 7, u64::MAX] {
            let env = crate::env::EnvParts {
                fs: crate::os::OsFs,
                procs: crate::os::OsProcs::current(),
                clock: crate::env::FixedRandom(random),
            };
            let m = LockManager::new(env, crate::Policy::default());
            let t = m.join_queue(&lock).expect("a ticket");
            let name = t.path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let (pid, token) = ticket_owner(name).expect("a well-formed ticket");
            assert_eq!(pid, m.inner.identity.pid, "{name}");
            let ours = namespace_tag(m.inner.identity.host.as_deref());
            assert_eq!((token >> 32) as u32, ours, "{name}");
            m.leave_disk_queue(&lock, Some(t), false);
        }
    }

    /// FNV-1a, 32 bits, written out from its definition (offset basis, prime) as the oracle.
    fn fnv1a(bytes: &[u8]) -> u32 {
        let mut h: u32 = 2_166_136_261;
        for &b in bytes {
            h ^= u32::from(b);
            h = h.wrapping_mul(16_777_619);
        }
        h
    }

    // P16: the pid and token of a well-formed ticket's name, and nothing from a name without
    // them; the namespace tag is never 0 for a host (0 means none).
    #[test]
    fn a_tickets_owner_comes_from_its_name() {
        let owner = |n: &str| ticket_owner(n);
        assert_eq!(
            owner(".s.jsonl.lock.001764000000000.42-00ff.lkq"),
            Some((42, 0xff))
        );
        assert_eq!(owner(".s.jsonl.lock.001764000000000.x-00ff.lkq"), None);
        assert_eq!(
            owner(".s.jsonl.lock.001764000000000.99999999999-00ff.lkq"),
            None
        );
        assert_eq!(owner(".s.jsonl.lock.001764000000000.42-zz.lkq"), None);
        assert_eq!(owner(".s.jsonl.lock.queued.lkq"), None);
        assert_eq!(namespace_tag(None), 0);
        assert_ne!(namespace_tag(Some("")), 0);
        assert_ne!(namespace_tag(Some("a")), namespace_tag(Some("b")));
        // Part of the on-disk format: every lockcore version must compute the same tag (FNV-1a).
        assert_eq!(namespace_tag(Some("a")), 0xe40c_292c);
        assert_eq!(
            namespace_tag(Some("vm/pid:[4026531836]")),
            fnv1a(b"vm/pid:[4026531836]")
        );
    }

    // P16 (nothing read from disk is trusted): only `.<lock name>.queued.lkq` is a queue flag;
    // tickets, other suffixes and names with no lock name are not, and a flag is no ticket.
    #[test]
    fn only_well_formed_names_are_queue_flags() {
        let flag = flag_path(Path::new("/d/s.jsonl.lock")).unwrap_or_default();
        assert_eq!(flag, Path::new("/d/.s.jsonl.lock.queued.lkq"));
        assert!(is_any_flag(".s.jsonl.lock.queued.lkq"));
        assert!(!is_ticket(".s.jsonl.lock.queued.lkq", P));
        assert!(!is_any_ticket(".s.jsonl.lock.queued.lkq"));
        for name in [
            ".s.jsonl.lock.001764000000000.42-00ff.lkq",
            "s.jsonl.lock.queued.lkq",
            ".s.jsonl.lock.queued.lktmp",
            ".s.jsonl.lockqueued.lkq",
            "..queued.lkq",
            ".queued.lkq",
            "queued.lkq",
            "",
        ] {
            assert!(!is_any_flag(name), "{name:?}");
        }
    }

    // P11 (order): ticket names sort by arrival time, whatever the pid and token; a negative
    // clock reading makes no ticket.
    #[test]
    fn ticket_names_sort_by_arrival() {
        let lock = Path::new("/d/s.jsonl.lock");
        let early = ticket_path(lock, 999, 4_000_000, u64::MAX).unwrap_or_default();
        let late = ticket_path(lock, 1_000, 1, 0).unwrap_or_default();
        assert!(early < late, "{early:?} {late:?}");
        let name = late.file_name().and_then(|n| n.to_str()).unwrap_or("");
        assert!(is_ticket(name, P), "{name}");
        assert_eq!(ticket_path(lock, -1, 1, 0), None);
    }
}
