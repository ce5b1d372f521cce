// Copyright 2026 the unilock authors. MIT license.
// The distributed part of `npm start`: the same contention across separate
// clients (as separate serverless functions would be) on the upstash lock
// (redis-server + the REST bridge, when redis-server is installed) and the
// durable-object lock (the lock service on local workerd via `wrangler dev`:
// no account, no network). Everything it starts, it stops.
import { createLock } from "unilock";
import { startUpstashBridge } from "unilock/upstash-bridge";
import {
  hasRedisServer,
  REDIS_INSTALL_ADVICE,
  startLockService,
  startRedis,
} from "../test/_services.mjs";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

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
    if (!hasRedisServer()) {
      console.log(
        `\nupstash: skipped — redis-server is not installed: ${REDIS_INSTALL_ADVICE}`,
      );
    } else {
      const redis = await startRedis();
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
