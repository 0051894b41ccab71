//! The model's directory sweeps: `inspect`, `clean_stale` and `clean` with options.

use super::*;

impl Model {
    /// The age an `inspect` reports for each lock file in `dir`: from `createdAt`, or from the
    /// mtime for a malformed file or a `createdAt` in the future.
    pub fn ages(&self, dir: &Path) -> Vec<(PathBuf, i64)> {
        self.files
            .iter()
            .filter(|(p, _)| p.parent() == Some(dir) && is_lock_name(p))
            .map(|(p, f)| {
                let age = match &f.content {
                    Content::Payload(pl) if pl.created_at_ms <= self.now_ms => {
                        self.now_ms - pl.created_at_ms
                    }
                    _ => self.now_ms - f.mtime_ms,
                };
                (p.clone(), age)
            })
            .collect()
    }

    pub(super) fn inspect(&self, me: &ProcKey, dir: &Path) -> Option<Vec<(PathBuf, Verdict)>> {
        self.instance(me)?;
        let mut seen = Vec::new();
        for (path, file) in &self.files {
            if path.parent() == Some(dir) && is_lock_name(path) {
                seen.push((path.clone(), self.verdict(me, path, file)?));
            }
        }
        Some(seen)
    }

    /// `clean_stale`, or with `remove_non_regular` lockcore's `clean --remove-non-regular`:
    /// every non-regular entry at a lock path is removed too, except a directory (reported as
    /// refused, never removed — P16).
    pub(super) fn clean(
        &mut self,
        me: &ProcKey,
        dir: &Path,
        remove_non_regular: bool,
        verdicts: &mut Vec<Verdict>,
    ) -> Outcome {
        let Some(seen) = self.inspect(me, dir) else {
            return Outcome::NoInstance;
        };
        let (mut removed, mut non_regular, mut refused) = (Vec::new(), Vec::new(), Vec::new());
        for (path, v) in seen {
            verdicts.push(v);
            let kind = match self.files.get(&path).map(|f| &f.content) {
                Some(Content::NotRegular { kind, .. }) => Some(*kind),
                _ => None,
            };
            match kind {
                Some(FileKind::Directory) if remove_non_regular => refused.push(path),
                Some(kind) if remove_non_regular => {
                    self.delete(me, &path, Cause::NonRegular(kind));
                    non_regular.push(path);
                }
                // Kept: its verdict is live (not-regular).
                Some(_) => {}
                None => {
                    if let Verdict::Stale(r) = v {
                        self.delete(me, &path, Cause::Sweep(r));
                        removed.push((path, r));
                    }
                }
            }
        }
        // A temp file is litter when its publisher cannot be publishing any more: it is this
        // process (which is not publishing while it sweeps), or its pid is dead here (EPERM
        // counts as alive); any temp file older than stale_after is litter too. (A live
        // publisher's temp file must survive: removing it would break its publish.)
        let stale_after = ms(self.policy.stale_after);
        let temps: Vec<PathBuf> = self
            .files
            .iter()
            .filter(|(p, f)| {
                let Some(publisher) = temp_publisher(p).filter(|_| p.parent() == Some(dir)) else {
                    return false;
                };
                let orphaned = match publisher {
                    Some(pid) if pid == me.pid => true,
                    // The probe sees every process of our namespace, peers included.
                    Some(pid) => {
                        let key = ProcKey::new(&me.host, pid);
                        !self.procs.get(&key).is_some_and(|pr| pr.alive)
                            && self.live_peer_start(&key).is_none()
                    }
                    None => false,
                };
                orphaned || self.now_ms - f.mtime_ms > stale_after
            })
            .map(|(p, _)| p.clone())
            .collect();
        for t in &temps {
            self.delete(me, t, Cause::TempSweep);
        }
        Outcome::Cleaned {
            removed,
            temp_files: temps,
            non_regular,
            refused,
        }
    }
}
