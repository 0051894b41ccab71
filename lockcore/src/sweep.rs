//! Directory sweeps: `inspect` reports every `*.lock` file with its verdict, `clean_stale`
//! removes the stale ones (and orphaned publish temp files) the same way a reclaim does.

use crate::classify::Verdict;
use crate::env::{Clock, Env, FileKind, FileMeta, Fs, Liveness, Procs};
use crate::error::{FsOp, LockError};
use crate::manager::LockManager;
use crate::payload::{Malformed, Payload};
use crate::sync;
use std::path::{Path, PathBuf};

/// One lock file as the sweep saw it.
#[derive(Clone, Debug)]
pub struct LockInfo {
    /// The lock file.
    pub path: PathBuf,
    /// Its payload, or why it did not parse.
    pub payload: Result<Payload, Malformed>,
    /// Its age in ms: from `createdAt` (mtime for malformed files or a future `createdAt`).
    pub age_ms: i64,
    /// How long ago its mtime was set, in ms: for a lease-bearing file, the time since its
    /// holder's last refresh (DESIGN §4a).
    pub mtime_age_ms: i64,
    /// The verdict.
    pub verdict: Verdict,
    /// What `lstat` said of it when it was judged (identity, kind, size, mtime).
    pub meta: FileMeta,
    /// Waiters queued for it across processes: its fresh tickets (`queue.rs`), 0 when nobody
    /// queues.
    pub queued: usize,
}

/// Everything a directory sweep saw.
#[derive(Debug, Default)]
pub struct Inspection {
    /// Every readable lock file with its verdict, sorted by path.
    pub locks: Vec<LockInfo>,
    /// Entries named like lock files that could not be read (e.g. a directory named `x.lock`),
    /// with the error; the sweep goes on past them.
    pub unreadable: Vec<(PathBuf, LockError)>,
}

/// How [`LockManager::clean`] sweeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CleanOptions {
    /// Only report what would be removed.
    pub dry_run: bool,
    /// Also remove what is not a regular file at a lock path (a FIFO, socket, device or
    /// symlink — the link itself, never its target). A directory is never removed.
    pub remove_non_regular: bool,
}

/// What `clean_stale` did.
#[derive(Clone, Debug, Default)]
pub struct CleanReport {
    /// Stale lock files removed (or, in a dry run, that would be).
    pub removed: Vec<LockInfo>,
    /// Every lock file seen, stale or live.
    pub seen: Vec<LockInfo>,
    /// Orphaned publish temp files and queue tickets (`.lkq`, [`crate::Policy::fair`]) removed
    /// (or that would be).
    pub temp_files: Vec<PathBuf>,
    /// Entries that could not be read or removed, with the error's text; the sweep went on.
    pub unreadable: Vec<(PathBuf, String)>,
}

fn name_bytes(path: &Path) -> &[u8] {
    use std::os::unix::ffi::OsStrExt;
    path.file_name().map(|n| n.as_bytes()).unwrap_or_default()
}

/// `<anything>.lock`, including dot-named sessions and names that are not UTF-8.
fn is_lock_file(path: &Path) -> bool {
    let n = name_bytes(path);
    n.len() > ".lock".len() && n.ends_with(b".lock")
}

/// A publish temp file, `.<lock name>.<pid>-<token>.lktmp`: `Some(publisher pid if readable)`.
fn temp_file_pid(path: &Path) -> Option<Option<u32>> {
    let n = std::str::from_utf8(name_bytes(path)).ok()?;
    let stem = n.strip_prefix('.')?.strip_suffix(".lktmp")?;
    let (_, pid_token) = stem.rsplit_once('.')?;
    Some(
        pid_token
            .split_once('-')
            .and_then(|(pid, _)| pid.parse().ok()),
    )
}

impl<E: Env> LockManager<E> {
    /// Every readable `*.lock` file in `dir` with its verdict, sorted by path. Entries that
    /// cannot be read are left out; [`LockManager::inspect_all`] reports them too.
    pub fn inspect(&self, dir: &Path) -> Result<Vec<LockInfo>, LockError> {
        self.inspect_all(dir).map(|i| i.locks)
    }

    /// Every `*.lock` entry in `dir`: the readable ones with their verdicts, the unreadable ones
    /// with their errors. Fails only if the directory itself cannot be listed.
    pub fn inspect_all(&self, dir: &Path) -> Result<Inspection, LockError> {
        Ok(self.inspect_listed(&self.list_dir(dir)?))
    }

    /// The entries of `dir`, listed once per sweep: the lock files, the temp files and the
    /// queue tickets are all picked from it.
    fn list_dir(&self, dir: &Path) -> Result<Vec<PathBuf>, LockError> {
        let fs = self.inner.env.fs();
        fs.list(dir).map_err(|e| LockError::io(FsOp::List, dir, e))
    }

    /// [`LockManager::inspect_all`] over the entries of one listing.
    fn inspect_listed(&self, listing: &[PathBuf]) -> Inspection {
        let mut paths: Vec<PathBuf> = listing
            .iter()
            .filter(|p| is_lock_file(p))
            .cloned()
            .collect();
        paths.sort();
        let mut out = Inspection::default();
        for path in paths {
            let seen = match self.observe(&path) {
                Ok(Some(seen)) => seen,
                Ok(None) => continue,
                Err(e) => {
                    out.unreadable.push((path, e));
                    continue;
                }
            };
            let (verdict, _) = self.judge(&path, &seen);
            let now_ms = self.inner.env.clock().now_wall_ms();
            let age_ms = match &seen.parsed {
                Ok(p) if p.created_at_ms <= now_ms => now_ms - p.created_at_ms,
                _ => now_ms - seen.meta.mtime_ms,
            };
            out.locks.push(LockInfo {
                meta: seen.meta,
                queued: self.queued_in(&path, listing),
                path,
                payload: seen.parsed,
                age_ms,
                mtime_age_ms: now_ms - seen.meta.mtime_ms,
                verdict,
            });
        }
        out
    }

    /// Removes every stale lock file in `dir` (re-checked under the reclaim lock, so a file
    /// that changed since it was judged is left alone) and orphaned publish temp files: those
    /// of this process or of a dead pid, and any older than `stale_after`. With `dry_run`, only
    /// reports. An entry that cannot be read or removed is reported and the sweep goes on.
    pub fn clean_stale(&self, dir: &Path, dry_run: bool) -> Result<CleanReport, LockError> {
        self.clean(
            dir,
            CleanOptions {
                dry_run,
                remove_non_regular: false,
            },
        )
    }

    /// [`LockManager::clean_stale`] with options.
    pub fn clean(&self, dir: &Path, opts: CleanOptions) -> Result<CleanReport, LockError> {
        let dry_run = opts.dry_run;
        let mut report = CleanReport::default();
        let listing = self.list_dir(dir)?;
        let inspection = self.inspect_listed(&listing);
        for (path, e) in inspection.unreadable {
            report.unreadable.push((path, e.to_string()));
        }
        for info in inspection.locks {
            if let Err(Malformed::NotRegular(kind)) = info.payload {
                if opts.remove_non_regular {
                    match self.remove_non_regular(&info, kind, dry_run) {
                        Ok(true) => report.removed.push(info.clone()),
                        Ok(false) => {}
                        Err(e) => report.unreadable.push((info.path.clone(), e)),
                    }
                }
            } else if info.verdict.is_stale() {
                let removed = dry_run || {
                    // Judged again like a reclaiming acquirer (the registry lock is not held
                    // across the I/O): a file of ours counts as held while its acquisition,
                    // hold or release lasts, and the removal re-checks the very bytes judged.
                    let outcome = match self.observe(&info.path) {
                        Ok(Some(seen)) if self.judge(&info.path, &seen).0.is_stale() => {
                            self.remove_if_unchanged(&info.path, &seen)
                        }
                        Ok(_) => Ok(false),
                        Err(e) => Err(e),
                    };
                    outcome.unwrap_or_else(|e| {
                        report.unreadable.push((info.path.clone(), e.to_string()));
                        false
                    })
                };
                if removed {
                    report.removed.push(info.clone());
                }
            }
            report.seen.push(info);
        }
        self.clean_temps(&listing, dry_run, &mut report);
        self.clean_tickets(&listing, dry_run, &mut report);
        Ok(report)
    }

    /// Removes (or, dry, reports) the queue tickets and queue flags of the sweep's `listing`
    /// that nobody has refreshed for [`TICKET_LITTER`](crate::queue::TICKET_LITTER): left by a
    /// waiter that crashed. Only regular files with a ticket's or a flag's exact name.
    fn clean_tickets(&self, listing: &[PathBuf], dry_run: bool, report: &mut CleanReport) {
        let fs = self.inner.env.fs();
        let now_ms = self.inner.env.clock().now_wall_ms();
        let mut tickets: Vec<PathBuf> = listing
            .iter()
            .filter(|p| {
                std::str::from_utf8(name_bytes(p))
                    .is_ok_and(|n| crate::queue::is_any_ticket(n) || crate::queue::is_any_flag(n))
            })
            .cloned()
            .collect();
        tickets.sort();
        for ticket in tickets {
            let old = match fs.metadata(&ticket) {
                Ok(m) => crate::queue::is_litter(&m, now_ms),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
                Err(e) => {
                    let msg = LockError::io(FsOp::Metadata, &ticket, e).to_string();
                    report.unreadable.push((ticket, msg));
                    continue;
                }
            };
            if old {
                self.remove_litter(ticket, dry_run, report);
            }
        }
    }

    /// Removes `path`, a temp file or ticket judged litter (unless `dry_run`), and reports it;
    /// one that is already gone is not reported, and a failure is reported as unreadable.
    fn remove_litter(&self, path: PathBuf, dry_run: bool, report: &mut CleanReport) {
        if !dry_run {
            match self.inner.env.fs().remove(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
                Err(e) => {
                    let msg = LockError::io(FsOp::Remove, &path, e).to_string();
                    report.unreadable.push((path, msg));
                    return;
                }
            }
        }
        report.temp_files.push(path);
    }

    /// Removes (or, dry, reports) the orphaned publish temp files of the sweep's `listing`:
    /// those of this process or of a dead pid, and any older than `stale_after`.
    fn clean_temps(&self, listing: &[PathBuf], dry_run: bool, report: &mut CleanReport) {
        let fs = self.inner.env.fs();
        let procs = self.inner.env.procs();
        let now_ms = self.inner.env.clock().now_wall_ms();
        let stale_ms = i64::try_from(self.inner.policy.stale_after.as_millis()).unwrap_or(i64::MAX);
        let mut temps: Vec<(PathBuf, Option<u32>)> = listing
            .iter()
            .filter_map(|p| temp_file_pid(p).map(|pid| (p.clone(), pid)))
            .collect();
        // A temp file with our pid is litter unless an acquisition of ours is publishing it
        // right now (a token is new at each claim: one that is not in progress after the
        // listing never will be).
        let publishing = sync::lock(&self.inner.state).temps_in_progress(self.inner.identity.pid);
        let names: Vec<_> = publishing.iter().filter_map(|p| p.file_name()).collect();
        temps.retain(|(p, _)| p.file_name().is_none_or(|n| !names.contains(&n)));
        temps.sort();
        for (tmp, pid) in temps {
            let meta = match fs.metadata(&tmp) {
                Ok(meta) => meta,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    // Not judged is not clean: say so, the caller exits non-zero (P12).
                    let msg = LockError::io(FsOp::Metadata, &tmp, e).to_string();
                    report.unreadable.push((tmp, msg));
                    continue;
                }
            };
            // A live publisher's temp file exists for microseconds, and ours in progress were
            // left out above; only an old one of another live pid is litter.
            let orphaned = match pid {
                Some(pid) if pid == self.inner.identity.pid => true,
                Some(pid) => procs.probe(pid) == Liveness::Dead,
                None => false,
            };
            if orphaned || now_ms - meta.mtime_ms > stale_ms {
                self.remove_litter(tmp, dry_run, report);
            }
        }
    }

    /// Removes a non-regular entry at a lock path if it is still the very entry seen (same
    /// identity, under the reclaim lock). `unlink` removes a symlink itself, never its target;
    /// a directory is refused. `Err` carries the message the sweep reports.
    fn remove_non_regular(
        &self,
        seen: &LockInfo,
        kind: FileKind,
        dry_run: bool,
    ) -> Result<bool, String> {
        let path = seen.path.as_path();
        if kind == FileKind::Directory {
            return Err("a directory: lockcore never removes directories".to_string());
        }
        if dry_run {
            return Ok(true);
        }
        let fs = self.inner.env.fs();
        let dir = crate::manager::dir_of(path);
        let _dir_lock = fs
            .lock_dir(&dir)
            .map_err(|e| LockError::io(FsOp::LockDir, &dir, e).to_string())?;
        let Some(now) = self.observe(path).map_err(|e| e.to_string())? else {
            return Ok(false);
        };
        if now.parsed != Err(Malformed::NotRegular(kind))
            || now.meta.kind == FileKind::Directory
            || now.meta.id != seen.meta.id
        {
            return Ok(false);
        }
        match fs.remove(path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(LockError::io(FsOp::Remove, path, e).to_string()),
        }
    }
}
