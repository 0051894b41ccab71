//! Replayable schedules: a failing schedule is persisted to a file (shuttle's
//! `FailurePersistence::File`) and replays (`shuttle::replay_from_file`) to the same violation
//! and trace; and the same seed gives the same traces (determinism self-test).
//!
//! Every runner in this binary uses [`config`]: shuttle installs its panic hook once per
//! process with the configuration of the first run, so one configuration keeps persistence
//! predictable whichever test runs first.
#![cfg(feature = "shuttle")]

use lockcore::Mutant;
use loom_tests::harness::{last_trace, model_body};
use loom_tests::scenarios::{m1_release_all_vs_reclaim, Cfg};
use shuttle::scheduler::RandomScheduler;
use shuttle::{Config, FailurePersistence, Runner};
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;

fn schedule_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("shuttle-schedules")
}

fn config() -> Config {
    let mut c = Config::new();
    c.failure_persistence = FailurePersistence::File(Some(schedule_dir()));
    c
}

fn buggy() {
    let cfg = Cfg::shuttle(Some(Mutant::RotateBeforeCleanup));
    model_body(|| m1_release_all_vs_reclaim(&cfg));
}

fn panic_text(r: std::thread::Result<()>) -> String {
    match r {
        Ok(()) => String::new(),
        Err(p) => p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default(),
    }
}

#[test]
fn failing_schedule_is_persisted_and_replays_to_the_same_trace() {
    let dir = schedule_dir();
    let _ = std::fs::create_dir_all(&dir);
    #[allow(clippy::disallowed_methods)]
    let old = std::fs::read_dir(&dir).map(|d| d.flatten().map(|e| e.path()).collect::<Vec<_>>());
    for p in old.unwrap_or_default() {
        #[allow(clippy::disallowed_methods)]
        let _ = std::fs::remove_file(p);
    }
    let original = panic_text(panic::catch_unwind(AssertUnwindSafe(|| {
        Runner::new(RandomScheduler::new_from_seed(0x5eed_3003, 2_000), config()).run(buggy);
    })));
    assert!(
        original.starts_with("P3 violated:"),
        "not caught: {original}"
    );
    #[allow(clippy::disallowed_methods)]
    let files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("schedule dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    assert_eq!(files.len(), 1, "one persisted schedule: {files:?}");
    let replayed = panic_text(panic::catch_unwind(AssertUnwindSafe(|| {
        shuttle::replay_from_file(buggy, &files[0]);
    })));
    assert_eq!(
        replayed, original,
        "the saved schedule replays to the same violation and trace"
    );
    println!("schedule {} replays to:\n{original}", files[0].display());
}

fn traces(seed: u64) -> Vec<String> {
    let cfg = Cfg::shuttle(None);
    let out = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = out.clone();
    Runner::new(RandomScheduler::new_from_seed(seed, 5), config()).run(move || {
        model_body(|| m1_release_all_vs_reclaim(&cfg));
        if let Ok(mut v) = sink.lock() {
            v.push(last_trace());
        }
    });
    let v = out.lock().map(|v| v.clone()).unwrap_or_default();
    v
}

#[test]
fn same_seed_same_trace() {
    let a = traces(42);
    let b = traces(42);
    assert_eq!(a.len(), 5);
    assert_eq!(
        a, b,
        "the same seed must give the same schedules and traces"
    );
    assert_ne!(a, traces(43), "another seed explores other schedules");
}
