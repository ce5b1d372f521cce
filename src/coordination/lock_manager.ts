// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.

import { createLock } from "../create_lock.ts";
import { createSemaphore } from "../create_semaphore.ts";
import type {
  Lock,
  LockType,
  LockTypes,
  Semaphore,
  SemaphoreType,
  SemaphoreTypes,
} from "../core/types.ts";
import type {
  LockEvent,
  LockInfo,
  LockListener,
  LockMetrics,
  LockSnapshot,
} from "../core/types.ts";
import {
  Histogram,
  recorderOf,
  reportListenerError,
} from "../core/_recorder.ts";
import {
  checkName,
  checkOptionKeys,
  checkOptions,
  show,
} from "../core/_validate.ts";
import { OPTION_KEYS } from "../_option_keys.ts";
import { ManagedLock, WaitForGraph } from "./_managed_lock.ts";
import {
  SharedWaitForGraph,
  type WaitForGraphLike,
} from "../thread/_shared_wait_for.ts";
import {
  ThreadLockTable,
  type ThreadLockTableHandle,
} from "../thread/thread_lock_table.ts";

/**
 * Options for {@linkcode LockManager}.
 *
 * @typeParam T The type of the manager's locks, when a call names none.
 */
export interface LockManagerOptions<T extends LockType = "local"> {
  /**
   * Where the manager's `"thread"` locks live: a table, or a handle another
   * thread sent from its `manager.threads.handle`. Managers sharing a table
   * return the same lock for the same id in every thread.
   *
   * @default {undefined} a new table on first use
   */
  threads?: ThreadLockTable | ThreadLockTableHandle;
  /**
   * The type `getOrCreateLock` creates when it is given none: configure a
   * manager once for its target (say `"auto"` or `"upstash"`).
   *
   * @default {"local"}
   */
  type?: T;
  /**
   * Options every lock of the manager's `type` gets (a call's own options
   * win): `{ env }` for `"auto"`, `{ redis }` for `"upstash"`,
   * `{ namespace }` or `{ url, token }` for `"durable-object"`. A lock of
   * another type, named by a call, gets only the call's options.
   *
   * @default {undefined}
   */
  lockOptions?: LockTypes[T];
}

/**
 * Keeps named locks so that every part of a program asking for the same id
 * gets the same lock: the seed's `LockManager`.
 *
 * Its `"local"` and `"thread"` locks also detect deadlocks among
 * acquisitions labelled with an `owner`: one that would close a cycle of
 * owners waiting for each other's locks rejects with a `LockDeadlockError`
 * instead of waiting forever. For thread locks the graph lives in the
 * shared table, so cycles across worker threads are caught; unlabelled
 * holders are not tracked.
 *
 * @example One lock per resource
 * ```ts
 * import { LockManager } from "@unilock/unilock";
 * import assert from "node:assert/strict";
 *
 * const manager = new LockManager();
 * const a = manager.getOrCreateLock("schema_users");
 * const b = manager.getOrCreateLock("schema_users", "local");
 * assert.equal(a, b);
 * assert.deepEqual(manager.listLocks(), { schema_users: "local" });
 * assert.equal(manager.removeLock("schema_users"), true);
 * assert.equal(manager.removeLock("schema_users"), false);
 * ```
 *
 * @typeParam T The type of the manager's locks, when a call names none.
 */
export class LockManager<T extends LockType = "local"> {
  /** Locks and semaphores by id: one namespace, so an id is one thing. */
  #locks = new Map<string, Lock | Semaphore>();
  #threads: ThreadLockTable | undefined;
  #type: LockType;
  #lockOptions: LockTypes[T] | undefined;
  #graph: WaitForGraph | undefined;
  #threadGraph: WaitForGraphLike | undefined;
  /** Set by the first metrics() or query(): new locks are observed too. */
  #observed = false;
  #listeners: LockListener[] = [];
  /** Each lock's subscription to #fanOut, while anyone listens. */
  #subscriptions = new Map<Lock | Semaphore, () => void>();
  #fanOut = (event: LockEvent): void => {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        reportListenerError(event.name, error);
      }
    }
  };

  /**
   * Constructs a new instance.
   *
   * @param options Where `"thread"` locks live.
   */
  constructor(options?: LockManagerOptions<T>) {
    checkOptions("create lock manager", options);
    const { type = "local", lockOptions } = options ?? {};
    if (typeof type !== "string") {
      throw new TypeError(
        `Cannot create lock manager as 'type' must be a lock type: current value is ${
          show(type)
        }`,
      );
    }
    if (
      lockOptions !== undefined &&
      (lockOptions === null || typeof lockOptions !== "object")
    ) {
      throw new TypeError(
        `Cannot create lock manager as 'lockOptions' must be an object: current value is ${
          show(lockOptions)
        }`,
      );
    }
    this.#type = type;
    this.#lockOptions = lockOptions;
    const threads = options?.threads;
    if (threads !== undefined) {
      this.#threads = threads instanceof ThreadLockTable
        ? threads
        : new ThreadLockTable({ handle: threads });
    }
  }

  /**
   * The shared-memory table behind this manager's `"thread"` locks, created
   * on first use. Send `manager.threads.handle` to a worker and build its
   * manager with `new LockManager({ threads: handle })` to share the locks.
   *
   * @example Sharing named thread locks with a worker
   * ```ts
   * import { LockManager } from "@unilock/unilock";
   * import assert from "node:assert/strict";
   *
   * const manager = new LockManager();
   * // worker.postMessage(manager.threads.handle); in the worker:
   * const there = new LockManager({ threads: manager.threads.handle });
   * const lease = await manager.getOrCreateLock("db", "thread").acquire();
   * assert.equal(await there.getOrCreateLock("db", "thread").tryAcquire(), undefined);
   * await lease.release();
   * ```
   */
  get threads(): ThreadLockTable {
    return this.#threads ??= new ThreadLockTable();
  }

  /**
   * Returns the lock kept under `lockId`, creating it on first use. The lock
   * is named `lockId` unless `options.name` says otherwise. `options` are
   * those of the lock's type, as for {@linkcode createLock}.
   *
   * @example Getting a lock twice
   * ```ts
   * import { LockManager } from "@unilock/unilock";
   * import assert from "node:assert/strict";
   *
   * const manager = new LockManager();
   * const lock = manager.getOrCreateLock("file_ops", "local");
   * assert.equal(manager.getOrCreateLock("file_ops"), lock);
   * assert.equal(lock.name, "file_ops");
   * ```
   *
   * @typeParam U The lock's type: the manager's unless the call names one.
   * @param lockId The id: 1 to 512 characters.
   * @param type The type to create with; when given for an existing id it must match.
   * @param options Passed to {@linkcode createLock} when the lock is created.
   * @returns The one lock kept under `lockId`.
   * @throws {TypeError} When `lockId` exists with another type, or an argument is invalid.
   */
  getOrCreateLock<U extends LockType | undefined = T>(
    lockId: string,
    type?: U,
    // No type is the manager's, so are the options; they never choose it.
    options?: LockTypes[NoInfer<U> extends LockType ? NoInfer<U> : T],
  ): Lock {
    checkName("get lock", lockId, "lockId");
    const existing = this.#locks.get(lockId);
    if (existing !== undefined && isSemaphore(existing)) {
      throw new TypeError(
        `Cannot get lock "${lockId}" as the id is a ${existing.type} semaphore; remove it first to reuse the id`,
      );
    }
    if (existing !== undefined) {
      // "auto" accepts whatever it chose when the lock was created.
      if (type !== undefined && type !== "auto" && type !== existing.type) {
        throw new TypeError(
          `Cannot get lock "${lockId}" as type ${
            show(type)
          }: it exists with type "${existing.type}"; remove it first to change its type`,
        );
      }
      return existing;
    }
    const chosen: LockType = type ?? this.#type;
    if (chosen === "thread") {
      // The table makes thread locks, not createLock: check the keys here.
      checkOptionKeys("get lock", "thread", options, OPTION_KEYS.thread);
    }
    let lock = chosen === "thread"
      // Thread locks come from the shared table, so that every thread's
      // manager finds the same one; their size is the table's.
      ? this.threads.get(lockId)
      : createLock(
        chosen,
        {
          ...(chosen === this.#type ? this.#lockOptions : undefined),
          name: lockId,
          ...options,
        } as LockTypes[LockType],
      );
    // Acquisitions with an `owner` label go through a wait-for graph (see
    // LockDeadlockError): the manager's own for local locks, and for thread
    // locks the table's, in shared memory, which every thread's manager sees.
    if (lock.type === "thread") {
      const shared = this.threads.handle.graph;
      lock = new ManagedLock(
        lock,
        this.#threadGraph ??= shared === undefined
          ? this.#graph ??= new WaitForGraph()
          : new SharedWaitForGraph(shared, this.threads.handle.buffer),
      );
    } else if (lock.type === "local") {
      lock = new ManagedLock(lock, this.#graph ??= new WaitForGraph());
    }
    this.#locks.set(lockId, lock);
    if (this.#observed) lock.metrics?.();
    if (this.#listeners.length > 0) this.#listen(lock);
    return lock;
  }

  /**
   * Returns the semaphore kept under `semaphoreId`, creating it on first
   * use, as `getOrCreateLock` does for locks (ids are shared: an id is a
   * lock or a semaphore). The semaphore is named `semaphoreId` unless
   * `options.name` says otherwise; `options` are those of
   * {@linkcode createSemaphore}, with `permits` required on creation. The
   * manager's `lockOptions` apply when its type is the semaphore's.
   * Semaphores take no part in the manager's deadlock detection.
   *
   * @example One semaphore per resource
   * ```ts
   * import { LockManager } from "@unilock/unilock";
   * import assert from "node:assert/strict";
   *
   * const manager = new LockManager();
   * const api = manager.getOrCreateSemaphore("api", "local", { permits: 3 });
   * assert.equal(manager.getOrCreateSemaphore("api"), api);
   * assert.equal(api.permits, 3);
   * assert.deepEqual(manager.listLocks(), { api: "local" });
   * ```
   *
   * @typeParam U The semaphore's type: the manager's unless the call names one.
   * @param semaphoreId The id: 1 to 512 characters.
   * @param type The type to create with; when given for an existing id it must match.
   * @param options Passed to {@linkcode createSemaphore} on creation; a
   * `permits` given for an existing id must match its capacity.
   * @returns The one semaphore kept under `semaphoreId`.
   * @throws {TypeError} When the id is a lock, or exists with another type.
   * @throws {RangeError} When `permits` differs from the existing semaphore's.
   */
  getOrCreateSemaphore<U extends SemaphoreType>(
    semaphoreId: string,
    type?: U,
    options?: Partial<SemaphoreTypes[NoInfer<U>]>,
  ): Semaphore {
    checkName("get semaphore", semaphoreId, "semaphoreId");
    const existing = this.#locks.get(semaphoreId);
    if (existing !== undefined) {
      if (!isSemaphore(existing)) {
        throw new TypeError(
          `Cannot get semaphore "${semaphoreId}" as the id is a ${existing.type} lock; remove it first to reuse the id`,
        );
      }
      if (type !== undefined && type !== "auto" && type !== existing.type) {
        throw new TypeError(
          `Cannot get semaphore "${semaphoreId}" as type ${
            show(type)
          }: it exists with type "${existing.type}"; remove it first to change its type`,
        );
      }
      const permits = options?.permits;
      if (permits !== undefined && permits !== existing.permits) {
        throw new RangeError(
          `Cannot get semaphore "${semaphoreId}" as 'permits' is ${
            show(permits)
          }: it exists with ${existing.permits} permits; remove it first to change its capacity`,
        );
      }
      return existing;
    }
    const chosen = (type ?? this.#type) as SemaphoreType;
    const semaphore = createSemaphore(
      chosen,
      {
        ...(chosen === this.#type ? this.#lockOptions : undefined),
        // Thread semaphores meet by name in the manager's table, as its
        // thread locks do (so a worker's manager on the same table shares them).
        ...(chosen === "thread" &&
            (options as { handle?: unknown } | undefined)?.handle === undefined
          ? { table: this.threads }
          : undefined),
        name: semaphoreId,
        ...options,
      } as SemaphoreTypes[SemaphoreType],
    );
    this.#locks.set(semaphoreId, semaphore);
    if (this.#observed) semaphore.metrics?.();
    if (this.#listeners.length > 0) this.#listen(semaphore);
    return semaphore;
  }

  #listen(lock: Lock | Semaphore): void {
    if (typeof lock.subscribe !== "function") return;
    this.#subscriptions.set(lock, lock.subscribe(this.#fanOut));
  }

  /**
   * The totals of every kept lock's metrics: counts summed, distributions
   * merged. Like a lock's own, the first call starts the clock of the
   * manager's `local` and `thread` locks, present and future.
   *
   * @example Totals across locks
   * ```ts
   * import { LockManager } from "@unilock/unilock";
   * import assert from "node:assert/strict";
   *
   * const manager = new LockManager();
   * manager.metrics(); // start timing
   * await manager.getOrCreateLock("a").withLock(() => {});
   * await manager.getOrCreateLock("b").withLock(() => {});
   * const { acquisitions, holdMs } = manager.metrics();
   * assert.equal(acquisitions, 2);
   * assert.equal(holdMs.count, 2);
   * ```
   *
   * @returns A new snapshot.
   */
  metrics(): LockMetrics {
    this.#observed = true;
    const waitMs = new Histogram(), holdMs = new Histogram();
    const total = {
      acquisitions: 0,
      contended: 0,
      busy: 0,
      timeouts: 0,
      aborts: 0,
      lost: 0,
      releaseFailures: 0,
      holders: 0,
      waiters: 0,
    };
    for (const lock of this.#locks.values()) {
      if (typeof lock.metrics !== "function") continue;
      const m = lock.metrics();
      for (const key of Object.keys(total) as (keyof typeof total)[]) {
        total[key] += m[key];
      }
      const recorder = recorderOf(lock);
      if (recorder !== undefined) {
        waitMs.merge(recorder.waitMs);
        holdMs.merge(recorder.holdMs);
      }
    }
    return { ...total, waitMs: waitMs.summary(), holdMs: holdMs.summary() };
  }

  /**
   * Who holds and who waits for each kept lock: every lock's `query()`, in
   * one snapshot shaped like the Web Locks API's `navigator.locks.query()`.
   *
   * @example Everything held and pending
   * ```ts
   * import { LockManager } from "@unilock/unilock";
   * import assert from "node:assert/strict";
   *
   * const manager = new LockManager();
   * const lease = await manager.getOrCreateLock("orders").acquire({ owner: "worker-1" });
   * const { held, pending } = await manager.query();
   * assert.deepEqual(held.map((h) => [h.name, h.owner]), [["orders", "worker-1"]]);
   * assert.equal(pending.length, 0);
   * await lease.release();
   * ```
   *
   * @returns Held and pending requests of every kept lock, lock by lock.
   */
  async query(): Promise<LockSnapshot> {
    this.#observed = true;
    const snapshots = await Promise.all(
      [...this.#locks.values()].map((lock) =>
        typeof lock.query === "function"
          ? lock.query()
          : { held: [] as LockInfo[], pending: [] as LockInfo[] }
      ),
    );
    return {
      held: snapshots.flatMap((s) => s.held),
      pending: snapshots.flatMap((s) => s.pending),
    };
  }

  /**
   * Calls `listener` with each event of every kept lock, present and future
   * (`event.name` says which).
   *
   * @example Logging every lock's events
   * ```ts
   * import { LockManager } from "@unilock/unilock";
   * import assert from "node:assert/strict";
   *
   * const manager = new LockManager();
   * const seen: string[] = [];
   * const unsubscribe = manager.subscribe((e) => seen.push(`${e.name} ${e.type}`));
   * await manager.getOrCreateLock("a").withLock(() => {});
   * unsubscribe();
   * assert.deepEqual(seen, ["a acquire", "a grant", "a release"]);
   * ```
   *
   * @param listener Called synchronously with each event.
   * @returns A function that unsubscribes `listener`.
   */
  subscribe(listener: LockListener): () => void {
    if (typeof listener !== "function") {
      throw new TypeError(
        `Cannot subscribe to lock manager as 'listener' must be a function: current value is ${
          show(listener)
        }`,
      );
    }
    if (this.#listeners.length === 0) {
      for (const lock of this.#locks.values()) this.#listen(lock);
    }
    this.#listeners = [...this.#listeners, listener];
    let subscribed = true;
    return () => {
      if (!subscribed) return;
      subscribed = false;
      this.#listeners = this.#listeners.filter((l) => l !== listener);
      if (this.#listeners.length > 0) return;
      for (const unsubscribe of this.#subscriptions.values()) unsubscribe();
      this.#subscriptions.clear();
    };
  }

  /**
   * Lists the kept locks: id to type.
   *
   * @example Listing locks
   * ```ts
   * import { LockManager } from "@unilock/unilock";
   * import assert from "node:assert/strict";
   *
   * const manager = new LockManager();
   * manager.getOrCreateLock("a");
   * assert.deepEqual(manager.listLocks(), { a: "local" });
   * ```
   *
   * @returns A new object mapping each id to its lock's type.
   */
  listLocks(): Record<string, string> {
    const list: Record<string, string> = {};
    for (const [id, lock] of this.#locks) list[id] = lock.type;
    return list;
  }

  /**
   * Forgets the lock kept under `lockId`. Holders and waiters of that lock
   * are not affected, but the next `getOrCreateLock(lockId)` creates a new,
   * separate lock, so remove only locks nobody uses.
   *
   * @example Removing a lock
   * ```ts
   * import { LockManager } from "@unilock/unilock";
   * import assert from "node:assert/strict";
   *
   * const manager = new LockManager();
   * manager.getOrCreateLock("a");
   * assert.equal(manager.removeLock("a"), true);
   * assert.equal(manager.removeLock("a"), false);
   * ```
   *
   * @param lockId The id.
   * @returns Whether a lock was kept under `lockId`.
   */
  removeLock(lockId: string): boolean {
    const lock = this.#locks.get(lockId);
    if (lock !== undefined) {
      this.#subscriptions.get(lock)?.();
      this.#subscriptions.delete(lock);
    }
    return this.#locks.delete(lockId);
  }
}

/** Whether a kept item is a semaphore (it has `withPermits`). */
function isSemaphore(item: Lock | Semaphore): item is Semaphore {
  return typeof (item as Semaphore).withPermits === "function";
}

let defaultManager: LockManager<"local"> | undefined;

/**
 * The isolate's shared {@linkcode LockManager}, created on first use.
 *
 * @example The shared manager
 * ```ts
 * import { getDefaultLockManager } from "@unilock/unilock";
 * import assert from "node:assert/strict";
 *
 * const lock = getDefaultLockManager().getOrCreateLock("resource_name");
 * assert.equal(getDefaultLockManager().getOrCreateLock("resource_name"), lock);
 * ```
 *
 * @returns The same manager on every call within an isolate.
 */
export function getDefaultLockManager(): LockManager<"local"> {
  return defaultManager ??= new LockManager();
}
