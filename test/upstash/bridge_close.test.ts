// Copyright 2026 the unilock authors. MIT license.
// The bridge's close(): with idle keep-alive connections (kept 60 s) it
// returns at once; a request held back by `delay-request` when close() is
// called opens no Redis connection after it, so nothing keeps the process
// alive (the two delay-request tests failed before close() barred new
// connections; found by review).
import { afterAll, beforeAll, test } from "vitest";
import { spawn } from "node:child_process";
import { createLock } from "../../mod.ts";
import { startUpstashBridge } from "../../src/upstash_bridge/upstash_bridge.ts";
import { RespConnection } from "../../src/upstash_bridge/_resp.ts";
import { assert, delay } from "../_assert.ts";
import { type RedisServer, startRedis } from "../_services.mjs";
import { bundleChild, timeExitAfter } from "../node/_exit_timing.ts";

let redis: RedisServer;
const root = new URL("../../", import.meta.url).pathname;

beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

/** The number of clients connected to Redis, other than this asking one. */
async function redisClients(): Promise<number> {
  const url = new URL(redis.url);
  const conn = new RespConnection(url.hostname, Number(url.port));
  try {
    const list = await conn.send(["CLIENT", "LIST"]);
    return String(list).trim().split("\n").length - 1;
  } finally {
    conn.close();
  }
}

test(
  "UpstashBridge.close() returns at once with idle keep-alive connections of a client in another process",
  async () => {
    const bridge = await startUpstashBridge({ redisUrl: redis.url });
    const file = await bundleChild(`
import { createLock } from "${root}mod.ts";
const [url, token] = process.argv.slice(2);
const name = "ka-" + crypto.randomUUID();
const options = { name, redis: { url, token }, prefix: "ka:" + crypto.randomUUID() + ":" };
const a = createLock("upstash", options);
const b = createLock("upstash", options);
const held = await a.acquire();
const waiting = b.acquire({ timeoutMs: 10000 });
await new Promise((r) => setTimeout(r, 300));
await held.release();
await (await waiting).release();
console.log("idle");
setTimeout(() => {}, 30000); // stays alive, its connections idle
`);
    const child = spawn(process.execPath, [file, bridge.url, bridge.token], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on("data", (d) => {
          if (String(d).includes("idle")) resolve();
        });
        child.once("exit", (code) => reject(new Error(`child exited ${code}`)));
      });
      await delay(200);
      const t0 = performance.now();
      await bridge.close();
      const ms = performance.now() - t0;
      assert(ms < 500, `close() took ${Math.round(ms)} ms`);
    } finally {
      child.kill();
    }
  },
  20_000,
);

test(
  "UpstashBridge.close() returns at once with idle keep-alive connections of a client in this process",
  async () => {
    const bridge = await startUpstashBridge({ redisUrl: redis.url });
    const lock = createLock("upstash", {
      name: `ka-${crypto.randomUUID()}`,
      redis: { url: bridge.url, token: bridge.token },
      prefix: `ka:${crypto.randomUUID()}:`,
    });
    const a = await lock.acquire();
    await a.release();
    const t0 = performance.now();
    await bridge.close();
    const ms = performance.now() - t0;
    assert(ms < 500, `close() took ${Math.round(ms)} ms`);
  },
);

test(
  "UpstashBridge.close() leaves no Redis connection behind for a request it was holding back (delay-request)",
  async () => {
    const before = await redisClients();
    const bridge = await startUpstashBridge({ redisUrl: redis.url });
    const lock = createLock("upstash", {
      name: `late-${crypto.randomUUID()}`,
      redis: { url: bridge.url, token: bridge.token },
      prefix: `late:${crypto.randomUUID()}:`,
      requestTimeoutMs: 2_000,
    });
    await (await lock.acquire()).release(); // scripts loaded, connection up
    bridge.inject({ kind: "delay-request", delayMs: 300, match: "" });
    const pending = lock.tryAcquire().catch(() => undefined);
    await delay(100);
    await bridge.close();
    await pending;
    await delay(600); // past the held-back request's run
    const after = await redisClients();
    assert(
      after <= before,
      `the closed bridge holds ${after - before} Redis connection(s) open`,
    );
  },
);

test(
  "UpstashBridge.close() lets its process exit at once though it held a request back (delay-request)",
  async () => {
    const file = await bundleChild(`
import { startUpstashBridge } from "${root}src/upstash_bridge/upstash_bridge.ts";
const bridge = await startUpstashBridge({ redisUrl: process.argv[2] });
bridge.inject({ kind: "delay-request", delayMs: 300 });
const sent = fetch(bridge.url, {
  method: "POST",
  headers: { authorization: "Bearer " + bridge.token },
  body: JSON.stringify(["PING"]),
}).catch(() => {});
await new Promise((r) => setTimeout(r, 100));
await bridge.close();
await sent;
console.log("closed");
`);
    const { ms, killed, output } = await timeExitAfter(
      process.execPath,
      [file, redis.url],
      "closed",
      5_000,
    );
    assert(!Number.isNaN(ms), output);
    assert(
      !killed && ms < 1_000,
      `the process lived ${Math.round(ms)} ms after close()${
        killed ? " (killed)" : ""
      }`,
    );
  },
  20_000,
);
