// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal The lock contract, written once and run against every backend on
 * every runtime (async-mutex's suite-factory idea). A backend plugs in with a
 * {@linkcode ContractBackend}; a runtime plugs in with its `test` function.
 */

import {
  acquireAll,
  type AcquireOptions,
  createLock,
  type Lock,
  LockError,
  type LockEvent,
  LockLostError,
  LockReleasedError,
  LockTimeoutError,
  type LockType,
  type LockTypes,
  SemaphoreTimeoutError,
  type ThreadLock,
} from "../mod.ts";
import {
  assert,
  assertEquals,
  assertRejects,
  assertThrows,
  delay,
  settlesWithin,
  track,
} from "./_assert.ts";

/** Registers one test with the runtime's runner. */
export type RegisterTest = (
  name: string,
  fn: () => Promise<void>,
) => void;

/** The options of some lock type. */
export type AnyLockOptions = LockTypes[LockType];

/** How the contract reaches one backend. */
export interface ContractBackend {
  /** The lock type, as given to `createLock`. */
  readonly type: LockType;
  /** Options every lock of this backend needs besides `name`. */
  readonly options?: () => AnyLockOptions;
  /**
   * Long enough for an operation that could complete to have completed:
   * how long the suite watches a promise before it calls it "still waiting".
   */
  readonly quietMs: number;
  /** False for a lock type that cannot `steal` (it must refuse it). */
  readonly steal?: false;
}

/** A name no other test (or earlier run against a shared backend) uses. */
export function randomName<P extends string = "contract">(
  prefix: P = "contract" as P,
): `${P}-${string}` {
  return `${prefix}-${crypto.randomUUID()}`;
}

/** Registers the whole contract for `backend` with `test`. */
export function lockContract(
  test: RegisterTest,
  backend: ContractBackend,
): void {
  const { type, quietMs } = backend;
  const optionsOf = new WeakMap<Lock, AnyLockOptions>();
  const make = (name: string = randomName()): Lock => {
    const options = { ...backend.options?.(), name };
    const lock = createLock(type, options);
    optionsOf.set(lock, options);
    return lock;
  };
  // Another client of the same lock: another handle of a thread lock, another
  // client object of a distributed one; a local lock has no other client.
  const otherClient = (lock: Lock): Lock =>
    type === "local"
      ? lock
      : type === "thread"
      ? createLock("thread", { handle: (lock as ThreadLock).handle })
      : createLock(type, optionsOf.get(lock));
  const it = (name: string, fn: () => Promise<void>) =>
    test(`[${type}] ${name}`, fn);

  it("Lock.acquire() grants at once when the lock is free", async () => {
    const name = randomName();
    const lock = make(name);
    assertEquals(lock.name, name);
    assertEquals(lock.type, type);
    assertEquals(await lock.isLocked(), false);
    const lease = await lock.acquire();
    assertEquals(lease.name, name);
    assertEquals(lease.mode, "exclusive");
    assertEquals(lease.released, false);
    assert(
      Number.isSafeInteger(lease.fence) && lease.fence > 0,
      `fence ${lease.fence}`,
    );
    assertEquals(lease.signal.aborted, false);
    assertEquals(await lock.isLocked(), true);
    await lease.release();
    assertEquals(lease.released, true);
    assertEquals(await lock.isLocked(), false);
  });

  it("Lock.acquire() waits while the lock is held and is granted on release", async () => {
    const lock = make();
    const first = await lock.acquire();
    const second = track(lock.acquire());
    await delay(quietMs);
    assertEquals(second.settled, false, "second acquire settled while held");
    await first.release();
    const lease = await second.promise;
    assert(lease.fence > first.fence, "fence did not increase on handoff");
    await lease.release();
  });

  it("Lock.acquire() grants waiters in FIFO order", async () => {
    const lock = make();
    const holder = await lock.acquire();
    const order: number[] = [];
    const waiters = [0, 1, 2, 3, 4].map(async (i) => {
      const lease = await lock.acquire();
      order.push(i);
      await delay(1);
      await lease.release();
    });
    // Let every acquire reach the queue, in order, before the first grant.
    await delay(quietMs);
    await holder.release();
    await Promise.all(waiters);
    assertEquals(order, [0, 1, 2, 3, 4]);
  });

  it("Lock.withLock() never lets two critical sections overlap", async () => {
    const lock = make();
    let inside = 0, maxInside = 0, counter = 0;
    await Promise.all(
      Array.from({ length: 25 }, () =>
        lock.withLock(async () => {
          inside++;
          maxInside = Math.max(maxInside, inside);
          const read = counter;
          await delay(0);
          counter = read + 1;
          inside--;
        })),
    );
    assertEquals(maxInside, 1, "overlapping critical sections");
    assertEquals(counter, 25, "lost updates");
  });

  it("Lease.fence strictly increases across grants in both modes", async () => {
    const lock = make();
    const fences: number[] = [];
    for (let i = 0; i < 3; i++) {
      const lease = await lock.acquire();
      fences.push(lease.fence);
      await lease.release();
    }
    const a = await lock.acquire({ mode: "shared" });
    const b = await lock.acquire({ mode: "shared" });
    fences.push(a.fence, b.fence);
    await a.release();
    await b.release();
    await Promise.all(
      [0, 1, 2].map(() =>
        lock.withLock((lease) => void fences.push(lease.fence))
      ),
    );
    for (let i = 1; i < fences.length; i++) {
      assert(fences[i]! > fences[i - 1]!, `fences not increasing: ${fences}`);
    }
  });

  it("Lock.tryAcquire() resolves undefined when the lock is held", async () => {
    const lock = make();
    const lease = await lock.tryAcquire();
    assert(lease !== undefined, "tryAcquire on a free lock failed");
    assertEquals(await lock.tryAcquire(), undefined);
    assertEquals(await lock.tryAcquire({ mode: "shared" }), undefined);
    await lease.release();
    const again = await lock.tryAcquire();
    assert(again !== undefined, "tryAcquire after release failed");
    assert(again.fence > lease.fence);
    await again.release();
  });

  it("Lock.tryAcquire() does not pass a queued writer when shared holders hold the lock", async () => {
    const lock = make();
    const reader = await lock.acquire({ mode: "shared" });
    const writer = track(lock.acquire());
    await delay(quietMs);
    assertEquals(await lock.tryAcquire({ mode: "shared" }), undefined);
    await reader.release();
    await (await writer.promise).release();
  });

  it("Lock.acquire() admits many shared holders at once", async () => {
    const lock = make();
    const leases = await Promise.all(
      [0, 1, 2, 3].map(() => lock.acquire({ mode: "shared" })),
    );
    assertEquals(new Set(leases.map((l) => l.fence)).size, 4);
    for (const lease of leases) assertEquals(lease.mode, "shared");
    assertEquals(await lock.isLocked(), true);
    const exclusive = track(lock.acquire());
    await delay(quietMs);
    assertEquals(exclusive.settled, false, "exclusive granted beside readers");
    for (const lease of leases.slice(0, 3)) await lease.release();
    await delay(quietMs);
    assertEquals(exclusive.settled, false, "exclusive granted beside a reader");
    await leases[3]!.release();
    await (await exclusive.promise).release();
  });

  it("Lock.acquire() does not starve a waiting writer when readers keep arriving", async () => {
    const lock = make();
    const first = await lock.acquire({ mode: "shared" });
    const order: string[] = [];
    const writer = lock.acquire().then(async (lease) => {
      order.push("writer");
      await lease.release();
    });
    await delay(quietMs);
    const late = lock.acquire({ mode: "shared" }).then(async (lease) => {
      order.push("late reader");
      await lease.release();
    });
    await delay(quietMs);
    assertEquals(order, [], "a late reader passed the waiting writer");
    await first.release();
    await Promise.all([writer, late]);
    assertEquals(order, ["writer", "late reader"]);
  });

  it("Lock.acquire() grants consecutive shared waiters together after a writer", async () => {
    const lock = make();
    const writer = await lock.acquire();
    const readers = [0, 1, 2].map(() =>
      track(lock.acquire({ mode: "shared" }))
    );
    await delay(quietMs);
    await writer.release();
    const leases = await Promise.all(readers.map((r) => r.promise));
    // All three hold at once: none was released before the others came.
    assertEquals(leases.every((l) => !l.released), true);
    await Promise.all(leases.map((l) => l.release()));
    assertEquals(await lock.isLocked(), false);
  });

  it("Lock.acquire() rejects with LockTimeoutError when timeoutMs passes", async () => {
    const lock = make();
    const holder = await lock.acquire();
    const error = await assertRejects(
      lock.acquire({ timeoutMs: 20 }),
      LockTimeoutError,
      [lock.name, "20ms"],
    );
    assertEquals(error.name, "TimeoutError");
    assert(error instanceof LockError);
    assertEquals((error as LockTimeoutError).timeoutMs, 20);
    assertEquals((error as LockTimeoutError).lockName, lock.name);
    assert(!(error instanceof SemaphoreTimeoutError));
    await holder.release();
  });

  it("Lock.acquire() rejects at once when timeoutMs is 0 and the lock is held", async () => {
    const lock = make();
    const holder = await lock.acquire();
    await assertRejects(lock.acquire({ timeoutMs: 0 }), LockTimeoutError);
    await holder.release();
    const lease = await lock.acquire({ timeoutMs: 0 });
    await lease.release();
  });

  it("Lock.acquire() resolves normally when granted before timeoutMs", async () => {
    const lock = make();
    const holder = await lock.acquire();
    const waiting = lock.acquire({ timeoutMs: 60_000 });
    await delay(quietMs);
    await holder.release();
    const lease = await waiting;
    await lease.release();
  });

  it("Lock.acquire() leaves no ghost waiter behind when it times out", async () => {
    const lock = make();
    const holder = await lock.acquire();
    await Promise.all([
      assertRejects(lock.acquire({ timeoutMs: 5 }), LockTimeoutError),
      assertRejects(lock.acquire({ timeoutMs: 10 }), LockTimeoutError),
    ]);
    await holder.release();
    const lease = await lock.tryAcquire();
    assert(lease !== undefined, "a timed-out waiter took the lock");
    await lease.release();
  });

  it("Lock.acquire() rejects with signal.reason when the signal is already aborted", async () => {
    const lock = make();
    const reason = new Error("stop");
    await assertRejects(
      lock.acquire({ signal: AbortSignal.abort(reason) }),
    ).then((error) => assertEquals(error, reason));
    assertEquals(
      await lock.isLocked(),
      false,
      "an aborted acquire took the lock",
    );
    const lease = await lock.tryAcquire();
    assert(lease !== undefined);
    await lease.release();
  });

  it("Lock.acquire() rejects with signal.reason and leaves the queue when aborted while waiting", async () => {
    const lock = make();
    const holder = await lock.acquire();
    const controller = new AbortController();
    const waiting = track(lock.acquire({ signal: controller.signal }));
    const behind = track(lock.acquire());
    await delay(quietMs);
    controller.abort(new Error("user left"));
    assert(
      await settlesWithin(waiting, 5_000),
      "the aborted acquisition did not settle",
    );
    assertEquals((waiting.error as Error)?.message, "user left");
    assertEquals(behind.settled, false);
    await holder.release();
    const lease = await behind.promise;
    assert(lease.fence > holder.fence);
    await lease.release();
    assertEquals(await lock.isLocked(), false);
  });

  it("Lock.acquire() composes AbortSignal.timeout() as a deadline", async () => {
    const lock = make();
    const holder = await lock.acquire();
    const error = await assertRejects(
      lock.acquire({ signal: AbortSignal.timeout(10) }),
    );
    assertEquals(error.name, "TimeoutError");
    await holder.release();
  });

  it("Lock.acquire() keeps the lease when the signal aborts after the grant", async () => {
    const lock = make();
    const controller = new AbortController();
    const lease = await lock.acquire({ signal: controller.signal });
    controller.abort();
    await delay(quietMs);
    assertEquals(lease.released, false);
    assertEquals(await lock.isLocked(), true);
    await lease.release();
    assertEquals(await lock.isLocked(), false);
  });

  it("Lock.acquire() has exactly one outcome when a grant races an abort", async () => {
    for (const abortFirst of [false, true]) {
      const lock = make();
      const holder = await lock.acquire();
      const controller = new AbortController();
      const waiting = track(lock.acquire({ signal: controller.signal }));
      await delay(quietMs);
      if (abortFirst) controller.abort();
      await holder.release();
      if (!abortFirst) controller.abort();
      assert(
        await settlesWithin(waiting, 5_000),
        "the acquisition settled neither way",
      );
      const granted = waiting.value !== undefined;
      const rejected = waiting.error !== undefined;
      assert(granted !== rejected, "both or neither outcome");
      if (granted) await waiting.value!.release();
      const lease = await lock.tryAcquire();
      assert(lease !== undefined, "the lock is stuck after the race");
      await lease.release();
    }
  });

  it("Lease.release() is idempotent and never releases a later holder", async () => {
    const lock = make();
    const first = await lock.acquire();
    await first.release();
    const second = await lock.acquire();
    await first.release();
    await first[Symbol.asyncDispose]();
    assertEquals(await lock.isLocked(), true);
    assertEquals(await lock.tryAcquire(), undefined);
    await second.release();
    assertEquals(await lock.isLocked(), false);
  });

  it("Lease[Symbol.asyncDispose]() releases the lock at the end of an await using block", async () => {
    const lock = make();
    let fence = 0;
    {
      await using lease = await lock.acquire();
      fence = lease.fence;
      assertEquals(await lock.isLocked(), true);
    }
    assertEquals(await lock.isLocked(), false);
    try {
      await using _lease = await lock.acquire();
      throw new Error("boom");
    } catch (error) {
      assertEquals((error as Error).message, "boom");
    }
    assertEquals(await lock.isLocked(), false);
    const next = await lock.acquire();
    assert(next.fence > fence);
    await next.release();
  });

  it("Lease.extend() resolves while held and rejects with LockReleasedError after release", async () => {
    const lock = make();
    const lease = await lock.acquire({ leaseMs: 30_000 });
    await lease.extend();
    await lease.extend(30_000);
    await assertRejects(lease.extend(0), RangeError, ["'leaseMs'", "0"]);
    await assertRejects(lease.extend(Number.NaN), RangeError, [
      "'leaseMs'",
      "NaN",
    ]);
    assertEquals(lease.released, false);
    await lease.release();
    await assertRejects(lease.extend(), LockReleasedError, [lock.name]);
  });

  it("Lock.withLock() returns the result of fn and passes it the lease", async () => {
    const lock = make();
    const result = await lock.withLock((lease) => {
      assertEquals(lease.name, lock.name);
      assertEquals(lease.released, false);
      return 42;
    });
    assertEquals(result, 42);
    assertEquals(
      await lock.withLock(() => Promise.resolve("async")),
      "async",
    );
    assertEquals(await lock.isLocked(), false);
  });

  it("Lock.withLock() releases the lock when fn throws or rejects", async () => {
    const lock = make();
    await assertRejects(
      lock.withLock(() => {
        throw new Error("sync failure");
      }),
      Error,
      ["sync failure"],
    );
    assertEquals(await lock.isLocked(), false);
    await assertRejects(
      lock.withLock(async () => {
        await delay(1);
        throw new Error("async failure");
      }),
      Error,
      ["async failure"],
    );
    assertEquals(await lock.isLocked(), false);
    assertEquals(await lock.withLock(() => "usable"), "usable");
  });

  it("Lock.withLock() honours timeoutMs and mode", async () => {
    const lock = make();
    const holder = await lock.acquire();
    await assertRejects(
      lock.withLock(() => 1, { timeoutMs: 5 }),
      LockTimeoutError,
    );
    await holder.release();
    const modes = await Promise.all([
      lock.withLock((l) => l.mode, { mode: "shared" }),
      lock.withLock((l) => l.mode, { mode: "shared" }),
    ]);
    assertEquals(modes, ["shared", "shared"]);
  });

  it("Lock.acquire() serves the survivors in order when many waiters are cancelled", async () => {
    const lock = make();
    const holder = await lock.acquire();
    const count = 200;
    const controllers = Array.from(
      { length: count },
      () => new AbortController(),
    );
    const granted: number[] = [];
    const outcomes = controllers.map((c, i) =>
      lock.acquire({ signal: c.signal }).then(
        async (lease) => {
          granted.push(i);
          await lease.release();
        },
        () => undefined,
      )
    );
    await delay(quietMs);
    // A fixed pattern, not Math.random, so a failure replays.
    const cancelled = new Set<number>();
    for (let i = 0; i < count; i++) {
      if ((i * 7919) % 3 !== 0) {
        cancelled.add(i);
        controllers[i]!.abort();
      }
    }
    await holder.release();
    await Promise.all(outcomes);
    const expected = Array.from({ length: count }, (_, i) => i).filter((i) =>
      !cancelled.has(i)
    );
    assertEquals(granted, expected);
    assertEquals(await lock.isLocked(), false);
  });

  it("createLock() rejects a bad name with an error naming 'name' and the value", () => {
    assertThrows(() => make(""), RangeError, ["'name'", '""']);
    assertThrows(() => make("x".repeat(513)), RangeError, ["'name'", "513"]);
    assertThrows(() => make(42 as unknown as string), TypeError, [
      "'name'",
      "42",
    ]);
    return Promise.resolve();
  });

  it("Lock.acquire() rejects bad options with an error naming the option and value, and the lock stays usable", async () => {
    const lock = make();
    const cases: [unknown, new (m?: string) => Error, string[]][] = [
      [{ timeoutMs: -1 }, RangeError, ["'timeoutMs'", "-1"]],
      [{ timeoutMs: Number.NaN }, RangeError, ["'timeoutMs'", "NaN"]],
      [{ timeoutMs: Infinity }, RangeError, ["'timeoutMs'", "Infinity"]],
      [{ timeoutMs: "5" }, TypeError, ["'timeoutMs'", '"5"']],
      [{ leaseMs: 0 }, RangeError, ["'leaseMs'", "0"]],
      [{ leaseMs: -5 }, RangeError, ["'leaseMs'", "-5"]],
      [{ leaseMs: Infinity }, RangeError, ["'leaseMs'", "Infinity"]],
      [{ mode: "both" }, TypeError, ["'mode'", '"both"']],
      [{ signal: {} }, TypeError, ["'signal'"]],
      [{ owner: "" }, RangeError, ["'owner'", '""']],
      [{ owner: "x".repeat(257) }, RangeError, ["'owner'", "257"]],
      [{ owner: 7 }, TypeError, ["'owner'", "7"]],
      ["fast", TypeError, ["'options'", '"fast"']],
      [null, TypeError, ["'options'", "null"]],
    ];
    for (const [options, ErrorClass, includes] of cases) {
      await assertRejects(
        () => lock.acquire(options as never),
        ErrorClass,
        includes,
      );
      await assertRejects(
        () => lock.tryAcquire(options as never),
        ErrorClass,
        includes,
      );
      await assertRejects(
        () => lock.withLock(() => 1, options as never),
        ErrorClass,
        includes,
      );
    }
    await assertRejects(
      () => lock.withLock("not a function" as never),
      TypeError,
      ["'fn'"],
    );
    assertEquals(await lock.isLocked(), false);
    const lease = await lock.acquire();
    assertEquals(await lock.tryAcquire(), undefined);
    await lease.release();
  });

  // Priorities. A durable-object client queues one acquisition at a time, so
  // waiters that must queue side by side use a client each; the others share
  // one lock object (a local lock is only shared that way).
  const peer = (lock: Lock): Lock =>
    type === "durable-object" ? make(lock.name) : lock;
  // Queues `fn`'s acquisitions one after another, each in the queue before
  // the next arrives, recording grant order by label.
  const queueInOrder = async (
    lock: Lock,
    waiters: [string, AcquireOptions][],
    order: string[],
  ): Promise<Promise<void>[]> => {
    const done: Promise<void>[] = [];
    for (const [label, options] of waiters) {
      done.push(
        peer(lock).acquire(options).then(async (lease) => {
          order.push(label);
          await delay(1);
          await lease.release();
        }, (error) => {
          order.push(`${label}: ${(error as Error).name}`);
        }),
      );
      await delay(quietMs);
    }
    return done;
  };

  it("Lock.acquire() serves higher priority first and arrival order within a priority", async () => {
    const lock = make();
    const holder = await lock.acquire();
    const order: string[] = [];
    const done = await queueInOrder(lock, [
      ["a", {}],
      ["b", { priority: 5 }],
      ["c", { priority: 0 }],
      ["d", { priority: 5 }],
      ["e", { priority: -3 }],
    ], order);
    assertEquals(order, [], "granted while held");
    await holder.release();
    await Promise.all(done);
    assertEquals(order, ["b", "d", "a", "c", "e"]);
    assertEquals(await lock.isLocked(), false);
  });

  it("Lock.acquire() lets at most 10 later arrivals per priority step pass a waiter", async () => {
    const lock = make();
    const holder = await lock.acquire();
    const order: string[] = [];
    // The queue is ordered by ticket - priority * 10: "low" (ticket 1) is
    // passed by priority-1 arrivals with tickets 2 to 10, and no later one.
    const done = await queueInOrder(lock, [
      ["low", { priority: 0 }],
      ...Array.from(
        { length: 12 },
        (_, i) => [`h${i + 2}`, { priority: 1 }] as [string, AcquireOptions],
      ),
    ], order);
    await holder.release();
    await Promise.all(done);
    assertEquals(order, [
      ...Array.from({ length: 9 }, (_, i) => `h${i + 2}`),
      "low",
      "h11",
      "h12",
      "h13",
    ]);
  });

  it("Lock.acquire() with a priority leaves the queue on timeout and abort without disturbing the order", async () => {
    const lock = make();
    const holder = await lock.acquire();
    const order: string[] = [];
    const controller = new AbortController();
    const done = await queueInOrder(lock, [
      ["a", {}],
      ["b", { priority: 9, timeoutMs: quietMs }],
      ["c", { priority: 5, signal: controller.signal }],
      ["d", { priority: 5 }],
    ], order);
    controller.abort(new Error("stop"));
    for (let i = 0; i < 100 && order.length < 2; i++) await delay(quietMs);
    assertEquals([...order].sort(), ["b: TimeoutError", "c: Error"]);
    await holder.release();
    await Promise.all(done);
    assertEquals(order.slice(2), ["d", "a"]);
    assertEquals(await lock.isLocked(), false);
  });

  it("Lock.acquire() lets a higher-priority shared waiter join shared holders ahead of a queued writer", async () => {
    const lock = make();
    const reader = await lock.acquire({ mode: "shared" });
    const order: string[] = [];
    const done = await queueInOrder(lock, [
      ["writer", {}],
      ["urgent reader", { mode: "shared", priority: 1 }],
      ["late reader", { mode: "shared" }],
    ], order);
    // The urgent reader went first in line, beside the current reader (on a
    // loaded machine its grant may take a few round trips to arrive).
    for (let i = 0; i < 100 && order.length === 0; i++) await delay(quietMs);
    assertEquals(order, ["urgent reader"]);
    await reader.release();
    await Promise.all(done);
    assertEquals(order, ["urgent reader", "writer", "late reader"]);
  });

  it("Lock.acquire() rejects a bad priority with an error naming 'priority' and the value", async () => {
    const lock = make();
    const cases: [unknown, new (m?: string) => Error, string[]][] = [
      [1.5, RangeError, ["'priority'", "1.5"]],
      [101, RangeError, ["'priority'", "101"]],
      [-101, RangeError, ["'priority'", "-101"]],
      [Number.NaN, RangeError, ["'priority'", "NaN"]],
      ["1", TypeError, ["'priority'", '"1"']],
    ];
    for (const [priority, ErrorClass, includes] of cases) {
      await assertRejects(
        () => lock.acquire({ priority } as never),
        ErrorClass,
        includes,
      );
      await assertRejects(
        () => lock.tryAcquire({ priority } as never),
        ErrorClass,
        includes,
      );
    }
    const lease = await lock.acquire({ priority: 100 });
    await lease.release();
    assertEquals(await lock.isLocked(), false);
  });

  // Three new locks, in canonical (name) order.
  const byName = (): [Lock, Lock, Lock] => {
    const [a, b, c] = [make(), make(), make()].sort((p, q) =>
      p.name < q.name ? -1 : 1
    );
    return [a!, b!, c!];
  };

  it("acquireAll() lets two callers take the same locks in opposite orders without deadlock", async () => {
    const [x, y, z] = [make(), make(), make()];
    let inside = 0, maxInside = 0;
    const worker = async (locks: Lock[]) => {
      for (let i = 0; i < 3; i++) {
        await using group = await acquireAll(locks, { timeoutMs: 10_000 });
        assertEquals(group.leases.map((l) => l.name), locks.map((l) => l.name));
        maxInside = Math.max(maxInside, ++inside);
        await delay(1);
        inside--;
      }
    };
    await Promise.all([
      worker([x, y, z]),
      worker([z, y, x]),
      worker([y, x, z]),
    ]);
    assertEquals(maxInside, 1);
    for (const lock of [x, y, z]) assertEquals(await lock.isLocked(), false);
  });

  it("acquireAll() releases what it took when timeoutMs passes midway", async () => {
    const [x, y, z] = byName();
    const blocker = await peer(y).acquire();
    const error = await assertRejects(
      acquireAll([z, y, x], { timeoutMs: quietMs * 2 }),
      LockTimeoutError,
      [`"${y.name}"`],
    );
    assertEquals((error as LockTimeoutError).timeoutMs, quietMs * 2);
    // x was taken first and given back; z was never reached.
    assertEquals(await x.isLocked(), false);
    assertEquals(await z.isLocked(), false);
    await blocker.release();
    const group = await acquireAll([x, y, z], { timeoutMs: 10_000 });
    await group.release();
    await group.release();
    assertEquals(group.released, true);
    for (const lock of [x, y, z]) assertEquals(await lock.isLocked(), false);
  });

  it("acquireAll() rejects with signal.reason and holds nothing when aborted", async () => {
    const [x, y] = byName();
    const blocker = await peer(y).acquire();
    const controller = new AbortController();
    const pending = track(acquireAll([x, y], { signal: controller.signal }));
    await delay(quietMs);
    assertEquals(pending.settled, false);
    const reason = new Error("stop");
    controller.abort(reason);
    await assertRejects(pending.promise);
    assertEquals(pending.error, reason);
    assertEquals(await x.isLocked(), false);
    await blocker.release();
    assertEquals(await y.isLocked(), false);
    await assertRejects(
      acquireAll([x, y], { signal: controller.signal }),
    );
    assertEquals(await x.isLocked(), false);
  });

  it("acquireAll() holds every lock until the group is released, in the given mode", async () => {
    const [x, y] = [make(), make()];
    const group = await acquireAll([x, y], { mode: "shared" });
    assertEquals(group.leases.map((l) => l.mode), ["shared", "shared"]);
    assertEquals(group.signal.aborted, false);
    const other = await acquireAll([y, x], { mode: "shared", timeoutMs: 0 });
    assertEquals(await x.tryAcquire(), undefined);
    await group.extend();
    await other.release();
    await group[Symbol.asyncDispose]();
    assertEquals(group.released, true);
    assertEquals(await x.isLocked(), false);
    assertEquals(await y.isLocked(), false);
  });

  metricsContract(it, make, otherClient, type, quietMs);
  stealContract(it, backend, make, otherClient);
}

/** Metrics, events and query(): what every lock type reports the same way. */
function metricsContract(
  it: (name: string, fn: () => Promise<void>) => void,
  make: (name?: string) => Lock,
  peer: (lock: Lock) => Lock,
  type: string,
  quietMs: number,
): void {
  const record = (lock: Lock) => {
    const events: LockEvent[] = [];
    const unsubscribe = lock.subscribe((event) => events.push(event));
    return { events, unsubscribe };
  };
  const summary = (events: LockEvent[], owner: string) =>
    events.filter((e) => e.owner === owner).map((e) => e.type);

  it("Lock.subscribe() reports acquire, wait, grant and release in order, with fence, owner and times", async () => {
    const lock = make();
    const { events, unsubscribe } = record(lock);
    const first = await lock.acquire({ owner: "first" });
    const second = track(lock.acquire({ owner: "second", mode: "shared" }));
    await delay(quietMs);
    await delay(5); // a hold time a coarse clock can see
    await first.release();
    const lease = await second.promise;
    await lease.release();
    assertEquals(summary(events, "first"), ["acquire", "grant", "release"]);
    assertEquals(summary(events, "second"), [
      "acquire",
      "wait",
      "grant",
      "release",
    ]);
    const grant = events.find((e) =>
      e.type === "grant" && e.owner === "second"
    )!;
    assertEquals(grant.name, lock.name);
    assertEquals(grant.mode, "shared");
    assertEquals(grant.fence, lease.fence);
    assert(typeof grant.waitMs === "number" && grant.waitMs >= 0, "waitMs");
    const released = events.find((e) =>
      e.type === "release" && e.owner === "first"
    )!;
    assertEquals(released.fence, first.fence);
    assert(
      typeof released.holdMs === "number" && released.holdMs > 0,
      `holdMs ${released.holdMs}`,
    );
    // The grant comes after the first holder's release.
    assert(
      events.indexOf(released) < events.indexOf(grant),
      events.map((e) => `${e.owner} ${e.type}`).join(", "),
    );
    unsubscribe();
    unsubscribe(); // idempotent
    await lock.withLock(() => {});
    assertEquals(events.length, 7, "a listener was called after unsubscribe");
  });

  it("Lock.subscribe() reports busy, timeout and abort, and a throwing listener does not disturb the lock", async () => {
    const lock = make();
    const { events } = record(lock);
    let thrown = 0;
    lock.subscribe((event) => {
      // Throws in the middle of two acquisitions: both must go on.
      if (event.type === "acquire" && thrown++ < 2) {
        throw new Error("a broken listener");
      }
    });
    const logged: unknown[] = [];
    const log = console.error;
    console.error = (...args: unknown[]) => void logged.push(args[1]);
    try {
      const holder = await lock.acquire({ owner: "holder" });
      assertEquals(await lock.tryAcquire({ owner: "try" }), undefined);
      await assertRejects(
        lock.acquire({ owner: "late", timeoutMs: 10 }),
        LockTimeoutError,
      );
      const controller = new AbortController();
      const aborted = track(
        lock.acquire({ owner: "aborted", signal: controller.signal }),
      );
      await delay(quietMs);
      controller.abort(new Error("gone"));
      // A distributed lock's rejection waits for its cancel (up to 250 ms).
      for (let i = 0; i < 100 && !aborted.settled; i++) await delay(10);
      assertEquals((aborted.error as Error)?.message, "gone");
      await holder.release();
      await delay(10);
    } finally {
      console.error = log;
    }
    assertEquals(
      logged.map((e) => (e as Error)?.message),
      ["a broken listener", "a broken listener"],
    );
    assertEquals(summary(events, "try"), ["acquire", "busy"]);
    assertEquals(summary(events, "late"), ["acquire", "wait", "timeout"]);
    assertEquals(summary(events, "aborted"), ["acquire", "wait", "abort"]);
    const timeout = events.find((e) => e.type === "timeout")!;
    assert(timeout.waitMs === undefined || timeout.waitMs >= 0);
    assertEquals(await lock.isLocked(), false);
  });

  it("Lock.metrics() counts grants, contention, busy, timeouts and aborts, and times waits and holds", async () => {
    const lock = make();
    const zero = lock.metrics(); // also starts a local lock's clock
    assertEquals(
      [zero.acquisitions, zero.contended, zero.holders, zero.waiters],
      [0, 0, 0, 0],
    );
    assertEquals(zero.waitMs, {
      count: 0,
      sum: 0,
      p50: 0,
      p90: 0,
      p99: 0,
      max: 0,
    });
    const holder = await lock.acquire();
    assertEquals(await lock.tryAcquire(), undefined);
    await assertRejects(lock.acquire({ timeoutMs: 10 }), LockTimeoutError);
    const controller = new AbortController();
    const aborted = lock.acquire({ signal: controller.signal }).catch(() => {});
    const waiter = track(lock.acquire());
    await delay(quietMs);
    controller.abort();
    await aborted;
    const during = lock.metrics();
    assertEquals([during.holders, during.waiters], [1, 1]);
    await delay(5);
    await holder.release();
    const lease = await waiter.promise;
    await lease.release();
    const m = lock.metrics();
    assertEquals(
      {
        acquisitions: m.acquisitions,
        contended: m.contended,
        busy: m.busy,
        timeouts: m.timeouts,
        aborts: m.aborts,
        lost: m.lost,
        holders: m.holders,
        waiters: m.waiters,
      },
      {
        acquisitions: 2,
        contended: 1,
        busy: 1,
        timeouts: 1,
        aborts: 1,
        lost: 0,
        holders: 0,
        waiters: 0,
      },
    );
    assertEquals(m.waitMs.count, 2);
    assertEquals(m.holdMs.count, 2);
    assert(m.holdMs.max > 0, `holdMs.max ${m.holdMs.max}`);
    assert(m.waitMs.max > 0, `waitMs.max ${m.waitMs.max}`);
    const { p50, p90, p99, max } = m.holdMs;
    assert(p50 <= p90 && p90 <= p99 && p99 <= max, JSON.stringify(m.holdMs));
    assert(m.holdMs.sum >= m.holdMs.max, JSON.stringify(m.holdMs));
  });

  it("Lock.query() lists holders by fence and waiters in queue order, with mode, owner and age", async () => {
    const lock = make();
    assertEquals(await lock.query(), { held: [], pending: [] });
    const a = await lock.acquire({ mode: "shared", owner: "reader-a" });
    const b = await lock.acquire({ mode: "shared", owner: "reader-b" });
    const writer = track(lock.acquire({ owner: "writer" }));
    await delay(quietMs);
    // From another client: a durable-object client sends its second waiter
    // only once its first has been answered.
    const late = track(
      peer(lock).acquire({ mode: "shared", owner: "reader-c" }),
    );
    await delay(quietMs);
    const { held, pending } = await lock.query();
    assertEquals(
      held.map((h) => [h.name, h.mode, h.owner, h.fence]),
      [
        [lock.name, "shared", "reader-a", a.fence],
        [lock.name, "shared", "reader-b", b.fence],
      ],
    );
    assertEquals(
      pending.map((p) => [p.name, p.mode, p.owner, p.fence]),
      [
        [lock.name, "exclusive", "writer", undefined],
        [lock.name, "shared", "reader-c", undefined],
      ],
    );
    for (const info of [...held, ...pending]) {
      assert(
        typeof info.ageMs === "number" && info.ageMs >= 0,
        `ageMs ${info.ageMs}`,
      );
    }
    await a.release();
    await b.release();
    const w = await writer.promise;
    const after = await lock.query();
    assertEquals(
      after.held.map((h) => [h.mode, h.owner, h.fence]),
      [["exclusive", "writer", w.fence]],
    );
    assertEquals(after.pending.map((p) => p.owner), ["reader-c"]);
    await w.release();
    await (await late.promise).release();
    assertEquals(await lock.query(), { held: [], pending: [] });
  });

  it("Lock.subscribe() rejects a listener that is not a function", () => {
    const lock = make();
    assertThrows(() => lock.subscribe("log" as never), TypeError, [
      "'listener'",
    ]);
    return Promise.resolve();
  });

  if (type === "local") return; // a local lock has no other client
  it("Lock.query() shows another client's holders and waiters; metrics() only this client's", async () => {
    // (For thread, the other client is another handle in this thread.)
    const lock = make();
    const other = peer(lock);
    const held = await other.acquire({ owner: "elsewhere" });
    const waiting = track(
      peer(lock).acquire({ owner: "queued", mode: "shared" }),
    );
    await delay(quietMs);
    const snapshot = await lock.query();
    assertEquals(
      snapshot.held.map((h) => [h.mode, h.fence]),
      [["exclusive", held.fence]],
    );
    assertEquals(snapshot.pending.map((p) => p.mode), ["shared"]);
    if (type !== "thread") {
      // A server keeps owners; a thread's shared memory does not.
      assertEquals(snapshot.held[0]!.owner, "elsewhere");
      assertEquals(snapshot.pending[0]!.owner, "queued");
    }
    // Thread handles in one thread are one client: metrics are per thread.
    if (type !== "thread") {
      const mine = lock.metrics();
      assertEquals([mine.acquisitions, mine.holders, mine.waiters], [0, 0, 0]);
      const theirs = other.metrics();
      assertEquals([theirs.acquisitions, theirs.holders], [1, 1]);
    }
    await held.release();
    await (await waiting.promise).release();
    assertEquals(await lock.query(), { held: [], pending: [] });
  });
}

/**
 * `acquire({ steal: true })`: the holders lose the lock at once (on the
 * distributed types, at their next renewal: the tests give them short
 * leases), the thief goes ahead of the queue with a higher fence, and a
 * stolen lease's late release or extend cannot touch the thief's.
 */
function stealContract(
  it: (name: string, fn: () => Promise<void>) => void,
  backend: ContractBackend,
  make: () => Lock,
  otherClient: (lock: Lock) => Lock,
): void {
  const { quietMs } = backend;
  if (backend.steal === false) {
    it("Lock.acquire() refuses steal with a TypeError naming 'steal', as this type cannot steal", async () => {
      const lock = make();
      await assertRejects(lock.acquire({ steal: true }), TypeError, [
        "'steal'",
      ]);
      assertEquals(await lock.isLocked(), false);
    });
    return;
  }
  /** A short lease, so that a remote holder's renewal comes soon. */
  const leaseMs = 900;
  /** Resolves with the signal's reason once it aborts (or after `ms`). */
  const aborted = async (signal: AbortSignal, ms = 5_000) => {
    const until = performance.now() + ms;
    while (!signal.aborted && performance.now() < until) await delay(10);
    return signal.reason as unknown;
  };
  const isStolen = (reason: unknown) =>
    reason instanceof LockLostError && /stolen/.test(reason.message);

  it("Lock.acquire() with steal takes the lock from its holder ahead of the queue, with a higher fence", async () => {
    const lock = make();
    const holder = await lock.acquire({ leaseMs });
    const waiter = track(lock.acquire());
    await delay(quietMs);
    const thief = await lock.acquire({ steal: true, leaseMs });
    assert(
      thief.fence > holder.fence,
      `fence ${thief.fence} after ${holder.fence}`,
    );
    const reason = await aborted(holder.signal);
    assert(isStolen(reason), `holder's signal: ${String(reason)}`);
    assertEquals(thief.signal.aborted, false);
    // The stolen lease's release and extend leave the thief alone.
    await holder.release();
    await assertRejects(holder.extend(), LockReleasedError);
    assertEquals(await lock.isLocked(), true);
    await delay(quietMs);
    assertEquals(waiter.settled, false, "a waiter passed the thief");
    await thief.release();
    const next = await waiter.promise;
    assert(
      next.fence > thief.fence,
      "the waiter's fence is not above the thief's",
    );
    await next.release();
    assertEquals(await lock.isLocked(), false);
  });

  it("Lease.extend() of a stolen lease rejects with LockLostError saying it was stolen", async () => {
    const lock = make();
    const holder = await lock.acquire({ leaseMs });
    const thief = await lock.acquire({ steal: true, leaseMs });
    const error = await assertRejects(holder.extend(), LockLostError, [
      "stolen",
    ]);
    assert(holder.signal.aborted && holder.signal.reason === error);
    await holder.release();
    assertEquals(await lock.isLocked(), true);
    await thief.release();
    assertEquals(await lock.isLocked(), false);
  });

  it("Lock.acquire() with steal revokes every shared holder and grants a free lock at once", async () => {
    const lock = make();
    const free = await lock.acquire({ steal: true, leaseMs });
    await free.release();
    const a = await lock.acquire({ mode: "shared", leaseMs });
    const b = await lock.acquire({ mode: "shared", leaseMs });
    const thief = await lock.tryAcquire({ steal: true, leaseMs });
    assert(thief !== undefined, "tryAcquire with steal found the lock busy");
    assert(thief.fence > Math.max(a.fence, b.fence, free.fence));
    assert(isStolen(await aborted(a.signal)), "shared holder a kept it");
    assert(isStolen(await aborted(b.signal)), "shared holder b kept it");
    await a.release();
    await b.release();
    assertEquals(await lock.tryAcquire({ mode: "shared" }), undefined);
    await thief.release();
  });

  it("Lock.acquire() refuses steal with mode shared or a non-boolean steal, naming 'steal'", async () => {
    const lock = make();
    await assertRejects(
      lock.acquire({ steal: true, mode: "shared" }),
      TypeError,
      ["'steal'", "exclusive"],
    );
    await assertRejects(
      lock.acquire({ steal: "yes" as never }),
      TypeError,
      ["'steal'", "yes"],
    );
    assertEquals(await lock.isLocked(), false);
  });

  it("Lock.acquire() with steal takes the lock from another client's holder", async () => {
    const lock = make();
    const other = otherClient(lock);
    const holder = await other.acquire({ leaseMs });
    const thief = await lock.acquire({ steal: true, leaseMs });
    assert(thief.fence > holder.fence);
    assert(isStolen(await aborted(holder.signal)), "the other client kept it");
    await holder.release();
    assertEquals(await other.isLocked(), true);
    await thief.release();
    assertEquals(await other.isLocked(), false);
  });
}
