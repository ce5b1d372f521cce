// Copyright 2026 the unilock authors. MIT license.
// A process of ../deno_kv_test.ts that holds one permit of a semaphore of
// <permits> on the KV file, prints "held", and releases when stdin closes.
//
// Usage: deno run -A sem_holder.ts <path> <name> <permits>
import { createSemaphore } from "../../../mod.ts";

const [path, name, permits] = Deno.args;
const kv = await Deno.openKv(path!);
const sem = createSemaphore("deno-kv", {
  name: name!,
  permits: Number(permits),
  kv,
});
const lease = await sem.acquire({ timeoutMs: 30_000 });
console.log("held");
for await (const _ of Deno.stdin.readable) { /* until the test closes it */ }
await lease.release();
kv.close();
