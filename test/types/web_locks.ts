// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal Type tests of `createWebLocks` and `WebLockManager`: what the
 * compiler must accept and reject (a line under `@ts-expect-error` that
 * compiles is an error).
 */

import {
  createWebLocks,
  type UpstashRedisLike,
  type WebLock,
  type WebLockManager,
  type WebLocks,
} from "../../mod.ts";

type Equal<A, B> = (<X>() => X extends A ? 1 : 2) extends
  (<X>() => X extends B ? 1 : 2) ? true : false;
function expectType<T extends true>(_proof?: T): void {}

declare const redis: UpstashRedisLike;

export async function webLocksTypes(): Promise<void> {
  const locks: WebLockManager = createWebLocks();
  const local: WebLocks = createWebLocks("local", { clientId: "a" });
  createWebLocks("upstash", { redis, prefix: "p:", leaseMs: 1_000 });
  createWebLocks("durable-object", { url: "https://x", token: "t" });
  createWebLocks("local", { callbackIn: "microtask" });
  // @ts-expect-error each request names its lock
  createWebLocks("upstash", { redis, name: "x" });
  // @ts-expect-error not an option of local
  createWebLocks("local", { prefix: "p:" });
  // @ts-expect-error callbackIn is "task" or "microtask"
  createWebLocks("local", { callbackIn: "later" });

  // Without ifAvailable the callback's lock is never null.
  const n = await locks.request("a", (lock) => lock.fence);
  expectType<Equal<typeof n, number>>();
  await local.request("a", { mode: "shared" }, (lock) => {
    expectType<Equal<typeof lock, WebLock>>();
  });
  const maybe = await locks.request("a", { ifAvailable: true }, (lock) => {
    expectType<Equal<typeof lock, WebLock | null>>();
    return lock?.name;
  });
  expectType<Equal<typeof maybe, string | undefined>>();
  // An async callback's promise is unwrapped.
  // deno-lint-ignore require-await
  const s = await locks.request("a", async () => "done");
  expectType<Equal<typeof s, string>>();
  // @ts-expect-error mode is "shared" or "exclusive"
  await locks.request("a", { mode: "write" }, () => {});
  const { held, pending } = await locks.query();
  expectType<Equal<typeof held[number]["clientId"], string>>();
  void pending;
}
