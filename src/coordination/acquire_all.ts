// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.

import { LockTimeoutError, SemaphoreTimeoutError } from "../core/errors.ts";
import type {
  AcquireOptions,
  Lease,
  Lock,
  Semaphore,
  SemaphoreLease,
} from "../core/types.ts";
import { checkAcquireOptions, checkOptions, show } from "../core/_validate.ts";

/**
 * Some permits of a semaphore, for {@linkcode acquireAll}: a semaphore
 * listed bare takes 1.
 */
export interface SemaphorePermits {
  /** The semaphore. */
  readonly semaphore: Semaphore;
  /** How many of its permits: 1 to its capacity. */
  readonly permits: number;
}

/** What {@linkcode acquireAll} takes: locks, semaphores, or some permits of one. */
export type AcquireAllItem = Lock | Semaphore | SemaphorePermits;

/**
 * The leases of one {@linkcode acquireAll} call, held and released together.
 * Release it exactly once with `release()` or `await using`.
 */
export interface LeaseGroup extends AsyncDisposable {
  /** One lease per lock, in the order the locks were given. */
  readonly leases: readonly Lease[];
  /**
   * Aborts, with the member's reason (a `LockLostError`), as soon as any
   * member lease is lost: the group no longer guards everything it did.
   */
  readonly signal: AbortSignal;
  /** Whether `release()` has been called (or the group was disposed). */
  readonly released: boolean;
  /**
   * Releases every lease, in the reverse of the order they were acquired.
   * Idempotent. All are released even if one fails; then it rejects with
   * the first failure.
   */
  release(): Promise<void>;
  /** Extends every lease (see {@linkcode Lease.extend}). */
  extend(leaseMs?: number): Promise<void>;
}

/**
 * Acquires every lock in `locks`, all or nothing, and returns their leases as
 * one group. Locks are taken one by one in a canonical order (by `type`, then
 * `name`) whatever order the caller lists them in, so two callers that want
 * the same locks can never deadlock on each other. If any acquisition fails,
 * times out or is aborted, the leases already taken are released before the
 * promise rejects: nothing is left held.
 *
 * `options` apply to every lock (mode, lease length, owner, priority), except
 * `timeoutMs`, which bounds the whole call. A semaphore takes 1 permit, or
 * as many as `{ semaphore, permits }` says (its leases ignore `mode`);
 * semaphores are ordered with the locks, by type and name, so permits too
 * are never waited for in a cycle. Each lock appears once: listing a lock
 * twice, or two lock objects of the same type and name (one lock to its
 * backend), is a `TypeError` that says which.
 * Locks of any type mix freely.
 *
 * @example Moving stock between two warehouses
 * ```ts
 * import { acquireAll, createLock } from "@unilock/unilock";
 * import assert from "node:assert/strict";
 *
 * const north = createLock("local", { name: "warehouse-north" });
 * const south = createLock("local", { name: "warehouse-south" });
 * const stock = { north: 5, south: 0 };
 * // Two transfers list the locks in opposite orders, and still never deadlock.
 * await Promise.all([
 *   (async () => {
 *     await using _group = await acquireAll([north, south]);
 *     stock.north--;
 *     stock.south++;
 *   })(),
 *   (async () => {
 *     await using group = await acquireAll([south, north], { timeoutMs: 1_000 });
 *     assert.equal(group.leases[0]!.name, "warehouse-south");
 *     stock.south--;
 *     stock.north++;
 *   })(),
 * ]);
 * assert.deepEqual(stock, { north: 5, south: 0 });
 * ```
 *
 * @param locks The locks to hold together; any iterable of at least one lock.
 * @param options Applied to every lock; `timeoutMs` bounds the whole call.
 * @returns The group of leases; release it when done.
 * @throws {LockTimeoutError} When `timeoutMs` passes first (naming the lock
 * it was waiting for).
 * @throws {TypeError} When `locks` is empty, not locks, or lists a lock twice.
 */
export async function acquireAll(
  locks: Iterable<AcquireAllItem>,
  options?: AcquireOptions,
): Promise<LeaseGroup> {
  const action = "acquire all locks";
  checkOptions(action, options);
  const list = checkLocks(action, withPermits(action, locks));
  const checked = checkAcquireOptions(list[0]!.name, options);
  const { timeoutMs, signal } = checked;
  if (signal?.aborted) throw signal.reason;
  const deadline = timeoutMs === undefined
    ? undefined
    : performance.now() + timeoutMs;
  const order = list
    .map((lock, index) => ({ lock, index }))
    .sort((a, b) => compare(a.lock, b.lock));
  const leases: Lease[] = new Array(list.length);
  const taken: Lease[] = [];
  try {
    for (const { lock, index } of order) {
      const left = deadline === undefined
        ? undefined
        : Math.max(0, Math.ceil(deadline - performance.now()));
      let lease: Lease;
      try {
        lease = await lock.acquire(
          left === undefined ? options : { ...options, timeoutMs: left },
        );
      } catch (error) {
        // The member saw only what was left of the budget; report the whole.
        // A reason the caller aborted with is theirs, whatever its class.
        if (
          error instanceof LockTimeoutError && timeoutMs !== undefined &&
          error !== signal?.reason
        ) {
          throw error instanceof SemaphoreTimeoutError
            ? new SemaphoreTimeoutError(lock.name, timeoutMs)
            : new LockTimeoutError(lock.name, timeoutMs);
        }
        throw error;
      }
      taken.push(lease);
      leases[index] = lease;
    }
  } catch (error) {
    await releaseAll(taken).catch(() => {});
    throw error;
  }
  return new Group(leases, taken);
}

/**
 * Turns each `{ semaphore, permits }` into a lock-shaped item that takes
 * those permits, its count checked now (before anything is acquired); the
 * rest pass through to checkLocks. A bare semaphore already is one: its
 * `acquire` takes a lock's options and 1 permit.
 */
function withPermits(action: string, locks: unknown): unknown {
  if (
    locks === null || typeof locks !== "object" ||
    typeof (locks as Iterable<unknown>)[Symbol.iterator] !== "function"
  ) return locks;
  return [...(locks as Iterable<unknown>)].map((item, i) => {
    if (
      item === null || typeof item !== "object" || !("semaphore" in item) ||
      typeof (item as { acquire?: unknown }).acquire === "function"
    ) return item;
    const { semaphore, permits } = item as SemaphorePermits;
    if (
      semaphore === null || typeof semaphore !== "object" ||
      typeof semaphore.withPermits !== "function"
    ) {
      throw new TypeError(
        `Cannot ${action} as 'locks[${i}].semaphore' must be a semaphore: current value is ${
          show(semaphore)
        }`,
      );
    }
    if (
      !Number.isInteger(permits) || permits < 1 || permits > semaphore.permits
    ) {
      throw new (typeof permits === "number" ? RangeError : TypeError)(
        `Cannot ${action} as 'locks[${i}].permits' must be an integer from 1 to ${semaphore.permits} (the capacity of semaphore "${semaphore.name}"): current value is ${
          show(permits)
        }`,
      );
    }
    return {
      name: semaphore.name,
      type: semaphore.type,
      acquire: (o?: AcquireOptions): Promise<SemaphoreLease> =>
        semaphore.acquire({ ...o, permits }),
    };
  });
}

function checkLocks(action: string, locks: unknown): Lock[] {
  if (
    locks === null || typeof locks !== "object" ||
    typeof (locks as Iterable<unknown>)[Symbol.iterator] !== "function"
  ) {
    throw new TypeError(
      `Cannot ${action} as 'locks' must be an iterable of locks: current value is ${
        show(locks)
      }`,
    );
  }
  const list = [...(locks as Iterable<unknown>)];
  if (list.length === 0) {
    throw new TypeError(`Cannot ${action} as 'locks' is empty`);
  }
  const seen = new Map<string, number>();
  for (const [i, lock] of list.entries()) {
    if (
      lock === null || typeof lock !== "object" ||
      typeof (lock as Lock).acquire !== "function" ||
      typeof (lock as Lock).name !== "string" ||
      typeof (lock as Lock).type !== "string"
    ) {
      throw new TypeError(
        `Cannot ${action} as 'locks[${i}]' must be a lock: current value is ${
          show(lock)
        }`,
      );
    }
    const { type, name } = lock as Lock;
    const key = `${type}\u0000${name}`;
    const first = seen.get(key);
    if (first !== undefined) {
      throw new TypeError(
        list[first] === lock
          ? `Cannot ${action} as 'locks' lists the ${type} lock "${name}" twice: it would wait for itself`
          // Two objects, one lock: a backend knows a lock by its name alone.
          : `Cannot ${action} as 'locks[${first}]' and 'locks[${i}]' are distinct ${type} locks with the same name "${name}": to the backend they are one lock, so holding both would wait for itself; pass one of them, or give them different names`,
      );
    }
    seen.set(key, i);
  }
  return list as Lock[];
}

// Plain code-unit order, the same in every runtime and locale.
function compare(a: Lock, b: Lock): number {
  if (a.type !== b.type) return a.type < b.type ? -1 : 1;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

async function releaseAll(taken: Lease[]): Promise<void> {
  const results = await Promise.allSettled(
    [...taken].reverse().map((lease) => lease.release()),
  );
  for (const result of results) {
    if (result.status === "rejected") throw result.reason;
  }
}

class Group implements LeaseGroup {
  readonly leases: readonly Lease[];
  // In acquisition order, so release can go the other way.
  readonly #taken: Lease[];
  #released = false;
  #signal: AbortSignal | undefined;

  constructor(leases: Lease[], taken: Lease[]) {
    this.leases = Object.freeze(leases);
    this.#taken = taken;
  }

  get signal(): AbortSignal {
    // Made on first use: most holders never look.
    return this.#signal ??= AbortSignal.any(this.#taken.map((l) => l.signal));
  }

  get released(): boolean {
    return this.#released;
  }

  release(): Promise<void> {
    if (this.#released) return Promise.resolve();
    this.#released = true;
    return releaseAll(this.#taken);
  }

  async extend(leaseMs?: number): Promise<void> {
    await Promise.all(this.#taken.map((lease) => lease.extend(leaseMs)));
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }
}
