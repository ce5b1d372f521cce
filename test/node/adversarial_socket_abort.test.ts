// Copyright 2026 the unilock authors. MIT license.
// Adversarial: one durable-object lock instance shared by many callers (as
// LockManager hands out), over the lock service's WebSocket. A caller that
// aborts its acquire makes the driver drop its stub (durable_object/
// _driver.ts:55-63 treats any failed call, the caller's own abort included,
// as a broken stub); the next call gets a new LockService, and
// httpNamespace.get() (durable_object_lock.ts:73) closes the old one —
// socket and all. Every other caller's call pending on that socket fails
// ("the lock service's socket closed before it answered", 503, repeated);
// four such aborts within one of their calls exhaust #call's retries and a
// waiter that did nothing wrong rejects with LockBackendError.
//
// Node 20 has no WebSocket global (the HTTP path is used there); Node 22+,
// Deno, Bun and browsers use the socket, so this installs undici's.
import { WebSocket as UndiciWebSocket } from "undici";
import { afterAll, beforeAll, test } from "vitest";
import type { Lease } from "../../mod.ts";
import { assert, delay } from "../_assert.ts";
import {
  type Backend,
  describe,
  startDurableObject,
  within,
} from "./_adversarial_backends.ts";

let backend: Backend;
let saved: unknown;
beforeAll(async () => {
  saved = (globalThis as { WebSocket?: unknown }).WebSocket;
  (globalThis as { WebSocket?: unknown }).WebSocket = UndiciWebSocket;
  backend = await startDurableObject();
});
afterAll(async () => {
  await delay(1_200); // idle sockets close themselves
  (globalThis as { WebSocket?: unknown }).WebSocket = saved;
  await backend?.close();
});

test(
  "DurableObjectLock.acquire() keeps waiting when other callers on the same instance abort theirs (WebSocket)",
  async () => {
    const named = backend.fresh();
    const held = await named.lock().acquire({ leaseMs: 20_000 });
    const shared = named.lock(); // one instance, many callers
    // (Settled to a value at once, so its rejection is never unhandled.)
    const patient = shared.acquire({ timeoutMs: 30_000 }).then(
      (v) => v,
      (e) => e,
    );
    await delay(100);
    // Six impatient callers, each giving up by its own signal in turn.
    const impatient = [1, 2, 3, 4, 5, 6].map((i) =>
      shared.acquire({ signal: AbortSignal.timeout(250 * i) }).catch((e) => e)
    );
    await Promise.all(impatient);
    const meanwhile = await within(patient, 300);
    await held.release();
    const outcome = meanwhile === "pending"
      ? await within(patient, 5_000)
      : meanwhile;
    if (
      typeof outcome === "object" && outcome !== null && "release" in outcome
    ) {
      await (outcome as Lease).release();
    }
    assert(
      meanwhile === "pending",
      `the patient waiter gave ${describe(meanwhile)} while the lock was held`,
    );
    assert(
      typeof outcome === "object" && outcome !== null && "fence" in outcome,
      `the patient waiter gave ${describe(outcome)} after the release`,
    );
  },
  30_000,
);
