// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal Adversarial: the worker-thread backend's newest parts
 * (ThreadSemaphore, steal on thread locks, the Web Locks facade over
 * threads), with real worker threads, on Node, Deno and Bun. A worker here
 * runs the code each message sends (see thread/_adv_worker.ts); "a thread
 * that dies inside the bookkeeping" is played by a worker that takes a
 * guard word and is terminated.
 */
import {
  createSemaphore,
  createWebLocks,
  type Lease,
  type SemaphoreLease,
  ThreadLock,
  ThreadLockTable,
  ThreadSemaphore,
} from "../mod.ts";
import { assert } from "./_assert.ts";
import { spawnWorker, type TestWorker } from "./thread/_spawn.ts";
import type { RegisterTimedTest } from "./_thread_suite.ts";

// The workers the running test started: each test stops them all.
const started: TestWorker[] = [];

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
  spawned?: TestWorker,
): Promise<void> {
  const w = spawned ?? await worker();
  await run(
    w,
    `new internals.${kind}(data.buffer, data.byteOffset).lock(); return true;`,
    { buffer, byteOffset },
  );
  await w.terminate();
  started.splice(started.indexOf(w), 1);
}

/**
 * Starts three workers on HOSTILE against `sem`; `runs` settle to each
 * worker's metrics() once its loop is done. `c` is the shared counter.
 */
async function hostileWorkers(
  sem: ThreadSemaphore,
  permits: number,
  options: { seed: (i: number) => number; ms: number; lease?: boolean },
): Promise<{
  workers: TestWorker[];
  runs: Promise<unknown>[];
  c: Int32Array;
}> {
  const counter = new SharedArrayBuffer(8 * 4);
  const c = new Int32Array(counter);
  const workers = await Promise.all([1, 2, 3].map(() => worker()));
  const runs = workers.map((w, i) =>
    run(w, HOSTILE, {
      handle: sem.handle,
      permits,
      counter,
      seed: options.seed(i),
      index: i,
      ms: options.ms,
      lease: options.lease === true,
    })
  );
  return { workers, runs, c };
}

/** What every hostile run must show once its workers are done. */
function checkHostile(
  ended: unknown[],
  c: Int32Array,
  permits: number,
): void {
  for (const result of ended) {
    const { holders, waiters } = result as Record<string, number>;
    assert(
      holders === 0 && waiters === 0,
      `a worker's metrics() show ${holders} holders and ${waiters} waiters once it is done`,
    );
  }
  assert(c[2] === 0, `more than ${permits} permits were out ${c[2]} times`);
  assert(c[4] === 0, `${c[4]} acquisitions overran their timeoutMs by 3 s`);
  assert(c[3]! > 20, `only ${c[3]} sections ran`);
}

// A worker's loop of hostile requests: weights, priorities, timeouts,
// aborts at random moments, leases, tryAcquire, double releases, throws.
const HOSTILE = `
  const sem = lib.createSemaphore("thread", { handle: data.handle, permits: data.permits });
  // One worker watched from the start (metrics keep more), one not.
  if (data.index === 1) sem.subscribe(() => {});
  const c = new Int32Array(data.counter);
  // c: [in use, most, over, done, stuck, in use by worker 0, 1, 2]
  let seed = data.seed;
  const rand = (n) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
  const until = Date.now() + data.ms;
  while (Date.now() < until) {
    const permits = 1 + rand(data.permits);
    const options = { permits, priority: rand(3) };
    if (rand(2)) options.timeoutMs = rand(40);
    if (data.lease || rand(3) === 0) options.leaseMs = 200 + rand(200);
    let controller;
    if (rand(3) === 0) {
      controller = new AbortController();
      options.signal = controller.signal;
      const at = rand(30);
      if (at === 0) queueMicrotask(() => controller.abort());
      else setTimeout(() => controller.abort(), at);
    }
    const started = performance.now();
    let lease;
    try {
      lease = rand(5) === 0 ? await sem.tryAcquire(options) : await sem.acquire(options);
    } catch (error) {
      if (!["TimeoutError", "AbortError"].includes(error?.name)) throw error;
    }
    const took = performance.now() - started;
    if (options.timeoutMs !== undefined && took > options.timeoutMs + 3000) Atomics.add(c, 4, 1);
    if (lease === undefined) continue;
    // This worker's own count first (the test takes a terminated one's
    // back from the total): a thread killed between the two undercounts.
    Atomics.add(c, 5 + data.index, permits);
    const now = Atomics.add(c, 0, permits) + permits;
    if (now > data.permits) Atomics.add(c, 2, 1);
    for (;;) {
      const most = Atomics.load(c, 1);
      if (now <= most || Atomics.compareExchange(c, 1, most, now) === most) break;
    }
    await new Promise((r) => setTimeout(r, rand(4)));
    Atomics.sub(c, 0, permits);
    Atomics.sub(c, 5 + data.index, permits);
    if (rand(4) === 0) await Promise.all([lease.release(), lease.release()]);
    else await lease.release();
    Atomics.add(c, 3, 1);
  }
  const m = sem.metrics();
  return { holders: m.holders, waiters: m.waiters };
`;

// Exclusive and shared requests with steals, aborts, timeouts and leases.
const STEALER = `
  const lock = lib.createLock("thread", { handle: data.handle });
  if (data.index === 1) lock.subscribe(() => {});
  const c = new Int32Array(data.counter); // [next fence index, stuck, done]
  const fences = new Float64Array(data.fences);
  let seed = data.seed;
  const rand = (n) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
  const until = Date.now() + data.ms;
  while (Date.now() < until) {
    const options = {};
    const kind = rand(10);
    if (kind === 0) options.steal = true;
    else if (kind < 4) options.mode = "shared";
    if (rand(2)) options.timeoutMs = rand(40);
    if (rand(2)) options.leaseMs = 150 + rand(200);
    if (!options.steal && rand(3) === 0) {
      const controller = new AbortController();
      options.signal = controller.signal;
      const at = rand(30);
      if (at === 0) queueMicrotask(() => controller.abort());
      else setTimeout(() => controller.abort(), at);
    }
    const started = performance.now();
    let lease;
    try {
      lease = rand(5) === 0 && !options.steal ? await lock.tryAcquire(options) : await lock.acquire(options);
    } catch (error) {
      if (!["TimeoutError", "AbortError"].includes(error?.name)) throw error;
    }
    if (options.timeoutMs !== undefined && performance.now() - started > options.timeoutMs + 3000) Atomics.add(c, 1, 1);
    if (lease === undefined) continue;
    fences[Atomics.add(c, 0, 1)] = lease.fence;
    if (rand(2)) lease.signal;
    await new Promise((r) => setTimeout(r, rand(4)));
    if (rand(3) === 0) {
      try { await lease.extend(100 + rand(200)); } catch (error) {
        if (!["LockLostError", "LockReleasedError"].includes(error?.name)) throw error;
      }
    }
    if (rand(4) === 0) await Promise.all([lease.release(), lease.release()]);
    else await lease.release();
    Atomics.add(c, 2, 1);
  }
  const m = lock.metrics();
  return { holders: m.holders, waiters: m.waiters };
`;

/** Registers the adversarial thread suite with `test`. */
export function adversarialThreadSuite(register: RegisterTimedTest): void {
  const test: RegisterTimedTest = (name, fn, timeoutMs) =>
    register(name, async () => {
      try {
        await fn();
      } finally {
        for (const w of started.splice(0)) await w.terminate();
      }
    }, timeoutMs);

  test(
    "ThreadLease.release() called twice frees one shared holder only when the guard is slow",
    async () => {
      const lock = new ThreadLock();
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
      const sem = new ThreadSemaphore({
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

  test(
    "ThreadSemaphore.acquire() never lets more than N permits out and gets them all back under hostile requests from worker threads",
    async () => {
      const permits = 4;
      const sem = new ThreadSemaphore({ permits, capacity: 64 });
      const { runs, c } = await hostileWorkers(sem, permits, {
        seed: (i) => 17 + i * 7919,
        ms: 4_000,
      });
      checkHostile(await Promise.all(runs), c, permits);
      const free = await sem.available();
      assert(
        free === permits,
        `available() is ${free} of ${permits} once every worker is done`,
      );
      const lease = await sem.acquire({ permits, timeoutMs: 5_000 });
      await lease.release();
    },
    60_000,
  );

  test(
    "ThreadSemaphore.acquire() gets every permit back when a worker thread holding and waiting with leases is terminated",
    async () => {
      const permits = 3;
      const sem = new ThreadSemaphore({ permits, capacity: 64 });
      const { workers, runs, c } = await hostileWorkers(sem, permits, {
        seed: (i) => 5 + i * 104729,
        ms: 5_000,
        lease: true,
      });
      // Terminated mid-run: it holds or waits (or is at the head) by now.
      await new Promise((r) => setTimeout(r, 1_500));
      const killed = workers[0]!;
      // Its permits stay held until its lease runs out; its count is taken
      // back from the total now (early: an undercount, never a false alarm).
      runs[0] = killed.terminate().then(() => {
        Atomics.sub(c, 0, Atomics.load(c, 5));
        return true;
      });
      checkHostile((await Promise.all(runs)).slice(1), c, permits);
      // Its leases (at most 400 ms) and its place in line (2 s) lapse.
      const lease = await sem.acquire({ permits, timeoutMs: 8_000 });
      await lease.release();
      const free = await sem.available();
      assert(free === permits, `available() is ${free} of ${permits}`);
    },
    60_000,
  );

  test(
    "ThreadLock.acquire() with steal keeps fences unique and the lock free afterwards when worker threads race steals, releases, extends and aborts",
    async () => {
      const lock = new ThreadLock({ capacity: 64 });
      const counter = new SharedArrayBuffer(3 * 4);
      const fences = new SharedArrayBuffer(8 * 200_000);
      const c = new Int32Array(counter);
      const workers = await Promise.all([1, 2, 3].map(() => worker()));
      const runs = Promise.all(workers.map((w, i) =>
        run(w, STEALER, {
          handle: lock.handle,
          counter,
          fences,
          seed: 3 + i * 65537,
          index: i,
          ms: 4_000,
        })
      ));
      let overlaps = 0, done = false;
      runs.finally(() => (done = true));
      while (!done) {
        const { held } = await lock.query();
        const writers = held.filter((h) => h.mode === "exclusive").length;
        if (writers > 1 || (writers === 1 && held.length > 1)) overlaps++;
        await new Promise((r) => setTimeout(r, 5));
      }
      const ended = await runs;
      for (const result of ended) {
        const { holders, waiters } = result as Record<string, number>;
        assert(
          holders === 0 && waiters === 0,
          `a worker's metrics() show ${holders} holders and ${waiters} waiters once it is done`,
        );
      }
      const n = c[0]!;
      const seen = new Float64Array(fences, 0, n).slice().sort();
      let dupes = 0;
      for (let i = 1; i < n; i++) if (seen[i] === seen[i - 1]) dupes++;
      assert(
        overlaps === 0,
        `query() showed an exclusive holder beside another ${overlaps} times`,
      );
      assert(dupes === 0, `${dupes} fences were granted twice among ${n}`);
      assert(c[1] === 0, `${c[1]} acquisitions overran their timeoutMs by 3 s`);
      assert(n > 20, `only ${n} grants`);
      const last = await lock.acquire({ timeoutMs: 5_000 });
      assert(
        last.fence > seen[n - 1]!,
        "the last fence is not above every earlier one",
      );
      await last.release();
      assert(!(await lock.isLocked()), "isLocked() after every lease ended");
    },
    60_000,
  );

  test(
    "WebLocks.request() with type thread leaves a semaphore of the table alone when the name is the semaphore's own entry",
    async () => {
      // Any string is a Web Locks name; this one is the table entry that
      // holds the permits of the semaphore "jobs".
      const name = "\u0000unilock-semaphore-permits\u0000jobs";
      const table = new ThreadLockTable();
      const locks = createWebLocks("thread", { threads: table });
      await locks.request(name, () => {});
      const sem = createSemaphore("thread", {
        table,
        name: "jobs",
        permits: 2,
      });
      const one = await sem.acquire();
      let leave!: () => void;
      const inside = new Promise<void>((resolve) => (leave = resolve));
      let granted!: () => void;
      const entered = new Promise<void>((resolve) => (granted = resolve));
      const held = locks.request(name, { mode: "shared" }, () => {
        granted();
        return inside;
      });
      await entered;
      try {
        const free = await sem.available();
        assert(free === 1, `available() is ${free} with 1 of 2 permits held`);
        const two = await sem.tryAcquire();
        assert(
          two !== undefined,
          "tryAcquire() found no permit free of 2 with 1 held",
        );
        await two.release();
      } finally {
        leave();
        await held;
        await one.release();
      }
      assert(
        (await sem.available()) === 2,
        "the permits did not all come back",
      );
    },
    20_000,
  );

  test(
    "ThreadLockTable.get() refuses the entry names a semaphore of the table keeps its state in",
    () => {
      const table = new ThreadLockTable();
      createSemaphore("thread", { table, name: "jobs", permits: 2 });
      for (const kind of ["queue", "permits"]) {
        const name = `\u0000unilock-semaphore-${kind}\u0000jobs`;
        let error: unknown;
        try {
          table.get(name);
        } catch (e) {
          error = e;
        }
        assert(
          error instanceof TypeError && /reserved/.test(error.message),
          `table.get() of the semaphore's ${kind} entry gave ${
            error ?? "a lock"
          }`,
        );
      }
      return Promise.resolve();
    },
    20_000,
  );

  test(
    "ThreadSemaphore.acquire() rejects at its timeoutMs when it waits at the head of the line and a thread died holding the queue's guard",
    async () => {
      const sem = new ThreadSemaphore({ permits: 1 });
      const held = await sem.acquire();
      const w = await worker();
      const started = performance.now();
      const waiting = sem.acquire({ timeoutMs: 100 }).then(
        (lease) => lease,
        (error: Error) => error,
      );
      // At the head by now, sleeping until a permit comes back.
      await new Promise((resolve) => setTimeout(resolve, 30));
      const { buffer, gateOffset } = sem.handle;
      await dieHoldingGuard("ThreadState", buffer, gateOffset, w);
      const outcome = await waiting;
      const ms = performance.now() - started;
      try {
        assert(
          outcome instanceof Error && outcome.name === "TimeoutError",
          `acquire({ timeoutMs: 100 }) gave ${outcome}`,
        );
        assert(
          ms < 700,
          `acquire({ timeoutMs: 100 }) rejected after ${ms.toFixed(0)} ms`,
        );
      } finally {
        await held.release();
      }
    },
    20_000,
  );

  test(
    "ThreadSemaphore.acquire() does not hold up the event loop when the head steps back for a higher priority while a thread died holding the permits' guard",
    async () => {
      const sem = new ThreadSemaphore({ permits: 1 });
      const held = await sem.acquire();
      const w = await worker();
      const low = sem.acquire({ timeoutMs: 10_000 }).then(
        (lease) => lease,
        (error: Error) => error,
      );
      // The low-priority request is at the head by now.
      await new Promise((resolve) => setTimeout(resolve, 50));
      const { buffer, byteOffset } = sem.handle;
      await dieHoldingGuard("SemaphoreState", buffer, byteOffset, w);
      let last = performance.now(), gap = 0;
      const ticker = setInterval(() => {
        const now = performance.now();
        gap = Math.max(gap, now - last);
        last = now;
      }, 5);
      const high = sem.acquire({ priority: 5, timeoutMs: 10_000 }).then(
        (lease) => lease,
        (error: Error) => error,
      );
      // The head wakes (within 300 ms), sees the higher priority, and
      // steps back into line.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      clearInterval(ticker);
      await held.release();
      for (const outcome of [high, low]) {
        const lease = await outcome;
        if (!(lease instanceof Error)) await lease.release();
      }
      assert(
        gap < 400,
        `the event loop was held up for ${gap.toFixed(0)} ms at once`,
      );
    },
    20_000,
  );

  test(
    "ThreadSemaphore() does not hold up its thread when a thread died holding the permits' guard",
    async () => {
      const sem = new ThreadSemaphore({ permits: 2 });
      const { buffer, byteOffset } = sem.handle;
      await dieHoldingGuard("SemaphoreState", buffer, byteOffset);
      const started = performance.now();
      const again = new ThreadSemaphore({ handle: sem.handle, permits: 2 });
      const ms = performance.now() - started;
      assert(ms < 400, `the constructor blocked for ${ms.toFixed(0)} ms`);
      const lease = await again.acquire({ permits: 2, timeoutMs: 5_000 });
      assert(
        (await sem.tryAcquire()) === undefined,
        "a permit was free beside 2 of 2 held",
      );
      await lease.release();
      assert((await sem.available()) === 2, "the permits did not come back");
    },
    20_000,
  );
  test(
    "WebLocks.request() with type thread and leaseMs is granted once a worker that held the lock was terminated",
    async () => {
      const table = new ThreadLockTable();
      const w = await worker();
      // The worker holds "x" for ever (its callback never settles).
      await run(
        w,
        `const locks = lib.createWebLocks("thread", { threads: data.handle, leaseMs: 300 });
        let held;
        const granted = new Promise((r) => (held = r));
        locks.request("x", () => { held(); return new Promise(() => {}); });
        await granted;
        return true;`,
        { handle: table.handle },
      );
      const locks = createWebLocks("thread", { threads: table, leaseMs: 300 });
      const busy = await locks.request("x", { ifAvailable: true }, (l) => l);
      assert(busy === null, "the worker's lock was free while it lived");
      await w.terminate();
      started.splice(started.indexOf(w), 1);
      const start = performance.now();
      const got = await locks.request(
        "x",
        { signal: AbortSignal.timeout(10_000) },
        (lock) => lock?.name,
      );
      const ms = performance.now() - start;
      assert(got === "x", `the request gave ${String(got)}`);
      // 300 ms of lease, plus the renewal it missed: far under 10 s.
      assert(ms < 5_000, `granted ${ms.toFixed(0)} ms after the termination`);
    },
    30_000,
  );

  test(
    "createWebLocks() with type thread rejects a leaseMs that is not a positive number",
    // deno-lint-ignore require-await
    async () => {
      for (const leaseMs of [0, -1, Number.NaN, "300"]) {
        let error: unknown;
        try {
          createWebLocks("thread", { leaseMs: leaseMs as number });
        } catch (e) {
          error = e;
        }
        assert(
          (error instanceof RangeError || error instanceof TypeError) &&
            error.message.includes("'leaseMs'"),
          `leaseMs ${String(leaseMs)} gave ${String(error)}`,
        );
      }
    },
    5_000,
  );
}
