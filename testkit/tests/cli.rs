//! The `lockcore` CLI against planted lock files in a temp dir: verdicts, exit codes, holding,
//! signals, and `run` as a mutual-exclusion wrapper for real processes.

use lockcore_testkit::procs::*;
use serde_json::Value;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Command;

/// The `lockcore` CLI: this package's `lockcore-cli-under-test`, the same program
/// (`lockcore_cli::main`) under a name cargo lets this test see.
fn lockcore_bin() -> &'static str {
    env!("CARGO_BIN_EXE_lockcore-cli-under-test")
}

/// The test child (`src/bin/lockcore-testchild.rs`).
fn testchild_bin() -> &'static str {
    env!("CARGO_BIN_EXE_lockcore-testchild")
}

fn lockcore() -> Command {
    command(lockcore_bin())
}

/// A live process we control (a zombie would count as dead, so it is kept running and reaped
/// by its guard).
fn live_child(scenario: &str) -> Proc {
    let mut c = command(testchild_bin());
    c.arg("idle");
    let mut p = Proc::spawn(c, scenario);
    let _ = p.json("idle child's pid line");
    p
}

/// `inspect --json` of `dir`: the one object for `file`.
fn inspect_one(dir: &Path, file: &str, extra: &[&str], scenario: &str) -> Value {
    let (status, out, err) = run(
        {
            let mut c = lockcore();
            c.arg("inspect").arg(dir).arg("--json").args(extra);
            c
        },
        scenario,
    );
    assert!(
        status.success(),
        "[{scenario}] inspect failed: {status:?} {err}"
    );
    let all: Value = match serde_json::from_str(out.trim()) {
        Ok(v) => v,
        Err(e) => panic!("[{scenario}] inspect --json is not one JSON value ({e}): {out:?}"),
    };
    let Some(arr) = all.as_array() else {
        panic!("[{scenario}] inspect --json is not an array: {out}");
    };
    let want = dir.join(file).display().to_string();
    let Some(obj) = arr.iter().find(|o| o["path"] == want.as_str()) else {
        panic!("[{scenario}] {want} not in inspect output: {out}");
    };
    let keys: Vec<&str> = obj
        .as_object()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        [
            "age_ms",
            "created_at",
            "lease_ms",
            "nonce",
            "path",
            "pid",
            "queued",
            "reasons",
            "refreshed_ms_ago",
            "stale"
        ],
        "[{scenario}] inspect --json keys"
    );
    obj.clone()
}

fn assert_verdict(obj: &Value, stale: bool, reason: &str, scenario: &str) {
    assert_eq!(obj["stale"], stale, "[{scenario}] stale? {obj}");
    assert_eq!(obj["reasons"][0], reason, "[{scenario}] reason: {obj}");
}

/// The #4044 opt-in: files without a host (these tests plant the historic shapes) are judged by
/// pid, as peers in our own pid namespace. Without it they wait for `stale_after` (P14).
const SAME_NS: &str = "--same-pid-namespace";

/// `hold` with a timeout, stdin closed at once: returns (status, stdout, stderr).
fn hold_once(
    session: &Path,
    timeout_ms: u64,
    scenario: &str,
) -> (std::process::ExitStatus, String, String) {
    hold_once_with(session, timeout_ms, &[], scenario)
}

fn hold_once_with(
    session: &Path,
    timeout_ms: u64,
    extra: &[&str],
    scenario: &str,
) -> (std::process::ExitStatus, String, String) {
    let mut c = lockcore();
    c.arg("hold")
        .arg(session)
        .arg("--timeout-ms")
        .arg(timeout_ms.to_string())
        .args(extra);
    run(c, scenario)
}

fn assert_busy(session: &Path, owner_pid: u32, scenario: &str) {
    let (status, out, err) = hold_once(session, 200, scenario);
    assert_eq!(
        status.code(),
        Some(75),
        "[{scenario}] hold should time out busy (75): {status:?} out {out} err {err}"
    );
    let lock = format!("{}.lock", session.display());
    assert!(
        err.contains(&lock),
        "[{scenario}] stderr names the lock path: {err}"
    );
    assert!(
        err.contains(&format!("pid {owner_pid}")),
        "[{scenario}] stderr names the owner pid {owner_pid}: {err}"
    );
}

/// `hold --timeout-ms 0` (a single attempt: no waiting at all) must acquire; returns the line.
fn assert_acquires_at_once(session: &Path, how: &str, scenario: &str) -> Value {
    assert_acquires_at_once_with(session, how, &[], scenario)
}

fn assert_acquires_at_once_with(
    session: &Path,
    how: &str,
    extra: &[&str],
    scenario: &str,
) -> Value {
    let (status, out, err) = hold_once_with(session, 0, extra, scenario);
    assert!(
        status.success(),
        "[{scenario}] hold should acquire at once: {status:?} {err}"
    );
    let line: Value = match serde_json::from_str(out.trim()) {
        Ok(v) => v,
        Err(e) => panic!("[{scenario}] hold line is not JSON ({e}): {out:?}"),
    };
    assert_eq!(
        line["acquired"],
        format!("{}.lock", session.display()).as_str(),
        "[{scenario}] {line}"
    );
    assert_eq!(line["how"], how, "[{scenario}] how: {line}");
    assert!(
        line["payload"]["nonce"].is_string(),
        "[{scenario}] payload: {line}"
    );
    assert!(
        !exists(Path::new(&format!("{}.lock", session.display()))),
        "[{scenario}] released after stdin closed"
    );
    line
}

/// P7: a legacy file of another live pid, fresh, is live; `hold` times out with 75 naming the
/// lock path and the owner.
#[test]
fn p7_legacy_file_of_live_pid_is_live() {
    let scenario = "P7 legacy fresh live pid";
    let dir = tempdir();
    let owner = live_child(scenario);
    let session = dir.path().join("s.jsonl");
    plant(&dir.path().join("s.jsonl.lock"), &legacy(owner.pid(), 0));
    // P14: without a host its writer may live in another pid namespace.
    let obj = inspect_one(dir.path(), "s.jsonl.lock", &[], scenario);
    assert_verdict(&obj, false, "unknown-namespace", scenario);
    let obj = inspect_one(dir.path(), "s.jsonl.lock", &[SAME_NS], scenario);
    assert_verdict(&obj, false, "owner-alive", scenario);
    assert_eq!(obj["pid"], owner.pid(), "[{scenario}]");
    assert_eq!(obj["nonce"], Value::Null, "[{scenario}]");
    assert_busy(&session, owner.pid(), scenario);
    assert!(
        exists(&dir.path().join("s.jsonl.lock")),
        "[{scenario}] not reclaimed"
    );
}

/// P7: the same legacy file, createdAt 2 h old, is stale `too-old` (and `hold` reclaims it).
#[test]
fn p7_legacy_file_two_hours_old_is_stale_too_old() {
    let scenario = "P7 legacy 2 h old";
    let dir = tempdir();
    let owner = live_child(scenario);
    let session = dir.path().join("s.jsonl");
    plant(
        &dir.path().join("s.jsonl.lock"),
        &legacy(owner.pid(), 2 * 3600 * 1000),
    );
    let obj = inspect_one(dir.path(), "s.jsonl.lock", &[], scenario);
    assert_verdict(&obj, true, "too-old", scenario);
    let age = obj["age_ms"].as_i64().unwrap_or(0);
    assert!(age >= 2 * 3600 * 1000, "[{scenario}] age_ms {age}");
    assert_acquires_at_once(&session, "reclaimed:too-old", scenario);
}

/// P11: a dead owner pid is stale `dead-pid`, and `hold` acquires at once (one attempt).
#[test]
fn p11_dead_pid_is_stale_and_hold_acquires_at_once() {
    let scenario = "P11 dead pid";
    let dir = tempdir();
    let session = dir.path().join("s.jsonl");
    plant(
        &dir.path().join("s.jsonl.lock"),
        &with_nonce(dead_pid(), "0123456789abcdef01234567", 0),
    );
    // P14: by default a host-less file is not probed (the pid may live in another namespace).
    let obj = inspect_one(dir.path(), "s.jsonl.lock", &[], scenario);
    assert_verdict(&obj, false, "unknown-namespace", scenario);
    let obj = inspect_one(dir.path(), "s.jsonl.lock", &[SAME_NS], scenario);
    assert_verdict(&obj, true, "dead-pid", scenario);
    assert_eq!(obj["nonce"], "0123456789abcdef01234567", "[{scenario}]");
    let line = assert_acquires_at_once_with(&session, "reclaimed:dead-pid", &[SAME_NS], scenario);
    assert_ne!(
        line["payload"]["nonce"], "0123456789abcdef01234567",
        "[{scenario}]"
    );
}

/// P8: another live pid with any nonce, fresh, is live (a nonce mismatch counts only for our
/// own pid).
#[test]
fn p8_other_live_pid_with_nonce_is_live() {
    let scenario = "P8 other live pid with nonce";
    let dir = tempdir();
    let owner = live_child(scenario);
    let session = dir.path().join("s.jsonl");
    plant(
        &dir.path().join("s.jsonl.lock"),
        &with_nonce(owner.pid(), "5c0a9b3e-0000-4000-8000-000000000000", 0),
    );
    let obj = inspect_one(dir.path(), "s.jsonl.lock", &[SAME_NS], scenario);
    assert_verdict(&obj, false, "owner-alive", scenario);
    assert_busy(&session, owner.pid(), scenario);
}

/// P10: a malformed (partially written) file is live inside the grace and stale once its mtime
/// is older than the grace.
#[test]
fn p10_malformed_file_live_in_grace_stale_after() {
    let scenario = "P10 malformed";
    let dir = tempdir();
    let session = dir.path().join("s.jsonl");
    let lock = dir.path().join("s.jsonl.lock");
    plant(&lock, "{\"pid\": 12, \"createdAt\": \"2026-11-");
    let obj = inspect_one(dir.path(), "s.jsonl.lock", &[], scenario);
    assert_verdict(&obj, false, "malformed-in-grace", scenario);
    assert_eq!(obj["reasons"][1], "not-json", "[{scenario}] {obj}");
    assert_eq!(obj["pid"], Value::Null, "[{scenario}]");
    let (status, _, err) = hold_once(&session, 200, scenario);
    assert_eq!(
        status.code(),
        Some(75),
        "[{scenario}] busy inside the grace: {err}"
    );
    assert!(
        err.contains("malformed"),
        "[{scenario}] stderr says malformed: {err}"
    );

    age_mtime(&lock, std::time::Duration::from_secs(60));
    let obj = inspect_one(dir.path(), "s.jsonl.lock", &[], scenario);
    assert_verdict(&obj, true, "malformed-expired", scenario);
    // A custom grace longer than the age keeps it live.
    let obj = inspect_one(
        dir.path(),
        "s.jsonl.lock",
        &["--grace-ms", "120000"],
        scenario,
    );
    assert_verdict(&obj, false, "malformed-in-grace", scenario);
    assert_acquires_at_once(&session, "reclaimed:malformed-expired", scenario);
}

fn spawn_hold(session: &Path, scenario: &str) -> (Proc, Value) {
    let mut c = lockcore();
    c.arg("hold").arg(session).arg("--timeout-ms").arg("5000");
    let mut p = Proc::spawn(c, scenario);
    let line = p.json("hold's acquired line");
    let waits = ["inotify+pidfd", "inotify", "backoff"];
    assert!(
        line["wait"].as_str().is_some_and(|w| waits.contains(&w)),
        "[{scenario}] hold names how it waits: {line}"
    );
    (p, line)
}

/// P11: a holder killed with SIGKILL (after its acquired line) leaves a dead-pid file; the next
/// `hold` takes it at once. Also a holder killed inside its release, on entry to the `unlink` of
/// its lock file: strace (`-P LOCK -e inject=unlink:signal=KILL:when=1`: the first `unlink` of
/// the lock path, whether the publish wrote an unnamed or a named temp file) kills it there, so
/// no test hook lives in the CLI. That part is skipped, saying why, where strace is missing or
/// cannot trace.
#[test]
fn p11_sigkilled_holder_next_hold_acquires_at_once() {
    let scenario = "P11 SIGKILLed hold";
    let dir = tempdir();
    let session = dir.path().join("s.jsonl");
    let lock = dir.path().join("s.jsonl.lock");
    let (mut holder, line) = spawn_hold(&session, scenario);
    assert_eq!(line["payload"]["pid"], holder.pid(), "[{scenario}] {line}");
    holder.signal(libc::SIGKILL);
    holder.assert_killed_by(libc::SIGKILL, "holder");
    assert!(exists(&lock), "[{scenario}] SIGKILL leaves the file");
    assert_acquires_at_once(&session, "reclaimed:dead-pid", scenario);

    let scenario = "P11 hold SIGKILLed at its release's unlink";
    let Some((status, out, err, log)) = hold_under_strace(
        dir.path(),
        "trace=unlink",
        "inject=unlink:signal=KILL:when=1",
        scenario,
    ) else {
        return;
    };
    // strace ends itself with the signal that killed the CLI.
    assert_eq!(
        status.signal(),
        Some(libc::SIGKILL),
        "[{scenario}] {status:?} {out} {err}"
    );
    assert!(
        out.contains("\"acquired\""),
        "[{scenario}] no acquired line: {out} {err}"
    );
    // Call entries only (`unlink("…"`; strace may split a call into `<unfinished ...>` and
    // `<... unlink resumed>` lines when another thread runs between). A thread that has only
    // just started when the kill lands (the stdin reader) is sometimes listed with the main
    // thread's `unlink` too, without the `flock` and read that any release of ours makes first:
    // so every line names the lock file, not exactly one line.
    let unlinks: Vec<&str> = log.lines().filter(|l| l.contains("unlink(\"")).collect();
    assert!(
        !unlinks.is_empty() && unlinks.iter().all(|l| l.contains("/s.jsonl.lock\"")),
        "[{scenario}] the kill must hit the release's unlink of the lock file:\n{log}"
    );
    assert!(exists(&lock), "[{scenario}] the crash leaves the file");
    assert_eq!(
        files_ending(dir.path(), ".lktmp"),
        Vec::<std::path::PathBuf>::new(),
        "[{scenario}] the publish temp file was removed before the kill"
    );
    assert_acquires_at_once(&session, "reclaimed:dead-pid", scenario);
}

/// One `hold --hold-ms 0` of `s.jsonl` in `dir` under strace, tracing `trace` on the lock
/// directory and the lock path only (`-P`, which also makes `when=` count only those calls),
/// with `inject`: its exit status, stdout, stderr and the strace log. `None` (said) where strace
/// is missing or cannot trace.
fn hold_under_strace(
    dir: &Path,
    trace: &str,
    inject: &str,
    scenario: &str,
) -> Option<(std::process::ExitStatus, String, String, String)> {
    if let Some(why) = lockcore_testkit::faults::skip_reason() {
        println!("cli: skipped: {scenario}: {why}");
        return None;
    }
    // The paths as the CLI spells them: the directory with every link resolved.
    let real = std::fs::canonicalize(dir).unwrap_or_default();
    let log = dir.join("strace.log");
    let mut c = command("strace");
    c.arg("-f").arg("-o").arg(&log);
    c.arg("-P")
        .arg(&real)
        .arg("-P")
        .arg(real.join("s.jsonl.lock"));
    c.args(["-e", trace, "-e", inject]);
    c.arg(lockcore_bin())
        .arg("hold")
        .arg(dir.join("s.jsonl"))
        .args(["--hold-ms", "0"]);
    let (status, out, err) = run(c, scenario);
    Some((status, out, err, read(&log)))
}

/// [`hold_under_strace`] that must acquire and exit 0: the strace log.
fn clean_hold_under_strace(
    dir: &Path,
    trace: &str,
    inject: &str,
    scenario: &str,
) -> Option<String> {
    let (status, out, err, log) = hold_under_strace(dir, trace, inject, scenario)?;
    assert!(status.success(), "[{scenario}] {status:?} {out} {err}");
    assert!(out.contains("\"acquired\""), "[{scenario}] {out} {err}");
    Some(log)
}

/// The entries of `dir` but strace's log, sorted.
fn left_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| r.filter_map(|e| e.ok()))
        .into_iter()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "strace.log")
        .collect();
    v.sort();
    v
}

/// The first call strace refused in `log` is the one whose line names `refused`.
fn assert_first_refused(log: &str, refused: &str, scenario: &str) {
    assert!(
        log.lines()
            .find(|l| l.contains("(INJECTED)"))
            .is_some_and(|l| l.contains(refused)),
        "[{scenario}] the first call refused must be the {refused} one:\n{log}"
    );
}

/// P11 (no litter) and P1 on the fallbacks of an unnamed publish, each forced with strace:
/// - no `O_TMPFILE` on the file system (EOPNOTSUPP): a named `.lktmp` file, linked and removed;
/// - a kernel that refuses `linkat(AT_EMPTY_PATH)` (ENOENT before Linux 6.10): the unnamed file
///   is linked through `/proc/self/fd`;
/// - neither that nor `/proc` (ENOENT twice): a named `.lktmp` file.
///
/// Each acquires, releases and leaves the directory empty.
#[test]
fn p11_hold_publishes_through_every_fallback_and_leaves_nothing() {
    let trace = "trace=openat,linkat,link,unlink";
    let named_link = |l: &&str| l.contains(".lktmp\", AT_FDCWD, ") && l.ends_with("= 0");
    let proc_link = |l: &&str| l.contains("\"/proc/self/fd/") && l.ends_with("= 0");
    let cases: [(&str, &str, &str, bool); 3] = [
        (
            "P11 no O_TMPFILE",
            "inject=openat:error=EOPNOTSUPP:when=1",
            "O_TMPFILE",
            true,
        ),
        (
            "P11 no linkat(AT_EMPTY_PATH)",
            "inject=linkat:error=ENOENT:when=1",
            "AT_EMPTY_PATH",
            false,
        ),
        (
            "P11 no linkat(AT_EMPTY_PATH), no /proc",
            "inject=linkat:error=ENOENT:when=1..2",
            "AT_EMPTY_PATH",
            true,
        ),
    ];
    for (scenario, inject, refused, named) in cases {
        let dir = tempdir();
        let Some(log) = clean_hold_under_strace(dir.path(), trace, inject, scenario) else {
            return;
        };
        assert_first_refused(&log, refused, scenario);
        assert_eq!(
            log.lines().any(|l| named_link(&l)),
            named,
            "[{scenario}] a named temp file linked:\n{log}"
        );
        assert_eq!(
            log.lines().any(|l| proc_link(&l)),
            !named,
            "[{scenario}] linked through /proc/self/fd:\n{log}"
        );
        assert_eq!(left_in(dir.path()), Vec::<String>::new(), "[{scenario}]");
    }
}

/// P12 (a fault is an error, not a busy lock): an I/O error making or linking the unnamed temp
/// file (EIO on the `O_TMPFILE` open, or on the `linkat(AT_EMPTY_PATH)`, injected) fails `hold`
/// with that error, at once, and leaves nothing behind; it is neither reported as busy nor
/// retried through `/proc/self/fd` or a named temp file.
#[test]
fn p12_an_io_error_making_the_unnamed_file_fails_the_hold() {
    for (scenario, inject, refused) in [
        (
            "P12 EIO on the O_TMPFILE open",
            "inject=openat:error=EIO:when=1",
            "O_TMPFILE",
        ),
        (
            "P12 EIO on linkat(AT_EMPTY_PATH)",
            "inject=linkat:error=EIO:when=1",
            "AT_EMPTY_PATH",
        ),
    ] {
        let dir = tempdir();
        let trace = "trace=openat,linkat,link";
        let Some((status, out, err, log)) = hold_under_strace(dir.path(), trace, inject, scenario)
        else {
            return;
        };
        assert_eq!(
            status.code(),
            Some(1),
            "[{scenario}] {status:?} {out} {err}"
        );
        assert!(
            err.contains("Input/output error") && !out.contains("\"acquired\""),
            "[{scenario}] the cause is named: {out} {err}"
        );
        assert_first_refused(&log, refused, scenario);
        assert!(
            !log.contains(".lktmp") && !log.contains("/proc/self/fd"),
            "[{scenario}] no retry another way:\n{log}"
        );
        assert_eq!(left_in(dir.path()), Vec::<String>::new(), "[{scenario}]");
    }
}

/// P11 (fair order across processes, `--fair`): A holds; B waits (its ticket appears), then C
/// (a second ticket); A releases. B gets the lock, not C, although the lock is free for a moment
/// and both watch it; once B releases, C gets it. No ticket is left, and the last to leave
/// lowers the queue flag. Without the queue, C wins that race about half the time, and B then
/// waits out its timeout.
#[test]
fn p11_fair_holds_are_served_in_arrival_order() {
    served_in_arrival_order("P11 --fair order", &["--fair"]);
}

/// P11 (waiters that are not `--fair` queue once starved): the same with `--queue-after-ms 0`,
/// so B and C take tickets at their first busy verdict, as a fair waiter does at once.
#[test]
fn p11_waiters_queued_after_zero_ms_are_served_in_arrival_order() {
    served_in_arrival_order("P11 --queue-after-ms 0 order", &["--queue-after-ms", "0"]);
}

/// A holds, B then C queue with `flags` (each seen queued on disk before the next comes), A
/// releases: B must get the lock before C, and nothing of the queue is left at the end.
fn served_in_arrival_order(scenario: &str, flags: &[&str]) {
    let dir = tempdir();
    let session = dir.path().join("s.jsonl");
    let hold = || {
        let mut c = lockcore();
        c.arg("hold")
            .arg(&session)
            .args(flags)
            .args(["--timeout-ms", "20000"]);
        Proc::spawn(c, scenario)
    };
    // Tickets only: the queue flag (`.s.jsonl.lock.queued.lkq`) is up while anyone is queued.
    let queued = || {
        files_ending(dir.path(), ".lkq")
            .iter()
            .filter(|p| !p.to_string_lossy().ends_with(".queued.lkq"))
            .count()
    };
    let mut a = hold();
    a.json("A's acquired line");
    let mut b = hold();
    wait_until("B's ticket", || queued() == 1);
    let mut c = hold();
    wait_until("C's ticket", || queued() == 2);
    let seen = inspect_one(dir.path(), "s.jsonl.lock", &[], scenario);
    assert_eq!(
        seen["queued"], 2,
        "[{scenario}] inspect counts the queued waiters: {seen}"
    );
    a.close_stdin();
    a.assert_success("A");
    let got = b.json("B's acquired line, before C's");
    assert_eq!(got["payload"]["pid"], b.pid(), "[{scenario}] {got}");
    b.close_stdin();
    b.assert_success("B");
    let got = c.json("C's acquired line");
    assert_eq!(got["payload"]["pid"], c.pid(), "[{scenario}] {got}");
    c.close_stdin();
    c.assert_success("C");
    let left = files_ending(dir.path(), ".lkq");
    assert!(
        left.is_empty(),
        "[{scenario}] tickets or flag left behind: {left:?}"
    );
}

/// P4 through the CLI: SIGINT, SIGTERM and SIGQUIT to `hold` release the lock (the file is
/// gone) and the exit status is the signal's.
#[test]
fn p4_signal_to_hold_removes_file_and_exits_with_the_signal() {
    let dir = tempdir();
    for (name, sig) in [
        ("SIGTERM", libc::SIGTERM),
        ("SIGINT", libc::SIGINT),
        ("SIGQUIT", libc::SIGQUIT),
    ] {
        let scenario = format!("P4 {name} to hold");
        let session = dir.path().join(format!("{name}.jsonl"));
        let lock = dir.path().join(format!("{name}.jsonl.lock"));
        let (mut holder, _) = spawn_hold(&session, &scenario);
        assert!(exists(&lock), "[{scenario}] held");
        holder.signal(sig);
        holder.assert_killed_by(sig, "hold");
        assert!(
            !exists(&lock),
            "[{scenario}] the cleanup removed the lock file"
        );
    }
}

/// P1 on real processes: eight concurrent `lockcore run` on one session never overlap their
/// commands (each appends enter/leave records to a shared log).
#[test]
fn p1_eight_concurrent_runs_never_overlap() {
    let scenario = "P1 eight lockcore run";
    let dir = tempdir();
    let session = dir.path().join("s.jsonl");
    let log = dir.path().join("log");
    let ids: Vec<String> = (0..8).map(|i| format!("r{i}")).collect();
    let mut procs: Vec<Proc> = ids
        .iter()
        .map(|id| {
            let mut c = lockcore();
            c.arg("run")
                .arg(&session)
                .arg("--timeout-ms")
                .arg("30000")
                .arg("--")
                .arg("sh")
                .arg("-c")
                .arg("echo \"enter $1\" >> \"$2\"; sleep 0.02; echo \"leave $1\" >> \"$2\"")
                .arg("sh")
                .arg(id)
                .arg(&log);
            Proc::spawn(c, scenario)
        })
        .collect();
    for p in &mut procs {
        p.assert_success("lockcore run");
    }
    assert_no_overlap(&read(&log), &ids, 1, scenario);
    assert!(
        !exists(&dir.path().join("s.jsonl.lock")),
        "[{scenario}] released"
    );
}

/// P9 through `run` (the file exists exactly while the command runs) plus the CLI contract: the
/// exit status is the command's (128 + signal when it was killed), and 75 when the lock is busy.
#[test]
fn run_propagates_exit_status_and_busy() {
    let scenario = "run exit status";
    let dir = tempdir();
    let session = dir.path().join("s.jsonl");
    let lock = dir.path().join("s.jsonl.lock");
    for (script, want) in [
        ("test -f \"$0.lock\" && exit 7", 7),
        ("kill -KILL $$", 128 + libc::SIGKILL),
        ("exit 0", 0),
    ] {
        let mut c = lockcore();
        c.arg("run")
            .arg(&session)
            .arg("--")
            .arg("sh")
            .arg("-c")
            .arg(script)
            .arg(&session);
        let (status, _, err) = run(c, scenario);
        assert_eq!(status.code(), Some(want), "[{scenario}] `{script}`: {err}");
        assert!(!exists(&lock), "[{scenario}] `{script}` released the lock");
    }
    let owner = live_child(scenario);
    plant(&lock, &legacy(owner.pid(), 0));
    let mut c = lockcore();
    c.arg("run")
        .arg(&session)
        .arg("--timeout-ms")
        .arg("100")
        .arg("--")
        .arg("true");
    let (status, _, err) = run(c, scenario);
    assert_eq!(status.code(), Some(75), "[{scenario}] busy: {err}");
    assert!(
        err.contains(&lock.display().to_string()),
        "[{scenario}] {err}"
    );
}

/// CLI contract (no protocol property): usage errors exit 2; other errors exit 1 with a message
/// naming the path.
#[test]
fn usage_errors_exit_2_and_other_errors_exit_1_naming_the_path() {
    let scenario = "exit codes";
    for args in [
        vec![],
        vec!["bogus"],
        vec!["inspect"],
        vec!["hold", "x", "--timeout-ms", "soon"],
        vec!["hold", "x", "--queue-after-ms", "soon"],
        vec!["hold", "x", "--queue-after-ms", "-1"],
        vec!["run", "x"],
    ] {
        let mut c = lockcore();
        c.args(&args);
        let (status, _, err) = run(c, scenario);
        assert_eq!(status.code(), Some(2), "[{scenario}] {args:?}: {err}");
    }
    let dir = tempdir();
    let missing = dir.path().join("no-such-dir");
    for sub in ["inspect", "clean"] {
        let mut c = lockcore();
        c.arg(sub).arg(&missing);
        let (status, _, err) = run(c, scenario);
        assert_eq!(status.code(), Some(1), "[{scenario}] {sub}: {err}");
        assert!(
            err.contains(&missing.display().to_string()),
            "[{scenario}] {sub} names the path: {err}"
        );
    }
    let mut c = lockcore();
    c.arg("hold").arg(missing.join("s.jsonl"));
    let (status, _, err) = run(c, scenario);
    assert_eq!(
        status.code(),
        Some(1),
        "[{scenario}] hold in a missing dir: {err}"
    );
    assert!(err.contains("no-such-dir"), "[{scenario}] {err}");
}

/// P11: `clean` removes stale lock files saying why, and the temp files of dead publishers; a
/// dry run removes nothing; live files and a live publisher's temp file stay.
#[test]
fn p11_clean_removes_stale_files_and_old_temp_files() {
    let scenario = "P11 clean";
    let dir = tempdir();
    let d = dir.path();
    let owner = live_child(scenario);
    plant(&d.join("dead.jsonl.lock"), &legacy(dead_pid(), 0));
    plant(&d.join("live.jsonl.lock"), &legacy(owner.pid(), 0));
    let old_tmp = d.join(".dead.jsonl.lock.99999-0123456789abcdef.lktmp");
    // A temp file of a live publisher (it is between create and link) must survive.
    let new_tmp = d.join(format!(
        ".live.jsonl.lock.{}-0123456789abcdef.lktmp",
        owner.pid()
    ));
    plant(&old_tmp, &legacy(99999, 0));
    plant(&new_tmp, &legacy(99998, 0));
    age_mtime(&old_tmp, std::time::Duration::from_secs(120));

    let mut c = lockcore();
    c.arg("clean").arg(d).arg("--dry-run").arg(SAME_NS);
    let (status, out, err) = run(c, scenario);
    assert!(status.success(), "[{scenario}] dry run: {err}");
    assert!(
        out.contains("would remove") && out.contains("dead-pid"),
        "[{scenario}] {out}"
    );
    assert!(
        exists(&d.join("dead.jsonl.lock")) && exists(&old_tmp),
        "[{scenario}] dry run kept all"
    );

    let mut c = lockcore();
    c.arg("clean").arg(d).arg("--json").arg(SAME_NS);
    let (status, out, err) = run(c, scenario);
    assert!(status.success(), "[{scenario}] clean: {err}");
    let v: Value = serde_json::from_str(out.trim()).unwrap_or(Value::Null);
    assert_eq!(
        v["removed"][0]["reasons"][0], "dead-pid",
        "[{scenario}] {out}"
    );
    assert_eq!(
        v["kept"][0]["reasons"][0], "owner-alive",
        "[{scenario}] {out}"
    );
    assert_eq!(
        v["temp_files"],
        serde_json::json!([old_tmp.display().to_string()]),
        "[{scenario}] {out}"
    );
    assert!(
        !exists(&d.join("dead.jsonl.lock")),
        "[{scenario}] stale file removed"
    );
    assert!(!exists(&old_tmp), "[{scenario}] old temp file removed");
    assert!(
        exists(&d.join("live.jsonl.lock")),
        "[{scenario}] live file kept"
    );
    assert!(
        exists(&new_tmp),
        "[{scenario}] a live publisher's temp file kept"
    );
}

/// CLI contract (no protocol property): the human `inspect` output is an aligned table, every
/// column starting at the same offset, with the verdict and reasons of each file.
#[test]
fn inspect_prints_an_aligned_table() {
    let scenario = "inspect table";
    let dir = tempdir();
    let owner = live_child(scenario);
    plant(&dir.path().join("a.jsonl.lock"), &legacy(owner.pid(), 0));
    plant(
        &dir.path().join("bb.jsonl.lock"),
        &legacy(dead_pid(), 3_600_000),
    );
    plant(&dir.path().join("c.jsonl.lock"), "");
    let mut c = lockcore();
    c.arg("inspect").arg(dir.path()).arg(SAME_NS);
    let (status, out, err) = run(c, scenario);
    assert!(status.success(), "[{scenario}] {err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines.len(),
        5,
        "[{scenario}] header + 3 rows + how waiters wake: {out}"
    );
    let wait = lockcore::LockManager::new(lockcore::OsEnv::new(), lockcore::Policy::default())
        .wait_mechanism();
    assert!(
        lines[4].starts_with(&format!("waiters here wake by: {wait} (")),
        "[{scenario}] the last line names the wait mechanism ({wait}): {out}"
    );
    let col = |line: &str, word: &str| line.find(word);
    let verdict_at = col(lines[0], "VERDICT");
    for (row, want) in lines[1..].iter().zip(["live", "stale", "live"]) {
        assert_eq!(
            col(row, &format!("  {want}  ")).map(|i| i + 2),
            verdict_at,
            "[{scenario}] VERDICT column aligned in {row:?}\n{out}"
        );
    }
    assert!(
        lines[2].contains("dead-pid") && lines[3].contains("empty"),
        "[{scenario}] {out}"
    );
}

/// P9 + P2 through `run`: the lock is held for exactly as long as the command runs — a SIGTERM
/// to `lockcore run` is forwarded to the command, and the lock is released only after the
/// command has exited; the exit status is 128 + SIGTERM.
#[test]
fn run_forwards_sigterm_and_releases_after_the_command() {
    let scenario = "run forwards SIGTERM";
    let dir = tempdir();
    let session = dir.path().join("s.jsonl");
    let lock = dir.path().join("s.jsonl.lock");
    let mut c = lockcore();
    c.arg("run")
        .arg(&session)
        .arg("--")
        .arg("sh")
        .arg("-c")
        .arg("echo started; exec sleep 30");
    let mut runner = Proc::spawn(c, scenario);
    assert_eq!(
        runner.line("the command's first line"),
        "started",
        "[{scenario}]"
    );
    assert!(exists(&lock), "[{scenario}] held while the command runs");
    runner.signal(libc::SIGTERM);
    let status = runner.wait();
    assert_eq!(
        status.code(),
        Some(128 + libc::SIGTERM),
        "[{scenario}] the command died of the forwarded SIGTERM: {status:?} {}",
        runner.stderr()
    );
    assert!(
        !exists(&lock),
        "[{scenario}] released after the command exited"
    );
}

/// Waits (bounded by [`PATIENCE`], never a timing assertion) until `cond` holds.
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + PATIENCE;
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within {PATIENCE:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// The file's mtime, as a time since it was set.
fn mtime_age(path: &Path) -> std::time::Duration {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .unwrap_or_default()
}

/// Sets the lock's mtime an hour back and waits until its holder's heartbeat refreshes it.
fn assert_refreshed(lock: &Path, scenario: &str) {
    let hour = std::time::Duration::from_secs(3600);
    age_mtime(lock, hour);
    wait_until(
        &format!("[{scenario}] the heartbeat refreshes the mtime"),
        || mtime_age(lock) < hour / 2,
    );
}

/// Removes `lock` and puts another owner's file in its place; returns that file's text.
fn replace_lock(lock: &Path, scenario: &str) -> String {
    let theirs = with_nonce_here(4_000_000, "another-owner-nonce", 0);
    if let Err(e) = std::fs::remove_file(lock) {
        panic!("[{scenario}] cannot remove {}: {e}", lock.display());
    }
    plant(lock, &theirs);
    theirs
}

/// P13 through the CLI: `hold` and `run` declare their lease and refresh the lock's mtime while
/// they hold; `inspect` shows the lease and the time since the last refresh.
#[test]
fn p13_hold_and_run_refresh_their_lease() {
    let scenario = "hold refreshes";
    let dir = tempdir();
    let session = dir.path().join("s.jsonl");
    let lock = dir.path().join("s.jsonl.lock");
    let mut c = lockcore();
    c.arg("hold")
        .arg(&session)
        .args(["--lease-ms", "60000", "--refresh-ms", "20"]);
    let mut holder = Proc::spawn(c, scenario);
    let line = holder.json("hold's acquired line");
    assert_eq!(line["payload"]["leaseMs"], 60000, "[{scenario}] {line}");
    assert_refreshed(&lock, scenario);
    let obj = inspect_one(dir.path(), "s.jsonl.lock", &[], scenario);
    assert_eq!(obj["lease_ms"], 60000, "[{scenario}] {obj}");
    let ago = obj["refreshed_ms_ago"].as_i64().unwrap_or(i64::MAX);
    assert!((0..1_800_000).contains(&ago), "[{scenario}] {obj}");
    assert_verdict(&obj, false, "owner-alive", scenario);
    let (_, table, _) = run(
        {
            let mut c = lockcore();
            c.arg("inspect").arg(dir.path());
            c
        },
        scenario,
    );
    let header = table.lines().next().unwrap_or_default();
    assert!(
        header.contains("LEASE") && header.contains("REFRESHED"),
        "[{scenario}] {table}"
    );
    assert!(
        table.contains("60s") && table.contains("s ago"),
        "[{scenario}] {table}"
    );
    holder.close_stdin();
    holder.assert_success("hold releases");

    let scenario = "run refreshes";
    let mut c = lockcore();
    c.arg("run")
        .arg(&session)
        .args(["--refresh-ms", "20", "--"]);
    c.args(["sh", "-c", "echo started; exec cat"]);
    let mut runner = Proc::spawn(c, scenario);
    assert_eq!(runner.line("the command's first line"), "started");
    assert_refreshed(&lock, scenario);
    runner.close_stdin();
    runner.assert_success("run releases after the command");
    assert!(!exists(&lock), "[{scenario}] released");
}

/// P15 through `hold`: a holder whose file was replaced learns it at its next refresh, prints
/// `{"compromised": PATH}`, exits 1 at once (stdin still open) and deletes nothing.
#[test]
fn p15_hold_that_lost_its_lock_says_so_and_deletes_nothing() {
    let scenario = "hold compromised";
    let dir = tempdir();
    let session = dir.path().join("s.jsonl");
    let lock = dir.path().join("s.jsonl.lock");
    let mut c = lockcore();
    c.arg("hold").arg(&session).args(["--refresh-ms", "20"]);
    let mut holder = Proc::spawn(c, scenario);
    let _ = holder.json("hold's acquired line");
    let theirs = replace_lock(&lock, scenario);
    let told = holder.json("the compromised line");
    let want = lock.display().to_string();
    assert_eq!(
        told,
        serde_json::json!({ "compromised": want }),
        "[{scenario}]"
    );
    let status = holder.wait();
    assert_eq!(status.code(), Some(1), "[{scenario}] {status:?}");
    assert!(
        holder.stderr().contains(&want),
        "[{scenario}] {}",
        holder.stderr()
    );
    assert_eq!(
        read(&lock),
        theirs,
        "[{scenario}] the new owner's file is untouched"
    );
}

/// P15 through `run`: the command goes on when the lock is lost; `run` warns at once, exits 1
/// after the command (which exited 0), and deletes nothing.
#[test]
fn p15_run_that_lost_its_lock_warns_and_exits_1() {
    let scenario = "run compromised";
    let dir = tempdir();
    let session = dir.path().join("s.jsonl");
    let lock = dir.path().join("s.jsonl.lock");
    let mut c = lockcore();
    c.arg("run")
        .arg(&session)
        .args(["--refresh-ms", "20", "--"]);
    c.args(["sh", "-c", "echo started; exec cat"]);
    let mut runner = Proc::spawn(c, scenario);
    assert_eq!(runner.line("the command's first line"), "started");
    let theirs = replace_lock(&lock, scenario);
    wait_until(&format!("[{scenario}] run warns"), || {
        runner.stderr().contains("warning") && runner.stderr().contains("lost the lock")
    });
    assert!(runner.running(), "[{scenario}] the command goes on");
    runner.close_stdin();
    let status = runner.wait();
    assert_eq!(
        status.code(),
        Some(1),
        "[{scenario}] {status:?} {}",
        runner.stderr()
    );
    assert_eq!(
        read(&lock),
        theirs,
        "[{scenario}] the new owner's file is untouched"
    );
}

/// CLI contract (P13's precondition): a refresh period that does not fit in the lease is a usage
/// error (exit 2), since the holder's own lock would expire between refreshes; without
/// `--refresh-ms`, a short lease gets a third of itself as its period.
#[test]
fn refresh_period_must_fit_in_the_lease() {
    let scenario = "refresh vs lease";
    let dir = tempdir();
    let session = dir.path().join("s.jsonl");
    let flags = ["--lease-ms", "1000", "--refresh-ms", "1000"];
    let (status, out, err) = hold_once_with(&session, 0, &flags, scenario);
    assert_eq!(status.code(), Some(2), "[{scenario}] {out} {err}");
    assert!(err.contains("--refresh-ms 1000"), "[{scenario}] {err}");
    assert!(
        !exists(&dir.path().join("s.jsonl.lock")),
        "[{scenario}] nothing acquired"
    );
    let line = assert_acquires_at_once_with(&session, "fresh", &["--lease-ms", "900"], scenario);
    assert_eq!(line["payload"]["leaseMs"], 900, "[{scenario}] {line}");
}

/// A bare session name is a file in the working directory: `hold s.jsonl` run in a directory
/// locks `<that directory>/s.jsonl.lock` and prints the resolved (absolute) lock path.
#[test]
fn a_bare_session_name_locks_in_the_working_directory() {
    let scenario = "bare session name";
    let dir = tempdir();
    let mut c = lockcore();
    c.current_dir(dir.path())
        .args(["hold", "s.jsonl", "--hold-ms", "0"]);
    let (status, out, err) = run(c, scenario);
    assert!(status.success(), "[{scenario}] {err}");
    let line: Value = serde_json::from_str(out.trim()).unwrap_or(Value::Null);
    let real = std::fs::canonicalize(dir.path()).unwrap_or_default();
    assert_eq!(
        line["acquired"],
        real.join("s.jsonl.lock").display().to_string().as_str(),
        "[{scenario}] {out}"
    );
    assert!(
        !exists(&dir.path().join("s.jsonl.lock")),
        "[{scenario}] released"
    );
}
