// Copyright 2026 the unilock authors. MIT license.
// Adversarial: the calls that have no deadline of their caller's
// (`isLocked()`, `query()`, `tryAcquire()`) against a backend that never
// answers. Each attempt was bounded by a request timeout, but the retries
// were not: a hung backend kept the caller waiting four request timeouts
// and their backoffs (over 40 s with the default of 10 s) before it heard
// of the fault. One request timeout now bounds the call and its retries
// together, as it bounds `release()` and `extend()`.
import { test } from "vitest";
import { LockBackendError } from "../../mod.ts";
import { assert } from "../_assert.ts";
import { describe, useBackends, within } from "./_adversarial_backends.ts";

const backends = useBackends();

const REQUEST_TIMEOUT_MS = 1_000;
/** Generous for a loaded machine; the retries alone took over 4 s. */
const BOUND_MS = 2_600;

const calls = {
  "isLocked()": (lock: { isLocked(): Promise<unknown> }) => lock.isLocked(),
  "query()": (lock: { query(): Promise<unknown> }) => lock.query(),
  "tryAcquire()": (lock: { tryAcquire(): Promise<unknown> }) =>
    lock.tryAcquire(),
};

for (const type of ["upstash", "durable-object"] as const) {
  for (const [method, call] of Object.entries(calls)) {
    test(
      `RemoteLock.${method} rejects with LockBackendError within about one request timeout when the backend hangs (${type})`,
      async () => {
        const backend = backends[type]!;
        const named = backend.fresh();
        const lock = named.lock({ requestTimeoutMs: REQUEST_TIMEOUT_MS });
        // Warm (scripts loaded, connection up), then every request hangs.
        await lock.isLocked();
        backend.proxy.add({
          match: (r) => named.matches(r),
          action: "hang",
          count: 100,
        });
        const start = performance.now();
        const outcome = await within(call(lock), 15_000);
        const tookMs = performance.now() - start;
        assert(
          outcome instanceof LockBackendError,
          `${method} gave ${describe(outcome)}`,
        );
        assert(
          tookMs < BOUND_MS,
          `${method} took ${
            Math.round(tookMs)
          } ms on a hung backend (request timeout ${REQUEST_TIMEOUT_MS} ms)`,
        );
      },
      30_000,
    );
  }
}
