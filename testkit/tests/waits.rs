//! Issue #15 with real processes: a waiter whose lock another process holds gets it when that
//! process releases it, or is SIGKILLed — proving that the real watch (inotify on the directory,
//! a pidfd on the owner) or its fallback wakes it; and the real watch itself (`OsFs`), step by
//! step, as the models assume it. Outcomes only: every wait is bounded by `PATIENCE`, never timed.

use lockcore::os::{OsClock, OsFs};
use lockcore::{
    AcquireOptions, Acquired, Fs, LockError, LockManager, OsEnv, Policy, StaleReason, WaitFor, Wake,
};
use lockcore_testkit::procs::*;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

fn testchild() -> std::process::Command {
    command(env!("CARGO_BIN_EXE_lockcore-testchild"))
}

/// A child holding `session` in `dir` until its stdin closes.
fn holder(dir: &Path, session: &str, scenario: &str) -> Proc {
    let mut c = testchild();
    c.arg("hold")
        .arg("--dir")
        .arg(dir)
        .arg("--session")
        .arg(session);
    let mut p = Proc::spawn(c, scenario);
    let ready = p.json("ready line");
    assert_eq!(ready["ready"], true, "[{scenario}] {ready}");
    p
}

/// This process waits (up to `PATIENCE`) for `session_file` on a thread; returns once the
/// waiter holds its place in the queue, i.e. it found the lock busy and is waiting.
fn waiter(
    m: &LockManager<OsEnv>,
    session_file: PathBuf,
    scenario: &str,
) -> JoinHandle<Result<Acquired, LockError>> {
    let (m2, s) = (m.clone(), session_file.clone());
    let t = std::thread::spawn(move || {
        let opts = AcquireOptions {
            reentrant: true,
            timeout: Some(PATIENCE),
        };
        m2.acquire_with(&s, opts).map(|g| {
            let how = g.how();
            drop(g);
            how
        })
    });
    // Bounded: each look yields.
    let queued = (0..100_000_000).any(|_| {
        std::thread::yield_now();
        m.queued(&session_file) == 1 || t.is_finished()
    });
    assert!(queued, "[{scenario}] the waiter never waited");
    assert!(
        !t.is_finished(),
        "[{scenario}] the waiter got in while the lock was held"
    );
    t
}

/// P11 (issue #15): a child holds a lock and releases it (stdin closed); a waiter in this
/// process, blocked on it, gets it fresh.
#[test]
fn p11_waiter_gets_the_lock_when_the_other_process_releases() {
    let scenario = "P11 wake on release";
    let dir = tempdir();
    let d = dir.path();
    let mut child = holder(d, "a.jsonl", scenario);
    let m = LockManager::new(OsEnv::new(), Policy::default());
    println!("[{scenario}] waits: {}", m.wait_mechanism());
    let t = waiter(&m, d.join("a.jsonl"), scenario);
    child.close_stdin();
    child.assert_success("holder releases and exits");
    let how = t.join().expect("waiter thread");
    assert_eq!(
        how.ok(),
        Some(Acquired::Fresh),
        "[{scenario}] acquired after the release"
    );
    assert!(
        !exists(&d.join("a.jsonl.lock")),
        "[{scenario}] released again"
    );
}

/// P11 (issue #15): a child holds a lock and is SIGKILLed (left a zombie until reaped); a
/// waiter in this process, blocked on it, reclaims it as `dead-pid`.
#[test]
fn p11_waiter_reclaims_the_lock_when_its_owner_is_sigkilled() {
    let scenario = "P11 wake on death";
    let dir = tempdir();
    let d = dir.path();
    let mut child = holder(d, "a.jsonl", scenario);
    let m = LockManager::new(OsEnv::new(), Policy::default());
    println!("[{scenario}] waits: {}", m.wait_mechanism());
    let t = waiter(&m, d.join("a.jsonl"), scenario);
    child.signal(libc::SIGKILL);
    let how = t.join().expect("waiter thread");
    assert_eq!(
        how.ok(),
        Some(Acquired::Reclaimed(StaleReason::DeadPid)),
        "[{scenario}] reclaimed from the killed owner"
    );
    child.assert_killed_by(libc::SIGKILL, "holder");
    assert!(
        !exists(&d.join("a.jsonl.lock")),
        "[{scenario}] released again"
    );
}

/// The real environment says how it waits (inotify+pidfd on a Linux with both).
#[test]
fn the_real_environment_names_its_wait_mechanism() {
    let m = LockManager::new(OsEnv::new(), Policy::default());
    let name = m.wait_mechanism().as_str();
    assert!(
        ["inotify+pidfd", "inotify", "backoff"].contains(&name),
        "{name}"
    );
    assert!(format!("{m:?}").contains(name), "{m:?}");
}

/// The real watch (`OsFs::wait_for_change`) on `lock_path`, owner `owner`, at most `PATIENCE`;
/// `armed` runs once the watch is armed, told whether the owner's exit is watched (its
/// answer: the lock is still blocked).
fn os_wait(lock_path: &Path, owner: Option<u32>, armed: impl FnOnce(bool) -> bool) -> Option<Wake> {
    let mut armed = Some(armed);
    real_wait(lock_path, owner, PATIENCE, false, &mut |watched| {
        armed.take().is_some_and(|f| f(watched))
    })
}

/// [`os_wait`] on a queue ticket (the watch is on the file itself).
fn ticket_wait(ticket: &Path, armed: impl FnOnce() -> bool) -> Option<Wake> {
    let mut armed = Some(armed);
    real_wait(ticket, None, PATIENCE, true, &mut |_| {
        armed.take().is_some_and(|f| f())
    })
}

/// One real wait on `path` (a queue ticket when `ticket`), at most `timeout`.
fn real_wait(
    path: &Path,
    owner: Option<u32>,
    timeout: std::time::Duration,
    ticket: bool,
    still_blocked: &mut dyn FnMut(bool) -> bool,
) -> Option<Wake> {
    let wait = WaitFor {
        lock_path: path,
        owner,
        timeout,
        clock: &OsClock,
        ticket,
    };
    OsFs.wait_for_change(&wait, still_blocked)
}

/// P11 (no lost wake-up): the file removed after the watch was armed wakes it.
#[test]
fn p11_os_watch_wakes_when_the_file_goes() {
    let dir = tempdir();
    let lock = dir.path().join("a.jsonl.lock");
    plant(&lock, "{}");
    let wake = os_wait(&lock, None, |_| std::fs::remove_file(&lock).is_ok());
    assert_eq!(wake, Some(Wake::Changed));
}

/// P11 (no lost wake-up): a file that went before the watch was armed is seen by the look
/// after arming; the wait returns at once.
#[test]
fn p11_os_watch_returns_at_once_when_the_look_after_arming_sees_a_change() {
    let dir = tempdir();
    let lock = dir.path().join("a.jsonl.lock");
    assert_eq!(os_wait(&lock, None, |_| false), Some(Wake::Changed));
}

/// A scratch directory with a lock file `a.jsonl.lock` (its path) whose owner is an idle
/// child, started and ready.
fn lock_of_an_idle_owner(scenario: &str) -> (tempfile::TempDir, PathBuf, Proc) {
    let dir = tempdir();
    let lock = dir.path().join("a.jsonl.lock");
    plant(&lock, "{}");
    let mut c = testchild();
    c.arg("idle");
    let mut owner = Proc::spawn(c, scenario);
    let _ = owner.json("pid line");
    (dir, lock, owner)
}

/// P11 (wake on death): the owner SIGKILLed after the watch was armed wakes it (pidfd), though
/// its file stays.
#[test]
fn p11_os_watch_wakes_when_the_owner_dies() {
    let scenario = "P11 pidfd";
    let (_dir, lock, mut owner) = lock_of_an_idle_owner(scenario);
    let wake = os_wait(&lock, Some(owner.pid()), |_| {
        owner.signal(libc::SIGKILL);
        true
    });
    assert_eq!(wake, Some(Wake::OwnerExited), "[{scenario}]");
    owner.assert_killed_by(libc::SIGKILL, "owner");
    assert!(exists(&lock), "[{scenario}] the file stays");
}

/// P11 (no lost wake-up): an owner that exited before the watch was armed is not slept through.
/// A pidfd opened on it then is readable at once (so the look after arming is told the exit is
/// watched, and need not ask); one that is gone (reaped) has none, and the look is told to ask.
#[test]
fn p11_an_owner_gone_before_the_arming_is_not_slept_through() {
    let scenario = "P11 exit before arming";
    if OsFs.wait_mechanism(&OsClock) != lockcore::WaitMechanism::InotifyPidfd {
        println!("[{scenario}] skipped: this kernel offers no pidfd");
        return;
    }
    let (_dir, lock, mut owner) = lock_of_an_idle_owner(scenario);
    owner.signal(libc::SIGKILL);
    let mut told = None;
    let wake = os_wait(&lock, Some(owner.pid()), |watched| {
        told = Some(watched);
        true
    });
    assert_eq!(told, Some(true), "[{scenario}] a pidfd watches the exit");
    assert_eq!(wake, Some(Wake::OwnerExited), "[{scenario}]");
    owner.assert_killed_by(libc::SIGKILL, "owner");
    let wake = os_wait(&lock, Some(owner.pid()), |watched| {
        told = Some(watched);
        false
    });
    assert_eq!(
        told,
        Some(false),
        "[{scenario}] a reaped owner has no pidfd"
    );
    assert_eq!(wake, Some(Wake::Changed), "[{scenario}]");
}

/// P11: events about other entries of the directory (publishers' temp files) do not end the
/// wait; only its own timeout does.
#[test]
fn p11_os_watch_ignores_other_entries() {
    let dir = tempdir();
    let lock = dir.path().join("a.jsonl.lock");
    let other = dir.path().join(".a.jsonl.lock.1-x.lktmp");
    plant(&lock, "{}");
    let mut armed = || {
        plant(&other, "{}");
        std::fs::remove_file(&other).is_ok()
    };
    assert_eq!(short_wait(&lock, false, &mut armed), Some(Wake::TimedOut));
}

/// A 1 ms real wait on `path` (a queue ticket when `ticket`); `armed` runs once the watch is
/// armed.
fn short_wait(path: &Path, ticket: bool, armed: &mut dyn FnMut() -> bool) -> Option<Wake> {
    real_wait(
        path,
        None,
        std::time::Duration::from_millis(1),
        ticket,
        &mut |_| armed(),
    )
}

/// A queue ticket of `a.jsonl.lock` (arrival `stamp`) in `dir`.
fn ticket(dir: &Path, stamp: u64) -> PathBuf {
    dir.join(format!(".a.jsonl.lock.{stamp:015}.7-00aa.lkq"))
}

/// P11 (no lost wake-up, queue): a wait on the ticket ahead watches that file itself; its
/// removal, or a rename away, after the watch was armed wakes it, and a ticket gone before
/// arming is seen at once.
#[test]
fn p11_os_watch_on_a_ticket_wakes_when_it_goes() {
    let dir = tempdir();
    let ahead = ticket(dir.path(), 1);
    plant(&ahead, "");
    let wake = ticket_wait(&ahead, || std::fs::remove_file(&ahead).is_ok());
    assert_eq!(wake, Some(Wake::Changed), "removed");
    plant(&ahead, "");
    let away = dir.path().join("elsewhere");
    let wake = ticket_wait(&ahead, || std::fs::rename(&ahead, &away).is_ok());
    assert_eq!(wake, Some(Wake::Changed), "renamed away");
    assert_eq!(
        ticket_wait(&ahead, || false),
        Some(Wake::Changed),
        "gone before"
    );
}

/// P11 (the waiter behind a ticket is not woken by every handoff): removing the lock file,
/// other tickets and temp files beside the ticket ahead does not end the wait on it; only its
/// own timeout does.
#[test]
fn p11_os_watch_on_a_ticket_ignores_the_lock_and_other_tickets() {
    let dir = tempdir();
    let lock = dir.path().join("a.jsonl.lock");
    let (ahead, other) = (ticket(dir.path(), 1), ticket(dir.path(), 2));
    for p in [&lock, &ahead, &other] {
        plant(p, "");
    }
    let mut armed = || std::fs::remove_file(&lock).is_ok() && std::fs::remove_file(&other).is_ok();
    assert_eq!(short_wait(&ahead, true, &mut armed), Some(Wake::TimedOut));
    assert!(exists(&ahead));
}

/// A short real wait on `lock` with nothing happening: it must end by its timeout.
fn idle_wait(lock: &Path) -> Option<Wake> {
    short_wait(lock, false, &mut || true)
}

/// P11 (wake promptly): waits reuse one inotify instance instead of closing theirs — closing
/// one blocks for a kernel grace period (7–21 ms measured), which a woken waiter would pay
/// before publishing. A child makes 20 waits in a row and counts its open instances: one, kept.
#[test]
fn p11_os_watch_reuses_its_inotify_instance() {
    let scenario = "P11 watch reuse";
    if OsFs.wait_mechanism(&OsClock) == lockcore::WaitMechanism::Backoff {
        eprintln!("SKIP [{scenario}]: no inotify here; waiters back off instead");
        return;
    }
    let dir = tempdir();
    let lock = dir.path().join("a.jsonl.lock");
    plant(&lock, "{}");
    let mut c = testchild();
    c.arg("idle-waits").arg(&lock).arg("20");
    let mut child = Proc::spawn(c, scenario);
    let out = child.json("waits line");
    let wakes = out["wakes"].as_array().map(Vec::len);
    assert_eq!(wakes, Some(20), "[{scenario}] {out}");
    assert!(
        out["wakes"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|w| w == "timed-out"),
        "[{scenario}] a wait with nothing happening must end by its timeout: {out}"
    );
    assert_eq!(out["inotify_instances"], 1, "[{scenario}] {out}");
}

/// P11 (no spurious wake): a reused instance carries nothing over from its last watch — not
/// the removal of a same-named file in another directory, not the old watch's own end.
#[test]
fn p11_os_watch_starts_clean_after_a_watch_elsewhere() {
    let (a, b) = (tempdir(), tempdir());
    let lock_a = a.path().join("s.jsonl.lock");
    let lock_b = b.path().join("s.jsonl.lock");
    plant(&lock_a, "{}");
    plant(&lock_b, "{}");
    let wake = os_wait(&lock_a, None, |_| std::fs::remove_file(&lock_a).is_ok());
    assert_eq!(wake, Some(Wake::Changed));
    drop(a);
    assert_eq!(idle_wait(&lock_b), Some(Wake::TimedOut));
    assert!(exists(&lock_b));
}

/// P11 (no starving, the fairness hint): a waiter's mark shows in the holder's checked read —
/// not on a file nobody looked at — and leaves the mtime, the lease's clock, alone.
#[test]
fn p11_a_waiters_mark_shows_in_the_holders_read() {
    let dir = tempdir();
    let lock = dir.path().join("a.jsonl.lock");
    plant(&lock, "{}");
    let (bytes, wanted) = OsFs.read_noting_waiters(&lock, 64).expect("read");
    assert_eq!((bytes.as_slice(), wanted), (&b"{}"[..], false));
    let mtime = OsFs.metadata(&lock).expect("stat").mtime_ms;
    OsFs.mark_wanted(&lock);
    let (_, wanted) = OsFs.read_noting_waiters(&lock, 64).expect("read");
    assert!(wanted, "the mark does not show");
    assert_eq!(
        OsFs.metadata(&lock).expect("stat").mtime_ms,
        mtime,
        "the mark moved the mtime"
    );
}

/// P11 (no starving): a releaser waiting for a taker sees a lock file that appears — already
/// there, or created while it waits — and otherwise gives up after its timeout.
#[test]
fn p11_waiting_for_a_taker_sees_the_new_lock_file() {
    let dir = tempdir();
    let lock = dir.path().join("a.jsonl.lock");
    let short = std::time::Duration::from_millis(1);
    assert!(
        !OsFs.wait_for_taker(&lock, short, &OsClock),
        "nothing appeared"
    );
    let creator = {
        let lock = lock.clone();
        std::thread::spawn(move || plant(&lock, "{}"))
    };
    assert!(
        OsFs.wait_for_taker(&lock, PATIENCE, &OsClock),
        "the new file was not seen"
    );
    creator.join().expect("creator");
}

/// P11 (no starving across processes): a child takes the lock 1,000 times in a row (2 ms each);
/// this process, waiting meanwhile, gets it before the child's loop ends — the child's releases
/// see our mark and let us in rather than taking the lock straight back.
#[test]
fn p11_a_process_taking_a_lock_in_a_loop_lets_a_waiter_in() {
    let scenario = "P11 no starving";
    let dir = tempdir();
    let session = dir.path().join("s.jsonl");
    let log = dir.path().join("log");
    let rounds = 1000;
    let mut c = testchild();
    c.args(["contend", "--session-file"]).arg(&session);
    c.arg("--log")
        .arg(&log)
        .args(["--rounds", &rounds.to_string(), "--id", "loop"]);
    let mut child = Proc::spawn(c, scenario);
    let _ = child.json("ready line");
    child.send("go");
    let lock = dir.path().join("s.jsonl.lock");
    let held = (0..100_000_000).any(|_| {
        std::thread::yield_now();
        exists(&lock)
    });
    assert!(held, "[{scenario}] the child never took the lock");
    let m = LockManager::new(OsEnv::new(), Policy::default());
    let opts = AcquireOptions {
        reentrant: false,
        timeout: Some(PATIENCE),
    };
    let guard = m
        .acquire_with(&session, opts)
        .expect("the waiter gets the lock");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let done = text.lines().filter(|l| l.starts_with("leave")).count();
    drop(guard);
    child.signal(libc::SIGKILL);
    assert!(
        done < rounds,
        "[{scenario}] the waiter got in only after the child's {done} rounds"
    );
    eprintln!("[{scenario}] the waiter got in after {done} of the child's {rounds} rounds");
}
