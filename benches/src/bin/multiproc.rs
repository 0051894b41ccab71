//! Multi-process contention: N real processes (copies of this binary) each do R
//! acquire/release rounds on one lock path with lockcore's `OsEnv`; the parent prints handoffs
//! per second and the wait distribution.
//!
//! ```text
//! multiproc [--procs N] [--rounds R] [--dir DIR] [--machine] [--holds FILE] [--fair]
//!           [--queue-after MS|never]
//! ```
//! `--machine` prints one `key=value` line (read by the `multiprocess` criterion bench);
//! `--holds FILE` also writes every hold, one tab-separated line each, for an analysis of the tail;
//! `--fair` runs every process with `Policy::fair` (the queue across processes);
//! `--queue-after` sets `Policy::queue_after` (default 2 ms; `never` races only).
//! Children are started as `multiproc child <session file> <rounds> [fair] [queue-after=V]`: each sets up its
//! `LockManager`, says `ready`, waits for the parent to close its stdin (so all start together),
//! runs its rounds and prints one `hold` line per round (wall-clock nanoseconds, comparable
//! across processes). `multiproc sigkill-peer <session file>` is one link of the
//! `reclaim/after_sigkill` chain (`lockcore_benches::sigkill`).

#![warn(clippy::unwrap_used, clippy::expect_used)]

fn main() {
    if let Err(e) = imp::main() {
        eprintln!("multiproc: {e}");
        std::process::exit(2);
    }
}

mod imp {
    use lockcore::{AcquireOptions, LockManager, OsEnv, Policy};
    use lockcore_benches::stats::Human;
    use lockcore_benches::{analyse, Contention, HoldRecord, CONTENDED_TIMEOUT};
    use std::io::{BufRead, BufReader, Read, Write};
    use std::path::{Path, PathBuf};
    use std::process::{Child, ChildStdout, Command, Stdio};
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    type Result<T> = std::result::Result<T, String>;

    pub fn main() -> Result<()> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        match args.first().map(String::as_str) {
            Some("child") => return child(&args[1..]),
            Some("sigkill-peer") => match &args[1..] {
                [session] => return lockcore_benches::sigkill::link(Path::new(session)),
                _ => return Err("usage: multiproc sigkill-peer <session file>".into()),
            },
            _ => {}
        }
        parent(&args)
    }

    fn wall_now() -> Duration {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
    }

    fn child(args: &[String]) -> Result<()> {
        let usage =
            || "usage: multiproc child <session file> <rounds> [fair] [queue-after=MS|never]";
        let [session, rounds, policy_words @ ..] = args else {
            return Err(usage().into());
        };
        let session = PathBuf::from(session);
        let rounds: u64 = rounds.parse().map_err(|e| format!("rounds: {e}"))?;
        let mut policy = Policy::default();
        for word in policy_words {
            match word.split_once('=') {
                None if word == "fair" => policy.fair = true,
                Some(("queue-after", v)) => policy.queue_after = parse_queue_after(v)?,
                _ => return Err(usage().into()),
            }
        }
        let mgr = LockManager::new(OsEnv::new(), policy);
        let opts = AcquireOptions {
            reentrant: true,
            timeout: Some(CONTENDED_TIMEOUT),
        };
        let mut out = std::io::stdout().lock();
        writeln!(out, "ready").map_err(|e| format!("stdout: {e}"))?;
        out.flush().map_err(|e| format!("stdout: {e}"))?;
        // The start signal: the parent closes our stdin once every child is ready.
        let mut sink = Vec::new();
        std::io::stdin()
            .read_to_end(&mut sink)
            .map_err(|e| format!("stdin: {e}"))?;
        let mut holds = Vec::with_capacity(rounds as usize);
        for _ in 0..rounds {
            let asked = wall_now();
            let guard = mgr
                .acquire_with(&session, opts)
                .map_err(|e| format!("acquire: {e}"))?;
            let acquired = wall_now();
            let released = wall_now();
            drop(guard);
            let done = wall_now();
            holds.push([asked, acquired, released, done]);
        }
        for h in holds {
            writeln!(
                out,
                "hold {} {} {} {}",
                h[0].as_nanos(),
                h[1].as_nanos(),
                h[2].as_nanos(),
                h[3].as_nanos()
            )
            .map_err(|e| format!("stdout: {e}"))?;
        }
        out.flush().map_err(|e| format!("stdout: {e}"))
    }

    struct Options {
        procs: usize,
        rounds: u64,
        dir: Option<PathBuf>,
        machine: bool,
        /// Every hold, one line each, for an analysis of the tail (who waited through what).
        holds_to: Option<PathBuf>,
        /// Every process waits in the queue across processes (`Policy::fair`).
        fair: bool,
        /// `Policy::queue_after` for every process (`None`: the default).
        queue_after: Option<String>,
    }

    /// `Policy::queue_after` from `MS` (milliseconds) or `never`.
    fn parse_queue_after(v: &str) -> Result<Duration> {
        if v == "never" {
            return Ok(Duration::MAX);
        }
        v.parse::<u64>()
            .map(Duration::from_millis)
            .map_err(|e| format!("--queue-after {v:?}: {e} (milliseconds or `never`)"))
    }

    fn parse_options(args: &[String]) -> Result<Options> {
        let mut o = Options {
            procs: 4,
            rounds: 200,
            dir: None,
            machine: false,
            holds_to: None,
            fair: false,
            queue_after: None,
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = |name: &str| {
                it.next()
                    .cloned()
                    .ok_or_else(|| format!("{name} needs a value"))
            };
            match a.as_str() {
                "--procs" => {
                    o.procs = value("--procs")?
                        .parse()
                        .map_err(|e| format!("--procs: {e}"))?
                }
                "--rounds" => {
                    o.rounds = value("--rounds")?
                        .parse()
                        .map_err(|e| format!("--rounds: {e}"))?
                }
                "--dir" => o.dir = Some(PathBuf::from(value("--dir")?)),
                "--machine" => o.machine = true,
                "--holds" => o.holds_to = Some(PathBuf::from(value("--holds")?)),
                "--fair" => o.fair = true,
                "--queue-after" => {
                    let v = value("--queue-after")?;
                    parse_queue_after(&v)?;
                    o.queue_after = Some(v);
                }
                "-h" | "--help" => {
                    return Err(
                        "usage: multiproc [--procs N] [--rounds R] [--dir DIR] [--machine] [--holds FILE] \
                         [--fair] [--queue-after MS|never]"
                            .into(),
                    )
                }
                other => return Err(format!("unknown argument `{other}` (try --help)")),
            }
        }
        if o.procs == 0 || o.rounds == 0 {
            return Err("--procs and --rounds must be positive".into());
        }
        Ok(o)
    }

    struct Running {
        child: Child,
        stdout: BufReader<ChildStdout>,
    }

    fn spawn(exe: &Path, session: &Path, rounds: u64, policy_words: &[String]) -> Result<Running> {
        let mut child = Command::new(exe);
        child.arg("child").arg(session).arg(rounds.to_string());
        child.args(policy_words);
        let mut child = child
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", exe.display()))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| "child stdout not piped".to_string())?;
        Ok(Running {
            child,
            stdout: BufReader::new(stdout),
        })
    }

    fn parse_hold(who: usize, line: &str) -> Result<HoldRecord> {
        let mut fields = line.split_whitespace();
        if fields.next() != Some("hold") {
            return Err(format!("child {who}: unexpected line `{line}`"));
        }
        let mut t = [Duration::ZERO; 4];
        for slot in &mut t {
            let ns: u64 = fields
                .next()
                .and_then(|f| f.parse().ok())
                .ok_or_else(|| format!("child {who}: bad hold line `{line}`"))?;
            *slot = Duration::from_nanos(ns);
        }
        Ok(HoldRecord {
            who,
            asked: t[0],
            acquired: t[1],
            released: t[2],
            done: t[3],
        })
    }

    /// Starts `procs` children on `session` together; returns every hold they recorded.
    fn run_children(
        exe: &Path,
        session: &Path,
        procs: usize,
        rounds: u64,
        policy_words: &[String],
    ) -> Result<Vec<HoldRecord>> {
        let mut children = Vec::with_capacity(procs);
        for _ in 0..procs {
            children.push(spawn(exe, session, rounds, policy_words)?);
        }
        for (who, c) in children.iter_mut().enumerate() {
            let mut line = String::new();
            c.stdout
                .read_line(&mut line)
                .map_err(|e| format!("child {who}: {e}"))?;
            if line.trim() != "ready" {
                return Err(format!("child {who} did not start: `{}`", line.trim()));
            }
        }
        // Go: close every stdin.
        for c in &mut children {
            drop(c.child.stdin.take());
        }
        let mut holds = Vec::new();
        for (who, mut c) in children.into_iter().enumerate() {
            let mut rest = String::new();
            c.stdout
                .read_to_string(&mut rest)
                .map_err(|e| format!("child {who}: {e}"))?;
            let status = c.child.wait().map_err(|e| format!("child {who}: {e}"))?;
            if !status.success() {
                return Err(format!("child {who} failed: {status}"));
            }
            for line in rest.lines().filter(|l| !l.trim().is_empty()) {
                holds.push(parse_hold(who, line)?);
            }
        }
        Ok(holds)
    }

    /// The `--machine` line: `key=value` pairs, times in nanoseconds.
    fn print_machine(procs: usize, r: &Contention) {
        println!(
            "procs={} holds={} span_ns={} wait_p50_ns={} wait_p90_ns={} wait_p99_ns={} \
             wait_max_ns={} gap_p50_ns={} cross_n={} cross_gap_p50_ns={} \
             cross_gap_p99_ns={} cross_free_p50_ns={}",
            procs,
            r.holds,
            r.span.as_nanos(),
            r.wait.p50.as_nanos(),
            r.wait.p90.as_nanos(),
            r.wait.p99.as_nanos(),
            r.wait.max.as_nanos(),
            r.gap_all.p50.as_nanos(),
            r.gap_cross.n,
            r.gap_cross.p50.as_nanos(),
            r.gap_cross.p99.as_nanos(),
            r.free_cross.p50.as_nanos()
        );
    }

    /// The human report: throughput, the distributions, and the RESULTS.md row.
    fn print_human(o: &Options, session: &Path, r: &Contention) {
        println!(
            "multiproc: {} processes x {} rounds on {}",
            o.procs,
            o.rounds,
            session.display()
        );
        println!(
            "  {} holds in {} → {:.0} handoffs/s",
            r.holds,
            Human(r.span),
            r.per_second()
        );
        println!("  wait (acquire call → guard): {}", r.wait);
        println!(
            "  handoff, all holds (release call → next guard): {}",
            r.gap_all
        );
        println!(
            "  handoff to another process (release call → its guard): {}",
            r.gap_cross
        );
        println!(
            "  handoff to another process (release returned → its guard): {}",
            r.free_cross
        );
        let group = if o.fair {
            "multiprocess_fair"
        } else {
            "multiprocess"
        };
        let id = format!("{group}/{}", o.procs);
        println!("  row: {}", r.row(&id, r.per_second()));
    }

    /// `who asked acquired released done` per hold (nanoseconds, unix wall clock), tab-separated.
    fn write_holds(path: &Path, holds: &[HoldRecord]) -> Result<()> {
        let mut text = String::from("who\tasked\tacquired\treleased\tdone\n");
        for h in holds {
            let ns = |d: Duration| d.as_nanos();
            text.push_str(&format!(
                "{}\t{}\t{}\t{}\t{}\n",
                h.who,
                ns(h.asked),
                ns(h.acquired),
                ns(h.released),
                ns(h.done)
            ));
        }
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
    }

    fn parent(args: &[String]) -> Result<()> {
        let o = parse_options(args)?;
        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        let tmp;
        let dir = match &o.dir {
            Some(d) => d.clone(),
            None => {
                tmp = tempfile::Builder::new()
                    .prefix("lockcore-multiproc-")
                    .tempdir()
                    .map_err(|e| format!("temp dir: {e}"))?;
                tmp.path().to_path_buf()
            }
        };
        let session = dir.join("session.json");
        let mut policy_words: Vec<String> = Vec::new();
        if o.fair {
            policy_words.push("fair".into());
        }
        if let Some(v) = &o.queue_after {
            policy_words.push(format!("queue-after={v}"));
        }
        let holds = run_children(&exe, &session, o.procs, o.rounds, &policy_words)?;
        if let Some(path) = &o.holds_to {
            write_holds(path, &holds)?;
        }
        let r = analyse(holds);
        if o.machine {
            print_machine(o.procs, &r);
        } else {
            print_human(&o, &session, &r);
        }
        if r.overlaps > 0 {
            return Err(format!(
                "MUTUAL EXCLUSION VIOLATED: {} overlapping holds",
                r.overlaps
            ));
        }
        Ok(())
    }
}
