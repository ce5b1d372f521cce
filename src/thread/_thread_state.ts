// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.

import { queueKey } from "../core/_validate.ts";
import { localNow, sharedNow } from "./_clock.ts";
import { Guard } from "./_guard.ts";
import { THREAD_ID } from "./_thread_id.ts";

export { THREAD_ID };

/**
 * @internal The shared-memory state of one `thread` lock: a region of a
 * `SharedArrayBuffer` that every thread maps, and the operations on it.
 *
 * Every operation runs under the region's guard word (see _guard.ts), held
 * for a few dozen to a few hundred instructions, never across an `await`;
 * the guard's atomic operations order the plain reads and writes inside it
 * for every thread. Waiters sleep on their own slot's state word with
 * `Atomics.waitAsync`, and a grant wakes exactly that slot.
 *
 * A thread can die anywhere (termination runs no `finally`), so:
 *
 * - **Inside a guarded section**, the next thread to want the guard takes
 *   it over (see _guard.ts) and calls {@linkcode ThreadState.repair}. Each
 *   operation orders its stores so that a prefix of them is harmless (a
 *   record is written before the flag that publishes it), the two
 *   operations that cannot — a grant, a dozen stores over a slot and the
 *   header, and a steal's revocation of every holder — first write an
 *   intent that the repair rolls forward, and
 *   everything else (the free list, the queue's links, the held list, the
 *   counts, the earliest expiry) is derived and rebuilt from the slots'
 *   states by the repair.
 * - **Outside one**, what it leaves behind is recovered by the rules every
 *   thread applies: a lease ends at its expiry; a waiter refreshes its
 *   slot's stamp at least every {@linkcode WAITER_REFRESH_MS} while it waits,
 *   and a grant must be taken up within {@linkcode WAITER_STALE_MS} of being
 *   made; a slot whose waiter stopped refreshing for
 *   {@linkcode WAITER_STALE_MS} is reclaimed when it reaches the head of the
 *   queue or when the slots run out. Every reclaimed slot's generation
 *   advances, so a waiter that was only slow (its event loop blocked) finds
 *   out on its next look, and queues again with the same key — its ticket
 *   and its priority's aging — instead of touching a slot that is no longer
 *   its own.
 *
 * Region layout (byte offsets from the region's base, which is 8-aligned):
 *
 *   0  int32  MAGIC          identifies a unilock lock region, layout 3
 *   4  int32  CAPACITY       number of slots
 *   8  int32  GUARD          0 free, else its holder's token (_guard.ts)
 *  12  int32  WRITER         1 while an exclusive lease holds the lock
 *  16  int32  READERS        shared leases holding the lock (derived)
 *  20  int32  QUEUE_HEAD     first waiting slot (1-based; 0 none)
 *  24  int32  QUEUE_TAIL     last waiting slot
 *  28  int32  FREE_HEAD      first free slot that was used before
 *  32  int32  WAITING        waiting slots (derived)
 *  36  int32  OWNER          the thread id of the exclusive holder (a hint)
 *  40  int32  ANON           shared leases without a slot (no leaseMs)
 *  44  int32  WRITER_SLOT    the slot of an exclusive grant not yet taken up
 *  48  int32  FRESH          slots ever used: the ones above are free
 *  52  int32  HELD_HEAD      first slot of a shared lease with a slot
 *  56  int32  INTENT         1 while a grant is being written, 2 a steal
 *  60  int32  INTENT_SLOT    the slot it grants
 *  64  int32  REPAIRS        times the state was repaired after a takeover
 *  68  int32  STEALS         steals so far (a word to notify on a steal)
 *  72  f64    TICKETS        waiters queued so far (orders the queue, see queueKey)
 *  80  f64    FENCE          last fence granted
 *  88  f64    WRITER_FENCE   the exclusive holder's fence
 *  96  f64    WRITER_EXPIRY  when the exclusive lease expires (0 never)
 * 104  f64    MIN_EXPIRY     nothing is due before this (0 nothing; derived)
 * 112  f64    CLOCK          the clock's floor (see _clock.ts)
 * 120  f64    INTENT_FENCE   the fence of the grant being written
 * 128  f64    INTENT_EXPIRY  and its expiry
 * 136  f64    REVOKED        every lease with a fence up to this was stolen
 * 144  slots, 48 bytes each:
 *        int32 STATE (FREE, WAIT, GRANTED, HELD), int32 MODE (bit 0; the
 *        other bits are the waiter's THREAD_ID), int32 PREV, int32 NEXT (the
 *        queue, the held list or the free list), int32 GEN (advances every
 *        time the slot is freed), int32 GONE (its waiter gave up without the
 *        guard: the generation it gave up, plus one), f64 KEY (the queue key
 *        while waiting, the fence once granted), f64 LEASE (the lease length
 *        while waiting, the expiry once granted), f64 STAMP (the waiter's
 *        last sign of life, or when it was granted)
 */

export const MAGIC = 0x554c_4b33; // "ULK3"
export const HEADER_BYTES = 144;
export const SLOT_BYTES = 48;

/** A waiter shows it is alive at least this often. */
export const WAITER_REFRESH_MS = 300;
/**
 * A waiter silent this long is presumed dead (its slot can be reclaimed),
 * and a grant not taken up within this long is withdrawn.
 */
export const WAITER_STALE_MS = 1_500;

const CAPACITY = 1, GUARD = 2, WRITER = 3, READERS = 4;
const QUEUE_HEAD = 5, QUEUE_TAIL = 6, FREE_HEAD = 7, WAITING = 8, OWNER = 9;
const ANON = 10, WRITER_SLOT = 11, FRESH = 12, HELD_HEAD = 13;
const INTENT = 14, INTENT_SLOT = 15, REPAIRS = 16, STEALS = 17;
const TICKETS = 9,
  FENCE = 10,
  WRITER_FENCE = 11,
  WRITER_EXPIRY = 12,
  MIN_EXPIRY = 13,
  CLOCK = 14,
  INTENT_FENCE = 15,
  INTENT_EXPIRY = 16,
  REVOKED = 17;
// Within a slot: int32 offsets from its state word, f64 offsets from its key.
const MODE_ = 1, PREV_ = 2, NEXT_ = 3, GEN_ = 4, GONE_ = 5;
const LEASE_ = 1, STAMP_ = 2;

/**
 * @internal Indexes of header words, for tests that lay out what a thread
 * that died mid-section leaves behind (int32 indexes, then f64 indexes).
 */
export const LAYOUT: Readonly<
  Record<
    | "GUARD"
    | "WRITER"
    | "QUEUE_HEAD"
    | "QUEUE_TAIL"
    | "WAITING"
    | "INTENT"
    | "INTENT_SLOT"
    | "FENCE"
    | "INTENT_FENCE"
    | "INTENT_EXPIRY"
    | "REVOKED",
    number
  >
> = {
  GUARD: GUARD,
  WRITER: WRITER,
  QUEUE_HEAD: QUEUE_HEAD,
  QUEUE_TAIL: QUEUE_TAIL,
  WAITING: WAITING,
  INTENT: INTENT,
  INTENT_SLOT: INTENT_SLOT,
  FENCE: FENCE,
  INTENT_FENCE: INTENT_FENCE,
  INTENT_EXPIRY: INTENT_EXPIRY,
  REVOKED: REVOKED,
};

// Node 20 has no navigator; assume the smallest machine that has a choice.
const CORES: number =
  (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator
    ?.hardwareConcurrency ?? 2;

export const FREE = 0, WAIT = 1, GRANTED = 2, HELD = 3;
const EXCLUSIVE = 0, SHARED = 1;

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

/**
 * A grant: its fence, and the slot (with its generation) that records it
 * when it has a lease.
 */
export interface Grant {
  fence: number;
  slot: number;
  gen: number;
}

/** What a waiter's look at its slot found. */
export const REQUEUE = "requeue";

export class ThreadState {
  readonly i32: Int32Array;
  readonly f64: Float64Array;
  /** Int32 index of the region's base. */
  readonly #b: number;
  /** Float64 index of the region's base. */
  readonly #d: number;
  readonly capacity: number;
  readonly #guard: Guard;
  /**
   * The shared clock as first read in this guarded section (-1: not read
   * yet; most sections need no time at all, and a read costs).
   */
  #t = -1;

  constructor(buffer: SharedArrayBuffer, byteOffset: number) {
    this.i32 = new Int32Array(buffer);
    this.f64 = new Float64Array(buffer);
    this.#b = byteOffset >> 2;
    this.#d = byteOffset >> 3;
    this.capacity = this.i32[this.#b + CAPACITY]!;
    this.#guard = new Guard(this.i32, this.#b + GUARD, () => {
      this.#t = -1;
      this.repair();
    });
  }

  /**
   * Writes a fresh region into zeroed memory (a new `SharedArrayBuffer` is):
   * all slots free and never used, nobody queued. Constant time, so that a
   * table can make a lock under its guard.
   */
  static format(
    buffer: SharedArrayBuffer,
    byteOffset: number,
    capacity: number,
  ): void {
    const i32 = new Int32Array(buffer, byteOffset, HEADER_BYTES >> 2);
    i32[CAPACITY] = capacity;
    // The creator's clock is the region's first floor: a thread whose clock
    // is behind it is brought forward before it writes any time (_clock.ts).
    new Float64Array(buffer, byteOffset, HEADER_BYTES >> 3)[CLOCK] = localNow();
    // Published last: a region is valid only once its magic is visible.
    Atomics.store(i32, 0, MAGIC);
  }

  /** Int32 index of slot `s`'s state word (for wait and notify). */
  stateIndex(s: number): number {
    return this.#b + (HEADER_BYTES + (s - 1) * SLOT_BYTES >> 2);
  }

  /** Float64 index of slot `s`'s key (byte 24 of the slot). */
  #slotF64(s: number): number {
    return this.#d + (HEADER_BYTES + (s - 1) * SLOT_BYTES >> 3) + 3;
  }

  /** Takes the guard, waiting as long as it takes (blocking this thread). */
  lock(): void {
    this.#t = -1;
    this.#guard.take();
  }

  /** Takes the guard within a moment; false when it stays taken. */
  lockSoon(): boolean {
    this.#t = -1;
    return this.#guard.take(2);
  }

  /** Takes the guard without holding up the event loop; see Guard. */
  async lockAsync(
    deadline: number | undefined,
    signal: AbortSignal | undefined,
    timedOut: (detail: string) => Error,
  ): Promise<void> {
    await this.#guard.takeAsync(deadline, signal, timedOut);
    this.#t = -1;
  }

  unlock(): void {
    this.#guard.release();
  }

  /** Times this region was repaired, and this thread's takeovers of it. */
  get repairs(): number {
    return Atomics.load(this.i32, this.#b + REPAIRS);
  }

  get takeovers(): number {
    return this.#guard.takeovers;
  }

  /**
   * Marks a waiting slot as given up by a waiter that could not take the
   * guard to leave (its deadline passed while a dead holder kept it): the
   * next dispatch or reap frees it. No guard needed: the mark names the
   * generation, so it cannot touch the slot's next life.
   */
  abandon(s: number, gen: number): void {
    Atomics.store(this.i32, this.stateIndex(s) + GONE_, (gen + 1) | 0 || 1);
  }

  /**
   * For a deadlock graph, from outside any of this lock's sections: whether
   * the lease with `fence` (slot 0: the exclusive lease; -1: a shared lease
   * without a slot, which never ends by itself; else its slot and
   * generation) still holds the lock at `now`. Read under the guard, if it
   * comes within a moment; `undefined` if it does not (a dead thread's guard
   * is not worth waiting for here).
   */
  leaseAlive(
    fence: number,
    slot: number,
    gen: number,
    now: number,
  ): boolean | undefined {
    // A shared lease without a slot ends only by its release or a steal.
    if (slot === -1) return !this.stolen(fence);
    if (!this.#guard.take(0.05)) return undefined;
    try {
      const f64 = this.f64;
      let expiry: number;
      if (slot === 0) {
        if (!this.holdsWriter(fence)) return false;
        expiry = f64[this.#d + WRITER_EXPIRY]!;
      } else {
        if (!(slot >= 1 && slot <= this.capacity)) return false;
        if (!this.#holdsSlot(fence, slot, gen)) return false;
        expiry = f64[this.#slotF64(slot) + LEASE_]!;
      }
      return expiry === 0 || expiry > now;
    } finally {
      this.#guard.release();
    }
  }

  /** Likewise: whether slot `slot` of generation `gen` has a live waiter. */
  waiterAlive(slot: number, gen: number, now: number): boolean | undefined {
    if (!(slot >= 1 && slot <= this.capacity)) return false;
    if (!this.#guard.take(0.05)) return undefined;
    try {
      const i32 = this.i32, x = this.stateIndex(slot);
      if (i32[x + GEN_] !== gen) return false;
      const state = i32[x];
      if (state !== WAIT && state !== GRANTED) return false;
      if (i32[x + GONE_] === ((gen + 1) | 0 || 1)) return false;
      return now - this.f64[this.#slotF64(slot) + STAMP_]! < WAITER_STALE_MS;
    } finally {
      this.#guard.release();
    }
  }

  /**
   * Whether the lease with `fence` was stolen (`steal`). Needs no guard, so
   * that a holder can look from anywhere: the revoked fence only grows, and
   * the steal count's atomic load orders the read after the steal's stores.
   */
  stolen(fence: number): boolean {
    Atomics.load(this.i32, this.#b + STEALS);
    return fence <= this.f64[this.#d + REVOKED]!;
  }

  /** Int32 index of the word a steal notifies (see _steal_watch.ts). */
  get stealsIndex(): number {
    return this.#b + STEALS;
  }

  // Everything below runs between lock() and unlock().

  /** The shared clock, read once per guarded section (see _clock.ts). */
  get now(): number {
    return this.#t >= 0
      ? this.#t
      : (this.#t = sharedNow(this.f64, this.#d + CLOCK));
  }

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

  gen(s: number): number {
    return this.i32[this.stateIndex(s) + GEN_]!;
  }

  slotKey(s: number): number {
    return this.f64[this.#slotF64(s)]!;
  }

  #nextFence(): number {
    return ++this.f64[this.#d + FENCE]!;
  }

  /** Notes that something is due at `expiry`; `wake`: a lease's expiry. */
  #noteExpiry(expiry: number, wake: boolean = true): void {
    const min = this.f64[this.#d + MIN_EXPIRY]!;
    if (min !== 0 && expiry >= min) return;
    this.f64[this.#d + MIN_EXPIRY] = expiry;
    if (!wake) return;
    // A lease's expiry came sooner: the waiter at the head armed its timer
    // by the old one and must arm it again, or it could sleep on behind a
    // lease that ran out (its holder dead) with nobody to reap it. (Other
    // dues, and every other waiter, are met by the waiters' own re-checks
    // every WAITER_REFRESH_MS.)
    const head = this.i32[this.#b + QUEUE_HEAD]!;
    if (head !== 0) Atomics.notify(this.i32, this.stateIndex(head));
  }

  /** Whether slot `s`'s waiter gave up, or has been silent too long. */
  #gone(s: number): boolean {
    const x = this.stateIndex(s);
    const gone = Atomics.load(this.i32, x + GONE_);
    return (gone !== 0 && gone === ((this.i32[x + GEN_]! + 1) | 0 || 1)) ||
      this.now - this.f64[this.#slotF64(s) + STAMP_]! >= WAITER_STALE_MS;
  }

  #alloc(): number {
    const i32 = this.i32, b = this.#b;
    let s = i32[b + FREE_HEAD]!;
    if (s !== 0) {
      i32[b + FREE_HEAD] = i32[this.stateIndex(s) + NEXT_]!;
    } else {
      const fresh = i32[b + FRESH]!;
      if (fresh >= this.capacity) return 0;
      s = i32[b + FRESH] = fresh + 1;
    }
    const x = this.stateIndex(s);
    i32[x + PREV_] = i32[x + NEXT_] = i32[x + GONE_] = 0;
    // Its state stays FREE until the caller's last store: a thread dying in
    // between leaves a free slot, which the repair puts back in the list.
    return s;
  }

  /** Allocates a slot, reclaiming what dead threads left when none is free. */
  #allocOrReclaim(): number {
    const s = this.#alloc();
    if (s !== 0) return s;
    // Only when the slots run out: grants nobody took up, and waiters that
    // stopped refreshing, anywhere in the queue (not only at its head).
    this.reap(true);
    const i32 = this.i32;
    for (
      let q = i32[this.#b + QUEUE_HEAD]!, n = 0;
      q !== 0 && n < this.capacity;
      n++
    ) {
      const next = i32[this.stateIndex(q) + NEXT_]!;
      if (this.#gone(q)) {
        this.#unlink(q);
        this.#free(q);
      }
      q = next;
    }
    return this.#alloc();
  }

  #free(s: number): void {
    const i32 = this.i32, x = this.stateIndex(s), f = this.#slotF64(s);
    // First: whoever held the slot finds it is no longer theirs.
    Atomics.add(i32, x + GEN_, 1);
    i32[x + MODE_] = i32[x + PREV_] = 0;
    this.f64[f] = this.f64[f + LEASE_] = this.f64[f + STAMP_] = 0;
    i32[x + NEXT_] = i32[this.#b + FREE_HEAD]!;
    i32[this.#b + FREE_HEAD] = s;
    // Last, with a store that wakes nobody: nobody waits on a free slot.
    Atomics.store(i32, x, FREE);
  }

  #linkHeld(s: number): void {
    const i32 = this.i32, b = this.#b, x = this.stateIndex(s);
    const head = i32[b + HELD_HEAD]!;
    i32[x + PREV_] = 0;
    i32[x + NEXT_] = head;
    if (head !== 0) i32[this.stateIndex(head) + PREV_] = s;
    i32[b + HELD_HEAD] = s;
  }

  #unlinkHeld(s: number): void {
    const i32 = this.i32, b = this.#b, x = this.stateIndex(s);
    const prev = i32[x + PREV_]!, next = i32[x + NEXT_]!;
    if (prev === 0) i32[b + HELD_HEAD] = next;
    else i32[this.stateIndex(prev) + NEXT_] = next;
    if (next !== 0) i32[this.stateIndex(next) + PREV_] = prev;
    i32[x + PREV_] = i32[x + NEXT_] = 0;
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
      const expiry = leaseMs > 0 ? this.now + leaseMs : 0;
      // The record first, the flag last: a thread dying in between leaves
      // no writer, or a whole one (whose lease, if any, runs out).
      this.f64[this.#d + WRITER_FENCE] = fence;
      this.f64[this.#d + WRITER_EXPIRY] = expiry;
      i32[b + WRITER_SLOT] = 0;
      i32[b + OWNER] = THREAD_ID;
      i32[b + WRITER] = 1;
      if (expiry > 0) this.#noteExpiry(expiry);
      return { fence, slot: 0, gen: 0 };
    }
    if (leaseMs <= 0) {
      const fence = this.#nextFence();
      i32[b + ANON]!++;
      i32[b + READERS]!++;
      return { fence, slot: 0, gen: 0 };
    }
    const s = this.#allocOrReclaim();
    if (s === 0) return null;
    const fence = this.#nextFence();
    const expiry = this.now + leaseMs;
    const x = this.stateIndex(s), f = this.#slotF64(s);
    i32[x + MODE_] = THREAD_ID << 1 | SHARED;
    this.f64[f] = fence;
    this.f64[f + LEASE_] = expiry;
    this.#linkHeld(s);
    i32[b + READERS]!++;
    this.#noteExpiry(expiry);
    Atomics.store(i32, x, HELD);
    return { fence, slot: s, gen: i32[x + GEN_]! };
  }

  /**
   * Takes the lock from every current holder and grants it, exclusive, to
   * this thread at once, ahead of the queue (`steal`). Every lease granted
   * so far is revoked by fence: the exclusive holder's record and every
   * shared slot are cleared (their holders find them gone, as after an
   * expiry), slotless shared leases are disowned by the revoked fence, and a
   * grant not yet taken up is withdrawn (its waiter queues again with its
   * key: first in line behind the thief). Waiters keep their places.
   */
  steal(leaseMs: number): Grant {
    const i32 = this.i32, f64 = this.f64, b = this.#b, d = this.#d;
    // The revoked fence first, then the intent: a thread dying among the
    // stores below leaves a revocation that the repair completes (the lock
    // then ends free: the thief died with it).
    f64[d + REVOKED] = f64[d + FENCE]!;
    Atomics.store(i32, b + INTENT, 2);
    this.#revoke();
    Atomics.store(i32, b + INTENT, 0);
    // The thief's grant, ordered as grantNow()'s: the flag last.
    const fence = this.#nextFence();
    const expiry = leaseMs > 0 ? this.now + leaseMs : 0;
    f64[d + WRITER_FENCE] = fence;
    f64[d + WRITER_EXPIRY] = expiry;
    i32[b + WRITER_SLOT] = 0;
    i32[b + OWNER] = THREAD_ID;
    i32[b + WRITER] = 1;
    if (expiry > 0) this.#noteExpiry(expiry);
    this.#announceSteal();
    return { fence, slot: 0, gen: 0 };
  }

  /** Clears every holder's record (the revoked fence is written). */
  #revoke(): void {
    const i32 = this.i32, b = this.#b;
    if (i32[b + WRITER] === 1) {
      const slot = i32[b + WRITER_SLOT]!;
      i32[b + WRITER] = 0;
      this.f64[this.#d + WRITER_EXPIRY] = 0;
      if (slot >= 1 && slot <= this.capacity) {
        i32[b + WRITER_SLOT] = 0;
        this.#free(slot);
      }
    }
    for (
      let s = i32[b + HELD_HEAD]!, n = 0;
      s !== 0 && n < this.capacity;
      n++
    ) {
      const after = i32[this.stateIndex(s) + NEXT_]!;
      this.#unlinkHeld(s);
      this.#free(s);
      s = after;
    }
    i32[b + HELD_HEAD] = 0;
    i32[b + ANON] = 0;
    i32[b + READERS] = 0;
  }

  /** Wakes every thread watching its leases for a steal (_steal_watch.ts). */
  #announceSteal(): void {
    Atomics.add(this.i32, this.#b + STEALS, 1);
    Atomics.notify(this.i32, this.#b + STEALS);
  }

  /**
   * Queues a waiter in its place by key (a new ticket's, or `key` for a
   * waiter queueing again); returns its slot, or 0 when none is free.
   */
  enqueue(
    shared: boolean,
    leaseMs: number,
    priority: number,
    key?: number,
  ): number {
    const s = this.#allocOrReclaim();
    if (s === 0) return 0;
    const i32 = this.i32, b = this.#b, x = this.stateIndex(s);
    const f = this.#slotF64(s);
    // The waiter's thread rides along with its mode, so the grant can name
    // the new owner at once (see shouldSpin).
    i32[x + MODE_] = THREAD_ID << 1 | (shared ? SHARED : EXCLUSIVE);
    key ??= queueKey(++this.f64[this.#d + TICKETS]!, priority);
    this.f64[f] = key;
    this.f64[f + LEASE_] = leaseMs;
    this.f64[f + STAMP_] = this.now;
    // Scans back from the tail, which is where every waiter without a
    // priority belongs: O(1) then.
    let prev = i32[b + QUEUE_TAIL]!;
    for (let n = 0; prev !== 0 && n < this.capacity; n++) {
      if (this.f64[this.#slotF64(prev)]! <= key) break;
      prev = i32[this.stateIndex(prev) + PREV_]!;
    }
    const next = prev === 0
      ? i32[b + QUEUE_HEAD]!
      : i32[this.stateIndex(prev) + NEXT_]!;
    i32[x + PREV_] = prev;
    i32[x + NEXT_] = next;
    if (prev === 0) i32[b + QUEUE_HEAD] = s;
    else i32[this.stateIndex(prev) + NEXT_] = s;
    if (next === 0) i32[b + QUEUE_TAIL] = s;
    else i32[this.stateIndex(next) + PREV_] = s;
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
    const prev = i32[x + PREV_]!, next = i32[x + NEXT_]!;
    if (prev === 0) i32[b + QUEUE_HEAD] = next;
    else i32[this.stateIndex(prev) + NEXT_] = next;
    if (next === 0) i32[b + QUEUE_TAIL] = prev;
    else i32[this.stateIndex(next) + PREV_] = prev;
    i32[x + PREV_] = i32[x + NEXT_] = 0;
    i32[b + WAITING]!--;
  }

  /**
   * Takes a waiter out of the queue. False if it was granted first (the
   * grant stands); true also when its slot was reclaimed already.
   */
  cancel(s: number, gen: number): boolean {
    if (this.gen(s) !== gen) return true;
    if (this.slotState(s) !== WAIT) return false;
    this.#unlink(s);
    this.#free(s);
    // The slot that left may have been a writer holding readers back.
    this.dispatch();
    return true;
  }

  /** Shows that slot `s`'s waiter is alive. */
  touch(s: number, gen: number): void {
    if (this.gen(s) === gen) this.f64[this.#slotF64(s) + STAMP_] = this.now;
  }

  /**
   * A waiter's look at its slot: the grant, turned into a lease; `undefined`
   * while it still waits; or {@linkcode REQUEUE} when the slot is no longer
   * its own (reclaimed while its thread was silent) or its grant lapsed
   * before it came to take it.
   */
  consume(s: number, gen: number): Grant | typeof REQUEUE | undefined {
    const i32 = this.i32, b = this.#b, x = this.stateIndex(s);
    if (i32[x + GEN_] !== gen) return REQUEUE;
    const state = i32[x]!;
    if (state === WAIT) return undefined;
    if (state !== GRANTED) return REQUEUE;
    const f = this.#slotF64(s);
    const fence = this.f64[f]!, expiry = this.f64[f + LEASE_]!;
    if ((i32[x + MODE_]! & 1) === SHARED) {
      if (expiry > 0) {
        Atomics.store(i32, x, HELD);
        return { fence, slot: s, gen };
      }
      // Without a lease it needs no slot. Freed first: a thread dying in
      // between loses a reader nobody holds, rather than counting one twice.
      this.#unlinkHeld(s);
      this.#free(s);
      i32[b + ANON]!++;
      return { fence, slot: 0, gen: 0 };
    }
    const mine = i32[b + WRITER] === 1 && i32[b + WRITER_SLOT] === s &&
      this.f64[this.#d + WRITER_FENCE] === fence;
    if (mine) i32[b + WRITER_SLOT] = 0;
    this.#free(s);
    return mine ? { fence, slot: 0, gen: 0 } : REQUEUE;
  }

  /** Ends an exclusive lease if it still holds the lock. */
  releaseWriter(fence: number): boolean {
    if (!this.holdsWriter(fence)) return false;
    this.i32[this.#b + WRITER] = 0;
    this.f64[this.#d + WRITER_EXPIRY] = 0;
    this.dispatch();
    return true;
  }

  /** Ends a shared lease; one with a lease slot only if that slot is still its own. */
  releaseReader(fence: number, slot: number, gen: number): boolean {
    const i32 = this.i32, b = this.#b;
    if (slot !== 0) {
      if (!this.#holdsSlot(fence, slot, gen)) return false;
      this.#unlinkHeld(slot);
      this.#free(slot);
    } else {
      // A stolen one was disowned by the steal, which zeroed the count.
      if (i32[b + ANON]! <= 0 || this.stolen(fence)) return false;
      i32[b + ANON]!--;
    }
    i32[b + READERS]!--;
    this.dispatch();
    return true;
  }

  #holdsSlot(fence: number, slot: number, gen: number): boolean {
    const x = this.stateIndex(slot);
    return this.i32[x + GEN_] === gen && this.i32[x] === HELD &&
      this.f64[this.#slotF64(slot)] === fence;
  }

  /** Sets a lease to expire `leaseMs` from now; false if it was lost. */
  renew(
    shared: boolean,
    fence: number,
    slot: number,
    gen: number,
    leaseMs: number,
  ): boolean {
    const expiry = this.now + leaseMs;
    if (!shared) {
      if (!this.holdsWriter(fence)) return false;
      this.f64[this.#d + WRITER_EXPIRY] = expiry;
      this.#noteExpiry(expiry);
      return true;
    }
    // A shared lease without a slot has no expiry: lost only to a steal.
    if (slot === 0) return !this.stolen(fence);
    if (!this.#holdsSlot(fence, slot, gen)) return false;
    this.f64[this.#slotF64(slot) + LEASE_] = expiry;
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

  /** Whether a taken-up exclusive lease with this fence holds the lock. */
  holdsWriter(fence: number): boolean {
    const i32 = this.i32, b = this.#b;
    return i32[b + WRITER] === 1 && i32[b + WRITER_SLOT] === 0 &&
      this.f64[this.#d + WRITER_FENCE] === fence;
  }

  /**
   * Recovers the lock from leases that expired (their thread died, or
   * stopped renewing) and from grants nobody took up. Cheap unless something
   * is due (MIN_EXPIRY is a lower bound), and then it looks only at the
   * exclusive holder and the shared leases with a slot (the held list),
   * never at every slot.
   */
  reap(force: boolean = false): void {
    const min = this.f64[this.#d + MIN_EXPIRY]!;
    if (!force && min === 0) return;
    const at = this.now;
    if (!force && at < min) return;
    const i32 = this.i32, b = this.#b, d = this.#d;
    let next = 0, freed = false;
    const consider = (due: number) => {
      if (due > 0 && (next === 0 || due < next)) next = due;
    };
    if (i32[b + WRITER] === 1) {
      const expiry = this.f64[d + WRITER_EXPIRY]!;
      const slot = i32[b + WRITER_SLOT]!;
      if ((expiry > 0 && expiry <= at) || (slot !== 0 && this.#gone(slot))) {
        i32[b + WRITER] = 0;
        if (slot !== 0) {
          i32[b + WRITER_SLOT] = 0;
          this.#free(slot);
        }
        freed = true;
      } else {
        consider(expiry);
        if (slot !== 0) {
          consider(this.f64[this.#slotF64(slot) + STAMP_]! + WAITER_STALE_MS);
        }
      }
    }
    for (
      let s = i32[b + HELD_HEAD]!, n = 0;
      s !== 0 && n < this.capacity;
      n++
    ) {
      const x = this.stateIndex(s), f = this.#slotF64(s);
      const after = i32[x + NEXT_]!;
      const granted = i32[x] === GRANTED;
      const expiry = this.f64[f + LEASE_]!;
      if ((expiry > 0 && expiry <= at) || (granted && this.#gone(s))) {
        this.#unlinkHeld(s);
        this.#free(s);
        i32[b + READERS]!--;
        freed = true;
      } else {
        consider(expiry);
        if (granted) consider(this.f64[f + STAMP_]! + WAITER_STALE_MS);
      }
      s = after;
    }
    this.f64[d + MIN_EXPIRY] = next;
    if (freed) this.dispatch();
  }

  /**
   * Who holds and who waits, for `query()`: the exclusive holder's fence,
   * the fences of shared leases that have an expiry, how many shared
   * leases hold in all, and the live waiters in queue order. It walks the
   * held list and the queue, not every slot.
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
    for (
      let s = i32[b + HELD_HEAD]!, n = 0;
      s !== 0 && n < this.capacity;
      s = i32[this.stateIndex(s) + NEXT_]!, n++
    ) {
      const f = this.#slotF64(s);
      if (this.f64[f + LEASE_]! > 0) {
        held.push({ fence: this.f64[f]!, shared: true });
      }
    }
    const pending: { slot: number; shared: boolean }[] = [];
    for (
      let s = i32[b + QUEUE_HEAD]!, n = 0;
      s !== 0 && n < this.capacity;
      s = i32[this.stateIndex(s) + NEXT_]!, n++
    ) {
      // A waiter whose thread died is not waiting: leave it out.
      if (this.#gone(s)) continue;
      pending.push({
        slot: s,
        shared: (i32[this.stateIndex(s) + MODE_]! & 1) === SHARED,
      });
    }
    return { held, readers: i32[b + READERS]!, pending };
  }

  /** Grants queued slots from the head for as long as FIFO and modes allow. */
  dispatch(): void {
    const i32 = this.i32, b = this.#b;
    let s = i32[b + QUEUE_HEAD]!;
    for (let n = 0; s !== 0 && n <= this.capacity; n++) {
      const x = this.stateIndex(s);
      const shared = (i32[x + MODE_]! & 1) === SHARED;
      if (i32[b + WRITER] === 1) return;
      if (!shared && i32[b + READERS] !== 0) return;
      if (this.#gone(s)) {
        // Its thread died (or gave up without the guard): skip it.
        this.#unlink(s);
        this.#free(s);
      } else {
        this.#grant(s, shared);
        if (!shared) return;
      }
      s = i32[b + QUEUE_HEAD]!;
    }
  }

  #grant(s: number, shared: boolean): void {
    const i32 = this.i32, b = this.#b, d = this.#d, x = this.stateIndex(s);
    const leaseMs = this.f64[this.#slotF64(s) + LEASE_]!;
    const fence = this.#nextFence();
    const expiry = leaseMs > 0 ? this.now + leaseMs : 0;
    // A grant is a dozen stores over the slot and the header: announced
    // first, so that a repair after this thread dies among them completes
    // it, and the waiter (alive in its own thread) gets its grant.
    this.f64[d + INTENT_FENCE] = fence;
    this.f64[d + INTENT_EXPIRY] = expiry;
    i32[b + INTENT_SLOT] = s;
    Atomics.store(i32, b + INTENT, 1);
    this.#unlink(s);
    if (shared) {
      this.#linkHeld(s);
      i32[b + READERS]!++;
    }
    this.#applyGrant(s, shared, fence, expiry);
    Atomics.store(i32, b + INTENT, 0);
    // All, not one: a sleep that ended by its timer can leave a stale
    // waitAsync registration on this word until its own timeout.
    Atomics.notify(i32, x);
  }

  /** The grant's own stores, each idempotent (the repair may redo them). */
  #applyGrant(s: number, shared: boolean, fence: number, expiry: number) {
    const i32 = this.i32, b = this.#b, d = this.#d;
    const x = this.stateIndex(s), f = this.#slotF64(s);
    this.f64[f] = fence;
    // The grant must be taken up within WAITER_STALE_MS of now.
    this.f64[f + STAMP_] = this.now;
    if (shared) this.f64[f + LEASE_] = expiry;
    else {
      this.f64[f + LEASE_] = 0;
      this.f64[d + WRITER_FENCE] = fence;
      this.f64[d + WRITER_EXPIRY] = expiry;
      i32[b + WRITER_SLOT] = s;
      i32[b + OWNER] = i32[x + MODE_]! >>> 1;
      i32[b + WRITER] = 1;
    }
    if (expiry > 0) this.#noteExpiry(expiry);
    this.#noteExpiry(this.now + WAITER_STALE_MS, false);
    Atomics.store(i32, x, GRANTED);
  }

  /**
   * Rebuilds the state after a thread died holding the guard: completes a
   * grant it had announced, then derives the free list, the queue (its
   * order from the waiters' keys), the held list and the counts from the
   * slots' states, and reaps and dispatches. A scan of every slot used so
   * far, but only here, after a takeover.
   */
  repair(): void {
    const i32 = this.i32, f64 = this.f64, b = this.#b, d = this.#d;
    const capacity = this.capacity;
    let fresh = i32[b + FRESH]!;
    if (!(fresh >= 0 && fresh <= capacity)) fresh = capacity;
    i32[b + FRESH] = fresh;
    if (Atomics.load(i32, b + INTENT) === 1) {
      const s = i32[b + INTENT_SLOT]!, fence = f64[d + INTENT_FENCE]!;
      if (s >= 1 && s <= fresh) {
        const shared = (i32[this.stateIndex(s) + MODE_]! & 1) === SHARED;
        this.#applyGrant(s, shared, fence, f64[d + INTENT_EXPIRY]!);
        if (f64[d + FENCE]! < fence) f64[d + FENCE] = fence;
      }
      Atomics.store(i32, b + INTENT, 0);
    }
    const revoked = f64[d + REVOKED]!;
    const stealing = Atomics.load(i32, b + INTENT) === 2;
    if (stealing) {
      // A steal was revoking: finish it (below, every record with a fence
      // up to the revoked one is cleared); the thief died before its grant.
      i32[b + ANON] = 0;
      Atomics.store(i32, b + INTENT, 0);
    }
    if (i32[b + WRITER] === 1 && f64[d + WRITER_FENCE]! <= revoked) {
      i32[b + WRITER] = 0;
    }
    // The exclusive grant not yet taken up, if the header and its slot agree.
    let writerSlot = i32[b + WRITER_SLOT]!;
    if (
      i32[b + WRITER] !== 1 || !(writerSlot >= 1 && writerSlot <= fresh) ||
      i32[this.stateIndex(writerSlot)] !== GRANTED ||
      (i32[this.stateIndex(writerSlot) + MODE_]! & 1) !== EXCLUSIVE ||
      f64[this.#slotF64(writerSlot)] !== f64[d + WRITER_FENCE]
    ) writerSlot = 0;
    i32[b + WRITER_SLOT] = writerSlot;
    if (i32[b + WRITER] !== 1) i32[b + WRITER] = 0;
    if (i32[b + ANON]! < 0) i32[b + ANON] = 0;
    let readers = i32[b + ANON]!, fence = f64[d + FENCE]!;
    if (f64[d + WRITER_FENCE]! > fence) fence = f64[d + WRITER_FENCE]!;
    i32[b + FREE_HEAD] = i32[b + HELD_HEAD] = 0;
    i32[b + QUEUE_HEAD] = i32[b + QUEUE_TAIL] = 0;
    const waiters: number[] = [];
    for (let s = fresh; s >= 1; s--) {
      const x = this.stateIndex(s), state = i32[x]!;
      const shared = (i32[x + MODE_]! & 1) === SHARED;
      const held = state === GRANTED || state === HELD;
      if (state === WAIT) waiters.push(s);
      else if (held && shared && f64[this.#slotF64(s)]! > revoked) {
        this.#linkHeld(s);
        readers++;
        if (f64[this.#slotF64(s)]! > fence) fence = f64[this.#slotF64(s)]!;
      } else if (state === GRANTED && s === writerSlot) {
        // The writer's: stays until it is taken up or withdrawn.
      } else {
        // Free, or an exclusive grant whose writer is gone, or garbage.
        if (state !== FREE) Atomics.add(i32, x + GEN_, 1);
        i32[x + MODE_] = i32[x + PREV_] = 0;
        i32[x + NEXT_] = i32[b + FREE_HEAD]!;
        i32[b + FREE_HEAD] = s;
        Atomics.store(i32, x, FREE);
      }
    }
    waiters.sort((p, q) => this.slotKey(p) - this.slotKey(q));
    let prev = 0;
    for (const s of waiters) {
      const x = this.stateIndex(s);
      i32[x + PREV_] = prev;
      i32[x + NEXT_] = 0;
      if (prev === 0) i32[b + QUEUE_HEAD] = s;
      else i32[this.stateIndex(prev) + NEXT_] = s;
      prev = s;
    }
    i32[b + QUEUE_TAIL] = prev;
    i32[b + WAITING] = waiters.length;
    i32[b + READERS] = readers;
    f64[d + FENCE] = fence;
    Atomics.add(i32, b + REPAIRS, 1);
    // A steal whose thread died after its revocation, announced or not,
    // has not woken its victims' watches yet: a spurious wake-up is only a
    // look (and repairs are rare).
    this.#announceSteal();
    this.reap(true);
    this.dispatch();
    const head = i32[b + QUEUE_HEAD]!;
    if (head !== 0) Atomics.notify(i32, this.stateIndex(head));
  }
}
