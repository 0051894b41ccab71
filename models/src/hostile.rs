//! What the simulated tree can hold besides regular files (P16 hostile paths): FIFOs, sockets,
//! devices, directory entries and symlinks (to a file, dangling, or a loop), plus the ledger the
//! P16 oracle reads — what the world planted, what was removed by whom, and every step that
//! would have written or deleted *through* a link or blocked on a special file.
//!
//! The semantics follow what lockcore's real `Fs` promises (`lstat`, `O_NOFOLLOW|O_NONBLOCK`,
//! `unlink`): nothing here ever follows a symlink at the final path component.

use lockcore::env::FileKind;
use std::path::PathBuf;

/// A special (non-regular, non-link) entry the world can plant at any path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SimKind {
    /// A named pipe: opening it for reading could block forever on a real system.
    Fifo,
    /// A Unix socket.
    Socket,
    /// A character device.
    Device,
    /// A directory entry (empty; the simulated tree keeps directories implicit otherwise).
    Directory,
}

impl SimKind {
    /// Every special kind, for tests that go through them all.
    pub const ALL: [SimKind; 4] = [
        SimKind::Fifo,
        SimKind::Socket,
        SimKind::Device,
        SimKind::Directory,
    ];

    /// The kind `lstat` reports.
    pub fn file_kind(self) -> FileKind {
        match self {
            SimKind::Fifo => FileKind::Fifo,
            SimKind::Socket => FileKind::Socket,
            SimKind::Device => FileKind::Device,
            SimKind::Directory => FileKind::Directory,
        }
    }
}

/// A non-regular entry of the simulated tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimNode {
    /// What it is (never [`FileKind::Regular`]).
    pub kind: FileKind,
    /// For a symlink, the path it points to (absolute; may not exist, may be a loop).
    pub target: Option<PathBuf>,
    /// Identity (shares the regular files' inode counter).
    pub ino: u64,
    /// Last modification, virtual wall ms.
    pub mtime_ms: i64,
}

impl SimNode {
    /// `fifo`, `symlink -> /victim`, … for traces.
    pub fn describe(&self) -> String {
        match &self.target {
            Some(t) => format!("{} -> {}", self.kind.as_str(), t.display()),
            None => self.kind.as_str().to_string(),
        }
    }

    /// What `lstat` reports as the size: a link's target length, else 0.
    pub fn len(&self) -> u64 {
        self.target
            .as_ref()
            .map_or(0, |t| t.as_os_str().len() as u64)
    }

    /// Whether [`SimNode::len`] is zero.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A regular file's identity and bytes at one moment.
pub type FileSnapshot = (u64, Vec<u8>);

/// A hostile entry the world planted, with what its link pointed to at that moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Planted {
    /// Where it was planted.
    pub path: PathBuf,
    /// Its kind.
    pub kind: FileKind,
    /// Its identity, to tell "the same entry" from a new one at the same path.
    pub ino: u64,
    /// For a symlink: its target, and the target's (ino, bytes) if it was a regular file.
    pub target: Option<(PathBuf, Option<FileSnapshot>)>,
}

/// Who removed a non-regular entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeRemoval {
    /// Path.
    pub path: PathBuf,
    /// What was removed.
    pub kind: FileKind,
    /// The remover's host and pid.
    pub by: (String, u32),
}

/// The P16 ledger: planted entries, removals of non-regular entries, hazards.
#[derive(Clone, Debug, Default)]
pub struct HostileLedger {
    /// Every hostile entry the world planted, in order.
    pub planted: Vec<Planted>,
    /// Every removal of a non-regular entry by a process.
    pub removed: Vec<NodeRemoval>,
    /// Every step that followed a link to write or delete, or would have blocked (none in a
    /// faithful simulation; a broken one records them here).
    pub hazards: Vec<String>,
}

/// `ELOOP`: what `O_NOFOLLOW` gives at a symlink (Linux errno 40).
pub fn eloop() -> std::io::Error {
    std::io::Error::from_raw_os_error(40)
}

/// `EISDIR`: what `unlink` or a write gives at a directory (Linux errno 21).
pub fn eisdir() -> std::io::Error {
    std::io::Error::from_raw_os_error(21)
}

/// `ENXIO`: what `open(O_WRONLY|O_NONBLOCK)` of a FIFO without a reader, a socket or an absent
/// device gives (Linux errno 6) — an error at once, never a wait.
pub fn enxio() -> std::io::Error {
    std::io::Error::from_raw_os_error(6)
}
