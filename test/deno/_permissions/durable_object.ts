// Copyright 2026 the unilock authors. MIT license.
// Run by ../permissions_test.ts with the Deno permissions the docs give: the
// durable-object lock through the lock service, taken once, then waited for
// (on the lock's WebSocket).
import { createLock } from "@unilock/unilock";

const [url, token] = Deno.args;
if (url === undefined || token === undefined) {
  throw new TypeError("Usage: durable_object.ts <url> <token>");
}
const lock = createLock("durable-object", {
  name: `perm-${crypto.randomUUID()}`,
  url,
  token,
});
const first = await lock.acquire();
const second = lock.acquire({ timeoutMs: 10_000 });
setTimeout(() => first.release(), 100);
await (await second).release();
console.log("ok durable-object");
