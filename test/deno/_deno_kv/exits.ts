// Copyright 2026 the unilock authors. MIT license.
// Run by ../deno_kv_test.ts: a handoff between two lock objects (the
// waiter listens on kv.watch()), then nothing held or awaited. The process
// must then exit by itself, with the KV handle still open.
import { createLock } from "../../../mod.ts";

const kv = await Deno.openKv(Deno.args[0]!);
const name = `exits-${crypto.randomUUID()}`;
const a = createLock("deno-kv", { name, kv });
const b = createLock("deno-kv", { name, kv });
const first = await a.acquire();
const second = b.acquire();
setTimeout(() => first.release(), 50);
await (await second).release();
console.log("done");
