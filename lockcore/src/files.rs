//! The file steps of the protocol, each checked against what the manager holds: publishing a
//! lock file (temp file + `link`), observing what sits at a lock path, and removing a file only
//! if it is still exactly the one judged stale or our own (under the directory's reclaim lock).

use crate::classify::mutant;
use crate::env::{Clock, Env, FileKind, FileMeta, Fs};
use crate::error::{FsOp, LockError};
use crate::manager::{dir_of, not_found, temp_path_for, LockManager, Released, Seen};
use crate::payload::{Malformed, Payload, MAX_PAYLOAD_BYTES};
use crate::sync;
use std::io;
use std::path::Path;

impl<E: Env> LockManager<E> {
    /// Publishes a complete lock file: write a private temp file, then `link` it to the lock path
    /// (atomic and exclusive: no contender ever sees an empty or partial payload). The temp file
    /// has no name where the file system allows ([`Fs::link_unnamed`]); else it is a named
    /// `.lktmp` file, and where hard links are unsupported, an exclusive create.
    /// `Ok(false)`: the lock path exists.
    pub(crate) fn publish(
        &self,
        lock_path: &Path,
        bytes: &[u8],
        token: &str,
    ) -> Result<bool, LockError> {
        let fs = self.inner.env.fs();
        let exclusive_create = |contents: &[u8]| match fs.create_new(lock_path, contents) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(LockError::io(FsOp::Create, lock_path, e)),
        };
        if mutant!(self.inner.policy, EmptyWindow) {
            if !exclusive_create(b"")? {
                return Ok(false);
            }
            sync::model_yield();
            return fs
                .write_existing(lock_path, bytes)
                .map(|()| true)
                .map_err(|e| LockError::io(FsOp::Create, lock_path, e));
        }
        match fs.link_unnamed(lock_path, bytes) {
            Some(Ok(())) => return Ok(true),
            Some(Err(e)) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(false),
            Some(Err(e)) => return Err(LockError::io(FsOp::Create, lock_path, e)),
            None => {}
        }
        let tmp = temp_path_for(lock_path, self.inner.identity.pid, token);
        let mut tries = 0;
        loop {
            tries += 1;
            fs.create_new(&tmp, bytes)
                .map_err(|e| LockError::io(FsOp::Create, &tmp, e))?;
            let linked = fs.link(&tmp, lock_path);
            // The temp file is ours alone; a failure to remove it leaves litter the sweep removes.
            let _ = fs.remove(&tmp);
            return match linked {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
                // Another host's sweep took our temp file between create and link: write it again.
                Err(e) if e.kind() == io::ErrorKind::NotFound && tries < 2 => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Unsupported | io::ErrorKind::PermissionDenied
                    ) =>
                {
                    exclusive_create(bytes)
                }
                Err(e) => Err(LockError::io(FsOp::Link, lock_path, e)),
            };
        }
    }

    /// Mutant `rename-takeover`: write a temp file and rename it over the lock.
    pub(crate) fn rename_over(
        &self,
        lock_path: &Path,
        bytes: &[u8],
        token: &str,
    ) -> Result<(), LockError> {
        let fs = self.inner.env.fs();
        let tmp = temp_path_for(lock_path, self.inner.identity.pid, token);
        fs.create_new(&tmp, bytes)
            .map_err(|e| LockError::io(FsOp::Create, &tmp, e))?;
        fs.rename(&tmp, lock_path)
            .map_err(|e| LockError::io(FsOp::Rename, lock_path, e))
    }

    /// Reads what sits at a contended lock path; `None` if it vanished meanwhile. Anything but
    /// a regular file is seen as [`Malformed::NotRegular`] and never opened (P16).
    pub(crate) fn observe(&self, lock_path: &Path) -> Result<Option<Seen>, LockError> {
        let fs = self.inner.env.fs();
        let mut meta = match fs.metadata(lock_path) {
            Ok(m) => m,
            Err(e) if not_found(&e) => return Ok(None),
            Err(e) => return Err(LockError::io(FsOp::Metadata, lock_path, e)),
        };
        let not_regular = |meta: FileMeta| Seen {
            meta,
            bytes: Vec::new(),
            parsed: Err(Malformed::NotRegular(meta.kind)),
        };
        if meta.kind != FileKind::Regular {
            return Ok(Some(not_regular(meta)));
        }
        let bytes = match fs.read(lock_path, MAX_PAYLOAD_BYTES) {
            Ok(b) => b,
            Err(e) if not_found(&e) => return Ok(None),
            // Replaced by a non-regular file between the two looks.
            Err(e) if e.kind() == io::ErrorKind::InvalidInput => {
                meta.kind = FileKind::Other;
                return Ok(Some(not_regular(meta)));
            }
            Err(e) => return Err(LockError::io(FsOp::Read, lock_path, e)),
        };
        let parsed = Payload::parse(&bytes);
        Ok(Some(Seen {
            meta,
            bytes,
            parsed,
        }))
    }

    /// Removes a stale file only if it is still the very file judged stale: under the
    /// directory's reclaim lock, re-read it and compare identity and every byte (the payload
    /// carries a per-acquisition token), then unlink. Reclaimers are serialised by that lock;
    /// a fresh acquirer's file differs and survives. Returns whether it removed the file.
    pub(crate) fn remove_if_unchanged(
        &self,
        lock_path: &Path,
        seen: &Seen,
    ) -> Result<bool, LockError> {
        let fs = self.inner.env.fs();
        if mutant!(self.inner.policy, NaiveReclaim) {
            return match fs.remove(lock_path) {
                Ok(()) => Ok(true),
                Err(e) if not_found(&e) => Ok(false),
                Err(e) => Err(LockError::io(FsOp::Remove, lock_path, e)),
            };
        }
        if mutant!(self.inner.policy, RenameAsideReclaim) {
            return self.rename_aside(lock_path, seen);
        }
        let dir = dir_of(lock_path);
        let _dir_lock = fs
            .lock_dir(&dir)
            .map_err(|e| LockError::io(FsOp::LockDir, &dir, e))?;
        let Some(now) = self.observe(lock_path)? else {
            return Ok(false);
        };
        if now.meta.id != seen.meta.id
            || now.meta.mtime_ms != seen.meta.mtime_ms
            || now.bytes != seen.bytes
        {
            return Ok(false);
        }
        match fs.remove(lock_path) {
            Ok(()) => Ok(true),
            Err(e) if not_found(&e) => Ok(false),
            Err(e) => Err(LockError::io(FsOp::Remove, lock_path, e)),
        }
    }

    /// Mutant `rename-aside-reclaim`: move the lock to a private name, keep it removed if it is
    /// the stale file, else link it back. Between the rename and the link-back the path is free.
    fn rename_aside(&self, lock_path: &Path, seen: &Seen) -> Result<bool, LockError> {
        let fs = self.inner.env.fs();
        let token = format!("{:016x}", self.inner.env.clock().random_u64());
        let aside =
            temp_path_for(lock_path, self.inner.identity.pid, &token).with_extension("aside");
        match fs.rename(lock_path, &aside) {
            Ok(()) => {}
            Err(e) if not_found(&e) => return Ok(false),
            Err(e) => return Err(LockError::io(FsOp::Rename, lock_path, e)),
        }
        let stale = fs
            .read(&aside, MAX_PAYLOAD_BYTES)
            .is_ok_and(|b| b == seen.bytes);
        if !stale {
            let _ = fs.link(&aside, lock_path);
        }
        let _ = fs.remove(&aside);
        Ok(stale)
    }

    /// Removes a lock file only if it still carries exactly our payload (read and unlink under
    /// the directory's reclaim lock, so no reclaimer can swap it in between).
    pub(crate) fn delete_if_ours(
        &self,
        lock_path: &Path,
        ours: &[u8],
    ) -> Result<Released, LockError> {
        self.delete_if_ours_noting_waiters(lock_path, ours)
            .map(|(released, _)| released)
    }

    /// [`Self::delete_if_ours`], and whether another process showed interest in the file while
    /// it was ours (a fairness hint: see `wait.rs`).
    pub(crate) fn delete_if_ours_noting_waiters(
        &self,
        lock_path: &Path,
        ours: &[u8],
    ) -> Result<(Released, bool), LockError> {
        let fs = self.inner.env.fs();
        if mutant!(self.inner.policy, UncheckedRelease) {
            return match fs.remove(lock_path) {
                Ok(()) => Ok((Released::Removed, false)),
                Err(e) if not_found(&e) => Ok((Released::NotOurs, false)),
                Err(e) => Err(LockError::io(FsOp::Remove, lock_path, e)),
            };
        }
        let dir = dir_of(lock_path);
        let _dir_lock = fs
            .lock_dir(&dir)
            .map_err(|e| LockError::io(FsOp::LockDir, &dir, e))?;
        let wanted = match fs.read_noting_waiters(lock_path, MAX_PAYLOAD_BYTES) {
            Ok((b, wanted)) if b == ours => wanted,
            Ok(_) => return Ok((Released::NotOurs, false)),
            // Gone, or replaced by something that is not even a regular file.
            Err(e) if not_found(&e) || e.kind() == io::ErrorKind::InvalidInput => {
                return Ok((Released::NotOurs, false))
            }
            Err(e) => return Err(LockError::io(FsOp::Read, lock_path, e)),
        };
        match fs.remove(lock_path) {
            Ok(()) => Ok((Released::Removed, wanted)),
            Err(e) if not_found(&e) => Ok((Released::NotOurs, false)),
            Err(e) => Err(LockError::io(FsOp::Remove, lock_path, e)),
        }
    }
}
