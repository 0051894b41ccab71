//! The waiter's watch: an inotify instance on the lock's directory and a pidfd on its owner,
//! waited on with one `poll`. Inotify instances are pooled and reused, never closed on the
//! waiting path.
//!
//! **Why the pool:** closing an inotify instance makes the kernel wait for an SRCU grace period
//! (`fsnotify_destroy_group`), measured here at 7–21 ms per `close`. A waiter that closed its
//! watch after each wake spent that long between being woken and publishing its lock file.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use crate::env::Wake;
use rustix::fs::inotify::{self, CreateFlags, ReadFlags, Reader, WatchFlags};
use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Idle instances kept for reuse; one per thread that waits at the same time is enough.
const POOL_MAX: usize = 16;

/// Idle inotify instances, each with no watch left on it, and the process that made them: a
/// child forked without exec would share their event queues with its parent, so it makes its own.
static POOL: Mutex<Pool> = Mutex::new(Pool {
    pid: 0,
    idle: Vec::new(),
});

struct Pool {
    pid: u32,
    idle: Vec<OwnedFd>,
}

/// What a [`DirWatch`] waits for about an entry of its directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Watch {
    /// Its removal, or a rename away from or over it (a waiter for a busy lock).
    Going,
    /// Its creation (`link`, `open(O_CREAT)`) or a rename onto it (a releaser letting a waiter in).
    Appearing,
}

/// An inotify instance borrowed from the pool with one watch on a directory; dropping it
/// removes the watch (cheap: the mark is freed asynchronously) and returns the instance.
pub(super) struct DirWatch {
    /// `Some` until dropped (taken back into the pool then).
    fd: Option<OwnedFd>,
    wd: i32,
    /// The watch is on the entry itself ([`DirWatch::arm_file`]): any event of it counts.
    on_file: bool,
}

impl DirWatch {
    /// Watches `dir` for what `what` names about an entry (and for the directory itself
    /// going), with no event queued from before. `None` where inotify is
    /// unavailable (no kernel support, the instance or watch limit reached, no read
    /// permission): the caller backs off.
    pub(super) fn arm(dir: &Path, what: Watch) -> Option<DirWatch> {
        let whole_dir = WatchFlags::DELETE_SELF | WatchFlags::MOVE_SELF | WatchFlags::ONLYDIR;
        let flags = whole_dir
            | match what {
                Watch::Going => WatchFlags::DELETE | WatchFlags::MOVED_FROM | WatchFlags::MOVED_TO,
                Watch::Appearing => WatchFlags::CREATE | WatchFlags::MOVED_TO,
            };
        Self::armed(dir, flags, false)
    }

    /// Watches the file at `path` itself (not following a symlink) for its last link going
    /// (an unlink changes its link count: `IN_ATTRIB`), a rename away, or its deletion; a
    /// touch (`IN_ATTRIB` too) wakes the waiter for a look, no more. `None` where inotify is
    /// unavailable or the file is gone already (the caller's look tells).
    pub(super) fn arm_file(path: &Path) -> Option<DirWatch> {
        let flags = WatchFlags::ATTRIB
            | WatchFlags::DELETE_SELF
            | WatchFlags::MOVE_SELF
            | WatchFlags::DONT_FOLLOW;
        Self::armed(path, flags, true)
    }

    /// A pooled instance with one watch of `flags` on `path`, its queue drained.
    fn armed(path: &Path, flags: WatchFlags, on_file: bool) -> Option<DirWatch> {
        let fd = take_instance()?;
        let wd = match inotify::add_watch(&fd, path, flags) {
            Ok(wd) => wd,
            Err(_) => {
                put_instance(fd);
                return None;
            }
        };
        let watch = DirWatch {
            fd: Some(fd),
            wd,
            on_file,
        };
        // Left over from an earlier use of this instance (its watch's IN_IGNORED): not ours.
        // Anything about our file that is dropped here is seen by the caller's look after arming.
        watch.drain_for(None);
        Some(watch)
    }

    /// Drains the pending events: did one concern the entry `name` of our directory (or the
    /// directory itself, or were events lost)? Events about other entries (publishers' temp
    /// files) or left from another watch of this instance do not. `None` drains only.
    fn drain_for(&self, name: Option<&OsStr>) -> bool {
        use std::os::unix::ffi::OsStrExt;
        let Some(fd) = self.fd.as_ref() else {
            return true;
        };
        let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 4096];
        let mut reader = Reader::new(fd, &mut buf);
        let mut hit = false;
        loop {
            match reader.next() {
                Ok(event) => {
                    let Some(name) = name else { continue };
                    let ours = event.wd() == self.wd;
                    if event.events().contains(ReadFlags::QUEUE_OVERFLOW) || (ours && self.on_file)
                    {
                        hit = true;
                    } else if ours {
                        let whole_dir = ReadFlags::IGNORED
                            | ReadFlags::DELETE_SELF
                            | ReadFlags::MOVE_SELF
                            | ReadFlags::UNMOUNT;
                        hit |= event.events().intersects(whole_dir)
                            || event
                                .file_name()
                                .is_some_and(|n| n.to_bytes() == name.as_bytes());
                    }
                }
                Err(rustix::io::Errno::INTR) => {}
                // AGAIN: drained. Anything else: look again rather than block on a broken watch.
                Err(rustix::io::Errno::AGAIN) => return hit,
                Err(_) => return name.is_some(),
            }
        }
    }

    /// One `poll` on the watch and the owner's pidfd until an event about `name`, the owner's
    /// exit, or `timeout`. `None` if `poll` itself fails (the caller backs off).
    pub(super) fn block(
        &self,
        pidfd: Option<&OwnedFd>,
        name: &OsStr,
        timeout: Duration,
    ) -> Option<Wake> {
        use rustix::event::{poll, PollFd, PollFlags, Timespec};
        let fd = self.fd.as_ref()?;
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Some(Wake::TimedOut);
            }
            let ts = Timespec::try_from(left.min(Duration::from_secs(3600))).ok()?;
            let mut fds = vec![PollFd::new(fd, PollFlags::IN)];
            if let Some(p) = pidfd {
                fds.push(PollFd::new(p, PollFlags::IN));
            }
            match poll(&mut fds, Some(&ts)) {
                Ok(0) => return Some(Wake::TimedOut),
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) => return None,
            }
            if fds.get(1).is_some_and(|p| !p.revents().is_empty()) {
                return Some(Wake::OwnerExited);
            }
            if !fds[0].revents().is_empty() && self.drain_for(Some(name)) {
                return Some(Wake::Changed);
            }
        }
    }
}

impl Drop for DirWatch {
    fn drop(&mut self) {
        let Some(fd) = self.fd.take() else { return };
        // Fails only if the kernel removed the watch already (the directory went): fine.
        let _ = inotify::remove_watch(&fd, self.wd);
        put_instance(fd);
    }
}

/// Whether this process can make an inotify instance (one from the pool counts).
pub(super) fn inotify_available() -> bool {
    take_instance().map(put_instance).is_some()
}

fn take_instance() -> Option<OwnedFd> {
    let reused = {
        let mut pool = POOL
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let me = std::process::id();
        if pool.pid != me {
            // Inherited through fork: the parent's instances. Closing our copies is cheap
            // (the parent still holds them), and sharing their queues would steal its events.
            pool.idle.clear();
            pool.pid = me;
        }
        pool.idle.pop()
    };
    reused.or_else(|| inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK).ok())
}

fn put_instance(fd: OwnedFd) {
    let mut pool = POOL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if pool.pid == std::process::id() && pool.idle.len() < POOL_MAX {
        pool.idle.push(fd);
        return;
    }
    drop(pool);
    // More waiters at once than the pool keeps (or forked meanwhile): this close is the slow one.
    drop(fd);
}

/// A pidfd on `pid` (a process of our pid namespace): readable once it has exited.
pub(super) fn open_pidfd(pid: u32) -> Option<OwnedFd> {
    let pid = rustix::process::Pid::from_raw(i32::try_from(pid).ok()?)?;
    rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    // A resource bound (no property): returned instances beyond the pool's cap are closed, so
    // a burst of waiters leaves at most POOL_MAX idle descriptors behind. Other tests may take
    // and return instances meanwhile, never past the cap.
    #[test]
    fn the_pool_keeps_at_most_its_cap_of_idle_instances() {
        let burst: Vec<OwnedFd> = (0..POOL_MAX + 4).filter_map(|_| take_instance()).collect();
        if burst.len() < POOL_MAX + 1 {
            println!(
                "skipped: only {} inotify instances could be made",
                burst.len()
            );
            return;
        }
        burst.into_iter().for_each(put_instance);
        let idle = POOL.lock().map(|p| p.idle.len()).unwrap_or(usize::MAX);
        assert!(idle <= POOL_MAX, "{idle} idle instances kept");
    }
}
