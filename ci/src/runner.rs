//! Runs one step: its own process group, stdout and stderr merged *line by line* into
//! `target/gate/logs/<step>.log`, a timeout, and Ctrl-C / SIGTERM forwarded to the whole group.
//!
//! Line-level merging matters: a test binary's stdout writes a long `LOCKCORE-MUTANT` line in
//! several pieces while another test thread prints a panic to stderr; with both streams on one
//! file descriptor the pieces interleave mid-line and the line no longer parses. Here each stream
//! is read through its own pipe and only whole lines are written to the log.

use crate::gate::{Exit, Step};
use rustix::process::{kill_process_group, Pid, Signal};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
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

/// Copies `pipe` to `log` one whole line at a time (and to our stdout with `verbose`); says
/// `done` at end of stream.
fn pump(
    pipe: impl Read + Send + 'static,
    log: Arc<Mutex<File>>,
    verbose: bool,
    done: mpsc::Sender<()>,
) {
    std::thread::spawn(move || {
        let mut reader = BufReader::with_capacity(64 * 1024, pipe);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if let Ok(mut f) = log.lock() {
                        let _ = f.write_all(&line);
                    }
                    if verbose {
                        let mut out = std::io::stdout().lock();
                        let _ = out.write_all(&line);
                    }
                }
            }
        }
        let _ = done.send(());
    });
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
    let file = Arc::new(Mutex::new(file));
    let note = |text: String| {
        if let Ok(mut f) = file.lock() {
            let _ = writeln!(f, "{text}");
        }
    };
    let mut cmd = Command::new(&step.program);
    cmd.args(step.args())
        .current_dir(root)
        .envs(step.env.iter().map(|(k, v)| (k, v)))
        // Plain text logs: the gate parses them.
        .env("CARGO_TERM_COLOR", "never")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            note(format!("gate: could not start {}: {e}", step.program));
            return (
                Exit::SpawnFailed(e.to_string()),
                start.elapsed().as_secs_f64(),
            );
        }
    };
    let (done_tx, done_rx) = mpsc::channel();
    let mut pumps = 0;
    if let Some(out) = child.stdout.take() {
        pump(out, Arc::clone(&file), verbose, done_tx.clone());
        pumps += 1;
    }
    if let Some(err) = child.stderr.take() {
        pump(err, Arc::clone(&file), verbose, done_tx.clone());
        pumps += 1;
    }
    drop(done_tx);

    let timeout = Duration::from_secs(step.timeout_secs);
    let exit = loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                // Strays of a finished step (e.g. a test's orphaned child) do not outlive it.
                signal_group(&child, Signal::KILL);
                break match status.code() {
                    Some(c) => Exit::Code(c),
                    None => Exit::Signal,
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
            break Exit::Interrupted;
        }
        if start.elapsed() > timeout {
            stop_group(&mut child, Duration::from_secs(5));
            break Exit::TimedOut(step.timeout_secs);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    // Drain what the pipes still hold. A process that left the group and keeps a pipe open
    // cannot hold the gate: give up on it after a few seconds.
    let deadline = Instant::now() + Duration::from_secs(10);
    for _ in 0..pumps {
        let left = deadline.saturating_duration_since(Instant::now());
        if done_rx.recv_timeout(left).is_err() {
            break;
        }
    }
    match &exit {
        Exit::Interrupted => note("\ngate: interrupted".to_string()),
        Exit::TimedOut(s) => note(format!(
            "\ngate: step {} timed out after {s} s and was killed",
            step.name
        )),
        _ => {}
    }
    (exit, start.elapsed().as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::Kind;

    fn sh(name: &'static str, script: &str, timeout_secs: u64) -> Step {
        Step {
            name,
            kind: Kind::Check,
            program: "sh".to_string(),
            base: vec!["-c".to_string(), script.to_string()],
            filter: None,
            harness: Vec::new(),
            env: vec![("GATE_TEST_VAR".to_string(), "x1".to_string())],
            timeout_secs,
        }
    }

    fn log_path(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("lockcore-gate-{}-{name}.log", std::process::id()))
    }

    #[test]
    fn lines_of_stdout_and_stderr_do_not_interleave() {
        let log = log_path("merge");
        let step = sh(
            "merge",
            r#"printf 'LOCKCORE-MUTANT {"id":'; printf 'a panic line\n' >&2; sleep 0.2; printf '"%s"}\n' "$GATE_TEST_VAR"; exit 3"#,
            30,
        );
        let (exit, _) = run(&step, Path::new("."), &log, false, &AtomicBool::new(false));
        assert_eq!(exit, Exit::Code(3));
        let text = std::fs::read_to_string(&log).unwrap();
        let _ = std::fs::remove_file(&log);
        assert!(text.starts_with("$ GATE_TEST_VAR=x1 sh -c "), "{text}");
        assert!(
            text.lines().any(|l| l == r#"LOCKCORE-MUTANT {"id":"x1"}"#),
            "{text}"
        );
        assert!(text.lines().any(|l| l == "a panic line"), "{text}");
    }

    #[test]
    fn a_step_that_overruns_is_killed() {
        let log = log_path("timeout");
        let step = sh("timeout", "echo started; sleep 30 & wait", 1);
        let t = Instant::now();
        let (exit, _) = run(&step, Path::new("."), &log, false, &AtomicBool::new(false));
        assert_eq!(exit, Exit::TimedOut(1));
        assert!(t.elapsed() < Duration::from_secs(20));
        let text = std::fs::read_to_string(&log).unwrap();
        let _ = std::fs::remove_file(&log);
        assert!(text.contains("started"));
        assert!(text.contains("timed out after 1 s"));
    }

    #[test]
    fn a_stop_request_interrupts() {
        let log = log_path("stop");
        let step = sh("stop", "sleep 30", 60);
        let (exit, secs) = run(&step, Path::new("."), &log, false, &AtomicBool::new(true));
        let _ = std::fs::remove_file(&log);
        assert_eq!(exit, Exit::Interrupted);
        assert!(secs < 20.0);
    }

    #[test]
    fn a_missing_program_is_reported() {
        let log = log_path("missing");
        let step = Step {
            program: "/nonexistent/lockcore-gate-no-such-program".to_string(),
            ..sh("missing", "", 5)
        };
        let (exit, _) = run(&step, Path::new("."), &log, false, &AtomicBool::new(false));
        let _ = std::fs::remove_file(&log);
        assert!(matches!(exit, Exit::SpawnFailed(_)));
    }
}
