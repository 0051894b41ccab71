//! Waiting inside one instance and for another process: first come, first served, who a
//! release notifies, timeouts on the real and the virtual clock, and no registry lock across
//! file I/O.

use super::*;

// acquire waits with a timeout and reports how long it waited; an in-instance release wakes it.
#[test]
fn acquire_times_out_with_busy_and_is_woken_by_an_in_instance_release() {
    let fx = Fixture::new();
    let a = fx.manager(10);
    let b = fx.virtual_manager(20);
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

/// A manager with `recheck` as its instance recheck bound and `keep` as its handover bound,
/// holding `s1.jsonl`, and a thread of it waiting (non-reentrant, at most 3 × [`WATCHDOG`]) to
/// take the same lock.
fn held_with_a_waiter(
    fx: &Fixture,
    recheck: Duration,
    keep: Duration,
) -> (
    LockManager<TestEnv>,
    lockcore::LockGuard<TestEnv>,
    std::thread::JoinHandle<Result<Acquired, LockError>>,
) {
    let policy = Policy {
        instance_recheck: recheck,
        handover_keep: keep,
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

/// Handovers off (`handover.rs` tests them): the release removes the file.
const NEVER: Duration = Duration::ZERO;

// P11 (issue #15: a waiter is woken by the release itself): a thread waiting for a hold of its
// own instance blocks on the condition variable (no spinning) and the release's notification
// wakes it — never its recheck bound (20 s here: a lost notification shows as a timed-out wait);
// with handovers off, the file goes and the waiter publishes its own.
// Interleaving: the waiter blocked ∥ the holder's release.
#[test]
fn a_release_wakes_the_waiter_of_its_instance_by_notification() {
    let fx = Fixture::new();
    let (m, held, waiter) = held_with_a_waiter(&fx, RECHECK, NEVER);
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
    let m = fx.virtual_manager(10);
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
    let (m, held, waiter) = held_with_a_waiter(&fx, Duration::from_millis(1), NEVER);
    assert!(
        eventually(|| m.instance_waits().timed_out >= 2),
        "{:?}",
        m.instance_waits()
    );
    drop(held);
    assert_eq!(waiter.join().unwrap().unwrap(), Acquired::Fresh);
    assert_eq!(m.instance_waits().blocked_now, 0);
}

// P11 (issue #15): the registry lock is not held across file I/O — while one thread's publish of
// session `slow` is stalled inside the file system, another thread of the same instance acquires
// and releases session `fast` (and inspects the directory); then the stalled one completes.
#[test]
fn a_stalled_file_operation_on_one_session_blocks_no_other_session() {
    let fx = Fixture::new();
    let (m, stalled, go) = stalled_publish(&fx);
    let fast = m.try_acquire(&fx.session("fast.jsonl")).unwrap();
    assert_eq!(fast.how(), Acquired::Fresh);
    assert_eq!(fast.release().unwrap(), Released::Removed);
    assert_eq!(
        m.inspect(fx.dir.path()).unwrap().len(),
        0,
        "nothing published yet"
    );
    go.send(()).unwrap();
    let slow = stalled.join().unwrap().unwrap();
    assert_eq!(slow.how(), Acquired::Fresh);
    drop(slow);
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
    let (m, stalled, go) = stalled_publish(&fx);
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
