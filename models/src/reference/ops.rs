//! The operations a history is made of ([`Op`]), what each one produces ([`Outcome`]) and what a
//! step returns ([`StepResult`]). The steps themselves are in `transitions.rs`.

use super::*;

/// Who a busy lock belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BusyOwner {
    /// Another hold in this very instance (or a `release_all` in progress).
    ThisInstance,
    /// The payload in the file.
    File(Payload),
    /// A malformed file in its grace.
    Malformed,
    /// The file kept changing.
    Unknown,
}

/// What an operation produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The lock is held: fresh, re-entered or reclaimed.
    Acquired(Acquired),
    /// Someone holds it.
    Busy(BusyOwner),
    /// A guard's release.
    Released(Released),
    /// `release_all`: removed files and holds whose file was gone or not ours (sorted).
    ReleasedAll {
        /// Files removed.
        released: Vec<PathBuf>,
        /// Holds whose file was no longer ours.
        not_ours: Vec<PathBuf>,
    },
    /// `clean_stale`: stale lock files and old temp files removed (sorted).
    Cleaned {
        /// Lock files removed, with the reason each was stale.
        removed: Vec<(PathBuf, StaleReason)>,
        /// Temp files removed.
        temp_files: Vec<PathBuf>,
        /// Non-regular entries removed (only a clean with `remove_non_regular`).
        non_regular: Vec<PathBuf>,
        /// Directories at lock paths that such a clean reported instead of removing.
        refused: Vec<PathBuf>,
    },
    /// Something that is not a regular file sits at the lock path: refused at once (P16).
    NotRegular(FileKind),
    /// `inspect`: every lock file with its verdict (sorted by path).
    Inspected(Vec<(PathBuf, Verdict)>),
    /// The operation has no outcome of its own (world changes, clock).
    Done,
    /// The operation needs a live process with a lock manager and there is none.
    NoInstance,
    /// The guard does not exist or was already released.
    NoGuard,
    /// A reentrant count would overflow.
    Overflow,
    /// A lease refresh: files touched and holds found compromised (sorted).
    Refreshed {
        /// Lock files whose mtime was set to now.
        refreshed: Vec<PathBuf>,
        /// Holds whose file was gone or replaced.
        compromised: Vec<PathBuf>,
    },
}

/// One operation on the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Start a live process (with a fresh lock manager).
    Spawn(ProcKey),
    /// `try_acquire` of a session file.
    Acquire {
        /// Who.
        proc: ProcKey,
        /// The session file (the lock is `<session>.lock`).
        session: PathBuf,
        /// Reentrant acquisition.
        reentrant: bool,
    },
    /// Release a guard (by guard id).
    Release(u64),
    /// `release_all` of a process's instance.
    ReleaseAll(ProcKey),
    /// In-place restart (SIGUSR1): `release_all`, same process, same instance object.
    RestartInPlace(ProcKey),
    /// The process dies; its files stay.
    Crash(ProcKey),
    /// Exec-restart with the same pid: new start time, a fresh lock manager, nothing released.
    ExecRestart(ProcKey),
    /// An unrelated process reuses a dead pid (it gets a lock manager of its own).
    ReusePid(ProcKey),
    /// Make the probe of a process answer `EPERM` (or stop doing so).
    SetEperm(ProcKey, bool),
    /// Put a file in place (replacing any), with an explicit mtime.
    Plant {
        /// Path.
        path: PathBuf,
        /// Contents.
        content: Content,
        /// Mtime, virtual wall ms.
        mtime_ms: i64,
    },
    /// Set a file's mtime.
    SetMtime(PathBuf, i64),
    /// Advance the virtual clock (ms).
    Advance(i64),
    /// `clean_stale(dir)` by a process's instance.
    CleanStale(ProcKey, PathBuf),
    /// `inspect(dir)` by a process's instance.
    Inspect(ProcKey, PathBuf),
    /// `clean(dir, remove_non_regular)` by a process's instance (P16).
    CleanNonRegular(ProcKey, PathBuf),
    /// Make the first directory a symlink to the second (setup; sessions may then be spelled
    /// through either).
    AliasDir(PathBuf, PathBuf),
    /// The process's manager calls `use_manual_heartbeat`: its new locks declare a lease.
    UseManualHeartbeat(ProcKey),
    /// The process's heartbeat runs once (`refresh`); a stopped process's does not.
    Refresh(ProcKey),
    /// SIGSTOP.
    Stop(ProcKey),
    /// SIGCONT.
    Cont(ProcKey),
    /// A peer implementation in namespace `peer.host` takes the free lock path of `session`
    /// with a host-less file of a historic shape (starting the peer process if needed).
    PeerAcquire {
        /// The peer (namespace and pid).
        peer: ProcKey,
        /// The session file.
        session: PathBuf,
        /// Which historic shape it writes.
        shape: PeerShape,
    },
    /// The peer releases the lock of `session`: removes the file only if it is still its own.
    PeerRelease {
        /// The peer.
        peer: ProcKey,
        /// The session file.
        session: PathBuf,
    },
    /// Every process of a pid namespace (host) dies, peers included; files stay.
    KillNamespace(String),
    /// A new namespace takes a dead one's id; its lockcore processes start afresh.
    RestartNamespace(String),
}

/// The three historic payload shapes a peer writes (DESIGN §4), none with a host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PeerShape {
    /// `{pid, createdAt}`.
    Legacy,
    /// `{pid, nonce, createdAt}`.
    Nonce,
    /// `{pid, createdAt, starttime}`.
    StartTime,
}

fn short_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Spawn(p) => write!(f, "{p} spawns"),
            Op::Acquire {
                proc,
                session,
                reentrant,
            } => write!(
                f,
                "{proc} try_acquire {}{}",
                short_name(session),
                if *reentrant { "" } else { " (non-reentrant)" }
            ),
            Op::Release(g) => write!(f, "release guard g{g}"),
            Op::ReleaseAll(p) => write!(f, "{p} release_all"),
            Op::RestartInPlace(p) => write!(f, "{p} restarts in place (release_all)"),
            Op::Crash(p) => write!(f, "{p} crashes"),
            Op::ExecRestart(p) => write!(f, "{p} exec-restarts (same pid, fresh instance)"),
            Op::ReusePid(p) => write!(f, "an unrelated process reuses {p}"),
            Op::SetEperm(p, on) => write!(f, "probe of {p} answers EPERM: {on}"),
            Op::Plant {
                path,
                content,
                mtime_ms,
            } => write!(
                f,
                "plant {} {} (mtime {})",
                short_name(path),
                content.describe(),
                lockcore::payload::format_rfc3339_ms(*mtime_ms)
            ),
            Op::SetMtime(path, ms) => write!(
                f,
                "set mtime of {} to {}",
                short_name(path),
                lockcore::payload::format_rfc3339_ms(*ms)
            ),
            Op::Advance(ms) => write!(f, "advance the clock {ms} ms"),
            Op::CleanStale(p, _) => write!(f, "{p} clean_stale"),
            Op::Inspect(p, _) => write!(f, "{p} inspect"),
            Op::CleanNonRegular(p, _) => write!(f, "{p} clean --remove-non-regular"),
            Op::AliasDir(alias, real) => {
                write!(f, "alias {} -> {}", alias.display(), real.display())
            }
            Op::UseManualHeartbeat(p) => write!(f, "{p} use_manual_heartbeat"),
            Op::Refresh(p) => write!(f, "{p} refresh"),
            Op::Stop(p) => write!(f, "{p} SIGSTOP"),
            Op::Cont(p) => write!(f, "{p} SIGCONT"),
            Op::PeerAcquire {
                peer,
                session,
                shape,
            } => write!(f, "peer {peer} takes {} ({shape:?})", short_name(session)),
            Op::PeerRelease { peer, session } => {
                write!(f, "peer {peer} releases {}", short_name(session))
            }
            Op::KillNamespace(h) => write!(f, "namespace {h} dies"),
            Op::RestartNamespace(h) => write!(f, "namespace {h} starts again"),
        }
    }
}

/// What a step returned besides the new state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepResult {
    /// The outcome lockcore must produce.
    pub outcome: Outcome,
    /// The guard id handed out, for a successful acquisition.
    pub guard: Option<u64>,
    /// Every classification made during the step (for coverage).
    pub verdicts: Vec<Verdict>,
}
