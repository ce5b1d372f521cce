#!/usr/bin/env node
// Copyright 2026 the unilock authors. MIT license.
// `npm run bench:semaphore`: the local semaphore side by side with
// async-mutex 0.5.0's Semaphore, in one run, as ratios: uncontended
// acquire + release, and 100 tasks on 4 permits. Uses the built package.
//
//   node --expose-gc bench/semaphore_local.mjs [--rounds 7] [--quick]
import { createSemaphore } from "unilock";
import { Semaphore } from "async-mutex";

const args = process.argv.slice(2);
const quick = args.includes("--quick");
const roundsArg = args.indexOf("--rounds");
const ROUNDS = roundsArg === -1 ? (quick ? 3 : 7) : Number(args[roundsArg + 1]);
const UNCONTENDED = quick ? 200_000 : 1_000_000;
const TASKS = 100;
const PERMITS = 4;
const PER_TASK = quick ? 1_000 : 10_000;

/** Each peer's acquire-then-release, inline, as its docs show it. */
const peers = {
  "unilock acquire/release": {
    make: () => createSemaphore("local", { permits: PERMITS }),
    loop: async (n, sem) => {
      for (let i = 0; i < n; i++) {
        const lease = await sem.acquire();
        await lease.release();
      }
    },
  },
  "unilock withPermits": {
    make: () => createSemaphore("local", { permits: PERMITS }),
    loop: async (n, sem) => {
      const fn = () => {};
      for (let i = 0; i < n; i++) await sem.withPermits(fn);
    },
  },
  "async-mutex 0.5.0 Semaphore": {
    make: () => new Semaphore(PERMITS),
    loop: async (n, sem) => {
      for (let i = 0; i < n; i++) {
        const [, release] = await sem.acquire();
        release();
      }
    },
  },
  "async-mutex runExclusive": {
    make: () => new Semaphore(PERMITS),
    loop: async (n, sem) => {
      const fn = () => {};
      for (let i = 0; i < n; i++) await sem.runExclusive(fn);
    },
  },
};

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function uncontended({ make, loop }) {
  const sem = make();
  globalThis.gc?.();
  const start = performance.now();
  await loop(UNCONTENDED, sem);
  return (performance.now() - start) / UNCONTENDED;
}

/** 100 tasks share one semaphore of 4 permits; the most out at once is checked. */
async function contended({ make, loop }) {
  const sem = make();
  globalThis.gc?.();
  const start = performance.now();
  await Promise.all(Array.from({ length: TASKS }, () => loop(PER_TASK, sem)));
  return (performance.now() - start) / (TASKS * PER_TASK);
}

async function measure(fn) {
  await fn(); // warm-up
  const samples = [];
  for (let r = 0; r < ROUNDS; r++) samples.push(await fn());
  return median(samples);
}

const fmtNs = (ms) => `${(ms * 1e6).toFixed(0)} ns`;
const fmtOps = (ms) => `${(1000 / ms / 1e6).toFixed(2)} M/s`;
const ratio = (x) => `${x.toFixed(2)}×`;

console.log(
  `unilock local semaphore benchmark — Node ${process.version}, ${ROUNDS} rounds, median${
    globalThis.gc ? ", GC between runs" : ""
  }`,
);
const results = {};
for (
  const [title, run] of [
    [
      `Uncontended acquire + release (${
        UNCONTENDED.toLocaleString("en")
      } sequential)`,
      uncontended,
    ],
    [
      `${TASKS} tasks on ${PERMITS} permits (${TASKS} × ${
        PER_TASK.toLocaleString("en")
      } acquisitions)`,
      contended,
    ],
  ]
) {
  console.log(`\n## ${title}`);
  console.log(
    "| peer | per op | throughput | unilock is faster by |\n|---|---|---|---|",
  );
  const row = results[run.name] = {};
  for (const [label, peer] of Object.entries(peers)) {
    row[label] = await measure(() => run(peer));
  }
  const uni = row["unilock acquire/release"];
  for (const [label, ms] of Object.entries(row)) {
    console.log(
      `| ${label} | ${fmtNs(ms)} | ${fmtOps(ms)} | ${ratio(ms / uni)} |`,
    );
  }
}

// The limit holds: never more than 4 permits out among 100 tasks.
{
  const sem = createSemaphore("local", { permits: PERMITS });
  let inUse = 0, most = 0;
  await Promise.all(Array.from({ length: TASKS }, async () => {
    for (let i = 0; i < 100; i++) {
      await sem.withPermits(async () => {
        most = Math.max(most, ++inUse);
        await null;
        inUse--;
      });
    }
  }));
  if (most !== PERMITS) throw new Error(`most permits out: ${most}`);
}

const targets = [
  [
    "uncontended: ≥ 5× faster than async-mutex's Semaphore",
    results.uncontended["async-mutex 0.5.0 Semaphore"] /
    results.uncontended["unilock acquire/release"],
  ],
  [
    `${TASKS} tasks on ${PERMITS} permits: ≥ 5× faster than async-mutex's Semaphore`,
    results.contended["async-mutex 0.5.0 Semaphore"] /
    results.contended["unilock acquire/release"],
  ],
];
console.log(
  "\n## Targets (issue #13)\n| target | measured | met |\n|---|---|---|",
);
for (const [label, value] of targets) {
  console.log(`| ${label} | ${ratio(value)} | ${value >= 5 ? "yes" : "NO"} |`);
}
