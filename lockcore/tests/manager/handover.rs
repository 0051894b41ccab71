//! Handovers (issue #15): a release hands its lock to the oldest waiter of its instance and the
//! file stays in place — only where nobody else can be starved or misled by it.

use super::*;
use lockcore::{Fs, LockGuard};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::thread::JoinHandle;

/// Handovers allowed for any file these tests make (none is that old).
const ALWAYS: Duration = Duration::from_secs(3600);

fn keep_always() -> Policy {
    Policy {
        handover_keep: ALWAYS,
        instance_recheck: RECHECK,
        ..Policy::default()
    }
}

/// A thread of `m` asking for `session` (non-reentrant, at most [`WATCHDOG`]), once `ahead`
/// threads are queued for it; returns when it is queued itself, so arrival order is fixed.
fn queue_for(
    m: &LockManager<TestEnv>,
    session: &Path,
    ahead: usize,
) -> JoinHandle<Result<LockGuard<TestEnv>, LockError>> {
    let (mw, s) = (m.clone(), session.to_path_buf());
    let h = std::thread::spawn(move || {
        let wait = AcquireOptions {
            reentrant: false,
            timeout: Some(WATCHDOG),
        };
        mw.acquire_with(&s, wait)
    });
    assert!(
        eventually(|| m.queued(session) == ahead + 1),
        "waiter {} queued",
        ahead + 1
    );
    h
}

/// A manager with `policy` holding `s1.jsonl`, and a thread of it queued for the same lock.
struct HeldAndQueued {
    fx: Fixture,
    m: LockManager<TestEnv>,
    session: PathBuf,
    lock: PathBuf,
    held: LockGuard<TestEnv>,
    waiter: JoinHandle<Result<LockGuard<TestEnv>, LockError>>,
}

fn held_and_queued(policy: Policy) -> HeldAndQueued {
    let fx = Fixture::new();
    let m = fx.manager_with(10, policy);
    let (session, lock) = (fx.session("s1.jsonl"), fx.lock_file("s1.jsonl"));
    let held = m.try_acquire(&session).unwrap();
    let waiter = queue_for(&m, &session, 0);
    HeldAndQueued {
        fx,
        m,
        session,
        lock,
        held,
        waiter,
    }
}

// P1, P9 (a handover keeps one owner and the file): the release hands the hold to the waiter of
// its instance; the file is the very same inode with the same payload throughout, the registry
// holds it once, and the waiter's own release (nobody waiting) removes it.
// Interleaving: a waiter blocked ∥ the holder's release.
#[test]
fn p1_a_release_hands_the_lock_to_the_waiter_and_the_file_stays() {
    let q = held_and_queued(keep_always());
    let (payload, inode) = (
        q.held.payload().clone(),
        std::fs::metadata(&q.lock).unwrap().ino(),
    );
    assert_eq!(q.held.release().unwrap(), Released::HandedOver);
    let got = q.waiter.join().unwrap().unwrap();
    assert_eq!(got.how(), Acquired::HandedOver);
    assert!(got.is_held());
    assert_eq!(got.payload(), &payload, "the file's payload, unchanged");
    assert_eq!(
        std::fs::metadata(&q.lock).unwrap().ino(),
        inode,
        "the same file"
    );
    assert_eq!(on_disk(&q.lock), payload);
    assert_eq!(q.m.held(), vec![(q.lock.clone(), 1)]);
    assert_eq!(got.release().unwrap(), Released::Removed);
    assert!(q.fx.files().is_empty(), "{:?}", q.fx.files());
    assert!(q.m.held().is_empty());
}

// P11 (first come, first served, through handovers): three waiters queued one after another
// are handed the lock in arrival order, each by the one before; the last release removes it.
// Interleaving: three waiters blocked ∥ a chain of releases.
#[test]
fn p11_waiters_are_handed_the_lock_in_arrival_order() {
    let fx = Fixture::new();
    let m = fx.manager_with(10, keep_always());
    let session = fx.session("s1.jsonl");
    let held = m.try_acquire(&session).unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let waiters: Vec<_> = (0..3)
        .map(|i| {
            let (m2, s, log) = (m.clone(), session.clone(), log.clone());
            let h = std::thread::spawn(move || {
                let wait = AcquireOptions {
                    reentrant: false,
                    timeout: Some(WATCHDOG),
                };
                let g = m2.acquire_with(&s, wait).unwrap();
                log.lock().unwrap().push((i, g.how()));
                g.release().unwrap()
            });
            assert!(eventually(|| m.queued(&session) == i + 1));
            h
        })
        .collect();
    assert_eq!(held.release().unwrap(), Released::HandedOver);
    let released: Vec<_> = waiters.into_iter().map(|h| h.join().unwrap()).collect();
    let order: Vec<_> = (0..3).map(|i| (i, Acquired::HandedOver)).collect();
    assert_eq!(*log.lock().unwrap(), order);
    assert_eq!(
        released,
        vec![
            Released::HandedOver,
            Released::HandedOver,
            Released::Removed
        ]
    );
    assert!(fx.files().is_empty(), "{:?}", fx.files());
}

// P11 (no starving another process): a file another process has marked (it waits for it) is
// released through the directory — removed, so that process can take it — and the waiter of
// this instance publishes a file of its own.
// Interleaving: a waiter of this instance blocked, another process's mark ∥ the release.
#[test]
fn p11_a_file_another_process_marked_is_removed_not_handed_over() {
    let q = held_and_queued(keep_always());
    OsFs.mark_wanted(&q.lock);
    assert_eq!(q.held.release().unwrap(), Released::Removed);
    assert_eq!(q.waiter.join().unwrap().unwrap().how(), Acquired::Fresh);
}

// P1, P2 (a handover never makes a second owner): a holder whose file was replaced under it
// (here, by a file of its pid with another nonce) hands nothing over and deletes nothing; the
// waiter judges the file it finds like any contender (a previous instance's: reclaimed).
// Interleaving: a waiter blocked, the file replaced ∥ the release.
#[test]
fn p2_a_file_no_longer_ours_is_never_handed_over() {
    let q = held_and_queued(keep_always());
    let other = planted(10, Some("another-instance"), Duration::ZERO);
    let tmp = q.fx.dir.path().join("replacement");
    std::fs::write(&tmp, other.to_bytes()).unwrap();
    std::fs::rename(&tmp, &q.lock).unwrap();
    assert_eq!(q.held.release().unwrap(), Released::NotOurs);
    let got = q.waiter.join().unwrap().unwrap();
    assert_eq!(
        got.how(),
        Acquired::Reclaimed(StaleReason::NonceMismatch),
        "judged as any contender would"
    );
    assert_ne!(got.payload(), &other);
}

// P11 (no handover where it would bypass an older claim): a fair instance (older waiters of
// other processes hold tickets), a file that declares a maximum hold (its createdAt starts it),
// and a zero bound each release through the directory; the waiter publishes its own file.
// Interleaving: a waiter blocked ∥ the release, under each policy.
#[test]
fn p11_fair_max_hold_and_zero_keep_never_hand_over() {
    let policies = [
        Policy {
            fair: true,
            ..keep_always()
        },
        Policy {
            max_hold: Some(Duration::from_secs(3600)),
            ..keep_always()
        },
        Policy {
            handover_keep: Duration::ZERO,
            ..keep_always()
        },
    ];
    for (i, policy) in policies.into_iter().enumerate() {
        let q = held_and_queued(policy);
        assert_eq!(q.held.release().unwrap(), Released::Removed, "policy {i}");
        let got = q.waiter.join().unwrap().unwrap();
        assert_eq!(got.how(), Acquired::Fresh, "policy {i}");
    }
}

// P4, P11 (release_all with a handed-over hold): the hold a release handed over is this
// instance's like any other — release_all removes its file and revokes its guard, and the
// next acquire publishes anew.
// Interleaving: handover, then release_all, then a new acquire.
#[test]
fn p4_release_all_removes_a_handed_over_hold() {
    let q = held_and_queued(keep_always());
    assert_eq!(q.held.release().unwrap(), Released::HandedOver);
    let got = q.waiter.join().unwrap().unwrap();
    let report = q.m.release_all();
    assert_eq!(report.released, vec![q.lock.clone()]);
    assert!(!got.is_held());
    assert_eq!(got.release().unwrap(), Released::Inert);
    assert!(q.fx.files().is_empty(), "{:?}", q.fx.files());
    assert_eq!(q.m.try_acquire(&q.session).unwrap().how(), Acquired::Fresh);
}

// P16, P2 (hostile paths): a holder whose lock file was replaced by a dangling symlink or a
// FIFO hands nothing over, follows nothing, deletes nothing and does not hang; its waiter gets
// the typed "not a lock file" error, and the entry is left as it was.
// Interleaving: a waiter blocked, the file replaced by a hostile entry ∥ the release.
#[test]
fn p16_a_hostile_entry_in_place_of_the_file_is_never_handed_over() {
    type Plant = fn(&Path);
    let make: [(&str, Plant); 2] = [
        ("dangling symlink", |p| {
            std::os::unix::fs::symlink("/nonexistent/target", p).unwrap()
        }),
        ("fifo", |p| {
            let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
            // SAFETY: a valid NUL-terminated path; mkfifo has no memory effects on us.
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        }),
    ];
    for (what, plant) in make {
        let q = held_and_queued(keep_always());
        std::fs::remove_file(&q.lock).unwrap();
        plant(&q.lock);
        assert_eq!(q.held.release().unwrap(), Released::NotOurs, "{what}");
        match q.waiter.join().unwrap() {
            Err(LockError::NotRegular { .. }) => {}
            other => panic!("{what}: expected a typed not-a-lock-file error, got {other:?}"),
        }
        let kind = std::fs::symlink_metadata(&q.lock).unwrap().file_type();
        assert!(
            kind.is_symlink() || kind.is_fifo(),
            "{what}: left as it was"
        );
    }
}
