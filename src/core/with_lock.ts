// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.

import type { AcquireOptions, Lease, Lock } from "./types.ts";
import { show } from "./_validate.ts";

/** Throws unless `lock` looks like a {@linkcode Lock}. */
function checkLock(action: string, lock: unknown): Lock {
  if (
    lock === null || typeof lock !== "object" ||
    typeof (lock as Lock).acquire !== "function" ||
    typeof (lock as Lock).withLock !== "function"
  ) {
    throw new TypeError(
      `Cannot ${action} as 'lock' must be a Lock: current value is ${
        show(lock)
      }`,
    );
  }
  return lock as Lock;
}

/**
 * Runs `fn` while holding `lock`, then releases it, also when `fn` throws:
 * the seed's automatic release on exceptions.
 *
 * @example Release on exception
 * ```ts
 * import { createLock, withLock } from "@unilock/unilock";
 * import assert from "node:assert/strict";
 *
 * const lock = createLock("local");
 * await assert.rejects(
 *   withLock(lock, () => {
 *     throw new Error("Something went wrong");
 *   }),
 *   { message: "Something went wrong" },
 * );
 * assert.equal(await lock.isLocked(), false);
 * ```
 *
 * @typeParam T The result of `fn`.
 * @param lock The lock to hold.
 * @param fn The critical section; it receives the lease.
 * @param options Timeout, signal, lease length and mode.
 * @returns What `fn` returned.
 */
export function withLock<T>(
  lock: Lock,
  fn: (lease: Lease) => T | Promise<T>,
  options?: AcquireOptions,
): Promise<T> {
  try {
    return checkLock("run with lock", lock).withLock(fn, options);
  } catch (error) {
    return Promise.reject(error);
  }
}

/**
 * Acquires `lock` for an `await using` block: the seed's
 * `async with lock_context(lock, timeout=…)`. The lease is released when the
 * block is left, by return or by exception.
 *
 * @example Timeout handling
 * ```ts
 * import { createLock, lockContext } from "@unilock/unilock";
 * import assert from "node:assert/strict";
 *
 * const lock = createLock("local");
 * {
 *   await using _lease = await lockContext(lock, { timeoutMs: 5_000 });
 *   const error = await lockContext(lock, { timeoutMs: 10 }).catch((e) => e);
 *   assert.equal(error.name, "TimeoutError");
 * }
 * assert.equal(await lock.isLocked(), false);
 * ```
 *
 * @param lock The lock to acquire.
 * @param options Timeout, signal, lease length and mode.
 * @returns The lease, an `AsyncDisposable`.
 */
export function lockContext(
  lock: Lock,
  options?: AcquireOptions,
): Promise<Lease> {
  try {
    return checkLock("acquire lock context", lock).acquire(options);
  } catch (error) {
    return Promise.reject(error);
  }
}
