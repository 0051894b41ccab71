//! The Rust side of `benches/peers/run.sh`: the loop every peer driver runs, whatever lock it
//! takes (`peer-lockcore`, `peer-flock`; the Python and Node drivers do the same in their
//! languages).
//!
//! ```text
//! peer-<name> uncontended <path> <iterations>
//! peer-<name> contended <path> <rounds> [<start at, ms since the epoch>]
//! ```
//! `uncontended`: 10 untimed acquire + release, then `iterations` timed ones; prints
//! `{"peer", "version", "mode", "ops", "us_per_op"}`. `contended`: sleeps until the start time
//! (so that the script's K processes start together), then `rounds` acquire + release with the
//! time of each acquire (its wait); prints `{"peer", "version", "mode", "rounds", "start_us",
//! "end_us", "p50_wait_us", "p99_wait_us", "max_wait_us"}`, the times in µs since the epoch.
//! One JSON line on stdout; errors on stderr, exit 2.

use crate::stats::Summary;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

type Result<T> = std::result::Result<T, String>;

/// Untimed rounds before an uncontended measurement (file-system caches, lazy set-up).
pub const WARM_UP: u64 = 10;

/// What the script asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// One process, `iterations` acquire + release.
    Uncontended { iterations: u64 },
    /// One of K processes, `rounds` acquire + release, starting at `start_at_ms`.
    Contended {
        rounds: u64,
        start_at_ms: Option<u64>,
    },
}

/// Parses `<mode> <path> <iterations> [<start at ms>]`.
pub fn parse_args(args: &[String]) -> Result<(Mode, PathBuf)> {
    let usage =
        "usage: <uncontended|contended> <path> <iterations> [<start at, ms since the epoch>]";
    let (mode, path, n, start) = match args {
        [m, p, n] => (m, p, n, None),
        [m, p, n, s] => (m, p, n, Some(s)),
        _ => return Err(usage.into()),
    };
    let n: u64 = n.parse().map_err(|e| format!("iterations `{n}`: {e}"))?;
    let start_at_ms = match start {
        Some(s) => Some(s.parse().map_err(|e| format!("start time `{s}`: {e}"))?),
        None => None,
    };
    let mode = match mode.as_str() {
        "uncontended" if start_at_ms.is_none() => Mode::Uncontended { iterations: n },
        "contended" => Mode::Contended {
            rounds: n,
            start_at_ms,
        },
        _ => return Err(usage.into()),
    };
    if n == 0 {
        return Err("iterations must be positive".into());
    }
    Ok((mode, PathBuf::from(path)))
}

fn since_epoch() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Runs `mode` with `acquire` (which returns a guard; dropping it releases) and returns the
/// JSON line.
pub fn run<G>(
    peer: &str,
    version: &str,
    mode: &Mode,
    mut acquire: impl FnMut() -> Result<G>,
) -> Result<String> {
    let head = format!("\"peer\": \"{peer}\", \"version\": \"{version}\"");
    match *mode {
        Mode::Uncontended { iterations } => {
            for _ in 0..WARM_UP {
                drop(acquire()?);
            }
            let t0 = Instant::now();
            for _ in 0..iterations {
                drop(acquire()?);
            }
            let per_op = t0.elapsed() / u32::try_from(iterations).unwrap_or(u32::MAX);
            Ok(format!(
                "{{{head}, \"mode\": \"uncontended\", \"ops\": {iterations}, \"us_per_op\": {:.2}}}",
                us(per_op)
            ))
        }
        Mode::Contended {
            rounds,
            start_at_ms,
        } => {
            if let Some(ms) = start_at_ms {
                std::thread::sleep(Duration::from_millis(ms).saturating_sub(since_epoch()));
            }
            let start = since_epoch();
            let mut waits = Vec::with_capacity(rounds as usize);
            for _ in 0..rounds {
                let t0 = Instant::now();
                let guard = acquire()?;
                waits.push(t0.elapsed());
                drop(guard);
            }
            let end = since_epoch();
            let w = Summary::of(waits);
            Ok(format!(
                "{{{head}, \"mode\": \"contended\", \"rounds\": {rounds}, \"start_us\": {}, \
                 \"end_us\": {}, \"p50_wait_us\": {:.1}, \"p99_wait_us\": {:.1}, \
                 \"max_wait_us\": {:.1}}}",
                start.as_micros(),
                end.as_micros(),
                us(w.p50),
                us(w.p99),
                us(w.max)
            ))
        }
    }
}

/// A driver's `main`: parses the arguments, runs, prints the line; exit 2 with the message on
/// stderr on any error.
pub fn main<G, F: FnMut() -> Result<G>>(
    peer: &str,
    version: &str,
    make_acquire: impl FnOnce(PathBuf) -> Result<F>,
) {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let line = parse_args(&args).and_then(|(mode, path)| {
        let acquire = make_acquire(path)?;
        run(peer, version, &mode, acquire)
    });
    match line {
        Ok(line) => println!("{line}"),
        Err(e) => {
            eprintln!("peer-{peer}: {e}");
            std::process::exit(2);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_both_modes() {
        let (m, p) = parse_args(&args(&["uncontended", "/x", "5"])).unwrap();
        assert_eq!(
            (m, p),
            (Mode::Uncontended { iterations: 5 }, PathBuf::from("/x"))
        );
        let (m, _) = parse_args(&args(&["contended", "/x", "3", "17"])).unwrap();
        assert_eq!(
            m,
            Mode::Contended {
                rounds: 3,
                start_at_ms: Some(17)
            }
        );
        assert!(parse_args(&args(&["contended", "/x"])).is_err());
        assert!(parse_args(&args(&["uncontended", "/x", "0"])).is_err());
        assert!(parse_args(&args(&["uncontended", "/x", "5", "17"])).is_err());
    }

    #[test]
    fn prints_one_json_line() {
        let mut n = 0;
        let line = run("t", "1", &Mode::Uncontended { iterations: 4 }, || {
            n += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(n, 4 + WARM_UP);
        assert!(line.starts_with(
            "{\"peer\": \"t\", \"version\": \"1\", \"mode\": \"uncontended\", \"ops\": 4,"
        ));
        let line = run(
            "t",
            "1",
            &Mode::Contended {
                rounds: 3,
                start_at_ms: None,
            },
            || Ok(()),
        )
        .unwrap();
        assert!(line.contains("\"rounds\": 3,") && line.contains("\"max_wait_us\": "));
        assert!(!line.contains('\n'));
    }
}
