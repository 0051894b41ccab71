//! Fault rules of the simulated file system: which step fails, how, or what another process
//! swaps in just before it.

use super::*;

/// A file operation, for fault rules and the trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SimOp {
    /// `Fs::create_new`.
    Create,
    /// `Fs::write_existing`.
    Write,
    /// `Fs::link`.
    Link,
    /// `Fs::rename`.
    Rename,
    /// `Fs::read`.
    Read,
    /// `Fs::remove`.
    Remove,
    /// `Fs::list`.
    List,
    /// `Fs::metadata`.
    Metadata,
    /// `Fs::lock_dir`.
    LockDir,
    /// `Fs::touch` (a lease refresh).
    Touch,
    /// `Fs::wait_for_change` arming its watch (inotify, and a pidfd on the owner).
    Watch,
    /// A waiter looking at its watch (the model's `poll`).
    Wait,
}

impl SimOp {
    /// Lower-case name used in traces.
    pub fn as_str(self) -> &'static str {
        match self {
            SimOp::Create => "create",
            SimOp::Write => "write",
            SimOp::Link => "link",
            SimOp::Rename => "rename",
            SimOp::Read => "read",
            SimOp::Remove => "remove",
            SimOp::List => "list",
            SimOp::Metadata => "stat",
            SimOp::LockDir => "lock-dir",
            SimOp::Touch => "touch",
            SimOp::Watch => "watch",
            SimOp::Wait => "wait",
        }
    }
}

/// The error a fault injects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// `EIO`.
    Eio,
    /// `ENOSPC`.
    Enospc,
    /// `EACCES`.
    Eacces,
    /// A create/write that stores only the first half of the bytes, then fails with `ENOSPC`.
    ShortWrite,
    /// `ENOENT`: what a `link` meets when another host's sweep removed its temp file.
    Enoent,
    /// No error: just before the step, another process replaced the entry at the step's path
    /// with the rule's [`Replacement`] (a new inode unless [`FaultRule::reusing_inode`], mtime
    /// now); then the step runs on it. A change between two looks, at a chosen step.
    Replaced,
}

/// What a [`FaultKind::Replaced`] rule puts at the path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Replacement {
    /// A regular file with these bytes.
    File(Vec<u8>),
    /// A non-regular entry of this kind (a symlink points nowhere).
    Node(FileKind),
}

impl FaultKind {
    pub(super) fn error(self) -> io::Error {
        let (kind, msg) = match self {
            FaultKind::Eio => (io::ErrorKind::Other, "injected EIO"),
            FaultKind::Enospc | FaultKind::ShortWrite => {
                (io::ErrorKind::StorageFull, "injected ENOSPC")
            }
            FaultKind::Eacces => (io::ErrorKind::PermissionDenied, "injected EACCES"),
            FaultKind::Enoent => (io::ErrorKind::NotFound, "injected ENOENT"),
            FaultKind::Replaced => (io::ErrorKind::Other, "a replacement is not an error"),
        };
        io::Error::new(kind, msg)
    }
}

/// When a fault fires: on the `nth` matching operation (1-based, counted from when the rule was
/// added), or on every matching one when `nth` is `None`.
#[derive(Clone, Debug)]
pub struct FaultRule {
    /// Only this operation (any if `None`).
    pub op: Option<SimOp>,
    /// Only paths whose display contains this (any if `None`).
    pub path_contains: Option<String>,
    /// Fire on the nth match only.
    pub nth: Option<u64>,
    /// Only operations for which this predicate holds (any if `None`).
    pub predicate: Option<fn(SimOp, &Path) -> bool>,
    /// What to inject.
    pub kind: FaultKind,
    /// What [`FaultKind::Replaced`] puts at the path.
    pub replacement: Option<Replacement>,
    /// The replacement takes the replaced entry's inode number, as a file system that frees an
    /// inode and hands it out again at once does: identity by inode alone is fooled.
    pub reuse_inode: bool,
    seen: u64,
}

impl FaultRule {
    /// A rule matching `op` (any op if `None`) that injects `kind` every time.
    pub fn new(op: Option<SimOp>, kind: FaultKind) -> Self {
        FaultRule {
            op,
            path_contains: None,
            nth: None,
            predicate: None,
            kind,
            replacement: None,
            reuse_inode: false,
            seen: 0,
        }
    }
    /// A rule that, just before a matching `op`, replaces the entry at its path with `with`
    /// ([`FaultKind::Replaced`]).
    pub fn replacing(op: SimOp, with: Replacement) -> Self {
        FaultRule {
            replacement: Some(with),
            ..FaultRule::new(Some(op), FaultKind::Replaced)
        }
    }
    /// The replacement reuses the replaced entry's inode number.
    pub fn reusing_inode(mut self) -> Self {
        self.reuse_inode = true;
        self
    }
    /// Restrict to operations for which `f(op, path)` holds.
    pub fn when(mut self, f: fn(SimOp, &Path) -> bool) -> Self {
        self.predicate = Some(f);
        self
    }
    /// Restrict to paths containing `s`.
    pub fn on_path(mut self, s: &str) -> Self {
        self.path_contains = Some(s.to_string());
        self
    }
    /// Fire only on the nth match.
    pub fn nth(mut self, n: u64) -> Self {
        self.nth = Some(n);
        self
    }
    pub(super) fn fires(&mut self, op: SimOp, path: &Path) -> bool {
        if self.op.is_some_and(|o| o != op) {
            return false;
        }
        if let Some(s) = &self.path_contains {
            if !path.to_string_lossy().contains(s.as_str()) {
                return false;
            }
        }
        if self.predicate.is_some_and(|f| !f(op, path)) {
            return false;
        }
        self.seen += 1;
        self.nth.is_none_or(|n| n == self.seen)
    }
}
