#!/usr/bin/env node
// Copyright 2026 the unilock authors. MIT license.
// `npm run bench:deno-kv`: the deno-kv lock with its contenders in separate
// Deno processes on one KV file (1 ms holds), and in one process for
// comparison (where watch() carries the handoff). Reports KV operations
// per acquisition (getMany, list and commit calls, release included),
// handoff latency (a holder's release() call to the next holder running,
// in another process) and throughput.
//
// Options: --processes 4 --each 100 --hold 1 --poll 25,5 --dir <where the
// KV file goes> (default the OS temp dir; /dev/shm takes the disk
// out of the figures).
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { percentile } from "./_contention.mjs";

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? fallback : args[i + 1];
};
const PROCESSES = Number(opt("processes", 4));
const EACH = Number(opt("each", 100));
const HOLD_MS = Number(opt("hold", 1));
const POLLS = String(opt("poll", "25,5")).split(",").map(Number);
const DIR = opt("dir", tmpdir());
const DENO = new URL("../node_modules/.bin/deno", import.meta.url).pathname;
const WORKER = new URL("./_deno_kv_worker.ts", import.meta.url).pathname;

function worker(config) {
  return new Promise((resolve, reject) => {
    const child = spawn(DENO, [
      "run",
      "-A",
      "--unstable-kv",
      WORKER,
      JSON.stringify(config),
    ], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.on(
      "exit",
      (code) =>
        code === 0
          ? resolve(JSON.parse(out.trim().split("\n").pop()))
          : reject(new Error(`worker exited ${code}`)),
    );
  });
}

async function run(label, processes, tasks, pollMs) {
  const dir = mkdtempSync(join(DIR, "unilock-bench-kv-"));
  const path = join(dir, "bench.sqlite3");
  const name = `bench-${crypto.randomUUID()}`;
  // Uncontended first, in one process: what one acquire + release costs.
  const solo = await worker({
    path,
    name: `${name}-solo`,
    each: EACH,
    tasks: 1,
    holdMs: 0,
    pollMs,
    startAt: 0,
    id: 0,
  });
  const startAt = Date.now() + 1_500; // all processes started and warm
  const results = await Promise.all(
    Array.from(
      { length: processes },
      (_, id) =>
        worker({
          path,
          name,
          each: EACH,
          tasks,
          holdMs: HOLD_MS,
          pollMs,
          startAt,
          id,
        }),
    ),
  );
  rmSync(dir, { recursive: true, force: true });
  const records = results.flatMap((r) => r.records).sort((a, b) => a[0] - b[0]);
  const ops = results.reduce((n, r) => n + r.ops, 0);
  const handoffs = [];
  let overlaps = 0;
  for (let i = 1; i < records.length; i++) {
    const [, asked, granted, , who] = records[i];
    const [, , , releasing, before] = records[i - 1];
    if (granted < releasing) overlaps++;
    // A handoff: this one was waiting when the one before let go.
    if (asked < releasing && who !== before) handoffs.push(granted - releasing);
  }
  handoffs.sort((a, b) => a - b);
  const first = Math.min(...records.map((r) => r[1]));
  const last = Math.max(...records.map((r) => r[3]));
  return {
    label,
    pollMs,
    soloOps: solo.ops / EACH,
    opsPerAcquisition: ops / records.length,
    handoffs: handoffs.length,
    p50: percentile(handoffs, 0.5),
    p99: percentile(handoffs, 0.99),
    throughput: records.length / ((last - first) / 1000),
    overlaps,
  };
}

const rows = [];
for (const pollMs of POLLS) {
  rows.push(await run(`${PROCESSES} processes`, PROCESSES, 1, pollMs));
}
rows.push(
  await run(`1 process, ${PROCESSES} lock objects`, 1, PROCESSES, POLLS[0]),
);
const version = await new Promise((resolve) => {
  const c = spawn(DENO, ["--version"]);
  let out = "";
  c.stdout.on("data", (d) => (out += d));
  c.on("exit", () => resolve(out.split("\n")[0]));
});
console.log(
  `deno-kv on one local KV file in ${DIR}, ${version}, ${EACH} acquisitions per contender, ${HOLD_MS} ms holds`,
);
console.log(
  "| contenders | pollMs | KV ops per acquire+release, uncontended | KV ops per acquisition, contended | handoff p50 / p99 | acquisitions/s | overlaps |",
);
console.log("|---|---:|---:|---:|---|---:|---:|");
for (const r of rows) {
  console.log(
    `| ${r.label} | ${r.pollMs} | ${r.soloOps.toFixed(1)} | ${
      r.opsPerAcquisition.toFixed(1)
    } | ${r.p50.toFixed(1)} ms / ${
      r.p99.toFixed(1)
    } ms (${r.handoffs} handoffs) | ${
      Math.round(r.throughput)
    } | ${r.overlaps} |`,
  );
}
if (rows.some((r) => r.overlaps > 0)) process.exitCode = 1;
