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
  // The same loop as async-mutex's below: one await per iteration. A local
  // release frees the permits before it returns (its promise is settled).
  "unilock acquire, release() not awaited": {
    make: () => createSemaphore("local", { permits: PERMITS }),
    loop: async (n, sem) => {
      for (let i = 0; i < n; i++) {
        const lease = await sem.acquire();
        void lease.release();
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
  // The floors: what the awaits alone cost, with no semaphore at all.
  "floor: 2 awaits (acquire + await release)": {
    make: () => Promise.resolve(),
    loop: async (n, settled) => {
      for (let i = 0; i < n; i++) {
        await settled;
        await settled;
      }
    },
  },
  "floor: 1 await (async-mutex's loop)": {
    make: () => Promise.resolve(),
    loop: async (n, settled) => {
      for (let i = 0; i < n; i++) await settled;
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
  for (const label of Object.keys(peers)) row[label] = [];
  // Round-robin: every peer's samples spread over the same stretch of a
  // noisy machine's load.
  for (const peer of Object.values(peers)) await run(peer); // warm-up
  for (let r = 0; r < ROUNDS; r++) {
    for (const [label, peer] of Object.entries(peers)) {
      row[label].push(await run(peer));
    }
  }
  for (const label of Object.keys(peers)) row[label] = median(row[label]);
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

// What 5× would take, against what the awaits alone cost.
for (const run of ["uncontended", "contended"]) {
  const row = results[run];
  console.log(
    `\n${run}: 5× faster than async-mutex's Semaphore is ${
      fmtNs(row["async-mutex 0.5.0 Semaphore"] / 5)
    } per acquire + release; the bare awaits alone cost ${
      fmtNs(row["floor: 1 await (async-mutex's loop)"])
    } (one, as async-mutex's loop awaits) and ${
      fmtNs(row["floor: 2 awaits (acquire + await release)"])
    } (two, as the loop that awaits release()).`,
  );
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
  [
    `the same, release() not awaited (async-mutex's loop shape), uncontended`,
    results.uncontended["async-mutex 0.5.0 Semaphore"] /
    results.uncontended["unilock acquire, release() not awaited"],
  ],
  [
    `the same, release() not awaited, ${TASKS} tasks on ${PERMITS} permits`,
    results.contended["async-mutex 0.5.0 Semaphore"] /
    results.contended["unilock acquire, release() not awaited"],
  ],
];
console.log(
  "\n## Targets (issue #13)\n| target | measured | met |\n|---|---|---|",
);
for (const [label, value] of targets) {
  console.log(`| ${label} | ${ratio(value)} | ${value >= 5 ? "yes" : "NO"} |`);
}
