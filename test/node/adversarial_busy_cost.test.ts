// Copyright 2026 the unilock authors. MIT license.
// Adversarial (cost, not safety): a busy answer is a definite outcome — the
// server neither granted nor queued — yet RemoteLock#attempt's finally
// (remote_lock.ts:591) abandons every token it sent, busy included: each
// busy `tryAcquire()` (and `acquire({ timeoutMs: 0 })`) sends a cancel too,
// which writes a tombstone (a Redis write billed per command on Upstash; a
// SQLite row written on the Durable Object, which also keeps an idle
// object's storage from being deleted) and adds a round trip (up to 200 ms)
// to the caller's wait. A poller doing tryAcquire pays double.
import { test } from "vitest";
import { assert, assertEquals } from "../_assert.ts";
import { useBackends } from "./_adversarial_backends.ts";

const backends = useBackends();

for (const type of ["upstash", "durable-object"] as const) {
  for (const how of ["tryAcquire()", "acquire({ timeoutMs: 0 })"] as const) {
    test(
      `RemoteLock.${how} costs one request when the lock is busy (${type})`,
      async () => {
        const backend = backends[type]!;
        const named = backend.fresh();
        const held = await named.lock().acquire();
        const lock = named.lock();
        // Warm up (Upstash loads its scripts with a NOSCRIPT round trip).
        if (how === "tryAcquire()") await lock.tryAcquire();
        else await lock.acquire({ timeoutMs: 0 }).catch(() => {});
        const before = backend.proxy.log.filter((e) => named.matches(e)).length;
        for (let i = 0; i < 5; i++) {
          if (how === "tryAcquire()") {
            assertEquals(await lock.tryAcquire(), undefined);
          } else await lock.acquire({ timeoutMs: 0 }).catch(() => {});
        }
        const seen = backend.proxy.log.filter((e) => named.matches(e));
        const requests = seen.length - before;
        await held.release();
        assert(
          requests === 5,
          `5 busy ${how} cost ${requests} requests: ${
            seen.slice(before).map((e) =>
              type === "upstash"
                ? e.body.slice(12, 20)
                : e.path.split("/").pop()
            ).join(", ")
          }`,
        );
      },
      20_000,
    );
  }
}
