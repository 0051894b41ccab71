//! Stale rules and reclaim: an earlier instance's leftover, legacy files, other pids, malformed
//! files, leases, and what inspect, clean and the sweep make of a directory.

use super::*;

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
