// Copyright 2026 the unilock authors. MIT license.
// What only the durable-object lock promises, inside workerd with the real
// SQLite-backed object: resets, vanished waiters, fences, RPC counts.
import { env } from "cloudflare:workers";
import {
  abortAllDurableObjects,
  runDurableObjectAlarm,
  runInDurableObject,
} from "cloudflare:test";
import { test } from "vitest";
import {
  createLock,
  type LockDurableObjectNamespace,
  type LockDurableObjectStub,
  type LockEvent,
} from "../../mod.ts";
import type { LockDurableObject } from "../../workers/durable_object.ts";
import { DurableObjectLock as BindingLock } from "../../src/durable_object/durable_object_binding.ts";
import { TOMBSTONE_MS } from "../../src/durable_object/_protocol.ts";
import {
  assert,
  assertEquals,
  assertRejects,
  delay,
  track,
} from "../_assert.ts";

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

/** The tables an object stores (what the platform bills as stored data). */
async function storedTables(name: string): Promise<string[]> {
  return await runInDurableObject(
    stubFor(name),
    (_instance, state) =>
      state.storage.sql.exec<{ name: string }>(
        "SELECT name FROM sqlite_master WHERE type = 'table'",
      ).toArray().map((row) => row.name),
  );
}

/** Moves an object's remembered times back, as if `ms` had passed. */
async function age(name: string, ms: number): Promise<void> {
  await runInDurableObject(stubFor(name), (_instance, state) => {
    const sql = state.storage.sql;
    sql.exec("UPDATE tombstones SET until = until - ?", ms);
    sql.exec("UPDATE holders SET expires_at = expires_at - ?", ms);
    sql.exec("UPDATE counter SET fence = fence - ?", ms * 1000);
  });
}

const acquireOf = (token: string, leaseMs = 10_000, waitMs = 0) => ({
  token,
  mode: "exclusive" as const,
  leaseMs,
  waitMs,
});

test("LockDurableObject.acquire() answers gone for a token released before it arrived, and grants nothing", async () => {
  const stub = stubFor(`replay-release-${crypto.randomUUID()}`);
  assertEquals((await stub.acquire(acquireOf("tok_replayed"))).ok, true);
  assertEquals(await stub.release("tok_replayed"), { released: true });
  // The same acquire again: a client retry whose first attempt did arrive.
  assertEquals(await stub.acquire(acquireOf("tok_replayed", 10_000, 1_000)), {
    ok: false,
    reason: "gone",
  });
  assertEquals(await stub.status(), { holders: 0, waiters: 0 });
  // A token released while it only waited is gone as well.
  assertEquals((await stub.acquire(acquireOf("tok_holder_a"))).ok, true);
  const waiting = stub.acquire(acquireOf("tok_waiter_b", 10_000, 5_000));
  await delay(20);
  assertEquals(await stub.release("tok_waiter_b"), { released: false });
  assertEquals(await waiting, {
    ok: false,
    reason: "cancelled",
    retryAfterMs: 0,
  });
  assertEquals(await stub.acquire(acquireOf("tok_waiter_b")), {
    ok: false,
    reason: "gone",
  });
  assertEquals(await stub.status(), { holders: 1, waiters: 0 });
});

test("LockDurableObject.acquire() answers gone when a cancel overtook it, even one for a token it never saw", async () => {
  const name = `replay-cancel-${crypto.randomUUID()}`;
  const stub = stubFor(name);
  assertEquals(await stub.cancel("tok_overtaken"), { held: false });
  assertEquals(
    await stub.acquire(acquireOf("tok_overtaken", 10_000, 1_000)),
    { ok: false, reason: "gone" },
  );
  assertEquals(await stub.status(), { holders: 0, waiters: 0 });
  // The tombstone is in storage: a reset does not forget it.
  await stub.release("tok_released");
  await abortAllDurableObjects();
  const again = stubFor(name);
  assertEquals(await again.acquire(acquireOf("tok_overtaken")), {
    ok: false,
    reason: "gone",
  });
  assertEquals(await again.acquire(acquireOf("tok_released")), {
    ok: false,
    reason: "gone",
  });
  // Past TOMBSTONE_MS the token is forgotten (a new acquisition may reuse it).
  await age(name, TOMBSTONE_MS);
  assertEquals((await again.acquire(acquireOf("tok_released"))).ok, true);
});

test("LockDurableObject.cancel() answers held when the waiter was granted while its call was away", async () => {
  const stub = stubFor(`cancel-held-${crypto.randomUUID()}`);
  assertEquals((await stub.acquire(acquireOf("tok_holder_a"))).ok, true);
  // The waiter's call ends (waitMs 20) and it keeps its place.
  const first = await stub.acquire(acquireOf("tok_waiter_b", 10_000, 20));
  assertEquals(first.ok === false && first.reason, "wait");
  await stub.release("tok_holder_a"); // hands the lock to the absent waiter
  assertEquals(await stub.cancel("tok_waiter_b"), { held: true });
  assertEquals(await stub.status(), { holders: 1, waiters: 0 });
  assertEquals(await stub.release("tok_waiter_b"), { released: true });
  assertEquals(await stub.cancel("tok_never_seen"), { held: false });
});

test("LockDurableObject.extend() applies a call only if its seq is higher than the last applied, and answers the lease it leaves", async () => {
  const stub = stubFor(`extend-seq-${crypto.randomUUID()}`);
  assertEquals((await stub.acquire(acquireOf("tok_extended"))).ok, true);
  assertEquals(await stub.extend("tok_extended", 5_000, 2), {
    ok: true,
    leaseMs: 5_000,
  });
  // A renewal sent before (seq 1) arrives late: it must not move the lease.
  const late = await stub.extend("tok_extended", 600_000, 1);
  assert(late.ok && late.leaseMs <= 5_000, `late renewal: ${late.leaseMs}`);
  const repeated = await stub.extend("tok_extended", 600_000, 2);
  assert(repeated.ok && repeated.leaseMs <= 5_000, `${repeated.leaseMs}`);
  assertEquals(await stub.extend("tok_extended", 300, 3), {
    ok: true,
    leaseMs: 300,
  });
  // An older client sends no seq: every call applies.
  assertEquals(await stub.extend("tok_extended", 8_000), {
    ok: true,
    leaseMs: 8_000,
  });
  assertEquals(
    (await stub.extend("tok_extended", 2_000, 4)).leaseMs,
    2_000,
    "a seq after calls without one",
  );
  await assertRejects(
    () => stub.extend("tok_extended", 1_000, -1),
    TypeError,
    ["'seq'"],
  );
});

test("LockDurableObject.extend() never revives a lease that expired or was released", async () => {
  const stub = stubFor(`extend-dead-${crypto.randomUUID()}`);
  assertEquals((await stub.acquire(acquireOf("tok_short", 100))).ok, true);
  await delay(150);
  assertEquals(await stub.extend("tok_short", 10_000, 1), {
    ok: false,
    leaseMs: 0,
  });
  assertEquals((await stub.acquire(acquireOf("tok_other"))).ok, true);
  assertEquals(await stub.release("tok_other"), { released: true });
  assertEquals(await stub.extend("tok_other", 10_000), {
    ok: false,
    leaseMs: 0,
  });
  assertEquals(await stub.status(), { holders: 0, waiters: 0 });
});

test("LockDurableObject stores nothing for read-only calls, and deletes its storage once idle", async () => {
  const N = 20;
  const names = Array.from(
    { length: N },
    (_, i) => `idle-${i}-${crypto.randomUUID()}`,
  );
  const stored = async () => {
    let count = 0;
    for (const name of names) if ((await storedTables(name)).length) count++;
    return count;
  };
  for (const name of names) {
    const stub = stubFor(name);
    await stub.status();
    await stub.query();
    await stub.extend("tok_unknown_1", 1_000);
  }
  assertEquals(await stored(), 0, "objects with stored data after reads");
  const fences: number[] = [];
  for (const name of names) {
    const stub = stubFor(name);
    const grant = await stub.acquire(acquireOf("tok_once_only"));
    assert(grant.ok, "not granted");
    fences.push(grant.fence);
    await stub.release("tok_once_only");
  }
  assertEquals(await stored(), N, "objects with stored data after use");
  // One alarm, set by the grant, comes after the release's tombstone ends.
  const [alarm, until] = await runInDurableObject(
    stubFor(names[0]!),
    async (_instance, state) => [
      await state.storage.getAlarm(),
      state.storage.sql.exec<{ until: number }>(
        "SELECT until FROM tombstones",
      ).one().until,
    ],
  );
  assert(alarm !== null && alarm >= until!, `alarm ${alarm}, until ${until}`);
  // Woken while its tombstone lives, an object keeps its storage.
  for (const name of names) await runDurableObjectAlarm(stubFor(name));
  assertEquals(await stored(), N, "storage deleted under a live tombstone");
  assertEquals(
    await stubFor(names[0]!).acquire(acquireOf("tok_once_only")),
    { ok: false, reason: "gone" },
  );
  for (const name of names) {
    await age(name, TOMBSTONE_MS);
    assert(await runDurableObjectAlarm(stubFor(name)), "no alarm was set");
  }
  assertEquals(await stored(), 0, "objects with stored data once idle");
  // Fences keep rising through the clock floor after the storage went.
  const stub = stubFor(names[0]!);
  const next = await stub.acquire(acquireOf("tok_after_idle"));
  assert(next.ok && next.fence > fences[0]!, "the fence did not rise");
  await stub.release("tok_after_idle");
});

test("LockDurableObject keeps its storage while a lease is held, however long, and deletes it after the lease ends", async () => {
  const name = `idle-held-${crypto.randomUUID()}`;
  const stub = stubFor(name);
  assertEquals((await stub.acquire(acquireOf("tok_long_held"))).ok, true);
  await age(name, TOMBSTONE_MS); // the fence is old, the lease still runs
  await runInDurableObject(stub, (_instance, state) => {
    state.storage.sql.exec(
      "UPDATE holders SET expires_at = ?",
      Date.now() + 60_000,
    );
  });
  assert(await runDurableObjectAlarm(stub), "no alarm was set");
  assertEquals(await stub.status(), { holders: 1, waiters: 0 });
  assert((await storedTables(name)).length > 0, "storage deleted while held");
  // The lease runs out unreleased: no tombstone, nothing left to keep.
  await age(name, 120_000);
  assert(await runDurableObjectAlarm(stub), "the alarm was not re-armed");
  assertEquals(await storedTables(name), []);
});

test("DurableObjectLock from durable-object/binding excludes the full client's lock of the same name, and refuses url", async () => {
  const name = `binding-${crypto.randomUUID()}`;
  const lock = new BindingLock({ name, namespace: ns });
  const lease = await lock.acquire({ leaseMs: 10_000 });
  assert(lease.fence > 0, `a fence, got ${lease.fence}`);
  const other = createLock("durable-object", { name, namespace: ns });
  assertEquals(await other.tryAcquire(), undefined);
  assertEquals(await lock.isLocked(), true);
  await lease.release();
  const next = await other.tryAcquire();
  assert(next !== undefined && next.fence > lease.fence, "granted after");
  await next.release();
  const error = (() => {
    try {
      new BindingLock({ name, url: "https://locks.example", token: "secret" });
    } catch (e) {
      return e as Error;
    }
  })();
  assert(error instanceof TypeError, `a TypeError, got ${error}`);
  assert(
    /'url'.*unilock\/durable-object\/client/.test(error.message),
    error.message,
  );
});
