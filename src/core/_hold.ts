// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/** @internal `withLock` for lock types whose release is I/O. */

import type { AcquireOptions, Lease, Lock } from "./types.ts";
import { checkFn } from "./_validate.ts";

/** How long `withLock` waits for a release before it returns regardless. */
const RELEASE_WAIT_MS = 1_000;

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
    await released(lease);
    throw error;
  }
  await released(lease);
  return result;
}

/**
 * Releases `lease`, waiting RELEASE_WAIT_MS at most: a release that hangs
 * goes on in the background (the lock reports it if it fails), and the
 * section's outcome reaches the caller regardless.
 */
export async function released(
  lease: Pick<Lease, "release">,
): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    lease.release().catch(() => {}),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, RELEASE_WAIT_MS);
    }),
  ]);
  clearTimeout(timer);
}
