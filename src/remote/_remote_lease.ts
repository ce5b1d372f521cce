// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/**
 * @internal The lease of the distributed lock types: renewed every third of
 * its length while held, lost (its signal aborted with `LockLostError`) when a
 * renewal finds it gone or cannot reach the backend before it ends.
 */

import { LockLostError, LockReleasedError } from "../core/errors.ts";
import type { Lease, LockMode } from "../core/types.ts";
import { checkLeaseMs } from "../core/_validate.ts";
import type { Attempt, Recorder } from "../core/_recorder.ts";

/** What a lease asks its backend: both calls are idempotent. */
export interface LeaseOps {
  /** Ends the lease. */
  release(): Promise<unknown>;
  /** Sets the lease to end `ms` from now; false when it was lost. */
  extend(ms: number): Promise<boolean>;
  /** Told once when the lease ends, released or lost (for metrics and events). */
  ended?(lost: boolean): void;
}

export class RenewingLease implements Lease {
  readonly name: string;
  readonly mode: LockMode;
  readonly fence: number;
  #ops: LeaseOps;
  #leaseMs: number;
  #minLeaseMs: number;
  #released = false;
  #lost = false;
  #releasing: Promise<void> | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #deadline: ReturnType<typeof setTimeout> | undefined;
  #controller: AbortController | undefined;
  #validUntil: number;

  constructor(
    name: string,
    mode: LockMode,
    fence: number,
    leaseMs: number,
    minLeaseMs: number,
    ops: LeaseOps,
    validUntil: number,
  ) {
    this.name = name;
    this.mode = mode;
    this.fence = fence;
    this.#ops = ops;
    this.#leaseMs = leaseMs;
    this.#minLeaseMs = minLeaseMs;
    // By the client's clock (performance.now()), a time the backend's lease
    // cannot end before: the backend lets the holder reckon it from a
    // request the holder sent before the grant, never from a reply's
    // arrival, which can come late (a slow network, a paused event loop).
    this.#validUntil = validUntil;
    this.#schedule(
      Math.min(leaseMs / 3, Math.max(0, validUntil - performance.now()) / 2),
    );
    this.#watchDeadline();
  }

  /**
   * Says the lease is lost the moment it runs out unrenewed, even while a
   * renewal is still in flight (a slow or dropped request would otherwise
   * keep the holder believing for as long as the request takes).
   */
  #watchDeadline(): void {
    if (this.#deadline !== undefined) clearTimeout(this.#deadline);
    this.#deadline = setTimeout(() => {
      this.#deadline = undefined;
      if (performance.now() >= this.#validUntil) {
        this.#lose("it ran out before a renewal reached the backend");
      } else this.#watchDeadline();
    }, Math.max(0, this.#validUntil - performance.now()));
    (this.#deadline as unknown as { unref?: () => void }).unref?.();
  }

  get signal(): AbortSignal {
    return (this.#controller ??= new AbortController()).signal;
  }

  get released(): boolean {
    return this.#released;
  }

  #schedule(ms: number): void {
    this.#timer = setTimeout(() => this.#renew(), ms);
    // A held lease must not keep a process alive by itself.
    (this.#timer as unknown as { unref?: () => void }).unref?.();
  }

  async #renew(): Promise<void> {
    this.#timer = undefined;
    if (this.#released || this.#lost) return;
    const sent = performance.now();
    try {
      if (await this.#ops.extend(this.#leaseMs)) {
        if (this.#lost) return; // it ran out while the renewal was away
        this.#validUntil = sent + this.#leaseMs;
        if (!this.#released) {
          this.#schedule(this.#leaseMs / 3);
          this.#watchDeadline();
        }
        return;
      }
      this.#lose("the lease expired or was taken over before it was renewed");
    } catch (error) {
      // A failed renewal is retried while the lease can still be valid.
      if (performance.now() < this.#validUntil) {
        if (!this.#released) this.#schedule(250);
      } else this.#lose("it could not be renewed in time", error);
    }
  }

  #lose(detail: string, cause?: unknown): void {
    if (this.#lost || this.#released) return;
    this.#lost = true;
    this.#stopTimers();
    this.#ops.ended?.(true);
    (this.#controller ??= new AbortController()).abort(
      new LockLostError(
        this.name,
        detail,
        cause === undefined ? undefined : { cause },
      ),
    );
  }

  #stopTimers(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    if (this.#deadline !== undefined) clearTimeout(this.#deadline);
    this.#timer = this.#deadline = undefined;
  }

  release(): Promise<void> {
    if (this.#releasing !== undefined) return this.#releasing;
    if (!this.#released && !this.#lost) this.#ops.ended?.(false);
    this.#released = true;
    this.#stopTimers();
    // Errors reach the caller; the lease counts as released either way, as
    // the backend expires it.
    return this.#releasing = this.#ops.release().then(() => {});
  }

  async extend(leaseMs?: number): Promise<void> {
    const ms = checkLeaseMs(`extend lock "${this.name}"`, leaseMs) ??
      this.#leaseMs;
    if (this.#released) throw new LockReleasedError(this.name, "extend");
    if (this.#lost) throw this.#controller!.signal.reason;
    if (ms < this.#minLeaseMs) {
      throw new RangeError(
        `Cannot extend lock "${this.name}" as 'leaseMs' must be at least ${this.#minLeaseMs}: current value is ${ms}`,
      );
    }
    const sent = performance.now();
    if (!(await this.#ops.extend(ms))) {
      this.#lose("the lease expired or was taken over before it was extended");
      throw this.#controller!.signal.reason;
    }
    if (this.#lost) throw this.#controller!.signal.reason;
    this.#leaseMs = ms;
    this.#validUntil = sent + ms;
    this.#watchDeadline();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }
}

/** A grant that ran out before it reached its caller, and was given back. */
export const STALE: unique symbol = Symbol("stale grant");

/** A grant that reached its client, with what its lease needs. */
export interface Grant {
  name: string;
  mode: LockMode;
  fence: number;
  leaseMs: number;
  minLeaseMs: number;
  /** By performance.now(): a time the backend's lease cannot end before. */
  validUntil: number;
  /** The lock's recorder, and the acquisition it grants. */
  rec: Recorder;
  at: Attempt;
}

/**
 * The lease for a grant, counted as granted; or STALE when its validity has
 * passed already (a reply read late): the grant is given back, which only
 * hands it on sooner, and the caller queues again.
 */
export function leaseFor(
  grant: Grant,
  ops: Omit<LeaseOps, "ended">,
): Lease | typeof STALE {
  const { name, mode, fence, leaseMs, minLeaseMs, validUntil, rec, at } = grant;
  if (validUntil <= performance.now()) {
    ops.release().catch(() => {}); // it has run out anyway
    return STALE;
  }
  let grantedAt = 0;
  const lease = new RenewingLease(name, mode, fence, leaseMs, minLeaseMs, {
    ...ops,
    ended: (lost) => rec.ended(lost, mode, at.owner, fence, grantedAt),
  }, validUntil);
  grantedAt = rec.granted(mode, at, fence);
  return lease;
}
