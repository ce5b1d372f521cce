// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/**
 * @internal Synchronous grants of a `LocalLock`, for the Web Locks facade:
 * a free lock is granted (or stolen) in the call itself, so that the
 * facade's bookkeeping of holders is exact at once and a request costs no
 * extra microtask. Filled in by `LocalLock`'s static block; not in `mod.ts`.
 */

import type { Lease, LockMode } from "../core/types.ts";
import type { LocalLock } from "./local_lock.ts";

/** Where a queued grant of {@linkcode localNow.enqueue} goes. */
export interface LocalSink {
  granted(lease: Lease): void;
  failed(reason: unknown): void;
}

export const localNow: {
  /** The lease if `lock` can be granted now (as `tryAcquire`), else undefined. */
  grant: (lock: LocalLock, mode: LockMode) => Lease | undefined;
  /** Takes `lock` from its holders now (as `acquire({ steal: true })`). */
  steal: (lock: LocalLock) => Lease;
  /**
   * Queues for `lock` (as `acquire({ mode, signal })`); the grant or the
   * abort comes back through `sink`, synchronously, with no promise (and no
   * closure per waiter).
   */
  enqueue: (
    lock: LocalLock,
    mode: LockMode,
    signal: AbortSignal | undefined,
    sink: LocalSink,
  ) => void;
} = {
  grant: () => undefined,
  steal: () => {
    throw new Error("LocalLock is not loaded");
  },
  enqueue: () => {
    throw new Error("LocalLock is not loaded");
  },
};
