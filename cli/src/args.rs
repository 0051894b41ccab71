//! The command line: subcommands, their flags, and the policy flags every subcommand takes.

use crate::Failure;
use clap::{Args, Parser, Subcommand};
use lockcore::Policy;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "lockcore",
    // The usage lines say `lockcore`, not the file name in argv[0].
    bin_name = "lockcore",
    version,
    about = "Inspect, clean, hold and run under lockcore session locks (<session file>.lock)"
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) cmd: Cmd,
}

#[derive(Args, Debug, Clone, Copy)]
pub(crate) struct PolicyArgs {
    /// A lock whose owner cannot be shown dead is stale once older than this (default 30 min).
    #[arg(long, value_name = "MS")]
    stale_after_ms: Option<u64>,
    /// A malformed lock file or publish temp file is stale once its mtime is older than this
    /// (default 30 s).
    #[arg(long, value_name = "MS")]
    grace_ms: Option<u64>,
    /// Judge lock files without a `host` (other implementations, old lockcore) by their pid,
    /// nonce and a liveness probe. Only safe when every process using the directory runs in
    /// this pid namespace: a live owner in another container would look dead.
    #[arg(long)]
    same_pid_namespace: bool,
    /// The lease declared in our lock files while we refresh them (default 30000; 0: none).
    #[arg(long, value_name = "MS")]
    lease_ms: Option<u64>,
    /// How often held locks are refreshed (default 10000, or a third of a shorter lease); must
    /// be shorter than the lease.
    #[arg(long, value_name = "MS")]
    refresh_ms: Option<u64>,
    /// The longest we promise to hold (`maxHoldMs`; default: no limit).
    #[arg(long, value_name = "MS")]
    max_hold_ms: Option<u64>,
    /// Wait in arrival order behind waiters of other `--fair` processes (a ticket file
    /// `.<lock name>.<arrival>.<pid>-<token>.lkq` beside the lock while waiting): bounded waits
    /// under contention, at a cost in throughput. Best effort: others may go first.
    #[arg(long)]
    fair: bool,
    /// Queue behind the other waiters once we have waited this long for another process's
    /// lock, and let queued waiters go first meanwhile (default 2; `never`: the race alone
    /// decides who is served next).
    #[arg(long, value_name = "MS|never", value_parser = parse_queue_after)]
    queue_after_ms: Option<Duration>,
}

/// `--queue-after-ms`: milliseconds, or `never`.
fn parse_queue_after(v: &str) -> Result<Duration, String> {
    if v == "never" {
        return Ok(Duration::MAX);
    }
    v.parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|e| format!("{e}: milliseconds or `never`"))
}

impl PolicyArgs {
    /// The policy, or a usage error (exit 2) for a refresh period that does not fit in the
    /// lease: the holder's own lock would expire between two refreshes.
    pub(crate) fn policy(self, timeout_ms: Option<u64>) -> Result<Policy, Failure> {
        let policy = self.unchecked_policy(timeout_ms);
        match policy.lease {
            Some(lease) if policy.refresh_every >= lease => Err(Failure {
                code: 2,
                message: format!(
                    "--refresh-ms {} must be shorter than the lease ({} ms), or the lock \
                     expires between two refreshes; refresh three times per lease",
                    policy.refresh_every.as_millis(),
                    lease.as_millis()
                ),
            }),
            _ => Ok(policy),
        }
    }

    fn unchecked_policy(self, timeout_ms: Option<u64>) -> Policy {
        let d = Policy::default();
        let lease = match self.lease_ms {
            Some(0) => None,
            Some(ms) => Some(Duration::from_millis(ms)),
            None => d.lease,
        };
        // Without --refresh-ms: the default period, or a third of a shorter lease.
        let refresh_every = match (self.refresh_ms, lease) {
            (Some(ms), _) => Duration::from_millis(ms.max(1)),
            (None, Some(l)) => d.refresh_every.min(l / 3).max(Duration::from_millis(1)),
            (None, None) => d.refresh_every,
        };
        // `..d` fills the `mutant` field that exists only with the `mutants` feature.
        #[allow(clippy::needless_update)]
        Policy {
            stale_after: self
                .stale_after_ms
                .map_or(d.stale_after, Duration::from_millis),
            malformed_grace: self
                .grace_ms
                .map_or(d.malformed_grace, Duration::from_millis),
            acquire_timeout: timeout_ms.map_or(d.acquire_timeout, Duration::from_millis),
            same_pid_namespace: self.same_pid_namespace,
            lease,
            refresh_every,
            max_hold: self.max_hold_ms.map(Duration::from_millis),
            fair: self.fair,
            queue_after: self.queue_after_ms.unwrap_or(d.queue_after),
            ..d
        }
    }
}

#[derive(Subcommand, Debug)]
pub(crate) enum Cmd {
    /// List every *.lock file in DIR with its owner, age and verdict.
    Inspect {
        /// The directory to inspect.
        dir: PathBuf,
        /// Print one JSON array instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// Acquire SESSION_FILE.lock, print one JSON line, hold until --hold-ms passes, stdin
    /// closes or SIGINT/SIGTERM/SIGQUIT arrives, then release. If the lock is lost (a refresh
    /// finds its file removed or replaced), print `{"compromised": PATH}` and exit 1 at once,
    /// deleting nothing.
    Hold {
        /// The session file; the lock is SESSION_FILE.lock.
        session_file: PathBuf,
        /// How long to wait for the lock (default 10 s); then exit 75.
        #[arg(long, value_name = "MS")]
        timeout_ms: Option<u64>,
        /// Release after this long (default: hold until stdin closes or a signal arrives).
        #[arg(long, value_name = "MS")]
        hold_ms: Option<u64>,
        /// Do not watch stdin (e.g. when started in the background with stdin at /dev/null).
        #[arg(long)]
        ignore_stdin: bool,
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// Hold SESSION_FILE.lock while COMMAND runs; exit with its status. If the lock is lost
    /// meanwhile (a refresh finds its file removed or replaced), warn on stderr at once and
    /// exit 1 after COMMAND ends, whatever its status.
    Run {
        /// The session file; the lock is SESSION_FILE.lock.
        session_file: PathBuf,
        /// How long to wait for the lock (default 10 s); then exit 75.
        #[arg(long, value_name = "MS")]
        timeout_ms: Option<u64>,
        #[command(flatten)]
        policy: PolicyArgs,
        /// The command and its arguments (after `--`).
        #[arg(required = true, last = true, value_name = "COMMAND")]
        command: Vec<OsString>,
    },
    /// Remove stale lock files (and old publish temp files) in DIR, saying why.
    Clean {
        /// The directory to clean.
        dir: PathBuf,
        /// Only list what would be removed.
        #[arg(long)]
        dry_run: bool,
        /// Print one JSON object instead of lines.
        #[arg(long)]
        json: bool,
        /// Also remove FIFOs, sockets, devices and symlinks (the link, never its target)
        /// found at lock paths; directories are never removed.
        #[arg(long)]
        remove_non_regular: bool,
        #[command(flatten)]
        policy: PolicyArgs,
    },
}
