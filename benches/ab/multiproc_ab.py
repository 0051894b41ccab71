#!/usr/bin/env python3
"""A/B of `multiproc` builds: runs each binary N times in turn (A, B, A, B, ...) so that both
see the same machine phases, and prints the medians of every column of the `row:` line.

    benches/ab/multiproc_ab.py RUNS "MULTIPROC ARGS" BINARY...
    benches/ab/multiproc_ab.py 8 "--procs 8 --rounds 300 --fair" /tmp/multiproc-old target/release/multiproc

This machine's speed changes by 2-3x within minutes (benches/RESULTS.md): never compare runs
taken apart, and read the range of the longest wait, which is the noisiest column.
"""
import statistics
import subprocess
import sys

UNITS = {"ns": 1e-6, "µs": 1e-3, "ms": 1.0, "s": 1e3}


def ms(cell: str) -> float:
    value, unit = cell.split()
    return float(value) * UNITS[unit]


def row(binary: str, args: list[str]) -> tuple[float, ...]:
    out = subprocess.run([binary, *args], capture_output=True, text=True, check=True).stdout
    line = next(l for l in out.splitlines() if "row:" in l)
    cells = [c.strip() for c in line.split("|")]
    waits = [ms(c) for c in cells[3].split(" / ")]
    return (float(cells[2]), *waits, ms(cells[4]))


def main() -> None:
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    runs, args, binaries = int(sys.argv[1]), sys.argv[2].split(), sys.argv[3:]
    results = {b: [] for b in binaries}
    for _ in range(runs):
        for b in binaries:
            results[b].append(row(b, args))
    for b in binaries:
        cols = list(zip(*results[b]))
        med = [statistics.median(c) for c in cols]
        print(
            f"{b}: {med[0]:.0f} holds/s, wait p50 {med[1]:.2f} / p99 {med[2]:.2f} / longest"
            f" {med[3]:.2f} ms (longest {min(cols[3]):.1f}-{max(cols[3]):.1f}), handoff p50"
            f" {med[4] * 1000:.0f} µs"
        )


if __name__ == "__main__":
    main()
