//! Helpers for the process tests: spawning children that are always reaped (also when an
//! assertion fails), reading their stdout lines with a deadline, planting lock files, copying
//! binaries where another uid can run them.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long any single wait on a child may take before the test fails (never a timing
/// assertion: only a bound, so that a broken child fails the test instead of hanging it).
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A command whose child starts like a foreground process: the cleanup signals and SIGUSR1 at
/// their default disposition (a test runner started in the background may have SIGINT and
/// SIGQUIT ignored, and children inherit that), and no core dumps left in the working directory.
pub fn command(program: &str) -> Command {
    let mut cmd = Command::new(program);
    // SAFETY: the closure runs in the child between fork and exec and only makes
    // async-signal-safe calls (signal, setrlimit) on values it owns.
    unsafe {
        cmd.pre_exec(|| {
            for s in [
                libc::SIGINT,
                libc::SIGTERM,
                libc::SIGQUIT,
                libc::SIGABRT,
                libc::SIGUSR1,
            ] {
                libc::signal(s, libc::SIG_DFL);
            }
            let no_core = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            libc::setrlimit(libc::RLIMIT_CORE, &no_core);
            Ok(())
        });
    }
    cmd
}

/// A running child: killed and reaped on drop, whatever happened to the test.
pub struct Proc {
    pub scenario: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
    /// Set when the stderr reader reached end of file: everything the child wrote is in `stderr`.
    stderr_done: Arc<std::sync::atomic::AtomicBool>,
    status: Option<ExitStatus>,
}

impl Proc {
    /// Spawns `cmd` with piped stdin, stdout and stderr.
    pub fn spawn(mut cmd: Command, scenario: &str) -> Proc {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => panic!("[{scenario}] cannot spawn {cmd:?}: {e}"),
        };
        let stdin = child.stdin.take();
        let (tx, lines) = mpsc::channel();
        if let Some(out) = child.stdout.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let stderr = Arc::new(Mutex::new(String::new()));
        let stderr_done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        if let Some(mut err) = child.stderr.take() {
            let sink = Arc::clone(&stderr);
            let done = Arc::clone(&stderr_done);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = err.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                    sink.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push_str(&text);
                }
                done.store(true, std::sync::atomic::Ordering::Release);
            });
        }
        Proc {
            scenario: scenario.to_string(),
            child,
            stdin,
            lines,
            stderr,
            stderr_done,
            status: None,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the child wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The next stdout line, waiting at most [`PATIENCE`].
    pub fn line(&mut self, what: &str) -> String {
        match self.lines.recv_timeout(PATIENCE) {
            Ok(l) => l,
            Err(RecvTimeoutError::Timeout) => panic!(
                "[{}] no stdout line ({what}) within {PATIENCE:?}; stderr: {}",
                self.scenario,
                self.stderr()
            ),
            Err(RecvTimeoutError::Disconnected) => {
                let status = self.wait();
                panic!(
                    "[{}] stdout closed before {what} (status {status:?}); stderr: {}",
                    self.scenario,
                    self.stderr()
                )
            }
        }
    }

    /// The next stdout line as JSON.
    pub fn json(&mut self, what: &str) -> Value {
        let line = self.line(what);
        match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(e) => panic!("[{}] {what}: not JSON ({e}): {line:?}", self.scenario),
        }
    }

    /// Writes one line to the child's stdin.
    pub fn send(&mut self, line: &str) {
        let scenario = self.scenario.clone();
        let Some(stdin) = self.stdin.as_mut() else {
            panic!("[{scenario}] stdin already closed");
        };
        if let Err(e) = writeln!(stdin, "{line}").and_then(|()| stdin.flush()) {
            panic!("[{scenario}] writing {line:?} to the child: {e}");
        }
    }

    /// Closes the child's stdin (EOF).
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Sends `signal` to the child.
    pub fn signal(&self, signal: i32) {
        let Ok(pid) = libc::pid_t::try_from(self.pid()) else {
            panic!("[{}] pid out of range", self.scenario);
        };
        // SAFETY: kill has no memory effects; the child is ours and not yet reaped.
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(
            rc,
            0,
            "[{}] kill({pid}, {signal}): {}",
            self.scenario,
            std::io::Error::last_os_error()
        );
    }

    /// Still running (not exited)?
    pub fn running(&mut self) -> bool {
        self.status.is_none() && matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for the child to exit (bounded poll; never used to assert timing) and reaps it.
    pub fn wait(&mut self) -> ExitStatus {
        if let Some(s) = self.status {
            return s;
        }
        let deadline = Instant::now() + PATIENCE;
        loop {
            match self.child.try_wait() {
                Ok(Some(s)) => {
                    self.status = Some(s);
                    self.drain_stderr(deadline);
                    return s;
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Ok(None) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    panic!(
                        "[{}] child {} did not exit within {PATIENCE:?}; stderr: {}",
                        self.scenario,
                        self.pid(),
                        self.stderr()
                    );
                }
                Err(e) => panic!("[{}] waiting for the child: {e}", self.scenario),
            }
        }
    }

    /// After the child exited: lets the stderr reader reach end of file, so `stderr()` holds all
    /// of it (bounded: a grandchild that inherited the pipe may keep it open).
    fn drain_stderr(&self, deadline: Instant) {
        while !self.stderr_done.load(std::sync::atomic::Ordering::Acquire)
            && Instant::now() < deadline
        {
            std::thread::yield_now();
        }
    }

    /// Waits and asserts the child was ended by `signal`.
    pub fn assert_killed_by(&mut self, signal: i32, what: &str) {
        let status = self.wait();
        assert_eq!(
            status.signal(),
            Some(signal),
            "[{}] {what}: expected death by signal {signal}, got {status:?}; stderr: {}",
            self.scenario,
            self.stderr()
        );
    }

    /// Waits and asserts a zero exit.
    pub fn assert_success(&mut self, what: &str) {
        let status = self.wait();
        assert!(
            status.success(),
            "[{}] {what}: expected exit 0, got {status:?}; stderr: {}",
            self.scenario,
            self.stderr()
        );
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stdin = None;
        if self.status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs a command to completion (stdin closed), returning (status, stdout, stderr).
pub fn run(mut cmd: Command, scenario: &str) -> (ExitStatus, String, String) {
    cmd.stdin(Stdio::null());
    match cmd.output() {
        Ok(o) => (
            o.status,
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        ),
        Err(e) => panic!("[{scenario}] cannot run {cmd:?}: {e}"),
    }
}

/// A pid that is certainly dead now: a child that exited and was reaped (a zombie would still
/// be "dead" to the probe, but a reaped pid is not even a zombie).
pub fn dead_pid() -> u32 {
    let mut child = match Command::new("true").spawn() {
        Ok(c) => c,
        Err(e) => panic!("cannot spawn `true`: {e}"),
    };
    let pid = child.id();
    let _ = child.wait();
    pid
}

pub fn now_ms() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

/// RFC 3339 `createdAt`, `ago_ms` in the past.
pub fn created_at(ago_ms: i64) -> String {
    lockcore::payload::format_rfc3339_ms(now_ms() - ago_ms)
}

/// Writes a file (a planted lock file, as another process would have left it).
pub fn plant(path: &Path, contents: &str) {
    if let Err(e) = std::fs::write(path, contents) {
        panic!("cannot plant {}: {e}", path.display());
    }
}

/// The legacy shape `{pid, createdAt}`.
pub fn legacy(pid: u32, ago_ms: i64) -> String {
    format!(
        "{{\n  \"pid\": {pid},\n  \"createdAt\": \"{}\"\n}}",
        created_at(ago_ms)
    )
}

/// The nonce-bearing shape `{pid, nonce, createdAt}`.
pub fn with_nonce(pid: u32, nonce: &str, ago_ms: i64) -> String {
    format!(
        "{{\n  \"pid\": {pid},\n  \"nonce\": \"{nonce}\",\n  \"createdAt\": \"{}\"\n}}",
        created_at(ago_ms)
    )
}

/// The nonce-bearing shape written by a lockcore process in *our* pid namespace (it carries our
/// `host`), so the pid rules apply to it; the host-less shapes fail closed (P14).
pub fn with_nonce_here(pid: u32, nonce: &str, ago_ms: i64) -> String {
    use lockcore::Procs;
    let host = lockcore::os::OsProcs::current().identity().host;
    let host = serde_json::to_string(&host).unwrap_or_else(|_| "null".into());
    format!(
        "{{\n  \"pid\": {pid},\n  \"nonce\": \"{nonce}\",\n  \"createdAt\": \"{}\",\n  \"host\": {host}\n}}",
        created_at(ago_ms)
    )
}

/// Sets a file's mtime `ago` in the past.
pub fn age_mtime(path: &Path, ago: Duration) {
    let result = std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(SystemTime::now() - ago));
    if let Err(e) = result {
        panic!("cannot set the mtime of {}: {e}", path.display());
    }
}

pub fn exists(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

pub fn read(path: &Path) -> String {
    match std::fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) => panic!("cannot read {}: {e}", path.display()),
    }
}

/// Entries of `dir` whose names end with `suffix`.
pub fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.ends_with(suffix))
            })
            .collect(),
        Err(e) => panic!("cannot list {}: {e}", dir.display()),
    };
    out.sort();
    out
}

pub fn tempdir() -> tempfile::TempDir {
    match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("cannot create a temp dir: {e}"),
    }
}

/// Parses `enter ID N` / `leave ID N` records and asserts no two critical sections overlap and
/// every id got in `rounds` times (P1 on real processes).
pub fn assert_no_overlap(log: &str, ids: &[String], rounds: usize, scenario: &str) {
    let mut inside: Option<&str> = None;
    let mut entries: std::collections::BTreeMap<&str, usize> = Default::default();
    for (n, line) in log.lines().enumerate() {
        let mut words = line.split_whitespace();
        let (kind, id) = (words.next(), words.next());
        match (kind, id, inside) {
            (Some("enter"), Some(id), None) => {
                inside = Some(id);
                *entries.entry(id).or_default() += 1;
            }
            (Some("enter"), Some(id), Some(holder)) => panic!(
                "[{scenario}] P1 violated: {id} entered at log line {} while {holder} was inside\n{log}",
                n + 1
            ),
            (Some("leave"), Some(id), Some(holder)) if id == holder => inside = None,
            _ => panic!(
                "[{scenario}] unexpected log line {} {line:?} (inside: {inside:?})\n{log}",
                n + 1
            ),
        }
    }
    assert_eq!(
        inside, None,
        "[{scenario}] the log ends inside a critical section"
    );
    for id in ids {
        assert_eq!(
            entries.get(id.as_str()).copied().unwrap_or(0),
            rounds,
            "[{scenario}] {id} did not get in {rounds} times\n{log}"
        );
    }
}

/// True when every directory from `/` down to `path` lets any user through (`o+x`): a process
/// dropped to another uid can then reach `path` wherever the checkout lives.
pub fn traversable_by_anyone(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.ancestors().skip(1).all(|dir| {
        dir.as_os_str().is_empty()
            || std::fs::metadata(dir).is_ok_and(|m| m.permissions().mode() & 0o001 != 0)
    })
}

/// Copies of `bins` in a fresh temp dir that any user may enter and execute from: the checkout,
/// and so `target/`, may sit under a `0700` home that a test's other-uid child cannot reach.
/// `Err(reason)` when no such place can be made (say, `TMPDIR` itself is private).
pub fn copies_for_any_user(bins: &[&str]) -> Result<(tempfile::TempDir, Vec<PathBuf>), String> {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().map_err(|e| format!("cannot create a temp dir: {e}"))?;
    let mode = |p: &Path, m: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m))
            .map_err(|e| format!("chmod {}: {e}", p.display()))
    };
    mode(dir.path(), 0o755)?;
    if !traversable_by_anyone(&dir.path().join("x")) {
        return Err(format!(
            "{} is not reachable by other users (a private TMPDIR?)",
            dir.path().display()
        ));
    }
    let mut out = Vec::new();
    for bin in bins {
        let name = Path::new(bin).file_name().unwrap_or_default();
        let copy = dir.path().join(name);
        std::fs::copy(bin, &copy).map_err(|e| format!("copy {bin}: {e}"))?;
        mode(&copy, 0o755)?;
        out.push(copy);
    }
    Ok((dir, out))
}
