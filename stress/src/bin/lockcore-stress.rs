//! `lockcore-stress`: one stress run from the command line, e.g. to replay a seed:
//!
//! ```sh
//! cargo build -p lockcore-cli -p lockcore-stress --features lockcore-stress/mutants
//! target/debug/lockcore-stress --seed 1 --seconds 20 [--workers 6] [--sessions 3] [--mutant ID] [--aggressive]
//! ```
//!
//! It finds `stress-worker` and `lockcore` beside itself, prints the seed, the counts and every
//! violation with its window, and exits 1 if there was one.

use lockcore_stress::checker::render;
use lockcore_stress::driver::{cli_beside, run, Config};
use std::process::ExitCode;

fn config() -> Result<Config, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut cfg = Config {
        seed: 1,
        seconds: 20.0,
        workers: 6,
        sessions: 3,
        worker_exe: exe.with_file_name("stress-worker"),
        cli: cli_beside(&exe),
        mutant: None,
        aggressive: false,
        strace: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--seed" => cfg.seed = val()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--seconds" => cfg.seconds = val()?.parse().map_err(|e| format!("--seconds: {e}"))?,
            "--workers" => cfg.workers = val()?.parse().map_err(|e| format!("--workers: {e}"))?,
            "--sessions" => {
                cfg.sessions = val()?.parse().map_err(|e| format!("--sessions: {e}"))?
            }
            "--mutant" => cfg.mutant = Some(val()?),
            "--aggressive" => cfg.aggressive = true,
            "--no-strace" => cfg.strace = false,
            "--no-cli" => cfg.cli = None,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(cfg)
}

fn main() -> ExitCode {
    let cfg = match config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("lockcore-stress: {e}");
            return ExitCode::from(2);
        }
    };
    println!(
        "stress: seed {} (replay with --seed {})",
        cfg.seed, cfg.seed
    );
    let out = match run(&cfg) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("lockcore-stress: {e}");
            return ExitCode::from(2);
        }
    };
    println!(
        "stress: {:.1} s, {} workers, {} operations, {} holds, {} nemesis events, {} violation(s)",
        out.seconds,
        out.workers,
        out.operations,
        out.holds,
        out.nemesis_events,
        out.violations.len()
    );
    for n in &out.notes {
        println!("stress: note: {n}");
    }
    for e in &out.errors {
        println!("stress: error: {e}");
    }
    for v in out.violations.iter().take(5) {
        print!("{}", render(v, out.start_ns));
    }
    if let Some(d) = &out.dir {
        println!("stress: histories kept in {}", d.display());
    }
    if out.violations.is_empty() && out.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
