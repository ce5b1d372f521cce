// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal The Web Locks API's conformance suite, written from the W3C
 * spec (https://w3c.github.io/web-locks/): every normative step of
 * `request()` and `query()` that one global can observe, run against
 * `createWebLocks(type)` for every backend on every runtime, beside the lock
 * contract. Each test names the spec step it checks. Steps that involve
 * another client (another manager: the same isolate's for `local`, another
 * client object of the backend otherwise) are here too; the same steps
 * across two processes are in the runtime's own files.
 */

import {
  createWebLocks,
  type LockType,
  type WebLock,
  type WebLockManager,
  type WebLocks,
  type WebLocksOptionsOf,
} from "../mod.ts";
import { assert, assertEquals, delay, track } from "./_assert.ts";
import { randomName, type RegisterTest } from "./_contract.ts";

/** How the suite reaches one backend through `createWebLocks`. */
export interface WebLocksBackend {
  /** The lock type. */
  readonly type: LockType;
  /** Options of each manager (a fresh object per call), without `clientId`. */
  readonly options?: () => WebLocksOptionsOf<LockType>;
  /** Long enough for anything that could happen to have happened. */
  readonly quietMs: number;
  /** False for a type that cannot steal (its steal requests must say so). */
  readonly steal?: false;
}

/** A promise with its resolve and reject. */
function deferred<T = void>(): {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (reason: unknown) => void;
} {
  let resolve!: (value: T) => void, reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * Awaits `promise` with a timer that keeps the event loop alive meanwhile:
 * a held lease's renewal timers do not (holding a lock keeps no process
 * alive), and on a backend with no socket open (file) nothing else would,
 * so Deno's test runner would end the test before the renewal runs.
 */
async function keepingAlive<T>(promise: Promise<T>): Promise<T> {
  const timer = setInterval(() => {}, 50);
  try {
    return await promise;
  } finally {
    clearInterval(timer);
  }
}

/** The rejection of `promise`, or a failure if it fulfils. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection, got a fulfilment");
}

async function assertDomException(
  promise: Promise<unknown>,
  name: string,
): Promise<DOMException> {
  const error = await rejection(promise);
  assert(
    error instanceof DOMException,
    `expected a DOMException ${name}, got ${String(error)}`,
  );
  assertEquals(error.name, name);
  return error;
}

async function assertTypeError(promise: Promise<unknown>): Promise<void> {
  const error = await rejection(promise);
  assert(error instanceof TypeError, `expected a TypeError, got ${error}`);
}

/** Registers the Web Locks conformance suite for `backend` with `test`. */
export function webLocksConformance(
  test: RegisterTest,
  backend: WebLocksBackend,
): void {
  const { type, quietMs } = backend;
  const make = (): WebLocks =>
    createWebLocks(type, { ...backend.options?.() } as never);
  /** One manager per test, as a page has one `navigator.locks`. */
  const it = (
    name: string,
    fn: (locks: WebLocks, name: string) => Promise<void>,
  ) => test(`[web-locks ${type}] ${name}`, () => fn(make(), randomName("wl")));
  /** Holds `name` until the returned function is called. */
  const hold = async (
    locks: WebLockManager,
    name: string,
    options: { mode?: "shared" | "exclusive"; steal?: boolean } = {},
  ) => {
    const granted = deferred<WebLock>();
    const release = deferred();
    const done = locks.request(name, options, (lock) => {
      granted.resolve(lock!);
      return release.promise;
    });
    done.catch(() => {});
    return {
      lock: await granted.promise,
      release: () => release.resolve(),
      done,
    };
  };
  const mine = <I extends { name: string }>(snapshot: I[], name: string) =>
    snapshot.filter((info) => info.name === name);

  // ------------------------------------------------------ arguments (IDL)

  it("WebLocks.request() rejects, never throws, with a TypeError without a name or callback", async (locks) => {
    const call = locks.request as unknown as (...a: unknown[]) => unknown;
    const none = call.call(locks);
    const one = call.call(locks, "x");
    assert(none instanceof Promise && one instanceof Promise);
    await assertTypeError(none as Promise<unknown>);
    await assertTypeError(one as Promise<unknown>);
  });

  it(
    "WebLocks.request() takes the second of two arguments as the callback (IDL overloads)",
    async (locks, name) => {
      const call = locks.request as unknown as (
        ...a: unknown[]
      ) => Promise<unknown>;
      // Two arguments select request(name, callback): options are not one.
      await assertTypeError(call.call(locks, name, { mode: "shared" }));
      await assertTypeError(call.call(locks, name, {}, undefined));
      await assertTypeError(call.call(locks, name, {}, "callback"));
      assertEquals(await call.call(locks, name, () => "two"), "two");
      assertEquals(
        await call.call(locks, name, undefined, () => "three"),
        "three",
      );
      assertEquals(await call.call(locks, name, null, () => "null"), "null");
    },
  );

  it(
    "WebLocks.request() converts the name with ToString and refuses a symbol (DOMString)",
    async (locks, name) => {
      const call = locks.request as unknown as (
        ...a: unknown[]
      ) => Promise<unknown>;
      const named = { toString: () => name };
      assertEquals(await call.call(locks, named, (l: WebLock) => l.name), name);
      assertEquals(await call.call(locks, 42, (l: WebLock) => l.name), "42");
      await assertTypeError(call.call(locks, Symbol("s"), () => {}));
    },
  );

  it(
    "WebLocks.request() accepts the empty name and any string, names starting with '-' excepted",
    async (locks, name) => {
      // spec: resource names starting with U+002D are reserved.
      for (const reserved of ["-", "-x", `-${name}`]) {
        let called = false;
        await assertDomException(
          locks.request(reserved, () => {
            called = true;
          }),
          "NotSupportedError",
        );
        assertEquals(called, false);
      }
      const names = [
        "",
        `${name}-tail`,
        ` ${name}`,
        `${name}/\u00e9\u{1F512}`,
        `${name}\uD800`, // a lone surrogate
        `${name}\uDC00`,
        `${name}${"x".repeat(2000)}`,
        `${name}${"y".repeat(2000)}`,
      ];
      for (const each of names) {
        assertEquals(await locks.request(each, (l) => l.name), each);
      }
      // Distinct names are distinct locks, however they are spelled.
      const held = await hold(locks, names[4]!);
      assertEquals(
        await locks.request(
          names[5]!,
          { ifAvailable: true },
          (l) => l !== null,
        ),
        true,
      );
      const long = await hold(locks, names[6]!);
      assertEquals(
        await locks.request(
          names[7]!,
          { ifAvailable: true },
          (l) => l !== null,
        ),
        true,
      );
      assertEquals(
        await locks.request(names[6]!, { ifAvailable: true }, (l) => l),
        null,
      );
      held.release();
      long.release();
      await Promise.all([held.done, long.done]);
    },
  );

  it(
    "WebLocks.request() converts options as a dictionary: null and undefined are defaults, a primitive is a TypeError",
    async (locks, name) => {
      const call = locks.request as unknown as (
        ...a: unknown[]
      ) => Promise<unknown>;
      for (const bad of [1, "shared", true, Symbol("o")]) {
        await assertTypeError(call.call(locks, name, bad, () => {}));
      }
      assertEquals(
        await call.call(locks, name, null, (l: WebLock) => l.mode),
        "exclusive",
      );
      // A function is an object: its (absent) members are the defaults.
      assertEquals(
        await call.call(locks, name, () => {}, (l: WebLock) => l.mode),
        "exclusive",
      );
    },
  );

  it(
    "WebLocks.request() checks mode against the LockMode enum after ToString",
    async (locks, name) => {
      for (const bad of ["foo", "Exclusive", "", null, 1, { mode: 1 }]) {
        let called = false;
        await assertTypeError(
          locks.request(name, { mode: bad as never }, () => {
            called = true;
          }),
        );
        assertEquals(called, false, `callback called for mode ${String(bad)}`);
      }
      assertEquals(
        await locks.request(name, { mode: "shared" }, (l) => l!.mode),
        "shared",
      );
      assertEquals(
        await locks.request(name, { mode: "exclusive" }, (l) => l!.mode),
        "exclusive",
      );
      assertEquals(
        await locks.request(
          name,
          { mode: { toString: () => "shared" } as never },
          (l) => l!.mode,
        ),
        "shared",
      );
      assertEquals(
        await locks.request(name, { mode: undefined }, (l) => l!.mode),
        "exclusive",
      );
    },
  );

  it(
    "WebLocks.request() refuses a signal that is not an AbortSignal with a TypeError",
    async (locks, name) => {
      for (
        const bad of ["string", 12.34, false, {}, null, Symbol("s"), () => {}]
      ) {
        await assertTypeError(
          locks.request(name, { signal: bad as never }, () => {}),
        );
      }
    },
  );

  it(
    "WebLocks.request() reads the options' members in lexicographic order, each once",
    async (locks, name) => {
      const read: string[] = [];
      const options = {};
      for (const key of ["steal", "signal", "mode", "ifAvailable"]) {
        Object.defineProperty(options, key, {
          get: () => {
            read.push(key);
            return undefined;
          },
        });
      }
      await locks.request(name, options, () => {});
      assertEquals(read, ["ifAvailable", "mode", "signal", "steal"]);
    },
  );

  it(
    "WebLocks.request() converts ifAvailable and steal with ToBoolean",
    async (locks, name) => {
      const held = await hold(locks, name);
      assertEquals(
        await locks.request(name, { ifAvailable: 1 as never }, (l) => l),
        null,
      );
      const waiting = track(
        locks.request(name, { ifAvailable: "" as never }, (l) => l !== null),
      );
      await delay(quietMs);
      assertEquals(waiting.settled, false, "ifAvailable '' did not wait");
      held.release();
      assertEquals(await waiting.promise, true);
      if (backend.steal === false) return;
      const again = await hold(locks, name);
      assertEquals(
        await locks.request(name, { steal: "yes" as never }, () => "stolen"),
        "stolen",
      );
      await assertDomException(again.done, "AbortError");
      again.release();
    },
  );

  it("WebLocks.request() converts every argument before its NotSupportedError steps", async (locks) => {
    // The callback and the options are converted first: a TypeError.
    await assertTypeError(locks.request("-x", {}, "no" as never));
    await assertTypeError(
      locks.request("-x", { mode: "bad" as never }, () => {}),
    );
  });

  it(
    "WebLocks.request() rejects steal with ifAvailable, steal when shared, and signal with either as NotSupportedError",
    async (locks, name) => {
      const signal = new AbortController().signal;
      const cases = [
        { steal: true, ifAvailable: true },
        { steal: true, mode: "shared" as const },
        { steal: true, signal },
        { ifAvailable: true, signal },
      ];
      for (const options of cases) {
        let called = false;
        await assertDomException(
          locks.request(name, options, () => {
            called = true;
          }),
          "NotSupportedError",
        );
        assertEquals(called, false);
      }
      // spec: the name is checked first, then the options, then the signal.
      const aborted = AbortSignal.abort();
      await assertDomException(
        locks.request("-x", { signal: aborted }, () => {}),
        "NotSupportedError",
      );
      await assertDomException(
        locks.request(name, { steal: true, signal: aborted }, () => {}),
        "NotSupportedError",
      );
      // Nothing was queued by any of them.
      assertEquals(
        await locks.request(name, { ifAvailable: true }, (l) => l !== null),
        true,
      );
    },
  );

  it(
    "WebLocks.request() rejects with the reason of an already aborted signal, calling nothing",
    async (locks, name) => {
      let called = false;
      const error = await assertDomException(
        locks.request(name, { signal: AbortSignal.abort() }, () => {
          called = true;
        }),
        "AbortError",
      );
      assert(error instanceof DOMException);
      const reason = new Error("why");
      assertEquals(
        await rejection(
          locks.request(name, { signal: AbortSignal.abort(reason) }, () => {}),
        ),
        reason,
      );
      assertEquals(called, false);
    },
  );

  it("WebLocks.request() and query() reject with a TypeError when not called on a manager", async (locks) => {
    const { request, query } = locks;
    await assertTypeError(
      (request as (...a: unknown[]) => Promise<unknown>)("x", () => {}),
    );
    await assertTypeError(query.call({}));
    assertEquals(Object.prototype.toString.call(locks), "[object LockManager]");
  });

  // ------------------------------------------------------ the callback

  it(
    "WebLocks.request() calls the callback in a later task, after the requesting task's microtasks",
    async (locks, name) => {
      let called = false, ticks = 0;
      const done = locks.request(name, () => {
        called = true;
        return ticks;
      });
      assertEquals(called, false, "called inside request()");
      // A long chain of microtasks queued after request() all run first.
      const chain = async () => {
        for (let i = 0; i < 100; i++) {
          await undefined;
          ticks++;
        }
      };
      void chain();
      assertEquals(await done, 100);
    },
  );

  it(
    "WebLocks.request() called from a task's own code calls back after that task's microtasks",
    async (locks, name) => {
      // Called outside any microtask (a timer's task), where a runtime's
      // tick queue (process.nextTick) runs before the microtasks.
      const done = await new Promise<Promise<number>>((resolve) => {
        setTimeout(() => {
          let ticks = 0;
          const result = locks.request(name, () => ticks);
          void (async () => {
            for (let i = 0; i < 100; i++) {
              await undefined;
              ticks++;
            }
          })();
          resolve(result);
        }, 0);
      });
      assertEquals(await done, 100);
    },
  );

  it(
    "WebLocks.request() lets timers run during a long run of grants",
    async (locks, name) => {
      // A run of callbacks, each granted as the last one ends, must not keep
      // the event loop from its other tasks.
      let fired = false, before = 0;
      setTimeout(() => fired = true, 0);
      while (!fired && before < 100_000) {
        await locks.request(name, () => {});
        before++;
      }
      assert(fired, `a timer waited through ${before} grants`);
    },
  );

  it(
    "WebLocks.request() calls each granted callback in its own task",
    async (locks, name) => {
      const seen: string[] = [];
      const a = locks.request(`${name}-a`, async () => {
        seen.push("a starts");
        await undefined;
        await undefined;
        seen.push("a's microtasks");
      });
      const b = locks.request(`${name}-b`, () => {
        seen.push("b starts");
      });
      await Promise.all([a, b]);
      // In whichever order they were granted, a's microtasks ran before the
      // next task: right after it started.
      const at = seen.indexOf("a starts");
      assertEquals(seen[at + 1], "a's microtasks", seen.join(", "));
    },
  );

  it(
    "WebLocks.request() passes the callback one Lock with the name and mode, and no this",
    async (locks, name) => {
      let self: unknown = "unset", count = -1, lock: WebLock | undefined;
      await locks.request(name, { mode: "shared" }, function (
        this: unknown,
        ...args: unknown[]
      ) {
        self = this;
        count = args.length;
        lock = args[0] as WebLock;
      });
      assertEquals(self, undefined);
      assertEquals(count, 1);
      assertEquals([lock!.name, lock!.mode], [name, "shared"]);
      assertEquals(Object.prototype.toString.call(lock), "[object Lock]");
    },
  );

  // ------------------------------------------------------ release and result

  it(
    "WebLocks.request() resolves with the callback's result after the lock is released",
    async (locks, name) => {
      assertEquals(await locks.request(name, () => 1), 1);
      assertEquals(await locks.request(name, () => Promise.resolve(2)), 2);
      const thenable = { then: (resolve: (v: number) => void) => resolve(3) };
      assertEquals(
        await locks.request(name, () => thenable as unknown as PromiseLike<3>),
        3,
      );
      // spec: the released promise settles after the lock is released.
      const p = locks.request(name, async () => {
        await delay(1);
      });
      await p;
      assertEquals(
        await locks.request(name, { ifAvailable: true }, (l) => l !== null),
        true,
      );
    },
  );

  it(
    "WebLocks.request() rejects with what the callback throws or rejects with, and releases the lock",
    async (locks, name) => {
      const thrown = new Error("thrown");
      assertEquals(
        await rejection(locks.request(name, () => {
          throw thrown;
        })),
        thrown,
      );
      const rejected = new Error("rejected");
      assertEquals(
        await rejection(locks.request(name, () => Promise.reject(rejected))),
        rejected,
      );
      assertEquals(
        await locks.request(name, { ifAvailable: true }, (l) => l !== null),
        true,
      );
    },
  );

  it(
    "WebLocks.request() holds the lock until the callback's promise settles",
    async (locks, name) => {
      const first = await hold(locks, name);
      const second = track(locks.request(name, () => "second"));
      await delay(quietMs);
      assertEquals(second.settled, false, "granted while held");
      first.release();
      await first.done;
      assertEquals(await second.promise, "second");
    },
  );

  it(
    "WebLocks.request() grants one exclusive holder at a time, in request order",
    async (locks, name) => {
      const order: number[] = [];
      let inside = 0;
      await Promise.all(
        [0, 1, 2, 3, 4].map((i) =>
          locks.request(name, async () => {
            assertEquals(++inside, 1, "two exclusive holders");
            order.push(i);
            await delay(2);
            inside--;
          })
        ),
      );
      assertEquals(order, [0, 1, 2, 3, 4]);
    },
  );

  it(
    "WebLocks.request() grants shared requests together, and a later shared one waits behind a queued exclusive",
    async (locks, name) => {
      const a = await hold(locks, name, { mode: "shared" });
      const b = await hold(locks, name, { mode: "shared" });
      const writer = track(locks.request(name, () => "writer"));
      await delay(quietMs);
      const reader = track(
        locks.request(name, { mode: "shared" }, () => "reader"),
      );
      await delay(quietMs);
      assertEquals([writer.settled, reader.settled], [false, false]);
      a.release();
      b.release();
      assertEquals(await writer.promise, "writer");
      assertEquals(await reader.promise, "reader");
    },
  );

  it(
    "WebLocks.request() grants the shared requests queued behind an exclusive one when it is aborted",
    async (locks, name) => {
      // spec: "signal to abort the request" removes it from the queue and
      // processes the queue again: the shared requests behind it join the
      // shared holder at once, not when the holder releases.
      const a = await hold(locks, name, { mode: "shared" });
      const controller = new AbortController();
      const writer = track(
        locks.request(name, { signal: controller.signal }, () => "writer"),
      );
      await delay(quietMs);
      const reader = track(
        locks.request(name, { mode: "shared" }, () => "reader"),
      );
      await delay(quietMs);
      assertEquals([writer.settled, reader.settled], [false, false]);
      const reason = new Error("gone");
      controller.abort(reason);
      assertEquals(await rejection(writer.promise), reason);
      assertEquals(await keepingAlive(reader.promise), "reader");
      a.release();
      await a.done;
    },
  );

  // ------------------------------------------------------ ifAvailable

  it(
    "WebLocks.request() with ifAvailable grants a free lock and calls back with null, in a later task, when busy",
    async (locks, name) => {
      assertEquals(
        await locks.request(name, { ifAvailable: true }, (l) => l?.name),
        name,
      );
      const held = await hold(locks, name);
      let called = false;
      const busy = locks.request(name, { ifAvailable: true }, (lock) => {
        called = true;
        return lock;
      });
      assertEquals(called, false, "called inside request()");
      assertEquals(await busy, null);
      // The callback's result is the request's, also its rejection.
      const error = new Error("busy");
      assertEquals(
        await rejection(locks.request(name, { ifAvailable: true }, () => {
          throw error;
        })),
        error,
      );
      // It never queued.
      assertEquals(mine((await locks.query()).pending, name), []);
      held.release();
      await held.done;
    },
  );

  it(
    "WebLocks.request() with ifAvailable is not grantable behind a queue, even in a compatible mode",
    async (locks, name) => {
      const reader = await hold(locks, name, { mode: "shared" });
      assertEquals(
        await locks.request(
          name,
          { mode: "shared", ifAvailable: true },
          (l) => l !== null,
        ),
        true,
        "a shared lock was not grantable to a shared request",
      );
      const writer = track(locks.request(name, () => {}));
      await delay(quietMs);
      assertEquals(
        await locks.request(
          name,
          { mode: "shared", ifAvailable: true },
          (l) => l,
        ),
        null,
      );
      reader.release();
      await writer.promise;
    },
  );

  // ------------------------------------------------------ signal

  it(
    "WebLocks.request() rejects with the signal's reason and leaves the queue when aborted while waiting",
    async (locks, name) => {
      const held = await hold(locks, name);
      const controller = new AbortController();
      let called = false;
      const waiting = locks.request(name, { signal: controller.signal }, () => {
        called = true;
      });
      const state = await locks.query();
      assertEquals(mine(state.held, name).length, 1);
      assertEquals(mine(state.pending, name).length, 1);
      const rejected = assertDomException(waiting, "AbortError");
      controller.abort();
      await rejected;
      assertEquals(mine((await locks.query()).pending, name), []);
      const next = locks.request(name, () => "next");
      held.release();
      assertEquals(await next, "next");
      assertEquals(called, false);
    },
  );

  it(
    "WebLocks.request() is aborted by a signal that aborts in the same task, even when the lock was free",
    async (locks, name) => {
      const controller = new AbortController();
      let called = false;
      const p = locks.request(name, { signal: controller.signal }, () => {
        called = true;
      });
      controller.abort();
      await assertDomException(p, "AbortError");
      assertEquals(called, false);
      // The lock it may have been granted is free again.
      assertEquals(await locks.request(name, () => "free"), "free");
    },
  );

  it(
    "WebLocks.request() hands the lock on when a granted request is aborted before its callback",
    async (locks, name) => {
      const controller = new AbortController();
      const first = locks.request(name, { signal: controller.signal }, () => {
        throw new Error("should not run");
      });
      const next = locks.request(name, () => "resolved");
      controller.abort();
      await assertDomException(first, "AbortError");
      assertEquals(await next, "resolved");
    },
  );

  it(
    "WebLocks.request() ignores an abort once the callback runs, and after the lock is released",
    async (locks, name) => {
      for (const abortWhen of ["holding", "released"]) {
        const controller = new AbortController();
        const granted = deferred();
        const release = deferred<string>();
        const p = locks.request(name, { signal: controller.signal }, () => {
          granted.resolve();
          return release.promise;
        });
        await granted.promise;
        if (abortWhen === "holding") controller.abort();
        release.resolve("resolved ok");
        if (abortWhen === "released") controller.abort();
        assertEquals(await p, "resolved ok");
      }
    },
  );

  it(
    "WebLocks.request() with a signal that never aborts is granted as without one",
    async (locks, name) => {
      let got = false;
      await locks.request(
        name,
        { signal: new AbortController().signal },
        () => {
          got = true;
        },
      );
      assertEquals(got, true);
    },
  );

  // ------------------------------------------------------ steal

  if (backend.steal === false) {
    it(
      "WebLocks.request() with steal rejects with NotSupportedError where the type cannot steal",
      async (locks, name) => {
        await assertDomException(
          locks.request(name, { steal: true }, () => {}),
          "NotSupportedError",
        );
      },
    );
  } else {
    it(
      "WebLocks.request() with steal on a free lock grants it",
      async (locks, name) => {
        assertEquals(
          await locks.request(name, { steal: true }, (l) => l.mode),
          "exclusive",
        );
      },
    );

    it(
      "WebLocks.request() with steal takes a held lock at once: the holder's promise rejects with AbortError",
      async (locks, name) => {
        const holder = await hold(locks, name);
        const queued = track(locks.request(name, () => "queued"));
        await delay(quietMs);
        const thief = deferred();
        const stolen = locks.request(name, { steal: true }, (lock) => {
          assert(lock.fence > holder.lock.fence, "the thief's fence is lower");
          return thief.promise.then(() => "thief");
        });
        await assertDomException(holder.done, "AbortError");
        // The old callback still runs (the spec cannot stop it); its end
        // frees nothing.
        holder.release();
        await delay(quietMs);
        assertEquals(
          await locks.request(name, { ifAvailable: true }, (l) => l),
          null,
        );
        assertEquals(
          queued.settled,
          false,
          "a queued request passed the thief",
        );
        thief.resolve();
        assertEquals(await stolen, "thief");
        assertEquals(await queued.promise, "queued");
      },
    );

    it(
      "WebLocks.request() with steal takes the lock from every shared holder",
      async (locks, name) => {
        const a = await hold(locks, name, { mode: "shared" });
        const b = await hold(locks, name, { mode: "shared" });
        assertEquals(
          await locks.request(name, { steal: true }, () => "thief"),
          "thief",
        );
        await assertDomException(a.done, "AbortError");
        await assertDomException(b.done, "AbortError");
        // Its signal aborts too: at once locally, at the lease's next renewal
        // on a distributed type.
        for (let i = 0; i < 500 && !a.lock.signal.aborted; i++) await delay(10);
        assert(a.lock.signal.aborted, "a stolen lock's signal did not abort");
        a.release();
        b.release();
      },
    );

    it(
      "WebLocks.request() with steal takes the lock from another manager's holder",
      async (locks, name) => {
        const other = make();
        const holder = await hold(other, name);
        assertEquals(
          await locks.request(name, { steal: true }, () => "thief"),
          "thief",
        );
        // The other client hears it at once (local) or at its lease's next
        // renewal (a third of its lease on the distributed types).
        const error = await assertDomException(
          keepingAlive(holder.done),
          "AbortError",
        );
        assert(/stolen/.test(error.message), error.message);
        holder.release();
      },
    );
  }

  // ------------------------------------------------------ query

  it(
    "WebLocks.query() shows held locks and pending requests with name, mode and clientId",
    async (locks, name) => {
      assertEquals(mine((await locks.query()).held, name), []);
      const a = await hold(locks, name, { mode: "shared" });
      const b = await hold(locks, name, { mode: "shared" });
      const w = track(locks.request(name, () => {}));
      const r = track(locks.request(name, { mode: "shared" }, () => {}));
      const state = await locks.query();
      const id = locks.clientId;
      assert(typeof id === "string" && id.length > 0, `clientId ${id}`);
      assertEquals(mine(state.held, name), [
        { name, mode: "shared", clientId: id },
        { name, mode: "shared", clientId: id },
      ]);
      assertEquals(mine(state.pending, name), [
        { name, mode: "exclusive", clientId: id },
        { name, mode: "shared", clientId: id },
      ]);
      // A snapshot is plain data, and not kept.
      state.held.length = 0;
      assertEquals(mine((await locks.query()).held, name).length, 2);
      a.release();
      b.release();
      await w.promise;
      await r.promise;
      assertEquals(mine((await locks.query()).held, name), []);
      assertEquals(mine((await locks.query()).pending, name), []);
    },
  );

  it(
    "WebLocks.query() counts a request made before it, as held once granted, also before its callback runs",
    async (locks, name) => {
      let called = false;
      const release = deferred();
      const p = locks.request(name, () => {
        called = true;
        return release.promise;
      });
      const state = await locks.query();
      // Locally the snapshot comes before the callback's task; a distributed
      // backend's reply may come after it, and shows the lock held either way.
      if (type === "local" || type === "thread") {
        assertEquals(called, false);
        assertEquals(mine(state.held, name).length, 1);
        assertEquals(mine(state.pending, name), []);
      } else {
        // A distributed backend may not have its first call yet: this
        // manager then reports it pending. It is in the snapshot either way.
        assertEquals(
          mine(state.held, name).length + mine(state.pending, name).length,
          1,
        );
      }
      release.resolve();
      await p;
    },
  );

  it(
    "WebLocks.query() lists pending requests in request order and held ones in grant order",
    async (locks, name) => {
      const first = await hold(locks, name);
      const modes = ["shared", "exclusive", "shared", "shared", "exclusive"];
      const waiting = modes.map((mode) =>
        track(locks.request(name, { mode: mode as "shared" }, () => {}))
      );
      assertEquals(
        mine((await locks.query()).pending, name).map((p) => p.mode),
        modes,
      );
      first.release();
      await Promise.all(waiting.map((w) => w.promise));
    },
  );

  it(
    "WebLocks.clientId is stable for a manager and distinct between managers, which share the names",
    async (locks, name) => {
      const other = make();
      assert(
        locks.clientId !== other.clientId,
        "two managers share a clientId",
      );
      const held = await hold(locks, name);
      const waiting = track(other.request(name, () => "other"));
      await delay(quietMs);
      assertEquals(waiting.settled, false, "two managers do not share names");
      for (const manager of [locks, other]) {
        const state = await manager.query();
        assertEquals(mine(state.held, name).map((h) => h.clientId), [
          locks.clientId,
        ]);
        assertEquals(mine(state.pending, name).map((p) => p.clientId), [
          other.clientId,
        ]);
      }
      held.release();
      assertEquals(await waiting.promise, "other");
      const id = locks.clientId;
      await locks.request(name, () => {});
      assertEquals(locks.clientId, id);
    },
  );

  it("WebLock.fence rises with every grant of a name", async (locks, name) => {
    const fences: number[] = [];
    for (let i = 0; i < 3; i++) {
      fences.push(await locks.request(name, (l) => l.fence));
    }
    fences.push(await locks.request(name, { mode: "shared" }, (l) => l!.fence));
    for (let i = 1; i < fences.length; i++) {
      assert(fences[i]! > fences[i - 1]!, `fences ${fences}`);
    }
  });

  // ------------------------------------------------------ beyond the spec

  it("createWebLocks() refuses 'name', unknown options and a bad clientId or callbackIn, naming them", () => {
    const bad = [
      [{ name: "x" }, "'name'"],
      [{ clientid: "x" }, "did you mean 'clientId'"],
      [{ clientId: "" }, "'clientId'"],
      [{ callbackIn: "soon" }, "'callbackIn'"],
    ] as const;
    for (const [options, part] of bad) {
      let error: unknown;
      try {
        createWebLocks(type, { ...backend.options?.(), ...options } as never);
      } catch (e) {
        error = e;
      }
      assert(
        error instanceof TypeError,
        `no TypeError for ${JSON.stringify(options)}`,
      );
      assert(error.message.includes(part), error.message);
    }
    const named = createWebLocks(type, {
      ...backend.options?.(),
      clientId: "worker-7",
    } as never);
    assertEquals(named.clientId, "worker-7");
    return Promise.resolve();
  });

  it(
    "createWebLocks() with callbackIn microtask calls back after request() returns, and a same-task abort still wins",
    async (_, name) => {
      const locks = createWebLocks(type, {
        ...backend.options?.(),
        callbackIn: "microtask",
      } as never);
      let called = false;
      const done = locks.request(name, () => {
        called = true;
        return "soon";
      });
      assertEquals(called, false, "called inside request()");
      assertEquals(await done, "soon");
      const controller = new AbortController();
      const aborted = locks.request(name, { signal: controller.signal }, () => {
        called = false;
      });
      controller.abort();
      await assertDomException(aborted, "AbortError");
      assertEquals(called, true, "the aborted request's callback ran");
    },
  );
}
