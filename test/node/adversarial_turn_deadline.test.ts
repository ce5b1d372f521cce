// Copyright 2026 the unilock authors. MIT license.
// Adversarial: a waiter's `timeoutMs` must bound it even when it spent its
// budget waiting for its turn behind another acquire on the same instance
// (as LockManager hands out one instance per name) and the backend hangs.
// RemoteLock#acquire lets a deadline that passed before the first call send
// one "only if free now" call with no deadline at all (remote_lock.ts:485,
// :512), which #call then repeats RETRIES times, each for a whole
// requestTimeoutMs: a 500 ms waiter settles after ~4 request timeouts, with
// LockBackendError instead of LockTimeoutError. Whether the deadline has
// passed when the turn-wait's timer fires is a coin toss (the timer may fire
// a hair early); an event-loop pause makes it certain.
import { test } from "vitest";
import { LockTimeoutError } from "../../mod.ts";
import { assert, delay } from "../_assert.ts";
import { describe, useBackends, within } from "./_adversarial_backends.ts";

const backends = useBackends(500);

for (const type of ["upstash", "durable-object"] as const) {
  test(
    `RemoteLock.acquire() rejects with LockTimeoutError by its timeoutMs when it waited for its turn behind a hung acquire on the same instance (${type})`,
    async () => {
      const backend = backends[type]!;
      const named = backend.fresh();
      const lock = named.lock({ requestTimeoutMs: 1_500 });
      // The backend stops answering this lock's requests (a partition that
      // leaves connections open, a stuck service).
      const hang = backend.proxy.add({ match: named.matches, action: "hang" });
      const first = lock.acquire().catch((e) => e); // no timeout of its own
      await delay(50);
      const started = performance.now();
      const second = lock.acquire({ timeoutMs: 500 });
      // The event loop is busy a moment (a GC pause, a CPU-bound handler), so
      // the wait for the turn ends past the deadline rather than a hair before
      // it: without the pause this fails about every other run.
      const busyUntil = performance.now() + 600;
      while (performance.now() < busyUntil) { /* busy */ }
      const outcome = await within(second, 500 + 1_500);
      const took = performance.now() - started;
      backend.proxy.clear(hang);
      await within(first, 15_000);
      assert(
        outcome instanceof LockTimeoutError,
        `acquire({ timeoutMs: 500 }) gave ${describe(outcome)} after ${
          took.toFixed(0)
        } ms`,
      );
    },
    30_000,
  );

  test(
    `RemoteLock.acquire() with timeoutMs 0 settles within one requestTimeoutMs when the backend hangs (${type})`,
    async () => {
      const backend = backends[type]!;
      const named = backend.fresh();
      const lock = named.lock({ requestTimeoutMs: 1_000 });
      const hang = backend.proxy.add({ match: named.matches, action: "hang" });
      const started = performance.now();
      const outcome = await within(lock.acquire({ timeoutMs: 0 }), 15_000);
      const took = performance.now() - started;
      backend.proxy.clear(hang);
      // One request, one request timeout (plus a little): "only if free now"
      // is not worth four request timeouts of a caller who would not wait.
      assert(
        took < 1_000 + 750,
        `acquire({ timeoutMs: 0 }) took ${took.toFixed(0)} ms (${
          describe(outcome)
        }) with requestTimeoutMs 1000`,
      );
    },
    30_000,
  );
}
