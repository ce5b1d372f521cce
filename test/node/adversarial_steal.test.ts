// Copyright 2026 the unilock authors. MIT license.
// Adversarial: `acquire({ steal: true })` on the distributed backends.
//
// RemoteLock#steal (src/remote/remote_lock.ts) sends its one call with the
// caller's deadline as the call's whole budget, and then, in its `finally`,
// awaits #abandon (cancel, then release, by token) for up to one full
// request timeout. Two consequences:
// - `timeoutMs: 0` (and any timeoutMs shorter than a round trip) never
//   steals: #once finds the deadline passed before it sends anything and
//   throws Deadline, so the caller gets LockTimeoutError although a steal
//   never waits (the local lock steals with timeoutMs 0, and #attempt gives
//   a first call FIRST_CALL_MS whatever the timeout).
// - when the backend hangs, the rejection waits for #abandon's cancel,
//   i.e. requestTimeoutMs (10 s by default) rather than timeoutMs or the
//   signal: #attempt bounds the same wait by CLEANUP_WAIT_MS.
import { afterAll, beforeAll, test } from "vitest";
import { LockTimeoutError } from "../../mod.ts";
import { assert } from "../_assert.ts";
import {
  type Backend,
  describe,
  startDurableObject,
  startUpstash,
  within,
} from "./_adversarial_backends.ts";

const backends: Record<string, Backend> = {};
beforeAll(async () => {
  backends.upstash = await startUpstash();
  backends["durable-object"] = await startDurableObject();
});
afterAll(async () => {
  for (const b of Object.values(backends)) await b.close();
});

for (const type of ["upstash", "durable-object"] as const) {
  test(
    `RemoteLock.acquire() steals the lock when timeoutMs is 0 and steal is true (${type})`,
    async () => {
      const backend = backends[type]!;
      const named = backend.fresh();
      const holderLock = named.lock();
      const thiefLock = named.lock();
      const held = await holderLock.acquire({ leaseMs: 5_000 });
      const outcome = await within(
        thiefLock.acquire({ steal: true, timeoutMs: 0, leaseMs: 5_000 }),
        5_000,
      );
      try {
        assert(
          typeof outcome === "object" && outcome !== null &&
            "fence" in outcome,
          `acquire({ steal: true, timeoutMs: 0 }) gave ${
            describe(outcome)
          } (a steal never waits: timeoutMs bounds a wait, not the grant)`,
        );
        assert(
          (outcome as { fence: number }).fence > held.fence,
          "the thief's fence is not above the holder's",
        );
      } finally {
        if (
          typeof outcome === "object" && outcome !== null &&
          "release" in outcome
        ) {
          await (outcome as { release(): Promise<void> }).release();
        }
        await held.release().catch(() => {});
      }
    },
    20_000,
  );

  test(
    `RemoteLock.acquire() with steal rejects within its timeoutMs when the backend hangs (${type})`,
    async () => {
      const backend = backends[type]!;
      const named = backend.fresh();
      const lock = named.lock(); // requestTimeoutMs: the default 10 s
      const hang = backend.proxy.add({
        match: (r) => named.matches(r),
        action: "hang",
      });
      try {
        const began = performance.now();
        const outcome = await within(
          lock.acquire({ steal: true, timeoutMs: 300 }),
          8_000,
        );
        const took = performance.now() - began;
        assert(
          outcome instanceof LockTimeoutError,
          `acquire({ steal: true, timeoutMs: 300 }) gave ${describe(outcome)}`,
        );
        // Generous: the core lets a giving-up acquisition's cleanup delay
        // its rejection 250 ms (CLEANUP_WAIT_MS); 10 s is the request timeout.
        assert(
          took < 3_000,
          `acquire({ steal: true, timeoutMs: 300 }) took ${
            Math.round(took)
          } ms to reject on a hung backend`,
        );
      } finally {
        backend.proxy.clear(hang);
      }
    },
    30_000,
  );

  test(
    `RemoteLock.acquire() with steal rejects soon after its signal aborts when the backend hangs (${type})`,
    async () => {
      const backend = backends[type]!;
      const named = backend.fresh();
      const lock = named.lock();
      const hang = backend.proxy.add({
        match: (r) => named.matches(r),
        action: "hang",
      });
      try {
        const controller = new AbortController();
        const why = new Error("caller gave up");
        const pending = within(
          lock.acquire({ steal: true, signal: controller.signal }),
          8_000,
        );
        setTimeout(() => controller.abort(why), 200);
        const began = performance.now();
        const outcome = await pending;
        const took = performance.now() - began;
        assert(
          outcome === why,
          `acquire({ steal: true, signal }) gave ${describe(outcome)}`,
        );
        assert(
          took < 3_000,
          `acquire({ steal: true, signal }) took ${
            Math.round(took)
          } ms to reject after its start (aborted at 200 ms) on a hung backend`,
        );
      } finally {
        backend.proxy.clear(hang);
      }
    },
    30_000,
  );
}
