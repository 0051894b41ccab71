//! Plumbing for the fault-injection layer (`tests/faults.rs`, and the CLI test's kill before the
//! release): running a command with a kill deadline, probing strace, and reading strace logs to
//! find the system calls made on the lock directory.

use std::collections::HashMap;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// How a bounded run ended.
#[derive(Debug, Default)]
pub struct Ran {
    /// The exit code, if the process exited.
    pub code: Option<i32>,
    /// The signal that killed it, if one did.
    pub signal: Option<i32>,
    /// The deadline passed and the process group was killed.
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// `exit 1`, `signal 9`, `killed at the deadline`.
    pub fn describe(&self) -> String {
        match (self.timed_out, self.code, self.signal) {
            (true, _, _) => "killed at the deadline".to_string(),
            (_, Some(c), _) => format!("exit {c}"),
            (_, _, Some(s)) => format!("signal {s}"),
            _ => "unknown end".to_string(),
        }
    }
}

fn drain(pipe: Option<impl Read + Send + 'static>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// Runs `cmd` in its own process group with stdin at /dev/null; past `deadline` the whole group
/// gets SIGKILL (a bound so a hang fails the case instead of the suite, never a timing check).
pub fn run_bounded(mut cmd: Command, deadline: Duration) -> std::io::Result<Ran> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd.spawn()?;
    let pgid = libc::pid_t::try_from(child.id()).unwrap_or(0);
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let (tx, rx) = mpsc::channel();
    let waiter = thread::spawn(move || {
        let status = child.wait();
        let _ = tx.send(());
        status
    });
    let timed_out = rx.recv_timeout(deadline).is_err();
    if timed_out && pgid > 0 {
        // SAFETY: signals the process group we created; its leader is not reaped yet.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
    }
    let status = waiter
        .join()
        .map_err(|_| std::io::Error::other("waiter thread panicked"))??;
    Ok(Ran {
        code: status.code(),
        signal: status.signal(),
        timed_out,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

/// Why the layer cannot run here, if it cannot: strace missing, or ptrace not permitted.
pub fn skip_reason() -> Option<String> {
    let bounded = |args: &[&str]| {
        let mut cmd = Command::new("strace");
        cmd.args(args);
        run_bounded(cmd, Duration::from_secs(30))
    };
    match bounded(&["-V"]) {
        Err(e) => {
            return Some(format!(
                "strace not found ({e}); install strace (apt-get install strace)"
            ))
        }
        Ok(r) if r.code != Some(0) => return Some(format!("`strace -V` failed: {}", r.describe())),
        Ok(_) => {}
    }
    match bounded(&["-f", "-qq", "-o", "/dev/null", "true"]) {
        Ok(r) if r.code == Some(0) => None,
        Ok(r) => Some(format!(
            "ptrace not permitted (`strace -o /dev/null true`: {}: {})",
            r.describe(),
            r.stderr.lines().next().unwrap_or("").trim()
        )),
        Err(e) => Some(format!("cannot run strace: {e}")),
    }
}

/// One system call on the lock directory, as discovery saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Site {
    pub syscall: String,
    /// The how-manieth call of this syscall on the lock directory (1-based), over all threads.
    pub occurrence: u32,
    /// strace's `when=` for it: the ordinal among *all* this thread's calls of the syscall,
    /// because strace counts injections per syscall and per tracee, not per path.
    pub when: u32,
    /// The traced call, with the lock directory written as `DIR`.
    pub call: String,
    /// The paths it touched, publish temp files as `DIR/TEMP` (their names are random).
    pub target: String,
    /// The first call of this syscall on this target in the run.
    pub first_of_kind: bool,
}

/// `(tid, rest of line)` for a strace `-f -o FILE` line.
fn split_tid(line: &str) -> Option<(&str, &str)> {
    let (tid, rest) = line.split_once(char::is_whitespace)?;
    tid.bytes()
        .all(|b| b.is_ascii_digit())
        .then_some((tid, rest.trim_start()))
}

/// The syscall name at the start of an entry line (`openat(...`); `None` for `<... resumed>`,
/// signals, exits.
fn syscall_name(rest: &str) -> Option<&str> {
    let (name, _) = rest.split_once('(')?;
    (!name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        .then_some(name)
}

/// Whether a line names `dir` or a path inside it: as a whole string argument, or (with `-y`)
/// as the path behind a file descriptor. A string that strace truncated (`"…"...`) or escaped
/// is data (a `write` buffer), not a path argument.
pub fn touches(rest: &str, dir: &str) -> bool {
    !paths_in(rest, dir).is_empty()
}

/// The paths in `dir` that a line names, in order.
fn paths_in<'a>(rest: &'a str, dir: &str) -> Vec<&'a str> {
    let in_dir = |p: &&str| *p == dir || p.strip_prefix(dir).is_some_and(|r| r.starts_with('/'));
    let fd_paths = rest
        .split('<')
        .skip(1)
        .filter_map(|s| s.split_once('>'))
        .map(|(p, _)| p);
    let mut out: Vec<&str> = Vec::new();
    for p in quoted_paths(rest).chain(fd_paths).filter(in_dir) {
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

/// The paths of a line as a stable key: `DIR` for the directory, `DIR/TEMP` for temp files.
fn target(rest: &str, dir: &str) -> String {
    let names: Vec<String> = paths_in(rest, dir)
        .iter()
        .map(|p| {
            let p = p.replacen(dir, "DIR", 1);
            if p.ends_with(".lktmp") {
                "DIR/TEMP".to_string()
            } else {
                p
            }
        })
        .collect();
    names.join(" ")
}

/// The complete, unescaped `"..."` strings of a strace line.
fn quoted_paths(rest: &str) -> impl Iterator<Item = &str> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(open) = rest[at..].find('"').map(|i| at + i + 1) {
        let mut end = open;
        let mut escaped = false;
        let bytes = rest.as_bytes();
        while end < bytes.len() && bytes[end] != b'"' {
            if bytes[end] == b'\\' {
                escaped = true;
                end += 1;
            }
            end += 1;
        }
        if end >= bytes.len() {
            break;
        }
        if !escaped && !rest[end + 1..].starts_with("...") {
            out.push(&rest[open..end]);
        }
        at = end + 1;
    }
    out.into_iter()
}

/// Every call on `dir` in a `strace -f -y -o FILE` log, with its per-thread `when=` ordinal.
pub fn sites(log: &str, dir: &str) -> Vec<Site> {
    let mut per_thread: HashMap<(&str, &str), u32> = HashMap::new();
    let mut per_syscall: HashMap<String, u32> = HashMap::new();
    let mut out: Vec<Site> = Vec::new();
    for line in log.lines() {
        let Some((tid, rest)) = split_tid(line) else {
            continue;
        };
        let Some(name) = syscall_name(rest) else {
            continue;
        };
        let when = per_thread.entry((tid, name)).or_insert(0);
        *when += 1;
        if !touches(rest, dir) {
            continue;
        }
        // Two threads' calls with the same ordinal are one injection: keep the first.
        if out.iter().any(|s| s.syscall == name && s.when == *when) {
            continue;
        }
        let occurrence = per_syscall.entry(name.to_string()).or_insert(0);
        *occurrence += 1;
        let target = target(rest, dir);
        let first_of_kind = !out.iter().any(|s| s.syscall == name && s.target == target);
        out.push(Site {
            syscall: name.to_string(),
            occurrence: *occurrence,
            when: *when,
            call: rest.replace(dir, "DIR"),
            target,
            first_of_kind,
        });
    }
    out
}

/// Whether strace's log shows an injected call on `dir` (the ordinal found by discovery still
/// points at the lock directory in this run).
pub fn landed(log: &str, dir: &str) -> bool {
    log.lines()
        .filter_map(split_tid)
        .any(|(_, rest)| rest.contains("(INJECTED)") && touches(rest, dir))
}

/// Quotes a word for a POSIX shell when it needs it.
pub fn shell_word(w: &str) -> String {
    if !w.is_empty()
        && w.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
    {
        w.to_string()
    } else {
        format!("'{}'", w.replace('\'', r"'\''"))
    }
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
