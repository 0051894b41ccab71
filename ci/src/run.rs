//! Runs one step: its own process group, stdout and stderr into `target/gate/logs/<step>.log` (one
//! file: nothing parses it), a timeout, and Ctrl-C / SIGTERM passed on to the whole group so no test
//! outlives the gate.

use crate::plan::{Kind, Step};
use rustix::process::{kill_process_group, Pid, Signal};
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How a step's process ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
    TimedOut,
    Interrupted,
    /// It could not be started (cargo missing, say).
    NotStarted(String),
}

/// A finished step.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub step: Step,
    pub exit: Exit,
    pub seconds: f64,
    pub log: PathBuf,
    /// Its nextest JUnit file, copied beside the log (test steps only).
    pub junit: Option<PathBuf>,
}

impl Outcome {
    /// Exit 0; for cargo-mutants also 2 (missed mutants) and 3 (timeouts), which the judge
    /// weighs against `ci/mutants/equivalent.txt` instead.
    pub fn ok_exit(&self) -> bool {
        match (&self.step.kind, &self.exit) {
            (Kind::CargoMutants { .. }, Exit::Code(2 | 3)) => true,
            (_, exit) => *exit == Exit::Code(0),
        }
    }

    /// `exit 101`, `killed by signal 9`, `timed out after 600 s`, …
    pub fn exit_text(&self) -> String {
        match &self.exit {
            Exit::Code(c) => format!("exit {c}"),
            Exit::Signal(s) => format!("killed by signal {s}"),
            Exit::TimedOut => format!("timed out after {} s", self.step.timeout_secs),
            Exit::Interrupted => "interrupted".to_string(),
            Exit::NotStarted(e) => format!("could not start: {e}"),
        }
    }
}

fn signal_group(child: &Child, sig: Signal) {
    if let Some(pid) = i32::try_from(child.id()).ok().and_then(Pid::from_raw) {
        let _ = kill_process_group(pid, sig);
    }
}

/// SIGTERM to the group, five seconds' grace, then SIGKILL; reaps the child.
fn stop_group(child: &mut Child) {
    signal_group(child, Signal::TERM);
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && !matches!(child.try_wait(), Ok(Some(_))) {
        std::thread::sleep(Duration::from_millis(100));
    }
    signal_group(child, Signal::KILL);
    let _ = child.wait();
}

/// Runs `step` from `root` with the results directory in its environment.
pub fn step(step: &Step, root: &Path, gate_dir: &Path, stop: &AtomicBool) -> Outcome {
    let log = gate_dir.join("logs").join(format!("{}.log", step.name));
    let started = Instant::now();
    let exit = match spawn_and_wait(step, root, gate_dir, &log, stop) {
        Ok(exit) => exit,
        Err(e) => Exit::NotStarted(e.to_string()),
    };
    let junit = (step.kind == Kind::Tests).then(|| copy_junit(root, &log)).flatten();
    Outcome { step: step.clone(), exit, seconds: started.elapsed().as_secs_f64(), log, junit }
}

fn spawn_and_wait(step: &Step, root: &Path, gate_dir: &Path, log: &Path, stop: &AtomicBool) -> std::io::Result<Exit> {
    let mut file = File::create(log)?;
    let mut args = step.args.clone();
    match &step.kind {
        // A first pass starts a new run: lists carried from an earlier gate run must not count.
        Kind::CargoMutants { out, retest: false } => {
            match std::fs::remove_dir_all(root.join(out).join(lockcore_results::report::CARRIED_DIR)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Kind::CargoMutants { out, retest: true } => {
            let Some(re) = retest_filter(&root.join(out))? else {
                use std::io::Write;
                writeln!(file, "nothing to retest: the passes before this one missed no mutant")?;
                return Ok(Exit::Code(0));
            };
            args.extend(["--re".to_string(), re]);
        }
        _ => {}
    }
    let mut cmd = Command::new(step.program);
    cmd.args(&args)
        .current_dir(root)
        .envs(step.env.iter().map(|(k, v)| (k, v)))
        .env(lockcore_results::RESULTS_DIR_VAR, results_dir(step, root, gate_dir))
        .env("CARGO_TERM_COLOR", "never")
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .process_group(0);
    let mut child = cmd.spawn()?;
    let deadline = Instant::now() + Duration::from_secs(step.timeout_secs);
    let exit = loop {
        if let Some(status) = child.try_wait()? {
            use std::os::unix::process::ExitStatusExt;
            break match (status.code(), status.signal()) {
                (Some(c), _) => Exit::Code(c),
                (None, s) => Exit::Signal(s.unwrap_or(0)),
            };
        }
        if stop.load(Ordering::SeqCst) || Instant::now() >= deadline {
            stop_group(&mut child);
            break if stop.load(Ordering::SeqCst) { Exit::Interrupted } else { Exit::TimedOut };
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    Ok(exit)
}

/// Where a step's tests write their result files: the gate's results, except for cargo-mutants,
/// whose mutated runs write twins of a broken catalogue (a mutated `Mutant::id`, say) that must
/// not count as the gate's own.
fn results_dir(step: &Step, root: &Path, gate_dir: &Path) -> PathBuf {
    match &step.kind {
        Kind::CargoMutants { out, .. } => root.join(out).join("results-of-mutants"),
        _ => gate_dir.join("results"),
    }
}

/// A retest pass of cargo-mutants: the regex naming exactly what the passes before it missed
/// (`None`: nothing), after carrying their unviable and timeout lists into `<out>/carried/` —
/// `--iterate` keeps only what they caught.
fn retest_filter(out: &Path) -> std::io::Result<Option<String>> {
    let dir = out.join("mutants.out");
    let read = |f: &str| {
        std::fs::read_to_string(dir.join(f)).or_else(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Ok(String::new()),
            _ => Err(e),
        })
    };
    let carried = out.join(lockcore_results::report::CARRIED_DIR);
    std::fs::create_dir_all(&carried)?;
    for f in ["unviable.txt", "timeout.txt"] {
        let mut kept = std::fs::read_to_string(carried.join(f)).unwrap_or_default();
        kept.push_str(&read(f)?);
        std::fs::write(carried.join(f), kept)?;
    }
    let missed = read("missed.txt")?;
    let names: Vec<String> =
        missed.lines().filter(|l| !l.trim().is_empty()).map(|l| format!("^{}$", escape_regex(l))).collect();
    Ok((!names.is_empty()).then(|| names.join("|")))
}

/// `s` as a literal in cargo-mutants' regex syntax (the regex crate's meta characters escaped).
pub fn escape_regex(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// nextest writes `<target>/nextest/gate/junit.xml` on every run; keep this step's beside its log.
fn copy_junit(root: &Path, log: &Path) -> Option<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), |t| root.join(t));
    let from = target.join("nextest/gate/junit.xml");
    let to = log.with_extension("junit.xml");
    std::fs::rename(&from, &to).ok().map(|()| to)
}

/// The last `n` lines of a log, for a failing step.
pub fn tail(log: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::new();
    for l in &lines[lines.len().saturating_sub(n)..] {
        out.push_str("    ");
        out.push_str(l);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(name: &'static str, script: &str, timeout_secs: u64) -> Step {
        let args = vec!["-c".to_string(), script.to_string()];
        Step { name, program: "sh", kind: Kind::Check, args, env: vec![], timeout_secs }
    }

    #[test]
    fn exit_status_and_log_are_recorded() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("logs")).unwrap();
        let stop = AtomicBool::new(false);
        let root = std::env::current_dir().unwrap();
        let ok = step(&sh("ok", "echo out; echo err >&2", 60), &root, dir.path(), &stop);
        assert_eq!(ok.exit, Exit::Code(0), "{}", ok.exit_text());
        let log = std::fs::read_to_string(&ok.log).unwrap();
        assert!(log.contains("out\n") && log.contains("err\n"), "{log}");
        let bad = step(&sh("bad", "echo last words; exit 3", 60), &root, dir.path(), &stop);
        assert_eq!(bad.exit, Exit::Code(3));
        assert!(tail(&bad.log, 5).contains("last words"));
    }

    #[test]
    fn a_stop_request_or_a_timeout_kills_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("logs")).unwrap();
        let root = std::env::current_dir().unwrap();
        // `exec sleep`: the shell's child would otherwise keep the pipes open after the group
        // is killed; the group kill must reach it either way.
        let stop = AtomicBool::new(true);
        let o = step(&sh("stopped", "exec sleep 600", 60), &root, dir.path(), &stop);
        assert_eq!(o.exit, Exit::Interrupted, "{}", o.exit_text());
        let stop = AtomicBool::new(false);
        let o = step(&sh("overran", "sleep 600; sleep 600", 0), &root, dir.path(), &stop);
        assert_eq!(o.exit, Exit::TimedOut, "{}", o.exit_text());
    }

    #[test]
    fn a_retest_pass_names_exactly_the_missed_and_carries_the_other_lists() {
        let out = tempfile::tempdir().unwrap();
        assert_eq!(retest_filter(out.path()).unwrap(), None, "no earlier pass: nothing to retest");
        let lists = out.path().join("mutants.out");
        std::fs::create_dir_all(&lists).unwrap();
        std::fs::write(lists.join("missed.txt"), "a.rs:1:2: replace f -> u8 with 0 in <impl X<E>>::g\nb\n").unwrap();
        std::fs::write(lists.join("unviable.txt"), "u\n").unwrap();
        let re = retest_filter(out.path()).unwrap().unwrap();
        assert_eq!(re, r"^a\.rs:1:2: replace f \-> u8 with 0 in <impl X<E>>::g$|^b$");
        let carried = out.path().join(lockcore_results::report::CARRIED_DIR);
        assert_eq!(std::fs::read_to_string(carried.join("unviable.txt")).unwrap(), "u\n");

        // A first pass of a new run (here `true` stands in for cargo-mutants) drops them.
        let first = Step {
            program: "true",
            kind: Kind::CargoMutants { out: ".".into(), retest: false },
            ..sh("first", "", 60)
        };
        std::fs::create_dir_all(out.path().join("logs")).unwrap();
        let stop = AtomicBool::new(false);
        assert_eq!(step(&first, out.path(), out.path(), &stop).exit, Exit::Code(0));
        assert!(!carried.exists(), "an earlier run's carried lists are gone");

        let gate_dir = out.path().join("gate");
        let pass = Step { kind: Kind::CargoMutants { out: "cm".into(), retest: false }, ..sh("m", "", 1) };
        assert_eq!(results_dir(&pass, out.path(), &gate_dir), out.path().join("cm/results-of-mutants"));
        assert_eq!(results_dir(&sh("t", "true", 1), out.path(), &gate_dir), gate_dir.join("results"));
    }
}
