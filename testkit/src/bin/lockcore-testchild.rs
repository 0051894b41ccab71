//! Test child for lockcore's process tests (`tests/real_processes.rs`, `tests/cli.rs`,
//! `tests/namespaces.rs`): holds, contends for, restarts and crashes on real locks, reporting on
//! stdout one JSON line per event.
//!
//! **Not an operator tool:** its modes, flags and output exist only for the tests.
//! **Caveats:** `LOCKCORE_TEST_ABORT_AT=<phase>:<op>[@n]` (mode `crash`) kills the process with
//! SIGKILL right after the n-th file operation `op` of `phase`, seen through a wrapper around the
//! real file system; steps between two file operations that touch only memory cannot be named,
//! and do not need to be: a dead process's memory is gone with it.

use clap::{Parser, Subcommand};
use lockcore::env::{Clock, EnvParts, FileMeta, Fs, Procs};
use lockcore::os::{OsClock, OsDirLock, OsFs, OsProcs};
use lockcore::signals::{self, CleanupHandle, Disposition, CLEANUP_SIGNALS};
use lockcore::{AcquireOptions, Acquired, LockGuard, LockManager, OsEnv, Policy};
use serde_json::{json, Value};
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Parser)]
#[command(name = "lockcore-testchild")]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Print `{"pid": N}` and wait for stdin to close: a live process the test controls.
    Idle,
    /// Wait on the real watch for LOCK's removal N times, 1 ms each (nothing happens), then
    /// print `{"wakes": [...], "inotify_instances": K}`: how many this process holds open.
    IdleWaits { lock: PathBuf, n: u32 },
    /// Print what the liveness probe says of PID (`Alive`, `Dead`, `NoPermission`).
    Probe { pid: u32 },
    /// Hold locks (a session given twice is held reentrantly), optionally with the signal
    /// cleanup, an application handler and an in-place restart on SIGUSR1; then obey stdin.
    Hold {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long = "session", required = true)]
        sessions: Vec<String>,
        /// Install the signal cleanup this many times.
        #[arg(long, default_value_t = 0)]
        install_cleanup: u32,
        /// Install an application handler for the cleanup signals first.
        #[arg(long)]
        app_handler: bool,
        /// On SIGUSR1: release_all, then re-acquire these sessions with one attempt each.
        #[arg(long = "restart-session")]
        restart_sessions: Vec<String>,
    },
    /// Wait for a line on stdin, then take the lock ROUNDS times, logging enter/leave.
    Contend {
        #[arg(long)]
        session_file: PathBuf,
        #[arg(long)]
        log: PathBuf,
        #[arg(long)]
        rounds: u32,
        #[arg(long)]
        id: String,
    },
    /// Acquire, reclaim, release and release_all in DIR, dying at LOCKCORE_TEST_ABORT_AT.
    Crash {
        #[arg(long)]
        dir: PathBuf,
    },
    /// A peer implementation (no lockcore): create LOCK exclusively with a host-less
    /// historic shape, print `{"peer": LOCK, "pid": N}`, hold until stdin closes, remove it.
    PeerHold {
        #[arg(long)]
        lock: PathBuf,
        /// `legacy` {pid, createdAt}, `nonce` {pid, nonce, createdAt} or `starttime`
        /// {pid, createdAt, starttime}.
        #[arg(long)]
        shape: String,
        /// The pid to write (default: our own).
        #[arg(long)]
        pid: Option<u32>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.mode {
        Mode::Idle => idle(),
        Mode::IdleWaits { lock, n } => idle_waits(&lock, n),
        Mode::Probe { pid } => {
            println!("{:?}", OsProcs::current().probe(pid));
            Ok(())
        }
        Mode::Hold {
            dir,
            sessions,
            install_cleanup,
            app_handler,
            restart_sessions,
        } => hold(
            &dir,
            &sessions,
            install_cleanup,
            app_handler,
            &restart_sessions,
        ),
        Mode::Contend {
            session_file,
            log,
            rounds,
            id,
        } => contend(&session_file, &log, rounds, &id),
        Mode::Crash { dir } => crash(&dir),
        Mode::PeerHold { lock, shape, pid } => peer_hold(&lock, &shape, pid),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lockcore-testchild: {e}");
            ExitCode::from(1)
        }
    }
}

type Res = Result<(), String>;

fn emit(v: &Value) -> Res {
    let mut out = io::stdout().lock();
    writeln!(out, "{v}")
        .and_then(|()| out.flush())
        .map_err(|e| format!("stdout: {e}"))
}

fn idle_waits(lock: &Path, n: u32) -> Res {
    use lockcore::{WaitFor, Wake};
    let wait = WaitFor {
        lock_path: lock,
        owner: None,
        timeout: Duration::from_millis(1),
        clock: &OsClock,
        ticket: false,
    };
    let wakes: Vec<String> = (0..n)
        .map(|_| match OsFs.wait_for_change(&wait, &mut |_| true) {
            Some(Wake::Changed) => "changed",
            Some(Wake::OwnerExited) => "owner-exited",
            Some(Wake::TimedOut) => "timed-out",
            None => "cannot-watch",
        })
        .map(String::from)
        .collect();
    let fds = std::fs::read_dir("/proc/self/fd").map_err(|e| format!("/proc/self/fd: {e}"))?;
    let inotify = fds
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter(|target| target.as_os_str() == "anon_inode:inotify")
        .count();
    emit(&json!({ "wakes": wakes, "inotify_instances": inotify }))
}

fn idle() -> Res {
    emit(&json!({ "pid": OsProcs::current().identity().pid }))?;
    let _ = io::copy(&mut io::stdin().lock(), &mut io::sink());
    Ok(())
}

// ----- peer-hold: another implementation's lock, in the historic host-less shapes -----

/// The pretty JSON a peer writes for `shape` (DESIGN §4: the three historic shapes).
fn peer_payload(shape: &str, pid: u32) -> Result<Value, String> {
    let created_at = lockcore::payload::format_rfc3339_ms(OsClock.now_wall_ms());
    match shape {
        "legacy" => Ok(json!({ "pid": pid, "createdAt": created_at })),
        "nonce" => Ok(json!({
            "pid": pid,
            "nonce": format!("{:016x}{:08x}", OsClock.random_u64(), OsClock.random_u64() >> 32),
            "createdAt": created_at,
        })),
        "starttime" => {
            let starttime = OsProcs::current().identity().start_time.unwrap_or(1);
            Ok(json!({ "pid": pid, "createdAt": created_at, "starttime": starttime }))
        }
        other => Err(format!(
            "unknown shape {other:?} (legacy, nonce, starttime)"
        )),
    }
}

fn peer_hold(lock: &Path, shape: &str, pid: Option<u32>) -> Res {
    let own = OsProcs::current().identity().pid;
    let pid = pid.unwrap_or(own);
    let body = serde_json::to_string_pretty(&peer_payload(shape, pid)?)
        .map_err(|e| format!("encoding: {e}"))?;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(lock)
        .and_then(|mut f| f.write_all(body.as_bytes()))
        .map_err(|e| format!("creating {}: {e}", lock.display()))?;
    emit(&json!({ "peer": lock.display().to_string(), "pid": pid, "own_pid": own }))?;
    let _ = io::copy(&mut io::stdin().lock(), &mut io::sink());
    std::fs::remove_file(lock).map_err(|e| format!("removing {}: {e}", lock.display()))
}

// ----- hold: signal cleanup, application handler, in-place restart -----

/// Runs of the application handler, per cleanup signal (index as in CLEANUP_SIGNALS).
static APP_RUNS: [AtomicUsize; 4] = [const { AtomicUsize::new(0) }; 4];

extern "C" fn app_handler(signal: libc::c_int) {
    // Async-signal-safe: one atomic increment.
    if let Some(i) = CLEANUP_SIGNALS.iter().position(|&s| s == signal) {
        APP_RUNS[i].fetch_add(1, Ordering::SeqCst);
    }
}

fn install_app_handler() -> Res {
    for &signal in &CLEANUP_SIGNALS {
        // SAFETY: an all-zero sigaction is valid; we fill in a plain handler and SA_RESTART.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = app_handler as extern "C" fn(libc::c_int) as usize;
        action.sa_flags = libc::SA_RESTART;
        // SAFETY: `action` is initialised; the old action is not wanted.
        let rc = unsafe { libc::sigaction(signal, &action, std::ptr::null_mut()) };
        if rc != 0 {
            return Err(format!(
                "sigaction({signal}): {}",
                io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}

fn signal_name(signal: libc::c_int) -> String {
    signal_hook::low_level::signal_name(signal)
        .unwrap_or("?")
        .to_string()
}

/// Threads of this process named like the cleanup's watcher.
fn signal_threads() -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm"))
                .is_ok_and(|c| c.trim() == "lockcore-signal")
        })
        .count()
}

fn held_json(m: &LockManager<OsEnv>) -> Value {
    Value::Array(
        m.held()
            .into_iter()
            .map(|(p, n)| json!([p.display().to_string(), n]))
            .collect(),
    )
}

fn report(m: &LockManager<OsEnv>, handles: &[CleanupHandle]) -> Value {
    let mut runs = serde_json::Map::new();
    let mut dispositions = serde_json::Map::new();
    for (i, &s) in CLEANUP_SIGNALS.iter().enumerate() {
        runs.insert(signal_name(s), json!(APP_RUNS[i].load(Ordering::SeqCst)));
        let d = match signals::disposition(s) {
            Ok(Disposition::Default) => "default",
            Ok(Disposition::Ignored) => "ignored",
            Ok(Disposition::Handler) => "handler",
            Err(_) => "error",
        };
        dispositions.insert(signal_name(s), json!(d));
    }
    let plan: Vec<Value> = handles
        .first()
        .map(|h| h.plan())
        .unwrap_or_default()
        .into_iter()
        .map(|(s, a)| json!([signal_name(s), format!("{a:?}")]))
        .collect();
    json!({
        "pid": m.identity().pid,
        "nonce": m.nonce(),
        "epoch": m.epoch(),
        "held": held_json(m),
        "app_handler_runs": runs,
        "dispositions": dispositions,
        "plan": plan,
        "cleanups": signals::cleanups_completed(),
        "signal_threads": signal_threads(),
    })
}

fn acquire_all(
    m: &LockManager<OsEnv>,
    dir: &Path,
    sessions: &[String],
    guards: &mut Vec<LockGuard<OsEnv>>,
) -> Res {
    for s in sessions {
        let g = m
            .acquire_with(&dir.join(s), AcquireOptions::default())
            .map_err(|e| e.to_string())?;
        guards.push(g);
    }
    Ok(())
}

fn hold(
    dir: &Path,
    sessions: &[String],
    installs: u32,
    app: bool,
    restart_sessions: &[String],
) -> Res {
    let m = LockManager::new(OsEnv::new(), Policy::default());
    if app {
        install_app_handler()?;
    }
    let mut handles = Vec::new();
    for _ in 0..installs {
        handles.push(signals::install_cleanup(&m).map_err(|e| format!("install: {e}"))?);
    }
    let mut guards = Vec::new();
    acquire_all(&m, dir, sessions, &mut guards)?;
    if !restart_sessions.is_empty() {
        start_restarter(&m, dir, restart_sessions)?;
    }
    let mut ready = report(&m, &handles);
    ready["ready"] = json!(true);
    emit(&ready)?;
    for line in io::stdin().lock().lines() {
        let line = line.map_err(|e| format!("stdin: {e}"))?;
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["report"] => emit(&report(&m, &handles))?,
            ["wait-cleanup", n] => {
                let n: u64 = n.parse().map_err(|_| format!("bad count {n}"))?;
                let ok = signals::wait_for_cleanup(n.saturating_sub(1), Duration::from_secs(20));
                let mut r = report(&m, &handles);
                r["waited"] = json!(ok);
                emit(&r)?;
            }
            // abort() from inside: libc re-raises SIGABRT with the default action at once,
            // so the cleanup thread may not get to run (the documented caveat).
            ["abort"] => std::process::abort(),
            ["acquire"] => {
                acquire_all(&m, dir, sessions, &mut guards)?;
                emit(&report(&m, &handles))?;
            }
            _ => return Err(format!("unknown command {line:?}")),
        }
    }
    drop(guards);
    drop(handles);
    Ok(())
}

/// In-place restart on SIGUSR1: same process, same pid, same manager: release_all (which
/// rotates the nonce), then one attempt at each session.
fn start_restarter(m: &LockManager<OsEnv>, dir: &Path, sessions: &[String]) -> Res {
    let mut sigs = signal_hook::iterator::Signals::new([signal_hook::consts::SIGUSR1])
        .map_err(|e| format!("SIGUSR1: {e}"))?;
    let (m, dir, sessions) = (m.clone(), dir.to_path_buf(), sessions.to_vec());
    let kept: Arc<Mutex<Vec<LockGuard<OsEnv>>>> = Arc::default();
    std::thread::spawn(move || {
        for _ in sigs.forever() {
            let report = m.release_all();
            let mut acquired = Vec::new();
            let mut kept = kept.lock().unwrap_or_else(|p| p.into_inner());
            for s in &sessions {
                match m.try_acquire(&dir.join(s)) {
                    Ok(g) => {
                        acquired.push(json!({
                            "path": g.lock_path().display().to_string(),
                            "how": g.how().to_string(),
                            "nonce": g.payload().nonce,
                        }));
                        kept.push(g);
                    }
                    Err(e) => acquired.push(json!({ "session": s, "error": e.to_string() })),
                }
            }
            let released: Vec<String> = report
                .released
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            let _ = emit(&json!({
                "restarted": true,
                "old_nonce": report.old_nonce,
                "new_nonce": report.new_nonce,
                "released": released,
                "failed": report.failed.len(),
                "acquired": acquired,
            }));
        }
    });
    Ok(())
}

// ----- contend: P1 on real processes -----

fn append(log: &Path, line: &str) -> Res {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(log)
        .map_err(|e| format!("{}: {e}", log.display()))?;
    // One write per record: O_APPEND keeps records whole.
    f.write_all(line.as_bytes())
        .map_err(|e| format!("{}: {e}", log.display()))
}

fn contend(session_file: &Path, log: &Path, rounds: u32, id: &str) -> Res {
    let m = LockManager::new(OsEnv::new(), Policy::default());
    emit(&json!({ "ready": id }))?;
    let mut go = String::new();
    io::stdin()
        .lock()
        .read_line(&mut go)
        .map_err(|e| format!("stdin: {e}"))?;
    let opts = AcquireOptions {
        reentrant: false,
        timeout: Some(Duration::from_secs(40)),
    };
    for round in 0..rounds {
        let g = m
            .acquire_with(session_file, opts)
            .map_err(|e| format!("{id} round {round}: {e}"))?;
        append(log, &format!("enter {id} {round}\n"))?;
        // Stay inside a little, so an overlap would show in the log.
        OsClock.sleep(Duration::from_millis(2));
        append(log, &format!("leave {id} {round}\n"))?;
        g.release()
            .map_err(|e| format!("{id} round {round}: release: {e}"))?;
    }
    emit(&json!({ "done": id }))
}

// ----- crash: P11 -----

/// Where the crash child is, for LOCKCORE_TEST_ABORT_AT.
static PHASE: Mutex<&'static str> = Mutex::new("start");
static HITS: AtomicUsize = AtomicUsize::new(0);

fn set_phase(p: &'static str) {
    *PHASE.lock().unwrap_or_else(|e| e.into_inner()) = p;
    step(p, "begin");
}

/// `LOCKCORE_TEST_ABORT_AT` as (phase, op, n).
fn abort_at() -> Option<(String, String, usize)> {
    let spec = std::env::var("LOCKCORE_TEST_ABORT_AT").ok()?;
    let (step, n) = match spec.split_once('@') {
        Some((s, n)) => (s.to_string(), n.parse().ok()?),
        None => (spec.clone(), 1),
    };
    let (phase, op) = step.split_once(':')?;
    Some((phase.to_string(), op.to_string(), n))
}

/// Dies by SIGKILL (no handler, no unwinding: a crash) if this is the named step.
fn step(phase: &str, op: &str) {
    let Some((want_phase, want_op, n)) = abort_at() else {
        return;
    };
    if want_phase == phase && want_op == op && HITS.fetch_add(1, Ordering::SeqCst) + 1 == n {
        let _ =
            rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
    }
}

fn after(op: &str) {
    let phase = *PHASE.lock().unwrap_or_else(|e| e.into_inner());
    step(phase, op);
}

fn is_temp(p: &Path) -> bool {
    p.extension().is_some_and(|e| e == "lktmp")
}

/// The real file system, announcing each completed operation to `after`.
struct CrashFs(OsFs);

impl Fs for CrashFs {
    type DirLock = OsDirLock;
    fn create_new(&self, path: &Path, contents: &[u8]) -> io::Result<()> {
        let r = self.0.create_new(path, contents);
        after(if is_temp(path) {
            "create-temp"
        } else {
            "create-lock"
        });
        r
    }
    fn write_existing(&self, path: &Path, contents: &[u8]) -> io::Result<()> {
        let r = self.0.write_existing(path, contents);
        after("write");
        r
    }
    fn link(&self, src: &Path, dst: &Path) -> io::Result<()> {
        let r = self.0.link(src, dst);
        after("link");
        r
    }
    fn rename(&self, src: &Path, dst: &Path) -> io::Result<()> {
        let r = self.0.rename(src, dst);
        after("rename");
        r
    }
    fn read(&self, path: &Path, cap: usize) -> io::Result<Vec<u8>> {
        let r = self.0.read(path, cap);
        after("read");
        r
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        let r = self.0.remove(path);
        after(if is_temp(path) {
            "remove-temp"
        } else {
            "remove-lock"
        });
        r
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        let r = self.0.list(dir);
        after("list");
        r
    }
    fn metadata(&self, path: &Path) -> io::Result<FileMeta> {
        let r = self.0.metadata(path);
        after("metadata");
        r
    }
    fn touch(&self, path: &Path, expect: Option<&[u8]>) -> io::Result<bool> {
        let r = self.0.touch(path, expect);
        after("touch");
        r
    }
    fn canonical_dir(&self, dir: &Path) -> io::Result<PathBuf> {
        let r = self.0.canonical_dir(dir);
        after("resolve");
        r
    }
    fn lock_dir(&self, dir: &Path) -> io::Result<OsDirLock> {
        let r = self.0.lock_dir(dir);
        after("lock-dir");
        r
    }
    fn wait_for_change(
        &self,
        wait: &lockcore::WaitFor<'_>,
        still_blocked: &mut dyn FnMut(bool) -> bool,
    ) -> Option<lockcore::Wake> {
        self.0.wait_for_change(wait, still_blocked)
    }
    fn wait_mechanism(&self, clock: &dyn Clock) -> lockcore::WaitMechanism {
        self.0.wait_mechanism(clock)
    }
}

/// Sessions a, b (twice: reentrant), c; then r, whose stale file the test planted; then
/// release b once and c; then release_all. Phases: acquire, reclaim, release, release-all.
fn crash(dir: &Path) -> Res {
    let env = EnvParts {
        fs: CrashFs(OsFs),
        procs: OsProcs::current(),
        clock: OsClock,
    };
    let m = LockManager::new(env, Policy::default());
    let get = |s: &str| m.try_acquire(&dir.join(s)).map_err(|e| e.to_string());
    set_phase("acquire");
    let a = get("a.jsonl")?;
    let b1 = get("b.jsonl")?;
    let b2 = get("b.jsonl")?;
    let c = get("c.jsonl")?;
    set_phase("reclaim");
    let r = get("r.jsonl")?;
    if !matches!(r.how(), Acquired::Reclaimed(_)) {
        return Err(format!("r.jsonl: expected a reclaim, got {:?}", r.how()));
    }
    set_phase("release");
    b2.release().map_err(|e| e.to_string())?;
    c.release().map_err(|e| e.to_string())?;
    set_phase("release-all");
    let report = m.release_all();
    if !report.failed.is_empty() {
        return Err(format!("release_all failed: {:?}", report.failed));
    }
    set_phase("end");
    drop((a, b1, r));
    emit(&json!({ "completed": true }))
}
