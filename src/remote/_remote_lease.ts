// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/**
 * @internal The lease of every remote lock type, written once: renewed every
 * third of its length while held, lost (its signal aborted with
 * `LockLostError`) when a renewal finds it gone or cannot reach the backend
 * before it ends.
 *
 * What the holder believes is only ever what the server confirmed for one
 * request, reckoned from when that request was sent, less a margin for clock
 * drift. Renewals and `extend` calls take turns (one in flight at a time) and
 * carry a rising sequence number, so that a request that arrives late can
 * never cut back what a later one set; a request whose outcome is unknown
 * can only shorten the belief, never lengthen it.
 */

import { LockLostError, LockReleasedError } from "../core/errors.ts";
import type { Lease, LockMode } from "../core/types.ts";
import { checkLeaseMs, checkRange } from "../core/_validate.ts";
import type { Attempt, Recorder } from "../core/_recorder.ts";
import type { RemoteExtendReply } from "./driver.ts";
import { unref } from "../core/_unref.ts";

/**
 * The margin for clock drift between client and server, as Redlock reckons
 * it: 1% of the interval plus 2 ms. A lease the server reports as running
 * `ms` more is believed for `ms - drift(ms)` only.
 */
export function drift(ms: number): number {
  return ms * 0.01 + 2;
}

/** What a lease asks its backend; both calls are idempotent by token. */
export interface LeaseOps {
  /** Ends the lease (repeated by the caller's core on transient faults). */
  release(): Promise<void>;
  /** Sets the lease to end `ms` after the call arrives, unless a later `seq` was applied. */
  extend(ms: number, seq: number): Promise<RemoteExtendReply>;
  /** Told once when the lease ends, released or lost (for metrics and events). */
  ended(lost: boolean): void;
}

/** How often a renewal that failed is tried again while the lease lasts. */
const RETRY_MS = 250;

export class RemoteLease implements Lease {
  readonly name: string;
  readonly mode: LockMode;
  readonly fence: number;
  #ops: LeaseOps;
  #leaseMs: number;
  #minLeaseMs: number;
  #maxLeaseMs: number;
  #released = false;
  #lost = false;
  #releasing: Promise<void> | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #deadline: ReturnType<typeof setTimeout> | undefined;
  #controller: AbortController | undefined;
  /** By performance.now(): a time the server's lease cannot end before. */
  #validUntil: number;
  #seq = 0;
  /** The exchange (renewal or extend) in flight; the next one waits for it. */
  #turn: Promise<unknown> = Promise.resolve();
  /** Plans made: a renewal planned before the latest is not due. */
  #plans = 0;

  constructor(
    name: string,
    mode: LockMode,
    fence: number,
    leaseMs: number,
    limits: { minLeaseMs: number; maxLeaseMs: number },
    ops: LeaseOps,
    validUntil: number,
  ) {
    this.name = name;
    this.mode = mode;
    this.fence = fence;
    this.#ops = ops;
    this.#leaseMs = leaseMs;
    this.#minLeaseMs = limits.minLeaseMs;
    this.#maxLeaseMs = limits.maxLeaseMs;
    this.#validUntil = validUntil;
    this.#plan();
  }

  get signal(): AbortSignal {
    // Whoever looks after the lease ran out learns it, even before the
    // deadline timer has run: a process resumed from a stop (SIGSTOP) or an
    // event loop blocked past the lease handles its I/O before its timers.
    if (
      !this.#released && !this.#lost && performance.now() >= this.#validUntil
    ) this.#lose("it ran out before a renewal reached the backend");
    return (this.#controller ??= new AbortController()).signal;
  }

  get released(): boolean {
    return this.#released;
  }

  /**
   * Schedules the next renewal a third of the lease's length from now (or
   * sooner, while less than that is left), and the moment the lease is lost
   * if no renewal lands first. Called after every exchange, so the timers
   * always follow the lease as it now stands.
   */
  #plan(): void {
    this.#plans++;
    this.#stopTimers();
    if (this.#released || this.#lost) return;
    const left = this.#validUntil - performance.now();
    this.#timer = setTimeout(
      () => this.#renew(),
      Math.max(0, Math.min(this.#leaseMs / 3, left / 2)),
    );
    // A held lease must not keep a process alive by itself.
    unref(this.#timer);
    this.#watchDeadline();
  }

  /**
   * Says the lease is lost the moment it runs out unrenewed, even while a
   * renewal is still in flight (a slow or hung request would otherwise keep
   * the holder believing for as long as the request takes).
   */
  #watchDeadline(): void {
    if (this.#deadline !== undefined) clearTimeout(this.#deadline);
    this.#deadline = setTimeout(() => {
      this.#deadline = undefined;
      if (performance.now() >= this.#validUntil) {
        this.#lose("it ran out before a renewal reached the backend");
      } else this.#watchDeadline();
    }, Math.max(0, this.#validUntil - performance.now()));
    unref(this.#deadline);
  }

  /**
   * One renewal or extend, after the one in flight. Resolves when the server
   * confirmed it (the belief and the timers follow), rejects with the
   * backend's error (the belief can only have shrunk) or the loss.
   */
  #exchange(asked: number | undefined, due?: number): Promise<void> {
    const run = async (): Promise<void> => {
      if (this.#released) throw new LockReleasedError(this.name, "extend");
      if (this.#lost) throw this.#controller!.signal.reason;
      // A renewal that waited for an extend is not due any more: that
      // exchange renewed the lease and planned the next renewal.
      if (due !== undefined && due !== this.#plans) return;
      // A renewal asks for the length in force when it is sent, not when it
      // was due: one queued behind extend(longer) must not cut it back.
      const ms = asked ?? this.#leaseMs;
      const seq = ++this.#seq;
      const sent = performance.now();
      // Once sent, it may be applied at any moment, its reply lost or hung:
      // the lease may end `ms` after it arrives, no later than `ms` after
      // now. A shorter one shrinks the belief at once, not once it fails.
      const mayEnd = sent + ms - drift(ms);
      if (mayEnd < this.#validUntil) {
        this.#validUntil = mayEnd;
        this.#watchDeadline();
      }
      let reply: RemoteExtendReply;
      try {
        reply = await this.#ops.extend(ms, seq);
      } catch (error) {
        if (this.#released) throw new LockReleasedError(this.name, "extend");
        // It may still arrive and set the lease to end `ms` after it does,
        // which is no sooner than `ms` after it was sent: believe no more.
        this.#validUntil = Math.min(this.#validUntil, sent + ms - drift(ms));
        this.#plan();
        throw error;
      }
      // Released while the call was on its way: it is no longer the
      // caller's to extend, whatever the server answered.
      if (this.#released) throw new LockReleasedError(this.name, "extend");
      if (this.#lost) throw this.#controller!.signal.reason;
      if (!reply.held) {
        this.#lose(
          reply.stolen === true
            ? "it was stolen (another client took the lock with steal)"
            : "the lease expired or was taken over before it was renewed",
        );
        throw this.#controller!.signal.reason;
      }
      this.#leaseMs = ms;
      this.#validUntil = sent + reply.leaseMs - drift(reply.leaseMs);
      this.#plan();
    };
    const done = this.#turn.then(run, run);
    this.#turn = done.catch(() => {});
    return done;
  }

  #renew(): void {
    this.#timer = undefined;
    if (this.#released || this.#lost) return;
    this.#exchange(undefined, this.#plans).catch((error) => {
      if (this.#released || this.#lost) return;
      // A failed renewal is tried again while the lease can still be valid.
      if (performance.now() < this.#validUntil) {
        if (this.#timer !== undefined) clearTimeout(this.#timer);
        this.#timer = setTimeout(
          () => this.#renew(),
          Math.min(RETRY_MS, (this.#validUntil - performance.now()) / 2),
        );
        unref(this.#timer);
      } else this.#lose("it could not be renewed in time", error);
    });
  }

  #lose(detail: string, cause?: unknown): void {
    if (this.#lost || this.#released) return;
    this.#lost = true;
    this.#stopTimers();
    this.#ops.ended(true);
    (this.#controller ??= new AbortController()).abort(
      new LockLostError(
        this.name,
        detail,
        cause === undefined ? undefined : { cause },
      ),
    );
    // The holder no longer acts on it: free it for the others at once
    // rather than when the server's lease runs out (a renewal may have
    // landed after the client gave up on it).
    this.#ops.release().catch(() => {});
  }

  #stopTimers(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    if (this.#deadline !== undefined) clearTimeout(this.#deadline);
    this.#timer = this.#deadline = undefined;
  }

  release(): Promise<void> {
    if (this.#releasing !== undefined) return this.#releasing;
    if (!this.#released && !this.#lost) this.#ops.ended(false);
    const lost = this.#lost;
    this.#released = true;
    this.#stopTimers();
    // A lost lease was released when it was lost. Errors reach the caller;
    // the lease counts as released either way, as the backend expires it.
    return this.#releasing = lost ? Promise.resolve() : this.#ops.release();
  }

  /**
   * Sets the lease to end `leaseMs` from now (by default its own length),
   * after any renewal in flight; renewal goes on at the new length.
   */
  extend(leaseMs?: number): Promise<void> {
    let ms: number;
    try {
      const action = `extend lock "${this.name}"`;
      ms = checkRange(
        action,
        "leaseMs",
        checkLeaseMs(action, leaseMs),
        this.#minLeaseMs,
        this.#maxLeaseMs,
        this.#leaseMs,
      );
      if (this.#released) throw new LockReleasedError(this.name, "extend");
      if (this.#lost) throw this.#controller!.signal.reason;
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#exchange(ms);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }
}

/** A semaphore's lease: the same life, plus the permits it holds. */
class RemotePermitLease extends RemoteLease {
  readonly permits: number;

  constructor(
    permits: number,
    ...args: ConstructorParameters<typeof RemoteLease>
  ) {
    super(...args);
    this.permits = permits;
  }
}

/** A grant that reached its client, with what its lease needs. */
export interface Grant {
  name: string;
  mode: LockMode;
  /** A semaphore's grant: its permits (undefined for a lock). */
  permits: number | undefined;
  fence: number;
  leaseMs: number;
  limits: { minLeaseMs: number; maxLeaseMs: number };
  /** By performance.now(): a time the backend's lease cannot end before. */
  validUntil: number;
  /** The lock's recorder, and the acquisition it grants. */
  rec: Recorder;
  at: Attempt;
}

/**
 * The lease for a grant, counted as granted; or undefined when its validity
 * has passed already (a reply read late): the caller gives it back, which
 * only hands it on sooner, and queues again.
 */
export function leaseFor(
  grant: Grant,
  ops: Omit<LeaseOps, "ended">,
): Lease | undefined {
  const { name, mode, permits, fence, leaseMs, limits, validUntil, rec, at } =
    grant;
  if (validUntil <= performance.now()) return undefined;
  let grantedAt = 0;
  const args: ConstructorParameters<typeof RemoteLease> = [
    name,
    mode,
    fence,
    leaseMs,
    limits,
    {
      ...ops,
      ended: (lost) => rec.ended(lost, mode, at.owner, fence, grantedAt),
    },
    validUntil,
  ];
  const lease = permits === undefined
    ? new RemoteLease(...args)
    : new RemotePermitLease(permits, ...args);
  grantedAt = rec.granted(mode, at, fence);
  return lease;
}
