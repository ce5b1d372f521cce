// Copyright 2026 the unilock authors. MIT license.
// This module is browser compatible.

import { localNow, sharedNow } from "./_clock.ts";
import { Guard } from "./_guard.ts";

/**
 * @internal The permits of one `thread` semaphore in shared memory: who
 * holds how many, under a guard word (see _guard.ts) that survives a thread
 * dying inside it. The queue is not here: a semaphore's waiters line up on
 * a thread lock (its *gate*, see thread_semaphore.ts), whose holder is the
 * head of the line; this region only counts, grants and takes back permits,
 * so that no ordering, no lost gate and no dead thread can let more than
 * `PERMITS` out: every grant checks the count under this region's guard.
 *
 * As for the lock (see _thread_state.ts), a thread can die anywhere:
 *
 * - inside a guarded section, the next thread to want the guard takes it
 *   over and calls {@linkcode SemaphoreState.repair}, which derives the
 *   count held, the earliest expiry and the fence floor from the slots
 *   (each grant publishes its slot last, so a prefix of its stores grants
 *   nothing);
 * - outside one, a holder's permits come back when its lease (`leaseMs`)
 *   runs out, reaped by whichever thread looks next (a waiter at the head
 *   sleeps no longer than the earliest expiry). Permits held without a
 *   lease never come back by themselves, as for a shared lock lease.
 *
 * Layout (byte offsets from the region's base, which is 8-aligned):
 *
 *   0  int32  MAGIC      "ULS1"
 *   4  int32  SLOTS      holder slots
 *   8  int32  GUARD      see _guard.ts
 *  12  int32  PERMITS    the capacity; 0 until the first client sets it
 *  16  int32  HELD       permits held (derived: ANON plus the slots')
 *  20  int32  ANON       permits held without a slot (slots ran out, no lease)
 *  24  int32  SEQ        advances at every return of permits (the head sleeps on it)
 *  28  int32  SLEEPING   1 while the head sleeps on SEQ (a release then wakes it)
 *  32  int32  HEAD_NEEDS the permits the head of the line waits for (0 none)
 *  36  int32  REPAIRS    times repaired after a takeover
 *  40  int32  NEEDS_LEN  entries of NEEDS
 *  44  int32  (reserved)
 *  48  f64    FENCE      last fence granted
 *  56  f64    CLOCK      the clock's floor (see _clock.ts)
 *  64  f64    MIN_EXPIRY nothing expires before this (0 nothing; derived)
 *  72  int32[NEEDS_LEN] NEEDS: the permits asked by the gate's waiter in each gate slot
 *  then (8-aligned) slots, 24 bytes each: int32 STATE (0 free, else the
 *        permits held), int32 GEN (advances when freed), f64 FENCE, f64
 *        EXPIRY (0 never)
 */

export const SEMAPHORE_MAGIC = 0x554c_5331; // "ULS1"
const HEADER_BYTES = 72;
const SLOT_BYTES = 24;

const SLOTS = 1, GUARD = 2, PERMITS = 3, HELD = 4, ANON = 5, SEQ = 6;
const SLEEPING = 7, HEAD_NEEDS = 8, REPAIRS = 9, NEEDS_LEN = 10;
const FENCE = 6, CLOCK = 7, MIN_EXPIRY = 8;

/** The bytes a region with `slots` holder slots and `needs` gate slots takes. */
export function semaphoreRegionBytes(slots: number, needs: number): number {
  return ((HEADER_BYTES + needs * 4 + 7) & ~7) + slots * SLOT_BYTES;
}

/** The holder slots that fit in `bytes` beside `needs` gate slots. */
export function slotsFitting(bytes: number, needs: number): number {
  return Math.floor(
    (bytes - ((HEADER_BYTES + needs * 4 + 7) & ~7)) / SLOT_BYTES,
  );
}

/** A grant: its fence, and its slot (0: none) with the slot's generation. */
export interface PermitGrant {
  fence: number;
  slot: number;
  gen: number;
}

/** One holder, for `query()`. */
export interface PermitHolder {
  fence: number;
  permits: number;
}

export class SemaphoreState {
  readonly i32: Int32Array;
  readonly f64: Float64Array;
  readonly #b: number;
  readonly #d: number;
  readonly slots: number;
  /** Int32 index of the first NEEDS entry. */
  readonly #needs: number;
  /** Byte offset of slot 1, from the buffer's start. */
  readonly #slot0: number;
  readonly #guard: Guard;
  #t = -1;

  constructor(buffer: SharedArrayBuffer, byteOffset: number) {
    this.i32 = new Int32Array(buffer);
    this.f64 = new Float64Array(buffer);
    this.#b = byteOffset >> 2;
    this.#d = byteOffset >> 3;
    this.slots = this.i32[this.#b + SLOTS]!;
    this.#needs = this.#b + (HEADER_BYTES >> 2);
    this.#slot0 = byteOffset +
      ((HEADER_BYTES + this.i32[this.#b + NEEDS_LEN]! * 4 + 7) & ~7);
    this.#guard = new Guard(this.i32, this.#b + GUARD, () => {
      this.#t = -1;
      this.repair();
    });
  }

  /** Writes a fresh region into zeroed memory. */
  static format(
    buffer: SharedArrayBuffer,
    byteOffset: number,
    slots: number,
    needs: number,
  ): void {
    const i32 = new Int32Array(buffer, byteOffset, HEADER_BYTES >> 2);
    i32[SLOTS] = slots;
    i32[NEEDS_LEN] = needs;
    new Float64Array(buffer, byteOffset, HEADER_BYTES >> 3)[CLOCK] = localNow();
    Atomics.store(i32, 0, SEMAPHORE_MAGIC);
  }

  /** Whether the region at `byteOffset` holds a formatted semaphore. */
  static isRegion(buffer: SharedArrayBuffer, byteOffset: number): boolean {
    return Atomics.load(new Int32Array(buffer, byteOffset, 1), 0) ===
      SEMAPHORE_MAGIC;
  }

  #x(s: number): number {
    return (this.#slot0 + (s - 1) * SLOT_BYTES) >> 2;
  }

  #f(s: number): number {
    return ((this.#slot0 + (s - 1) * SLOT_BYTES) >> 3) + 1;
  }

  lock(): void {
    this.#t = -1;
    this.#guard.take();
  }

  lockSoon(): boolean {
    this.#t = -1;
    return this.#guard.take(2);
  }

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

  get repairs(): number {
    return Atomics.load(this.i32, this.#b + REPAIRS);
  }

  /** Int32 index of SEQ, the word the head of the line sleeps on. */
  get seqIndex(): number {
    return this.#b + SEQ;
  }

  /** Records what the gate's waiter in gate slot `slot` asks (no guard: a hint for query()). */
  setNeeds(slot: number, permits: number): void {
    if (slot >= 1 && slot <= this.i32[this.#b + NEEDS_LEN]!) {
      Atomics.store(this.i32, this.#needs + slot - 1, permits);
    }
  }

  needs(slot: number): number {
    return slot >= 1 && slot <= this.i32[this.#b + NEEDS_LEN]!
      ? Atomics.load(this.i32, this.#needs + slot - 1)
      : 0;
  }

  // Everything below runs between lock() and unlock().

  get now(): number {
    return this.#t >= 0
      ? this.#t
      : (this.#t = sharedNow(this.f64, this.#d + CLOCK));
  }

  get permits(): number {
    return this.i32[this.#b + PERMITS]!;
  }

  /**
   * Sets the capacity on first use; returns the capacity the region has
   * (the given one, or another client's when they disagree).
   */
  agree(permits: number): number {
    const i32 = this.i32, b = this.#b;
    if (i32[b + PERMITS] === 0) i32[b + PERMITS] = permits;
    return i32[b + PERMITS]!;
  }

  /** Sets the capacity (an idle semaphore takes its next request's). */
  reset(permits: number): void {
    this.i32[this.#b + PERMITS] = permits;
  }

  get held(): number {
    return this.i32[this.#b + HELD]!;
  }

  get minExpiry(): number {
    return this.f64[this.#d + MIN_EXPIRY]!;
  }

  get headNeeds(): number {
    return this.i32[this.#b + HEAD_NEEDS]!;
  }

  set headNeeds(permits: number) {
    this.i32[this.#b + HEAD_NEEDS] = permits;
  }

  /** The SEQ the head read before it sleeps, and its mark that it sleeps. */
  sleep(): number {
    this.i32[this.#b + SLEEPING] = 1;
    return this.i32[this.#b + SEQ]!;
  }

  #noteExpiry(expiry: number): void {
    const min = this.f64[this.#d + MIN_EXPIRY]!;
    if (min === 0 || expiry < min) this.f64[this.#d + MIN_EXPIRY] = expiry;
  }

  /**
   * Grants `permits` if they are free; `undefined` if not, `null` if a
   * lease needs a slot and none is free.
   */
  grant(permits: number, leaseMs: number): PermitGrant | undefined | null {
    const i32 = this.i32, b = this.#b;
    if (i32[b + HELD]! + permits > i32[b + PERMITS]!) return undefined;
    let s = 0;
    for (let k = 1; k <= this.slots; k++) {
      if (i32[this.#x(k)] === 0) {
        s = k;
        break;
      }
    }
    if (s === 0 && leaseMs > 0) return null;
    const fence = ++this.f64[this.#d + FENCE]!;
    if (s === 0) {
      // Counted where no slot records it: it never expires, as promised
      // for permits taken without a lease.
      i32[b + ANON]! += permits;
      i32[b + HELD]! += permits;
      return { fence, slot: 0, gen: 0 };
    }
    const x = this.#x(s), f = this.#f(s);
    const expiry = leaseMs > 0 ? this.now + leaseMs : 0;
    this.f64[f] = fence;
    this.f64[f + 1] = expiry;
    // Published last: a thread dying before this store granted nothing.
    Atomics.store(i32, x, permits);
    i32[b + HELD]! += permits;
    if (expiry > 0) this.#noteExpiry(expiry);
    return { fence, slot: s, gen: i32[x + 1]! };
  }

  #holds(grant: PermitGrant): boolean {
    const x = this.#x(grant.slot);
    return this.i32[x] !== 0 && this.i32[x + 1] === grant.gen &&
      this.f64[this.#f(grant.slot)] === grant.fence;
  }

  #free(s: number): number {
    const i32 = this.i32, x = this.#x(s);
    const permits = i32[x]!;
    Atomics.add(i32, x + 1, 1);
    Atomics.store(i32, x, 0);
    i32[this.#b + HELD]! -= permits;
    return permits;
  }

  /** Whether a release should wake the head (read and cleared). */
  #returned(): boolean {
    const i32 = this.i32, b = this.#b;
    Atomics.add(i32, b + SEQ, 1);
    const sleeping = i32[b + SLEEPING] === 1;
    i32[b + SLEEPING] = 0;
    return sleeping;
  }

  /**
   * Returns a grant's permits if it still holds them; `"lost"` if not,
   * else whether the head of the line sleeps (wake it after unlocking).
   */
  release(grant: PermitGrant, permits: number): boolean | "lost" {
    if (grant.slot === 0) {
      const i32 = this.i32, b = this.#b;
      if (i32[b + ANON]! < permits) return "lost";
      i32[b + ANON]! -= permits;
      i32[b + HELD]! -= permits;
    } else {
      if (!this.#holds(grant)) return "lost";
      this.#free(grant.slot);
    }
    return this.#returned();
  }

  /** Sets a lease to expire `leaseMs` from now; false if it was lost. */
  renew(grant: PermitGrant, leaseMs: number): boolean {
    if (grant.slot === 0) return true; // no lease: never lost
    if (!this.#holds(grant)) return false;
    const expiry = this.now + leaseMs;
    this.f64[this.#f(grant.slot) + 1] = expiry;
    this.#noteExpiry(expiry);
    return true;
  }

  /**
   * Takes back the permits of leases that expired (their thread died, or
   * stopped renewing). Cheap unless one is due. True if any came back and
   * the head sleeps (wake it after unlocking).
   */
  reap(force: boolean = false): boolean {
    const min = this.f64[this.#d + MIN_EXPIRY]!;
    if (!force && (min === 0 || this.now < min)) return false;
    const at = this.now;
    let next = 0, freed = false;
    for (let s = 1; s <= this.slots; s++) {
      if (this.i32[this.#x(s)] === 0) continue;
      const expiry = this.f64[this.#f(s) + 1]!;
      if (expiry === 0) continue;
      if (expiry <= at) {
        this.#free(s);
        freed = true;
      } else if (next === 0 || expiry < next) next = expiry;
    }
    this.f64[this.#d + MIN_EXPIRY] = next;
    return freed && this.#returned();
  }

  /** The holders with a slot, by fence, and the permits held without one. */
  snapshot(): { held: PermitHolder[]; anon: number } {
    const held: PermitHolder[] = [];
    for (let s = 1; s <= this.slots; s++) {
      const permits = this.i32[this.#x(s)]!;
      if (permits !== 0) held.push({ fence: this.f64[this.#f(s)]!, permits });
    }
    held.sort((a, b) => a.fence - b.fence);
    return { held, anon: this.i32[this.#b + ANON]! };
  }

  /**
   * After a thread died holding the guard: the count held, the earliest
   * expiry and the fence floor, from the slots; then the head is woken to
   * look again.
   */
  repair(): void {
    const i32 = this.i32, f64 = this.f64, b = this.#b, d = this.#d;
    if (i32[b + ANON]! < 0) i32[b + ANON] = 0;
    let held = i32[b + ANON]!, fence = f64[d + FENCE]!, next = 0;
    for (let s = 1; s <= this.slots; s++) {
      const permits = i32[this.#x(s)]!;
      if (permits === 0) continue;
      held += permits;
      const f = this.#f(s);
      if (f64[f]! > fence) fence = f64[f]!;
      const expiry = f64[f + 1]!;
      if (expiry > 0 && (next === 0 || expiry < next)) next = expiry;
    }
    i32[b + HELD] = held;
    f64[d + FENCE] = fence;
    f64[d + MIN_EXPIRY] = next;
    Atomics.add(i32, b + REPAIRS, 1);
    Atomics.add(i32, b + SEQ, 1);
    Atomics.notify(i32, b + SEQ);
  }
}
