// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.

import {
  LockError,
  LockLostError,
  LockReleasedError,
  LockTimeoutError,
} from "../core/errors.ts";
import type {
  AcquireOptions,
  Lease,
  Lock,
  LockMode,
  LockOptions,
} from "../core/types.ts";
import { hold } from "../core/_hold.ts";
import type {
  LockInfo,
  LockListener,
  LockMetrics,
  LockSnapshot,
} from "../core/types.ts";
import { attachRecorder, type Attempt, Recorder } from "../core/_recorder.ts";
import {
  checkAcquireOptions,
  checkLeaseMs,
  checkName,
  checkOptions,
  show,
} from "../core/_validate.ts";
import {
  checkThreadSupport,
  type Grant,
  HEADER_BYTES,
  MAGIC,
  regionBytes,
  REQUEUE,
  ThreadState,
  WAITER_REFRESH_MS,
} from "./_thread_state.ts";
import { type Sleeper, waitOn } from "./_wait_on.ts";
import { hooks, type LeaseBinding } from "./_hooks.ts";
import { StealWatch, type Watched } from "./_steal_watch.ts";
import { unref } from "../core/_unref.ts";

export { WAIT_STRATEGY } from "./_wait_on.ts";

/** Options for {@linkcode ThreadLock}. */
export interface ThreadLockOptions extends LockOptions {
  /**
   * The lock's name, used in errors. A rebuilt lock takes its name from the
   * handle.
   *
   * @default {"thread-<n>"} a name unique within the thread
   */
  name?: string;
  /**
   * A handle from another thread's `lock.handle`: the new `ThreadLock` is
   * the same lock, not a copy.
   *
   * @default {undefined} create a new lock
   */
  handle?: ThreadLockHandle;
  /**
   * Slots in shared memory: the most acquisitions that can wait at once,
   * across all threads, plus shared holders that have a `leaseMs`. Each slot
   * takes 48 bytes. An acquisition that finds no free slot rejects with a
   * `LockError`. 1 to 65536.
   *
   * @default {256}
   */
  capacity?: number;
}

/**
 * What a worker needs to rebuild a {@linkcode ThreadLock}: send it with
 * `postMessage` (the `SharedArrayBuffer` is shared, not copied) and pass it
 * as `createLock("thread", { handle })`.
 */
export interface ThreadLockHandle {
  /** Always `"unilock/thread-lock"`. */
  readonly kind: "unilock/thread-lock";
  /** The layout version. */
  readonly version: 1;
  /** The lock's name. */
  readonly name: string;
  /** The shared memory holding the lock. */
  readonly buffer: SharedArrayBuffer;
  /** Where in `buffer` the lock's region starts. */
  readonly byteOffset: number;
}

const RESOLVED: Promise<void> = Promise.resolve();
let unnamed = 0;

// What this thread knows of each lock region's requests, for every handle.
const known = new WeakMap<
  SharedArrayBuffer,
  Map<number, {
    mine: Map<number, ThreadLease>;
    waiters: Map<number, Attempt>;
    rec: Recorder;
    watch: StealWatch;
  }>
>();

const STOLEN = "it was stolen (another acquisition took the lock with steal)";

// Set by ThreadLock's static block: a lease tells its lock it ended.
let leaseEnded: (lock: ThreadLock, lease: ThreadLease, lost: boolean) => void;
// Likewise: the lock's watch for steals in this thread.
let watchOf: (lock: ThreadLock) => StealWatch;
/** A LockTimeoutError for a deadline that passed while the guard was held. */
function guardTimeout(
  name: string,
  timeoutMs: number | undefined,
  detail: string,
): LockTimeoutError {
  const error = new LockTimeoutError(name, timeoutMs ?? 0);
  Object.defineProperty(error, "cause", {
    value: new LockError(
      `Lock "${name}": its bookkeeping in shared memory was ${detail}`,
      name,
    ),
    configurable: true,
    writable: true,
  });
  return error;
}

function checkHandle(handle: unknown): ThreadLockHandle {
  const action = "rebuild thread lock";
  if (handle === null || typeof handle !== "object") {
    throw new TypeError(
      `Cannot ${action} as 'handle' must be a ThreadLockHandle: current value is ${
        show(handle)
      }`,
    );
  }
  const { kind, version, name, buffer, byteOffset } = handle as Record<
    string,
    unknown
  >;
  if (kind !== "unilock/thread-lock" || version !== 1) {
    throw new TypeError(
      `Cannot ${action} as 'handle' is not a unilock thread lock handle of version 1: kind is ${
        show(kind)
      }, version is ${show(version)}`,
    );
  }
  if (!(buffer instanceof SharedArrayBuffer)) {
    throw new TypeError(
      `Cannot ${action} as 'handle.buffer' is not a SharedArrayBuffer (it is ${
        show(buffer)
      }): a handle works only in the process that made it, passed by postMessage, not through JSON or across processes`,
    );
  }
  if (
    typeof byteOffset !== "number" || !Number.isSafeInteger(byteOffset) ||
    byteOffset < 0 || byteOffset % 8 !== 0 ||
    byteOffset + HEADER_BYTES > buffer.byteLength
  ) {
    throw new TypeError(
      `Cannot ${action} as 'handle.byteOffset' must be a multiple of 8 inside the buffer: current value is ${
        show(byteOffset)
      }`,
    );
  }
  const header = new Int32Array(buffer, byteOffset, 2);
  const capacity = header[1]!;
  if (
    Atomics.load(header, 0) !== MAGIC || capacity < 1 ||
    byteOffset + regionBytes(capacity) > buffer.byteLength
  ) {
    throw new TypeError(
      `Cannot ${action} as the handle's buffer does not hold a unilock thread lock at offset ${byteOffset}: the buffer is corrupt or not a lock`,
    );
  }
  checkName(action, name);
  return handle as ThreadLockHandle;
}

/**
 * A lock shared by the threads of one process (Node `worker_threads`, Deno
 * and Bun `Worker`s, browser workers): the `thread` lock type. Its state
 * lives in a `SharedArrayBuffer`; waiting threads sleep with
 * `Atomics.waitAsync` and never block their event loop. FIFO across threads,
 * both modes, fences that strictly increase across all threads, `steal` that
 * takes the lock from holders in every thread, and with `leaseMs`, recovery
 * from a holder thread that was terminated.
 *
 * @example Sharing a lock with a worker
 * ```ts
 * import { createLock, ThreadLock } from "@unilock/unilock";
 * import assert from "node:assert/strict";
 *
 * const lock = createLock("thread", { name: "jobs" }) as ThreadLock;
 * // worker.postMessage(lock.handle); in the worker:
 * const same = createLock("thread", { handle: lock.handle });
 * const lease = await lock.acquire();
 * assert.equal(await same.tryAcquire(), undefined);
 * await lease.release();
 * ```
 */
export class ThreadLock implements Lock {
  /** The lock's name. */
  readonly name: string;
  /** Always `"thread"`. */
  readonly type: string = "thread";
  #state: ThreadState;
  #handle: ThreadLockHandle;
  #rec: Recorder;
  /**
   * This thread's leases that carry an owner or a grant time, by fence, and
   * its waiters, by slot, shared by every handle of the lock in this thread:
   * shared memory holds neither, so `query()` adds them for this thread's
   * own requests.
   */
  #mine: Map<number, ThreadLease>;
  #waiters: Map<number, Attempt>;
  /** This thread's leases of the lock that watch for a steal. */
  #watch: StealWatch;

  /**
   * Creates a lock in new shared memory, or rebuilds one from a handle.
   *
   * @param options A name and capacity, or a handle.
   * @throws {TypeError} On a runtime without shared memory or threads, or a bad handle.
   */
  constructor(options?: ThreadLockOptions) {
    const action = "create thread lock";
    checkOptions(action, options);
    checkThreadSupport(action);
    const { handle, capacity = 256 } = options ?? {};
    if (handle !== undefined) {
      this.#handle = checkHandle(handle);
      this.name = this.#handle.name;
    } else {
      if (
        typeof capacity !== "number" || !Number.isInteger(capacity) ||
        capacity < 1 || capacity > 65536
      ) {
        throw new RangeError(
          `Cannot ${action} as 'capacity' must be an integer from 1 to 65536: current value is ${
            show(capacity)
          }`,
        );
      }
      const name = options?.name;
      this.name = name === undefined
        ? `thread-${++unnamed}`
        : checkName(action, name);
      const buffer = new SharedArrayBuffer(regionBytes(capacity));
      ThreadState.format(buffer, 0, capacity);
      this.#handle = {
        kind: "unilock/thread-lock",
        version: 1,
        name: this.name,
        buffer,
        byteOffset: 0,
      };
    }
    this.#state = new ThreadState(this.#handle.buffer, this.#handle.byteOffset);
    let regions = known.get(this.#handle.buffer);
    if (regions === undefined) {
      known.set(this.#handle.buffer, regions = new Map());
    }
    let local = regions.get(this.#handle.byteOffset);
    if (local === undefined) {
      regions.set(
        this.#handle.byteOffset,
        local = {
          mine: new Map(),
          waiters: new Map(),
          rec: new Recorder(this, this.name, false),
          watch: new StealWatch(this.#state.i32, this.#state.stealsIndex),
        },
      );
    }
    this.#rec = local.rec;
    attachRecorder(this, local.rec);
    this.#mine = local.mine;
    this.#waiters = local.waiters;
    this.#watch = local.watch;
  }

  /**
   * Wraps a lock region that a `ThreadLockTable` keeps in its own buffer.
   * @internal
   */
  static fromRegion(
    name: string,
    buffer: SharedArrayBuffer,
    byteOffset: number,
  ): ThreadLock {
    return new ThreadLock({
      handle: {
        kind: "unilock/thread-lock",
        version: 1,
        name,
        buffer,
        byteOffset,
      },
    });
  }

  /**
   * The handle to send to another thread with `postMessage`.
   *
   * @example Rebuilding from a handle
   * ```ts
   * import { ThreadLock } from "@unilock/unilock";
   * import assert from "node:assert/strict";
   *
   * const lock = new ThreadLock({ name: "x" });
   * const again = new ThreadLock({ handle: lock.handle });
   * assert.equal(again.name, "x");
   * ```
   */
  get handle(): ThreadLockHandle {
    return this.#handle;
  }

  /** How many acquisitions wait now, across all threads. */
  get waiting(): number {
    const state = this.#state;
    state.lock();
    try {
      return state.waiting;
    } finally {
      state.unlock();
    }
  }

  /**
   * Waits until the lock is granted, in FIFO order across all threads.
   *
   * @example Acquiring with a lease
   * ```ts
   * import { ThreadLock } from "@unilock/unilock";
   * import assert from "node:assert/strict";
   *
   * const lock = new ThreadLock();
   * const lease = await lock.acquire({ leaseMs: 5_000 });
   * assert.equal(lease.signal.aborted, false);
   * await lease.release();
   * ```
   *
   * @param options Timeout, signal, lease length, mode, priority, owner and
   * `steal` (take the lock from its holders in every thread at once).
   * @returns The lease.
   */
  acquire(options?: AcquireOptions): Promise<Lease> {
    return this.#acquire(options, undefined);
  }

  static {
    hooks.acquireWith = (lock, options, track) =>
      (lock as ThreadLock).#acquire(options, track);
    hooks.leaseBinding = (lease) =>
      lease instanceof ThreadLease ? lease.binding : undefined;
    watchOf = (lock) => lock.#watch;
  }

  #acquire(
    options: AcquireOptions | undefined,
    track: ((slot: number, gen: number) => void) | undefined,
  ): Promise<Lease> {
    const state = this.#state;
    if (options === undefined) {
      if (state.lockSoon()) {
        let grant: Grant | undefined | null;
        try {
          if (state.minExpiry !== 0) state.reap();
          grant = state.grantNow(false, 0);
        } finally {
          state.unlock();
        }
        if (grant) {
          return Promise.resolve(this.#granted(false, grant, 0, undefined));
        }
      }
      return this.#queue(
        false,
        0,
        0,
        undefined,
        undefined,
        this.#rec.begin("exclusive", undefined, false),
        undefined,
        track,
      );
    }
    let mode: LockMode, signal: AbortSignal | undefined;
    let timeoutMs: number | undefined, leaseMs: number | undefined;
    let owner: string | undefined, priority: number, steal: boolean;
    try {
      ({ mode, signal, timeoutMs, leaseMs, owner, priority, steal } =
        checkAcquireOptions(this.name, options, true));
    } catch (error) {
      return Promise.reject(error);
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (steal) return this.#steal(leaseMs ?? 0, owner, signal, timeoutMs);
    const shared = mode === "shared";
    if (state.lockSoon()) {
      let grant: Grant | undefined | null;
      try {
        if (state.minExpiry !== 0) state.reap();
        grant = state.grantNow(shared, leaseMs ?? 0);
      } finally {
        state.unlock();
      }
      if (grant === null) return Promise.reject(this.#full());
      if (grant) {
        return Promise.resolve(
          this.#granted(shared, grant, leaseMs ?? 0, owner),
        );
      }
      if (timeoutMs === 0) {
        this.#rec.failed("timeout", mode, this.#rec.begin(mode, owner, false));
        return Promise.reject(new LockTimeoutError(this.name, 0));
      }
    }
    return this.#queue(
      shared,
      leaseMs ?? 0,
      priority,
      signal,
      timeoutMs === undefined ? undefined : performance.now() + timeoutMs,
      this.#rec.begin(mode, owner, false),
      timeoutMs,
      track,
    );
  }

  /**
   * Takes the lock from every holder at once, ahead of the queue (`steal`,
   * see ThreadState.steal). It never waits for the lock; only for the
   * guard, if a terminated thread left it taken (within `timeoutMs`).
   */
  #steal(
    leaseMs: number,
    owner: string | undefined,
    signal: AbortSignal | undefined,
    timeoutMs: number | undefined,
  ): Promise<Lease> {
    const state = this.#state;
    const steal = (): Grant => {
      try {
        return state.steal(leaseMs);
      } finally {
        state.unlock();
      }
    };
    if (state.lockSoon()) {
      try {
        return Promise.resolve(
          this.#granted(false, steal(), leaseMs, owner),
        );
      } catch (error) {
        return Promise.reject(error);
      }
    }
    const at = this.#rec.begin("exclusive", owner, false);
    return state.lockAsync(
      timeoutMs === undefined ? undefined : performance.now() + timeoutMs,
      signal,
      (detail) => guardTimeout(this.name, timeoutMs, detail),
    ).then(
      () => this.#taken(false, steal(), leaseMs, at),
      (error) => {
        this.#rec.rejected(error, signal, "exclusive", at);
        throw error;
      },
    );
  }

  /** A lease for a grant made at once, counted (and timed when observed). */
  #granted(
    shared: boolean,
    grant: Grant,
    leaseMs: number,
    owner: string | undefined,
  ): ThreadLease {
    const lease = new ThreadLease(this, this.#state, shared, grant, leaseMs);
    const rec = this.#rec;
    if (rec.timed) {
      lease.meta = {
        owner,
        since: rec.grantedAtOnce(lease.mode, owner, lease.fence),
      };
    } else {
      rec.acquisitions++;
      rec.holders++;
      if (owner === undefined) return lease;
      lease.meta = { owner, since: 0 };
    }
    this.#mine.set(lease.fence, lease);
    return lease;
  }

  static {
    leaseEnded = (lock, lease, lost) => {
      const rec = lock.#rec;
      // The common end, unwatched and unlabelled: a count, nothing more.
      const meta = lease.meta;
      if (!lost && !rec.timed && meta === undefined) {
        rec.holders--;
        return;
      }
      lock.#mine.delete(lease.fence);
      rec.ended(lost, lease.mode, meta?.owner, lease.fence, meta?.since ?? 0);
    };
  }

  /**
   * What this thread's acquisitions of the lock counted and timed (its own
   * holders and waiters; `query()` shows every thread's). The first call (or
   * `query()`, or `subscribe()`) starts the clock: until then it keeps counts.
   *
   * @example Counting a thread's acquisitions
   * ```ts
   * import { ThreadLock } from "@unilock/unilock";
   * import assert from "node:assert/strict";
   *
   * const lock = new ThreadLock();
   * await lock.withLock(() => {});
   * assert.equal(lock.metrics().acquisitions, 1);
   * ```
   *
   * @returns A new snapshot.
   */
  metrics(): LockMetrics {
    this.#observe();
    return this.#rec.metrics();
  }

  /**
   * Who holds the lock and who waits for it, across all threads, from the
   * shared memory. Owners and ages are known only for this thread's own
   * requests (shared memory keeps neither), and the fence of a shared lease
   * without `leaseMs` only when it is this thread's. A waiter whose thread
   * was terminated is left out.
   *
   * @example Querying a thread lock
   * ```ts
   * import { ThreadLock } from "@unilock/unilock";
   * import assert from "node:assert/strict";
   *
   * const lock = new ThreadLock();
   * const lease = await lock.acquire({ owner: "main" });
   * const { held } = await lock.query();
   * assert.deepEqual(held.map((h) => [h.owner, h.fence]), [["main", 1]]);
   * await lease.release();
   * ```
   *
   * @returns Held leases (by fence) and pending acquisitions (in queue order).
   */
  query(): Promise<LockSnapshot> {
    this.#observe();
    return guarded(this.#state, (state) => {
      if (state.minExpiry !== 0) state.reap();
      return state.snapshot();
    }, (snapshot) => this.#report(snapshot));
  }

  #report(snapshot: ReturnType<ThreadState["snapshot"]>): LockSnapshot {
    const at = performance.now();
    const info = (
      mode: LockMode,
      fence: number | undefined,
      known: { owner: string | undefined; since: number } | undefined,
    ): LockInfo => ({
      name: this.name,
      mode,
      owner: known?.owner,
      fence,
      ageMs: known === undefined || known.since === 0
        ? undefined
        : at - known.since,
    });
    const held: LockInfo[] = [];
    const seen = new Set<number>();
    for (const { fence, shared } of snapshot.held) {
      seen.add(fence);
      held.push(
        info(
          shared ? "shared" : "exclusive",
          fence,
          this.#mine.get(fence)?.meta,
        ),
      );
    }
    // Shared leases without a slot: their fences are known only here.
    let anonymous = snapshot.readers - snapshot.held.filter((h) => h.shared)
      .length;
    for (const lease of this.#mine.values()) {
      if (anonymous <= 0) break;
      if (lease.mode !== "shared" || seen.has(lease.fence)) continue;
      held.push(info("shared", lease.fence, lease.meta));
      anonymous--;
    }
    for (; anonymous > 0; anonymous--) {
      held.push(info("shared", undefined, undefined));
    }
    held.sort((a, b) => (a.fence ?? Infinity) - (b.fence ?? Infinity));
    const pending = snapshot.pending.map(({ slot, shared }) => {
      const attempt = this.#waiters.get(slot);
      return info(
        shared ? "shared" : "exclusive",
        undefined,
        attempt && { owner: attempt.owner, since: attempt.start },
      );
    });
    return { held, pending };
  }

  /**
   * Calls `listener` with each event of this thread's acquisitions.
   *
   * @example Listening to a thread lock
   * ```ts
   * import { ThreadLock } from "@unilock/unilock";
   * import assert from "node:assert/strict";
   *
   * const lock = new ThreadLock();
   * const types: string[] = [];
   * lock.subscribe((event) => types.push(event.type));
   * await lock.withLock(() => {});
   * assert.deepEqual(types, ["acquire", "grant", "release"]);
   * ```
   *
   * @param listener Called synchronously with each event.
   * @returns A function that unsubscribes `listener`.
   */
  subscribe(listener: LockListener): () => void {
    const unsubscribe = this.#rec.subscribe(listener);
    this.#observe();
    return unsubscribe;
  }

  #observe(): void {
    if (this.#rec.timed) return;
    this.#rec.timed = true;
    const at = performance.now();
    for (const attempt of this.#waiters.values()) attempt.start = at;
  }

  /**
   * Takes the lock only if it can be granted at once; busy resolves
   * `undefined`.
   *
   * @example Trying from two handles
   * ```ts
   * import { ThreadLock } from "@unilock/unilock";
   * import assert from "node:assert/strict";
   *
   * const lock = new ThreadLock();
   * const lease = await lock.tryAcquire();
   * assert.ok(lease);
   * assert.equal(await lock.tryAcquire(), undefined);
   * await lease.release();
   * ```
   *
   * @param options Mode, lease length and signal; `timeoutMs` does not apply.
   * @returns The lease, or `undefined` when the lock is busy.
   */
  tryAcquire(options?: AcquireOptions): Promise<Lease | undefined> {
    let mode: LockMode, signal: AbortSignal | undefined;
    let leaseMs: number | undefined, owner: string | undefined;
    let steal: boolean;
    try {
      ({ mode, signal, leaseMs, owner, steal } = checkAcquireOptions(
        this.name,
        options,
        true,
      ));
    } catch (error) {
      return Promise.reject(error);
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    // A steal is never busy.
    if (steal) return this.#steal(leaseMs ?? 0, owner, signal, undefined);
    const shared = mode === "shared";
    // It does not wait for the lock; it may wait (on timers, for at most the
    // takeover bound) for a guard that a terminated thread left taken.
    return guarded(this.#state, (state) => {
      if (state.minExpiry !== 0) state.reap();
      return state.grantNow(shared, leaseMs ?? 0);
    }, (grant) => {
      if (grant === null) throw this.#full();
      if (grant === undefined) {
        this.#rec.busyAtOnce(mode, owner);
        return undefined;
      }
      return this.#granted(shared, grant, leaseMs ?? 0, owner);
    }, signal);
  }

  /**
   * Runs `fn` while holding the lock, then releases it, also when `fn`
   * throws or rejects.
   *
   * @example Running a critical section
   * ```ts
   * import { ThreadLock } from "@unilock/unilock";
   * import assert from "node:assert/strict";
   *
   * const lock = new ThreadLock();
   * assert.equal(await lock.withLock((lease) => lease.fence), 1);
   * ```
   *
   * @typeParam T The result of `fn`.
   * @param fn The critical section; it receives the lease.
   * @param options Timeout, signal, lease length and mode.
   * @returns What `fn` returned.
   */
  withLock<T>(
    fn: (lease: Lease) => T | Promise<T>,
    options?: AcquireOptions,
  ): Promise<T> {
    return hold(this, fn, options);
  }

  /**
   * Whether any thread holds the lock now, in either mode.
   *
   * @example Checking the lock
   * ```ts
   * import { ThreadLock } from "@unilock/unilock";
   * import assert from "node:assert/strict";
   *
   * const lock = new ThreadLock();
   * assert.equal(await lock.isLocked(), false);
   * ```
   *
   * @returns `true` while a lease is held.
   */
  isLocked(): Promise<boolean> {
    return guarded(this.#state, (state) => {
      if (state.minExpiry !== 0) state.reap();
      return state.writer || state.readers > 0;
    }, (locked) => locked);
  }

  #full(): LockError {
    return new LockError(
      `Cannot acquire lock "${this.name}": all ${this.#state.capacity} slots are in use; create the lock with a larger 'capacity'`,
      this.name,
    );
  }

  async #queue(
    shared: boolean,
    leaseMs: number,
    priority: number,
    signal: AbortSignal | undefined,
    deadline: number | undefined,
    at: Attempt,
    timeoutMs: number | undefined,
    track: ((slot: number, gen: number) => void) | undefined,
  ): Promise<Lease> {
    const rec = this.#rec, mode: LockMode = shared ? "shared" : "exclusive";
    const state = this.#state;
    let grant: Grant | undefined | null, slot = 0, gen = 0, key = 0;
    try {
      if (!state.lockSoon()) {
        await state.lockAsync(
          deadline,
          signal,
          (detail) => guardTimeout(this.name, timeoutMs, detail),
        );
      }
      // One step: granted at once if the lock is free, else in line.
      try {
        if (state.minExpiry !== 0) state.reap();
        grant = state.grantNow(shared, leaseMs);
        if (grant === undefined && timeoutMs !== 0) {
          slot = state.enqueue(shared, leaseMs, priority);
          if (slot !== 0) {
            gen = state.gen(slot);
            key = state.slotKey(slot);
          }
        }
      } finally {
        state.unlock();
      }
      if (grant === null || (grant === undefined && slot === 0)) {
        throw timeoutMs === 0
          ? new LockTimeoutError(this.name, 0)
          : this.#full();
      }
    } catch (error) {
      rec.rejected(error, signal, mode, at);
      throw error;
    }
    if (grant !== undefined) return this.#taken(shared, grant, leaseMs, at);
    track?.(slot, gen);
    at.start = rec.now();
    rec.waiting(mode, at);
    this.#waiters.set(slot, at);
    try {
      return await this.#wait(
        shared,
        leaseMs,
        signal,
        deadline,
        at,
        slot,
        gen,
        key,
        timeoutMs,
        track,
      );
    } catch (error) {
      rec.rejected(error, signal, mode, at);
      throw error;
    }
  }

  /** A lease for a grant that an acquisition waited for. */
  #taken(
    shared: boolean,
    grant: Grant,
    leaseMs: number,
    attempt: Attempt,
  ): ThreadLease {
    const lease = new ThreadLease(this, this.#state, shared, grant, leaseMs);
    lease.meta = {
      owner: attempt.owner,
      since: this.#rec.granted(lease.mode, attempt, lease.fence),
    };
    this.#mine.set(lease.fence, lease);
    return lease;
  }

  async #wait(
    shared: boolean,
    leaseMs: number,
    signal: AbortSignal | undefined,
    deadline: number | undefined,
    attempt: Attempt,
    slot: number,
    gen: number,
    key: number,
    timeoutMs: number | undefined,
    track: ((slot: number, gen: number) => void) | undefined,
  ): Promise<Lease> {
    const state = this.#state, i32 = state.i32;
    let index = state.stateIndex(slot);
    const sleeper: Sleeper = { wake: undefined, polls: 0 };
    const onAbort = () => sleeper.wake?.();
    const timedOut = (detail: string) =>
      guardTimeout(this.name, timeoutMs, detail);
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      for (;;) {
        if (!state.lockSoon()) {
          try {
            await state.lockAsync(deadline, signal, timedOut);
          } catch (error) {
            // It cannot leave the queue without the guard: it marks its
            // place as given up, and the next dispatch or reap frees it.
            state.abandon(slot, gen);
            this.#waiters.delete(slot);
            throw error;
          }
        }
        let grant: Grant | typeof REQUEUE | undefined;
        let delayMs = Infinity, spin = false;
        try {
          // A grant that ran out while this thread was stalled is reaped
          // here, and so found gone, rather than handed out expired.
          if (state.minExpiry !== 0) state.reap();
          grant = state.consume(slot, gen);
          if (grant === REQUEUE) {
            // Its grant lapsed before this thread came to take it, or its
            // place was reclaimed while this thread was silent: back in
            // line with the same key, so that it keeps its ticket and its
            // priority's aging.
            this.#waiters.delete(slot);
            slot = state.enqueue(shared, leaseMs, 0, key);
            if (slot === 0) throw this.#full();
            gen = state.gen(slot);
            index = state.stateIndex(slot);
            this.#waiters.set(slot, attempt);
          } else if (grant === undefined) {
            const gaveUp = signal?.aborted
              ? signal.reason
              : deadline !== undefined && performance.now() >= deadline
              ? new LockTimeoutError(this.name, timeoutMs!)
              : undefined;
            if (gaveUp !== undefined) {
              // Either it leaves the queue now, or it was granted first and
              // the grant stands: exactly one outcome.
              if (state.cancel(slot, gen)) {
                this.#waiters.delete(slot);
                throw gaveUp;
              }
              continue;
            }
            // A waiter is what notices a dead holder's lease running out,
            // and it shows it is alive itself.
            state.touch(slot, gen);
            state.reap();
            const minExpiry = state.minExpiry;
            delayMs = WAITER_REFRESH_MS;
            if (minExpiry > 0) {
              delayMs = Math.min(delayMs, Math.max(0, minExpiry - state.now));
            }
            if (deadline !== undefined) {
              delayMs = Math.min(
                delayMs,
                Math.max(0, deadline - performance.now()),
              );
            }
            spin = state.shouldSpin(slot);
          }
        } finally {
          state.unlock();
        }
        if (grant === REQUEUE) {
          // Outside the lock's guard: a graph takes its own.
          track?.(slot, gen);
          continue;
        }
        if (grant !== undefined) {
          this.#waiters.delete(slot);
          return this.#taken(shared, grant, leaseMs, attempt);
        }
        if (spin && spinFor(i32, index, WAIT_STATE)) continue;
        const slept = waitOn(i32, index, WAIT_STATE, delayMs, sleeper);
        if (slept !== undefined) await slept;
      }
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }
}

/** A slot's state word while it waits (see _thread_state.ts). */
const WAIT_STATE = 1;

/**
 * Runs `fn` under the state's guard, then `after` on its result outside it:
 * at once when the guard comes within a moment, else once it comes (without
 * holding up the event loop: see Guard.takeAsync).
 */
function guarded<T, R>(
  state: ThreadState,
  fn: (state: ThreadState) => T,
  after: (result: T) => R,
  signal?: AbortSignal,
): Promise<R> {
  const run = (): R => {
    let result: T;
    try {
      result = fn(state);
    } finally {
      state.unlock();
    }
    return after(result);
  };
  if (state.lockSoon()) {
    try {
      return Promise.resolve(run());
    } catch (error) {
      return Promise.reject(error);
    }
  }
  return state.lockAsync(undefined, signal, unreachable).then(run);
}

/** The timeout of a guard wait that has no deadline: never called. */
function unreachable(): Error {
  return new Error("unreachable: no deadline");
}

/**
 * How long a waiter that is next in line spins before it sleeps. Waking a
 * sleeping thread costs tens of microseconds; a short critical section in
 * another thread often ends sooner. Short enough not to count as blocking the
 * event loop.
 */
const SPIN_MS = 0.02;

/** Spins up to SPIN_MS while `array[index]` is `value`; true if it changed. */
function spinFor(array: Int32Array, index: number, value: number): boolean {
  const until = performance.now() + SPIN_MS;
  do {
    for (let k = 0; k < 64; k++) {
      if (Atomics.load(array, index) !== value) return true;
    }
  } while (performance.now() < until);
  return false;
}

function noop(): void {}

function renewTick(lease: ThreadLease): void {
  lease.renewNow();
}

/** A lease on a {@linkcode ThreadLock}. */
class ThreadLease implements Lease, Watched {
  readonly name: string;
  readonly mode: LockMode;
  readonly fence: number;
  #state: ThreadState | undefined;
  #slot: number;
  #gen: number;
  #leaseMs: number;
  #timer: ReturnType<typeof setTimeout> | undefined = undefined;
  #controller: AbortController | undefined = undefined;
  #lock: ThreadLock;
  /** Its `signal` was asked for: this thread's watch looks out for a steal. */
  #watched = false;
  /** `release()` was called (a later `extend()` says so, lost or not). */
  #released = false;
  /** Its owner and grant time, when it has either (else nothing: smaller). */
  meta: { owner: string | undefined; since: number } | undefined = undefined;

  constructor(
    lock: ThreadLock,
    state: ThreadState,
    shared: boolean,
    grant: Grant,
    leaseMs: number,
  ) {
    this.name = lock.name;
    this.mode = shared ? "shared" : "exclusive";
    this.fence = grant.fence;
    this.#lock = lock;
    this.#state = state;
    this.#slot = grant.slot;
    this.#gen = grant.gen;
    this.#leaseMs = leaseMs;
    if (leaseMs > 0) this.#schedule();
  }

  get signal(): AbortSignal {
    const signal = (this.#controller ??= new AbortController()).signal;
    // Every look reads shared memory, so that a thread whose event loop is
    // busy elsewhere (and cannot hear the watch) still sees a steal at once.
    if (this.#state !== undefined) {
      if (this.#state.stolen(this.fence)) this.#lose(STOLEN);
      else if (!this.#watched) {
        this.#watched = true;
        watchOf(this.#lock).add(this);
      }
    }
    return signal;
  }

  /** @internal Called by the steal watch (see _steal_watch.ts). */
  checkStolen(): void {
    if (this.#state === undefined) watchOf(this.#lock).delete(this);
    else if (this.#state.stolen(this.fence)) this.#lose(STOLEN);
  }

  /** Why a lease that its lock no longer records was lost. */
  #lossDetail(state: ThreadState, otherwise: string): string {
    return state.stolen(this.fence) ? STOLEN : otherwise;
  }

  get released(): boolean {
    return this.#state === undefined;
  }

  /** @internal See leaseBinding() in _hooks.ts. */
  get binding(): LeaseBinding {
    return {
      fence: this.fence,
      slot: this.mode === "exclusive" ? 0 : this.#slot === 0 ? -1 : this.#slot,
      gen: this.#gen,
    };
  }

  #schedule(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    // Renewing at a third of the lease leaves two chances before it runs out.
    this.#timer = setTimeout(
      renewTick,
      Math.max(1, this.#leaseMs / 3),
      this,
    );
    unref(this.#timer);
  }

  #lose(detail: string): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#state = undefined;
    if (this.#watched) watchOf(this.#lock).delete(this);
    leaseEnded(this.#lock, this, true);
    (this.#controller ??= new AbortController()).abort(
      new LockLostError(this.name, detail),
    );
  }

  /** @internal Called by the renewal timer. */
  renewNow(): void {
    this.#timer = undefined;
    this.#renew(this.#leaseMs).then((ok) => {
      if (ok && this.#state !== undefined && this.#timer === undefined) {
        this.#schedule();
      }
    }, noop);
  }

  /** Sets the lease to end `leaseMs` from now; false if it was lost. */
  #renew(leaseMs: number): Promise<boolean> {
    const state = this.#state;
    if (state === undefined) return Promise.resolve(false);
    return guarded(state, () => {
      // A lease that ran out is lost even if no waiter has reaped it yet
      // (a stalled thread renews late): as on every backend, expiry ends it.
      if (state.minExpiry !== 0) state.reap();
      return state.renew(
        this.mode === "shared",
        this.fence,
        this.#slot,
        this.#gen,
        leaseMs,
      );
    }, (ok) => {
      if (!ok && this.#state !== undefined) {
        this.#lose(this.#lossDetail(
          state,
          `the lease of ${this.#leaseMs}ms expired before it was renewed (was the thread's event loop blocked?)`,
        ));
      }
      return ok && this.#state !== undefined;
    });
  }

  release(): Promise<void> {
    this.#released = true;
    const state = this.#state;
    if (state === undefined) return RESOLVED;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    // Inline, not through guarded(): this is half of every acquisition.
    if (state.lockSoon()) {
      this.#ended(state, this.#end(state));
      return RESOLVED;
    }
    return state.lockAsync(undefined, undefined, unreachable).then(() => {
      // Ended while this call waited for the guard (by an earlier release,
      // or lost): giving up again would take a slotless shared lease's
      // count from another holder.
      if (this.#state === undefined) return state.unlock();
      this.#ended(state, this.#end(state));
    });
  }

  /** Gives the lock up under the guard (taken); whether it was still held. */
  #end(state: ThreadState): boolean {
    try {
      return this.mode === "shared"
        ? state.releaseReader(this.fence, this.#slot, this.#gen)
        : state.releaseWriter(this.fence);
    } finally {
      state.unlock();
    }
  }

  #ended(state: ThreadState, ok: boolean): void {
    if (this.#state === undefined) return; // lost meanwhile
    if (ok) {
      this.#state = undefined;
      if (this.#watched) watchOf(this.#lock).delete(this);
      leaseEnded(this.#lock, this, false);
    } else {
      // A stolen lease's release frees nothing: the thief's stays.
      this.#lose(
        this.#lossDetail(state, "the lease expired before it was released"),
      );
    }
  }

  /**
   * Sets the lease to end `leaseMs` from now (default: its own length), and
   * renews it at that length from then on.
   */
  extend(leaseMs?: number): Promise<void> {
    let length: number | undefined;
    try {
      length = checkLeaseMs(`extend lock "${this.name}"`, leaseMs);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#state?.stolen(this.fence)) this.#lose(STOLEN);
    if (this.#state === undefined) {
      const lost = this.#controller?.signal.reason;
      return Promise.reject(
        lost instanceof LockLostError && !this.#released
          ? lost
          : new LockReleasedError(this.name, "extend"),
      );
    }
    length ??= this.#leaseMs;
    if (length === 0) return RESOLVED; // no lease: it never expires
    const to = length;
    return this.#renew(to).then((ok) => {
      if (!ok) {
        throw this.#controller?.signal.reason ??
          new LockReleasedError(this.name, "extend");
      }
      // A shared lease without a slot has no expiry to renew.
      if (this.#slot !== 0 || this.mode === "exclusive") {
        this.#leaseMs = to;
        // The next renewal follows the new length, sooner or later: left at
        // the old one, a shorter lease would run out before it came.
        this.#schedule();
      }
    });
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }
}
