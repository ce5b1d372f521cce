// Copyright 2026 the unilock authors. MIT license.
// Run by ../permissions_test.ts with the Deno permissions the docs give: an
// upstash lock (credentials as arguments, or from the environment when there
// are none) taken once, then waited for, which opens its wake-up stream.
import { createLock } from "@unilock/unilock";

const [url, token] = Deno.args;
const name = `perm-${crypto.randomUUID()}`;
const lock = url === undefined || token === undefined
  ? createLock("upstash", { name })
  : createLock("upstash", { name, redis: { url, token } });
const first = await lock.acquire();
const second = lock.acquire({ timeoutMs: 10_000 });
setTimeout(() => first.release(), 100);
await (await second).release();
console.log("ok upstash");
