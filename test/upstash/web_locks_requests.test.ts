// Copyright 2026 the unilock authors. MIT license.
// The Web Locks facade on upstash sends what the core API sends: counted by
// the REST bridge in front of a real redis-server.
import { Redis } from "@upstash/redis";
import { afterAll, beforeAll, test } from "vitest";
import {
  createLock,
  createWebLocks,
  type UpstashRedisLike,
} from "../../mod.ts";
import {
  startUpstashBridge,
  type UpstashBridge,
} from "../../src/upstash_bridge/upstash_bridge.ts";
import { assertEquals, delay } from "../_assert.ts";
import { type RedisServer, startRedis } from "../_services.mjs";

let redis: RedisServer;
let bridge: UpstashBridge;
let client: UpstashRedisLike;

beforeAll(async () => {
  redis = await startRedis();
  bridge = await startUpstashBridge({ redisUrl: redis.url });
  client = new Redis({
    url: bridge.url,
    token: bridge.token,
    enableTelemetry: false,
  });
});
afterAll(async () => {
  await delay(1_200); // idle wake-up streams close themselves first
  await bridge.close();
  await redis.stop();
});

/** Requests `fn` sent, after a warm-up run of it (scripts loaded). */
async function requestsOf(fn: () => Promise<unknown>): Promise<number> {
  await fn();
  bridge.resetStats();
  await fn();
  return bridge.stats.requests;
}

test("WebLocks.request() on upstash sends as many requests as Lock.acquire() and release()", async () => {
  const prefix = `wlr:${crypto.randomUUID()}:`;
  const name = `n-${crypto.randomUUID()}`;
  const lock = createLock("upstash", { name, redis: client, prefix });
  const locks = createWebLocks("upstash", { redis: client, prefix });
  const core = await requestsOf(async () => {
    const lease = await lock.acquire();
    await lease.release();
  });
  assertEquals(core, 2);
  assertEquals(
    await requestsOf(() => locks.request(name, () => {})),
    core,
    "request",
  );
  // A steal is one request, and its release another.
  assertEquals(
    await requestsOf(() => locks.request(name, { steal: true }, () => {})),
    2,
    "steal",
  );
  // ifAvailable on a busy lock: what tryAcquire() sends.
  const held = await lock.acquire();
  const busy = await requestsOf(() => lock.tryAcquire());
  assertEquals(
    await requestsOf(() =>
      locks.request(name, { ifAvailable: true }, (l) => l)
    ),
    busy,
    "ifAvailable",
  );
  await held.release();
  // query(): one request per name the manager has requested.
  assertEquals(await requestsOf(() => locks.query()), 1, "query");
});
