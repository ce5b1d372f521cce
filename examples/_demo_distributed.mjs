// Copyright 2026 the unilock authors. MIT license.
// The distributed part of `npm start`: the same contention across separate
// clients (as separate serverless functions would be) on the upstash lock
// (redis-server + the REST bridge, when redis-server is installed) and the
// durable-object lock (the lock service on local workerd via `wrangler dev`:
// no account, no network). Everything it starts, it stops.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLock } from "unilock";
import { startUpstashBridge } from "unilock/upstash-bridge";

const root = new URL("..", import.meta.url).pathname;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const port = () => 10_000 + Math.floor(Math.random() * 20_000);

async function until(check, what) {
  for (let i = 0; i < 240; i++) {
    if (await check()) return;
    await sleep(250);
  }
  throw new Error(`${what} did not start`);
}

async function startRedis() {
  if (spawnSync("redis-server", ["--version"]).status !== 0) return undefined;
  const p = port();
  const child = spawn("redis-server", [
    "--port",
    String(p),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
  ], { stdio: "ignore" });
  await until(() =>
    new Promise((resolve) => {
      const s = createConnection({ host: "127.0.0.1", port: p });
      s.once("connect", () => (s.destroy(), resolve(true)));
      s.once("error", () => resolve(false));
    }), "redis-server");
  return { url: `redis://127.0.0.1:${p}`, stop: () => child.kill("SIGTERM") };
}

async function startLockService() {
  const p = port();
  const token = `demo_${crypto.randomUUID()}`;
  const child = spawn("node", [
    join(root, "node_modules/wrangler/bin/wrangler.js"),
    "dev",
    "--local",
    "--ip",
    "127.0.0.1",
    "--port",
    String(p),
    "--inspector-port",
    "0",
    "--persist-to",
    mkdtempSync(join(tmpdir(), "unilock-demo-")),
    "--var",
    `UNILOCK_TOKEN:${token}`,
  ], {
    cwd: root,
    env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
    stdio: "ignore",
  });
  const url = `http://127.0.0.1:${p}`;
  await until(async () => {
    try {
      const res = await fetch(`${url}/v1/health`);
      await res.body?.cancel();
      return res.ok;
    } catch {
      return false;
    }
  }, "wrangler dev");
  return { url, token, stop: () => child.kill("SIGTERM") };
}

/**
 * `clients` separate clients take the lock `rounds` times each, holding it
 * `holdMs`; returns the row of the summary table.
 */
export async function contend(
  label,
  makeLock,
  requests,
  clients = 5,
  rounds = 4,
  holdMs = 20,
) {
  const locks = Array.from({ length: clients }, () => makeLock());
  const waits = [], fences = [];
  let inside = 0, overlaps = 0, done = 0;
  const total = clients * rounds;
  const startRequests = requests?.() ?? 0;
  await Promise.all(locks.map(async (lock) => {
    for (let i = 0; i < rounds; i++) {
      const asked = performance.now();
      const lease = await lock.acquire({ timeoutMs: 30_000 });
      waits.push(performance.now() - asked);
      if (++inside > 1) overlaps++;
      fences.push(lease.fence);
      await sleep(holdMs);
      inside--;
      await lease.release();
      // A live progress line on a terminal; one line at the end otherwise.
      if (process.stdout.isTTY) {
        process.stdout.write(`\r  ${label}: ${++done}/${total} acquisitions`);
      } else ++done;
    }
  }));
  process.stdout.write(
    process.stdout.isTTY ? "\n" : `  ${label}: ${done}/${total} acquisitions\n`,
  );
  waits.sort((a, b) => a - b);
  return {
    label,
    acquisitions: total,
    median: waits[waits.length >> 1],
    p99: waits[Math.min(waits.length - 1, Math.floor(waits.length * 0.99))],
    requests: requests === undefined
      ? undefined
      : (requests() - startRequests) / total,
    fencesIncrease: fences.every((f, i) => i === 0 || f > fences[i - 1]),
    overlaps,
  };
}

/** Runs the upstash and durable-object parts; returns their table rows. */
export async function distributed() {
  const rows = [];
  const stops = [];
  try {
    const redis = await startRedis();
    if (redis === undefined) {
      console.log(
        "\nupstash: skipped — redis-server is not installed (sudo apt-get install -y redis-server, or brew install redis)",
      );
    } else {
      stops.push(redis.stop);
      const bridge = await startUpstashBridge({ redisUrl: redis.url });
      stops.unshift(() => bridge.close());
      const { Redis } = await import("@upstash/redis");
      console.log(
        `\nupstash: 5 clients, each its own Redis client, through the REST bridge at ${bridge.url}`,
      );
      rows.push(
        await contend(
          "upstash",
          () =>
            createLock("upstash", {
              name: "invoices",
              redis: new Redis({
                url: bridge.url,
                token: bridge.token,
                enableTelemetry: false,
              }),
            }),
          () => bridge.stats.requests,
        ),
      );
      await sleep(1_200); // let the wake-up streams close
    }
    const service = await startLockService();
    stops.unshift(service.stop);
    let sent = 0;
    const realFetch = globalThis.fetch;
    globalThis.fetch = (input, init) => {
      if (String(input?.url ?? input).startsWith(service.url)) sent++;
      return realFetch(input, init);
    };
    console.log(
      `\ndurable-object: 5 HTTP clients, through the lock service on local workerd at ${service.url}`,
    );
    rows.push(
      await contend(
        "durable-object",
        () =>
          createLock("durable-object", {
            name: "invoices",
            url: service.url,
            token: service.token,
          }),
        () => sent,
      ),
    );
    globalThis.fetch = realFetch;
  } finally {
    for (const stop of stops) await stop();
  }
  return rows;
}
