// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/** @internal `withLock` for lock types whose release is I/O. */

import type { AcquireOptions, Lease, Lock } from "./types.ts";
import { checkFn } from "./_validate.ts";

/** Acquires `lock`, runs `fn` with the lease, and always releases it. */
export async function hold<T>(
  lock: Lock,
  fn: (lease: Lease) => T | Promise<T>,
  options: AcquireOptions | undefined,
): Promise<T> {
  checkFn(lock.name, fn);
  const lease = await lock.acquire(options);
  try {
    return await fn(lease);
  } finally {
    await lease.release();
  }
}
