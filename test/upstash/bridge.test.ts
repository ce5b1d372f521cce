// Copyright 2026 the unilock authors. MIT license.
// The Upstash REST bridge, exercised by the real @upstash/redis client
// against a real redis-server that this file starts and stops.
import { Redis } from "@upstash/redis";
import { afterAll, beforeAll, test } from "vitest";
import {
  startUpstashBridge,
  type UpstashBridge,
} from "../../src/upstash_bridge/upstash_bridge.ts";
import { assert, assertEquals, assertRejects } from "../_assert.ts";
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

function client(options: Partial<ConstructorParameters<typeof Redis>[0]> = {}) {
  return new Redis({
    url: bridge.url,
    token: bridge.token,
    enableTelemetry: false,
    ...options,
  });
}

test("UpstashBridge answers single commands, pipelines and base64 the way the SDK expects", async () => {
  for (const responseEncoding of ["base64", false] as const) {
    for (const enableAutoPipelining of [true, false]) {
      const r = client({ responseEncoding, enableAutoPipelining });
      const key = `k-${crypto.randomUUID()}`;
      assertEquals(await r.set(key, "héllo", { px: 10_000 }), "OK");
      assertEquals(await r.get(key), "héllo");
      assertEquals(await r.set(key, "x", { nx: true }), null);
      assertEquals(await r.del(key), 1);
      const p = r.pipeline();
      p.incr(`${key}:n`);
      p.lpush(`${key}:l`, "a", "b");
      p.lrange(`${key}:l`, 0, -1);
      assertEquals(await p.exec(), [1, 2, ["b", "a"]]);
    }
  }
});

test("UpstashBridge runs /multi-exec atomically and reports per-command errors", async () => {
  const r = client();
  const key = `m-${crypto.randomUUID()}`;
  const tx = r.multi();
  tx.set(key, "abc");
  tx.get(key);
  assertEquals(await tx.exec(), ["OK", "abc"]);
});

test("UpstashBridge serves EVALSHA with the NOSCRIPT fallback to EVAL", async () => {
  const r = client();
  await r.scriptFlush();
  const script = r.createScript<number>("return tonumber(ARGV[1]) + 1");
  assertEquals(await script.exec([], ["41"]), 42);
  assertEquals(await script.exec([], ["1"]), 2);
});

test("UpstashBridge streams SUBSCRIBE as Server-Sent Events", async () => {
  const r = client();
  const channel = `ch-${crypto.randomUUID()}`;
  const sub = r.subscribe([channel]);
  const subscribed = new Promise((resolve) => sub.on("subscribe", resolve));
  const message = new Promise((resolve) =>
    sub.on("message", (m) => resolve(m.message))
  );
  await subscribed;
  await r.publish(channel, "wake-up");
  assertEquals(await message, "wake-up");
  await sub.unsubscribe();
});

test("UpstashBridge rejects a wrong token with 401 and a wrong method with 405", async () => {
  const wrong = client({ token: "nope" });
  await assertRejects(wrong.get("x"), Error, ["Unauthorized"]);
  const res = await fetch(bridge.url, {
    method: "GET",
    headers: { authorization: `Bearer ${bridge.token}` },
  });
  assertEquals(res.status, 405);
  await res.body?.cancel();
});

test("UpstashBridge answers a failed command with 400 and the Redis error", async () => {
  const res = await fetch(bridge.url, {
    method: "POST",
    headers: { authorization: `Bearer ${bridge.token}` },
    body: JSON.stringify(["NOPE"]),
  });
  assertEquals(res.status, 400);
  const body = await res.json() as { error: string };
  assert(body.error.startsWith("ERR unknown command"), body.error);
});

test("UpstashBridge injects faults and counts requests and commands", async () => {
  const r = client({ retry: false });
  bridge.resetStats();
  bridge.inject({ kind: "status-500" });
  await assertRejects(r.get("x"), Error, ["injected"]);
  bridge.inject({ kind: "garbage" });
  await assertRejects(r.get("x"));
  // retry: false still tries twice (attempts = 1 means one retry).
  bridge.inject({ kind: "drop-request", count: 2 });
  await assertRejects(r.get("x"));
  assertEquals(await r.get("absent-" + crypto.randomUUID()), null);
  assertEquals(bridge.stats.faults, 4);
  assertEquals(bridge.stats.requests, 5);
  assertEquals(bridge.stats.commands, 1);
});

test("UpstashBridge runs a command before dropping its response, and the SDK retries", async () => {
  const r = client();
  const key = `d-${crypto.randomUUID()}`;
  bridge.inject({ kind: "drop-response", match: key });
  // INCR is not idempotent: the dropped response hides a first increment.
  assertEquals(await r.incr(key), 2);
});
