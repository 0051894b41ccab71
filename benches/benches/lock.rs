//! lockcore's in-process benches against the bare file-system floor and a kernel `flock`.
//! Groups: `uncontended`, `reentrant`, `classify`, `contended_in_process`, `contended_instances`,
//! `parallel_sessions`, `peer`, `release_all`, `heartbeat`, `reclaim`. See `benches/README.md`.

criterion::criterion_main!(real::uncontended, real::contended, real::batch);

// Setup steps (temp dirs, planted files) may fail only if the machine is broken; a bench then
// stops with the message.
#[allow(clippy::expect_used)]
mod real {
    use criterion::{criterion_group, BatchSize, BenchmarkId, Criterion, SamplingMode, Throughput};
    use lockcore::classify::{Me, Observed};
    use lockcore::os::OsProcs;
    use lockcore::{
        classify, Acquired, Clock, Liveness, LockManager, OsEnv, Payload, Policy, Procs,
        StaleReason,
    };
    use lockcore_benches::stats::Human;
    use lockcore_benches::{
        analyse, contend, dead_pid, instance, parallel_sessions, payload_bytes,
    };
    use std::fs::{self, File, OpenOptions};
    use std::hint::black_box;
    use std::io::{Read, Write};
    use std::os::unix::fs::OpenOptionsExt;
    use std::path::{Path, PathBuf};
    use std::time::{Duration, Instant};

    /// Modest times so that `--quick` over every group stays within a few minutes on 2 cores
    /// (in quick mode the measurement time caps each id); no plots, they cost more than the runs.
    fn config() -> Criterion {
        Criterion::default()
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(1))
            .sample_size(20)
            .without_plots()
    }

    criterion_group! {
        name = uncontended;
        config = config();
        // reclaim runs here, before release_all's 10,000-file churn can slow the file system.
        targets = bench_uncontended, bench_reentrant, bench_classify, bench_peer, bench_reclaim
    }
    criterion_group! {
        name = contended;
        config = config();
        targets = bench_contended_in_process, bench_contended_instances, bench_parallel_sessions
    }
    criterion_group! {
        name = batch;
        config = config();
        targets = bench_release_all, bench_heartbeat
    }

    fn tempdir() -> tempfile::TempDir {
        tempfile::Builder::new()
            .prefix("lockcore-bench-")
            .tempdir()
            .expect("create a temp dir")
    }

    fn os_manager() -> LockManager<OsEnv> {
        LockManager::new(OsEnv::new(), Policy::default())
    }

    /// Bytes the size of lockcore's own lock files (same fields).
    fn own_payload() -> Vec<u8> {
        let os = OsProcs::current();
        let now = lockcore::os::OsClock.now_wall_ms();
        payload_bytes(os.identity().pid, os.identity().host, now)
    }

    fn create_new(path: &Path) -> File {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(path)
            .expect("floor: exclusive create")
    }

    /// The protocol's file-system steps, no logic: temp file, link, unlink temp, unlink lock.
    fn floor_once(tmp: &Path, lock: &Path, bytes: &[u8]) {
        let mut f = create_new(tmp);
        f.write_all(bytes).expect("floor: write");
        drop(f);
        fs::hard_link(tmp, lock).expect("floor: link");
        fs::remove_file(tmp).expect("floor: unlink temp");
        fs::remove_file(lock).expect("floor: unlink lock");
    }

    /// The floor with a temp file that has no name (`O_TMPFILE`, `linkat(AT_EMPTY_PATH)`), as
    /// lockcore publishes where the file system allows: no temp entry to create and remove.
    fn floor_unnamed_once(dir: &Path, lock: &Path, bytes: &[u8]) {
        publish_unnamed(dir, lock, bytes);
        fs::remove_file(lock).expect("floor_unnamed: unlink lock");
    }

    /// Writes `bytes` into a file with no name in `dir` and links it at `lock`.
    fn publish_unnamed(dir: &Path, lock: &Path, bytes: &[u8]) {
        use std::os::fd::AsRawFd;
        use std::os::unix::ffi::OsStrExt;
        let mut f = OpenOptions::new()
            .write(true)
            .mode(0o644)
            .custom_flags(libc::O_TMPFILE | libc::O_CLOEXEC)
            .open(dir)
            .expect("floor_unnamed: O_TMPFILE");
        f.write_all(bytes).expect("floor_unnamed: write");
        let dst = std::ffi::CString::new(lock.as_os_str().as_bytes()).expect("no NUL in the path");
        // SAFETY: both strings are NUL-terminated and live across the call; `f` is open.
        let rc = unsafe {
            libc::linkat(
                f.as_raw_fd(),
                c"".as_ptr(),
                libc::AT_FDCWD,
                dst.as_ptr(),
                libc::AT_EMPTY_PATH,
            )
        };
        assert_eq!(
            rc,
            0,
            "floor_unnamed: linkat: {}",
            std::io::Error::last_os_error()
        );
    }

    /// The historic TypeScript sequence: exclusive create, write, close, unlink.
    fn floor_excl_once(lock: &Path, bytes: &[u8]) {
        let mut f = create_new(lock);
        f.write_all(bytes).expect("floor_excl: write");
        drop(f);
        fs::remove_file(lock).expect("floor_excl: unlink");
    }

    /// The floor plus the checked release lockcore does (directory `flock`, read back, compare,
    /// unlink, close): every system call of an uncontended acquire + release, still no logic.
    /// Used only in the interleaved comparison, to split lockcore's cost over the floor.
    fn floor_checked_once(dir: &Path, tmp: &Path, lock: &Path, bytes: &[u8]) {
        let mut f = create_new(tmp);
        f.write_all(bytes).expect("floor: write");
        drop(f);
        fs::hard_link(tmp, lock).expect("floor: link");
        fs::remove_file(tmp).expect("floor: unlink temp");
        checked_release(dir, lock, bytes);
    }

    /// lockcore's release without its logic: the directory's `flock`, read back, compare, unlink.
    fn checked_release(dir: &Path, lock: &Path, bytes: &[u8]) {
        let d = File::open(dir).expect("open dir");
        d.lock().expect("flock dir");
        let mut back = Vec::new();
        File::open(lock)
            .and_then(|f| f.take(4097).read_to_end(&mut back))
            .expect("read back");
        assert_eq!(back, bytes, "read back what was written");
        fs::remove_file(lock).expect("floor: unlink lock");
        drop(d);
    }

    /// [`floor_checked_once`] with an unnamed temp file, as lockcore publishes: exactly the
    /// system calls of lockcore's uncontended acquire + release, so lockcore over this is what
    /// its logic costs (path resolution, payload, token, registry).
    fn floor_unnamed_checked_once(dir: &Path, lock: &Path, bytes: &[u8]) {
        publish_unnamed(dir, lock, bytes);
        checked_release(dir, lock, bytes);
    }

    /// Median per-op time of each variant over interleaved blocks (rotating the order every
    /// block), so that every variant sees the same machine load: the ratio stays meaningful on a
    /// busy machine where sequential criterion runs drift.
    fn interleaved(variants: &mut [(&str, &mut dyn FnMut())], blocks: usize, per_block: u32) {
        let k = variants.len();
        let mut times = vec![Vec::with_capacity(blocks); k];
        for block in 0..blocks {
            for j in 0..k {
                let v = (block + j) % k;
                let t0 = Instant::now();
                for _ in 0..per_block {
                    (variants[v].1)();
                }
                times[v].push(t0.elapsed() / per_block);
            }
        }
        let medians: Vec<Duration> = times
            .into_iter()
            .map(|t| lockcore_benches::stats::Summary::of(t).p50)
            .collect();
        let base = medians[0].as_secs_f64().max(1e-12);
        let parts: Vec<String> = variants
            .iter()
            .zip(&medians)
            .map(|((name, _), m)| format!("{name} {} ({:.2}x)", Human(*m), m.as_secs_f64() / base))
            .collect();
        println!(
            "uncontended interleaved ({blocks} blocks of {per_block}, median per op, x {}): {}",
            variants[0].0,
            parts.join(", ")
        );
    }

    fn bench_uncontended(c: &mut Criterion) {
        let mut g = c.benchmark_group("uncontended");
        // The headline ratio (lockcore over floor): more samples than the other groups.
        g.measurement_time(Duration::from_secs(2)).sample_size(40);
        let bytes = own_payload();
        // One directory for every variant: ext4 allocates a new file's inode near its
        // directory's, and that allocation (skipping recently deleted inodes) is most of the
        // cost, so variants in different directories would not be comparable.
        let dir = tempdir();
        let tmp = dir.path().join(".session.json.lock.tmp");
        let lock = dir.path().join("session.json.lock");
        let session = dir.path().join("session.json");
        let mgr = os_manager();

        g.bench_function("floor", |b| b.iter(|| floor_once(&tmp, &lock, &bytes)));
        g.bench_function("floor_excl", |b| b.iter(|| floor_excl_once(&lock, &bytes)));
        let mut printed = false;
        g.bench_function("lockcore", |b| {
            if !printed {
                printed = true;
                let fd = dir.path();
                let mut unique = 0u64;
                interleaved(
                    &mut [
                        ("floor", &mut || floor_once(&tmp, &lock, &bytes)),
                        ("floor_excl", &mut || floor_excl_once(&lock, &bytes)),
                        ("floor, unnamed temp", &mut || {
                            floor_unnamed_once(fd, &lock, &bytes)
                        }),
                        ("floor+checked release", &mut || {
                            floor_checked_once(fd, &tmp, &lock, &bytes)
                        }),
                        ("floor, unnamed temp + checked release", &mut || {
                            floor_unnamed_checked_once(fd, &lock, &bytes)
                        }),
                        ("... + unique temp names", &mut || {
                            unique += 1;
                            let tmp = fd.join(format!(".session.json.lock.{unique:016x}.lktmp"));
                            floor_checked_once(fd, &tmp, &lock, &bytes)
                        }),
                        ("lockcore", &mut || {
                            drop(mgr.try_acquire(&session).expect("try_acquire"))
                        }),
                    ],
                    100,
                    10,
                );
            }
            b.iter(|| {
                let guard = mgr.try_acquire(&session).expect("uncontended try_acquire");
                drop(black_box(guard));
            })
        });
        g.finish();
    }

    fn bench_reentrant(c: &mut Criterion) {
        let mut g = c.benchmark_group("reentrant");
        let dir = tempdir();
        let session = dir.path().join("session.json");
        let mgr = os_manager();
        let outer = mgr.try_acquire(&session).expect("outer acquire");
        let inner = mgr.try_acquire(&session).expect("inner acquire");
        assert_eq!(inner.how(), Acquired::Reentered, "second acquire re-enters");
        drop(inner);
        g.bench_function("lockcore", |b| {
            b.iter(|| {
                let guard = mgr.try_acquire(&session).expect("reentrant acquire");
                drop(black_box(guard));
            })
        });
        drop(outer);
        g.finish();
    }

    fn bench_classify(c: &mut Criterion) {
        let mut g = c.benchmark_group("classify");
        let me_procs = OsProcs::current();
        let identity = me_procs.identity();
        let now_ms = lockcore::os::OsClock.now_wall_ms();
        // Another live process on this host, every field set: the longest path through the table
        // (parse all fields, host check, pid differs, probe, start-time check, age rule).
        let other_pid = if identity.pid == 1 { 2 } else { 1 };
        let bytes = payload_bytes(other_pid, identity.host.clone(), now_ms - 1_000);
        let nonce = "11111111-2222-4333-8444-555555555555";
        let me = Me {
            identity: &identity,
            nonce,
            in_flight: false,
            boot_ms: None,
        };
        let policy = Policy::default();
        // A pure probe: the bench measures parsing and the decision table, not the kill(2).
        let mut probe = |_pid: u32| (Liveness::Alive, Some(123_456));
        g.bench_function("parse_and_classify", |b| {
            b.iter(|| {
                let parsed = Payload::parse(black_box(&bytes));
                let observed = Observed {
                    payload: parsed.as_ref(),
                    mtime_age_ms: 1_000,
                    now_ms,
                };
                black_box(classify(&observed, &me, &policy, &mut probe))
            })
        });
        g.finish();
    }

    fn bench_peer(c: &mut Criterion) {
        let mut g = c.benchmark_group("peer");
        let dir = tempdir();
        let file = File::create(dir.path().join("session.json.flock")).expect("flock file");
        g.bench_function("flock", |b| {
            b.iter(|| {
                file.lock().expect("flock");
                file.unlock().expect("funlock");
            })
        });
        g.finish();
    }

    /// Prints the latency distribution of one fixed-size contention run (once per id).
    fn print_contention<E: lockcore::Env>(
        id: &str,
        managers: &[LockManager<E>],
        session: &Path,
        holds: u64,
    ) {
        let (elapsed, records) = contend(managers, session, holds, true);
        let r = analyse(records);
        println!(
            "{id}: {} holds in {} ({:.0}/s)\n  wait (acquire call → guard): {}\n  \
             handoff, all holds (release call → next guard): {}\n  \
             handoff to another contender (release call → its guard): {}\n  \
             handoff to another contender (release returned → its guard): {}",
            r.holds,
            Human(elapsed),
            r.holds as f64 / elapsed.as_secs_f64().max(1e-9),
            r.wait,
            r.gap_all,
            r.gap_cross,
            r.free_cross
        );
        println!(
            "  row: {}",
            r.row(id, r.holds as f64 / elapsed.as_secs_f64().max(1e-9))
        );
        if r.overlaps > 0 {
            println!(
                "{id}: MUTUAL EXCLUSION VIOLATED: {} overlapping holds",
                r.overlaps
            );
        }
    }

    fn bench_contended_in_process(c: &mut Criterion) {
        let mut g = c.benchmark_group("contended_in_process");
        g.throughput(Throughput::Elements(1));
        for threads in [1usize, 2, 4, 8] {
            let dir = tempdir();
            let session = dir.path().join("session.json");
            let mgr = os_manager();
            let managers = vec![mgr; threads];
            let mut printed = false;
            g.bench_with_input(BenchmarkId::from_parameter(threads), &threads, |b, _| {
                if !printed {
                    printed = true;
                    let id = format!("contended_in_process/{threads}");
                    let before = managers[0].instance_waits();
                    print_contention(&id, &managers, &session, 2000);
                    let after = managers[0].instance_waits();
                    // Wake-ups per hold: a release that notified every waiter (not just the
                    // oldest) shows here whatever the disk's speed.
                    println!(
                        "  in-instance waits over 2000 holds: {} notifications, {} woken, {} timed out",
                        after.notified - before.notified,
                        after.woken - before.woken,
                        after.timed_out - before.timed_out
                    );
                }
                b.iter_custom(|iters| contend(&managers, &session, iters, false).0)
            });
        }
        g.finish();
    }

    fn bench_contended_instances(c: &mut Criterion) {
        let mut g = c.benchmark_group("contended_instances");
        g.throughput(Throughput::Elements(1));
        g.sample_size(10);
        g.measurement_time(Duration::from_secs(2));
        for instances in [2u32, 4, 8] {
            let dir = tempdir();
            let session = dir.path().join("session.json");
            let managers: Vec<_> = (0..instances).map(instance).collect();
            let mut printed = false;
            g.bench_with_input(
                BenchmarkId::from_parameter(instances),
                &instances,
                |b, _| {
                    if !printed {
                        printed = true;
                        let id = format!("contended_instances/{instances}");
                        print_contention(&id, &managers, &session, 1000);
                    }
                    b.iter_custom(|iters| contend(&managers, &session, iters, false).0)
                },
            );
        }
        g.finish();
    }

    /// Holds per second of a fixed parallel-sessions run, one thread per session.
    fn parallel_rate(mgr: &LockManager<OsEnv>, sessions: &[PathBuf], holds: u64) -> f64 {
        holds as f64
            / parallel_sessions(mgr, sessions, holds)
                .as_secs_f64()
                .max(1e-9)
    }

    /// `holds` rounds of the bare floor (temp, link, unlink both) shared by one thread per
    /// `(temp, lock)` pair: what the file system itself allows, to hold lockcore's scaling against.
    fn floor_parallel_rate(pairs: &[(PathBuf, PathBuf)], holds: u64) -> f64 {
        let bytes = own_payload();
        let tickets = std::sync::atomic::AtomicU64::new(0);
        let start = Instant::now();
        std::thread::scope(|s| {
            for (tmp, lock) in pairs {
                let (tickets, bytes) = (&tickets, &bytes);
                s.spawn(move || {
                    while tickets.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < holds {
                        floor_once(tmp, lock, bytes);
                    }
                });
            }
        });
        holds as f64 / start.elapsed().as_secs_f64().max(1e-9)
    }

    /// N threads of one manager, each locking its own session: how the manager scales when
    /// nothing contends for a lock. Prints each id's throughput as a ratio to `/1`, from fixed
    /// runs interleaved with `/1` runs (so both see the same load).
    fn bench_parallel_sessions(c: &mut Criterion) {
        let mut g = c.benchmark_group("parallel_sessions");
        g.throughput(Throughput::Elements(1));
        let dir = tempdir();
        let mgr = os_manager();
        let sessions: Vec<PathBuf> = (0..8)
            .map(|i| dir.path().join(format!("s{i}.json")))
            .collect();
        let floor_dir = tempdir();
        let floor_pairs: Vec<(PathBuf, PathBuf)> = (0..8)
            .map(|i| {
                let d = floor_dir.path();
                (d.join(format!("f{i}.tmp")), d.join(format!("f{i}.lock")))
            })
            .collect();
        let own_dirs: Vec<tempfile::TempDir> = (0..8).map(|_| tempdir()).collect();
        let own_dir_pairs: Vec<(PathBuf, PathBuf)> = own_dirs
            .iter()
            .map(|d| (d.path().join("f.tmp"), d.path().join("f.lock")))
            .collect();
        for threads in [1usize, 2, 4, 8] {
            let mine = &sessions[..threads];
            let mut printed = false;
            g.bench_with_input(BenchmarkId::from_parameter(threads), &threads, |b, _| {
                if !printed {
                    printed = true;
                    let (mut one, mut n) = (0.0, 0.0);
                    let (mut floor_one, mut floor_n, mut floor_dirs) = (0.0, 0.0, 0.0);
                    for _ in 0..3 {
                        one += parallel_rate(&mgr, &sessions[..1], 500);
                        n += parallel_rate(&mgr, mine, 500);
                        floor_one += floor_parallel_rate(&floor_pairs[..1], 500);
                        floor_n += floor_parallel_rate(&floor_pairs[..threads], 500);
                        floor_dirs += floor_parallel_rate(&own_dir_pairs[..threads], 500);
                    }
                    println!(
                        "parallel_sessions/{threads}: {:.0} holds/s, {:.2}x parallel_sessions/1 \
                         ({:.0} holds/s); the bare floor with {threads} threads scales {:.2}x in one \
                         directory, {:.2}x in one directory each (3 interleaved rounds of 500-hold runs)",
                        n / 3.0,
                        n / one.max(1e-9),
                        one / 3.0,
                        floor_n / floor_one.max(1e-9),
                        floor_dirs / floor_one.max(1e-9)
                    );
                }
                b.iter_custom(|iters| parallel_sessions(&mgr, mine, iters))
            });
        }
        g.finish();
    }

    fn bench_release_all(c: &mut Criterion) {
        let mut g = c.benchmark_group("release_all");
        g.sample_size(10);
        g.sampling_mode(SamplingMode::Flat);
        g.measurement_time(Duration::from_secs(2));
        for n in [10usize, 100, 1000, 10_000] {
            let dir = tempdir();
            let sessions: Vec<PathBuf> = (0..n)
                .map(|i| dir.path().join(format!("s{i:05}.json")))
                .collect();
            let mgr = os_manager();
            g.throughput(Throughput::Elements(n as u64));
            g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
                b.iter_custom(|iters| {
                    let mut timed = Duration::ZERO;
                    for _ in 0..iters {
                        let guards: Vec<_> = sessions
                            .iter()
                            .map(|s| mgr.try_acquire(s).expect("release_all setup: acquire"))
                            .collect();
                        let t0 = Instant::now();
                        let report = black_box(mgr.release_all());
                        timed += t0.elapsed();
                        assert_eq!(report.released.len(), n, "release_all removed every lock");
                        drop(guards); // inert after release_all; not timed
                    }
                    timed
                })
            });
        }
        g.finish();
    }

    /// One lease refresh round (`LockManager::refresh`) over N held locks: per lock, the
    /// directory's reclaim `flock`, an open, a read-back compare and a `futimens`.
    fn bench_heartbeat(c: &mut Criterion) {
        let mut g = c.benchmark_group("heartbeat");
        g.sample_size(10);
        g.sampling_mode(SamplingMode::Flat);
        g.measurement_time(Duration::from_secs(2));
        for n in [10usize, 1000, 10_000] {
            let dir = tempdir();
            let mgr = os_manager();
            // The bench calls `refresh` itself: no heartbeat thread competes with it.
            mgr.use_manual_heartbeat();
            let guards: Vec<_> = (0..n)
                .map(|i| dir.path().join(format!("s{i:05}.json")))
                .map(|s| mgr.try_acquire(&s).expect("heartbeat setup: acquire"))
                .collect();
            g.throughput(Throughput::Elements(n as u64));
            g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
                b.iter(|| {
                    let report = black_box(mgr.refresh());
                    assert_eq!(report.refreshed.len(), n, "every held lock refreshed");
                })
            });
            drop(guards);
        }
        g.finish();
    }

    fn bench_reclaim(c: &mut Criterion) {
        let mut g = c.benchmark_group("reclaim");
        let dir = tempdir();
        let session = dir.path().join("session.json");
        let lock = dir.path().join("session.json.lock");
        let dead = dead_pid().expect("find a dead pid");
        let host = OsProcs::current().identity().host;
        let mgr = os_manager();
        let plant = || {
            let bytes = payload_bytes(dead, host.clone(), lockcore::os::OsClock.now_wall_ms());
            fs::write(&lock, bytes).expect("plant a dead owner's lock file");
        };
        plant();
        let guard = mgr.try_acquire(&session).expect("reclaim over a dead pid");
        assert_eq!(guard.how(), Acquired::Reclaimed(StaleReason::DeadPid));
        drop(guard);
        g.bench_function("dead_pid", |b| {
            b.iter_batched(
                plant,
                |()| mgr.try_acquire(&session).expect("reclaim over a dead pid"),
                // The guard is returned and dropped (released) outside the timing.
                BatchSize::PerIteration,
            )
        });
        g.finish();
    }
}
