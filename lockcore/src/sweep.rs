//! Directory sweeps: `inspect` reports every `*.lock` file with its verdict, `clean_stale`
//! removes the stale ones (and orphaned publish temp files) the same way a reclaim does.

use crate::classify::Verdict;
use crate::env::{Clock, Env, Fs};
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
    /// The verdict.
    pub verdict: Verdict,
}

/// What `clean_stale` did.
#[derive(Clone, Debug, Default)]
pub struct CleanReport {
    /// Stale lock files removed (or, in a dry run, that would be).
    pub removed: Vec<LockInfo>,
    /// Every lock file seen, stale or live.
    pub seen: Vec<LockInfo>,
    /// Orphaned publish temp files removed (or that would be).
    pub temp_files: Vec<PathBuf>,
}

fn is_lock_file(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".lock") && !n.starts_with('.'))
}

fn is_temp_file(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.') && n.ends_with(".lktmp"))
}

impl<E: Env> LockManager<E> {
    /// Every `*.lock` file in `dir` with its verdict, sorted by path.
    pub fn inspect(&self, dir: &Path) -> Result<Vec<LockInfo>, LockError> {
        let fs = self.inner.env.fs();
        let mut paths = fs
            .list(dir)
            .map_err(|e| LockError::io(FsOp::List, dir, e))?;
        paths.retain(|p| is_lock_file(p));
        paths.sort();
        let mut out = Vec::with_capacity(paths.len());
        for path in paths {
            let Some(seen) = self.observe(&path)? else {
                continue;
            };
            let verdict = {
                let st = sync::lock(&self.inner.state);
                self.judge(&st, &path, &seen)
            };
            let now_ms = self.inner.env.clock().now_wall_ms();
            let age_ms = match &seen.parsed {
                Ok(p) if p.created_at_ms <= now_ms => now_ms - p.created_at_ms,
                _ => now_ms - seen.meta.mtime_ms,
            };
            out.push(LockInfo {
                path,
                payload: seen.parsed,
                age_ms,
                verdict,
            });
        }
        Ok(out)
    }

    /// Removes every stale lock file in `dir` (re-checked under the reclaim lock, so a file
    /// that changed since it was judged is left alone) and publish temp files older than the
    /// malformed grace. With `dry_run`, only reports.
    pub fn clean_stale(&self, dir: &Path, dry_run: bool) -> Result<CleanReport, LockError> {
        let mut report = CleanReport::default();
        for info in self.inspect(dir)? {
            if info.verdict.is_stale() {
                let removed = dry_run || {
                    // Hold the registry lock like a reclaiming acquirer, so our own holds cannot
                    // change between the judgement and the removal.
                    let st = sync::lock(&self.inner.state);
                    match self.observe(&info.path)? {
                        Some(seen) if self.judge(&st, &info.path, &seen).is_stale() => {
                            self.remove_if_unchanged(&info.path, &seen)?
                        }
                        _ => false,
                    }
                };
                if removed {
                    report.removed.push(info.clone());
                }
            }
            report.seen.push(info);
        }
        let fs = self.inner.env.fs();
        let now_ms = self.inner.env.clock().now_wall_ms();
        let grace_ms =
            i64::try_from(self.inner.policy.malformed_grace.as_millis()).unwrap_or(i64::MAX);
        let mut temps = fs
            .list(dir)
            .map_err(|e| LockError::io(FsOp::List, dir, e))?;
        temps.retain(|p| is_temp_file(p));
        temps.sort();
        for tmp in temps {
            let Ok(meta) = fs.metadata(&tmp) else {
                continue;
            };
            if now_ms - meta.mtime_ms > grace_ms {
                if !dry_run {
                    match fs.remove(&tmp) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                        Err(e) => return Err(LockError::io(FsOp::Remove, &tmp, e)),
                    }
                }
                report.temp_files.push(tmp);
            }
        }
        Ok(report)
    }
}
