//! The simulated file system's `Fs` implementation: each operation one atomic, traced step.

use super::*;

impl Fs for SimFs {
    type DirLock = SimDirLock;

    fn create_new(&self, path: &Path, contents: &[u8]) -> io::Result<()> {
        let path = &self.world.resolve_parent(path);
        self.step(SimOp::Create, path, |fs, now, fault| {
            // O_CREAT|O_EXCL: anything at the path, a dangling symlink included, is "exists".
            if fs.occupied(path) {
                return err_desc(Err(exists_err()));
            }
            let ino = fs.next_ino;
            fs.next_ino += 1;
            let short = fault == Some(FaultKind::ShortWrite);
            let bytes = if short {
                contents[..contents.len() / 2].to_vec()
            } else {
                contents.to_vec()
            };
            fs.files.insert(
                path.to_path_buf(),
                SimFile {
                    bytes,
                    ino,
                    mtime_ms: now,
                },
            );
            if short {
                return err_desc(Err(FaultKind::ShortWrite.error()));
            }
            (
                Ok(()),
                format!("ok {}", crate::trace::describe_bytes(contents)),
            )
        })
    }

    fn write_existing(&self, path: &Path, contents: &[u8]) -> io::Result<()> {
        let path = &self.world.resolve_parent(path);
        self.step(SimOp::Write, path, |fs, now, fault| {
            // O_NOFOLLOW|O_NONBLOCK: a link or a special file fails at once.
            if let Some(node) = fs.others.get(path) {
                return err_desc(Err(open_error(node.kind)));
            }
            let Some(file) = fs.files.get_mut(path) else {
                return err_desc(Err(missing_err()));
            };
            let short = fault == Some(FaultKind::ShortWrite);
            file.bytes = if short {
                contents[..contents.len() / 2].to_vec()
            } else {
                contents.to_vec()
            };
            file.mtime_ms = now;
            if short {
                return err_desc(Err(FaultKind::ShortWrite.error()));
            }
            (
                Ok(()),
                format!("ok {}", crate::trace::describe_bytes(contents)),
            )
        })
    }

    fn link(&self, src: &Path, dst: &Path) -> io::Result<()> {
        let (src, dst) = (
            &self.world.resolve_parent(src),
            &self.world.resolve_parent(dst),
        );
        self.step(SimOp::Link, dst, |fs, _, _| {
            let Some(file) = fs.files.get(src).cloned() else {
                return err_desc(Err(missing_err()));
            };
            if fs.occupied(dst) {
                return err_desc(Err(exists_err()));
            }
            let desc = format!("ok {}", crate::trace::describe_bytes(&file.bytes));
            fs.files.insert(dst.to_path_buf(), file);
            (Ok(()), desc)
        })
    }

    fn rename(&self, src: &Path, dst: &Path) -> io::Result<()> {
        let (src, dst) = (
            &self.world.resolve_parent(src),
            &self.world.resolve_parent(dst),
        );
        self.step(SimOp::Rename, dst, |fs, _, _| {
            if fs
                .others
                .get(dst)
                .is_some_and(|n| n.kind == FileKind::Directory)
            {
                return err_desc(Err(eisdir()));
            }
            let Some(file) = fs.files.remove(src) else {
                return err_desc(Err(missing_err()));
            };
            fs.fire(src);
            fs.fire(dst);
            // rename(2) replaces the entry at dst itself (a link is replaced, not followed).
            let replaced_node = fs.others.remove(dst).is_some();
            let replaced =
                fs.files.insert(dst.to_path_buf(), file.clone()).is_some() || replaced_node;
            let desc = format!(
                "ok {}{}",
                crate::trace::describe_bytes(&file.bytes),
                if replaced {
                    " (replaced an existing file)"
                } else {
                    ""
                }
            );
            (Ok(()), desc)
        })
    }

    fn read(&self, path: &Path, cap: usize) -> io::Result<Vec<u8>> {
        let path = &self.world.resolve_parent(path);
        self.step(SimOp::Read, path, |fs, _, _| match fs.files.get(path) {
            None if fs.others.contains_key(path) => {
                let kind = fs.others.get(path).map_or(FileKind::Other, |n| n.kind);
                err_desc(Err(lockcore::env::not_regular(path, kind)))
            }
            Some(f) => {
                let n = f.bytes.len().min(cap.saturating_add(1));
                let bytes = f.bytes[..n].to_vec();
                let desc = crate::trace::describe_bytes(&bytes);
                (Ok(bytes), desc)
            }
            None => err_desc(Err(missing_err())),
        })
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let path = &self.world.resolve_parent(path);
        let by = (self.host.clone(), self.pid);
        self.step(SimOp::Remove, path, |fs, _, _| {
            if let Some(node) = fs.others.get(path).cloned() {
                let removed = fs.unlink_node(path, node, by);
                if removed.0.is_ok() {
                    fs.fire(path);
                }
                return removed;
            }
            match fs.files.remove(path) {
                Some(f) => {
                    fs.fire(path);
                    (
                        Ok(()),
                        format!("ok (was {})", crate::trace::describe_bytes(&f.bytes)),
                    )
                }
                None => err_desc(Err(missing_err())),
            }
        })
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        let dir = &self.world.resolve_dir(dir)?;
        self.step(SimOp::List, dir, |fs, _, _| {
            let mut names: Vec<PathBuf> = fs
                .files
                .keys()
                .chain(fs.others.keys())
                .filter(|p| parent_of(p) == *dir)
                .cloned()
                .collect();
            names.sort();
            let desc = format!("{} entries", names.len());
            (Ok(names), desc)
        })
    }

    fn metadata(&self, path: &Path) -> io::Result<FileMeta> {
        let path = &self.world.resolve_parent(path);
        self.step(SimOp::Metadata, path, |fs, _, _| match fs.files.get(path) {
            // lstat: the entry itself, a link never followed.
            None if fs.others.contains_key(path) => match fs.others.get(path) {
                Some(n) => {
                    let meta = FileMeta {
                        id: FileId { dev: 0, ino: n.ino },
                        kind: n.kind,
                        len: n.len(),
                        mtime_ms: n.mtime_ms,
                    };
                    (Ok(meta), format!("{} ino {}", n.describe(), n.ino))
                }
                None => err_desc(Err(missing_err())),
            },
            Some(f) => {
                let meta = FileMeta {
                    id: FileId { dev: 0, ino: f.ino },
                    kind: FileKind::Regular,
                    len: f.bytes.len() as u64,
                    mtime_ms: f.mtime_ms,
                };
                (Ok(meta), format!("ino {} len {}", f.ino, f.bytes.len()))
            }
            None => err_desc(Err(missing_err())),
        })
    }

    fn touch(&self, path: &Path, expect: Option<&[u8]>) -> io::Result<bool> {
        self.step(SimOp::Touch, path, |fs, now, _| {
            match fs.files.get_mut(path) {
                Some(f) if expect.is_none_or(|e| f.bytes == e) => {
                    f.mtime_ms = now;
                    (
                        Ok(true),
                        format!("ok {}", crate::trace::describe_bytes(&f.bytes)),
                    )
                }
                Some(f) => (
                    Ok(false),
                    format!("not ours ({})", crate::trace::describe_bytes(&f.bytes)),
                ),
                None => (Ok(false), "gone".to_string()),
            }
        })
    }

    fn canonical_dir(&self, dir: &Path) -> io::Result<PathBuf> {
        // Aliases are fixed at setup and live behind the untracked mutex: not a scheduling
        // point, so loom explores exactly the interleavings it did before aliases existed.
        self.world.resolve_dir(dir)
    }

    fn wait_for_change(
        &self,
        wait: &WaitFor<'_>,
        still_blocked: &mut dyn FnMut(bool) -> bool,
    ) -> Option<Wake> {
        self.wait_watched(wait, still_blocked)
    }

    fn wait_mechanism(&self, _clock: &dyn Clock) -> WaitMechanism {
        if self.world.waits().watch {
            WaitMechanism::InotifyPidfd
        } else {
            WaitMechanism::Backoff
        }
    }

    fn lock_dir(&self, dir: &Path) -> io::Result<SimDirLock> {
        let dir = &self.world.resolve_dir(dir)?;
        let actor = self.actor();
        for _ in 0..DIR_LOCK_ATTEMPTS {
            let taken = self.step(SimOp::LockDir, dir, |fs, _, _| {
                if let Some(holder) = fs.dir_locks.get(dir) {
                    return (Ok(false), format!("busy (held by {holder})"));
                }
                fs.dir_locks.insert(dir.to_path_buf(), actor.clone());
                (Ok(true), "ok".to_string())
            })?;
            if taken {
                return Ok(SimDirLock {
                    world: self.world.clone(),
                    dir: dir.to_path_buf(),
                    actor,
                });
            }
            // Blocked on another holder: let the scheduler run it (a model-checked retry loop
            // must yield).
            sync::thread::yield_now();
        }
        // The model's DIR_LOCK_TIMEOUT: a holder that never lets go is a wait that never ends,
        // named here after a bounded number of steps instead of spinning until a step timeout.
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "liveness (P11): the directory lock on {} was not released within {DIR_LOCK_ATTEMPTS} attempts",
                dir.display()
            ),
        ))
    }
}
