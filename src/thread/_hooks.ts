// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/**
 * @internal What the deadlock graph (_shared_wait_for.ts) needs from a
 * `ThreadLock` beyond its public API, set by thread_lock.ts when it loads:
 * kept here so that it is not exported from the package.
 */

import type { AcquireOptions, Lease, Lock } from "../core/types.ts";

/** Where a thread lease lives in shared memory (see leaseBinding). */
export interface LeaseBinding {
  fence: number;
  /** 0 for an exclusive lease, -1 for a shared one without a slot. */
  slot: number;
  gen: number;
}

export const hooks: {
  acquireWith?: (
    lock: Lock,
    options: AcquireOptions,
    track: (slot: number, gen: number) => void,
  ) => Promise<Lease>;
  leaseBinding?: (lease: Lease) => LeaseBinding | undefined;
} = {};

/**
 * Acquires thread lock `lock`, calling `track(slot, gen)` every time the
 * acquisition takes a place in the queue (a deadlock graph binds its wait
 * edge to that place, so that the edge dies with the waiter's thread).
 */
export function acquireTracked(
  lock: Lock,
  options: AcquireOptions,
  track: (slot: number, gen: number) => void,
): Promise<Lease> {
  return hooks.acquireWith!(lock, options, track);
}

/**
 * Where a thread lease lives in shared memory: its fence, its slot and the
 * slot's generation; `undefined` for another lock type's lease.
 */
export function leaseBinding(lease: Lease): LeaseBinding | undefined {
  return hooks.leaseBinding?.(lease);
}
