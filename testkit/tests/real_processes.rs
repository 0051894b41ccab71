//! Issue 6: child processes hold real locks and get SIGKILL, the cleanup signals and an in-place
//! restart, crash at named steps and contend through the real OS — proving that the real `Fs` and
//! `Procs` behave as the models assume. Every child is reaped by its guard, also on failure.

use lockcore::{Acquired, LockError, LockManager, OsEnv, Owner, Payload, Policy, StaleReason};
use lockcore_testkit::procs::*;
use serde_json::Value;
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

fn testchild() -> Command {
    command(testchild_bin())
}

fn manager() -> LockManager<OsEnv> {
    LockManager::new(OsEnv::new(), Policy::default())
}

/// A `hold` child in `dir` with these sessions (a repeated session is held reentrantly).
fn spawn_holder(dir: &Path, sessions: &[&str], extra: &[&str], scenario: &str) -> (Proc, Value) {
    let mut c = testchild();
    c.arg("hold").arg("--dir").arg(dir);
    for s in sessions {
        c.arg("--session").arg(s);
    }
    c.args(extra);
    let mut p = Proc::spawn(c, scenario);
    let ready = p.json("ready line");
    assert_eq!(ready["ready"], true, "[{scenario}] {ready}");
    (p, ready)
}

fn lock_of(dir: &Path, session: &str) -> std::path::PathBuf {
    dir.join(format!("{session}.lock"))
}

fn payload_of(path: &Path, scenario: &str) -> Payload {
    match Payload::parse(read(path).as_bytes()) {
        Ok(p) => p,
        Err(e) => panic!("[{scenario}] {} is malformed: {e}", path.display()),
    }
}

fn held_count(report: &Value, lock: &Path) -> Option<u64> {
    report["held"].as_array()?.iter().find_map(|e| {
        (e[0] == lock.display().to_string().as_str())
            .then(|| e[1].as_u64())
            .flatten()
    })
}

/// The state letter of `pid` in `/proc/<pid>/stat` (`Z` for a zombie), if it can be read.
fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.get(stat.rfind(')')? + 1..)?
        .trim_start()
        .chars()
        .next()
}

/// P11: a holder that died but was not reaped yet (a zombie: `kill(pid, 0)` still succeeds) owns
/// nothing; its lock is reclaimed at once as `dead-pid`, and reaping it later changes nothing.
#[test]
fn p11_zombie_owner_is_dead() {
    let scenario = "P11 zombie owner";
    let dir = tempdir();
    let d = dir.path();
    let (child, _ready) = spawn_holder(d, &["a.jsonl"], &[], scenario);
    child.signal(libc::SIGKILL);
    // Not reaped: the test process is its parent and does not wait until `child` drops. Bounded
    // wait for the kernel to finish the kill (no sleep: each look yields).
    let zombie = (0..1_000_000).find_map(|_| match proc_state(child.pid()) {
        Some('Z') => Some(true),
        None => Some(false),
        Some(_) => {
            std::thread::yield_now();
            None
        }
    });
    assert_eq!(
        zombie,
        Some(true),
        "[{scenario}] the killed holder is a zombie"
    );
    // SAFETY: kill with signal 0 sends nothing.
    assert_eq!(
        unsafe { libc::kill(child.pid() as libc::pid_t, 0) },
        0,
        "[{scenario}] a zombie still answers kill(pid, 0)"
    );
    let m = manager();
    match m.try_acquire(&d.join("a.jsonl")) {
        Ok(g) => assert_eq!(
            g.how(),
            Acquired::Reclaimed(StaleReason::DeadPid),
            "[{scenario}]"
        ),
        Err(e) => panic!("[{scenario}] a zombie's lock must be reclaimed at once: {e}"),
    }
    drop(child);
}

/// P11 (+ P6 for a crashed owner): a child holding a lock is killed with SIGKILL; the parent
/// acquires at once (dead pid, one attempt) and the payload on disk is the parent's.
#[test]
fn p11_sigkilled_child_parent_acquires_at_once() {
    let scenario = "P11 SIGKILLed child";
    let dir = tempdir();
    let d = dir.path();
    let (mut child, ready) = spawn_holder(d, &["a.jsonl"], &[], scenario);
    let lock = lock_of(d, "a.jsonl");
    assert_eq!(
        payload_of(&lock, scenario).pid,
        child.pid(),
        "[{scenario}] {ready}"
    );
    child.signal(libc::SIGKILL);
    child.assert_killed_by(libc::SIGKILL, "holder");
    assert!(exists(&lock), "[{scenario}] SIGKILL leaves the file behind");

    let m = manager();
    let guard = match m.try_acquire(&d.join("a.jsonl")) {
        Ok(g) => g,
        Err(e) => panic!("[{scenario}] one attempt must reclaim the dead pid's lock: {e}"),
    };
    assert_eq!(
        guard.how(),
        Acquired::Reclaimed(StaleReason::DeadPid),
        "[{scenario}]"
    );
    let on_disk = payload_of(&lock, scenario);
    assert_eq!(
        on_disk.pid,
        m.identity().pid,
        "[{scenario}] parent's pid on disk"
    );
    assert_eq!(
        on_disk.nonce,
        Some(m.nonce()),
        "[{scenario}] parent's nonce on disk"
    );
    assert_eq!(
        on_disk.token,
        guard.payload().token,
        "[{scenario}] this acquisition's token"
    );
    drop(guard);
    assert!(!exists(&lock), "[{scenario}] parent released");
}

const SESSIONS: [&str; 4] = ["a.jsonl", "b.jsonl", "b.jsonl", "c.jsonl"];

/// P4 + P9 through the signal cleanup: the child holds a, b (twice: reentrant) and c with the
/// cleanup installed; on `signal` every lock is released before it exits, the files are gone,
/// and the exit status is the signal's.
fn cleanup_on_signal(name: &str, signal: i32) {
    let scenario = format!("P4 cleanup on {name}");
    let dir = tempdir();
    let d = dir.path();
    let (mut child, ready) = spawn_holder(d, &SESSIONS, &["--install-cleanup", "1"], &scenario);
    assert_eq!(
        held_count(&ready, &lock_of(d, "b.jsonl")),
        Some(2),
        "[{scenario}] {ready}"
    );
    assert!(
        ready["plan"]
            .as_array()
            .is_some_and(|p| p.iter().all(|e| e[1] == "Reraise")),
        "[{scenario}] nothing else handles the signals: {ready}"
    );
    for s in ["a.jsonl", "b.jsonl", "c.jsonl"] {
        assert!(exists(&lock_of(d, s)), "[{scenario}] {s} held");
    }
    child.signal(signal);
    child.assert_killed_by(signal, "cleanup re-raises the signal");
    for s in ["a.jsonl", "b.jsonl", "c.jsonl"] {
        assert!(
            !exists(&lock_of(d, s)),
            "[{scenario}] {s}.lock released by the cleanup"
        );
    }
    assert!(
        files_ending(d, ".lktmp").is_empty(),
        "[{scenario}] no temp files"
    );
}

/// P4: SIGINT runs the cleanup, then the process ends by SIGINT.
#[test]
fn p4_cleanup_on_sigint_releases_every_lock() {
    cleanup_on_signal("SIGINT", libc::SIGINT);
}

/// P4: SIGTERM runs the cleanup, then the process ends by SIGTERM.
#[test]
fn p4_cleanup_on_sigterm_releases_every_lock() {
    cleanup_on_signal("SIGTERM", libc::SIGTERM);
}

/// P4: SIGQUIT runs the cleanup, then the process ends by SIGQUIT.
#[test]
fn p4_cleanup_on_sigquit_releases_every_lock() {
    cleanup_on_signal("SIGQUIT", libc::SIGQUIT);
}

/// P4: SIGABRT (sent from outside) runs the cleanup, then the process ends by SIGABRT.
#[test]
fn p4_cleanup_on_sigabrt_releases_every_lock() {
    cleanup_on_signal("SIGABRT", libc::SIGABRT);
}

/// P11 for the documented caveat: `abort()` called inside a process with the cleanup installed
/// ends it by SIGABRT before the cleanup can be relied on; whatever it leaves is a dead pid's
/// file that the next acquirer takes in one attempt.
#[test]
fn p11_abort_inside_the_process_leaves_only_dead_pid_files() {
    let scenario = "P11 abort() inside a child with the cleanup";
    let dir = tempdir();
    let d = dir.path();
    let (mut child, _) = spawn_holder(d, &SESSIONS, &["--install-cleanup", "1"], scenario);
    child.send("abort");
    child.assert_killed_by(libc::SIGABRT, "abort()");
    let m = manager();
    for s in ["a.jsonl", "b.jsonl", "c.jsonl"] {
        match m.try_acquire(&d.join(s)) {
            Ok(g) => assert!(
                matches!(
                    g.how(),
                    Acquired::Fresh | Acquired::Reclaimed(StaleReason::DeadPid)
                ),
                "[{scenario}] {s}: {:?}",
                g.how()
            ),
            Err(e) => panic!("[{scenario}] {s} blocks the next acquirer: {e}"),
        }
    }
}

/// P4: with an application handler installed first, each cleanup signal runs both the cleanup
/// and the application's handler, the process is not terminated, and the application's handler
/// stays registered (a second SIGTERM runs it again).
#[test]
fn p4_cleanup_keeps_the_application_handler() {
    let scenario = "P4 cleanup with an application handler";
    let dir = tempdir();
    let d = dir.path();
    let (mut child, ready) = spawn_holder(
        d,
        &SESSIONS,
        &["--install-cleanup", "1", "--app-handler"],
        scenario,
    );
    assert!(
        ready["plan"]
            .as_array()
            .is_some_and(|p| p.len() == 4 && p.iter().all(|e| e[1] == "LeaveToApplication")),
        "[{scenario}] the application decides: {ready}"
    );
    let signals = [
        ("SIGINT", libc::SIGINT),
        ("SIGTERM", libc::SIGTERM),
        ("SIGQUIT", libc::SIGQUIT),
        ("SIGABRT", libc::SIGABRT),
    ];
    for (i, (name, sig)) in signals.iter().enumerate() {
        if i > 0 {
            child.send("acquire");
            let r = child.json("re-acquired");
            assert_eq!(
                held_count(&r, &lock_of(d, "b.jsonl")),
                Some(2),
                "[{scenario}] {r}"
            );
        }
        for s in ["a.jsonl", "b.jsonl", "c.jsonl"] {
            assert!(exists(&lock_of(d, s)), "[{scenario}] {name}: {s} held");
        }
        child.signal(*sig);
        child.send(&format!("wait-cleanup {}", i + 1));
        let r = child.json("report after the cleanup");
        assert_eq!(r["waited"], true, "[{scenario}] {name}: cleanup ran: {r}");
        assert_eq!(r["held"], serde_json::json!([]), "[{scenario}] {name}: {r}");
        assert_eq!(
            r["app_handler_runs"][name], 1,
            "[{scenario}] {name}: app handler ran: {r}"
        );
        assert_eq!(
            r["epoch"],
            i as u64 + 1,
            "[{scenario}] {name}: one release_all: {r}"
        );
        for s in ["a.jsonl", "b.jsonl", "c.jsonl"] {
            assert!(
                !exists(&lock_of(d, s)),
                "[{scenario}] {name}: {s}.lock released"
            );
        }
        assert!(child.running(), "[{scenario}] {name}: not terminated");
    }
    child.signal(libc::SIGTERM);
    child.send("wait-cleanup 5");
    let r = child.json("report after the second SIGTERM");
    assert_eq!(
        r["app_handler_runs"]["SIGTERM"], 2,
        "[{scenario}] the application's handler stays registered: {r}"
    );
    assert_eq!(r["dispositions"]["SIGTERM"], "handler", "[{scenario}] {r}");
    child.close_stdin();
    child.assert_success("child exits normally after stdin closes");
}

/// P4: installing the cleanup twice neither releases twice (one release_all, one nonce
/// rotation per signal) nor starts a second thread, nor mistakes its own first handler for an
/// application's (the signal still ends the process).
#[test]
fn p4_cleanup_installed_twice_releases_once() {
    let scenario = "P4 cleanup installed twice";
    let dir = tempdir();
    let d = dir.path();
    let (mut child, ready) = spawn_holder(d, &SESSIONS, &["--install-cleanup", "2"], scenario);
    assert_eq!(
        ready["signal_threads"], 1,
        "[{scenario}] one thread: {ready}"
    );
    assert!(
        ready["plan"]
            .as_array()
            .is_some_and(|p| p.iter().all(|e| e[1] == "Reraise")),
        "[{scenario}] still re-raises: {ready}"
    );
    child.signal(libc::SIGTERM);
    child.assert_killed_by(libc::SIGTERM, "twice-installed cleanup re-raises");
    for s in ["a.jsonl", "b.jsonl", "c.jsonl"] {
        assert!(!exists(&lock_of(d, s)), "[{scenario}] {s}.lock released");
    }

    let dir2 = tempdir();
    let d2 = dir2.path();
    let (mut child, ready) = spawn_holder(
        d2,
        &SESSIONS,
        &["--install-cleanup", "2", "--app-handler"],
        scenario,
    );
    assert_eq!(ready["signal_threads"], 1, "[{scenario}] {ready}");
    child.signal(libc::SIGINT);
    child.send("wait-cleanup 1");
    let r = child.json("report");
    assert_eq!(r["waited"], true, "[{scenario}] {r}");
    assert_eq!(
        r["epoch"], 1,
        "[{scenario}] released (and rotated) exactly once: {r}"
    );
    assert_eq!(r["cleanups"], 1, "[{scenario}] {r}");
    assert_eq!(r["signal_threads"], 1, "[{scenario}] {r}");
    assert_eq!(r["held"], serde_json::json!([]), "[{scenario}] {r}");
    child.close_stdin();
    child.assert_success("child exits after stdin closes");
}

/// P6 + P3: an in-place restart (SIGUSR1 → release_all, which rotates the nonce after the
/// cleanup, then re-acquire). The old file is gone, the new file carries the new nonce, and a
/// leftover with the old nonce and the child's own pid (standing for a failed cleanup) is
/// reclaimed in one attempt — no waiting for `stale_after`.
#[test]
fn p6_in_place_restart_reclaims_the_old_nonce_at_once() {
    let scenario = "P6 in-place restart";
    let dir = tempdir();
    let d = dir.path();
    let (mut child, ready) = spawn_holder(
        d,
        &["s1.jsonl"],
        &[
            "--restart-session",
            "s1.jsonl",
            "--restart-session",
            "s2.jsonl",
        ],
        scenario,
    );
    let old_nonce = ready["nonce"].as_str().unwrap_or_default().to_string();
    let s1 = lock_of(d, "s1.jsonl");
    let s2 = lock_of(d, "s2.jsonl");
    let before = read(&s1);
    assert_eq!(
        payload_of(&s1, scenario).nonce.as_deref(),
        Some(old_nonce.as_str())
    );
    // The leftover: the child's own payload (its pid, host and old nonce) at another session,
    // as a delete that failed during the cleanup would leave it.
    plant(&s2, &before);

    child.signal(libc::SIGUSR1);
    let r = child.json("restart line");
    assert_eq!(r["restarted"], true, "[{scenario}] {r}");
    assert_eq!(r["old_nonce"], old_nonce.as_str(), "[{scenario}] {r}");
    let new_nonce = r["new_nonce"].as_str().unwrap_or_default().to_string();
    assert!(
        !new_nonce.is_empty() && new_nonce != old_nonce,
        "[{scenario}] rotated: {r}"
    );
    assert_eq!(
        r["released"],
        serde_json::json!([s1.display().to_string()]),
        "[{scenario}] release_all removed the old file: {r}"
    );
    assert_eq!(r["acquired"][0]["how"], "fresh", "[{scenario}] {r}");
    assert_eq!(
        r["acquired"][1]["how"], "reclaimed:nonce-mismatch",
        "[{scenario}] leftover reclaimed at once: {r}"
    );
    for lock in [&s1, &s2] {
        let p = payload_of(lock, scenario);
        assert_eq!(p.pid, child.pid(), "[{scenario}] {}", lock.display());
        assert_eq!(
            p.nonce.as_deref(),
            Some(new_nonce.as_str()),
            "[{scenario}] {} carries the new nonce",
            lock.display()
        );
    }
    assert_ne!(read(&s1), before, "[{scenario}] the old s1 file is gone");
}

/// P11: a child killed at a named step (LOCKCORE_TEST_ABORT_AT: after each file operation of
/// acquire, reclaim, release and release_all) leaves nothing that blocks the next acquirer
/// beyond the dead-pid check (one attempt each succeeds), and its temp files are removed by
/// `clean` once older than the grace (never inside it).
#[test]
fn p11_killed_at_any_step_leaves_nothing_blocking() {
    let steps = [
        "acquire:create-temp@1",
        "acquire:link@1",
        "acquire:remove-temp@1",
        "acquire:link@3",
        "reclaim:begin@1",
        "reclaim:create-temp@1",
        "reclaim:metadata@1",
        "reclaim:lock-dir@1",
        "reclaim:remove-lock@1",
        "reclaim:create-temp@2",
        "reclaim:link@2",
        "release:begin@1",
        "release:lock-dir@1",
        "release:read@1",
        "release:remove-lock@1",
        "release-all:lock-dir@1",
        "release-all:remove-lock@1",
        "release-all:read@2",
        "end:begin@1",
    ];
    let mut temp_seen = 0;
    for step in std::iter::once("").chain(steps) {
        let scenario = if step.is_empty() {
            "P11 crash child, no abort (control)".to_string()
        } else {
            format!("P11 killed at {step}")
        };
        let dir = tempdir();
        let d = dir.path();
        plant(
            &lock_of(d, "r.jsonl"),
            &with_nonce_here(dead_pid(), "gone", 0),
        );
        let mut c = testchild();
        c.arg("crash").arg("--dir").arg(d);
        if !step.is_empty() {
            c.env("LOCKCORE_TEST_ABORT_AT", step);
        }
        let mut child = Proc::spawn(c, &scenario);
        if step.is_empty() {
            child.assert_success("runs to completion");
            assert!(
                files_ending(d, ".lock").is_empty(),
                "[{scenario}] all released"
            );
            assert!(
                files_ending(d, ".lktmp").is_empty(),
                "[{scenario}] no temp files"
            );
            continue;
        }
        // Death by SIGKILL proves the step was reached.
        child.assert_killed_by(libc::SIGKILL, "the step was reached");

        let m = manager();
        let mut guards = Vec::new();
        for s in ["a.jsonl", "b.jsonl", "c.jsonl", "r.jsonl"] {
            match m.try_acquire(&d.join(s)) {
                Ok(g) => guards.push(g),
                Err(e) => panic!("[{scenario}] {s} blocks the next acquirer: {e}"),
            }
        }
        drop(guards);
        assert!(
            files_ending(d, ".lock").is_empty(),
            "[{scenario}] parent released all"
        );

        let temps = files_ending(d, ".lktmp");
        temp_seen += temps.len();
        // The child is dead: its temp files are orphaned at once, whatever their age.
        let report = match m.clean_stale(d, false) {
            Ok(r) => r,
            Err(e) => panic!("[{scenario}] clean: {e}"),
        };
        assert_eq!(
            report.temp_files, temps,
            "[{scenario}] a dead publisher's temp files are removed"
        );
        assert!(
            files_ending(d, ".lktmp").is_empty(),
            "[{scenario}] no litter left"
        );
    }
    assert!(
        temp_seen >= 2,
        "the create-temp steps left temp files for clean to remove"
    );
}

/// P1 on real processes: 8 children contend on one lock for 5 rounds each; the shared
/// append-only log of enter/leave records shows no two critical sections overlapped, and
/// every child got in every round.
#[test]
fn p1_eight_processes_contend_without_overlap() {
    let scenario = "P1 eight contending processes";
    let dir = tempdir();
    let d = dir.path();
    let log = d.join("log");
    let rounds = 5;
    let ids: Vec<String> = (0..8).map(|i| format!("c{i}")).collect();
    let mut children: Vec<Proc> = ids
        .iter()
        .map(|id| {
            let mut c = testchild();
            c.arg("contend")
                .arg("--session-file")
                .arg(d.join("s.jsonl"))
                .arg("--log")
                .arg(&log)
                .arg("--rounds")
                .arg(rounds.to_string())
                .arg("--id")
                .arg(id);
            Proc::spawn(c, scenario)
        })
        .collect();
    for c in &mut children {
        let _ = c.json("ready");
    }
    // Start together, so they really contend.
    for c in &mut children {
        c.send("go");
    }
    for c in &mut children {
        let done = c.json("done");
        assert!(done["done"].is_string(), "[{scenario}] {done}");
        c.assert_success("contender");
    }
    assert_no_overlap(&read(&log), &ids, rounds, scenario);
    assert!(!exists(&lock_of(d, "s.jsonl")), "[{scenario}] released");
}

/// P8 (EPERM): an owner the prober may not signal counts as alive. As root: the owner is a child
/// dropped to uid 65534 and the prober runs as uid 65533; otherwise the prober is this test and
/// the owner any process of another user. Where neither is possible, says why and returns.
#[test]
fn p8_eperm_owner_counts_as_alive() {
    let scenario = "P8 EPERM owner is alive";
    // SAFETY: getuid cannot fail and has no memory effects.
    let uid = unsafe { libc::getuid() };
    if uid != 0 {
        let me = std::process::id();
        let pids: Vec<u32> = std::fs::read_dir("/proc")
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .filter_map(|e| e.file_name().to_str()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        let other = pids.into_iter().find(|&pid| {
            pid != me
                && std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|s| {
                    s.lines()
                        .find(|l| l.starts_with("Uid:"))
                        .and_then(|l| l.split_whitespace().nth(1))
                        .and_then(|u| u.parse::<u32>().ok())
                        .is_some_and(|u| u != uid)
                })
        });
        let Some(pid) = other else {
            println!("[{scenario}] skipped: not root, and no process of another user is visible");
            return;
        };
        let m = manager();
        use lockcore::Procs;
        assert_eq!(
            m.env().procs.probe(pid),
            lockcore::Liveness::NoPermission,
            "[{scenario}] probe of pid {pid} (another user's)"
        );
        let dir = tempdir();
        plant(&lock_of(dir.path(), "s.jsonl"), &legacy(pid, 0));
        let busy = m.try_acquire(&dir.path().join("s.jsonl"));
        assert!(
            matches!(busy, Err(LockError::Busy { .. })),
            "[{scenario}] not reclaimed: {busy:?}"
        );
        return;
    }

    // The checkout (and target/) may sit under a 0700 home: the other-uid children run copies.
    let (_bins, copies) = match copies_for_any_user(&[testchild_bin(), lockcore_bin()]) {
        Ok(c) => c,
        Err(why) => {
            println!("[{scenario}] skipped: no place other users can execute from: {why}");
            return;
        }
    };
    let (child_bin, cli_bin) = (copies[0].to_string_lossy(), copies[1].to_string_lossy());
    let dir = tempdir();
    let d = dir.path();
    if let Err(e) = std::fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(0o777))
    {
        panic!("[{scenario}] chmod the temp dir: {e}");
    }
    if !traversable_by_anyone(&d.join("s.jsonl")) {
        println!(
            "[{scenario}] skipped: {} is not reachable by other users",
            d.display()
        );
        return;
    }
    let mut c = command(&child_bin);
    c.arg("idle");
    std::os::unix::process::CommandExt::uid(&mut c, 65534);
    std::os::unix::process::CommandExt::gid(&mut c, 65534);
    let mut owner = Proc::spawn(c, scenario);
    let line = owner.line("owner's pid line");
    if !line.contains("pid") {
        println!("[{scenario}] skipped: cannot run a child as uid 65534: {line}");
        return;
    }
    plant(&lock_of(d, "s.jsonl"), &legacy(owner.pid(), 0));

    let as_other = |mut c: Command| {
        std::os::unix::process::CommandExt::uid(&mut c, 65533);
        std::os::unix::process::CommandExt::gid(&mut c, 65533);
        c
    };
    let mut probe = command(&child_bin);
    probe.arg("probe").arg(owner.pid().to_string());
    let (status, out, err) = run(as_other(probe), scenario);
    assert!(status.success(), "[{scenario}] probe as uid 65533: {err}");
    assert_eq!(
        out.trim(),
        "NoPermission",
        "[{scenario}] kill(pid, 0) from another user is EPERM"
    );

    let mut hold = command(&cli_bin);
    hold.arg("hold")
        .arg(d.join("s.jsonl"))
        .arg("--timeout-ms")
        .arg("200");
    let (status, _, err) = run(as_other(hold), scenario);
    assert_eq!(
        status.code(),
        Some(75),
        "[{scenario}] EPERM counts as alive: the uid-65533 acquirer waits, it does not reclaim: {err}"
    );
    assert_eq!(
        payload_of(&lock_of(d, "s.jsonl"), scenario).pid,
        owner.pid(),
        "[{scenario}] the owner's file is untouched"
    );
}

/// P7: a legacy file (`{pid, createdAt}`) naming a live child is not reclaimed until
/// `stale_after` (default 30 min): 29 min old it is busy, 31 min old it is reclaimed `too-old`.
#[test]
fn p7_legacy_file_of_live_child_waits_for_stale_after() {
    let scenario = "P7 legacy live child";
    let dir = tempdir();
    let d = dir.path();
    let mut c = testchild();
    c.arg("idle");
    let mut owner = Proc::spawn(c, scenario);
    let _ = owner.json("pid line");
    let lock = lock_of(d, "s.jsonl");
    let m = manager();

    plant(&lock, &legacy(owner.pid(), 29 * 60 * 1000));
    match m.try_acquire(&d.join("s.jsonl")) {
        Err(LockError::Busy {
            owner: Owner::File(p),
            ..
        }) => assert_eq!(p.pid, owner.pid(), "[{scenario}] owner named"),
        other => panic!("[{scenario}] 29 min old: expected busy, got {other:?}"),
    }
    assert_eq!(
        payload_of(&lock, scenario).pid,
        owner.pid(),
        "[{scenario}] untouched"
    );

    plant(&lock, &legacy(owner.pid(), 31 * 60 * 1000));
    match m.try_acquire(&d.join("s.jsonl")) {
        Ok(g) => assert_eq!(
            g.how(),
            Acquired::Reclaimed(StaleReason::TooOld),
            "[{scenario}] 31 min old"
        ),
        Err(e) => panic!("[{scenario}] 31 min old: expected a reclaim, got {e}"),
    }
    assert!(
        owner.running(),
        "[{scenario}] the owner was alive throughout"
    );
}
