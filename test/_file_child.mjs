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
 * `permits`: `rounds` sections on the semaphore `name` of capacity
 * `permits`, each taking 1 to `weight` permits; inside, it writes a file
 * of its own into `work`/in naming its permits and sums every such file
 * there: a sum over the capacity is an overflow (the last one in sees it).
 * `hold-permits`: takes `take` permits of `permits` and keeps them until
 * killed.
 *
 * Usage: <runtime> _file_child.mjs '<json config>'
 */
import {
  appendFileSync,
  closeSync,
  openSync,
  readdirSync,
  readFileSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";

const config = JSON.parse(
  globalThis.Deno ? globalThis.Deno.args[0] : process.argv[2],
);
const { createLock, createSemaphore } = await import(config.module);
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
    void say(
      `lost ${lease.signal.reason?.name}${
        config.why ? ` ${lease.signal.reason?.message}` : ""
      }`,
    );
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

if (config.mode === "permits" || config.mode === "hold-permits") {
  const sem = createSemaphore("file", {
    name: config.name,
    dir: config.dir,
    permits: config.permits,
  });
  if (config.mode === "hold-permits") {
    const lease = await sem.acquire({ permits: config.take ?? 1 });
    await say(`held ${lease.fence}`);
    // Kept until the test kills this process.
    setInterval(() => {}, 1_000);
  } else {
    const inside = join(config.work, "in");
    let overflows = 0, most = 0, lost = 0;
    let seed = config.seed ?? 1;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    await say("ready");
    for (let i = 0; i < config.rounds; i++) {
      const permits = 1 + Math.floor(next() * (config.weight ?? 1));
      await sem.withPermits(async (lease) => {
        const mine = join(inside, `${process.pid}-${i}-${permits}`);
        writeFileSync(mine, "");
        let sum = 0;
        for (const f of readdirSync(inside)) sum += Number(f.split("-")[2]);
        if (sum > config.permits) overflows++;
        most = Math.max(most, sum);
        await sleep((config.holdMs ?? 1) * next());
        unlinkSync(mine);
        if (lease.signal.aborted) lost++;
      }, { permits });
    }
    await say(`done ${JSON.stringify({ overflows, most, lost })}`);
    process.exit(0);
  }
}
