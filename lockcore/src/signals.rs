//! Opt-in signal cleanup: after [`install_cleanup`], SIGINT, SIGTERM, SIGQUIT and SIGABRT make a
//! dedicated thread run [`LockManager::release_all`] for every registered manager. Then the signal
//! takes its usual effect: it is re-raised with the default action when nothing else handled it.
//!
//! **Caveats:** the cleanup runs on a thread *after* the low-level handler returns, so a death
//! that gives that thread no chance — SIGKILL, or `abort()` called inside the process (libc
//! re-raises SIGABRT with the default action at once) — releases nothing; the next acquirer
//! reclaims such files by the dead-pid rule. **The previous disposition of each signal is read
//! once, at the first install:** a signal the application had a handler for is never re-raised
//! (its handler runs and decides; the process goes on with its locks released, so that handler
//! should call [`wait_for_cleanup`] before exiting), a signal that was ignored stays ignored and
//! triggers no cleanup, and a handler installed *after* the first install runs (if installed
//! through `signal-hook`) but cannot stop the re-raise — install your own handlers first.
//! **Once installed, the watching thread and the low-level handlers stay for the life of the
//! process;** dropping every [`CleanupHandle`] only unregisters the managers. **The cleanup can
//! be delayed:** each release takes the directory's reclaim lock (`flock`), so while another
//! process holds it (stopped with SIGSTOP inside a reclaim, say) the signal's effect waits too —
//! up to [`crate::os::DIR_LOCK_TIMEOUT`] per lock, after which that release is reported failed
//! and its file, carrying the old nonce, is left for the dead-pid or nonce rule.

// This module is the one place outside `os.rs` that talks to the OS: it queries signal
// dispositions with `libc::sigaction`, needs a named real OS thread (a model checker must never
// schedule a signal thread; this module is compiled only without loom/shuttle), and waits on a
// real condition variable with a real deadline.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use crate::manager::LockManager;
use crate::os::OsEnv;
use signal_hook::consts::{SIGABRT, SIGINT, SIGQUIT, SIGTERM};
use signal_hook::iterator::Signals;
use std::io;
use std::os::raw::c_int;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The signals the cleanup watches.
pub const CLEANUP_SIGNALS: [c_int; 4] = [SIGINT, SIGTERM, SIGQUIT, SIGABRT];

/// A signal's disposition as `sigaction` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Disposition {
    /// `SIG_DFL`: the default action (terminate, for the cleanup signals).
    Default,
    /// `SIG_IGN`: ignored.
    Ignored,
    /// A handler function is installed (the application's, or `signal-hook`'s own).
    Handler,
}

/// What the cleanup does after releasing, for one signal (decided at the first install).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AfterCleanup {
    /// Nothing else handled the signal: re-raise it with the default action, so the process
    /// ends with the signal's usual status.
    Reraise,
    /// The application had a handler: it ran too, and it decides; the process goes on.
    LeaveToApplication,
    /// The signal was ignored: it is not watched, and it triggers no cleanup.
    NotWatched,
}

/// Keeps a manager registered for the signal cleanup. Dropping it unregisters that registration
/// (the manager stays registered while another handle for it lives); [`CleanupHandle::forget`]
/// keeps it registered for the life of the process.
#[must_use = "dropping the handle unregisters the manager at once; call forget() to keep it"]
#[derive(Debug)]
pub struct CleanupHandle {
    id: u64,
}

impl CleanupHandle {
    /// Keeps the registration for the life of the process.
    pub fn forget(self) {
        std::mem::forget(self);
    }

    /// What the cleanup does after releasing, per watched signal.
    pub fn plan(&self) -> Vec<(c_int, AfterCleanup)> {
        lock(&REGISTRY).plan.map(|p| p.to_vec()).unwrap_or_default()
    }
}

impl Drop for CleanupHandle {
    fn drop(&mut self) {
        lock(&REGISTRY).managers.retain(|(id, _)| *id != self.id);
    }
}

struct Registry {
    /// Set once the signal thread runs; never unset.
    plan: Option<[(c_int, AfterCleanup); 4]>,
    managers: Vec<(u64, LockManager<OsEnv>)>,
    next_id: u64,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    plan: None,
    managers: Vec::new(),
    next_id: 1,
});

/// Completed cleanups (one per delivered signal), with a condition variable to wait on.
static COMPLETED: Mutex<u64> = Mutex::new(0);
static COMPLETED_CHANGED: Condvar = Condvar::new();

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The current disposition of `signal`, read with `sigaction` and a null new action (nothing
/// is changed).
pub fn disposition(signal: c_int) -> io::Result<Disposition> {
    // SAFETY: an all-zero `sigaction` is a valid value of this plain C struct; it is only written.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a null `act` makes sigaction a pure query; `old` is a valid, exclusive out-pointer.
    let rc = unsafe { libc::sigaction(signal, std::ptr::null(), &mut old) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(match old.sa_sigaction {
        libc::SIG_DFL => Disposition::Default,
        libc::SIG_IGN => Disposition::Ignored,
        _ => Disposition::Handler,
    })
}

/// Registers `manager` for the signal cleanup, installing the watching thread on the first call.
///
/// Later calls (for this or another manager) only register: they neither re-read dispositions
/// nor start a second thread, and a manager registered twice is still released once per signal.
pub fn install_cleanup(manager: &LockManager<OsEnv>) -> io::Result<CleanupHandle> {
    let mut reg = lock(&REGISTRY);
    if reg.plan.is_none() {
        reg.plan = Some(start_watching()?);
    }
    let id = reg.next_id;
    reg.next_id += 1;
    reg.managers.push((id, manager.clone()));
    Ok(CleanupHandle { id })
}

/// Reads the dispositions, installs the low-level handlers and starts the thread.
fn start_watching() -> io::Result<[(c_int, AfterCleanup); 4]> {
    let mut plan = [(0, AfterCleanup::NotWatched); 4];
    for (slot, &signal) in plan.iter_mut().zip(CLEANUP_SIGNALS.iter()) {
        let after = match disposition(signal).map_err(|e| resource_error("sigaction", signal, e))? {
            Disposition::Default => AfterCleanup::Reraise,
            Disposition::Handler => AfterCleanup::LeaveToApplication,
            Disposition::Ignored => AfterCleanup::NotWatched,
        };
        *slot = (signal, after);
    }
    let watched: Vec<c_int> = plan
        .iter()
        .filter(|(_, after)| *after != AfterCleanup::NotWatched)
        .map(|(signal, _)| *signal)
        .collect();
    // signal-hook chains the handler found at registration: the application's keeps running.
    // Its self-pipe needs two descriptors: at a descriptor limit this is where it fails.
    let mut signals = Signals::new(&watched).map_err(|e| {
        let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
        let limit = limit.map_or("unlimited".to_string(), |n| n.to_string());
        io::Error::new(
            e.kind(),
            format!(
                "signal-hook's self-pipe (2 file descriptors; RLIMIT_NOFILE is {limit}) for \
                 SIGINT, SIGTERM, SIGQUIT, SIGABRT: {e}"
            ),
        )
    })?;
    let handle = signals.handle();
    let (started_tx, started) = std::sync::mpsc::channel::<()>();
    let spawned = std::thread::Builder::new()
        .name("lockcore-signal".into())
        .spawn(move || {
            let _ = started_tx.send(());
            for signal in signals.forever() {
                run_cleanup();
                let reraise = plan
                    .iter()
                    .any(|&(s, after)| s == signal && after == AfterCleanup::Reraise);
                if reraise {
                    // Restores SIG_DFL, unblocks and raises: the process ends with this signal.
                    let _ = signal_hook::low_level::emulate_default_handler(signal);
                }
            }
        });
    if let Err(e) = spawned {
        handle.close();
        return Err(io::Error::new(
            e.kind(),
            format!("starting the thread `lockcore-signal`: {e}"),
        ));
    }
    // Returns once the thread runs (and carries its name): nothing about it is left to chance.
    let _ = started.recv();
    Ok(plan)
}

/// An error of a signal call, naming the call and the signal.
fn resource_error(call: &str, signal: c_int, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{call} for signal {signal}: {e}"))
}

/// Releases every registered manager once (a manager registered twice is released once).
fn run_cleanup() {
    let managers: Vec<LockManager<OsEnv>> = {
        let reg = lock(&REGISTRY);
        let mut unique: Vec<LockManager<OsEnv>> = Vec::new();
        for (_, m) in &reg.managers {
            if !unique.iter().any(|u| Arc::ptr_eq(&u.inner, &m.inner)) {
                unique.push(m.clone());
            }
        }
        unique
    };
    for manager in &managers {
        // Failures are in the report; there is nobody to tell here, and a file that could not
        // be removed carries the old nonce, so this process (or the dead-pid rule) reclaims it.
        let _ = manager.release_all();
    }
    *lock(&COMPLETED) += 1;
    COMPLETED_CHANGED.notify_all();
}

/// How many signal cleanups have completed in this process.
pub fn cleanups_completed() -> u64 {
    *lock(&COMPLETED)
}

/// Waits until more than `seen` cleanups have completed (see [`cleanups_completed`]), at most
/// `timeout`. Returns whether one did. An application handler that decides to exit calls this
/// first, so that the process does not end in the middle of a release.
pub fn wait_for_cleanup(seen: u64, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let mut done = lock(&COMPLETED);
    while *done <= seen {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        done = match COMPLETED_CHANGED.wait_timeout(done, left) {
            Ok((g, _)) => g,
            Err(poisoned) => poisoned.into_inner().0,
        };
    }
    true
}
