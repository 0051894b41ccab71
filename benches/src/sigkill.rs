//! `reclaim/after_sigkill`: how long a waiter in another process takes to get a lock whose
//! holder was SIGKILLed while it waited.
//!
//! A chain of processes on one session: each link (`multiproc sigkill-peer <session>`) says
//! `waiting <ns>`, calls `acquire`, says `acquired <ns> <how>` and holds until its stdin closes.
//! The driver ([`Chain`]) keeps one link holding; for each measurement it starts the next link,
//! lets it wait, SIGKILLs the holder and reads when the new link got the lock. The new link is
//! the next holder, so each measurement costs one process start. Times are wall-clock
//! nanoseconds, comparable across processes.

use lockcore::{AcquireOptions, LockManager, OsEnv, Policy};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::CONTENDED_TIMEOUT;

type Result<T> = std::result::Result<T, String>;

/// Nanoseconds since the Unix epoch (the clock every process of the chain shares).
pub fn wall_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_nanos()
}

/// One link of the chain (the child side): wait for the lock, say when it came, hold it until
/// stdin closes (in the bench: until SIGKILL).
pub fn link(session: &Path) -> Result<()> {
    let mgr = LockManager::new(OsEnv::new(), Policy::default());
    let opts = AcquireOptions {
        reentrant: true,
        timeout: Some(CONTENDED_TIMEOUT),
    };
    let mut out = std::io::stdout().lock();
    let say = |out: &mut std::io::StdoutLock, line: String| {
        writeln!(out, "{line}")
            .and_then(|()| out.flush())
            .map_err(|e| format!("stdout: {e}"))
    };
    say(&mut out, format!("waiting {}", wall_ns()))?;
    let guard = mgr
        .acquire_with(session, opts)
        .map_err(|e| format!("acquire: {e}"))?;
    let at = wall_ns();
    say(&mut out, format!("acquired {at} {}", guard.how()))?;
    let mut sink = Vec::new();
    std::io::stdin()
        .read_to_end(&mut sink)
        .map_err(|e| format!("stdin: {e}"))?;
    drop(guard);
    Ok(())
}

struct Link {
    child: Child,
    stdout: BufReader<ChildStdout>,
}

impl Link {
    fn spawn(exe: &Path, session: &Path) -> Result<Link> {
        let mut child = Command::new(exe)
            .arg("sigkill-peer")
            .arg(session)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", exe.display()))?;
        let stdout = child.stdout.take().ok_or("child stdout not piped")?;
        let mut link = Link {
            child,
            stdout: BufReader::new(stdout),
        };
        link.expect("waiting")?;
        Ok(link)
    }

    /// Reads the next line, which must start with `word`; returns the words after it.
    fn expect(&mut self, word: &str) -> Result<Vec<String>> {
        let mut line = String::new();
        self.stdout
            .read_line(&mut line)
            .map_err(|e| format!("sigkill-peer: {e}"))?;
        let mut words = line.split_whitespace().map(str::to_string);
        if words.next().as_deref() != Some(word) {
            return Err(format!(
                "sigkill-peer: expected `{word}`, got `{}`",
                line.trim()
            ));
        }
        Ok(words.collect())
    }

    /// Waits for `acquired <ns> <how>`; returns the time and how.
    fn acquired(&mut self) -> Result<(u128, String)> {
        let words = self.expect("acquired")?;
        let at = words
            .first()
            .and_then(|w| w.parse().ok())
            .ok_or("sigkill-peer: bad `acquired` line")?;
        Ok((at, words.get(1).cloned().unwrap_or_default()))
    }
}

/// The driver: a temp directory, one session, the link holding it.
pub struct Chain {
    exe: PathBuf,
    session: PathBuf,
    holder: Link,
    _dir: tempfile::TempDir,
}

impl Chain {
    /// Starts a chain of copies of `exe` (the `multiproc` binary) with a first link holding.
    pub fn start(exe: &Path) -> Result<Chain> {
        let dir = tempfile::Builder::new()
            .prefix("lockcore-sigkill-")
            .tempdir()
            .map_err(|e| format!("temp dir: {e}"))?;
        let session = dir.path().join("session.json");
        let mut holder = Link::spawn(exe, &session)?;
        let (_, how) = holder.acquired()?;
        if how != "fresh" {
            return Err(format!("first link acquired `{how}`, expected `fresh`"));
        }
        Ok(Chain {
            exe: exe.to_path_buf(),
            session,
            holder,
            _dir: dir,
        })
    }

    /// Starts the next link, lets it wait in `acquire` for `wait_first`, SIGKILLs the holder and
    /// returns the time from the kill to the new link's guard (it must have reclaimed the dead
    /// holder's file). The new link holds from then on.
    pub fn kill_once(&mut self, wait_first: Duration) -> Result<Duration> {
        let next = Link::spawn(&self.exe, &self.session)?;
        std::thread::sleep(wait_first);
        let mut old = std::mem::replace(&mut self.holder, next);
        let killed = wall_ns();
        old.child.kill().map_err(|e| format!("SIGKILL: {e}"))?;
        old.child.wait().map_err(|e| format!("reap: {e}"))?;
        let (at, how) = self.holder.acquired()?;
        if how != "reclaimed:dead-pid" {
            return Err(format!(
                "waiter acquired `{how}` after the kill, expected `reclaimed:dead-pid`"
            ));
        }
        let ns = at.saturating_sub(killed);
        Ok(Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX)))
    }

    /// Lets the last holder release and exit.
    pub fn finish(mut self) -> Result<()> {
        drop(self.holder.child.stdin.take());
        let status = self.holder.child.wait().map_err(|e| format!("wait: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("last link failed: {status}"))
        }
    }
}

/// How long the `i`-th link waits in `acquire` before the kill: 5 to 60 ms, spread over the
/// waiter's backoff (1 ms doubling to 50 ms) so that the kill lands at every point of a sleep.
pub fn wait_before_kill(i: u64) -> Duration {
    Duration::from_millis(5 + (i * 17) % 56)
}
