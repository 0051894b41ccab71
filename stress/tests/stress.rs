//! The stress layer (DESIGN §7): worker processes under a seeded nemesis, their histories
//! checked for P1 (exclusion), P2 (owner-checked delete), P11 (no unexplained wait), P13 (a
//! refreshed lease is never taken) and P15 (no write after a compromise).
//!
//! Budget from `LOCKCORE_STRESS`: unset, a smoke run of a few seconds (plain `cargo test`);
//! `quick`, about 30 s (a 20 s run and its twin); `full`, about 3 min. With the `mutants`
//! feature the twin runs too: the same stress with a mutant that double-grants, which the
//! checker must catch. The result goes to `$LOCKCORE_RESULTS_DIR/stress.json` when that is set
//! (`lockcore_results::Record::Stress`).
//! Replay a run with `lockcore-stress --seed N` (see the README's "The stress layer").

use lockcore_results::{Record, StressTwin as Twin};
use lockcore_stress::checker::render;
use lockcore_stress::driver::{cli_beside, run, Config, Outcome};
use lockcore_stress::results;
use std::path::PathBuf;

/// The run's fixed seed; `LOCKCORE_STRESS_SEED` replays another.
const SEED: u64 = 20_261_127;
/// The twin's mutant: every contended acquirer takes a live holder's lock as stale.
#[cfg(feature = "mutants")]
const TWIN_MUTANT: &str = "nonce-any-pid";

struct Budget {
    name: String,
    seconds: f64,
    workers: usize,
    twin_seconds: f64,
}

fn budget() -> Budget {
    let name = std::env::var(results::BUDGET_VAR).unwrap_or_default();
    let (seconds, workers, twin_seconds) = match name.as_str() {
        "full" => (165.0, 6, 10.0),
        "quick" => (22.0, 6, 5.0),
        _ => (3.0, 4, 2.0),
    };
    let name = if name.is_empty() {
        "smoke".into()
    } else {
        name
    };
    Budget {
        name,
        seconds,
        workers,
        twin_seconds,
    }
}

fn seed() -> u64 {
    std::env::var("LOCKCORE_STRESS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SEED)
}

fn config(seconds: f64, workers: usize) -> Config {
    let worker_exe = PathBuf::from(env!("CARGO_BIN_EXE_stress-worker"));
    let cli = cli_beside(&worker_exe);
    Config {
        seed: seed(),
        seconds,
        workers,
        sessions: 3,
        cli,
        worker_exe,
        mutant: None,
        aggressive: false,
        strace: true,
    }
}

fn summary(what: &str, replay: &str, o: &Outcome) {
    println!(
        "stress: {what}: seed {} (replay: lockcore-stress --seed {}{replay}), {:.1} s, {} workers, {} operations, \
         {} holds, {} nemesis events, {} violation(s)",
        o.seed, o.seed, o.seconds, o.workers, o.operations, o.holds, o.nemesis_events, o.violations.len()
    );
    for n in &o.notes {
        println!("stress: {what}: skipped part: {n}");
    }
}

#[cfg(feature = "mutants")]
fn twin(b: &Budget) -> Option<Twin> {
    let cfg = Config {
        mutant: Some(TWIN_MUTANT.into()),
        aggressive: true,
        ..config(b.twin_seconds, b.workers)
    };
    let o = run(&cfg).expect("twin run");
    let replay = format!(
        " --seconds {} --mutant {TWIN_MUTANT} --aggressive",
        b.twin_seconds
    );
    summary(&format!("twin {TWIN_MUTANT}"), &replay, &o);
    let first = o.violations.first();
    if let Some(v) = first {
        println!(
            "stress: twin {TWIN_MUTANT}: caught, {} after {:.3} s; window:\n{}",
            v.property,
            o.first_violation_s().unwrap_or(0.0),
            render(v, o.start_ns)
        );
    }
    if let Some(d) = &o.dir {
        let _ = std::fs::remove_dir_all(d);
    }
    Some(Twin {
        mutant: TWIN_MUTANT.into(),
        caught: first.is_some(),
        property: first.map(|v| v.property.to_string()),
        seconds: o.first_violation_s(),
        seed: o.seed,
    })
}

#[cfg(not(feature = "mutants"))]
fn twin(b: &Budget) -> Option<Twin> {
    println!(
        "stress: twin ({} s) skipped: built without the `mutants` feature (--features mutants)",
        b.twin_seconds
    );
    None
}

fn write_results(b: &Budget, main: &Outcome, twin: Option<&Twin>) {
    // A relative `$LOCKCORE_RESULTS_DIR` is taken from the workspace root, like every layer's.
    match Record::Stress(results::document(&b.name, main, twin)).write() {
        Ok(Some(path)) => println!("stress: results in {}", path.display()),
        Ok(None) => {}
        Err(e) => panic!("stress.json: {e}"),
    }
}

#[test]
fn stress_under_nemesis_finds_no_violation_and_its_twin_is_caught() {
    let b = budget();
    let main = run(&config(b.seconds, b.workers)).expect("stress run");
    summary(&b.name, &format!(" --seconds {}", b.seconds), &main);
    for v in main.violations.iter().take(5) {
        println!("{}", render(v, main.start_ns));
    }
    let twin = twin(&b);
    write_results(&b, &main, twin.as_ref());
    assert!(
        main.errors.is_empty(),
        "stress harness errors: {:#?}",
        main.errors
    );
    assert!(
        main.violations.is_empty(),
        "seed {}: {} violation(s), first: {}histories kept in {:?}",
        main.seed,
        main.violations.len(),
        render(&main.violations[0], main.start_ns),
        main.dir
    );
    if let Some(t) = &twin {
        assert!(
            t.caught,
            "the twin {} (seed {}) was not caught",
            t.mutant, t.seed
        );
    }
}
