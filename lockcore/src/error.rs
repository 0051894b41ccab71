//! Typed errors. Every failure names the lock path; nothing read from disk can cause a panic.

use crate::env::FileKind;
use crate::payload::{Malformed, Payload};
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// Who holds a lock we could not take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    /// Another holder in this very instance (non-reentrant acquire, or a `release_all` in
    /// progress).
    ThisInstance,
    /// The payload found in the lock file.
    File(Box<Payload>),
    /// The lock file did not parse (and is still inside its grace).
    Malformed(Malformed),
    /// The file changed under us on every attempt.
    Unknown,
    /// Waiters of other processes queued before us ([`crate::Policy::fair`]).
    Queued,
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Owner::ThisInstance => write!(f, "this instance"),
            Owner::File(p) => {
                write!(f, "pid {}", p.pid)?;
                if let Some(n) = &p.nonce {
                    write!(f, " nonce {n}")?;
                }
                if let Some(h) = &p.host {
                    write!(f, " host {h}")?;
                }
                write!(
                    f,
                    " since {}",
                    crate::payload::format_rfc3339_ms(p.created_at_ms)
                )
            }
            Owner::Malformed(m) => write!(f, "unknown ({m})"),
            Owner::Unknown => write!(f, "unknown (the file kept changing)"),
            Owner::Queued => write!(f, "waiters of other processes queued first"),
        }
    }
}

/// The file operation that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsOp {
    /// Writing the temp file or the lock file.
    Create,
    /// Linking the temp file to the lock path.
    Link,
    /// Renaming.
    Rename,
    /// Reading a lock file.
    Read,
    /// Removing a lock or temp file.
    Remove,
    /// Listing a directory.
    List,
    /// Reading metadata.
    Metadata,
    /// Taking the directory's reclaim lock.
    LockDir,
    /// Resolving the lock directory's symlinks (`realpath`).
    Resolve,
    /// Refreshing a lease (setting the mtime).
    Touch,
}

impl FsOp {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            FsOp::Create => "create",
            FsOp::Link => "link",
            FsOp::Rename => "rename",
            FsOp::Read => "read",
            FsOp::Remove => "remove",
            FsOp::List => "list",
            FsOp::Metadata => "metadata",
            FsOp::LockDir => "lock-dir",
            FsOp::Resolve => "resolve",
            FsOp::Touch => "touch",
        }
    }
}

/// Everything that can go wrong.
#[derive(Debug)]
pub enum LockError {
    /// Someone else holds the lock (after `waited`).
    Busy {
        /// Who.
        owner: Owner,
        /// The lock file.
        lock_path: PathBuf,
        /// How long we waited (zero for `try_acquire`).
        waited: Duration,
    },
    /// A file operation failed.
    Io {
        /// Which one.
        op: FsOp,
        /// On which path.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A reentrant hold count would overflow.
    ReentryOverflow {
        /// The lock file.
        lock_path: PathBuf,
    },
    /// The session path cannot carry a lock (no file name).
    InvalidPath {
        /// The path given.
        path: PathBuf,
    },
    /// Something that is not a regular file sits at the lock path (a FIFO, socket, device,
    /// directory or symlink): lockcore neither waits for it nor writes or deletes through it.
    NotRegular {
        /// The lock file path.
        lock_path: PathBuf,
        /// What sits there.
        kind: FileKind,
    },
}

impl LockError {
    /// True for [`LockError::Busy`].
    pub fn is_busy(&self) -> bool {
        matches!(self, LockError::Busy { .. })
    }
    pub(crate) fn io(op: FsOp, path: impl Into<PathBuf>, source: io::Error) -> Self {
        LockError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}

impl fmt::Display for LockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::Busy {
                owner,
                lock_path,
                waited,
            } => write!(
                f,
                "{} is held by {owner} (waited {} ms)",
                lock_path.display(),
                waited.as_millis()
            ),
            LockError::Io { op, path, source } => {
                write!(f, "{} {}: {source}", op.as_str(), path.display())
            }
            LockError::ReentryOverflow { lock_path } => {
                write!(f, "{}: reentrant hold count overflow", lock_path.display())
            }
            LockError::NotRegular { lock_path, kind } => write!(
                f,
                "{} is a {}, not a lock file: lockcore will not use it (remove it, or run \
                 `lockcore clean --remove-non-regular` on its directory)",
                lock_path.display(),
                kind.as_str()
            ),
            LockError::InvalidPath { path } => {
                write!(
                    f,
                    "{}: not a file path a lock can be placed beside",
                    path.display()
                )
            }
        }
    }
}

impl std::error::Error for LockError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LockError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
