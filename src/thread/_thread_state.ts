// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.

import { queueKey } from "../core/_validate.ts";

/**
 * @internal The shared-memory state of one `thread` lock: a region of a
 * `SharedArrayBuffer` that every thread maps, and the operations on it.
 *
 * Every operation runs under a guard word taken with `Atomics.compareExchange`
 * and held for a few dozen instructions, never across an `await`; the guard's
 * atomic store and load order the plain reads and writes inside it for every
 * thread. Waiters sleep on their own slot's state word with
 * `Atomics.waitAsync`, and a grant wakes exactly that slot.
 *
 * Region layout (byte offsets from the region's base, which is 8-aligned):
 *
 *   0  int32  MAGIC          identifies a unilock lock region, layout version 1
 *   4  int32  CAPACITY       number of slots
 *   8  int32  GUARD          0 free, 1 taken
 *  12  int32  WRITER         1 while an exclusive lease holds the lock
 *  16  int32  READERS        shared leases holding the lock
 *  20  int32  QUEUE_HEAD     first waiting slot (1-based; 0 none)
 *  24  int32  QUEUE_TAIL     last waiting slot
 *  28  int32  FREE_HEAD      first free slot
 *  32  int32  WAITING        waiting slots
 *  36  int32  OWNER          the thread id of the exclusive holder (a hint)
 *  40  f64    TICKETS        waiters queued so far (orders the queue, see queueKey)
 *  48  f64    FENCE          last fence granted
 *  56  f64    WRITER_FENCE   the exclusive holder's fence
 *  64  f64    WRITER_EXPIRY  when the exclusive lease expires (0 never)
 *  72  f64    MIN_EXPIRY     no lease expires before this (0 none)
 *  80  slots, 32 bytes each:
 *        int32 STATE (FREE, WAITING, GRANTED, HELD, LOST), int32 MODE (bit 0;
 *        the other bits are the waiter's THREAD_ID),
 *        int32 PREV, int32 NEXT, f64 FENCE (the queue key while waiting),
 *        f64 EXPIRY (lease length while waiting, expiry once granted)
 */

export const MAGIC = 0x554c_4b31; // "ULK1"
export const HEADER_BYTES = 80;
export const SLOT_BYTES = 32;

const CAPACITY = 1, GUARD = 2, WRITER = 3, READERS = 4;
const QUEUE_HEAD = 5, QUEUE_TAIL = 6, FREE_HEAD = 7, WAITING = 8, OWNER = 9;
const TICKETS = 5,
  FENCE = 6,
  WRITER_FENCE = 7,
  WRITER_EXPIRY = 8,
  MIN_EXPIRY = 9;

/**
 * This thread's id, as far as the lock is concerned: each thread loads this
 * module anew, so each draws its own. Only a hint for spinning; never relied
 * on for exclusion.
 */
export const THREAD_ID: number = (Math.random() * 0x3fff_ffff | 0) + 1;

// Node 20 has no navigator; assume the smallest machine that has a choice.
const CORES: number =
  (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator
    ?.hardwareConcurrency ?? 2;

export const FREE = 0, WAIT = 1, GRANTED = 2, HELD = 3, LOST = 4;
const EXCLUSIVE = 0, SHARED = 1;

// Whether this thread may sleep in Atomics.wait: not on a browser's main
// thread, which throws instead.
let canBlock: boolean | undefined;
function mayBlock(): boolean {
  if (canBlock === undefined) {
    try {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
      canBlock = true;
    } catch {
      canBlock = false;
    }
  }
  return canBlock;
}

// How long a thread spins for a taken guard before it sleeps.
const GUARD_SPIN_MS = 0.05;

/**
 * Takes a guard word (0 free, 1 taken, 2 taken with sleepers). A guard is
 * held for a few dozen instructions, so a short spin usually wins; but with
 * more threads than cores its holder can be descheduled mid-section, and then
 * spinning only burns the time it needs, so after a while the thread sleeps
 * in `Atomics.wait` (for at most 1 ms) until the holder wakes it.
 */
export function spinLock(i32: Int32Array, index: number): void {
  if (Atomics.compareExchange(i32, index, 0, 1) === 0) return;
  // Spin long enough to outlast a critical section, and then some: a thread
  // that sleeps here too soon lets the other threads take the guard again and
  // again before the OS wakes it, and that unfairness would undo the queue's
  // FIFO order one level up.
  const until = performance.now() + GUARD_SPIN_MS;
  do {
    for (let spins = 0; spins < 64; spins++) {
      if (
        Atomics.load(i32, index) === 0 &&
        Atomics.compareExchange(i32, index, 0, 1) === 0
      ) return;
    }
  } while (performance.now() < until);
  const block = mayBlock();
  while (Atomics.exchange(i32, index, 2) !== 0) {
    if (block) Atomics.wait(i32, index, 2, 1);
  }
}

/** Frees a guard word taken by {@linkcode spinLock}, waking one sleeper. */
export function spinUnlock(i32: Int32Array, index: number): void {
  if (Atomics.exchange(i32, index, 0) === 2) Atomics.notify(i32, index, 1);
}

/** Throws unless this runtime can share memory between threads. */
export function checkThreadSupport(action: string): void {
  const agent = (globalThis as { navigator?: { userAgent?: string } })
    .navigator?.userAgent;
  if (agent === "Cloudflare-Workers") {
    throw new TypeError(
      `Cannot ${action} on Cloudflare Workers (workerd): the runtime has no threads to share it with; use a "local" lock within one isolate or a "durable-object" lock across isolates`,
    );
  }
  if (typeof SharedArrayBuffer !== "function") {
    throw new TypeError(
      `Cannot ${action} as SharedArrayBuffer is not available here: a browser page must be cross-origin isolated (Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp) to share memory with its workers`,
    );
  }
}

/** The bytes one region with `capacity` slots takes. */
export function regionBytes(capacity: number): number {
  return HEADER_BYTES + capacity * SLOT_BYTES;
}

/** Milliseconds on a clock that every thread of the process shares. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

/** A grant: its fence, and the slot that records it when it has a lease. */
export interface Grant {
  fence: number;
  slot: number;
}

export class ThreadState {
  readonly i32: Int32Array;
  readonly f64: Float64Array;
  /** Int32 index of the region's base. */
  readonly #b: number;
  /** Float64 index of the region's base. */
  readonly #d: number;
  readonly capacity: number;

  constructor(buffer: SharedArrayBuffer, byteOffset: number) {
    this.i32 = new Int32Array(buffer);
    this.f64 = new Float64Array(buffer);
    this.#b = byteOffset >> 2;
    this.#d = byteOffset >> 3;
    this.capacity = this.i32[this.#b + CAPACITY]!;
  }

  /** Writes a fresh region: all slots free and chained. */
  static format(
    buffer: SharedArrayBuffer,
    byteOffset: number,
    capacity: number,
  ): void {
    const i32 = new Int32Array(buffer, byteOffset, regionBytes(capacity) >> 2);
    i32.fill(0);
    i32[CAPACITY] = capacity;
    for (let s = 1; s <= capacity; s++) {
      i32[(HEADER_BYTES + (s - 1) * SLOT_BYTES >> 2) + 3] = s < capacity
        ? s + 1
        : 0;
    }
    i32[FREE_HEAD] = capacity > 0 ? 1 : 0;
    // Published last: a region is valid only once its magic is visible.
    Atomics.store(i32, 0, MAGIC);
  }

  /** Int32 index of slot `s`'s state word (for wait and notify). */
  stateIndex(s: number): number {
    return this.#b + (HEADER_BYTES + (s - 1) * SLOT_BYTES >> 2);
  }

  #slotF64(s: number): number {
    return this.#d + (HEADER_BYTES + (s - 1) * SLOT_BYTES >> 3) + 2;
  }

  lock(): void {
    spinLock(this.i32, this.#b + GUARD);
  }

  unlock(): void {
    spinUnlock(this.i32, this.#b + GUARD);
  }

  // Everything below runs between lock() and unlock().

  get writer(): boolean {
    return this.i32[this.#b + WRITER] === 1;
  }

  get readers(): number {
    return this.i32[this.#b + READERS]!;
  }

  get waiting(): number {
    return this.i32[this.#b + WAITING]!;
  }

  get minExpiry(): number {
    return this.f64[this.#d + MIN_EXPIRY]!;
  }

  slotState(s: number): number {
    return this.i32[this.stateIndex(s)]!;
  }

  slotFence(s: number): number {
    return this.f64[this.#slotF64(s)]!;
  }

  #nextFence(): number {
    return ++this.f64[this.#d + FENCE]!;
  }

  #noteExpiry(expiry: number): void {
    const min = this.f64[this.#d + MIN_EXPIRY]!;
    if (min === 0 || expiry < min) this.f64[this.#d + MIN_EXPIRY] = expiry;
  }

  #alloc(): number {
    const i32 = this.i32, b = this.#b;
    const s = i32[b + FREE_HEAD]!;
    if (s === 0) return 0;
    const x = this.stateIndex(s);
    i32[b + FREE_HEAD] = i32[x + 3]!;
    i32[x + 2] = i32[x + 3] = 0;
    return s;
  }

  #free(s: number): void {
    const i32 = this.i32, x = this.stateIndex(s);
    i32[x + 1] = i32[x + 2] = 0;
    i32[x + 3] = i32[this.#b + FREE_HEAD]!;
    this.f64[this.#slotF64(s)] = this.f64[this.#slotF64(s) + 1] = 0;
    i32[this.#b + FREE_HEAD] = s;
    // Last, with a store that wakes nobody: nobody waits on a free slot.
    Atomics.store(i32, x, FREE);
  }

  /**
   * Grants at once if FIFO allows: nobody queued and no conflicting holder.
   * Returns `undefined` when busy, and `null` when a shared lease with an
   * expiry found no free slot to record it in.
   */
  grantNow(shared: boolean, leaseMs: number): Grant | undefined | null {
    const i32 = this.i32, b = this.#b;
    if (i32[b + QUEUE_HEAD] !== 0 || i32[b + WRITER] === 1) return undefined;
    if (!shared) {
      if (i32[b + READERS] !== 0) return undefined;
      const fence = this.#nextFence();
      i32[b + WRITER] = 1;
      i32[b + OWNER] = THREAD_ID;
      this.f64[this.#d + WRITER_FENCE] = fence;
      this.#setWriterExpiry(leaseMs);
      return { fence, slot: 0 };
    }
    let slot = 0;
    if (leaseMs > 0) {
      slot = this.#alloc();
      if (slot === 0) return null;
    }
    const fence = this.#nextFence();
    i32[b + READERS]!++;
    if (slot !== 0) this.#hold(slot, SHARED, fence, now() + leaseMs);
    return { fence, slot };
  }

  #setWriterExpiry(leaseMs: number): void {
    const expiry = leaseMs > 0 ? now() + leaseMs : 0;
    this.f64[this.#d + WRITER_EXPIRY] = expiry;
    if (expiry > 0) this.#noteExpiry(expiry);
  }

  #hold(s: number, mode: number, fence: number, expiry: number): void {
    const x = this.stateIndex(s), f = this.#slotF64(s);
    this.i32[x + 1] = THREAD_ID << 1 | mode;
    this.f64[f] = fence;
    this.f64[f + 1] = expiry;
    this.#noteExpiry(expiry);
    Atomics.store(this.i32, x, HELD);
  }

  /**
   * Queues a waiter in its place by priority (at the tail without one);
   * returns its slot, or 0 when none is free.
   */
  enqueue(shared: boolean, leaseMs: number, priority: number): number {
    const s = this.#alloc();
    if (s === 0) return 0;
    const i32 = this.i32, b = this.#b, x = this.stateIndex(s);
    // The waiter's thread rides along with its mode, so the grant can name
    // the new owner at once (see shouldSpin).
    i32[x + 1] = THREAD_ID << 1 | (shared ? SHARED : EXCLUSIVE);
    const key = queueKey(++this.f64[this.#d + TICKETS]!, priority);
    this.f64[this.#slotF64(s)] = key;
    this.f64[this.#slotF64(s) + 1] = leaseMs;
    // Scans back from the tail, which is where every waiter without a
    // priority belongs: O(1) then.
    let prev = i32[b + QUEUE_TAIL]!;
    while (prev !== 0 && this.f64[this.#slotF64(prev)]! > key) {
      prev = i32[this.stateIndex(prev) + 2]!;
    }
    const next = prev === 0
      ? i32[b + QUEUE_HEAD]!
      : i32[this.stateIndex(prev) + 3]!;
    i32[x + 2] = prev;
    i32[x + 3] = next;
    if (prev === 0) i32[b + QUEUE_HEAD] = s;
    else i32[this.stateIndex(prev) + 3] = s;
    if (next === 0) i32[b + QUEUE_TAIL] = s;
    else i32[this.stateIndex(next) + 2] = s;
    i32[b + WAITING]!++;
    Atomics.store(i32, x, WAIT);
    // The holder may have released between this thread's failed grantNow()
    // and this enqueue, with nobody queued to hand over to, or a shared
    // waiter may have gone first beside shared holders: grant it now.
    this.dispatch();
    return s;
  }

  #unlink(s: number): void {
    const i32 = this.i32, b = this.#b, x = this.stateIndex(s);
    const prev = i32[x + 2]!, next = i32[x + 3]!;
    if (prev === 0) i32[b + QUEUE_HEAD] = next;
    else i32[this.stateIndex(prev) + 3] = next;
    if (next === 0) i32[b + QUEUE_TAIL] = prev;
    else i32[this.stateIndex(next) + 2] = prev;
    i32[x + 2] = i32[x + 3] = 0;
    i32[b + WAITING]!--;
  }

  /** Takes a still-waiting slot out of the queue. False if it was granted first. */
  cancel(s: number): boolean {
    if (this.slotState(s) !== WAIT) return false;
    this.#unlink(s);
    this.#free(s);
    // The slot that left may have been a writer holding readers back.
    this.dispatch();
    return true;
  }

  /**
   * Turns a granted slot into a lease. Returns the grant, or `undefined` if
   * the grant's lease expired before this thread came to take it.
   */
  consume(s: number): Grant | undefined {
    const state = this.slotState(s);
    const x = this.stateIndex(s), f = this.#slotF64(s);
    const fence = this.f64[f]!;
    const shared = (this.i32[x + 1]! & 1) === SHARED;
    const expiry = this.f64[f + 1]!;
    if (state === GRANTED) {
      if (shared && expiry > 0) {
        Atomics.store(this.i32, x, HELD);
        return { fence, slot: s };
      }
      this.#free(s);
      // An exclusive grant can have expired before its thread came for it.
      if (!shared && !this.holdsWriter(fence)) return undefined;
      return { fence, slot: 0 };
    }
    // LOST: reaped between grant and consume.
    this.#free(s);
    return undefined;
  }

  /** Ends an exclusive lease if it still holds the lock. */
  releaseWriter(fence: number): boolean {
    const i32 = this.i32, b = this.#b;
    if (i32[b + WRITER] !== 1 || this.f64[this.#d + WRITER_FENCE] !== fence) {
      return false;
    }
    i32[b + WRITER] = 0;
    this.f64[this.#d + WRITER_EXPIRY] = 0;
    this.dispatch();
    return true;
  }

  /** Ends a shared lease; one with a lease slot only if that slot is still its own. */
  releaseReader(fence: number, slot: number): boolean {
    if (slot !== 0) {
      if (this.slotState(slot) !== HELD || this.slotFence(slot) !== fence) {
        return false;
      }
      this.#free(slot);
    }
    this.i32[this.#b + READERS]!--;
    this.dispatch();
    return true;
  }

  /** Pushes a lease's expiry out; false if the lease was lost. */
  renew(
    shared: boolean,
    fence: number,
    slot: number,
    leaseMs: number,
  ): boolean {
    const expiry = now() + leaseMs;
    if (!shared) {
      if (
        this.i32[this.#b + WRITER] !== 1 ||
        this.f64[this.#d + WRITER_FENCE] !== fence
      ) return false;
      this.f64[this.#d + WRITER_EXPIRY] = expiry;
      this.#noteExpiry(expiry);
      return true;
    }
    if (slot === 0) return true; // a shared lease without expiry is never lost
    if (this.slotState(slot) !== HELD || this.slotFence(slot) !== fence) {
      return false;
    }
    this.f64[this.#slotF64(slot) + 1] = expiry;
    this.#noteExpiry(expiry);
    return true;
  }

  /**
   * Whether waiter `s` should spin before it sleeps: it is next in line and
   * the lock's holder runs in another thread, so the handoff may come within
   * microseconds — sooner than a sleeping thread can be woken.
   */
  shouldSpin(s: number): boolean {
    const i32 = this.i32, b = this.#b;
    return i32[b + QUEUE_HEAD] === s && i32[b + WRITER] === 1 &&
      i32[b + OWNER] !== THREAD_ID &&
      // With more threads wanting the lock than cores, a spinner only takes
      // a core from the holder it waits for: then sleeping is faster.
      i32[b + WAITING]! + 1 <= CORES;
  }

  /** Whether an exclusive lease with this fence still holds the lock. */
  holdsWriter(fence: number): boolean {
    return this.i32[this.#b + WRITER] === 1 &&
      this.f64[this.#d + WRITER_FENCE] === fence;
  }

  /**
   * Recovers the lock from leases that expired (their thread died, or stopped
   * renewing). Cheap unless some lease is due: MIN_EXPIRY is a lower bound.
   */
  reap(at: number): void {
    const min = this.f64[this.#d + MIN_EXPIRY]!;
    if (min === 0 || at < min) return;
    const i32 = this.i32, b = this.#b, d = this.#d;
    let next = 0, freed = false;
    const consider = (expiry: number) => {
      if (expiry > 0 && (next === 0 || expiry < next)) next = expiry;
    };
    const writerExpiry = this.f64[d + WRITER_EXPIRY]!;
    if (i32[b + WRITER] === 1 && writerExpiry > 0) {
      if (writerExpiry <= at) {
        i32[b + WRITER] = 0;
        this.f64[d + WRITER_EXPIRY] = 0;
        freed = true;
      } else consider(writerExpiry);
    }
    for (let s = 1; s <= this.capacity; s++) {
      const state = this.slotState(s);
      if (state !== HELD && state !== GRANTED) continue;
      const x = this.stateIndex(s), f = this.#slotF64(s);
      if ((i32[x + 1]! & 1) !== SHARED) continue;
      const expiry = this.f64[f + 1]!;
      if (expiry <= 0) continue;
      if (expiry > at) {
        consider(expiry);
        continue;
      }
      i32[b + READERS]!--;
      freed = true;
      if (state === HELD) this.#free(s);
      else Atomics.store(i32, x, LOST); // its waiter frees it when it wakes
    }
    this.f64[d + MIN_EXPIRY] = next;
    if (freed) this.dispatch();
  }

  /**
   * Who holds and who waits, for `query()`: the exclusive holder's fence,
   * the fences of shared leases that have a slot (those with an expiry), how
   * many shared leases hold in all, and the queue in order.
   */
  snapshot(): {
    held: { fence: number; shared: boolean }[];
    readers: number;
    pending: { slot: number; shared: boolean }[];
  } {
    const i32 = this.i32, b = this.#b;
    const held: { fence: number; shared: boolean }[] = [];
    if (i32[b + WRITER] === 1) {
      held.push({ fence: this.f64[this.#d + WRITER_FENCE]!, shared: false });
    }
    for (let s = 1; s <= this.capacity; s++) {
      const state = this.slotState(s);
      if (state !== HELD && state !== GRANTED) continue;
      if ((i32[this.stateIndex(s) + 1]! & 1) !== SHARED) continue;
      if (this.f64[this.#slotF64(s) + 1]! <= 0) continue;
      held.push({ fence: this.f64[this.#slotF64(s)]!, shared: true });
    }
    const pending: { slot: number; shared: boolean }[] = [];
    for (
      let s = i32[b + QUEUE_HEAD]!;
      s !== 0;
      s = i32[this.stateIndex(s) + 3]!
    ) {
      pending.push({
        slot: s,
        shared: (i32[this.stateIndex(s) + 1]! & 1) === SHARED,
      });
    }
    return { held, readers: i32[b + READERS]!, pending };
  }

  /** Grants queued slots from the head for as long as FIFO and modes allow. */
  dispatch(): void {
    const i32 = this.i32, b = this.#b;
    let s = i32[b + QUEUE_HEAD]!;
    while (s !== 0) {
      const x = this.stateIndex(s), f = this.#slotF64(s);
      const shared = (i32[x + 1]! & 1) === SHARED;
      if (i32[b + WRITER] === 1) return;
      if (!shared && i32[b + READERS] !== 0) return;
      const leaseMs = this.f64[f + 1]!;
      const fence = this.#nextFence();
      this.#unlink(s);
      this.f64[f] = fence;
      if (shared) {
        i32[b + READERS]!++;
        this.f64[f + 1] = leaseMs > 0 ? now() + leaseMs : 0;
        if (leaseMs > 0) this.#noteExpiry(this.f64[f + 1]!);
      } else {
        i32[b + WRITER] = 1;
        i32[b + OWNER] = i32[x + 1]! >>> 1;
        this.f64[this.#d + WRITER_FENCE] = fence;
        this.#setWriterExpiry(leaseMs);
        this.f64[f + 1] = 0;
      }
      Atomics.store(i32, x, GRANTED);
      // All, not one: a sleep that ended by its timer can leave a stale
      // waitAsync registration on this word until its own timeout.
      Atomics.notify(i32, x);
      if (!shared) return;
      s = i32[b + QUEUE_HEAD]!;
    }
  }
}
