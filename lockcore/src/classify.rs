//! Classification of a contended lock file: a pure function of what the file says, its age, who we
//! are, what the liveness probe says and the policy. It is DESIGN §4's table, row by row.

use crate::env::{Liveness, ProcessIdentity};
use crate::payload::{Malformed, Payload};
use std::time::Duration;

/// Tunables of the stale rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// A lock whose owner cannot be shown dead is stale once older than this (default 30 min).
    pub stale_after: Duration,
    /// A malformed or empty file is stale only once its mtime is older than this (default 30 s):
    /// its writer may be between create and write.
    pub malformed_grace: Duration,
    /// How long [`crate::LockManager::acquire`] waits by default (10 s).
    pub acquire_timeout: Duration,
    /// Judge files without a `host` by the pid rules (our pid + another nonce → stale at once,
    /// other pids probed), as before DESIGN §4a. **Only sound where every process using the
    /// directory shares one pid namespace**; default false (such files wait for `stale_after`).
    pub same_pid_namespace: bool,
    /// The lease this manager declares in its lock files while a heartbeat refreshes them
    /// (default 30 s: three refreshes fit in one lease); `None` declares none.
    pub lease: Option<Duration>,
    /// How often the heartbeat refreshes held locks' mtimes (default 10 s; the heartbeat thread
    /// never waits more than a third of the lease).
    pub refresh_every: Duration,
    /// The longest this manager promises to hold a lock (`maxHoldMs`); past it the lock is stale
    /// even while refreshed. Default `None`: no limit.
    pub max_hold: Option<Duration>,
    /// Most reentrant holds of one lock; one more is `LockError::ReentryOverflow` (default
    /// `u32::MAX`). The models set it small so the boundary is explored, not just argued.
    pub max_reentry: u32,
    /// The longest a thread blocked on another thread of this instance (a waiter for a lock
    /// held here, or a `release_all` waiting for an acquisition in progress) sleeps without
    /// being notified before it looks again on its own: what a lost wake-up could cost
    /// (default 100 ms; zero makes such waiters poll). Real time only;
    /// [`crate::LockManager::instance_waits`] counts the waits that ran it out.
    pub instance_recheck: Duration,
    /// Serve waiters of different processes in arrival order (`crate::queue`): an instance
    /// publishes only when no older waiter of another fair instance is queued on disk. Costs a
    /// directory listing per attempt and about a wake-up per handoff (benches/RESULTS.md: the
    /// longest wait bounded, a quarter of the throughput under contention). Default false.
    pub fair: bool,
    /// How old (monotonic, since it was published) a lock file may be and still be handed by a
    /// release straight to the oldest waiter of this instance, the file left in place
    /// (`handover.rs`); older, the release removes it and the waiter publishes anew. Default
    /// [`crate::HANDOVER_KEEP`] (10 ms); zero never hands over.
    pub handover_keep: Duration,
    /// How long a waiter for another process's lock waits before it takes a ticket in the
    /// queue across processes, as a fair instance does at once (`queue.rs`); waiting instances
    /// of every policy then let it go first, so a waiter that keeps losing the race for a
    /// released lock is served next. Default [`crate::QUEUE_AFTER`] (2 ms); `Duration::MAX`
    /// never (the race alone decides, as before).
    pub queue_after: Duration,
    /// The historic bug this manager re-introduces, if any (feature `mutants`).
    #[cfg(feature = "mutants")]
    pub mutant: Option<crate::mutants::Mutant>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            stale_after: Duration::from_secs(30 * 60),
            malformed_grace: Duration::from_secs(30),
            acquire_timeout: Duration::from_secs(10),
            same_pid_namespace: false,
            lease: Some(Duration::from_secs(30)),
            refresh_every: Duration::from_secs(10),
            max_hold: None,
            max_reentry: u32::MAX,
            instance_recheck: Duration::from_millis(100),
            fair: false,
            handover_keep: crate::HANDOVER_KEEP,
            queue_after: crate::QUEUE_AFTER,
            #[cfg(feature = "mutants")]
            mutant: None,
        }
    }
}

impl Policy {
    /// True when this policy selects mutant `m`; always false without the `mutants` feature.
    #[cfg(feature = "mutants")]
    #[inline]
    pub fn has(&self, m: crate::mutants::Mutant) -> bool {
        self.mutant == Some(m)
    }
}

/// `policy.has(Mutant::X)` where the feature exists, `false` (compiled away) where it does not.
macro_rules! mutant {
    ($policy:expr, $m:ident) => {{
        #[cfg(feature = "mutants")]
        let on = $policy.has($crate::mutants::Mutant::$m);
        #[cfg(not(feature = "mutants"))]
        let on = {
            let _ = &$policy;
            false
        };
        on
    }};
}
pub(crate) use mutant;

/// Why a contended file is stale.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StaleReason {
    /// Our pid and host, another nonce: a previous instance of this process (or of our pid).
    NonceMismatch,
    /// Our pid and our current nonce, but this instance neither holds nor is releasing it: a
    /// leftover of a delete that failed.
    Leftover,
    /// The owner pid does not exist.
    DeadPid,
    /// The owner pid exists but was started at another time: the pid was reused.
    RecycledPid,
    /// Older than `stale_after`.
    TooOld,
    /// Malformed or empty, and its mtime is older than the grace.
    MalformedExpired,
    /// It declares a lease and its mtime is older than the lease: its holder stopped refreshing.
    LeaseExpired,
    /// It declares a maximum hold, and its `createdAt` is older than that.
    MaxHoldPassed,
    /// No host recorded, and its mtime predates this machine's boot: its writer is gone in every
    /// pid namespace.
    BeforeBoot,
}

/// Why a contended file is live (must not be reclaimed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LiveReason {
    /// This instance holds it or is releasing it.
    HeldHere,
    /// The owner pid is alive (or answered `EPERM`).
    OwnerAlive,
    /// Our own pid without a nonce (legacy file): live until `stale_after`.
    LegacyOwnPid,
    /// Written on another host: cannot be probed from here.
    ForeignHost,
    /// No host recorded (a peer implementation, or an old lockcore): its writer may live in
    /// another pid namespace, so no pid rule applies; live until `stale_after`.
    UnknownNamespace,
    /// Malformed or empty but younger than the grace.
    MalformedInGrace,
    /// Not a regular file (FIFO, socket, device, directory, symlink): nothing lockcore wrote,
    /// never followed, read through or reclaimed (`clean --remove-non-regular` removes it).
    NotRegular,
}

impl StaleReason {
    /// Stable name used in reports and the CLI (`nonce-mismatch`, `dead-pid`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            StaleReason::NonceMismatch => "nonce-mismatch",
            StaleReason::Leftover => "leftover",
            StaleReason::DeadPid => "dead-pid",
            StaleReason::RecycledPid => "recycled-pid",
            StaleReason::TooOld => "too-old",
            StaleReason::MalformedExpired => "malformed-expired",
            StaleReason::LeaseExpired => "lease-expired",
            StaleReason::MaxHoldPassed => "max-hold-passed",
            StaleReason::BeforeBoot => "before-boot",
        }
    }
}

impl LiveReason {
    /// Stable name used in reports and the CLI (`owner-alive`, `foreign-host`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            LiveReason::HeldHere => "held-here",
            LiveReason::OwnerAlive => "owner-alive",
            LiveReason::LegacyOwnPid => "legacy-own-pid",
            LiveReason::ForeignHost => "foreign-host",
            LiveReason::UnknownNamespace => "unknown-namespace",
            LiveReason::MalformedInGrace => "malformed-in-grace",
            LiveReason::NotRegular => "not-regular",
        }
    }
}

/// The verdict on a contended file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Someone owns it: wait.
    Live(LiveReason),
    /// Nobody owns it: it may be reclaimed.
    Stale(StaleReason),
}

impl Verdict {
    /// True for [`Verdict::Stale`].
    pub fn is_stale(self) -> bool {
        matches!(self, Verdict::Stale(_))
    }
    /// The reason's stable name.
    pub fn reason(self) -> &'static str {
        match self {
            Verdict::Live(r) => r.as_str(),
            Verdict::Stale(r) => r.as_str(),
        }
    }
}

/// What we know of the contended file.
#[derive(Clone, Copy, Debug)]
pub struct Observed<'a> {
    /// Its parsed payload or why it did not parse.
    pub payload: Result<&'a Payload, &'a Malformed>,
    /// Now minus its mtime, in ms (negative when the mtime is in the future).
    pub mtime_age_ms: i64,
    /// Now (wall clock), unix ms.
    pub now_ms: i64,
}

impl Observed<'_> {
    /// The lock's age: from `createdAt`, or from the mtime when `createdAt` is in the future
    /// (a skewed or bogus clock must not make a lock immortal); `None` for malformed files.
    pub fn age_ms(&self) -> Option<i64> {
        let p = self.payload.ok()?;
        Some(if p.created_at_ms <= self.now_ms {
            self.now_ms - p.created_at_ms
        } else {
            self.mtime_age_ms
        })
    }
}

/// Who we are, for classification.
#[derive(Clone, Copy, Debug)]
pub struct Me<'a> {
    /// This process.
    pub identity: &'a ProcessIdentity,
    /// This instance's current nonce.
    pub nonce: &'a str,
    /// This instance holds, is acquiring or is releasing this file (by path or by token).
    pub in_flight: bool,
    /// When this machine booted (wall ms), if known: a file older than that has no live writer.
    pub boot_ms: Option<i64>,
}

/// Strictly older than `limit`; a negative age (a clock that went backwards) is never old.
fn older_than(age_ms: i64, limit: Duration) -> bool {
    u128::try_from(age_ms).is_ok_and(|age| age > limit.as_millis())
}

/// Classifies a contended lock file. `probe` is asked about another pid on our host only.
pub fn classify(
    file: &Observed<'_>,
    me: &Me<'_>,
    policy: &Policy,
    probe: &mut dyn FnMut(u32) -> (Liveness, Option<u64>),
) -> Verdict {
    let p = match file.payload {
        Err(Malformed::NotRegular(_)) => return Verdict::Live(LiveReason::NotRegular),
        Err(Malformed::Empty) if mutant!(policy, EmptyWindow) => {
            return Verdict::Stale(StaleReason::MalformedExpired);
        }
        Err(_) => {
            return if older_than(file.mtime_age_ms, policy.malformed_grace) {
                Verdict::Stale(StaleReason::MalformedExpired)
            } else {
                Verdict::Live(LiveReason::MalformedInGrace)
            };
        }
        Ok(p) => p,
    };
    let age = file.age_ms().unwrap_or(0);
    let nonce = if mutant!(policy, IgnoreNonce) {
        None
    } else {
        p.nonce.as_deref()
    };
    // Our pid and our current nonce: this instance wrote it (a nonce is unguessable), whatever
    // the host field says.
    if p.pid == me.identity.pid && nonce == Some(me.nonce) {
        return if me.in_flight {
            Verdict::Live(LiveReason::HeldHere)
        } else {
            Verdict::Stale(StaleReason::Leftover)
        };
    }
    // A lease is judged by the mtime its holder refreshes, from any namespace or host (P13).
    if let Some(lease) = p.lease {
        let since_refresh = if mutant!(policy, LeaseByCreatedAt) {
            age
        } else {
            file.mtime_age_ms
        };
        if older_than(since_refresh, Duration::from_millis(lease.lease_ms)) {
            return Verdict::Stale(StaleReason::LeaseExpired);
        }
        if lease
            .max_hold_ms
            .is_some_and(|max| older_than(age, Duration::from_millis(max)))
        {
            return Verdict::Stale(StaleReason::MaxHoldPassed);
        }
    }
    // A refreshed lease proves its holder alive: no `too-old` for it.
    let too_old = p.lease.is_none() && older_than(age, policy.stale_after);
    let age_rule = |live: LiveReason| {
        if too_old {
            Verdict::Stale(StaleReason::TooOld)
        } else {
            Verdict::Live(live)
        }
    };

    match (&p.host, &me.identity.host) {
        (Some(theirs), Some(ours)) if theirs == ours => {}
        (Some(_), _) => return age_rule(LiveReason::ForeignHost),
        // No host: the writer may live in another pid namespace, where our pid, nonce, start
        // time and probe prove nothing (P14). Fail closed, unless the directory is known to be
        // used from one pid namespace, or the file predates this machine's boot.
        (None, _) if !policy.same_pid_namespace && !mutant!(policy, HostlessTrusted) => {
            let mtime_ms = file.now_ms.saturating_sub(file.mtime_age_ms);
            if me.boot_ms.is_some_and(|boot| mtime_ms < boot) {
                return Verdict::Stale(StaleReason::BeforeBoot);
            }
            return age_rule(LiveReason::UnknownNamespace);
        }
        (None, _) => {}
    }

    if p.pid == me.identity.pid {
        return match nonce {
            Some(_) => Verdict::Stale(StaleReason::NonceMismatch),
            None => match (p.starttime, me.identity.start_time) {
                (Some(theirs), Some(ours)) if theirs != ours => {
                    Verdict::Stale(StaleReason::RecycledPid)
                }
                _ => age_rule(LiveReason::LegacyOwnPid),
            },
        };
    }

    let (liveness, start_time) = probe(p.pid);
    let dead = match liveness {
        Liveness::Dead => true,
        Liveness::NoPermission => mutant!(policy, EpermIsDead),
        Liveness::Alive => false,
    };
    if dead {
        return Verdict::Stale(StaleReason::DeadPid);
    }
    if let (Some(recorded), Some(actual)) = (p.starttime, start_time) {
        if recorded != actual {
            return Verdict::Stale(StaleReason::RecycledPid);
        }
    }
    if mutant!(policy, NonceAnyPid) && nonce.is_some_and(|n| n != me.nonce) {
        return Verdict::Stale(StaleReason::NonceMismatch);
    }
    age_rule(LiveReason::OwnerAlive)
}

#[cfg(test)]
mod tests {
    //! One test per row of DESIGN §4's classification table (P7, P8, P10 and the stale rules).
    use super::*;

    const NOW: i64 = 1_800_000_000_000;
    const MIN: i64 = 60_000;

    fn me_identity() -> ProcessIdentity {
        ProcessIdentity {
            pid: 100,
            host: Some("h1".into()),
            start_time: Some(5),
        }
    }

    /// A file lockcore wrote in our pid namespace (host `h1`): the seed's pid rules apply.
    fn payload(pid: u32, nonce: Option<&str>, age_ms: i64) -> Payload {
        Payload {
            pid,
            nonce: nonce.map(str::to_string),
            created_at_ms: NOW - age_ms,
            starttime: None,
            host: Some("h1".into()),
            token: None,
            lease: None,
        }
    }

    fn judge(p: &Payload, in_flight: bool, probe: (Liveness, Option<u64>)) -> Verdict {
        judge_with(p, in_flight, probe, &Policy::default())
    }

    fn judge_with(
        p: &Payload,
        in_flight: bool,
        probe: (Liveness, Option<u64>),
        policy: &Policy,
    ) -> Verdict {
        let id = me_identity();
        let observed = Observed {
            payload: Ok(p),
            mtime_age_ms: NOW - p.created_at_ms,
            now_ms: NOW,
        };
        let me = Me {
            identity: &id,
            nonce: "current",
            in_flight,
            boot_ms: None,
        };
        classify(&observed, &me, policy, &mut |_| probe)
    }

    fn judge_malformed(m: Malformed, mtime_age_ms: i64) -> Verdict {
        let id = me_identity();
        let observed = Observed {
            payload: Err(&m),
            mtime_age_ms,
            now_ms: NOW,
        };
        let me = Me {
            identity: &id,
            nonce: "current",
            in_flight: false,
            boot_ms: None,
        };
        classify(&observed, &me, &Policy::default(), &mut |_| {
            panic!("malformed files are never probed")
        })
    }

    const ALIVE: (Liveness, Option<u64>) = (Liveness::Alive, None);

    #[test]
    fn p10_malformed_is_live_inside_the_grace_and_stale_after() {
        assert_eq!(
            judge_malformed(Malformed::Empty, 1_000),
            Verdict::Live(LiveReason::MalformedInGrace)
        );
        assert_eq!(
            judge_malformed(Malformed::NotJson, 30_000),
            Verdict::Live(LiveReason::MalformedInGrace)
        );
        assert_eq!(
            judge_malformed(Malformed::NotJson, 30_001),
            Verdict::Stale(StaleReason::MalformedExpired)
        );
        assert_eq!(
            judge_malformed(Malformed::Empty, -5_000),
            Verdict::Live(LiveReason::MalformedInGrace)
        );
    }

    #[test]
    fn p8_our_pid_current_nonce_held_here_is_never_reclaimed() {
        let p = payload(100, Some("current"), 3 * 60 * MIN);
        assert_eq!(judge(&p, true, ALIVE), Verdict::Live(LiveReason::HeldHere));
    }

    #[test]
    fn p6_our_pid_current_nonce_not_held_is_a_leftover() {
        let p = payload(100, Some("current"), 0);
        assert_eq!(
            judge(&p, false, ALIVE),
            Verdict::Stale(StaleReason::Leftover)
        );
    }

    #[test]
    fn p8_our_pid_other_nonce_is_stale_at_once() {
        let p = payload(100, Some("previous"), 0);
        assert_eq!(
            judge(&p, false, ALIVE),
            Verdict::Stale(StaleReason::NonceMismatch)
        );
    }

    fn hostless(pid: u32, nonce: Option<&str>, age_ms: i64) -> Payload {
        Payload {
            host: None,
            ..payload(pid, nonce, age_ms)
        }
    }

    fn same_ns() -> Policy {
        Policy {
            same_pid_namespace: true,
            ..Policy::default()
        }
    }

    // P14: a file without a host may come from a live process in a sibling pid namespace: no pid,
    // nonce, start-time or probe verdict, live until stale_after, whatever the probe says.
    #[test]
    fn p14_hostless_files_fail_closed() {
        let dead = (Liveness::Dead, None);
        let mut recycled = hostless(200, None, 0);
        recycled.starttime = Some(1);
        for p in [
            hostless(100, Some("e9f2"), 0),
            hostless(100, None, 0),
            hostless(200, Some("x"), 0),
            recycled,
        ] {
            for probe in [ALIVE, dead, (Liveness::Alive, Some(2))] {
                assert_eq!(
                    judge(&p, false, probe),
                    Verdict::Live(LiveReason::UnknownNamespace),
                    "{p:?} {probe:?}"
                );
            }
        }
        assert_eq!(
            judge(&hostless(200, None, 31 * MIN), false, dead),
            Verdict::Stale(StaleReason::TooOld)
        );
    }

    // P14 opt-in (#4044 rules): one pid namespace per directory, host-less files judged by pid.
    #[test]
    fn p8_hostless_files_follow_the_pid_rules_when_opted_in() {
        let judge_ns = |p: &Payload, probe| judge_with(p, false, probe, &same_ns());
        assert_eq!(
            judge_ns(&hostless(100, Some("e9f2"), 0), ALIVE),
            Verdict::Stale(StaleReason::NonceMismatch)
        );
        assert_eq!(
            judge_ns(&hostless(200, None, 0), (Liveness::Dead, None)),
            Verdict::Stale(StaleReason::DeadPid)
        );
        assert_eq!(
            judge_ns(&hostless(200, None, 0), ALIVE),
            Verdict::Live(LiveReason::OwnerAlive)
        );
    }

    // P14/P11: a host-less file last written before this machine booted has no live writer in
    // any pid namespace.
    #[test]
    fn p11_hostless_file_older_than_the_boot_is_stale() {
        let id = me_identity();
        let p = hostless(1, Some("e9f2"), 0);
        let me = |boot_ms| Me {
            identity: &id,
            nonce: "current",
            in_flight: false,
            boot_ms,
        };
        let file = Observed {
            payload: Ok(&p),
            mtime_age_ms: 10 * MIN,
            now_ms: NOW,
        };
        let verdict = |boot| classify(&file, &me(boot), &Policy::default(), &mut |_| ALIVE);
        assert_eq!(
            verdict(Some(NOW - 5 * MIN)),
            Verdict::Stale(StaleReason::BeforeBoot)
        );
        assert_eq!(
            verdict(Some(NOW - 15 * MIN)),
            Verdict::Live(LiveReason::UnknownNamespace)
        );
        // Written in the very millisecond of the boot: not provably before it (fail closed).
        assert_eq!(
            verdict(Some(NOW - 10 * MIN)),
            Verdict::Live(LiveReason::UnknownNamespace)
        );
        assert_eq!(verdict(None), Verdict::Live(LiveReason::UnknownNamespace));
    }

    fn leased(mut p: Payload, lease_ms: u64, max_hold_ms: Option<u64>) -> Payload {
        p.lease = Some(crate::payload::Lease {
            lease_ms,
            max_hold_ms,
        });
        p
    }

    /// Judges `p` whose mtime is `since_refresh_ms` old.
    fn judge_refreshed(
        p: &Payload,
        since_refresh_ms: i64,
        probe: (Liveness, Option<u64>),
    ) -> Verdict {
        judge_refreshed_with(p, since_refresh_ms, probe, &Policy::default())
    }

    fn judge_refreshed_with(
        p: &Payload,
        since_refresh_ms: i64,
        probe: (Liveness, Option<u64>),
        policy: &Policy,
    ) -> Verdict {
        let id = me_identity();
        let me = Me {
            identity: &id,
            nonce: "current",
            in_flight: false,
            boot_ms: None,
        };
        let file = Observed {
            payload: Ok(p),
            mtime_age_ms: since_refresh_ms,
            now_ms: NOW,
        };
        classify(&file, &me, policy, &mut |_| probe)
    }

    // P13: a refreshed lease is never too old; an unrefreshed one is stale once its lease passed,
    // from any host or namespace; a declared maximum hold ends it even while refreshed.
    #[test]
    fn p13_leases_are_judged_by_the_refreshed_mtime() {
        let two_hours = 120 * MIN;
        let mut foreign = payload(1, Some("n"), two_hours);
        foreign.host = Some("h2".into());
        let files = [
            leased(foreign, 30_000, None),
            leased(hostless(1, Some("n"), two_hours), 30_000, None),
            leased(payload(200, Some("n"), two_hours), 30_000, None),
        ];
        for p in &files {
            assert!(
                !judge_refreshed(p, 10_000, ALIVE).is_stale(),
                "refreshed 10 s ago: {p:?}"
            );
            assert_eq!(
                judge_refreshed(p, 30_001, ALIVE),
                Verdict::Stale(StaleReason::LeaseExpired),
                "{p:?}"
            );
        }
        let capped = leased(
            payload(200, Some("n"), two_hours),
            30_000,
            Some(60 * MIN as u64),
        );
        assert_eq!(
            judge_refreshed(&capped, 1_000, ALIVE),
            Verdict::Stale(StaleReason::MaxHoldPassed)
        );
        // The same-host pid rules still apply to a leased file: a dead owner is stale at once.
        assert_eq!(
            judge_refreshed(&files[2], 1_000, (Liveness::Dead, None)),
            Verdict::Stale(StaleReason::DeadPid)
        );
    }

    #[test]
    fn p7_our_pid_without_nonce_follows_the_age_rule() {
        assert_eq!(
            judge(&payload(100, None, 29 * MIN), false, ALIVE),
            Verdict::Live(LiveReason::LegacyOwnPid)
        );
        assert_eq!(
            judge(&payload(100, None, 31 * MIN), false, ALIVE),
            Verdict::Stale(StaleReason::TooOld)
        );
    }

    #[test]
    fn our_pid_legacy_with_another_start_time_is_recycled() {
        let mut p = payload(100, None, 0);
        p.starttime = Some(4);
        assert_eq!(
            judge(&p, false, ALIVE),
            Verdict::Stale(StaleReason::RecycledPid)
        );
        p.starttime = Some(5);
        assert_eq!(
            judge(&p, false, ALIVE),
            Verdict::Live(LiveReason::LegacyOwnPid)
        );
    }

    #[test]
    fn another_host_with_our_pid_is_live_until_too_old() {
        let mut p = payload(100, Some("other-container"), 5 * MIN);
        p.host = Some("h2".into());
        assert_eq!(
            judge(&p, false, ALIVE),
            Verdict::Live(LiveReason::ForeignHost)
        );
        p.created_at_ms = NOW - 31 * MIN;
        assert_eq!(judge(&p, false, ALIVE), Verdict::Stale(StaleReason::TooOld));
    }

    #[test]
    fn other_pid_dead_is_stale() {
        let p = payload(200, Some("x"), 0);
        assert_eq!(
            judge(&p, false, (Liveness::Dead, None)),
            Verdict::Stale(StaleReason::DeadPid)
        );
    }

    #[test]
    fn other_pid_alive_with_another_start_time_is_recycled() {
        let mut p = payload(200, None, 0);
        p.starttime = Some(10);
        assert_eq!(
            judge(&p, false, (Liveness::Alive, Some(11))),
            Verdict::Stale(StaleReason::RecycledPid)
        );
        assert_eq!(
            judge(&p, false, (Liveness::Alive, Some(10))),
            Verdict::Live(LiveReason::OwnerAlive)
        );
    }

    #[test]
    fn p8_other_pid_alive_or_eperm_is_live_until_too_old_whatever_its_nonce() {
        for probe in [ALIVE, (Liveness::NoPermission, None)] {
            assert_eq!(
                judge(&payload(200, Some("x"), 0), false, probe),
                Verdict::Live(LiveReason::OwnerAlive)
            );
            assert_eq!(
                judge(&payload(200, None, 29 * MIN), false, probe),
                Verdict::Live(LiveReason::OwnerAlive)
            );
            assert_eq!(
                judge(&payload(200, None, 31 * MIN), false, probe),
                Verdict::Stale(StaleReason::TooOld)
            );
        }
    }

    #[test]
    fn a_future_created_at_falls_back_to_the_mtime() {
        let id = me_identity();
        let p = payload(200, None, -365 * 24 * 60 * MIN);
        let me = Me {
            identity: &id,
            nonce: "current",
            in_flight: false,
            boot_ms: None,
        };
        let young = Observed {
            payload: Ok(&p),
            mtime_age_ms: MIN,
            now_ms: NOW,
        };
        let old = Observed {
            payload: Ok(&p),
            mtime_age_ms: 31 * MIN,
            now_ms: NOW,
        };
        assert_eq!(
            classify(&young, &me, &Policy::default(), &mut |_| ALIVE),
            Verdict::Live(LiveReason::OwnerAlive)
        );
        assert_eq!(
            classify(&old, &me, &Policy::default(), &mut |_| ALIVE),
            Verdict::Stale(StaleReason::TooOld)
        );
    }

    #[cfg(feature = "mutants")]
    #[test]
    fn classification_mutants_change_exactly_their_row() {
        use crate::mutants::Mutant;
        let with = |m| Policy {
            mutant: Some(m),
            ..Policy::default()
        };
        let eperm = (Liveness::NoPermission, None);
        assert_eq!(
            judge_with(
                &payload(200, None, 0),
                false,
                eperm,
                &with(Mutant::EpermIsDead)
            ),
            Verdict::Stale(StaleReason::DeadPid)
        );
        assert_eq!(
            judge_with(
                &payload(100, Some("previous"), 0),
                false,
                ALIVE,
                &with(Mutant::IgnoreNonce)
            ),
            Verdict::Live(LiveReason::LegacyOwnPid)
        );
        assert_eq!(
            judge_with(
                &payload(200, Some("x"), 0),
                false,
                ALIVE,
                &with(Mutant::NonceAnyPid)
            ),
            Verdict::Stale(StaleReason::NonceMismatch)
        );
        assert_eq!(
            judge_with(
                &hostless(100, Some("e9f2"), 0),
                false,
                ALIVE,
                &with(Mutant::HostlessTrusted)
            ),
            Verdict::Stale(StaleReason::NonceMismatch)
        );
        let refreshed = leased(payload(200, Some("n"), 60_000), 30_000, None);
        assert_eq!(
            judge_refreshed_with(&refreshed, 1_000, ALIVE, &with(Mutant::LeaseByCreatedAt)),
            Verdict::Stale(StaleReason::LeaseExpired)
        );
    }
}
