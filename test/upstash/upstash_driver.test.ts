// Copyright 2026 the unilock authors. MIT license.
// The Upstash driver of the remote-lock core, called directly (as the core
// calls it) against a real redis-server behind the REST bridge: every
// operation, idempotency by token, the fence floor, damaged keys, pushed
// grants addressed to their waiter, dead streams, and bounded, readable
// errors.
import { Redis } from "@upstash/redis";
import { afterAll, beforeAll, test } from "vitest";
import type { RemotePushedGrant } from "../../mod.ts";
import { upstashDriver } from "../../src/upstash/_driver.ts";
import {
  isolatedTransport,
  UpstashRequestError,
} from "../../src/upstash/_rest.ts";
import { hubOf } from "../../src/upstash/_wakeups.ts";
import { RespConnection } from "../../src/upstash_bridge/_resp.ts";
import {
  startUpstashBridge,
  type UpstashBridge,
} from "../../src/upstash_bridge/upstash_bridge.ts";
import { assert, assertEquals, delay } from "../_assert.ts";
import { type RedisServer, startRedis } from "../_services.mjs";

let redis: RedisServer;
let bridge: UpstashBridge;

beforeAll(async () => {
  redis = await startRedis();
  bridge = await startUpstashBridge({ redisUrl: redis.url });
});
afterAll(async () => {
  await bridge?.close();
  await redis?.stop();
});

/** A driver on its own lock (a random prefix), with its own client. */
function setup(options: Record<string, unknown> = {}) {
  const prefix = `d:${crypto.randomUUID()}:`;
  const transport = isolatedTransport(bridge.url, bridge.token);
  const make = (t = transport) =>
    upstashDriver({ name: "job", prefix, ...options }, t);
  return { prefix, transport, driver: make(), make };
}

/** A token, as the core makes them. */
function token(): string {
  return `lk_${crypto.randomUUID()}`;
}

const s = (): AbortSignal => AbortSignal.timeout(5_000);

function req(t: string, options: Record<string, unknown> = {}) {
  return {
    token: t,
    mode: "exclusive" as const,
    leaseMs: 5_000,
    join: true,
    waitMs: 5_000,
    priority: 0,
    owner: undefined,
    ...options,
  };
}

async function raw(...args: string[]) {
  const conn = new RespConnection("127.0.0.1", redis.port);
  try {
    return await conn.send(args);
  } finally {
    conn.close();
  }
}

/** Waits until `check()` is true, at most `ms`. */
async function until(check: () => boolean, ms: number): Promise<boolean> {
  const end = performance.now() + ms;
  while (!check()) {
    if (performance.now() > end) return false;
    await delay(10);
  }
  return true;
}

test("upstashDriver().acquire() grants, queues behind the holder with retryMs bounded by its lease and the heartbeat, and answers busy without queuing", async () => {
  const { driver } = setup({ waiterTtlMs: 9_000 });
  const a = token(), b = token(), c = token();
  const granted = await driver.acquire(req(a, { leaseMs: 2_000 }), s());
  assert(granted.state === "granted", JSON.stringify(granted));
  assertEquals(granted.leaseMs, 2_000);
  const queued = await driver.acquire(req(b), s());
  assert(queued.state === "queued", JSON.stringify(queued));
  // The holder's remaining lease (under 2 s) beats the heartbeat (3 s).
  assert(queued.retryMs > 0 && queued.retryMs <= 2_000, `${queued.retryMs}`);
  await driver.extend(a, 60_000, 1, s());
  const later = await driver.acquire(req(b), s());
  assert(
    later.state === "queued" && later.retryMs === 3_000,
    JSON.stringify(later),
  );
  assertEquals(await driver.acquire(req(c, { join: false }), s()), {
    state: "busy",
  });
  assertEquals(await driver.status(s()), { holders: 1, waiters: 1 });
  assertEquals(await driver.release(a, s()), true);
  // The release handed over to b in Redis; b's next call says so.
  const b2 = await driver.acquire(req(b), s());
  assert(
    b2.state === "granted" && b2.fence > granted.fence,
    JSON.stringify(b2),
  );
  assertEquals((b2 as { waited?: boolean }).waited, true);
  assertEquals(await driver.release(b, s()), true);
  assertEquals(await driver.status(s()), { holders: 0, waiters: 0 });
});

test("upstashDriver() answers a repeated acquire with the same grant or the same place", async () => {
  const { driver } = setup();
  const a = token(), b = token(), c = token();
  const first = await driver.acquire(req(a), s());
  const again = await driver.acquire(req(a), s());
  assert(first.state === "granted" && again.state === "granted");
  assertEquals(again.fence, first.fence);
  assert(again.leaseMs <= first.leaseMs, "a replay lengthened the lease");
  await driver.acquire(req(b), s());
  await driver.acquire(req(c), s());
  await driver.acquire(req(b), s()); // a heartbeat keeps b ahead of c
  const snapshot = await driver.query(s());
  assertEquals(snapshot.held.length, 1);
  assertEquals(snapshot.pending.length, 2);
  assertEquals(await driver.cancel(b, s()), "cancelled");
  assertEquals((await driver.status(s())).waiters, 1);
  await driver.release(a, s());
  const cg = await driver.acquire(req(c), s());
  assertEquals(cg.state, "granted");
  await driver.release(c, s());
});

test("upstashDriver() remembers a released or cancelled token: a late acquire is gone, also when the cancel overtook it", async () => {
  const { driver } = setup();
  const a = token(), b = token(), ghost = token(), w = token();
  await driver.acquire(req(a), s());
  assertEquals(await driver.release(a, s()), true);
  assertEquals(await driver.release(a, s()), false); // idempotent
  assertEquals(await driver.acquire(req(a), s()), { state: "gone" });
  // A cancel that arrives before its acquire (it overtook it on the way).
  assertEquals(await driver.cancel(ghost, s()), "cancelled");
  assertEquals(await driver.acquire(req(ghost), s()), { state: "gone" });
  assertEquals(await driver.acquire(req(ghost, { join: false }), s()), {
    state: "gone",
  });
  // A queued waiter, cancelled: its late heartbeat does not queue it again.
  await driver.acquire(req(b), s());
  await driver.acquire(req(w), s());
  assertEquals(await driver.cancel(w, s()), "cancelled");
  assertEquals(await driver.acquire(req(w), s()), { state: "gone" });
  // Nobody was left granted or queued by the late calls.
  assertEquals(await driver.status(s()), { holders: 1, waiters: 0 });
  // A cancel that finds its token granted says so, and leaves it held.
  assertEquals(await driver.cancel(b, s()), "held");
  assertEquals((await driver.status(s())).holders, 1);
  assertEquals(await driver.release(b, s()), true);
});

test("upstashDriver() keeps tombstones at least a minute", async () => {
  const { driver, prefix } = setup();
  const a = token();
  await driver.cancel(a, s());
  const score = await raw("ZSCORE", `${prefix}{job}:t`, a);
  const [sec] = await raw("TIME") as string[];
  const left = Number(score) - Number(sec) * 1000;
  assert(left >= 59_000 && left <= 61_000, `tombstone for ${left} ms`);
  const ttl = await raw("PTTL", `${prefix}{job}:t`) as number;
  assert(ttl >= 60_000, `the tombstone key expires in ${ttl} ms`);
});

test("upstashDriver().extend() applies each seq once: a duplicated old extend does not cut the lease back", async () => {
  const { driver } = setup();
  const a = token();
  await driver.acquire(req(a, { leaseMs: 3_000 }), s());
  assertEquals(await driver.extend(a, 12_000, 2, s()), {
    held: true,
    leaseMs: 12_000,
  });
  // The renewal with seq 1 (3 s) arrives after the extend with seq 2.
  const late = await driver.extend(a, 3_000, 1, s());
  assert(late.held && late.leaseMs > 11_000, JSON.stringify(late));
  const dup = await driver.extend(a, 3_000, 2, s());
  assert(dup.held && dup.leaseMs > 11_000, JSON.stringify(dup));
  // A newer one applies, shorter or not.
  assertEquals(await driver.extend(a, 2_000, 3, s()), {
    held: true,
    leaseMs: 2_000,
  });
  await driver.release(a, s());
  assertEquals(await driver.extend(a, 5_000, 4, s()), {
    held: false,
    leaseMs: 0,
  });
});

test("upstashDriver().extend() never revives a lease that ran out, and its token is never granted again", async () => {
  const { driver } = setup();
  const a = token();
  await driver.acquire(req(a, { leaseMs: 150 }), s());
  await delay(300);
  assertEquals(await driver.extend(a, 5_000, 1, s()), {
    held: false,
    leaseMs: 0,
  });
  assertEquals(await driver.status(s()), { holders: 0, waiters: 0 });
  assertEquals(await driver.acquire(req(a), s()), { state: "gone" });
});

test("upstashDriver() takes fences from the server's clock (µs), so they keep rising when Redis lost the counter", async () => {
  const { driver, prefix } = setup();
  const [sec, usec] = await raw("TIME") as string[];
  const serverUs = Number(sec) * 1e6 + Number(usec);
  const a = token();
  // A client whose clock runs an hour fast must not push fences ahead.
  const realNow = Date.now;
  Date.now = () => realNow() + 3_600_000;
  let first;
  try {
    first = await driver.acquire(req(a), s());
  } finally {
    Date.now = realNow;
  }
  assert(first.state === "granted");
  assert(Number.isSafeInteger(first.fence), `${first.fence}`);
  assert(
    Math.abs(first.fence - serverUs) < 5e6,
    `fence ${first.fence} is not the server's clock ${serverUs}`,
  );
  await driver.release(a, s());
  await raw("DEL", `${prefix}{job}:m`); // the counter is lost
  const b = token();
  const second = await driver.acquire(req(b), s());
  assert(second.state === "granted" && second.fence > first.fence);
  // Many grants within one µs still rise one by one.
  const fences = [second.fence];
  await driver.release(b, s());
  for (let i = 0; i < 5; i++) {
    const t = token();
    const r = await driver.acquire(req(t, { mode: "shared" }), s());
    assert(r.state === "granted");
    fences.push(r.fence);
  }
  for (let i = 1; i < fences.length; i++) {
    assert(fences[i]! > fences[i - 1]!, `fences ${fences}`);
  }
});

test("upstashDriver() pushes a grant to its waiter only, with its exact fence and a lease reckoned from the waiter's latest call", async () => {
  const { driver, make } = setup();
  const other = make(isolatedTransport(bridge.url, bridge.token));
  const a = token(), b = token(), bystander = token();
  await driver.acquire(req(a), s());
  const pushes: (RemotePushedGrant | undefined)[] = [];
  const heard: (RemotePushedGrant | undefined)[] = [];
  const watch = driver.watch!(b, (g) => pushes.push(g));
  const watch2 = other.watch!(bystander, (g) => heard.push(g));
  const lease = 4_000;
  const called = performance.now();
  await driver.acquire(req(b, { leaseMs: lease }), s());
  await other.acquire(req(bystander), s()); // queued behind b
  assert(await watch.listen(), "b's stream did not come up");
  assert(await watch2.listen(), "the bystander's stream did not come up");
  await until(() => pushes.length > 0, 500); // a "look again" hint, if any
  pushes.length = 0;
  heard.length = 0;
  bridge.resetStats();
  await driver.release(a, s());
  assert(
    await until(() => pushes.some((p) => p !== undefined), 2_000),
    "no push",
  );
  const grant = pushes.find((p) => p !== undefined)!;
  const snapshot = await driver.query(s());
  // The fence the waiter hears is the one Redis stored (a fence near 2^51
  // written by Lua's tostring would lose its last digits).
  assertEquals(grant.fence, snapshot.held[0]!.fence);
  // Reckoned from b's call, which reached Redis before the grant: the
  // lease plus the wait, no more than the time since b sent its call.
  assert(
    grant.leaseMs >= lease &&
      grant.leaseMs <= lease + (performance.now() - called),
    `leaseMs ${grant.leaseMs}`,
  );
  // One delivery: the handoff reached b's stream, not the bystander's.
  assertEquals(bridge.stats.deliveries, 1);
  assertEquals(heard.filter((h) => h !== undefined).length, 0);
  watch.stop();
  watch2.stop();
  await driver.release(b, s());
  await other.cancel(bystander, s());
});

test("upstashDriver() drains N waiters on N clients with about N deliveries (not N²), one stream per client", async () => {
  const n = 6;
  const { driver, make } = setup();
  const holder = token();
  await driver.acquire(req(holder), s());
  const clients = Array.from(
    { length: n },
    () => make(isolatedTransport(bridge.url, bridge.token)),
  );
  const tokens = clients.map(() => token());
  const grants = new Map<string, RemotePushedGrant>();
  const watches = clients.map((d, i) =>
    d.watch!(tokens[i]!, (g) => {
      if (g !== undefined) grants.set(tokens[i]!, g);
    })
  );
  for (let i = 0; i < n; i++) await clients[i]!.acquire(req(tokens[i]!), s());
  for (const w of watches) assert(await w.listen(), "a stream did not come up");
  await delay(100);
  bridge.resetStats();
  // The core's part, in short: each pushed waiter releases at once.
  await driver.release(holder, s());
  for (let i = 0; i < n; i++) {
    assert(
      await until(() => grants.has(tokens[i]!), 3_000),
      `waiter ${i} was not pushed its grant`,
    );
    await clients[i]!.release(tokens[i]!, s());
  }
  const { deliveries, subscriptions } = bridge.stats;
  for (const w of watches) w.stop();
  // Before: every handoff reached every waiting client (n + (n-1) + … ≈ n²/2).
  assertEquals(deliveries, n);
  assertEquals(subscriptions, 0); // no stream was reopened meanwhile
});

test("upstashDriver() listens through one stream per client for all its locks and waiters, closed at once when the last stops", async () => {
  const transport = isolatedTransport(bridge.url, bridge.token);
  const prefix = `d:${crypto.randomUUID()}:`;
  const locks = ["a", "b", "c"].map((name) =>
    upstashDriver({ name, prefix }, transport)
  );
  const holders = locks.map(() => token());
  for (let i = 0; i < locks.length; i++) {
    await locks[i]!.acquire(req(holders[i]!), s());
  }
  bridge.resetStats();
  const watches = [];
  for (const lock of locks) {
    for (let j = 0; j < 2; j++) {
      const t = token();
      const w = lock.watch!(t, () => {});
      await lock.acquire(req(t), s());
      watches.push({ w, t, lock });
    }
  }
  for (const { w } of watches) assert(await w.listen());
  assertEquals(bridge.stats.subscriptions, 1);
  const { channel } = hubOf(transport);
  const listeners = async () =>
    ((await raw("PUBSUB", "NUMSUB", channel)) as [string, number])[1];
  assertEquals(await listeners(), 1);
  for (const { w, t, lock } of watches) {
    w.stop();
    await lock.cancel(t, s());
  }
  // Closed at once: the bridge's subscriber connection is gone.
  assert(
    await waitFor(async () => (await listeners()) === 0, 1_000),
    "the stream outlived its last waiter",
  );
  for (let i = 0; i < locks.length; i++) {
    await locks[i]!.release(holders[i]!, s());
  }
});

async function waitFor(check: () => Promise<boolean>, ms: number) {
  const end = performance.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (performance.now() > end) return false;
    await delay(20);
  }
}

/** What a call rejected with, and how long it took. */
async function failure(call: () => Promise<unknown>) {
  const started = performance.now();
  try {
    await call();
  } catch (error) {
    return { error, ms: performance.now() - started };
  }
  throw new Error("the call did not fail");
}

test("upstashDriver() aborts a request that hangs when its signal does, within a small bound", async () => {
  const { driver, prefix } = setup();
  const a = token();
  await driver.acquire(req(a), s());
  for (const which of ["acquire", "extend", "release", "cancel"] as const) {
    bridge.inject({ kind: "hang", match: prefix });
    const signal = AbortSignal.timeout(200);
    const { error, ms } = await failure(() =>
      which === "acquire"
        ? driver.acquire(req(token()), signal)
        : which === "extend"
        ? driver.extend(a, 5_000, 1, signal)
        : driver[which](a, signal)
    );
    assertEquals((error as Error).name, "TimeoutError", which);
    assert(ms < 1_000, `${which} settled ${ms.toFixed(0)} ms after the call`);
  }
  await driver.release(a, s());
});

test("upstashDriver() over an @upstash/redis client races a hung request with its signal, and keeps its subscribe", async () => {
  const prefix = `d:${crypto.randomUUID()}:`;
  const client = new Redis({
    url: bridge.url,
    token: bridge.token,
    enableTelemetry: false,
  });
  const driver = upstashDriver({ name: "job", prefix, redis: client });
  assert(driver.target.includes(new URL(bridge.url).host), driver.target);
  const a = token(), b = token();
  await driver.acquire(req(a), s());
  bridge.inject({ kind: "hang", match: prefix });
  const { error, ms } = await failure(() =>
    driver.acquire(req(token()), AbortSignal.timeout(200))
  );
  assertEquals((error as Error).name, "TimeoutError");
  assert(ms < 1_000, `settled after ${ms.toFixed(0)} ms`);
  // Pushes come through the client's own subscriber.
  const pushes: RemotePushedGrant[] = [];
  const watch = driver.watch!(b, (g) => g && pushes.push(g));
  await driver.acquire(req(b), s());
  assert(await watch.listen(), "the client's subscription did not come up");
  await driver.release(a, s());
  assert(await until(() => pushes.length > 0, 2_000), "no push");
  watch.stop();
  await driver.release(b, s());
});

test("upstashDriver() fails fast with a readable, non-retryable error on a wrong token, never showing the command", async () => {
  const prefix = `d:${crypto.randomUUID()}:`;
  for (
    const redis of [
      { url: bridge.url, token: "wrong" },
      new Redis({ url: bridge.url, token: "wrong", enableTelemetry: false }),
    ]
  ) {
    const driver = upstashDriver({ name: "job", prefix, redis });
    const { error, ms } = await failure(() =>
      driver.acquire(req(token()), s())
    );
    const message = (error as Error).message;
    assert(error instanceof UpstashRequestError, String(error));
    assert(message.startsWith("401 unauthorized (check the token)"), message);
    assert(!/EVAL|command was/i.test(message), message);
    assertEquals(driver.retryable!(error), false);
    assert(ms < 1_000, `${ms.toFixed(0)} ms`);
  }
});

test("upstashDriver() names what is wrong when the bridge is down or the environment unset, within the signal's deadline", async () => {
  const down = await startUpstashBridge({ redisUrl: redis.url });
  const url = down.url;
  await down.close(); // nothing listens on its port now
  const driver = upstashDriver({
    name: "job",
    redis: { url, token: "t" },
  });
  assertEquals(driver.target, `Upstash at ${url}`);
  const { error, ms } = await failure(() =>
    driver.acquire(req(token()), AbortSignal.timeout(2_000))
  );
  assertEquals((error as Error).message, "connection refused");
  assertEquals(driver.retryable!(error), true);
  assert(ms < 500, `the refusal took ${ms.toFixed(0)} ms`);
  // A bridge that accepts but never answers: the signal bounds it.
  const slow = await failure(() => {
    bridge.inject({ kind: "hang" });
    return upstashDriver({
      name: "job",
      redis: { url: bridge.url, token: bridge.token },
    }).status(AbortSignal.timeout(300));
  });
  assertEquals((slow.error as Error).name, "TimeoutError");
  assert(slow.ms < 1_000, `the hang took ${slow.ms.toFixed(0)} ms`);

  const saved = { ...process.env };
  delete process.env.UPSTASH_REDIS_REST_URL;
  delete process.env.UPSTASH_REDIS_REST_TOKEN;
  delete process.env.KV_REST_API_URL;
  delete process.env.KV_REST_API_TOKEN;
  try {
    const fromEnv = upstashDriver({ name: "job" });
    assertEquals(fromEnv.target, "Upstash at $UPSTASH_REDIS_REST_URL");
    const unset = await failure(() => fromEnv.status(s()));
    assert(
      (unset.error as Error).message.startsWith(
        "UPSTASH_REDIS_REST_URL is not set",
      ),
      String(unset.error),
    );
    assertEquals(fromEnv.retryable!(unset.error), false);
    process.env.UPSTASH_REDIS_REST_URL = bridge.url;
    const noToken = await failure(() => fromEnv.status(s()));
    assert(
      (noToken.error as Error).message.startsWith(
        "UPSTASH_REDIS_REST_TOKEN is not set",
      ),
      String(noToken.error),
    );
    process.env.UPSTASH_REDIS_REST_TOKEN = bridge.token;
    assertEquals(await fromEnv.status(s()), { holders: 0, waiters: 0 });
    assertEquals(fromEnv.target, `Upstash at ${bridge.url}`);
  } finally {
    for (const k of Object.keys(process.env)) {
      if (!(k in saved)) delete process.env[k];
    }
    Object.assign(process.env, saved);
  }
});

test("upstashDriver() reports 5xx and garbage as retryable, and never grants on them", async () => {
  const { driver, prefix } = setup();
  for (const kind of ["status-500", "garbage"] as const) {
    bridge.inject({ kind, match: prefix });
    const { error } = await failure(() => driver.acquire(req(token()), s()));
    assert(error instanceof UpstashRequestError, String(error));
    assertEquals(driver.retryable!(error), true, kind);
    assertEquals(await driver.status(s()), { holders: 0, waiters: 0 });
  }
});

test("upstashDriver() runs its scripts again after Redis forgot them (NOSCRIPT, then EVAL)", async () => {
  const { driver } = setup();
  const a = token();
  await driver.acquire(req(a), s());
  await raw("SCRIPT", "FLUSH");
  bridge.resetStats();
  assertEquals(await driver.release(a, s()), true);
  assertEquals(bridge.stats.requests, 2); // EVALSHA, then EVAL
  assertEquals(await driver.release(a, s()), false);
  assertEquals(bridge.stats.requests, 3); // cached again
});

test("upstashDriver() refuses to grant into keys that lost a holder (eviction), with a clear error, until every lease that may run has ended", async () => {
  for (const lost of ["h", "f", "w"]) {
    const { driver, prefix } = setup();
    const a = token();
    await driver.acquire(req(a, { leaseMs: 600 }), s());
    await raw("DEL", `${prefix}{job}:${lost}`); // as eviction would
    for (const mode of ["exclusive", "shared"] as const) {
      const { error } = await failure(() =>
        driver.acquire(req(token(), { mode }), s())
      );
      const message = (error as Error).message;
      assert(
        message.startsWith("Redis lost part of this lock's state"),
        `${lost} ${mode}: ${message}`,
      );
      assertEquals(driver.retryable!(error), false);
    }
    assert((await driver.status(s())).holders >= 1, `${lost}: not locked`);
    if (lost === "f") {
      // A holder whose record is gone cannot prove its extend is new.
      assertEquals((await driver.extend(a, 5_000, 1, s())).held, false);
    }
    await delay(700);
    const b = token();
    const later = await driver.acquire(req(b), s());
    assertEquals(
      later.state,
      "granted",
      `${lost}: not granted after the lease`,
    );
    await driver.release(b, s());
  }
});

test("upstashDriver() drops waiters whose records were lost, and they queue again with their next call", async () => {
  const { driver, prefix } = setup();
  const a = token(), b = token(), c = token();
  await driver.acquire(req(a), s());
  await driver.acquire(req(b), s());
  await driver.acquire(req(c), s());
  await raw("DEL", `${prefix}{job}:qx`, `${prefix}{job}:s`);
  assertEquals((await driver.status(s())).waiters, 0);
  await driver.acquire(req(c), s());
  await driver.acquire(req(b), s());
  const d = token();
  await driver.acquire(req(d), s());
  const { pending } = await driver.query(s());
  assertEquals(pending.length, 3);
  await driver.release(a, s());
  // c queued again first, and the lost ticket counter did not let d pass.
  assertEquals((await driver.acquire(req(c), s())).state, "granted");
  assertEquals((await driver.acquire(req(d), s())).state, "queued");
  for (const t of [b, c, d]) await driver.release(t, s());
});

test("upstashDriver() notices a stream that died with Redis at once, and tells its waiters to ask again when it is back", async () => {
  const { driver } = setup();
  const a = token(), b = token();
  await driver.acquire(req(a, { leaseMs: 30_000 }), s());
  const wakes: (RemotePushedGrant | undefined)[] = [];
  const watch = driver.watch!(b, (g) => wakes.push(g));
  await driver.acquire(req(b), s());
  assert(await watch.listen());
  await delay(100);
  wakes.length = 0;
  const restarted = performance.now();
  await redis.restart(); // the stream ends with the bridge's subscription
  assert(
    await until(() => wakes.length > 0, 3_000),
    "the waiter was not told that its stream came back",
  );
  const ms = performance.now() - restarted;
  assertEquals(wakes[0], undefined); // a hint: ask again
  // Redis lost everything: b asks again, and is granted.
  const again = await driver.acquire(req(b), s());
  assertEquals(again.state, "granted");
  watch.stop();
  await driver.release(b, s());
  console.log(`stream back ${ms.toFixed(0)} ms after the restart began`);
});

test("upstashDriver() replaces a stream that went silent when a poll finds a grant it should have pushed", async () => {
  const prefix = `d:${crypto.randomUUID()}:`;
  const client = new Redis({
    url: bridge.url,
    token: bridge.token,
    enableTelemetry: false,
  });
  // @upstash/redis's subscriber does not notice its stream end: silence.
  const driver = upstashDriver({ name: "job", prefix, redis: client });
  // A waiter on another lock of the same client keeps the stream wanted.
  const other = upstashDriver({ name: "other", prefix, redis: client });
  const h = token(), x = token();
  await other.acquire(req(h), s());
  const wx = other.watch!(x, () => {});
  await other.acquire(req(x), s());
  const a = token(), b = token(), c = token();
  await driver.acquire(req(a), s());
  const pushes: RemotePushedGrant[] = [];
  const wb = driver.watch!(b, (g) => g && pushes.push(g));
  await driver.acquire(req(b), s());
  assert(await wb.listen());
  await raw("CLIENT", "KILL", "TYPE", "pubsub"); // the bridge ends the stream
  await driver.release(a, s());
  await delay(1_200);
  assertEquals(pushes.length, 0); // lost: nobody listens any more
  bridge.resetStats();
  // The poll finds the grant, and tells the driver its stream is dead.
  assertEquals((await driver.acquire(req(b), s())).state, "granted");
  wb.stop();
  const wc = driver.watch!(c, (g) => g && pushes.push(g));
  await driver.acquire(req(c), s());
  assert(await wc.listen(), "no new stream");
  assertEquals(bridge.stats.subscriptions, 1);
  await driver.release(b, s());
  assert(
    await until(() => pushes.length > 0, 2_000),
    "no push on the new stream",
  );
  wc.stop();
  wx.stop();
  await driver.release(c, s());
  await other.cancel(x, s());
  await other.release(h, s());
});

test("upstashDriver() keeps its stream when a script is merely new to Redis (its first NOSCRIPT), and the push arrives", async () => {
  const { driver } = setup();
  await raw("SCRIPT", "FLUSH"); // a fresh Redis: no script is loaded yet
  const a = token(), b = token();
  await driver.acquire(req(a), s());
  const pushes: (RemotePushedGrant | undefined)[] = [];
  const watch = driver.watch!(b, (g) => pushes.push(g));
  await driver.acquire(req(b), s());
  assert(await watch.listen());
  await delay(50);
  pushes.length = 0;
  bridge.resetStats();
  await driver.release(a, s()); // the release script's first use: NOSCRIPT
  assert(
    await until(() => pushes.some((p) => p !== undefined), 2_000),
    `no push (heard ${JSON.stringify(pushes)})`,
  );
  assertEquals(bridge.stats.subscriptions, 0); // the stream was kept
  watch.stop();
  await driver.release(b, s());
});

// What the core does, in short, in a process of its own: a holder, and a
// waiter that waits for its pushed grant and releases it.
const EXIT_CHILD = `
import { upstashDriver } from "../../src/upstash/_driver.ts";
const [url, token] = process.argv.slice(2);
const driver = upstashDriver({
  name: "exit",
  prefix: "x:" + crypto.randomUUID() + ":",
  redis: { url, token },
});
const s = () => AbortSignal.timeout(5000);
const req = (t) => ({ token: t, mode: "exclusive", leaseMs: 30000, join: true,
  waitMs: 5000, priority: 0, owner: undefined });
await driver.acquire(req("lk_holder"), s());
let woken;
const pushed = new Promise((resolve) => (woken = resolve));
const watch = driver.watch("lk_waiter", (g) => g && woken(g));
const queued = await driver.acquire(req("lk_waiter"), s());
if (queued.state !== "queued") throw new Error(JSON.stringify(queued));
if (!(await watch.listen())) throw new Error("no stream");
await new Promise((r) => setTimeout(r, 200));
await driver.release("lk_holder", s());
await pushed;
watch.stop();
await driver.release("lk_waiter", s());
console.log("released");
`;

test(
  "upstashDriver() lets a process exit at once after its last release, although it waited for a pushed grant",
  async () => {
    const { build } = await import("esbuild");
    const { spawn } = await import("node:child_process");
    const { mkdtempSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join, dirname } = await import("node:path");
    const { fileURLToPath } = await import("node:url");
    const outfile = join(mkdtempSync(join(tmpdir(), "unilock-exit-")), "c.mjs");
    await build({
      stdin: {
        contents: EXIT_CHILD,
        resolveDir: dirname(fileURLToPath(import.meta.url)),
        loader: "ts",
      },
      bundle: true,
      platform: "node",
      format: "esm",
      outfile,
      logLevel: "error",
    });
    const exits: number[] = [];
    for (let i = 0; i < 3; i++) {
      exits.push(
        await new Promise<number>((resolve, reject) => {
          const child = spawn(process.execPath, [
            outfile,
            bridge.url,
            bridge.token,
          ], {
            stdio: ["ignore", "pipe", "pipe"],
          });
          let released = 0, err = "";
          child.stdout.on("data", (d) => {
            if (String(d).includes("released")) released = performance.now();
          });
          child.stderr.on("data", (d) => (err += d));
          child.on(
            "exit",
            (code) =>
              code === 0 && released > 0
                ? resolve(performance.now() - released)
                : reject(new Error(`exit ${code}: ${err}`)),
          );
        }),
      );
    }
    console.log(
      `exit after the last release: ${
        exits.map((ms) => ms.toFixed(0)).join(", ")
      } ms`,
    );
    // Before: 1.7–2.0 s (the old lock's stream lingered a second, and more).
    assert(Math.min(...exits) < 500, `exited ${exits} ms after the release`);
  },
  30_000,
);
