// Copyright 2026 the unilock authors. MIT license.
/**
 * @internal Proof that the contract suite can fail: it is run against two
 * deliberately broken lock types, and the tests that guard what each breaks
 * must fail.
 */

import {
  type AcquireOptions,
  type Lease,
  LocalLock,
  type Lock,
  type LockMetrics,
  type LockOptions,
  type LockSnapshot,
  LockTimeoutError,
  registerLockType,
} from "../mod.ts";
import { assert } from "./_assert.ts";
import { lockContract, randomName, type RegisterTest } from "./_contract.ts";

// The broken types these tests register, declared as a user declares theirs.
declare module "../mod.ts" {
  interface LockTypes {
    [broken: `broken-${string}`]: LockOptions;
  }
}

/** Grants every request at once: no exclusion at all. */
class NonExcludingLock implements Lock {
  readonly type: string;
  readonly name: string;
  #fence = 0;
  #held = 0;
  constructor(type: string, name: string) {
    this.type = type;
    this.name = name;
  }
  acquire(options?: AcquireOptions): Promise<Lease> {
    if (options?.signal?.aborted) return Promise.reject(options.signal.reason);
    this.#held++;
    let released = false;
    const lease: Lease = {
      name: this.name,
      mode: options?.mode ?? "exclusive",
      fence: ++this.#fence,
      signal: new AbortController().signal,
      get released() {
        return released;
      },
      release: () => {
        if (!released) this.#held--;
        released = true;
        return Promise.resolve();
      },
      extend: () => Promise.resolve(),
      [Symbol.asyncDispose]: () => lease.release(),
    };
    return Promise.resolve(lease);
  }
  tryAcquire(options?: AcquireOptions): Promise<Lease | undefined> {
    return this.acquire(options);
  }
  async withLock<T>(
    fn: (lease: Lease) => T | Promise<T>,
    options?: AcquireOptions,
  ): Promise<T> {
    const lease = await this.acquire(options);
    try {
      return await fn(lease);
    } finally {
      await lease.release();
    }
  }
  isLocked(): Promise<boolean> {
    return Promise.resolve(this.#held > 0);
  }
  metrics(): LockMetrics {
    const none = { count: 0, sum: 0, p50: 0, p90: 0, p99: 0, max: 0 };
    return {
      acquisitions: this.#fence,
      contended: 0,
      busy: 0,
      timeouts: 0,
      aborts: 0,
      lost: 0,
      releaseFailures: 0,
      holders: this.#held,
      waiters: 0,
      waitMs: none,
      holdMs: none,
    };
  }
  query(): Promise<LockSnapshot> {
    return Promise.resolve({ held: [], pending: [] });
  }
  subscribe(): () => void {
    return () => {};
  }
}

/**
 * Times out like async-mutex's `withTimeout`: the caller is rejected but its
 * request stays queued, is granted later and never released.
 */
class GhostWaiterLock extends LocalLock {
  override readonly type: string;
  constructor(type: string, name: string) {
    super({ name });
    this.type = type;
  }
  override acquire(options?: AcquireOptions): Promise<Lease> {
    if (options?.timeoutMs === undefined) return super.acquire(options);
    const { timeoutMs, ...rest } = options;
    const request = super.acquire(rest);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new LockTimeoutError(this.name, timeoutMs)),
        timeoutMs,
      );
      request.then((lease) => {
        clearTimeout(timer);
        resolve(lease);
      }, reject);
    });
  }
}

/** Runs the whole contract against `type` and returns the names of the tests that failed. */
async function failures(type: `broken-${string}`): Promise<string[]> {
  const tests: [string, () => Promise<void>][] = [];
  lockContract((name, fn) => tests.push([name, fn]), { type, quietMs: 5 });
  const failed: string[] = [];
  for (const [name, fn] of tests) {
    // A broken lock can leave a test waiting forever: that is a failure too.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("hung")), 500);
    });
    try {
      await Promise.race([fn(), deadline]);
    } catch {
      failed.push(name);
    } finally {
      clearTimeout(timer);
    }
  }
  return failed;
}

export function contractCanFailSuite(test: RegisterTest): void {
  test("lockContract() fails against a lock that does not exclude", async () => {
    const type = randomName("broken-no-exclusion");
    registerLockType(
      type,
      (options) => new NonExcludingLock(type, String(options.name)),
    );
    const failed = await failures(type);
    for (
      const expected of [
        "Lock.withLock() never lets two critical sections overlap",
        "Lock.acquire() waits while the lock is held",
        "Lock.tryAcquire() resolves undefined when the lock is held",
        "Lock.acquire() rejects with LockTimeoutError when timeoutMs passes",
      ]
    ) {
      assert(
        failed.some((name) => name.includes(expected)),
        `the contract did not catch: ${expected}; failed: ${
          failed.join(" | ")
        }`,
      );
    }
  });

  test("lockContract() fails against a lock that leaves ghost waiters", async () => {
    const type = randomName("broken-ghosts");
    registerLockType(
      type,
      (options) => new GhostWaiterLock(type, String(options.name)),
    );
    const failed = await failures(type);
    assert(
      failed.some((name) => name.includes("leaves no ghost waiter behind")),
      `the contract did not catch ghost waiters; failed: ${failed.join(" | ")}`,
    );
  });
}
