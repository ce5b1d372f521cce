// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/** @internal `withLock` for lock types whose release is I/O. */

import type { AcquireOptions, Lease, Lock } from "./types.ts";
import { checkFn } from "./_validate.ts";

/**
 * Acquires `lock`, runs `fn` with the lease, and always releases it. The
 * section's outcome stands: a release that fails after it ran is reported by
 * the lock (a `release-failed` event and metric) and its lease ends by its
 * expiry, rather than turning a done section into an error that invites the
 * caller to run it again.
 */
export async function hold<T>(
  lock: Lock,
  fn: (lease: Lease) => T | Promise<T>,
  options: AcquireOptions | undefined,
): Promise<T> {
  checkFn(lock.name, fn);
  const lease = await lock.acquire(options);
  let result: T;
  try {
    result = await fn(lease);
  } catch (error) {
    await lease.release().catch(() => {});
    throw error;
  }
  await lease.release().catch(() => {});
  return result;
}
