// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal The API around the locks (factory, registry, manager, helpers,
 * errors), run on every runtime beside the contract suite.
 */

import {
  createLock,
  createSemaphore,
  describeLockTarget,
  detectRuntime,
  getDefaultLockManager,
  LocalLock,
  LockBackendError,
  lockContext,
  LockError,
  LockLostError,
  LockManager,
  type LockOptions,
  LockReleasedError,
  LockTimeoutError,
  type LockType,
  registerLockType,
  registerSemaphoreType,
  type Runtime,
  SemaphoreTimeoutError,
  type SemaphoreType,
  withLock,
} from "../mod.ts";
import {
  assert,
  assertEquals,
  assertRejects,
  assertThrows,
  delay,
  track,
} from "./_assert.ts";
import { randomName, type RegisterTest } from "./_contract.ts";

// The types these tests register, as a user declares theirs.
declare module "../mod.ts" {
  interface LockTypes {
    [test: `type-${string}`]: LockOptions;
  }
}

export function apiSuite(test: RegisterTest, runtime: Runtime): void {
  test(`detectRuntime() says "${runtime}" on ${runtime}`, () => {
    assertEquals(detectRuntime(), runtime);
    return Promise.resolve();
  });

  test("describeLockTarget() prefers explicit backend options, then the given env, else local", () => {
    const namespace = { idFromName: () => 1, get: () => ({}) };
    const t = (options?: Record<string, unknown>) =>
      describeLockTarget(options);
    assertEquals(t().type, "local");
    assertEquals(t({ name: "a" }).type, "local");
    assertEquals(t({ namespace }).type, "durable-object");
    assertEquals(
      t({ url: "https://x.dev", token: "s" }).type,
      "durable-object",
    );
    assertEquals(
      t({ redis: { url: "https://x", token: "t" } }).type,
      "upstash",
    );
    // Explicit options win over what env holds.
    assertEquals(
      t({ redis: { url: "https://x", token: "t" }, env: { LOCKS: namespace } })
        .type,
      "upstash",
    );
    const fromBinding = t({ name: "a", env: { LOCKS: namespace, OTHER: 1 } });
    assertEquals(fromBinding.type, "durable-object");
    assert(fromBinding.options.namespace === namespace);
    assert(fromBinding.reason.includes("LOCKS"), fromBinding.reason);
    assertEquals(t({ env: { MY_LOCKS: namespace } }).type, "durable-object");
    // Ambiguous or partial configuration fails closed: a guess could leave
    // two deployments on different locks, or one excluding nothing.
    assertThrows(() => t({ env: { A: namespace, B: namespace } }), TypeError, [
      "A, B",
      "LOCKS",
    ]);
    const upstash = t({
      name: "a",
      env: {
        UPSTASH_REDIS_REST_URL: "https://u.io",
        UPSTASH_REDIS_REST_TOKEN: "tok",
      },
    });
    assertEquals(upstash.type, "upstash");
    assertEquals(upstash.options.redis, { url: "https://u.io", token: "tok" });
    assert(!upstash.reason.includes("tok"), "the reason leaks the token");
    assertEquals(
      t({ env: { KV_REST_API_URL: "https://k.io", KV_REST_API_TOKEN: "k" } })
        .type,
      "upstash",
    );
    assertThrows(
      () => t({ env: { UPSTASH_REDIS_REST_URL: "https://u.io" } }),
      TypeError,
      ["UPSTASH_REDIS_REST_TOKEN"],
    );
    assertThrows(
      () => t({ env: { KV_REST_API_TOKEN: "k" } }),
      TypeError,
      ["KV_REST_API_URL"],
    );
    assertThrows(
      () =>
        t({
          env: { UPSTASH_REDIS_REST_URL: 1, UPSTASH_REDIS_REST_TOKEN: "t" },
        }),
      TypeError,
      ["UPSTASH_REDIS_REST_URL", "string"],
    );
    // A deployment can demand a distributed target.
    assertThrows(() => t({ fallback: "throw" }), TypeError, ["'fallback'"]);
    assertThrows(() => t({ env: {}, fallback: "throw" }), TypeError, [
      "no distributed backend",
    ]);
    assertEquals(t({ env: {}, fallback: "local" }).type, "local");
    assertThrows(() => t({ fallback: "maybe" }), TypeError, [
      "'fallback'",
      "maybe",
    ]);
    assertThrows(() => t({ env: 5 }), TypeError, ["'env'", "5"]);
    assertEquals(t({ name: "n" }).runtime, runtime);
    return Promise.resolve();
  });

  test('describeLockTarget() reads the process environment only with env: "process"', () => {
    const p = (globalThis as { process?: { env?: Record<string, string> } })
      .process;
    if (p?.env === undefined) {
      assertThrows(() => describeLockTarget({ env: "process" }), TypeError, [
        "process environment",
      ]);
      return Promise.resolve();
    }
    const saved = [
      p.env.UPSTASH_REDIS_REST_URL,
      p.env.UPSTASH_REDIS_REST_TOKEN,
    ];
    p.env.UPSTASH_REDIS_REST_URL = "https://env.upstash.io";
    p.env.UPSTASH_REDIS_REST_TOKEN = "env-token";
    try {
      assertEquals(describeLockTarget({ name: "a" }).type, "local");
      const target = describeLockTarget({ name: "a", env: "process" });
      assertEquals(target.type, "upstash");
      assert(target.reason.includes("process environment"), target.reason);
    } finally {
      if (saved[0] === undefined) delete p.env.UPSTASH_REDIS_REST_URL;
      else p.env.UPSTASH_REDIS_REST_URL = saved[0];
      if (saved[1] === undefined) delete p.env.UPSTASH_REDIS_REST_TOKEN;
      else p.env.UPSTASH_REDIS_REST_TOKEN = saved[1];
    }
    return Promise.resolve();
  });

  test("LockManager configured once for a target creates every lock for it", () => {
    const env = {
      UPSTASH_REDIS_REST_URL: "https://u.io",
      UPSTASH_REDIS_REST_TOKEN: "t",
    };
    const manager = new LockManager({ type: "auto", lockOptions: { env } });
    const a = manager.getOrCreateLock("a");
    assertEquals(a.type, "upstash");
    assertEquals(a.name, "a");
    // "auto" again finds the same lock, whatever it chose.
    assert(manager.getOrCreateLock("a", "auto") === a);
    assertEquals(manager.getOrCreateLock("b", "local").type, "local");
    assertEquals(
      new LockManager({ type: "local" }).getOrCreateLock("c").type,
      "local",
    );
    assertThrows(() => new LockManager({ type: 5 as never }), TypeError, [
      "'type'",
    ]);
    assertThrows(
      () => new LockManager({ lockOptions: "x" as never }),
      TypeError,
      ["'lockOptions'"],
    );
    return Promise.resolve();
  });

  test('createLock("auto") builds what describeLockTarget() describes, without touching a backend', () => {
    assertEquals(createLock("auto", { name: "a" }).type, "local");
    const upstash = createLock("auto", {
      name: "a",
      env: {
        UPSTASH_REDIS_REST_URL: "https://u.io",
        UPSTASH_REDIS_REST_TOKEN: "t",
      },
    });
    assertEquals(upstash.type, "upstash");
    assertEquals(upstash.name, "a");
    const manager = new LockManager();
    assertEquals(
      manager.getOrCreateLock("m", "auto", {
        env: { LOCKS: { idFromName: () => 1, get: () => ({}) } },
      }).type,
      "durable-object",
    );
    assertEquals(manager.listLocks(), { m: "durable-object" });
    return Promise.resolve();
  });

  test("createLock() makes a local lock by default", () => {
    const lock = createLock();
    assertEquals(lock.type, "local");
    assert(lock instanceof LocalLock);
    assert(/^local-\d+$/.test(lock.name), lock.name);
    assert(createLock().name !== lock.name, "unnamed locks share a name");
    return Promise.resolve();
  });

  test("createLock() throws a TypeError listing the known types when the type is unknown", () => {
    assertThrows(() => createLock("redis" as LockType), TypeError, [
      "'type'",
      '"redis"',
      '"local"',
    ]);
    assertThrows(() => createLock(7 as never), TypeError, ["'type'", "7"]);
    assertThrows(
      () => createLock("local", "x" as never),
      TypeError,
      ["'options'"],
    );
    return Promise.resolve();
  });

  test("createLock() rejects an option its type does not know, naming it and the option it most likely meant", () => {
    // Built outside the call, as a config object would be: the compiler
    // lets a non-literal object through, so only the run-time check is left.
    const bad = (options: object) => options as never;
    const cases: [LockType, object, string][] = [
      ["local", { nme: "a" }, "did you mean 'name'?"],
      ["thread", { name: "a", capasity: 4 }, "did you mean 'capacity'?"],
      ["upstash", { reddis: {} }, "did you mean 'redis'?"],
      ["upstash", { name: "a", waiterTTLMs: 5 }, "did you mean 'waiterTtlMs'?"],
      ["upstash", { lease: 1000 }, "did you mean 'leaseMs'?"],
      ["durable-object", { url: "https://x", tokn: "t" }, "'token'"],
      ["auto", { name: "a", evn: {} }, "did you mean 'env'?"],
    ];
    for (const [type, options, meant] of cases) {
      const [key] = Object.keys(options).filter((k) =>
        k !== "name" && k !== "url"
      );
      assertThrows(() => createLock(type, bad(options)), TypeError, [
        `'${key}' is not an option of ${type} locks`,
        meant,
      ]);
    }
    assertThrows(
      () => createLock("upstash", bad({ reddis: {} })),
      TypeError,
      ["Cannot create lock as 'reddis' is not an option of upstash locks; did you mean 'redis'?"],
    );
    // An acquisition's option, given to the lock: says where it belongs.
    assertThrows(() => createLock("local", bad({ timeoutMs: 5 })), TypeError, [
      "'timeoutMs' is not an option of local locks",
      "acquire()",
    ]);
    // Nothing near: the type's options are listed.
    assertThrows(() => createLock("local", bad({ color: "red" })), TypeError, [
      "'color'",
      "their options are 'name'",
    ]);
    // A hostile key is shown safely.
    assertThrows(
      () => createLock("local", bad({ ["x'\n".repeat(30)]: 1 })),
      TypeError,
      ["is not an option of local locks"],
    );
    // Keys with undefined values are still keys someone misspelled.
    assertThrows(
      () => createLock("local", bad({ nme: undefined })),
      TypeError,
      [
        "'nme'",
      ],
    );
    return Promise.resolve();
  });

  test("describeLockTarget() rejects an unknown option and gives the chosen type only its own options", () => {
    const namespace = { idFromName: () => 1, get: () => ({}) };
    assertThrows(
      () => describeLockTarget({ name: "a", reddis: {} } as never),
      TypeError,
      ["'reddis' is not an option of auto locks; did you mean 'redis'?"],
    );
    // Options for either backend, as a manager configured for "auto" has:
    // the chosen type gets its own and no other.
    const options = {
      name: "a",
      prefix: "app:",
      waiterTtlMs: 5_000,
      leaseMs: 2_000,
    };
    const local = describeLockTarget({ ...options, env: {} });
    assertEquals(local.options, { name: "a" });
    const durable = describeLockTarget({
      ...options,
      env: { LOCKS: namespace },
    });
    assertEquals(durable.type, "durable-object");
    assertEquals(Object.keys(durable.options).sort(), [
      "leaseMs",
      "name",
      "namespace",
    ]);
    assertEquals(createLock("auto", { ...options, env: {} }).type, "local");
    assertEquals(
      createLock("auto", { ...options, env: { LOCKS: namespace } }).type,
      "durable-object",
    );
    return Promise.resolve();
  });

  test("registerLockType() with option keys makes createLock() reject any other", () => {
    const strict = randomName("type"), loose = randomName("type");
    registerLockType(
      strict,
      (options) => new LocalLock({ name: options.name ?? "s" }),
      ["name", "size"],
    );
    registerLockType(
      loose,
      (options) => new LocalLock({ name: options.name ?? "l" }),
    );
    assertEquals(createLock(strict, { name: "a", size: 1 } as never).name, "a");
    assertThrows(() => createLock(strict, { sise: 1 } as never), TypeError, [
      `'sise' is not an option of ${strict} locks; did you mean 'size'?`,
    ]);
    // Without keys, the factory gets whatever it is given.
    assertEquals(createLock(loose, { name: "b", any: 1 } as never).name, "b");
    assertThrows(
      () =>
        registerLockType(
          randomName("type"),
          () => createLock(),
          "name" as never,
        ),
      TypeError,
      ["'optionKeys'"],
    );
    return Promise.resolve();
  });

  test("LockManager.getOrCreateLock() rejects an unknown option, and gives its lockOptions only to locks of its type", () => {
    const manager = new LockManager({
      type: "upstash",
      lockOptions: {
        prefix: "app:",
        redis: { url: "https://u.io", token: "t" },
      },
    });
    assertThrows(
      () => manager.getOrCreateLock("a", "local", { nme: "x" } as never),
      TypeError,
      ["'nme' is not an option of local locks; did you mean 'name'?"],
    );
    assertThrows(
      () => manager.getOrCreateLock("b", undefined, { prefx: "p:" } as never),
      TypeError,
      ["'prefx' is not an option of upstash locks; did you mean 'prefix'?"],
    );
    // Thread locks come from the manager's table; their keys are checked too.
    assertThrows(
      () => manager.getOrCreateLock("t", "thread", { capasity: 8 } as never),
      TypeError,
      ["'capasity' is not an option of thread locks; did you mean 'capacity'?"],
    );
    // The manager's upstash options are not a local lock's.
    assertEquals(manager.getOrCreateLock("c", "local").type, "local");
    assertEquals(manager.getOrCreateLock("d").type, "upstash");
    return Promise.resolve();
  });

  test("createLock() gives two separate locks for the same name", async () => {
    const name = randomName();
    const a = createLock("local", { name });
    const b = createLock("local", { name });
    const lease = await a.acquire();
    const other = await b.tryAcquire();
    assert(other !== undefined, "unshared locks excluded each other");
    await other.release();
    await lease.release();
  });

  test("registerLockType() adds a type that createLock() and LockManager build", async () => {
    const type = randomName("type");
    const made: string[] = [];
    registerLockType(type, (options) => {
      made.push(String(options.name));
      return new LocalLock(options);
    });
    const lock = createLock(type, { name: "custom" });
    assertEquals(made, ["custom"]);
    assertEquals(await lock.withLock(() => "ran"), "ran");
    const manager = new LockManager();
    manager.getOrCreateLock("id", type);
    assertEquals(made, ["custom", "id"]);
  });

  test("registerLockType() throws a TypeError when the type is taken or arguments are bad", () => {
    assertThrows(
      () => registerLockType("local", () => createLock()),
      TypeError,
      [
        '"local"',
        "taken",
      ],
    );
    assertThrows(
      () => registerLockType("durable-object", () => createLock()),
      TypeError,
      ["taken"],
    );
    assertThrows(() => registerLockType("", () => createLock()), TypeError, [
      "'type'",
    ]);
    assertThrows(
      () => registerLockType(randomName(), "nope" as never),
      TypeError,
      ["'factory'", '"nope"'],
    );
    const type = randomName("type");
    registerLockType(type, () => ({}) as never);
    assertThrows(() => createLock(type), TypeError, ["did not return a Lock"]);
    return Promise.resolve();
  });

  test("createLock() and createSemaphore() share their registry's messages, each naming its own kind", () => {
    const message = (fn: () => unknown): string => {
      try {
        fn();
      } catch (error) {
        assert(error instanceof TypeError, `a TypeError, got ${error}`);
        return error.message;
      }
      throw new Error("did not throw");
    };
    for (
      const [noun, made, create, register] of [
        ["lock", "Lock", createLock, registerLockType],
        ["semaphore", "Semaphore", createSemaphore, registerSemaphoreType],
      ] as const
    ) {
      const make = create as (type: unknown, options?: object) => unknown;
      const add = register as (
        type: unknown,
        factory: unknown,
        keys?: unknown,
      ) => void;
      const known = message(() => make(5));
      assert(
        known.startsWith(
          `Cannot create ${noun} as 'type' must be a string: current value is 5; known types are "local", `,
        ),
        known,
      );
      assert(
        message(() => make("nope", { name: "x", permits: 1 })).startsWith(
          `Cannot create ${noun} as 'type' is unknown: current value is "nope" (a string of length 4); known types are "local", `,
        ),
      );
      assertEquals(
        message(() => make("local", { nmae: "x", permits: 1 })),
        `Cannot create ${noun} as 'nmae' is not an option of local ${noun}s; did you mean 'name'?`,
      );
      assertEquals(
        message(() => add("", () => ({}))),
        `Cannot register ${noun} type as 'type' must be a string of 1 to 64 characters: current value is "" (a string of length 0)`,
      );
      const type = randomName(`type-${noun}`);
      assertEquals(
        message(() => add(type, "nope")),
        `Cannot register ${noun} type "${type}" as 'factory' must be a function: current value is "nope" (a string of length 4)`,
      );
      assertEquals(
        message(() => add(type, () => ({}), "name")),
        `Cannot register ${noun} type "${type}" as 'optionKeys' must be an array of strings: current value is "name" (a string of length 4)`,
      );
      add(type, () => ({ name: "x" }), ["name"]);
      assert(
        message(() => add(type, () => ({}))).startsWith(
          `Cannot register ${noun} type "${type}" as the type is already taken; taken types are "local", `,
        ),
      );
      assertEquals(
        message(() => make(type, { name: "x" })),
        `Cannot create ${noun} as the factory for type "${type}" did not return a ${made}: returned an object`,
      );
    }
    const sem = createSemaphore("local" as SemaphoreType, {
      name: randomName(),
      permits: 2,
    });
    assertEquals(sem.permits, 2);
    return Promise.resolve();
  });

  test("LockManager.getOrCreateLock() returns the same lock for the same id", async () => {
    const manager = new LockManager();
    const id = randomName();
    const lock = manager.getOrCreateLock(id, "local");
    assertEquals(lock.name, id);
    assert(manager.getOrCreateLock(id) === lock);
    assert(manager.getOrCreateLock(id, "local") === lock);
    assert(manager.getOrCreateLock(randomName()) !== lock);
    const lease = await manager.getOrCreateLock(id).acquire();
    assertEquals(await lock.isLocked(), true);
    await lease.release();
  });

  test("LockManager.getOrCreateLock() throws a TypeError when the id exists with another type", () => {
    const manager = new LockManager();
    const type = randomName("type");
    registerLockType(type, (options) => new LocalLock(options));
    manager.getOrCreateLock("db", "local");
    assertThrows(() => manager.getOrCreateLock("db", type), TypeError, [
      '"db"',
      '"local"',
      type,
    ]);
    assertThrows(() => manager.getOrCreateLock(""), RangeError, ["'lockId'"]);
    assertThrows(() => manager.getOrCreateLock(5 as never), TypeError, [
      "'lockId'",
    ]);
    return Promise.resolve();
  });

  test("LockManager.listLocks() maps ids to types and removeLock() reports what it removed", () => {
    const manager = new LockManager();
    assertEquals(manager.listLocks(), {});
    manager.getOrCreateLock("database_ops", "local");
    manager.getOrCreateLock("file_ops");
    assertEquals(manager.listLocks(), {
      database_ops: "local",
      file_ops: "local",
    });
    assertEquals(manager.removeLock("file_ops"), true);
    assertEquals(manager.removeLock("file_ops"), false);
    assertEquals(manager.removeLock("never_made"), false);
    assertEquals(manager.listLocks(), { database_ops: "local" });
    return Promise.resolve();
  });

  test("LockManager.metrics() totals its locks' counts and merges their distributions", async () => {
    const manager = new LockManager();
    manager.metrics(); // starts the clock of present and future locks
    const a = manager.getOrCreateLock("a");
    const b = manager.getOrCreateLock("b");
    const holder = await a.acquire();
    const waiter = a.acquire();
    await delay(5);
    await holder.release();
    await (await waiter).release();
    await b.withLock(() => delay(2));
    const kept = await b.tryAcquire({ owner: "x".repeat(256) });
    assert(kept !== undefined);
    const m = manager.metrics();
    assertEquals([m.acquisitions, m.contended, m.holders], [4, 1, 1]);
    assertEquals(m.waitMs.count, 4);
    assertEquals(m.holdMs.count, 3);
    assert(m.holdMs.max >= 2, `holdMs.max ${m.holdMs.max}`);
    assertEquals(
      m.holdMs.max,
      Math.max(a.metrics().holdMs.max, b.metrics().holdMs.max),
    );
    assertEquals(
      m.holdMs.sum,
      a.metrics().holdMs.sum + b.metrics().holdMs.sum,
    );
    await kept.release();
    assertEquals(manager.metrics().holders, 0);
  });

  test("LockManager's deadlock probe before a labelled acquire is not counted as busy", async () => {
    const manager = new LockManager();
    const lock = manager.getOrCreateLock("probed");
    const types: string[] = [];
    lock.subscribe((e) => types.push(`${e.owner} ${e.type}`));
    const holder = await lock.acquire({ owner: "one" });
    const waiter = lock.acquire({ owner: "two" });
    await delay(5);
    await holder.release();
    await (await waiter).release();
    assertEquals(types, [
      "one acquire",
      "one grant",
      "two acquire",
      "two wait",
      "one release",
      "two grant",
      "two release",
    ]);
    assertEquals([lock.metrics().busy, lock.metrics().contended], [0, 1]);
  });

  test("LockManager.query() lists every kept lock's holders and waiters", async () => {
    const manager = new LockManager();
    const a = await manager.getOrCreateLock("a").acquire({ owner: "one" });
    const b = await manager.getOrCreateLock("b").acquire({ mode: "shared" });
    const queued = manager.getOrCreateLock("a").acquire({ owner: "two" });
    await delay(5); // a labelled acquire looks for deadlocks first
    const { held, pending } = await manager.query();
    assertEquals(held.map((h) => [h.name, h.mode, h.owner, h.fence]), [
      ["a", "exclusive", "one", a.fence],
      ["b", "shared", undefined, b.fence],
    ]);
    assertEquals(pending.map((p) => [p.name, p.owner]), [["a", "two"]]);
    await a.release();
    await b.release();
    await (await queued).release();
    assertEquals(await manager.query(), { held: [], pending: [] });
  });

  test("LockManager.subscribe() reports events of present and future locks until unsubscribed or removed", async () => {
    const manager = new LockManager();
    manager.getOrCreateLock("before");
    const seen: string[] = [];
    const unsubscribe = manager.subscribe((e) =>
      seen.push(`${e.name} ${e.type}`)
    );
    await manager.getOrCreateLock("before").withLock(() => {});
    await manager.getOrCreateLock("after").withLock(() => {});
    const removed = manager.getOrCreateLock("removed");
    manager.removeLock("removed");
    await removed.withLock(() => {});
    assertEquals(seen, [
      "before acquire",
      "before grant",
      "before release",
      "after acquire",
      "after grant",
      "after release",
    ]);
    unsubscribe();
    await manager.getOrCreateLock("after").withLock(() => {});
    assertEquals(seen.length, 6);
    assertThrows(() => manager.subscribe(42 as never), TypeError, [
      "'listener'",
      "42",
    ]);
  });

  test("LockManager.getOrCreateLock() keeps an explicit options.name", () => {
    const manager = new LockManager();
    const lock = manager.getOrCreateLock("id", "local", { name: "display" });
    assertEquals(lock.name, "display");
    return Promise.resolve();
  });

  test("getDefaultLockManager() returns one manager per isolate", () => {
    const manager = getDefaultLockManager();
    assert(manager instanceof LockManager);
    assert(getDefaultLockManager() === manager);
    const id = randomName();
    assert(
      manager.getOrCreateLock(id) ===
        getDefaultLockManager().getOrCreateLock(id),
    );
    manager.removeLock(id);
    return Promise.resolve();
  });

  test("lockContext() acquires for an await using block and times out as TimeoutError", async () => {
    const lock = createLock("local", { name: randomName() });
    {
      await using lease = await lockContext(lock, { timeoutMs: 1_000 });
      assertEquals(lease.name, lock.name);
      const error = await assertRejects(
        lockContext(lock, { timeoutMs: 5 }),
        LockTimeoutError,
      );
      assertEquals(error.name, "TimeoutError");
    }
    assertEquals(await lock.isLocked(), false);
    await assertRejects(lockContext({} as never), TypeError, ["'lock'"]);
  });

  test("withLock() runs fn under the lock and releases it on exceptions", async () => {
    const lock = createLock("local", { name: randomName() });
    assertEquals(await withLock(lock, (lease) => lease.name), lock.name);
    await assertRejects(
      withLock(lock, () => {
        throw new ValueError("Something went wrong");
      }),
      ValueError,
    );
    assertEquals(await lock.isLocked(), false);
    await assertRejects(withLock(null as never, () => 1), TypeError, [
      "'lock'",
      "null",
    ]);
  });

  test("LockError subclasses set name, lockName and cause", () => {
    const cause = new Error("ECONNRESET");
    const errors: [LockError, string][] = [
      [new LockTimeoutError("a", 5), "TimeoutError"],
      [new SemaphoreTimeoutError("a", 5), "TimeoutError"],
      [new LockLostError("a", "lease expired", { cause }), "LockLostError"],
      [new LockReleasedError("a", "extend"), "LockReleasedError"],
      [new LockBackendError("a", "unreachable", { cause }), "LockBackendError"],
      [new LockError("plain", "a"), "LockError"],
    ];
    for (const [error, name] of errors) {
      assert(error instanceof LockError && error instanceof Error);
      assertEquals(error.name, name);
      assertEquals(error.lockName, "a");
      assert(error.message.length > 0 && !error.message.endsWith("."));
    }
    assert(errors[1]![0] instanceof LockTimeoutError);
    assertEquals(
      errors[1]![0].message,
      'Cannot acquire semaphore "a": timed out after 5ms',
    );
    assertEquals(errors[2]![0].cause, cause);
    assertEquals(errors[4]![0].cause, cause);
    return Promise.resolve();
  });

  test("LocalLock.waiting drops at once when a waiter is aborted or times out", async () => {
    const lock = new LocalLock({ name: randomName() });
    const holder = await lock.acquire();
    const controller = new AbortController();
    const aborted = track(lock.acquire({ signal: controller.signal }));
    const timed = track(lock.acquire({ timeoutMs: 5 }));
    const kept = track(lock.acquire());
    assertEquals(lock.waiting, 3);
    controller.abort();
    assertEquals(lock.waiting, 2, "an aborted waiter stayed queued");
    await delay(20);
    assertEquals(lock.waiting, 1, "a timed-out waiter stayed queued");
    assert(aborted.settled && timed.settled && !kept.settled);
    await holder.release();
    await (await kept.promise).release();
    assertEquals(lock.waiting, 0);
  });

  test("LocalLock hands over in release order without a timer", async () => {
    const lock = new LocalLock();
    const first = await lock.acquire();
    const second = track(lock.acquire());
    await first.release();
    // One microtask turn suffices: the grant happens inside release().
    await Promise.resolve();
    await Promise.resolve();
    assertEquals(second.settled, true);
    await second.value!.release();
  });
}

class ValueError extends Error {}
