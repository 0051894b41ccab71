//! A file system whose link or unlink of one session's lock stops until the test says go: to
//! show what runs, and what waits, while another thread is inside a file operation; and the
//! hook underneath it, which other tests use to change the directory at one exact step.

use super::*;

/// The real file system, with a hook that runs before every link (on its destination) and
/// every unlink, and may fail the call: to stall a file operation, or to change the directory
/// at the exact step a test needs.
pub(crate) struct HookedFs {
    before: Box<Hook>,
}

/// What runs before a link or unlink: an error fails the call.
type Hook = dyn Fn(Gated, &Path) -> std::io::Result<()> + Send + Sync;

#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Gated {
    Link,
    Unlink,
}

impl HookedFs {
    pub(crate) fn new(
        before: impl Fn(Gated, &Path) -> std::io::Result<()> + Send + Sync + 'static,
    ) -> Self {
        HookedFs {
            before: Box::new(before),
        }
    }
}

/// A [`HookedFs`] whose link or unlink (`on`) of the lock of a session named `slow…` stops
/// until the test says go; after 30 s without it the call fails (a lock that serialised the
/// sessions fails the test instead of hanging it).
pub(crate) type GatedFs = HookedFs;

/// The gate: stops if `path` is the gated lock and `op` the gated operation.
fn gate(
    on: Gated,
    entered: std::sync::mpsc::Sender<()>,
    go: std::sync::mpsc::Receiver<()>,
) -> GatedFs {
    let (entered, go) = (Mutex::new(entered), Mutex::new(go));
    HookedFs::new(move |op, path| {
        let name = path.to_string_lossy();
        if op != on || !name.contains("slow") || !name.ends_with(".lock") {
            return Ok(());
        }
        let _ = entered.lock().unwrap().send(());
        let go = go.lock().unwrap().recv_timeout(Duration::from_secs(30));
        // Nobody said go: the test could not proceed while this call stalled.
        go.map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "gate"))
    })
}

/// A manager over a [`GatedFs`] on the real clock.
pub(crate) type GatedManager = LockManager<EnvParts<GatedFs, Table, OsClock>>;

/// What a stalled acquisition's thread returns.
pub(crate) type Stalled = std::thread::JoinHandle<
    Result<lockcore::LockGuard<EnvParts<GatedFs, Table, OsClock>>, LockError>,
>;

/// A gated manager (links stop) and a thread of it whose `try_acquire` of `slow.jsonl` is
/// stalled inside its publish — checked, within the watchdog — until `go` is sent.
pub(crate) fn stalled_publish(
    fx: &Fixture,
) -> (GatedManager, Stalled, std::sync::mpsc::Sender<()>) {
    let (m, entered, go) = gated_manager(fx, Gated::Link);
    let (m2, slow) = (m.clone(), fx.session("slow.jsonl"));
    let stalled = std::thread::spawn(move || m2.try_acquire(&slow));
    entered
        .recv_timeout(WATCHDOG)
        .expect("the slow publish started");
    (m, stalled, go)
}

/// A manager of pid 10 on the real clock over a [`GatedFs`], with the channels that say when
/// the gated call has started and let it go on.
pub(crate) fn gated_manager(
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
        fs: gate(on, entered_tx, go_rx),
        procs: fx.procs(10),
        clock: OsClock,
    };
    let policy = Policy {
        instance_recheck: RECHECK,
        ..Policy::default()
    };
    (LockManager::new(env, policy), entered, go)
}

impl lockcore::Fs for HookedFs {
    type DirLock = lockcore::os::OsDirLock;
    fn create_new(&self, path: &Path, contents: &[u8]) -> std::io::Result<()> {
        OsFs.create_new(path, contents)
    }
    fn write_existing(&self, path: &Path, contents: &[u8]) -> std::io::Result<()> {
        OsFs.write_existing(path, contents)
    }
    fn link(&self, src: &Path, dst: &Path) -> std::io::Result<()> {
        (self.before)(Gated::Link, dst)?;
        OsFs.link(src, dst)
    }
    fn rename(&self, src: &Path, dst: &Path) -> std::io::Result<()> {
        OsFs.rename(src, dst)
    }
    fn read(&self, path: &Path, cap: usize) -> std::io::Result<Vec<u8>> {
        OsFs.read(path, cap)
    }
    fn remove(&self, path: &Path) -> std::io::Result<()> {
        (self.before)(Gated::Unlink, path)?;
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
