// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/**
 * @internal The counters, distributions and listeners behind every lock's
 * `metrics()` and `subscribe()`.
 */

import type { LockMode } from "./types.ts";
import { LockTimeoutError } from "./errors.ts";
import type {
  LockDistribution,
  LockEvent,
  LockEventType,
  LockListener,
  LockMetrics,
} from "./types.ts";

// Four buckets per doubling from 1 µs: bucket i > 0 holds [2^((i-1)/4),
// 2^(i/4)) µs, bucket 0 everything under 1 µs (a grant at once waits 0).
const PER_OCTAVE = 4;
const BUCKETS = 1 + 41 * PER_OCTAVE; // up to 2^41 µs, about 25 days

function bucketOf(ms: number): number {
  const us = ms * 1000;
  if (!(us >= 1)) return 0;
  const i = 1 + Math.floor(Math.log2(us) * PER_OCTAVE);
  return i < BUCKETS ? i : BUCKETS - 1;
}

/** A fixed-size log-bucketed histogram of durations in ms. */
export class Histogram {
  // Made on the first value: most locks of a big manager are never timed.
  #counts: Float64Array | undefined = undefined;
  count = 0;
  sum = 0;
  max = 0;

  record(ms: number): void {
    if (!(ms >= 0)) ms = 0; // a clock that stepped back
    (this.#counts ??= new Float64Array(BUCKETS))[bucketOf(ms)]!++;
    this.count++;
    this.sum += ms;
    if (ms > this.max) this.max = ms;
  }

  /** Records a 0 (a grant at once) without the logarithm. */
  recordZero(): void {
    (this.#counts ??= new Float64Array(BUCKETS))[0]!++;
    this.count++;
  }

  /** Adds `other`'s values to this one (for a manager's totals). */
  merge(other: Histogram): void {
    const counts = other.#counts;
    if (counts === undefined) return;
    const mine = this.#counts ??= new Float64Array(BUCKETS);
    for (let i = 0; i < BUCKETS; i++) mine[i]! += counts[i]!;
    this.count += other.count;
    this.sum += other.sum;
    if (other.max > this.max) this.max = other.max;
  }

  #quantile(q: number): number {
    const counts = this.#counts;
    if (counts === undefined || this.count === 0) return 0;
    const rank = Math.ceil(q * this.count);
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += counts[i]!;
      if (seen >= rank) {
        if (i === 0) return 0;
        // The bucket's geometric middle, never above the largest value.
        const us = 2 ** ((i - 0.5) / PER_OCTAVE);
        return Math.min(us / 1000, this.max);
      }
    }
    return this.max;
  }

  summary(): LockDistribution {
    return {
      count: this.count,
      sum: this.sum,
      p50: this.#quantile(0.5),
      p90: this.#quantile(0.9),
      p99: this.#quantile(0.99),
      max: this.max,
    };
  }
}

/** Where lock snapshots find a lock's recorder (a manager merges them). */
const recorders = new WeakMap<object, Recorder>();

/** Makes `rec` the recorder of `lock` too (handles of one thread lock share one). */
export function attachRecorder(lock: object, rec: Recorder): void {
  recorders.set(lock, rec);
}

/** The recorder of a built-in lock; `undefined` for other lock types. */
export function recorderOf(lock: object): Recorder | undefined {
  return recorders.get(lock);
}

/**
 * What a listener throws is logged, never raised into the lock (it runs in
 * the middle of a grant or a release) nor thrown as an uncaught error that
 * would end a Node process.
 */
export function reportListenerError(name: string, error: unknown): void {
  console.error(`unilock: a listener of lock "${name}" threw`, error);
}

/** One acquisition, as metrics and events follow it. */
export interface Attempt {
  readonly owner: string | undefined;
  /** When it started, if the lock was timing then (else 0). */
  start: number;
  /** Whether it joined the queue (contention). */
  waited: boolean;
  /** Whether it counts among the waiters now. */
  pending: boolean;
}

/** A lock's counters, distributions and listeners. */
export class Recorder {
  readonly name: string;
  /** Whether to read the clock: set once anyone looks (see LockMetrics). */
  timed: boolean;
  acquisitions = 0;
  contended = 0;
  busy = 0;
  timeouts = 0;
  aborts = 0;
  lost = 0;
  releaseFailures = 0;
  holders = 0;
  waiters = 0;
  /** Queued acquisitions that left without a grant (the local lock's count). */
  left = 0;
  readonly waitMs: Histogram = new Histogram();
  readonly holdMs: Histogram = new Histogram();
  #listeners: LockListener[] = [];
  /** Whether anyone listens: a field, read on hot paths. */
  listening = false;

  constructor(lock: object, name: string, timed: boolean) {
    this.name = name;
    this.timed = timed;
    recorders.set(lock, this);
  }

  subscribe(listener: LockListener): () => void {
    if (typeof listener !== "function") {
      throw new TypeError(
        `Cannot subscribe to lock "${this.name}" as 'listener' must be a function: current value is ${
          listener === null ? "null" : typeof listener
        }`,
      );
    }
    // Copied on change, so a listener that unsubscribes mid-event is safe.
    this.#listeners = [...this.#listeners, listener];
    this.listening = true;
    let subscribed = true;
    return () => {
      if (!subscribed) return;
      subscribed = false;
      const at = this.#listeners.indexOf(listener);
      if (at >= 0) {
        this.#listeners = this.#listeners.filter((_, i) => i !== at);
        this.listening = this.#listeners.length > 0;
      }
    };
  }

  emit(
    type: LockEventType,
    mode: LockMode,
    owner: string | undefined,
    fence?: number,
    waitMs?: number,
    holdMs?: number,
  ): void {
    const listeners = this.#listeners;
    if (listeners.length === 0) return;
    const event: LockEvent = {
      type,
      name: this.name,
      mode,
      owner,
      fence,
      waitMs,
      holdMs,
    };
    for (const listener of listeners) {
      try {
        listener(event);
      } catch (error) {
        reportListenerError(this.name, error);
      }
    }
  }

  /** The clock, when timing; 0 otherwise. */
  now(): number {
    return this.timed ? performance.now() : 0;
  }

  /**
   * An acquisition starts. `pending`: count it among the waiters until it
   * ends (a request in flight to a server may be waiting there).
   */
  begin(mode: LockMode, owner: string | undefined, pending: boolean): Attempt {
    this.emit("acquire", mode, owner);
    if (pending) this.waiters++;
    return { owner, start: this.now(), waited: false, pending };
  }

  /** It joined the queue. */
  waiting(mode: LockMode, at: Attempt): void {
    if (at.waited) return;
    at.waited = true;
    if (!at.pending) {
      at.pending = true;
      this.waiters++;
    }
    this.emit("wait", mode, at.owner);
  }

  #settle(at: Attempt): void {
    if (at.pending) {
      at.pending = false;
      this.waiters--;
    }
  }

  /** It was granted; returns the grant time (0 when not timing). */
  granted(mode: LockMode, at: Attempt, fence: number): number {
    this.#settle(at);
    this.acquisitions++;
    this.holders++;
    if (at.waited) this.contended++;
    const now = this.now();
    let waitMs: number | undefined;
    if (now !== 0 && (at.start !== 0 || !at.waited)) {
      waitMs = at.start === 0 ? 0 : now - at.start;
      this.waitMs.record(waitMs);
    }
    this.emit("grant", mode, at.owner, fence, waitMs);
    return now;
  }

  /**
   * Granted at once, without queueing (`acquire` then `grant`, waiting 0);
   * returns the grant time. Allocates nothing.
   */
  grantedAtOnce(
    mode: LockMode,
    owner: string | undefined,
    fence: number,
  ): number {
    this.acquisitions++;
    this.holders++;
    this.waitMs.recordZero();
    if (this.listening) {
      this.emit("acquire", mode, owner);
      this.emit("grant", mode, owner, fence, 0);
    }
    return performance.now();
  }

  /**
   * Set while a `LockManager`'s deadlock detection probes the lock with
   * `tryAcquire` before a labelled `acquire`: a busy probe is not the
   * caller's, so it is neither counted nor reported.
   */
  probing = false;

  /** `tryAcquire` of a local or thread lock found it busy. */
  busyAtOnce(mode: LockMode, owner: string | undefined): void {
    if (this.probing) return;
    this.emit("acquire", mode, owner);
    this.busy++;
    this.emit("busy", mode, owner);
  }

  /** `tryAcquire` found the lock busy. */
  refused(mode: LockMode, at: Attempt): void {
    this.#settle(at);
    this.busy++;
    this.emit("busy", mode, at.owner);
  }

  /** It gave up (`timeout`, `abort`), or failed (`undefined`). */
  /**
   * Records an acquisition that rejected with `error`: a timeout, an abort
   * by `signal`, or (anything else) a failure that counts as neither.
   */
  rejected(
    error: unknown,
    signal: AbortSignal | undefined,
    mode: LockMode,
    at: Attempt,
  ): void {
    this.failed(
      error instanceof LockTimeoutError
        ? "timeout"
        : signal?.aborted && error === signal.reason
        ? "abort"
        : undefined,
      mode,
      at,
    );
  }

  failed(
    type: "timeout" | "abort" | undefined,
    mode: LockMode,
    at: Attempt,
  ): void {
    this.#settle(at);
    if (type === undefined) return;
    if (type === "timeout") this.timeouts++;
    else this.aborts++;
    const now = at.start === 0 ? 0 : this.now();
    this.emit(
      type,
      mode,
      at.owner,
      undefined,
      now === 0 ? undefined : now - at.start,
    );
  }

  /** A release's request failed after every retry. */
  releaseFailed(
    mode: LockMode,
    owner: string | undefined,
    fence: number,
  ): void {
    this.releaseFailures++;
    this.emit("release-failed", mode, owner, fence);
  }

  /** A lease ended: released, or lost. */
  ended(
    lost: boolean,
    mode: LockMode,
    owner: string | undefined,
    fence: number,
    grantedAt: number,
  ): void {
    this.holders--;
    if (lost) this.lost++;
    let holdMs: number | undefined;
    if (grantedAt !== 0 && this.timed) {
      holdMs = performance.now() - grantedAt;
      this.holdMs.record(holdMs);
    }
    this.emit(lost ? "lost" : "release", mode, owner, fence, undefined, holdMs);
  }

  /** The snapshot; `holders` and `waiters` may come from the lock's state. */
  metrics(
    overrides?: {
      acquisitions: number;
      contended: number;
      holders: number;
      waiters: number;
    },
  ): LockMetrics {
    return {
      acquisitions: overrides?.acquisitions ?? this.acquisitions,
      contended: overrides?.contended ?? this.contended,
      busy: this.busy,
      timeouts: this.timeouts,
      aborts: this.aborts,
      lost: this.lost,
      releaseFailures: this.releaseFailures,
      holders: overrides?.holders ?? this.holders,
      waiters: overrides?.waiters ?? this.waiters,
      waitMs: this.waitMs.summary(),
      holdMs: this.holdMs.summary(),
    };
  }
}
