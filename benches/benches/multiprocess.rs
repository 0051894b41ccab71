//! `multiprocess/{2,4,8}`: N real processes contending for one lock file, driven through the
//! `multiproc` binary of this package (`multiprocess_fair/8`: the same with `Policy::fair`). Criterion gets the time per hold as the children measured
//! it (process start-up is not counted); once per id the bench also prints the wait and handoff
//! distribution of a fixed run of 100 rounds per process.
//!
//! `reclaim/after_sigkill`: a holder process is SIGKILLed while another waits in `acquire`; the
//! time from the kill to the waiter's guard, as the waiter reports it (`lockcore_benches::sigkill`).

criterion::criterion_main!(real::multiprocess, real::sigkill);

// A failing child makes the bench meaningless: stop with its message.
#[allow(clippy::expect_used)]
mod real {
    use criterion::{criterion_group, BenchmarkId, Criterion, SamplingMode, Throughput};
    use lockcore_benches::sigkill::{wait_before_kill, Chain};
    use lockcore_benches::stats::Summary;
    use std::path::Path;
    use std::process::Command;
    use std::time::Duration;

    const MULTIPROC: &str = env!("CARGO_BIN_EXE_multiproc");

    criterion_group! {
        name = multiprocess;
        config = Criterion::default()
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(2))
            .sample_size(10)
            .without_plots();
        targets = bench_multiprocess
    }

    criterion_group! {
        name = sigkill;
        config = Criterion::default()
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(2))
            .sample_size(10)
            .without_plots();
        targets = bench_after_sigkill
    }

    fn run(args: &[String]) -> String {
        let out = Command::new(MULTIPROC)
            .args(args)
            .output()
            .expect("run the multiproc binary");
        assert!(
            out.status.success(),
            "multiproc {args:?} failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn field(line: &str, key: &str) -> u128 {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("multiproc output lacks `{key}`: {line}"))
    }

    fn bench_multiprocess(c: &mut Criterion) {
        contention(c, "multiprocess", &[2, 4, 8], &[]);
        // The opt-in queue across processes (`Policy::fair`): a bounded tail for throughput.
        contention(c, "multiprocess_fair", &[8], &["--fair"]);
    }

    /// Group `name`: one id per process count, `multiproc` run with `extra` flags.
    fn contention(c: &mut Criterion, name: &str, counts: &[u64], extra: &[&str]) {
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Elements(1));
        let with = |mut args: Vec<String>| {
            args.extend(extra.iter().map(|a| a.to_string()));
            args
        };
        for &procs in counts {
            let mut printed = false;
            g.bench_with_input(BenchmarkId::from_parameter(procs), &procs, |b, &procs| {
                if !printed {
                    printed = true;
                    let table = run(&with(vec![
                        "--procs".into(),
                        procs.to_string(),
                        "--rounds".into(),
                        "100".into(),
                    ]));
                    print!("{name}/{procs}: {table}");
                }
                b.iter_custom(|iters| {
                    let rounds = iters.div_ceil(procs).max(1);
                    let line = run(&with(vec![
                        "--procs".into(),
                        procs.to_string(),
                        "--rounds".into(),
                        rounds.to_string(),
                        "--machine".into(),
                    ]));
                    let (span, holds) = (field(&line, "span_ns"), field(&line, "holds"));
                    // Scale the children's span to exactly `iters` holds.
                    let ns = span * u128::from(iters) / holds.max(1);
                    Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
                })
            });
        }
        g.finish();
    }

    /// `n` kills on one chain: the time from each kill to the waiter's guard.
    fn kills(chain: &mut Chain, first: u64, n: u64) -> Vec<Duration> {
        (first..first + n)
            .map(|i| {
                chain
                    .kill_once(wait_before_kill(i))
                    .unwrap_or_else(|e| panic!("reclaim/after_sigkill: {e}"))
            })
            .collect()
    }

    fn bench_after_sigkill(c: &mut Criterion) {
        let mut g = c.benchmark_group("reclaim");
        // Each iteration starts a process and waits 5-60 ms before the kill: few, even samples.
        g.sampling_mode(SamplingMode::Flat);
        // Started (with the fixed 20-kill run) only when criterion runs this id: `--list` and a
        // filter that leaves it out start nothing.
        let mut chain: Option<Chain> = None;
        let mut done = 0;
        g.bench_function("after_sigkill", |b| {
            let chain = chain.get_or_insert_with(|| {
                let mut chain = Chain::start(Path::new(MULTIPROC))
                    .unwrap_or_else(|e| panic!("reclaim/after_sigkill: {e}"));
                let fixed = Summary::of(kills(&mut chain, 0, 20));
                done = 20;
                println!("reclaim/after_sigkill (kill → waiter's guard, 20 kills): {fixed}");
                chain
            });
            b.iter_custom(|iters| {
                let total = kills(chain, done, iters).into_iter().sum();
                done += iters;
                total
            })
        });
        if let Some(chain) = chain {
            chain
                .finish()
                .unwrap_or_else(|e| panic!("reclaim/after_sigkill: {e}"));
        }
        g.finish();
    }
}
