//! `lockcore`: the operator CLI — inspect and clean lock directories, hold a session lock, or
//! run a command under one (like `flock(1)`).
//!
//! Exit codes: 0 ok, 75 lock busy (timeout), 2 usage, 1 any other error (the message on stderr
//! names the path). `run` exits with the command's status (128 + signal if it was killed).
//! `hold` and `run` refresh their lock's lease while they hold (the manager's heartbeat); a lock
//! lost meanwhile (a refresh finds its file removed or replaced) makes `hold` print
//! `{"compromised": PATH}` and exit 1 at once, and `run` warn at once and exit 1 after its
//! command ends. Neither deletes the new owner's file.
//!
//! This library is the whole program: the `lockcore` binary's `main` calls [`main`], and so does
//! lockcore-testkit's `lockcore-cli-under-test`, the same program under another name for the
//! process tests. The program names itself `lockcore` whatever its file is called.

use clap::{Args, Parser, Subcommand};
use lockcore::signals::{self, Disposition};
use lockcore::sync::{thread, Arc, Mutex};
use lockcore::{
    AcquireOptions, Acquired, CleanOptions, FileKind, LockError, LockInfo, LockManager, Malformed,
    OsEnv, Policy, Verdict,
};
use serde::Serialize;
use std::ffi::OsString;
use std::io::{self, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::mpsc;
use std::time::Duration;

/// Exit status for "the lock is busy" (`EX_TEMPFAIL`).
const EXIT_BUSY: u8 = 75;
/// Exit status for any other error.
const EXIT_ERROR: u8 = 1;

#[derive(Parser, Debug)]
#[command(
    name = "lockcore",
    // The usage lines say `lockcore`, not the file name in argv[0].
    bin_name = "lockcore",
    version,
    about = "Inspect, clean, hold and run under lockcore session locks (<session file>.lock)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Args, Debug, Clone, Copy)]
struct PolicyArgs {
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
}

impl PolicyArgs {
    /// The policy, or a usage error (exit 2) for a refresh period that does not fit in the
    /// lease: the holder's own lock would expire between two refreshes.
    fn policy(self, timeout_ms: Option<u64>) -> Result<Policy, Failure> {
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
            ..d
        }
    }
}

#[derive(Subcommand, Debug)]
enum Cmd {
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

/// A failure: what to print and how to exit.
struct Failure {
    code: u8,
    message: String,
}

impl From<LockError> for Failure {
    fn from(e: LockError) -> Self {
        Failure {
            code: if e.is_busy() { EXIT_BUSY } else { EXIT_ERROR },
            message: e.to_string(),
        }
    }
}

fn fail(message: String) -> Failure {
    Failure {
        code: EXIT_ERROR,
        message,
    }
}

/// The CLI: parses the process's arguments, runs the subcommand, and returns its exit status.
pub fn main() -> ExitCode {
    // clap exits 2 on a usage error and 0 for --help/--version.
    let cli = Cli::parse();
    match dispatch(cli.cmd) {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            eprintln!("lockcore: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}

fn dispatch(cmd: Cmd) -> Result<u8, Failure> {
    match cmd {
        Cmd::Inspect { dir, json, policy } => inspect(&dir, json, policy.policy(None)?),
        Cmd::Hold {
            session_file,
            timeout_ms,
            hold_ms,
            ignore_stdin,
            policy,
        } => hold(
            &session_file,
            policy.policy(timeout_ms)?,
            hold_ms.map(Duration::from_millis),
            ignore_stdin,
        ),
        Cmd::Run {
            session_file,
            timeout_ms,
            policy,
            command,
        } => run(&session_file, policy.policy(timeout_ms)?, &command),
        Cmd::Clean {
            dir,
            dry_run,
            json,
            remove_non_regular,
            policy,
        } => clean(
            &dir,
            CleanOptions {
                dry_run,
                remove_non_regular,
            },
            json,
            policy.policy(None)?,
        ),
    }
}

fn manager(policy: Policy) -> LockManager<OsEnv> {
    LockManager::new(OsEnv::new(), policy)
}

/// One lock file, as `inspect --json` prints it.
#[derive(Serialize)]
struct InfoJson {
    path: String,
    pid: Option<u32>,
    nonce: Option<String>,
    created_at: Option<String>,
    age_ms: i64,
    stale: bool,
    reasons: Vec<String>,
    /// The lease the file declares (`leaseMs`), or null.
    lease_ms: Option<u64>,
    /// Time since the file's mtime was last set (its holder's last refresh); null when the
    /// file declares no lease.
    refreshed_ms_ago: Option<i64>,
}

impl InfoJson {
    fn new(info: &LockInfo) -> Self {
        let p = info.payload.as_ref().ok();
        let mut reasons = vec![info.verdict.reason().to_string()];
        match &info.payload {
            Err(Malformed::NotRegular(kind)) => reasons.push(kind.as_str().to_string()),
            Err(m) => reasons.push(m.as_str().to_string()),
            Ok(_) => {}
        }
        let lease = p.and_then(|p| p.lease);
        InfoJson {
            path: info.path.display().to_string(),
            pid: p.map(|p| p.pid),
            nonce: p.and_then(|p| p.nonce.clone()),
            created_at: p.map(|p| lockcore::payload::format_rfc3339_ms(p.created_at_ms)),
            age_ms: info.age_ms,
            stale: info.verdict.is_stale(),
            reasons,
            lease_ms: lease.map(|l| l.lease_ms),
            refreshed_ms_ago: lease.map(|_| info.mtime_age_ms),
        }
    }
}

fn verdict_word(v: Verdict) -> &'static str {
    if v.is_stale() {
        "stale"
    } else {
        "live"
    }
}

fn human_age(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let ms = ms.unsigned_abs();
    let s = ms / 1000;
    if s < 60 {
        format!("{sign}{}.{:03}s", s, ms % 1000)
    } else if s < 3600 {
        format!("{sign}{}m{:02}s", s / 60, s % 60)
    } else if s < 86_400 {
        format!("{sign}{}h{:02}m", s / 3600, s / 60 % 60)
    } else {
        format!("{sign}{}d{:02}h", s / 86_400, s / 3600 % 24)
    }
}

/// A lease for the table: `30s`, `1.5s`, `250ms`.
fn human_lease(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else if ms >= 1000 {
        format!("{}s", ms as f64 / 1000.0)
    } else {
        format!("{ms}ms")
    }
}

/// Time since a refresh for the table: `4.2s ago` under a minute, else as [`human_age`].
fn human_ago(ms: i64) -> String {
    if (0..60_000).contains(&ms) {
        format!("{:.1}s ago", ms as f64 / 1000.0)
    } else {
        format!("{} ago", human_age(ms))
    }
}

/// Prints rows as a table with left-aligned, padded columns.
fn print_table(out: &mut impl Write, rows: &[Vec<String>]) -> io::Result<()> {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                let pad = widths[c] - cell.chars().count();
                line.push_str(cell);
                line.push_str(&" ".repeat(pad + 2));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

fn info_row(info: &LockInfo) -> Vec<String> {
    let j = InfoJson::new(info);
    vec![
        j.path,
        j.pid.map_or_else(|| "-".into(), |p| p.to_string()),
        j.nonce.unwrap_or_else(|| "-".into()),
        j.created_at.unwrap_or_else(|| "-".into()),
        human_age(info.age_ms),
        j.lease_ms.map_or_else(|| "-".into(), human_lease),
        j.refreshed_ms_ago.map_or_else(|| "-".into(), human_ago),
        verdict_word(info.verdict).into(),
        j.reasons.join(","),
    ]
}

fn write_out(write: impl FnOnce(&mut io::StdoutLock<'_>) -> io::Result<()>) -> Result<(), Failure> {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    write(&mut out)
        .and_then(|()| out.flush())
        .map_err(|e| fail(format!("writing to stdout: {e}")))
}

fn to_json(value: &impl Serialize) -> Result<String, Failure> {
    serde_json::to_string(value).map_err(|e| fail(format!("encoding JSON: {e}")))
}

/// Names each entry the sweep could not read on stderr; exit 1 if there was any.
fn report_unreadable<'a>(entries: impl Iterator<Item = (&'a Path, String)>) -> u8 {
    let mut status = 0;
    for (path, error) in entries {
        eprintln!("lockcore: {}: {error}", path.display());
        status = 1;
    }
    status
}

fn inspect(dir: &Path, json: bool, policy: Policy) -> Result<u8, Failure> {
    let inspection = manager(policy).inspect_all(dir)?;
    let infos = inspection.locks;
    let status = report_unreadable(
        inspection
            .unreadable
            .iter()
            .map(|(p, e)| (p.as_path(), e.to_string())),
    );
    if json {
        let rows: Vec<InfoJson> = infos.iter().map(InfoJson::new).collect();
        let text = to_json(&rows)?;
        write_out(|out| writeln!(out, "{text}"))?;
    } else {
        let mut rows = vec![vec![
            "PATH".to_string(),
            "PID".into(),
            "NONCE".into(),
            "CREATED_AT".into(),
            "AGE".into(),
            "LEASE".into(),
            "REFRESHED".into(),
            "VERDICT".into(),
            "REASONS".into(),
        ]];
        rows.extend(infos.iter().map(info_row));
        write_out(|out| {
            if infos.is_empty() {
                writeln!(out, "no lock files in {}", dir.display())
            } else {
                print_table(out, &rows)
            }
        })?;
    }
    Ok(status)
}

#[derive(Serialize)]
struct CleanJson {
    dry_run: bool,
    removed: Vec<InfoJson>,
    kept: Vec<InfoJson>,
    temp_files: Vec<String>,
}

fn clean(dir: &Path, opts: CleanOptions, json: bool, policy: Policy) -> Result<u8, Failure> {
    let dry_run = opts.dry_run;
    let report = manager(policy).clean(dir, opts)?;
    let status = report_unreadable(
        report
            .unreadable
            .iter()
            .map(|(p, e)| (p.as_path(), e.clone())),
    );
    let removed_paths: Vec<&Path> = report.removed.iter().map(|i| i.path.as_path()).collect();
    let kept: Vec<&LockInfo> = report
        .seen
        .iter()
        .filter(|i| !removed_paths.contains(&i.path.as_path()))
        .collect();
    if json {
        let text = to_json(&CleanJson {
            dry_run,
            removed: report.removed.iter().map(InfoJson::new).collect(),
            kept: kept.iter().map(|i| InfoJson::new(i)).collect(),
            temp_files: report
                .temp_files
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
        })?;
        write_out(|out| writeln!(out, "{text}"))?;
        return Ok(status);
    }
    let verb = if dry_run { "would remove" } else { "removed" };
    write_out(|out| {
        for info in &report.removed {
            let owner = match &info.payload {
                Ok(p) => format!("pid {}", p.pid),
                Err(Malformed::NotRegular(kind)) => format!("a {}", kind.as_str()),
                Err(m) => format!("malformed: {}", m.as_str()),
            };
            writeln!(
                out,
                "{verb} {} ({}; {owner}; age {})",
                info.path.display(),
                info.verdict.reason(),
                human_age(info.age_ms)
            )?;
        }
        for tmp in &report.temp_files {
            writeln!(out, "{verb} {} (orphaned publish temp file)", tmp.display())?;
        }
        for info in &kept {
            let hint = match &info.payload {
                Err(Malformed::NotRegular(FileKind::Directory)) => {
                    ": a directory; remove it by hand".to_string()
                }
                Err(Malformed::NotRegular(kind)) => {
                    format!(": a {}; --remove-non-regular removes it", kind.as_str())
                }
                _ => String::new(),
            };
            writeln!(
                out,
                "kept {} ({} {}{hint})",
                info.path.display(),
                verdict_word(info.verdict),
                info.verdict.reason()
            )?;
        }
        if report.removed.is_empty() && report.temp_files.is_empty() {
            writeln!(out, "nothing stale in {}", dir.display())?;
        }
        Ok(())
    })?;
    Ok(status)
}

/// The lock file's pretty JSON on one line, keys in the file's order. A JSON string cannot
/// hold a raw newline, so only the layout between tokens is dropped.
fn one_line(pretty: &[u8]) -> String {
    String::from_utf8_lossy(pretty)
        .lines()
        .map(str::trim_start)
        .collect::<Vec<_>>()
        .join(" ")
}

fn how_str(how: Acquired) -> String {
    match how {
        Acquired::Fresh => "fresh".into(),
        Acquired::Reentered => "reentered".into(),
        Acquired::Reclaimed(r) => format!("reclaimed:{}", r.as_str()),
    }
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

fn hold(
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
        "{{\"acquired\": {}, \"how\": {}, \"payload\": {}}}",
        to_json(&guard.lock_path().display().to_string())?,
        to_json(&how_str(guard.how()))?,
        one_line(&guard.payload().to_bytes()),
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

/// The child's pid while it may be signalled, and signals that arrived before it existed.
struct Forward {
    child: Option<rustix::process::Pid>,
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

fn forward(pid: rustix::process::Pid, signal: i32) {
    if let Some(sig) = rustix::process::Signal::from_named_raw(signal) {
        let _ = rustix::process::kill_process(pid, sig);
    }
}

fn run(session_file: &Path, policy: Policy, command: &[OsString]) -> Result<u8, Failure> {
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
    let state = Arc::new(Mutex::new(Forward {
        child: None,
        pending: Vec::new(),
    }));
    let watched: Vec<i32> = FORWARDED
        .iter()
        .copied()
        .filter(|&s| signals::disposition(s).is_ok_and(|d| d != Disposition::Ignored))
        .collect();
    let mut sigs = signal_hook::iterator::Signals::new(&watched)
        .map_err(|e| fail(format!("{}: watching signals: {e}", lock_path.display())))?;
    let sig_handle = sigs.handle();
    {
        let state = Arc::clone(&state);
        thread::spawn(move || {
            for signal in sigs.forever() {
                let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
                match st.child {
                    Some(pid) => forward(pid, signal),
                    None => st.pending.push(signal),
                }
            }
        });
    }

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
    let pid = rustix::process::Pid::from_child(&child);
    {
        let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
        st.child = Some(pid);
        for signal in std::mem::take(&mut st.pending) {
            forward(pid, signal);
        }
    }
    // Wait for the exit without reaping, stop forwarding, then reap: the forwarder never
    // signals a pid that may have been reused.
    let _ = rustix::process::waitid(
        rustix::process::WaitId::Pid(pid),
        rustix::process::WaitIdOptions::EXITED | rustix::process::WaitIdOptions::NOWAIT,
    );
    state.lock().unwrap_or_else(|p| p.into_inner()).child = None;
    let status = child
        .wait()
        .map_err(|e| fail(format!("waiting for {program:?}: {e}")))?;
    sig_handle.close();
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
    let code = match (status.code(), status.signal()) {
        (Some(c), _) => c,
        (None, Some(s)) => 128 + s,
        (None, None) => 1,
    };
    Ok(u8::try_from(code).unwrap_or(1))
}
