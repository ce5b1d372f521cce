// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.

import {
  LockBackendError,
  LockTimeoutError,
  SemaphoreTimeoutError,
} from "../core/errors.ts";
import type {
  LockInfo,
  LockListener,
  LockMetrics,
  Semaphore,
  SemaphoreAcquireOptions,
  SemaphoreInfo,
  SemaphoreLease,
  SemaphoreSnapshot,
} from "../core/types.ts";
import { attachRecorder } from "../core/_recorder.ts";
import { released } from "../core/_hold.ts";
import {
  checkCapacity,
  checkFn,
  checkSemaphoreOptions,
} from "../core/_validate.ts";
import type { RemoteDriver } from "./driver.ts";
import type { RemoteLock, RemoteLockOptions } from "./remote_lock.ts";
import { remoteInternals } from "./_remote_internals.ts";

/** Options of {@linkcode RemoteSemaphore}, given by a backend's semaphore class. */
export interface RemoteSemaphoreOptions extends RemoteLockOptions {
  /**
   * The capacity: the most permits out at once across every client of the
   * name, 1 to `MAX_PERMITS`. Every request carries it; the server refuses
   * one that disagrees with the name's holders and waiters.
   */
  permits: number;
}

/**
 * The error for a request the server refused because the name's holders and
 * waiters have another capacity (`0`: they hold it as a lock).
 */
function refusal(
  name: string,
  mine: number,
  theirs: number,
  at: string,
): Error {
  return theirs === 0
    ? new TypeError(
      `Cannot acquire semaphore "${name}" as the name is in use at ${at} as a lock: a lock and a semaphore cannot share a name`,
    )
    : new RangeError(
      `Cannot acquire semaphore "${name}" as 'permits' (its capacity) is ${mine} here but ${theirs} for the holders and waiters of the name at ${at}: every client of a semaphore must give the same permits, and a name's capacity changes only once nobody holds or waits for it`,
    );
}

/**
 * A counting semaphore on a distributed backend: a `RemoteLock` (the one
 * client life cycle of every remote backend) whose requests each take some
 * permits of a capacity they carry. The server admits the head of its queue
 * while the permits held plus the head's fit the capacity (head-of-line:
 * nobody behind it goes first), so a weighted request is never passed by
 * lighter ones of the same priority. The lease is the lock's — renewed,
 * lost when it cannot be, fenced — plus `permits`.
 *
 * The `upstash` and `durable-object` semaphore types are remote semaphores;
 * a driver of your own must say `semaphores: true` (its server admits by
 * `permits` and `capacity`), or the constructor refuses it.
 *
 * @example A driver of your own, in one object
 * ```ts
 * import { RemoteSemaphore, type RemoteDriver } from "@unilock/unilock";
 * import assert from "node:assert/strict";
 *
 * // A "server" in memory that admits by permits, to show the shape.
 * const held = new Map<string, number>();
 * let fence = 0;
 * const used = () => [...held.values()].reduce((a, b) => a + b, 0);
 * const driver: RemoteDriver = {
 *   type: "toy",
 *   target: "memory",
 *   minLeaseMs: 100,
 *   semaphores: true,
 *   acquire: async (r) =>
 *     used() + r.permits! <= r.capacity!
 *       ? (held.set(r.token, r.permits!), { state: "granted", fence: ++fence, leaseMs: r.leaseMs })
 *       : { state: "busy" },
 *   release: async (token) => held.delete(token),
 *   extend: async (token, leaseMs) => ({ held: held.has(token), leaseMs }),
 *   cancel: async () => "cancelled",
 *   // While a semaphore holds: the permits held, and its capacity.
 *   status: async () => ({ holders: held.size, waiters: 0, permits: used(), capacity: 3 }),
 *   query: async () => ({ held: [], pending: [] }),
 * };
 * const sem = new RemoteSemaphore(driver, { name: "exports", permits: 3 });
 * const lease = await sem.acquire({ permits: 2, timeoutMs: 0 });
 * assert.equal(lease.permits, 2);
 * assert.equal(await sem.available(), 1);
 * assert.equal(await sem.tryAcquire({ permits: 2 }), undefined);
 * await lease.release();
 * ```
 */
export class RemoteSemaphore implements Semaphore {
  /** The semaphore's name. */
  readonly name: string;
  /** The driver's type. */
  readonly type: string;
  /** The capacity: the most permits out at once. */
  readonly permits: number;
  #lock: RemoteLock;
  /** Where the backend is, for errors. */
  #target: string;

  /**
   * Builds a semaphore on `driver`; checks the options now.
   *
   * @param driver The backend's atomic operations; it must admit by permits.
   * @param options The name, the capacity (`permits`), lease and request timeout.
   */
  constructor(driver: RemoteDriver, options: RemoteSemaphoreOptions) {
    const action = `create ${driver?.type} semaphore`;
    this.permits = checkCapacity(action, options?.permits);
    if (driver.semaphores !== true) {
      throw new TypeError(
        `Cannot ${action} as its driver does not admit by permits ('semaphores' is not true): its server would over-admit`,
      );
    }
    const { permits: _, ...lockOptions } = options;
    this.#lock = remoteInternals.create(
      driver,
      lockOptions,
      this.permits,
      (theirs) => refusal(this.name, this.permits, theirs, driver.target),
    );
    this.#target = driver.target;
    this.name = this.#lock.name;
    this.type = this.#lock.type;
    attachRecorder(this, remoteInternals.recorder(this.#lock));
  }

  /**
   * Waits, in FIFO order (or by `priority`) across all clients, until the
   * permits (default 1) are granted, all at once.
   *
   * @param options Permits, timeout, signal, lease length, priority and owner.
   * @returns The lease; it renews itself until released.
   * @throws {SemaphoreTimeoutError} When `timeoutMs` passes first.
   * @throws {RangeError} When the name's holders and waiters have another capacity.
   * @throws {LockBackendError} When the backend cannot be reached or answers oddly.
   */
  acquire(options?: SemaphoreAcquireOptions): Promise<SemaphoreLease> {
    let checked;
    try {
      checked = checkSemaphoreOptions(this.name, this.permits, options);
    } catch (error) {
      return Promise.reject(error);
    }
    const { signal } = checked;
    return (remoteInternals.acquire(this.#lock, checked) as Promise<
      SemaphoreLease
    >).catch((error: unknown) => {
      // The core times out as a lock: giving it a semaphore's class would
      // put one in every Worker's lock bundle, which is at its budget
      // (test/check_sizes.mjs). A reason the caller aborted with is theirs,
      // passed on as it is, whatever its class.
      throw error instanceof LockTimeoutError && error !== signal?.reason
        ? new SemaphoreTimeoutError(error.lockName, error.timeoutMs)
        : error;
    });
  }

  /**
   * Takes the permits only if they are free and nobody waits first (one
   * request); otherwise resolves `undefined`.
   *
   * @param options Permits, lease length, owner and signal; `timeoutMs` does not apply.
   * @returns The lease, or `undefined` when the permits are not free now.
   * @throws {LockBackendError} When the backend cannot be reached or answers oddly.
   */
  tryAcquire(
    options?: SemaphoreAcquireOptions,
  ): Promise<SemaphoreLease | undefined> {
    try {
      return remoteInternals.tryAcquire(
        this.#lock,
        checkSemaphoreOptions(this.name, this.permits, options),
      ) as Promise<SemaphoreLease | undefined>;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Runs `fn` while holding the permits, then releases them, also when `fn`
   * throws. A release that fails after it is reported (a `release-failed`
   * event) and the lease ends by its expiry.
   *
   * @typeParam T The result of `fn`.
   * @param fn The section; it receives the lease (watch `lease.signal`).
   * @param options Permits, timeout, signal, lease length, priority and owner.
   * @returns What `fn` returned.
   */
  async withPermits<T>(
    fn: (lease: SemaphoreLease) => T | Promise<T>,
    options?: SemaphoreAcquireOptions,
  ): Promise<T> {
    checkFn(this.name, fn);
    const lease = await this.acquire(options);
    try {
      return await fn(lease);
    } finally {
      // As withLock: a release that hangs goes on in the background.
      await released(lease);
    }
  }

  /**
   * How many permits are not held now, by the server's clock (one request).
   *
   * @returns The capacity less the permits held.
   * @throws {RangeError} When the name's holders and waiters have another capacity.
   * @throws {LockBackendError} When the backend cannot be reached or answers oddly.
   */
  async available(): Promise<number> {
    const { holders, waiters, permits = 0, capacity = 0 } =
      await remoteInternals.status(this.#lock);
    // Held or awaited without a capacity: as a lock.
    if (holders + waiters > 0 && capacity !== this.permits) {
      throw refusal(this.name, this.permits, capacity, this.#target);
    }
    if (!Number.isSafeInteger(permits) || permits < 0) {
      throw new LockBackendError(
        this.name,
        `status said ${permits} permits are held`,
      );
    }
    return Math.max(0, this.permits - permits);
  }

  /**
   * What this client's acquisitions counted and timed (`query()` shows
   * every client's); `holders` counts leases, not permits.
   *
   * @returns A new snapshot.
   */
  metrics(): LockMetrics {
    return this.#lock.metrics();
  }

  /**
   * Who holds permits and who waits for them, across all clients, with
   * their permits: one request (ages by the server's clock).
   *
   * @returns Held leases (by fence) and pending acquisitions (in queue order).
   * @throws {LockBackendError} When the backend cannot be reached or answers oddly.
   */
  async query(): Promise<SemaphoreSnapshot> {
    const { held, pending } = await this.#lock.query();
    const withPermits = (info: LockInfo): SemaphoreInfo => ({
      ...info,
      // A lock's entries (a name shared by mistake) hold all, or 1.
      permits: info.permits ??
        (info.mode === "exclusive" ? this.permits : 1),
    });
    return { held: held.map(withPermits), pending: pending.map(withPermits) };
  }

  /**
   * Calls `listener` with each event of this client's acquisitions.
   *
   * @param listener Called synchronously with each event.
   * @returns A function that unsubscribes `listener`.
   */
  subscribe(listener: LockListener): () => void {
    return this.#lock.subscribe(listener);
  }
}
