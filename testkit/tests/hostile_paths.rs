//! P16 on the real file system: whatever sits at a lock path — a FIFO, a socket, a directory, a
//! symlink (dangling, looping or pointing at a real file), a huge file — no operation hangs,
//! follows a link to write or delete, or panics; each gets a named verdict or a typed error.
//! Also: two spellings of one session (a symlinked directory) are one lock.

use lockcore::{
    Acquired, CleanOptions, FileKind, LiveReason, LockError, LockManager, Malformed, OsEnv, Policy,
    Released, Verdict,
};
use lockcore_testkit::procs::{self, tempdir, PATIENCE};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

/// The `lockcore` CLI: this package's `lockcore-cli-under-test`, the same program
/// (`lockcore_cli::main`) under a name cargo lets this test see.
fn lockcore_bin() -> &'static str {
    env!("CARGO_BIN_EXE_lockcore-cli-under-test")
}

fn manager() -> LockManager<OsEnv> {
    LockManager::new(OsEnv::new(), Policy::default())
}

/// Runs `f` on a thread and fails the test (instead of hanging it) if it does not return within
/// PATIENCE: a bound on a hang, not a timing assertion.
fn returns<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(PATIENCE) {
        Ok(v) => v,
        Err(_) => panic!("P16: {what} did not return within {PATIENCE:?} (a hang)"),
    }
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo has no memory effects on us.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo");
}

/// Plants each hostile kind at `<name>.jsonl.lock` in `dir`; returns (session file, kind, a file
/// a link points at that must survive untouched).
fn plant_hostile(dir: &Path) -> Vec<(PathBuf, FileKind)> {
    let victim = dir.join("victim.txt");
    std::fs::write(&victim, b"must survive").unwrap();
    mkfifo(&dir.join("fifo.jsonl.lock"));
    let _sock = std::os::unix::net::UnixListener::bind(dir.join("sock.jsonl.lock")).unwrap();
    std::mem::forget(_sock); // keep the socket file; the listener's fd closes with the process
    std::fs::create_dir(dir.join("dir.jsonl.lock")).unwrap();
    symlink(dir.join("nowhere"), dir.join("dangling.jsonl.lock")).unwrap();
    symlink("loop.jsonl.lock", dir.join("loop.jsonl.lock")).unwrap();
    symlink(&victim, dir.join("tofile.jsonl.lock")).unwrap();
    vec![
        (dir.join("fifo.jsonl"), FileKind::Fifo),
        (dir.join("sock.jsonl"), FileKind::Socket),
        (dir.join("dir.jsonl"), FileKind::Directory),
        (dir.join("dangling.jsonl"), FileKind::Symlink),
        (dir.join("loop.jsonl"), FileKind::Symlink),
        (dir.join("tofile.jsonl"), FileKind::Symlink),
    ]
}

// P16: acquire on a hostile path returns at once with a typed error naming the path and kind;
// nothing is written through a link, nothing removed.
#[test]
fn acquire_on_a_hostile_path_is_a_typed_error_at_once() {
    let dir = tempdir();
    let d = dir.path().to_path_buf();
    for (session, kind) in plant_hostile(&d) {
        let m = manager();
        let s = session.clone();
        let got = returns("acquire", move || m.acquire(&s).map(|g| g.how()));
        match got {
            Err(LockError::NotRegular { lock_path, kind: k }) => {
                assert_eq!(k, kind, "P16 {}", session.display());
                assert!(lock_path.ends_with(
                    session.file_name().unwrap().to_str().unwrap().to_owned() + ".lock"
                ));
            }
            other => panic!(
                "P16 {}: expected NotRegular, got {other:?}",
                session.display()
            ),
        }
    }
    assert_eq!(
        std::fs::read(d.join("victim.txt")).unwrap(),
        b"must survive"
    );
    assert!(
        !d.join("nowhere").exists(),
        "P16: nothing created through a dangling link"
    );
}

// P16: inspect names every hostile entry with the `not-regular` verdict and its kind; a plain
// clean keeps them all; `remove_non_regular` removes all but the directory, never a link target.
#[test]
fn sweeps_name_hostile_entries_and_remove_them_only_when_asked() {
    let dir = tempdir();
    let d = dir.path().to_path_buf();
    let planted = plant_hostile(&d);
    let m = manager();
    let dd = d.clone();
    let seen = returns("inspect", move || m.inspect_all(&dd).map(|i| i.locks));
    let seen = seen.expect("inspect");
    assert_eq!(
        seen.len(),
        planted.len(),
        "P16: every entry listed: {seen:?}"
    );
    for info in &seen {
        assert_eq!(
            info.verdict,
            Verdict::Live(LiveReason::NotRegular),
            "{info:?}"
        );
        assert!(
            matches!(info.payload, Err(Malformed::NotRegular(_))),
            "{info:?}"
        );
    }

    let m = manager();
    let dd = d.clone();
    let kept = returns("clean", move || m.clean_stale(&dd, false)).expect("clean");
    assert!(
        kept.removed.is_empty(),
        "P16: a plain clean removes no hostile entry"
    );
    assert!(kept.unreadable.is_empty(), "{:?}", kept.unreadable);

    let m = manager();
    let dd = d.clone();
    let opts = CleanOptions {
        dry_run: false,
        remove_non_regular: true,
    };
    let report = returns("clean --remove-non-regular", move || m.clean(&dd, opts)).expect("clean");
    assert_eq!(report.removed.len(), planted.len() - 1, "{report:?}");
    assert_eq!(
        report.unreadable.len(),
        1,
        "the directory is reported: {report:?}"
    );
    assert!(
        d.join("dir.jsonl.lock").is_dir(),
        "P16: a directory is never removed"
    );
    assert_eq!(
        std::fs::read(d.join("victim.txt")).unwrap(),
        b"must survive"
    );
}

// P10/P16: a file far larger than a payload is read only up to the cap: malformed, inside its
// grace, busy (not reclaimed, no hang reading 64 MiB).
#[test]
fn a_huge_file_is_malformed_not_read_whole() {
    let dir = tempdir();
    let lock = dir.path().join("big.jsonl.lock");
    std::fs::File::create(&lock)
        .unwrap()
        .set_len(64 << 20)
        .unwrap();
    let m = manager();
    let session = dir.path().join("big.jsonl");
    match m.try_acquire(&session) {
        Err(LockError::Busy { owner, .. }) => {
            assert_eq!(owner, lockcore::Owner::Malformed(Malformed::TooLarge))
        }
        other => panic!("P10: expected busy (too-large, in grace), got {other:?}"),
    }
    assert_eq!(
        std::fs::metadata(&lock).unwrap().len(),
        64 << 20,
        "untouched"
    );
}

// P9/P1: a session reached through a symlinked directory is the same lock as through the real
// directory: the second spelling re-enters, and one release per hold removes the file once.
#[test]
fn two_spellings_of_one_session_are_one_lock() {
    let dir = tempdir();
    let real = dir.path().join("real");
    std::fs::create_dir(&real).unwrap();
    symlink(&real, dir.path().join("alias")).unwrap();
    let m = manager();
    let a = m.acquire(&real.join("s.jsonl")).expect("first spelling");
    let b = m
        .try_acquire(&dir.path().join("alias/s.jsonl"))
        .expect("second spelling re-enters, it does not wait");
    assert_eq!(b.how(), Acquired::Reentered);
    assert_eq!(a.lock_path(), b.lock_path(), "one registry key");
    let c = m
        .try_acquire(&dir.path().join("alias/../real/s.jsonl"))
        .expect("a third spelling");
    assert_eq!(c.how(), Acquired::Reentered);
    assert_eq!(m.held().len(), 1, "one lock: {:?}", m.held());
    assert_eq!(c.release().unwrap(), Released::Decremented(2));
    assert_eq!(b.release().unwrap(), Released::Decremented(1));
    assert_eq!(a.release().unwrap(), Released::Removed);
    assert!(!real.join("s.jsonl.lock").exists());
}

// P16: a lock directory that does not exist is a typed error naming it, not a panic.
#[test]
fn a_missing_directory_is_a_typed_error() {
    let dir = tempdir();
    let m = manager();
    match m.try_acquire(&dir.path().join("missing/s.jsonl")) {
        Err(LockError::Io { path, .. }) => assert!(path.ends_with("missing"), "{path:?}"),
        other => panic!("expected an Io error naming the directory, got {other:?}"),
    }
}

/// Runs the CLI with `args` and returns (exit code, stdout, stderr), failing the test instead of
/// hanging if it does not return within PATIENCE.
fn cli(args: &[&std::ffi::OsStr]) -> (Option<i32>, String, String) {
    let mut c = procs::command(lockcore_bin());
    c.args(args);
    let run = move || procs::run(c, "P16 cli");
    let (status, out, err) = returns("the lockcore CLI", run);
    (status.code(), out, err)
}

// P16 through the CLI: for each hostile entry, `hold` and `run` fail at once (exit 1) naming the
// path and the kind; `inspect` names it; `clean` keeps it; nothing outside the directory changes.
#[test]
fn every_command_returns_with_a_named_verdict_or_a_clear_error() {
    let dir = tempdir();
    let d = dir.path().to_path_buf();
    let planted = plant_hostile(&d);
    for (session, kind) in &planted {
        let s = session.as_os_str();
        let (code, _, err) = cli(&["hold".as_ref(), s, "--timeout-ms".as_ref(), "200".as_ref()]);
        assert_eq!(code, Some(1), "P16 hold {}: {err}", session.display());
        assert!(
            err.contains(kind.as_str()) && err.contains(".lock"),
            "{err}"
        );
        let (code, _, err) = cli(&["run".as_ref(), s, "--".as_ref(), "true".as_ref()]);
        assert_eq!(code, Some(1), "P16 run {}: {err}", session.display());
    }
    let (code, out, err) = cli(&["inspect".as_ref(), d.as_os_str()]);
    assert_eq!(code, Some(0), "inspect: {err}");
    for (session, kind) in &planted {
        let name = format!("{}.lock", session.file_name().unwrap().to_string_lossy());
        let row = out.lines().find(|l| l.contains(&name)).unwrap_or_default();
        assert!(
            row.contains("not-regular") && row.contains(kind.as_str()),
            "P16 inspect names {name}: {out}"
        );
    }
    let (code, out, err) = cli(&["clean".as_ref(), d.as_os_str()]);
    assert_eq!(code, Some(0), "clean: {err}");
    assert!(
        !out.contains("removed"),
        "P16 a plain clean removes nothing: {out}"
    );
    assert_eq!(
        std::fs::read(d.join("victim.txt")).unwrap(),
        b"must survive"
    );
    assert!(!d.join("nowhere").exists());
}

/// True once `pid` has a handler for SIGTERM (`SigCgt` in `/proc/<pid>/status`): the signal
/// cleanup is installed. `None` when the status cannot be read (the process is gone).
fn catches_sigterm(pid: u32) -> Option<bool> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let mask = status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))?
        .trim();
    let bits = u64::from_str_radix(mask, 16).ok()?;
    Some(bits & (1 << (libc::SIGTERM - 1)) != 0)
}

// P16 (no hang) and the signal cleanup: a `hold` that is waiting for a busy lock obeys SIGTERM
// at once — no open, lock or sleep of the wait holds what the cleanup needs.
#[test]
fn a_waiting_hold_obeys_sigterm() {
    let dir = tempdir();
    let session = dir.path().join("s.jsonl");
    let mut holder = procs::command(lockcore_bin());
    holder.arg("hold").arg(&session);
    let mut holder = procs::Proc::spawn(holder, "P16 SIGTERM holder");
    let _ = holder.json("the holder's acquired line");
    let mut waiter = procs::command(lockcore_bin());
    waiter
        .arg("hold")
        .arg(&session)
        .arg("--timeout-ms")
        .arg("60000");
    let mut waiter = procs::Proc::spawn(waiter, "P16 SIGTERM waiter");
    // Bounded: the cleanup is installed before the first attempt.
    let installed = (0..1_000_000).find_map(|_| match catches_sigterm(waiter.pid()) {
        Some(true) => Some(true),
        None => Some(false),
        Some(false) => {
            std::thread::yield_now();
            None
        }
    });
    assert_eq!(
        installed,
        Some(true),
        "the waiter installed its signal cleanup"
    );
    waiter.signal(libc::SIGTERM);
    waiter.assert_killed_by(libc::SIGTERM, "a waiting hold ends on SIGTERM");
    assert!(holder.running(), "the holder is untouched");
}
