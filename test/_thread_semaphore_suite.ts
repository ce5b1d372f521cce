// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal What the `thread` semaphore promises across real worker
 * threads: never more than N permits out (a counter in shared memory,
 * checked inside every section) and N reached, fences unique across
 * threads, permits and the head of the line recovered from a terminated
 * thread, and capacity disagreement refused. Runs on Node, Deno and Bun.
 */

import {
  createSemaphore,
  LockManager,
  ThreadLockTable,
  ThreadSemaphore,
} from "../mod.ts";
import { SemaphoreState } from "../src/thread/_semaphore_state.ts";
import {
  assert,
  assertEquals,
  assertRejects,
  assertThrows,
} from "./_assert.ts";
import { randomName } from "./_contract.ts";
import { spawnWorker, type TestWorker } from "./thread/_spawn.ts";
import type { RegisterTimedTest } from "./_thread_suite.ts";

const SCRIPT = "_semaphore_worker.ts";

async function withWorkers(
  count: number,
  fn: (workers: TestWorker[]) => Promise<void>,
): Promise<void> {
  const workers = await Promise.all(
    Array.from({ length: count }, () => spawnWorker(SCRIPT)),
  );
  try {
    await fn(workers);
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/** Registers the thread semaphore suite with `test`. */
export function threadSemaphoreSuite(test: RegisterTimedTest): void {
  test(
    "ThreadSemaphore.withPermits() never lets more than N permits out across worker threads, and reaches N",
    async () => {
      const permits = 3, workers = 4, iterations = 150;
      const table = new ThreadLockTable();
      const name = randomName("sem");
      for (
        const [weights, holdMs] of [[[1, 2, 1, 3, 1], 0], [[1], 2]] as const
      ) {
        const counter = new SharedArrayBuffer(16);
        const fences = new SharedArrayBuffer(8 * workers * iterations);
        await withWorkers(workers, async (all) => {
          for (const [i, worker] of all.entries()) {
            worker.send({
              job: "count",
              table: table.handle,
              name,
              permits,
              counter,
              fences,
              fenceAt: i * iterations,
              weights: [...weights],
              iterations,
              holdMs,
            });
          }
          for (const worker of all) {
            assertEquals(await worker.next(), { done: true });
          }
        });
        const [inUse, most, over, sections] = new Int32Array(counter);
        assertEquals(over, 0, `a section saw more than ${permits} permits out`);
        assertEquals([inUse, sections], [0, workers * iterations]);
        assertEquals(most, permits, "the limit was never reached");
        const seen = new Set(new Float64Array(fences));
        assertEquals(
          seen.size,
          workers * iterations,
          "a fence was granted twice",
        );
      }
      const sem = createSemaphore("thread", { table, name, permits });
      assertEquals(await sem.available(), permits);
      assertEquals((await sem.query()).pending, []);
    },
    120_000,
  );

  test(
    "ThreadSemaphore permits of a terminated holder thread come back after leaseMs, and only then",
    async () => {
      const sem = new ThreadSemaphore({ name: randomName("sem"), permits: 3 });
      await withWorkers(1, async ([worker]) => {
        worker!.send({
          job: "hold",
          handle: sem.handle,
          permits: 3,
          take: 2,
          leaseMs: 400,
        });
        assertEquals(await worker!.next(), { asking: true });
        const { fence } = await worker!.next() as { fence: number };
        assertEquals(await sem.available(), 1);
        // Held and renewed while the thread lives: longer than its lease.
        await new Promise((resolve) => setTimeout(resolve, 900));
        assertEquals(await sem.tryAcquire({ permits: 2 }), undefined);
        await worker!.terminate();
        const started = performance.now();
        const lease = await sem.acquire({ permits: 3, timeoutMs: 10_000 });
        const waited = performance.now() - started;
        assert(lease.fence > fence, "fence did not increase after recovery");
        // A generous bound: it came back by expiry, not by a hang's timeout.
        assert(waited < 8_000, `took ${waited}ms`);
        await lease.release();
        assertEquals(await sem.available(), 3);
      });
    },
    60_000,
  );

  test(
    "ThreadSemaphore lets the line move on when the thread at its head is terminated",
    async () => {
      const sem = new ThreadSemaphore({ name: randomName("sem"), permits: 3 });
      const one = await sem.acquire();
      await withWorkers(1, async ([worker]) => {
        worker!.send({ job: "hold", handle: sem.handle, permits: 3, take: 3 });
        assertEquals(await worker!.next(), { asking: true });
        // The worker waits at the head for 3; a request for 2 waits behind it.
        for (
          let i = 0;
          i < 100 && (await sem.query()).pending.length < 1;
          i++
        ) {
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        assertEquals((await sem.query()).pending.map((p) => p.permits), [3]);
        assertEquals(await sem.tryAcquire({ permits: 2 }), undefined);
        await worker!.terminate();
        const started = performance.now();
        const two = await sem.acquire({ permits: 2, timeoutMs: 15_000 });
        assert(
          performance.now() - started < 12_000,
          "the dead head held the line",
        );
        await two.release();
      });
      await one.release();
      assertEquals(await sem.available(), 3);
    },
    60_000,
  );

  test(
    "ThreadSemaphore refuses a thread whose capacity disagrees while the name is in use",
    async () => {
      const table = new ThreadLockTable();
      const name = randomName("sem");
      const three = createSemaphore("thread", { table, name, permits: 3 });
      const lease = await three.acquire();
      await withWorkers(1, async ([worker]) => {
        worker!.send({ job: "open", table: table.handle, name, permits: 5 });
        const { rejected } = await worker!.next() as { rejected: string };
        assert(
          typeof rejected === "string" && rejected.startsWith("RangeError") &&
            rejected.includes("'permits' is 5") && rejected.includes("3") &&
            rejected.includes(name),
          `not refused clearly: ${rejected}`,
        );
      });
      const five = createSemaphore("thread", { table, name, permits: 5 });
      await assertRejects(() => five.acquire(), RangeError, [
        "'permits'",
        "5",
        "3",
      ]);
      assertEquals(await three.available(), 2);
      await lease.release();
      // Idle: the next request's capacity stands.
      const big = await five.acquire({ permits: 5 });
      await assertRejects(() => three.tryAcquire(), RangeError, [
        "'permits'",
        "3",
        "5",
      ]);
      await big.release();
    },
    60_000,
  );

  test(
    "ThreadSemaphore recovers when a thread dies holding the permits' guard, and keeps the count",
    async () => {
      const sem = new ThreadSemaphore({ name: randomName("sem"), permits: 2 });
      const one = await sem.acquire();
      await withWorkers(1, async ([worker]) => {
        worker!.send({ job: "take guard", handle: sem.handle });
        assertEquals(await worker!.next(), { taken: true });
        await worker!.terminate();
      });
      const started = performance.now();
      // The guard is taken over (after its holder stays silent) and the state
      // repaired: one permit held, one free, none invented.
      assertEquals(await sem.available(), 1);
      const two = await sem.acquire({ timeoutMs: 10_000 });
      assert(performance.now() - started < 8_000, "the dead guard held on");
      assertEquals(await sem.tryAcquire(), undefined);
      const state = new SemaphoreState(
        sem.handle.buffer,
        sem.handle.byteOffset,
      );
      assert(state.repairs >= 1, "no repair ran");
      await one.release();
      await two.release();
      assertEquals(await sem.available(), 2);
    },
    60_000,
  );

  test(
    "LockManager.getOrCreateSemaphore() with type thread shares one semaphore through the manager's table",
    async () => {
      const manager = new LockManager();
      const there = new LockManager({ threads: manager.threads.handle });
      const id = randomName("sem");
      const sem = manager.getOrCreateSemaphore(id, "thread", { permits: 2 });
      const same = there.getOrCreateSemaphore(id, "thread", { permits: 2 });
      assertEquals([sem.type, sem.permits], ["thread", 2]);
      const lease = await sem.acquire({ permits: 2 });
      assertEquals(await same.tryAcquire(), undefined);
      assertEquals(await same.available(), 0);
      await lease.release();
      assertEquals(await same.available(), 2);
    },
    60_000,
  );

  test("createSemaphore() with type thread rejects bad thread options naming the option and value", async () => {
    const table = new ThreadLockTable();
    const create = (options: object) => () =>
      createSemaphore("thread", { permits: 2, ...options } as never);
    assertThrows(create({ capacity: 0 }), RangeError, ["'capacity'", "0"]);
    assertThrows(create({ capacity: 1.5 }), RangeError, ["'capacity'", "1.5"]);
    assertThrows(create({ table: "t", name: "x" }), TypeError, [
      "'table'",
      '"t"',
    ]);
    assertThrows(create({ table }), TypeError, ["'name'", "'table'"]);
    assertThrows(create({ handle: { kind: "nope" } }), TypeError, ["'handle'"]);
    const sem = new ThreadSemaphore({ permits: 2 });
    assertThrows(
      create({ handle: sem.handle, table }),
      TypeError,
      ["'handle'", "'table'"],
    );
    assertThrows(
      create({ handle: JSON.parse(JSON.stringify(sem.handle)) }),
      TypeError,
      ["'handle.buffer'", "SharedArrayBuffer"],
    );
    assertThrows(create({ permit: 2 }), TypeError, ["'permit'", "'permits'"]);
    // And nothing was created or changed for the valid semaphore.
    assertEquals(await sem.available(), 2);
  });
}
