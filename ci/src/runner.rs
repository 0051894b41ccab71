//! Runs one step: its own process group, stdout and stderr into `target/gate/logs/<step>.log`,
//! a timeout, and Ctrl-C / SIGTERM forwarded to the whole group.

use crate::gate::{Exit, Step};
use rustix::process::{kill_process_group, Pid, Signal};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Sends `sig` to the child's process group (the child leads it); a group that is gone is fine.
fn signal_group(child: &Child, sig: Signal) {
    if let Some(pid) = i32::try_from(child.id()).ok().and_then(Pid::from_raw) {
        let _ = kill_process_group(pid, sig);
    }
}

/// Stops the group: SIGTERM, a grace period, then SIGKILL; reaps the child.
fn stop_group(child: &mut Child, grace: Duration) {
    signal_group(child, Signal::TERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    signal_group(child, Signal::KILL);
    let _ = child.wait();
}

/// Prints what was appended to the log since `pos` (for `--verbose`).
fn stream(log: &Path, pos: &mut u64) {
    let Ok(mut f) = File::open(log) else { return };
    if f.seek(SeekFrom::Start(*pos)).is_err() {
        return;
    }
    let mut buf = Vec::new();
    if let Ok(n) = f.read_to_end(&mut buf) {
        *pos += n as u64;
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(&buf);
        let _ = out.flush();
    }
}

/// Runs `step` in `root`, logging to `log`. Returns how it ended and its wall time.
pub fn run(step: &Step, root: &Path, log: &Path, verbose: bool, stop: &AtomicBool) -> (Exit, f64) {
    let start = Instant::now();
    let mut file = match File::create(log) {
        Ok(f) => f,
        Err(e) => {
            return (
                Exit::SpawnFailed(format!("cannot create {}: {e}", log.display())),
                0.0,
            )
        }
    };
    let _ = writeln!(file, "$ {}\n", step.command_line());
    let (out, err) = match (file.try_clone(), file.try_clone()) {
        (Ok(a), Ok(b)) => (a, b),
        _ => {
            return (
                Exit::SpawnFailed("cannot duplicate the log handle".into()),
                0.0,
            )
        }
    };
    let mut cmd = Command::new(&step.program);
    cmd.args(step.args())
        .current_dir(root)
        .envs(step.env.iter().map(|(k, v)| (k, v)))
        // Plain text logs: the gate parses them.
        .env("CARGO_TERM_COLOR", "never")
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .process_group(0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(file, "gate: could not start {}: {e}", step.program);
            return (
                Exit::SpawnFailed(e.to_string()),
                start.elapsed().as_secs_f64(),
            );
        }
    };
    let timeout = Duration::from_secs(step.timeout_secs);
    let mut pos = 0u64;
    let exit = loop {
        if verbose {
            stream(log, &mut pos);
        }
        match child.try_wait() {
            Ok(Some(status)) => {
                // Strays of a finished step (e.g. a test's orphaned child) do not outlive it.
                signal_group(&child, Signal::KILL);
                break match status.code() {
                    Some(c) => Exit::Code(c),
                    None => {
                        let _ = status.signal();
                        Exit::Signal
                    }
                };
            }
            Ok(None) => {}
            Err(e) => {
                stop_group(&mut child, Duration::from_secs(2));
                break Exit::SpawnFailed(format!("wait failed: {e}"));
            }
        }
        if stop.load(Ordering::Relaxed) {
            stop_group(&mut child, Duration::from_secs(3));
            let _ = writeln!(file, "\ngate: interrupted");
            break Exit::Interrupted;
        }
        if start.elapsed() > timeout {
            stop_group(&mut child, Duration::from_secs(5));
            let _ = writeln!(
                file,
                "\ngate: step {} timed out after {} s and was killed",
                step.name, step.timeout_secs
            );
            break Exit::TimedOut(step.timeout_secs);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    if verbose {
        stream(log, &mut pos);
    }
    (exit, start.elapsed().as_secs_f64())
}
