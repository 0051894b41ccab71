//! The seams lockcore is generic over: [`Fs`], [`Procs`] and [`Clock`], bundled by [`Env`].
//! The same lock code runs on the real OS ([`crate::os::OsEnv`]) and inside the models, where every
//! method is one atomic, interleavable step; nothing else in lockcore touches the outside world.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Identity of a file independent of its path: a recreated file at the same path differs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileId {
    /// Device number (real) or 0 (simulated).
    pub dev: u64,
    /// Inode number (real) or a unique creation counter (simulated).
    pub ino: u64,
}

/// What sits at a path, as `lstat` sees it (a symlink is never followed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FileKind {
    /// A regular file: the only kind a lock file can be.
    Regular,
    /// A directory.
    Directory,
    /// A symbolic link, dangling or not (lockcore never follows one at a lock path).
    Symlink,
    /// A named pipe: opening it for reading could block forever.
    Fifo,
    /// A Unix socket.
    Socket,
    /// A character or block device.
    Device,
    /// Anything else, or a file that turned out not to be regular between two looks.
    Other,
}

impl FileKind {
    /// Stable lower-case name used in verdicts, errors and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Regular => "regular",
            FileKind::Directory => "directory",
            FileKind::Symlink => "symlink",
            FileKind::Fifo => "fifo",
            FileKind::Socket => "socket",
            FileKind::Device => "device",
            FileKind::Other => "other",
        }
    }
}

/// The error [`Fs::read`] returns for a path that is not a regular file: `InvalidInput`.
pub fn not_regular(path: &Path, kind: FileKind) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "{} is a {}, not a regular file",
            path.display(),
            kind.as_str()
        ),
    )
}

/// What lockcore needs to know of a file besides its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileMeta {
    /// Identity, to tell "the same file" from "a new file at the same path".
    pub id: FileId,
    /// What kind of file it is (of the path itself: links are not followed).
    pub kind: FileKind,
    /// Size in bytes.
    pub len: u64,
    /// Last modification, unix milliseconds (wall clock).
    pub mtime_ms: i64,
}

/// The file operations of the protocol; each is one atomic step in the models.
///
/// Errors are plain [`io::Error`]s; lockcore relies on [`io::ErrorKind::AlreadyExists`] from
/// `create_new`/`link`, [`io::ErrorKind::NotFound`] from `read`/`remove`/`metadata`, and
/// [`io::ErrorKind::Unsupported`] from `link` where hard links are not available.
pub trait Fs: Send + Sync {
    /// Held while a reclaimer re-reads and removes a stale file; released on drop (and by the
    /// kernel when the process dies, for the real implementation).
    type DirLock: Send;

    /// Creates `path` exclusively and writes `contents`; fails with `AlreadyExists` if it exists.
    fn create_new(&self, path: &Path, contents: &[u8]) -> io::Result<()>;
    /// Overwrites an existing file's contents (used only by the `empty-window` mutant).
    fn write_existing(&self, path: &Path, contents: &[u8]) -> io::Result<()>;
    /// Hard-links `src` to `dst`; fails with `AlreadyExists` if `dst` exists.
    fn link(&self, src: &Path, dst: &Path) -> io::Result<()>;
    /// Writes `contents` into a new file that has no name yet and links it at `path`: the
    /// temp file + `link` of a publish without the temp file's name, so a crash leaves nothing
    /// behind and no other process sees a temp entry come and go. Fails with `AlreadyExists` if
    /// `path` exists. `None` where this file system or kernel cannot (the caller writes a named
    /// temp file instead) — the default, so the models publish through named temp files.
    fn link_unnamed(&self, path: &Path, contents: &[u8]) -> Option<io::Result<()>> {
        let _ = (path, contents);
        None
    }
    /// Renames `src` to `dst`, silently replacing `dst` (used only by the `rename-takeover` mutant).
    fn rename(&self, src: &Path, dst: &Path) -> io::Result<()>;
    /// Reads at most `cap + 1` bytes, so that a caller can tell a file larger than `cap`. Never
    /// follows a symlink and never blocks: anything but a regular file fails with
    /// [`not_regular`] (`InvalidInput`).
    fn read(&self, path: &Path, cap: usize) -> io::Result<Vec<u8>>;
    /// Removes a directory entry (`unlink`: a symlink itself, never its target).
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Lists the entries of a directory (full paths, any order).
    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>>;
    /// Identity, kind, size and mtime of the entry at `path` (`lstat`: links are not followed).
    fn metadata(&self, path: &Path) -> io::Result<FileMeta>;
    /// Sets the mtime of the regular file at `path` to now if it holds exactly `expect` (any
    /// content when `None`); `Ok(false)` when it is gone, not a regular file, or holds anything
    /// else. The check and the touch use one open descriptor, so a file that replaced it
    /// meanwhile is never touched. A lease refresh: the content never changes.
    fn touch(&self, path: &Path, expect: Option<&[u8]>) -> io::Result<bool>;
    /// `dir` with every symlink resolved (`realpath`): the one spelling of a directory that
    /// keys the registry, so two spellings of one session are one lock.
    fn canonical_dir(&self, dir: &Path) -> io::Result<PathBuf>;
    /// Takes the directory's reclaim lock, blocking until it is free.
    fn lock_dir(&self, dir: &Path) -> io::Result<Self::DirLock>;

    /// Blocks until the entry at `wait.lock_path` is removed or renamed (away or over), or the
    /// process `wait.owner` exits, or `wait.timeout` passes on `wait.clock`, whichever comes
    /// first. **No lost wake-up:** arm the watches first, then call `still_blocked`; if it says
    /// the lock may be free already (the file went between the caller's last look and the
    /// arming), return [`Wake::Changed`] at once. Its argument says whether the armed watch
    /// covers the owner's exit even if it happened before the arming (a pidfd: it is readable
    /// for a process that has exited, and cannot be opened for one that is gone): then the look
    /// need not ask whether the owner lives. `None`: this file system cannot watch here (no
    /// inotify, a virtual clock for a real watch, an error arming it), and the caller backs off
    /// on its clock instead — the default.
    fn wait_for_change(
        &self,
        wait: &WaitFor<'_>,
        still_blocked: &mut dyn FnMut(bool) -> bool,
    ) -> Option<Wake> {
        let _ = (wait, still_blocked);
        None
    }

    /// [`Fs::read`], and whether another process has shown interest in the file since it was
    /// last modified: it read the file or [`Fs::mark_wanted`] it (its atime is past its mtime).
    /// Only a hint for fairness, never for safety; `false` where the file system cannot tell
    /// — the default.
    fn read_noting_waiters(&self, path: &Path, cap: usize) -> io::Result<(Vec<u8>, bool)> {
        Ok((self.read(path, cap)?, false))
    }

    /// A waiter's mark on a lock file it waits for (the real file system sets its atime to
    /// now, leaving the mtime — the lease's clock — alone), which the holder's release notices
    /// through [`Fs::read_noting_waiters`]. Best effort, errors ignored; nothing by default.
    fn mark_wanted(&self, path: &Path) {
        let _ = path;
    }

    /// Waits at most `timeout` (real time) for an entry to appear at `lock_path` — another
    /// process taking the lock a release of ours left free. `true` once one is there, `false`
    /// on timeout or where the file system cannot watch (the default: no wait at all).
    fn wait_for_taker(&self, lock_path: &Path, timeout: Duration, clock: &dyn Clock) -> bool {
        let _ = (lock_path, timeout, clock);
        false
    }

    /// How [`Fs::wait_for_change`] waits for a waiter on `clock` ([`WaitMechanism::Backoff`]
    /// when it cannot).
    fn wait_mechanism(&self, clock: &dyn Clock) -> WaitMechanism {
        let _ = clock;
        WaitMechanism::Backoff
    }
}

/// What a waiter waits for: see [`Fs::wait_for_change`].
pub struct WaitFor<'a> {
    /// The contended lock file.
    pub lock_path: &'a Path,
    /// Its owner's pid when the owner lives in our pid namespace (not us): its exit ends the
    /// wait too (a pidfd). `None` for an owner we cannot see (another host or namespace).
    pub owner: Option<u32>,
    /// The longest the wait may block before the caller looks again.
    pub timeout: Duration,
    /// The waiter's clock: the timeout passes on it. A real watch cannot wait in virtual time.
    pub clock: &'a dyn Clock,
    /// The entry is a queue ticket (`queue.rs`), which only the waiter just behind it waits
    /// for: a real watch watches that file itself, not its directory, which would wake the
    /// waiter for every lock file and ticket removed beside it.
    pub ticket: bool,
}

/// Why [`Fs::wait_for_change`] returned. The caller looks again whatever the reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Wake {
    /// The lock file was removed or renamed, or the look after arming found it gone or changed.
    Changed,
    /// The owner process exited.
    OwnerExited,
    /// Nothing happened within the timeout (or the wait was interrupted).
    TimedOut,
}

/// How a waiter learns that a lock another process holds may have become free.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WaitMechanism {
    /// Polling: sleeps of 1–50 ms (jittered, doubling) between attempts.
    Backoff,
    /// A watch on the lock's directory (inotify) wakes the waiter when the file goes.
    Inotify,
    /// The directory watch, and a pidfd on the owner when it lives in our pid namespace: a
    /// waiter also wakes when the owner dies.
    InotifyPidfd,
}

impl WaitMechanism {
    /// `backoff`, `inotify` or `inotify+pidfd`.
    pub fn as_str(self) -> &'static str {
        match self {
            WaitMechanism::Backoff => "backoff",
            WaitMechanism::Inotify => "inotify",
            WaitMechanism::InotifyPidfd => "inotify+pidfd",
        }
    }

    /// What the mechanism means for a waiter, in a few words (for `inspect` and logs).
    pub fn describe(self) -> &'static str {
        match self {
            WaitMechanism::Backoff => {
                "polling: no inotify here, a waiter sleeps 1-50 ms between looks"
            }
            WaitMechanism::Inotify => {
                "woken by a release; an owner's death is noticed within 50 ms (no pidfd here)"
            }
            WaitMechanism::InotifyPidfd => "woken by a release and by the owner's death",
        }
    }
}

impl std::fmt::Display for WaitMechanism {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the liveness probe says of a pid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Liveness {
    /// The process exists and may be signalled.
    Alive,
    /// No such process (`ESRCH`), or a zombie.
    Dead,
    /// The process exists but belongs to someone we may not signal (`EPERM`): it is alive.
    NoPermission,
}

/// Who this process is, as written into lock files and compared against them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ProcessIdentity {
    /// Process id.
    pub pid: u32,
    /// Host identity (hostname and pid namespace): two containers sharing a directory differ here
    /// even when both are pid 1. `None` where it cannot be determined.
    pub host: Option<String>,
    /// Process start time (clock ticks since boot, `/proc/<pid>/stat` field 22), to tell a
    /// recycled pid. `None` where unavailable.
    pub start_time: Option<u64>,
}

/// The process table as lockcore sees it.
pub trait Procs: Send + Sync {
    /// This process.
    fn identity(&self) -> ProcessIdentity;
    /// Liveness of another pid on this host.
    fn probe(&self, pid: u32) -> Liveness;
    /// Start time of another pid on this host, if it can be read.
    fn start_time(&self, pid: u32) -> Option<u64>;
    /// [`Procs::probe`] and, unless it is dead, [`Procs::start_time`]: what judging a lock
    /// file asks (the real process table answers both from one read of `/proc/<pid>/stat`).
    fn probe_with_start_time(&self, pid: u32) -> (Liveness, Option<u64>) {
        match self.probe(pid) {
            Liveness::Dead => (Liveness::Dead, None),
            alive => (alive, self.start_time(pid)),
        }
    }
    /// When this machine booted, wall-clock unix ms, if known: no process of any pid namespace
    /// on this machine is older.
    fn boot_time_ms(&self) -> Option<i64> {
        None
    }
}

/// Time and randomness: the environment's sources of nondeterminism.
pub trait Clock: Send + Sync {
    /// Wall-clock time, unix milliseconds (for `createdAt` and file ages).
    fn now_wall_ms(&self) -> i64;
    /// Monotonic time since an arbitrary origin (for timeouts).
    fn now_mono(&self) -> Duration;
    /// Waits `d` between attempts. The simulated clock advances virtual time and yields.
    fn sleep(&self, d: Duration);
    /// A random 64-bit value (nonces, tokens, jitter). Seeded and deterministic in the models.
    fn random_u64(&self) -> u64;
    /// True for a virtual clock: lockcore then waits through [`Clock::sleep`] only, never on a
    /// real condition variable with a real timeout.
    fn is_virtual(&self) -> bool {
        false
    }
}

/// A complete environment: one file system, one process view, one clock.
pub trait Env: Send + Sync + 'static {
    /// The file system.
    type Fs: Fs;
    /// The process table.
    type Procs: Procs;
    /// Time and randomness.
    type Clock: Clock;
    /// The file system.
    fn fs(&self) -> &Self::Fs;
    /// The process table.
    fn procs(&self) -> &Self::Procs;
    /// Time and randomness.
    fn clock(&self) -> &Self::Clock;
}

/// An [`Env`] assembled from parts, e.g. the real file system with a simulated clock.
#[derive(Clone, Debug, Default)]
pub struct EnvParts<F, P, C> {
    /// The file system.
    pub fs: F,
    /// The process table.
    pub procs: P,
    /// Time and randomness.
    pub clock: C,
}

impl<F, P, C> Env for EnvParts<F, P, C>
where
    F: Fs + 'static,
    P: Procs + 'static,
    C: Clock + 'static,
{
    type Fs = F;
    type Procs = P;
    type Clock = C;
    fn fs(&self) -> &F {
        &self.fs
    }
    fn procs(&self) -> &P {
        &self.procs
    }
    fn clock(&self) -> &C {
        &self.clock
    }
}

/// A clock for unit tests whose random numbers are one fixed value (time stands still).
#[cfg(test)]
pub(crate) struct FixedRandom(pub(crate) u64);

#[cfg(test)]
impl Clock for FixedRandom {
    fn now_wall_ms(&self) -> i64 {
        0
    }
    fn now_mono(&self) -> Duration {
        Duration::ZERO
    }
    fn sleep(&self, _: Duration) {}
    fn random_u64(&self) -> u64 {
        self.0
    }
}
