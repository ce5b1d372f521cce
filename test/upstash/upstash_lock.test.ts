// Copyright 2026 the unilock authors. MIT license.
// What only the upstash lock promises, against a real redis-server (its own,
// so it can be killed) behind the REST bridge, which injects the faults.
import { Redis } from "@upstash/redis";
import { afterAll, beforeAll, test } from "vitest";
import {
  createLock,
  LockBackendError,
  LockLostError,
  type UpstashRedisLike,
} from "../../mod.ts";
import { RespConnection } from "../../src/upstash_bridge/_resp.ts";
import {
  startUpstashBridge,
  type UpstashBridge,
} from "../../src/upstash_bridge/upstash_bridge.ts";
import {
  assert,
  assertEquals,
  assertRejects,
  assertThrows,
  delay,
} from "../_assert.ts";
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
  await bridge?.close();
  await redis?.stop();
});

function lock(options: Record<string, unknown> = {}) {
  const prefix = `t:${crypto.randomUUID()}:`;
  return {
    prefix,
    lock: createLock("upstash", {
      name: "job",
      redis: client,
      prefix,
      ...options,
    }),
  };
}

test("UpstashLock costs exactly 2 HTTP requests per uncontended acquire and release", async () => {
  const { lock: l } = lock();
  await (await l.acquire()).release(); // loads the scripts (NOSCRIPT → EVAL)
  bridge.resetStats();
  for (let i = 0; i < 5; i++) await (await l.acquire()).release();
  assertEquals(bridge.stats.requests, 10);
  assertEquals(bridge.stats.commands, 10);
});

test("UpstashLock returns the same lease when the response to acquire was lost after the grant", async () => {
  const { lock: l, prefix } = lock();
  await (await l.acquire()).release();
  bridge.inject({ kind: "drop-response", match: prefix });
  const lease = await l.acquire(); // the SDK re-sends; the script sees its token
  assertEquals(bridge.stats.faults > 0, true);
  assertEquals(await l.isLocked(), true);
  await lease.release();
  // Had the retry granted a second lease, the lock would still be held.
  assertEquals(await l.isLocked(), false);
});

test("UpstashLock rejects with LockBackendError (with cause) on lasting 5xx, 401 and garbage, and never grants", async () => {
  const { lock: l, prefix } = lock();
  await (await l.acquire()).release();
  for (const kind of ["status-500", "status-401", "garbage"] as const) {
    // A lasting 5xx or garbage outlives the first try and its three
    // retries; refused credentials are not retried at all.
    bridge.inject({
      kind,
      match: prefix,
      count: kind === "status-401" ? 1 : 4,
    });
    const error = await assertRejects(l.acquire(), LockBackendError, [
      '"job"',
    ]);
    assert(error.cause !== undefined, `${kind}: no cause`);
    assertEquals(await l.isLocked(), false, `${kind} left the lock held`);
  }
  const lease = await l.acquire();
  await lease.release();
});

test("UpstashLock.acquire() repeats an acquire that a brief 5xx failed (it is idempotent by token)", async () => {
  const { lock: l, prefix } = lock();
  await (await l.acquire()).release();
  bridge.inject({ kind: "status-500", count: 1, match: prefix });
  const lease = await l.acquire();
  assertEquals(await l.isLocked(), true);
  await lease.release();
  assertEquals(await l.isLocked(), false);
});

test("UpstashLock.release() repeats a release that a brief fault failed, so the lock is not left to its lease", async () => {
  const { lock: l, prefix } = lock();
  const lease = await l.acquire({ leaseMs: 60_000 });
  bridge.inject({ kind: "status-500", count: 2, match: prefix });
  await lease.release();
  assertEquals(await l.isLocked(), false);
});

test("UpstashLock still works through slow responses", async () => {
  const { lock: l, prefix } = lock();
  bridge.inject({ kind: "delay", delayMs: 300, count: 2, match: prefix });
  const started = performance.now();
  const lease = await l.acquire();
  await lease.release();
  assert(performance.now() - started >= 300, "the delay was not applied");
  assertEquals(await l.isLocked(), false);
});

test("UpstashLock lease.signal aborts when the lease runs out while a renewal is still in flight", async () => {
  const { lock: l, prefix } = lock();
  const lease = await l.acquire({ leaseMs: 600 });
  // Every renewal hangs for longer than the whole lease: the holder must
  // hear that its lease ran out when it did, not when a reply comes back.
  bridge.inject({ kind: "delay", delayMs: 2_000, count: 3, match: prefix });
  const started = performance.now();
  const reason = await new Promise((resolve) =>
    lease.signal.addEventListener("abort", () => resolve(lease.signal.reason))
  );
  const after = performance.now() - started;
  assert(reason instanceof LockLostError, `reason ${reason}`);
  assert(after < 1_000, `the loss was signalled ${after.toFixed(0)} ms late`);
  await lease.release().catch(() => {});
  await delay(2_100); // let the held requests through
});

test("UpstashLock never hands out a grant that ran out before its wake-up message arrived", async () => {
  const { lock: a, prefix } = lock();
  const b = createLock("upstash", {
    name: "job",
    redis: client,
    prefix,
    waiterTtlMs: 30_000, // no heartbeat finds the grant before the message
  });
  // A long lease for a, so that b's fallback poll waits a second or more.
  const held = await a.acquire({ leaseMs: 5_000 });
  const waiting = b.acquire({ leaseMs: 200 });
  await delay(200); // b is queued and listening
  // The handoff's message reaches b after Redis has let the 200 ms grant run
  // out: b must give it back and queue again, not believe it holds.
  bridge.inject({ kind: "delay-messages", delayMs: 500, match: prefix });
  await held.release();
  const lease = await waiting;
  await delay(120); // past the first renewal of a stale lease
  assert(!lease.signal.aborted, "a lease that had run out was handed out");
  assertEquals(await b.isLocked(), true);
  await lease.release();
});

test("UpstashLock signals LockLostError when Redis restarts under a holder, and is usable again after", async () => {
  const { lock: l } = lock();
  const lease = await l.acquire({ leaseMs: 300 });
  const lost = new Promise((resolve) =>
    lease.signal.addEventListener("abort", () => resolve(lease.signal.reason))
  );
  await redis.restart(); // SIGKILL, then an empty server on the same port
  assert(
    await lost instanceof LockLostError,
    "the lost lease was not signalled",
  );
  const next = await l.acquire({ timeoutMs: 5_000 });
  // The counter was lost with Redis; the clock floor keeps fences rising.
  assert(next.fence > lease.fence, `fence ${next.fence} after ${lease.fence}`);
  await lease.release(); // must not release the new holder
  assertEquals(await l.isLocked(), true);
  await next.release();
});

test("UpstashLock.metrics() counts a lease lost in Redis, and subscribe() reports it", async () => {
  const { lock: l, prefix } = lock();
  const types: string[] = [];
  l.subscribe((event) => types.push(`${event.type} ${event.owner}`));
  const lease = await l.acquire({ leaseMs: 300, owner: "doomed" });
  // The holder's entry vanishes from Redis: the next renewal finds it gone.
  const raw = new RespConnection("127.0.0.1", redis.port);
  try {
    await raw.send(["DEL", `${prefix}{job}:h`]);
  } finally {
    raw.close();
  }
  await new Promise((resolve) =>
    lease.signal.addEventListener("abort", resolve, { once: true })
  );
  const m = l.metrics();
  assertEquals([m.acquisitions, m.lost, m.holders], [1, 1, 0]);
  assertEquals(m.holdMs.count, 1);
  await lease.release(); // after a loss: no second end
  assertEquals(types, ["acquire doomed", "grant doomed", "lost doomed"]);
});

test(
  "UpstashLock replaces a wake-up stream that died with Redis, so waiters wake promptly again",
  async () => {
    const { lock: a, prefix } = lock();
    const b = createLock("upstash", { name: "job", redis: client, prefix });
    const held = await a.acquire({ leaseMs: 5_000 });
    const first = b.acquire({ leaseMs: 5_000 });
    await delay(200); // b listens on its stream
    await redis.restart(); // the stream dies without a word to the client
    await held.release().catch(() => {}); // Redis forgot it anyway
    // The grant reaches b by its fallback poll, which tells it the stream is
    // dead: it must listen anew rather than poll for every later handoff.
    const lease = await first;
    const queued = a.acquire({ leaseMs: 5_000, timeoutMs: 10_000 });
    await delay(100);
    await lease.release();
    const again = await queued;
    const waiting = b.acquire({ leaseMs: 5_000 });
    await delay(200);
    bridge.resetStats();
    await again.release();
    const next = await waiting;
    // Woken by its new stream: the release was the only request (a dead
    // stream leaves the waiter to find its grant by a poll, a second one).
    assertEquals(bridge.stats.requests, 1);
    await next.release();
  },
  20_000,
);

test("UpstashLock rejects with LockBackendError while Redis is down", async () => {
  const { lock: l } = lock();
  await redis.stop(true);
  try {
    await assertRejects(l.acquire(), LockBackendError, ["unreachable"]);
  } finally {
    await redis.restart();
  }
  const lease = await l.acquire({ timeoutMs: 5_000 });
  await lease.release();
});

test('createLock("upstash") rejects bad options at once, naming the option and value', () => {
  const cases: [Record<string, unknown>, new () => Error, string[]][] = [
    [{ redis: { url: "ftp://x", token: "t" } }, TypeError, [
      "'redis.url'",
      "ftp://x",
    ]],
    [{ redis: { url: "not a url", token: "t" } }, TypeError, ["'redis.url'"]],
    [{ redis: { url: "https://x.upstash.io" } }, TypeError, ["'redis.token'"]],
    [{ redis: { url: "https://x.upstash.io", token: "" } }, TypeError, [
      "'redis.token'",
    ]],
    [{ redis: { get() {} } }, TypeError, ["'redis'", "eval"]],
    [{ redis: "redis://localhost" }, TypeError, ["'redis'"]],
    [{ redis: client, leaseMs: 50 }, RangeError, ["'leaseMs'", "50"]],
    [{ redis: client, waiterTtlMs: 10 }, RangeError, ["'waiterTtlMs'", "10"]],
    [{ redis: client, prefix: 5 }, TypeError, ["'prefix'", "5"]],
    [{ redis: client, name: "" }, RangeError, ["'name'"]],
    [{ redis: client, requestTimeoutMs: 0 }, RangeError, [
      "'requestTimeoutMs'",
      "0",
    ]],
  ];
  for (const [options, ErrorClass, includes] of cases) {
    assertThrows(
      () => createLock("upstash", { name: "job", ...options }),
      ErrorClass,
      includes,
    );
  }
  // A distributed lock guards a named resource: no name is an error, never
  // a default that unrelated resources would share.
  assertThrows(
    () => createLock("upstash", { redis: client }),
    TypeError,
    ["'name' is required"],
  );
  return Promise.resolve();
});

test("UpstashLock encodes names into keys, so glob characters, unicode and ../ cannot collide or escape", async () => {
  const prefix = `enc:${crypto.randomUUID()}:`;
  const names = ["a*", "a?", "a[b]", "../x", "ünï cødé", "a:b{c}"];
  // Held all at once: no two names share a key.
  const leases = await Promise.all(
    names.map((name) =>
      createLock("upstash", { name, redis: client, prefix }).tryAcquire()
    ),
  );
  assert(leases.every((l) => l !== undefined), "two names collided");
  const conn = new RespConnection("127.0.0.1", redis.port);
  try {
    const keys = await conn.send(["KEYS", `${prefix}*`]) as string[];
    for (const key of keys) {
      const tail = key.slice(prefix.length);
      assert(/^\{[A-Za-z0-9_.%-]+\}:[a-z]+$/.test(tail), `raw key ${key}`);
    }
  } finally {
    conn.close();
  }
  await Promise.all(leases.map((l) => l!.release()));
});

test("UpstashLock waiters wake on release without polling", async () => {
  const { lock: l } = lock();
  const holder = await l.acquire();
  const waiting = l.acquire();
  await delay(300);
  bridge.resetStats();
  await delay(500);
  // Nobody polled while the holder held on (a heartbeat every 3.3 s at most).
  assertEquals(bridge.stats.requests, 0);
  await holder.release();
  await (await waiting).release();
  // The release hands over in Redis and the waiter learns it by the stream:
  // the holder's release and the waiter's release, no more.
  assertEquals(bridge.stats.requests, 2);
});

test('createLock("upstash") builds its own client from { url, token }, loading @upstash/redis on demand', async () => {
  const l = createLock("upstash", {
    name: "own-client",
    redis: { url: bridge.url, token: bridge.token },
    prefix: `t:${crypto.randomUUID()}:`,
  });
  const lease = await l.acquire();
  assertEquals(await l.isLocked(), true);
  await lease.release();
});

test('createLock("upstash") without redis reads UPSTASH_REDIS_REST_URL and _TOKEN, and only then', async () => {
  const saved = {
    url: process.env.UPSTASH_REDIS_REST_URL,
    token: process.env.UPSTASH_REDIS_REST_TOKEN,
  };
  // Created with no environment at all: nothing is read yet.
  delete process.env.UPSTASH_REDIS_REST_URL;
  delete process.env.UPSTASH_REDIS_REST_TOKEN;
  const l = createLock("upstash", {
    name: "from-env",
    prefix: `t:${crypto.randomUUID()}:`,
  });
  process.env.UPSTASH_REDIS_REST_URL = bridge.url;
  process.env.UPSTASH_REDIS_REST_TOKEN = bridge.token;
  try {
    const lease = await l.acquire();
    await lease.release();
  } finally {
    if (saved.url === undefined) delete process.env.UPSTASH_REDIS_REST_URL;
    else process.env.UPSTASH_REDIS_REST_URL = saved.url;
    if (saved.token === undefined) delete process.env.UPSTASH_REDIS_REST_TOKEN;
    else process.env.UPSTASH_REDIS_REST_TOKEN = saved.token;
  }
});

test("UpstashLock keeps the fence counter forever and the other keys only while needed", async () => {
  const { lock: l, prefix } = lock();
  const lease = await l.acquire({ leaseMs: 5_000 });
  const conn = new RespConnection("127.0.0.1", redis.port);
  try {
    const keys = await conn.send(["KEYS", `${prefix}*`]) as string[];
    for (const key of keys) {
      const ttl = await conn.send(["PTTL", key]) as number;
      // The lock's memory (fence counter, latest expiry) never expires.
      if (key.endsWith(":m")) assertEquals(ttl, -1, `${key} expires`);
      else assert(ttl > 0 && ttl <= 6_000, `${key} has TTL ${ttl}`);
    }
    assert(keys.some((k) => k.endsWith(":m")), "no fence counter key");
  } finally {
    conn.close();
  }
  await lease.release();
});
