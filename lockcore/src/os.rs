//! The real environment: `std::fs` plus `libc` for what std lacks (the liveness probe), and
//! `rustix` for the directory listing and the waiter's watch (inotify, pidfd, poll).
//! This is the only module that calls the OS; `clippy.toml` keeps it that way.
//!
//! **Caveats:** the reclaim lock is `flock` on the directory itself, so it needs a file system
//! where `flock` works (local disks, not every network mount); the liveness probe only sees
//! processes in our pid namespace, which is why lock files carry a host identity.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use crate::env::{
    not_regular, Clock, EnvParts, FileId, FileKind, FileMeta, Fs, Liveness, ProcessIdentity, Procs,
    WaitFor, WaitMechanism, Wake,
};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

mod watch;

#[cfg(test)]
mod tests;

/// The real environment.
pub type OsEnv = EnvParts<OsFs, OsProcs, OsClock>;

impl OsEnv {
    /// The real file system, process table and clock.
    pub fn new() -> Self {
        EnvParts {
            fs: OsFs,
            procs: OsProcs::current(),
            clock: OsClock,
        }
    }
}

/// The real file system.
#[derive(Clone, Copy, Debug, Default)]
pub struct OsFs;

/// How long [`OsFs::lock_dir`] waits for another process's reclaim lock before failing.
pub const DIR_LOCK_TIMEOUT: Duration = Duration::from_secs(10);

/// The directory's reclaim lock: an exclusive `flock` on the directory, released on drop or
/// by the kernel when the process dies, so it can never go stale.
#[derive(Debug)]
pub struct OsDirLock(#[allow(dead_code)] File);

/// Retries a system call that failed with `EINTR` (a signal arrived), a bounded number of times:
/// a caller gets a typed error, never a spin, if the interruptions never stop.
fn retry_eintr<T>(mut call: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    const TRIES: usize = 64;
    let mut tries = 0;
    loop {
        match call() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted && tries < TRIES => tries += 1,
            other => return other,
        }
    }
}

fn kind_of(ft: std::fs::FileType) -> FileKind {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_file() {
        FileKind::Regular
    } else if ft.is_dir() {
        FileKind::Directory
    } else if ft.is_symlink() {
        FileKind::Symlink
    } else if ft.is_fifo() {
        FileKind::Fifo
    } else if ft.is_socket() {
        FileKind::Socket
    } else if ft.is_char_device() || ft.is_block_device() {
        FileKind::Device
    } else {
        FileKind::Other
    }
}

/// Opens `path` for reading without following a final symlink and without blocking (a FIFO
/// would otherwise wait for a writer forever), and checks on the open descriptor that it is a
/// regular file.
fn open_regular(path: &Path) -> io::Result<File> {
    open_regular_with_meta(path, false).map(|(f, _)| f)
}

/// [`open_regular`], with the descriptor's metadata (its `fstat`).
fn open_regular_with_meta(path: &Path, noatime: bool) -> io::Result<(File, fs::Metadata)> {
    let open = |extra: i32| {
        retry_eintr(|| {
            OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC | extra)
                .open(path)
        })
    };
    let opened = match open(if noatime { libc::O_NOATIME } else { 0 }) {
        // O_NOATIME is for the file's owner only: another user's file is read as usual.
        Err(e) if noatime && e.raw_os_error() == Some(libc::EPERM) => open(0),
        other => other,
    };
    let f = match opened {
        Ok(f) => f,
        // O_NOFOLLOW on a symlink: ELOOP.
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(not_regular(path, FileKind::Symlink))
        }
        // A Unix socket cannot be opened at all (so no fstat can say what it is).
        Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
            return Err(not_regular(path, FileKind::Other))
        }
        Err(e) => return Err(e),
    };
    let meta = retry_eintr(|| f.metadata())?;
    let kind = kind_of(meta.file_type());
    if kind != FileKind::Regular {
        return Err(not_regular(path, kind));
    }
    Ok((f, meta))
}

/// Reads the file whose fstat said `size`: that many bytes, but never more than `cap + 1` (more
/// than `cap` tells the caller it is too large). A lock file is written once, before it is
/// linked in, so this is one `read` and no second one to find the end; bytes written after the
/// fstat are not read, and a file cut short after it reads short.
fn read_sized(f: File, size: u64, cap: usize) -> io::Result<Vec<u8>> {
    let limit = cap.saturating_add(1);
    let want = usize::try_from(size).map_or(limit, |s| s.min(limit));
    let mut buf = Vec::with_capacity(want.min(64 * 1024));
    f.take(want as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

/// Opens a directory for listing or `flock`: `O_DIRECTORY`, so a FIFO or device named like the
/// directory fails at once and never blocks.
fn open_dir(dir: &Path) -> io::Result<File> {
    retry_eintr(|| {
        OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(dir)
    })
}

impl Fs for OsFs {
    type DirLock = OsDirLock;

    fn create_new(&self, path: &Path, contents: &[u8]) -> io::Result<()> {
        // O_EXCL never follows a link: a symlink at `path`, dangling or not, is AlreadyExists.
        let mut f = retry_eintr(|| {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o644)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(path)
        })?;
        if let Err(e) = f.write_all(contents) {
            drop(f);
            let _ = fs::remove_file(path);
            return Err(e);
        }
        Ok(())
    }

    fn write_existing(&self, path: &Path, contents: &[u8]) -> io::Result<()> {
        OpenOptions::new()
            .write(true)
            .truncate(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(path)?
            .write_all(contents)
    }

    fn link(&self, src: &Path, dst: &Path) -> io::Result<()> {
        // linkat without AT_SYMLINK_FOLLOW: neither side is followed.
        retry_eintr(|| fs::hard_link(src, dst))
    }

    fn link_unnamed(&self, path: &Path, contents: &[u8]) -> Option<io::Result<()>> {
        let opened = retry_eintr(|| {
            OpenOptions::new()
                .write(true)
                .mode(0o644)
                .custom_flags(libc::O_TMPFILE | libc::O_CLOEXEC)
                .open(dir_part(path))
        });
        let mut file = match opened {
            Ok(f) => f,
            // No O_TMPFILE on this file system (EOPNOTSUPP) or kernel (EISDIR, EINVAL).
            Err(e) if errno_in(&e, &[libc::EOPNOTSUPP, libc::EISDIR, libc::EINVAL]) => return None,
            Err(e) => return Some(Err(e)),
        };
        // An error drops the file: it never had a name, so nothing is left behind.
        if let Err(e) = file.write_all(contents) {
            return Some(Err(e));
        }
        link_open_file(&file, path)
    }

    fn rename(&self, src: &Path, dst: &Path) -> io::Result<()> {
        retry_eintr(|| fs::rename(src, dst))
    }

    fn read(&self, path: &Path, cap: usize) -> io::Result<Vec<u8>> {
        // The same open, fstat and read: the waiters' note costs one comparison.
        self.read_noting_waiters(path, cap).map(|(bytes, _)| bytes)
    }

    fn read_noting_waiters(&self, path: &Path, cap: usize) -> io::Result<(Vec<u8>, bool)> {
        let (f, meta) = open_regular_with_meta(path, true)?;
        // Looked at by someone since it was written: a read (relatime updates the atime on the
        // first read after a change) or a waiter's mark. Our own read below comes after the
        // fstat and leaves the atime alone (O_NOATIME: a handover reads the file it keeps, and
        // its next release must not take that read for a waiter's), and a refresh sets the mtime
        // after its read, so neither counts.
        let wanted = (meta.atime(), meta.atime_nsec()) > (meta.mtime(), meta.mtime_nsec());
        Ok((read_sized(f, meta.len(), cap)?, wanted))
    }

    fn mark_wanted(&self, path: &Path) {
        // An atime an hour ahead, explicitly: a plain "now" is the kernel's coarse clock (one
        // tick, ~4 ms, behind), which the file's fine-grained mtime can outrun, so the mark
        // would not show. The mtime, the lease's clock, is left alone.
        let ahead = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            .saturating_add(3600);
        let times = rustix::fs::Timestamps {
            last_access: rustix::fs::Timespec {
                tv_sec: i64::try_from(ahead).unwrap_or(i64::MAX),
                tv_nsec: 0,
            },
            last_modification: rustix::fs::Timespec {
                tv_sec: 0,
                tv_nsec: rustix::fs::UTIME_OMIT,
            },
        };
        // EPERM for another user's file (only the owner may set a time explicitly): that
        // holder still sees our reads where the mount updates atimes (relatime), a tick late.
        let _ = rustix::fs::utimensat(
            rustix::fs::CWD,
            path,
            &times,
            rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
        );
    }

    fn wait_for_taker(&self, lock_path: &Path, timeout: Duration, clock: &dyn Clock) -> bool {
        if clock.is_virtual() {
            return false;
        }
        let Some(name) = lock_path.file_name() else {
            return false;
        };
        let Some(watch) = watch::DirWatch::arm(dir_part(lock_path), watch::Watch::Appearing) else {
            return false;
        };
        if fs::symlink_metadata(lock_path).is_ok() {
            return true;
        }
        watch.block(None, name, timeout) == Some(Wake::Changed)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        retry_eintr(|| fs::remove_file(path))
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        // Not `fs::read_dir`: std's directory stream asserts that `closedir` succeeds and panics
        // when it fails (EIO on a network mount, say). rustix reads with getdents64 and closes a
        // plain descriptor, whose close error is ignored.
        retry_eintr(|| {
            let mut entries = rustix::fs::Dir::new(std::os::fd::OwnedFd::from(open_dir(dir)?))?;
            let mut out = Vec::new();
            while let Some(entry) = entries.read() {
                let entry = entry?;
                let name = entry.file_name().to_bytes();
                if name != b"." && name != b".." {
                    use std::os::unix::ffi::OsStrExt;
                    out.push(dir.join(std::ffi::OsStr::from_bytes(name)));
                }
            }
            Ok(out)
        })
    }

    fn metadata(&self, path: &Path) -> io::Result<FileMeta> {
        let m = retry_eintr(|| fs::symlink_metadata(path))?;
        Ok(FileMeta {
            id: FileId {
                dev: m.dev(),
                ino: m.ino(),
            },
            kind: kind_of(m.file_type()),
            len: m.len(),
            mtime_ms: m
                .mtime()
                .saturating_mul(1000)
                .saturating_add(m.mtime_nsec() / 1_000_000),
        })
    }

    fn touch(&self, path: &Path, expect: Option<&[u8]>) -> io::Result<bool> {
        let mut f = match open_regular(path) {
            Ok(f) => f,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::InvalidInput
                ) =>
            {
                return Ok(false)
            }
            Err(e) => return Err(e),
        };
        if let Some(expect) = expect {
            let mut buf = Vec::with_capacity(expect.len() + 1);
            (&mut f)
                .take(expect.len() as u64 + 1)
                .read_to_end(&mut buf)?;
            if buf != expect {
                return Ok(false);
            }
        }
        let now = rustix::fs::Timestamps {
            last_access: rustix::fs::Timespec {
                tv_sec: 0,
                tv_nsec: rustix::fs::UTIME_OMIT,
            },
            last_modification: rustix::fs::Timespec {
                tv_sec: 0,
                tv_nsec: rustix::fs::UTIME_NOW,
            },
        };
        retry_eintr(|| rustix::fs::futimens(&f, &now).map_err(io::Error::from))?;
        Ok(true)
    }

    fn canonical_dir(&self, dir: &Path) -> io::Result<PathBuf> {
        retry_eintr(|| fs::canonicalize(dir))
    }

    fn lock_dir(&self, dir: &Path) -> io::Result<OsDirLock> {
        lock_dir_within(dir, DIR_LOCK_TIMEOUT, &OsClock)
    }

    fn wait_for_change(
        &self,
        wait: &WaitFor<'_>,
        still_blocked: &mut dyn FnMut(bool) -> bool,
    ) -> Option<Wake> {
        // A real watch waits in real time: a caller on a virtual clock backs off on it instead.
        if wait.clock.is_virtual() {
            return None;
        }
        let name = wait.lock_path.file_name()?;
        let watch = if wait.ticket {
            match watch::DirWatch::arm_file(wait.lock_path) {
                Some(w) => w,
                // Gone already (or no inotify): look again at once rather than back off.
                None if !still_blocked(false) => return Some(Wake::Changed),
                None => return None,
            }
        } else {
            watch::DirWatch::arm(dir_part(wait.lock_path), watch::Watch::Going)?
        };
        // ESRCH (reaped already) or no pidfd here: the look below asks whether the owner lives.
        // A pidfd covers an exit before it was opened too (a zombie's pidfd is readable).
        let pidfd = wait.owner.and_then(watch::open_pidfd);
        if !still_blocked(pidfd.is_some()) {
            return Some(Wake::Changed);
        }
        watch.block(pidfd.as_ref(), name, wait.timeout)
    }

    fn wait_mechanism(&self, clock: &dyn Clock) -> WaitMechanism {
        if clock.is_virtual() {
            return WaitMechanism::Backoff;
        }
        static SUPPORT: OnceLock<WaitMechanism> = OnceLock::new();
        *SUPPORT.get_or_init(|| {
            if !watch::inotify_available() {
                return WaitMechanism::Backoff;
            }
            let me = rustix::process::getpid();
            match rustix::process::pidfd_open(me, rustix::process::PidfdFlags::empty()) {
                Ok(_) => WaitMechanism::InotifyPidfd,
                Err(_) => WaitMechanism::Inotify,
            }
        })
    }
}

/// Takes the reclaim lock (`flock` on the directory), waiting on `clock` for at most `timeout`.
/// Legitimate holders keep it for one re-read and unlink (microseconds). A process that holds it
/// for long (a bug, or `flock DIR cmd`) must not stall every release and the signal cleanup
/// forever: past the timeout the caller gets a typed error.
fn lock_dir_within(dir: &Path, timeout: Duration, clock: &impl Clock) -> io::Result<OsDirLock> {
    let f = open_dir(dir)?;
    let deadline = clock.now_mono() + timeout;
    let mut pause = Duration::from_micros(50);
    loop {
        match f.try_lock() {
            Ok(()) => return Ok(OsDirLock(f)),
            Err(std::fs::TryLockError::WouldBlock) if clock.now_mono() < deadline => {
                clock.sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(10));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "the reclaim lock (flock) on {} was held by another process for {} s",
                        dir.display(),
                        timeout.as_secs()
                    ),
                ))
            }
            Err(std::fs::TryLockError::Error(e)) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        }
    }
}

/// Whether `e` is one of the OS error numbers `codes`.
fn errno_in(e: &io::Error, codes: &[i32]) -> bool {
    e.raw_os_error().is_some_and(|c| codes.contains(&c))
}

/// Links an open file that has no name at `dst` (never following a link at `dst`):
/// `linkat(fd, "", AT_EMPTY_PATH)`, which Linux allows its opener since 6.10 (before, only with
/// `CAP_DAC_READ_SEARCH`: `ENOENT`), else through `/proc/self/fd`. `None` when neither way is
/// open here (an old kernel without `/proc`): the caller writes a named temp file.
fn link_open_file(file: &File, dst: &Path) -> Option<io::Result<()>> {
    use rustix::fs::{linkat, AtFlags, CWD};
    let by_fd = retry_eintr(|| Ok(linkat(file, "", CWD, dst, AtFlags::EMPTY_PATH)?));
    match by_fd {
        Err(e) if errno_in(&e, &[libc::ENOENT, libc::EPERM, libc::EINVAL]) => {}
        done => return Some(done),
    }
    use std::os::fd::AsRawFd;
    let by_proc = format!("/proc/self/fd/{}", file.as_raw_fd());
    match retry_eintr(|| {
        Ok(linkat(
            CWD,
            by_proc.as_str(),
            CWD,
            dst,
            AtFlags::SYMLINK_FOLLOW,
        )?)
    }) {
        Err(e)
            if errno_in(
                &e,
                &[
                    libc::ENOENT,
                    libc::EACCES,
                    libc::EPERM,
                    libc::ELOOP,
                    libc::EXDEV,
                ],
            ) =>
        {
            None
        }
        done => Some(done),
    }
}

/// The directory a path names an entry of (`.` for a bare name).
fn dir_part(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// The real process table.
#[derive(Clone, Debug)]
pub struct OsProcs {
    me: ProcessIdentity,
    boot_ms: Option<i64>,
}

impl OsProcs {
    /// This process: pid, host identity (hostname and pid namespace) and start time.
    pub fn current() -> Self {
        let pid = std::process::id();
        OsProcs {
            me: ProcessIdentity {
                pid,
                host: host_identity(),
                start_time: read_start_time(pid),
            },
            boot_ms: read_boot_time_ms(),
        }
    }
}

impl Default for OsProcs {
    fn default() -> Self {
        OsProcs::current()
    }
}

fn host_identity() -> Option<String> {
    let host = fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())?;
    match fs::read_link("/proc/self/ns/pid") {
        Ok(ns) => Some(format!("{host}/{}", ns.display())),
        Err(_) => Some(host),
    }
}

/// Fields after the command name in `/proc/<pid>/stat` (the name may hold spaces and parens).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = read_proc(&format!("/proc/{pid}/stat"))?;
    let after = stat.get(stat.rfind(')')? + 1..)?;
    Some(after.split_whitespace().map(str::to_string).collect())
}

/// A `/proc` file in one `read` (and one that says end of file): they report size 0, and
/// `fs::read_to_string` then asks their size and reads them 32, 32, 64, 128... bytes at a
/// time — nine system calls for a probe's `/proc/<pid>/stat` where four do. Not UTF-8 is
/// read lossily: a process names itself (`/proc/<pid>/comm`, any bytes), and a name that is
/// not UTF-8 must not hide its state and start time, which follow the name.
fn read_proc(path: &str) -> Option<String> {
    use std::io::Read;
    let mut buf = Vec::with_capacity(2048);
    fs::File::open(path)
        .ok()?
        .take(1 << 20)
        .read_to_end(&mut buf)
        .ok()?;
    Some(String::from_utf8_lossy(&buf).into_owned())
}

/// `btime` of `/proc/stat`: the boot time in unix seconds (shared by every pid namespace).
fn read_boot_time_ms() -> Option<i64> {
    let stat = fs::read_to_string("/proc/stat").ok()?;
    let secs: i64 = stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    secs.checked_mul(1000)
}

/// `/proc/<pid>/stat` field 22 (start time in clock ticks since boot).
fn read_start_time(pid: u32) -> Option<u64> {
    start_time_in(&stat_fields(pid)?)
}

/// The start time among the fields after the name: field 3 (state) is the first after it, so
/// field 22 is index 19.
fn start_time_in(fields: &[String]) -> Option<u64> {
    fields.get(19)?.parse().ok()
}

impl Procs for OsProcs {
    fn identity(&self) -> ProcessIdentity {
        self.me.clone()
    }

    fn probe(&self, pid: u32) -> Liveness {
        self.probe_stat(pid).0
    }

    fn start_time(&self, pid: u32) -> Option<u64> {
        read_start_time(pid)
    }

    fn probe_with_start_time(&self, pid: u32) -> (Liveness, Option<u64>) {
        let (liveness, fields) = self.probe_stat(pid);
        let start = match (liveness, fields) {
            (Liveness::Dead, _) => None,
            (_, Some(fields)) => start_time_in(&fields),
            // EPERM (the probe read nothing), or /proc unreadable then: ask as `start_time` does.
            (_, None) => read_start_time(pid),
        };
        (liveness, start)
    }

    fn boot_time_ms(&self) -> Option<i64> {
        self.boot_ms
    }
}

impl OsProcs {
    /// `kill(pid, 0)`, then, for a pid that exists, `/proc/<pid>/stat` for a zombie (which has
    /// exited: it holds nothing any more); the fields after the name come back too.
    fn probe_stat(&self, pid: u32) -> (Liveness, Option<Vec<String>>) {
        // pid 0 and negative pids address process groups: never probe them.
        let raw = match libc::pid_t::try_from(pid) {
            Ok(raw) if raw > 0 => raw,
            _ => return (Liveness::Dead, None),
        };
        // SAFETY: kill with signal 0 sends nothing; it only checks existence and permission.
        let rc = unsafe { libc::kill(raw, 0) };
        if rc != 0 {
            let liveness = match io::Error::last_os_error().raw_os_error() {
                Some(libc::ESRCH) => Liveness::Dead,
                Some(libc::EPERM) => Liveness::NoPermission,
                // Anything else: we cannot show it dead, so it counts as alive.
                _ => Liveness::Alive,
            };
            return (liveness, None);
        }
        let fields = stat_fields(pid);
        match fields.as_ref().and_then(|f| f.first()) {
            Some(state) if state == "Z" || state == "X" => (Liveness::Dead, None),
            _ => (Liveness::Alive, fields),
        }
    }
}

/// The real clock and randomness.
#[derive(Clone, Copy, Debug, Default)]
pub struct OsClock;

fn mono_origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

impl Clock for OsClock {
    fn now_wall_ms(&self) -> i64 {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
        }
    }

    fn now_mono(&self) -> Duration {
        mono_origin().elapsed()
    }

    fn sleep(&self, d: Duration) {
        std::thread::sleep(d);
    }

    fn random_u64(&self) -> u64 {
        // The low 64 bits of a v4 UUID are random but for the 2 variant bits; mix the high half
        // in to cover those too.
        let (hi, lo) = uuid::Uuid::new_v4().as_u64_pair();
        lo ^ hi.rotate_left(17)
    }
}
