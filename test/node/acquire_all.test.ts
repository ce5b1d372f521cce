// Copyright 2026 the unilock authors. MIT license.
// acquireAll() across lock types at once: local, thread, upstash (through
// the REST bridge) and durable-object (through the lock service).
import { inject, test } from "vitest";
import { acquireAll, createLock, type Lock } from "../../mod.ts";
import { assert, assertEquals, assertRejects, delay } from "../_assert.ts";
import { randomName } from "../_contract.ts";

const upstash = inject("upstash");
const service = inject("lockService");
const oneOfEach = (): Lock[] => [
  createLock("upstash", {
    name: randomName("all"),
    redis: { url: upstash.url, token: upstash.token },
    prefix: `test:${crypto.randomUUID()}:`,
  }),
  createLock("durable-object", {
    name: randomName("all"),
    url: service.url,
    token: service.token,
  }),
  createLock("thread", { name: randomName("all") }),
  createLock("local", { name: randomName("all") }),
];

test("acquireAll() holds a lock of each type together and releases them together", async () => {
  const locks = oneOfEach();
  const group = await acquireAll(locks, { timeoutMs: 10_000 });
  assertEquals(group.leases.map((l) => l.name), locks.map((l) => l.name));
  for (const lease of group.leases) assert(lease.fence > 0, "no fence");
  for (const lock of locks) assertEquals(await lock.isLocked(), true);
  assertEquals(group.signal.aborted, false);
  await group.release();
  for (const lock of locks) assertEquals(await lock.isLocked(), false);
});

test("acquireAll() over mixed types gives back what it took when a later lock times out", async () => {
  const locks = oneOfEach();
  // In canonical order the upstash lock comes last: hold it elsewhere.
  const last = locks[0]!;
  assertEquals(last.type, "upstash");
  const blocker = await last.acquire();
  await assertRejects(
    acquireAll([...locks].reverse(), { timeoutMs: 300 }),
    undefined,
    [`"${last.name}"`, "300ms"],
  );
  for (const lock of locks.slice(1)) {
    assertEquals(await lock.isLocked(), false, `${lock.type} left held`);
  }
  await blocker.release();
  await delay(1);
  await (await acquireAll(locks, { timeoutMs: 10_000 })).release();
});

test("acquireAll() rejects bad arguments naming them", async () => {
  const lock = createLock("local");
  await assertRejects(acquireAll([]), TypeError, ["'locks'", "empty"]);
  await assertRejects(acquireAll(5 as never), TypeError, ["'locks'", "5"]);
  await assertRejects(acquireAll([lock, {} as never]), TypeError, [
    "'locks[1]'",
  ]);
  await assertRejects(acquireAll([lock, lock]), TypeError, [
    `"${lock.name}" twice`,
  ]);
  await assertRejects(acquireAll([lock], { priority: 0.5 }), RangeError, [
    "'priority'",
  ]);
  assertEquals(await lock.isLocked(), false);
});
