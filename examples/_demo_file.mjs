// Copyright 2026 the unilock authors. MIT license.
// The file-lock part of `npm start`: four processes contend for one lock in
// a temporary directory, with no server; then a holder is killed (SIGKILL)
// and the next process is granted the lock at once, not after the lease.
// Everything it makes, it removes.
import { spawn } from "node:child_process";
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLock } from "unilock";

const worker = new URL("./_demo_file_worker.mjs", import.meta.url).pathname;

function run(config) {
  const child = spawn(process.execPath, [worker, JSON.stringify(config)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  const line = () =>
    new Promise((resolve) => {
      const check = () => out.includes("\n") ? resolve(out.trim()) : null;
      child.stdout.on("data", check);
      check();
    });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  return { child, line, exited };
}

/** Runs the file part; returns its row of the summary table. */
export async function files() {
  const PROCESSES = 4, ROUNDS = 6;
  const work = mkdtempSync(join(tmpdir(), "unilock-demo-"));
  const dir = join(work, "locks");
  try {
    // mkdir -m 700: only this user may take or steal its locks.
    mkdirSync(dir, { mode: 0o700 });
    writeFileSync(join(work, "counter"), "0");
    writeFileSync(join(work, "log"), "");
    console.log(
      `\nfile: ${PROCESSES} processes × ${ROUNDS} critical sections on file lock "shared-cache" in ${dir}`,
    );
    const children = Array.from(
      { length: PROCESSES },
      () => run({ dir, work, rounds: ROUNDS }),
    );
    const reports = [];
    for (const c of children) {
      reports.push(JSON.parse(await c.line()));
      await c.exited;
    }
    for (const { pid, waits } of reports) {
      const sorted = [...waits].sort((a, b) => a - b);
      console.log(
        `process ${pid}: waited median ${
          sorted[sorted.length >> 1].toFixed(1)
        } ms, max ${sorted[sorted.length - 1].toFixed(1)} ms`,
      );
    }
    const total = PROCESSES * ROUNDS;
    const counter = Number(readFileSync(join(work, "counter"), "utf8"));
    const log = readFileSync(join(work, "log"), "utf8").trim().split("\n")
      .map((l) => l.split(" "));
    const fences = log.map(([fence]) => Number(fence));
    const fencesIncrease = fences.every((f, i) => i === 0 || f > fences[i - 1]);
    const turns = log.map(([, pid]) =>
      reports.findIndex((r) => String(r.pid) === pid) + 1
    ).join("");
    console.log(`critical sections:     ${total}
turns, in grant order: ${turns}
updates lost:          ${total - counter} (counter = ${counter})
fences increasing:     ${fencesIncrease ? "yes" : "NO"}`);

    // A holder dies without releasing: its pid is gone, so the lock is
    // free at once (not 30 s later, when its lease would end).
    const holder = run({ dir, work, hold: true });
    await holder.line();
    const lock = createLock("file", { name: "shared-cache", dir });
    const waiting = lock.acquire({ timeoutMs: 20_000 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const killed = performance.now();
    holder.child.kill("SIGKILL");
    const lease = await waiting;
    console.log(
      `a holder killed with SIGKILL: the next process got the lock ${
        (performance.now() - killed).toFixed(0)
      } ms later (its lease was 30 s)`,
    );
    await lease.release();
    await holder.exited;

    const waits = reports.flatMap((r) => r.waits).sort((a, b) => a - b);
    return {
      label: `file (${PROCESSES} processes)`,
      acquisitions: total,
      median: waits[waits.length >> 1],
      p99: waits[Math.min(waits.length - 1, Math.floor(waits.length * 0.99))],
      requests: undefined,
      note: "— (a directory)",
      fencesIncrease,
      overlaps: total - counter, // a lost update is an overlap
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
