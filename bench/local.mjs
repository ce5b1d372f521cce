#!/usr/bin/env node
// Copyright 2026 the unilock authors. MIT license.
// `npm run bench`: the local lock side by side with its peers, in one run,
// reported as ratios. Uses the built package (dist/), as npm users get it.
//
//   node bench/local.mjs [--rounds 7] [--quick]
import { createLock } from "unilock";
import { Mutex } from "async-mutex";
import AsyncLock from "async-lock";

const args = process.argv.slice(2);
const quick = args.includes("--quick");
const roundsArg = args.indexOf("--rounds");
const ROUNDS = roundsArg === -1 ? (quick ? 3 : 7) : Number(args[roundsArg + 1]);
const UNCONTENDED = quick ? 200_000 : 1_000_000;
const TASKS = 100;
const PER_TASK = quick ? 1_000 : 10_000;
const DRAIN_SMALL = 1_000;
const DRAIN_LARGE = 50_000;

/** A lock that someone watches: its clock runs for metrics and events. */
function observed() {
  const lock = createLock("local");
  lock.metrics();
  return lock;
}

/**
 * Each peer runs `n` acquire-then-release steps inline, the way its docs show
 * it, so no peer pays for a wrapper the others do not.
 */
const peers = {
  "unilock acquire/release": async (n, lock = createLock("local")) => {
    for (let i = 0; i < n; i++) {
      const lease = await lock.acquire();
      await lease.release();
    }
  },
  "unilock withLock": async (n, lock = createLock("local")) => {
    const fn = () => {};
    for (let i = 0; i < n; i++) await lock.withLock(fn);
  },
  "unilock observed (metrics read)": async (n, lock = observed()) => {
    for (let i = 0; i < n; i++) {
      const lease = await lock.acquire();
      await lease.release();
    }
  },
  "async-mutex 0.5.0": async (n, mutex = new Mutex()) => {
    for (let i = 0; i < n; i++) {
      const release = await mutex.acquire();
      release();
    }
  },
  "async-mutex runExclusive": async (n, mutex = new Mutex()) => {
    const fn = () => {};
    for (let i = 0; i < n; i++) await mutex.runExclusive(fn);
  },
  "async-lock 1.5.0": async (n, lock = new AsyncLock()) => {
    const fn = () => {};
    for (let i = 0; i < n; i++) await lock.acquire("key", fn);
  },
  "bare await (floor)": async (n) => {
    for (let i = 0; i < n; i++) await undefined;
  },
};
// The contended run shares one lock among all tasks.
const shared = {
  "unilock acquire/release": () => createLock("local"),
  "unilock withLock": () => createLock("local"),
  "unilock observed (metrics read)": observed,
  "async-mutex 0.5.0": () => new Mutex(),
  "async-mutex runExclusive": () => new Mutex(),
  "async-lock 1.5.0": () => new AsyncLock({ maxPending: Infinity }),
  "bare await (floor)": () => undefined,
};

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function uncontended(loop) {
  collect();
  const start = performance.now();
  await loop(UNCONTENDED);
  return (performance.now() - start) / UNCONTENDED; // ms per op
}

async function contended(loop, makeShared) {
  const lock = makeShared();
  collect();
  const start = performance.now();
  await Promise.all(Array.from({ length: TASKS }, () => loop(PER_TASK, lock)));
  return (performance.now() - start) / (TASKS * PER_TASK);
}

/** Collects garbage between runs (with --expose-gc) so no run pays another's debt. */
function collect() {
  globalThis.gc?.();
}

/**
 * Queues `n` waiters behind a holder, releases, and times the drain. Two
 * harnesses: waiters as `.then()` continuations (the lock's own cost per
 * waiter) and waiters as suspended async functions (what apps write; at 50,000
 * it also pays V8's young-generation GC for 50,000 suspended frames).
 */
function countdown(n) {
  let left = n, finish;
  const all = new Promise((resolve) => (finish = resolve));
  return { all, tick: () => --left === 0 && finish() };
}

const drains = {
  "unilock": {
    setup: async () => {
      const lock = createLock("local");
      const holder = await lock.acquire();
      return { release: () => holder.release(), lock };
    },
    then: ({ lock }, tick) =>
      lock.acquire().then((lease) => {
        lease.release();
        tick();
      }),
    async: async ({ lock }) => {
      const lease = await lock.acquire();
      await lease.release();
    },
  },
  "async-mutex 0.5.0": {
    setup: async () => {
      const mutex = new Mutex();
      return { release: await mutex.acquire(), mutex };
    },
    then: ({ mutex }, tick) =>
      mutex.acquire().then((release) => {
        release();
        tick();
      }),
    async: async ({ mutex }) => {
      const release = await mutex.acquire();
      release();
    },
  },
  "async-lock 1.5.0": {
    setup: async () => {
      const lock = new AsyncLock({ maxPending: Infinity });
      let release;
      const held = lock.acquire("key", () => new Promise((r) => (release = r)));
      await undefined;
      return { release: () => (release(), held), lock };
    },
    then: ({ lock }, tick) => lock.acquire("key", () => {}).then(tick),
    async: async ({ lock }) => {
      await lock.acquire("key", () => {});
    },
  },
};

// A sample drains DRAIN_LARGE waiters in all: one queue of 50,000, or 50
// queues of 1,000 one after another, so both sizes are timed over equal work.
async function drainThen(peer, n) {
  let elapsed = 0;
  for (let rep = 0; rep < DRAIN_LARGE / n; rep++) {
    const state = await peer.setup();
    const { all, tick } = countdown(n);
    for (let i = 0; i < n; i++) peer.then(state, tick);
    collect();
    const start = performance.now();
    await state.release();
    await all;
    elapsed += performance.now() - start;
  }
  return elapsed / DRAIN_LARGE;
}

async function drainAsync(peer, n) {
  let elapsed = 0;
  for (let rep = 0; rep < DRAIN_LARGE / n; rep++) {
    const state = await peer.setup();
    const done = Array.from({ length: n }, () => peer.async(state));
    collect();
    const start = performance.now();
    await state.release();
    await Promise.all(done);
    elapsed += performance.now() - start;
  }
  return elapsed / DRAIN_LARGE;
}

async function measure(label, fn) {
  await fn(); // warm-up
  const samples = [];
  for (let r = 0; r < ROUNDS; r++) samples.push(await fn());
  return { label, ms: median(samples) };
}

const fmtOps = (msPerOp) => `${(1000 / msPerOp / 1e6).toFixed(2)} M/s`;
const fmtNs = (msPerOp) => `${(msPerOp * 1e6).toFixed(0)} ns`;
const ratio = (x) => `${x.toFixed(2)}×`;

console.log(
  `unilock local lock benchmark — Node ${process.version}, ${ROUNDS} rounds, median${
    globalThis.gc ? ", GC between runs" : ""
  }`,
);

console.log(
  `\n## Uncontended acquire + release (${
    UNCONTENDED.toLocaleString("en")
  } sequential)`,
);
const unc = {};
for (const [label, loop] of Object.entries(peers)) {
  unc[label] = (await measure(label, () => uncontended(loop))).ms;
}
const uni = unc["unilock acquire/release"];
console.log(
  "| peer | per op | throughput | unilock is faster by |\n|---|---|---|---|",
);
for (const [label, ms] of Object.entries(unc)) {
  console.log(
    `| ${label} | ${fmtNs(ms)} | ${fmtOps(ms)} | ${ratio(ms / uni)} |`,
  );
}

console.log(
  `\n## Contended handoff (${TASKS} tasks × ${
    PER_TASK.toLocaleString("en")
  } acquisitions)`,
);
const con = {};
for (const [label, loop] of Object.entries(peers)) {
  con[label] = (await measure(label, () => contended(loop, shared[label]))).ms;
}
const uniCon = con["unilock acquire/release"];
console.log(
  "| peer | per acquisition | throughput | unilock is faster by |\n|---|---|---|---|",
);
for (const [label, ms] of Object.entries(con)) {
  console.log(
    `| ${label} | ${fmtNs(ms)} | ${fmtOps(ms)} | ${ratio(ms / uniCon)} |`,
  );
}

const drainResults = {};
for (const [harness, drain] of [["then", drainThen], ["async", drainAsync]]) {
  console.log(
    `\n## Draining queued waiters, ${
      harness === "then" ? "as .then() continuations" : "as async functions"
    } (per-waiter cost)`,
  );
  console.log(
    "| peer | per waiter at 1,000 | per waiter at 50,000 | growth (50k ÷ 1k) |\n|---|---|---|---|",
  );
  for (const [label, peer] of Object.entries(drains)) {
    const small = (await measure(label, () => drain(peer, DRAIN_SMALL))).ms;
    const large = (await measure(label, () => drain(peer, DRAIN_LARGE))).ms;
    drainResults[`${label} ${harness}`] = { small, large };
    console.log(
      `| ${label} | ${fmtNs(small)} | ${fmtNs(large)} | ${
        ratio(large / small)
      } |`,
    );
  }
}

const targets = [
  [
    "uncontended: ≥ 10× faster than async-mutex",
    unc["async-mutex 0.5.0"] / uni,
    (x) => x >= 10,
  ],
  [
    "uncontended: within 4× of the bare-await floor",
    uni / unc["bare await (floor)"],
    (x) => x <= 4,
  ],
  [
    "contended (100 tasks): ≥ 3× faster than async-mutex",
    con["async-mutex 0.5.0"] / uniCon,
    (x) => x >= 3,
  ],
  [
    "drain (.then waiters): 50k per-waiter cost within 1.5× of 1k",
    drainResults["unilock then"].large / drainResults["unilock then"].small,
    (x) => x <= 1.5,
  ],
];
console.log(
  "\n## Targets (issue #2)\n| target | measured | met |\n|---|---|---|",
);
for (const [label, value, ok] of targets) {
  console.log(`| ${label} | ${ratio(value)} | ${ok(value) ? "yes" : "NO"} |`);
}
