#!/usr/bin/env node
// The Node `proper-lockfile` driver of benches/peers/run.sh.
//
//     proper_lockfile_driver.js uncontended <path> <iterations>
//     proper_lockfile_driver.js contended <path> <rounds> [<start at, ms since the epoch>]
//
// Locks <path> with `lockfile.lock(path, options)` (proper-lockfile makes the directory
// `<path>.lock` and removes it on release; `realpath: false`, so <path> need not exist). A
// blocked lock retries with a backoff like lockcore's (1 ms doubling to 50 ms, randomised);
// everything else is the default (stale 10 s, mtime update every 5 s). Same loop and JSON line
// as the Rust drivers (lockcore_benches::peer). Found through NODE_PATH (run.sh sets it).
'use strict';

const lockfile = require('proper-lockfile');
const { version } = require('proper-lockfile/package.json');
const { performance } = require('perf_hooks');

const WARM_UP = 10;
// 1,500 retries of at most 50 ms: about the 60 s the Rust drivers wait before failing.
const OPTIONS = {
  realpath: false,
  retries: { retries: 1500, factor: 2, minTimeout: 1, maxTimeout: 50, randomize: true },
};

const nowUs = () => Math.round((performance.timeOrigin + performance.now()) * 1000);
const sinceUs = (t0) => Number(process.hrtime.bigint() - t0) / 1e3;

// Resolves to the release function.
const once = (path) => lockfile.lock(path, OPTIONS);

async function uncontended(path, iterations) {
  for (let i = 0; i < WARM_UP; i++) await (await once(path))();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) await (await once(path))();
  const perOp = sinceUs(t0) / iterations;
  return { mode: 'uncontended', ops: iterations, us_per_op: Math.round(perOp * 100) / 100 };
}

function nearestRank(sorted, p) {
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(Math.max(rank, 1), sorted.length) - 1];
}

async function contended(path, rounds, startAtMs) {
  if (startAtMs !== null) {
    await new Promise((r) => setTimeout(r, Math.max(0, startAtMs - Date.now())));
  }
  const startUs = nowUs();
  const waits = [];
  for (let i = 0; i < rounds; i++) {
    const t0 = process.hrtime.bigint();
    const release = await once(path);
    waits.push(sinceUs(t0));
    await release();
  }
  const endUs = nowUs();
  waits.sort((a, b) => a - b);
  const r1 = (v) => Math.round(v * 10) / 10;
  return {
    mode: 'contended', rounds, start_us: startUs, end_us: endUs,
    p50_wait_us: r1(nearestRank(waits, 50)), p99_wait_us: r1(nearestRank(waits, 99)),
    max_wait_us: r1(waits[waits.length - 1]),
  };
}

async function main(argv) {
  const usage = 'usage: proper_lockfile_driver.js <uncontended|contended> <path> <iterations> [<start ms>]';
  if (![3, 4].includes(argv.length) || !['uncontended', 'contended'].includes(argv[0])) {
    throw new Error(usage);
  }
  const [mode, path] = argv;
  const n = Number.parseInt(argv[2], 10);
  const startAtMs = argv.length === 4 ? Number.parseInt(argv[3], 10) : null;
  if (!(n > 0) || (mode === 'uncontended' && startAtMs !== null)) throw new Error(usage);
  const result = mode === 'uncontended' ? await uncontended(path, n) : await contended(path, n, startAtMs);
  console.log(JSON.stringify({ peer: 'proper-lockfile', version, ...result }));
}

main(process.argv.slice(2)).catch((e) => {
  console.error(`proper_lockfile_driver.js: ${e.message}`);
  process.exit(2);
});
