// Copyright 2026 the unilock authors. MIT license.
// Adversarial: a waiter granted by a handoff whose lease ran out before the
// waiter asked again (its client has no subscribe, so it polls; its process
// paused past the lease) must queue again, as the core does for a stale
// grant it is told of. Instead the Upstash scripts bury an expired lease's
// token (_scripts.ts, purge: `bury(tk)`), the next ACQUIRE answers {3}
// "gone", and RemoteLock#attempt turns "gone" into a LockBackendError
// (remote_lock.ts:532-537) saying the waiter was "cancelled": an acquire
// with no timeout fails although nothing failed and nobody cancelled.
// (Only within about a second of the lapse: later the keys' own TTL has
// removed the lease, the token is not buried, and it is granted afresh.)
import { Redis } from "@upstash/redis";
import { afterAll, beforeAll, test } from "vitest";
import { createLock, type Lease } from "../../mod.ts";
import { assert, delay } from "../_assert.ts";
import { describe, startUpstash, within } from "./_adversarial_backends.ts";

let backend: Awaited<ReturnType<typeof startUpstash>>;
beforeAll(async () => {
  backend = await startUpstash();
});
afterAll(async () => {
  await backend?.close();
});

function pause(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) { /* a stop-the-world pause */ }
}

test(
  "UpstashLock.acquire() queues again, rather than failing with LockBackendError, when its grant ran out before its next poll",
  async () => {
    const named = backend.fresh();
    const redis = new Redis({
      url: backend.proxy.url,
      token: backend.bridge.token,
      enableTelemetry: false,
    });
    // What a user passes who wraps the SDK (UpstashRedisLike): no subscribe,
    // so the waiter polls.
    const polling = {
      eval: redis.eval.bind(redis),
      evalsha: redis.evalsha.bind(redis),
    };
    const waiter = createLock("upstash", {
      name: named.name,
      // deno-lint-ignore no-explicit-any
      redis: polling as any,
      prefix: named.prefix,
    });
    const held = await named.lock().acquire({ leaseMs: 10_000 });
    const waiting = waiter.acquire({ leaseMs: 300 });
    await delay(1_000); // queued, polling about once a second
    await held.release(); // hands the lock to the waiter, for 300 ms
    pause(1_000); // the waiter's next poll comes after its grant lapsed
    const outcome = await within(waiting, 5_000);
    assert(
      typeof outcome === "object" && outcome !== null && "fence" in outcome,
      `acquire() gave ${describe(outcome)}`,
    );
    const lease = outcome as Lease;
    assert(!lease.signal.aborted, "the lease is lost already");
    await lease.release();
  },
  20_000,
);
