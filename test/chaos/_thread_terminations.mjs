#!/usr/bin/env node
// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal The `thread/terminations` chaos scenario, run as a child process
 * of run.mjs under a hard timeout (a thread wedged by a dead thread would
 * hang whoever runs it: here that fails the scenario instead of the run).
 *
 * Worker threads run the chaos workload on named locks of one
 * `LockManager` table — every acquisition labelled with its task's owner,
 * so the table's deadlock graph records it — with timeouts, aborts and
 * shared holders, and a side task per worker calling `query()`,
 * `isLocked()` and `tryAcquire()`. A killer terminates a random worker at
 * random moments, many times (mid-acquire, mid-release, inside `query()`,
 * while queued, while holding: wherever it happens to be) and starts a
 * replacement. Then, from this thread, it checks:
 *
 * - the mutual-exclusion checker's figures (overlaps, fence order, lost
 *   updates; a false `LockDeadlockError` counts as an error: no task ever
 *   holds one lock while waiting for another);
 * - every surviving acquisition settled within its `timeoutMs` plus a
 *   takeover's bound, and none waited past the liveness bound;
 * - every lock is free within the lease bound (`stuck`);
 * - no slot leaked: each lock takes `capacity` queued waiters at once;
 * - no graph edge leaked: with the graph filled by fresh owners, a real
 *   two-owner deadlock is still reported.
 *
 * Usage: node _thread_terminations.mjs '<json config>'; prints
 * "REPORT <json>".
 */
import { Worker } from "node:worker_threads";
import { LockDeadlockError, LockManager } from "unilock";
import { check } from "./_checker.mjs";
import { derive, now, seeded } from "./_rng.mjs";
import { SharedFencedStore } from "./_store.mjs";

const config = JSON.parse(process.argv[2]);
const {
  seed,
  workers = 3,
  tasks = 3,
  kills,
  killMs = [20, 150],
  durationMs,
  livenessMs,
  workload,
} = config;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const rng = seeded(seed);

const run = crypto.randomUUID().slice(0, 8);
const names = Array.from(
  { length: config.names ?? 3 },
  (_, i) => `chaos-term-${run}-${i}`,
);
const capacity = 64;
const manager = new LockManager();
const table = manager.threads;
const locks = names.map((name) => manager.getOrCreateLock(name, "thread"));
const storeBuffer = SharedFencedStore.buffer(names.length);
const store = new SharedFencedStore(storeBuffer, names);
const deadline = now() + durationMs;
const results = [];
const running = new Set();
const finished = [];
let next = 0;

function startWorker() {
  const index = next++;
  const result = { records: [], counts: {}, errors: [] };
  results.push(result);
  const worker = new Worker(new URL("./_thread_worker.mjs", import.meta.url), {
    workerData: {
      threads: table.handle,
      side: true,
      storeBuffer,
      names,
      tasks,
      seed: derive(seed, index),
      worker: index,
      workload: { ...workload, sections: 1e9, livenessMs, deadline },
    },
  });
  running.add(worker);
  finished.push(
    new Promise((resolve) => {
      worker.on("message", (m) => {
        if (m.records) result.records.push(...m.records);
        if (m.done) {
          result.counts = m.done.counts;
          result.errors = m.done.errors;
        }
      });
      worker.on("error", (e) => {
        result.errors.push(String(e?.stack ?? e));
        result.counts.otherErrors = (result.counts.otherErrors ?? 0) + 1;
      });
      worker.on("exit", () => {
        running.delete(worker);
        resolve();
      });
    }),
  );
}

for (let i = 0; i < workers; i++) startWorker();
let killed = 0;
while (killed < kills && now() < deadline - 500) {
  await sleep(killMs[0] + rng() * (killMs[1] - killMs[0]));
  const victim = [...running][Math.floor(rng() * running.size)];
  if (victim === undefined) break;
  killed++;
  await victim.terminate();
  startWorker();
}
while (true) {
  const count = finished.length;
  await Promise.all(finished);
  if (finished.length === count) break;
}

// Every lock comes free: a terminated holder's lease runs out, a dead
// waiter's place is reclaimed, a dead guard holder is taken over.
const settleMs = (workload.leaseMs ?? 1_000) * 2 + 3_000;
let stuck = 0;
for (const lock of locks) {
  const until = now() + settleMs;
  let free = false;
  while (!free && now() < until) {
    const lease = await lock.tryAcquire();
    if (lease !== undefined) {
      free = true;
      await lease.release();
    } else await sleep(50);
  }
  if (!free) stuck++;
}

// No slot leaked: hold each lock and queue `capacity` waiters behind it.
await sleep(2_000); // dead waiters fall silent past the reclaim bound
let slotsLeaked = 0;
for (const lock of locks) {
  const holder = await lock.acquire({ timeoutMs: 5_000 });
  const waiters = Array.from(
    { length: capacity },
    () => lock.acquire({ timeoutMs: 10_000 }).then((l) => l.release()),
  );
  await holder.release();
  const outcomes = await Promise.allSettled(waiters);
  slotsLeaked += outcomes.filter((o) => o.status === "rejected").length;
}

// No graph edge leaked: with 55 fresh owners holding besides, which needs
// nearly every string the graph has (64) — so every edge the terminated
// workers left must be dead and collected — a real deadlock between two more
// fresh owners is still seen.
let deadlockMissed = 0;
{
  const [x, y, z] = locks;
  const fill = [];
  for (let i = 0; i < 55; i++) {
    fill.push(
      await z.acquire({
        owner: `check-fill-${i}`,
        mode: "shared",
        leaseMs: 10_000,
        timeoutMs: 5_000,
      }),
    );
  }
  const p = await x.acquire({ owner: "check-P", timeoutMs: 5_000 });
  const q = await y.acquire({ owner: "check-Q", timeoutMs: 5_000 });
  const pWaits = y.acquire({ owner: "check-P", timeoutMs: 10_000 });
  await sleep(20);
  try {
    (await x.acquire({ owner: "check-Q", timeoutMs: 1_000 })).release();
    deadlockMissed = 1;
  } catch (error) {
    if (!(error instanceof LockDeadlockError)) deadlockMissed = 1;
  }
  await q.release();
  await (await pWaits).release();
  await p.release();
  for (const lease of fill) await lease.release();
}

const report = check({ names, results, store: store.state(), stuck });
const late = results.reduce((n, r) => n + (r.counts.late ?? 0), 0);
report.late = late;
report.slotsLeaked = slotsLeaked;
report.deadlockMissed = deadlockMissed;
report.violations += late + slotsLeaked + deadlockMissed;
report.faults = { "worker-terminated": killed };
console.log(`REPORT ${JSON.stringify(report)}`);
process.exit(0);
