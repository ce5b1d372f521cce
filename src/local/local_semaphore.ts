// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.

import type {
  LockListener,
  LockMetrics,
  Semaphore,
  SemaphoreAcquireOptions,
  SemaphoreLease,
  SemaphoreOptions,
  SemaphoreSnapshot,
} from "../core/types.ts";
import {
  checkCapacity,
  checkFn,
  checkOptions,
  checkSemaphoreOptions,
} from "../core/_validate.ts";
import { attachRecorder } from "../core/_recorder.ts";
import type { LocalLock, LocalLockOptions } from "./local_lock.ts";
import { localInternals, type PermitLease } from "./_local_internals.ts";

function isLease(value: unknown): value is PermitLease {
  return typeof (value as Promise<unknown>).then !== "function";
}

// Takes the lease itself when granted at once, so the uncontended path pays
// no extra await (as LocalLock.withLock does).
async function holding<T>(
  granted: PermitLease | Promise<PermitLease>,
  fn: (lease: SemaphoreLease) => T | Promise<T>,
): Promise<T> {
  const lease = isLease(granted) ? granted : await granted;
  try {
    const result = fn(lease);
    // A synchronous section releases at once, not a tick later: under
    // contention the next holder waits for that tick.
    if (
      result === null ||
      (typeof result !== "object" && typeof result !== "function") ||
      typeof (result as Promise<T>).then !== "function"
    ) return result as T;
    return await result;
  } finally {
    // A local release is synchronous; awaiting it would only add a tick.
    void lease.release();
  }
}

/** Options for {@linkcode LocalSemaphore}. */
export interface LocalSemaphoreOptions
  extends LocalLockOptions, SemaphoreOptions {}

/**
 * A counting semaphore within one isolate: the `local` semaphore type. It is
 * a `LocalLock` whose shared holders may hold `permits` permits together, so
 * it has the lock's queue and its rules: O(1) enqueue, grant and cancel,
 * head-of-line FIFO (a request waits until its permits fit, and nobody
 * behind it is admitted first), priorities that age, timeouts, `signal`,
 * and fences that rise with every grant.
 *
 * @example At most two downloads at once
 * ```ts
 * import { LocalSemaphore } from "@unilock/unilock";
 * import assert from "node:assert/strict";
 *
 * const downloads = new LocalSemaphore({ name: "downloads", permits: 2 });
 * let running = 0, most = 0;
 * await Promise.all([1, 2, 3, 4, 5].map(() =>
 *   downloads.withPermits(async () => {
 *     most = Math.max(most, ++running);
 *     await new Promise((resolve) => setTimeout(resolve, 5));
 *     running--;
 *   })
 * ));
 * assert.equal(most, 2);
 * ```
 */
export class LocalSemaphore implements Semaphore {
  /** The semaphore's name. */
  readonly name: string;
  /** Always `"local"`. */
  readonly type: string = "local";
  /** The capacity: the most permits out at once. */
  readonly permits: number;
  #lock: LocalLock;

  /**
   * Constructs a new instance.
   *
   * @param options The capacity (`permits`) and a name.
   */
  constructor(options: LocalSemaphoreOptions) {
    const action = "create semaphore";
    checkOptions(action, options);
    this.permits = checkCapacity(action, options?.permits);
    this.#lock = localInternals.create(
      options.name === undefined ? undefined : { name: options.name },
      this.permits,
    );
    this.name = this.#lock.name;
    // A manager's totals find this semaphore's recorder (it is the lock's).
    attachRecorder(this, localInternals.recorder(this.#lock));
  }

  /**
   * Waits until `permits` (default 1) are granted, in FIFO order.
   *
   * @example A heavy request is not passed by lighter ones
   * ```ts
   * import { LocalSemaphore } from "@unilock/unilock";
   * import assert from "node:assert/strict";
   *
   * const sem = new LocalSemaphore({ permits: 3 });
   * const first = await sem.acquire({ permits: 2 });
   * const order: string[] = [];
   * const heavy = sem.acquire({ permits: 3 }).then((l) => (order.push("heavy"), l));
   * const light = sem.acquire().then((l) => (order.push("light"), l));
   * await first.release(); // 3 free: the heavy one goes first
   * await (await heavy).release();
   * await (await light).release();
   * assert.deepEqual(order, ["heavy", "light"]);
   * ```
   *
   * @param options Permits, timeout, signal, priority and owner.
   * @returns The lease; release it when done.
   * @throws {SemaphoreTimeoutError} When `timeoutMs` passes first.
   */
  acquire(options?: SemaphoreAcquireOptions): Promise<SemaphoreLease> {
    if (options === undefined) {
      const granted = localInternals.acquireOne(this.#lock);
      return isLease(granted) ? Promise.resolve(granted) : granted;
    }
    try {
      return localInternals.acquire(
        this.#lock,
        checkSemaphoreOptions(this.name, this.permits, options),
      );
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Takes the permits only if they are free and nobody waits first;
   * otherwise resolves `undefined`.
   *
   * @example Trying for a permit
   * ```ts
   * import { LocalSemaphore } from "@unilock/unilock";
   * import assert from "node:assert/strict";
   *
   * const sem = new LocalSemaphore({ permits: 1 });
   * const lease = await sem.tryAcquire();
   * assert.ok(lease !== undefined);
   * assert.equal(await sem.tryAcquire(), undefined);
   * await lease.release();
   * ```
   *
   * @param options Permits, owner and signal; `timeoutMs` does not apply.
   * @returns The lease, or `undefined` when the permits are not free now.
   */
  tryAcquire(
    options?: SemaphoreAcquireOptions,
  ): Promise<SemaphoreLease | undefined> {
    try {
      const { permits, owner, signal } = checkSemaphoreOptions(
        this.name,
        this.permits,
        options,
      );
      if (signal?.aborted) return Promise.reject(signal.reason);
      return Promise.resolve(
        localInternals.tryAcquire(this.#lock, permits, owner),
      );
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Runs `fn` while holding the permits, then releases them, also when `fn`
   * throws or rejects.
   *
   * @example A concurrency limit
   * ```ts
   * import { LocalSemaphore } from "@unilock/unilock";
   * import assert from "node:assert/strict";
   *
   * const sem = new LocalSemaphore({ permits: 4 });
   * const got = await sem.withPermits((lease) => lease.permits, { permits: 3 });
   * assert.equal(got, 3);
   * assert.equal(await sem.available(), 4);
   * ```
   *
   * @typeParam T The result of `fn`.
   * @param fn The section; it receives the lease.
   * @param options Permits, timeout, signal, priority and owner.
   * @returns What `fn` returned.
   */
  withPermits<T>(
    fn: (lease: SemaphoreLease) => T | Promise<T>,
    options?: SemaphoreAcquireOptions,
  ): Promise<T> {
    try {
      checkFn(this.name, fn);
    } catch (error) {
      return Promise.reject(error);
    }
    return holding(
      options === undefined
        ? localInternals.acquireOne(this.#lock)
        : this.acquire(options),
      fn,
    );
  }

  /**
   * How many permits are not held now.
   *
   * @example Free permits
   * ```ts
   * import { LocalSemaphore } from "@unilock/unilock";
   * import assert from "node:assert/strict";
   *
   * const sem = new LocalSemaphore({ permits: 5 });
   * await using _lease = await sem.acquire({ permits: 2 });
   * assert.equal(await sem.available(), 3);
   * ```
   *
   * @returns The capacity less the permits held.
   */
  available(): Promise<number> {
    return Promise.resolve(localInternals.available(this.#lock));
  }

  /**
   * What this isolate's acquisitions counted and timed, as for a
   * `LocalLock` (`holders` counts leases, not permits).
   *
   * @returns A new snapshot.
   */
  metrics(): LockMetrics {
    return this.#lock.metrics();
  }

  /**
   * Who holds permits and who waits for them now, with their permits.
   *
   * @example Holders and waiters
   * ```ts
   * import { LocalSemaphore } from "@unilock/unilock";
   * import assert from "node:assert/strict";
   *
   * const sem = new LocalSemaphore({ name: "exports", permits: 3 });
   * const lease = await sem.acquire({ permits: 2, owner: "a" });
   * const waiting = sem.acquire({ permits: 2, owner: "b" });
   * const { held, pending } = await sem.query();
   * assert.deepEqual(held.map((h) => [h.owner, h.permits]), [["a", 2]]);
   * assert.deepEqual(pending.map((p) => [p.owner, p.permits]), [["b", 2]]);
   * await lease.release();
   * await (await waiting).release();
   * ```
   *
   * @returns Held leases (by fence) and pending acquisitions (in queue order).
   */
  query(): Promise<SemaphoreSnapshot> {
    return this.#lock.query() as Promise<SemaphoreSnapshot>;
  }

  /**
   * Calls `listener` with each event of the semaphore's acquisitions.
   *
   * @param listener Called synchronously with each event.
   * @returns A function that unsubscribes `listener`.
   */
  subscribe(listener: LockListener): () => void {
    return this.#lock.subscribe(listener);
  }
}
