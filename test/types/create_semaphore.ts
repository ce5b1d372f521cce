// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal Type tests: what the compiler must accept and reject in
 * `createSemaphore`, `LockManager.getOrCreateSemaphore` and `acquireAll`
 * with semaphores. Checked by `tsc` and `deno check` (a line under
 * `@ts-expect-error` that compiles is an error).
 */

import {
  acquireAll,
  createLock,
  createSemaphore,
  LockManager,
  type Semaphore,
  type SemaphoreLease,
  ThreadLockTable,
  type UpstashRedisLike,
} from "../../mod.ts";

/** True when A and B are the same type. */
type Equal<A, B> = (<X>() => X extends A ? 1 : 2) extends
  (<X>() => X extends B ? 1 : 2) ? true : false;
/** Compiles only for `true`. */
function expectType<T extends true>(_proof?: T): void {}

declare const redis: UpstashRedisLike;

// ---------------------------------------------------------------- accepted

const local = createSemaphore("local", { permits: 3 });
createSemaphore("local", { name: "a", permits: 3 });
createSemaphore("upstash", { name: "a", permits: 5, redis, leaseMs: 5_000 });
createSemaphore("durable-object", {
  name: "a",
  permits: 2,
  url: "https://locks.example.com",
  token: "t",
});
createSemaphore("auto", { name: "a", permits: 2, env: {} });
createSemaphore("thread", { permits: 2 });
createSemaphore("thread", {
  name: "a",
  permits: 2,
  table: new ThreadLockTable(),
});
new LockManager().getOrCreateSemaphore("t", "thread", { permits: 2 });
createSemaphore("file", { name: "a", permits: 2, dir: "/run/locks" });
expectType<Equal<typeof local, Semaphore>>();
async function leases(): Promise<void> {
  const lease = await local.acquire({ permits: 2, timeoutMs: 10 });
  expectType<Equal<typeof lease, SemaphoreLease>>();
  expectType<Equal<typeof lease.permits, number>>();
  const maybe = await local.tryAcquire();
  expectType<Equal<typeof maybe, SemaphoreLease | undefined>>();
  const n: number = await local.withPermits((l) => l.permits);
  void n;
  await acquireAll([createLock("local"), local, {
    semaphore: local,
    permits: 2,
  }]);
}
void leases;
new LockManager().getOrCreateSemaphore("api", "local", { permits: 2 });
new LockManager().getOrCreateSemaphore("api");

// ---------------------------------------------------------------- rejected

// @ts-expect-error permits is required
createSemaphore("local", { name: "a" });
// @ts-expect-error a type is required (there is no default semaphore)
createSemaphore();
// @ts-expect-error a lock type's option the thread semaphore does not take
createSemaphore("thread", { permits: 2, leaseMs: 5_000 });
// @ts-expect-error an option of another type
createSemaphore("local", { permits: 2, redis });
// @ts-expect-error a file semaphore has no redis
createSemaphore("file", { name: "a", permits: 2, dir: "/run/locks", redis });
// @ts-expect-error permits is a number
createSemaphore("local", { permits: "2" });
// @ts-expect-error a semaphore's acquire has no mode
local.acquire({ mode: "exclusive" });
