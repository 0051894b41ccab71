//! Real processes in sibling pid namespaces (`unshare --pid --fork --mount-proc`): a peer
//! implementation and lockcore both run as pid 1 of their own namespace over one directory, the
//! setting of DESIGN §4a (two containers sharing a sessions directory). P13, P14, P15.
//!
//! Needs root (a new pid namespace needs CAP_SYS_ADMIN) and util-linux `unshare`. Where either is
//! missing, every test prints `namespaces: skipped: <reason>` and passes. With
//! `LOCKCORE_RESULTS_DIR` set, each test writes its result file there (`tests/namespaces-<test>.json`,
//! lockcore-results' schema): passed, violated, or skipped with the probe's reason.

use lockcore_results::{Record, TestResult, Verdict};
use lockcore_testkit::procs::*;
use serde_json::{json, Value};
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Instant;

/// The `lockcore` CLI: this package's `lockcore-cli-under-test`, the same program
/// (`lockcore_cli::main`) under a name cargo lets this test see.
fn lockcore_bin() -> &'static str {
    env!("CARGO_BIN_EXE_lockcore-cli-under-test")
}

/// The test child (`src/bin/lockcore-testchild.rs`).
fn testchild_bin() -> &'static str {
    env!("CARGO_BIN_EXE_lockcore-testchild")
}

// ----- the probe, the skip and the results file -----

/// `unshare` with a new pid namespace whose init gets SIGKILL when `unshare` dies (so a failed
/// test leaves nothing behind), and a /proc of its own.
const UNSHARE: [&str; 4] = ["--pid", "--fork", "--mount-proc", "--kill-child"];

/// Why these tests cannot run for a process with effective uid `euid`, given how the probe
/// command ended (`Err`: it could not be started).
fn skip_reason_for(euid: u32, probe: Result<(bool, String), String>) -> Option<String> {
    if euid != 0 {
        return Some(format!(
            "not root (euid {euid}): a new pid namespace needs CAP_SYS_ADMIN"
        ));
    }
    match probe {
        Err(e) => Some(format!("cannot run unshare: {e}")),
        Ok((true, _)) => None,
        Ok((false, stderr)) => Some(format!(
            "`unshare {} true` failed: {}",
            UNSHARE.join(" "),
            stderr.trim()
        )),
    }
}

fn probe_unshare() -> Result<(bool, String), String> {
    Command::new("unshare")
        .args(UNSHARE)
        .arg("true")
        .stdin(Stdio::null())
        .output()
        .map(|o| {
            let err = String::from_utf8_lossy(&o.stderr).into_owned();
            (o.status.success(), err)
        })
        .map_err(|e| e.to_string())
}

/// Probed once per test process.
fn skip_reason() -> Option<String> {
    static REASON: OnceLock<Option<String>> = OnceLock::new();
    REASON
        .get_or_init(|| {
            // SAFETY: geteuid cannot fail and has no memory effects.
            let euid = unsafe { libc::geteuid() };
            let probe = if euid == 0 {
                probe_unshare()
            } else {
                Ok((false, String::new()))
            };
            skip_reason_for(euid, probe)
        })
        .clone()
}

/// Writes one test's result file (`tests/namespaces-<test>.json`) when dropped: passed, failed
/// (dropped while panicking) or skipped with the reason. One file per test: under nextest every
/// test is a process of its own.
struct Recorder {
    name: &'static str,
    property: &'static str,
    started: Instant,
    skipped: bool,
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let verdict = if self.skipped {
            Verdict::Skipped
        } else if std::thread::panicking() {
            Verdict::Violated
        } else {
            Verdict::Passed
        };
        let record = Record::Test(TestResult {
            layer: "namespaces".into(),
            test: self.name.into(),
            mutant: None,
            verdict,
            property: Some(self.property.into()),
            iterations: 1,
            seconds: self.started.elapsed().as_secs_f64(),
            trace: Vec::new(),
            reason: if self.skipped { skip_reason() } else { None },
            message: None,
        });
        record.write_or_warn();
    }
}

/// Starts a test: `None` (after printing and recording the skip) when namespaces are unavailable.
fn start(name: &'static str, property: &'static str) -> Option<Recorder> {
    let mut record = Recorder {
        name,
        property,
        started: Instant::now(),
        skipped: false,
    };
    match skip_reason() {
        Some(reason) => {
            println!("namespaces: skipped: {reason}");
            record.skipped = true;
            None
        }
        None => Some(record),
    }
}

// ----- processes in namespaces -----

/// `program args…` as pid 1 of a new pid namespace.
fn in_ns(program: &str, args: &[&str]) -> Command {
    let mut c = command("unshare");
    c.args(UNSHARE).arg(program).args(args);
    c
}

fn lockcore_in_ns(args: &[&str]) -> Command {
    in_ns(lockcore_bin(), args)
}

fn s(p: &Path) -> &str {
    p.to_str()
        .unwrap_or_else(|| panic!("non-UTF-8 temp path {p:?}"))
}

/// The pid (in our namespace) of `unshare`'s forked child: the new namespace's init.
fn ns_init(unshare_pid: u32) -> u32 {
    let children = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| parent_of(pid) == Some(unshare_pid));
    let found: Vec<u32> = children.collect();
    match found.as_slice() {
        [init] => *init,
        other => panic!("unshare {unshare_pid} has children {other:?}, expected one"),
    }
}

/// Field 4 of `/proc/<pid>/stat` (after the parenthesised name, which may hold spaces).
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, after) = stat.rsplit_once(')')?;
    after.split_whitespace().nth(1)?.parse().ok()
}

/// Keeps a pid namespace (and so its id, the inode of its `ns/pid` link) alive after its last
/// process died: a freed namespace id can be given to the next new namespace, and a test that
/// needs "another namespace" must not get the dead one's id back.
fn pin_namespace(pid: u32) -> File {
    let link = format!("/proc/{pid}/ns/pid");
    File::open(&link).unwrap_or_else(|e| panic!("cannot open {link}: {e}"))
}

fn signal(pid: u32, sig: i32) {
    let Ok(p) = libc::pid_t::try_from(pid) else {
        panic!("pid {pid} out of range");
    };
    // SAFETY: kill has no memory effects; `pid` is a namespace init this test started.
    let rc = unsafe { libc::kill(p, sig) };
    assert_eq!(
        rc,
        0,
        "kill({pid}, {sig}): {}",
        std::io::Error::last_os_error()
    );
}

/// A lock file's identity and bytes: "untouched" means all three are unchanged.
fn snapshot(path: &Path) -> (u64, u64, String) {
    let meta =
        std::fs::metadata(path).unwrap_or_else(|e| panic!("{} should exist: {e}", path.display()));
    (meta.dev(), meta.ino(), read(path))
}

/// `inspect --json` of the lock's directory from a fresh namespace: the one row for `lock`.
fn inspect_from_another_ns(lock: &Path, extra: &[&str], scenario: &str) -> Value {
    let dir = lock.parent().unwrap_or(Path::new("/"));
    let mut args = vec!["inspect", s(dir), "--json"];
    args.extend_from_slice(extra);
    let (status, out, err) = run(lockcore_in_ns(&args), scenario);
    assert!(status.success(), "[{scenario}] inspect: {status:?} {err}");
    let rows: Value = serde_json::from_str(out.trim())
        .unwrap_or_else(|e| panic!("[{scenario}] inspect output not JSON ({e}): {out}"));
    let row = rows
        .as_array()
        .and_then(|r| r.iter().find(|o| o["path"] == s(lock)));
    row.cloned()
        .unwrap_or_else(|| panic!("[{scenario}] {} not inspected: {out}", lock.display()))
}

/// `hold SESSION --timeout-ms N` as pid 1 of a fresh namespace, stdin closed: (code, out, err).
fn hold_from_another_ns(
    session: &Path,
    timeout_ms: u64,
    extra: &[&str],
    scenario: &str,
) -> (Option<i32>, String, String) {
    let t = timeout_ms.to_string();
    let mut args = vec!["hold", s(session), "--timeout-ms", &t];
    args.extend_from_slice(extra);
    let (status, out, err) = run(lockcore_in_ns(&args), scenario);
    (status.code(), out, err)
}

fn parse_line(out: &str, scenario: &str) -> Value {
    serde_json::from_str(out.lines().next().unwrap_or_default())
        .unwrap_or_else(|e| panic!("[{scenario}] not a JSON line ({e}): {out:?}"))
}

// ----- a: a peer implementation in a sibling namespace (P14) -----

/// A peer (no lockcore) as pid 1 of namespace A, holding `lock` in `shape`, writing `pid`.
fn spawn_peer(lock: &Path, shape: &str, pid: Option<u32>, scenario: &str) -> Proc {
    let pid_arg = pid.map(|p| p.to_string());
    let mut args = vec!["peer-hold", "--lock", s(lock), "--shape", shape];
    if let Some(p) = &pid_arg {
        args.extend(["--pid", p]);
    }
    let mut peer = Proc::spawn(in_ns(testchild_bin(), &args), scenario);
    let line = peer.json("the peer's line");
    assert_eq!(
        line["own_pid"], 1,
        "[{scenario}] the peer is its namespace's init: {line}"
    );
    assert_eq!(line["pid"], pid.unwrap_or(1), "[{scenario}] {line}");
    peer
}

/// lockcore as pid 1 of namespace B must not take a live peer's lock, whatever its shape or pid.
fn peer_lock_is_never_taken(shape: &str) {
    for pid in [None, Some(2), Some(4_000_000)] {
        let scenario = format!("peer {shape} pid {pid:?}");
        let dir = tempdir();
        let session = dir.path().join("s.jsonl");
        let lock = dir.path().join("s.jsonl.lock");
        let mut peer = spawn_peer(&lock, shape, pid, &scenario);
        let before = snapshot(&lock);

        let row = inspect_from_another_ns(&lock, &[], &scenario);
        assert_eq!(row["reasons"][0], "unknown-namespace", "[{scenario}] {row}");
        assert_eq!(row["stale"], false, "[{scenario}] {row}");
        let (code, out, err) = hold_from_another_ns(&session, 300, &[], &scenario);
        assert_eq!(
            code,
            Some(75),
            "[{scenario}] busy expected: out {out} err {err}"
        );
        assert!(err.contains(s(&lock)), "[{scenario}] names the lock: {err}");
        assert_eq!(
            snapshot(&lock),
            before,
            "[{scenario}] the peer's file was touched"
        );
        assert!(peer.running(), "[{scenario}] the peer still holds");

        peer.close_stdin();
        peer.assert_success("the peer removes its own file");
        assert!(!exists(&lock), "[{scenario}] the peer's release removed it");
    }
}

// P14: a legacy {pid, createdAt} peer lock from a sibling namespace is never taken.
#[test]
fn p14_legacy_peer_in_a_sibling_namespace_is_not_taken() {
    let Some(_r) = start("p14_legacy_peer_in_a_sibling_namespace_is_not_taken", "P14") else {
        return;
    };
    peer_lock_is_never_taken("legacy");
}

// P14: a {pid, nonce, createdAt} peer lock (our pid, another nonce) from a sibling namespace is
// never taken.
#[test]
fn p14_nonce_peer_in_a_sibling_namespace_is_not_taken() {
    let Some(_r) = start("p14_nonce_peer_in_a_sibling_namespace_is_not_taken", "P14") else {
        return;
    };
    peer_lock_is_never_taken("nonce");
}

// P14: a {pid, createdAt, starttime} peer lock (another start time) from a sibling namespace is
// never taken.
#[test]
fn p14_starttime_peer_in_a_sibling_namespace_is_not_taken() {
    let Some(_r) = start(
        "p14_starttime_peer_in_a_sibling_namespace_is_not_taken",
        "P14",
    ) else {
        return;
    };
    peer_lock_is_never_taken("starttime");
}

// P14 (the opt-in's risk): with --same-pid-namespace a live peer in a sibling namespace looks
// like a previous instance of ours, and lockcore takes its lock: two owners.
#[test]
fn p14_same_pid_namespace_opt_in_takes_a_live_peers_lock() {
    let Some(_r) = start(
        "p14_same_pid_namespace_opt_in_takes_a_live_peers_lock",
        "P14",
    ) else {
        return;
    };
    let scenario = "opt-in";
    let dir = tempdir();
    let lock = dir.path().join("s.jsonl.lock");
    let mut peer = spawn_peer(&lock, "nonce", None, scenario);
    let flags = ["--same-pid-namespace"];
    let (code, out, err) = hold_from_another_ns(&dir.path().join("s.jsonl"), 300, &flags, scenario);
    assert_eq!(
        code,
        Some(0),
        "[{scenario}] the opt-in reclaims: {out} {err}"
    );
    let line = parse_line(&out, scenario);
    assert_eq!(
        line["how"], "reclaimed:nonce-mismatch",
        "[{scenario}] {line}"
    );
    assert!(
        peer.running(),
        "[{scenario}] the peer believed it held all along"
    );
    peer.close_stdin();
    let _ = peer.wait(); // its file is gone: the peer's own release fails, as it should
}

// ----- b: a killed lockcore holder in a sibling namespace (P13) -----

/// `lockcore hold` as pid 1 of namespace A with `flags`; returns it with its namespace pinned,
/// after killing its init with SIGKILL (no cleanup runs).
fn killed_holder(session: &Path, flags: &[&str], scenario: &str) -> (Proc, File) {
    let mut args = vec!["hold", s(session)];
    args.extend_from_slice(flags);
    let mut holder = Proc::spawn(lockcore_in_ns(&args), scenario);
    let line = holder.json("the holder's acquired line");
    assert_eq!(line["how"], "fresh", "[{scenario}] {line}");
    assert_eq!(line["payload"]["pid"], 1, "[{scenario}] {line}");
    let init = ns_init(holder.pid());
    let pin = pin_namespace(init);
    signal(init, libc::SIGKILL);
    let _ = holder.wait();
    (holder, pin)
}

// P13: a lease-bearing lock whose holder died in a sibling namespace is reclaimed from another
// namespace once its lease has passed (lease-expired), not after stale_after.
#[test]
fn p13_killed_holders_lease_expires_across_namespaces() {
    let Some(_r) = start("p13_killed_holders_lease_expires_across_namespaces", "P13") else {
        return;
    };
    let scenario = "killed holder, lease 1 s";
    let dir = tempdir();
    let session = dir.path().join("s.jsonl");
    let lock = dir.path().join("s.jsonl.lock");
    let flags = ["--lease-ms", "1000", "--refresh-ms", "300"];
    let (_holder, _pin) = killed_holder(&session, &flags, scenario);
    assert!(
        exists(&lock),
        "[{scenario}] SIGKILL left the lock file behind"
    );
    let (code, out, err) = hold_from_another_ns(&session, 5000, &[], scenario);
    assert_eq!(
        code,
        Some(0),
        "[{scenario}] reclaimed within the timeout: {out} {err}"
    );
    let line = parse_line(&out, scenario);
    assert_eq!(
        line["how"], "reclaimed:lease-expired",
        "[{scenario}] {line}"
    );
    assert!(
        !exists(&lock),
        "[{scenario}] the reclaimer released its own lock"
    );
}

// P14: without a lease, a dead holder's lock from a sibling namespace (another host id) is judged
// live (foreign-host) until stale_after: the 30-minute wait that leases remove.
#[test]
fn p14_killed_holder_without_lease_blocks_as_foreign_host() {
    let Some(_r) = start(
        "p14_killed_holder_without_lease_blocks_as_foreign_host",
        "P14",
    ) else {
        return;
    };
    let scenario = "killed holder, no lease";
    let dir = tempdir();
    let session = dir.path().join("s.jsonl");
    let lock = dir.path().join("s.jsonl.lock");
    let (_holder, _pin) = killed_holder(&session, &["--lease-ms", "0"], scenario);
    let before = snapshot(&lock);
    let row = inspect_from_another_ns(&lock, &[], scenario);
    assert_eq!(row["reasons"][0], "foreign-host", "[{scenario}] {row}");
    assert_eq!(row["lease_ms"], Value::Null, "[{scenario}] {row}");
    let (code, out, err) = hold_from_another_ns(&session, 300, &[], scenario);
    assert_eq!(
        code,
        Some(75),
        "[{scenario}] busy expected: out {out} err {err}"
    );
    assert_eq!(snapshot(&lock), before, "[{scenario}] the file was touched");
}

// ----- c: a stopped holder learns it lost the lock (P13, P15) -----

// P15: a holder stopped past its lease is reclaimed (lease-expired); after SIGCONT it learns it
// at its next refresh, says `{"compromised": …}`, exits 1 and deletes nothing of the new owner's.
#[test]
fn p15_stopped_holder_learns_it_was_reclaimed() {
    let Some(_r) = start("p15_stopped_holder_learns_it_was_reclaimed", "P15") else {
        return;
    };
    let scenario = "stopped holder";
    let dir = tempdir();
    let session = dir.path().join("s.jsonl");
    let lock = dir.path().join("s.jsonl.lock");
    let args = [
        "hold",
        s(&session),
        "--lease-ms",
        "1000",
        "--refresh-ms",
        "200",
    ];
    let mut first = Proc::spawn(lockcore_in_ns(&args), scenario);
    let _ = first.json("the first holder's acquired line");
    let init = ns_init(first.pid());
    let _pin = pin_namespace(init);
    signal(init, libc::SIGSTOP);

    let args = ["hold", s(&session), "--timeout-ms", "10000"];
    let mut second = Proc::spawn(lockcore_in_ns(&args), scenario);
    let line = second.json("the reclaimer's acquired line");
    assert_eq!(
        line["how"], "reclaimed:lease-expired",
        "[{scenario}] {line}"
    );
    let theirs = snapshot(&lock);

    signal(init, libc::SIGCONT);
    let told = first.json("the first holder's compromised line");
    assert_eq!(told, json!({ "compromised": s(&lock) }), "[{scenario}]");
    let status = first.wait();
    assert_eq!(
        status.code(),
        Some(1),
        "[{scenario}] {status:?} {}",
        first.stderr()
    );
    assert_eq!(
        snapshot(&lock),
        theirs,
        "[{scenario}] the new owner's file was touched"
    );
    assert!(second.running(), "[{scenario}] the new owner still holds");
    second.close_stdin();
    second.assert_success("the new owner releases");
    assert!(
        !exists(&lock),
        "[{scenario}] the new owner removed its own file"
    );
}

// ----- d: the skip -----

// The skip rule itself: without root, or when unshare cannot make a pid namespace, every test
// skips with a reason; as root with a working unshare, none does.
#[test]
fn skip_reasons_name_what_is_missing() {
    let not_root = skip_reason_for(1000, Ok((true, String::new())));
    assert!(not_root.is_some_and(|r| r.contains("not root (euid 1000)")));
    let denied = skip_reason_for(0, Ok((false, "unshare: Operation not permitted\n".into())));
    assert!(denied.is_some_and(|r| r.ends_with("Operation not permitted")));
    let missing = skip_reason_for(0, Err("No such file or directory".into()));
    assert!(missing.is_some_and(|r| r.contains("cannot run unshare")));
    assert_eq!(skip_reason_for(0, Ok((true, String::new()))), None);
}
