//! The driver: starts the workers on one temporary directory, carries out the nemesis'
//! schedule (recording every action in its own history, same clock), sweeps with
//! `lockcore clean` in a loop, then gathers the histories and runs the checker.

use crate::checker::{self, Params, Violation};
use crate::history::{self, now_ns, History, Record};
use crate::nemesis::{self, Action, Event};
use crate::{ACQUIRE_TIMEOUT_MS, LEASE_MS};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How often the driver sweeps with `lockcore clean`.
const CLEAN_EVERY_MS: u64 = 400;

/// One run.
#[derive(Clone, Debug)]
pub struct Config {
    pub seed: u64,
    pub seconds: f64,
    pub workers: usize,
    pub sessions: usize,
    /// The `stress-worker` binary.
    pub worker_exe: PathBuf,
    /// The real `lockcore` CLI: one worker runs `lockcore run`, and the driver sweeps with
    /// `lockcore clean`. `None`: both are left out (the run says why in its notes).
    pub cli: Option<PathBuf>,
    /// A catalogue mutant for every library worker (the twin run).
    pub mutant: Option<String>,
    /// Faults closer together (the twin run).
    pub aggressive: bool,
    /// Run one worker under `strace` fault injection, where strace works.
    pub strace: bool,
}

/// What a run found.
#[derive(Debug, Default)]
pub struct Outcome {
    pub seed: u64,
    /// Wall time of the run, including the drain.
    pub seconds: f64,
    pub workers: usize,
    /// Operations the workers completed (acquire attempts, fence writes, releases, restarts).
    pub operations: u64,
    pub holds: u64,
    pub nemesis_events: u64,
    pub violations: Vec<Violation>,
    pub start_ns: u64,
    /// Parts skipped, and why.
    pub notes: Vec<String>,
    /// The harness itself went wrong (a worker crashed, a history unreadable).
    pub errors: Vec<String>,
    /// The run's directory, kept when something was found.
    pub dir: Option<PathBuf>,
}

impl Outcome {
    /// Seconds from the start to the first violation.
    pub fn first_violation_s(&self) -> Option<f64> {
        let v = self.violations.first()?;
        Some(v.at_ns.saturating_sub(self.start_ns) as f64 / 1e9)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Lib,
    Cli,
    Strace,
}

struct Worker {
    who: String,
    child: Child,
}

struct Run<'a> {
    cfg: &'a Config,
    dir: PathBuf,
    log: History,
    start_ns: u64,
    deadline_ns: u64,
    kinds: Vec<Kind>,
    incarnations: Vec<u32>,
    workers: Vec<Option<Worker>>,
    zombies: Vec<(Worker, u64)>,
    stopped: Vec<(usize, u64)>,
    clean: Option<(Child, u64)>,
    next_clean_ns: u64,
    events: u64,
    errors: Vec<String>,
}

/// Whether `strace` can trace here; the reason it cannot, otherwise.
pub fn strace_works() -> Result<(), String> {
    let out = Command::new("strace")
        .args(["-f", "-qq", "-o", "/dev/null", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("strace not found ({e})"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "strace cannot trace here: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The slot kinds: slot 0 under strace (if wanted and it works), slot 1 the CLI (if found),
/// the rest library workers. Only library workers are nemesis targets: killing a
/// `lockcore run` would orphan its command, and a traced process belongs to strace.
fn kinds(cfg: &Config, notes: &mut Vec<String>) -> Vec<Kind> {
    let mut k = vec![Kind::Lib; cfg.workers];
    if cfg.strace && cfg.workers >= 3 {
        match strace_works() {
            Ok(()) => k[0] = Kind::Strace,
            Err(why) => notes.push(format!("strace fault injection skipped: {why}")),
        }
    }
    match &cfg.cli {
        Some(_) if cfg.workers >= 3 => k[1] = Kind::Cli,
        Some(_) => {}
        None => {
            notes.push("CLI worker and `lockcore clean` sweeps skipped: no lockcore binary".into())
        }
    }
    k
}

/// Runs the stress test and checks its histories.
pub fn run(cfg: &Config) -> Result<Outcome, String> {
    let tmp = tempfile::Builder::new()
        .prefix("lockcore-stress-")
        .tempdir()
        .map_err(|e| format!("temp dir: {e}"))?;
    let dir = tmp.path().to_path_buf();
    for sub in ["hist", "logs"] {
        std::fs::create_dir(dir.join(sub)).map_err(|e| format!("{sub}: {e}"))?;
    }
    let mut notes = Vec::new();
    let kinds = kinds(cfg, &mut notes);
    let run_ms = (cfg.seconds * 1000.0) as u64;
    let start_ns = now_ns();
    let mut r = Run {
        cfg,
        log: History::open(&dir.join("hist").join("nemesis.jsonl")).map_err(|e| e.to_string())?,
        dir: dir.clone(),
        start_ns,
        deadline_ns: start_ns + run_ms * 1_000_000,
        incarnations: vec![0; kinds.len()],
        workers: (0..kinds.len()).map(|_| None).collect(),
        kinds,
        zombies: Vec::new(),
        stopped: Vec::new(),
        clean: None,
        next_clean_ns: start_ns,
        events: 0,
        errors: Vec::new(),
    };
    r.record(Record::new(
        "nemesis",
        "start",
        start_ns,
        start_ns,
        &format!("seed={}", cfg.seed),
    ));
    let targets: Vec<usize> = (0..r.kinds.len())
        .filter(|&i| r.kinds[i] == Kind::Lib)
        .collect();
    let schedule = nemesis::schedule(cfg.seed, run_ms, &targets, cfg.aggressive);
    for slot in 0..r.kinds.len() {
        r.spawn(slot);
    }
    r.main_loop(&schedule);
    r.drain();
    let mut out = r.gather()?;
    out.notes.extend(notes);
    if !out.violations.is_empty() || !out.errors.is_empty() {
        out.dir = Some(tmp.keep());
    }
    Ok(out)
}

impl Run<'_> {
    fn record(&mut self, r: Record) {
        if let Err(e) = self.log.append(&r) {
            self.errors.push(format!("nemesis history: {e}"));
        }
    }

    fn since_start_ms(&self) -> u64 {
        (now_ns() - self.start_ns) / 1_000_000
    }

    fn main_loop(&mut self, schedule: &[Event]) {
        let mut next = 0;
        while now_ns() < self.deadline_ns {
            let t = self.since_start_ms();
            while next < schedule.len() && schedule[next].at_ms <= t {
                self.apply(schedule[next]);
                next += 1;
            }
            let now = now_ns();
            self.continue_due(now);
            self.reap_due(now);
            self.clean_tick(now);
            self.respawn_exited();
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn worker_command(&self, slot: usize, who: &str) -> Command {
        let seed =
            crate::rng::Rng::derive(self.cfg.seed, slot as u64, self.incarnations[slot] as u64)
                .next_u64();
        let mut args: Vec<String> = vec![
            "--dir".into(),
            self.dir.display().to_string(),
            "--sessions".into(),
            self.cfg.sessions.to_string(),
            "--who".into(),
            who.into(),
            "--seed".into(),
            seed.to_string(),
            "--deadline-ns".into(),
            self.deadline_ns.to_string(),
            "--history".into(),
            self.dir
                .join("hist")
                .join(format!("{who}.jsonl"))
                .display()
                .to_string(),
        ];
        let kind = self.kinds[slot];
        match (kind, &self.cfg.cli, &self.cfg.mutant) {
            (Kind::Cli, Some(cli), _) => args.extend(["--cli".into(), cli.display().to_string()]),
            (Kind::Lib, _, Some(m)) => args.extend(["--mutant".into(), m.clone()]),
            _ => {}
        }
        let mut cmd = if kind == Kind::Strace {
            // Fail calls on the lock directory that the history and counter files never make:
            // publish (linkat), unlink, the reclaim flock, the lease touch.
            let calls = "linkat,unlinkat,flock,utimensat";
            let mut c = Command::new("strace");
            c.args(["-f", "-qq", "-o", "/dev/null", "-e"])
                .arg(format!("trace={calls}"))
                .arg("-e")
                .arg(format!("inject={calls}:error=EIO:when=4+7"))
                .arg(&self.cfg.worker_exe);
            c
        } else {
            Command::new(&self.cfg.worker_exe)
        };
        cmd.args(args);
        cmd
    }

    fn spawn(&mut self, slot: usize) {
        let prefix = match self.kinds[slot] {
            Kind::Lib => "w",
            Kind::Cli => "c",
            Kind::Strace => "s",
        };
        let who = format!("{prefix}{slot}.{}", self.incarnations[slot]);
        let err = std::fs::File::create(self.dir.join("logs").join(format!("{who}.err")));
        let mut cmd = self.worker_command(slot, &who);
        cmd.stdin(Stdio::null()).stdout(Stdio::null());
        if let Ok(f) = err {
            cmd.stderr(f);
        }
        let t = now_ns();
        match cmd.spawn() {
            Ok(child) => {
                let pid = child.id();
                self.record(Record::new("nemesis", "spawn", t, now_ns(), "ok").target(&who, pid));
                self.workers[slot] = Some(Worker { who, child });
            }
            Err(e) => self.errors.push(format!("spawn {who}: {e}")),
        }
        self.incarnations[slot] += 1;
    }

    fn signal(&mut self, slot: usize, op: &str, sig: libc::c_int) {
        let Some(w) = &self.workers[slot] else { return };
        let (who, pid) = (w.who.clone(), w.child.id());
        let t = now_ns();
        // SAFETY: kill(2) on our own child's pid, which we have not reaped (no reuse).
        let rc = unsafe { libc::kill(pid as libc::pid_t, sig) };
        let result = if rc == 0 { "ok" } else { "error" };
        self.record(Record::new("nemesis", op, t, now_ns(), result).target(&who, pid));
    }

    fn apply(&mut self, e: Event) {
        self.events += 1;
        match e.action {
            Action::Usr1 => self.signal(e.slot, "usr1", libc::SIGUSR1),
            Action::Stop { ms } => {
                self.signal(e.slot, "stop", libc::SIGSTOP);
                self.stopped.push((e.slot, now_ns() + ms * 1_000_000));
            }
            Action::Kill | Action::Zombie { .. } => self.kill(e),
        }
    }

    fn kill(&mut self, e: Event) {
        let Some(w) = self.workers[e.slot].take() else {
            return;
        };
        let reap_after = match e.action {
            Action::Zombie { reap_after_ms } => Some(reap_after_ms),
            _ => None,
        };
        self.kill_worker(w, reap_after);
        self.spawn(e.slot);
    }

    /// SIGKILL, recorded; reaped at once, or left a zombie for `reap_after_ms`.
    fn kill_worker(&mut self, mut w: Worker, reap_after_ms: Option<u64>) {
        let op = if reap_after_ms.is_some() {
            "zombie"
        } else {
            "kill"
        };
        let pid = w.child.id();
        let t = now_ns();
        let _ = w.child.kill();
        self.record(Record::new("nemesis", op, t, now_ns(), "ok").target(&w.who, pid));
        match reap_after_ms {
            Some(ms) => self.zombies.push((w, now_ns() + ms * 1_000_000)),
            None => {
                let _ = w.child.wait();
            }
        }
    }

    fn continue_due(&mut self, now: u64) {
        let due: Vec<usize> = self
            .stopped
            .iter()
            .filter(|s| s.1 <= now)
            .map(|s| s.0)
            .collect();
        self.stopped.retain(|s| s.1 > now);
        for slot in due {
            self.signal(slot, "cont", libc::SIGCONT);
        }
    }

    fn reap_due(&mut self, now: u64) {
        let (due, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.zombies)
            .into_iter()
            .partition(|z| z.1 <= now);
        self.zombies = keep;
        for (mut w, _) in due {
            let t = now_ns();
            let _ = w.child.wait();
            self.record(
                Record::new("nemesis", "reap", t, now_ns(), "ok").target(&w.who, w.child.id()),
            );
        }
    }

    /// `lockcore clean DIR` every [`CLEAN_EVERY_MS`], one at a time.
    fn clean_tick(&mut self, now: u64) {
        let Some(cli) = &self.cfg.cli else { return };
        if let Some((child, t)) = &mut self.clean {
            let Ok(Some(status)) = child.try_wait() else {
                return;
            };
            let t = *t;
            self.clean = None;
            let result = format!("exit {}", status.code().unwrap_or(-1));
            self.record(Record::new("nemesis", "clean", t, now_ns(), &result));
        }
        if now < self.next_clean_ns {
            return;
        }
        self.next_clean_ns = now + CLEAN_EVERY_MS * 1_000_000;
        let child = Command::new(cli)
            .arg("clean")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        match child {
            Ok(c) => self.clean = Some((c, now_ns())),
            Err(e) => self.errors.push(format!("lockcore clean: {e}")),
        }
    }

    /// A worker that exited before the deadline without being killed crashed: an error of
    /// the run, and a fresh worker takes its slot.
    fn respawn_exited(&mut self) {
        for slot in 0..self.workers.len() {
            let Some(w) = &mut self.workers[slot] else {
                continue;
            };
            let Ok(Some(status)) = w.child.try_wait() else {
                continue;
            };
            let who = w.who.clone();
            self.errors.push(format!(
                "{who} exited early with {status} (see logs/{who}.err)"
            ));
            self.workers[slot] = None;
            if now_ns() < self.deadline_ns {
                self.spawn(slot);
            }
        }
    }

    /// After the deadline: continue the stopped, reap the zombies, let workers finish their
    /// last operation (they stop at the deadline), kill any that does not within a bound.
    fn drain(&mut self) {
        self.continue_due(u64::MAX);
        self.reap_due(u64::MAX);
        let bound = self.deadline_ns + (ACQUIRE_TIMEOUT_MS + 20_000) * 1_000_000;
        for slot in 0..self.workers.len() {
            let Some(mut w) = self.workers[slot].take() else {
                continue;
            };
            loop {
                match w.child.try_wait() {
                    Ok(Some(status)) => {
                        if !status.success() {
                            self.errors.push(format!("{} exited with {status}", w.who));
                        }
                        break;
                    }
                    _ if now_ns() > bound => {
                        self.errors.push(format!("{} did not stop; killed", w.who));
                        self.kill_worker(w, None);
                        break;
                    }
                    _ => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        }
        if let Some((mut c, t)) = self.clean.take() {
            let status = c.wait();
            let result = format!("exit {:?}", status.ok().and_then(|s| s.code()));
            self.record(Record::new("nemesis", "clean", t, now_ns(), &result));
        }
    }

    fn counters(&self) -> BTreeMap<String, u64> {
        (0..self.cfg.sessions)
            .map(|s| {
                let path = self.dir.join(format!("s{s}.fence"));
                let n = std::fs::read_to_string(path)
                    .ok()
                    .and_then(|t| t.trim().parse().ok())
                    .unwrap_or(0);
                (format!("s{s}"), n)
            })
            .collect()
    }

    fn gather(self) -> Result<Outcome, String> {
        let history = history::read_dir(&self.dir.join("hist"))?;
        let params = Params::for_lease_ms(LEASE_MS);
        let violations = checker::check(&history, &self.counters(), &params);
        let client_ops = [
            "acquire",
            "fence",
            "skip-write",
            "release",
            "release_all",
            "run",
        ];
        let worker_op = |r: &&Record| r.who != "nemesis" && client_ops.contains(&r.op.as_str());
        Ok(Outcome {
            seed: self.cfg.seed,
            seconds: (now_ns() - self.start_ns) as f64 / 1e9,
            workers: self.cfg.workers,
            operations: history.iter().filter(worker_op).count() as u64,
            holds: checker::holds(&history, &params).len() as u64,
            nemesis_events: self.events,
            violations,
            start_ns: self.start_ns,
            notes: Vec::new(),
            errors: self.errors,
            dir: None,
        })
    }
}

/// The `lockcore` CLI next to `exe` (both are built into `target/<profile>/`), if it is there.
pub fn cli_beside(exe: &Path) -> Option<PathBuf> {
    let dir = exe.parent()?;
    [dir.join("lockcore"), dir.parent()?.join("lockcore")]
        .into_iter()
        .find(|p| p.is_file())
}
