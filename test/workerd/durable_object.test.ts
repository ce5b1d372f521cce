// Copyright 2026 the unilock authors. MIT license.
// What only the durable-object lock promises, inside workerd with the real
// SQLite-backed object: resets, vanished waiters, fences, RPC counts.
import { env } from "cloudflare:workers";
import { abortAllDurableObjects, runInDurableObject } from "cloudflare:test";
import { test } from "vitest";
import {
  createLock,
  type LockDurableObjectNamespace,
  type LockDurableObjectStub,
  type LockEvent,
} from "../../mod.ts";
import type { LockDurableObject } from "../../workers/durable_object.ts";
import { assert, assertEquals, delay, track } from "../_assert.ts";

const ns = (env as unknown as { LOCKS: LockDurableObjectNamespace }).LOCKS;
const stubFor = (name: string) =>
  (ns as unknown as DurableObjectNamespace<LockDurableObject>).get(
    (ns as unknown as DurableObjectNamespace).idFromName(name),
  );

test(
  "DurableObjectLock keeps the holder through an object reset; its waiter retries or errs, never a false grant",
  async () => {
    const name = `reset-${crypto.randomUUID()}`;
    const lock = createLock("durable-object", { name, namespace: ns });
    const holder = await lock.acquire({ leaseMs: 10_000 });
    const waiting = track(
      createLock("durable-object", { name, namespace: ns }).acquire({
        timeoutMs: 1_000,
      }),
    );
    await delay(50);
    await abortAllDurableObjects(); // drops the object's memory; storage stays
    // The waiter's call went to the reset object: it re-calls with its token
    // (after its watchdog) and then times out, as the holder still holds.
    const outcome = await waiting.promise.then(
      (lease) => ({ lease }),
      (error: Error) => ({ error }),
    );
    assert("error" in outcome, "the waiter was granted while the holder held");
    assert(
      ["TimeoutError", "LockBackendError"].includes(outcome.error.name),
      `unexpected ${outcome.error.name}: ${outcome.error.message}`,
    );
    assertEquals(await lock.isLocked(), true, "the holder lost the lock");
    await holder.release();
    const next = await lock.acquire({ timeoutMs: 5_000 });
    assert(
      next.fence > holder.fence,
      `fence ${next.fence} after ${holder.fence}`,
    );
    await next.release();
  },
  15_000,
);

test("LockDurableObject grants a waiter that stopped calling, and that costs at most one lease", async () => {
  const name = `vanish-${crypto.randomUUID()}`;
  const stub = stubFor(name);
  assertEquals(
    (await stub.acquire({
      token: "tok_holder_x",
      mode: "exclusive",
      leaseMs: 10_000,
      waitMs: 0,
    })).ok,
    true,
  );
  // A waiter whose one call ends (waitMs 20) and who never calls again.
  const gone = await stub.acquire({
    token: "tok_vanished",
    mode: "exclusive",
    leaseMs: 300,
    waitMs: 20,
  });
  assertEquals(gone.ok, false);
  const started = Date.now();
  const next = stub.acquire({
    token: "tok_next_one",
    mode: "exclusive",
    leaseMs: 1_000,
    waitMs: 5_000,
  });
  await stub.release("tok_holder_x");
  const granted = await next;
  assertEquals(granted.ok, true);
  const waited = Date.now() - started;
  assert(
    waited >= 250,
    `the vanished waiter's lease was skipped (${waited} ms)`,
  );
  await stub.release("tok_next_one");
});

test("DurableObjectLock costs one RPC per uncontended acquire and one per release", async () => {
  const name = `rpc-${crypto.randomUUID()}`;
  let calls = 0;
  const counting: LockDurableObjectNamespace = {
    idFromName: (n) => ns.idFromName(n),
    get: (id) => {
      const real = ns.get(id) as LockDurableObjectStub;
      const count = <T>(p: T): T => (calls++, p);
      const stub: LockDurableObjectStub = {
        acquire: (r) => count(real.acquire(r)),
        release: (t) => count(real.release(t)),
        extend: (t, ms) => count(real.extend(t, ms)),
        cancel: (t) => count(real.cancel(t)),
        status: () => count(real.status()),
      };
      return stub;
    },
  };
  const lock = createLock("durable-object", { name, namespace: counting });
  for (let i = 0; i < 5; i++) await (await lock.acquire()).release();
  assertEquals(calls, 10);
});

test("LockDurableObject keeps the fence counter when its holders expire", async () => {
  const name = `fence-${crypto.randomUUID()}`;
  const stub = stubFor(name);
  const a = await stub.acquire({
    token: "tok_fence_a",
    mode: "exclusive",
    leaseMs: 100,
    waitMs: 0,
  });
  await delay(150);
  const b = await stub.acquire({
    token: "tok_fence_b",
    mode: "exclusive",
    leaseMs: 100,
    waitMs: 0,
  });
  assert(
    a.ok && b.ok && b.fence > a.fence,
    "fences did not rise across expiry",
  );
});

test("DurableObjectLock.metrics() counts a lease lost on the object, and subscribe() reports it", async () => {
  const name = `lost-${crypto.randomUUID()}`;
  const lock = createLock("durable-object", { name, namespace: ns });
  const events: LockEvent[] = [];
  lock.subscribe((event) => events.push(event));
  const lease = await lock.acquire({ leaseMs: 300, owner: "doomed" });
  // The holder's row vanishes (as if its lease had run out unseen): the next
  // renewal finds the lease gone.
  await runInDurableObject(stubFor(name), (_instance, state) => {
    state.storage.sql.exec("DELETE FROM holders");
  });
  await new Promise((resolve) =>
    lease.signal.addEventListener("abort", resolve, { once: true })
  );
  const m = lock.metrics();
  assertEquals([m.acquisitions, m.lost, m.holders], [1, 1, 0]);
  assertEquals(m.holdMs.count, 1);
  const lost = events.filter((e) => e.type === "lost");
  assertEquals(lost.map((e) => [e.owner, e.fence]), [["doomed", lease.fence]]);
  assert((lost[0]!.holdMs ?? 0) > 0, `holdMs ${lost[0]!.holdMs}`);
  await lease.release(); // after a loss: no second end
  assertEquals(events.filter((e) => e.type === "release").length, 0);
  assertEquals(lock.metrics().holders, 0);
});
