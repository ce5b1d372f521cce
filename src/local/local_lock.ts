// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.

import {
  LockLostError,
  LockReleasedError,
  LockTimeoutError,
  SemaphoreTimeoutError,
} from "../core/errors.ts";
import type {
  AcquireOptions,
  Lease,
  Lock,
  LockMode,
  LockOptions,
} from "../core/types.ts";
import type {
  LockInfo,
  LockListener,
  LockMetrics,
  LockSnapshot,
} from "../core/types.ts";
import { type Attempt, Recorder } from "../core/_recorder.ts";
import {
  checkAcquireOptions,
  type CheckedSemaphoreOptions,
  checkFn,
  checkLeaseMs,
  checkName,
  checkOptions,
  queueKey,
} from "../core/_validate.ts";
import { localInternals } from "./_local_internals.ts";

/** Options for {@linkcode LocalLock}. */
export interface LocalLockOptions extends LockOptions {
  /**
   * The lock's name, used in errors and fences. Two `LocalLock`s with the same
   * name are still two locks: share one through a `LockManager` to share it.
   *
   * @default {"local-<n>"} a name unique within the isolate
   */
  name?: string;
}

// One settled promise serves every local release: releasing is synchronous.
const RESOLVED: Promise<void> = Promise.resolve();

let unnamed = 0;

// Filled in by LocalLock's static block: lets leases and waiters reach the
// lock's private state without making it public.
let releaseHold: (lock: LocalLock, lease: LocalLease) => void;
/** The timeout of a lock, or of a semaphore's permits (by its capacity). */
let timeoutError: (lock: LocalLock, timeoutMs: number) => LockTimeoutError;
let leaveQueue: (
  lock: LocalLock,
  waiter: Waiter,
  reason: unknown,
  kind: "timeout" | "abort",
) => void;
let watchLoss: (lock: LocalLock, lease: LocalLease) => void;
let stolenFrom: (lock: LocalLock, lease: LocalLease) => boolean;

/**
 * An async FIFO lock within one isolate (one thread): the `local` lock type.
 * Waiters queue in arrival order; `shared` holders run together while no
 * exclusive holder has or waits for the lock. Every queue operation, cancel
 * included, is O(1), and an uncontended acquire allocates only its lease.
 *
 * @example Guarding a critical section
 * ```ts
 * import { LocalLock } from "@unilock/unilock";
 * import assert from "node:assert/strict";
 *
 * const lock = new LocalLock({ name: "counter" });
 * let value = 0;
 * async function increment(): Promise<void> {
 *   await using _lease = await lock.acquire();
 *   const read = value;
 *   await new Promise((resolve) => setTimeout(resolve, 1));
 *   value = read + 1;
 * }
 * await Promise.all([increment(), increment(), increment()]);
 * assert.equal(value, 3);
 * ```
 */
export class LocalLock implements Lock {
  /** The lock's name. */
  readonly name: string;
  /** Always `"local"`. */
  readonly type: string = "local";
  #writer = false;
  /**
   * Who holds, for `query()`: the shared leases (newest first), and what it
   * shows of the exclusive holder. The exclusive lease itself is not kept:
   * storing a new object into an old one costs the hot path a write barrier.
   * While a writer holds, its fence is the last one given out. (One object,
   * not four fields: with a few more fields than V8 keeps inside the object,
   * the lock ran twice as slow.)
   */
  #holders: {
    shared: LocalLease | undefined;
    fence: number;
    owner: string | undefined;
    since: number;
    /**
     * The permits shared holders may hold together: unbounded for a lock
     * (each shared lease holds 1), a semaphore's capacity for one. Kept
     * here, off the exclusive hot path.
     */
    capacity: number;
  } = {
    shared: undefined,
    fence: 0,
    owner: undefined,
    since: 0,
    capacity: Infinity,
  };
  /**
   * The permits the shared holders hold: their count, for a lock. An
   * exclusive holder holds them all (`#writer`).
   */
  #readers = 0;
  #fence = 0;
  #waiting = 0;
  #tickets = 0;
  #head: Waiter | undefined = undefined;
  #tail: Waiter | undefined = undefined;
  #rec: Recorder;
  /** The recorder's `timed`, kept here for the hot paths. */
  #timed = false;
  /**
   * Every lease with a fence up to this one was stolen (`steal`): its
   * release does nothing. One number, so that the hot path keeps no lease.
   */
  #revoked = 0;
  /** The exclusive lease whose `signal` was asked for, to abort on a steal. */
  #watched: LocalLease | undefined = undefined;

  static {
    timeoutError = (lock, timeoutMs) =>
      lock.#holders.capacity === Infinity
        ? new LockTimeoutError(lock.name, timeoutMs)
        : new SemaphoreTimeoutError(lock.name, timeoutMs);
    releaseHold = (lock, lease) => {
      // Kept small, so that it inlines: the rare paths are calls.
      if (lease.fence <= lock.#revoked) return; // stolen: not ours to free
      if (lease.mode === "exclusive") lock.#writer = false;
      else lock.#unholdShared(lease);
      if (lock.#timed) lock.#observeRelease(lease);
      if (lock.#head !== undefined) lock.#dispatch();
    };
    localInternals.create = (options, capacity) => {
      const lock = new LocalLock(options);
      lock.#holders.capacity = capacity;
      return lock;
    };
    localInternals.acquire = (lock, checked) => lock.#acquirePermits(checked);
    localInternals.acquireOne = (lock) => {
      const lease = lock.#grantNow("shared", undefined, 1);
      if (lease !== undefined) return lease;
      if (lock.#timed) lock.#rec.emit("acquire", "shared", undefined);
      return lock.#enqueue(
        "shared",
        undefined,
        undefined,
        undefined,
        0,
        1,
      ) as Promise<LocalLease>;
    };
    localInternals.tryAcquire = (lock, permits, owner) => {
      const lease = lock.#grantNow("shared", owner, permits);
      if (lease === undefined) lock.#rec.busyAtOnce("shared", owner);
      return lease;
    };
    localInternals.available = (lock) =>
      lock.#writer ? 0 : lock.#holders.capacity - lock.#readers;
    localInternals.recorder = (lock) => lock.#rec;
    leaveQueue = (lock, waiter, reason, kind) => {
      lock.#unlink(waiter);
      waiter.settle();
      lock.#rec.left++;
      lock.#rec.failed(kind, waiter.mode, waited(waiter));
      waiter.reject(reason);
      // The waiter that left may have been the exclusive one keeping shared
      // waiters behind it from joining the current shared holders.
      if (lock.#head !== undefined) lock.#dispatch();
    };
    watchLoss = (lock, lease) => {
      if (lease.fence <= lock.#revoked) lease.lose(lock.#stolen());
      else if (lease.mode === "exclusive") lock.#watched = lease;
    };
    stolenFrom = (lock, lease) => lease.fence <= lock.#revoked;
  }

  /**
   * Constructs a new instance.
   *
   * @param options The lock's name.
   */
  constructor(options?: LocalLockOptions) {
    checkOptions("create lock", options);
    const name = options?.name;
    this.name = name === undefined
      ? `local-${++unnamed}`
      : checkName("create lock", name);
    this.#rec = new Recorder(this, this.name, false);
  }

  /** How many acquisitions are queued now (not counting holders). */
  get waiting(): number {
    return this.#waiting;
  }

  /**
   * Waits until the lock is granted, in FIFO order.
   *
   * @example Shared and exclusive holders
   * ```ts
   * import { LocalLock } from "@unilock/unilock";
   * import assert from "node:assert/strict";
   *
   * const lock = new LocalLock();
   * const a = await lock.acquire({ mode: "shared" });
   * const b = await lock.acquire({ mode: "shared" });
   * assert.equal(await lock.tryAcquire(), undefined);
   * await a.release();
   * await b.release();
   * const c = await lock.acquire();
   * assert.ok(c.fence > b.fence);
   * await c.release();
   * ```
   *
   * @param options Timeout, signal, lease length and mode.
   * @returns The lease; release it when done.
   * @throws {LockTimeoutError} When `timeoutMs` passes first.
   */
  acquire(options?: AcquireOptions): Promise<Lease> {
    if (options === undefined) {
      if (
        this.#head === undefined && !this.#writer && this.#readers === 0
      ) {
        this.#writer = true;
        const lease = new LocalLease(this, "exclusive", ++this.#fence, 1);
        if (this.#timed) this.#observeGrant(lease);
        return Promise.resolve(lease);
      }
      // Nobody listens to a lock that is not timing (subscribe() starts it).
      if (this.#timed) this.#rec.emit("acquire", "exclusive", undefined);
      return this.#enqueue("exclusive", undefined, undefined, undefined, 0, 1);
    }
    let mode: LockMode, signal: AbortSignal | undefined;
    let timeoutMs: number | undefined, owner: string | undefined;
    let priority: number, steal: boolean;
    try {
      ({ mode, signal, timeoutMs, owner, priority, steal } =
        checkAcquireOptions(this.name, options, true));
    } catch (error) {
      return Promise.reject(error);
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (steal) return Promise.resolve(this.#steal(owner));
    const lease = this.#grantNow(mode, owner, 1);
    if (lease !== undefined) return Promise.resolve(lease);
    if (timeoutMs === 0) {
      this.#rec.emit("acquire", mode, owner);
      this.#rec.failed("timeout", mode, atOnce(owner));
      return Promise.reject(new LockTimeoutError(this.name, 0));
    }
    this.#rec.emit("acquire", mode, owner);
    return this.#enqueue(mode, signal, timeoutMs, owner, priority, 1);
  }

  /** A semaphore's acquisition of `checked.permits` (see local_semaphore.ts). */
  #acquirePermits(checked: CheckedSemaphoreOptions): Promise<LocalLease> {
    const { signal, timeoutMs, owner, priority, permits } = checked;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const lease = this.#grantNow("shared", owner, permits);
    if (lease !== undefined) return Promise.resolve(lease);
    this.#rec.emit("acquire", "shared", owner);
    if (timeoutMs === 0) {
      this.#rec.failed("timeout", "shared", atOnce(owner));
      return Promise.reject(timeoutError(this, 0));
    }
    return this.#enqueue(
      "shared",
      signal,
      timeoutMs,
      owner,
      priority,
      permits,
    ) as Promise<LocalLease>;
  }

  /**
   * Takes the lock only if it can be granted at once. A busy lock is not an
   * error: the promise resolves `undefined`. Never jumps the queue.
   *
   * @example Skipping work that is already running
   * ```ts
   * import { LocalLock } from "@unilock/unilock";
   * import assert from "node:assert/strict";
   *
   * const lock = new LocalLock();
   * const first = await lock.tryAcquire();
   * assert.ok(first !== undefined);
   * assert.equal(await lock.tryAcquire(), undefined);
   * await first.release();
   * ```
   *
   * @param options Mode and signal; `timeoutMs` does not apply.
   * @returns The lease, or `undefined` when the lock is busy.
   */
  tryAcquire(options?: AcquireOptions): Promise<Lease | undefined> {
    let mode: LockMode = "exclusive", owner: string | undefined;
    if (options !== undefined) {
      let signal: AbortSignal | undefined, steal: boolean;
      try {
        ({ mode, signal, owner, steal } = checkAcquireOptions(
          this.name,
          options,
          true,
        ));
      } catch (error) {
        return Promise.reject(error);
      }
      if (signal?.aborted) return Promise.reject(signal.reason);
      if (steal) return Promise.resolve(this.#steal(owner));
    }
    const lease = this.#grantNow(mode, owner, 1);
    if (lease === undefined) this.#rec.busyAtOnce(mode, owner);
    return Promise.resolve(lease);
  }

  /**
   * Runs `fn` while holding the lock, then releases it, also when `fn`
   * throws or rejects.
   *
   * @example Running a critical section
   * ```ts
   * import { LocalLock } from "@unilock/unilock";
   * import assert from "node:assert/strict";
   *
   * const lock = new LocalLock();
   * const fence = await lock.withLock((lease) => lease.fence);
   * assert.equal(fence, 1);
   * assert.equal(await lock.isLocked(), false);
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
    try {
      checkFn(this.name, fn);
    } catch (error) {
      return Promise.reject(error);
    }
    const lease = options === undefined
      ? this.#grantNow("exclusive", undefined, 1)
      : undefined;
    return holding(lease ?? this.acquire(options), fn);
  }

  /**
   * Whether anyone holds the lock now, in either mode.
   *
   * @example Checking the lock
   * ```ts
   * import { LocalLock } from "@unilock/unilock";
   * import assert from "node:assert/strict";
   *
   * const lock = new LocalLock();
   * await using _lease = await lock.acquire();
   * assert.equal(await lock.isLocked(), true);
   * ```
   *
   * @returns `true` while a lease is held.
   */
  isLocked(): Promise<boolean> {
    return Promise.resolve(this.#writer || this.#readers > 0);
  }

  /**
   * What this isolate's acquisitions of the lock counted and timed. The
   * first call (or `query()`, or `subscribe()`) starts the lock's clock:
   * until then it keeps counts only.
   *
   * @example Reading the metrics
   * ```ts
   * import { LocalLock } from "@unilock/unilock";
   * import assert from "node:assert/strict";
   *
   * const lock = new LocalLock();
   * lock.metrics(); // start timing
   * const holder = await lock.acquire();
   * const waiter = lock.acquire({ timeoutMs: 10 }).catch(() => {});
   * await waiter;
   * await holder.release();
   * const { acquisitions, contended, timeouts, holders, holdMs } = lock.metrics();
   * assert.deepEqual([acquisitions, contended, timeouts, holders], [1, 0, 1, 0]);
   * assert.equal(holdMs.count, 1);
   * assert.ok(holdMs.max >= 5);
   * ```
   *
   * @returns A new snapshot.
   */
  metrics(): LockMetrics {
    this.#observe();
    return this.#rec.metrics({
      acquisitions: this.#fence,
      // Every queued acquisition was granted, left or still waits.
      contended: this.#tickets - this.#waiting - this.#rec.left,
      holders: this.#writer ? 1 : this.#holderCount(),
      waiters: this.#waiting,
    });
  }

  /**
   * Who holds the lock and who waits for it now.
   *
   * @example Seeing holders and waiters
   * ```ts
   * import { LocalLock } from "@unilock/unilock";
   * import assert from "node:assert/strict";
   *
   * const lock = new LocalLock({ name: "report" });
   * const lease = await lock.acquire({ owner: "job-1" });
   * const waiting = lock.acquire({ owner: "job-2", mode: "shared" });
   * const { held, pending } = await lock.query();
   * assert.deepEqual(held.map((h) => [h.owner, h.mode, h.fence]), [["job-1", "exclusive", 1]]);
   * assert.deepEqual(pending.map((p) => [p.owner, p.mode]), [["job-2", "shared"]]);
   * await lease.release();
   * await (await waiting).release();
   * ```
   *
   * @returns Held leases (by fence) and pending acquisitions (in queue order).
   */
  query(): Promise<LockSnapshot> {
    this.#observe();
    const at = performance.now();
    const leases: LocalLease[] = [];
    // Newest first in the list: reversed, they come by fence.
    for (let l = this.#holders.shared; l !== undefined; l = l.next) {
      leases.push(l);
    }
    const held: LockInfo[] = [];
    if (this.#writer) {
      const info = this.#holders;
      const known = info.fence === this.#fence;
      held.push({
        name: this.name,
        mode: "exclusive",
        owner: known ? info.owner : undefined,
        fence: this.#fence,
        ageMs: known && info.since !== 0 ? at - info.since : undefined,
      });
    }
    // A semaphore's entries say how many permits each holds or needs.
    const counted = this.#holders.capacity !== Infinity;
    for (const l of leases.reverse()) {
      const info: LockInfo = {
        name: this.name,
        mode: l.mode,
        owner: l.owner,
        fence: l.fence,
        ageMs: at - l.since,
      };
      held.push(counted ? { ...info, permits: l.permits } : info);
    }
    const pending: LockInfo[] = [];
    for (let w = this.#head; w !== undefined; w = w.next) {
      const info: LockInfo = {
        name: this.name,
        mode: w.mode,
        owner: w.owner,
        fence: undefined,
        ageMs: at - w.start,
      };
      pending.push(counted ? { ...info, permits: w.permits } : info);
    }
    return Promise.resolve({ held, pending });
  }

  /**
   * Calls `listener` with each event of the lock's acquisitions, in order.
   *
   * @example Logging events
   * ```ts
   * import { LocalLock } from "@unilock/unilock";
   * import assert from "node:assert/strict";
   *
   * const lock = new LocalLock();
   * const seen: string[] = [];
   * const unsubscribe = lock.subscribe((event) => seen.push(event.type));
   * await lock.withLock(() => {});
   * unsubscribe();
   * await lock.withLock(() => {});
   * assert.deepEqual(seen, ["acquire", "grant", "release"]);
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

  /** Starts the clock; what holds or waits now is aged from this moment. */
  #observe(): void {
    if (this.#timed) return;
    this.#timed = this.#rec.timed = true;
    const at = performance.now();
    const info = this.#holders;
    if (this.#writer && info.fence !== this.#fence) {
      info.fence = this.#fence;
      info.owner = undefined;
      info.since = at;
    }
    for (let l = this.#holders.shared; l !== undefined; l = l.next) {
      l.since = at;
    }
    for (let w = this.#head; w !== undefined; w = w.next) w.start = at;
  }

  #observeGrant(lease: LocalLease): void {
    lease.since = this.#rec.grantedAtOnce(lease.mode, lease.owner, lease.fence);
    if (lease.mode === "exclusive") this.#noteWriter(lease);
  }

  #noteWriter(lease: LocalLease): void {
    const info = this.#holders;
    info.fence = lease.fence;
    info.owner = lease.owner;
    info.since = lease.since;
  }

  /** How many leases hold the lock in shared mode (not their permits). */
  #holderCount(): number {
    if (this.#holders.capacity === Infinity) return this.#readers;
    let count = 0;
    for (let l = this.#holders.shared; l !== undefined; l = l.next) count++;
    return count;
  }

  #unholdShared(lease: LocalLease): void {
    this.#readers -= lease.permits;
    const { prev, next } = lease;
    if (prev === undefined) this.#holders.shared = next;
    else prev.next = next;
    if (next !== undefined) next.prev = prev;
    lease.prev = lease.next = undefined;
  }

  #observeRelease(lease: LocalLease): void {
    this.#rec.ended(false, lease.mode, lease.owner, lease.fence, lease.since);
  }

  #noteHandoff(lease: LocalLease, waiter: Waiter): void {
    if (waiter.owner !== undefined) lease.owner = waiter.owner;
    if (this.#timed) {
      lease.since = this.#rec.granted(lease.mode, waited(waiter), lease.fence);
    }
    if (lease.mode === "exclusive") this.#noteWriter(lease);
  }

  /** Records a new lease as a holder. */
  #hold(lease: LocalLease): void {
    if (lease.mode === "exclusive") {
      this.#writer = true;
      if (lease.owner !== undefined) this.#noteWriter(lease);
      return;
    }
    this.#readers += lease.permits;
    const head = this.#holders.shared;
    if (head !== undefined) {
      head.prev = lease;
      lease.next = head;
    }
    this.#holders.shared = lease;
  }

  #grantNow(
    mode: LockMode,
    owner: string | undefined,
    permits: number,
  ): LocalLease | undefined {
    // A non-empty queue means someone arrived first: FIFO forbids passing.
    if (this.#head !== undefined || this.#writer) return undefined;
    if (
      mode === "exclusive"
        ? this.#readers > 0
        : this.#readers + permits > this.#holders.capacity
    ) return undefined;
    const lease = new LocalLease(this, mode, ++this.#fence, permits);
    if (owner !== undefined) lease.owner = owner;
    this.#hold(lease);
    if (this.#timed) this.#observeGrant(lease);
    return lease;
  }

  /**
   * Takes the lock from its holders at once and grants it ahead of the
   * queue (`steal`). The holders' leases are revoked by fence: their
   * release does nothing, their signal aborts (now, or when first asked
   * for); the waiters keep their places behind the thief.
   */
  #steal(owner: string | undefined): LocalLease {
    const rec = this.#rec;
    if (this.#writer) {
      const info = this.#holders;
      const known = info.fence === this.#fence;
      rec.ended(
        true,
        "exclusive",
        known ? info.owner : undefined,
        this.#fence,
        known ? info.since : 0,
      );
      const watched = this.#watched;
      this.#watched = undefined;
      this.#writer = false;
      if (watched?.fence === this.#fence) watched.lose(this.#stolen());
    }
    let lease = this.#holders.shared;
    this.#holders.shared = undefined;
    this.#readers = 0;
    while (lease !== undefined) {
      const next = lease.next;
      lease.prev = lease.next = undefined;
      rec.ended(true, "shared", lease.owner, lease.fence, lease.since);
      lease.lose(this.#stolen());
      lease = next;
    }
    this.#revoked = this.#fence;
    const thief = new LocalLease(this, "exclusive", ++this.#fence, 1);
    if (owner !== undefined) thief.owner = owner;
    this.#hold(thief);
    if (this.#timed) this.#observeGrant(thief);
    return thief;
  }

  #stolen(): LockLostError {
    return new LockLostError(
      this.name,
      "it was stolen (another acquisition took the lock with steal)",
    );
  }

  #enqueue(
    mode: LockMode,
    signal: AbortSignal | undefined,
    timeoutMs: number | undefined,
    owner: string | undefined,
    priority: number,
    permits: number,
  ): Promise<Lease> {
    const waiter = new Waiter(
      this,
      mode,
      owner,
      queueKey(++this.#tickets, priority),
      permits,
    );
    if (this.#timed) waiter.start = performance.now();
    const promise = new Promise<Lease>(capture);
    waiter.resolve = captured.resolve;
    waiter.reject = captured.reject;
    const tail = this.#tail;
    if (tail === undefined) this.#head = this.#tail = waiter;
    else if (tail.key < waiter.key) {
      // Without priorities every arrival lands here, at the tail, in O(1).
      tail.next = waiter;
      waiter.prev = tail;
      this.#tail = waiter;
    } else this.#insert(waiter);
    this.#waiting++;
    if (this.#timed) this.#rec.emit("wait", mode, owner);
    if (signal !== undefined) {
      waiter.signal = signal;
      signal.addEventListener("abort", waiter);
    }
    if (timeoutMs !== undefined) {
      waiter.timer = setTimeout(timeOut, timeoutMs, waiter, timeoutMs);
    }
    // A shared waiter that went first may join the shared holders at once
    // (a semaphore's, if its permits fit).
    if (this.#head === waiter && mode === "shared") this.#dispatch();
    return promise;
  }

  // Places a waiter that goes before the tail, scanning back from the tail.
  #insert(waiter: Waiter): void {
    let after = this.#tail!.prev;
    while (after !== undefined && after.key > waiter.key) after = after.prev;
    const before = after === undefined ? this.#head! : after.next!;
    waiter.prev = after;
    waiter.next = before;
    before.prev = waiter;
    if (after === undefined) this.#head = waiter;
    else after.next = waiter;
  }

  #unlink(waiter: Waiter): void {
    const { prev, next } = waiter;
    if (prev === undefined) this.#head = next;
    else prev.next = next;
    if (next === undefined) this.#tail = prev;
    else next.prev = prev;
    waiter.prev = waiter.next = undefined;
    waiter.queued = false;
    this.#waiting--;
  }

  #dispatch(): void {
    let waiter = this.#head;
    while (waiter !== undefined) {
      if (waiter.mode === "exclusive") {
        if (this.#writer || this.#readers > 0) return;
      } else if (
        // The head waits until its permits fit; nobody behind it passes.
        this.#writer ||
        this.#readers + waiter.permits > this.#holders.capacity
      ) return;
      this.#unlink(waiter);
      waiter.settle();
      const lease = new LocalLease(
        this,
        waiter.mode,
        ++this.#fence,
        waiter.permits,
      );
      if (waiter.mode === "exclusive") this.#writer = true;
      else this.#hold(lease);
      // (Contention is counted from the tickets: see metrics().)
      if (waiter.owner !== undefined || this.#timed) {
        this.#noteHandoff(lease, waiter);
      }
      waiter.resolve(lease);
      if (waiter.mode === "exclusive") return;
      waiter = this.#head;
    }
  }
}

// Takes the lease itself when granted at once, so the uncontended path pays
// no extra await; otherwise awaits the grant here, without a .then() closure.
async function holding<T>(
  granted: Lease | Promise<Lease>,
  fn: (lease: Lease) => T | Promise<T>,
): Promise<T> {
  const lease = granted instanceof LocalLease ? granted : await granted;
  try {
    const result = fn(lease);
    // A synchronous section releases at once instead of a tick later, which
    // matters under contention: the next holder waits for that tick.
    if (!isThenable(result)) return result;
    return await result;
  } finally {
    // A local release is synchronous; awaiting it would only add a tick.
    void lease.release();
  }
}

/** A queued acquisition, for the recorder (the lock counts its own waiters). */
function waited(waiter: Waiter): Attempt {
  return {
    owner: waiter.owner,
    start: waiter.start,
    waited: true,
    pending: false,
  };
}

/** An acquisition that ended without queueing, for the recorder. */
function atOnce(owner: string | undefined): Attempt {
  return { owner, start: 0, waited: false, pending: false };
}

function isThenable<T>(value: T | Promise<T>): value is Promise<T> {
  return value !== null &&
    (typeof value === "object" || typeof value === "function") &&
    typeof (value as Promise<T>).then === "function";
}

// One executor for every waiter's promise (the executor runs synchronously,
// so a module slot hands its functions over): no closure per waiter.
const captured: {
  resolve: (lease: Lease) => void;
  reject: (reason: unknown) => void;
} = { resolve: () => {}, reject: () => {} };
function capture(
  resolve: (lease: Lease) => void,
  reject: (reason: unknown) => void,
): void {
  captured.resolve = resolve;
  captured.reject = reject;
}

function timeOut(waiter: Waiter, timeoutMs: number): void {
  waiter.timer = undefined;
  if (waiter.queued) {
    leaveQueue(
      waiter.lock,
      waiter,
      timeoutError(waiter.lock, timeoutMs),
      "timeout",
    );
  }
}

/** A queued acquisition; its own abort listener, so no closure per waiter. */
class Waiter {
  readonly lock: LocalLock;
  readonly mode: LockMode;
  /** The place in the queue, lowest first (see queueKey). */
  readonly key: number;
  prev: Waiter | undefined = undefined;
  next: Waiter | undefined = undefined;
  queued = true;
  readonly owner: string | undefined;
  /** The permits it needs: 1 for a lock's shared waiter. */
  readonly permits: number;
  /** When it joined the queue, if the lock was timing then (else 0). */
  start = 0;
  signal: AbortSignal | undefined = undefined;
  timer: ReturnType<typeof setTimeout> | undefined = undefined;
  resolve!: (lease: Lease) => void;
  reject!: (reason: unknown) => void;

  constructor(
    lock: LocalLock,
    mode: LockMode,
    owner: string | undefined,
    key: number,
    permits: number,
  ) {
    this.lock = lock;
    this.mode = mode;
    this.owner = owner;
    this.key = key;
    this.permits = permits;
  }

  /** Called by the signal on abort. */
  handleEvent(): void {
    if (this.queued) {
      leaveQueue(this.lock, this, this.signal!.reason, "abort");
    }
  }

  /** Drops the timer and the listener: the waiter's outcome is decided. */
  settle(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.signal !== undefined) {
      this.signal.removeEventListener("abort", this);
      this.signal = undefined;
    }
  }
}

/** A lease on a {@linkcode LocalLock} (or a `LocalSemaphore`). */
class LocalLease implements Lease {
  readonly name: string;
  readonly mode: LockMode;
  readonly fence: number;
  /** The permits it holds: 1 for a lock's lease. */
  readonly permits: number;
  owner: string | undefined = undefined;
  /** When it was granted, if the lock was timing then (else 0). */
  since = 0;
  prev: LocalLease | undefined = undefined;
  next: LocalLease | undefined = undefined;
  #lock: LocalLock | undefined;
  #controller: AbortController | undefined = undefined;

  constructor(lock: LocalLock, mode: LockMode, fence: number, permits: number) {
    this.name = lock.name;
    this.mode = mode;
    this.fence = fence;
    this.permits = permits;
    this.#lock = lock;
  }

  get signal(): AbortSignal {
    // Made on first use: most holders never look. A local lease is lost only
    // to a steal, which aborts it (the lock keeps the leases that looked).
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#lock !== undefined) watchLoss(this.#lock, this);
    }
    return this.#controller.signal;
  }

  /** Says the lease was stolen, to whoever watches its signal. */
  lose(reason: LockLostError): void {
    this.#controller?.abort(reason);
  }

  get released(): boolean {
    return this.#lock === undefined;
  }

  release(): Promise<void> {
    const lock = this.#lock;
    if (lock !== undefined) {
      this.#lock = undefined;
      releaseHold(lock, this);
    }
    return RESOLVED;
  }

  extend(leaseMs?: number): Promise<void> {
    try {
      checkLeaseMs(`extend lock "${this.name}"`, leaseMs);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#lock === undefined) {
      return Promise.reject(new LockReleasedError(this.name, "extend"));
    }
    if (stolenFrom(this.#lock, this)) {
      // A stolen lease's signal has aborted (or does now): its reason.
      return Promise.reject(this.signal.reason);
    }
    return RESOLVED;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }
}
