// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.

import type { LocalLockOptions } from "../local/local_lock.ts";
import type { ThreadLockOptions } from "../thread/thread_lock.ts";
import type { ThreadSemaphoreOptions } from "../thread/thread_semaphore.ts";
import type { UpstashLockOptions } from "../upstash/upstash_lock.ts";
import type { DurableObjectLockOptions } from "../durable_object/durable_object_lock.ts";
import type { DenoKvLockOptions } from "../deno_kv/deno_kv_lock.ts";
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
  /** A lock in Deno KV (a local file, Deno Deploy, or `denokv`): `DenoKvLock`. */
  "deno-kv": DenoKvLockOptions;
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
  /**
   * Takes the lock from whoever holds it now, ahead of every waiter, as the
   * Web Locks API's `steal`: each current holder loses its lease at once
   * (its `signal` aborts with a `LockLostError` that says it was stolen,
   * and its `release()` no longer does anything), and this acquisition is
   * granted with a fence higher than every earlier grant. Queued waiters
   * keep their places behind it. Only for `mode: "exclusive"`.
   *
   * A last resort, for a holder known to be gone or hung: the old holder's
   * code may still be running, and only the fence keeps its late writes
   * out. On the distributed lock types the server revokes the old leases
   * atomically; their clients learn it at their next renewal (within a
   * third of their lease) or `extend()`. A lock type that cannot steal
   * rejects it with a `TypeError`.
   *
   * @default {false}
   */
  steal?: boolean;
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
   * Sets the lease to end `leaseMs` from now (default: the lease's own
   * length) — from now, not from its current expiry, so a shorter length
   * shortens it — and renews it automatically at that length from then on.
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
 * What {@linkcode Semaphore} options add to a lock type's options: the
 * capacity, given by every client of the semaphore.
 */
export interface SemaphoreOptions {
  /**
   * How many permits the semaphore has: at most this many are out at once,
   * across every client of its name. An integer from 1 to
   * {@linkcode MAX_PERMITS}. Every client of a name must give the same
   * number: on the distributed backends a request carries it, and one that
   * disagrees with the holders and waiters of the name rejects with a
   * `RangeError` (never a silent over-admission). A name's capacity changes
   * only while nobody holds or waits for it: the next request then sets it.
   */
  permits: number;
}

/** The largest capacity (`permits`) a semaphore may have: 10^9. */
export const MAX_PERMITS = 1_000_000_000;

/**
 * The semaphore types `createSemaphore` knows, each with its options: the
 * lock type's own options plus {@linkcode SemaphoreOptions}. A type added
 * with `registerSemaphoreType` joins by declaration merging, as for
 * {@linkcode LockTypes}.
 *
 * @example Each type's options
 * ```ts
 * import type { SemaphoreTypes } from "@unilock/unilock";
 * import assert from "node:assert/strict";
 *
 * const options: SemaphoreTypes["upstash"] = { name: "openai", permits: 5 };
 * assert.equal(options.permits, 5);
 * ```
 */
export interface SemaphoreTypes {
  /** A semaphore within one isolate: `LocalSemaphore`. */
  local: LocalLockOptions & SemaphoreOptions;
  /**
   * A semaphore in shared memory for the worker threads of a process:
   * `ThreadSemaphore` (shared by its handle, or by name in a table).
   */
  thread: ThreadSemaphoreOptions;
  /** A semaphore in Upstash Redis over HTTP: `UpstashSemaphore`. */
  upstash: UpstashLockOptions & SemaphoreOptions;
  /** A semaphore in a Cloudflare Durable Object: `DurableObjectSemaphore`. */
  "durable-object": DurableObjectLockOptions & SemaphoreOptions;
  /** A semaphore in Deno KV: `DenoKvSemaphore`. */
  "deno-kv": DenoKvLockOptions & SemaphoreOptions;
  /** A semaphore in a directory, for the processes of one host: `FileSemaphore`. */
  file: FileLockOptions & SemaphoreOptions;
  /** Whichever `describeLockTarget(options)` chooses. */
  auto: AutoLockOptions & SemaphoreOptions;
}

/**
 * The kind of semaphore `createSemaphore` builds: a key of
 * {@linkcode SemaphoreTypes}.
 */
export type SemaphoreType = keyof SemaphoreTypes & string;

/**
 * Options for one semaphore acquisition: those of a lock's
 * ({@linkcode AcquireOptions}, without `mode`) plus how many permits.
 */
export interface SemaphoreAcquireOptions extends Omit<AcquireOptions, "mode"> {
  /**
   * How many permits to take, all at once: an integer from 1 to the
   * semaphore's capacity. A request waits until all of them are free and
   * it is first in line; nobody behind it is admitted before it, so a heavy
   * request is never passed by lighter ones of the same priority (head-of-
   * line order; `priority` ages as for locks).
   *
   * @default {1}
   */
  permits?: number;
}

/**
 * A semaphore's lease: a lock's {@linkcode Lease} (fence, signal, release,
 * extend, `await using`) plus the permits it holds. Its `mode` is always
 * `"shared"`: holders share the semaphore.
 */
export interface SemaphoreLease extends Lease {
  /** How many permits this lease holds; all return on release or loss. */
  readonly permits: number;
}

/** One held or pending request of a semaphore, with its permits. */
export interface SemaphoreInfo extends LockInfo {
  /** The permits it holds, or needs (pending). */
  readonly permits: number;
}

/**
 * Who holds a semaphore and who waits for it: the answer of
 * `semaphore.query()`, as a lock's {@linkcode LockSnapshot} with permits.
 */
export interface SemaphoreSnapshot extends LockSnapshot {
  /** The leases that hold permits now. */
  readonly held: SemaphoreInfo[];
  /** The acquisitions waiting, first in line first, with what they need. */
  readonly pending: SemaphoreInfo[];
}

/**
 * A counting semaphore: at most `permits` permits out at once, across every
 * client of its name on its backend. Every backend keeps the same contract
 * as for locks: FIFO (head-of-line) waiting, priorities, timeouts,
 * cancellation by `AbortSignal`, idempotent release, leases that renew and
 * strictly increasing fences.
 */
export interface Semaphore {
  /** The semaphore's name. */
  readonly name: string;
  /** The type that built it, such as `"local"`. */
  readonly type: string;
  /** Its capacity: the most permits out at once. */
  readonly permits: number;
  /** Waits (in FIFO order, or by `priority`) until the permits are granted. */
  acquire(options?: SemaphoreAcquireOptions): Promise<SemaphoreLease>;
  /**
   * Takes the permits only if they can be granted now (free, and nobody
   * queued first); otherwise resolves `undefined`.
   */
  tryAcquire(
    options?: SemaphoreAcquireOptions,
  ): Promise<SemaphoreLease | undefined>;
  /**
   * Runs `fn` while holding the permits and releases them afterwards, also
   * when `fn` throws or rejects.
   */
  withPermits<T>(
    fn: (lease: SemaphoreLease) => T | Promise<T>,
    options?: SemaphoreAcquireOptions,
  ): Promise<T>;
  /**
   * How many permits are free now, by the backend: the capacity less the
   * permits held. A request for fewer may still wait while others queue
   * before it (nobody passes the head of the line).
   */
  available(): Promise<number>;
  /** What this client's acquisitions counted and timed (as for locks). */
  metrics(): LockMetrics;
  /** Who holds permits and who waits, with their permits. */
  query(): Promise<SemaphoreSnapshot>;
  /** Calls `listener` with each event of this client's acquisitions. */
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
  /** A semaphore's request: the permits it holds or needs (absent for locks). */
  readonly permits?: number;
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

/**
 * A granted Web Locks request, given to the callback of
 * `WebLockManager.request()`: the Web Locks API's `Lock` (`name`, `mode`),
 * and what a lock of this library adds to it, its `fence` and `signal`.
 */
export interface WebLock {
  /** The resource name it was requested for. */
  readonly name: string;
  /** The mode it was requested in. */
  readonly mode: LockMode;
  /**
   * The fencing token: strictly increasing per name across all grants. Pass
   * it with every write the lock guards (see `Lease.fence`); on the
   * distributed lock types it is what keeps a stolen or expired holder's
   * late writes out.
   */
  readonly fence: number;
  /**
   * Aborts, with a `LockLostError` reason, when the lock is lost while the
   * callback still runs: stolen by a `steal` request, or (on the distributed
   * lock types) its lease could not be renewed.
   */
  readonly signal: AbortSignal;
}

/** The Web Locks API's `LockOptions`, as `WebLockManager.request()` takes them. */
export interface WebLockOptions {
  /**
   * `"exclusive"` for one holder, `"shared"` for many.
   *
   * @default {"exclusive"}
   */
  mode?: LockMode | undefined;
  /**
   * Grant only if the lock is free now and nobody waits; otherwise call the
   * callback with `null` (not an error).
   *
   * @default {false}
   */
  ifAvailable?: boolean | undefined;
  /**
   * Take the lock from its holders (their `request()` promises reject with
   * an `AbortError`) ahead of every waiter. Exclusive only, and not with
   * `ifAvailable` or `signal`.
   *
   * @default {false}
   */
  steal?: boolean | undefined;
  /**
   * Aborts the request while it waits (the promise rejects with
   * `signal.reason`); ignored once the callback runs.
   */
  signal?: AbortSignal | undefined;
}

/** One held lock or pending request in a {@linkcode WebLockManagerSnapshot}. */
export interface WebLockInfo {
  /** The resource name. */
  readonly name: string;
  /** The mode held or requested. */
  readonly mode: LockMode;
  /**
   * The client that holds or requested it: a `WebLockManager`'s `clientId`.
   * An acquisition made through the core API (`createLock(...)`) shows its
   * `owner` label here, or `""` without one (as do other threads' requests
   * on the `thread` type, whose shared memory keeps no labels).
   */
  readonly clientId: string;
}

/** The answer of `WebLockManager.query()`. */
export interface WebLockManagerSnapshot {
  /** Held locks, in grant order per name. */
  held: WebLockInfo[];
  /** Pending requests, in request order per name. */
  pending: WebLockInfo[];
}

/**
 * The Web Locks API's `LockManager` (`navigator.locks`), as
 * `createWebLocks()` implements it over any lock type. Named apart from this
 * library's own `LockManager` class (a registry of named locks).
 */
export interface WebLockManager {
  /**
   * Requests the lock `name` (exclusive) and calls `callback` with it once
   * granted, in a later task; the lock is released when the promise that
   * `callback` returns settles, and the result is `callback`'s.
   */
  request<T>(
    name: string,
    callback: (lock: WebLock) => T | PromiseLike<T>,
  ): Promise<T>;
  /**
   * Requests the lock `name` with `options`; `callback` gets `null` when
   * `ifAvailable` found it busy.
   */
  request<T>(
    name: string,
    options: WebLockOptions & { ifAvailable?: false | undefined },
    callback: (lock: WebLock) => T | PromiseLike<T>,
  ): Promise<T>;
  /**
   * Requests the lock `name` with `options`; `callback` gets `null` when
   * `ifAvailable` found it busy.
   */
  request<T>(
    name: string,
    options: WebLockOptions,
    callback: (lock: WebLock | null) => T | PromiseLike<T>,
  ): Promise<T>;
  /** Who holds and who waits, now. */
  query(): Promise<WebLockManagerSnapshot>;
}
