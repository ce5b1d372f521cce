// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.
/**
 * The shapes of a lock's metrics, events and `query()` snapshot, shared by
 * every lock type and by `LockManager`.
 *
 * @module
 */

import type { LockMode } from "./types.ts";

/**
 * A distribution of durations in milliseconds, kept in a fixed set of
 * logarithmic buckets (four per doubling, from 1 µs to 25 days), so that
 * recording allocates nothing and a percentile is off by at most 10 %.
 * `max` and `sum` are exact.
 */
export interface LockDistribution {
  /** How many durations were recorded. */
  readonly count: number;
  /** Their total, in ms. */
  readonly sum: number;
  /** The median, in ms (0 when nothing was recorded). */
  readonly p50: number;
  /** The 90th percentile, in ms. */
  readonly p90: number;
  /** The 99th percentile, in ms. */
  readonly p99: number;
  /** The longest, in ms. */
  readonly max: number;
}

/**
 * What this client (isolate, thread or process) has done with a lock, or
 * with all of a `LockManager`'s locks: from `lock.metrics()` or
 * `manager.metrics()`.
 *
 * Counts are always kept. A `local` or `thread` lock reads the clock, for
 * `waitMs` and `holdMs`, only once it is observed: from the first
 * `metrics()`, `query()` or `subscribe()` on it (or on its manager) on, so
 * that a lock nobody watches pays nothing for the clock. The distributed
 * lock types time every acquisition.
 */
export interface LockMetrics {
  /** Acquisitions granted. */
  readonly acquisitions: number;
  /** Acquisitions granted after waiting in the queue (contention). */
  readonly contended: number;
  /** `tryAcquire` calls that found the lock busy. */
  readonly busy: number;
  /** Acquisitions that gave up because `timeoutMs` passed. */
  readonly timeouts: number;
  /** Acquisitions that gave up because their `signal` aborted. */
  readonly aborts: number;
  /** Leases lost: they expired or were taken over while held. */
  readonly lost: number;
  /** Leases this client holds now. */
  readonly holders: number;
  /** Acquisitions of this client that wait now. */
  readonly waiters: number;
  /** How long granted acquisitions waited, in ms (0 when granted at once). */
  readonly waitMs: LockDistribution;
  /** How long leases were held, from grant to release or loss, in ms. */
  readonly holdMs: LockDistribution;
}

/**
 * What happened to one acquisition, in order: `acquire`, then `grant` at
 * once or `wait` first; a waiter ends in `grant`, `timeout` or `abort`, and
 * `tryAcquire` on a busy lock in `busy`; a lease ends in `release` or `lost`.
 */
export type LockEventType =
  | "acquire"
  | "wait"
  | "grant"
  | "busy"
  | "timeout"
  | "abort"
  | "release"
  | "lost";

/** One event of one acquisition, given to the listeners of `subscribe()`. */
export interface LockEvent {
  /** What happened. */
  readonly type: LockEventType;
  /** The lock's name. */
  readonly name: string;
  /** The mode asked for or held. */
  readonly mode: LockMode;
  /** The acquisition's `owner` label, if it had one. */
  readonly owner: string | undefined;
  /** The lease's fence: on `grant`, `release` and `lost`. */
  readonly fence: number | undefined;
  /**
   * How long the acquisition waited, in ms: on `grant`, `timeout` and
   * `abort`, when the lock was timing (see {@linkcode LockMetrics}).
   */
  readonly waitMs: number | undefined;
  /** How long the lease was held, in ms: on `release` and `lost`, when timed. */
  readonly holdMs: number | undefined;
}

/**
 * Called synchronously with each event. What it throws is logged with
 * `console.error`, never raised into the lock.
 */
export type LockListener = (event: LockEvent) => void;

/**
 * One held or pending request in a {@linkcode LockSnapshot}, shaped like the
 * Web Locks API's `LockInfo`.
 */
export interface LockInfo {
  /** The lock's name. */
  readonly name: string;
  /** The mode held or asked for. */
  readonly mode: LockMode;
  /** The request's `owner` label, when known. */
  readonly owner: string | undefined;
  /** The fence of a held lease; `undefined` for a pending request. */
  readonly fence: number | undefined;
  /**
   * How long it has been held or pending, in ms, when known: by the server's
   * clock on the distributed lock types.
   */
  readonly ageMs: number | undefined;
}

/**
 * Who holds a lock and who waits for it: the answer of `lock.query()` and
 * `manager.query()`, shaped like the Web Locks API's `navigator.locks.query()`.
 * `pending` is in queue order.
 */
export interface LockSnapshot {
  /** The leases that hold the lock now. */
  readonly held: LockInfo[];
  /** The acquisitions waiting for it, first in line first. */
  readonly pending: LockInfo[];
}
