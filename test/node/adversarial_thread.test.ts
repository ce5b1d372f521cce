// Copyright 2026 the unilock authors. MIT license.
// Adversarial: the worker-thread backend's newest parts (ThreadSemaphore,
// steal on thread locks, the Web Locks facade over threads), with real
// worker threads. A worker here runs the code each message sends (see
// test/thread/_adv_worker.ts); "a thread that dies inside the bookkeeping"
// is played by a worker that takes a guard word and is terminated.
import { afterEach, test } from "vitest";
import {
  createLock,
  createSemaphore,
  type Lease,
  type SemaphoreLease,
  ThreadLockTable,
} from "../../mod.ts";
import { assert } from "../_assert.ts";
import { spawnWorker, type TestWorker } from "../thread/_spawn.ts";

const started: TestWorker[] = [];
afterEach(async () => {
  for (const w of started.splice(0)) await w.terminate();
});

async function worker(): Promise<TestWorker> {
  const w = await spawnWorker("_adv_worker.ts");
  started.push(w);
  return w;
}

/** Runs `code` (an async function's body) in `w`; its result. */
async function run(
  w: TestWorker,
  code: string,
  data?: unknown,
): Promise<unknown> {
  w.send({ code, data });
  return (await w.next()).result;
}

/** A thread terminated while it held a region's guard word. */
async function dieHoldingGuard(
  kind: "ThreadState" | "SemaphoreState",
  buffer: SharedArrayBuffer,
  byteOffset: number,
): Promise<void> {
  const w = await worker();
  await run(
    w,
    `new internals.${kind}(data.buffer, data.byteOffset).lock(); return true;`,
    { buffer, byteOffset },
  );
  await w.terminate();
  started.splice(started.indexOf(w), 1);
}

test(
  "ThreadLease.release() called twice frees one shared holder only when the guard is slow",
  async () => {
    const lock = createLock("thread");
    const first = await lock.acquire({ mode: "shared" });
    const second = await lock.acquire({ mode: "shared" });
    const { buffer, byteOffset } = lock.handle;
    await dieHoldingGuard("ThreadState", buffer, byteOffset);
    // Both calls find the guard taken and wait for its takeover.
    await Promise.all([first.release(), first.release()]);
    let writer: Lease | undefined;
    try {
      writer = await lock.tryAcquire();
      assert(
        writer === undefined,
        `an exclusive lease (fence ${writer?.fence}) was granted while a shared lease still holds the lock`,
      );
      assert(
        await lock.isLocked(),
        "isLocked() is false while a shared lease holds",
      );
    } finally {
      await writer?.release();
      await second.release();
    }
  },
  20_000,
);

test(
  "ThreadPermitLease.release() called twice returns its permits once when the guard is slow",
  async () => {
    // A table's entries are small: most leases of a wide semaphore there
    // are counted without a slot.
    const table = new ThreadLockTable({ capacity: 1 });
    const sem = createSemaphore("thread", {
      table,
      name: `s${Math.random()}`,
      permits: 100,
    });
    const leases: SemaphoreLease[] = [];
    for (let i = 0; i < 20; i++) leases.push(await sem.acquire());
    assert((await sem.available()) === 80, "20 of 100 permits are out");
    const { buffer, byteOffset } = sem.handle;
    await dieHoldingGuard("SemaphoreState", buffer, byteOffset);
    const last = leases.pop()!;
    await Promise.all([last.release(), last.release()]);
    try {
      const free = await sem.available();
      assert(
        free === 81,
        `available() is ${free} with 19 of 100 permits held (a second release returned another holder's permit)`,
      );
    } finally {
      for (const lease of leases) await lease.release();
    }
  },
  20_000,
);
