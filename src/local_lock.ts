// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.

import { LockReleasedError, LockTimeoutError } from "./errors.ts";
import type {
  AcquireOptions,
  Lease,
  Lock,
  LockMode,
  LockOptions,
} from "./types.ts";
import {
  checkAcquireOptions,
  checkFn,
  checkLeaseMs,
  checkName,
  checkOptions,
  queueKey,
} from "./_validate.ts";

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
let releaseHold: (lock: LocalLock, mode: LockMode) => void;
let leaveQueue: (lock: LocalLock, waiter: Waiter, reason: unknown) => void;

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
  #readers = 0;
  #fence = 0;
  #waiting = 0;
  #tickets = 0;
  #head: Waiter | undefined = undefined;
  #tail: Waiter | undefined = undefined;

  static {
    releaseHold = (lock, mode) => {
      if (mode === "exclusive") lock.#writer = false;
      else lock.#readers--;
      if (lock.#head !== undefined) lock.#dispatch();
    };
    leaveQueue = (lock, waiter, reason) => {
      lock.#unlink(waiter);
      waiter.settle();
      waiter.reject(reason);
      // The waiter that left may have been the exclusive one keeping shared
      // waiters behind it from joining the current shared holders.
      if (lock.#head !== undefined) lock.#dispatch();
    };
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
      if (this.#head === undefined && !this.#writer && this.#readers === 0) {
        this.#writer = true;
        return Promise.resolve(
          new LocalLease(this, "exclusive", ++this.#fence),
        );
      }
      return this.#enqueue("exclusive", undefined, undefined, 0);
    }
    let mode: LockMode, signal: AbortSignal | undefined;
    let timeoutMs: number | undefined, priority: number;
    try {
      ({ mode, signal, timeoutMs, priority } = checkAcquireOptions(
        this.name,
        options,
      ));
    } catch (error) {
      return Promise.reject(error);
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    const lease = this.#grantNow(mode);
    if (lease !== undefined) return Promise.resolve(lease);
    if (timeoutMs === 0) {
      return Promise.reject(new LockTimeoutError(this.name, 0));
    }
    return this.#enqueue(mode, signal, timeoutMs, priority);
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
    let mode: LockMode = "exclusive";
    if (options !== undefined) {
      let signal: AbortSignal | undefined;
      try {
        ({ mode, signal } = checkAcquireOptions(this.name, options));
      } catch (error) {
        return Promise.reject(error);
      }
      if (signal?.aborted) return Promise.reject(signal.reason);
    }
    return Promise.resolve(this.#grantNow(mode));
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
      ? this.#grantNow("exclusive")
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

  #grantNow(mode: LockMode): LocalLease | undefined {
    // A non-empty queue means someone arrived first: FIFO forbids passing.
    if (this.#head !== undefined || this.#writer) return undefined;
    if (mode === "exclusive") {
      if (this.#readers > 0) return undefined;
      this.#writer = true;
    } else {
      this.#readers++;
    }
    return new LocalLease(this, mode, ++this.#fence);
  }

  #enqueue(
    mode: LockMode,
    signal: AbortSignal | undefined,
    timeoutMs: number | undefined,
    priority: number,
  ): Promise<Lease> {
    const waiter = new Waiter(this, mode, queueKey(++this.#tickets, priority));
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
    if (signal !== undefined) {
      waiter.signal = signal;
      signal.addEventListener("abort", waiter);
    }
    if (timeoutMs !== undefined) {
      waiter.timer = setTimeout(timeOut, timeoutMs, waiter, timeoutMs);
    }
    // A shared waiter that went first may join the shared holders at once.
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
        this.#writer = true;
      } else {
        if (this.#writer) return;
        this.#readers++;
      }
      this.#unlink(waiter);
      waiter.settle();
      waiter.resolve(new LocalLease(this, waiter.mode, ++this.#fence));
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
      new LockTimeoutError(waiter.lock.name, timeoutMs),
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
  signal: AbortSignal | undefined = undefined;
  timer: ReturnType<typeof setTimeout> | undefined = undefined;
  resolve!: (lease: Lease) => void;
  reject!: (reason: unknown) => void;

  constructor(lock: LocalLock, mode: LockMode, key: number) {
    this.lock = lock;
    this.mode = mode;
    this.key = key;
  }

  /** Called by the signal on abort. */
  handleEvent(): void {
    if (this.queued) leaveQueue(this.lock, this, this.signal!.reason);
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

/** A lease on a {@linkcode LocalLock}. */
class LocalLease implements Lease {
  readonly name: string;
  readonly mode: LockMode;
  readonly fence: number;
  #lock: LocalLock | undefined;
  #controller: AbortController | undefined = undefined;

  constructor(lock: LocalLock, mode: LockMode, fence: number) {
    this.name = lock.name;
    this.mode = mode;
    this.fence = fence;
    this.#lock = lock;
  }

  get signal(): AbortSignal {
    // Made on first use: most holders never look, and a local lease is only
    // lost with its isolate, so this signal never aborts.
    return (this.#controller ??= new AbortController()).signal;
  }

  get released(): boolean {
    return this.#lock === undefined;
  }

  release(): Promise<void> {
    const lock = this.#lock;
    if (lock !== undefined) {
      this.#lock = undefined;
      releaseHold(lock, this.mode);
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
    return RESOLVED;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }
}
