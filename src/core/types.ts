// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.

import type { LocalLockOptions } from "../local/local_lock.ts";
import type { ThreadLockOptions } from "../thread/thread_lock.ts";
import type { UpstashLockOptions } from "../upstash/upstash_lock.ts";
import type { DurableObjectLockOptions } from "../durable_object/durable_object_lock.ts";
import type { FileLockOptions } from "../file/file_lock.ts";
import type { AutoLockOptions } from "../lock_target.ts";

/**
 * How a lease holds its lock: `"exclusive"` admits one holder at a time;
 * `"shared"` admits any number of shared holders while no exclusive holder
 * has or waits for the lock (readers share, a waiting writer is not starved).
 */
export type LockMode = "exclusive" | "shared";

/**
 * The lock types {@linkcode createLock} and `LockManager` know, each with its
 * options: what `createLock(type, options)` checks `options` against, and
 * what your editor completes them from.
 *
 * A type added with {@linkcode registerLockType} joins by declaration
 * merging: declare it in this interface (in a module, on the package name
 * you import: `"unilock"` from npm, `"@unilock/unilock"` from JSR), and
 * `createLock` accepts it with its options.
 *
 * ```ts ignore
 * declare module "unilock" {
 *   interface LockTypes {
 *     "in-memory": LocalLockOptions; // the options its factory takes
 *   }
 * }
 * ```
 *
 * @example Each type's options
 * ```ts
 * import type { LockTypes, UpstashLockOptions } from "@unilock/unilock";
 * import assert from "node:assert/strict";
 *
 * const options: LockTypes["upstash"] = { name: "jobs", prefix: "app:" };
 * const same: UpstashLockOptions = options;
 * assert.equal(same.prefix, "app:");
 * ```
 */
export interface LockTypes {
  /** An async FIFO lock within one isolate: `LocalLock`. */
  local: LocalLockOptions;
  /** A lock in shared memory for the worker threads of a process: `ThreadLock`. */
  thread: ThreadLockOptions;
  /** A lock in Upstash Redis over HTTP: `UpstashLock`. */
  upstash: UpstashLockOptions;
  /** A lock in a Cloudflare Durable Object, by binding or over HTTP: `DurableObjectLock`. */
  "durable-object": DurableObjectLockOptions;
  /** A lock in a directory, for the processes of one host: `FileLock`. */
  file: FileLockOptions;
  /** Whichever `describeLockTarget(options)` chooses. */
  auto: AutoLockOptions;
}

/**
 * The kind of lock {@linkcode createLock} builds: a key of
 * {@linkcode LockTypes}, which registered types join by declaration merging.
 */
export type LockType = keyof LockTypes & string;

/** Options for one acquisition: {@linkcode Lock.acquire}, {@linkcode Lock.tryAcquire}, {@linkcode Lock.withLock}. */
export interface AcquireOptions {
  /**
   * Give up waiting after this many milliseconds and reject with a
   * `LockTimeoutError` (`name` `"TimeoutError"`). `0` means "only if free
   * now", rejecting instead of resolving `undefined` as `tryAcquire` does.
   * Ignored by `tryAcquire`, which never waits.
   *
   * @default {undefined} wait as long as it takes
   */
  timeoutMs?: number;
  /**
   * Cancels this one waiter: it leaves the queue at once and the promise
   * rejects with `signal.reason`. An already aborted signal rejects before
   * anything is queued. Compose deadlines with `AbortSignal.timeout()` and
   * `AbortSignal.any()`.
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
  /**
   * Lease length in milliseconds on the distributed backends, renewed while
   * the lease is held. A `local` lease lives as long as its holder's isolate,
   * so `local` validates this value and otherwise has no use for it.
   *
   * @default {undefined} the backend's own default
   */
  leaseMs?: number;
  /**
   * `"exclusive"` for one holder, `"shared"` for many readers.
   *
   * @default {"exclusive"}
   */
  mode?: LockMode;
  /**
   * Who is acquiring, as a label (a request id, a job or worker name): shown
   * by `query()` and used by deadlock detection. 1 to 256 characters.
   *
   * @default {undefined}
   */
  owner?: string;
  /**
   * Where this waiter queues: an integer from -100 to 100, higher served
   * first, arrival order among equals. So that no waiter starves, waiting
   * ages it: the queue is ordered by `ticket - priority * 10` (lowest
   * first, the earlier arrival on a tie), where `ticket` numbers the lock's
   * waiters in the order they queued. A waiter is passed only by a later one
   * of higher priority that queued fewer than 10 arrivals per priority step
   * after it, so at most `10 * (100 - priority)` later arrivals ever pass
   * it. Priority orders waiters only: a free lock is granted at once,
   * `tryAcquire` never waits, and a shared waiter that priority puts first
   * in line joins the shared holders at once.
   *
   * @default {0}
   */
  priority?: number;
}

/**
 * Options common to every lock type, given to {@linkcode createLock}; each
 * type's own options extend them (see {@linkcode LockTypes}).
 */
export interface LockOptions {
  /**
   * The lock's name: what distributed backends key the lock by, and what
   * errors and fences refer to. 1 to 512 characters. A `local` lock without a
   * name gets a unique one (`"local-1"`, `"local-2"`, …).
   *
   * @default {undefined}
   */
  name?: string;
}

/**
 * The proof of holding a lock, returned by {@linkcode Lock.acquire}. Release
 * it exactly once with `release()` or `await using`; releasing again does
 * nothing, and never releases a later holder.
 */
export interface Lease extends AsyncDisposable {
  /** The name of the lock this lease holds. */
  readonly name: string;
  /** How this lease holds the lock. */
  readonly mode: LockMode;
  /**
   * The fencing token: strictly increasing per lock name across all grants
   * on a backend. Pass it with every write the lock guards and let storage
   * refuse a write with a fence lower than one it has already seen.
   */
  readonly fence: number;
  /** Aborts, with a `LockLostError` reason, when the lease is lost or expires. */
  readonly signal: AbortSignal;
  /** Whether `release()` has been called (or the lease was disposed). */
  readonly released: boolean;
  /** Gives the lock up. Idempotent: a second call resolves and does nothing. */
  release(): Promise<void>;
  /**
   * Pushes the lease's expiry out by `leaseMs` (or the lease's own length).
   * Rejects with a `LockReleasedError` after `release()`.
   */
  extend(leaseMs?: number): Promise<void>;
}

/**
 * One named lock. Every backend implements the same contract: FIFO waiting,
 * `exclusive` and `shared` modes, timeouts, cancellation by `AbortSignal`,
 * idempotent release and strictly increasing fences.
 */
export interface Lock {
  /** The lock's name. */
  readonly name: string;
  /** The lock type that built it, such as `"local"`. */
  readonly type: string;
  /** Waits (in FIFO order, or by `priority`) until the lock is granted. */
  acquire(options?: AcquireOptions): Promise<Lease>;
  /** Takes the lock only if it can be granted now; busy resolves `undefined`. */
  tryAcquire(options?: AcquireOptions): Promise<Lease | undefined>;
  /**
   * Runs `fn` while holding the lock and releases it afterwards, also when
   * `fn` throws or rejects.
   */
  withLock<T>(
    fn: (lease: Lease) => T | Promise<T>,
    options?: AcquireOptions,
  ): Promise<T>;
  /** Whether anyone holds the lock now (in either mode). */
  isLocked(): Promise<boolean>;
  /**
   * What this client's acquisitions of the lock counted and timed: grants,
   * contention, timeouts, aborts, lost leases, its holders and waiters now,
   * and the wait and hold time distributions.
   */
  metrics(): LockMetrics;
  /**
   * Who holds the lock and who waits for it now, everyone's requests (on the
   * distributed types, from the server's state), like the Web Locks API's
   * `navigator.locks.query()`.
   */
  query(): Promise<LockSnapshot>;
  /**
   * Calls `listener` with each event of this client's acquisitions (see
   * `LockEventType`); returns the function that unsubscribes it.
   */
  subscribe(listener: LockListener): () => void;
}

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
  /**
   * Releases that failed after every retry (the backend was unreachable):
   * such a lease ends when its lease runs out on the backend.
   */
  readonly releaseFailures: number;
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
 * `release-failed` follows a `release` whose request to the backend failed
 * after every retry (the lease then ends by its expiry there).
 */
export type LockEventType =
  | "acquire"
  | "wait"
  | "grant"
  | "busy"
  | "timeout"
  | "abort"
  | "release"
  | "lost"
  | "release-failed";

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
