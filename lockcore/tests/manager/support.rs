//! What every manager test stands on: a scripted process table, a virtual clock, a fixture
//! directory with planted lock files, and the watchdog that turns a hang into a failure.

use super::*;

/// A process table: our identity plus a scripted liveness per other pid (unknown pids are dead).
#[derive(Clone)]
pub(crate) struct Table {
    pub(crate) me: ProcessIdentity,
    pub(crate) others: Arc<Mutex<BTreeMap<u32, Liveness>>>,
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

pub(crate) type TestEnv = EnvParts<OsFs, Table, OsClock>;

/// A virtual clock: `sleep` advances it, so waiting costs no real time. A wait that never
/// sleeps would spin here forever; reading the clock [`SPIN_BUDGET`] times without time passing
/// is that liveness failure, named (P11), instead of a hang.
#[derive(Default)]
pub(crate) struct VirtualClock {
    /// Nanoseconds since start, and reads since it last moved.
    pub(crate) state: Mutex<(u128, u64)>,
    /// The wall clock's reading at the start, moving with the virtual time; `None`: the real
    /// wall clock (which does not move with sleeps).
    pub(crate) wall_start_ms: Option<i64>,
}

/// Reads of a [`VirtualClock`] with no time passing that no healthy test comes near: each look
/// of a waiting acquisition reads it a few times and sleeps between looks, and the tests that
/// use it make a handful of acquisitions.
pub(crate) const SPIN_BUDGET: u64 = 20_000;

impl lockcore::Clock for VirtualClock {
    fn now_wall_ms(&self) -> i64 {
        match self.wall_start_ms {
            Some(start) => start + (self.state.lock().unwrap().0 / 1_000_000) as i64,
            None => now_ms(),
        }
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

pub(crate) struct Fixture {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) others: Arc<Mutex<BTreeMap<u32, Liveness>>>,
}

impl Fixture {
    pub(crate) fn new() -> Self {
        Fixture {
            dir: tempfile::tempdir().unwrap(),
            others: Arc::default(),
        }
    }
    pub(crate) fn manager(&self, pid: u32) -> LockManager<TestEnv> {
        self.manager_with(pid, Policy::default())
    }
    pub(crate) fn manager_with(&self, pid: u32, policy: Policy) -> LockManager<TestEnv> {
        self.others.lock().unwrap().insert(pid, Liveness::Alive);
        let env = EnvParts {
            fs: OsFs,
            procs: self.procs(pid),
            clock: OsClock,
        };
        LockManager::new(env, policy)
    }
    /// A manager of `pid` on a [`VirtualClock`] (its liveness left as scripted).
    pub(crate) fn virtual_manager(
        &self,
        pid: u32,
    ) -> LockManager<EnvParts<OsFs, Table, VirtualClock>> {
        self.virtual_manager_with(pid, Policy::default(), None)
    }
    /// [`Fixture::virtual_manager`] with `policy`, its wall clock starting at `wall_start_ms`
    /// and moving with its virtual time when given.
    pub(crate) fn virtual_manager_with(
        &self,
        pid: u32,
        policy: Policy,
        wall_start_ms: Option<i64>,
    ) -> LockManager<EnvParts<OsFs, Table, VirtualClock>> {
        let env = EnvParts {
            fs: OsFs,
            procs: self.procs(pid),
            clock: VirtualClock {
                wall_start_ms,
                ..VirtualClock::default()
            },
        };
        LockManager::new(env, policy)
    }
    /// The process table as `pid` (host `host-a`) sees it.
    pub(crate) fn procs(&self, pid: u32) -> Table {
        Table {
            me: ProcessIdentity {
                pid,
                host: Some("host-a".into()),
                start_time: Some(1),
            },
            others: self.others.clone(),
        }
    }
    pub(crate) fn set(&self, pid: u32, l: Liveness) {
        self.others.lock().unwrap().insert(pid, l);
    }
    pub(crate) fn session(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    pub(crate) fn lock_file(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.lock"))
    }
    pub(crate) fn plant(&self, name: &str, payload: &Payload) {
        std::fs::write(self.lock_file(name), payload.to_bytes()).unwrap();
    }
    pub(crate) fn files(&self) -> Vec<String> {
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
pub(crate) fn eventually(mut cond: impl FnMut() -> bool) -> bool {
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
pub(crate) const WATCHDOG: Duration = Duration::from_secs(20);

/// A recheck bound no healthy wait in these tests comes near: a wait that runs it out was not
/// woken by the notification it waited for. Longer than [`WATCHDOG`], so that a lost
/// notification fails the watchdog's look instead of being rescued by the bound.
pub(crate) const RECHECK: Duration = Duration::from_secs(60);

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A file written in our pid namespace (host `host-a`, as the fixture's managers have), so the
/// scripted process table decides; host-less files fail closed (P14, tested in `classify`).
pub(crate) fn planted(pid: u32, nonce: Option<&str>, age: Duration) -> Payload {
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

pub(crate) fn on_disk(path: &Path) -> Payload {
    Payload::parse(&std::fs::read(path).unwrap()).unwrap()
}

pub(crate) fn set_mtime_ago(path: &Path, ago: Duration) {
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(SystemTime::now() - ago).unwrap();
}
