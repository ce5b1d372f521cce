// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.

import {
  LockError,
  LockLostError,
  LockReleasedError,
  SemaphoreTimeoutError,
} from "../core/errors.ts";
import type {
  LockListener,
  LockMetrics,
  Semaphore,
  SemaphoreAcquireOptions,
  SemaphoreInfo,
  SemaphoreLease,
  SemaphoreOptions,
  SemaphoreSnapshot,
} from "../core/types.ts";
import { attachRecorder, type Attempt, Recorder } from "../core/_recorder.ts";
import {
  checkCapacity,
  checkFn,
  checkLeaseMs,
  checkName,
  checkOptions,
  checkSemaphoreOptions,
  RESERVED_NAME_PREFIX,
  show,
} from "../core/_validate.ts";
import {
  checkThreadSupport,
  HEADER_BYTES,
  MAGIC,
  regionBytes,
  REQUEUE,
  SLOT_BYTES,
  ThreadState,
  WAIT,
  WAITER_REFRESH_MS,
} from "./_thread_state.ts";
import {
  type PermitGrant,
  semaphoreRegionBytes,
  SemaphoreState,
  slotsFitting,
} from "./_semaphore_state.ts";
import { type Sleeper, waitOn } from "./_wait_on.ts";
import {
  ThreadLockTable,
  type ThreadLockTableHandle,
} from "./thread_lock_table.ts";
import { unref } from "../core/_unref.ts";

/** Options for {@linkcode ThreadSemaphore}. */
export interface ThreadSemaphoreOptions extends SemaphoreOptions {
  /**
   * The semaphore's name: required with `table` (it is the key there); a
   * rebuilt semaphore takes its name from the handle.
   *
   * @default {"thread-semaphore-<n>"} a name unique within the thread
   */
  name?: string;
  /**
   * A handle from another thread's `semaphore.handle`: the new
   * `ThreadSemaphore` is the same semaphore.
   *
   * @default {undefined}
   */
  handle?: ThreadSemaphoreHandle;
  /**
   * A `ThreadLockTable` (or its handle, sent from another thread): the
   * semaphore is the one kept there under `name`, the same in every thread
   * that opens the table. It takes two of the table's entries.
   *
   * @default {undefined} a semaphore in its own shared memory
   */
  table?: ThreadLockTable | ThreadLockTableHandle;
  /**
   * Without `table`: the most acquisitions that can wait at once, across
   * all threads. 1 to 65536.
   *
   * @default {256}
   */
  capacity?: number;
}

/**
 * What a worker needs to rebuild a {@linkcode ThreadSemaphore}: send it with
 * `postMessage` and pass it as `createSemaphore("thread", { handle, permits })`.
 */
export interface ThreadSemaphoreHandle {
  /** Always `"unilock/thread-semaphore"`. */
  readonly kind: "unilock/thread-semaphore";
  /** The layout version. */
  readonly version: 1;
  /** The semaphore's name. */
  readonly name: string;
  /** The shared memory holding it. */
  readonly buffer: SharedArrayBuffer;
  /** Where its queue (a thread lock's region) starts in `buffer`. */
  readonly gateOffset: number;
  /** Where its permits' region starts in `buffer`. */
  readonly byteOffset: number;
}

/**
 * How long the head of the line holds its place without renewing it: a
 * thread terminated while at the head lets the next one in after this.
 */
const GATE_LEASE_MS = 2_000;
/** Holder slots of a semaphore in its own memory, at most. */
const MAX_SLOTS = 65_536;
// Table entries of a semaphore: names that ThreadLockTable.get() refuses
// (they start with RESERVED_NAME_PREFIX), so that no lock can be made over
// a semaphore's memory.
const GATE_PREFIX = `${RESERVED_NAME_PREFIX}semaphore-queue\u0000`;
const PERMITS_PREFIX = `${RESERVED_NAME_PREFIX}semaphore-permits\u0000`;

const RESOLVED: Promise<void> = Promise.resolve();
let unnamed = 0;

interface Known {
  rec: Recorder;
  /** This thread's leases, by fence (owners and ages for query()). */
  mine: Map<number, ThreadPermitLease>;
  /** This thread's waiters in the queue, by gate slot. */
  waiters: Map<number, Attempt>;
  /** This thread's acquisition at the head of the line, if any. */
  head: Attempt | undefined;
}

// Set by ThreadSemaphore's static block: a lease tells its semaphore it ended.
let leaseEnded: (
  sem: ThreadSemaphore,
  lease: ThreadPermitLease,
  lost: boolean,
) => void;

// What this thread knows of each semaphore, for every instance of it.
const known = new WeakMap<SharedArrayBuffer, Map<number, Known>>();

function align8(n: number): number {
  return (n + 7) & ~7;
}

function wake(state: SemaphoreState): void {
  Atomics.notify(state.i32, state.seqIndex);
}

function checkHandle(handle: unknown): ThreadSemaphoreHandle {
  const action = "rebuild thread semaphore";
  const h = handle as Partial<ThreadSemaphoreHandle> | null;
  if (
    h === null || typeof h !== "object" ||
    h.kind !== "unilock/thread-semaphore" || h.version !== 1
  ) {
    throw new TypeError(
      `Cannot ${action} as 'handle' must be a ThreadSemaphoreHandle of version 1: current value is ${
        show(handle)
      }`,
    );
  }
  const { buffer, gateOffset, byteOffset } = h;
  if (!(buffer instanceof SharedArrayBuffer)) {
    throw new TypeError(
      `Cannot ${action} as 'handle.buffer' is not a SharedArrayBuffer (it is ${
        show(buffer)
      }): a handle works only in the process that made it, passed by postMessage`,
    );
  }
  for (
    const [option, offset] of [["gateOffset", gateOffset], [
      "byteOffset",
      byteOffset,
    ]] as const
  ) {
    if (
      typeof offset !== "number" || !Number.isSafeInteger(offset) ||
      offset < 0 || offset % 8 !== 0 ||
      offset + HEADER_BYTES > buffer.byteLength
    ) {
      throw new TypeError(
        `Cannot ${action} as 'handle.${option}' must be a multiple of 8 inside the buffer: current value is ${
          show(offset)
        }`,
      );
    }
  }
  if (
    Atomics.load(new Int32Array(buffer, gateOffset!, 1), 0) !== MAGIC ||
    !SemaphoreState.isRegion(buffer, byteOffset!)
  ) {
    throw new TypeError(
      `Cannot ${action} as the handle's buffer does not hold a unilock thread semaphore: the buffer is corrupt or not a semaphore`,
    );
  }
  checkName(action, h.name);
  return h as ThreadSemaphoreHandle;
}

/**
 * A counting semaphore shared by the threads of one process: the `thread`
 * semaphore type. At most `permits` permits are out at once across every
 * thread; a request for `k` takes them all at once or waits. The line is
 * FIFO across threads (by `priority` first, as for a thread lock) and
 * head-of-line: a request at the head waits until its permits are free,
 * and nobody behind it is admitted first, so a heavy request is passed by
 * no one. With `leaseMs`, the permits of a thread that was terminated
 * holding them come back when the lease runs out; without it, they do not
 * (as for a thread lock's lease).
 *
 * Share it by sending `semaphore.handle` to a worker, or open it by name in
 * a shared `ThreadLockTable` (`table`). Every thread must give the same
 * `permits`: a request from a thread that disagrees with the one holding or
 * waiting is refused with a `RangeError`; an idle semaphore takes the
 * capacity of its next request.
 *
 * @example At most two jobs at once, across threads
 * ```ts
 * import { ThreadSemaphore } from "@unilock/unilock";
 * import assert from "node:assert/strict";
 *
 * const jobs = new ThreadSemaphore({ name: "jobs", permits: 2 });
 * // worker.postMessage(jobs.handle); in the worker:
 * const there = new ThreadSemaphore({ handle: jobs.handle, permits: 2 });
 * const lease = await jobs.acquire({ permits: 2 });
 * assert.equal(await there.tryAcquire(), undefined);
 * await lease.release();
 * assert.equal(await there.available(), 2);
 * ```
 */
export class ThreadSemaphore implements Semaphore {
  /** The semaphore's name. */
  readonly name: string;
  /** Always `"thread"`. */
  readonly type: string = "thread";
  /** The capacity: the most permits out at once. */
  readonly permits: number;
  #handle: ThreadSemaphoreHandle;
  #gateState: ThreadState;
  #state: SemaphoreState;
  #known: Known;

  /**
   * Creates a semaphore in new shared memory, opens one in a table, or
   * rebuilds one from a handle.
   *
   * @param options The capacity (`permits`), and a name, a table or a handle.
   * @throws {TypeError} On a runtime without shared memory, a bad handle or table, or a missing name with `table`.
   * @throws {RangeError} When `permits` or `capacity` is out of range.
   */
  constructor(options: ThreadSemaphoreOptions) {
    const action = "create semaphore";
    checkOptions(action, options);
    checkThreadSupport(action);
    this.permits = checkCapacity(action, options.permits);
    const { handle, table } = options;
    if (handle !== undefined && table !== undefined) {
      throw new TypeError(
        `Cannot ${action} as 'handle' and 'table' were both given: a handle already names the semaphore's memory`,
      );
    }
    if (handle !== undefined) {
      this.#handle = checkHandle(handle);
    } else if (table !== undefined) {
      if (options.name === undefined) {
        throw new TypeError(
          `Cannot ${action} as 'name' is required with 'table': it is the semaphore's key there`,
        );
      }
      const name = checkName(action, options.name);
      let tables: ThreadLockTable;
      if (table instanceof ThreadLockTable) tables = table;
      else if (table !== null && typeof table === "object") {
        tables = new ThreadLockTable({ handle: table });
      } else {
        throw new TypeError(
          `Cannot ${action} as 'table' must be a ThreadLockTable or its handle: current value is ${
            show(table)
          }`,
        );
      }
      let gateSlots = 0;
      const gate = tables.region(
        GATE_PREFIX + name,
        (buffer, offset, bytes) => {
          ThreadState.format(
            buffer,
            offset,
            Math.floor((bytes - HEADER_BYTES) / SLOT_BYTES),
          );
        },
      );
      gateSlots = new ThreadState(gate.buffer, gate.byteOffset).capacity;
      const permits = tables.region(
        PERMITS_PREFIX + name,
        (buffer, offset, bytes) => {
          SemaphoreState.format(
            buffer,
            offset,
            slotsFitting(bytes, gateSlots),
            gateSlots,
          );
        },
      );
      this.#handle = {
        kind: "unilock/thread-semaphore",
        version: 1,
        name,
        buffer: gate.buffer,
        gateOffset: gate.byteOffset,
        byteOffset: permits.byteOffset,
      };
    } else {
      const { capacity = 256 } = options;
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
      const name = options.name === undefined
        ? `thread-semaphore-${++unnamed}`
        : checkName(action, options.name);
      const slots = Math.min(this.permits, MAX_SLOTS);
      const byteOffset = align8(regionBytes(capacity));
      const buffer = new SharedArrayBuffer(
        byteOffset + semaphoreRegionBytes(slots, capacity),
      );
      ThreadState.format(buffer, 0, capacity);
      SemaphoreState.format(buffer, byteOffset, slots, capacity);
      this.#handle = {
        kind: "unilock/thread-semaphore",
        version: 1,
        name,
        buffer,
        gateOffset: 0,
        byteOffset,
      };
    }
    const { buffer, gateOffset, byteOffset } = this.#handle;
    this.name = this.#handle.name;
    this.#gateState = new ThreadState(buffer, gateOffset);
    this.#state = new SemaphoreState(buffer, byteOffset);
    const state = this.#state;
    // Not worth blocking the thread for when a thread died holding the
    // guard: an idle semaphore takes its next request's capacity anyway.
    if (state.lockSoon()) {
      try {
        state.agree(this.permits);
      } finally {
        state.unlock();
      }
    }
    let regions = known.get(buffer);
    if (regions === undefined) known.set(buffer, regions = new Map());
    let mine = regions.get(byteOffset);
    if (mine === undefined) {
      regions.set(
        byteOffset,
        mine = {
          rec: new Recorder(this, this.name, false),
          mine: new Map(),
          waiters: new Map(),
          head: undefined,
        },
      );
    }
    this.#known = mine;
    attachRecorder(this, mine.rec);
  }

  /**
   * The handle to send to another thread with `postMessage`.
   *
   * @example Rebuilding from a handle
   * ```ts
   * import { ThreadSemaphore } from "@unilock/unilock";
   * import assert from "node:assert/strict";
   *
   * const sem = new ThreadSemaphore({ name: "x", permits: 3 });
   * const again = new ThreadSemaphore({ handle: sem.handle, permits: 3 });
   * assert.equal(again.name, "x");
   * ```
   */
  get handle(): ThreadSemaphoreHandle {
    return this.#handle;
  }

  /** A RangeError when the semaphore holds another capacity now (held under the guard). */
  #disagree(): RangeError | undefined {
    const cap = this.#state.permits;
    if (cap === this.permits) return undefined;
    return new RangeError(
      `Cannot acquire semaphore "${this.name}" as 'permits' is ${this.permits}: other threads hold or wait for it with a capacity of ${cap}; every client of a name must give the same capacity (an idle semaphore takes a new one)`,
    );
  }

  /**
   * A grant now if FIFO allows it (nobody in line, permits free); else
   * `undefined`; `null` when a lease found no slot; a RangeError when the
   * capacity disagrees.
   */
  #now(
    permits: number,
    leaseMs: number,
  ): PermitGrant | undefined | null | RangeError {
    const gate = this.#gateState, state = this.#state;
    if (!gate.lockSoon()) return undefined;
    try {
      if (gate.minExpiry !== 0) gate.reap();
      const idle = !gate.writer && gate.waiting === 0;
      if (!state.lockSoon()) return undefined;
      let woken = false;
      try {
        woken = state.reap();
        // An idle semaphore takes the capacity of its next request.
        if (idle && state.held === 0 && state.permits !== this.permits) {
          state.reset(this.permits);
        }
        const disagree = this.#disagree();
        if (disagree !== undefined) return disagree;
        return idle ? state.grant(permits, leaseMs) : undefined;
      } finally {
        state.unlock();
        if (woken) wake(state);
      }
    } finally {
      gate.unlock();
    }
  }

  /**
   * Waits until `permits` (default 1) are granted, in FIFO order across
   * threads.
   *
   * @example Two permits at once
   * ```ts
   * import { ThreadSemaphore } from "@unilock/unilock";
   * import assert from "node:assert/strict";
   *
   * const sem = new ThreadSemaphore({ permits: 3 });
   * const lease = await sem.acquire({ permits: 2, leaseMs: 5_000 });
   * assert.equal(lease.permits, 2);
   * assert.equal(await sem.available(), 1);
   * await lease.release();
   * ```
   *
   * @param options Permits, timeout, signal, lease, priority and owner.
   * @returns The lease; release it when done.
   * @throws {SemaphoreTimeoutError} When `timeoutMs` passes first.
   */
  acquire(options?: SemaphoreAcquireOptions): Promise<SemaphoreLease> {
    let checked;
    try {
      checked = checkSemaphoreOptions(this.name, this.permits, options);
    } catch (error) {
      return Promise.reject(error);
    }
    const { permits, signal, timeoutMs, owner, priority } = checked;
    const leaseMs = checked.leaseMs ?? 0;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const rec = this.#known.rec;
    const grant = this.#now(permits, leaseMs);
    if (grant instanceof RangeError) return Promise.reject(grant);
    if (grant === null) return Promise.reject(this.#full());
    if (grant !== undefined) {
      return Promise.resolve(this.#granted(grant, permits, leaseMs, owner));
    }
    const at = rec.begin("shared", owner, false);
    if (timeoutMs === 0) {
      rec.failed("timeout", "shared", at);
      return Promise.reject(new SemaphoreTimeoutError(this.name, 0));
    }
    return this.#queue(
      permits,
      leaseMs,
      priority,
      signal,
      timeoutMs,
      timeoutMs === undefined ? undefined : performance.now() + timeoutMs,
      at,
    );
  }

  #full(): LockError {
    return new LockError(
      `Cannot acquire semaphore "${this.name}": all ${this.#state.slots} slots for holders with a lease are in use`,
      this.name,
    );
  }

  #granted(
    grant: PermitGrant,
    permits: number,
    leaseMs: number,
    owner: string | undefined,
  ): ThreadPermitLease {
    const lease = new ThreadPermitLease(
      this,
      this.#state,
      grant,
      permits,
      leaseMs,
    );
    const rec = this.#known.rec;
    if (rec.timed) {
      lease.meta = {
        owner,
        since: rec.grantedAtOnce("shared", owner, lease.fence),
      };
    } else {
      // Unwatched: a count, and nothing kept for a lease without a label.
      rec.acquisitions++;
      rec.holders++;
      if (owner === undefined) return lease;
      lease.meta = { owner, since: 0 };
    }
    this.#known.mine.set(lease.fence, lease);
    return lease;
  }

  async #queue(
    permits: number,
    leaseMs: number,
    priority: number,
    signal: AbortSignal | undefined,
    timeoutMs: number | undefined,
    deadline: number | undefined,
    at: Attempt,
  ): Promise<SemaphoreLease> {
    const known = this.#known, rec = known.rec, state = this.#state;
    const gate = this.#gateState;
    const timedOut = () => new SemaphoreTimeoutError(this.name, timeoutMs ?? 0);
    const gaveUp = (): unknown =>
      signal?.aborted
        ? signal.reason
        : deadline !== undefined && performance.now() >= deadline
        ? timedOut()
        : undefined;
    const sleeper: Sleeper = { wake: undefined, polls: 0 };
    const onAbort = () => sleeper.wake?.();
    signal?.addEventListener("abort", onAbort, { once: true });
    rec.waiting("shared", at);
    at.start = rec.now();
    // The place in line: a slot of the gate while waiting for it; the
    // gate's fence while at the head. `key` keeps the place's order (its
    // ticket and priority) when it steps back into line.
    let slot = 0, gen = 0, key: number | undefined, fence = 0;
    try {
      for (;;) {
        // In line for the gate, until it is granted.
        while (fence === 0) {
          if (!gate.lockSoon()) {
            await gate.lockAsync(deadline, signal, timedOut);
          }
          let delayMs = WAITER_REFRESH_MS, thrown: unknown;
          try {
            if (gate.minExpiry !== 0) gate.reap();
            if (slot === 0) {
              // Always through the queue, even when it is empty, so that
              // the place has a key a later, higher priority can pass.
              slot = gate.enqueue(false, GATE_LEASE_MS, priority, key);
              if (slot === 0) thrown = this.#gateFull();
              else {
                gen = gate.gen(slot);
                key = gate.slotKey(slot);
                state.setNeeds(slot, permits);
                known.waiters.set(slot, at);
              }
            }
            if (thrown === undefined) {
              const grant = gate.consume(slot, gen);
              if (grant === REQUEUE) {
                known.waiters.delete(slot);
                slot = 0;
                continue;
              }
              if (grant !== undefined) {
                known.waiters.delete(slot);
                slot = 0;
                fence = grant.fence;
                break;
              }
              thrown = gaveUp();
              if (thrown !== undefined) {
                if (!gate.cancel(slot, gen)) {
                  thrown = undefined; // granted first: take it next time
                  continue;
                }
                known.waiters.delete(slot);
                slot = 0;
              } else {
                gate.touch(slot, gen);
                gate.reap();
                const minExpiry = gate.minExpiry;
                if (minExpiry > 0) {
                  delayMs = Math.min(
                    delayMs,
                    Math.max(0, minExpiry - gate.now),
                  );
                }
                if (deadline !== undefined) {
                  delayMs = Math.min(
                    delayMs,
                    Math.max(0, deadline - performance.now()),
                  );
                }
              }
            }
          } finally {
            gate.unlock();
          }
          if (thrown !== undefined) throw thrown;
          const slept = waitOn(
            gate.i32,
            gate.stateIndex(slot),
            WAIT,
            delayMs,
            sleeper,
          );
          if (slept !== undefined) await slept;
        }
        // At the head: the permits, or sleep until some come back.
        known.head = at;
        if (!state.lockSoon()) {
          await state.lockAsync(deadline, signal, timedOut);
        }
        let grant: PermitGrant | undefined | null | RangeError;
        let thrown: unknown, seq = 0, delayMs = WAITER_REFRESH_MS;
        let woken = false;
        try {
          woken = state.reap();
          // Nobody holds: an idle semaphore takes its next request's capacity.
          if (state.held === 0 && state.permits !== this.permits) {
            state.reset(this.permits);
          }
          grant = this.#disagree() ?? state.grant(permits, leaseMs);
          if (grant === undefined) {
            thrown = gaveUp();
            if (thrown === undefined) {
              state.headNeeds = permits;
              seq = state.sleep();
              const minExpiry = state.minExpiry;
              if (minExpiry > 0) {
                delayMs = Math.min(delayMs, Math.max(0, minExpiry - state.now));
              }
              if (deadline !== undefined) {
                delayMs = Math.min(
                  delayMs,
                  Math.max(0, deadline - performance.now()),
                );
              }
            } else state.headNeeds = 0;
          } else state.headNeeds = 0;
        } finally {
          state.unlock();
          if (woken) wake(state);
        }
        if (grant instanceof RangeError) throw grant;
        if (grant === null) throw this.#full();
        if (grant !== undefined) {
          const lease = new ThreadPermitLease(
            this,
            state,
            grant,
            permits,
            leaseMs,
          );
          lease.meta = {
            owner: at.owner,
            since: rec.granted("shared", at, lease.fence),
          };
          known.mine.set(lease.fence, lease);
          return lease;
        }
        if (thrown !== undefined) throw thrown;
        const slept = waitOn(state.i32, state.seqIndex, seq, delayMs, sleeper);
        if (slept !== undefined) await slept;
        // Still the head? Renew the place, and step back into line (with
        // the same key) for a waiter that came since and ranks before it:
        // as in a local semaphore, priority orders everyone who waits.
        if (!gate.lockSoon()) await gate.lockAsync(deadline, signal, timedOut);
        try {
          if (gate.minExpiry !== 0) gate.reap();
          if (!gate.renew(false, fence, 0, 0, GATE_LEASE_MS)) fence = 0;
          else {
            const first = gate.snapshot().pending[0];
            if (first !== undefined && gate.slotKey(first.slot) < key!) {
              gate.releaseWriter(fence);
              fence = 0;
            }
          }
        } finally {
          gate.unlock();
        }
        if (fence === 0) {
          // No longer at the head: it no longer waits at the front. Without
          // holding up the event loop when a thread died holding the guard.
          known.head = undefined;
          if (!state.lockSoon()) {
            await state.lockAsync(deadline, signal, timedOut);
          }
          try {
            state.headNeeds = 0;
          } finally {
            state.unlock();
          }
        }
      }
    } catch (error) {
      if (slot !== 0) {
        // Still in line (its guard did not come in time): marked as given
        // up, so that the next dispatch or reap frees the place.
        gate.abandon(slot, gen);
        known.waiters.delete(slot);
      }
      rec.rejected(error, signal, "shared", at);
      throw error;
    } finally {
      signal?.removeEventListener("abort", onAbort);
      if (known.head === at) known.head = undefined;
      if (fence !== 0) {
        // The next in line becomes the head.
        const head = fence;
        const leave = (): void => {
          try {
            gate.releaseWriter(head);
          } finally {
            gate.unlock();
          }
        };
        if (gate.lockSoon()) leave();
        else {
          // A thread died holding the queue's guard (it is taken over within
          // a second): the grant, or the timeout, is not held up for it.
          gate.lockAsync(undefined, undefined, unreachable).then(leave, noop);
        }
      }
    }
  }

  #gateFull(): LockError {
    return new LockError(
      `Cannot acquire semaphore "${this.name}": all ${this.#gateState.capacity} slots for waiting requests are in use; create it with a larger 'capacity' (or its table with one)`,
      this.name,
    );
  }

  /**
   * Takes the permits only if they are free and nobody waits first;
   * otherwise resolves `undefined`.
   *
   * @example Trying for a permit
   * ```ts
   * import { ThreadSemaphore } from "@unilock/unilock";
   * import assert from "node:assert/strict";
   *
   * const sem = new ThreadSemaphore({ permits: 1 });
   * const lease = await sem.tryAcquire();
   * assert.ok(lease !== undefined);
   * assert.equal(await sem.tryAcquire(), undefined);
   * await lease.release();
   * ```
   *
   * @param options Permits, lease, owner and signal; `timeoutMs` does not apply.
   * @returns The lease, or `undefined` when the permits are not free now.
   */
  tryAcquire(
    options?: SemaphoreAcquireOptions,
  ): Promise<SemaphoreLease | undefined> {
    let checked;
    try {
      checked = checkSemaphoreOptions(this.name, this.permits, options);
    } catch (error) {
      return Promise.reject(error);
    }
    const { permits, signal, owner } = checked;
    const leaseMs = checked.leaseMs ?? 0;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const grant = this.#now(permits, leaseMs);
    if (grant instanceof RangeError) return Promise.reject(grant);
    if (grant === null) return Promise.reject(this.#full());
    if (grant === undefined) {
      this.#known.rec.busyAtOnce("shared", owner);
      return Promise.resolve(undefined);
    }
    return Promise.resolve(this.#granted(grant, permits, leaseMs, owner));
  }

  /**
   * Runs `fn` while holding the permits, then releases them, also when `fn`
   * throws or rejects.
   *
   * @example A concurrency limit
   * ```ts
   * import { ThreadSemaphore } from "@unilock/unilock";
   * import assert from "node:assert/strict";
   *
   * const sem = new ThreadSemaphore({ permits: 4 });
   * assert.equal(await sem.withPermits((lease) => lease.permits, { permits: 3 }), 3);
   * assert.equal(await sem.available(), 4);
   * ```
   *
   * @typeParam T The result of `fn`.
   * @param fn The section; it receives the lease.
   * @param options Permits, timeout, signal, lease, priority and owner.
   * @returns What `fn` returned.
   */
  async withPermits<T>(
    fn: (lease: SemaphoreLease) => T | Promise<T>,
    options?: SemaphoreAcquireOptions,
  ): Promise<T> {
    checkFn(this.name, fn);
    const lease = await this.acquire(options);
    try {
      return await fn(lease);
    } finally {
      await lease.release();
    }
  }

  /**
   * How many permits are not held now, across all threads.
   *
   * @example Free permits
   * ```ts
   * import { ThreadSemaphore } from "@unilock/unilock";
   * import assert from "node:assert/strict";
   *
   * const sem = new ThreadSemaphore({ permits: 5 });
   * await using _lease = await sem.acquire({ permits: 2 });
   * assert.equal(await sem.available(), 3);
   * ```
   *
   * @returns The capacity less the permits held.
   * @throws {RangeError} When other threads use the name with another capacity.
   */
  available(): Promise<number> {
    return this.#guarded((state) => {
      const woken = state.reap();
      // Idle, it takes the capacity of its next request: this one's.
      if (state.held === 0) return [this.permits, woken] as const;
      return [this.#disagree() ?? state.permits - state.held, woken] as const;
    }).then((free) => {
      if (free instanceof RangeError) throw free;
      return free;
    });
  }

  /** Runs `fn` under the permits' guard; wakes the head if `fn` says so. */
  #guarded<T>(
    fn: (state: SemaphoreState) => readonly [T, boolean],
  ): Promise<T> {
    const state = this.#state;
    const run = (): T => {
      let result: readonly [T, boolean];
      try {
        result = fn(state);
      } finally {
        state.unlock();
      }
      if (result[1]) wake(state);
      return result[0];
    };
    if (state.lockSoon()) {
      try {
        return Promise.resolve(run());
      } catch (error) {
        return Promise.reject(error);
      }
    }
    return state.lockAsync(undefined, undefined, unreachable).then(run);
  }

  /**
   * What this thread's acquisitions counted and timed (its own holders and
   * waiters; `query()` shows every thread's).
   *
   * @returns A new snapshot.
   */
  metrics(): LockMetrics {
    this.#observe();
    return this.#known.rec.metrics();
  }

  #observe(): void {
    const rec = this.#known.rec;
    if (rec.timed) return;
    rec.timed = true;
    const at = performance.now();
    for (const attempt of this.#known.waiters.values()) attempt.start = at;
    if (this.#known.head !== undefined) this.#known.head.start = at;
  }

  /**
   * Who holds permits and who waits, across all threads, with their
   * permits. Owners and ages are known only for this thread's own requests.
   *
   * @example Holders and waiters
   * ```ts
   * import { ThreadSemaphore } from "@unilock/unilock";
   * import assert from "node:assert/strict";
   *
   * const sem = new ThreadSemaphore({ permits: 3 });
   * const lease = await sem.acquire({ permits: 2, owner: "a" });
   * const { held } = await sem.query();
   * assert.deepEqual(held.map((h) => [h.owner, h.permits]), [["a", 2]]);
   * await lease.release();
   * ```
   *
   * @returns Held leases (by fence) and pending acquisitions (in line order).
   */
  async query(): Promise<SemaphoreSnapshot> {
    this.#observe();
    const gate = this.#gateState;
    if (!gate.lockSoon()) {
      await gate.lockAsync(undefined, undefined, unreachable);
    }
    let queued: { slot: number }[], headed: boolean;
    try {
      if (gate.minExpiry !== 0) gate.reap();
      queued = gate.snapshot().pending;
      headed = gate.writer;
    } finally {
      gate.unlock();
    }
    const { held, anon, head } = await this.#guarded((state) => {
      const woken = state.reap();
      return [{ ...state.snapshot(), head: state.headNeeds }, woken] as const;
    });
    const known = this.#known, now = performance.now();
    const info = (
      fence: number | undefined,
      permits: number,
      meta: { owner: string | undefined; since: number } | undefined,
    ): SemaphoreInfo => ({
      name: this.name,
      mode: "shared",
      owner: meta?.owner,
      fence,
      ageMs: meta === undefined || meta.since === 0
        ? undefined
        : now - meta.since,
      permits,
    });
    const heldInfo = held.map(({ fence, permits }) =>
      info(fence, permits, known.mine.get(fence)?.meta)
    );
    let left = anon;
    for (const lease of known.mine.values()) {
      if (left <= 0) break;
      if (!lease.slotless) continue;
      heldInfo.push(info(lease.fence, lease.permits, lease.meta));
      left -= lease.permits;
    }
    if (left > 0) heldInfo.push(info(undefined, left, undefined));
    const pending: SemaphoreInfo[] = [];
    if (headed && head > 0) {
      const at = known.head;
      pending.push(
        info(undefined, head, at && { owner: at.owner, since: at.start }),
      );
    }
    for (const { slot } of queued) {
      const at = known.waiters.get(slot);
      pending.push(
        info(
          undefined,
          this.#state.needs(slot),
          at && { owner: at.owner, since: at.start },
        ),
      );
    }
    return { held: heldInfo, pending };
  }

  /**
   * Calls `listener` with each event of this thread's acquisitions.
   *
   * @param listener Called synchronously with each event.
   * @returns A function that unsubscribes `listener`.
   */
  subscribe(listener: LockListener): () => void {
    this.#observe();
    return this.#known.rec.subscribe(listener);
  }

  static {
    leaseEnded = (sem, lease, lost) => {
      const known = sem.#known;
      const meta = lease.meta;
      if (!lost && !known.rec.timed && meta === undefined) {
        known.rec.holders--;
        return;
      }
      known.mine.delete(lease.fence);
      known.rec.ended(
        lost,
        "shared",
        meta?.owner,
        lease.fence,
        meta?.since ?? 0,
      );
    };
  }
}

function unreachable(): Error {
  return new Error("unreachable: no deadline");
}

function noop(): void {}

/** A lease on a {@linkcode ThreadSemaphore}. */
class ThreadPermitLease implements SemaphoreLease {
  readonly name: string;
  readonly mode = "shared" as const;
  readonly fence: number;
  readonly permits: number;
  #sem: ThreadSemaphore;
  #state: SemaphoreState | undefined;
  #grant: PermitGrant;
  #leaseMs: number;
  #timer: ReturnType<typeof setTimeout> | undefined = undefined;
  #controller: AbortController | undefined = undefined;
  meta: { owner: string | undefined; since: number } | undefined = undefined;

  constructor(
    sem: ThreadSemaphore,
    state: SemaphoreState,
    grant: PermitGrant,
    permits: number,
    leaseMs: number,
  ) {
    this.name = sem.name;
    this.fence = grant.fence;
    this.permits = permits;
    this.#sem = sem;
    this.#state = state;
    this.#grant = grant;
    this.#leaseMs = leaseMs;
    if (leaseMs > 0) this.#schedule();
  }

  /** Held without a slot (no lease, the slots ran out). */
  get slotless(): boolean {
    return this.#grant.slot === 0;
  }

  get signal(): AbortSignal {
    return (this.#controller ??= new AbortController()).signal;
  }

  get released(): boolean {
    return this.#state === undefined;
  }

  #schedule(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    // A third of the lease: two chances to renew before it runs out.
    this.#timer = setTimeout(
      () => this.#tick(),
      Math.max(1, this.#leaseMs / 3),
    );
    unref(this.#timer);
  }

  #tick(): void {
    this.#timer = undefined;
    this.#renew(this.#leaseMs).then((ok) => {
      if (ok && this.#state !== undefined && this.#timer === undefined) {
        this.#schedule();
      }
    }, noop);
  }

  #lose(detail: string): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#state = undefined;
    leaseEnded(this.#sem, this, true);
    (this.#controller ??= new AbortController()).abort(
      new LockLostError(this.name, detail),
    );
  }

  #withState<T>(state: SemaphoreState, fn: () => T): Promise<T> {
    const run = (): T => {
      try {
        return fn();
      } finally {
        state.unlock();
      }
    };
    if (state.lockSoon()) return Promise.resolve(run());
    return state.lockAsync(undefined, undefined, unreachable).then(run);
  }

  #renew(leaseMs: number): Promise<boolean> {
    const state = this.#state;
    if (state === undefined) return Promise.resolve(false);
    let woken = false;
    return this.#withState(state, () => {
      // Expiry ends a lease even if nobody reaped it yet.
      woken = state.reap();
      return state.renew(this.#grant, leaseMs);
    }).then((ok) => {
      if (woken) wake(state);
      if (!ok && this.#state !== undefined) {
        this.#lose(
          `the lease of ${this.#leaseMs}ms expired before it was renewed (was the thread's event loop blocked?)`,
        );
      }
      return ok && this.#state !== undefined;
    });
  }

  release(): Promise<void> {
    const state = this.#state;
    if (state === undefined) return RESOLVED;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    // Inline when the guard comes at once: this is half of every grant.
    if (state.lockSoon()) {
      this.#ended(state, this.#end(state));
      return RESOLVED;
    }
    return state.lockAsync(undefined, undefined, unreachable).then(() => {
      // Ended while this call waited for the guard (by an earlier release,
      // or lost): returning a slotless lease's permits again would return
      // another holder's.
      if (this.#state === undefined) return state.unlock();
      this.#ended(state, this.#end(state));
    });
  }

  /** Returns the permits under the guard (taken), then lets it go. */
  #end(state: SemaphoreState): boolean | "lost" | "lost-wake" {
    try {
      const woken = state.minExpiry !== 0 && state.reap();
      const result = state.release(this.#grant, this.permits);
      return woken ? (result === "lost" ? "lost-wake" : true) : result;
    } finally {
      state.unlock();
    }
  }

  #ended(state: SemaphoreState, result: boolean | "lost" | "lost-wake"): void {
    if (result === true || result === "lost-wake") wake(state);
    if (this.#state === undefined) return; // lost meanwhile
    if (result === "lost" || result === "lost-wake") {
      this.#lose("the lease expired before it was released");
    } else {
      this.#state = undefined;
      leaseEnded(this.#sem, this, false);
    }
  }

  extend(leaseMs?: number): Promise<void> {
    let length: number | undefined;
    try {
      length = checkLeaseMs(`extend semaphore "${this.name}"`, leaseMs);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#state === undefined) {
      const lost = this.#controller?.signal.reason;
      return Promise.reject(
        lost instanceof LockLostError
          ? lost
          : new LockReleasedError(this.name, "extend"),
      );
    }
    length ??= this.#leaseMs;
    if (length === 0 || this.#grant.slot === 0) return RESOLVED;
    const to = length;
    return this.#renew(to).then((ok) => {
      if (!ok) {
        throw this.#controller?.signal.reason ??
          new LockReleasedError(this.name, "extend");
      }
      this.#leaseMs = to;
      this.#schedule();
    });
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }
}
