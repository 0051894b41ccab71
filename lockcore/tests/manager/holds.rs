//! Taking and holding: a busy lock, the payload on disk, re-entry and its count, typed errors
//! for bad paths, and what a guard says about itself.

use super::*;

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
