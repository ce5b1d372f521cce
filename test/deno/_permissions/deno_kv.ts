// Copyright 2026 the unilock authors. MIT license.
// Run by ../permissions_test.ts with the Deno permissions the docs give: a
// deno-kv lock on the KV file given as an argument (opened by the lock),
// taken once, then waited for (the waiter listens on kv.watch()).
import { createLock } from "@unilock/unilock";

const name = `perm-${crypto.randomUUID()}`;
const a = createLock("deno-kv", { name, kv: Deno.args[0]! });
const b = createLock("deno-kv", { name, kv: Deno.args[0]! });
const first = await a.acquire();
const second = b.acquire({ timeoutMs: 10_000 });
setTimeout(() => first.release(), 100);
await (await second).release();
console.log("ok deno-kv");
