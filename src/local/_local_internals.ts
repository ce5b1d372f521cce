// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/**
 * @internal What `LocalSemaphore` reaches of `LocalLock`'s private state:
 * a semaphore is a local lock whose shared holders may hold `capacity`
 * permits together, so it uses the lock's one queue rather than a second
 * one. Filled in by `LocalLock`'s static block.
 */

import type { Lease } from "../core/types.ts";
import type { Recorder } from "../core/_recorder.ts";
import type { CheckedSemaphoreOptions } from "../core/_validate.ts";
import type { LocalLock, LocalLockOptions } from "./local_lock.ts";

/** A local lease with the permits it holds. */
export type PermitLease = Lease & { readonly permits: number };

export const localInternals: {
  /** A lock whose shared holders may hold `capacity` permits together. */
  create: (
    options: LocalLockOptions | undefined,
    capacity: number,
  ) => LocalLock;
  /** Acquires `checked.permits` in shared mode, in line. */
  acquire: (
    lock: LocalLock,
    checked: CheckedSemaphoreOptions,
  ) => Promise<PermitLease>;
  /**
   * One permit without options: the lease itself when granted at once (no
   * promise made), else the promise of the queued grant.
   */
  acquireOne: (lock: LocalLock) => PermitLease | Promise<PermitLease>;
  /** `permits` now, or undefined (busy: counted as such). */
  tryAcquire: (
    lock: LocalLock,
    permits: number,
    owner: string | undefined,
  ) => PermitLease | undefined;
  /** The permits not held now. */
  available: (lock: LocalLock) => number;
  /** The lock's recorder. */
  recorder: (lock: LocalLock) => Recorder;
} = {} as never;
