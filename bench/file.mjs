#!/usr/bin/env node
// Copyright 2026 the unilock authors. MIT license.
// `npm run bench:file`: the file lock against proper-lockfile 4.1.2 in one
// run: 4 processes contend for one lock in one directory, each holding it
// 1 ms at a time. Reported: acquisitions per second, and the handoff latency
// (from one process's end of its hold to the next process's start of its
// own) at p50 and p99, the CPU time all processes spent per acquisition
// (the figure a loaded machine does not inflate), and the overlaps seen
// (must be 0).
//
// proper-lockfile (from bench/peers, `npm ci --prefix bench/peers`; or
// PROPER_LOCKFILE=<its directory>)
// runs twice: with its own retry schedule (the `retry` package's defaults,
// 1 s doubling, which is what `retries: n` gives) and tuned to try again
// every millisecond.
//
// Options: --processes 4 --rounds 300 --hold 1 --dir <parent of the lock
// directories> (default: the OS's temporary directory)
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(args[i + 1]);
};
const PROCESSES = opt("processes", 4);
const ROUNDS = opt("rounds", 300);
const HOLD_MS = opt("hold", 1);
const dirAt = args.indexOf("--dir");
/** Where the lock directories are made (a local file system). */
const PARENT = dirAt === -1 ? tmpdir() : args[dirAt + 1];
const worker = new URL("./_file_worker.mjs", import.meta.url).pathname;

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

/** Runs one lock with PROCESSES contenders; returns its figures. */
async function contend(config, rounds) {
  const dir = mkdtempSync(join(PARENT, "unilock-bench-file-"));
  writeFileSync(join(dir, "resource"), "");
  try {
    const children = Array.from({ length: PROCESSES }, () => {
      const child = spawn(process.execPath, [
        worker,
        JSON.stringify({
          ...config,
          dir,
          name: "resource",
          rounds,
          holdMs: HOLD_MS,
        }),
      ], { stdio: ["pipe", "pipe", "inherit"] });
      let out = "";
      const lines = [];
      let wake;
      child.stdout.on("data", (d) => {
        out += d;
        let nl;
        while ((nl = out.indexOf("\n")) !== -1) {
          lines.push(out.slice(0, nl));
          out = out.slice(nl + 1);
          wake?.();
        }
      });
      const line = async (prefix) => {
        while (true) {
          const at = lines.findIndex((l) => l.startsWith(prefix));
          if (at !== -1) return lines.splice(at, 1)[0];
          await new Promise((r) => (wake = r));
        }
      };
      return { child, line };
    });
    for (const c of children) await c.line("ready");
    for (const c of children) c.child.stdin.write("go\n");
    const holds = [];
    let cpuMs = 0;
    for (const [i, c] of children.entries()) {
      const done = JSON.parse((await c.line("done")).slice(5));
      for (const [start, end] of done.holds) holds.push({ start, end, who: i });
      cpuMs += done.cpuMs;
    }
    holds.sort((a, b) => a.start - b.start);
    let overlaps = 0, handoffs = 0;
    const gaps = [];
    for (let i = 1; i < holds.length; i++) {
      const [prev, next] = [holds[i - 1], holds[i]];
      if (next.start < prev.end) overlaps++;
      if (next.who !== prev.who) {
        handoffs++;
        gaps.push(next.start - prev.end);
      }
    }
    gaps.sort((a, b) => a - b);
    const elapsed = holds.at(-1).end - holds[0].start;
    return {
      perSecond: holds.length / (elapsed / 1000),
      p50: percentile(gaps, 0.5),
      p99: percentile(gaps, 0.99),
      handoffShare: handoffs / (holds.length - 1),
      cpuMs: cpuMs / holds.length,
      overlaps,
      count: holds.length,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function resolveProperLockfile() {
  const given = process.env.PROPER_LOCKFILE;
  if (given) return pathToFileURL(join(given, "index.js")).href;
  try {
    // Pinned in bench/peers (the package does not depend on it).
    const require = createRequire(
      new URL("./peers/package.json", import.meta.url),
    );
    return pathToFileURL(require.resolve("proper-lockfile")).href;
  } catch {
    return undefined;
  }
}

const peers = [[
  "unilock file lock",
  { lock: "unilock", module: import.meta.resolve("unilock") },
  ROUNDS,
]];
const properLockfile = resolveProperLockfile();
if (properLockfile === undefined) {
  console.log(
    "proper-lockfile is not installed (npm ci --prefix bench/peers, or PROPER_LOCKFILE=<dir>): unilock only",
  );
} else {
  peers.push([
    "proper-lockfile 4.1.2, its retry schedule (`retries: 100`)",
    {
      lock: "proper-lockfile",
      module: properLockfile,
      options: { retries: 100 },
    },
    3,
  ], [
    "proper-lockfile 4.1.2, retrying every 1 ms",
    {
      lock: "proper-lockfile",
      module: properLockfile,
      options: {
        retries: { retries: 100_000, factor: 1, minTimeout: 1, maxTimeout: 1 },
      },
    },
    Math.max(20, Math.round(ROUNDS / 3)),
  ]);
}

console.log(
  `## ${PROCESSES} processes contending for one file lock, each holding it ${HOLD_MS} ms (Node ${process.version}, ${process.platform}, in ${PARENT}; load average ${
    readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")
  })\n`,
);
console.log(
  "| lock | acquisitions | acquisitions/s | handoff p50 | handoff p99 | handoffs between processes | CPU per acquisition (all processes) | overlaps |",
);
console.log("|---|---:|---:|---:|---:|---:|---:|---:|");
const results = {};
for (const [label, config, rounds] of peers) {
  const r = results[label] = await contend(config, rounds);
  console.log(
    `| ${label} | ${r.count} | ${r.perSecond.toFixed(0)} | ${
      r.p50.toFixed(2)
    } ms | ${r.p99.toFixed(2)} ms | ${(r.handoffShare * 100).toFixed(0)}% | ${
      (r.cpuMs * 1000).toFixed(0)
    } µs | ${r.overlaps} |`,
  );
}
const ours = results[peers[0][0]];
if (peers.length > 1) {
  const [, defaults, tuned] = peers.map(([label]) => results[label]);
  console.log(
    `\n## Targets (issue 15)\n| target | measured | met |\n|---|---|---|`,
  );
  const ratio = ours.perSecond / defaults.perSecond;
  console.log(
    `| ≥ 10× proper-lockfile's throughput (its retry schedule) | ${
      ratio.toFixed(0)
    }× (${(ours.perSecond / tuned.perSecond).toFixed(1)}× the 1 ms retry) | ${
      ratio >= 10 ? "yes" : "NO"
    } |`,
  );
  console.log(
    `| handoff p50 ≤ 1 ms | ${ours.p50.toFixed(2)} ms | ${
      ours.p50 <= 1 ? "yes" : "NO"
    } |`,
  );
}
