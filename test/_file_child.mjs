// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal One process of the file-lock process tests (test/_file_processes.ts),
 * the same script on Node, Deno and Bun. It loads the lock from
 * `config.module` (the sources on Deno and Bun, a bundle of them on Node) and
 * reports on stdout, one line each: `held <fence>`, `queued`, `granted
 * <fence>`, `lost <error name>`, `done <json>`.
 *
 * `contend`: `rounds` critical sections on `name`, each creating the marker
 * file `inside` with O_EXCL (an overlap with another process's section finds
 * it there and counts one), doing a read-modify-write of `counter` that a
 * second holder would break, and appending its fence to `log` (appends are
 * made under the lock, so the log is the grant order).
 * `hold`: takes the lock and keeps it until told (stdin "release") or
 * killed, reporting the loss of its lease if that comes.
 * `wait`: queues for the lock and reports when it is granted.
 *
 * Usage: <runtime> _file_child.mjs '<json config>'
 */
import {
  appendFileSync,
  closeSync,
  openSync,
  readFileSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";

const config = JSON.parse(
  globalThis.Deno ? globalThis.Deno.args[0] : process.argv[2],
);
const { createLock } = await import(config.module);
const lock = createLock("file", {
  name: config.name,
  dir: config.dir,
  ...(config.lockLeaseMs ? { leaseMs: config.lockLeaseMs } : {}),
  ...(config.waiterTtlMs ? { waiterTtlMs: config.waiterTtlMs } : {}),
});
const say = (line) =>
  new Promise((resolve) => process.stdout.write(`${line}\n`, resolve));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

if (config.mode === "contend") {
  const shared = config.shared ?? 0;
  const work = config.work ?? config.dir;
  let overlaps = 0, sections = 0, sharedSections = 0;
  // Deterministic per process: a fixed pattern of holds and modes.
  let seed = config.seed ?? 1;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  await say("ready");
  for (let i = 0; i < config.rounds; i++) {
    const mode = next() < shared ? "shared" : "exclusive";
    const lease = await lock.acquire({ mode, owner: `p${process.pid}` });
    const hold = (config.holdMs ?? 1) * next();
    if (mode === "shared") {
      // Readers may share; no writer may be inside.
      try {
        readFileSync(join(work, "inside"));
        overlaps++;
      } catch { /* nobody exclusive inside */ }
      await sleep(hold);
      sharedSections++;
    } else {
      let marker;
      try {
        marker = openSync(join(work, "inside"), "wx");
      } catch {
        overlaps++;
      }
      const value = Number(readFileSync(join(work, "counter"), "utf8"));
      await sleep(hold);
      writeFileSync(join(work, "counter"), String(value + 1));
      appendFileSync(join(work, "log"), `${lease.fence} ${process.pid}\n`);
      if (marker !== undefined) {
        closeSync(marker);
        unlinkSync(join(work, "inside"));
      }
      sections++;
    }
    if (lease.signal.aborted) overlaps += 1000; // no lease may be lost here
    await lease.release();
  }
  await say(`done ${JSON.stringify({ overlaps, sections, sharedSections })}`);
  process.exit(0);
}

if (config.mode === "hold") {
  const lease = await lock.acquire({ leaseMs: config.leaseMs });
  lease.signal.addEventListener("abort", () => {
    void say(`lost ${lease.signal.reason?.name}`);
  });
  await say(`held ${lease.fence}`);
  let input = "";
  process.stdin.on("data", async (chunk) => {
    input += chunk;
    if (input.includes("release")) {
      await lease.release();
      await say("released");
      process.exit(0);
    }
  });
}

if (config.mode === "wait") {
  const started = performance.now();
  const pending = lock.acquire({
    leaseMs: config.leaseMs,
    priority: config.priority ?? 0,
    mode: config.shared ? "shared" : "exclusive",
  });
  await sleep(config.queuedAfterMs ?? 100);
  await say("queued");
  const lease = await pending;
  await say(
    `granted ${lease.fence} ${Math.round(performance.now() - started)}`,
  );
  await lease.release();
  process.exit(0);
}
