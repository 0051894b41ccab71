//! `release_all`: everything released before the nonce rotates, acquisitions in progress
//! drained behind its gate, and guards of its snapshot.

use super::*;

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

// P3/P4 (the release_all gate, on the real clock): a release_all that starts while an
// acquisition of this instance is inside the file system closes the gate, waits on the
// registry's condition variable until that acquisition has registered, then releases it too.
// Interleaving: publish of `slow` stalled ∥ release_all waiting ∥ a newcomer turned away.
#[test]
fn release_all_waits_for_an_acquisition_in_progress_on_the_real_clock() {
    let fx = Fixture::new();
    let (m, stalled, go) = stalled_publish(&fx);
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
