//! `run`: hold a lock while a command runs, forwarding termination signals to it (like
//! `flock(1)`).

use crate::{fail, manager, Failure};
use lockcore::signals::{self, Disposition};
use lockcore::sync::{thread, Arc, Mutex};
use lockcore::{AcquireOptions, Policy};
use rustix::process::Pid;
use signal_hook::iterator::{Handle, Signals};
use std::ffi::OsString;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, ExitStatus};

/// The child's pid while it may be signalled, and signals that arrived before it existed.
struct Forward {
    child: Option<Pid>,
    pending: Vec<i32>,
}

/// Signals `run` forwards to its command (those not ignored when `run` started: an ignored
/// signal stays ignored, and the command inherits that).
const FORWARDED: [i32; 4] = [
    signal_hook::consts::SIGINT,
    signal_hook::consts::SIGTERM,
    signal_hook::consts::SIGQUIT,
    signal_hook::consts::SIGHUP,
];

fn forward(pid: Pid, signal: i32) {
    if let Some(sig) = rustix::process::Signal::from_named_raw(signal) {
        let _ = rustix::process::kill_process(pid, sig);
    }
}

/// A thread that forwards the termination signals to the command while it runs, and keeps
/// those that arrive before the command exists.
struct Forwarder {
    state: Arc<Mutex<Forward>>,
    handle: Handle,
}

impl Forwarder {
    /// Starts watching the [`FORWARDED`] signals that are not ignored.
    fn start() -> io::Result<Forwarder> {
        let state = Arc::new(Mutex::new(Forward {
            child: None,
            pending: Vec::new(),
        }));
        let watched: Vec<i32> = FORWARDED
            .iter()
            .copied()
            .filter(|&s| signals::disposition(s).is_ok_and(|d| d != Disposition::Ignored))
            .collect();
        let mut sigs = Signals::new(&watched)?;
        let handle = sigs.handle();
        let shared = Arc::clone(&state);
        thread::spawn(move || {
            for signal in sigs.forever() {
                let mut st = shared.lock().unwrap_or_else(|p| p.into_inner());
                match st.child {
                    Some(pid) => forward(pid, signal),
                    None => st.pending.push(signal),
                }
            }
        });
        Ok(Forwarder { state, handle })
    }

    /// From now on signals go to `pid`, first those that arrived before it existed.
    fn attach(&self, pid: Pid) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.child = Some(pid);
        for signal in std::mem::take(&mut st.pending) {
            forward(pid, signal);
        }
    }

    /// Stops signalling the child: called after it exited and before it is reaped, so the
    /// forwarder never signals a pid that may have been reused.
    fn detach(&self) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).child = None;
    }

    /// Stops watching.
    fn close(self) {
        self.handle.close();
    }
}

/// The exit status `run` passes on: the command's code, or 128 + the signal that killed it.
fn exit_code(status: ExitStatus) -> u8 {
    let code = match (status.code(), status.signal()) {
        (Some(c), _) => c,
        (None, Some(s)) => 128 + s,
        (None, None) => 1,
    };
    u8::try_from(code).unwrap_or(1)
}

pub(crate) fn run(
    session_file: &Path,
    policy: Policy,
    command: &[OsString],
) -> Result<u8, Failure> {
    let Some((program, args)) = command.split_first() else {
        return Err(Failure {
            code: 2,
            message: "run: no COMMAND given".into(),
        });
    };
    let manager = manager(policy);
    manager.on_compromised(|path| {
        eprintln!(
            "lockcore: warning: {}: lost the lock while the command runs (a refresh found \
             its file removed or replaced); the command goes on, run will exit 1",
            path.display()
        );
    });
    let guard = manager.acquire_with(session_file, AcquireOptions::default())?;
    let lock_path = guard.lock_path().to_path_buf();

    // Forward termination signals to the command while it runs, and keep the lock until it
    // has exited: the lock then covers everything the command did.
    let forwarder = Forwarder::start()
        .map_err(|e| fail(format!("{}: watching signals: {e}", lock_path.display())))?;
    let mut child = match Command::new(program).args(args).spawn() {
        Ok(c) => c,
        Err(e) => {
            drop(guard);
            return Err(fail(format!(
                "cannot run {:?}: {e} (lock {} released)",
                program,
                lock_path.display()
            )));
        }
    };
    let pid = Pid::from_child(&child);
    forwarder.attach(pid);
    // Wait for the exit without reaping, stop forwarding, then reap.
    let _ = rustix::process::waitid(
        rustix::process::WaitId::Pid(pid),
        rustix::process::WaitIdOptions::EXITED | rustix::process::WaitIdOptions::NOWAIT,
    );
    forwarder.detach();
    let status = child
        .wait()
        .map_err(|e| fail(format!("waiting for {program:?}: {e}")))?;
    forwarder.close();
    let lost = !guard.is_held();
    guard
        .release()
        .map_err(|e| fail(format!("releasing {}: {e}", lock_path.display())))?;
    if lost {
        return Err(fail(format!(
            "{}: the lock was lost while {program:?} ran (its file was removed or replaced); \
             nothing was deleted",
            lock_path.display()
        )));
    }
    Ok(exit_code(status))
}
