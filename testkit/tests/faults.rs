//! The fault-injection layer (DESIGN §7 "faults"): the real `lockcore` CLI (built here as
//! `lockcore-cli-under-test`, the same program) under
//! `strace -e inject=SYSCALL:error=ERRNO:when=N`, for every system call it makes on the lock
//! directory, with the invariants of P10–P12 and P16 checked after each run.
//!
//! Discovery runs each scenario once under strace and keeps the calls whose path (or whose file
//! descriptor's path, `-y`) lies in the lock directory. strace counts `when=` per syscall and per
//! tracee (thread) over *all* calls of that syscall, so a site's `when` is its ordinal among its
//! thread's calls of that name, not among the lock-directory calls.
//!
//! strace fails a call by not making it. For `close` that leaves the descriptor open, which Linux
//! never does (close frees it even when it reports an error): a failed close of the directory
//! lock's descriptor keeps that `flock`, and the process's next `flock` waits out the library's
//! 10 s limit. Such cases still check every invariant except the EINTR retry.
//!
//! Budget (`LOCKCORE_FAULTS`): unset — the first lock-directory call of each syscall with EIO and
//! EINTR; `quick` — the first call of each syscall on each file (a repeated read of the same
//! lock is skipped; so is a failed `close` of the directory itself, above) with every errno;
//! `full` — every call,
//! every errno. `LOCKCORE_RESULTS_DIR` — write `faults.json` there.

use lockcore_results::{FaultFailure, FaultsResult, Record};
use lockcore_testkit::faults::{
    landed, run_bounded, shell_word, sites, skip_reason, tail, Ran, Site,
};
use lockcore_testkit::procs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

const ERRNOS: [&str; 5] = ["EIO", "ENOSPC", "EACCES", "EINTR", "EAGAIN"];
/// Above Linux's PID_MAX_LIMIT (2^22): no process can have it, so it is dead for good.
const DEAD_PID: u32 = 4_195_304;
/// A publish temp file of `DEAD_PID`, as a crashed publisher leaves it.
const STALE_TEMP: &str = ".s.jsonl.lock.4195304-00000000deadbeef.lktmp";
/// Bound on one run of the CLI (a hang fails the case; this is not a timing assertion).
const DEADLINE: Duration = Duration::from_secs(30);

/// A file planted in the lock directory before a run.
#[derive(Clone, Copy, Debug)]
enum Plant {
    /// A legacy `{pid, createdAt}` lock of `DEAD_PID`, created now: stale (`dead-pid`).
    DeadLock(&'static str),
    /// A legacy lock of the test process itself (alive, no host): live, must never be removed.
    LiveLock(&'static str),
    /// `STALE_TEMP`.
    StaleTemp,
    /// A lock of the test process itself (alive) under a lease of [`LEASE_MS`] whose last
    /// refresh is now: busy until the lease runs out, then stale (`lease-expired`).
    LeaseLock(&'static str),
}

/// The planted lease (`Plant::LeaseLock`): long enough that the hold waits, and queues.
const LEASE_MS: u32 = 150;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Hold,
    /// A hold that finds the lock busy, queues at once (a ticket and the queue flag), and
    /// takes the lock when its lease runs out.
    QueuedHold,
    Inspect,
    Clean,
}

/// A CLI argument: literal, or a path inside the lock directory (`""`: the directory).
#[derive(Clone, Copy, Debug)]
enum Arg {
    Lit(&'static str),
    Dir(&'static str),
}

#[derive(Debug)]
struct Scenario {
    name: &'static str,
    action: Action,
    plants: &'static [Plant],
}

const SCENARIOS: [Scenario; 5] = [
    Scenario {
        name: "hold",
        action: Action::Hold,
        plants: &[],
    },
    Scenario {
        name: "hold-reclaim",
        action: Action::Hold,
        plants: &[Plant::DeadLock("s.jsonl.lock")],
    },
    Scenario {
        name: "hold-queued",
        action: Action::QueuedHold,
        plants: &[Plant::LeaseLock("s.jsonl.lock")],
    },
    Scenario {
        name: "inspect",
        action: Action::Inspect,
        plants: &[
            Plant::DeadLock("s.jsonl.lock"),
            Plant::LiveLock("live.jsonl.lock"),
        ],
    },
    Scenario {
        name: "clean",
        action: Action::Clean,
        plants: &[
            Plant::DeadLock("s.jsonl.lock"),
            Plant::LiveLock("live.jsonl.lock"),
            Plant::StaleTemp,
        ],
    },
];

/// The planted locks are the historic host-less shapes written by processes of this pid
/// namespace: the runs opt into judging them by pid (otherwise they fail closed, P14).
const SAME_NS: Arg = Arg::Lit("--same-pid-namespace");

/// What makes a hold queue at once while it waits (for the planted lease).
const QUEUE_AT_ONCE: [Arg; 2] = [Arg::Lit("--queue-after-ms"), Arg::Lit("0")];

/// The un-injected hold that must succeed after every case.
const FRESH_HOLD: [Arg; 7] = [
    Arg::Lit("hold"),
    Arg::Dir("s.jsonl"),
    Arg::Lit("--hold-ms"),
    Arg::Lit("0"),
    Arg::Lit("--timeout-ms"),
    Arg::Lit("2000"),
    SAME_NS,
];

impl Scenario {
    fn args(&self) -> Vec<Arg> {
        match self.action {
            Action::Hold => FRESH_HOLD.to_vec(),
            Action::QueuedHold => [FRESH_HOLD.as_slice(), &QUEUE_AT_ONCE].concat(),
            Action::Inspect => vec![Arg::Lit("inspect"), Arg::Dir(""), SAME_NS],
            Action::Clean => vec![Arg::Lit("clean"), Arg::Dir(""), SAME_NS],
        }
    }

    fn plant(&self, dir: &Path) {
        for p in self.plants {
            match *p {
                Plant::DeadLock(name) => procs::plant(&dir.join(name), &procs::legacy(DEAD_PID, 0)),
                Plant::LiveLock(name) => {
                    procs::plant(&dir.join(name), &procs::legacy(std::process::id(), 0))
                }
                Plant::StaleTemp => procs::plant(&dir.join(STALE_TEMP), "{}"),
                Plant::LeaseLock(name) => {
                    procs::plant(&dir.join(name), &leased(&std::process::id().to_string()))
                }
            }
        }
    }

    /// Shell commands that build the same directory in `$d` (the live owner is the shell).
    fn shell_setup(&self) -> String {
        let legacy = |pid: &str, name: &str| {
            format!(
                r#"printf '{{\n  "pid": %s,\n  "createdAt": "%s"\n}}' {pid} "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)" > "$d/{name}""#
            )
        };
        let mut words = vec!["d=$(mktemp -d)".to_string()];
        for p in self.plants {
            words.push(match *p {
                Plant::DeadLock(name) => legacy(&DEAD_PID.to_string(), name),
                Plant::LiveLock(name) => legacy("$$", name),
                Plant::StaleTemp => format!("echo '{{}}' > \"$d/{STALE_TEMP}\""),
                Plant::LeaseLock(name) => format!(
                    "printf '%s' \"{}\" > \"$d/{name}\"",
                    leased("$$").replace('"', "\\\"")
                ),
            });
        }
        words.join(" && ")
    }

    fn lock_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.plants.iter().filter_map(|p| match *p {
            Plant::DeadLock(n) | Plant::LiveLock(n) | Plant::LeaseLock(n) => Some(n),
            Plant::StaleTemp => None,
        })
    }
}

/// A lock of `pid` (a number, or `$$` in a shell) under a lease of [`LEASE_MS`].
fn leased(pid: &str) -> String {
    format!(
        "{{\"pid\": {pid}, \"createdAt\": \"2026-01-01T00:00:00.000Z\", \"leaseMs\": {LEASE_MS}}}"
    )
}

fn real_args(args: &[Arg], dir: &Path) -> Vec<PathBuf> {
    args.iter()
        .map(|a| match *a {
            Arg::Lit(s) => PathBuf::from(s),
            Arg::Dir("") => dir.to_path_buf(),
            Arg::Dir(name) => dir.join(name),
        })
        .collect()
}

fn shell_args(args: &[Arg]) -> String {
    let words: Vec<String> = args
        .iter()
        .map(|a| match *a {
            Arg::Lit(s) => shell_word(s),
            Arg::Dir("") => "\"$d\"".to_string(),
            Arg::Dir(name) => format!("\"$d/{name}\""),
        })
        .collect();
    words.join(" ")
}

/// The `lockcore` CLI: this package's `lockcore-cli-under-test`, the same program
/// (`lockcore_cli::main`) under a name cargo lets this test see.
fn lockcore_bin() -> &'static str {
    env!("CARGO_BIN_EXE_lockcore-cli-under-test")
}

/// One injection: a scenario, a call site, an errno.
#[derive(Clone, Debug)]
struct Case {
    scenario: &'static Scenario,
    site: Site,
    errno: &'static str,
}

impl Case {
    fn inject(&self) -> String {
        format!(
            "inject={}:error={}:when={}",
            self.site.syscall, self.errno, self.site.when
        )
    }

    /// Pasteable: builds the directory, runs the injected CLI, prints its exit code. strace's
    /// injection counting is per syscall, so `-o /dev/null` with the default trace set injects
    /// into the same call as the test's `-y -e trace=SYSCALL -o LOG`.
    fn reproduce(&self) -> String {
        format!(
            "{} && env {} strace -f -qq -o /dev/null -e {} {} {}; echo \"exit $?\"",
            self.scenario.shell_setup(),
            UNSET.map(|v| format!("-u {v}")).join(" "),
            self.inject(),
            shell_word(lockcore_bin()),
            shell_args(&self.scenario.args())
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Budget {
    Sample,
    Quick,
    Full,
}

impl Budget {
    fn from_env() -> Budget {
        match std::env::var("LOCKCORE_FAULTS").as_deref() {
            Err(_) | Ok("") => Budget::Sample,
            Ok("quick") => Budget::Quick,
            Ok("full") => Budget::Full,
            Ok(other) => panic!("LOCKCORE_FAULTS={other:?}: expected `quick`, `full` or unset"),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Budget::Sample => "sample",
            Budget::Quick => "quick",
            Budget::Full => "full",
        }
    }

    fn errnos(self) -> &'static [&'static str] {
        match self {
            Budget::Sample => &["EIO", "EINTR"],
            Budget::Quick | Budget::Full => &ERRNOS,
        }
    }

    fn takes(self, site: &Site) -> bool {
        match self {
            Budget::Sample => site.occurrence == 1,
            // A failed close of the directory's descriptor is strace's artefact (the kernel
            // always frees it) and costs a 10 s flock timeout: the full budget keeps it.
            Budget::Quick => {
                site.first_of_kind && !(site.syscall == "close" && site.target == "DIR")
            }
            Budget::Full => true,
        }
    }
}

/// A fresh case directory: `root/locks` (canonical, as strace's `-y` prints it) plus room for
/// strace's log beside it.
fn case_dir(scenario: &Scenario) -> (tempfile::TempDir, PathBuf) {
    let root = tempfile::tempdir().expect("cannot create a temp dir");
    let dir = root.path().join("locks");
    std::fs::create_dir(&dir).expect("cannot create the lock directory");
    let dir = dir
        .canonicalize()
        .expect("cannot canonicalize the lock directory");
    scenario.plant(&dir);
    (root, dir)
}

/// Variables a child runs without. cargo test sets `LD_LIBRARY_PATH`, and the loader's search
/// along it adds dozens of `openat`/`newfstatat` calls, which would shift every `when=` ordinal
/// away from what the reproduce command (`env -u …`) gets in a plain shell.
const UNSET: [&str; 2] = ["LD_LIBRARY_PATH", "LD_PRELOAD"];

/// `program` from `/`, without the `UNSET` variables.
fn child(program: &str) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir("/");
    for v in UNSET {
        cmd.env_remove(v);
    }
    cmd
}

fn cli(args: &[Arg], dir: &Path) -> Command {
    let mut cmd = child(lockcore_bin());
    cmd.args(real_args(args, dir));
    cmd
}

fn run(cmd: Command) -> Ran {
    run_bounded(cmd, DEADLINE).unwrap_or_else(|e| panic!("cannot run a child: {e}"))
}

/// Runs a scenario once under strace and returns its calls on the lock directory.
fn discover(scenario: &Scenario) -> Vec<Site> {
    let (root, dir) = case_dir(scenario);
    let log = root.path().join("discover.log");
    let mut cmd = child("strace");
    cmd.args(["-f", "-qq", "-y", "-e", "trace=%file,%desc,flock", "-o"])
        .arg(&log)
        .arg(lockcore_bin())
        .args(real_args(&scenario.args(), &dir));
    let ran = run(cmd);
    assert_eq!(
        ran.code,
        Some(0),
        "[{}] the un-injected run failed ({}): {}",
        scenario.name,
        ran.describe(),
        ran.stderr
    );
    let text = std::fs::read_to_string(&log).expect("cannot read the strace log");
    let dir = dir.to_string_lossy();
    sites(&text, &dir)
        .into_iter()
        // std's debug-build I/O-safety assertion (fcntl F_GETFD before close), not a lockcore
        // step: it reacts to EBADF only, and release builds do not make the call.
        .filter(|s| !s.call.contains("F_GETFD"))
        // The CLI's own start names the directory in its argv; failing it runs no lockcore code.
        .filter(|s| s.syscall != "execve")
        .collect()
}

/// A broken invariant: the property it belongs to and what went wrong.
type Problem = (&'static str, String);

/// What one case gave.
struct Outcome {
    problems: Vec<Problem>,
    exit: String,
    stderr_tail: String,
    landed: bool,
    /// Wall time of the case (reported for budgeting, never asserted).
    seconds: f64,
}

/// The names in `dir` that end with `suffix`.
fn names_ending(dir: &Path, suffix: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(suffix))
                .collect()
        })
        .unwrap_or_default()
}

fn exists(dir: &Path, name: &str) -> bool {
    procs::exists(&dir.join(name))
}

/// `exit 0` means the scenario's work was done: nothing skipped silently.
fn check_effect(case: &Case, ran: &Ran, dir: &Path, problems: &mut Vec<Problem>) {
    let sc = case.scenario;
    let mut missing = |what: String| problems.push(("P12", format!("exit 0 but {what}")));
    match sc.action {
        Action::Hold | Action::QueuedHold if exists(dir, "s.jsonl.lock") => {
            missing("the lock file is still there after the release".into())
        }
        Action::Inspect => {
            for name in sc.lock_names().filter(|n| !ran.stdout.contains(n)) {
                missing(format!("the listing leaves out {name}"));
            }
        }
        Action::Clean => {
            for p in sc.plants {
                match *p {
                    Plant::DeadLock(name) if exists(dir, name) => {
                        missing(format!("the stale lock {name} is still there"))
                    }
                    Plant::StaleTemp if exists(dir, STALE_TEMP) => missing(format!(
                        "the orphaned temp file {STALE_TEMP} is still there"
                    )),
                    _ => {}
                }
            }
        }
        // The queue leaves nothing behind — but a ticket or flag whose own call was failed
        // (its removal, its stat) may stay: stale in a second, swept at 60 s.
        Action::QueuedHold if !case.site.target.contains(".lkq") => {
            let left = names_ending(dir, ".lkq");
            if !left.is_empty() {
                missing(format!("the queue left {left:?}"));
            }
        }
        Action::Hold | Action::QueuedHold => {}
    }
}

/// The invariants on the injected run itself. The error's contract (named, EINTR retried)
/// holds for a fault `landed` on the lock directory; one that fell on another call of the same
/// ordinal (the run took another path than discovery's: a queued hold's waits vary with the
/// machine's speed) must still cause no panic, hang or harm.
fn check_run(case: &Case, ran: &Ran, dir: &Path, landed: bool) -> Vec<Problem> {
    let mut problems: Vec<Problem> = Vec::new();
    let dir_text = dir.to_string_lossy();
    let panicked = ran.code == Some(101) || ran.stderr.contains("panicked");
    if ran.timed_out {
        // P16: no operation hangs.
        problems.push((
            "P16",
            format!("hang: still running after {} s", DEADLINE.as_secs()),
        ));
    } else if panicked {
        // P10, P12: an injected error is a typed error, never a panic.
        let line = ran
            .stderr
            .lines()
            .find(|l| l.contains("panicked"))
            .unwrap_or("");
        problems.push((
            "P12",
            format!("panic ({}): {}", ran.describe(), line.trim()),
        ));
    } else if !matches!(ran.code, Some(0 | 1 | 75)) {
        // P12: the exit code says ok (0), busy (75) or error (1).
        problems.push(("P12", format!("unexpected end: {}", ran.describe())));
    } else if landed && ran.code != Some(0) && !ran.stderr.contains(dir_text.as_ref()) {
        // P12: a failure names the lock path or its directory.
        problems.push((
            "P12",
            format!("{}: the message names no lock path", ran.describe()),
        ));
    }
    // (Not for close: Linux frees the descriptor even when close fails, so it is never retried.)
    if landed
        && case.errno == "EINTR"
        && case.site.syscall != "close"
        && !ran.timed_out
        && !panicked
        && ran.code != Some(0)
    {
        // P12: EINTR means "try again": retried, not reported as a failure.
        problems.push(("P12", format!("EINTR not retried: {}", ran.describe())));
    }
    if ran.code == Some(0) {
        // P12: success is complete.
        check_effect(case, ran, dir, &mut problems);
    }
    for name in case.scenario.lock_names().filter(|n| n.starts_with("live")) {
        if !exists(dir, name) {
            // P2: a live owner's lock is never deleted, fault or not.
            problems.push(("P2", format!("the live lock {name} was deleted")));
        }
    }
    problems
}

/// The invariants after the injected run, with un-injected commands.
fn check_after(dir: &Path) -> Vec<Problem> {
    let mut problems: Vec<Problem> = Vec::new();
    let fresh = run(cli(&FRESH_HOLD, dir));
    if fresh.code != Some(0) {
        // P11: nothing the faulted run left blocks the next holder beyond the dead-pid check.
        problems.push((
            "P11",
            format!(
                "then a fresh hold failed ({}): {}",
                fresh.describe(),
                tail(&fresh.stderr, 2)
            ),
        ));
    }
    let clean = run(cli(&[Arg::Lit("clean"), Arg::Dir("")], dir));
    if clean.code != Some(0) {
        // P11: the litter a fault leaves is sweepable.
        problems.push((
            "P11",
            format!(
                "then `lockcore clean` failed ({}): {}",
                clean.describe(),
                tail(&clean.stderr, 2)
            ),
        ));
    }
    let litter = names_ending(dir, ".lktmp");
    if !litter.is_empty() {
        // P11: no temp-file litter survives a sweep.
        problems.push((
            "P11",
            format!("temp files left after `lockcore clean`: {litter:?}"),
        ));
    }
    problems
}

fn run_case(case: &Case) -> Outcome {
    let started = Instant::now();
    let (root, dir) = case_dir(case.scenario);
    let log = root.path().join("inject.log");
    let mut cmd = child("strace");
    // `-y -e trace=SYSCALL -o LOG` records where the injection landed; injection counting is per
    // syscall, so it injects into the same call as the reproduce command's `-o /dev/null`.
    cmd.args(["-f", "-qq", "-y", "-o"])
        .arg(&log)
        .args([
            "-e",
            &format!("trace={}", case.site.syscall),
            "-e",
            &case.inject(),
        ])
        .arg(lockcore_bin())
        .args(real_args(&case.scenario.args(), &dir));
    let ran = run(cmd);
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    let landed = landed(&log_text, &dir.to_string_lossy());
    let mut problems = check_run(case, &ran, &dir, landed);
    problems.extend(check_after(&dir));
    Outcome {
        problems,
        exit: ran.describe(),
        stderr_tail: tail(&ran.stderr, 5),
        landed,
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// Runs every case on two threads per core (a case mostly waits on its children, some for the
/// library's 10 s reclaim-lock limit); results in case order.
fn run_all(cases: &[Case]) -> Vec<Outcome> {
    let workers = thread::available_parallelism()
        .map_or(2, |n| n.get() * 2)
        .clamp(2, 8);
    let next = Mutex::new(0usize);
    let done: Mutex<Vec<(usize, Outcome)>> = Mutex::new(Vec::new());
    thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let i = {
                    let mut n = next.lock().unwrap();
                    *n += 1;
                    *n - 1
                };
                let Some(case) = cases.get(i) else { break };
                let outcome = run_case(case);
                done.lock().unwrap().push((i, outcome));
            });
        }
    });
    let mut done = done.into_inner().unwrap();
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, o)| o).collect()
}

fn failure_record(case: &Case, o: &Outcome, (property, problem): &Problem) -> FaultFailure {
    FaultFailure {
        scenario: case.scenario.name.to_string(),
        syscall: case.site.syscall.clone(),
        occurrence: u64::from(case.site.occurrence),
        when: u64::from(case.site.when),
        call: case.site.call.clone(),
        errno: case.errno.to_string(),
        property: property.to_string(),
        problem: problem.to_string(),
        exit: o.exit.clone(),
        stderr_tail: o.stderr_tail.clone(),
        reproduce: case.reproduce(),
    }
}

/// Writes `$LOCKCORE_RESULTS_DIR/faults.json` (lockcore-results' schema) when the variable is set.
fn write_results(result: FaultsResult) {
    if let Err(e) = Record::Faults(result).write() {
        panic!("cannot write faults.json: {e}");
    }
}

fn skipped(reason: &str) {
    println!("faults: skipped: {reason}");
    write_results(FaultsResult {
        skipped: Some(reason.to_string()),
        ..FaultsResult::default()
    });
}

fn cases_for(budget: Budget) -> (Vec<Case>, usize) {
    let mut cases = Vec::new();
    let mut site_count = 0;
    for scenario in &SCENARIOS {
        let found = discover(scenario);
        assert!(
            !found.is_empty(),
            "[{}] discovery found no call on the lock directory",
            scenario.name
        );
        site_count += found.len();
        for s in &found {
            println!(
                "faults: site [{}] {} #{} when={}: {}",
                scenario.name, s.syscall, s.occurrence, s.when, s.call
            );
        }
        for site in found.into_iter().filter(|s| budget.takes(s)) {
            for &errno in budget.errnos() {
                cases.push(Case {
                    scenario,
                    site: site.clone(),
                    errno,
                });
            }
        }
    }
    (cases, site_count)
}

fn failure_line(case: &Case, (property, problem): &Problem) -> String {
    format!(
        "[{}] {} #{} (when={}) {}: {property} {problem}\n    call: {}\n    reproduce: {}",
        case.scenario.name,
        case.site.syscall,
        case.site.occurrence,
        case.site.when,
        case.errno,
        case.site.call,
        case.reproduce()
    )
}

#[test]
fn every_injected_fault_on_the_lock_directory_keeps_the_invariants() {
    if let Some(reason) = skip_reason() {
        return skipped(&reason);
    }
    let budget = Budget::from_env();
    let started = Instant::now();
    let (cases, site_count) = cases_for(budget);
    let outcomes = run_all(&cases);
    let seconds = started.elapsed().as_secs_f64();

    let mut failures = Vec::new();
    let mut lines = Vec::new();
    for (case, o) in cases.iter().zip(&outcomes) {
        for p in &o.problems {
            failures.push(failure_record(case, o, p));
            lines.push(failure_line(case, p));
        }
    }
    let not_landed: Vec<String> = cases
        .iter()
        .zip(&outcomes)
        .filter(|(_, o)| !o.landed)
        .map(|(c, _)| {
            format!(
                "{} {} when={} {}",
                c.scenario.name, c.site.syscall, c.site.when, c.errno
            )
        })
        .collect();
    write_results(FaultsResult {
        skipped: None,
        budget: Some(budget.name().to_string()),
        cases: cases.len() as u64,
        sites: site_count as u64,
        seconds,
        not_landed: not_landed.clone(),
        failures: failures.clone(),
    });
    println!(
        "faults: {} budget: {} cases over {site_count} call sites in {} scenarios, {seconds:.1} s; \
         {} failing invariant(s); {} injection(s) did not land on the lock directory",
        budget.name(),
        cases.len(),
        SCENARIOS.len(),
        lines.len(),
        not_landed.len()
    );
    let mut slowest: Vec<(&Case, &Outcome)> = cases.iter().zip(&outcomes).collect();
    slowest.sort_by(|a, b| b.1.seconds.total_cmp(&a.1.seconds));
    for (c, o) in slowest.iter().take(3) {
        println!(
            "faults: slow: {:.1} s [{}] {} #{} {} ({})",
            o.seconds, c.scenario.name, c.site.syscall, c.site.occurrence, c.errno, o.exit
        );
    }
    for l in &not_landed {
        println!("faults: did not land: {l}");
    }
    assert!(
        lines.is_empty(),
        "{} invariant failure(s) under injected faults:\n{}",
        lines.len(),
        lines.join("\n")
    );
}

#[test]
fn discovery_counts_per_thread_and_keeps_only_the_lock_directory() {
    let log = "\
10 openat(AT_FDCWD</>, \"/etc/ld.so.cache\", O_RDONLY) = 3</etc/ld.so.cache>
10 openat(AT_FDCWD</>, \"/d/x.lock\", O_RDONLY <unfinished ...>
11 openat(AT_FDCWD</>, \"/d\", O_RDONLY) = 4</d>
10 <... openat resumed>) = 5</d/x.lock>
11 flock(4</d>, LOCK_EX|LOCK_NB) = 0
10 read(5</d/x.lock>, \"{}\", 4097) = 2
10 unlink(\"/dx/y\") = 0
10 write(1<pipe:[7]>, \"/d/x.lock is stale\\n\", 19) = 19
10 write(1<pipe:[7]>, \"/d/x.lock\"..., 90) = 90
10 --- SIGCHLD {si_signo=SIGCHLD} ---
";
    let found = sites(log, "/d");
    let brief: Vec<(&str, u32, u32)> = found
        .iter()
        .map(|s| (s.syscall.as_str(), s.occurrence, s.when))
        .collect();
    assert_eq!(
        brief,
        [
            ("openat", 1, 2),
            ("openat", 2, 1),
            ("flock", 1, 1),
            ("read", 1, 1)
        ]
    );
    assert_eq!(found[2].call, "flock(4<DIR>, LOCK_EX|LOCK_NB) = 0");
    assert_eq!(found[1].target, "DIR");
    assert!(found.iter().all(|s| s.first_of_kind));
    let temps = sites(
        "1 unlink(\"/d/.a.lock.1-ab.lktmp\") = 0\n1 unlink(\"/d/.a.lock.1-cd.lktmp\") = 0\n",
        "/d",
    );
    assert_eq!(temps[1].target, "DIR/TEMP");
    assert!(!temps[1].first_of_kind);
    assert!(landed(
        "10 unlink(\"/d/a\") = -1 EIO (Input/output error) (INJECTED)",
        "/d"
    ));
    assert!(!landed(
        "10 unlink(\"/e/a\") = -1 EIO (Input/output error) (INJECTED)",
        "/d"
    ));
}
