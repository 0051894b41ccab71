//! `stress-worker`: one process of the stress layer. It locks sessions of a shared directory
//! with the lockcore library (or, with `--cli`, through the real `lockcore run`), increments a
//! per-session fencing counter inside each critical section, and appends every operation to
//! its history. SIGUSR1 is an in-place restart: `release_all`, then on with the new nonce.
//!
//! `stress-worker fence …` is the command a `lockcore run` executes: one critical section.
//! Arguments are `--key value` pairs (see `Args`); the driver builds them.

use lockcore::{AcquireOptions, LockError, LockGuard, LockManager, OsEnv, Policy, Released};
use lockcore_stress::history::{now_ns, History, Record};
use lockcore_stress::rng::Rng;
use lockcore_stress::{ACQUIRE_TIMEOUT_MS, LEASE_MS, REFRESH_MS};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

struct Args(BTreeMap<String, String>);

impl Args {
    fn parse() -> Result<(Option<String>, Args), String> {
        let mut it = std::env::args().skip(1).peekable();
        let mode = it.next_if(|a| !a.starts_with("--"));
        let mut map = BTreeMap::new();
        while let Some(k) = it.next() {
            let key = k.strip_prefix("--").ok_or(format!("unexpected {k:?}"))?;
            let v = it.next().ok_or(format!("--{key} needs a value"))?;
            map.insert(key.to_string(), v);
        }
        Ok((mode, Args(map)))
    }

    fn get(&self, k: &str) -> Result<&str, String> {
        self.0
            .get(k)
            .map(String::as_str)
            .ok_or(format!("--{k} is required"))
    }

    fn num(&self, k: &str) -> Result<u64, String> {
        self.get(k)?.parse().map_err(|e| format!("--{k}: {e}"))
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn session_file(dir: &Path, s: &str) -> PathBuf {
    dir.join(format!("{s}.jsonl"))
}

fn read_counter(dir: &Path, s: &str) -> u64 {
    std::fs::read_to_string(dir.join(format!("{s}.fence")))
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}

/// Writes the counter atomically (temp + rename): a kill never leaves it torn.
fn write_counter(dir: &Path, s: &str, who: &str, v: u64) -> std::io::Result<()> {
    let tmp = dir.join(format!(".{s}.fence.{who}.tmp"));
    std::fs::write(&tmp, v.to_string())?;
    std::fs::rename(&tmp, dir.join(format!("{s}.fence")))
}

fn main() -> ExitCode {
    let result = Args::parse().and_then(|(mode, args)| match mode.as_deref() {
        Some("fence") => fence_child(&args),
        None if args.0.contains_key("cli") => cli_loop(&args),
        None => Worker::new(&args)?.run(),
        Some(m) => Err(format!("unknown mode {m:?}")),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stress-worker: {e}");
            ExitCode::from(2)
        }
    }
}

fn policy(args: &Args) -> Result<Policy, String> {
    #[allow(unused_mut)]
    let mut p = Policy {
        lease: Some(ms(LEASE_MS)),
        refresh_every: ms(REFRESH_MS),
        acquire_timeout: ms(ACQUIRE_TIMEOUT_MS),
        ..Policy::default()
    };
    if let Some(id) = args.0.get("mutant") {
        #[cfg(feature = "mutants")]
        {
            p.mutant = Some(lockcore::Mutant::from_id(id).ok_or(format!("no mutant {id:?}"))?);
        }
        #[cfg(not(feature = "mutants"))]
        return Err(format!(
            "--mutant {id}: built without the `mutants` feature"
        ));
    }
    Ok(p)
}

/// A library worker.
struct Worker {
    who: String,
    dir: PathBuf,
    sessions: u64,
    deadline: u64,
    rng: Rng,
    hist: Arc<History>,
    locks: LockManager<OsEnv>,
    /// The hold the refresher reports on: (session, token). Locked across a refresh, so a
    /// refresh's result is always told against the hold it saw.
    current: Arc<Mutex<Option<(String, String)>>>,
    restart: Arc<AtomicBool>,
}

enum Section {
    Done,
    Restarted,
}

impl Worker {
    fn new(args: &Args) -> Result<Worker, String> {
        let locks = LockManager::new(OsEnv::new(), policy(args)?);
        locks.use_manual_heartbeat();
        let restart = Arc::new(AtomicBool::new(false));
        signal_hook::flag::register(signal_hook::consts::SIGUSR1, Arc::clone(&restart))
            .map_err(|e| format!("SIGUSR1 handler: {e}"))?;
        let hist = History::open(Path::new(args.get("history")?)).map_err(|e| e.to_string())?;
        Ok(Worker {
            who: args.get("who")?.to_string(),
            dir: PathBuf::from(args.get("dir")?),
            sessions: args.num("sessions")?.max(1),
            deadline: args.num("deadline-ns")?,
            rng: Rng::new(args.num("seed")?),
            hist: Arc::new(hist),
            locks,
            current: Arc::new(Mutex::new(None)),
            restart,
        })
    }

    fn log(&self, r: Record) {
        // A history that cannot be written makes the run meaningless: stop loudly.
        if let Err(e) = self.hist.append(&r) {
            eprintln!("stress-worker {}: history: {e}", self.who);
            std::process::exit(4);
        }
    }

    fn set_current(&self, c: Option<(String, String)>) {
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = c;
    }

    fn run(mut self) -> Result<(), String> {
        self.start_refresher();
        while now_ns() < self.deadline {
            if self.restart.swap(false, Ordering::SeqCst) {
                self.restart_in_place(None);
            }
            let s = format!("s{}", self.rng.range(0, self.sessions - 1));
            self.one_hold(&s);
            std::thread::sleep(ms(self.rng.range(0, 15)));
        }
        Ok(())
    }

    /// The heartbeat: `refresh` every REFRESH_MS, each outcome recorded against the hold.
    fn start_refresher(&self) {
        let (locks, hist, current) = (
            self.locks.clone(),
            Arc::clone(&self.hist),
            Arc::clone(&self.current),
        );
        let (who, stop_after) = (self.who.clone(), self.deadline + 30_000_000_000);
        std::thread::spawn(move || loop {
            std::thread::sleep(ms(REFRESH_MS));
            if now_ns() > stop_after {
                return;
            }
            let cur = current.lock().unwrap_or_else(|e| e.into_inner());
            let t = now_ns();
            let rep = locks.refresh();
            let Some((s, tok)) = cur.as_ref() else {
                continue;
            };
            let result = if !rep.compromised.is_empty() {
                "compromised"
            } else if !rep.refreshed.is_empty() {
                "refreshed"
            } else if !rep.failed.is_empty() {
                "failed"
            } else {
                continue;
            };
            let r = Record::new(&who, "refresh", t, now_ns(), result)
                .session(s)
                .token(Some(tok));
            let _ = hist.append(&r);
        });
    }

    fn restart_in_place(&self, token: Option<&str>) {
        self.set_current(None);
        let t = now_ns();
        self.log(Record::new(&self.who, "releasing", t, t, "pending").token(token));
        let rep = self.locks.release_all();
        let result = format!(
            "released={} not_ours={} failed={}",
            rep.released.len(),
            rep.not_ours.len(),
            rep.failed.len()
        );
        self.log(Record::new(&self.who, "release_all", t, now_ns(), &result).token(token));
    }

    fn one_hold(&mut self, s: &str) {
        let opts = AcquireOptions {
            timeout: Some(ms(ACQUIRE_TIMEOUT_MS)),
            ..AcquireOptions::default()
        };
        let t = now_ns();
        let got = self.locks.acquire_with(&session_file(&self.dir, s), opts);
        let done = now_ns();
        let g = match got {
            Ok(g) => g,
            Err(e) => {
                let result = match e {
                    LockError::Busy { .. } => "busy".to_string(),
                    e => format!("error: {e}"),
                };
                return self.log(Record::new(&self.who, "acquire", t, done, &result).session(s));
            }
        };
        let token = g.payload().token.clone().unwrap_or_default();
        self.log(
            Record::new(&self.who, "acquire", t, done, "ok")
                .session(s)
                .token(Some(&token)),
        );
        self.set_current(Some((s.to_string(), token.clone())));
        if let Section::Restarted = self.critical_section(&g, s, &token) {
            drop(g); // revoked by release_all: inert
            return;
        }
        self.set_current(None);
        let t = now_ns();
        // Written before the release: a kill between its unlink and the record below would
        // otherwise leave a hold that looks open until the kill (an indeterminate operation).
        self.log(
            Record::new(&self.who, "releasing", t, t, "pending")
                .session(s)
                .token(Some(&token)),
        );
        let result = match g.release() {
            Ok(Released::Removed) => "removed".to_string(),
            // One acquirer per worker process: never handed to another thread here.
            Ok(Released::HandedOver) => "handed-over".to_string(),
            Ok(Released::NotOurs) => "not-ours".to_string(),
            Ok(Released::Inert) => "inert".to_string(),
            Ok(Released::Decremented(n)) => format!("decremented {n}"),
            Err(e) => format!("error: {e}"),
        };
        self.log(
            Record::new(&self.who, "release", t, now_ns(), &result)
                .session(s)
                .token(Some(&token)),
        );
    }

    /// Read the counter, hold a seeded time, then — if the lock is still ours — write it + 1.
    fn critical_section(&mut self, g: &LockGuard<OsEnv>, s: &str, token: &str) -> Section {
        let v = read_counter(&self.dir, s);
        let until = now_ns() + self.rng.range(2, 40) * 1_000_000;
        while now_ns() < until {
            if self.restart.swap(false, Ordering::SeqCst) {
                self.restart_in_place(Some(token));
                let t = now_ns();
                self.log(
                    Record::new(&self.who, "skip-write", t, t, "restarted")
                        .session(s)
                        .token(Some(token)),
                );
                return Section::Restarted;
            }
            std::thread::sleep(ms(2));
        }
        let t = now_ns();
        if !g.is_held() {
            self.log(
                Record::new(&self.who, "skip-write", t, t, "compromised")
                    .session(s)
                    .token(Some(token)),
            );
            return Section::Done;
        }
        let result = match write_counter(&self.dir, s, &self.who, v + 1) {
            Ok(()) => "ok".to_string(),
            Err(e) => format!("error: {e}"),
        };
        self.log(
            Record::new(&self.who, "fence", t, now_ns(), &result)
                .session(s)
                .token(Some(token))
                .fence(v + 1),
        );
        Section::Done
    }
}

/// A CLI worker: `lockcore run SESSION -- stress-worker fence …` in a loop.
fn cli_loop(args: &Args) -> Result<(), String> {
    let (cli, dir, who) = (
        args.get("cli")?,
        Path::new(args.get("dir")?),
        args.get("who")?,
    );
    let hist_path = args.get("history")?;
    let hist = History::open(Path::new(hist_path)).map_err(|e| e.to_string())?;
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let (deadline, sessions) = (args.num("deadline-ns")?, args.num("sessions")?.max(1));
    let mut rng = Rng::new(args.num("seed")?);
    let mut i = 0u64;
    while now_ns() < deadline {
        let s = format!("s{}", rng.range(0, sessions - 1));
        let hold = rng.range(2, 40).to_string();
        let t = now_ns();
        let status = std::process::Command::new(cli)
            .arg("run")
            .arg(session_file(dir, &s))
            .args(["--timeout-ms", &ACQUIRE_TIMEOUT_MS.to_string()])
            .args([
                "--lease-ms",
                &LEASE_MS.to_string(),
                "--refresh-ms",
                &REFRESH_MS.to_string(),
            ])
            .arg("--")
            .arg(&me)
            .args([
                "fence",
                "--dir",
                &dir.display().to_string(),
                "--session",
                &s,
            ])
            .args([
                "--who",
                &format!("{who}.{i}"),
                "--history",
                hist_path,
                "--hold-ms",
                &hold,
            ])
            .status()
            .map_err(|e| format!("{cli}: {e}"))?;
        let (op, result) = match status.code() {
            Some(75) => ("acquire", "busy".to_string()),
            Some(0) => ("run", "ok".to_string()),
            c => ("run", format!("exit {c:?}")),
        };
        hist.append(&Record::new(who, op, t, now_ns(), &result).session(&s))
            .map_err(|e| e.to_string())?;
        i += 1;
        std::thread::sleep(ms(rng.range(0, 15)));
    }
    Ok(())
}

/// One critical section under `lockcore run`: the lock is held for the whole of this process.
fn fence_child(args: &Args) -> Result<(), String> {
    let t0 = now_ns();
    let (dir, s, who) = (
        Path::new(args.get("dir")?),
        args.get("session")?,
        args.get("who")?,
    );
    let hist = History::open(Path::new(args.get("history")?)).map_err(|e| e.to_string())?;
    let lock = std::fs::read(dir.join(format!("{s}.jsonl.lock"))).map_err(|e| e.to_string())?;
    let payload: serde_json::Value = serde_json::from_slice(&lock).map_err(|e| e.to_string())?;
    let token = payload["token"].as_str().map(str::to_string);
    let log = |r: Record| {
        hist.append(&r.session(s).token(token.as_deref()))
            .map_err(|e| e.to_string())
    };
    log(Record::new(who, "acquire", t0, now_ns(), "ok"))?;
    let v = read_counter(dir, s);
    std::thread::sleep(ms(args.num("hold-ms")?));
    let t = now_ns();
    write_counter(dir, s, who, v + 1).map_err(|e| e.to_string())?;
    log(Record::new(who, "fence", t, now_ns(), "ok").fence(v + 1))?;
    let t = now_ns();
    log(Record::new(who, "release", t, t, "cli"))
}
