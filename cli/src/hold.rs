//! `hold`: acquire, print one JSON line, hold until a time, end of input, a signal or a lost
//! lock, release.

use crate::output::{to_json, write_out};
use crate::{fail, manager, Failure};
use lockcore::signals;
use lockcore::sync::thread;
use lockcore::{AcquireOptions, LockManager, OsEnv, Policy};
use std::io::{self, Write};
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

/// The lock file's pretty JSON on one line, keys in the file's order. A JSON string cannot
/// hold a raw newline, so only the layout between tokens is dropped.
fn one_line(pretty: &[u8]) -> String {
    String::from_utf8_lossy(pretty)
        .lines()
        .map(str::trim_start)
        .collect::<Vec<_>>()
        .join(" ")
}

/// What ends a hold's wait.
enum Wake {
    /// stdin closed.
    Eof,
    /// A refresh found the lock file gone or replaced (P15).
    Compromised,
}

/// A channel told when the lock is lost. Made before acquiring, so that no refresh can find
/// the lock lost before anyone listens.
fn listen_for_loss(manager: &LockManager<OsEnv>) -> (mpsc::Sender<Wake>, mpsc::Receiver<Wake>) {
    let (tx, rx) = mpsc::channel::<Wake>();
    let lost = tx.clone();
    manager.on_compromised(move |_| {
        let _ = lost.send(Wake::Compromised);
    });
    (tx, rx)
}

/// Waits until `hold_for` passes, stdin closes (unless `ignore_stdin`) or the lock is lost.
fn wait_for_end(
    (tx, rx): (mpsc::Sender<Wake>, mpsc::Receiver<Wake>),
    hold_for: Option<Duration>,
    ignore_stdin: bool,
) {
    // Keeps the channel open when nothing watches stdin, so only the timer, a lost lock (or
    // a signal) ends the hold.
    let _keep_open = if ignore_stdin {
        Some(tx)
    } else {
        thread::spawn(move || {
            let _ = io::copy(&mut io::stdin().lock(), &mut io::sink());
            let _ = tx.send(Wake::Eof);
        });
        None
    };
    let _ = match hold_for {
        Some(d) => rx.recv_timeout(d).ok(),
        None => rx.recv().ok(),
    };
}

/// `hold`'s report of a lost lock: a JSON line on stdout, the reason on stderr, exit 1.
fn compromised(lock_path: &Path) -> Result<u8, Failure> {
    let line = format!(
        "{{\"compromised\": {}}}",
        to_json(&lock_path.display().to_string())?
    );
    write_out(|out| writeln!(out, "{line}"))?;
    Err(fail(format!(
        "{}: lost the lock: a refresh found its file removed or replaced (our lease was \
         not refreshed in time, e.g. the process was stopped); nothing was deleted",
        lock_path.display()
    )))
}

pub(crate) fn hold(
    session_file: &Path,
    policy: Policy,
    hold_for: Option<Duration>,
    ignore_stdin: bool,
) -> Result<u8, Failure> {
    let manager = manager(policy);
    // A signal ends the hold through the cleanup: release_all, then the signal's own exit.
    let cleanup = signals::install_cleanup(&manager)
        .map_err(|e| fail(format!("installing the signal cleanup: {e}")))?;
    let loss = listen_for_loss(&manager);
    let guard = manager.acquire_with(session_file, AcquireOptions::default())?;
    let line = format!(
        "{{\"acquired\": {}, \"how\": {}, \"payload\": {}, \"wait\": {}}}",
        to_json(&guard.lock_path().display().to_string())?,
        to_json(&guard.how().to_string())?,
        one_line(&guard.payload().to_bytes()),
        to_json(&manager.wait_mechanism().as_str())?,
    );
    write_out(|out| writeln!(out, "{line}"))?;
    wait_for_end(loss, hold_for, ignore_stdin);
    let lock_path = guard.lock_path().to_path_buf();
    // A lost hold's release deletes nothing (`Released::NotOurs`): the file is another's.
    let lost = !guard.is_held();
    let released = guard.release();
    drop(cleanup);
    match released {
        Ok(_) if lost => compromised(&lock_path),
        Ok(_) => Ok(0),
        Err(e) => Err(fail(format!("releasing {}: {e}", lock_path.display()))),
    }
}
