// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/**
 * @internal The lock service's wire protocol, defined once: what a
 * `LockDurableObject` answers over RPC, and (through `./worker`) over HTTP and
 * its WebSocket. The object (workers/), the service and the HTTP client
 * (_lock_service.ts) all import it, so the two ends cannot drift apart.
 */

import type { LockMode } from "../core/types.ts";

/** The RPC surface of `LockDurableObject` (entry `./durable-object`). */
export interface LockDurableObjectStub {
  /** Grants, or queues and waits (at most 25 s per call). */
  acquire(request: {
    token: string;
    mode: LockMode;
    leaseMs: number;
    waitMs: number;
    priority?: number;
    owner?: string;
  }): Promise<
    | { ok: true; fence: number; leaseMs: number; waited?: boolean }
    | {
      ok: false;
      reason: "busy" | "wait" | "cancelled" | "gone";
      retryAfterMs: number;
    }
  >;
  /** Ends a lease; idempotent. */
  release(token: string): Promise<{ released: boolean }>;
  /**
   * Sets a lease to end `leaseMs` after the call arrives, unless a call with
   * a `seq` as high was applied already; `leaseMs` in the reply is how long
   * the lease now runs.
   */
  extend(
    token: string,
    leaseMs: number,
    seq?: number,
  ): Promise<{ ok: boolean; leaseMs?: number }>;
  /** Leaves the queue; `held` if the lock was granted first. */
  cancel(token: string): Promise<{ held: boolean }>;
  /** Holders and waiters now. */
  status(): Promise<{ holders: number; waiters: number }>;
  /** Held leases (by fence) and waiters (in queue order), by the object's clock. */
  query(): Promise<{
    held: { mode: LockMode; fence?: number; ageMs: number; owner?: string }[];
    pending: { mode: LockMode; ageMs: number; owner?: string }[];
  }>;
}
