// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal What only the `thread` lock promises, tested with real threads:
 * exclusion and fences across workers, FIFO across threads, recovery from a
 * terminated holder, shared tables, and bad handles. Runs on Node, Deno and
 * Bun (workerd has no threads).
 */

import {
  acquireAll,
  createLock,
  createWebLocks,
  LockDeadlockError,
  LockLostError,
  LockManager,
  LockReleasedError,
  LockTimeoutError,
  ThreadLock,
  type ThreadLockHandle,
  ThreadLockTable,
} from "../mod.ts";
import {
  assert,
  assertEquals,
  assertRejects,
  assertThrows,
  delay,
  track,
} from "./_assert.ts";
import { randomName } from "./_contract.ts";
import { spawnWorker, type TestWorker } from "./thread/_spawn.ts";
import { LAYOUT, ThreadState } from "../src/thread/_thread_state.ts";

export type RegisterTimedTest = (
  name: string,
  fn: () => Promise<void>,
  timeoutMs?: number,
) => void;

async function withWorkers(
  count: number,
  fn: (workers: TestWorker[]) => Promise<void>,
): Promise<void> {
  const workers: TestWorker[] = [];
  try {
    for (let i = 0; i < count; i++) workers.push(await spawnWorker());
    await fn(workers);
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/**
 * The worker's next answer, or `undefined` if it gives none within `ms`: a
 * thread wedged by a dead thread's guard answers nothing, and that must fail
 * the test rather than hang it (the main thread stays free).
 */
async function within(
  worker: TestWorker,
  ms: number,
): Promise<Record<string, unknown> | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([worker.next(), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Blocks this thread's event loop for `ms`. */
function block(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) { /* a stalled event loop */ }
}

/** Runs the cross-thread checker; returns the final count and the fence log. */
async function checker(
  workers: TestWorker[],
  iterations: number,
  broken: boolean,
): Promise<{ count: number; fences: Float64Array }> {
  const lock = new ThreadLock({ name: randomName("checker") });
  const counter = new SharedArrayBuffer(4);
  const total = workers.length * iterations;
  const fences = new SharedArrayBuffer(8 * total);
  const start = new SharedArrayBuffer(4);
  for (const worker of workers) {
    worker.send({
      job: "checker",
      handle: lock.handle,
      counter,
      fences,
      iterations,
      broken,
      start,
      workers: workers.length,
    });
  }
  await Promise.all(workers.map((w) => w.next()));
  return {
    count: new Int32Array(counter)[0]!,
    fences: new Float64Array(fences),
  };
}

export function threadSuite(test: RegisterTimedTest): void {
  test(
    "ThreadLock keeps a non-atomic counter exact across 4 workers × 10,000 critical sections",
    async () => {
      await withWorkers(4, async (workers) => {
        const { count, fences } = await checker(workers, 10_000, false);
        assertEquals(count, 40_000, "lost updates: the lock did not exclude");
        for (let i = 1; i < fences.length; i++) {
          assert(
            fences[i]! > fences[i - 1]!,
            `fence ${fences[i]} after ${fences[i - 1]} at section ${i}`,
          );
        }
      });
    },
    60_000,
  );

  test(
    "the cross-thread checker fails when the workers skip the lock",
    async () => {
      await withWorkers(4, async (workers) => {
        const { count } = await checker(workers, 10_000, true);
        assert(
          count < 40_000,
          `no lost update without the lock (count ${count})`,
        );
      });
    },
    60_000,
  );

  test(
    "ThreadLock grants waiters from different threads in FIFO order",
    async () => {
      await withWorkers(3, async (workers) => {
        const lock = new ThreadLock({ name: randomName("fifo") });
        const order = new SharedArrayBuffer(4 * 8);
        const holder = await lock.acquire();
        for (const [id, worker] of workers.entries()) {
          worker.send({
            job: "enqueue",
            handle: lock.handle,
            order,
            id: id + 1,
          });
          assertEquals((await worker.next()).queued, id + 1);
          // Wait until this worker's request is in the queue before the next.
          while (lock.waiting < id + 1) await delay(1);
        }
        await holder.release();
        await Promise.all(workers.map((w) => w.next()));
        assertEquals(Array.from(new Int32Array(order).slice(1, 4)), [1, 2, 3]);
      });
    },
    30_000,
  );

  test(
    "ThreadLock grants waiters from different threads by priority, then in arrival order",
    async () => {
      await withWorkers(3, async (workers) => {
        const lock = new ThreadLock({ name: randomName("priority") });
        const order = new SharedArrayBuffer(4 * 8);
        const holder = await lock.acquire();
        const priorities = [0, 5, 0];
        for (const [id, worker] of workers.entries()) {
          worker.send({
            job: "enqueue",
            handle: lock.handle,
            order,
            id: id + 1,
            priority: priorities[id]!,
          });
          assertEquals((await worker.next()).queued, id + 1);
          while (lock.waiting < id + 1) await delay(1);
        }
        await holder.release();
        await Promise.all(workers.map((w) => w.next()));
        assertEquals(Array.from(new Int32Array(order).slice(1, 4)), [2, 1, 3]);
      });
    },
    30_000,
  );

  test(
    "LockManager thread lock.acquire() rejects the acquire that closes a cycle across threads with LockDeadlockError",
    async () => {
      await withWorkers(1, async ([worker]) => {
        const manager = new LockManager();
        const [idX, idY] = [randomName("x"), randomName("y")];
        const x = manager.getOrCreateLock(idX, "thread");
        const y = manager.getOrCreateLock(idY, "thread");
        const threads = manager.threads.handle;
        const a = await x.acquire({ owner: "A" });
        worker!.send({ job: "owned", threads, id: idY, owner: "B" });
        assert(Number((await worker!.next()).fence) > 0, "B did not get y");
        const aWaits = track(y.acquire({ owner: "A" }));
        await delay(20);
        worker!.send({ job: "owned", threads, id: idX, owner: "B" });
        const answer = await worker!.next();
        assertEquals(answer.failed, "LockDeadlockError");
        assert(
          String(answer.message).includes(
            `owner B waits for "${idX}" held by A, A waits for "${idY}" held by B`,
          ),
          String(answer.message),
        );
        assertEquals(aWaits.settled, false);
        worker!.send({ job: "release held" });
        await worker!.next();
        await (await aWaits.promise).release();
        await a.release();
        assertEquals(await x.isLocked(), false);
        assertEquals(await y.isLocked(), false);
      });
    },
    30_000,
  );

  test(
    "ThreadLock.query() shows another thread's holder and waiters from shared memory",
    async () => {
      await withWorkers(2, async ([holderThread, waiterThread]) => {
        const lock = new ThreadLock({ name: randomName("query") });
        holderThread!.send({
          job: "hold",
          handle: lock.handle,
          leaseMs: 5_000,
        });
        const fence = (await holderThread!.next()).fence as number;
        waiterThread!.send({
          job: "enqueue",
          handle: lock.handle,
          order: new SharedArrayBuffer(4 * 8),
          id: 1,
        });
        assertEquals((await waiterThread!.next()).queued, 1);
        while (lock.waiting < 1) await delay(1);
        const mine = await lock.acquire({ owner: "main", timeoutMs: 10 })
          .catch((error) => error.name);
        assertEquals(mine, "TimeoutError");
        const { held, pending } = await lock.query();
        // Other threads' owners are not in shared memory; modes and fences are.
        assertEquals(held.map((h) => [h.mode, h.fence, h.owner]), [[
          "exclusive",
          fence,
          undefined,
        ]]);
        assertEquals(pending.map((p) => [p.mode, p.owner]), [[
          "exclusive",
          undefined,
        ]]);
        assertEquals(lock.metrics().timeouts, 1);
      });
    },
    30_000,
  );

  test(
    "ThreadLock recovers the lock after leaseMs when its holder thread is terminated",
    async () => {
      const lock = new ThreadLock({ name: randomName("terminated") });
      let fence = 0;
      await withWorkers(1, async ([worker]) => {
        worker!.send({ job: "hold", handle: lock.handle, leaseMs: 300 });
        fence = (await worker!.next()).fence as number;
        assertEquals(await lock.tryAcquire(), undefined);
      });
      // The holder is gone without releasing; its lease runs out.
      const lease = await lock.acquire({ timeoutMs: 10_000 });
      assert(lease.fence > fence, "fence did not increase after recovery");
      await lease.release();
    },
    30_000,
  );

  test(
    "ThreadLock.acquire() with steal takes the lock from a holder in another thread at once: its signal aborts, its stale write is fenced off, its release frees nothing, the queue waits",
    async () => {
      const lock = new ThreadLock({ name: randomName("steal") });
      const store = new SharedArrayBuffer(8);
      await withWorkers(1, async ([worker]) => {
        // No leaseMs: no renewal would ever tell it; only the steal can.
        worker!.send({ job: "hold until stolen", handle: lock.handle, store });
        const { fence } = await worker!.next();
        const waiter = track(lock.acquire({ timeoutMs: 30_000 }));
        await delay(20);
        const started = performance.now();
        const thief = await lock.acquire({ steal: true });
        assert(thief.fence > (fence as number), `fence ${thief.fence}`);
        new Float64Array(store)[0] = thief.fence; // the thief's write lands
        const heard = await within(worker!, 10_000);
        assert(heard !== undefined, "the stolen holder never heard of it");
        const ms = performance.now() - started;
        assertEquals(heard.lost, "LockLostError");
        assert(/stolen/.test(String(heard.reason)), String(heard.reason));
        assert(ms < 5_000, `the holder heard after ${ms}ms`);
        assertEquals(heard.accepted, false, "the stale write was accepted");
        // Its release (done) freed nothing: the thief holds, the queue waits.
        assertEquals(await lock.isLocked(), true);
        assertEquals(await lock.tryAcquire(), undefined);
        await delay(20);
        assertEquals(waiter.settled, false, "a waiter passed the thief");
        await thief.release();
        const next = await waiter.promise;
        assert(next.fence > thief.fence);
        await next.release();
      });
      assertEquals(await lock.isLocked(), false);
    },
    30_000,
  );

  test(
    "ThreadLock.acquire() with steal is seen by a shared holder whose thread is busy elsewhere as soon as it looks at its signal",
    async () => {
      const lock = new ThreadLock({ name: randomName("steal-busy") });
      const store = new SharedArrayBuffer(8);
      await withWorkers(1, async ([worker]) => {
        worker!.send({
          job: "hold until stolen",
          handle: lock.handle,
          options: { mode: "shared", leaseMs: 60_000 },
          block: true,
          store,
        });
        const { fence } = await worker!.next();
        const mine = await lock.acquire({ mode: "shared" });
        const started = performance.now();
        const thief = await lock.tryAcquire({ steal: true });
        assert(thief !== undefined && thief.fence > (fence as number));
        assert(mine.signal.aborted, "this thread's shared holder kept it");
        assert(/stolen/.test(String(mine.signal.reason)));
        new Float64Array(store)[0] = thief.fence;
        const heard = await within(worker!, 10_000);
        assert(heard !== undefined, "the busy holder never saw the steal");
        const ms = performance.now() - started;
        assertEquals(heard.lost, "LockLostError");
        assert(/stolen/.test(String(heard.reason)), String(heard.reason));
        assert(ms < 5_000, `the busy holder saw it after ${ms}ms`);
        assertEquals(heard.accepted, false, "the stale write was accepted");
        await mine.release();
        assertEquals(await lock.tryAcquire({ mode: "shared" }), undefined);
        await thief.release();
      });
      assertEquals(await lock.isLocked(), false);
    },
    30_000,
  );

  test(
    "ThreadLock.acquire() with steal from a worker aborts this thread's holder promptly, and its release leaves the thief's lease",
    async () => {
      const lock = new ThreadLock({ name: randomName("stolen-here") });
      const lease = await lock.acquire();
      const lost = new Promise<unknown>((resolve) =>
        lease.signal.addEventListener(
          "abort",
          () => resolve(lease.signal.reason),
        )
      );
      const waiter = track(lock.acquire({ timeoutMs: 30_000 }));
      await delay(20);
      await withWorkers(1, async ([worker]) => {
        const started = performance.now();
        worker!.send({ job: "steal", handle: lock.handle });
        const { fence } = await worker!.next();
        assert((fence as number) > lease.fence);
        const reason = await Promise.race([lost, delay(10_000)]);
        const ms = performance.now() - started;
        assert(reason instanceof LockLostError, `signal: ${String(reason)}`);
        assert(/stolen/.test(reason.message), reason.message);
        assert(ms < 5_000, `heard after ${ms}ms`);
        await lease.release();
        assertEquals(
          await lock.isLocked(),
          true,
          "the release freed the thief's lease",
        );
        await assertRejects(lease.extend(), LockReleasedError);
        await delay(20);
        assertEquals(waiter.settled, false, "a waiter passed the thief");
        worker!.send({ job: "release held" });
        await worker!.next();
        const next = await waiter.promise;
        assert(next.fence > (fence as number));
        await next.release();
      });
      assertEquals(await lock.isLocked(), false);
    },
    30_000,
  );

  test(
    "WebLocks.request() with steal on thread takes the lock from a request held in another thread, which rejects with AbortError",
    async () => {
      const table = new ThreadLockTable();
      const locks = createWebLocks("thread", { threads: table });
      const name = randomName("web-steal");
      await withWorkers(1, async ([worker]) => {
        worker!.send({ job: "web lock", threads: table.handle, name });
        assertEquals((await worker!.next()).held, true);
        const mode = await locks.request(
          name,
          { steal: true },
          (lock) => lock?.mode,
        );
        assertEquals(mode, "exclusive");
        const settled = await within(worker!, 10_000);
        assert(settled !== undefined, "the stolen request never settled");
        assertEquals(settled.rejected, "AbortError");
        assert(/stolen/.test(String(settled.message)), String(settled.message));
      });
      const { held, pending } = await locks.query();
      assertEquals([held.length, pending.length], [0, 0]);
    },
    30_000,
  );

  test("ThreadLock.acquire() with steal withdraws a grant not yet taken up, and its waiter is first in line behind the thief", async () => {
    const lock = new ThreadLock({ name: randomName("steal-grant") });
    const holder = await lock.acquire();
    const first = track(lock.acquire({ timeoutMs: 10_000 }));
    await delay(10);
    const second = track(lock.acquire({ timeoutMs: 10_000 }));
    await delay(10);
    // The release grants the first waiter's slot; the steal comes before
    // that waiter's thread (this one) has run to take it up.
    await holder.release();
    const thief = await lock.acquire({ steal: true });
    await delay(30);
    assertEquals([first.settled, second.settled], [false, false]);
    assertEquals(await lock.isLocked(), true);
    await thief.release();
    const lease = await first.promise;
    assert(lease.fence > thief.fence);
    await delay(20);
    assertEquals(second.settled, false, "the second passed the first");
    await lease.release();
    await (await second.promise).release();
  });

  test("ThreadLock completes the revocation of a steal whose thread died halfway through it", async () => {
    const lock = new ThreadLock({ name: randomName("steal-intent") });
    const holder = await lock.acquire();
    // What a thread leaves that dies stealing, having announced the
    // revocation, before any of its stores: its token in the guard word.
    const i32 = new Int32Array(lock.handle.buffer);
    const f64 = new Float64Array(lock.handle.buffer);
    Atomics.store(i32, LAYOUT.GUARD, 0x4321 << 16);
    f64[LAYOUT.REVOKED] = f64[LAYOUT.FENCE]!;
    Atomics.store(i32, LAYOUT.INTENT, 2);
    // The takeover repairs the region; the lock is free (the thief died).
    const next = await new ThreadLock({ handle: lock.handle }).acquire({
      timeoutMs: 10_000,
    });
    assert(next.fence > holder.fence);
    assertEquals(new ThreadState(lock.handle.buffer, 0).repairs, 1);
    assert(
      holder.signal.aborted && /stolen/.test(String(holder.signal.reason)),
    );
    await holder.release();
    assertEquals(await lock.isLocked(), true);
    await next.release();
    assertEquals(await lock.isLocked(), false);
  });

  test("ThreadLease.signal aborts with LockLostError when the lease expires while the event loop is blocked", async () => {
    const lock = new ThreadLock({ name: randomName("blocked") });
    const lease = await lock.acquire({ leaseMs: 60 });
    const until = Date.now() + 200;
    while (Date.now() < until) { /* block renewal */ }
    // Another handle, as another thread would: it finds the lease expired.
    const other = new ThreadLock({ handle: lock.handle });
    const next = await other.acquire({ timeoutMs: 1_000 });
    assert(next.fence > lease.fence);
    await delay(40);
    assert(lease.signal.aborted, "the lost lease's signal did not abort");
    assert(lease.signal.reason instanceof LockLostError);
    await assertRejects(lease.extend(), LockLostError);
    await lease.release(); // must not release the new holder
    assertEquals(await lock.isLocked(), true);
    // Released is released, lost first or not (as on every lock type).
    await assertRejects(lease.extend(), LockReleasedError);
    await next.release();
    assertEquals(await lock.isLocked(), false);
  });

  test("ThreadLease.signal aborts with LockLostError when the lease expires while the event loop is blocked and nobody else wants the lock", async () => {
    const lock = new ThreadLock({ name: randomName("stalled") });
    const lease = await lock.acquire({ leaseMs: 60 });
    const until = Date.now() + 200;
    while (Date.now() < until) { /* block renewal */ }
    // No waiter reaped it, yet it ran out: the late renewal must not revive
    // it (every backend ends a lease at its expiry).
    await delay(40);
    assert(lease.signal.aborted, "the expired lease's signal did not abort");
    assert(lease.signal.reason instanceof LockLostError);
    await lease.release();
    const next = await lock.tryAcquire();
    assert(next !== undefined, "the expired lease left the lock held");
    assert(next.fence > lease.fence);
    await next.release();
  });

  test("ThreadLock never hands out a grant that ran out while the waiting thread was stalled", async () => {
    const name = randomName("stale-grant");
    const a = new ThreadLock({ name });
    const b = new ThreadLock({ handle: a.handle });
    const held = await a.acquire();
    const waiting = b.acquire({ leaseMs: 90 });
    await delay(20); // b is queued
    await held.release(); // grants b's slot at once
    const until = Date.now() + 250;
    while (Date.now() < until) { /* b's thread stalls before it takes it */ }
    const lease = await waiting;
    await delay(60); // past the first renewal of a stale lease
    assert(!lease.signal.aborted, "a lease that had run out was handed out");
    await lease.release();
  });

  test("ThreadLock.metrics() counts a lease lost while the event loop was blocked, and subscribe() reports it", async () => {
    const lock = new ThreadLock({ name: randomName("lost") });
    const types: string[] = [];
    lock.subscribe((event) => types.push(event.type));
    const lease = await lock.acquire({ leaseMs: 60, owner: "blocked" });
    const until = Date.now() + 200;
    while (Date.now() < until) { /* block renewal */ }
    const next = await new ThreadLock({ handle: lock.handle }).acquire({
      timeoutMs: 1_000,
    });
    await delay(40);
    assert(lease.signal.aborted, "the lost lease's signal did not abort");
    await lease.release(); // after a loss: no second end
    const m = lock.metrics();
    assertEquals([m.acquisitions, m.lost, m.holders], [2, 1, 1]);
    assertEquals(types, ["acquire", "grant", "acquire", "grant", "lost"]);
    await next.release();
    assertEquals(lock.metrics().holders, 0);
  });

  test("ThreadLock renews a lease while held so it outlives leaseMs", async () => {
    const lock = new ThreadLock({ name: randomName("renew") });
    const lease = await lock.acquire({ leaseMs: 60 });
    await delay(250);
    assertEquals(lease.signal.aborted, false);
    assertEquals(
      await new ThreadLock({ handle: lock.handle }).tryAcquire(),
      undefined,
    );
    await lease.extend(1_000);
    await lease.release();
    assertEquals(await lock.isLocked(), false);
  });

  test(
    "ThreadLock passes the contract suite inside a worker thread",
    async () => {
      await withWorkers(1, async ([worker]) => {
        worker!.send({ job: "contract" });
        const { total, failed } = await worker!.next() as {
          total: number;
          failed: string[];
        };
        assert(total > 40, `only ${total} contract tests ran`);
        assertEquals(failed, []);
      });
    },
    60_000,
  );

  test(
    "LockManager shares named thread locks with a worker through its table",
    async () => {
      const manager = new LockManager();
      const id = randomName("managed");
      await withWorkers(1, async ([worker]) => {
        worker!.send({ job: "manager", threads: manager.threads.handle, id });
        const first = await worker!.next();
        assertEquals(first.acquired, true);
        const mine = manager.getOrCreateLock(id, "thread");
        assertEquals(mine.type, "thread");
        assertEquals(await mine.tryAcquire(), undefined, "not the same lock");
        assert(manager.threads.names().includes(id));
        assertEquals(manager.listLocks()[id], "thread");
      });
    },
    30_000,
  );

  test(
    "ThreadLock takes over the guard of a thread terminated inside the lock's bookkeeping, and honours timeoutMs and signal meanwhile",
    async () => {
      const lock = new ThreadLock({ name: randomName("guard") });
      const handle = lock.handle;
      await withWorkers(2, async ([dier, survivor]) => {
        // It dies holding the guard word: termination runs no finally.
        dier!.send({ job: "take guard", handle });
        assertEquals((await dier!.next()).taken, true);
        await dier!.terminate();
        survivor!.send({ job: "acquire", handle, options: { timeoutMs: 150 } });
        const timedOut = await within(survivor!, 5_000);
        assert(timedOut !== undefined, "the survivor's thread was wedged");
        assertEquals(timedOut.failed, "TimeoutError");
        assert(Number(timedOut.ms) < 900, `timed out after ${timedOut.ms}ms`);
        assert(String(timedOut.cause).includes("held by thread"));
        survivor!.send({ job: "acquire", handle, abortMs: 100 });
        const aborted = await within(survivor!, 5_000);
        assert(aborted !== undefined, "the survivor's thread was wedged");
        assertEquals(aborted.message, "Error: aborted by the test");
        survivor!.send({ job: "acquire", handle, options: { leaseMs: 500 } });
        const granted = await within(survivor!, 10_000);
        assert(granted !== undefined, "the survivor's thread was wedged");
        assert(Number(granted.fence) > 0, JSON.stringify(granted));
      });
      // The lock is whole again, for this thread too.
      assertEquals(await lock.isLocked(), false);
      const lease = await lock.acquire({ timeoutMs: 1_000 });
      await lease.release();
    },
    30_000,
  );

  test("ThreadLock completes a grant whose dispatching thread died halfway through it", async () => {
    const lock = new ThreadLock({ name: randomName("intent") });
    await lock.acquire(); // the dead thread's lease
    const waiting = track(lock.acquire({ timeoutMs: 10_000 }));
    await delay(20); // queued in slot 1
    // What a thread leaves that dies releasing, having announced the grant
    // to slot 1 and unlinked it, before any of the grant's own stores: its
    // token still in the guard word.
    const i32 = new Int32Array(lock.handle.buffer);
    const f64 = new Float64Array(lock.handle.buffer);
    Atomics.store(i32, LAYOUT.GUARD, 0x4321 << 16);
    i32[LAYOUT.WRITER] = 0;
    const fence = ++f64[LAYOUT.FENCE]!;
    f64[LAYOUT.INTENT_FENCE] = fence;
    f64[LAYOUT.INTENT_EXPIRY] = 0;
    i32[LAYOUT.INTENT_SLOT] = 1;
    Atomics.store(i32, LAYOUT.INTENT, 1);
    i32[LAYOUT.QUEUE_HEAD] = i32[LAYOUT.QUEUE_TAIL] = i32[LAYOUT.WAITING] = 0;
    const lease = await waiting.promise;
    assertEquals(
      lease.fence,
      fence,
      "the waiter did not get the announced grant",
    );
    const state = new ThreadState(lock.handle.buffer, 0);
    assertEquals(state.repairs, 1);
    assertEquals(await lock.isLocked(), true);
    await lease.release();
    assertEquals(await lock.isLocked(), false);
  });

  test(
    "ThreadLockTable and its deadlock graph take over a guard left by a terminated thread",
    async () => {
      const manager = new LockManager();
      const threads = manager.threads.handle;
      manager.getOrCreateLock(randomName("first"), "thread");
      // A dead thread's token in the table's and the graph's guard words,
      // as a thread terminated inside get() or a graph update leaves them.
      Atomics.store(new Int32Array(threads.buffer), 3, 0x1234 << 16);
      Atomics.store(new Int32Array(threads.graph!), 0, 0x1234 << 16);
      await withWorkers(1, async ([survivor]) => {
        survivor!.send({ job: "table get", table: threads, name: "later" });
        const got = await within(survivor!, 10_000);
        assert(got !== undefined, "the table's guard wedged the thread");
        assert(Number(got.fence) > 0);
        survivor!.send({
          job: "owned",
          threads,
          id: randomName("owned"),
          owner: "A",
        });
        const owned = await within(survivor!, 10_000);
        assert(owned !== undefined, "the graph's guard wedged the thread");
        assert(Number(owned.fence) > 0, JSON.stringify(owned));
      });
    },
    30_000,
  );

  test(
    "ThreadLock grants the next waiter after a granted waiter's thread is terminated, though no lease existed when it went to sleep",
    async () => {
      const lock = new ThreadLock({ name: randomName("sleeper") });
      const handle = lock.handle;
      const holder = await lock.acquire();
      await withWorkers(2, async ([first, second]) => {
        for (const [i, worker] of [first!, second!].entries()) {
          worker.send({
            job: "acquire",
            handle,
            options: { leaseMs: 100 },
            queued: true,
            keep: true,
          });
          assertEquals((await worker.next()).queued, true);
          while (lock.waiting < i + 1) await delay(1);
        }
        await delay(100); // both asleep, with no expiry to wake for
        await holder.release();
        const granted = await first!.next();
        await first!.terminate();
        // Nobody in this thread touches the lock from here on: the second
        // waiter must notice the dead one's lease running out by itself.
        const next = await within(second!, 3_000);
        assert(next !== undefined, "the second waiter slept on");
        assert(Number(next.fence) > Number(granted.fence));
      });
    },
    30_000,
  );

  test(
    "ThreadLock reclaims the slot of a waiter whose thread was terminated while it was queued",
    async () => {
      const lock = new ThreadLock({ name: randomName("leak"), capacity: 1 });
      const handle = lock.handle;
      const holder = await lock.acquire();
      await withWorkers(1, async ([waiter]) => {
        waiter!.send({
          job: "acquire",
          handle,
          options: { leaseMs: 100 },
          queued: true,
        });
        assertEquals((await waiter!.next()).queued, true);
        while (lock.waiting < 1) await delay(1);
      });
      // Its thread is gone; its only slot must come back once it is silent.
      await delay(1_800);
      const next = track(lock.acquire({ timeoutMs: 10_000 }));
      await delay(20);
      assertEquals(next.settled, false, "the acquire found no slot");
      await holder.release();
      await (await next.promise).release();
      assertEquals(await lock.isLocked(), false);
    },
    30_000,
  );

  test(
    "ThreadLock reclaims the slot of a waiter terminated after it was granted, before it took the grant",
    async () => {
      const lock = new ThreadLock({ name: randomName("granted"), capacity: 1 });
      const handle = lock.handle;
      const holder = await lock.acquire();
      await withWorkers(1, async ([waiter]) => {
        waiter!.send({
          job: "acquire",
          handle,
          options: { leaseMs: 100 },
          queued: true,
        });
        assertEquals((await waiter!.next()).queued, true);
        while (lock.waiting < 1) await delay(1);
        await waiter!.terminate();
        // Granted to a thread that will never take it.
        await holder.release();
      });
      await delay(300); // past the dead grant's lease
      const lease = await lock.acquire({ timeoutMs: 10_000 });
      // The lock's one slot is free again: a waiter can queue.
      const next = track(lock.acquire({ timeoutMs: 10_000 }));
      await delay(20);
      assertEquals(next.settled, false, "the acquire found no slot");
      await lease.release();
      await (await next.promise).release();
    },
    30_000,
  );

  test(
    "ThreadLock lets a waiter whose event loop was blocked past the reclaim bound queue again and get the lock",
    async () => {
      const lock = new ThreadLock({ name: randomName("slow"), capacity: 1 });
      const handle = lock.handle;
      await withWorkers(1, async ([holder]) => {
        holder!.send({
          job: "acquire",
          handle,
          keep: true,
          releaseAfterMs: 2_200,
        });
        const held = await holder!.next();
        const waiting = track(lock.acquire({ timeoutMs: 20_000 }));
        await delay(20);
        // This thread stalls: its waiter stops refreshing its place, the
        // holder releases meanwhile and the place is reclaimed.
        block(3_000);
        const lease = await waiting.promise;
        assert(lease.fence > Number(held.fence));
        await lease.release();
      });
    },
    30_000,
  );

  test(
    "ThreadLock keeps a waiter's place in line when its grant ran out before it came to take it",
    async () => {
      const name = randomName("requeue");
      const lock = new ThreadLock({ name });
      const handle = () => new ThreadLock({ handle: lock.handle });
      const held = await lock.acquire();
      const order: string[] = [];
      const take = (who: string, p: Promise<{ release(): Promise<void> }>) =>
        p.then(async (lease) => {
          order.push(who);
          // Long enough for W's thread, awake again, to queue meanwhile.
          await delay(50);
          return lease.release();
        });
      const w = take("W", handle().acquire({ leaseMs: 60 }));
      await delay(10);
      const y1 = take("Y1", handle().acquire());
      await delay(10);
      const y2 = take("Y2", handle().acquire());
      await delay(10);
      await held.release(); // grants W at once
      block(250); // W's thread stalls past its lease before it takes it
      await Promise.all([w, y1, y2]);
      // W lost the grant but not its ticket: it goes before Y2 again.
      assertEquals(order, ["Y1", "W", "Y2"]);
    },
    30_000,
  );

  test(
    "LockManager thread lock.acquire() reports no deadlock through a terminated thread's holds and waits",
    async () => {
      const manager = new LockManager();
      const [idX, idY] = [randomName("x"), randomName("y")];
      const x = manager.getOrCreateLock(idX, "thread");
      const y = manager.getOrCreateLock(idY, "thread");
      const threads = manager.threads.handle;
      const b = await y.acquire({ owner: "B" });
      await withWorkers(1, async ([a]) => {
        a!.send({ job: "owned", threads, id: idX, owner: "A", leaseMs: 200 });
        assert(Number((await a!.next()).fence) > 0, "A did not get x");
        a!.send({ job: "owned", threads, id: idY, owner: "A", queued: true });
        assertEquals((await a!.next()).queued, true);
        while (manager.threads.get(idY).waiting < 1) await delay(1);
        await a!.terminate();
      });
      // A's lease on x runs out; C takes x.
      const c = await x.acquire({ owner: "C", timeoutMs: 5_000 });
      // x is held by C, who waits for nothing: B only waits.
      await assertRejects(
        x.acquire({ owner: "B", timeoutMs: 300 }),
        LockTimeoutError,
      );
      await c.release();
      await b.release();
    },
    30_000,
  );

  test(
    "LockManager thread deadlock detection still sees a cycle after a terminated thread filled the graph",
    async () => {
      const manager = new LockManager();
      const threads = manager.threads.handle;
      const names = Array.from({ length: 4 }, () => randomName("fill"));
      await withWorkers(1, async ([filler]) => {
        // More owners than the graph has strings, each holding a shared
        // lease, then the thread dies: its edges were never removed.
        for (let i = 0; i < 70; i++) {
          filler!.send({
            job: "owned",
            threads,
            id: names[i % names.length]!,
            owner: `owner-${i}`,
            leaseMs: 150,
            mode: "shared",
          });
          assert(Number((await filler!.next()).fence) > 0);
        }
        await filler!.terminate();
      });
      await delay(400); // their leases run out
      const [x, y] = [randomName("p"), randomName("q")].map((id) =>
        manager.getOrCreateLock(id, "thread")
      );
      const p = await x!.acquire({ owner: "P" });
      const q = await y!.acquire({ owner: "Q" });
      const pWaits = track(y!.acquire({ owner: "P" }));
      await delay(20);
      await assertRejects(
        x!.acquire({ owner: "Q", timeoutMs: 1_000 }),
        LockDeadlockError,
      );
      await q.release();
      await (await pWaits.promise).release();
      await p.release();
    },
    30_000,
  );

  test("ThreadLease.extend() to a shorter lease renews at the new length, so a healthy holder keeps it", async () => {
    const lock = new ThreadLock({ name: randomName("shorter") });
    const lease = await lock.acquire({ leaseMs: 30_000 });
    await lease.extend(150);
    await delay(700);
    assertEquals(lease.signal.aborted, false);
    assertEquals(
      await new ThreadLock({ handle: lock.handle }).tryAcquire(),
      undefined,
      "another thread took the lock from a holder that renews",
    );
    await lease.release();
  });

  test("ThreadLease.extend(ms) sets the lease to end ms from now, not ms after its old expiry", async () => {
    const lock = new ThreadLock({ name: randomName("extend") });
    const lease = await lock.acquire({ leaseMs: 5_000 });
    await lease.extend(200);
    block(500); // no renewal runs
    const next = await new ThreadLock({ handle: lock.handle }).tryAcquire();
    assert(next !== undefined, "the lease outlived the length it was set to");
    await next.release();
    await delay(10);
    assert(lease.signal.aborted, "the lost lease's signal did not abort");
  });

  test(
    "ThreadLock reckons every thread's leases by one clock, even a thread whose clock started behind",
    async () => {
      const lock = new ThreadLock({ name: randomName("clock") });
      await withWorkers(1, async ([worker]) => {
        // As a worker started before a step of the wall clock sees time on
        // Deno and Bun: its performance.timeOrigin is behind this thread's.
        worker!.send({ job: "skew clock", byMs: -10_000 });
        await worker!.next();
        // The floor that brings it in line is the latest time a thread read
        // under the lock's guard: kept fresh by use (a worker slow to start,
        // as Deno's type-checking one is, would otherwise meet the floor of
        // the lock's creation, seconds old; see _clock.ts).
        await (await lock.acquire({ leaseMs: 1_000 })).release();
        worker!.send({
          job: "acquire",
          handle: lock.handle,
          options: { leaseMs: 2_000 },
          keep: true,
        });
        assert(Number((await worker!.next()).fence) > 0);
        for (let i = 0; i < 3; i++) {
          assertEquals(
            await lock.tryAcquire(),
            undefined,
            "a healthy holder's lease was reaped by another thread's clock",
          );
          await delay(200);
        }
      });
    },
    30_000,
  );

  test("acquireAll() says why it refuses two distinct locks of one type and name", async () => {
    const lock = new ThreadLock({ name: randomName("twice") });
    const same = new ThreadLock({ handle: lock.handle });
    await assertRejects(acquireAll([lock, same]), TypeError, [
      "'locks[0]' and 'locks[1]'",
      "distinct",
      `"${lock.name}"`,
    ]);
  });

  test("ThreadLock throws a TypeError for a handle that went through JSON or a corrupt buffer", () => {
    const lock = new ThreadLock({ name: "h" });
    const json = JSON.parse(JSON.stringify(lock.handle)) as ThreadLockHandle;
    assertThrows(() => createLock("thread", { handle: json }), TypeError, [
      "SharedArrayBuffer",
      "postMessage",
    ]);
    const corrupt = { ...lock.handle, buffer: new SharedArrayBuffer(256) };
    assertThrows(() => new ThreadLock({ handle: corrupt }), TypeError, [
      "corrupt",
    ]);
    assertThrows(
      () => new ThreadLock({ handle: { ...lock.handle, byteOffset: 3 } }),
      TypeError,
      ["'handle.byteOffset'"],
    );
    assertThrows(
      () => new ThreadLock({ handle: { kind: "other" } as never }),
      TypeError,
      ["'handle'"],
    );
    assertThrows(() => new ThreadLock({ capacity: 0 }), RangeError, [
      "'capacity'",
      "0",
    ]);
    assertThrows(
      () => new ThreadLockTable({ handle: { kind: "x" } as never }),
      TypeError,
      ["'handle'"],
    );
    assertThrows(() => new ThreadLockTable({ maxLocks: 0 }), RangeError, [
      "'maxLocks'",
    ]);
    return Promise.resolve();
  });

  test("ThreadLock rejects with a LockError when every slot is taken, and stays usable", async () => {
    const lock = new ThreadLock({ name: randomName("full"), capacity: 2 });
    const holder = await lock.acquire();
    const a = lock.acquire();
    const b = lock.acquire();
    await assertRejects(lock.acquire(), Error, ["slots", "'capacity'"]);
    await holder.release();
    await (await a).release();
    await (await b).release();
    assertEquals(await lock.isLocked(), false);
  });

  test("ThreadLockTable throws a LockError when it holds its maximum of locks", () => {
    const table = new ThreadLockTable({ maxLocks: 2 });
    table.get("a");
    table.get("b");
    assertThrows(() => table.get("c"), Error, ["maximum of 2", "'maxLocks'"]);
    assertEquals(table.names(), ["a", "b"]);
    return Promise.resolve();
  });
}
