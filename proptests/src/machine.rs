//! The reference state machine (proptest-state-machine): a small world of four processes —
//! `h1:1`, `h1:2`, `h1:3` and `h2:1` (a second container that is also pid 1) — sharing one lock
//! directory with three sessions. Transitions are generated from the current model state (only
//! live processes acquire, only live guards are released, only dead pids are reused), resolved
//! against the model into a concrete [`Op`], and applied to [`Model`].

use lockcore::FileKind;
use models::reference::{lock_path_of, Content, Model, Op, ProcKey, StepResult};
use proptest::prelude::*;
use proptest::strategy::Union;
use proptest_state_machine::ReferenceStateMachine;
use std::fmt;
use std::path::{Path, PathBuf};

/// The model's lock directory; the system under test maps it to its temp directory.
pub const DIR: &str = "/d";
/// Sessions `s0.jsonl` … `s2.jsonl`.
pub const SESSIONS: usize = 3;
/// The process slots: host and pid.
pub const PROCS: [(&str, u32); 4] = [("h1", 1), ("h1", 2), ("h1", 3), ("h2", 1)];
/// A pid no process ever has.
pub const DEAD_PID: u32 = 77;
/// A symlinked directory resolving to [`DIR`]: sessions spelled through it are one lock.
pub const ALIAS: &str = "/a";
/// A regular file in [`DIR`] that symlinks point to; it must never change (P16).
pub const VICTIM: &str = "/d/victim.data";

const SEC: i64 = 1000;
const MIN: i64 = 60 * SEC;
const HOUR: i64 = 60 * MIN;

/// The process in slot `i`.
pub fn proc_key(i: usize) -> ProcKey {
    let (host, pid) = PROCS[i % PROCS.len()];
    ProcKey::new(host, pid)
}

/// The slot of a process.
pub fn slot_of(p: &ProcKey) -> Option<usize> {
    PROCS
        .iter()
        .position(|(h, pid)| *h == p.host && *pid == p.pid)
}

/// Session file `i` in the model directory.
pub fn session(i: usize) -> PathBuf {
    Path::new(DIR).join(format!("s{i}.jsonl"))
}

/// How a malformed file is malformed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MalformedKind {
    /// Zero bytes (a writer between create and write).
    Empty,
    /// A valid payload cut short.
    Partial,
    /// Not JSON.
    Garbage,
    /// Larger than the payload cap.
    Huge,
    /// Not UTF-8.
    NotUtf8,
}

impl MalformedKind {
    /// Coverage label.
    pub fn label(self) -> &'static str {
        match self {
            MalformedKind::Empty => "plant-malformed-empty",
            MalformedKind::Partial => "plant-malformed-partial",
            MalformedKind::Garbage => "plant-malformed-garbage",
            MalformedKind::Huge => "plant-malformed-huge",
            MalformedKind::NotUtf8 => "plant-malformed-not-utf8",
        }
    }

    /// The bytes, varied by `seed`.
    pub fn bytes(self, seed: u8) -> Vec<u8> {
        let valid = format!(
            "{{\n  \"pid\": {},\n  \"createdAt\": \"2026-11-27T00:00:00.000Z\"\n}}",
            u32::from(seed) + 1
        );
        match self {
            MalformedKind::Empty => Vec::new(),
            MalformedKind::Partial => {
                // Any strict prefix of a JSON object lacks its closing brace.
                let cut = 1 + usize::from(seed) % (valid.len() - 1);
                valid.as_bytes()[..cut].to_vec()
            }
            MalformedKind::Garbage => format!("garbage {seed} \u{1}").into_bytes(),
            MalformedKind::Huge => {
                let pad = "x".repeat(lockcore::payload::MAX_PAYLOAD_BYTES + usize::from(seed));
                format!(
                    "{{\"pid\": 5, \"createdAt\": \"2026-11-27T00:00:00.000Z\", \"pad\": \"{pad}\"}}"
                )
                .into_bytes()
            }
            MalformedKind::NotUtf8 => vec![0xff, 0xfe, seed, b'{', b'}'],
        }
    }
}

/// What a hostile plant puts at a lock path (P16). Devices are left to the simulator's tests:
/// `mknod` needs CAP_MKNOD, which a developer's run may lack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostileKind {
    /// A named pipe (`mkfifo`).
    Fifo,
    /// A Unix socket nobody accepts on.
    Socket,
    /// An empty directory.
    Directory,
    /// A symlink to [`VICTIM`].
    LinkToFile,
    /// A symlink to nothing.
    LinkDangling,
    /// A symlink to itself (`ELOOP`).
    LinkLoop,
}

impl HostileKind {
    /// Coverage label.
    pub fn label(self) -> &'static str {
        match self {
            HostileKind::Fifo => "plant-fifo",
            HostileKind::Socket => "plant-socket",
            HostileKind::Directory => "plant-directory",
            HostileKind::LinkToFile => "plant-symlink-to-file",
            HostileKind::LinkDangling => "plant-symlink-dangling",
            HostileKind::LinkLoop => "plant-symlink-loop",
        }
    }

    /// The model content planted at `lock`.
    pub fn content(self, lock: &Path) -> Content {
        let link = |t: &Path| Content::NotRegular {
            kind: FileKind::Symlink,
            target: Some(t.to_path_buf()),
        };
        let special = |kind| Content::NotRegular { kind, target: None };
        match self {
            HostileKind::Fifo => special(FileKind::Fifo),
            HostileKind::Socket => special(FileKind::Socket),
            HostileKind::Directory => special(FileKind::Directory),
            HostileKind::LinkToFile => link(Path::new(VICTIM)),
            HostileKind::LinkDangling => link(&Path::new(DIR).join("missing.target")),
            HostileKind::LinkLoop => link(lock),
        }
    }
}

/// Whose pid a planted payload names, from the viewer's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PidChoice {
    /// The viewer's own pid.
    Own,
    /// The pid of the process in this slot (on the viewer's host).
    Slot(usize),
    /// A pid nobody has.
    Dead,
}

/// The planted payload's nonce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NonceChoice {
    /// None (legacy shapes).
    Absent,
    /// The current nonce of the live instance with that pid on the viewer's host.
    Current,
    /// Some other nonce.
    Other(u8),
}

/// The planted payload's host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostChoice {
    /// The viewer's host.
    Same,
    /// Another host.
    Other,
    /// No host recorded.
    Absent,
}

/// The planted payload's `starttime`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartChoice {
    /// Not recorded.
    Absent,
    /// The actual start time of the pid's process (if it runs).
    Actual,
    /// A start time no process has.
    Different,
}

/// A planted payload, relative to a viewer process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PayloadSpec {
    /// The process whose point of view names "own pid", "current nonce".
    pub viewer: usize,
    /// Pid.
    pub pid: PidChoice,
    /// Nonce.
    pub nonce: NonceChoice,
    /// Host.
    pub host: HostChoice,
    /// Start time.
    pub starttime: StartChoice,
    /// `createdAt` relative to now (negative: in the past).
    pub created_offset_ms: i64,
    /// Carries a token.
    pub token: bool,
    /// Declares a lease (`leaseMs`, maybe `maxHoldMs`).
    pub lease: LeaseChoice,
}

/// The planted payload's lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseChoice {
    /// No lease.
    Absent,
    /// `leaseMs` 30 s.
    Lease,
    /// `leaseMs` 30 s and `maxHoldMs` 1 h.
    LeaseMaxHold,
}

/// One generated transition (resolved against the model into an [`Op`] when applied).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transition {
    /// `try_acquire` of a session.
    Acquire {
        /// Process slot.
        proc: usize,
        /// Session index.
        session: usize,
        /// Reentrant.
        reentrant: bool,
    },
    /// `try_acquire` of a session spelled through the aliased directory [`ALIAS`].
    AcquireViaAlias {
        /// Process slot.
        proc: usize,
        /// Session index.
        session: usize,
        /// Reentrant.
        reentrant: bool,
    },
    /// Plant a FIFO, socket, directory or symlink at a free lock path (P16).
    PlantHostile {
        /// Session index.
        session: usize,
        /// What.
        kind: HostileKind,
        /// Mtime age of the entry itself.
        mtime_age_ms: i64,
    },
    /// `clean --remove-non-regular` of the directory.
    CleanNonRegular(usize),
    /// Release a live guard (model guard id).
    Release(u64),
    /// `release_all`.
    ReleaseAll(usize),
    /// In-place restart (= `release_all`).
    RestartInPlace(usize),
    /// The process dies; its files stay.
    Crash(usize),
    /// Exec-restart with the same pid: a fresh instance.
    ExecRestart(usize),
    /// An unrelated process reuses a dead pid.
    ReusePid(usize),
    /// The probe of a process answers EPERM (or stops doing so).
    SetEperm(usize, bool),
    /// Plant a payload at a free lock path.
    PlantPayload {
        /// Session index.
        session: usize,
        /// The payload.
        spec: PayloadSpec,
        /// Mtime age (negative: in the future).
        mtime_age_ms: i64,
    },
    /// Plant malformed bytes at a free lock path.
    PlantMalformed {
        /// Session index.
        session: usize,
        /// Which kind.
        kind: MalformedKind,
        /// Variation.
        seed: u8,
        /// Mtime age.
        mtime_age_ms: i64,
    },
    /// Another writer replaces an existing lock file (a new file renamed over it).
    Replace {
        /// Session index.
        session: usize,
        /// The new payload.
        spec: PayloadSpec,
        /// Mtime age.
        mtime_age_ms: i64,
    },
    /// Copy an existing lock file, bytes and all (token included), to another session's free
    /// lock path: the same acquisition seen under a second name.
    Copy {
        /// Source session.
        from: usize,
        /// Target session.
        to: usize,
    },
    /// Plant a publish temp file (its publisher may be dead, alive, or unreadable).
    PlantTemp {
        /// Session index.
        session: usize,
        /// Publisher pid: 0 → a dead pid, 1..=3 → that pid, else unreadable.
        publisher: u8,
        /// Mtime age.
        mtime_age_ms: i64,
    },
    /// Set an existing lock file's mtime to `age` ago.
    AgeMtime {
        /// Session index.
        session: usize,
        /// Age.
        age_ms: i64,
    },
    /// Advance the virtual clock.
    Advance(i64),
    /// `clean_stale` of the directory.
    CleanStale(usize),
    /// `inspect` of the directory.
    Inspect(usize),
    /// The process's manager switches to a manual heartbeat: its new locks declare a lease.
    UseManualHeartbeat(usize),
    /// One heartbeat round (`refresh`); a stopped process's heartbeat does not run.
    Refresh(usize),
    /// SIGSTOP.
    Stop(usize),
    /// SIGCONT.
    Cont(usize),
    /// A peer (slot of [`crate::namespaces::PEERS`]) takes a free lock path with a host-less
    /// file of a historic shape.
    PeerAcquire {
        /// Peer slot.
        peer: usize,
        /// Session index.
        session: usize,
        /// Shape.
        shape: models::reference::PeerShape,
    },
    /// The peer releases a lock it holds (removes the file only if still its own).
    PeerRelease {
        /// Peer slot.
        peer: usize,
        /// Session index.
        session: usize,
    },
    /// Every process of a namespace ([`crate::namespaces::NAMESPACES`]) dies.
    KillNamespace(usize),
    /// A dead namespace's id is taken by a new namespace; its lockcore processes start afresh.
    RestartNamespace(usize),
}

/// The machine's boot, an hour before the virtual clock starts: a host-less file whose mtime
/// is older is `before-boot`.
pub const BOOT_BEFORE_START_MS: i64 = HOUR;

/// The reference state: the model plus what the last transition resolved to and produced.
#[derive(Clone)]
pub struct RefState {
    /// The model.
    pub model: Model,
    /// The last transition as a concrete operation.
    pub last_op: Option<Op>,
    /// What the model says it produced.
    pub last: Option<StepResult>,
    /// Coverage labels of the last transition.
    pub labels: Vec<&'static str>,
}

impl fmt::Debug for RefState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "RefState({} processes, {} files)",
            self.model.procs.len(),
            self.model.files.len()
        )
    }
}

impl RefState {
    /// The initial world: every process slot spawned, in slot order; the model records its
    /// trace (for readable counterexamples).
    pub fn initial() -> Self {
        Self::with_trace(true)
    }

    /// The initial world, with or without the model's trace (off while hunting: a failing
    /// history is replayed with it on).
    pub fn with_trace(record: bool) -> Self {
        let mut model = Model::new(lockcore::Policy::default());
        model.record = record;
        model.boot_ms = Some(model.now_ms - BOOT_BEFORE_START_MS);
        for i in 0..PROCS.len() {
            model.step(&Op::Spawn(proc_key(i)));
        }
        model.step(&Op::AliasDir(PathBuf::from(ALIAS), PathBuf::from(DIR)));
        model.step(&Op::Plant {
            path: PathBuf::from(VICTIM),
            content: Content::Malformed(b"precious, never to be written through a link".to_vec()),
            mtime_ms: model.now_ms,
        });
        RefState {
            model,
            last_op: None,
            last: None,
            labels: Vec::new(),
        }
    }
}

/// The process can run an operation: alive and not stopped.
fn alive(m: &Model, i: usize) -> bool {
    crate::namespaces::running(m, i)
}

fn lock_of(i: usize) -> PathBuf {
    lock_path_of(&session(i))
}

/// A regular file (not a hostile entry) sits at session `i`'s lock path.
fn regular(m: &Model, i: usize) -> bool {
    m.files
        .get(&lock_of(i))
        .is_some_and(|f| !matches!(f.content, Content::NotRegular { .. }))
}

/// Resolves a transition against the model state into an operation and its coverage labels.
pub fn resolve(m: &Model, t: &Transition) -> (Op, Vec<&'static str>) {
    let now = m.now_ms;
    match t {
        Transition::UseManualHeartbeat(_)
        | Transition::Refresh(_)
        | Transition::Stop(_)
        | Transition::Cont(_)
        | Transition::PeerAcquire { .. }
        | Transition::PeerRelease { .. }
        | Transition::KillNamespace(_)
        | Transition::RestartNamespace(_) => {
            crate::namespaces::resolve(t).unwrap_or_else(|| (Op::Advance(0), Vec::new()))
        }
        Transition::Acquire {
            proc,
            session: s,
            reentrant,
        } => (
            Op::Acquire {
                proc: proc_key(*proc),
                session: session(*s),
                reentrant: *reentrant,
            },
            vec![if *reentrant {
                "acquire-reentrant"
            } else {
                "acquire-non-reentrant"
            }],
        ),
        Transition::AcquireViaAlias {
            proc,
            session: s,
            reentrant,
        } => (
            Op::Acquire {
                proc: proc_key(*proc),
                session: Path::new(ALIAS).join(format!("s{s}.jsonl")),
                reentrant: *reentrant,
            },
            vec!["acquire-via-alias"],
        ),
        Transition::PlantHostile {
            session: s,
            kind,
            mtime_age_ms,
        } => (
            Op::Plant {
                path: lock_of(*s),
                content: kind.content(&lock_of(*s)),
                mtime_ms: now - mtime_age_ms,
            },
            vec![kind.label()],
        ),
        Transition::CleanNonRegular(p) => (
            Op::CleanNonRegular(proc_key(*p), PathBuf::from(DIR)),
            vec!["clean-non-regular"],
        ),
        Transition::Release(g) => (Op::Release(*g), vec!["release"]),
        Transition::ReleaseAll(p) => (Op::ReleaseAll(proc_key(*p)), vec!["release-all"]),
        Transition::RestartInPlace(p) => {
            (Op::RestartInPlace(proc_key(*p)), vec!["restart-in-place"])
        }
        Transition::Crash(p) => (Op::Crash(proc_key(*p)), vec!["crash"]),
        Transition::ExecRestart(p) => (Op::ExecRestart(proc_key(*p)), vec!["exec-restart"]),
        Transition::ReusePid(p) => (Op::ReusePid(proc_key(*p)), vec!["reuse-pid"]),
        Transition::SetEperm(p, on) => (Op::SetEperm(proc_key(*p), *on), vec!["set-eperm"]),
        Transition::PlantPayload {
            session: s,
            spec,
            mtime_age_ms,
        } => {
            let (payload, labels) = resolve_payload(m, spec);
            (
                Op::Plant {
                    path: lock_of(*s),
                    content: Content::Payload(payload),
                    mtime_ms: now - mtime_age_ms,
                },
                labels,
            )
        }
        Transition::Replace {
            session: s,
            spec,
            mtime_age_ms,
        } => {
            let (payload, _) = resolve_payload(m, spec);
            (
                Op::Plant {
                    path: lock_of(*s),
                    content: Content::Payload(payload),
                    mtime_ms: now - mtime_age_ms,
                },
                vec!["replace-file"],
            )
        }
        Transition::Copy { from, to } => {
            let source = m.files.get(&lock_of(*from));
            let label = match source.map(|f| &f.origin) {
                Some(models::reference::Origin::Lockcore { .. }) => "copy-lockcore-file",
                _ => "copy-planted-file",
            };
            (
                Op::Plant {
                    path: lock_of(*to),
                    content: source
                        .map(|f| f.content.clone())
                        .unwrap_or(Content::Malformed(Vec::new())),
                    mtime_ms: now,
                },
                vec![label],
            )
        }
        Transition::PlantMalformed {
            session: s,
            kind,
            seed,
            mtime_age_ms,
        } => (
            Op::Plant {
                path: lock_of(*s),
                content: Content::Malformed(kind.bytes(*seed)),
                mtime_ms: now - mtime_age_ms,
            },
            vec![kind.label()],
        ),
        Transition::PlantTemp {
            session: s,
            publisher,
            mtime_age_ms,
        } => (
            Op::Plant {
                path: Path::new(DIR).join(match publisher {
                    0 => format!(".s{s}.jsonl.lock.{DEAD_PID}-orphan.lktmp"),
                    1..=3 => format!(".s{s}.jsonl.lock.{publisher}-0123abcd.lktmp"),
                    _ => format!(".s{s}.jsonl.lock.unknown.lktmp"),
                }),
                content: Content::Malformed(b"{\n  \"pid\": 77".to_vec()),
                mtime_ms: now - mtime_age_ms,
            },
            vec!["plant-temp"],
        ),
        Transition::AgeMtime { session: s, age_ms } => {
            (Op::SetMtime(lock_of(*s), now - age_ms), vec!["age-mtime"])
        }
        Transition::Advance(ms) => (Op::Advance(*ms), vec!["advance"]),
        Transition::CleanStale(p) => (
            Op::CleanStale(proc_key(*p), PathBuf::from(DIR)),
            vec!["clean-stale"],
        ),
        Transition::Inspect(p) => (
            Op::Inspect(proc_key(*p), PathBuf::from(DIR)),
            vec!["inspect"],
        ),
    }
}

fn resolve_payload(m: &Model, spec: &PayloadSpec) -> (lockcore::Payload, Vec<&'static str>) {
    let viewer = proc_key(spec.viewer);
    let pid = match spec.pid {
        PidChoice::Own => viewer.pid,
        PidChoice::Slot(i) => proc_key(i).pid,
        PidChoice::Dead => DEAD_PID,
    };
    let owner = ProcKey::new(&viewer.host, pid);
    let owner_instance = m.instance(&owner);
    let nonce = match spec.nonce {
        NonceChoice::Absent => None,
        NonceChoice::Current => Some(
            owner_instance
                .map(|i| i.nonce.clone())
                .unwrap_or_else(|| "no-such-instance".into()),
        ),
        NonceChoice::Other(k) => Some(format!("x{k:02x}-foreign-nonce")),
    };
    let other_host = if viewer.host == "h1" { "h2" } else { "h1" };
    let host = match spec.host {
        HostChoice::Same => Some(viewer.host.clone()),
        HostChoice::Other => Some(other_host.to_string()),
        HostChoice::Absent => None,
    };
    let starttime = match spec.starttime {
        StartChoice::Absent => None,
        StartChoice::Actual => Some(
            m.procs
                .get(&owner)
                .filter(|p| p.alive)
                .map(|p| p.start_time)
                .unwrap_or(999),
        ),
        StartChoice::Different => Some(5),
    };
    let payload = lockcore::Payload {
        pid,
        nonce: nonce.clone(),
        created_at_ms: m.now_ms + spec.created_offset_ms,
        starttime,
        host: host.clone(),
        token: spec.token.then(|| "planted".to_string()),
        lease: match spec.lease {
            LeaseChoice::Absent => None,
            LeaseChoice::Lease => Some(PLANTED_LEASE),
            LeaseChoice::LeaseMaxHold => Some(lockcore::payload::Lease {
                max_hold_ms: Some(HOUR as u64),
                ..PLANTED_LEASE
            }),
        },
    };

    let mut labels = Vec::new();
    let foreign = spec.host == HostChoice::Other;
    let owner_alive = m.procs.get(&owner).is_some_and(|p| p.alive);
    if foreign {
        labels.push(if pid == viewer.pid {
            "plant-foreign-host-same-pid"
        } else {
            "plant-foreign-host"
        });
    } else if !owner_alive {
        labels.push("plant-dead-pid");
    } else {
        let own = pid == viewer.pid;
        let matching = nonce.is_some() && owner_instance.map(|i| &i.nonce) == nonce.as_ref();
        labels.push(match (&nonce, own, matching) {
            (None, true, _) => "plant-legacy-own-pid",
            (None, false, _) => "plant-legacy-live-pid",
            (Some(_), _, true) => "plant-nonce-matching",
            (Some(_), true, false) => "plant-nonce-mismatch-own-pid",
            (Some(_), false, false) => "plant-nonce-mismatch-other-pid",
        });
    }
    if spec.created_offset_ms < -30 * MIN {
        labels.push("plant-old-created-at");
    }
    match spec.lease {
        LeaseChoice::Absent => {}
        LeaseChoice::Lease => labels.push("plant-leased"),
        LeaseChoice::LeaseMaxHold => labels.push("plant-leased-max-hold"),
    }
    if spec.host == HostChoice::Absent {
        labels.push("plant-hostless");
    }
    if spec.created_offset_ms > 0 {
        labels.push("plant-future-created-at");
    }
    (payload, labels)
}

fn mtime_age() -> impl Strategy<Value = i64> {
    // Exact grace boundaries are safe to generate: both sides read the virtual clock and the
    // harness sets real mtimes to virtual times exactly.
    prop_oneof![
        3 => Just(0i64),
        3 => 1..30 * SEC,
        1 => Just(30 * SEC),
        1 => Just(30 * SEC + 1),
        3 => 31 * SEC..2 * HOUR,
        1 => -HOUR..0,
        // Older than the machine's boot (for a while): `before-boot` for host-less files.
        1 => 48 * HOUR..72 * HOUR,
    ]
}

/// The lease a planted lease-bearing payload declares.
const PLANTED_LEASE: lockcore::payload::Lease = lockcore::payload::Lease {
    lease_ms: 30_000,
    max_hold_ms: None,
};

fn temp_age() -> impl Strategy<Value = i64> {
    prop_oneof![
        2 => 0..30 * MIN,
        1 => Just(30 * MIN),
        1 => Just(30 * MIN + 1),
        2 => 30 * MIN + 1..3 * HOUR,
    ]
}

fn created_offset() -> impl Strategy<Value = i64> {
    prop_oneof![
        4 => Just(0i64),
        3 => -29 * MIN..0,
        1 => Just(-30 * MIN),
        1 => Just(-30 * MIN - 1),
        3 => -5 * HOUR..-30 * MIN - 1,
        2 => 1..48 * HOUR,
    ]
}

fn payload_spec() -> impl Strategy<Value = PayloadSpec> {
    let pid = prop_oneof![
        4 => Just(PidChoice::Own),
        3 => (0..PROCS.len()).prop_map(PidChoice::Slot),
        2 => Just(PidChoice::Dead),
    ];
    let nonce = prop_oneof![
        3 => Just(NonceChoice::Absent),
        3 => Just(NonceChoice::Current),
        3 => any::<u8>().prop_map(NonceChoice::Other),
    ];
    let host = prop_oneof![
        6 => Just(HostChoice::Same),
        2 => Just(HostChoice::Other),
        2 => Just(HostChoice::Absent),
    ];
    let lease = prop_oneof![
        6 => Just(LeaseChoice::Absent),
        2 => Just(LeaseChoice::Lease),
        3 => Just(LeaseChoice::LeaseMaxHold),
    ];
    let start = prop_oneof![
        3 => Just(StartChoice::Absent),
        2 => Just(StartChoice::Actual),
        1 => Just(StartChoice::Different),
    ];
    (
        0..PROCS.len(),
        pid,
        nonce,
        host,
        start,
        created_offset(),
        any::<bool>(),
        lease,
    )
        .prop_map(
            |(viewer, pid, nonce, host, starttime, created_offset_ms, token, lease)| PayloadSpec {
                viewer,
                pid,
                nonce,
                host,
                starttime,
                created_offset_ms,
                token,
                lease,
            },
        )
}

/// Any malformed-file kind (shared with the codec properties).
pub fn malformed_kind() -> impl Strategy<Value = MalformedKind> {
    prop_oneof![
        Just(MalformedKind::Empty),
        Just(MalformedKind::Partial),
        Just(MalformedKind::Garbage),
        Just(MalformedKind::Huge),
        Just(MalformedKind::NotUtf8),
    ]
}

fn hostile_kind() -> impl Strategy<Value = HostileKind> {
    prop_oneof![
        Just(HostileKind::Fifo),
        Just(HostileKind::Socket),
        Just(HostileKind::Directory),
        Just(HostileKind::LinkToFile),
        Just(HostileKind::LinkDangling),
        Just(HostileKind::LinkLoop),
    ]
}

fn advance_ms() -> impl Strategy<Value = i64> {
    prop_oneof![
        2 => 1..5 * SEC,
        2 => Just(31 * SEC),
        2 => 5 * SEC..10 * MIN,
        1 => Just(30 * MIN),
        3 => Just(31 * MIN),
        1 => 31 * MIN..3 * HOUR,
    ]
}

/// A dead process slot whose namespace runs: another process may take its pid.
fn reusable(m: &Model, i: usize) -> bool {
    let key = proc_key(i);
    m.instance(&key).is_none() && crate::namespaces::namespace_alive(m, &key.host)
}

/// The guard's process is stopped: it cannot release now.
fn guard_stopped(m: &Model, g: &models::reference::GuardRec) -> bool {
    m.procs.get(&g.proc).is_some_and(|p| p.alive && p.stopped)
}

/// The state machine.
pub struct LockMachine;

impl ReferenceStateMachine for LockMachine {
    type State = RefState;
    type Transition = Transition;

    fn init_state() -> BoxedStrategy<RefState> {
        Just(RefState::with_trace(false)).boxed()
    }

    fn transitions(state: &RefState) -> BoxedStrategy<Transition> {
        let m = &state.model;
        let live: Vec<usize> = (0..PROCS.len()).filter(|i| alive(m, *i)).collect();
        let dead: Vec<usize> = (0..PROCS.len()).filter(|i| reusable(m, *i)).collect();
        let guards: Vec<u64> = m
            .live_guards()
            .filter(|(_, g)| !guard_stopped(m, g))
            .map(|(id, _)| id)
            .collect();
        let free: Vec<usize> = (0..SESSIONS)
            .filter(|s| !m.files.contains_key(&lock_of(*s)))
            .collect();
        // Only regular files are replaced, copied or aged (a FIFO is never opened).
        let taken: Vec<usize> = (0..SESSIONS).filter(|s| regular(m, *s)).collect();

        let mut options: Vec<(u32, BoxedStrategy<Transition>)> = vec![
            (
                2,
                (0..PROCS.len(), any::<bool>())
                    .prop_map(|(p, on)| Transition::SetEperm(p, on))
                    .boxed(),
            ),
            (
                1,
                (0..SESSIONS, 0u8..5, temp_age())
                    .prop_map(|(session, publisher, mtime_age_ms)| Transition::PlantTemp {
                        session,
                        publisher,
                        mtime_age_ms,
                    })
                    .boxed(),
            ),
            (6, advance_ms().prop_map(Transition::Advance).boxed()),
        ];
        options.extend(crate::namespaces::options(m));
        if !live.is_empty() {
            let pick = || proptest::sample::select(live.clone());
            options.push((
                30,
                (pick(), 0..SESSIONS, proptest::bool::weighted(0.8))
                    .prop_map(|(proc, session, reentrant)| Transition::Acquire {
                        proc,
                        session,
                        reentrant,
                    })
                    .boxed(),
            ));
            options.push((3, pick().prop_map(Transition::ReleaseAll).boxed()));
            options.push((3, pick().prop_map(Transition::RestartInPlace).boxed()));
            options.push((2, pick().prop_map(Transition::Crash).boxed()));
            options.push((2, pick().prop_map(Transition::ExecRestart).boxed()));
            options.push((4, pick().prop_map(Transition::CleanStale).boxed()));
            options.push((2, pick().prop_map(Transition::Inspect).boxed()));
            options.push((3, pick().prop_map(Transition::CleanNonRegular).boxed()));
            options.push((
                5,
                (pick(), 0..SESSIONS, proptest::bool::weighted(0.8))
                    .prop_map(|(proc, session, reentrant)| Transition::AcquireViaAlias {
                        proc,
                        session,
                        reentrant,
                    })
                    .boxed(),
            ));
        }
        if !dead.is_empty() {
            options.push((
                4,
                proptest::sample::select(dead)
                    .prop_map(Transition::ReusePid)
                    .boxed(),
            ));
        }
        if !guards.is_empty() {
            options.push((
                22,
                proptest::sample::select(guards)
                    .prop_map(Transition::Release)
                    .boxed(),
            ));
        }
        if !free.is_empty() {
            let pick = || proptest::sample::select(free.clone());
            options.push((
                10,
                (pick(), payload_spec(), mtime_age())
                    .prop_map(|(session, spec, mtime_age_ms)| Transition::PlantPayload {
                        session,
                        spec,
                        mtime_age_ms,
                    })
                    .boxed(),
            ));
            options.push((
                4,
                (pick(), malformed_kind(), any::<u8>(), mtime_age())
                    .prop_map(
                        |(session, kind, seed, mtime_age_ms)| Transition::PlantMalformed {
                            session,
                            kind,
                            seed,
                            mtime_age_ms,
                        },
                    )
                    .boxed(),
            ));
            options.push((
                4,
                (pick(), hostile_kind(), mtime_age())
                    .prop_map(|(session, kind, mtime_age_ms)| Transition::PlantHostile {
                        session,
                        kind,
                        mtime_age_ms,
                    })
                    .boxed(),
            ));
        }
        if !taken.is_empty() {
            options.push((
                2,
                (
                    proptest::sample::select(taken.clone()),
                    payload_spec(),
                    mtime_age(),
                )
                    .prop_map(|(session, spec, mtime_age_ms)| Transition::Replace {
                        session,
                        spec,
                        mtime_age_ms,
                    })
                    .boxed(),
            ));
            if !free.is_empty() {
                options.push((
                    3,
                    (
                        proptest::sample::select(taken.clone()),
                        proptest::sample::select(free.clone()),
                    )
                        .prop_map(|(from, to)| Transition::Copy { from, to })
                        .boxed(),
                ));
            }
            options.push((
                2,
                (proptest::sample::select(taken), mtime_age())
                    .prop_map(|(session, age_ms)| Transition::AgeMtime { session, age_ms })
                    .boxed(),
            ));
        }
        Union::new_weighted(options).boxed()
    }

    fn preconditions(state: &RefState, t: &Transition) -> bool {
        let m = &state.model;
        match t {
            Transition::UseManualHeartbeat(_)
            | Transition::Refresh(_)
            | Transition::Stop(_)
            | Transition::Cont(_)
            | Transition::PeerAcquire { .. }
            | Transition::PeerRelease { .. }
            | Transition::KillNamespace(_)
            | Transition::RestartNamespace(_) => {
                crate::namespaces::precondition(m, t).unwrap_or(false)
            }
            Transition::Acquire { proc, .. }
            | Transition::AcquireViaAlias { proc, .. }
            | Transition::CleanNonRegular(proc)
            | Transition::ReleaseAll(proc)
            | Transition::RestartInPlace(proc)
            | Transition::ExecRestart(proc)
            | Transition::CleanStale(proc)
            | Transition::Inspect(proc) => alive(m, *proc),
            // SIGKILL reaches a stopped process too.
            Transition::Crash(proc) => m.instance(&proc_key(*proc)).is_some(),
            Transition::ReusePid(proc) => reusable(m, *proc),
            Transition::Release(g) => m
                .guards
                .get(g)
                .is_some_and(|g| !g.released && !guard_stopped(m, g)),
            Transition::PlantPayload { session, .. }
            | Transition::PlantMalformed { session, .. }
            | Transition::PlantHostile { session, .. } => !m.files.contains_key(&lock_of(*session)),
            Transition::AgeMtime { session, .. } | Transition::Replace { session, .. } => {
                regular(m, *session)
            }
            Transition::Copy { from, to } => {
                regular(m, *from) && !m.files.contains_key(&lock_of(*to))
            }
            Transition::SetEperm(..) | Transition::PlantTemp { .. } | Transition::Advance(_) => {
                true
            }
        }
    }

    fn apply(mut state: RefState, t: &Transition) -> RefState {
        let (op, labels) = resolve(&state.model, t);
        let result = state.model.step(&op);
        state.last_op = Some(op);
        state.last = Some(result);
        state.labels = labels;
        state
    }
}
