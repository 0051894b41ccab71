#!/usr/bin/env python3
"""The Python `filelock` driver of benches/peers/run.sh.

    filelock_driver.py uncontended <path> <iterations>
    filelock_driver.py contended <path> <rounds> [<start at, ms since the epoch>]

Locks `<path>.lock` with `filelock.FileLock` and its defaults (on Unix: open, flock, and on
release unlock + close; a blocked acquire polls every 50 ms). Same loop and JSON line as the
Rust drivers (lockcore_benches::peer): `uncontended` does 10 untimed acquire + release, then
`iterations` timed ones; `contended` sleeps until the start time, then times each acquire.
"""

import json
import math
import sys
import time

import filelock

WARM_UP = 10


def nearest_rank(sorted_us, p):
    rank = math.ceil(p / 100 * len(sorted_us))
    return sorted_us[min(max(rank, 1), len(sorted_us)) - 1]


def uncontended(lock, iterations):
    for _ in range(WARM_UP):
        lock.acquire()
        lock.release()
    t0 = time.perf_counter_ns()
    for _ in range(iterations):
        lock.acquire()
        lock.release()
    per_op_us = (time.perf_counter_ns() - t0) / iterations / 1e3
    return {"mode": "uncontended", "ops": iterations, "us_per_op": round(per_op_us, 2)}


def contended(lock, rounds, start_at_ms):
    if start_at_ms is not None:
        time.sleep(max(0.0, start_at_ms / 1e3 - time.time()))
    start_us = time.time_ns() // 1000
    waits = []
    for _ in range(rounds):
        t0 = time.perf_counter_ns()
        lock.acquire()
        waits.append((time.perf_counter_ns() - t0) / 1e3)
        lock.release()
    end_us = time.time_ns() // 1000
    waits.sort()
    return {
        "mode": "contended",
        "rounds": rounds,
        "start_us": start_us,
        "end_us": end_us,
        "p50_wait_us": round(nearest_rank(waits, 50), 1),
        "p99_wait_us": round(nearest_rank(waits, 99), 1),
        "max_wait_us": round(waits[-1], 1),
    }


def main(argv):
    if len(argv) not in (3, 4) or argv[0] not in ("uncontended", "contended"):
        sys.exit("usage: filelock_driver.py <uncontended|contended> <path> <iterations> [<start ms>]")
    mode, path, n = argv[0], argv[1], int(argv[2])
    start_at_ms = int(argv[3]) if len(argv) == 4 else None
    if n <= 0 or (mode == "uncontended" and start_at_ms is not None):
        sys.exit("filelock_driver.py: iterations must be positive; no start time when uncontended")
    lock = filelock.FileLock(path + ".lock")
    if mode == "uncontended":
        result = uncontended(lock, n)
    else:
        result = contended(lock, n, start_at_ms)
    line = {"peer": "filelock", "version": filelock.__version__}
    line.update(result)
    print(json.dumps(line))


if __name__ == "__main__":
    main(sys.argv[1:])
