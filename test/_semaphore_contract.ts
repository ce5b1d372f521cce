// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal The semaphore contract, written once and run against every
 * backend on every runtime, beside the lock contract and by the same
 * {@linkcode ContractBackend}s: at most N permits out (a counter inside the
 * sections, across clients), the limit reached under load, head-of-line
 * FIFO for weighted requests, no ghost waiters, capacity agreement, permits
 * returned on lease loss, fences, bad input, metrics, query and events.
 */

import {
  acquireAll,
  createLock,
  createSemaphore,
  LockLostError,
  LockManager,
  LockTimeoutError,
  MAX_PERMITS,
  type Semaphore,
  type SemaphoreLease,
  SemaphoreTimeoutError,
  type SemaphoreType,
  type SemaphoreTypes,
} from "../mod.ts";
import {
  assert,
  assertEquals,
  assertRejects,
  assertThrows,
  delay,
  track,
} from "./_assert.ts";
import {
  type ContractBackend,
  randomName,
  type RegisterTest,
} from "./_contract.ts";

/** Stops this isolate's event loop for `ms` (no timer runs meanwhile). */
function stall(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) { /* a stop-the-world pause */ }
}

/** workerd's clocks stand still while code runs: it cannot stall. */
const canStall = (globalThis as { navigator?: { userAgent?: string } })
  .navigator?.userAgent !== "Cloudflare-Workers";

/** Registers the semaphore contract for `backend` with `test`. */
export function semaphoreContract(
  test: RegisterTest,
  backend: ContractBackend,
): void {
  const { quietMs } = backend;
  const type = backend.type as SemaphoreType;
  const distributed = type !== "local" && type !== ("thread" as string);
  /** Backend options per name: every client of a name shares them. */
  const optionsFor = new Map<string, object>();
  const optionsOf = (name: string): object => {
    let options = optionsFor.get(name);
    if (options === undefined) {
      options = { ...backend.options?.() };
      optionsFor.set(name, options);
    }
    return options;
  };
  /** A client of the semaphore `name`: a new one per call, except local. */
  const clients = new Map<string, Semaphore>();
  const make = (name: string, permits: number): Semaphore => {
    if (type === "local") {
      const key = `${name}\u0000${permits}`;
      let sem = clients.get(key);
      if (sem === undefined) {
        sem = createSemaphore(type, { name, permits });
        clients.set(key, sem);
      }
      return sem;
    }
    return createSemaphore(
      type,
      { ...optionsOf(name), name, permits } as SemaphoreTypes[SemaphoreType],
    );
  };
  const it = (name: string, fn: () => Promise<void>) =>
    test(`[${type} semaphore] ${name}`, fn);

  it("Semaphore.acquire() grants permits at once while they are free, and available() counts them", async () => {
    const name = randomName("sem");
    const sem = make(name, 3);
    assertEquals([sem.name, sem.type, sem.permits], [name, type, 3]);
    assertEquals(await sem.available(), 3);
    const two = await sem.acquire({ permits: 2 });
    assertEquals([two.name, two.mode, two.permits], [name, "shared", 2]);
    assert(Number.isSafeInteger(two.fence) && two.fence > 0, `${two.fence}`);
    assertEquals(two.signal.aborted, false);
    assertEquals(await sem.available(), 1);
    assertEquals(await sem.tryAcquire({ permits: 2 }), undefined);
    const one = await sem.tryAcquire();
    assert(one !== undefined, "a free permit was refused");
    assertEquals(one.permits, 1);
    assert(one.fence > two.fence, "fence did not increase");
    assertEquals(await sem.available(), 0);
    await two.release();
    await two.release(); // idempotent
    assertEquals(await sem.available(), 2);
    await one.release();
    assertEquals(await sem.available(), 3);
  });

  it("Semaphore.withPermits() never lets more than N permits out across clients, and reaches N under load", async () => {
    const name = randomName("sem");
    const capacity = 4;
    let inUse = 0, most = 0, sections = 0;
    const weights = [1, 2, 1, 3, 1, 1, 2, 4, 1, 2, 1, 1, 3, 1, 2, 1];
    // Distributed: a client per task, as separate functions would be.
    const tasks = weights.map((permits, i) =>
      make(name, capacity).withPermits(async (lease) => {
        assertEquals(lease.permits, permits);
        inUse += permits;
        most = Math.max(most, inUse);
        assert(inUse <= capacity, `${inUse} permits out of ${capacity}`);
        await delay(i % 3 === 0 ? quietMs / 4 : 1);
        inUse -= permits;
        sections++;
      }, { permits, timeoutMs: 60_000 })
    );
    await Promise.all(tasks);
    assertEquals(sections, weights.length);
    assert(most <= capacity, `most ${most}`);
    // Single permits, held long enough to pile up: the limit is reached.
    let full = 0;
    inUse = 0;
    await Promise.all(
      Array.from(
        { length: 12 },
        () =>
          make(name, capacity).withPermits(async () => {
            inUse++;
            full = Math.max(full, inUse);
            assert(inUse <= capacity, `${inUse} permits out of ${capacity}`);
            await delay(quietMs);
            inUse--;
          }, { timeoutMs: 60_000 }),
      ),
    );
    assertEquals(full, capacity, "the limit was never reached under load");
    assertEquals(await make(name, capacity).available(), capacity);
  });

  it("Semaphore.acquire() does not let lighter requests pass a heavy one that waits (head-of-line FIFO)", async () => {
    const name = randomName("sem");
    const a = await make(name, 3).acquire();
    const b = await make(name, 3).acquire();
    const order: string[] = [];
    const heavy = track(
      make(name, 3).acquire({ permits: 3 }).then((l) => {
        order.push("heavy");
        return l;
      }),
    );
    await delay(quietMs);
    const light = track(
      make(name, 3).acquire().then((l) => {
        order.push("light");
        return l;
      }),
    );
    await delay(quietMs);
    // One permit is free, but the heavy request is first in line.
    assertEquals([heavy.settled, light.settled], [false, false]);
    assertEquals(await make(name, 3).tryAcquire(), undefined);
    assertEquals(await make(name, 3).available(), 1);
    // Two are free: still not enough for the head, and nobody passes it.
    await a.release();
    await delay(quietMs);
    assertEquals(
      [heavy.settled, light.settled],
      [false, false],
      "a light request passed the heavy one at the head of the line",
    );
    await b.release();
    const h = await heavy.promise;
    await delay(quietMs);
    assertEquals(light.settled, false, "a light request joined a full lease");
    await h.release();
    await (await light.promise).release();
    assertEquals(order, ["heavy", "light"]);
  });

  it("Semaphore.acquire() admits the waiters behind a heavy one at once when it times out or is aborted (no ghost waiter)", async () => {
    for (const how of ["timeout", "abort"] as const) {
      const name = randomName("sem");
      const holder = await make(name, 3).acquire({ permits: 2 });
      const controller = new AbortController();
      const heavy = track(
        make(name, 3).acquire({
          permits: 3,
          ...(how === "timeout"
            ? { timeoutMs: quietMs * 2 + 300 }
            : { signal: controller.signal }),
        }),
      );
      await delay(quietMs);
      const light = track(make(name, 3).acquire({ timeoutMs: 60_000 }));
      await delay(quietMs);
      assertEquals(light.settled, false);
      if (how === "abort") controller.abort(new Error("gone"));
      // The holder keeps its 2 permits: the light one fits beside it.
      const lease = await light.promise;
      // (A remote client hears its own give-up after its cancel is
      // answered, which may be after the grant it let through.)
      await heavy.promise.catch(() => {});
      assert(
        how === "timeout"
          ? heavy.error instanceof LockTimeoutError
          : (heavy.error as Error)?.message === "gone",
        String(heavy.error),
      );
      assertEquals(holder.released, false);
      await lease.release();
      await holder.release();
      assertEquals(await make(name, 3).available(), 3);
    }
  });

  it("Semaphore.acquire() grants consecutive waiters together when a release frees enough", async () => {
    const name = randomName("sem");
    const holder = await make(name, 4).acquire({ permits: 4 });
    const waiters = [1, 2, 1].map((permits) =>
      track(make(name, 4).acquire({ permits }))
    );
    await delay(quietMs);
    assertEquals(waiters.some((w) => w.settled), false);
    await holder.release();
    const leases = await Promise.all(waiters.map((w) => w.promise));
    assertEquals(leases.map((l) => l.permits), [1, 2, 1]);
    assertEquals(leases.every((l) => !l.released), true);
    assertEquals(await make(name, 4).available(), 0);
    await Promise.all(leases.map((l) => l.release()));
  });

  it("Lease.fence strictly increases across a semaphore's grants", async () => {
    const name = randomName("sem");
    const fences: number[] = [];
    for (let i = 0; i < 3; i++) {
      const lease = await make(name, 2).acquire({ permits: 1 + (i % 2) });
      fences.push(lease.fence);
      await lease.release();
    }
    const a = await make(name, 2).acquire();
    const b = await make(name, 2).acquire();
    fences.push(a.fence, b.fence);
    await Promise.all([a.release(), b.release()]);
    const c = await make(name, 2).acquire({ permits: 2 });
    fences.push(c.fence);
    await c.release();
    for (let i = 1; i < fences.length; i++) {
      assert(fences[i]! > fences[i - 1]!, `fences not increasing: ${fences}`);
    }
  });

  {
    it("Semaphore.acquire() serves higher priority first and arrival order within a priority", async () => {
      const name = randomName("sem");
      const holder = await make(name, 2).acquire({ permits: 2 });
      const order: string[] = [];
      const done: Promise<void>[] = [];
      for (
        const [label, priority] of [["a", 0], ["b", 5], ["c", 0], ["d", 5]] as [
          string,
          number,
        ][]
      ) {
        done.push(
          make(name, 2).acquire({ permits: 2, priority }).then(async (l) => {
            order.push(label);
            await delay(1);
            await l.release();
          }),
        );
        await delay(quietMs);
      }
      assertEquals(order, []);
      await holder.release();
      await Promise.all(done);
      assertEquals(order, ["b", "d", "a", "c"]);
    });
  }

  it("Semaphore.acquire() rejects with the caller's abort reason itself when it is a LockTimeoutError", async () => {
    const name = randomName("sem");
    const holder = await make(name, 1).acquire();
    class Elsewhere extends LockTimeoutError {
      readonly extra = 42;
    }
    const reasons = [
      new LockTimeoutError("elsewhere", 3),
      new SemaphoreTimeoutError("elsewhere", 3),
      new Elsewhere("elsewhere", 3),
    ];
    for (const reason of reasons) {
      const what = reason.constructor.name;
      const before = await make(name, 1)
        .acquire({ signal: AbortSignal.abort(reason) })
        .catch((e) => e);
      assert(before === reason, `aborted before, ${what}: ${before}`);
      // Aborted while waiting, with a deadline still ahead, through
      // acquire, withPermits and acquireAll (which reports its whole budget
      // for a timeout of its own, not for the caller's reason).
      const waits: [string, (signal: AbortSignal) => Promise<unknown>][] = [
        [
          "acquire",
          (signal) => make(name, 1).acquire({ signal, timeoutMs: 10_000 }),
        ],
        [
          "withPermits",
          (signal) =>
            make(name, 1).withPermits(() => 1, { signal, timeoutMs: 10_000 }),
        ],
        [
          "acquireAll",
          (signal) =>
            acquireAll([make(name, 1)], { signal, timeoutMs: 10_000 }),
        ],
      ];
      for (const [method, wait] of waits) {
        const controller = new AbortController();
        const waiting = wait(controller.signal).catch((e) => e);
        await delay(quietMs);
        controller.abort(reason);
        const error = await waiting;
        assert(error === reason, `${method}, ${what}: ${error}`);
      }
    }
    await holder.release();
    const after = await make(name, 1).tryAcquire();
    assert(after !== undefined, "a permit is free once the holder left");
    await after.release();
  });

  it("Semaphore.acquire() times out, honours timeoutMs 0 and signal, and leaves nothing queued", async () => {
    const name = randomName("sem");
    const sem = make(name, 2);
    const holder = await sem.acquire({ permits: 2 });
    // A waiter's timeout and one at once both name the semaphore as one.
    const error = await assertRejects(
      make(name, 2).acquire({ timeoutMs: 20 }),
      LockTimeoutError,
      [`Cannot acquire semaphore "${name}": timed out after 20ms`],
    );
    assertEquals(error.name, "TimeoutError");
    assert(error instanceof SemaphoreTimeoutError);
    const atOnce = await assertRejects(
      make(name, 2).acquire({ timeoutMs: 0 }),
      LockTimeoutError,
      [`Cannot acquire semaphore "${name}": timed out after 0ms`],
    );
    assert(atOnce instanceof SemaphoreTimeoutError);
    const reason = new Error("stop");
    await assertRejects(
      make(name, 2).acquire({ signal: AbortSignal.abort(reason) }),
    ).then((e) => assertEquals(e, reason));
    const controller = new AbortController();
    const aborted = track(make(name, 2).acquire({ signal: controller.signal }));
    await delay(quietMs);
    controller.abort(reason);
    await assertRejects(aborted.promise);
    assertEquals(aborted.error, reason);
    assertEquals((await sem.query()).pending, []);
    await holder.release();
    const all = await make(name, 2).tryAcquire({ permits: 2 });
    assert(all !== undefined, "a waiter that gave up still holds a place");
    await all.release();
  });

  it("createSemaphore() and Semaphore.acquire() reject bad permits naming the option and value, and nothing changes on the backend", async () => {
    const name = randomName("sem");
    const create = (permits: unknown) => () =>
      createSemaphore(
        type,
        { ...optionsOf(name), name, permits } as SemaphoreTypes[SemaphoreType],
      );
    assertThrows(create(undefined), TypeError, ["'permits'", "required"]);
    assertThrows(create("3"), TypeError, ["'permits'", '"3"']);
    for (const bad of [0, -1, 1.5, Number.NaN, Infinity, MAX_PERMITS + 1]) {
      assertThrows(create(bad), RangeError, ["'permits'", String(bad)]);
    }
    assertThrows(
      () =>
        createSemaphore(
          type,
          { ...optionsOf(name), name, permits: 2, permit: 2 } as never,
        ),
      TypeError,
      [`'permit' is not an option of ${type} semaphores`, "'permits'"],
    );
    const sem = make(name, 3);
    const cases: [unknown, new (m?: string) => Error, string[]][] = [
      [{ permits: 0 }, RangeError, ["'permits'", "0", "1 to 3"]],
      [{ permits: 4 }, RangeError, ["'permits'", "4", "capacity"]],
      [{ permits: 1.5 }, RangeError, ["'permits'", "1.5"]],
      [{ permits: "2" }, TypeError, ["'permits'", '"2"']],
      [{ timeoutMs: -1 }, RangeError, ["'timeoutMs'", "-1"]],
      [{ priority: 101 }, RangeError, ["'priority'", "101"]],
      ["fast", TypeError, ["'options'", '"fast"']],
    ];
    for (const [options, ErrorClass, includes] of cases) {
      await assertRejects(
        () => sem.acquire(options as never),
        ErrorClass,
        includes,
      );
      await assertRejects(
        () => sem.tryAcquire(options as never),
        ErrorClass,
        includes,
      );
      await assertRejects(
        () => sem.withPermits(() => 1, options as never),
        ErrorClass,
        includes,
      );
    }
    await assertRejects(() => sem.withPermits("no" as never), TypeError, [
      "'fn'",
    ]);
    assertEquals(await sem.query(), { held: [], pending: [] });
    assertEquals(await sem.available(), 3);
  });

  if (distributed) {
    it("Semaphore.acquire() refuses a client whose capacity disagrees with the name's holders, and a lock of the same name; an idle name takes a new capacity", async () => {
      const name = randomName("sem");
      const three = make(name, 3);
      const five = make(name, 5);
      const lease = await three.acquire();
      for (
        const call of [
          () => five.acquire(),
          () => five.tryAcquire(),
          () => five.available(),
        ]
      ) {
        await assertRejects(call, RangeError, ["'permits'", "5", "3", name]);
      }
      const lock = createLock(type, { ...optionsOf(name), name } as never);
      await assertRejects(() => lock.acquire(), TypeError, ["semaphore", "3"]);
      // Nothing was queued or granted by the refused requests.
      const { held, pending } = await three.query();
      assertEquals([held.length, pending.length], [1, 0]);
      assertEquals(await three.available(), 2);
      await lease.release();
      // Idle: the next request's capacity stands, and the old one is refused.
      const big = await five.acquire({ permits: 5 });
      await assertRejects(() => three.acquire(), RangeError, [
        "'permits'",
        "3",
        "5",
      ]);
      await big.release();
      const held2 = await lock.acquire();
      await assertRejects(() => three.acquire(), TypeError, ["lock"]);
      await held2.release();
    });
  }

  // A thread semaphore's lease ends by the shared clock too, whoever looks.
  if ((distributed || type === ("thread" as string)) && canStall) {
    it("Semaphore permits return when a lease is lost, and its signal says so", async () => {
      const name = randomName("sem");
      const lease = await make(name, 3).acquire({ permits: 3, leaseMs: 300 });
      // No renewal can run while the event loop is stopped: the server's
      // lease ends, and its permits with it.
      stall(800);
      const other = await make(name, 3).acquire({
        permits: 3,
        timeoutMs: 10_000,
      });
      assert(other.fence > lease.fence);
      for (let i = 0; i < 100 && !lease.signal.aborted; i++) await delay(20);
      assert(
        lease.signal.reason instanceof LockLostError,
        String(lease.signal.reason),
      );
      await lease.release();
      assertEquals(
        await make(name, 3).available(),
        0,
        "a lost lease freed someone else's permits",
      );
      await other.release();
      assertEquals(await make(name, 3).available(), 3);
    });
  }

  it("Semaphore.query() lists holders and waiters with their permits; metrics() and subscribe() count and report them", async () => {
    const name = randomName("sem");
    const sem = make(name, 3);
    const events: string[] = [];
    const unsubscribe = sem.subscribe((e) =>
      events.push(`${e.owner} ${e.type} ${e.mode}`)
    );
    const zero = sem.metrics();
    assertEquals([zero.acquisitions, zero.holders, zero.waiters], [0, 0, 0]);
    const a = await sem.acquire({ permits: 2, owner: "a" });
    const b = track(sem.acquire({ permits: 2, owner: "b" }));
    await delay(quietMs);
    const c = track(make(name, 3).acquire({ permits: 1, owner: "c" }));
    // Another client's first call may take a while on a loaded machine.
    let snapshot = await sem.query();
    for (let i = 0; i < 100 && snapshot.pending.length < 2; i++) {
      await delay(quietMs);
      snapshot = await sem.query();
    }
    const { held, pending } = snapshot;
    assertEquals(
      held.map((h) => [h.name, h.owner, h.permits, h.fence]),
      [[name, "a", 2, a.fence]],
    );
    assertEquals(
      pending.map((p) => [p.owner, p.permits, p.fence]),
      [["b", 2, undefined], ["c", 1, undefined]],
    );
    // (A local semaphore's other client is the same object.)
    const during = sem.metrics();
    assertEquals([during.holders, during.waiters], [1, distributed ? 1 : 2]);
    await a.release();
    const [bl, cl] = [await b.promise, await c.promise];
    await bl.release();
    await cl.release();
    const m = sem.metrics();
    assertEquals(
      [m.acquisitions, m.contended, m.holders, m.waiters],
      distributed ? [2, 1, 0, 0] : [3, 2, 0, 0],
    );
    unsubscribe();
    assertEquals(events.filter((e) => e.startsWith("a ")), [
      "a acquire shared",
      "a grant shared",
      "a release shared",
    ]);
    assertEquals(events.filter((e) => e.startsWith("b ")), [
      "b acquire shared",
      "b wait shared",
      "b grant shared",
      "b release shared",
    ]);
    assertEquals(await sem.query(), { held: [], pending: [] });
  });

  it("acquireAll() takes permits of semaphores with locks, all or nothing", async () => {
    const name = randomName("sem");
    const sem = make(name, 2);
    // A thread semaphore's table is not a thread lock's option.
    const lock = createLock(type, {
      ...(type === ("thread" as string) ? {} : backend.options?.()),
      name: randomName(),
    } as never);
    const group = await acquireAll([lock, { semaphore: sem, permits: 2 }]);
    assertEquals(
      [group.leases[0]!.mode, (group.leases[1] as SemaphoreLease).permits],
      ["exclusive", 2],
    );
    assertEquals(await sem.available(), 0);
    await group.release();
    assertEquals(await sem.available(), 2);
    // A bare semaphore takes one permit; a full one times out and nothing
    // stays held.
    const blocker = await make(name, 2).acquire({ permits: 2 });
    const timedOut = await assertRejects(
      acquireAll([sem, lock], { timeoutMs: quietMs * 2 }),
      LockTimeoutError,
      [`Cannot acquire semaphore "${name}": timed out after ${quietMs * 2}ms`],
    );
    assert(timedOut instanceof SemaphoreTimeoutError);
    assertEquals(await lock.isLocked(), false);
    await blocker.release();
    const one = await acquireAll([sem]);
    assertEquals((one.leases[0] as SemaphoreLease).permits, 1);
    await one.release();
    await assertRejects(
      acquireAll([lock, { semaphore: sem, permits: 3 }]),
      RangeError,
      ["'locks[1].permits'", "3"],
    );
    assertEquals(await lock.isLocked(), false);
  });

  if (type === "local") {
    it("LockManager.getOrCreateSemaphore() keeps one semaphore per id beside the locks", async () => {
      const manager = new LockManager();
      const sem = manager.getOrCreateSemaphore("api", "local", { permits: 2 });
      assert(manager.getOrCreateSemaphore("api") === sem);
      assert(
        manager.getOrCreateSemaphore("api", "local", { permits: 2 }) === sem,
      );
      assertThrows(
        () => manager.getOrCreateSemaphore("api", "local", { permits: 3 }),
        RangeError,
        ["'permits'", "3", "2"],
      );
      assertThrows(() => manager.getOrCreateLock("api"), TypeError, [
        "semaphore",
      ]);
      manager.getOrCreateLock("db");
      assertThrows(
        () => manager.getOrCreateSemaphore("db", "local", { permits: 1 }),
        TypeError,
        ["lock"],
      );
      assertThrows(
        () => manager.getOrCreateSemaphore("new"),
        TypeError,
        ["'permits'"],
      );
      assertEquals(manager.listLocks(), { api: "local", db: "local" });
      manager.metrics();
      const lease = await sem.acquire({ permits: 2, owner: "w" });
      const { held } = await manager.query();
      assertEquals(held.map((h) => [h.name, h.permits]), [["api", 2]]);
      assertEquals(manager.metrics().holders, 1);
      await lease.release();
    });
  }
}
