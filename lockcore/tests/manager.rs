//! LockManager on the real file system (a temp dir), with a scripted process table so that other
//! "processes" can be alive, dead or EPERM without spawning any: reentrancy, guards, release_all
//! ordering and report, reclaim, inspect and clean.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use lockcore::os::{OsClock, OsFs};
use lockcore::{
    AcquireOptions, Acquired, EnvParts, InstanceWaits, LiveReason, Liveness, LockError,
    LockManager, Owner, Payload, Policy, ProcessIdentity, Procs, Released, StaleReason, Verdict,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A process table: our identity plus a scripted liveness per other pid (unknown pids are dead).
#[derive(Clone)]
struct Table {
    me: ProcessIdentity,
    others: Arc<Mutex<BTreeMap<u32, Liveness>>>,
}

impl Procs for Table {
    fn identity(&self) -> ProcessIdentity {
        self.me.clone()
    }
    fn probe(&self, pid: u32) -> Liveness {
        self.others
            .lock()
            .unwrap()
            .get(&pid)
            .copied()
            .unwrap_or(Liveness::Dead)
    }
    fn start_time(&self, _pid: u32) -> Option<u64> {
        None
    }
}

type TestEnv = EnvParts<OsFs, Table, OsClock>;

/// A virtual clock: `sleep` advances it, so waiting costs no real time. A wait that never
/// sleeps would spin here forever; reading the clock [`SPIN_BUDGET`] times without time passing
/// is that liveness failure, named (P11), instead of a hang.
#[derive(Default)]
struct VirtualClock {
    /// Nanoseconds since start, and reads since it last moved.
    state: Mutex<(u128, u64)>,
}

/// Reads of a [`VirtualClock`] with no time passing that no healthy test comes near: each look
/// of a waiting acquisition reads it a few times and sleeps between looks, and the tests that
/// use it make a handful of acquisitions.
const SPIN_BUDGET: u64 = 20_000;

impl lockcore::Clock for VirtualClock {
    fn now_wall_ms(&self) -> i64 {
        now_ms()
    }
    fn now_mono(&self) -> Duration {
        let mut st = self.state.lock().unwrap();
        st.1 += 1;
        assert!(
            st.1 < SPIN_BUDGET,
            "P11 violated: liveness: the virtual clock was read {SPIN_BUDGET} times without time \
             passing: a wait that never sleeps"
        );
        Duration::from_nanos(u64::try_from(st.0).unwrap_or(u64::MAX))
    }
    fn sleep(&self, d: Duration) {
        let mut st = self.state.lock().unwrap();
        if !d.is_zero() {
            *st = (st.0 + d.as_nanos(), 0);
        }
    }
    fn random_u64(&self) -> u64 {
        4 // deterministic: jitter and tokens need no entropy here
    }
    fn is_virtual(&self) -> bool {
        true
    }
}

struct Fixture {
    dir: tempfile::TempDir,
    others: Arc<Mutex<BTreeMap<u32, Liveness>>>,
}

impl Fixture {
    fn new() -> Self {
        Fixture {
            dir: tempfile::tempdir().unwrap(),
            others: Arc::default(),
        }
    }
    fn manager(&self, pid: u32) -> LockManager<TestEnv> {
        self.manager_with(pid, Policy::default())
    }
    fn manager_with(&self, pid: u32, policy: Policy) -> LockManager<TestEnv> {
        let me = ProcessIdentity {
            pid,
            host: Some("host-a".into()),
            start_time: Some(1),
        };
        self.others.lock().unwrap().insert(pid, Liveness::Alive);
        let env = EnvParts {
            fs: OsFs,
            procs: Table {
                me,
                others: self.others.clone(),
            },
            clock: OsClock,
        };
        LockManager::new(env, policy)
    }
    fn set(&self, pid: u32, l: Liveness) {
        self.others.lock().unwrap().insert(pid, l);
    }
    fn session(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn lock_file(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.lock"))
    }
    fn plant(&self, name: &str, payload: &Payload) {
        std::fs::write(self.lock_file(name), payload.to_bytes()).unwrap();
    }
    fn files(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

/// Looks at `cond` until it holds (each look yields first), for at most [`WATCHDOG`] of real
/// time: a bound that turns "never" into a failed assertion instead of a hang. What it waits for
/// takes microseconds.
fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + WATCHDOG;
    while std::time::Instant::now() < deadline {
        std::thread::yield_now();
        if cond() {
            return true;
        }
    }
    false
}

/// How long a test waits for something that takes microseconds before it calls it never.
const WATCHDOG: Duration = Duration::from_secs(20);

/// A recheck bound no healthy wait in these tests comes near: a wait that runs it out was not
/// woken by the notification it waited for. Longer than [`WATCHDOG`], so that a lost
/// notification fails the watchdog's look instead of being rescued by the bound.
const RECHECK: Duration = Duration::from_secs(60);

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A file written in our pid namespace (host `host-a`, as the fixture's managers have), so the
/// scripted process table decides; host-less files fail closed (P14, tested in `classify`).
fn planted(pid: u32, nonce: Option<&str>, age: Duration) -> Payload {
    Payload {
        pid,
        nonce: nonce.map(str::to_string),
        created_at_ms: now_ms() - age.as_millis() as i64,
        starttime: None,
        host: Some("host-a".into()),
        token: None,
        lease: None,
    }
}

fn on_disk(path: &Path) -> Payload {
    Payload::parse(&std::fs::read(path).unwrap()).unwrap()
}

// P1: a second process is busy while the first holds; the error names the owner and the path.
#[test]
fn another_process_is_busy_while_held() {
    let fx = Fixture::new();
    let (a, b) = (fx.manager(10), fx.manager(20));
    let g = a.try_acquire(&fx.session("s1.jsonl")).unwrap();
    assert_eq!(g.how(), Acquired::Fresh);
    match b.try_acquire(&fx.session("s1.jsonl")) {
        Err(LockError::Busy {
            owner: Owner::File(p),
            lock_path,
            ..
        }) => {
            assert_eq!(p.pid, 10);
            assert_eq!(lock_path, fx.lock_file("s1.jsonl"));
        }
        other => panic!("expected busy, got {other:?}"),
    }
    drop(g);
    assert!(b.try_acquire(&fx.session("s1.jsonl")).is_ok());
}

// The payload on disk is the pretty nonce shape, and no temp file survives a publish (P11).
#[test]
fn publishes_the_nonce_payload_and_leaves_no_temp_file() {
    let fx = Fixture::new();
    let a = fx.manager(10);
    let g = a.try_acquire(&fx.session("s1.jsonl")).unwrap();
    let text = std::fs::read_to_string(fx.lock_file("s1.jsonl")).unwrap();
    assert!(
        text.starts_with("{\n  \"pid\": 10,\n  \"nonce\": \""),
        "{text}"
    );
    let p = on_disk(&fx.lock_file("s1.jsonl"));
    assert_eq!(p.nonce.as_deref(), Some(a.nonce().as_str()));
    assert_eq!(&p, g.payload());
    assert_eq!(fx.files(), vec!["s1.jsonl.lock"]);
}

// P9: the file exists iff the hold count is > 0; reentry is counted.
#[test]
fn reentrant_holds_are_counted() {
    let fx = Fixture::new();
    let a = fx.manager(10);
    let s = fx.session("s1.jsonl");
    let g1 = a.try_acquire(&s).unwrap();
    let g2 = a.try_acquire(&s).unwrap();
    let g3 = a.try_acquire(&s).unwrap();
    assert_eq!(g2.how(), Acquired::Reentered);
    assert_eq!(a.held(), vec![(fx.lock_file("s1.jsonl"), 3)]);
    assert_eq!(g3.release().unwrap(), Released::Decremented(2));
    drop(g1);
    assert!(
        fx.lock_file("s1.jsonl").exists(),
        "one hold left: the file must stay"
    );
    assert_eq!(g2.release().unwrap(), Released::Removed);
    assert!(!fx.lock_file("s1.jsonl").exists());
    assert!(a.held().is_empty());
}

// P1: reentrancy can be turned off per call; the second acquire is busy with this instance.
#[test]
fn non_reentrant_acquire_is_busy_in_the_same_instance() {
    let fx = Fixture::new();
    let a = fx.manager(10);
    let s = fx.session("s1.jsonl");
    let _g = a.try_acquire(&s).unwrap();
    let no_reentry = AcquireOptions {
        reentrant: false,
        timeout: Some(Duration::ZERO),
    };
    match a.acquire_with(&s, no_reentry) {
        Err(LockError::Busy {
            owner: Owner::ThisInstance,
            ..
        }) => {}
        other => panic!("expected busy(this instance), got {other:?}"),
    }
}

// P11 (no phantom waiters): an attempt that does not wait — try_acquire, of this instance's own
// hold or another process's — takes no place in the path's queue; a ticket left behind would
// make every later waiter wait behind an acquisition that has already given up.
#[test]
fn a_try_acquire_that_finds_the_lock_busy_leaves_no_place_in_the_queue() {
    let fx = Fixture::new();
    let (a, b) = (fx.manager(10), fx.manager(11));
    let s = fx.session("s1.jsonl");
    let held = a.try_acquire(&s).unwrap();
    let no_reentry = AcquireOptions {
        reentrant: false,
        timeout: None,
    };
    assert!(a.try_acquire_with(&s, no_reentry).unwrap_err().is_busy());
    assert!(b.try_acquire(&s).unwrap_err().is_busy());
    assert_eq!((a.queued(&s), b.queued(&s)), (0, 0));
    drop(held);
    assert_eq!(b.try_acquire(&s).unwrap().how(), Acquired::Fresh);
}

// P4, P5, P3: release_all removes every file, reports them, revokes the guards, and only then
// rotates the nonce; revoked guards are inert against a later holder.
#[test]
fn release_all_releases_everything_then_rotates() {
    let fx = Fixture::new();
    let a = fx.manager(10);
    let old = a.nonce();
    let g1 = a.try_acquire(&fx.session("s1.jsonl")).unwrap();
    let g1b = a.try_acquire(&fx.session("s1.jsonl")).unwrap();
    let g2 = a.try_acquire(&fx.session("s2.jsonl")).unwrap();
    let report = a.release_all();
    assert_eq!(
        report.released,
        vec![fx.lock_file("s1.jsonl"), fx.lock_file("s2.jsonl")]
    );
    assert!(report.failed.is_empty() && report.not_ours.is_empty());
    assert_eq!(report.old_nonce, old);
    assert_ne!(report.new_nonce, old);
    assert_eq!(a.nonce(), report.new_nonce);
    assert_eq!(a.epoch(), 1);
    assert!(fx.files().is_empty());
    assert!(!g1.is_held() && !g2.is_held());

    // The next holder of s1 is not disturbed by the revoked guards.
    let fresh = a.try_acquire(&fx.session("s1.jsonl")).unwrap();
    assert_eq!(fresh.how(), Acquired::Fresh);
    assert_eq!(g1.release().unwrap(), Released::Inert);
    drop(g1b);
    drop(g2);
    assert!(fresh.is_held());
    assert_eq!(
        on_disk(&fx.lock_file("s1.jsonl")).nonce.as_deref(),
        Some(report.new_nonce.as_str())
    );
}

// P6: after an in-place restart, a leftover with the old nonce and our pid is reclaimed at once.
#[test]
fn leftover_of_a_previous_instance_is_reclaimed_at_once() {
    let fx = Fixture::new();
    let a = fx.manager(10);
    fx.plant(
        "s1.jsonl",
        &planted(10, Some("previous-instance"), Duration::ZERO),
    );
    let g = a.try_acquire(&fx.session("s1.jsonl")).unwrap();
    assert_eq!(g.how(), Acquired::Reclaimed(StaleReason::NonceMismatch));
    assert_eq!(
        on_disk(&fx.lock_file("s1.jsonl")).nonce.as_deref(),
        Some(a.nonce().as_str())
    );
}

// P6: a leftover of *this* instance (a delete that failed) does not block us either.
#[test]
fn own_leftover_with_the_current_nonce_is_reclaimed() {
    let fx = Fixture::new();
    let a = fx.manager(10);
    let g = a.try_acquire(&fx.session("s1.jsonl")).unwrap();
    let bytes = std::fs::read(fx.lock_file("s1.jsonl")).unwrap();
    drop(g);
    std::fs::write(fx.lock_file("s1.jsonl"), &bytes).unwrap();
    // Holding another session changes nothing: the leftover's token is no hold's.
    let _other = a.try_acquire(&fx.session("s2.jsonl")).unwrap();
    let g = a.try_acquire(&fx.session("s1.jsonl")).unwrap();
    assert_eq!(g.how(), Acquired::Reclaimed(StaleReason::Leftover));
}

// P7: a legacy file of our pid is live until stale_after, then stale.
#[test]
fn legacy_file_of_our_pid_waits_for_stale_after() {
    let fx = Fixture::new();
    let a = fx.manager(10);
    fx.plant("s1.jsonl", &planted(10, None, Duration::from_secs(60)));
    assert!(a
        .try_acquire(&fx.session("s1.jsonl"))
        .unwrap_err()
        .is_busy());
    fx.plant("s1.jsonl", &planted(10, None, Duration::from_secs(31 * 60)));
    assert_eq!(
        a.try_acquire(&fx.session("s1.jsonl")).unwrap().how(),
        Acquired::Reclaimed(StaleReason::TooOld)
    );
}

// P8, P2: dead pid → reclaimed; live or EPERM pid with any nonce → never reclaimed while fresh.
#[test]
fn other_pids_follow_the_probe() {
    let fx = Fixture::new();
    let a = fx.manager(10);
    fx.set(30, Liveness::Alive);
    fx.set(31, Liveness::NoPermission);
    for (pid, name) in [(30, "alive.jsonl"), (31, "eperm.jsonl")] {
        fx.plant(
            name,
            &planted(pid, Some("some-other-nonce"), Duration::from_secs(5)),
        );
        assert!(
            a.try_acquire(&fx.session(name)).unwrap_err().is_busy(),
            "pid {pid}"
        );
        assert_eq!(
            on_disk(&fx.lock_file(name)).pid,
            pid,
            "the live owner's file is untouched"
        );
    }
    fx.plant(
        "dead.jsonl",
        &planted(32, Some("n"), Duration::from_secs(5)),
    );
    assert_eq!(
        a.try_acquire(&fx.session("dead.jsonl")).unwrap().how(),
        Acquired::Reclaimed(StaleReason::DeadPid)
    );
}

// P10: a malformed file is live inside the grace (its writer may be mid-write), stale after.
#[test]
fn malformed_file_respects_the_grace() {
    let fx = Fixture::new();
    let a = fx.manager(10);
    std::fs::write(fx.lock_file("s1.jsonl"), b"{\"pid\": 12, \"creat").unwrap();
    match a.try_acquire(&fx.session("s1.jsonl")) {
        Err(LockError::Busy {
            owner: Owner::Malformed(_),
            ..
        }) => {}
        other => panic!("expected busy(malformed), got {other:?}"),
    }
    let old = SystemTime::now() - Duration::from_secs(60);
    std::fs::File::options()
        .write(true)
        .open(fx.lock_file("s1.jsonl"))
        .unwrap()
        .set_modified(old)
        .unwrap();
    assert_eq!(
        a.try_acquire(&fx.session("s1.jsonl")).unwrap().how(),
        Acquired::Reclaimed(StaleReason::MalformedExpired)
    );
}

// P2: a holder whose lock was reclaimed (too old) does not delete the next owner's file on release.
#[test]
fn release_after_being_reclaimed_leaves_the_new_owner_alone() {
    let fx = Fixture::new();
    // No lease: a refreshed lease is never too old (P13); this is the legacy age rule.
    let a = fx.manager_with(
        10,
        Policy {
            lease: None,
            ..Policy::default()
        },
    );
    let b = fx.manager_with(
        20,
        Policy {
            stale_after: Duration::ZERO,
            ..Policy::default()
        },
    );
    let ga = a.try_acquire(&fx.session("s1.jsonl")).unwrap();
    // Make a's file look 1 s old, so b (stale_after 0) reclaims it as too old.
    let mut p = on_disk(&fx.lock_file("s1.jsonl"));
    p.created_at_ms -= 1000;
    fx.plant("s1.jsonl", &p);
    let gb = b.try_acquire(&fx.session("s1.jsonl")).unwrap();
    assert_eq!(gb.how(), Acquired::Reclaimed(StaleReason::TooOld));
    assert_eq!(ga.release().unwrap(), Released::NotOurs);
    assert_eq!(on_disk(&fx.lock_file("s1.jsonl")).pid, 20);
}

fn set_mtime_ago(path: &Path, ago: Duration) {
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(SystemTime::now() - ago).unwrap();
}

// P13, P15: a lease whose refresh stopped is reclaimed (`lease-expired`) by another process; the
// old holder's next refresh finds its file replaced: it is told, `is_held()` turns false, and
// its release deletes nothing of the new owner's. A refreshed lease is not reclaimed.
#[test]
fn an_expired_lease_is_reclaimed_and_its_holder_learns_it_at_the_next_refresh() {
    let fx = Fixture::new();
    let a = fx.manager(10);
    a.use_manual_heartbeat();
    let told = Arc::new(Mutex::new(Vec::new()));
    let sink = told.clone();
    a.on_compromised(move |p| sink.lock().unwrap().push(p.to_path_buf()));
    let b = fx.manager(20);
    let lock = fx.lock_file("s1.jsonl");
    let ga = a.try_acquire(&fx.session("s1.jsonl")).unwrap();
    assert_eq!(on_disk(&lock).lease.map(|l| l.lease_ms), Some(30_000));

    // Refreshed 10 s ago: within the lease, busy for b.
    set_mtime_ago(&lock, Duration::from_secs(10));
    assert!(b
        .try_acquire(&fx.session("s1.jsonl"))
        .unwrap_err()
        .is_busy());
    let report = a.refresh();
    assert_eq!(report.refreshed, vec![lock.clone()], "{report:?}");
    assert!(ga.is_held());

    // Not refreshed for 31 s (a stopped holder): b reclaims it.
    set_mtime_ago(&lock, Duration::from_secs(31));
    let gb = b.try_acquire(&fx.session("s1.jsonl")).unwrap();
    assert_eq!(gb.how(), Acquired::Reclaimed(StaleReason::LeaseExpired));
    let report = a.refresh();
    assert_eq!(report.compromised, vec![lock.clone()], "{report:?}");
    assert!(
        !ga.is_held(),
        "P15: the holder learns it within one refresh"
    );
    assert_eq!(*told.lock().unwrap(), vec![lock.clone()]);
    assert_eq!(ga.release().unwrap(), Released::NotOurs);
    assert_eq!(
        on_disk(&lock).pid,
        20,
        "P15: the new owner's file is untouched"
    );
    assert!(gb.is_held());
}

// acquire waits with a timeout and reports how long it waited; an in-instance release wakes it.
#[test]
fn acquire_times_out_with_busy_and_is_woken_by_an_in_instance_release() {
    let fx = Fixture::new();
    let a = fx.manager(10);
    let me = ProcessIdentity {
        pid: 20,
        host: Some("host-a".into()),
        start_time: Some(1),
    };
    let procs = Table {
        me,
        others: fx.others.clone(),
    };
    let b = LockManager::new(
        EnvParts {
            fs: OsFs,
            procs,
            clock: VirtualClock::default(),
        },
        Policy::default(),
    );
    let g = a.try_acquire(&fx.session("s1.jsonl")).unwrap();
    // Virtual time: b backs off through its clock until 10 virtual seconds have passed.
    let opts = AcquireOptions {
        reentrant: true,
        timeout: Some(Duration::from_secs(10)),
    };
    match b.acquire_with(&fx.session("s1.jsonl"), opts) {
        Err(LockError::Busy {
            waited,
            owner: Owner::File(p),
            ..
        }) => {
            // The last backoff is cut to what is left of the timeout: exactly 10 virtual seconds.
            assert_eq!(waited, Duration::from_secs(10), "waited {waited:?}");
            assert_eq!(p.pid, 10);
        }
        other => panic!("expected busy, got {other:?}"),
    }
    // Same instance, non-reentrant waiter: handed over when the holder drops.
    let a2 = a.clone();
    let s = fx.session("s1.jsonl");
    let waiter = std::thread::spawn(move || {
        let opts = AcquireOptions {
            reentrant: false,
            timeout: Some(Duration::from_secs(30)),
        };
        a2.acquire_with(&s, opts).map(|g| g.how())
    });
    while a.held().is_empty() {
        std::thread::yield_now();
    }
    drop(g);
    assert_eq!(waiter.join().unwrap().unwrap(), Acquired::Fresh);
}

// inspect reports every lock with its verdict; clean removes exactly the stale ones (and old temps).
#[test]
fn inspect_and_clean_stale() {
    let fx = Fixture::new();
    let a = fx.manager(10);
    fx.set(40, Liveness::Alive);
    let _held = a.try_acquire(&fx.session("held.jsonl")).unwrap();
    fx.plant("dead.jsonl", &planted(41, None, Duration::from_secs(1)));
    fx.plant("live.jsonl", &planted(40, None, Duration::from_secs(1)));
    fx.plant(
        "old.jsonl",
        &planted(40, None, Duration::from_secs(2 * 3600)),
    );
    std::fs::write(fx.dir.path().join("not-a-lock.txt"), b"x").unwrap();
    let tmp = fx.dir.path().join(".gone.jsonl.lock.99-abc.lktmp");
    std::fs::write(&tmp, b"partial").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&tmp)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(120))
        .unwrap();

    let infos = a.inspect(fx.dir.path()).unwrap();
    let verdicts: Vec<(String, Verdict)> = infos
        .iter()
        .map(|i| {
            (
                i.path.file_name().unwrap().to_string_lossy().into_owned(),
                i.verdict,
            )
        })
        .collect();
    assert_eq!(
        verdicts,
        vec![
            (
                "dead.jsonl.lock".into(),
                Verdict::Stale(StaleReason::DeadPid)
            ),
            (
                "held.jsonl.lock".into(),
                Verdict::Live(LiveReason::HeldHere)
            ),
            (
                "live.jsonl.lock".into(),
                Verdict::Live(LiveReason::OwnerAlive)
            ),
            ("old.jsonl.lock".into(), Verdict::Stale(StaleReason::TooOld)),
        ]
    );

    let dry = a.clean_stale(fx.dir.path(), true).unwrap();
    assert_eq!(dry.removed.len(), 2);
    assert_eq!(dry.temp_files, vec![tmp.clone()]);
    assert_eq!(fx.files().len(), 6, "a dry run removes nothing");

    let done = a.clean_stale(fx.dir.path(), false).unwrap();
    assert_eq!(done.removed.len(), 2);
    assert_eq!(
        fx.files(),
        vec!["held.jsonl.lock", "live.jsonl.lock", "not-a-lock.txt"]
    );
}

// Typed errors: a missing directory is an Io error naming the path; a path with no file name is
// InvalidPath; neither panics.
#[test]
fn bad_paths_are_typed_errors() {
    let fx = Fixture::new();
    let a = fx.manager(10);
    match a.try_acquire(&fx.session("no-such-dir/s.jsonl")) {
        Err(LockError::Io { path, .. }) => assert!(path.to_string_lossy().contains("no-such-dir")),
        other => panic!("expected Io, got {other:?}"),
    }
    assert!(matches!(
        a.try_acquire(Path::new("/")),
        Err(LockError::InvalidPath { .. })
    ));
    assert!(matches!(
        a.inspect(&fx.dir.path().join("missing")),
        Err(LockError::Io { .. })
    ));
}

// P16, P12: a directory named like a lock is a named `not-regular` verdict, kept, and the sweep
// goes on past it; dot-named sessions' locks are swept like any other.
#[test]
fn sweep_goes_past_unreadable_entries_and_sees_dot_named_sessions() {
    let fx = Fixture::new();
    let a = fx.manager(10);
    std::fs::create_dir(fx.lock_file("weird.jsonl")).unwrap();
    fx.plant(".hidden.jsonl", &planted(41, None, Duration::from_secs(1)));
    fx.plant("z.jsonl", &planted(41, None, Duration::from_secs(1)));
    // A file named just `.lock` belongs to no session (a session needs a file name): not a lock.
    let bare = fx.dir.path().join(".lock");
    std::fs::write(&bare, planted(41, None, Duration::from_secs(1)).to_bytes()).unwrap();

    let inspection = a.inspect_all(fx.dir.path()).unwrap();
    let seen: Vec<String> = inspection
        .locks
        .iter()
        .map(|i| i.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        seen,
        vec![".hidden.jsonl.lock", "weird.jsonl.lock", "z.jsonl.lock"]
    );
    // P16: the directory is a named verdict, not an unreadable entry.
    assert_eq!(
        inspection.locks[1].verdict,
        Verdict::Live(LiveReason::NotRegular)
    );
    assert!(
        inspection.unreadable.is_empty(),
        "{:?}",
        inspection.unreadable
    );

    let report = a.clean_stale(fx.dir.path(), false).unwrap();
    assert_eq!(report.removed.len(), 2, "both dead-pid files removed");
    assert!(report.unreadable.is_empty());
    assert!(
        fx.lock_file("weird.jsonl").is_dir(),
        "the directory is left alone"
    );
}

// P1 plus fairness: waiters of one instance are served in arrival order, and a thread that
// releases cannot take the lock straight back past them (no barging).
#[test]
fn waiters_in_one_instance_are_served_in_arrival_order() {
    let fx = Fixture::new();
    let m = fx.manager(10);
    let exclusive = |ms: u64| AcquireOptions {
        reentrant: false,
        timeout: Some(Duration::from_millis(ms)),
    };
    let session = fx.session("s1.jsonl");
    let first = m.acquire_with(&session, exclusive(0)).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let mut threads = Vec::new();
    for (i, name) in ["w1", "w2"].into_iter().enumerate() {
        let (mw, s, tx) = (m.clone(), session.clone(), tx.clone());
        threads.push(std::thread::spawn(move || {
            let g = mw.acquire_with(&s, exclusive(30_000)).expect(name);
            tx.send(name).unwrap();
            drop(g);
        }));
        // The next waiter arrives only once this one is queued.
        assert!(
            eventually(|| m.queued(&session) == i + 1),
            "{name} is queued"
        );
    }
    drop(first);
    // The releasing thread asks again at once: it is served after the two queued waiters.
    let again = m.acquire_with(&session, exclusive(30_000)).unwrap();
    tx.send("releaser").unwrap();
    drop(again);
    // A waiter that failed sends nothing: a bounded wait names that instead of hanging.
    let order: Vec<&str> = (0..3)
        .map(|_| rx.recv_timeout(WATCHDOG).expect("every waiter is served"))
        .collect();
    assert_eq!(
        order,
        vec!["w1", "w2", "releaser"],
        "first come, first served; no barging"
    );
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(m.queued(&session), 0);
}

// P11 (issue #15: a release wakes its next owner, not the whole queue): with three threads of
// one instance queued for a lock, a change to another session notifies none of them, and a
// release notifies only the oldest; when it takes the lock and leaves the queue, the next is
// not notified (it may not re-enter, so it could only find the lock held). Counted by the
// notifier (`notified`), so a spurious wake-up can only lower the count. Interleaving: three
// waiters blocked ∥ an unrelated release ∥ the release.
#[test]
fn a_release_notifies_only_the_oldest_waiter_of_its_session() {
    let fx = Fixture::new();
    let policy = Policy {
        instance_recheck: RECHECK,
        ..Policy::default()
    };
    let m = fx.manager_with(10, policy);
    let (session, other) = (fx.session("s1.jsonl"), fx.session("other.jsonl"));
    let held = m.try_acquire(&session).unwrap();
    let (served_tx, served) = std::sync::mpsc::channel();
    let mut waiters = Vec::new();
    for (i, name) in ["w1", "w2", "w3"].into_iter().enumerate() {
        let (mw, s, served_tx) = (m.clone(), session.clone(), served_tx.clone());
        let (go_tx, go) = std::sync::mpsc::channel::<()>();
        let wait = AcquireOptions {
            reentrant: false,
            timeout: Some(3 * WATCHDOG),
        };
        let t = std::thread::spawn(move || {
            let g = mw.acquire_with(&s, wait).expect(name);
            served_tx.send(name).unwrap();
            go.recv_timeout(WATCHDOG).expect("told to release");
            drop(g);
        });
        waiters.push((t, go_tx));
        assert!(
            eventually(|| m.queued(&session) == i + 1 && m.instance_waits().blocked_now == i + 1),
            "{name} is queued and blocked: {:?}",
            m.instance_waits()
        );
    }
    let before = m.instance_waits().notified;
    drop(m.try_acquire(&other).unwrap());
    assert_eq!(
        m.instance_waits().notified,
        before,
        "taking and releasing another session notifies none of s1's waiters"
    );
    drop(held);
    assert_eq!(
        served.recv_timeout(WATCHDOG),
        Ok("w1"),
        "the oldest is served"
    );
    assert!(
        eventually(|| m.instance_waits().blocked_now == 2),
        "w2 and w3 wait on: {:?}",
        m.instance_waits()
    );
    let sent = m.instance_waits().notified - before;
    assert!(
        sent <= 1,
        "the release notified w1, nobody else: {sent} notifications"
    );
    for (want, (t, go)) in ["w2", "w3"]
        .into_iter()
        .map(Some)
        .chain([None])
        .zip(waiters)
    {
        go.send(()).unwrap();
        t.join().unwrap();
        if let Some(want) = want {
            assert_eq!(served.recv_timeout(WATCHDOG), Ok(want), "arrival order");
        }
    }
    let waits = m.instance_waits();
    assert!(
        waits.blocked_now == 0 && waits.timed_out == 0,
        "every wait ended by a notification, none by its {RECHECK:?} bound: {waits:?}"
    );
}

/// A manager (pid 10, recheck bound [`RECHECK`]) and `s1.jsonl`, which another live process
/// (pid 11) holds.
fn held_by_another_process(
    fx: &Fixture,
) -> (LockManager<TestEnv>, PathBuf, lockcore::LockGuard<TestEnv>) {
    let policy = Policy {
        instance_recheck: RECHECK,
        ..Policy::default()
    };
    let m = fx.manager_with(10, policy);
    fx.set(11, Liveness::Alive);
    let session = fx.session("s1.jsonl");
    let held = fx.manager(11).try_acquire(&session).unwrap();
    (m, session, held)
}

// P11 (issue #15: a waiter that gives up does not strand the one behind it): two threads of
// one instance queue for a lock another process holds; the oldest times out, and its leaving
// the queue notifies the next, which goes on to watch the file itself — not after its recheck
// bound (longer than the watchdog here). Interleaving: the front waiter's timeout ∥ a waiter
// blocked behind it.
#[test]
fn a_waiter_that_gives_up_notifies_the_next_in_the_queue() {
    let fx = Fixture::new();
    let (m, session, held) = held_by_another_process(&fx);
    let waiting = |mw: &LockManager<TestEnv>, timeout| {
        let (mw, s) = (mw.clone(), session.clone());
        let wait = AcquireOptions {
            reentrant: false,
            timeout: Some(timeout),
        };
        std::thread::spawn(move || mw.acquire_with(&s, wait).map(|g| g.how()))
    };
    // Long enough for the second to queue behind it first (checked below).
    let first = waiting(&m, Duration::from_secs(5));
    assert!(eventually(|| m.queued(&session) == 1), "the first queues");
    let second = waiting(&m, 3 * WATCHDOG);
    assert!(
        eventually(|| m.queued(&session) == 2 && m.instance_waits().blocked_now == 1),
        "the second queues behind the first and blocks: {:?}",
        m.instance_waits()
    );
    assert!(
        first.join().unwrap().is_err_and(|e| e.is_busy()),
        "the first gives up"
    );
    assert!(
        eventually(|| m.instance_waits().blocked_now == 0),
        "the second was notified and watches the file now: {:?}",
        m.instance_waits()
    );
    assert_eq!(m.queued(&session), 1);
    drop(held);
    assert_eq!(second.join().unwrap().unwrap(), Acquired::Fresh);
    assert_eq!(m.instance_waits().timed_out, 0);
}

// P11 (a reentrant waiter is not left behind): a thread that may re-enter queues behind an
// exclusive waiter for a lock another process holds; when the exclusive one takes the lock,
// its leaving the queue notifies the reentrant one, which re-enters that hold at once instead
// of sleeping until it is released. Interleaving: the front waiter taking the lock ∥ a
// reentrant waiter blocked behind it.
#[test]
fn a_reentrant_waiter_behind_the_front_re_enters_once_the_front_holds() {
    let fx = Fixture::new();
    let (m, session, held) = held_by_another_process(&fx);
    let (tx, front_holds) = std::sync::mpsc::channel();
    let (go_tx, go) = std::sync::mpsc::channel::<()>();
    let (mf, s) = (m.clone(), session.clone());
    let front = std::thread::spawn(move || {
        let wait = AcquireOptions {
            reentrant: false,
            timeout: Some(3 * WATCHDOG),
        };
        let g = mf.acquire_with(&s, wait).expect("the front takes the lock");
        tx.send(()).unwrap();
        go.recv_timeout(3 * WATCHDOG).expect("told to release");
        drop(g);
    });
    assert!(eventually(|| m.queued(&session) == 1), "the front queues");
    let (mr, s) = (m.clone(), session.clone());
    let reentrant = std::thread::spawn(move || {
        let wait = AcquireOptions {
            reentrant: true,
            timeout: Some(3 * WATCHDOG),
        };
        mr.acquire_with(&s, wait).map(|g| g.how())
    });
    assert!(
        eventually(|| m.queued(&session) == 2 && m.instance_waits().blocked_now == 1),
        "the reentrant one queues behind and blocks: {:?}",
        m.instance_waits()
    );
    drop(held);
    front_holds
        .recv_timeout(WATCHDOG)
        .expect("the front is woken by the release");
    // The front still holds: only a notification lets the reentrant waiter in now (its
    // recheck bound is longer than the watchdog).
    assert!(
        eventually(|| m.queued(&session) == 0 && m.instance_waits().blocked_now == 0),
        "the reentrant waiter was notified and re-entered: {:?}",
        m.instance_waits()
    );
    let how = reentrant.join().unwrap();
    go_tx.send(()).unwrap();
    front.join().unwrap();
    assert_eq!(how.unwrap(), Acquired::Reentered);
    assert_eq!(m.instance_waits().timed_out, 0);
}

/// A manager with `recheck` as its instance recheck bound, holding `s1.jsonl`, and a thread of
/// it waiting (non-reentrant, at most 3 × [`WATCHDOG`]) to take the same lock.
fn held_with_a_waiter(
    fx: &Fixture,
    recheck: Duration,
) -> (
    LockManager<TestEnv>,
    lockcore::LockGuard<TestEnv>,
    std::thread::JoinHandle<Result<Acquired, LockError>>,
) {
    let policy = Policy {
        instance_recheck: recheck,
        ..Policy::default()
    };
    let m = fx.manager_with(10, policy);
    let session = fx.session("s1.jsonl");
    let held = m.try_acquire(&session).unwrap();
    let (mw, s) = (m.clone(), session);
    let waiter = std::thread::spawn(move || {
        let wait = AcquireOptions {
            reentrant: false,
            timeout: Some(3 * WATCHDOG),
        };
        mw.acquire_with(&s, wait).map(|g| g.how())
    });
    (m, held, waiter)
}

// P11 (issue #15: a waiter is woken by the release itself): a thread waiting for a hold of its
// own instance blocks on the condition variable (no spinning) and the release's notification
// wakes it — never its recheck bound (20 s here: a lost notification shows as a timed-out wait).
// Interleaving: the waiter blocked ∥ the holder's release.
#[test]
fn a_release_wakes_the_waiter_of_its_instance_by_notification() {
    let fx = Fixture::new();
    let (m, held, waiter) = held_with_a_waiter(&fx, RECHECK);
    assert!(
        eventually(|| m.instance_waits().blocked_now == 1),
        "the waiter blocks instead of spinning: {:?}",
        m.instance_waits()
    );
    assert_eq!(held.release().unwrap(), Released::Removed);
    assert_eq!(waiter.join().unwrap().unwrap(), Acquired::Fresh);
    // The waiter was blocked when the release came (a futex wait returns only when woken, when
    // it times out, or on a signal): the release notified it.
    let waits = m.instance_waits();
    assert!(
        waits.blocked_now == 0 && waits.woken >= 1 && waits.notified >= 1 && waits.timed_out == 0,
        "woken by the release, not by its {RECHECK:?} bound: {waits:?}"
    );
    assert_eq!(
        InstanceWaits::default(),
        fx.manager(11).instance_waits(),
        "a new instance has waited for nothing"
    );
}

// P11 (waits run on the caller's clock): on a virtual clock a thread waiting for a hold of its
// own instance sleeps through that clock, so its timeout passes in virtual time — it does not
// block on the real clock, where a virtual timeout would never come.
// Interleaving: a hold never released ∥ a waiter of the same instance running out its timeout.
#[test]
fn an_in_instance_wait_on_a_virtual_clock_times_out_in_virtual_time() {
    let fx = Fixture::new();
    let procs = Table {
        me: ProcessIdentity {
            pid: 10,
            host: Some("host-a".into()),
            start_time: Some(1),
        },
        others: fx.others.clone(),
    };
    let clock = VirtualClock::default();
    let m = LockManager::new(
        EnvParts {
            fs: OsFs,
            procs,
            clock,
        },
        Policy::default(),
    );
    let session = fx.session("s1.jsonl");
    let held = m.try_acquire(&session).unwrap();
    let (tx, done) = std::sync::mpsc::channel();
    let (mw, s) = (m.clone(), session.clone());
    std::thread::spawn(move || {
        let wait = AcquireOptions {
            reentrant: false,
            timeout: Some(Duration::from_secs(10)),
        };
        tx.send(mw.acquire_with(&s, wait).map(|g| g.how())).unwrap();
    });
    match done.recv_timeout(WATCHDOG).expect("the wait ends") {
        Err(LockError::Busy { waited, owner, .. }) => {
            assert!(waited >= Duration::from_secs(10), "{waited:?}");
            assert_eq!(owner, Owner::ThisInstance);
        }
        other => panic!("expected busy after 10 virtual seconds, got {other:?}"),
    }
    assert_eq!(
        m.instance_waits(),
        InstanceWaits::default(),
        "nothing blocked"
    );
    drop(held);
}

// P11 (what a lost wake-up would cost is counted): a waiter whose holder does not release runs
// out its recheck bound (1 ms here) again and again, each wait counted as timed out — the
// counter the tests above assert stays at zero when a release does wake its waiter.
#[test]
fn a_wait_that_runs_out_its_recheck_bound_is_counted_as_timed_out() {
    let fx = Fixture::new();
    let (m, held, waiter) = held_with_a_waiter(&fx, Duration::from_millis(1));
    assert!(
        eventually(|| m.instance_waits().timed_out >= 2),
        "{:?}",
        m.instance_waits()
    );
    drop(held);
    assert_eq!(waiter.join().unwrap().unwrap(), Acquired::Fresh);
    assert_eq!(m.instance_waits().blocked_now, 0);
}

/// The real file system, except that one operation on the lock of a session named `slow…` (its
/// link, or its unlink) stops until the test says go; after 30 s without it the call fails (a
/// lock that serialised the sessions fails the test instead of hanging it).
struct GatedFs {
    entered: Mutex<std::sync::mpsc::Sender<()>>,
    go: Mutex<std::sync::mpsc::Receiver<()>>,
    on: Gated,
}

#[derive(Clone, Copy, PartialEq)]
enum Gated {
    Link,
    Unlink,
}

impl GatedFs {
    /// Stops here if `path` is the gated lock and `op` the gated operation.
    fn gate(&self, op: Gated, path: &Path) -> std::io::Result<()> {
        let name = path.to_string_lossy();
        if op != self.on || !name.contains("slow") || !name.ends_with(".lock") {
            return Ok(());
        }
        let _ = self.entered.lock().unwrap().send(());
        let go = self
            .go
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(30));
        // Nobody said go: the test could not proceed while this call stalled.
        go.map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "gate"))
    }
}

/// A manager over a [`GatedFs`] on the real clock.
type GatedManager = LockManager<EnvParts<GatedFs, Table, OsClock>>;

/// A manager of pid 10 on the real clock over a [`GatedFs`], with the channels that say when
/// the gated call has started and let it go on.
fn gated_manager(
    fx: &Fixture,
    on: Gated,
) -> (
    GatedManager,
    std::sync::mpsc::Receiver<()>,
    std::sync::mpsc::Sender<()>,
) {
    let (entered_tx, entered) = std::sync::mpsc::channel();
    let (go, go_rx) = std::sync::mpsc::channel();
    let env = EnvParts {
        fs: GatedFs {
            entered: Mutex::new(entered_tx),
            go: Mutex::new(go_rx),
            on,
        },
        procs: Table {
            me: ProcessIdentity {
                pid: 10,
                host: Some("host-a".into()),
                start_time: Some(1),
            },
            others: fx.others.clone(),
        },
        clock: OsClock,
    };
    let policy = Policy {
        instance_recheck: RECHECK,
        ..Policy::default()
    };
    (LockManager::new(env, policy), entered, go)
}

impl lockcore::Fs for GatedFs {
    type DirLock = lockcore::os::OsDirLock;
    fn create_new(&self, path: &Path, contents: &[u8]) -> std::io::Result<()> {
        OsFs.create_new(path, contents)
    }
    fn write_existing(&self, path: &Path, contents: &[u8]) -> std::io::Result<()> {
        OsFs.write_existing(path, contents)
    }
    fn link(&self, src: &Path, dst: &Path) -> std::io::Result<()> {
        self.gate(Gated::Link, dst)?;
        OsFs.link(src, dst)
    }
    fn rename(&self, src: &Path, dst: &Path) -> std::io::Result<()> {
        OsFs.rename(src, dst)
    }
    fn read(&self, path: &Path, cap: usize) -> std::io::Result<Vec<u8>> {
        OsFs.read(path, cap)
    }
    fn remove(&self, path: &Path) -> std::io::Result<()> {
        self.gate(Gated::Unlink, path)?;
        OsFs.remove(path)
    }
    fn list(&self, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
        OsFs.list(dir)
    }
    fn metadata(&self, path: &Path) -> std::io::Result<lockcore::FileMeta> {
        OsFs.metadata(path)
    }
    fn touch(&self, path: &Path, expect: Option<&[u8]>) -> std::io::Result<bool> {
        OsFs.touch(path, expect)
    }
    fn canonical_dir(&self, dir: &Path) -> std::io::Result<PathBuf> {
        OsFs.canonical_dir(dir)
    }
    fn lock_dir(&self, dir: &Path) -> std::io::Result<Self::DirLock> {
        OsFs.lock_dir(dir)
    }
}

// P11 (issue #15): the registry lock is not held across file I/O — while one thread's publish of
// session `slow` is stalled inside the file system, another thread of the same instance acquires
// and releases session `fast` (and inspects the directory); then the stalled one completes.
#[test]
fn a_stalled_file_operation_on_one_session_blocks_no_other_session() {
    let fx = Fixture::new();
    let (m, entered, go) = gated_manager(&fx, Gated::Link);
    let (m2, slow) = (m.clone(), fx.session("slow.jsonl"));
    let stalled = std::thread::spawn(move || m2.try_acquire(&slow).map(|g| g.how()));
    entered
        .recv_timeout(Duration::from_secs(30))
        .expect("the slow publish started");
    let fast = m.try_acquire(&fx.session("fast.jsonl")).unwrap();
    assert_eq!(fast.how(), Acquired::Fresh);
    assert_eq!(fast.release().unwrap(), Released::Removed);
    assert_eq!(
        m.inspect(fx.dir.path()).unwrap().len(),
        0,
        "nothing published yet"
    );
    go.send(()).unwrap();
    assert_eq!(stalled.join().unwrap().unwrap(), Acquired::Fresh);
    assert!(
        m.held().is_empty() && fx.files().is_empty(),
        "{:?}",
        fx.files()
    );
}

// P11 (issue #15: no spinning): a try_acquire of a path whose publish by another thread of the
// instance is inside the file system blocks until that publish is done — woken by it, not by
// its recheck bound — and then re-enters the new hold.
// Interleaving: publish of `slow` stalled ∥ a try_acquire of the same path.
#[test]
fn a_try_acquire_waits_for_another_threads_publish_without_spinning() {
    let fx = Fixture::new();
    let (m, entered, go) = gated_manager(&fx, Gated::Link);
    let (m2, slow) = (m.clone(), fx.session("slow.jsonl"));
    let stalled = std::thread::spawn(move || m2.try_acquire(&slow));
    entered
        .recv_timeout(WATCHDOG)
        .expect("the slow publish started");
    let (m3, slow) = (m.clone(), fx.session("slow.jsonl"));
    let second = std::thread::spawn(move || m3.try_acquire(&slow).map(|g| g.how()));
    assert!(
        eventually(|| m.instance_waits().blocked_now == 1),
        "the try_acquire blocks: {:?}",
        m.instance_waits()
    );
    go.send(()).unwrap();
    let first = stalled.join().unwrap().expect("the publish completes");
    assert_eq!(second.join().unwrap().unwrap(), Acquired::Reentered);
    let waits = m.instance_waits();
    assert!(
        waits.blocked_now == 0 && waits.woken >= 1 && waits.timed_out == 0,
        "woken by the publish: {waits:?}"
    );
    drop(first);
}

// P3/P4 (the release_all gate, on the real clock): a release_all that starts while an
// acquisition of this instance is inside the file system closes the gate, waits on the
// registry's condition variable until that acquisition has registered, then releases it too.
// Interleaving: publish of `slow` stalled ∥ release_all waiting ∥ a newcomer turned away.
#[test]
fn release_all_waits_for_an_acquisition_in_progress_on_the_real_clock() {
    let fx = Fixture::new();
    let (m, entered, go) = gated_manager(&fx, Gated::Link);
    let (m2, slow) = (m.clone(), fx.session("slow.jsonl"));
    let stalled = std::thread::spawn(move || m2.try_acquire(&slow));
    entered
        .recv_timeout(Duration::from_secs(30))
        .expect("the slow publish started");
    let old_nonce = m.nonce();
    let m3 = m.clone();
    let closer = std::thread::spawn(move || m3.release_all());
    // Once a newcomer is turned away, release_all has closed the gate, and (holding the
    // registry lock from there) has gone to wait for the stalled publish. Each look takes and
    // releases `fast` or is turned away.
    let fast = fx.session("fast.jsonl");
    let turned_away = eventually(|| match m.try_acquire(&fast) {
        Ok(g) => {
            drop(g);
            false
        }
        Err(e) => {
            assert!(e.is_busy(), "{e}");
            true
        }
    });
    assert!(turned_away, "release_all closed the gate");
    assert!(
        eventually(|| m.instance_waits().blocked_now == 1),
        "release_all blocks on the condition variable: {:?}",
        m.instance_waits()
    );
    go.send(()).unwrap();
    let guard = stalled
        .join()
        .unwrap()
        .expect("the stalled publish completes");
    let report = closer.join().expect("release_all does not panic");
    assert_eq!(
        report.released,
        vec![guard.lock_path().to_path_buf()],
        "the acquisition in progress is in the snapshot"
    );
    assert!(!guard.is_held(), "its guard is revoked");
    assert_ne!(report.new_nonce, old_nonce);
    assert_eq!(m.nonce(), report.new_nonce);
    assert!(fx.files().is_empty(), "{:?}", fx.files());
    let waits = m.instance_waits();
    assert!(
        waits.blocked_now == 0 && waits.woken >= 1 && waits.timed_out == 0,
        "the registration woke release_all, not its {RECHECK:?} bound: {waits:?}"
    );
}

// P4/P5 (a guard of release_all's snapshot counts as held until its own file starts going, and
// never after): release_all of `a-slow` and `b` is stalled inside the unlink of `a-slow`'s file.
// Interleaving: release_all between its first removal and its second ∥ the guards' owner asking.
#[test]
fn a_guard_taken_by_release_all_is_held_until_its_own_file_starts_going() {
    let fx = Fixture::new();
    let (m, entered, go) = gated_manager(&fx, Gated::Unlink);
    let first = m.try_acquire(&fx.session("a-slow.jsonl")).unwrap();
    let second = m.try_acquire(&fx.session("b.jsonl")).unwrap();
    let m2 = m.clone();
    let closer = std::thread::spawn(move || m2.release_all());
    entered
        .recv_timeout(Duration::from_secs(30))
        .expect("release_all started removing a-slow's file");
    assert!(!first.is_held(), "its file is going: no longer held");
    assert!(second.is_held(), "not yet touched: still held");
    go.send(()).unwrap();
    let report = closer.join().expect("release_all does not panic");
    assert_eq!(report.released.len(), 2, "{report:?}");
    assert!(!first.is_held() && !second.is_held());
    assert!(fx.files().is_empty(), "{:?}", fx.files());
}

// Debug output names the lock path and how it was taken (what a log line needs).
#[test]
fn a_guards_debug_output_names_its_lock() {
    let fx = Fixture::new();
    let m = fx.manager(10);
    let g = m.try_acquire(&fx.session("s1.jsonl")).unwrap();
    let text = format!("{g:?}");
    assert!(
        text.contains("s1.jsonl.lock") && text.contains("Fresh"),
        "{text}"
    );
}
