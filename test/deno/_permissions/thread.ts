// Copyright 2026 the unilock authors. MIT license.
// Run by ../permissions_test.ts with the Deno permissions the docs give: a
// thread lock handed to a worker, which takes it once.
import { createLock, type ThreadLock } from "@unilock/unilock";

const lock = createLock("thread", { name: "ledger" }) as ThreadLock;
const worker = new Worker(new URL("./_thread_worker.ts", import.meta.url), {
  type: "module",
});
const done = new Promise<unknown>((resolve, reject) => {
  worker.onmessage = resolve;
  worker.onerror = (event) => {
    event.preventDefault();
    reject(new Error(event.message));
  };
});
worker.postMessage(lock.handle);
await done;
await lock.withLock(() => {});
worker.terminate();
console.log("ok thread");
