#!/usr/bin/env node
// Copyright 2026 the unilock authors. MIT license.
// `npm start`: six tasks contend for one local lock. Each task takes the lock
// three times, holds it for a moment and does a read-modify-write that would
// lose updates without the lock. The demo prints what each task waited, a
// timeline of who held the lock, and the proof: no two holders overlapped,
// fences only went up, and no update was lost. Then four worker threads do
// the same on one "thread" lock in shared memory, and separate clients on the
// upstash lock (when redis-server is installed) and the durable-object lock
// (on local workerd), and four processes on one "file" lock in a directory;
// a table sums it up. It stops everything it starts.
import { Worker } from "node:worker_threads";
import { createLock, LockTimeoutError } from "unilock";
import { distributed } from "./_demo_distributed.mjs";
import { files } from "./_demo_file.mjs";

const lock = createLock("local", { name: "inventory" });
const TASKS = 6, ROUNDS = 3;
const t0 = performance.now();
const now = () => performance.now() - t0;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

let stock = 0; // the shared resource: read, pause, write back
const sections = []; // { task, fence, asked, start, end }

async function task(id) {
  for (let round = 0; round < ROUNDS; round++) {
    const asked = now();
    await lock.withLock(async (lease) => {
      const start = now();
      const read = stock;
      await sleep(8 + ((id * 7 + round * 5) % 9)); // a slow write
      stock = read + 1;
      sections.push({ task: id, fence: lease.fence, asked, start, end: now() });
    });
    await sleep((id * 3) % 5);
  }
}

console.log(
  `${TASKS} tasks × ${ROUNDS} critical sections on local lock "${lock.name}"\n`,
);
await Promise.all(Array.from({ length: TASKS }, (_, i) => task(i + 1)));

// What each task waited, and a timeline of who held the lock.
const end = Math.max(...sections.map((s) => s.end));
const WIDTH = 60;
const col = (ms) => Math.min(WIDTH - 1, Math.floor((ms / end) * WIDTH));
console.log(`timeline (0 to ${end.toFixed(0)} ms; █ holding, · waiting)`);
for (let id = 1; id <= TASKS; id++) {
  const row = Array(WIDTH).fill(" ");
  const mine = sections.filter((s) => s.task === id);
  for (const s of mine) {
    for (let c = col(s.asked); c < col(s.start); c++) row[c] = "·";
    for (let c = col(s.start); c <= col(s.end); c++) row[c] = "█";
  }
  const waits = mine.map((s) => (s.start - s.asked).toFixed(0).padStart(3));
  console.log(`task ${id} |${row.join("")}| waited ${waits.join(", ")} ms`);
}

// The proof.
const byStart = [...sections].sort((a, b) => a.start - b.start);
let overlaps = 0;
for (let i = 1; i < byStart.length; i++) {
  if (byStart[i].start < byStart[i - 1].end) overlaps++;
}
const fencesIncrease = byStart.every((s, i) =>
  i === 0 || s.fence > byStart[i - 1].fence
);
const waits = sections.map((s) => s.start - s.asked).sort((a, b) => a - b);
console.log(`
critical sections:     ${sections.length}
overlaps seen:         ${overlaps} (must be 0)
fences in grant order: ${byStart.map((s) => s.fence).join(" ")}
fences increasing:     ${fencesIncrease ? "yes" : "NO"}
updates lost:          ${sections.length - stock} (stock = ${stock})
wait median / max:     ${waits[waits.length >> 1].toFixed(1)} / ${
  waits[waits.length - 1].toFixed(1)
} ms`);

// A waiter that gives up: timeoutMs rejects with a TimeoutError.
const holder = await lock.acquire();
try {
  await lock.acquire({ timeoutMs: 20 });
} catch (error) {
  console.log(
    `\na waiter with timeoutMs: 20 gave up: ${error.name}${
      error instanceof LockTimeoutError ? " (LockTimeoutError)" : ""
    }: ${error.message}`,
  );
}
await holder.release();

// The same contract across worker threads: one "thread" lock whose state
// lives in shared memory, handed to each worker by postMessage.
const THREADS = 4, THREAD_ROUNDS = 25;
const shared = createLock("thread", { name: "ledger" });
const counter = new SharedArrayBuffer(4);
const log = new SharedArrayBuffer(8 * THREADS * THREAD_ROUNDS);
console.log(
  `\n${THREADS} worker threads × ${THREAD_ROUNDS} critical sections on thread lock "${shared.name}"`,
);
const reports = await Promise.all(
  Array.from({ length: THREADS }, (_, id) =>
    new Promise((resolve, reject) => {
      const worker = new Worker(
        new URL("./_demo_thread_worker.mjs", import.meta.url),
        {
          workerData: {
            handle: shared.handle,
            counter,
            log,
            rounds: THREAD_ROUNDS,
            id,
          },
        },
      );
      worker.once("message", (report) => {
        resolve(report);
        void worker.terminate();
      });
      worker.once("error", reject);
    })),
);
for (const { id, waits } of reports) {
  const sorted = [...waits].sort((a, b) => a - b);
  console.log(
    `thread ${id + 1}: waited median ${
      sorted[sorted.length >> 1].toFixed(1)
    } ms, max ${sorted[sorted.length - 1].toFixed(1)} ms`,
  );
}
const total = new Int32Array(counter)[0];
const threadFences = Array.from(new Float64Array(log));
const threadFencesIncrease = threadFences.every((f, i) =>
  i === 0 || f > threadFences[i - 1]
);
console.log(`critical sections:     ${THREADS * THREAD_ROUNDS}
updates lost:          ${THREADS * THREAD_ROUNDS - total} (counter = ${total})
fences increasing:     ${threadFencesIncrease ? "yes" : "NO"}`);

const threadWaits = reports.flatMap((r) => r.waits).sort((a, b) => a - b);

// Across processes and machines: the upstash and durable-object locks.
const distributedRows = await distributed();
// Across the processes of this machine, with no server: the file lock.
const fileRow = await files();

const rows = [
  {
    label: "local",
    acquisitions: sections.length,
    median: waits[waits.length >> 1],
    p99: waits[waits.length - 1],
    requests: undefined,
    fencesIncrease,
    overlaps,
  },
  {
    label: "thread",
    acquisitions: THREADS * THREAD_ROUNDS,
    median: threadWaits[threadWaits.length >> 1],
    p99: threadWaits[Math.floor(threadWaits.length * 0.99)],
    requests: undefined,
    fencesIncrease: threadFencesIncrease,
    overlaps: THREADS * THREAD_ROUNDS - total, // a lost update is an overlap
  },
  ...distributedRows,
  fileRow,
];
const ms = (x) => (x === undefined ? "—" : `${x.toFixed(1)} ms`);
console.log(
  "\n| backend | acquisitions | wait median | wait p99 | requests per acquisition | fences increasing | overlaps |\n|---|---|---|---|---|---|---|",
);
for (const r of rows) {
  console.log(
    `| ${r.label} | ${r.acquisitions} | ${ms(r.median)} | ${ms(r.p99)} | ${
      r.requests === undefined
        ? r.note ?? "— (in memory)"
        : r.requests.toFixed(2)
    } | ${r.fencesIncrease ? "yes" : "NO"} | ${r.overlaps} |`,
  );
}

if (
  rows.some((r) => r.overlaps !== 0 || !r.fencesIncrease) ||
  stock !== sections.length
) {
  console.error("\nA lock failed to exclude: this is a bug, please report it.");
  process.exit(1);
}
